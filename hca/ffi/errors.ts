/**
 * `FfiError`: what the raw binding throws. It carries the Linux errno and the
 * C call that failed; `drivers/verbs/real` turns it into a `VerbsError` (hca
 * must not import drivers, so the verbs error type is not available here).
 *
 * @module
 */

/**
 * Why a binding call failed:
 * - `no-library`: `libibverbs.so.1` (or the given path) could not be dlopen'ed;
 * - `no-device`: the library loaded but there is no (such) RDMA device;
 * - `no-permission`: Deno was not given `--allow-ffi`;
 * - `call`: a verb returned an error (see `errno`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type FfiError, type FfiFailure, loadIbverbs } from "./mod.ts";
 * const kindOf = (f: () => unknown): FfiFailure | undefined => {
 *   try {
 *     f();
 *   } catch (e) {
 *     return (e as FfiError).kind;
 *   }
 * };
 * assert.equal(kindOf(() => loadIbverbs("/nonexistent/libibverbs.so.1")), "no-library");
 * ```
 */
export type FfiFailure = "no-library" | "no-device" | "no-permission" | "call";

/**
 * Linux errno values the binding itself reports.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FFI_ERRNO, loadIbverbs } from "./mod.ts";
 * assert.equal(FFI_ERRNO.ENODEV, 19);
 * assert.throws(() => loadIbverbs("/nonexistent/libibverbs.so.1"), { errno: FFI_ERRNO.ENODEV });
 * ```
 */
export const FFI_ERRNO = { EPERM: 1, EIO: 5, ENODEV: 19, EINVAL: 22, ENOSYS: 38 } as const;

/**
 * Error of the raw libibverbs binding.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FfiError } from "./errors.ts";
 * const e = new FfiError("call", 12, "ibv_alloc_pd", "ibv_alloc_pd failed (errno 12)");
 * assert.deepEqual([e.kind, e.errno, e.call, e.name], ["call", 12, "ibv_alloc_pd", "FfiError"]);
 * assert.ok(e instanceof Error);
 * ```
 */
export class FfiError extends Error {
  /**
   * An error of the binding.
   *
   * @param kind why it failed
   * @param errno Linux errno (ENODEV for a missing library or device)
   * @param call the C function (or step) that failed
   * @param message what happened and, for setup failures, how to fix it
   */
  constructor(
    readonly kind: FfiFailure,
    readonly errno: number,
    readonly call: string,
    message: string,
  ) {
    super(message);
    this.name = "FfiError";
  }
}
