/**
 * SP's block-diagonal transformations and update (NPB 3.4 SP/txinvr.f90,
 * ninvr.f90, pinvr.f90, tzetar.f90, add.f90). The diagonalised ADI scheme
 * multiplies the right-hand side by the inverse eigenvector matrix of the
 * ξ flux Jacobian before the ξ solve (txinvr), by N⁻¹ between the ξ and η
 * solves (ninvr), by P⁻¹ between η and ζ (pinvr), and by the ζ eigenvector
 * matrix after the ζ solve (tzetar); `add` then updates u. All act on
 * interior points only. In model mode they only count their work.
 *
 * @module
 */
import { SP_WORK, type SpCell, type SpState } from "./data.ts";
import { forInterior } from "./init.ts";

/**
 * txinvr.f90 on every cell.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { txinvr } from "./invr.ts";
 * assert.equal(typeof txinvr, "function"); // checked against NPB's reference values by the SP tests
 * ```
 */
export function txinvr(g: SpState): void {
  const c2 = g.c2, bt = g.bt;
  for (const c of g.cells) {
    g.work(SP_WORK.txinvr, c.interior());
    if (!g.real) continue;
    const { rhs, rhoI, us, vs, ws, speed, ainv, qs } = c;
    forInterior(c, (p) => {
      const q = 5 * p;
      const ru1 = rhoI[p], uu = us[p], vv = vs[p], ww = ws[p], ac = speed[p];
      const ac2inv = ainv[p] * ainv[p];
      const r1 = rhs[q], r2 = rhs[q + 1], r3 = rhs[q + 2], r4 = rhs[q + 3], r5 = rhs[q + 4];
      const t1 = c2 * ac2inv * (qs[p] * r1 - uu * r2 - vv * r3 - ww * r4 + r5);
      const t2 = bt * ru1 * (uu * r1 - r2);
      const t3 = (bt * ru1 * ac) * t1;
      rhs[q] = r1 - t1;
      rhs[q + 1] = -ru1 * (ww * r1 - r4);
      rhs[q + 2] = ru1 * (vv * r1 - r3);
      rhs[q + 3] = -t2 + t3;
      rhs[q + 4] = t2 + t3;
    });
  }
}

/**
 * ninvr.f90 (after the ξ solve, `d` 0), pinvr.f90 (after η, 1) or
 * tzetar.f90 (after ζ, 2) on cell `c`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { invert } from "./invr.ts";
 * assert.equal(typeof invert, "function"); // checked against NPB's reference values by the SP tests
 * ```
 */
export function invert(g: SpState, c: SpCell, d: number): void {
  g.work(d === 2 ? SP_WORK.tzetar : SP_WORK.invr, c.interior());
  if (!g.real) return;
  const { rhs } = c, bt = g.bt;
  if (d === 0) {
    forInterior(c, (p) => {
      const q = 5 * p;
      const r1 = rhs[q], r2 = rhs[q + 1], r3 = rhs[q + 2], r4 = rhs[q + 3], r5 = rhs[q + 4];
      const t1 = bt * r3, t2 = 0.5 * (r4 + r5);
      rhs[q] = -r2;
      rhs[q + 1] = r1;
      rhs[q + 2] = bt * (r4 - r5);
      rhs[q + 3] = -t1 + t2;
      rhs[q + 4] = t1 + t2;
    });
  } else if (d === 1) {
    forInterior(c, (p) => {
      const q = 5 * p;
      const r1 = rhs[q], r2 = rhs[q + 1], r3 = rhs[q + 2], r4 = rhs[q + 3], r5 = rhs[q + 4];
      const t1 = bt * r1, t2 = 0.5 * (r4 + r5);
      rhs[q] = bt * (r4 - r5);
      rhs[q + 1] = -r3;
      rhs[q + 2] = r2;
      rhs[q + 3] = -t1 + t2;
      rhs[q + 4] = t1 + t2;
    });
  } else {
    const { us, vs, ws, speed, ainv, u, qs } = c, c2iv = g.c2iv;
    forInterior(c, (p) => {
      const q = 5 * p;
      const xvel = us[p], yvel = vs[p], zvel = ws[p], ac = speed[p], acinv = ainv[p];
      const ac2u = ac * ac;
      const r1 = rhs[q], r2 = rhs[q + 1], r3 = rhs[q + 2], r4 = rhs[q + 3], r5 = rhs[q + 4];
      const uzik1 = u[q], btuz = bt * uzik1;
      const t1 = btuz * acinv * (r4 + r5), t2 = r3 + t1, t3 = btuz * (r4 - r5);
      rhs[q] = t2;
      rhs[q + 1] = -uzik1 * r2 + xvel * t2;
      rhs[q + 2] = uzik1 * r1 + yvel * t2;
      rhs[q + 3] = zvel * t2 + t3;
      rhs[q + 4] = uzik1 * (-xvel * r2 + yvel * r1) + qs[p] * t2 + c2iv * ac2u * t1 + zvel * t3;
    });
  }
}

/**
 * add.f90: u ← u + rhs at the interior points of every cell.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { add } from "./invr.ts";
 * assert.equal(typeof add, "function"); // checked against NPB's reference values by the SP tests
 * ```
 */
export function add(g: SpState): void {
  for (const c of g.cells) {
    g.work(SP_WORK.scale, c.interior());
    if (!g.real) continue;
    const { u, rhs } = c;
    forInterior(c, (p) => {
      for (let m = 0; m < 5; m++) u[5 * p + m] = u[5 * p + m] + rhs[5 * p + m];
    });
  }
}
