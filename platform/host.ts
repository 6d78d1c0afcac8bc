/**
 * `Host`: one machine of the cluster — machine memory, an interrupt
 * controller, an HCA on the fabric — and the software platform that runs
 * on it: a bare-metal OS, or a Xen hypervisor with dom0 and guests.
 *
 * The platform is the extension point for virtualization: `Cluster.addHost`
 * builds the hardware ({@link HostHardware}) and hands it to the factory
 * registered for the host kind ({@link registerHostPlatform}): the cluster
 * registers "native" (`native_host.ts`) and "xen" (`xen_host.ts`); other
 * kinds can be added. A platform supplies the domains, their devices (the
 * kernel ABI behind `openDevice`), guest creation and the host's counters.
 *
 * @module
 */
import type { Engine } from "../sim/engine.ts";
import type { HostNoise } from "../sim/noise.ts";
import type { InterruptController } from "../sim/irq.ts";
import type { Prng } from "../sim/prng.ts";
import type { Profile } from "../sim/profiles/mod.ts";
import type { HcaStats, ResourceKind } from "../hca/device.ts";
import type { AuditViolation } from "../sim/frame_audit.ts";
import type { HcaDevice } from "../drivers/native/driver.ts";
import type { Domain } from "./domain.ts";
import { VerbsError } from "../drivers/uapi/errors.ts";
import type { WatchedMemory } from "./memory_watch.ts";
import type { NomadNetwork } from "../drivers/verbs/nomad_net.ts";
import type { IpoibNetwork } from "../drivers/verbs/ipoib.ts";

/**
 * What `cluster.addHost` takes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import type { HostSpec } from "./host.ts";
 * const spec: HostSpec = { name: "node1", hypervisor: false };
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost(spec);
 * assert.deepEqual([host.name, host.isXen, host.guests.length], ["node1", false, 0]);
 * ```
 */
export interface HostSpec {
  /** Unique name of the host (`node0`). */
  name: string;
  /** A Xen host (dom0 + backend) instead of a bare-metal OS. */
  hypervisor: boolean;
  /** Machine memory (default 4096 MiB; frames cost nothing until touched). */
  memoryMiB?: number;
  /**
   * Xen hosts: how dom0's VCPUs pick the next piece of work — "fair" (round robin across the
   * guests' backends, preemptive; the default) or "fifo" (run to completion in arrival order,
   * to show what fairness buys).
   */
  dom0Scheduler?: "fair" | "fifo";
  /**
   * HCA ports cabled to the cluster's switch, each with its own LID from the
   * subnet manager (default 1). The MT23108 InfiniHost is a dual-port HCA
   * (Mellanox MT23108 product brief: "dual-port 10Gb/s InfiniBand"; mthca
   * reads num_ports from QUERY_DEV_LIM), and so are ConnectX-7 dual-port
   * cards: `2` models the card with both ports cabled (`phys_port_cnt` 2),
   * the default a one-port device of the class.
   */
  ports?: 1 | 2;
  /**
   * Partitions: the P_Keys (16 bits, the high bit set for a full member) the subnet manager
   * puts in the P_Key table of the host's HCA ports after the default P_Key 0xffff at index 0,
   * in this order (OpenSM's partitions.conf naming the port). On a Xen host the ports are its
   * guests' as well: list every partition of its guests here, and each guest's
   * `GuestOptions.pkeys` says which of them dom0 lets it use. Default: none (the default
   * partition only).
   */
  pkeys?: number[];
  /**
   * The partition of the host kernel's IPoIB interface (the OS's, or dom0's): 0xffff (`ib0`, the
   * default) or one of `pkeys` (Linux's child interface `ib0.8001`). Its ARP and
   * connection-manager traffic and its rdma_cm QPs use that P_Key; only domains whose interface
   * is in a matching partition reach it by rdma_cm. A guest's interface is in its first
   * partition (`GuestOptions.pkeys[0]`).
   */
  ipoibPkey?: number;
}

/**
 * `host.counters()` (API.md): cumulative virtualization work; zeros on bare metal.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import { type HostCounters, zeroCounters } from "./host.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const bare = cluster.addHost({ name: "n0", hypervisor: false });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * await xen.createGuest({ name: "vm0", driver: "bypass" });
 * const c: HostCounters = xen.counters();
 * assert.equal(c.byKind.hypercalls["domctl:createdomain"], 1); // the toolstack built the guest
 * assert.equal(c.grantMaps, 2); // dom0 mapped the frontend's ring pages
 * assert.deepEqual(bare.counters(), zeroCounters()); // nothing to virtualize
 * ```
 */
export interface HostCounters {
  /** Hypercalls made on this host (every domain). */
  hypercalls: number;
  /** Event-channel notifications sent. */
  evtchnSends: number;
  /** Requests dom0's backends served. */
  backendRequests: number;
  /** Grant mappings dom0 made. */
  grantMaps: number;
  /** Time dom0's backends spent on requests and events (device waits included). */
  dom0BusyNs: number;
  /** Time dom0's VCPUs spent running its hypercalls, upcalls and backend work. */
  dom0CpuNs: number;
  /** Time that work waited for a free VCPU (contention between guests' backends). */
  dom0WaitNs: number;
  /** Requests the backends refused at a guest's quota or at dom0's headroom. */
  quotaRefusals: number;
  /**
   * Counters by kind: hypercalls by `op:subop`, event-channel sends by direction, backend
   * requests by vib operation, quota refusals by quota.
   */
  byKind: {
    hypercalls: Record<string, number>;
    evtchnSends: Record<string, number>;
    backendRequests: Record<string, number>;
    /** Refusals by quota (`pds`, `grantMaps`, …) or headroom pool (`dom0:uar`, …). */
    quotaRefusals: Record<string, number>;
  };
}

/**
 * Zero counters (a bare-metal host's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { zeroCounters } from "./host.ts";
 * assert.equal(zeroCounters().hypercalls, 0);
 * assert.deepEqual(zeroCounters().byKind.hypercalls, {});
 * ```
 */
export function zeroCounters(): HostCounters {
  return {
    hypercalls: 0,
    evtchnSends: 0,
    backendRequests: 0,
    grantMaps: 0,
    dom0BusyNs: 0,
    dom0CpuNs: 0,
    dom0WaitNs: 0,
    quotaRefusals: 0,
    byKind: { hypercalls: {}, evtchnSends: {}, backendRequests: {}, quotaRefusals: {} },
  };
}

/**
 * The HCA device as the platform's driver sees it, plus what the fabric needs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import type { HostHca } from "./host.ts";
 * const frame = (h: HostHca) => h.uarMfn(0);
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const hca: HostHca = cluster.addHost({ name: "n0", hypervisor: false }).hw.hca;
 * assert.equal(hca.uarMfn(1), frame(hca) + 1); // UAR pages: consecutive frames of the BAR
 * ```
 */
export interface HostHca extends HcaDevice {
  /** The device's name (`mthca0`). */
  readonly name: string;
}

/**
 * The hardware of one host, built by the cluster before the platform.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import type { HostHardware } from "./host.ts";
 * const ram = (hw: HostHardware) => hw.memory.frames;
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false, memoryMiB: 512 });
 * assert.equal(ram(host.hw), 512 * 256); // 4 KiB frames
 * ```
 */
export interface HostHardware {
  /** The host's name. */
  readonly name: string;
  /** The cluster's engine. */
  readonly engine: Engine;
  /** The cluster's cost profile. */
  readonly profile: Profile;
  /** A generator of this host's own (forked from the cluster's). */
  readonly rng: Prng;
  /** The cluster's seed, for named streams (`Prng.derive`) that draw from no other generator. */
  readonly seed: number;
  /** The host's machine memory (4 KiB frames, allocated when touched). */
  readonly memory: WatchedMemory;
  /**
   * The host's interrupt controller (the HCA's interrupt lines).
   *
   * @internal
   */
  readonly irq: InterruptController;
  /** The host's HCA. */
  readonly hca: HostHca;
  /**
   * The host's noise streams, when the cluster's noise is on (`sim/noise.ts`).
   *
   * @internal
   */
  readonly noise?: HostNoise;
  /** The management network's Nomad directory, when the cluster runs the layer. */
  readonly nomad?: NomadNetwork;
  /** The subnet's IPoIB link: each domain's kernel gets an address on it (`rdma_cm`). */
  readonly ipoib?: IpoibNetwork;
}

/**
 * Options of `host.createGuest` (API.md).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import type { GuestOptions } from "./host.ts";
 * const opts: GuestOptions = { name: "vm0", memoryMiB: 64, driver: "bypass" };
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest(opts);
 * assert.deepEqual([vm.name, xen.guests.length], ["vm0", 1]);
 * await assert.rejects(xen.createGuest(opts), /EEXIST/); // the name is taken
 * ```
 */
export interface GuestOptions {
  /** The guest's name, unique on its host (`EEXIST` otherwise). */
  name: string;
  /** The guest's memory in MiB (default 64). */
  memoryMiB?: number;
  /** "bypass" (Xen-IB) or "split". */
  driver?: "bypass" | "split";
  /**
   * Registration cache in the guest's contexts (default on): dom0 keeps the grant mappings of
   * deregistered regions (persistent grants); keys are invalidated at dereg either way.
   */
  regCache?: boolean;
  /**
   * Per-guest limits over the profile's `quota` defaults (`{ pds: 16, grantMaps: 4096 }`):
   * what dom0's backend lets this guest hold at once.
   */
  quota?: Partial<Record<QuotaName, number>>;
  /**
   * The partitions the guest's QPs may use: P_Keys of its host's table (`HostSpec.pkeys`, or
   * 0xffff). Dom0 refuses (EINVAL) a modify_qp whose `pkey_index` names an entry holding any
   * other, as it refuses an index past the table. Default `[0xffff]`: the default partition,
   * full member, alone.
   */
  pkeys?: number[];
}

/**
 * A per-guest quota's name (the profile's `quota` group: `contexts`, `pds`, `mrs`, `mrPages`,
 * `grantMaps`, `persistentGrants`, `cqs`, `cqes`, `qps`, `wqes`, `srqs`, `ahs`, `events`,
 * `shadowBytes`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import type { QuotaName } from "./host.ts";
 * import type { XenGuest } from "./xen_guest.ts";
 * const k: QuotaName = "pds";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass", quota: { [k]: 1 } }) as XenGuest;
 * await cluster.run(async () => {
 *   const ctx = await vm.openDevice();
 *   await ctx.allocPd();
 *   await assert.rejects(ctx.allocPd(), /over the guest's pds quota/);
 * });
 * assert.deepEqual(vm.quotaUsage()[k], { used: 1, limit: 1 });
 * ```
 */
export type QuotaName = keyof Profile["quota"];

/**
 * A guest domain: a `Domain` that can be shut down or crashed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import type { GuestDomain } from "./host.ts";
 * const stop = (vm: GuestDomain) => vm.shutdown();
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * await stop(await xen.createGuest({ name: "vm0", driver: "bypass" }));
 * assert.equal(xen.guests.length, 0);
 * ```
 */
export interface GuestDomain extends Domain {
  /** Clean teardown. */
  shutdown(): Promise<void>;
  /** Abrupt death: no frontend cooperation. */
  crash(): void;
}

/**
 * What a Xen platform exposes as `host.hypervisor` (refined by the Xen code).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import type { HypervisorLike } from "./host.ts";
 * const domains = (hv: HypervisorLike) => hv.stats().domains;
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * const bare = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * assert.equal(domains(xen.hypervisor!), 1); // dom0
 * await xen.createGuest({ name: "vm0", driver: "bypass" });
 * assert.equal(domains(xen.hypervisor!), 2);
 * assert.equal(bare.hypervisor, undefined);
 * ```
 */
export interface HypervisorLike {
  /** `{ domains, grantsMapped, evtchnsBound, framesAllocated, ioPagesMapped }` (API.md). */
  stats(): Record<string, number>;
}

/**
 * The software of a host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type HostPlatform, zeroCounters } from "./host.ts";
 * const idle: HostPlatform = { kind: "idle", guests: [], start: async () => {}, counters: zeroCounters };
 * await idle.start();
 * assert.equal(idle.createGuest, undefined); // it runs no guests
 * assert.equal(idle.counters().hypercalls, 0);
 * ```
 */
export interface HostPlatform {
  /** "native", "xen", … */
  readonly kind: string;
  /** The bare-metal OS (native platforms). */
  readonly os?: Domain;
  /** The privileged domain (Xen). */
  readonly dom0?: Domain;
  /** The hypervisor (Xen). */
  readonly hypervisor?: HypervisorLike;
  /** Guest domains now running. */
  readonly guests: readonly Domain[];
  /** Counts only the driver knows (PDs, AHs, user UARs), for `hca.stats()`. */
  swCounts?(): Partial<Record<ResourceKind, number>>;
  /** Bring the software up (driver init) during `cluster.start()`; runs in virtual time. */
  start(): Promise<void>;
  /** Create a guest (Xen). */
  createGuest?(opts: GuestOptions): Promise<GuestDomain>;
  /** `host.counters()`. */
  counters(): HostCounters;
  /** `host.audit()`: the platform's isolation audit (empty = clean). */
  audit?(): AuditViolation[];
  /**
   * Whether a context of `domain`, running on this host, holds device QP
   * `qpn` now, as the host's HCA driver records it (the Nomad directory
   * accepts a library's physical address only then).
   */
  holdsQp?(domain: Domain, qpn: number): boolean;
}

/**
 * Builds the platform of a host from its hardware.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import { type HostPlatformFactory, zeroCounters } from "./host.ts";
 * const f: HostPlatformFactory = () => ({ kind: "idle", guests: [], start: async () => {}, counters: zeroCounters });
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const { hw } = cluster.addHost({ name: "n0", hypervisor: false });
 * assert.equal(f(hw, { name: "n0", hypervisor: false }).kind, "idle");
 * ```
 */
export type HostPlatformFactory = (hw: HostHardware, spec: HostSpec) => HostPlatform;

const PLATFORMS = new Map<string, HostPlatformFactory>();

/**
 * Register the platform for a host kind: "native" (`hypervisor: false`) or
 * "xen" (`hypervisor: true`). A later registration replaces an earlier one;
 * the returned function restores what was there before.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import { registerHostPlatform, zeroCounters } from "./host.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const restore = registerHostPlatform("native", (_hw) => ({
 *   kind: "toy", guests: [], start: async () => {}, counters: zeroCounters,
 * }));
 * try {
 *   assert.equal(cluster.addHost({ name: "n0", hypervisor: false }).platform.kind, "toy");
 * } finally {
 *   restore();
 * }
 * assert.equal(cluster.addHost({ name: "n1", hypervisor: false }).platform.kind, "native");
 * ```
 */
export function registerHostPlatform(kind: string, factory: HostPlatformFactory): () => void {
  const before = PLATFORMS.get(kind);
  PLATFORMS.set(kind, factory);
  return () => {
    if (before) PLATFORMS.set(kind, before);
    else PLATFORMS.delete(kind);
  };
}

/**
 * The factory for `kind`, or a clear error if none is registered.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hostPlatformFactory } from "./host.ts";
 * assert.throws(() => hostPlatformFactory("kvm"), /ENOSYS: no 'kvm' host platform registered/);
 * ```
 */
export function hostPlatformFactory(kind: string): HostPlatformFactory {
  const f = PLATFORMS.get(kind);
  if (!f) {
    throw new VerbsError(
      "ENOSYS",
      `no '${kind}' host platform registered (see registerHostPlatform in platform/host.ts)`,
    );
  }
  return f;
}

/**
 * `host.hca`: the device with statistics that include what only the driver
 * counts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, QpType } from "../mod.ts";
 * import type { HcaHandle } from "./host.ts";
 * const qps = (h: HcaHandle) => h.stats().used.qp;
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * const before = qps(host.hca);
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   const cq = await ctx.createCq(4);
 *   const cap = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
 *   await (await ctx.allocPd()).createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
 * });
 * assert.equal(qps(host.hca), before + 1);
 * ```
 */
export class HcaHandle {
  /**
   * `host.hca`: the device and the platform whose driver counts its resources.
   *
   * @param device the HCA device
   * @param platform the host's software (its driver's counts)
   */
  constructor(readonly device: HostHca, private platform: () => HostPlatform) {}

  /** Device name. */
  get name(): string {
    return this.device.name;
  }

  /** Used and free resources, rejected doorbells, packets (API.md). */
  stats(): HcaStats {
    return this.device.stats(this.platform().swCounts?.() ?? {});
  }
}

/**
 * A host of the cluster.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * assert.equal(host.name, "n0");
 * assert.equal(host.counters().hypercalls, 0); // bare metal
 * assert.throws(() => host.dom0, /EINVAL: n0 is a native host: no dom0/);
 * ```
 */
export class Host {
  /** The host's name (`HostSpec.name`). */
  readonly name: string;
  /** The hardware. */
  readonly hw: HostHardware;
  /** The software. */
  readonly platform: HostPlatform;
  /** `host.hca` (API.md). */
  readonly hca: HcaHandle;

  /**
   * Build the host's platform (bare metal or Xen) on its hardware.
   *
   * @param hw the host's hardware
   * @param spec what was asked for
   */
  constructor(hw: HostHardware, spec: HostSpec) {
    this.name = spec.name;
    this.hw = hw;
    this.platform = hostPlatformFactory(spec.hypervisor ? "xen" : "native")(hw, spec);
    this.hca = new HcaHandle(hw.hca, () => this.platform);
  }

  /** The bare-metal OS (a `Domain`); a Xen host has `dom0` and guests instead. */
  get os(): Domain {
    const os = this.platform.os;
    if (!os) {
      throw new VerbsError(
        "EINVAL",
        `${this.name} is a ${this.platform.kind} host: it has no bare-metal os (use dom0 or a guest)`,
      );
    }
    return os;
  }

  /** The privileged domain of a Xen host. */
  get dom0(): Domain {
    const d = this.platform.dom0;
    if (!d) throw new VerbsError("EINVAL", `${this.name} is a ${this.platform.kind} host: no dom0`);
    return d;
  }

  /** The hypervisor (Xen hosts only). */
  get hypervisor(): HypervisorLike | undefined {
    return this.platform.hypervisor;
  }

  /** Guests running on this host (none on bare metal). */
  get guests(): readonly Domain[] {
    return this.platform.guests;
  }

  /** True for a Xen host. */
  get isXen(): boolean {
    return this.platform.kind === "xen";
  }

  /** Create a guest domain (Xen hosts). */
  async createGuest(opts: GuestOptions): Promise<GuestDomain> {
    if (!this.platform.createGuest) {
      throw new VerbsError(
        "EOPNOTSUPP",
        `${this.name} is a ${this.platform.kind} host: it cannot run guests`,
      );
    }
    if (typeof opts !== "object" || opts === null) {
      throw new VerbsError(
        "EINVAL",
        `createGuest on ${this.name}: give GuestOptions { name, … }, got ${opts}`,
      );
    }
    return await this.platform.createGuest(opts);
  }

  /** Cumulative virtualization counters (zeros on bare metal). */
  counters(): HostCounters {
    return this.platform.counters();
  }

  /**
   * The isolation audit of this host (cheap enough to run after every
   * test): machine frames' reference counts against every reference found
   * (address spaces, the hypervisor's records, the driver's MTT pins), the
   * device's MTT against those pins, and on a Xen host the hypervisor's
   * rules (`hypervisor/audit.ts`). Returns the violations; empty = clean.
   */
  audit(): AuditViolation[] {
    return this.platform.audit?.() ?? [];
  }
}
