/**
 * Independent measurement points on Web Workers. A {@link Task} names an
 * exported async function of a tools module and its arguments (plain data:
 * what `structuredClone` copies); {@link runTasks} runs a list of them, one
 * worker per core by default (`--jobs N`), and returns the results in task
 * order. With one job the tasks run one after the other in this thread,
 * through the same import and call on copies of the arguments and the result
 * (as a worker's messages carry them), so a sequential run and a parallel run execute the same code
 * on the same inputs: every point builds its own cluster from its own seed,
 * so the results (and what the tools print from them) are identical
 * whatever the number of workers. A failure ends both the same way: the
 * first failing task in task order decides, not the first worker to fail.
 *
 * Workers inherit the tool's permissions (Deno's default): the launcher's
 * read access to the repository is what they need to load the tools.
 *
 * @module
 */

/**
 * One unit of work: `module`'s export `fn` called with `args`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { task, type Task } from "./pool.ts";
 * const t: Task = task(new URL("./perftest_stats.ts", import.meta.url), "latencyReport", 2, [0, 10], {
 *   rttFactor: 1,
 * });
 * assert.equal(t.fn, "latencyReport");
 * assert.ok(t.module.endsWith("/perftest_stats.ts"));
 * ```
 */
export interface Task {
  /** Absolute URL of the module. */
  module: string;
  /** Name of its exported function (async or not). */
  fn: string;
  /** Arguments, plain data. */
  args: unknown[];
  /** Relative cost, for scheduling only (larger first); never changes a result. */
  cost?: number;
}

/**
 * A {@link Task} for `module`'s export `fn`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runTasks, task } from "./pool.ts";
 * const stats = new URL("./perftest_stats.ts", import.meta.url);
 * // perftest's report of three posts 1 µs and 3 µs apart (a full round trip each).
 * const [row] = await runTasks<{ tMin: number }>([
 *   task(stats, "latencyReport", 2, [0, 1000, 4000, 5000, 6000, 7000], { rttFactor: 1 }),
 * ], { jobs: 1 });
 * assert.equal(row.tMin, 1);
 * ```
 */
export function task(module: URL | string, fn: string, ...args: unknown[]): Task {
  return { module: String(module), fn, args };
}

/**
 * Workers by default: one per core the runtime reports.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultJobs } from "./pool.ts";
 * assert.ok(defaultJobs() >= 1);
 * ```
 */
export function defaultJobs(): number {
  const n = Number(globalThis.navigator?.hardwareConcurrency ?? 1);
  return Number.isInteger(n) && n >= 1 ? n : 1;
}

/**
 * Options of {@link runTasks}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PoolOptions, runTasks, task } from "./pool.ts";
 * const seen: number[] = [];
 * const o: PoolOptions = { jobs: 2, onResult: (i) => seen.push(i) };
 * const stats = new URL("./perftest_stats.ts", import.meta.url);
 * const t = (ns: number) =>
 *   task(stats, "latencyReport", 2, [0, ns, 2 * ns, 3 * ns, 4 * ns], { rttFactor: 1 });
 * await runTasks([t(1000), t(2000), t(3000)], o);
 * assert.deepEqual(seen, [0, 1, 2]); // in task order, whichever worker finished first
 * ```
 */
export interface PoolOptions {
  /** Workers (default {@link defaultJobs}); 1 runs the tasks in this thread, in order. */
  jobs?: number;
  /** Each result as soon as it and every task before it are done, in task order. */
  onResult?: (index: number, value: unknown) => void;
  /** Each task as it finishes, in whatever order (for progress). */
  onDone?: (index: number) => void;
}

/** What a worker sends back. */
interface Reply {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: { name: string; message: string; stack?: string };
}

/**
 * Call one task here, as a worker does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { callTask, task } from "./pool.ts";
 * const stats = new URL("./perftest_stats.ts", import.meta.url);
 * await assert.rejects(callTask(task(stats, "noSuchExport")), /has no function 'noSuchExport'/);
 * ```
 */
export async function callTask(t: Task): Promise<unknown> {
  const mod = await import(t.module) as Record<string, unknown>;
  const f = mod[t.fn];
  if (typeof f !== "function") throw new Error(`${t.module} has no function '${t.fn}'`);
  return await (f as (...a: unknown[]) => unknown)(...t.args);
}

/** An error from a worker, rebuilt with its name (the tools print user errors by name). */
function rebuild(e: NonNullable<Reply["error"]>): Error {
  const err = new Error(e.message);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  return err;
}

/**
 * Run `tasks` on `jobs` workers (or here, one after the other, for one job)
 * and return their results in task order. A failure ends the run as the
 * sequential run ends: every task before the first failing one (in task
 * order) still finishes and reaches `onResult`, none after it is started or
 * reported, and that task's error is thrown (with its name and message, as
 * the task threw it) — whichever worker happened to fail first. Arguments
 * reach a task, and its result the caller, as copies (`structuredClone`, as
 * `postMessage` copies them), here too: a task that changes its arguments
 * changes nothing another task sees, and a result is plain data either way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runTasks, task } from "./pool.ts";
 * const stats = new URL("./perftest_stats.ts", import.meta.url);
 * const tasks = [1000, 2000, 3000].map((ns) =>
 *   task(stats, "latencyReport", 64, [0, ns, 2 * ns, 3 * ns, 4 * ns, 5 * ns], { rttFactor: 2 })
 * );
 * const here = await runTasks<{ tTypical: number }>(tasks, { jobs: 1 });
 * const there = await runTasks<{ tTypical: number }>(tasks, { jobs: 2 });
 * assert.deepEqual(there, here); // the same results, in the same order
 * assert.deepEqual(here.map((r) => r.tTypical), [0.5, 1, 1.5]); // half round trips, µs
 * ```
 */
export async function runTasks<T = unknown>(tasks: Task[], o: PoolOptions = {}): Promise<T[]> {
  const jobs = Math.max(1, Math.min(o.jobs ?? defaultJobs(), tasks.length));
  const results = new Array<unknown>(tasks.length);
  const done = new Array<boolean>(tasks.length).fill(false);
  let next = 0;
  const finish = (i: number, v: unknown) => {
    results[i] = v;
    done[i] = true;
    o.onDone?.(i);
    while (next < tasks.length && done[next]) {
      const k = next++;
      o.onResult?.(k, results[k]);
    }
  };
  if (jobs === 1) {
    for (let i = 0; i < tasks.length; i++) {
      const t = tasks[i];
      // Copied both ways, as a worker's messages are: what a task may take and return (plain
      // data, no prototypes or getters) is the same here as there.
      finish(i, structuredClone(await callTask({ ...t, args: structuredClone(t.args) })));
    }
    return results as T[];
  }
  // Larger tasks first (a stable sort: equal costs keep their order), so that a long one
  // does not start last; which worker runs what never changes a result.
  const order = tasks.map((_, i) => i).sort((a, b) => (tasks[b].cost ?? 0) - (tasks[a].cost ?? 0));
  const workers = new Set<Worker>();
  try {
    await new Promise<void>((resolve, reject) => {
      let queued = 0;
      /** The task each worker runs now. */
      const running = new Map<Worker, number>();
      /** The first failing task in task order so far, and its error. */
      let failedAt = Infinity;
      let failure: Error | undefined;
      const settle = () => {
        if (running.size > 0) return;
        if (failure) reject(failure);
        else resolve();
      };
      // A sequential run never reaches the tasks after a failing one.
      const skipAfterFailure = () => {
        while (queued < order.length && order[queued] > failedAt) queued++;
      };
      const feed = (w: Worker) => {
        skipAfterFailure();
        if (queued < order.length) {
          const id = order[queued++];
          running.set(w, id);
          const t = tasks[id];
          w.postMessage({ id, module: t.module, fn: t.fn, args: t.args });
        } else settle();
      };
      /** Stop `w` (its task is not wanted, or it broke); another takes its place if work is left. */
      const replace = (w: Worker) => {
        w.terminate();
        workers.delete(w);
        running.delete(w);
        skipAfterFailure();
        if (queued < order.length) feed(spawn());
      };
      const fail = (id: number, err: Error) => {
        if (id >= failedAt) return;
        failedAt = id;
        failure = err;
        // Work after the failure is not wanted: stop it where it runs.
        for (const [other, k] of [...running]) if (k > failedAt) replace(other);
      };
      const spawn = (): Worker => {
        const w = new Worker(new URL("./pool_worker.ts", import.meta.url), { type: "module" });
        workers.add(w);
        w.onmessage = (ev: MessageEvent<Reply>) => {
          const r = ev.data;
          if (running.get(w) !== r.id) return;
          running.delete(w);
          if (r.ok) finish(r.id, r.value);
          else fail(r.id, rebuild(r.error!));
          feed(w);
        };
        w.onerror = (ev: ErrorEvent) => {
          ev.preventDefault();
          const id = running.get(w);
          // An error its task did not catch (it escaped to the worker's scope): that task
          // failed, and the worker is not trusted with another.
          if (id !== undefined) fail(id, new Error(`worker failed: ${ev.message}`));
          replace(w);
          settle();
        };
        return w;
      };
      for (let k = 0; k < jobs; k++) spawn();
      for (const w of [...workers]) feed(w);
    });
  } finally {
    for (const w of workers) w.terminate();
  }
  return results as T[];
}
