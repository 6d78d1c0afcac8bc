/**
 * LU's problem classes, reference values and process grid, as NPB 3.4-MPI
 * defines them (LU/verify.f90, sys/setparams.c `write_lu_info`,
 * common/get_active_nprocs.f90 kind 2, LU/proc_grid.f90, LU/neighbors.f90,
 * LU/subdomain.f90).
 *
 * @module
 */
import type { NasClass } from "../kernel.ts";

/**
 * One LU class: an n³ grid, `itmax` SSOR iterations of pseudo-time step
 * `dt` (setparams.c `write_lu_info`; ω = 1.2, inorm = itmax).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LU_CLASSES } from "./params.ts";
 * assert.deepEqual(LU_CLASSES.S, { n: 12, itmax: 50, dt: 0.5 });
 * ```
 */
export interface LuClass {
  n: number;
  itmax: number;
  dt: number;
}

/**
 * LU's classes S, W, A, B.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LU_CLASSES } from "./params.ts";
 * assert.equal(LU_CLASSES.W.dt, 1.5e-3);
 * assert.equal(LU_CLASSES.B.n, 102);
 * ```
 */
export const LU_CLASSES: Readonly<Record<"S" | "W" | "A" | "B", LuClass>> = {
  S: { n: 12, itmax: 50, dt: 0.5 },
  W: { n: 33, itmax: 300, dt: 1.5e-3 },
  A: { n: 64, itmax: 250, dt: 2.0 },
  B: { n: 102, itmax: 250, dt: 2.0 },
};

/**
 * NPB's reference values (LU/verify.f90): RMS norms of the residual
 * (`xcr`), of the solution error (`xce`), and the surface integral (`xci`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LU_REFERENCE } from "./params.ts";
 * assert.equal(LU_REFERENCE.S.xci, 7.8418928865937083);
 * assert.equal(LU_REFERENCE.A.xcr.length, 5);
 * ```
 */
export const LU_REFERENCE: Readonly<
  Record<"S" | "W" | "A" | "B", { xcr: readonly number[]; xce: readonly number[]; xci: number }>
> = {
  S: {
    xcr: [
      1.6196343210976702e-02,
      2.1976745164821318e-03,
      1.5179927653399185e-03,
      1.5029584435994323e-03,
      3.4264073155896461e-02,
    ],
    xce: [
      6.4223319957960924e-04,
      8.4144342047347926e-05,
      5.8588269616485186e-05,
      5.8474222595157350e-05,
      1.3103347914111294e-03,
    ],
    xci: 7.8418928865937083e+00,
  },
  W: {
    xcr: [
      0.1236511638192e+02,
      0.1317228477799e+01,
      0.2550120713095e+01,
      0.2326187750252e+01,
      0.2826799444189e+02,
    ],
    xce: [
      0.4867877144216e+00,
      0.5064652880982e-01,
      0.9281818101960e-01,
      0.8570126542733e-01,
      0.1084277417792e+01,
    ],
    xci: 0.1161399311023e+02,
  },
  A: {
    xcr: [
      7.7902107606689367e+02,
      6.3402765259692870e+01,
      1.9499249727292479e+02,
      1.7845301160418537e+02,
      1.8384760349464247e+03,
    ],
    xce: [
      2.9964085685471943e+01,
      2.8194576365003349e+00,
      7.3473412698774742e+00,
      6.7139225687777051e+00,
      7.0715315688392578e+01,
    ],
    xci: 2.6030925604886277e+01,
  },
  B: {
    xcr: [
      3.5532672969982736e+03,
      2.6214750795310692e+02,
      8.8333721850952190e+02,
      7.7812774739425265e+02,
      7.3087969592545314e+03,
    ],
    xce: [
      1.1401176380212709e+02,
      8.1098963655421574e+00,
      2.8480597317698308e+01,
      2.5905394567832939e+01,
      2.6054907504857413e+02,
    ],
    xci: 4.7887162703308227e+01,
  },
};

/**
 * LU's verification tolerance (verify.f90: epsilon = 1.0d-08).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LU_EPSILON } from "./params.ts";
 * assert.equal(LU_EPSILON, 1e-8);
 * ```
 */
export const LU_EPSILON = 1e-8;

/**
 * The active process count `get_active_nprocs` (kind 2) finds for
 * `nprocs`: the largest n1·n2 ≤ nprocs with n1/2 ≤ n2 ≤ n1, preferring
 * powers of two. NPB aborts when it is not `nprocs` (NPB_NPROCS_STRICT's
 * default).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { activeProcs } from "./params.ts";
 * assert.deepEqual([1, 2, 4, 6, 8, 12, 16].map(activeProcs), [1, 2, 4, 6, 8, 12, 16]);
 * assert.equal(activeProcs(5), 4);
 * assert.equal(activeProcs(7), 6);
 * ```
 */
export function activeProcs(nprocs: number): number {
  const l = Math.floor(Math.log(nprocs + 1e-3) / Math.log(2));
  const e2 = Math.floor(l / 2);
  let npa = 2 ** (l - e2) * 2 ** e2;
  if (npa < nprocs) {
    const lo = Math.floor(Math.sqrt(nprocs + 1e-3)), hi = Math.floor(Math.sqrt(2 * nprocs + 1e-3));
    for (let n = lo; n <= hi; n++) {
      let npaw = Math.floor(nprocs / n) * n;
      if (n === 1 && nprocs === 3) npaw = 2;
      if (npaw > npa) npa = npaw;
    }
  }
  return npa;
}

/** proc_grid.f90 `isqrt2`: the xdim of a near-square factorisation (−1 if none). */
function isqrt2(i: number): number {
  if (i <= 0) return -1;
  let xdim = 1, square = 0;
  while (square <= i) {
    square = xdim * xdim;
    if (square === i) return xdim;
    xdim++;
  }
  xdim--;
  let ydim = Math.floor(i / xdim);
  while (xdim * ydim !== i && 2 * ydim >= xdim) {
    xdim++;
    ydim = Math.floor(i / xdim);
  }
  return xdim * ydim !== i || 2 * ydim < xdim ? -1 : xdim;
}

/**
 * The xdim × ydim process grid of proc_grid.f90 (xdim along i, the
 * faster-varying rank coordinate), or why there is none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { procGrid } from "./params.ts";
 * assert.deepEqual(procGrid(16), { xdim: 4, ydim: 4 });
 * assert.deepEqual(procGrid(8), { xdim: 4, ydim: 2 });
 * assert.deepEqual(procGrid(6), { xdim: 3, ydim: 2 });
 * assert.equal(typeof procGrid(5), "string");
 * ```
 */
export function procGrid(num: number): { xdim: number; ydim: number } | string {
  const xdiv = isqrt2(num);
  if (xdiv <= 0) return `could not determine proper proc_grid for nprocs=${num}`;
  const xdim0 = xdiv, ydim0 = Math.floor(num / xdiv);
  let ydim = Math.floor(Math.sqrt(num) + 0.001);
  let xdim = Math.floor(num / ydim);
  while (ydim >= ydim0 && xdim * ydim !== num) {
    ydim--;
    xdim = Math.floor(num / ydim);
  }
  if (xdim < xdim0 || ydim < ydim0 || xdim * ydim !== num) {
    return `could not determine proper proc_grid for nprocs=${num}`;
  }
  return { xdim, ydim };
}

/**
 * One process's part of the grid (neighbors.f90, subdomain.f90): its row
 * and column in the process grid, its neighbours (−1 at a physical
 * boundary), its local extents and offsets, and the 1-based local ranges
 * of interior points it updates.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { subdomain } from "./params.ts";
 * const s = subdomain(12, 12, 12, 2, 2, 3); // rank 3 of a 2 x 2 grid
 * assert.deepEqual([s.row, s.col, s.north, s.south, s.west, s.east], [2, 2, 2, -1, 1, -1]);
 * assert.deepEqual([s.nx, s.ny, s.ipt, s.jpt], [6, 6, 6, 6]);
 * assert.deepEqual([s.ist, s.iend, s.jst, s.jend], [1, 5, 1, 5]);
 * ```
 */
export interface Subdomain {
  row: number;
  col: number;
  north: number;
  south: number;
  east: number;
  west: number;
  nx: number;
  ny: number;
  nz: number;
  ipt: number;
  jpt: number;
  ist: number;
  iend: number;
  jst: number;
  jend: number;
}

/**
 * The subdomain of rank `id` on an xdim × ydim grid (see {@link Subdomain}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { subdomain } from "./params.ts";
 * // 33 points over 3 rows: 11 each; row 1 starts at the boundary
 * const s = subdomain(33, 33, 33, 3, 1, 0);
 * assert.deepEqual([s.nx, s.ipt, s.ist, s.north, s.south], [11, 0, 2, -1, 1]);
 * ```
 */
export function subdomain(
  nx0: number,
  ny0: number,
  nz0: number,
  xdim: number,
  ydim: number,
  id: number,
): Subdomain {
  const row = (id % xdim) + 1, col = Math.floor(id / xdim) + 1;
  const north = row > 1 ? id - 1 : -1, south = row < xdim ? id + 1 : -1;
  const west = col > 1 ? id - xdim : -1, east = col < ydim ? id + xdim : -1;
  const split = (n0: number, parts: number, at: number): [number, number] => {
    const mm = n0 % parts, base = Math.floor(n0 / parts);
    return at <= mm ? [base + 1, (at - 1) * (base + 1)] : [base, (at - 1) * base + mm];
  };
  const [nx, ipt] = split(nx0, xdim, row), [ny, jpt] = split(ny0, ydim, col);
  return {
    row,
    col,
    north,
    south,
    east,
    west,
    nx,
    ny,
    nz: nz0,
    ipt,
    jpt,
    ist: north === -1 ? 2 : 1,
    iend: south === -1 ? nx - 1 : nx,
    jst: west === -1 ? 2 : 1,
    jend: east === -1 ? ny - 1 : ny,
  };
}

/**
 * Why `np` processes cannot run LU class `cls` (undefined when they can):
 * NPB needs n1·n2 processes with n1/2 ≤ n2 ≤ n1 and at least 3 points per
 * process in each direction.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { luCheckNp } from "./params.ts";
 * assert.equal(luCheckNp(4, "S"), undefined);
 * assert.equal(luCheckNp(6, "S"), undefined); // 3 x 2
 * assert.match(luCheckNp(5, "S")!, /n1\*n2/);
 * assert.match(luCheckNp(64, "S")!, /too small/); // 12 / 8 < 3
 * ```
 */
export function luCheckNp(np: number, cls: NasClass): string | undefined {
  const c = LU_CLASSES[cls as keyof typeof LU_CLASSES];
  if (!c) return `LU has no class ${cls} here (S, W, A, B)`;
  if (!Number.isInteger(np) || np < 1) return `LU needs a whole number of processes (got ${np})`;
  const npa = activeProcs(np);
  if (npa !== np) {
    return `LU needs a number of processes of the form n1*n2 with n1/2 <= n2 <= n1 (got ${np}, such as ${npa})`;
  }
  const g = procGrid(np);
  if (typeof g === "string") return `LU: ${g}`;
  if (Math.floor(c.n / g.xdim) < 3 || Math.floor(c.n / g.ydim) < 3) {
    return `LU class ${cls}: subdomain too small on a ${g.xdim} x ${g.ydim} process grid (needs 3 points per process and direction)`;
  }
  return undefined;
}
