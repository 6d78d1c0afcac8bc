/**
 * Command-line parsing for `tools/perftest.ts`, as perftest 4.5's `parser()`
 * and `force_dependecies()` (src/perftest_parameters.c, 4.5-0.17): glibc
 * `getopt_long` (clusters, glued values, unique prefixes), values read with
 * C's `strtol(…, 0)` (so `-s 0x40` is 64, `-s 010` is 8, and a value is cast
 * to the C type perftest stores it in), the last occurrence of a flag wins,
 * and every check perftest makes, with perftest's message after the flag
 * (`-n/--iters: Iteration num should be between 5 and 100000000`). Flags
 * perftest accepts and xenib cannot give a meaning are refused with the
 * reason (see {@link PERFTEST_FLAGS}). xenib's own flags: `--mode`, `--noise`, `--jobs`,
 * `--profile`, `--seed`, `--json`, `--device`, `--pcap`, `--pcap-format`.
 *
 * Every error is a {@link UsageError}; warnings perftest prints (and
 * values it silently wraps) are returned in `notices` for the CLI.
 *
 * @module
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { type FoundOption, getoptHelp, getoptLong, type LongOption } from "./getopt.ts";
import { PERFTEST_FLAGS, RAW_ETH_OPTIONS } from "./perftest_flags.ts";
import {
  type AtomicType,
  type Connection,
  type Mode,
  MODES,
  PERFTEST_TESTS,
  type TestKind,
  type TestName,
  type Verb,
} from "./perftest_types.ts";

export { MODES, PERFTEST_TESTS };
export type { AtomicType, Connection, Mode, TestKind, TestName, Verb };

/**
 * perftest's limits (perftest_parameters.h, 4.5-0.17).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LIMITS } from "./perftest_args.ts";
 * assert.deepEqual([LIMITS.minIters, LIMITS.maxIters], [5, 100000000]);
 * ```
 */
export const LIMITS = {
  minIters: 5,
  maxIters: 100_000_000,
  maxTx: 15000,
  maxQps: 16384,
  maxInline: 912,
  maxInlineUd: 884,
  maxSize: 2 ** 31 - 1,
  allMaxSize: 8388608,
  atomicSize: 8,
  udAddition: 40,
  maxRx: 16384,
  ucMaxRx: 16000,
  defRxSend: 512,
  maxCqMod: 1024,
  defCqMod: 100,
  cqModSizeLimit: 8192,
  maxGidIx: 64,
  maxSl: 15,
  maxEqNum: 2048,
  defDuration: 5,
  defHopLimit: 64,
  peakItersLimit: 20000,
} as const;

/** perftest's `VERSION` of 4.5-0.17 (configure.ac). */
export const PERFTEST_VERSION = "6.06";

/**
 * Which figure `--output` prints alone, or `full` for the whole report.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type OutputLevel, parsePerftestArgs } from "./perftest_args.ts";
 * const o: OutputLevel = parsePerftestArgs(["ib_write_bw", "--output", "bandwidth"]).output;
 * assert.equal(o, "bandwidth"); // the report is then one number per size
 * assert.equal(parsePerftestArgs(["ib_write_bw"]).output, "full");
 * // A latency test has one figure to give.
 * assert.throws(() => parsePerftestArgs(["ib_write_lat", "--output", "bandwidth"]), {
 *   message: "--output: Output verbosity level for LAT can be: latency",
 * });
 * ```
 */
export type OutputLevel = "full" | "bandwidth" | "message_rate" | "latency";

/**
 * perftest's software rate limiter settings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePerftestArgs, type RateLimit } from "./perftest_args.ts";
 * const c = parsePerftestArgs(["ib_write_bw", "--rate_limit", "1", "--rate_limit_type", "SW"]);
 * const r: RateLimit = c.rateLimit;
 * // 1 Gb/s, in bursts of the tx depth
 * assert.deepEqual(r, { type: "SW", rate: 1, units: "g", burst: 128 });
 * assert.equal(c.notices[0].text, " Setting burst size to tx depth = 128"); // as perftest says
 * assert.equal(parsePerftestArgs(["ib_write_bw"]).rateLimit.type, "off");
 * ```
 */
export interface RateLimit {
  /** `SW` (the only one modelled) or `off`. */
  type: "off" | "SW";
  /** The rate in `units`. */
  rate: number;
  /** `M` MiB/s, `g` Gb/s, `p` packets/s. */
  units: "M" | "g" | "p";
  /** Messages per burst (default tx depth). */
  burst: number;
}

/**
 * A fully resolved perftest run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePerftestArgs, type PerftestConfig } from "./perftest_args.ts";
 * const c: PerftestConfig = parsePerftestArgs(["ib_send_bw", "-q", "4"]);
 * assert.deepEqual([c.qps, c.txDepth, c.iters], [4, 128, 1000]);
 * ```
 */
export interface PerftestConfig {
  /** Program name. */
  test: TestName;
  /** Verb of the program. */
  verb: Verb;
  /** Latency or bandwidth. */
  kind: TestKind;
  /** Message sizes to run, in bytes (one unless `-a`). */
  sizes: number[];
  /** `-a`: every power of two 2..2^23. */
  all: boolean;
  /** Whether `-s` was given (perftest's `req_size`: a UD size above the MTU is then an error). */
  sizeGiven: boolean;
  /** Iterations per size (`-n`); in duration mode what `-n` said (unused). */
  iters: number;
  /** Requested path MTU (`-m`), or undefined for the port's active MTU. */
  mtu?: number;
  /** Max inline size (`-I`), or undefined for perftest's default for this test. */
  inlineSize?: number;
  /** `-e`: wait on the completion channel instead of polling. */
  events: boolean;
  /** `-X`: completion vector (with `-e`). */
  eqNum?: number;
  /** `-F`. */
  cpuFreqF: boolean;
  /** `-c`. */
  connection: Connection;
  /** Send queue depth / outstanding WRs (`-t`). */
  txDepth: number;
  /** Receive queue depth (`-r`, send tests). */
  rxDepth: number;
  /** Number of QPs (`-q`), bandwidth tests only. */
  qps: number;
  /** `--report_gbits`. */
  reportGbits: boolean;
  /** `-A` for atomic tests. */
  atomicType: AtomicType;
  /** `-b`. */
  bidirectional: boolean;
  /** `--report-both`. */
  reportBoth: boolean;
  /** `--reversed`: the second endpoint sends. */
  reversed: boolean;
  /** `-l`. */
  postList: number;
  /** `--recv_post_list`. */
  recvPostList: number;
  /** CQ moderation in force (`-Q`, or perftest's default and rules). */
  cqMod: number;
  /** Whether `-Q` was given. */
  cqModGiven: boolean;
  /** `-N` (or perftest's own: above 20000 iterations, duration mode). */
  noPeak: boolean;
  /** `-o`: outstanding reads/atomics, undefined for the device max. */
  outReads?: number;
  /** `--use-srq`. */
  useSrq: boolean;
  /** `-D` seconds (virtual), undefined for an iterations run. */
  duration?: number;
  /** `-f` seconds, after perftest's default of D/4. */
  margin: number;
  /** `--run_infinitely`. */
  runInfinitely: boolean;
  /** `-C`. */
  reportCycles: boolean;
  /** `-H`. */
  histogram: boolean;
  /** `-U`. */
  unsorted: boolean;
  /** `--output`. */
  output: OutputLevel;
  /** `-x`, undefined for no GRH (`-g` makes it 0, as perftest). */
  gidIndex?: number;
  /** `-g`: UD SENDs to a multicast group the server's QP is attached to. */
  mcg: boolean;
  /** `-M`: the group's MGID (perftest's MCG_GID when absent). */
  mgid?: Uint8Array;
  /** `-S`. */
  sl: number;
  /** `-u`. */
  qpTimeout: number;
  /** `--pkey_index`. */
  pkeyIndex: number;
  /** `--dlid`. */
  dlid?: number;
  /** `--tclass`. */
  trafficClass: number;
  /** `-R`: the test's QPs are connected with rdma_cm (perftest's `work_rdma_cm`). */
  rdmaCm: boolean;
  /** `-z`, or `-R`: connection data exchanged over an rdma_cm connection (`use_rdma_cm`). */
  commRdmaCm: boolean;
  /** `-T` (with `-R`): the rdma_cm ids' type of service. */
  tos?: number;
  /** `--retry_count`: rdma_cm's retry and RNR retry counts (default 7). */
  retryCount: number;
  /** `-p`: the server's port (rdma_cm's with `-R`/`-z`; default 18515). */
  port: number;
  /** `-d`. */
  ibDev?: string;
  /** `-i`. */
  ibPort: number;
  /**
   * `-O`: the QPs (perftest doubles `-q`) spread over two ports: the first
   * half on `ibPort`, the second on port 2 (perftest's `ib_port2`).
   */
  dualport: boolean;
  /** `--report-per-port` (with `-O` and `-D`): each port's bandwidth and message rate. */
  reportPerPort: boolean;
  /** `--latency_gap`, µs. */
  latencyGapUs: number;
  /** `-w`. */
  limitBw?: number;
  /** `-y`. */
  limitMsgRate?: number;
  /** `-W` counter names. */
  counters: string[];
  /** `--out_json`. */
  outJson: boolean;
  /** `--out_json_file` (relative to where the task was run). */
  outJsonFile: string;
  /** `--cpu_util` (duration mode). */
  cpuUtil: boolean;
  /** `--perform_warm_up`. */
  warmUp: boolean;
  /** `--mr_per_qp`. */
  mrPerQp: boolean;
  /** `--wait_destroy`, virtual seconds. */
  waitDestroy: number;
  /** `--disable_pcie_relaxed` (write_lat always: perftest disables it there). */
  disablePcieRelaxed: boolean;
  /** Rate limiter. */
  rateLimit: RateLimit;
  /** `--mmap` file (buffers start with its bytes). */
  mmapFile?: string;
  /** `--mmap-offset`. */
  mmapOffset: number;
  /** `--ipv6`. */
  ipv6: boolean;
  /** `--mode`. */
  mode: Mode;
  /** `--profile` (built-in name or YAML file). */
  profile: string;
  /** `--seed`. */
  seed: number;
  /** `--noise on|off`: the profile's seeded noise model (default on; off: every sample exact). */
  noise: "on" | "off";
  /** `--jobs N`: workers for the sizes of a run (default one per core). */
  jobs?: number;
  /** `--json`. */
  json: boolean;
  /** `--device real[:NAME]`: run on real hardware through FFI. */
  device?: { real: true; name?: string };
  /** `--pcap FILE`. */
  pcap?: string;
  /** `--pcap-format`. */
  pcapFormat: "ib" | "rocev2";
  /** `-h`. */
  help: boolean;
  /** `-V`. */
  version: boolean;
  /** What perftest prints before the header (its warnings), in order. */
  notices: Notice[];
}

/**
 * A line perftest prints while parsing, to stdout or stderr.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Notice, parsePerftestArgs } from "./perftest_args.ts";
 * const [n]: Notice[] = parsePerftestArgs(["ib_write_bw", "-l", "4"]).notices;
 * assert.deepEqual(n, {
 *   stream: "stdout",
 *   text: "Post List requested - CQ moderation will be the size of the post list",
 *   resultLine: true, // after perftest's separator line
 * });
 * ```
 */
export interface Notice {
  /** perftest's stream for it. */
  stream: "stdout" | "stderr";
  /** The line (perftest's RESULT_LINE before it is implied for `resultLine`). */
  text: string;
  /** perftest prints its separator line first. */
  resultLine?: boolean;
  /** xenib's own note (not a perftest line), e.g. a value perftest wraps silently. */
  xenib?: boolean;
}

/**
 * A bad command line; the message names the flag. The CLI prints it and exits 1.
 * `notices` are the warnings perftest had printed before the check that
 * stopped it (the CLI prints them first).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePerftestArgs, UsageError } from "./perftest_args.ts";
 * assert.deepEqual(new UsageError("unknown flag '--x'").message, "unknown flag '--x'");
 * // perftest warns of the burst size, then refuses the SW limiter on a latency test.
 * try {
 *   parsePerftestArgs(["ib_write_lat", "--rate_limit", "1", "--rate_limit_type", "SW"]);
 *   assert.fail("refused");
 * } catch (e) {
 *   assert.ok(e instanceof UsageError);
 *   assert.deepEqual(e.notices.map((n) => n.text), [" Setting burst size to tx depth = 1"]);
 * }
 * ```
 */
export class UsageError extends Error {
  /** What perftest printed before it stopped. */
  readonly notices: Notice[];
  /**
   * perftest's `parser()` returned the error (a check of the option loop, getopt's refusal, a
   * stray operand), so the program's `main()` then prints {@link PARSER_FAILED} on stderr
   * (src/write_lat.c and the other mains: `if (ret_parser != VERSION_EXIT && ret_parser !=
   * HELP_EXIT) fprintf(stderr," Parser function exited with Error\n")`). False for the checks
   * that `exit(1)` at once (`force_dependecies`, `change_conn_type`, `-A`'s value) and for
   * xenib's own refusals.
   */
  readonly parserFailed: boolean;
  /**
   * perftest prints its separator line (RESULT_LINE, 87 dashes) on stdout just before the
   * message, as most of `force_dependecies`' refusals do (`printf(RESULT_LINE);`).
   */
  readonly resultLine: boolean;
  /**
   * @param message what is wrong, naming the flag
   * @param notices the warnings printed before it
   * @param how how perftest stops there (see {@link UsageError.parserFailed},
   *   {@link UsageError.resultLine})
   */
  constructor(
    message: string,
    notices: Notice[] = [],
    how: { parserFailed?: boolean; resultLine?: boolean } = {},
  ) {
    super(message);
    this.name = "UsageError";
    this.notices = notices;
    this.parserFailed = how.parserFailed ?? false;
    this.resultLine = how.resultLine ?? false;
  }
}

/**
 * The line every perftest program's `main()` prints on stderr after its own message when
 * `parser()` fails (perftest 4.5-0.17 src/write_lat.c, write_bw.c, read_*.c, send_*.c,
 * atomic_*.c); the exit status is then 1 (`return FAILURE`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PARSER_FAILED, parsePerftestArgs, UsageError } from "./perftest_args.ts";
 * // -b is a check of parser()'s option loop: parser() returns 1.
 * assert.throws(() => parsePerftestArgs(["ib_write_lat", "-b"]), (e) => {
 *   assert.ok(e instanceof UsageError && e.parserFailed);
 *   return true;
 * });
 * assert.equal(PARSER_FAILED, " Parser function exited with Error");
 * ```
 */
export const PARSER_FAILED = " Parser function exited with Error";

/**
 * Turn `node:util` parseArgs' errors into one-line messages naming the flag.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseArgs } from "node:util";
 * import { rephraseParseError } from "./perftest_args.ts";
 * const options = { size: { type: "string", short: "s" }, quick: { type: "boolean" } } as const;
 * const message = (args: string[]) => {
 *   try {
 *     parseArgs({ args, options, strict: true });
 *   } catch (e) {
 *     const u = rephraseParseError(e);
 *     assert.equal(u.name, "UsageError");
 *     return u.message;
 *   }
 * };
 * assert.equal(message(["--nope"]), "unknown flag '--nope' (see --help)");
 * assert.equal(message(["--size"]), "flag '-s/--size' needs a value");
 * assert.equal(message(["--quick=1"]), "flag '--quick' takes no value");
 * assert.equal(message(["extra"]), "unexpected argument 'extra' (see --help)");
 * ```
 */
export function rephraseParseError(e: unknown): UsageError {
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: string })?.code ?? "";
  let m = /Unknown option '([^']+)'/.exec(msg);
  if (m) return new UsageError(`unknown flag '${m[1]}' (see --help)`);
  // parseArgs names an option as '-s, --size <value>'.
  const flag = (s: string) =>
    s.replace(/\s*<value>$/, "").split(",").map((x) => x.trim()).join("/");
  m = /Option '([^']+)' argument missing/.exec(msg);
  if (m) return new UsageError(`flag '${flag(m[1])}' needs a value`);
  m = /Option '([^']+)' does not take an argument/.exec(msg);
  if (m) return new UsageError(`flag '${flag(m[1])}' takes no value`);
  m = /Unexpected argument '([^']+)'/.exec(msg);
  if (m) return new UsageError(`unexpected argument '${m[1]}' (see --help)`);
  m = /Option '([^' ]+)[^']*' argument is ambiguous/.exec(msg);
  if (m) return new UsageError(`flag '${flag(m[1])}' needs a value`);
  return new UsageError(code ? `${msg.split(".")[0]}` : msg);
}

/**
 * `node:util` parseArgs in strict mode (an unknown flag is an error), with
 * its errors rephrased by {@link rephraseParseError}: the one way the other
 * tools read their flags. A value that starts with `-` (`--seed -1`) is
 * taken as the flag's value, so the tool can say what is wrong with it.
 *
 * @param allowPositionals whether bare arguments are allowed (else each is an error)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFlags } from "./perftest_args.ts";
 * const { values } = parseFlags(["--quick", "-p", "x", "--seed", "-1"], {
 *   quick: { type: "boolean" },
 *   profile: { type: "string", short: "p" },
 *   seed: { type: "string" },
 * });
 * assert.deepEqual([values.quick, values.profile, values.seed], [true, "x", "-1"]);
 * ```
 */
export function parseFlags<const T extends ParseArgsOptionsConfig>(
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  // Glue a dash-led value to its flag: parseArgs would call it ambiguous.
  const takesValue = (a: string): boolean => {
    if (a.startsWith("--")) {
      const name = a.slice(2);
      return !name.includes("=") && options[name]?.type === "string";
    }
    if (/^-[A-Za-z]$/.test(a)) {
      return Object.values(options).some((o) => o.short === a[1] && o.type === "string");
    }
    return false;
  };
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = argv[i + 1];
    if (takesValue(a) && next !== undefined && next.startsWith("-") && next.length > 1) {
      if (a.startsWith("--")) args.push(`${a}=${next}`);
      else args.push(`${a}${next}`);
      i++;
    } else args.push(a);
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals });
  } catch (e) {
    throw rephraseParseError(e);
  }
}

/**
 * Parse a whole number flag value within [min, max]; the message says
 * what was wrong in the tool's words.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseIntFlag } from "./perftest_args.ts";
 * assert.equal(parseIntFlag("--iters", "100", 5, 1000), 100);
 * assert.throws(() => parseIntFlag("--iters", "-1", 1, 10), {
 *   name: "UsageError",
 *   message: "--iters: -1 is negative; give a whole number 1..10",
 * });
 * ```
 */
export function parseIntFlag(flag: string, raw: string, min: number, max: number): number {
  const t = raw.trim();
  if (/^-\d+$/.test(t)) {
    throw new UsageError(`${flag}: ${t} is negative; give a whole number ${min}..${max}`);
  }
  if (!/^[0-9]+$/.test(t)) {
    throw new UsageError(`${flag}: '${raw}' is not a whole number (${min}..${max})`);
  }
  const n = Number(t);
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag}: ${raw} is out of range (${min}..${max})`);
  }
  return n;
}

/**
 * C's `strtol(s, &end, 0)`: leading blanks, a sign, `0x` hex or `0` octal
 * or decimal; the longest number at the start. `rest` is what follows it
 * (perftest's "not an integer" test), `value` is clamped to a C long.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { strtol } from "./perftest_args.ts";
 * assert.deepEqual([strtol("0x40").value, strtol("010").value, strtol("12Q").rest], [
 *   64n,
 *   8n,
 *   "Q",
 * ]);
 * ```
 */
export function strtol(s: string): { value: bigint; rest: string; digits: boolean } {
  const m = /^[ \t\n\v\f\r]*([+-]?)(0[xX](?=[0-9a-fA-F])[0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)/.exec(s);
  if (!m) return { value: 0n, rest: s, digits: false };
  const sign = m[1] === "-" ? -1n : 1n;
  const body = m[2];
  let v: bigint;
  if (/^0[xX]/.test(body)) v = BigInt(body);
  else if (body.length > 1 && body.startsWith("0")) v = BigInt("0o" + body.slice(1));
  else v = BigInt(body);
  v *= sign;
  const LONG_MAX = 2n ** 63n - 1n, LONG_MIN = -(2n ** 63n);
  if (v > LONG_MAX) v = LONG_MAX;
  if (v < LONG_MIN) v = LONG_MIN;
  return { value: v, rest: s.slice(m[0].length), digits: true };
}

/**
 * `-M`'s MGID as perftest's `set_multicast_gid` reads it: sixteen numbers
 * separated by `:`, each by `strtoll(…, 0)` (decimal, `0x` hex or `0`
 * octal; what follows the digits is ignored) cast to a byte. With fewer
 * than sixteen fields perftest dereferences NULL; xenib says what is wrong.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMgid } from "./perftest_args.ts";
 * const g = parseMgid("0xff:0x12:0:0:0:0:0:0:0:0:0:0:0:0:0:0x1", (m) => { throw new Error(m); });
 * assert.deepEqual([g[0], g[1], g[15]], [255, 18, 1]);
 * assert.throws(() => parseMgid("255:1", (m) => { throw new Error(m); }), /16 numbers/);
 * ```
 */
export function parseMgid(s: string, fail: (msg: string) => never): Uint8Array {
  const parts = s.split(":");
  if (parts.length < 16) {
    fail(
      `'${s}' is not an MGID as perftest reads it: 16 numbers separated by ':' (e.g. 255:1:0:0:0:2:201:133:0:0:0:0:0:0:0:0)`,
    );
  }
  const g = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    // The last field is the rest of the string (perftest's strcpy); strtoll stops at a ':'.
    g[i] = Number(BigInt.asUintN(8, strtol(i < 15 ? parts[i] : parts.slice(15).join(":")).value));
  }
  return g;
}

/** C integer types perftest stores values in. */
type CType = "int" | "uint8_t" | "uint16_t" | "uint32_t" | "unsigned long";

/** `(type)value` as C converts a long. */
function castTo(v: bigint, type: CType): number {
  switch (type) {
    case "int":
      return Number(BigInt.asIntN(32, v));
    case "uint8_t":
      return Number(BigInt.asUintN(8, v));
    case "uint16_t":
      return Number(BigInt.asUintN(16, v));
    case "uint32_t":
      return Number(BigInt.asUintN(32, v));
    case "unsigned long":
      return Number(BigInt.asUintN(64, v));
  }
}

/**
 * Sizes of `-a`: 2, 4, …, 2^23.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { allSizes } from "./perftest_args.ts";
 * assert.deepEqual(allSizes(16), [ 2, 4, 8, 16 ]);
 * ```
 */
export function allSizes(max: number = LIMITS.allMaxSize): number[] {
  const out: number[] = [];
  for (let s = 2; s <= max; s *= 2) out.push(s);
  return out;
}

/**
 * Parse a `-s/--size` value as perftest does: `strtol(…, 0)` of what is
 * before a trailing `K` or `M`, times 1024 or 1048576; 1 … 2^31-1. Only
 * the last character is looked at: perftest tests `optarg[size_len-1]` for
 * `K`, cuts it, then tests the same (now cut) position for `M`, so `64MK`
 * is 64 KiB (`strtol` stops at the `M`), not 64 GiB.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSize } from "./perftest_args.ts";
 * assert.deepEqual([parseSize("64K"), parseSize("0x40"), parseSize("2MK")], [65536, 64, 2048]);
 * ```
 */
export function parseSize(raw: string, factorIn = 1): number {
  let s = raw;
  let factor = factorIn;
  if (s.endsWith("K")) {
    s = s.slice(0, -1);
    factor = 1024;
  } else if (s.endsWith("M")) {
    s = s.slice(0, -1);
    factor = 1048576;
  }
  // (uint64_t)strtol(...) * factor: a negative value wraps to a huge one.
  const v = BigInt.asUintN(64, strtol(s).value * BigInt(factor));
  if (v < 1n || v > BigInt(LIMITS.maxSize)) {
    throw new UsageError(
      `-s/--size: Message Size should be between 1 and ${LIMITS.maxSize} (got '${raw}')`,
    );
  }
  return Number(v);
}

/**
 * Parse `--device real[:NAME]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDevice } from "./perftest_args.ts";
 * assert.deepEqual(parseDevice("real:mlx5_0"), { real: true, name: "mlx5_0" });
 * ```
 */
export function parseDevice(raw: string): { real: true; name?: string } {
  const m = /^real(?::(.+))?$/.exec(raw);
  if (!m) {
    throw new UsageError(
      `--device: '${raw}' is not understood (use 'real' or 'real:NAME'; without --device the simulated HCA is used)`,
    );
  }
  return m[1] ? { real: true, name: m[1] } : { real: true };
}

/**
 * Parse `--mode`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMode } from "./perftest_args.ts";
 * assert.deepEqual(parseMode("bypass"), "bypass");
 * ```
 */
export function parseMode(raw: string): Mode {
  if (!(MODES as readonly string[]).includes(raw)) {
    throw new UsageError(`--mode: '${raw}' is not a mode (use native, bypass or split)`);
  }
  return raw as Mode;
}

/**
 * Parse `--seed` (a whole number 0..2^32-1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSeed } from "./perftest_args.ts";
 * assert.deepEqual(parseSeed("42"), 42);
 * ```
 */
export function parseSeed(raw: string): number {
  return parseIntFlag("--seed", raw, 0, 2 ** 32 - 1);
}

/**
 * Parse `--noise on|off` (the tools' default is on: the profile's seeded
 * noise model gives samples a spread; off gives exact, identical samples).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseNoise } from "./perftest_args.ts";
 * assert.equal(parseNoise("off"), "off");
 * assert.throws(() => parseNoise("loud"), { message: "--noise: 'loud' is not on or off" });
 * ```
 */
export function parseNoise(raw: string): "on" | "off" {
  if (raw !== "on" && raw !== "off") throw new UsageError(`--noise: '${raw}' is not on or off`);
  return raw;
}

/**
 * Parse `--jobs N` (workers for independent points, 1..256; 1 runs them one
 * after the other in the tool's own thread).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseJobs } from "./perftest_args.ts";
 * assert.equal(parseJobs("2"), 2);
 * assert.throws(() => parseJobs("0"), { message: "--jobs: 0 is out of range (1..256)" });
 * ```
 */
export function parseJobs(raw: string): number {
  return parseIntFlag("--jobs", raw, 1, 256);
}

/**
 * perftest's default max inline size for a test (`ctx_set_max_inline`): 220
 * for write_lat, 236 for send_lat (188 over UD), 0 for bandwidth tests.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultInline } from "./perftest_args.ts";
 * assert.deepEqual(defaultInline("write", "lat", "RC"), 220);
 * ```
 */
export function defaultInline(verb: Verb, kind: TestKind, conn: Connection): number {
  if (kind !== "lat") return 0;
  if (verb === "write") return 220;
  if (verb === "send") return conn === "UD" ? 188 : 236;
  return 0;
}

/**
 * CQ moderation for one size: `-Q` or the post list's as perftest sets them,
 * else perftest's rule for a run of that size (100, or 1 above 8 KiB except
 * UD, `-a` and events), never above the tx depth. A list of sizes (the paper,
 * scenarios) measures each as a perftest run with `-s` that size would.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cqModeration, parsePerftestArgs } from "./perftest_args.ts";
 * const c = parsePerftestArgs(["ib_write_bw"]);
 * assert.deepEqual([cqModeration(c, 4096), cqModeration(c, 65536)], [100, 1]);
 * ```
 */
export function cqModeration(c: PerftestConfig, size: number): number {
  if (c.cqModGiven || c.postList > 1) return c.cqMod;
  let m: number = LIMITS.defCqMod;
  if (size > LIMITS.cqModSizeLimit && c.connection !== "UD" && !c.all && !c.events) m = 1;
  return Math.max(1, Math.min(m, c.txDepth));
}

// xenib's own options are extensions of perftest's getopt table: a prefix that names one of
// perftest's options keeps perftest's meaning (glibc resolves `--no` to --noPeak, `--n` too,
// in perftest_parameters.c parser()'s table), whatever xenib option also starts with it.
const XENIB_OPTIONS: LongOption[] = [
  { name: "mode", hasArg: true },
  { name: "profile", hasArg: true },
  { name: "seed", hasArg: true },
  { name: "noise", hasArg: true },
  { name: "jobs", hasArg: true },
  { name: "json", hasArg: false },
  { name: "device", hasArg: true },
  { name: "pcap", hasArg: true },
  { name: "pcap-format", hasArg: true },
].map((o) => ({ ...o, extension: true }));

/**
 * The order of perftest 4.5's `long_options` (perftest_parameters.c `parser()`): glibc's
 * getopt_long names an ambiguous prefix's possibilities in table order.
 */
const PERFTEST_TABLE_ORDER = [
  "port",
  "ib-dev",
  "ib-port",
  "mtu",
  "size",
  "iters",
  "tx-depth",
  "qp-timeout",
  "sl",
  "gid-index",
  "all",
  "CPU-freq",
  "connection",
  "qp",
  "events",
  "vector",
  "inline_size",
  "outs",
  "mcg",
  "comm_rdma_cm",
  "rdma_cm",
  "tos",
  "hop_limit",
  "help",
  "MGID",
  "rx-depth",
  "bidirectional",
  "cq-mod",
  "noPeak",
  "version",
  "report-cycles",
  "report-histogrm",
  "report-unsorted",
  "atomic_type",
  "dualport",
  "post_list",
  "duration",
  "margin",
  "source_mac",
  "dest_mac",
  "dest_ip",
  "source_ip",
  "dest_port",
  "source_port",
  "ethertype",
  "limit_bw",
  "limit_msgrate",
  "server",
  "client",
  "mac_fwd",
  "use_rss",
  "report-counters",
  "force-link",
  "remote_mac",
  "local_mac",
  "remote_ip",
  "local_ip",
  "remote_port",
  "local_port",
  "run_infinitely",
  "report_gbits",
  "use-srq",
  "report-both",
  "reversed",
  "pkey_index",
  "inline_recv",
  "tcp",
  "burst_size",
  "typical_pkt_size",
  "rate_limit",
  "rate_limit_type",
  "rate_units",
  "output",
  "cpu_util",
  "out_json",
  "out_json_file",
  "latency_gap",
  "flow_label",
  "retry_count",
  "dont_xchg_versions",
  "use_cuda",
  "use_cuda_bus_id",
  "use_rocm",
  "mmap",
  "mmap-offset",
  "ipv6",
  "raw_ipv6",
  "report-per-port",
  "odp",
  "use_hugepages",
  "use_old_post_send",
  "promiscuous",
  "sniffer",
  "raw_mcast",
  "mr_per_qp",
  "dlid",
  "tclass",
  "wait_destroy",
  "flows",
  "flows_burst",
  "reply_every",
  "perform_warm_up",
  "vlan_en",
  "vlan_pcp",
  "recv_post_list",
  "aes_xts",
  "encrypt_on_tx",
  "sig_before",
  "aes_block_size",
  "kek_path",
  "credentials_path",
  "data_enc_keys_number",
  "data_enc_key_app_path",
  "log_dci_streams",
  "log_active_dci_streams",
  "disable_pcie_relaxed",
];

/** perftest's getopt table (the 86, the Raw Ethernet ones) in its order, then xenib's. */
const TABLE: LongOption[] = [
  // perftest's getopt string also gives --source_ip's entry the letter j (its Raw Ethernet alias).
  ...[
    ...PERFTEST_FLAGS.map((f) => ({
      name: f.long,
      short: f.short ?? (f.long === "source_ip" ? "j" : undefined),
      hasArg: f.arg !== undefined,
    })),
    ...RAW_ETH_OPTIONS,
  ].sort((x, y) => rank(x.name) - rank(y.name)),
  // The table's second source_ip (its own flag): never matched (the first, exact, wins), but
  // glibc names both when a prefix is ambiguous ("--source": … '--source_port' '--source_ip').
  { name: "source_ip", hasArg: true },
  ...XENIB_OPTIONS,
];

function rank(name: string): number {
  const i = PERFTEST_TABLE_ORDER.indexOf(name);
  return i < 0 ? PERFTEST_TABLE_ORDER.length : i;
}

/**
 * perftest's getopt table as xenib reads it (the 86, the Raw Ethernet
 * options, xenib's own), for tools that look at a perftest command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { perftestOptionTable } from "./perftest_args.ts";
 * assert.deepEqual(perftestOptionTable().find((o) => o.short === "s")?.name, "size");
 * ```
 */
export function perftestOptionTable(): readonly LongOption[] {
  return TABLE;
}

/** `-s/--size` style name of a long option. */
function flagName(long: string): string {
  const f = PERFTEST_FLAGS.find((x) => x.long === long);
  return f?.short ? `-${f.short}/--${f.helpLong ?? long}` : `--${f?.helpLong ?? long}`;
}

/**
 * Parse a perftest command line (`argv` without the program, the first
 * positional being the test name, or `test` given separately).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * const c = parsePerftestArgs(["ib_write_lat", "-s", "4", "-s", "0x40", "-n", "100"]);
 * assert.deepEqual(c.sizes, [64]); // the last -s wins; C's strtol reads hex
 * assert.equal(c.iters, 100);
 * ```
 */
export function parsePerftestArgs(argv: string[], test?: TestName): PerftestConfig {
  // perftest_parameters.c parser(): each option is handled as getopt_long returns it, so the
  // options before a word getopt refuses come first (-h/-V return before it is reached; a bad
  // value before it is the error), then the default case refuses the word.
  const found = getoptLong(argv, TABLE, { recordError: true });
  const options = found.error ? found.options.slice(0, found.error.before) : found.options;
  const refused = (): UsageError | undefined => {
    if (!found.error) return undefined;
    const e = found.error.error;
    const m = /unrecognized option '--(report-histogram|com_rdma_cm)(=[^']*)?'/.exec(e.message);
    const hint = m
      ? ` (perftest 4.5's option table spells it --${
        m[0].includes("histogram") ? "report-histogrm" : "comm_rdma_cm"
      })`
      : " (see --help)";
    // getopt's message, then the default case's return 1: main() says PARSER_FAILED.
    return new UsageError(`${e.message}${hint}`, [], { parserFailed: true });
  };
  const pos = [...found.positionals];
  if (!test) {
    const name = pos.shift();
    // The first of -h and -V returns (perftest's loop).
    const first = options.find((o) => o.name === "help" || o.name === "version");
    if (name === undefined) {
      if (first) {
        const c = baseConfig("ib_write_lat");
        c.help = first.name === "help";
        c.version = !c.help;
        return c;
      }
      throw refused() ??
        new UsageError(`missing test name (one of ${Object.keys(PERFTEST_TESTS).join(", ")})`);
    }
    if (!Object.hasOwn(PERFTEST_TESTS, name)) {
      throw new UsageError(
        `unknown test '${name}' (one of ${Object.keys(PERFTEST_TESTS).join(", ")})`,
      );
    }
    test = name as TestName;
  }
  const c = baseConfig(test);
  // A word getopt refuses returns from parser()'s loop: the checks after the loop are not reached.
  applyOptions(c, options, !found.error);
  if (c.help || c.version) return c;
  const late = refused();
  if (late) throw late;
  // parser(): one argument left is the server's name; more are perftest's own error.
  if (pos.length > 1) {
    throw new UsageError(
      `unexpected arguments ${
        pos.map((p) => `'${p}'`).join(" ")
      }: Invalid Command line. Please check command rerun`,
      [],
      { parserFailed: true }, // parser(): `return 1`
    );
  }
  if (pos.length > 0) {
    throw new UsageError(
      `unexpected argument '${
        pos[0]
      }': perftest's server name; xenib runs both sides in one process, so there is none`,
    );
  }
  forceDependencies(c);
  return c;
}

/** State the option loop keeps (perftest's statics and flags). */
interface ParseState {
  sizeFactor: number;
  tos?: number;
  hopLimit: number;
  rdmaCm: boolean;
  commRdmaCm: boolean;
  mcg: boolean;
  dualport: boolean;
  odp: boolean;
  aesXts: boolean;
  encryptOnTx: boolean;
  sigBefore: boolean;
  kekPath?: string;
  credentialsPath?: string;
  dataEncKeyAppPath?: string;
  /** `--use_old_post_send` (perftest's use_old_post_send while parsing). */
  oldPostSend: boolean;
  logDciStreams: number;
  logActiveDciStreams: number;
  reportPerPort: boolean;
  typicalPktSize: number;
  rateLimitType: "off" | "SW" | "HW" | "PP";
  rateLimit: number;
  burstSize: number;
  forceEthernet: boolean;
  mgid?: string;
  rawEth?: string;
  /** `-c RawEth` (perftest's connection_type RawEth). */
  rawEthConnection: boolean;
  sourceIp?: string;
  /** xenib's flags of the simulated cluster given (`--profile`, `--seed`, `--noise`). */
  simulated: Set<string>;
}

const states = new WeakMap<PerftestConfig, ParseState>();

function applyOptions(c: PerftestConfig, options: FoundOption[], loopEnded = true): void {
  const st: ParseState = {
    sizeFactor: 1,
    hopLimit: LIMITS.defHopLimit,
    rawEthConnection: false,
    rdmaCm: false,
    commRdmaCm: false,
    mcg: false,
    dualport: false,
    odp: false,
    aesXts: false,
    encryptOnTx: false,
    sigBefore: false,
    oldPostSend: false,
    logDciStreams: 0,
    logActiveDciStreams: 0,
    reportPerPort: false,
    simulated: new Set(),
    typicalPktSize: 0,
    rateLimitType: "off",
    rateLimit: 0,
    burstSize: 0,
    forceEthernet: false,
  };
  states.set(c, st);
  const { verb, kind } = c;
  let logActiveSet = false;
  for (const o of options) {
    const v = o.value ?? "";
    const name = flagName(o.name);
    // A check of parser()'s option loop: it returns 1 (CHECK_VALUE's `return 1`, the flag
    // checks' `return 1` / `return FAILURE`), so main() prints PARSER_FAILED after it.
    const fail = (msg: string): never => {
      throw new UsageError(`${name}: ${msg}`, [], { parserFailed: true });
    };
    // What perftest's parser() does not refuse (xenib's own) or refuses with exit(1).
    const refuse = (msg: string): never => {
      throw new UsageError(`${name}: ${msg}`);
    };
    // CHECK_VALUE: strtol, then the cast; anything after the number is an error.
    const check = (label: string, type: CType): number => {
      const r = strtol(v);
      if (r.rest !== "" || (!r.digits && v !== "")) {
        fail(`${label} argument ${v} should be ${type}`);
      }
      const n = castTo(r.value, type);
      if (BigInt(n) !== r.value) {
        c.notices.push({
          stream: "stderr",
          text: `note: ${o.spelled} ${v}: perftest stores it as ${type}, which makes it ${n}`,
          xenib: true,
        });
      }
      return n;
    };
    const range = (label: string, type: CType, min: number, max: number): number => {
      const n = check(label, type);
      if (n < min || n > max) fail(`${label} should be between ${min} and ${max}`);
      return n;
    };
    const nonNeg = (label: string): number => {
      const n = check(label, "int");
      if (n < 0) fail(`${label} must be non-negative`);
      return n;
    };
    switch (o.name) {
      case "port":
        c.port = check("Port", "int");
        break;
      case "ib-dev":
        c.ibDev = v;
        break;
      case "ib-port": {
        const n = check("IB Port", "uint8_t");
        if (n < 1) fail("IB Port can't be less than 1");
        c.ibPort = n;
        break;
      }
      case "mtu":
        c.mtu = check("MTU", "int");
        break;
      case "iters":
        c.iters = range("Iteration num", "int", LIMITS.minIters, LIMITS.maxIters);
        break;
      case "tx-depth":
        c.txDepth = range("Tx depth", "int", 1, LIMITS.maxTx);
        break;
      case "tos":
        st.tos = range("TOS", "int", 0, 255);
        break;
      case "hop_limit":
        st.hopLimit = range("Hop Limit", "int", 0, 255);
        break;
      case "qp-timeout":
        c.qpTimeout = check("QP Timeout", "uint8_t");
        break;
      case "sl":
        c.sl = check("Service Level", "uint8_t");
        if (c.sl > LIMITS.maxSl) fail(`Only ${LIMITS.maxSl} Service levels`);
        break;
      case "gid-index":
        c.gidIndex = range("Gid index", "uint8_t", 0, LIMITS.maxGidIx);
        break;
      case "connection":
        // change_conn_type returns at once when RawEth was chosen: a later -c changes nothing.
        if (st.rawEthConnection) break;
        if (v === "RawEth") {
          // perftest takes it here and refuses it in force_dependecies' Raw Ethernet block;
          // until then RawEth passes every check as RC does.
          st.rawEthConnection = true;
          c.connection = "RC";
          break;
        }
        c.connection = changeConnType(verb, v, name);
        break;
      case "qp":
        if (kind !== "bw") fail("Multiple QPs only available on bw tests");
        c.qps = range("num of Qps", "int", 1, LIMITS.maxQps);
        break;
      case "inline_size":
        c.inlineSize = range("Max inline", "int", 0, LIMITS.maxInline);
        if (verb === "read" || verb === "atomic") {
          fail("Inline feature not available on READ/Atomic verbs");
        }
        break;
      case "outs":
        c.outReads = check("Outstanding Reads", "int");
        if (verb !== "read" && verb !== "atomic") {
          fail("Setting Outstanding reads only available on READ verb");
        }
        break;
      case "MGID":
        st.mgid = v; // perftest keeps the string; it reads it only to join with -g
        break;
      case "rx-depth":
        c.rxDepth = range(" Rx depth", "int", 1, LIMITS.maxRx);
        if (verb !== "send" && c.rxDepth > 1) fail("On RDMA verbs rx depth can be only 1");
        break;
      case "cq-mod":
        c.cqMod = range("CQ moderation", "int", 1, LIMITS.maxCqMod);
        c.cqModGiven = true;
        break;
      case "atomic_type":
        if (verb !== "atomic") {
          fail(
            "You are not running the atomic_lat/bw test! To change the atomic action type, you must run one of the atomic tests",
          );
        }
        if (v !== "CMP_AND_SWAP" && v !== "FETCH_AND_ADD") {
          // perftest_parameters.c parser() case 'A': exit(1) here, not return 1.
          refuse("Invalid Atomic type! please choose from {CMP_AND_SWAP,FETCH_AND_ADD}");
        }
        c.atomicType = v as AtomicType;
        break;
      case "post_list":
        c.postList = check("Send Post List size", "int");
        if (c.postList < 1) {
          // perftest would spin forever posting empty lists.
          refuse(`${c.postList}: a post list needs at least one WR`);
        }
        break;
      case "duration":
        c.duration = check("Duration period", "int");
        if (c.duration <= 0) fail("Duration period must be positive");
        break;
      case "margin":
        c.margin = nonNeg("Margin");
        break;
      case "dualport":
        // perftest: ib_port = DEF_IB_PORT, ib_port2 = DEF_IB_PORT2 (1 and 2).
        c.ibPort = 1;
        st.dualport = true;
        break;
      case "all":
        c.all = true;
        break;
      case "CPU-freq":
        c.cpuFreqF = true;
        break;
      case "version":
        c.version = true;
        return;
      case "help":
        c.help = true;
        return;
      case "comm_rdma_cm":
        st.commRdmaCm = true;
        break;
      case "rdma_cm":
        st.rdmaCm = true;
        break;
      case "size":
        try {
          c.sizes = [parseSize(v, st.sizeFactor)];
        } catch (e) {
          // parser() case 's': `return 1` after its message.
          throw new UsageError((e as Error).message, [], { parserFailed: true });
        }
        if (v.endsWith("M")) st.sizeFactor = 1048576;
        else if (v.endsWith("K")) st.sizeFactor = 1024;
        c.sizeGiven = true;
        break;
      case "events":
        c.events = true;
        if (verb === "write") fail("Events feature not available on WRITE verb");
        break;
      case "vector":
        if (verb === "write") fail("Events feature not available on WRITE verb");
        c.eqNum = range("EQN", "int", 0, LIMITS.maxEqNum);
        break;
      case "bidirectional":
        c.bidirectional = true;
        if (kind === "lat") fail("Bidirectional is only available in BW test");
        break;
      case "noPeak":
        c.noPeak = true;
        if (kind === "lat") fail("NoPeak only valid for BW tests");
        break;
      case "report-cycles":
        if (kind !== "lat") fail("Available only on Latency tests");
        c.reportCycles = true;
        break;
      case "mcg":
        st.mcg = true;
        c.mcg = true;
        if (verb !== "send") fail("MultiCast feature only available on SEND verb");
        break;
      case "report-histogrm":
        if (kind === "bw") fail("Available only on Latency tests");
        c.histogram = true;
        break;
      case "report-unsorted":
        if (kind === "bw") fail("is Available only on Latency tests");
        c.unsorted = true;
        break;
      case "limit_bw": {
        c.limitBw = strtof(v);
        if (c.limitBw < 0) fail("Invalid Minimum BW Limit");
        break;
      }
      case "limit_msgrate":
        c.limitMsgRate = strtof(v);
        if (c.limitMsgRate < 0) fail("Invalid Minimum msgRate Limit");
        break;
      case "report-counters":
        // perftest's counters_alloc takes any list; a name is looked up later, by counters_open
        // in create_comm_struct (the runner does it there).
        c.counters = v.split(",").filter((s) => s !== "");
        break;
      case "pkey_index":
        c.pkeyIndex = check("Pkey index", "int");
        break;
      case "inline_recv":
        check("Inline Receive size", "int");
        break;
      case "rate_limit":
        st.rateLimit = atof(v);
        if (!(st.rateLimit > 0)) fail("Rate limit must be non-negative");
        if (st.rateLimitType === "off") st.rateLimitType = "HW";
        break;
      case "burst_size":
        st.burstSize = nonNeg("Burst size");
        break;
      case "typical_pkt_size":
        st.typicalPktSize = range("Typical pkt size", "int", 0, 0xffff);
        break;
      case "rate_units":
        if (v !== "M" && v !== "g" && v !== "p") {
          fail("Invalid rate limit units. Please use M,g or p");
        }
        c.rateLimit.units = v as "M" | "g" | "p";
        break;
      case "rate_limit_type":
        if (v !== "SW" && v !== "HW" && v !== "PP") {
          fail("Invalid rate limit type flag. Please use HW, SW or PP.");
        }
        st.rateLimitType = v as "SW" | "HW" | "PP";
        break;
      case "output":
        if (v !== "bandwidth" && v !== "message_rate" && v !== "latency") {
          fail("Invalid verbosity level output flag. Please use bandwidth, latency, message_rate");
        }
        c.output = v as OutputLevel;
        break;
      case "latency_gap":
        c.latencyGapUs = nonNeg("Latency gap time");
        break;
      case "retry_count":
        c.retryCount = nonNeg("Retry Count");
        break;
      case "mmap":
        c.mmapFile = v;
        break;
      case "out_json_file":
        c.outJsonFile = v;
        break;
      case "mmap-offset":
        c.mmapOffset = check("mmap offset", "unsigned long");
        break;
      case "dlid":
        c.dlid = check("dlid", "uint16_t");
        break;
      case "tclass":
        c.trafficClass = check("traffic class", "uint16_t");
        break;
      case "wait_destroy":
        c.waitDestroy = check("wait_destroy", "uint32_t");
        break;
      case "force-link":
        if (/^ib/i.test(v)) st.forceEthernet = false;
        else if (/^ethernet/i.test(v)) st.forceEthernet = true;
        else fail("Invalid link layer value should be IB or ETHERNET.");
        break;
      case "source_ip":
        st.sourceIp = v;
        break;
      case "recv_post_list":
        c.recvPostList = check("Receive Post List size", "int");
        if (c.recvPostList < 1) refuse(`${c.recvPostList}: a post list needs at least one WR`);
        break;
      case "aes_xts":
        st.aesXts = true;
        break;
      case "encrypt_on_tx":
        st.encryptOnTx = true;
        break;
      case "sig_before":
        st.sigBefore = true;
        break;
      case "aes_block_size":
        check("aes_block_size", "uint16_t");
        break;
      case "data_enc_keys_number":
        check("data_enc_keys_number", "uint16_t");
        break;
      case "kek_path":
        st.kekPath = v;
        break;
      case "credentials_path":
        st.credentialsPath = v;
        break;
      case "data_enc_key_app_path":
        st.dataEncKeyAppPath = v;
        break;
      case "log_dci_streams":
        st.logDciStreams = check("log_dci_streams", "uint16_t");
        break;
      case "log_active_dci_streams":
        st.logActiveDciStreams = check("log_active_dci_streams", "uint16_t");
        logActiveSet = true;
        break;
      case "run_infinitely":
        c.runInfinitely = true;
        break;
      case "report_gbits":
        c.reportGbits = true;
        break;
      case "use-srq":
        c.useSrq = true;
        break;
      case "report-both":
        c.reportBoth = true;
        break;
      case "reversed":
        c.reversed = true;
        break;
      case "cpu_util":
        c.cpuUtil = true;
        break;
      case "out_json":
        c.outJson = true;
        break;
      case "report-per-port":
        st.reportPerPort = true;
        break;
      case "ipv6":
        c.ipv6 = true;
        break;
      case "odp":
        st.odp = true;
        break;
      case "mr_per_qp":
        c.mrPerQp = true;
        break;
      case "perform_warm_up":
        c.warmUp = true;
        break;
      case "disable_pcie_relaxed":
        c.disablePcieRelaxed = true;
        break;
      case "use_old_post_send":
        st.oldPostSend = true;
        break;
      case "dont_xchg_versions":
      case "use_hugepages":
        break;
      // xenib's own.
      case "mode":
        c.mode = parseMode(v);
        break;
      case "profile":
        if (v === "") throw new UsageError(`--profile: empty value`);
        c.profile = v;
        st.simulated.add("--profile");
        break;
      case "seed":
        c.seed = parseSeed(v);
        st.simulated.add("--seed");
        break;
      case "noise":
        c.noise = parseNoise(v);
        st.simulated.add("--noise");
        break;
      case "jobs":
        c.jobs = parseJobs(v);
        break;
      case "json":
        c.json = true;
        break;
      case "device":
        c.device = parseDevice(v);
        break;
      case "pcap":
        if (v === "") throw new UsageError(`--pcap: empty file name`);
        c.pcap = v;
        break;
      case "pcap-format":
        if (v !== "ib" && v !== "rocev2") {
          throw new UsageError(`--pcap-format: '${v}' is not a format (use ib or rocev2)`);
        }
        c.pcapFormat = v;
        break;
      default:
        st.rawEth = o.spelled;
    }
  }
  if (!logActiveSet) st.logActiveDciStreams = st.logDciStreams;
  // parser(), after its option loop: `if (run_inf_flag) test_method = RUN_INFINITELY;` replaces
  // -a's RUN_ALL, so nothing after it sees -a (the size stays, -D is allowed).
  if (c.runInfinitely) c.all = false;
  // parser(), after its loop (perftest 4.5-0.17 src/perftest_parameters.c): parse_ip_from_str
  // fails, `return FAILURE`; never reached when the loop's default case returned first.
  if (loopEnded && st.sourceIp !== undefined && !isIpv4(st.sourceIp)) {
    throw new UsageError(`--source_ip: Invalid client IP address '${st.sourceIp}'`, [], {
      parserFailed: true,
    });
  }
}

/** `inet_pton(AF_INET, …)`, as perftest's parse_ip_from_str. */
function isIpv4(s: string): boolean {
  const parts = s.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255);
}

/**
 * C's `strtod` of the leading number (0 when there is none): decimal with an optional exponent,
 * hexadecimal (`0x10`, `0x1.8p3`), `inf`/`infinity`, `nan` (C11 7.22.1.3, as glibc reads them).
 */
function strtod(s: string): number {
  const t = s.replace(/^[ \t\n\v\f\r]+/, "");
  const sign = t.startsWith("-") ? -1 : 1;
  const u = /^[+-]/.test(t) ? t.slice(1) : t;
  const hex = /^0x([0-9a-f]*)(?:\.([0-9a-f]*))?/i.exec(u);
  if (hex && hex[1].length + (hex[2] ?? "").length > 0) {
    let v = 0;
    for (const d of hex[1]) v = v * 16 + parseInt(d, 16);
    let f = 1 / 16;
    for (const d of hex[2] ?? "") {
      v += parseInt(d, 16) * f;
      f /= 16;
    }
    const e = /^p([+-]?\d+)/i.exec(u.slice(hex[0].length));
    return sign * (e ? v * 2 ** Number(e[1]) : v);
  }
  const m = /^(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|inf(inity)?|nan)/i.exec(u);
  if (!m) return 0;
  return sign * (/^inf/i.test(m[0]) ? Infinity : Number(m[0]));
}

/** C's `strtof`: `strtod`'s number rounded to a `float` (perftest keeps `-w`/`-y` in floats). */
function strtof(s: string): number {
  return Math.fround(strtod(s));
}

/** C's `atof`: `strtod` (perftest's `--rate_limit` is a double). */
function atof(s: string): number {
  return strtod(s);
}

/** perftest's `change_conn_type`. */
function changeConnType(verb: Verb, v: string, name: string): Connection {
  const fail = (msg: string): never => {
    throw new UsageError(`${name} ${v}: ${msg}`);
  };
  switch (v) {
    case "RC":
      return "RC";
    case "UC":
      if (verb === "read" || verb === "atomic") {
        fail("UC connection not possible in READ/ATOMIC verbs");
      }
      return "UC";
    case "UD":
      if (verb !== "send") fail("UD connection only possible in SEND verb");
      return "UD";
    case "XRC":
      return fail("XRC is not modelled: the HCA model has no XRC domains or XRC SRQs");
    case "DC":
      return fail("DC is not modelled: the HCA model has no DC initiators or targets");
    case "SRD":
      if (verb !== "send" && verb !== "read") {
        fail("SRD connection only possible in SEND/READ verbs");
      }
      return fail("SRD is EFA's transport; the simulated HCA is InfiniBand");
    default:
      return fail("Invalid Connection type. Please choose from {RC,UC,UD,XRC,DC,SRD}");
  }
}

/** perftest's `force_dependecies`, in its order (the first failing check is the one reported). */
function forceDependencies(c: PerftestConfig): void {
  const st = states.get(c)!;
  const { verb, kind } = c;
  const stop = (msg: string, resultLine = false): never => {
    throw new UsageError(msg, c.notices.filter((n) => !n.xenib), { resultLine });
  };
  // A check perftest (4.5-0.17 src/perftest_parameters.c force_dependecies) makes as
  // `printf(RESULT_LINE);` then its message and exit(1): the separator line comes first, on stdout.
  const ruled = (msg: string): never => stop(msg, true);
  const warn = (text: string, stream: "stdout" | "stderr" = "stdout", resultLine = true) =>
    c.notices.push({ stream, text, resultLine });
  if (st.rawEth) {
    stop(`${st.rawEth}: a Raw Ethernet option (raw_ethernet_* programs); not one of ${c.test}'s`);
  }
  const duration = c.duration !== undefined;
  if (!duration) {
    if (c.txDepth > c.iters) c.txDepth = c.iters;
    if (verb === "send" && c.rxDepth > c.iters) c.rxDepth = c.iters;
    if (c.connection === "UD" || c.connection === "UC") {
      if (c.rxDepth === LIMITS.defRxSend) c.rxDepth = Math.min(c.iters, LIMITS.ucMaxRx);
    }
  }
  const size = c.all ? LIMITS.allMaxSize : c.sizes[0];
  if (size > LIMITS.cqModSizeLimit && c.connection !== "UD" && !c.all && !c.events) {
    if (!c.cqModGiven) c.cqMod = 1;
    else if (c.cqMod > 1) {
      warn("Warning: Large message requested and CQ moderation enabled");
      warn("Warning: It can lead to inaccurate results", "stdout", false);
    }
  }
  if (c.cqMod > c.txDepth) c.cqMod = c.txDepth;
  if (verb === "read" || verb === "atomic") c.inlineSize = 0;
  if (verb === "atomic" && c.all) {
    ruled("-a/--all: Message size cannot be changed for Atomic tests");
  }
  if (verb === "atomic" && c.sizes[0] !== LIMITS.atomicSize) {
    ruled("-s/--size: Message size cannot be changed for Atomic tests");
  }
  if (c.useSrq && verb !== "send") ruled("--use-srq: Using SRQ only avavilible in SEND tests.");
  if (c.useSrq && c.qps > c.rxDepth) {
    ruled("--use-srq: Using SRQ depth should be greater than number of QPs.");
  }
  if (st.dualport) {
    c.qps *= 2; // perftest: num_of_qps *= 2, before its other checks see it
    c.dualport = true;
    if (kind !== "bw") stop("-O/--dualport: Dual-port mode only supports BW tests.");
    if (st.mcg) stop("-O/--dualport: Dual-port mode not supported in multicast feature");
  }
  if (c.postList > 1) {
    if (kind !== "bw") ruled("-l/--post_list: Post list is supported in BW tests only");
    if (!duration && c.iters % c.postList !== 0) {
      ruled("-l/--post_list: Number of iterations must be a multiple of post list size");
    }
    if (!c.cqModGiven) {
      c.cqMod = c.postList;
      warn("Post List requested - CQ moderation will be the size of the post list");
    } else if (c.postList % c.cqMod !== 0) {
      ruled("-l/--post_list: Post list size must be a multiple of CQ moderation");
    }
  }
  if (c.recvPostList > 1) {
    if (kind !== "bw") ruled("--recv_post_list: Receive post list is supported in BW tests only");
    if (!duration && c.iters % c.recvPostList !== 0) {
      ruled("--recv_post_list: Number of iterations must be a multiple of receive post list size");
    }
  }
  if (duration) {
    c.noPeak = true;
    if (c.events) ruled("-D/--duration: Duration mode doesn't work with events.");
    if (c.all) {
      ruled("-D/--duration: Duration mode currently doesn't support running on all sizes.");
    }
  }
  if (!duration && c.cpuUtil) {
    warn(" CPU Utilization works only with Duration mode.", "stderr");
    c.cpuUtil = false;
  }
  if (st.rawEthConnection) {
    // force_dependecies' Raw Ethernet block, in its order. The machine is SERVER (the
    // program's memset; the parser sets it only for other connection types), and the source
    // MAC's -B is a Raw Ethernet option refused above, so the block always ends at -B's check.
    if (c.all) stop("-a/--all: Raw Ethernet tests do not support -a / --all flag.");
    if (st.rdmaCm || st.commRdmaCm) {
      stop(
        `${
          st.rdmaCm ? "-R/--rdma_cm" : "-z/--comm_rdma_cm"
        }: RDMA CM isn't supported for Raw Ethernet tests`,
      );
    }
    if (c.gidIndex !== undefined) {
      stop("-x/--gid-index: GID index isn't supported for Raw Ethernet tests");
    }
    if (c.mmapFile !== undefined || c.mmapOffset) {
      stop(
        `${
          c.mmapFile !== undefined ? "--mmap" : "--mmap-offset"
        }: mmaped files aren't supported for Raw Ethernet tests`,
      );
    }
    ruled(
      "-c/--connection RawEth: Invalid Command line. you must enter source mac by this format -B XX:XX:XX:XX:XX:XX",
    );
  }
  if (st.rdmaCm) {
    if (c.connection === "UC") ruled("-R/--rdma_cm: UC is not supported in librdmacm");
    if (st.mcg) ruled("-R/--rdma_cm: Perftest still doesn't support Multicast with rdma_cm");
    if (st.dualport) ruled("-R/--rdma_cm: Perftest still doesn't support Dual Port with rdma_cm");
    st.commRdmaCm = true;
  } else if (st.tos !== undefined) {
    stop("-T/--tos: TOS only valid for rdma_cm based QP and RawEth QP");
  }
  c.rdmaCm = st.rdmaCm;
  c.commRdmaCm = st.commRdmaCm;
  c.tos = st.tos;
  if (st.hopLimit !== LIMITS.defHopLimit) {
    stop("-L/--hop_limit: Hop limit only valid for RawEth QP");
  }
  // perftest: with -g and no -x, GID index 0 (the GRH carries the MGID).
  if (st.mcg && c.gidIndex === undefined) c.gidIndex = 0;
  if (st.mcg) {
    // perftest: "MultiCast runs on UD!" whatever -c said, silently.
    c.connection = "UD";
    if (c.bidirectional) stop("-g/--mcg: Bidirectional mode not supported in multicast");
    if (c.qps > 1) stop("-g/--mcg: Only 1 QP supported in multicast");
    if (st.mgid !== undefined) c.mgid = parseMgid(st.mgid, (m) => stop(`-M/--MGID: ${m}`));
  }
  if (verb === "atomic" && st.odp) ruled("--odp: ODP does not support ATOMICS for now");
  if (c.connection === "UC" && st.odp) ruled("--odp: ODP does not support UC");
  if (c.runInfinitely) {
    c.noPeak = true;
    if (c.events) ruled("--run_infinitely: run_infinitely does not support events feature yet.");
    if (kind === "lat") ruled("--run_infinitely: run_infinitely exists only in BW tests for now.");
    if (c.bidirectional && verb === "send") {
      ruled("--run_infinitely: run_infinitely mode is not supported in SEND Bidirectional BW test");
    }
    if (st.rateLimitType !== "off") {
      ruled("--run_infinitely: run_infinitely does not support rate limit feature yet");
    }
  }
  if (st.logDciStreams) ruled("--log_dci_streams: log_dci_streams supported only on DC");
  if (st.logActiveDciStreams > 0) {
    ruled("--log_active_dci_streams: log_active_dci_streams supported only on DC");
  }
  if (st.aesXts) {
    if (c.connection !== "RC") ruled("--aes_xts: aes_xts supported only on RC");
    if (st.kekPath === undefined) ruled("--aes_xts: Please provide key encryption key file path");
    if (st.dataEncKeyAppPath === undefined) {
      ruled("--aes_xts: Please provide data encryption key app path");
    }
    if (st.credentialsPath === undefined) ruled("--aes_xts: Please provide credentials file path");
    // use_old_post_send is set while parsing only by --use_old_post_send (the non-mlx5 device
    // check that also sets it, verify_params_with_device_context, runs after the parser).
    if (st.oldPostSend) ruled("--aes_xts: aes_xts doesn't support old post send");
    if (st.rdmaCm) ruled("--aes_xts: rdma_cm doesn't support aes_xts");
    if (kind === "lat" && verb === "write") {
      ruled("--aes_xts: aes_xts isn't supported on write_lat");
    }
    // (int)size <= inline_size, with inline_size DEF_INLINE (-1) unless -I was given.
    if ((c.all ? LIMITS.allMaxSize : c.sizes[0]) <= (c.inlineSize ?? -1)) {
      ruled("--aes_xts: aes_xts doesn't support Inline messages");
    }
    // perftest's parser accepts it; the device then has to offer mlx5's crypto.
    stop(
      "--aes_xts: the HCA model has no crypto engine (AES-XTS needs mlx5's, through mlx5dv)",
    );
  } else {
    if (st.encryptOnTx) ruled("--encrypt_on_tx: encrypt_on_tx supported only when enc/dec traffic");
    if (st.sigBefore) ruled("--sig_before: sig_before supported only when enc/dec traffic");
    if (st.credentialsPath !== undefined) {
      ruled("--credentials_path: giving credentials path supported only with enc/dec traffic");
    }
    if (st.kekPath !== undefined) {
      ruled("--kek_path: giving kek path supported only with enc/dec traffic");
    }
    if (st.dataEncKeyAppPath !== undefined) {
      ruled("--data_enc_key_app_path: giving kek path supported only with enc/dec traffic");
    }
  }
  if (st.burstSize > 0 && st.rateLimitType === "off") {
    ruled("--burst_size: Can't enable burst mode when rate limiter is off");
  }
  if (st.burstSize <= 0) {
    if (st.rateLimitType === "SW") {
      warn(` Setting burst size to tx depth = ${c.txDepth}`, "stderr", false);
    }
    if (st.rateLimitType !== "PP") st.burstSize = c.txDepth;
  }
  if (st.typicalPktSize && st.rateLimitType !== "PP") {
    ruled("--typical_pkt_size: Typical packet size only supports PP rate limiter");
  }
  if (st.rateLimitType === "SW") {
    if (kind !== "bw" || verb === "atomic" || (verb === "send" && c.bidirectional)) {
      ruled(
        "--rate_limit_type SW: SW Rate limiter cann't be executed on non-BW, ATOMIC or bidirectional SEND tests",
      );
    }
    c.rateLimit = { type: "SW", rate: st.rateLimit, units: c.rateLimit.units, burst: st.burstSize };
    if (!(st.rateLimit > 0)) {
      stop("--rate_limit_type SW: give the rate with --rate_limit=<rate>");
    }
  } else if (st.rateLimitType === "HW") {
    if (st.rdmaCm || st.commRdmaCm) {
      stop("--rate_limit_type HW: HW rate limit isn't supported yet with rdma_cm scenarios");
    }
    if (c.rateLimit.units === "p") {
      ruled(
        "--rate_limit: Failed: pps rate limit units is not supported when setting HW rate limit",
      );
    }
    stop(
      "--rate_limit: the HW rate limiter (the path's static rate) is not enforced by the HCA model; use --rate_limit_type=SW",
    );
  } else if (st.rateLimitType === "PP") {
    stop("--rate_limit_type PP: Packet Pacing is only supported for Raw Ethernet.");
  }
  if (c.output !== "full") {
    if (kind === "bw" && c.output !== "bandwidth" && c.output !== "message_rate") {
      ruled("--output: Output verbosity level for BW can be: bandwidth, message_rate");
    }
    if (kind === "lat" && c.output !== "latency") {
      ruled("--output: Output verbosity level for LAT can be: latency");
    }
  }
  if (c.latencyGapUs > 0 && kind !== "lat") {
    ruled("--latency_gap: Latency gap feature is only for latency tests");
  }
  const d = c.duration ?? LIMITS.defDuration;
  // The run_infinitely block above made it a DURATION run (test_type) before this margin rule.
  if ((duration || c.runInfinitely) && c.margin < 0) c.margin = Math.trunc(d / 4);
  if (c.connection === "UD" && (c.inlineSize ?? 0) > LIMITS.maxInlineUd) {
    warn(`Setting inline size to ${LIMITS.maxInlineUd} (Max inline size in UD)`, "stderr");
    c.inlineSize = LIMITS.maxInlineUd;
  }
  // test_type != DURATION: --run_infinitely made it DURATION above (force_dependecies' run
  // infinitely block runs before this check), with or without -D.
  if (st.reportPerPort && (!(duration || c.runInfinitely) || !st.dualport)) {
    ruled("--report-per-port: report per port feature work only with Duration and Dualport");
  }
  c.reportPerPort = st.reportPerPort;
  if (verb === "send" && c.rxDepth % 2 === 1 && !c.all && !c.runInfinitely) c.rxDepth += 1;
  if (!duration && c.iters > LIMITS.peakItersLimit && !c.noPeak && kind === "bw") c.noPeak = true;
  if (!(d > 2 * c.margin)) ruled("-f/--margin: please check that DURATION > 2*MARGIN");
  if (!c.events && c.eqNum !== undefined) {
    stop("-X/--vector: Events must be enabled to select a completion vector");
  }
  // perftest_resources.c run_iter_bw posts a list only while
  // `scnt - ccnt + post_list <= tx_depth`: a list longer than the (final) tx depth is never
  // posted and perftest polls forever. Refused here, after perftest's own checks.
  if (c.postList > c.txDepth) {
    stop(
      `-l/--post_list: a list of ${c.postList} WRs never fits the tx depth of ${c.txDepth} (perftest would wait forever; give -t ${c.postList} or more)`,
    );
  }
  // perftest_resources.c ctx_set_recv_wqes posts rx_depth / recv_post_list lists per QP (the
  // SRQ's divided among the QPs); with none posted a send test's receiver never completes one
  // (RC retries on RNR forever, UD drops every message) and perftest waits forever.
  if (verb === "send" && c.recvPostList > 1) {
    const lists = Math.floor(c.rxDepth / c.recvPostList);
    if ((c.useSrq ? Math.floor(lists / c.qps) : lists) === 0) {
      stop(
        `--recv_post_list: the rx depth of ${c.rxDepth}${
          c.useSrq ? ` shared by ${c.qps} QPs` : ""
        } holds no list of ${c.recvPostList} receives per QP (perftest would post none and wait forever)`,
      );
    }
  }
  // What the simulation cannot do, after perftest's own checks.
  if (st.rdmaCm && c.connection === "UD") {
    stop(
      "-R/--rdma_cm: UD QPs through rdma_cm need SIDR (RDMA_PS_UDP), which the model's connection manager does not have; it connects RC QPs",
    );
  }
  if (st.odp) {
    stop(
      "--odp: ODP is not supported: the HCA model reports no on-demand paging capabilities (every registration is pinned)",
    );
  }
  if (st.forceEthernet) {
    stop("--force-link Ethernet: the simulated links are InfiniBand (RoCE is not modelled)");
  }
  // Sizes.
  if (c.all) c.sizes = allSizes();
  if (c.runInfinitely && c.duration === undefined) c.duration = LIMITS.defDuration;
  if (c.device && (c.mode !== "native")) {
    stop(
      `--device real with --mode ${c.mode}: a real device is driven natively (bypass/split run on the simulated HCA)`,
    );
  }
  if (c.device && c.commRdmaCm) {
    stop(
      `${
        c.rdmaCm ? "-R/--rdma_cm" : "-z/--comm_rdma_cm"
      } with --device real: the FFI path has no librdmacm binding (rdma_cm runs on the simulated fabric)`,
    );
  }
  if (c.device && st.simulated.size > 0) {
    // The cost profile, the seed and the noise model are the simulated cluster's.
    stop(
      `${[...st.simulated].join(", ")} with --device real: ${
        st.simulated.size > 1 ? "they set" : "it sets"
      } the simulated cluster; a real device is measured on the wall clock as it is`,
    );
  }
  if (c.device && c.pcap !== undefined) {
    // The capture taps the simulated fabric; a real HCA's packets never pass through it.
    stop(
      "--pcap with --device real: the trace is of the simulated fabric, which a real device's packets do not cross",
    );
  }
  if (c.kind === "lat" && c.verb === "write") c.disablePcieRelaxed = true;
}

function baseConfig(test: TestName): PerftestConfig {
  const { verb, kind } = PERFTEST_TESTS[test];
  const size = verb === "atomic" ? LIMITS.atomicSize : kind === "lat" ? 2 : 65536;
  return {
    test,
    verb,
    kind,
    sizes: [size],
    all: false,
    sizeGiven: false,
    iters: kind === "bw" && verb === "write" ? 5000 : 1000,
    events: false,
    cpuFreqF: false,
    connection: "RC",
    txDepth: kind === "lat" ? 1 : 128,
    rxDepth: verb === "send" ? LIMITS.defRxSend : 1,
    qps: 1,
    reportGbits: false,
    atomicType: "FETCH_AND_ADD",
    bidirectional: false,
    reportBoth: false,
    reversed: false,
    postList: 1,
    recvPostList: 1,
    cqMod: LIMITS.defCqMod,
    cqModGiven: false,
    noPeak: false,
    useSrq: false,
    margin: -1,
    runInfinitely: false,
    reportCycles: false,
    histogram: false,
    unsorted: false,
    output: "full",
    sl: 0,
    qpTimeout: 14,
    pkeyIndex: 0,
    trafficClass: 0,
    rdmaCm: false,
    commRdmaCm: false,
    retryCount: 7,
    port: 18515,
    ibPort: 1,
    dualport: false,
    reportPerPort: false,
    mcg: false,
    latencyGapUs: 0,
    counters: [],
    outJson: false,
    outJsonFile: "perftest_out.json",
    cpuUtil: false,
    warmUp: false,
    mrPerQp: false,
    waitDestroy: 0,
    disablePcieRelaxed: false,
    rateLimit: { type: "off", rate: 0, units: "g", burst: 0 },
    mmapOffset: 0,
    ipv6: false,
    mode: "native",
    profile: "pcix-sdr-2006",
    seed: 1,
    noise: "on",
    json: false,
    pcapFormat: "ib",
    help: false,
    version: false,
    notices: [],
  };
}

/**
 * The connection types perftest's `usage()` lists for a verb's `-c`
 * (perftest_parameters.c: SEND all six, WRITE RC/XRC/UC/DC, READ and
 * ATOMIC RC/XRC/DC).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectionTypesShown } from "./perftest_args.ts";
 * assert.equal(connectionTypesShown("write"), "RC/XRC/UC/DC");
 * assert.equal(connectionTypesShown("atomic"), "RC/XRC/DC");
 * ```
 */
export function connectionTypesShown(verb: Verb): string {
  if (verb === "send") return "RC/XRC/UC/UD/DC/SRD";
  if (verb === "write") return "RC/XRC/UC/DC";
  return "RC/XRC/DC";
}

/**
 * The default perftest's `usage()` prints for a flag in a test
 * (perftest_parameters.c, with perftest_parameters.h's DEF_* values), for
 * the flags whose table text does not already carry it; undefined when
 * it prints none. `-f`'s is what force_dependecies sets (usage() says
 * 2 s, but the margin is a quarter of the duration unless given).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { usageDefault } from "./perftest_args.ts";
 * assert.equal(usageDefault("iters", "write", "bw"), "5000"); // DEF_ITERS_WB
 * assert.equal(usageDefault("iters", "read", "bw"), "1000"); // DEF_ITERS
 * assert.equal(usageDefault("size", "send", "lat"), "2"); // DEF_SIZE_LAT
 * assert.equal(usageDefault("mtu", "send", "lat"), undefined); // the table says it
 * ```
 */
export function usageDefault(long: string, verb: Verb, kind: TestKind): string | undefined {
  switch (long) {
    case "iters":
      return String(kind === "bw" && verb === "write" ? 5000 : 1000);
    case "size":
      return String(kind === "lat" ? 2 : 65536);
    case "tx-depth":
      return String(kind === "lat" ? 1 : 128);
    case "qp-timeout":
      return "14";
    case "sl":
      return "0";
    case "port":
      return "18515";
    case "qp":
      return "1";
    case "hop_limit":
      return String(LIMITS.defHopLimit);
    case "ib-dev":
      return "first device found";
    case "margin":
      return "D/4";
    case "gid-index":
      return "IB: no GID";
    case "out_json_file":
      return "perftest_out.json in the working directory";
    case "bidirectional":
      return "unidirectional";
    case "report-cycles":
      return "microseconds";
    case "events":
      return "poll";
    case "rate_units":
      return "g";
    case "aes_block_size":
      return "512";
    case "data_enc_keys_number":
      return "1";
    case "log_dci_streams":
      return "0";
    case "log_active_dci_streams":
      return "the --log_dci_streams value";
    case "tos":
      return "off";
    case "noPeak":
      return "peak computed up to 20000 iterations";
    default:
      return undefined;
  }
}

/**
 * Usage text for one test, as perftest's `usage()` lists the flags that
 * test shows, each marked with what it does here; or the list of tests.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { perftestUsage } from "./perftest_args.ts";
 * // no inline data for READ
 * assert.deepEqual(perftestUsage("ib_read_lat").includes("--inline_size"), false);
 * ```
 */
export function perftestUsage(test?: TestName): string {
  if (!test) {
    return [
      "Usage: deno task perftest <test> [flags]",
      "",
      `Tests: ${Object.keys(PERFTEST_TESTS).join(", ")}`,
      "Both sides run in one process, in virtual time; no server name is given.",
      "'deno task perftest <test> --help' lists the test's flags (perftest 4.5's, with what each does here).",
    ].join("\n");
  }
  const { verb, kind } = PERFTEST_TESTS[test];
  const lines = [
    `Usage: deno task perftest ${test} [flags]`,
    "",
    `Runs ${test} between two endpoints of a simulated cluster (or a real HCA with --device).`,
    "Both sides run in one process, in virtual time; perftest's server name and TCP port have no use.",
    "",
    "perftest 4.5 flags ([-] not available here, [~] accepted with nothing to do):",
  ];
  for (const f of PERFTEST_FLAGS) {
    if (!f.shown(verb, kind)) continue;
    const mark = f.status === "refused" || f.status === "perftest-refuses"
      ? "[-]"
      : f.status === "noop"
      ? "[~]"
      : "   ";
    const arg = f.long === "connection" ? connectionTypesShown(verb) : f.arg;
    const name = `${f.short ? `-${f.short}, ` : "    "}--${f.helpLong ?? f.long}${
      arg ? `=<${arg}>` : ""
    }`;
    const def = usageDefault(f.long, verb, kind);
    lines.push(`  ${mark} ${name.padEnd(34)} ${f.perftest}${def ? ` (default ${def})` : ""}`);
  }
  lines.push(
    "",
    "xenib flags:",
    "      --mode=<native|bypass|split>  how the endpoints reach the HCA (default native)",
    "      --profile=<NAME|FILE.yaml>    cost profile (default pcix-sdr-2006; built-in: pcix-sdr-2006, modern-gen5-ndr)",
    "      --seed=<n>                    PRNG seed; same seed, same numbers (default 1)",
    "      --noise=<on|off>              the profile's seeded noise model (default on; off: exact samples)",
    "      --jobs=<n>                    workers for the sizes of a run (default one per core; 1: in order here)",
    "      --json                        print the results as JSON",
    "      --pcap=<file>                 write every packet of the test to a pcap file (tshark/Wireshark)",
    "      --pcap-format=<ib|rocev2>     InfiniBand (default) or RoCEv2 over UDP 4791 frames",
    "      --device=real[:NAME]          use real RDMA hardware through libibverbs (FFI)",
    "",
    getoptHelp("--iter 1000, --mo split"),
    "",
    "Latency is half a round trip for write/send, a full round trip for read/atomic (as perftest).",
    "MB/sec is 2^20 bytes per second, Gb/sec 10^9 bits per second (as perftest).",
  );
  return lines.join("\n");
}
