/**
 * MG's problem classes as NPB 3.4 defines them (sys/setparams.c,
 * `write_mg_info`, and MG/mg.f90): a periodic grid of nx³ points, `nit`
 * V-cycles, the stencil coefficients (the residual operator A and the
 * smoother S(a) for classes S, W, A or S(b) for B and above) and the
 * published L2 norm of the final residual, to be met to a relative 1e-8.
 *
 * @module
 */
import type { NasClass } from "../kernel.ts";

/**
 * One MG class.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MG_CLASSES } from "./params.ts";
 * assert.equal(MG_CLASSES.A!.nx, 256);
 * assert.equal(MG_CLASSES.A!.lt, 8);
 * ```
 */
export interface MgParams {
  /** Grid points per dimension (nx = ny = nz). */
  nx: number;
  /** log2(nx): the number of grid levels (`lt`). */
  lt: number;
  /** V-cycles (`nit`). */
  nit: number;
  /** NPB's reference L2 norm of the final residual (`verify_value`). */
  verifyValue: number;
  /** Residual operator coefficients a(0..3). */
  a: readonly [number, number, number, number];
  /** Smoother coefficients c(0..3). */
  c: readonly [number, number, number, number];
}

const A_COEF = [-8.0 / 3.0, 0.0, 1.0 / 6.0, 1.0 / 12.0] as const;
/** The S(a) smoother (classes S, W, A). */
const SA = [-3.0 / 8.0, 1.0 / 32.0, -1.0 / 64.0, 0.0] as const;
/** The S(b) smoother (class B and above). */
const SB = [-3.0 / 17.0, 1.0 / 33.0, -1.0 / 61.0, 0.0] as const;

/**
 * The classes xenib runs (NPB also has C–F).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MG_CLASSES } from "./params.ts";
 * assert.deepEqual(Object.keys(MG_CLASSES), ["S", "W", "A", "B"]);
 * assert.equal(MG_CLASSES.B!.c[0], -3 / 17);
 * ```
 */
export const MG_CLASSES: Partial<Record<NasClass, MgParams>> = {
  S: { nx: 32, lt: 5, nit: 4, verifyValue: 0.5307707005734e-04, a: A_COEF, c: SA },
  W: { nx: 128, lt: 7, nit: 4, verifyValue: 0.6467329375339e-05, a: A_COEF, c: SA },
  A: { nx: 256, lt: 8, nit: 4, verifyValue: 0.2433365309069e-05, a: A_COEF, c: SA },
  B: { nx: 256, lt: 8, nit: 20, verifyValue: 0.1800564401355e-05, a: A_COEF, c: SB },
};

/**
 * NPB's verification tolerance on the L2 norm (relative).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MG_EPSILON } from "./params.ts";
 * assert.equal(MG_EPSILON, 1e-8);
 * ```
 */
export const MG_EPSILON = 1e-8;

/**
 * NPB's operation count for MG in Mop: 58 · nit · nx·ny·nz · 1e-6.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MG_CLASSES, mgMop } from "./params.ts";
 * assert.equal(mgMop(MG_CLASSES.S!), 58 * 1e-6 * 4 * 32 ** 3);
 * ```
 */
export function mgMop(p: MgParams): number {
  return 58.0 * 1.0e-6 * p.nit * p.nx * p.nx * p.nx;
}

/**
 * NPB's check of the L2 norm: |rnm2 − ref| / ref ≤ 1e-8 (and not NaN).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MG_CLASSES, verifyNorm } from "./params.ts";
 * const p = MG_CLASSES.S!;
 * assert.equal(verifyNorm(p, p.verifyValue).verified, true);
 * assert.equal(verifyNorm(p, p.verifyValue * (1 + 1e-7)).verified, false);
 * ```
 */
export function verifyNorm(p: MgParams, rnm2: number): { verified: boolean; err: number } {
  const err = Math.abs(rnm2 - p.verifyValue) / p.verifyValue;
  return { verified: !Number.isNaN(err) && err <= MG_EPSILON, err };
}
