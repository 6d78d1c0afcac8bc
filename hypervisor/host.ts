/**
 * The state one host's hypervisor modules share: live domains and their
 * mutable cores, the frames Xen holds for each, the grant tables, event
 * channels, I/O pages and xenstore, and the cumulative counters. It is a
 * plain record so that the hypercall layer, domain lifecycle and the typed
 * API can each own their logic without owning the data.
 *
 * @module
 */
import type { Engine } from "../sim/engine.ts";
import type { MachineMemory } from "../sim/memory.ts";
import type { Prng } from "../sim/prng.ts";
import type { Profile } from "../sim/profiles/schema.ts";
import type { InterruptController } from "../sim/irq.ts";
import type { Domain, DomainCore } from "./domain.ts";
import { EventChannels } from "./event_channel.ts";
import { GrantTables } from "./grant_table.ts";
import { IoPages } from "./io_page.ts";
import { XenStore, type XenStoreOptions } from "./xenstore.ts";

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
 * Cumulative counters as kept (maps, not yet sorted records).
 *
 * @example
 * ```ts
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { HostState } from "./host.ts";
 * import type { HostCounters } from "./host.ts";
 * const hooks = { kick: () => {}, zombieReleased: () => {} };
 * const h = new HostState(new Engine(), new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1), {}, hooks);
 * const c: HostCounters = h.c;
 * console.log(c.hypercalls, c.byKind.size); // 0 0
 * ```
 */
export interface HostCounters {
  hypercalls: number;
  byKind: Map<string, number>;
  evtchnSends: number;
  sendsByKind: Map<string, number>;
  grantMaps: number;
  grantUnmaps: number;
  upcalls: number;
  pirqsRouted: number;
  pirqsUnbound: number;
}

/**
 * What the shared state calls back into: event delivery (a port needs a
 * kick) and lifecycle (a dying domain's last foreign-mapped frame went).
 * Callbacks rather than imports, so the state does not depend on the
 * modules that use it.
 *
 * @example
 * ```ts
 * import type { HostEvents } from "./host.ts";
 * const kicked: number[] = [];
 * const events: HostEvents = { kick: (d) => kicked.push(d), zombieReleased: () => {} };
 * events.kick(3);
 * console.log(kicked); // [ 3 ]
 * ```
 */
export interface HostEvents {
  /** A send to `domid` needs an upcall. */
  kick(domid: number): void;
  /** The last frame a dying `domid` left mapped was unmapped. */
  zombieReleased(domid: number): void;
}

/**
 * The shared state of one host's hypervisor (see the module doc).
 *
 * @example
 * ```ts
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { HostState } from "./host.ts";
 * const hooks = { kick: () => {}, zombieReleased: () => {} };
 * const opts = { grantFrames: 4 };
 * const h = new HostState(new Engine(), new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1), opts, hooks);
 * console.log(h.opts.grantFrames, h.opts.autoDestroy, h.domains.size); // 4 true 0
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
  readonly upcallScheduled = new Set<number>();
  /** Added to the next upcall delay while a physical IRQ is being routed. */
  extraDelayNs = 0;
  /** Errors thrown by teardown hooks. */
  readonly hookErrors: unknown[] = [];
  /** Options with their defaults filled in. */
  readonly opts: Required<Omit<HypervisorOptions, "pic" | "xenstore" | "onHookError">>;
  /** Receives exceptions from teardown hooks. */
  readonly onHookError: (err: unknown) => void;
  /** Event channels of all domains. */
  readonly evtchn: EventChannels;
  /** Grant tables and mappings of all domains. */
  readonly grants: GrantTables;
  /** Device I/O pages mapped into guests. */
  readonly io: IoPages;
  /** The host's xenstore. */
  readonly xenstore: XenStore;
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
    this.onHookError = opts.onHookError ?? ((err) =>
      queueMicrotask(() => {
        throw err;
      }));
    this.evtchn = new EventChannels((d) => events.kick(d), this.opts.nrPirqs);
    this.grants = new GrantTables(mem, (d) => events.zombieReleased(d));
    this.io = new IoPages(mem);
    this.xenstore = new XenStore(opts.xenstore);
  }
}
