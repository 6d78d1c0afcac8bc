/**
 * Raw binding of libibverbs through `Deno.dlopen`: struct layouts checked
 * against `infiniband/verbs.h`, the exported verbs, and the static-inline
 * fast-path verbs through the context's function pointers. Loading is lazy
 * ({@link loadIbverbs}); importing this module touches no library. The
 * verbs API over it is `drivers/verbs/real.ts`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FfiError, getUint, IBV_WC, loadIbverbs, scratch, viewOf } from "./mod.ts";
 * // C structs are read and written through layouts checked against verbs.h:
 * const wc = viewOf(scratch(IBV_WC.sizeof)); // one struct ibv_wc
 * wc.setUint32(IBV_WC.fields.byte_len.offset, 64, true);
 * assert.equal(getUint(wc, IBV_WC.fields.byte_len), 64);
 * // Loading is explicit; a missing library is an FfiError that says how to install it:
 * assert.throws(
 *   () => loadIbverbs("/nonexistent/libibverbs.so.1"),
 *   (e) => e instanceof FfiError && e.kind === "no-library" && /install libibverbs/.test(e.message),
 * );
 * ```
 *
 * @module
 */
export * from "./layouts.ts";
export * from "./struct.ts";
export * from "./errors.ts";
export * from "./symbols.ts";
export { type FfiCounters, ffiCounters } from "./counters.ts";
export * from "./library.ts";
export * from "./devices.ts";
export * from "./ops.ts";
