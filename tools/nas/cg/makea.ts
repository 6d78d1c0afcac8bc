/**
 * CG's test matrix (NPB 3.4 cg.f90: `makea`, `sprnvc`, `vecset`, `sparse`).
 *
 * The matrix is A = Σ_i size_i · v_i v_iᵀ + (rcond − shift)·I, one outer
 * product per row i of a random sparse vector v_i (`nonzer` random entries
 * plus 0.5 at position i), with size_i shrinking geometrically from 1 to
 * rcond. Every process draws the whole random sequence (NPB's randlc stream
 * with seed 314159265 and multiplier 5^13, advanced once before `makea`) and
 * keeps the products that fall into its block; duplicates are summed in the
 * order NPB sums them, so the block is bit-for-bit the one NPB builds.
 *
 * @module
 */
import { NPB_A, randlc, type RandState } from "../randlc.ts";

/**
 * A block of the matrix in compressed-row form, 0-based and local: row `j`
 * (global row firstrow + j) holds `a[rowPtr[j] .. rowPtr[j+1])` at local
 * columns `colidx[…]` (global column firstcol + colidx).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CsrBlock } from "./makea.ts";
 * const b: CsrBlock = {
 *   rows: 1, nnz: 1, generated: 1, randoms: 0,
 *   rowPtr: new Int32Array([0, 1]), colidx: new Int32Array([0]), a: new Float64Array([2]),
 * };
 * assert.equal(b.a[b.rowPtr[0]], 2);
 * ```
 */
export interface CsrBlock {
  /** Rows of the block. */
  rows: number;
  /** Nonzeros after duplicates were summed. */
  nnz: number;
  /** Elements generated before summing (NPB's `nnza`). */
  generated: number;
  /** Random numbers drawn from the stream. */
  randoms: number;
  rowPtr: Int32Array;
  colidx: Int32Array;
  a: Float64Array;
}

/**
 * Where a rank's block lies (global, 1-based, inclusive).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BlockBounds } from "./makea.ts";
 * const whole: BlockBounds = { firstrow: 1, lastrow: 10, firstcol: 1, lastcol: 10 };
 * assert.equal(whole.lastrow - whole.firstrow + 1, 10);
 * ```
 */
export interface BlockBounds {
  firstrow: number;
  lastrow: number;
  firstcol: number;
  lastcol: number;
}

/**
 * NPB's bound on the elements a block can hold (`nz` of cg_data's
 * `alloc_space`); exceeding it is NPB's "Space for matrix elements exceeded".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeaCapacity } from "./makea.ts";
 * assert.equal(makeaCapacity(1400, 7, 1, 1), 1400 * 8 * 8 + 7 + 1400 * 9);
 * ```
 */
export function makeaCapacity(na: number, nonzer: number, np: number, npcols: number): number {
  return Math.trunc((na * (nonzer + 1)) / np) * (nonzer + 1) + nonzer +
    Math.trunc((na * (nonzer + 2 + Math.trunc(np / 256))) / npcols);
}

/**
 * Generate rank's block of the order-`n` matrix. `tran` is the random
 * stream, positioned as NPB leaves it before `makea` (seed advanced once).
 *
 * @throws Error when the block outgrows `capacity` (as NPB stops)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NPB_A, NPB_SEED, randlc } from "../randlc.ts";
 * import { makea, makeaCapacity } from "./makea.ts";
 * const tran = { x: NPB_SEED };
 * randlc(tran, NPB_A);
 * const all = { firstrow: 1, lastrow: 1400, firstcol: 1, lastcol: 1400 };
 * const m = makea(1400, 7, 0.1, 10, all, makeaCapacity(1400, 7, 1, 1), tran);
 * assert.equal(m.rows, 1400);
 * assert.equal(m.rowPtr[1400], m.nnz);
 * // Symmetric: A[i][j] = A[j][i].
 * const at = (i: number, j: number) => {
 *   for (let k = m.rowPtr[i]; k < m.rowPtr[i + 1]; k++) if (m.colidx[k] === j) return m.a[k];
 *   return 0;
 * };
 * assert.equal(at(3, m.colidx[m.rowPtr[3]]), at(m.colidx[m.rowPtr[3]], 3));
 * ```
 */
export function makea(
  n: number,
  nonzer: number,
  rcond: number,
  shift: number,
  b: BlockBounds,
  capacity: number,
  tran: RandState,
): CsrBlock {
  const { firstrow, lastrow, firstcol, lastcol } = b;
  const arow = new Int32Array(capacity);
  const acol = new Int32Array(capacity);
  const aelt = new Float64Array(capacity);
  // Sparse vector workspace (1-based like NPB: positions 1..n).
  const v = new Float64Array(nonzer + 2);
  const iv = new Int32Array(nonzer + 2);
  const nzloc = new Int32Array(nonzer + 2);
  const mark = new Uint8Array(n + 1);
  let nn1 = 1;
  do nn1 *= 2; while (nn1 < n);

  const ratio = Math.pow(rcond, 1.0 / n);
  let size = 1.0;
  let nnza = 0;
  let randoms = 0;
  const overflow = (iouter: number) =>
    new Error(
      `CG makea: the block outgrew ${capacity} elements at outer row ${iouter} (NPB's nz bound)`,
    );

  for (let iouter = 1; iouter <= n; iouter++) {
    // sprnvc: nonzer distinct random positions in 1..n with random values.
    let nzv = 0;
    let nzrow = 0;
    while (nzv < nonzer) {
      const vecelt = randlc(tran, NPB_A);
      const vecloc = randlc(tran, NPB_A);
      randoms += 2;
      const i = Math.trunc(nn1 * vecloc) + 1;
      if (i > n) continue;
      if (mark[i] === 0) {
        mark[i] = 1;
        nzloc[++nzrow] = i;
        nzv++;
        v[nzv] = vecelt;
        iv[nzv] = i;
      }
    }
    for (let ii = 1; ii <= nzrow; ii++) mark[nzloc[ii]] = 0;
    // vecset: element iouter becomes 0.5 (appended when absent).
    let set = false;
    for (let k = 1; k <= nzv; k++) {
      if (iv[k] === iouter) {
        v[k] = 0.5;
        set = true;
      }
    }
    if (!set) {
      nzv++;
      v[nzv] = 0.5;
      iv[nzv] = iouter;
    }
    // The outer product's elements that fall into this block.
    for (let ivelt = 1; ivelt <= nzv; ivelt++) {
      const jcol = iv[ivelt];
      if (jcol < firstcol || jcol > lastcol) continue;
      const scale = size * v[ivelt];
      for (let ivelt1 = 1; ivelt1 <= nzv; ivelt1++) {
        const irow = iv[ivelt1];
        if (irow < firstrow || irow > lastrow) continue;
        if (nnza >= capacity) throw overflow(iouter);
        acol[nnza] = jcol;
        arow[nnza] = irow;
        aelt[nnza] = v[ivelt1] * scale;
        nnza++;
      }
    }
    size *= ratio;
  }
  // The identity times rcond, minus the shift, bounds the smallest eigenvalue.
  for (let i = firstrow; i <= lastrow; i++) {
    if (i >= firstcol && i <= lastcol) {
      if (nnza >= capacity) throw overflow(n);
      acol[nnza] = i;
      arow[nnza] = i;
      aelt[nnza] = rcond - shift;
      nnza++;
    }
  }
  return sparse(n, b, arow, acol, aelt, nnza, randoms);
}

/** NPB's `sparse`: bucket-sort the triples by row, then sum duplicates row by row. */
function sparse(
  n: number,
  b: BlockBounds,
  arow: Int32Array,
  acol: Int32Array,
  aelt: Float64Array,
  nnza: number,
  randoms: number,
): CsrBlock {
  const { firstrow, lastrow, firstcol } = b;
  const nrows = lastrow - firstrow + 1;
  // 1-based as in NPB: rowstr[1..nrows+1], a[1..], colidx[1..].
  const rowstr = new Int32Array(nrows + 2);
  const a = new Float64Array(nnza + 1);
  const colidx = new Int32Array(nnza + 1);
  for (let nza = 0; nza < nnza; nza++) rowstr[arow[nza] - firstrow + 2]++;
  rowstr[1] = 1;
  for (let j = 2; j <= nrows + 1; j++) rowstr[j] += rowstr[j - 1];
  for (let nza = 0; nza < nnza; nza++) {
    const j = arow[nza] - firstrow + 1;
    const k = rowstr[j];
    a[k] = aelt[nza];
    colidx[k] = acol[nza];
    rowstr[j] = k + 1;
  }
  for (let j = nrows; j >= 1; j--) rowstr[j + 1] = rowstr[j];
  rowstr[1] = 1;

  const x = new Float64Array(n + 1);
  const mark = new Uint8Array(n + 1);
  const nzloc = new Int32Array(n + 1);
  let nza = 0;
  let jajp1 = rowstr[1];
  for (let j = 1; j <= nrows; j++) {
    let nzrow = 0;
    for (let k = jajp1; k < rowstr[j + 1]; k++) {
      const i = colidx[k];
      x[i] += a[k];
      if (mark[i] === 0 && x[i] !== 0) {
        mark[i] = 1;
        nzloc[++nzrow] = i;
      }
    }
    for (let k = 1; k <= nzrow; k++) {
      const i = nzloc[k];
      mark[i] = 0;
      const xi = x[i];
      x[i] = 0;
      if (xi !== 0) {
        nza++;
        a[nza] = xi;
        colidx[nza] = i;
      }
    }
    jajp1 = rowstr[j + 1];
    rowstr[j + 1] = nza + rowstr[1];
  }
  // To 0-based local form: columns relative to firstcol.
  const rowPtr = new Int32Array(nrows + 1);
  for (let j = 0; j <= nrows; j++) rowPtr[j] = rowstr[j + 1] - 1;
  const outA = a.slice(1, nza + 1);
  const outCol = new Int32Array(nza);
  for (let k = 0; k < nza; k++) outCol[k] = colidx[k + 1] - firstcol;
  return { rows: nrows, nnz: nza, generated: nnza, randoms, rowPtr, colidx: outCol, a: outA };
}
