/**
 * The QP context (QPC) as the device holds it: attributes the commands set,
 * the doorbell counters, and the state of the three transport engines —
 * requester (`requester.ts`), completer (`completer.ts`) and responder
 * (`responder.ts`) — which keep their per-QP state here, like Linux rxe's
 * `rxe_qp` with its req/comp/resp parts.
 *
 * @module
 */

import type { EventHandle } from "../sim/engine.ts";
import type { HwQpState, PathParams, QpServiceType } from "./commands.ts";
import type { CompletionQueue } from "./cq.ts";
import type { MptEntry } from "./mpt.ts";
import type { Packet, PacketInit } from "./packet.ts";
import type { SharedReceiveQueue } from "./srq.ts";
import type { ParsedSendWqe } from "./wqe.ts";

/**
 * PSNs are 24-bit (IBTA §9.7.1).
 *
 * @example
 * ```ts
 * import { PSN_MASK } from "./qp.ts";
 * console.log((PSN_MASK + 1) & PSN_MASK); // 0: the PSN after 0xffffff
 * ```
 */
export const PSN_MASK = 0xffffff;

/**
 * `a - b` in PSN space, as a signed 24-bit distance (IBTA §9.7.1 modulo 2^24 arithmetic).
 *
 * @example
 * ```ts
 * import { psnDiff } from "./qp.ts";
 * console.log(psnDiff(3, 0xfffffd), psnDiff(0xfffffd, 3)); // 6 -6
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
 * import { psnAdd } from "./qp.ts";
 * console.log(psnAdd(0xfffffe, 5)); // 3
 * ```
 */
export function psnAdd(psn: number, n: number): number {
  return (psn + n) & PSN_MASK;
}

/**
 * Operation classes of a send WQE.
 *
 * @example
 * ```ts
 * import { WqeKind } from "./qp.ts";
 * // READ and atomic WQEs count against max_rd_atomic; SEND and WRITE do not.
 * const rdAtomic = (k: number) => k === WqeKind.READ || k === WqeKind.ATOMIC;
 * console.log(rdAtomic(WqeKind.WRITE)); // false
 * ```
 */
export const WqeKind = { SEND: 0, WRITE: 1, READ: 2, ATOMIC: 3 } as const;

/**
 * A send WQE the requester has fetched, with its transport bookkeeping.
 *
 * @example
 * ```ts
 * import type { SendWqe } from "./qp.ts";
 * // The requester's view of a WQE: which PSNs it took.
 * const lastPsn = (w: SendWqe) => (w.firstPsn + w.npsn - 1) & 0xffffff;
 * console.log(lastPsn({ firstPsn: 0xfffffe, npsn: 4 } as SendWqe)); // 1
 * ```
 */
export interface SendWqe {
  /** SQ counter of this WQE (u32). */
  counter: number;
  /** Parsed WQE, or undefined if it was malformed (then `failStatus` says why). */
  wqe: ParsedSendWqe | undefined;
  /** {@link WqeKind}. */
  kind: number;
  /** Write a CQE on success. */
  signaled: boolean;
  /** A local error found before sending: completes with it, in order (0 = none). */
  failStatus: number;
  /** Syndrome of `failStatus`. */
  failSyndrome: number;
  /** wqeProcessNs has been paid. */
  started: boolean;
  /** PSNs given out: `firstPsn` and how many the WQE uses. */
  psnAssigned: boolean;
  /** PSN of the first packet. */
  firstPsn: number;
  /** PSNs used. */
  npsn: number;
  /** Request packets in all (READ/atomic: 1) and issued in the current round. */
  npkts: number;
  /** Request packets issued this round. */
  sentPkts: number;
  /** RDMA READ: response packets and bytes placed so far. */
  readPkts: number;
  /** Response bytes placed. */
  readDone: number;
  /** Counted in `rdAtomicOutstanding`. */
  rdCounted: boolean;
  /** Completed. */
  done: boolean;
}

/**
 * A responder resource: a recent RDMA READ or atomic, replayed for duplicates (IBTA §9.7.5.2.5–6).
 *
 * @example
 * ```ts
 * import type { ResponderResource } from "./qp.ts";
 * import { psnDiff } from "./qp.ts";
 * // A duplicate READ request is served again if its PSN falls in a remembered READ.
 * const covers = (r: ResponderResource, psn: number) => psnDiff(psn, r.firstPsn) >= 0 && psnDiff(psn, r.firstPsn) < r.npsn;
 * console.log(covers({ kind: "read", firstPsn: 10, npsn: 4 } as ResponderResource, 12)); // true
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
 * import type { TxSlot } from "./qp.ts";
 * // Packets leave in issue order: only a ready head slot may go.
 * const canSend = (slots: TxSlot[]) => slots.length > 0 && slots[0].ready;
 * console.log(canSend([{ ready: false } as TxSlot, { ready: true } as TxSlot])); // false
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
 * import { RespKind } from "./qp.ts";
 * console.log(Object.keys(RespKind)); // [ "READ", "ATOMIC", "ACK" ]
 * ```
 */
export const RespKind = { READ: 0, ATOMIC: 1, ACK: 2 } as const;

/**
 * A response the responder owes: READ response packets, an atomic ACK, or an ACK/NAK.
 *
 * @example
 * ```ts
 * import { type RespEntry, RespKind } from "./qp.ts";
 * const pending = (e: RespEntry) => e.kind === RespKind.READ ? e.npkts - e.issued : 1;
 * console.log(pending({ kind: RespKind.READ, npkts: 5, issued: 2 } as RespEntry)); // 3
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
 * Receive message in progress at the responder.
 *
 * @example
 * ```ts
 * import type { RecvInProgress } from "./qp.ts";
 * const room = (r: RecvInProgress) => r.capacity - r.offset;
 * console.log(room({ capacity: 4096, offset: 2048 } as RecvInProgress)); // 2048
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
  /** A local error seen (LOC_LEN_ERR / LOC_PROT_ERR status), data dropped from then on. */
  status: number;
  /** Syndrome. */
  syndrome: number;
}

/**
 * One QP context.
 *
 * @example
 * ```ts
 * import { Qp } from "./qp.ts";
 * const qp = new Qp(5);
 * console.log(qp.state); // 0 (RESET)
 * ```
 */
export class Qp {
  // --- attributes (commands) ---
  /** QP state. */
  state: HwQpState = 0;
  /** Service type. */
  type: QpServiceType = 2;
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
  /** Remote access allowed (HwAccess REMOTE_* bits). */
  accessFlags = 0;
  /** Remote QPN. */
  destQpn = 0;
  /** Responder PSN set at INIT2RTR. */
  rqPsn = 0;
  /** Requester PSN set at RTR2RTS. */
  sqPsn = 0;
  /** Path MTU code. */
  mtu = 4;
  /** Primary path. */
  path: PathParams = { dlid: 0, sl: 0, srcPathBits: 0 };
  /** Local ACK timeout exponent. */
  timeout = 0;
  /** Transport retries. */
  retryCnt = 7;
  /** RNR retries (7 = infinite). */
  rnrRetry = 7;
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

  // --- requester ---
  /** SQ counter of the next WQE to fetch. */
  sqFetch = 0;
  /** WQE fetches in flight. */
  fetching = 0;
  /** Fetched WQEs, oldest first, until completed: the requester walks it with `reqIndex`. */
  sq: SendWqe[] = [];
  /** Index in `sq` of the WQE the requester works on, and the PSN it sends next. */
  reqIndex = 0;
  /** Packets of the current WQE already issued (to compute the next offset). */
  reqPkt = 0;
  /** PSN the requester sends next. */
  nextPsn = 0;
  /** One past the highest PSN ever sent (a rewind lowers `nextPsn`, not this). */
  psnHigh = 0;
  /** Oldest PSN not yet acknowledged. */
  unackedPsn = 0;
  /** RDMA READ/atomic requests outstanding (counted against maxRdAtomic). */
  rdAtomicOutstanding = 0;
  /** Packets issued to DMA/port and not yet transmitted (requester window). */
  txInFlight = 0;
  /** A step of the requester is scheduled. */
  reqScheduled = false;
  /** Requester waits (RNR back-off) until this time. */
  reqHoldUntil = 0;
  /** Transport retries left. */
  retriesLeft = 7;
  /** RNR retries left. */
  rnrRetriesLeft = 7;
  /** Pending retransmission timer event. */
  retransmitTimer: EventHandle | undefined;
  /** When the retransmission timer expires (0 = stopped); the event is moved lazily. */
  timerDeadline = 0;
  /** A WQE failed locally: the requester sends nothing more until the QP leaves the error path. */
  sqError = false;
  /** READ response gap: the PSN a retry was already issued for (retry once per gap). */
  readRetryPsn: number = -1;
  /** Packets since the last AckReq (the requester asks for an ACK at least every so often). */
  noAckPkts = 0;
  /** SQD: drain requested; event raised once drained. */
  draining = false;
  /** Bumped on every retry/error so that in-flight DMA callbacks of older rounds are discarded. */
  epoch = 0;
  /** Bumped when the SQ is flushed or the QP reset: WQE fetches in flight are discarded. */
  fetchEpoch = 0;
  /** Request packets in issue order; each leaves only after every earlier one (PSN order on the wire). */
  reqSlots: TxSlot[] = [];

  // --- responder ---
  /** PSN the responder expects. */
  expectedPsn = 0;
  /** Message sequence number (AETH). */
  msn = 0;
  /** RQ WQEs taken. */
  rqConsumer = 0;
  /** Receive message in progress. */
  recv: RecvInProgress | undefined;
  /** RDMA WRITE in progress: target region and next address. */
  writeMpt: MptEntry | undefined;
  /** RDMA WRITE: next address. */
  writeVa = 0;
  /** RDMA WRITE: bytes still expected. */
  writeLeft = 0;
  /** A sequence-error NAK was sent and the expected PSN has not arrived since (send it once, IBTA §9.7.5.2.2). */
  nakSent = false;
  /** UC: the current message is being dropped until the next First/Only. */
  ucDropping = false;
  /** Last opcode accepted (opcode sequence checks, IBTA §9.7.5.1.x / C9-32). */
  lastOpcode: number = -1;
  /** Responder resources, oldest first, at most maxDestRdAtomic (+ replay history). */
  resources: ResponderResource[] = [];
  /** Responder is busy with a packet (receive WQE fetch); later packets wait here. */
  respBusy = false;
  /** Read-response packets between DMA and the port (responder window). */
  respTxInFlight = 0;
  /** Responses in PSN order; each leaves only after every earlier one. */
  respSlots: TxSlot[] = [];
  /** Responses owed, in PSN order. */
  responses: RespEntry[] = [];
  /** Bumped when the responder's in-flight work must be discarded (error, reset). */
  respEpoch = 0;
  /** RDMA WRITE: whole DMA length of the message in progress. */
  writeTotal = 0;
  /** ACK coalescing: the PSN to acknowledge when the delay expires (-1 = none pending). */
  ackPendingPsn: number = -1;
  /** ...and the earliest time it may leave. */
  ackPendingAt = 0;
  /** Packets waiting while a receive WQE is fetched. */
  respQueue: { pkt: Packet; raw: Uint8Array }[] = [];
  /** COMM_EST was raised. */
  commEst = false;

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
    return 128 << this.mtu;
  }
}
