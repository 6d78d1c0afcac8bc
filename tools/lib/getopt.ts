/**
 * glibc `getopt_long` as perftest calls it: short options cluster (`-aF`),
 * a short option's value may be glued on (`-s64`) or be the next word even
 * when it starts with `-` (`-s -5`), long options take `--size=64` or
 * `--size 64` and may be abbreviated to any unique prefix (`--iter 10`),
 * words that are not options are collected (glibc permutes them to the
 * end), and `--` ends the options. An option may also be named by whole
 * single-dash words (xenib's `-np`). Options come back in command-line
 * order, so "the last one wins" is the caller's loop, as in perftest.
 *
 * @module
 */

/**
 * One option of the table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getoptLong, type LongOption } from "./getopt.ts";
 * const table: LongOption[] = [
 *   { name: "size", short: "s", hasArg: true }, // required_argument
 *   { name: "all", short: "a", hasArg: false }, // no_argument
 * ];
 * // A value may be glued on or be the next word, even one starting with "-".
 * assert.deepEqual(getoptLong(["-s64", "-s", "-5"], table).options.map((o) => o.value), [
 *   "64",
 *   "-5",
 * ]);
 * assert.throws(() => getoptLong(["--all=1"], table), {
 *   name: "GetoptError",
 *   message: "option '--all' doesn't allow an argument", // glibc's words
 * });
 * // An extension never makes a prefix of the program's own options ambiguous.
 * const ext = [...table, { name: "allow", hasArg: false, extension: true }];
 * assert.deepEqual(getoptLong(["--al"], ext).options[0].name, "all");
 * assert.deepEqual(getoptLong(["--allo"], ext).options[0].name, "allow");
 * // A whole single-dash word may name one too (it is no cluster of -n and -p).
 * const np = [...table, { name: "np", hasArg: true, extension: true, words: ["-np"] }];
 * assert.deepEqual(getoptLong(["-np", "4", "-as8"], np).options.map((o) => [o.spelled, o.value]), [
 *   ["-np", "4"],
 *   ["-a", undefined],
 *   ["-s", "8"],
 * ]);
 * ```
 */
export interface LongOption {
  /** Long name without dashes. */
  name: string;
  /** Single-letter form, if any. */
  short?: string;
  /** Takes a value (getopt's `required_argument`). */
  hasArg: boolean;
  /**
   * An extension to the program's own table: matched by its full name, or by a prefix that
   * names none of the program's own options, so it never makes a prefix the program accepts
   * ambiguous (xenib's `--noise` leaves perftest's `--no` meaning `--noPeak`).
   */
  extension?: boolean;
  /**
   * Whole single-dash words that name it too (xenib's `-np`, as mpirun spells it): each is read
   * before the word could be a cluster of short options, only as it is spelled (no prefix, no
   * `=VALUE`); its value, if it takes one, is the next word.
   */
  words?: readonly string[];
}

/**
 * An option as found on the command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getoptLong } from "./getopt.ts";
 * const { options } = getoptLong(["-s64"], [{ name: "size", short: "s", hasArg: true }]);
 * assert.deepEqual(options[0], { name: "size", value: "64", spelled: "-s" });
 * ```
 */
export interface FoundOption {
  /** The table's long name. */
  name: string;
  /** Its value (options with an argument). */
  value?: string;
  /** How the user wrote it (`-s`, `--size`, `--si`). */
  spelled: string;
}

/**
 * A command line getopt refuses; the message is glibc's wording.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GetoptError, getoptLong } from "./getopt.ts";
 * assert.deepEqual(new GetoptError("unrecognized option '--x'").name, "GetoptError");
 * // An argument missing, or given to an option that takes none, names the table's option.
 * assert.throws(() => getoptLong(["-s"], [{ name: "size", short: "s", hasArg: true }]), {
 *   message: "option requires an argument -- 's'",
 *   option: "size",
 *   spelled: "-s",
 * });
 * // An unknown one is named as it was written.
 * assert.throws(() => getoptLong(["-aq"], [{ name: "all", short: "a", hasArg: false }]), {
 *   message: "invalid option -- 'q'",
 *   option: undefined,
 *   spelled: "-q",
 * });
 * ```
 */
export class GetoptError extends Error {
  /**
   * @param message glibc's diagnostic, without the program name
   * @param option the table's name of the option refused for its argument (missing, or given
   * to one that takes none); none for a word that names no option (unknown or ambiguous)
   * @param spelled the option as the user wrote it (`-q`, `-s`, `--si`, `--frob`), without any
   * `=VALUE`: a refused short option is `-` and its letter, as glibc's `optopt` names it
   */
  constructor(message: string, readonly option?: string, readonly spelled?: string) {
    super(message);
    this.name = "GetoptError";
  }
}

/**
 * The first word getopt refused, and where: `before` options had been
 * found ahead of it. perftest's `parser()` handles each option as
 * `getopt_long` returns it, so those come first (a `-h` among them returns
 * before the refused word is reached).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getoptLong } from "./getopt.ts";
 * const table = [{ name: "help", short: "h", hasArg: false }];
 * const r = getoptLong(["-h", "--frob"], table, { recordError: true });
 * assert.deepEqual(r.error?.before, 1);
 * assert.equal(r.error?.error.message, "unrecognized option '--frob'");
 * ```
 */
export interface GetoptFailure {
  /** glibc's diagnostic. */
  error: GetoptError;
  /** How many options were found before it. */
  before: number;
}

/**
 * Parse `argv` against `table` as glibc's `getopt_long` with permutation.
 * With `recordError`, the first refused word is returned as `error` (the
 * scan goes on as a caller that keeps calling getopt would, so later
 * options and the positionals are still collected); without it, it is thrown.
 * With `stopAtOperand`, the options end at the first word that is none, as
 * with glibc's optstring starting with `+` (REQUIRE_ORDER): it and every word
 * after it are positionals (a program's own arguments, as mpirun's).
 * @throws GetoptError on an unknown, ambiguous or incomplete option (unless `recordError`)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getoptLong } from "./getopt.ts";
 * const table = [
 *   { name: "iters", short: "n", hasArg: true },
 *   { name: "all", short: "a", hasArg: false },
 *   { name: "CPU-freq", short: "F", hasArg: false },
 * ];
 * const r = getoptLong(["host", "-aF", "--iter=10"], table);
 * assert.deepEqual(r.options.map((o) => o.name), ["all", "CPU-freq", "iters"]);
 * assert.equal(r.options[2].value, "10");
 * assert.deepEqual(r.positionals, ["host"]);
 * const late = getoptLong(["-a", "-x", "-F"], table, { recordError: true });
 * assert.deepEqual([late.options.length, late.error?.before], [2, 1]);
 * // "+": the first operand ends the options.
 * const plus = getoptLong(["-a", "prog", "-F"], table, { stopAtOperand: true });
 * assert.deepEqual([plus.options.length, plus.positionals], [1, ["prog", "-F"]]);
 * ```
 */
export function getoptLong(
  argv: string[],
  table: readonly LongOption[],
  opts: { recordError?: boolean; stopAtOperand?: boolean } = {},
): { options: FoundOption[]; positionals: string[]; error?: GetoptFailure } {
  const options: FoundOption[] = [];
  const positionals: string[] = [];
  let error: GetoptFailure | undefined;
  const refuse = (message: string, option: string | undefined, spelled: string): void => {
    const e = new GetoptError(message, option, spelled);
    if (!opts.recordError) throw e;
    error ??= { error: e, before: options.length };
  };
  const byShort = new Map<string, LongOption>();
  const byWord = new Map<string, LongOption>();
  for (const o of table) {
    if (o.short) byShort.set(o.short, o);
    for (const w of o.words ?? []) byWord.set(w, o);
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      const word = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      const o = matchLong(word, arg.slice(2), table);
      if (typeof o === "string") {
        refuse(o, undefined, `--${word}`);
        continue;
      }
      if (o.hasArg) {
        let value: string;
        if (eq >= 0) value = arg.slice(eq + 1);
        else if (i + 1 < argv.length) value = argv[++i];
        else {
          refuse(`option '--${o.name}' requires an argument`, o.name, `--${word}`);
          continue;
        }
        options.push({ name: o.name, value, spelled: `--${word}` });
      } else {
        if (eq >= 0) {
          refuse(`option '--${o.name}' doesn't allow an argument`, o.name, `--${word}`);
          continue;
        }
        options.push({ name: o.name, spelled: `--${word}` });
      }
      continue;
    }
    const w = byWord.get(arg);
    if (w) {
      if (!w.hasArg) options.push({ name: w.name, spelled: arg });
      else if (i + 1 < argv.length) options.push({ name: w.name, value: argv[++i], spelled: arg });
      else refuse(`option '${arg}' requires an argument`, w.name, arg);
      continue;
    }
    if (arg.startsWith("-") && arg.length > 1) {
      for (let k = 1; k < arg.length; k++) {
        const c = arg[k];
        const o = byShort.get(c);
        if (!o) {
          refuse(`invalid option -- '${c}'`, undefined, `-${c}`);
          continue;
        }
        if (!o.hasArg) {
          options.push({ name: o.name, spelled: `-${c}` });
          continue;
        }
        let value: string;
        if (k + 1 < arg.length) value = arg.slice(k + 1);
        else if (i + 1 < argv.length) value = argv[++i];
        else {
          refuse(`option requires an argument -- '${c}'`, o.name, `-${c}`);
          break;
        }
        options.push({ name: o.name, value, spelled: `-${c}` });
        break;
      }
      continue;
    }
    if (opts.stopAtOperand) {
      positionals.push(...argv.slice(i));
      break;
    }
    positionals.push(arg);
  }
  return error ? { options, positionals, error } : { options, positionals };
}

/**
 * Exact match first, else the one option the word is a prefix of (the program's own before
 * extensions); else glibc's diagnostic. glibc's process_long_option quotes the whole word after
 * `--` in the unrecognized and ambiguous messages (`d->__nextchar`, `=value` included) and the
 * option's table name in the others.
 */
function matchLong(
  word: string,
  whole: string,
  table: readonly LongOption[],
): LongOption | string {
  const exact = table.find((o) => o.name === word);
  if (exact) return exact;
  const prefixed = table.filter((o) => o.name.startsWith(word));
  const own = prefixed.filter((o) => !o.extension);
  const hits = own.length > 0 ? own : prefixed;
  if (hits.length === 1 && word.length > 0) return hits[0];
  if (hits.length > 1 && word.length > 0) {
    return `option '--${whole}' is ambiguous; possibilities: ${
      hits.map((h) => `'--${h.name}'`).join(" ")
    }`;
  }
  return `unrecognized option '--${whole}'`;
}

/**
 * The paragraph a tool's `--help` states getopt_long's rules in, worded the same for every tool
 * that reads its line with {@link getoptLong} (perftest, devinfo, osu, nas, mpirun): prefixes,
 * `=VALUE` or the next word, `--`. `examples` are prefixes the tool takes; `scope` narrows where
 * the flags are read (mpirun's: up to the program). Lines are at most 92 columns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getoptHelp } from "./getopt.ts";
 * assert.equal(
 *   getoptHelp("--cl A, --mo split"),
 *   "Flags are read by getopt_long's rules: a long flag may be any unambiguous prefix (--cl A,\n" +
 *     "--mo split), its value the next word or after '='; '--' ends the flags.",
 * );
 * // An example is never split over two lines.
 * assert.match(getoptHelp("--iter 1000, --mo split"), /prefix\n\(--iter 1000, --mo split\)/);
 * ```
 */
export function getoptHelp(examples: string, scope = ""): string {
  // An example (`--iter 1000`) is never split over two lines.
  const unit = examples.split(", ").map((e) => e.replaceAll(" ", "\u00a0")).join(", ");
  const words =
    (`Flags are read by getopt_long's rules${scope}: a long flag may be any unambiguous ` +
      `prefix (${unit}), its value the next word or after '='; '--' ends the flags.`).split(" ");
  const lines: string[] = [];
  let line = "";
  for (const w of words) {
    if (line && line.length + 1 + w.length > 92) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  lines.push(line);
  return lines.join("\n").replaceAll("\u00a0", " ");
}
