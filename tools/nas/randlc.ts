/**
 * The NAS Parallel Benchmarks' pseudo-random number generator (NPB 3.x
 * `randlc` / `vranlc`, common/randdp.f): the linear congruential generator
 * x_{k+1} = a · x_k mod 2^46 with multiplier a = 5^13, computed exactly in
 * double precision by splitting operands into 23-bit halves, returning
 * uniform deviates 2^-46 · x_{k+1} in (0, 1). Every kernel's data and its
 * published verification values depend on this exact sequence.
 *
 * @module
 */

const R23 = 2 ** -23;
const R46 = R23 * R23;
const T23 = 2 ** 23;
const T46 = T23 * T23;

/** NPB's multiplier 5^13 (`amult` in EP/IS/CG/FT/MG). */
export const NPB_A = 1220703125.0;

/** NPB's default seed 314159265 (`tran` in CG/MG/EP/IS). */
export const NPB_SEED = 314159265.0;

/**
 * A generator state: the current seed `x` (an integer below 2^46 held in a
 * double), advanced in place as NPB advances its `x` argument.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NPB_A, NPB_SEED, randlc, type RandState } from "./randlc.ts";
 * const s: RandState = { x: NPB_SEED };
 * const r = randlc(s, NPB_A);
 * assert.ok(r > 0 && r < 1);
 * assert.equal(r, s.x * 2 ** -46);
 * ```
 */
export interface RandState {
  /** The seed, an integer 0 < x < 2^46. */
  x: number;
}

/**
 * One step: x ← a·x mod 2^46; returns 2^-46·x (NPB `randlc`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { randlc } from "./randlc.ts";
 * const s = { x: 1 };
 * randlc(s, 5);
 * assert.equal(s.x, 5);
 * const big = { x: 2 ** 45 };
 * randlc(big, 2);
 * assert.equal(big.x, 0); // 2^46 mod 2^46
 * ```
 */
export function randlc(state: RandState, a: number): number {
  let t1 = R23 * a;
  const a1 = Math.floor(t1);
  const a2 = a - T23 * a1;
  const x = state.x;
  t1 = R23 * x;
  const x1 = Math.floor(t1);
  const x2 = x - T23 * x1;
  t1 = a1 * x2 + a2 * x1;
  const t2 = Math.floor(R23 * t1);
  const z = t1 - T23 * t2;
  const t3 = T23 * z + a2 * x2;
  const t4 = Math.floor(R46 * t3);
  state.x = t3 - T46 * t4;
  return R46 * state.x;
}

/**
 * `n` steps into `y[offset..offset+n)` (NPB `vranlc`): the same sequence as
 * `n` calls of {@link randlc}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NPB_A, NPB_SEED, randlc, vranlc } from "./randlc.ts";
 * const y = new Float64Array(3);
 * const s = { x: NPB_SEED };
 * vranlc(3, s, NPB_A, y);
 * const t = { x: NPB_SEED };
 * assert.deepEqual([...y], [randlc(t, NPB_A), randlc(t, NPB_A), randlc(t, NPB_A)]);
 * assert.equal(s.x, t.x);
 * ```
 */
export function vranlc(
  n: number,
  state: RandState,
  a: number,
  y: Float64Array,
  offset = 0,
): void {
  const a1 = Math.floor(R23 * a);
  const a2 = a - T23 * a1;
  let x = state.x;
  for (let i = 0; i < n; i++) {
    const x1 = Math.floor(R23 * x);
    const x2 = x - T23 * x1;
    const t1 = a1 * x2 + a2 * x1;
    const t2 = Math.floor(R23 * t1);
    const z = t1 - T23 * t2;
    const t3 = T23 * z + a2 * x2;
    const t4 = Math.floor(R46 * t3);
    x = t3 - T46 * t4;
    y[offset + i] = R46 * x;
  }
  state.x = x;
}

/**
 * a^n mod 2^46 by repeated squaring with {@link randlc}'s exact arithmetic:
 * the multiplier that jumps a stream `n` steps ahead, which is how NPB
 * kernels give each process its own part of one global sequence.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NPB_A, NPB_SEED, randlc, skipAhead } from "./randlc.ts";
 * const s = { x: NPB_SEED };
 * for (let i = 0; i < 10; i++) randlc(s, NPB_A);
 * const j = { x: NPB_SEED };
 * randlc(j, skipAhead(NPB_A, 10));
 * assert.equal(j.x, s.x);
 * ```
 */
export function skipAhead(a: number, n: number): number {
  let result = 1;
  const base = { x: a };
  let k = n;
  while (k > 0) {
    if (k % 2 === 1) {
      const r = { x: result };
      randlc(r, base.x);
      result = r.x;
    }
    const sq = { x: base.x };
    randlc(sq, base.x);
    base.x = sq.x;
    k = Math.floor(k / 2);
  }
  return result;
}

/**
 * seed · b^k mod 2^46 by NPB's binary method (EP's loop 120, IS's
 * `find_my_seed`): the seed of the part of a stream that starts `k` blocks
 * in, where `b` is the multiplier that jumps one block.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jumpSeed, NPB_A, NPB_SEED, randlc, skipAhead } from "./randlc.ts";
 * const block = skipAhead(NPB_A, 4); // one block = 4 steps
 * const s = { x: NPB_SEED };
 * for (let i = 0; i < 12; i++) randlc(s, NPB_A);
 * assert.equal(jumpSeed(NPB_SEED, block, 3), s.x);
 * ```
 */
export function jumpSeed(seed: number, b: number, k: number): number {
  const t1 = { x: seed };
  const t2 = { x: b };
  let kk = k;
  for (let i = 1; i <= 100; i++) {
    const ik = Math.floor(kk / 2);
    if (2 * ik !== kk) randlc(t1, t2.x);
    if (ik === 0) break;
    randlc(t2, t2.x);
    kk = ik;
  }
  return t1.x;
}
