/**
 * Flag parsing for `tools/nas.ts`: `nas KERNEL [--class C] [--graph G]
 * [--np N] [--mode M] [launch flags] [--compute real|model|auto] [--json]`.
 * The kernel-dependent checks (class, graph, process count, compute mode)
 * are `checkNasOptions`'s, after parsing.
 *
 * @module
 */
import type { NasClass } from "../nas/kernel.ts";
import {
  checkLaunchFlags,
  defaultLaunchFlags,
  type LaunchFlags,
  takeLaunchFlag,
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

See docs/nas.md.`;
}

const CLASSES = ["S", "W", "A", "B", "C"] as const;

/**
 * Parse `nas` arguments.
 *
 * @throws UsageError naming the flag
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseNasArgs } from "./nas_args.ts";
 * assert.throws(() => parseNasArgs([]), /give a kernel/);
 * assert.throws(() => parseNasArgs(["ep", "--class", "Q"]), /--class: 'Q'/);
 * assert.throws(() => parseNasArgs(["ep", "--frobnicate"]), /unknown flag '--frobnicate'/);
 * assert.throws(() => parseNasArgs(["ep", "--json=1"]), { message: "flag '--json' takes no value" });
 * assert.equal(parseNasArgs(["ep", "--class=w"]).cls, "W");
 * assert.equal(parseNasArgs(["dt", "--graph", "sh"]).graph, "sh"); // checked against the kernel later
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
  for (let i = 0; i < argv.length;) {
    const next = takeLaunchFlag(argv, i, launch);
    if (next !== undefined) {
      i = next;
      continue;
    }
    const a = argv[i];
    const eq = a.startsWith("--") ? a.indexOf("=") : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string => {
      if (eq > 0) return a.slice(eq + 1);
      const v = argv[i + 1];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      i++;
      return v;
    };
    // A switch with `=value` is no switch (the other tools' parseFlags says the same).
    if (eq > 0 && (flag === "--help" || flag === "--json")) {
      throw new UsageError(`flag '${flag}' takes no value`);
    }
    switch (flag) {
      case "-h":
      case "--help":
        c.help = true;
        break;
      case "--json":
        c.json = true;
        break;
      case "--class": {
        const v = value().toUpperCase();
        if (!(CLASSES as readonly string[]).includes(v)) {
          throw new UsageError(`--class: '${v}' is not a class (${CLASSES.join(", ")})`);
        }
        c.cls = v as NasClass;
        break;
      }
      case "--graph":
        c.graph = value();
        break;
      case "--compute": {
        const v = value();
        if (v !== "real" && v !== "model" && v !== "auto") {
          throw new UsageError(`--compute: '${v}' is not real, model or auto`);
        }
        c.compute = v;
        break;
      }
      default:
        if (a.startsWith("-")) throw new UsageError(`unknown flag '${a}' (see --help)`);
        if (c.kernel) {
          throw new UsageError(`one kernel at a time: '${c.kernel}' and '${a}' (see --help)`);
        }
        c.kernel = a;
    }
    i++;
  }
  if (!c.kernel && !c.help) throw new UsageError("give a kernel, e.g. deno task nas is --class S");
  checkLaunchFlags(launch);
  return c;
}
