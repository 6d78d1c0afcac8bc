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
import { takeFirst } from "../sim/queue.ts";

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
  /** Its owner's state (looked up once, when the slice is made). */
  o: Owner;
  irq: boolean;
  remaining: number;
  /** When it was (last) queued. */
  queuedAt: number;
  done: () => void;
  /**
   * `done` is a continuation ({@link VcpuPool.runThen}): called when the
   * end event has done everything else (the VCPU took its next slice), where
   * a process woken by {@link VcpuPool.run} would continue.
   */
  late: boolean;
}

function noop(): void {}

/** What the pool keeps per owner (one record, not a map lookup per step). */
interface Owner {
  name: string;
  /** Its account (the object {@link VcpuPool.stats} copies). */
  acct: VcpuOwnerStats;
  /** Fair: its waiting slices, in order. */
  queue: Slice[];
  /** Fair: listed in the pool's owners with a queue (in the order they first queued). */
  listed: boolean;
  /** Fair: its virtual run time (undefined until it first competes). */
  vrun: number | undefined;
  /** Its thread slices running now (not interrupts). */
  running: number;
}

interface Vcpu {
  cur: Slice | undefined;
  startedAt: number;
  end: EventHandle | undefined;
  /** The record of its last end event, which ran: scheduled again for the next slice. */
  spare: EventHandle | undefined;
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
  /** dom0's VCPUs. */
  readonly count: number;
  /** Longest run of one piece of work before the fair policy preempts it (ns). */
  readonly sliceNs: number;
  /** How the next piece of work is chosen. */
  readonly policy: VcpuPolicy;
  #engine: Engine;
  /** The kind of a VCPU's work-end event ({@link Engine.tag}). */
  readonly #tagEnd: number;
  #vcpus: Vcpu[];
  #irqs: Slice[] = [];
  /** Every owner that submitted a slice, by name. */
  #owners = new Map<string, Owner>();
  /** Fair: the owners that ever queued, in the order they first did (ties go to the first). */
  #queuedOwners: Owner[] = [];
  /** Fair: the least virtual run time of any owner with work (never goes back). */
  #floor = 0;
  /** FIFO: waiting slices in arrival order. */
  #fifo: Slice[] = [];
  /** Slices waiting, all queues together. */
  #waiting = 0;
  #bound = new WeakMap<ProcessInfo, string>();
  /** Slices preempted so far. */
  preemptions = 0;

  /**
   * dom0's VCPUs on `engine`.
   *
   * @param engine the host's engine
   * @param o VCPUs, slice, policy
   */
  constructor(engine: Engine, o: VcpuOptions) {
    this.#tagEnd = engine.tag("vcpu.work_end");
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
        spare: undefined,
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
    if (p) this.#bound.set(p, owner);
  }

  /** The owner the calling process's work is charged to. */
  owner(): string {
    const p = this.#engine.current();
    return (p && this.#bound.get(p)) ?? "dom0";
  }

  /** Run `ns` of work on a VCPU for `owner` (default: the calling process's). */
  run(ns: number, owner = this.owner()): Promise<void> {
    const b = this.#engine.block<void>(`dom0 VCPU (${owner})`);
    this.#submit(this.#slice(owner, false, ns, b.resolve, false));
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
    this.#submit(this.#slice(owner, false, ns, then, true));
  }

  /**
   * Interrupt work (an upcall): `ns` on a VCPU ahead of every thread, then
   * `fn` (a callback, no process).
   */
  irq(ns: number, fn: () => void, owner = "irq"): void {
    this.#submit(this.#slice(owner, true, ns, fn, false));
  }

  /** Time by owner: VCPU time used, time waited, slices. */
  stats(): { busyNs: number; waitNs: number; byOwner: Record<string, VcpuOwnerStats> } {
    let busyNs = 0, waitNs = 0;
    const byOwner: Record<string, VcpuOwnerStats> = {};
    for (const [k, o] of [...this.#owners].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      byOwner[k] = { ...o.acct };
      busyNs += o.acct.busyNs;
      waitNs += o.acct.waitNs;
    }
    return { busyNs, waitNs, byOwner };
  }

  /** Slices waiting for a VCPU now. */
  get waiting(): number {
    return this.#waiting;
  }

  #slice(owner: string, irq: boolean, ns: number, done: () => void, late: boolean): Slice {
    const o = this.#owner(owner), remaining = Math.max(0, ns);
    const s = this.#spare.pop();
    if (!s) return { o, irq, remaining, queuedAt: 0, done, late };
    s.o = o;
    s.irq = irq;
    s.remaining = remaining;
    s.done = done;
    s.late = late;
    return s;
  }

  /** Slices whose work is done, to be made again (nothing else holds one once it ended). */
  #spare: Slice[] = [];

  #recycle(s: Slice): void {
    s.done = noop;
    if (this.#spare.length < 64) this.#spare.push(s);
  }

  #owner(name: string): Owner {
    // The same owner submits slice after slice (a backend thread), or two take turns (a backend
    // and the upcalls that wake it): no lookup then.
    const last = this.#lastOwner;
    if (last !== undefined && last.name === name) return last;
    const prev = this.#prevOwner;
    if (prev !== undefined && prev.name === name) {
      this.#prevOwner = last;
      this.#lastOwner = prev;
      return prev;
    }
    let o = this.#owners.get(name);
    if (!o) {
      o = {
        name,
        acct: { busyNs: 0, waitNs: 0, slices: 0 },
        queue: [],
        listed: false,
        vrun: undefined,
        running: 0,
      };
      this.#owners.set(name, o);
    }
    this.#prevOwner = last;
    this.#lastOwner = o;
    return o;
  }

  #lastOwner: Owner | undefined;
  #prevOwner: Owner | undefined;

  /** An owner's virtual run time now (its running slices' progress included). */
  #vr(o: Owner): number {
    let vr = o.vrun ?? this.#floor;
    if (o.running === 0) return vr;
    const vs = this.#vcpus;
    for (let i = 0; i < vs.length; i++) {
      const v = vs[i];
      if (v.cur && !v.cur.irq && v.cur.o === o) vr += this.#engine.now - v.startedAt;
    }
    return vr;
  }

  /** Raise the floor to the least virtual run time among owners with work. */
  #raiseFloor(): void {
    let min = Infinity;
    // With nothing waiting every queue is empty: only the running slices count.
    if (this.#waiting > 0) {
      const os = this.#queuedOwners;
      for (let i = 0; i < os.length; i++) {
        if (os[i].queue.length > 0) min = Math.min(min, this.#vr(os[i]));
      }
    }
    const vs = this.#vcpus;
    for (let i = 0; i < vs.length; i++) {
      const v = vs[i];
      if (v.cur && !v.cur.irq) min = Math.min(min, this.#vr(v.cur.o));
    }
    if (min !== Infinity) this.#floor = Math.max(this.#floor, min);
  }

  #submit(s: Slice): void {
    const o = s.o;
    s.queuedAt = this.#engine.now;
    o.acct.slices++;
    if (!s.irq && this.policy === "fair" && o.queue.length === 0 && o.running === 0) {
      // A thread that was asleep competes from the least run time of those with work, less one
      // slice (as CFS places a waking task): it cannot bank idle time to monopolize dom0 later.
      this.#raiseFloor();
      o.vrun = Math.max(o.vrun ?? -Infinity, this.#floor - this.sliceNs);
    }
    let idle: Vcpu | undefined;
    const vs = this.#vcpus;
    for (let i = 0; i < vs.length; i++) {
      if (!vs[i].cur) {
        idle = vs[i];
        break;
      }
    }
    if (idle && this.#waiting === 0) {
      this.#start(idle, s);
      return;
    }
    this.#enqueue(s, false);
    if (idle) this.#dispatch(idle);
    else this.#reviewPreemption();
  }

  /** Queue `s` at the back of its queue, or at the front (a preempted slice). */
  #enqueue(s: Slice, front: boolean): void {
    this.#waiting++;
    if (s.irq && !front) this.#irqs.push(s);
    else if (this.policy === "fifo") {
      if (front) this.#fifo.unshift(s);
      else this.#fifo.push(s);
    } else {
      const o = s.o;
      if (!o.listed) {
        o.listed = true;
        this.#queuedOwners.push(o);
      }
      if (front) o.queue.unshift(s);
      else o.queue.push(s);
    }
  }

  /** Fair: the waiting owner with the least virtual run time (then the longest waiting). */
  #nextOwner(): { o: Owner; vr: number } | undefined {
    let best: Owner | undefined, bestVr = 0, bestAt = 0;
    const os = this.#queuedOwners;
    for (let i = 0; i < os.length; i++) {
      const o = os[i];
      if (o.queue.length === 0) continue;
      const vr = this.#vr(o), at = o.queue[0].queuedAt;
      if (!best || vr < bestVr || (vr === bestVr && at < bestAt)) {
        best = o;
        bestVr = vr;
        bestAt = at;
      }
    }
    return best && { o: best, vr: bestVr };
  }

  #pick(): Slice | undefined {
    let s: Slice | undefined;
    if (this.#irqs.length > 0) s = takeFirst(this.#irqs);
    else if (this.policy === "fifo") s = takeFirst(this.#fifo);
    else {
      const owner = this.#nextOwner();
      s = owner === undefined ? undefined : takeFirst(owner.o.queue);
    }
    if (s) this.#waiting--;
    return s;
  }

  #start(v: Vcpu, s: Slice): void {
    const now = this.#engine.now;
    s.o.acct.waitNs += now - s.queuedAt;
    if (!s.irq) s.o.running++;
    v.cur = s;
    v.startedAt = now;
    v.preempting = false;
    // The record of this VCPU's last end event, which has run, serves again.
    const spare = v.spare;
    v.spare = undefined;
    v.end = spare !== undefined
      ? this.#engine.scheduleAgain(spare, s.remaining)
      : this.#engine.schedule(s.remaining, v.onEnd, this.#tagEnd);
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
    const vs = this.#vcpus;
    for (let i = 0; i < vs.length; i++) {
      const v = vs[i];
      const s = v.cur;
      if (!s || s.irq) continue;
      let due = Infinity;
      if (irq && !irqTaken) due = now;
      if (next) due = Math.min(due, now + Math.max(0, next.vr + q - this.#vr(s.o)));
      if (due === Infinity) continue;
      // Preemption points are every `q` of the slice's own work.
      const point = v.startedAt + Math.max(1, Math.ceil((due - v.startedAt) / q)) * q;
      const end = v.startedAt + s.remaining;
      if (point >= end) continue;
      if (v.preempting && this.#engine.now <= point) continue; // an earlier point is set
      this.#engine.cancel(v.end!);
      v.preempting = true;
      v.end = this.#engine.schedule(point - now, v.onEnd, this.#tagEnd);
      if (irq) irqTaken = true;
    }
  }

  #ended(v: Vcpu): void {
    const s = v.cur!, o = s.o;
    const ran = this.#engine.now - v.startedAt;
    o.acct.busyNs += ran;
    if (!s.irq) {
      o.vrun = (o.vrun ?? this.#floor) + ran;
      o.running--;
    }
    v.cur = undefined;
    // Called by the end event itself: its record has run and may be scheduled again.
    v.spare = v.end;
    v.end = undefined;
    const preempted = v.preempting && ran < s.remaining;
    v.preempting = false;
    if (preempted) {
      s.remaining -= ran;
      this.preemptions++;
      s.queuedAt = this.#engine.now;
      // Back to the front of its owner's queue: its own later slices stay behind it.
      this.#enqueue(s, true);
    } else if (s.late) {
      this.#dispatch(v);
      s.done();
      this.#recycle(s);
      return;
    } else {
      s.done();
      this.#recycle(s);
    }
    this.#dispatch(v);
  }

  #dispatch(v: Vcpu): void {
    // Nothing waits (a lone backend's chain, slice after slice): nothing to pick or to preempt.
    if (v.cur || this.#waiting === 0) return;
    const next = this.#pick();
    if (next) this.#start(v, next);
    if (this.#waiting > 0) this.#reviewPreemption();
  }
}
