/**
 * The split baseline's dom0 half: dom0 owns the queues the device sees.
 *
 * Design (documented in docs/architecture.md): the guest runs the same
 * user-level provider, which formats WQEs into the guest's own queue
 * buffer and reads CQEs from the guest's own CQ ring — but its doorbells
 * and polls become requests on the ring (`drivers/split/front.ts`). For
 * every QP, CQ and SRQ the backend keeps a *shadow* queue in dom0's heap,
 * registered with the device under the guest's context and rung through a
 * UAR page that only dom0 maps. A DOORBELL request makes dom0 copy the
 * new WQEs out of the guest's queue (through its grant mapping: copy
 * before use, the guest cannot change a WQE after dom0 took it) into the
 * shadow and ring the real doorbell; a POLL_CQ request makes dom0 copy
 * the CQEs the device wrote into the shadow CQ over to the guest's ring
 * (never more than the guest has room for) and give the shadow entries
 * back to the device. Data buffers are the guest's memory regions,
 * registered through grants exactly as in bypass mode, so the payload
 * itself moves by DMA; only the queue entries cross dom0.
 *
 * Every post and every poll is therefore one ring request, one backend
 * wake-up (when the backend was idle) and a memcpy in dom0.
 *
 * The backend knows none of this: {@link SplitContext} is the
 * `ContextDatapath` it opens per context, and `ops.ts` the handlers it is
 * given for the split requests ({@link SPLIT_DATAPATH}).
 *
 * @module
 */
import { CQE_BYTES, cqeReady, setCqeOwner } from "../../hca/cqe.ts";
import {
  cmdWord,
  CqDbCmd,
  DOORBELL_BYTES,
  doorbellInto,
  sendDoorbellWord,
  splitSendDoorbellWord,
  UarOffset,
} from "../../hca/uar.ts";
import { SEG_BYTES, WQE_SIZE_OFFSET } from "../../hca/wqe.ts";
import { PAGE_SIZE } from "../../sim/memory.ts";
import type { ContextDatapath } from "../back/context.ts";
import type { DatapathEnv } from "../back/datapath.ts";
import type { MappedBuffer } from "../back/grants.ts";
import { requestError, type VerbsError } from "../uapi/errors.ts";
import type { WqLayout } from "../uapi/uverbs.ts";

interface ShadowQp {
  qpn: number;
  guest: MappedBuffer;
  shadow: number;
  wq: WqLayout;
  sqPosted: number;
  rqPosted: number;
}

interface ShadowCq {
  cqn: number;
  guest: MappedBuffer;
  shadow: number;
  logSize: number;
  /** Shadow entries handed to the guest (free-running). */
  ci: number;
  /** The guest's consumer index as of its last poll. */
  guestCi: number;
  /** The consumer index the device was last told (SET_CI): the guest's, not dom0's copy's. */
  deviceCi: number;
  /** CQEs handed over at a poll's call ({@link SplitContext.take}) whose copy no request has paid for yet. */
  unpaid: number;
}

interface ShadowSrq {
  srqn: number;
  guest: MappedBuffer;
  shadow: number;
  size: number;
  stride: number;
  posted: number;
}

/** EINVAL about the guest's own doorbell or poll (its text goes back to the guest). */
function inval(msg: string): VerbsError {
  return requestError("EINVAL", msg);
}

/** Open split contexts by hypervisor, then by `"<frontend domid>:<context id>"`. */
const OPEN_CONTEXTS = new WeakMap<object, Map<string, SplitContext>>();

/**
 * dom0's split context of a guest's open context, if it is open: the guest
 * half uses it to run dom0's half of a poll at the poll's call
 * ({@link SplitContext.take}; see `front.ts` for why).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitContextOf } from "./back.ts";
 * assert.equal(splitContextOf({}, 1, 1), undefined); // nothing open on that hypervisor
 * ```
 */
export function splitContextOf(hv: object, domid: number, ctx: number): SplitContext | undefined {
  return OPEN_CONTEXTS.get(hv)?.get(`${domid}:${ctx}`);
}

/**
 * The shadow queues of one split-mode context.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, QpType } from "../../mod.ts";
 * import type { XenGuest } from "../../platform/xen_guest.ts";
 * import type { VibFrontFile } from "../front/file.ts";
 * import { type SplitContext, splitContextOf } from "./back.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "split" }) as XenGuest;
 * await cluster.run(async () => {
 *   const ctx = await vm.openDevice();
 *   const s: SplitContext = splitContextOf(xen.hypervisor!, vm.domid!, (ctx.file as VibFrontFile).ctx)!;
 *   const cq = await ctx.createCq(4);
 *   const cap = { maxSendWr: 1, maxRecvWr: 2, maxSendSge: 1, maxRecvSge: 1 };
 *   const qp = await (await ctx.allocPd()).createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
 *   await qp.modify({ state: 1, port: 1, pkeyIndex: 0, accessFlags: 0 }); // INIT
 *   assert.equal(s.counters.doorbells, 0);
 *   qp.postRecv([{ wrId: 1n, sgList: [] }, { wrId: 2n, sgList: [] }]); // DOORBELL requests to dom0
 *   await cluster.engine.sleep(100_000);
 *   assert.deepEqual([s.counters.wqes, s.counters.doorbells], [2, 2]); // dom0 copied the WQEs, rang the device
 * });
 * ```
 */
export class SplitContext implements ContextDatapath {
  /** Dom0 only copies WQEs out of the guest's send and receive queues. */
  readonly readsGuestQueues = true;
  #qps = new Map<number, ShadowQp>();
  #cqs = new Map<number, ShadowCq>();
  #srqs = new Map<number, ShadowSrq>();
  /** WQEs and CQEs copied so far. */
  readonly counters = { wqes: 0, cqes: 0, doorbells: 0 };

  /**
   * @param o dom0's address space (shadows and grant mappings live there),
   *   its backend heap, and where dom0 mapped this context's UAR page
   */
  constructor(readonly o: DatapathEnv) {
    const f = o.frontend;
    if (!f) return;
    let m = OPEN_CONTEXTS.get(f.hv);
    if (!m) OPEN_CONTEXTS.set(f.hv, m = new Map());
    const key = `${f.domid}:${f.ctx}`;
    const prev = m.get(key);
    if (prev) prev.#listed = false;
    m.set(key, this);
    this.#listed = true;
  }

  /** Whether {@link splitContextOf} finds this context (opened, not closed, not replaced). */
  get open(): boolean {
    return this.#listed;
  }

  #listed = false;
  #closed = false;

  /**
   * The context is closing (before its queues are destroyed and unmapped):
   * its polls no longer reach dom0, and {@link take} moves nothing.
   */
  close(): void {
    this.#closed = true;
    this.#listed = false;
    const f = this.o.frontend;
    if (!f) return;
    const m = OPEN_CONTEXTS.get(f.hv);
    const key = `${f.domid}:${f.ctx}`;
    if (m?.get(key) === this) m.delete(key);
  }

  /** A zeroed shadow buffer of `bytes` and its frames, to register with the device. */
  deviceQueue(bytes: number): { addr: number; mfns: number[] } {
    const addr = this.o.heap.alloc(bytes);
    const s = this.o.space;
    return { addr, mfns: s.pageRange(addr, bytes).map((p) => s.mfnOf(p)!) };
  }

  /** Give back a shadow buffer. */
  freeDeviceQueue(addr: number): void {
    this.o.heap.free(addr);
  }

  /** Track a CQ whose guest ring is `guest` and device ring `shadow`. */
  addCq(cqn: number, guest: MappedBuffer, shadow: number, logSize: number): void {
    this.#cqs.set(cqn, { cqn, guest, shadow, logSize, ci: 0, guestCi: 0, deviceCi: 0, unpaid: 0 });
  }

  /** Track a QP. */
  addQp(qpn: number, guest: MappedBuffer, shadow: number, wq: WqLayout): void {
    this.#qps.set(qpn, { qpn, guest, shadow, wq: { ...wq }, sqPosted: 0, rqPosted: 0 });
  }

  /** Track an SRQ. */
  addSrq(
    srqn: number,
    guest: MappedBuffer,
    shadow: number,
    logSize: number,
    logStride: number,
  ): void {
    this.#srqs.set(srqn, {
      srqn,
      guest,
      shadow,
      size: 1 << logSize,
      stride: 1 << logStride,
      posted: 0,
    });
  }

  /**
   * RESIZE_CQ's half before the command: every entry of CQ `cqn`'s new
   * shadow `queue` (2^`logSize` entries) is marked not written for the index
   * it holds next from dom0's copy index on, as the library marks the guest's
   * new ring (`ProviderCq.prepareRing`; libmthca's `mthca_alloc_cq_buf` sets
   * each CQE hardware-owned before `ibv_cmd_resize_cq`): the device's
   * producer index runs on through a resize, and a zeroed entry has the
   * owner bit it writes on every odd lap.
   */
  prepareCqResize(cqn: number, queue: number, logSize: number): void {
    const c = this.#cqs.get(cqn);
    if (!c) throw inval(`resize of CQ ${cqn}: not a CQ of this context`);
    const size = 1 << logSize;
    const ring = new Uint8Array(size * CQE_BYTES);
    for (let s = 0; s < size; s++) {
      const next = (c.ci + ((s - c.ci) & (size - 1))) >>> 0;
      setCqeOwner(ring, s * CQE_BYTES, (next + size) >>> 0, logSize);
    }
    this.o.space.write(queue, ring);
  }

  /**
   * RESIZE_CQ's half after the command, which made the device write CQ
   * `cqn`'s entries into `queue` (2^`logSize` entries): the entries it wrote
   * into the old shadow that dom0 has not handed the guest move to the same
   * positions of the new one with its owner rule (as libmthca's
   * `mthca_cq_resize_copy_cqes` moves a ring's unpolled entries), and polls
   * copy from `queue` into the guest's new ring `guest` from now on (the
   * guest moves what its old ring holds itself). Returns the old shadow, for
   * the caller to free, once the copy's time is spent.
   */
  async resizeCq(
    cqn: number,
    guest: MappedBuffer,
    queue: number,
    logSize: number,
  ): Promise<number> {
    const c = this.#cqs.get(cqn);
    if (!c) throw inval(`resize of CQ ${cqn}: not a CQ of this context`);
    const b = this.#cqe, s = this.o.space;
    const at = (i: number, ring: number, log: number) => ring + (i & ((1 << log) - 1)) * CQE_BYTES;
    let n = 0;
    for (let i = c.ci;; i = (i + 1) >>> 0) {
      s.readInto(at(i, queue, logSize), b);
      if (cqeReady(b, 0, i, logSize)) continue; // written there after the command
      s.readInto(at(i, c.shadow, c.logSize), b);
      if (!cqeReady(b, 0, i, c.logSize)) break;
      setCqeOwner(b, 0, i, logSize);
      s.write(at(i, queue, logSize), b);
      n++;
    }
    const old = c.shadow;
    c.guest = guest;
    c.shadow = queue;
    c.logSize = logSize;
    if (n > 0) await this.o.cpu(this.#copyNs(n * CQE_BYTES));
    return old;
  }

  /** Forget a queue (its shadow is freed by the caller). */
  removeCq(cqn: number): void {
    this.#cqs.delete(cqn);
  }
  /** Forget a QP. */
  removeQp(qpn: number): void {
    this.#qps.delete(qpn);
  }
  /** Forget an SRQ. */
  removeSrq(srqn: number): void {
    this.#srqs.delete(srqn);
  }

  /** The QP went to RESET: the device's producer counters restart, and so do ours. */
  resetQp(qpn: number): void {
    const q = this.#qps.get(qpn);
    if (q) q.sqPosted = q.rqPosted = 0;
  }

  #copyNs(bytes: number): number {
    return (bytes * 1e9) / this.o.profile.cpu.memcpyBytesPerSec;
  }

  /**
   * Bytes `[off, off+len)` of a guest buffer, read through dom0's grant
   * mappings into the backend's one staging buffer (the private copy it
   * checks and forwards): valid until the next read, which is all a caller
   * needs, as it writes them on at once.
   */
  #readGuest(b: MappedBuffer, off: number, len: number): Uint8Array {
    const out = this.#stagingView(len);
    let done = 0;
    while (done < len) {
      const o = off + done;
      const pg = Math.floor(o / PAGE_SIZE);
      if (pg >= b.addrs.length) throw inval(`offset ${o} beyond the ${b.addrs.length}-page buffer`);
      const n = Math.min(PAGE_SIZE - (o % PAGE_SIZE), len - done);
      this.o.space.readInto(b.addrs[pg] + (o % PAGE_SIZE), out, done, n);
      done += n;
    }
    return out;
  }

  #staging = new Uint8Array(256);
  /** Views of the first bytes of {@link #staging} by length (a few lengths: WQE sizes). */
  #stagingViews: Uint8Array[] = [];

  #stagingView(len: number): Uint8Array {
    if (this.#staging.length < len) {
      this.#staging = new Uint8Array(len);
      this.#stagingViews = [];
    }
    return this.#stagingViews[len] ??= this.#staging.subarray(0, len);
  }

  #writeGuest(b: MappedBuffer, off: number, bytes: Uint8Array): void {
    let done = 0;
    while (done < bytes.length) {
      const o = off + done;
      const pg = Math.floor(o / PAGE_SIZE);
      if (pg >= b.addrs.length) throw inval(`offset ${o} beyond the ${b.addrs.length}-page buffer`);
      const n = Math.min(PAGE_SIZE - (o % PAGE_SIZE), bytes.length - done);
      const part = done === 0 && n === bytes.length ? bytes : bytes.subarray(done, done + n);
      this.o.space.write(b.addrs[pg] + (o % PAGE_SIZE), part);
      done += n;
    }
  }

  #doorbellBuf = new Uint8Array(DOORBELL_BYTES);

  #ring(offset: number, w0: number, w1: number): void {
    this.counters.doorbells++;
    this.o.space.write(this.o.uarAddr + offset, doorbellInto(this.#doorbellBuf, w0, w1));
  }

  /**
   * Copy WQEs `[from, to)` of a ring from the guest's queue to the shadow.
   * Receive WQEs are copied whole (the device reads a receive WQE's whole
   * stride); a send WQE only as far as its own control segment's `ds` says
   * (read from dom0's copy, clamped to the slot), as the device fetches it.
   * Returns the first send WQE's size in 16-byte units (for the doorbell);
   * the bytes copied are left in {@link #copiedBytes} (the caller spends
   * the copy's CPU time: one `await` fewer per doorbell than a helper that
   * awaits it itself).
   */
  #copyWqes(
    guest: MappedBuffer,
    shadow: number,
    base: number,
    size: number,
    stride: number,
    from: number,
    to: number,
    what: string,
    send: boolean,
  ): number {
    const n = (to - from) >>> 0;
    if (n > size) throw inval(`${what}: doorbell moves the producer by ${n} (> ${size} entries)`);
    let bytes = 0;
    let first = 0;
    const mapped = guest.addrs.length * PAGE_SIZE;
    for (let i = 0; i < n; i++) {
      const off = base + ((from + i) & (size - 1)) * stride;
      let len = stride;
      if (send) {
        // One copy of the whole slot where it lies in the mapping (its size byte read from that
        // copy, the same instant's bytes as a second fetch would get); else the control segment
        // first, as the device fetches it.
        const whole = off + stride <= mapped;
        const copy = this.#readGuest(guest, off, whole ? stride : SEG_BYTES);
        const units = Math.min(Math.max(copy[WQE_SIZE_OFFSET], 1), stride / SEG_BYTES);
        len = units * SEG_BYTES;
        if (i === 0) first = units;
        this.o.space.write(
          shadow + off,
          whole ? this.#stagingView(len) : this.#readGuest(guest, off, len),
        );
      } else this.o.space.write(shadow + off, this.#readGuest(guest, off, len));
      bytes += len;
    }
    this.counters.wqes += n;
    this.#copiedBytes = n > 0 ? bytes : -1;
    return first;
  }

  /** What the last {@link #copyWqes} copied, or -1 if it copied no WQE. */
  #copiedBytes = -1;

  /** Execute a guest doorbell: `offset` in the UAR page, the two doorbell words. */
  async doorbell(offset: number, w0: number, w1: number): Promise<void> {
    const ns = this.doorbellCopy(offset, w0, w1);
    if (ns >= 0) await this.o.cpu(ns);
    this.doorbellRing();
  }

  /**
   * A doorbell's first half: check it and copy the new WQEs from the guest's
   * queue to the shadow (copy before use). Returns the dom0 CPU time the
   * copy takes, or -1 if it copied nothing (no time to spend); the caller
   * spends it, then calls {@link doorbellRing}, with no other doorbell of
   * this context in between. {@link doorbell} is the two halves in one.
   * @throws VerbsError (EINVAL, about the request) for a doorbell that is not this context's
   */
  doorbellCopy(offset: number, w0: number, w1: number): number {
    const p = this.#pending;
    p.due = false;
    const send = offset === UarOffset.SEND;
    // A send doorbell's word 0 is `(qpn << 8) | size0` (FORMATS.md §4); the others' `cmd << 24 | index`.
    const index = send ? splitSendDoorbellWord(w0).qpn : w0 & 0xffffff;
    const cmd = send ? 0 : w0 >>> 24;
    switch (offset) {
      case UarOffset.SEND:
      case UarOffset.RECV: {
        const q = this.#qps.get(index);
        if (!q) throw inval(`doorbell for QP ${index}: not a QP of this context`);
        // A receive doorbell's word 0 is the QP number alone (FORMATS.md §4): no command bits.
        if (cmd !== 0) {
          throw inval(`receive doorbell for QP ${index}: command bits 0x${cmd.toString(16)} set`);
        }
        const w = q.wq;
        const from = send ? q.sqPosted : q.rqPosted;
        const size0 = this.#copyWqes(
          q.guest,
          q.shadow,
          send ? w.sqOffset : w.rqOffset,
          send ? w.sqSize : w.rqSize,
          send ? w.sqStride : w.rqStride,
          from,
          w1 >>> 0,
          `QP ${index}`,
          send,
        );
        // dom0 tells the device the size of the first WQE as its own copy has it, not the guest's word.
        p.due = true;
        p.qp = q;
        p.srq = undefined;
        p.send = send;
        p.offset = offset;
        p.w0 = send ? sendDoorbellWord(index, size0) : w0;
        p.w1 = w1;
        return this.#copiedBytes >= 0 ? this.#copyNs(this.#copiedBytes) : -1;
      }
      case UarOffset.SRQ: {
        const s = this.#srqs.get(index);
        if (!s) throw inval(`doorbell for SRQ ${index}: not an SRQ of this context`);
        if (cmd !== 0) {
          throw inval(`SRQ doorbell for SRQ ${index}: command bits 0x${cmd.toString(16)} set`);
        }
        this.#copyWqes(
          s.guest,
          s.shadow,
          0,
          s.size,
          s.stride,
          s.posted,
          w1 >>> 0,
          `SRQ ${index}`,
          false,
        );
        p.due = true;
        p.qp = undefined;
        p.srq = s;
        p.send = false;
        p.offset = offset;
        p.w0 = w0;
        p.w1 = w1;
        return this.#copiedBytes >= 0 ? this.#copyNs(this.#copiedBytes) : -1;
      }
      case UarOffset.CQ: {
        const c = this.#cqs.get(index);
        if (!c) throw inval(`doorbell for CQ ${index}: not a CQ of this context`);
        // dom0 keeps the shadow's consumer index itself; the guest's is advice.
        if (cmd === CqDbCmd.SET_CI) return -1;
        if (cmd !== CqDbCmd.REQ_NOTIFY_NEXT && cmd !== CqDbCmd.REQ_NOTIFY_SOLICITED) {
          throw inval(`CQ doorbell command ${cmd} unknown`);
        }
        this.#ring(UarOffset.CQ, cmdWord(cmd, index), c.ci);
        return -1;
      }
    }
    throw inval(`doorbell at UAR offset 0x${offset.toString(16)} is not a guest doorbell`);
  }

  /**
   * A doorbell's second half, once its copy's time is spent: the queue's
   * producer counter moves and dom0 rings the device (nothing for a doorbell
   * that rang at once, a CQ's).
   */
  doorbellRing(): void {
    const p = this.#pending;
    if (!p.due) return;
    p.due = false;
    if (p.qp) {
      if (p.send) p.qp.sqPosted = p.w1 >>> 0;
      else p.qp.rqPosted = p.w1 >>> 0;
    } else if (p.srq) p.srq.posted = p.w1 >>> 0;
    this.#ring(p.offset, p.w0, p.w1);
  }

  /** The doorbell whose copy is done and whose ring is due ({@link doorbellRing}), if `due`. */
  #pending: {
    due: boolean;
    qp: ShadowQp | undefined;
    srq: ShadowSrq | undefined;
    send: boolean;
    offset: number;
    w0: number;
    w1: number;
  } = { due: false, qp: undefined, srq: undefined, send: false, offset: 0, w0: 0, w1: 0 };

  /**
   * Hand the CQEs the device wrote into CQ `cqn`'s shadow to the guest's
   * ring (no more than it has room for, given its consumer index
   * `guestCi`), give the entries back to the device; returns how many.
   * The copy's time is spent here, with that of the CQEs {@link take} moved
   * since the last request.
   */
  async poll(cqn: number, guestCi?: number): Promise<number> {
    // Its count stays its own (a local, not {@link #polled}): dom0's event thread polls here
    // (beforeCompEvent) while a staged POLL_CQ of the same context may be between its
    // {@link pollCopy} and {@link pollDone} (its copy's time spent on a VCPU, which an interrupt
    // preempts), and a shared count would give that request this poll's number.
    const n = this.#moveCqes(cqn, guestCi);
    const ns = this.#copyTime(cqn, n);
    if (ns >= 0) await this.o.cpu(ns);
    return n;
  }

  /**
   * A poll's first half: hand the CQEs over as {@link poll} does; returns
   * the dom0 CPU time their copy takes (with what {@link take} moved since
   * the last request), or -1 for none. The caller spends it, then calls
   * {@link pollDone} for the count, with no other poll of this context in
   * between. {@link poll} is the two halves in one.
   * @throws VerbsError (EINVAL, about the request) for a CQ that is not this context's
   */
  pollCopy(cqn: number, guestCi?: number): number {
    this.#polled = 0;
    const n = this.#moveCqes(cqn, guestCi);
    this.#polled = n;
    return this.#copyTime(cqn, n);
  }

  /** The copy time of `n` CQEs moved now and of what {@link take} moved since the last request. */
  #copyTime(cqn: number, n: number): number {
    const c = this.#cqs.get(cqn)!;
    const copied = n + c.unpaid;
    c.unpaid = 0;
    return copied > 0 ? this.#copyNs(copied * CQE_BYTES) : -1;
  }

  /** A poll's second half, once its copy's time is spent: how many CQEs it handed over. */
  pollDone(): number {
    const n = this.#polled;
    this.#polled = 0;
    return n;
  }

  /**
   * CQEs the last {@link pollCopy} handed over: the staged `POLL_CQ` in flight's own count.
   * Only the backend's request chain writes it, one request at a time (`vibback.ts`), so no
   * other request's count comes between its two halves; {@link poll} (dom0's event thread)
   * keeps its count to itself.
   */
  #polled = 0;

  /**
   * dom0's half of a `POLL_CQ` at the instant the guest's `ibv_poll_cq` is
   * called: the same copy as {@link poll}, with its time left to the request
   * that carries the call (which dom0 serves next). Returns how many CQEs
   * moved; a CQ that is not this context's, or of a context that is
   * closing, moves none.
   */
  take(cqn: number, guestCi: number): number {
    const c = this.#cqs.get(cqn);
    if (!c || this.#closed) return 0;
    const n = this.#moveCqes(cqn, guestCi);
    c.unpaid += n;
    return n;
  }

  /** dom0's copy of the CQE it moves (written on to the guest's ring at once). */
  #cqe = new Uint8Array(CQE_BYTES);

  /** Whether the device has written the CQE after the last one dom0 handed the guest. */
  #waiting(c: ShadowCq): boolean {
    const off = (c.ci & ((1 << c.logSize) - 1)) * CQE_BYTES;
    this.o.space.readInto(c.shadow + off, this.#cqe);
    return cqeReady(this.#cqe, 0, c.ci, c.logSize);
  }

  #moveCqes(cqn: number, guestCi?: number): number {
    const c = this.#cqs.get(cqn);
    if (!c) throw inval(`poll of CQ ${cqn}: not a CQ of this context`);
    if (guestCi !== undefined) c.guestCi = guestCi >>> 0;
    const size = 1 << c.logSize;
    let n = 0;
    while (((c.ci - c.guestCi) >>> 0) < size) {
      const off = (c.ci & (size - 1)) * CQE_BYTES;
      const b = this.#cqe;
      this.o.space.readInto(c.shadow + off, b);
      if (!cqeReady(b, 0, c.ci, c.logSize)) break;
      // Same index, same ring size: the owner bit the guest expects is the one the device wrote.
      this.#writeGuest(c.guest, off, b);
      c.ci = (c.ci + 1) >>> 0;
      n++;
    }
    if (n > 0) this.counters.cqes += n;
    // The device frees a CQE's slot when the guest has consumed it, not when dom0 copied it: an
    // entry waiting in the guest's ring still fills the CQ, so unpolled completions overrun it at
    // its size as on bare metal (libmthca's update_cons_index rings SET_CI at each poll).
    if (c.guestCi !== c.deviceCi) {
      c.deviceCi = c.guestCi;
      this.#ring(UarOffset.CQ, cmdWord(CqDbCmd.SET_CI, cqn), c.guestCi);
    }
    return n;
  }

  /** True if `cqn` is one of this context's CQs. */
  hasCq(cqn: number): boolean {
    return this.#cqs.has(cqn);
  }

  /** Before a completion event is forwarded: copy the CQ's entries, so the woken thread finds them. */
  async beforeCompEvent(cqn: number): Promise<void> {
    if (this.hasCq(cqn)) await this.poll(cqn);
  }
}
