/**
 * API attribute objects ↔ verbs.h structs: QP attributes (the mask derived
 * from the keys present, as the simulated stack does), address vectors, QP
 * init attributes.
 *
 * @module
 */
import {
  type Field,
  getUint,
  IBV_AH_ATTR,
  IBV_QP_ATTR,
  IBV_QP_CAP,
  IBV_QP_INIT_ATTR,
  put,
  scratch,
  viewOf,
} from "../../../hca/ffi/mod.ts";
import { mtuFromBytes, QpAttrMask, QpType } from "../../uapi/enums.ts";
import { VerbsError } from "../../uapi/errors.ts";
import { boolArg } from "../args.ts";
import type { AhAttr, QpAttr, QpCap } from "../../uapi/types.ts";

const Q = IBV_QP_ATTR.fields;

/** Plain numeric QP attributes: API key, C field, mask bit. */
const SCALARS: readonly (readonly [keyof QpAttr, Field, number])[] = [
  ["state", Q.qp_state, QpAttrMask.STATE],
  ["curState", Q.cur_qp_state, QpAttrMask.CUR_STATE],
  ["pathMigState", Q.path_mig_state, QpAttrMask.PATH_MIG_STATE],
  ["qkey", Q.qkey, QpAttrMask.QKEY],
  ["rqPsn", Q.rq_psn, QpAttrMask.RQ_PSN],
  ["sqPsn", Q.sq_psn, QpAttrMask.SQ_PSN],
  ["destQpNum", Q.dest_qp_num, QpAttrMask.DEST_QPN],
  ["accessFlags", Q.qp_access_flags, QpAttrMask.ACCESS_FLAGS],
  ["pkeyIndex", Q.pkey_index, QpAttrMask.PKEY_INDEX],
  ["maxRdAtomic", Q.max_rd_atomic, QpAttrMask.MAX_QP_RD_ATOMIC],
  ["maxDestRdAtomic", Q.max_dest_rd_atomic, QpAttrMask.MAX_DEST_RD_ATOMIC],
  ["minRnrTimer", Q.min_rnr_timer, QpAttrMask.MIN_RNR_TIMER],
  ["port", Q.port_num, QpAttrMask.PORT],
  ["timeout", Q.timeout, QpAttrMask.TIMEOUT],
  ["retryCnt", Q.retry_cnt, QpAttrMask.RETRY_CNT],
  ["rnrRetry", Q.rnr_retry, QpAttrMask.RNR_RETRY],
];
const SPECIAL = new Set(["pathMtu", "enSqdAsyncNotify", "cap", "ah", "altPath"]);

function uint(v: unknown, f: Field, what: string): number {
  const max = 2 ** (8 * f.size) - 1;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
    throw new VerbsError("EINVAL", `${what} must be an integer in 0..${max}, got ${String(v)}`);
  }
  return v;
}

/**
 * The `ibv_mtu` value of an API path MTU: an `Mtu` (1..5) or bytes (256..4096).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Mtu } from "../../uapi/enums.ts";
 * import { mtuValue } from "./attrs.ts";
 * assert.deepEqual([mtuValue(2048), mtuValue(Mtu.MTU_2048)], [Mtu.MTU_2048, Mtu.MTU_2048]);
 * assert.throws(() => mtuValue(1500), { code: "EINVAL" }); // not an IB MTU
 * ```
 */
export function mtuValue(v: unknown): number {
  if (typeof v === "number" && Number.isInteger(v) && v >= 1 && v <= 5) return v;
  const m = typeof v === "number" ? mtuFromBytes(v) : undefined;
  if (m === undefined) {
    throw new VerbsError("EINVAL", `pathMtu ${String(v)}: give an Mtu (1..5) or 256..4096 bytes`);
  }
  return m;
}

/**
 * Write an address vector into a `struct ibv_ah_attr` at `base`.
 *
 * @param defaultPort port when `ah.portNum` is absent (the QP's port)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getUint, IBV_AH_ATTR, scratch, viewOf } from "../../../hca/ffi/mod.ts";
 * import { encodeAh } from "./attrs.ts";
 * const v = viewOf(scratch(IBV_AH_ATTR.sizeof));
 * encodeAh(v, 0, { dlid: 5 }, 1); // no portNum: the QP's port 1
 * assert.equal(getUint(v, IBV_AH_ATTR.fields.dlid), 5);
 * assert.equal(getUint(v, IBV_AH_ATTR.fields.port_num), 1);
 * assert.throws(
 *   () => encodeAh(v, 0, { dlid: 70000 }, 1),
 *   /ah.dlid must be an integer in 0..65535/,
 * );
 * ```
 */
export function encodeAh(v: DataView, base: number, ah: AhAttr, defaultPort: number): void {
  const A = IBV_AH_ATTR.fields;
  if (typeof ah !== "object" || ah === null) throw new VerbsError("EINVAL", "ah must be an object");
  put(v, A.dlid, uint(ah.dlid, A.dlid, "ah.dlid"), base);
  put(v, A.sl, uint(ah.sl ?? 0, A.sl, "ah.sl"), base);
  put(v, A.src_path_bits, uint(ah.srcPathBits ?? 0, A.src_path_bits, "ah.srcPathBits"), base);
  put(v, A.static_rate, uint(ah.staticRate ?? 0, A.static_rate, "ah.staticRate"), base);
  put(v, A.port_num, uint(ah.portNum ?? defaultPort, A.port_num, "ah.portNum"), base);
  put(v, A.is_global, ah.grh ? 1 : 0, base);
  if (!ah.grh) return;
  const g = ah.grh;
  if (!(g.dgid instanceof Uint8Array) || g.dgid.length !== 16) {
    throw new VerbsError("EINVAL", "ah.grh.dgid must be 16 bytes");
  }
  new Uint8Array(v.buffer, v.byteOffset + base + A["grh.dgid"].offset, 16).set(g.dgid);
  put(v, A["grh.flow_label"], uint(g.flowLabel ?? 0, A["grh.flow_label"], "flowLabel"), base);
  put(v, A["grh.sgid_index"], uint(g.sgidIndex ?? 0, A["grh.sgid_index"], "sgidIndex"), base);
  // A zero hop limit keeps a packet inside the subnet (and is TTL 0 on RoCE v2).
  put(v, A["grh.hop_limit"], uint(g.hopLimit ?? 64, A["grh.hop_limit"], "hopLimit"), base);
  put(
    v,
    A["grh.traffic_class"],
    uint(g.trafficClass ?? 0, A["grh.traffic_class"], "trafficClass"),
    base,
  );
}

/**
 * Read a `struct ibv_ah_attr` at `base`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_AH_ATTR, scratch, viewOf } from "../../../hca/ffi/mod.ts";
 * import { decodeAh, encodeAh } from "./attrs.ts";
 * const v = viewOf(scratch(IBV_AH_ATTR.sizeof));
 * const dgid = new Uint8Array(16).fill(0xfe);
 * encodeAh(v, 0, { dlid: 3, sl: 1, portNum: 2, grh: { dgid, hopLimit: 1 } }, 1);
 * const ah = decodeAh(v, 0);
 * assert.deepEqual([ah.dlid, ah.sl, ah.portNum, ah.grh?.hopLimit], [3, 1, 2, 1]);
 * assert.deepEqual(ah.grh?.dgid, dgid);
 * ```
 */
export function decodeAh(v: DataView, base: number): AhAttr {
  const A = IBV_AH_ATTR.fields;
  const ah: AhAttr = {
    dlid: getUint(v, A.dlid, base),
    sl: getUint(v, A.sl, base),
    srcPathBits: getUint(v, A.src_path_bits, base),
    staticRate: getUint(v, A.static_rate, base),
    portNum: getUint(v, A.port_num, base),
  };
  if (getUint(v, A.is_global, base)) {
    const at = v.byteOffset + base + A["grh.dgid"].offset;
    ah.grh = {
      dgid: new Uint8Array(v.buffer.slice(at, at + 16)),
      flowLabel: getUint(v, A["grh.flow_label"], base),
      sgidIndex: getUint(v, A["grh.sgid_index"], base),
      hopLimit: getUint(v, A["grh.hop_limit"], base),
      trafficClass: getUint(v, A["grh.traffic_class"], base),
    };
  }
  return ah;
}

/**
 * Encode `qp.modify` attributes into a `struct ibv_qp_attr` and its mask.
 *
 * @param defaultPort port for address vectors without `portNum`
 * @throws VerbsError EINVAL for an unknown key or an out-of-range value
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QpAttrMask, QpState } from "../../uapi/enums.ts";
 * import { encodeQpAttr } from "./attrs.ts";
 * const { mask } = encodeQpAttr({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 }, 1);
 * // The mask is derived from the keys given, as ibv_modify_qp's attr_mask.
 * const want = QpAttrMask.STATE | QpAttrMask.PORT | QpAttrMask.PKEY_INDEX |
 *   QpAttrMask.ACCESS_FLAGS;
 * assert.equal(mask, want);
 * assert.throws(() => encodeQpAttr({ mtu: 4 } as never, 1), /unknown attribute "mtu"/);
 * ```
 */
export function encodeQpAttr(
  attr: QpAttr,
  defaultPort: number,
): { buf: Uint8Array<ArrayBuffer>; mask: number } {
  if (typeof attr !== "object" || attr === null) {
    throw new VerbsError("EINVAL", "qp.modify: give the attributes to set, { state, … }");
  }
  const buf = scratch(IBV_QP_ATTR.sizeof);
  const v = viewOf(buf);
  let mask = 0;
  const known = new Set<string>([...SCALARS.map((s) => s[0]), ...SPECIAL]);
  for (const k of Object.keys(attr)) {
    // sq_draining is an output of ibv_query_qp with no attr_mask bit: ibv_modify_qp ignores it
    // (man ibv_modify_qp: "Irrelevant for ibv_modify_qp()"), as the model's attrMask does.
    if (!known.has(k) && k !== "sqDraining") {
      throw new VerbsError("EINVAL", `qp.modify: unknown attribute "${k}"`);
    }
  }
  for (const [key, field, bit] of SCALARS) {
    if (attr[key] === undefined) continue;
    put(v, field, uint(attr[key], field, key));
    mask |= bit;
  }
  if (attr.pathMtu !== undefined) {
    put(v, Q.path_mtu, mtuValue(attr.pathMtu));
    mask |= QpAttrMask.PATH_MTU;
  }
  if (attr.enSqdAsyncNotify !== undefined) {
    const on = boolArg("modify_qp", "enSqdAsyncNotify", attr.enSqdAsyncNotify);
    put(v, Q.en_sqd_async_notify, on ? 1 : 0);
    mask |= QpAttrMask.EN_SQD_ASYNC_NOTIFY;
  }
  const port = attr.port ?? defaultPort;
  if (attr.ah !== undefined) {
    encodeAh(v, Q.ah_attr.offset, attr.ah, port);
    mask |= QpAttrMask.AV;
  }
  if (attr.altPath !== undefined) {
    encodeAh(v, Q.alt_ah_attr.offset, attr.altPath, port);
    put(v, Q.alt_port_num, attr.altPath.portNum ?? port);
    put(v, Q.alt_timeout, attr.timeout ?? 0);
    mask |= QpAttrMask.ALT_PATH;
  }
  if (attr.cap !== undefined) {
    encodeCap(v, Q.cap.offset, attr.cap);
    mask |= QpAttrMask.CAP;
  }
  return { buf, mask };
}

/**
 * Decode a `struct ibv_qp_attr` filled by `ibv_query_qp` (`pathMtu` as an `Mtu` value).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Mtu, QpState } from "../../uapi/enums.ts";
 * import { decodeQpAttr, encodeQpAttr } from "./attrs.ts";
 * const { buf } = encodeQpAttr({ state: QpState.RTR, pathMtu: 2048, destQpNum: 0x42 }, 1);
 * const attr = decodeQpAttr(buf); // as ibv_query_qp would fill it
 * assert.deepEqual([attr.state, attr.pathMtu, attr.destQpNum], [QpState.RTR, Mtu.MTU_2048, 0x42]);
 * assert.equal(attr.sqDraining, false); // sq_draining: set only in SQD while draining
 * ```
 */
export function decodeQpAttr(buf: Uint8Array): Required<Omit<QpAttr, "altPath">> {
  const v = viewOf(buf);
  const out: Record<string, unknown> = {};
  for (const [key, field] of SCALARS) out[key] = getUint(v, field);
  out.pathMtu = getUint(v, Q.path_mtu);
  out.enSqdAsyncNotify = getUint(v, Q.en_sqd_async_notify) !== 0;
  // libibverbs cmd.c ibv_cmd_query_qp: attr->sq_draining = resp.sq_draining (verbs.h uint8_t).
  out.sqDraining = getUint(v, Q.sq_draining) !== 0;
  out.ah = decodeAh(v, Q.ah_attr.offset);
  out.cap = decodeCap(v, Q.cap.offset);
  return out as Required<Omit<QpAttr, "altPath">>;
}

/**
 * Write a `struct ibv_qp_cap` at `base`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_QP_CAP, scratch, viewOf } from "../../../hca/ffi/mod.ts";
 * import { decodeCap, encodeCap } from "./attrs.ts";
 * const v = viewOf(scratch(IBV_QP_CAP.sizeof));
 * encodeCap(v, 0, { maxSendWr: 8, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 });
 * assert.deepEqual(decodeCap(v, 0), {
 *   maxSendWr: 8,
 *   maxRecvWr: 4,
 *   maxSendSge: 1,
 *   maxRecvSge: 1,
 *   maxInlineData: 0, // absent means none
 * });
 * ```
 */
export function encodeCap(v: DataView, base: number, cap: QpCap): void {
  const C = IBV_QP_CAP.fields;
  if (typeof cap !== "object" || cap === null) throw new VerbsError("EINVAL", "cap is required");
  put(v, C.max_send_wr, uint(cap.maxSendWr, C.max_send_wr, "cap.maxSendWr"), base);
  put(v, C.max_recv_wr, uint(cap.maxRecvWr, C.max_recv_wr, "cap.maxRecvWr"), base);
  put(v, C.max_send_sge, uint(cap.maxSendSge, C.max_send_sge, "cap.maxSendSge"), base);
  put(v, C.max_recv_sge, uint(cap.maxRecvSge, C.max_recv_sge, "cap.maxRecvSge"), base);
  const inl = cap.maxInlineData ?? 0;
  put(v, C.max_inline_data, uint(inl, C.max_inline_data, "cap.maxInlineData"), base);
}

/**
 * Read a `struct ibv_qp_cap` at `base`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_QP_CAP, scratch, viewOf } from "../../../hca/ffi/mod.ts";
 * import { decodeCap } from "./attrs.ts";
 * const v = viewOf(scratch(IBV_QP_CAP.sizeof));
 * v.setUint32(IBV_QP_CAP.fields.max_inline_data.offset, 220, true); // what the provider granted
 * assert.equal(decodeCap(v, 0).maxInlineData, 220);
 * ```
 */
export function decodeCap(v: DataView, base: number): Required<QpCap> {
  const C = IBV_QP_CAP.fields;
  return {
    maxSendWr: getUint(v, C.max_send_wr, base),
    maxRecvWr: getUint(v, C.max_recv_wr, base),
    maxSendSge: getUint(v, C.max_send_sge, base),
    maxRecvSge: getUint(v, C.max_recv_sge, base),
    maxInlineData: getUint(v, C.max_inline_data, base),
  };
}

/**
 * A `struct ibv_qp_init_attr` for `ibv_create_qp`.
 *
 * @param cqs addresses of the send CQ, receive CQ and SRQ (0 for none)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getUint, IBV_QP_INIT_ATTR, viewOf } from "../../../hca/ffi/mod.ts";
 * import { QpType } from "../../uapi/enums.ts";
 * import { encodeQpInitAttr } from "./attrs.ts";
 * const cap = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
 * const buf = encodeQpInitAttr(QpType.RC, cap, false, [1n, 1n, 0n]);
 * assert.equal(buf.byteLength, IBV_QP_INIT_ATTR.sizeof);
 * assert.equal(getUint(viewOf(buf), IBV_QP_INIT_ATTR.fields.qp_type), QpType.RC);
 * assert.throws(() => encodeQpInitAttr(7, cap, false, [1n, 1n, 0n]), { code: "EINVAL" });
 * ```
 */
export function encodeQpInitAttr(
  type: number,
  cap: QpCap,
  sqSigAll: boolean,
  cqs: readonly [bigint, bigint, bigint],
): Uint8Array<ArrayBuffer> {
  if (type !== QpType.RC && type !== QpType.UC && type !== QpType.UD) {
    throw new VerbsError("EINVAL", `createQp: type ${type} is not RC (2), UC (3) or UD (4)`);
  }
  const I = IBV_QP_INIT_ATTR.fields;
  const buf = scratch(IBV_QP_INIT_ATTR.sizeof);
  const v = viewOf(buf);
  put(v, I.send_cq, cqs[0]);
  put(v, I.recv_cq, cqs[1]);
  put(v, I.srq, cqs[2]);
  encodeCap(v, I.cap.offset, cap);
  put(v, I.qp_type, type);
  put(v, I.sq_sig_all, sqSigAll ? 1 : 0);
  return buf;
}
