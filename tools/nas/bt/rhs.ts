/**
 * BT's right-hand side (NPB 3.4 BT/rhs.f90 `compute_rhs`): on every cell,
 * 1/ρ, the velocities and kinetic energy (ghost layer included), then
 * rhs ← forcing plus, direction by direction, the inviscid and viscous
 * flux differences and the fourth-difference dissipation, and finally
 * rhs ← dt · rhs on the interior. The ghost values come from copy_faces.
 *
 * @module
 */
import { primitivesAt } from "../cfd/rhs.ts";
import { BT_WORK, type BtGrid, interiorPoints } from "./grid.ts";
import { dissipate, forInterior, forLines, linePt } from "./init.ts";

/**
 * compute_rhs for every cell of the process (no messages; its work charged
 * at the end).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { computeRhs } from "./rhs.ts";
 * assert.equal(typeof computeRhs, "function"); // checked against NPB's reference values by the BT tests
 * ```
 */
export async function computeRhs(g: BtGrid): Promise<void> {
  const { c1, c2, dssp, dt } = g;
  let ghosted = 0, cube = 0, interior = 0;
  for (const c of g.cells) {
    const { size } = c.cell;
    ghosted += (size[0] + 2) * (size[1] + 2) * (size[2] + 2);
    cube += size[0] * size[1] * size[2];
    interior += interiorPoints(c.cell);
    if (!g.real) continue;
    const { u, rhs, forcing, rhoI, us, vs, ws, qs, square } = c;
    for (let k = -1; k <= size[2]; k++) {
      for (let j = -1; j <= size[1]; j++) {
        for (let i = -1; i <= size[0]; i++) primitivesAt(c, c.pt(i, j, k));
      }
    }
    for (let k = 0; k < size[2]; k++) {
      for (let j = 0; j < size[1]; j++) {
        const q = 5 * c.pt(0, j, k);
        rhs.set(forcing.subarray(q, q + 5 * size[0]), q);
      }
    }
    const vel = [us, vs, ws];
    for (let d = 0; d < 3; d++) {
      const p = d + 1, s = c.stride[d];
      const t1d = g.ddt1[d], t2 = g.t2[d], con = g.con[d], vp = vel[d];
      forLines(c, d, (a, b) => {
        for (let t = c.cell.start[d]; t <= c.cell.size[d] - c.cell.end[d] - 1; t++) {
          const x = linePt(c, d, t, a, b), xp = x + s, xm = x - s;
          const q = 5 * x, qp = 5 * xp, qm = 5 * xm;
          const up1 = vp[xp], um1 = vp[xm], uijk = vp[x];
          rhs[q] = rhs[q] + t1d[0] * (u[qp] - 2.0 * u[q] + u[qm]) - t2 * (u[qp + p] - u[qm + p]);
          for (let r = 1; r <= 3; r++) {
            if (r === p) {
              rhs[q + r] = rhs[q + r] + t1d[r] * (u[qp + r] - 2.0 * u[q + r] + u[qm + r]) +
                con[1] * g.con43 * (up1 - 2.0 * uijk + um1) -
                t2 * (u[qp + r] * up1 - u[qm + r] * um1 +
                    (u[qp + 4] - square[xp] - u[qm + 4] + square[xm]) * c2);
            } else {
              const vr = vel[r - 1];
              rhs[q + r] = rhs[q + r] + t1d[r] * (u[qp + r] - 2.0 * u[q + r] + u[qm + r]) +
                con[1] * (vr[xp] - 2.0 * vr[x] + vr[xm]) -
                t2 * (u[qp + r] * up1 - u[qm + r] * um1);
            }
          }
          rhs[q + 4] = rhs[q + 4] + t1d[4] * (u[qp + 4] - 2.0 * u[q + 4] + u[qm + 4]) +
            con[2] * (qs[xp] - 2.0 * qs[x] + qs[xm]) +
            con[3] * (up1 * up1 - 2.0 * uijk * uijk + um1 * um1) +
            con[4] * (u[qp + 4] * rhoI[xp] - 2.0 * u[q + 4] * rhoI[x] + u[qm + 4] * rhoI[xm]) -
            t2 * ((c1 * u[qp + 4] - c2 * square[xp]) * up1 -
                (c1 * u[qm + 4] - c2 * square[xm]) * um1);
        }
      });
      forLines(c, d, (a, b) => {
        const base = linePt(c, d, 0, a, b);
        dissipate(rhs, (t) => 5 * (base + t * s), (t, m) => u[5 * (base + t * s) + m], c, d, dssp);
      });
    }
    forInterior(c, (q) => {
      for (let m = 0; m < 5; m++) rhs[q + m] = rhs[q + m] * dt;
    });
  }
  await g.charge([
    [BT_WORK.rhsPrimitives, ghosted],
    [BT_WORK.rhsCopy, cube],
    [BT_WORK.rhsFlux, 3 * interior],
    [BT_WORK.rhsDissipation, 3 * interior],
    [BT_WORK.rhsScale, interior],
  ]);
}
