/**
 * Work queue entry formats (FORMATS.md §5–§6): what the user-level provider
 * writes into a send or receive queue and what the device fetches by DMA.
 * Big-endian, 16-byte segments, fixed stride per queue.
 *
 * Encoders write into a caller's buffer (the provider keeps one scratch
 * buffer per queue); the decoder is the device's WQE parser and reports a
 * malformed WQE as a reason string instead of throwing, because the bytes
 * come from an untrusted user.
 *
 * @module
 */

/**
 * WQE opcodes in the control segment (Mellanox numbering).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WqeOpcode } from "./wqe.ts";
 * const needsRemoteAddress = (op: number) => op !== WqeOpcode.SEND && op !== WqeOpcode.SEND_IMM;
 * assert.equal(needsRemoteAddress(WqeOpcode.RDMA_READ), true);
 * ```
 */
export const WqeOpcode = {
  RDMA_WRITE: 0x08,
  RDMA_WRITE_IMM: 0x09,
  SEND: 0x0a,
  SEND_IMM: 0x0b,
  RDMA_READ: 0x10,
  ATOMIC_CS: 0x11,
  ATOMIC_FA: 0x12,
} as const;
/** A value of {@link WqeOpcode}. */
export type WqeOpcode = (typeof WqeOpcode)[keyof typeof WqeOpcode];

/**
 * Control segment flags.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSendWqe, WqeFlags, WqeOpcode } from "./wqe.ts";
 * const b = new Uint8Array(64);
 * encodeSendWqe({ opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED | WqeFlags.SOLICITED, inline: new Uint8Array(4) }, b);
 * assert.equal(b[1], 11); // SIGNALED | SOLICITED | INLINE (set by the encoder)
 * ```
 */
export const WqeFlags = {
  /** Write a CQE when the WQE completes successfully. */
  SIGNALED: 1,
  /** Set the solicited event bit on the last packet. */
  SOLICITED: 2,
  /** Wait for outstanding RDMA READs/atomics before starting (IBTA §10.8.3.3). */
  FENCE: 4,
  /** Data is one inline segment instead of a gather list. */
  INLINE: 8,
} as const;

/**
 * Bytes of one segment unit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SEG_BYTES, sendWqeSize, WqeOpcode } from "./wqe.ts";
 * const w = { opcode: WqeOpcode.SEND, flags: 0, sgl: [{ addr: 0, length: 8, lkey: 256 }, { addr: 64, length: 8, lkey: 256 }] };
 * assert.equal(sendWqeSize(w) / SEG_BYTES, 3); // control + two data segments
 * ```
 */
export const SEG_BYTES = 16;
/**
 * Byte of a send WQE's control segment holding its own size (`ds`, in 16-byte units).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSendWqe, SEG_BYTES, WQE_SIZE_OFFSET, WqeOpcode } from "./wqe.ts";
 * const slot = new Uint8Array(64);
 * const n = encodeSendWqe({ opcode: WqeOpcode.SEND, flags: 0, inline: new Uint8Array(8) }, slot);
 * assert.equal(slot[WQE_SIZE_OFFSET] * SEG_BYTES, n); // control + inline segment: 32 bytes
 * ```
 */
export const WQE_SIZE_OFFSET = 2;

/**
 * Byte of a send WQE's control segment that links it to the next WQE: the
 * next WQE's size in 16-byte units (0 until the provider posts one). The
 * provider writes it when it posts the next WQE, before ringing the
 * doorbell, as libmthca writes the previous WQE's `ee_nds` (`MTHCA_NEXT_DBD |
 * size`) in `mthca_tavor_post_send`. The device follows it to fetch the
 * WQEs after the first of one doorbell (the doorbell names only the first's
 * size); every WQE is fetched by its actual size, never by the whole slot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSendWqe, WQE_NEXT_SIZE_OFFSET, WqeOpcode } from "./wqe.ts";
 * const slot = new Uint8Array(64);
 * encodeSendWqe({ opcode: WqeOpcode.SEND, flags: 0, inline: new Uint8Array(8) }, slot);
 * assert.equal(slot[WQE_NEXT_SIZE_OFFSET], 0); // no next WQE yet
 * slot[WQE_NEXT_SIZE_OFFSET] = 3; // the provider posted a 48-byte WQE after it
 * ```
 */
export const WQE_NEXT_SIZE_OFFSET = 3;

/**
 * Queue strides the device accepts (FORMATS.md §5–6): a send WQE takes 64 to
 * 1024 bytes, a receive WQE 16 to 1024, each a power of two.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RQ_STRIDE_MIN, SEG_BYTES, SQ_STRIDE_MAX, SQ_STRIDE_MIN } from "./wqe.ts";
 * assert.equal(RQ_STRIDE_MIN, SEG_BYTES); // room for one scatter entry
 * assert.deepEqual([SQ_STRIDE_MIN, SQ_STRIDE_MAX], [64, 1024]);
 * ```
 */
export const SQ_STRIDE_MIN = 64;
/** Largest send WQE stride. */
export const SQ_STRIDE_MAX = 1024;
/** Smallest receive WQE stride (one data segment). */
export const RQ_STRIDE_MIN = 16;
/** Largest receive WQE stride. */
export const RQ_STRIDE_MAX = 1024;
/**
 * Bytes of the UD address segment.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sendWqeSize, UD_SEG_BYTES, WqeOpcode } from "./wqe.ts";
 * const ud = { dlid: 3, remoteQpn: 0x48, qkey: 0x11 };
 * assert.equal(sendWqeSize({ opcode: WqeOpcode.SEND, flags: 0, ud, sgl: [] }), 16 + UD_SEG_BYTES);
 * ```
 */
export const UD_SEG_BYTES = 48;
/**
 * An lkey that ends a receive scatter list (MPT index 0 is reserved).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRecvWqe, encodeRecvWqe, INVALID_LKEY } from "./wqe.ts";
 * const b = new Uint8Array(64);
 * encodeRecvWqe([{ addr: 0x1000, length: 64, lkey: 0x100 }], b);
 * assert.deepEqual([new DataView(b.buffer).getUint32(20) === INVALID_LKEY, decodeRecvWqe(b).length], [true, 1]);
 * ```
 */
export const INVALID_LKEY = 0;
/**
 * Marks a data segment as inline (bit 31 of its byte count).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSendWqe, INLINE_BIT, WqeOpcode } from "./wqe.ts";
 * const b = new Uint8Array(64);
 * encodeSendWqe({ opcode: WqeOpcode.RDMA_WRITE, flags: 0, remoteAddr: 0, rkey: 1, inline: new Uint8Array(5) }, b);
 * const word = new DataView(b.buffer).getUint32(32);
 * assert.deepEqual([(word & INLINE_BIT) !== 0, word & ~INLINE_BIT], [true, 5]);
 * ```
 */
export const INLINE_BIT = 0x80000000;

/**
 * One gather/scatter entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DataSeg } from "./wqe.ts";
 * const total = (sgl: DataSeg[]) => sgl.reduce((n, s) => n + s.length, 0);
 * assert.equal(total([{ addr: 0, length: 100, lkey: 0x100 }, { addr: 4096, length: 28, lkey: 0x100 }]), 128);
 * ```
 */
export interface DataSeg {
  /** Virtual address (in the region's address space). */
  addr: number;
  /** Bytes. */
  length: number;
  /** Local key of the region. */
  lkey: number;
}

/**
 * Q_Key bit 31 in a UD address: send with the QP's own Q_Key instead (IBTA
 * vol 1 §3.5.3; such "controlled" Q_Keys cannot be given in a WR).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QKEY_USE_QP } from "./wqe.ts";
 * assert.equal(QKEY_USE_QP, 2 ** 31);
 * ```
 */
export const QKEY_USE_QP = 0x80000000;

/**
 * Destination of a UD send (the address segment).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QKEY_USE_QP, type UdAddress } from "./wqe.ts";
 * // Bit 31 of the Q_Key: "use my QP's own Q_Key" (IBTA vol 1 §3.5.3).
 * const to: UdAddress = { dlid: 5, remoteQpn: 0x90, qkey: QKEY_USE_QP };
 * assert.equal((to.qkey & QKEY_USE_QP) !== 0, true);
 * ```
 */
export interface UdAddress {
  /** Port (0 = the QP's port). */
  port?: number;
  /** Destination LID. */
  dlid: number;
  /** Service level. */
  sl?: number;
  /** Source path bits. */
  srcPathBits?: number;
  /** Static rate (0 = full). */
  staticRate?: number;
  /** GRH fields, when the destination is routed by GID. */
  grh?: {
    dgid: Uint8Array;
    sgidIndex?: number;
    flowLabel?: number;
    hopLimit?: number;
    trafficClass?: number;
  };
  /** Destination QPN. */
  remoteQpn: number;
  /** Q_Key; bit 31 set means "use the QP's Q_Key" (IBTA §10.2.5). */
  qkey: number;
  /**
   * The PD of the address handle the WQE was built from (as mthca's WQE
   * names the AV by a key of the AH's PD); the device refuses an AV of
   * another PD than the QP's. Absent: not checked.
   */
  avPd?: number;
}

/** UD address segment flags (byte 1): a GRH follows; the AV names its PD (`avPd`, u32 @40). */
const UD_FLAG_GRH = 0x80, UD_FLAG_AV_PD = 0x40;

/**
 * A send WQE as the provider describes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSendWqe, type SendWqe, WqeFlags, WqeOpcode } from "./wqe.ts";
 * const faa: SendWqe = {
 *   opcode: WqeOpcode.ATOMIC_FA, flags: WqeFlags.SIGNALED, remoteAddr: 0x2000, rkey: 0x301,
 *   swapAdd: 1n, sgl: [{ addr: 0x5000, length: 8, lkey: 0x200 }],
 * };
 * assert.equal(encodeSendWqe(faa, new Uint8Array(64)), 64); // bytes written
 * ```
 */
export interface SendWqe {
  /** WqeOpcode. */
  opcode: WqeOpcode;
  /** {@link WqeFlags} bits (INLINE is set by the encoder when `inline` is given). */
  flags: number;
  /** Immediate data (SEND_IMM, RDMA_WRITE_IMM), 32 bits as sent. */
  imm?: number;
  /** RDMA/atomic target. */
  remoteAddr?: number | bigint;
  /** Remote key of the request. */
  rkey?: number;
  /** Atomic operands. */
  swapAdd?: bigint;
  /** Compare operand (CMP_AND_SWP). */
  compare?: bigint;
  /** UD QPs only. */
  ud?: UdAddress;
  /** Gather list (ignored when `inline` is given). */
  sgl?: readonly DataSeg[];
  /** Inline payload. */
  inline?: Uint8Array;
}

// Big-endian field access straight on the bytes: a WQE is encoded and
// parsed once per message, and a DataView (or a BigInt per 64-bit field)
// per WQE was most of what that cost.

function putU32(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}

function getU32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

const TWO_32 = 4294967296;

/**
 * A 64-bit field: as `setBigUint64(p, BigInt(n))` would
 * write it (negative values wrap, a non-integer throws), without the BigInt
 * for the common case of a non-negative safe integer.
 */
function putU64(b: Uint8Array, p: number, n: number | bigint): void {
  if (typeof n === "number" && n >= 0 && n <= Number.MAX_SAFE_INTEGER && Number.isInteger(n)) {
    putU32(b, p, Math.floor(n / TWO_32));
    putU32(b, p + 4, n >>> 0);
    return;
  }
  new DataView(b.buffer, b.byteOffset, b.length).setBigUint64(p, BigInt.asUintN(64, BigInt(n)));
}

/**
 * A 64-bit field as a number, equal to `Number(getBigUint64(p))`: both are
 * the exact value rounded once to the nearest double.
 */
function getU64(b: Uint8Array, p: number): number {
  return getU32(b, p) * TWO_32 + getU32(b, p + 4);
}

function dataView(b: Uint8Array, off: number, len: number): DataView {
  return new DataView(b.buffer, b.byteOffset + off, len);
}

function needsRaddr(op: number): boolean {
  return op === WqeOpcode.RDMA_WRITE || op === WqeOpcode.RDMA_WRITE_IMM ||
    op === WqeOpcode.RDMA_READ || op === WqeOpcode.ATOMIC_CS || op === WqeOpcode.ATOMIC_FA;
}

function isAtomic(op: number): boolean {
  return op === WqeOpcode.ATOMIC_CS || op === WqeOpcode.ATOMIC_FA;
}

/**
 * Bytes a send WQE occupies (a multiple of 16); compare with the stride.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sendWqeSize, WqeOpcode } from "./wqe.ts";
 * assert.equal(sendWqeSize({ opcode: WqeOpcode.RDMA_WRITE, flags: 0, sgl: [{ addr: 0, length: 8, lkey: 256 }] }), 48);
 * ```
 */
export function sendWqeSize(w: SendWqe): number {
  let n = SEG_BYTES;
  if (needsRaddr(w.opcode)) n += SEG_BYTES;
  if (isAtomic(w.opcode)) n += SEG_BYTES;
  if (w.ud) n += UD_SEG_BYTES;
  if (w.inline) n += (4 + w.inline.length + 15) & ~15;
  else n += SEG_BYTES * (w.sgl?.length ?? 0);
  return n;
}

/**
 * Encode a send WQE at `out[off..]`; returns the bytes written (a multiple
 * of 16). Bytes after that up to the stride are left as they are.
 * @throws RangeError if it does not fit in `out` (a provider bug)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeSendWqe, decodeSendWqe, WqeOpcode, WqeFlags } from "./wqe.ts";
 * const buf = new Uint8Array(64);
 * encodeSendWqe({ opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, sgl: [{ addr: 4096, length: 8, lkey: 0x100 }] }, buf);
 * const d = decodeSendWqe(buf, false);
 * assert.equal(typeof d === "string" ? d : d.sgl[0].addr, 4096);
 * ```
 */
export function encodeSendWqe(w: SendWqe, out: Uint8Array, off = 0): number {
  const size = sendWqeSize(w);
  if (off + size > out.length) {
    throw new RangeError(`encodeSendWqe: WQE of ${size} bytes does not fit (stride too small)`);
  }
  out.fill(0, off, off + size);
  let flags = w.flags & 0x07;
  if (w.inline) flags |= WqeFlags.INLINE;
  out[off] = w.opcode;
  out[off + 1] = flags;
  out[off + WQE_SIZE_OFFSET] = size / SEG_BYTES;
  putU32(out, off + 4, (w.imm ?? 0) >>> 0);
  let p = off + SEG_BYTES;
  if (needsRaddr(w.opcode)) {
    putU64(out, p, w.remoteAddr ?? 0);
    putU32(out, p + 8, (w.rkey ?? 0) >>> 0);
    p += SEG_BYTES;
  }
  if (isAtomic(w.opcode)) {
    const dv = dataView(out, p, SEG_BYTES);
    dv.setBigUint64(0, BigInt.asUintN(64, w.swapAdd ?? 0n));
    dv.setBigUint64(8, BigInt.asUintN(64, w.compare ?? 0n));
    p += SEG_BYTES;
  }
  if (w.ud) {
    const u = w.ud;
    const dv = dataView(out, p, UD_SEG_BYTES);
    dv.setUint8(0, u.port ?? 0);
    dv.setUint8(1, (u.grh ? UD_FLAG_GRH : 0) | (u.avPd !== undefined ? UD_FLAG_AV_PD : 0));
    dv.setUint16(2, u.dlid);
    dv.setUint8(4, (u.sl ?? 0) << 4);
    dv.setUint8(5, u.srcPathBits ?? 0);
    dv.setUint8(6, u.staticRate ?? 0);
    if (u.grh) {
      // An AV's hop limit is the AH's as given, a zeroed AV's 0 when none is (libmthca's
      // mthca_alloc_av and the kernel's mthca_create_ah zero the AV and copy grh.hop_limit).
      dv.setUint8(7, u.grh.hopLimit ?? 0);
      dv.setUint32(
        8,
        (((u.grh.trafficClass ?? 0) & 0xff) << 20 | ((u.grh.flowLabel ?? 0) & 0xfffff)) >>> 0,
      );
      dv.setUint8(12, u.grh.sgidIndex ?? 0);
      out.set(u.grh.dgid.subarray(0, 16), p + 16);
    }
    dv.setUint32(32, u.remoteQpn & 0xffffff);
    dv.setUint32(36, u.qkey >>> 0);
    if (u.avPd !== undefined) dv.setUint32(40, u.avPd >>> 0);
    p += UD_SEG_BYTES;
  }
  if (w.inline) {
    putU32(out, p, (INLINE_BIT | w.inline.length) >>> 0);
    out.set(w.inline, p + 4);
  } else {
    const sgl = w.sgl;
    if (sgl) {
      for (let i = 0; i < sgl.length; i++) {
        const s = sgl[i];
        putU32(out, p, s.length >>> 0);
        putU32(out, p + 4, s.lkey >>> 0);
        putU64(out, p + 8, s.addr);
        p += SEG_BYTES;
      }
    }
  }
  return size;
}

/**
 * A send WQE as the device parsed it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSendWqe, encodeSendWqe, type ParsedSendWqe, WqeOpcode } from "./wqe.ts";
 * const b = new Uint8Array(64);
 * encodeSendWqe({ opcode: WqeOpcode.SEND_IMM, flags: 0, imm: 7, sgl: [{ addr: 0, length: 300, lkey: 0x100 }] }, b);
 * const p = decodeSendWqe(b, false) as ParsedSendWqe;
 * assert.deepEqual([p.imm, p.length], [7, 300]);
 * ```
 */
export interface ParsedSendWqe {
  /** WqeOpcode. */
  opcode: number;
  /** WqeFlags bits. */
  flags: number;
  /** Immediate data as sent. */
  imm: number;
  /** Remote virtual address (RDMA, atomics). */
  remoteAddr: number;
  /** Remote key of the request. */
  rkey: number;
  /** Swap (CMP_AND_SWP) or add (FETCH_AND_ADD) operand. */
  swapAdd: bigint;
  /** Compare operand (CMP_AND_SWP). */
  compare: bigint;
  /** UD address segment (UD QPs). */
  ud: UdAddress | undefined;
  /** Gather list (empty entries dropped); empty when inline. */
  sgl: DataSeg[];
  /** Inline payload (a copy), or undefined. */
  inline: Uint8Array | undefined;
  /** Total message length (sum of the gather list or the inline bytes). */
  length: number;
}

const VALID_OPCODES = new Set<number>(Object.values(WqeOpcode));
/**
 * The gather list of a device-side send WQE without entries (inline data, zero length, or not
 * parsed yet): one frozen array shared by all of them, never written (a parse that finds an
 * entry replaces it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NO_SGL } from "./wqe.ts";
 * assert.deepEqual([NO_SGL.length, Object.isFrozen(NO_SGL)], [0, true]);
 * ```
 */
export const NO_SGL: DataSeg[] = Object.freeze([]) as unknown as DataSeg[];

/**
 * Parse a send WQE (the device side). `ud` says whether the QP is UD (then
 * the address segment follows the control segment). Returns a reason string
 * for a malformed WQE (→ `LOC_QP_OP_ERR`). With `into`, the fields are
 * written into that record and it is returned (the device keeps one record
 * per fetched WQE instead of two; a WQE without gather entries then shares
 * one frozen empty list); on a malformed WQE its fields are left half-set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeSendWqe } from "./wqe.ts";
 * assert.equal(decodeSendWqe(new Uint8Array(64).fill(0xff), false), "unknown WQE opcode 0xff");
 * ```
 */
export function decodeSendWqe(
  b: Uint8Array,
  ud: boolean,
  maxSge = 30,
  into?: ParsedSendWqe,
): ParsedSendWqe | string {
  if (b.length < SEG_BYTES) return "WQE shorter than a control segment";
  const opcode = b[0];
  if (!VALID_OPCODES.has(opcode)) return `unknown WQE opcode 0x${opcode.toString(16)}`;
  const flags = b[1];
  const size = b[WQE_SIZE_OFFSET] * SEG_BYTES;
  if (size < SEG_BYTES || size > b.length) {
    return `WQE size ${b[WQE_SIZE_OFFSET]} units outside what was fetched (${b.length} bytes)`;
  }
  let w: ParsedSendWqe;
  if (into === undefined) {
    w = {
      opcode,
      flags,
      imm: getU32(b, 4),
      remoteAddr: 0,
      rkey: 0,
      swapAdd: 0n,
      compare: 0n,
      ud: undefined,
      sgl: [],
      inline: undefined,
      length: 0,
    };
  } else {
    // The device's own record of the WQE (the requester's fetched WQE): every field is set.
    w = into;
    w.opcode = opcode;
    w.flags = flags;
    w.imm = getU32(b, 4);
    w.remoteAddr = 0;
    w.rkey = 0;
    w.swapAdd = 0n;
    w.compare = 0n;
    w.ud = undefined;
    w.sgl = NO_SGL;
    w.inline = undefined;
    w.length = 0;
  }
  let p = SEG_BYTES;
  if (needsRaddr(opcode)) {
    if (p + SEG_BYTES > size) return "WQE too short for its remote address segment";
    w.remoteAddr = getU64(b, p);
    w.rkey = getU32(b, p + 8);
    p += SEG_BYTES;
  }
  if (isAtomic(opcode)) {
    if (p + SEG_BYTES > size) return "WQE too short for its atomic segment";
    const dv = dataView(b, p, SEG_BYTES);
    w.swapAdd = dv.getBigUint64(0);
    w.compare = dv.getBigUint64(8);
    p += SEG_BYTES;
  }
  if (ud) {
    if (p + UD_SEG_BYTES > size) return "UD WQE too short for its address segment";
    const hasGrh = (b[p + 1] & UD_FLAG_GRH) !== 0;
    const tf = getU32(b, p + 8);
    w.ud = {
      port: b[p],
      dlid: (b[p + 2] << 8) | b[p + 3],
      sl: b[p + 4] >>> 4,
      srcPathBits: b[p + 5],
      staticRate: b[p + 6],
      grh: hasGrh
        ? {
          hopLimit: b[p + 7],
          trafficClass: (tf >>> 20) & 0xff,
          flowLabel: tf & 0xfffff,
          sgidIndex: b[p + 12],
          dgid: b.slice(p + 16, p + 32),
        }
        : undefined,
      remoteQpn: getU32(b, p + 32) & 0xffffff,
      qkey: getU32(b, p + 36),
      avPd: (b[p + 1] & UD_FLAG_AV_PD) !== 0 ? getU32(b, p + 40) : undefined,
    };
    p += UD_SEG_BYTES;
  }
  if (flags & WqeFlags.INLINE) {
    if (p + 4 > size) return "inline WQE has no inline segment";
    const hdr = getU32(b, p);
    if (!(hdr & INLINE_BIT)) return "inline flag set but segment lacks the inline bit";
    const n = hdr & 0x7fffffff;
    if (p + 4 + n > size) return `inline data of ${n} bytes overruns the WQE`;
    w.inline = b.slice(p + 4, p + 4 + n);
    w.length = n;
  } else {
    let total = 0;
    for (; p + SEG_BYTES <= size; p += SEG_BYTES) {
      const len = getU32(b, p);
      if (len & INLINE_BIT) return "inline segment without the inline flag";
      if (len === 0) continue;
      if (w.sgl.length >= maxSge) return `more than ${maxSge} gather entries`;
      const seg = { addr: getU64(b, p + 8), length: len, lkey: getU32(b, p + 4) };
      // The first entry as a literal of one: `push` onto `[]` would reserve room for 17.
      if (w.sgl.length === 0) w.sgl = [seg];
      else w.sgl.push(seg);
      total += len;
    }
    w.length = total;
  }
  return w;
}

/**
 * Encode a receive WQE (scatter list) at `out[off..off+stride)`; unused
 * slots get a terminating entry with {@link INVALID_LKEY}.
 * @throws RangeError if the list does not fit the stride
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeRecvWqe, decodeRecvWqe } from "./wqe.ts";
 * const buf = new Uint8Array(32);
 * encodeRecvWqe([{ addr: 8192, length: 100, lkey: 0x200 }], buf, 0, 32);
 * assert.equal(decodeRecvWqe(buf)[0].length, 100);
 * ```
 */
export function encodeRecvWqe(
  sgl: readonly DataSeg[],
  out: Uint8Array,
  off = 0,
  stride = out.length - off,
): number {
  if (sgl.length * SEG_BYTES > stride) {
    throw new RangeError(`encodeRecvWqe: ${sgl.length} entries exceed the stride of ${stride}`);
  }
  if (off + stride > out.length) {
    throw new RangeError(`encodeRecvWqe: a ${stride}-byte WQE at ${off} overruns the buffer`);
  }
  out.fill(0, off, off + stride);
  let p = off;
  for (let k = 0; k < sgl.length; k++) {
    const s = sgl[k];
    putU32(out, p, s.length >>> 0);
    putU32(out, p + 4, s.lkey >>> 0);
    putU64(out, p + 8, s.addr);
    p += SEG_BYTES;
  }
  // A zeroed entry (lkey 0) terminates the list when there is room left.
  return stride;
}

/**
 * Parse a receive WQE: entries up to the stride or the first with
 * {@link INVALID_LKEY}; zero-length entries are kept (they take no bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRecvWqe } from "./wqe.ts";
 * assert.equal(decodeRecvWqe(new Uint8Array(32)).length, 0);
 * ```
 */
export function decodeRecvWqe(b: Uint8Array): DataSeg[] {
  const out: DataSeg[] = [];
  for (let p = 0; p + SEG_BYTES <= b.length; p += SEG_BYTES) {
    const lkey = getU32(b, p + 4);
    if (lkey === INVALID_LKEY) break;
    out.push({ addr: getU64(b, p + 8), length: getU32(b, p), lkey });
  }
  return out;
}
