/**
 * The receive side of a QP (rxe_resp's role): PSN checks and duplicate
 * handling, receive WQE consumption (RNR NAK when none is posted), data
 * placement for SEND and RDMA WRITE, RDMA READ responses, atomics with a
 * replay cache, ACK generation, UD Q_Key checks and GRH space, immediate data
 * and solicited events (IBTA vol 1 §9.7.5.1–2 responder, §9.8 UC, §9.6 and
 * §11.4.1 UD, §10.7 receive WQEs).
 *
 * Each request packet walks the named states of {@link RespState}, in the
 * order rxe_resp.c checks a request: CHK_PSN, CHK_OP_SEQ, CHK_OP_VALID,
 * CHK_RESOURCE, CHK_LENGTH, CHK_RKEY, then EXECUTE, COMPLETE, ACKNOWLEDGE. A
 * check that fails moves to an ERR_* state, which answers the way the
 * service demands: RC NAKs (and for classes C/D moves the QP to ERR), UC drops
 * the message, UD drops the datagram or completes its WQE in error. The
 * per-QP state is `qp.resp`.
 *
 * Responses (ACKs, NAKs, READ response packets, atomic ACKs) leave strictly
 * in PSN order from a per-QP queue, since the requester reads an ACK for a
 * later PSN as "the earlier READ response was lost" (§9.7.5.1.2).
 *
 * @module
 */

import { takeFirst } from "../sim/queue.ts";
import { EqeType, HwQpState, MptAccess, QpAccess, QpServiceType } from "./commands.ts";
import type { HcaCore } from "./core.ts";
import { CqeSyndrome, CqeVendorErr } from "./cqe.ts";
import type { MptEntry } from "./mpt.ts";
import { Line } from "../sim/line.ts";
import { OP, opcodeInfo } from "./opcode.ts";
import {
  aethSyndrome,
  bthRecord,
  GRH_BYTES,
  LRH_BYTES,
  type Packet,
  type PacketInit,
  type WirePacket,
} from "./packet.ts";
import {
  MSN_MASK,
  psnAdd,
  psnDiff,
  type Qp,
  type RecvInProgress,
  type RespEntry,
  RespKind,
  type ResponderResource,
  type ResponderState,
  type TxSlot,
} from "./qp.ts";
import { type Transport, TxWindow, UNROUTED } from "./transport.ts";
import { decodeRecvWqe } from "./wqe.ts";

/**
 * Responder resources kept for duplicate READ/atomic replay (IBTA §9.7.5), at least: a QP keeps
 * max_dest_rd_atomic of them when that is more (`#remember`).
 */
const REPLAY_DEPTH = 16;
/** Largest RDMA READ a request may ask for (IBTA vol 1 §9.4: DMA lengths up to 2^31 bytes). */
const MAX_DMA_LENGTH = 2 ** 31;
/** Bytes an atomic operates on, and their alignment (IBTA vol 1 §9.4.5). */
const ATOMIC_BYTES = 8;
/** The QP enable each remote operation needs (`qp_access_flags`); SEND needs none. */
const QP_ENABLE_OF: Readonly<Record<string, number>> = {
  write: QpAccess.REMOTE_WRITE,
  read: QpAccess.REMOTE_READ,
  atomic: QpAccess.REMOTE_ATOMIC,
};
/**
 * Bytes of GRH space at the start of a UD receive buffer (IBTA §11.4.1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UD_GRH_SPACE } from "./responder.ts";
 * // A UD receive buffer needs room for the GRH before the payload (IBTA §11.4.1).
 * const payloadRoom = (scatterBytes: number) => scatterBytes - UD_GRH_SPACE;
 * assert.equal(payloadRoom(2048 + 40), 2048);
 * ```
 */
export const UD_GRH_SPACE = 40;

const ACK_SYNDROME = aethSyndrome.ack(aethSyndrome.CREDITS_INVALID);

/**
 * The responder's states (rxe_resp.c `enum resp_states`). A request packet
 * runs the checks in this order; the first that fails picks an ERR_* state.
 *
 * | state | what is checked or done | rule |
 * | --- | --- | --- |
 * | CHK_PSN | RC: the expected PSN (later → sequence NAK once; earlier → duplicate). UC: a gap drops the message, resynchronizing on a First/Only | IBTA vol 1 §9.7.5.1.1, §9.7.5.2.2; §9.8.2 |
 * | CHK_OP_SEQ | First/Middle/Last follow each other within a message | §9.7.5.2 (C9-32), §9.8.2 |
 * | CHK_OP_VALID | UC serves only SEND and RDMA WRITE; RC/UC: the QP enables the RDMA or atomic operation, whatever its length (RC: Invalid Request NAK, UC: dropped); UD: the Q_Key matches | §9.2 table 38; rxe check_op_valid; §3.5.3, §9.6 |
 * | CHK_RESOURCE | a receive WQE for a SEND or a WRITE with immediate (none: RNR NAK); a free responder resource for a READ/atomic | §9.7.5.2.8; §9.4.4, §9.7.5.2 (max_dest_rd_atomic) |
 * | CHK_LENGTH | the message fits the receive WQE (UD: with 40 bytes of GRH); a READ asks for at most 2^31 bytes; an atomic is 8-byte aligned | §10.7.2.2, §9.7.5.2; §11.4.1; §9.4; §9.4.5 |
 * | CHK_RKEY | the R_Key's region (PD, bounds, rights) allows the operation; an RDMA WRITE packet's length agrees with its RETH | §10.6.3, §9.7.5.2 |
 * | EXECUTE | place the data / queue the READ response / run the atomic | §9.4 |
 * | COMPLETE | the receive WQE's CQE on a message's last packet | §10.8 |
 * | ACKNOWLEDGE | RC: an ACK for an AckReq packet, once the data is visible | §9.7.5.1.2 |
 * | DUPLICATE_REQUEST | re-ACK, or replay a READ response or an atomic's result | §9.7.5.2.5–6 |
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RespState } from "./responder.ts";
 * const checks = Object.keys(RespState).filter((k) => k.startsWith("CHK_"));
 * assert.deepEqual(checks, ["CHK_PSN", "CHK_OP_SEQ", "CHK_OP_VALID", "CHK_RESOURCE", "CHK_LENGTH", "CHK_RKEY"]);
 * assert.ok(RespState.CHK_RKEY < RespState.EXECUTE && RespState.EXECUTE < RespState.ACKNOWLEDGE);
 * ```
 */
export const RespState = {
  CHK_PSN: 0,
  CHK_OP_SEQ: 1,
  CHK_OP_VALID: 2,
  CHK_RESOURCE: 3,
  CHK_LENGTH: 4,
  CHK_RKEY: 5,
  EXECUTE: 6,
  COMPLETE: 7,
  ACKNOWLEDGE: 8,
  DUPLICATE_REQUEST: 9,
  /** RC: a PSN ahead of the expected one (NAK once, then drop). */
  ERR_PSN_OUT_OF_SEQ: 10,
  /** A First without the previous message's Last, or a Middle/Last without a First. */
  ERR_MISSING_OPCODE: 11,
  /** An operation the service does not carry (UC), or the QP does not enable (RC, UC). */
  ERR_UNSUPPORTED_OPCODE: 12,
  /** UD: the Q_Key is not the QP's. */
  ERR_QKEY_VIOLATION: 13,
  /** More READ/atomic requests than max_dest_rd_atomic. */
  ERR_TOO_MANY_RDMA_ATM_REQ: 14,
  /** No receive WQE posted. */
  ERR_RNR: 15,
  /** Message or request length error. */
  ERR_LENGTH: 16,
  /** Atomic at an address not 8-byte aligned. */
  ERR_MISALIGNED_ATOMIC: 17,
  /** The R_Key does not allow the operation (its region: key, PD, bounds, rights). */
  ERR_RKEY_VIOLATION: 18,
  /** The receive WQE could not be used (fetch or scatter failed). */
  ERR_MALFORMED_WQE: 19,
  /** UC: drop the rest of the message silently. */
  DROP_MSG: 20,
  /** Finished with this packet (or waiting: it runs again when its receive WQE is fetched). */
  DONE: 21,
} as const;
/** A value of {@link RespState}. */
export type RespState = (typeof RespState)[keyof typeof RespState];

/**
 * One HCA's responder (all QPs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Responder } from "./responder.ts";
 * // The device builds one; its per-QP state lives in `qp.resp`.
 * assert.equal(typeof Responder.prototype.onRequest, "function");
 * ```
 */
export class Responder {
  #tagFetch: number;
  #tagWrite: number;
  // RDMA WRITE payloads whose DMA write is on its way, in issue order: the bus
  // makes writes visible in the order they were issued, so their events fire
  // in that order, and one handler made once takes each from here (no
  // closure per packet).
  #wrMr: MptEntry[] = [];
  #wrVa: number[] = [];
  #wrData: Uint8Array[] = [];
  #wrRaw: WirePacket[] = [];
  #wrQpn: number[] = [];
  #wrPsn: number[] = [];
  #wrEpoch: number[] = [];
  #wrLine = new Line([this.#wrMr, this.#wrData, this.#wrRaw], [
    this.#wrVa,
    this.#wrQpn,
    this.#wrPsn,
    this.#wrEpoch,
  ]);
  #tagRead: number;
  #tagAck: number;
  #scratch = new Uint8Array(1024);
  /** Per packet: the region CHK_RKEY found for a READ or atomic. */
  #mr: MptEntry | undefined;
  /** Per packet: the UD receive WQE CHK_RESOURCE took. */
  #udWqe: RecvInProgress | undefined;
  /** Per packet: the error an ERR_LENGTH/ERR_MALFORMED_WQE completes the receive WQE with. */
  #errSyndrome = 0;
  #errVendorErr = 0;

  /**
   * Create it (hardware state; the device builds these).
   * @param core device internals
   * @param tp shared transport services
   */
  constructor(private core: HcaCore, private tp: Transport) {
    const e = core.engine;
    this.#tagFetch = e.tag("hca.recv_wqe_fetch");
    this.#tagWrite = e.tag("hca.resp_write");
    this.#tagRead = e.tag("hca.read_resp");
    this.#tagAck = e.tag("hca.ack_delay");
  }

  /** Receive doorbell: new RQ producer counter. False if implausible (→ rejected). */
  doorbell(qp: Qp, counter: number): boolean {
    const c = counter >>> 0;
    const consumer = qp.resp.rqConsumer;
    if (((c - consumer) >>> 0) > qp.rqSize || ((c - qp.rqProducer) >>> 0) > qp.rqSize) {
      return false;
    }
    qp.rqProducer = c;
    if (qp.state === HwQpState.ERR) this.tp.flushRecv(qp);
    return true;
  }

  /** A request packet for `qp` (the device checked QPN and transport). `raw` is the packet as it came (its wire bytes hold a UD datagram's GRH). */
  onRequest(qp: Qp, pkt: Packet, raw: WirePacket): void {
    const s = qp.state;
    if (s !== HwQpState.RTR && s !== HwQpState.RTS && s !== HwQpState.SQD && s !== HwQpState.SQE) {
      this.core.counters.packetsDropped++;
      return;
    }
    const resp = qp.resp;
    if (resp.fatal !== undefined) {
      // An error is waiting for the responses owed before it: nothing more is taken.
      this.core.counters.packetsDropped++;
      return;
    }
    if (resp.busy || resp.queue.length > resp.queueHead) {
      resp.queue.push({ pkt, raw });
      this.tp.requestsHeld++;
      return;
    }
    this.#handle(qp, pkt, raw);
  }

  #drain(qp: Qp): void {
    const resp = qp.resp;
    // Taken from the front by index: `shift` copies the array, and a UD flood keeps hundreds of
    // thousands of packets waiting here (ib_send_bw -c UD ran in time quadratic in its messages).
    while (!resp.busy && resp.queueHead < resp.queue.length) {
      const q = resp.queue, h = resp.queueHead;
      const { pkt, raw } = q[h]!;
      q[h] = undefined;
      this.tp.requestsHeld--;
      resp.queueHead = h + 1;
      if (resp.queueHead === q.length) {
        q.length = 0;
        resp.queueHead = 0;
      } else if (resp.queueHead >= 4096 && resp.queueHead * 2 >= q.length) {
        q.splice(0, resp.queueHead);
        resp.queueHead = 0;
      }
      this.#handle(qp, pkt, raw);
    }
  }

  /** Run one request packet through the responder's states. */
  #handle(qp: Qp, pkt: Packet, raw: WirePacket): void {
    let st: RespState = RespState.CHK_PSN;
    for (;;) {
      switch (st) {
        case RespState.CHK_PSN:
          st = this.#checkPsn(qp, pkt);
          break;
        case RespState.CHK_OP_SEQ:
          st = this.#checkOpSeq(qp, pkt);
          if (st === RespState.CHK_OP_VALID) this.#established(qp);
          break;
        case RespState.CHK_OP_VALID:
          st = this.#checkOpValid(qp, pkt);
          break;
        case RespState.CHK_RESOURCE:
          st = this.#checkResource(qp, pkt, raw);
          break;
        case RespState.CHK_LENGTH:
          st = this.#checkLength(qp, pkt);
          break;
        case RespState.CHK_RKEY:
          st = this.#checkRkey(qp, pkt);
          break;
        case RespState.EXECUTE:
          st = this.#execute(qp, pkt, raw);
          break;
        case RespState.COMPLETE:
          st = this.#complete(qp, pkt);
          break;
        case RespState.ACKNOWLEDGE:
          return this.#acknowledge(qp, pkt);
        case RespState.DUPLICATE_REQUEST:
          return this.#duplicate(qp, pkt);
        case RespState.ERR_PSN_OUT_OF_SEQ:
          return this.#errPsnOutOfSeq(qp);
        case RespState.ERR_MISSING_OPCODE:
        case RespState.ERR_TOO_MANY_RDMA_ATM_REQ:
        case RespState.ERR_MISALIGNED_ATOMIC:
          // IBTA vol 1 §9.7.5.2 class B/C: Invalid Request NAK, QP to error.
          return this.#fatal(
            qp,
            aethSyndrome.NAK_INVALID_REQUEST,
            pkt.bth.psn,
            EqeType.WQ_INVAL_REQ_ERROR,
          );
        case RespState.ERR_UNSUPPORTED_OPCODE:
          if (qp.type !== QpServiceType.RC) return this.#ucDrop(qp, pkt);
          // An RDMA or atomic operation the QP does not enable is an Invalid Request, class C: NAK
          // and QP to error (Linux rxe_resp.c: check_op_valid's RESPST_ERR_UNSUPPORTED_OPCODE →
          // do_class_ac_error(AETH_NAK_INVALID_REQ, IB_WC_REM_INV_REQ_ERR); rdmavt's qib/hfi1
          // rc_rcv `goto nack_inv`), not a Remote Access Error, which is about the R_Key's region.
          return this.#fatal(
            qp,
            aethSyndrome.NAK_INVALID_REQUEST,
            pkt.bth.psn,
            EqeType.WQ_INVAL_REQ_ERROR,
          );
        case RespState.ERR_QKEY_VIOLATION:
          return this.#qkeyViolation(qp);
        case RespState.ERR_RNR:
          return this.#errRnr(qp, pkt);
        case RespState.ERR_LENGTH:
          return this.#errLength(qp, pkt);
        case RespState.ERR_RKEY_VIOLATION:
          // IBTA vol 1 §9.7.5.2 class C: Remote Access Error NAK, QP to error.
          return this.#fatal(
            qp,
            aethSyndrome.NAK_REMOTE_ACCESS,
            pkt.bth.psn,
            EqeType.WQ_ACCESS_ERROR,
          );
        case RespState.ERR_MALFORMED_WQE:
          return this.#errMalformedWqe(qp, pkt);
        case RespState.DROP_MSG:
          return this.#ucDrop(qp, pkt);
        case RespState.DONE:
          return;
      }
    }
  }

  /** An ERR_LENGTH/ERR_MALFORMED_WQE that completes the receive WQE with `syndrome`. */
  #recvErr(st: RespState, syndrome: number, vendorErr: number): RespState {
    this.#errSyndrome = syndrome;
    this.#errVendorErr = vendorErr;
    return st;
  }

  // ---- CHK_PSN ----------------------------------------------------------

  #checkPsn(qp: Qp, pkt: Packet): RespState {
    const resp = qp.resp;
    const psn = pkt.bth.psn;
    if (qp.type === QpServiceType.RC) {
      const d = psnDiff(psn, resp.psn);
      if (d > 0) return RespState.ERR_PSN_OUT_OF_SEQ;
      if (d < 0) return RespState.DUPLICATE_REQUEST;
      return RespState.CHK_OP_SEQ;
    }
    if (qp.type === QpServiceType.UC && (psnDiff(psn, resp.psn) !== 0 || resp.dropMsg)) {
      // IBTA vol 1 §9.8.2 (UC): a gap loses the message in progress; resynchronize on the next First/Only.
      if (psnDiff(psn, resp.psn) !== 0) this.#ucAbandon(qp);
      if (!pkt.info.isFirst) {
        resp.psn = psnAdd(psn, 1);
        resp.dropMsg = true;
        this.core.counters.packetsDropped++;
        return RespState.DONE;
      }
      resp.dropMsg = false;
      resp.psn = psn;
      resp.opcode = -1;
    }
    return RespState.CHK_OP_SEQ;
  }

  /** IBTA §9.7.5: PSN sequence error — NAK once, drop until the expected PSN arrives. */
  #errPsnOutOfSeq(qp: Qp): void {
    const resp = qp.resp;
    if (!resp.sentPsnNak) {
      resp.sentPsnNak = true;
      this.core.counters.seqNaksSent++;
      this.#respond(qp, aethSyndrome.nak(aethSyndrome.NAK_PSN_SEQUENCE), resp.psn);
    }
    this.core.counters.packetsDropped++;
  }

  /**
   * A connected QP in RTR took its first packet in sequence: communication is established
   * (IBTA vol 1 §11.6.3, the Communication Established event), raised once. Only RC and UC
   * have it, and only for a packet the PSN and opcode-sequence checks passed: Linux qib's
   * qib_rc_rcv and qib_uc_rcv (as rdmavt's rvt_comm_est for hfi1) raise it there, after an
   * out-of-sequence packet has gone to its error path, and qib_ud_rcv never does.
   */
  #established(qp: Qp): void {
    const resp = qp.resp;
    if (qp.state !== HwQpState.RTR || resp.commEst || qp.type === QpServiceType.UD) return;
    resp.commEst = true;
    this.core.asyncEvent(EqeType.COMM_EST, 0, qp.qpn);
  }

  // ---- CHK_OP_SEQ -------------------------------------------------------

  /**
   * First/Middle/Last ordering within a message (IBTA vol 1 §9.7.5.2, C9-32;
   * §9.8.2 for UC): inside a SEND or WRITE only its Middle/Last may follow;
   * between messages only a First or Only.
   */
  #checkOpSeq(qp: Qp, pkt: Packet): RespState {
    if (qp.type === QpServiceType.UD) return RespState.CHK_OP_VALID;
    const info = pkt.info;
    const prev = qp.resp.opcode < 0 ? undefined : opcodeInfo(qp.resp.opcode);
    const ok = prev ? info.operation === prev.operation && !info.isFirst : info.isFirst;
    if (ok) return RespState.CHK_OP_VALID;
    return qp.type === QpServiceType.RC ? RespState.ERR_MISSING_OPCODE : RespState.DROP_MSG;
  }

  // ---- CHK_OP_VALID -----------------------------------------------------

  #checkOpValid(qp: Qp, pkt: Packet): RespState {
    if (qp.type === QpServiceType.UD) {
      // IBTA vol 1 §3.5.3 / §9.6 (Q_Key check): a Q_Key that does not match the QP's is dropped silently.
      return pkt.deth!.qkey === qp.qkey ? RespState.CHK_RESOURCE : RespState.ERR_QKEY_VIOLATION;
    }
    // UC carries SEND and RDMA WRITE only (IBTA §9.2 table 38).
    const op = pkt.info.operation;
    if (qp.type === QpServiceType.UC && op !== "send" && op !== "write") {
      return RespState.ERR_UNSUPPORTED_OPCODE;
    }
    // The QP must enable an RDMA or atomic operation (`qp_access_flags`), checked for every packet
    // of it and before its length, so a zero-length RDMA WRITE or READ, which names no memory, is
    // refused too (Linux rxe_resp.c check_op_valid; qib/hfi1 rc_rcv test the enable before the
    // RETH length). ibv_poll_cq's REM_INV_REQ_ERR: "the operation is not supported by this receive
    // queue (qp_access_flags in remote QP wasn't configured to support this operation)".
    const enable = QP_ENABLE_OF[op];
    if (enable !== undefined && !(qp.accessFlags & enable)) return RespState.ERR_UNSUPPORTED_OPCODE;
    return RespState.CHK_RESOURCE;
  }

  /**
   * A datagram whose Q_Key is not the QP's: dropped silently (IBTA vol 1 §9.6, Q_Key check) and
   * counted in the port's PortInfo:Q_KeyViolations (§14.2.5.6), which `ibv_query_port` reports as
   * `qkey_viol_cntr` (Linux rxe_recv.c `check_keys` → `set_qkey_viol_cntr`; mthca_query_port
   * reads it from PortInfo). Only a violating datagram comes here.
   */
  #qkeyViolation(qp: Qp): void {
    const c = this.core.counters;
    c.packetsDropped++;
    c.qkeyViolations++;
    const port = this.tp.port(qp.port);
    if (port) port.counters.qkeyViolations++;
  }

  // ---- CHK_RESOURCE -----------------------------------------------------

  #hasRecvWqe(qp: Qp): boolean {
    return qp.srq ? qp.srq.available > 0 : qp.rqProducer !== qp.resp.rqConsumer;
  }

  /**
   * The receive WQE a SEND needs (fetched by DMA: the packet runs again when
   * it arrives), the receive WQE a WRITE with immediate will take, or a free
   * responder resource for a READ/atomic.
   */
  #checkResource(qp: Qp, pkt: Packet, raw: WirePacket): RespState {
    const resp = qp.resp;
    const info = pkt.info;
    switch (info.operation) {
      case "send": {
        if (qp.type === QpServiceType.UD) {
          const r = resp.wqe;
          if (!r) return this.#takeRecvWqe(qp, pkt, raw) ? RespState.DONE : RespState.ERR_RNR;
          // A datagram takes its WQE whatever happens next.
          resp.wqe = undefined;
          this.#udWqe = r;
          if (r.syndrome !== 0) {
            return this.#recvErr(RespState.ERR_MALFORMED_WQE, r.syndrome, r.vendorErr);
          }
          return RespState.CHK_LENGTH;
        }
        if (info.isFirst && !resp.wqe) {
          return this.#takeRecvWqe(qp, pkt, raw) ? RespState.DONE : RespState.ERR_RNR;
        }
        const r = resp.wqe;
        if (!r) return RespState.DROP_MSG;
        if (r.syndrome !== 0) {
          // Our own receive WQE is unusable: Remote Operational Error (IBTA §9.7.5.2 class D).
          return this.#recvErr(RespState.ERR_MALFORMED_WQE, r.syndrome, r.vendorErr);
        }
        return RespState.CHK_LENGTH;
      }
      case "write":
        // WRITE with immediate consumes a receive WQE on its last packet (IBTA §9.4); check first.
        return info.hasImmediate && !this.#hasRecvWqe(qp)
          ? RespState.ERR_RNR
          : RespState.CHK_LENGTH;
      default:
        // READ/atomic requests held beyond max_dest_rd_atomic are an Invalid Request (IBTA vol 1 §9.7.5.2).
        return this.#rdAtomicFull(qp) ? RespState.ERR_TOO_MANY_RDMA_ATM_REQ : RespState.CHK_LENGTH;
    }
  }

  /**
   * Take a receive WQE and fetch it by DMA; the packet is handled again
   * when it arrives. Returns false if none is posted.
   */
  #takeRecvWqe(qp: Qp, pkt: Packet, raw: WirePacket): boolean {
    if (!this.#hasRecvWqe(qp)) return false;
    const resp = qp.resp;
    const srq = qp.srq;
    const counter = srq ? srq.take() : resp.rqConsumer;
    if (!srq) resp.rqConsumer = (counter + 1) >>> 0;
    const stride = srq ? srq.stride : qp.rqStride;
    const addr = srq ? srq.wqeAddr(counter) : qp.rqWqeAddr(counter);
    const mpt = srq ? srq.mpt : qp.wq;
    resp.busy = true;
    const epoch = resp.epoch;
    this.core.bus.read(stride, () => {
      if (resp.epoch !== epoch) return;
      resp.busy = false;
      if (this.#scratch.length < stride) this.#scratch = new Uint8Array(stride);
      const buf = this.#scratch.subarray(0, stride);
      const r: RecvInProgress = {
        counter,
        fromSrq: srq !== undefined,
        sgl: [],
        offset: 0,
        capacity: 0,
        syndrome: 0,
        vendorErr: CqeVendorErr.NONE,
      };
      if (!this.core.tpt.gather(mpt, addr, stride, buf, 0)) {
        r.syndrome = CqeSyndrome.LOCAL_PROT_ERR;
        r.vendorErr = CqeVendorErr.BAD_FRAME;
      } else {
        r.sgl = decodeRecvWqe(buf);
        const sgl = r.sgl;
        for (let k = 0; k < sgl.length; k++) r.capacity += sgl[k].length;
      }
      resp.wqe = r;
      this.#handle(qp, pkt, raw);
      this.#drain(qp);
    }, this.#tagFetch);
    return true;
  }

  /** READ/atomic requests held beyond max_dest_rd_atomic are an Invalid Request (IBTA vol 1 §9.7.5.2). */
  #rdAtomicFull(qp: Qp): boolean {
    let n = 0;
    const rs = qp.resp.responses;
    for (let k = 0; k < rs.length; k++) {
      const kind = rs[k].kind;
      if ((kind === RespKind.READ || kind === RespKind.ATOMIC) && !rs[k].replay) n++;
    }
    return n >= Math.max(1, qp.maxDestRdAtomic);
  }

  /**
   * No receive WQE: RC answers with an RNR NAK (IBTA §9.7.5.2.8), UC drops the message, UD the
   * datagram. Each dropped packet is counted once (`#ucDrop` counts the UC one).
   */
  #errRnr(qp: Qp, pkt: Packet): void {
    if (qp.type === QpServiceType.UC) return this.#ucDrop(qp, pkt);
    if (qp.type === QpServiceType.RC) {
      // Our minimum RNR timer; later packets of this burst are dropped without a sequence NAK.
      this.core.counters.rnrNaksSent++;
      qp.resp.sentPsnNak = true;
      this.#respond(qp, aethSyndrome.rnrNak(qp.minRnrTimer), pkt.bth.psn);
    }
    this.core.counters.packetsDropped++;
  }

  // ---- CHK_LENGTH -------------------------------------------------------

  #checkLength(qp: Qp, pkt: Packet): RespState {
    const len = pkt.payload.length;
    const info = pkt.info;
    // IBTA vol 1 C9-92 (rxe_resp.c check_length): a First or Middle packet carries exactly the
    // path MTU, a Last 1..MTU, an Only 0..MTU; else a length error (RC: Invalid Request NAK;
    // UC: the message is dropped). Checked for every opcode with a payload, before the
    // receive buffer or the R_Key is looked at.
    if (qp.type !== QpServiceType.UD) {
      const mtu = qp.mtuBytes;
      const bad = info.isFirst && info.isLast
        ? len > mtu
        : info.isFirst || !info.isLast
        ? len !== mtu
        : len === 0 || len > mtu;
      if (bad) {
        return info.operation === "send"
          ? this.#recvErr(RespState.ERR_LENGTH, CqeSyndrome.LOCAL_LENGTH_ERR, CqeVendorErr.LENGTH)
          : this.#recvErr(RespState.ERR_LENGTH, 0, CqeVendorErr.NONE);
      }
    }
    switch (info.operation) {
      case "send": {
        if (qp.type === QpServiceType.UD) {
          // The payload follows 40 bytes of GRH space (IBTA §11.4.1).
          return UD_GRH_SPACE + len > this.#udWqe!.capacity
            ? this.#recvErr(RespState.ERR_LENGTH, CqeSyndrome.LOCAL_LENGTH_ERR, CqeVendorErr.LENGTH)
            : RespState.CHK_RKEY;
        }
        // Message longer than the receive buffers (IBTA vol 1 §10.7.2.2 receive queue: a local length error).
        const r = qp.resp.wqe!;
        return len > 0 && r.offset + len > r.capacity
          ? this.#recvErr(RespState.ERR_LENGTH, CqeSyndrome.LOCAL_LENGTH_ERR, CqeVendorErr.LENGTH)
          : RespState.CHK_RKEY;
      }
      case "read":
        return pkt.reth!.dmaLen > MAX_DMA_LENGTH
          ? this.#recvErr(RespState.ERR_LENGTH, 0, CqeVendorErr.NONE)
          : RespState.CHK_RKEY;
      case "atomic":
        // IBTA vol 1 §9.4.5: atomics need an 8-byte aligned address, else Invalid Request.
        return Number(pkt.atomicEth!.va) % ATOMIC_BYTES !== 0
          ? RespState.ERR_MISALIGNED_ATOMIC
          : RespState.CHK_RKEY;
      default:
        // An RDMA WRITE's length is checked with its R_Key (against the RETH), as rxe does.
        return RespState.CHK_RKEY;
    }
  }

  /**
   * A length error: RC NAKs Invalid Request and moves the QP to ERR (IBTA
   * vol 1 §9.7.5.2; a SEND's receive WQE completes with LOC_LEN_ERR), UC
   * drops the message, UD drops the datagram and keeps its receive WQE.
   */
  #errLength(qp: Qp, pkt: Packet): void {
    if (qp.type === QpServiceType.UC) return this.#ucDrop(qp, pkt);
    if (qp.type === QpServiceType.UD) return this.#udDropTooLong(qp);
    this.#fatal(
      qp,
      aethSyndrome.NAK_INVALID_REQUEST,
      pkt.bth.psn,
      EqeType.WQ_INVAL_REQ_ERROR,
      this.#errSyndrome,
      this.#errVendorErr,
    );
  }

  // ---- CHK_RKEY ---------------------------------------------------------

  #checkRkey(qp: Qp, pkt: Packet): RespState {
    const info = pkt.info;
    switch (info.operation) {
      case "write": {
        const resp = qp.resp;
        const rc = qp.type === QpServiceType.RC;
        if (info.isFirst) {
          const reth = pkt.reth!;
          const va = Number(reth.va);
          const len = reth.dmaLen;
          let mpt = undefined;
          // A zero-length WRITE names no memory: its R_Key is not checked (IBTA vol 1 §9.4).
          if (len > 0) {
            mpt = this.#remoteAccess(qp, reth.rkey, va, len, MptAccess.REMOTE_WRITE);
            if (!mpt) return rc ? RespState.ERR_RKEY_VIOLATION : RespState.DROP_MSG;
          }
          resp.mr = mpt;
          resp.va = va;
          resp.resid = len;
          resp.length = len;
        } else if (resp.mr && !this.core.tpt.live(resp.mr)) {
          // The region was deregistered since the first packet: its R_Key is
          // invalid for the rest of the message (IBTA vol 1 §10.6.3.3), as
          // Linux rxe finds when it looks the key up again for every packet
          // of a WRITE (rxe_resp.c check_rkey). Writing nothing and
          // completing would lose the data behind a successful completion.
          return rc ? RespState.ERR_RKEY_VIOLATION : RespState.DROP_MSG;
        }
        // Payload disagrees with the RETH length (IBTA vol 1 §9.7.5.2: length errors are Invalid Request NAKs).
        const len = pkt.payload.length;
        if (len > resp.resid || (info.isLast ? len !== resp.resid : len !== qp.mtuBytes)) {
          return rc
            ? this.#recvErr(RespState.ERR_LENGTH, 0, CqeVendorErr.NONE)
            : RespState.DROP_MSG;
        }
        return RespState.EXECUTE;
      }
      case "read": {
        const reth = pkt.reth!;
        this.#mr = undefined;
        if (reth.dmaLen > 0) {
          this.#mr = this.#remoteAccess(
            qp,
            reth.rkey,
            Number(reth.va),
            reth.dmaLen,
            MptAccess.REMOTE_READ,
          );
          if (!this.#mr) return RespState.ERR_RKEY_VIOLATION;
        }
        return RespState.EXECUTE;
      }
      case "atomic": {
        const a = pkt.atomicEth!;
        this.#mr = this.#remoteAccess(
          qp,
          a.rkey,
          Number(a.va),
          ATOMIC_BYTES,
          MptAccess.ATOMIC,
        );
        return this.#mr ? RespState.EXECUTE : RespState.ERR_RKEY_VIOLATION;
      }
      default:
        return RespState.EXECUTE;
    }
  }

  /**
   * The R_Key check of IBTA vol 1 §10.6.3 for a remote operation the QP enables
   * (CHK_OP_VALID checked that): key, PD, bounds and the `right` in the region.
   */
  #remoteAccess(
    qp: Qp,
    rkey: number,
    va: number,
    len: number,
    right: number,
  ): MptEntry | undefined {
    const e = this.core.tpt.check(rkey, qp.pd, va, len, right);
    return typeof e === "number" ? undefined : e;
  }

  // ---- EXECUTE ----------------------------------------------------------

  #execute(qp: Qp, pkt: Packet, raw: WirePacket): RespState {
    switch (pkt.info.operation) {
      case "send":
        return qp.type === QpServiceType.UD ? this.#udPlace(qp, pkt, raw) : this.#sendData(qp, pkt);
      case "write":
        return this.#writeData(qp, pkt, raw);
      case "read":
        this.#readRequest(qp, pkt, this.#mr);
        return RespState.DONE;
      default:
        this.#atomic(qp, pkt, this.#mr!);
        return RespState.DONE;
    }
  }

  /** SEND data into the receive WQE (checks every piece before writing any). */
  #sendData(qp: Qp, pkt: Packet): RespState {
    const r = qp.resp.wqe!;
    const len = pkt.payload.length;
    if (len > 0) {
      const bad = this.#placeRecv(qp, r, r.offset, pkt.payload);
      // Our own receive buffer is bad: local protection error here, Remote
      // Operational Error for the requester (IBTA §9.7.5 class D).
      if (bad) return this.#recvErr(RespState.ERR_MALFORMED_WQE, CqeSyndrome.LOCAL_PROT_ERR, bad);
    }
    r.offset += len;
    this.#accept(qp, pkt);
    return RespState.COMPLETE;
  }

  /** RDMA WRITE data into the region CHK_RKEY validated. */
  #writeData(qp: Qp, pkt: Packet, raw: WirePacket): RespState {
    const resp = qp.resp;
    const len = pkt.payload.length;
    if (len > 0 && resp.mr) {
      const t = this.#wrLine.add();
      this.#wrMr[t] = resp.mr;
      this.#wrVa[t] = resp.va;
      this.#wrData[t] = pkt.payload;
      this.#wrRaw[t] = raw;
      this.#wrQpn[t] = qp.qpn;
      this.#wrPsn[t] = pkt.bth.psn;
      this.#wrEpoch[t] = resp.epoch;
      this.core.tpt.translated(resp.mr, this.core.bus.write(len, this.#written, this.#tagWrite));
    }
    resp.va += len;
    resp.resid -= len;
    this.#accept(qp, pkt);
    return RespState.COMPLETE;
  }

  /** The oldest RDMA WRITE payload on its way is visible in host memory. */
  #written = (): void => {
    const line = this.#wrLine;
    const h = line.head;
    const e = this.#wrMr[h], va = this.#wrVa[h], data = this.#wrData[h], raw = this.#wrRaw[h];
    const qpn = this.#wrQpn[h], psn = this.#wrPsn[h], epoch = this.#wrEpoch[h];
    line.drop();
    const tpt = this.core.tpt;
    // A write translated before HW2SW_MPT took the entry out lands: the command completes only
    // after it (MemoryTranslation.retire), so the region's frames are still pinned, and the
    // WRITE is acknowledged with its bytes in place.
    if (tpt.reachable(e)) tpt.scatter(e, va, data);
    else {
      // Never expected (the command waits for this landing); were the frames released, nothing
      // is written (fail closed), and the WRITE may not be acknowledged as if it had been (its
      // ACK waits for this landing): a Remote Access Error NAK for this packet and the QP to
      // error (IBTA vol 1 §9.7.5.2 class C); an error already pending stands. UC drops.
      const qp = this.tp.qps[qpn];
      if (
        qp !== undefined && qp.type === QpServiceType.RC && qp.resp.epoch === epoch &&
        qp.resp.fatal === undefined && qp.state !== HwQpState.ERR &&
        qp.state !== HwQpState.RESET
      ) {
        this.#fatal(qp, aethSyndrome.NAK_REMOTE_ACCESS, psn, EqeType.WQ_ACCESS_ERROR);
      }
    }
    // The payload's last use: its copy's space may be reused.
    raw.release();
  };

  /**
   * Write `data` at message offset `off` of a receive WQE's scatter list.
   * Checks every piece before writing any (fail closed); returns 0 or the
   * vendor error of the failing check.
   */
  #placeRecv(qp: Qp, r: RecvInProgress, off: number, data: Uint8Array): number {
    const tpt = this.core.tpt;
    const pd = r.fromSrq && qp.srq ? qp.srq.pd : qp.pd;
    let pos = 0;
    let done = 0;
    const plan: [number, number, number, number][] = [];
    const mrs: MptEntry[] = [];
    for (let i = 0; i < r.sgl.length && done < data.length; i++) {
      const s = r.sgl[i];
      const end = pos + s.length;
      if (off + done < end) {
        const from = off + done - pos;
        const n = Math.min(s.length - from, data.length - done);
        const e = tpt.check(s.lkey, pd, s.addr + from, n, MptAccess.LOCAL_WRITE);
        if (typeof e === "number") return e;
        plan.push([i, s.addr + from, done, n]);
        mrs.push(e);
        done += n;
      }
      pos = end;
    }
    for (let k = 0; k < plan.length; k++) {
      const step = plan[k];
      const va = step[1], at = step[2], n = step[3];
      const e = mrs[k];
      const piece = data.subarray(at, at + n);
      // Translated now: the piece lands even if the region is deregistered meanwhile, and the
      // deregistration (HW2SW_MPT) completes only after it (MemoryTranslation.retire); once it
      // has, nothing is written (fail closed).
      tpt.translated(
        e,
        this.core.bus.write(n, () => {
          if (tpt.reachable(e)) tpt.scatter(e, va, piece);
        }, this.#tagWrite),
      );
    }
    return 0;
  }

  /** The packet is accepted: advance the expected PSN and the opcode state. */
  #accept(qp: Qp, pkt: Packet): void {
    const resp = qp.resp;
    resp.psn = psnAdd(pkt.bth.psn, 1);
    resp.sentPsnNak = false;
    resp.opcode = pkt.info.isLast ? -1 : pkt.bth.opcode;
    if (pkt.info.isLast) resp.msn = (resp.msn + 1) & MSN_MASK;
  }

  /**
   * The receive WQE is unusable (not fetched, or a scatter entry fails): RC
   * and UC complete it with its error, RC NAKs Remote Operational Error
   * (IBTA §9.7.5.2 class D), and the QP goes to ERR; UD completes it in error.
   */
  #errMalformedWqe(qp: Qp, pkt: Packet): void {
    if (qp.type === QpServiceType.UD) return this.#udError(qp);
    this.#fatal(
      qp,
      aethSyndrome.NAK_REMOTE_OPERATIONAL,
      pkt.bth.psn,
      -1,
      this.#errSyndrome,
      this.#errVendorErr,
    );
  }

  // ---- COMPLETE and ACKNOWLEDGE -------------------------------------------

  #complete(qp: Qp, pkt: Packet): RespState {
    const resp = qp.resp;
    const info = pkt.info;
    if (qp.type === QpServiceType.UD) {
      const r = this.#udWqe!;
      this.tp.rqComplete(qp, r.counter, r.fromSrq, {
        opcode: pkt.bth.opcode,
        byteLen: UD_GRH_SPACE + pkt.payload.length,
        imm: pkt.immDt ?? 0,
        withImm: info.hasImmediate,
        grh: pkt.grh !== undefined,
        slid: pkt.lrh.slid,
        dlid: pkt.lrh.dlid,
        sl: pkt.lrh.sl,
        srcQp: pkt.deth!.srcQp,
        solicited: pkt.bth.se,
      });
      return RespState.DONE;
    }
    if (info.operation === "send") {
      if (info.isLast) {
        const r = resp.wqe!;
        resp.wqe = undefined;
        this.tp.rqComplete(qp, r.counter, r.fromSrq, {
          opcode: pkt.bth.opcode,
          byteLen: r.offset,
          imm: pkt.immDt ?? 0,
          withImm: info.hasImmediate,
          slid: pkt.lrh.slid,
          dlid: pkt.lrh.dlid,
          sl: pkt.lrh.sl,
          srcQp: qp.destQpn,
          solicited: pkt.bth.se,
        });
      }
      return RespState.ACKNOWLEDGE;
    }
    // RDMA WRITE: immediate data completes a receive WQE, leaving its scatter list untouched.
    if (info.hasImmediate) {
      const srq = qp.srq;
      const counter = srq ? srq.take() : resp.rqConsumer;
      if (!srq) resp.rqConsumer = (counter + 1) >>> 0;
      this.tp.rqComplete(qp, counter, srq !== undefined, {
        opcode: pkt.bth.opcode,
        byteLen: resp.length,
        imm: pkt.immDt ?? 0,
        withImm: true,
        slid: pkt.lrh.slid,
        dlid: pkt.lrh.dlid,
        sl: pkt.lrh.sl,
        srcQp: qp.destQpn,
        solicited: pkt.bth.se,
      });
    }
    if (info.isLast) resp.mr = undefined;
    return RespState.ACKNOWLEDGE;
  }

  /** RC: acknowledge an AckReq packet (IBTA vol 1 §9.7.5.1.2), coalesced. */
  #acknowledge(qp: Qp, pkt: Packet): void {
    if (qp.type !== QpServiceType.RC || !pkt.bth.ackReq) return;
    const now = this.core.engine.now;
    // The ACK leaves once the acknowledged data is in host memory (posted
    // writes visible), so a requester completion implies remote visibility.
    const vis = this.core.bus.lastVisible - now;
    const delay = Math.max(this.core.profile.hca.ackDelayNs, vis);
    if (delay <= 0) return this.#respond(qp, ACK_SYNDROME, pkt.bth.psn);
    // Coalesce: one ACK for the latest PSN when the window closes.
    const resp = qp.resp;
    const pending = resp.ackPsn >= 0;
    resp.ackPsn = pkt.bth.psn;
    resp.ackAt = now + delay;
    if (!pending) this.#ackLater(qp, delay);
  }

  /**
   * The coalesced ACK's event, `delay` from now: one function per QP made once,
   * with the epoch kept in the responder state (see `ackEpoch`), instead of a
   * closure per ACK.
   */
  #ackLater(qp: Qp, delay: number): void {
    const resp = qp.resp;
    resp.ackEpoch = resp.epoch;
    this.core.engine.post(delay, resp.ackDue ??= () => this.#ackDue(qp, resp), this.#tagAck);
  }

  #ackDue(qp: Qp, resp: ResponderState): void {
    if (resp.epoch !== resp.ackEpoch || resp.ackPsn < 0) return;
    const left = resp.ackAt - this.core.engine.now;
    if (left > 0) return void this.core.engine.post(left, resp.ackDue!, this.#tagAck);
    const psn = resp.ackPsn;
    resp.ackPsn = -1;
    this.#respond(qp, ACK_SYNDROME, psn);
  }

  // ---- DUPLICATE_REQUEST and the errors that NAK ----------------------------

  /** Duplicate request (IBTA §9.7.5): re-ACK, replay a READ, or replay an atomic result. */
  #duplicate(qp: Qp, pkt: Packet): void {
    const resp = qp.resp;
    const psn = pkt.bth.psn;
    const op = pkt.info.operation;
    if (op === "read") {
      const res = resp.resources.find((r) =>
        r.kind === "read" && psnDiff(psn, r.firstPsn) >= 0 && psnDiff(psn, r.firstPsn) < r.npsn
      );
      if (!res) return;
      // The duplicate may ask for only the tail (a resumed READ): serve what it asks.
      const reth = pkt.reth!;
      const len = reth.dmaLen;
      const va = Number(reth.va);
      const e = len > 0
        ? this.core.tpt.check(reth.rkey, qp.pd, va, len, MptAccess.REMOTE_READ)
        : undefined;
      if (typeof e === "number") {
        // A duplicate READ is executed again (IBTA vol 1 §9.7.5.2.5), R_Key check included: a
        // region deregistered since is a Remote Access Error NAK and the QP to error (class C),
        // as Linux rxe's read_reply answers a replay whose rxe_recheck_mr fails. Dropping it
        // silently would leave the requester retrying into RETRY_EXC_ERR.
        return this.#fatal(qp, aethSyndrome.NAK_REMOTE_ACCESS, psn, EqeType.WQ_ACCESS_ERROR);
      }
      this.#queueRead(qp, psn, e, va, len, true);
      return;
    }
    if (op === "atomic") {
      const res = resp.resources.find((r) => r.kind === "atomic" && r.firstPsn === psn);
      if (!res) return;
      this.#pushResponse(qp, dataless(RespKind.ATOMIC, psn, ACK_SYNDROME, true, res.orig));
      return;
    }
    // SEND/WRITE: acknowledge again with the most recent PSN (§9.7.5).
    if (pkt.bth.ackReq) this.#respond(qp, ACK_SYNDROME, psnAdd(resp.psn, -1));
  }

  /** Responder-detected error with a NAK: QP to error, async event (IBTA §9.7.5 classes C/D). */
  #fatal(
    qp: Qp,
    nakCode: number,
    psn: number,
    asyncType: number,
    recvSyndrome = 0,
    recvVendorErr = 0,
  ): void {
    const resp = qp.resp;
    if (
      qp.type === QpServiceType.RC && resp.fatal === undefined &&
      (resp.responses.length > 0 || resp.slots.length > 0)
    ) {
      // Responses leave in PSN order (IBTA vol 1 §9.7.5.1.2), and a NAK acknowledges every
      // request before its PSN: the READ and atomic responses owed for those go first. rxe's
      // read_reply finishes a READ before it takes the next request; qib_send_rc_ack holds an
      // ACK or NAK while a READ or atomic response is pending. The NAK and the move to ERR wait
      // behind them, and no request after this one is taken.
      resp.fatal = { nakCode, psn, asyncType, recvSyndrome, recvVendorErr };
      this.#pushResponse(qp, dataless(RespKind.FATAL, psn, 0, false, 0n));
      return;
    }
    this.#fatalNow(qp, nakCode, psn, asyncType, recvSyndrome, recvVendorErr);
  }

  /** The responder error's NAK (RC), the receive WQE's error and the move to ERR, now. */
  #fatalNow(
    qp: Qp,
    nakCode: number,
    psn: number,
    asyncType: number,
    recvSyndrome: number,
    recvVendorErr: number,
  ): void {
    if (qp.type === QpServiceType.RC) this.#respondNow(qp, aethSyndrome.nak(nakCode), psn);
    const resp = qp.resp;
    const r = resp.wqe;
    if (r && recvSyndrome) {
      this.tp.rqError(qp, r.counter, r.fromSrq, recvSyndrome, recvVendorErr);
      resp.wqe = undefined;
    }
    this.tp.toError(qp, asyncType);
  }

  // ---- RDMA READ and atomics (EXECUTE) -------------------------------------

  /** A READ or atomic request is taken: one message spanning `npsn` PSNs. */
  #takeRdAtomic(qp: Qp, psn: number, npsn: number): void {
    const resp = qp.resp;
    resp.psn = psnAdd(psn, npsn);
    resp.sentPsnNak = false;
    resp.opcode = -1;
    resp.msn = (resp.msn + 1) & MSN_MASK;
  }

  /** Remember the READ for duplicates, and queue its response packets (IBTA vol 1 §9.4, §9.7.5.2.5). */
  #readRequest(qp: Qp, pkt: Packet, mpt: MptEntry | undefined): void {
    const psn = pkt.bth.psn;
    const reth = pkt.reth!;
    const va = Number(reth.va);
    const len = reth.dmaLen;
    const npkts = readPackets(qp, len);
    this.#remember(qp, {
      kind: "read",
      firstPsn: psn,
      npsn: npkts,
      va,
      rkey: reth.rkey,
      length: len,
      orig: 0n,
    });
    this.#takeRdAtomic(qp, psn, npkts);
    this.#queueRead(qp, psn, mpt, va, len, false);
  }

  #queueRead(
    qp: Qp,
    psn: number,
    mpt: RespEntry["mpt"],
    va: number,
    len: number,
    replay: boolean,
  ): void {
    this.#pushResponse(qp, {
      kind: RespKind.READ,
      psn,
      npkts: readPackets(qp, len),
      issued: 0,
      mpt,
      va,
      length: len,
      syndrome: ACK_SYNDROME,
      replay,
      ready: true,
      orig: 0n,
    });
  }

  #remember(qp: Qp, r: ResponderResource): void {
    const resources = qp.resp.resources;
    resources.push(r);
    // As many as may be outstanding, so a duplicate of any of them is answered from its saved
    // result, never run again: one per responder resource, max_dest_rd_atomic of them (Linux
    // rxe_qp.c alloc_rd_atomic_resources(qp, max_dest_rd_atomic)). A fixed 16 lost the oldest
    // results of a deeper QP, and the requester asking again for them got no answer.
    if (resources.length > Math.max(REPLAY_DEPTH, qp.maxDestRdAtomic)) resources.shift();
  }

  /** Run the atomic at the memory and queue its ACK (IBTA vol 1 §9.4.5). */
  #atomic(qp: Qp, pkt: Packet, e: MptEntry): void {
    const psn = pkt.bth.psn;
    const a = pkt.atomicEth!;
    const va = Number(a.va);
    this.#takeRdAtomic(qp, psn, 1);
    const entry: RespEntry = {
      kind: RespKind.ATOMIC,
      psn,
      npkts: 1,
      issued: 0,
      mpt: e,
      va,
      length: ATOMIC_BYTES,
      syndrome: ACK_SYNDROME,
      replay: false,
      ready: false,
      orig: 0n,
    };
    this.#pushResponse(qp, entry);
    const cs = pkt.bth.opcode === OP.RC_COMPARE_SWAP;
    const resp = qp.resp;
    const epoch = resp.epoch;
    const tpt = this.core.tpt;
    // Read-modify-write at the memory: the read waits for earlier posted writes (PCI ordering).
    // Translated now (CHK_RKEY just passed): it runs even if the region is deregistered before
    // it does, as HW2SW_MPT completes only after it (MemoryTranslation.retire); once it has,
    // the atomic is refused (fail closed).
    const at = this.core.bus.read(ATOMIC_BYTES, () => {
      const buf = new Uint8Array(ATOMIC_BYTES);
      if (!tpt.reachable(e) || !tpt.gather(e, va, ATOMIC_BYTES, buf, 0)) {
        if (resp.epoch === epoch) this.#atomicRefused(qp, entry);
        return;
      }
      const dv = new DataView(buf.buffer);
      const orig = dv.getBigUint64(0, true); // host memory is little-endian
      const next = cs
        ? (orig === a.compare ? a.swapAdd : orig)
        : BigInt.asUintN(64, orig + a.swapAdd);
      if (next !== orig) {
        dv.setBigUint64(0, next, true);
        tpt.scatter(e, va, buf);
      }
      this.#remember(qp, {
        kind: "atomic",
        firstPsn: psn,
        npsn: 1,
        va,
        rkey: a.rkey,
        length: ATOMIC_BYTES,
        orig,
      });
      if (resp.epoch !== epoch) return;
      entry.orig = orig;
      entry.ready = true;
      this.kick(qp);
    }, this.#tagRead);
    tpt.translated(e, at);
  }

  /**
   * The atomic's read found its region unreachable (fail closed: HW2SW_MPT waits for a read
   * translated before it, so only a frame that is not RAM gets here): an R_Key violation, as Linux rxe_resp.c's atomic_reply answers a region no longer valid
   * (RESPST_ERR_RKEY_VIOLATION: a Remote Access Error NAK, the QP to error, IBTA vol 1 §9.7.5.2
   * class C), like a READ's response (`#readPacket`). The NAK takes the atomic's place in the
   * response order (IBTA vol 1 §9.7.5.1.2), after the responses owed before it; what was queued
   * after it goes with the move to error. An error already waiting at an earlier PSN comes first
   * and stands.
   */
  #atomicRefused(qp: Qp, entry: RespEntry): void {
    const resp = qp.resp;
    const q = resp.responses;
    const f = resp.fatal;
    if (f !== undefined && psnDiff(f.psn, entry.psn) < 0) {
      const i = q.indexOf(entry);
      if (i >= 0) q.splice(i, 1);
    } else {
      resp.fatal = {
        nakCode: aethSyndrome.NAK_REMOTE_ACCESS,
        psn: entry.psn,
        asyncType: EqeType.WQ_ACCESS_ERROR,
        recvSyndrome: 0,
        recvVendorErr: 0,
      };
      entry.kind = RespKind.FATAL;
      entry.ready = true;
    }
    this.kick(qp);
  }

  // ---- response queue ---------------------------------------------------

  /** Queue an ACK/NAK behind earlier responses (or send it now if none wait). */
  #respond(qp: Qp, syndrome: number, psn: number): void {
    if (qp.resp.responses.length === 0) return this.#respondNow(qp, syndrome, psn);
    this.#pushResponse(qp, dataless(RespKind.ACK, psn, syndrome, false, 0n));
  }

  /** An ACK/NAK, behind any response packet already reserved. */
  #respondNow(qp: Qp, syndrome: number, psn: number): void {
    const init: PacketInit = {
      lrh: UNROUTED,
      bth: bthRecord(OP.RC_ACKNOWLEDGE, qp.destQpn, psn, this.tp.pkey(qp), false, false, 0),
      aeth: { syndrome, msn: qp.resp.msn },
    };
    this.tp.route(qp, init);
    this.#emitReady(qp, init, false);
  }

  #emitReady(qp: Qp, init: PacketInit, windowed: boolean): void {
    const q = qp.resp.slots;
    // Nothing ahead of it in PSN order: it leaves now, as #flush would send it, with no slot.
    if (q.length === 0) return this.#send(qp, init, windowed);
    q.push({ ready: true, init, windowed, w: undefined, last: false });
    this.#flush(qp);
  }

  /** Hand a response packet to the port, counted in the responder's window if `windowed`. */
  #send(qp: Qp, init: PacketInit, windowed: boolean): void {
    this.tp.send(
      qp.port,
      init,
      windowed ? qp : undefined,
      windowed ? TxWindow.RESPONDER : TxWindow.NONE,
    );
  }

  /** Hand every leading filled response slot to the port, in PSN order. */
  #flush(qp: Qp): void {
    const q = qp.resp.slots;
    let dropped = false;
    while (q.length > 0 && q[0].ready) {
      const s = takeFirst(q)!;
      if (!s.init) {
        if (s.windowed) qp.resp.txInFlight--;
        dropped = true;
        continue;
      }
      this.#send(qp, s.init, s.windowed);
    }
    if (dropped) this.kick(qp);
  }

  #pushResponse(qp: Qp, r: RespEntry): void {
    qp.resp.responses.push(r);
    this.kick(qp);
  }

  /** Move owed responses into the packet order: READ packets within the window, atomics once executed. */
  kick(qp: Qp): void {
    const resp = qp.resp;
    const q = resp.responses;
    while (q.length > 0 && resp.txInFlight < this.tp.windowFor(qp)) {
      const r = q[0];
      if (r.kind === RespKind.ACK) {
        q.shift();
        this.#respondNow(qp, r.syndrome, r.psn);
        continue;
      }
      if (r.kind === RespKind.FATAL) {
        // Once every response before it has left (the last one's departure kicks again).
        if (resp.slots.length > 0) return;
        q.shift();
        const f = resp.fatal!;
        resp.fatal = undefined;
        return this.#fatalNow(
          qp,
          f.nakCode,
          f.psn,
          f.asyncType,
          f.recvSyndrome,
          f.recvVendorErr,
        );
      }
      if (r.kind === RespKind.ATOMIC) {
        if (!r.ready) return;
        q.shift();
        const init: PacketInit = {
          lrh: UNROUTED,
          bth: bthRecord(
            OP.RC_ATOMIC_ACKNOWLEDGE,
            qp.destQpn,
            r.psn,
            this.tp.pkey(qp),
            false,
            false,
            0,
          ),
          aeth: { syndrome: ACK_SYNDROME, msn: resp.msn },
          atomicAckEth: { origRemData: r.orig },
        };
        this.tp.route(qp, init);
        this.#emitReady(qp, init, false);
        continue;
      }
      this.#readPacket(qp, r);
      if (r.issued >= r.npkts) q.shift();
    }
  }

  #readPacket(qp: Qp, r: RespEntry): void {
    const i = r.issued++;
    const mtu = qp.mtuBytes;
    const off = i * mtu;
    const len = Math.min(mtu, r.length - off);
    const first = i === 0;
    const last = i === r.npkts - 1;
    const opcode = first && last
      ? OP.RC_RDMA_READ_RESPONSE_ONLY
      : first
      ? OP.RC_RDMA_READ_RESPONSE_FIRST
      : last
      ? OP.RC_RDMA_READ_RESPONSE_LAST
      : OP.RC_RDMA_READ_RESPONSE_MIDDLE;
    const psn = psnAdd(r.psn, i);
    const resp = qp.resp;
    const epoch = resp.epoch;
    resp.txInFlight++;
    const slot: TxSlot = { ready: false, init: undefined, windowed: true, w: undefined, last };
    resp.slots.push(slot);
    const tpt = this.core.tpt;
    // The device translates this response's bytes as it issues their DMA read: a read issued
    // before HW2SW_MPT took the entry out completes through it (the command waits for it,
    // MemoryTranslation.retire); one issued after finds the key gone.
    const mapped = len > 0 && r.mpt !== undefined && tpt.live(r.mpt);
    const emit = () => {
      slot.ready = true;
      if (resp.epoch === epoch && len > 0 && r.mpt && !(mapped && tpt.reachable(r.mpt))) {
        // The region was deregistered since the request was checked: a
        // Remote Access Error NAK in this response's place and the QP to
        // error (IBTA vol 1 §9.7.5.2 class C), as Linux rxe's read_reply
        // does when rxe_recheck_mr finds the key gone. Responding with
        // bytes that are not the region's would complete the READ with
        // data it never held.
        this.#fatal(qp, aethSyndrome.NAK_REMOTE_ACCESS, psn, EqeType.WQ_ACCESS_ERROR);
      } else if (resp.epoch === epoch) {
        let payload: Uint8Array | undefined;
        if (len > 0 && r.mpt) {
          payload = new Uint8Array(len);
          if (!tpt.gather(r.mpt, r.va + off, len, payload, 0)) payload.fill(0);
        }
        const init: PacketInit = {
          lrh: UNROUTED,
          bth: bthRecord(
            opcode,
            qp.destQpn,
            psn,
            this.tp.pkey(qp),
            false,
            false,
            len,
          ),
          payload,
        };
        if (first || last) init.aeth = { syndrome: ACK_SYNDROME, msn: resp.msn };
        this.tp.route(qp, init);
        slot.init = init;
      }
      this.#flush(qp);
    };
    // Read responses pass the send engine like requests do.
    const engine = this.tp.sendEngine();
    if (len > 0) {
      const at = this.core.bus.read(len, emit, this.#tagRead, engine);
      if (mapped) tpt.translated(r.mpt!, at);
    } else if (engine > 0) this.core.engine.post(engine, emit, this.#tagRead);
    else emit();
  }

  // ---- UC drops and UD placement ------------------------------------------

  /** UC: a partial message is lost: the receive WQE is reused for the next message. */
  #ucAbandon(qp: Qp): void {
    const resp = qp.resp;
    if (resp.wqe) {
      resp.wqe.offset = 0;
    }
    resp.mr = undefined;
    resp.opcode = -1;
  }

  /** UC: drop the rest of this message silently (no NAKs on UC, IBTA vol 1 §9.8.2). */
  #ucDrop(qp: Qp, pkt: Packet): void {
    this.core.counters.packetsDropped++;
    if (qp.type !== QpServiceType.UC) return;
    this.#ucAbandon(qp);
    qp.resp.psn = psnAdd(pkt.bth.psn, 1);
    qp.resp.dropMsg = !pkt.info.isLast;
  }

  /** UD: the GRH (when the packet has one) into the first 40 bytes, then the payload (IBTA §11.4.1). */
  #udPlace(qp: Qp, pkt: Packet, raw: WirePacket): RespState {
    const r = this.#udWqe!;
    const len = pkt.payload.length;
    let bad = 0;
    if (pkt.grh) {
      bad = this.#placeRecv(qp, r, 0, raw.bytes.subarray(LRH_BYTES, LRH_BYTES + GRH_BYTES));
    }
    if (!bad && len > 0) bad = this.#placeRecv(qp, r, UD_GRH_SPACE, pkt.payload);
    if (bad) return this.#recvErr(RespState.ERR_MALFORMED_WQE, CqeSyndrome.LOCAL_PROT_ERR, bad);
    return RespState.COMPLETE;
  }

  /**
   * UD: a datagram longer than the receive buffer (with its 40 bytes of GRH
   * space) is an invalid request, silently dropped; the responder waits for
   * the next datagram with the same receive WQE, and the QP stays usable
   * (IBTA vol 1 as Linux rxe_resp.c's UD length check quotes it; rdmavt's
   * `RVT_R_REUSE_SGE`). Anyone who can reach a UD QP can send it such a
   * datagram, so moving the QP to ERR would let one packet disable it.
   */
  #udDropTooLong(qp: Qp): void {
    qp.resp.wqe = this.#udWqe;
    this.#udWqe = undefined;
    this.core.counters.udLengthDrops++;
    this.core.counters.packetsDropped++;
  }

  /** UD: the datagram's receive WQE completes in error and the QP goes to ERR. */
  #udError(qp: Qp): void {
    const r = this.#udWqe!;
    this.tp.rqError(qp, r.counter, r.fromSrq, this.#errSyndrome, this.#errVendorErr);
    this.tp.toError(qp);
  }
}

/** Response packets of a READ of `len` bytes at the QP's path MTU (a zero-length READ has one). */
function readPackets(qp: Qp, len: number): number {
  return Math.max(1, Math.ceil(len / qp.mtuBytes));
}

/** A response that reads no memory and is ready at once: an ACK/NAK, or a replayed atomic result. */
function dataless(
  kind: number,
  psn: number,
  syndrome: number,
  replay: boolean,
  orig: bigint,
): RespEntry {
  return {
    kind,
    psn,
    npkts: 1,
    issued: 0,
    mpt: undefined,
    va: 0,
    length: 0,
    syndrome,
    replay,
    ready: true,
    orig,
  };
}
