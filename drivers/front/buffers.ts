/**
 * Granting a guest buffer to dom0 (flow 4, the guest's half): one grant
 * entry per page, written in the guest's own grant table (`grantEntryNs`
 * each); when there are more pages than fit in a request's segment area,
 * the refs go into indirect pages — granted read-only themselves — and the
 * request carries those pages' refs.
 *
 * Which pages a request may cover is decided here, in the guest's kernel,
 * before anything is granted or sent, as a bare-metal kernel decides it:
 * the guest kernel pins the process's pages first (get_user_pages, as
 * `ib_umem_get` does: `pin_user_pages_fast` fails with EFAULT on an address
 * the process has not mapped), so only pages the program's memory has
 * populated (`AddressSpace.owns`: a frame behind them, the space's own)
 * pass, the same rule as the native driver's page table
 * (`drivers/native/uverbs_native.ts` `pageTableMemory`). A page of the
 * guest's memory never populated is EFAULT (`is not mapped memory`, bare
 * metal's words); a page outside its memory or a foreign mapping in it (its
 * UAR page, its shared-info or grant-table frames, a page mapped from
 * another domain) is EFAULT too (`is not memory of this guest`). The
 * hypervisor's rule at map time is wider (`AddressSpace.isOwnPage`: any
 * pseudo-physical page of the guest's, populated on demand, Xen's rule for
 * what a domain may grant); only a guest kernel that grants pages by itself,
 * not through this frontend, reaches it. A full grant table is ENOMEM.
 *
 * @module
 */
import type { Domain as XenDomain } from "../../hypervisor/domain.ts";
import type { GuestGrantTable } from "../xen/grant_table.ts";
import type { Engine } from "../../sim/engine.ts";
import { PAGE_SIZE } from "../../sim/memory.ts";
import { VerbsError } from "../uapi/errors.ts";
import { REFS_PER_INDIRECT_PAGE, VIB_F_INDIRECT, VIB_MAX_PAGES } from "../vib/mod.ts";

/**
 * The guest kernel that grants: its domain and its grant-table client.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenGuest } from "../../platform/xen_guest.ts";
 * import type { Granter } from "./buffers.ts";
 * const refsInUse = (k: Granter) => k.grants.inUse;
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass", regCache: false }) as XenGuest;
 * const k: Granter = { dom: vm.xen, grants: vm.grants };
 * await cluster.run(async () => {
 *   const ctx = await vm.openDevice();
 *   const before = refsInUse(k); // the ring pages
 *   const mr = await (await ctx.allocPd()).regMr(vm.memory.alloc(3 * 4096, 4096), 3 * 4096, 1);
 *   assert.equal(refsInUse(k), before + 3); // one ref per page while dom0 maps it
 *   await mr.dereg();
 *   assert.equal(refsInUse(k), before);
 * });
 * ```
 */
export interface Granter {
  readonly dom: XenDomain;
  readonly grants: GuestGrantTable;
}

/**
 * A buffer granted for one request.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenGuest } from "../../platform/xen_guest.ts";
 * import { VIB_F_INDIRECT } from "../vib/mod.ts";
 * import { dropIndirect, type GrantedBuffer, grantBuffer, ungrant } from "./buffers.ts";
 * const indirect = (b: GrantedBuffer) => b.indirect !== undefined; // > 22 pages
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass" }) as XenGuest;
 * const k = { dom: vm.xen, grants: vm.grants };
 * await cluster.run(async () => {
 *   const addr = vm.memory.alloc(30 * 4096, 4096);
 *   const g = await grantBuffer(cluster.engine, k, 50, addr, 30 * 4096, false, 22);
 *   assert.ok(indirect(g));
 *   assert.deepEqual([g.refs.length, g.segs.length, g.flags], [30, 1, VIB_F_INDIRECT]);
 *   await dropIndirect(cluster.engine, k, 50, g);
 *   await ungrant(cluster.engine, k, 50, g.refs);
 * });
 * ```
 */
export interface GrantedBuffer {
  /** Pages covered. */
  nrPages: number;
  /** One ref per page, kept until the object is destroyed. */
  refs: number[];
  /** What goes in the request: the page refs, or the indirect pages' refs. */
  segs: number[];
  flags: number;
  /** Indirect pages, released once the request is answered. */
  indirect?: { addr: number; refs: number[] };
}

function pagesOf(addr: number, len: number): number[] {
  if (!Number.isInteger(addr) || !Number.isInteger(len) || addr < 0 || len <= 0) return [];
  const out: number[] = [];
  for (let p = Math.floor(addr / PAGE_SIZE); p * PAGE_SIZE < addr + len; p++) out.push(p);
  return out;
}

/**
 * The guest pages of `[addr, addr+bytes)`, each checked to be mapped
 * memory of the guest's own (EFAULT otherwise, as get_user_pages: a page
 * never populated, outside its memory or a foreign mapping); ENOMEM beyond
 * what one request can carry. A malformed extent has no pages (the backend
 * refuses it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenGuest } from "../../platform/xen_guest.ts";
 * import { ownPages } from "./buffers.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", memoryMiB: 64, driver: "bypass" }) as XenGuest;
 * const k = { dom: vm.xen, grants: vm.grants };
 * const addr = vm.memory.alloc(2 * 4096, 4096);
 * const pfn = addr / 4096;
 * assert.deepEqual(ownPages(k, addr + 0x800, 4096), [pfn, pfn + 1]); // straddles two pages
 * assert.throws(() => ownPages(k, 64 << 20, 4096), /EFAULT: page 0x4000000 is not memory of this guest/);
 * const never = (vm.xen.memory.pages - 1) * 4096; // the guest's, never populated
 * assert.throws(() => ownPages(k, never, 4096), /EFAULT: page 0x3fff000 is not mapped memory/);
 * ```
 */
export function ownPages(k: Granter, addr: number, bytes: number): number[] {
  // Counted before any list is built: an extent of 2^53 bytes is refused at once, not after
  // billions of page numbers were pushed (which stopped every domain of the simulation).
  const count = Number.isInteger(addr) && Number.isInteger(bytes) && addr >= 0 && bytes > 0
    ? Math.ceil((addr + bytes) / PAGE_SIZE) - Math.floor(addr / PAGE_SIZE)
    : 0;
  if (count > VIB_MAX_PAGES) {
    throw new VerbsError("ENOMEM", `${count} pages is more than one request can pin`);
  }
  const pfns = pagesOf(addr, bytes);
  const mem = k.dom.memory;
  for (const p of pfns) {
    if (mem.owns(p)) continue;
    throw new VerbsError(
      "EFAULT",
      `page 0x${(p * PAGE_SIZE).toString(16)} is ${
        mem.isOwnPage(p) ? "not mapped memory" : "not memory of this guest"
      }`,
    );
  }
  return pfns;
}

/**
 * Grant the pages of `[addr, addr+bytes)` to dom0. A malformed extent
 * grants nothing (the backend refuses the request with the kernel's errno).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenGuest } from "../../platform/xen_guest.ts";
 * import { grantBuffer, ungrant } from "./buffers.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass" }) as XenGuest;
 * const k = { dom: vm.xen, grants: vm.grants };
 * await cluster.run(async () => {
 *   const addr = vm.memory.alloc(8192, 4096);
 *   const g = await grantBuffer(cluster.engine, k, 50, addr, 8192, false, 20);
 *   assert.equal(g.refs.length, 2);
 *   assert.equal(g.segs, g.refs); // few enough pages: the refs go in the request itself
 *   await ungrant(cluster.engine, k, 50, g.refs);
 * });
 * ```
 */
export async function grantBuffer(
  engine: Engine,
  k: Granter,
  entryNs: number,
  addr: number,
  bytes: number,
  readonly: boolean,
  capacity: number,
): Promise<GrantedBuffer> {
  const pfns = ownPages(k, addr, bytes);
  const refs: number[] = [];
  try {
    for (const p of pfns) refs.push(k.grants.grantAccessNow(0, p, readonly));
  } catch (e) {
    for (const r of refs) k.grants.endAccessNow(r);
    throw new VerbsError("ENOMEM", `grant table full: ${(e as Error).message}`);
  }
  await engine.sleep(refs.length * entryNs);
  try {
    return await packRefs(engine, k, entryNs, refs, capacity);
  } catch (e) {
    await ungrant(engine, k, entryNs, refs);
    throw e;
  }
}

/**
 * What a request carries for `refs`: the refs themselves when they fit the
 * segment area (`capacity`), else indirect pages holding them — allocated,
 * filled and granted read-only here (`grantEntryNs` each), released with
 * {@link dropIndirect} once the request is answered. ENOMEM when even the
 * indirect pages do not fit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenGuest } from "../../platform/xen_guest.ts";
 * import { dropIndirect, packRefs } from "./buffers.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass" }) as XenGuest;
 * const k = { dom: vm.xen, grants: vm.grants };
 * const refs = Array.from({ length: 2000 }, (_, i) => 100 + i);
 * await cluster.run(async () => {
 *   const g = await packRefs(cluster.engine, k, 50, refs, 22);
 *   assert.equal(g.segs.length, 2); // 2000 refs: two indirect pages of 1024
 *   await dropIndirect(cluster.engine, k, 50, g);
 * });
 * ```
 */
export async function packRefs(
  engine: Engine,
  k: Granter,
  entryNs: number,
  refs: number[],
  capacity: number,
): Promise<GrantedBuffer> {
  if (refs.length <= capacity) return { nrPages: refs.length, refs, segs: refs, flags: 0 };
  const n = Math.ceil(refs.length / REFS_PER_INDIRECT_PAGE);
  if (n > capacity) {
    throw new VerbsError(
      "ENOMEM",
      `${refs.length} pages need ${n} indirect pages (at most ${capacity})`,
    );
  }
  const iaddr = k.dom.memory.alloc(n * PAGE_SIZE, PAGE_SIZE);
  const raw = new Uint8Array(n * PAGE_SIZE);
  const dv = new DataView(raw.buffer);
  refs.forEach((r, i) => dv.setUint32(4 * i, r, true));
  k.dom.memory.write(iaddr, raw);
  const irefs: number[] = [];
  for (let i = 0; i < n; i++) irefs.push(k.grants.grantAccessNow(0, iaddr / PAGE_SIZE + i, true));
  await engine.sleep(n * entryNs);
  return {
    nrPages: refs.length,
    refs,
    segs: irefs,
    flags: VIB_F_INDIRECT,
    indirect: { addr: iaddr, refs: irefs },
  };
}

/**
 * End the indirect pages' grants and free them (after the response).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenGuest } from "../../platform/xen_guest.ts";
 * import { dropIndirect, packRefs } from "./buffers.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass" }) as XenGuest;
 * const k = { dom: vm.xen, grants: vm.grants };
 * const before = vm.grants.inUse;
 * await cluster.run(async () => {
 *   const g = await packRefs(cluster.engine, k, 50, Array.from({ length: 30 }, (_, i) => i), 22);
 *   assert.equal(vm.grants.inUse, before + 1); // one indirect page
 *   await dropIndirect(cluster.engine, k, 50, g); // after the REG_MR response
 *   assert.equal(g.indirect, undefined);
 *   assert.equal(vm.grants.inUse, before);
 * });
 * ```
 */
export async function dropIndirect(
  engine: Engine,
  k: Granter,
  entryNs: number,
  g: GrantedBuffer,
): Promise<void> {
  // A dead guest has nothing left to give back: Xen revoked its grants and memory.
  if (!g.indirect || !k.dom.running) return;
  await ungrant(engine, k, entryNs, g.indirect.refs);
  k.dom.memory.free(g.indirect.addr);
  g.indirect = undefined;
}

/**
 * End access through `refs` (dom0 no longer maps them); a ref dom0 still
 * maps stays in use. Nothing to do in a dead guest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenGuest } from "../../platform/xen_guest.ts";
 * import { grantBuffer, ungrant } from "./buffers.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass" }) as XenGuest;
 * const k = { dom: vm.xen, grants: vm.grants };
 * const before = vm.grants.inUse;
 * await cluster.run(async () => {
 *   const g = await grantBuffer(cluster.engine, k, 50, vm.memory.alloc(8192, 4096), 8192, false, 22);
 *   assert.equal(vm.grants.inUse, before + 2);
 *   await ungrant(cluster.engine, k, 50, g.refs); // after DEREG_MR succeeded
 *   assert.equal(vm.grants.inUse, before);
 * });
 * ```
 */
export async function ungrant(
  engine: Engine,
  k: Granter,
  entryNs: number,
  refs: readonly number[],
): Promise<void> {
  if (!k.dom.running) return;
  let n = 0;
  for (const r of refs) {
    try {
      k.grants.endAccessNow(r);
      n++;
    } catch {
      // Still mapped by a backend that did not let go: the ref stays in use.
    }
  }
  if (n > 0) await engine.sleep(n * entryNs);
}
