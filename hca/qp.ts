/**
 * The QP context (QPC) as the device holds it: the attributes the commands
 * set and the doorbell counters, then the state of each transport engine in
 * its own part, as Linux rxe's `rxe_qp` keeps `req`, `comp` and `resp`:
 *
 * - {@link RequesterState} (`qp.req`, `requester.ts`): WQE fetch, PSNs
 *   handed out, packets issued, the transmit window;
 * - {@link CompleterState} (`qp.comp`, `completer.ts`): the oldest
 *   unacknowledged PSN, retry budgets, the retransmission timer, SQ drain;
 * - {@link ResponderState} (`qp.resp`, `responder.ts`): the expected PSN,
 *   MSN, the message in progress, responder resources and the response queue.
 *
 * The fetched send WQEs (`qp.sq`) are shared: the requester walks them, the
 * completer retires them from the head — rxe's send queue plays the same
 * part. Each WQE's life is one {@link WqeState}.
 *
 * @module
 */

import type { EventHandle } from "../sim/engine.ts";
import { HwQpState, type PathParams, QpServiceType } from "./commands.ts";
import type { CompletionQueue } from "./cq.ts";
import { Line } from "../sim/line.ts";
import { IBA_MTUS, MTU_CODE_MIN } from "./link.ts";
import type { MptEntry } from "./mpt.ts";
import type { Transport as OpcodeTransport } from "./opcode.ts";
import type { Packet, PacketInit, WirePacket } from "./packet.ts";
import type { SharedReceiveQueue } from "./srq.ts";
import { type DataSeg, NO_SGL, type ParsedSendWqe, type UdAddress } from "./wqe.ts";

/**
 * PSNs are 24-bit (IBTA vol 1 §9.7.1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PSN_MASK } from "./qp.ts";
 * assert.equal((PSN_MASK + 1) & PSN_MASK, 0); // the PSN after 0xffffff
 * ```
 */
export const PSN_MASK = 0xffffff;

/** MSNs are 24-bit too (IBTA vol 1 §9.7.5.1.1, AETH). */
export const MSN_MASK = 0xffffff;

/**
 * `a - b` in PSN space, as a signed 24-bit distance (IBTA §9.7.1 modulo 2^24 arithmetic).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { psnDiff } from "./qp.ts";
 * assert.deepEqual([psnDiff(3, 0xfffffd), psnDiff(0xfffffd, 3)], [6, -6]);
 * ```
 */
export function psnDiff(a: number, b: number): number {
  return (((a - b) << 8) >> 8);
}

/**
 * `psn + n` modulo 2^24.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { psnAdd } from "./qp.ts";
 * assert.equal(psnAdd(0xfffffe, 5), 3);
 * ```
 */
export function psnAdd(psn: number, n: number): number {
  return (psn + n) & PSN_MASK;
}

/**
 * The opcode table's transport of each device service type, and back: how
 * the requester picks opcodes and the device matches packets to QPs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serviceOfTransport, TRANSPORT_OF_SERVICE } from "./qp.ts";
 * import { QpServiceType } from "./commands.ts";
 * assert.equal(TRANSPORT_OF_SERVICE[QpServiceType.UC], "UC");
 * assert.equal(serviceOfTransport("UD"), QpServiceType.UD);
 * ```
 */
export const TRANSPORT_OF_SERVICE: Readonly<Record<QpServiceType, OpcodeTransport>> = {
  [QpServiceType.RC]: "RC",
  [QpServiceType.UC]: "UC",
  [QpServiceType.UD]: "UD",
};

/**
 * The device service type that speaks a transport's opcodes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serviceOfTransport } from "./qp.ts";
 * import { opcodeInfo, OP } from "./opcode.ts";
 * assert.equal(serviceOfTransport(opcodeInfo(OP.RC_ACKNOWLEDGE)!.transport), 0x0);
 * ```
 */
export function serviceOfTransport(t: OpcodeTransport): QpServiceType {
  return t === "RC" ? QpServiceType.RC : t === "UC" ? QpServiceType.UC : QpServiceType.UD;
}

/**
 * Operation classes of a send WQE.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isReadOrAtomic, WqeKind } from "./qp.ts";
 * // READ and atomic WQEs count against max_rd_atomic; SEND and WRITE do not.
 * assert.equal(isReadOrAtomic(WqeKind.WRITE), false);
 * assert.equal(isReadOrAtomic(WqeKind.ATOMIC), true);
 * ```
 */
export const WqeKind = { SEND: 0, WRITE: 1, READ: 2, ATOMIC: 3 } as const;

/**
 * True for the kinds that take a responder resource and count against
 * max_rd_atomic (IBTA vol 1 §9.4, §11.2.4: max_rd_atomic).
 */
export function isReadOrAtomic(kind: number): boolean {
  return kind === WqeKind.READ || kind === WqeKind.ATOMIC;
}

/**
 * Where a send WQE is in its life (rxe's `wqe->state`): one field, moved by
 * the requester and the completer.
 *
 * - `POSTED`: fetched and checked, waiting for the requester.
 * - `PROCESSING`: the requester started it (`wqeProcessNs`); no PSNs yet.
 * - `SENDING`: it holds its PSNs; request packets are being issued (a
 *   retry moves it back here).
 * - `PENDING`: every request packet is issued; waiting for the responder.
 *   A READ or atomic in this state counts against max_rd_atomic.
 * - `DONE`: completed, its CQE (if any) written.
 * - `ERROR`: failed a local check before it was sent (`failSyndrome`); it
 *   completes in error once every WQE before it has completed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { holdsPsns, type SendWqe, WqeState } from "./qp.ts";
 * // The states between "has PSNs" and "completed" are what SQ drain waits for.
 * const live = Object.values(WqeState).filter((s) => holdsPsns({ state: s } as SendWqe));
 * assert.deepEqual(live, [WqeState.SENDING, WqeState.PENDING]);
 * ```
 */
export const WqeState = {
  POSTED: 0,
  PROCESSING: 1,
  SENDING: 2,
  PENDING: 3,
  DONE: 4,
  ERROR: 5,
} as const;
/** A value of {@link WqeState}. */
export type WqeState = (typeof WqeState)[keyof typeof WqeState];

/**
 * A send WQE the requester has fetched, with its transport bookkeeping.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lastPsn, type SendWqe } from "./qp.ts";
 * // The requester's view of a WQE: which PSNs it took.
 * assert.equal(lastPsn({ firstPsn: 0xfffffe, npsn: 4 } as SendWqe), 1);
 * ```
 */
export interface SendWqe {
  /** SQ counter of this WQE (u32). */
  counter: number;
  /** Parsed WQE, or undefined if it was malformed (then `failSyndrome` says why). */
  wqe: ParsedSendWqe | undefined;
  /** {@link WqeKind}. */
  kind: number;
  /** Write a CQE on success. */
  signaled: boolean;
  /** {@link WqeState}. */
  state: WqeState;
  /**
   * A local error found (`CqeSyndrome`; 0 = none): set with state ERROR before
   * sending, or while SENDING when a payload read fails (rxe's `wqe->status`).
   */
  failSyndrome: number;
  /** `CqeVendorErr` of `failSyndrome`. */
  failVendorErr: number;
  /** PSN of the first packet. */
  firstPsn: number;
  /** PSNs used. */
  npsn: number;
  /** Request packets in all (READ/atomic: 1). */
  npkts: number;
  /** Request packets issued in the current round. */
  sentPkts: number;
  /** RDMA READ: response packets placed so far. */
  readPkts: number;
  /** RDMA READ: response bytes placed so far. */
  readDone: number;
}

/**
 * A send WQE as the device keeps it from its fetch to its completion: the
 * transport bookkeeping of {@link SendWqe} and the parsed WQE's fields in one
 * record, whose `wqe` is the record itself once it parsed (undefined while it
 * did not). With 16 writes outstanding on each of tens of thousands of QPs,
 * about a million of these are alive at once; one object each instead of a
 * `SendWqe` around a `ParsedSendWqe` is one object fewer for the garbage
 * collector to copy, promote and mark, and one fewer read of a cold object
 * when the send engine, the completer and the CQE writer look at the WQE.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FetchedWqe, WqeState } from "./qp.ts";
 * import { decodeSendWqe, encodeSendWqe, WqeOpcode } from "./wqe.ts";
 * const b = new Uint8Array(64);
 * encodeSendWqe({ opcode: WqeOpcode.RDMA_WRITE, flags: 0, remoteAddr: 0x9000, rkey: 5, sgl: [{ addr: 4096, length: 64, lkey: 7 }] }, b);
 * const w = new FetchedWqe(3);
 * assert.equal(decodeSendWqe(b, false, 30, w), w); // parsed into the record itself
 * w.wqe = w;
 * assert.deepEqual([w.counter, w.state, w.wqe.length, w.wqe.remoteAddr, w.sgl[0].lkey], [3, WqeState.POSTED, 64, 0x9000, 7]);
 * ```
 */
export class FetchedWqe implements SendWqe, ParsedSendWqe {
  /** This record once its WQE parsed; undefined if it was malformed or unreadable. */
  wqe: ParsedSendWqe | undefined = undefined;
  /** {@link WqeKind}. */
  kind: number = WqeKind.SEND;
  /** Write a CQE on success. */
  signaled = true;
  /** {@link WqeState}. */
  state: WqeState = WqeState.POSTED;
  /** A local error found (`CqeSyndrome`; 0 = none). */
  failSyndrome = 0;
  /** `CqeVendorErr` of `failSyndrome` (0 = none). */
  failVendorErr = 0;
  /** PSN of the first packet. */
  firstPsn = 0;
  /** PSNs used. */
  npsn = 0;
  /** Request packets in all. */
  npkts = 0;
  /** Request packets issued in the current round. */
  sentPkts = 0;
  /** RDMA READ: response packets placed so far. */
  readPkts = 0;
  /** RDMA READ: response bytes placed so far. */
  readDone = 0;
  /** WqeOpcode. */
  opcode = 0;
  /** WqeFlags bits. */
  flags = 0;
  /** Immediate data as sent. */
  imm = 0;
  /** Remote virtual address (RDMA, atomics). */
  remoteAddr = 0;
  /** Remote key of the request. */
  rkey = 0;
  /** Swap or add operand (atomics). */
  swapAdd = 0n;
  /** Compare operand (CMP_AND_SWP). */
  compare = 0n;
  /** UD address segment (UD QPs). */
  ud: UdAddress | undefined = undefined;
  /** Gather list (empty entries dropped; set by the parse). */
  sgl: DataSeg[] = NO_SGL;
  /** Inline payload (a copy), or undefined. */
  inline: Uint8Array | undefined = undefined;
  /** Total message length. */
  length = 0;

  /**
   * A WQE just fetched, not parsed yet.
   * @param counter its SQ counter (u32)
   */
  constructor(public counter: number) {}
}

/**
 * True while a WQE holds PSNs and has not completed (SENDING or PENDING).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { holdsPsns, type SendWqe, WqeState } from "./qp.ts";
 * assert.equal(holdsPsns({ state: WqeState.POSTED } as SendWqe), false);
 * ```
 */
export function holdsPsns(w: SendWqe): boolean {
  return w.state === WqeState.SENDING || w.state === WqeState.PENDING;
}

/**
 * PSN of the WQE's last packet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lastPsn, type SendWqe } from "./qp.ts";
 * assert.equal(lastPsn({ firstPsn: 10, npsn: 1 } as SendWqe), 10);
 * ```
 */
export function lastPsn(w: SendWqe): number {
  return psnAdd(w.firstPsn, w.npsn - 1);
}

/**
 * A responder resource: a recent RDMA READ or atomic, replayed for duplicates (IBTA §9.7.5.2.5–6).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { psnDiff, type ResponderResource } from "./qp.ts";
 * // A duplicate READ request is served again if its PSN falls in a remembered READ.
 * const covers = (r: ResponderResource, psn: number) =>
 *   psnDiff(psn, r.firstPsn) >= 0 && psnDiff(psn, r.firstPsn) < r.npsn;
 * assert.equal(covers({ kind: "read", firstPsn: 10, npsn: 4 } as ResponderResource, 12), true);
 * ```
 */
export interface ResponderResource {
  /** What it is. */
  kind: "read" | "atomic";
  /** PSN of the first packet. */
  firstPsn: number;
  /** PSNs the response spans (read: response packets; atomic: 1). */
  npsn: number;
  /** READ: the request's va, rkey, length. */
  va: number;
  /** Remote key of the request. */
  rkey: number;
  /** Bytes. */
  length: number;
  /** ATOMIC: the original remote value returned. */
  orig: bigint;
}

/**
 * A packet reserved in issue order: filled when its payload is in the
 * device (or at once without payload), sent when every earlier slot was.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { TxSlot } from "./qp.ts";
 * // Packets leave in issue order: only a ready head slot may go.
 * const canSend = (slots: TxSlot[]) => slots.length > 0 && slots[0].ready;
 * assert.equal(canSend([{ ready: false } as TxSlot, { ready: true } as TxSlot]), false);
 * ```
 */
export interface TxSlot {
  /** Filled / executed. */
  ready: boolean;
  /** The packet, or undefined if it was discarded (retry, error) before it left. */
  init: PacketInit | undefined;
  /** Counts against the QP's transmit window until the port takes it. */
  windowed: boolean;
  /** Requester: the WQE, and whether this is its last request packet. */
  w: SendWqe | undefined;
  /** Last packet of its WQE. */
  last: boolean;
}

/**
 * Kinds of responder output, sent strictly in PSN order (IBTA §9.7.5.1.2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RespKind } from "./qp.ts";
 * assert.deepEqual(Object.keys(RespKind), ["READ", "ATOMIC", "ACK", "FATAL"]);
 * ```
 */
export const RespKind = { READ: 0, ATOMIC: 1, ACK: 2, FATAL: 3 } as const;

/**
 * A response the responder owes: READ response packets, an atomic ACK, an ACK/NAK, or the
 * NAK of a fatal error (its details in `ResponderState.fatal`), after which the QP errs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type RespEntry, RespKind } from "./qp.ts";
 * const pending = (e: RespEntry) => e.kind === RespKind.READ ? e.npkts - e.issued : 1;
 * assert.equal(pending({ kind: RespKind.READ, npkts: 5, issued: 2 } as RespEntry), 3);
 * ```
 */
export interface RespEntry {
  /** What it is. */
  kind: number;
  /** PSN of the (first) response packet. */
  psn: number;
  /** READ: packets in all and issued so far. */
  npkts: number;
  /** Packets issued so far. */
  issued: number;
  /** Region read from. */
  mpt: MptEntry | undefined;
  /** Virtual address. */
  va: number;
  /** Bytes. */
  length: number;
  /** ACK: AETH syndrome. */
  syndrome: number;
  /** A replay for a duplicate request: uses no responder resource of its own. */
  replay: boolean;
  /** ATOMIC: result ready, and the original value. */
  ready: boolean;
  /** Original remote value (atomics). */
  orig: bigint;
}

/**
 * The receive WQE a message is being placed into (rxe's `resp.wqe`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RecvInProgress } from "./qp.ts";
 * const room = (r: RecvInProgress) => r.capacity - r.offset;
 * assert.equal(room({ capacity: 4096, offset: 2048 } as RecvInProgress), 2048);
 * ```
 */
export interface RecvInProgress {
  /** RQ or SRQ counter of the WQE taken. */
  counter: number;
  /** Taken from the SRQ. */
  fromSrq: boolean;
  /** Scatter list of the receive WQE. */
  sgl: { addr: number; length: number; lkey: number }[];
  /** Bytes placed. */
  offset: number;
  /** Scatter space in total. */
  capacity: number;
  /** The WQE could not be fetched: its `CqeSyndrome` (0 = fetched). */
  syndrome: number;
  /** `CqeVendorErr` of `syndrome`. */
  vendorErr: number;
}

/**
 * The requester's part of a QP (rxe's `qp->req`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Qp } from "./qp.ts";
 * const qp = new Qp(5);
 * assert.equal(qp.req.psn, 0);
 * assert.deepEqual(qp.req.slots, []);
 * ```
 */
export class RequesterState {
  /** SQ counter of the next WQE to fetch. */
  fetchCounter = 0;
  /** WQE fetches in flight. */
  fetching = 0;
  /** Bumped when the SQ is flushed or the QP reset: WQE fetches in flight are discarded. */
  fetchEpoch = 0;
  /**
   * Size in 16-byte units of the WQE in each SQ slot, as the device was told
   * it (the doorbell for the first WQE it announces, the previous WQE's link
   * for the rest); 0 = not known yet. Emptied when the WQE is fetched.
   */
  wqeSizes: Uint8Array = new Uint8Array(0);
  /** Index in `qp.sq` of the WQE the requester works on. */
  index = 0;
  /** PSN the requester sends next. */
  psn = 0;
  /** One past the highest PSN ever sent (a rewind lowers `psn`, not this). */
  psnHigh = 0;
  /** RDMA READ/atomic requests outstanding (counted against maxRdAtomic). */
  rdAtomicOutstanding = 0;
  /** Packets issued to DMA/port and not yet transmitted (requester window). */
  txInFlight = 0;
  /** A step of the requester is scheduled. */
  scheduled = false;
  /** The requester's step for this QP, made once (not a closure per kick). */
  step: (() => void) | undefined = undefined;
  /** The requester waits (WQE processing, RNR back-off) until this time. */
  holdUntil = 0;
  /**
   * Static rate control (IBTA vol 1 §9.11): the next packet starts no earlier than this, the last
   * one's start plus (IPD + 1) of its times on the wire; 0 while the path is the port's rate.
   */
  paceUntil = 0;
  /** A WQE failed locally: the requester sends nothing more until the QP leaves the error path. */
  error = false;
  /** Packets since the last AckReq (the requester asks for an ACK at least every so often). */
  noAckPkts = 0;
  /** Bumped on every retry/error so that in-flight DMA callbacks of older rounds are discarded. */
  epoch = 0;
  /**
   * Request packets in issue order, from `slots[slotLine.head]` to before
   * `slots[slotLine.tail]`; each leaves only after every earlier one (PSN
   * order on the wire).
   */
  slots: TxSlot[] = [];
  /** The waiting part of {@link slots}. */
  slotLine: Line = new Line([this.slots]);
}

/**
 * The completer's part of a QP (rxe's `qp->comp`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Qp } from "./qp.ts";
 * const qp = new Qp(5);
 * assert.equal(qp.comp.timer, undefined);
 * assert.equal(qp.comp.readRetryPsn, -1);
 * ```
 */
export class CompleterState {
  /** Oldest PSN not yet acknowledged. */
  psn = 0;
  /** Transport retries left (IBTA vol 1 §9.7.6.1.3). */
  retries = 7;
  /** RNR retries left (IBTA vol 1 §9.7.5.2.8). */
  rnrRetries = 7;
  /** Pending retransmission timer event. */
  timer: EventHandle | undefined;
  /** When the retransmission timer expires (0 = stopped); the event is moved lazily. */
  timerDeadline = 0;
  /** READ response gap: the PSN a retry was already issued for (retry once per gap). */
  readRetryPsn: number = -1;
  /** SQD: drain requested; the event is raised once drained. */
  draining = false;
}

/**
 * The responder's part of a QP (rxe's `qp->resp`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Qp } from "./qp.ts";
 * const qp = new Qp(5);
 * assert.equal(qp.resp.opcode, -1); // no message in progress
 * assert.equal(qp.resp.ackPsn, -1);
 * ```
 */
export class ResponderState {
  /** PSN the responder expects. */
  psn = 0;
  /** Message sequence number (AETH). */
  msn = 0;
  /** RQ WQEs taken. */
  rqConsumer = 0;
  /** Receive WQE of the message in progress. */
  wqe: RecvInProgress | undefined;
  /** RDMA WRITE in progress: the target region. */
  mr: MptEntry | undefined;
  /** RDMA WRITE: next address. */
  va = 0;
  /** RDMA WRITE: bytes still expected. */
  resid = 0;
  /** RDMA WRITE: the whole DMA length of the message in progress. */
  length = 0;
  /** A sequence-error or RNR NAK was sent and the expected PSN has not arrived since (IBTA §9.7.5.2.2). */
  sentPsnNak = false;
  /** UC: the current message is dropped until the next First/Only (IBTA §9.8.2). */
  dropMsg = false;
  /** Opcode of the last packet accepted mid-message, -1 between messages (IBTA §9.7.5.1.x / C9-32). */
  opcode: number = -1;
  /** Responder resources, oldest first (+ replay history). */
  resources: ResponderResource[] = [];
  /** The responder is busy with a packet (receive WQE fetch); later packets wait in `queue`. */
  busy = false;
  /** Packets waiting while a receive WQE is fetched, from `queueHead` on (a FIFO taken from the front without shifting the array). */
  queue: ({ pkt: Packet; raw: WirePacket } | undefined)[] = [];
  /** Index of the oldest packet waiting in `queue`. */
  queueHead = 0;
  /** Read-response packets between DMA and the port (responder window). */
  txInFlight = 0;
  /** Responses in PSN order; each leaves only after every earlier one. */
  slots: TxSlot[] = [];
  /** Responses owed, in PSN order. */
  responses: RespEntry[] = [];
  /** Bumped when the responder's in-flight work must be discarded (error, reset). */
  epoch = 0;
  /** ACK coalescing: the PSN to acknowledge when the delay expires (-1 = none pending). */
  ackPsn: number = -1;
  /** ...and the earliest time it may leave. */
  ackAt = 0;
  /**
   * The responder epoch the queued ACK event belongs to. A QP has at most one
   * queued: a chain of them starts only while no ACK is pending, and only its
   * last event clears `ackPsn`.
   */
  ackEpoch = 0;
  /** The ACK event's function, made once (by the responder) for this state. */
  ackDue: (() => void) | undefined = undefined;
  /** COMM_EST was raised. */
  commEst = false;
  /**
   * A responder error waiting behind the responses owed before it (a `RespKind.FATAL` entry
   * marks its place): its NAK and the move to ERR, with the receive WQE's error. No request
   * is taken meanwhile.
   */
  fatal:
    | {
      nakCode: number;
      psn: number;
      asyncType: number;
      recvSyndrome: number;
      recvVendorErr: number;
    }
    | undefined = undefined;
}

/**
 * One QP context.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Qp } from "./qp.ts";
 * import { HwQpState } from "./commands.ts";
 * const qp = new Qp(5);
 * assert.equal(qp.state, HwQpState.RESET);
 * assert.equal(qp.mtuBytes, 2048); // the default path MTU code 4
 * ```
 */
export class Qp {
  // --- attributes (commands) ---
  /** QP state. */
  state: HwQpState = HwQpState.RESET;
  /** Service type. */
  type: QpServiceType = QpServiceType.RC;
  /** Protection domain. */
  pd = 0;
  /** CQ for send completions. */
  sendCq!: CompletionQueue;
  /** CQ for receive completions. */
  recvCq!: CompletionQueue;
  /** Attached SRQ. */
  srq: SharedReceiveQueue | undefined;
  /** UAR whose doorbells drive this QP. */
  uarIndex = 0;
  /** Region holding the SQ and RQ. */
  wq!: MptEntry;
  /** Virtual address of SQ entry 0. */
  sqAddr = 0;
  /** SQ entries. */
  sqSize = 0;
  /** SQ stride (bytes). */
  sqStride = 0;
  /** Virtual address of RQ entry 0. */
  rqAddr = 0;
  /** RQ entries. */
  rqSize = 0;
  /** RQ stride (bytes). */
  rqStride = 0;
  /** Port (1-based). */
  port = 1;
  /** P_Key index. */
  pkeyIndex = 0;
  /** Q_Key. */
  qkey = 0;
  /** Remote operations the responder accepts (`QpAccess` bits). */
  accessFlags = 0;
  /** Remote QPN. */
  destQpn = 0;
  /** Responder PSN set at INIT2RTR. */
  rqPsn = 0;
  /** Requester PSN set at RTR2RTS. */
  sqPsn = 0;
  /** Path MTU code (IBTA encoding, `hca/link.ts`). */
  mtu = 4;
  /** Primary path. */
  path: PathParams = { dlid: 0, sl: 0, srcPathBits: 0 };
  /** The LRH of the QP's last packet, shared by the next while the route gives the same (`Transport.route`). */
  lastLrh: Readonly<PacketInit["lrh"]> | undefined = undefined;
  /**
   * Local ACK timeout exponent. This and the other fields a transition sets start at 0: RST2INIT
   * loads the context the driver wrote, which mthca's __mthca_modify_qp zeroes first (a field no
   * modify_qp gave reads back 0 in mthca_query_qp).
   */
  timeout = 0;
  /** Transport retries. */
  retryCnt = 0;
  /** RNR retries (7 = infinite). */
  rnrRetry = 0;
  /** RNR timer code for our RNR NAKs. */
  minRnrTimer = 0;
  /** Outstanding READ/atomic we may initiate. */
  maxRdAtomic = 1;
  /** Outstanding READ/atomic we accept. */
  maxDestRdAtomic = 1;
  /** Raise SQ_DRAINED after RTS2SQD. */
  sqdEvent = false;

  // --- doorbells ---
  /** SQ producer counter from doorbells. */
  sqProducer = 0;
  /** RQ producer counter from doorbells. */
  rqProducer = 0;

  // --- the engines ---
  /**
   * Fetched send WQEs, oldest first, until completed: `sq[sqHead..]`.
   * Completed ones leave by moving `sqHead` (the array is compacted now and
   * then, see {@link retireSq}), not by copying the array on every ACK.
   */
  sq: SendWqe[] = [];
  /** Index in `sq` of the oldest WQE not retired. */
  sqHead = 0;

  /** Fetched send WQEs not retired. */
  get sqCount(): number {
    return this.sq.length - this.sqHead;
  }

  /**
   * Retire the `n` oldest WQEs. The requester's `req.index` moves up to the
   * new oldest if it pointed before it (a late ACK of WQEs a rewind was about
   * to resend). The array drops retired entries once they are more than
   * half of it; `req.index` moves with it.
   */
  retireSq(n: number): void {
    const sq = this.sq;
    let h = this.sqHead;
    for (const end = h + n; h < end; h++) sq[h] = undefined as unknown as SendWqe;
    if (this.req.index < h) this.req.index = h;
    if (h > 32 && h * 2 > sq.length) {
      // A fresh (young) array: moving long-lived entries in place pays a write barrier each.
      this.sq = sq.slice(h);
      this.req.index -= h;
      h = 0;
    }
    this.sqHead = h;
  }

  /** Forget every fetched WQE (a flush). */
  clearSq(): void {
    this.sq = [];
    this.sqHead = 0;
  }
  /** Requester state. */
  readonly req: RequesterState = new RequesterState();
  /** Completer state. */
  readonly comp: CompleterState = new CompleterState();
  /** Responder state. */
  readonly resp: ResponderState = new ResponderState();

  /**
   * Create it (hardware state; the device builds these).
   * @param qpn the QP number */
  constructor(readonly qpn: number) {}

  /** SQ entry address of counter `c`. */
  sqWqeAddr(c: number): number {
    return this.sqAddr + (c % this.sqSize) * this.sqStride;
  }

  /** RQ entry address of counter `c`. */
  rqWqeAddr(c: number): number {
    return this.rqAddr + (c % this.rqSize) * this.rqStride;
  }

  /** Path MTU in bytes. */
  get mtuBytes(): number {
    return IBA_MTUS[this.mtu - MTU_CODE_MIN];
  }
}
