/**
 * The few C `printf` conversions perftest's reports use, reproduced to the
 * byte: `%.Nf` (glibc rounds the exact binary value half to even, where
 * JavaScript's `toFixed` rounds an exact tie up), `%g`, field widths with
 * `-` (left) and `#x` (the `0x` prefix, dropped for zero as C does).
 *
 * @module
 */

/**
 * `printf("%.Nf", x)` as glibc prints it: the exact decimal value of the
 * double, rounded half to even at digit N.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cFixed } from "./c_format.ts";
 * assert.equal(cFixed(2.125, 2), "2.12"); // an exact tie: to even, as glibc
 * assert.equal((2.125).toFixed(2), "2.13"); // JavaScript rounds it up
 * assert.equal(cFixed(0.1 + 0.2, 6), "0.300000");
 * ```
 */
export function cFixed(x: number, digits: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  const neg = x < 0 || Object.is(x, -0);
  const ax = Math.abs(x);
  // toFixed(100) is the exact decimal expansion for every |x| >= 2^-47.
  if (ax >= 1e21 || (ax !== 0 && ax < 2 ** -47)) return x.toFixed(digits);
  const exact = ax.toFixed(100);
  const dot = exact.indexOf(".");
  const intPart = exact.slice(0, dot);
  const frac = exact.slice(dot + 1);
  const keep = frac.slice(0, digits);
  const rest = frac.slice(digits);
  let digitsStr = intPart + keep;
  const first = rest.charCodeAt(0) - 48;
  const beyond = /[1-9]/.test(rest.slice(1));
  const lastDigit = digitsStr.charCodeAt(digitsStr.length - 1) - 48;
  const roundUp = first > 5 || (first === 5 && (beyond || lastDigit % 2 === 1));
  if (roundUp) digitsStr = incrementDecimal(digitsStr);
  const ip = digitsStr.slice(0, digitsStr.length - digits) || "0";
  const fp = digitsStr.slice(digitsStr.length - digits);
  const body = digits > 0 ? `${ip}.${fp}` : ip;
  return neg && /[1-9]/.test(body) ? `-${body}` : neg ? `-${body}` : body;
}

/** Add one to a string of decimal digits. */
function incrementDecimal(s: string): string {
  const d = s.split("");
  let i = d.length - 1;
  for (; i >= 0; i--) {
    if (d[i] === "9") d[i] = "0";
    else {
      d[i] = String.fromCharCode(d[i].charCodeAt(0) + 1);
      break;
    }
  }
  return i < 0 ? "1" + d.join("") : d.join("");
}

/**
 * `printf("%g", x)`: six significant digits, trailing zeros removed,
 * exponent form below 1e-4 or from 1e6 on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cG } from "./c_format.ts";
 * assert.equal(cG(2.595), "2.595");
 * assert.equal(cG(1234567), "1.23457e+06");
 * assert.equal(cG(0.00001), "1e-05");
 * ```
 */
export function cG(x: number, precision = 6): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0" : "0";
  const p = precision === 0 ? 1 : precision;
  // The exponent after rounding to p significant digits decides the style.
  const e = cExponential(x, p - 1);
  const exp = Number(e.slice(e.indexOf("e") + 1));
  if (exp < -4 || exp >= p) {
    const [m, ex] = e.split("e");
    return `${stripZeros(m)}e${ex}`;
  }
  return stripZeros(cFixed(x, p - 1 - exp));
}

/** `%.Ne` with glibc's rounding and a two-digit exponent at least. */
function cExponential(x: number, digits: number): string {
  const ax = Math.abs(x);
  let exp = Math.floor(Math.log10(ax));
  // Correct log10's rounding at powers of ten.
  if (ax / 10 ** exp >= 10) exp++;
  if (ax / 10 ** exp < 1) exp--;
  let mant = cFixed(ax / 10 ** exp, digits);
  if (mant.startsWith("10")) {
    exp++;
    mant = cFixed(ax / 10 ** exp, digits);
  }
  const sign = exp < 0 ? "-" : "+";
  const ae = Math.abs(exp);
  return `${x < 0 ? "-" : ""}${mant}e${sign}${ae < 10 ? "0" : ""}${ae}`;
}

function stripZeros(s: string): string {
  return s.includes(".") ? s.replace(/\.?0+$/, "") : s;
}

/**
 * A `printf` subset: `%d`, `%u`/`%lu`/`%llu`/`%PRIu64`-style integers
 * (write `%lu`), `%s`, `%f` with precision, `%g`, `%x` with `#`, widths
 * with `-`/`0`, `%%`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cPrintf } from "./c_format.ts";
 * assert.equal(cPrintf(" %-7lu %-7.2f|", 64, 5.19), " 64      5.19   |");
 * assert.equal(cPrintf("QPN %#06x PSN %#06x", 0x48, 0), "QPN 0x0048 PSN 000000");
 * ```
 */
export function cPrintf(fmt: string, ...args: unknown[]): string {
  let ai = 0;
  return fmt.replace(
    /%([-#0 +]*)(\d+)?(?:\.(\d+))?(hh|h|ll|l|z)?([diouxXfgs%])/g,
    (_m, flags: string, width: string | undefined, prec: string | undefined, _len, conv) => {
      if (conv === "%") return "%";
      const v = args[ai++];
      let s: string;
      switch (conv) {
        case "d":
        case "i":
        case "u":
          s = typeof v === "bigint" ? v.toString() : String(Math.trunc(Number(v)));
          break;
        case "x":
        case "X": {
          const n = typeof v === "bigint" ? v : BigInt(Math.trunc(Number(v)));
          s = n.toString(16);
          if (conv === "X") s = s.toUpperCase();
          if (flags.includes("#") && n !== 0n) {
            const prefix = conv === "x" ? "0x" : "0X";
            if (flags.includes("0") && width) {
              s = prefix + s.padStart(Math.max(0, Number(width) - 2), "0");
              return s;
            }
            s = prefix + s;
          }
          break;
        }
        case "o":
          s = Math.trunc(Number(v)).toString(8);
          break;
        case "f":
          s = cFixed(Number(v), prec === undefined ? 6 : Number(prec));
          break;
        case "g":
          s = cG(Number(v), prec === undefined ? 6 : Number(prec));
          break;
        default:
          s = String(v);
      }
      const w = width ? Number(width) : 0;
      if (s.length >= w) return s;
      if (flags.includes("-")) return s.padEnd(w);
      if (flags.includes("0") && conv !== "s") {
        const neg = s.startsWith("-");
        return (neg ? "-" : "") + s.slice(neg ? 1 : 0).padStart(w - (neg ? 1 : 0), "0");
      }
      return s.padStart(w);
    },
  );
}
