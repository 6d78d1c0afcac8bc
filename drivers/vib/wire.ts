/**
 * Slot geometry and header flags of the vib ring: the numbers both ends and
 * the buffer code (indirect pages) must agree on, kept apart from the op
 * table so that code sizing grants need not pull in the whole codec.
 *
 * @module
 */

/**
 * Bytes of one ring slot (`sizeof(union vib_sring_entry)`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VIB_SLOT_BYTES, vibRingOptions } from "./mod.ts";
 * assert.equal(vibRingOptions().request.size, VIB_SLOT_BYTES);
 * assert.equal(VIB_SLOT_BYTES, 128);
 * ```
 */
export const VIB_SLOT_BYTES = 128;
/**
 * Request header bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestLayout } from "./layout.ts";
 * import { VIB_REQ_HEADER, VibOp } from "./mod.ts";
 * assert.equal(requestLayout(VibOp.QUERY_PORT)!.fields[0].off, VIB_REQ_HEADER); // port follows it
 * assert.equal(VIB_REQ_HEADER, 16);
 * ```
 */
export const VIB_REQ_HEADER = 16;
/**
 * Response header bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { responseLayout } from "./layout.ts";
 * import { VIB_RSP_HEADER, VibOp } from "./mod.ts";
 * assert.equal(responseLayout(VibOp.ALLOC_PD)!.fields[0].off, VIB_RSP_HEADER); // pdHandle follows it
 * assert.equal(VIB_RSP_HEADER, 8);
 * ```
 */
export const VIB_RSP_HEADER = 8;
/**
 * Request flag: the segment refs name indirect pages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRequest, encodeRequest, VIB_F_INDIRECT, VIB_SLOT_BYTES, VibOp } from "./mod.ts";
 * const slot = new DataView(new ArrayBuffer(VIB_SLOT_BYTES));
 * const body = { addr: 0x10000, length: 8 << 20, access: 1, nrPages: 2048 };
 * // 2048 pages need more refs than a slot holds: the segments name two indirect pages.
 * encodeRequest({ id: 1, op: VibOp.REG_MR, flags: VIB_F_INDIRECT, ctx: 1, handle: 1, body, segs: [8, 9] }, slot);
 * assert.equal(decodeRequest(slot).flags & VIB_F_INDIRECT, VIB_F_INDIRECT);
 * ```
 */
export const VIB_F_INDIRECT = 1;
/**
 * Request flag (`REG_MR` only): the buffer's grants are persistent — after
 * `DEREG_MR` dom0 may keep their mappings cached (blkif's
 * `feature-persistent`), and a later registration naming the same refs
 * reuses them; the frontend keeps the grants until it asks dom0 to let go
 * (`RELEASE_GRANTS`) or disconnects.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VIB_F_INDIRECT, VIB_F_PERSISTENT } from "./mod.ts";
 * assert.equal(VIB_F_INDIRECT & VIB_F_PERSISTENT, 0); // independent bits
 * ```
 */
export const VIB_F_PERSISTENT = 2;
/**
 * `u32` grant refs in one indirect page.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { REFS_PER_INDIRECT_PAGE } from "./mod.ts";
 * assert.equal(REFS_PER_INDIRECT_PAGE * 4, 4096); // one page of u32 refs
 * ```
 */
export const REFS_PER_INDIRECT_PAGE = 1024;
/**
 * Pages one buffer may span (refs in at most all indirect slots): 64 MiB.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VIB_MAX_PAGES } from "./mod.ts";
 * assert.equal(VIB_MAX_PAGES * 4096, 64 * 1024 * 1024); // 64 MiB
 * ```
 */
export const VIB_MAX_PAGES = 16384;
