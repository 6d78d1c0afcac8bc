/**
 * Flag parsing for `tools/mpirun.ts`: `mpirun [flags] PROGRAM.ts [args…]`.
 * Flags come before the program; everything after the program path is the
 * program's.
 *
 * @module
 */
import {
  checkLaunchFlags,
  defaultLaunchFlags,
  type LaunchFlags,
  takeLaunchFlag,
} from "./mpi_args.ts";
import { UsageError } from "./perftest_args.ts";

/**
 * A parsed `mpirun` command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMpirunArgs } from "./mpirun_args.ts";
 * const c = parseMpirunArgs(["-np", "4", "--mode", "bypass", "prog.ts", "-x", "1"]);
 * assert.deepEqual([c.launch.np, c.program, c.args], [4, "prog.ts", ["-x", "1"]]);
 * ```
 */
export interface MpirunConfig {
  /** Launch flags (`-np` required). */
  launch: LaunchFlags & { np: number };
  /** Program file. */
  program: string;
  /** Its arguments. */
  args: string[];
  /** `--quiet`: no summary. */
  quiet: boolean;
  /** `-h`. */
  help: boolean;
}

/**
 * The usage text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MPIRUN_USAGE } from "./mpirun_args.ts";
 * assert.ok(MPIRUN_USAGE.includes("-np N"));
 * ```
 */
export const MPIRUN_USAGE = `usage: deno task mpirun -np N [flags] PROGRAM.ts [args…]

Runs PROGRAM.ts's exported main(comm, args) once per rank on xenib's MPI, in a
simulated cluster (virtual time). Output lines are prefixed with the rank ([0] …);
a summary (virtual time, per-host hypervisor/HCA and MPI counters) follows.

  -np N, --np N, -n N         ranks (required)
  --mode native|bypass|split  ranks on bare-metal hosts, Xen-IB guests, or split-driver guests (default native)
  --hosts H                   hosts (default: N for native, N / guests-per-host otherwise)
  --guests-per-host G         guests per Xen host (bypass, split; default 1)
  --guest-memory MIB          memory of each guest (bypass, split; default 512)
  --map block|cyclic          rank placement over hosts/guests (default block)
  --profile NAME|FILE.yaml    cost profile (default pcix-sdr-2006; also modern-gen5-ndr)
  --seed S                    seed of the cluster's PRNG (default 1)
  --noise on|off              the profile's seeded noise model (default on; off: exact)
  --migrate R@MS[,R@MS…]      live-migrate rank R's guest MS ms into the job, each to a spare
                              Xen host of its own (bypass, split; turns Nomad's layer on)
  --quiet                     no summary
  -h, --help                  this help

The program file is resolved from the directory you ran the task in; see docs/mpi.md.`;

/**
 * Parse `mpirun` arguments.
 *
 * @throws UsageError naming the flag
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMpirunArgs } from "./mpirun_args.ts";
 * assert.throws(() => parseMpirunArgs(["prog.ts"]), /-np/);
 * assert.throws(() => parseMpirunArgs(["-np", "2"]), /program/);
 * ```
 */
export function parseMpirunArgs(argv: readonly string[]): MpirunConfig {
  const launch = defaultLaunchFlags();
  let quiet = false, help = false;
  let i = 0;
  while (i < argv.length) {
    const next = takeLaunchFlag(argv, i, launch);
    if (next !== undefined) {
      i = next;
      continue;
    }
    const a = argv[i];
    if (a === "-h" || a === "--help") help = true;
    else if (a === "--quiet" || a === "-q") quiet = true;
    else if (a.startsWith("-")) throw new UsageError(`unknown flag '${a}' (see --help)`);
    else break;
    i++;
  }
  if (help) {
    return { launch: { ...launch, np: launch.np ?? 1 }, program: "", args: [], quiet, help };
  }
  if (i >= argv.length) {
    throw new UsageError("give the program to run (PROGRAM.ts after the flags)");
  }
  if (launch.np === undefined) throw new UsageError("-np N: say how many ranks to run");
  checkLaunchFlags(launch);
  return {
    launch: { ...launch, np: launch.np },
    program: argv[i],
    args: argv.slice(i + 1),
    quiet,
    help: false,
  };
}
