/**
 * Entry points: list and open real RDMA devices. Each call dlopens
 * libibverbs afresh and releases it before returning, except that an opened
 * context keeps its handle until `close()`; nothing is loaded at import.
 *
 * @module
 */
import { listDevices, loadIbverbs, openDevice } from "../../../hca/ffi/mod.ts";
import { RealContext } from "./context.ts";
import { RealDevice } from "./device.ts";
import { verbs } from "./errors.ts";

/**
 * Where to find libibverbs.
 *
 * @example
 * ```ts
 * import type { RealOpenOptions } from "./open.ts";
 * const opts: RealOpenOptions = { library: "/opt/rdma-core/lib/libibverbs.so.1" };
 * ```
 */
export interface RealOpenOptions {
  /** Library soname or path (default `libibverbs.so.1`). */
  library?: string;
}

/**
 * Open a real RDMA device (the first one when no name is given).
 *
 * @throws VerbsError ENODEV when libibverbs cannot be loaded ("… could not be
 *   loaded (…): install libibverbs1 …") or there is no (such) device
 *   ("libibverbs loaded but no RDMA device found (…)"); EPERM without `--allow-ffi`
 * @example
 * ```ts
 * import { openRealDevice } from "./open.ts";
 * try {
 *   const ctx = await openRealDevice();
 *   console.log(ctx.deviceName);
 *   await ctx.close();
 * } catch (e) {
 *   console.log((e as Error).message); // ENODEV: libibverbs loaded but no RDMA device found (…)
 * }
 * ```
 */
export function openRealDevice(name?: string, opts: RealOpenOptions = {}): Promise<RealContext> {
  return Promise.resolve().then(() => {
    const lib = verbs(() => loadIbverbs(opts.library));
    try {
      const opened = verbs(() => openDevice(lib, name));
      return new RealContext(new RealDevice(lib, opened.name, opened.context));
    } catch (e) {
      lib.close();
      throw e;
    }
  });
}

/**
 * Names of the real RDMA devices; [] when libibverbs loads but finds none.
 *
 * @throws VerbsError ENODEV when libibverbs cannot be loaded; EPERM without `--allow-ffi`
 * @example
 * ```ts
 * import { listRealDevices } from "./open.ts";
 * console.log(listRealDevices()); // e.g. [] or ["mlx5_0"]
 * ```
 */
export function listRealDevices(opts: RealOpenOptions = {}): string[] {
  const lib = verbs(() => loadIbverbs(opts.library));
  try {
    return verbs(() => listDevices(lib)).names;
  } finally {
    lib.close();
  }
}
