/**
 * LU's norms and verification (NPB 3.4 LU/l2norm.f90, error.f90,
 * pintgr.f90, verify.f90): RMS norms of the residual and of the error
 * against the exact solution (each an MPI_Allreduce of five sums), the
 * surface integral of the pressure over three faces of a box (with
 * exchange_4/5/6 for the neighbour values and one allreduce per face), and
 * the comparison with NPB's reference values.
 *
 * @module
 */
import { exchange4, exchange56 } from "./exchange.ts";
import { C2, LU_WORK, type LuGrid } from "./grid.ts";
import { LU_CLASSES, LU_EPSILON, LU_REFERENCE } from "./params.ts";
import { compareNorm } from "../cfd/verify.ts";
import { fortranE, fortranI } from "../format.ts";
import type { NasClass } from "../kernel.ts";

/**
 * l2norm.f90: the RMS norm of each component of `v` over the interior,
 * summed over all processes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { l2norm } from "./verify.ts";
 * assert.equal(typeof l2norm, "function"); // checked against NPB's reference values by the LU tests
 * ```
 */
export async function l2norm(g: LuGrid, v: Float64Array): Promise<number[]> {
  const { sub } = g;
  const sum = new Float64Array(5);
  if (g.real) {
    for (let k = 2; k <= g.nz0 - 1; k++) {
      for (let j = sub.jst; j <= sub.jend; j++) {
        for (let i = sub.ist; i <= sub.iend; i++) {
          const q = g.at(i, j, k);
          for (let m = 0; m < 5; m++) sum[m] += v[q + m] * v[q + m];
        }
      }
    }
  }
  await g.charge(LU_WORK.norm, interiorPoints(g));
  await g.comm.allreduce(sum.slice(), sum, "SUM");
  const n = (g.nx0 - 2) * (g.ny0 - 2) * (g.nz0 - 2);
  return [...sum].map((s) => Math.sqrt(s / n));
}

function interiorPoints(g: LuGrid): number {
  const { sub } = g;
  return (sub.iend - sub.ist + 1) * (sub.jend - sub.jst + 1) * (g.nz - 2);
}

/**
 * error.f90: the RMS norm of u − exact over the interior.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorNorm } from "./verify.ts";
 * assert.equal(typeof errorNorm, "function"); // checked against NPB's reference values by the LU tests
 * ```
 */
export async function errorNorm(g: LuGrid): Promise<number[]> {
  const { sub } = g;
  const sum = new Float64Array(5), ex = new Float64Array(5);
  if (g.real) {
    for (let k = 2; k <= g.nz - 1; k++) {
      for (let j = sub.jst; j <= sub.jend; j++) {
        for (let i = sub.ist; i <= sub.iend; i++) {
          g.exact(sub.ipt + i, sub.jpt + j, k, ex, 0);
          const q = g.at(i, j, k);
          for (let m = 0; m < 5; m++) sum[m] += (ex[m] - g.u[q + m]) ** 2;
        }
      }
    }
  }
  const points = interiorPoints(g);
  await g.charge(LU_WORK.exact, points);
  await g.charge(LU_WORK.norm, points);
  await g.comm.allreduce(sum.slice(), sum, "SUM");
  const n = (g.nx0 - 2) * (g.ny0 - 2) * (g.nz0 - 2);
  return [...sum].map((s) => Math.sqrt(s / n));
}

/** c2·(e − ½|m|²/ρ) at index q of u: the pressure. */
function pressure(u: Float64Array, q: number): number {
  return C2 * (u[q + 4] - 0.5 * (u[q + 1] ** 2 + u[q + 2] ** 2 + u[q + 3] ** 2) / u[q]);
}

/**
 * pintgr.f90: the surface integral of the pressure over the faces
 * ζ = ki1, ki2 (frc1), η = ji1, ji2 (frc2) and ξ = ii1, ii2 (frc3) of the
 * box ii1 = 2 … nx0−1, ji1 = 2 … ny0−2, ki1 = 3 … nz0−1, each face summed
 * over all processes; returns ¼(frc1 + frc2 + frc3).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pintgr } from "./verify.ts";
 * assert.equal(typeof pintgr, "function"); // checked against NPB's reference values by the LU tests
 * ```
 */
export async function pintgr(g: LuGrid): Promise<number> {
  const { sub, nx, ny, u, real, comm } = g;
  const { ipt, jpt } = sub;
  const ii1 = 2, ii2 = g.nx0 - 1, ji1 = 2, ji2 = g.ny0 - 2, ki1 = 3, ki2 = g.nz0 - 1;
  let ibeg = nx + 1, ifin = 0;
  const iglob1 = ipt + 1, iglob2 = ipt + nx;
  if (iglob1 >= ii1 && iglob2 < ii2 + nx) ibeg = 1;
  if (iglob1 > ii1 - nx && iglob2 <= ii2) ifin = nx;
  if (ii1 >= iglob1 && ii1 <= iglob2) ibeg = ii1 - ipt;
  if (ii2 >= iglob1 && ii2 <= iglob2) ifin = ii2 - ipt;
  let jbeg = ny + 1, jfin = 0;
  const jglob1 = jpt + 1, jglob2 = jpt + ny;
  if (jglob1 >= ji1 && jglob2 < ji2 + ny) jbeg = 1;
  if (jglob1 > ji1 - ny && jglob2 <= ji2) jfin = ny;
  if (ji1 >= jglob1 && ji1 <= jglob2) jbeg = ji1 - jpt;
  if (ji2 >= jglob1 && ji2 <= jglob2) jfin = ji2 - jpt;
  const ifin1 = ipt + ifin === ii2 ? ifin - 1 : ifin;
  const jfin1 = jpt + jfin === ji2 ? jfin - 1 : jfin;
  // phi(0:w−1, 0:h−1), (a, b) at a + w·b; big enough for (i, j), (i, k) and (j, k).
  const w = Math.max(nx, ny) + 2, h = Math.max(ny, g.nz) + 2;
  const phi1 = new Float64Array(real ? w * h : 0), phi2 = new Float64Array(real ? w * h : 0);
  const corners = (lo1: number, hi1: number, lo2: number, hi2: number) => {
    let s = 0;
    if (!real) return 0;
    for (let b = lo2; b <= hi2; b++) {
      for (let a = lo1; a <= hi1; a++) {
        const p = a + w * b;
        s += phi1[p] + phi1[p + 1] + phi1[p + w] + phi1[p + w + 1] +
          phi2[p] + phi2[p + 1] + phi2[p + w] + phi2[p + w + 1];
      }
    }
    return s;
  };
  const count = (lo: number, hi: number) => Math.max(0, hi - lo + 1);
  const allsum = async (x: number) => {
    const b = new Float64Array([x]);
    await comm.allreduce(b.slice(), b, "SUM");
    return b[0];
  };

  // Face ζ = ki1 (phi1) and ζ = ki2 (phi2) over (i, j).
  if (real) {
    for (let j = jbeg; j <= jfin; j++) {
      for (let i = ibeg; i <= ifin; i++) {
        phi1[i + w * j] = pressure(u, g.at(i, j, ki1));
        phi2[i + w * j] = pressure(u, g.at(i, j, ki2));
      }
    }
  }
  await g.charge(LU_WORK.pressure, 2 * count(ibeg, ifin) * count(jbeg, jfin));
  await exchange4(g, phi1, phi2, w, ibeg, ifin1, jbeg, jfin1);
  let frc1 = corners(ibeg, ifin1, jbeg, jfin1);
  await g.charge(LU_WORK.pressure, count(ibeg, ifin1) * count(jbeg, jfin1));
  frc1 = g.dxi * g.deta * await allsum(frc1);

  // Face η = ji1 (phi1) and η = ji2 (phi2) over (i, k).
  phi1.fill(0);
  phi2.fill(0);
  const onJ1 = jpt + jbeg === ji1, onJ2 = jpt + jfin === ji2;
  if (real) {
    for (let k = ki1; k <= ki2; k++) {
      for (let i = ibeg; i <= ifin; i++) {
        if (onJ1) phi1[i + w * k] = pressure(u, g.at(i, jbeg, k));
        if (onJ2) phi2[i + w * k] = pressure(u, g.at(i, jfin, k));
      }
    }
  }
  await g.charge(LU_WORK.pressure, (+onJ1 + +onJ2) * count(ibeg, ifin) * count(ki1, ki2));
  if (onJ1) await exchange56(g, phi1, w, "i", ibeg, ifin1);
  if (onJ2) await exchange56(g, phi2, w, "i", ibeg, ifin1);
  let frc2 = corners(ibeg, ifin1, ki1, ki2 - 1);
  await g.charge(LU_WORK.pressure, count(ibeg, ifin1) * count(ki1, ki2 - 1));
  frc2 = g.dxi * g.dzeta * await allsum(frc2);

  // Face ξ = ii1 (phi1) and ξ = ii2 (phi2) over (j, k).
  phi1.fill(0);
  phi2.fill(0);
  const onI1 = ipt + ibeg === ii1, onI2 = ipt + ifin === ii2;
  if (real) {
    for (let k = ki1; k <= ki2; k++) {
      for (let j = jbeg; j <= jfin; j++) {
        if (onI1) phi1[j + w * k] = pressure(u, g.at(ibeg, j, k));
        if (onI2) phi2[j + w * k] = pressure(u, g.at(ifin, j, k));
      }
    }
  }
  await g.charge(LU_WORK.pressure, (+onI1 + +onI2) * count(jbeg, jfin) * count(ki1, ki2));
  if (onI1) await exchange56(g, phi1, w, "j", jbeg, jfin1);
  if (onI2) await exchange56(g, phi2, w, "j", jbeg, jfin1);
  let frc3 = corners(jbeg, jfin1, ki1, ki2 - 1);
  await g.charge(LU_WORK.pressure, count(jbeg, jfin1) * count(ki1, ki2 - 1));
  frc3 = g.deta * g.dzeta * await allsum(frc3);

  return 0.25 * (frc1 + frc2 + frc3);
}

/**
 * verify.f90: compare the residual norms `xcr`, error norms `xce` and
 * surface integral `xci` with NPB's reference values of `cls` (relative
 * difference ≤ 1e-8 each, and dt must be the class's). Returns the
 * verdict and NPB's report lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LU_REFERENCE } from "./params.ts";
 * import { luVerify } from "./verify.ts";
 * const { xcr, xce, xci } = LU_REFERENCE.S;
 * assert.equal(luVerify("S", [...xcr], [...xce], xci, 0.5).verified, true);
 * const off = luVerify("S", [...xcr], [...xce], xci * (1 + 2e-8), 0.5);
 * assert.equal(off.verified, false);
 * assert.ok(off.lines.some((l) => l.startsWith(" FAILURE:")));
 * ```
 */
export function luVerify(
  cls: NasClass,
  xcr: readonly number[],
  xce: readonly number[],
  xci: number,
  dt: number,
): { verified: boolean; lines: string[] } {
  const ref = LU_REFERENCE[cls as keyof typeof LU_REFERENCE];
  const c = LU_CLASSES[cls as keyof typeof LU_CLASSES];
  if (!ref || !c) {
    return { verified: false, lines: [" Unknown class", " No verification performed"] };
  }
  // Format 1990 starts with a blank line: (/, ' Verification being performed for class ', a).
  const lines = [
    "",
    ` Verification being performed for class ${cls}`,
    ` Accuracy setting for epsilon = ${fortranE(LU_EPSILON, 20, 13)}`,
  ];
  let verified = Math.abs(dt - c.dt) <= LU_EPSILON;
  if (!verified) lines.push(` DT does not match the reference value of ${fortranE(c.dt, 15, 8)}`);
  const row = (label: string, x: number, r: number) => {
    const c = compareNorm(label, x, r, LU_EPSILON);
    if (!c.ok) verified = false;
    return c.line;
  };
  lines.push(" Comparison of RMS-norms of residual");
  for (let m = 0; m < 5; m++) lines.push(row(`${fortranI(m + 1, 2)}  `, xcr[m], ref.xcr[m]));
  lines.push(" Comparison of RMS-norms of solution error");
  for (let m = 0; m < 5; m++) lines.push(row(`${fortranI(m + 1, 2)}  `, xce[m], ref.xce[m]));
  lines.push(" Comparison of surface integral");
  lines.push(row("    ", xci, ref.xci));
  lines.push(verified ? " Verification Successful" : " Verification failed");
  return { verified, lines };
}
