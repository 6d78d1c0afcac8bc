/**
 * MPI_Barrier: dissemination (Hensgen, Finkel, Manber 1988; MPICH's default)
 * and recursive doubling (pairwise exchange; the ranks above the largest
 * power of two first hand off to a partner below it).
 *
 * @module
 */
import { type CollEnv, EMPTY, pof2, recv, send, sendrecv, TAG } from "./env.ts";

/**
 * Dissemination barrier: ⌈log2 n⌉ rounds; in round k rank r signals
 * r + 2^k and waits for r − 2^k.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * // Rank 2 arrives 50 µs late; nobody leaves the barrier before it arrives.
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const t0 = comm.wtime();
 *   if (comm.rank === 2) await comm.compute({ ns: 50_000 });
 *   await comm.barrier({ algorithm: "dissemination" });
 *   return (comm.wtime() - t0) * 1e6;
 * });
 * assert.ok(job.results.every((us) => us >= 50));
 * ```
 */
export async function barrierDissemination(env: CollEnv): Promise<void> {
  const { rank: r, size: n } = env;
  for (let k = 1; k < n; k <<= 1) {
    await sendrecv(env, EMPTY, (r + k) % n, EMPTY, (r - k + n) % n, TAG.barrier);
  }
}

/**
 * Recursive-doubling barrier: pairwise exchanges with partners r XOR 2^k
 * among the largest power-of-two set of ranks, the others folded in before
 * and released after.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * // Rank 2 arrives 50 µs late; nobody leaves the barrier before it arrives.
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const t0 = comm.wtime();
 *   if (comm.rank === 2) await comm.compute({ ns: 50_000 });
 *   await comm.barrier({ algorithm: "recursive_doubling" });
 *   return (comm.wtime() - t0) * 1e6;
 * });
 * assert.ok(job.results.every((us) => us >= 50));
 * ```
 */
export async function barrierRecursiveDoubling(env: CollEnv): Promise<void> {
  const { rank: r, size: n } = env;
  const p = pof2(n);
  const rem = n - p;
  if (r >= p) {
    await send(env, EMPTY, r - p, TAG.barrier);
    await recv(env, EMPTY, r - p, TAG.barrier);
    return;
  }
  if (r < rem) await recv(env, EMPTY, r + p, TAG.barrier);
  for (let mask = 1; mask < p; mask <<= 1) {
    await sendrecv(env, EMPTY, r ^ mask, EMPTY, r ^ mask, TAG.barrier);
  }
  if (r < rem) await send(env, EMPTY, r + p, TAG.barrier);
}
