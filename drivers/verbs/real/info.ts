/**
 * `struct ibv_device_attr` and `struct ibv_port_attr` into the API's
 * `DeviceAttr`/`PortAttr`: every field, camelCased from its C name, so
 * nothing the hardware reports is dropped.
 *
 * @module
 */
import {
  type Field,
  getCString,
  getU64,
  getUint,
  IBV_DEVICE_ATTR,
  IBV_PORT_ATTR,
  viewOf,
} from "../../../hca/ffi/mod.ts";
import type { DeviceAttr, PortAttr } from "../types.ts";

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function guid(v: DataView, f: Field): string {
  const hex = v.getBigUint64(f.offset, false).toString(16).padStart(16, "0");
  return hex.match(/.{4}/g)!.join(":"); // as ibv_devinfo prints it
}

/**
 * Decode `struct ibv_device_attr`: every field, camelCased; GUIDs as
 * ibv_devinfo prints them, 64-bit sizes as numbers. `maxInlineData` is not a
 * device attribute in verbs.h; it is 0 here (the QP's granted cap is the truth).
 *
 * @example
 * ```ts
 * import { decodeDeviceAttr } from "./info.ts";
 * console.log(decodeDeviceAttr(new Uint8Array(232)).nodeGuid); // 0000:0000:0000:0000
 * ```
 */
export function decodeDeviceAttr(buf: Uint8Array): DeviceAttr & Record<string, unknown> {
  const v = viewOf(buf);
  const out: Record<string, unknown> = { maxInlineData: 0 };
  for (const [name, f] of Object.entries(IBV_DEVICE_ATTR.fields)) {
    out[camel(name)] = f.size === 8 ? Number(getU64(v, f)) : f.size > 4 ? "" : getUint(v, f);
  }
  out.fwVer = getCString(buf, IBV_DEVICE_ATTR.fields.fw_ver);
  out.nodeGuid = guid(v, IBV_DEVICE_ATTR.fields.node_guid);
  out.sysImageGuid = guid(v, IBV_DEVICE_ATTR.fields.sys_image_guid);
  return out as DeviceAttr & Record<string, unknown>;
}

/**
 * Decode `struct ibv_port_attr`: every field, camelCased (enums as verbs.h values).
 *
 * @example
 * ```ts
 * import { decodePortAttr } from "./info.ts";
 * const b = new Uint8Array(52);
 * b[0] = 4;
 * console.log(decodePortAttr(b).state); // 4
 * ```
 */
export function decodePortAttr(buf: Uint8Array): PortAttr & Record<string, number> {
  const v = viewOf(buf);
  const out: Record<string, number> = {};
  for (const [name, f] of Object.entries(IBV_PORT_ATTR.fields)) out[camel(name)] = getUint(v, f);
  return out as PortAttr & Record<string, number>;
}
