/**
 * LU's steady-state residual (NPB 3.4 LU/rhs.f90) and forcing term
 * (LU/erhs.f90). Both evaluate the same discrete operator: for each
 * direction, the divergence of the inviscid flux, the viscous flux and
 * second differences, and fourth-difference artificial dissipation
 * (one-sided at physical boundaries). rhs applies it to u and adds it to
 * −frct; erhs applies it to the exact solution (held in rsd) and adds it
 * to zero. Ghost layers come from exchange_3 before the x (north/south)
 * and y (west/east) parts; z is not decomposed.
 *
 * @module
 */
import { exchange3 } from "./exchange.ts";
import { C1, C2, C3, C4, C5, LU_WORK, type LuGrid } from "./grid.ts";

/** One direction of the operator on a grid: axis data and the cross ranges. */
interface Direction {
  /** Local extent along the axis. */
  n: number;
  /** Physical boundary at the low / high end (no neighbour there). */
  lowPhys: boolean;
  highPhys: boolean;
  /** Index stride along the axis. */
  stride: number;
  /** The momentum component carried along the axis (1, 2, 3 for x, y, z). */
  p: number;
  t1: number;
  t2: number;
  t3: number;
  dcoef: readonly number[];
  /** Start index (component 0) of every point at along-axis index 0 of each line. */
  lines: number[];
}

/**
 * rhs.f90: rsd ← −frct + F(u) at interior points, u's ghosts exchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rhs } from "./rhs.ts";
 * assert.equal(typeof rhs, "function"); // checked against NPB's reference values by the LU tests
 * ```
 */
export async function rhs(g: LuGrid): Promise<void> {
  await residual(g, g.u, g.rsd, g.frct);
}

/**
 * erhs.f90: frct ← F(exact solution); rsd holds the exact solution (with
 * exchanged ghosts) afterwards, as in NPB.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { erhs } from "./rhs.ts";
 * assert.equal(typeof erhs, "function"); // checked against NPB's reference values by the LU tests
 * ```
 */
export async function erhs(g: LuGrid): Promise<void> {
  const { nx, ny, nz, sub } = g;
  if (g.real) {
    for (let k = 1; k <= nz; k++) {
      for (let j = 1; j <= ny; j++) {
        for (let i = 1; i <= nx; i++) g.exact(sub.ipt + i, sub.jpt + j, k, g.rsd, g.at(i, j, k));
      }
    }
  }
  await g.charge(LU_WORK.exact, nx * ny * nz);
  await residual(g, g.rsd, g.frct, undefined);
}

/**
 * out ← (init ? −init : 0) + F(field) at interior points; `out` outside the
 * interior becomes −init (or 0) at every local point, as NPB's first loop.
 */
async function residual(
  g: LuGrid,
  field: Float64Array,
  out: Float64Array,
  init: Float64Array | undefined,
): Promise<void> {
  const { nx, ny, nz, sub } = g;
  if (g.real) {
    for (let k = 1; k <= nz; k++) {
      for (let j = 1; j <= ny; j++) {
        const p = g.at(1, j, k);
        for (let q = p; q < p + 5 * nx; q++) out[q] = init ? -init[q] : 0;
      }
    }
  }
  await g.charge(LU_WORK.rhsInit, nx * ny * nz);
  // ξ-direction: lines along i for j in jst..jend, k in 2..nz−1.
  await exchange3(g, field, 0);
  const xLines: number[] = [];
  for (let k = 2; k <= nz - 1; k++) {
    for (let j = sub.jst; j <= sub.jend; j++) xLines.push(g.at(0, j, k));
  }
  await direction(g, field, out, {
    n: nx,
    lowPhys: sub.north === -1,
    highPhys: sub.south === -1,
    stride: 5,
    p: 1,
    t1: g.tx1,
    t2: g.tx2,
    t3: g.tx3,
    dcoef: g.dx,
    lines: xLines,
  });
  // η-direction: lines along j for i in ist..iend, k in 2..nz−1.
  await exchange3(g, field, 1);
  const yLines: number[] = [];
  for (let k = 2; k <= nz - 1; k++) {
    for (let i = sub.ist; i <= sub.iend; i++) yLines.push(g.at(i, 0, k));
  }
  await direction(g, field, out, {
    n: ny,
    lowPhys: sub.west === -1,
    highPhys: sub.east === -1,
    stride: g.sj,
    p: 2,
    t1: g.ty1,
    t2: g.ty2,
    t3: g.ty3,
    dcoef: g.dy,
    lines: yLines,
  });
  // ζ-direction: lines along k (both ends physical) for i, j interior.
  const zLines: number[] = [];
  for (let j = sub.jst; j <= sub.jend; j++) {
    for (let i = sub.ist; i <= sub.iend; i++) zLines.push(g.at(i, j, 1) - g.sk);
  }
  await direction(g, field, out, {
    n: nz,
    lowPhys: true,
    highPhys: true,
    stride: g.sk,
    p: 3,
    t1: g.tz1,
    t2: g.tz2,
    t3: g.tz3,
    dcoef: g.dz,
    lines: zLines,
  });
}

/**
 * The contribution of one direction, line by line (each step of rhs.f90
 * touches one line at a time, so doing the steps per line gives NPB's
 * values). `lines[l]` is the index of along-axis position 0 of line l.
 */
async function direction(
  g: LuGrid,
  u: Float64Array,
  rsd: Float64Array,
  d: Direction,
): Promise<void> {
  const { n, lowPhys, highPhys, stride: s, p, t1, t2, t3, dcoef, lines } = d;
  // Ranges along the axis (1-based): rhs.f90's L1, L2, ist, iend, ist1, iend1.
  const L1 = lowPhys ? 1 : 0, L2 = highPhys ? n : n + 1;
  const st = lowPhys ? 2 : 1, en = highPhys ? n - 1 : n;
  const st1 = lowPhys ? 4 : 1, en1 = highPhys ? n - 3 : n;
  const nl = lines.length;
  if (g.real) {
    const flux = g.flux;
    const c1c5 = C1 * C5, c34t3 = C3 * C4 * t3, r43 = 4 / 3;
    const dssp = g.dssp;
    for (const base of lines) {
      // Inviscid flux at L1..L2.
      for (let a = L1; a <= L2; a++) {
        const q0 = base + a * s;
        const u1 = u[q0], up = u[q0 + p];
        const upr = up / u1;
        const q = 0.5 * (u[q0 + 1] * u[q0 + 1] + u[q0 + 2] * u[q0 + 2] + u[q0 + 3] * u[q0 + 3]) /
          u1;
        flux[q0] = up;
        for (let r = 1; r <= 3; r++) flux[q0 + r] = u[q0 + r] * upr;
        flux[q0 + p] += C2 * (u[q0 + 4] - q);
        flux[q0 + 4] = (C1 * u[q0 + 4] - C2 * q) * upr;
      }
      for (let a = st; a <= en; a++) {
        const q0 = base + a * s;
        for (let m = 0; m < 5; m++) rsd[q0 + m] -= t2 * (flux[q0 + s + m] - flux[q0 - s + m]);
      }
      // Viscous flux differences at st..L2.
      for (let a = st; a <= L2; a++) {
        const q0 = base + a * s, qm = q0 - s;
        let tmp = 1 / u[q0];
        const u2i = tmp * u[q0 + 1],
          u3i = tmp * u[q0 + 2],
          u4i = tmp * u[q0 + 3],
          u5i = tmp * u[q0 + 4];
        tmp = 1 / u[qm];
        const u2m = tmp * u[qm + 1],
          u3m = tmp * u[qm + 2],
          u4m = tmp * u[qm + 3],
          u5m = tmp * u[qm + 4];
        // The component along the axis carries 4/3 (rhs.f90: (4/3)·t3·(…)).
        flux[q0 + 1] = (p === 1 ? r43 * t3 : t3) * (u2i - u2m);
        flux[q0 + 2] = (p === 2 ? r43 * t3 : t3) * (u3i - u3m);
        flux[q0 + 3] = (p === 3 ? r43 * t3 : t3) * (u4i - u4m);
        const upi = p === 1 ? u2i : p === 2 ? u3i : u4i;
        const upm = p === 1 ? u2m : p === 2 ? u3m : u4m;
        flux[q0 + 4] = 0.5 * (1 - c1c5) * t3 *
            ((u2i * u2i + u3i * u3i + u4i * u4i) - (u2m * u2m + u3m * u3m + u4m * u4m)) +
          (1 / 6) * t3 * (upi * upi - upm * upm) +
          c1c5 * t3 * (u5i - u5m);
      }
      for (let a = st; a <= en; a++) {
        const q0 = base + a * s;
        rsd[q0] += dcoef[0] * t1 * (u[q0 - s] - 2 * u[q0] + u[q0 + s]);
        for (let m = 1; m < 5; m++) {
          rsd[q0 + m] += c34t3 * (flux[q0 + s + m] - flux[q0 + m]) +
            dcoef[m] * t1 * (u[q0 - s + m] - 2 * u[q0 + m] + u[q0 + s + m]);
        }
      }
      // Fourth-difference dissipation.
      if (lowPhys) {
        const q2 = base + 2 * s, q3 = q2 + s;
        for (let m = 0; m < 5; m++) {
          rsd[q2 + m] -= dssp * (5 * u[q2 + m] - 4 * u[q3 + m] + u[q3 + s + m]);
          rsd[q3 + m] -= dssp *
            (-4 * u[q2 + m] + 6 * u[q3 + m] - 4 * u[q3 + s + m] + u[q3 + 2 * s + m]);
        }
      }
      for (let a = st1; a <= en1; a++) {
        const q0 = base + a * s;
        for (let m = 0; m < 5; m++) {
          rsd[q0 + m] -= dssp * (u[q0 - 2 * s + m] - 4 * u[q0 - s + m] + 6 * u[q0 + m] -
            4 * u[q0 + s + m] + u[q0 + 2 * s + m]);
        }
      }
      if (highPhys) {
        const q2 = base + (n - 2) * s, q1 = q2 + s;
        for (let m = 0; m < 5; m++) {
          rsd[q2 + m] -= dssp *
            (u[q2 - 2 * s + m] - 4 * u[q2 - s + m] + 6 * u[q2 + m] - 4 * u[q1 + m]);
          rsd[q1 + m] -= dssp * (u[q1 - 2 * s + m] - 4 * u[q1 - s + m] + 5 * u[q1 + m]);
        }
      }
    }
  }
  const interior = Math.max(0, en - st + 1) * nl;
  await g.chargeAll([
    [LU_WORK.fluxInviscid, (L2 - L1 + 1) * nl],
    [LU_WORK.fluxDivergence, interior],
    [LU_WORK.fluxViscous, Math.max(0, L2 - st + 1) * nl],
    [LU_WORK.secondDifference, interior],
    [LU_WORK.dissipation, interior],
  ]);
}
