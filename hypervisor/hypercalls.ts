/**
 * The hypercall layer: the table of named hypercalls and the dispatcher a
 * hostile guest reaches. Each call is counted (refused ones too), costs
 * `profile.xen.hypercallNs` plus its own per-op cost, and checks its
 * caller, privilege and untrusted argument block before touching anything.
 *
 * A caller that is not a running domain of this hypervisor gets ESRCH; an
 * unprivileged caller asking for a privileged operation EPERM (a domctl
 * other than createdomain looks its domain up first, as `do_domctl` does:
 * ESRCH when it names none, whoever calls); a malformed
 * argument EINVAL (EFAULT if the argument block itself is not an object or
 * cannot be read; the handlers see only a copy of it, see `argBlock`);
 * a domid naming no live domain ESRCH — reserved ones (`DOMID_IO`, 0x7ff5,
 * anything up to 0xffff but `DOMID_SELF` where the call takes it) included,
 * as Xen's `rcu_lock_domain_by_id` finds none of them; a value that is not a
 * `domid_t` (`uint16_t`) at all is EINVAL. A dying domain (a zombie: torn
 * down, its frames still held by others) is still in Xen's domain list, and
 * the calls Xen answers for one answer here as there (event channels,
 * reservation, grant table size, pause, resume, remote shutdown, shadow op);
 * grant map and copy of its grants are ESRCH (`GNTST_bad_domain`). Any other exception inside a
 * handler is a fault of the model, not the caller's doing: the call fails
 * with EIO and the fault is counted and logged (`HostState.fault`), so no
 * JS exception ever reaches the caller of a hypercall.
 *
 * @module
 */
import { type XenErrnoCode, XenError } from "./errors.ts";
import { argBlock, boolArg, DOMID_SELF, intArg, MAX_ARG_LIST, show } from "./args.ts";
import { Domain, SHUTDOWN_REASONS, type ShutdownCode, type ShutdownReason } from "./domain.ts";
import {
  type CopyHold,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTMAP_device_map,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTST,
  type GntStatus,
  gntstOf,
  type GrantMapping,
  GrantTableError,
} from "./grant_table.ts";
import { PAGE_SIZE } from "../sim/memory.ts";
import type { HostState } from "./host.ts";
import type { Lifecycle } from "./lifecycle.ts";
import { SHADOW_OPS, type ShadowOp } from "./log_dirty.ts";

/**
 * Every hypercall the dispatcher knows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HYPERCALLS } from "./hypervisor.ts";
 * assert.deepEqual(HYPERCALLS.filter((h) => h.startsWith("grant_table_op:")), [
 *   "grant_table_op:map_grant_ref",
 *   "grant_table_op:unmap_grant_ref",
 *   "grant_table_op:copy",
 *   "grant_table_op:query_size",
 * ]);
 * ```
 */
export const HYPERCALLS = [
  "domctl:createdomain",
  "domctl:destroydomain",
  "domctl:memory_mapping",
  "domctl:shadow_op",
  "domctl:pausedomain",
  "domctl:unpausedomain",
  "domctl:resumedomain",
  "sched_op:shutdown",
  "sched_op:remote_shutdown",
  "grant_table_op:map_grant_ref",
  "grant_table_op:unmap_grant_ref",
  "grant_table_op:copy",
  "grant_table_op:query_size",
  "event_channel_op:alloc_unbound",
  "event_channel_op:bind_interdomain",
  "event_channel_op:bind_pirq",
  "event_channel_op:bind_virq",
  "event_channel_op:bind_ipi",
  "event_channel_op:send",
  "event_channel_op:close",
  "event_channel_op:unmask",
  "event_channel_op:status",
  "event_channel_op:bind_vcpu",
  "event_channel_op:reset",
  "memory_op:current_reservation",
  "xen_version:version",
] as const;

/**
 * What `xen_version:version` (`XENVER_version`) returns, `(major << 16) |
 * minor`: the Xen release whose public headers the model's ABI follows and
 * is checked against (4.17). A profile's costs may be those of another
 * release (the 2006 profile's are Xen 3.0's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XEN_VERSION } from "./hypercalls.ts";
 * assert.deepEqual([XEN_VERSION >> 16, XEN_VERSION & 0xffff], [4, 17]);
 * ```
 */
export const XEN_VERSION = 0x0004_0011;

/**
 * A hypercall name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { type HypercallName, Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const call: HypercallName = "memory_op:current_reservation";
 * const r = await engine.run(() => hv.hypercall(hv.dom0, call, {}));
 * assert.equal(r.rc, 0);
 * const bad = await engine.run(() => hv.hypercall(hv.dom0, "memory_op:increase", {}));
 * assert.equal(bad.rc, -38); // ENOSYS: not a HypercallName
 * ```
 */
export type HypercallName = typeof HYPERCALLS[number];

/**
 * What {@link Hypervisor.hypercall} returns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { type HypercallResult, Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const r: HypercallResult = await engine.run(() =>
 *   hv.hypercall(hv.dom0, "event_channel_op:send", { port: 9 })
 * );
 * assert.equal(r.rc, -22); // EINVAL: port 9 is not bound
 * assert.match(r.error!, /port 9/);
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
 * One op of a batched grant map.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { type GrantMapOp, Hypervisor } from "./hypervisor.ts";
 * import { encodeGrantEntry, GTF_permit_access, GTF_readonly } from "./grant_table.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   const buf = vm.memory.alloc(2 * 4096, 4096) / 4096;
 *   const table = hv.grantTableFrames(vm.domid)![0] * 4096;
 *   const ops: GrantMapOp[] = [];
 *   for (const [i, frame] of [buf, buf + 1].entries()) {
 *     const ref = 8 + i; // the guest writes one read-only grant per page into its table
 *     const flags = GTF_permit_access | GTF_readonly;
 *     hv.mem.write(table + 8 * ref, encodeGrantEntry({ flags, domid: 0, frame }));
 *     ops.push({ domid: vm.domid, ref, readonly: true });
 *   }
 *   const out = await hv.grantMapBatch(hv.dom0, ops);
 *   assert.deepEqual(out.map((r) => r.status), [0, 0]);
 *   assert.equal(hv.counters().byKind["grant_table_op:map_grant_ref"], 1); // one hypercall
 * });
 * ```
 */
export interface GrantMapOp {
  /** Granting domain. */
  domid: number;
  /** Grant reference in its table. */
  ref: number;
  /** Map read-only (`GNTMAP_readonly`). */
  readonly?: boolean;
  /**
   * `gnttab_map_grant_ref.flags` (`uint32_t`, `GNTMAP_*`), as a C caller
   * gives them: at least one of `GNTMAP_host_map` and `GNTMAP_device_map`
   * (else `GNTST_bad_gntref`), `GNTMAP_readonly` for a read-only mapping.
   * Absent: `GNTMAP_host_map`, plus `GNTMAP_readonly` when `readonly` is
   * set; given with `readonly`, the two must agree. A
   * `GNTMAP_device_map`-only op is mapped into the caller too (the
   * mapping's `mfn` is Xen's `dev_bus_addr`).
   */
  flags?: number;
}

/**
 * Per-op result of a batched grant map. `status` is what Xen writes into
 * `gnttab_map_grant_ref.status`: `GNTST_okay` (0) or a negative `GNTST_*`
 * ({@link GNTST}), never an errno. A refused op also carries `code`, the
 * errno name the single-op call would throw for it (finer than the status:
 * Xen reports several cases as `GNTST_general_error` and tells them apart
 * only in its log), and `error`, the refusal's message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { type GrantMapResult, Hypervisor } from "./hypervisor.ts";
 * import { encodeGrantEntry, GTF_permit_access } from "./grant_table.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   const frame = vm.memory.alloc(4096, 4096) / 4096, ref = 8;
 *   const entry = encodeGrantEntry({ flags: GTF_permit_access, domid: 0, frame });
 *   hv.mem.write(hv.grantTableFrames(vm.domid)![0] * 4096 + 8 * ref, entry); // the guest's grant
 *   const out: GrantMapResult[] = await hv.grantMapBatch(hv.dom0, [
 *     { domid: vm.domid, ref },
 *     { domid: vm.domid, ref: ref + 1 }, // never granted
 *   ]);
 *   assert.deepEqual(out.map((r) => r.status), [0, -1]); // GNTST_general_error: it grants nothing
 *   assert.equal(out[1].code, "EINVAL");
 * });
 * ```
 */
export interface GrantMapResult extends Partial<GrantMapping> {
  /** `GNTST_okay` (0) on success, else the `GNTST_*` Xen gives for the refusal. */
  status: GntStatus;
  /** A refused op: the errno name the single-op call would throw. */
  code?: XenErrnoCode;
  /** A refused op: why. */
  error?: string;
}

/**
 * Per-op result of `grant_table_op:copy` (`gnttab_copy.status`): `GNTST_okay`
 * (0) or the `GNTST_*` Xen's gnttab_copy() writes for the refusal, never an
 * errno; a refused op also carries `code` (the errno name the typed
 * {@link Hypervisor.grantCopy} throws for it) and `error` (why).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { type GrantCopyResult, Hypervisor } from "./hypervisor.ts";
 * import { DOMID_SELF } from "./args.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const out: GrantCopyResult[] = await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   const page = vm.memory.alloc(8192, 4096) / 4096;
 *   const self = (gmfn: number, offset = 0) => ({ gmfn, domid: DOMID_SELF, offset });
 *   return await hv.grantCopyBatch(vm, [
 *     { source: self(page), dest: self(page + 1), len: 64 }, // frame to frame, its own
 *     { source: self(page, 4090), dest: self(page + 1), len: 64 }, // past the page
 *   ]);
 * });
 * assert.deepEqual(out.map((r) => r.status), [0, -10]); // GNTST_bad_copy_arg
 * assert.equal(out[1].code, "EINVAL");
 * ```
 */
export interface GrantCopyResult {
  /** `GNTST_okay` (0) on success, else the `GNTST_*` Xen gives for the refusal. */
  status: GntStatus;
  /** A refused op: the errno name the typed call throws. */
  code?: XenErrnoCode;
  /** A refused op: why. */
  error?: string;
}

/**
 * What `grant_table_op:query_size` returns: `struct gnttab_query_size`'s
 * outputs. As in Xen the hypercall succeeds (rc 0) when the op fails:
 * `status` says why (`GNTST_bad_domain`, `GNTST_permission_denied`), and
 * `code` and `error` are the errno name and message the typed call
 * ({@link Hypervisor.grantQuerySize}) throws for it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { GNTST } from "./grant_table.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   const mine = await hv.hypercall(vm, "grant_table_op:query_size", {});
 *   assert.equal(mine.rc, 0);
 *   assert.equal((mine.value as { status: number }).status, GNTST.okay);
 *   const dom0s = await hv.hypercall(vm, "grant_table_op:query_size", { domid: 0 });
 *   assert.equal(dom0s.rc, 0); // the call succeeded; the op did not
 *   assert.equal((dom0s.value as { status: number }).status, GNTST.permission_denied);
 * });
 * ```
 */
export interface GrantQuerySizeResult {
  /** `GNTST_okay` (0), or the `GNTST_*` Xen gives for the refusal. */
  status: GntStatus;
  /** `nr_frames`: frames of the table (on success). */
  nrFrames?: number;
  /** `max_nr_frames`: the most it may have (on success; tables here do not grow). */
  maxNrFrames?: number;
  /** A refused op: the errno name the typed call throws. */
  code?: XenErrnoCode;
  /** A refused op: why. */
  error?: string;
}

/**
 * Who makes a hypercall: a domain, or its domid (checked either way).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * import type { Caller } from "./hypercalls.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const stranger: Caller = 42;
 * const r = await engine.run(() => hv.hypercall(stranger, "memory_op:current_reservation", {}));
 * assert.equal(r.rc, -3); // ESRCH: no dom42 here
 * ```
 */
export type Caller = Domain | number;
/**
 * A handler's outcome: its value, the time it costs after the hypercall's entry, and what is to
 * run once that time has passed (a copy releases its pins then).
 */
type Handled = { value: unknown; costNs: number; done?: () => void };
type Handler = (c: Domain, a: Record<string, unknown>) => Handled;

const MAX_BATCH = MAX_ARG_LIST;

/**
 * The dispatcher and handler table of one host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { HostState } from "./host.ts";
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
 * const calls = new Hypercalls(h, life);
 * const dom0 = life.build(0, "Domain-0", true, { name: "Domain-0", memoryBytes: 8 << 20 });
 * const pages = await engine.run(() => calls.invoke(dom0, "memory_op:current_reservation", {}));
 * assert.equal(pages, (8 << 20) / 4096); // its reservation, in pages
 * await assert.rejects(engine.run(() => calls.invoke(dom0, "event_channel_op:send", {})), {
 *   code: "EINVAL",
 * }); // refused calls throw XenError (the Hypervisor turns them into rc)
 * assert.equal(h.c.hypercalls, 2);
 * ```
 */
export class Hypercalls {
  #handlers: Record<HypercallName, Handler>;

  /**
   * @param h the host's shared state
   * @param life builds and tears down domains for the domctl and sched_op calls
   */
  constructor(private h: HostState, private life: Lifecycle) {
    this.#handlers = this.#makeHandlers();
    this.#tagHypercall = h.engine.tag("xen.hypercall");
  }

  /** The kind of a domU hypercall's completion event ({@link Engine.tag}). */
  readonly #tagHypercall: number;

  /** Make hypercall `name` as `caller`; throws {@link XenError} when refused. */
  async invoke(caller: Caller, name: string, args: unknown): Promise<unknown> {
    // A name that is not a string is no hypercall (converting it could run the caller's code).
    const known = typeof name === "string" && Object.hasOwn(this.#handlers, name);
    const kind = known ? name : "unknown";
    this.#count(kind);
    // Dom0's hypercalls run on its VCPUs (shared by its backends and upcalls); a guest's on its own.
    const dom0 = caller === 0 || caller === this.h.domains.get(0);
    const cpu = (ns: number) => dom0 ? this.h.dom0Vcpus.run(ns) : this.h.engine.sleep(ns);
    await cpu(this.h.profile.xen.hypercallNs);
    const c = this.#caller(caller, kind);
    try {
      if (!known) throw new XenError("ENOSYS", `no hypercall ${show(name)}`);
      let r: Handled;
      try {
        r = this.#handlers[name as HypercallName](c, argBlock(args, name));
      } catch (e) {
        throw this.#refusal(e, name);
      }
      if (r.costNs > 0) await cpu(r.costNs);
      r.done?.();
      return r.value;
    } finally {
      // Back to the guest, refused or not: an upcall it unmasked meanwhile is delivered now.
      this.h.returned(c.domid);
    }
  }

  /**
   * {@link invoke} for a dom0 thread that chains its steps as callbacks on
   * dom0's VCPUs (`VcpuPool.runThen`) instead of awaiting them: the same
   * counters, trace mark, slices (charged to `owner`, the account the
   * calling thread is bound to) and checks at the same instants; `then`
   * gets the refusal (a {@link XenError}) or the value where the awaiting
   * thread would have continued. A guest caller's time passes as an event
   * of the same length, as {@link invoke}'s sleep.
   */
  invokeThen(
    caller: Caller,
    name: string,
    args: unknown,
    owner: string,
    then: (err: XenError | undefined, value?: unknown) => void,
  ): void {
    // A name that is not a string is no hypercall (converting it could run the caller's code).
    const known = typeof name === "string" && Object.hasOwn(this.#handlers, name);
    const kind = known ? name : "unknown";
    this.#count(kind);
    const dom0 = caller === 0 || caller === this.h.domains.get(0);
    const after = (ns: number, fn: () => void) => {
      if (dom0) this.h.dom0Vcpus.runThen(ns, owner, fn);
      else this.h.engine.post(ns, fn, this.#tagHypercall);
    };
    after(this.h.profile.xen.hypercallNs, () => {
      let r: Handled;
      let c: Domain | undefined;
      try {
        c = this.#caller(caller, kind);
        if (!known) throw new XenError("ENOSYS", `no hypercall ${show(name)}`);
        try {
          r = this.#handlers[name as HypercallName](c, argBlock(args, name));
        } catch (e) {
          throw this.#refusal(e, name);
        }
      } catch (e) {
        if (c) this.h.returned(c.domid);
        return then(e as XenError);
      }
      const domid = c!.domid;
      const done = () => {
        r.done?.();
        this.h.returned(domid);
        then(undefined, r.value);
      };
      if (r.costNs > 0) after(r.costNs, done);
      else done();
    });
  }

  /** A call of `kind` made now: counted and marked in the trace. */
  #count(kind: string): void {
    const c = this.h.c;
    c.hypercalls++;
    c.byKind.set(kind, (c.byKind.get(kind) ?? 0) + 1);
    let mark = this.#marks.get(kind);
    if (mark === undefined) this.#marks.set(kind, mark = this.h.engine.tag(`xen:${kind}`));
    this.h.engine.traceMark(mark);
  }

  /** Trace marks by kind, as the engine's tags (made once: a text is looked up on every use). */
  #marks = new Map<string, number>();

  /** Keys of `sendsByKind` by sender and receiver (made once per pair). */
  #sendKinds = new Map<number, string>();

  /** `e` as a refusal: itself if it is one, else EIO after the fault is recorded. */
  #refusal(e: unknown, where: string): XenError {
    return e instanceof XenError ? e : this.h.fault(where, e);
  }

  #caller(caller: Caller, what: string): Domain {
    const d = typeof caller === "number"
      ? this.h.domains.get(caller)
      : caller instanceof Domain && this.h.domains.get(caller.domid) === caller
      ? caller
      : undefined;
    if (!d) throw new XenError("ESRCH", `${what}: caller ${show(caller)} is not a domain here`);
    if (!d.running) throw new XenError("ESRCH", `${what}: caller ${d} is ${d.state}`);
    return d;
  }

  /**
   * A domid argument: DOMID_SELF is the caller; any other `domid_t` is
   * looked up by the caller (ESRCH when it names no domain, reserved ones
   * included); a value no `uint16_t` holds is EINVAL.
   */
  #domid(c: Domain, v: unknown, what: string): number {
    if (v === DOMID_SELF) return c.domid;
    return domidArg(v, `${what}: domid`);
  }

  /**
   * The domain a domid argument names, ESRCH when none. A dying one (a zombie, kept while others
   * hold its frames) is ESRCH too unless `dying` says the call finds it, as Xen's
   * `rcu_lock_domain_by_any_id` does: Xen keeps it in the domain list until its last page goes.
   */
  #target(c: Domain, v: unknown, what: string, dying = false): Domain {
    const id = this.#domid(c, v, what);
    const d = this.h.domains.get(id);
    if (!d || (!dying && d.state === "dying")) {
      throw new XenError("ESRCH", `${what}: no domain ${id}`);
    }
    return d;
  }

  /**
   * The domain a domctl names, for a privileged caller `c`: do_domctl looks
   * it up by id (`rcu_lock_domain_by_id`, so `DOMID_SELF` names none there:
   * ESRCH) before `xsm_domctl` checks the caller (EPERM). A dying domain is found there too
   * (Xen keeps it in the domain list until its last page goes); `dying` says whether the model
   * lets this domctl find it, else it is ESRCH.
   */
  #domctlTarget(c: Domain, v: unknown, what: string, dying = false): Domain {
    const id = domidArg(v, `${what}: domid`);
    const d = this.h.domains.get(id);
    if (!d || (!dying && d.state === "dying")) {
      throw new XenError("ESRCH", `${what}: no domain ${id}`);
    }
    priv(c, what);
    return d;
  }

  #selfOrPriv(c: Domain, id: number, what: string): void {
    if (id !== c.domid) priv(c, `${what} on dom${id}`);
  }

  #makeHandlers(): Record<HypercallName, Handler> {
    const x = this.h.profile.xen;
    const ok = (value: unknown = undefined, costNs = 0) => ({ value, costNs });
    return {
      "domctl:createdomain": (c, a) => {
        priv(c, "domctl:createdomain");
        return ok(this.life.create(a));
      },
      "domctl:destroydomain": (c, a) => {
        const what = "domctl:destroydomain";
        const id = domidArg(a.domid, `${what}: domid`); // by id: DOMID_SELF is none
        const d = this.h.domains.get(id);
        if (!d) throw new XenError("ESRCH", `${what}: no domain ${id}`);
        priv(c, what);
        // domain_kill(): "if ( d == current->domain ) return -EINVAL" (only dom0 gets this far).
        if (d === c || d.privileged) {
          throw new XenError("EINVAL", `${what}: ${d} cannot destroy itself (domain_kill)`);
        }
        if (d.state !== "dying") this.life.teardown(d, "destroy");
        return ok();
      },
      "domctl:shadow_op": (c, a) => {
        const what = "domctl:shadow_op";
        const d = this.#domctlTarget(c, a.domid, what, true);
        if (d.privileged) throw new XenError("EINVAL", `${what}: dom0 cannot be migrated`);
        // x86/mm/paging.c paging_domctl(): "Ignoring paging op on dying domain", return 0,
        // before the op is looked at; nothing is dirty, no mode changes.
        if (d.state === "dying") {
          return ok({
            pages: d.memory.pages,
            dirtyCount: 0,
            ...(a.op === "clean" ? { dirty: [] } : {}),
          });
        }
        if (typeof a.op !== "string" || !(SHADOW_OPS as readonly string[]).includes(a.op)) {
          throw new XenError("EINVAL", `${what}: op ${show(a.op)} (use ${SHADOW_OPS.join(", ")})`);
        }
        const r = this.h.logDirty.op(d, a.op as ShadowOp);
        // clean and peek copy the bitmap (one bit a page) to the caller.
        const copyNs = a.op === "clean" || a.op === "peek"
          ? (Math.ceil(r.pages / 8) * 1e9) / this.h.profile.cpu.memcpyBytesPerSec
          : 0;
        return ok(r, copyNs);
      },
      "domctl:pausedomain": (c, a) => {
        const what = "domctl:pausedomain";
        // A dying domain is found and counted too (domain.c: neither the pause count nor
        // domain_kill() looks at is_dying, and domain_kill() leaves the count as it was); it
        // has nothing left to run.
        const d = this.#domctlTarget(c, a.domid, what, true);
        if (d.privileged) throw new XenError("EINVAL", `${what}: dom0 cannot be paused`);
        // domain_pause_by_systemcontroller(): pauses are counted, at most 255.
        const core = this.h.cores.get(d.domid)!;
        if (core.controllerPauses >= 255) {
          throw new XenError("EOVERFLOW", `${what}: ${d} is paused 255 times already`);
        }
        core.controllerPauses++;
        if (d.state !== "dying") core.paused = true;
        return ok();
      },
      "domctl:unpausedomain": (c, a) => {
        const what = "domctl:unpausedomain";
        const d = this.#domctlTarget(c, a.domid, what, true);
        // domain_unpause_by_systemcontroller(): each unpause undoes one pause; one too many
        // is EINVAL, and the domain runs when the last is undone.
        const core = this.h.cores.get(d.domid)!;
        if (core.controllerPauses === 0) {
          throw new XenError("EINVAL", `${what}: ${d} is not paused by the toolstack`);
        }
        if (--core.controllerPauses === 0 && d.state !== "dying") {
          this.life.markRunnable(d, "unpause");
        }
        return ok();
      },
      "domctl:resumedomain": (c, a) => {
        const what = "domctl:resumedomain";
        const d = this.#domctlTarget(c, a.domid, what, true);
        // do_domctl: "if ( d == current->domain ) /* no domain_pause() */ ret = -EINVAL".
        if (d === c) throw new XenError("EINVAL", `${what}: ${d} cannot resume itself`);
        // domain_resume() of a dying domain clears a shutdown it no longer runs after: 0.
        if (d.state === "dying") return ok();
        // domain_resume() undoes a shutdown in progress; on a domain that runs it changes
        // nothing. A domain that shut down for good is not brought back here.
        if (!d.running) throw new XenError("EINVAL", `${what}: ${d} is ${d.state}`);
        if (d.suspended) this.life.markRunnable(d, "resume");
        return ok();
      },
      "sched_op:shutdown": (c, a) => {
        const what = "sched_op:shutdown";
        // Deviation: in Xen (common/domain.c domain_shutdown) the hardware domain's shutdown is
        // the host's (hwdom_shutdown: halt or reboot, the call never returns); the model has
        // no host to take down, so it refuses, EPERM, and so does remote_shutdown of dom0.
        if (c.privileged) throw new XenError("EPERM", `${what}: dom0 cannot shut down here`);
        const reason = shutdownReason(a.reason, what);
        if (reason === "suspend") this.life.markSuspended(c);
        else this.life.markShutdown(c, reason);
        return ok();
      },
      "sched_op:remote_shutdown": (c, a) => {
        // SCHEDOP_remote_shutdown: the domain is looked up by id first
        // (rcu_lock_domain_by_id: ESRCH, DOMID_SELF included), then the
        // caller's privilege over it (xsm_schedop_shutdown), then
        // domain_shutdown() with the reason; a domain already shut down keeps
        // its first code.
        const what = "sched_op:remote_shutdown";
        const id = domidArg(a.domid, `${what}: domid`);
        // rcu_lock_domain_by_id() finds a dying domain too; domain_shutdown() of one already
        // torn down changes nothing the model keeps (it stays dying) and returns 0.
        const d = this.h.domains.get(id);
        if (!d) throw new XenError("ESRCH", `${what}: no domain ${id}`);
        priv(c, what);
        const reason = shutdownReason(a.reason, what);
        if (d.privileged) throw new XenError("EPERM", `${what}: dom0 cannot be shut down`);
        if (d.running && !d.suspended) {
          if (reason === "suspend") this.life.markSuspended(d);
          else this.life.markShutdown(d, reason);
        }
        return ok();
      },
      "domctl:memory_mapping": (c, a) => {
        const what = "domctl:memory_mapping";
        const d = this.#domctlTarget(c, a.domid, what);
        const add = boolArg(a.add, `${what}: add`);
        if (d.privileged) {
          throw new XenError("EINVAL", `${what}: dom0 reaches device pages without the hypervisor`);
        }
        if (!add) return ok(this.h.io.unmap(d.domid, a.mfn));
        if (!d.running) throw new XenError("ESRCH", `${what}: ${d} is ${d.state}`);
        return ok(this.h.io.map(d, a.mfn));
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
            return { status: GNTST.okay, ...this.#grantMapOne(c, argBlock(op, what), what) };
          } catch (e) {
            const err = this.#refusal(e, what);
            return { status: gntstOf(err), code: err.code, error: err.message };
          }
        });
        return ok(out, ops.length * x.grantMapNs);
      },
      "grant_table_op:unmap_grant_ref": (c, a) => {
        const what = "grant_table_op:unmap_grant_ref";
        if (a.handles === undefined) {
          this.h.grants.unmap(c, a.handle);
          this.h.c.grantUnmaps++;
          return ok(undefined, x.grantUnmapNs);
        }
        const hs = batch(a.handles, what);
        // One GNTST_* status per handle, as gnttab_unmap_grant_ref.status.
        const out: GntStatus[] = hs.map((h) => {
          try {
            this.h.grants.unmap(c, h);
            this.h.c.grantUnmaps++;
            return GNTST.okay;
          } catch (e) {
            return gntstOf(this.#refusal(e, what));
          }
        });
        return ok(out, hs.length * x.grantUnmapNs);
      },
      "grant_table_op:copy": (c, a) => {
        // do_grant_table_op(GNTTABOP_copy): the list is checked whole before any op
        // (guest_handle_okay: EFAULT); gnttab_copy() then gives each op a GNTST_* status and
        // returns 0. Each op's sides stay pinned (GTF_reading/GTF_writing, a frame reference)
        // until the copy's time has passed, then are released (gnttab_copy_release_buf).
        const what = "grant_table_op:copy";
        const ops = batch(a.ops, what);
        ops.forEach((op, i) => {
          if (typeof op !== "object" || op === null || Array.isArray(op)) {
            throw new XenError("EFAULT", `${what}: op ${i} (${show(op)}) is not readable`);
          }
        });
        const holds: CopyHold[] = [];
        let bytes = 0;
        const out: GrantCopyResult[] = ops.map((op) => {
          const mine: CopyHold[] = [];
          try {
            bytes += this.#grantCopyOne(c, op as Record<string, unknown>, what, mine);
            holds.push(...mine);
            return { status: GNTST.okay };
          } catch (e) {
            // gnttab_copy(): a failed op's buffers are released at once.
            for (const h of mine.reverse()) this.h.grants.copyRelease(h);
            const err = this.#refusal(e, what);
            return { status: gntstOf(err), code: err.code, error: err.message };
          }
        });
        // The memcpy at the CPU's rate (cpu.memcpyBytesPerSec), as every copy the model charges;
        // the hypercall's entry (hypercallNs) was charged by the dispatcher.
        const costNs = (bytes * 1e9) / this.h.profile.cpu.memcpyBytesPerSec;
        const done = () => {
          for (const h of holds.reverse()) this.h.grants.copyRelease(h);
        };
        return { value: out, costNs, done };
      },
      "grant_table_op:query_size": (c, a) => {
        // grant_table.c gnttab_query_size(): the call returns 0 and reports in the op —
        // GNTST_bad_domain for a domid naming no domain, GNTST_permission_denied for another
        // domain's table (xsm_grant_query_size, XSM_TARGET: dom0 only) — as GNTTABOP_map does.
        // A dying domain is found (rcu_lock_domain_by_any_id) and its table still there.
        const what = "grant_table_op:query_size";
        const id = this.#domid(c, a.domid ?? DOMID_SELF, what);
        let out: GrantQuerySizeResult;
        try {
          const d = this.h.domains.get(id);
          if (!d) {
            throw new GrantTableError("ESRCH", GNTST.bad_domain, `${what}: no domain ${id}`);
          }
          if (d.domid !== c.domid && !c.privileged) {
            throw new GrantTableError(
              "EPERM",
              GNTST.permission_denied,
              `${what} on dom${id}: caller ${c} is not privileged`,
            );
          }
          // Tables are sized at creation and never grow: the most frames is the frames.
          const nrFrames = this.h.grants.tableFrameCount(d.domid)!;
          out = { status: GNTST.okay, nrFrames, maxNrFrames: nrFrames };
        } catch (e) {
          const err = this.#refusal(e, what);
          out = { status: gntstOf(err), code: err.code, error: err.message };
        }
        return ok(out);
      },
      "event_channel_op:alloc_unbound": (c, a) => {
        const what = "event_channel_op:alloc_unbound";
        const dom = this.#domid(c, a.dom ?? DOMID_SELF, what);
        // evtchn_alloc_unbound(): the domain is looked up (ESRCH) and a free port taken
        // (ENOSPC) before the caller's right to it is checked (xsm_evtchn_unbound, XSM_TARGET:
        // EPERM).
        // A dying domain is found, and refused by get_free_port() (EINVAL, see EventChannels).
        if (!this.h.evtchn.has(dom) && !this.h.evtchn.isDying(dom)) {
          throw new XenError("ESRCH", `${what}: no domain ${dom}`);
        }
        this.h.evtchn.needFreePort(dom, what);
        this.#selfOrPriv(c, dom, what);
        const remote = this.#domid(c, a.remoteDom, `${what}: remote`);
        return ok(this.h.evtchn.allocUnbound(dom, remote));
      },
      "event_channel_op:bind_interdomain": (c, a) => {
        const what = "event_channel_op:bind_interdomain";
        const remote = this.#domid(c, a.remoteDom, `${what}: remote`);
        return ok(this.h.evtchn.bindInterdomain(c.domid, remote, a.remotePort));
      },
      "event_channel_op:bind_pirq": (c, a) => {
        const what = "event_channel_op:bind_pirq";
        // evtchn_bind_pirq(): "pirq >= d->nr_pirqs" is -EINVAL before pirq_access_permitted()
        // refuses an unprivileged caller (-EPERM). A guest's nr_pirqs is taken as the host's.
        intArg(a.pirq, 0, this.h.evtchn.nrPirqs - 1, `${what}: pirq`);
        priv(c, what);
        return ok(this.h.evtchn.bindPirq(c.domid, a.pirq));
      },
      // struct evtchn_bind_virq and evtchn_bind_ipi name no domain: Xen binds in the caller's
      // own table (current->domain), whatever else the block holds.
      "event_channel_op:bind_virq": (c, a) => ok(this.h.evtchn.bindVirq(c.domid, a.virq, a.vcpu)),
      "event_channel_op:bind_ipi": (c, a) => ok(this.h.evtchn.bindIpi(c.domid, a.vcpu)),
      "event_channel_op:send": (c, a) => {
        const to = this.h.evtchn.send(c.domid, a.port);
        // Counted when it notifies a domain; a send on an unbound port is dropped (rc 0).
        if (to === undefined) return ok();
        this.h.c.evtchnSends++;
        const pair = c.domid * 0x10000 + to;
        let k = this.#sendKinds.get(pair);
        if (k === undefined) this.#sendKinds.set(pair, k = `dom${c.domid}->dom${to}`);
        this.h.c.sendsByKind.set(k, (this.h.c.sendsByKind.get(k) ?? 0) + 1);
        return ok();
      },
      "event_channel_op:close": (c, a) => ok(this.h.evtchn.close(c.domid, a.port)),
      "event_channel_op:unmask": (c, a) => ok(this.h.evtchn.unmask(c.domid, a.port)),
      "event_channel_op:status": (c, a) => {
        const what = "event_channel_op:status";
        const dom = this.#domid(c, a.dom ?? DOMID_SELF, what);
        // evtchn_status(): the domain (ESRCH), then the port (EINVAL), then the caller's right
        // to ask (xsm_evtchn_status, XSM_TARGET: EPERM). Reading the state changes nothing.
        const status = this.h.evtchn.status(dom, a.port);
        this.#selfOrPriv(c, dom, what);
        return ok(status);
      },
      "event_channel_op:bind_vcpu": (c, a) => ok(this.h.evtchn.bindVcpu(c.domid, a.port, a.vcpu)),
      "event_channel_op:reset": (c, a) => {
        const what = "event_channel_op:reset";
        // do_event_channel_op(EVTCHNOP_reset): the domain (ESRCH, any id: rcu_lock_domain_by_any_id
        // finds a dying one too), the caller's right to it (xsm_evtchn_reset, XSM_TARGET: EPERM),
        // then evtchn_reset(): another domain only while its controller has it paused (EINVAL).
        const d = this.#target(c, a.dom ?? DOMID_SELF, what, true);
        this.#selfOrPriv(c, d.domid, what);
        if (d !== c && !(this.h.cores.get(d.domid)!.controllerPauses > 0)) {
          throw new XenError("EINVAL", `${what}: ${d} is not paused by its controller`);
        }
        return ok(this.h.evtchn.reset(d.domid));
      },
      "memory_op:current_reservation": (c, a) => {
        const what = "memory_op:current_reservation";
        const d = this.#target(c, a.domid ?? DOMID_SELF, what, true);
        this.#selfOrPriv(c, d.domid, what);
        // A dying domain (rcu_lock_domain_by_any_id finds it): domain_tot_pages(d) is the pages
        // still assigned to it, those something else still references (the model frees the
        // rest at teardown; its Xen pages, shared info and grant table, are not in tot_pages).
        if (d.state === "dying") return ok(this.h.mem.ownedBy(this.h.frameLabels(d.domid)[0]));
        // do_memory_op(XENMEM_current_reservation) returns domain_tot_pages(d) (common/memory.c,
        // Xen 4.17; memory.h: "the current ... memory reservation, in pages"): every page of the
        // domain's memory, which the domain builder populates (or populate-on-demand backs) from
        // the start. The model populates pages at first touch, so the frames a domain owns now
        // (0 for a guest that touched nothing) are not the answer.
        return ok(d.memory.pages);
      },
      // XENVER_version: (major << 16) | minor. Linux's xen_force_evtchn_callback makes this
      // call for its return alone, which delivers a pending upcall (see HostEvents.returned).
      "xen_version:version": () => ok(XEN_VERSION),
    };
  }

  /**
   * One op of `grant_table_op:copy`, in the order of grant_table.c gnttab_copy_one() (Xen
   * 4.17, whose zero length still goes through every check and claim: 4.19's "fully ignore
   * zero-size copy requests" came later): the two domains (gnttab_copy_lock_domains, source
   * first); the source
   * claimed for reading, then the dest for writing (gnttab_copy_claim_buf); both ranges within
   * a page (gnttab_copy_buf); the memcpy. The sides it claims are pushed on `holds`. Returns the
   * bytes copied.
   */
  #grantCopyOne(c: Domain, op: Record<string, unknown>, what: string, holds: CopyHold[]): number {
    // The struct's fields, as a C caller could not get them wrong: uint16_t flags, len and
    // offsets (else GNTST_bad_copy_arg), a domid_t (else GNTST_bad_domain).
    const u16 = (v: unknown, field: string) =>
      withStatus(() => intArg(v, 0, 0xffff, `${what}: ${field}`), GNTST.bad_copy_arg);
    const flags = u16(op.flags ?? 0, "flags");
    const len = u16(op.len, "len");
    const side = (v: unknown, name: "source" | "dest") => {
      if (typeof v !== "object" || v === null || Array.isArray(v)) {
        throw new GrantTableError(
          "EINVAL",
          GNTST.bad_copy_arg,
          `${what}: ${name} ${show(v)} is not a gnttab_copy_ptr block`,
        );
      }
      const p = v as Record<string, unknown>;
      const gref = (flags & (name === "source" ? GNTCOPY_source_gref : GNTCOPY_dest_gref)) !== 0;
      return {
        ref: p.ref,
        gmfn: p.gmfn,
        domid: p.domid,
        gref,
        offset: u16(p.offset, `${name}.offset`),
      };
    };
    const src = side(op.source, "source"), dst = side(op.dest, "dest");
    const sd = this.#copyDomain(c, src, `${what}: source`);
    const dd = this.#copyDomain(c, dst, `${what}: dest`);
    const claim = (p: typeof src, d: Domain, write: boolean) => {
      const h = p.gref
        ? this.h.grants.copyClaimGrant(c, d.domid, p.ref, write)
        : this.h.grants.copyClaimFrame(d, p.gmfn, write);
      holds.push(h);
      return h.mfn;
    };
    const from = claim(src, sd, false);
    const to = claim(dst, dd, true);
    if (src.offset + len > PAGE_SIZE || dst.offset + len > PAGE_SIZE) {
      throw new GrantTableError(
        "EINVAL",
        GNTST.bad_copy_arg,
        `${what}: len ${len} from source offset ${src.offset} or dest offset ${dst.offset} ` +
          `passes the end of the page (${PAGE_SIZE})`,
      );
    }
    const mem = this.h.mem;
    mem.write(to * PAGE_SIZE + dst.offset, mem.read(from * PAGE_SIZE + src.offset, len));
    return len;
  }

  /**
   * A copy side's domain (gnttab_copy_lock_domain): a frame side must be `DOMID_SELF` (the
   * caller's own id by number too is GNTST_permission_denied, as in Xen); a grant side's domain
   * is looked up by any id (`DOMID_SELF` is the caller), GNTST_bad_domain when it names none.
   */
  #copyDomain(c: Domain, p: { gref: boolean; domid?: unknown }, what: string): Domain {
    if (!p.gref && p.domid !== DOMID_SELF) {
      throw new GrantTableError(
        "EPERM",
        GNTST.permission_denied,
        `${what}: a frame (gmfn) may be named only as DOMID_SELF, not domid ${show(p.domid)}`,
      );
    }
    if (p.domid === DOMID_SELF) return c;
    const id = withStatus(() => domidArg(p.domid, `${what}: domid`), GNTST.bad_domain);
    const d = this.h.domains.get(id);
    if (!d || d.state === "dying") {
      throw new GrantTableError("ESRCH", GNTST.bad_domain, `${what}: no domain ${id}`);
    }
    return d;
  }

  #grantMapOne(c: Domain, a: Record<string, unknown>, what: string): GrantMapping {
    // map_grant_ref() (grant_table.c) checks the flags first: an op asking for neither a host
    // nor a device mapping ("Bad flags in grant map op") is GNTST_bad_gntref, before the
    // granter is looked up; GNTMAP_readonly makes the pins read-only. Then a domid naming no
    // domain is GNTST_bad_domain: it looks the granter up by id (rcu_lock_domain_by_id), so
    // DOMID_SELF names no domain there.
    const readonly = withStatus(() => mapReadonly(a, what), GNTST.bad_gntref);
    const granter = withStatus(() => domidArg(a.domid, `${what}: domid`), GNTST.bad_domain);
    if (this.h.domains.get(granter)?.state === "dying") {
      throw new GrantTableError("ESRCH", GNTST.bad_domain, `${what}: dom${granter} is dying`);
    }
    const m = this.h.grants.map(c, granter, a.ref, readonly);
    this.h.c.grantMaps++;
    return m;
  }
}

/** `fn()`, its {@link XenError} re-thrown as a {@link GrantTableError} with `status`. */
function withStatus<T>(fn: () => T, status: GntStatus): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof XenError && !(e instanceof GrantTableError)) {
      throw new GrantTableError(e.code, status, e.message.slice(e.code.length + 2));
    }
    throw e;
  }
}

/**
 * Whether a map op asks for a read-only mapping: from its `flags` (`GNTMAP_*`, a `uint32_t`)
 * when given, else from `readonly`. EINVAL for flags naming neither `GNTMAP_host_map` nor
 * `GNTMAP_device_map` (map_grant_ref()'s `!pin_incr`), for a value no `uint32_t` holds, and for
 * a `readonly` the flags contradict.
 */
function mapReadonly(a: Record<string, unknown>, what: string): boolean {
  if (a.flags === undefined) return boolArg(a.readonly, `${what}: readonly`);
  const flags = intArg(a.flags, 0, 0xffffffff, `${what}: flags`);
  if ((flags & (GNTMAP_host_map | GNTMAP_device_map)) === 0) {
    throw new XenError(
      "EINVAL",
      `${what}: flags 0x${flags.toString(16)} ask for neither GNTMAP_host_map nor ` +
        "GNTMAP_device_map",
    );
  }
  const readonly = (flags & GNTMAP_readonly) !== 0;
  if (a.readonly !== undefined && a.readonly !== readonly) {
    throw new XenError(
      "EINVAL",
      `${what}: readonly ${show(a.readonly)} contradicts flags 0x${flags.toString(16)}`,
    );
  }
  return readonly;
}

/** A `domid_t` (`uint16_t` in `xen/xen.h`), or EINVAL. */
function domidArg(v: unknown, what: string): number {
  return intArg(v, 0, 0xffff, what);
}

function priv(c: Domain, what: string): void {
  if (!c.privileged) throw new XenError("EPERM", `${what}: caller ${c} is not privileged`);
}

/**
 * A shutdown reason as `do_sched_op` takes it: the `unsigned int` of
 * `struct sched_shutdown` (or `sched_remote_shutdown`) cast to `u8` and
 * passed to `domain_shutdown`, which refuses none (Xen 4.17
 * common/sched/core.c, common/domain.c): by its `xen/sched.h` value or by
 * name, `poweroff` when absent. Only a value no `unsigned int` holds (or a
 * name `xen/sched.h` does not have) is EINVAL.
 */
function shutdownReason(v: unknown, what: string): ShutdownCode {
  if (v === undefined) return "poweroff";
  if (typeof v === "string" && (SHUTDOWN_REASONS as readonly string[]).includes(v)) {
    return v as ShutdownReason;
  }
  if (typeof v !== "number") {
    throw new XenError(
      "EINVAL",
      `${what}: reason ${show(v)} is not a SHUTDOWN_* reason (${
        SHUTDOWN_REASONS.map((r, i) => `${r} ${i}`).join(", ")
      }) or an unsigned int`,
    );
  }
  const code = intArg(v, 0, 0xffffffff, `${what}: reason`) & 0xff;
  return SHUTDOWN_REASONS[code] ?? code;
}

/**
 * A batch's list of ops. An empty one is a call of count 0, which Xen's
 * `gnttab_map_grant_ref`/`gnttab_unmap_grant_ref` loops answer with 0 and
 * nothing done; more than {@link MAX_BATCH} is the model's bound on what it
 * copies (Xen has none: it preempts long batches into continuations).
 */
function batch(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v) || v.length > MAX_BATCH) {
    throw new XenError("EINVAL", `${what}: need a list of 0..${MAX_BATCH} ops`);
  }
  return v;
}
