/**
 * The Xen hypervisor of one host: domains and their teardown, the hypercall
 * layer (privilege and argument checks, costs, counters), event delivery,
 * physical-IRQ routing, and the host's xenstore.
 *
 * Every hypercall is named (`grant_table_op:map_grant_ref`,
 * `event_channel_op:send`, `domctl:createdomain`, …; see
 * {@link HYPERCALLS}) and made by a caller domain from a process (an async
 * function under the engine). It costs `profile.xen.hypercallNs`, plus
 * `grantMapNs` per grant mapped, `grantUnmapNs` per grant unmapped, and the
 * bytes a grant copy moves at `cpu.memcpyBytesPerSec`. The
 * typed API (`await hv.grantMap(dom0, { domid, ref })`) throws
 * `XenError`; {@link Hypervisor.hypercall} takes the name and an
 * argument block and returns `{ rc }` with `rc = -errno` instead, never
 * throwing for a refused call — it is the surface a hostile guest gets.
 *
 * Refusals (ESRCH, EPERM, EINVAL, EFAULT) are as described in
 * `hypercalls.ts`.
 *
 * Event delivery: a send sets the pending bit in the target's shared-info
 * page; when that needs a kick (see `SharedInfo.setPending`), the target's
 * upcall handler runs after `upcallNs + domainSwitchNs` (the target has to
 * be scheduled), plus `cpu.interruptNs` for a physical IRQ (Xen's own
 * interrupt entry first). No handler is entered while the domain masks
 * upcalls (`vcpu_info.evtchn_upcall_mask`); once it unmasks, the return of
 * its next hypercall delivers the pending upcall, `upcallNs` later.
 *
 * Teardown (shutdown, crash, destroy) runs at once, in the order given in
 * `lifecycle.ts`. This module is the typed API and event delivery; the
 * hypercall table lives in `hypercalls.ts`, domain lifecycle in
 * `lifecycle.ts`, and the state they share in `host.ts`.
 *
 * @module
 */
import type { Engine } from "../sim/engine.ts";
import type { MachineMemory } from "../sim/memory.ts";
import type { Prng } from "../sim/prng.ts";
import type { Profile } from "../sim/profiles/schema.ts";
import type { InterruptController } from "../sim/irq.ts";
import { type XenErrnoCode, XenError } from "./errors.ts";
import type { AuditViolation } from "../sim/frame_audit.ts";
import { auditHost, type HypervisorAuditOptions } from "./audit.ts";
import { DOMID_SELF, show } from "./args.ts";
import type { Domain, DomainState, ShutdownReason } from "./domain.ts";
import { type EvtchnStatus, OFF_UPCALL_MASK } from "./event_channel.ts";
import {
  GNTST,
  type GntStatus,
  type GrantCopyOp,
  type GrantMapping,
  GrantTableError,
} from "./grant_table.ts";
import type { XenStore } from "./xenstore.ts";
import { HostState, type HypervisorOptions } from "./host.ts";
import type { VcpuPool } from "./vcpus.ts";
import { type DomainConfig, Lifecycle } from "./lifecycle.ts";
import type { ShadowOp, ShadowOpResult } from "./log_dirty.ts";
import {
  type Caller,
  type GrantCopyResult,
  type GrantMapOp,
  type GrantMapResult,
  type GrantQuerySizeResult,
  type HypercallResult,
  Hypercalls,
} from "./hypercalls.ts";

// Re-exported so that this module keeps its public surface after the split.
export { HYPERCALLS, XEN_VERSION } from "./hypercalls.ts";
export type {
  GrantCopyResult,
  GrantMapOp,
  GrantMapResult,
  GrantQuerySizeResult,
  HypercallName,
  HypercallResult,
} from "./hypercalls.ts";
export type { HypervisorOptions } from "./host.ts";
export type { DomainConfig } from "./lifecycle.ts";
export type { ShadowOp, ShadowOpResult } from "./log_dirty.ts";
export type { DeviceReference, HypervisorAuditOptions } from "./audit.ts";

/**
 * `hv.stats()` (API.md). A type alias, not an interface, so that it is
 * assignable to `Record<string, number>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor, type HypervisorStats } from "./hypervisor.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const before: HypervisorStats = hv.stats();
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   assert.equal(hv.stats().domains, before.domains + 1);
 *   await hv.destroyDomain(hv.dom0, vm.domid);
 *   await vm.whenDead();
 * });
 * assert.deepEqual(hv.stats(), before); // nothing left behind
 * ```
 */
export type HypervisorStats = {
  /** Domains not yet dead (dom0, running guests, dying zombies). */
  domains: number;
  /** Grant mappings held, over all domains. */
  grantsMapped: number;
  /** Event-channel ports in use, over all domains. */
  evtchnsBound: number;
  /**
   * Machine frames held for domains: their memory, grant tables, shared-info
   * pages, and frames given back (by a dying domain, or a running one whose
   * page was replaced) that something still references.
   */
  framesAllocated: number;
  /** Device I/O pages mapped into guests. */
  ioPagesMapped: number;
};

/**
 * Cumulative counters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const r = await engine.run(() => hv.hypercall(hv.dom0, "sched_op:shutdown", {}));
 * assert.equal(r.rc, -1); // EPERM: dom0 may not shut itself down
 * const c = hv.counters();
 * assert.equal(c.hypercalls, 1); // refused calls count too
 * assert.deepEqual(c.byKind, { "sched_op:shutdown": 1 });
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
  /**
   * Upcalls whose guest handler threw: the guest's kernel failed in its interrupt handler, and
   * the guest crashed (never dom0's, never a fault of the hypervisor).
   */
  guestUpcallErrors: number;
  /**
   * Faults: exceptions inside a hypercall or a teardown step that were not
   * a refusal (bugs in the model; the call failed with EIO). Listed in
   * {@link Hypervisor.faultLog}.
   */
  faults: number;
}

/**
 * The hypervisor of one host. Dom0 exists from construction.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * import { encodeGrantEntry, GTF_permit_access } from "./grant_table.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(256 << 20), PCIX_SDR_2006, new Prng(1));
 * const dom0 = hv.dom0;
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(dom0, { name: "vm0", memoryBytes: 64 << 20 });
 *   const page = vm.memory.alloc(4096, 4096), ref = 8;
 *   // The guest grants the page to dom0 (an entry in its own table) ...
 *   const entry = encodeGrantEntry({ flags: GTF_permit_access, domid: 0, frame: page / 4096 });
 *   hv.mem.write(hv.grantTableFrames(vm.domid)![0] * 4096 + 8 * ref, entry);
 *   // ... dom0 maps it and writes through the mapping.
 *   const m = await hv.grantMap(dom0, { domid: vm.domid, ref });
 *   dom0.memory.write(m.addr, new Uint8Array([42]));
 *   assert.equal(vm.memory.read(page, 1)[0], 42);
 *   await hv.grantUnmap(dom0, m.handle);
 * });
 * assert.equal(hv.counters().byKind["grant_table_op:map_grant_ref"], 1);
 * assert.ok(engine.now > 0); // hypercalls cost virtual time
 * ```
 */
export class Hypervisor {
  /** The privileged domain. */
  readonly dom0: Domain;
  /**
   * The host's xenstore.
   *
   * @internal
   */
  readonly xenstore: XenStore;
  /** Errors thrown by teardown hooks (also passed to `onHookError`). */
  readonly hookErrors: unknown[];
  #h: HostState;
  #life: Lifecycle;
  #calls: Hypercalls;

  /** The kind of an upcall's delivery event ({@link Engine.tag}). */
  readonly #tagUpcall: number;
  /** The trace mark of an upcall delivered (one per upcall: its number, not its text). */
  readonly #markUpcall: number;

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
    this.#tagUpcall = engine.tag("xen.upcall");
    this.#markUpcall = engine.tag("xen:upcall");
    const h = new HostState(engine, mem, profile, prng, opts, {
      kick: (d) => this.#kick(d),
      returned: (d) => this.#returned(d),
      zombieReleased: (d) => this.#life.markDead(d),
    });
    this.#h = h;
    this.hookErrors = h.hookErrors;
    this.xenstore = h.xenstore;
    this.#life = new Lifecycle(h, (d) => this.#upcallInstalled(d));
    this.#calls = new Hypercalls(h, this.#life);
    this.dom0 = this.#life.build(0, "Domain-0", true, {
      name: "Domain-0",
      memoryBytes: h.opts.dom0MemoryBytes,
    });
    if (opts.pic) this.connectInterrupts(opts.pic);
  }

  // ---- domains ----

  /** A domain that is not dead, by id. */
  domain(domid: number): Domain | undefined {
    return this.#h.domains.get(domid);
  }

  /** Domains not yet dead, by domid. */
  domains(): Domain[] {
    return [...this.#h.domains.values()].sort((a, b) => a.domid - b.domid);
  }

  /**
   * `domctl:createdomain` (dom0 only).
   *
   * @internal
   */
  createDomain(caller: Caller, cfg: DomainConfig): Promise<Domain> {
    return this.#calls.invoke(caller, "domctl:createdomain", cfg) as Promise<Domain>;
  }

  /**
   * `domctl:destroydomain` (dom0 only): abrupt teardown, no guest cooperation.
   *
   * @internal
   */
  destroyDomain(caller: Caller, domid: number): Promise<void> {
    return this.#calls.invoke(caller, "domctl:destroydomain", { domid }) as Promise<void>;
  }

  /**
   * Shut `domid` down: `sched_op:shutdown` when the caller is the domain
   * itself, `sched_op:remote_shutdown` (dom0 only) otherwise. `reason` is a
   * `SHUTDOWN_*` reason (`SHUTDOWN_REASONS`) by name, or the `unsigned int`
   * a domain passes (Xen keeps its low 8 bits and refuses none), kept as the
   * domain's `shutdownCode`: `"crash"` leaves it crashed, `"suspend"` (for
   * save or migration) stops its vCPU and keeps everything until dom0
   * destroys or resumes it, and every other code (`"poweroff"`, `"reboot"`,
   * `"watchdog"`, `"soft_reset"`, a number with no name) leaves it shut
   * down — what follows is the toolstack's choice, as in Xen.
   */
  shutdown(
    caller: Caller,
    domid: number,
    reason: ShutdownReason | number = "poweroff",
  ): Promise<void> {
    const self = (typeof caller === "number" ? caller : caller.domid) === domid;
    return this.#calls.invoke(
      caller,
      self ? "sched_op:shutdown" : "sched_op:remote_shutdown",
      { domid, reason },
    ) as Promise<void>;
  }

  /**
   * `domctl:shadow_op` (dom0 only): log-dirty mode of `domid` for live
   * migration (`log_dirty.ts`): `enable_logdirty`, `clean` (the dirty
   * pages since the last clean, cleared), `peek` (their count), `off`. As
   * Xen 4.17's `paging_domctl`: `enable_logdirty` while on is EINVAL;
   * `clean` and `peek` while off, and `off` twice, succeed (no page dirty).
   */
  shadowOp(caller: Caller, a: { domid: number; op: ShadowOp }): Promise<ShadowOpResult> {
    return this.#calls.invoke(caller, "domctl:shadow_op", a) as Promise<ShadowOpResult>;
  }

  /**
   * `domctl:pausedomain` (dom0 only): stop scheduling `domid` (upcalls
   * wait). Pauses are counted, as Xen's `controller_pause_count` (EOVERFLOW
   * past 255): each needs its unpause.
   */
  pauseDomain(caller: Caller, domid: number): Promise<void> {
    return this.#calls.invoke(caller, "domctl:pausedomain", { domid }) as Promise<void>;
  }

  /**
   * `domctl:unpausedomain` (dom0 only): undo one pause; `domid` runs again
   * when none is left (a domain created paused starts). EINVAL when it is
   * not paused.
   */
  unpauseDomain(caller: Caller, domid: number): Promise<void> {
    return this.#calls.invoke(caller, "domctl:unpausedomain", { domid }) as Promise<void>;
  }

  /**
   * `domctl:resumedomain` (dom0 only): a domain that suspended itself runs
   * again where it is (`xc_domain_resume`: the migration was cancelled); on
   * a domain that runs it changes nothing (`domain_resume`). EINVAL for one
   * that shut down or crashed (the model does not bring it back).
   */
  resumeDomain(caller: Caller, domid: number): Promise<void> {
    return this.#calls.invoke(caller, "domctl:resumedomain", { domid }) as Promise<void>;
  }

  /**
   * Crash `dom` now (what Xen does itself when a guest faults; not a
   * hypercall, no time passes): state `crashed`, then teardown. Crashing a
   * domain that is not running, or dom0, does nothing.
   */
  domainCrash(dom: Domain | number): void {
    const d = typeof dom === "number" ? this.#h.domains.get(dom) : dom;
    if (!d || d.domid === 0 || this.#h.domains.get(d.domid) !== d || !d.running) return;
    this.#life.markShutdown(d, "crash");
  }

  /** State of `domid` (`"dead"` if it no longer exists). */
  stateOf(domid: number): DomainState {
    return this.#h.cores.get(domid)?.state ?? "dead";
  }

  // ---- grant tables ----

  /**
   * `grant_table_op:map_grant_ref`: map grant `ref` of domain `domid` into the caller.
   *
   * @internal
   */
  grantMap(caller: Caller, op: GrantMapOp): Promise<GrantMapping> {
    return this.#calls.invoke(caller, "grant_table_op:map_grant_ref", op) as Promise<
      GrantMapping
    >;
  }

  /**
   * `grant_table_op:map_grant_ref` with many ops in one hypercall: one
   * `hypercallNs`, `grantMapNs` per op, a status per op (the batch itself
   * does not fail for a bad op, as in Xen).
   *
   * @internal
   */
  grantMapBatch(caller: Caller, ops: GrantMapOp[]): Promise<GrantMapResult[]> {
    return this.#calls.invoke(caller, "grant_table_op:map_grant_ref", { ops }) as Promise<
      GrantMapResult[]
    >;
  }

  /** `grant_table_op:unmap_grant_ref`: unmap the caller's `handle`. */
  grantUnmap(caller: Caller, handle: number): Promise<void> {
    return this.#calls.invoke(caller, "grant_table_op:unmap_grant_ref", { handle }) as Promise<
      void
    >;
  }

  /**
   * Batched unmap: one hypercall, a `GNTST_*` status per handle (0, or
   * `GNTST_bad_handle` for one not in use), as `gnttab_unmap_grant_ref.status`.
   *
   * @internal
   */
  grantUnmapBatch(caller: Caller, handles: number[]): Promise<GntStatus[]> {
    return this.#calls.invoke(caller, "grant_table_op:unmap_grant_ref", { handles }) as Promise<
      GntStatus[]
    >;
  }

  /**
   * `grant_table_op:copy` of one op (`GNTTABOP_copy`): Xen copies `len`
   * bytes between a grant made for the caller (or a page of its own, named
   * by `gmfn` with `DOMID_SELF`) and another; see {@link GrantCopyOp} and
   * docs/security.md. Costs `hypercallNs` plus the bytes at
   * `cpu.memcpyBytesPerSec`; the grants stay pinned (`GTF_reading`,
   * `GTF_writing`) until then. Throws the op's refusal as a
   * {@link GrantTableError} (its `status` the `GNTST_*` Xen writes), where
   * the raw hypercall returns 0 with a status per op.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
   * import { Hypervisor } from "./hypervisor.ts";
   * import { DOMID_SELF } from "./args.ts";
   * import {
   *   encodeGrantEntry,
   *   GNTCOPY_dest_gref,
   *   GNTCOPY_source_gref,
   *   GTF_permit_access,
   *   GTF_readonly,
   * } from "./grant_table.ts";
   * const engine = new Engine();
   * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
   * await engine.run(async () => {
   *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
   *   const page = vm.memory.alloc(4096, 4096), ref = 8;
   *   vm.memory.write(page, new TextEncoder().encode("hello!"));
   *   const flags = GTF_permit_access | GTF_readonly; // the guest lets dom0 read the page
   *   const entry = encodeGrantEntry({ flags, domid: 0, frame: page / 4096 });
   *   hv.mem.write(hv.grantTableFrames(vm.domid)![0] * 4096 + 8 * ref, entry);
   *   const mine = hv.dom0.memory.alloc(4096, 4096);
   *   const t0 = engine.now;
   *   await hv.grantCopy(hv.dom0, {
   *     source: { ref, domid: vm.domid, offset: 0 },
   *     dest: { gmfn: mine / 4096, domid: DOMID_SELF, offset: 0 },
   *     len: 6,
   *     flags: GNTCOPY_source_gref,
   *   });
   *   assert.equal(new TextDecoder().decode(hv.dom0.memory.read(mine, 6)), "hello!");
   *   assert.equal(engine.now - t0, 400 + 3); // hypercallNs + 6 bytes at 2 GB/s
   *   await assert.rejects(
   *     hv.grantCopy(hv.dom0, {
   *       source: { ref, domid: vm.domid, offset: 0 },
   *       dest: { ref, domid: vm.domid, offset: 0 }, // a read-only grant as the destination
   *       len: 5,
   *       flags: GNTCOPY_source_gref | GNTCOPY_dest_gref,
   *     }),
   *     { code: "EPERM", status: -1 }, // GNTST_general_error, as _set_status_v1 gives it
   *   );
   * });
   * ```
   */
  async grantCopy(caller: Caller, op: GrantCopyOp): Promise<void> {
    const [r] = await this.grantCopyBatch(caller, [op]);
    if (r.status !== GNTST.okay) throw refusal(r);
  }

  /**
   * `grant_table_op:copy` with many ops in one hypercall: one `hypercallNs`,
   * the bytes of the ops done at `cpu.memcpyBytesPerSec`, and a
   * {@link GrantCopyResult} per op (the batch itself does not fail for a bad
   * op, as in Xen). Rejects with a {@link XenError} when `ops` is not a list
   * of at most `MAX_ARG_LIST` ops (EINVAL) or an op is not a readable block
   * (EFAULT; no op is done then).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
   * import { Hypervisor } from "./hypervisor.ts";
   * import { DOMID_SELF } from "./args.ts";
   * const engine = new Engine();
   * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
   * await engine.run(async () => {
   *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
   *   const page = vm.memory.alloc(4096, 4096) / 4096;
   *   const out = await hv.grantCopyBatch(vm, [
   *     { source: { gmfn: page, domid: DOMID_SELF, offset: 0 }, dest: { gmfn: page, domid: DOMID_SELF, offset: 8 }, len: 8 },
   *     { source: { gmfn: page, domid: vm.domid, offset: 0 }, dest: { gmfn: page, domid: DOMID_SELF, offset: 0 }, len: 8 },
   *   ]);
   *   // Only DOMID_SELF may name a frame: the caller's own id is GNTST_permission_denied.
   *   assert.deepEqual(out.map((r) => r.status), [0, -8]);
   *   await assert.rejects(hv.grantCopyBatch(vm, [null as never]), { code: "EFAULT" });
   * });
   * ```
   */
  grantCopyBatch(caller: Caller, ops: GrantCopyOp[]): Promise<GrantCopyResult[]> {
    return this.#calls.invoke(caller, "grant_table_op:copy", { ops }) as Promise<
      GrantCopyResult[]
    >;
  }

  /**
   * Pins of grant `ref` of `granter` that grant copies in flight hold:
   * read (a source) and write (a destination).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
   * import { Hypervisor } from "./hypervisor.ts";
   * const hv = new Hypervisor(new Engine(), new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
   * assert.deepEqual(hv.grantCopyPins(0, 8), { readers: 0, writers: 0 }); // no copy runs
   * ```
   */
  grantCopyPins(granter: number, ref: number): { readers: number; writers: number } {
    return this.#h.grants.copyPins(granter, ref);
  }

  /**
   * `grant_table_op:query_size`: table frames of `domid` (self, or any for
   * dom0; a dying domain's table too, as Xen keeps it until the domain is destroyed). Throws the op's refusal as a {@link GrantTableError} (ESRCH
   * `GNTST_bad_domain`, EPERM `GNTST_permission_denied`), where the raw
   * hypercall returns 0 with the status in its result
   * ({@link GrantQuerySizeResult}), as Xen does.
   */
  async grantQuerySize(
    caller: Caller,
    domid = DOMID_SELF,
  ): Promise<{ nrFrames: number; maxNrFrames: number }> {
    const r = await this.#calls.invoke(caller, "grant_table_op:query_size", {
      domid,
    }) as GrantQuerySizeResult;
    if (r.status !== GNTST.okay) throw refusal(r);
    return { nrFrames: r.nrFrames!, maxNrFrames: r.maxNrFrames! };
  }

  /** Dom0's VCPUs: where its hypercalls, upcalls and backend work run (`vcpus.ts`). */
  get dom0Vcpus(): VcpuPool {
    return this.#h.dom0Vcpus;
  }

  /** Grants `domid` has mapped now. */
  grantsMappedBy(domid: number): number {
    return this.#h.grants.mappedBy(domid);
  }

  /**
   * Entries of `domid`'s grant-map table (maptrack): the most grants it may map
   * at once (a boot parameter of the host, `gnttab_max_maptrack_frames`).
   */
  maptrackSize(domid: number): number {
    return this.#h.grants.maptrackSize(domid);
  }

  /** Mappings (by anyone) of grants `domid` gave. */
  grantsMappedFrom(domid: number): number {
    return this.#h.grants.mappedFrom(domid);
  }

  /**
   * Frames `domid` gave back that stay allocated because something still
   * references them (another domain maps them, a device reaches them
   * through an MTT entry): all its remaining frames once it is dying.
   */
  framesKept(domid: number): number {
    const d = this.#h.domains.get(domid);
    if (!d) return 0;
    const inSpace = this.#h.xenFrames.has(domid)
      ? d.memory.framesOwned + this.#h.xenFrames.get(domid)!.grantFrames + 1
      : 0;
    return this.#h.framesHeld(domid) - inSpace;
  }

  /** Machine frames of `domid`'s grant table (for inspection and ABI tests). */
  grantTableFrames(domid: number): readonly number[] | undefined {
    return this.#h.grants.tableFrames(domid);
  }

  // ---- event channels ----

  /** `event_channel_op:alloc_unbound`: a port of `dom` (default self) that `remoteDom` may bind. */
  evtchnAllocUnbound(caller: Caller, a: { dom?: number; remoteDom: number }): Promise<number> {
    return this.#calls.invoke(caller, "event_channel_op:alloc_unbound", a) as Promise<number>;
  }

  /** `event_channel_op:bind_interdomain`: connect to `remotePort` of `remoteDom`. */
  evtchnBindInterdomain(
    caller: Caller,
    a: { remoteDom: number; remotePort: number },
  ): Promise<number> {
    return this.#calls.invoke(caller, "event_channel_op:bind_interdomain", a) as Promise<number>;
  }

  /** `event_channel_op:bind_pirq` (dom0 only): receive physical IRQ `pirq` as an event. */
  evtchnBindPirq(caller: Caller, pirq: number): Promise<number> {
    return this.#calls.invoke(caller, "event_channel_op:bind_pirq", { pirq }) as Promise<number>;
  }

  /**
   * `event_channel_op:bind_virq`: a new port of the caller for virtual IRQ
   * `virq` (`VIRQ`) on vCPU `vcpu` (refusals as `EventChannels.bindVirq`).
   * Xen raises only `VIRQ.DOM_EXC` here, and only to dom0: when a guest
   * shuts down (any reason, suspend included), crashes, is destroyed, and
   * when its last frame is freed, as `send_global_virq(VIRQ_DOM_EXC)` in
   * `xen/common/domain.c`. The other VIRQs bind but never fire.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
   * import { Hypervisor, VIRQ } from "./mod.ts";
   * const engine = new Engine();
   * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
   * await engine.run(async () => {
   *   const port = await hv.evtchnBindVirq(hv.dom0, { virq: VIRQ.DOM_EXC, vcpu: 0 });
   *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
   *   await hv.destroyDomain(hv.dom0, vm.domid);
   *   assert.equal(hv.dom0.sharedInfo.isPending(port), true); // dom0's toolstack is told
   * });
   * ```
   */
  evtchnBindVirq(caller: Caller, a: { virq: number; vcpu: number }): Promise<number> {
    return this.#calls.invoke(caller, "event_channel_op:bind_virq", a) as Promise<number>;
  }

  /**
   * `event_channel_op:bind_ipi`: a new port of the caller whose sends
   * notify the caller's own vCPU `vcpu` (0: events reach vCPU 0 only here,
   * any other is ENOENT).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
   * import { Hypervisor } from "./mod.ts";
   * const engine = new Engine();
   * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
   * await engine.run(async () => {
   *   const port = await hv.evtchnBindIpi(hv.dom0, { vcpu: 0 });
   *   await hv.evtchnSend(hv.dom0, port);
   *   assert.equal(hv.dom0.sharedInfo.isPending(port), true); // the sender's own port
   * });
   * ```
   */
  evtchnBindIpi(caller: Caller, a: { vcpu: number }): Promise<number> {
    return this.#calls.invoke(caller, "event_channel_op:bind_ipi", a) as Promise<number>;
  }

  /** `event_channel_op:send` on the caller's `port`. */
  evtchnSend(caller: Caller, port: number): Promise<void> {
    return this.#calls.invoke(caller, "event_channel_op:send", { port }) as Promise<void>;
  }

  /**
   * {@link evtchnSend} for a thread that chains its work as callbacks: the
   * same hypercall at the same instants; `then` gets the refusal, if any,
   * where the awaiting thread would have continued. Dom0's call runs on its
   * VCPUs (`VcpuPool.runThen`), charged to `owner`; a guest's is an event of
   * the call's length, as its awaited call sleeps that long (`owner` unused).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
   * import { Hypervisor } from "./hypervisor.ts";
   * const engine = new Engine();
   * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
   * const out: string[] = [];
   * await engine.run(async () => {
   *   hv.evtchnSendThen(hv.dom0, 9, "dom0", (e) => out.push(`${engine.now} ${e?.code}`));
   *   await engine.sleep(10_000);
   * });
   * assert.deepEqual(out, [`${PCIX_SDR_2006.xen.hypercallNs} EINVAL`]); // no port 9: refused after the call's time
   * ```
   */
  evtchnSendThen(
    caller: Caller,
    port: number,
    owner: string,
    then: (err: XenError | undefined) => void,
  ): void {
    this.#calls.invokeThen(caller, "event_channel_op:send", { port }, owner, then);
  }

  /** `event_channel_op:close` of the caller's `port`. */
  evtchnClose(caller: Caller, port: number): Promise<void> {
    return this.#calls.invoke(caller, "event_channel_op:close", { port }) as Promise<void>;
  }

  /** `event_channel_op:unmask` of the caller's `port`. */
  evtchnUnmask(caller: Caller, port: number): Promise<void> {
    return this.#calls.invoke(caller, "event_channel_op:unmask", { port }) as Promise<void>;
  }

  /**
   * `event_channel_op:status` of `port` in `dom` (default self; others dom0 only).
   *
   * @internal
   */
  evtchnStatus(caller: Caller, a: { dom?: number; port: number }): Promise<EvtchnStatus> {
    return this.#calls.invoke(caller, "event_channel_op:status", a) as Promise<EvtchnStatus>;
  }

  /**
   * `event_channel_op:bind_vcpu`: notify vCPU `vcpu` of `port`'s events.
   * Events reach vCPU 0 only here: any other is ENOENT, as Xen answers for
   * a vCPU the domain lacks.
   */
  evtchnBindVcpu(caller: Caller, a: { port: number; vcpu: number }): Promise<void> {
    return this.#calls.invoke(caller, "event_channel_op:bind_vcpu", a) as Promise<void>;
  }

  /**
   * `event_channel_op:reset`: close every port of `dom` (default self;
   * another domain only for dom0, and only while it has it paused).
   */
  evtchnReset(caller: Caller, a: { dom?: number } = {}): Promise<void> {
    return this.#calls.invoke(caller, "event_channel_op:reset", a) as Promise<void>;
  }

  /**
   * `xen_version:version`: `XEN_VERSION`. A guest kernel makes it for
   * its return alone: the return delivers an upcall pending and unmasked
   * (Linux `xen_force_evtchn_callback`).
   */
  xenVersion(caller: Caller): Promise<number> {
    return this.#calls.invoke(caller, "xen_version:version", {}) as Promise<number>;
  }

  /**
   * Route the host's interrupt controller through the hypervisor (pirqs).
   *
   * @internal
   */
  connectInterrupts(pic: InterruptController): void {
    pic.connect((v) => this.raisePhysicalIrq(v));
  }

  /** A physical interrupt arrived on `pirq` (hardware side; no process needed). */
  raisePhysicalIrq(pirq: number): void {
    this.#h.extraDelayNs = this.profile.cpu.interruptNs;
    try {
      if (this.#h.evtchn.raisePirq(pirq)) this.#h.c.pirqsRouted++;
      else this.#h.c.pirqsUnbound++;
    } finally {
      this.#h.extraDelayNs = 0;
    }
  }

  #kick(domid: number): void {
    if (this.#h.upcallScheduled.has(domid)) return;
    this.#h.upcallScheduled.add(domid);
    const delay = this.profile.xen.upcallNs + this.profile.xen.domainSwitchNs +
      this.#h.extraDelayNs;
    this.#upcallIn(domid, this.#noisy(domid, delay));
  }

  /**
   * Deliver `domid`'s upcall `delay` from now. Dom0's handler entry — the
   * last `upcallNs` of that — runs on one of its VCPUs, ahead of its threads
   * (`vcpus.ts`): when they are all busy it waits for the next preemption
   * point; when one is free the timing is as for any domain.
   */
  #upcallIn(domid: number, delay: number): void {
    if (domid !== 0) {
      this.engine.post(delay, () => this.#deliverUpcall(domid), this.#tagUpcall);
      return;
    }
    const entry = Math.min(delay, this.profile.xen.upcallNs);
    this.engine.post(
      delay - entry,
      () => this.#h.dom0Vcpus.irq(entry, () => this.#deliverUpcall(domid)),
      this.#tagUpcall,
    );
  }

  /** `delay` from now, or later if the domain's vCPU is in a detour then (noise on). */
  #noisy(domid: number, delay: number): number {
    const noise = this.#h.cpuNoise?.(domid);
    if (!noise) return delay;
    const now = this.engine.now;
    return noise.finish(now + delay, 0) - now;
  }

  /**
   * A handler was installed or the vCPU runs again: a pending upcall it may
   * take (not masked) is delivered `upcallNs` from now.
   */
  #upcallInstalled(domid: number): void {
    const d = this.#h.domains.get(domid);
    if (!d?.running || d.paused) return;
    const si = d.sharedInfo;
    if (!si.upcallPending || si.upcallMasked || this.#h.upcallScheduled.has(domid)) return;
    this.#h.upcallScheduled.add(domid);
    this.#upcallIn(domid, this.#noisy(domid, this.profile.xen.upcallNs));
  }

  /**
   * `domid`'s vCPU returns from Xen (the end of one of its hypercalls, or of
   * its upcall handler). As x86's `test_all_events` on every exit to a PV
   * guest: an upcall pending while upcalls are unmasked is delivered, so a
   * guest that unmasks finds its pending events at its next hypercall (Linux
   * `xen_irq_enable` makes one at once). Only once a handler is installed:
   * before that the events wait for it ({@link Domain.installUpcall}).
   */
  #returned(domid: number): void {
    if (this.#h.upcallScheduled.has(domid)) return;
    const d = this.#h.domains.get(domid);
    if (!d?.upcall) return;
    this.#upcallInstalled(domid);
  }

  #deliverUpcall(domid: number): void {
    if (!this.#h.upcallScheduled.delete(domid)) return;
    const d = this.#h.domains.get(domid);
    const handler = d?.upcall;
    // A paused or suspended vCPU takes its upcall when it runs again (markRunnable).
    if (!d?.running || d.paused || !handler) return;
    const si = d.sharedInfo;
    // entry.S test_guest_events: no upcall while evtchn_upcall_pending is clear or
    // evtchn_upcall_mask is set. A masked upcall stays pending until the guest unmasks and
    // returns from Xen (#returned).
    if (!si.upcallPending || si.upcallMasked) return;
    this.#h.c.upcalls++;
    this.engine.traceMark(this.#markUpcall, domid);
    // create_bounce_frame with TBF_INTERRUPT: the handler runs with upcalls masked; its iret
    // restores the mask it interrupted (pv/iret.c) and returns through test_all_events.
    const page = si.page;
    page[OFF_UPCALL_MASK] = 1;
    let oops = false;
    try {
      handler(d);
    } catch (e) {
      // Dom0's handler failing is a bug in the model: it reaches the engine as any bug does.
      if (domid === 0) throw e;
      oops = true;
    } finally {
      page[OFF_UPCALL_MASK] = 0;
      this.#returned(domid);
    }
    if (oops) {
      // A guest's handler is its kernel's code: one that fails in it is an oops in interrupt
      // context, which Linux makes a panic (oops_end: "Fatal exception in interrupt"), and a PV
      // guest's panic ends in SCHEDOP_shutdown(SHUTDOWN_crash) (xen_panic_event). That guest
      // crashes; the host and every other domain go on.
      this.#h.c.guestUpcallErrors++;
      this.domainCrash(d);
    }
  }

  // ---- I/O pages ----

  /** `domctl:memory_mapping` (dom0 only): map device I/O frame `mfn` into guest `domid`. */
  mapIoPage(caller: Caller, a: { domid: number; mfn: number }): Promise<number> {
    return this.#calls.invoke(caller, "domctl:memory_mapping", { ...a, add: true }) as Promise<
      number
    >;
  }

  /** `domctl:memory_mapping` with `add: false` (dom0 only): unmap it. */
  unmapIoPage(caller: Caller, a: { domid: number; mfn: number }): Promise<void> {
    return this.#calls.invoke(caller, "domctl:memory_mapping", { ...a, add: false }) as Promise<
      void
    >;
  }

  /** The guest a device I/O frame is mapped into, if any. */
  ioPageHolder(mfn: number): number | undefined {
    return this.#h.io.holderOf(mfn);
  }

  /**
   * `memory_op:current_reservation`: the pages of `domid`'s memory reservation, populated or
   * not (Xen's `domain_tot_pages`; self, or any for dom0). For a dying domain, the pages others
   * still hold.
   */
  currentReservation(caller: Caller, domid = DOMID_SELF): Promise<number> {
    return this.#calls.invoke(caller, "memory_op:current_reservation", { domid }) as Promise<
      number
    >;
  }

  /**
   * The raw dispatcher: make hypercall `name` with argument block `args` as
   * `caller`. Never throws for a refused call: `{ rc: -errno, error }`.
   *
   * @internal
   */
  async hypercall(caller: Caller, name: string, args: unknown): Promise<HypercallResult> {
    try {
      return { rc: 0, value: await this.#calls.invoke(caller, name, args) };
    } catch (e) {
      const r = e instanceof XenError ? e : this.#h.fault(show(name), e);
      return { rc: r.rc, error: r.message };
    }
  }

  // ---- accounting ----

  /** Resource counts now (they return to their earlier values after a teardown). */
  stats(): HypervisorStats {
    let frames = 0;
    for (const id of this.#h.domains.keys()) frames += this.#h.framesHeld(id);
    return {
      domains: this.#h.domains.size,
      grantsMapped: this.#h.grants.mapped,
      evtchnsBound: this.#h.evtchn.bound,
      framesAllocated: frames,
      ioPagesMapped: this.#h.io.mapped,
    };
  }

  /** Cumulative counters (maps as plain objects with sorted keys). */
  counters(): HypervisorCounters {
    const c = this.#h.c;
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
      guestUpcallErrors: c.guestUpcallErrors,
      faults: c.faults,
    };
  }

  /** The faults recorded (newest last, at most 256), as `"<virtual ns> <where>: <error>"`. */
  faultLog(): readonly string[] {
    return [...this.#h.faultLog];
  }

  /**
   * The isolation audit (`audit.ts`): reference counts against every
   * reference found, grant and I/O-page mappings against the hypervisor's
   * records, device-reachable frames against what was granted to dom0,
   * domain states and counts. Returns the violations; empty means clean.
   * Pass the references a device driver holds (`deviceReferences`), or its
   * pinned frames read as unexplained references.
   */
  audit(o: HypervisorAuditOptions = {}): AuditViolation[] {
    return auditHost(this.#h, o);
  }
}

/**
 * The error a typed grant call throws for an op Xen refused with a status:
 * `r.error` is the refusal's message, "<code>: …", and the new error puts
 * its own code in front (so it is not said twice).
 */
function refusal(r: { status: GntStatus; code?: XenErrnoCode; error?: string }): GrantTableError {
  return new GrantTableError(r.code!, r.status, r.error!.slice(r.code!.length + 2));
}

function sortedRecord(m: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const k of [...m.keys()].sort()) out[k] = m.get(k)!;
  return out;
}
