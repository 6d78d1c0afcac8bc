/**
 * The vib op codes and the one table that says which fields each op
 * carries. Layout, codec and documentation are all derived from
 * {@link VIB_OPS}, so adding or changing an op means editing only this
 * table (as rxe keeps its opcode info in one `rxe_opcode` table).
 *
 * @module
 */

/**
 * Operation codes.
 *
 * @example
 * ```ts
 * import { VibOp } from "./mod.ts";
 * console.log(VibOp.REG_MR); // 7
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
 * import { VibOp, type VibOpCode } from "./mod.ts";
 * const op: VibOpCode = VibOp.REG_MR;
 * ```
 */
export type VibOpCode = (typeof VibOp)[keyof typeof VibOp];

/**
 * Field types of the table: integers are little-endian.
 *
 * @example
 * ```ts
 * import type { FieldType } from "./mod.ts";
 * const t: FieldType = "u32";
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
 * import type { FieldSpec } from "./mod.ts";
 * const field: FieldSpec = { name: "attr.dlid", type: "u16" };
 * ```
 */
export interface FieldSpec {
  name: string;
  type: FieldType;
  opt?: boolean;
}

/**
 * One operation: its fields each way and whether it carries a buffer's grant refs.
 *
 * @example
 * ```ts
 * import type { OpSpec } from "./mod.ts";
 * const carriesBuffer = (s: OpSpec) => s.segs === true;
 * ```
 */
export interface OpSpec {
  op: VibOpCode;
  name: string;
  /** What the header's `handle` names. */
  handle?: "pd" | "mr" | "cq" | "qp" | "srq" | "ah";
  req: FieldSpec[];
  rsp: FieldSpec[];
  /** Carries a buffer as grant refs (segment area after the fields). */
  segs?: boolean;
}

const f = (name: string, type: FieldType, opt = false): FieldSpec => ({ name, type, opt });

function ahFields(p: string): FieldSpec[] {
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
  ];
}

/** `struct ibv_qp_attr` as `qp.modify` gives it and `qp.query` returns it. */
const QP_ATTR: FieldSpec[] = [
  f("attr.state", "u8", true),
  f("attr.curState", "u8", true),
  f("attr.enSqdAsyncNotify", "bool", true),
  f("attr.accessFlags", "u8", true),
  f("attr.pkeyIndex", "u8", true),
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
];

const CAP = (opt: boolean): FieldSpec[] => [
  f("cap.maxSendWr", "u32"),
  f("cap.maxRecvWr", "u32"),
  f("cap.maxSendSge", "u16"),
  f("cap.maxRecvSge", "u16"),
  f("cap.maxInlineData", "u16", opt),
];

/**
 * The opcode table: every operation's request and response fields, in
 * wire order. `docs/architecture.md` prints it with offsets
 * ({@link protocolTable}).
 *
 * @example
 * ```ts
 * import { VIB_OPS, VibOp } from "./mod.ts";
 * console.log(VIB_OPS.get(VibOp.ALLOC_PD)!.rsp.map((x) => x.name)); // ["pdHandle", "pdn"]
 * ```
 */
export const VIB_OPS: ReadonlyMap<number, OpSpec> = new Map(
  ([
    {
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
    { op: VibOp.CLOSE, name: "CLOSE", req: [], rsp: [] },
    {
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
      ],
    },
    {
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
      ],
    },
    { op: VibOp.ALLOC_PD, name: "ALLOC_PD", req: [], rsp: [f("pdHandle", "u32"), f("pdn", "u32")] },
    { op: VibOp.DEALLOC_PD, name: "DEALLOC_PD", handle: "pd", req: [], rsp: [] },
    {
      op: VibOp.REG_MR,
      name: "REG_MR",
      handle: "pd",
      req: [f("addr", "u64"), f("length", "u64"), f("access", "u32"), f("nrPages", "u32")],
      segs: true,
      rsp: [f("mrHandle", "u32"), f("lkey", "u32"), f("rkey", "u32")],
    },
    { op: VibOp.DEREG_MR, name: "DEREG_MR", handle: "mr", req: [], rsp: [] },
    {
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
    {
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
    { op: VibOp.DESTROY_CQ, name: "DESTROY_CQ", handle: "cq", req: [], rsp: [] },
    {
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
      rsp: [f("qpHandle", "u32"), f("qpn", "u32"), ...CAP(false)],
    },
    {
      op: VibOp.MODIFY_QP,
      name: "MODIFY_QP",
      handle: "qp",
      req: [f("mask", "u32"), ...QP_ATTR],
      rsp: [],
    },
    {
      op: VibOp.QUERY_QP,
      name: "QUERY_QP",
      handle: "qp",
      req: [],
      rsp: [...QP_ATTR, ...CAP(false)],
    },
    { op: VibOp.DESTROY_QP, name: "DESTROY_QP", handle: "qp", req: [], rsp: [] },
    {
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
    {
      op: VibOp.MODIFY_SRQ,
      name: "MODIFY_SRQ",
      handle: "srq",
      req: [f("srqLimit", "u32", true), f("maxWr", "u32", true)],
      rsp: [],
    },
    { op: VibOp.DESTROY_SRQ, name: "DESTROY_SRQ", handle: "srq", req: [], rsp: [] },
    {
      op: VibOp.CREATE_AH,
      name: "CREATE_AH",
      handle: "pd",
      req: [...ahFields("attr")],
      rsp: [f("ahHandle", "u32")],
    },
    { op: VibOp.DESTROY_AH, name: "DESTROY_AH", handle: "ah", req: [], rsp: [] },
    {
      op: VibOp.DOORBELL,
      name: "DOORBELL",
      req: [f("offset", "u8"), f("word0", "u32"), f("word1", "u32")],
      rsp: [],
    },
    {
      op: VibOp.POLL_CQ,
      name: "POLL_CQ",
      req: [f("cqn", "u32"), f("consumerIndex", "u32")],
      rsp: [f("copied", "u32")],
    },
  ] as OpSpec[]).map((s) => [s.op, s]),
);

/**
 * Name of an op code (`"REG_MR"`), or `"op<n>"` for an unknown one.
 *
 * @example
 * ```ts
 * import { opName } from "./mod.ts";
 * console.log(opName(7), opName(99)); // REG_MR op99
 * ```
 */
export function opName(op: number): string {
  return VIB_OPS.get(op)?.name ?? `op${op}`;
}
