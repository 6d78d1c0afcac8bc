/**
 * MPI_Allgather (MPICH's algorithms): recursive doubling (power-of-two n),
 * Bruck's algorithm (⌈log2 n⌉ steps for any n, short messages) and the ring
 * (n − 1 steps, long messages). Block i of the result comes from rank i;
 * every algorithm starts with this rank's block already in place in `out`.
 *
 * @module
 */
import type { Region } from "../buffer.ts";
import { type CollEnv, sendrecv, TAG } from "./env.ts";

/**
 * Recursive doubling: in step k, exchange the 2^k blocks gathered so far
 * with rank r XOR 2^k (n must be a power of two).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 4, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(comm.size);
 *   await comm.allgather(new Int32Array([comm.rank * comm.rank]), out, { algorithm: "recursive_doubling" });
 *   return [...out];
 * });
 * assert.deepEqual(job.results[0], [0, 1, 4, 9]);
 * ```
 */
export async function allgatherRecursiveDoubling(
  env: CollEnv,
  out: Region,
  bb: number,
): Promise<void> {
  const { rank: r, size: n } = env;
  for (let mask = 1; mask < n; mask <<= 1) {
    const partner = r ^ mask;
    const mine = r & ~(mask - 1), theirs = partner & ~(mask - 1);
    await sendrecv(
      env,
      out.sub(mine * bb, mask * bb),
      partner,
      out.sub(theirs * bb, mask * bb),
      partner,
      TAG.allgather,
    );
  }
}

/**
 * Bruck: blocks kept in an order rotated by the rank; in step k send the
 * first min(2^k, n − 2^k) blocks to r − 2^k and receive as many from r + 2^k;
 * a final local rotation puts them in rank order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(comm.size);
 *   await comm.allgather(new Int32Array([comm.rank * comm.rank]), out, { algorithm: "bruck" });
 *   return [...out];
 * });
 * assert.deepEqual(job.results[0], [0, 1, 4, 9, 16]);
 * ```
 */
export async function allgatherBruck(env: CollEnv, out: Region, bb: number): Promise<void> {
  const { rank: r, size: n } = env;
  if (n === 1) return;
  const tmp = env.scratch(n * bb);
  env.copy(tmp.sub(0, bb), out.sub(r * bb, bb));
  for (let pof = 1; pof < n; pof *= 2) {
    const cnt = Math.min(pof, n - pof);
    await sendrecv(
      env,
      tmp.sub(0, cnt * bb),
      (r - pof + n) % n,
      tmp.sub(pof * bb, cnt * bb),
      (r + pof) % n,
      TAG.allgather,
    );
  }
  for (let i = 1; i < n; i++) env.copy(out.sub(((r + i) % n) * bb, bb), tmp.sub(i * bb, bb));
}

/**
 * Ring: in step s send block r − s to the right neighbour and receive block
 * r − s − 1 from the left one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(comm.size);
 *   await comm.allgather(new Int32Array([comm.rank * comm.rank]), out, { algorithm: "ring" });
 *   return [...out];
 * });
 * assert.deepEqual(job.results[0], [0, 1, 4]);
 * ```
 */
export async function allgatherRing(env: CollEnv, out: Region, bb: number): Promise<void> {
  const { rank: r, size: n } = env;
  const right = (r + 1) % n, left = (r - 1 + n) % n;
  for (let s = 0; s < n - 1; s++) {
    const o = (r - s + n) % n, i = (r - s - 1 + n) % n;
    await sendrecv(env, out.sub(o * bb, bb), right, out.sub(i * bb, bb), left, TAG.allgather);
  }
}
