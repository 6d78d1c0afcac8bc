/**
 * The state one host's hypervisor modules share: live domains and their
 * mutable cores, the frames Xen holds for each, the grant tables, event
 * channels, I/O pages and xenstore, and the cumulative counters. It is a
 * plain record so that the hypercall layer, domain lifecycle and the typed
 * API can each own their logic without owning the data.
 *
 * @module
 */
import { type VcpuPolicy, VcpuPool } from "./vcpus.ts";
import type { Engine } from "../sim/engine.ts";
import type { MachineMemory } from "../sim/memory.ts";
import type { Prng } from "../sim/prng.ts";
import type { Profile } from "../sim/profiles/schema.ts";
import type { InterruptController } from "../sim/irq.ts";
import type { CpuNoise } from "../sim/noise.ts";
import type { Domain, DomainCore } from "./domain.ts";
import { EventChannels } from "./event_channel.ts";
import { GrantTables } from "./grant_table.ts";
import { IoPages } from "./io_page.ts";
import { XenStore, type XenStoreOptions } from "./xenstore.ts";
import { LogDirty } from "./log_dirty.ts";
import { XenError } from "./errors.ts";

/** Entries kept in the fault log (the oldest go first, like Xen's console ring). */
const FAULT_LOG_SIZE = 256;

/**
 * Host-level options.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor, type HypervisorOptions } from "./hypervisor.ts";
 * const engine = new Engine();
 * const opts: HypervisorOptions = { autoDestroy: false, grantFrames: 4 };
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1), opts);
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   assert.equal(hv.grantTableFrames(vm.domid)!.length, 4); // the default table size
 *   hv.domainCrash(vm);
 *   assert.equal(vm.state, "crashed"); // kept until dom0 destroys it
 *   await hv.destroyDomain(hv.dom0, vm.domid);
 *   await vm.whenDead();
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
  /**
   * How dom0's VCPUs pick the next piece of work: "fair" (round robin across
   * the frontends' backends, preemptive; the default) or "fifo" (run to
   * completion in arrival order: for experiments that show what fairness buys).
   */
  dom0Scheduler?: VcpuPolicy;
  /**
   * The detours of a domain's vCPU (noise on, `sim/noise.ts`): an event
   * upcall that comes due while the domain's kernel is in a detour runs when
   * the detour ends. Absent: upcalls run on time.
   */
  cpuNoise?: (domid: number) => CpuNoise | undefined;
}

/**
 * Cumulative counters as kept (maps, not yet sorted records).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { type HostCounters, HostState } from "./host.ts";
 * import { Lifecycle } from "./lifecycle.ts";
 * import { Hypercalls } from "./hypercalls.ts";
 * const engine = new Engine();
 * const events = { kick: () => {}, returned: () => {}, zombieReleased: () => {} };
 * const h = new HostState(
 *   engine,
 *   new MachineMemory(64 << 20),
 *   PCIX_SDR_2006,
 *   new Prng(1),
 *   {},
 *   events,
 * );
 * const life = new Lifecycle(h, () => {});
 * const dom0 = life.build(0, "Domain-0", true, { name: "Domain-0", memoryBytes: 8 << 20 });
 * await engine.run(() =>
 *   new Hypercalls(h, life).invoke(dom0, "memory_op:current_reservation", {})
 * );
 * const c: HostCounters = h.c;
 * assert.equal(c.hypercalls, 1);
 * assert.equal(c.byKind.get("memory_op:current_reservation"), 1);
 * ```
 */
export interface HostCounters {
  /** Hypercalls made (refused ones too). */
  hypercalls: number;
  /** Hypercalls by name (`unknown` for names the dispatcher does not know). */
  byKind: Map<string, number>;
  /** Successful `EVTCHNOP_send`s. */
  evtchnSends: number;
  /** Sends by `dom<from>->dom<to>`. */
  sendsByKind: Map<string, number>;
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
  /** Upcalls whose guest (not dom0) handler threw; that guest crashed. */
  guestUpcallErrors: number;
  faults: number;
}

/**
 * What the shared state calls back into: event delivery (a port needs a
 * kick) and lifecycle (a dying domain's last foreign-mapped frame went).
 * Callbacks rather than imports, so the state does not depend on the
 * modules that use it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { SharedInfo } from "./event_channel.ts";
 * import { type HostEvents, HostState } from "./host.ts";
 * const kicked: number[] = [];
 * const events: HostEvents = {
 *   kick: (d) => kicked.push(d),
 *   returned: () => {},
 *   zombieReleased: () => {},
 * };
 * const h = new HostState(
 *   new Engine(),
 *   new MachineMemory(64 << 20),
 *   PCIX_SDR_2006,
 *   new Prng(1),
 *   {},
 *   events,
 * );
 * h.evtchn.addDomain(0, new SharedInfo(new Uint8Array(4096)));
 * const port = h.evtchn.bindInterdomain(0, 0, h.evtchn.allocUnbound(0, 0)); // a loopback channel
 * h.evtchn.send(0, port);
 * assert.deepEqual(kicked, [0]); // the host's event channels kick through HostEvents
 * ```
 */
export interface HostEvents {
  /** A send to `domid` needs an upcall. */
  kick(domid: number): void;
  /**
   * A hypercall of `domid` returns to it: an upcall pending and no longer
   * masked is delivered now (x86 `test_all_events` on every exit to the guest).
   */
  returned(domid: number): void;
  /** The last frame a dying `domid` left referenced went back to the heap. */
  zombieReleased(domid: number): void;
}

/**
 * A set of domids kept as one flag per domid: an upcall is scheduled and
 * taken at every notification, and a hash set that gains and loses its
 * one or two members each time reallocates its table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DomidFlags } from "./host.ts";
 * const s = new DomidFlags();
 * s.add(0);
 * s.add(300);
 * assert.deepEqual([s.has(0), s.has(300), s.has(1)], [true, true, false]);
 * assert.deepEqual([s.delete(300), s.delete(300), s.has(300)], [true, false, false]);
 * ```
 */
export class DomidFlags {
  #flags = new Uint8Array(64);

  /** Whether `domid` is in the set. */
  has(domid: number): boolean {
    return this.#flags[domid] === 1;
  }

  /** Put `domid` (a whole number >= 0) in the set. */
  add(domid: number): void {
    if (!(Number.isInteger(domid) && domid >= 0)) {
      throw new RangeError(`domid ${domid}: not a whole number >= 0`);
    }
    if (domid >= this.#flags.length) {
      const grown = new Uint8Array(Math.max(domid + 1, 2 * this.#flags.length));
      grown.set(this.#flags);
      this.#flags = grown;
    }
    this.#flags[domid] = 1;
  }

  /** Take `domid` out; whether it was in. */
  delete(domid: number): boolean {
    if (this.#flags[domid] !== 1) return false;
    this.#flags[domid] = 0;
    return true;
  }
}

/**
 * The shared state of one host's hypervisor (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { HostState } from "./host.ts";
 * const hooks = { kick: () => {}, returned: () => {}, zombieReleased: () => {} };
 * const opts = { grantFrames: 4 };
 * const h = new HostState(
 *   new Engine(),
 *   new MachineMemory(64 << 20),
 *   PCIX_SDR_2006,
 *   new Prng(1),
 *   opts,
 *   hooks,
 * );
 * assert.deepEqual([h.opts.grantFrames, h.opts.autoDestroy, h.domains.size], [4, true, 0]);
 * ```
 */
export class HostState {
  /** Domains not yet dead, by domid. */
  readonly domains = new Map<number, Domain>();
  /** The mutable half of each such domain. */
  readonly cores = new Map<number, DomainCore>();
  /** Frames Xen took for each domain that is not yet dying. */
  readonly xenFrames = new Map<number, { sharedInfo: number; grantFrames: number }>();
  /** The next domid to hand out (never reused). */
  nextDomid = 1;
  /** Domains with an upcall already on the way (one at a time each). */
  readonly upcallScheduled = new DomidFlags();
  /** Added to the next upcall delay while a physical IRQ is being routed. */
  extraDelayNs = 0;
  /** Errors thrown by teardown hooks. */
  readonly hookErrors: unknown[] = [];
  /**
   * Faults: exceptions that were not a refusal (a bug in the model, caught
   * inside a hypercall or a teardown step), newest last, each as
   * `"<virtual ns> <where>: <error>"`.
   */
  readonly faultLog: string[] = [];
  /** Owner labels of dying domains' frames, to the domain (see {@link framesHeld}). */
  readonly dyingLabels = new Map<string, number>();
  /** Options with their defaults filled in. */
  readonly opts: Required<
    Omit<HypervisorOptions, "pic" | "xenstore" | "onHookError" | "cpuNoise" | "dom0Scheduler">
  >;
  /** Dom0's VCPUs (`vcpus.ts`): its hypercalls, upcalls and backend work run there. */
  readonly dom0Vcpus: VcpuPool;
  /** The detours of a domain's vCPU (noise on), see {@link HypervisorOptions.cpuNoise}. */
  readonly cpuNoise: ((domid: number) => CpuNoise | undefined) | undefined;
  /** Receives exceptions from teardown hooks. */
  readonly onHookError: (err: unknown) => void;
  /** Event channels of all domains. */
  readonly evtchn: EventChannels;
  /** Called back by the hypercall layer: see {@link HostEvents.returned}. */
  readonly returned: (domid: number) => void;
  /** Grant tables and mappings of all domains. */
  readonly grants: GrantTables;
  /** Device I/O pages mapped into guests. */
  readonly io: IoPages;
  /** The host's xenstore. */
  readonly xenstore: XenStore;
  /** Log-dirty mode of the domains being migrated. */
  readonly logDirty: LogDirty;
  /** Cumulative counters. */
  readonly c: HostCounters = {
    hypercalls: 0,
    byKind: new Map<string, number>(),
    evtchnSends: 0,
    sendsByKind: new Map<string, number>(),
    grantMaps: 0,
    grantUnmaps: 0,
    upcalls: 0,
    pirqsRouted: 0,
    pirqsUnbound: 0,
    guestUpcallErrors: 0,
    faults: 0,
  };

  /**
   * @param engine the engine (time, processes)
   * @param mem the host's machine memory
   * @param profile costs (`profile.xen.*`)
   * @param prng frame placement of each domain's memory
   * @param opts see {@link HypervisorOptions}
   * @param events see {@link HostEvents}
   */
  constructor(
    readonly engine: Engine,
    readonly mem: MachineMemory,
    readonly profile: Profile,
    readonly prng: Prng,
    opts: HypervisorOptions,
    events: HostEvents,
  ) {
    this.opts = {
      dom0MemoryBytes: opts.dom0MemoryBytes ?? 1 << 30,
      grantFrames: opts.grantFrames ?? 32,
      maxMaptrack: opts.maxMaptrack ?? 65536,
      nrPirqs: opts.nrPirqs ?? 256,
      autoDestroy: opts.autoDestroy ?? true,
    };
    this.cpuNoise = opts.cpuNoise;
    this.dom0Vcpus = new VcpuPool(engine, {
      count: profile.dom0.vcpus,
      sliceNs: profile.dom0.sliceNs,
      policy: opts.dom0Scheduler,
    });
    this.onHookError = opts.onHookError ?? ((err) =>
      queueMicrotask(() => {
        throw err;
      }));
    this.evtchn = new EventChannels((d) => events.kick(d), this.opts.nrPirqs);
    this.returned = (d) => events.returned(d);
    this.grants = new GrantTables(mem);
    this.io = new IoPages(mem);
    this.xenstore = new XenStore(opts.xenstore);
    this.logDirty = new LogDirty(mem, (domid) => this.frameLabels(domid)[0]);
    // A dying domain is dead when its last frame goes back to the heap,
    // whoever held it last (a mapper's unmap, a driver's MTT unpin).
    mem.onFrameFreed((_mfn, owner) => {
      const domid = this.dyingLabels.get(owner);
      if (domid !== undefined && this.framesHeld(domid) === 0) events.zombieReleased(domid);
    });
  }

  /**
   * The owner labels of `domid`'s frames: its memory (the address space's
   * owner label, `dom<id>`), its shared-info page and its grant-table frames.
   */
  frameLabels(domid: number): string[] {
    return [`dom${domid}`, `xen:shared_info:dom${domid}`, `xen:gnttab:dom${domid}`];
  }

  /** Frames of `domid` not yet back in the heap (Xen's `tot_pages` plus its Xen pages). */
  framesHeld(domid: number): number {
    let n = 0;
    for (const l of this.frameLabels(domid)) n += this.mem.ownedBy(l);
    return n;
  }

  /**
   * Record a fault — an exception that is not a {@link XenError} refusal,
   * caught at `where` (a hypercall, a teardown step) — and return the
   * refusal the caller gets instead: EIO. Counted, kept in
   * {@link faultLog}, and marked in the engine's trace (so it shows in the
   * trace hash; virtual time, so deterministic).
   */
  fault(where: string, err: unknown): XenError {
    this.c.faults++;
    const what = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    this.faultLog.push(`${this.engine.now} ${where}: ${what}`);
    if (this.faultLog.length > FAULT_LOG_SIZE) this.faultLog.shift();
    this.engine.traceMark("xen:fault");
    return new XenError("EIO", `${where}: internal error (${what})`);
  }
}
