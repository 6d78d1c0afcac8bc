/**
 * The receive side of a QP (rxe_resp's role): PSN checks and duplicate
 * handling, receive WQE consumption (RNR NAK when none is posted), data
 * placement for SEND and RDMA WRITE, RDMA READ responses, atomics with a
 * replay cache, ACK generation, UD Q_Key checks and GRH space, immediate data
 * and solicited events (IBTA vol 1 §9.7.5.1–2 responder, §9.8 UD, §10.7
 * receive WQEs).
 *
 * Responses (ACKs, NAKs, READ response packets, atomic ACKs) leave strictly
 * in PSN order from a per-QP queue, since the requester reads an ACK for a
 * later PSN as "the earlier READ response was lost" (§9.7.5.1.2).
 *
 * @module
 */

import { EqeType, HwAccess, HwQpState, QpServiceType } from "./commands.ts";
import type { HcaCore } from "./core.ts";
import { CqeSyndrome } from "./cqe.ts";
import type { MptEntry } from "./mpt.ts";
import { OP } from "./opcode.ts";
import { aethSyndrome, GRH_BYTES, LRH_BYTES, type Packet, type PacketInit } from "./packet.ts";
import {
  psnAdd,
  psnDiff,
  type Qp,
  type RecvInProgress,
  type RespEntry,
  RespKind,
  type TxSlot,
} from "./qp.ts";
import { type Transport, TxWindow, WcOpcode, WcStatus } from "./transport.ts";
import { decodeRecvWqe } from "./wqe.ts";

/** Responder resources kept for duplicate READ/atomic replay (IBTA §9.7.5). */
const REPLAY_DEPTH = 16;
/**
 * Bytes of GRH space at the start of a UD receive buffer (IBTA §11.4.1).
 *
 * @example
 * ```ts
 * import { UD_GRH_SPACE } from "./responder.ts";
 * // A UD receive buffer needs room for the GRH before the payload (IBTA §11.4.1).
 * const payloadRoom = (scatterBytes: number) => scatterBytes - UD_GRH_SPACE;
 * console.log(payloadRoom(2048 + 40)); // 2048
 * ```
 */
export const UD_GRH_SPACE = 40;

const ACK_SYNDROME = aethSyndrome.ack(aethSyndrome.CREDITS_INVALID);

/**
 * One HCA's responder (all QPs).
 *
 * @example
 * ```ts
 * import { UD_GRH_SPACE } from "./responder.ts";
 * console.log(UD_GRH_SPACE); // 40
 * ```
 */
export class Responder {
  #tagFetch: number;
  #tagWrite: number;
  #tagRead: number;
  #tagAck: number;
  #scratch = new Uint8Array(1024);

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
    if (((c - qp.rqConsumer) >>> 0) > qp.rqSize || ((c - qp.rqProducer) >>> 0) > qp.rqSize) {
      return false;
    }
    qp.rqProducer = c;
    if (qp.state === HwQpState.ERR) this.tp.flushRecv(qp);
    return true;
  }

  /** A request packet for `qp` (the device checked QPN and transport). `raw` is its wire bytes. */
  onRequest(qp: Qp, pkt: Packet, raw: Uint8Array): void {
    const s = qp.state;
    if (s !== HwQpState.RTR && s !== HwQpState.RTS && s !== HwQpState.SQD && s !== HwQpState.SQE) {
      this.core.counters.packetsDropped++;
      return;
    }
    if (s === HwQpState.RTR && !qp.commEst) {
      // IBTA §11.6: the first packet received in RTR establishes communication.
      qp.commEst = true;
      this.core.asyncEvent(EqeType.COMM_EST, 0, qp.qpn);
    }
    if (qp.respBusy || qp.respQueue.length > 0) {
      qp.respQueue.push({ pkt, raw });
      return;
    }
    this.#handle(qp, pkt, raw);
  }

  #drain(qp: Qp): void {
    while (!qp.respBusy && qp.respQueue.length > 0) {
      const { pkt, raw } = qp.respQueue.shift()!;
      this.#handle(qp, pkt, raw);
    }
  }

  #handle(qp: Qp, pkt: Packet, raw: Uint8Array): void {
    if (qp.type === QpServiceType.RC) this.#rc(qp, pkt);
    else if (qp.type === QpServiceType.UC) this.#uc(qp, pkt);
    else this.#ud(qp, pkt, raw);
  }

  // ---- RC -------------------------------------------------------------

  #rc(qp: Qp, pkt: Packet): void {
    const psn = pkt.bth.psn;
    const d = psnDiff(psn, qp.expectedPsn);
    if (d > 0) {
      // IBTA §9.7.5: PSN sequence error — NAK once, drop until the expected PSN arrives.
      if (!qp.nakSent) {
        qp.nakSent = true;
        this.core.counters.seqNaksSent++;
        this.#respond(qp, aethSyndrome.nak(aethSyndrome.NAK_PSN_SEQUENCE), qp.expectedPsn);
      }
      this.core.counters.packetsDropped++;
      return;
    }
    if (d < 0) return this.#duplicate(qp, pkt);
    if (!this.#sequenceOk(qp, pkt)) {
      // IBTA vol 1 §9.7.5.2: an opcode out of sequence is an Invalid Request NAK, QP to error.
      return this.#fatal(qp, aethSyndrome.NAK_INVALID_REQUEST, psn, EqeType.WQ_INVAL_REQ_ERROR);
    }
    switch (pkt.info.operation) {
      case "send":
        return this.#send(qp, pkt);
      case "write":
        return this.#write(qp, pkt);
      case "read":
        return this.#readRequest(qp, pkt);
      case "atomic":
        return this.#atomic(qp, pkt);
    }
  }

  /** First/Middle/Last ordering within a message (IBTA §9.7.5 opcode sequence). */
  #sequenceOk(qp: Qp, pkt: Packet): boolean {
    const info = pkt.info;
    const last = qp.lastOpcode & 0x1f;
    const inSend = qp.lastOpcode >= 0 && (last === 0x00 || last === 0x01);
    const inWrite = qp.lastOpcode >= 0 && (last === 0x06 || last === 0x07);
    if (inSend) return info.operation === "send" && !info.isFirst;
    if (inWrite) return info.operation === "write" && !info.isFirst;
    return info.isFirst;
  }

  /** Duplicate request (IBTA §9.7.5): re-ACK, replay a READ, or replay an atomic result. */
  #duplicate(qp: Qp, pkt: Packet): void {
    const psn = pkt.bth.psn;
    const op = pkt.info.operation;
    if (op === "read") {
      const res = qp.resources.find((r) =>
        r.kind === "read" && psnDiff(psn, r.firstPsn) >= 0 && psnDiff(psn, r.firstPsn) < r.npsn
      );
      if (!res) return;
      // The duplicate may ask for only the tail (a resumed READ): serve what it asks.
      const reth = pkt.reth!;
      const len = reth.dmaLen;
      const va = Number(reth.va);
      const e = len > 0
        ? this.core.tpt.check(reth.rkey, qp.pd, va, len, HwAccess.REMOTE_READ)
        : undefined;
      if (typeof e === "number") return;
      this.#queueRead(qp, psn, e, va, len, true);
      return;
    }
    if (op === "atomic") {
      const res = qp.resources.find((r) => r.kind === "atomic" && r.firstPsn === psn);
      if (!res) return;
      this.#pushResponse(qp, dataless(RespKind.ATOMIC, psn, ACK_SYNDROME, true, res.orig));
      return;
    }
    // SEND/WRITE: acknowledge again with the most recent PSN (§9.7.5).
    if (pkt.bth.ackReq) this.#respond(qp, ACK_SYNDROME, psnAdd(qp.expectedPsn, -1));
  }

  /** Responder-detected error with a NAK: QP to error, async event (IBTA §9.7.5 classes C/D). */
  #fatal(
    qp: Qp,
    nakCode: number,
    psn: number,
    asyncType: number,
    recvStatus = 0,
    recvSyndrome = 0,
  ): void {
    if (qp.type === QpServiceType.RC) this.#respondNow(qp, aethSyndrome.nak(nakCode), psn);
    const r = qp.recv;
    if (r && recvStatus) {
      this.tp.rqComplete(qp, r.counter, r.fromSrq, recvStatus, recvSyndrome);
      qp.recv = undefined;
    }
    this.tp.toError(qp, asyncType);
  }

  // ---- SEND (RC/UC) ---------------------------------------------------

  #hasRecvWqe(qp: Qp): boolean {
    return qp.srq ? qp.srq.available > 0 : qp.rqProducer !== qp.rqConsumer;
  }

  /**
   * Take a receive WQE and fetch it by DMA; the packet is handled again
   * when it arrives. Returns false if none is posted.
   */
  #takeRecvWqe(qp: Qp, pkt: Packet, raw: Uint8Array): boolean {
    if (!this.#hasRecvWqe(qp)) return false;
    const srq = qp.srq;
    const counter = srq ? srq.take() : qp.rqConsumer;
    if (!srq) qp.rqConsumer = (counter + 1) >>> 0;
    const stride = srq ? srq.stride : qp.rqStride;
    const addr = srq ? srq.wqeAddr(counter) : qp.rqWqeAddr(counter);
    const mpt = srq ? srq.mpt : qp.wq;
    qp.respBusy = true;
    const epoch = qp.respEpoch;
    this.core.bus.read(stride, () => {
      if (qp.respEpoch !== epoch) return;
      qp.respBusy = false;
      if (this.#scratch.length < stride) this.#scratch = new Uint8Array(stride);
      const buf = this.#scratch.subarray(0, stride);
      const r: RecvInProgress = {
        counter,
        fromSrq: srq !== undefined,
        sgl: [],
        offset: 0,
        capacity: 0,
        status: 0,
        syndrome: 0,
      };
      if (!this.core.tpt.gather(mpt, addr, stride, buf, 0)) {
        r.status = WcStatus.LOC_PROT_ERR;
        r.syndrome = CqeSyndrome.BAD_FRAME;
      } else {
        r.sgl = decodeRecvWqe(buf);
        for (const s of r.sgl) r.capacity += s.length;
      }
      qp.recv = r;
      this.#handle(qp, pkt, raw);
      this.#drain(qp);
    }, this.#tagFetch);
    return true;
  }

  #send(qp: Qp, pkt: Packet): void {
    const info = pkt.info;
    const rc = qp.type === QpServiceType.RC;
    if (info.isFirst && !qp.recv) {
      if (!this.#takeRecvWqe(qp, pkt, EMPTY)) {
        if (rc) {
          // IBTA §9.7.5.2.8: no receive WQE — RNR NAK with our minimum RNR timer.
          this.core.counters.rnrNaksSent++;
          qp.nakSent = true; // later packets of this burst are dropped without a sequence NAK
          this.#respond(qp, aethSyndrome.rnrNak(qp.minRnrTimer), pkt.bth.psn);
        } else {
          this.#ucDrop(qp, pkt);
        }
        this.core.counters.packetsDropped++;
      }
      return;
    }
    const r = qp.recv;
    if (!r) return this.#ucDrop(qp, pkt);
    const len = pkt.payload.length;
    if (r.status === 0 && len > 0) {
      if (r.offset + len > r.capacity) {
        // Message longer than the receive buffers (IBTA vol 1 §10.7.2.2 receive queue: a local length error).
        if (!rc) return this.#ucDrop(qp, pkt);
        return this.#fatal(
          qp,
          aethSyndrome.NAK_INVALID_REQUEST,
          pkt.bth.psn,
          EqeType.WQ_INVAL_REQ_ERROR,
          WcStatus.LOC_LEN_ERR,
          CqeSyndrome.LENGTH,
        );
      }
      const bad = this.#placeRecv(qp, r, r.offset, pkt.payload);
      if (bad) {
        // Our own receive buffer is bad: local protection error here, Remote
        // Operational Error for the requester (IBTA §9.7.5 class D).
        return this.#fatal(
          qp,
          aethSyndrome.NAK_REMOTE_OPERATIONAL,
          pkt.bth.psn,
          -1,
          WcStatus.LOC_PROT_ERR,
          bad,
        );
      }
    } else if (r.status !== 0) {
      return this.#fatal(
        qp,
        aethSyndrome.NAK_REMOTE_OPERATIONAL,
        pkt.bth.psn,
        -1,
        r.status,
        r.syndrome,
      );
    }
    r.offset += len;
    this.#accept(qp, pkt);
    if (info.isLast) {
      qp.recv = undefined;
      this.tp.rqComplete(qp, r.counter, r.fromSrq, WcStatus.SUCCESS, 0, {
        opcode: WcOpcode.RECV,
        byteLen: r.offset,
        imm: pkt.immDt ?? 0,
        withImm: info.hasImmediate,
        slid: pkt.lrh.slid,
        sl: pkt.lrh.sl,
        srcQp: qp.destQpn,
        solicited: pkt.bth.se,
      });
    }
    this.#maybeAck(qp, pkt);
  }

  /**
   * Write `data` at message offset `off` of a receive WQE's scatter list.
   * Checks every piece before writing any (fail closed); returns 0 or the
   * syndrome of the failing check.
   */
  #placeRecv(qp: Qp, r: RecvInProgress, off: number, data: Uint8Array): number {
    const tpt = this.core.tpt;
    const pd = r.fromSrq && qp.srq ? qp.srq.pd : qp.pd;
    let pos = 0;
    let done = 0;
    const plan: [number, number, number, number][] = [];
    for (let i = 0; i < r.sgl.length && done < data.length; i++) {
      const s = r.sgl[i];
      const end = pos + s.length;
      if (off + done < end) {
        const from = off + done - pos;
        const n = Math.min(s.length - from, data.length - done);
        const e = tpt.check(s.lkey, pd, s.addr + from, n, HwAccess.LOCAL_WRITE);
        if (typeof e === "number") return e;
        plan.push([i, s.addr + from, done, n]);
        done += n;
      }
      pos = end;
    }
    for (const [i, va, at, n] of plan) {
      const lkey = r.sgl[i].lkey;
      const piece = data.subarray(at, at + n);
      this.core.bus.write(n, () => {
        const e = tpt.check(lkey, pd, va, n, HwAccess.LOCAL_WRITE);
        if (typeof e !== "number") tpt.scatter(e, va, piece);
      }, this.#tagWrite);
    }
    return 0;
  }

  /** The packet is accepted: advance the expected PSN and the opcode state. */
  #accept(qp: Qp, pkt: Packet): void {
    qp.expectedPsn = psnAdd(pkt.bth.psn, 1);
    qp.nakSent = false;
    qp.lastOpcode = pkt.info.isLast ? -1 : pkt.bth.opcode;
    if (pkt.info.isLast) qp.msn = (qp.msn + 1) & 0xffffff;
  }

  #maybeAck(qp: Qp, pkt: Packet): void {
    if (qp.type !== QpServiceType.RC || !pkt.bth.ackReq) return;
    const now = this.core.engine.now;
    // The ACK leaves once the acknowledged data is in host memory (posted
    // writes visible), so a requester completion implies remote visibility.
    const vis = this.core.bus.lastVisible - now;
    const delay = Math.max(this.core.profile.hca.ackDelayNs, vis);
    if (delay <= 0) return this.#respond(qp, ACK_SYNDROME, pkt.bth.psn);
    // Coalesce: one ACK for the latest PSN when the window closes.
    const pending = qp.ackPendingPsn >= 0;
    qp.ackPendingPsn = pkt.bth.psn;
    qp.ackPendingAt = now + delay;
    if (pending) return;
    const epoch = qp.respEpoch;
    const fire = () => {
      if (qp.respEpoch !== epoch || qp.ackPendingPsn < 0) return;
      const left = qp.ackPendingAt - this.core.engine.now;
      if (left > 0) return void this.core.engine.schedule(left, fire, this.#tagAck);
      const psn = qp.ackPendingPsn;
      qp.ackPendingPsn = -1;
      this.#respond(qp, ACK_SYNDROME, psn);
    };
    this.core.engine.schedule(delay, fire, this.#tagAck);
  }

  // ---- RDMA WRITE -----------------------------------------------------

  #write(qp: Qp, pkt: Packet): void {
    const info = pkt.info;
    const rc = qp.type === QpServiceType.RC;
    const psn = pkt.bth.psn;
    // WRITE with immediate consumes a receive WQE on its last packet (IBTA §9.4); check first.
    if (info.hasImmediate && !this.#hasRecvWqe(qp)) {
      if (rc) {
        this.core.counters.rnrNaksSent++;
        qp.nakSent = true;
        this.#respond(qp, aethSyndrome.rnrNak(qp.minRnrTimer), psn);
      } else this.#ucDrop(qp, pkt);
      this.core.counters.packetsDropped++;
      return;
    }
    if (info.isFirst) {
      const reth = pkt.reth!;
      const va = Number(reth.va);
      const len = reth.dmaLen;
      let mpt = undefined;
      if (len > 0) {
        mpt = this.#remoteAccess(qp, reth.rkey, va, len, HwAccess.REMOTE_WRITE);
        if (!mpt) {
          if (!rc) return this.#ucDrop(qp, pkt);
          return this.#fatal(qp, aethSyndrome.NAK_REMOTE_ACCESS, psn, EqeType.WQ_ACCESS_ERROR);
        }
      }
      qp.writeMpt = mpt;
      qp.writeVa = va;
      qp.writeLeft = len;
      qp.writeTotal = len;
    }
    const len = pkt.payload.length;
    const mtu = qp.mtuBytes;
    if (len > qp.writeLeft || (info.isLast ? len !== qp.writeLeft : len !== mtu)) {
      // Payload disagrees with the RETH length (IBTA vol 1 §9.7.5.2: length errors are Invalid Request NAKs).
      if (!rc) return this.#ucDrop(qp, pkt);
      return this.#fatal(qp, aethSyndrome.NAK_INVALID_REQUEST, psn, EqeType.WQ_INVAL_REQ_ERROR);
    }
    if (len > 0 && qp.writeMpt) {
      const e = qp.writeMpt;
      const va = qp.writeVa;
      const data = pkt.payload;
      const tpt = this.core.tpt;
      // Deregistered before the write lands: nothing is written (fail closed).
      this.core.bus.write(len, () => tpt.live(e) && tpt.scatter(e, va, data), this.#tagWrite);
    }
    qp.writeVa += len;
    qp.writeLeft -= len;
    this.#accept(qp, pkt);
    if (info.hasImmediate) {
      const srq = qp.srq;
      const counter = srq ? srq.take() : qp.rqConsumer;
      if (!srq) qp.rqConsumer = (counter + 1) >>> 0;
      this.tp.rqComplete(qp, counter, srq !== undefined, WcStatus.SUCCESS, 0, {
        opcode: WcOpcode.RECV_RDMA_WITH_IMM,
        byteLen: qp.writeTotal,
        imm: pkt.immDt ?? 0,
        withImm: true,
        slid: pkt.lrh.slid,
        sl: pkt.lrh.sl,
        srcQp: qp.destQpn,
        solicited: pkt.bth.se,
      });
    }
    if (info.isLast) qp.writeMpt = undefined;
    this.#maybeAck(qp, pkt);
  }

  // ---- RDMA READ and atomics -------------------------------------------

  /** READ/atomic requests held beyond max_dest_rd_atomic are an Invalid Request (IBTA vol 1 §9.7.5.2). */
  #rdAtomicFull(qp: Qp): boolean {
    let n = 0;
    for (const r of qp.responses) if (r.kind !== RespKind.ACK && !r.replay) n++;
    return n >= Math.max(1, qp.maxDestRdAtomic);
  }

  /**
   * The R_Key check of IBTA vol 1 §10.6.3 for a remote access `right`: the
   * QP must allow it, then key, PD, bounds and the right in the region.
   */
  #remoteAccess(
    qp: Qp,
    rkey: number,
    va: number,
    len: number,
    right: number,
  ): MptEntry | undefined {
    if (!(qp.accessFlags & right)) return undefined;
    const e = this.core.tpt.check(rkey, qp.pd, va, len, right);
    return typeof e === "number" ? undefined : e;
  }

  /** A READ or atomic request is taken: one message spanning `npsn` PSNs. */
  #takeRdAtomic(qp: Qp, psn: number, npsn: number): void {
    qp.expectedPsn = psnAdd(psn, npsn);
    qp.nakSent = false;
    qp.lastOpcode = -1;
    qp.msn = (qp.msn + 1) & 0xffffff;
  }

  #readRequest(qp: Qp, pkt: Packet): void {
    const psn = pkt.bth.psn;
    const reth = pkt.reth!;
    const va = Number(reth.va);
    const len = reth.dmaLen;
    if (this.#rdAtomicFull(qp) || len > 2 ** 31) {
      return this.#fatal(qp, aethSyndrome.NAK_INVALID_REQUEST, psn, EqeType.WQ_INVAL_REQ_ERROR);
    }
    let mpt = undefined;
    if (len > 0) {
      mpt = this.#remoteAccess(qp, reth.rkey, va, len, HwAccess.REMOTE_READ);
      if (!mpt) {
        return this.#fatal(qp, aethSyndrome.NAK_REMOTE_ACCESS, psn, EqeType.WQ_ACCESS_ERROR);
      }
    }
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

  #remember(qp: Qp, r: Qp["resources"][number]): void {
    qp.resources.push(r);
    if (qp.resources.length > REPLAY_DEPTH) qp.resources.shift();
  }

  #atomic(qp: Qp, pkt: Packet): void {
    const psn = pkt.bth.psn;
    const a = pkt.atomicEth!;
    const va = Number(a.va);
    // IBTA vol 1 §9.4.5: atomics need an 8-byte aligned address, else Invalid Request.
    if (va % 8 !== 0 || this.#rdAtomicFull(qp)) {
      return this.#fatal(qp, aethSyndrome.NAK_INVALID_REQUEST, psn, EqeType.WQ_INVAL_REQ_ERROR);
    }
    const e = this.#remoteAccess(qp, a.rkey, va, 8, HwAccess.REMOTE_ATOMIC);
    if (!e) {
      return this.#fatal(qp, aethSyndrome.NAK_REMOTE_ACCESS, psn, EqeType.WQ_ACCESS_ERROR);
    }
    this.#takeRdAtomic(qp, psn, 1);
    const entry: RespEntry = {
      kind: RespKind.ATOMIC,
      psn,
      npkts: 1,
      issued: 0,
      mpt: e,
      va,
      length: 8,
      syndrome: ACK_SYNDROME,
      replay: false,
      ready: false,
      orig: 0n,
    };
    this.#pushResponse(qp, entry);
    const cs = pkt.bth.opcode === OP.RC_COMPARE_SWAP;
    const epoch = qp.respEpoch;
    const tpt = this.core.tpt;
    // Read-modify-write at the memory: the read waits for earlier posted writes (PCI ordering).
    this.core.bus.read(8, () => {
      const buf = new Uint8Array(8);
      if (!tpt.live(e) || !tpt.gather(e, va, 8, buf, 0)) return;
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
        length: 8,
        orig,
      });
      if (qp.respEpoch !== epoch) return;
      entry.orig = orig;
      entry.ready = true;
      this.kick(qp);
    }, this.#tagRead);
  }

  // ---- response queue ---------------------------------------------------

  /** Queue an ACK/NAK behind earlier responses (or send it now if none wait). */
  #respond(qp: Qp, syndrome: number, psn: number): void {
    if (qp.responses.length === 0) return this.#respondNow(qp, syndrome, psn);
    this.#pushResponse(qp, dataless(RespKind.ACK, psn, syndrome, false, 0n));
  }

  /** An ACK/NAK, behind any response packet already reserved. */
  #respondNow(qp: Qp, syndrome: number, psn: number): void {
    const init: PacketInit = {
      lrh: { dlid: 0, slid: 0 },
      bth: { opcode: OP.RC_ACKNOWLEDGE, destQp: qp.destQpn, psn, pkey: this.tp.pkey(qp) },
      aeth: { syndrome, msn: qp.msn },
    };
    this.tp.route(qp, init);
    this.#emitReady(qp, init, false);
  }

  #emitReady(qp: Qp, init: PacketInit, windowed: boolean): void {
    qp.respSlots.push({ ready: true, init, windowed, w: undefined, last: false });
    this.#flush(qp);
  }

  /** Hand every leading filled response slot to the port, in PSN order. */
  #flush(qp: Qp): void {
    const q = qp.respSlots;
    let dropped = false;
    while (q.length > 0 && q[0].ready) {
      const s = q.shift()!;
      if (!s.init) {
        if (s.windowed) qp.respTxInFlight--;
        dropped = true;
        continue;
      }
      this.tp.send(
        qp.port,
        s.init,
        s.windowed ? qp : undefined,
        s.windowed ? TxWindow.RESPONDER : TxWindow.NONE,
      );
    }
    if (dropped) this.kick(qp);
  }

  #pushResponse(qp: Qp, r: RespEntry): void {
    qp.responses.push(r);
    this.kick(qp);
  }

  /** Move owed responses into the packet order: READ packets within the window, atomics once executed. */
  kick(qp: Qp): void {
    const q = qp.responses;
    while (q.length > 0 && qp.respTxInFlight < this.tp.txWindow) {
      const r = q[0];
      if (r.kind === RespKind.ACK) {
        q.shift();
        this.#respondNow(qp, r.syndrome, r.psn);
        continue;
      }
      if (r.kind === RespKind.ATOMIC) {
        if (!r.ready) return;
        q.shift();
        const init: PacketInit = {
          lrh: { dlid: 0, slid: 0 },
          bth: {
            opcode: OP.RC_ATOMIC_ACKNOWLEDGE,
            destQp: qp.destQpn,
            psn: r.psn,
            pkey: this.tp.pkey(qp),
          },
          aeth: { syndrome: ACK_SYNDROME, msn: qp.msn },
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
    const epoch = qp.respEpoch;
    qp.respTxInFlight++;
    const slot: TxSlot = { ready: false, init: undefined, windowed: true, w: undefined, last };
    qp.respSlots.push(slot);
    const emit = () => {
      slot.ready = true;
      if (qp.respEpoch === epoch) {
        let payload: Uint8Array | undefined;
        if (len > 0 && r.mpt) {
          payload = new Uint8Array(len);
          const tpt = this.core.tpt;
          if (!tpt.live(r.mpt) || !tpt.gather(r.mpt, r.va + off, len, payload, 0)) payload.fill(0);
        }
        const init: PacketInit = {
          lrh: { dlid: 0, slid: 0 },
          bth: { opcode, destQp: qp.destQpn, psn, pkey: this.tp.pkey(qp) },
          payload,
        };
        if (first || last) init.aeth = { syndrome: ACK_SYNDROME, msn: qp.msn };
        this.tp.route(qp, init);
        slot.init = init;
      }
      this.#flush(qp);
    };
    if (len > 0) this.core.bus.read(len, emit, this.#tagRead);
    else emit();
  }

  // ---- UC ---------------------------------------------------------------

  #uc(qp: Qp, pkt: Packet): void {
    const psn = pkt.bth.psn;
    const info = pkt.info;
    if (psnDiff(psn, qp.expectedPsn) !== 0 || qp.ucDropping) {
      // IBTA vol 1 §9.8.2 (UC): a gap loses the message in progress; resynchronize on the next First/Only.
      if (psnDiff(psn, qp.expectedPsn) !== 0) this.#ucAbandon(qp);
      if (!info.isFirst) {
        qp.expectedPsn = psnAdd(psn, 1);
        qp.ucDropping = true;
        this.core.counters.packetsDropped++;
        return;
      }
      qp.ucDropping = false;
      qp.expectedPsn = psn;
      qp.lastOpcode = -1;
    }
    if (!this.#sequenceOk(qp, pkt)) return this.#ucDrop(qp, pkt);
    if (info.operation === "send") return this.#send(qp, pkt);
    if (info.operation === "write") return this.#write(qp, pkt);
    this.#ucDrop(qp, pkt);
  }

  /** Partial message lost: the receive WQE is reused for the next message. */
  #ucAbandon(qp: Qp): void {
    if (qp.recv) {
      qp.recv.offset = 0;
    }
    qp.writeMpt = undefined;
    qp.lastOpcode = -1;
  }

  /** UC: drop the rest of this message silently (no NAKs on UC). */
  #ucDrop(qp: Qp, pkt: Packet): void {
    this.core.counters.packetsDropped++;
    if (qp.type !== QpServiceType.UC) return;
    this.#ucAbandon(qp);
    qp.expectedPsn = psnAdd(pkt.bth.psn, 1);
    qp.ucDropping = !pkt.info.isLast;
  }

  // ---- UD ---------------------------------------------------------------

  #ud(qp: Qp, pkt: Packet, raw: Uint8Array): void {
    const deth = pkt.deth!;
    // IBTA vol 1 §3.5.3 / §9.6 (Q_Key check): a Q_Key that does not match the QP's is dropped silently.
    if (deth.qkey !== qp.qkey) {
      this.core.counters.packetsDropped++;
      return;
    }
    const r = qp.recv;
    if (!r) {
      if (!this.#takeRecvWqe(qp, pkt, raw)) this.core.counters.packetsDropped++;
      return;
    }
    qp.recv = undefined;
    const len = pkt.payload.length;
    if (r.status !== 0) {
      this.tp.rqComplete(qp, r.counter, r.fromSrq, r.status, r.syndrome);
      return this.tp.toError(qp);
    }
    if (UD_GRH_SPACE + len > r.capacity) {
      this.tp.rqComplete(qp, r.counter, r.fromSrq, WcStatus.LOC_LEN_ERR, CqeSyndrome.LENGTH);
      return this.tp.toError(qp);
    }
    // The first 40 bytes receive the GRH when the packet has one (IBTA §11.4.1).
    let bad = 0;
    if (pkt.grh) bad = this.#placeRecv(qp, r, 0, raw.subarray(LRH_BYTES, LRH_BYTES + GRH_BYTES));
    if (!bad && len > 0) bad = this.#placeRecv(qp, r, UD_GRH_SPACE, pkt.payload);
    if (bad) {
      this.tp.rqComplete(qp, r.counter, r.fromSrq, WcStatus.LOC_PROT_ERR, bad);
      return this.tp.toError(qp);
    }
    this.tp.rqComplete(qp, r.counter, r.fromSrq, WcStatus.SUCCESS, 0, {
      opcode: WcOpcode.RECV,
      byteLen: UD_GRH_SPACE + len,
      imm: pkt.immDt ?? 0,
      withImm: pkt.info.hasImmediate,
      grh: pkt.grh !== undefined,
      slid: pkt.lrh.slid,
      sl: pkt.lrh.sl,
      srcQp: deth.srcQp,
      solicited: pkt.bth.se,
    });
  }
}

const EMPTY = new Uint8Array(0);

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
