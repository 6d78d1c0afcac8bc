/**
 * The first loop nest of compute_rhs that NPB's BT and SP share (NPB
 * 3.4-MPI BT/rhs.f90 and SP/rhs.f90): from the conserved variables u the
 * primitive ones at one point — 1/ρ (rho_i), the velocities (us, vs, ws),
 * ½|ρv|²/ρ (square) and ½|v|² (qs). SP goes on to the speed of sound.
 *
 * @module
 */

/**
 * A cell's fields the primitive-variable loop reads (u: five components
 * per point) and writes (one value per point).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PrimitiveFields } from "./rhs.ts";
 * const f = (n: number) => new Float64Array(n);
 * const c: PrimitiveFields = { u: f(5), rhoI: f(1), us: f(1), vs: f(1), ws: f(1), square: f(1), qs: f(1) };
 * assert.equal(c.u.length, 5);
 * ```
 */
export interface PrimitiveFields {
  readonly u: Float64Array;
  readonly rhoI: Float64Array;
  readonly us: Float64Array;
  readonly vs: Float64Array;
  readonly ws: Float64Array;
  readonly square: Float64Array;
  readonly qs: Float64Array;
}

/**
 * rhs.f90's primitive variables at point `p` (u's components at 5·p …
 * 5·p + 4), with NPB's operations in NPB's order; returns 1/ρ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { primitivesAt } from "./rhs.ts";
 * const f = (n: number) => new Float64Array(n);
 * const c = { u: new Float64Array([0, 0, 0, 0, 0, 2, 2, 4, 6, 9]), rhoI: f(2), us: f(2), vs: f(2), ws: f(2), square: f(2), qs: f(2) };
 * assert.equal(primitivesAt(c, 1), 0.5);
 * assert.deepEqual([c.us[1], c.vs[1], c.ws[1]], [1, 2, 3]);
 * assert.equal(c.square[1], 0.5 * (4 + 16 + 36) * 0.5);
 * assert.equal(c.qs[1], c.square[1] * 0.5);
 * assert.equal(c.rhoI[0], 0);
 * ```
 */
export function primitivesAt(c: PrimitiveFields, p: number): number {
  const { u } = c, q = 5 * p;
  const rhoInv = 1.0 / u[q];
  c.rhoI[p] = rhoInv;
  c.us[p] = u[q + 1] * rhoInv;
  c.vs[p] = u[q + 2] * rhoInv;
  c.ws[p] = u[q + 3] * rhoInv;
  const square = 0.5 * (u[q + 1] * u[q + 1] + u[q + 2] * u[q + 2] + u[q + 3] * u[q + 3]) * rhoInv;
  c.square[p] = square;
  c.qs[p] = square * rhoInv;
  return rhoInv;
}
