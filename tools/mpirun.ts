/**
 * `deno task mpirun -np N [--hosts H] [--guests-per-host G] --mode
 * native|bypass|split [--profile P] [--seed S] [--map block|cyclic]
 * PROGRAM.ts [args…]`: run an MPI program on xenib's MPI in a simulated
 * cluster. The program exports `main(comm, args)`; every rank runs it.
 * Ranks are placed on bare-metal hosts (native) or Xen guests (bypass,
 * split); MPI_Init exchanges LIDs and QP numbers through a PMI-style
 * key-value space over the management network and connects RC QPs
 * all-to-all (docs/mpi.md).
 *
 * @example
 * ```sh
 * deno task mpirun -np 4 --mode bypass --hosts 2 --guests-per-host 2 tools/examples/mpi_ring.ts
 * ```
 *
 * @module
 */
import { mpi } from "../mod.ts";
import { runMain } from "./lib/cli.ts";
import { loadToolProfile } from "./lib/api.ts";
import { loadProgram, rankLines, summary } from "./lib/mpi_run.ts";
import { MPIRUN_USAGE, parseMpirunArgs } from "./lib/mpirun_args.ts";

/**
 * Run the command line `args`, printing through `out` (stdout lines) and `err`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpirunMain } from "./mpirun.ts";
 * const out: string[] = [];
 * await mpirunMain(["-np", "2", "--quiet", "tools/examples/mpi_ring.ts", "10"], (l) => out.push(l), () => {});
 * assert.ok(out.includes("[0] token after the ring: 1"));
 * ```
 */
export async function mpirunMain(
  args: string[],
  out: (line: string) => void,
  err: (line: string) => void,
): Promise<void> {
  const cfg = parseMpirunArgs(args);
  if (cfg.help) {
    out(MPIRUN_USAGE);
    return;
  }
  const main = await loadProgram(cfg.program);
  const profile = await loadToolProfile(cfg.launch.profile);
  const job = await mpi.mpiexec(
    {
      ...cfg.launch,
      profile,
      args: cfg.args,
      output: (rank, stream, text) =>
        (stream === "out" ? out : err)(rankLines(rank, text).join("\n")),
    },
    main,
  );
  if (!cfg.quiet) {
    for (const l of summary(job, { ...cfg.launch, profile: profile.name })) {
      out(l);
    }
  }
}

// Only as a program: importing the module (docs, tests) must not run it.
if (import.meta.main) {
  // The console as it is now: while the job runs, console.log is routed per rank.
  const log = console.log, error = console.error;
  await runMain("mpirun", () => mpirunMain(Deno.args, (l) => log(l), (l) => error(l)));
}
