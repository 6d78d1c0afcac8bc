/**
 * Dom0's virtual CPUs as a shared resource (DESIGN §6, §9 invariant 10).
 * Everything dom0 does for guests runs on a few VCPUs (the profile's
 * `dom0.vcpus`, 1 by default): the backend instances' request and event
 * threads, the upcalls that carry the HCA's interrupts and the frontends'
 * notifications, the hypercalls dom0 makes. Work is charged there in
 * slices ({@link VcpuPool.run}); when every VCPU is busy a slice queues.
 *
 * Who goes next is the scheduler's policy:
 *
 * - `"fair"` (the default): round robin across owners — one owner per
 *   frontend's backend, "dom0" for the rest — and a running slice is
 *   preempted at its next preemption point (every `dom0.sliceNs` of its
 *   work: Xen checks `hypercall_preempt_check()` between the ops of a grant
 *   batch, and a preemptible dom0 kernel switches threads there) when
 *   another owner waits. One guest's flood then delays another guest's
 *   request by at most a slice per step, whatever the flood's size.
 * - `"fifo"`: slices run to completion in arrival order, as a
 *   non-preemptive run queue would. A guest that floods dom0 with long
 *   work (a large registration maps thousands of grants in one slice)
 *   holds the VCPU for all of it. Kept to show, by the same test, that
 *   fairness is what keeps other guests' control paths fast.
 *
 * Upcalls (interrupts) come first in both: they wait at most for the
 * running slice's next preemption point, never behind other threads.
 *
 * With nothing else runnable, a slice starts at once and takes exactly its
 * time: a quiet dom0 costs what it did before VCPUs were modelled.
 *
 * @module
 */
import type { Engine, EventHandle, ProcessInfo } from "../sim/engine.ts";

/**
 * How dom0 picks the next slice.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { type VcpuPolicy, VcpuPool } from "./vcpus.ts";
 * const policy: VcpuPolicy = "fifo";
 * assert.equal(new VcpuPool(new Engine(), { count: 1, sliceNs: 1_000, policy }).policy, "fifo");
 * ```
 */
export type VcpuPolicy = "fair" | "fifo";

/**
 * The VCPUs' configuration.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { type VcpuOptions, VcpuPool } from "./vcpus.ts";
 * const one: VcpuOptions = { count: 1, sliceNs: 2_000 };
 * assert.equal(new VcpuPool(new Engine(), one).policy, "fair"); // the default
 * assert.throws(() => new VcpuPool(new Engine(), { count: 0, sliceNs: 1 }), /dom0 VCPUs: 0/);
 * ```
 */
export interface VcpuOptions {
  /** VCPUs (>= 1). */
  count: number;
  /** Preemption granularity of a slice, ns (> 0). */
  sliceNs: number;
  /** Default "fair". */
  policy?: VcpuPolicy;
}

/**
 * Time spent by one owner.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { type VcpuOwnerStats, VcpuPool } from "./vcpus.ts";
 * const engine = new Engine();
 * const cpu = new VcpuPool(engine, { count: 1, sliceNs: 1_000 });
 * await engine.run(async () => {
 *   const a = engine.spawn("a", () => cpu.run(5_000, "dom1"));
 *   await cpu.run(5_000, "dom2"); // queued behind dom1's slice (FIFO among equals when not preempted)
 *   await a;
 * });
 * const s: VcpuOwnerStats = cpu.stats().byOwner.dom2;
 * assert.equal(s.busyNs, 5_000);
 * assert.equal(cpu.stats().busyNs, 10_000); // one VCPU: the two slices took turns
 * ```
 */
export interface VcpuOwnerStats {
  /** VCPU time its work took. */
  busyNs: number;
  /** Time its work waited for a VCPU. */
  waitNs: number;
  /** Slices run. */
  slices: number;
}

interface Slice {
  owner: string;
  irq: boolean;
  remaining: number;
  /** When it was (last) queued. */
  queuedAt: number;
  done: () => void;
  /** The owner's account (looked up once, when the slice is submitted). */
  acct?: VcpuOwnerStats;
  /**
   * `done` is a continuation ({@link VcpuPool.runThen}): called when the
   * end event has done everything else (the VCPU took its next slice), where
   * a process woken by {@link VcpuPool.run} would continue.
   */
  late?: boolean;
}

interface Vcpu {
  cur: Slice | undefined;
  startedAt: number;
  end: EventHandle | undefined;
  /** A preemption is due at the current end event. */
  preempting: boolean;
  /** The callback of its end events (one per VCPU, not a closure per slice). */
  onEnd: () => void;
}

/**
 * Dom0's VCPUs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { VcpuPool } from "./vcpus.ts";
 * const engine = new Engine();
 * const cpu = new VcpuPool(engine, { count: 1, sliceNs: 1_000 });
 * const done: Record<string, number> = {};
 * await engine.run(async () => {
 *   const flood = engine.spawn("flood", async () => {
 *     await cpu.run(100_000, "dom1"); // a long stretch of one guest's work
 *     done.flood = engine.now;
 *   });
 *   await engine.sleep(10_500);
 *   await cpu.run(2_000, "dom2"); // another guest's short request
 *   done.quick = engine.now;
 *   await flood;
 * });
 * // Preempted at the next 1 µs point (11 µs), then 2 µs: not behind the whole flood.
 * assert.deepEqual(done, { quick: 13_000, flood: 102_000 });
 * ```
 */
export class VcpuPool {
  readonly count: number;
  readonly sliceNs: number;
  readonly policy: VcpuPolicy;
  #engine: Engine;
  #vcpus: Vcpu[];
  #irqs: Slice[] = [];
  /** Fair: waiting slices per owner, and each owner's virtual run time. */
  #byOwner = new Map<string, Slice[]>();
  #vrun = new Map<string, number>();
  /** Fair: the least virtual run time of any owner with work (never goes back). */
  #floor = 0;
  /** FIFO: waiting slices in arrival order. */
  #fifo: Slice[] = [];
  #owners = new WeakMap<ProcessInfo, string>();
  #stats = new Map<string, VcpuOwnerStats>();
  /** Slices preempted so far. */
  preemptions = 0;

  /**
   * @param engine the host's engine
   * @param o VCPUs, slice, policy
   */
  constructor(engine: Engine, o: VcpuOptions) {
    if (!Number.isInteger(o.count) || o.count < 1) {
      throw new RangeError(`dom0 VCPUs: ${o.count} (a whole number >= 1)`);
    }
    if (!(o.sliceNs > 0) || !Number.isFinite(o.sliceNs)) {
      throw new RangeError(`dom0 slice: ${o.sliceNs} ns (a number > 0)`);
    }
    const policy = o.policy ?? "fair";
    if (policy !== "fair" && policy !== "fifo") {
      throw new RangeError(`dom0 scheduler '${String(policy)}' (use fair or fifo)`);
    }
    this.#engine = engine;
    this.count = o.count;
    this.sliceNs = o.sliceNs;
    this.policy = policy;
    this.#vcpus = Array.from({ length: o.count }, () => {
      const v: Vcpu = {
        cur: undefined,
        startedAt: 0,
        end: undefined,
        preempting: false,
        onEnd: () => this.#ended(v),
      };
      return v;
    });
  }

  /**
   * Charge the calling process's work to `owner` from now on (a backend
   * thread says which frontend it serves); unbound processes are "dom0".
   */
  bind(owner: string): void {
    const p = this.#engine.current();
    if (p) this.#owners.set(p, owner);
  }

  /** The owner the calling process's work is charged to. */
  owner(): string {
    const p = this.#engine.current();
    return (p && this.#owners.get(p)) ?? "dom0";
  }

  /** Run `ns` of work on a VCPU for `owner` (default: the calling process's). */
  run(ns: number, owner = this.owner()): Promise<void> {
    const b = this.#engine.block<void>(`dom0 VCPU (${owner})`);
    this.#submit({ owner, irq: false, remaining: Math.max(0, ns), queuedAt: 0, done: b.resolve });
    return b.promise;
  }

  /**
   * Run `ns` of work on a VCPU for `owner`, then call `then` (a callback:
   * no process is woken). The slice is the very one {@link run} submits;
   * `then` runs at the end of the slice's end event, after the VCPU has
   * taken its next slice, which is where a process awaiting {@link run}
   * would continue (its continuation runs once the event is over, and that
   * event wakes nobody else). A backend thread chains the steps of one
   * request this way and is woken once, not once per step.
   */
  runThen(ns: number, owner: string, then: () => void): void {
    this.#submit({
      owner,
      irq: false,
      remaining: Math.max(0, ns),
      queuedAt: 0,
      done: then,
      late: true,
    });
  }

  /**
   * Interrupt work (an upcall): `ns` on a VCPU ahead of every thread, then
   * `fn` (a callback, no process).
   */
  irq(ns: number, fn: () => void, owner = "irq"): void {
    this.#submit({ owner, irq: true, remaining: Math.max(0, ns), queuedAt: 0, done: fn });
  }

  /** Time by owner: VCPU time used, time waited, slices. */
  stats(): { busyNs: number; waitNs: number; byOwner: Record<string, VcpuOwnerStats> } {
    let busyNs = 0, waitNs = 0;
    const byOwner: Record<string, VcpuOwnerStats> = {};
    for (const [k, v] of [...this.#stats].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      byOwner[k] = { ...v };
      busyNs += v.busyNs;
      waitNs += v.waitNs;
    }
    return { busyNs, waitNs, byOwner };
  }

  /** Slices waiting for a VCPU now. */
  get waiting(): number {
    let n = this.#irqs.length + this.#fifo.length;
    for (const q of this.#byOwner.values()) n += q.length;
    return n;
  }

  #acct(owner: string): VcpuOwnerStats {
    // The same owner submits slice after slice (a backend thread): no lookup then.
    if (owner === this.#lastOwner) return this.#lastAcct!;
    let s = this.#stats.get(owner);
    if (!s) this.#stats.set(owner, s = { busyNs: 0, waitNs: 0, slices: 0 });
    this.#lastOwner = owner;
    this.#lastAcct = s;
    return s;
  }

  #lastOwner: string | undefined;
  #lastAcct: VcpuOwnerStats | undefined;

  /** An owner's virtual run time now (its running slice's progress included). */
  #vr(owner: string): number {
    let vr = this.#vrun.get(owner) ?? this.#floor;
    for (const v of this.#vcpus) {
      if (v.cur && !v.cur.irq && v.cur.owner === owner) vr += this.#engine.now - v.startedAt;
    }
    return vr;
  }

  /** Whether `owner` has a slice running or waiting. */
  #busy(owner: string): boolean {
    if ((this.#byOwner.get(owner)?.length ?? 0) > 0) return true;
    for (const v of this.#vcpus) if (v.cur && !v.cur.irq && v.cur.owner === owner) return true;
    return false;
  }

  /** Raise the floor to the least virtual run time among owners with work. */
  #raiseFloor(): void {
    let min = Infinity;
    for (const [o, q] of this.#byOwner) if (q.length > 0) min = Math.min(min, this.#vr(o));
    for (const v of this.#vcpus) {
      if (v.cur && !v.cur.irq) min = Math.min(min, this.#vr(v.cur.owner));
    }
    if (min !== Infinity) this.#floor = Math.max(this.#floor, min);
  }

  #submit(s: Slice): void {
    s.queuedAt = this.#engine.now;
    (s.acct = this.#acct(s.owner)).slices++;
    if (!s.irq && this.policy === "fair" && !this.#busy(s.owner)) {
      // A thread that was asleep competes from the least run time of those with work, less one
      // slice (as CFS places a waking task): it cannot bank idle time to monopolize dom0 later.
      this.#raiseFloor();
      const vr = this.#vrun.get(s.owner) ?? -Infinity;
      this.#vrun.set(s.owner, Math.max(vr, this.#floor - this.sliceNs));
    }
    let idle: Vcpu | undefined;
    for (const v of this.#vcpus) {
      if (!v.cur) {
        idle = v;
        break;
      }
    }
    if (idle && this.waiting === 0) {
      this.#start(idle, s);
      return;
    }
    this.#enqueue(s);
    if (idle) this.#dispatch(idle);
    else this.#reviewPreemption();
  }

  #enqueue(s: Slice): void {
    if (s.irq) this.#irqs.push(s);
    else if (this.policy === "fifo") this.#fifo.push(s);
    else {
      let q = this.#byOwner.get(s.owner);
      if (!q) this.#byOwner.set(s.owner, q = []);
      q.push(s);
    }
  }

  /** Fair: the waiting owner with the least virtual run time (then the longest waiting). */
  #nextOwner(): { owner: string; vr: number } | undefined {
    let best: { owner: string; vr: number; at: number } | undefined;
    for (const [o, q] of this.#byOwner) {
      if (q.length === 0) continue;
      const vr = this.#vr(o), at = q[0].queuedAt;
      if (!best || vr < best.vr || (vr === best.vr && at < best.at)) best = { owner: o, vr, at };
    }
    return best;
  }

  #pick(): Slice | undefined {
    if (this.#irqs.length > 0) return this.#irqs.shift();
    if (this.policy === "fifo") return this.#fifo.shift();
    const next = this.#nextOwner();
    return next ? this.#byOwner.get(next.owner)!.shift() : undefined;
  }

  #start(v: Vcpu, s: Slice): void {
    const now = this.#engine.now;
    (s.acct ??= this.#acct(s.owner)).waitNs += now - s.queuedAt;
    v.cur = s;
    v.startedAt = now;
    v.preempting = false;
    v.end = this.#engine.schedule(s.remaining, v.onEnd);
  }

  /**
   * Set each running thread slice's end to its preemption point, if one is
   * due before it ends: at once (the next point) for a waiting interrupt;
   * under the fair policy, the first point at which the running owner's
   * virtual run time is a slice ahead of the least waiting owner's.
   */
  #reviewPreemption(): void {
    const q = this.sliceNs, now = this.#engine.now;
    const next = this.policy === "fair" ? this.#nextOwner() : undefined;
    const irq = this.#irqs.length > 0;
    let irqTaken = false;
    for (const v of this.#vcpus) {
      const s = v.cur;
      if (!s || s.irq) continue;
      let due = Infinity;
      if (irq && !irqTaken) due = now;
      if (next) due = Math.min(due, now + Math.max(0, next.vr + q - this.#vr(s.owner)));
      if (due === Infinity) continue;
      // Preemption points are every `q` of the slice's own work.
      const point = v.startedAt + Math.max(1, Math.ceil((due - v.startedAt) / q)) * q;
      const end = v.startedAt + s.remaining;
      if (point >= end) continue;
      if (v.preempting && this.#engine.now <= point) continue; // an earlier point is set
      this.#engine.cancel(v.end!);
      v.preempting = true;
      v.end = this.#engine.schedule(point - now, v.onEnd);
      if (irq) irqTaken = true;
    }
  }

  #ended(v: Vcpu): void {
    const s = v.cur!;
    const ran = this.#engine.now - v.startedAt;
    (s.acct ??= this.#acct(s.owner)).busyNs += ran;
    if (!s.irq) this.#vrun.set(s.owner, (this.#vrun.get(s.owner) ?? this.#floor) + ran);
    v.cur = undefined;
    v.end = undefined;
    const preempted = v.preempting && ran < s.remaining;
    v.preempting = false;
    if (preempted) {
      s.remaining -= ran;
      this.preemptions++;
      s.queuedAt = this.#engine.now;
      // Back to the front of its owner's queue: its own later slices stay behind it.
      if (this.policy === "fifo") this.#fifo.unshift(s);
      else {
        let q = this.#byOwner.get(s.owner);
        if (!q) this.#byOwner.set(s.owner, q = []);
        q.unshift(s);
      }
    } else if (s.late) {
      this.#dispatch(v);
      s.done();
      return;
    } else {
      s.done();
    }
    this.#dispatch(v);
  }

  #dispatch(v: Vcpu): void {
    if (v.cur) return;
    const next = this.#pick();
    if (next) this.#start(v, next);
    if (this.waiting > 0) this.#reviewPreemption();
  }
}
