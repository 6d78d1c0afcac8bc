/**
 * The packet format between two MPI processes: one fixed 56-byte header
 * (little-endian) in front of every packet, whether it travels in a vbuf by
 * SEND/RECV or is RDMA-written into a slot of the peer's fast-path ring.
 * Like MVAPICH's `MPIDI_CH3_Pkt_*` headers it carries the matching triple
 * (context, source rank, tag), the per-connection sequence number that
 * keeps the two paths in order, and piggybacked credits.
 *
 * ```
 *  0 u8  type          1 u8  flags       2 u16 vbuf credits returned
 *  4 u32 seq           8 u16 ring credits returned   10 u16 reserved
 * 12 u32 context      16 i32 source rank (in the communicator)
 * 20 i32 tag          24 u32 message size   28 u32 payload bytes that follow
 * 32 u32 send request 36 u32 receive request 40 u32 rkey
 * 44 u32 addr (high) 48 u32 addr (low)     52 u32 length (CTS) / slots (ring address)
 * ```
 *
 * A fast-path slot ends, right after the payload, with an 8-byte tail
 * (`seq`, `seq ^ TAIL_MAGIC`): the receiver polls the head (type ≠ 0) and
 * then the tail, so a message whose last packet has not landed yet is
 * never read (MVAPICH's head and tail flags).
 *
 * @module
 */

/**
 * Header bytes in front of every packet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HEADER_BYTES } from "./wire.ts";
 * // The largest eager message under a 12 KiB MV2_IBA_EAGER_THRESHOLD.
 * assert.equal(12288 - HEADER_BYTES, 12232);
 * ```
 */
export const HEADER_BYTES = 56;

/**
 * Tail bytes after a fast-path payload.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HEADER_BYTES, TAIL_BYTES } from "./wire.ts";
 * // The largest payload a 4 KiB fast-path slot carries.
 * assert.equal(4096 - HEADER_BYTES - TAIL_BYTES, 4032);
 * ```
 */
export const TAIL_BYTES = 8;

/**
 * Mixed into the tail's second word (so stale payload bytes never look like a tail).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TAIL_MAGIC, tailFor } from "./wire.ts";
 * assert.equal(new DataView(tailFor(0).buffer).getUint32(4, true), TAIL_MAGIC);
 * ```
 */
export const TAIL_MAGIC = 0xa5c3_5a3c;

/**
 * Packet types (MVAPICH: eager send, RNDV_REQ_TO_SEND, RNDV_CLR_TO_SEND,
 * RNDV_FINISH, NOOP, ADDRESS; and MPICH ch3's EAGER_SYNC_SEND and
 * EAGER_SYNC_ACK for synchronous sends and CANCEL_SEND_REQ/RESP for
 * MPI_Cancel of a send, which MVAPICH inherits).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PacketType } from "./wire.ts";
 * assert.equal(PacketType.EAGER, 1);
 * ```
 */
export const PacketType = {
  /** Data follows the header. */
  EAGER: 1,
  /** Rendezvous request to send: size, send request, and (RGET) the source buffer. */
  RTS: 2,
  /** Rendezvous clear to send (RPUT): the destination buffer. */
  CTS: 3,
  /** Rendezvous data has landed (RPUT: to the receiver; RGET: to the sender). */
  FIN: 4,
  /** Explicit credit update (no data). */
  NOOP: 5,
  /** The sender's fast-path ring in this process: address, rkey, slots. */
  RING: 6,
  /** Eager data of a synchronous send: as EAGER, plus the send request to acknowledge. */
  EAGER_SYNC: 7,
  /** A receive matched the EAGER_SYNC message with send request `sreq` (MPI_Ssend completes). */
  SYNC_ACK: 8,
  /** MPI_Cancel of send request `sreq`: drop its message if no receive has matched it yet. */
  CANCEL_SEND_REQ: 9,
  /** The answer to CANCEL_SEND_REQ for `sreq`: `length` 1 if the message was dropped, else 0. */
  CANCEL_SEND_RESP: 10,
  /** One-sided (mpi/rma.ts), window `context`: lock request from rank `src`, `length` 1 exclusive, 2 shared. */
  RMA_LOCK: 11,
  /** The lock of window `context` at rank `src` is granted to the receiver. */
  RMA_LOCK_GRANTED: 12,
  /** Rank `src` releases its lock of window `context`. */
  RMA_UNLOCK: 13,
  /** Accumulate: apply op `tag` on datatype `size` of the payload at byte `addr` of window `context`. */
  RMA_ACC: 14,
  /** The RMA_ACC (or a range error: `length` 0) was applied at rank `src`. */
  RMA_ACC_ACK: 15,
  /** Get-accumulate (fetch-and-op) `rreq`: as RMA_ACC, and the old bytes go back in RMA_FETCH_RESP. */
  RMA_GET_ACC: 16,
  /** The old bytes of RMA_GET_ACC or RMA_CAS `rreq` (`length` 0: a range error). */
  RMA_FETCH_RESP: 17,
  /** Compare-and-swap `rreq`: payload is origin then compare (`size`: datatype) at byte `addr`. */
  RMA_CAS: 18,
  /** MPI_Win_post by rank `src`: the receiver may start an access epoch to it. */
  RMA_POST: 19,
  /** MPI_Win_complete by rank `src`: its access epoch to the receiver is over. */
  RMA_COMPLETE: 20,
} as const;

/**
 * A value of {@link PacketType}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PacketType, type PacketTypeValue } from "./wire.ts";
 * const t: PacketTypeValue = PacketType.FIN;
 * assert.equal(t, 4);
 * ```
 */
export type PacketTypeValue = (typeof PacketType)[keyof typeof PacketType];

/**
 * A decoded header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Header, PacketType } from "./wire.ts";
 * const h: Header = { type: PacketType.NOOP, vbufCredits: 10, seq: 0, ringCredits: 0,
 *   context: 0, src: 0, tag: 0, size: 0, len: 0, sreq: 0, rreq: 0, rkey: 0, addr: 0, length: 0 };
 * assert.equal(h.vbufCredits, 10);
 * ```
 */
export interface Header {
  type: number;
  vbufCredits: number;
  seq: number;
  ringCredits: number;
  context: number;
  src: number;
  tag: number;
  size: number;
  len: number;
  sreq: number;
  rreq: number;
  rkey: number;
  addr: number;
  length: number;
}

/**
 * Write `h` into the first {@link HEADER_BYTES} of `out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeHeader, encodeHeader, HEADER_BYTES, PacketType } from "./wire.ts";
 * const out = new Uint8Array(HEADER_BYTES);
 * const h = { type: PacketType.RTS, vbufCredits: 3, seq: 7, ringCredits: 1, context: 2, src: 1,
 *   tag: 99, size: 1 << 20, len: 0, sreq: 5, rreq: 0, rkey: 0x1234, addr: 0x1_0000_2000, length: 0 };
 * encodeHeader(out, h);
 * assert.deepEqual(decodeHeader(out), h);
 * ```
 */
export function encodeHeader(out: Uint8Array, h: Header): void {
  // A typed array drops stores past its end: a short buffer must not pass for a header.
  if (out.length < HEADER_BYTES) {
    throw new RangeError(`encodeHeader: ${out.length} bytes, a header has ${HEADER_BYTES}`);
  }
  // Byte stores, little-endian: a DataView per header was an allocation per packet.
  out[0] = h.type;
  out[1] = 0;
  put16(out, 2, Math.min(h.vbufCredits, 0xffff));
  put32(out, 4, h.seq);
  put16(out, 8, Math.min(h.ringCredits, 0xffff));
  put16(out, 10, 0);
  put32(out, 12, h.context);
  put32(out, 16, h.src);
  put32(out, 20, h.tag);
  put32(out, 24, h.size);
  put32(out, 28, h.len);
  put32(out, 32, h.sreq);
  put32(out, 36, h.rreq);
  put32(out, 40, h.rkey);
  put32(out, 44, Math.floor(h.addr / 0x1_0000_0000));
  put32(out, 48, h.addr);
  put32(out, 52, h.length);
}

/**
 * Read a header from the first {@link HEADER_BYTES} of `b`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeHeader, HEADER_BYTES } from "./wire.ts";
 * assert.equal(decodeHeader(new Uint8Array(HEADER_BYTES)).type, 0);
 * ```
 */
export function decodeHeader(b: Uint8Array): Header {
  if (b.length < HEADER_BYTES) {
    throw new RangeError(`decodeHeader: ${b.length} bytes, a header has ${HEADER_BYTES}`);
  }
  return {
    type: b[0],
    vbufCredits: get16(b, 2),
    seq: get32(b, 4),
    ringCredits: get16(b, 8),
    context: get32(b, 12),
    src: get32(b, 16) | 0,
    tag: get32(b, 20) | 0,
    size: get32(b, 24),
    len: get32(b, 28),
    sreq: get32(b, 32),
    rreq: get32(b, 36),
    rkey: get32(b, 40),
    addr: get32(b, 44) * 0x1_0000_0000 + get32(b, 48),
    length: get32(b, 52),
  };
}

function put16(b: Uint8Array, at: number, x: number): void {
  b[at] = x;
  b[at + 1] = x >>> 8;
}

/** `x`'s low 32 bits, little-endian (a negative `x` as two's complement, as `setInt32`). */
function put32(b: Uint8Array, at: number, x: number): void {
  b[at] = x;
  b[at + 1] = x >>> 8;
  b[at + 2] = x >>> 16;
  b[at + 3] = x >>> 24;
}

function get16(b: Uint8Array, at: number): number {
  return b[at] | (b[at + 1] << 8);
}

function get32(b: Uint8Array, at: number): number {
  return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;
}

/**
 * The 8-byte tail that closes a fast-path slot for sequence number `seq`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tailFor, tailMatches } from "./wire.ts";
 * assert.equal(tailMatches(tailFor(41), 41), true);
 * assert.equal(tailMatches(tailFor(41), 42), false);
 * ```
 */
export function tailFor(seq: number): Uint8Array {
  const t = new Uint8Array(TAIL_BYTES);
  writeTail(t, 0, seq);
  return t;
}

/**
 * Write the tail for `seq` ({@link tailFor}) into `out` at `at`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TAIL_BYTES, tailFor, writeTail } from "./wire.ts";
 * const slot = new Uint8Array(4 + TAIL_BYTES);
 * writeTail(slot, 4, 41);
 * assert.deepEqual(slot.subarray(4), tailFor(41));
 * ```
 */
export function writeTail(out: Uint8Array, at: number, seq: number): void {
  put32(out, at, seq);
  put32(out, at + 4, seq ^ TAIL_MAGIC);
}

/**
 * Whether `b` (8 bytes) is the tail for `seq`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tailMatches } from "./wire.ts";
 * assert.equal(tailMatches(new Uint8Array(8), 0), false);
 * ```
 */
export function tailMatches(b: Uint8Array, seq: number): boolean {
  return b.length >= TAIL_BYTES && get32(b, 0) === seq >>> 0 &&
    get32(b, 4) === ((seq ^ TAIL_MAGIC) >>> 0);
}
