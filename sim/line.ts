/**
 * Lines of pending work on the per-packet path (packets on their way, DMA
 * transfers, buffer releases, packet slots), kept as `[head, tail)` over
 * plain arrays, one array per field of an entry. An array emptied by
 * `length = 0` or `shift` gives up its storage and the next `push` allocates
 * again, once per packet on a stream; a line keeps its arrays, and moves its
 * few live entries back to the front now and then, so that a line that is
 * never empty (a steady stream always has a packet on its way) does not grow
 * without bound.
 *
 * @module
 */

/**
 * Entries a line consumes before it moves its live ones back to the front
 * (once the consumed entries also outnumber the live ones).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LINE_COMPACT_AT } from "./line.ts";
 * assert.ok(LINE_COMPACT_AT >= 64); // rare enough to cost nothing per entry
 * ```
 */
export const LINE_COMPACT_AT = 1024;

/**
 * The indices of a line over the caller's arrays: {@link add} gives the
 * slot of a new entry (the caller writes its fields there), the caller reads
 * the entry at {@link head} and then {@link drop}s it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Line } from "./line.ts";
 * const names: string[] = [], sizes: number[] = [];
 * const line = new Line([names], [sizes]);
 * for (const [n, s] of [["a", 1], ["b", 2]] as const) {
 *   const i = line.add();
 *   names[i] = n;
 *   sizes[i] = s;
 * }
 * assert.deepEqual([names[line.head], sizes[line.head]], ["a", 1]);
 * line.drop();
 * assert.deepEqual([names[line.head], line.length], ["b", 1]);
 * line.drop();
 * assert.deepEqual([line.head, line.tail, names[0]], [0, 0, undefined]); // nothing kept alive
 * ```
 */
export class Line {
  /** Index of the oldest entry (equal to {@link tail} when empty). */
  head = 0;
  /** One past the newest entry. */
  tail = 0;

  /**
   * @param refs arrays of fields that hold objects, at most three, fixed when the line is made (a dropped entry's are cleared)
   * @param nums arrays of fields that hold numbers
   */
  constructor(readonly refs: readonly unknown[][], readonly nums: number[][] = []) {
    if (refs.length > 3) throw new RangeError(`Line: ${refs.length} object fields (at most 3)`);
    this.#r0 = refs[0];
    this.#r1 = refs[1];
    this.#r2 = refs[2];
  }

  // The object fields as fields of their own, not a loop over `refs`: `drop` runs
  // for every packet at every stage, and a loop's store sees every line's arrays.
  #r0: unknown[] | undefined;
  #r1: unknown[] | undefined;
  #r2: unknown[] | undefined;

  /** Entries waiting. */
  get length(): number {
    return this.tail - this.head;
  }

  /** The slot of a new entry at the tail; write its fields there. */
  add(): number {
    return this.tail++;
  }

  /** Drop the entry at the head (read its fields first). */
  drop(): void {
    const h = this.head;
    const r0 = this.#r0, r1 = this.#r1, r2 = this.#r2;
    if (r0 !== undefined) r0[h] = undefined;
    if (r1 !== undefined) r1[h] = undefined;
    if (r2 !== undefined) r2[h] = undefined;
    const next = h + 1;
    const tail = this.tail;
    if (next === tail) {
      this.head = this.tail = 0;
    } else if (next < LINE_COMPACT_AT || 2 * next <= tail) {
      // Moved only when the consumed part outweighs the live one: a long
      // backlog is then copied once per as many entries as it holds.
      this.head = next;
    } else {
      for (const a of this.refs) a.copyWithin(0, next, tail).fill(undefined, tail - next, tail);
      for (const a of this.nums) a.copyWithin(0, next, tail);
      this.head = 0;
      this.tail = tail - next;
    }
  }
}
