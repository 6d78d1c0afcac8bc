/**
 * Flags of `tools/paper.ts`.
 *
 * @module
 */
import {
  type Mode,
  MODES,
  parseFlags,
  parseJobs,
  parseNoise,
  parseSeed,
  UsageError,
} from "./perftest_args.ts";
import type { NasPlan, PaperScale } from "./paper_run.ts";
import { mpi } from "../../mod.ts";

/**
 * A parsed `deno task paper` command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PaperConfig, parsePaperArgs } from "./paper_args.ts";
 * const c: PaperConfig = parsePaperArgs(["--out", "out/p"]);
 * assert.deepEqual(c, {
 *   scale: "default",
 *   profile: "pcix-sdr-2006", // the paper's testbed
 *   seed: 1,
 *   noise: "on",
 *   out: "out/p", // resolved later, from where the task was run
 *   modes: ["native", "bypass", "split"],
 *   jobs: undefined, // one worker per core
 *   nas: undefined, // the scale's NAS part
 *   help: false,
 * });
 * ```
 */
export interface PaperConfig {
  /** quick (tests), default, full. */
  scale: PaperScale;
  /** Profile name or YAML file. */
  profile: string;
  seed: number;
  /** The noise model (default on). */
  noise: "on" | "off";
  /** Output directory. */
  out: string;
  /** Modes to measure. */
  modes: Mode[];
  /** Workers (default one per core). */
  jobs?: number;
  /** `--nas CLASS:NP` (null: `--nas none`; undefined: the scale's). */
  nas?: NasPlan | null;
  /** `-h`. */
  help: boolean;
}

/**
 * `--nas CLASS:NP[:GUESTS]`: a NAS class and rank count; the ranks go on
 * NP / GUESTS hosts with GUESTS guests each (default 2 when NP is even).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseNasPlan } from "./paper_args.ts";
 * assert.deepEqual(parseNasPlan("A:16"), { cls: "A", shape: { np: 16, hosts: 8, guestsPerHost: 2 } });
 * assert.deepEqual(parseNasPlan("S:4:1"), { cls: "S", shape: { np: 4, hosts: 4, guestsPerHost: 1 } });
 * assert.equal(parseNasPlan("none"), null);
 * assert.throws(() => parseNasPlan("Q:4"), { message: "--nas: 'Q:4' is not CLASS:NP[:GUESTS] (class S, W, A or B; e.g. A:16)" });
 * assert.throws(() => parseNasPlan("S:100000:1"), {
 *   message: "--nas: 'S:100000:1': 100000 hosts (NP / GUESTS), more than a job takes (at most 49150)",
 * });
 * ```
 */
export function parseNasPlan(raw: string): NasPlan | null {
  if (raw === "none") return null;
  const m = /^([SWAB]):(\d+)(?::(\d+))?$/.exec(raw);
  const bad = () =>
    new UsageError(`--nas: '${raw}' is not CLASS:NP[:GUESTS] (class S, W, A or B; e.g. A:16)`);
  if (!m) throw bad();
  const np = Number(m[2]);
  const g = m[3] !== undefined ? Number(m[3]) : np % 2 === 0 ? 2 : 1;
  if (np < 1 || g < 1 || np % g !== 0) throw bad();
  // The job's shape as the launcher takes it, now rather than after the rest of the evaluation.
  const max = mpi.LAUNCH_LIMITS;
  const over = (what: string, most: number) =>
    new UsageError(`--nas: '${raw}': ${what}, more than a job takes (at most ${most})`);
  if (!(np <= max.np)) throw over(`NP ${m[2]}`, max.np);
  if (g > max.guestsPerHost) throw over(`GUESTS ${m[3]}`, max.guestsPerHost);
  if (np / g > max.hosts) throw over(`${np / g} hosts (NP / GUESTS)`, max.hosts);
  return { cls: m[1] as NasPlan["cls"], shape: { np, hosts: np / g, guestsPerHost: g } };
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
 * assert.equal(parsePaperArgs(["--full"]).scale, "full");
 * assert.throws(() => parsePaperArgs(["--modes", "sriov"]), {
 *   name: "UsageError",
 *   message: "--modes: 'sriov' is not a mode (use native, bypass, split)",
 * });
 * assert.throws(() => parsePaperArgs(["--quick", "--full"]), /--quick and --full: choose one/);
 * assert.throws(() => parsePaperArgs(["--out", " "]), /--out: empty directory name/);
 * ```
 */
export function parsePaperArgs(argv: string[]): PaperConfig {
  const v = parseFlags(argv, {
    quick: { type: "boolean" },
    full: { type: "boolean" },
    profile: { type: "string" },
    seed: { type: "string" },
    noise: { type: "string" },
    out: { type: "string" },
    modes: { type: "string" },
    jobs: { type: "string" },
    nas: { type: "string" },
    help: { type: "boolean", short: "h" },
  }).values;
  if (v.quick && v.full) throw new UsageError("--quick and --full: choose one");
  const c: PaperConfig = {
    scale: v.quick ? "quick" : v.full ? "full" : "default",
    profile: v.profile ?? "pcix-sdr-2006",
    seed: 1,
    noise: "on",
    out: v.out ?? "out/paper",
    modes: [...MODES],
    jobs: undefined,
    nas: undefined,
    help: v.help ?? false,
  };
  if (v.seed !== undefined) c.seed = parseSeed(v.seed);
  if (v.noise !== undefined) c.noise = parseNoise(v.noise);
  if (v.jobs !== undefined) c.jobs = parseJobs(v.jobs);
  if (v.nas !== undefined) c.nas = parseNasPlan(v.nas);
  if (v.out !== undefined && v.out.trim() === "") {
    throw new UsageError("--out: empty directory name");
  }
  if (v.profile !== undefined && v.profile === "") throw new UsageError("--profile: empty value");
  if (v.modes !== undefined) {
    // An empty item is an error, as in bench's and migration's lists (not skipped).
    const list = v.modes.split(",").map((s) => s.trim());
    if (list.every((m) => m === "")) {
      throw new UsageError("--modes: empty list (use native,bypass,split)");
    }
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
 * for (
 *   const flag of [
 *     "--out",
 *     "--quick",
 *     "--full",
 *     "--profile",
 *     "--seed",
 *     "--noise",
 *     "--modes",
 *     "--jobs",
 *     "--nas",
 *     "--help",
 *   ]
 * ) {
 *   assert.ok(text.includes(flag), flag);
 * }
 * ```
 */
export function paperUsage(): string {
  return [
    "Usage: deno task paper [flags]",
    "",
    "Runs the evaluation of Liu et al., USENIX ATC 2006 (VMM-bypass I/O, Xen-IB) on the",
    "built-in device model: RDMA WRITE latency, bandwidth and message rate (native, bypass,",
    "split), event-driven latency, memory registration with and without the registration",
    "cache, resource setup costs, the sensitivity to each Xen primitive, the same figures",
    "on modern-gen5-ndr, MPI latency and bandwidth (OSU), and with --full the NAS kernels.",
    "Writes report.md and SVG charts, prints the tables and whether each of the paper's",
    "claims is reproduced. Independent points run on workers, one per core.",
    "",
    "      --out=<dir>        output directory, anywhere you can write (default out/paper,",
    "                         relative to where the task is run)",
    "      --quick            a small run (a few sizes and iterations; for tests)",
    "      --full             every size, perftest's iterations, and the NAS kernels at class A",
    "                         on 16 ranks (8 hosts x 2 guests): minutes",
    "      --nas=<CLASS:NP[:GUESTS]|none>  the NAS part: class S, W, A or B on NP ranks",
    "                         (GUESTS per Xen host, default 2); default: none, --full: A:16",
    "      --profile=<NAME|FILE.yaml>  cost profile (default pcix-sdr-2006)",
    "      --seed=<n>         PRNG seed (default 1); same seed, same numbers",
    "      --noise=<on|off>   the profile's seeded noise model (default on: medians with a",
    "                         p1-p99 spread; off: exact)",
    "      --modes=<list>     modes to run, comma-separated (default native,bypass,split)",
    "      --jobs=<n>         workers (default one per core; 1: in order in one thread)",
    "  -h, --help             this text",
  ].join("\n");
}
