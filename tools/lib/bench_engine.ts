/**
 * The engine's own speed, for `deno task bench engine`: trivial events
 * against a minimal binary-heap engine written here (the floor any
 * discrete-event engine in this Deno pays), process wake-ups, and a
 * `Promise.all` join of many processes. Wall clock: figures of this
 * machine, not of the model.
 *
 * @module
 */
import process from "node:process";
import { Engine } from "../../mod.ts";

/**
 * Wall and CPU time (this process: user + system, every thread) since it
 * was started, in ms. On a machine shared with other work the wall time
 * includes waiting for a core; the CPU time does not (but counts V8's
 * helper threads, so on an idle machine it can exceed the wall time).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stopwatch } from "./bench_engine.ts";
 * const sw = stopwatch();
 * let x = 0;
 * for (let i = 0; i < 1e6; i++) x += i;
 * const t = sw();
 * assert.ok(x > 0 && t.wallMs >= 0 && t.cpuMs >= 0);
 * ```
 */
export function stopwatch(): () => { wallMs: number; cpuMs: number } {
  const w0 = performance.now(), c0 = process.cpuUsage();
  return () => {
    const c = process.cpuUsage(c0);
    return { wallMs: performance.now() - w0, cpuMs: (c.user + c.system) / 1000 };
  };
}

/** One event of {@link MinimalEngine}. */
class MinEv {
  constructor(public time: number, public seq: number, public fn: () => void) {}
}

/**
 * The least a discrete-event engine can do: a binary heap ordered by
 * (time, sequence) and a loop that pops and calls. No processes, no
 * cancellation, no trace hash, no argument checks: the yardstick for
 * {@link Engine}'s per-event overhead.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MinimalEngine } from "./bench_engine.ts";
 * const e = new MinimalEngine();
 * const seen: number[] = [];
 * e.schedule(5, () => seen.push(e.now));
 * e.schedule(1, () => seen.push(e.now));
 * e.run();
 * assert.deepEqual(seen, [1, 5]);
 * ```
 */
export class MinimalEngine {
  /** Virtual time, ns. */
  now = 0;
  /** Events run. */
  eventsRun = 0;
  #seq = 0;
  #heap: MinEv[] = [];

  /** Run `fn` after `delay` ns. */
  schedule(delay: number, fn: () => void): void {
    const ev = new MinEv(this.now + delay, this.#seq++, fn);
    const h = this.#heap;
    let i = h.length;
    h.push(ev);
    while (i > 0) {
      const up = (i - 1) >> 1;
      const p = h[up];
      if (p.time < ev.time || (p.time === ev.time && p.seq < ev.seq)) break;
      h[i] = p;
      i = up;
    }
    h[i] = ev;
  }

  /** Run every event. */
  run(): void {
    const h = this.#heap;
    while (h.length > 0) {
      const top = h[0];
      const last = h.pop()!;
      const n = h.length;
      if (n > 0) {
        let i = 0;
        for (;;) {
          const l = 2 * i + 1;
          if (l >= n) break;
          const r = l + 1;
          const c = r < n &&
              (h[r].time < h[l].time || (h[r].time === h[l].time && h[r].seq < h[l].seq))
            ? r
            : l;
          const child = h[c];
          if (last.time < child.time || (last.time === child.time && last.seq < child.seq)) break;
          h[i] = child;
          i = c;
        }
        h[i] = last;
      }
      this.now = top.time;
      this.eventsRun++;
      top.fn();
    }
  }
}

/**
 * What one engine measurement took.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type EngineRun, joinWakeups } from "./bench_engine.ts";
 * const r: EngineRun = await joinWakeups(4, 10);
 * assert.equal(r.count, 40); // every sleep that ended
 * const perSecond = r.count / (r.wallMs / 1000);
 * assert.ok(perSecond > 0 && r.drains === 0);
 * ```
 */
export interface EngineRun {
  /** Events run, or wake-ups, as the measurement counts them. */
  count: number;
  /** Wall time, ms. */
  wallMs: number;
  /** CPU time, ms (see {@link stopwatch}). */
  cpuMs: number;
  /** Macrotask drains the engine needed (see `Engine.drains`). */
  drains: number;
}

/** Chains of trivial events in flight in {@link trivialEvents}. */
export const CHAINS = 4;

/**
 * `events` trivial events on {@link Engine}: {@link CHAINS} chains of
 * callbacks, each scheduling the next 10 ns later, while the root process
 * waits for the end (so nothing is runnable in between).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { trivialEvents } from "./bench_engine.ts";
 * const r = await trivialEvents(1000);
 * assert.ok(r.count >= 1000 && r.drains === 0);
 * ```
 */
export async function trivialEvents(events: number): Promise<EngineRun> {
  const e = new Engine();
  let left = events;
  const tick = () => {
    if (--left > 0) e.schedule(10, tick);
  };
  const sw = stopwatch();
  await e.run(async () => {
    const end = e.block<void>("bench end");
    for (let i = 0; i < CHAINS; i++) e.schedule(i, tick);
    const poll = () => (left > 0 ? e.schedule(1_000_000, poll) : end.resolve());
    e.schedule(1_000_000, poll);
    await end.promise;
  });
  return { count: e.eventsRun, ...sw(), drains: e.drains };
}

/**
 * The same chains of trivial events on {@link MinimalEngine}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CHAINS, minimalTrivialEvents } from "./bench_engine.ts";
 * // The other chains each run once more after the count runs out.
 * assert.equal(minimalTrivialEvents(1000).count, 1000 + CHAINS - 1);
 * ```
 */
export function minimalTrivialEvents(events: number): EngineRun {
  const e = new MinimalEngine();
  let left = events;
  const tick = () => {
    if (--left > 0) e.schedule(10, tick);
  };
  const sw = stopwatch();
  for (let i = 0; i < CHAINS; i++) e.schedule(i, tick);
  e.run();
  return { count: e.eventsRun, ...sw(), drains: 0 };
}

/**
 * Wake-ups of `procs` processes that each sleep `sleeps` times (delays
 * spread over 1…997 ns), joined by the root with one `Promise.all`.
 * `count` is the engine's wake-ups (every sleep that ended).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { joinWakeups } from "./bench_engine.ts";
 * const r = await joinWakeups(10, 3);
 * assert.deepEqual([r.count, r.drains], [30, 0]);
 * ```
 */
export async function joinWakeups(procs: number, sleeps: number): Promise<EngineRun> {
  const e = new Engine();
  const sw = stopwatch();
  await e.run(async () => {
    const kids = [];
    for (let i = 0; i < procs; i++) {
      const step = 1 + ((i * 7919) % 997);
      kids.push(e.spawn(`p${i}`, async () => {
        for (let k = 0; k < sleeps; k++) await e.sleep(step);
      }));
    }
    await Promise.all(kids);
  });
  return { count: e.wakeups, ...sw(), drains: e.drains };
}
