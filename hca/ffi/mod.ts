/**
 * Raw binding of libibverbs through `Deno.dlopen`: struct layouts checked
 * against `infiniband/verbs.h`, the exported verbs, and the static-inline
 * fast-path verbs through the context's function pointers. Loading is lazy
 * ({@link loadIbverbs}); importing this module touches no library. The
 * verbs API over it is `drivers/verbs/real.ts`.
 *
 * @example
 * ```ts
 * import { FfiError, listDevices, loadIbverbs } from "./mod.ts";
 * try {
 *   const lib = loadIbverbs();
 *   try {
 *     console.log(listDevices(lib).names);
 *   } finally {
 *     lib.close();
 *   }
 * } catch (e) {
 *   if (e instanceof FfiError) console.log(e.kind, e.message); // no-library …
 * }
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
