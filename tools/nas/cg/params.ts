/**
 * CG's problem classes as NPB 3.4 defines them (sys/setparams.c,
 * `write_cg_info`, and the verification values of CG/cg.f90): matrix order
 * `na`, nonzeros per generated sparse vector `nonzer`, outer (inverse power)
 * iterations `niter`, eigenvalue shift `shift`, condition number `rcond`
 * (0.1 for every class) and the published ζ the run must reproduce to a
 * relative 1e-10.
 *
 * @module
 */
import type { NasClass } from "../kernel.ts";

/**
 * One CG class.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CG_CLASSES } from "./params.ts";
 * const s = CG_CLASSES.S!;
 * assert.equal(s.na, 1400);
 * assert.equal(s.zetaVerify, 8.5971775078648);
 * ```
 */
export interface CgParams {
  /** Order of the matrix (`na`). */
  na: number;
  /** Nonzeros per random sparse vector (`nonzer`). */
  nonzer: number;
  /** Outer iterations of the inverse power method (`niter`). */
  niter: number;
  /** Diagonal shift λ (`shift`). */
  shift: number;
  /** Condition number of the generated matrix (`rcond`). */
  rcond: number;
  /** NPB's reference ζ (`zeta_verify_value`). */
  zetaVerify: number;
}

/**
 * The classes xenib runs (NPB also has C–F; they would need hours of
 * simulated messages and gigabytes of matrix per rank).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CG_CLASSES } from "./params.ts";
 * assert.deepEqual(Object.keys(CG_CLASSES), ["S", "W", "A", "B"]);
 * assert.equal(CG_CLASSES.B!.niter, 75);
 * ```
 */
export const CG_CLASSES: Partial<Record<NasClass, CgParams>> = {
  S: { na: 1400, nonzer: 7, niter: 15, shift: 10, rcond: 0.1, zetaVerify: 8.5971775078648 },
  W: { na: 7000, nonzer: 8, niter: 15, shift: 12, rcond: 0.1, zetaVerify: 10.362595087124 },
  A: { na: 14000, nonzer: 11, niter: 15, shift: 20, rcond: 0.1, zetaVerify: 17.130235054029 },
  B: { na: 75000, nonzer: 13, niter: 75, shift: 60, rcond: 0.1, zetaVerify: 22.712745482631 },
};

/**
 * CG's inner conjugate-gradient iterations per outer iteration (`cgitmax`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CGITMAX } from "./params.ts";
 * assert.equal(CGITMAX, 25);
 * ```
 */
export const CGITMAX = 25;

/**
 * NPB's verification tolerance on ζ (relative).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CG_EPSILON } from "./params.ts";
 * assert.equal(CG_EPSILON, 1e-10);
 * ```
 */
export const CG_EPSILON = 1e-10;

/**
 * NPB's operation count for CG, in Mop (cg.f90's `mflops` numerator):
 * 2·niter·na·(3 + nonzer(nonzer+1) + 25(5 + nonzer(nonzer+1)) + 3) · 1e-6.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CG_CLASSES, cgMop } from "./params.ts";
 * // Class S: 2·15·1400·(3 + 56 + 25·61 + 3)·1e-6
 * assert.equal(cgMop(CG_CLASSES.S!), 2 * 15 * 1400 * (3 + 56 + 25 * 61 + 3) * 1e-6);
 * ```
 */
export function cgMop(p: CgParams): number {
  const nn = p.nonzer * (p.nonzer + 1);
  return 1.0e-6 * 2 * p.niter * p.na * (3 + nn + 25 * (5 + nn) + 3);
}

/**
 * NPB's check of ζ: |ζ − ζ_ref| / ζ_ref ≤ 1e-10 (and not NaN).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CG_CLASSES, verifyZeta } from "./params.ts";
 * const p = CG_CLASSES.S!;
 * assert.equal(verifyZeta(p, p.zetaVerify).verified, true);
 * assert.equal(verifyZeta(p, p.zetaVerify * (1 + 1e-9)).verified, false);
 * assert.equal(verifyZeta(p, NaN).verified, false);
 * ```
 */
export function verifyZeta(p: CgParams, zeta: number): { verified: boolean; err: number } {
  const err = Math.abs(zeta - p.zetaVerify) / p.zetaVerify;
  return { verified: !Number.isNaN(err) && err <= CG_EPSILON, err };
}
