/**
 * `deno task osu NAME [OSU flags] [--mode native|bypass|split] [-np N] …`:
 * the OSU Micro-Benchmarks (osu_latency, osu_multi_lat, osu_bw, osu_bibw, osu_mbw_mr,
 * osu_barrier, osu_bcast, osu_allreduce, osu_alltoall, osu_alltoallv, osu_alltoallw, osu_reduce,
 * osu_gather,
 * osu_scatter, osu_allgather, osu_gatherv, osu_scatterv, osu_allgatherv, osu_reduce_scatter,
 * the non-blocking osu_ibarrier, osu_ibcast, osu_iallreduce, osu_ireduce, osu_igather,
 * osu_iscatter, osu_iallgather, osu_ialltoall, osu_igatherv, osu_iscatterv, osu_iallgatherv,
 * osu_ialltoallv, osu_ialltoallw, osu_ireduce_scatter, and the one-sided osu_put_latency, osu_get_latency, osu_acc_latency,
 * osu_fop_latency, osu_cas_latency, osu_put_bw, osu_get_bw, osu_put_bibw of tools/lib/osu_rma.ts)
 * with OMB 7.0's flags,
 * methods and output, run as MPI programs on xenib's MPI in a simulated
 * cluster (virtual time).
 *
 * @example
 * ```sh
 * deno task osu osu_latency -m 8 --mode bypass
 * deno task osu osu_allreduce -np 8 --hosts 4 --guests-per-host 2 --mode split -f
 * ```
 *
 * @module
 */
import { mpi } from "../mod.ts";
import { runMain } from "./lib/cli.ts";
import { loadToolProfile } from "./lib/api.ts";
import { parseOsuArgs } from "./lib/osu_args.ts";
import { osuProgram } from "./lib/osu_bench.ts";
import { title, usage } from "./lib/osu_format.ts";
import { isOsuRma, osuRmaMain } from "./lib/osu_rma.ts";
import { migrationLines } from "./lib/mpi_run.ts";

/**
 * Run the command line `args`: output lines go to `print`, OSU's warnings
 * (stderr) to `warn`; returns the exit status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { osuMain } from "./osu.ts";
 * const lines: string[] = [];
 * const status = await osuMain(["osu_latency", "-m", "1", "-i", "5", "-x", "1"], (l) => lines.push(l));
 * assert.equal(status, 0);
 * assert.deepEqual(lines.slice(0, 2), ["# OSU MPI Latency Test v7.0", "# Size            Latency (us)"]);
 * ```
 */
export async function osuMain(
  args: string[],
  print: (line: string) => void,
  warn: (line: string) => void = (l) => console.error(l),
): Promise<number> {
  if (isOsuRma(args[0])) return await osuRmaMain(args, print);
  const cfg = parseOsuArgs(args);
  if (cfg.help) {
    print(usage(cfg.name));
    return 0;
  }
  if (cfg.version) {
    print(title(cfg.name));
    return 0;
  }
  for (const w of cfg.warnings) warn(w);
  const np = cfg.launch.np ?? 2;
  const main = osuProgram(cfg, np, print);
  const profile = await loadToolProfile(cfg.launch.profile);
  const job = await mpi.mpiexec({ ...cfg.launch, np, profile }, main);
  for (const l of migrationLines(job)) print(`# Live migration: ${l}`);
  const out = job.results[0]!;
  if (out.failedSize !== undefined) {
    print(
      `DATA VALIDATION ERROR: ${cfg.name} exited with status 1 on message size ${out.failedSize}.`,
    );
    return 1;
  }
  return 0;
}

// Only as a program: importing the module (docs, tests) must not run it.
if (import.meta.main) {
  await runMain("osu", async () => {
    const status = await osuMain(Deno.args, (l) => console.log(l));
    if (status !== 0) Deno.exit(status);
  });
}
