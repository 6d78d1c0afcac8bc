/**
 * One process's BT state (NPB 3.4 BT/bt_data.f90, set_constants.f90,
 * exact_solution.f90): its set of cells with their fields, the
 * discretisation constants, the exact solution, the buffers of its
 * messages, and the work charged for each loop nest.
 *
 * Every field of a cell lives on one box of points with indices −2 …
 * size+1 in each direction (NPB's arrays use sub-ranges of it): point
 * (i, j, k) is `pt(i, j, k)`, component m (0-based) of a 5-vector at
 * `5·pt + m`, entry (m, n) of a 5 × 5 block (row m, column n) at
 * `25·pt + m + 5·n`. In model mode the fields are empty.
 *
 * @module
 */
import type { Comm, MpiBuffer } from "../../../mpi/mod.ts";
import { chargeNests, type Work } from "../cfd/charge.ts";
import { SetConstants } from "../cfd/constants.ts";
import type { BtCell, BtClass, BtSet } from "./params.ts";

/**
 * Work per point of each loop nest (flops of the loop body, bytes of
 * main-memory traffic), charged with `comm.compute` in real and model
 * runs alike. Counted from NPB's BT loop bodies: one time step costs per
 * point rhs 12 + 3 × (85 + 45) + 5, per direction of the ADI solve 60
 * (flux and viscous Jacobians) + 200 (the three blocks) + 665
 * (matvec_sub 50, matmul_sub 250, binvcrhs 365) + 50 (back substitution),
 * and the update 5: ≈ 3340 against NPB's own count of ≈ 3479 (bt.f90's
 * Mop/s formula).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BT_WORK } from "./grid.ts";
 * const w = BT_WORK;
 * const step = w.rhsPrimitives.flops + 3 * (w.rhsFlux.flops + w.rhsDissipation.flops) +
 *   w.rhsScale.flops + 3 * (w.jacobians.flops + w.blocks.flops + w.eliminate.flops +
 *   w.backsub.flops) + w.add.flops;
 * assert.equal(step, 3337);
 * ```
 */
export const BT_WORK = {
  /** exact_solution: three Horner chains per component. */
  exact: { flops: 130, bytes: 40 },
  /** initialize's transfinite interpolation: six exact values and the blend. */
  interpolate: { flops: 6 * 130 + 5 * 15, bytes: 40 },
  /** exact_rhs per line point: exact values, velocities, kinetic terms. */
  exactLine: { flops: 150, bytes: 80 },
  /** exact_rhs flux differences of one direction. */
  exactFlux: { flops: 90, bytes: 120 },
  /** compute_rhs: 1/ρ, velocities, kinetic energy (ghosts included). */
  rhsPrimitives: { flops: 12, bytes: 88 },
  /** rhs ← forcing. */
  rhsCopy: { flops: 0, bytes: 80 },
  /** Inviscid and viscous flux differences of one direction. */
  rhsFlux: { flops: 85, bytes: 200 },
  /** Fourth-difference dissipation of one direction. */
  rhsDissipation: { flops: 45, bytes: 120 },
  /** rhs ← dt · rhs. */
  rhsScale: { flops: 5, bytes: 80 },
  /** fjac and njac at one line point. */
  jacobians: { flops: 60, bytes: 80 },
  /** lhsa, lhsb, lhsc at one line point. */
  blocks: { flops: 200, bytes: 600 },
  /** matvec_sub, matmul_sub and binvcrhs at one line point. */
  eliminate: { flops: 665, bytes: 800 },
  /** One back-substitution block product. */
  backsub: { flops: 50, bytes: 280 },
  /** add: u ← u + rhs. */
  add: { flops: 5, bytes: 120 },
  /** A sum of squares of five components. */
  norm: { flops: 10, bytes: 40 },
  /** Packing or unpacking one double of a message. */
  copy: { flops: 0, bytes: 16 },
} as const;

/** One unit of work of {@link BT_WORK} (../cfd/charge.ts). */
export type { Work } from "../cfd/charge.ts";

/**
 * A cell's fields (bt_data.f90: u, rhs, forcing, lhsc, backsub_info and
 * compute_rhs's us, vs, ws, qs, rho_i, square) on its box of points.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CellFields } from "./grid.ts";
 * const c = { coord: [1, 1, 1], size: [3, 4, 5], low: [0, 0, 0], high: [2, 3, 4],
 *   start: [1, 1, 1], end: [1, 1, 1] } as const;
 * const f = new CellFields(structuredClone(c) as never, true);
 * assert.equal(f.pt(-2, -2, -2), 0);
 * assert.equal(f.pt(0, 0, 0), 2 + 7 * 2 + 7 * 8 * 2);
 * assert.deepEqual(f.stride, [1, 7, 56]);
 * assert.equal(f.u.length, 5 * 7 * 8 * 9);
 * ```
 */
export class CellFields {
  /** Strides of i, j, k in points. */
  readonly stride: [number, number, number];
  readonly points: number;
  readonly u: Float64Array;
  readonly rhs: Float64Array;
  readonly forcing: Float64Array;
  readonly lhsc: Float64Array;
  readonly rhoI: Float64Array;
  readonly us: Float64Array;
  readonly vs: Float64Array;
  readonly ws: Float64Array;
  readonly qs: Float64Array;
  readonly square: Float64Array;
  /** backsub_info(5, a, b): the neighbour's U at the line ends, by the two cross indices. */
  readonly backsub: Float64Array;

  constructor(readonly cell: BtCell, real: boolean) {
    const [e1, e2, e3] = cell.size.map((s) => s + 4);
    this.stride = [1, e1, e1 * e2];
    this.points = e1 * e2 * e3;
    const n = real ? this.points : 0;
    this.u = new Float64Array(5 * n);
    this.rhs = new Float64Array(5 * n);
    this.forcing = new Float64Array(5 * n);
    this.lhsc = new Float64Array(25 * n);
    this.rhoI = new Float64Array(n);
    this.us = new Float64Array(n);
    this.vs = new Float64Array(n);
    this.ws = new Float64Array(n);
    this.qs = new Float64Array(n);
    this.square = new Float64Array(n);
    const m = Math.max(...cell.size) + 1;
    this.backsub = new Float64Array(real ? 5 * m * m : 0);
  }

  /** Point index of (i, j, k), each −2 … size+1. */
  pt(i: number, j: number, k: number): number {
    return (i + 2) + this.stride[1] * (j + 2) + this.stride[2] * (k + 2);
  }
}

/**
 * One process's BT: its cells, constants, communicators and buffers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BtGrid } from "./grid.ts";
 * import { makeSet } from "./params.ts";
 * const g = new BtGrid({ n: 12, niter: 60, dt: 0.01 }, makeSet(12, 1, 0), true, {} as never);
 * assert.equal(g.cells.length, 1);
 * assert.equal(g.t2[0], 1 / (2 * (1 / 11)));
 * assert.equal(g.dssp, 0.25);
 * ```
 */
export class BtGrid extends SetConstants {
  readonly dt: number;
  readonly ncells: number;
  readonly cells: CellFields[];
  // set_constants.f90's own (the shared ones: SetConstants)
  readonly c1345: number;
  /** comm_solve and comm_rhs (setup_mpi.f90's duplicates of comm_setup). */
  commSolve!: Comm;
  commRhs!: Comm;
  /** in_buffer and out_buffer (bt_data.f90 BUF_SIZE doubles) in the rank's memory. */
  inBuffer!: MpiBuffer<"float64">;
  outBuffer!: MpiBuffer<"float64">;

  /**
   * @param cls the class (grid size, dt)
   * @param set this process's cells
   * @param real whether to compute (false: charge only; the fields are empty)
   * @param comm comm_setup
   */
  constructor(cls: BtClass, readonly set: BtSet, readonly real: boolean, readonly comm: Comm) {
    super(cls.n);
    this.dt = cls.dt;
    this.ncells = set.ncells;
    this.cells = set.cells.map((c) => new CellFields(c, real));
    this.c1345 = this.c1c5 * this.c3c4;
  }

  /** setup_mpi.f90: comm_solve and comm_rhs, two MPI_Comm_dup of comm_setup. */
  async setup(): Promise<void> {
    this.commSolve = (await this.comm.dup()) as Comm;
    this.commRhs = (await this.comm.dup()) as Comm;
  }

  /** alloc_space's in_buffer and out_buffer. */
  allocBuffers(): void {
    const m = this.set.maxCellDim;
    const size = m * m * (this.ncells - 1) * 60 + 1;
    this.inBuffer = this.comm.alloc(size, "float64") as MpiBuffer<"float64">;
    this.outBuffer = this.comm.alloc(size, "float64") as MpiBuffer<"float64">;
  }

  /**
   * Charge several loop nests that run back to back without communication
   * as one piece of work (their flops and bytes summed).
   */
  charge(nests: readonly (readonly [Work, number])[]): Promise<void> {
    return chargeNests(this.comm, nests);
  }
}

/**
 * Points of a cell's interior in the sense of NPB's loops `start …
 * size − end − 1` in every direction.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { interiorPoints } from "./grid.ts";
 * assert.equal(interiorPoints({ size: [6, 6, 6], start: [1, 0, 1], end: [0, 1, 0] } as never), 5 * 5 * 5);
 * ```
 */
export function interiorPoints(c: BtCell): number {
  let n = 1;
  for (let d = 0; d < 3; d++) n *= c.size[d] - c.start[d] - c.end[d];
  return n;
}
