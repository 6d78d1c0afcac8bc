/**
 * The 5 × 5 block operations of BT's line solves (NPB 3.4
 * BT/solve_subs.f90): matvec_sub, matmul_sub, binvcrhs, binvrhs. A block
 * is 25 doubles of an array from an offset, entry (m, n) (row m, column
 * n, 0-based) at `o + m + 5·n` as Fortran stores `lhs(5, 5)`; a vector is
 * 5 doubles from its offset. The sums run in NPB's order (left to right),
 * and the inversions are NPB's Gauss–Jordan elimination without pivoting.
 *
 * @module
 */

/**
 * matvec_sub: b ← b − A·a.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matvecSub } from "./solve_subs.ts";
 * const A = new Float64Array(25); A[0] = 2; A[1 + 5] = 3; // diag(2, 3, 0, 0, 0)
 * const b = new Float64Array([10, 10, 10, 10, 10]);
 * matvecSub(A, 0, new Float64Array([1, 1, 1, 1, 1]), 0, b, 0);
 * assert.deepEqual([...b], [8, 7, 10, 10, 10]);
 * ```
 */
export function matvecSub(
  A: Float64Array,
  ao: number,
  a: Float64Array,
  av: number,
  b: Float64Array,
  bv: number,
): void {
  const a0 = a[av], a1 = a[av + 1], a2 = a[av + 2], a3 = a[av + 3], a4 = a[av + 4];
  for (let m = 0; m < 5; m++) {
    const o = ao + m;
    b[bv + m] = b[bv + m] - A[o] * a0 - A[o + 5] * a1 - A[o + 10] * a2 - A[o + 15] * a3 -
      A[o + 20] * a4;
  }
}

/**
 * matmul_sub: C ← C − A·B.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matmulSub } from "./solve_subs.ts";
 * const I = new Float64Array(25); for (let m = 0; m < 5; m++) I[m * 6] = 1;
 * const C = new Float64Array(25).fill(1);
 * const B = new Float64Array(25).map((_, i) => i);
 * matmulSub(I, 0, B, 0, C, 0);
 * assert.deepEqual([...C], [...B].map((x) => 1 - x));
 * ```
 */
export function matmulSub(
  A: Float64Array,
  ao: number,
  B: Float64Array,
  bo: number,
  C: Float64Array,
  co: number,
): void {
  for (let n = 0; n < 5; n++) {
    const b = bo + 5 * n;
    const b0 = B[b], b1 = B[b + 1], b2 = B[b + 2], b3 = B[b + 3], b4 = B[b + 4];
    for (let m = 0; m < 5; m++) {
      const o = ao + m, c = co + m + 5 * n;
      C[c] = C[c] - A[o] * b0 - A[o + 5] * b1 - A[o + 10] * b2 - A[o + 15] * b3 - A[o + 20] * b4;
    }
  }
}

/**
 * binvcrhs: with L the block at `lo` (destroyed), C ← L⁻¹·C and
 * r ← L⁻¹·r, by NPB's elimination (pivot p: scale row p by 1/L(p, p), then
 * subtract L(q, p) times it from every other row q in order).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { binvcrhs } from "./solve_subs.ts";
 * const L = new Float64Array(25); for (let m = 0; m < 5; m++) L[m * 6] = 2;
 * L[0 + 5 * 1] = 1; // row 0: [2, 1, 0, 0, 0]
 * const C = new Float64Array(25); for (let m = 0; m < 5; m++) C[m * 6] = 1;
 * const r = new Float64Array([3, 2, 2, 2, 2]);
 * binvcrhs(L, 0, C, 0, r, 0);
 * assert.deepEqual([...r], [1, 1, 1, 1, 1]);
 * assert.deepEqual([C[0], C[5], C[6]], [0.5, -0.25, 0.5]);
 * ```
 */
export function binvcrhs(
  L: Float64Array,
  lo: number,
  C: Float64Array | null,
  co: number,
  r: Float64Array,
  ro: number,
): void {
  for (let p = 0; p < 5; p++) {
    const pivot = 1.00 / L[lo + p + 5 * p];
    for (let n = p + 1; n < 5; n++) L[lo + p + 5 * n] = L[lo + p + 5 * n] * pivot;
    if (C) { for (let n = 0; n < 5; n++) C[co + p + 5 * n] = C[co + p + 5 * n] * pivot; }
    r[ro + p] = r[ro + p] * pivot;
    for (let q = 0; q < 5; q++) {
      if (q === p) continue;
      const coeff = L[lo + q + 5 * p];
      for (let n = p + 1; n < 5; n++) {
        L[lo + q + 5 * n] = L[lo + q + 5 * n] - coeff * L[lo + p + 5 * n];
      }
      if (C) {
        for (let n = 0; n < 5; n++) {
          C[co + q + 5 * n] = C[co + q + 5 * n] - coeff * C[co + p + 5 * n];
        }
      }
      r[ro + q] = r[ro + q] - coeff * r[ro + p];
    }
  }
}

/**
 * binvrhs: r ← L⁻¹·r (L destroyed), binvcrhs without C.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { binvrhs } from "./solve_subs.ts";
 * const L = new Float64Array(25); for (let m = 0; m < 5; m++) L[m * 6] = 4;
 * const r = new Float64Array([4, 8, 12, 16, 20]);
 * binvrhs(L, 0, r, 0);
 * assert.deepEqual([...r], [1, 2, 3, 4, 5]);
 * ```
 */
export function binvrhs(L: Float64Array, lo: number, r: Float64Array, ro: number): void {
  binvcrhs(L, lo, null, 0, r, ro);
}
