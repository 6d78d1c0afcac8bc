/**
 * Machine memory that can wake a process when a frame is written — the
 * model's stand-in for a CPU spinning on a cache line (or MONITOR/MWAIT).
 *
 * Why: `cq.pollUntil` and a perftest-style "poll the last byte" loop spin
 * on memory the HCA writes by DMA. Spinning in virtual time at the poll
 * period would cost host CPU per poll; instead the waiter blocks until a
 * write touches one of its frames and then re-checks. The HCA writes
 * through `frame(mfn)`, so every access through `frame()` that is not a CPU
 * read is taken as a possible write; waiters are woken at the same virtual
 * time, once the writing callback has returned. CPU reads never wake
 * anyone, so two waiters re-checking the same frame cannot wake each other
 * forever. A wake-up may be spurious (a DMA read of the frame): waiters
 * always re-check their condition.
 *
 * @module
 */
import type { Engine, EventHandle } from "../sim/engine.ts";
import { MachineMemory, PAGE_SIZE } from "../sim/memory.ts";
import { emptyArray } from "../sim/queue.ts";

/** Frame-number bits of {@link WatchedMemory}'s filter of watched frames. */
const WATCH_FILTER_MASK = 4095;

/** The waiters on one frame. */
class FrameWatch {
  /** Waits, in the order they began. */
  waiters = new Set<WriteWait>();
  /** The other set, swapped in while `waiters` is woken. */
  spare = new Set<WriteWait>();
  /** Queued for the next flush. */
  touched = false;
}

/**
 * One {@link WatchedMemory.waitWrite}: ends once, at a write, its timeout or
 * its signal. An object rather than closures: a thread polling a CQ waits
 * about once per completion.
 */
class WriteWait {
  done = false;
  /** Registered on its frames (not yet when an aborted signal ends it at once). */
  watching = false;
  timer: EventHandle | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  constructor(
    readonly watch: Map<number, FrameWatch>,
    readonly mfns: readonly number[],
    readonly resolve: (written: boolean) => void,
    readonly engine: Engine,
    readonly signal: AbortSignal | undefined,
  ) {}

  end(written: boolean): void {
    if (this.done) return;
    this.done = true;
    if (this.watching) {
      const mfns = this.mfns;
      for (let i = 0; i < mfns.length; i++) this.watch.get(mfns[i])!.waiters.delete(this);
    }
    if (this.timer) this.engine.cancel(this.timer);
    if (this.onAbort) this.signal!.removeEventListener("abort", this.onAbort);
    this.resolve(written);
  }
}

/** End a wait at a write (a function of its own: no closure per flush). */
function endWritten(w: WriteWait): void {
  w.end(true);
}

/**
 * Host memory with write watches.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { WatchedMemory } from "./memory_watch.ts";
 * const engine = new Engine();
 * const mem = new WatchedMemory(1 << 20, engine);
 * const mfn = mem.allocFrame("t");
 * const t = await engine.run(async () => {
 *   engine.schedule(700, () => mem.frame(mfn).set([1], 0)); // a device DMA write
 *   await mem.waitWrite([mfn], "flag");
 *   return engine.now;
 * });
 * assert.equal(t, 700); // woken at the write, not before
 * ```
 */
export class WatchedMemory extends MachineMemory {
  #engine: Engine;
  /**
   * Per frame ever watched, its waiters. Entries and their sets are kept
   * when they empty: a poller waits on the same frames over and over, and
   * a map or set that grows and shrinks on every wait reallocates its table
   * each time (garbage the collector copies, as the map is long-lived).
   */
  #watch = new Map<number, FrameWatch>();
  /**
   * A filter of the frames in {@link #watch}, by the low bits of their
   * numbers: a frame whose entry is 0 was never watched (one that is 1 may
   * have been: the map says).
   */
  #everWatched = new Uint8Array(WATCH_FILTER_MASK + 1);
  /** Frames with waiters written since the last flush, in the order first written. */
  #touched: FrameWatch[] = [];
  #flushing: FrameWatch[] = [];
  #flushArmed = false;
  #cpuReads = 0;

  /** The kind of the event that wakes the writes' watchers ({@link Engine.tag}). */
  readonly #tagFlush: number;

  /**
   * Machine memory of `bytes` whose writes wake `waitWrite` sleepers on `engine`.
   *
   * @param bytes size of machine memory
   * @param engine the engine whose clock wake-ups happen on
   */
  constructor(bytes: number, engine: Engine) {
    super(bytes);
    this.#engine = engine;
    this.#tagFlush = engine.tag("mem.watch_wake");
  }

  /** `MachineMemory.read`; a CPU read, which wakes no watcher. */
  override read(maddr: number, len: number): Uint8Array {
    this.#cpuReads++;
    try {
      return super.read(maddr, len);
    } finally {
      this.#cpuReads--;
    }
  }

  /** `MachineMemory.frame`, noting the frame was accessed (a device access may have written it). */
  override frame(mfn: number): Uint8Array {
    const f = super.frame(mfn);
    this.#accessed(mfn);
    return f;
  }

  // The DMA path's look-up (translation, then the frame): a device access like `frame`'s.
  /** `MachineMemory.frameIfAllocated`, noting the access as `frame` does. */
  override frameIfAllocated(mfn: number): Uint8Array | undefined {
    const f = super.frameIfAllocated(mfn);
    if (f !== undefined) this.#accessed(mfn);
    return f;
  }

  /** A device touched frame `mfn`: its waiters are woken at the next flush. */
  #accessed(mfn: number): void {
    // Most frames (payloads, WQEs) were never watched: the filter says so without the map.
    if (this.#cpuReads === 0 && this.#everWatched[mfn & WATCH_FILTER_MASK] === 1) {
      const w = this.#watch.get(mfn);
      if (w !== undefined && w.waiters.size > 0) this.#touch(w);
    }
  }

  #touch(w: FrameWatch): void {
    if (w.touched) return;
    w.touched = true;
    this.#touched.push(w);
    if (this.#flushArmed) return;
    this.#flushArmed = true;
    this.#engine.post(0, this.#flush, this.#tagFlush);
  }

  #flush = (): void => {
    this.#flushArmed = false;
    const touched = this.#touched;
    this.#touched = this.#flushing;
    this.#flushing = touched;
    for (let i = 0; i < touched.length; i++) {
      const w = touched[i];
      w.touched = false;
      if (w.waiters.size === 0) continue;
      // Waiters that wait again (after this event) join the other set.
      const ws = w.waiters;
      w.waiters = w.spare;
      w.spare = ws;
      ws.forEach(endWritten);
      ws.clear();
    }
    emptyArray(touched);
  };

  /**
   * Block the calling process until a write touches any of `mfns` (wakes at
   * most once; re-check and call again), `timeoutNs` passes or `signal`
   * aborts.
   * @returns true on a write, false on timeout or abort
   */
  waitWrite(
    mfns: readonly number[],
    label: string,
    timeoutNs?: number,
    signal?: AbortSignal,
  ): Promise<boolean> {
    // Before the block: a timeout the engine cannot schedule must not leave a sleeper behind.
    if (timeoutNs !== undefined && !(timeoutNs >= 0)) {
      throw new RangeError(
        `waitWrite ${label}: timeoutNs must be a number >= 0 ns, got ${timeoutNs}`,
      );
    }
    if (timeoutNs === Infinity) timeoutNs = undefined;
    const b = this.#engine.block<boolean>(`memory write (${label})`);
    const wait = new WriteWait(this.#watch, mfns, b.resolve, this.#engine, signal);
    if (signal?.aborted) {
      wait.end(false);
      return b.promise;
    }
    if (signal) signal.addEventListener("abort", wait.onAbort = () => wait.end(false));
    if (timeoutNs !== undefined) {
      wait.timer = this.#engine.schedule(Math.max(0, timeoutNs), () => wait.end(false));
    }
    for (let i = 0; i < mfns.length; i++) {
      const m = mfns[i];
      let w = this.#watch.get(m);
      if (w === undefined) {
        this.#watch.set(m, w = new FrameWatch());
        this.#everWatched[m & WATCH_FILTER_MASK] = 1;
      }
      w.waiters.add(wait);
    }
    wait.watching = true;
    return b.promise;
  }

  /**
   * Wake every waiter on `mfns` (once the current callback returns), as a
   * write would: their memory now lives elsewhere (a guest migrated to
   * another host) and they must look again — at the new frames.
   */
  wake(mfns: Iterable<number>): void {
    for (const m of mfns) {
      const w = this.#watch.get(m);
      if (w !== undefined && w.waiters.size > 0) this.#touch(w);
    }
  }

  /**
   * End now, without an event of its own, every wait on `mfns` (each resolves as at a write, and
   * its thread looks again): the memory was given up while threads waited on it (a CQ destroyed
   * under a thread polling it), and no write will ever come.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Engine } from "../sim/engine.ts";
   * import { WatchedMemory } from "./memory_watch.ts";
   * const engine = new Engine();
   * const mem = new WatchedMemory(1 << 20, engine);
   * const mfn = mem.allocFrame("t");
   * const got = await engine.run(async () => {
   *   const waiting = mem.waitWrite([mfn], "ring");
   *   engine.schedule(300, () => mem.release([mfn])); // its owner gives the frame up
   *   return [await waiting, engine.now];
   * });
   * assert.deepEqual(got, [true, 300]);
   * ```
   */
  release(mfns: Iterable<number>): void {
    for (const m of mfns) {
      const w = this.#watch.get(m);
      if (w === undefined || w.waiters.size === 0) continue;
      for (const wait of [...w.waiters]) wait.end(true);
    }
  }

  /** Frames of `[maddr, maddr + len)`. */
  static framesOf(maddr: number, len: number): number[] {
    const out = [];
    for (let p = Math.floor(maddr / PAGE_SIZE); p * PAGE_SIZE < maddr + Math.max(1, len); p++) {
      out.push(p);
    }
    return out;
  }
}
