/**
 * Virtual-time CPU cost of synchronous verbs.
 *
 * `qp.postSend`, `qp.postRecv` and `cq.poll` are synchronous (API.md, as in
 * libibverbs), yet on a real host they take CPU time: a few hundred
 * instructions to format a WQE, an uncached read per CQE. A synchronous JS
 * call cannot advance the engine's clock, so the cost is kept as *CPU debt*:
 * each software thread (engine process) has a "busy until" time. A
 * synchronous call moves it forward by its cost ({@link CpuClock.charge});
 * its side effects that the device can observe are stamped with that time
 * (the doorbell reaches the device at `busyUntil + mmioWriteNs`). The next
 * call that may block — `cq.pollUntil`, `channel.getEvent`, any control verb,
 * `cluster.sleep` — first sleeps until `busyUntil` ({@link CpuClock.settle}),
 * i.e. pays the debt.
 *
 * Why a "busy until" time and not an amount: a single process that drives
 * two hosts (common in tests) accrues cost on one host and then waits on the
 * other; time that passed meanwhile has already absorbed the work, so a
 * stale debt must not push later doorbells out. Why per process and not per
 * domain: two application threads of one domain run on different cores;
 * their work does not serialize.
 *
 * With noise on, each domain has its own view of the ledger
 * ({@link CpuClock.withNoise}) carrying its kernel's detours (`sim/noise.ts`):
 * work that meets a timer interrupt or a daemon finishes that much later.
 *
 * @module
 */
import type { Engine } from "../sim/engine.ts";
import type { CpuNoise } from "../sim/noise.ts";

/** What {@link CpuClock.settle} gives when there is no debt: awaiting it takes one turn, as before. */
const PAID: Promise<void> = Promise.resolve();

const NO_PROCESS = {};

/**
 * Busy-until times by process. The process that charged last keeps its time
 * here rather than in the map (a thread posts and polls call after call):
 * it goes into the map when another process charges.
 */
class Ledger {
  #byProcess = new WeakMap<object, number>();
  #key: object | undefined;
  #busy = 0;

  get(k: object): number {
    return k === this.#key ? this.#busy : (this.#byProcess.get(k) ?? 0);
  }

  set(k: object, busy: number): void {
    if (k !== this.#key) {
      if (this.#key !== undefined) this.#byProcess.set(this.#key, this.#busy);
      this.#key = k;
    }
    this.#busy = busy;
  }
}

/**
 * Per-engine ledger of CPU time owed by each process.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { CpuClock } from "./cpu.ts";
 * const engine = new Engine();
 * const cpu = CpuClock.of(engine);
 * const t = await engine.run(async () => {
 *   cpu.charge(150); // a WQE built
 *   cpu.charge(100); // a CQE read
 *   await cpu.settle();
 *   return engine.now;
 * });
 * assert.equal(t, 250); // the process paid for both, in order
 * ```
 */
export class CpuClock {
  static #clocks = new WeakMap<Engine, CpuClock>();
  #busy: Ledger;
  #noise: CpuNoise | undefined;

  private constructor(
    readonly engine: Engine,
    busy = new Ledger(),
    noise?: CpuNoise,
  ) {
    this.#busy = busy;
    this.#noise = noise;
  }

  /**
   * The same ledger seen from a domain whose kernel takes detours (`noise`;
   * undefined gives this clock back): charges stretch over the detours they meet.
   *
   * @internal
   */
  withNoise(noise: CpuNoise | undefined): CpuClock {
    return noise ? new CpuClock(this.engine, this.#busy, noise) : this;
  }

  /** The ledger of `engine` (one per engine). */
  static of(engine: Engine): CpuClock {
    let c = CpuClock.#clocks.get(engine);
    if (!c) {
      c = new CpuClock(engine);
      CpuClock.#clocks.set(engine, c);
    }
    return c;
  }

  #key(): object {
    return this.engine.current() ?? NO_PROCESS;
  }

  /** Virtual time at which the calling process's CPU is free (>= now). */
  busyUntil(): number {
    const b = this.#busy.get(this.#key());
    return Math.max(b, this.engine.now);
  }

  /**
   * Spend `ns` of CPU on a synchronous call; returns the virtual time at
   * which that work is done (when its effects can leave the CPU).
   */
  charge(ns: number): number {
    const k = this.#key();
    const start = Math.max(this.#busy.get(k), this.engine.now);
    const done = this.#noise ? this.#noise.finish(start, ns) : start + ns;
    this.#busy.set(k, done);
    return done;
  }

  /** Debt of the calling process in ns (0 if its CPU is free). */
  debt(): number {
    return this.busyUntil() - this.engine.now;
  }

  /**
   * Sleep until the calling process's CPU work is done (pay the debt). The
   * sleep's own promise, not an async function's around it: a thread waiting
   * for completions settles once per wait, and the wrapper's promise and
   * suspended frame were a tenth of what a message of the all-to-all
   * allocated. Its caller resumes in the same event as before.
   */
  settle(): Promise<void> {
    const d = this.debt();
    return d > 0 ? this.engine.sleep(d) : PAID;
  }
}
