/**
 * Fortran edit descriptors NPB's kernels print their verification lines
 * with, so that `deno task nas` prints the numbers the way NPB does:
 * `Ew.d` (0.ddddE±xx), `1PDw.d` / `1PEw.d` (d.ddddD±xx) and `Iw`.
 *
 * @module
 */

function exponent(e: number): string {
  const a = Math.abs(e);
  return (e < 0 ? "-" : "+") + (a < 10 ? "0" : "") + a;
}

/**
 * Fortran `Ew.d`: `0.` then `d` digits and a two-digit exponent, right
 * aligned in `w` columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatE } from "./fortran_format.ts";
 * assert.equal(formatE(1.6196343210976702e-2, 20, 13), " 0.1619634321098E-01");
 * assert.equal(formatE(-7.8418928865937083, 20, 13), "-0.7841892886594E+01");
 * assert.equal(formatE(0, 12, 5), " 0.00000E+00");
 * ```
 */
export function formatE(x: number, w: number, d: number): string {
  if (!Number.isFinite(x)) return String(x).padStart(w);
  let body: string;
  if (x === 0) body = `0.${"0".repeat(d)}E+00`;
  else {
    // d significant digits after "0.": the same as (d-1) decimals in d.ddd form.
    const [mant, exp] = Math.abs(x).toExponential(d - 1).split("e");
    body = `0.${mant.replace(".", "")}E${exponent(Number(exp) + 1)}`;
  }
  return ((x < 0 ? "-" : "") + body).padStart(w);
}

/**
 * Fortran `1PDw.d` (or `1PEw.d` with `letter` "E"): one digit before the
 * point, `d` after, two-digit exponent, right aligned in `w` columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { format1P } from "./fortran_format.ts";
 * assert.equal(format1P(554.6087004964, 22, 12), "    5.546087004964D+02");
 * assert.equal(format1P(-1.5e-3, 12, 4, "E"), " -1.5000E-03");
 * ```
 */
export function format1P(x: number, w: number, d: number, letter: "D" | "E" = "D"): string {
  if (!Number.isFinite(x)) return String(x).padStart(w);
  const [mant, exp] = x.toExponential(d).split("e");
  return `${mant}${letter}${exponent(Number(exp))}`.padStart(w);
}

/**
 * Fortran `Iw`: an integer right aligned in `w` columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatI } from "./fortran_format.ts";
 * assert.equal(`${formatI(64, 4)}x${formatI(64, 4)}`, "  64x  64");
 * ```
 */
export function formatI(n: number, w: number): string {
  return String(n).padStart(w);
}
