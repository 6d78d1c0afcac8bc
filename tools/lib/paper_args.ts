/**
 * Flags of `tools/paper.ts`.
 *
 * @module
 */
import { type Mode, MODES, parseFlags, parseSeed, UsageError } from "./perftest_args.ts";

/**
 * A parsed `deno task paper` command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PaperConfig, parsePaperArgs } from "./paper_args.ts";
 * const c: PaperConfig = parsePaperArgs(["--out", "out/p"]);
 * assert.deepEqual(c, {
 *   quick: false,
 *   profile: "pcix-sdr-2006", // the paper's testbed
 *   seed: 1,
 *   out: "out/p", // resolved later, from where the task was run
 *   modes: ["native", "bypass", "split"],
 *   help: false,
 * });
 * ```
 */
export interface PaperConfig {
  /** Smaller run. */
  quick: boolean;
  /** Profile name or YAML file. */
  profile: string;
  /** Seed. */
  seed: number;
  /** Output directory. */
  out: string;
  /** Modes to measure. */
  modes: Mode[];
  /** `-h`. */
  help: boolean;
}

/**
 * Parse paper flags.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePaperArgs } from "./paper_args.ts";
 * assert.deepEqual(parsePaperArgs(["--quick", "--modes", "bypass,native"]).modes, [
 *   "native",
 *   "bypass",
 * ]);
 * assert.throws(() => parsePaperArgs(["--modes", "sriov"]), {
 *   name: "UsageError",
 *   message: "--modes: 'sriov' is not a mode (use native, bypass, split)",
 * });
 * assert.throws(() => parsePaperArgs(["--out", " "]), /--out: empty directory name/);
 * ```
 */
export function parsePaperArgs(argv: string[]): PaperConfig {
  const v = parseFlags(argv, {
    quick: { type: "boolean" },
    profile: { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    modes: { type: "string" },
    help: { type: "boolean", short: "h" },
  }).values;
  const c: PaperConfig = {
    quick: v.quick ?? false,
    profile: v.profile ?? "pcix-sdr-2006",
    seed: 1,
    out: v.out ?? "out/paper",
    modes: [...MODES],
    help: v.help ?? false,
  };
  if (v.seed !== undefined) c.seed = parseSeed(v.seed);
  if (v.out !== undefined && v.out.trim() === "") {
    throw new UsageError("--out: empty directory name");
  }
  if (v.profile !== undefined && v.profile === "") throw new UsageError("--profile: empty value");
  if (v.modes !== undefined) {
    const list = v.modes.split(",").map((s) => s.trim()).filter(Boolean);
    if (list.length === 0) throw new UsageError("--modes: empty list (use native,bypass,split)");
    for (const m of list) {
      if (!(MODES as readonly string[]).includes(m)) {
        throw new UsageError(`--modes: '${m}' is not a mode (use native, bypass, split)`);
      }
    }
    c.modes = MODES.filter((m) => list.includes(m));
  }
  return c;
}

/**
 * Usage text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { paperUsage } from "./paper_args.ts";
 * const text = paperUsage();
 * assert.equal(text.split("\n")[0], "Usage: deno task paper [flags]");
 * for (const flag of ["--out", "--quick", "--profile", "--seed", "--modes", "--help"]) {
 *   assert.ok(text.includes(flag), flag);
 * }
 * ```
 */
export function paperUsage(): string {
  return [
    "Usage: deno task paper [flags]",
    "",
    "Runs the evaluation of Liu et al., USENIX ATC 2006 (VMM-bypass I/O, Xen-IB) on the",
    "built-in device model: RDMA WRITE latency and bandwidth (native, bypass, split),",
    "event-driven latency (native vs bypass), memory registration cost with and without",
    "the registration cache, resource setup costs. Writes report.md and SVG charts,",
    "prints the tables and whether each of the paper's claims is reproduced.",
    "",
    "      --out=<dir>        output directory, anywhere you can write (default out/paper,",
    "                         relative to where the task is run)",
    "      --quick            a smaller run (fewer sizes and iterations)",
    "      --profile=<NAME|FILE.yaml>  cost profile (default pcix-sdr-2006)",
    "      --seed=<n>         PRNG seed (default 1); same seed, same numbers",
    "      --modes=<list>     modes to run, comma-separated (default native,bypass,split)",
    "  -h, --help             this text",
  ].join("\n");
}
