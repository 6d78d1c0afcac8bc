/**
 * Arrays used as FIFOs on the simulator's hot paths, without the
 * allocation V8 does when such an array empties: truncating an array to
 * length 0 (`a.length = 0`, or `shift()` of its last element) frees its
 * backing store, so the next `push` allocates a new one — for a queue that
 * holds one packet at a time, an allocation per packet. `pop()` keeps it.
 *
 * @module
 */

/**
 * `a.shift()`, keeping the array's backing store when it takes the last
 * element (`pop()` then takes the same element).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { takeFirst } from "./queue.ts";
 * const q = [1, 2];
 * assert.deepEqual([takeFirst(q), takeFirst(q), takeFirst(q)], [1, 2, undefined]);
 * assert.equal(q.length, 0);
 * ```
 */
export function takeFirst<T>(a: T[]): T | undefined {
  return a.length === 1 ? a.pop() : a.shift();
}

/**
 * Empty `a` and keep its backing store (`a.length = 0` frees it, and an
 * array refilled at every event would allocate a new one each time).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyArray } from "./queue.ts";
 * const ports = [3, 7];
 * emptyArray(ports);
 * assert.deepEqual(ports, []);
 * ```
 */
export function emptyArray<T>(a: T[]): void {
  while (a.length > 0) a.pop();
}
