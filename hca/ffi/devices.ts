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
 * import assert from "node:assert/strict";
 * import { type DeviceListing, noDeviceMessage } from "./devices.ts";
 * const none: DeviceListing = { names: [], errno: 38 }; // NULL list, ENOSYS: no kernel uverbs
 * assert.match(noDeviceMessage(none), /ENOSYS: the kernel exposes no RDMA verbs interface/);
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
 * import assert from "node:assert/strict";
 * import { DEVICE_HINT, noDeviceMessage } from "./devices.ts";
 * assert.ok(noDeviceMessage({ names: [], errno: 0 }).endsWith(DEVICE_HINT));
 * assert.match(DEVICE_HINT, /modprobe mlx5_ib/);
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
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { ffiCounters, listDevices, loadIbverbs } from "./mod.ts";
 * const lib = loadIbverbs();
 * try {
 *   const before = ffiCounters();
 *   const { names } = listDevices(lib); // [] without RDMA devices, else e.g. ["mlx5_0"]
 *   const after = ffiCounters();
 *   assert.ok(names.every((n) => typeof n === "string" && n.length > 0));
 *   assert.equal(after.deviceListCalls - before.deviceListCalls, 1);
 *   assert.equal(after.deviceListsReturned - after.deviceListsFreed, 0); // the list is freed
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
 * import assert from "node:assert/strict";
 * import { noDeviceMessage } from "./devices.ts";
 * assert.match(
 *   noDeviceMessage({ names: [], errno: 0 }),
 *   /^libibverbs loaded but no RDMA device found \(ibv_get_device_list returned 0 devices\): load/,
 * );
 * assert.match(noDeviceMessage({ names: [], errno: 13 }), /NULL with errno 13/);
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
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { loadIbverbs, openDevice } from "./mod.ts";
 * const lib = loadIbverbs();
 * try {
 *   // With no device at all, or none of that name: ENODEV and a message saying which.
 *   assert.throws(() => openDevice(lib, "no-such-hca0"), { kind: "no-device", errno: 19 });
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
