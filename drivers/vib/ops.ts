/**
 * The vib op codes and the one table that says which fields each op
 * carries. Layout, codec, documentation and the TypeScript types of the
 * request and response bodies ({@link VibReqBody}, {@link VibRspBody}) are
 * all derived from {@link VIB_OP_TABLE}, so adding or changing an op means
 * editing only this table (as rxe keeps its opcode info in one `rxe_opcode`
 * table), and code that builds or reads a body the table does not describe
 * does not compile.
 *
 * @module
 */

/**
 * Operation codes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VibOp } from "./mod.ts";
 * assert.equal(VibOp.REG_MR, 7);
 * ```
 */
export const VibOp = {
  OPEN: 1,
  CLOSE: 2,
  QUERY_DEVICE: 3,
  QUERY_PORT: 4,
  ALLOC_PD: 5,
  DEALLOC_PD: 6,
  REG_MR: 7,
  DEREG_MR: 8,
  CREATE_CQ: 9,
  RESIZE_CQ: 10,
  DESTROY_CQ: 11,
  CREATE_QP: 12,
  MODIFY_QP: 13,
  QUERY_QP: 14,
  DESTROY_QP: 15,
  CREATE_SRQ: 16,
  MODIFY_SRQ: 17,
  DESTROY_SRQ: 18,
  CREATE_AH: 19,
  DESTROY_AH: 20,
  /** Drop dom0's cached mappings of persistent grants, before the frontend ends them. */
  RELEASE_GRANTS: 21,
  /** ibv_attach_mcast: a UD QP joins a multicast group. */
  ATTACH_MCAST: 22,
  /** ibv_detach_mcast. */
  DETACH_MCAST: 23,
  /** ibv_query_srq: the SRQ's size and the limit as the device holds it. */
  QUERY_SRQ: 24,
  /** ibv_query_gid: an entry of a port's GID table. */
  QUERY_GID: 25,
  /** ibv_query_pkey: an entry of a port's P_Key table. */
  QUERY_PKEY: 26,
  /** Split datapath: a doorbell (post send/recv/SRQ, arm CQ) executed by dom0. */
  DOORBELL: 32,
  /** Split datapath: dom0 polls a CQ and copies new CQEs into the guest's ring. */
  POLL_CQ: 33,
} as const;

/**
 * A value of {@link VibOp}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { opName, VibOp, type VibOpCode } from "./mod.ts";
 * const op: VibOpCode = VibOp.REG_MR;
 * assert.equal(opName(op), "REG_MR");
 * ```
 */
export type VibOpCode = (typeof VibOp)[keyof typeof VibOp];

/**
 * Field types of the table: integers are little-endian.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type FieldType, VIB_OP_TABLE, VibOp } from "./mod.ts";
 * const t: FieldType = "u32";
 * assert.deepEqual(VIB_OP_TABLE[VibOp.REG_MR].rsp.map((f) => f.type), [t, t, t]); // handle, lkey, rkey
 * ```
 */
export type FieldType =
  | "u8"
  | "u16"
  | "u32"
  | "u64"
  | "bool"
  /** 64-bit node GUID, carried as 16 hex digits in the API. */
  | "guid"
  /** ASCII string of up to 16 bytes, zero-padded. */
  | "str16"
  /** 16 raw bytes (a GID). */
  | "bytes16"
  /** An optional nested object: a presence bit, no bytes. */
  | "obj";

/**
 * One field: a dotted path into the message object, its type, and whether it may be absent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type FieldSpec, VIB_OP_TABLE, VibOp } from "./mod.ts";
 * const field: FieldSpec = { name: "access", type: "u32", opt: false };
 * assert.deepEqual(VIB_OP_TABLE[VibOp.REG_MR].req[2], field);
 * ```
 */
export interface FieldSpec {
  readonly name: string;
  readonly type: FieldType;
  readonly opt?: boolean;
}

/**
 * One operation: its fields each way and whether it carries a buffer's grant refs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type OpSpec, VIB_OP_TABLE, VibOp } from "./mod.ts";
 * const carriesBuffer = (s: OpSpec) => s.segs === true;
 * assert.ok(carriesBuffer(VIB_OP_TABLE[VibOp.REG_MR])); // the buffer's grant refs
 * assert.ok(!carriesBuffer(VIB_OP_TABLE[VibOp.ALLOC_PD]));
 * ```
 */
export interface OpSpec {
  readonly op: VibOpCode;
  readonly name: string;
  /** What the header's `handle` names. */
  readonly handle?: "pd" | "mr" | "cq" | "qp" | "srq" | "ah";
  readonly req: readonly FieldSpec[];
  readonly rsp: readonly FieldSpec[];
  /** Carries a buffer as grant refs (segment area after the fields). */
  readonly segs?: boolean;
  /** A datapath request: served only for a device whose datapath crosses dom0. */
  readonly datapath?: boolean;
}

/** A field spec that keeps its name, type and optionality as literal types. */
interface Field<N extends string, T extends FieldType, O extends boolean> extends FieldSpec {
  readonly name: N;
  readonly type: T;
  readonly opt: O;
}

function f<N extends string, T extends FieldType, O extends boolean = false>(
  name: N,
  type: T,
  opt?: O,
): Field<N, T, O> {
  return { name, type, opt: (opt ?? false) as O };
}

function ahFields<P extends string>(p: P) {
  return [
    f(p, "obj", true),
    f(`${p}.dlid`, "u16"),
    f(`${p}.sl`, "u8", true),
    f(`${p}.srcPathBits`, "u8", true),
    f(`${p}.staticRate`, "u8", true),
    f(`${p}.portNum`, "u8", true),
    f(`${p}.grh`, "obj", true),
    f(`${p}.grh.dgid`, "bytes16"),
    f(`${p}.grh.flowLabel`, "u32", true),
    f(`${p}.grh.sgidIndex`, "u8", true),
    f(`${p}.grh.hopLimit`, "u8", true),
    f(`${p}.grh.trafficClass`, "u8", true),
  ] as const;
}

/** `struct ibv_qp_attr` as `qp.modify` gives it and `qp.query` returns it. */
const QP_ATTR = [
  f("attr.state", "u8", true),
  f("attr.curState", "u8", true),
  f("attr.enSqdAsyncNotify", "bool", true),
  f("attr.accessFlags", "u32", true), // __u32 qp_access_flags, every bit carried (the device reads three)
  f("attr.pkeyIndex", "u16", true), // 16 bits, as struct ibv_qp_attr's pkey_index
  f("attr.port", "u8", true),
  f("attr.qkey", "u32", true),
  f("attr.pathMtu", "u16", true),
  f("attr.timeout", "u8", true),
  f("attr.retryCnt", "u8", true),
  f("attr.rnrRetry", "u8", true),
  f("attr.rqPsn", "u32", true),
  f("attr.maxRdAtomic", "u8", true),
  f("attr.minRnrTimer", "u8", true),
  f("attr.sqPsn", "u32", true),
  f("attr.maxDestRdAtomic", "u8", true),
  f("attr.pathMigState", "u8", true),
  f("attr.destQpNum", "u32", true),
  ...ahFields("attr.ah"),
  ...ahFields("attr.altPath"),
  f("attr.sqDraining", "bool", true), // query only, as ibv_qp_attr's sq_draining
] as const;

/** `struct ibv_qp_cap` as the device granted it. */
const CAP = [
  f("cap.maxSendWr", "u32"),
  f("cap.maxRecvWr", "u32"),
  f("cap.maxSendSge", "u16"),
  f("cap.maxRecvSge", "u16"),
  f("cap.maxInlineData", "u16"),
] as const;

/**
 * The opcode table: every operation's request and response fields, in
 * wire order. `docs/architecture.md` prints it with offsets
 * ({@link protocolTable}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VIB_OP_TABLE, VibOp } from "./mod.ts";
 * assert.deepEqual(VIB_OP_TABLE[VibOp.ALLOC_PD].rsp.map((x) => x.name), ["pdHandle", "pdn"]);
 * ```
 */
export const VIB_OP_TABLE = {
  [VibOp.OPEN]: {
    op: VibOp.OPEN,
    name: "OPEN",
    req: [],
    rsp: [
      f("ctx", "u16"),
      f("numCompVectors", "u8"),
      f("uarIndex", "u32"),
      f("uarAddr", "u64"),
    ],
  },
  [VibOp.CLOSE]: { op: VibOp.CLOSE, name: "CLOSE", req: [], rsp: [] },
  [VibOp.QUERY_DEVICE]: {
    op: VibOp.QUERY_DEVICE,
    name: "QUERY_DEVICE",
    req: [],
    rsp: [
      f("fwVer", "str16"),
      f("nodeGuid", "guid"),
      f("vendorId", "u32"),
      f("vendorPartId", "u16"),
      f("hwVer", "u16"),
      f("maxMrSize", "u64"),
      f("pageSizeCap", "u32"),
      f("maxQp", "u32"),
      f("maxQpWr", "u32"),
      f("deviceCapFlags", "u32"),
      f("maxSge", "u16"),
      f("maxCq", "u32"),
      f("maxCqe", "u32"),
      f("maxMr", "u32"),
      f("maxPd", "u32"),
      f("maxQpRdAtom", "u16"),
      f("maxQpInitRdAtom", "u16"),
      f("atomicCap", "u8"),
      f("maxAh", "u32"),
      f("maxSrq", "u32"),
      f("maxSrqWr", "u32"),
      f("maxSrqSge", "u16"),
      f("maxPkeys", "u16"),
      f("physPortCnt", "u8"),
      f("maxInlineData", "u16"),
      f("maxMcastGrp", "u32"),
      f("maxMcastQpAttach", "u32"),
      f("maxTotalMcastQpAttach", "u32"),
      f("maxSgeRd", "u16"),
      f("maxResRdAtom", "u32"),
      f("localCaAckDelay", "u8"),
    ],
  },
  [VibOp.QUERY_PORT]: {
    op: VibOp.QUERY_PORT,
    name: "QUERY_PORT",
    req: [f("port", "u8")],
    rsp: [
      f("state", "u8"),
      f("maxMtu", "u8"),
      f("activeMtu", "u8"),
      f("lid", "u16"),
      f("smLid", "u16"),
      f("lmc", "u8"),
      f("activeWidth", "u8"),
      f("activeSpeed", "u8"),
      f("physState", "u8"),
      f("gidTblLen", "u16"),
      f("pkeyTblLen", "u16"),
      f("maxMsgSz", "u32"),
      f("maxVlNum", "u8"),
      f("badPkeyCntr", "u16"),
      f("qkeyViolCntr", "u16"),
      f("smSl", "u8"),
      f("portCapFlags", "u32"),
      f("linkLayer", "u8"),
      f("subnetTimeout", "u8"),
      f("initTypeReply", "u8"),
    ],
  },
  [VibOp.QUERY_GID]: {
    op: VibOp.QUERY_GID,
    name: "QUERY_GID",
    req: [f("port", "u8"), f("index", "u32")],
    rsp: [f("gid", "bytes16")],
  },
  [VibOp.QUERY_PKEY]: {
    op: VibOp.QUERY_PKEY,
    name: "QUERY_PKEY",
    req: [f("port", "u8"), f("index", "u32")],
    rsp: [f("pkey", "u16")],
  },
  [VibOp.ALLOC_PD]: {
    op: VibOp.ALLOC_PD,
    name: "ALLOC_PD",
    req: [],
    rsp: [f("pdHandle", "u32"), f("pdn", "u32")],
  },
  [VibOp.DEALLOC_PD]: { op: VibOp.DEALLOC_PD, name: "DEALLOC_PD", handle: "pd", req: [], rsp: [] },
  [VibOp.REG_MR]: {
    op: VibOp.REG_MR,
    name: "REG_MR",
    handle: "pd",
    req: [f("addr", "u64"), f("length", "u64"), f("access", "u32"), f("nrPages", "u32")],
    segs: true,
    rsp: [f("mrHandle", "u32"), f("lkey", "u32"), f("rkey", "u32")],
  },
  [VibOp.DEREG_MR]: {
    op: VibOp.DEREG_MR,
    name: "DEREG_MR",
    handle: "mr",
    // Persistent grants the frontend gives back with this deregistration (as RELEASE_GRANTS);
    // absent: none.
    req: [f("nrRefs", "u32", true)],
    segs: true,
    rsp: [f("released", "u32")],
  },
  [VibOp.CREATE_CQ]: {
    op: VibOp.CREATE_CQ,
    name: "CREATE_CQ",
    req: [
      f("cqe", "u32"),
      f("logSize", "u8"),
      f("compVector", "u8"),
      f("bufAddr", "u64"),
      f("bufBytes", "u32"),
      f("nrPages", "u32"),
    ],
    segs: true,
    rsp: [f("cqHandle", "u32"), f("cqn", "u32"), f("cqe", "u32")],
  },
  [VibOp.RESIZE_CQ]: {
    op: VibOp.RESIZE_CQ,
    name: "RESIZE_CQ",
    handle: "cq",
    req: [
      f("cqe", "u32"),
      f("logSize", "u8"),
      f("bufAddr", "u64"),
      f("bufBytes", "u32"),
      f("consumerIndex", "u32"),
      f("nrPages", "u32"),
    ],
    segs: true,
    rsp: [f("cqe", "u32")],
  },
  [VibOp.DESTROY_CQ]: { op: VibOp.DESTROY_CQ, name: "DESTROY_CQ", handle: "cq", req: [], rsp: [] },
  [VibOp.CREATE_QP]: {
    op: VibOp.CREATE_QP,
    name: "CREATE_QP",
    handle: "pd",
    req: [
      f("type", "u8"),
      f("sqSigAll", "bool"),
      f("srqHandle", "u32", true),
      f("sendCqHandle", "u32"),
      f("recvCqHandle", "u32"),
      f("cap.maxSendWr", "u32"),
      f("cap.maxRecvWr", "u32"),
      f("cap.maxSendSge", "u32"),
      f("cap.maxRecvSge", "u32"),
      f("cap.maxInlineData", "u32", true),
      f("wq.bufAddr", "u64"),
      f("wq.bufBytes", "u32"),
      f("wq.sqOffset", "u32"),
      f("wq.sqSize", "u32"),
      f("wq.sqStride", "u32"),
      f("wq.rqOffset", "u32"),
      f("wq.rqSize", "u32"),
      f("wq.rqStride", "u32"),
      f("nrPages", "u32"),
    ],
    segs: true,
    rsp: [f("qpHandle", "u32"), f("qpn", "u32"), ...CAP],
  },
  [VibOp.MODIFY_QP]: {
    op: VibOp.MODIFY_QP,
    name: "MODIFY_QP",
    handle: "qp",
    req: [f("mask", "u32"), ...QP_ATTR],
    rsp: [],
  },
  [VibOp.QUERY_QP]: {
    op: VibOp.QUERY_QP,
    name: "QUERY_QP",
    handle: "qp",
    req: [],
    rsp: [...QP_ATTR, ...CAP, f("sqWqeCounter", "u32", true)],
  },
  [VibOp.DESTROY_QP]: { op: VibOp.DESTROY_QP, name: "DESTROY_QP", handle: "qp", req: [], rsp: [] },
  [VibOp.CREATE_SRQ]: {
    op: VibOp.CREATE_SRQ,
    name: "CREATE_SRQ",
    handle: "pd",
    req: [
      f("maxWr", "u32"),
      f("maxSge", "u32"),
      f("srqLimit", "u32"),
      f("bufAddr", "u64"),
      f("bufBytes", "u32"),
      f("logSize", "u8"),
      f("logStride", "u8"),
      f("nrPages", "u32"),
    ],
    segs: true,
    rsp: [f("srqHandle", "u32"), f("srqn", "u32"), f("maxWr", "u32"), f("maxSge", "u32")],
  },
  [VibOp.MODIFY_SRQ]: {
    op: VibOp.MODIFY_SRQ,
    name: "MODIFY_SRQ",
    handle: "srq",
    req: [f("srqLimit", "u32", true), f("maxWr", "u32", true)],
    rsp: [],
  },
  [VibOp.QUERY_SRQ]: {
    op: VibOp.QUERY_SRQ,
    name: "QUERY_SRQ",
    handle: "srq",
    req: [],
    rsp: [f("maxWr", "u32"), f("maxSge", "u32"), f("srqLimit", "u32")],
  },
  [VibOp.DESTROY_SRQ]: {
    op: VibOp.DESTROY_SRQ,
    name: "DESTROY_SRQ",
    handle: "srq",
    req: [],
    rsp: [],
  },
  [VibOp.CREATE_AH]: {
    op: VibOp.CREATE_AH,
    name: "CREATE_AH",
    handle: "pd",
    req: [...ahFields("attr")],
    rsp: [f("ahHandle", "u32")],
  },
  [VibOp.DESTROY_AH]: { op: VibOp.DESTROY_AH, name: "DESTROY_AH", handle: "ah", req: [], rsp: [] },
  [VibOp.RELEASE_GRANTS]: {
    op: VibOp.RELEASE_GRANTS,
    name: "RELEASE_GRANTS",
    req: [f("nrRefs", "u32")],
    segs: true,
    rsp: [f("released", "u32")],
  },
  [VibOp.ATTACH_MCAST]: {
    op: VibOp.ATTACH_MCAST,
    name: "ATTACH_MCAST",
    handle: "qp",
    req: [f("gid", "bytes16"), f("mlid", "u16")],
    rsp: [],
  },
  [VibOp.DETACH_MCAST]: {
    op: VibOp.DETACH_MCAST,
    name: "DETACH_MCAST",
    handle: "qp",
    req: [f("gid", "bytes16"), f("mlid", "u16")],
    rsp: [],
  },
  [VibOp.DOORBELL]: {
    op: VibOp.DOORBELL,
    name: "DOORBELL",
    datapath: true,
    req: [f("offset", "u8"), f("word0", "u32"), f("word1", "u32")],
    rsp: [],
  },
  [VibOp.POLL_CQ]: {
    op: VibOp.POLL_CQ,
    name: "POLL_CQ",
    datapath: true,
    req: [f("cqn", "u32"), f("consumerIndex", "u32")],
    rsp: [f("copied", "u32")],
  },
} as const satisfies Record<VibOpCode, OpSpec>;

/**
 * {@link VIB_OP_TABLE} by op code, for code that looks ops up at run time
 * (the codec, the backend's checks, the documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VIB_OPS, VibOp } from "./mod.ts";
 * assert.deepEqual(VIB_OPS.get(VibOp.ALLOC_PD)!.rsp.map((x) => x.name), ["pdHandle", "pdn"]);
 * assert.equal(VIB_OPS.get(99), undefined);
 * ```
 */
export const VIB_OPS: ReadonlyMap<number, OpSpec> = new Map(
  Object.values(VIB_OP_TABLE).map((s): [number, OpSpec] => [s.op, s]),
);

/**
 * Name of an op code (`"REG_MR"`), or `"op<n>"` for an unknown one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { opName } from "./mod.ts";
 * assert.equal(opName(7), "REG_MR");
 * assert.equal(opName(99), "op99");
 * ```
 */
export function opName(op: number): string {
  return VIB_OPS.get(op)?.name ?? `op${op}`;
}

/** The TypeScript type a field of `type` carries. */
type FieldValue<T extends FieldType> = T extends "u8" | "u16" | "u32" | "u64" ? number
  : T extends "bool" ? boolean
  : T extends "guid" | "str16" ? string
  : T extends "bytes16" ? Uint8Array
  : never;

/** The top-level key of a dotted field name (`"attr.ah.dlid"` → `"attr"`). */
type Head<N extends string> = N extends `${infer H}.${string}` ? H : N;

/** The fields below key `K`, named relative to it. */
type Under<S extends FieldSpec, K extends string> = S extends
  { readonly name: `${K}.${infer R}`; readonly type: infer T; readonly opt?: infer O }
  ? { readonly name: R; readonly type: T & FieldType; readonly opt: O }
  : never;

/** The field named exactly `K`, if the table has one (an optional object does). */
type Own<S extends FieldSpec, K extends string> = Extract<S, { readonly name: K }>;

/**
 * Whether key `K` may be absent: its own field is optional, or it has no
 * field of its own and every field below it may be absent (the codec then
 * leaves it out when none is present).
 */
type MayBeAbsent<S extends FieldSpec, K extends string> = [Own<S, K>] extends [never]
  ? AllMayBeAbsent<Under<S, K>>
  : Own<S, K>["opt"] extends true ? true
  : false;

type AllMayBeAbsent<S extends FieldSpec> = false extends
  { [K in Head<S["name"]>]: MayBeAbsent<S, K> }[Head<S["name"]>] ? false
  : true;

type ValueOf<S extends FieldSpec, K extends string> = [Own<S, K>] extends [never]
  ? Body<Under<S, K>>
  : Own<S, K>["type"] extends "obj" ? Body<Under<S, K>>
  : FieldValue<Own<S, K>["type"]>;

/** The object a list of fields describes, nested by their dotted names. */
type Body<S extends FieldSpec> =
  & { [K in Head<S["name"]> as MayBeAbsent<S, K> extends true ? never : K]: ValueOf<S, K> }
  & { [K in Head<S["name"]> as MayBeAbsent<S, K> extends true ? K : never]?: ValueOf<S, K> };

/** Flatten an intersection into one object type (for readable hovers and errors). */
type Plain<T> = T extends Uint8Array ? T : T extends object ? { [K in keyof T]: Plain<T[K]> } : T;

/** The body of a field list; an op without fields carries exactly nothing. */
type BodyOf<S extends FieldSpec> = [S] extends [never] ? Record<string, never> : Plain<Body<S>>;

// Computed once per op, so that generic code indexes a finished table.
type ReqBodies = { [O in VibOpCode]: BodyOf<(typeof VIB_OP_TABLE)[O]["req"][number]> };
type RspBodies = { [O in VibOpCode]: BodyOf<(typeof VIB_OP_TABLE)[O]["rsp"][number]> };

/**
 * The request body of `op`, as the table lays it out: what the frontend
 * encodes and the backend's handler for `op` receives.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VibOp, type VibReqBody } from "./mod.ts";
 * const reg: VibReqBody<typeof VibOp.REG_MR> = { addr: 0x10000, length: 4096, access: 1, nrPages: 1 };
 * const stray = { pdn: 1 };
 * // @ts-expect-error: ALLOC_PD's request carries no fields
 * const bad: VibReqBody<typeof VibOp.ALLOC_PD> = stray;
 * assert.equal(reg.nrPages, 1);
 * assert.ok(bad);
 * ```
 */
export type VibReqBody<O extends VibOpCode> = ReqBodies[O];

/**
 * The response body of `op` (on success), as the table lays it out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VibOp, type VibRspBody } from "./mod.ts";
 * const pd: VibRspBody<typeof VibOp.ALLOC_PD> = { pdHandle: 1, pdn: 5 };
 * const q: VibRspBody<typeof VibOp.QUERY_QP> = {
 *   cap: { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1, maxInlineData: 0 },
 * }; // `attr` may be absent: every field of it is optional
 * assert.equal(pd.pdn + q.cap.maxSendWr, 13);
 * ```
 */
export type VibRspBody<O extends VibOpCode> = RspBodies[O];
