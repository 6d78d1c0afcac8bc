/**
 * SP's left-hand sides (NPB 3.4 SP/lhsx.f90, lhsy.f90, lhsz.f90): for one
 * cell and direction, the five diagonals of the three scalar
 * penta-diagonal factors at every interior point — the u factor (central
 * convection, viscous and fourth-difference dissipation terms) and the
 * u + c and u − c factors, which differ from it by the speed of sound on
 * the off-diagonals. lhs(1..5), lhs(6..10), lhs(11..15) of NPB are
 * `lhs[15·pt + 0..4]`, `+ 5..9`, `+ 10..14`.
 *
 * @module
 */
import { SP_WORK, type SpCell, type SpState } from "./data.ts";
import { forLines } from "./init.ts";

/**
 * lhsx (`d` 0), lhsy (1) or lhsz (2) for cell `c`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SpState } from "./data.ts";
 * import { initialize, lhsinit } from "./init.ts";
 * import { lhs } from "./lhs.ts";
 * import { makeSet } from "./params.ts";
 * import { computeRhs } from "./rhs.ts";
 * const comm = { size: 1, rank: 0, compute: async () => 0, alloc: () => undefined } as never;
 * const g = new SpState({ n: 12, niter: 1, dt: 0.015 }, makeSet(12, 1, 0), true, comm, comm, comm);
 * initialize(g);
 * lhsinit(g);
 * computeRhs(g);
 * const c = g.cells[0];
 * lhs(g, c, 0);
 * const q = 15 * c.pt(5, 5, 5);
 * assert.equal(c.lhs[q + 5], c.lhs[q]); // the u+c factor's outer diagonals are the u factor's
 * assert.equal(c.lhs[q + 7], c.lhs[q + 2]);
 * assert.ok(c.lhs[q + 2] > 1);
 * ```
 */
export function lhs(g: SpState, c: SpCell, d: number): void {
  g.work(SP_WORK.lhs, c.interior());
  if (!g.real) return;
  const L = c.lhs, rho = c.rhoI, speed = c.speed;
  const v = [c.us, c.vs, c.ws][d];
  const s = c.stride(d), n = c.size[d];
  const c3c4 = g.c3c4, con43 = g.con43, c1c5 = g.c1c5;
  const dA = g.dd[d][d + 1], dB = g.dd[d][4], dM = g.dmax[d], dC = g.dd[d][0];
  const dtt1 = g.dtt1[d], dtt2 = g.dtt2[d], c2dtt1 = g.c2dtt1[d];
  const { comz1, comz4, comz5, comz6 } = g;
  const lo = c.start[d], hi = n - c.end[d] - 1;
  // cv and rhon/rhoq/rhos of one line, along-index t at t + 1.
  const cv = new Float64Array(n + 2), rhon = new Float64Array(n + 2);
  forLines(c, d, (base) => {
    for (let t = lo - 1; t <= hi + 1; t++) {
      const p = base + t * s;
      const ru1 = c3c4 * rho[p];
      cv[t + 1] = v[p];
      rhon[t + 1] = Math.max(dA + con43 * ru1, dB + c1c5 * ru1, dM + ru1, dC);
    }
    for (let t = lo; t <= hi; t++) {
      const q = 15 * (base + t * s);
      L[q] = 0.0;
      L[q + 1] = -dtt2 * cv[t] - dtt1 * rhon[t];
      L[q + 2] = 1.0 + c2dtt1 * rhon[t + 1];
      L[q + 3] = dtt2 * cv[t + 2] - dtt1 * rhon[t + 2];
      L[q + 4] = 0.0;
    }
    // Fourth-order dissipation.
    const at = (t: number) => 15 * (base + t * s);
    if (c.start[d] > 0) {
      let q = at(1);
      L[q + 2] = L[q + 2] + comz5;
      L[q + 3] = L[q + 3] - comz4;
      L[q + 4] = L[q + 4] + comz1;
      q = at(2);
      L[q + 1] = L[q + 1] - comz4;
      L[q + 2] = L[q + 2] + comz6;
      L[q + 3] = L[q + 3] - comz4;
      L[q + 4] = L[q + 4] + comz1;
    }
    for (let t = 3 * c.start[d]; t <= n - 3 * c.end[d] - 1; t++) {
      const q = at(t);
      L[q] = L[q] + comz1;
      L[q + 1] = L[q + 1] - comz4;
      L[q + 2] = L[q + 2] + comz6;
      L[q + 3] = L[q + 3] - comz4;
      L[q + 4] = L[q + 4] + comz1;
    }
    if (c.end[d] > 0) {
      let q = at(n - 3);
      L[q] = L[q] + comz1;
      L[q + 1] = L[q + 1] - comz4;
      L[q + 2] = L[q + 2] + comz6;
      L[q + 3] = L[q + 3] - comz4;
      q = at(n - 2);
      L[q] = L[q] + comz1;
      L[q + 1] = L[q + 1] - comz4;
      L[q + 2] = L[q + 2] + comz5;
    }
    // The other factors, (u + c) and (u − c).
    for (let t = lo; t <= hi; t++) {
      const p = base + t * s, q = 15 * p;
      L[q + 5] = L[q];
      L[q + 6] = L[q + 1] - dtt2 * speed[p - s];
      L[q + 7] = L[q + 2];
      L[q + 8] = L[q + 3] + dtt2 * speed[p + s];
      L[q + 9] = L[q + 4];
      L[q + 10] = L[q];
      L[q + 11] = L[q + 1] + dtt2 * speed[p - s];
      L[q + 12] = L[q + 2];
      L[q + 13] = L[q + 3] - dtt2 * speed[p + s];
      L[q + 14] = L[q + 4];
    }
  });
}
