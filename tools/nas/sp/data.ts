/**
 * One process's SP state (NPB 3.4 SP/sp_data.f90, set_constants.f90,
 * exact_solution.f90): its cells, the fields of each cell, the constants
 * of the discretisation, the three communicators (comm_setup, comm_solve,
 * comm_rhs), the message buffers, and the work charged per loop nest.
 *
 * A cell's fields have two ghost layers on every side: point (i, j, k)
 * (0-based inside the cell, −2 … size+1 with ghosts) is `pt(i, j, k)`;
 * scalars (us, vs, ws, qs, rho_i, speed, square, ainv) are at `pt`,
 * 5-vectors (u, rhs, forcing) at `5·pt + m` and the 15 diagonals of the
 * three penta-diagonal factors (lhs) at `15·pt + n` (m, n 0-based, NPB's
 * m − 1 and n − 1). In model mode the fields are empty: nothing is
 * computed, only charged.
 *
 * @module
 */
import type { Comm, MpiBuffer } from "../../../mpi/mod.ts";
import { SetConstants } from "../cfd/constants.ts";
import { bufSize, type CellSet, type FaceSizes, faceSizes, type SpClass } from "./params.ts";

/**
 * Work per point of each loop nest (flops of the loop body, a division or
 * square root counted as one; bytes of main memory traffic), charged with
 * `comm.compute` in real and model runs alike, counted from the loop
 * bodies of NPB's SP. Per grid point and step — compute_rhs 17 + 3 × (92
 * + 45) + 5, txinvr 27, lhsx/y/z 3 × 31, the three line solves 3 × 78,
 * ninvr + pinvr + tzetar 45, add 5: 837 — it is close to NPB's own count
 * (881 per point, sp.f90's Mop/s formula).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SP_WORK as W } from "./data.ts";
 * const perPoint = W.primitives.flops + 3 * (W.flux.flops + W.dissipation.flops) +
 *   W.scale.flops + W.txinvr.flops + 3 * W.lhs.flops +
 *   3 * (W.forward.flops + W.backward.flops) + 2 * W.invr.flops + W.tzetar.flops + W.scale.flops;
 * assert.equal(perPoint, 837);
 * ```
 */
export const SP_WORK = {
  /** compute_rhs: 1/ρ, velocities, ½|m|²/ρ, q, speed of sound and its inverse. */
  primitives: { flops: 17, bytes: 104 },
  /** rhs ← forcing (one point, 5 components). */
  copy: { flops: 0, bytes: 80 },
  /** One direction's flux differences at one point (5 components). */
  flux: { flops: 92, bytes: 200 },
  /** One direction's fourth-difference dissipation at one point (5 components). */
  dissipation: { flops: 45, bytes: 80 },
  /** rhs ← rhs · dt, or add's u ← u + rhs. */
  scale: { flops: 5, bytes: 80 },
  /** txinvr: the block-diagonal product of one point. */
  txinvr: { flops: 27, bytes: 160 },
  /** lhsx/y/z at one point: the three factors' five diagonals and dissipation. */
  lhs: { flops: 31, bytes: 160 },
  /** Forward elimination of one point (the five right-hand sides). */
  forward: { flops: 58, bytes: 200 },
  /** Back substitution of one point. */
  backward: { flops: 20, bytes: 120 },
  /** The unpacking of one line's received forward data (two points). */
  unpackForward: { flops: 66, bytes: 176 },
  /** The unpacking of one line's received back-substitution data (two points). */
  unpackBackward: { flops: 40, bytes: 80 },
  /** ninvr or pinvr at one point. */
  invr: { flops: 9, bytes: 80 },
  /** tzetar at one point. */
  tzetar: { flops: 27, bytes: 120 },
  /** A double packed into or unpacked from a message buffer. */
  pack: { flops: 0, bytes: 16 },
  /** The exact solution (exact_solution.f90): three quartics by Horner, 5 components. */
  exact: { flops: 130, bytes: 40 },
  /** initialize.f90's transfinite interpolation at one point (six exact values and the blend). */
  interpolate: { flops: 6 * 130 + 5 * 18, bytes: 40 },
  /** exact_rhs per line point: the exact solution and its primitive values. */
  exactLine: { flops: 130 + 16, bytes: 80 },
  /** exact_rhs per point and direction: the flux differences and dissipation. */
  forcing: { flops: 120, bytes: 120 },
  /** lhsinit: zero 15 diagonals and set three to one. */
  lhsinit: { flops: 0, bytes: 120 },
  /** A sum of squares for an RMS norm (5 components). */
  norm: { flops: 10, bytes: 40 },
} as const;

/**
 * One cell of a process: its sizes, place and fields.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SpCell } from "./data.ts";
 * const c = new SpCell([6, 6, 6], [0, 6, 0], [1, 2, 1], 2, true);
 * assert.deepEqual([c.start, c.end], [[1, 0, 1], [0, 1, 0]]);
 * assert.equal(c.pt(-2, -2, -2), 0);
 * assert.equal(c.pt(0, 0, 0), 2 + 10 * 2 + 100 * 2);
 * assert.equal(c.u.length, 5 * 1000);
 * ```
 */
export class SpCell {
  /** Strides of j and k in `pt` (i's is 1). */
  readonly sy: number;
  readonly sz: number;
  /** 1 where the cell touches the low / high physical boundary along a direction (lhsinit). */
  readonly start: number[];
  readonly end: number[];
  readonly u: Float64Array;
  readonly rhs: Float64Array;
  readonly forcing: Float64Array;
  readonly lhs: Float64Array;
  readonly us: Float64Array;
  readonly vs: Float64Array;
  readonly ws: Float64Array;
  readonly qs: Float64Array;
  readonly rhoI: Float64Array;
  readonly speed: Float64Array;
  readonly square: Float64Array;
  readonly ainv: Float64Array;

  /**
   * @param size points along each direction
   * @param low global index of the first point along each direction
   * @param coord the cell's 1-based coordinates
   * @param ncells cells per direction
   * @param real whether to hold fields (false: model mode)
   */
  constructor(
    readonly size: readonly number[],
    readonly low: readonly number[],
    readonly coord: readonly number[],
    ncells: number,
    real: boolean,
  ) {
    this.sy = size[0] + 4;
    this.sz = this.sy * (size[1] + 4);
    this.start = coord.map((x) => x === 1 ? 1 : 0);
    this.end = coord.map((x) => x === ncells ? 1 : 0);
    const n = real ? this.sz * (size[2] + 4) : 0;
    this.u = new Float64Array(5 * n);
    this.rhs = new Float64Array(5 * n);
    this.forcing = new Float64Array(5 * n);
    this.lhs = new Float64Array(15 * n);
    this.us = new Float64Array(n);
    this.vs = new Float64Array(n);
    this.ws = new Float64Array(n);
    this.qs = new Float64Array(n);
    this.rhoI = new Float64Array(n);
    this.speed = new Float64Array(n);
    this.square = new Float64Array(n);
    this.ainv = new Float64Array(n);
  }

  /** Index of point (i, j, k) (0-based in the cell, ghosts at −2, −1, size, size+1). */
  pt(i: number, j: number, k: number): number {
    return i + 2 + this.sy * (j + 2) + this.sz * (k + 2);
  }

  /** Stride of `pt` along direction d (0: i, 1: j, 2: k). */
  stride(d: number): number {
    return d === 0 ? 1 : d === 1 ? this.sy : this.sz;
  }

  /** Interior points (NPB's start … cell_size − end − 1 in every direction). */
  interior(): number {
    let n = 1;
    for (let d = 0; d < 3; d++) n *= this.size[d] - this.start[d] - this.end[d];
    return n;
  }

  /** All points of the cell (no ghosts). */
  points(): number {
    return this.size[0] * this.size[1] * this.size[2];
  }
}

/**
 * One process's SP state: cells, constants (set_constants.f90),
 * communicators and buffers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SpState } from "./data.ts";
 * import { makeSet } from "./params.ts";
 * const comm = { size: 1, rank: 0, compute: async () => 0, alloc: () => undefined } as never;
 * const g = new SpState({ n: 12, niter: 100, dt: 0.015 }, makeSet(12, 1, 0), true, comm, comm, comm);
 * assert.equal(g.cells.length, 1);
 * assert.equal(g.bt, Math.sqrt(0.5));
 * assert.equal(g.comz6, 6 * 0.015 * 0.25);
 * ```
 */
export class SpState extends SetConstants {
  readonly dt: number;
  readonly ncells: number;
  readonly cells: SpCell[];
  readonly faces: FaceSizes;
  // set_constants.f90's own (the shared ones: SetConstants)
  readonly bt = Math.sqrt(0.5);
  /** dxmax, dymax, dzmax. */
  readonly dmax: number[];
  /** dttx1/dtty1/dttz1, dttx2/…, c2dttx1/… by direction. */
  readonly dtt1: number[];
  readonly dtt2: number[];
  readonly c2dtt1: number[];
  readonly comz1: number;
  readonly comz4: number;
  readonly comz5: number;
  readonly comz6: number;
  readonly c2iv = 2.5;
  /** in_buffer and out_buffer (sp_data.f90), in the rank's memory. */
  readonly inBuf: MpiBuffer<"float64">;
  readonly outBuf: MpiBuffer<"float64">;

  /**
   * @param cls the class (grid, dt)
   * @param set this process's cells (make_set)
   * @param real whether to compute (false: charge only; the fields are empty)
   * @param setup comm_setup (norms, timing)
   * @param solve comm_solve (the line solves)
   * @param rhsComm comm_rhs (copy_faces)
   */
  constructor(
    cls: SpClass,
    readonly set: CellSet,
    readonly real: boolean,
    readonly setup: Comm,
    readonly solve: Comm,
    readonly rhsComm: Comm,
  ) {
    super(cls.n);
    this.dt = cls.dt;
    this.ncells = set.ncells;
    this.cells = set.coord.map((coord, c) =>
      new SpCell(set.size[c], set.low[c], coord, set.ncells, real)
    );
    this.faces = faceSizes(set);
    const dt = this.dt;
    const dd = this.dd;
    this.dmax = [
      Math.max(dd[0][2], dd[0][3]),
      Math.max(dd[1][1], dd[1][3]),
      Math.max(dd[2][1], dd[2][2]),
    ];
    this.dtt1 = this.t1.map((t) => dt * t);
    this.dtt2 = this.t2.map((t) => dt * t);
    this.c2dtt1 = this.dtt1.map((t) => 2.0 * t);
    const dtdssp = dt * this.dssp;
    this.comz1 = dtdssp;
    this.comz4 = 4.0 * dtdssp;
    this.comz5 = 5.0 * dtdssp;
    this.comz6 = 6.0 * dtdssp;
    const len = bufSize(this.n, this.ncells);
    this.inBuf = rhsComm.alloc(len, "float64");
    this.outBuf = rhsComm.alloc(len, "float64");
  }

  /**
   * Count `points` × the work of one loop-nest body. Counted work is
   * charged (one `comm.compute` for all of it) by {@link flush}, which
   * runs before every MPI call: the work between two MPI calls is one
   * piece of computation, as in NPB.
   */
  work(w: { flops: number; bytes: number }, points: number): void {
    if (points <= 0) return;
    this.#flops += w.flops * points;
    this.#bytes += w.bytes * points;
  }

  /** Charge the work counted since the last MPI call. */
  async flush(): Promise<void> {
    const flops = this.#flops, bytes = this.#bytes;
    this.#flops = this.#bytes = 0;
    if (flops > 0 || bytes > 0) await this.setup.compute({ flops, bytes });
  }

  #flops = 0;
  #bytes = 0;
}
