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
 * import type { FfiFailure } from "./errors.ts";
 * const setup = (f: FfiFailure) => f !== "call";
 * ```
 */
export type FfiFailure = "no-library" | "no-device" | "no-permission" | "call";

/**
 * Linux errno values the binding itself reports.
 *
 * @example
 * ```ts
 * import { FFI_ERRNO } from "./errors.ts";
 * console.log(FFI_ERRNO.ENODEV); // 19
 * ```
 */
export const FFI_ERRNO = { EPERM: 1, EIO: 5, ENODEV: 19, EINVAL: 22, ENOSYS: 38 } as const;

/**
 * Error of the raw libibverbs binding.
 *
 * @example
 * ```ts
 * import { FfiError } from "./errors.ts";
 * const e = new FfiError("call", 12, "ibv_alloc_pd", "ibv_alloc_pd failed (errno 12)");
 * console.log(e.kind, e.errno, e.call); // call 12 ibv_alloc_pd
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
