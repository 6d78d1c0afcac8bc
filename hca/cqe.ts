/**
 * Completion queue entry format (FORMATS.md §7): 32 bytes, big-endian, an
 * owner bit in the last byte that flips on each pass over the ring. The
 * device writes CQEs by DMA; the user-level provider reads them from its own
 * memory. The CQE carries the WQE counter, never the 64-bit wr_id: the
 * provider keeps wr_id per WQE index, as mthca/mlx4 do.
 *
 * @module
 */

/**
 * Bytes of a CQE.
 *
 * @example
 * ```ts
 * import { CQE_BYTES } from "./cqe.ts";
 * const entryAddr = (base: number, ci: number, logSize: number) => base + (ci % 2 ** logSize) * CQE_BYTES;
 * console.log(entryAddr(0x1000, 65, 6)); // 4128 (0x1020: entry 1 on the second pass)
 * ```
 */
export const CQE_BYTES = 32;

/**
 * CQE flag bits (byte 25).
 *
 * @example
 * ```ts
 * import { CqeFlags } from "./cqe.ts";
 * const isSend = (flags: number) => (flags & CqeFlags.SQ) !== 0;
 * console.log(isSend(CqeFlags.SQ | CqeFlags.SOLICITED)); // true
 * ```
 */
export const CqeFlags = {
  GRH: 1,
  WITH_IMM: 2,
  SOLICITED: 4,
  /** The WQE counter indexes the SRQ, not the QP's RQ. */
  SRQ: 0x40,
  /** Send-queue (requester) completion. */
  SQ: 0x80,
} as const;

/**
 * Vendor syndrome (byte 23): why an error CQE was written. Values are this
 * model's own; the status byte carries the IBTA meaning.
 *
 * @example
 * ```ts
 * import { CqeSyndrome } from "./cqe.ts";
 * const why = Object.entries(CqeSyndrome).find(([, v]) => v === 0x02)?.[0];
 * console.log(why); // PD_MISMATCH
 * ```
 */
export const CqeSyndrome = {
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
  /** NAK received: invalid request / remote access / remote operational. */
  NAK_INVALID_REQUEST: 0x21,
  NAK_REMOTE_ACCESS: 0x22,
  NAK_REMOTE_OPERATIONAL: 0x23,
  /** Transport retries exhausted (ACK timeout or sequence NAKs). */
  RETRY_EXCEEDED: 0x30,
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
 * import { type Cqe, decodeCqe, encodeCqe } from "./cqe.ts";
 * const c: Cqe = {
 *   qpn: 0x41, imm: 0, byteLen: 5000, slid: 2, sl: 0, dlidPathBits: 0, srcQp: 0x40,
 *   wqeCounter: 7, status: 0, syndrome: 0, opcode: 128, flags: 0, pkeyIndex: 0,
 * };
 * const b = new Uint8Array(32);
 * encodeCqe(c, 0, 4, b);
 * console.log(decodeCqe(b).byteLen); // 5000
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
  /** `ibv_wc_status` value. */
  status: number;
  /** {@link CqeSyndrome}. */
  syndrome: number;
  /** `ibv_wc_opcode` value. */
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
 * import { ownerBitFor } from "./cqe.ts";
 * // A ring of 4: entries 0..3 carry owner 1, the next pass 0, then 1 again.
 * console.log([0, 3, 4, 7, 8].map((i) => ownerBitFor(i, 2))); // [ 1, 1, 0, 0, 1 ]
 * ```
 */
export function ownerBitFor(index: number, logSize: number): number {
  return 1 ^ (Math.floor(index / 2 ** logSize) & 1);
}

/**
 * Encode a CQE into `out[off..off+32)` with the owner bit for producer index
 * `pi` (ring of `2^logSize`).
 *
 * @example
 * ```ts
 * import { encodeCqe, decodeCqe, cqeReady } from "./cqe.ts";
 * const b = new Uint8Array(32);
 * encodeCqe({ qpn: 5, imm: 0, byteLen: 8, slid: 1, sl: 0, dlidPathBits: 0, srcQp: 0, wqeCounter: 3,
 *   status: 0, syndrome: 0, opcode: 0, flags: 0x80, pkeyIndex: 0 }, 0, 4, b);
 * console.log(cqeReady(b, 0, 0, 4), decodeCqe(b).wqeCounter); // true 3
 * ```
 */
export function encodeCqe(c: Cqe, pi: number, logSize: number, out: Uint8Array, off = 0): void {
  const dv = new DataView(out.buffer, out.byteOffset + off, CQE_BYTES);
  dv.setUint32(0, c.qpn & 0xffffff);
  dv.setUint32(4, c.imm >>> 0);
  dv.setUint32(8, c.byteLen >>> 0);
  dv.setUint16(12, c.slid & 0xffff);
  dv.setUint8(14, (c.sl & 0xf) << 4);
  dv.setUint8(15, c.dlidPathBits & 0x7f);
  dv.setUint32(16, c.srcQp & 0xffffff);
  dv.setUint16(20, c.wqeCounter & 0xffff);
  dv.setUint8(22, c.status);
  dv.setUint8(23, c.syndrome);
  dv.setUint8(24, c.opcode);
  dv.setUint8(25, c.flags);
  dv.setUint16(26, c.pkeyIndex);
  dv.setUint8(28, 0);
  dv.setUint8(29, 0);
  dv.setUint8(30, 0);
  dv.setUint8(31, ownerBitFor(pi, logSize) << 7);
}

/**
 * Decode a CQE at `b[off..off+32)` (does not check ownership: call
 * {@link cqeReady} first).
 *
 * @example
 * ```ts
 * import { decodeCqe } from "./cqe.ts";
 * console.log(decodeCqe(new Uint8Array(32)).status); // 0
 * ```
 */
export function decodeCqe(b: Uint8Array, off = 0): Cqe {
  const dv = new DataView(b.buffer, b.byteOffset + off, CQE_BYTES);
  return {
    qpn: dv.getUint32(0) & 0xffffff,
    imm: dv.getUint32(4),
    byteLen: dv.getUint32(8),
    slid: dv.getUint16(12),
    sl: dv.getUint8(14) >>> 4,
    dlidPathBits: dv.getUint8(15) & 0x7f,
    srcQp: dv.getUint32(16) & 0xffffff,
    wqeCounter: dv.getUint16(20),
    status: dv.getUint8(22),
    syndrome: dv.getUint8(23),
    opcode: dv.getUint8(24),
    flags: dv.getUint8(25),
    pkeyIndex: dv.getUint16(26),
  };
}

/**
 * True if the CQE at `b[off..]` belongs to software at consumer index `ci`
 * of a ring of `2^logSize` entries (its owner bit matches the pass).
 *
 * @example
 * ```ts
 * import { cqeReady } from "./cqe.ts";
 * console.log(cqeReady(new Uint8Array(32), 0, 0, 4)); // false: a zeroed ring is empty
 * ```
 */
export function cqeReady(b: Uint8Array, off: number, ci: number, logSize: number): boolean {
  return (b[off + 31] >>> 7) === ownerBitFor(ci, logSize);
}
