/**
 * Namespace virtualization of one open device, Nomad's thin layer (Huang,
 * Liu, Koop, Abali, Panda, VEE 2007) in the user-level verbs library: a
 * `UverbsFile` in front of the kernel's that gives the application handles,
 * QP numbers, memory keys and LIDs that stay the same when a live
 * migration re-creates the context on another host, where the device
 * hands out other ones.
 *
 * - Handles (PD, MR, CQ, QP, SRQ, AH) are the layer's own numbers; each
 *   names the kernel's handle of the moment.
 * - Keys: an MR's virtual lkey/rkey are the device's keys at registration;
 *   after a migration re-registered it, the provider turns virtual lkeys
 *   into physical ones as it builds WQEs (`HandleXlate`, a lookup per key),
 *   and peers learn the rkeys in the handshake. A registration made after a
 *   move whose keys collide with a moved MR's virtual keys is made again
 *   until they do not, so that virtual = physical for every MR made on the
 *   current host and peers need no update for it.
 * - QP numbers: likewise, virtual = the first physical number (`Qp.qpNum`,
 *   completions' `qpNum`, and an RC peer's `srcQp` as the application
 *   connected it); a QP created after a move whose number collides with a
 *   moved QP's virtual one is created again.
 * - LIDs: each port keeps the LID it had when the domain's library first
 *   asked (`queryPort`); connecting to a QP that has moved uses where it is
 *   now (the directory of `nomad_net.ts`).
 *
 * The layer records what every object was created with, so that
 * {@link NomadFile.reopen} can make it again on another kernel file: PDs,
 * MRs (re-registered: new keys), CQs (over the same zeroed ring), QPs (over
 * the same queue buffer, in RESET; the agent reconnects them). The
 * connection handshake itself is the agent's (`nomad_agent.ts`).
 *
 * @module
 */
import { VerbsError } from "../uapi/errors.ts";
import { EventType, QpAttrMask, QpState, QpType } from "../uapi/enums.ts";
import { attrMask } from "../uapi/qp_state.ts";
import type { AhAttr, AsyncEvent, DeviceAttr, PortAttr, QpAttr } from "../uapi/types.ts";
import type {
  AllocPdResp,
  CreateAhResp,
  CreateCqReq,
  CreateCqResp,
  CreateQpReq,
  CreateQpResp,
  CreateSrqReq,
  CreateSrqResp,
  McastReq,
  ModifyQpReq,
  ModifySrqReq,
  OpenFileOptions,
  QueryQpResp,
  QuerySrqResp,
  RegMrReq,
  RegMrResp,
  ResizeCqReq,
  UverbsEventHandlers,
  UverbsFile,
} from "../uapi/uverbs.ts";
import type { Engine } from "../../sim/engine.ts";
import type { HandleXlate, Provider, ProviderCq, ProviderQp } from "./provider.ts";
import type { NomadAddr, NomadEndpoint } from "./nomad_net.ts";

/**
 * What a file needs of its domain's agent (`nomad_agent.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../../sim/engine.ts";
 * import { NomadAgent } from "./nomad_agent.ts";
 * import type { NomadHost } from "./nomad_file.ts";
 * import { NomadNetwork } from "./nomad_net.ts";
 * const engine = new Engine();
 * const h: NomadHost = new NomadAgent(new NomadNetwork(engine, () => 30_000), engine, "vm0");
 * assert.equal(h.virtualLid(1, 7), 7); // port 1 is at LID 7 now: the domain's files see 7
 * assert.equal(h.virtualLid(1, 9), 7); // and still 7 after a move to LID 9
 * assert.equal(h.vqpnTaken(0x48), false);
 * ```
 */
export interface NomadHost {
  /** The engine the domain runs on. */
  readonly engine: Engine;
  /** Resolves at once, or when the domain's contexts have moved and are back. */
  whenRunning(): Promise<void>;
  /**
   * The port has LID `physical` now; returns its virtual LID (the first
   * physical LID the domain's library saw on that port).
   */
  virtualLid(port: number, physical: number): number;
  /**
   * True if some QP of the domain is known by this virtual number.
   *
   * @internal
   */
  vqpnTaken(vqpn: number, except?: QpRec): boolean;
  /**
   * A QP got its device QP at `phys` (created, re-created, or its port set).
   *
   * @internal
   */
  bound(file: NomadFile, qp: QpRec): void;
  /**
   * A QP's device QP is given back: `destroyed` when the application
   * destroyed it or closed its context, else for a move.
   *
   * @internal
   */
  unbound(file: NomadFile, qp: QpRec, destroyed?: boolean): void;
  /**
   * Who holds the QP at physical address `a` now, if a library does.
   *
   * @internal
   */
  holderOf?(a: NomadAddr): NomadEndpoint | undefined;
  /** Where the QP applications know by `a` is now, if it moved; and its remote keys. */
  resolveRemote(a: NomadAddr): Promise<{ addr: NomadAddr; keys: [number, number][] } | undefined>;
}

/**
 * Device resources a context holds, by the driver's names (see
 * `NomadFile.deviceNeeds`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NomadDeviceNeeds } from "./nomad_file.ts";
 * const n: NomadDeviceNeeds = { uar: 1, pd: 1, mr: 2, cq: 1, qp: 1, mtt: 40 };
 * assert.equal(Object.keys(n).length, 6);
 * ```
 */
export type NomadDeviceNeeds = Record<"uar" | "pd" | "mr" | "cq" | "qp" | "mtt", number>;

/** A PD as created. */
interface PdRec {
  v: number;
  p: number;
}

/** An MR as registered, with its keys: virtual (what the application has) and physical. */
interface MrRec {
  v: number;
  p: number;
  pd: PdRec;
  addr: number;
  length: number;
  access: number;
  lkey: number;
  rkey: number;
  pLkey: number;
  pRkey: number;
}

/**
 * A CQ as created (the ring the library allocated stays where it is).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import type { CqRec } from "./nomad_file.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1, nomad: true });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   const cq = await ctx.createCq(16);
 *   const [rec]: CqRec[] = ctx.nomad!.cqRecords();
 *   assert.equal(rec.req.cqe, 16); // the request, kept to re-create the CQ after a move
 *   assert.equal(rec.pcq?.cqn, cq.cqn); // and the provider's ring of it
 * });
 * ```
 */
export interface CqRec {
  v: number;
  p: number;
  req: CreateCqReq;
  pcq?: ProviderCq;
  /**
   * The device reported the CQ overrun (`IBV_EVENT_CQ_ERR`): it is in the error state and takes
   * no completion any more. The CQ made again after a move is kept so (`ProviderCq.inError`).
   */
  overrun?: boolean;
}

/**
 * A QP as created and connected: its creation request (virtual handles),
 * the attributes the application gave each transition (virtual values),
 * its numbers and where its device QP points now.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, QpState, QpType } from "../../mod.ts";
 * import type { QpRec } from "./nomad_file.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1, nomad: true });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   const cq = await ctx.createCq(4);
 *   const cap = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
 *   const qp = await (await ctx.allocPd()).createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
 *   const [rec]: QpRec[] = ctx.nomad!.qpRecords();
 *   assert.equal(rec.vqpn, qp.qpNum); // the number the application keeps across moves
 *   assert.equal(rec.state, QpState.RESET);
 *   assert.equal(rec.remoteP, undefined); // not connected
 * });
 * ```
 */
export interface QpRec {
  v: number;
  p: number;
  req: CreateQpReq;
  pd: PdRec;
  sendCq: CqRec;
  recvCq: CqRec;
  srq?: SrqRec;
  pqp?: ProviderQp;
  type: number;
  vqpn: number;
  pqpn: number;
  /** The state the application last set (the device's may be another while it moves). */
  state: number;
  /** The port its INIT named. */
  port: number;
  init?: QpAttr;
  rtr?: QpAttr;
  rts?: QpAttr;
  /** The peer as the application named it, and where the device QP sends now. */
  remoteV?: NomadAddr;
  remoteP?: NomadAddr;
  /**
   * The library and QP that held `remoteP` when this QP was connected to it
   * (or reconnected after a move): the only end that speaks for the
   * connection. Another library that holds the address later (the peer's QP
   * was destroyed and the number taken again) is not the peer.
   */
  peer?: NomadEndpoint;
  /** Waiting for SQ_DRAINED. */
  onDrained?: () => void;
  /** Wakes a drain waiting for SQ_DRAINED to look again (its peer is gone). */
  wakeDrain?: () => void;
}

interface SrqRec {
  v: number;
  p: number;
  pd: PdRec;
}

interface AhRec {
  v: number;
  p: number;
}

/** Attempts to register (or create a QP) away from a moved object's virtual value. */
const COLLISION_RETRIES = 8;

/**
 * The namespace-virtualizing file of one context.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Access, Cluster } from "../../mod.ts";
 * import { NomadFile } from "./nomad_file.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1, nomad: true });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   assert.ok(ctx.nomad instanceof NomadFile);
 *   const pd = await ctx.allocPd();
 *   const buf = host.os.memory.alloc(4096, 4096);
 *   const mr = await pd.regMr(buf, 4096, Access.LOCAL_WRITE);
 *   assert.equal(ctx.nomad.physicalLkey(mr.lkey), mr.lkey); // never moved: virtual = physical
 * });
 * ```
 */
export class NomadFile implements UverbsFile {
  /** The kernel file now (undefined while the context moves, or once closed). */
  inner: UverbsFile | undefined;
  /** Its device resources were given back for a move; {@link reopen} makes them again. */
  released = false;
  #inCall = 0;
  #idleWaiters: (() => void)[] = [];
  /** Local keys that differ from their virtual values, for the provider. */
  readonly xlate: HandleXlate = { lkeys: new Map() };
  /** How the kernel file was opened: {@link reopen}'s file is opened the same way. */
  readonly openOptions: OpenFileOptions;
  /** The provider of the context (set when the context is built). */
  provider: Provider | undefined;
  #host: NomadHost;
  #app: UverbsEventHandlers = { onCompEvent() {}, onAsyncEvent() {} };
  #last: { deviceName: string; uarIndex: number; uarAddr: number; numCompVectors: number };
  #pds = new Map<number, PdRec>();
  #mrs = new Map<number, MrRec>();
  #cqs = new Map<number, CqRec>();
  #qps = new Map<number, QpRec>();
  #srqs = new Map<number, SrqRec>();
  #ahs = new Map<number, AhRec>();
  #next = { pd: 1, mr: 1, cq: 1, qp: 1, srq: 1, ah: 1 };
  /** Physical handle → record, for events of the current kernel file. */
  #pCq = new Map<number, CqRec>();
  #pQp = new Map<number, QpRec>();
  #pSrq = new Map<number, SrqRec>();

  /**
   * The Nomad layer over `inner`, the kernel's file: virtual handles, keys and QP numbers that
   * survive a migration.
   *
   * @param inner the kernel file just opened
   * @param host the domain's agent
   * @param openOptions how `inner` was opened (the kernel's registration cache)
   */
  constructor(inner: UverbsFile, host: NomadHost, openOptions: OpenFileOptions = {}) {
    this.inner = inner;
    this.openOptions = openOptions;
    this.#host = host;
    this.#last = {
      deviceName: inner.deviceName,
      uarIndex: inner.uarIndex,
      uarAddr: inner.uarAddr,
      numCompVectors: inner.numCompVectors,
    };
    inner.setEventHandlers(this.#handlers());
  }

  get deviceName(): string {
    return this.inner?.deviceName ?? this.#last.deviceName;
  }
  get uarIndex(): number {
    return this.inner?.uarIndex ?? this.#last.uarIndex;
  }
  get uarAddr(): number {
    return this.inner?.uarAddr ?? this.#last.uarAddr;
  }
  get numCompVectors(): number {
    return this.inner?.numCompVectors ?? this.#last.numCompVectors;
  }

  /** The provider of this context: its lkey translation is this file's. */
  attach(provider: Provider): void {
    this.provider = provider;
    provider.xlate = this.xlate;
  }

  /** The device's lkey for virtual `lkey` now. */
  physicalLkey(lkey: number): number {
    return this.xlate.lkeys.get(lkey) ?? lkey;
  }

  /** Remote keys of this context's MRs that differ from their virtual values (virtual → physical). */
  movedRkeys(): [number, number][] {
    const out: [number, number][] = [];
    for (const m of this.#mrs.values()) if (m.rkey !== m.pRkey) out.push([m.rkey, m.pRkey]);
    return out;
  }

  /**
   * The context's QPs, CQs (records, for the agent).
   *
   * @internal
   */
  qpRecords(): QpRec[] {
    return [...this.#qps.values()];
  }

  /**
   * See {@link qpRecords}.
   *
   * @internal
   */
  cqRecords(): CqRec[] {
    return [...this.#cqs.values()];
  }

  /**
   * What making this context again on another host's device takes, per
   * device resource: one UAR page, its PDs, MRs, CQs and QPs, and an MTT
   * entry for each page of every region and queue buffer (`reopen` makes
   * exactly these). Nothing for a context that is closed. A migration asks
   * the destination for this room before it moves anything.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Access, Cluster } from "../../mod.ts";
   * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1, nomad: true });
   * const host = cluster.addHost({ name: "n0", hypervisor: false });
   * await cluster.start();
   * await cluster.run(async () => {
   *   const ctx = await host.os.openDevice();
   *   const pd = await ctx.allocPd();
   *   await pd.regMr(host.os.memory.alloc(3 * 4096, 4096), 3 * 4096, Access.LOCAL_WRITE);
   *   const n = ctx.nomad!.deviceNeeds();
   *   assert.deepEqual([n.uar, n.pd, n.mr, n.cq, n.qp], [1, 1, 1, 0, 0]);
   *   assert.equal(n.mtt, 3); // the region's pages
   * });
   * ```
   */
  deviceNeeds(): NomadDeviceNeeds {
    const n: NomadDeviceNeeds = { uar: 0, pd: 0, mr: 0, cq: 0, qp: 0, mtt: 0 };
    if (!this.inner && !this.released) return n;
    const pages = (addr: number, len: number) =>
      len <= 0 ? 0 : Math.floor((addr + len - 1) / 4096) - Math.floor(addr / 4096) + 1;
    n.uar = 1;
    n.pd = this.#pds.size;
    n.mr = this.#mrs.size;
    n.cq = this.#cqs.size;
    n.qp = this.#qps.size;
    for (const m of this.#mrs.values()) n.mtt += pages(m.addr, m.length);
    for (const c of this.#cqs.values()) n.mtt += pages(c.req.bufAddr, c.req.bufBytes);
    for (const q of this.#qps.values()) n.mtt += pages(q.req.wq.bufAddr, q.req.wq.bufBytes);
    return n;
  }

  /** Why this context cannot move now, or undefined (the agent asks before a migration). */
  unmovable(): string | undefined {
    if (!this.inner) return `${this.deviceName}: the context is already moving`;
    if (this.#srqs.size > 0) return `${this.deviceName}: it has SRQs (not migrated by Nomad here)`;
    if (this.#ahs.size > 0) {
      return `${this.deviceName}: it has address handles (UD is not migrated)`;
    }
    for (const q of this.#qps.values()) {
      if (q.type !== QpType.RC) {
        return `${this.deviceName}: QP ${q.vqpn} is not RC (only RC connections are migrated)`;
      }
      if (q.state !== QpState.RESET && q.state !== QpState.RTS) {
        return `${this.deviceName}: QP ${q.vqpn} is in state ${q.state} (RESET or RTS can move)`;
      }
    }
    return undefined;
  }

  /** Register what the provider made for a new QP (`Pd.createQp`). */
  bindQp(handle: number, pqp: ProviderQp): void {
    const q = this.#qps.get(handle);
    if (!q) return;
    q.pqp = pqp;
    pqp.vqpn = q.vqpn;
  }

  /** Register what the provider made for a new CQ (`Context.createCq`). */
  bindCq(handle: number, pcq: ProviderCq): void {
    const c = this.#cqs.get(handle);
    if (c) c.pcq = pcq;
  }

  #handlers(): UverbsEventHandlers {
    return {
      onCompEvent: (h) => {
        const c = this.#pCq.get(h);
        if (c) this.#app.onCompEvent(c.v);
      },
      onAsyncEvent: (e: AsyncEvent) => {
        const ev: AsyncEvent = { type: e.type };
        if (e.qpHandle !== undefined) {
          const q = this.#pQp.get(e.qpHandle);
          if (!q) return;
          if (e.type === EventType.SQ_DRAINED && q.onDrained) {
            // The layer drained it; the application never asked for this event.
            const done = q.onDrained;
            q.onDrained = undefined;
            done();
            return;
          }
          ev.qpHandle = q.v;
        }
        if (e.cqHandle !== undefined) {
          const c = this.#pCq.get(e.cqHandle);
          if (!c) return;
          ev.cqHandle = c.v;
          if (e.type === EventType.CQ_ERR) c.overrun = true;
        }
        if (e.srqHandle !== undefined) {
          const s = this.#pSrq.get(e.srqHandle);
          if (!s) return;
          ev.srqHandle = s.v;
        }
        if (e.portNum !== undefined) ev.portNum = e.portNum;
        this.#app.onAsyncEvent(ev);
      },
    };
  }

  setEventHandlers(h: UverbsEventHandlers): void {
    this.#app = h;
  }

  /**
   * The context is being opened (`ibv_open_device` under way, its queries one system call with
   * the open): its calls do not wait for a suspend, which waits for them (`beginOpen`).
   */
  opening = true;

  /** The kernel file, once the context is back (control verbs wait while it moves). */
  async #file(): Promise<UverbsFile> {
    if (!this.opening) await this.#host.whenRunning();
    if (!this.inner) {
      throw new VerbsError("EIO", `${this.deviceName}: the context did not come back`);
    }
    return this.inner;
  }

  /**
   * Enter a control verb: the kernel file, and a hold the suspend waits out
   * ({@link idle}). A verb the application issued before the suspend began
   * finishes first, as a task is frozen for suspend only outside a system
   * call (Linux `try_to_freeze` at the syscall boundary): the records the
   * suspend reads are then those of the verb's outcome, not of its start.
   */
  async #call(): Promise<{ file: UverbsFile } & Disposable> {
    const file = await this.#file();
    this.#inCall++;
    return {
      file,
      [Symbol.dispose]: () => {
        if (--this.#inCall === 0) { for (const w of this.#idleWaiters.splice(0)) w(); }
      },
    };
  }

  /** Resolves when no control verb of the application is under way. */
  async idle(): Promise<void> {
    while (this.#inCall > 0) {
      const b = this.#host.engine.block<void>(`${this.deviceName}: control verb under way`);
      this.#idleWaiters.push(() => b.resolve());
      await b.promise;
    }
  }

  #get<T>(m: Map<number, T>, h: number, what: string): T {
    const r = m.get(h);
    if (!r) throw new VerbsError("EINVAL", `no ${what} with handle ${h} in this context`);
    return r;
  }

  /** `ibv_query_device` through the inner file. */
  async queryDevice(): Promise<DeviceAttr> {
    using _call = await this.#call();
    return await _call.file.queryDevice();
  }

  /** `ibv_query_port`, the LID the virtual one. */
  async queryPort(portNum: number): Promise<PortAttr> {
    using _call = await this.#call();
    const p = await _call.file.queryPort(portNum);
    return { ...p, lid: this.#host.virtualLid(portNum, p.lid) };
  }

  /** `ibv_query_gid`: the device's own (GIDs are not virtualized). */
  async queryGid(portNum: number, index: number): Promise<Uint8Array> {
    using _call = await this.#call();
    return await _call.file.queryGid(portNum, index);
  }

  /** `ibv_query_pkey`. */
  async queryPkey(portNum: number, index: number): Promise<number> {
    using _call = await this.#call();
    return await _call.file.queryPkey(portNum, index);
  }

  /** `ibv_alloc_pd`, recorded for a re-creation after a move. */
  async allocPd(): Promise<AllocPdResp> {
    using _call = await this.#call();
    const r = await _call.file.allocPd();
    const v = this.#next.pd++;
    this.#pds.set(v, { v, p: r.pdHandle });
    return { pdHandle: v, pdn: r.pdn };
  }

  async deallocPd(pdHandle: number): Promise<void> {
    using _call = await this.#call();
    const f = _call.file;
    const pd = this.#get(this.#pds, pdHandle, "PD");
    await f.deallocPd(pd.p);
    this.#pds.delete(pdHandle);
  }

  #keyTaken(k: number): boolean {
    for (const m of this.#mrs.values()) if (m.lkey === k || m.rkey === k) return true;
    return false;
  }

  /** `ibv_reg_mr`, with virtual keys. */
  async regMr(req: RegMrReq): Promise<RegMrResp> {
    using _call = await this.#call();
    const f = _call.file;
    const pd = this.#get(this.#pds, req.pdHandle, "PD");
    const phys = { ...req, pdHandle: pd.p };
    let r = await f.regMr(phys);
    // A moved MR keeps its old keys as virtual ones: a new one must not take them.
    for (let i = 0; this.#keyTaken(r.lkey) || this.#keyTaken(r.rkey); i++) {
      if (i === COLLISION_RETRIES) {
        await f.deregMr(r.mrHandle);
        throw new VerbsError("EAGAIN", `reg_mr: no key free of a moved region's after ${i} tries`);
      }
      const again = await f.regMr(phys);
      await f.deregMr(r.mrHandle);
      r = again;
    }
    const v = this.#next.mr++;
    this.#mrs.set(v, {
      v,
      p: r.mrHandle,
      pd,
      addr: req.addr,
      length: req.length,
      access: req.access,
      lkey: r.lkey,
      rkey: r.rkey,
      pLkey: r.lkey,
      pRkey: r.rkey,
    });
    return { mrHandle: v, lkey: r.lkey, rkey: r.rkey };
  }

  /** `ibv_dereg_mr` of a virtual handle. */
  async deregMr(mrHandle: number): Promise<void> {
    using _call = await this.#call();
    const f = _call.file;
    const m = this.#get(this.#mrs, mrHandle, "MR");
    await f.deregMr(m.p);
    this.#mrs.delete(mrHandle);
    this.xlate.lkeys.delete(m.lkey);
  }

  /** `ibv_create_cq`, recorded. */
  async createCq(req: CreateCqReq): Promise<CreateCqResp> {
    using _call = await this.#call();
    const r = await _call.file.createCq(req);
    const v = this.#next.cq++;
    const c: CqRec = { v, p: r.cqHandle, req: { ...req } };
    this.#cqs.set(v, c);
    this.#pCq.set(r.cqHandle, c);
    return { ...r, cqHandle: v };
  }

  /** `ibv_resize_cq`, recorded. */
  async resizeCq(req: ResizeCqReq): Promise<{ cqe: number }> {
    using _call = await this.#call();
    const f = _call.file;
    const c = this.#get(this.#cqs, req.cqHandle, "CQ");
    const r = await f.resizeCq({ ...req, cqHandle: c.p });
    c.req = {
      ...c.req,
      cqe: req.cqe,
      logSize: req.logSize,
      bufAddr: req.bufAddr,
      bufBytes: req.bufBytes,
    };
    return r;
  }

  async destroyCq(cqHandle: number): Promise<void> {
    using _call = await this.#call();
    const f = _call.file;
    const c = this.#get(this.#cqs, cqHandle, "CQ");
    await f.destroyCq(c.p);
    this.#cqs.delete(cqHandle);
    this.#pCq.delete(c.p);
  }

  /** `ibv_create_qp`, with a virtual QP number. */
  async createQp(req: CreateQpReq): Promise<CreateQpResp> {
    using _call = await this.#call();
    const f = _call.file;
    const pd = this.#get(this.#pds, req.pdHandle, "PD");
    const sendCq = this.#get(this.#cqs, req.sendCqHandle, "CQ");
    const recvCq = this.#get(this.#cqs, req.recvCqHandle, "CQ");
    const srq = req.srqHandle === undefined
      ? undefined
      : this.#get(this.#srqs, req.srqHandle, "SRQ");
    const phys: CreateQpReq = {
      ...req,
      pdHandle: pd.p,
      sendCqHandle: sendCq.p,
      recvCqHandle: recvCq.p,
      srqHandle: srq?.p,
    };
    let r = await f.createQp(phys);
    // A moved QP keeps its old number as its virtual one: a new QP must not take it.
    for (let i = 0; this.#host.vqpnTaken(r.qpn); i++) {
      if (i === COLLISION_RETRIES) {
        await f.destroyQp(r.qpHandle);
        throw new VerbsError("EAGAIN", `create_qp: no QPN free of a moved QP's after ${i} tries`);
      }
      const again = await f.createQp(phys);
      await f.destroyQp(r.qpHandle);
      r = again;
    }
    const v = this.#next.qp++;
    const q: QpRec = {
      v,
      p: r.qpHandle,
      req: { ...req, cap: { ...req.cap }, wq: { ...req.wq } },
      pd,
      sendCq,
      recvCq,
      srq,
      type: req.type,
      vqpn: r.qpn,
      pqpn: r.qpn,
      state: QpState.RESET,
      port: 1,
    };
    this.#qps.set(v, q);
    this.#pQp.set(r.qpHandle, q);
    this.#host.bound(this, q);
    return { ...r, qpHandle: v };
  }

  async modifyQp(req: ModifyQpReq): Promise<void> {
    using _call = await this.#call();
    const f = _call.file;
    const q = this.#get(this.#qps, req.qpHandle, "QP");
    const attr: QpAttr = { ...req.attr };
    let remoteP: NomadAddr | undefined;
    let keys: [number, number][] | undefined;
    const connects = (req.mask & QpAttrMask.AV) !== 0 && (req.mask & QpAttrMask.DEST_QPN) !== 0 &&
      attr.ah !== undefined && attr.destQpNum !== undefined && q.type !== QpType.UD;
    if (connects) {
      // The application names the peer as it knows it; the device needs where it is now.
      const want = { lid: attr.ah!.dlid, qpn: attr.destQpNum! };
      const moved = await this.#host.resolveRemote(want);
      remoteP = moved?.addr ?? want;
      keys = moved?.keys;
      attr.ah = { ...attr.ah!, dlid: remoteP.lid };
      attr.destQpNum = remoteP.qpn;
    }
    await f.modifyQp({ qpHandle: q.p, attr, mask: req.mask });
    this.#record(q, req.attr, req.mask, remoteP, keys);
  }

  #record(
    q: QpRec,
    attr: QpAttr,
    mask: number,
    remoteP: NomadAddr | undefined,
    keys: [number, number][] | undefined,
  ): void {
    const state = (mask & QpAttrMask.STATE) !== 0 ? attr.state! : q.state;
    const given = { ...attr };
    delete given.curState;
    if (state === QpState.RESET) {
      q.init =
        q.rtr =
        q.rts =
        q.remoteV =
        q.remoteP =
        q.peer =
          undefined;
      if (q.pqp) q.pqp.remoteV = q.pqp.remoteKeys = undefined;
    } else if (state === QpState.INIT) {
      q.init = { ...q.init, ...given };
      if (attr.port !== undefined && attr.port !== q.port) {
        q.port = attr.port;
        this.#host.bound(this, q);
      }
    } else if (state === QpState.RTR) {
      q.rtr = { ...q.rtr, ...given };
      if (remoteP) {
        q.remoteV = { lid: attr.ah!.dlid, qpn: attr.destQpNum! };
        q.remoteP = remoteP;
        q.peer = this.#host.holderOf?.(remoteP);
        if (q.pqp) {
          q.pqp.remoteV = q.remoteV;
          q.pqp.remoteKeys = keys && keys.length > 0 ? new Map(keys) : undefined;
        }
      }
    } else if (state === QpState.RTS) {
      q.rts = { ...q.rts, ...given };
    }
    q.state = state;
  }

  /** `ibv_query_qp`, in virtual numbers. */
  async queryQp(qpHandle: number): Promise<QueryQpResp> {
    using _call = await this.#call();
    const f = _call.file;
    const q = this.#get(this.#qps, qpHandle, "QP");
    const r = await f.queryQp(q.p);
    let attr = { ...r.attr };
    const st = attr.state;
    if (
      q.pqp?.gate !== undefined && q.state === QpState.RTS &&
      (st === QpState.SQD || st === QpState.RESET || st === QpState.INIT || st === QpState.RTR)
    ) {
      // The layer holds the connection for a move (its peer's or its own) and has its device QP
      // in a state of the handshake (drained, reset, or on its way back to RTS): to the
      // application the QP is as it left it, RTS with the attributes it gave. Without this a
      // staying peer's ibv_query_qp saw RESET, and its provider, which takes the state from the
      // answer, refused the next post (EINVAL, "not ready to send") instead of holding it.
      attr = { ...attr, ...q.init, ...q.rtr, ...q.rts, state: q.state };
    }
    if (q.remoteV && attr.destQpNum !== undefined) attr.destQpNum = q.remoteV.qpn;
    if (q.remoteV && attr.ah) attr.ah = { ...attr.ah, dlid: q.remoteV.lid };
    return { attr, cap: r.cap };
  }

  /** `ibv_destroy_qp` of a virtual handle. */
  async destroyQp(qpHandle: number): Promise<void> {
    using _call = await this.#call();
    const f = _call.file;
    const q = this.#get(this.#qps, qpHandle, "QP");
    await f.destroyQp(q.p);
    this.#qps.delete(qpHandle);
    this.#pQp.delete(q.p);
    this.#host.unbound(this, q, true);
  }

  /** `ibv_create_srq`, recorded. */
  async createSrq(req: CreateSrqReq): Promise<CreateSrqResp> {
    using _call = await this.#call();
    const f = _call.file;
    const pd = this.#get(this.#pds, req.pdHandle, "PD");
    const r = await f.createSrq({ ...req, pdHandle: pd.p });
    const v = this.#next.srq++;
    const s: SrqRec = { v, p: r.srqHandle, pd };
    this.#srqs.set(v, s);
    this.#pSrq.set(r.srqHandle, s);
    return { ...r, srqHandle: v };
  }

  /** `ibv_modify_srq`, recorded. */
  async modifySrq(req: ModifySrqReq): Promise<void> {
    using _call = await this.#call();
    const f = _call.file;
    const s = this.#get(this.#srqs, req.srqHandle, "SRQ");
    await f.modifySrq({ ...req, srqHandle: s.p });
  }

  async querySrq(srqHandle: number): Promise<QuerySrqResp> {
    using _call = await this.#call();
    const f = _call.file;
    const s = this.#get(this.#srqs, srqHandle, "SRQ");
    return await f.querySrq(s.p);
  }

  async destroySrq(srqHandle: number): Promise<void> {
    using _call = await this.#call();
    const f = _call.file;
    const s = this.#get(this.#srqs, srqHandle, "SRQ");
    await f.destroySrq(s.p);
    this.#srqs.delete(srqHandle);
    this.#pSrq.delete(s.p);
  }

  /** `ibv_create_ah`, toward a virtual LID. */
  async createAh(req: { pdHandle: number; attr: AhAttr }): Promise<CreateAhResp> {
    using _call = await this.#call();
    const f = _call.file;
    const pd = this.#get(this.#pds, req.pdHandle, "PD");
    const r = await f.createAh({ pdHandle: pd.p, attr: req.attr });
    const v = this.#next.ah++;
    this.#ahs.set(v, { v, p: r.ahHandle });
    return { ahHandle: v };
  }

  /** `ibv_destroy_ah` of a virtual handle. */
  async destroyAh(ahHandle: number): Promise<void> {
    using _call = await this.#call();
    const f = _call.file;
    const a = this.#get(this.#ahs, ahHandle, "AH");
    await f.destroyAh(a.p);
    this.#ahs.delete(ahHandle);
  }

  async attachMcast(req: McastReq): Promise<void> {
    using _call = await this.#call();
    const f = _call.file;
    const q = this.#get(this.#qps, req.qpHandle, "QP");
    await f.attachMcast({ ...req, qpHandle: q.p });
  }

  async detachMcast(req: McastReq): Promise<void> {
    using _call = await this.#call();
    const f = _call.file;
    const q = this.#get(this.#qps, req.qpHandle, "QP");
    await f.detachMcast({ ...req, qpHandle: q.p });
  }

  async close(): Promise<void> {
    using _call = await this.#call();
    const f = _call.file;
    await f.close();
    for (const q of this.#qps.values()) this.#host.unbound(this, q, true);
    this.#qps.clear();
    this.#pQp.clear();
    this.#cqs.clear();
    this.#pCq.clear();
    this.#mrs.clear();
    this.#pds.clear();
    this.#srqs.clear();
    this.#ahs.clear();
    this.xlate.lkeys.clear();
    this.inner = undefined;
  }

  // ---- what the agent does with the device QP of a connection ----

  /**
   * Drain the send queue of `q` (RTS → SQD, wait for SQ_DRAINED: every
   * message it sent was acknowledged, IBTA §10.3.1) and read its PSNs now.
   *
   * Once `peerGone()` says the peer's QP is gone, no acknowledgement will
   * come: the sends still out are retried until the retry count runs out,
   * and the QP goes to the Error state (IBTA §9.7.5.1.3, Transport Retry
   * Counter Exceeded). The drain then ends there (`error`), looked for once
   * per local ACK timeout. A QP that is already in the Error state (its
   * device state, which a completion error changes without the
   * application's modify) ends at once. With an infinite ACK timeout
   * (`timeout` 0) those sends never end, as on the device, and neither does
   * the drain.
   *
   * @internal
   */
  async drainQp(
    q: QpRec,
    peerGone: () => boolean = () => false,
  ): Promise<{ sqPsn: number; rqPsn: number; sqWqeCounter: number | undefined; error: boolean }> {
    const f = this.inner!;
    let drained = false;
    let wake: (() => void) | undefined;
    q.onDrained = () => {
      drained = true;
      wake?.();
    };
    const read = async (error: boolean) => {
      q.onDrained = q.wakeDrain = undefined;
      const r = await f.queryQp(q.p);
      return {
        sqPsn: r.attr.sqPsn ?? 0,
        rqPsn: r.attr.rqPsn ?? 0,
        sqWqeCounter: r.sqWqeCounter,
        error,
      };
    };
    try {
      await f.modifyQp({
        qpHandle: q.p,
        attr: { state: QpState.SQD, enSqdAsyncNotify: true },
        mask: QpAttrMask.STATE | QpAttrMask.EN_SQD_ASYNC_NOTIFY,
      });
    } catch (e) {
      // RTS → SQD is refused from the Error state (IBTA §10.3.1's transitions).
      if ((await f.queryQp(q.p)).attr.state === QpState.ERR) return await read(true);
      throw e;
    }
    const engine = this.#host.engine;
    const ackTimeoutNs = 4096 * 2 ** (q.rts?.timeout ?? 0);
    // A QP that fails while it drains (a NAK, its retries or RNR retries running out) goes from
    // SQD to the Error state, where no SQ_DRAINED ever comes (IBTA §10.3.1: only SQD's drain
    // reports it; §11.6.3's SQ drained event) and the failure reaches only its CQ. So the wait
    // looks at the QP's state once per local ACK timeout (4.096 µs × 2^timeout, C9-140), the
    // rhythm its own retries keep; a QP whose timeout is 0 (infinite) still fails on a NAK, so
    // it looks at the rdma_cm default's rhythm (2^14: about 67 ms). A drain that ends sooner,
    // as nearly all do, never looks.
    const lookNs = 4096 * 2 ** (q.rts?.timeout || 14);
    while (!drained) {
      if (peerGone() && (q.rts?.timeout ?? 0) > 0) {
        if ((await f.queryQp(q.p)).attr.state === QpState.ERR) return await read(true);
        if (!drained) await engine.sleep(ackTimeoutNs);
        continue;
      }
      const b = engine.block<void>(`QP ${q.vqpn} SQ drain (migration)`);
      let looked = false;
      wake = q.wakeDrain = () => b.resolve();
      const look = engine.schedule(lookNs, () => {
        looked = true;
        b.resolve();
      });
      await b.promise;
      engine.cancel(look);
      wake = undefined;
      if (this.#qps.get(q.v) !== q) {
        throw new VerbsError("ECONNRESET", `nomad: QP ${q.vqpn} was destroyed during its drain`);
      }
      if (looked && !drained && (await f.queryQp(q.p)).attr.state === QpState.ERR) {
        return await read(true);
      }
    }
    return await read(false);
  }

  /**
   * Put the device QP of `q`, in RESET, in the Error state: it was there when
   * its connection was suspended, and a move must not revive it. Receives
   * and sends posted to it from here on complete in error (flushed).
   *
   * @internal
   */
  async toError(q: QpRec): Promise<void> {
    // RESET goes only to INIT (IBTA §10.3.1; Linux's qp_state_table), and INIT to Error.
    const f = this.inner!;
    const attr: QpAttr = { ...q.init, state: QpState.INIT };
    await f.modifyQp({ qpHandle: q.p, attr, mask: attrMask(attr as Record<string, unknown>).mask });
    await f.modifyQp({ qpHandle: q.p, attr: { state: QpState.ERR }, mask: QpAttrMask.STATE });
  }

  /**
   * Put the device QP of `q` in RESET (its peer moved; it will be connected again).
   *
   * @internal
   */
  async resetQp(q: QpRec): Promise<void> {
    await this.inner!.modifyQp({
      qpHandle: q.p,
      attr: { state: QpState.RESET },
      mask: QpAttrMask.STATE,
    });
    q.pqp?.reset();
  }

  /**
   * Take the device QP of `q` from RESET through INIT to RTR toward the
   * peer at `peer` (which sends from `peerSqPsn`), with the attributes the
   * application gave; `peerKeys` are the peer's moved remote keys.
   * `afterInit` runs in INIT (receives are posted there, before the peer
   * can send).
   *
   * @internal
   */
  async reconnectToRtr(
    q: QpRec,
    peer: NomadAddr,
    peerSqPsn: number,
    peerKeys: [number, number][],
    afterInit: () => void,
  ): Promise<void> {
    const f = this.inner!;
    const step = async (attr: QpAttr) => {
      const { mask } = attrMask(attr as Record<string, unknown>);
      await f.modifyQp({ qpHandle: q.p, attr, mask });
    };
    await step({ ...q.init, state: QpState.INIT });
    afterInit();
    await step({
      ...q.rtr,
      state: QpState.RTR,
      ah: { ...q.rtr!.ah!, dlid: peer.lid },
      destQpNum: peer.qpn,
      rqPsn: peerSqPsn,
    });
    q.remoteP = { ...peer };
    if (q.pqp) q.pqp.remoteKeys = peerKeys.length > 0 ? new Map(peerKeys) : undefined;
  }

  /**
   * RTR → RTS, sending from `sqPsn` (where the drained QP had stopped).
   *
   * @internal
   */
  async reconnectToRts(q: QpRec, sqPsn: number): Promise<void> {
    const attr: QpAttr = { ...q.rts, state: QpState.RTS, sqPsn };
    const { mask } = attrMask(attr as Record<string, unknown>);
    await this.inner!.modifyQp({ qpHandle: q.p, attr, mask });
  }

  /**
   * The device keys of a receive WR read back from a ring, as the
   * application's (virtual) keys: what posting it again anywhere needs.
   */
  virtualLkey(pLkey: number): number {
    for (const m of this.#mrs.values()) if (m.pLkey === pLkey) return m.lkey;
    return pLkey;
  }

  /**
   * Give the context's device resources back (the context is moving): one
   * close of the kernel file releases every QP, CQ, MR, PD and the UAR.
   * The records stay for {@link reopen}.
   */
  async release(): Promise<void> {
    const f = this.inner;
    if (!f) return;
    for (const q of this.#qps.values()) this.#host.unbound(this, q);
    this.#last = {
      deviceName: f.deviceName,
      uarIndex: f.uarIndex,
      uarAddr: f.uarAddr,
      numCompVectors: f.numCompVectors,
    };
    this.inner = undefined;
    this.released = true;
    await f.close();
  }

  /**
   * Make every object again on `inner` (the device of the host the domain
   * now runs on): PDs, MRs (new physical keys), CQs over their zeroed rings,
   * QPs in RESET over their queue buffers; the provider follows (its UAR
   * page or ring, CQ and QP numbers, lkey translation). Ports are asked
   * again for their LIDs.
   */
  async reopen(inner: UverbsFile): Promise<void> {
    inner.setEventHandlers(this.#handlers());
    this.#pCq.clear();
    this.#pQp.clear();
    this.#pSrq.clear();
    const dev = await inner.queryDevice();
    for (let port = 1; port <= dev.physPortCnt; port++) {
      const p = await inner.queryPort(port);
      this.#host.virtualLid(port, p.lid);
    }
    for (const pd of this.#pds.values()) pd.p = (await inner.allocPd()).pdHandle;
    this.xlate.lkeys.clear();
    for (const m of this.#mrs.values()) {
      const r = await inner.regMr({
        pdHandle: m.pd.p,
        addr: m.addr,
        length: m.length,
        access: m.access,
      });
      m.p = r.mrHandle;
      m.pLkey = r.lkey;
      m.pRkey = r.rkey;
      if (m.lkey !== m.pLkey) this.xlate.lkeys.set(m.lkey, m.pLkey);
    }
    for (const c of this.#cqs.values()) {
      // A fresh CQ over the old ring: entries left there must not look valid (owner bits).
      this.provider?.env.memory.write(c.req.bufAddr, new Uint8Array(c.req.bufBytes));
      const r = await inner.createCq(c.req);
      c.p = r.cqHandle;
      this.#pCq.set(c.p, c);
      c.pcq?.rebind(r.cqn);
      // An overrun CQ is in error for good (ibv_get_async_event(3): IBV_EVENT_CQ_ERR, "CQ is in
      // error (CQ overrun)"; the source's device adds no completion to it, not even the flushes
      // of the QPs it put in error). The new CQ is not: without this the moved QP's flushed
      // receives appeared in it, completions the application would never have seen.
      if (c.overrun && c.pcq) c.pcq.inError = true;
    }
    for (const q of this.#qps.values()) {
      const r = await inner.createQp({
        ...q.req,
        pdHandle: q.pd.p,
        sendCqHandle: q.sendCq.p,
        recvCqHandle: q.recvCq.p,
        srqHandle: undefined,
      });
      q.p = r.qpHandle;
      q.pqpn = r.qpn;
      this.#pQp.set(q.p, q);
      q.pqp?.rebind(r.qpn);
    }
    this.inner = inner;
    this.released = false;
    this.provider?.rekeyQps();
    this.provider?.rebind(inner);
    for (const q of this.#qps.values()) this.#host.bound(this, q);
  }
}
