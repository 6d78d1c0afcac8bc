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
 * import assert from "node:assert/strict";
 * import { openRealDevice, type RealOpenOptions } from "./open.ts";
 * const opts: RealOpenOptions = { library: "/opt/none/libibverbs.so.1" };
 * await assert.rejects(openRealDevice(undefined, opts), {
 *   code: "ENODEV",
 *   message: /^ENODEV: \/opt\/none\/libibverbs\.so\.1 could not be loaded/,
 * });
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
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { openRealDevice } from "./open.ts";
 * // With no RDMA device at all, or none of that name: ENODEV saying which.
 * await assert.rejects(openRealDevice("no-such-hca0"), { name: "VerbsError", code: "ENODEV" });
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
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { listRealDevices } from "./open.ts";
 * const names = listRealDevices(); // [] on a machine without RDMA devices, else e.g. ["mlx5_0"]
 * assert.ok(Array.isArray(names) && names.every((n) => typeof n === "string"));
 * assert.throws(() => listRealDevices({ library: "/opt/none/libibverbs.so.1" }), {
 *   code: "ENODEV",
 * });
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
