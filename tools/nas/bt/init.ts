/**
 * BT's initial state and forcing (NPB 3.4 BT/initialize.f90 `initialize`
 * and `lhsinit`, BT/exact_rhs.f90): u by transfinite interpolation of the
 * exact solution on the faces of the unit cube, the exact solution on the
 * boundary faces, and the forcing term that makes the exact solution a
 * steady state of the discrete operator. No messages.
 *
 * @module
 */
import { BT_WORK, type BtGrid, type CellFields, interiorPoints, type Work } from "./grid.ts";

/**
 * The two directions other than `d`, lower first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crossDirs } from "./init.ts";
 * assert.deepEqual([0, 1, 2].map(crossDirs), [[1, 2], [0, 2], [0, 1]]);
 * ```
 */
export function crossDirs(d: number): [number, number] {
  return d === 0 ? [1, 2] : d === 1 ? [0, 2] : [0, 1];
}

/**
 * Call `f(a, b)` for the lines along direction `d` of cell `c`'s interior
 * (NPB's `start … size − end − 1` in both cross directions; `a` the lower
 * cross direction's index, `b` the higher one's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CellFields } from "./grid.ts";
 * import { forLines } from "./init.ts";
 * const cell = { coord: [1, 2, 1], size: [4, 3, 5], low: [0, 4, 0], high: [3, 6, 4],
 *   start: [1, 0, 1], end: [0, 1, 0] } as never;
 * const seen: string[] = [];
 * forLines(new CellFields(cell, false), 0, (a, b) => void seen.push(`${a},${b}`));
 * assert.equal(seen.length, 2 * 4); // j 0..1 (end in y), k 1..4 (start in z)
 * assert.equal(seen[0], "0,1");
 * ```
 */
export function forLines(c: CellFields, d: number, f: (a: number, b: number) => void): void {
  const [o1, o2] = crossDirs(d);
  const { size, start, end } = c.cell;
  for (let b = start[o2]; b <= size[o2] - end[o2] - 1; b++) {
    for (let a = start[o1]; a <= size[o1] - end[o1] - 1; a++) f(a, b);
  }
}

/**
 * Point index of along-line index t on the line (a, b) along d.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CellFields } from "./grid.ts";
 * import { linePt } from "./init.ts";
 * const c = new CellFields({ coord: [1, 1, 1], size: [3, 3, 3], low: [0, 0, 0], high: [2, 2, 2],
 *   start: [1, 1, 1], end: [1, 1, 1] } as never, false);
 * assert.equal(linePt(c, 1, 2, 0, 1), c.pt(0, 2, 1));
 * ```
 */
export function linePt(c: CellFields, d: number, t: number, a: number, b: number): number {
  return d === 0 ? c.pt(t, a, b) : d === 1 ? c.pt(a, t, b) : c.pt(a, b, t);
}

/**
 * initialize.f90: u ← 1 on the whole box, the interpolated values on the
 * cell's points, the exact solution on the six boundary faces (the cells
 * of the first and last planes in each direction).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BtGrid } from "./grid.ts";
 * import { initialize } from "./init.ts";
 * import { makeSet } from "./params.ts";
 * const g = new BtGrid({ n: 12, niter: 60, dt: 0.01 }, makeSet(12, 1, 0), true, { compute: async () => 0 } as never);
 * await initialize(g);
 * const c = g.cells[0], e = new Float64Array(5);
 * g.exact(0, 3 * g.dnm1, 5 * g.dnm1, e, 0); // the west face holds the exact solution
 * assert.deepEqual([...c.u.subarray(5 * c.pt(0, 3, 5), 5 * c.pt(0, 3, 5) + 5)], [...e]);
 * ```
 */
export async function initialize(g: BtGrid): Promise<void> {
  const d = g.dnm1;
  let facePoints = 0;
  const faces: [number, number, number][] = [[0, 0, 0], [0, 1, 1], [1, 0, 0], [1, 1, 1], [
    2,
    0,
    0,
  ], [2, 1, 1]];
  for (const [dir, side] of faces) {
    const c = g.cells[g.set.slice[dir][side === 0 ? 0 : g.ncells - 1]];
    const [o1, o2] = crossDirs(dir);
    facePoints += c.cell.size[o1] * c.cell.size[o2];
  }
  if (g.real) {
    const P = new Float64Array(30), temp = new Float64Array(5);
    for (const c of g.cells) {
      c.u.fill(1.0);
      const { low, high } = c.cell;
      for (let k = low[2]; k <= high[2]; k++) {
        const zeta = k * d;
        for (let j = low[1]; j <= high[1]; j++) {
          const eta = j * d;
          for (let i = low[0]; i <= high[0]; i++) {
            const xi = i * d;
            g.exact(0, eta, zeta, P, 0);
            g.exact(1, eta, zeta, P, 5);
            g.exact(xi, 0, zeta, P, 10);
            g.exact(xi, 1, zeta, P, 15);
            g.exact(xi, eta, 0, P, 20);
            g.exact(xi, eta, 1, P, 25);
            const q = 5 * c.pt(i - low[0], j - low[1], k - low[2]);
            for (let m = 0; m < 5; m++) {
              const pxi = xi * P[5 + m] + (1.0 - xi) * P[m];
              const peta = eta * P[15 + m] + (1.0 - eta) * P[10 + m];
              const pzeta = zeta * P[25 + m] + (1.0 - zeta) * P[20 + m];
              c.u[q + m] = pxi + peta + pzeta - pxi * peta - pxi * pzeta - peta * pzeta +
                pxi * peta * pzeta;
            }
          }
        }
      }
    }
    // The six faces, in NPB's order: west, east, south, north, bottom, top.
    for (const [dir, side] of faces) {
      const c = g.cells[g.set.slice[dir][side === 0 ? 0 : g.ncells - 1]];
      const { low, high, size } = c.cell;
      const fixed = side === 0 ? 0 : size[dir] - 1;
      for (let k = low[2]; k <= high[2]; k++) {
        for (let j = low[1]; j <= high[1]; j++) {
          for (let i = low[0]; i <= high[0]; i++) {
            const idx = [i - low[0], j - low[1], k - low[2]];
            if (idx[dir] !== fixed) continue;
            const x = [i * d, j * d, k * d];
            x[dir] = side;
            g.exact(x[0], x[1], x[2], temp, 0);
            c.u.set(temp, 5 * c.pt(idx[0], idx[1], idx[2]));
          }
        }
      }
    }
  }
  let points = 0;
  for (const c of g.cells) points += c.cell.size[0] * c.cell.size[1] * c.cell.size[2];
  await g.charge([[BT_WORK.interpolate, points], [BT_WORK.exact, facePoints]]);
}

/**
 * lhsinit (initialize.f90): zero every cell's lhsc. (start and end are
 * fixed by make_set here.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BtGrid } from "./grid.ts";
 * import { lhsinit } from "./init.ts";
 * import { makeSet } from "./params.ts";
 * const g = new BtGrid({ n: 12, niter: 60, dt: 0.01 }, makeSet(12, 1, 0), true, {} as never);
 * g.cells[0].lhsc[7] = 3;
 * lhsinit(g);
 * assert.equal(g.cells[0].lhsc[7], 0);
 * ```
 */
export function lhsinit(g: BtGrid): void {
  for (const c of g.cells) c.lhsc.fill(0);
}

/**
 * exact_rhs.f90: forcing ← −(the discrete operator applied to the exact
 * solution) on every cell's interior, direction by direction, with
 * fourth-difference dissipation (one-sided next to the boundary).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exactRhs } from "./init.ts";
 * assert.equal(typeof exactRhs, "function"); // checked against NPB's reference values by the BT tests
 * ```
 */
export async function exactRhs(g: BtGrid): Promise<void> {
  const { c1, c2, dssp } = g;
  const work: [Work, number][] = [];
  for (const c of g.cells) {
    const { size, start, end, low } = c.cell;
    const interior = interiorPoints(c.cell);
    for (let d = 0; d < 3; d++) {
      const [o1, o2] = crossDirs(d);
      const lo = -2 * (1 - start[d]), hi = size[d] + 1 - 2 * end[d];
      work.push([
        BT_WORK.exactLine,
        (hi - lo + 1) * (size[o1] - start[o1] - end[o1]) * (size[o2] - start[o2] - end[o2]),
      ]);
      work.push([BT_WORK.exactFlux, interior], [BT_WORK.rhsDissipation, interior]);
    }
    if (!g.real) continue;
    c.forcing.fill(0);
    const f = c.forcing;
    const len = Math.max(...size) + 4;
    const ue = new Float64Array(5 * len), buf = new Float64Array(5 * len);
    const cuf = new Float64Array(len), q = new Float64Array(len), dtemp = new Float64Array(5);
    for (let d = 0; d < 3; d++) {
      const p = d + 1;
      const [o1, o2] = crossDirs(d);
      const t2 = g.t2[d], con = g.con[d], ddt1 = g.ddt1[d];
      const lo = -2 * (1 - start[d]), hi = size[d] + 1 - 2 * end[d];
      forLines(c, d, (a, b) => {
        const x = [0, 0, 0];
        x[o1] = (a + low[o1]) * g.dnm1;
        x[o2] = (b + low[o2]) * g.dnm1;
        for (let t = lo; t <= hi; t++) {
          x[d] = (t + low[d]) * g.dnm1;
          g.exact(x[0], x[1], x[2], dtemp, 0);
          const o = 5 * (t + 2);
          for (let m = 0; m < 5; m++) ue[o + m] = dtemp[m];
          const dtpp = 1.0 / dtemp[0];
          for (let m = 1; m < 5; m++) buf[o + m] = dtpp * dtemp[m];
          cuf[t + 2] = buf[o + p] * buf[o + p];
          // buf(·, 1): the direction's own velocity squared first, then the other two in order.
          const [r1, r2] = crossDirs(d).map((x) => x + 1);
          buf[o] = cuf[t + 2] + buf[o + r1] * buf[o + r1] + buf[o + r2] * buf[o + r2];
          q[t + 2] = 0.5 *
            (buf[o + 1] * ue[o + 1] + buf[o + 2] * ue[o + 2] + buf[o + 3] * ue[o + 3]);
        }
        for (let t = start[d]; t <= size[d] - end[d] - 1; t++) {
          const F = 5 * linePt(c, d, t, a, b);
          const i0 = 5 * (t + 2), ip = i0 + 5, im = i0 - 5;
          const tp = t + 3, tm = t + 1;
          f[F] = f[F] - t2 * (ue[ip + p] - ue[im + p]) +
            ddt1[0] * (ue[ip] - 2.0 * ue[i0] + ue[im]);
          for (let r = 1; r <= 3; r++) {
            if (r === p) {
              f[F + r] = f[F + r] -
                t2 * ((ue[ip + p] * buf[ip + p] + c2 * (ue[ip + 4] - q[tp])) -
                    (ue[im + p] * buf[im + p] + c2 * (ue[im + 4] - q[tm]))) +
                con[0] * (buf[ip + p] - 2.0 * buf[i0 + p] + buf[im + p]) +
                ddt1[r] * (ue[ip + r] - 2.0 * ue[i0 + r] + ue[im + r]);
            } else {
              f[F + r] = f[F + r] - t2 * (ue[ip + r] * buf[ip + p] - ue[im + r] * buf[im + p]) +
                con[1] * (buf[ip + r] - 2.0 * buf[i0 + r] + buf[im + r]) +
                ddt1[r] * (ue[ip + r] - 2.0 * ue[i0 + r] + ue[im + r]);
            }
          }
          f[F + 4] = f[F + 4] -
            t2 * (buf[ip + p] * (c1 * ue[ip + 4] - c2 * q[tp]) -
                buf[im + p] * (c1 * ue[im + 4] - c2 * q[tm])) +
            0.5 * con[2] * (buf[ip] - 2.0 * buf[i0] + buf[im]) +
            con[3] * (cuf[tp] - 2.0 * cuf[t + 2] + cuf[tm]) +
            con[4] * (buf[ip + 4] - 2.0 * buf[i0 + 4] + buf[im + 4]) +
            ddt1[4] * (ue[ip + 4] - 2.0 * ue[i0 + 4] + ue[im + 4]);
        }
        dissipate(f, (t) => 5 * linePt(c, d, t, a, b), (t, m) => ue[5 * (t + 2) + m], c, d, dssp);
      });
    }
    forInterior(c, (q5) => {
      for (let m = 0; m < 5; m++) f[q5 + m] = -1.0 * f[q5 + m];
    });
  }
  await g.charge(work);
}

/**
 * Fourth-difference dissipation along direction d of one line (rhs.f90,
 * exact_rhs.f90): out[at(t) + m] −= dssp · (the 5-point difference of v),
 * one-sided at t = 1, 2 next to a low boundary and size − 3, size − 2 next
 * to a high one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CellFields } from "./grid.ts";
 * import { dissipate } from "./init.ts";
 * const c = new CellFields({ coord: [1, 1, 1], size: [8, 3, 3], low: [0, 0, 0], high: [7, 2, 2],
 *   start: [0, 0, 0], end: [0, 0, 0] } as never, false);
 * const out = new Float64Array(5 * 12);
 * dissipate(out, (t) => 5 * (t + 2), () => 1, c, 0, 0.25); // a constant has no 4th difference
 * assert.ok(out.every((x) => x === 0));
 * ```
 */
export function dissipate(
  out: Float64Array,
  at: (t: number) => number,
  v: (t: number, m: number) => number,
  c: CellFields,
  d: number,
  dssp: number,
): void {
  const { size, start, end } = c.cell;
  const n = size[d];
  if (start[d] > 0) {
    for (let m = 0; m < 5; m++) {
      out[at(1) + m] = out[at(1) + m] - dssp * (5.0 * v(1, m) - 4.0 * v(2, m) + v(3, m));
      out[at(2) + m] = out[at(2) + m] -
        dssp * (-4.0 * v(1, m) + 6.0 * v(2, m) - 4.0 * v(3, m) + v(4, m));
    }
  }
  for (let t = 3 * start[d]; t <= n - 3 * end[d] - 1; t++) {
    const o = at(t);
    for (let m = 0; m < 5; m++) {
      out[o + m] = out[o + m] -
        dssp *
          (v(t - 2, m) - 4.0 * v(t - 1, m) + 6.0 * v(t, m) - 4.0 * v(t + 1, m) + v(t + 2, m));
    }
  }
  if (end[d] > 0) {
    const t3 = n - 3, t2 = n - 2;
    for (let m = 0; m < 5; m++) {
      out[at(t3) + m] = out[at(t3) + m] -
        dssp * (v(t3 - 2, m) - 4.0 * v(t3 - 1, m) + 6.0 * v(t3, m) - 4.0 * v(t3 + 1, m));
      out[at(t2) + m] = out[at(t2) + m] -
        dssp * (v(t2 - 2, m) - 4.0 * v(t2 - 1, m) + 5.0 * v(t2, m));
    }
  }
}

/**
 * Call `f(5·pt)` for every interior point of cell c.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CellFields } from "./grid.ts";
 * import { forInterior } from "./init.ts";
 * const c = new CellFields({ coord: [1, 1, 1], size: [4, 4, 4], low: [0, 0, 0], high: [3, 3, 3],
 *   start: [1, 1, 1], end: [1, 1, 1] } as never, false);
 * let n = 0;
 * forInterior(c, () => void n++);
 * assert.equal(n, 8);
 * ```
 */
export function forInterior(c: CellFields, f: (q5: number) => void): void {
  const { size, start, end } = c.cell;
  for (let k = start[2]; k <= size[2] - end[2] - 1; k++) {
    for (let j = start[1]; j <= size[1] - end[1] - 1; j++) {
      for (let i = start[0]; i <= size[0] - end[0] - 1; i++) f(5 * c.pt(i, j, k));
    }
  }
}
