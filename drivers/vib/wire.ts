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
 * import { VIB_SLOT_BYTES } from "./mod.ts";
 * console.log(typeof VIB_SLOT_BYTES); // number
 * ```
 */
export const VIB_SLOT_BYTES = 128;
/**
 * Request header bytes.
 *
 * @example
 * ```ts
 * import { VIB_REQ_HEADER } from "./mod.ts";
 * console.log(typeof VIB_REQ_HEADER); // number
 * ```
 */
export const VIB_REQ_HEADER = 16;
/**
 * Response header bytes.
 *
 * @example
 * ```ts
 * import { VIB_RSP_HEADER } from "./mod.ts";
 * console.log(typeof VIB_RSP_HEADER); // number
 * ```
 */
export const VIB_RSP_HEADER = 8;
/**
 * Request flag: the segment refs name indirect pages.
 *
 * @example
 * ```ts
 * import { VIB_F_INDIRECT } from "./mod.ts";
 * console.log(typeof VIB_F_INDIRECT); // number
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
 * import { REFS_PER_INDIRECT_PAGE } from "./mod.ts";
 * console.log(typeof REFS_PER_INDIRECT_PAGE); // number
 * ```
 */
export const REFS_PER_INDIRECT_PAGE = 1024;
/**
 * Pages one buffer may span (refs in at most all indirect slots): 64 MiB.
 *
 * @example
 * ```ts
 * import { VIB_MAX_PAGES } from "./mod.ts";
 * console.log(typeof VIB_MAX_PAGES); // number
 * ```
 */
export const VIB_MAX_PAGES = 16384;
