/**
 * Memory protection and translation: the MPT (one entry per registered
 * region: key, PD, bounds, rights, where its pages are in the MTT) and the
 * MTT (machine frame of each page). Every byte the device touches in host
 * memory is found here; the checks fail closed and name the reason with a
 * {@link CqeVendorErr} value (IBTA vol 1 §10.6.3 memory protection, §9.7.4.1
 * R_Key validation).
 *
 * @module
 */

import { type MachineMemory, PAGE_SHIFT, PAGE_SIZE } from "../sim/memory.ts";
import { CqeVendorErr } from "./cqe.ts";
import { keyToMptIndex } from "./commands.ts";

/**
 * A HW-owned MPT entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MptEntry } from "./mpt.ts";
 * const firstPageOffset = (e: MptEntry) => e.start % 2 ** e.pageShift;
 * assert.equal(firstPageOffset({ start: 0x10200, pageShift: 12 } as MptEntry), 512);
 * ```
 */
export interface MptEntry {
  /** MPT index. */
  readonly index: number;
  /** Key (lkey = rkey). */
  readonly key: number;
  /** Protection domain. */
  readonly pd: number;
  /** First virtual address. */
  readonly start: number;
  /** Bytes. */
  readonly length: number;
  /** `MptAccess` bits. */
  readonly access: number;
  /** First MTT entry. */
  readonly mttBase: number;
  /** MTT entries (pages). */
  readonly mttCount: number;
  /** log2 of the page size. */
  readonly pageShift: number;
  /** Queue contexts (QP WQ, CQ, EQ, SRQ) whose buffer this region is. */
  refs: number;
  /**
   * When the last DMA access translated through this entry completes (a write lands, a read's
   * data is in the device), ns (device bookkeeping, {@link MemoryTranslation.translated}; absent
   * or 0 = none issued). HW2SW_MPT completes only after it.
   */
  landsAt?: number;
}

const MTT_CHUNK = 4096;
/** Gathers up to this many bytes per page are copied without a view of the frame (as `MachineMemory` reads are). */
const SMALL_GATHER = 48;

/**
 * The MTT: machine frame numbers, stored in lazily allocated chunks so that
 * a million-entry table costs nothing until written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Mtt } from "./mpt.ts";
 * const mtt = new Mtt(1 << 20); // a million entries, allocated as written
 * mtt.write(1000, [77, 78]);
 * assert.deepEqual([mtt.get(1001), mtt.get(5)], [78, 0]);
 * ```
 */
export class Mtt {
  /** Chunks by index (a table of a million entries has 256 of them): an array, not a map, as the data path looks up an entry per packet. */
  #chunks: (Uint32Array | undefined)[] = [];
  /**
   * Create it (hardware state; the device builds these).
   * @param size entries */
  constructor(readonly size: number) {}

  /** Write `mfns` at `base`. Caller has checked the range. */
  write(base: number, mfns: readonly number[]): void {
    for (let i = 0; i < mfns.length; i++) {
      const at = base + i;
      const c = Math.floor(at / MTT_CHUNK);
      let chunk = this.#chunks[c];
      if (!chunk) this.#chunks[c] = chunk = new Uint32Array(MTT_CHUNK);
      chunk[at - c * MTT_CHUNK] = mfns[i];
    }
  }

  /** Entry `at` (0 if never written). */
  get(at: number): number {
    const c = Math.floor(at / MTT_CHUNK);
    const chunk = this.#chunks[c];
    return chunk ? chunk[at - c * MTT_CHUNK] : 0;
  }

  /** Drop every entry (CLOSE_HCA). */
  clear(): void {
    this.#chunks = [];
  }
}

/**
 * MPT and MTT with the checks and copies the data path uses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MachineMemory } from "../sim/memory.ts";
 * import { MemoryTranslation } from "./mpt.ts";
 * const mem = new MachineMemory(1 << 20);
 * const tpt = new MemoryTranslation(mem, 16, 64);
 * const f = mem.allocFrame("t");
 * tpt.mtt.write(0, [f]);
 * tpt.install({ index: 1, key: 0x100, pd: 1, start: 0x1000, length: 4096, access: 1, mttBase: 0, mttCount: 1, pageShift: 12, refs: 0 });
 * const e = tpt.check(0x100, 1, 0x1000, 8, 1);
 * if (typeof e !== "number") tpt.scatter(e, 0x1000, new Uint8Array([1, 2]));
 * assert.deepEqual([...mem.read(f * 4096, 2)], [1, 2]);
 * ```
 */
export class MemoryTranslation {
  /** MPT entries by index (HW-owned only). */
  readonly mpt: (MptEntry | undefined)[] = [];
  /** The MTT. */
  readonly mtt: Mtt;
  /** Entries in use. */
  used = 0;
  /** MTT entries covered by HW-owned MPT entries. */
  mttUsed = 0;

  /**
   * Create it (hardware state; the device builds these).
   * @param memory host memory
   * @param maxMpt MPT entries
   * @param maxMtt MTT entries
   */
  constructor(readonly memory: MachineMemory, readonly maxMpt: number, maxMtt: number) {
    this.mtt = new Mtt(maxMtt);
  }

  /**
   * Entries HW2SW_MPT took out of the table (no key names them any more) whose DMA accesses,
   * translated before, have not all completed: they still complete through them, and the
   * command completes (the driver unpins the frames) only after ({@link retire}).
   */
  readonly #draining: MptEntry[] = [];

  /** Make an entry HW-owned (the command layer validated it). */
  install(e: MptEntry): void {
    e.landsAt = 0;
    this.mpt[e.index] = e;
    this.used++;
    this.mttUsed += e.mttCount;
  }

  /** Return an entry to software. */
  remove(index: number): void {
    const e = this.mpt[index];
    if (!e) return;
    this.mpt[index] = undefined;
    this.used--;
    this.mttUsed -= e.mttCount;
  }

  /**
   * A DMA access through `e` was issued (its translation done) and completes at `at` (absolute
   * ns): a write lands, a read returns its data. An access translated before HW2SW_MPT took the
   * entry out completes through it, and the command waits for it ({@link retire}).
   */
  translated(e: MptEntry, at: number): void {
    if (!(at <= e.landsAt!)) e.landsAt = at;
  }

  /**
   * HW2SW_MPT's effect on `e` at `now`: no key names it from now on (a request checked later
   * is refused). Returns false if no access translated through it is still on its way, or true:
   * then `e` stays reachable to those accesses ({@link reachable}) until {@link drained}, which
   * the firmware calls once they have completed, before the command completes.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MachineMemory } from "../sim/memory.ts";
   * import { MemoryTranslation } from "./mpt.ts";
   * const tpt = new MemoryTranslation(new MachineMemory(1 << 20), 16, 64);
   * const e = { index: 1, key: 0x100, pd: 1, start: 0, length: 4096, access: 1, mttBase: 0, mttCount: 1, pageShift: 12, refs: 0 };
   * tpt.install(e);
   * tpt.translated(e, 500); // a DMA write through it lands at 500 ns
   * assert.equal(tpt.retire(e, 200), true);
   * assert.deepEqual([tpt.lookup(0x100), tpt.reachable(e)], [undefined, true]);
   * tpt.drained(e);
   * assert.equal(tpt.reachable(e), false);
   * ```
   */
  retire(e: MptEntry, now: number): boolean {
    this.remove(e.index);
    if (!(e.landsAt! > now)) return false;
    this.#draining.push(e);
    return true;
  }

  /** The accesses through a retired entry have all completed: nothing reaches it any more. */
  drained(e: MptEntry): void {
    const i = this.#draining.indexOf(e);
    if (i >= 0) this.#draining.splice(i, 1);
  }

  /**
   * True while a DMA access translated through `e` may still complete through it: `e` is the
   * HW-owned entry at its index, or HW2SW_MPT retired it and waits for its accesses. False once
   * the command completed: the driver may have unpinned its frames, and nothing is written or
   * read through it.
   */
  reachable(e: MptEntry): boolean {
    return this.mpt[e.index] === e || (this.#draining.length > 0 && this.#draining.includes(e));
  }

  /** Drop everything (CLOSE_HCA). */
  clear(): void {
    this.#draining.length = 0;
    this.mpt.length = 0;
    this.used = 0;
    this.mttUsed = 0;
    this.mtt.clear();
  }

  /**
   * Every frame the device can reach now: the MTT entries of each HW-owned
   * MPT entry, in MPT order, then those of each entry HW2SW_MPT is draining
   * ({@link retire}) (read-only; a host's isolation audit checks them against
   * what its driver pinned).
   */
  *reachableFrames(): Generator<{ key: number; mtt: number; mfn: number }> {
    for (const e of this.mpt) if (e) yield* this.#framesOf(e);
    // A retired entry's frames stay reachable until the accesses through it have completed.
    for (const e of this.#draining) yield* this.#framesOf(e);
  }

  *#framesOf(e: MptEntry): Generator<{ key: number; mtt: number; mfn: number }> {
    const per = Math.max(1, 2 ** (e.pageShift - PAGE_SHIFT)); // frames per MTT page
    for (let i = 0; i < e.mttCount; i++) {
      const first = this.mtt.get(e.mttBase + i);
      for (let j = 0; j < per; j++) yield { key: e.key, mtt: e.mttBase + i, mfn: first + j };
    }
  }

  /** True while `e` is still the HW-owned entry at its index (not deregistered since). */
  live(e: MptEntry): boolean {
    return this.mpt[e.index] === e;
  }

  /** The HW-owned entry a key names (tag included), or undefined. */
  lookup(key: number): MptEntry | undefined {
    const e = this.mpt[keyToMptIndex(key)];
    return e && e.key === key ? e : undefined;
  }

  /**
   * Validate an access of `len` bytes at `va` through `key`: key valid and
   * current, PD equal (`pd` < 0 skips the PD check, for queue buffers the
   * driver chose), inside the region, rights present (`need`: `MptAccess` bits;
   * 0 = read by the local device, always allowed to the owner). Returns the
   * entry or a {@link CqeVendorErr} value.
   */
  check(key: number, pd: number, va: number, len: number, need: number): MptEntry | number {
    const e = this.lookup(key);
    if (!e) return CqeVendorErr.BAD_KEY;
    if (pd >= 0 && e.pd !== pd) return CqeVendorErr.PD_MISMATCH;
    if (!(va >= e.start) || va + len > e.start + e.length) return CqeVendorErr.OUT_OF_BOUNDS;
    if ((e.access & need) !== need) return CqeVendorErr.ACCESS_RIGHTS;
    return e;
  }

  /** Machine frame holding byte `va` of region `e`, or 0 if it is not RAM. */
  frameOf(e: MptEntry, va: number): number {
    const mfn = this.#translate(e, va);
    return mfn !== 0 && this.memory.isAllocated(mfn) ? mfn : 0;
  }

  /**
   * The bytes of the frame holding byte `va` of region `e` ({@link frameOf}
   * and the frame in one look-up), or undefined if it is not RAM; `write`
   * takes it for a DMA write ({@link MachineMemory.frameForWrite}). For the
   * per-packet path: the caller reads or writes within the page at once.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MachineMemory } from "../sim/memory.ts";
   * import { MemoryTranslation } from "./mpt.ts";
   * const mem = new MachineMemory(1 << 20);
   * const tpt = new MemoryTranslation(mem, 16, 64);
   * const f = mem.allocFrame("t");
   * tpt.mtt.write(0, [f]);
   * const e = { index: 1, key: 0x100, pd: 1, start: 0x1000, length: 4096, access: 1, mttBase: 0, mttCount: 1, pageShift: 12, refs: 0 };
   * tpt.install(e);
   * assert.equal(tpt.frameBytes(e, 0x1800, false), mem.frame(f));
   * assert.equal(tpt.frameBytes(e, 0x2000, false), undefined); // past the region's one page
   * ```
   */
  frameBytes(e: MptEntry, va: number, write: boolean): Uint8Array | undefined {
    const mfn = this.#translate(e, va);
    if (mfn === 0) return undefined;
    return write ? this.memory.frameForWriteIfAllocated(mfn) : this.memory.frameIfAllocated(mfn);
  }

  /** The MTT's frame for byte `va` of region `e` (0: none), allocated or not. */
  #translate(e: MptEntry, va: number): number {
    const shift = e.pageShift;
    if (shift === PAGE_SHIFT) {
      // 4 KiB translation pages (the common case): one MTT entry per frame.
      const page = Math.floor(va / PAGE_SIZE) - Math.floor(e.start / PAGE_SIZE);
      if (page >= e.mttCount) return 0;
      return this.mtt.get(e.mttBase + page);
    }
    // A shift, not `**`, on the per-packet path (firmware admits no shift above MAX_PAGE_SHIFT).
    const pageSize = shift <= MAX_PAGE_SHIFT ? 1 << shift : 2 ** shift;
    const base = Math.floor(e.start / pageSize) * pageSize;
    const rel = va - base;
    const page = Math.floor(rel / pageSize);
    if (page >= e.mttCount) return 0;
    const first = this.mtt.get(e.mttBase + page);
    if (first === 0) return 0;
    return first + Math.floor((rel - page * pageSize) / PAGE_SIZE);
  }

  /**
   * Copy `len` bytes at `va` of region `e` into `out[outOff..]`. False if a
   * page is not RAM (the caller fails the access; nothing partial is used).
   */
  gather(e: MptEntry, va: number, len: number, out: Uint8Array, outOff: number): boolean {
    let done = 0;
    while (done < len) {
      const a = va + done;
      const f = this.frameBytes(e, a, false);
      if (f === undefined) return false;
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, len - done);
      if (n <= SMALL_GATHER) {
        // A WQE, an atomic operand: byte by byte costs less than the view `set` needs.
        const d = outOff + done;
        for (let i = 0; i < n; i++) out[d + i] = f[off + i];
      } else out.set(f.subarray(off, off + n), outOff + done);
      done += n;
    }
    return true;
  }

  /**
   * Write `data` at `va` of region `e`. Translates every page first, so a
   * failing page leaves memory untouched (no partial write); false then.
   * The frames are taken with `frameForWrite`: a DMA write is a write, which
   * a hypervisor tracking dirty pages for live migration must see.
   */
  scatter(e: MptEntry, va: number, data: Uint8Array): boolean {
    const len = data.length;
    const off0 = va % PAGE_SIZE;
    if (off0 + len <= PAGE_SIZE) {
      // Within one page (every packet of an MTU up to 4 KiB that starts page-aligned).
      if (len === 0) return true;
      const f = this.frameBytes(e, va, true);
      if (f === undefined) return false;
      f.set(data, off0);
      return true;
    }
    // Two passes: a write that cannot complete must write nothing (IBTA §10.6.3: fail closed).
    let frames: number[] | undefined;
    let single = 0;
    let done = 0;
    while (done < len) {
      const a = va + done;
      const mfn = this.frameOf(e, a);
      if (mfn === 0) return false;
      const n = Math.min(PAGE_SIZE - (a % PAGE_SIZE), len - done);
      if (done === 0) single = mfn;
      else (frames ??= [single]).push(mfn);
      done += n;
    }
    done = 0;
    let i = 0;
    while (done < len) {
      const a = va + done;
      const off = a % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - off, len - done);
      const mfn = frames ? frames[i++] : single;
      this.memory.frameForWrite(mfn).set(n === len ? data : data.subarray(done, done + n), off);
      done += n;
    }
    return true;
  }
}

/**
 * Translation page sizes SW2HW_MPT accepts: 4 KiB (`pageShift` 12) to
 * 1 GiB (30); a larger page must be machine-contiguous.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_PAGE_SHIFT, MIN_PAGE_SHIFT } from "./mpt.ts";
 * assert.deepEqual([2 ** MIN_PAGE_SHIFT, 2 ** MAX_PAGE_SHIFT], [4096, 1 << 30]);
 * ```
 */
export const MIN_PAGE_SHIFT = 12;
/** Largest translation page shift. */
export const MAX_PAGE_SHIFT = 30;

/**
 * Pages of `[start, start+length)` at `pageShift` — the MTT entries a region needs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pagesSpanned } from "./mpt.ts";
 * assert.deepEqual([pagesSpanned(4000, 200), pagesSpanned(0, 8192)], [2, 2]);
 * ```
 */
export function pagesSpanned(start: number, length: number, pageShift = PAGE_SHIFT): number {
  if (length <= 0) return 0;
  const ps = 2 ** pageShift;
  return Math.floor((start + length - 1) / ps) - Math.floor(start / ps) + 1;
}
