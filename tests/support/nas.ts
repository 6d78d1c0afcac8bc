/**
 * Helpers for the NAS kernel tests: jobs laid out two ranks per host (two
 * host-OS ranks natively, two guests per Xen host otherwise), and the check
 * that a modelled run cost exactly what the real one did.
 *
 * @module
 */
import assert from "node:assert/strict";
import { mpi } from "../../mod.ts";

/** Where the ranks run. */
export type NasMode = "native" | "bypass" | "split";

/**
 * Run `main` on `np` ranks, two per host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { twoPerHost } from "./nas.ts";
 * const job = await twoPerHost("bypass", 2, (comm) => comm.processorName());
 * assert.deepEqual(job.results, ["node0-vm0", "node0-vm1"]);
 * ```
 */
export async function twoPerHost<T>(
  mode: NasMode,
  np: number,
  main: (comm: mpi.Comm) => Promise<T> | T,
): Promise<mpi.JobResult<T>> {
  const hosts = Math.max(1, np / 2);
  return await mpi.mpiexec(
    mode === "native" ? { np, mode, hosts } : { np, mode, hosts, guestsPerHost: 2 },
    main,
  );
}

/**
 * A modelled and a real run of the same job: same virtual time to the end
 * and, per rank, the same messages, bytes, protocol choices, cache use and
 * computation charged.
 *
 * @example
 * ```ts
 * import { assertSameCost, twoPerHost } from "./nas.ts";
 * const a = await twoPerHost("native", 2, (comm) => comm.compute({ flops: 1000 }));
 * const b = await twoPerHost("native", 2, (comm) => comm.compute({ flops: 1000 }));
 * assertSameCost(a, b);
 * ```
 */
export function assertSameCost(real: mpi.JobResult, model: mpi.JobResult): void {
  assert.equal(model.elapsedNs, real.elapsedNs);
  assert.deepEqual(model.mainNs, real.mainNs);
  assert.deepEqual(model.counters, real.counters);
}
