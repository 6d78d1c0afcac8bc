/**
 * The RDMA device list and opening a device. The list libibverbs returns is
 * always freed before these functions return (a device must be opened while
 * the list is alive, so opening happens inside the list's lifetime).
 *
 * @module
 */
import { bump } from "./counters.ts";
import { FFI_ERRNO, FfiError } from "./errors.ts";
import type { Ibverbs } from "./library.ts";
import { scratch, viewOf } from "./struct.ts";

/**
 * What the RDMA stack says when asked for devices.
 *
 * @example
 * ```ts
 * import type { DeviceListing } from "./devices.ts";
 * const none: DeviceListing = { names: [], errno: 38 }; // no uverbs in the kernel
 * ```
 */
export interface DeviceListing {
  /** Kernel device names, e.g. `mlx5_0`, in libibverbs' order. */
  readonly names: string[];
  /** errno when `ibv_get_device_list` returned NULL (no list at all), else 0. */
  readonly errno: number;
}

/**
 * How to get a device, appended to every "no RDMA device" message.
 *
 * @example
 * ```ts
 * import { DEVICE_HINT } from "./devices.ts";
 * console.log(DEVICE_HINT.startsWith("load the HCA's kernel driver")); // true
 * ```
 */
export const DEVICE_HINT = "load the HCA's kernel driver (e.g. modprobe mlx5_ib, or a soft-RoCE " +
  "device: rdma link add rxe0 type rxe netdev eth0), check that /dev/infiniband/uverbs* exists " +
  "and is readable, and that ibverbs-providers is installed; or use the built-in device model " +
  "(Cluster), which needs no hardware";

function withDeviceList<T>(
  lib: Ibverbs,
  body: (list: Deno.PointerObject | null, count: number, errno: number) => T,
): T {
  const num = scratch(4);
  bump("deviceListCalls");
  const list = lib.symbols.ibv_get_device_list(num);
  const errno = list ? 0 : lib.errno();
  if (!list) return body(null, 0, errno);
  bump("deviceListsReturned");
  try {
    return body(list, viewOf(num).getInt32(0, true), 0);
  } finally {
    lib.symbols.ibv_free_device_list(list);
    bump("deviceListsFreed");
  }
}

function names(lib: Ibverbs, list: Deno.PointerObject | null, count: number): string[] {
  if (!list) return [];
  const v = new Deno.UnsafePointerView(list);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = lib.symbols.ibv_get_device_name(v.getPointer(i * 8));
    out.push(name ? Deno.UnsafePointerView.getCString(name) : `device${i}`);
  }
  return out;
}

/**
 * List RDMA devices.
 *
 * @example
 * ```ts
 * import { listDevices, loadIbverbs } from "./mod.ts";
 * const lib = loadIbverbs();
 * try {
 *   console.log(listDevices(lib).names); // [] on a machine without RDMA devices
 * } finally {
 *   lib.close();
 * }
 * ```
 */
export function listDevices(lib: Ibverbs): DeviceListing {
  return withDeviceList(lib, (list, count, errno) => ({ names: names(lib, list, count), errno }));
}

/**
 * The "no RDMA device" explanation for a listing with no devices.
 *
 * @example
 * ```ts
 * import { noDeviceMessage } from "./devices.ts";
 * console.log(noDeviceMessage({ names: [], errno: 0 }).includes("returned 0 devices")); // true
 * ```
 */
export function noDeviceMessage(listing: DeviceListing): string {
  let why = "ibv_get_device_list returned 0 devices";
  if (listing.errno === FFI_ERRNO.ENOSYS) {
    why += "; NULL with errno 38 ENOSYS: the kernel exposes no RDMA verbs interface, " +
      "/sys/class/infiniband_verbs is missing";
  } else if (listing.errno !== 0) why += `; NULL with errno ${listing.errno}`;
  return `libibverbs loaded but no RDMA device found (${why}): ${DEVICE_HINT}`;
}

/**
 * Open a device by name (first device when no name is given).
 *
 * @returns the `struct ibv_context *` and the device's name
 * @throws FfiError `no-device` (ENODEV) when there is none or no such name;
 *   `call` with errno when `ibv_open_device` fails (e.g. EACCES on uverbs)
 * @example
 * ```ts
 * import { loadIbverbs, openDevice } from "./mod.ts";
 * const lib = loadIbverbs();
 * try {
 *   openDevice(lib); // throws FfiError "no-device" on a machine without RDMA devices
 * } catch (e) {
 *   console.log((e as Error).message);
 * } finally {
 *   lib.close();
 * }
 * ```
 */
export function openDevice(
  lib: Ibverbs,
  name?: string,
): { name: string; context: Deno.PointerObject } {
  return withDeviceList(lib, (list, count, errno) => {
    const all = names(lib, list, count);
    if (all.length === 0) {
      throw new FfiError(
        "no-device",
        FFI_ERRNO.ENODEV,
        "ibv_get_device_list",
        noDeviceMessage({
          names: all,
          errno,
        }),
      );
    }
    const i = name === undefined ? 0 : all.indexOf(name);
    if (i < 0) {
      throw new FfiError(
        "no-device",
        FFI_ERRNO.ENODEV,
        "ibv_get_device_list",
        `no RDMA device named "${name}" (devices: ${all.join(", ")})`,
      );
    }
    const dev = new Deno.UnsafePointerView(list!).getPointer(i * 8);
    const ctx = lib.symbols.ibv_open_device(dev);
    if (!ctx) {
      const e = lib.errno();
      throw new FfiError(
        "call",
        e || FFI_ERRNO.EIO,
        "ibv_open_device",
        `ibv_open_device(${all[i]}) failed (errno ${e}): check access to /dev/infiniband/uverbs* ` +
          `and the locked-memory limit (ulimit -l)`,
      );
    }
    return { name: all[i], context: ctx };
  });
}
