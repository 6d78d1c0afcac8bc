/**
 * MPI_Reduce_scatter and MPI_Reduce_scatter_block (MPICH's algorithms for
 * commutative operations, MPIR_Reduce_scatter_intra_recursive_halving and
 * _pairwise): the input is n blocks in rank order (block i, `counts[i]`
 * elements, is reduced over all ranks and lands at rank i).
 *
 * - recursive halving: ranks beyond the largest power of two p fold into a
 *   partner first; then log2 p steps, each exchanging half of the blocks
 *   still held with the rank at distance p/2, p/4, …, and reducing the
 *   half kept; the folded ranks get their block from the partner at the end.
 * - pairwise: n − 1 steps; in step i send block r + i to rank r + i and
 *   reduce block r received from r − i (long messages: no rank sends more
 *   than its input once, no scratch beyond one block).
 *
 * @module
 */
import type { Region } from "../buffer.ts";
import { type CollEnv, pof2, recv, send, sendrecv, TAG } from "./env.ts";
import { foldIn, realRank, type Red } from "./reduce.ts";

/** Element offsets of the blocks in rank order; entry n is the total. */
function offsets(counts: readonly number[]): number[] {
  const d = [0];
  for (const c of counts) d.push(d[d.length - 1] + c);
  return d;
}

/** Send and/or receive, skipping empty sides as MPICH does (both ends agree on the sizes). */
async function exchange(
  env: CollEnv,
  out: Region,
  dest: number,
  into: Region,
  src: number,
  tag: number,
): Promise<void> {
  if (out.bytes > 0 && into.bytes > 0) await sendrecv(env, out, dest, into, src, tag);
  else if (out.bytes > 0) await send(env, out, dest, tag);
  else if (into.bytes > 0) await recv(env, into, src, tag);
}

/**
 * Recursive halving. `src` is this rank's whole input (Σ counts elements),
 * `out` receives its block (`counts[rank]` elements).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(2);
 *   // Rank r's input: 1, 2, 3, 4, 5 times (r + 1); block sizes 1, 2, 2.
 *   const src = Int32Array.from([1, 2, 3, 4, 5], (x) => x * (comm.rank + 1));
 *   await comm.reduceScatter(src, out, [1, 2, 2], "SUM", { algorithm: "recursive_halving" });
 *   return [...out];
 * });
 * assert.deepEqual(job.results, [[6, 0], [12, 18], [24, 30]]);
 * ```
 */
export async function reduceScatterRecursiveHalving(
  env: CollEnv,
  src: Region,
  out: Region,
  counts: readonly number[],
  red: Red,
): Promise<void> {
  const { rank: r, size: n } = env;
  const es = red.es, tag = TAG.reduceScatter;
  const disp = offsets(counts);
  const acc = env.scratch(disp[n] * es), tmp = env.scratch(disp[n] * es);
  env.copy(acc, src);
  const p = pof2(n), rem = n - p;
  const newrank = await foldIn(env, acc, tmp, red, tag);
  if (newrank >= 0) {
    // Group member i holds old blocks 2i and 2i + 1 (i < rem) or i + rem: adjacent, so
    // its block starts where the first of them does.
    const at = (i: number) => (i === p ? disp[n] : disp[i < rem ? 2 * i : i + rem]);
    const part = (region: Region, lo: number, hi: number) =>
      region.sub(at(lo) * es, (at(hi) - at(lo)) * es);
    let sendIdx = 0, recvIdx = 0, lastIdx = p;
    for (let mask = p >> 1; mask > 0; mask >>= 1) {
      const newdst = newrank ^ mask;
      let give: Region, into: Region;
      if (newrank < newdst) {
        sendIdx = recvIdx + mask;
        [give, into] = [part(acc, sendIdx, lastIdx), part(tmp, recvIdx, sendIdx)];
      } else {
        recvIdx = sendIdx + mask;
        [give, into] = [part(acc, sendIdx, recvIdx), part(tmp, recvIdx, lastIdx)];
      }
      const dst = realRank(newdst, rem);
      await exchange(env, give, dst, into, dst, tag);
      if (into.bytes > 0) {
        env.reduceLocal(red.op, red.dt, acc.sub(at(recvIdx) * es, into.bytes), into);
      }
      sendIdx = recvIdx;
      lastIdx = recvIdx + mask;
    }
  }
  const block = (i: number) => acc.sub(disp[i] * es, counts[i] * es);
  if (r < 2 * rem) {
    if (r % 2 === 1 && counts[r - 1] > 0) await send(env, block(r - 1), r - 1, tag);
    else if (r % 2 === 0 && counts[r] > 0) await recv(env, out, r + 1, tag);
  }
  if (newrank >= 0) env.copy(out, block(r));
}

/**
 * Pairwise exchange. `src` is this rank's whole input, `out` receives its
 * block.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(2);
 *   const src = Int32Array.from([1, 2, 3, 4, 5, 6], (x) => x * (comm.rank + 1));
 *   await comm.reduceScatterBlock(src, out, "SUM", { algorithm: "pairwise" });
 *   return [...out];
 * });
 * assert.deepEqual(job.results, [[6, 12], [18, 24], [30, 36]]);
 * ```
 */
export async function reduceScatterPairwise(
  env: CollEnv,
  src: Region,
  out: Region,
  counts: readonly number[],
  red: Red,
): Promise<void> {
  const { rank: r, size: n } = env;
  const es = red.es;
  const disp = offsets(counts);
  const block = (i: number) => src.sub(disp[i] * es, counts[i] * es);
  env.copy(out, block(r));
  const tmp = env.scratch(counts[r] * es);
  for (let i = 1; i < n; i++) {
    const from = (r - i + n) % n, to = (r + i) % n;
    await exchange(env, block(to), to, tmp, from, TAG.reduceScatter);
    if (tmp.bytes > 0) env.reduceLocal(red.op, red.dt, out, tmp);
  }
}
