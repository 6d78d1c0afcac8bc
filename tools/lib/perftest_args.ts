/**
 * Flag parsing for `tools/perftest.ts`: perftest's flags with perftest's
 * meaning (`-s`, `-a`, `-n`, `-m`, `-I`, `-e`, `-F`, `-c`, `-t`, `-q`,
 * `--report_gbits`, `-A`, `-h`), plus xenib's own (`--mode`, `--profile`,
 * `--seed`, `--json`, `--device`). Combinations perftest rejects are
 * rejected here with perftest's reason; every error is a {@link UsageError}
 * whose message names the flag.
 *
 * @module
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

/**
 * The eight perftest programs xenib provides.
 *
 * @example
 * ```ts
 * import { PERFTEST_TESTS } from "./perftest_args.ts";
 * console.log(PERFTEST_TESTS.ib_read_bw); // { verb: "read", kind: "bw" }
 * ```
 */
export const PERFTEST_TESTS = {
  ib_write_lat: { verb: "write", kind: "lat" },
  ib_write_bw: { verb: "write", kind: "bw" },
  ib_read_lat: { verb: "read", kind: "lat" },
  ib_read_bw: { verb: "read", kind: "bw" },
  ib_send_lat: { verb: "send", kind: "lat" },
  ib_send_bw: { verb: "send", kind: "bw" },
  ib_atomic_lat: { verb: "atomic", kind: "lat" },
  ib_atomic_bw: { verb: "atomic", kind: "bw" },
} as const;

/**
 * A perftest program name, e.g. `ib_write_lat`.
 *
 * @example
 * ```ts
 * import type { TestName } from "./perftest_args.ts";
 * const t: TestName = "ib_send_lat";
 * ```
 */
export type TestName = keyof typeof PERFTEST_TESTS;
/**
 * The verb a test exercises.
 *
 * @example
 * ```ts
 * import type { Verb } from "./perftest_args.ts";
 * const v: Verb = "atomic";
 * ```
 */
export type Verb = "write" | "read" | "send" | "atomic";
/**
 * Latency (ping-pong / round trip) or bandwidth (streaming) test.
 *
 * @example
 * ```ts
 * import type { TestKind } from "./perftest_args.ts";
 * const k: TestKind = "bw";
 * ```
 */
export type TestKind = "lat" | "bw";
/**
 * Transport service (`-c`).
 *
 * @example
 * ```ts
 * import type { Connection } from "./perftest_args.ts";
 * const c: Connection = "UD";
 * ```
 */
export type Connection = "RC" | "UC" | "UD";
/**
 * How the endpoints reach the HCA.
 *
 * @example
 * ```ts
 * import type { Mode } from "./perftest_args.ts";
 * const m: Mode = "bypass";
 * ```
 */
export type Mode = "native" | "bypass" | "split";
/**
 * Atomic operation of the atomic tests (`-A`).
 *
 * @example
 * ```ts
 * import type { AtomicType } from "./perftest_args.ts";
 * const a: AtomicType = "CMP_AND_SWAP";
 * ```
 */
export type AtomicType = "FETCH_AND_ADD" | "CMP_AND_SWAP";

/**
 * All modes, in the order tools show them.
 *
 * @example
 * ```ts
 * import { MODES } from "./perftest_args.ts";
 * console.log(MODES.join(",")); // native,bypass,split
 * ```
 */
export const MODES: readonly Mode[] = ["native", "bypass", "split"];

/**
 * perftest's limits (perftest_parameters.h).
 *
 * @example
 * ```ts
 * import { LIMITS } from "./perftest_args.ts";
 * console.log(LIMITS.minIters); // 5
 * ```
 */
export const LIMITS = {
  minIters: 5,
  maxTx: 15000,
  maxQps: 16384,
  maxInline: 1024,
  maxSize: 2 ** 31 - 1,
  allMaxSize: 8388608,
  atomicSize: 8,
  udAddition: 40,
} as const;

/**
 * A fully resolved perftest run.
 *
 * @example
 * ```ts
 * import { parsePerftestArgs, type PerftestConfig } from "./perftest_args.ts";
 * const c: PerftestConfig = parsePerftestArgs(["ib_send_bw", "-q", "4"]);
 * console.log(c.qps, c.txDepth); // 4 128
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
  /** Iterations per size (`-n`). */
  iters: number;
  /** Requested path MTU (`-m`), or undefined for the port's active MTU. */
  mtu?: number;
  /** Max inline size (`-I`), or undefined for perftest's default for this test. */
  inlineSize?: number;
  /** `-e`: wait on the completion channel instead of polling. */
  events: boolean;
  /** `-F`: accepted, no effect (as perftest: skip the CPU frequency check). */
  cpuFreqF: boolean;
  /** `-c`. */
  connection: Connection;
  /** Send queue depth / outstanding WRs (`-t`). */
  txDepth: number;
  /** Number of QPs (`-q`), bandwidth tests only. */
  qps: number;
  /** `--report_gbits`: bandwidth in Gb/s instead of MB/s. */
  reportGbits: boolean;
  /** `-A` for atomic tests. */
  atomicType: AtomicType;
  /** `--mode`. */
  mode: Mode;
  /** `--profile` (built-in name or YAML file). */
  profile: string;
  /** `--seed`. */
  seed: number;
  /** `--json`. */
  json: boolean;
  /** `--device real[:NAME]`: run on real hardware through FFI. */
  device?: { real: true; name?: string };
  /** `-h`. */
  help: boolean;
}

/**
 * A bad command line; the message names the flag. The CLI prints it and exits 1.
 *
 * @example
 * ```ts
 * import { UsageError } from "./perftest_args.ts";
 * console.log(new UsageError("unknown flag '--x'").message); // unknown flag '--x'
 * ```
 */
export class UsageError extends Error {
  /** @param message what is wrong, naming the flag */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

const OPTIONS = {
  size: { type: "string", short: "s" },
  all: { type: "boolean", short: "a" },
  iters: { type: "string", short: "n" },
  mtu: { type: "string", short: "m" },
  inline_size: { type: "string", short: "I" },
  events: { type: "boolean", short: "e" },
  "CPU-freq": { type: "boolean", short: "F" },
  connection: { type: "string", short: "c" },
  "tx-depth": { type: "string", short: "t" },
  qp: { type: "string", short: "q" },
  report_gbits: { type: "boolean" },
  atomic_type: { type: "string", short: "A" },
  mode: { type: "string" },
  profile: { type: "string" },
  seed: { type: "string" },
  json: { type: "boolean" },
  device: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

/**
 * Turn `node:util` parseArgs' errors into one-line messages naming the flag.
 *
 * @example
 * ```ts
 * import { parseArgs } from "node:util";
 * import { rephraseParseError } from "./perftest_args.ts";
 * try {
 *   parseArgs({ args: ["--nope"], options: {}, strict: true });
 * } catch (e) {
 *   console.log(rephraseParseError(e).message); // unknown flag '--nope' (see --help)
 * }
 * ```
 */
export function rephraseParseError(e: unknown): UsageError {
  const msg = e instanceof Error ? e.message : String(e);
  const code = (e as { code?: string })?.code ?? "";
  let m = /Unknown option '([^']+)'/.exec(msg);
  if (m) return new UsageError(`unknown flag '${m[1]}' (see --help)`);
  m = /Option '([^']+)' argument missing/.exec(msg);
  if (m) return new UsageError(`flag '${m[1].split(",")[0].trim()}' needs a value`);
  m = /Option '([^']+)' does not take an argument/.exec(msg);
  if (m) return new UsageError(`flag '${m[1].split(",")[0].trim()}' takes no value`);
  m = /Unexpected argument '([^']+)'/.exec(msg);
  if (m) return new UsageError(`unexpected argument '${m[1]}' (see --help)`);
  return new UsageError(code ? `${msg.split(".")[0]}` : msg);
}

/**
 * `node:util` parseArgs in strict mode (an unknown flag is an error), with
 * its errors rephrased by {@link rephraseParseError}: the one way every
 * tool reads its flags.
 *
 * @param allowPositionals whether bare arguments are allowed (else each is an error)
 * @example
 * ```ts
 * import { parseFlags } from "./perftest_args.ts";
 * const { values } = parseFlags(["--quick", "-p", "x"], {
 *   quick: { type: "boolean" },
 *   profile: { type: "string", short: "p" },
 * });
 * console.log(values.quick, values.profile); // true x
 * ```
 */
export function parseFlags<const T extends ParseArgsOptionsConfig>(
  argv: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals });
  } catch (e) {
    throw rephraseParseError(e);
  }
}

/** Long name → the spelling to show (`-s/--size`). */
function flagName(long: string): string {
  const o = (OPTIONS as Record<string, { short?: string }>)[long];
  return o?.short ? `-${o.short}/--${long}` : `--${long}`;
}

/**
 * Parse a whole number flag value within [min, max].
 *
 * @example
 * ```ts
 * import { parseIntFlag } from "./perftest_args.ts";
 * console.log(parseIntFlag("--iters", "100", 5, 1000)); // 100
 * ```
 */
export function parseIntFlag(flag: string, raw: string, min: number, max: number): number {
  if (!/^[0-9]+$/.test(raw.trim())) {
    throw new UsageError(`${flag}: '${raw}' is not a whole number`);
  }
  const n = Number(raw.trim());
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag}: ${raw} is out of range (${min}..${max})`);
  }
  return n;
}

/**
 * Parse a `-s/--size` value: bytes, or with perftest's `K`/`M` suffix.
 *
 * @example
 * ```ts
 * import { parseSize } from "./perftest_args.ts";
 * console.log(parseSize("64K")); // 65536
 * ```
 */
export function parseSize(raw: string): number {
  const m = /^([0-9]+)([KM]?)$/.exec(raw.trim());
  if (!m) throw new UsageError(`-s/--size: '${raw}' is not a size (bytes, or with K or M)`);
  const n = Number(m[1]) * (m[2] === "K" ? 1024 : m[2] === "M" ? 1048576 : 1);
  if (n < 1 || n > LIMITS.maxSize) {
    throw new UsageError(`-s/--size: message size should be between 1 and ${LIMITS.maxSize}`);
  }
  return n;
}

/**
 * Parse `--device real[:NAME]`.
 *
 * @example
 * ```ts
 * import { parseDevice } from "./perftest_args.ts";
 * console.log(parseDevice("real:mlx5_0")); // { real: true, name: "mlx5_0" }
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
 * import { parseMode } from "./perftest_args.ts";
 * console.log(parseMode("bypass")); // bypass
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
 * import { parseSeed } from "./perftest_args.ts";
 * console.log(parseSeed("42")); // 42
 * ```
 */
export function parseSeed(raw: string): number {
  return parseIntFlag("--seed", raw, 0, 2 ** 32 - 1);
}

/**
 * Sizes of `-a`: 2, 4, …, 2^23.
 *
 * @example
 * ```ts
 * import { allSizes } from "./perftest_args.ts";
 * console.log(allSizes(16)); // [ 2, 4, 8, 16 ]
 * ```
 */
export function allSizes(max: number = LIMITS.allMaxSize): number[] {
  const out: number[] = [];
  for (let s = 2; s <= max; s *= 2) out.push(s);
  return out;
}

/**
 * perftest's default max inline size for a test on a known device (0 when
 * the test does not inline; bandwidth tests never do by default).
 *
 * @example
 * ```ts
 * import { defaultInline } from "./perftest_args.ts";
 * console.log(defaultInline("write", "lat", "RC")); // 220
 * ```
 */
export function defaultInline(verb: Verb, kind: TestKind, conn: Connection): number {
  if (kind !== "lat") return 0;
  if (verb === "write") return 220;
  if (verb === "send") return conn === "UD" ? 188 : 236;
  return 0;
}

/**
 * Parse a perftest command line (`argv` without the program, the first
 * positional being the test name, or `test` given separately).
 *
 * @example
 * ```ts
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * const c = parsePerftestArgs(["ib_write_lat", "-s", "64", "-n", "100"]);
 * console.log(c.sizes, c.iters, c.connection); // [ 64 ] 100 RC
 * ```
 */
export function parsePerftestArgs(argv: string[], test?: TestName): PerftestConfig {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      options: OPTIONS,
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (e) {
    throw rephraseParseError(e);
  }
  const { values: v, positionals, tokens } = parsed;
  // perftest refuses a flag given twice.
  const seen = new Set<string>();
  for (const t of tokens ?? []) {
    if (t.kind !== "option") continue;
    if (seen.has(t.name)) throw new UsageError(`duplicated flag ${flagName(t.name)}`);
    seen.add(t.name);
  }
  const pos = [...positionals];
  if (!test) {
    const name = pos.shift();
    if (name === undefined) {
      if (v.help) {
        return { ...baseConfig("ib_write_lat"), help: true };
      }
      throw new UsageError(
        `missing test name (one of ${Object.keys(PERFTEST_TESTS).join(", ")})`,
      );
    }
    if (!(name in PERFTEST_TESTS)) {
      throw new UsageError(
        `unknown test '${name}' (one of ${Object.keys(PERFTEST_TESTS).join(", ")})`,
      );
    }
    test = name as TestName;
  }
  if (pos.length > 0) {
    throw new UsageError(
      `unexpected argument '${
        pos[0]
      }': xenib runs both sides in one process, there is no server address`,
    );
  }
  const c = baseConfig(test);
  if (v.help) return { ...c, help: true };
  const { verb, kind } = c;

  if (v.connection !== undefined) {
    const conn = v.connection;
    if (conn !== "RC" && conn !== "UC" && conn !== "UD") {
      throw new UsageError(
        `-c/--connection: '${conn}' is not a connection type (use RC, UC or UD)`,
      );
    }
    if (conn === "UC" && (verb === "read" || verb === "atomic")) {
      throw new UsageError(`-c/--connection UC: UC connection not possible in READ/ATOMIC verbs`);
    }
    if (conn === "UD" && verb !== "send") {
      throw new UsageError(`-c/--connection UD: UD connection only possible in SEND verb`);
    }
    c.connection = conn;
  }
  if (v.iters !== undefined) {
    c.iters = parseIntFlag("-n/--iters", v.iters, LIMITS.minIters, 2 ** 32);
  }
  if (v["tx-depth"] !== undefined) {
    c.txDepth = parseIntFlag("-t/--tx-depth", v["tx-depth"], 1, LIMITS.maxTx);
  }
  if (v.qp !== undefined) {
    c.qps = parseIntFlag("-q/--qp", v.qp, 1, LIMITS.maxQps);
    if (kind !== "bw" && c.qps > 1) {
      throw new UsageError(`-q/--qp ${c.qps}: multiple QPs only available on bw tests`);
    }
  }
  if (v.inline_size !== undefined) {
    const n = parseIntFlag("-I/--inline_size", v.inline_size, 0, LIMITS.maxInline);
    if (verb === "read" || verb === "atomic") {
      throw new UsageError(`-I/--inline_size: inline feature not available on READ/Atomic verbs`);
    }
    c.inlineSize = n;
  }
  if (v.mtu !== undefined) {
    const n = parseIntFlag("-m/--mtu", v.mtu, 0, 1 << 20);
    if (![256, 512, 1024, 2048, 4096].includes(n)) {
      throw new UsageError(`-m/--mtu: invalid MTU ${n} (choose from 256, 512, 1024, 2048, 4096)`);
    }
    c.mtu = n;
  }
  if (v.atomic_type !== undefined) {
    if (verb !== "atomic") {
      throw new UsageError(`-A/--atomic_type: you are not running the atomic_lat/bw test`);
    }
    if (v.atomic_type !== "CMP_AND_SWAP" && v.atomic_type !== "FETCH_AND_ADD") {
      throw new UsageError(
        `-A/--atomic_type: invalid atomic type '${v.atomic_type}' (choose CMP_AND_SWAP or FETCH_AND_ADD)`,
      );
    }
    c.atomicType = v.atomic_type;
  }
  if (v.events) {
    if (verb === "write") {
      throw new UsageError(`-e/--events: events feature not available on WRITE verb`);
    }
    c.events = true;
  }
  c.cpuFreqF = v["CPU-freq"] ?? false;
  c.reportGbits = v.report_gbits ?? false;
  if (v.report_gbits && kind === "lat") {
    // perftest accepts it and ignores it for latency; so do we.
  }
  if (v.size !== undefined) {
    const s = parseSize(v.size);
    if (verb === "atomic" && s !== LIMITS.atomicSize) {
      throw new UsageError(`-s/--size: message size cannot be changed for Atomic tests`);
    }
    c.sizes = [s];
  }
  if (v.all) {
    if (verb === "atomic") {
      throw new UsageError(`-a/--all: message size cannot be changed for Atomic tests`);
    }
    if (v.size !== undefined) {
      throw new UsageError(`-a/--all and -s/--size: choose one (-a runs every size 2..2^23)`);
    }
    c.all = true;
    c.sizes = allSizes();
  }
  if (c.txDepth > c.iters) c.txDepth = c.iters; // perftest: tx_depth = min(tx_depth, iters)
  if (v.mode !== undefined) c.mode = parseMode(v.mode);
  if (v.profile !== undefined) {
    if (v.profile === "") throw new UsageError(`--profile: empty value`);
    c.profile = v.profile;
  }
  if (v.seed !== undefined) c.seed = parseSeed(v.seed);
  c.json = v.json ?? false;
  if (v.device !== undefined) {
    c.device = parseDevice(v.device);
    if (v.mode !== undefined && c.mode !== "native") {
      throw new UsageError(
        `--device real with --mode ${c.mode}: a real device is driven natively (bypass/split run on the simulated HCA)`,
      );
    }
    if (v.profile !== undefined) {
      throw new UsageError(
        `--device real with --profile: profiles apply to the simulated HCA only`,
      );
    }
  }
  return c;
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
    iters: kind === "lat" ? 1000 : 5000,
    events: false,
    cpuFreqF: false,
    connection: "RC",
    txDepth: kind === "lat" ? 1 : 128,
    qps: 1,
    reportGbits: false,
    atomicType: "FETCH_AND_ADD",
    mode: "native",
    profile: "pcix-sdr-2006",
    seed: 1,
    json: false,
    help: false,
  };
}

/**
 * Usage text for one test (or for all, when `test` is undefined).
 *
 * @example
 * ```ts
 * import { perftestUsage } from "./perftest_args.ts";
 * console.log(perftestUsage("ib_read_lat").includes("-I")); // false (no inline for READ)
 * ```
 */
export function perftestUsage(test?: TestName): string {
  const verb = test ? PERFTEST_TESTS[test].verb : undefined;
  const kind = test ? PERFTEST_TESTS[test].kind : undefined;
  const name = test ?? "<test>";
  const lines = [
    `Usage: deno task perftest ${name} [flags]`,
    ``,
    test
      ? `Runs ${name} between two endpoints of a simulated cluster (or a real HCA with --device).`
      : `Tests: ${Object.keys(PERFTEST_TESTS).join(", ")}`,
    `Both sides run in one process, in virtual time; no server address is given.`,
    ``,
    `perftest flags (same meaning as perftest):`,
    `  -s, --size=<size>          message size in bytes, K/M suffix allowed (default: ${
      verb === "atomic"
        ? "8, fixed"
        : kind === "lat"
        ? "2"
        : kind === "bw"
        ? "65536"
        : "2 lat, 65536 bw"
    })`,
  ];
  if (verb !== "atomic") lines.push(`  -a, --all                  run sizes 2 .. 2^23`);
  lines.push(
    `  -n, --iters=<n>            iterations per size, >= 5 (default: ${
      kind === "lat" ? "1000" : kind === "bw" ? "5000" : "1000 lat, 5000 bw"
    })`,
    `  -m, --mtu=<mtu>            path MTU 256..4096 (default: the port's active MTU)`,
  );
  if (verb !== "read" && verb !== "atomic") {
    lines.push(
      `  -I, --inline_size=<size>   max size sent inline, 0..1024 (default: 220 write_lat, 236 send_lat, 188 UD)`,
    );
  }
  if (verb !== "write") {
    lines.push(`  -e, --events               wait on the completion channel instead of polling`);
  }
  lines.push(
    `  -F, --CPU-freq             accepted, no effect (as perftest: skip the CPU frequency check)`,
    `  -c, --connection=<RC|UC|UD>  transport (default RC; UC: no READ/atomic; UD: SEND only)`,
    `  -t, --tx-depth=<n>         send queue depth (default: ${
      kind === "lat" ? "1" : kind === "bw" ? "128" : "1 lat, 128 bw"
    })`,
  );
  if (kind !== "lat") lines.push(`  -q, --qp=<n>               number of QPs (bw tests)`);
  if (verb === "atomic" || !verb) {
    lines.push(
      `  -A, --atomic_type=<type>   CMP_AND_SWAP or FETCH_AND_ADD (default FETCH_AND_ADD)`,
    );
  }
  if (kind !== "lat") {
    lines.push(`      --report_gbits         report bandwidth in Gb/sec instead of MB/sec`);
  }
  lines.push(
    `  -h, --help                 this text`,
    ``,
    `xenib flags:`,
    `      --mode=<native|bypass|split>  how the endpoints reach the HCA (default native)`,
    `      --profile=<NAME|FILE.yaml>    cost profile (default pcix-sdr-2006; built-in: pcix-sdr-2006, modern-gen5-ndr)`,
    `      --seed=<n>                    PRNG seed; same seed, same numbers (default 1)`,
    `      --json                        print the results as JSON`,
    `      --device=real[:NAME]          use real RDMA hardware through libibverbs (FFI)`,
    ``,
    `Latency is half a round trip for write/send, a full round trip for read/atomic (as perftest).`,
    `MB/sec is 2^20 bytes per second, Gb/sec 10^9 bits per second (as perftest).`,
  );
  return lines.join("\n");
}
