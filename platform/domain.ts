/**
 * `Domain`: an operating system instance that runs verbs programs — the
 * bare-metal OS, dom0, or a Xen guest (API.md). It owns an address space
 * (its memory as its programs address it) and offers the RDMA devices its
 * kernel knows, each as a kernel ABI (`UverbsDevice`); what lies behind
 * that ABI (the native driver, or a frontend forwarding to dom0) is the
 * platform's choice, and the verbs library above is the same.
 *
 * @module
 */
import { type AddressSpace, AddressSpaceError } from "../sim/address_space.ts";
import type { Engine } from "../sim/engine.ts";
import type { CpuNoise } from "../sim/noise.ts";
import type { Profile } from "../sim/profiles/mod.ts";
import { Prng } from "../sim/prng.ts";
import { VerbsError } from "../drivers/uapi/errors.ts";
import type { UverbsDevice } from "../drivers/uapi/uverbs.ts";
import type { Context, VerbsEnv } from "../drivers/verbs/context.ts";
import { openContext } from "../drivers/verbs/providers.ts";
import { NomadAgent } from "../drivers/verbs/nomad_agent.ts";
import type { NomadNetwork } from "../drivers/verbs/nomad_net.ts";
import { IpoibNetwork } from "../drivers/verbs/ipoib.ts";
import { RdmaCm } from "../drivers/verbs/rdma_cm.ts";
import { CpuClock } from "./cpu.ts";
import type { WatchedMemory } from "./memory_watch.ts";

/**
 * Throw the one-line error a call that waits in virtual time gets outside
 * `cluster.run`, where it would otherwise never resolve (nothing advances
 * virtual time, and Deno reports only "Top-level await promise never
 * resolved").
 *
 * @throws VerbsError EINVAL when the caller is not a process of `engine`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { requireRun } from "./domain.ts";
 * const engine = new Engine();
 * assert.throws(() => requireRun(engine, "vm0: openDevice()"), /outside cluster\.run/);
 * await engine.run(async () => requireRun(engine, "vm0: openDevice()")); // inside: fine
 * ```
 */
export function requireRun(engine: Engine, what: string): void {
  if (engine.current()) return;
  throw new VerbsError(
    "EINVAL",
    `${what} called outside cluster.run(): it waits in virtual time, which passes only ` +
      "inside await cluster.run(async () => { ... })",
  );
}

/**
 * A domain's memory as its programs see it (`dom.memory`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import type { DomainMemory } from "./domain.ts";
 * function fill(mem: DomainMemory) {
 *   const a = mem.alloc(4096, 4096);
 *   mem.write(a, new Uint8Array([1, 2, 3]));
 *   return mem.read(a, 3);
 * }
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * assert.deepEqual(fill(host.os.memory), new Uint8Array([1, 2, 3]));
 * ```
 */
export class DomainMemory {
  #space: AddressSpace;
  #machine: WatchedMemory | undefined;

  /**
   * The memory of a domain: its address space, on the host's machine memory.
   *
   * @param space the domain's address space
   * @param machine the host's machine memory (for write waits)
   */
  constructor(space: AddressSpace, machine: WatchedMemory | undefined) {
    this.#space = space;
    this.#machine = machine;
  }

  /**
   * The address space now (a guest that migrated has another, on another host).
   *
   * @internal
   */
  get space(): AddressSpace {
    return this.#space;
  }

  /** The machine memory the space is on now. */
  get machine(): WatchedMemory | undefined {
    return this.#machine;
  }

  /**
   * The domain runs on other frames from now on (platform code: the switch
   * of a live migration, once every page is copied): the same addresses,
   * another space behind them.
   *
   * @internal
   */
  rebind(space: AddressSpace, machine: WatchedMemory | undefined): void {
    this.#space = space;
    this.#machine = machine;
  }

  /** Allocate `bytes` aligned to `align` (default 64); returns the address. */
  alloc(bytes: number, align?: number): number {
    return this.space.alloc(bytes, align);
  }

  /** Free an allocation. */
  free(addr: number): void {
    this.space.free(addr);
  }

  /** Read `len` bytes at `addr`. */
  read(addr: number, len: number): Uint8Array {
    return this.space.read(addr, len);
  }

  /** Write `bytes` (a `Uint8Array`; anything else is `EINVAL`) at `addr`. */
  write(addr: number, bytes: Uint8Array): void {
    // A string or a plain array would be written as something else (a string's characters as 0).
    if (!(bytes instanceof Uint8Array)) {
      throw new AddressSpaceError(
        "EINVAL",
        `write: bytes must be a Uint8Array, got ${
          bytes === null ? "null" : Array.isArray(bytes) ? "an array" : typeof bytes
        }`,
      );
    }
    this.space.write(addr, bytes);
  }

  /**
   * Wait (without spending host CPU) until something — the HCA's DMA or
   * another CPU — writes into the pages of `[addr, addr+len)`, or
   * `timeoutNs` passes. Returns false on timeout. Wake-ups can be spurious:
   * re-check the memory. Costs no virtual CPU time itself; a program that
   * models a spinning poll charges its polls (see `Cq.pollUntil`). A range
   * that is not whole numbers ≥ 0 or a `timeoutNs` that is not a number ≥ 0
   * (`Infinity`: none) is `EINVAL`, an `AddressSpaceError`.
   */
  async waitWrite(addr: number, len: number, timeoutNs?: number): Promise<boolean> {
    // Checked before anything waits: a bad value must not leave a sleeper behind.
    if (!Number.isSafeInteger(addr) || addr < 0 || !Number.isSafeInteger(len) || len < 0) {
      throw new AddressSpaceError("EINVAL", `waitWrite: bad range addr=${addr} len=${len}`);
    }
    if (timeoutNs !== undefined && !(typeof timeoutNs === "number" && timeoutNs >= 0)) {
      throw new AddressSpaceError(
        "EINVAL",
        `waitWrite: timeoutNs ${
          typeof timeoutNs === "string" ? JSON.stringify(timeoutNs) : String(timeoutNs)
        } is not a number of ns ≥ 0`,
      );
    }
    if (timeoutNs === Infinity) timeoutNs = undefined;
    const frames = new Set<number>();
    for (const p of this.space.pageRange(addr, Math.max(1, len))) {
      frames.add(Math.floor(this.space.translate(p * 4096) / 4096));
    }
    if (!this.machine) throw new VerbsError("ENOSYS", "waitWrite: host memory has no write watch");
    return await this.machine.waitWrite([...frames], `0x${addr.toString(16)}+${len}`, timeoutNs);
  }
}

/**
 * Options of {@link Domain}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressSpace, Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Domain, type DomainOptions } from "./domain.ts";
 * const named = (o: DomainOptions) => o.name;
 * const engine = new Engine();
 * const space = new AddressSpace(new MachineMemory(64 << 20), "os", 32 << 20, new Prng(1));
 * const o: DomainOptions = { name: "os", engine, profile: PCIX_SDR_2006, space };
 * const d = new Domain(o);
 * assert.equal(d.name, named(o));
 * assert.deepEqual(d.devices(), []); // no driver registered a device in it yet
 * ```
 */
export interface DomainOptions {
  /** The domain's name (`node0`, `vm0`, `node0-dom0`). */
  name: string;
  /** Xen domain id (guests and dom0). */
  domid?: number;
  /** The engine its threads run on. */
  engine: Engine;
  /** The cost profile its kernel and libraries charge. */
  profile: Profile;
  /**
   * Its address space (pseudo-physical pages on machine frames).
   *
   * @internal
   */
  space: AddressSpace;
  /** Host memory, when it supports write waits. */
  machine?: WatchedMemory;
  /** The RDMA devices this domain's kernel offers (may be filled in later). */
  devices?: UverbsDevice[];
  /** Registration cache for contexts opened without saying (default off; see `OpenDeviceOptions`). */
  regCache?: boolean;
  /**
   * Its kernel's detours when the cluster's noise is on (`sim/noise.ts`).
   *
   * @internal
   */
  noise?: CpuNoise;
  /**
   * The cluster's management network when its verbs libraries run Nomad's
   * namespace virtualization (`new Cluster({ nomad: true })`): the domain's
   * library joins it with its first context.
   */
  nomad?: NomadNetwork;
  /** Its programs' seeded random stream (initial PSNs; default: a stream named after it). */
  rng?: Prng;
  /**
   * The subnet's IPoIB link: the domain's kernel gets the next address on
   * it, and its connection manager (`rdmaCm`) reaches the others' through
   * it (default: a link of its own).
   */
  ipoib?: IpoibNetwork;
  /**
   * The partition its IPoIB interface is in (default 0xffff): the P_Key of its ARP and
   * connection-manager traffic and of its rdma_cm QPs (`RdmaCmEnv.pkey`).
   */
  ipoibPkey?: number;
}

/**
 * Options of {@link Domain.openDevice}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import type { OpenDeviceOptions } from "./domain.ts";
 * import { VibFrontFile } from "../drivers/front/file.ts";
 * const opts: OpenDeviceOptions = { regCache: false };
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass" }); // cache on by default
 * await cluster.run(async () => {
 *   const cached = (await vm.openDevice()).file;
 *   const uncached = (await vm.openDevice("mthca0", opts)).file;
 *   assert.ok(cached instanceof VibFrontFile && uncached instanceof VibFrontFile);
 *   assert.deepEqual([cached.regCache, uncached.regCache], [true, false]);
 * });
 * ```
 */
export interface OpenDeviceOptions {
  /**
   * The kernel's registration cache for this context, where it has one (a guest: dom0 keeps the
   * grant mappings of deregistered regions, so registering the same pages again costs no grant
   * work). Keys are invalidated at `dereg` either way; bare metal and dom0 have no such cache.
   */
  regCache?: boolean;
}

/**
 * An OS instance.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const os = cluster.addHost({ name: "n0", hypervisor: false }).os;
 * await cluster.start();
 * assert.deepEqual(os.devices(), ["mthca0"]);
 * await cluster.run(async () => {
 *   await assert.rejects(os.openDevice("mlx5_0"), /no RDMA device 'mlx5_0' \(have: mthca0\)/);
 * });
 * ```
 */
export class Domain {
  /** The domain's name. */
  readonly name: string;
  /** The engine its threads run on. */
  readonly engine: Engine;
  /** The cost profile its kernel and libraries charge. */
  readonly profile: Profile;
  /** Its memory, by the domain's own addresses (API.md). */
  readonly memory: DomainMemory;
  /** CPU time accounting of this domain's threads. */
  readonly cpu: CpuClock;
  /** Whether contexts get a registration cache unless `openDevice` says otherwise. */
  readonly regCache: boolean;
  /** Its programs' seeded random stream (what `lrand48()` is to a C program). */
  readonly rng: Prng;
  /** What `openDevice(name, opts)` takes to turn the registration cache on (tools probe it). */
  readonly regCacheOption: OpenDeviceOptions = { regCache: true };
  #devices: UverbsDevice[];
  #domid: number | undefined;
  #nomadNet: NomadNetwork | undefined;
  #nomad: NomadAgent | undefined;
  /**
   * The connection manager of the domain's kernel (rdma_cm(7)): event
   * channels, ids, connections by IP address over the domain's own RDMA
   * device; `rdmaCm.ip` is the domain's IPoIB address.
   */
  readonly rdmaCm: RdmaCm;

  /**
   * A domain (an OS instance) with no RDMA device until its kernel's driver adds one.
   *
   * @param o see {@link DomainOptions}
   */
  constructor(o: DomainOptions) {
    this.name = o.name;
    this.#domid = o.domid;
    this.#nomadNet = o.nomad;
    this.engine = o.engine;
    this.profile = o.profile;
    this.memory = new DomainMemory(o.space, o.machine);
    this.cpu = CpuClock.of(o.engine).withNoise(o.noise);
    this.regCache = o.regCache ?? false;
    this.rng = o.rng ?? Prng.derive(0, `${o.name}/user`);
    this.#devices = o.devices ? [...o.devices] : [];
    this.rdmaCm = new RdmaCm({
      name: o.name,
      engine: o.engine,
      profile: o.profile,
      cpu: this.cpu,
      network: o.ipoib ?? new IpoibNetwork(),
      openDevice: () => this.openDevice(),
      pkey: o.ipoibPkey,
    });
  }

  /** Xen domain id (guests and dom0; a guest gets another one on each host it moves to). */
  get domid(): number | undefined {
    return this.#domid;
  }

  /** @internal the guest now runs under another domain id (platform code: live migration) */
  protected setDomid(domid: number): void {
    this.#domid = domid;
  }

  /** True when the domain's verbs library runs Nomad's layer (the cluster's `nomad` option). */
  get nomadEnabled(): boolean {
    return this.#nomadNet !== undefined;
  }

  /**
   * The Nomad layer of this domain's verbs library (`nomad_agent.ts`), once
   * a context was opened with it on; undefined otherwise.
   */
  get nomad(): NomadAgent | undefined {
    return this.#nomad;
  }

  /**
   * The domain's address space (platform code: drivers, hypervisor).
   *
   * @internal
   */
  get space(): AddressSpace {
    return this.memory.space;
  }

  /** Offer a device to this domain's programs (platform code). */
  addDevice(dev: UverbsDevice): void {
    this.#devices.push(dev);
  }

  /** Withdraw a device (platform code, e.g. a frontend disconnecting). */
  removeDevice(name: string): void {
    this.#devices = this.#devices.filter((d) => d.name !== name);
  }

  /** Names of the RDMA devices (`ibv_get_device_list`). */
  devices(): string[] {
    return this.#devices.map((d) => d.name);
  }

  /** What the verbs library runs on in this domain. */
  verbsEnv(): VerbsEnv {
    const m = this.memory;
    const machine = m.machine;
    return {
      engine: this.engine,
      profile: this.profile,
      cpu: this.cpu,
      memory: this.space,
      rng: this.rng,
      waitWrite: machine
        ? (mfns, label, timeoutNs, signal) => machine.waitWrite(mfns, label, timeoutNs, signal)
        : undefined,
      wakeWrite: machine ? (mfns) => machine.release(mfns) : undefined,
    };
  }

  /**
   * True while the domain's devices are leaving or away for a while (a guest suspending for a
   * live migration, until it resumed): an open waits for {@link deviceAway}. The default: never.
   */
  protected deviceLeaving(): boolean {
    return false;
  }

  /** Resolves when the devices are back (see {@link deviceLeaving}). */
  protected deviceAway(): Promise<void> {
    return Promise.resolve();
  }

  /** `ibv_open_device`: the named device, or the first one. */
  async openDevice(name?: string, opts?: OpenDeviceOptions): Promise<Context> {
    requireRun(this.engine, `${this.name}: openDevice()`);
    // `null` is no options, as `undefined` is (a NULL attr pointer); anything else must be one.
    opts ??= {};
    if (typeof opts !== "object") {
      throw new VerbsError("EINVAL", `${this.name}: openDevice: opts must be { regCache? }`);
    }
    if (opts.regCache !== undefined && typeof opts.regCache !== "boolean") {
      throw new VerbsError(
        "EINVAL",
        `${this.name}: openDevice: regCache must be true or false, got ${
          JSON.stringify(opts.regCache) ?? String(opts.regCache)
        }`,
      );
    }
    const find = () =>
      name === undefined ? this.#devices[0] : this.#devices.find((d) => d.name === name);
    let dev = find();
    if (!dev && this.deviceLeaving()) {
      await this.deviceAway();
      dev = find();
    }
    if (!dev) {
      throw new VerbsError(
        "ENODEV",
        name === undefined
          ? `${this.name}: no RDMA device (has the cluster been started?)`
          : `${this.name}: no RDMA device '${name}' (have: ${this.devices().join(", ") || "none"})`,
      );
    }
    await this.cpu.settle();
    if (this.#nomadNet && !this.#nomad) {
      this.#nomad = new NomadAgent(this.#nomadNet, this.engine, this.name);
      // The platform, not the library, says which domain the library speaks for: the directory
      // then accepts only QPs the HCA driver handed to this domain's contexts.
      this.#nomadNet.admit(this.#nomad, this);
    }
    if (this.deviceLeaving()) {
      // A migration's suspend began meanwhile: the open happens after the resume, on the device
      // the domain has then (one system call; a task is frozen for suspend outside one).
      await this.deviceAway();
      return await this.openDevice(name, opts);
    }
    // From here the open is under way: the layer's suspend lets it finish first.
    const opened = this.#nomad?.beginOpen();
    try {
      return await openContext(dev, this.verbsEnv(), {
        regCache: opts.regCache ?? this.regCache,
        nomad: this.#nomad,
      });
    } finally {
      opened?.();
    }
  }
}
