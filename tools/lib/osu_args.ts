/**
 * Flag parsing for `tools/osu.ts`: OSU Micro-Benchmarks 7.0's options for
 * each benchmark (its getopt strings and defaults, `c/util/osu_util.c`), with
 * OSU's messages for bad values, plus the launch flags (`-np`, `--mode`, …),
 * read by getoptLong (./getopt.ts) as process_options' getopt_long loop.
 *
 * @module
 */
import { type GetoptError, getoptLong, type LongOption } from "./getopt.ts";
import { UsageError } from "./perftest_args.ts";
import {
  checkLaunchFlags,
  defaultLaunchFlags,
  type LaunchFlags,
  launchOptionTable,
  takeLaunchOption,
} from "./mpi_args.ts";

/**
 * The benchmarks, their OSU title and which option set they take.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OSU_BENCHMARKS } from "./osu_args.ts";
 * assert.equal(OSU_BENCHMARKS.osu_latency.title, "OSU MPI Latency Test");
 * ```
 */
export const OSU_BENCHMARKS = {
  osu_latency: { kind: "latency", title: "OSU MPI Latency Test", opts: "hvm:x:i:b:cu:" },
  osu_multi_lat: {
    kind: "multi_lat",
    title: "OSU MPI Multi Latency Test",
    opts: "hvm:x:i:b:cu:",
  },
  osu_bw: { kind: "bw", title: "OSU MPI Bandwidth Test", opts: "hvm:x:i:t:W:b:cu:" },
  osu_bibw: {
    kind: "bibw",
    title: "OSU MPI Bi-Directional Bandwidth Test",
    opts: "hvm:x:i:t:W:b:cu:",
  },
  osu_mbw_mr: {
    kind: "mbw_mr",
    title: "OSU MPI Multiple Bandwidth / Message Rate Test",
    opts: "p:W:R:x:i:m:Vhvb:cu:",
  },
  osu_barrier: { kind: "barrier", title: "OSU MPI Barrier Latency Test", opts: "hvfm:i:x:M:a:u:" },
  osu_bcast: { kind: "bcast", title: "OSU MPI Broadcast Latency Test", opts: "hvfm:i:x:M:a:cu:" },
  osu_allreduce: {
    kind: "allreduce",
    title: "OSU MPI Allreduce Latency Test",
    opts: "hvfm:i:x:M:a:cu:",
  },
  osu_alltoall: {
    kind: "alltoall",
    title: "OSU MPI All-to-All Personalized Exchange Latency Test",
    opts: "hvfm:i:x:M:a:cu:",
  },
  osu_alltoallv: {
    kind: "alltoallv",
    title: "OSU MPI All-to-Allv Personalized Exchange Latency Test",
    opts: "hvfm:i:x:M:a:cu:",
  },
  osu_alltoallw: {
    kind: "alltoallw",
    title: "OSU MPI All-to-Allw Personalized Exchange Latency Test",
    opts: "hvfm:i:x:M:a:cu:",
  },
  osu_reduce: { kind: "reduce", title: "OSU MPI Reduce Latency Test", opts: "hvfm:i:x:M:a:cu:" },
  osu_gather: { kind: "gather", title: "OSU MPI Gather Latency Test", opts: "hvfm:i:x:M:a:cu:" },
  osu_scatter: { kind: "scatter", title: "OSU MPI Scatter Latency Test", opts: "hvfm:i:x:M:a:cu:" },
  osu_allgather: {
    kind: "allgather",
    title: "OSU MPI Allgather Latency Test",
    opts: "hvfm:i:x:M:a:cu:",
  },
  osu_gatherv: { kind: "gatherv", title: "OSU MPI Gatherv Latency Test", opts: "hvfm:i:x:M:a:cu:" },
  osu_scatterv: {
    kind: "scatterv",
    title: "OSU MPI Scatterv Latency Test",
    opts: "hvfm:i:x:M:a:cu:",
  },
  osu_allgatherv: {
    kind: "allgatherv",
    title: "OSU MPI Allgatherv Latency Test",
    opts: "hvfm:i:x:M:a:cu:",
  },
  osu_reduce_scatter: {
    kind: "reduce_scatter",
    title: "OSU MPI Reduce_scatter Latency Test",
    opts: "hvfm:i:x:M:a:cu:",
  },
  // The non-blocking collectives (OMB 7.0's c/mpi/collective/osu_i*.c; -t: MPI_Test calls
  // during the dummy computation; -c and -u for every one but osu_ibarrier, whose subtype
  // NBC has no data to check: process_options' optstrings).
  osu_ibarrier: {
    kind: "ibarrier",
    title: "OSU MPI Non-blocking Barrier Latency Test",
    opts: "hvfm:i:x:M:t:a:",
  },
  osu_ibcast: {
    kind: "ibcast",
    title: "OSU MPI Non-Blocking Broadcast Latency Test",
    opts: "hvfm:i:x:M:t:a:cu:",
  },
  osu_iallreduce: {
    kind: "iallreduce",
    title: "OSU MPI Non-blocking Allreduce Latency Test",
    opts: "hvfm:i:x:M:t:a:cu:",
  },
  osu_ireduce: {
    kind: "ireduce",
    title: "OSU MPI Non-blocking Reduce Latency Test",
    opts: "hvfm:i:x:M:t:a:cu:",
  },
  osu_igather: {
    kind: "igather",
    title: "OSU MPI Non-blocking Gather Latency Test",
    opts: "hvfm:i:x:M:t:a:cu:",
  },
  osu_iscatter: {
    kind: "iscatter",
    title: "OSU MPI Non-blocking Scatter Latency Test",
    opts: "hvfm:i:x:M:t:a:cu:",
  },
  osu_iallgather: {
    kind: "iallgather",
    title: "OSU MPI Non-blocking Allgather Latency Test",
    opts: "hvfm:i:x:M:t:a:cu:",
  },
  osu_ialltoall: {
    kind: "ialltoall",
    title: "OSU MPI Non-blocking All-to-All Latency Test",
    opts: "hvfm:i:x:M:t:a:cu:",
  },
  osu_igatherv: {
    kind: "igatherv",
    title: "OSU MPI Non-blocking Gatherv Latency Test",
    opts: "hvfm:i:x:M:t:a:cu:",
  },
  osu_iscatterv: {
    kind: "iscatterv",
    title: "OSU MPI Non-blocking Scatterv Latency Test",
    opts: "hvfm:i:x:M:t:a:cu:",
  },
  osu_iallgatherv: {
    kind: "iallgatherv",
    title: "OSU MPI Non-blocking Allgatherv Latency Test",
    opts: "hvfm:i:x:M:t:a:cu:",
  },
  osu_ialltoallv: {
    kind: "ialltoallv",
    title: "OSU MPI Non-blocking All-to-Allv Personalized Exchange Latency Test",
    opts: "hvfm:i:x:M:t:a:cu:",
  },
  osu_ialltoallw: {
    kind: "ialltoallw",
    title: "OSU MPI Non-blocking All-to-Allw Personalized Exchange Latency Test",
    opts: "hvfm:i:x:M:t:a:cu:",
  },
  osu_ireduce_scatter: {
    kind: "ireduce_scatter",
    title: "OSU MPI Non-blocking Reduce_scatter Latency Test",
    opts: "hvfm:i:x:M:t:a:cu:",
  },
} as const;

/**
 * Whether a benchmark kind is one of OMB's blocking collectives (options.bench
 * == COLLECTIVE: `-f`, `-M`, the COLL_* defaults, print_preamble's layout).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isCollective } from "./osu_args.ts";
 * assert.equal(isCollective("gather"), true);
 * assert.equal(isCollective("bw"), false);
 * ```
 */
export function isCollective(kind: string): boolean {
  return isNonBlocking(kind) || [
    "barrier",
    "bcast",
    "allreduce",
    "alltoall",
    "alltoallv",
    "alltoallw",
    "reduce",
    "gather",
    "scatter",
    "allgather",
    "gatherv",
    "scatterv",
    "allgatherv",
    "reduce_scatter",
  ]
    .includes(kind);
}

/**
 * Whether a benchmark kind is one of OMB's non-blocking collectives
 * (osu_ibarrier, osu_ibcast, …: options.bench COLLECTIVE, subtype NBC_*),
 * which time the operation alone and then overlapped with a dummy
 * computation of that length.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isNonBlocking } from "./osu_args.ts";
 * assert.equal(isNonBlocking("iallreduce"), true);
 * assert.equal(isNonBlocking("allreduce"), false);
 * ```
 */
export function isNonBlocking(kind: string): boolean {
  return /^i(barrier|bcast|allreduce|reduce|gatherv?|scatterv?|allgatherv?|alltoall[vw]?|reduce_scatter)$/
    .test(kind);
}

/**
 * A benchmark name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { OsuName } from "./osu_args.ts";
 * const n: OsuName = "osu_bw";
 * assert.equal(n, "osu_bw");
 * ```
 */
export type OsuName = keyof typeof OSU_BENCHMARKS;

/**
 * OMB's version the formats and defaults follow.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OSU_VERSION } from "./osu_args.ts";
 * assert.equal(`v${OSU_VERSION}`, "v7.0");
 * ```
 */
export const OSU_VERSION = "7.0";

/**
 * OSU's limits and defaults (`c/util/osu_util.h`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OSU_DEFAULTS } from "./osu_args.ts";
 * assert.equal(OSU_DEFAULTS.LARGE_MESSAGE_SIZE, 8192);
 * ```
 */
export const OSU_DEFAULTS = {
  BW_LOOP_SMALL: 100,
  BW_SKIP_SMALL: 10,
  BW_LOOP_LARGE: 20,
  BW_SKIP_LARGE: 2,
  LAT_LOOP_SMALL: 10000,
  LAT_SKIP_SMALL: 100,
  LAT_LOOP_LARGE: 1000,
  LAT_SKIP_LARGE: 10,
  COLL_LOOP_SMALL: 1000,
  COLL_SKIP_SMALL: 100,
  COLL_LOOP_LARGE: 100,
  COLL_SKIP_LARGE: 10,
  VALIDATION_SKIP_DEFAULT: 5,
  VALIDATION_SKIP_MAX: 10,
  MAX_MESSAGE_SIZE: 1 << 22,
  MAX_MSG_SIZE_COLL: 1 << 20,
  MIN_MESSAGE_SIZE: 1,
  LARGE_MESSAGE_SIZE: 8192,
  MAX_MEM_LIMIT: 512 * 1024 * 1024,
  MAX_MEM_LOWER_LIMIT: 1024 * 1024,
  WINDOW_SIZE_LARGE: 64,
  WINDOW_SIZES: [1, 2, 4, 8, 16, 32, 64, 128],
  MAX_REQ_NUM: 1000,
} as const;

/**
 * A parsed command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOsuArgs } from "./osu_args.ts";
 * const c = parseOsuArgs(["osu_bw", "-W", "16", "-m", "1024"]);
 * assert.deepEqual([c.windowSize, c.maxSize, c.iterations], [16, 1024, 100]);
 * ```
 */
export interface OsuConfig {
  /** Benchmark. */
  name: OsuName;
  /** `-h`. */
  help: boolean;
  /** `-v`. */
  version: boolean;
  /** Smallest message size. */
  minSize: number;
  /** Largest message size. */
  maxSize: number;
  /** Timed iterations up to LARGE_MESSAGE_SIZE. */
  iterations: number;
  /** Timed iterations above it. */
  iterationsLarge: number;
  /** Warmup iterations up to LARGE_MESSAGE_SIZE. */
  skip: number;
  /** Warmup iterations above it. */
  skipLarge: number;
  /** `-W`. */
  windowSize: number;
  /** `-V` (osu_mbw_mr). */
  windowVaried: boolean;
  /** `-p` (osu_mbw_mr; default np / 2). */
  pairs?: number;
  /** `-R` (osu_mbw_mr). */
  printRate: boolean;
  /** `-b single|multiple`. */
  bufNum: "single" | "multiple";
  /** `-c`. */
  validate: boolean;
  /** `-u` (only with -c). */
  warmupValidation: number;
  /** `-f` (collectives). */
  full: boolean;
  /** `-M`. */
  memLimit: number;
  /** `-t` (non-blocking collectives): MPI_Test calls during the dummy computation. */
  probes: number;
  /** Launch flags. */
  launch: LaunchFlags;
  /** What OSU prints on stderr while parsing (its warnings), in order. */
  warnings: string[];
}

/**
 * OMB 7.0's long_options (c/util/osu_util.c process_options), in its order, with the letter each
 * returns: one table for every benchmark, and `ddt`, the entry process_options appends for most.
 */
const OMB_LONG: readonly (readonly [string, string])[] = [
  ["help", "h"],
  ["version", "v"],
  ["full", "f"],
  ["message-size", "m"],
  ["window-size", "W"],
  ["num-test-calls", "t"],
  ["iterations", "i"],
  ["warmup", "x"],
  ["array-size", "a"],
  ["sync-option", "s"],
  ["win-options", "w"],
  ["mem-limit", "M"],
  ["accelerator", "d"],
  ["cuda-target", "r"],
  ["print-rate", "R"],
  ["num-pairs", "p"],
  ["vary-window", "V"],
  ["validation", "c"],
  ["buffer-num", "b"],
  ["validation-warmup", "u"],
  ["graph", "G"],
  ["papi", "P"],
  ["ddt", "D"],
];
const LETTER = new Map(OMB_LONG);

/**
 * The one-sided benchmarks (OSU_RMA_BENCHMARKS of tools/lib/osu_rma.ts, which imports this
 * module), named where a command line names no benchmark this parser knows.
 */
const ONE_SIDED: Readonly<Record<string, string>> = {
  // Their getopt strings (OMB 7.0 process_options: `+:w:s:hvm:x:i:G:`, `W:` for the bandwidth
  // tests), less the leading `+:` and what xenib refuses by name (ONE_SIDED_REFUSED).
  osu_put_latency: "w:s:hvm:x:i:",
  osu_get_latency: "w:s:hvm:x:i:",
  osu_acc_latency: "w:s:hvm:x:i:",
  osu_fop_latency: "w:s:hvm:x:i:",
  osu_cas_latency: "w:s:hvm:x:i:",
  osu_put_bw: "w:s:hvm:x:i:W:",
  osu_get_bw: "w:s:hvm:x:i:W:",
  osu_put_bibw: "w:s:hvm:x:i:W:",
};
const ONE_SIDED_NAMES = Object.keys(ONE_SIDED);

/** OSU options xenib's port does not offer, with why. */
const UNSUPPORTED: Record<string, string> = {
  d: "accelerator buffers (-d) are not simulated",
  r: "CUDA kernel targets (-r) are not simulated",
  G: "graph output (-G) is not supported",
  D: "derived datatypes (-D) are not supported (contiguous buffers only)",
  P: "PAPI counters (-P) are not supported",
  s: "one-sided options (-s) belong to the one-sided benchmarks (osu_put_latency, osu_get_bw, …)",
  w: "one-sided options (-w) belong to the one-sided benchmarks (osu_put_latency, osu_get_bw, …)",
};

/** What the one-sided benchmarks' port refuses by name, with why (their getopt strings have G:). */
const ONE_SIDED_REFUSED: Readonly<Record<string, string>> = {
  G: UNSUPPORTED.G,
  P: UNSUPPORTED.P,
  d: UNSUPPORTED.d,
};

function bad(name: string, message: string, opt: string, arg?: string): UsageError {
  return new UsageError(
    `${name}: ${message} [-${opt}${arg !== undefined ? ` ${arg}` : ""}] (see --help)`,
  );
}

/** OMB's options that take no argument (the others are `required_argument`). */
const NO_ARGUMENT = "hvfcV";

/**
 * A benchmark's getopt_long table: OMB 7.0's long options, the short letters of its getopt
 * string and of the options xenib refuses by name, then xenib's launch flags as extensions.
 */
function optionTable(spec: string, refused: Readonly<Record<string, string>>): LongOption[] {
  return [
    ...OMB_LONG.map(([long, o]) => ({
      name: long,
      ...(spec.includes(o) || Object.hasOwn(refused, o) ? { short: o } : {}),
      // OMB declares --vary-window with a required argument; it takes none here, as -V.
      hasArg: !NO_ARGUMENT.includes(o),
    })),
    ...launchOptionTable(),
  ];
}

/**
 * The getopt_long table `deno task osu NAME …` reads a benchmark's command line with, for tools
 * that look at an osu command line (tools/launch.ts): OMB 7.0's long options in their order, the
 * short letters of the benchmark's getopt string and of those refused by name (`-d`, `-r`, `-G`,
 * `-D`, `-P`, `-s`, `-w` for the two-sided benchmarks, `-G`, `-P`, `-d` for the one-sided ones),
 * then xenib's launch flags as extensions (`--mode`, `--profile`, `-np`, …: ./mpi_args.ts). A
 * name it does not know gets osu_latency's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getoptLong } from "./getopt.ts";
 * import { osuOptionTable } from "./osu_args.ts";
 * const r = getoptLong(["-W", "16", "--prof", "p.yaml", "-np", "2"], osuOptionTable("osu_bw"));
 * assert.deepEqual(r.options.map((o) => [o.name, o.value]), [
 *   ["window-size", "16"],
 *   ["profile", "p.yaml"],
 *   ["np", "2"],
 * ]);
 * // osu_latency has no -W (its getopt string has none); the one-sided tests take -s.
 * assert.equal(osuOptionTable("osu_latency").find((o) => o.name === "window-size")?.short, undefined);
 * assert.equal(osuOptionTable("osu_put_latency").find((o) => o.name === "sync-option")?.short, "s");
 * ```
 */
export function osuOptionTable(name: string): readonly LongOption[] {
  return optionTable(...optionsOf(name));
}

/** A benchmark's getopt string and what xenib refuses by name (osu_latency's for another name). */
function optionsOf(name: string): [string, Readonly<Record<string, string>>] {
  if (Object.hasOwn(ONE_SIDED, name)) return [ONE_SIDED[name], ONE_SIDED_REFUSED];
  const b = Object.hasOwn(OSU_BENCHMARKS, name)
    ? OSU_BENCHMARKS[name as OsuName]
    : OSU_BENCHMARKS.osu_latency;
  return [b.opts, UNSUPPORTED];
}

/**
 * Read benchmark `name`'s command line with getoptLong and its {@link osuOptionTable}, as
 * process_options' getopt_long loop reads it: each option as getopt returns it, so the first
 * error on the line is the one reported, in OSU's words where process_options has its own (its
 * getopt strings start with `:`, so glibc says nothing and it names getopt's optopt: `Invalid
 * option [-z]`, `Option Missing Required Argument [-i]`). Launch flags go to `launch`. `option`
 * gets each of the benchmark's own options and says whether process_options returns there (-h,
 * -v: nothing after it is read); `operand` gets each operand after the options, in order (getopt
 * permutes them to the end; `--` ends the options, so every word after it is one, a launch flag
 * too). The two-sided benchmarks
 * ({@link parseOsuArgs}) and the one-sided ones (tools/lib/osu_rma.ts) are read with it.
 * @returns false where `option` stopped
 * @throws UsageError naming the option
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultLaunchFlags } from "./mpi_args.ts";
 * import { readOsuCommandLine } from "./osu_args.ts";
 * const seen: string[] = [], launch = defaultLaunchFlags();
 * const line = {
 *   name: "osu_put_latency",
 *   launch,
 *   option: (o: string, arg?: string) => (seen.push(`${o}=${arg}`), o === "h"),
 *   operand: (w: string) => void seen.push(w),
 * };
 * assert.equal(readOsuCommandLine(line, ["op", "-sfence", "--mo", "split", "--mess", "8"]), true);
 * assert.deepEqual([seen, launch.mode], [["s=fence", "m=8", "op"], "split"]);
 * // `--` ends the options: every word after it is an operand, a launch flag too.
 * seen.length = 0;
 * assert.equal(readOsuCommandLine(line, ["--", "--mode", "bypass"]), true);
 * assert.deepEqual([seen, launch.mode], [["--mode", "bypass"], "split"]);
 * assert.equal(readOsuCommandLine(line, ["-h", "-z"]), false); // -h returns before -z
 * assert.throws(() => readOsuCommandLine(line, ["-z"]), /^UsageError: osu_put_latency: Invalid option \[-z\]/);
 * assert.throws(() => readOsuCommandLine(line, ["-G", "png"]), /not supported \[-G\]$/);
 * ```
 */
export function readOsuCommandLine(
  line: {
    name: string;
    launch: LaunchFlags;
    option: (o: string, arg: string | undefined) => boolean;
    operand: (word: string) => void;
  },
  args: readonly string[],
): boolean {
  const { name, launch } = line;
  const [spec, refused] = optionsOf(name);
  const found = getoptLong([...args], optionTable(spec, refused), { recordError: true });
  const e = found.error;
  for (const [k, f] of found.options.entries()) {
    if (e?.before === k) throw refusal(name, spec, refused, e.error);
    if (takeLaunchOption(f, launch)) continue;
    const o = LETTER.get(f.name)!;
    if (Object.hasOwn(refused, o)) throw new UsageError(`${name}: ${refused[o]} [${f.spelled}]`);
    if (!spec.includes(o)) throw unknownOption(name, f.spelled);
    if (line.option(o, f.value)) return false;
  }
  if (e) throw refusal(name, spec, refused, e.error);
  // `--` ends the options, launch flags' too (glibc's rule, as nas and mpirun read theirs): what
  // follows it is an operand, as OMB's process_options leaves it to the benchmark.
  for (const w of found.positionals) line.operand(w);
  return true;
}

/**
 * A long option of OMB's table the benchmark's getopt string lacks: OMB's getopt_long returns
 * its letter all the same and process_options applies it; xenib refuses it (docs/mpi.md).
 */
function unknownOption(name: string, spelled: string): UsageError {
  return new UsageError(`${name}: unknown option '${spelled}' (see --help)`);
}

/** What a word getopt refused is called: OSU's words, glibc's for long options. */
function refusal(
  name: string,
  spec: string,
  refused: Readonly<Record<string, string>>,
  e: GetoptError,
): UsageError {
  const spelled = e.spelled ?? "";
  if (e.option === undefined) {
    if (!spelled.startsWith("--")) return bad(name, "Invalid option", spelled.slice(1));
    // glibc's "unrecognized option '--frob'", or its ambiguous prefix naming the candidates.
    return new UsageError(`${name}: ${e.message} (see --help)`);
  }
  const o = LETTER.get(e.option);
  // A launch flag's missing value: glibc's words.
  if (o === undefined) return new UsageError(`${name}: ${e.message} (see --help)`);
  if (Object.hasOwn(refused, o)) return new UsageError(`${name}: ${refused[o]} [${spelled}]`);
  if (!spec.includes(o)) return unknownOption(name, spelled);
  if (!NO_ARGUMENT.includes(o)) return bad(name, "Option Missing Required Argument", o);
  // `--full=1`: glibc's getopt_long (posix/getopt.c process_long_option) names the option.
  return new UsageError(`${name}: ${e.message} (see --help)`);
}

/**
 * A count as OMB reads it: process_options passes `atoi(optarg)` to setters that take a C `int`
 * (set_num_iterations, set_num_warmup, set_window_size, set_num_probes, …; OMB 7.0
 * c/util/osu_util.c), so a value outside an int is no count at all (in C, undefined behaviour;
 * `-i 9007199254740993` would otherwise run 2^53 iterations): it gets the option's "Invalid …".
 */
function int(s: string): number | undefined {
  if (!/^-?\d+$/.test(s.trim())) return undefined;
  const n = Number(s);
  return n >= -(2 ** 31) && n <= 2 ** 31 - 1 ? n : undefined;
}

/**
 * Parse `osu NAME [flags]` by getopt_long's rules (./getopt.ts, with {@link osuOptionTable}):
 * clusters (`-fc`), a value glued on or the next word, long options by any unambiguous prefix,
 * `--` ending the options; xenib's launch flags are extensions that take a prefix only where it
 * names none of OMB's long options (`--mo` is `--mode`; `--m` is OMB's ambiguous one).
 *
 * @throws UsageError with OSU's message and the offending option
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOsuArgs } from "./osu_args.ts";
 * const c = parseOsuArgs(["osu_latency", "--mode", "bypass", "-m", "8:64", "-i", "500"]);
 * assert.deepEqual([c.launch.mode, c.minSize, c.maxSize, c.iterations], ["bypass", 8, 64, 500]);
 * assert.throws(() => parseOsuArgs(["osu_latency", "-i", "0"]), /Invalid Number of Iterations/);
 * // OSU's own words for what getopt refuses (its getopt strings start with ':').
 * assert.throws(() => parseOsuArgs(["osu_latency", "-W", "4"]), /Invalid option \[-W\]/);
 * assert.throws(() => parseOsuArgs(["osu_bw", "-cz"]), /Invalid option \[-z\]/);
 * assert.equal(parseOsuArgs(["osu_bw", "--mo", "split", "-cW16"]).launch.mode, "split");
 * ```
 */
export function parseOsuArgs(argv: readonly string[]): OsuConfig {
  const name = argv[0];
  // Every benchmark `deno task osu` runs: these and the one-sided ones tools/osu.ts hands to
  // tools/lib/osu_rma.ts before calling this parser.
  const all = [...Object.keys(OSU_BENCHMARKS), ...ONE_SIDED_NAMES].join(", ");
  if (!name || name.startsWith("-")) {
    if (name === "-h" || name === "--help") {
      return { ...defaults("osu_latency"), help: true };
    }
    throw new UsageError(`give a benchmark first: ${all}`);
  }
  if (!Object.hasOwn(OSU_BENCHMARKS, name)) {
    throw new UsageError(`unknown benchmark '${name}' (have: ${all})`);
  }
  const c = defaults(name as OsuName);
  let validationWarmupSet = false;
  let hostBuffers = 0;
  const read = readOsuCommandLine({
    name,
    launch: c.launch,
    option: (o, arg) => {
      if (o === "u") validationWarmupSet = true;
      apply(c, o, arg);
      // process_options returns at the first -h or -v: what follows is not
      // read, so `-h -i 0` and `-hx` print the help (OMB 7.0 c/util/osu_util.c).
      return c.help || c.version;
    },
    operand: (a) => {
      // OMB's [SRC DST] buffer locations: H (host) is what every buffer is here.
      if (a === "H" && ++hostBuffers <= 2) return;
      if (/^(D|M|MD|MH)$/.test(a)) {
        throw new UsageError(
          `${name}: device and managed buffers (${a}) are not simulated; buffers are host memory (H)`,
        );
      }
      throw new UsageError(`${name}: unexpected argument '${a}' (see --help)`);
    },
  }, argv.slice(1));
  if (!read) return c;
  if (hostBuffers === 1) {
    throw new UsageError(`${name}: give both buffer locations, SRC and DST (H H), or neither`);
  }
  if (!c.validate) c.warmupValidation = 0;
  else if (!validationWarmupSet) c.warmupValidation = OSU_DEFAULTS.VALIDATION_SKIP_DEFAULT;
  // Refused where OMB would print no row at all; osu_barrier and osu_ibarrier have no message
  // size (options.show_size = 0: osu_barrier.c, osu_ibarrier.c never read min or max), so any
  // -m OMB accepts leaves their one row as it is.
  const kind = OSU_BENCHMARKS[c.name].kind;
  if (c.minSize > c.maxSize && kind !== "barrier" && kind !== "ibarrier") {
    throw new UsageError(
      `${name}: minimum message size ${c.minSize} exceeds the maximum ${c.maxSize} [-m]`,
    );
  }
  checkLaunchFlags(c.launch);
  return c;
}

function defaults(name: OsuName): OsuConfig {
  const D = OSU_DEFAULTS;
  const kind = OSU_BENCHMARKS[name].kind;
  const coll = isCollective(kind);
  const bw = kind === "bw" || kind === "bibw" || kind === "mbw_mr";
  return {
    name,
    help: false,
    version: false,
    // process_options: PT2PT latency tests (subtype LAT) start at 0 bytes.
    minSize: kind === "latency" || kind === "multi_lat" ? 0 : D.MIN_MESSAGE_SIZE,
    maxSize: coll ? D.MAX_MSG_SIZE_COLL : D.MAX_MESSAGE_SIZE,
    iterations: bw ? D.BW_LOOP_SMALL : coll ? D.COLL_LOOP_SMALL : D.LAT_LOOP_SMALL,
    iterationsLarge: bw ? D.BW_LOOP_LARGE : coll ? D.COLL_LOOP_LARGE : D.LAT_LOOP_LARGE,
    skip: bw ? D.BW_SKIP_SMALL : coll ? D.COLL_SKIP_SMALL : D.LAT_SKIP_SMALL,
    skipLarge: bw ? D.BW_SKIP_LARGE : coll ? D.COLL_SKIP_LARGE : D.LAT_SKIP_LARGE,
    windowSize: D.WINDOW_SIZE_LARGE,
    windowVaried: false,
    printRate: true,
    bufNum: "single",
    validate: false,
    warmupValidation: D.VALIDATION_SKIP_DEFAULT,
    full: false,
    memLimit: D.MAX_MEM_LIMIT,
    probes: 0,
    launch: defaultLaunchFlags(),
    warnings: [],
  };
}

/**
 * Apply one option letter and its argument to `c`, with OSU's checks and
 * messages (the one-sided port, tools/lib/osu_rma.ts, takes `-m`, `-i`,
 * `-x` and `-W` from here too).
 *
 * @throws UsageError with OSU's message
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { applyOsuOption, parseOsuArgs } from "./osu_args.ts";
 * const c = parseOsuArgs(["osu_bw"]);
 * applyOsuOption(c, "m", "0:64");
 * assert.deepEqual([c.minSize, c.maxSize], [1, 64]); // MIN 0 keeps the default minimum
 * assert.throws(() => applyOsuOption(c, "W", "0"), /Invalid Window Size \[-W 0\]/);
 * ```
 */
export function applyOsuOption(c: OsuConfig, o: string, arg: string | undefined): void {
  apply(c, o, arg);
}

function apply(c: OsuConfig, o: string, arg: string | undefined): void {
  const name = c.name;
  const n = arg === undefined ? undefined : int(arg);
  switch (o) {
    case "h":
      c.help = true;
      return;
    case "v":
      c.version = true;
      return;
    case "f":
      c.full = true;
      return;
    case "c":
      c.validate = true;
      return;
    case "V":
      c.windowVaried = true;
      return;
    case "m": {
      // set_message_size (OMB 7.0 c/util/osu_util.c): MAX, MIN:MAX, MIN: or
      // :MAX; a minimum must be > 0. In MIN:MAX the result of setting MAX
      // overwrites that of setting MIN, so `-m 0:MAX` is accepted and the
      // minimum stays the benchmark's default (0 for osu_latency, else 1).
      const parts = arg!.split(":");
      const num = (s: string) => (/^\d+$/.test(s) ? Number(s) : undefined);
      if (parts.length === 1) {
        const mx = num(parts[0]);
        if (mx === undefined) throw bad(name, "Invalid Message Size", o, arg);
        c.maxSize = mx;
      } else if (parts.length === 2) {
        const [lo, hi] = parts;
        if (lo === "" && hi === "") throw bad(name, "Invalid Message Size", o, arg);
        if (lo !== "") {
          const mn = num(lo);
          if (mn === undefined || (mn === 0 && hi === "")) {
            throw bad(name, "Invalid Message Size", o, arg);
          }
          if (mn > 0) c.minSize = mn;
        }
        if (hi !== "") {
          const mx = num(hi);
          if (mx === undefined) throw bad(name, "Invalid Message Size", o, arg);
          c.maxSize = mx;
        }
      } else throw bad(name, "Invalid Message Size", o, arg);
      return;
    }
    case "i":
      if (n === undefined || n < 1) throw bad(name, "Invalid Number of Iterations", o, arg);
      c.iterations = c.iterationsLarge = n;
      return;
    case "x":
      if (n === undefined || n < 0) throw bad(name, "Invalid Number of Warmup Iterations", o, arg);
      c.skip = c.skipLarge = n;
      return;
    case "W": {
      if (n === undefined || n < 1) throw bad(name, "Invalid Window Size", o, arg);
      // osu_bw.c and osu_bibw.c post a window into OMB 7.0's global request arrays
      // (`MPI_Request request[MAX_REQ_NUM]`, send_request, recv_request: c/util/osu_util_mpi.c,
      // MAX_REQ_NUM = 1000 in c/util/osu_util.h) and set_window_size checks only `1 > value`:
      // a window above 1000 writes past them. osu_mbw_mr mallocs its requests per window and
      // the one-sided bandwidth tests use none, so they keep any window.
      const kind = (OSU_BENCHMARKS as Record<string, { kind: string }>)[name]?.kind;
      if ((kind === "bw" || kind === "bibw") && n > OSU_DEFAULTS.MAX_REQ_NUM) {
        throw bad(
          name,
          `Invalid Window Size (at most ${OSU_DEFAULTS.MAX_REQ_NUM}, OSU's MAX_REQ_NUM requests)`,
          o,
          arg,
        );
      }
      c.windowSize = n;
      return;
    }
    case "p":
      // OMB 7.0's process_options takes any atoi value (0 pairs divide by zero later): refused.
      if (n === undefined || n < 1) throw bad(name, "Invalid Number of Pairs", o, arg);
      c.pairs = n;
      return;
    case "R":
      // process_options refuses it with no message set (OMB prints "(null) [-R 2]"): one here.
      if (n !== 0 && n !== 1) throw bad(name, "Print rate must be 0 or 1", o, arg);
      c.printRate = n === 1;
      return;
    case "b": {
      // strncasecmp in process_options: any case.
      const kind = arg!.toLowerCase();
      if (kind !== "single" && kind !== "multiple") {
        throw bad(name, "Please use 'single' or 'multiple' for buffer type", o, arg);
      }
      c.bufNum = kind;
      return;
    }
    case "u":
      // set_num_warmup_validation and VALIDATION_SKIP_MAX (process_options), without OMB 7.0's
      // run-together words ("Warmup  Iterations", "Iterationsmust be less than 10").
      if (n === undefined || n < 0) {
        throw bad(name, "Invalid Number of Validation Warmup Iterations", o, arg);
      }
      if (n > OSU_DEFAULTS.VALIDATION_SKIP_MAX) {
        throw bad(name, "Number of Validation Warmup Iterations must be at most 10", o, arg);
      }
      c.warmupValidation = n;
      return;
    case "M": {
      // set_max_memlimit takes atoll's long long: beyond an int, up to what a double holds.
      const n = /^-?\d+$/.test(arg!.trim()) && Number.isSafeInteger(Number(arg))
        ? Number(arg)
        : undefined;
      if (n === undefined) throw bad(name, "Invalid Memory Limit", o, arg);
      // set_max_memlimit (OMB 7.0 c/util/osu_util.c): a limit below 1 MiB
      // is raised to 1 MiB with a warning, not refused.
      c.memLimit = Math.max(n, OSU_DEFAULTS.MAX_MEM_LOWER_LIMIT);
      if (n < OSU_DEFAULTS.MAX_MEM_LOWER_LIMIT) {
        c.warnings.push(
          `Requested memory limit too low, using [${OSU_DEFAULTS.MAX_MEM_LOWER_LIMIT}] instead.`,
        );
      }
      return;
    }
    case "a":
      if (n === undefined || n < 1) throw bad(name, "Invalid Device Array Size", o, arg);
      return; // accelerator dummy-compute array: accepted, no effect here
    case "t":
      // set_num_probes (c/util/osu_util.c): the non-blocking collectives'
      // MPI_Test calls, none by default; a negative count is refused.
      if (isNonBlocking(OSU_BENCHMARKS[name].kind)) {
        if (n === undefined || n < 0) throw bad(name, "Invalid Number of Probes", o, arg);
        c.probes = n;
        return;
      }
      // osu_bw and osu_bibw take -t (their getopt string has t:) but
      // process_options reads its argument only for collectives (probes) and
      // the multi-threaded/multi-process latency tests: any argument is
      // accepted and has no effect (OMB 7.0 c/util/osu_util.c).
      return;
  }
}
