/**
 * SP's problem classes, reference values and multi-partition cell layout,
 * as NPB 3.4-MPI defines them (sys/setparams.c `write_sp_info`,
 * SP/verify.f90, common/get_active_nprocs.f90 kind 1, SP/make_set.f90,
 * SP/define.f90 `compute_buffer_size`, SP/sp_data.f90 `alloc_space`).
 *
 * @module
 */
import type { NormReference } from "../cfd/verify.ts";
import type { NasClass } from "../kernel.ts";

/**
 * One SP class: an n³ grid, `niter` ADI steps of time step `dt`
 * (setparams.c `write_sp_info`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SP_CLASSES } from "./params.ts";
 * assert.deepEqual(SP_CLASSES.S, { n: 12, niter: 100, dt: 0.015 });
 * ```
 */
export interface SpClass {
  n: number;
  niter: number;
  dt: number;
}

/**
 * SP's classes S, W, A, B, C.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SP_CLASSES } from "./params.ts";
 * assert.equal(SP_CLASSES.W.n, 36);
 * assert.equal(SP_CLASSES.B.dt, 0.001);
 * ```
 */
export const SP_CLASSES: Readonly<Record<"S" | "W" | "A" | "B" | "C", SpClass>> = {
  S: { n: 12, niter: 100, dt: 0.015 },
  W: { n: 36, niter: 400, dt: 0.0015 },
  A: { n: 64, niter: 400, dt: 0.0015 },
  B: { n: 102, niter: 400, dt: 0.001 },
  C: { n: 162, niter: 400, dt: 0.00067 },
};

/**
 * NPB's reference values (SP/verify.f90): RMS norms of the residual
 * (`xcr`, divided by dt) and of the solution error (`xce`), and the time
 * step they were computed with (`dt`, verify.f90's dtref).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SP_REFERENCE } from "./params.ts";
 * assert.equal(SP_REFERENCE.S.xcr[0], 2.7470315451339479e-02);
 * assert.equal(SP_REFERENCE.A.dt, 1.5e-3);
 * ```
 */
export const SP_REFERENCE: Readonly<Record<"S" | "W" | "A" | "B" | "C", NormReference>> = {
  S: {
    dt: 1.5e-2,
    xcr: [
      2.7470315451339479e-02,
      1.0360746705285417e-02,
      1.6235745065095532e-02,
      1.5840557224455615e-02,
      3.4849040609362460e-02,
    ],
    xce: [
      2.7289258557377227e-05,
      1.0364446640837285e-05,
      1.6154798287166471e-05,
      1.5750704994480102e-05,
      3.4177666183390531e-05,
    ],
  },
  W: {
    dt: 1.5e-3,
    xcr: [
      0.1893253733584e-02,
      0.1717075447775e-03,
      0.2778153350936e-03,
      0.2887475409984e-03,
      0.3143611161242e-02,
    ],
    xce: [
      0.7542088599534e-04,
      0.6512852253086e-05,
      0.1049092285688e-04,
      0.1128838671535e-04,
      0.1212845639773e-03,
    ],
  },
  A: {
    dt: 1.5e-3,
    xcr: [
      2.4799822399300195e0,
      1.1276337964368832e0,
      1.5028977888770491e0,
      1.4217816211695179e0,
      2.1292113035138280e0,
    ],
    xce: [
      1.0900140297820550e-04,
      3.7343951769282091e-05,
      5.0092785406541633e-05,
      4.7671093939528255e-05,
      1.3621613399213001e-04,
    ],
  },
  B: {
    dt: 1.0e-3,
    xcr: [
      0.6903293579998e+02,
      0.3095134488084e+02,
      0.4103336647017e+02,
      0.3864769009604e+02,
      0.5643482272596e+02,
    ],
    xce: [
      0.9810006190188e-02,
      0.1022827905670e-02,
      0.1720597911692e-02,
      0.1694479428231e-02,
      0.1847456263981e-01,
    ],
  },
  C: {
    dt: 0.67e-3,
    xcr: [
      0.5881691581829e+03,
      0.2454417603569e+03,
      0.3293829191851e+03,
      0.3081924971891e+03,
      0.4597223799176e+03,
    ],
    xce: [
      0.2598120500183e+00,
      0.2590888922315e-01,
      0.5132886416320e-01,
      0.4806073419454e-01,
      0.5483377491301e+00,
    ],
  },
};

/**
 * SP's verification tolerance (verify.f90: epsilon = 1.0d-08).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SP_EPSILON } from "./params.ts";
 * assert.equal(SP_EPSILON, 1e-8);
 * ```
 */
export const SP_EPSILON = 1e-8;

/**
 * The cells of an SP process grid (make_set.f90): `ncells` = √np cells per
 * process, numbered 0 … ncells−1 (NPB's c − 1). All coordinates are
 * NPB's 1-based cell coordinates; `low`/`high` are 0-based global grid
 * indices of a cell's first and last point.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeSet } from "./params.ts";
 * const s = makeSet(12, 2, 3); // rank 3 of 4: cells (2,2,1) and (1,1,2)
 * assert.deepEqual(s.coord, [[2, 2, 1], [1, 1, 2]]);
 * assert.deepEqual(s.slice[0], [1, 0]); // x-coordinate 1 is cell 1, 2 is cell 0
 * assert.deepEqual(s.predecessor, [2, 1, 0]);
 * assert.deepEqual(s.successor, [2, 1, 0]);
 * assert.deepEqual([s.size[0], s.low[0], s.high[0]], [[6, 6, 6], [6, 6, 0], [11, 11, 5]]);
 * ```
 */
export interface CellSet {
  ncells: number;
  /** `coord[c][d]`: cell c's coordinate (1 … ncells) along direction d. */
  coord: number[][];
  /** `slice[d][n]`: the cell whose coordinate along d is n + 1. */
  slice: number[][];
  /** The rank that holds the next / previous cell along each direction (periodically). */
  predecessor: number[];
  successor: number[];
  /** `size[c][d]`, `low[c][d]`, `high[c][d]`. */
  size: number[][];
  low: number[][];
  high: number[][];
}

/**
 * make_set.f90 for process `node` of an `ncells`² grid of processes over
 * an n³ grid: the doubly cyclic multi-partition.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeSet } from "./params.ts";
 * const s = makeSet(36, 5, 0); // 36 points over 5 cells: 8, 7, 7, 7, 7
 * assert.deepEqual(s.size.map((z) => z[0]).sort(), [7, 7, 7, 7, 8]);
 * ```
 */
export function makeSet(n: number, ncells: number, node: number): CellSet {
  const p = ncells;
  const coord: number[][] = [[node % p, Math.floor(node / p), 0]];
  for (let c = 1; c < p; c++) {
    const q = coord[c - 1];
    coord.push([(q[0] + 1) % p, (q[1] - 1 + p) % p, c]);
  }
  for (const q of coord) for (let d = 0; d < 3; d++) q[d]++;
  const slice = [0, 1, 2].map((d) => {
    const s = new Array<number>(p);
    for (let c = 0; c < p; c++) s[coord[c][d] - 1] = c;
    return s;
  });
  const i = coord[0][0] - 1, j = coord[0][1] - 1;
  const predecessor = [
    (i - 1 + p) % p + p * j,
    i + p * ((j - 1 + p) % p),
    (i + 1) % p + p * ((j - 1 + p) % p),
  ];
  const successor = [
    (i + 1) % p + p * j,
    i + p * ((j + 1) % p),
    (i - 1 + p) % p + p * ((j + 1) % p),
  ];
  const size: number[][] = [], low: number[][] = [], high: number[][] = [];
  for (let c = 0; c < p; c++) {
    size.push([]);
    low.push([]);
    high.push([]);
    for (let d = 0; d < 3; d++) {
      const base = Math.floor(n / p), excess = n % p, at = coord[c][d];
      if (at <= excess) {
        size[c][d] = base + 1;
        low[c][d] = (at - 1) * (base + 1);
        high[c][d] = low[c][d] + base;
      } else {
        size[c][d] = base;
        low[c][d] = excess * (base + 1) + (at - excess - 1) * base;
        high[c][d] = low[c][d] + base - 1;
      }
    }
  }
  return { ncells, coord, slice, predecessor, successor, size, low, high };
}

/**
 * The cells per direction of `np` processes (make_set.f90: the square
 * root, with a small number added for roundoff).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spCells } from "./params.ts";
 * assert.deepEqual([1, 4, 9, 16, 17].map(spCells), [1, 2, 3, 4, 4]);
 * ```
 */
export function spCells(np: number): number {
  return Math.floor(Math.sqrt(np + 0.00001));
}

/**
 * Why `np` processes cannot run SP class `cls` (undefined when they can),
 * in NPB's words: get_active_nprocs (kind 1) needs a square number of
 * processes, make_set at least 3 points per cell and direction.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spCheckNp } from "./params.ts";
 * assert.equal(spCheckNp(4, "S"), undefined);
 * assert.equal(spCheckNp(8, "S"),
 *   "SP: *** ERROR determining processor topology for 8 processes: Expecting a square number of processes (such as 4)");
 * assert.match(spCheckNp(25, "S")!, /Cell size too small\. Min size is 3/);
 * assert.equal(spCheckNp(25, "A"), undefined);
 * ```
 */
export function spCheckNp(np: number, cls: NasClass): string | undefined {
  const c = SP_CLASSES[cls as keyof typeof SP_CLASSES];
  if (!c) return `SP has no class ${cls} here (S, W, A, B, C)`;
  if (!Number.isInteger(np) || np < 1) return `SP needs a whole number of processes (got ${np})`;
  const side = Math.floor(Math.sqrt(np + 1e-3));
  if (side * side !== np) {
    return `SP: *** ERROR determining processor topology for ${np} processes: Expecting a square number of processes (such as ${
      side * side
    })`;
  }
  if (Math.floor(c.n / side) <= 2) {
    return `SP class ${cls} on ${np} processes: Error: Cell size too small. Min size is 3 (${c.n} points over ${side} cells)`;
  }
  return undefined;
}

/**
 * The face buffers of copy_faces (define.f90 `compute_buffer_size(5)`): how
 * many doubles go to and come from each neighbour, and where each
 * direction's part starts in `in_buffer` / `out_buffer` (0-based; the same
 * offsets on both sides). Order of the parts: west, east, south, north,
 * bottom, top.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { faceSizes, makeSet } from "./params.ts";
 * const f = faceSizes(makeSet(12, 2, 0));
 * // one cell of 6 x 6 x 6 points faces each neighbour: 6·6·5·2 doubles
 * assert.deepEqual([f.west, f.east, f.south, f.north, f.bottom, f.top], [360, 360, 360, 360, 360, 360]);
 * assert.deepEqual([f.startWest, f.startEast, f.startTop], [0, 360, 1800]);
 * ```
 */
export interface FaceSizes {
  west: number;
  east: number;
  south: number;
  north: number;
  bottom: number;
  top: number;
  startWest: number;
  startEast: number;
  startSouth: number;
  startNorth: number;
  startBottom: number;
  startTop: number;
}

/**
 * compute_buffer_size(5) for a cell set (see {@link FaceSizes}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { faceSizes, makeSet } from "./params.ts";
 * assert.equal(faceSizes(makeSet(12, 1, 0)).east, 0); // one process: no faces
 * ```
 */
export function faceSizes(s: CellSet): FaceSizes {
  const f: FaceSizes = {
    west: 0,
    east: 0,
    south: 0,
    north: 0,
    bottom: 0,
    top: 0,
    startWest: 0,
    startEast: 0,
    startSouth: 0,
    startNorth: 0,
    startBottom: 0,
    startTop: 0,
  };
  if (s.ncells === 1) return f;
  for (let c = 0; c < s.ncells; c++) {
    const [n1, n2, n3] = s.size[c], [x, y, z] = s.coord[c];
    const fx = n2 * n3 * 10, fy = n1 * n3 * 10, fz = n1 * n2 * 10;
    if (x !== 1) f.west += fx;
    if (x !== s.ncells) f.east += fx;
    if (y !== 1) f.south += fy;
    if (y !== s.ncells) f.north += fy;
    if (z !== 1) f.bottom += fz;
    if (z !== s.ncells) f.top += fz;
  }
  f.startEast = f.startWest + f.west;
  f.startSouth = f.startEast + f.east;
  f.startNorth = f.startSouth + f.south;
  f.startBottom = f.startNorth + f.north;
  f.startTop = f.startBottom + f.bottom;
  return f;
}

/**
 * sp_data.f90 `alloc_space`: the length in doubles of `in_buffer` and
 * `out_buffer`, MAX_CELL_DIM²·(maxcells − 1)·60·2 + 1 with MAX_CELL_DIM =
 * n / maxcells + 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bufSize } from "./params.ts";
 * assert.equal(bufSize(64, 4), 17 * 17 * 3 * 120 + 1);
 * assert.equal(bufSize(12, 1), 1);
 * ```
 */
export function bufSize(n: number, ncells: number): number {
  const m = Math.floor(n / ncells) + 1;
  return m * m * (ncells - 1) * 60 * 2 + 1;
}
