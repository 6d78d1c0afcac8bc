/**
 * MPI_Scan and MPI_Exscan (MPICH's MPIR_Scan_intra_recursive_doubling and
 * MPIR_Exscan_intra_recursive_doubling): in step k exchange the partial
 * reduction of the 2^k-rank subtree with rank r XOR 2^k; data from a lower
 * rank enters the result, and every combination keeps rank order (the
 * lower ranks' data on the left), so the algorithms are right for
 * non-commutative operations too. ⌈log2 n⌉ steps for any n.
 *
 * @module
 */
import type { Region } from "../buffer.ts";
import { type CollEnv, sendrecv, TAG } from "./env.ts";
import type { Red } from "./reduce.ts";

/**
 * Inclusive scan: `acc` holds this rank's contribution and ends with the
 * reduction of ranks 0..rank.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(1);
 *   await comm.scan(new Int32Array([comm.rank + 1]), out, "SUM");
 *   return out[0];
 * });
 * assert.deepEqual(job.results, [1, 3, 6, 10, 15]);
 * ```
 */
export async function scanRecursiveDoubling(env: CollEnv, acc: Region, red: Red): Promise<void> {
  const { rank: r, size: n } = env;
  const partial = env.scratch(acc.bytes), tmp = env.scratch(acc.bytes);
  env.copy(partial, acc);
  for (let mask = 1; mask < n; mask <<= 1) {
    const dst = r ^ mask;
    if (dst >= n) continue;
    await sendrecv(env, partial, dst, tmp, dst, TAG.scan);
    // tmp reduces ranks below (dst > r: above) this rank's subtree.
    env.reduceLocal(red.op, red.dt, partial, tmp, dst < r);
    if (dst < r) env.reduceLocal(red.op, red.dt, acc, tmp, true);
  }
}

/**
 * Exclusive scan: `out` ends with the reduction of ranks 0..rank − 1 (rank
 * 0's is left as it was: MPI leaves it undefined). `mine` is this rank's
 * contribution (it may be `out` itself: MPI_IN_PLACE).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const out = new Int32Array([-1]);
 *   await comm.exscan(new Int32Array([comm.rank + 1]), out, "SUM");
 *   return out[0];
 * });
 * assert.deepEqual(job.results, [-1, 1, 3, 6, 10]);
 * ```
 */
export async function exscanRecursiveDoubling(
  env: CollEnv,
  mine: Region,
  out: Region,
  red: Red,
): Promise<void> {
  const { rank: r, size: n } = env;
  const partial = env.scratch(mine.bytes), tmp = env.scratch(mine.bytes);
  env.copy(partial, mine);
  let first = true;
  for (let mask = 1; mask < n; mask <<= 1) {
    const dst = r ^ mask;
    if (dst >= n) continue;
    await sendrecv(env, partial, dst, tmp, dst, TAG.exscan);
    env.reduceLocal(red.op, red.dt, partial, tmp, dst < r);
    if (dst < r) {
      if (first) env.copy(out, tmp);
      else env.reduceLocal(red.op, red.dt, out, tmp, true);
      first = false;
    }
  }
}
