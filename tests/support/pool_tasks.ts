/**
 * Tasks for `tests/tools_pool_test.ts`: small functions whose wall-clock
 * timing (not their results) is chosen so that a parallel run finishes them
 * in another order than the task order.
 *
 * @module
 */

/** Resolve with `value` after `ms` milliseconds of wall time. */
export async function after(ms: number, value: string): Promise<string> {
  await new Promise((r) => setTimeout(r, ms));
  return value;
}

/** Throw a `RangeError` with `message` after `ms` milliseconds of wall time. */
export async function failAfter(ms: number, message: string): Promise<never> {
  await new Promise((r) => setTimeout(r, ms));
  throw new RangeError(message);
}

/** Add `tag` to `seen.tags` and return how many tags it then holds. */
export function tag(seen: { tags: string[] }, tag: string): number {
  seen.tags.push(tag);
  return seen.tags.length;
}

/** A count with a getter: what a worker's reply keeps of it is its fields. */
export class Count {
  /** @param n the count */
  constructor(readonly n: number) {}
  /** Twice the count (on the prototype: not data). */
  get twice(): number {
    return 2 * this.n;
  }
}

/** A {@link Count} of `n`. */
export function count(n: number): Count {
  return new Count(n);
}
