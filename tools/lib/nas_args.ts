/**
 * Flag parsing for `tools/nas.ts`: `nas KERNEL [--class C] [--graph G]
 * [--np N] [--mode M] [launch flags] [--compute real|model|auto] [--json]`,
 * read by getoptLong (./getopt.ts) with the launch flags of ./mpi_args.ts.
 * The kernel-dependent checks (class, graph, process count, compute mode)
 * are `checkNasOptions`'s, after parsing.
 *
 * @module
 */
import type { NasClass } from "../nas/kernel.ts";
import { getoptHelp, getoptLong, type LongOption } from "./getopt.ts";
import {
  checkLaunchFlags,
  defaultLaunchFlags,
  type LaunchFlags,
  launchOptionTable,
  takeLaunchOption,
} from "./mpi_args.ts";
import { UsageError } from "./perftest_args.ts";

/**
 * A parsed command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseNasArgs } from "./nas_args.ts";
 * const c = parseNasArgs(["is", "--class", "A", "--np", "16", "--mode", "bypass"]);
 * assert.deepEqual([c.kernel, c.cls, c.launch.np, c.launch.mode, c.compute], ["is", "A", 16, "bypass", "auto"]);
 * ```
 */
export interface NasConfig {
  /** Kernel name as typed. */
  kernel: string;
  cls: NasClass;
  /** `--graph G`: the kernel's graph (DT's BH, WH or SH) as typed; absent: the kernel's default. */
  graph?: string;
  /** Launch flags (`np` defaults to 4). */
  launch: LaunchFlags & { np: number };
  compute: "real" | "model" | "auto";
  /** `--json`: one JSON object instead of NPB's text. */
  json: boolean;
  /** `-h`. */
  help: boolean;
}

/**
 * The usage text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nasUsage } from "./nas_args.ts";
 * assert.ok(nasUsage([{ name: "EP", title: "Embarrassingly Parallel", classes: ["S"], modelClasses: [] }]).includes("EP"));
 * ```
 */
export function nasUsage(
  kernels: readonly {
    name: string;
    title?: string;
    classes: readonly string[];
    modelClasses: readonly string[];
    graphs?: readonly string[];
  }[],
): string {
  const rows = kernels.map((k) =>
    `  ${k.name.padEnd(4)} ${(k.title ?? "").padEnd(26)} classes ${k.classes.join(" ")}${
      k.modelClasses.length ? `; model: ${k.modelClasses.join(" ")}` : ""
    }${k.graphs?.length ? `; --graph ${k.graphs.join(" ")}` : ""}`
  );
  return `usage: deno task nas KERNEL [--class S|W|A|B] [--graph BH|WH|SH] [--np N]
                     [--mode native|bypass|split] [flags]

Runs a NAS Parallel Benchmarks 3.4 kernel (MPI version: its decomposition, messages
and verification) on xenib's MPI in a simulated cluster, and prints NPB's output.
Times are virtual seconds.

Kernels in this build:
${rows.join("\n")}

  --class C                   problem class (default S)
  --graph G                   DT's communication graph: BH (default), WH or SH
  --np N, -np N, -n N         processes (default 4; NPB's rules per kernel, e.g. IS: a power of two,
                              DT: at least the graph's nodes)
  --mode native|bypass|split  bare-metal hosts, Xen-IB guests, or split-driver guests (default native)
  --hosts H                   hosts (default: N for native, N / guests-per-host otherwise)
  --guests-per-host G         guests per Xen host (bypass, split; default 1)
  --guest-memory MIB          memory of each guest (bypass, split; default 512)
  --map block|cyclic          rank placement over hosts/guests (default block)
  --profile NAME|FILE.yaml    cost profile (default pcix-sdr-2006; also modern-gen5-ndr)
  --seed S                    seed of the cluster's PRNG (default 1)
  --noise on|off              the profile's seeded noise model (default on; off: exact)
  --migrate R@MS[,R@MS…]      live-migrate rank R's guest MS ms into the job, each to a spare
                              Xen host of its own (bypass, split; turns Nomad's layer on)
  --compute real|model|auto   compute for real, or charge the computation by the model with the
                              same messages; auto (default): real for S and W, model for A and B
  --json                      one JSON object (figures, platform, per-rank counters) instead of text
  -h, --help                  this help

${getoptHelp("--cl A, --mo split")}
See docs/nas.md.`;
}

const CLASSES = ["S", "W", "A", "B", "C"] as const;

/** nas's own options, then the launch flags as extensions (./mpi_args.ts). */
const TABLE: readonly LongOption[] = [
  { name: "class", hasArg: true },
  { name: "graph", hasArg: true },
  { name: "compute", hasArg: true },
  { name: "json", hasArg: false },
  { name: "help", short: "h", hasArg: false },
  ...launchOptionTable(),
];

/**
 * The getopt_long table `deno task nas` reads its command line with (tools/lib/getopt.ts), for
 * tools that look at a nas command line (tools/launch.ts): nas's own options, then the launch
 * flags as extensions (`--mode`, `--profile`, `--np` also spelled `-np` and `-n`, …).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getoptLong } from "./getopt.ts";
 * import { nasOptionTable } from "./nas_args.ts";
 * const r = getoptLong(["is", "--prof", "p.yaml", "-np", "2"], nasOptionTable());
 * assert.deepEqual(r.options.map((o) => [o.name, o.value]), [["profile", "p.yaml"], ["np", "2"]]);
 * assert.deepEqual(r.positionals, ["is"]);
 * ```
 */
export function nasOptionTable(): readonly LongOption[] {
  return TABLE;
}

/**
 * Parse `nas` arguments by getopt_long's rules (./getopt.ts, {@link nasOptionTable}): the kernel
 * anywhere (getopt permutes), long options by any unambiguous prefix (the launch flags' only
 * where it names none of nas's own: `--g` is `--graph`), `=VALUE` or the next word, `--` ending
 * the options. Options are handled in command-line order, so the first bad one is the error.
 *
 * @throws UsageError naming the flag
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseNasArgs } from "./nas_args.ts";
 * assert.throws(() => parseNasArgs([]), /give a kernel/);
 * assert.throws(() => parseNasArgs(["ep", "--class", "Q"]), /--class: 'Q'/);
 * assert.throws(() => parseNasArgs(["ep", "--frobnicate"]), {
 *   message: "unrecognized option '--frobnicate' (see --help)",
 * });
 * assert.throws(() => parseNasArgs(["ep", "--json=1"]), {
 *   message: "option '--json' doesn't allow an argument (see --help)",
 * });
 * assert.equal(parseNasArgs(["ep", "--class=w"]).cls, "W");
 * assert.equal(parseNasArgs(["dt", "--graph", "sh"]).graph, "sh"); // checked against the kernel later
 * // Prefixes, as getopt_long takes them; the launch flags as osu takes them.
 * const p = parseNasArgs(["--cl", "A", "--mo", "split", "ep", "--comp=model"]);
 * assert.deepEqual([p.kernel, p.cls, p.launch.mode, p.compute], ["ep", "A", "split", "model"]);
 * assert.throws(() => parseNasArgs(["ep", "--c", "A"]), /^UsageError: option '--c' is ambiguous/);
 * ```
 */
export function parseNasArgs(argv: readonly string[]): NasConfig {
  const launch = { ...defaultLaunchFlags(), np: 4 };
  const c: NasConfig = {
    kernel: "",
    cls: "S",
    launch,
    compute: "auto",
    json: false,
    help: false,
  };
  const found = getoptLong([...argv], TABLE, { recordError: true });
  const e = found.error;
  for (const [k, o] of found.options.entries()) {
    if (e?.before === k) break;
    if (takeLaunchOption(o, launch)) continue;
    const v = o.value ?? "";
    switch (o.name) {
      case "help":
        c.help = true;
        break;
      case "json":
        c.json = true;
        break;
      case "class": {
        const cls = v.toUpperCase();
        if (!(CLASSES as readonly string[]).includes(cls)) {
          throw new UsageError(`--class: '${cls}' is not a class (${CLASSES.join(", ")})`);
        }
        c.cls = cls as NasClass;
        break;
      }
      case "graph":
        c.graph = v;
        break;
      case "compute":
        if (v !== "real" && v !== "model" && v !== "auto") {
          throw new UsageError(`--compute: '${v}' is not real, model or auto`);
        }
        c.compute = v;
        break;
    }
  }
  if (e) throw new UsageError(`${e.error.message} (see --help)`);
  const [kernel, other] = found.positionals;
  if (other !== undefined) {
    throw new UsageError(`one kernel at a time: '${kernel}' and '${other}' (see --help)`);
  }
  c.kernel = kernel ?? "";
  if (!c.kernel && !c.help) throw new UsageError("give a kernel, e.g. deno task nas is --class S");
  checkLaunchFlags(launch);
  return c;
}
