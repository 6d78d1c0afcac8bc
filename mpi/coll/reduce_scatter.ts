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
import { type CollEnv, exchange, pof2, recv, send, sendrecv, TAG } from "./env.ts";
import { foldIn, realRank, type Red } from "./reduce.ts";

/** Element offsets of the blocks in rank order; entry n is the total. */
function offsets(counts: readonly number[]): number[] {
  const d = [0];
  for (const c of counts) d.push(d[d.length - 1] + c);
  return d;
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

/** `x` with its low `bits` bits reversed (MPICH's mirror permutation). */
function mirror(x: number, bits: number): number {
  let y = 0;
  for (let b = 0; b < bits; b++) if (x & (1 << b)) y |= 1 << (bits - 1 - b);
  return y;
}

/**
 * MPICH's reduce-scatter for a non-commutative operation on a power-of-two
 * communicator with equal blocks: the blocks are put in bit-reversed order,
 * then log2 n halving steps with rank r XOR 2^k (k = 0, 1, …) reduce
 * ever larger contiguous rank ranges, lower ranks' data on the left; the
 * block left over is this rank's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * import { opCreate } from "../ops.ts";
 * // Affine maps x ↦ m·x + c as (m, c) pairs, composed in rank order: associative, not commutative.
 * const compose = opCreate((a, b) => {
 *   const x = a as Int32Array, y = b as Int32Array;
 *   for (let i = 0; i + 1 < y.length; i += 2) [y[i], y[i + 1]] = [x[i] * y[i], y[i] * x[i + 1] + y[i + 1]];
 * }, false);
 * const job = await mpiexec({ np: 4, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(2);
 *   // Block i (one pair) from rank r: x ↦ 2x + r + i.
 *   const src = Int32Array.from({ length: 8 }, (_, k) => (k % 2 === 0 ? 2 : comm.rank + (k >> 1)));
 *   await comm.reduceScatterBlock(src, out, compose, { algorithm: "noncommutative" });
 *   return [...out];
 * });
 * // 2(2(2(2x + i) + 1 + i) + 2 + i) + 3 + i = 16x + 11 + 15i
 * assert.deepEqual(job.results, [[16, 11], [16, 26], [16, 41], [16, 56]]);
 * ```
 */
export async function reduceScatterNoncommutative(
  env: CollEnv,
  src: Region,
  out: Region,
  counts: readonly number[],
  red: Red,
): Promise<void> {
  const { rank: r, size: n } = env;
  const es = red.es, block = counts[0] * es, bits = Math.log2(n);
  const bufs = [env.scratch(n * block), env.scratch(n * block)];
  for (let i = 0; i < n; i++) {
    env.copy(bufs[0].sub(mirror(i, bits) * block, block), src.sub(i * block, block));
  }
  let inout = 0, sendOff = 0, recvOff = 0, size = n * block;
  for (let k = 0; k < bits; k++) {
    const outgoing = bufs[inout], incoming = bufs[1 - inout];
    const peer = r ^ (1 << k);
    size /= 2;
    // The higher rank keeps the upper half, the lower one the lower half.
    if (r > peer) recvOff += size;
    else sendOff += size;
    const into = incoming.sub(recvOff, size), mine = outgoing.sub(recvOff, size);
    await sendrecv(env, outgoing.sub(sendOff, size), peer, into, peer, TAG.reduceScatter);
    if (r > peer) env.reduceLocal(red.op, red.dt, mine, into, true);
    else {
      env.reduceLocal(red.op, red.dt, into, mine, true);
      inout = 1 - inout;
    }
    sendOff = recvOff;
  }
  env.copy(out, bufs[inout].sub(recvOff, block));
}

/**
 * MPICH's recursive-doubling reduce-scatter (any operation, any n, any
 * blocks): in step k exchange with rank r XOR 2^k everything but the
 * blocks of one's own 2^k-rank subtree, received data from the lower
 * subtree on the left; on a non-power-of-two communicator the ranks whose
 * partner does not exist get what their subtree received from a neighbour
 * that has it. The data outside a subtree's blocks is two ranges, sent as
 * one message (MPICH sends an indexed datatype).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * import { opCreate } from "../ops.ts";
 * // Affine maps x ↦ m·x + c as (m, c) pairs, composed in rank order.
 * const compose = opCreate((a, b) => {
 *   const x = a as Int32Array, y = b as Int32Array;
 *   for (let i = 0; i + 1 < y.length; i += 2) [y[i], y[i + 1]] = [x[i] * y[i], y[i] * x[i + 1] + y[i + 1]];
 * }, false);
 * const job = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(4);
 *   // Pair j from rank r: x ↦ 2x + r + j; rank 0 gets pair 0, rank 1 nothing, rank 2 pairs 1 and 2.
 *   const src = Int32Array.from({ length: 6 }, (_, k) => (k % 2 === 0 ? 2 : comm.rank + (k >> 1)));
 *   await comm.reduceScatter(src, out, [2, 0, 4], compose);
 *   return [...out];
 * });
 * // 2(2(2x + j) + 1 + j) + 2 + j = 8x + 4 + 7j
 * assert.deepEqual(job.results, [[8, 4, 0, 0], [0, 0, 0, 0], [8, 11, 8, 18]]);
 * ```
 */
export async function reduceScatterRecursiveDoubling(
  env: CollEnv,
  src: Region,
  out: Region,
  counts: readonly number[],
  red: Red,
): Promise<void> {
  const { rank: r, size: n } = env;
  const es = red.es, tag = TAG.reduceScatter;
  const disp = offsets(counts), total = disp[n];
  const results = env.scratch(total * es), packed = env.scratch(total * es);
  const incoming = env.scratch(total * es);
  env.copy(results, src);
  /** The element ranges outside the blocks of ranks root .. root + mask − 1. */
  const outside = (root: number, mask: number): [number, number][] => [
    [0, disp[Math.min(root, n)]],
    [disp[Math.min(root + mask, n)], total],
  ];
  const bytesOf = (parts: [number, number][]) => parts.reduce((s, [a, b]) => s + b - a, 0) * es;
  for (let mask = 1, i = 0; mask < n; mask <<= 1, i++) {
    const dst = r ^ mask;
    const dstRoot = (dst >> i) << i, myRoot = (r >> i) << i;
    const give = outside(myRoot, mask), take = outside(dstRoot, mask);
    const wire = incoming.sub(0, bytesOf(take));
    let received = false;
    if (dst < n) {
      let at = 0;
      for (const [a, b] of give) {
        env.copy(packed.sub(at, (b - a) * es), results.sub(a * es, (b - a) * es));
        at += (b - a) * es;
      }
      await exchange(env, packed.sub(0, at), dst, wire, dst, tag);
      received = true;
    }
    if (dstRoot + mask > n) {
      // Ranks of this subtree without a partner get what a neighbour received.
      const completed = n - myRoot - mask;
      let k = Math.log2(mask);
      for (let t = mask >> 1; t > 0; t >>= 1, k--) {
        const d = r ^ t, treeRoot = (r >> k) << k;
        if (d > r && r < treeRoot + completed && d >= treeRoot + completed) {
          if (wire.bytes > 0) await send(env, wire, d, tag);
        } else if (d < r && d < treeRoot + completed && r >= treeRoot + completed) {
          if (wire.bytes > 0) await recv(env, wire, d, tag);
          received = true;
        }
      }
    }
    if (received) {
      let at = 0;
      for (const [a, b] of take) {
        const len = (b - a) * es;
        if (len > 0) {
          env.reduceLocal(
            red.op,
            red.dt,
            results.sub(a * es, len),
            wire.sub(at, len),
            dstRoot < myRoot,
          );
        }
        at += len;
      }
    }
  }
  env.copy(out, results.sub(disp[r] * es, counts[r] * es));
}
