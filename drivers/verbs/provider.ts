/**
 * The user-level provider (libmthca's role): everything on the fast path,
 * done by the application's own CPU on its own memory, with no kernel and
 * no hypervisor involved.
 *
 * - `postSend`/`postRecv` format WQEs (hca/wqe.ts) into the queue buffer in
 *   the domain's memory, keep the wr_id per WQE index, and ring the
 *   doorbell: an 8-byte write to the context's UAR page at its address in
 *   the domain's address space (a memory write that the page table turns
 *   into an MMIO write to the device).
 * - `poll` reads CQEs from the CQ buffer in the domain's memory (owner bit),
 *   maps the WQE counter back to the wr_id, turns the device's syndromes and
 *   opcodes into verbs values (`cqe_map.ts`, as libmthca does), retires
 *   unsignaled send WQEs, and updates the device's consumer index with a CQ
 *   doorbell.
 *
 * This module is used unchanged by a bare-metal process and by a Xen guest
 * whose UAR page dom0 mapped into it (DESIGN §8: the paper's "unmodified
 * user-level library", made checkable): it sees only an address space and
 * a UAR address.
 *
 * CPU costs (charged to the calling thread, see {@link ThreadCpu}): each WQE costs `cpu.wqeBuildNs` (+ the copy of
 * inline data), each CQE read `cpu.cqePollNs`, an empty poll
 * `cpu.emptyPollNs`; doorbells leave the CPU when that work is done.
 *
 * Errors follow the verbs providers: ENOMEM when the queue is full, EINVAL
 * for an opcode the QP type does not allow, too many SGEs, inline data
 * over the limit or missing UD/RDMA arguments, and EINVAL for posting in a
 * state where IBTA §10.8.2 makes it an immediate error (send queue before
 * RTS, receive queue in RESET) — rxe's choice; libmthca leaves it to the
 * hardware, whose doorbell would be dropped.
 *
 * @module
 */
import {
  CQE_BYTES,
  CQE_WQE_COUNTER_MASK,
  CqeFlags,
  cqeReady,
  decodeCqe,
  setCqeOwner,
} from "../../hca/cqe.ts";
import { cmdWord, CqDbCmd, doorbellBytes, sendDoorbellWord, UarOffset } from "../../hca/uar.ts";
import {
  encodeRecvWqe,
  encodeSendWqe,
  SEG_BYTES,
  type SendWqe,
  WQE_NEXT_SIZE_OFFSET,
  WqeFlags,
  WqeOpcode,
} from "../../hca/wqe.ts";
import type { Engine } from "../../sim/engine.ts";
import type { Profile } from "../../sim/profiles/mod.ts";
import { wcOpcodeOfWr, workCompletionOf } from "./cqe_map.ts";
import { QpState, QpType, SendFlags, WcOpcode, WrOpcode } from "../uapi/enums.ts";
import { VerbsError } from "../uapi/errors.ts";
import type { RecvWr, SendWr, Sge, WorkCompletion } from "../uapi/types.ts";

/**
 * The domain memory the provider works in (an `AddressSpace` fits).
 *
 * @example
 * ```ts
 * import type { ProviderMemory } from "./provider.ts";
 * const peek = (m: ProviderMemory, a: number) => m.read(a, 1)[0];
 * ```
 */
export interface ProviderMemory {
  read(addr: number, len: number): Uint8Array;
  write(addr: number, bytes: Uint8Array): void;
  /** Machine address of `addr` — used only to wait for DMA writes, not on the modelled path. */
  translate(addr: number): number;
}

/**
 * The CPU account of the calling thread: synchronous verbs cannot advance
 * virtual time, so they run up a debt that the next blocking call pays
 * (the platform's `CpuClock` is one; see `platform/cpu.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ThreadCpu } from "./provider.ts";
 * let busy = 0;
 * const cpu: ThreadCpu = {
 *   charge: (ns) => (busy += ns),
 *   busyUntil: () => busy,
 *   settle: async () => {},
 * };
 * assert.equal(cpu.charge(150), 150); // a WQE built: the work is done at t = 150
 * ```
 */
export interface ThreadCpu {
  /** Spend `ns` of CPU on a synchronous call; returns when that work is done (virtual ns). */
  charge(ns: number): number;
  /** Virtual time at which the calling thread's CPU is free (>= now). */
  busyUntil(): number;
  /** Sleep until the calling thread's CPU work is done (pay the debt). */
  settle(): Promise<void>;
}

/**
 * What a provider instance (one per open context) runs on.
 *
 * @example
 * ```ts
 * import type { ProviderEnv } from "./provider.ts";
 * const uar = (env: ProviderEnv) => env.uarAddr;
 * ```
 */
export interface ProviderEnv {
  engine: Engine;
  profile: Profile;
  memory: ProviderMemory;
  /** The context's UAR page in the domain's address space. */
  uarAddr: number;
  cpu: ThreadCpu;
  /**
   * Block until a write touches one of these machine frames (see
   * `memory_watch.ts`); absent, waiters re-poll every `cpu.emptyPollNs`.
   */
  waitWrite?: (mfns: readonly number[], label: string, timeoutNs?: number) => Promise<boolean>;
}

const WQE_OPCODE: Record<number, number> = {
  [WrOpcode.RDMA_WRITE]: WqeOpcode.RDMA_WRITE,
  [WrOpcode.RDMA_WRITE_WITH_IMM]: WqeOpcode.RDMA_WRITE_IMM,
  [WrOpcode.SEND]: WqeOpcode.SEND,
  [WrOpcode.SEND_WITH_IMM]: WqeOpcode.SEND_IMM,
  [WrOpcode.RDMA_READ]: WqeOpcode.RDMA_READ,
  [WrOpcode.ATOMIC_CMP_AND_SWP]: WqeOpcode.ATOMIC_CS,
  [WrOpcode.ATOMIC_FETCH_AND_ADD]: WqeOpcode.ATOMIC_FA,
};

/** Send opcodes each QP type allows (IBTA §9.2 / §11.4.1.1, table of service types). */
const ALLOWED: Record<number, ReadonlySet<number>> = {
  [QpType.RC]: new Set(Object.values(WrOpcode)),
  [QpType.UC]: new Set([
    WrOpcode.SEND,
    WrOpcode.SEND_WITH_IMM,
    WrOpcode.RDMA_WRITE,
    WrOpcode.RDMA_WRITE_WITH_IMM,
  ]),
  [QpType.UD]: new Set([WrOpcode.SEND, WrOpcode.SEND_WITH_IMM]),
};

const OPCODE_NAMES = Object.fromEntries(Object.entries(WrOpcode).map(([k, v]) => [v, k]));
const TYPE_NAMES: Record<number, string> = { 2: "RC", 3: "UC", 4: "UD" };

/**
 * One context's fast path: doorbells and the QP/CQ/SRQ rings.
 *
 * @example
 * ```ts
 * import { Provider } from "./provider.ts";
 * // const prov = new Provider({ engine, profile, memory: space, uarAddr, cpu });
 * // const cq = prov.addCq({ cqn, addr, logSize });
 * ```
 */
export class Provider {
  readonly env: ProviderEnv;
  /** QPs of this context by QP number (CQEs name the QPN). */
  readonly qps = new Map<number, ProviderQp>();
  /** Doorbells rung (all kinds). */
  doorbells = 0;

  /** @param env see {@link ProviderEnv} */
  constructor(env: ProviderEnv) {
    this.env = env;
  }

  /**
   * Write a doorbell to the UAR page once the calling thread's CPU work is
   * done (its WQE is then in memory before the device can look).
   */
  doorbell(offset: number, word0: number, word1: number): void {
    this.doorbells++;
    const bytes = doorbellBytes(word0, word1);
    const addr = this.env.uarAddr + offset;
    const write = () => {
      try {
        this.env.memory.write(addr, bytes);
      } catch {
        // The context was closed and its UAR unmapped meanwhile: the write goes nowhere.
      }
    };
    const delay = this.env.cpu.busyUntil() - this.env.engine.now;
    if (delay <= 0) write();
    else this.env.engine.schedule(delay, write);
  }

  /** Track a new CQ. */
  addCq(c: { cqn: number; addr: number; logSize: number }): ProviderCq {
    return new ProviderCq(this, c.cqn, c.addr, c.logSize);
  }

  /** Track a new QP. */
  addQp(q: {
    qpn: number;
    type: number;
    sqSigAll: boolean;
    bufAddr: number;
    sqOffset: number;
    sqSize: number;
    sqStride: number;
    rqOffset: number;
    rqSize: number;
    rqStride: number;
    maxSendSge: number;
    maxRecvSge: number;
    maxInline: number;
    sendCq: ProviderCq;
    recvCq: ProviderCq;
    srq?: ProviderSrq;
  }): ProviderQp {
    const qp = new ProviderQp(this, q);
    this.qps.set(q.qpn, qp);
    return qp;
  }

  /** Track a new SRQ. */
  addSrq(
    s: {
      srqn: number;
      addr: number;
      logSize: number;
      logStride: number;
      maxWr: number;
      maxSge: number;
    },
  ): ProviderSrq {
    return new ProviderSrq(this, s);
  }
}

interface Ring {
  base: number;
  size: number;
  stride: number;
  /** Counter of the next WQE to post (free-running). */
  head: number;
  /** Counter of the oldest WQE not completed. */
  tail: number;
  wrid: bigint[];
  /** Send queue: the completion opcode of each slot's WR (an error CQE carries none). */
  wcOpcode: Uint8Array;
}

function ring(base: number, size: number, stride: number): Ring {
  return {
    base,
    size,
    stride,
    head: 0,
    tail: 0,
    wrid: new Array(size).fill(0n),
    wcOpcode: new Uint8Array(size),
  };
}

function inval(msg: string): VerbsError {
  return new VerbsError("EINVAL", msg);
}

/**
 * A QP's send and receive rings.
 *
 * @example
 * ```ts
 * import type { ProviderQp } from "./provider.ts";
 * const outstanding = (qp: ProviderQp) => qp.sqOutstanding;
 * ```
 */
export class ProviderQp {
  readonly qpn: number;
  readonly type: number;
  /** State as the library last set or saw it. */
  state: number = QpState.RESET;
  readonly sq: Ring;
  readonly rq: Ring;
  readonly srq: ProviderSrq | undefined;
  readonly sendCq: ProviderCq;
  readonly recvCq: ProviderCq;
  #p: Provider;
  #sigAll: boolean;
  #maxSendSge: number;
  #maxRecvSge: number;
  #maxInline: number;
  #scratch: Uint8Array;
  #link = new Uint8Array(1);

  constructor(p: Provider, q: Parameters<Provider["addQp"]>[0]) {
    this.#p = p;
    this.qpn = q.qpn;
    this.type = q.type;
    this.sq = ring(q.bufAddr + q.sqOffset, q.sqSize, q.sqStride);
    this.rq = ring(q.bufAddr + q.rqOffset, q.rqSize, q.rqStride);
    this.srq = q.srq;
    this.sendCq = q.sendCq;
    this.recvCq = q.recvCq;
    this.#sigAll = q.sqSigAll;
    this.#maxSendSge = q.maxSendSge;
    this.#maxRecvSge = q.maxRecvSge;
    this.#maxInline = q.maxInline;
    this.#scratch = new Uint8Array(Math.max(q.sqStride, q.rqStride, 16));
  }

  /** Send WQEs posted and not yet retired by a completion. */
  get sqOutstanding(): number {
    return (this.sq.head - this.sq.tail) >>> 0;
  }

  /** The QP went to RESET: the device forgot its counters, so do we. */
  reset(): void {
    for (const r of [this.sq, this.rq]) r.head = r.tail = 0;
    this.sendCq.forget(this.qpn);
    if (this.recvCq !== this.sendCq) this.recvCq.forget(this.qpn);
  }

  /** `ibv_post_send` for one WR. */
  postSend(wr: SendWr): void {
    const env = this.#p.env;
    const what = `post_send QP ${this.qpn}`;
    if (this.state < QpState.RTS) {
      throw inval(`${what}: QP is not ready to send (state ${this.state}, needs RTS)`);
    }
    const op = WQE_OPCODE[wr.opcode];
    if (op === undefined || !ALLOWED[this.type].has(wr.opcode)) {
      throw inval(
        `${what}: opcode ${OPCODE_NAMES[wr.opcode] ?? wr.opcode} not valid on a ${
          TYPE_NAMES[this.type]
        } QP`,
      );
    }
    const flags = wr.sendFlags ?? 0;
    const sgl = wr.sgList ?? [];
    const isInline = (flags & SendFlags.INLINE) !== 0;
    if (isInline) {
      if (
        op !== WqeOpcode.SEND && op !== WqeOpcode.SEND_IMM && op !== WqeOpcode.RDMA_WRITE &&
        op !== WqeOpcode.RDMA_WRITE_IMM
      ) {
        throw inval(`${what}: inline data only with SEND or RDMA WRITE`);
      }
    } else if (sgl.length > this.#maxSendSge) {
      throw inval(`${what}: ${sgl.length} SGEs exceed max_send_sge ${this.#maxSendSge}`);
    }
    let inline: Uint8Array | undefined;
    let inlineBytes = 0;
    if (isInline) {
      for (const s of sgl) inlineBytes += s.length;
      if (inlineBytes > this.#maxInline) {
        throw inval(
          `${what}: ${inlineBytes} bytes of inline data exceed max_inline_data ${this.#maxInline}`,
        );
      }
    }
    const w: SendWqe = { opcode: op as SendWqe["opcode"], flags: 0 };
    if ((flags & SendFlags.SIGNALED) || this.#sigAll) w.flags |= WqeFlags.SIGNALED;
    if (flags & SendFlags.SOLICITED) w.flags |= WqeFlags.SOLICITED;
    if (flags & SendFlags.FENCE) w.flags |= WqeFlags.FENCE;
    if (op === WqeOpcode.SEND_IMM || op === WqeOpcode.RDMA_WRITE_IMM) {
      if (wr.immData === undefined) {
        throw inval(`${what}: ${OPCODE_NAMES[wr.opcode]} needs immData`);
      }
      w.imm = wr.immData >>> 0;
    }
    if (op !== WqeOpcode.SEND && op !== WqeOpcode.SEND_IMM) {
      if (wr.remoteAddr === undefined || wr.rkey === undefined) {
        throw inval(`${what}: ${OPCODE_NAMES[wr.opcode]} needs remoteAddr and rkey`);
      }
      w.remoteAddr = wr.remoteAddr;
      w.rkey = wr.rkey;
    }
    if (op === WqeOpcode.ATOMIC_CS) {
      w.compare = wr.compareAdd ?? 0n;
      w.swapAdd = wr.swap ?? 0n;
    } else if (op === WqeOpcode.ATOMIC_FA) {
      w.swapAdd = wr.compareAdd ?? 0n;
    }
    if (this.type === QpType.UD) {
      const ah = wr.ah?.attr;
      if (!ah || wr.remoteQpn === undefined || wr.remoteQkey === undefined) {
        throw inval(`${what}: a UD send needs ah, remoteQpn and remoteQkey`);
      }
      w.ud = {
        port: ah.portNum ?? 0,
        dlid: ah.dlid,
        sl: ah.sl,
        srcPathBits: ah.srcPathBits,
        staticRate: ah.staticRate,
        grh: ah.grh,
        remoteQpn: wr.remoteQpn,
        qkey: wr.remoteQkey,
      };
    }
    if (this.sqOutstanding >= this.sq.size) {
      throw new VerbsError("ENOMEM", `${what}: send queue full (${this.sq.size} WQEs outstanding)`);
    }
    if (isInline) {
      inline = new Uint8Array(inlineBytes);
      let o = 0;
      for (const s of sgl) {
        inline.set(env.memory.read(s.addr, s.length), o);
        o += s.length;
      }
      w.inline = inline;
    } else {
      w.sgl = sgl.map((s: Sge) => ({ addr: s.addr, length: s.length, lkey: s.lkey }));
    }
    const r = this.sq;
    const slot = r.head & (r.size - 1);
    const n = encodeSendWqe(w, this.#scratch, 0);
    const size16 = n / SEG_BYTES;
    env.memory.write(r.base + slot * r.stride, this.#scratch.subarray(0, n));
    // Link the previous WQE to this one, then tell the device this one's size in the doorbell
    // (libmthca's prev_wqe->ee_nds and `(qpn << 8) | size0`): the HCA fetches size*16 bytes.
    if (r.head !== 0) {
      const prev = (r.head - 1) & (r.size - 1);
      this.#link[0] = size16;
      env.memory.write(r.base + prev * r.stride + WQE_NEXT_SIZE_OFFSET, this.#link);
    }
    r.wrid[slot] = wr.wrId;
    r.wcOpcode[slot] = wcOpcodeOfWr(wr.opcode);
    r.head = (r.head + 1) >>> 0;
    env.cpu.charge(
      env.profile.cpu.wqeBuildNs + (inlineBytes * 1e9) / env.profile.cpu.memcpyBytesPerSec,
    );
    this.#p.doorbell(UarOffset.SEND, sendDoorbellWord(this.qpn, size16), r.head);
  }

  /** `ibv_post_recv` for one WR. */
  postRecv(wr: RecvWr): void {
    const what = `post_recv QP ${this.qpn}`;
    if (this.srq) throw inval(`${what}: the QP uses an SRQ; post to the SRQ`);
    if (this.state === QpState.RESET) throw inval(`${what}: QP is in RESET`);
    const sgl = wr.sgList ?? [];
    if (sgl.length > this.#maxRecvSge) {
      throw inval(`${what}: ${sgl.length} SGEs exceed max_recv_sge ${this.#maxRecvSge}`);
    }
    if (((this.rq.head - this.rq.tail) >>> 0) >= this.rq.size) {
      throw new VerbsError(
        "ENOMEM",
        `${what}: receive queue full (${this.rq.size} WQEs outstanding)`,
      );
    }
    const env = this.#p.env;
    const slot = this.rq.head & (this.rq.size - 1);
    const buf = this.#scratch.subarray(0, this.rq.stride);
    encodeRecvWqe(sgl, buf, 0, this.rq.stride);
    env.memory.write(this.rq.base + slot * this.rq.stride, buf);
    this.rq.wrid[slot] = wr.wrId;
    this.rq.head = (this.rq.head + 1) >>> 0;
    env.cpu.charge(env.profile.cpu.wqeBuildNs);
    this.#p.doorbell(UarOffset.RECV, this.qpn, this.rq.head);
  }
}

/**
 * A shared receive queue ring: the device takes WQEs in counter order, and
 * a slot is reused only after its completion.
 *
 * @example
 * ```ts
 * import type { ProviderSrq } from "./provider.ts";
 * const posted = (s: ProviderSrq) => s.outstanding;
 * ```
 */
export class ProviderSrq {
  readonly srqn: number;
  readonly addr: number;
  readonly size: number;
  readonly stride: number;
  readonly maxWr: number;
  readonly maxSge: number;
  counter = 0;
  outstanding = 0;
  #wrid: (bigint | undefined)[];
  #p: Provider;
  #scratch: Uint8Array;

  constructor(p: Provider, s: Parameters<Provider["addSrq"]>[0]) {
    this.#p = p;
    this.srqn = s.srqn;
    this.addr = s.addr;
    this.size = 1 << s.logSize;
    this.stride = 1 << s.logStride;
    this.maxWr = s.maxWr;
    this.maxSge = s.maxSge;
    this.#wrid = new Array(this.size).fill(undefined);
    this.#scratch = new Uint8Array(this.stride);
  }

  /** `ibv_post_srq_recv` for one WR. */
  postRecv(wr: RecvWr): void {
    const what = `post_srq_recv SRQ ${this.srqn}`;
    const sgl = wr.sgList ?? [];
    if (sgl.length > this.maxSge) {
      throw inval(`${what}: ${sgl.length} SGEs exceed max_sge ${this.maxSge}`);
    }
    const slot = this.counter & (this.size - 1);
    if (this.outstanding >= this.maxWr || this.#wrid[slot] !== undefined) {
      throw new VerbsError("ENOMEM", `${what}: SRQ full (${this.outstanding} WQEs outstanding)`);
    }
    const env = this.#p.env;
    encodeRecvWqe(sgl, this.#scratch, 0, this.stride);
    env.memory.write(this.addr + slot * this.stride, this.#scratch);
    this.#wrid[slot] = wr.wrId;
    this.counter = (this.counter + 1) >>> 0;
    this.outstanding++;
    env.cpu.charge(env.profile.cpu.wqeBuildNs);
    this.#p.doorbell(UarOffset.SRQ, this.srqn, this.counter);
  }

  /** The wr_id of the WQE with counter `c` (mod 2^16), freeing its slot. */
  complete(c: number): bigint {
    const slot = c & (this.size - 1);
    const id = this.#wrid[slot] ?? 0n;
    if (this.#wrid[slot] !== undefined) {
      this.#wrid[slot] = undefined;
      this.outstanding--;
    }
    return id;
  }
}

/**
 * A CQ ring in the domain's memory.
 *
 * @example
 * ```ts
 * import type { ProviderCq } from "./provider.ts";
 * const next = (cq: ProviderCq) => cq.consumerIndex;
 * ```
 */
export class ProviderCq {
  readonly cqn: number;
  addr: number;
  logSize: number;
  /** Consumer index (free-running). */
  consumerIndex = 0;
  #p: Provider;
  #frames: number[] = [];
  /** Absolute indices of CQEs of QPs that were reset or destroyed: consumed silently. */
  #skip = new Set<number>();

  constructor(p: Provider, cqn: number, addr: number, logSize: number) {
    this.#p = p;
    this.cqn = cqn;
    this.addr = addr;
    this.logSize = logSize;
    this.#mapFrames();
  }

  #mapFrames(): void {
    const bytes = (1 << this.logSize) * CQE_BYTES;
    const m = this.#p.env.memory;
    const out = new Set<number>();
    for (let o = 0; o < bytes; o += 4096) out.add(Math.floor(m.translate(this.addr + o) / 4096));
    this.#frames = [...out];
  }

  #entry(ci: number, addr = this.addr, logSize = this.logSize): Uint8Array {
    return this.#p.env.memory.read(addr + (ci & ((1 << logSize) - 1)) * CQE_BYTES, CQE_BYTES);
  }

  /** True if a CQE is waiting at the consumer index (no CPU cost: used by waiters). */
  ready(): boolean {
    return cqeReady(this.#entry(this.consumerIndex), 0, this.consumerIndex, this.logSize);
  }

  /** Drop the CQEs of `qpn` now in the ring (its counters restart). */
  forget(qpn: number): void {
    for (let ci = this.consumerIndex;; ci = (ci + 1) >>> 0) {
      const b = this.#entry(ci);
      if (!cqeReady(b, 0, ci, this.logSize)) break;
      if (decodeCqe(b).qpn === qpn) this.#skip.add(ci);
    }
  }

  /** `ibv_poll_cq`: up to `max` completions. */
  poll(max: number): WorkCompletion[] {
    const env = this.#p.env;
    const out: WorkCompletion[] = [];
    let consumed = 0;
    while (out.length < max) {
      const ci = this.consumerIndex;
      const b = this.#entry(ci);
      if (!cqeReady(b, 0, ci, this.logSize)) break;
      this.consumerIndex = (ci + 1) >>> 0;
      consumed++;
      if (this.#skip.delete(ci)) continue;
      const wc = this.#complete(b);
      if (wc) out.push(wc);
    }
    const c = env.profile.cpu;
    env.cpu.charge(consumed > 0 ? consumed * c.cqePollNs : c.emptyPollNs);
    // Tavor-style: tell the device how far we got, so it can reuse the entries.
    if (consumed > 0) {
      this.#p.doorbell(UarOffset.CQ, cmdWord(CqDbCmd.SET_CI, this.cqn), this.consumerIndex);
    }
    return out;
  }

  #complete(b: Uint8Array): WorkCompletion | undefined {
    const cqe = decodeCqe(b);
    const qp = this.#p.qps.get(cqe.qpn);
    if (!qp) return undefined; // a destroyed QP's leftovers
    let wrId: bigint;
    let sendOpcode: WcOpcode = WcOpcode.SEND;
    if (cqe.flags & CqeFlags.SQ) {
      const r = qp.sq;
      const c = (r.tail + ((cqe.wqeCounter - r.tail) & CQE_WQE_COUNTER_MASK)) >>> 0;
      wrId = r.wrid[c & (r.size - 1)];
      sendOpcode = r.wcOpcode[c & (r.size - 1)] as WcOpcode;
      // Unsignaled WQEs before this one completed too (mthca/mlx4 rule).
      r.tail = (c + 1) >>> 0;
    } else if (cqe.flags & CqeFlags.SRQ) {
      wrId = qp.srq ? qp.srq.complete(cqe.wqeCounter) : 0n;
    } else {
      const r = qp.rq;
      const c = (r.tail + ((cqe.wqeCounter - r.tail) & CQE_WQE_COUNTER_MASK)) >>> 0;
      wrId = r.wrid[c & (r.size - 1)];
      r.tail = (c + 1) >>> 0;
    }
    return workCompletionOf(cqe, wrId, sendOpcode);
  }

  /** `ibv_req_notify_cq`: arm for the next (or next solicited) completion. */
  arm(solicitedOnly: boolean): void {
    const cmd = solicitedOnly ? CqDbCmd.REQ_NOTIFY_SOLICITED : CqDbCmd.REQ_NOTIFY_NEXT;
    this.#p.doorbell(UarOffset.CQ, cmdWord(cmd, this.cqn), this.consumerIndex);
  }

  /**
   * Block until the device may have written a CQE (no CPU burnt meanwhile)
   * or `timeoutNs` passed (then false); the caller re-checks with {@link ready}.
   */
  async waitWrite(label: string, timeoutNs?: number): Promise<boolean> {
    const env = this.#p.env;
    if (env.waitWrite) return await env.waitWrite(this.#frames, label, timeoutNs);
    const step = Math.max(1, env.profile.cpu.emptyPollNs);
    await env.engine.sleep(timeoutNs === undefined ? step : Math.min(step, timeoutNs));
    return true;
  }

  /**
   * After RESIZE_CQ: move unpolled CQEs that landed in the old ring to the
   * same positions of the new one, with the new ring's owner rule.
   */
  moveTo(addr: number, logSize: number): void {
    const oldAddr = this.addr, oldLog = this.logSize;
    const m = this.#p.env.memory;
    for (let ci = this.consumerIndex;; ci = (ci + 1) >>> 0) {
      const nb = this.#entry(ci, addr, logSize);
      if (cqeReady(nb, 0, ci, logSize)) continue;
      const ob = this.#entry(ci, oldAddr, oldLog);
      if (!cqeReady(ob, 0, ci, oldLog)) break;
      setCqeOwner(ob, 0, ci, logSize);
      m.write(addr + (ci & ((1 << logSize) - 1)) * CQE_BYTES, ob);
    }
    this.addr = addr;
    this.logSize = logSize;
    this.#mapFrames();
  }
}
