/**
 * BT's problem classes, reference values and multi-partition cell layout,
 * as NPB 3.4-MPI defines them (sys/setparams.c `write_bt_info`,
 * BT/verify.f90, common/get_active_nprocs.f90 kind 1, BT/setup_mpi.f90,
 * BT/make_set.f90, BT/define.f90 `compute_buffer_size`).
 *
 * @module
 */
import type { NormReference } from "../cfd/verify.ts";
import type { NasClass } from "../kernel.ts";

/**
 * One BT class: an n³ grid, `niter` ADI time steps of size `dt`
 * (setparams.c `write_bt_info`: problem_size, niter_default, dt_default).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BT_CLASSES } from "./params.ts";
 * assert.deepEqual(BT_CLASSES.S, { n: 12, niter: 60, dt: 0.01 });
 * ```
 */
export interface BtClass {
  n: number;
  niter: number;
  dt: number;
}

/**
 * The classes of this build.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BT_CLASSES, type BtClassName } from "./params.ts";
 * const c: BtClassName = "C";
 * assert.equal(BT_CLASSES[c].n, 162);
 * ```
 */
export type BtClassName = "S" | "W" | "A" | "B" | "C";

/**
 * BT's classes S, W, A, B, C.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BT_CLASSES } from "./params.ts";
 * assert.equal(BT_CLASSES.W.n, 24);
 * assert.equal(BT_CLASSES.B.dt, 3e-4);
 * ```
 */
export const BT_CLASSES: Readonly<Record<BtClassName, BtClass>> = {
  S: { n: 12, niter: 60, dt: 0.010 },
  W: { n: 24, niter: 200, dt: 0.0008 },
  A: { n: 64, niter: 200, dt: 0.0008 },
  B: { n: 102, niter: 200, dt: 0.0003 },
  C: { n: 162, niter: 200, dt: 0.0001 },
};

/**
 * NPB's reference values (BT/verify.f90, iotype 0): RMS norms of the
 * residual (`xcr`) and of the solution error (`xce`), and the time step
 * they were computed with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BT_REFERENCE } from "./params.ts";
 * assert.equal(BT_REFERENCE.S.xcr[0], 1.7034283709541311e-01);
 * assert.equal(BT_REFERENCE.A.dt, 0.8e-3);
 * ```
 */
export const BT_REFERENCE: Readonly<
  Record<BtClassName, NormReference>
> = {
  S: {
    dt: 1.0e-2,
    xcr: [
      1.7034283709541311e-01,
      1.2975252070034097e-02,
      3.2527926989486055e-02,
      2.6436421275166801e-02,
      1.9211784131744430e-01,
    ],
    xce: [
      4.9976913345811579e-04,
      4.5195666782961927e-05,
      7.3973765172921357e-05,
      7.3821238632439731e-05,
      8.9269630987491446e-04,
    ],
  },
  W: {
    dt: 0.8e-3,
    xcr: [
      0.1125590409344e+03,
      0.1180007595731e+02,
      0.2710329767846e+02,
      0.2469174937669e+02,
      0.2638427874317e+03,
    ],
    xce: [
      0.4419655736008e+01,
      0.4638531260002e+00,
      0.1011551749967e+01,
      0.9235878729944e+00,
      0.1018045837718e+02,
    ],
  },
  A: {
    dt: 0.8e-3,
    xcr: [
      1.0806346714637264e+02,
      1.1319730901220813e+01,
      2.5974354511582465e+01,
      2.3665622544678910e+01,
      2.5278963211748344e+02,
    ],
    xce: [
      4.2348416040525025e+00,
      4.4390282496995698e-01,
      9.6692480136345650e-01,
      8.8302063039765474e-01,
      9.7379901770829278e+00,
    ],
  },
  B: {
    dt: 3.0e-4,
    xcr: [
      1.4233597229287254e+03,
      9.9330522590150238e+01,
      3.5646025644535285e+02,
      3.2485447959084092e+02,
      3.2707541254659363e+03,
    ],
    xce: [
      5.2969847140936856e+01,
      4.4632896115670668e+00,
      1.3122573342210174e+01,
      1.2006925323559144e+01,
      1.2459576151035986e+02,
    ],
  },
  C: {
    dt: 1.0e-4,
    xcr: [
      0.62398116551764615e+04,
      0.50793239190423964e+03,
      0.15423530093013596e+04,
      0.13302387929291190e+04,
      0.11604087428436455e+05,
    ],
    xce: [
      0.16462008369091265e+03,
      0.11497107903824313e+02,
      0.41207446207461508e+02,
      0.37087651059694167e+02,
      0.36211053051841265e+03,
    ],
  },
};

/**
 * BT's verification tolerance (verify.f90: epsilon = 1.0d-08).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BT_EPSILON } from "./params.ts";
 * assert.equal(BT_EPSILON, 1e-8);
 * ```
 */
export const BT_EPSILON = 1e-8;

/**
 * √np as get_active_nprocs (kind 1) and make_set compute it: the number
 * of cells per process and of processes along each side of the grid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { btCells } from "./params.ts";
 * assert.deepEqual([1, 4, 8, 9, 16].map(btCells), [1, 2, 2, 3, 4]);
 * ```
 */
export function btCells(np: number): number {
  return Math.floor(Math.sqrt(np + 1e-3));
}

/**
 * Why `np` processes cannot run BT class `cls` (undefined when they can):
 * NPB needs a square number of processes (get_active_nprocs kind 1, whose
 * two lines become one here) and at least 3 points per cell in each
 * direction (make_set.f90).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { btCheckNp } from "./params.ts";
 * assert.equal(btCheckNp(4, "S"), undefined);
 * assert.equal(
 *   btCheckNp(8, "S"),
 *   "*** ERROR determining processor topology for 8 processes: Expecting a square number of processes (such as 4)",
 * );
 * assert.match(btCheckNp(25, "S")!, /Cell size too small/);
 * ```
 */
export function btCheckNp(np: number, cls: NasClass): string | undefined {
  const c = BT_CLASSES[cls as BtClassName];
  if (!c) return `BT has no class ${cls} here (S, W, A, B, C)`;
  if (!Number.isInteger(np) || np < 1) return `BT needs a whole number of processes (got ${np})`;
  const p = btCells(np);
  if (p * p !== np) {
    // get_active_nprocs.f90 formats 100 and 110, on one line.
    return `*** ERROR determining processor topology for ${np} processes: Expecting a square number of processes (such as ${
      p * p
    })`;
  }
  if (Math.floor(c.n / p) <= 2) {
    // make_set.f90 format 50.
    return `Error: Cell size too small. Min size is 3 (class ${cls}: ${c.n} points over ${p} cells)`;
  }
  return undefined;
}

/**
 * One cell of a process (make_set.f90, lhsinit's start/end): 0-based
 * arrays by direction (x, y, z).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeSet } from "./params.ts";
 * const set = makeSet(12, 4, 0);
 * assert.deepEqual(set.cells[0].coord, [1, 1, 1]);
 * assert.deepEqual(set.cells[0].size, [6, 6, 6]);
 * ```
 */
export interface BtCell {
  /** cell_coord: 1 … ncells in each direction. */
  coord: [number, number, number];
  /** cell_size. */
  size: [number, number, number];
  /** cell_low: global index of the cell's first point. */
  low: [number, number, number];
  /** cell_high. */
  high: [number, number, number];
  /** start: 1 at the grid's low boundary (the boundary point is not solved). */
  start: [number, number, number];
  /** end: 1 at the grid's high boundary. */
  end: [number, number, number];
}

/**
 * A process's set of cells (make_set.f90): ncells cells, one per z-layer,
 * laid out diagonally so that each process owns one cell in every plane of
 * every direction; `slice[d][s]` is the cell in stage s (0-based) along
 * direction d; predecessor / successor are the processes holding the
 * neighbouring cells in each direction (periodic, as NPB fills them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeSet } from "./params.ts";
 * const s = makeSet(12, 4, 0); // rank 0 of a 2 x 2 layout
 * assert.deepEqual(s.cells.map((c) => c.coord), [[1, 1, 1], [2, 2, 2]]);
 * assert.deepEqual(s.successor, [1, 2, 3]);
 * assert.deepEqual(s.predecessor, [1, 2, 3]);
 * assert.equal(s.maxCellDim, 7);
 * ```
 */
export interface BtSet {
  ncells: number;
  cells: BtCell[];
  /** slice[d][stage]: index into `cells` of the cell in plane `stage` along d. */
  slice: number[][];
  predecessor: [number, number, number];
  successor: [number, number, number];
  /** MAX_CELL_DIM = problem_size / maxcells + 1 (bt_data.f90 alloc_space). */
  maxCellDim: number;
}

/**
 * make_set.f90 for rank `node` of `np` processes on an n³ grid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeSet } from "./params.ts";
 * const s = makeSet(24, 9, 4); // the middle process of 3 x 3
 * assert.deepEqual(s.cells.map((c) => c.size), [[8, 8, 8], [8, 8, 8], [8, 8, 8]]);
 * assert.deepEqual(s.cells[0].low, [8, 8, 0]);
 * ```
 */
export function makeSet(n: number, np: number, node: number): BtSet {
  const p = btCells(np);
  const coords: [number, number, number][] = [[node % p, Math.floor(node / p), 0]];
  for (let c = 1; c < p; c++) {
    const [a, b] = coords[c - 1];
    coords.push([(a + 1) % p, (b - 1 + p) % p, c]);
  }
  const slice = [0, 1, 2].map(() => new Array<number>(p).fill(0));
  for (let c = 0; c < p; c++) for (let d = 0; d < 3; d++) slice[d][coords[c][d]] = c;
  const i = coords[0][0], j = coords[0][1];
  const predecessor: [number, number, number] = [
    (i - 1 + p) % p + p * j,
    i + p * ((j - 1 + p) % p),
    (i + 1) % p + p * ((j - 1 + p) % p),
  ];
  const successor: [number, number, number] = [
    (i + 1) % p + p * j,
    i + p * ((j + 1) % p),
    (i - 1 + p) % p + p * ((j + 1) % p),
  ];
  const size = Math.floor(n / p), excess = n % p;
  const cells = coords.map((c0): BtCell => {
    const coord = c0.map((x) => x + 1) as [number, number, number];
    const cs = [0, 0, 0] as [number, number, number];
    const low = [0, 0, 0] as [number, number, number];
    for (let d = 0; d < 3; d++) {
      if (coord[d] <= excess) {
        cs[d] = size + 1;
        low[d] = (coord[d] - 1) * (size + 1);
      } else {
        cs[d] = size;
        low[d] = excess * (size + 1) + (coord[d] - excess - 1) * size;
      }
    }
    return {
      coord,
      size: cs,
      low,
      high: [low[0] + cs[0] - 1, low[1] + cs[1] - 1, low[2] + cs[2] - 1],
      start: coord.map((x) => x === 1 ? 1 : 0) as [number, number, number],
      end: coord.map((x) => x === p ? 1 : 0) as [number, number, number],
    };
  });
  return { ncells: p, cells, slice, predecessor, successor, maxCellDim: Math.floor(n / p) + 1 };
}

/**
 * compute_buffer_size (define.f90) with dim = 5: the doubles copy_faces
 * sends in each direction (east, west, north, south, top, bottom), the
 * sum over this process's cells that have a neighbour that way, and the
 * offsets of each direction's part of the buffers (0-based).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { faceSizes, makeSet } from "./params.ts";
 * const f = faceSizes(makeSet(12, 4, 0));
 * assert.deepEqual(f.size, { east: 360, west: 360, north: 360, south: 360, top: 360, bottom: 360 });
 * assert.deepEqual(f.offset, { west: 0, east: 360, south: 720, north: 1080, bottom: 1440, top: 1800 });
 * ```
 */
export function faceSizes(set: BtSet): {
  size: Record<"east" | "west" | "north" | "south" | "top" | "bottom", number>;
  offset: Record<"east" | "west" | "north" | "south" | "top" | "bottom", number>;
} {
  const p = set.ncells;
  const s = { east: 0, west: 0, north: 0, south: 0, top: 0, bottom: 0 };
  for (const c of set.cells) {
    const [n1, n2, n3] = c.size;
    const fx = n2 * n3 * 10, fy = n1 * n3 * 10, fz = n1 * n2 * 10;
    if (c.coord[0] !== 1) s.west += fx;
    if (c.coord[0] !== p) s.east += fx;
    if (c.coord[1] !== 1) s.south += fy;
    if (c.coord[1] !== p) s.north += fy;
    if (c.coord[2] !== 1) s.bottom += fz;
    if (c.coord[2] !== p) s.top += fz;
  }
  const west = 0, east = west + s.west, south = east + s.east, north = south + s.south;
  const bottom = north + s.north, top = bottom + s.bottom;
  return { size: s, offset: { west, east, south, north, bottom, top } };
}
