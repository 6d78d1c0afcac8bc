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
import type { Engine } from "../sim/engine.ts";
import { MachineMemory, PAGE_SIZE } from "../sim/memory.ts";

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
  #watch = new Map<number, Set<() => void>>();
  #touched = new Set<number>();
  #flushArmed = false;
  #cpuReads = 0;

  /**
   * @param bytes size of machine memory
   * @param engine the engine whose clock wake-ups happen on
   */
  constructor(bytes: number, engine: Engine) {
    super(bytes);
    this.#engine = engine;
  }

  override read(maddr: number, len: number): Uint8Array {
    this.#cpuReads++;
    try {
      return super.read(maddr, len);
    } finally {
      this.#cpuReads--;
    }
  }

  override frame(mfn: number): Uint8Array {
    const f = super.frame(mfn);
    if (this.#cpuReads === 0 && this.#watch.has(mfn)) this.#touch(mfn);
    return f;
  }

  #touch(mfn: number): void {
    this.#touched.add(mfn);
    if (this.#flushArmed) return;
    this.#flushArmed = true;
    this.#engine.schedule(0, this.#flush);
  }

  #flush = (): void => {
    this.#flushArmed = false;
    const touched = [...this.#touched];
    this.#touched.clear();
    for (const mfn of touched) {
      const ws = this.#watch.get(mfn);
      if (!ws) continue;
      this.#watch.delete(mfn);
      for (const w of ws) w();
    }
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
    const b = this.#engine.block<boolean>(`memory write (${label})`);
    let done = false;
    const wake = (written: boolean) => {
      if (done) return;
      done = true;
      for (const m of mfns) {
        const s = this.#watch.get(m);
        if (s && s.delete(onWrite) && s.size === 0) this.#watch.delete(m);
      }
      if (timer) this.#engine.cancel(timer);
      signal?.removeEventListener("abort", onAbort);
      b.resolve(written);
    };
    const onAbort = () => wake(false);
    if (signal?.aborted) {
      wake(false);
      return b.promise;
    }
    signal?.addEventListener("abort", onAbort);
    const onWrite = () => wake(true);
    const timer = timeoutNs === undefined
      ? undefined
      : this.#engine.schedule(Math.max(0, timeoutNs), () => wake(false));
    for (const m of mfns) {
      let s = this.#watch.get(m);
      if (!s) this.#watch.set(m, s = new Set());
      s.add(onWrite);
    }
    return b.promise;
  }

  /**
   * Wake every waiter on `mfns` (once the current callback returns), as a
   * write would: their memory now lives elsewhere (a guest migrated to
   * another host) and they must look again — at the new frames.
   */
  wake(mfns: Iterable<number>): void {
    for (const m of mfns) if (this.#watch.has(m)) this.#touch(m);
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
