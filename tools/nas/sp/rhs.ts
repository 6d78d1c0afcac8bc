/**
 * SP's right-hand side (NPB 3.4 SP/rhs.f90 `compute_rhs`): the primitive
 * variables on every point of a cell and its first ghost layer, then
 * rhs = forcing + the flux differences and fourth-difference dissipation of
 * each direction (one-sided next to a physical boundary), times dt, at the
 * cell's interior points. The ghost layers come from copy_faces.
 *
 * @module
 */
import { primitivesAt } from "../cfd/rhs.ts";
import { SP_WORK, type SpCell, type SpState } from "./data.ts";
import { forInterior, forLines } from "./init.ts";

/**
 * compute_rhs for every cell of the process.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SpState } from "./data.ts";
 * import { exactRhs, initialize } from "./init.ts";
 * import { makeSet } from "./params.ts";
 * import { computeRhs } from "./rhs.ts";
 * const comm = { size: 1, rank: 0, compute: async () => 0, alloc: () => undefined } as never;
 * const g = new SpState({ n: 12, niter: 1, dt: 0.015 }, makeSet(12, 1, 0), true, comm, comm, comm);
 * initialize(g);
 * exactRhs(g);
 * computeRhs(g);
 * const c = g.cells[0];
 * assert.ok(Math.abs(c.rhoI[c.pt(3, 3, 3)] * c.u[5 * c.pt(3, 3, 3)] - 1) < 1e-15);
 * assert.ok(Number.isFinite(c.rhs[5 * c.pt(5, 5, 5) + 4]));
 * ```
 */
export function computeRhs(g: SpState): void {
  for (const c of g.cells) {
    const interior = c.interior();
    g.work(SP_WORK.primitives, (c.size[0] + 2) * (c.size[1] + 2) * (c.size[2] + 2));
    g.work(SP_WORK.copy, c.points());
    g.work(SP_WORK.flux, 3 * interior);
    g.work(SP_WORK.dissipation, 3 * interior);
    g.work(SP_WORK.scale, interior);
    if (!g.real) continue;
    primitives(g, c);
    const { rhs, forcing } = c;
    for (let k = 0; k < c.size[2]; k++) {
      for (let j = 0; j < c.size[1]; j++) {
        const p = 5 * c.pt(0, j, k);
        rhs.set(forcing.subarray(p, p + 5 * c.size[0]), p);
      }
    }
    for (let d = 0; d < 3; d++) {
      flux(g, c, d);
      dissipation(g, c, d);
    }
    const dt = g.dt;
    forInterior(c, (p) => {
      for (let m = 0; m < 5; m++) rhs[5 * p + m] = rhs[5 * p + m] * dt;
    });
  }
}

/** rho_i, us, vs, ws, square, qs, speed, ainv on −1 … size in every direction. */
function primitives(g: SpState, c: SpCell): void {
  const { u, square, speed, ainv } = c;
  const c1c2 = g.c1c2;
  for (let k = -1; k <= c.size[2]; k++) {
    for (let j = -1; j <= c.size[1]; j++) {
      let p = c.pt(-1, j, k);
      for (let i = -1; i <= c.size[0]; i++, p++) {
        const q = 5 * p;
        const rhoInv = primitivesAt(c, p);
        const aux = Math.sqrt(c1c2 * rhoInv * (u[q + 4] - square[p]));
        speed[p] = aux;
        ainv[p] = 1.0 / aux;
      }
    }
  }
}

/**
 * The flux differences of direction `d` (0: ξ, 1: η, 2: ζ) added to rhs at
 * interior points: component d + 1 is the momentum along d (with the 4/3
 * viscous factor and the pressure term), the others are carried by it.
 */
function flux(g: SpState, c: SpCell, d: number): void {
  const { u, rhs, square, qs, rhoI } = c;
  const vel = [c.us, c.vs, c.ws];
  const v = vel[d], s = c.stride(d), md = d + 1;
  const t2 = g.t2[d], dt1 = g.ddt1[d], con = g.con[d], con43 = g.con43;
  const c1 = g.c1, c2 = g.c2;
  forInterior(c, (p) => {
    const q = 5 * p, qp = q + 5 * s, qm = q - 5 * s;
    const vijk = v[p], vp1 = v[p + s], vm1 = v[p - s];
    rhs[q] = rhs[q] + dt1[0] * (u[qp] - 2.0 * u[q] + u[qm]) - t2 * (u[qp + md] - u[qm + md]);
    for (let m = 1; m <= 3; m++) {
      if (m === md) {
        rhs[q + m] = rhs[q + m] + dt1[m] * (u[qp + m] - 2.0 * u[q + m] + u[qm + m]) +
          con[1] * con43 * (vp1 - 2.0 * vijk + vm1) -
          t2 * (u[qp + m] * vp1 - u[qm + m] * vm1 +
              (u[qp + 4] - square[p + s] - u[qm + 4] + square[p - s]) * c2);
      } else {
        const w = vel[m - 1];
        rhs[q + m] = rhs[q + m] + dt1[m] * (u[qp + m] - 2.0 * u[q + m] + u[qm + m]) +
          con[1] * (w[p + s] - 2.0 * w[p] + w[p - s]) -
          t2 * (u[qp + m] * vp1 - u[qm + m] * vm1);
      }
    }
    rhs[q + 4] = rhs[q + 4] + dt1[4] * (u[qp + 4] - 2.0 * u[q + 4] + u[qm + 4]) +
      con[2] * (qs[p + s] - 2.0 * qs[p] + qs[p - s]) +
      con[3] * (vp1 * vp1 - 2.0 * vijk * vijk + vm1 * vm1) +
      con[4] * (u[qp + 4] * rhoI[p + s] - 2.0 * u[q + 4] * rhoI[p] + u[qm + 4] * rhoI[p - s]) -
      t2 *
        ((c1 * u[qp + 4] - c2 * square[p + s]) * vp1 - (c1 * u[qm + 4] - c2 * square[p - s]) * vm1);
  });
}

/**
 * Fourth-difference dissipation of direction `d` subtracted from rhs at
 * interior points (one-sided at along-indices 1, 2 and size − 3, size − 2
 * next to a physical boundary).
 */
function dissipation(g: SpState, c: SpCell, d: number): void {
  const { u, rhs } = c;
  const s = c.stride(d), n = c.size[d], dssp = g.dssp;
  const s1 = 5 * s, s2 = 10 * s;
  forLines(c, d, (pt) => {
    const base = 5 * pt;
    for (let m = 0; m < 5; m++) {
      if (c.start[d] > 0) {
        let q = base + s1 + m;
        rhs[q] = rhs[q] - dssp * (5.0 * u[q] - 4.0 * u[q + s1] + u[q + s2]);
        q += s1;
        rhs[q] = rhs[q] - dssp * (-4.0 * u[q - s1] + 6.0 * u[q] - 4.0 * u[q + s1] + u[q + s2]);
      }
      for (let t = 3 * c.start[d]; t <= n - 3 * c.end[d] - 1; t++) {
        const q = base + t * s1 + m;
        rhs[q] = rhs[q] -
          dssp * (u[q - s2] - 4.0 * u[q - s1] + 6.0 * u[q] - 4.0 * u[q + s1] + u[q + s2]);
      }
      if (c.end[d] > 0) {
        let q = base + (n - 3) * s1 + m;
        rhs[q] = rhs[q] - dssp * (u[q - s2] - 4.0 * u[q - s1] + 6.0 * u[q] - 4.0 * u[q + s1]);
        q += s1;
        rhs[q] = rhs[q] - dssp * (u[q - s2] - 4.0 * u[q - s1] + 5.0 * u[q]);
      }
    }
  });
}
