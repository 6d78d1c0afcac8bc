/**
 * `deno task nas KERNEL --class S|W|A|B [--graph BH|WH|SH] --np N
 * --mode native|bypass|split [--hosts H] [--guests-per-host G] [--map block|cyclic] [--profile P]
 * [--seed S] [--compute real|model|auto] [--json]`: a NAS Parallel
 * Benchmarks kernel (NPB 3.4-MPI's decomposition, communication and
 * verification) on xenib's MPI in a simulated cluster, printing NPB's output
 * — banner, progress, the kernel's verification lines and `print_results`'s
 * report — with times in virtual seconds (docs/nas.md).
 *
 * @example
 * ```sh
 * deno task nas is --class S --np 4 --mode bypass
 * deno task nas ep --class A --np 16 --hosts 8 --guests-per-host 2 --mode bypass --json
 * deno task nas dt --class S --graph SH --np 12 --mode bypass
 * ```
 *
 * @module
 */
import { runMain } from "./lib/cli.ts";
import { nasUsage, parseNasArgs } from "./lib/nas_args.ts";
import { runNas } from "./lib/nas_run.ts";
import { KERNELS } from "./nas/registry.ts";

/**
 * Run the command line `args`, printing through `out`; returns the exit
 * status (1 when verification failed, as a failing NPB run is a failure).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nasMain } from "./nas.ts";
 * const out: string[] = [];
 * const status = await nasMain(["ep", "--class", "S", "--np", "2", "--json"], (l) => out.push(l));
 * assert.equal(status, 0);
 * assert.equal(JSON.parse(out.join("\n")).verification, "SUCCESSFUL");
 * ```
 */
export async function nasMain(args: string[], out: (line: string) => void): Promise<number> {
  const cfg = parseNasArgs(args);
  if (cfg.help) {
    out(nasUsage(KERNELS));
    return 0;
  }
  const r = await runNas({
    kernel: cfg.kernel,
    cls: cfg.cls,
    graph: cfg.graph,
    ...cfg.launch,
    compute: cfg.compute,
    print: cfg.json ? undefined : out,
  });
  if (cfg.json) {
    out(JSON.stringify(
      {
        kernel: r.name,
        class: r.cls,
        ...(r.graph !== undefined ? { graph: r.graph } : {}),
        np: r.totalProcs,
        activeProcs: r.activeProcs ?? r.totalProcs,
        compute: r.compute,
        size: r.size,
        iterations: r.iterations,
        timeSec: r.timeSec,
        mops: r.mops,
        mopsPerProcess: r.mops / r.totalProcs,
        opType: r.opType,
        verified: r.verified,
        verification: r.compute === "model"
          ? "NOT PERFORMED"
          : r.verified
          ? "SUCCESSFUL"
          : "UNSUCCESSFUL",
        details: r.details,
        platform: r.platform,
        ranks: r.counters.map((c, rank) => ({
          rank,
          mainNs: r.mainNs[rank],
          computeNs: c.computeNs,
          messages: c.messages,
          bytesSent: c.bytesSent,
          eager: c.eagerSend + c.eagerRdma,
          rendezvous: c.rndvRput + c.rndvRget,
        })),
      },
      null,
      2,
    ));
  }
  return r.compute === "real" && !r.verified ? 1 : 0;
}

// Only as a program: importing the module (docs, tests) must not run it.
if (import.meta.main) {
  await runMain("nas", async () => {
    const status = await nasMain(Deno.args, (l) => console.log(l));
    if (status !== 0) Deno.exit(status);
  });
}
