/**
 * The Xen host platform (`cluster.addHost({ hypervisor: true })`): the
 * hypervisor on the host's hardware, dom0 running the native HCA driver
 * (the HCA's interrupt vectors bound to dom0 as physical IRQs, so device
 * interrupts reach the driver through the hypervisor), the backend driver
 * that serves guests' frontends, and the toolstack that creates guests.
 *
 * The cluster builds it for `hypervisor: true` hosts (`cluster.ts`
 * registers {@link xenPlatform} as the "xen" host kind). Importing this
 * module registers the split baseline's user-level provider, so split-mode
 * guests' devices bind to it.
 *
 * @module
 */
import { Prng } from "../sim/prng.ts";
import type { BackendDatapath } from "../drivers/back/datapath.ts";
import { VibBackDriver } from "../drivers/back/watcher.ts";
import type { HcaDriver } from "../drivers/native/driver.ts";
import { NativeUverbsDevice } from "../drivers/native/uverbs_native.ts";
import { SPLIT_PROVIDER } from "../drivers/split/front.ts";
import { SPLIT_DATAPATH } from "../drivers/split/ops.ts";
import { VerbsError } from "../drivers/uapi/errors.ts";
import { registerProvider } from "../drivers/verbs/providers.ts";
import { VIB_KEYS } from "../drivers/vib/mod.ts";
import { Dom0Heap, sealDom0Space } from "../drivers/back/dom0_heap.ts";
import { type Quota, QUOTA_KINDS, quotaWith } from "../drivers/back/quota.ts";
import { pkeysKey } from "../drivers/back/vibback.ts";
import { checkPkeyList, DEFAULT_PKEY, pkeyText } from "../hca/pkey.ts";
import { EventDispatcher } from "../drivers/xen/evtchn.ts";
import { createXenbusDevice } from "../drivers/xen/xenbus.ts";
import type { ResourceKind } from "../hca/device.ts";
import { Hypervisor } from "../hypervisor/hypervisor.ts";
import type { AuditViolation } from "../sim/frame_audit.ts";
import { Domain } from "./domain.ts";
import type { GuestOptions, HostCounters, HostHardware, HostPlatform, HostSpec } from "./host.ts";
import { hostDriver } from "./native_host.ts";
import { asVerbsError, inEngine, xenKernelName } from "./util.ts";
import { type QuotaUsage, XenGuest } from "./xen_guest.ts";

/** The datapaths through dom0 the backend serves, by the toolstack's `mode`. */
const DATAPATHS: ReadonlyMap<string, BackendDatapath> = new Map([["split", SPLIT_DATAPATH]]);

/** Dom0's memory (its P2M; frames are taken lazily). */
const DOM0_BYTES = 1 << 30;
/** Dom0's backend heap (split-mode shadow queues). */
const DOM0_HEAP_BYTES = 16 << 20;

/**
 * A Xen host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import { XenPlatform } from "./xen_host.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * assert.ok(xen.platform instanceof XenPlatform);
 * const vm = await xen.createGuest({ name: "vm0", memoryMiB: 64, driver: "bypass" });
 * assert.deepEqual(vm.devices(), ["mthca0"]); // the guest's vib device, named after the HCA
 * assert.deepEqual(xen.dom0.devices(), ["mthca0"]); // dom0 runs the HCA's driver
 * ```
 */
export class XenPlatform implements HostPlatform {
  readonly kind = "xen";
  /** The hypervisor. */
  readonly hv: Hypervisor;
  /** Dom0 as a verbs domain (its processes use the device natively). */
  readonly dom0: Domain;
  /**
   * The native HCA driver, in dom0's kernel.
   *
   * @internal
   */
  readonly driver: HcaDriver;
  /**
   * Dom0's backend driver (after start).
   *
   * @internal
   */
  backend: VibBackDriver | undefined;
  #guests: XenGuest[] = [];
  #heap: Dom0Heap | undefined;
  #dom0Device: NativeUverbsDevice | undefined;

  /**
   * Boot Xen on the host's hardware: the hypervisor, dom0 with its HCA driver and the backend.
   *
   * @param hw the host's hardware
   * @param spec the host's description
   */
  constructor(readonly hw: HostHardware, spec: HostSpec) {
    const sched = spec.dom0Scheduler ?? "fair";
    if (sched !== "fair" && sched !== "fifo") {
      throw new VerbsError(
        "EINVAL",
        `addHost ${spec.name}: dom0Scheduler '${String(sched)}' (use fair or fifo)`,
      );
    }
    this.hv = new Hypervisor(hw.engine, hw.memory, hw.profile, hw.rng.fork(), {
      dom0Scheduler: sched,
      dom0MemoryBytes: DOM0_BYTES,
      pic: hw.irq,
      cpuNoise: hw.noise ? (domid) => hw.noise!.cpu(xenKernelName(this.hv, domid)) : undefined,
    });
    const space = this.hv.dom0.memory;
    this.dom0 = new Domain({
      name: `${hw.name}-dom0`,
      domid: 0,
      engine: hw.engine,
      profile: hw.profile,
      space,
      machine: hw.memory,
      noise: hw.noise?.cpu(xenKernelName(this.hv, 0)),
      nomad: hw.nomad,
      ipoib: hw.ipoib,
      ipoibPkey: spec.ipoibPkey,
      rng: Prng.derive(hw.seed, `${hw.name}/dom0/user`),
    });
    this.driver = hostDriver(hw, space);
  }

  /** The hypervisor (`host.hypervisor`). */
  get hypervisor(): Hypervisor {
    return this.hv;
  }

  /** Guests running now. */
  get guests(): readonly XenGuest[] {
    return this.#guests;
  }

  /**
   * Dom0's own contexts hold their QPs as owner 0; a guest's are opened by
   * dom0's backend for the guest's domid (`drivers/back/ops.ts`), which is
   * this host's domid of the guest only while the guest runs here.
   */
  holdsQp(domain: Domain, qpn: number): boolean {
    const owner = this.driver.qpOwner(qpn);
    if (domain === this.dom0) return owner === 0;
    return this.#guests.some((g) => g === domain) && owner === domain.domid;
  }

  /**
   * Dom0's backend heap (after start).
   *
   * @internal
   */
  get heap(): Dom0Heap {
    if (!this.#heap) throw new VerbsError("ENXIO", `${this.hw.name}: dom0 has not booted`);
    return this.#heap;
  }

  /**
   * Dom0 boot: the HCA driver, the physical IRQs of its event queues bound
   * to dom0's event channels, the backend heap, the backend driver.
   */
  async start(): Promise<void> {
    if (this.driver.ready) return;
    const hv = this.hv, dom0 = hv.dom0;
    await this.driver.init();
    const events = EventDispatcher.of(dom0);
    const v = this.driver.vectors;
    for (const vector of new Set([v.comp, v.async])) {
      const port = await hv.evtchnBindPirq(dom0, vector);
      events.bind(port, () => this.driver.handleInterrupt(vector));
    }
    this.#dom0Device = new NativeUverbsDevice(this.driver, dom0.memory);
    this.dom0.addDevice(this.#dom0Device);
    this.#heap = Dom0Heap.reserve(dom0.memory, DOM0_HEAP_BYTES);
    sealDom0Space(dom0.memory, this.#heap.end, this.hw.hca.uarMfn(0));
    this.backend = new VibBackDriver({
      engine: this.hw.engine,
      profile: this.hw.profile,
      hv,
      driver: this.driver,
      /** @internal */
      heap: this.#heap,
      events,
      datapaths: DATAPATHS,
    });
    this.backend.start();
  }

  swCounts(): Partial<Record<ResourceKind, number>> {
    return this.driver.swCounts();
  }

  /**
   * `host.audit()`: the hypervisor's audit with the driver's MTT pins as the
   * device's references (each must be dom0's frame or one a guest granted
   * and dom0 still maps), plus the device's MTT against those pins.
   */
  audit(): AuditViolation[] {
    const deviceReferences = [...this.driver.pinnedFrames()].map((p) => ({
      mfn: p.mfn,
      holder: `${this.driver.name} MTT entry ${p.mtt}`,
    }));
    return [
      ...this.hv.audit({ deviceReferences }),
      ...this.driver.auditMtt().map((message) => ({ rule: "device-mtt", message })),
    ];
  }

  /**
   * The toolstack: create the domain, the vib device in xenstore (the
   * backend driver notices it), and boot the guest's frontend.
   */
  createGuest(opts: GuestOptions): Promise<XenGuest> {
    const engine = this.hw.engine;
    return inEngine(engine, `create ${opts.name}`, async () => {
      if (!this.backend) throw new VerbsError("ENXIO", `${this.hw.name}: start the cluster first`);
      const mode = opts.driver ?? "bypass";
      if (mode !== "bypass" && mode !== "split") {
        throw new VerbsError(
          "EINVAL",
          `createGuest ${opts.name}: driver '${mode}' (use bypass or split)`,
        );
      }
      let quota;
      try {
        quota = quotaWith(this.hw.profile.quota, opts.quota);
      } catch (e) {
        throw new VerbsError(
          "EINVAL",
          `createGuest ${opts.name}: ${(e as Error).message.replace(/^EINVAL: /, "")}`,
        );
      }
      let pkeys: number[] | undefined;
      if (opts.pkeys !== undefined) {
        try {
          pkeys = checkPkeyList(opts.pkeys, "pkeys");
          // The toolstack assigns only partitions the subnet manager gave the host's ports.
          const table = this.hw.hca.pkeys?.(1) ?? [DEFAULT_PKEY];
          const i = pkeys.findIndex((k) => !table.includes(k));
          if (i >= 0) {
            throw new RangeError(
              `pkeys[${i}]: ${
                pkeyText(pkeys[i])
              } is not in ${this.hw.name}'s P_Key table (add it to the host's pkeys)`,
            );
          }
        } catch (e) {
          throw new VerbsError("EINVAL", `createGuest ${opts.name}: ${(e as Error).message}`);
        }
      }
      const mib = opts.memoryMiB ?? 64;
      if (typeof mib !== "number" || !Number.isFinite(mib) || mib <= 0) {
        throw new VerbsError(
          "EINVAL",
          `createGuest ${opts.name}: memoryMiB must be a positive number of MiB, got ${
            typeof mib === "string" ? JSON.stringify(mib) : String(mib)
          }`,
        );
      }
      let xd;
      try {
        // A multiplication, not `<< 20`: a shift works on 32-bit integers, and 2048 MiB and
        // up wrapped to a negative or zero size. domctl:createdomain checks the byte count.
        const memoryBytes = Math.round(mib * 1024 * 1024);
        xd = await this.hv.createDomain(this.hv.dom0, { name: opts.name, memoryBytes });
      } catch (e) {
        throw asVerbsError(e, `createGuest ${opts.name}`);
      }
      const p = this.createVibDevice(xd.domid, mode, quota, pkeys);
      const guest = new XenGuest(this, xd, p, { ...opts, driver: mode, pkeys }, quota);
      try {
        await guest.boot();
      } catch (e) {
        await this.hv.destroyDomain(this.hv.dom0, xd.domid).catch(() => {});
        throw e;
      }
      this.#guests.push(guest);
      return guest;
    });
  }

  /**
   * The toolstack's half of a vib device for guest `domid` (a new guest, a
   * migrated one arriving, or one resuming where it was): both xenstore
   * directories in state Initialising, the physical device's name and PCI
   * ids, the guest's quotas and partitions (where only dom0 may write; the
   * backend reads them when it starts; no `pkeys` key for the default
   * partition alone) and, last, the mode; the backend driver notices it.
   *
   * @internal
   */
  createVibDevice(
    domid: number,
    mode: "bypass" | "split",
    quota: Quota,
    pkeys?: readonly number[],
  ): { frontend: string; backend: string } {
    const xs = this.hv.xenstore;
    const p = createXenbusDevice(xs, { type: "vib", frontDomid: domid, backDomid: 0, devid: 0 });
    const id = this.#dom0Device!.identity;
    const hex = (n = 0) => `0x${n.toString(16).padStart(4, "0")}`;
    xs.write(0, `${p.backend}/${VIB_KEYS.deviceName}`, this.driver.name);
    xs.write(0, `${p.backend}/${VIB_KEYS.pciVendor}`, hex(id.pciVendor));
    xs.write(0, `${p.backend}/${VIB_KEYS.pciDevice}`, hex(id.pciDevice));
    for (const k of QUOTA_KINDS) {
      xs.write(0, `${p.backend}/${VIB_KEYS.quota}/${k}`, String(quota[k]));
    }
    if (pkeys) xs.write(0, `${p.backend}/${VIB_KEYS.pkeys}`, pkeysKey(pkeys));
    // libxl writes `online` 1 with the backend's entries: the device stays for a frontend that
    // closes it and probes it again.
    xs.write(0, `${p.backend}/${VIB_KEYS.online}`, "1");
    xs.write(0, `${p.backend}/${VIB_KEYS.mode}`, mode);
    return p;
  }

  /** @internal a guest migrated here */
  adopt(g: XenGuest): void {
    if (!this.#guests.includes(g)) this.#guests.push(g);
  }

  /** What the backend counts `domid` holding against its quotas (undefined: no instance). */
  quotaUsage(domid: number): QuotaUsage | undefined {
    const l = this.backend?.instances().get(domid)?.ledger;
    if (!l) return undefined;
    return Object.fromEntries(
      QUOTA_KINDS.map((k) => [k, { used: l.used[k], limit: l.limit[k] }]),
    ) as QuotaUsage;
  }

  /** Resolves when the backend instance serving `domid` has torn down (undefined: none). */
  backendDone(domid: number): Promise<void> | undefined {
    return this.backend?.instances().get(domid)?.finished;
  }

  /** @internal a guest is gone */
  forget(g: XenGuest): void {
    this.#guests = this.#guests.filter((x) => x !== g);
  }

  /** Hypercalls, event-channel sends, backend requests, grant maps and dom0 time (API.md). */
  counters(): HostCounters {
    const c = this.hv.counters();
    const b = this.backend?.stats ?? { requests: 0, byKind: {}, busyNs: 0, refusedByLimit: {} };
    const v = this.hv.dom0Vcpus.stats();
    const refused = Object.entries(b.refusedByLimit).sort(([x], [y]) => (x < y ? -1 : 1));
    return {
      hypercalls: c.hypercalls,
      evtchnSends: c.evtchnSends,
      backendRequests: b.requests,
      grantMaps: c.grantMaps,
      dom0BusyNs: b.busyNs,
      dom0CpuNs: v.busyNs,
      dom0WaitNs: v.waitNs,
      quotaRefusals: refused.reduce((n, [, k]) => n + k, 0),
      byKind: {
        hypercalls: { ...c.byKind },
        evtchnSends: { ...c.evtchnSendsByKind },
        backendRequests: { ...b.byKind },
        quotaRefusals: Object.fromEntries(refused),
      },
    };
  }
}

/**
 * The factory registered for `hypervisor: true` hosts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import { registerHostPlatform } from "./host.ts";
 * import { XenPlatform, xenPlatform } from "./xen_host.ts";
 * const restore = registerHostPlatform("xen", xenPlatform); // what the cluster does
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * assert.ok(cluster.addHost({ name: "xen0", hypervisor: true }).platform instanceof XenPlatform);
 * restore();
 * ```
 */
export function xenPlatform(hw: HostHardware, spec: HostSpec): HostPlatform {
  return new XenPlatform(hw, spec);
}

registerProvider(SPLIT_PROVIDER);
