/**
 * MTT segment allocator: a buddy allocator over the device's MTT table
 * (mthca_buddy), in segments of {@link MTT_SEG_ENTRIES} entries. A region of
 * n pages takes the smallest power-of-two run of segments that holds n
 * entries, so freeing merges buddies back and the table does not fragment
 * under register/deregister churn.
 *
 * @module
 */

/**
 * MTT entries per segment (mthca: 64-byte segments of 8-byte entries).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MTT_SEG_ENTRIES } from "./buddy.ts";
 * assert.equal(MTT_SEG_ENTRIES, 8);
 * ```
 */
export const MTT_SEG_ENTRIES = 8;

/**
 * Buddy allocator over `entries` MTT entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MttBuddy } from "./buddy.ts";
 * const mtt = new MttBuddy(1024);
 * const a = mtt.alloc(20)!; // 20 pages → 4 segments (32 entries)
 * assert.equal(a.base % 32, 0); // a run is aligned to its size
 * assert.equal(a.entries, 32);
 * mtt.free(a);
 * assert.equal(mtt.freeEntries, 1024); // the buddies merged back
 * ```
 */
export class MttBuddy {
  /** Free segment starts per order. */
  #free: Set<number>[] = [];
  readonly maxOrder: number;
  #freeSegs = 0;
  readonly segments: number;

  /** @param entries MTT entries in the table (rounded down to a power-of-two number of segments) */
  constructor(entries: number, reservedEntries = 0) {
    const segs = Math.floor(entries / MTT_SEG_ENTRIES);
    this.maxOrder = Math.max(0, Math.floor(Math.log2(Math.max(1, segs))));
    this.segments = 1 << this.maxOrder;
    for (let o = 0; o <= this.maxOrder; o++) this.#free.push(new Set());
    this.#free[this.maxOrder].add(0);
    this.#freeSegs = this.segments;
    // Reserved entries (firmware's) are taken once and never freed.
    if (reservedEntries > 0) this.alloc(reservedEntries);
  }

  /** Free MTT entries. */
  get freeEntries(): number {
    return this.#freeSegs * MTT_SEG_ENTRIES;
  }

  /** Entries in use. */
  get usedEntries(): number {
    return (this.segments - this.#freeSegs) * MTT_SEG_ENTRIES;
  }

  /**
   * A run of at least `n` entries, aligned to its size; undefined if no run
   * is free.
   */
  alloc(n: number): { base: number; entries: number; order: number } | undefined {
    const segs = Math.max(1, Math.ceil(n / MTT_SEG_ENTRIES));
    const order = Math.ceil(Math.log2(segs));
    let o = order;
    while (o <= this.maxOrder && this.#free[o].size === 0) o++;
    if (o > this.maxOrder) return undefined;
    // Lowest address first keeps allocation deterministic and compact. A loop, not
    // `Math.min(...set)`: a spread passes every free run as an argument, and a table fragmented
    // into more runs than the JS stack holds arguments (about 120 000 under V8's default stack)
    // threw a RangeError, so whether a registration succeeded depended on the runtime's stack size.
    let seg = Infinity;
    for (const s of this.#free[o]) if (s < seg) seg = s;
    this.#free[o].delete(seg);
    while (o > order) {
      o--;
      this.#free[o].add(seg + (1 << o));
    }
    this.#freeSegs -= 1 << order;
    return { base: seg * MTT_SEG_ENTRIES, entries: (1 << order) * MTT_SEG_ENTRIES, order };
  }

  /** Return a run from {@link alloc}. */
  free(run: { base: number; order: number }): void {
    let seg = run.base / MTT_SEG_ENTRIES;
    let o = run.order;
    this.#freeSegs += 1 << o;
    while (o < this.maxOrder) {
      const buddy = seg ^ (1 << o);
      if (!this.#free[o].has(buddy)) break;
      this.#free[o].delete(buddy);
      seg = Math.min(seg, buddy);
      o++;
    }
    this.#free[o].add(seg);
  }
}
