/**
 * The Xen-IB split-device protocol ("vib"): what a guest's frontend and
 * dom0's backend put in the slots of their shared request ring
 * (`ring.ts`, `io/ring.h` layout). Together with the xenbus states and the
 * xenstore keys ({@link VIB_KEYS}) this is the whole contract between the
 * two ends, as `blkif.h` is for block devices.
 *
 * Every message is a fixed-size little-endian struct in one
 * {@link VIB_SLOT_BYTES}-byte slot (16 slots in the 4 KiB ring page).
 *
 * Request (front → back):
 *
 * | offset | field |
 * | --- | --- |
 * | 0 | `u32 id` — strictly increasing per frontend; echoed in the response |
 * | 4 | `u8 op` — {@link VibOp} |
 * | 5 | `u8 flags` — {@link VIB_F_INDIRECT}: the segment refs name indirect pages |
 * | 6 | `u16 ctx` — context id (from `OPEN`), 0 for device-level ops |
 * | 8 | `u32 handle` — the object the op acts on (PD for creations) |
 * | 12 | `u16 nr_segs` — grant refs in the segment area |
 * | 14 | `u16 reserved` — must be 0 |
 * | 16 | payload: the op's fields ({@link VIB_OPS}), then the segment area (`u32` grant refs) |
 *
 * Response (back → front): `u32 id`, `u8 op`, `u8 reserved`, `i16 status`
 * (0 or `-errno`), then the op's response fields from offset 8.
 *
 * Within a payload, fields are packed in table order with no padding; a
 * message that has optional fields starts its payload with a 64-bit
 * presence map (bit i = the i-th optional field of the table is present),
 * so that `undefined` survives the trip (`qp.query()` returns exactly the
 * attributes that were set). Buffers (memory regions, CQ/QP/SRQ rings)
 * travel as one grant reference per page: in the segment area when they
 * fit ({@link segCapacity}), else the segment area holds the refs of
 * indirect pages, each a granted page of {@link REFS_PER_INDIRECT_PAGE}
 * `u32` refs (blkif's indirect descriptors).
 *
 * Encoding refuses values a field cannot hold (EINVAL, as the kernel would
 * refuse them); decoding never fails on content, only the backend's
 * validation decides what a value means.
 *
 * @module
 */

/**
 * Bytes of one ring slot (`sizeof(union vib_sring_entry)`).
 *
 * @example
 * ```ts
 * import { VIB_SLOT_BYTES } from "./vib_protocol.ts";
 * console.log(typeof VIB_SLOT_BYTES); // number
 * ```
 */
export const VIB_SLOT_BYTES = 128;
/**
 * Request header bytes.
 *
 * @example
 * ```ts
 * import { VIB_REQ_HEADER } from "./vib_protocol.ts";
 * console.log(typeof VIB_REQ_HEADER); // number
 * ```
 */
export const VIB_REQ_HEADER = 16;
/**
 * Response header bytes.
 *
 * @example
 * ```ts
 * import { VIB_RSP_HEADER } from "./vib_protocol.ts";
 * console.log(typeof VIB_RSP_HEADER); // number
 * ```
 */
export const VIB_RSP_HEADER = 8;
/**
 * Request flag: the segment refs name indirect pages.
 *
 * @example
 * ```ts
 * import { VIB_F_INDIRECT } from "./vib_protocol.ts";
 * console.log(typeof VIB_F_INDIRECT); // number
 * ```
 */
export const VIB_F_INDIRECT = 1;
/**
 * `u32` grant refs in one indirect page.
 *
 * @example
 * ```ts
 * import { REFS_PER_INDIRECT_PAGE } from "./vib_protocol.ts";
 * console.log(typeof REFS_PER_INDIRECT_PAGE); // number
 * ```
 */
export const REFS_PER_INDIRECT_PAGE = 1024;
/**
 * Pages one buffer may span (refs in at most all indirect slots): 64 MiB.
 *
 * @example
 * ```ts
 * import { VIB_MAX_PAGES } from "./vib_protocol.ts";
 * console.log(typeof VIB_MAX_PAGES); // number
 * ```
 */
export const VIB_MAX_PAGES = 16384;

/**
 * Xenstore keys of a vib device (under each end's directory).
 *
 * @example
 * ```ts
 * import { VIB_KEYS } from "./vib_protocol.ts";
 * console.log(VIB_KEYS.ringRef); // ring-ref
 * ```
 */
export const VIB_KEYS = {
  /** Frontend: grant ref of the request/response ring page. */
  ringRef: "ring-ref",
  /** Frontend: grant ref of the event ring page. */
  eventRingRef: "event-ring-ref",
  /** Frontend: its unbound event-channel port offered to the backend. */
  eventChannel: "event-channel",
  /** Backend: the physical device's name (what the guest registers its device as). */
  deviceName: "device-name",
  /** Backend: "bypass" or "split" (what the toolstack asked for). */
  mode: "mode",
} as const;

/**
 * Operation codes.
 *
 * @example
 * ```ts
 * import { VibOp } from "./vib_protocol.ts";
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
 * import { VibOp, type VibOpCode } from "./vib_protocol.ts";
 * const op: VibOpCode = VibOp.REG_MR;
 * ```
 */
export type VibOpCode = (typeof VibOp)[keyof typeof VibOp];

/**
 * Field types of the table: integers are little-endian.
 *
 * @example
 * ```ts
 * import type { FieldType } from "./vib_protocol.ts";
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

const SIZE: Record<FieldType, number> = {
  u8: 1,
  u16: 2,
  u32: 4,
  u64: 8,
  bool: 1,
  guid: 8,
  str16: 16,
  bytes16: 16,
  obj: 0,
};

const MAX: Partial<Record<FieldType, number>> = {
  u8: 0xff,
  u16: 0xffff,
  u32: 0xffffffff,
  u64: Number.MAX_SAFE_INTEGER,
};

/**
 * One field: a dotted path into the message object, its type, and whether it may be absent.
 *
 * @example
 * ```ts
 * import type { FieldSpec } from "./vib_protocol.ts";
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
 * import type { OpSpec } from "./vib_protocol.ts";
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
 * import { VIB_OPS, VibOp } from "./vib_protocol.ts";
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
 * import { opName } from "./vib_protocol.ts";
 * console.log(opName(7), opName(99)); // REG_MR op99
 * ```
 */
export function opName(op: number): string {
  return VIB_OPS.get(op)?.name ?? `op${op}`;
}

interface Placed extends FieldSpec {
  off: number;
  bit: number;
}

interface Layout {
  fields: Placed[];
  hasPresence: boolean;
  /** Byte after the last field (relative to the slot). */
  end: number;
}

function place(specs: FieldSpec[], start: number): Layout {
  const hasPresence = specs.some((s) => s.opt);
  let off = start + (hasPresence ? 8 : 0);
  let bit = 0;
  const fields = specs.map((s) => {
    const p: Placed = { ...s, off, bit: s.opt ? bit++ : -1 };
    off += SIZE[s.type];
    return p;
  });
  if (bit > 64) throw new Error("vib protocol: more than 64 optional fields in one message");
  return { fields, hasPresence, end: off };
}

const REQ_LAYOUT = new Map<number, Layout>();
const RSP_LAYOUT = new Map<number, Layout>();
for (const [op, s] of VIB_OPS) {
  const req = place(s.req, VIB_REQ_HEADER);
  const rsp = place(s.rsp, VIB_RSP_HEADER);
  if (req.end > VIB_SLOT_BYTES || rsp.end > VIB_SLOT_BYTES) {
    throw new Error(`vib protocol: ${s.name} does not fit a ${VIB_SLOT_BYTES}-byte slot`);
  }
  REQ_LAYOUT.set(op, req);
  RSP_LAYOUT.set(op, rsp);
}

/** Offset of an op's segment area (4-byte aligned, after its fields). */
function segStart(op: number): number {
  return (REQ_LAYOUT.get(op)!.end + 3) & ~3;
}

/**
 * Grant refs that fit in `op`'s segment area (0 for ops without one).
 *
 * @example
 * ```ts
 * import { segCapacity, VibOp } from "./vib_protocol.ts";
 * console.log(segCapacity(VibOp.REG_MR)); // 22
 * ```
 */
export function segCapacity(op: number): number {
  const s = VIB_OPS.get(op);
  if (!s?.segs) return 0;
  return Math.floor((VIB_SLOT_BYTES - segStart(op)) / 4);
}

/**
 * A request as the two ends see it: the header, the op's fields (nested
 * plain objects, keys as in the table) and the segment refs.
 *
 * @example
 * ```ts
 * import { VibOp, type VibRequest } from "./vib_protocol.ts";
 * const req: VibRequest = { id: 1, op: VibOp.ALLOC_PD, flags: 0, ctx: 1, handle: 0, body: {}, segs: [] };
 * ```
 */
export interface VibRequest {
  id: number;
  op: number;
  flags: number;
  ctx: number;
  handle: number;
  /** Op fields (nested). */
  body: Record<string, unknown>;
  /** Grant refs of the segment area (`nr_segs` of them). */
  segs: number[];
  /** Header bytes 14..15 (must be 0; the backend refuses anything else). */
  reserved?: number;
  /** As decoded: the header's `nr_segs` before clamping to the slot (the backend checks it). */
  nrSegsRaw?: number;
}

/**
 * A response: header and the op's response fields.
 *
 * @example
 * ```ts
 * import { VibOp, type VibResponse } from "./vib_protocol.ts";
 * const refused: VibResponse = { id: 1, op: VibOp.ALLOC_PD, status: -22, body: {} };
 * ```
 */
export interface VibResponse {
  id: number;
  op: number;
  /** 0 or `-errno`. */
  status: number;
  body: Record<string, unknown>;
}

/**
 * A value the table cannot carry (the sender refuses it: EINVAL).
 *
 * @example
 * ```ts
 * import { VibEncodeError } from "./vib_protocol.ts";
 * console.log(new VibEncodeError("attr.port: 300 does not fit u8").name); // VibEncodeError
 * ```
 */
export class VibEncodeError extends Error {
  /** @param message which field and why */
  constructor(message: string) {
    super(message);
    this.name = "VibEncodeError";
  }
}

function getPath(o: Record<string, unknown>, path: string): unknown {
  let v: unknown = o;
  for (const k of path.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function setPath(o: Record<string, unknown>, path: string, value: unknown): void {
  const ks = path.split(".");
  let t = o;
  for (const k of ks.slice(0, -1)) {
    if (typeof t[k] !== "object" || t[k] === null) t[k] = {};
    t = t[k] as Record<string, unknown>;
  }
  t[ks[ks.length - 1]] = value;
}

/** True if `path` lies inside one of the absent optional objects. */
function hidden(absent: string[], path: string): boolean {
  return absent.some((a) => path.startsWith(`${a}.`));
}

function writeField(dv: DataView, p: Placed, v: unknown): void {
  const bad = (why: string) => new VibEncodeError(`${p.name}: ${why}`);
  switch (p.type) {
    case "u8":
    case "u16":
    case "u32":
    case "u64": {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX[p.type]!) {
        throw bad(`${String(v)} does not fit ${p.type}`);
      }
      if (p.type === "u8") dv.setUint8(p.off, v);
      else if (p.type === "u16") dv.setUint16(p.off, v, true);
      else if (p.type === "u32") dv.setUint32(p.off, v, true);
      else {
        dv.setUint32(p.off, v % 2 ** 32, true);
        dv.setUint32(p.off + 4, Math.floor(v / 2 ** 32), true);
      }
      return;
    }
    case "bool":
      dv.setUint8(p.off, v ? 1 : 0);
      return;
    case "guid": {
      if (typeof v !== "string" || !/^[0-9a-fA-F]{16}$/.test(v)) throw bad("not 16 hex digits");
      dv.setBigUint64(p.off, BigInt(`0x${v}`), true);
      return;
    }
    case "str16": {
      const b = new TextEncoder().encode(String(v ?? ""));
      if (b.length > 16) throw bad("longer than 16 bytes");
      for (let i = 0; i < 16; i++) dv.setUint8(p.off + i, b[i] ?? 0);
      return;
    }
    case "bytes16": {
      if (!(v instanceof Uint8Array) || v.length !== 16) throw bad("must be 16 bytes");
      for (let i = 0; i < 16; i++) dv.setUint8(p.off + i, v[i]);
      return;
    }
    case "obj":
      return;
  }
}

function readField(dv: DataView, p: Placed): unknown {
  switch (p.type) {
    case "u8":
      return dv.getUint8(p.off);
    case "u16":
      return dv.getUint16(p.off, true);
    case "u32":
      return dv.getUint32(p.off, true);
    case "u64":
      return dv.getUint32(p.off, true) + dv.getUint32(p.off + 4, true) * 2 ** 32;
    case "bool":
      return dv.getUint8(p.off) !== 0;
    case "guid":
      return dv.getBigUint64(p.off, true).toString(16).padStart(16, "0");
    case "str16": {
      const b = new Uint8Array(dv.buffer, dv.byteOffset + p.off, 16);
      const end = b.indexOf(0);
      return new TextDecoder().decode(b.subarray(0, end < 0 ? 16 : end));
    }
    case "bytes16":
      return new Uint8Array(dv.buffer, dv.byteOffset + p.off, 16).slice();
    case "obj":
      return {};
  }
}

function encodeBody(dv: DataView, l: Layout, body: Record<string, unknown>): void {
  let lo = 0, hi = 0;
  const absent: string[] = [];
  for (const p of l.fields) {
    if (hidden(absent, p.name)) continue;
    const v = getPath(body, p.name);
    if (p.opt && v === undefined) {
      if (p.type === "obj") absent.push(p.name);
      continue;
    }
    if (p.type === "obj" && (v === null || typeof v !== "object")) {
      throw new VibEncodeError(`${p.name}: not an object`);
    }
    if (p.opt) {
      if (p.bit < 32) lo |= 1 << p.bit;
      else hi |= 1 << (p.bit - 32);
    }
    writeField(dv, p, v);
  }
  if (l.hasPresence) {
    const base = l.fields[0].off - 8;
    dv.setUint32(base, lo >>> 0, true);
    dv.setUint32(base + 4, hi >>> 0, true);
  }
}

function decodeBody(dv: DataView, l: Layout): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let lo = 0, hi = 0;
  if (l.hasPresence) {
    const base = l.fields[0].off - 8;
    lo = dv.getUint32(base, true);
    hi = dv.getUint32(base + 4, true);
  }
  const absent: string[] = [];
  for (const p of l.fields) {
    if (hidden(absent, p.name)) continue;
    if (p.opt) {
      const on = p.bit < 32 ? (lo >>> p.bit) & 1 : (hi >>> (p.bit - 32)) & 1;
      if (!on) {
        if (p.type === "obj") absent.push(p.name);
        continue;
      }
    }
    setPath(out, p.name, readField(dv, p));
  }
  return out;
}

/**
 * Write `req` into a slot (`out` views exactly {@link VIB_SLOT_BYTES} bytes).
 * @throws VibEncodeError for a value that does not fit, or too many segments
 *
 * @example
 * ```ts
 * import { decodeRequest, encodeRequest, VIB_SLOT_BYTES, VibOp } from "./vib_protocol.ts";
 * const slot = new DataView(new ArrayBuffer(VIB_SLOT_BYTES));
 * encodeRequest({ id: 1, op: VibOp.QUERY_PORT, flags: 0, ctx: 1, handle: 0, body: { port: 1 }, segs: [] }, slot);
 * console.log(decodeRequest(slot).body); // { port: 1 }
 * ```
 */
export function encodeRequest(req: VibRequest, out: DataView): void {
  // An op outside the table still gets its header (a hostile or newer frontend may send one).
  const l = REQ_LAYOUT.get(req.op);
  new Uint8Array(out.buffer, out.byteOffset, VIB_SLOT_BYTES).fill(0);
  out.setUint32(0, req.id >>> 0, true);
  out.setUint8(4, req.op);
  out.setUint8(5, req.flags & 0xff);
  out.setUint16(6, req.ctx & 0xffff, true);
  out.setUint32(8, req.handle >>> 0, true);
  out.setUint16(12, req.segs.length, true);
  out.setUint16(14, (req.reserved ?? 0) & 0xffff, true);
  if (l) encodeBody(out, l, req.body);
  if (req.segs.length > segCapacity(req.op)) {
    throw new VibEncodeError(`${opName(req.op)}: ${req.segs.length} segments do not fit`);
  }
  if (req.segs.length === 0) return;
  const s = segStart(req.op);
  req.segs.forEach((r, i) => out.setUint32(s + 4 * i, r >>> 0, true));
}

/**
 * Read a request from a private copy of its slot. Unknown ops decode with
 * an empty body; the segment refs are clamped to what the slot can hold,
 * and `nrSegsRaw` keeps the header's count for the backend to check.
 *
 * @example
 * ```ts
 * import { decodeRequest, VIB_SLOT_BYTES } from "./vib_protocol.ts";
 * const slot = new DataView(new ArrayBuffer(VIB_SLOT_BYTES));
 * slot.setUint8(4, 99);
 * console.log(decodeRequest(slot).op); // 99
 * ```
 */
export function decodeRequest(inp: DataView): VibRequest {
  const op = inp.getUint8(4);
  const l = REQ_LAYOUT.get(op);
  const nrSegsRaw = inp.getUint16(12, true);
  const segs: number[] = [];
  if (l) {
    const s = segStart(op);
    const n = Math.min(nrSegsRaw, segCapacity(op));
    for (let i = 0; i < n; i++) segs.push(inp.getUint32(s + 4 * i, true));
  }
  return {
    id: inp.getUint32(0, true),
    op,
    flags: inp.getUint8(5),
    ctx: inp.getUint16(6, true),
    handle: inp.getUint32(8, true),
    reserved: inp.getUint16(14, true),
    nrSegsRaw,
    body: l ? decodeBody(inp, l) : {},
    segs,
  };
}

/**
 * Write a response into a slot. A response whose body does not fit its
 * table (it should always fit) is sent as `-EIO` with an empty body.
 *
 * @example
 * ```ts
 * import { decodeResponse, encodeResponse, VIB_SLOT_BYTES, VibOp } from "./vib_protocol.ts";
 * const slot = new DataView(new ArrayBuffer(VIB_SLOT_BYTES));
 * encodeResponse({ id: 5, op: VibOp.ALLOC_PD, status: 0, body: { pdHandle: 1, pdn: 3 } }, slot);
 * console.log(decodeResponse(slot).body); // { pdHandle: 1, pdn: 3 }
 * ```
 */
export function encodeResponse(rsp: VibResponse, out: DataView): void {
  new Uint8Array(out.buffer, out.byteOffset, VIB_SLOT_BYTES).fill(0);
  out.setUint32(0, rsp.id >>> 0, true);
  out.setUint8(4, rsp.op & 0xff);
  let status = rsp.status;
  const l = RSP_LAYOUT.get(rsp.op);
  if (status === 0 && l) {
    try {
      encodeBody(out, l, rsp.body);
    } catch {
      new Uint8Array(out.buffer, out.byteOffset + VIB_RSP_HEADER, VIB_SLOT_BYTES - VIB_RSP_HEADER)
        .fill(0);
      status = -5;
    }
  }
  out.setInt16(6, status, true);
}

/**
 * Read a response from a private copy of its slot (a body only on success).
 *
 * @example
 * ```ts
 * import { decodeResponse, encodeResponse, VIB_SLOT_BYTES, VibOp } from "./vib_protocol.ts";
 * const slot = new DataView(new ArrayBuffer(VIB_SLOT_BYTES));
 * encodeResponse({ id: 5, op: VibOp.ALLOC_PD, status: -22, body: {} }, slot);
 * console.log(decodeResponse(slot).status); // -22
 * ```
 */
export function decodeResponse(inp: DataView): VibResponse {
  const op = inp.getUint8(4);
  const status = inp.getInt16(6, true);
  const l = RSP_LAYOUT.get(op);
  return {
    id: inp.getUint32(0, true),
    op,
    status,
    body: status === 0 && l ? decodeBody(inp, l) : {},
  };
}

/**
 * The slot codecs for `FrontRing`/`BackRing` (`ring.ts`).
 *
 * @example
 * ```ts
 * import { FrontRing } from "./ring.ts";
 * import { vibRingOptions } from "./vib_protocol.ts";
 * const front = FrontRing.init(new Uint8Array(4096), vibRingOptions());
 * console.log(front.size); // 16
 * ```
 */
export function vibRingOptions() {
  return {
    request: {
      size: VIB_SLOT_BYTES,
      encode: (v: VibRequest, out: DataView) => encodeRequest(v, out),
      decode: (inp: DataView) => decodeRequest(inp),
    },
    response: {
      size: VIB_SLOT_BYTES,
      encode: (v: VibResponse, out: DataView) => encodeResponse(v, out),
      decode: (inp: DataView) => decodeResponse(inp),
    },
  };
}

/**
 * One row of {@link protocolTable}.
 *
 * @example
 * ```ts
 * import { protocolTable, type ProtocolRow } from "./vib_protocol.ts";
 * const rows: ProtocolRow[] = protocolTable().filter((r) => r.name === "REG_MR");
 * ```
 */
export interface ProtocolRow {
  op: number;
  name: string;
  handle: string;
  dir: "req" | "rsp";
  field: string;
  type: FieldType;
  offset: number;
  optional: boolean;
}

/**
 * The opcode table with offsets, for documentation and tests.
 *
 * @example
 * ```ts
 * import { protocolTable } from "./vib_protocol.ts";
 * const row = protocolTable().find((r) => r.name === "REG_MR" && r.field === "addr")!;
 * console.log(row.offset, row.type); // 16 u64
 * ```
 */
export function protocolTable(): ProtocolRow[] {
  const rows: ProtocolRow[] = [];
  for (const [op, s] of VIB_OPS) {
    for (const [dir, l] of [["req", REQ_LAYOUT.get(op)!], ["rsp", RSP_LAYOUT.get(op)!]] as const) {
      for (const p of l.fields) {
        rows.push({
          op,
          name: s.name,
          handle: s.handle ?? "",
          dir,
          field: p.name,
          type: p.type,
          offset: p.off,
          optional: !!p.opt,
        });
      }
    }
    if (s.segs) {
      rows.push({
        op,
        name: s.name,
        handle: s.handle ?? "",
        dir: "req",
        field: `segs[${segCapacity(op)}]`,
        type: "u32",
        offset: segStart(op),
        optional: false,
      });
    }
  }
  return rows;
}
