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
  getInt,
  getU64,
  getUint,
  IBV_DEVICE_ATTR,
  IBV_PORT_ATTR,
  viewOf,
} from "../../../hca/ffi/mod.ts";
import type { DeviceAttr, PortAttr } from "../../uapi/types.ts";

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * A `__be64` GUID as the API gives it in every mode (API.md DeviceAttr: 16 hex digits, as the
 * model's query_device makes it); ibv_devinfo's `0002:c903:…` grouping is the formatter's job
 * (tools/lib/devinfo_format.ts formatGuid).
 */
function guid(v: DataView, f: Field): string {
  return v.getBigUint64(f.offset, false).toString(16).padStart(16, "0");
}

/**
 * Decode `struct ibv_device_attr`: every field, camelCased; GUIDs as 16 hex
 * digits (network order, as the model's), 64-bit sizes as numbers. `maxInlineData` is not a
 * device attribute in verbs.h; it is 0 here (the QP's granted cap is the truth).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_DEVICE_ATTR, scratch, viewOf } from "../../../hca/ffi/mod.ts";
 * import { decodeDeviceAttr } from "./info.ts";
 * const buf = scratch(IBV_DEVICE_ATTR.sizeof); // as ibv_query_device fills it
 * const v = viewOf(buf);
 * v.setBigUint64(IBV_DEVICE_ATTR.fields.node_guid.offset, 0x0002c90300001234n, false); // __be64
 * v.setUint8(IBV_DEVICE_ATTR.fields.phys_port_cnt.offset, 2);
 * buf.set(new TextEncoder().encode("4.7.600"), IBV_DEVICE_ATTR.fields.fw_ver.offset);
 * const attr = decodeDeviceAttr(buf);
 * assert.deepEqual([attr.nodeGuid, attr.physPortCnt, attr.fwVer], [
 *   "0002c90300001234",
 *   2,
 *   "4.7.600",
 * ]);
 * ```
 */
export function decodeDeviceAttr(buf: Uint8Array): DeviceAttr & Record<string, unknown> {
  const v = viewOf(buf);
  const out: Record<string, unknown> = { maxInlineData: 0 };
  for (const [name, f] of Object.entries(IBV_DEVICE_ATTR.fields)) {
    out[camel(name)] = f.size === 8
      ? Number(getU64(v, f))
      : f.size > 4
      ? ""
      : f.signed
      ? getInt(v, f) // the int members (max_qp, …)
      : getUint(v, f);
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
 * import assert from "node:assert/strict";
 * import { IBV_PORT_ATTR, scratch, viewOf } from "../../../hca/ffi/mod.ts";
 * import { PortState } from "../../uapi/enums.ts";
 * import { decodePortAttr } from "./info.ts";
 * const buf = scratch(IBV_PORT_ATTR.sizeof); // as ibv_query_port fills it
 * viewOf(buf).setUint8(IBV_PORT_ATTR.fields.state.offset, PortState.ACTIVE);
 * viewOf(buf).setUint16(IBV_PORT_ATTR.fields.lid.offset, 7, true);
 * const port = decodePortAttr(buf);
 * assert.deepEqual([port.state, port.lid], [PortState.ACTIVE, 7]);
 * ```
 */
export function decodePortAttr(buf: Uint8Array): PortAttr & Record<string, number> {
  const v = viewOf(buf);
  const out: Record<string, number> = {};
  for (const [name, f] of Object.entries(IBV_PORT_ATTR.fields)) {
    out[camel(name)] = f.signed ? getInt(v, f) : getUint(v, f); // gid_tbl_len is an int
  }
  return out as PortAttr & Record<string, number>;
}
