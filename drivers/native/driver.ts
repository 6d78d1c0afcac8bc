/**
 * The HCA kernel driver (mthca style): device bring-up, index allocators,
 * memory registration (MTT + MPT), queue contexts through the command
 * interface, and the event queues with their interrupt handler.
 *
 * The driver knows machine frames, not address spaces: whoever asks it to
 * register memory hands it the frames (the native uverbs layer from the
 * process page table; a Xen backend from grant mappings). It keeps no
 * per-user state either — handle tables, use counts and attribute checks
 * live in the kernel verbs layer (`ucontext.ts`) above it.
 *
 * Every frame it writes into the MTT is pinned first: the driver takes a
 * reference on it (`MachineMemory.getPage`, what Linux's `ib_umem_get` does
 * with `pin_user_pages`) and drops it when the MTT segment is freed. So a
 * frame the device can reach is never freed under it, whatever its owner
 * does with the page meanwhile (frees it, has an I/O page mapped over it,
 * dies). {@link HcaDriver.pinnedFrames} lists the pins and
 * {@link HcaDriver.auditMtt} checks the device's table against them.
 *
 * @module
 */
import {
  CmdOp,
  type DevLim,
  EqeType,
  keyToMptIndex,
  type MgmInfo,
  type PortInfo,
  type QpContextParams,
  type QpInfo,
  type SrqInfo,
} from "../../hca/commands.ts";
import type { CommandInterface } from "../../hca/commands.ts";
import type { HcaStats, ResourceKind } from "../../hca/device.ts";
import { decodeEqe, EQE_BYTES, eqeReady } from "../../hca/eqe.ts";
import { cmdWord, doorbellBytes, EqDbCmd, UarOffset } from "../../hca/uar.ts";
import type { AddressSpace } from "../../sim/address_space.ts";
import type { Engine } from "../../sim/engine.ts";
import { PAGE_SHIFT, PAGE_SIZE } from "../../sim/memory.ts";
import type { Profile } from "../../sim/profiles/mod.ts";
import { Prng } from "../../sim/prng.ts";
import { requestError, VerbsError } from "../uapi/errors.ts";
import { IndexAllocator, KeyAllocator } from "./alloc.ts";
import { MttBuddy } from "./buddy.ts";
import { exec, qpTransitionError } from "./cmd.ts";
import { MGM_QP_VALID } from "../../hca/mcg.ts";
import { DEFAULT_PKEY } from "../../hca/pkey.ts";
import { toMptAccess } from "./hw_map.ts";
import { Access } from "../uapi/enums.ts";

/**
 * Counts of `hca.stats()` by resource kind.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, type NativePlatform } from "../../mod.ts";
 * import type { ResourceCounts } from "./driver.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * const { driver } = (host.platform as NativePlatform);
 * const pdn = driver.allocPd();
 * const used: ResourceCounts = driver.hca.stats(driver.swCounts()).used;
 * assert.equal(used.pd, 1); // the driver's count joins the device's own
 * assert.equal(used.qp, 0);
 * driver.freePd(pdn);
 * ```
 */
export type ResourceCounts = Record<ResourceKind, number>;

/**
 * What the driver needs of the device (the `Hca` of `hca/device.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, type NativePlatform } from "../../mod.ts";
 * import type { HcaDevice } from "./driver.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * const hca: HcaDevice = (host.platform as NativePlatform).driver.hca;
 * assert.notEqual(hca.uarMfn(1), hca.uarMfn(2)); // every UAR is a page of its own
 * ```
 */
export interface HcaDevice {
  /**
   * BAR0 command interface.
   *
   * @internal
   */
  readonly cmd: CommandInterface;
  /** Machine frame of UAR page `index`. */
  uarMfn(index: number): number;
  /**
   * Resource counts; `sw` supplies the counts only the driver knows.
   *
   * @internal
   */
  stats(sw?: Partial<ResourceCounts>): HcaStats;
  /** The frames the device can reach through its MTT now (for audits; optional). */
  mttFrames?(): Iterable<{ key: number; mtt: number; mfn: number }>;
  /** Port `port`'s P_Key table as the subnet manager set it (optional: the default P_Key only). */
  pkeys?(port: number): readonly number[];
  /**
   * Port `port`'s nominal rate in Gb/s (4x SDR: 10), 0 without a link (optional: 0): what mthca
   * keeps in `dev->rate` from the port's width and speed (mthca_update_rate, on port events).
   */
  portGbps?(port: number): number;
  /** Set by the driver: a P_KeyTable Set changed port `port`'s table (optional). */
  onPkeyTableSet?: ((port: number) => void) | undefined;
}

/**
 * A registered region: an MPT entry and its MTT run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Access, Cluster, type NativePlatform } from "../../mod.ts";
 * import { keyToMptIndex } from "../../hca/commands.ts";
 * import type { HwRegion } from "./driver.ts";
 * import { pageTableMemory } from "./uverbs_native.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * const { driver } = (host.platform as NativePlatform);
 * await cluster.run(async () => {
 *   const start = host.os.memory.alloc(8192, 4096);
 *   const mfns = pageTableMemory(host.os.space).frames(start, 8192);
 *   const pdn = driver.allocPd();
 *   const r: HwRegion = await driver.regRegion({ pdn, start, length: 8192, access: Access.LOCAL_WRITE, mfns });
 *   assert.equal(r.mtt.entries, 8); // two pages take one 8-entry MTT segment
 *   assert.ok(keyToMptIndex(r.key) > 0); // its MPT entry
 *   await driver.deregRegion(r);
 * });
 * ```
 */
export interface HwRegion {
  key: number;
  pdn: number;
  start: number;
  length: number;
  access: number;
  mtt: { base: number; order: number; entries: number };
}

/**
 * Events the driver dispatches for a CQ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CqEventSink } from "./driver.ts";
 * const seen: string[] = [];
 * const sink: CqEventSink = { comp: () => void seen.push("comp"), error: (c) => void seen.push(`error ${c}`) };
 * sink.comp(); // what the driver does for a completion EQE of an armed CQ
 * assert.deepEqual(seen, ["comp"]);
 * ```
 */
export interface CqEventSink {
  /** Completion event (the CQ was armed). */
  comp(): void;
  /** CQ error (overrun or access error). */
  error(cause: number): void;
}

/**
 * Events for a QP or SRQ: the raw EQE type.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EqeType } from "../../hca/commands.ts";
 * import type { ObjectEventSink } from "./driver.ts";
 * const seen: number[] = [];
 * const sink: ObjectEventSink = (t) => void seen.push(t);
 * sink(EqeType.SRQ_LIMIT); // the driver passes the raw EQE type on
 * assert.deepEqual(seen, [EqeType.SRQ_LIMIT]);
 * ```
 */
export type ObjectEventSink = (eqeType: number) => void;

/**
 * Port events: PORT_CHANGE subtype (1 down, 4 active).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PortEventSink } from "./driver.ts";
 * const down: number[] = [];
 * const sink: PortEventSink = (port, sub) => void (sub === 1 && down.push(port));
 * sink(1, 4);
 * sink(1, 1);
 * assert.deepEqual(down, [1]); // port 1 went down once
 * ```
 */
export type PortEventSink = (port: number, subtype: number) => void;

/**
 * The {@link PortEventSink} subtype of a P_Key table change: not a PORT_CHANGE EQE subtype (the
 * device raises none for it) but the driver's snoop of a P_KeyTable Set (mthca_mad.c smp_snoop
 * dispatches IB_EVENT_PKEY_CHANGE, which ib_uverbs_event_handler queues on every open context).
 */
export const PORT_SINK_PKEY_CHANGE = 0x100;

/**
 * Options of {@link HcaDriver}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../../sim/mod.ts";
 * import { AddressSpace } from "../../sim/address_space.ts";
 * import { Hca } from "../../hca/device.ts";
 * import { HcaDriver, type HcaDriverOptions } from "./driver.ts";
 * const engine = new Engine();
 * const memory = new MachineMemory(64 << 20);
 * const hca = new Hca({ engine, memory, irq: new InterruptController(), profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const o: HcaDriverOptions = {
 *   engine, profile: PCIX_SDR_2006, hca, name: "mthca0",
 *   kernel: new AddressSpace(memory, "kernel", 16 << 20, new Prng(2)),
 *   eqLogSizes: { comp: 6, async: 4 }, // small EQs
 * };
 * const drv = new HcaDriver(o);
 * await engine.run(() => drv.init());
 * assert.deepEqual(drv.vectors, { comp: 0, async: 1 }); // the default vectors
 * ```
 */
export interface HcaDriverOptions {
  engine: Engine;
  profile: Profile;
  hca: HcaDevice;
  /** Kernel memory of the OS running the driver (EQ buffers live there). */
  kernel: AddressSpace;
  /** Device name (`"mthca0"`). */
  name: string;
  /**
   * The driver's seeded stream: it draws the tag of every memory key when
   * the profile's `hca.randomKeyTags` is 1 (default: a stream named after
   * the device).
   */
  rng?: Prng;
  /** Interrupt vectors of the completion and async EQs. */
  vectors?: { comp: number; async: number };
  /** log2 entries of the completion EQ (default 10) and the async EQ (default 8). */
  eqLogSizes?: { comp: number; async: number };
}

interface Eq {
  eqn: number;
  vector: number;
  logSize: number;
  addr: number;
  region: HwRegion;
  ci: number;
}

/** PD number the driver keeps for its own regions (EQ buffers). */
const KERNEL_PD = 0;

/** Every async event type, for MAP_EQ (completions go by the CQ context). */
const ASYNC_EVENT_MASK = [
  EqeType.PATH_MIG,
  EqeType.COMM_EST,
  EqeType.SQ_DRAINED,
  EqeType.CQ_ERROR,
  EqeType.WQ_CATAS_ERROR,
  EqeType.PATH_MIG_FAILED,
  EqeType.LOCAL_CATAS_ERROR,
  EqeType.PORT_CHANGE,
  EqeType.WQ_INVAL_REQ_ERROR,
  EqeType.WQ_ACCESS_ERROR,
  EqeType.SRQ_CATAS_ERROR,
  EqeType.SRQ_QP_LAST_WQE,
  EqeType.SRQ_LIMIT,
].reduce((m, t) => m | (1 << t), 0);

/**
 * The HCA driver of one host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../../sim/mod.ts";
 * import { AddressSpace } from "../../sim/address_space.ts";
 * import { Hca } from "../../hca/device.ts";
 * import { HcaDriver } from "./driver.ts";
 * const engine = new Engine();
 * const memory = new MachineMemory(64 << 20);
 * const hca = new Hca({ engine, memory, irq: new InterruptController(), profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const kernel = new AddressSpace(memory, "kernel", 16 << 20, new Prng(2));
 * const drv = new HcaDriver({ engine, profile: PCIX_SDR_2006, hca, kernel, name: "mthca0" });
 * await engine.run(() => drv.init()); // QUERY_DEV_LIM, INIT_HCA, the EQs
 * assert.ok(drv.ready);
 * const pdn = drv.allocPd();
 * assert.equal(drv.swCounts().pd, 1);
 * drv.freePd(pdn);
 * ```
 */
export class HcaDriver {
  readonly engine: Engine;
  readonly profile: Profile;
  readonly hca: HcaDevice;
  readonly kernel: AddressSpace;
  readonly name: string;
  #devLim: DevLim | undefined;
  #pd!: IndexAllocator;
  #qpn!: IndexAllocator;
  #cqn!: IndexAllocator;
  #srqn!: IndexAllocator;
  #eqn!: IndexAllocator;
  #uar!: IndexAllocator;
  #ah!: IndexAllocator;
  #keys!: KeyAllocator;
  #mtt!: MttBuddy;
  #amgm!: IndexAllocator;
  /** mthca's mcg_table.sem: one attach or detach at a time. */
  #mcgLock: Promise<void> = Promise.resolve();
  #eqs: Eq[] = [];
  #compEq: Eq | undefined;
  #kernelUarAddr = 0;
  /** Frames pinned for each MTT segment in use, by its first entry. */
  #pins = new Map<number, readonly number[]>();
  #cqSinks = new Map<number, CqEventSink>();
  #qpSinks = new Map<number, ObjectEventSink>();
  #qpOwner = new Map<number, number>();
  #srqSinks = new Map<number, ObjectEventSink>();
  #portSinks = new Set<PortEventSink>();
  #vectors: { comp: number; async: number };
  #eqLog: { comp: number; async: number };
  #rng: Prng;
  /** Interrupts handled, EQEs consumed. */
  readonly counters = { interrupts: 0, eqes: 0, commands: 0 };

  /** @param o see {@link HcaDriverOptions} */
  constructor(o: HcaDriverOptions) {
    this.engine = o.engine;
    this.profile = o.profile;
    this.hca = o.hca;
    this.kernel = o.kernel;
    this.name = o.name;
    this.#vectors = o.vectors ?? { comp: 0, async: 1 };
    this.#eqLog = o.eqLogSizes ?? { comp: 10, async: 8 };
    this.#rng = o.rng ?? Prng.derive(0, `${o.name}/keys`);
    this.hca.onPkeyTableSet = (port) => {
      for (const s of [...this.#portSinks]) s(port, PORT_SINK_PKEY_CHANGE);
    };
  }

  /** Device limits (after {@link init}). */
  get devLim(): DevLim {
    if (!this.#devLim) throw new VerbsError("ENXIO", `${this.name}: driver not initialized`);
    return this.#devLim;
  }

  /** True once {@link init} has run. */
  get ready(): boolean {
    return this.#devLim !== undefined;
  }

  /** Interrupt vectors this driver's EQs raise. */
  get vectors(): { comp: number; async: number } {
    return { ...this.#vectors };
  }

  /**
   * Bring the device up: query limits, INIT_HCA, set up allocators, create
   * the completion and async EQs and route async events.
   */
  async init(): Promise<void> {
    const lim = await exec(this.hca.cmd, CmdOp.QUERY_DEV_LIM, {});
    await exec(this.hca.cmd, CmdOp.INIT_HCA, {});
    for (let port = 1; port <= lim.ports; port++) await exec(this.hca.cmd, CmdOp.INIT_IB, { port });
    this.#devLim = lim;
    const p = this.profile.hca;
    this.#pd = new IndexAllocator("pd", Math.min(lim.maxPd, p.maxPd), KERNEL_PD + 1);
    this.#qpn = new IndexAllocator("qpn", lim.maxQp, lim.reservedQps);
    this.#cqn = new IndexAllocator("cqn", lim.maxCq, lim.reservedCqs);
    this.#srqn = new IndexAllocator("srqn", lim.maxSrq, lim.reservedSrqs);
    this.#eqn = new IndexAllocator("eqn", lim.maxEq, lim.reservedEqs);
    this.#uar = new IndexAllocator("uar", lim.maxUar, Math.max(1, lim.reservedUars));
    this.#ah = new IndexAllocator("ah", lim.maxAh, 0);
    // Unpredictable key tags unless the profile asks for mthca's rotation (ReDMArk).
    const tags = p.randomKeyTags !== 0 ? this.#rng : undefined;
    this.#keys = new KeyAllocator(lim.maxMpt, Math.max(1, lim.reservedMpts), tags);
    this.#mtt = new MttBuddy(lim.maxMtt);
    // mthca_init_mcg_table: AMGM entries are the indices from num_mgms on.
    this.#amgm = new IndexAllocator("amgm", lim.maxMcg, lim.numMgms);
    // The kernel rings EQ doorbells through UAR 0, mapped into its own space.
    this.#kernelUarAddr = this.kernel.mapForeign(this.hca.uarMfn(0));
    this.#compEq = await this.#createEq(this.#vectors.comp, this.#eqLog.comp);
    const asyncEq = await this.#createEq(this.#vectors.async, this.#eqLog.async);
    await exec(this.hca.cmd, CmdOp.MAP_EQ, { eqn: asyncEq.eqn, eventMask: ASYNC_EVENT_MASK });
  }

  async #createEq(vector: number, logSize: number): Promise<Eq> {
    const eqn = this.#take(this.#eqn, "EQ");
    const bytes = (1 << logSize) * EQE_BYTES;
    const addr = this.kernel.alloc(bytes, PAGE_SIZE);
    const region = await this.regRegion({
      pdn: KERNEL_PD,
      start: addr,
      length: bytes,
      access: Access.LOCAL_WRITE, // the device writes EQEs
      mfns: this.kernel.pageRange(addr, bytes).map((p) => this.kernel.mfnOf(p)!),
    });
    await exec(this.hca.cmd, CmdOp.SW2HW_EQ, {
      eqn,
      key: region.key,
      addr,
      logSize,
      vector,
      uarIndex: 0,
    });
    const eq: Eq = { eqn, vector, logSize, addr, region, ci: 0 };
    this.#eqs.push(eq);
    return eq;
  }

  /** EQN that receives completion events (for SW2HW_CQ). */
  get compEqn(): number {
    if (!this.#compEq) throw new VerbsError("ENXIO", `${this.name}: driver not initialized`);
    return this.#compEq.eqn;
  }

  #take(a: IndexAllocator, what: string): number {
    const i = a.alloc();
    if (i === undefined) {
      throw new VerbsError(
        "ENOMEM",
        `${this.name}: no free ${what} (${a.inUse} of ${a.max - a.reserved} in use, ` +
          `${a.reserved} more reserved)`,
      );
    }
    return i;
  }

  // -- allocators ------------------------------------------------------------

  /** A protection domain number. */
  allocPd(): number {
    return this.#take(this.#pd, "PD");
  }
  /** Return a PD number. */
  freePd(pdn: number): void {
    this.#pd.release(pdn);
  }
  /** A UAR index for a user context. */
  allocUar(): number {
    return this.#take(this.#uar, "UAR");
  }
  /** Return a UAR index. */
  freeUar(i: number): void {
    this.#uar.release(i);
  }
  /** An address-handle index. */
  allocAh(): number {
    return this.#take(this.#ah, "AH");
  }
  /** Return an AH index. */
  freeAh(i: number): void {
    this.#ah.release(i);
  }
  /**
   * A QP number (QP0/QP1 are never handed out) for a context of domain
   * `owner` (0: this kernel's own OS; a backend's context: the frontend's
   * domid), recorded until the number is freed: who holds a device QP is the
   * driver's to say, never the holder's (the Nomad directory asks, `qpOwner`).
   */
  allocQpn(owner = 0): number {
    const qpn = this.#take(this.#qpn, "QP");
    this.#qpOwner.set(qpn, owner);
    return qpn;
  }
  /** Return a QPN (after TO_RST). */
  freeQpn(qpn: number): void {
    this.#qpSinks.delete(qpn);
    this.#qpOwner.delete(qpn);
    this.#qpn.release(qpn);
  }
  /**
   * The domain whose context holds QP `qpn` now (0: this kernel's own OS, else
   * the domid a backend opened the context for); undefined: not handed out.
   */
  qpOwner(qpn: number): number | undefined {
    return this.#qpOwner.get(qpn);
  }
  /** A CQ number. */
  allocCqn(): number {
    return this.#take(this.#cqn, "CQ");
  }
  /** Return a CQN (after HW2SW_CQ). */
  freeCqn(cqn: number): void {
    this.#cqSinks.delete(cqn);
    this.#cqn.release(cqn);
  }
  /** An SRQ number. */
  allocSrqn(): number {
    return this.#take(this.#srqn, "SRQ");
  }
  /** Return an SRQN (after HW2SW_SRQ). */
  freeSrqn(srqn: number): void {
    this.#srqSinks.delete(srqn);
    this.#srqn.release(srqn);
  }

  /**
   * What the driver can still hand out, by kind (for dom0's headroom checks;
   * MTT in entries). Zeros before {@link init}.
   */
  available(): Record<"pd" | "mr" | "cq" | "qp" | "srq" | "ah" | "uar" | "mtt", number> {
    if (!this.#devLim) return { pd: 0, mr: 0, cq: 0, qp: 0, srq: 0, ah: 0, uar: 0, mtt: 0 };
    return {
      pd: this.#pd.free,
      mr: this.#keys.free,
      cq: this.#cqn.free,
      qp: this.#qpn.free,
      srq: this.#srqn.free,
      ah: this.#ah.free,
      uar: this.#uar.free,
      mtt: this.#mtt.freeEntries,
    };
  }

  /** Counts of what the driver hands out (for `hca.stats`). */
  swCounts(): Partial<ResourceCounts> {
    return {
      pd: this.#pd?.inUse ?? 0,
      ah: this.#ah?.inUse ?? 0,
      // UAR 0 is the kernel's; the API counts user contexts' pages.
      uar: this.#uar?.inUse ?? 0,
      // QPs still in RESET are not the device's yet, but they are in use.
      qp: this.#qpn?.inUse ?? 0,
    };
  }

  // -- memory registration -----------------------------------------------------

  /**
   * Register a region: MTT entries for its frames, then an MPT entry.
   * `mfns` are the frames of the pages covering `[start, start+length)`,
   * first page first.
   */
  async regRegion(
    r: { pdn: number; start: number; length: number; access: number; mfns: readonly number[] },
  ): Promise<HwRegion> {
    const pages = Math.ceil(((r.start & (PAGE_SIZE - 1)) + r.length) / PAGE_SIZE);
    if (r.length <= 0 || pages !== r.mfns.length) {
      throw new VerbsError(
        "EINVAL",
        `reg_mr: ${r.mfns.length} frames given for ${r.length} bytes at 0x${r.start.toString(16)}`,
      );
    }
    const mtt = this.#mtt.alloc(pages);
    if (!mtt) {
      throw new VerbsError("ENOMEM", `${this.name}: MTT table full (${pages} entries asked)`);
    }
    const key = this.#keys.alloc();
    if (key === undefined) {
      this.#mtt.free(mtt);
      throw new VerbsError("ENOMEM", `${this.name}: MPT table full`);
    }
    try {
      this.#pin(mtt.base, r.mfns);
    } catch (e) {
      this.#keys.release(key);
      this.#mtt.free(mtt);
      throw e;
    }
    try {
      await exec(this.hca.cmd, CmdOp.WRITE_MTT, { base: mtt.base, mfns: r.mfns });
      await exec(this.hca.cmd, CmdOp.SW2HW_MPT, {
        index: keyToMptIndex(key),
        key,
        pd: r.pdn,
        start: r.start,
        length: r.length,
        access: toMptAccess(r.access),
        mttBase: mtt.base,
        mttCount: pages,
        pageShift: PAGE_SHIFT,
      });
    } catch (e) {
      this.#keys.release(key);
      this.#mtt.free(mtt);
      this.#unpin(mtt.base);
      throw e;
    }
    return { key, pdn: r.pdn, start: r.start, length: r.length, access: r.access, mtt };
  }

  /** Deregister a region (HW2SW_MPT; EBUSY while a queue uses it); its frames are unpinned. */
  async deregRegion(r: HwRegion): Promise<void> {
    await exec(this.hca.cmd, CmdOp.HW2SW_MPT, { index: keyToMptIndex(r.key) });
    this.#keys.release(r.key);
    this.#mtt.free(r.mtt);
    this.#unpin(r.mtt.base);
  }

  /** Take a reference on each frame of an MTT segment; all or none. */
  #pin(base: number, mfns: readonly number[]): void {
    const mem = this.kernel.mem;
    let i = 0;
    try {
      for (; i < mfns.length; i++) mem.getPage(mfns[i]);
    } catch {
      for (let j = 0; j < i; j++) mem.putPage(mfns[j]);
      throw new VerbsError(
        "EFAULT",
        `register region: frame ${mfns[i]} (page ${i}) is not allocated memory`,
      );
    }
    this.#pins.set(base, [...mfns]);
  }

  /** Drop the references of an MTT segment's frames (the last one frees a given-back frame). */
  #unpin(base: number): void {
    const mfns = this.#pins.get(base);
    if (!mfns) return;
    this.#pins.delete(base);
    for (const m of mfns) this.kernel.mem.putPage(m);
  }

  /**
   * Every frame the driver pinned for an MTT entry, with the entry (for
   * audits: these are the references a host's audit adds to its census).
   */
  *pinnedFrames(): Generator<{ mtt: number; mfn: number }> {
    for (const [base, mfns] of this.#pins) {
      for (let i = 0; i < mfns.length; i++) yield { mtt: base + i, mfn: mfns[i] };
    }
  }

  /**
   * Check the device's MTT against the pins: every frame the device can
   * reach (an MTT entry of a HW-owned MPT entry) must be the frame the
   * driver pinned for that entry. Returns one sentence per mismatch (empty
   * when consistent, or when the device does not list its MTT).
   */
  auditMtt(): string[] {
    const out: string[] = [];
    const pinned = new Map<number, number>();
    for (const p of this.pinnedFrames()) pinned.set(p.mtt, p.mfn);
    for (const f of this.hca.mttFrames?.() ?? []) {
      const want = pinned.get(f.mtt);
      if (want !== f.mfn) {
        out.push(
          `${this.name}: MTT entry ${f.mtt} (key 0x${f.key.toString(16)}) reaches frame ` +
            `${f.mfn}, ${want === undefined ? "which is not pinned" : `pinned ${want}`}`,
        );
      }
    }
    return out;
  }

  // -- queues --------------------------------------------------------------------

  /** SW2HW_CQ for a CQ whose buffer is registered as `region`. */
  async swToHwCq(
    c: { cqn: number; region: HwRegion; addr: number; logSize: number; uarIndex: number },
    sink: CqEventSink,
  ): Promise<void> {
    await exec(this.hca.cmd, CmdOp.SW2HW_CQ, {
      cqn: c.cqn,
      key: c.region.key,
      addr: c.addr,
      logSize: c.logSize,
      eqn: this.compEqn,
      uarIndex: c.uarIndex,
    });
    this.#cqSinks.set(c.cqn, sink);
  }

  /** HW2SW_CQ (EBUSY while QPs use it). */
  async hwToSwCq(cqn: number): Promise<void> {
    await exec(this.hca.cmd, CmdOp.HW2SW_CQ, { cqn });
    this.#cqSinks.delete(cqn);
  }

  /** RESIZE_CQ into a new registered buffer. */
  async resizeCq(
    c: { cqn: number; region: HwRegion; addr: number; logSize: number },
  ): Promise<void> {
    await exec(this.hca.cmd, CmdOp.RESIZE_CQ, {
      cqn: c.cqn,
      key: c.region.key,
      addr: c.addr,
      logSize: c.logSize,
    });
  }

  /** QUERY_CQ. */
  queryCq(cqn: number) {
    return exec(this.hca.cmd, CmdOp.QUERY_CQ, { cqn });
  }

  /** SW2HW_SRQ and its event sink. */
  async swToHwSrq(
    s: {
      srqn: number;
      pdn: number;
      region: HwRegion;
      addr: number;
      logSize: number;
      logStride: number;
      uarIndex: number;
    },
    sink: ObjectEventSink,
  ): Promise<void> {
    await exec(this.hca.cmd, CmdOp.SW2HW_SRQ, {
      srqn: s.srqn,
      pd: s.pdn,
      key: s.region.key,
      addr: s.addr,
      logSize: s.logSize,
      logStride: s.logStride,
      uarIndex: s.uarIndex,
    });
    this.#srqSinks.set(s.srqn, sink);
  }

  /** ARM_SRQ: one SRQ_LIMIT event when fewer than `limit` WQEs remain (0 disarms). */
  async armSrq(srqn: number, limit: number): Promise<void> {
    await exec(this.hca.cmd, CmdOp.ARM_SRQ, { srqn, limit });
  }

  /** QUERY_SRQ: the SRQ context as the device holds it (its limit is 0 once it fired). */
  querySrq(srqn: number): Promise<SrqInfo> {
    return exec(this.hca.cmd, CmdOp.QUERY_SRQ, { srqn });
  }

  /** HW2SW_SRQ (EBUSY while QPs use it). */
  async hwToSwSrq(srqn: number): Promise<void> {
    await exec(this.hca.cmd, CmdOp.HW2SW_SRQ, { srqn });
    this.#srqSinks.delete(srqn);
  }

  /** Register where a QP's async events go. */
  setQpSink(qpn: number, sink: ObjectEventSink): void {
    this.#qpSinks.set(qpn, sink);
  }

  /** One QP transition command; a refusal about the QP itself is the caller's (see `qpTransitionError`). */
  async qpTransition(op: number, qpn: number, ctx?: Partial<QpContextParams>): Promise<void> {
    try {
      // deno-lint-ignore no-explicit-any
      await exec(this.hca.cmd, op as any, { qpn, ctx });
    } catch (e) {
      throw qpTransitionError(e);
    }
  }

  /** Run `fn` holding the MCG table lock (mthca's `mcg_table.sem`). */
  async #withMcg<T>(fn: () => Promise<T>): Promise<T> {
    const before = this.#mcgLock;
    let done!: () => void;
    this.#mcgLock = new Promise<void>((r) => (done = r));
    await before;
    try {
      return await fn();
    } finally {
      done();
    }
  }

  /**
   * mthca's find_mgm: MGID_HASH, then READ_MGM along the hash chain. `index`
   * is the entry holding `gid` (or the empty hash entry), -1 if the chain has
   * no entry for it (then `prev` is the chain's last entry).
   */
  async #findMgm(gid: Uint8Array): Promise<{ index: number; prev: number; mgm: MgmInfo }> {
    const cmd = this.hca.cmd;
    const { hash } = await exec(cmd, CmdOp.MGID_HASH, { gid });
    let index = hash;
    let prev = -1;
    for (;;) {
      const mgm = await exec(cmd, CmdOp.READ_MGM, { index });
      if (mgm.gid.every((b) => b === 0)) {
        if (index !== hash) throw new VerbsError("EINVAL", "attach_mcast: zero MGID in AMGM");
        return { index, prev, mgm };
      }
      if (mgm.gid.every((b, i) => b === gid[i])) return { index, prev, mgm };
      prev = index;
      index = mgm.nextGidIndex;
      if (index === 0) return { index: -1, prev, mgm };
    }
  }

  /**
   * Attach QP `qpn` to multicast group `gid` (mthca_multicast_attach): a QP
   * already in the entry is a success with no change; a full entry is
   * ENOMEM ("MGM at index … is full"), as is a chain that needs an AMGM
   * entry when none is left ("No AMGM entries left").
   */
  attachMcast(qpn: number, gid: Uint8Array): Promise<void> {
    return this.#withMcg(async () => {
      const cmd = this.hca.cmd;
      let { index, prev, mgm } = await this.#findMgm(gid);
      let link = false;
      if (index === -1) {
        const a = this.#amgm.alloc();
        if (a === undefined) throw new VerbsError("ENOMEM", "attach_mcast: no AMGM entries left");
        link = true;
        index = a;
        mgm = await exec(cmd, CmdOp.READ_MGM, { index });
        mgm = { nextGidIndex: 0, gid: gid.slice(), qp: mgm.qp.map(() => 0) };
      } else if (mgm.gid.every((b) => b === 0)) {
        mgm.gid = gid.slice();
      }
      try {
        const want = (qpn | MGM_QP_VALID) >>> 0;
        let i = 0;
        for (; i < mgm.qp.length; i++) {
          if (mgm.qp[i] === want) return; // "QP already a member of MGM": success
          if (!(mgm.qp[i] & MGM_QP_VALID)) {
            mgm.qp[i] = want;
            break;
          }
        }
        if (i === mgm.qp.length) {
          // The group's limit the caller can query (max_mcast_qp_attach), not the table's index.
          throw requestError(
            "ENOMEM",
            `attach_mcast: the group's MGM entry is full (max_mcast_qp_attach ${mgm.qp.length})`,
          );
        }
        await exec(cmd, CmdOp.WRITE_MGM, { index, entry: mgm });
        if (!link) return;
        const p = await exec(cmd, CmdOp.READ_MGM, { index: prev });
        p.nextGidIndex = index;
        await exec(cmd, CmdOp.WRITE_MGM, { index: prev, entry: p });
        link = false;
      } finally {
        if (link) this.#amgm.release(index);
      }
    });
  }

  /**
   * Detach QP `qpn` from `gid` (mthca_multicast_detach): EINVAL if the group
   * is not in the table ("MGID … not found") or the QP is not in it ("QP …
   * not found in MGM"). The last QP out frees the entry (an AMGM entry
   * goes back to the allocator, a hash entry takes its successor's place).
   */
  detachMcast(qpn: number, gid: Uint8Array): Promise<void> {
    return this.#withMcg(async () => {
      const cmd = this.hca.cmd;
      const { index, prev, mgm } = await this.#findMgm(gid);
      const hex = Array.from(gid, (b) => b.toString(16).padStart(2, "0")).join("");
      // As mthca: an empty hash entry is "found" (its QP slots are all free, so the QP is not).
      if (index === -1) {
        throw requestError("EINVAL", `detach_mcast: MGID ${hex} not found`);
      }
      const want = (qpn | MGM_QP_VALID) >>> 0;
      let loc = -1;
      let i = 0;
      for (; i < mgm.qp.length; i++) {
        if (mgm.qp[i] === want) loc = i;
        if (!(mgm.qp[i] & MGM_QP_VALID)) break;
      }
      if (loc === -1) {
        throw requestError(
          "EINVAL",
          `detach_mcast: QP 0x${qpn.toString(16).padStart(6, "0")} not found in MGM`,
        );
      }
      mgm.qp[loc] = mgm.qp[i - 1];
      mgm.qp[i - 1] = 0;
      await exec(cmd, CmdOp.WRITE_MGM, { index, entry: mgm });
      if (i !== 1) return;
      if (prev === -1) {
        // The hash entry empties: its AMGM successor (if any) moves in.
        const next = mgm.nextGidIndex;
        const entry = next
          ? await exec(cmd, CmdOp.READ_MGM, { index: next })
          : { ...mgm, gid: new Uint8Array(16) };
        await exec(cmd, CmdOp.WRITE_MGM, { index, entry });
        // As mthca: the freed AMGM entry is not rewritten (nothing links to it any more).
        if (next) this.#amgm.release(next);
      } else {
        // An AMGM entry empties: unlink it from its predecessor and free it.
        const p = await exec(cmd, CmdOp.READ_MGM, { index: prev });
        p.nextGidIndex = mgm.nextGidIndex;
        await exec(cmd, CmdOp.WRITE_MGM, { index: prev, entry: p });
        this.#amgm.release(index);
      }
    });
  }

  /** QUERY_QP: the QPC as the device holds it. */
  queryQp(qpn: number): Promise<QpInfo> {
    return exec(this.hca.cmd, CmdOp.QUERY_QP, { qpn });
  }

  /**
   * Entry `index` of port `port`'s P_Key table as the kernel's cache holds it, 0 for an empty
   * one: Linux's `ib_get_cached_pkey` (core/cache.c), which the core keeps current on
   * IB_EVENT_PKEY_CHANGE (mthca_mad.c dispatches it when a P_KeyTable Set passes), so a lookup
   * costs no command. The caller checks the index against the table's length.
   */
  cachedPkey(port: number, index: number): number {
    const t = this.hca.pkeys?.(port) ?? [DEFAULT_PKEY];
    return t[index] ?? 0;
  }

  /**
   * Port `port`'s rate in Gb/s as the kernel keeps it (mthca's `dev->rate`, which
   * mthca_update_rate refreshes on port events): no command.
   */
  portGbps(port: number): number {
    return this.hca.portGbps?.(port) ?? 0;
  }

  /** QUERY_PORT. */
  queryPort(port: number): Promise<PortInfo> {
    return exec(this.hca.cmd, CmdOp.QUERY_PORT, { port });
  }

  /** Listen to port changes (every user context does). */
  addPortSink(s: PortEventSink): void {
    this.#portSinks.add(s);
  }
  /** Stop listening. */
  removePortSink(s: PortEventSink): void {
    this.#portSinks.delete(s);
  }

  // -- interrupts ----------------------------------------------------------------

  /**
   * The interrupt handler: consume every EQE of the EQ raising `vector`,
   * dispatch it, and re-arm the EQ. The platform calls it after its
   * interrupt entry cost (bare metal) or from dom0's physical-IRQ upcall (Xen).
   */
  handleInterrupt(vector: number): void {
    this.counters.interrupts++;
    for (const eq of this.#eqs) if (eq.vector === vector) this.#pollEq(eq);
  }

  #pollEq(eq: Eq): void {
    const size = 1 << eq.logSize;
    let n = 0;
    for (;;) {
      const off = eq.addr + (eq.ci & (size - 1)) * EQE_BYTES;
      const b = this.kernel.read(off, EQE_BYTES);
      if (!eqeReady(b, 0, eq.ci, eq.logSize)) break;
      eq.ci = (eq.ci + 1) >>> 0;
      n++;
      this.#dispatch(decodeEqe(b));
    }
    this.counters.eqes += n;
    const db = doorbellBytes(cmdWord(EqDbCmd.SET_CI_ARM, eq.eqn), eq.ci);
    this.kernel.write(this.#kernelUarAddr + UarOffset.EQ, db);
    // Arming with unconsumed EQEs interrupts again (FORMATS.md §8), so an
    // EQE that lands between our last read and the arm is not lost.
  }

  #dispatch(e: { type: number; subtype: number; index: number; cause: number }): void {
    switch (e.type) {
      case EqeType.COMPLETION:
        this.#cqSinks.get(e.index)?.comp();
        return;
      case EqeType.CQ_ERROR:
        this.#cqSinks.get(e.index)?.error(e.cause);
        return;
      case EqeType.PORT_CHANGE:
        for (const s of [...this.#portSinks]) s(e.index, e.subtype);
        return;
      case EqeType.SRQ_LIMIT:
      case EqeType.SRQ_CATAS_ERROR:
        this.#srqSinks.get(e.index)?.(e.type);
        return;
      default:
        // QP events (and SRQ_QP_LAST_WQE, which names the QP).
        this.#qpSinks.get(e.index)?.(e.type);
    }
  }
}
