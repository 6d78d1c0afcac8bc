/**
 * The Xen hypervisor of one host: domains and their teardown, the hypercall
 * layer (privilege and argument checks, costs, counters), event delivery,
 * physical-IRQ routing, and the host's xenstore.
 *
 * Every hypercall is named (`grant_table_op:map_grant_ref`,
 * `event_channel_op:send`, `domctl:createdomain`, …; see
 * {@link HYPERCALLS}) and made by a caller domain from a process (an async
 * function under the engine). It costs `profile.xen.hypercallNs`, plus
 * `grantMapNs` per grant mapped and `grantUnmapNs` per grant unmapped. The
 * typed API (`await hv.grantMap(dom0, { domid, ref })`) throws
 * {@link XenError}; {@link Hypervisor.hypercall} takes the name and an
 * argument block and returns `{ rc }` with `rc = -errno` instead, never
 * throwing for a refused call — it is the surface a hostile guest gets.
 *
 * A caller that is not a running domain of this hypervisor gets ESRCH; an
 * unprivileged caller asking for a privileged operation EPERM; a malformed
 * argument EINVAL (EFAULT if the argument block itself is not an object);
 * a domid naming no live domain ESRCH.
 *
 * Event delivery: a send sets the pending bit in the target's shared-info
 * page; when that needs a kick (see `SharedInfo.setPending`), the target's
 * upcall handler runs after `upcallNs + domainSwitchNs` (the target has to
 * be scheduled), plus `cpu.interruptNs` for a physical IRQ (Xen's own
 * interrupt entry first).
 *
 * Teardown (shutdown, crash, destroy) runs at once and in this order:
 * event channels closed (peers' ports become unbound), I/O pages unmapped,
 * grants the domain mapped unmapped, its grant table and shared-info page
 * freed, its memory freed except frames other domains still map (freed as
 * each is unmapped; the domain stays `dying` until the last one goes, as in
 * Xen), its xenstore home removed and `@releaseDomain` fired, then the
 * teardown hooks run (backends release what they hold for it).
 *
 * @module
 */
import type { Engine } from "../sim/engine.ts";
import { type MachineMemory, PAGE_SIZE } from "../sim/memory.ts";
import { AddressSpace } from "../sim/address_space.ts";
import type { Prng } from "../sim/prng.ts";
import type { Profile } from "../sim/profiles/schema.ts";
import type { InterruptController } from "../sim/irq.ts";
import { rc, XenError } from "./errors.ts";
import { argBlock, boolArg, DOMID_FIRST_RESERVED, DOMID_SELF, intArg, show } from "./args.ts";
import {
  Domain,
  type DomainCore,
  type DomainState,
  newDomainCore,
  type TeardownReason,
} from "./domain.ts";
import {
  EventChannels,
  type EvtchnStatus,
  NR_EVENT_CHANNELS,
  SharedInfo,
} from "./event_channel.ts";
import { type GrantMapping, GrantTables, GuestGrantTable } from "./grant_table.ts";
import { IoPages } from "./io_page.ts";
import { XenStore, type XenStoreOptions } from "./xenstore.ts";

/**
 * Every hypercall the dispatcher knows.
 *
 * @example
 * ```ts
 * import { HYPERCALLS } from "./hypervisor.ts";
 * console.log(HYPERCALLS.filter((h) => h.startsWith("grant_table_op:")).length); // 3
 * ```
 */
export const HYPERCALLS = [
  "domctl:createdomain",
  "domctl:destroydomain",
  "domctl:memory_mapping",
  "sched_op:shutdown",
  "sched_op:remote_shutdown",
  "grant_table_op:map_grant_ref",
  "grant_table_op:unmap_grant_ref",
  "grant_table_op:query_size",
  "event_channel_op:alloc_unbound",
  "event_channel_op:bind_interdomain",
  "event_channel_op:bind_pirq",
  "event_channel_op:send",
  "event_channel_op:close",
  "event_channel_op:unmask",
  "event_channel_op:status",
  "memory_op:current_reservation",
] as const;

/**
 * A hypercall name.
 *
 * @example
 * ```ts
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * import type { HypercallName } from "./hypervisor.ts";
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const call: HypercallName = "memory_op:current_reservation";
 * const r = await engine.run(() => hv.hypercall(hv.dom0, call, {}));
 * console.log(r.rc); // 0
 * ```
 */
export type HypercallName = typeof HYPERCALLS[number];

/**
 * What {@link Hypervisor.hypercall} returns.
 *
 * @example
 * ```ts
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * import type { HypercallResult } from "./hypervisor.ts";
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const r: HypercallResult = await engine.run(() =>
 *   hv.hypercall(hv.dom0, "event_channel_op:send", { port: 9 })
 * );
 * console.log(r.rc); // -22 (EINVAL: port 9 is not bound)
 * ```
 */
export interface HypercallResult {
  /** 0 or `-errno`. */
  rc: number;
  /** The result on success. */
  value?: unknown;
  /** The refusal's message on failure. */
  error?: string;
}

/**
 * Host-level options.
 *
 * @example
 * ```ts
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * import type { HypervisorOptions } from "./hypervisor.ts";
 * const opts: HypervisorOptions = { autoDestroy: false, grantFrames: 4 };
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1), opts);
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   hv.domainCrash(vm);
 *   console.log(vm.state, vm.grants.size); // crashed 2048 (kept until dom0 destroys it)
 * });
 * ```
 */
export interface HypervisorOptions {
  /** Address space of dom0 (frames are taken lazily). Default 1 GiB. */
  dom0MemoryBytes?: number;
  /** Default grant-table frames per domain (512 refs each). Default 32. */
  grantFrames?: number;
  /** Default maptrack size (grants one domain may map at once). Default 65536. */
  maxMaptrack?: number;
  /** Physical IRQs dom0 may bind. Default 256. */
  nrPirqs?: number;
  /** The host's interrupt controller; its vectors are routed as pirqs. */
  pic?: InterruptController;
  /** Destroy a domain as soon as it shuts down or crashes (default true). */
  autoDestroy?: boolean;
  /** Xenstore quotas. */
  xenstore?: XenStoreOptions;
  /** Receives exceptions from teardown hooks; default rethrows them asynchronously. */
  onHookError?: (err: unknown) => void;
}

/**
 * `domctl:createdomain` arguments.
 *
 * @example
 * ```ts
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * import type { DomainConfig } from "./hypervisor.ts";
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const cfg: DomainConfig = { name: "small", memoryBytes: 4 << 20, grantFrames: 1, maxEvtchnPorts: 64 };
 * const vm = await engine.run(() => hv.createDomain(hv.dom0, cfg));
 * console.log(vm.grants.size); // 512
 * ```
 */
export interface DomainConfig {
  /** Unique name. */
  name: string;
  /** Size of the domain's address space (frames are taken lazily). */
  memoryBytes: number;
  /** Grant-table frames (1..64). */
  grantFrames?: number;
  /** Event-channel port numbers available (2..4096, port 0 reserved). */
  maxEvtchnPorts?: number;
  /** Grants the domain may map at once. */
  maxMaptrack?: number;
}

/**
 * One op of a batched grant map.
 *
 * @example
 * ```ts
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * import type { GrantMapOp } from "./hypervisor.ts";
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   const buf = vm.memory.alloc(2 * 4096, 4096) / 4096;
 *   const ops: GrantMapOp[] = [];
 *   for (const pfn of [buf, buf + 1]) {
 *     ops.push({ domid: vm.domid, ref: await vm.grants.grantAccess(0, pfn), readonly: true });
 *   }
 *   console.log((await hv.grantMapBatch(hv.dom0, ops)).map((r) => r.status)); // [ 0, 0 ]
 * });
 * ```
 */
export interface GrantMapOp {
  /** Granting domain. */
  domid: number;
  /** Grant reference in its table. */
  ref: number;
  /** Map read-only. */
  readonly?: boolean;
}

/**
 * Per-op result of a batched grant map (status 0 or `-errno`, as `GNTST_*`).
 *
 * @example
 * ```ts
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * import type { GrantMapResult } from "./hypervisor.ts";
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   const ref = await vm.grants.grantAccess(0, vm.memory.alloc(4096, 4096) / 4096);
 *   const out: GrantMapResult[] = await hv.grantMapBatch(hv.dom0, [
 *     { domid: vm.domid, ref },
 *     { domid: vm.domid, ref: ref + 1 }, // never granted
 *   ]);
 *   console.log(out.map((r) => r.status)); // [ 0, -22 ] (EINVAL: that entry grants nothing)
 * });
 * ```
 */
export interface GrantMapResult extends Partial<GrantMapping> {
  /** 0 on success, else `-errno`. */
  status: number;
}

/**
 * `hv.stats()` (API.md). A type alias, not an interface, so that it is
 * assignable to `Record<string, number>`.
 *
 * @example
 * ```ts
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * import type { HypervisorStats } from "./hypervisor.ts";
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const before: HypervisorStats = hv.stats();
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   await hv.destroyDomain(hv.dom0, vm.domid);
 * });
 * console.log(JSON.stringify(hv.stats()) === JSON.stringify(before)); // true: nothing left behind
 * ```
 */
export type HypervisorStats = {
  /** Domains not yet dead (dom0, running guests, dying zombies). */
  domains: number;
  /** Grant mappings held, over all domains. */
  grantsMapped: number;
  /** Event-channel ports in use, over all domains. */
  evtchnsBound: number;
  /** Machine frames held for domains: their memory, grant tables, shared-info pages, frames of dying domains still mapped. */
  framesAllocated: number;
  /** Device I/O pages mapped into guests. */
  ioPagesMapped: number;
};

/**
 * Cumulative counters.
 *
 * @example
 * ```ts
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * await engine.run(() => hv.hypercall(hv.dom0, "sched_op:shutdown", {})); // refused: EPERM
 * const c = hv.counters();
 * console.log(c.hypercalls, c.byKind); // 1 { "sched_op:shutdown": 1 }
 * ```
 */
export interface HypervisorCounters {
  /** Hypercalls made (refused ones too). */
  hypercalls: number;
  /** Hypercalls by name. */
  byKind: Record<string, number>;
  /** Successful `EVTCHNOP_send`s. */
  evtchnSends: number;
  /** Sends by `dom<from>->dom<to>`. */
  evtchnSendsByKind: Record<string, number>;
  /** Grants mapped (ops, not hypercalls). */
  grantMaps: number;
  /** Grants unmapped by request (ops, not hypercalls). */
  grantUnmaps: number;
  /** Upcalls delivered to handlers. */
  upcalls: number;
  /** Physical IRQs routed to a bound port. */
  pirqsRouted: number;
  /** Physical IRQs nobody had bound. */
  pirqsUnbound: number;
}

type Caller = Domain | number;
type Handler = (c: Domain, a: Record<string, unknown>) => { value: unknown; costNs: number };

const MAX_BATCH = 4096;
const MIN_DOMAIN_PAGES = 16;

/**
 * The hypervisor of one host. Dom0 exists from construction.
 *
 * @example
 * ```ts
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(256 << 20), PCIX_SDR_2006, new Prng(1));
 * const dom0 = hv.dom0;
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(dom0, { name: "vm0", memoryBytes: 64 << 20 });
 *   const page = vm.memory.alloc(4096, 4096);
 *   const ref = await vm.grants.grantAccess(0, page / 4096, false);
 *   const m = await hv.grantMap(dom0, { domid: vm.domid, ref });
 *   dom0.memory.write(m.addr, new Uint8Array([42]));
 *   console.log(vm.memory.read(page, 1)[0]); // 42
 *   await hv.grantUnmap(dom0, m.handle);
 * });
 * console.log(hv.counters().byKind["grant_table_op:map_grant_ref"]); // 1
 * ```
 */
export class Hypervisor {
  /** The privileged domain. */
  readonly dom0: Domain;
  /** The host's xenstore. */
  readonly xenstore: XenStore;
  /** Errors thrown by teardown hooks (also passed to `onHookError`). */
  readonly hookErrors: unknown[] = [];
  #domains = new Map<number, Domain>();
  #cores = new Map<number, DomainCore>();
  #xenFrames = new Map<number, { sharedInfo: number; grantFrames: number }>();
  #nextDomid = 1;
  #evtchn: EventChannels;
  #grants: GrantTables;
  #io: IoPages;
  #upcallScheduled = new Set<number>();
  #extraDelayNs = 0;
  #opts: Required<Omit<HypervisorOptions, "pic" | "xenstore" | "onHookError">>;
  #onHookError: (err: unknown) => void;
  #handlers: Record<HypercallName, Handler>;
  #c = {
    hypercalls: 0,
    byKind: new Map<string, number>(),
    evtchnSends: 0,
    sendsByKind: new Map<string, number>(),
    grantMaps: 0,
    grantUnmaps: 0,
    upcalls: 0,
    pirqsRouted: 0,
    pirqsUnbound: 0,
  };

  /**
   * Boots the host: creates dom0 and the xenstore, and routes `opts.pic`.
   * @param engine the engine (time, processes)
   * @param mem the host's machine memory
   * @param profile costs (`profile.xen.*`)
   * @param prng frame placement of each domain's memory
   * @param opts see {@link HypervisorOptions}
   */
  constructor(
    readonly engine: Engine,
    readonly mem: MachineMemory,
    readonly profile: Profile,
    private prng: Prng,
    opts: HypervisorOptions = {},
  ) {
    this.#opts = {
      dom0MemoryBytes: opts.dom0MemoryBytes ?? 1 << 30,
      grantFrames: opts.grantFrames ?? 32,
      maxMaptrack: opts.maxMaptrack ?? 65536,
      nrPirqs: opts.nrPirqs ?? 256,
      autoDestroy: opts.autoDestroy ?? true,
    };
    this.#onHookError = opts.onHookError ?? ((err) =>
      queueMicrotask(() => {
        throw err;
      }));
    this.#evtchn = new EventChannels((d) => this.#kick(d), this.#opts.nrPirqs);
    this.#grants = new GrantTables(mem, (d) => this.#zombieReleased(d));
    this.#io = new IoPages(mem);
    this.xenstore = new XenStore(opts.xenstore);
    this.#handlers = this.#makeHandlers();
    this.dom0 = this.#build(0, "Domain-0", true, {
      name: "Domain-0",
      memoryBytes: this.#opts.dom0MemoryBytes,
    });
    if (opts.pic) this.connectInterrupts(opts.pic);
  }

  // ---- domains ----

  /** A domain that is not dead, by id. */
  domain(domid: number): Domain | undefined {
    return this.#domains.get(domid);
  }

  /** Domains not yet dead, by domid. */
  domains(): Domain[] {
    return [...this.#domains.values()].sort((a, b) => a.domid - b.domid);
  }

  #build(domid: number, name: string, privileged: boolean, cfg: DomainConfig): Domain {
    const grantFrames = cfg.grantFrames ?? this.#opts.grantFrames;
    const memory = new AddressSpace(this.mem, `dom${domid}`, cfg.memoryBytes, this.prng.fork());
    const siMfn = this.mem.allocFrame(`xen:shared_info:dom${domid}`);
    const sharedInfoAddr = memory.mapForeign(siMfn);
    const sharedInfo = new SharedInfo(this.mem.frame(siMfn));
    const tableAddrs = this.#grants.setupTable(
      { domid, memory },
      grantFrames,
      cfg.maxMaptrack ?? this.#opts.maxMaptrack,
    );
    const grants = new GuestGrantTable(
      memory,
      tableAddrs,
      this.engine,
      this.profile.xen.grantEntryNs,
    );
    this.#evtchn.addDomain(domid, sharedInfo, cfg.maxEvtchnPorts ?? NR_EVENT_CHANNELS);
    const core = newDomainCore(this.engine, () => this.#upcallInstalled(domid));
    const dom = new Domain(
      { domid, name, privileged, memory, sharedInfo, sharedInfoAddr, grants },
      core,
    );
    this.#domains.set(domid, dom);
    this.#cores.set(domid, core);
    this.#xenFrames.set(domid, { sharedInfo: siMfn, grantFrames });
    this.xenstore.introduceDomain(domid, name);
    return dom;
  }

  /** `domctl:createdomain` (dom0 only). */
  createDomain(caller: Caller, cfg: DomainConfig): Promise<Domain> {
    return this.#invoke(caller, "domctl:createdomain", cfg) as Promise<Domain>;
  }

  /** `domctl:destroydomain` (dom0 only): abrupt teardown, no guest cooperation. */
  destroyDomain(caller: Caller, domid: number): Promise<void> {
    return this.#invoke(caller, "domctl:destroydomain", { domid }) as Promise<void>;
  }

  /**
   * Shut `domid` down: `sched_op:shutdown` when the caller is the domain
   * itself, `sched_op:remote_shutdown` (dom0 only) otherwise. Reason
   * `"poweroff"` (clean) or `"crash"`.
   */
  shutdown(
    caller: Caller,
    domid: number,
    reason: "poweroff" | "crash" = "poweroff",
  ): Promise<void> {
    const self = (typeof caller === "number" ? caller : caller.domid) === domid;
    return this.#invoke(
      caller,
      self ? "sched_op:shutdown" : "sched_op:remote_shutdown",
      { domid, reason },
    ) as Promise<void>;
  }

  /**
   * Crash `dom` now (what Xen does itself when a guest faults; not a
   * hypercall, no time passes): state `crashed`, then teardown. Crashing a
   * domain that is not running, or dom0, does nothing.
   */
  domainCrash(dom: Domain | number): void {
    const d = typeof dom === "number" ? this.#domains.get(dom) : dom;
    if (!d || d.domid === 0 || this.#domains.get(d.domid) !== d || !d.running) return;
    this.#markShutdown(d, "crash");
  }

  #markShutdown(d: Domain, reason: "poweroff" | "crash"): void {
    const core = this.#cores.get(d.domid)!;
    core.state = reason === "crash" ? "crashed" : "shutdown";
    core.reason = reason === "crash" ? "crash" : "shutdown";
    core.stateChanged.notifyAll();
    this.engine.traceMark(`xen:${core.state}`, d.domid);
    if (this.#opts.autoDestroy) this.#teardown(d, core.reason);
  }

  #teardown(d: Domain, reason: TeardownReason): void {
    const id = d.domid;
    const core = this.#cores.get(id)!;
    core.state = "dying";
    core.reason ??= reason;
    core.upcall = undefined;
    this.#upcallScheduled.delete(id);
    this.#evtchn.removeDomain(id);
    this.#io.releaseDomain(id);
    this.#grants.releaseMapper(id);
    const keep = this.#grants.releaseGranter(id);
    this.mem.freeFrame(this.#xenFrames.get(id)!.sharedInfo);
    this.#xenFrames.delete(id);
    d.memory.releaseAll(keep);
    this.xenstore.releaseDomain(id);
    core.stateChanged.notifyAll();
    this.engine.traceMark("xen:teardown", id);
    const hooks = core.hooks.splice(0);
    if (keep.size === 0) this.#markDead(id);
    for (const hook of hooks) {
      this.engine.spawn(`teardown hook of dom${id}`, async () => {
        await hook(d, core.reason!);
      }).catch((err) => {
        this.hookErrors.push(err);
        this.#onHookError(err);
      });
    }
  }

  #zombieReleased(domid: number): void {
    this.#markDead(domid);
  }

  #markDead(domid: number): void {
    const core = this.#cores.get(domid);
    if (!core) return;
    core.state = "dead";
    this.#domains.delete(domid);
    this.#cores.delete(domid);
    core.stateChanged.notifyAll();
  }

  /** State of `domid` (`"dead"` if it no longer exists). */
  stateOf(domid: number): DomainState {
    return this.#cores.get(domid)?.state ?? "dead";
  }

  // ---- grant tables ----

  /** `grant_table_op:map_grant_ref`: map grant `ref` of domain `domid` into the caller. */
  grantMap(caller: Caller, op: GrantMapOp): Promise<GrantMapping> {
    return this.#invoke(caller, "grant_table_op:map_grant_ref", op) as Promise<GrantMapping>;
  }

  /**
   * `grant_table_op:map_grant_ref` with many ops in one hypercall: one
   * `hypercallNs`, `grantMapNs` per op, a status per op (the batch itself
   * does not fail for a bad op, as in Xen).
   */
  grantMapBatch(caller: Caller, ops: GrantMapOp[]): Promise<GrantMapResult[]> {
    return this.#invoke(caller, "grant_table_op:map_grant_ref", { ops }) as Promise<
      GrantMapResult[]
    >;
  }

  /** `grant_table_op:unmap_grant_ref`: unmap the caller's `handle`. */
  grantUnmap(caller: Caller, handle: number): Promise<void> {
    return this.#invoke(caller, "grant_table_op:unmap_grant_ref", { handle }) as Promise<void>;
  }

  /** Batched unmap: one hypercall, a status (0 or `-errno`) per handle. */
  grantUnmapBatch(caller: Caller, handles: number[]): Promise<number[]> {
    return this.#invoke(caller, "grant_table_op:unmap_grant_ref", { handles }) as Promise<
      number[]
    >;
  }

  /** `grant_table_op:query_size`: table frames of `domid` (self, or any for dom0). */
  grantQuerySize(caller: Caller, domid = DOMID_SELF): Promise<{ nrFrames: number }> {
    return this.#invoke(caller, "grant_table_op:query_size", { domid }) as Promise<
      { nrFrames: number }
    >;
  }

  /** Grants `domid` has mapped now. */
  grantsMappedBy(domid: number): number {
    return this.#grants.mappedBy(domid);
  }

  /** Mappings (by anyone) of grants `domid` gave. */
  grantsMappedFrom(domid: number): number {
    return this.#grants.mappedFrom(domid);
  }

  /** Frames a dying `domid` still leaves allocated because others map them. */
  framesKept(domid: number): number {
    return this.#grants.keptFrames(domid);
  }

  /** Machine frames of `domid`'s grant table (for inspection and ABI tests). */
  grantTableFrames(domid: number): readonly number[] | undefined {
    return this.#grants.tableFrames(domid);
  }

  // ---- event channels ----

  /** `event_channel_op:alloc_unbound`: a port of `dom` (default self) that `remoteDom` may bind. */
  evtchnAllocUnbound(caller: Caller, a: { dom?: number; remoteDom: number }): Promise<number> {
    return this.#invoke(caller, "event_channel_op:alloc_unbound", a) as Promise<number>;
  }

  /** `event_channel_op:bind_interdomain`: connect to `remotePort` of `remoteDom`. */
  evtchnBindInterdomain(
    caller: Caller,
    a: { remoteDom: number; remotePort: number },
  ): Promise<number> {
    return this.#invoke(caller, "event_channel_op:bind_interdomain", a) as Promise<number>;
  }

  /** `event_channel_op:bind_pirq` (dom0 only): receive physical IRQ `pirq` as an event. */
  evtchnBindPirq(caller: Caller, pirq: number): Promise<number> {
    return this.#invoke(caller, "event_channel_op:bind_pirq", { pirq }) as Promise<number>;
  }

  /** `event_channel_op:send` on the caller's `port`. */
  evtchnSend(caller: Caller, port: number): Promise<void> {
    return this.#invoke(caller, "event_channel_op:send", { port }) as Promise<void>;
  }

  /** `event_channel_op:close` of the caller's `port`. */
  evtchnClose(caller: Caller, port: number): Promise<void> {
    return this.#invoke(caller, "event_channel_op:close", { port }) as Promise<void>;
  }

  /** `event_channel_op:unmask` of the caller's `port`. */
  evtchnUnmask(caller: Caller, port: number): Promise<void> {
    return this.#invoke(caller, "event_channel_op:unmask", { port }) as Promise<void>;
  }

  /** `event_channel_op:status` of `port` in `dom` (default self; others dom0 only). */
  evtchnStatus(caller: Caller, a: { dom?: number; port: number }): Promise<EvtchnStatus> {
    return this.#invoke(caller, "event_channel_op:status", a) as Promise<EvtchnStatus>;
  }

  /** Route the host's interrupt controller through the hypervisor (pirqs). */
  connectInterrupts(pic: InterruptController): void {
    pic.connect((v) => this.raisePhysicalIrq(v));
  }

  /** A physical interrupt arrived on `pirq` (hardware side; no process needed). */
  raisePhysicalIrq(pirq: number): void {
    this.#extraDelayNs = this.profile.cpu.interruptNs;
    try {
      if (this.#evtchn.raisePirq(pirq)) this.#c.pirqsRouted++;
      else this.#c.pirqsUnbound++;
    } finally {
      this.#extraDelayNs = 0;
    }
  }

  #kick(domid: number): void {
    if (this.#upcallScheduled.has(domid)) return;
    this.#upcallScheduled.add(domid);
    const delay = this.profile.xen.upcallNs + this.profile.xen.domainSwitchNs + this.#extraDelayNs;
    this.engine.schedule(delay, () => this.#deliverUpcall(domid));
  }

  #upcallInstalled(domid: number): void {
    const d = this.#domains.get(domid);
    if (!d?.running || !d.sharedInfo.upcallPending || this.#upcallScheduled.has(domid)) return;
    this.#upcallScheduled.add(domid);
    this.engine.schedule(this.profile.xen.upcallNs, () => this.#deliverUpcall(domid));
  }

  #deliverUpcall(domid: number): void {
    if (!this.#upcallScheduled.delete(domid)) return;
    const d = this.#domains.get(domid);
    const handler = d?.upcall;
    if (!d?.running || !handler || !d.sharedInfo.upcallPending) return;
    this.#c.upcalls++;
    this.engine.traceMark("xen:upcall", domid);
    handler(d);
  }

  // ---- I/O pages ----

  /** `domctl:memory_mapping` (dom0 only): map device I/O frame `mfn` into guest `domid`. */
  mapIoPage(caller: Caller, a: { domid: number; mfn: number }): Promise<number> {
    return this.#invoke(caller, "domctl:memory_mapping", { ...a, add: true }) as Promise<number>;
  }

  /** `domctl:memory_mapping` with `add: false` (dom0 only): unmap it. */
  unmapIoPage(caller: Caller, a: { domid: number; mfn: number }): Promise<void> {
    return this.#invoke(caller, "domctl:memory_mapping", { ...a, add: false }) as Promise<void>;
  }

  /** The guest a device I/O frame is mapped into, if any. */
  ioPageHolder(mfn: number): number | undefined {
    return this.#io.holderOf(mfn);
  }

  /** `memory_op:current_reservation`: frames `domid` owns (self, or any for dom0). */
  currentReservation(caller: Caller, domid = DOMID_SELF): Promise<number> {
    return this.#invoke(caller, "memory_op:current_reservation", { domid }) as Promise<number>;
  }

  // ---- the hypercall layer ----

  /**
   * The raw dispatcher: make hypercall `name` with argument block `args` as
   * `caller`. Never throws for a refused call: `{ rc: -errno, error }`.
   */
  async hypercall(caller: Caller, name: string, args: unknown): Promise<HypercallResult> {
    try {
      return { rc: 0, value: await this.#invoke(caller, name, args) };
    } catch (e) {
      return { rc: rc(e), error: (e as Error).message };
    }
  }

  async #invoke(caller: Caller, name: string, args: unknown): Promise<unknown> {
    const known = Object.hasOwn(this.#handlers, name);
    const kind = known ? name : "unknown";
    this.#c.hypercalls++;
    this.#c.byKind.set(kind, (this.#c.byKind.get(kind) ?? 0) + 1);
    this.engine.traceMark(`xen:${kind}`);
    await this.engine.sleep(this.profile.xen.hypercallNs);
    const c = this.#caller(caller, kind);
    if (!known) throw new XenError("ENOSYS", `no hypercall ${show(name)}`);
    const { value, costNs } = this.#handlers[name as HypercallName](c, argBlock(args, name));
    if (costNs > 0) await this.engine.sleep(costNs);
    return value;
  }

  #caller(caller: Caller, what: string): Domain {
    const d = typeof caller === "number"
      ? this.#domains.get(caller)
      : caller instanceof Domain && this.#domains.get(caller.domid) === caller
      ? caller
      : undefined;
    if (!d) throw new XenError("ESRCH", `${what}: caller ${show(caller)} is not a domain here`);
    if (!d.running) throw new XenError("ESRCH", `${what}: caller ${d} is ${d.state}`);
    return d;
  }

  #priv(c: Domain, what: string): void {
    if (!c.privileged) throw new XenError("EPERM", `${what}: caller ${c} is not privileged`);
  }

  /** A domid argument: DOMID_SELF is the caller; anything else must name a domain here. */
  #domid(c: Domain, v: unknown, what: string): number {
    if (v === DOMID_SELF) return c.domid;
    return intArg(v, 0, DOMID_FIRST_RESERVED - 1, `${what}: domid`);
  }

  #target(c: Domain, v: unknown, what: string): Domain {
    const id = this.#domid(c, v, what);
    const d = this.#domains.get(id);
    if (!d || d.state === "dying") throw new XenError("ESRCH", `${what}: no domain ${id}`);
    return d;
  }

  #selfOrPriv(c: Domain, id: number, what: string): void {
    if (id !== c.domid) this.#priv(c, `${what} on dom${id}`);
  }

  #makeHandlers(): Record<HypercallName, Handler> {
    const x = this.profile.xen;
    const ok = (value: unknown = undefined, costNs = 0) => ({ value, costNs });
    return {
      "domctl:createdomain": (c, a) => ok(this.#createDomain(c, a)),
      "domctl:destroydomain": (c, a) => {
        const what = "domctl:destroydomain";
        this.#priv(c, what);
        const id = this.#domid(c, a.domid, what);
        const d = this.#domains.get(id);
        if (!d) throw new XenError("ESRCH", `${what}: no domain ${id}`);
        if (d.privileged) throw new XenError("EPERM", `${what}: dom0 cannot be destroyed`);
        if (d.state !== "dying") this.#teardown(d, "destroy");
        return ok();
      },
      "sched_op:shutdown": (c, a) => {
        const what = "sched_op:shutdown";
        const reason = shutdownReason(a.reason, what);
        if (c.privileged) throw new XenError("EPERM", `${what}: dom0 cannot shut down here`);
        this.#markShutdown(c, reason);
        return ok();
      },
      "sched_op:remote_shutdown": (c, a) => {
        const what = "sched_op:remote_shutdown";
        this.#priv(c, what);
        const reason = shutdownReason(a.reason, what);
        const d = this.#target(c, a.domid, what);
        if (d.privileged) throw new XenError("EPERM", `${what}: dom0 cannot be shut down`);
        if (d.running) this.#markShutdown(d, reason);
        return ok();
      },
      "domctl:memory_mapping": (c, a) => {
        const what = "domctl:memory_mapping";
        this.#priv(c, what);
        const add = boolArg(a.add, `${what}: add`);
        const d = this.#target(c, a.domid, what);
        if (d.privileged) {
          throw new XenError("EINVAL", `${what}: dom0 reaches device pages without the hypervisor`);
        }
        if (!add) return ok(this.#io.unmap(d.domid, a.mfn));
        if (!d.running) throw new XenError("ESRCH", `${what}: ${d} is ${d.state}`);
        return ok(this.#io.map(d, a.mfn));
      },
      "grant_table_op:map_grant_ref": (c, a) => {
        const what = "grant_table_op:map_grant_ref";
        if (a.ops === undefined) {
          const m = this.#grantMapOne(c, a, what);
          return ok(m, x.grantMapNs);
        }
        const ops = batch(a.ops, what);
        const out: GrantMapResult[] = ops.map((op) => {
          try {
            return { status: 0, ...this.#grantMapOne(c, argBlock(op, what), what) };
          } catch (e) {
            return { status: rc(e) };
          }
        });
        return ok(out, ops.length * x.grantMapNs);
      },
      "grant_table_op:unmap_grant_ref": (c, a) => {
        const what = "grant_table_op:unmap_grant_ref";
        if (a.handles === undefined) {
          this.#grants.unmap(c, a.handle);
          this.#c.grantUnmaps++;
          return ok(undefined, x.grantUnmapNs);
        }
        const hs = batch(a.handles, what);
        const out = hs.map((h) => {
          try {
            this.#grants.unmap(c, h);
            this.#c.grantUnmaps++;
            return 0;
          } catch (e) {
            return rc(e);
          }
        });
        return ok(out, hs.length * x.grantUnmapNs);
      },
      "grant_table_op:query_size": (c, a) => {
        const what = "grant_table_op:query_size";
        const d = this.#target(c, a.domid ?? DOMID_SELF, what);
        this.#selfOrPriv(c, d.domid, what);
        return ok({ nrFrames: this.#grants.tableFrames(d.domid)!.length });
      },
      "event_channel_op:alloc_unbound": (c, a) => {
        const what = "event_channel_op:alloc_unbound";
        const dom = this.#domid(c, a.dom ?? DOMID_SELF, what);
        this.#selfOrPriv(c, dom, what);
        const remote = this.#domid(c, a.remoteDom, `${what}: remote`);
        return ok(this.#evtchn.allocUnbound(dom, remote));
      },
      "event_channel_op:bind_interdomain": (c, a) => {
        const what = "event_channel_op:bind_interdomain";
        const remote = this.#domid(c, a.remoteDom, `${what}: remote`);
        return ok(this.#evtchn.bindInterdomain(c.domid, remote, a.remotePort));
      },
      "event_channel_op:bind_pirq": (c, a) => {
        this.#priv(c, "event_channel_op:bind_pirq");
        return ok(this.#evtchn.bindPirq(c.domid, a.pirq));
      },
      "event_channel_op:send": (c, a) => {
        const to = this.#evtchn.send(c.domid, a.port);
        this.#c.evtchnSends++;
        const k = `dom${c.domid}->dom${to}`;
        this.#c.sendsByKind.set(k, (this.#c.sendsByKind.get(k) ?? 0) + 1);
        return ok();
      },
      "event_channel_op:close": (c, a) => ok(this.#evtchn.close(c.domid, a.port)),
      "event_channel_op:unmask": (c, a) => ok(this.#evtchn.unmask(c.domid, a.port)),
      "event_channel_op:status": (c, a) => {
        const what = "event_channel_op:status";
        const dom = this.#domid(c, a.dom ?? DOMID_SELF, what);
        this.#selfOrPriv(c, dom, what);
        return ok(this.#evtchn.status(dom, a.port));
      },
      "memory_op:current_reservation": (c, a) => {
        const what = "memory_op:current_reservation";
        const d = this.#target(c, a.domid ?? DOMID_SELF, what);
        this.#selfOrPriv(c, d.domid, what);
        return ok(d.memory.framesOwned);
      },
    };
  }

  #grantMapOne(c: Domain, a: Record<string, unknown>, what: string): GrantMapping {
    const granter = this.#domid(c, a.domid, what);
    const readonly = boolArg(a.readonly, `${what}: readonly`);
    if (this.#domains.get(granter)?.state === "dying") {
      throw new XenError("ESRCH", `${what}: dom${granter} is dying`);
    }
    const m = this.#grants.map(c, granter, a.ref, readonly);
    this.#c.grantMaps++;
    return m;
  }

  #createDomain(c: Domain, a: Record<string, unknown>): Domain {
    const what = "domctl:createdomain";
    this.#priv(c, what);
    const name = a.name;
    if (typeof name !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
      throw new XenError("EINVAL", `${what}: name ${show(name)} must be 1-64 of [A-Za-z0-9_.-]`);
    }
    for (const d of this.#domains.values()) {
      if (d.name === name) throw new XenError("EEXIST", `${what}: ${d} already has that name`);
    }
    const grantFrames = a.grantFrames === undefined
      ? this.#opts.grantFrames
      : intArg(a.grantFrames, 1, 64, `${what}: grantFrames`);
    const minBytes = (MIN_DOMAIN_PAGES + grantFrames) * PAGE_SIZE;
    const bytes = intArg(a.memoryBytes, minBytes, Number.MAX_SAFE_INTEGER, `${what}: memoryBytes`);
    if (bytes > this.mem.frames * PAGE_SIZE) {
      throw new XenError("ENOMEM", `${what}: ${bytes} bytes is more than the host's memory`);
    }
    if (this.mem.available < grantFrames + 1) {
      throw new XenError("ENOMEM", `${what}: no machine frames left for the domain's tables`);
    }
    const maxEvtchnPorts = a.maxEvtchnPorts === undefined
      ? undefined
      : intArg(a.maxEvtchnPorts, 2, NR_EVENT_CHANNELS, `${what}: maxEvtchnPorts`);
    const maxMaptrack = a.maxMaptrack === undefined
      ? undefined
      : intArg(a.maxMaptrack, 1, 1 << 20, `${what}: maxMaptrack`);
    if (this.#nextDomid >= DOMID_FIRST_RESERVED) {
      throw new XenError("ENOSPC", `${what}: domain ids exhausted`);
    }
    const domid = this.#nextDomid++;
    return this.#build(domid, name, false, {
      name,
      memoryBytes: bytes,
      grantFrames,
      maxEvtchnPorts,
      maxMaptrack,
    });
  }

  // ---- accounting ----

  /** Resource counts now (they return to their earlier values after a teardown). */
  stats(): HypervisorStats {
    let frames = this.#grants.keptTotal;
    for (const [id, xf] of this.#xenFrames) {
      frames += this.#domains.get(id)!.memory.framesOwned + xf.grantFrames + 1;
    }
    return {
      domains: this.#domains.size,
      grantsMapped: this.#grants.mapped,
      evtchnsBound: this.#evtchn.bound,
      framesAllocated: frames,
      ioPagesMapped: this.#io.mapped,
    };
  }

  /** Cumulative counters (maps as plain objects with sorted keys). */
  counters(): HypervisorCounters {
    const c = this.#c;
    return {
      hypercalls: c.hypercalls,
      byKind: sortedRecord(c.byKind),
      evtchnSends: c.evtchnSends,
      evtchnSendsByKind: sortedRecord(c.sendsByKind),
      grantMaps: c.grantMaps,
      grantUnmaps: c.grantUnmaps,
      upcalls: c.upcalls,
      pirqsRouted: c.pirqsRouted,
      pirqsUnbound: c.pirqsUnbound,
    };
  }
}

function shutdownReason(v: unknown, what: string): "poweroff" | "crash" {
  if (v === undefined || v === "poweroff") return "poweroff";
  if (v === "crash") return "crash";
  throw new XenError("EINVAL", `${what}: reason ${show(v)} is not "poweroff" or "crash"`);
}

function batch(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_BATCH) {
    throw new XenError("EINVAL", `${what}: need a list of 1..${MAX_BATCH} ops`);
  }
  return v;
}

function sortedRecord(m: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of [...m.keys()].sort()) out[k] = m.get(k)!;
  return out;
}
