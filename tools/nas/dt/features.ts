/**
 * DT's data and arithmetic (NPB 3.4-MPI `DT/dt.c`): the sources' feature
 * arrays (`GetFeatureNum`, `RandomFeatures`), what a comparator does with
 * each array it receives (`Resample`, `WindowFilter`, the end of
 * `CombineStreams`), and a sink's checksum (`CheckVal`, `Reduce`,
 * `ReduceStreams`), with C's integer arithmetic where NPB's results depend
 * on it: 32-bit products that wrap in `ipowMod`, truncating casts and
 * integer divisions. Arrays hold 4 doubles per sample (NPB's `fielddim`).
 *
 * The work each step is charged (`DT_WORK`) depends on array lengths only,
 * which a model run knows without the data.
 *
 * @module
 */
import { randlc } from "../randlc.ts";
import type { DtParams } from "./graph.ts";

/** Doubles per sample (dt.c's `fielddim`). */
export const FIELD_DIM = 4;

/**
 * C's `(int)x` of a double on x86-64 (`cvttsd2si`): truncation toward zero;
 * out of range it gives INT_MIN.
 */
function cInt(x: number): number {
  const t = Math.trunc(x);
  return t >= -2147483648 && t <= 2147483647 ? t : -2147483648;
}

/**
 * dt.c's `ipowMod`: a^n mod md by repeated squaring in C `int`s, whose
 * products wrap at 32 bits (the first squaring of a large `a` does, for
 * every source but the first) and whose `%` keeps the dividend's sign.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ipowMod } from "./features.ts";
 * assert.equal(ipowMod(2, 10, 1000), 24);
 * assert.equal(ipowMod(5, 0, 7), 1);
 * // 100000² wraps in 32 bits: (1410065408 % 7) = 3, not 10^10 mod 7 = 4.
 * assert.equal(ipowMod(100000, 2, 7), 3);
 * ```
 */
export function ipowMod(a: number, n: number, md: number): number {
  let q = a, r = 1, k = n;
  if (k < 0) k = -k; // NPB: "temp fix"
  if (md <= 0) return 1;
  if (k === 0) return 1;
  while (k > 1) {
    if (k % 2 === 0) {
      q = Math.imul(q, q) % md;
      k /= 2;
    } else {
      r = Math.imul(r, q) % md;
      k -= 1;
    }
  }
  return Math.imul(r, q) % md;
}

/**
 * Samples in source `id`'s array (dt.c's `GetFeatureNum`): NUM_SAMPLES −
 * STD_DEVIATION + |ipowMod(⌊1/randlc⌋ · 'S', 2·id + 1, 2·STD_DEVIATION)|,
 * the deviate one `randlc` step from NPB's seed 314159265 with multiplier
 * 2·id + 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { featureSamples } from "./features.ts";
 * import { DT_PARAMS } from "./graph.ts";
 * const p = DT_PARAMS.S!;
 * const n = featureSamples(0, p);
 * assert.ok(n >= p.numSamples - p.stdDeviation && n < p.numSamples + p.stdDeviation);
 * ```
 */
export function featureSamples(id: number, p: DtParams): number {
  const tran = { x: 314159265.0 };
  const denom = randlc(tran, 2 * id + 1);
  // (int)(1/denom) * (int)'S' in C ints, then the power mod 2·stdev.
  let rtfs = ipowMod(Math.imul(cInt(1 / denom), 83), 2 * id + 1, 2 * p.stdDeviation);
  if (rtfs < 0) rtfs = -rtfs;
  return p.numSamples - p.stdDeviation + rtfs;
}

/**
 * Source `id`'s feature array (dt.c's `RandomFeatures`): `len` =
 * featureSamples · 4 doubles, the four coordinates of each sample the
 * successive powers of 2, 2, 2, 5 modulo 421, 419, 1427, 3527, started at
 * the power (len · (id + 1)) mod 3141592.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FIELD_DIM, featureSamples, randomFeatures } from "./features.ts";
 * import { DT_PARAMS } from "./graph.ts";
 * const f = randomFeatures(1, DT_PARAMS.S!);
 * assert.equal(f.length, featureSamples(1, DT_PARAMS.S!) * FIELD_DIM);
 * assert.ok(f.every((v) => Number.isInteger(v) && v >= 0 && v < 3527));
 * ```
 */
export function randomFeatures(id: number, p: DtParams): Float64Array {
  const len = featureSamples(id, p) * FIELD_DIM;
  const feat = new Float64Array(len);
  const g = [2, 2, 2, 5], m = [421, 419, 1427, 3527];
  const expon = Math.imul(len, id + 1) % 3141592;
  const seed = g.map((gi, k) => ipowMod(gi, expon, m[k]));
  for (let i = 0; i < len; i += FIELD_DIM) {
    for (let k = 0; k < FIELD_DIM; k++) {
      seed[k] = (seed[k] * g[k]) % m[k];
      feat[i + k] = seed[k];
    }
  }
  return feat;
}

/**
 * dt.c's `Resample`: `a` stretched to `blen` doubles, each inner element
 * spread evenly over the span ⌊(i − ½)·r⌋ … ⌊(i + ½)·r⌋ (r the integer
 * ratio blen / a.length), the end elements copied.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resample } from "./features.ts";
 * assert.deepEqual([...resample(new Float64Array([1, 4, 8, 2]), 5)], [1, 6, 4, 0, 2]);
 * ```
 */
export function resample(a: Float64Array, blen: number): Float64Array {
  const nval = new Float64Array(blen);
  const ratio = Math.trunc(blen / a.length);
  for (let i = 1; i < a.length - 1; i++) {
    const jlo = cInt(0.5 * (2 * i - 1) * ratio);
    const jhi = cInt(0.5 * (2 * i + 1) * ratio);
    const avval = a[i] / (jhi - jlo + 1);
    for (let j = jlo; j <= jhi; j++) nval[j] += avval;
  }
  nval[0] = a[0];
  nval[blen - 1] = a[a.length - 1];
  return nval;
}

/** Squared distance between the samples of `a` and `b` at element `i`. */
function dist2(a: Float64Array, b: Float64Array, i: number): number {
  const d0 = a[i] - b[i], d1 = a[i + 1] - b[i + 1];
  const d2 = a[i + 2] - b[i + 2], d3 = a[i + 3] - b[i + 3];
  return d0 * d0 + d1 * d1 + d2 * d2 + d3 * d3;
}

/**
 * dt.c's `WindowFilter(a, b, w)`: the shorter array resampled to the
 * longer's length, then every inner sample of `a` replaced, in order, by
 * (w + 1)/(w + 2) times the sample of `b` nearest to it among b's samples
 * i − 1, i, i + 1 (ties to i, then to i + 1; the distance to i − 1 taken
 * against the `a` sample already replaced). Returns the new `a`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { windowFilter } from "./features.ts";
 * const a = new Float64Array(12), b = new Float64Array(12).fill(3);
 * const out = windowFilter(a, b, 0); // weight 1/2 on the one inner sample
 * assert.deepEqual([...out.subarray(0, 8)], [0, 0, 0, 0, 1.5, 1.5, 1.5, 1.5]);
 * ```
 */
export function windowFilter(a: Float64Array, b: Float64Array, w: number): Float64Array {
  const weight = (w + 1) / (w + 2);
  if (a.length < b.length) a = resample(a, b.length);
  if (a.length > b.length) b = resample(b, a.length);
  for (let i = FIELD_DIM; i < a.length - FIELD_DIM; i += FIELD_DIM) {
    let rms0 = dist2(a, b, i);
    const rms1 = dist2(a, b, i + FIELD_DIM);
    const rmsm1 = dist2(a, b, i - FIELD_DIM);
    let k = 0;
    if (rms1 < rms0) {
      k = 1;
      rms0 = rms1;
    }
    if (rmsm1 < rms0) k = -1;
    const j = i + k * FIELD_DIM;
    for (let d = 0; d < FIELD_DIM; d++) a[i + d] = weight * b[j + d];
  }
  return a;
}

/**
 * The end of dt.c's `CombineStreams`: every value truncated to an `int` and
 * divided, as an integer, by the comparator's in-degree.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { combineEnd } from "./features.ts";
 * assert.deepEqual([...combineEnd(new Float64Array([7.9, 2.5, 0]), 2)], [3, 1, 0]);
 * ```
 */
export function combineEnd(a: Float64Array, inDegree: number): Float64Array {
  for (let i = 0; i < a.length; i++) a[i] = Math.trunc(cInt(a[i]) / inDegree);
  return a;
}

/**
 * dt.c's `Reduce(a, w)`: (int)(w · CheckVal(a)), CheckVal the mean of the
 * squares summed as NPB sums it (v·v/len, element by element).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reduceFeatures } from "./features.ts";
 * assert.equal(reduceFeatures(new Float64Array([1, 2, 3, 4]), 2), 15); // 2 · 30/4
 * ```
 */
export function reduceFeatures(a: Float64Array, w: number): number {
  let csum = 0;
  const len = a.length;
  for (let i = 0; i < len; i++) csum += a[i] * a[i] / len;
  return cInt(w * csum);
}

/**
 * The end of dt.c's `ReduceStreams`: the sum of the in-arcs' `Reduce`
 * values, divided as a 64-bit integer by the in-degree, times id + 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sinkChecksum } from "./features.ts";
 * assert.equal(sinkChecksum(7, 2, 4), 15); // ⌊7/2⌋ · 5
 * ```
 */
export function sinkChecksum(csum: number, inDegree: number, id: number): number {
  const c = inDegree > 0 ? Math.trunc(csum / inDegree) : csum;
  return (id + 1) * c;
}

/**
 * Length of a comparator's output (dt.c's `CombineStreams`): its array
 * starts NUM_SAMPLES · 4 long and `WindowFilter` stretches it to any longer
 * input, so: the longest of that and the inputs. A model run sends arrays of
 * this length without computing them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { combinedLength } from "./features.ts";
 * import { DT_PARAMS } from "./graph.ts";
 * assert.equal(combinedLength(DT_PARAMS.S!, [6400, 7000]), 7000);
 * assert.equal(combinedLength(DT_PARAMS.S!, [6400]), 6912);
 * ```
 */
export function combinedLength(p: DtParams, inputs: readonly number[]): number {
  return Math.max(p.numSamples * FIELD_DIM, ...inputs);
}

/** Work of one step, for `comm.compute`. */
export interface DtWork {
  flops: number;
  bytes: number;
}

/**
 * The work each step is charged, by formula from the array lengths (both
 * compute modes charge these, at the same points of the run):
 *
 * - `features(len)`: RandomFeatures — per double a multiplication and a
 *   modulo; the array written once.
 * - `resample(alen, blen)`: per inner element of `a` the two span ends (3
 *   operations each), the division and two additions; `a` read, the new
 *   array zeroed and its two elements per input updated.
 * - `filter(len)`: WindowFilter's loop — per inner sample three 4-D squared
 *   distances (11 operations each), two comparisons and four
 *   multiplications by the weight; `a` and `b` read, `a` written.
 * - `combineEnd(len)`: a truncation and an integer division per double; read and written.
 * - `reduce(len)`: CheckVal's multiplication, division and addition per double; one read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DT_WORK } from "./features.ts";
 * assert.deepEqual(DT_WORK.features(8), { flops: 16, bytes: 64 });
 * assert.equal(DT_WORK.filter(12).flops, 39); // one inner sample
 * ```
 */
export const DT_WORK = {
  features: (len: number): DtWork => ({ flops: 2 * len, bytes: 8 * len }),
  resample: (alen: number, blen: number): DtWork => ({
    flops: 10 * Math.max(0, alen - 2),
    bytes: 8 * alen + 8 * blen + 32 * Math.max(0, alen - 2),
  }),
  filter: (len: number): DtWork => {
    const samples = Math.max(0, len / FIELD_DIM - 2);
    return { flops: 39 * samples, bytes: 24 * len };
  },
  combineEnd: (len: number): DtWork => ({ flops: 2 * len, bytes: 16 * len }),
  reduce: (len: number): DtWork => ({ flops: 3 * len, bytes: 8 * len }),
} as const;

/**
 * The work of one `WindowFilter(a, b, ·)` call with arrays of these
 * lengths: the resampling of the shorter (if they differ) and the loop over
 * the longer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DT_WORK, filterWork } from "./features.ts";
 * assert.deepEqual(filterWork(12, 12), DT_WORK.filter(12));
 * assert.ok(filterWork(8, 12).flops > DT_WORK.filter(12).flops);
 * ```
 */
export function filterWork(alen: number, blen: number): DtWork {
  const len = Math.max(alen, blen);
  const loop = DT_WORK.filter(len);
  if (alen === blen) return loop;
  const r = DT_WORK.resample(Math.min(alen, blen), len);
  return { flops: loop.flops + r.flops, bytes: loop.bytes + r.bytes };
}
