/**
 * `Cluster` (API.md): the simulated machine room — one engine and seeded
 * PRNG, a fabric with one switch that connects every host, and the hosts.
 * `start()` wires the hosts to the switch, brings up each host's software
 * (the HCA driver) and runs the subnet manager (LIDs assigned, ports
 * ACTIVE); `run()` executes a program in virtual time.
 *
 * @module
 */
import { Fabric } from "../hca/fabric.ts";
import { Hca } from "../hca/device.ts";
import { SubnetManager } from "../hca/subnet_manager.ts";
import { DEFAULT_PKEY, partitionTable, pkeyMatch, pkeyText } from "../hca/pkey.ts";
import type { SwitchNode } from "../hca/switch.ts";
import { Engine } from "../sim/engine.ts";
import { InterruptController } from "../sim/irq.ts";
import { HostNoise, NOISE_MODES, type NoiseMode } from "../sim/noise.ts";
import { Prng } from "../sim/prng.ts";
import { type Profile, PROFILES, resolveProfile } from "../sim/profiles/mod.ts";
import { nativePlatform } from "./native_host.ts";
import { CpuClock } from "./cpu.ts";
import { requireRun } from "./domain.ts";
import { inEngine } from "./util.ts";
import { VerbsError } from "../drivers/uapi/errors.ts";
import { Host, type HostHardware, type HostSpec, registerHostPlatform } from "./host.ts";
import { WatchedMemory } from "./memory_watch.ts";
import { NomadNetwork } from "../drivers/verbs/nomad_net.ts";
import { IpoibNetwork } from "../drivers/verbs/ipoib.ts";
import type { PathRecord } from "../drivers/verbs/cm_mad.ts";
import { ManagementNetwork } from "./mgmt_net.ts";
import {
  migrateGuest,
  type MigrateOptions,
  migrateOptions,
  type MigrationResult,
} from "./migration.ts";
import type { Domain } from "./domain.ts";
import type { GuestDomain } from "./host.ts";
import { XenGuest } from "./xen_guest.ts";
import { XenPlatform, xenPlatform } from "./xen_host.ts";

/** External ports of the one switch every host is cabled to: 1..254 (255 is "no port"). */
const MAX_SWITCH_PORTS = 254;

/** Bytes in a MiB. */
const MIB = 1024 * 1024;
/** The largest seed: the PRNG's seeds are 32-bit. */
const MAX_SEED = 0xffffffff;

// The built-in host kinds: `hypervisor: false` and `hypervisor: true`.
registerHostPlatform("native", nativePlatform);
registerHostPlatform("xen", xenPlatform);

/**
 * Options of {@link Cluster}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, type ClusterOptions } from "./cluster.ts";
 * const o: ClusterOptions = { profile: "modern-gen5-ndr", seed: 42 };
 * const cluster = new Cluster(o);
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * const again = new Cluster(o); // same options, same run
 * const twin = again.addHost({ name: "n0", hypervisor: false });
 * await again.start();
 * assert.equal(cluster.engine.now, again.engine.now);
 * assert.deepEqual(host.hca.stats(), twin.hca.stats());
 * ```
 */
export interface ClusterOptions {
  /** A built-in profile name, a `Profile`, or a plain object with overrides (and `base`). */
  profile: string | Profile | Record<string, unknown>;
  /**
   * Seed of the cluster's PRNG, a whole number 0..4294967295: same program +
   * seed ⇒ same run; each seed draws its own stream.
   */
  seed: number;
  /** Keep a readable engine trace. */
  recordTrace?: boolean;
  /** Count the engine's events by kind (`cluster.engine.eventCounts()`). */
  countEvents?: boolean;
  /**
   * Draw the profile's noise (`noise` group: OS detours of every kernel,
   * DMA jitter; `sim/noise.ts`) from the seed: "on" gives samples a spread
   * (and `seed` a meaning for it); "off" (the default) gives exact,
   * repeatable figures. Same seed, same samples either way.
   */
  noise?: NoiseMode;
  /**
   * Run Nomad's namespace virtualization in every domain's verbs library
   * (Huang et al., VEE 2007; `drivers/verbs/nomad_file.ts`): virtual QP
   * numbers, keys and LIDs that survive a live migration, translated on the
   * fast path at `cpu.handleLookupNs` a handle. Needed to migrate a guest
   * with open RDMA contexts, by it and by its peers. Default off (no
   * translation, no cost).
   */
  nomad?: boolean;
}

/**
 * A cluster of hosts on one switch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "node1", hypervisor: false });
 * await cluster.start();
 * const lid = await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   return ctx.queryPort(1).lid;
 * });
 * assert.ok(lid > 0); // the subnet manager gave the port a LID
 * ```
 */
export class Cluster {
  /** The engine: virtual time, events, processes (`now`, `traceHash()`). */
  readonly engine: Engine;
  /** The cost profile every host charges (resolved from `ClusterOptions.profile`). */
  readonly profile: Profile;
  /** The cluster's one seeded PRNG; every host forks its own stream from it. */
  readonly rng: Prng;
  /** The InfiniBand fabric: ports, links, the switch, captures and fault rules. */
  readonly fabric: Fabric;
  /** The seed the cluster was built with. */
  readonly seed: number;
  /** Whether the noise model is on. */
  readonly noise: NoiseMode;
  /** The management network's directory of the Nomad layers (when `nomad` is on). */
  readonly nomadNet: NomadNetwork | undefined;
  /** The management network's ports (live migration streams). */
  readonly mgmt: ManagementNetwork;
  /**
   * The subnet's IPoIB link: every domain gets an address (10.0.0.1, … in
   * the order they are created); the subnet administrator answers from the
   * subnet manager's node (the first host's OS or dom0).
   */
  readonly ipoib: IpoibNetwork;
  #hosts: Host[] = [];
  /** Each host's HCA, to find the host behind a LID. */
  #hcaHost: [Hca, Host][] = [];
  #switch: SwitchNode | undefined;
  #sm: SubnetManager | undefined;
  /** The partitions of each host's ports (`HostSpec.pkeys`), for the subnet manager. */
  #pkeys = new Map<Host, number[]>();
  #started = false;
  #running = 0;

  /**
   * A cluster with no hosts yet: `addHost`, then `start`.
   *
   * @param opts see {@link ClusterOptions}
   */
  constructor(opts: ClusterOptions) {
    if (opts === null || typeof opts !== "object") {
      throw new VerbsError("EINVAL", "Cluster: options { profile, seed } are required");
    }
    if (opts.profile === undefined) {
      // docs/api.md: `profile` is required (there is no default to fall back on silently).
      throw new VerbsError(
        "EINVAL",
        `Cluster: profile is missing (a built-in name: ${
          Object.keys(PROFILES).join(", ")
        }; a Profile; or an object with base and overrides)`,
      );
    }
    this.profile = resolveProfile(opts.profile as string | Profile);
    const noise = opts.noise ?? "off";
    if (!NOISE_MODES.includes(noise)) {
      throw new VerbsError(
        "EINVAL",
        `Cluster: noise must be "on" or "off", got ${JSON.stringify(noise)}`,
      );
    }
    // The PRNG's seed space is 32 bits (sim/prng.ts folds a wider seed into it: -1 ran as 0, 2^32
    // as 1): a seed outside it would repeat another seed's run. The tools' --seed has this range.
    if (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed > MAX_SEED) {
      throw new VerbsError(
        "EINVAL",
        `Cluster: seed must be a whole number 0..${MAX_SEED}, got ${opts.seed}`,
      );
    }
    this.noise = noise;
    this.seed = opts.seed;
    if (opts.nomad !== undefined && typeof opts.nomad !== "boolean") {
      throw new VerbsError("EINVAL", `Cluster: nomad must be true or false, got ${opts.nomad}`);
    }
    this.engine = new Engine({ recordTrace: opts.recordTrace, countEvents: opts.countEvents });
    this.rng = new Prng(opts.seed);
    this.fabric = new Fabric(this.engine, { profile: this.profile, prng: this.rng.fork() });
    this.nomadNet = opts.nomad
      ? new NomadNetwork(
        this.engine,
        () => this.profile.migration.netLatencyNs,
        (domain, phys) => this.#holdsQp(domain, phys),
      )
      : undefined;
    this.mgmt = new ManagementNetwork(this.engine, this.profile);
    this.ipoib = new IpoibNetwork();
    this.ipoib.gidOf = (lid) => this.fabric.portByLid(lid)?.gid;
    this.ipoib.pathResolver = (q) => pathRecord(this.fabric, q);
  }

  /**
   * The Nomad directory's ownership oracle: the host whose HCA answers to
   * `phys.lid`, and whether its driver handed QPN `phys.qpn` to a context of
   * `domain` running there (LID 0 and unknown LIDs belong to nobody).
   */
  #holdsQp(domain: object, phys: { lid: number; qpn: number }): boolean {
    const port = phys.lid === 0 ? undefined : this.fabric.portByLid(phys.lid);
    if (!port) return false;
    const at = this.#hcaHost.find(([hca]) => hca.port(1) === port || hca.port(2) === port);
    return at?.[1].platform.holdsQp?.(domain as Domain, phys.qpn) ?? false;
  }

  /** Hosts in order of addition. */
  get hosts(): readonly Host[] {
    return this.#hosts;
  }

  /** The switch (after {@link start}). */
  get switch(): SwitchNode | undefined {
    return this.#switch;
  }

  /**
   * The subnet manager (after {@link start}): its SA answers multicast joins
   * (`joinMulticast(mgid, port)` gives the MLID) and leaves.
   */
  get subnetManager(): SubnetManager | undefined {
    return this.#sm;
  }

  /** Virtual time in ns. */
  get now(): number {
    return this.engine.now;
  }

  /**
   * Add a host: its hardware (machine memory, interrupt controller, an HCA
   * on the fabric) and the platform for its kind. Before {@link start}.
   */
  addHost(spec: HostSpec): Host {
    if (spec === null || typeof spec !== "object") {
      throw new VerbsError("EINVAL", `addHost: give a HostSpec { name, hypervisor }, got ${spec}`);
    }
    if (this.#started) {
      throw new VerbsError("EINVAL", `addHost ${spec.name}: add hosts before cluster.start()`);
    }
    if (typeof spec.name !== "string" && spec.name !== undefined) {
      throw new VerbsError(
        "EINVAL",
        `addHost: host name must be a string, got ${typeof spec.name} ${String(spec.name)}`,
      );
    }
    if (!spec.name || this.#hosts.some((h) => h.name === spec.name)) {
      throw new VerbsError("EINVAL", `addHost: host name '${spec.name}' missing or already used`);
    }
    // A string such as "false" from a configuration file must not make a Xen host.
    if (typeof spec.hypervisor !== "boolean") {
      throw new VerbsError(
        "EINVAL",
        `addHost ${spec.name}: hypervisor must be true (a Xen host: dom0 and guests) or false ` +
          `(bare metal), got ${JSON.stringify(spec.hypervisor) ?? "nothing"}`,
      );
    }
    if (spec.ports !== undefined && spec.ports !== 1 && spec.ports !== 2) {
      throw new VerbsError(
        "EINVAL",
        `addHost ${spec.name}: ports must be 1 or 2 (the HCA's physical ports), got ${
          JSON.stringify(spec.ports)
        }`,
      );
    }
    // Every HCA port is cabled to the one switch, whose ports are 1..254: an LFT entry is a port
    // number and 255 means "no route" (IBTA vol 1 §14.2.5.10, hca/switch.ts LFT_NO_ROUTE). A 255th
    // port got that number, the SM routed its LID to nowhere, and every packet to it was dropped
    // (the peer saw RETRY_EXC_ERR).
    const cabled = this.#hosts.reduce((n, h) => n + (h.hw.hca as Hca).portCount, 0);
    if (cabled + (spec.ports ?? 1) > MAX_SWITCH_PORTS) {
      throw new VerbsError(
        "EINVAL",
        `addHost ${spec.name}: the cluster's switch has ${MAX_SWITCH_PORTS} ports (IBTA: port ` +
          `255 is no port) and ${cabled} are cabled; this host's HCA would need ` +
          `${spec.ports ?? 1} more`,
      );
    }
    const mib = spec.memoryMiB ?? 4096;
    // Machine memory is addressed in whole bytes held in a double: at most 2^53 of them.
    if (!Number.isInteger(mib) || mib < 1 || mib * MIB > Number.MAX_SAFE_INTEGER + 1) {
      throw new VerbsError(
        "EINVAL",
        `addHost ${spec.name}: memoryMiB must be a whole number of MiB in [1, ${
          (Number.MAX_SAFE_INTEGER + 1) / MIB
        }], got ${
          typeof spec.memoryMiB === "string"
            ? JSON.stringify(spec.memoryMiB)
            : String(spec.memoryMiB)
        }`,
      );
    }
    let pkeys: number[] | undefined;
    if (spec.pkeys !== undefined) {
      try {
        // The default P_Key is index 0's; the rest must fit the HCA's table (NodeInfo:PartitionCap).
        pkeys = partitionTable(spec.pkeys, this.profile.hca.maxPkeys, "pkeys").slice(1);
      } catch (e) {
        throw new VerbsError("EINVAL", `addHost ${spec.name}: ${(e as Error).message}`);
      }
    }
    if (spec.ipoibPkey !== undefined && ![DEFAULT_PKEY, ...pkeys ?? []].includes(spec.ipoibPkey)) {
      throw new VerbsError(
        "EINVAL",
        `addHost ${spec.name}: ipoibPkey ${
          typeof spec.ipoibPkey === "number"
            ? pkeyText(spec.ipoibPkey)
            : JSON.stringify(spec.ipoibPkey)
        } is not 0xffff or one of the host's pkeys`,
      );
    }
    const rng = this.rng.fork();
    const memory = new WatchedMemory(mib * MIB, this.engine);
    const irq = new InterruptController();
    // Noise streams are named after the host: another host added changes none of them.
    const noise = this.noise === "on"
      ? new HostNoise(this.engine, this.profile.noise, this.seed, spec.name)
      : undefined;
    const hca = new Hca({
      engine: this.engine,
      memory,
      irq,
      profile: this.profile,
      rng: rng.fork(),
      name: `${spec.name}/hca0`,
      fabric: this.fabric,
      ports: spec.ports ?? 1,
      dmaJitter: noise?.dmaJitter(),
    });
    // A port's first QP attached to a group joins it at the SA, its last detached leaves
    // (the kernel's SA multicast client does this for the port's users).
    hca.onMulticastMembership = (port, mgid, member) => {
      if (!this.#sm) return;
      if (member) this.#sm.joinMulticastNow(mgid, port);
      else this.#sm.leaveMulticastNow(mgid, port);
    };
    const hw: HostHardware = {
      name: spec.name,
      engine: this.engine,
      profile: this.profile,
      rng,
      seed: this.seed,
      memory,
      irq,
      hca,
      noise,
      nomad: this.nomadNet,
      ipoib: this.ipoib,
    };
    const host = new Host(hw, spec);
    if (pkeys?.length) this.#pkeys.set(host, pkeys);
    this.#hosts.push(host);
    this.#hcaHost.push([hca, host]);
    return host;
  }

  /**
   * Cable every host to one switch, start each host's software and run the
   * subnet manager from the first host: LIDs assigned, ports ACTIVE.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    if (this.#hosts.length === 0) throw new VerbsError("EINVAL", "cluster.start: no hosts");
    this.#started = true;
    // Every host's port 1 on switch ports 1..N in host order, then the second ports after
    // them: a cluster of one-port hosts is cabled (and given LIDs) as it always was.
    const hcas = this.#hosts.map((h) => h.hw.hca as Hca);
    const cabled = [
      ...hcas.map((hca) => hca.port(1)),
      ...hcas.filter((hca) => hca.portCount > 1).map((hca) => hca.port(2)),
    ];
    const sw = this.fabric.addSwitch("sw0", { ports: Math.max(8, cabled.length) });
    this.#switch = sw;
    cabled.forEach((port, i) => {
      if (!port) throw new Error(`cluster.start: an HCA is not attached to the fabric`);
      this.fabric.connect(port, sw.ports[i]);
    });
    await this.#inEngine(async () => {
      await Promise.all(
        this.#hosts.map((h) => this.engine.spawn(`${h.name} boot`, () => h.platform.start())),
      );
      this.#sm = new SubnetManager(this.fabric, { home: (this.#hosts[0].hw.hca as Hca).port(1) });
      for (const [host, pkeys] of this.#pkeys) {
        const hca = host.hw.hca as Hca;
        for (let n = 1; n <= hca.portCount; n++) this.#sm.setPkeys(hca.port(n)!, pkeys);
      }
      await this.#sm.sweep();
      // The SA runs with the SM: on the first host's OS, or its dom0 (QP0/QP1 are dom0's).
      const smNode = this.#hosts[0].platform;
      this.ipoib.saMember = (smNode.os ?? smNode.dom0)?.rdmaCm;
    }, "cluster start");
  }

  async #inEngine<T>(fn: () => Promise<T>, name: string): Promise<T> {
    if (this.#running > 0 && this.engine.current()) return await fn();
    this.#running++;
    try {
      // One root at a time, shared with the toolstack's calls (createGuest …): a second one from
      // outside any process is refused in one line (`inEngine`), not the engine's nested run.
      return await inEngine(this.engine, name, fn);
    } finally {
      this.#running--;
    }
  }

  /** Run `fn` as the root process in virtual time; resolves with its result. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    // Refusals reject, as everything else about the returned promise does (never a throw).
    if (typeof fn !== "function") {
      return Promise.reject(
        new VerbsError("EINVAL", `cluster.run: give an async function, got ${typeof fn}`),
      );
    }
    if (this.#running > 0 && this.engine.current()) {
      return Promise.reject(
        new VerbsError("EINVAL", "cluster.run: already running (use cluster.spawn inside run)"),
      );
    }
    return this.#inEngine(fn, "main");
  }

  /**
   * Live-migrate a guest to another Xen host of the cluster, with its RDMA
   * connections (`platform/migration.ts`: Xen pre-copy with log-dirty
   * rounds, Nomad's suspend/resume handshake, stop-and-copy, resume on the
   * destination). Resolves with what it did and cost; rejects with a
   * one-line `VerbsError` when the guest cannot move (EOPNOTSUPP: open
   * contexts without `nomad`, UD/UC QPs, SRQs …; EINVAL: not a guest, not a
   * Xen host, the same host, bad options; EEXIST: the name is taken there; EBUSY: it is
   * already being migrated;
   * ENOMEM: the destination has not the memory or its HCA has no room for
   * the guest's contexts) or when the destination failed (ECONNRESET: the
   * guest runs on where it was). Runs in virtual time by itself when called outside `run`.
   */
  migrate(
    guest: Domain | GuestDomain,
    to: Host,
    opts: MigrateOptions = {},
  ): Promise<MigrationResult> {
    const what = `cluster.migrate(${(guest as Domain)?.name ?? guest})`;
    if (!(guest instanceof XenGuest)) {
      return Promise.reject(
        new VerbsError(
          "EINVAL",
          `${what}: not a Xen guest (a bare-metal OS or dom0 does not move)`,
        ),
      );
    }
    const src = this.#hosts.find((h) => h.platform.guests.includes(guest));
    if (!src) {
      return Promise.reject(new VerbsError("EINVAL", `${what}: the guest is not running here`));
    }
    if (!(to instanceof Host) || !this.#hosts.includes(to)) {
      return Promise.reject(
        new VerbsError("EINVAL", `${what}: the destination is not a host of this cluster`),
      );
    }
    if (to === src) {
      return Promise.reject(new VerbsError("EINVAL", `${what}: ${to.name} already runs it`));
    }
    if (!(to.platform instanceof XenPlatform)) {
      return Promise.reject(
        new VerbsError(
          "EINVAL",
          `${what}: ${to.name} is a ${to.platform.kind} host, not a Xen host`,
        ),
      );
    }
    try {
      migrateOptions(opts);
    } catch (e) {
      return Promise.reject(e);
    }
    const ends = { src: src.platform as XenPlatform, dst: to.platform, net: this.mgmt };
    return this.#inEngine(() => migrateGuest(guest, ends, opts), `migrate ${guest.name}`);
  }

  /** Start a concurrent process (a thread of some domain's program) inside {@link run}. */
  spawn<T>(name: string, fn: () => Promise<T>): Promise<T> {
    // Refusals reject at once (docs/api.md), never a throw from a call that returns a promise.
    try {
      requireRun(this.engine, `cluster.spawn('${name}')`);
    } catch (e) {
      return Promise.reject(e);
    }
    if (typeof fn !== "function") {
      return Promise.reject(
        new VerbsError(
          "EINVAL",
          `cluster.spawn('${name}'): give an async function, got ${typeof fn}`,
        ),
      );
    }
    return this.engine.spawn(name, fn);
  }

  /**
   * Sleep `ns` of virtual time (inside {@link run}), after paying the thread's CPU debt; EINVAL
   * for an `ns` that is not a number ≥ 0 or would take the clock past 2^53 ns.
   */
  async sleep(ns: number): Promise<void> {
    requireRun(this.engine, "cluster.sleep()");
    // Checked before the CPU debt is paid: a refused sleep spends no time. Virtual time is a
    // whole number of ns in a double: past 2^53 the clock could no longer tell events apart.
    if (
      typeof ns !== "number" || !(ns >= 0) || this.engine.now + ns > Number.MAX_SAFE_INTEGER
    ) {
      throw new VerbsError(
        "EINVAL",
        `cluster.sleep: ns must be a number ≥ 0 that keeps the clock below 2^53 ns, got ${
          typeof ns === "string" ? JSON.stringify(ns) : String(ns)
        }`,
      );
    }
    await CpuClock.of(this.engine).settle();
    await this.engine.sleep(ns);
  }
}

/** IBTA MTU codes (vol. 1 table 210 / PortInfo:NeighborMTU). */
const MTU_CODE: Record<number, number> = { 256: 1, 512: 2, 1024: 3, 2048: 4, 4096: 5 };
/** IBTA rate codes by signalling Gb/s (4X SDR is "10 Gb/s"; PathRecord:Rate, vol. 1 table 214). */
const RATE_CODE: [number, number][] = [
  [2.5, 2],
  [5, 5],
  [10, 3],
  [14, 11],
  [20, 6],
  [25, 15],
  [30, 4],
  [40, 7],
  [50, 20],
  [56, 12],
  [60, 8],
  [80, 9],
  [100, 16],
  [112, 13],
  [120, 10],
  [168, 14],
  [200, 17],
  [300, 18],
  [400, 21],
];
/** OpenSM's default packet lifetime (opensm.conf `packet_life_time 0x12`). */
const PACKET_LIFE_TIME = 18;

/**
 * The subnet administrator's answer for a path between two LIDs of the
 * cluster's fabric: the smaller active MTU of the two ends (the switch
 * carries any), the slower link's rate, SL 0 (no QoS policy, whatever the
 * QoS class asked), the P_Key asked for; none when a LID has no port, a port
 * is not ACTIVE, or the two ports do not share the partition asked for — each
 * holds an entry of it, and the two entries match (IBTA vol 1 §10.9: not both
 * limited; OpenSM's PathRecord handler, osm_sa_path_record.c, answers only
 * within a P_Key both ends share, `osm_physp_share_this_pkey`).
 */
function pathRecord(
  fabric: Fabric,
  q: { slid: number; dlid: number; qosClass: number; pkey: number },
): PathRecord | undefined {
  const s = fabric.portByLid(q.slid), d = fabric.portByLid(q.dlid);
  if (!s || !d || s.state !== "ACTIVE" || d.state !== "ACTIVE") return undefined;
  const inPartition = (p: { pkeys: readonly number[] }) =>
    p.pkeys.filter((e) => ((e ^ q.pkey) & 0x7fff) === 0);
  if (!inPartition(s).some((a) => inPartition(d).some((b) => pkeyMatch(a, b)))) return undefined;
  const mtu = Math.min(s.activeMtu, d.activeMtu);
  const gbps = Math.min(
    ...[s, d].map((p) =>
      p.link ? (p.link.params.width * p.link.params.laneSignalBytesPerSec * 8) / 1e9 : 0
    ),
  );
  let rate = 2;
  for (const [g, code] of RATE_CODE) if (gbps >= g - 1e-9) rate = code;
  return {
    dgid: d.gid,
    sgid: s.gid,
    dlid: q.dlid,
    slid: q.slid,
    trafficClass: 0,
    pkey: q.pkey,
    qosClass: q.qosClass,
    sl: 0,
    mtu: MTU_CODE[mtu] ?? 4,
    rate,
    packetLifeTime: PACKET_LIFE_TIME,
  };
}
