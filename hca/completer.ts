/**
 * The completer (requester side, rxe_comp's role): ACKs, NAKs, RDMA READ
 * responses and atomic ACKs coming back for a QP's requests; the
 * retransmission timeout; and send-queue completions in posting order
 * (IBTA vol 1 §9.7.5.3 requester response handling, §10.8 completions).
 * Its per-QP state is `qp.comp`; it moves WQEs to `WqeState.DONE` and
 * writes their CQEs (a syndrome for errors, FORMATS.md §7).
 *
 * @module
 */

import { EqeType, HwQpState, MptAccess, QpServiceType } from "./commands.ts";
import type { HcaCore } from "./core.ts";
import { CqeSyndrome, CqeVendorErr } from "./cqe.ts";
import type { MptEntry } from "./mpt.ts";
import { aethSyndrome, type Packet } from "./packet.ts";
import { OP } from "./opcode.ts";
import {
  holdsPsns,
  isReadOrAtomic,
  lastPsn,
  psnAdd,
  psnDiff,
  type Qp,
  type SendWqe,
  WqeKind,
  WqeState,
} from "./qp.ts";
import type { Requester } from "./requester.ts";
import { rnrTimerNs } from "./timers.ts";
import type { Transport } from "./transport.ts";

/** The error completion of each NAK code (IBTA vol 1 §9.7.5.2.x, table 44; mthca syndromes). */
const NAK_SYNDROME: Record<number, [number, number]> = {
  [aethSyndrome.NAK_INVALID_REQUEST]: [
    CqeSyndrome.REMOTE_INVAL_REQ_ERR,
    CqeVendorErr.NAK_INVALID_REQUEST,
  ],
  [aethSyndrome.NAK_REMOTE_ACCESS]: [CqeSyndrome.REMOTE_ACCESS_ERR, CqeVendorErr.NAK_REMOTE_ACCESS],
  [aethSyndrome.NAK_REMOTE_OPERATIONAL]: [
    CqeSyndrome.REMOTE_OP_ERR,
    CqeVendorErr.NAK_REMOTE_OPERATIONAL,
  ],
};

/** rnr_retry 7 means "retry forever" (IBTA vol 1 §9.7.5.2.8, §11.2.4.2). */
const RNR_RETRY_INFINITE = 7;
/** Bytes an atomic returns (IBTA vol 1 §9.4.5). */
const ATOMIC_BYTES = 8;

/**
 * One HCA's completer (all QPs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Completer } from "./completer.ts";
 * // The device builds one; its per-QP state lives in `qp.comp`.
 * assert.equal(typeof Completer.prototype.timeout, "function");
 * ```
 */
export class Completer {
  #tagRead: number;
  /** Scratch: the regions of the pieces `#scatter` checked, before it writes them. */
  #entries: MptEntry[] = [];

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
    if (psnDiff(psn, qp.comp.psn) < 0 || psnDiff(psn, qp.req.psnHigh) >= 0) return;
    const op = pkt.bth.opcode;
    if (op === OP.RC_ACKNOWLEDGE) return this.#ack(qp, psn, pkt.aeth!.syndrome);
    if (op === OP.RC_ATOMIC_ACKNOWLEDGE) return this.#atomicAck(qp, psn, pkt);
    return this.#readResponse(qp, psn, pkt);
  }

  #ack(qp: Qp, psn: number, syndrome: number): void {
    // An ACK (syndrome bits 7..5 zero, IBTA vol 1 §9.7.5.1.1 table 45) without a parse object.
    if ((syndrome & 0xe0) === 0) {
      if (!this.#implicitAck(qp, psnAdd(psn, 1))) return;
      this.#progress(qp, psnAdd(psn, 1));
      return;
    }
    const s = aethSyndrome.parse(syndrome);
    // NAKs acknowledge everything before their PSN (§9.7.5).
    if (!this.#implicitAck(qp, psn)) return;
    this.#progress(qp, psn);
    const w = this.#holding(qp, psn);
    if (!w) return;
    if (s.kind === "rnrNak") {
      this.core.counters.rnrNaksReceived++;
      // IBTA §9.7.5.2.8: rnr_retry 7 means retry forever.
      if (qp.rnrRetry !== RNR_RETRY_INFINITE) {
        if (qp.comp.rnrRetries === 0) {
          return this.#fail(
            qp,
            w,
            CqeSyndrome.RNR_RETRY_EXC_ERR,
            CqeVendorErr.RNR_RETRY_EXCEEDED,
          );
        }
        qp.comp.rnrRetries--;
      }
      qp.req.holdUntil = this.core.engine.now + rnrTimerNs(s.value);
      this.req.rewind(qp, psn);
      this.req.armTimer(qp);
      return;
    }
    if (s.kind === "nak" && s.value === aethSyndrome.NAK_PSN_SEQUENCE) {
      return this.#retry(qp, w, psn);
    }
    // A reserved NAK code is an unexpected response (IBTA vol 1 §9.7.5.2, table 44).
    const st = NAK_SYNDROME[s.value] ?? [CqeSyndrome.BAD_RESP_ERR, CqeVendorErr.BAD_RESPONSE];
    this.#fail(qp, w, st[0], st[1]);
  }

  #atomicAck(qp: Qp, psn: number, pkt: Packet): void {
    if (!this.#implicitAck(qp, psn)) return;
    const w = this.#head(qp);
    if (!w || w.kind !== WqeKind.ATOMIC || w.firstPsn !== psn) {
      if (w) this.#badResponse(qp, w);
      return;
    }
    const s = aethSyndrome.parse(pkt.aeth!.syndrome);
    if (s.kind !== "ack") return this.#badResponse(qp, w);
    // The original remote value lands in the local buffer in host (little-endian) order,
    // scattered over the WR's whole list (8 bytes in all, checked at post) as a READ response's
    // bytes are: Linux rxe_comp.c do_atomic copies it with copy_data over the WQE's DMA list.
    // Writing all 8 at the first entry would write past an entry shorter than 8 bytes.
    const buf = new Uint8Array(ATOMIC_BYTES);
    new DataView(buf.buffer).setBigUint64(0, pkt.atomicAckEth!.origRemData, true);
    const err = this.#scatter(qp, w, 0, buf);
    if (err !== 0) return this.#fail(qp, w, CqeSyndrome.LOCAL_PROT_ERR, err);
    this.#finishRdAtomic(qp, w);
    this.#progress(qp, psnAdd(psn, 1));
  }

  #readResponse(qp: Qp, psn: number, pkt: Packet): void {
    if (!this.#implicitAck(qp, psn)) return;
    const w = this.#head(qp);
    if (!w) return;
    // A READ response must answer the READ at the head, within its PSNs (IBTA vol 1 §9.7.5.3).
    if (w.kind !== WqeKind.READ || psnDiff(psn, w.firstPsn) >= w.npsn) {
      return this.#badResponse(qp, w);
    }
    const expected = psnAdd(w.firstPsn, w.readPkts);
    const d = psnDiff(psn, expected);
    if (d < 0) return; // duplicate response
    if (d > 0) {
      // A response packet went missing: ask again for the rest, once per gap.
      if (qp.comp.readRetryPsn === expected) return;
      qp.comp.readRetryPsn = expected;
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
      return this.#badResponse(qp, w);
    }
    if (len > 0) {
      const err = this.#scatter(qp, w, w.readDone, pkt.payload);
      if (err !== 0) return this.#fail(qp, w, CqeSyndrome.LOCAL_PROT_ERR, err);
    }
    w.readPkts++;
    w.readDone += len;
    qp.comp.readRetryPsn = -1;
    if (info.isLast) this.#finishRdAtomic(qp, w);
    this.#progress(qp, psnAdd(psn, 1));
  }

  /**
   * Place response bytes (a READ response's, an atomic's original value) at message offset `off`
   * of the WQE's scatter list (DMA writes). The L_Keys were checked when the WQE started, and
   * each piece is checked again now, every one before any is written: a region deregistered
   * since (its L_Key invalid once ibv_dereg_mr returns, IBTA vol 1 §10.6.3.3) takes no byte, and
   * the caller completes the WQE with LOC_PROT_ERR, as Linux rxe_comp.c do_read and do_atomic do
   * when copy_data through the key fails. Returns 0, or the {@link CqeVendorErr} of the first
   * piece that fails.
   */
  #scatter(qp: Qp, w: SendWqe, off: number, data: Uint8Array): number {
    const tpt = this.core.tpt;
    const sgl = w.wqe!.sgl;
    const entries = this.#entries;
    let n = 0;
    for (let pass = 0; pass < 2; pass++) {
      let pos = 0;
      let done = 0;
      let i = 0;
      for (let k = 0; k < sgl.length && done < data.length; k++) {
        const s = sgl[k];
        const end = pos + s.length;
        if (off + done < end) {
          const from = off + done - pos;
          const len = Math.min(s.length - from, data.length - done);
          if (pass === 0) {
            const e = tpt.check(s.lkey, qp.pd, s.addr + from, len, MptAccess.LOCAL_WRITE);
            if (typeof e === "number") {
              entries.length = 0;
              return e;
            }
            entries[n++] = e;
          } else {
            this.#place(entries[i++], s.addr + from, data.subarray(done, done + len));
          }
          done += len;
        }
        pos = end;
      }
    }
    entries.length = 0;
    return 0;
  }

  #place(e: MptEntry, va: number, data: Uint8Array): void {
    const tpt = this.core.tpt;
    // Checked when the response arrived, translated now: the bytes land even if the region is
    // deregistered in the DMA's time, as HW2SW_MPT completes only after them
    // (MemoryTranslation.retire); once it has, nothing is written (fail closed).
    tpt.translated(
      e,
      this.core.bus.write(data.length, () => {
        if (tpt.reachable(e)) tpt.scatter(e, va, data);
      }, this.#tagRead),
    );
  }

  /** The READ's last response or the atomic's ACK arrived: the WQE is DONE. */
  #finishRdAtomic(qp: Qp, w: SendWqe): void {
    // Only an issued request (PENDING) counts against max_rd_atomic; a rewound one does not.
    if (w.state === WqeState.PENDING) qp.req.rdAtomicOutstanding--;
    w.state = WqeState.DONE;
    this.tp.sqComplete(qp, w);
  }

  /**
   * Complete, in order, every SEND/WRITE whose last PSN is before `psn`.
   * A READ/atomic entirely before `psn` but unanswered means its response
   * was lost (IBTA §9.7.5 implied NAK): resend it. Returns false if the
   * QP left the path (error, rewind).
   */
  #implicitAck(qp: Qp, psn: number): boolean {
    const sq = qp.sq;
    for (let i = qp.sqHead; i < sq.length; i++) {
      const w = sq[i];
      if (w.state === WqeState.DONE) continue;
      if (!holdsPsns(w) || w.failSyndrome) break;
      if (psnDiff(psn, lastPsn(w)) <= 0) break;
      if (isReadOrAtomic(w.kind)) {
        // Once per gap: the later responses still in flight must not restart it again.
        const resume = psnAdd(w.firstPsn, w.readPkts);
        if (qp.comp.readRetryPsn !== resume) {
          qp.comp.readRetryPsn = resume;
          // A retry like any other, counted against retry_cnt (IBTA §9.7.6.1.3; qib's do_rc_ack
          // restarts through qib_restart_rc, rxe's check_psn goes to COMPST_ERROR_RETRY).
          if (qp.comp.retries === 0) {
            this.#fail(qp, w, CqeSyndrome.RETRY_EXC_ERR, CqeVendorErr.RETRY_EXCEEDED);
            return false;
          }
          qp.comp.retries--;
          this.req.rewind(qp, resume);
        }
        this.#pop(qp);
        return false;
      }
      // Acknowledged is complete, even if a rewind was about to resend it (a late ACK).
      w.state = WqeState.DONE;
      this.tp.sqComplete(qp, w);
    }
    this.#pop(qp);
    return qp.state === HwQpState.RTS || qp.state === HwQpState.SQD;
  }

  /** Forward progress up to (not including) `psn`: reset retry counts, move the timer. */
  #progress(qp: Qp, psn: number): void {
    const comp = qp.comp;
    if (psnDiff(psn, comp.psn) > 0) {
      comp.psn = psn;
      comp.retries = qp.retryCnt;
      comp.rnrRetries = qp.rnrRetry;
    }
    this.#pop(qp);
    if (psnDiff(qp.req.psnHigh, comp.psn) > 0) this.req.armTimer(qp);
    else this.req.stopTimer(qp);
    this.req.kick(qp);
    this.checkDrained(qp);
  }

  /** Drop completed WQEs from the head; complete a locally failed head in error. */
  #pop(qp: Qp): void {
    const sq = qp.sq;
    let i = qp.sqHead;
    while (i < sq.length && sq[i].state === WqeState.DONE) i++;
    // Nothing holds `qp.sq` or an index into it across a call that retires WQEs.
    if (i > qp.sqHead) qp.retireSq(i - qp.sqHead);
    const h = qp.sq[qp.sqHead];
    if (h && h.failSyndrome && qp.req.error && h.state !== WqeState.DONE) {
      this.#fail(qp, h, h.failSyndrome, h.failVendorErr);
    }
  }

  /** Oldest WQE not completed. */
  #head(qp: Qp): SendWqe | undefined {
    const sq = qp.sq;
    for (let i = qp.sqHead; i < sq.length; i++) if (sq[i].state !== WqeState.DONE) return sq[i];
    return undefined;
  }

  /** The WQE whose PSN range holds `psn`. */
  #holding(qp: Qp, psn: number): SendWqe | undefined {
    const sq = qp.sq;
    for (let i = qp.sqHead; i < sq.length; i++) {
      const w = sq[i];
      if (!holdsPsns(w)) continue;
      const d = psnDiff(psn, w.firstPsn);
      if (d >= 0 && d < w.npsn) return w;
    }
    return undefined;
  }

  /** Transport retry (timeout or sequence NAK), counted against retry_cnt (IBTA §9.7.6.1.3). */
  #retry(qp: Qp, w: SendWqe, psn: number): void {
    if (qp.comp.retries === 0) {
      return this.#fail(qp, w, CqeSyndrome.RETRY_EXC_ERR, CqeVendorErr.RETRY_EXCEEDED);
    }
    qp.comp.retries--;
    this.req.rewind(qp, psn);
    this.req.armTimer(qp);
  }

  /** The retransmission timer expired with requests unacknowledged. */
  timeout(qp: Qp): void {
    const comp = qp.comp;
    if (psnDiff(qp.req.psnHigh, comp.psn) <= 0) return;
    this.core.counters.timeouts++;
    const w = this.#holding(qp, comp.psn) ?? this.#head(qp);
    if (!w) return;
    const psn = w.kind === WqeKind.READ ? psnAdd(w.firstPsn, w.readPkts) : comp.psn;
    this.#retry(qp, w, psn);
  }

  /**
   * Complete `w` with an error and move the QP to ERR (RC) or SQE (UC/UD
   * send errors), flushing the rest (IBTA vol 1 §10.8.3 error completions, §10.3.1 QP states).
   */
  #fail(qp: Qp, w: SendWqe, syndrome: number, vendorErr: number): void {
    // Everything before `w` has completed (callers acknowledged it first).
    w.state = WqeState.DONE;
    this.tp.sqError(qp, w.counter, syndrome, vendorErr);
    qp.retireSq(qp.sq.indexOf(w) + 1 - qp.sqHead);
    qp.req.index = qp.sqHead;
    this.tp.toError(qp, -1, true);
  }

  /** An unexpected response for `w` (IBTA vol 1 §9.7.5.3: BAD_RESP_ERR, QP to error). */
  #badResponse(qp: Qp, w: SendWqe): void {
    this.#fail(qp, w, CqeSyndrome.BAD_RESP_ERR, CqeVendorErr.BAD_RESPONSE);
  }

  /** A locally failed WQE may now be at the head. */
  localError(qp: Qp): void {
    this.#pop(qp);
  }

  /** UC/UD: the last packet of `w` left the port — the WQE is complete (IBTA §10.8). */
  unreliableSent(qp: Qp, w: SendWqe): void {
    w.state = WqeState.DONE;
    this.tp.sqComplete(qp, w);
    this.#pop(qp);
    this.checkDrained(qp);
  }

  /** SQD: raise SQ_DRAINED once nothing is outstanding (IBTA §10.3.1 SQ Drain). */
  checkDrained(qp: Qp): void {
    if (qp.state !== HwQpState.SQD || !qp.comp.draining) return;
    for (let i = qp.sqHead; i < qp.sq.length; i++) if (holdsPsns(qp.sq[i])) return;
    qp.comp.draining = false;
    if (qp.sqdEvent) this.core.asyncEvent(EqeType.SQ_DRAINED, 0, qp.qpn);
  }
}
