/**
 * The send engine (requester side of a QP, rxe_req's role): fetch send WQEs
 * by DMA after a doorbell, check them, give them PSNs, cut messages into
 * path-MTU packets with the opcode table, read each packet's payload by DMA
 * and hand it to the port. Its per-QP state is `qp.req`; each WQE moves
 * through `WqeState` POSTED → PROCESSING → SENDING → PENDING as rxe_req
 * moves `wqe->state`. Retransmission (go-back-N from a PSN) is driven by the
 * completer, which calls {@link Requester.rewind} and {@link Requester.kick}.
 *
 * Timing per WQE: the fetch (a DMA read of the WQE's size as the doorbell or
 * the previous WQE's link told it, mthca-style), `wqeProcessNs`, then
 * per packet the send engine (`txPacketNs`, one packet at a time per HCA),
 * a payload DMA read (none for inline data) and the link. Fetches
 * and payload reads overlap (the bus model serializes only the transfers),
 * and up to `txWindowFor(profile)` packets of a QP are in flight between DMA and
 * the port, so long messages stream at min(bus, link).
 *
 * @module
 */

import { HwQpState, MptAccess, QpServiceType } from "./commands.ts";
import { PAGE_SIZE } from "../sim/memory.ts";
import type { EventHandle } from "../sim/engine.ts";
import type { HcaCore } from "./core.ts";
import type { MptEntry } from "./mpt.ts";
import { CqeSyndrome, CqeVendorErr } from "./cqe.ts";
import { OP, pickOpcode, type Position } from "./opcode.ts";
import { bthRecord, type PacketInit, wireLength } from "./packet.ts";
import {
  FetchedWqe,
  holdsPsns,
  isReadOrAtomic,
  psnAdd,
  psnDiff,
  type Qp,
  type SendWqe,
  TRANSPORT_OF_SERVICE,
  type TxSlot,
  WqeKind,
  WqeState,
} from "./qp.ts";
import { Line } from "../sim/line.ts";
import { interPacketDelay, portNominalGbps } from "./rate.ts";
import { ackTimeoutNs } from "./timers.ts";
import { routeTo, type Transport, TxWindow, UNROUTED } from "./transport.ts";
import {
  decodeSendWqe,
  type ParsedSendWqe,
  QKEY_USE_QP,
  SEG_BYTES,
  WQE_NEXT_SIZE_OFFSET,
  WqeFlags,
  WqeOpcode,
} from "./wqe.ts";

/**
 * WQE fetches a QP may have outstanding (the engine prefetches posted WQEs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FETCH_DEPTH } from "./requester.ts";
 * // WQE fetches in flight per QP: with 0.9 µs DMA reads, at most this many WQEs per 0.9 µs.
 * assert.ok(FETCH_DEPTH / 0.9e-6 > 1e6); // fetching never limits a million WQEs/s
 * ```
 */
export const FETCH_DEPTH = 8;
/** The requester sets AckReq at least every this many packets of a long message. */
const ACKREQ_EVERY = 64;
/** Largest message (IBTA §9.4: DMA length is a 31-bit quantity for verbs). */
const MAX_MSG = 2 ** 31;
/** An atomic operates on 8 bytes and returns 8 (IBTA vol 1 §9.4.5). */
const ATOMIC_BYTES = 8;
/** Where packet `i` of a message falls in it (`last`: it is the message's last). */
function positionOf(i: number, last: boolean): Position {
  return i === 0 ? (last ? "only" : "first") : last ? "last" : "middle";
}

/** Rights a gather needs: none (a region is always readable by its owner; mthca sets MPT LOCAL_READ on every region). */
const GATHER_RIGHTS = 0;

function kindOf(op: number): number {
  switch (op) {
    case WqeOpcode.SEND:
    case WqeOpcode.SEND_IMM:
      return WqeKind.SEND;
    case WqeOpcode.RDMA_WRITE:
    case WqeOpcode.RDMA_WRITE_IMM:
      return WqeKind.WRITE;
    case WqeOpcode.RDMA_READ:
      return WqeKind.READ;
    default:
      return WqeKind.ATOMIC;
  }
}

/**
 * One HCA's send engine (all QPs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Requester } from "./requester.ts";
 * // The device builds one; its per-QP state lives in `qp.req`.
 * assert.equal(typeof Requester.prototype.kick, "function");
 * ```
 */
export class Requester {
  #tagFetch: number;
  #tagPkt: number;
  #tagStep: number;
  #tagTimer: number;
  #scratch: Uint8Array = new Uint8Array(1024);
  // WQE fetches on their way, in issue order: like payload reads (below), the
  // bus completes them in the order they were issued, so one handler takes
  // each from here (no closure per fetch).
  #fqQp: Qp[] = [];
  #fqCounter: number[] = [];
  #fqBytes: number[] = [];
  #fqEpoch: number[] = [];
  #fqLine = new Line([this.#fqQp], [this.#fqCounter, this.#fqBytes, this.#fqEpoch]);
  // Packets whose payload DMA read is on its way, in issue order: the bus
  // completes reads in the order they were issued (no completion time is
  // earlier than one before it), so their events fire in that order, and one
  // handler made once takes each from here (no closure per packet).
  #rdQp: Qp[] = [];
  #rdSlot: TxSlot[] = [];
  #rdPkt: number[] = [];
  #rdOff: number[] = [];
  #rdLen: number[] = [];
  #rdEpoch: number[] = [];
  /**
   * The entries the read was translated through as it was issued: one (the bytes lie in one
   * gather entry), one per gather entry in order, or undefined (a key check failed then).
   */
  #rdMr: (MptEntry | MptEntry[] | undefined)[] = [];
  #rdLine = new Line([this.#rdQp, this.#rdSlot, this.#rdMr], [
    this.#rdPkt,
    this.#rdOff,
    this.#rdLen,
    this.#rdEpoch,
  ]);
  #views: Uint8Array[] = [];

  /**
   * Create it (hardware state; the device builds these).
   * @param core device internals
   * @param tp shared transport services
   * @param onTimeout the completer's retransmission-timeout handler
   */
  constructor(
    private core: HcaCore,
    private tp: Transport,
    private onTimeout: (qp: Qp) => void,
  ) {
    const e = core.engine;
    this.#tagFetch = e.tag("hca.wqe_fetch");
    this.#tagPkt = e.tag("hca.req_pkt");
    this.#tagStep = e.tag("hca.req_step");
    this.#tagTimer = e.tag("hca.retry_timer");
  }

  /**
   * Send doorbell for a QP the device accepted: the new SQ producer counter
   * and the size (16-byte units) of the first WQE it announces, the one at
   * the old producer counter (mthca's `size0`).
   */
  doorbell(qp: Qp, counter: number, size: number): void {
    const req = qp.req;
    if (req.wqeSizes.length !== qp.sqSize) req.wqeSizes = new Uint8Array(qp.sqSize);
    if (counter !== qp.sqProducer) req.wqeSizes[qp.sqProducer & (qp.sqSize - 1)] = size;
    qp.sqProducer = counter;
    if (qp.state === HwQpState.ERR || qp.state === HwQpState.SQE) {
      // IBTA §10.3.1: WRs posted to a QP in Error (SQ in SQE) complete flushed.
      this.tp.flushSend(qp);
      return;
    }
    this.fetch(qp);
  }

  /**
   * Issue WQE fetches for posted WQEs whose size the device knows, up to
   * {@link FETCH_DEPTH} in flight. A WQE announced in the same doorbell as
   * its predecessor waits for the predecessor's fetch, which brings its link.
   */
  fetch(qp: Qp): void {
    const req = qp.req;
    const mask = qp.sqSize - 1;
    while (
      req.fetchCounter !== qp.sqProducer && req.fetching < FETCH_DEPTH &&
      qp.sqCount + req.fetching < qp.sqSize
    ) {
      const c = req.fetchCounter;
      const size = req.wqeSizes[c & mask];
      if (size === 0) return;
      req.wqeSizes[c & mask] = 0;
      req.fetchCounter = (c + 1) >>> 0;
      req.fetching++;
      const t = this.#fqLine.add();
      this.#fqQp[t] = qp;
      this.#fqCounter[t] = c;
      this.#fqBytes[t] = size * SEG_BYTES;
      this.#fqEpoch[t] = req.fetchEpoch;
      this.core.bus.read(size * SEG_BYTES, this.#fetchIn, this.#tagFetch);
    }
  }

  /** The oldest WQE fetch on its way is in. */
  #fetchIn = (): void => {
    const line = this.#fqLine;
    const h = line.head;
    const qp = this.#fqQp[h];
    const counter = this.#fqCounter[h], bytes = this.#fqBytes[h], epoch = this.#fqEpoch[h];
    line.drop();
    this.#fetched(qp, counter, bytes, epoch);
  };

  #fetched(qp: Qp, counter: number, bytes: number, epoch: number): void {
    if (qp.req.fetchEpoch !== epoch) return; // flushed or reset meanwhile
    qp.req.fetching--;
    if (this.#scratch.length < bytes) {
      this.#scratch = new Uint8Array(bytes);
      this.#views = [];
    }
    // One view per fetch size, made once (the WQE is parsed before the next fetch lands).
    const buf = this.#views[bytes / SEG_BYTES] ??= this.#scratch.subarray(0, bytes);
    const w = new FetchedWqe(counter);
    if (!this.core.tpt.gather(qp.wq, qp.sqWqeAddr(counter), bytes, buf, 0)) {
      fail(w, CqeSyndrome.LOCAL_PROT_ERR, CqeVendorErr.BAD_FRAME);
    } else {
      // The link to the next WQE (the provider wrote it before announcing that one),
      // needed only if that one is not being fetched already.
      const req = qp.req;
      const next = Math.min(buf[WQE_NEXT_SIZE_OFFSET], qp.sqStride / SEG_BYTES);
      const slot = (counter + 1) & (qp.sqSize - 1);
      if (next > 0 && req.fetchCounter === ((counter + 1) >>> 0) && req.wqeSizes[slot] === 0) {
        req.wqeSizes[slot] = next;
      }
      // Parsed into the record itself: one object per fetched WQE.
      const parsed = decodeSendWqe(
        buf,
        qp.type === QpServiceType.UD,
        this.core.profile.hca.maxSge,
        w,
      );
      if (typeof parsed === "string") {
        fail(w, CqeSyndrome.LOCAL_QP_OP_ERR, CqeVendorErr.BAD_WQE);
      } else {
        w.wqe = parsed;
        w.kind = kindOf(parsed.opcode);
        w.signaled = (parsed.flags & WqeFlags.SIGNALED) !== 0;
        this.#plan(qp, w, parsed);
      }
    }
    qp.sq.push(w);
    this.fetch(qp);
    this.kick(qp);
  }

  /** Local checks and the packet/PSN plan of a parsed WQE (IBTA §10.8.3 local errors). */
  #plan(qp: Qp, w: SendWqe, p: ParsedSendWqe): void {
    const hca = this.core.profile.hca;
    const rdAtomic = isReadOrAtomic(w.kind);
    // Opcode must suit the service (IBTA §9.2 table 38: UD sends only, UC no READ/atomics).
    if (qp.type === QpServiceType.UD && w.kind !== WqeKind.SEND) {
      return fail(w, CqeSyndrome.LOCAL_QP_OP_ERR, CqeVendorErr.BAD_OPCODE_FOR_QP);
    }
    if (qp.type === QpServiceType.UC && rdAtomic) {
      return fail(w, CqeSyndrome.LOCAL_QP_OP_ERR, CqeVendorErr.BAD_OPCODE_FOR_QP);
    }
    // The address handle must belong to the QP's PD (IBTA vol 1 §11.4.1.1; Linux rxe_get_av:
    // "PDs don't match for AH and QP", the WQE completing with LOC_QP_OP_ERR).
    const avPd = p.ud?.avPd;
    if (avPd !== undefined && avPd !== qp.pd) {
      return fail(w, CqeSyndrome.LOCAL_QP_OP_ERR, CqeVendorErr.PD_MISMATCH);
    }
    if (p.inline && (p.length > hca.maxInline || rdAtomic)) {
      return fail(w, CqeSyndrome.LOCAL_QP_OP_ERR, CqeVendorErr.BAD_WQE);
    }
    if (p.length > MAX_MSG) return fail(w, CqeSyndrome.LOCAL_LENGTH_ERR, CqeVendorErr.LENGTH);
    const mtu = this.#mtu(qp);
    if (qp.type === QpServiceType.UD && p.length > mtu) {
      // A UD message is one packet (IBTA §9.8), and one longer than the port's MTU is not
      // an error either: "the CI shall not emit any packets for this message. Further, the
      // CI shall not generate an error due to this condition" (IBTA vol 1 C10-93.1.1, as
      // Linux rxe_req.c quotes it and does). It takes its PSN and completes successfully,
      // in order, with nothing on the wire: no packets (`npkts` 0).
      w.npkts = 0;
      w.npsn = 1;
      return;
    }
    if (w.kind === WqeKind.ATOMIC && p.length !== ATOMIC_BYTES) {
      return fail(w, CqeSyndrome.LOCAL_LENGTH_ERR, CqeVendorErr.LENGTH);
    }
    // Gather/scatter keys: the QP's PD, bounds, and LOCAL_WRITE where the
    // HCA writes the response (IBTA vol 1 §10.6.3.3 local access keys: a failure is LOC_PROT_ERR).
    const need = rdAtomic ? MptAccess.LOCAL_WRITE : GATHER_RIGHTS;
    const sgl = p.sgl;
    for (let k = 0; k < sgl.length; k++) {
      const s = sgl[k];
      const r = this.core.tpt.check(s.lkey, qp.pd, s.addr, s.length, need);
      if (typeof r === "number") return fail(w, CqeSyndrome.LOCAL_PROT_ERR, r);
    }
    const pkts = Math.max(1, Math.ceil(p.length / mtu));
    if (w.kind === WqeKind.READ) {
      w.npkts = 1;
      w.npsn = pkts;
    } else if (w.kind === WqeKind.ATOMIC) {
      w.npkts = 1;
      w.npsn = 1;
    } else {
      w.npkts = pkts;
      w.npsn = pkts;
    }
  }

  #mtu(qp: Qp): number {
    if (qp.type === QpServiceType.UD) {
      const port = this.tp.port(qp.port);
      return port && port.activeMtu > 0 ? port.activeMtu : qp.mtuBytes;
    }
    return qp.mtuBytes;
  }

  /** Run the send engine for `qp` soon (idempotent). */
  kick(qp: Qp): void {
    const req = qp.req;
    if (req.scheduled) return;
    req.scheduled = true;
    const now = this.core.engine.now;
    const at = req.holdUntil > now ? req.holdUntil - now : 0;
    this.core.engine.post(at, req.step ?? this.#stepOf(qp), this.#tagStep);
  }

  // Closures are made apart from the per-packet functions that need them
  // rarely: a function that makes one from its parameters allocates their
  // context on every call, whether or not it makes the closure.

  /** The QP's send-engine step callback, made once per QP. */
  #stepOf(qp: Qp): () => void {
    return qp.req.step = () => this.#step(qp);
  }

  /** Build packet `i` `delayNs` from now (inline data: no payload read). */
  #emitLater(
    delayNs: number,
    qp: Qp,
    slot: TxSlot,
    i: number,
    off: number,
    len: number,
    epoch: number,
  ): void {
    this.core.engine.post(
      delayNs,
      () => this.#emit(qp, slot, i, off, len, epoch),
      this.#tagPkt,
    );
  }

  /** The retransmission timer's event, `delayNs` from now. */
  #timerEvent(qp: Qp, delayNs: number): EventHandle {
    return this.core.engine.schedule(delayNs, () => this.#timerFired(qp), this.#tagTimer);
  }

  /**
   * Move the WQE at `req.index` forward as far as the window allows: start
   * it (POSTED → PROCESSING, paying `wqeProcessNs`), give it PSNs
   * (→ SENDING), issue its request packets (→ PENDING after the last).
   */
  #step(qp: Qp): void {
    const req = qp.req;
    req.scheduled = false;
    if (qp.state !== HwQpState.RTS && qp.state !== HwQpState.SQD) return;
    const now = this.core.engine.now;
    if (req.holdUntil > now) return this.kick(qp);
    const window = this.tp.windowFor(qp);
    while (req.txInFlight < window && !req.error) {
      const w = qp.sq[req.index];
      if (!w) return;
      if (w.state === WqeState.ERROR) {
        // Completes in order once everything before it has (the completer's job).
        req.error = true;
        req.index++;
        this.tp.engines.localError(qp);
        return;
      }
      if (w.state === WqeState.POSTED || w.state === WqeState.PROCESSING) {
        if (qp.state === HwQpState.SQD) return this.tp.engines.checkDrained(qp);
        const p = w.wqe!;
        // IBTA §10.8.3: a fenced WR waits for prior RDMA READs and atomics.
        if ((p.flags & WqeFlags.FENCE) && req.rdAtomicOutstanding > 0) return;
        // IBTA §11.2.4: at most max_rd_atomic RDMA READs and atomics outstanding (the initiator
        // depth); 0 allows none, and such a WR waits at the head of the queue, as rxe's
        // check_init_depth and qib's make_rc_req never issue it (mthca sets SRE/SAE only for a
        // depth above 0: "Fix corner cases in max_rd_atomic value handling").
        if (isReadOrAtomic(w.kind) && req.rdAtomicOutstanding >= qp.maxRdAtomic) return;
        if (w.state === WqeState.POSTED) {
          w.state = WqeState.PROCESSING;
          req.holdUntil = now + this.core.profile.hca.wqeProcessNs;
          return this.kick(qp);
        }
        w.state = WqeState.SENDING;
        // New PSNs continue after the highest ever used (a rewind only lowers `req.psn`).
        w.firstPsn = req.psnHigh;
      }
      // A path slower than the port: the packet waits for its turn (the WQE's processing above
      // overlaps the wait, as it would in a device pacing its link).
      if (req.paceUntil > now) {
        req.holdUntil = req.paceUntil;
        return this.kick(qp);
      }
      const rdAtomic = isReadOrAtomic(w.kind);
      if (rdAtomic || w.sentPkts + 1 >= w.npkts) {
        // Move on before issuing: a UC/UD WQE may complete (and leave `sq`) synchronously.
        req.index++;
        const end = psnAdd(w.firstPsn, w.npsn);
        if (psnDiff(end, req.psn) > 0) req.psn = end;
        if (psnDiff(end, req.psnHigh) > 0) req.psnHigh = end;
      }
      if (rdAtomic) {
        if (w.state !== WqeState.PENDING) {
          w.state = WqeState.PENDING;
          req.rdAtomicOutstanding++;
        }
        this.#issueReadOrAtomic(qp, w);
      } else {
        const len = this.#issuePacket(qp, w);
        // Static rate control (IBTA vol 1 §9.11): only a path slower than the port pays more
        // than this one test of a value at hand (the WQE's AV, or the QP's path).
        const p = w.wqe!;
        const rate = p.ud !== undefined ? p.ud.staticRate : qp.path.staticRate;
        if (rate) this.#pace(qp, w, rate, len, now);
      }
    }
  }

  /**
   * After a packet of `len` payload bytes issued `now` on a path of `staticRate` (`enum
   * ibv_rate`) slower than its port, the QP's next packet starts `(IPD + 1) × T` after this one,
   * `T` this packet's time on the port's wire (IBTA vol 1 §9.11, static rate control; the path
   * as a UD WQE's address vector or a connected QP's primary path gives it).
   */
  #pace(qp: Qp, w: SendWqe, staticRate: number, len: number, now: number): void {
    const port = this.tp.port(qp.port);
    const link = port?.link;
    if (!port || !link || len < 0) return;
    const ipd = interPacketDelay(
      staticRate,
      portNominalGbps(link.params.width, link.params.laneSignalBytesPerSec),
    );
    if (ipd === 0) return;
    // The packet just issued, as #emit builds it: its opcode gives its headers (RETH on a
    // WRITE's first, ImmDt on the last, DETH for UD), the path a GRH or none.
    const p = w.wqe!, i = w.sentPkts - 1;
    const opcode = pickOpcode(
      TRANSPORT_OF_SERVICE[qp.type],
      w.kind === WqeKind.WRITE ? "write" : "send",
      positionOf(i, i === w.npkts - 1),
      p.opcode === WqeOpcode.SEND_IMM || p.opcode === WqeOpcode.RDMA_WRITE_IMM,
    );
    const grh = p.ud !== undefined ? p.ud.grh : qp.path.grh;
    qp.req.paceUntil = now +
      (ipd + 1) * port.wireTimeNs(wireLength(opcode, len, grh !== undefined));
  }

  /** Reserve the next place in the QP's packet order. */
  #slot(qp: Qp, w: SendWqe, last: boolean): TxSlot {
    const slot: TxSlot = { ready: false, init: undefined, windowed: true, w, last };
    const req = qp.req;
    req.slots[req.slotLine.add()] = slot;
    req.txInFlight++;
    return slot;
  }

  /** Hand every leading filled slot to the port, in issue order. */
  #flush(qp: Qp): void {
    const q = qp.req.slots;
    const line = qp.req.slotLine;
    let dropped = false;
    while (line.head < line.tail && q[line.head].ready) {
      const s = q[line.head];
      line.drop();
      if (!s.init) {
        qp.req.txInFlight--;
        // A WQE with no packets to send (#emitNothing) is sent once its turn comes, unless a
        // flush completed it meanwhile (then it is no longer in the send queue).
        const w = s.w;
        if (w?.npkts === 0 && w.state === WqeState.PENDING && qp.sq.indexOf(w, qp.sqHead) >= 0) {
          this.tp.engines.unreliableSent(qp, w);
        } else dropped = true;
        continue;
      }
      this.tp.send(qp.port, s.init, qp, TxWindow.REQUESTER);
      if (qp.type === QpServiceType.RC) this.armTimer(qp);
      else if (s.last) this.tp.engines.unreliableSent(qp, s.w!);
    }
    if (dropped) this.kick(qp);
  }

  /** One packet of a SEND or RDMA WRITE; returns its payload bytes (-1: none sent). */
  #issuePacket(qp: Qp, w: SendWqe): number {
    if (w.npkts === 0) {
      this.#emitNothing(qp, w);
      return -1;
    }
    const p = w.wqe!;
    const mtu = this.#mtu(qp);
    const req = qp.req;
    const i = w.sentPkts++;
    const off = i * mtu;
    const len = Math.min(mtu, p.length - off);
    const last = i === w.npkts - 1;
    if (last) w.state = WqeState.PENDING;
    const psn = psnAdd(w.firstPsn, i);
    const nextPsn = psnAdd(psn, 1);
    if (psnDiff(nextPsn, req.psn) > 0) req.psn = nextPsn;
    if (psnDiff(nextPsn, req.psnHigh) > 0) req.psnHigh = nextPsn;
    const slot = this.#slot(qp, w, last);
    const epoch = req.epoch;
    // The send engine builds the packet, then (unless the data is inline) reads its payload.
    const engine = this.tp.sendEngine();
    if (!p.inline && len > 0) {
      const t = this.#rdLine.add();
      this.#rdQp[t] = qp;
      this.#rdSlot[t] = slot;
      this.#rdPkt[t] = i;
      this.#rdOff[t] = off;
      this.#rdLen[t] = len;
      this.#rdEpoch[t] = epoch;
      // The device translates the gather list as it issues the read: a read issued before
      // HW2SW_MPT took an entry out completes through it, and the command waits for it (Linux
      // mthca_mr.c mthca_free_mr: the pages are unpinned only after the command returns,
      // MemoryTranslation.retire); one issued after finds the key gone: LOC_PROT_ERR.
      const mr = this.#translate(qp, p, off, len);
      this.#rdMr[t] = mr;
      const at = this.core.bus.read(len, this.#payloadIn, this.#tagPkt, engine);
      if (mr !== undefined) {
        const tpt = this.core.tpt;
        if (Array.isArray(mr)) { for (let k = 0; k < mr.length; k++) tpt.translated(mr[k], at); }
        else tpt.translated(mr, at);
      }
    } else if (engine > 0) this.#emitLater(engine, qp, slot, i, off, len, epoch);
    else this.#emit(qp, slot, i, off, len, epoch);
    return len;
  }

  /**
   * A UD message longer than the MTU (IBTA C10-93.1.1): no packet, but a
   * place in the QP's packet order, so that it completes after the WQEs
   * before it have gone to the port.
   */
  #emitNothing(qp: Qp, w: SendWqe): void {
    w.state = WqeState.PENDING;
    const slot = this.#slot(qp, w, true);
    slot.ready = true;
    this.#flush(qp);
  }

  /** The payload read of the oldest packet on its way is in: build it. */
  #payloadIn = (): void => {
    const line = this.#rdLine;
    const h = line.head;
    const qp = this.#rdQp[h];
    const slot = this.#rdSlot[h];
    const i = this.#rdPkt[h], off = this.#rdOff[h], len = this.#rdLen[h], epoch = this.#rdEpoch[h];
    const mr = this.#rdMr[h];
    line.drop();
    this.#emit(qp, slot, i, off, len, epoch, mr);
  };

  /**
   * Build packet `i` of the slot's WQE once its payload is in the device (`mr`: the entries
   * its read was translated through, {@link #translate}; unused for inline data).
   */
  #emit(
    qp: Qp,
    slot: TxSlot,
    i: number,
    off: number,
    len: number,
    epoch: number,
    mr?: MptEntry | MptEntry[],
  ): void {
    slot.ready = true;
    if (qp.req.epoch !== epoch) return this.#flush(qp);
    const w = slot.w!;
    const last = slot.last;
    const p = w.wqe!;
    let payload: Uint8Array | undefined;
    if (len > 0) {
      if (p.inline) payload = p.inline.subarray(off, off + len);
      else {
        payload = mr === undefined ? undefined : this.#payload(p, off, len, mr);
        if (!payload) {
          // A failure after the WQE got its PSNs: it keeps its state and
          // completes in error at the head (the completer's job).
          qp.req.error = true;
          w.failSyndrome = CqeSyndrome.LOCAL_PROT_ERR;
          w.failVendorErr = CqeVendorErr.BAD_FRAME;
          this.#flush(qp);
          this.tp.engines.localError(qp);
          return;
        }
      }
    }
    const tp = TRANSPORT_OF_SERVICE[qp.type];
    const first = i === 0;
    const pos = positionOf(i, last);
    const isWrite = w.kind === WqeKind.WRITE;
    const imm = p.opcode === WqeOpcode.SEND_IMM || p.opcode === WqeOpcode.RDMA_WRITE_IMM;
    const opcode = pickOpcode(tp, isWrite ? "write" : "send", pos, imm);
    const psn = psnAdd(w.firstPsn, i);
    const req = qp.req;
    req.noAckPkts++;
    const ackReq = qp.type === QpServiceType.RC && (last || req.noAckPkts >= ACKREQ_EVERY);
    if (ackReq) req.noAckPkts = 0;
    // Every header the packet may carry is in the literal (absent ones undefined, which is how
    // the encoder and receivers test for them): adding one later would allocate a property store.
    const init: PacketInit = {
      lrh: UNROUTED, // replaced by the route below
      bth: bthRecord(
        opcode,
        qp.destQpn,
        psn,
        this.tp.pkey(qp),
        last && (p.flags & WqeFlags.SOLICITED) !== 0,
        ackReq,
        len,
      ),
      reth: isWrite && first
        ? { va: BigInt(p.remoteAddr), rkey: p.rkey, dmaLen: p.length }
        : undefined,
      immDt: imm && last ? p.imm : undefined,
      payload,
    };
    if (qp.type === QpServiceType.UD) this.#udRoute(qp, p, init);
    else this.tp.route(qp, init);
    slot.init = init;
    this.#flush(qp);
  }

  #udRoute(qp: Qp, p: ParsedSendWqe, init: PacketInit): void {
    const u = p.ud!;
    routeTo(init, this.tp.port(qp.port), u);
    init.bth.destQp = u.remoteQpn;
    // IBTA vol 1 §3.5.3: a Q_Key with the high bit set means "use the QP's own".
    init.deth = { qkey: (u.qkey & QKEY_USE_QP) ? qp.qkey : u.qkey, srcQp: qp.qpn };
  }

  /**
   * The entries message bytes [off, off+len) are read through, checked now (the QP's PD,
   * bounds): the one entry when they lie in one gather entry, else one per gather entry they
   * span, in order; undefined if a check fails (the packet then completes LOC_PROT_ERR).
   */
  #translate(
    qp: Qp,
    p: ParsedSendWqe,
    off: number,
    len: number,
  ): MptEntry | MptEntry[] | undefined {
    const tpt = this.core.tpt;
    const sgl = p.sgl;
    let pos = 0; // message offset of the current SGE
    let done = 0;
    let one: MptEntry | undefined;
    let many: MptEntry[] | undefined;
    for (let k = 0; k < sgl.length && done < len; k++) {
      const s = sgl[k];
      const sEnd = pos + s.length;
      if (off + done < sEnd) {
        const from = off + done - pos;
        const n = Math.min(s.length - from, len - done);
        const e = tpt.check(s.lkey, qp.pd, s.addr + from, n, GATHER_RIGHTS);
        if (typeof e === "number") return undefined;
        if (one === undefined) one = e;
        else (many ??= [one]).push(e);
        done += n;
      }
      pos = sEnd;
    }
    if (done !== len) return undefined;
    return many ?? one;
  }

  /**
   * Message bytes [off, off+len) through the entries `mr` the read was translated through
   * ({@link #translate}): a view of the host frame when they sit in one page of one gather
   * entry (the encoder copies them at once, so no snapshot is needed), else a gathered copy.
   * Undefined if an entry is no longer reachable (HW2SW_MPT completed, the frames may be
   * released: fail closed) or a page is not RAM.
   */
  #payload(
    p: ParsedSendWqe,
    off: number,
    len: number,
    mr: MptEntry | MptEntry[],
  ): Uint8Array | undefined {
    const tpt = this.core.tpt;
    const sgl = p.sgl;
    if (!Array.isArray(mr)) {
      if (!tpt.reachable(mr)) return undefined;
      let pos = 0;
      for (let k = 0; k < sgl.length; k++) {
        const s = sgl[k];
        if (off < pos + s.length) {
          const va = s.addr + off - pos;
          const po = va % PAGE_SIZE;
          if (po + len <= PAGE_SIZE) {
            const f = tpt.frameBytes(mr, va, false);
            return f === undefined ? undefined : f.subarray(po, po + len);
          }
          const out = new Uint8Array(len);
          return tpt.gather(mr, va, len, out, 0) ? out : undefined;
        }
        pos += s.length;
      }
      return undefined;
    }
    const out = new Uint8Array(len);
    let pos = 0; // message offset of the current SGE
    let done = 0;
    let m = 0;
    for (let k = 0; k < sgl.length && done < len; k++) {
      const s = sgl[k];
      const sEnd = pos + s.length;
      if (off + done < sEnd) {
        const from = off + done - pos;
        const n = Math.min(s.length - from, len - done);
        const e = mr[m++];
        if (!tpt.reachable(e) || !tpt.gather(e, s.addr + from, n, out, done)) return undefined;
        done += n;
      }
      pos = sEnd;
    }
    return out;
  }

  /** The RDMA READ request (possibly resumed mid-way) or the atomic request. */
  #issueReadOrAtomic(qp: Qp, w: SendWqe): void {
    const p = w.wqe!;
    w.sentPkts = 1;
    const init: PacketInit = {
      lrh: UNROUTED,
      bth: {
        opcode: OP.RC_RDMA_READ_REQUEST,
        destQp: qp.destQpn,
        psn: 0,
        pkey: this.tp.pkey(qp),
        ackReq: true,
      },
    };
    if (w.kind === WqeKind.READ) {
      // A retried READ asks only for what has not arrived (IBTA vol 1 §9.4.4: a retried READ may reread only the missing part).
      init.bth.psn = psnAdd(w.firstPsn, w.readPkts);
      init.reth = {
        va: BigInt(p.remoteAddr + w.readDone),
        rkey: p.rkey,
        dmaLen: p.length - w.readDone,
      };
    } else {
      init.bth.opcode = p.opcode === WqeOpcode.ATOMIC_CS ? OP.RC_COMPARE_SWAP : OP.RC_FETCH_ADD;
      init.bth.psn = w.firstPsn;
      init.atomicEth = {
        va: BigInt(p.remoteAddr),
        rkey: p.rkey,
        swapAdd: p.swapAdd,
        compare: p.opcode === WqeOpcode.ATOMIC_CS ? p.compare : 0n,
      };
    }
    this.tp.route(qp, init);
    const slot = this.#slot(qp, w, true);
    slot.ready = true;
    slot.init = init;
    this.#flush(qp);
  }

  /**
   * (Re)arm the retransmission timer lazily: the deadline moves with every
   * packet and ACK, the engine event only when it fires early.
   */
  armTimer(qp: Qp): void {
    const t = ackTimeoutNs(qp.timeout);
    if (t === Infinity) return;
    const comp = qp.comp;
    const now = this.core.engine.now;
    comp.timerDeadline = Math.max(now, qp.req.holdUntil) + t;
    if (!comp.timer || comp.timer.done) comp.timer = this.#timerEvent(qp, comp.timerDeadline - now);
  }

  /** Stop the timer (nothing outstanding). */
  stopTimer(qp: Qp): void {
    qp.comp.timerDeadline = 0;
  }

  #timerFired(qp: Qp): void {
    const comp = qp.comp;
    comp.timer = undefined;
    if (comp.timerDeadline === 0) return;
    if (qp.state !== HwQpState.RTS && qp.state !== HwQpState.SQD) return;
    const now = this.core.engine.now;
    if (comp.timerDeadline > now) {
      comp.timer = this.#timerEvent(qp, comp.timerDeadline - now);
      return;
    }
    comp.timerDeadline = 0;
    this.onTimeout(qp);
  }

  /**
   * Go back to `psn` (IBTA §9.7.6.1: go-back-N): the WQE holding it resends
   * from that packet, every later WQE from its start.
   */
  rewind(qp: Qp, psn: number): void {
    const req = qp.req;
    req.epoch++;
    let found = -1;
    for (let i = qp.sqHead; i < qp.sq.length; i++) {
      const w = qp.sq[i];
      if (!holdsPsns(w)) continue;
      if (found < 0) {
        const d = psnDiff(psn, w.firstPsn);
        if (d >= 0 && d < w.npsn) found = i;
        else continue;
      }
      const rdAtomic = isReadOrAtomic(w.kind);
      w.sentPkts = i === found && !rdAtomic ? psnDiff(psn, w.firstPsn) : 0;
      // Issued READs and atomics go back to SENDING and stop counting against max_rd_atomic.
      if (rdAtomic && w.state === WqeState.PENDING) req.rdAtomicOutstanding--;
      w.state = WqeState.SENDING;
    }
    if (found < 0) return;
    req.index = found;
    req.psn = psn;
    this.core.counters.retransmits++;
    this.kick(qp);
  }
}

/** A local check failed before the WQE was sent: it completes in error, in order. */
function fail(w: SendWqe, syndrome: number, vendorErr: number): void {
  w.state = WqeState.ERROR;
  w.failSyndrome = syndrome;
  w.failVendorErr = vendorErr;
}
