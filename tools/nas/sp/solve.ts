/**
 * SP's line solves and ADI step (NPB 3.4 SP/x_solve.f90, y_solve.f90,
 * z_solve.f90, adi.f90). Each direction solves the three scalar
 * penta-diagonal systems of every grid line by the Thomas algorithm. In the
 * multi-partition a line crosses one cell of each of √np processes, so the
 * solve is pipelined: stage by stage through the process's cells in the
 * order of their coordinate along the direction, the forward elimination
 * receives from the predecessor the last two rows of every line of the
 * previous cell (22 doubles per line: for rows iend−1 and iend, lhs(n+4),
 * lhs(n+5) and the three right-hand sides of the u factor, then the same
 * with one right-hand side for each of the u + c and u − c factors),
 * eliminates, and sends its own last two rows on to the successor; the
 * back substitution runs the other way with the first two solution values
 * of every line and component (10 doubles per line). Messages go on
 * comm_solve with tag 0 (DEFAULT_TAG): `irecv`, the cell's lhs (or the
 * previous cell's inversion) while it is in flight, `waitall` on it and
 * on the previous stage's `isend`.
 *
 * @module
 */
import type { Request } from "../../../mpi/mod.ts";
import { SP_WORK, type SpCell, type SpState } from "./data.ts";
import { copyFaces } from "./faces.ts";
import { lines } from "./init.ts";
import { add, invert, txinvr } from "./invr.ts";
import { lhs } from "./lhs.ts";

const DEFAULT_TAG = 0;

/**
 * x_solve (`d` 0), y_solve (1) or z_solve (2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lineSolve } from "./solve.ts";
 * assert.equal(typeof lineSolve, "function"); // checked against NPB's reference values by the SP tests
 * ```
 */
export async function lineSolve(g: SpState, d: number): Promise<void> {
  const comm = g.solve, nc = g.ncells, real = g.real;
  const pred = g.set.predecessor[d], succ = g.set.successor[d];
  const cellAt = (stage: number) => g.cells[g.set.slice[d][stage]];
  let sent: Request | undefined;
  // Forward elimination, stage by stage in the direction of increasing d.
  for (let stage = 0; stage < nc; stage++) {
    const c = cellAt(stage), ls = lines(c, d), bs = ls.length;
    if (stage !== 0) {
      await g.flush();
      const recv = await comm.irecv(g.inBuf.subarray(0, 22 * bs), pred, DEFAULT_TAG);
      // Compute the left-hand side while the message is on its way.
      lhs(g, c, d);
      await g.flush();
      await comm.waitall(sent ? [recv, sent] : [recv]);
      g.work(SP_WORK.unpackForward, bs);
      if (real) unpackForward(c, d, ls, g.inBuf.get(0, 22 * bs) as Float64Array);
    } else {
      lhs(g, c, d);
    }
    g.work(SP_WORK.forward, bs * c.size[d]);
    if (real) forward(c, d, ls);
    if (stage !== nc - 1) {
      g.work(SP_WORK.pack, 22 * bs);
      if (real) g.outBuf.set(packForward(c, d, ls), 0);
      await g.flush();
      sent = await comm.isend(g.outBuf.subarray(0, 22 * bs), succ, DEFAULT_TAG);
    }
  }
  // Back substitution, in the reverse direction.
  for (let stage = nc - 1; stage >= 0; stage--) {
    const c = cellAt(stage), ls = lines(c, d), bs = ls.length;
    if (stage !== nc - 1) {
      await g.flush();
      const recv = await comm.irecv(g.inBuf.subarray(0, 10 * bs), succ, DEFAULT_TAG);
      // The block-diagonal inversion of the cell just finished, while waiting.
      invert(g, cellAt(stage + 1), d);
      await g.flush();
      await comm.waitall(sent ? [recv, sent] : [recv]);
      g.work(SP_WORK.unpackBackward, bs);
      if (real) unpackBackward(c, d, ls, g.inBuf.get(0, 10 * bs) as Float64Array);
    }
    g.work(SP_WORK.backward, bs * c.size[d]);
    if (real) backward(c, d, ls, stage === nc - 1);
    if (stage !== 0) {
      g.work(SP_WORK.pack, 10 * bs);
      if (real) g.outBuf.set(packBackward(c, d, ls), 0);
      await g.flush();
      sent = await comm.isend(g.outBuf.subarray(0, 10 * bs), pred, DEFAULT_TAG);
    }
    if (stage === 0) invert(g, c, d);
  }
}

/**
 * The factors of the five components: component m (0-based) belongs to the
 * factor whose diagonals start at `15·pt + N[m]`.
 */
const N = [0, 0, 0, 5, 10];

/** Received last two rows of the predecessor's cell, eliminated from rows 0 and 1. */
function unpackForward(c: SpCell, d: number, ls: number[], inb: Float64Array): void {
  const L = c.lhs, R = c.rhs, s = c.stride(d);
  let p = 0;
  for (const b of ls) {
    const l0 = 15 * b, l1 = 15 * (b + s), r0 = 5 * b, r1 = 5 * (b + s);
    L[l0 + 1] = L[l0 + 1] - inb[p] * L[l0];
    L[l0 + 2] = L[l0 + 2] - inb[p + 1] * L[l0];
    for (let m = 0; m < 3; m++) R[r0 + m] = R[r0 + m] - inb[p + 2 + m] * L[l0];
    const dd = inb[p + 5], e = inb[p + 6];
    const x1 = L[l0 + 1];
    L[l0 + 2] = L[l0 + 2] - dd * x1;
    L[l0 + 3] = L[l0 + 3] - e * x1;
    for (let m = 0; m < 3; m++) R[r0 + m] = R[r0 + m] - inb[p + 7 + m] * x1;
    const x2 = L[l1];
    L[l1 + 1] = L[l1 + 1] - dd * x2;
    L[l1 + 2] = L[l1 + 2] - e * x2;
    for (let m = 0; m < 3; m++) R[r1 + m] = R[r1 + m] - inb[p + 7 + m] * x2;
    p += 10;
  }
  for (let m = 3; m < 5; m++) {
    const n = N[m];
    for (const b of ls) {
      const l0 = 15 * b + n, l1 = 15 * (b + s) + n, r0 = 5 * b + m, r1 = 5 * (b + s) + m;
      L[l0 + 1] = L[l0 + 1] - inb[p] * L[l0];
      L[l0 + 2] = L[l0 + 2] - inb[p + 1] * L[l0];
      R[r0] = R[r0] - inb[p + 2] * L[l0];
      const dd = inb[p + 3], e = inb[p + 4], sm = inb[p + 5];
      const x1 = L[l0 + 1];
      L[l0 + 2] = L[l0 + 2] - dd * x1;
      L[l0 + 3] = L[l0 + 3] - e * x1;
      R[r0] = R[r0] - sm * x1;
      const x2 = L[l1];
      L[l1 + 1] = L[l1 + 1] - dd * x2;
      L[l1 + 2] = L[l1 + 2] - e * x2;
      R[r1] = R[r1] - sm * x2;
      p += 6;
    }
  }
}

/**
 * Row `l`/`r` of a factor (`m0` ≤ m < `m1` its right-hand sides) scaled by
 * its diagonal, and eliminated from the next row `l1`/`r1`.
 */
function eliminate(
  L: Float64Array,
  R: Float64Array,
  l: number,
  l1: number,
  r: number,
  r1: number,
  m0: number,
  m1: number,
): void {
  const fac1 = 1.0 / L[l + 2];
  L[l + 3] = fac1 * L[l + 3];
  L[l + 4] = fac1 * L[l + 4];
  for (let m = m0; m < m1; m++) R[r + m] = fac1 * R[r + m];
  L[l1 + 2] = L[l1 + 2] - L[l1 + 1] * L[l + 3];
  L[l1 + 3] = L[l1 + 3] - L[l1 + 1] * L[l + 4];
  for (let m = m0; m < m1; m++) R[r1 + m] = R[r1 + m] - L[l1 + 1] * R[r + m];
}

/** Forward elimination of every line of the cell, for the three factors. */
function forward(c: SpCell, d: number, ls: number[]): void {
  const L = c.lhs, R = c.rhs, s = c.stride(d), iend = c.size[d] - 1;
  const l1s = 15 * s, r1s = 5 * s;
  for (const [n, m0, m1] of [[0, 0, 3], [5, 3, 4], [10, 4, 5]]) {
    for (const b of ls) {
      for (let t = 0; t <= iend - 2; t++) {
        const p = b + t * s, l = 15 * p + n, r = 5 * p;
        eliminate(L, R, l, l + l1s, r, r + r1s, m0, m1);
        const l2 = l + 2 * l1s, r2 = r + 2 * r1s;
        L[l2 + 1] = L[l2 + 1] - L[l2] * L[l + 3];
        L[l2 + 2] = L[l2 + 2] - L[l2] * L[l + 4];
        for (let m = m0; m < m1; m++) R[r2 + m] = R[r2 + m] - L[l2] * R[r + m];
      }
      // The last two rows: no two more rows to eliminate; scale the last at once.
      const p = b + (iend - 1) * s, l = 15 * p + n, r = 5 * p;
      const l1 = l + l1s, r1 = r + r1s;
      eliminate(L, R, l, l1, r, r1, m0, m1);
      const fac2 = 1.0 / L[l1 + 2];
      L[l1 + 3] = fac2 * L[l1 + 3];
      L[l1 + 4] = fac2 * L[l1 + 4];
      for (let m = m0; m < m1; m++) R[r1 + m] = fac2 * R[r1 + m];
    }
  }
}

/** The last two rows of every line for the successor (22 doubles per line). */
function packForward(c: SpCell, d: number, ls: number[]): Float64Array {
  const L = c.lhs, R = c.rhs, s = c.stride(d), iend = c.size[d] - 1;
  const out = new Float64Array(22 * ls.length);
  let p = 0;
  for (const b of ls) {
    for (let t = iend - 1; t <= iend; t++) {
      const l = 15 * (b + t * s), r = 5 * (b + t * s);
      out[p] = L[l + 3];
      out[p + 1] = L[l + 4];
      for (let m = 0; m < 3; m++) out[p + 2 + m] = R[r + m];
      p += 5;
    }
  }
  for (let m = 3; m < 5; m++) {
    const n = N[m];
    for (const b of ls) {
      for (let t = iend - 1; t <= iend; t++) {
        const l = 15 * (b + t * s) + n;
        out[p] = L[l + 3];
        out[p + 1] = L[l + 4];
        out[p + 2] = R[5 * (b + t * s) + m];
        p += 3;
      }
    }
  }
  return out;
}

/** Back substitution's start from the successor's first two solution values. */
function unpackBackward(c: SpCell, d: number, ls: number[], inb: Float64Array): void {
  const L = c.lhs, R = c.rhs, s = c.stride(d), iend = c.size[d] - 1;
  let p = 0;
  for (let m = 0; m < 5; m++) {
    const n = N[m];
    for (const b of ls) {
      const pi = b + iend * s, pi1 = pi - s;
      const sm1 = inb[p], sm2 = inb[p + 1];
      const ri = 5 * pi + m, ri1 = 5 * pi1 + m, li = 15 * pi + n, li1 = 15 * pi1 + n;
      R[ri] = R[ri] - L[li + 3] * sm1 - L[li + 4] * sm2;
      R[ri1] = R[ri1] - L[li1 + 3] * R[ri] - L[li1 + 4] * sm1;
      p += 2;
    }
  }
}

/**
 * Back substitution of every line and component: rows iend−2 … 0, and
 * before them, in the first cell of the back sweep (`first`: no message),
 * row iend−1 from row iend.
 */
function backward(c: SpCell, d: number, ls: number[], first: boolean): void {
  const L = c.lhs, R = c.rhs, s = c.stride(d), iend = c.size[d] - 1;
  const r1s = 5 * s, r2s = 10 * s;
  for (let m = 0; m < 5; m++) {
    const n = N[m];
    for (const b of ls) {
      if (first) {
        const p = b + (iend - 1) * s, r = 5 * p + m;
        R[r] = R[r] - L[15 * p + n + 3] * R[r + r1s];
      }
      for (let t = iend - 2; t >= 0; t--) {
        const p = b + t * s, r = 5 * p + m, l = 15 * p + n;
        R[r] = R[r] - L[l + 3] * R[r + r1s] - L[l + 4] * R[r + r2s];
      }
    }
  }
}

/** The first two solution values of every line and component for the predecessor. */
function packBackward(c: SpCell, d: number, ls: number[]): Float64Array {
  const R = c.rhs, s = c.stride(d);
  const out = new Float64Array(10 * ls.length);
  let p = 0;
  for (let m = 0; m < 5; m++) {
    for (const b of ls) {
      out[p] = R[5 * b + m];
      out[p + 1] = R[5 * (b + s) + m];
      p += 2;
    }
  }
  return out;
}

/**
 * adi.f90: one time step — copy_faces (with compute_rhs), txinvr, the x, y
 * and z solves, add.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { adi } from "./solve.ts";
 * assert.equal(typeof adi, "function"); // checked against NPB's reference values by the SP tests
 * ```
 */
export async function adi(g: SpState): Promise<void> {
  await copyFaces(g);
  txinvr(g);
  await lineSolve(g, 0);
  await lineSolve(g, 1);
  await lineSolve(g, 2);
  add(g);
}
