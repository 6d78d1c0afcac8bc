/**
 * Deterministic discrete-event engine in virtual time (nanoseconds).
 *
 * Hardware is written as callbacks on the event heap ({@link Engine.schedule});
 * software (apps, guest kernels, backend threads) as async functions —
 * "processes" ({@link Engine.spawn}) — that await engine primitives
 * ({@link Engine.sleep}, {@link WaitQueue}, {@link Mailbox}) or other
 * processes (`await child`, `Promise.all(children)`).
 *
 * Why the engine counts runnable processes: an awaited promise's continuation
 * runs as a microtask, after the callback that resolved it has returned. If
 * the engine popped the next event straight away, the woken process would
 * observe a later virtual time than the one it was woken at (skew). So a
 * process is flagged runnable from when it is spawned or woken until it
 * blocks again on an engine primitive or finishes, and after an event that
 * flagged one the engine yields microtask turns until none is
 * flagged. While nothing is flagged the engine runs events back to back with
 * no `await` at all: that is the common case for hardware callbacks, and
 * the reason trivial events cost about what a bare heap costs.
 *
 * Joins are tracked the same way, without macrotasks. A process that awaits
 * other processes (`await child`, `Promise.all`, `Promise.race`, returning a
 * child's promise from an async function: every path where the promise
 * machinery calls `then` with its own resolving functions) registers on
 * each of them; when the last one it registered on finishes it is flagged
 * runnable, so what it does after the join runs before time moves on. When
 * one of several finishes (`Promise.all` still waiting, or a `Promise.race`
 * that resumes it) it is not flagged but granted {@link JOIN_TURNS} turns:
 * a `Promise.race` continuation that reaches its next engine primitive
 * within them is exact. A callback registered on a process's promise
 * (`.then(f)`, `.catch(f)`, `.finally(f)`) runs with the same grant.
 *
 * A flagged process that stops without blocking on a primitive (it awaits
 * processes it registered on, several primitives at once, or something
 * outside the model) keeps its flag longer than it runs. After
 * {@link SPIN_LIMIT} turns the engine takes a process that still waits on a
 * primitive or a process it registered on to be waiting for it and clears
 * its flag; if any other process is still flagged it empties the whole
 * microtask queue with one macrotask (a "drain", counted in
 * {@link Engine.drains}), after which nothing in the model can still be
 * running. A long chain of already-resolved promises in a process that was
 * woken normally is therefore always exact.
 *
 * Events are ordered by (time, insertion sequence), so equal-time events run
 * in the order they were scheduled: the same program and seed give the same
 * order, the same results and the same {@link Engine.traceHash}.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { setImmediate } from "node:timers";
import { takeFirst } from "./queue.ts";

/**
 * Microtask turns the engine yields to flagged processes before it decides
 * which of them are waiting (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, SPIN_LIMIT } from "./engine.ts";
 * assert.equal(SPIN_LIMIT, 256);
 * // A process woken by a sleep may await far longer chains than that: still exact.
 * const engine = new Engine();
 * const t = await engine.run(async () => {
 *   await engine.sleep(10);
 *   for (let i = 0; i < 4 * SPIN_LIMIT; i++) await null;
 *   return engine.now;
 * });
 * assert.equal(t, 10);
 * ```
 */
export const SPIN_LIMIT = 256;

/**
 * Microtask turns granted, without flagging anyone, when a process finishes
 * and something not counted may react to it: a process resumed by one of
 * several processes it joined (`Promise.race`), a callback registered with
 * `.then`/`.catch`/`.finally`, or code outside any process.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JOIN_TURNS, SPIN_LIMIT } from "./engine.ts";
 * assert.ok(JOIN_TURNS > 0 && JOIN_TURNS <= SPIN_LIMIT);
 * ```
 */
export const JOIN_TURNS = 64;

/** Awaited for one microtask turn. */
const RESOLVED = Promise.resolve();

/**
 * The resolving function of the promise made last by {@link Engine.sleep} or
 * {@link Engine.block}: their executor is this one function, not a closure
 * made per call (a closure and its context per wait, for the collector).
 */
let takenResolve: (value: never) => void = noop;
function takeResolve(resolve: (value: never) => void): void {
  takenResolve = resolve;
}

/**
 * A scheduled hardware callback; keep it to cancel the event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "./engine.ts";
 * const engine = new Engine();
 * let fired = false;
 * await engine.run(async () => {
 *   const timer = engine.schedule(100, () => (fired = true));
 *   engine.cancel(timer);
 *   await engine.sleep(200);
 *   assert.deepEqual([timer.time, timer.done], [100, true]);
 * });
 * assert.equal(fired, false);
 * ```
 */
export interface EventHandle {
  /** Virtual time (ns) at which the event fires. */
  readonly time: number;
  /** True once cancelled or run. */
  readonly done: boolean;
}

class Ev implements EventHandle {
  done = false;
  /**
   * A process the event wakes (set by {@link Engine.sleep}: `fn` resolves its
   * promise), or the lane whose head the event is (then it is the only one of
   * the lane in the heap); one field for both keeps the event small.
   */
  owner: Proc | Lane | null = null;
  /**
   * No handle to it left the engine ({@link Engine.post}, a process's sleep):
   * once it ran, its record is kept for the next such event.
   */
  reusable = false;
  constructor(
    public time: number,
    public seq: number,
    public fn: () => void,
    public tag: number,
  ) {}
}

/**
 * A FIFO lane of events ({@link Engine.lane}): a resource that finishes its
 * work in the order it was given (a direction of a DMA bus) schedules
 * its completions at nondecreasing times, so they are already in event order
 * among themselves. Only a lane's earliest event sits in the engine's heap;
 * the rest wait in the lane's queue and cost neither a heap push nor a place
 * in the heap that every other event's push and pop would pay for.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "./engine.ts";
 * const engine = new Engine();
 * const dma = engine.lane();
 * const order: string[] = [];
 * await engine.run(async () => {
 *   dma.schedule(10, () => order.push("read 1"));
 *   engine.schedule(10, () => order.push("other")); // same time, scheduled later: runs after
 *   dma.schedule(30, () => order.push("read 2"));
 *   dma.schedule(20, () => order.push("early")); // earlier than the lane's last: still exact
 *   await engine.sleep(40);
 * });
 * assert.deepEqual(order, ["read 1", "other", "early", "read 2"]);
 * ```
 */
export interface EventLane {
  /**
   * Run `fn` after `delayNs`, exactly as {@link Engine.schedule} would (same
   * time, same place among equal times). Cheapest when the time is not
   * earlier than the lane's last event's; an earlier one is still exact.
   */
  schedule(delayNs: number, fn: () => void, tag?: number): EventHandle;
  /** The same, with no handle ({@link Engine.post}). */
  post(delayNs: number, fn: () => void, tag?: number): void;
}

class Lane implements EventLane {
  readonly isLane = true;
  /** The lane's earliest event, the only one in the heap; null when the lane is empty. */
  head: Ev | null = null;
  /** Time of the lane's latest event. */
  last = 0;
  /**
   * The events after the head, in (time, sequence) order: a ring of
   * `ring.length` (a power of two) slots from `first`, kept when it empties
   * (a lane fills and drains all the time; a fresh array each time would be
   * garbage that lives as long as the backlog).
   */
  ring: (Ev | undefined)[] = new Array<Ev | undefined>(16).fill(undefined);
  first = 0;
  count = 0;

  /** Queue `ev` behind the others. */
  enqueue(ev: Ev): void {
    let ring = this.ring;
    if (this.count === ring.length) {
      const bigger = new Array<Ev | undefined>(ring.length * 2).fill(undefined);
      for (let i = 0; i < this.count; i++) bigger[i] = ring[(this.first + i) & (ring.length - 1)];
      this.ring = ring = bigger;
      this.first = 0;
    }
    ring[(this.first + this.count) & (ring.length - 1)] = ev;
    this.count++;
  }

  /** Take the earliest queued event (there is one). */
  dequeue(): Ev {
    const ring = this.ring;
    const ev = ring[this.first]!;
    ring[this.first] = undefined;
    this.first = (this.first + 1) & (ring.length - 1);
    this.count--;
    return ev;
  }

  constructor(private engine: Engine) {}

  schedule(delayNs: number, fn: () => void, tag = 0): EventHandle {
    return this.engine.scheduleOn(this, delayNs, fn, tag);
  }

  post(delayNs: number, fn: () => void, tag = 0): void {
    this.engine.postOn(this, delayNs, fn, tag);
  }
}

/**
 * Records of events that ran kept for reuse ({@link Engine.post}) at most: a
 * burst of pending events leaves no more than this behind.
 */
const SPARE_EVENTS = 1024;

function noop(): void {}

/** What a cancelled event runs (never: it is skipped); marks it as still possibly queued. */
function cancelled(): void {}

/** A delay `op` takes: a finite number of ns, not negative. */
function checkDelay(op: string, delayNs: number): void {
  if (!(delayNs >= 0 && delayNs < Infinity)) {
    throw new RangeError(`${op}: delay must be a finite number >= 0 ns, got ${delayNs}`);
  }
}

/**
 * Events due this far ahead or more (a retransmission timer, a long sleep)
 * wait in a second heap: the many short-lived events are pushed and popped
 * through a heap that does not hold them.
 */
const FAR_NS = 1_000_000;

/**
 * A software process as the engine tracks it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DeadlockError, Engine } from "./engine.ts";
 * const engine = new Engine();
 * const err = await engine.run(() => engine.block<void>("a reply").promise).catch((e) => e);
 * assert.ok(err instanceof DeadlockError);
 * assert.deepEqual(err.waiters.map((w) => [w.name, w.waitingOn]), [["root", "a reply"]]);
 * ```
 */
export interface ProcessInfo {
  /** Name given to {@link Engine.spawn}; used in deadlock reports. */
  readonly name: string;
  /** What the process is blocked on now, or "" while it runs. */
  readonly waitingOn: string;
}

class Proc implements ProcessInfo {
  readonly isLane = false;
  /** Counted in the engine's runnable count. */
  runnable = true;
  /** Not finished yet. */
  alive = true;
  /** What it blocks on (a function builds the text only for a report). */
  label: string | (() => string) = "";
  /** Wake-up time while it sleeps, else -1 (the label is built from it on demand). */
  sleepUntil = -1;
  /** Primitives this process blocked on that have not woken it yet. */
  blocks = 0;
  /** Running processes this one awaits (registered with resolving functions). */
  awaits: Set<Proc> | undefined;
  /** Running processes this one registered a callback on (`.then(f)`, `.catch(f)`). */
  observes: Set<Proc> | undefined;
  /** A reaction not counted as a join waits for this process to finish. */
  observed = false;
  constructor(public name: string) {}

  get waitingOn(): string {
    if (this.sleepUntil >= 0) return `sleep until ${this.sleepUntil} ns`;
    return typeof this.label === "string" ? this.label : this.label();
  }
}

/** True for engine-internal functions: the resolving functions the promise machinery passes. */
function isNative(f: unknown): boolean {
  return typeof f === "function" &&
    Function.prototype.toString.call(f).endsWith("{ [native code] }");
}

/**
 * The promise of a spawned process. A process that registers a reaction on
 * it (`await`, `Promise.all`, `.then`) is tracked as joining it: nothing else
 * would flag it when the spawned process finishes, because a join is not an
 * engine primitive, and without the flag the engine would move time on
 * while the joiner's continuation is still running (time skew).
 */
class Joinable<T> extends Promise<T> {
  /** Derived promises (`then`, `catch`) are plain promises. */
  static override get [Symbol.species](): PromiseConstructor {
    return Promise;
  }
  #onJoin: ((awaits: boolean) => (() => void) | undefined) | undefined;

  static of<T>(
    src: Promise<T>,
    onJoin: (awaits: boolean) => (() => void) | undefined,
  ): Joinable<T> {
    const j = new Joinable<T>((resolve, reject) => {
      src.then(resolve, reject);
    });
    j.#onJoin = onJoin;
    return j;
  }

  override then<R1 = T, R2 = never>(
    onfulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onrejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    // `await`, `Promise.all`/`race` and friends call `then` with a pair of
    // resolving functions: the caller waits for the result. A user callback
    // (`.then(f)`, `.catch(f)`) is a reaction the caller need not wait for.
    const wake = this.#onJoin?.(isNative(onfulfilled) && isNative(onrejected));
    if (!wake) return super.then(onfulfilled, onrejected);
    return super.then(
      (v) => {
        wake();
        return onfulfilled ? onfulfilled(v) : (v as unknown as R1);
      },
      (e) => {
        wake();
        if (onrejected) return onrejected(e);
        throw e;
      },
    );
  }
}

/**
 * Thrown by {@link Engine.run} when every process waits and no event is pending.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DeadlockError, Engine, Mailbox } from "./engine.ts";
 * const engine = new Engine();
 * const inbox = new Mailbox<string>(engine, "inbox");
 * await assert.rejects(
 *   engine.run(() => inbox.take()),
 *   (e) => e instanceof DeadlockError && e.waiters[0].waitingOn === "inbox",
 * );
 * ```
 */
export class DeadlockError extends Error {
  /** The processes that were waiting, with what each waited on. */
  readonly waiters: ProcessInfo[];
  /**
   * A deadlock at virtual time `time` (ns), naming the processes that wait.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { DeadlockError } from "./engine.ts";
   * const e = new DeadlockError(0, [{ name: "server", waitingOn: "wq" }]);
   * assert.match(e.message, /'server' \(waiting on wq\)/);
   * ```
   */
  constructor(time: number, waiters: ProcessInfo[]) {
    const list = waiters.map((w) => `'${w.name}' (waiting on ${w.waitingOn || "?"})`).join(", ");
    super(`deadlock at t=${time} ns: no event pending and every process waits: ${list}`);
    this.name = "DeadlockError";
    this.waiters = waiters;
  }
}

/**
 * Options for {@link Engine}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "./engine.ts";
 * const engine = new Engine({ recordTrace: true, countEvents: true });
 * await engine.run(async () => {
 *   engine.schedule(3, () => {}, engine.tag("hca.doorbell"));
 *   await engine.sleep(5);
 * });
 * assert.deepEqual(engine.trace(), ["3 hca.doorbell", "5 sleep"]);
 * assert.deepEqual(engine.eventCounts(), { "hca.doorbell": 1, sleep: 1 });
 * ```
 */
export interface EngineOptions {
  /** Keep a readable trace line for every event (costs memory); the hash is always kept. */
  recordTrace?: boolean;
  /**
   * Count the events run by kind (their tag's label, see {@link Engine.eventCounts}): what a
   * message costs in events, step by step. Off by default (one test per event when off).
   */
  countEvents?: boolean;
}

/**
 * The event heap, virtual clock and process scheduler.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "./engine.ts";
 * const engine = new Engine();
 * const t = await engine.run(async () => {
 *   const kids = [3, 1, 2].map((us) => engine.spawn(`k${us}`, () => engine.sleep(us * 1_000)));
 *   await Promise.all(kids); // a join: resumes at the last finish, no macrotask
 *   return engine.now;
 * });
 * assert.equal(t, 3_000);
 * assert.equal(engine.drains, 0);
 * ```
 */
export class Engine {
  #now = 0;
  #seq = 0;
  /** Sequence number of the event run last (the one running, or the one whose continuations run). */
  #curSeq = -1;
  /**
   * The event heap: `#heap[0..#size)`, events due within {@link FAR_NS} when
   * scheduled and the head of every lane. Its length is not changed as events
   * come and go (`push`/`pop` would: V8 shrinks an array's backing store as
   * it empties and reallocates it as it fills, and a heap that breathes
   * between a few and a few dozen events paid that on most events).
   */
  #heap: (Ev | undefined)[] = [];
  /**
   * The (time, sequence) of `#heap[i]` at `[i]`: the sift loops compare these
   * contiguous numbers instead of reading each event. In a large model the
   * events lie scattered over a heap of gigabytes, and reading one is a cache
   * miss; here only the event that moves is read.
   */
  #heapTime = new Float64Array(64);
  #heapSeq = new Float64Array(64);
  #size = 0;
  /** Events due {@link FAR_NS} or more ahead when scheduled. */
  #far: Ev[] = [];
  /** (time, sequence) of the far heap's top ({@link #farTop}); time Infinity while it is empty. */
  #farTime = Infinity;
  #farSeq = 0;
  /**
   * Records of events that ran and that no handle can reach (made by
   * {@link post}, {@link EventLane.post} and a process's {@link sleep}),
   * reused by the next such event: the per-packet path posts most of its
   * events, and a record allocated per event was about a sixth of what a
   * 64 B message allocated.
   */
  #spare: Ev[] = [];
  /** Events waiting in lanes behind their heads. */
  #queued = 0;
  #procs = new Set<Proc>();
  #runnable = 0;
  /** Microtask turns still granted without a flagged process (see {@link JOIN_TURNS}). */
  #turns = 0;
  #als = new AsyncLocalStorage<Proc>();
  #running = false;
  #h1 = 0x811c9dc5;
  #h2 = 0x01000193;
  #trace: string[] | undefined;
  #tagNames: string[] = ["event"];
  /** Per tag, a hash of its label: the trace hash covers labels, not tag numbers. */
  #tagHashes: number[] = [labelHash("event")];
  #tagIds = new Map<string, number>([["event", 0]]);
  /** Events run per tag id, while {@link EngineOptions.countEvents} is on. */
  #counts: number[] | undefined;
  /** The tag of a process's sleep (its wake-up event). */
  #tagSleep: number;
  /**
   * The place log ({@link keepPlaceLog}): for each event run, its time, its
   * sequence number and the sequence counter when it started, in a ring of a
   * power-of-two length; `#logAt` counts entries ever written.
   */
  #logTime: Float64Array | undefined;
  #logSeq = new Float64Array(0);
  #logCounter = new Float64Array(0);
  #logAt = 0;
  /** How far back (ns) the log must reach (see {@link keepPlaceLog}). */
  #logHorizon = 0;
  /** Events up to this time are logged; later ones only once a step asks again. */
  #logUntil = -1;
  /** Events run since construction. */
  eventsRun = 0;
  /** Wake-ups since construction: primitives that ended a wait (a sleep, a notify, a put). */
  wakeups = 0;
  /** Times the engine emptied the microtask queue with a macrotask (see the module doc). */
  drains = 0;
  /**
   * Keep every event in the one heap: no lanes ({@link lane}) and no heap of
   * far events. Events run in the same order either way (tests compare the
   * two); this is the plain engine to compare with.
   */
  oneHeap = false;

  /**
   * A new engine at virtual time 0.
   *
   * @param opts see {@link EngineOptions}
   */
  constructor(opts: EngineOptions = {}) {
    if (opts.recordTrace) this.#trace = [];
    if (opts.countEvents) this.#counts = [0];
    this.#tagSleep = this.tag("sleep");
  }

  /** Current virtual time in nanoseconds. */
  get now(): number {
    return this.#now;
  }

  /** Number of events waiting (cancelled ones included until their time). */
  get pending(): number {
    return this.#size + this.#far.length + this.#queued;
  }

  /**
   * A small integer standing for a trace label; pass it to {@link schedule}
   * so that tracing costs no string work per event.
   */
  tag(label: string): number {
    let id = this.#tagIds.get(label);
    if (id === undefined) {
      id = this.#tagNames.length;
      this.#tagNames.push(label);
      this.#tagHashes.push(labelHash(label));
      this.#tagIds.set(label, id);
      this.#counts?.push(0);
    }
    return id;
  }

  /**
   * Run `fn` after `delayNs` of virtual time (hardware-style callback: it
   * must not await). Delays are rounded up to whole nanoseconds.
   */
  schedule(delayNs: number, fn: () => void, tag = 0): EventHandle {
    checkDelay("schedule", delayNs);
    const ev = new Ev(this.#now + Math.ceil(delayNs), this.#seq++, fn, tag);
    this.#push(ev);
    return ev;
  }

  /**
   * Run `fn` after `delayNs` exactly as {@link schedule} does (same time,
   * same place among equal times), with no handle to cancel or inspect it:
   * the engine then reuses the event's record once it ran.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Engine } from "./engine.ts";
   * const engine = new Engine();
   * const order: string[] = [];
   * engine.post(10, () => order.push("posted"));
   * const h = engine.schedule(10, () => order.push("scheduled")); // same time, later: after
   * engine.post(5, () => order.push("first"));
   * await engine.run(() => engine.sleep(20));
   * assert.deepEqual(order, ["first", "posted", "scheduled"]);
   * assert.deepEqual([h.time, h.done], [10, true]);
   * assert.throws(() => engine.post(-1, () => {}), /post: delay must be a finite number >= 0 ns/);
   * ```
   */
  post(delayNs: number, fn: () => void, tag = 0): void {
    checkDelay("post", delayNs);
    this.#push(this.#reusable(this.#now + Math.ceil(delayNs), this.#seq++, fn, tag));
  }

  /**
   * Schedule the event of `handle` again, `delayNs` from now, exactly as
   * {@link schedule} would schedule a new one (same time, same place among
   * equal times), in the same record: for a resource that re-arms one event
   * over and over (a VCPU's end of work). Only for a plain event (made by
   * `schedule`) that has run: one that is waiting, or was cancelled (it stays
   * queued until its time), or a lane's, would be queued twice or in the wrong
   * place, so those throw and nothing changes.
   * @throws RangeError for a handle that is not such an event
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Engine } from "./engine.ts";
   * const engine = new Engine();
   * const at: number[] = [];
   * let h = engine.schedule(10, () => {
   *   at.push(engine.now);
   *   if (at.length < 3) h = engine.scheduleAgain(h, 5);
   * });
   * const first = h;
   * await engine.run(() => engine.sleep(100));
   * assert.deepEqual(at, [10, 15, 20]);
   * assert.equal(h, first); // one record throughout
   * const waiting = engine.schedule(5, () => {});
   * assert.throws(() => engine.scheduleAgain(waiting, 1), /scheduleAgain: the event has not run/);
   * ```
   */
  scheduleAgain(handle: EventHandle, delayNs: number): EventHandle {
    checkDelay("scheduleAgain", delayNs);
    const ev = handle as Ev;
    if (!(ev instanceof Ev) || !ev.done || ev.fn === cancelled || ev.owner !== null) {
      throw new RangeError(
        "scheduleAgain: the event has not run (it is waiting or was cancelled) or is not a plain scheduled event",
      );
    }
    ev.time = this.#now + Math.ceil(delayNs);
    ev.seq = this.#seq++;
    ev.done = false;
    this.#push(ev);
    return ev;
  }

  /** An event record no handle will reach: a spare one if there is one. */
  #reusable(time: number, seq: number, fn: () => void, tag: number): Ev {
    const ev = this.#spare.pop();
    if (ev === undefined) {
      const made = new Ev(time, seq, fn, tag);
      made.reusable = true;
      return made;
    }
    ev.time = time;
    ev.seq = seq;
    ev.fn = fn;
    ev.tag = tag;
    ev.done = false;
    return ev;
  }

  /**
   * A new FIFO lane ({@link EventLane}): for a resource whose completions
   * come in the order it was given work.
   */
  lane(): EventLane {
    return new Lane(this);
  }

  /** @internal {@link EventLane.schedule} */
  scheduleOn(onto: EventLane, delayNs: number, fn: () => void, tag: number): EventHandle {
    const lane = onto as Lane;
    checkDelay("schedule", delayNs);
    const ev = new Ev(this.#now + Math.ceil(delayNs), this.#seq++, fn, tag);
    this.#enlane(lane, ev);
    return ev;
  }

  /** @internal {@link EventLane.post} */
  postOn(onto: EventLane, delayNs: number, fn: () => void, tag: number): void {
    checkDelay("post", delayNs);
    this.#enlane(
      onto as Lane,
      this.#reusable(this.#now + Math.ceil(delayNs), this.#seq++, fn, tag),
    );
  }

  /** Queue `ev` on `lane` (or, out of the lane's order, as an ordinary event). */
  #enlane(lane: Lane, ev: Ev): void {
    if (this.oneHeap) {
      this.#pushNear(ev);
    } else if (lane.head === null) {
      // (time, seq) of a lane's events only grow, so its head is its earliest.
      ev.owner = lane;
      lane.head = ev;
      lane.last = ev.time;
      this.#pushNear(ev);
    } else if (ev.time >= lane.last) {
      ev.owner = lane;
      lane.enqueue(ev);
      lane.last = ev.time;
      this.#queued++;
    } else {
      this.#push(ev); // out of the lane's order: an ordinary event
    }
  }

  /**
   * @internal Reserve the place in event order that an event scheduled now
   * would take, without scheduling one: for a step the model keeps as a
   * deferred update (a credit return) and applies when someone looks
   * ({@link isPast}), or schedules later with {@link scheduleReserved} when
   * its moment must run as an event after all. Events scheduled after the
   * reservation still order after it, exactly as if it had been scheduled.
   */
  reserveSeq(): number {
    return this.#seq++;
  }

  /**
   * @internal Whether an event at absolute time `time` with sequence number
   * `seq` ({@link reserveSeq}) would have run by now: it orders before the
   * event running now (or, between events, the one run last).
   */
  isPast(time: number, seq: number): boolean {
    return time < this.#now || (time === this.#now && seq < this.#curSeq);
  }

  /**
   * @internal Schedule `fn` at absolute time `time` in the place `seq`
   * reserved then ({@link reserveSeq}); the place must not be past.
   */
  scheduleReserved(time: number, seq: number, fn: () => void, tag = 0): EventHandle {
    if (this.isPast(time, seq)) {
      throw new RangeError(`scheduleReserved: (${time}, ${seq}) is already past`);
    }
    const ev = new Ev(time, seq, fn, tag);
    this.#push(ev);
    return ev;
  }

  /**
   * @internal Keep a log of the places events run at, from now until
   * `untilNs` and reaching `horizonNs` back, so that {@link passCounter} can
   * say where a step kept out of the engine (a deferred update) would have
   * taken its sequence numbers: a step at a place within `horizonNs` before
   * `untilNs` can be asked about until then. Calls widen the log, never
   * narrow it.
   */
  keepPlaceLog(horizonNs: number, untilNs: number): void {
    if (untilNs > this.#logUntil) this.#logUntil = untilNs;
    if (this.#logTime === undefined) {
      this.#logTime = new Float64Array(256);
      this.#logSeq = new Float64Array(256);
      this.#logCounter = new Float64Array(256);
    }
    if (horizonNs > this.#logHorizon) this.#logHorizon = horizonNs;
  }

  /**
   * @internal The sequence counter's value when the engine passed the place
   * (`time`, `seq`): what a step at that place that ran no event would have
   * reserved first ({@link reserveSeq}), had it run as one. -1 if the place
   * is not past yet. The place must lie within the log's horizon
   * ({@link keepPlaceLog}).
   */
  passCounter(time: number, seq: number): number {
    if (!this.isPast(time, seq)) return -1;
    const lt = this.#logTime;
    if (lt === undefined) throw new Error("passCounter: no place log (keepPlaceLog)");
    const ls = this.#logSeq, lc = this.#logCounter, mask = lt.length - 1;
    const first = this.#logAt > lt.length ? this.#logAt - lt.length : 0;
    // The first logged event at or after the place: the step would have run just before it.
    let i = this.#logAt - 1;
    let found = -1;
    while (i >= first) {
      const j = i & mask;
      const t = lt[j];
      if (t < time || (t === time && ls[j] < seq)) break;
      found = j;
      i--;
    }
    if (found < 0) return this.#seq; // passed since the last event: nothing has run after it
    if (i < first && first > 0) {
      throw new Error(`passCounter: place (${time}, ${seq}) is older than the place log`);
    }
    return lc[found];
  }

  /** Record the event about to run in the place log (growing it rather than losing what the horizon needs). */
  #logEvent(ev: Ev): void {
    let lt = this.#logTime!;
    let n = lt.length;
    const at = this.#logAt;
    if (at >= n && lt[at & (n - 1)] >= ev.time - this.#logHorizon) {
      // The entry to overwrite is still within the horizon: double the ring, in order.
      const t = new Float64Array(2 * n), s = new Float64Array(2 * n), c = new Float64Array(2 * n);
      for (let k = 0; k < n; k++) {
        const j = (at - n + k) & (n - 1);
        t[k] = lt[j];
        s[k] = this.#logSeq[j];
        c[k] = this.#logCounter[j];
      }
      this.#logTime = lt = t;
      this.#logSeq = s;
      this.#logCounter = c;
      this.#logAt = n;
      n *= 2;
    }
    const j = this.#logAt++ & (n - 1);
    lt[j] = ev.time;
    this.#logSeq[j] = ev.seq;
    this.#logCounter[j] = this.#seq;
  }

  /** Cancel a scheduled event; cancelling a run or cancelled event does nothing. */
  cancel(handle: EventHandle): void {
    const ev = handle as Ev;
    if (ev.done) return;
    ev.done = true;
    // It stays queued until its time: never scheduled again (scheduleAgain), its function let go.
    ev.fn = cancelled;
  }

  /**
   * Start a software process. Its promise settles when the function does;
   * a process that throws rejects that promise (the engine keeps running).
   */
  spawn<T>(name: string, fn: () => Promise<T>): Promise<T> {
    return this.#start(new Proc(name), fn);
  }

  #start<T>(p: Proc, fn: () => Promise<T>): Promise<T> {
    this.#procs.add(p);
    this.#runnable++;
    const done = () => {
      p.alive = false;
      this.#procs.delete(p);
      if (p.runnable) {
        p.runnable = false;
        this.#runnable--;
      }
      // Reactions that are not joins (callbacks, code outside any process)
      // run in the next turns; joiners flag themselves (#joined).
      if (p.observed && this.#turns < JOIN_TURNS) this.#turns = JOIN_TURNS;
    };
    const out = Joinable.of(this.#als.run(p, fn), (awaits) => this.#join(p, awaits));
    // Registered before any joiner's reaction, so the finished process is
    // uncounted before its joiners are flagged.
    Promise.prototype.then.call(out, done, done);
    return out;
  }

  /**
   * A reaction is being registered on the promise of process `child`:
   * `awaits` if the promise machinery registers it (the caller waits for
   * it), else a callback. Returns what to do when `child` finishes.
   */
  #join(child: Proc, awaits: boolean): (() => void) | undefined {
    if (!child.alive) return undefined;
    const p = this.#als.getStore();
    if (!p || !awaits) child.observed = true;
    if (!p) return undefined;
    if (awaits) (p.awaits ??= new Set()).add(child);
    else (p.observes ??= new Set()).add(child);
    return () => this.#joined(p, child, awaits);
  }

  /** Process `child`, which `p` registered on, has finished. */
  #joined(p: Proc, child: Proc, awaits: boolean): void {
    const set = awaits ? p.awaits : p.observes;
    if (!set?.delete(child)) return; // a second reaction on the same child
    if (!p.alive || p.runnable) return;
    // Flag the joiner when nothing else it registered on is pending: it is
    // waiting for this (a join, or a callback's derived promise), or is
    // blocked on nothing the engine knows (then the flag costs a drain,
    // never skew). Otherwise it may be resumed (a race) or not (Promise.all
    // still waiting, a fire-and-forget callback): grant turns.
    if (p.blocks === 0 && !p.awaits?.size && (awaits || !p.observes?.size)) {
      p.runnable = true;
      this.#runnable++;
    } else if (this.#turns < JOIN_TURNS) {
      this.#turns = JOIN_TURNS;
    }
  }

  /** The calling process, if any (for diagnostics). */
  current(): ProcessInfo | undefined {
    return this.#als.getStore();
  }

  /**
   * Block the calling process until `resolve` is called. The building block
   * of every wait primitive: use it to write new ones.
   * @param label what the process waits on, shown in deadlock reports; a
   *   function is called only when a report needs the text
   */
  block<T>(label: string | (() => string)): { promise: Promise<T>; resolve: (v: T) => void } {
    const p = this.#als.getStore();
    if (p) this.#blocked(p, label, -1);
    const promise = new Promise<T>(takeResolve);
    const res = takenResolve as (v: T) => void;
    let fired = false;
    const resolve = (v: T) => {
      if (fired) return;
      fired = true;
      this.wakeups++;
      if (p) this.#woken(p);
      res(v);
    };
    return { promise, resolve };
  }

  #blocked(p: Proc, label: string | (() => string), until: number): void {
    p.label = label;
    p.sleepUntil = until;
    p.blocks++;
    if (p.runnable) {
      p.runnable = false;
      this.#runnable--;
    }
  }

  #woken(p: Proc): void {
    p.blocks--;
    p.label = "";
    p.sleepUntil = -1;
    if (!p.runnable && p.alive) {
      p.runnable = true;
      this.#runnable++;
    }
  }

  /** Suspend the calling process for `ns` of virtual time. */
  sleep(ns: number): Promise<void> {
    if (!(ns >= 0) || !Number.isFinite(ns)) {
      throw new RangeError(`sleep: time must be a finite number >= 0 ns, got ${ns}`);
    }
    const p = this.#als.getStore();
    if (!p) {
      const b = this.block<void>("");
      this.schedule(ns, () => b.resolve(), this.#tagSleep);
      return b.promise;
    }
    // In a process (nearly always): block() + schedule() without their closures.
    const t = this.#now + Math.ceil(ns);
    this.#blocked(p, "", t);
    const promise = new Promise<void>(takeResolve);
    const ev = this.#reusable(t, this.#seq++, takenResolve as () => void, this.#tagSleep);
    ev.owner = p;
    this.#push(ev);
    return promise;
  }

  /**
   * Run `root` as a process to completion in virtual time and return its
   * result. Events left in the heap stay for the next `run`.
   * @throws DeadlockError if every process waits and no event is pending
   */
  async run<T>(root: () => Promise<T>, name = "root"): Promise<T> {
    if (this.#running) throw new Error("Engine.run: already running (nested run)");
    this.#running = true;
    try {
      let settled = false;
      let value: T | undefined;
      let error: unknown;
      let failed = false;
      const rootProc = new Proc(name);
      this.#start(rootProc, root).then(
        (v) => {
          settled = true;
          value = v;
        },
        (e) => {
          settled = true;
          failed = true;
          error = e;
        },
      );
      for (;;) {
        if (this.#runnable > 0 || this.#turns > 0) {
          // Let flagged processes (and granted turns) run to their next primitive.
          let spins = 0;
          do {
            if (this.#turns > 0) this.#turns--;
            if (++spins > SPIN_LIMIT) {
              if (!this.#clearWaiting()) await this.#drain();
              break;
            }
            await RESOLVED; // one microtask turn, no promise allocated
          } while (this.#runnable > 0 || this.#turns > 0);
        }
        if (settled) break;
        if (!this.#runEvents()) {
          // Before calling it a deadlock, let anything not flagged (a
          // callback on a process, an outside promise) run to its end.
          await this.#drain();
          if (settled) break;
          if (!this.#runEvents()) {
            const err = new DeadlockError(
              this.#now,
              [...this.#procs].map((p) => ({ name: p.name, waitingOn: waitingOn(p) })),
            );
            // Its root stays waiting (nothing can cancel a promise): a later run's report
            // names it as what it is, not as one of that run's processes.
            rootProc.name = `${name} of the run that deadlocked at t=${this.#now} ns`;
            throw err;
          }
        }
      }
      if (failed) throw error;
      return value as T;
    } finally {
      this.#running = false;
    }
  }

  /**
   * Run events back to back until one flags a process or grants turns, or
   * none is left; false if there was no event to run.
   */
  #runEvents(): boolean {
    let ev = this.#pop();
    if (!ev) return false;
    for (;;) {
      this.#now = ev.time;
      this.#curSeq = ev.seq;
      ev.done = true;
      this.eventsRun++;
      if (ev.time <= this.#logUntil) this.#logEvent(ev);
      this.#mix(ev.time, ev.tag);
      if (this.#counts !== undefined) this.#counts[ev.tag]++;
      const owner = ev.owner;
      if (owner !== null && !owner.isLane) {
        this.wakeups++;
        this.#woken(owner as Proc);
      }
      ev.fn();
      if (ev.reusable && this.#spare.length < SPARE_EVENTS) {
        // Nothing can reach it now: the heap and its lane let go of it when it was popped.
        ev.fn = noop;
        ev.owner = null;
        this.#spare.push(ev);
      }
      if (this.#runnable > 0 || this.#turns > 0) return true;
      ev = this.#pop();
      if (!ev) return true;
    }
  }

  /**
   * After {@link SPIN_LIMIT} turns: clear the flag of every flagged process
   * that waits on a primitive or a process it registered on (it is taken to
   * wait for it). False if some flagged process waits on nothing the engine
   * knows: then only a drain can tell.
   */
  #clearWaiting(): boolean {
    const idle: Proc[] = [];
    for (const p of this.#procs) {
      if (!p.runnable) continue;
      if (p.blocks === 0 && !p.awaits?.size) return false;
      idle.push(p);
    }
    for (const p of idle) p.runnable = false;
    this.#runnable = 0;
    this.#turns = 0;
    return true;
  }

  /** Empty the microtask queue with one macrotask. */
  async #drain(): Promise<void> {
    this.drains++;
    await new Promise<void>((r) => setImmediate(r));
    // The microtask queue is empty now: whatever is still flagged waits on
    // something that is not an engine primitive (a join, Promise.all of
    // primitives, outside I/O) and will be flagged again when woken.
    for (const p of this.#procs) p.runnable = false;
    this.#runnable = 0;
    this.#turns = 0;
  }
  #mix(time: number, tagId: number): void {
    const tag = this.#tagHashes[tagId];
    // Two 32-bit FNV-1a-style lanes over (time low, time high, tag).
    const lo = time >>> 0;
    const hi = time < 4294967296 ? 0 : Math.floor(time / 4294967296) >>> 0;
    let a = this.#h1, b = this.#h2;
    a = Math.imul(a ^ lo, 0x01000193);
    a = Math.imul(a ^ hi, 0x01000193);
    a = Math.imul(a ^ tag, 0x01000193);
    b = Math.imul(b ^ tag, 0x5bd1e995) + lo;
    b = Math.imul(b ^ hi, 0x5bd1e995) ^ (b >>> 15);
    this.#h1 = a >>> 0;
    this.#h2 = b >>> 0;
    if (this.#trace) this.#trace.push(`${time} ${this.#tagNames[tagId]}`);
  }

  /**
   * Record a model-level trace point (a packet, a command, a hypercall) into
   * the trace hash and, if enabled, the readable trace. `label` is its text
   * or the number {@link tag} gave for it, the same mark either way: a mark
   * made on every message takes its number once, as events do.
   * @throws RangeError for a number that is not one of this engine's tags
   */
  traceMark(label: string | number, value = 0): void {
    if (typeof label === "string") return this.#mix(this.#now + value, this.tag(label));
    if (!(label >= 0 && label < this.#tagNames.length) || !Number.isInteger(label)) {
      throw new RangeError(`traceMark: ${label} is not a tag of this engine (Engine.tag)`);
    }
    this.#mix(this.#now + value, label);
  }

  /**
   * Events run so far by kind: each tag's label ({@link tag}; `"event"` for events scheduled
   * without one, `"sleep"` for a process's wake-up from {@link sleep}) and how many ran, in the
   * order the labels were first used; kinds that never ran are left out. Trace marks are not
   * events and are not counted.
   * @throws Error if the engine was made without {@link EngineOptions.countEvents}
   */
  eventCounts(): Record<string, number> {
    const c = this.#counts;
    if (c === undefined) {
      throw new Error("eventCounts: this engine does not count events (EngineOptions.countEvents)");
    }
    const out: Record<string, number> = {};
    for (let i = 0; i < c.length; i++) if (c[i] > 0) out[this.#tagNames[i]] = c[i];
    return out;
  }

  /** Hash of every event run and trace mark so far (hex, 64 bits). */
  traceHash(): string {
    return this.#h1.toString(16).padStart(8, "0") + this.#h2.toString(16).padStart(8, "0");
  }

  /** The readable trace, if {@link EngineOptions.recordTrace} was set. */
  trace(): readonly string[] {
    return this.#trace ?? [];
  }

  #push(ev: Ev): void {
    if (ev.time - this.#now >= FAR_NS && !this.oneHeap) {
      siftUp(this.#far, ev);
      return this.#farTop();
    }
    this.#pushNear(ev);
  }

  #pushNear(ev: Ev): void {
    const i = this.#size++;
    if (i === this.#heapTime.length) this.#growHeap();
    this.#rise(ev, ev.time, ev.seq, i); // appends when the heap is at its largest so far
  }

  /** Put `ev`, at (`t`, `s`), in slot `i` of the heap or above it, as far up as it belongs. */
  #rise(ev: Ev, t: number, s: number, i: number): void {
    const h = this.#heap, ht = this.#heapTime, hs = this.#heapSeq;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const pt = ht[parent];
      if (pt < t || (pt === t && hs[parent] < s)) break;
      h[i] = h[parent];
      ht[i] = pt;
      hs[i] = hs[parent];
      i = parent;
    }
    h[i] = ev;
    ht[i] = t;
    hs[i] = s;
  }

  #growHeap(): void {
    const t = new Float64Array(this.#heapTime.length * 2);
    const s = new Float64Array(t.length);
    t.set(this.#heapTime);
    s.set(this.#heapSeq);
    this.#heapTime = t;
    this.#heapSeq = s;
  }

  /**
   * Note the far heap's top after it changed: {@link #pop} compares every near event with it, and
   * two numbers of the engine's own are read where the top's record may be cold.
   */
  #farTop(): void {
    const top = this.#far[0];
    this.#farTime = top === undefined ? Infinity : top.time;
    this.#farSeq = top === undefined ? 0 : top.seq;
  }

  /**
   * The next event in (time, sequence) order, cancelled ones skipped: the
   * earlier of the two heaps' tops. A lane's head is replaced in the heap by
   * the lane's next event.
   */
  #pop(): Ev | undefined {
    const h = this.#heap, ht = this.#heapTime, hs = this.#heapSeq;
    for (;;) {
      const ft = this.#farTime;
      if (this.#size === 0 || ft < ht[0] || (ft === ht[0] && this.#farSeq < hs[0])) {
        if (this.#far.length === 0) return undefined;
        const ev = popTop(this.#far);
        this.#farTop();
        if (!ev.done) return ev;
        continue;
      }
      const top = h[0]!;
      const owner = top.owner;
      const lane = owner !== null && owner.isLane ? owner as Lane : null;
      if (lane !== null && lane.count > 0) {
        // The lane's next event takes its head's place in the heap, and sinks from there.
        const next = lane.dequeue();
        this.#queued--;
        lane.head = next;
        this.#fillTop(next, next.time, next.seq, this.#size, true);
      } else {
        if (lane !== null) lane.head = null;
        const n = --this.#size;
        if (n > 0) this.#fillTop(h[n]!, ht[n], hs[n], n, false);
        h[n] = undefined; // the heap holds no event it no longer has
      }
      if (!top.done) return top;
    }
  }

  /**
   * Put `ev`, at (`t`, `s`), in the top's slot of the `n`-slot heap, which the top left. A lane's
   * next event, which may belong near the top, `sink`s: it moves down while a child is earlier.
   * The heap's last event (in slot `n`) nearly always belongs near the bottom, so for it the hole
   * moves down along the earlier child to a leaf, one comparison per level where sinking takes two,
   * and the event rises from there (Floyd's pop); its key comes from the heap's own arrays, not
   * from its record. The heap orders by (time, sequence), which no two events share, so the order
   * events leave it in is the same either way.
   */
  #fillTop(ev: Ev, t: number, s: number, n: number, sink: boolean): void {
    const h = this.#heap, ht = this.#heapTime, hs = this.#heapSeq;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      let c = l;
      let ct = ht[l];
      if (r < n) {
        const rt = ht[r];
        if (rt < ct || (rt === ct && hs[r] < hs[l])) {
          c = r;
          ct = rt;
        }
      }
      if (sink && (t < ct || (t === ct && s < hs[c]))) break;
      h[i] = h[c];
      ht[i] = ct;
      hs[i] = hs[c];
      i = c;
    }
    if (!sink) return this.#rise(ev, t, s, i);
    h[i] = ev;
    ht[i] = t;
    hs[i] = s;
  }
}

function siftUp(h: Ev[], ev: Ev): void {
  let i = h.length;
  h.push(ev);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const p = h[parent];
    if (p.time < ev.time || (p.time === ev.time && p.seq < ev.seq)) break;
    h[i] = p;
    i = parent;
  }
  h[i] = ev;
}

/** Remove and return the top of a non-empty heap. */
function popTop(h: Ev[]): Ev {
  const top = h[0];
  const last = h.pop()!;
  if (h.length > 0) siftDown(h, last);
  return top;
}

/** Place `ev` at the top and move it down to its place. */
function siftDown(h: Ev[], ev: Ev): void {
  let i = 0;
  const n = h.length;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const r = l + 1;
    let c = l;
    if (r < n && (h[r].time < h[l].time || (h[r].time === h[l].time && h[r].seq < h[l].seq))) {
      c = r;
    }
    const child = h[c];
    if (ev.time < child.time || (ev.time === child.time && ev.seq < child.seq)) break;
    h[i] = child;
    i = c;
  }
  h[i] = ev;
}

/** What a process waits on, for a deadlock report. */
function waitingOn(p: Proc): string {
  if (p.label || p.sleepUntil >= 0) return p.waitingOn;
  const joined = [...(p.awaits ?? []), ...(p.observes ?? [])];
  return joined.length ? `join ${joined.map((j) => `'${j.name}'`).join(", ")}` : "";
}

/** 32-bit FNV-1a of a label's UTF-16 code units. */
function labelHash(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * A FIFO of waiting processes (a condition variable without the mutex: the
 * engine runs one thing at a time).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, WaitQueue } from "./engine.ts";
 * const engine = new Engine();
 * const wq = new WaitQueue(engine, "doorbell");
 * const t = await engine.run(async () => {
 *   engine.schedule(50, () => wq.notifyAll());
 *   await wq.wait();
 *   return engine.now;
 * });
 * assert.equal(t, 50);
 * ```
 */
export class WaitQueue {
  #waiters: ((v: boolean) => void)[] = [];
  /**
   * @param engine the engine
   * @param label shown in deadlock reports
   */
  constructor(private engine: Engine, readonly label: string) {}

  /** Number of processes waiting. */
  get length(): number {
    return this.#waiters.length;
  }

  /** Wait until notified. */
  wait(): Promise<boolean> {
    const b = this.engine.block<boolean>(this.label);
    this.#waiters.push(b.resolve);
    return b.promise;
  }

  /**
   * Wait until notified or until `timeoutNs` passes.
   * @returns true if notified, false on timeout
   */
  waitFor(timeoutNs: number): Promise<boolean> {
    const b = this.engine.block<boolean>(() => `${this.label} (timeout ${timeoutNs} ns)`);
    let done = false;
    const wake = (v: boolean) => {
      if (done) return;
      done = true;
      // A notified waiter's timeout must not run (it would be an event of its own).
      if (v) this.engine.cancel(ev);
      b.resolve(v);
    };
    this.#waiters.push(wake);
    const ev = this.engine.schedule(timeoutNs, () => {
      const i = this.#waiters.indexOf(wake);
      if (i >= 0) this.#waiters.splice(i, 1);
      wake(false);
    });
    return b.promise;
  }

  /** Wake the longest waiter; returns false if nobody waited. */
  notifyOne(): boolean {
    const w = takeFirst(this.#waiters);
    if (!w) return false;
    w(true);
    return true;
  }

  /** Wake every waiter; returns how many. */
  notifyAll(): number {
    const ws = this.#waiters;
    this.#waiters = [];
    for (let i = 0; i < ws.length; i++) ws[i](true);
    return ws.length;
  }
}

/**
 * An unbounded FIFO of values between callbacks and processes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, Mailbox } from "./engine.ts";
 * const engine = new Engine();
 * const mb = new Mailbox<number>(engine, "irq");
 * const v = await engine.run(async () => {
 *   engine.schedule(10, () => mb.put(7));
 *   return [await mb.take(), engine.now];
 * });
 * assert.deepEqual(v, [7, 10]);
 * ```
 */
export class Mailbox<T> {
  #items: T[] = [];
  #wq: WaitQueue;
  /**
   * @param engine the engine
   * @param label shown in deadlock reports
   */
  constructor(engine: Engine, label: string) {
    this.#wq = new WaitQueue(engine, label);
  }

  /** Items waiting to be taken. */
  get size(): number {
    return this.#items.length;
  }

  /** Add a value; wakes one taker. */
  put(v: T): void {
    this.#items.push(v);
    this.#wq.notifyOne();
  }

  /** Take the oldest value, waiting if there is none. */
  async take(): Promise<T> {
    while (this.#items.length === 0) await this.#wq.wait();
    return takeFirst(this.#items)!;
  }

  /** Take the oldest value if there is one. */
  tryTake(): T | undefined {
    return takeFirst(this.#items);
  }
}
