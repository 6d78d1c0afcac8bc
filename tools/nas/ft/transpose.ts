/**
 * The local halves of FT's global transposes (NPB 3.4 FT/ft.f90
 * `transpose2_local`/`transpose2_finish` for the 1-D layout,
 * `transpose_x_y_local/finish` and `transpose_x_z_local/finish` for the
 * 2-D layout). Each global transpose is: a local reordering so that the
 * block for process p is contiguous, an MPI_Alltoall of equal blocks, and a
 * local reordering of what arrived. Blocking for caches (NPB's
 * `transblock`) changes only the order of the copies, not the result, so it
 * is left out.
 *
 * Arrays are interleaved complex, Fortran order (first index fastest).
 *
 * @module
 */

/**
 * `xout(n2, n1)` = transpose of `xin(n1, n2)` (`transpose2_local`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { transpose2Local } from "./transpose.ts";
 * // xin(2, 3) = [[1,2],[3,4],[5,6]] (column-major, imaginary parts 0)
 * const xin = new Float64Array([1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0]);
 * const out = new Float64Array(12);
 * transpose2Local(2, 3, xin, out);
 * assert.deepEqual([...out].filter((_, i) => i % 2 === 0), [1, 3, 5, 2, 4, 6]);
 * ```
 */
export function transpose2Local(
  n1: number,
  n2: number,
  xin: Float64Array,
  xout: Float64Array,
): void {
  for (let j = 0; j < n2; j++) {
    for (let i = 0; i < n1; i++) {
      const s = 2 * (i + n1 * j), d = 2 * (j + n2 * i);
      xout[d] = xin[s];
      xout[d + 1] = xin[s + 1];
    }
  }
}

/**
 * After the alltoall: `xin(n2, n1/np, 0:np-1)` → `xout(n2·np, n1/np)`
 * (`transpose2_finish`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { transpose2Finish } from "./transpose.ts";
 * // n1 = 2, n2 = 1, np = 2: blocks p = 0, 1 of one element each, one column
 * const out = new Float64Array(4);
 * transpose2Finish(2, 1, 2, new Float64Array([7, 0, 8, 0]), out);
 * assert.deepEqual([...out], [7, 0, 8, 0]);
 * ```
 */
export function transpose2Finish(
  n1: number,
  n2: number,
  np: number,
  xin: Float64Array,
  xout: Float64Array,
): void {
  const cols = n1 / np;
  for (let p = 0; p < np; p++) {
    for (let j = 0; j < cols; j++) {
      const s = 2 * n2 * (j + cols * p), d = 2 * (p * n2 + n2 * np * j);
      xout.set(xin.subarray(s, s + 2 * n2), d);
    }
  }
}

/**
 * `xout(d2, d3, d1)` from `xin(d1, d2, d3)` (`transpose_x_y_local`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { transposeXYLocal } from "./transpose.ts";
 * const xin = new Float64Array([1, 0, 2, 0]); // (2, 1, 1)
 * const out = new Float64Array(4);
 * transposeXYLocal(2, 1, 1, xin, out);
 * assert.deepEqual([...out], [1, 0, 2, 0]);
 * ```
 */
export function transposeXYLocal(
  d1: number,
  d2: number,
  d3: number,
  xin: Float64Array,
  xout: Float64Array,
): void {
  for (let k = 0; k < d3; k++) {
    for (let i = 0; i < d1; i++) {
      for (let j = 0; j < d2; j++) {
        const s = 2 * (i + d1 * (j + d2 * k)), d = 2 * (j + d2 * (k + d3 * i));
        xout[d] = xin[s];
        xout[d + 1] = xin[s + 1];
      }
    }
  }
}

/**
 * After the alltoall of the x-y transpose: `xin(d1/np1, d3, d2, 0:np1-1)`
 * → `xout(d1, d2, d3)` (`transpose_x_y_finish`; dims of the target stage).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { transposeXYFinish } from "./transpose.ts";
 * const out = new Float64Array(4);
 * transposeXYFinish(2, 1, 1, 2, new Float64Array([5, 0, 6, 0]), out);
 * assert.deepEqual([...out], [5, 0, 6, 0]);
 * ```
 */
export function transposeXYFinish(
  d1: number,
  d2: number,
  d3: number,
  np1: number,
  xin: Float64Array,
  xout: Float64Array,
): void {
  const b = d1 / np1;
  for (let p = 0; p < np1; p++) {
    for (let k = 0; k < d3; k++) {
      for (let j = 0; j < d2; j++) {
        for (let i = 0; i < b; i++) {
          const s = 2 * (i + b * (k + d3 * (j + d2 * p)));
          const d = 2 * (i + p * b + d1 * (j + d2 * k));
          xout[d] = xin[s];
          xout[d + 1] = xin[s + 1];
        }
      }
    }
  }
}

/**
 * `xout(d3, d2, d1)` from `xin(d1, d2, d3)` (`transpose_x_z_local`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { transposeXZLocal } from "./transpose.ts";
 * const xin = new Float64Array([1, 0, 2, 0, 3, 0, 4, 0]); // (2, 1, 2)
 * const out = new Float64Array(8);
 * transposeXZLocal(2, 1, 2, xin, out);
 * assert.deepEqual([...out].filter((_, i) => i % 2 === 0), [1, 3, 2, 4]);
 * ```
 */
export function transposeXZLocal(
  d1: number,
  d2: number,
  d3: number,
  xin: Float64Array,
  xout: Float64Array,
): void {
  for (let j = 0; j < d2; j++) {
    for (let k = 0; k < d3; k++) {
      for (let i = 0; i < d1; i++) {
        const s = 2 * (i + d1 * (j + d2 * k)), d = 2 * (k + d3 * (j + d2 * i));
        xout[d] = xin[s];
        xout[d + 1] = xin[s + 1];
      }
    }
  }
}

/**
 * After the alltoall of the x-z transpose: `xin(d1/np2, d2, d3, 0:np2-1)`
 * → `xout(d1, d2, d3)` (`transpose_x_z_finish`; dims of the target stage).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { transposeXZFinish } from "./transpose.ts";
 * const out = new Float64Array(4);
 * transposeXZFinish(2, 1, 1, 2, new Float64Array([5, 0, 6, 0]), out);
 * assert.deepEqual([...out], [5, 0, 6, 0]);
 * ```
 */
export function transposeXZFinish(
  d1: number,
  d2: number,
  d3: number,
  np2: number,
  xin: Float64Array,
  xout: Float64Array,
): void {
  const b = d1 / np2;
  for (let p = 0; p < np2; p++) {
    for (let k = 0; k < d3; k++) {
      for (let j = 0; j < d2; j++) {
        const s = 2 * b * (j + d2 * (k + d3 * p));
        const d = 2 * (p * b + d1 * (j + d2 * k));
        xout.set(xin.subarray(s, s + 2 * b), d);
      }
    }
  }
}
