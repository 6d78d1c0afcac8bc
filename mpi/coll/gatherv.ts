/**
 * MPI_Gatherv and MPI_Scatterv (MPICH's MPIR_Gatherv_allcomm_linear and
 * MPIR_Scatterv_allcomm_linear): the root posts one receive (send) per rank
 * with a non-empty block, at that rank's displacement; the other ranks send
 * (receive) their one block. Blocks of zero bytes are not sent at all.
 *
 * @module
 */
import type { Region } from "../buffer.ts";
import type { Blocks } from "./alltoall.ts";
import { type CollEnv, recv, send, TAG } from "./env.ts";

/**
 * Linear gatherv: rank i's `mine` lands at block i of the root's `out`
 * (`blocks` gives each block's byte offset and length). At the root `mine`
 * may be its own block of `out` (MPI_IN_PLACE).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
 *   // Rank r contributes r + 1 elements; the root lays them out back to front.
 *   const out = new Int32Array(6).fill(-1);
 *   const mine = new Int32Array(comm.rank + 1).fill(comm.rank);
 *   await comm.gatherv(mine, comm.rank === 1 ? out : null, [1, 2, 3], [5, 3, 0], 1);
 *   return [...out];
 * });
 * assert.deepEqual(job.results[1], [2, 2, 2, 1, 1, 0]);
 * ```
 */
export async function gathervLinear(
  env: CollEnv,
  mine: Region,
  out: Region | undefined,
  blocks: Blocks | undefined,
  root: number,
): Promise<void> {
  const { rank: r, size: n } = env;
  if (r !== root) {
    if (mine.bytes > 0) await send(env, mine, root, TAG.gatherv);
    return;
  }
  const reqs = [];
  for (let i = 0; i < n; i++) {
    if (i !== root && blocks!.len(i) > 0) {
      reqs.push(await env.irecv(out!.sub(blocks!.off(i), blocks!.len(i)), i, TAG.gatherv));
    }
  }
  env.copy(out!.sub(blocks!.off(root), mine.bytes), mine);
  await env.waitall(reqs);
}

/**
 * Linear scatterv: block i of the root's `src` to rank i's `mine`. At the
 * root `mine` may be its own block of `src` (MPI_IN_PLACE).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
 *   const src = Int32Array.from([10, 11, 12, 13, 14, 15]);
 *   const mine = new Int32Array(comm.rank + 1);
 *   await comm.scatterv(comm.rank === 0 ? src : null, [1, 2, 3], [0, 1, 3], mine, 0);
 *   return [...mine];
 * });
 * assert.deepEqual(job.results, [[10], [11, 12], [13, 14, 15]]);
 * ```
 */
export async function scattervLinear(
  env: CollEnv,
  src: Region | undefined,
  blocks: Blocks | undefined,
  mine: Region,
  root: number,
): Promise<void> {
  const { rank: r, size: n } = env;
  if (r !== root) {
    if (mine.bytes > 0) await recv(env, mine, root, TAG.scatterv);
    return;
  }
  const reqs = [];
  for (let i = 0; i < n; i++) {
    if (i !== root && blocks!.len(i) > 0) {
      reqs.push(await env.isend(src!.sub(blocks!.off(i), blocks!.len(i)), i, TAG.scatterv));
    }
  }
  env.copy(mine, src!.sub(blocks!.off(root), mine.bytes));
  await env.waitall(reqs);
}
