/**
 * `Context` (`struct ibv_context`): an open device in one domain — the
 * kernel file for control operations, the UAR page and the user-level
 * provider for the fast path, the cached device and port attributes, and
 * the routing of events from the kernel to CQs, completion channels and
 * async-event listeners.
 *
 * Control verbs first pay the calling thread's CPU debt (see `ThreadCpu`),
 * then make one kernel call.
 *
 * @module
 */
import type { Engine } from "../../sim/engine.ts";
import type { Prng } from "../../sim/prng.ts";
import type { Profile } from "../../sim/profiles/mod.ts";
import { CompChannel } from "./comp_channel.ts";
import { Cq } from "./cq.ts";
import { EventType, PortState } from "../uapi/enums.ts";
import { VerbsError } from "../uapi/errors.ts";
import { Pd } from "./pd.ts";
import { Provider, type ProviderEnv, type ProviderMemory, type ThreadCpu } from "./provider.ts";
import type { NomadFile } from "./nomad_file.ts";
import type { Qp } from "./qp.ts";
import type { Srq } from "./srq.ts";
import type { AhAttr, AsyncEvent, DeviceAttr, PortAttr, WorkCompletion } from "../uapi/types.ts";
import { ahAttrFromWc, GidType } from "../uapi/ah_from_wc.ts";
import type { UverbsFile } from "../uapi/uverbs.ts";
import { cqLayout } from "../uapi/wq_layout.ts";

/**
 * What the verbs library needs from the domain it runs in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import type { VerbsEnv } from "./context.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * const env: VerbsEnv = host.os.verbsEnv(); // what openDevice builds its context on
 * assert.equal(env.engine, cluster.engine);
 * assert.equal(env.memory, host.os.space);
 * ```
 */
export interface VerbsEnv {
  /** The engine the domain runs on. */
  engine: Engine;
  /** The cost profile the library charges. */
  profile: Profile;
  /** The calling thread's CPU account. */
  cpu: ThreadCpu;
  /** The domain's memory, with an allocator for queue buffers. */
  memory: ProviderMemory & {
    alloc(bytes: number, align?: number): number;
    free(addr: number): void;
  };
  /** Block until a write touches one of these machine frames (see `memory_watch.ts`). */
  waitWrite?: ProviderEnv["waitWrite"];
  /** Wake the waiters on these frames as a write would. */
  wakeWrite?: ProviderEnv["wakeWrite"];
  /**
   * The domain's seeded random stream, what a program's `lrand48()` would
   * be: each QP's initial PSN is drawn from it (`Qp.initialPsn`). Without
   * it, PSNs start at 0.
   */
  rng?: Prng;
}

/**
 * An async event as the application sees it (`struct ibv_async_event`):
 * the object it concerns, resolved from the kernel's handle.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, EventType, QpState, QpType } from "../../mod.ts";
 * import type { VerbsAsyncEvent } from "./context.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   const pd = await ctx.allocPd();
 *   const srq = await pd.createSrq({ maxWr: 4, maxSge: 1 });
 *   const cq = await ctx.createCq(4);
 *   const cap = { maxSendWr: 1, maxRecvWr: 0, maxSendSge: 1, maxRecvSge: 1 };
 *   const qp = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, srq, cap });
 *   await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
 *   await qp.modify({ state: QpState.ERR }); // a QP on an SRQ in error: its last WQE is done
 *   const e: VerbsAsyncEvent = await ctx.getAsyncEvent();
 *   ctx.ackAsyncEvent(e); // before the QP's destroy, which would wait for it
 *   assert.equal(e.type, EventType.QP_LAST_WQE_REACHED);
 *   assert.equal(e.qp, qp); // the kernel's handle, resolved to the object
 * });
 * ```
 */
export interface VerbsAsyncEvent {
  /** `EventType`. */
  type: number;
  /** The QP it concerns (QP events). */
  qp?: Qp;
  /** The CQ it concerns (CQ events). */
  cq?: Cq;
  /** The SRQ it concerns (SRQ events). */
  srq?: Srq;
  /** The port it concerns (port events). */
  portNum?: number;
}

/**
 * An open device.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, PortState } from "../../mod.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   assert.equal(ctx.deviceName, "mthca0");
 *   assert.equal(ctx.queryPort(1).state, PortState.ACTIVE);
 *   await ctx.close();
 *   await assert.rejects(ctx.allocPd(), /EBADF/);
 * });
 * ```
 */
export class Context {
  /** The kernel side. */
  readonly file: UverbsFile;
  /** The fast path. */
  readonly provider: Provider;
  /** The domain's facilities. */
  readonly env: VerbsEnv;
  #device: DeviceAttr;
  #ports: PortAttr[];
  #closed = false;
  /** @internal objects by kernel handle, for event routing */
  readonly cqs = new Map<number, Cq>();
  /** @internal */
  readonly qps = new Map<number, Qp>();
  /** @internal */
  readonly srqs = new Map<number, Srq>();
  #asyncQueue: VerbsAsyncEvent[] = [];
  #asyncWaiters: ((e: VerbsAsyncEvent) => void)[] = [];
  #asyncListeners = new Set<(e: VerbsAsyncEvent) => void>();
  /** Nomad's namespace virtualization of this context, when the library runs it. */
  nomad: NomadFile | undefined;

  private constructor(
    file: UverbsFile,
    env: VerbsEnv,
    device: DeviceAttr,
    ports: PortAttr[],
    createProvider: (env: ProviderEnv) => Provider,
  ) {
    this.file = file;
    this.env = env;
    this.#device = device;
    this.#ports = ports;
    const penv = {
      engine: env.engine,
      profile: env.profile,
      memory: env.memory,
      uarAddr: file.uarAddr,
      cpu: env.cpu,
      waitWrite: env.waitWrite,
      wakeWrite: env.wakeWrite,
    };
    this.provider = createProvider(penv);
    file.setEventHandlers({
      onCompEvent: (h) => this.cqs.get(h)?.deliverEvent(),
      onAsyncEvent: (e) => this.#onAsync(e),
    });
  }

  /**
   * Build a context on an opened kernel file: query the device and its
   * ports once (`queryDevice`/`queryPort` are then answered from the cache,
   * which port events refresh), then the fast path with `createProvider`
   * (the device's provider, see `providers.ts`; the built-in one if absent).
   */
  static async open(
    file: UverbsFile,
    env: VerbsEnv,
    createProvider: (env: ProviderEnv) => Provider = (penv) => new Provider(penv),
  ): Promise<Context> {
    await env.cpu.settle();
    const device = await file.queryDevice();
    const ports: PortAttr[] = [];
    for (let p = 1; p <= device.physPortCnt; p++) ports.push(await file.queryPort(p));
    return new Context(file, env, device, ports, createProvider);
  }

  /** Device name (`"mthca0"`). */
  get deviceName(): string {
    return this.file.deviceName;
  }

  /**
   * `ibv_context.num_comp_vectors`: how many completion vectors a CQ may
   * name (`createCq`'s `compVector` is below it).
   */
  get numCompVectors(): number {
    return this.file.numCompVectors;
  }

  /** `ibv_query_device`: the device's attributes (EBADF once the context is closed). */
  queryDevice(): DeviceAttr {
    this.#live();
    return { ...this.#device };
  }

  /**
   * `ibv_query_port`: the port's attributes (as of the last port event;
   * EBADF once the context is closed).
   */
  queryPort(portNum: number): PortAttr {
    this.#live();
    const p = Number.isInteger(portNum) ? this.#ports[portNum - 1] : undefined;
    if (!p) {
      throw new VerbsError(
        "EINVAL",
        `query_port: no port ${String(portNum).slice(0, 24)} (1..${this.#ports.length})`,
      );
    }
    return { ...p };
  }

  /**
   * `ibv_query_gid`: entry `index` of port `portNum`'s GID table, 16 bytes in
   * network order (one kernel call; in a guest a `QUERY_GID` request to dom0).
   * The model's ports have one GID, the port GUID under the subnet prefix:
   * EINVAL for an index from `queryPort(portNum).gidTblLen` on, as the
   * kernel's GID cache refuses it, and for a port the device lacks.
   */
  async queryGid(portNum: number, index: number): Promise<Uint8Array> {
    this.#live();
    checkTableArgs("query_gid", portNum, index);
    await this.enter();
    return await this.file.queryGid(portNum, index);
  }

  /**
   * `ibv_query_pkey`: entry `index` of port `portNum`'s P_Key table (one
   * kernel call; in a guest a `QUERY_PKEY` request to dom0): 0xFFFF, the
   * default partition, at index 0 and 0 (empty) elsewhere, as the subnet
   * manager leaves it. EINVAL for an index from `queryPort(portNum).pkeyTblLen`
   * on and for a port the device lacks.
   */
  async queryPkey(portNum: number, index: number): Promise<number> {
    this.#live();
    checkTableArgs("query_pkey", portNum, index);
    await this.enter();
    return await this.file.queryPkey(portNum, index);
  }

  /**
   * `ibv_init_ah_from_wc`: the address vector that answers the datagram `wc`
   * completed, for port `portNum`, with `grh` the 40 bytes at the head of its
   * receive buffer (needed when `wc.wcFlags` has `WcFlags.GRH`). The rules
   * are rdma-core's (`drivers/uapi/ah_from_wc.ts`); the source GID index is
   * found as ibv_find_gid_index finds it, one `queryGid` per entry from 0
   * (each a kernel call; in a guest a request to dom0). The model's ports
   * are InfiniBand, so a RoCE v2 header (UDP next header, IPv4) finds no
   * GID of its type: EINVAL, as the query past the table's end is.
   */
  async initAhFromWc(portNum: number, wc: WorkCompletion, grh?: Uint8Array): Promise<AhAttr> {
    this.#live();
    const call = "init_ah_from_wc";
    checkTableArgs(call, portNum, 0);
    return await ahAttrFromWc(wc, grh, portNum, async (gid, type) => {
      for (let i = 0;; i++) {
        let entry: Uint8Array;
        try {
          entry = await this.queryGid(portNum, i);
        } catch (e) {
          if (!(e instanceof VerbsError) || e.code !== "EINVAL") throw e;
          const kind = type === GidType.ROCE_V2 ? "RoCE v2" : "IB/RoCE v1";
          throw new VerbsError(
            "EINVAL",
            `${call}: the datagram's destination GID ${
              gidText(gid)
            } (${kind}) is not in port ${portNum}'s GID table`,
          );
        }
        // Every entry of an InfiniBand port is of type IB/RoCE v1 (ibv_query_gid_type).
        if (type === GidType.IB_ROCE_V1 && entry.every((b, j) => b === gid[j])) return i;
      }
    });
  }

  /** Re-read a port's attributes from the device (one kernel call). */
  async refreshPort(portNum: number): Promise<PortAttr> {
    this.#live();
    await this.env.cpu.settle();
    const p = await this.file.queryPort(portNum);
    this.#ports[portNum - 1] = p;
    return { ...p };
  }

  #live(): void {
    if (this.#closed) throw new VerbsError("EBADF", `${this.deviceName}: context is closed`);
  }

  /** @internal pay the thread's CPU debt before a kernel call */
  async enter(): Promise<void> {
    this.#live();
    await this.env.cpu.settle();
  }

  /** @internal allocate a zeroed, page-aligned buffer in the domain's memory */
  allocBuffer(bytes: number): number {
    const addr = this.env.memory.alloc(bytes, 4096);
    // A reused allocation may hold an old ring: a stale owner bit must not look valid.
    this.env.memory.write(addr, new Uint8Array(bytes));
    return addr;
  }

  /** `ibv_alloc_pd`. */
  async allocPd(): Promise<Pd> {
    await this.enter();
    const r = await this.file.allocPd();
    return new Pd(this, r.pdHandle, r.pdn);
  }

  /** `ibv_create_comp_channel`. */
  createCompChannel(): CompChannel {
    this.#live();
    return new CompChannel(this);
  }

  /**
   * `ibv_create_cq`: at least `cqe` entries; completion events go to
   * `opts.channel`.
   */
  async createCq(
    cqe: number,
    opts: { channel?: CompChannel; compVector?: number } = {},
  ): Promise<Cq> {
    await this.enter();
    if (!Number.isInteger(cqe) || cqe < 1 || cqe > this.#device.maxCqe) {
      throw new VerbsError("EINVAL", `create_cq: cqe ${cqe} outside 1..${this.#device.maxCqe}`);
    }
    // `null` (a C caller's NULL channel) is no options; anything else that is no object is wrong.
    opts ??= {};
    if (typeof opts !== "object") {
      throw new VerbsError("EINVAL", "create_cq: opts must be { channel?, compVector? }");
    }
    if (opts.channel != null && !(opts.channel instanceof CompChannel)) {
      throw new VerbsError("EINVAL", "create_cq: channel is not a completion channel");
    }
    if (opts.channel && opts.channel.context !== this) {
      throw new VerbsError("EINVAL", "create_cq: the channel belongs to another context");
    }
    if (opts.channel?.destroyed) {
      throw new VerbsError("EINVAL", "create_cq: the completion channel was destroyed");
    }
    const l = cqLayout(cqe);
    const addr = this.allocBuffer(l.bytes);
    let r;
    try {
      r = await this.file.createCq({
        cqe,
        logSize: l.logSize,
        bufAddr: addr,
        bufBytes: l.bytes,
        compVector: opts.compVector ?? 0,
      });
    } catch (e) {
      this.env.memory.free(addr);
      throw e;
    }
    const pcq = this.provider.addCq({ cqn: r.cqn, addr, logSize: l.logSize });
    this.nomad?.bindCq(r.cqHandle, pcq);
    const cq = new Cq(this, r.cqHandle, pcq, r.cqe, addr, opts.channel);
    this.cqs.set(r.cqHandle, cq);
    return cq;
  }

  #onAsync(e: AsyncEvent): void {
    const ev: VerbsAsyncEvent = { type: e.type };
    if (e.qpHandle !== undefined) ev.qp = this.qps.get(e.qpHandle);
    if (e.cqHandle !== undefined) ev.cq = this.cqs.get(e.cqHandle);
    if (e.srqHandle !== undefined) ev.srq = this.srqs.get(e.srqHandle);
    // An affiliated event of an object destroyed before the event came is nobody's: the kernel
    // has no uobject to queue it on, and ibv_get_async_event(3) promises that no application
    // retrieves an affiliated event after the object is destroyed.
    if (
      (e.qpHandle !== undefined && !ev.qp) || (e.cqHandle !== undefined && !ev.cq) ||
      (e.srqHandle !== undefined && !ev.srq)
    ) return;
    // IBTA §10.2.9.3: the limit disarms when it fires.
    if (e.type === EventType.SRQ_LIMIT_REACHED && ev.srq) ev.srq.limitFired();
    if (e.portNum !== undefined) {
      ev.portNum = e.portNum;
      const p = this.#ports[e.portNum - 1];
      // Only a state event moves the state: PKEY_CHANGE (and the other port events) leave it.
      if (p && e.type === EventType.PORT_ACTIVE) p.state = PortState.ACTIVE;
      else if (p && e.type === EventType.PORT_ERR) p.state = PortState.DOWN;
    }
    // The listeners are the program's code, run where the device's event arrives (in a guest,
    // the frontend's upcall on the engine): one that throws must neither stop the others, nor
    // the event's queueing for getAsyncEvent, nor the simulation of every other domain.
    for (const l of this.#asyncListeners) {
      try {
        l(ev);
      } catch (err) {
        if (this.listenerErrors.push(err) > 16) this.listenerErrors.shift();
      }
    }
    const w = this.#asyncWaiters.shift();
    if (w) w(ev);
    else this.#asyncQueue.push(ev);
  }

  /**
   * What {@link onAsyncEvent} listeners threw, oldest first (at most the last 16): a listener
   * that throws stops neither the other listeners nor the event's delivery.
   */
  readonly listenerErrors: unknown[] = [];

  /** Call `listener` for every async event (returns a function that stops it). */
  onAsyncEvent(listener: (e: VerbsAsyncEvent) => void): () => void {
    if (typeof listener !== "function") {
      throw new VerbsError(
        "EINVAL",
        `onAsyncEvent: the listener must be a function, got ${typeof listener}`,
      );
    }
    this.#asyncListeners.add(listener);
    return () => this.#asyncListeners.delete(listener);
  }

  /**
   * `ibv_get_async_event`: the next async event, waiting in virtual time if
   * none is queued. Every event it returns must be acknowledged with
   * {@link ackAsyncEvent}: destroying its QP, CQ or SRQ waits for that.
   */
  async getAsyncEvent(): Promise<VerbsAsyncEvent> {
    await this.enter();
    const c = this.env.profile.cpu;
    const q = this.#asyncQueue.shift();
    if (q) {
      this.#reported(q);
      await this.env.engine.sleep(c.syscallNs);
      return q;
    }
    const b = this.env.engine.block<VerbsAsyncEvent>(`${this.deviceName} async event`);
    this.#asyncWaiters.push((e) => {
      this.#reported(e);
      this.env.engine.schedule(c.wakeupNs, () => b.resolve(e));
    });
    return await b.promise;
  }

  /**
   * The event is handed to a reader: the kernel counts it as reported to the
   * application for its object (uverbs_main.c, ib_uverbs_event_read
   * increments the uobject's `events_reported` as it takes the event off the
   * list; for a sleeping reader that is before its wakeup).
   */
  #reported(e: VerbsAsyncEvent): void {
    this.#unacked.add(e);
    const obj = e.qp ?? e.cq ?? e.srq;
    if (obj) obj.asyncAcks.reported++;
  }

  #unacked = new Set<VerbsAsyncEvent>();

  /**
   * `ibv_ack_async_event`: acknowledge an event {@link getAsyncEvent}
   * returned (libibverbs increments its object's `events_completed` and
   * wakes a destroy waiting for it; a port event acknowledges nothing).
   * EINVAL for anything else, or an event acknowledged already: libibverbs
   * would count it against the object and its destroy would never return.
   */
  ackAsyncEvent(event: VerbsAsyncEvent): void {
    if (!this.#unacked.delete(event)) {
      throw new VerbsError(
        "EINVAL",
        "ack_async_event: not an event getAsyncEvent returned, or acknowledged already",
      );
    }
    const obj = event.qp ?? event.cq ?? event.srq;
    obj?.asyncAcks.ack(1);
  }

  /** Async events {@link getAsyncEvent} returned and not yet acknowledged. */
  get asyncUnacked(): number {
    return this.#unacked.size;
  }

  /**
   * @internal `obj` (a QP, CQ or SRQ) was destroyed: its affiliated events not yet read go with
   * it, as the kernel frees them from the async event file (uverbs_main.c,
   * ib_uverbs_release_uevent) so that, as ibv_get_async_event(3) says, no application retrieves
   * an affiliated event after the object has been destroyed.
   */
  dropAsyncEvents(obj: object): void {
    // In place: a spread of the kept events as arguments would overflow the stack once
    // the queue (unbounded, as the kernel's event file) held some hundred thousand.
    const q = this.#asyncQueue;
    let n = 0;
    for (const e of q) if (e.qp !== obj && e.cq !== obj && e.srq !== obj) q[n++] = e;
    q.length = n;
  }

  /** Async events queued and not yet taken with {@link getAsyncEvent}. */
  get asyncPending(): number {
    return this.#asyncQueue.length;
  }

  /** `ibv_close_device`: releases every object of the context. */
  async close(): Promise<void> {
    await this.enter();
    this.#closed = true;
    await this.file.close();
    for (const qp of this.qps.values()) qp.released();
    for (const srq of this.srqs.values()) srq.released();
    for (const cq of this.cqs.values()) cq.released();
    this.qps.clear();
    this.srqs.clear();
    this.cqs.clear();
  }

  /** True once {@link close} ran. */
  get closed(): boolean {
    return this.#closed;
  }
}

/**
 * The C types of ibv_query_gid/ibv_query_pkey's arguments (`uint8_t port_num`, `int index`): a
 * value C would truncate or wrap is refused (EINVAL) before the kernel sees it; the kernel
 * checks the bounds of the port's tables.
 */
/** A GID as its eight groups of four hex digits. */
function gidText(gid: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) {
    groups.push(((gid[i] << 8) | gid[i + 1]).toString(16).padStart(4, "0"));
  }
  return groups.join(":");
}

function checkTableArgs(call: string, port: unknown, index: unknown): void {
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 255) {
    throw new VerbsError("EINVAL", `${call}: port ${String(port).slice(0, 24)} (1-based, 1..255)`);
  }
  if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index > 0x7fffffff) {
    throw new VerbsError(
      "EINVAL",
      `${call}: index ${String(index).slice(0, 24)} is not a table index`,
    );
  }
}
