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
import {
  cmdWord,
  CqDbCmd,
  DOORBELL_BYTES,
  doorbellInto,
  sendDoorbellWord,
  UarOffset,
} from "../../hca/uar.ts";
import {
  encodeRecvWqe,
  encodeSendWqe,
  SEG_BYTES,
  type SendWqe,
  WQE_NEXT_SIZE_OFFSET,
  WqeFlags,
  WqeOpcode,
} from "../../hca/wqe.ts";
import { decodeRecvWqe } from "../../hca/wqe.ts";
import { Line } from "../../sim/line.ts";
import { type Engine, WaitQueue } from "../../sim/engine.ts";
import type { Profile } from "../../sim/profiles/mod.ts";
import { wcOpcodeOfWr, workCompletionOf } from "./cqe_map.ts";
import { QpState, QpType, SendFlags, WcOpcode, WrOpcode } from "../uapi/enums.ts";
import { VerbsError } from "../uapi/errors.ts";
import type { RecvWr, SendWr, Sge, WorkCompletion } from "../uapi/types.ts";
import type { UverbsFile } from "../uapi/uverbs.ts";

/**
 * The domain memory the provider works in (an `AddressSpace` fits).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import type { ProviderMemory } from "./provider.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * const m: ProviderMemory = host.os.space; // an AddressSpace is one
 * const addr = host.os.memory.alloc(4096, 4096);
 * m.write(addr, new Uint8Array([1, 2, 3]));
 * assert.deepEqual([...m.read(addr, 3)], [1, 2, 3]);
 * ```
 */
export interface ProviderMemory {
  /** Copy of `len` bytes at `addr`. */
  read(addr: number, len: number): Uint8Array;
  /**
   * Copy `len` bytes at `addr` into `dst` from `dstOffset` on, without
   * allocating (an address space has it); the provider falls back to
   * {@link read} where it is missing.
   */
  readInto?(addr: number, dst: Uint8Array, dstOffset: number, len: number): void;
  /** Write `bytes` at `addr`. */
  write(addr: number, bytes: Uint8Array): void;
  /** Machine address of `addr` — used only to wait for DMA writes, not on the modelled path. */
  translate(addr: number): number;
}

/** `len` bytes at `addr` into `dst` at `at`: without allocating where `m` can (`readInto`). */
function readInto(m: ProviderMemory, addr: number, dst: Uint8Array, at: number, len: number): void {
  if (m.readInto) m.readInto(addr, dst, at, len);
  else dst.set(m.read(addr, len), at);
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
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import type { ProviderEnv } from "./provider.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   const env: ProviderEnv = ctx.provider.env;
 *   assert.equal(env.uarAddr, ctx.file.uarAddr); // doorbells go to the context's UAR page
 * });
 * ```
 */
export interface ProviderEnv {
  /** The engine the domain runs on. */
  engine: Engine;
  /** The cost profile the fast path charges. */
  profile: Profile;
  /** The domain memory the rings live in. */
  memory: ProviderMemory;
  /** The context's UAR page in the domain's address space. */
  uarAddr: number;
  /** The calling thread's CPU account. */
  cpu: ThreadCpu;
  /**
   * Block until a write touches one of these machine frames (see
   * `memory_watch.ts`), `timeoutNs` passes or `signal` aborts; absent,
   * waiters re-poll every `cpu.emptyPollNs`.
   */
  waitWrite?: (
    mfns: readonly number[],
    label: string,
    timeoutNs?: number,
    signal?: AbortSignal,
  ) => Promise<boolean>;
  /**
   * End now the {@link waitWrite} waits on these frames, as a write would (they look again): a
   * CQ destroyed under a thread waiting on it wakes that thread, which then finds it gone.
   */
  wakeWrite?: (mfns: readonly number[]) => void;
}

/**
 * The namespace virtualization of the verbs library (Nomad, Huang et al.,
 * VEE 2007; `nomad_file.ts`), as the fast path sees it: the application
 * names its memory regions by virtual keys, which the provider turns into
 * the device's keys when it builds a WQE. The map holds only keys whose
 * physical value differs (after a live migration re-registered them); each
 * lookup costs `cpu.handleLookupNs`, whether it finds an entry or not.
 * Absent (the layer off): no lookup, no cost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { HandleXlate } from "./provider.ts";
 * const x: HandleXlate = { lkeys: new Map([[0x100, 0x7300]]) };
 * assert.equal(x.lkeys.get(0x100) ?? 0x100, 0x7300); // re-registered on another host
 * assert.equal(x.lkeys.get(0x200) ?? 0x200, 0x200); // unchanged
 * ```
 */
export interface HandleXlate {
  /** Local keys, virtual → physical (only those that differ). */
  lkeys: Map<number, number>;
}

/**
 * A send work request kept by the library to be posted again (held while its
 * connection is suspended, or on the device's queue and never started when
 * the connection drained for a move): a copy of the application's WR (its
 * keys are the application's), and the bytes of inline data as they were at
 * `ibv_post_send` — the application may reuse an inline buffer at once
 * (ibv_post_send(3): IBV_SEND_INLINE).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WrOpcode } from "../uapi/enums.ts";
 * import type { HeldSend } from "./provider.ts";
 * const h: HeldSend = { wr: { wrId: 7n, opcode: WrOpcode.SEND, sgList: [] } };
 * assert.equal(h.inline, undefined); // not inline: the data is read when it is posted again
 * ```
 */
export interface HeldSend {
  /** The WR as the application posted it (a copy). */
  wr: SendWr;
  /** Inline data captured at post time. */
  inline?: Uint8Array;
}

/**
 * Work requests an application posted while its connection is suspended
 * for a live migration (Nomad's handshake): accepted and checked as usual,
 * kept here, and posted to the device in order once the connection resumes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, connectPair, QpType, WrOpcode } from "../../mod.ts";
 * import type { QpGate } from "./provider.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   const cq = await ctx.createCq(4);
 *   const cap = { maxSendWr: 2, maxRecvWr: 2, maxSendSge: 1, maxRecvSge: 1 };
 *   const qp = await (await ctx.allocPd()).createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
 *   const lid = ctx.queryPort(1).lid;
 *   await connectPair({ qp, lid }, { qp, lid }); // loopback
 *   const gate: QpGate = qp.pqp.hold(); // the connection is suspended for a move
 *   qp.postSend({ wrId: 1n, opcode: WrOpcode.SEND, sgList: [] });
 *   assert.deepEqual(gate.sends.map((h) => h.wr.wrId), [1n]); // held, not on the device
 *   assert.equal(qp.pqp.sqOutstanding, 0);
 * });
 * ```
 */
export interface QpGate {
  /** Send WRs held (copies, with their inline data as it was when posted). */
  sends: HeldSend[];
  /** Receive WRs held (copies), once receives are held too. */
  recvs: RecvWr[];
  /**
   * Receives go to the device while the connection drains (a sender
   * waiting out an RNR NAK needs them); they are held once it has drained.
   */
  holdRecvs: boolean;
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

/**
 * Send opcodes each QP type allows (IBTA §9.2 / §11.4.1.1, table of service types), as
 * `true` at the opcode's index: a look-up by index per post, made with numbers only (a string
 * of digits would find its number's entry). A number that is no opcode (negative, a fraction,
 * past the table) finds something other than `true`.
 */
const ALLOWED: Record<number, readonly boolean[]> = {
  [QpType.RC]: opcodeTable(Object.values(WrOpcode)),
  [QpType.UC]: opcodeTable([
    WrOpcode.SEND,
    WrOpcode.SEND_WITH_IMM,
    WrOpcode.RDMA_WRITE,
    WrOpcode.RDMA_WRITE_WITH_IMM,
  ]),
  [QpType.UD]: opcodeTable([WrOpcode.SEND, WrOpcode.SEND_WITH_IMM]),
};

/** `true` at each of `ops`, `false` at every other opcode. */
function opcodeTable(ops: readonly number[]): boolean[] {
  const t: boolean[] = new Array(Math.max(...Object.values(WrOpcode)) + 1).fill(false);
  for (const op of ops) t[op] = true;
  return t;
}

const OPCODE_NAMES = Object.fromEntries(Object.entries(WrOpcode).map(([k, v]) => [v, k]));
const TYPE_NAMES: Record<number, string> = { 2: "RC", 3: "UC", 4: "UD" };

/**
 * One context's fast path: doorbells and the QP/CQ/SRQ rings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import type { Provider } from "./provider.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   const p: Provider = ctx.provider; // the fast path openDevice built
 *   const cq = await ctx.createCq(4);
 *   const before = p.doorbells;
 *   cq.reqNotify(); // arming a CQ is a doorbell, no kernel call
 *   assert.equal(p.doorbells, before + 1);
 * });
 * ```
 */
export class Provider {
  /** What the provider runs on. */
  readonly env: ProviderEnv;
  /** QPs of this context by QP number (CQEs name the QPN). */
  readonly qps = new Map<number, ProviderQp>();
  /** Doorbells rung (all kinds). */
  doorbells = 0;
  /** Handle translation of the Nomad layer; undefined when it is off. */
  xlate: HandleXlate | undefined;

  /**
   * The fast path of one open context.
   *
   * @param env see {@link ProviderEnv}
   */
  constructor(env: ProviderEnv) {
    this.env = env;
    this.#tagDoorbell = env.engine.tag("cpu.doorbell_store");
  }

  /** The kind of a doorbell's store event, once the posting thread's CPU work is done. */
  readonly #tagDoorbell: number;

  /**
   * The context was re-opened on another kernel file (a live migration
   * re-created it on another host): doorbells go to that file's UAR page.
   * A provider whose datapath crosses dom0 also takes the new file's ring.
   */
  rebind(file: UverbsFile): void {
    this.env.uarAddr = file.uarAddr;
  }

  /** Index the QPs by their QP numbers again (after {@link ProviderQp.rebind}). */
  rekeyQps(): void {
    const qps = [...this.qps.values()];
    this.qps.clear();
    for (const qp of qps) this.qps.set(qp.qpn, qp);
  }

  /**
   * Write a doorbell to the UAR page once the calling thread's CPU work is
   * done (its WQE is then in memory before the device can look).
   */
  doorbell(offset: number, word0: number, word1: number): void {
    this.doorbells++;
    const addr = this.env.uarAddr + offset;
    const engine = this.env.engine, now = engine.now;
    const delay = this.env.cpu.busyUntil() - now;
    if (delay <= 0) return this.#ringDoorbell(addr, word0, word1);
    // The event `schedule` makes, at the time it rounds to: on the line while the line's times
    // never go back (its events then fire in line order), else with a closure of its own.
    const at = now + Math.ceil(delay);
    const line = this.#dbLine;
    if (line.length > 0 && at < this.#dbLast) return this.#ringLater(delay, addr, word0, word1);
    const i = line.add();
    this.#dbAddr[i] = addr;
    this.#dbWord0[i] = word0;
    this.#dbWord1[i] = word1;
    this.#dbLast = at;
    engine.post(delay, this.#dbFire, this.#tagDoorbell);
  }

  /**
   * A doorbell's own event, `delay` from now. Apart from {@link doorbell},
   * which runs for every post: a function that makes a closure from its
   * parameters allocates their context on every call, closure or not.
   */
  #ringLater(delay: number, addr: number, word0: number, word1: number): void {
    this.env.engine.post(
      delay,
      () => this.#ringDoorbell(addr, word0, word1),
      this.#tagDoorbell,
    );
  }

  /** Doorbells waiting for their thread's CPU, in the order their events fire. */
  #dbAddr: number[] = [];
  #dbWord0: number[] = [];
  #dbWord1: number[] = [];
  #dbLine = new Line([], [this.#dbAddr, this.#dbWord0, this.#dbWord1]);
  /** Time of the line's newest doorbell. */
  #dbLast = 0;
  #dbFire = (): void => {
    const line = this.#dbLine, h = line.head;
    const addr = this.#dbAddr[h], word0 = this.#dbWord0[h], word1 = this.#dbWord1[h];
    line.drop();
    this.#ringDoorbell(addr, word0, word1);
  };

  /** One buffer for every doorbell store: a UAR page parses a store as it is written. */
  #doorbellBuf = new Uint8Array(DOORBELL_BYTES);

  #ringDoorbell(addr: number, word0: number, word1: number): void {
    try {
      this.env.memory.write(addr, doorbellInto(this.#doorbellBuf, word0, word1));
    } catch {
      // The context was closed and its UAR unmapped meanwhile: the write goes nowhere.
    }
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
    /** Work requests the QP was granted (create_qp's `cap`): at most the ring's entries. */
    maxSendWr: number;
    maxRecvWr: number;
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
  /** Receive queue: the scatter entries of each slot's WR (to post it again elsewhere). */
  nsge: Uint8Array;
  /**
   * Send queue, with the Nomad layer on: each slot's WR as posted, for the
   * ones the device never started before a move (see `unstartedSends`).
   */
  sent: (HeldSend | undefined)[] | undefined;
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
    nsge: new Uint8Array(size),
    sent: undefined,
  };
}

function copySendWr(wr: SendWr): SendWr {
  return { ...wr, sgList: (wr.sgList ?? []).map((s) => ({ ...s })) };
}

function inval(msg: string): VerbsError {
  return new VerbsError("EINVAL", msg);
}

/** The AV PD of a destroyed address handle: no PD has this number. */
const NO_AV_PD = 0xffffffff;

/**
 * A QP's send and receive rings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Access, Cluster, connectPair, QpType, SendFlags, WrOpcode } from "../../mod.ts";
 * import type { ProviderQp } from "./provider.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   const pd = await ctx.allocPd();
 *   const cq = await ctx.createCq(4);
 *   const cap = { maxSendWr: 2, maxRecvWr: 2, maxSendSge: 1, maxRecvSge: 1 };
 *   const qp = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
 *   const lid = ctx.queryPort(1).lid;
 *   await connectPair({ qp, lid }, { qp, lid }); // loopback
 *   const buf = host.os.memory.alloc(4096, 4096);
 *   const mr = await pd.regMr(buf, 4096, Access.LOCAL_WRITE);
 *   const rings: ProviderQp = qp.pqp;
 *   qp.postRecv({ wrId: 2n, sgList: [{ addr: buf + 64, length: 64, lkey: mr.lkey }] });
 *   qp.postSend({ wrId: 1n, opcode: WrOpcode.SEND, sendFlags: SendFlags.SIGNALED, sgList: [{ addr: buf, length: 8, lkey: mr.lkey }] });
 *   assert.equal(rings.sqOutstanding, 1);
 *   await cq.pollUntil(2); // the send's completion retires its WQE
 *   assert.equal(rings.sqOutstanding, 0);
 * });
 * ```
 */
export class ProviderQp {
  /** The device's QP number (doorbells, CQEs). */
  qpn: number;
  /** The QP number the application sees: {@link qpn}, or its virtual number under Nomad. */
  vqpn: number;
  /** Nomad: the peer as the application connected to it (receive completions report it). */
  remoteV: { qpn: number; lid: number } | undefined;
  /** Nomad: the peer's remote keys, virtual → physical (after the peer migrated). */
  remoteKeys: Map<number, number> | undefined;
  /** Nomad: work requests held while the connection is suspended. */
  gate: QpGate | undefined;
  /** `QpType`. */
  readonly type: number;
  /** State as the library last set or saw it. */
  state: number = QpState.RESET;
  /**
   * The send queue's ring.
   *
   * @internal
   */
  readonly sq: Ring;
  /**
   * The receive queue's ring (empty with an SRQ).
   *
   * @internal
   */
  readonly rq: Ring;
  /** The SRQ the QP receives from, if any. */
  readonly srq: ProviderSrq | undefined;
  /** The CQ of send completions. */
  readonly sendCq: ProviderCq;
  /** The CQ of receive completions. */
  readonly recvCq: ProviderCq;
  #p: Provider;
  #sigAll: boolean;
  #maxSendWr: number;
  #maxRecvWr: number;
  #maxSendSge: number;
  #maxRecvSge: number;
  #maxInline: number;
  #scratch: Uint8Array;
  #views: Uint8Array[] = [];
  #link = new Uint8Array(1);
  #wqe: SendWqe = {
    opcode: WqeOpcode.SEND,
    flags: 0,
    imm: undefined,
    remoteAddr: undefined,
    rkey: undefined,
    swapAdd: undefined,
    compare: undefined,
    ud: undefined,
    sgl: undefined,
    inline: undefined,
  };

  /** The rings of a QP the kernel created (`Provider.addQp`). */
  constructor(p: Provider, q: Parameters<Provider["addQp"]>[0]) {
    this.#p = p;
    this.qpn = q.qpn;
    this.vqpn = q.qpn;
    this.type = q.type;
    this.sq = ring(q.bufAddr + q.sqOffset, q.sqSize, q.sqStride);
    this.rq = ring(q.bufAddr + q.rqOffset, q.rqSize, q.rqStride);
    this.srq = q.srq;
    this.sendCq = q.sendCq;
    this.recvCq = q.recvCq;
    this.#sigAll = q.sqSigAll;
    // The queues hold what create_qp granted, not what the ring has room for: libmthca's
    // wq_overflow tests `cur + nreq >= max` with max the granted max_send_wr/max_recv_wr
    // (on Tavor exactly what was asked; the model's ring is a power of two, possibly more).
    this.#maxSendWr = Math.min(q.maxSendWr, q.sqSize);
    this.#maxRecvWr = Math.min(q.maxRecvWr, q.rqSize);
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
    this.sendCq.forget(this.qpn, this.srq);
    if (this.recvCq !== this.sendCq) this.recvCq.forget(this.qpn, this.srq);
  }

  /**
   * The device's QP is now `qpn`, in RESET (re-created on another host):
   * the rings restart. Its CQs were drained and re-created first, so no
   * entry of the old QP is left to forget.
   */
  rebind(qpn: number): void {
    this.qpn = qpn;
    for (const r of [this.sq, this.rq]) r.head = r.tail = 0;
  }

  /**
   * The receive WRs posted and not completed, oldest first, as the
   * provider wrote them (device keys), read back from the ring: what must
   * be posted again when the QP restarts from RESET.
   */
  outstandingRecvs(): RecvWr[] {
    const r = this.rq, out: RecvWr[] = [];
    const m = this.#p.env.memory;
    for (let c = r.tail; c !== r.head; c = (c + 1) >>> 0) {
      const slot = c & (r.size - 1);
      const segs = decodeRecvWqe(m.read(r.base + slot * r.stride, r.stride)).slice(0, r.nsge[slot]);
      out.push({ wrId: r.wrid[slot], sgList: segs });
    }
    return out;
  }

  /**
   * The send WRs posted and never started by the device, oldest first: from
   * `deviceCounter` (the QP context's SQ WQE counter, read once the send
   * queue has drained: IBTA §10.3.1, SQD completes the messages in progress
   * and begins no new one) to the last posted. What must be posted again
   * when the QP restarts from RESET. Kept only with the Nomad layer on.
   */
  unstartedSends(deviceCounter: number): HeldSend[] {
    const r = this.sq, out: HeldSend[] = [];
    const n = (r.head - deviceCounter) >>> 0;
    if (n === 0) return out;
    // The device has not completed what the library has already retired: a QP context
    // that cannot be, and sends would be lost without a word.
    if (n > this.sqOutstanding || !r.sent) {
      throw new VerbsError(
        "EIO",
        `${this.#what("nomad drain")}: the device's SQ WQE counter ${deviceCounter} is not among ` +
          `the ${this.sqOutstanding} WQEs outstanding (posted ${r.head})`,
      );
    }
    for (let c = deviceCounter >>> 0; c !== r.head; c = (c + 1) >>> 0) {
      const h = r.sent[c & (r.size - 1)];
      if (h) out.push(h);
    }
    return out;
  }

  /** Hold new work requests (sends; receives too once `gate.holdRecvs` is set). */
  hold(): QpGate {
    return this.gate ??= { sends: [], recvs: [], holdRecvs: false };
  }

  /** Stop holding; returns what was held, for the caller to post in order. */
  release(): QpGate | undefined {
    const g = this.gate;
    this.gate = undefined;
    return g;
  }

  /** `<verb> QP <qpn>` for an error message (built only when one is thrown). */
  #what(verb: string): string {
    return `${verb} QP ${this.qpn}`;
  }

  /** `ibv_post_send` for one WR. */
  postSend(wr: SendWr): void {
    this.#post(wr, undefined);
  }

  /**
   * Post again a send the library kept ({@link HeldSend}): as `ibv_post_send`
   * did, with its inline data as it was then.
   *
   * @internal
   */
  repost(h: HeldSend): void {
    this.#post(h.wr, h.inline);
  }

  #post(wr: SendWr, savedInline: Uint8Array | undefined): void {
    const env = this.#p.env;
    if (this.state < QpState.RTS) {
      throw inval(
        `${this.#what("post_send")}: QP is not ready to send (state ${this.state}, needs RTS)`,
      );
    }
    // Room first: libmthca's tavor_post_send, libmlx4's and libmlx5's post_send test the queue
    // for overflow before they look at the WR (its SGE count, its opcode), and the kernel's
    // mthca_tavor_post_send returns -ENOMEM there too; a full queue is ENOMEM whatever the WR.
    const gate = this.gate;
    if (this.sqOutstanding + (gate ? gate.sends.length : 0) >= this.#maxSendWr) {
      throw new VerbsError(
        "ENOMEM",
        `${this.#what("post_send")}: send queue full (${this.#maxSendWr} WQEs outstanding)`,
      );
    }
    // A value that is no number is looked up nowhere (a string of digits would find its number's
    // entry, an object would be asked for its text).
    const opcode: unknown = wr.opcode;
    const op = typeof opcode === "number" ? WQE_OPCODE[opcode] : undefined;
    if (op === undefined || ALLOWED[this.type][opcode as number] !== true) {
      const named = typeof opcode === "number" ? OPCODE_NAMES[opcode] ?? opcode : typeof opcode;
      throw inval(
        `${this.#what("post_send")}: opcode ${named} not valid on a ${TYPE_NAMES[this.type]} QP`,
      );
    }
    const flags = wr.sendFlags ?? 0;
    const sgl = wr.sgList ?? [];
    // The SGE count is checked first, inline or not: libmthca's post_send tests
    // `wr->num_sge > qp->sq.max_gs` before it looks at IBV_SEND_INLINE (as rxe, mlx4 and mlx5
    // do), and the kernel's mthca_tavor_post_send refuses "too many gathers" with -EINVAL.
    if (sgl.length > this.#maxSendSge) {
      throw inval(
        `${this.#what("post_send")}: ${sgl.length} SGEs exceed max_send_sge ${this.#maxSendSge}`,
      );
    }
    const isInline = (flags & SendFlags.INLINE) !== 0;
    if (
      isInline && op !== WqeOpcode.SEND && op !== WqeOpcode.SEND_IMM &&
      op !== WqeOpcode.RDMA_WRITE && op !== WqeOpcode.RDMA_WRITE_IMM
    ) {
      throw inval(`${this.#what("post_send")}: inline data only with SEND or RDMA WRITE`);
    }
    let inline: Uint8Array | undefined;
    let inlineBytes = 0;
    if (isInline) {
      for (let k = 0; k < sgl.length; k++) inlineBytes += sgl[k].length;
      if (inlineBytes > this.#maxInline) {
        throw inval(
          `${
            this.#what("post_send")
          }: ${inlineBytes} bytes of inline data exceed max_inline_data ${this.#maxInline}`,
        );
      }
    }
    // One description per QP, every field set again: the encoder reads it once and keeps nothing.
    const w = this.#wqe;
    w.opcode = op as SendWqe["opcode"];
    w.flags = 0;
    w.imm = w.rkey = undefined;
    w.remoteAddr = w.swapAdd = w.compare = undefined;
    w.ud = w.sgl = w.inline = undefined;
    if ((flags & SendFlags.SIGNALED) || this.#sigAll) w.flags |= WqeFlags.SIGNALED;
    if (flags & SendFlags.SOLICITED) w.flags |= WqeFlags.SOLICITED;
    if (flags & SendFlags.FENCE) w.flags |= WqeFlags.FENCE;
    if (op === WqeOpcode.SEND_IMM || op === WqeOpcode.RDMA_WRITE_IMM) {
      if (wr.immData === undefined) {
        throw inval(`${this.#what("post_send")}: ${OPCODE_NAMES[wr.opcode]} needs immData`);
      }
      w.imm = wr.immData >>> 0;
    }
    if (op !== WqeOpcode.SEND && op !== WqeOpcode.SEND_IMM) {
      if (wr.remoteAddr === undefined || wr.rkey === undefined) {
        throw inval(
          `${this.#what("post_send")}: ${OPCODE_NAMES[wr.opcode]} needs remoteAddr and rkey`,
        );
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
        throw inval(`${this.#what("post_send")}: a UD send needs ah, remoteQpn and remoteQkey`);
      }
      // The AV names its PD, which the device checks against the QP's; a destroyed AH names
      // none (as its AV is gone: rxe finds no AH and fails the WQE), nor does one of another
      // open device (mthca reads the AV through its PD's key, a key of that device: another
      // host's or context's PD number may equal this QP's, its key is still not this PD's).
      const ahPd = wr.ah!.pd;
      w.ud = {
        avPd: ahPd === undefined
          ? undefined
          : wr.ah!.destroyed || ahPd.context?.provider !== this.#p
          ? NO_AV_PD
          : ahPd.pdn,
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
    if (gate) {
      // The connection is suspended (Nomad): posted when it resumes, in order.
      gate.sends.push({
        wr: copySendWr(wr),
        inline: isInline ? savedInline ?? this.#inlineCopy(sgl, inlineBytes) : undefined,
      });
      return;
    }
    const x = this.#p.xlate;
    let lookups = 0;
    if (x && w.rkey !== undefined) {
      w.rkey = this.remoteKeys?.get(w.rkey) ?? w.rkey;
      lookups++;
    }
    if (isInline) {
      inline = savedInline ?? this.#inlineCopy(sgl, inlineBytes);
      w.inline = inline;
    } else if (x) {
      w.sgl = sgl.map((s: Sge) => ({
        addr: s.addr,
        length: s.length,
        lkey: x.lkeys.get(s.lkey) ?? s.lkey,
      }));
      lookups += sgl.length;
    } else {
      // Encoded at once and not kept: the caller's entries are read once each, as a copy would.
      w.sgl = sgl;
    }
    const r = this.sq;
    const slot = r.head & (r.size - 1);
    const n = encodeSendWqe(w, this.#scratch, 0);
    const size16 = n / SEG_BYTES;
    // One view per WQE size, made once: the write copies the bytes.
    const v = this.#views[size16] ??= this.#scratch.subarray(0, n);
    env.memory.write(r.base + slot * r.stride, v);
    // Link the previous WQE to this one, then tell the device this one's size in the doorbell
    // (libmthca's prev_wqe->ee_nds and `(qpn << 8) | size0`): the HCA fetches size*16 bytes.
    if (r.head !== 0) {
      const prev = (r.head - 1) & (r.size - 1);
      this.#link[0] = size16;
      env.memory.write(r.base + prev * r.stride + WQE_NEXT_SIZE_OFFSET, this.#link);
    }
    r.wrid[slot] = wr.wrId;
    r.wcOpcode[slot] = wcOpcodeOfWr(wr.opcode);
    // Nomad: kept until the device has taken it (a drain leaves unstarted WQEs on the queue).
    if (x) (r.sent ??= new Array(r.size))[slot] = { wr: copySendWr(wr), inline };
    r.head = (r.head + 1) >>> 0;
    env.cpu.charge(
      env.profile.cpu.wqeBuildNs + (inlineBytes * 1e9) / env.profile.cpu.memcpyBytesPerSec +
        lookups * env.profile.cpu.handleLookupNs,
    );
    this.#p.doorbell(UarOffset.SEND, sendDoorbellWord(this.qpn, size16), r.head);
  }

  /** The inline data of `sgl` (`bytes` in all), copied at post time. */
  #inlineCopy(sgl: readonly Sge[], bytes: number): Uint8Array {
    const inline = new Uint8Array(bytes);
    let o = 0;
    for (let i = 0; i < sgl.length; i++) {
      const s = sgl[i];
      this.#inlineBytes(s, i, inline, o);
      o += s.length;
    }
    return inline;
  }

  /**
   * Copy the bytes of inline SGE `i` into `out` at `at`, at post time. The
   * copy is the library's own memcpy (libmthca's inline path): memory the
   * caller does not have is EFAULT, and nothing is posted. (The SGE's fields
   * are integers of their C types: the post verbs checked them, `wr_check.ts`.)
   */
  #inlineBytes(s: Sge, i: number, out: Uint8Array, at: number): void {
    try {
      readInto(this.#p.env.memory, s.addr, out, at, s.length);
    } catch (e) {
      throw new VerbsError(
        "EFAULT",
        `${this.#what("post_send")}: inline sgList[${i}] at ${String(s.addr)} (${
          String(s.length)
        } bytes) is not readable memory: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }

  /** `ibv_post_recv` for one WR. */
  postRecv(wr: RecvWr): void {
    if (this.srq) throw inval(`${this.#what("post_recv")}: the QP uses an SRQ; post to the SRQ`);
    if (this.state === QpState.RESET) throw inval(`${this.#what("post_recv")}: QP is in RESET`);
    // Room before the SGE count, as libmlx4's and libmlx5's post_recv and the kernel's
    // mthca_tavor_post_receive test them (-ENOMEM before "too many gathers" -EINVAL).
    const held = this.gate?.holdRecvs ? this.gate.recvs : undefined;
    if (((this.rq.head - this.rq.tail) >>> 0) + (held ? held.length : 0) >= this.#maxRecvWr) {
      throw new VerbsError(
        "ENOMEM",
        `${this.#what("post_recv")}: receive queue full (${this.#maxRecvWr} WQEs outstanding)`,
      );
    }
    const sgl = wr.sgList ?? [];
    if (sgl.length > this.#maxRecvSge) {
      throw inval(
        `${this.#what("post_recv")}: ${sgl.length} SGEs exceed max_recv_sge ${this.#maxRecvSge}`,
      );
    }
    if (held) {
      held.push({ wrId: wr.wrId, sgList: sgl.map((s) => ({ ...s })) });
      return;
    }
    const env = this.#p.env;
    const x = this.#p.xlate;
    const slot = this.rq.head & (this.rq.size - 1);
    const buf = this.#scratch.subarray(0, this.rq.stride);
    encodeRecvWqe(
      x ? sgl.map((s) => ({ ...s, lkey: x.lkeys.get(s.lkey) ?? s.lkey })) : sgl,
      buf,
      0,
      this.rq.stride,
    );
    env.memory.write(this.rq.base + slot * this.rq.stride, buf);
    this.rq.wrid[slot] = wr.wrId;
    this.rq.nsge[slot] = sgl.length;
    this.rq.head = (this.rq.head + 1) >>> 0;
    env.cpu.charge(
      env.profile.cpu.wqeBuildNs + (x ? sgl.length * env.profile.cpu.handleLookupNs : 0),
    );
    this.#p.doorbell(UarOffset.RECV, this.qpn, this.rq.head);
  }
}

/**
 * A shared receive queue ring: the device takes WQEs in counter order, and
 * a slot is reused only after its completion.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import type { ProviderSrq } from "./provider.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const srq = await (await (await host.os.openDevice()).allocPd()).createSrq({ maxWr: 8, maxSge: 1 });
 *   const ring: ProviderSrq = srq.psrq;
 *   srq.postRecv([{ wrId: 1n, sgList: [] }, { wrId: 2n, sgList: [] }]);
 *   assert.equal(ring.outstanding, 2); // WQEs the device may take
 * });
 * ```
 */
export class ProviderSrq {
  /** The device's SRQ number. */
  readonly srqn: number;
  /** Address of the ring. */
  readonly addr: number;
  /** Entries in the ring. */
  readonly size: number;
  /** Bytes per WQE. */
  readonly stride: number;
  /** Most WQEs outstanding. */
  readonly maxWr: number;
  /** Most SGEs per WQE. */
  readonly maxSge: number;
  /** WQEs posted so far (free-running). */
  counter = 0;
  /** WQEs posted and not yet completed. */
  outstanding = 0;
  #wrid: (bigint | undefined)[];
  #p: Provider;
  #scratch: Uint8Array;

  /** The ring of an SRQ the kernel created (`Provider.addSrq`). */
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
    // Room before the SGE count, as the kernel's mthca_tavor_post_srq_recv ("SRQ full" -ENOMEM
    // before -EINVAL) and libmlx4's and libmlx5's post_srq_recv test them.
    const slot = this.counter & (this.size - 1);
    if (this.outstanding >= this.maxWr || this.#wrid[slot] !== undefined) {
      throw new VerbsError("ENOMEM", `${what}: SRQ full (${this.outstanding} WQEs outstanding)`);
    }
    const sgl = wr.sgList ?? [];
    if (sgl.length > this.maxSge) {
      throw inval(`${what}: ${sgl.length} SGEs exceed max_sge ${this.maxSge}`);
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
 * import assert from "node:assert/strict";
 * import { Cluster, QpState, QpType } from "../../mod.ts";
 * import type { ProviderCq } from "./provider.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   const cq = await ctx.createCq(4);
 *   const cap = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
 *   const qp = await (await ctx.allocPd()).createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
 *   await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
 *   qp.postRecv({ wrId: 1n, sgList: [] });
 *   await qp.modify({ state: QpState.ERR }); // a flush completion
 *   const ring: ProviderCq = cq.pcq;
 *   assert.equal(ring.consumerIndex, 0);
 *   assert.equal((await cq.pollUntil(1)).length, 1);
 *   assert.equal(ring.consumerIndex, 1); // the next CQE to read
 * });
 * ```
 */
export class ProviderCq {
  /** The device's CQ number. */
  cqn: number;
  /** Address of the ring. */
  addr: number;
  /** log2 of its entries. */
  logSize: number;
  /** Consumer index (free-running). */
  consumerIndex = 0;
  /**
   * The CQ is gone from the device while its context moves (Nomad): polls
   * return only what was taken from it before, doorbells wait.
   */
  suspended = false;
  /**
   * The CQ stands for one the device put in the error state (it overran) before its context
   * moved (Nomad): polls return what was taken from the old ring, never the new ring's entries.
   */
  inError = false;
  /** The arm doorbell last rung and not yet answered by an event (`CqDbCmd`; 0: none). */
  armedCmd = 0;
  #p: Provider;
  /** Per page of the ring, its machine frame (a one-element list, made once per mapping). */
  #pageFrames: number[][] = [];
  /** Absolute indices of CQEs of QPs that were reset or destroyed: consumed silently. */
  #skip = new Set<number>();
  /** Completions taken from the ring before it went away (Nomad), returned first. */
  #stash: WorkCompletion[] | undefined;
  #resumed: WaitQueue | undefined;

  /** The ring of CQ `cqn` at `addr`, `1 << logSize` entries. */
  constructor(p: Provider, cqn: number, addr: number, logSize: number) {
    this.#p = p;
    this.cqn = cqn;
    this.addr = addr;
    this.logSize = logSize;
    this.#mapFrames();
  }

  /** Completions waiting in the stash (taken from a ring that went away). */
  get stashed(): number {
    return this.#stash?.length ?? 0;
  }

  /**
   * Move every completion now in the ring into the stash, where `poll`
   * finds them before anything newer (a live migration is about to take
   * the ring away, or reset one of its QPs).
   */
  drainToStash(): Promise<void> {
    const out = this.#stash ??= [];
    if (this.inError) return Promise.resolve(); // nothing of the ring is the application's
    for (;;) {
      const n = out.length;
      this.pollRing(n + 64, out);
      if (out.length === n) return Promise.resolve();
    }
  }

  /** Stop using the ring (the device's CQ is being destroyed with its context). */
  suspend(): void {
    this.suspended = true;
  }

  /**
   * The device's CQ is now `cqn`, a new one over the same ring, which the
   * caller zeroed: the consumer index restarts; the stash stays first.
   */
  rebind(cqn: number): void {
    this.cqn = cqn;
    this.consumerIndex = 0;
    this.#skip.clear();
    this.#mapFrames();
  }

  /** The ring is usable again: threads waiting through the suspension re-check. */
  resume(): void {
    this.suspended = false;
    this.#resumed?.notifyAll();
  }

  /** The machine frames of the ring again (the domain's memory moved to other frames). */
  remap(): void {
    this.#mapFrames();
  }

  /**
   * Wake every thread waiting in {@link waitWrite} on the ring, as a CQE write would: the CQ was
   * destroyed under it, and it must look again (and find that out) rather than sleep forever.
   */
  wakeWaiters(): void {
    const wake = this.#p.env.wakeWrite;
    if (wake) { for (const f of this.#pageFrames) wake(f); }
  }

  #mapFrames(): void {
    const bytes = (1 << this.logSize) * CQE_BYTES;
    const m = this.#p.env.memory;
    const out: number[][] = [];
    for (let o = 0; o < bytes; o += 4096) out.push([Math.floor(m.translate(this.addr + o) / 4096)]);
    this.#pageFrames = out;
  }

  /**
   * The CQE at `ci`, copied into one buffer the CQ reuses: every caller
   * decodes it (or tests its owner bit) before the next read.
   */
  #entry(ci: number, addr = this.addr, logSize = this.logSize): Uint8Array {
    const b = this.#cqeBuf;
    readInto(this.#p.env.memory, addr + (ci & ((1 << logSize) - 1)) * CQE_BYTES, b, 0, CQE_BYTES);
    return b;
  }

  #cqeBuf = new Uint8Array(CQE_BYTES);

  /** True if a CQE is waiting at the consumer index (no CPU cost: used by waiters). */
  ready(): boolean {
    if (this.#stash !== undefined && this.#stash.length > 0) return true;
    if (this.suspended || this.inError) return false;
    return cqeReady(this.#entry(this.consumerIndex), 0, this.consumerIndex, this.logSize);
  }

  /**
   * CQEs the device has written into the ring that the library has not yet
   * consumed (those of reset or destroyed QPs too: they hold ring entries
   * until polled past); what a resized ring must still hold. Reads the ring
   * as libmlx4's `mlx4_get_outstanding_cqes` does; no CPU is charged (a
   * resize's check, not a poll).
   */
  unpolled(): number {
    if (this.suspended || this.inError) return 0;
    const size = 1 << this.logSize;
    let n = 0;
    for (let ci = this.consumerIndex; n < size; ci = (ci + 1) >>> 0) {
      if (!cqeReady(this.#entry(ci), 0, ci, this.logSize)) break;
      n++;
    }
    return n;
  }

  /**
   * Drop the CQEs of `qpn` now in the ring (its counters restart), as
   * libmthca's `__mthca_cq_clean` does after a QP's RESET or destroy; a
   * receive CQE that took a WQE of the QP's `srq` gives it back
   * (`mthca_free_srq_wqe`), else the SRQ would never see that slot again.
   */
  forget(qpn: number, srq?: ProviderSrq): void {
    for (let ci = this.consumerIndex;; ci = (ci + 1) >>> 0) {
      const b = this.#entry(ci);
      if (!cqeReady(b, 0, ci, this.logSize)) break;
      if (this.#skip.has(ci)) continue; // forgotten already
      const cqe = decodeCqe(b);
      if (cqe.qpn !== qpn) continue;
      this.#skip.add(ci);
      if (srq && (cqe.flags & CqeFlags.SRQ) && !(cqe.flags & CqeFlags.SQ)) {
        srq.complete(cqe.wqeCounter);
      }
    }
  }

  /** `ibv_poll_cq`: up to `max` completions. */
  poll(max: number): WorkCompletion[] {
    const stash = this.#stash;
    if (stash === undefined || stash.length === 0) {
      if (!this.suspended && !this.inError) return this.pollRing(max, []);
      this.#p.env.cpu.charge(this.#p.env.profile.cpu.emptyPollNs);
      return [];
    }
    const out = stash.splice(0, max);
    this.#p.env.cpu.charge(out.length * this.#p.env.profile.cpu.cqePollNs);
    if (out.length < max && !this.suspended && !this.inError) this.pollRing(max, out);
    return out;
  }

  /** Poll the device's ring for up to `max - out.length` completions into `out`. */
  protected pollRing(max: number, out: WorkCompletion[]): WorkCompletion[] {
    const env = this.#p.env;
    const first = out.length;
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
    const x = this.#p.xlate ? out.length - first : 0;
    env.cpu.charge(
      (consumed > 0 ? consumed * c.cqePollNs : c.emptyPollNs) + x * c.handleLookupNs,
    );
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
    const wc = workCompletionOf(cqe, wrId, sendOpcode);
    if (this.#p.xlate) {
      // Nomad: the application sees its own QP, and an RC peer, by their virtual numbers.
      wc.qpNum = qp.vqpn;
      if (qp.remoteV && !(cqe.flags & CqeFlags.SQ) && qp.type === QpType.RC) {
        wc.srcQp = qp.remoteV.qpn;
        wc.slid = qp.remoteV.lid;
      }
    }
    return wc;
  }

  /** `ibv_req_notify_cq`: arm for the next (or next solicited) completion. */
  arm(solicitedOnly: boolean): void {
    const cmd = solicitedOnly ? CqDbCmd.REQ_NOTIFY_SOLICITED : CqDbCmd.REQ_NOTIFY_NEXT;
    // The device keeps an arm for the next completion over a later solicited-only request
    // (IBTA C11-31/C11-32); so does the arm the library re-creates after a move (Nomad).
    if (!(cmd === CqDbCmd.REQ_NOTIFY_SOLICITED && this.armedCmd === CqDbCmd.REQ_NOTIFY_NEXT)) {
      this.armedCmd = cmd;
    }
    // Suspended: the new CQ is armed when it exists (Nomad re-arms it).
    if (this.suspended) return;
    this.#p.doorbell(UarOffset.CQ, cmdWord(cmd, this.cqn), this.consumerIndex);
  }

  /**
   * Whether a thread waiting on this CQ has to poll actively: true without a
   * memory watch (it re-polls every `cpu.emptyPollNs`); false when it can
   * watch the CQ's memory for the device's write (what a spinning thread
   * notices at its next poll, at no cost until then).
   */
  get pollsWhileWaiting(): boolean {
    return this.#p.env.waitWrite === undefined;
  }

  /**
   * Block until the device may have written a CQE (no CPU burnt meanwhile),
   * or `timeoutNs` passed or `signal` aborted (then false); the caller
   * re-checks with {@link ready}.
   */
  waitWrite(label: string, timeoutNs?: number, signal?: AbortSignal): Promise<boolean> {
    const env = this.#p.env;
    if (this.suspended) return this.waitResumed(label, timeoutNs);
    if (env.waitWrite) {
      // Only the frame of the CQE at the consumer index: the device writes
      // CQEs in ring order, so that one is written before any later entry
      // can be (and before another thread could consume past it). Watching
      // the whole ring cost a registration per page per wait, and the ring
      // grows with the number of QPs sharing the CQ.
      const page = ((this.consumerIndex & ((1 << this.logSize) - 1)) * CQE_BYTES) >>> 12;
      // The watch's own promise, not an async function's around it (a promise and a suspended
      // frame per wait, about once per completion of a thread that polls).
      return env.waitWrite(this.#pageFrames[page], label, timeoutNs, signal);
    }
    return this.#pollAgain(timeoutNs);
  }

  /** Without a memory watch: wait one empty poll (or `timeoutNs`) and look again. */
  async #pollAgain(timeoutNs: number | undefined): Promise<boolean> {
    const step = Math.max(1, this.#p.env.profile.cpu.emptyPollNs);
    await this.#p.env.engine.sleep(timeoutNs === undefined ? step : Math.min(step, timeoutNs));
    return true;
  }

  /** Wait until the CQ resumes (or `timeoutNs`): a suspended ring gets no writes to wait for. */
  protected async waitResumed(label: string, timeoutNs?: number): Promise<boolean> {
    const env = this.#p.env;
    const q = this.#resumed ??= new WaitQueue(env.engine, `${label} (CQ ${this.cqn} suspended)`);
    return timeoutNs === undefined ? await q.wait() : await q.waitFor(timeoutNs);
  }

  /**
   * Before RESIZE_CQ: make every entry of the new ring at `addr` (2^`logSize`
   * entries) one the device has not written, for the index it holds next from
   * the consumer index on. libmthca's `mthca_alloc_cq_buf` marks each CQE of a
   * new buffer hardware-owned (`MTHCA_CQ_ENTRY_OWNER_HW`) before
   * `ibv_cmd_resize_cq`; here ownership is the owner bit of the lap, and the
   * producer index runs on through a resize (hca/FORMATS.md, "Resize"), so a
   * zeroed ring whose consumer index is on an odd lap of the new size would
   * read as full of completions: the first poll took them, moved the consumer
   * index past the device's and lost every later completion.
   */
  prepareRing(addr: number, logSize: number): void {
    const size = 1 << logSize;
    const ring = new Uint8Array(size * CQE_BYTES);
    const ci = this.consumerIndex;
    for (let s = 0; s < size; s++) {
      // The index slot `s` holds next; its owner bit one lap later is the one it must not show.
      const next = (ci + ((s - ci) & (size - 1))) >>> 0;
      setCqeOwner(ring, s * CQE_BYTES, (next + size) >>> 0, logSize);
    }
    this.#p.env.memory.write(addr, ring);
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
