/**
 * Schedules of non-blocking collectives (MPI-3.1 §5.12), made progress on
 * only by the rank's own MPI calls, as MPICH's (and so MVAPICH2's) NBC
 * schedules are (`src/mpid/common/sched/mpidu_sched.c`: MPIR_Ibcast and its
 * kin build a schedule of sends, receives and local reductions separated by
 * barriers; `MPIDU_Sched_progress`, called from every pass of the progress
 * engine, starts a round once the one before it has completed).
 *
 * A schedule here is a collective algorithm of coll/ run as a coroutine:
 * what it issues between two waits (sends, receives, local reductions and
 * copies) is a round, and each wait is a schedule barrier. The coroutine is
 * parked at the barrier until the progress engine — inside the rank's next
 * `test`, `wait` or other call that waits — finds every request of the
 * round complete and runs the coroutine up to its next barrier. Nothing
 * moves while the rank computes: there is no asynchronous progress thread.
 *
 * @module
 */
import type { ProgressWork } from "./channel.ts";
import { ANY_SOURCE } from "./constants.ts";
import { MpiError } from "./errors.ts";
import { emptyStatus, type Request, type Status } from "./request.ts";

interface Barrier {
  reqs: readonly Request[];
  resolve(statuses: Status[]): void;
  reject(e: unknown): void;
}

/**
 * One non-blocking collective in progress: its request, and the algorithm
 * run as a coroutine between schedule barriers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Request } from "./request.ts";
 * import { Schedule } from "./schedule.ts";
 * const recv = new Request("recv", 0, "MPI_Irecv");
 * const s = new Schedule(new Request("coll", 0, "MPI_Ibarrier"));
 * const log: string[] = [];
 * await s.begin(async () => {
 *   log.push("round 1");
 *   await s.barrier([recv]);
 *   log.push("round 2");
 * });
 * assert.equal(s.ready(), false); // the round's receive is pending
 * recv.complete({ source: 1, tag: 0, bytes: 0, count: 0 });
 * assert.equal(s.ready(), true);
 * await s.step();
 * assert.deepEqual(log, ["round 1", "round 2"]);
 * assert.equal(s.req.done, true);
 * ```
 */
export class Schedule {
  #barrier: Barrier | undefined;
  #parked: (() => void) | undefined;
  #finished = false;
  #error: unknown;

  /**
   * @param req the request the collective's caller holds, completed when the schedule ends
   * @param context the context id of its communicator (-1: none given)
   */
  constructor(readonly req: Request, readonly context = -1) {}

  /** Whether the algorithm has returned or thrown (the request is then complete). */
  get finished(): boolean {
    return this.#finished;
  }

  /** What the algorithm threw, if it did. */
  get error(): unknown {
    return this.#error;
  }

  /**
   * Run `body` up to its first barrier (or its end): the round the call
   * that starts the collective issues, as MPICH's MPIDU_Sched_start does.
   */
  async begin(body: () => Promise<void>): Promise<void> {
    const parked = this.#parkedPromise();
    body().then(() => this.#end(undefined), (e) => this.#end(e ?? new Error("schedule failed")));
    await parked;
  }

  /**
   * A schedule barrier: the algorithm's wait for the requests of its
   * round. Resolves with their statuses (rejects with the first one's
   * error) when the progress engine {@link step}s past it.
   */
  barrier(reqs: readonly Request[]): Promise<Status[]> {
    return new Promise((resolve, reject) => {
      this.#barrier = { reqs, resolve, reject };
      this.#park();
    });
  }

  /** Whether the round at the barrier has completed, so the next can start. */
  ready(): boolean {
    return this.#barrier !== undefined && this.#barrier.reqs.every((r) => r.done);
  }

  /** Pass the barrier and run the next round, up to the next barrier or the end. */
  async step(): Promise<void> {
    const b = this.#barrier!;
    this.#barrier = undefined;
    const parked = this.#parkedPromise();
    const failed = b.reqs.find((r) => r.error);
    if (failed) b.reject(failed.error);
    else b.resolve(b.reqs.map((r) => r.status!));
    await parked;
  }

  #parkedPromise(): Promise<void> {
    return new Promise<void>((r) => this.#parked = r);
  }

  #park(): void {
    const p = this.#parked;
    this.#parked = undefined;
    p?.();
  }

  #end(e: unknown): void {
    this.#finished = true;
    const status = emptyStatus(ANY_SOURCE);
    if (e === undefined) this.req.complete(status);
    else {
      this.#error = e;
      // A bug of the library or the program (not an MPI error) surfaces as it is, at the wait.
      const err = e instanceof MpiError ? e : new MpiError(
        "MPI_ERR_INTERN",
        `${this.req.what} on rank ${this.req.rank}: ${(e as Error)?.message ?? e}`,
      );
      this.req.fail(err, status);
    }
    this.#park();
  }
}

/**
 * A process's schedules in progress, in the order they were started
 * (MPICH's `all_schedules` list): the channel's progress engine advances
 * them on every pass ({@link ProgressWork}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Request } from "./request.ts";
 * import { Schedule, Schedules } from "./schedule.ts";
 * const all = new Schedules();
 * const recv = new Request("recv", 0, "MPI_Irecv");
 * const s = new Schedule(new Request("coll", 0, "MPI_Ibcast"));
 * await all.start(s, async () => void await s.barrier([recv]));
 * assert.equal(all.pending, true);
 * assert.equal(await all.advance(), false); // nothing arrived
 * recv.complete({ source: 1, tag: 0, bytes: 0, count: 0 });
 * assert.equal(await all.advance(), true);
 * assert.equal(all.pending, false);
 * assert.equal(s.req.done, true);
 * ```
 */
export class Schedules implements ProgressWork {
  #list: Schedule[] = [];
  #busy = false;
  #missed = false;

  /**
   * @param wake wakes the rank's other waits (the channel's kick), called
   *   after a pass that another wait could not enter, so it looks again
   */
  constructor(readonly wake: () => void = () => {}) {}

  /** Whether a schedule is in progress. */
  get pending(): boolean {
    return this.#list.length > 0;
  }

  /** Whether a schedule of the communicator with context id `context` is in progress. */
  runningOn(context: number): boolean {
    return this.#list.some((s) => s.context === context);
  }

  /** Run `s`'s first round (`body` up to its first barrier) and keep it if it has more. */
  async start(s: Schedule, body: () => Promise<void>): Promise<void> {
    this.#list.push(s);
    try {
      await s.begin(body);
    } finally {
      if (s.finished) this.#list.splice(this.#list.indexOf(s), 1);
    }
  }

  /**
   * Start the next round of every schedule whose round has completed, in
   * start order, until none can move; true if any did. A pass already
   * under way (two waits of one rank at once, in a `Promise.all`) is not
   * entered again.
   */
  async advance(): Promise<boolean> {
    if (this.#busy) {
      this.#missed = true;
      return false;
    }
    this.#busy = true;
    let did = false;
    try {
      for (let moved = true; moved;) {
        moved = false;
        for (const s of [...this.#list]) {
          if (!s.ready()) continue;
          await s.step();
          if (s.finished) this.#list.splice(this.#list.indexOf(s), 1);
          moved = did = true;
        }
      }
    } finally {
      this.#busy = false;
    }
    if (this.#missed) {
      this.#missed = false;
      this.wake();
    }
    return did;
  }
}
