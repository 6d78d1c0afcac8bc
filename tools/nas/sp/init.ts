/**
 * SP's initial state (NPB 3.4 SP/initialize.f90 with `lhsinit`, and
 * exact_rhs.f90): u is the transfinite interpolation of the exact
 * solution's boundary values inside the grid and the exact solution on
 * the six faces of the global box; the left-hand sides start as identity
 * rows; the forcing term is the discrete operator applied to the exact
 * solution, negated.
 *
 * @module
 */
import { SP_WORK, type SpCell, type SpState } from "./data.ts";

/**
 * Call `fn(base, idx)` for every transverse line of a cell along direction
 * `d`, in NPB's loop order (the higher of the other two directions outer),
 * over the transverse interior (start … size − end − 1): `base` is the
 * index (`pt`) of the line's point at along-index 0, `idx` its (i, j, k)
 * (`idx[d]` 0; the array is reused from call to call).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SpCell } from "./data.ts";
 * import { forLines } from "./init.ts";
 * const c = new SpCell([4, 5, 6], [0, 0, 0], [1, 1, 1], 1, false); // every side a boundary
 * const seen: number[][] = [];
 * forLines(c, 0, (_b, idx) => seen.push([...idx]));
 * assert.equal(seen.length, 3 * 4); // j 1..3, k 1..4
 * assert.deepEqual(seen.slice(0, 2), [[0, 1, 1], [0, 2, 1]]); // j varies fastest
 * ```
 */
export function forLines(
  c: SpCell,
  d: number,
  fn: (base: number, idx: readonly number[]) => void,
): void {
  const a = d === 0 ? 1 : 0, b = d === 2 ? 1 : 2;
  const idx = [0, 0, 0];
  for (let y = c.start[b]; y <= c.size[b] - c.end[b] - 1; y++) {
    for (let x = c.start[a]; x <= c.size[a] - c.end[a] - 1; x++) {
      idx[a] = x;
      idx[b] = y;
      fn(c.pt(idx[0], idx[1], idx[2]), idx);
    }
  }
}

/**
 * The transverse lines of {@link forLines} as a list of their `base`
 * indices.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SpCell } from "./data.ts";
 * import { lines } from "./init.ts";
 * const c = new SpCell([4, 5, 6], [0, 0, 0], [1, 1, 1], 1, false);
 * assert.equal(lines(c, 2).length, 2 * 3);
 * assert.equal(lines(c, 2)[1], c.pt(2, 1, 0)); // i varies fastest
 * ```
 */
export function lines(c: SpCell, d: number): number[] {
  const out: number[] = [];
  forLines(c, d, (base) => out.push(base));
  return out;
}

/**
 * initialize.f90: u ← (1, 0, 0, 0, 1) everywhere (ghosts included, so that
 * 1/ρ is defined on every point compute_rhs visits), then the transfinite
 * interpolation of the exact solution's face values at every point of
 * every cell, then the exact solution on the global box's faces.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SpState } from "./data.ts";
 * import { initialize } from "./init.ts";
 * import { makeSet } from "./params.ts";
 * const comm = { size: 1, rank: 0, compute: async () => 0, alloc: () => undefined } as never;
 * const g = new SpState({ n: 12, niter: 1, dt: 0.015 }, makeSet(12, 1, 0), true, comm, comm, comm);
 * initialize(g);
 * const c = g.cells[0], e = new Float64Array(5);
 * g.exact(0, 5 * g.dnm1, 7 * g.dnm1, e, 0); // the west face is exact
 * assert.deepEqual([...c.u.subarray(5 * c.pt(0, 5, 7), 5 * c.pt(0, 5, 7) + 5)], [...e]);
 * ```
 */
export function initialize(g: SpState): void {
  const dn = g.dnm1;
  let points = 0, facePoints = 0, ghosted = 0;
  for (const c of g.cells) {
    points += c.points();
    ghosted += (c.size[0] + 2) * (c.size[1] + 2) * (c.size[2] + 2);
    if (!g.real) continue;
    const u = c.u;
    for (let q = 0; q < u.length; q += 5) {
      u[q] = 1.0;
      u[q + 1] = 0.0;
      u[q + 2] = 0.0;
      u[q + 3] = 0.0;
      u[q + 4] = 1.0;
    }
    const pf = new Float64Array(30); // Pface(m, dir, side) at 10·dir + 5·side + m
    for (let k = 0; k < c.size[2]; k++) {
      const zeta = (k + c.low[2]) * dn;
      for (let j = 0; j < c.size[1]; j++) {
        const eta = (j + c.low[1]) * dn;
        for (let i = 0; i < c.size[0]; i++) {
          const xi = (i + c.low[0]) * dn;
          for (let s = 0; s < 2; s++) {
            g.exact(s, eta, zeta, pf, 5 * s);
            g.exact(xi, s, zeta, pf, 10 + 5 * s);
            g.exact(xi, eta, s, pf, 20 + 5 * s);
          }
          const q = 5 * c.pt(i, j, k);
          for (let m = 0; m < 5; m++) {
            const pxi = xi * pf[5 + m] + (1.0 - xi) * pf[m];
            const peta = eta * pf[15 + m] + (1.0 - eta) * pf[10 + m];
            const pzeta = zeta * pf[25 + m] + (1.0 - zeta) * pf[20 + m];
            u[q + m] = pxi + peta + pzeta - pxi * peta - pxi * pzeta - peta * pzeta +
              pxi * peta * pzeta;
          }
        }
      }
    }
  }
  // The six faces: the cell at the first / last slice of each direction.
  const ends = [0, g.ncells - 1];
  for (let d = 0; d < 3; d++) {
    for (const side of [0, 1]) {
      const c = g.cells[g.set.slice[d][ends[side]]];
      const a = d === 0 ? 1 : 0, b = d === 2 ? 1 : 2;
      facePoints += c.size[a] * c.size[b];
      if (!g.real) continue;
      const idx = [0, 0, 0], x = [0, 0, 0];
      idx[d] = side === 0 ? 0 : c.size[d] - 1;
      x[d] = side;
      for (let ib = 0; ib < c.size[b]; ib++) {
        idx[b] = ib;
        x[b] = (ib + c.low[b]) * dn;
        for (let ia = 0; ia < c.size[a]; ia++) {
          idx[a] = ia;
          x[a] = (ia + c.low[a]) * dn;
          g.exact(x[0], x[1], x[2], c.u, 5 * c.pt(idx[0], idx[1], idx[2]));
        }
      }
    }
  }
  g.work(SP_WORK.scale, ghosted);
  g.work(SP_WORK.interpolate, points);
  g.work(SP_WORK.exact, facePoints);
}

/**
 * initialize.f90 `lhsinit`: every cell's three penta-diagonal factors
 * become identity rows (the diagonals 3, 8, 13 one, the rest zero); the
 * rows of physical boundary points keep them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SpState } from "./data.ts";
 * import { lhsinit } from "./init.ts";
 * import { makeSet } from "./params.ts";
 * const comm = { size: 1, rank: 0, compute: async () => 0, alloc: () => undefined } as never;
 * const g = new SpState({ n: 12, niter: 1, dt: 0.015 }, makeSet(12, 1, 0), true, comm, comm, comm);
 * lhsinit(g);
 * const q = 15 * g.cells[0].pt(0, 0, 0);
 * assert.deepEqual([...g.cells[0].lhs.subarray(q, q + 5)], [0, 0, 1, 0, 0]);
 * ```
 */
export function lhsinit(g: SpState): void {
  for (const c of g.cells) {
    g.work(SP_WORK.lhsinit, c.points());
    if (!g.real) continue;
    c.lhs.fill(0);
    for (let k = 0; k < c.size[2]; k++) {
      for (let j = 0; j < c.size[1]; j++) {
        for (let i = 0; i < c.size[0]; i++) {
          const q = 15 * c.pt(i, j, k);
          c.lhs[q + 2] = c.lhs[q + 7] = c.lhs[q + 12] = 1.0;
        }
      }
    }
  }
}

/**
 * exact_rhs.f90: forcing ← −(the discrete operator of compute_rhs applied
 * to the exact solution) at interior points, 0 elsewhere. Each direction
 * evaluates the exact solution along every line, two points beyond the
 * cell where there is a neighbour (one-sided at the physical boundary).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SpState } from "./data.ts";
 * import { exactRhs } from "./init.ts";
 * import { makeSet } from "./params.ts";
 * const comm = { size: 1, rank: 0, compute: async () => 0, alloc: () => undefined } as never;
 * const g = new SpState({ n: 12, niter: 1, dt: 0.015 }, makeSet(12, 1, 0), true, comm, comm, comm);
 * exactRhs(g);
 * const c = g.cells[0];
 * assert.equal(c.forcing[5 * c.pt(0, 4, 4)], 0); // boundary point
 * assert.notEqual(c.forcing[5 * c.pt(4, 4, 4)], 0);
 * ```
 */
export function exactRhs(g: SpState): void {
  const dn = g.dnm1, c1 = g.c1, c2 = g.c2, dssp = g.dssp;
  for (const c of g.cells) {
    const interior = c.interior();
    g.work(SP_WORK.copy, c.points());
    g.work(SP_WORK.scale, interior);
    for (let d = 0; d < 3; d++) {
      const ls = lines(c, d);
      g.work(SP_WORK.exactLine, ls.length * (c.size[d] + 4 - 2 * c.start[d] - 2 * c.end[d]));
      g.work(SP_WORK.forcing, interior);
    }
    if (!g.real) continue;
    const f = c.forcing;
    f.fill(0);
    const max = Math.max(...c.size) + 4;
    const ue = new Float64Array(5 * max), buf = new Float64Array(5 * max);
    const cuf = new Float64Array(max), q = new Float64Array(max);
    const dtemp = new Float64Array(5);
    for (let d = 0; d < 3; d++) {
      const s = c.stride(d), md = d + 1, n = c.size[d];
      const o1 = d === 0 ? 2 : 1, o2 = d === 2 ? 2 : 3; // the other momenta, in order
      const t2 = g.t2[d], ddt1 = g.ddt1[d], con = g.con[d];
      const lo = c.start[d], hi = n - c.end[d] - 1;
      forLines(c, d, (base, idx) => {
        const x = [(idx[0] + c.low[0]) * dn, (idx[1] + c.low[1]) * dn, (idx[2] + c.low[2]) * dn];
        // ue, buf, cuf, q at along-index t are at t + 2.
        for (let t = -2 * (1 - c.start[d]); t <= n + 1 - 2 * c.end[d]; t++) {
          x[d] = (t + c.low[d]) * dn;
          g.exact(x[0], x[1], x[2], dtemp, 0);
          const o = 5 * (t + 2);
          for (let m = 0; m < 5; m++) ue[o + m] = dtemp[m];
          const dtpp = 1.0 / dtemp[0];
          for (let m = 1; m < 5; m++) buf[o + m] = dtpp * dtemp[m];
          cuf[t + 2] = buf[o + md] * buf[o + md];
          buf[o] = cuf[t + 2] + buf[o + o1] * buf[o + o1] + buf[o + o2] * buf[o + o2];
          q[t + 2] = 0.5 *
            (buf[o + 1] * ue[o + 1] + buf[o + 2] * ue[o + 2] + buf[o + 3] * ue[o + 3]);
        }
        for (let t = lo; t <= hi; t++) {
          const r = 5 * (base + t * s);
          const i = 5 * (t + 2), ip = i + 5, im = i - 5, tp = t + 3, tm = t + 1;
          f[r] = f[r] - t2 * (ue[ip + md] - ue[im + md]) +
            ddt1[0] * (ue[ip] - 2.0 * ue[i] + ue[im]);
          for (let m = 1; m <= 3; m++) {
            if (m === md) {
              f[r + m] = f[r + m] - t2 * (
                    (ue[ip + m] * buf[ip + m] + c2 * (ue[ip + 4] - q[tp])) -
                    (ue[im + m] * buf[im + m] + c2 * (ue[im + 4] - q[tm]))
                  ) +
                con[0] * (buf[ip + m] - 2.0 * buf[i + m] + buf[im + m]) +
                ddt1[m] * (ue[ip + m] - 2.0 * ue[i + m] + ue[im + m]);
            } else {
              f[r + m] = f[r + m] - t2 * (ue[ip + m] * buf[ip + md] - ue[im + m] * buf[im + md]) +
                con[1] * (buf[ip + m] - 2.0 * buf[i + m] + buf[im + m]) +
                ddt1[m] * (ue[ip + m] - 2.0 * ue[i + m] + ue[im + m]);
            }
          }
          f[r + 4] = f[r + 4] - t2 * (
                buf[ip + md] * (c1 * ue[ip + 4] - c2 * q[tp]) -
                buf[im + md] * (c1 * ue[im + 4] - c2 * q[tm])
              ) +
            0.5 * con[2] * (buf[ip] - 2.0 * buf[i] + buf[im]) +
            con[3] * (cuf[tp] - 2.0 * cuf[t + 2] + cuf[tm]) +
            con[4] * (buf[ip + 4] - 2.0 * buf[i + 4] + buf[im + 4]) +
            ddt1[4] * (ue[ip + 4] - 2.0 * ue[i + 4] + ue[im + 4]);
        }
        // Fourth-order dissipation.
        for (let m = 0; m < 5; m++) {
          const e = (t: number) => ue[5 * (t + 2) + m];
          const at = (t: number) => 5 * (base + t * s) + m;
          if (c.start[d] > 0) {
            f[at(1)] = f[at(1)] - dssp * (5.0 * e(1) - 4.0 * e(2) + e(3));
            f[at(2)] = f[at(2)] - dssp * (-4.0 * e(1) + 6.0 * e(2) - 4.0 * e(3) + e(4));
          }
          for (let t = 3 * c.start[d]; t <= n - 3 * c.end[d] - 1; t++) {
            f[at(t)] = f[at(t)] -
              dssp * (e(t - 2) - 4.0 * e(t - 1) + 6.0 * e(t) - 4.0 * e(t + 1) + e(t + 2));
          }
          if (c.end[d] > 0) {
            const t = n - 3;
            f[at(t)] = f[at(t)] -
              dssp * (e(t - 2) - 4.0 * e(t - 1) + 6.0 * e(t) - 4.0 * e(t + 1));
            f[at(t + 1)] = f[at(t + 1)] - dssp * (e(t - 1) - 4.0 * e(t) + 5.0 * e(t + 1));
          }
        }
      });
    }
    // Change the sign of the forcing function at interior points.
    forInterior(c, (p) => {
      for (let m = 0; m < 5; m++) f[5 * p + m] = -1.0 * f[5 * p + m];
    });
  }
}

/**
 * Call `fn(pt)` for every interior point of a cell (start … size − end − 1
 * in each direction, k outermost).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SpCell } from "./data.ts";
 * import { forInterior } from "./init.ts";
 * const c = new SpCell([4, 4, 4], [0, 0, 0], [1, 1, 1], 2, false);
 * let n = 0;
 * forInterior(c, () => n++);
 * assert.equal(n, 3 * 3 * 3);
 * ```
 */
export function forInterior(c: SpCell, fn: (pt: number) => void): void {
  for (let k = c.start[2]; k <= c.size[2] - c.end[2] - 1; k++) {
    for (let j = c.start[1]; j <= c.size[1] - c.end[1] - 1; j++) {
      let p = c.pt(c.start[0], j, k);
      for (let i = c.start[0]; i <= c.size[0] - c.end[0] - 1; i++) fn(p++);
    }
  }
}
