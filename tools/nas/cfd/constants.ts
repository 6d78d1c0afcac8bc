/**
 * What NPB's three pseudo-applications BT, SP and LU share of their
 * discretisation (NPB 3.4-MPI BT/set_constants.f90, SP/set_constants.f90,
 * LU/setcoeff.f90, BT and SP exact_solution.f90): the coefficients of the
 * exact solution (ce), the gas constants c1 … c5, and the constants BT and
 * SP derive from them and from the grid size in set_constants.
 *
 * @module
 */

/**
 * ce(5, 13) of set_constants.f90 (BT, SP) and setcoeff.f90 (LU): the
 * coefficients of the exact solution, `CE[m][t]` for component m and term
 * t (0-based).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CE } from "./constants.ts";
 * assert.equal(CE.length, 5);
 * assert.deepEqual(CE[0].slice(0, 4), [2.0, 0.0, 0.0, 4.0]);
 * assert.equal(CE[4][12], 0.2);
 * ```
 */
export const CE: readonly (readonly number[])[] = [
  [2.0, 0.0, 0.0, 4.0, 5.0, 3.0, 0.5, 0.02, 0.01, 0.03, 0.5, 0.4, 0.3],
  [1.0, 0.0, 0.0, 0.0, 1.0, 2.0, 3.0, 0.01, 0.03, 0.02, 0.4, 0.3, 0.5],
  [2.0, 2.0, 0.0, 0.0, 0.0, 2.0, 3.0, 0.04, 0.03, 0.05, 0.3, 0.5, 0.4],
  [2.0, 2.0, 0.0, 0.0, 0.0, 2.0, 3.0, 0.03, 0.05, 0.04, 0.2, 0.1, 0.3],
  [5.0, 4.0, 3.0, 2.0, 0.1, 0.4, 0.3, 0.05, 0.04, 0.03, 0.1, 0.3, 0.2],
];

/**
 * c1 … c5 of set_constants.f90 and setcoeff.f90 (γ = c1 = 1.4, c2 = γ − 1,
 * and the viscous constants).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { C1, C2, C5 } from "./constants.ts";
 * assert.ok(Math.abs(C1 - 1 - C2) < 1e-15);
 * assert.equal(C5, 1.4);
 * ```
 */
export const C1 = 1.4, C2 = 0.4, C3 = 0.1, C4 = 1.0, C5 = 1.4;

/**
 * exact_solution.f90 of BT and SP at (ξ, η, ζ) into `out[o..o+5)`, in
 * NPB's Horner form (the same operations in the same order).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CE, exactSolution } from "./constants.ts";
 * const out = new Float64Array(6);
 * exactSolution(0, 0, 0, out, 1);
 * assert.deepEqual([...out], [0, ...CE.map((c) => c[0])]);
 * exactSolution(1, 0, 0, out, 0);
 * assert.equal(out[0], 2.0 + (0.0 + (5.0 + (0.02 + 0.5))));
 * ```
 */
export function exactSolution(
  xi: number,
  eta: number,
  zeta: number,
  out: Float64Array,
  o: number,
): void {
  for (let m = 0; m < 5; m++) {
    const c = CE[m];
    out[o + m] = c[0] + xi * (c[1] + xi * (c[4] + xi * (c[7] + xi * c[10]))) +
      eta * (c[2] + eta * (c[5] + eta * (c[8] + eta * c[11]))) +
      zeta * (c[3] + zeta * (c[6] + zeta * (c[9] + zeta * c[12])));
  }
}

/**
 * The constants BT's and SP's set_constants.f90 both compute for an n³
 * grid (each benchmark adds its own: BT c1345, SP bt, dmax, dtt*, comz*).
 * BT's and SP's state classes extend it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SetConstants } from "./constants.ts";
 * const k = new SetConstants(12);
 * assert.equal(k.dnm1, 1 / 11);
 * assert.equal(k.t2[0], 1 / (2 * (1 / 11)));
 * assert.equal(k.dssp, 0.25);
 * assert.equal(k.con[2][1], k.c3c4 * k.t3[2] * k.t3[2]);
 * assert.equal(k.ddt1[2][0], 1.0 * k.t1[2]);
 * ```
 */
export class SetConstants {
  readonly n: number;
  readonly c1 = C1;
  readonly c2 = C2;
  readonly c3 = C3;
  readonly c4 = C4;
  readonly c5 = C5;
  /** ce(5, 13), `ce[m][t]` ({@link CE}). */
  readonly ce: readonly (readonly number[])[] = CE;
  /** dnm1 = 1 / (n − 1), the grid spacing. */
  readonly dnm1: number;
  readonly c1c2: number;
  readonly c1c5: number;
  readonly c3c4: number;
  readonly conz1: number;
  /** tx1/ty1/tz1, tx2/…, tx3/… by direction. */
  readonly t1: [number, number, number];
  readonly t2: [number, number, number];
  readonly t3: [number, number, number];
  /** dx1…dx5, dy1…dy5, dz1…dz5 by direction. */
  readonly dd: readonly (readonly number[])[] = [
    [0.75, 0.75, 0.75, 0.75, 0.75],
    [0.75, 0.75, 0.75, 0.75, 0.75],
    [1.0, 1.0, 1.0, 1.0, 1.0],
  ];
  readonly dssp: number;
  readonly con43 = 4.0 / 3.0;
  readonly con16 = 1.0 / 6.0;
  /** xxcon1…5, yycon1…5, zzcon1…5 by direction: `con[d][0..4]`. */
  readonly con: number[][];
  /** dx1tx1 … dz5tz1 by direction: `ddt1[d][m]`. */
  readonly ddt1: number[][];

  /** @param n grid points along each direction */
  constructor(n: number) {
    this.n = n;
    this.dnm1 = 1.0 / (n - 1);
    this.c1c2 = this.c1 * this.c2;
    this.c1c5 = this.c1 * this.c5;
    this.c3c4 = this.c3 * this.c4;
    this.conz1 = 1.0 - this.c1c5;
    const d = this.dnm1;
    const t1 = 1.0 / (d * d), t2 = 1.0 / (2.0 * d), t3 = 1.0 / d;
    this.t1 = [t1, t1, t1];
    this.t2 = [t2, t2, t2];
    this.t3 = [t3, t3, t3];
    const dd = this.dd;
    this.dssp = 0.25 * Math.max(dd[0][0], Math.max(dd[1][0], dd[2][0]));
    this.con = [0, 1, 2].map((dir) => {
      const c34t3 = this.c3c4 * this.t3[dir], t = this.t3[dir];
      return [
        c34t3 * this.con43 * t,
        c34t3 * t,
        c34t3 * this.conz1 * t,
        c34t3 * this.con16 * t,
        c34t3 * this.c1c5 * t,
      ];
    });
    this.ddt1 = [0, 1, 2].map((dir) => dd[dir].map((x) => x * this.t1[dir]));
  }

  /** exact_solution.f90 at (ξ, η, ζ) into `out[o..o+5)` ({@link exactSolution}). */
  exact(xi: number, eta: number, zeta: number, out: Float64Array, o: number): void {
    exactSolution(xi, eta, zeta, out, o);
  }
}
