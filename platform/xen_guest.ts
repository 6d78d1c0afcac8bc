/**
 * A Xen guest as programs see it (`host.createGuest`): a verbs `Domain`
 * whose memory is the guest's pseudo-physical space and whose RDMA device
 * is the vib frontend, plus its lifecycle — clean shutdown (the frontend
 * closes, xenbus Closing → Closed, the backend tears down, then the
 * domain powers off) and crash (Xen kills it; the backend cleans up
 * without the guest's help).
 *
 * @module
 */
import { Prng } from "../sim/prng.ts";
import { WaitQueue } from "../sim/engine.ts";
import { VibFrontFile } from "../drivers/front/file.ts";
import { VibFront } from "../drivers/front/vibfront.ts";
import { GuestGrantTable } from "../drivers/xen/grant_table.ts";
import { XenbusState } from "../drivers/xen/xenbus.ts";
import { VIB_KEYS } from "../drivers/vib/mod.ts";
import type { Domain as XenDomain } from "../hypervisor/domain.ts";
import type { Hypervisor } from "../hypervisor/hypervisor.ts";
import type { Profile } from "../sim/profiles/mod.ts";
import { Domain, type OpenDeviceOptions } from "./domain.ts";
import type { GuestDomain, GuestOptions, HostHardware, QuotaName } from "./host.ts";
import { asVerbsError, inEngine, xenKernelName } from "./util.ts";
import { VerbsError } from "../drivers/uapi/errors.ts";
import type { Context, VerbsEnv } from "../drivers/verbs/context.ts";

/**
 * What a guest needs of the host that runs it (the Xen host's toolstack,
 * `xen_host.ts`): the hardware, the hypervisor, dom0's backend (to wait for
 * its teardown) and a way to leave the host's list of guests.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { GuestToolstack } from "./xen_guest.ts";
 * const idle = (t: GuestToolstack) => t.backendDone(7) === undefined;
 * assert.equal(typeof idle, "function");
 * ```
 */
export interface GuestToolstack {
  readonly hw: Pick<
    HostHardware,
    "name" | "seed" | "engine" | "profile" | "memory" | "noise" | "nomad" | "ipoib"
  >;
  readonly hv: Hypervisor;
  /** Resolves when dom0's backend instance for `domid` has torn down (undefined: none). */
  backendDone(domid: number): Promise<void> | undefined;
  /** What dom0's backend counts `domid` holding against each of its quotas (undefined: none). */
  quotaUsage(domid: number): QuotaUsage | undefined;
  /** The guest is gone: drop it from the host's guests. */
  forget(g: XenGuest): void;
}

/**
 * Per quota: what a guest holds now and its limit (`vm.quotaUsage()`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import type { QuotaUsage, XenGuest } from "./xen_guest.ts";
 * const left = (u: QuotaUsage) => u.pds.limit - u.pds.used;
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass", quota: { pds: 4 } }) as XenGuest;
 * await cluster.run(async () => {
 *   await (await vm.openDevice()).allocPd();
 * });
 * assert.equal(left(vm.quotaUsage()), 3);
 * ```
 */
export type QuotaUsage = Record<QuotaName, { used: number; limit: number }>;

/**
 * A guest domain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import { XenGuest } from "./xen_guest.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", memoryMiB: 64, driver: "bypass" });
 * assert.ok(vm instanceof XenGuest);
 * assert.deepEqual([vm.mode, vm.hostName], ["bypass", "xen0"]);
 * await vm.shutdown();
 * assert.equal(xen.guests.length, 0);
 * ```
 */
export class XenGuest extends Domain implements GuestDomain {
  /** "bypass" or "split". */
  readonly mode: "bypass" | "split";
  /** The partitions dom0 lets its QPs use (`GuestOptions.pkeys`; undefined: 0xffff alone). */
  readonly pkeys: readonly number[] | undefined;
  #xen: XenDomain;
  #front: VibFront;
  #grants: GuestGrantTable;
  #platform: GuestToolstack;
  #gone = false;
  #migrating = false;
  /** Its vib device is unplugged for a migration's suspend: openDevice waits for its return. */
  #away = false;
  #back: WaitQueue | undefined;

  /**
   * Built by the toolstack (`XenPlatform.createGuest`).
   * @param platform the host
   * @param xd the hypervisor's domain
   * @param paths xenstore directories of its vib device
   * @param opts what was asked for
   * @param quota its quotas (the profile's defaults with `opts.quota` over them); they follow
   *   the guest when it moves
   */
  constructor(
    platform: GuestToolstack,
    xd: XenDomain,
    paths: { frontend: string; backend: string },
    opts: GuestOptions,
    readonly quota: Profile["quota"],
  ) {
    const hw = platform.hw;
    super({
      name: opts.name,
      domid: xd.domid,
      engine: hw.engine,
      profile: hw.profile,
      space: xd.memory,
      machine: hw.memory,
      regCache: opts.regCache ?? true,
      noise: hw.noise?.cpu(xenKernelName(platform.hv, xd.domid)),
      nomad: hw.nomad,
      ipoib: hw.ipoib,
      // ipoib's parent interface takes the P_Key at index 0 of the table its kernel sees
      // (ipoib_parent_init: ib_query_pkey(…, 0, …)); a guest's view starts with its first partition,
      // as a virtual function's table starts with what its index 0 is mapped to (mlx4 SR-IOV).
      ipoibPkey: opts.pkeys?.[0],
      rng: Prng.derive(hw.seed, `${hw.name}/dom${xd.domid}/user`),
    });
    this.#platform = platform;
    this.#xen = xd;
    this.mode = opts.driver === "split" ? "split" : "bypass";
    this.pkeys = opts.pkeys;
    this.#grants = GuestGrantTable.of(xd, hw.engine, hw.profile.xen.grantEntryNs);
    this.#front = this.#makeFront(paths);
  }

  /** The hypervisor's domain (on the host the guest runs on now). */
  get xen(): XenDomain {
    return this.#xen;
  }

  /**
   * The guest kernel's vib frontend (a new one after each move).
   *
   * @internal
   */
  get front(): VibFront {
    return this.#front;
  }

  /**
   * The guest kernel's grant-table client (the frontend grants through it).
   *
   * @internal
   */
  get grants(): GuestGrantTable {
    return this.#grants;
  }

  /** The name of the host the guest runs on now. */
  get hostName(): string {
    return this.#platform.hw.name;
  }

  /** @internal the host that runs the guest now */
  get toolstack(): GuestToolstack {
    return this.#platform;
  }

  #makeFront(paths: { frontend: string; backend: string }): VibFront {
    const hw = this.#platform.hw;
    const front = new VibFront({
      engine: hw.engine,
      profile: hw.profile,
      hv: this.#platform.hv,
      dom: this.#xen,
      grants: this.#grants,
      paths,
      mode: this.mode,
      makeFile: (front, r, opts) => new VibFrontFile(front, r, opts),
    });
    front.onDead = () => {
      if (this.#front === front) this.removeDevice(front.name);
    };
    return front;
  }

  /** @internal the guest kernel boots: its frontend connects */
  async boot(): Promise<void> {
    await this.#front.connect();
    this.addDevice(this.#front);
  }

  /**
   * The verbs library's view of the domain. With Nomad's layer on, its
   * memory is reached through the domain (not a fixed address space), so
   * that after a live migration the same library objects reach the guest's
   * pages on the new host's frames. Without it a context cannot move, and
   * the library works on the address space itself.
   */
  override verbsEnv(): VerbsEnv {
    const env = super.verbsEnv();
    if (!this.nomadEnabled) return env;
    const mem = this.memory;
    env.memory = {
      read: (addr, len) => mem.space.read(addr, len),
      write: (addr, bytes) => mem.space.write(addr, bytes),
      translate: (addr) => mem.space.translate(addr),
      alloc: (bytes, align) => mem.space.alloc(bytes, align),
      free: (addr) => mem.space.free(addr),
    };
    env.waitWrite = (mfns, label, timeoutNs) => {
      if (!mem.machine) throw new VerbsError("ENOSYS", "waitWrite: host memory has no write watch");
      return mem.machine.waitWrite(mfns, label, timeoutNs);
    };
    env.wakeWrite = (mfns) => mem.machine?.release(mfns);
    return env;
  }

  /**
   * Why this guest cannot be live-migrated now (undefined: it can): it is
   * moving or gone, or it has contexts its verbs library cannot re-create.
   */
  unmovable(): string | undefined {
    if (this.#gone || !this.running) return `${this.name} is not running`;
    if (this.#migrating) return `${this.name} is already being migrated`;
    if (this.rdmaCm.agentStarted) {
      // The kernel's rdma_cm service is a UD QP with address handles on the guest's device
      // (drivers/verbs/cm_agent.ts), which Nomad does not move: named as such, not as the
      // address handles of a context the application never opened.
      return `${this.name}'s kernel rdma_cm service holds a UD QP and address handles on its ` +
        "device (a guest that has used rdma_cm does not move)";
    }
    const open = this.#front.files.size;
    if (open > 0 && !this.nomad) {
      return `${this.name} has ${open} open RDMA context(s) and its verbs library does not ` +
        "virtualize handles (create the cluster with nomad: true)";
    }
    return this.nomad?.unmovable();
  }

  /** @internal Whether a migration of this guest is under way. */
  get migrating(): boolean {
    return this.#migrating;
  }

  /** @internal a migration of this guest started (true) or ended */
  setMigrating(on: boolean): void {
    this.#migrating = on;
    if (!on) this.#deviceBack();
  }

  #deviceBack(): void {
    this.#away = false;
    this.#back?.notifyAll();
  }

  /**
   * `ibv_open_device` while the guest is suspended for a migration: a task is frozen for
   * suspend outside a system call (Linux `try_to_freeze`), so the open of the uverbs device
   * happens after the resume, on the device the guest has then (the destination's, or the
   * source's again). Without this it failed ENODEV ("no RDMA device"), and the kernel's
   * rdma_cm, whose agent opens the device on first use, kept that failure for good.
   */
  protected override deviceLeaving(): boolean {
    return this.#away;
  }

  /** Until the guest resumed from the suspend that took its device away. */
  protected override async deviceAway(): Promise<void> {
    this.#back ??= new WaitQueue(this.engine, `${this.name}: RDMA device back from the suspend`);
    while (this.#away) await this.#back.wait();
  }

  /**
   * @internal The guest kernel's suspend path for a live migration
   * (`control/shutdown = suspend`): the verbs library suspends its
   * connections and gives every device resource back (Nomad), the vib
   * frontend disconnects (the backend releases the rings), then the guest
   * suspends itself (`SCHEDOP_shutdown(SHUTDOWN_suspend)`).
   */
  async suspendForMigration(): Promise<void> {
    const why = this.unmovable();
    if (why && !why.includes("already being migrated")) {
      throw new VerbsError("EOPNOTSUPP", `migrate: ${why}`);
    }
    const hw = this.#platform.hw;
    // Opens from here on wait for the resume; those under way finish first (NomadAgent).
    this.#away = true;
    await this.nomad?.suspend();
    const front = this.#front;
    await front.disconnect();
    this.removeDevice(front.name);
    await this.engine.sleep(hw.profile.migration.suspendNs);
    try {
      await this.#platform.hv.shutdown(this.#xen, this.#xen.domid, "suspend");
    } catch (e) {
      throw asVerbsError(e, `suspend ${this.name}`);
    }
  }

  /**
   * @internal The guest now runs as `xd` on `platform` (the destination of
   * a migration, once its memory is there; or its own host again after a
   * cancelled one): its frontend will connect to that host's backend.
   */
  moveTo(platform: GuestToolstack, xd: XenDomain): void {
    this.#platform = platform;
    if (xd !== this.#xen) {
      this.#xen = xd;
      this.setDomid(xd.domid);
      this.#grants = GuestGrantTable.of(
        xd,
        platform.hw.engine,
        platform.hw.profile.xen.grantEntryNs,
      );
    }
  }

  /**
   * @internal The guest kernel's resume path: the vib frontend connects
   * again (the xenbus handshake, to the backend of the host it now runs on),
   * then the verbs library re-creates its contexts and reconnects
   * (Nomad). Resolves when every connection carries traffic again.
   */
  async resumeDevices(paths: { frontend: string; backend: string }): Promise<void> {
    await this.engine.sleep(this.#platform.hw.profile.migration.xenbusReconnectNs);
    const front = this.#makeFront(paths);
    this.#front = front;
    await front.connect();
    this.addDevice(front);
    await this.nomad?.resume(front);
    this.#deviceBack();
  }

  /**
   * The guest kernel lets go of its vib device (the driver unbound or
   * unloaded): the frontend closes it (xenbus Closing; dom0 destroys every
   * object of every context on it, unmaps every grant and the rings, closes
   * the event channel, Closed), ends its grants and goes Closed, and the
   * device leaves `devices()`. Contexts opened on it fail with EIO from then
   * on. The device stays plugged: {@link attachDevice} connects it again.
   * @throws VerbsError ENODEV if no device is attached (or the guest is not
   *   running), EBUSY while the guest migrates or another detach or attach
   *   is under way
   */
  detachDevice(): Promise<void> {
    return inEngine(this.engine, `detachDevice ${this.name}`, async () => {
      this.#checkPlug("detachDevice");
      const front = this.#front;
      if (front.xb.state === XenbusState.Closed) {
        throw new VerbsError("ENODEV", `detachDevice: ${this.name} has no vib device attached`);
      }
      this.#plugging = true;
      try {
        await front.disconnect();
      } finally {
        this.#plugging = false;
        this.removeDevice(front.name);
      }
    });
  }

  /**
   * The guest kernel probes its vib device again (the driver bound or
   * loaded): a new frontend goes Initialising; dom0's backend, Closed since
   * the last connection, goes InitWait ("prepare for reconnect", as Linux's
   * backends); new ring pages, a new event channel; Connected. The device is
   * back in `devices()`: open new contexts on it (those of the last
   * connection stay dead). Also brings back a device dom0 disconnected (a
   * hostile or broken frontend), once both ends have closed it.
   * @throws VerbsError EBUSY if the device is attached, or while the guest
   *   migrates or another detach or attach is under way; ENODEV if the
   *   guest is not running or the backend does not connect
   */
  attachDevice(): Promise<void> {
    return inEngine(this.engine, `attachDevice ${this.name}`, async () => {
      this.#checkPlug("attachDevice");
      const old = this.#front;
      if (old.deadReason === undefined && old.xb.state === XenbusState.Connected) {
        throw new VerbsError("EBUSY", `attachDevice: ${this.name}'s vib device is attached`);
      }
      this.#plugging = true;
      try {
        // What is left of the last connection closes first (a close dom0 started included).
        await old.disconnect();
        this.removeDevice(old.name);
        // A backend that is not online ended with the last connection (device_unregister):
        // nothing would answer the new frontend's Initialising.
        if (!this.#backendOnline(old.o.paths.backend)) {
          throw new VerbsError(
            "ENODEV",
            `attachDevice: ${this.name}'s device is unplugged (its backend is gone or not online)`,
          );
        }
        const front = this.#makeFront(old.o.paths);
        this.#front = front;
        try {
          await front.connect();
        } catch (e) {
          // A shutdown or crash that came meanwhile took the domain's memory and ports away.
          if (this.#gone || !this.running) {
            throw new VerbsError("ENODEV", `attachDevice: ${this.name} went down meanwhile`);
          }
          throw asVerbsError(e, `attachDevice ${this.name}`);
        }
        this.addDevice(front);
      } finally {
        this.#plugging = false;
      }
    });
  }

  #plugging = false;

  /** The backend's `online` node, as the guest may read it (its backend's directory is readable). */
  #backendOnline(backend: string): boolean {
    try {
      return this.#platform.hv.xenstore.read(this.#xen.domid, `${backend}/${VIB_KEYS.online}`) ===
        "1";
    } catch {
      return false;
    }
  }

  #checkPlug(what: string): void {
    if (this.#gone || !this.running) {
      throw new VerbsError("ENODEV", `${what}: ${this.name} is not running`);
    }
    if (this.#migrating) {
      throw new VerbsError("EBUSY", `${what}: ${this.name} is being migrated`);
    }
    if (this.#plugging) {
      throw new VerbsError(
        "EBUSY",
        `${what}: a detach or attach of ${this.name}'s device is under way`,
      );
    }
  }

  /**
   * What dom0's backend counts this guest holding against each of its quotas
   * (`createGuest({ quota })` over the profile's defaults), and the limits.
   * All zeros before the device connected and after it went away.
   */
  quotaUsage(): QuotaUsage {
    const u = this.#platform.quotaUsage(this.xen.domid);
    if (u) return u;
    const q = this.profile.quota;
    return Object.fromEntries(
      Object.keys(q).map((k) => [k, { used: 0, limit: q[k as QuotaName] }]),
    ) as QuotaUsage;
  }

  /**
   * `ibv_open_device`, as {@link Domain.openDevice}; a guest that shut down or crashed has no
   * device left: ENODEV saying so.
   */
  override openDevice(name?: string, opts?: OpenDeviceOptions): Promise<Context> {
    if (this.#gone || !this.running) {
      const how = this.#xen.reason === "crash" ? "crashed" : "was shut down";
      return Promise.reject(
        new VerbsError("ENODEV", `${this.name}: the guest ${how}: it has no RDMA device`),
      );
    }
    return super.openDevice(name, opts);
  }

  /** True until the guest shut down or crashed. */
  get running(): boolean {
    return this.#xen.running;
  }

  /**
   * Clean shutdown: the frontend disconnects, the backend tears down, the
   * domain powers off. A guest that broke its own side of the device (its
   * xenbus nodes, its grant entries) still powers off, as a Linux guest does
   * when a driver's shutdown hook fails: the backend then tears down on the
   * domain's death. A domain that cannot shut itself down is crashed.
   */
  shutdown(): Promise<void> {
    return inEngine(this.engine, `shutdown ${this.name}`, async () => {
      if (this.#gone) return;
      this.#gone = true;
      try {
        await this.#front.disconnect();
      } catch {
        this.#front.crashed(); // its side of the device is beyond a clean close
      }
      this.removeDevice(this.#front.name);
      try {
        await this.#platform.hv.shutdown(this.#xen, this.#xen.domid, "poweroff");
      } catch {
        this.#platform.hv.domainCrash(this.#xen);
      }
      await this.whenDead();
    });
  }

  /** Abrupt death: Xen tears the domain down; dom0's backend cleans up on its own. */
  crash(): void {
    // A shutdown that is under way or failed half-way does not stop a crash.
    if (this.#gone && !this.#xen.running) return;
    this.#gone = true;
    this.nomad?.crashed();
    this.#front.crashed();
    this.removeDevice(this.#front.name);
    this.#deviceBack();
    this.#platform.hv.domainCrash(this.#xen);
    this.#platform.forget(this);
  }

  /**
   * Resolves (in virtual time) when the backend has returned everything
   * and the hypervisor has freed the domain's last frame.
   */
  async whenDead(): Promise<void> {
    const xd = this.#xen;
    await this.#platform.backendDone(xd.domid);
    await xd.whenDead();
    this.#platform.forget(this);
  }
}
