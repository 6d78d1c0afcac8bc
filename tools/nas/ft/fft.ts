/**
 * FT's one-dimensional FFTs (NPB 3.4 FT/ft.f90 `fft_init`, `cfftz`,
 * `fftz2`, `cffts1/2/3`): Swarztrauber's variant of the Stockham
 * autosort FFT, applied to a block of `fftblock` lines at once so that the
 * innermost loop runs across lines, with the roots of unity precomputed
 * in the order each stage reads them. Same algorithm, same twiddle table,
 * same operation order as NPB, so the checksums agree with NPB's to
 * rounding.
 *
 * Complex arrays are interleaved Float64Arrays (re, im), laid out as
 * Fortran's `double complex x(d1, d2, d3)`: element (i, j, k), 0-based, at
 * 2·(i + d1·(j + d2·k)).
 *
 * @module
 */

/**
 * The roots-of-unity table for transforms up to length `n` (`fft_init`):
 * entry `ln + 1 + i` (1-based, ln = 1, 2, 4, …, n/2) holds
 * exp(iπ·i/ln), interleaved; entry 1's real part holds log2(n).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fftInit } from "./fft.ts";
 * const u = fftInit(8);
 * assert.equal(u[2], 3); // log2(8)
 * // ln = 2: entries 3 and 4 are exp(0) and exp(iπ/2)
 * assert.equal(u[6], 1);
 * assert.ok(Math.abs(u[8]) < 1e-15 && u[9] === 1);
 * ```
 */
export function fftInit(n: number): Float64Array {
  const m = ilog2(n);
  const u = new Float64Array(2 * (n + 1));
  u[2] = m;
  let ku = 2, ln = 1;
  for (let j = 1; j <= m; j++) {
    const t = Math.PI / ln;
    for (let i = 0; i < ln; i++) {
      const ti = i * t;
      u[2 * (i + ku)] = Math.cos(ti);
      u[2 * (i + ku) + 1] = Math.sin(ti);
    }
    ku += ln;
    ln *= 2;
  }
  return u;
}

/**
 * ⌈log2 n⌉ (ft.f90 `ilog2`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ilog2 } from "./fft.ts";
 * assert.deepEqual([1, 2, 64, 65].map(ilog2), [0, 1, 6, 7]);
 * ```
 */
export function ilog2(n: number): number {
  let lg = 0;
  while (2 ** lg < n) lg++;
  return lg;
}

/**
 * One Stockham stage (`fftz2`): stage `l` of `m` for `nb` lines of length
 * `n`, reading `x` and writing `y` (both `(nb, n)`, line index fastest).
 */
function fftz2(
  is: number,
  l: number,
  m: number,
  n: number,
  nb: number,
  u: Float64Array,
  x: Float64Array,
  y: Float64Array,
): void {
  const n1 = n / 2;
  const lk = 1 << (l - 1), li = 1 << (m - l), lj = 2 * lk, ku = li + 1;
  for (let i = 0; i < li; i++) {
    const i11 = i * lk, i12 = i11 + n1, i21 = i * lj, i22 = i21 + lk;
    const ur = u[2 * (ku + i)];
    const ui = is >= 1 ? u[2 * (ku + i) + 1] : -u[2 * (ku + i) + 1];
    for (let k = 0; k < lk; k++) {
      let a = 2 * nb * (i11 + k), b = 2 * nb * (i12 + k);
      let c = 2 * nb * (i21 + k), d = 2 * nb * (i22 + k);
      for (let j = 0; j < nb; j++, a += 2, b += 2, c += 2, d += 2) {
        const x11r = x[a], x11i = x[a + 1], x21r = x[b], x21i = x[b + 1];
        y[c] = x11r + x21r;
        y[c + 1] = x11i + x21i;
        const dr = x11r - x21r, di = x11i - x21i;
        y[d] = ur * dr - ui * di;
        y[d + 1] = ur * di + ui * dr;
      }
    }
  }
}

/**
 * `nb` complex FFTs of length n = 2^m on the block `x` (`(nb, n)`, line
 * index fastest), in place; `y` is scratch of the same size (`cfftz`).
 * `is` = 1 forward (exp(+iθ)), −1 inverse; neither scales.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cfftz, fftInit } from "./fft.ts";
 * const u = fftInit(4);
 * const x = new Float64Array([1, 0, 0, 0, 0, 0, 0, 0]); // one line: δ
 * cfftz(1, 2, 4, x, new Float64Array(8), 1, u);
 * assert.deepEqual([...x], [1, 0, 1, 0, 1, 0, 1, 0]);
 * ```
 */
export function cfftz(
  is: number,
  m: number,
  n: number,
  x: Float64Array,
  y: Float64Array,
  nb: number,
  u: Float64Array,
): void {
  if ((is !== 1 && is !== -1) || m < 1 || m > u[2]) {
    throw new Error(`cfftz: direction ${is} or size 2^${m} outside the table (2^${u[2]})`);
  }
  for (let l = 1; l <= m; l += 2) {
    fftz2(is, l, m, n, nb, u, x, y);
    if (l === m) {
      x.set(y.subarray(0, 2 * nb * n));
      return;
    }
    fftz2(is, l + 1, m, n, nb, u, y, x);
  }
}

/**
 * Scratch for {@link cffts1} and friends: two blocks of `fftblock` lines of
 * the longest length.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fftScratch } from "./fft.ts";
 * const s = fftScratch(16, 64);
 * assert.equal(s.x.length, 2 * 16 * 64);
 * ```
 */
export function fftScratch(fftblock: number, maxdim: number): { x: Float64Array; y: Float64Array } {
  return {
    x: new Float64Array(2 * fftblock * maxdim),
    y: new Float64Array(2 * fftblock * maxdim),
  };
}

/** Arguments shared by the three line-FFT sweeps. */
interface Sweep {
  is: number;
  d: readonly [number, number, number];
  x: Float64Array;
  xout: Float64Array;
  fftblock: number;
  u: Float64Array;
  scratch: { x: Float64Array; y: Float64Array };
}

/**
 * FFTs along the first dimension of `x(d1, d2, d3)` into `xout` (may be
 * `x`), `fftblock` lines of the second dimension at a time (`cffts1`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cffts1, fftInit, fftScratch } from "./fft.ts";
 * const x = new Float64Array(2 * 4 * 2);
 * x[0] = 1; // x(0, 0) = 1, x(0, 1) = 0
 * cffts1(1, [4, 2, 1], x, x, 2, fftInit(4), fftScratch(2, 4));
 * assert.deepEqual([...x.subarray(0, 8)], [1, 0, 1, 0, 1, 0, 1, 0]);
 * assert.ok(x.subarray(8).every((v) => v === 0));
 * ```
 */
export function cffts1(
  is: number,
  d: readonly [number, number, number],
  x: Float64Array,
  xout: Float64Array,
  fftblock: number,
  u: Float64Array,
  scratch: { x: Float64Array; y: Float64Array },
): void {
  sweep1({ is, d, x, xout, fftblock, u, scratch });
}

function sweep1({ is, d, x, xout, fftblock: fb, u, scratch }: Sweep): void {
  const [d1, d2, d3] = d, logd1 = ilog2(d1), y = scratch.x;
  for (let k = 0; k < d3; k++) {
    for (let jj = 0; jj <= d2 - fb; jj += fb) {
      for (let j = 0; j < fb; j++) {
        const src = 2 * d1 * (j + jj + d2 * k);
        for (let i = 0; i < d1; i++) {
          y[2 * (j + fb * i)] = x[src + 2 * i];
          y[2 * (j + fb * i) + 1] = x[src + 2 * i + 1];
        }
      }
      cfftz(is, logd1, d1, y, scratch.y, fb, u);
      for (let j = 0; j < fb; j++) {
        const dst = 2 * d1 * (j + jj + d2 * k);
        for (let i = 0; i < d1; i++) {
          xout[dst + 2 * i] = y[2 * (j + fb * i)];
          xout[dst + 2 * i + 1] = y[2 * (j + fb * i) + 1];
        }
      }
    }
  }
}

/**
 * FFTs along the second dimension of `x(d1, d2, d3)`, `fftblock` lines of
 * the first dimension at a time (`cffts2`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cffts2, fftInit, fftScratch } from "./fft.ts";
 * const x = new Float64Array(2 * 1 * 4);
 * x[0] = 1;
 * cffts2(-1, [1, 4, 1], x, x, 1, fftInit(4), fftScratch(1, 4));
 * assert.deepEqual([...x], [1, 0, 1, 0, 1, 0, 1, 0]);
 * ```
 */
export function cffts2(
  is: number,
  d: readonly [number, number, number],
  x: Float64Array,
  xout: Float64Array,
  fftblock: number,
  u: Float64Array,
  scratch: { x: Float64Array; y: Float64Array },
): void {
  sweepOuter({ is, d, x, xout, fftblock, u, scratch }, 1);
}

/**
 * FFTs along the third dimension of `x(d1, d2, d3)`, `fftblock` lines of
 * the first dimension at a time (`cffts3`; used by the 0-D layout).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cffts3, fftInit, fftScratch } from "./fft.ts";
 * const x = new Float64Array(2 * 4);
 * x[0] = 2;
 * cffts3(1, [1, 1, 4], x, x, 1, fftInit(4), fftScratch(1, 4));
 * assert.deepEqual([...x], [2, 0, 2, 0, 2, 0, 2, 0]);
 * ```
 */
export function cffts3(
  is: number,
  d: readonly [number, number, number],
  x: Float64Array,
  xout: Float64Array,
  fftblock: number,
  u: Float64Array,
  scratch: { x: Float64Array; y: Float64Array },
): void {
  sweepOuter({ is, d, x, xout, fftblock, u, scratch }, 2);
}

/** Lines along dimension `axis` (1: second, 2: third), blocked over the first. */
function sweepOuter({ is, d, x, xout, fftblock: fb, u, scratch }: Sweep, axis: 1 | 2): void {
  const [d1, d2, d3] = d;
  const n = axis === 1 ? d2 : d3, outer = axis === 1 ? d3 : d2;
  const logn = ilog2(n), y = scratch.x;
  // Element (i, j, k) at i + d1·(j + d2·k): the line runs over j (axis 1) or k (axis 2).
  const lineStride = axis === 1 ? d1 : d1 * d2, outerStride = axis === 1 ? d1 * d2 : d1;
  for (let o = 0; o < outer; o++) {
    for (let ii = 0; ii <= d1 - fb; ii += fb) {
      for (let t = 0; t < n; t++) {
        const src = 2 * (ii + lineStride * t + outerStride * o);
        for (let i = 0; i < fb; i++) {
          y[2 * (i + fb * t)] = x[src + 2 * i];
          y[2 * (i + fb * t) + 1] = x[src + 2 * i + 1];
        }
      }
      cfftz(is, logn, n, y, scratch.y, fb, u);
      for (let t = 0; t < n; t++) {
        const dst = 2 * (ii + lineStride * t + outerStride * o);
        for (let i = 0; i < fb; i++) {
          xout[dst + 2 * i] = y[2 * (i + fb * t)];
          xout[dst + 2 * i + 1] = y[2 * (i + fb * t) + 1];
        }
      }
    }
  }
}
