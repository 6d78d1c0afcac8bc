/**
 * What verify.f90 of NPB's BT, SP and LU shares (NPB 3.4-MPI BT/verify.f90,
 * SP/verify.f90, LU/verify.f90): the comparison of one computed norm with
 * its reference value (relative difference ≤ epsilon, NaN failing) and
 * its printed line, and BT's and SP's whole report (they share
 * verify.f90's structure; LU adds the surface integral and prints its own
 * header).
 *
 * @module
 */
import { fortranE, fortranI } from "../format.ts";
import type { NasClass } from "../kernel.ts";

/**
 * One comparison line of verify.f90 (formats 2011 and 2015 of BT and SP,
 * 2011/2015 and 2031/2035 of LU): `label` after ten spaces, or after
 * ` FAILURE: ` where |(x − r) / r| exceeds `epsilon` or is NaN, then x,
 * r and the relative difference in E20.13.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareNorm } from "./verify.ts";
 * const ok = compareNorm(" 1", 2, 2, 1e-8);
 * assert.equal(ok.ok, true);
 * assert.equal(ok.line, "           1 0.2000000000000E+01 0.2000000000000E+01 0.0000000000000E+00");
 * assert.equal(compareNorm(" 1", 2, 2 * (1 + 2e-8), 1e-8).ok, false);
 * assert.equal(compareNorm(" 1", NaN, 2, 1e-8).line.slice(0, 10), " FAILURE: ");
 * ```
 */
export function compareNorm(
  label: string,
  x: number,
  r: number,
  epsilon: number,
): { ok: boolean; line: string } {
  const dif = Math.abs((x - r) / r);
  const ok = !Number.isNaN(dif) && dif <= epsilon;
  return {
    ok,
    line: `${ok ? "          " : " FAILURE: "}${label}${fortranE(x, 20, 13)}${fortranE(r, 20, 13)}${
      fortranE(dif, 20, 13)
    }`,
  };
}

/**
 * NPB's reference values of one class for BT or SP: the time step and the
 * RMS norms of the residual (divided by dt) and of the solution error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NormReference } from "./verify.ts";
 * const r: NormReference = { dt: 0.01, xcr: [1, 1, 1, 1, 1], xce: [1, 1, 1, 1, 1] };
 * assert.equal(r.xcr.length, 5);
 * ```
 */
export interface NormReference {
  dt: number;
  xcr: readonly number[];
  xce: readonly number[];
}

/**
 * verify.f90's comparison of BT and SP on rank 0: the residual norms `xcr`
 * (already divided by dt) and error norms `xce` of class `cls` against
 * `ref` (undefined: an unknown class), each within `epsilon`, and dt
 * within `epsilon` of the reference's (else NPB treats the class as
 * unknown: it prints the norms and verifies nothing). Returns the verdict
 * and NPB's lines (formats 1990, 2000, 2010 … 2021; 'accuracy' in lower
 * case as BT's and SP's verify.f90 write it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { verifyNorms } from "./verify.ts";
 * const ref = { dt: 0.01, xcr: [1, 2, 3, 4, 5], xce: [1, 2, 3, 4, 5] };
 * const ok = verifyNorms("S", ref, [1, 2, 3, 4, 5], [1, 2, 3, 4, 5], 0.01, 1e-8);
 * assert.equal(ok.verified, true);
 * assert.equal(ok.lines[1], " accuracy setting for epsilon =  0.1000000000000E-07");
 * const off = verifyNorms("S", ref, [1, 2, 3, 4, 5], [1, 2, 3, 4, 5.0001], 0.01, 1e-8);
 * assert.equal(off.verified, false);
 * assert.ok(off.lines.some((l) => l.startsWith(" FAILURE:  5")));
 * assert.equal(verifyNorms("S", ref, [], [], 0.02, 1e-8).lines.at(-1), " No verification performed");
 * assert.deepEqual(verifyNorms("B", undefined, [], [], 0.01, 1e-8).lines, [
 *   " Unknown class",
 *   " No verification performed",
 * ]);
 * ```
 */
export function verifyNorms(
  cls: NasClass,
  ref: NormReference | undefined,
  xcr: readonly number[],
  xce: readonly number[],
  dt: number,
  epsilon: number,
): { verified: boolean; lines: string[] } {
  if (!ref) {
    return { verified: false, lines: [" Unknown class", " No verification performed"] };
  }
  const lines = [
    ` Verification being performed for class ${cls}`,
    ` accuracy setting for epsilon = ${fortranE(epsilon, 20, 13)}`,
  ];
  let verified = Math.abs(dt - ref.dt) <= epsilon;
  if (!verified) {
    lines.push(` DT does not match the reference value of ${fortranE(ref.dt, 15, 8)}`);
    lines.push(" RMS-norms of residual");
    for (let m = 0; m < 5; m++) {
      lines.push(`          ${fortranI(m + 1, 2)}${fortranE(xcr[m], 20, 13)}`);
    }
    lines.push(" RMS-norms of solution error");
    for (let m = 0; m < 5; m++) {
      lines.push(`          ${fortranI(m + 1, 2)}${fortranE(xce[m], 20, 13)}`);
    }
    lines.push(" No reference values provided", " No verification performed");
    return { verified: false, lines };
  }
  const row = (m: number, x: number, r: number) => {
    const c = compareNorm(fortranI(m + 1, 2), x, r, epsilon);
    if (!c.ok) verified = false;
    return c.line;
  };
  lines.push(" Comparison of RMS-norms of residual");
  for (let m = 0; m < 5; m++) lines.push(row(m, xcr[m], ref.xcr[m]));
  lines.push(" Comparison of RMS-norms of solution error");
  for (let m = 0; m < 5; m++) lines.push(row(m, xce[m], ref.xce[m]));
  lines.push(verified ? " Verification Successful" : " Verification failed");
  return { verified, lines };
}

/**
 * error.f90's last step of error_norm and rhs_norm (BT, SP): each of the
 * five summed squares divided by (n − 2) three times, in that order, then
 * its square root.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rmsOfSums } from "./verify.ts";
 * assert.deepEqual(rmsOfSums(new Float64Array([1000, 0, 4000, 0, 0]), 12), [1, 0, 2, 0, 0]);
 * ```
 */
export function rmsOfSums(sums: Float64Array, n: number): number[] {
  return [...sums].map((s) => {
    let r = s;
    for (let d = 0; d < 3; d++) r = r / (n - 2);
    return Math.sqrt(r);
  });
}
