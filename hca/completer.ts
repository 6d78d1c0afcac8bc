/**
 * The completer (requester side, rxe_comp's role): ACKs, NAKs, RDMA READ
 * responses and atomic ACKs coming back for a QP's requests; the
 * retransmission timeout; and send-queue completions in posting order
 * (IBTA vol 1 §9.7.5.3 requester response handling, §10.8 completions).
 *
 * @module
 */

import { EqeType, HwQpState, QpServiceType } from "./commands.ts";
import type { HcaCore } from "./core.ts";
import { CqeSyndrome } from "./cqe.ts";
import { aethSyndrome, type Packet } from "./packet.ts";
import { OP } from "./opcode.ts";
import { psnAdd, psnDiff, type Qp, type SendWqe, WqeKind } from "./qp.ts";
import type { Requester } from "./requester.ts";
import { rnrTimerNs } from "./timers.ts";
import { type Transport, WcStatus } from "./transport.ts";

const NAK_STATUS: Record<number, [number, number]> = {
  [aethSyndrome.NAK_INVALID_REQUEST]: [WcStatus.REM_INV_REQ_ERR, CqeSyndrome.NAK_INVALID_REQUEST],
  [aethSyndrome.NAK_REMOTE_ACCESS]: [WcStatus.REM_ACCESS_ERR, CqeSyndrome.NAK_REMOTE_ACCESS],
  [aethSyndrome.NAK_REMOTE_OPERATIONAL]: [
    WcStatus.REM_OP_ERR,
    CqeSyndrome.NAK_REMOTE_OPERATIONAL,
  ],
};

/**
 * One HCA's completer (all QPs).
 *
 * @example
 * ```ts
 * import { Completer } from "./completer.ts";
 * console.log(typeof Completer); // "function"
 * ```
 */
export class Completer {
  #tagRead: number;

  /**
   * Create it (hardware state; the device builds these).
   * @param core device internals
   * @param tp shared transport services
   * @param req the requester (for rewinds and timers)
   */
  constructor(private core: HcaCore, private tp: Transport, private req: Requester) {
    this.#tagRead = core.engine.tag("hca.read_resp_write");
  }

  /** A response packet (ACK, NAK, READ response, atomic ACK) for `qp`. */
  onResponse(qp: Qp, pkt: Packet): void {
    if (qp.type !== QpServiceType.RC) return;
    const s = qp.state;
    if (s !== HwQpState.RTS && s !== HwQpState.SQD) return;
    const psn = pkt.bth.psn;
    // Only PSNs of requests outstanding: older ones are duplicates, newer ghosts (§9.7.5).
    if (psnDiff(psn, qp.unackedPsn) < 0 || psnDiff(psn, qp.psnHigh) >= 0) return;
    const op = pkt.bth.opcode;
    if (op === OP.RC_ACKNOWLEDGE) return this.#ack(qp, psn, pkt.aeth!.syndrome);
    if (op === OP.RC_ATOMIC_ACKNOWLEDGE) return this.#atomicAck(qp, psn, pkt);
    return this.#readResponse(qp, psn, pkt);
  }

  #ack(qp: Qp, psn: number, syndrome: number): void {
    const s = aethSyndrome.parse(syndrome);
    if (s.kind === "ack") {
      if (!this.#implicitAck(qp, psnAdd(psn, 1))) return;
      this.#progress(qp, psnAdd(psn, 1));
      return;
    }
    // NAKs acknowledge everything before their PSN (§9.7.5).
    if (!this.#implicitAck(qp, psn)) return;
    this.#progress(qp, psn);
    const w = this.#holding(qp, psn);
    if (!w) return;
    if (s.kind === "rnrNak") {
      this.core.counters.rnrNaksReceived++;
      // IBTA §9.7.5.2.8: rnr_retry 7 means retry forever.
      if (qp.rnrRetry !== 7) {
        if (qp.rnrRetriesLeft === 0) {
          return this.#fail(qp, w, WcStatus.RNR_RETRY_EXC_ERR, CqeSyndrome.RNR_RETRY_EXCEEDED);
        }
        qp.rnrRetriesLeft--;
      }
      qp.reqHoldUntil = this.core.engine.now + rnrTimerNs(s.value);
      this.req.rewind(qp, psn);
      this.req.armTimer(qp);
      return;
    }
    if (s.kind === "nak" && s.value === aethSyndrome.NAK_PSN_SEQUENCE) {
      return this.#retry(qp, w, psn);
    }
    const st = NAK_STATUS[s.value] ?? [WcStatus.BAD_RESP_ERR, CqeSyndrome.BAD_RESPONSE];
    this.#fail(qp, w, st[0], st[1]);
  }

  #atomicAck(qp: Qp, psn: number, pkt: Packet): void {
    if (!this.#implicitAck(qp, psn)) return;
    const w = this.#head(qp);
    if (!w || w.kind !== WqeKind.ATOMIC || w.firstPsn !== psn) {
      if (w) this.#fail(qp, w, WcStatus.BAD_RESP_ERR, CqeSyndrome.BAD_RESPONSE);
      return;
    }
    const s = aethSyndrome.parse(pkt.aeth!.syndrome);
    if (s.kind !== "ack") return this.#fail(qp, w, WcStatus.BAD_RESP_ERR, CqeSyndrome.BAD_RESPONSE);
    // The original remote value lands in the local buffer in host (little-endian) order.
    const sge = w.wqe!.sgl[0];
    const buf = new Uint8Array(8);
    new DataView(buf.buffer).setBigUint64(0, pkt.atomicAckEth!.origRemData, true);
    this.#place(qp, sge.lkey, sge.addr, buf);
    this.#finishRdAtomic(qp, w);
    this.#progress(qp, psnAdd(psn, 1));
  }

  #readResponse(qp: Qp, psn: number, pkt: Packet): void {
    if (!this.#implicitAck(qp, psn)) return;
    const w = this.#head(qp);
    if (!w) return;
    if (w.kind !== WqeKind.READ || psnDiff(psn, w.firstPsn) >= w.npsn) {
      return this.#fail(qp, w, WcStatus.BAD_RESP_ERR, CqeSyndrome.BAD_RESPONSE);
    }
    const expected = psnAdd(w.firstPsn, w.readPkts);
    const d = psnDiff(psn, expected);
    if (d < 0) return; // duplicate response
    if (d > 0) {
      // A response packet went missing: ask again for the rest, once per gap.
      if (qp.readRetryPsn === expected) return;
      qp.readRetryPsn = expected;
      return this.#retry(qp, w, expected);
    }
    const info = pkt.info;
    // Any stream may answer (original or a retry): IBTA §9.4.4 makes every
    // response to a PSN identical, so only the PSN and the length matter.
    const p = w.wqe!;
    const left = p.length - w.readDone;
    const len = pkt.payload.length;
    const mtu = qp.mtuBytes;
    // Middle/first carry exactly an MTU, the last carries the rest (IBTA vol 1 §9.7.5: a response's length must match the request).
    if (info.isLast ? len !== left : len !== mtu || len >= left) {
      return this.#fail(qp, w, WcStatus.BAD_RESP_ERR, CqeSyndrome.BAD_RESPONSE);
    }
    if (len > 0) this.#scatter(qp, w, w.readDone, pkt.payload);
    w.readPkts++;
    w.readDone += len;
    qp.readRetryPsn = -1;
    if (info.isLast) this.#finishRdAtomic(qp, w);
    this.#progress(qp, psnAdd(psn, 1));
  }

  /** Place response bytes at message offset `off` of the WQE's scatter list (DMA write). */
  #scatter(qp: Qp, w: SendWqe, off: number, data: Uint8Array): void {
    let pos = 0;
    let done = 0;
    for (const s of w.wqe!.sgl) {
      if (done >= data.length) break;
      const end = pos + s.length;
      if (off + done < end) {
        const from = off + done - pos;
        const n = Math.min(s.length - from, data.length - done);
        this.#place(qp, s.lkey, s.addr + from, data.subarray(done, done + n));
        done += n;
      }
      pos = end;
    }
  }

  #place(qp: Qp, lkey: number, va: number, data: Uint8Array): void {
    const tpt = this.core.tpt;
    this.core.bus.write(data.length, () => {
      // Checked at WQE start; a region deregistered since then fails closed here.
      const e = tpt.check(lkey, qp.pd, va, data.length, 1);
      if (typeof e !== "number") tpt.scatter(e, va, data);
    }, this.#tagRead);
  }

  #finishRdAtomic(qp: Qp, w: SendWqe): void {
    if (w.rdCounted) {
      w.rdCounted = false;
      qp.rdAtomicOutstanding--;
    }
    w.done = true;
    this.tp.sqComplete(qp, w, WcStatus.SUCCESS, 0);
  }

  /**
   * Complete, in order, every SEND/WRITE whose last PSN is before `psn`.
   * A READ/atomic entirely before `psn` but unanswered means its response
   * was lost (IBTA §9.7.5 implied NAK): resend it. Returns false if the
   * QP left the path (error, rewind).
   */
  #implicitAck(qp: Qp, psn: number): boolean {
    for (const w of qp.sq) {
      if (w.done) continue;
      if (!w.psnAssigned || w.failStatus) break;
      const last = psnAdd(w.firstPsn, w.npsn - 1);
      if (psnDiff(psn, last) <= 0) break;
      if (w.kind === WqeKind.READ || w.kind === WqeKind.ATOMIC) {
        // Once per gap: the later responses still in flight must not restart it again.
        const resume = psnAdd(w.firstPsn, w.readPkts);
        if (qp.readRetryPsn !== resume) {
          qp.readRetryPsn = resume;
          this.req.rewind(qp, resume);
        }
        this.#pop(qp);
        return false;
      }
      // Acknowledged is complete, even if a rewind was about to resend it (a late ACK).
      w.done = true;
      this.tp.sqComplete(qp, w, WcStatus.SUCCESS, 0);
    }
    this.#pop(qp);
    return qp.state === HwQpState.RTS || qp.state === HwQpState.SQD;
  }

  /** Forward progress up to (not including) `psn`: reset retry counts, move the timer. */
  #progress(qp: Qp, psn: number): void {
    if (psnDiff(psn, qp.unackedPsn) > 0) {
      qp.unackedPsn = psn;
      qp.retriesLeft = qp.retryCnt;
      qp.rnrRetriesLeft = qp.rnrRetry;
    }
    this.#pop(qp);
    if (psnDiff(qp.psnHigh, qp.unackedPsn) > 0) this.req.armTimer(qp);
    else this.req.stopTimer(qp);
    this.req.kick(qp);
    this.checkDrained(qp);
  }

  /** Drop completed WQEs from the head; complete a locally failed head in error. */
  #pop(qp: Qp): void {
    let n = 0;
    while (n < qp.sq.length && qp.sq[n].done) n++;
    if (n > 0) {
      qp.sq.splice(0, n);
      qp.reqIndex = Math.max(0, qp.reqIndex - n);
    }
    const h = qp.sq[0];
    if (h && h.failStatus && qp.sqError && !h.done) {
      this.#fail(qp, h, h.failStatus, h.failSyndrome);
    }
  }

  /** Oldest WQE not completed. */
  #head(qp: Qp): SendWqe | undefined {
    for (const w of qp.sq) if (!w.done) return w;
    return undefined;
  }

  /** The WQE whose PSN range holds `psn`. */
  #holding(qp: Qp, psn: number): SendWqe | undefined {
    for (const w of qp.sq) {
      if (w.done || !w.psnAssigned) continue;
      const d = psnDiff(psn, w.firstPsn);
      if (d >= 0 && d < w.npsn) return w;
    }
    return undefined;
  }

  /** Transport retry (timeout or sequence NAK), counted against retry_cnt (IBTA §9.7.6.1.3). */
  #retry(qp: Qp, w: SendWqe, psn: number): void {
    if (qp.retriesLeft === 0) {
      return this.#fail(qp, w, WcStatus.RETRY_EXC_ERR, CqeSyndrome.RETRY_EXCEEDED);
    }
    qp.retriesLeft--;
    this.req.rewind(qp, psn);
    this.req.armTimer(qp);
  }

  /** The retransmission timer expired with requests unacknowledged. */
  timeout(qp: Qp): void {
    if (psnDiff(qp.psnHigh, qp.unackedPsn) <= 0) return;
    this.core.counters.timeouts++;
    const w = this.#holding(qp, qp.unackedPsn) ?? this.#head(qp);
    if (!w) return;
    const psn = w.kind === WqeKind.READ ? psnAdd(w.firstPsn, w.readPkts) : qp.unackedPsn;
    this.#retry(qp, w, psn);
  }

  /**
   * Complete `w` with an error and move the QP to ERR (RC) or SQE (UC/UD
   * send errors), flushing the rest (IBTA vol 1 §10.8.3 error completions, §10.3.1 QP states).
   */
  #fail(qp: Qp, w: SendWqe, status: number, syndrome: number): void {
    // Everything before `w` has completed (callers acknowledged it first).
    w.done = true;
    this.tp.sqComplete(qp, w, status, syndrome);
    qp.sq.splice(0, qp.sq.indexOf(w) + 1);
    qp.reqIndex = 0;
    this.tp.toError(qp, -1, true);
  }

  /** A locally failed WQE may now be at the head. */
  localError(qp: Qp): void {
    this.#pop(qp);
  }

  /** UC/UD: the last packet of `w` left the port — the WQE is complete (IBTA §10.8). */
  unreliableSent(qp: Qp, w: SendWqe): void {
    w.done = true;
    this.tp.sqComplete(qp, w, WcStatus.SUCCESS, 0);
    this.#pop(qp);
    this.checkDrained(qp);
  }

  /** SQD: raise SQ_DRAINED once nothing is outstanding (IBTA §10.3.1 SQ Drain). */
  checkDrained(qp: Qp): void {
    if (qp.state !== HwQpState.SQD || !qp.draining) return;
    for (const w of qp.sq) if (w.psnAssigned && !w.done) return;
    qp.draining = false;
    if (qp.sqdEvent) this.core.asyncEvent(EqeType.SQ_DRAINED, 0, qp.qpn);
  }
}
