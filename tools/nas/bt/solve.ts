/**
 * BT's line solves (NPB 3.4 BT/x_solve.f90, y_solve.f90, z_solve.f90):
 * along each direction, the block-tridiagonal systems of every grid line
 * are factored by forward elimination and solved by back substitution,
 * cell by cell across the processes that hold a line's cells (the
 * multi-partition: each process works on one cell per stage).
 *
 * Messages, as NPB: in the forward sweep, a process that holds the cell of
 * stage s > 1 posts a receive of the previous cell's C′ and rhs′ (the last
 * plane's 5 × 5 blocks and 5-vectors: MAX_CELL_DIM² · 30 doubles, whatever
 * the cell's size) from its predecessor, waits for its own previous send
 * and the receive, eliminates, and (unless last) sends the same to its
 * successor with tag WEST/SOUTH/BOTTOM + the cell's cross coordinates;
 * the back substitution runs the other way with MAX_CELL_DIM² · 5 doubles
 * and tag EAST/NORTH/TOP + the same. x and y and z differ only in the
 * direction and the coordinates: one routine here, with NPB's formulas per
 * direction. Buffers: bt_data.f90's in_buffer (sends) and out_buffer
 * (receives), in the rank's memory.
 *
 * @module
 */
import type { Request } from "../../../mpi/mod.ts";
import { BT_WORK, type BtGrid, type CellFields, type Work } from "./grid.ts";
import { crossDirs, forLines, linePt } from "./init.ts";
import { binvcrhs, binvrhs, matmulSub, matvecSub } from "./solve_subs.ts";

/**
 * bt_data.f90's tag bases: EAST, WEST, NORTH, SOUTH, BOTTOM, TOP.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BT_TAGS } from "./solve.ts";
 * assert.equal(BT_TAGS.WEST + 1 + 2 * 2, 3005); // x_solve's tag for a cell at (j, k) = (1, 2) of 2
 * ```
 */
export const BT_TAGS = {
  EAST: 2000,
  WEST: 3000,
  NORTH: 4000,
  SOUTH: 5000,
  BOTTOM: 6000,
  TOP: 7000,
} as const;

/** The forward (solve) and backward (backsub) tag bases of each direction. */
const SOLVE_TAG = [BT_TAGS.WEST, BT_TAGS.SOUTH, BT_TAGS.BOTTOM];
const BACKSUB_TAG = [BT_TAGS.EAST, BT_TAGS.NORTH, BT_TAGS.TOP];

/**
 * The line solve of direction `d` (0: x_solve, 1: y_solve, 2: z_solve)
 * over all of the process's cells, with NPB's messages; `sendReq` is
 * NPB's `send_id`, carried from one solve to the next as NPB's module
 * variable is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { solve } from "./solve.ts";
 * assert.equal(typeof solve, "function"); // checked against NPB's reference values by the BT tests
 * ```
 */
export async function solve(g: BtGrid, d: number, state: { sendReq?: Request }): Promise<void> {
  const M = g.set.maxCellDim, nc = g.ncells;
  const solveSize = M * M * 30, backSize = M * M * 5;
  const [o1, o2] = crossDirs(d);
  const tagOf = (c: CellFields) => (c.cell.coord[o1] - 1) + (c.cell.coord[o2] - 1) * nc;
  // Forward elimination, stage by stage along the direction.
  for (let stage = 0; stage < nc; stage++) {
    const c = g.cells[g.set.slice[d][stage]];
    const first = stage === 0, last = stage === nc - 1;
    const work: [Work, number][] = [];
    if (!first) {
      await receive(g, state, solveSize, g.set.predecessor[d], SOLVE_TAG[d] + tagOf(c));
      if (g.real) unpackSolveInfo(g, c, d);
      work.push([BT_WORK.copy, solveSize]);
    }
    if (g.real) solveCell(g, c, d, first, last);
    work.push(...solveCellWork(c, d));
    if (!last) {
      if (g.real) packSolveInfo(g, c, d);
      work.push([BT_WORK.copy, solveSize]);
    }
    await g.charge(work);
    if (!last) await send(g, state, solveSize, g.set.successor[d], SOLVE_TAG[d] + tagOf(c));
  }
  // Back substitution in reverse.
  for (let stage = nc - 1; stage >= 0; stage--) {
    const c = g.cells[g.set.slice[d][stage]];
    const first = stage === 0, last = stage === nc - 1;
    const work: [Work, number][] = [];
    if (!last) {
      await receive(g, state, backSize, g.set.successor[d], BACKSUB_TAG[d] + tagOf(c));
      if (g.real) unpackBacksubInfo(g, c, d);
      work.push([BT_WORK.copy, backSize]);
    }
    if (g.real) backsubstitute(c, d, last);
    work.push([BT_WORK.backsub, lines(c, d) * c.cell.size[d]]);
    if (!first) {
      if (g.real) packBacksubInfo(g, c, d);
      work.push([BT_WORK.copy, backSize]);
    }
    await g.charge(work);
    if (!first) await send(g, state, backSize, g.set.predecessor[d], BACKSUB_TAG[d] + tagOf(c));
  }
}

/**
 * x_receive_solve_info / x_receive_backsub_info and the waits after them:
 * post the receive of `count` doubles into out_buffer, wait for this
 * process's previous send (NPB's `send_id`), then for the receive.
 */
async function receive(
  g: BtGrid,
  state: { sendReq?: Request },
  count: number,
  source: number,
  tag: number,
): Promise<void> {
  const req = await g.commSolve.irecv(g.outBuffer.subarray(0, count), source, tag) as Request;
  await g.commSolve.wait(state.sendReq!);
  await g.commSolve.wait(req);
}

/** x_send_solve_info / x_send_backsub_info's MPI_Isend of in_buffer; its request is send_id. */
async function send(
  g: BtGrid,
  state: { sendReq?: Request },
  count: number,
  dest: number,
  tag: number,
): Promise<void> {
  state.sendReq = await g.commSolve.isend(g.inBuffer.subarray(0, count), dest, tag) as Request;
}

/** Lines along d through the cell's interior. */
function lines(c: CellFields, d: number): number {
  const [o1, o2] = crossDirs(d);
  const { size, start, end } = c.cell;
  return (size[o1] - start[o1] - end[o1]) * (size[o2] - start[o2] - end[o2]);
}

/** The work of x/y/z_solve_cell on cell c, per line as NPB's loops run. */
function solveCellWork(c: CellFields, d: number): [Work, number][] {
  const { size, start, end } = c.cell;
  const n = lines(c, d), along = size[d] - start[d] - end[d];
  return [
    [BT_WORK.jacobians, n * (along + 2)],
    [BT_WORK.blocks, n * along],
    [BT_WORK.eliminate, n * size[d]],
  ];
}

/**
 * Walk the MAX_CELL_DIM² slots of a solve message in NPB's order (the
 * higher cross index outer) and call `f` for those inside the cell with
 * the slot number.
 */
function forSlots(
  g: BtGrid,
  c: CellFields,
  d: number,
  f: (slot: number, a: number, b: number) => void,
): void {
  const M = g.set.maxCellDim;
  const [o1, o2] = crossDirs(d);
  for (let b = 0; b < Math.min(M, c.cell.size[o2]); b++) {
    for (let a = 0; a < Math.min(M, c.cell.size[o1]); a++) f(b * M + a, a, b);
  }
}

/** x_send_solve_info's packing: C′ and rhs′ of the cell's last plane. */
function packSolveInfo(g: BtGrid, c: CellFields, d: number): void {
  const out = new Float64Array(g.set.maxCellDim ** 2 * 30);
  const isize = c.cell.size[d] - 1;
  forSlots(g, c, d, (slot, a, b) => {
    const x = linePt(c, d, isize, a, b), ptr = slot * 30;
    for (let m = 0; m < 5; m++) {
      for (let n = 0; n < 5; n++) out[ptr + 5 * m + n] = c.lhsc[25 * x + m + 5 * n];
    }
    for (let n = 0; n < 5; n++) out[ptr + 25 + n] = c.rhs[5 * x + n];
  });
  g.inBuffer.set(out, 0);
}

/** x_unpack_solve_info: the previous cell's C′ and rhs′ into plane −1. */
function unpackSolveInfo(g: BtGrid, c: CellFields, d: number): void {
  const got = g.outBuffer.get(0, g.set.maxCellDim ** 2 * 30);
  forSlots(g, c, d, (slot, a, b) => {
    const x = linePt(c, d, -1, a, b), ptr = slot * 30;
    for (let m = 0; m < 5; m++) {
      for (let n = 0; n < 5; n++) c.lhsc[25 * x + m + 5 * n] = got[ptr + 5 * m + n];
    }
    for (let n = 0; n < 5; n++) c.rhs[5 * x + n] = got[ptr + 25 + n];
  });
}

/** x_send_backsub_info's packing: U of the cell's first plane. */
function packBacksubInfo(g: BtGrid, c: CellFields, d: number): void {
  const out = new Float64Array(g.set.maxCellDim ** 2 * 5);
  forSlots(g, c, d, (slot, a, b) => {
    const x = linePt(c, d, 0, a, b);
    for (let n = 0; n < 5; n++) out[slot * 5 + n] = c.rhs[5 * x + n];
  });
  g.inBuffer.set(out, 0);
}

/** x_unpack_backsub_info: the next cell's U into backsub_info. */
function unpackBacksubInfo(g: BtGrid, c: CellFields, d: number): void {
  const got = g.outBuffer.get(0, g.set.maxCellDim ** 2 * 5);
  const W = Math.max(...c.cell.size) + 1;
  forSlots(g, c, d, (slot, a, b) => {
    for (let n = 0; n < 5; n++) c.backsub[5 * (a + W * b) + n] = got[slot * 5 + n];
  });
}

/**
 * x_backsubstitute: unless last, the last plane takes the next cell's U
 * (rhs −= C·U); then every plane from the second last down to 0,
 * rhs(t) −= C(t)·rhs(t + 1).
 */
function backsubstitute(c: CellFields, d: number, last: boolean): void {
  const { rhs, lhsc } = c;
  const isize = c.cell.size[d] - 1, s = c.stride[d];
  const W = Math.max(...c.cell.size) + 1;
  forLines(c, d, (a, b) => {
    const base = linePt(c, d, 0, a, b);
    if (!last) {
      const x = base + isize * s, bs = 5 * (a + W * b);
      for (let m = 0; m < 5; m++) {
        for (let n = 0; n < 5; n++) {
          rhs[5 * x + m] = rhs[5 * x + m] - lhsc[25 * x + m + 5 * n] * c.backsub[bs + n];
        }
      }
    }
    for (let t = isize - 1; t >= 0; t--) {
      const x = base + t * s, xn = x + s;
      for (let m = 0; m < 5; m++) {
        for (let n = 0; n < 5; n++) {
          rhs[5 * x + m] = rhs[5 * x + m] - lhsc[25 * x + m + 5 * n] * rhs[5 * xn + n];
        }
      }
    }
  });
}

/**
 * x_solve_cell (y_, z_): for every line of the cell, the flux Jacobian
 * (fjac) and viscous Jacobian (njac) at each point, the blocks A (lhsa),
 * B (lhsb) and C (lhsc), then the forward elimination: B⁻¹ on the first
 * plane of the first cell, and for each following plane rhs −= A·rhs(−1),
 * B −= A·C(−1), C ← B⁻¹C, rhs ← B⁻¹rhs; the last plane of the last cell
 * solves with binvrhs.
 */
function solveCell(g: BtGrid, c: CellFields, d: number, first: boolean, last: boolean): void {
  const { size, start, end } = c.cell;
  const n = size[d], isize = n - 1, s = c.stride[d];
  const fjac = new Float64Array(25 * (n + 2)), njac = new Float64Array(25 * (n + 2));
  // lhsabinit: A = 0, B = I on 0 … isize, once per cell as NPB.
  const lhsa = new Float64Array(25 * (n + 1)), lhsb = new Float64Array(25 * (n + 1));
  for (let t = 0; t <= isize; t++) for (let m = 0; m < 5; m++) lhsb[25 * t + 6 * m] = 1.0;
  const tmp1 = g.dt * g.t1[d], tmp2 = g.dt * g.t2[d], dd = g.dd[d];
  const { u, qs, rhs, lhsc } = c;
  const f0 = first ? 1 : 0, l0 = last ? 1 : 0;
  forLines(c, d, (a, b) => {
    const base = linePt(c, d, 0, a, b);
    for (let t = start[d] - 1; t <= n - end[d]; t++) {
      const x = base + t * s;
      jacobians(g, d, u, qs[x], 5 * x, fjac, njac, 25 * (t + 1));
    }
    for (let t = start[d]; t <= isize - end[d]; t++) {
      const A = 25 * t, C = 25 * (base + t * s), fm = 25 * t, f1 = 25 * (t + 1), fp = 25 * (t + 2);
      for (let col = 0; col < 5; col++) {
        for (let m = 0; m < 5; m++) {
          const e = m + 5 * col;
          let va = -tmp2 * fjac[fm + e] - tmp1 * njac[fm + e];
          let vb = tmp1 * 2.0 * njac[f1 + e];
          let vc = tmp2 * fjac[fp + e] - tmp1 * njac[fp + e];
          if (m === col) {
            va = va - tmp1 * dd[m];
            vb = 1.0 + tmp1 * 2.0 * njac[f1 + e] + tmp1 * 2.0 * dd[m];
            vc = vc - tmp1 * dd[m];
          }
          lhsa[A + e] = va;
          lhsb[A + e] = vb;
          lhsc[C + e] = vc;
        }
      }
    }
    if (first) binvcrhs(lhsb, 0, lhsc, 25 * base, rhs, 5 * base);
    for (let t = f0; t <= isize - l0; t++) {
      const x = base + t * s, xm = x - s;
      matvecSub(lhsa, 25 * t, rhs, 5 * xm, rhs, 5 * x);
      matmulSub(lhsa, 25 * t, lhsc, 25 * xm, lhsb, 25 * t);
      binvcrhs(lhsb, 25 * t, lhsc, 25 * x, rhs, 5 * x);
    }
    if (last) {
      const x = base + isize * s, xm = x - s;
      matvecSub(lhsa, 25 * isize, rhs, 5 * xm, rhs, 5 * x);
      matmulSub(lhsa, 25 * isize, lhsc, 25 * xm, lhsb, 25 * isize);
      binvrhs(lhsb, 25 * isize, rhs, 5 * x);
    }
  });
}

/**
 * fjac and njac of direction d (momentum component p = d + 1) at the
 * point whose u starts at `q`, into `F[o..o+25)` and `N[o..o+25)`: NPB's
 * x_solve_cell / y_ / z_ entries, written once for the three directions.
 */
function jacobians(
  g: BtGrid,
  d: number,
  u: Float64Array,
  qsv: number,
  q: number,
  F: Float64Array,
  N: Float64Array,
  o: number,
): void {
  const { c1, c2, c3c4, c1345, con43 } = g;
  const p = d + 1;
  const tmp1 = 1.0 / u[q], tmp2 = tmp1 * tmp1, tmp3 = tmp1 * tmp2;
  const up = u[q + p], u5 = u[q + 4];
  F.fill(0, o, o + 25);
  N.fill(0, o, o + 25);
  F[o + 5 * p] = 1.0;
  for (let r = 1; r <= 3; r++) {
    const ur = u[q + r];
    if (r === p) {
      F[o + r] = -(up * up * tmp2) + c2 * qsv;
      for (let t = 1; t <= 3; t++) if (t !== p) F[o + r + 5 * t] = -c2 * (u[q + t] * tmp1);
      F[o + r + 5 * p] = (2.0 - c2) * (up * tmp1);
      F[o + r + 20] = c2;
    } else {
      F[o + r] = -(ur * up) * tmp2;
      F[o + r + 5 * p] = ur * tmp1;
      F[o + r + 5 * r] = up * tmp1;
    }
    const f = r === p ? con43 * c3c4 : c3c4;
    N[o + r] = -f * tmp2 * ur;
    N[o + r + 5 * r] = f * tmp1;
    N[o + 4 + 5 * r] = (f - c1345) * tmp2 * ur;
  }
  F[o + 4] = (c2 * 2.0 * qsv - c1 * (u5 * tmp1)) * (up * tmp1);
  for (let t = 1; t <= 3; t++) if (t !== p) F[o + 4 + 5 * t] = -c2 * (u[q + t] * up) * tmp2;
  F[o + 4 + 5 * p] = c1 * u5 * tmp1 - c2 * (up * up * tmp2 + qsv);
  F[o + 24] = c1 * (up * tmp1);
  const f1 = p === 1 ? con43 * c3c4 : c3c4, f2 = p === 2 ? con43 * c3c4 : c3c4;
  const f3 = p === 3 ? con43 * c3c4 : c3c4;
  const u2 = u[q + 1], u3 = u[q + 2], u4 = u[q + 3];
  N[o + 4] = -(f1 - c1345) * tmp3 * (u2 * u2) - (f2 - c1345) * tmp3 * (u3 * u3) -
    (f3 - c1345) * tmp3 * (u4 * u4) - c1345 * tmp2 * u5;
  N[o + 24] = c1345 * tmp1;
}
