/**
 * The block lower and upper triangular solves of LU's SSOR step (NPB 3.4
 * LU/jacld.f90, blts.f90, jacu.f90, buts.f90), one grid line (fixed j, k)
 * at a time.
 *
 * The 5 × 5 blocks are the flux Jacobians of the discrete operator. Every
 * off-diagonal block has the same form — for the neighbour in direction
 * ξ, η or ζ, ±dt·t2·A(u) − dt·t1·(V(u) + d·I), where A is the inviscid flux
 * Jacobian and V the viscous one of that direction — and the diagonal is
 * I + 2dt·Σ t1·(V(u) + d·I); jacld takes the lower neighbours (−), jacu the
 * upper ones (+). Written once per direction here, with NPB's formulas.
 *
 * Blocks are `(m, n, i)` at `25·i + m + 5·n` (row m, column n).
 *
 * @module
 */
import { C1, C2, C3, C4, C5, type LuGrid } from "./grid.ts";

const R43 = 4 / 3, C34 = C3 * C4, C1345 = C1 * C3 * C4 * C5;

/**
 * Block `M[o..o+25)` = sign·dt·t2·A_p(u_q) − dt·t1·V_p(u_q) − dt·t1·diag(dcoef):
 * the coupling to the neighbour at `q` along the axis whose momentum
 * component is `p` (1: ξ, 2: η, 3: ζ).
 */
function neighbourBlock(
  M: Float64Array,
  o: number,
  u: Float64Array,
  q: number,
  p: number,
  sign: number,
  dt: number,
  t1: number,
  t2: number,
  dcoef: readonly number[],
): void {
  const tmp1 = 1 / u[q], tmp2 = tmp1 * tmp1, tmp3 = tmp1 * tmp2;
  const u5 = u[q + 4], up = u[q + p];
  const q2 = u[q + 1] * u[q + 1] + u[q + 2] * u[q + 2] + u[q + 3] * u[q + 3];
  const a = sign * dt * t2, v = dt * t1;
  M.fill(0, o, o + 25);
  // Row 0: mass flux.
  M[o + 5 * p] = a;
  M[o] = -v * dcoef[0];
  // Rows 1..3: momentum.
  for (let r = 1; r <= 3; r++) {
    const ur = u[q + r], f = r === p ? R43 : 1;
    if (r === p) {
      M[o + r] = a * (-((up * tmp1) ** 2) + 0.5 * C2 * q2 * tmp2) - v * (-f * C34 * tmp2 * ur);
      for (let s = 1; s <= 3; s++) {
        if (s !== p) M[o + r + 5 * s] = a * (-C2 * (u[q + s] * tmp1));
      }
      M[o + r + 5 * r] = a * ((2 - C2) * (up * tmp1)) - v * (f * C34 * tmp1) - v * dcoef[r];
      M[o + r + 20] = a * C2;
    } else {
      M[o + r] = a * (-(ur * up) * tmp2) - v * (-C34 * tmp2 * ur);
      M[o + r + 5 * p] = a * (ur * tmp1);
      M[o + r + 5 * r] = a * (up * tmp1) - v * (C34 * tmp1) - v * dcoef[r];
    }
  }
  // Row 4: energy.
  let v40 = -C1345 * tmp2 * u5;
  for (let r = 1; r <= 3; r++) {
    const ur = u[q + r], f = r === p ? R43 : 1;
    v40 -= (f * C34 - C1345) * tmp3 * ur * ur;
    const vr = (f * C34 - C1345) * tmp2 * ur;
    M[o + 4 + 5 * r] = r === p
      ? a * (C1 * (u5 * tmp1) - 0.5 * C2 * ((q2 + 2 * up * up) * tmp2)) - v * vr
      : a * (-C2 * (ur * up) * tmp2) - v * vr;
  }
  M[o + 4] = a * ((C2 * q2 * tmp2 - C1 * (u5 * tmp1)) * (up * tmp1)) - v * v40;
  M[o + 24] = a * (C1 * (up * tmp1)) - v * C1345 * tmp1 - v * dcoef[4];
}

/** The diagonal block I + 2dt·Σ_directions t1·(V(u_q) + diag(dcoef)). */
function diagonalBlock(g: LuGrid, M: Float64Array, o: number, u: Float64Array, q: number): void {
  const tmp1 = 1 / u[q], tmp2 = tmp1 * tmp1, tmp3 = tmp1 * tmp2;
  const dt2 = g.dt * 2, t = [g.tx1, g.ty1, g.tz1];
  const u5 = u[q + 4];
  M.fill(0, o, o + 25);
  const diss = (m: number) => g.tx1 * g.dx[m] + g.ty1 * g.dy[m] + g.tz1 * g.dz[m];
  M[o] = 1 + dt2 * diss(0);
  let v40 = 0;
  for (let r = 1; r <= 3; r++) {
    const ur = u[q + r];
    // Σ over directions of t1 · (4/3 for the direction's own momentum, else 1).
    let fs = 0, e = 0;
    for (let dir = 1; dir <= 3; dir++) {
      const f = dir === r ? R43 : 1;
      fs += t[dir - 1] * f;
      e += t[dir - 1] * (f * C34 - C1345);
    }
    M[o + r] = dt2 * (-fs * C34 * tmp2 * ur);
    M[o + r + 5 * r] = 1 + dt2 * (fs * C34 * tmp1) + dt2 * diss(r);
    M[o + 4 + 5 * r] = dt2 * (e * tmp2 * ur);
    v40 -= e * tmp3 * ur * ur;
  }
  const tsum = t[0] + t[1] + t[2];
  M[o + 4] = dt2 * (v40 - tsum * C1345 * tmp2 * u5);
  M[o + 24] = 1 + dt2 * (tsum * C1345 * tmp1) + dt2 * diss(4);
}

/**
 * jacld.f90 for line (j, k): d, and the blocks coupling to the lower
 * neighbours — a (ζ, k−1), b (η, j−1), c (ξ, i−1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LuGrid } from "./grid.ts";
 * import { subdomain } from "./params.ts";
 * import { jacld } from "./sweeps.ts";
 * const g = new LuGrid({ n: 12, itmax: 1, dt: 0.5 }, subdomain(12, 12, 12, 1, 1, 0), true, undefined as never);
 * for (let q = 0; q < g.u.length; q += 5) g.u.set([1, 0, 0, 0, 2], q); // fluid at rest
 * jacld(g, 2, 2);
 * const o = 25 * 2;
 * // At rest the ξ coupling's mass row is −dt·tx2 to the ξ momentum, −dt·tx1·dx1 to itself.
 * assert.equal(g.c[o + 5], -0.5 * g.tx2);
 * assert.equal(g.c[o], -0.5 * g.tx1 * 0.75);
 * assert.ok(g.d[o] > 1);
 * ```
 */
export function jacld(g: LuGrid, j: number, k: number): void {
  const { u, a, b, c, d, dt, sub } = g;
  for (let i = sub.ist; i <= sub.iend; i++) {
    const q = g.at(i, j, k), o = 25 * i;
    diagonalBlock(g, d, o, u, q);
    neighbourBlock(a, o, u, q - g.sk, 3, -1, dt, g.tz1, g.tz2, g.dz);
    neighbourBlock(b, o, u, q - g.sj, 2, -1, dt, g.ty1, g.ty2, g.dy);
    neighbourBlock(c, o, u, q - 5, 1, -1, dt, g.tx1, g.tx2, g.dx);
  }
}

/**
 * jacu.f90 for line (j, k): d, and the blocks coupling to the upper
 * neighbours — a (ξ, i+1), b (η, j+1), c (ζ, k+1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LuGrid } from "./grid.ts";
 * import { subdomain } from "./params.ts";
 * import { jacu } from "./sweeps.ts";
 * const g = new LuGrid({ n: 12, itmax: 1, dt: 0.5 }, subdomain(12, 12, 12, 1, 1, 0), true, undefined as never);
 * for (let q = 0; q < g.u.length; q += 5) g.u.set([1, 0, 0, 0, 2], q);
 * jacu(g, 2, 2);
 * assert.equal(g.a[25 * 2 + 5], 0.5 * g.tx2); // +dt·tx2 towards i+1
 * ```
 */
export function jacu(g: LuGrid, j: number, k: number): void {
  const { u, a, b, c, d, dt, sub } = g;
  for (let i = sub.ist; i <= sub.iend; i++) {
    const q = g.at(i, j, k), o = 25 * i;
    diagonalBlock(g, d, o, u, q);
    neighbourBlock(a, o, u, q + 5, 1, 1, dt, g.tx1, g.tx2, g.dx);
    neighbourBlock(b, o, u, q + g.sj, 2, 1, dt, g.ty1, g.ty2, g.dy);
    neighbourBlock(c, o, u, q + g.sk, 3, 1, dt, g.tz1, g.tz2, g.dz);
  }
}

/**
 * Solve D·x = r for one 5 × 5 block `D` (at `o` in `d`) by Gaussian
 * elimination without pivoting, in blts.f90's order; `r` (5 values at
 * `ro`) is overwritten with x.
 */
function solve5(d: Float64Array, o: number, t: Float64Array, r: Float64Array, ro: number): void {
  for (let n = 0; n < 25; n++) t[n] = d[o + n];
  for (let p = 0; p < 4; p++) {
    const tmp1 = 1 / t[p + 5 * p];
    for (let row = p + 1; row < 5; row++) {
      const tmp = tmp1 * t[row + 5 * p];
      for (let col = p + 1; col < 5; col++) t[row + 5 * col] -= tmp * t[p + 5 * col];
      r[ro + row] -= r[ro + p] * tmp;
    }
  }
  r[ro + 4] /= t[24];
  for (let row = 3; row >= 0; row--) {
    let x = r[ro + row];
    for (let col = row + 1; col < 5; col++) x -= t[row + 5 * col] * r[ro + col];
    r[ro + row] = x / t[row + 5 * row];
  }
}

const tmat = new Float64Array(25);

/**
 * blts.f90 for line (j, k) of v (= rsd): v ← D⁻¹(v − ω(a·v_{k−1} +
 * b·v_{j−1} + c·v_{i−1})), i ascending (each point uses the one before).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LuGrid } from "./grid.ts";
 * import { subdomain } from "./params.ts";
 * import { blts } from "./sweeps.ts";
 * const g = new LuGrid({ n: 12, itmax: 1, dt: 0.5 }, subdomain(12, 12, 12, 1, 1, 0), true, undefined as never);
 * // d = 2·I, no coupling: v ← v / 2
 * for (let i = 0; i < g.d.length; i += 25) for (let m = 0; m < 5; m++) g.d[i + 6 * m] = 2;
 * g.rsd.fill(3);
 * blts(g, 2, 2);
 * assert.equal(g.rsd[g.at(2, 2, 2)], 1.5);
 * assert.equal(g.rsd[g.at(1, 2, 2)], 3); // a boundary point is not touched
 * ```
 */
export function blts(g: LuGrid, j: number, k: number): void {
  const { rsd: v, a, b, c, d, omega, sub, sj, sk } = g;
  for (let i = sub.ist; i <= sub.iend; i++) {
    const q = g.at(i, j, k), o = 25 * i;
    const qz = q - sk, qy = q - sj, qx = q - 5;
    for (let m = 0; m < 5; m++) {
      const om = o + m;
      v[q + m] -= omega * (a[om] * v[qz] + a[om + 5] * v[qz + 1] + a[om + 10] * v[qz + 2] +
        a[om + 15] * v[qz + 3] + a[om + 20] * v[qz + 4]);
    }
    for (let m = 0; m < 5; m++) {
      const om = o + m;
      v[q + m] -= omega * (b[om] * v[qy] + c[om] * v[qx] + b[om + 5] * v[qy + 1] +
        c[om + 5] * v[qx + 1] + b[om + 10] * v[qy + 2] + c[om + 10] * v[qx + 2] +
        b[om + 15] * v[qy + 3] + c[om + 15] * v[qx + 3] + b[om + 20] * v[qy + 4] +
        c[om + 20] * v[qx + 4]);
    }
    solve5(d, o, tmat, v, q);
  }
}

/**
 * buts.f90 for line (j, k) of v (= rsd): tv = D⁻¹ω(c·v_{k+1} + b·v_{j+1} +
 * a·v_{i+1}), v ← v − tv, i descending.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LuGrid } from "./grid.ts";
 * import { subdomain } from "./params.ts";
 * import { buts } from "./sweeps.ts";
 * const g = new LuGrid({ n: 12, itmax: 1, dt: 0.5 }, subdomain(12, 12, 12, 1, 1, 0), true, undefined as never);
 * // d = I, only the ξ coupling a = I: v(i) ← v(i) − ω·v(i+1), from the top
 * for (let i = 0; i < g.d.length; i += 25) for (let m = 0; m < 5; m++) { g.d[i + 6 * m] = 1; g.a[i + 6 * m] = 1; }
 * g.rsd.fill(1);
 * buts(g, 2, 2);
 * assert.equal(g.rsd[g.at(11, 2, 2)], 1 - 1.2); // v(12) is the boundary value 1
 * assert.equal(g.rsd[g.at(10, 2, 2)], 1 - 1.2 * (1 - 1.2));
 * ```
 */
export function buts(g: LuGrid, j: number, k: number): void {
  const { rsd: v, tv, a, b, c, d, omega, sub, sj, sk } = g;
  for (let i = sub.iend; i >= sub.ist; i--) {
    const q = g.at(i, j, k), o = 25 * i, t = 5 * i;
    const qz = q + sk, qy = q + sj, qx = q + 5;
    for (let m = 0; m < 5; m++) {
      const om = o + m;
      tv[t + m] = omega * (c[om] * v[qz] + c[om + 5] * v[qz + 1] + c[om + 10] * v[qz + 2] +
        c[om + 15] * v[qz + 3] + c[om + 20] * v[qz + 4]);
    }
    for (let m = 0; m < 5; m++) {
      const om = o + m;
      tv[t + m] += omega * (b[om] * v[qy] + a[om] * v[qx] + b[om + 5] * v[qy + 1] +
        a[om + 5] * v[qx + 1] + b[om + 10] * v[qy + 2] + a[om + 10] * v[qx + 2] +
        b[om + 15] * v[qy + 3] + a[om + 15] * v[qx + 3] + b[om + 20] * v[qy + 4] +
        a[om + 20] * v[qx + 4]);
    }
    solve5(d, o, tmat, tv, t);
    for (let m = 0; m < 5; m++) v[q + m] -= tv[t + m];
  }
}
