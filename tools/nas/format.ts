/**
 * Number formatting as NPB's output statements do it: Fortran edit
 * descriptors (`Iw`, `Fw.d`, `Ew.d`, `Dw.d`, with the `1P` scale factor) for
 * the Fortran kernels, C `printf` conversions for the C ones, so that
 * `deno task nas` prints NPB's lines character for character. A value that
 * does not fit its field prints as asterisks, as Fortran does.
 *
 * @module
 */

/**
 * Fortran `Iw`: the integer right-justified in `w` columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fortranI } from "./format.ts";
 * assert.equal(fortranI(42, 5), "   42");
 * assert.equal(fortranI(123456, 3), "***");
 * ```
 */
export function fortranI(n: number, w: number): string {
  return fit(String(Math.trunc(n)), w);
}

/**
 * Fortran `Fw.d`: fixed point with `d` decimals right-justified in `w`
 * columns; `d` = 0 keeps the decimal point (`f15.0` of 3 is `"3."`). A
 * negative value that rounds to zero keeps its sign (`-0.00`), as gfortran
 * prints it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fortranF } from "./format.ts";
 * assert.equal(fortranF(0.5, 10, 3), "     0.500");
 * assert.equal(fortranF(13176389, 15, 0), "      13176389.");
 * ```
 */
export function fortranF(x: number, w: number, d: number): string {
  if (!Number.isFinite(x)) {
    return fit(Number.isNaN(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity", w);
  }
  let s = x.toFixed(d);
  if (d === 0) s += ".";
  return fit(s, w);
}

/**
 * Fortran `Ew.d` / `Dw.d` with scale factor `scale` (0: `0.ddddE+ee`, as
 * `e20.14`; 1: `d.dddE+ee`, as `1p,d25.15`). `letter` is `"E"` or `"D"`.
 * Exponents beyond ±99 drop the letter (`1.0+100`), as Fortran does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fortranE } from "./format.ts";
 * assert.equal(fortranE(10512994.20395306, 25, 15, 1, "D"), "    1.051299420395306D+07");
 * assert.equal(fortranE(0.00123, 12, 4, 0, "E"), "  0.1230E-02");
 * ```
 */
export function fortranE(
  x: number,
  w: number,
  d: number,
  scale: 0 | 1 = 0,
  letter: "E" | "D" = "E",
): string {
  if (!Number.isFinite(x)) {
    return fit(Number.isNaN(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity", w);
  }
  const neg = x < 0 || Object.is(x, -0);
  const a = Math.abs(x);
  let mant: string;
  let exp: number;
  if (scale === 1) {
    const [m, e] = a.toExponential(d).split("e");
    mant = m;
    exp = a === 0 ? 0 : Number(e);
  } else {
    // 0.ddd…×10^exp: one more digit of precision than scale 1 shows before the point.
    if (a === 0) {
      mant = "0." + "0".repeat(d);
      exp = 0;
    } else {
      const [m, e] = a.toExponential(d - 1).split("e");
      mant = "0." + m.replace(".", "");
      exp = Number(e) + 1;
    }
  }
  const sign = exp < 0 ? "-" : "+";
  const ae = Math.abs(exp);
  const tail = ae <= 99 ? `${letter}${sign}${String(ae).padStart(2, "0")}` : `${sign}${ae}`;
  return fit(`${neg && a !== 0 ? "-" : ""}${mant}${tail}`, w);
}

/**
 * Fortran `Aw` for a string: right-justified in `w` columns (truncated to
 * its leftmost `w` characters when longer, as Fortran output does).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fortranA } from "./format.ts";
 * assert.equal(fortranA("S", 12), "           S");
 * assert.equal(fortranA("abcdef", 3), "abc");
 * ```
 */
export function fortranA(s: string, w: number): string {
  return s.length >= w ? s.slice(0, w) : s.padStart(w);
}

/**
 * C `%w.df`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cF } from "./format.ts";
 * assert.equal(cF(58.2149, 12, 2), "       58.21");
 * ```
 */
export function cF(x: number, w: number, d: number): string {
  const s = Number.isFinite(x) ? x.toFixed(d) : Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  return s.padStart(w);
}

/**
 * C `%wd` / `%wld` (a wider number widens the field, as printf does).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cD } from "./format.ts";
 * assert.equal(cD(65536, 12), "       65536");
 * assert.equal(cD(65536, 3), "65536");
 * ```
 */
export function cD(n: number, w: number): string {
  return String(Math.trunc(n)).padStart(w);
}

function fit(s: string, w: number): string {
  return s.length > w ? "*".repeat(w) : s.padStart(w);
}
