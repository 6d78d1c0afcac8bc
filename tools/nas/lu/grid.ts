/**
 * One process's LU state (NPB 3.4 LU/lu_data.f90, setcoeff.f90): its
 * subdomain, the fields u (solution), rsd (residual), frct (forcing) and
 * flux with two ghost layers in i and j, the 5 × 5 block matrices of one
 * grid line, the discretisation coefficients, and the work charged for
 * each loop nest.
 *
 * Fields are Fortran-ordered like `u(5, -1:nx+2, -1:ny+2, nz)`: component
 * m (0-based) of point (i, j, k) (1-based, ghosts at −1, 0, nx+1, nx+2) is
 * at `at(i, j, k) + m`. In model mode the fields are empty: nothing is
 * computed, only charged.
 *
 * @module
 */
import type { Comm, MpiBuffer } from "../../../mpi/mod.ts";
import { chargeNests, type Work } from "../cfd/charge.ts";
import { CE } from "../cfd/constants.ts";
import type { LuClass, Subdomain } from "./params.ts";

/** c1..c5 of lu_data.f90 (shared with BT and SP: ../cfd/constants.ts). */
export { C1, C2, C3, C4, C5 } from "../cfd/constants.ts";

/**
 * Work per point of each loop nest (flops of the loop body; bytes of main
 * memory traffic), charged with `comm.compute` in real and model runs
 * alike. Counted from the loop bodies of NPB's LU: the per-point total of
 * one SSOR iteration (rhs 3 × 165 + jacld/jacu 2 × 520 + blts/buts 590 +
 * update 15 ≈ 2140) is close to NPB's own operation count (≈ 1820 per
 * point, lu.f90's Mop/s formula).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LU_WORK } from "./grid.ts";
 * const perDirection = LU_WORK.fluxInviscid.flops + LU_WORK.fluxDivergence.flops +
 *   LU_WORK.fluxViscous.flops + LU_WORK.secondDifference.flops + LU_WORK.dissipation.flops;
 * assert.equal(perDirection, 165);
 * ```
 */
export const LU_WORK = {
  /** rsd ← −frct (rhs) or frct ← 0 (erhs), every local point. */
  rhsInit: { flops: 5, bytes: 80 },
  /** Inviscid flux F(u) of one direction. */
  fluxInviscid: { flops: 18, bytes: 80 },
  /** rsd −= t2·(F(i+1) − F(i−1)). */
  fluxDivergence: { flops: 15, bytes: 120 },
  /** Viscous flux differences of one direction. */
  fluxViscous: { flops: 41, bytes: 80 },
  /** rsd += viscous flux divergence and second differences of u. */
  secondDifference: { flops: 41, bytes: 160 },
  /** Fourth-difference artificial dissipation (5 points, 5 components). */
  dissipation: { flops: 50, bytes: 120 },
  /** The exact solution (`exact`): a quartic in each coordinate, 5 components. */
  exact: { flops: 210, bytes: 40 },
  /** setiv's transfinite interpolation: six exact values and the blend. */
  interpolate: { flops: 6 * 210 + 5 * 20, bytes: 40 },
  /** jacld or jacu: the diagonal and three off-diagonal 5 × 5 blocks. */
  jacobians: { flops: 520, bytes: 960 },
  /** blts or buts: three block products and a 5 × 5 solve. */
  sweep: { flops: 295, bytes: 960 },
  /** rsd ← dt · rsd. */
  scale: { flops: 5, bytes: 80 },
  /** u ← u + rsd / (ω(2 − ω)). */
  update: { flops: 10, bytes: 120 },
  /** Sum of squares for an RMS norm. */
  norm: { flops: 10, bytes: 40 },
  /** pintgr's pressure at one surface point. */
  pressure: { flops: 10, bytes: 40 },
} as const;

/**
 * One process's grid, fields and coefficients.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LuGrid } from "./grid.ts";
 * import { subdomain } from "./params.ts";
 * const sub = subdomain(12, 12, 12, 1, 1, 0);
 * const g = new LuGrid({ n: 12, itmax: 50, dt: 0.5 }, sub, true, undefined as never);
 * assert.equal(g.at(-1, -1, 1), 0);
 * assert.equal(g.at(1, 1, 1), 5 * 2 + g.sj * 2);
 * assert.equal(g.u.length, 5 * 16 * 16 * 12);
 * ```
 */
export class LuGrid {
  readonly nx0: number;
  readonly ny0: number;
  readonly nz0: number;
  readonly nx: number;
  readonly ny: number;
  readonly nz: number;
  /** Strides of j and k in a field (i's is 5). */
  readonly sj: number;
  readonly sk: number;
  readonly u: Float64Array;
  readonly rsd: Float64Array;
  readonly frct: Float64Array;
  readonly flux: Float64Array;
  /** The 5 × 5 blocks of one line, `(m, n, i)` at `25·i + m + 5·n`. */
  readonly a: Float64Array;
  readonly b: Float64Array;
  readonly c: Float64Array;
  readonly d: Float64Array;
  /** buts's temporary `tv(5, nx)`. */
  readonly tv: Float64Array;
  // setcoeff.f90
  readonly dxi: number;
  readonly deta: number;
  readonly dzeta: number;
  readonly tx1: number;
  readonly tx2: number;
  readonly tx3: number;
  readonly ty1: number;
  readonly ty2: number;
  readonly ty3: number;
  readonly tz1: number;
  readonly tz2: number;
  readonly tz3: number;
  readonly dx = [0.75, 0.75, 0.75, 0.75, 0.75];
  readonly dy = [0.75, 0.75, 0.75, 0.75, 0.75];
  readonly dz = [1, 1, 1, 1, 1];
  readonly dssp = 0.25;
  readonly omega = 1.2;
  readonly dt: number;
  /** ce(5, 13) of setcoeff.f90: the exact solution's coefficients, `ce[m][t]`. */
  readonly ce: readonly (readonly number[])[] = CE;
  /** Buffers of exchange_3 in the rank's memory (`buf`, `buf1`). */
  buf?: MpiBuffer;
  buf1?: MpiBuffer;

  /**
   * @param cls the class (grid size, dt)
   * @param sub this process's subdomain
   * @param real whether to compute (false: charge only; the fields are empty)
   * @param comm the communicator (`comm_solve`)
   */
  constructor(
    cls: LuClass,
    readonly sub: Subdomain,
    readonly real: boolean,
    readonly comm: Comm,
  ) {
    this.nx0 = this.ny0 = this.nz0 = cls.n;
    this.nx = sub.nx;
    this.ny = sub.ny;
    this.nz = sub.nz;
    this.dt = cls.dt;
    this.sj = 5 * (this.nx + 4);
    this.sk = this.sj * (this.ny + 4);
    const n = real ? this.sk * this.nz : 0;
    this.u = new Float64Array(n);
    this.rsd = new Float64Array(n);
    this.frct = new Float64Array(n);
    this.flux = new Float64Array(n);
    const line = real ? 25 * (this.nx + 2) : 0;
    this.a = new Float64Array(line);
    this.b = new Float64Array(line);
    this.c = new Float64Array(line);
    this.d = new Float64Array(line);
    this.tv = new Float64Array(real ? 5 * (this.nx + 2) : 0);
    this.dxi = 1 / (this.nx0 - 1);
    this.deta = 1 / (this.ny0 - 1);
    this.dzeta = 1 / (this.nz0 - 1);
    this.tx1 = 1 / (this.dxi * this.dxi);
    this.tx2 = 1 / (2 * this.dxi);
    this.tx3 = 1 / this.dxi;
    this.ty1 = 1 / (this.deta * this.deta);
    this.ty2 = 1 / (2 * this.deta);
    this.ty3 = 1 / this.deta;
    this.tz1 = 1 / (this.dzeta * this.dzeta);
    this.tz2 = 1 / (2 * this.dzeta);
    this.tz3 = 1 / this.dzeta;
  }

  /** Index of component 0 of point (i, j, k) in a field. */
  at(i: number, j: number, k: number): number {
    return 5 * (i + 1) + this.sj * (j + 1) + this.sk * (k - 1);
  }

  /** Charge `points` × the work of one loop-nest body. */
  async charge(w: { flops: number; bytes: number }, points: number): Promise<void> {
    await this.chargeAll([[w, points]]);
  }

  /**
   * Charge several loop nests that run back to back without communication
   * as one piece of work (their flops and bytes summed).
   */
  chargeAll(nests: readonly (readonly [Work, number])[]): Promise<void> {
    return chargeNests(this.comm, nests);
  }

  /**
   * The exact solution at global point (i, j, k) (exact.f90) into
   * `out[o..o+5)`.
   */
  exact(i: number, j: number, k: number, out: Float64Array, o: number): void {
    const xi = (i - 1) / (this.nx0 - 1), eta = (j - 1) / (this.ny0 - 1);
    const zeta = (k - 1) / (this.nz - 1);
    for (let m = 0; m < 5; m++) {
      const c = this.ce[m];
      out[o + m] = c[0] + c[1] * xi + c[2] * eta + c[3] * zeta + c[4] * xi * xi +
        c[5] * eta * eta + c[6] * zeta * zeta + c[7] * xi * xi * xi + c[8] * eta * eta * eta +
        c[9] * zeta * zeta * zeta + c[10] * xi * xi * xi * xi + c[11] * eta * eta * eta * eta +
        c[12] * zeta * zeta * zeta * zeta;
    }
  }
}
