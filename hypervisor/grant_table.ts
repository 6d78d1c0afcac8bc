/**
 * Grant tables, version 1 (`xen/grant_table.h`).
 *
 * A domain shares a page by writing a `grant_entry_v1_t` into its grant
 * table — frames Xen allocates and maps into the guest — and passing the
 * entry's index (the grant reference) to the other domain, which asks Xen
 * to map it (`GNTTABOP_map_grant_ref`). Entry layout, 8 bytes little-endian:
 *
 * | offset | field |
 * | --- | --- |
 * | 0 | `uint16_t flags` (`GTF_*`) |
 * | 2 | `domid_t domid`: the domain allowed to map |
 * | 4 | `uint32_t frame`: the granter's guest frame number (pfn) |
 *
 * The guest writes entries through its own memory (its kernel's grant-table
 * client, `drivers/xen/grant_table.ts`, not the hypervisor's business);
 * the hypervisor copies an entry out of machine memory at map time and only
 * then validates the copy ({@link GrantTables.map}), so a guest rewriting its
 * table meanwhile, or filling it with garbage, gets an errno and nothing
 * else. While a grant is mapped, the hypervisor keeps its own record (Xen's
 * "active entry": mapping domain, frame, pin counts) and sets `GTF_reading`
 * (and `GTF_writing` for a writable mapping) in the shared entry; the guest
 * cannot end the grant while they are set. The hypervisor never trusts those
 * bits from the page: its pin counts decide. As in `map_grant_ref()`, the
 * entry is read only for a grant's first pin and its first writable pin: a
 * domain that already holds a grant maps it again from the active entry
 * (same frame), whatever the guest has written into the entry since.
 *
 * Reference counting follows Xen (`xen/common/grant_table.c`: a map takes
 * a reference on the granted frame, an unmap drops it): each mapping holds
 * one reference on its frame, taken by the mapper's address space
 * (`AddressSpace.mapForeign`). A frame is therefore never freed while
 * mapped: when the granting domain dies or gives the page back, the frame
 * stays allocated — and the granter's — until the last mapper unmaps it
 * (the dying domain is a "zombie" until then). The mapper's view never
 * changes under it, and a device still doing DMA to such a frame (MTT
 * entries written by a backend hold references of their own) cannot reach
 * a frame that was handed to someone else.
 *
 * What a domain may grant: any pseudo-physical page of its own
 * (`AddressSpace.isOwnPage`), whether or not its allocator handed the page
 * out; a page it never touched is populated at map time. Foreign mappings
 * in its space (I/O pages, its shared-info and grant-table frames, pages it
 * mapped from others) are not its own.
 *
 * Refusals: the typed calls throw a {@link GrantTableError}: an errno for
 * TS callers, and the `GNTST_*` status Xen's `map_grant_ref()` and
 * `unmap_common()` (`xen/common/grant_table.c`) write into the op for the
 * same case, which the batched hypercall returns per op ({@link GNTST}).
 * Map, in Xen's order: granter unknown, dying or not a domid ESRCH
 * [bad_domain]; no maptrack handle left ENOSPC [no_space]; ref out of range
 * EINVAL [bad_gntref]; entry not a v1 `GTF_permit_access` grant EINVAL, entry
 * names another domain EPERM (these two for a first pin only), read-only
 * entry for a first writable pin EPERM, grant pinned by another domain
 * EBUSY, a mapping past the {@link GNTPIN_MAX_MAPS} read-only (or writable)
 * ones the mapper holds of the grant EOVERFLOW [all general_error: Xen's
 * `_set_status_v1` and pin checks give one status]; frame not one of the
 * granter's own pages EINVAL [bad_page]; no machine frame to populate it or
 * no room in the mapper's address space ENOMEM [general_error]. A domain
 * may map a grant it made to itself (entry domid its own): Xen 4.17's
 * `map_grant_ref()` looks the granter up by id and checks the entry, never
 * that granter and mapper differ. Unmap: handle out of range or not in use
 * EINVAL [bad_handle].
 *
 * Copies (`GNTTABOP_copy`, {@link GrantTables.copyClaimGrant}): a grant a
 * copy uses is pinned as `acquire_grant_for_copy()` pins it — the same
 * active entry and pin counts as a mapping's (a grant pinned by another
 * domain is refused EBUSY [general_error], and so is one past the
 * {@link GNTPIN_MAX_MAPS} mappings of its kind the copier holds, EOVERFLOW
 * [general_error]; the entry is read only for a
 * first pin or a first writable pin; type EINVAL, another domain EPERM, a
 * read-only grant as destination EPERM [general_error]; ref out of range
 * EINVAL [bad_gntref]; a frame not the granter's EINVAL [bad_page]), with
 * `GTF_reading` (and `GTF_writing` for a destination) set in the shared
 * entry, and a reference on the frame (`get_page`) — until the copy is
 * released ({@link GrantTables.copyRelease}, `release_grant_for_copy`). No
 * maptrack handle is taken, nothing is mapped, and, as for copies in Xen
 * (`_set_status_v1` with `mapflag` 0), `GTF_sub_page` is not refused. A
 * caller's own frame as one side (`gmfn`) is pinned by reference only.
 *
 * @module
 */
import { type MachineMemory, PAGE_SIZE } from "../sim/memory.ts";
import type { AddressSpace } from "../sim/address_space.ts";
import { type XenErrnoCode, XenError } from "./errors.ts";
import { intIn, show } from "./args.ts";

/**
 * `GTF_invalid`: the entry grants nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeGrantEntry, GTF_invalid, GTF_type_mask } from "./grant_table.ts";
 * const e = decodeGrantEntry(new Uint8Array(8));
 * assert.equal(e.flags & GTF_type_mask, GTF_invalid); // a zeroed entry grants nothing
 * ```
 */
export const GTF_invalid = 0;
/**
 * `GTF_permit_access`: `domid` may map `frame`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeGrantEntry, GTF_permit_access } from "./grant_table.ts";
 * assert.equal(encodeGrantEntry({ flags: GTF_permit_access, domid: 0, frame: 7 })[0], 1);
 * ```
 */
export const GTF_permit_access = 1;
/**
 * `GTF_accept_transfer` (not supported here: maps refuse it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GTF_accept_transfer, GTF_permit_access, GTF_type_mask } from "./grant_table.ts";
 * // Page transfer is not modelled: such an entry is refused by map_grant_ref.
 * assert.notEqual(GTF_accept_transfer & GTF_type_mask, GTF_permit_access);
 * ```
 */
export const GTF_accept_transfer = 2;
/**
 * `GTF_transitive` (v2 only: maps refuse it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GTF_transitive } from "./grant_table.ts";
 * assert.equal(GTF_transitive, 3); // grant table v2 only; refused by this v1 table
 * ```
 */
export const GTF_transitive = 3;
/**
 * `GTF_type_mask`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GTF_permit_access, GTF_readonly, GTF_type_mask } from "./grant_table.ts";
 * assert.equal((GTF_permit_access | GTF_readonly) & GTF_type_mask, GTF_permit_access);
 * ```
 */
export const GTF_type_mask = 3;
/**
 * `GTF_readonly`: only read-only mappings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeGrantEntry, GTF_permit_access, GTF_readonly } from "./grant_table.ts";
 * const e = encodeGrantEntry({ flags: GTF_permit_access | GTF_readonly, domid: 0, frame: 7 });
 * assert.equal(e[0], 5);
 * ```
 */
export const GTF_readonly = 1 << 2;
/**
 * `GTF_reading`: set by Xen while the grant is mapped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GTF_reading, GTF_writing } from "./grant_table.ts";
 * const inUse = (flags: number) => (flags & (GTF_reading | GTF_writing)) !== 0;
 * assert.equal(inUse(0x19), true); // mapped, so gnttab_end_foreign_access must wait
 * assert.equal(inUse(0x01), false);
 * ```
 */
export const GTF_reading = 1 << 3;
/**
 * `GTF_writing`: set by Xen while the grant is mapped writable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GTF_writing } from "./grant_table.ts";
 * assert.equal(0x0d & GTF_writing, 0); // mapped read-only
 * assert.equal(0x19 & GTF_writing, GTF_writing); // mapped writable
 * ```
 */
export const GTF_writing = 1 << 4;
/**
 * `GTF_sub_page` (v2 only: maps refuse it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GTF_sub_page } from "./grant_table.ts";
 * assert.equal(GTF_sub_page, 0x100); // v2 sub-page grants; refused by this v1 table
 * ```
 */
export const GTF_sub_page = 1 << 8;

/**
 * `sizeof(grant_entry_v1_t)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GRANT_ENTRY_V1_SIZE } from "./grant_table.ts";
 * assert.equal(300 * GRANT_ENTRY_V1_SIZE, 2400); // byte offset of ref 300 in the table
 * ```
 */
export const GRANT_ENTRY_V1_SIZE = 8;
/**
 * v1 entries per 4 KiB table frame.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GRANT_ENTRIES_PER_FRAME } from "./grant_table.ts";
 * assert.equal(32 * GRANT_ENTRIES_PER_FRAME, 16384); // refs in a 32-frame table
 * ```
 */
export const GRANT_ENTRIES_PER_FRAME = PAGE_SIZE / GRANT_ENTRY_V1_SIZE;
/**
 * `GNTTAB_NR_RESERVED_ENTRIES` (`xen/grant_table.h`): refs a guest keeps
 * for the toolstack (console, xenstore); its kernel hands out refs from here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNTTAB_NR_RESERVED_ENTRIES, GRANT_ENTRY_V1_SIZE } from "./grant_table.ts";
 * assert.equal(GNTTAB_NR_RESERVED_ENTRIES * GRANT_ENTRY_V1_SIZE, 64); // the first free entry's offset
 * ```
 */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;

/**
 * The most mappings of one kind (read-only, writable) one domain may hold of
 * one grant: `grant_table.c` keeps each kind in an 8-bit field of
 * `act->pin` (`GNTPIN_cntr_width`) and refuses a map while the field's top
 * bit is set (`GNTPIN_incr2oflow_mask`, "risk of counter overflow",
 * `GNTST_general_error`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNTPIN_MAX_MAPS } from "./grant_table.ts";
 * assert.equal(GNTPIN_MAX_MAPS, 1 << 7); // pins 0..127 may take one more
 * ```
 */
export const GNTPIN_MAX_MAPS = 128;

/**
 * `GNTMAP_device_map` (`xen/grant_table.h`): the map op asks for the frame's
 * bus address (`dev_bus_addr`, here a {@link GrantMapping}'s `mfn`) for a device
 * to reach. `map_grant_ref()` refuses an op naming neither this nor
 * {@link GNTMAP_host_map} with `GNTST_bad_gntref`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNTMAP_device_map, GNTMAP_host_map } from "./grant_table.ts";
 * const asksForSomething = (flags: number) => (flags & (GNTMAP_device_map | GNTMAP_host_map)) !== 0;
 * assert.equal(asksForSomething(0), false); // GNTST_bad_gntref
 * assert.equal(asksForSomething(GNTMAP_device_map), true);
 * ```
 */
export const GNTMAP_device_map = 1 << 0;
/**
 * `GNTMAP_host_map`: the map op asks for a mapping in the caller's address
 * space (what a grant map without `flags` is here).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNTMAP_host_map, GNTMAP_readonly } from "./grant_table.ts";
 * assert.equal(GNTMAP_host_map | GNTMAP_readonly, 6); // a read-only host mapping
 * ```
 */
export const GNTMAP_host_map = 1 << 1;
/**
 * `GNTMAP_readonly`: map read-only (refused for a writable pin of a
 * `GTF_readonly` grant, the other way round never).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNTMAP_readonly } from "./grant_table.ts";
 * assert.equal(GNTMAP_readonly, 4); // 1 << _GNTMAP_readonly (2)
 * ```
 */
export const GNTMAP_readonly = 1 << 2;
/**
 * `GNTMAP_application_map`: a PV caller's host mapping is for user space.
 * It says where `host_addr` points; the model chooses the address itself, so
 * the bit changes nothing here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNTMAP_application_map, GNTMAP_contains_pte, GNTMAP_host_map } from "./grant_table.ts";
 * // What Linux's gntdev asks for a user-space mapping of a PV domain.
 * assert.equal(GNTMAP_host_map | GNTMAP_application_map | GNTMAP_contains_pte, 0x1a);
 * ```
 */
export const GNTMAP_application_map = 1 << 3;
/**
 * `GNTMAP_contains_pte`: a PV caller's `host_addr` is the machine address
 * of a PTE to write. The model chooses the address itself, so the bit
 * changes nothing here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNTMAP_contains_pte } from "./grant_table.ts";
 * assert.equal(GNTMAP_contains_pte, 16); // 1 << _GNTMAP_contains_pte (4)
 * ```
 */
export const GNTMAP_contains_pte = 1 << 4;

/**
 * `GNTCOPY_source_gref` (`xen/grant_table.h`): the op's source is a grant
 * reference (`source.u.ref` of `source.domid`), not a frame of the caller's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNTCOPY_dest_gref, GNTCOPY_source_gref } from "./grant_table.ts";
 * assert.deepEqual([GNTCOPY_source_gref, GNTCOPY_dest_gref], [1, 2]); // 1 << 0, 1 << 1
 * ```
 */
export const GNTCOPY_source_gref = 1 << 0;
/**
 * `GNTCOPY_dest_gref`: the op's destination is a grant reference.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNTCOPY_dest_gref, GNTCOPY_source_gref } from "./grant_table.ts";
 * const both = GNTCOPY_source_gref | GNTCOPY_dest_gref; // a third party copies grant to grant
 * assert.equal(both & GNTCOPY_dest_gref, 2);
 * ```
 */
export const GNTCOPY_dest_gref = 1 << 1;

/**
 * `sizeof(struct gnttab_copy)` on x86-64: two 16-byte `gnttab_copy_ptr`s
 * (an 8-byte union of `grant_ref_t ref` and `xen_pfn_t gmfn`, `domid_t
 * domid` at 8, `uint16_t offset` at 10), `uint16_t len` at 32, `flags` at
 * 34, `int16_t status` at 36, padded to 40.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNTTAB_COPY_SIZE } from "./grant_table.ts";
 * assert.equal(16 * GNTTAB_COPY_SIZE, 640); // a batch of 16 ops in guest memory
 * ```
 */
export const GNTTAB_COPY_SIZE = 40;

/**
 * One side of a copy (`struct gnttab_copy_ptr`): a grant reference `ref`
 * of domain `domid` when the op's flags say so
 * ({@link GNTCOPY_source_gref}, {@link GNTCOPY_dest_gref}), else a frame
 * `gmfn` of the caller's own (`domid` must then be `DOMID_SELF`); `offset`
 * within that page. Which of `ref` and `gmfn` is read is the flags'
 * choice, as of the C union.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DOMID_SELF } from "./args.ts";
 * import type { GrantCopyPtr } from "./grant_table.ts";
 * const mine: GrantCopyPtr = { gmfn: 300, domid: DOMID_SELF, offset: 0 };
 * const theirs: GrantCopyPtr = { ref: 8, domid: 3, offset: 64 };
 * assert.equal(mine.ref ?? theirs.ref, 8);
 * ```
 */
export interface GrantCopyPtr {
  /** `u.ref`: a grant reference of `domid`'s table (a gref side). */
  ref?: number;
  /** `u.gmfn`: a page (pfn) of the caller's own (a frame side). */
  gmfn?: number;
  /** `domid_t`: the granter, or `DOMID_SELF`. */
  domid: number;
  /** Byte offset in the page. */
  offset: number;
}

/**
 * The inputs of one `struct gnttab_copy`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DOMID_SELF } from "./args.ts";
 * import { GNTCOPY_source_gref, type GrantCopyOp } from "./grant_table.ts";
 * const op: GrantCopyOp = {
 *   source: { ref: 8, domid: 3, offset: 0 }, // dom3's grant for the caller
 *   dest: { gmfn: 300, domid: DOMID_SELF, offset: 0 }, // a page of the caller's
 *   len: 512,
 *   flags: GNTCOPY_source_gref,
 * };
 * assert.equal(op.source.offset + op.len <= 4096, true); // within a page, or GNTST_bad_copy_arg
 * ```
 */
export interface GrantCopyOp {
  /** Where the bytes come from. */
  source: GrantCopyPtr;
  /** Where they go. */
  dest: GrantCopyPtr;
  /**
   * Bytes to copy (`uint16_t`). 0 copies nothing but is checked and claimed
   * as any other length, as Xen 4.17 does (4.19 returns okay at once).
   */
  len: number;
  /** `GNTCOPY_*` bits (default 0: both sides are frames of the caller's). */
  flags?: number;
}

/**
 * Encode `op` as the caller would lay out `struct gnttab_copy` in its
 * memory (little-endian, x86-64), with `status` in its out field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeGnttabCopy, GNTCOPY_source_gref } from "./grant_table.ts";
 * const b = encodeGnttabCopy({
 *   source: { ref: 8, domid: 3, offset: 0 },
 *   dest: { gmfn: 300, domid: 0x7ff0, offset: 16 },
 *   len: 512,
 *   flags: GNTCOPY_source_gref,
 * });
 * assert.deepEqual([b[0], b[8], b[16], b[17], b[32], b[33], b[34]], [8, 3, 44, 1, 0, 2, 1]);
 * ```
 */
export function encodeGnttabCopy(op: GrantCopyOp, status = 0): Uint8Array {
  const out = new Uint8Array(GNTTAB_COPY_SIZE);
  const v = new DataView(out.buffer);
  const flags = op.flags ?? 0;
  const ptr = (p: GrantCopyPtr, at: number, gref: boolean) => {
    if (gref) v.setUint32(at, p.ref ?? 0, true);
    else v.setBigUint64(at, BigInt(p.gmfn ?? 0), true);
    v.setUint16(at + 8, p.domid, true);
    v.setUint16(at + 10, p.offset, true);
  };
  ptr(op.source, 0, (flags & GNTCOPY_source_gref) !== 0);
  ptr(op.dest, 16, (flags & GNTCOPY_dest_gref) !== 0);
  v.setUint16(32, op.len, true);
  v.setUint16(34, flags, true);
  v.setInt16(36, status, true);
  return out;
}

/**
 * Decode a `struct gnttab_copy` from `bytes` at `off`: the op (each side's
 * union read as the flags say) and its `status` field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeGnttabCopy, encodeGnttabCopy, GNTCOPY_dest_gref } from "./grant_table.ts";
 * const op = {
 *   source: { gmfn: 300, domid: 0x7ff0, offset: 0 },
 *   dest: { ref: 9, domid: 2, offset: 100 },
 *   len: 4,
 *   flags: GNTCOPY_dest_gref,
 * };
 * assert.deepEqual(decodeGnttabCopy(encodeGnttabCopy(op, -10)), { op, status: -10 });
 * ```
 */
export function decodeGnttabCopy(bytes: Uint8Array, off = 0): { op: GrantCopyOp; status: number } {
  const v = new DataView(bytes.buffer, bytes.byteOffset + off, GNTTAB_COPY_SIZE);
  const flags = v.getUint16(34, true);
  const ptr = (at: number, gref: boolean): GrantCopyPtr => ({
    ...(gref ? { ref: v.getUint32(at, true) } : { gmfn: Number(v.getBigUint64(at, true)) }),
    domid: v.getUint16(at + 8, true),
    offset: v.getUint16(at + 10, true),
  });
  return {
    op: {
      source: ptr(0, (flags & GNTCOPY_source_gref) !== 0),
      dest: ptr(16, (flags & GNTCOPY_dest_gref) !== 0),
      len: v.getUint16(32, true),
      flags,
    },
    status: v.getInt16(36, true),
  };
}

/**
 * `GNTST_*` (`xen/grant_table.h`): the status Xen writes into each op of a
 * grant-table hypercall (`gnttab_map_grant_ref.status`, …) — not an errno:
 * the hypercall itself returns 0 while single ops fail.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNTST } from "./grant_table.ts";
 * assert.equal(GNTST.bad_gntref, -3); // #define GNTST_bad_gntref (-3)
 * assert.notEqual(GNTST.bad_gntref, -3 - 19); // nor -EINVAL: the two tables differ
 * ```
 */
export const GNTST = {
  okay: 0,
  general_error: -1,
  bad_domain: -2,
  bad_gntref: -3,
  bad_handle: -4,
  bad_virt_addr: -5,
  bad_dev_addr: -6,
  no_device_space: -7,
  permission_denied: -8,
  bad_page: -9,
  bad_copy_arg: -10,
  address_too_big: -11,
  eagain: -12,
  no_space: -13,
} as const;

/**
 * A `GNTST_*` value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNTST, type GntStatus } from "./grant_table.ts";
 * const failed = (s: GntStatus) => s !== GNTST.okay;
 * assert.equal(failed(GNTST.no_space), true);
 * ```
 */
export type GntStatus = typeof GNTST[keyof typeof GNTST];

/**
 * A refused grant-table operation: a {@link XenError} that also carries the
 * `GNTST_*` status Xen reports for the same case (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNTST, GrantTableError } from "./grant_table.ts";
 * import { XenError } from "./errors.ts";
 * const e = new GrantTableError("EINVAL", GNTST.bad_gntref, "map: ref 9999 is out of range");
 * assert.ok(e instanceof XenError);
 * assert.deepEqual([e.code, e.errno, e.status], ["EINVAL", 22, -3]);
 * ```
 */
export class GrantTableError extends XenError {
  /**
   * @param code errno name (what the typed call throws)
   * @param status the `GNTST_*` Xen gives for this case
   * @param message what was refused
   */
  constructor(code: XenErrnoCode, readonly status: GntStatus, message: string) {
    super(code, message);
  }
}

/**
 * The `GNTST_*` status of a refusal: a {@link GrantTableError}'s own, else
 * `GNTST_general_error` (a malformed op block, an internal fault).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GNTST, gntstOf, GrantTableError } from "./grant_table.ts";
 * import { XenError } from "./errors.ts";
 * assert.equal(gntstOf(new GrantTableError("ENOSPC", GNTST.no_space, "full")), -13);
 * assert.equal(gntstOf(new XenError("EIO", "internal error")), GNTST.general_error);
 * ```
 */
export function gntstOf(e: unknown): GntStatus {
  return e instanceof GrantTableError ? e.status : GNTST.general_error;
}

/** `value` as an integer in `[lo, hi]`, or a {@link GrantTableError} with `status`. */
function gntArg(value: unknown, hi: number, status: GntStatus, what: string): number {
  if (!intIn(value, 0, hi)) {
    throw new GrantTableError(
      "EINVAL",
      status,
      `${what}: ${show(value)} is not an integer in [0, ${hi}]`,
    );
  }
  return value;
}

/**
 * A decoded `grant_entry_v1_t`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeGrantEntry, encodeGrantEntry, type GrantEntryV1 } from "./grant_table.ts";
 * const e: GrantEntryV1 = { flags: 1, domid: 0, frame: 0xbeef };
 * assert.deepEqual(decodeGrantEntry(encodeGrantEntry(e)), e);
 * ```
 */
export interface GrantEntryV1 {
  /** `GTF_*` bits. */
  flags: number;
  /** Domain allowed to map. */
  domid: number;
  /** Granter's guest frame number. */
  frame: number;
}

/**
 * Encode a v1 entry into `out` at `off` (little-endian, as on x86).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeGrantEntry, GTF_permit_access } from "./grant_table.ts";
 * const b = encodeGrantEntry({ flags: GTF_permit_access, domid: 0, frame: 0x1234 });
 * assert.deepEqual([...b], [1, 0, 0, 0, 0x34, 0x12, 0, 0]); // little-endian u16, u16, u32
 * ```
 */
export function encodeGrantEntry(
  e: GrantEntryV1,
  out = new Uint8Array(GRANT_ENTRY_V1_SIZE),
  off = 0,
): Uint8Array {
  const v = new DataView(out.buffer, out.byteOffset + off, GRANT_ENTRY_V1_SIZE);
  v.setUint16(0, e.flags, true);
  v.setUint16(2, e.domid, true);
  v.setUint32(4, e.frame, true);
  return out;
}

/**
 * Decode a v1 entry from `bytes` at `off`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeGrantEntry } from "./grant_table.ts";
 * assert.deepEqual(decodeGrantEntry(new Uint8Array([5, 0, 3, 0, 9, 0, 0, 0])), {
 *   flags: 5,
 *   domid: 3,
 *   frame: 9,
 * });
 * ```
 */
export function decodeGrantEntry(bytes: Uint8Array, off = 0): GrantEntryV1 {
  const v = new DataView(bytes.buffer, bytes.byteOffset + off, GRANT_ENTRY_V1_SIZE);
  return { flags: v.getUint16(0, true), domid: v.getUint16(2, true), frame: v.getUint32(4, true) };
}

/**
 * What a grant party is to the grant code: a domid and its P2M.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressSpace, MachineMemory, Prng } from "../sim/mod.ts";
 * import { type GrantParty, GrantTables } from "./grant_table.ts";
 * const mem = new MachineMemory(16 << 20);
 * const dom0: GrantParty = {
 *   domid: 0,
 *   memory: new AddressSpace(mem, "dom0", 8 << 20, new Prng(1)),
 * };
 * const gt = new GrantTables(mem);
 * const frames = gt.setupTable(dom0, 1, 64); // the party's table frames, mapped into its memory
 * assert.equal(frames.length, 1);
 * ```
 */
export interface GrantParty {
  /** Domain id. */
  readonly domid: number;
  /** The domain's address space (P2M). */
  readonly memory: AddressSpace;
}

/**
 * A successful `GNTTABOP_map_grant_ref`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * import { encodeGrantEntry, GTF_permit_access } from "./grant_table.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(128 << 20), PCIX_SDR_2006, new Prng(1));
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   const page = vm.memory.alloc(4096, 4096), ref = 8;
 *   // The guest grants dom0 the page: one v1 entry in its table's first frame.
 *   const entry = encodeGrantEntry({ flags: GTF_permit_access, domid: 0, frame: page / 4096 });
 *   hv.mem.write(hv.grantTableFrames(vm.domid)![0] * 4096 + ref * entry.length, entry);
 *   const m = await hv.grantMap(hv.dom0, { domid: vm.domid, ref });
 *   assert.equal(m.mfn, vm.memory.mfnOf(page / 4096)); // the frame an MTT entry gets
 *   assert.equal(hv.dom0.memory.translate(m.addr), m.mfn * 4096); // mapped into dom0 at m.addr
 *   await hv.grantUnmap(hv.dom0, m.handle);
 * });
 * ```
 */
export interface GrantMapping {
  /** Handle for the unmap, valid in the mapping domain only. */
  handle: number;
  /** Address of the mapped page in the mapping domain's address space. */
  addr: number;
  /** Machine frame (what a backend writes into HCA MTT entries). */
  mfn: number;
}

interface Active {
  mapper: number;
  pfn: number;
  mfn: number;
  readers: number;
  writers: number;
}

/**
 * A copy's hold on one of its sides (Xen's `struct gnttab_copy_buf` while
 * claimed): the frame it references and, for a grant side, the grant it
 * pins. Returned by {@link GrantTables.copyClaimGrant} and
 * {@link GrantTables.copyClaimFrame}, given back to
 * {@link GrantTables.copyRelease}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressSpace, MachineMemory, Prng } from "../sim/mod.ts";
 * import { type CopyHold, GrantTables } from "./grant_table.ts";
 * const mem = new MachineMemory(16 << 20);
 * const dom1 = { domid: 1, memory: new AddressSpace(mem, "dom1", 8 << 20, new Prng(1)) };
 * const gt = new GrantTables(mem);
 * const hold: CopyHold = gt.copyClaimFrame(dom1, 5, true); // its own page 5, to write
 * assert.equal(mem.refCount(hold.mfn), 2); // its allocation, and the copy's reference
 * gt.copyRelease(hold);
 * assert.equal(mem.refCount(hold.mfn), 1);
 * ```
 */
export interface CopyHold {
  /** The granter (a grant side); undefined for a frame of the caller's. */
  readonly granter?: number;
  /** The grant reference (a grant side). */
  readonly ref?: number;
  /** The frame referenced. */
  readonly mfn: number;
  /** Claimed for writing (the copy's destination). */
  readonly write: boolean;
  /** The copying domain. */
  readonly holder: number;
}

interface MapEntry {
  granter: number;
  ref: number;
  mfn: number;
  addr: number;
  readonly: boolean;
}

/**
 * A grant mapping as the hypervisor records it (for audits).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { GrantMappingRecord } from "./grant_table.ts";
 * const show = (m: GrantMappingRecord) => `dom${m.mapper} maps ref ${m.ref} of dom${m.granter}`;
 * const m = { mapper: 0, handle: 0, granter: 3, ref: 8, mfn: 77, addr: 4096, readonly: false };
 * assert.equal(show(m), "dom0 maps ref 8 of dom3");
 * ```
 */
export interface GrantMappingRecord {
  /** The mapping domain. */
  mapper: number;
  /** Its handle. */
  handle: number;
  /** The granting domain. */
  granter: number;
  /** The grant reference. */
  ref: number;
  /** The frame mapped. */
  mfn: number;
  /** Where it is mapped in the mapper's space. */
  addr: number;
  /** Mapped read-only. */
  readonly: boolean;
}

/**
 * Xen's active entry of a grant in use (for audits).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ActiveGrant } from "./grant_table.ts";
 * const pins = (a: ActiveGrant) => a.readers + a.writers;
 * assert.equal(pins({ mapper: 0, pfn: 5, mfn: 77, readers: 1, writers: 2 }), 3);
 * ```
 */
export interface ActiveGrant {
  /** The domain that maps it. */
  readonly mapper: number;
  /** The granter's page. */
  readonly pfn: number;
  /** Its frame at first map (what every mapping of the grant maps). */
  readonly mfn: number;
  /** Read-only pins: mappings, and copies in flight reading it. */
  readonly readers: number;
  /** Writable pins: mappings, and copies in flight writing it. */
  readonly writers: number;
}

/** One domain's table: its frames, and the active entries of its grants. */
class Table {
  active = new Map<number, Active>();
  /** Handles (in any mapper) that map a grant of this table. */
  mappedFrom = 0;
  constructor(readonly party: GrantParty, readonly frames: number[]) {}

  get size(): number {
    return this.frames.length * GRANT_ENTRIES_PER_FRAME;
  }

  #maddr(ref: number): number {
    return this.frames[Math.floor(ref / GRANT_ENTRIES_PER_FRAME)] * PAGE_SIZE +
      (ref % GRANT_ENTRIES_PER_FRAME) * GRANT_ENTRY_V1_SIZE;
  }

  read(mem: MachineMemory, ref: number): GrantEntryV1 {
    return decodeGrantEntry(mem.read(this.#maddr(ref), GRANT_ENTRY_V1_SIZE));
  }

  /** Update only the flags half-word, leaving what the guest wrote elsewhere. */
  setFlags(mem: MachineMemory, ref: number, set: number, clear: number): void {
    const a = this.#maddr(ref);
    const b = mem.read(a, 2);
    const f = ((b[0] | (b[1] << 8)) | set) & ~clear;
    mem.write(a, new Uint8Array([f & 0xff, (f >> 8) & 0xff]));
  }
}

/**
 * `MAPTRACK_PER_PAGE` (grant_table.c): maptrack handles a page of 16-byte
 * `struct grant_mapping` entries holds; Xen makes handles a page at a time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAPTRACK_PER_PAGE } from "./grant_table.ts";
 * assert.equal(MAPTRACK_PER_PAGE, 4096 / 16);
 * ```
 */
export const MAPTRACK_PER_PAGE = PAGE_SIZE / 16;

/**
 * One domain's maptrack: the grants it has mapped, by handle, and its free
 * handles in the order Xen hands them out — one vCPU's free list of
 * grant_table.c (`get_maptrack_handle`, `put_maptrack_handle`): taken from
 * the head, a freed handle appended at the tail (so a handle just unmapped
 * is the last to come back), one entry always kept as the tail while
 * another can be made; a new page of {@link MAPTRACK_PER_PAGE} handles
 * (the first taken at once, the rest put at the head), and, when no page
 * may be added, that last entry (Xen steals it from another vCPU's list).
 */
class Maptrack {
  entries: (MapEntry | undefined)[] = [];
  count = 0;
  /** `maptrack_entry(...).ref` of a free handle: the next one in the list. */
  #next: number[] = [];
  #head = -1;
  #tail = -1;
  #free = 0;
  /** `maptrack_limit`: handles made so far. */
  #limit = 0;
  constructor(readonly party: GrantParty, readonly max: number) {}

  /** A handle for a new mapping (the caller checked `count < max`). */
  take(): number {
    if (this.#free >= 2) {
      const h = this.#head;
      this.#head = this.#next[h];
      this.#free--;
      return h;
    }
    if (this.#limit < this.max) {
      const h = this.#limit, end = Math.min(h + MAPTRACK_PER_PAGE, this.max);
      this.#limit = end;
      if (end - 1 > h) {
        for (let i = h + 1; i < end - 1; i++) this.#next[i] = i + 1;
        this.#next[end - 1] = this.#free > 0 ? this.#head : -1;
        if (this.#free === 0) this.#tail = end - 1;
        this.#head = h + 1;
        this.#free += end - 1 - h;
      }
      return h;
    }
    const h = this.#head;
    this.#head = this.#tail = -1;
    this.#free = 0;
    return h;
  }

  /** Give handle `h` back: to the tail of the list. */
  put(h: number): void {
    this.#next[h] = -1;
    if (this.#free === 0) this.#head = h;
    else this.#next[this.#tail] = h;
    this.#tail = h;
    this.#free++;
  }
}

/**
 * The grant tables and maptracks of every domain on one host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeGrantEntry, GrantTables, GTF_permit_access, GTF_reading } from "./grant_table.ts";
 * import { AddressSpace, MachineMemory, Prng } from "../sim/mod.ts";
 * const mem = new MachineMemory(64 << 20);
 * const dom0 = { domid: 0, memory: new AddressSpace(mem, "dom0", 16 << 20, new Prng(1)) };
 * const vm = { domid: 1, memory: new AddressSpace(mem, "dom1", 16 << 20, new Prng(2)) };
 * const gt = new GrantTables(mem);
 * gt.setupTable(dom0, 1, 64);
 * const addrs = gt.setupTable(vm, 1, 64); // the table's frames, mapped into the guest
 * const page = vm.memory.alloc(4096, 4096), ref = 8;
 * const entry = encodeGrantEntry({ flags: GTF_permit_access, domid: 0, frame: page / 4096 });
 * vm.memory.write(addrs[0] + ref * entry.length, entry); // the guest grants dom0 the page
 * const m = gt.map(dom0, 1, ref, false);
 * assert.equal(m.mfn, vm.memory.mfnOf(page / 4096));
 * assert.ok(gt.readEntry(1, ref).flags & GTF_reading); // Xen marks the entry in use
 * assert.throws(() => gt.map(dom0, 1, ref + 1, false), { code: "EINVAL" }); // never granted
 * ```
 */
export class GrantTables {
  #tables = new Map<number, Table>();
  #maptracks = new Map<number, Maptrack>();
  #mapped = 0;
  /** Copies' holds, with the granter's table of a grant side. */
  #copies = new Map<CopyHold, Table | undefined>();
  /** Table sizes (frames) of dying granters, until {@link forget}. */
  #dyingFrames = new Map<number, number>();

  /**
   * Empty: domains are added with {@link setupTable}.
   * @param mem the host's machine memory
   */
  constructor(private mem: MachineMemory) {}

  /** Grant mappings on the host (live handles in every maptrack). */
  get mapped(): number {
    return this.#mapped;
  }

  /** Grants `domid` has mapped now. */
  mappedBy(domid: number): number {
    return this.#maptracks.get(domid)?.count ?? 0;
  }

  /** Size of `domid`'s maptrack: the most grants it may have mapped at once (0: none). */
  maptrackSize(domid: number): number {
    return this.#maptracks.get(domid)?.max ?? 0;
  }

  /** Mappings (by any domain) of grants `domid` gave. */
  mappedFrom(domid: number): number {
    return this.#tables.get(domid)?.mappedFrom ?? 0;
  }

  /** Every grant mapping on the host, by mapper then handle (for audits). */
  *mappings(): Generator<GrantMappingRecord> {
    for (const [mapper, mt] of this.#maptracks) {
      for (let handle = 0; handle < mt.entries.length; handle++) {
        const m = mt.entries[handle];
        if (m) yield { mapper, handle, ...m };
      }
    }
  }

  /** The active entry of grant `ref` of `granter` (undefined when not in use or no table). */
  activeEntry(granter: number, ref: number): ActiveGrant | undefined {
    return this.#tables.get(granter)?.active.get(ref);
  }

  /** Domains with a grant table (live ones; a dying domain's table is gone). */
  granters(): number[] {
    return [...this.#tables.keys()];
  }

  /** Table frames of `domid` (machine frame numbers), or undefined. */
  tableFrames(domid: number): readonly number[] | undefined {
    return this.#tables.get(domid)?.frames;
  }

  /**
   * Frames of `domid`'s table: of its live table, or of the one a dying domain had (Xen keeps a
   * dying domain's grant table until the domain is destroyed: grant_table_destroy() runs from
   * complete_domain_destroy(), so GNTTABOP_query_size still reports it). Undefined for none.
   */
  tableFrameCount(domid: number): number | undefined {
    return this.#tables.get(domid)?.frames.length ?? this.#dyingFrames.get(domid);
  }

  /** A dying `domid` is gone for good: forget its table's size. */
  forget(domid: number): void {
    this.#dyingFrames.delete(domid);
  }

  /** Number of entries in `domid`'s table. */
  tableSize(domid: number): number | undefined {
    return this.#tables.get(domid)?.size;
  }

  /**
   * `GNTTABOP_setup_table`: give `dom` a table of `nrFrames` frames (Xen's,
   * mapped writable into the guest) and a maptrack of `maxMaptrack` handles.
   * Returns the guest address of each table frame.
   */
  setupTable(dom: GrantParty, nrFrames: number, maxMaptrack: number): number[] {
    if (this.#tables.has(dom.domid)) throw new Error(`grant table of dom${dom.domid} set up twice`);
    const frames: number[] = [];
    for (let i = 0; i < nrFrames; i++) {
      frames.push(this.mem.allocFrame(`xen:gnttab:dom${dom.domid}`));
    }
    this.#tables.set(dom.domid, new Table(dom, frames));
    this.#maptracks.set(dom.domid, new Maptrack(dom, maxMaptrack));
    return frames.map((mfn) => dom.memory.mapForeign(mfn));
  }

  /** A copy of entry `ref` of `domid`'s table, as the hypervisor sees it. */
  readEntry(domid: number, ref: number): GrantEntryV1 {
    const t = this.#table(domid, "read entry");
    return t.read(this.mem, gntArg(ref, t.size - 1, GNTST.bad_gntref, "read entry: ref"));
  }

  #table(domid: number, what: string): Table {
    const t = this.#tables.get(domid);
    if (!t) {
      throw new GrantTableError(
        "ESRCH",
        GNTST.bad_domain,
        `${what}: no grant table for domain ${domid}`,
      );
    }
    return t;
  }

  /** `GNTTABOP_map_grant_ref`: `mapper` maps grant `ref` of `granterDomid`. */
  map(mapper: GrantParty, granterDomid: number, ref: unknown, readonly: boolean): GrantMapping {
    const what = `GNTTABOP_map_grant_ref(dom${granterDomid}, ref ${show(ref)})`;
    const fail = (code: XenErrnoCode, status: GntStatus, why: string) =>
      new GrantTableError(code, status, `${what}: ${why}`);
    const mt = this.#maptracks.get(mapper.domid);
    if (!mt) throw fail("ESRCH", GNTST.general_error, `mapper dom${mapper.domid} has no maptrack`);
    // Checks in the order of grant_table.c map_grant_ref(): the granter,
    // a maptrack handle, the ref's bounds, then the entry. Nothing refuses a granter that is
    // the mapper itself (Xen 4.17 map_grant_ref(): rd may be ld; the entry's domid decides).
    const t = this.#table(granterDomid, what);
    if (mt.count >= mt.max) {
      throw fail("ENOSPC", GNTST.no_space, `dom${mapper.domid} has ${mt.max} grants mapped`);
    }
    const r = gntArg(ref, t.size - 1, GNTST.bad_gntref, `${what}: ref`);
    const pin = this.#acquire(t, r, mapper.domid, !readonly, true, fail);
    let addr: number;
    try {
      addr = mapper.memory.mapForeign(pin.act.mfn, readonly);
    } catch (err) {
      throw fail(
        "ENOMEM",
        GNTST.general_error,
        `no room in dom${mapper.domid}'s address space (${(err as Error).message})`,
      );
    }
    const act = this.#commit(t, r, pin, !readonly);
    const handle = mt.take();
    mt.entries[handle] = { granter: granterDomid, ref: r, mfn: act.mfn, addr, readonly };
    mt.count++;
    t.mappedFrom++;
    this.#mapped++;
    return { handle, addr, mfn: act.mfn };
  }

  /**
   * The checks of a pin of grant `r` of `t` by domain `by` (map_grant_ref() and
   * acquire_grant_for_copy() alike), with no effect but populating the
   * granter's page: the active entry to pin, and whether the shared entry's
   * status bits are to be set. `map` refuses `GTF_sub_page` too (`mapflag`).
   */
  #acquire(
    t: Table,
    r: number,
    by: number,
    write: boolean,
    map: boolean,
    fail: (code: XenErrnoCode, status: GntStatus, why: string) => GrantTableError,
  ): { act: Active; setStatus: boolean } {
    const act = t.active.get(r);
    // A grant pinned by another domain is refused before the entry is read.
    if (act && act.mapper !== by) {
      throw fail("EBUSY", GNTST.general_error, `grant is in use by dom${act.mapper}`);
    }
    // map_grant_ref() and acquire_grant_for_copy(): "If already pinned, check the active domid
    // and avoid refcnt overflow": act->pin keeps each kind of pin (hstr, hstw) in an 8-bit
    // counter, and a pin is refused while the counter it adds to has its top bit set
    // (GNTPIN_incr2oflow_mask), so one domain holds at most GNTPIN_MAX_MAPS read-only and as
    // many writable pins of one grant. Only mappings are counted: the model keeps a copy batch's
    // pins to the end of the call, where Xen holds a copy's pin for its op alone (and reuses it
    // for the next op on the same grant), so the model's copy pins are no count Xen would see.
    if (act) {
      const copies = this.copyPins(t.party.domid, r);
      const maps = write ? act.writers - copies.writers : act.readers - copies.readers;
      if (maps >= GNTPIN_MAX_MAPS) {
        throw fail(
          "EOVERFLOW",
          GNTST.general_error,
          `dom${by} holds ${maps} ${write ? "writable" : "read-only"} mappings of the grant, ` +
            `the most its pin counter takes (${GNTPIN_MAX_MAPS})`,
        );
      }
    }
    // Xen reads the shared entry (_set_status_v1) only when it pins the grant for the first
    // time, or for the first writable pin; a grant this domain already holds is pinned again
    // from the active entry, whatever the guest wrote into the entry since.
    const setStatus = !act || (write && act.writers === 0);
    // Copy first, then validate and use only the copy: the guest may rewrite the entry at any
    // moment.
    const e = setStatus ? t.read(this.mem, r) : undefined;
    if (e) {
      // _set_status_v1: bad type, wrong domid (checked only when not yet pinned) and a
      // write-pin of a read-only entry are all GNTST_general_error in Xen; the errno tells
      // them apart.
      const bad = (e.flags & GTF_type_mask) !== GTF_permit_access ||
        (map && (e.flags & GTF_sub_page) !== 0);
      if (!act && bad) {
        throw fail(
          "EINVAL",
          GNTST.general_error,
          `entry is not a v1 permit_access grant (flags 0x${e.flags.toString(16)})`,
        );
      }
      if (!act && e.domid !== by) {
        throw fail("EPERM", GNTST.general_error, `entry grants dom${e.domid}, not dom${by}`);
      }
      if (write && (e.flags & GTF_readonly) !== 0) {
        throw fail("EPERM", GNTST.general_error, "read-only grant, writable access requested");
      }
    }
    if (act) return { act, setStatus };
    const pfn = e!.frame;
    let mfn: number | undefined;
    try {
      mfn = t.party.memory.populatePage(pfn);
    } catch (err) {
      throw fail("ENOMEM", GNTST.general_error, (err as Error).message);
    }
    if (mfn === undefined) {
      // get_paged_frame(): not a page of the granter's.
      throw fail("EINVAL", GNTST.bad_page, `frame ${pfn} is not a page dom${t.party.domid} owns`);
    }
    return { act: { mapper: by, pfn, mfn, readers: 0, writers: 0 }, setStatus };
  }

  /** Count the pin {@link #acquire} checked, and set the status bits it asked for. */
  #commit(t: Table, r: number, pin: { act: Active; setStatus: boolean }, write: boolean): Active {
    const { act } = pin;
    if (act.readers + act.writers === 0) t.active.set(r, act);
    if (write) act.writers++;
    else act.readers++;
    if (pin.setStatus) t.setFlags(this.mem, r, GTF_reading | (write ? GTF_writing : 0), 0);
    return act;
  }

  /** Drop one pin of grant `ref` of `t` (reduce_status_for_pin: the bits no pin needs now). */
  #unpin(t: Table, ref: number, write: boolean): void {
    const act = t.active.get(ref);
    if (!act) return;
    if (write) act.writers--;
    else act.readers--;
    // reduce_status_for_pin(): GTF_writing goes only with the last writable pin, so dropping a
    // read-only pin leaves the bit as it was (a granter may have set it itself).
    const clear = (write && act.writers === 0 ? GTF_writing : 0) |
      (act.readers + act.writers === 0 ? GTF_reading : 0);
    if (act.readers + act.writers === 0) t.active.delete(ref);
    if (clear) t.setFlags(this.mem, ref, 0, clear);
  }

  /**
   * `GNTTABOP_copy`, one side that is a grant (acquire_grant_for_copy):
   * pin grant `ref` of `granterDomid` for `copier`, for reading or (`write`)
   * for writing, and take a reference on its frame. The pin holds until
   * {@link copyRelease}. Refusals as in the module doc.
   */
  copyClaimGrant(copier: GrantParty, granterDomid: number, ref: unknown, write: boolean): CopyHold {
    const what = `GNTTABOP_copy(dom${granterDomid}, ref ${show(ref)})`;
    const fail = (code: XenErrnoCode, status: GntStatus, why: string) =>
      new GrantTableError(code, status, `${what}: ${why}`);
    const t = this.#table(granterDomid, what);
    const r = gntArg(ref, t.size - 1, GNTST.bad_gntref, `${what}: ref`);
    const pin = this.#acquire(t, r, copier.domid, write, false, fail);
    this.mem.getPage(pin.act.mfn);
    this.#commit(t, r, pin, write);
    const hold: CopyHold = {
      granter: granterDomid,
      ref: r,
      mfn: pin.act.mfn,
      write,
      holder: copier.domid,
    };
    this.#copies.set(hold, t);
    return hold;
  }

  /**
   * `GNTTABOP_copy`, one side that is a frame of the caller's own
   * (get_paged_frame): page `gmfn` of `party` (populated if never touched),
   * with a reference on its frame until {@link copyRelease}. EINVAL
   * [bad_page] when it is not one of the party's own pages.
   */
  copyClaimFrame(party: GrantParty, gmfn: unknown, write: boolean): CopyHold {
    const what = `GNTTABOP_copy(frame ${show(gmfn)} of dom${party.domid})`;
    let mfn: number | undefined;
    try {
      mfn = party.memory.populatePage(gmfn as number);
    } catch (err) {
      throw new GrantTableError(
        "ENOMEM",
        GNTST.general_error,
        `${what}: ${(err as Error).message}`,
      );
    }
    if (mfn === undefined) {
      throw new GrantTableError("EINVAL", GNTST.bad_page, `${what}: not a page the caller owns`);
    }
    this.mem.getPage(mfn);
    const hold: CopyHold = { mfn, write, holder: party.domid };
    this.#copies.set(hold, undefined);
    return hold;
  }

  /**
   * Release a copy's side (release_grant_for_copy, put_page): unpin the
   * grant (its status bits cleared as no pin needs them), mark a written
   * frame dirty for log-dirty mode (gnttab_mark_dirty), drop the frame
   * reference — last, as that may free a frame its owner gave back.
   */
  copyRelease(hold: CopyHold): void {
    if (!this.#copies.has(hold)) return;
    const t = this.#copies.get(hold);
    this.#copies.delete(hold);
    // A granter torn down meanwhile took its table and active entries with it.
    if (t && this.#tables.get(t.party.domid) === t) this.#unpin(t, hold.ref!, hold.write);
    if (hold.write) this.mem.noteWrite(hold.mfn);
    this.mem.putPage(hold.mfn);
  }

  /** The holds of copies in flight (for audits: each is a reference on its frame). */
  copyHolds(): IterableIterator<CopyHold> {
    return this.#copies.keys();
  }

  /** `{ readers, writers }` pins of grant `ref` of `granter` that copies in flight hold. */
  copyPins(granter: number, ref: number): { readers: number; writers: number } {
    let readers = 0, writers = 0;
    for (const h of this.#copies.keys()) {
      if (h.granter !== granter || h.ref !== ref) continue;
      if (h.write) writers++;
      else readers++;
    }
    return { readers, writers };
  }

  /** `GNTTABOP_unmap_grant_ref`: `mapper` unmaps its `handle`. */
  unmap(mapper: GrantParty, handle: unknown): void {
    const what = `GNTTABOP_unmap_grant_ref(handle ${show(handle)})`;
    const mt = this.#maptracks.get(mapper.domid);
    if (!mt) {
      throw new GrantTableError(
        "ESRCH",
        GNTST.bad_handle,
        `${what}: mapper dom${mapper.domid} has no maptrack`,
      );
    }
    // unmap_common(): a handle past the maptrack or not in use is GNTST_bad_handle.
    const h = gntArg(handle, mt.max - 1, GNTST.bad_handle, `${what}: handle`);
    const m = mt.entries[h];
    if (!m) {
      throw new GrantTableError(
        "EINVAL",
        GNTST.bad_handle,
        `${what}: handle ${h} is not in use in dom${mapper.domid}`,
      );
    }
    this.#release(mt, h, m);
  }

  #release(mt: Maptrack, h: number, m: MapEntry): void {
    mt.entries[h] = undefined;
    mt.put(h);
    mt.count--;
    this.#mapped--;
    const t = this.#tables.get(m.granter);
    if (t) {
      t.mappedFrom--;
      this.#unpin(t, m.ref, !m.readonly);
    }
    // A writable mapping may have been written through: in log-dirty mode
    // the granter's page counts as dirty (grant_table.c gnttab_mark_dirty).
    if (!m.readonly) this.mem.noteWrite(m.mfn);
    // Last: dropping the mapping's reference may free the frame (a dead
    // granter's page, or one the granter gave back while it was mapped).
    mt.party.memory.unmapForeign(m.addr);
  }

  /**
   * Teardown of a mapper: unmap every grant it holds; drop its maptrack.
   * Every handle is released even if one fails; the failures are thrown
   * together at the end.
   */
  releaseMapper(domid: number): void {
    const mt = this.#maptracks.get(domid);
    if (!mt) return;
    const errors: unknown[] = [];
    mt.entries.forEach((m, h) => {
      if (!m) return;
      try {
        this.#release(mt, h, m);
      } catch (err) {
        errors.push(err);
      }
    });
    this.#maptracks.delete(domid);
    if (errors.length > 0) {
      throw new AggregateError(errors, `releasing dom${domid}'s grant mappings`);
    }
  }

  /**
   * Teardown of a granter: drop its table (its frames are given back) and
   * its active entries. Frames of its memory that others still map keep
   * their references and stay allocated until the last mapper unmaps them
   * (see the module doc).
   */
  releaseGranter(domid: number): void {
    const t = this.#tables.get(domid);
    if (!t) return;
    this.#tables.delete(domid);
    this.#dyingFrames.set(domid, t.frames.length);
    for (const mfn of t.frames) this.mem.freeFrame(mfn);
  }
}
