/**
 * MG's grid operators (NPB 3.4 mg.f90): the residual `resid` (r = v − A u),
 * the smoother `psinv` (u = u + C r), the restriction `rprj3` (trilinear
 * projection to the coarser grid) and the prolongation `interp` (trilinear
 * interpolation added to the finer grid), each on one process's brick
 * without its ghost exchange, with NPB's loop structure and evaluation
 * order (so the floating-point results are NPB's).
 *
 * Each operator has a `…Work` companion: its flops and bytes of memory
 * traffic counted by formula from the loop bounds, which is what both the
 * real and the modelled runs charge to virtual time.
 *
 * Grids are NPB's Fortran arrays u(n1, n2, n3) in column-major order, 1-based
 * in the loops below: element (i1, i2, i3) is at (i1−1) + n1·((i2−1) + n2·(i3−1)).
 *
 * @module
 */
import type { Work } from "../../../mpi/mod.ts";

/**
 * A brick with its ghost layer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grid } from "./stencils.ts";
 * const g = grid(4, 3, 2);
 * assert.equal(g.a.length, 24);
 * ```
 */
export interface Grid {
  a: Float64Array;
  n1: number;
  n2: number;
  n3: number;
}

/**
 * A zeroed grid (`real` false: an empty array, for modelled runs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grid } from "./stencils.ts";
 * assert.equal(grid(4, 4, 4, false).a.length, 0);
 * ```
 */
export function grid(n1: number, n2: number, n3: number, real = true): Grid {
  return { a: new Float64Array(real ? n1 * n2 * n3 : 0), n1, n2, n3 };
}

const F8 = 8;

/**
 * For the row starting at `c`: the sums of each point's four edge neighbours
 * (`e`) and four corner neighbours (`d`) in the plane across the row, as
 * `resid` and `psinv` form them before their stencils.
 */
function crossSums(
  g: Float64Array,
  c: number,
  n1: number,
  s2: number,
  s3: number,
  e: Float64Array,
  d: Float64Array,
): void {
  for (let i1 = 0; i1 < n1; i1++) {
    const o = c + i1;
    e[i1] = g[o - s2] + g[o + s2] + g[o - s3] + g[o + s3];
    d[i1] = g[o - s2 - s3] + g[o + s2 - s3] + g[o - s2 + s3] + g[o + s2 + s3];
  }
}

/**
 * `zero3`'s traffic: one store per element.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { zeroWork } from "./stencils.ts";
 * assert.deepEqual(zeroWork(4, 4, 4), { flops: 0, bytes: 512 });
 * ```
 */
export function zeroWork(n1: number, n2: number, n3: number): Work {
  return { flops: 0, bytes: F8 * n1 * n2 * n3 };
}

/**
 * `resid`: r = v − A u on the interior. v and r may be the same array (NPB
 * passes r for both on coarse levels).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grid, resid } from "./stencils.ts";
 * const u = grid(3, 3, 3), v = grid(3, 3, 3), r = grid(3, 3, 3);
 * u.a.fill(1);
 * resid(u, v, r, [-8 / 3, 0, 1 / 6, 1 / 12]);
 * // Constant u: A u = (-8/3 + 12/6 + 8/12)·1 = 0 at the centre.
 * assert.ok(Math.abs(r.a[13]) < 1e-15);
 * ```
 */
export function resid(u: Grid, v: Grid, r: Grid, a: readonly number[]): void {
  const { n1, n2, n3 } = u;
  const U = u.a, V = v.a, R = r.a;
  const a0 = a[0], a2 = a[2], a3 = a[3];
  const u1 = new Float64Array(n1), u2 = new Float64Array(n1);
  const s2 = n1, s3 = n1 * n2;
  for (let i3 = 1; i3 < n3 - 1; i3++) {
    for (let i2 = 1; i2 < n2 - 1; i2++) {
      const c = i2 * s2 + i3 * s3;
      crossSums(U, c, n1, s2, s3, u1, u2);
      for (let i1 = 1; i1 < n1 - 1; i1++) {
        const o = c + i1;
        // a(1) = 0 in every class; NPB drops its term.
        R[o] = V[o] - a0 * U[o] - a2 * (u2[i1] + u1[i1 - 1] + u1[i1 + 1]) -
          a3 * (u2[i1 - 1] + u2[i1 + 1]);
      }
    }
  }
}

/**
 * `resid`'s cost: 6 flops per row point for the partial sums, 9 per interior
 * point; u, v and r each streamed once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { residWork } from "./stencils.ts";
 * assert.deepEqual(residWork(4, 4, 4), { flops: 4 * (6 * 4 + 9 * 2), bytes: 4 * 8 * 8 });
 * ```
 */
export function residWork(n1: number, n2: number, n3: number): Work {
  const rows = Math.max(0, n2 - 2) * Math.max(0, n3 - 2);
  const inner = Math.max(0, n1 - 2);
  return { flops: rows * (6 * n1 + 9 * inner), bytes: rows * F8 * (n1 + 2 * inner) };
}

/**
 * `psinv`: u = u + C r on the interior (c(3) = 0, as NPB assumes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grid, psinv } from "./stencils.ts";
 * const r = grid(3, 3, 3), u = grid(3, 3, 3);
 * r.a[13] = 1;
 * psinv(r, u, [-3 / 8, 1 / 32, -1 / 64, 0]);
 * assert.equal(u.a[13], -3 / 8);
 * ```
 */
export function psinv(r: Grid, u: Grid, c: readonly number[]): void {
  const { n1, n2, n3 } = r;
  const U = u.a, R = r.a;
  const c0 = c[0], c1 = c[1], c2 = c[2];
  const r1 = new Float64Array(n1), r2 = new Float64Array(n1);
  const s2 = n1, s3 = n1 * n2;
  for (let i3 = 1; i3 < n3 - 1; i3++) {
    for (let i2 = 1; i2 < n2 - 1; i2++) {
      const c = i2 * s2 + i3 * s3;
      crossSums(R, c, n1, s2, s3, r1, r2);
      for (let i1 = 1; i1 < n1 - 1; i1++) {
        const o = c + i1;
        U[o] = U[o] + c0 * R[o] + c1 * (R[o - 1] + R[o + 1] + r1[i1]) +
          c2 * (r2[i1] + r1[i1 - 1] + r1[i1 + 1]);
      }
    }
  }
}

/**
 * `psinv`'s cost: 6 flops per row point, 10 per interior point; r read,
 * u read and written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { psinvWork } from "./stencils.ts";
 * assert.deepEqual(psinvWork(3, 3, 3), { flops: 6 * 3 + 10, bytes: 8 * (3 + 2) });
 * ```
 */
export function psinvWork(n1: number, n2: number, n3: number): Work {
  const rows = Math.max(0, n2 - 2) * Math.max(0, n3 - 2);
  const inner = Math.max(0, n1 - 2);
  return { flops: rows * (6 * n1 + 10 * inner), bytes: rows * F8 * (n1 + 2 * inner) };
}

/**
 * `rprj3`: s = P r, the fine grid `r` projected onto the coarse grid `s`
 * (interior of s; its ghosts come from the exchange that follows).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grid, rprj3 } from "./stencils.ts";
 * const r = grid(6, 6, 6), s = grid(4, 4, 4);
 * r.a.fill(1);
 * rprj3(r, s);
 * // Weights 1/2 + 6/4 + 12/8 + 8/16 = 4 for a constant field.
 * assert.equal(s.a[1 + 4 * (1 + 4 * 1)], 4);
 * ```
 */
export function rprj3(r: Grid, s: Grid): void {
  const m1k = r.n1, m2k = r.n2, m3k = r.n3;
  const m1j = s.n1, m2j = s.n2, m3j = s.n3;
  const R = r.a, S = s.a;
  const d1 = m1k === 3 ? 2 : 1, d2 = m2k === 3 ? 2 : 1, d3 = m3k === 3 ? 2 : 1;
  const x1 = new Float64Array(m1k + 1), y1 = new Float64Array(m1k + 1);
  const s2 = m1k, s3 = m1k * m2k;
  // Fortran indices throughout; at(i1, i2, i3) = (i1-1) + s2 (i2-1) + s3 (i3-1).
  const base = -1 - s2 - s3;
  for (let j3 = 2; j3 <= m3j - 1; j3++) {
    const i3 = 2 * j3 - d3;
    for (let j2 = 2; j2 <= m2j - 1; j2++) {
      const i2 = 2 * j2 - d2;
      const c = base + i2 * s2 + i3 * s3;
      for (let j1 = 2; j1 <= m1j; j1++) {
        const i1 = 2 * j1 - d1;
        const o = c + i1 - 1;
        x1[i1 - 1] = R[o - s2] + R[o + s2] + R[o - s3] + R[o + s3];
        y1[i1 - 1] = R[o - s2 - s3] + R[o - s2 + s3] + R[o + s2 - s3] + R[o + s2 + s3];
      }
      const so = (j2 - 1) * m1j + (j3 - 1) * m1j * m2j - 1;
      for (let j1 = 2; j1 <= m1j - 1; j1++) {
        const i1 = 2 * j1 - d1;
        const o = c + i1;
        const y2 = R[o - s2 - s3] + R[o - s2 + s3] + R[o + s2 - s3] + R[o + s2 + s3];
        const x2 = R[o - s2] + R[o + s2] + R[o - s3] + R[o + s3];
        S[so + j1] = 0.5 * R[o] + 0.25 * (R[o - 1] + R[o + 1] + x2) +
          0.125 * (x1[i1 - 1] + x1[i1 + 1] + y2) + 0.0625 * (y1[i1 - 1] + y1[i1 + 1]);
      }
    }
  }
}

/**
 * `rprj3`'s cost for a coarse brick m1j × m2j × m3j: 6 flops per partial sum,
 * 18 per coarse point; the 8 fine points under each coarse point read once,
 * the coarse point written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rprj3Work } from "./stencils.ts";
 * assert.deepEqual(rprj3Work(4, 4, 4), { flops: 4 * (6 * 3 + 18 * 2), bytes: 4 * 9 * 8 * 2 });
 * ```
 */
export function rprj3Work(m1j: number, m2j: number, m3j: number): Work {
  const rows = Math.max(0, m2j - 2) * Math.max(0, m3j - 2);
  const inner = Math.max(0, m1j - 2);
  return { flops: rows * (6 * (m1j - 1) + 18 * inner), bytes: rows * 9 * F8 * inner };
}

/**
 * `interp`: u = u + Q z, the coarse grid `z` interpolated and added to the
 * fine grid `u` (including its ghosts, which the expanding exchange then
 * completes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grid, interp } from "./stencils.ts";
 * const z = grid(4, 4, 4), u = grid(6, 6, 6);
 * z.a.fill(1);
 * interp(z, u);
 * assert.equal(u.a[0], 1); // u(1,1,1) += z(1,1,1)
 * assert.equal(u.a[1 + 6 * (1 + 6)], 1); // u(2,2,2) += (8 neighbours)/8
 * ```
 */
export function interp(z: Grid, u: Grid): void {
  const mm1 = z.n1, mm2 = z.n2, mm3 = z.n3;
  const { n1, n2, n3 } = u;
  const Z = z.a, U = u.a;
  // Fortran indices: zi(i1,i2,i3), ui(i1,i2,i3).
  const zs2 = mm1, zs3 = mm1 * mm2, zb = -1 - zs2 - zs3;
  const us2 = n1, us3 = n1 * n2, ub = -1 - us2 - us3;
  const zi = (i1: number, i2: number, i3: number) => zb + i1 + i2 * zs2 + i3 * zs3;
  const ui = (i1: number, i2: number, i3: number) => ub + i1 + i2 * us2 + i3 * us3;
  if (n1 !== 3 && n2 !== 3 && n3 !== 3) {
    const z1 = new Float64Array(mm1 + 1), z2 = new Float64Array(mm1 + 1);
    const z3 = new Float64Array(mm1 + 1);
    for (let i3 = 1; i3 <= mm3 - 1; i3++) {
      for (let i2 = 1; i2 <= mm2 - 1; i2++) {
        const c = zi(0, i2, i3);
        for (let i1 = 1; i1 <= mm1; i1++) {
          const o = c + i1;
          z1[i1] = Z[o + zs2] + Z[o];
          z2[i1] = Z[o + zs3] + Z[o];
          z3[i1] = Z[o + zs2 + zs3] + Z[o + zs3] + z1[i1];
        }
        let o = ui(0, 2 * i2 - 1, 2 * i3 - 1);
        for (let i1 = 1; i1 <= mm1 - 1; i1++) {
          U[o + 2 * i1 - 1] = U[o + 2 * i1 - 1] + Z[c + i1];
          U[o + 2 * i1] = U[o + 2 * i1] + 0.5 * (Z[c + i1 + 1] + Z[c + i1]);
        }
        o = ui(0, 2 * i2, 2 * i3 - 1);
        for (let i1 = 1; i1 <= mm1 - 1; i1++) {
          U[o + 2 * i1 - 1] = U[o + 2 * i1 - 1] + 0.5 * z1[i1];
          U[o + 2 * i1] = U[o + 2 * i1] + 0.25 * (z1[i1] + z1[i1 + 1]);
        }
        o = ui(0, 2 * i2 - 1, 2 * i3);
        for (let i1 = 1; i1 <= mm1 - 1; i1++) {
          U[o + 2 * i1 - 1] = U[o + 2 * i1 - 1] + 0.5 * z2[i1];
          U[o + 2 * i1] = U[o + 2 * i1] + 0.25 * (z2[i1] + z2[i1 + 1]);
        }
        o = ui(0, 2 * i2, 2 * i3);
        for (let i1 = 1; i1 <= mm1 - 1; i1++) {
          U[o + 2 * i1 - 1] = U[o + 2 * i1 - 1] + 0.25 * z3[i1];
          U[o + 2 * i1] = U[o + 2 * i1] + 0.125 * (z3[i1] + z3[i1 + 1]);
        }
      }
    }
    return;
  }
  // A brick of extent 3 (one owned point) along some axis: shifted index maps.
  const d1 = n1 === 3 ? 2 : 1, t1 = n1 === 3 ? 1 : 0;
  const d2 = n2 === 3 ? 2 : 1, t2 = n2 === 3 ? 1 : 0;
  const d3 = n3 === 3 ? 2 : 1, t3 = n3 === 3 ? 1 : 0;
  const add = (i1: number, i2: number, i3: number, val: number) => {
    const o = ui(i1, i2, i3);
    U[o] = U[o] + val;
  };
  const Zv = (i1: number, i2: number, i3: number) => Z[zi(i1, i2, i3)];
  for (let i3 = d3; i3 <= mm3 - 1; i3++) {
    for (let i2 = d2; i2 <= mm2 - 1; i2++) {
      for (let i1 = d1; i1 <= mm1 - 1; i1++) {
        add(2 * i1 - d1, 2 * i2 - d2, 2 * i3 - d3, Zv(i1, i2, i3));
      }
      for (let i1 = 1; i1 <= mm1 - 1; i1++) {
        add(2 * i1 - t1, 2 * i2 - d2, 2 * i3 - d3, 0.5 * (Zv(i1 + 1, i2, i3) + Zv(i1, i2, i3)));
      }
    }
    for (let i2 = 1; i2 <= mm2 - 1; i2++) {
      for (let i1 = d1; i1 <= mm1 - 1; i1++) {
        add(2 * i1 - d1, 2 * i2 - t2, 2 * i3 - d3, 0.5 * (Zv(i1, i2 + 1, i3) + Zv(i1, i2, i3)));
      }
      for (let i1 = 1; i1 <= mm1 - 1; i1++) {
        add(
          2 * i1 - t1,
          2 * i2 - t2,
          2 * i3 - d3,
          0.25 *
            (Zv(i1 + 1, i2 + 1, i3) + Zv(i1 + 1, i2, i3) + Zv(i1, i2 + 1, i3) + Zv(i1, i2, i3)),
        );
      }
    }
  }
  for (let i3 = 1; i3 <= mm3 - 1; i3++) {
    for (let i2 = d2; i2 <= mm2 - 1; i2++) {
      for (let i1 = d1; i1 <= mm1 - 1; i1++) {
        add(2 * i1 - d1, 2 * i2 - d2, 2 * i3 - t3, 0.5 * (Zv(i1, i2, i3 + 1) + Zv(i1, i2, i3)));
      }
      for (let i1 = 1; i1 <= mm1 - 1; i1++) {
        add(
          2 * i1 - t1,
          2 * i2 - d2,
          2 * i3 - t3,
          0.25 *
            (Zv(i1 + 1, i2, i3 + 1) + Zv(i1, i2, i3 + 1) + Zv(i1 + 1, i2, i3) + Zv(i1, i2, i3)),
        );
      }
    }
    for (let i2 = 1; i2 <= mm2 - 1; i2++) {
      for (let i1 = d1; i1 <= mm1 - 1; i1++) {
        add(
          2 * i1 - d1,
          2 * i2 - t2,
          2 * i3 - t3,
          0.25 *
            (Zv(i1, i2 + 1, i3 + 1) + Zv(i1, i2, i3 + 1) + Zv(i1, i2 + 1, i3) + Zv(i1, i2, i3)),
        );
      }
      for (let i1 = 1; i1 <= mm1 - 1; i1++) {
        add(
          2 * i1 - t1,
          2 * i2 - t2,
          2 * i3 - t3,
          0.125 * (Zv(i1 + 1, i2 + 1, i3 + 1) + Zv(i1 + 1, i2, i3 + 1) + Zv(i1, i2 + 1, i3 + 1) +
            Zv(i1, i2, i3 + 1) + Zv(i1 + 1, i2 + 1, i3) + Zv(i1 + 1, i2, i3) + Zv(i1, i2 + 1, i3) +
            Zv(i1, i2, i3)),
        );
      }
    }
  }
}

/**
 * `interp`'s cost for coarse brick mm1 × mm2 × mm3 and fine extents n1 × n2 × n3:
 * per loop of the branch NPB takes, its flops, 16 bytes per fine update and
 * 8 per coarse value read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { interpWork } from "./stencils.ts";
 * // One coarse cell: 4 partial sums for 2 points, then 19 flops, 8 fine points.
 * assert.deepEqual(interpWork(2, 2, 2, 4, 4, 4), { flops: 4 * 2 + 19, bytes: 8 * 16 + 8 * 8 });
 * ```
 */
export function interpWork(
  mm1: number,
  mm2: number,
  mm3: number,
  n1: number,
  n2: number,
  n3: number,
): Work {
  const c = (lo: number, hi: number) => Math.max(0, hi - lo + 1);
  if (n1 !== 3 && n2 !== 3 && n3 !== 3) {
    const rows = c(1, mm2 - 1) * c(1, mm3 - 1);
    const cells = c(1, mm1 - 1);
    return {
      flops: rows * (4 * mm1 + 19 * cells),
      bytes: rows * (8 * 16 * cells + F8 * 4 * mm1),
    };
  }
  const d1 = n1 === 3 ? 2 : 1, d2 = n2 === 3 ? 2 : 1, d3 = n3 === 3 ? 2 : 1;
  const a1 = c(d1, mm1 - 1), b1 = c(1, mm1 - 1);
  const a2 = c(d2, mm2 - 1), b2 = c(1, mm2 - 1);
  const a3 = c(d3, mm3 - 1), b3 = c(1, mm3 - 1);
  // (updates, flops per update, coarse values read per update) of the eight loops.
  const loops: [number, number, number][] = [
    [a3 * a2 * a1, 1, 1],
    [a3 * a2 * b1, 3, 2],
    [a3 * b2 * a1, 3, 2],
    [a3 * b2 * b1, 5, 4],
    [b3 * a2 * a1, 3, 2],
    [b3 * a2 * b1, 5, 4],
    [b3 * b2 * a1, 5, 4],
    [b3 * b2 * b1, 9, 8],
  ];
  let flops = 0, bytes = 0;
  for (const [n, f, reads] of loops) {
    flops += n * f;
    bytes += n * (16 + F8 * reads);
  }
  return { flops, bytes };
}

/**
 * The local part of `norm2u3`: Σ r² and max |r| over the interior.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grid, localNorms } from "./stencils.ts";
 * const r = grid(3, 3, 3);
 * r.a[13] = -2;
 * assert.deepEqual(localNorms(r), { sum: 4, max: 2 });
 * ```
 */
export function localNorms(r: Grid): { sum: number; max: number } {
  const { n1, n2, n3 } = r;
  const R = r.a;
  let s = 0, mx = 0;
  for (let i3 = 1; i3 < n3 - 1; i3++) {
    for (let i2 = 1; i2 < n2 - 1; i2++) {
      const c = i2 * n1 + i3 * n1 * n2;
      for (let i1 = 1; i1 < n1 - 1; i1++) {
        const x = R[c + i1];
        s = s + x * x;
        const a = Math.abs(x);
        if (a > mx) mx = a;
      }
    }
  }
  return { sum: s, max: mx };
}

/**
 * `norm2u3`'s local cost: 2 flops and one load per interior point.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normWork } from "./stencils.ts";
 * assert.deepEqual(normWork(4, 4, 4), { flops: 16, bytes: 64 });
 * ```
 */
export function normWork(n1: number, n2: number, n3: number): Work {
  const pts = Math.max(0, n1 - 2) * Math.max(0, n2 - 2) * Math.max(0, n3 - 2);
  return { flops: 2 * pts, bytes: F8 * pts };
}
