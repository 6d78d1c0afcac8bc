/**
 * Index allocators of the HCA driver (mthca_alloc style): PD numbers, QPNs,
 * CQNs, EQNs, SRQNs, UAR indices, AH indices, MPT indices. Allocation is
 * next-fit from the last index handed out, so a freed number is not reused
 * at once — a late doorbell or a stale handle for a destroyed QP then names
 * nothing instead of a new, unrelated QP (mthca rotates QPNs for the same
 * reason).
 *
 * @module
 */
import { keyToMptIndex, MPT_KEY_TAG_MASK, mptKey, nextMptKeyTag } from "../../hca/commands.ts";
import type { Prng } from "../../sim/prng.ts";

/**
 * Slots an allocator starts with. Its tables grow as indices are handed out
 * (next-fit and lowest-first both hand out low indices first), so a device
 * whose limits run to 2^24 objects (today's HCAs) does not pay for tables of
 * that size on every host it boots, and a process building many clusters
 * does not make its collector move them.
 */
const INITIAL_SLOTS = 1024;

/**
 * `table` grown to hold index `need - 1` (doubling, at most `max` slots), new
 * slots set to `fill`.
 */
function grown<T extends Uint8Array | Int16Array>(
  table: T,
  need: number,
  max: number,
  fill: number,
): T {
  let n = Math.max(table.length, 1);
  while (n < need) n *= 2;
  const out = new (table.constructor as { new (n: number): T })(Math.min(n, max));
  out.set(table);
  if (fill !== 0) out.fill(fill, table.length);
  return out;
}

/**
 * Next-fit allocator over [reserved, max).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IndexAllocator } from "./alloc.ts";
 * const qpn = new IndexAllocator("qpn", 8, 2); // QP0/QP1 reserved
 * const a = qpn.alloc()!, b = qpn.alloc();
 * qpn.release(a);
 * assert.deepEqual([a, b, qpn.alloc()], [2, 3, 4]); // 2 is not reused at once
 * ```
 */
export class IndexAllocator {
  #used: Uint8Array;
  #next: number;
  #inUse = 0;

  #lowest: boolean;

  /**
   * @param name what it allocates (in messages)
   * @param max one past the largest index
   * @param reserved indices below this are never handed out
   * @param policy "next-fit" (default) or "lowest": always the lowest free
   *   index, for tables whose entries carry their own reuse tag (MPT keys)
   */
  constructor(
    readonly name: string,
    readonly max: number,
    readonly reserved = 0,
    policy: "next-fit" | "lowest" = "next-fit",
  ) {
    this.#used = new Uint8Array(Math.max(0, Math.min(max, INITIAL_SLOTS)));
    this.#next = reserved;
    this.#lowest = policy === "lowest";
  }

  /** Indices handed out now. */
  get inUse(): number {
    return this.#inUse;
  }

  /** Indices still available. */
  get free(): number {
    return this.max - this.reserved - this.#inUse;
  }

  /** Take an index; undefined if none is left. */
  alloc(): number | undefined {
    const span = this.max - this.reserved;
    if (span <= 0 || this.#inUse >= span) return undefined;
    let i = this.#next;
    for (let n = 0; n < span; n++) {
      if (i >= this.max) i = this.reserved;
      if (i >= this.#used.length) this.#used = grown(this.#used, i + 1, this.max, 0);
      if (!this.#used[i]) {
        this.#used[i] = 1;
        this.#inUse++;
        // "lowest": every index below i is taken, so the search resumes at i.
        this.#next = this.#lowest ? i : i + 1;
        return i;
      }
      i++;
    }
    return undefined;
  }

  /** Return an index; freeing one not in use throws (a driver bug). */
  release(index: number): void {
    if (!this.isUsed(index)) {
      throw new Error(`${this.name}: free of index ${index} that is not allocated`);
    }
    this.#used[index] = 0;
    this.#inUse--;
    if (this.#lowest && index < this.#next) this.#next = index;
  }

  /** True if `index` is handed out. */
  isUsed(index: number): boolean {
    return Number.isInteger(index) && index >= 0 && index < this.#used.length &&
      this.#used[index] === 1;
  }
}

/**
 * MPT keys: index allocator plus a tag per index that changes every time
 * the index is reused, so a key of a deregistered region stops working even
 * when its MPT entry is used again (the device's key layout, `mptKey` in
 * hca/commands.ts). Indices are reused lowest-first: the tag, not the
 * allocation order, is what protects against stale keys.
 *
 * How the tag changes: with a generator, each key's tag is drawn at random
 * among the 255 tags its index did not have last time, so a key cannot be
 * guessed from the order of registrations (ReDMArk, USENIX Security 2021:
 * an rkey an attacker can predict is an rkey it can use); a stale key then
 * fails at the next reuse of its index for sure and at each later one with
 * probability 255/256. Without one, the tag advances by one per reuse, as
 * mthca rotates it: a stale key fails for the next 255 reuses, and every
 * key is predictable.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { KeyAllocator } from "./alloc.ts";
 * import { keyToMptIndex, mptKey } from "../../hca/commands.ts";
 * import { Prng } from "../../sim/prng.ts";
 * const keys = new KeyAllocator(4, 1);
 * const k1 = keys.alloc()!;
 * keys.release(k1);
 * const k2 = keys.alloc()!; // index 1 again, with the next tag
 * assert.equal(keyToMptIndex(k2), keyToMptIndex(k1));
 * assert.deepEqual([k1, k2], [mptKey(1, 0), mptKey(1, 1)]); // predictable
 * const random = new KeyAllocator(4, 1, new Prng(7));
 * const r1 = random.alloc()!;
 * random.release(r1);
 * const r2 = random.alloc()!;
 * assert.equal(keyToMptIndex(r2), keyToMptIndex(r1));
 * assert.notEqual(r2, r1); // never the tag the index had last time
 * ```
 */
export class KeyAllocator {
  #index: IndexAllocator;
  /** Per index: the tag of its last key, or -1 before its first. */
  #tag: Int16Array;
  #max: number;
  #rng: Prng | undefined;

  /**
   * @param max MPT entries
   * @param reserved entries below this are never used (key 0 means "none")
   * @param rng draws the tags (unpredictable keys); without it tags count up
   */
  constructor(max: number, reserved = 1, rng?: Prng) {
    // Lowest-free reuse is safe here: the tag makes the old key invalid.
    this.#index = new IndexAllocator("mpt", max, reserved, "lowest");
    this.#tag = new Int16Array(Math.max(0, Math.min(max, INITIAL_SLOTS))).fill(-1);
    this.#max = max;
    this.#rng = rng;
  }

  /** MPT entries in use. */
  get inUse(): number {
    return this.#index.inUse;
  }

  /** MPT entries available. */
  get free(): number {
    return this.#index.free;
  }

  /** A fresh key (its index is `keyToMptIndex(key)`), or undefined when the table is full. */
  alloc(): number | undefined {
    const i = this.#index.alloc();
    if (i === undefined) return undefined;
    if (i >= this.#tag.length) this.#tag = grown(this.#tag, i + 1, this.#max, -1);
    const last = this.#tag[i];
    let tag: number;
    if (this.#rng) {
      // Any of the 255 tags this index did not just have (any of 256 the first time).
      tag = last < 0
        ? this.#rng.int(MPT_KEY_TAG_MASK + 1)
        : (last + 1 + this.#rng.int(MPT_KEY_TAG_MASK)) & MPT_KEY_TAG_MASK;
    } else {
      tag = last < 0 ? 0 : nextMptKeyTag(last);
    }
    this.#tag[i] = tag;
    return mptKey(i, tag);
  }

  /** Return the MPT entry of `key`. */
  release(key: number): void {
    this.#index.release(keyToMptIndex(key));
  }
}
