/**
 * Flag parsing for `tools/mpirun.ts`: `mpirun [flags] PROGRAM.ts [args…]`,
 * read by getoptLong (./getopt.ts) with the launch flags of ./mpi_args.ts.
 * Flags come before the program; everything after the program path is the
 * program's.
 *
 * @module
 */
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
  -q, --quiet                 no summary
  -h, --help                  this help

${getoptHelp("--mo split, --qu", ", up to the program (every word after it is the program's)")}
The program file is resolved from the directory you ran the task in; see docs/mpi.md.`;

/** mpirun's own options, then the launch flags as extensions (./mpi_args.ts). */
const TABLE: readonly LongOption[] = [
  { name: "quiet", short: "q", hasArg: false },
  { name: "help", short: "h", hasArg: false },
  ...launchOptionTable(),
];

/**
 * The getopt_long table `deno task mpirun` reads its command line with (tools/lib/getopt.ts,
 * with `stopAtOperand`: the program and everything after it are operands), for tools that look
 * at an mpirun command line (tools/launch.ts).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getoptLong } from "./getopt.ts";
 * import { mpirunOptionTable } from "./mpirun_args.ts";
 * const r = getoptLong(["-np", "2", "--prof", "p.yaml", "prog.ts", "--quiet"], mpirunOptionTable(), {
 *   stopAtOperand: true,
 * });
 * assert.deepEqual(r.options.map((o) => o.name), ["np", "profile"]);
 * assert.deepEqual(r.positionals, ["prog.ts", "--quiet"]);
 * ```
 */
export function mpirunOptionTable(): readonly LongOption[] {
  return TABLE;
}

/**
 * Parse `mpirun` arguments by getopt_long's rules (./getopt.ts, {@link mpirunOptionTable}) in
 * its "+" mode, as mpirun launchers read theirs: the options end at the first operand, the
 * program, and every word after it is the program's. Long options by any unambiguous prefix
 * (the launch flags' only where it names none of mpirun's own: `--h` is `--help`), `=VALUE` or
 * the next word, `--` ending the options. Options are handled in command-line order.
 *
 * @throws UsageError naming the flag
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMpirunArgs } from "./mpirun_args.ts";
 * assert.throws(() => parseMpirunArgs(["prog.ts"]), /-np/);
 * assert.throws(() => parseMpirunArgs(["-np", "2"]), /program/);
 * assert.throws(() => parseMpirunArgs(["-np", "2", "--frob", "p.ts"]), {
 *   message: "unrecognized option '--frob' (see --help)",
 * });
 * const c = parseMpirunArgs(["-np", "2", "--mo", "split", "--qu", "--", "p.ts", "--mode"]);
 * assert.deepEqual([c.launch.mode, c.quiet, c.program, c.args], ["split", true, "p.ts", ["--mode"]]);
 * ```
 */
export function parseMpirunArgs(argv: readonly string[]): MpirunConfig {
  const launch = defaultLaunchFlags();
  let quiet = false, help = false;
  const found = getoptLong([...argv], TABLE, { recordError: true, stopAtOperand: true });
  const e = found.error;
  for (const [k, o] of found.options.entries()) {
    if (e?.before === k) break;
    if (takeLaunchOption(o, launch)) continue;
    if (o.name === "help") help = true;
    else if (o.name === "quiet") quiet = true;
  }
  if (e) throw new UsageError(`${e.error.message} (see --help)`);
  if (help) {
    return { launch: { ...launch, np: launch.np ?? 1 }, program: "", args: [], quiet, help };
  }
  const [program, ...args] = found.positionals;
  if (program === undefined) {
    throw new UsageError("give the program to run (PROGRAM.ts after the flags)");
  }
  if (launch.np === undefined) throw new UsageError("-np N: say how many ranks to run");
  checkLaunchFlags(launch);
  return { launch: { ...launch, np: launch.np }, program, args, quiet, help: false };
}
