/**
 * What a kernel event file does for a reader (the completion channel's fd,
 * rdma_cm's event channel fd): events queue until read; a `read()` finding
 * one costs a system call (`cpu.syscallNs`); a reader that had to sleep
 * runs again `cpu.wakeupNs` after the event came (try_to_wake_up and the
 * switch to it). One place for both, so the two wait the same way.
 *
 * @module
 */
import type { Engine } from "../../sim/engine.ts";
import type { Profile } from "../../sim/profiles/mod.ts";
import { VerbsError } from "../uapi/errors.ts";

/**
 * The `timeoutNs` of a wait on an event file, checked before anything waits:
 * `undefined` (and `Infinity`) for none, else a number of ns ≥ 0; anything
 * else is `EINVAL` naming the call (a poll(2) timeout that is no number
 * cannot be passed from C). Returns the timeout to give {@link EventFile.read}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { waitTimeout } from "./event_file.ts";
 * assert.equal(waitTimeout("get_cq_event", 500), 500);
 * assert.equal(waitTimeout("get_cq_event", Infinity), undefined);
 * assert.throws(() => waitTimeout("get_cq_event", NaN), /EINVAL: get_cq_event: timeoutNs NaN is not a number of ns ≥ 0/);
 * ```
 */
export function waitTimeout(call: string, timeoutNs: unknown): number | undefined {
  if (timeoutNs === undefined || timeoutNs === Infinity) return undefined;
  if (typeof timeoutNs !== "number" || !(timeoutNs >= 0)) {
    const shown = typeof timeoutNs === "string" ? JSON.stringify(timeoutNs) : String(timeoutNs);
    throw new VerbsError(
      "EINVAL",
      `${call}: timeoutNs ${shown.slice(0, 24)} is not a number of ns ≥ 0`,
    );
  }
  return timeoutNs;
}

/** What an event file charges and waits with. */
export interface EventFileEnv {
  readonly engine: Engine;
  readonly profile: Profile;
}

/**
 * A queue of events of type `T` with sleeping readers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../../sim/profiles/mod.ts";
 * import { EventFile } from "./event_file.ts";
 * const engine = new Engine();
 * const env = { engine, profile: PCIX_SDR_2006 };
 * const f = new EventFile<string>(() => env, "demo channel");
 * f.deliver("early"); // nobody reads yet: queued
 * assert.equal(f.pending, 1);
 * const got = await engine.run(async () => {
 *   const a = await f.read(); // queued: one system call
 *   const t = engine.now;
 *   engine.schedule(1_000, () => f.deliver("late"));
 *   const b = await f.read(); // sleeps, woken wakeupNs after the event
 *   return { a, b, waited: engine.now - t, none: await f.read(500) };
 * });
 * assert.deepEqual(got, {
 *   a: "early",
 *   b: "late",
 *   waited: 1_000 + PCIX_SDR_2006.cpu.wakeupNs,
 *   none: undefined, // nothing within 500 ns
 * });
 * ```
 */
export class EventFile<T> {
  #queue: T[] = [];
  #waiters: ((e: T | undefined) => void)[] = [];

  /**
   * @param env the reader's environment, looked up at each use (a context's
   *   may be re-bound when its guest migrates)
   * @param label what a sleeping reader waits on, for deadlock reports
   * @param onTaken called when an event is handed to a reader, the moment the
   *   kernel counts it as reported (ib_uverbs_event_read increments the
   *   object's `events_reported` as it takes the event off the list), which
   *   for a sleeping reader is the delivery, before its wakeup
   */
  constructor(
    readonly env: () => EventFileEnv,
    readonly label: string,
    readonly onTaken?: (e: T) => void,
  ) {}

  /** Readers sleeping in {@link read}. */
  get readers(): number {
    return this.#waiters.length;
  }

  /** Events queued and not yet read. */
  get pending(): number {
    return this.#queue.length;
  }

  /** The kernel queued an event: the first sleeping reader gets it, else it waits in the queue. */
  deliver(e: T): void {
    const w = this.#waiters.shift();
    if (!w) {
      this.#queue.push(e);
      return;
    }
    this.onTaken?.(e);
    const env = this.env();
    env.engine.schedule(env.profile.cpu.wakeupNs, () => w(e));
  }

  /**
   * Drop the queued events `pred` picks (what the kernel frees of a closed
   * id's unread events) and return them; a reader never sees them.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Engine } from "../../sim/engine.ts";
   * import { PCIX_SDR_2006 } from "../../sim/profiles/mod.ts";
   * import { EventFile } from "./event_file.ts";
   * const f = new EventFile<number>(() => ({ engine: new Engine(), profile: PCIX_SDR_2006 }), "demo");
   * f.deliver(1);
   * f.deliver(2);
   * assert.deepEqual(f.discard((e) => e === 1), [1]);
   * assert.equal(f.pending, 1);
   * ```
   */
  discard(pred: (e: T) => boolean): T[] {
    const gone = this.#queue.filter(pred);
    this.#queue = this.#queue.filter((e) => !pred(e));
    return gone;
  }

  /**
   * `read()` on the file: the next event, sleeping in virtual time until one
   * comes; `undefined` when `timeoutNs` passed first.
   */
  async read(timeoutNs?: number): Promise<T | undefined> {
    // Before anything waits: a bad timeout must not leave a sleeping reader behind.
    timeoutNs = waitTimeout(`read ${this.label}`, timeoutNs);
    const env = this.env();
    if (this.#queue.length > 0) {
      const e = this.#queue.shift()!;
      this.onTaken?.(e);
      await env.engine.sleep(env.profile.cpu.syscallNs);
      return e;
    }
    const b = env.engine.block<T | undefined>(this.label);
    this.#waiters.push(b.resolve);
    const timer = timeoutNs === undefined ? undefined : env.engine.schedule(timeoutNs, () => {
      const i = this.#waiters.indexOf(b.resolve);
      // Not waiting any more: an event was handed to this reader and its wakeup is on the way.
      // The wait saw the event before its time ran out (a poll(2) with a timeout returns it):
      // resolving with nothing now would lose it.
      if (i < 0) return;
      this.#waiters.splice(i, 1);
      b.resolve(undefined);
    });
    const e = await b.promise;
    if (timer !== undefined) env.engine.cancel(timer);
    return e;
  }
}
