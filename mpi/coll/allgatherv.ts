/**
 * MPI_Allgatherv (MPICH's algorithms, chosen as MPIR_Allgatherv_intra_auto
 * does): recursive doubling (power-of-two n) and Bruck's algorithm, both in
 * a contiguous scratch buffer (the displacements may scatter the blocks in
 * the receive buffer) copied out at the end, and the ring, which works in
 * the receive buffer itself and moves blocks in pieces of at most
 * max(smallest block, MPIR_CVAR_ALLGATHERV_PIPELINE_MSG_SIZE) bytes so that
 * unequal blocks still pipeline around the ring. Block i of the result comes
 * from rank i; every algorithm starts with this rank's block already in
 * place in `out`.
 *
 * @module
 */
import type { Region } from "../buffer.ts";
import type { Blocks } from "./alltoall.ts";
import { type CollEnv, exchange, sendrecv, TAG } from "./env.ts";
import { SWITCH_POINTS } from "./tuning.ts";

/** Bytes of blocks `from`, `from + 1`, … (`count` of them, wrapping around n). */
function span(b: Blocks, n: number, from: number, count: number): number {
  let s = 0;
  for (let i = 0; i < count; i++) s += b.len((from + i) % n);
  return s;
}

/**
 * Recursive doubling: in step k exchange the blocks of the 2^k ranks whose
 * data this rank holds with rank r XOR 2^k (n must be a power of two).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 4, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(10).fill(-1);
 *   const mine = new Int32Array(comm.rank + 1).fill(comm.rank);
 *   await comm.allgatherv(mine, out, [1, 2, 3, 4], [0, 1, 3, 6], { algorithm: "recursive_doubling" });
 *   return [...out];
 * });
 * assert.deepEqual(job.results[2], [0, 1, 1, 2, 2, 2, 3, 3, 3, 3]);
 * ```
 */
export async function allgathervRecursiveDoubling(
  env: CollEnv,
  out: Region,
  b: Blocks,
): Promise<void> {
  const { rank: r, size: n } = env;
  const pos = (i: number) => span(b, n, 0, i);
  const tmp = env.scratch(pos(n));
  env.copy(tmp.sub(pos(r), b.len(r)), out.sub(b.off(r), b.len(r)));
  for (let mask = 1; mask < n; mask <<= 1) {
    const partner = r ^ mask;
    const mine = r & ~(mask - 1), theirs = partner & ~(mask - 1);
    await sendrecv(
      env,
      tmp.sub(pos(mine), pos(mine + mask) - pos(mine)),
      partner,
      tmp.sub(pos(theirs), pos(theirs + mask) - pos(theirs)),
      partner,
      TAG.allgatherv,
    );
  }
  for (let i = 0; i < n; i++) {
    if (i !== r) env.copy(out.sub(b.off(i), b.len(i)), tmp.sub(pos(i), b.len(i)));
  }
}

/**
 * Bruck: blocks kept in an order rotated by the rank; while 2^k ≤ n/2 send
 * everything held to r − 2^k and receive as much from r + 2^k, then the
 * first n − 2^k blocks once more; a final copy puts them in rank order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(15).fill(-1);
 *   const mine = new Int32Array(comm.rank + 1).fill(comm.rank);
 *   await comm.allgatherv(mine, out, [1, 2, 3, 4, 5], [0, 1, 3, 6, 10], { algorithm: "bruck" });
 *   return [...out];
 * });
 * assert.deepEqual(job.results[3], [0, 1, 1, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4]);
 * ```
 */
export async function allgathervBruck(env: CollEnv, out: Region, b: Blocks): Promise<void> {
  const { rank: r, size: n } = env;
  const tmp = env.scratch(span(b, n, 0, n));
  env.copy(tmp.sub(0, b.len(r)), out.sub(b.off(r), b.len(r)));
  let held = b.len(r), pof = 1;
  const step = async (blocks: number) => {
    const give = span(b, n, r, blocks), take = span(b, n, (r + pof) % n, blocks);
    await sendrecv(
      env,
      tmp.sub(0, give),
      (r - pof + n) % n,
      tmp.sub(held, take),
      (r + pof) % n,
      TAG.allgatherv,
    );
    held += take;
  };
  for (; pof <= n / 2; pof *= 2) await step(pof);
  if (n - pof > 0) await step(n - pof);
  let at = 0;
  for (let k = 0; k < n; k++) {
    const i = (r + k) % n;
    if (k > 0) env.copy(out.sub(b.off(i), b.len(i)), tmp.sub(at, b.len(i)));
    at += b.len(i);
  }
}

/**
 * Ring: send block r − s to the right neighbour and receive block r − s − 1
 * from the left one, in pieces of at most max(smallest block,
 * `pipelineBytes`) bytes (whole elements of `es` bytes); a rank with nothing
 * to send (or receive) in a step only receives (sends).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(4).fill(-1);
 *   const mine = new Int32Array(comm.rank === 1 ? 0 : 2).fill(comm.rank);
 *   await comm.allgatherv(mine, out, [2, 0, 2], [2, 4, 0], { algorithm: "ring" });
 *   return [...out];
 * });
 * assert.deepEqual(job.results[1], [2, 2, 0, 0]);
 * ```
 */
export async function allgathervRing(
  env: CollEnv,
  out: Region,
  b: Blocks,
  es: number,
  pipelineBytes: number = SWITCH_POINTS.allgathervPipelineMsgSize,
): Promise<void> {
  const { rank: r, size: n } = env;
  const right = (r + 1) % n, left = (r - 1 + n) % n;
  const total = span(b, n, 0, n);
  let toRecv = total - b.len(r), toSend = total - b.len(right);
  let smallest = Infinity;
  for (let i = 0; i < n; i++) smallest = Math.min(smallest, b.len(i));
  // MPICH: a piece is the smallest block, raised to the pipeline size, of whole elements.
  const piece = Math.max(
    es,
    smallest < pipelineBytes ? Math.floor(pipelineBytes / es) * es : smallest,
  );
  let sIdx = r, rIdx = left, sOff = 0, rOff = 0;
  while (toSend > 0 || toRecv > 0) {
    const sNow = toSend > 0 ? Math.min(piece, b.len(sIdx) - sOff) : 0;
    const rNow = toRecv > 0 ? Math.min(piece, b.len(rIdx) - rOff) : 0;
    const sBuf = out.sub(b.off(sIdx) + sOff, sNow), rBuf = out.sub(b.off(rIdx) + rOff, rNow);
    await exchange(env, sBuf, right, rBuf, left, TAG.allgatherv);
    toSend -= sNow;
    toRecv -= rNow;
    sOff += sNow;
    rOff += rNow;
    if (sOff === b.len(sIdx)) [sOff, sIdx] = [0, (sIdx - 1 + n) % n];
    if (rOff === b.len(rIdx)) [rOff, rIdx] = [0, (rIdx - 1 + n) % n];
  }
}
