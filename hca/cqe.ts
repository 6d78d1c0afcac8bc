/**
 * Completion queue entry format (FORMATS.md §7): 32 bytes, big-endian, an
 * owner bit in the last byte that flips on each pass over the ring. The
 * device writes CQEs by DMA; the user-level provider reads them from its own
 * memory. The CQE carries the WQE counter, never the 64-bit wr_id: the
 * provider keeps wr_id per WQE index, as mthca/mlx4 do.
 *
 * The entry speaks the device's language, as an InfiniHost CQE does (Linux
 * mthca_cq.c, rdma-core providers/mthca/cq.c): a successful send completion
 * carries the opcode of the WQE it completes (`WqeOpcode` (`hca/wqe.ts`), mthca's
 * `MTHCA_OPCODE_*`), a successful receive the BTH opcode of the message's
 * last packet, and an error completion the opcode {@link CqeOpcode}
 * `ERROR_SEND`/`ERROR_RECV` with a {@link CqeSyndrome} (mthca's
 * `SYNDROME_*`) and a vendor error byte ({@link CqeVendorErr}). Turning these
 * into `ibv_wc` values is the provider's job.
 *
 * @module
 */

/**
 * Bytes of a CQE.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CQE_BYTES } from "./cqe.ts";
 * const entryAddr = (base: number, ci: number, logSize: number) => base + (ci % 2 ** logSize) * CQE_BYTES;
 * assert.equal(entryAddr(0x1000, 65, 6), 0x1020); // entry 1 on the second pass
 * ```
 */
export const CQE_BYTES = 32;

/**
 * The CQE's WQE counter is 16 bits: the counter of the completed WQE modulo
 * 2^16 (queues hold at most 2^16 entries, so it names one WQE).
 */
export const CQE_WQE_COUNTER_MASK = 0xffff;

/** Byte offset of the owner bit's byte (bit 7). */
const OWNER_BYTE = 31;
/** The owner bit in its byte. */
const OWNER_BIT = 0x80;

/**
 * CQE flag bits (byte 25). This byte is the model's packing of what an
 * InfiniHost CQE spreads over several fields (`is_send` bit 7, `g_mlpath`
 * bit 7 for the GRH); the provider reads immediate-data validity and the
 * solicited bit from it too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CqeFlags } from "./cqe.ts";
 * const isSend = (flags: number) => (flags & CqeFlags.SQ) !== 0;
 * assert.equal(isSend(CqeFlags.SQ | CqeFlags.SOLICITED), true);
 * ```
 */
export const CqeFlags = {
  /** A GRH was received (UD): the first 40 bytes of the scatter list hold it. */
  GRH: 1,
  /** The immediate-data field is valid. */
  WITH_IMM: 2,
  /** The message had the solicited-event bit. */
  SOLICITED: 4,
  /** The WQE counter indexes the SRQ, not the QP's RQ. */
  SRQ: 0x40,
  /** Send-queue (requester) completion. */
  SQ: 0x80,
} as const;

/**
 * Opcode byte values of error CQEs (mthca `MTHCA_ERROR_CQE_OPCODE_MASK`
 * 0xfe; bit 0 says which queue). A successful CQE carries a `WqeOpcode` (`hca/wqe.ts`)
 * (send queue) or a BTH opcode (receive queue) instead.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CqeOpcode, isErrorCqe } from "./cqe.ts";
 * assert.equal(isErrorCqe(CqeOpcode.ERROR_SEND), true);
 * assert.equal(isErrorCqe(0x0a), false); // MTHCA_OPCODE_SEND: a good send completion
 * ```
 */
export const CqeOpcode = {
  /** Error completion of a receive WQE. */
  ERROR_RECV: 0xfe,
  /** Error completion of a send WQE. */
  ERROR_SEND: 0xff,
} as const;

/** Opcode bits that mark an error CQE (mthca `MTHCA_ERROR_CQE_OPCODE_MASK`). */
export const ERROR_CQE_OPCODE_MASK = 0xfe;

/**
 * True if a CQE opcode byte marks an error completion.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CqeOpcode, isErrorCqe } from "./cqe.ts";
 * assert.deepEqual([CqeOpcode.ERROR_RECV, 0x04, 0x64].map(isErrorCqe), [true, false, false]);
 * ```
 */
export function isErrorCqe(opcode: number): boolean {
  return (opcode & ERROR_CQE_OPCODE_MASK) === ERROR_CQE_OPCODE_MASK;
}

/**
 * Syndrome of an error CQE (byte 22): the device's reason, numbered as the
 * InfiniHost's (Linux mthca_cq.c / rdma-core providers/mthca/cq.c
 * `SYNDROME_*`). The model produces the RC/UC/UD ones; the EEC, RDD and
 * memory-window syndromes belong to RD and MW, which it does not implement,
 * and are listed because the provider maps every syndrome the device
 * defines. A successful CQE has 0 here.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CqeSyndrome } from "./cqe.ts";
 * assert.equal(CqeSyndrome.REMOTE_ACCESS_ERR, 0x13);
 * assert.equal((Object.values(CqeSyndrome) as number[]).includes(0), false); // 0: no error
 * ```
 */
export const CqeSyndrome = {
  LOCAL_LENGTH_ERR: 0x01,
  LOCAL_QP_OP_ERR: 0x02,
  LOCAL_EEC_OP_ERR: 0x03,
  LOCAL_PROT_ERR: 0x04,
  WR_FLUSH_ERR: 0x05,
  MW_BIND_ERR: 0x06,
  BAD_RESP_ERR: 0x10,
  LOCAL_ACCESS_ERR: 0x11,
  REMOTE_INVAL_REQ_ERR: 0x12,
  REMOTE_ACCESS_ERR: 0x13,
  REMOTE_OP_ERR: 0x14,
  RETRY_EXC_ERR: 0x15,
  RNR_RETRY_EXC_ERR: 0x16,
  LOCAL_RDD_VIOL_ERR: 0x20,
  REMOTE_INVAL_RD_REQ_ERR: 0x21,
  REMOTE_ABORTED_ERR: 0x22,
  INVAL_EECN_ERR: 0x23,
  INVAL_EEC_STATE_ERR: 0x24,
} as const;
/** A value of {@link CqeSyndrome}. */
export type CqeSyndrome = (typeof CqeSyndrome)[keyof typeof CqeSyndrome];

/**
 * Vendor error byte (byte 23, `ibv_wc.vendor_err`): the model's finer
 * reason behind a syndrome. The InfiniHost's values are undocumented; these
 * are this model's own, and mean nothing to another device.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CqeVendorErr } from "./cqe.ts";
 * const why = Object.entries(CqeVendorErr).find(([, v]) => v === 0x02)?.[0];
 * assert.equal(why, "PD_MISMATCH");
 * ```
 */
export const CqeVendorErr = {
  NONE: 0,
  /** Key (lkey or rkey) unknown or stale tag. */
  BAD_KEY: 0x01,
  /** Local: region PD differs from the QP's PD. */
  PD_MISMATCH: 0x02,
  /** Local: address range outside the region. */
  OUT_OF_BOUNDS: 0x03,
  /** Local: region lacks the access right. */
  ACCESS_RIGHTS: 0x04,
  /** Local: translation reached a frame that is not RAM. */
  BAD_FRAME: 0x05,
  /** Malformed WQE (opcode, size, too many entries). */
  BAD_WQE: 0x10,
  /** Opcode not valid on this QP type. */
  BAD_OPCODE_FOR_QP: 0x11,
  /** Message longer than the scatter list / MTU. */
  LENGTH: 0x12,
  /** NAK received: invalid request. */
  NAK_INVALID_REQUEST: 0x21,
  /** NAK received: remote access error. */
  NAK_REMOTE_ACCESS: 0x22,
  /** NAK received: remote operational error. */
  NAK_REMOTE_OPERATIONAL: 0x23,
  /** Transport retries exhausted (ACK timeout or sequence NAKs). */
  RETRY_EXCEEDED: 0x30,
  /** RNR NAK retries exhausted. */
  RNR_RETRY_EXCEEDED: 0x31,
  /** Unexpected response. */
  BAD_RESPONSE: 0x32,
  /** Flushed by the QP entering the error state. */
  FLUSH: 0x40,
} as const;

/**
 * Fields of a CQE.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Cqe, decodeCqe, encodeCqe } from "./cqe.ts";
 * import { OP } from "./opcode.ts";
 * const c: Cqe = {
 *   qpn: 0x41, imm: 0, byteLen: 5000, slid: 2, sl: 0, dlidPathBits: 0, srcQp: 0x40,
 *   wqeCounter: 7, syndrome: 0, vendorErr: 0, opcode: OP.RC_SEND_LAST, flags: 0, pkeyIndex: 0,
 * };
 * const b = new Uint8Array(32);
 * encodeCqe(c, 0, 4, b);
 * assert.deepEqual(decodeCqe(b), c);
 * ```
 */
export interface Cqe {
  /** QP number. */
  qpn: number;
  /** Immediate data as on the wire (valid when flags has WITH_IMM). */
  imm: number;
  /** Byte count. */
  byteLen: number;
  /** Source LID. */
  slid: number;
  /** Service level. */
  sl: number;
  /** DLID path bits. */
  dlidPathBits: number;
  /** Source QP (24 bits). */
  srcQp: number;
  /** Counter of the completed WQE in its queue, mod 2^16. */
  wqeCounter: number;
  /** {@link CqeSyndrome} of an error CQE; 0 in a successful one. */
  syndrome: number;
  /** {@link CqeVendorErr}. */
  vendorErr: number;
  /**
   * Send queue: the completed WQE's `WqeOpcode` (`hca/wqe.ts`); receive queue: the BTH
   * opcode of the message's last packet; error: a {@link CqeOpcode}.
   */
  opcode: number;
  /** {@link CqeFlags}. */
  flags: number;
  /** P_Key index. */
  pkeyIndex: number;
}

/**
 * Owner bit the device writes for producer index `pi` in a ring of
 * `2^logSize` entries: 1 on the first pass, 0 on the second, …
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ownerBitFor } from "./cqe.ts";
 * // A ring of 4: entries 0..3 carry owner 1, the next pass 0, then 1 again.
 * assert.deepEqual([0, 3, 4, 7, 8].map((i) => ownerBitFor(i, 2)), [1, 1, 0, 0, 1]);
 * ```
 */
export function ownerBitFor(index: number, logSize: number): number {
  // A free-running 32-bit index (every caller's): a shift, as the division gives.
  if ((index >>> 0) === index && logSize >= 0 && logSize < 32 && (logSize | 0) === logSize) {
    return 1 ^ ((index >>> logSize) & 1);
  }
  return 1 ^ (Math.floor(index / 2 ** logSize) & 1);
}

/**
 * Rewrite the owner bit of the CQE at `b[off..]` for index `index` of a
 * ring of `2^logSize` entries, keeping the rest of the byte — what software
 * does when it copies unpolled CQEs into a resized ring.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cqeReady, setCqeOwner } from "./cqe.ts";
 * const b = new Uint8Array(32);
 * setCqeOwner(b, 0, 5, 3); // index 5 of a ring of 8: first pass
 * assert.equal(cqeReady(b, 0, 5, 3), true);
 * assert.equal(cqeReady(b, 0, 13, 3), false); // the same slot on the second pass
 * ```
 */
export function setCqeOwner(b: Uint8Array, off: number, index: number, logSize: number): void {
  const at = off + OWNER_BYTE;
  b[at] = (b[at] & ~OWNER_BIT) | (ownerBitFor(index, logSize) ? OWNER_BIT : 0);
}

/**
 * Encode a CQE into `out[off..off+32)` with the owner bit for producer index
 * `pi` (ring of `2^logSize`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CqeFlags, cqeReady, decodeCqe, encodeCqe } from "./cqe.ts";
 * import { WqeOpcode } from "./wqe.ts";
 * const b = new Uint8Array(32);
 * encodeCqe({ qpn: 5, imm: 0, byteLen: 8, slid: 1, sl: 0, dlidPathBits: 0, srcQp: 0, wqeCounter: 3,
 *   syndrome: 0, vendorErr: 0, opcode: WqeOpcode.SEND, flags: CqeFlags.SQ, pkeyIndex: 0 }, 0, 4, b);
 * assert.equal(cqeReady(b, 0, 0, 4), true);
 * assert.equal(decodeCqe(b).wqeCounter, 3);
 * ```
 */
export function encodeCqe(c: Cqe, pi: number, logSize: number, out: Uint8Array, off = 0): void {
  checkRange(out, off);
  // Big-endian fields written byte by byte: no DataView per completion.
  put32(out, off, c.qpn & 0xffffff);
  put32(out, off + 4, c.imm >>> 0);
  put32(out, off + 8, c.byteLen >>> 0);
  put16(out, off + 12, c.slid & 0xffff);
  out[off + 14] = (c.sl & 0xf) << 4;
  out[off + 15] = c.dlidPathBits & 0x7f;
  put32(out, off + 16, c.srcQp & 0xffffff);
  put16(out, off + 20, c.wqeCounter & 0xffff);
  out[off + 22] = c.syndrome;
  out[off + 23] = c.vendorErr;
  out[off + 24] = c.opcode;
  out[off + 25] = c.flags;
  put16(out, off + 26, c.pkeyIndex);
  out[off + 28] = 0;
  out[off + 29] = 0;
  out[off + 30] = 0;
  out[off + OWNER_BYTE] = ownerBitFor(pi, logSize) ? OWNER_BIT : 0;
}

function checkRange(b: Uint8Array, off: number): void {
  if (!(off >= 0 && off + CQE_BYTES <= b.length)) {
    throw new RangeError(`CQE at offset ${off} does not fit a ${b.length}-byte buffer`);
  }
}

function put32(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 24;
  b[p + 1] = v >>> 16;
  b[p + 2] = v >>> 8;
  b[p + 3] = v;
}

function put16(b: Uint8Array, p: number, v: number): void {
  b[p] = v >>> 8;
  b[p + 1] = v;
}

function get32(b: Uint8Array, p: number): number {
  return ((b[p] << 24) | (b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]) >>> 0;
}

function get16(b: Uint8Array, p: number): number {
  return (b[p] << 8) | b[p + 1];
}

/**
 * Decode a CQE at `b[off..off+32)` (does not check ownership: call
 * {@link cqeReady} first).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeCqe } from "./cqe.ts";
 * assert.equal(decodeCqe(new Uint8Array(32)).syndrome, 0);
 * ```
 */
export function decodeCqe(b: Uint8Array, off = 0): Cqe {
  checkRange(b, off);
  return {
    qpn: get32(b, off) & 0xffffff,
    imm: get32(b, off + 4),
    byteLen: get32(b, off + 8),
    slid: get16(b, off + 12),
    sl: b[off + 14] >>> 4,
    dlidPathBits: b[off + 15] & 0x7f,
    srcQp: get32(b, off + 16) & 0xffffff,
    wqeCounter: get16(b, off + 20),
    syndrome: b[off + 22],
    vendorErr: b[off + 23],
    opcode: b[off + 24],
    flags: b[off + 25],
    pkeyIndex: get16(b, off + 26),
  };
}

/**
 * True if the CQE at `b[off..]` belongs to software at consumer index `ci`
 * of a ring of `2^logSize` entries (its owner bit matches the pass).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cqeReady } from "./cqe.ts";
 * assert.equal(cqeReady(new Uint8Array(32), 0, 0, 4), false); // a zeroed ring is empty
 * ```
 */
export function cqeReady(b: Uint8Array, off: number, ci: number, logSize: number): boolean {
  return ((b[off + OWNER_BYTE] & OWNER_BIT) !== 0 ? 1 : 0) === ownerBitFor(ci, logSize);
}
