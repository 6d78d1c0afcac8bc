/**
 * MPI_Reduce and MPI_Allreduce (MPICH's algorithms). Binomial reduce (rooted
 * at rank 0, then sent to the root) and recursive-doubling allreduce
 * combine in rank order and serve non-commutative operations too, as in
 * MPICH; the others need a commutative one:
 *
 * - reduce: binomial tree for short messages; Rabenseifner's
 *   reduce-scatter (recursive halving) + gather to the root for long ones.
 * - allreduce: recursive doubling for short messages; Rabenseifner
 *   (recursive-halving reduce-scatter + recursive-doubling allgather) for
 *   long ones; ring (reduce-scatter around a ring + ring allgather) for very
 *   long ones.
 *
 * With n not a power of two, the first 2·(n − p) ranks pair up before the
 * power-of-two part (even ranks hand their data to the odd neighbour) and
 * get the result back after it (p = largest power of two ≤ n).
 *
 * @module
 */
import type { Region } from "../buffer.ts";
import type { Datatype } from "../datatype.ts";
import type { ReductionOp } from "../ops.ts";
import { type CollEnv, pof2, recv, send, sendrecv, TAG } from "./env.ts";

/**
 * A reduction's data: element count, element size, type and op.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Red } from "./reduce.ts";
 * const red: Red = { count: 4, es: 8, dt: "float64", op: "SUM" };
 * assert.equal(red.count * red.es, 32);
 * ```
 */
export interface Red {
  /** Elements. */
  count: number;
  /** Bytes per element. */
  es: number;
  /** Element type. */
  dt: Datatype;
  /** The operation. */
  op: ReductionOp;
}

/**
 * Binomial-tree reduce of `acc` (this rank's contribution, overwritten) to
 * `root`; at the root `acc` ends holding the result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const out = new Float64Array(8);
 *   await comm.reduce(new Float64Array(8).fill(comm.rank), comm.rank === 1 ? out : null, "SUM", 1, { algorithm: "binomial" });
 *   return out[7];
 * });
 * assert.equal(job.results[1], 0 + 1 + 2 + 3 + 4);
 * ```
 */
export async function reduceBinomial(
  env: CollEnv,
  acc: Region,
  root: number,
  red: Red,
): Promise<void> {
  const { rank: r, size: n } = env;
  const rel = (r - root + n) % n;
  const tmp = env.scratch(acc.bytes);
  for (let mask = 1; mask < n; mask <<= 1) {
    if ((rel & mask) === 0) {
      const srcRel = rel | mask;
      if (srcRel < n) {
        await recv(env, tmp, (srcRel + root) % n, TAG.reduce);
        env.reduceLocal(red.op, red.dt, acc, tmp);
      }
    } else {
      await send(env, acc, ((rel & ~mask) + root) % n, TAG.reduce);
      return;
    }
  }
}

/** One step of the recursive halving: the block ranges kept and given away. */
interface HalvingStep {
  mask: number;
  keep: [number, number];
  give: [number, number];
}

/** Block layout: `pof2` blocks of ⌊count/p⌋ elements, the last taking the rest. */
function blocks(count: number, p: number): { disp: number[] } {
  const base = Math.floor(count / p);
  const disp = [];
  for (let i = 0; i <= p; i++) disp.push(i === p ? count : i * base);
  return { disp };
}

/**
 * Real rank of a member of the power-of-two group (after {@link foldIn}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { realRank } from "./reduce.ts";
 * // 6 ranks: 2 beyond the power of two; members 0, 1 are ranks 1, 3, members 2, 3 ranks 4, 5.
 * assert.deepEqual([0, 1, 2, 3].map((i) => realRank(i, 2)), [1, 3, 4, 5]);
 * ```
 */
export function realRank(newrank: number, rem: number): number {
  return newrank < rem ? newrank * 2 + 1 : newrank + rem;
}

/**
 * Fold the ranks beyond the power of two into their partners (the first
 * 2·rem ranks pair up, even into odd). Returns this rank's index in the
 * power-of-two group, or −1 if it handed its data off.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * // The fold is the first step of every allreduce on a non-power-of-two communicator.
 * const job = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
 *   const v = new Int32Array([comm.rank + 1]);
 *   await comm.allreduce(new Int32Array([comm.rank + 1]), v, "SUM", { algorithm: "recursive_doubling" });
 *   return v[0];
 * });
 * assert.deepEqual(job.results, [6, 6, 6]);
 * ```
 */
export async function foldIn(
  env: CollEnv,
  acc: Region,
  tmp: Region,
  red: Red,
  tag: number,
): Promise<number> {
  const { rank: r, size: n } = env;
  const p = pof2(n), rem = n - p;
  if (r < 2 * rem) {
    if (r % 2 === 0) {
      await send(env, acc, r + 1, tag);
      return -1;
    }
    await recv(env, tmp, r - 1, tag);
    // The even neighbour's data comes first in rank order.
    env.reduceLocal(red.op, red.dt, acc, tmp, true);
    return r >> 1;
  }
  return r - rem;
}

/** Recursive-halving reduce-scatter over the group; returns the steps taken. */
async function halve(
  env: CollEnv,
  acc: Region,
  tmp: Region,
  newrank: number,
  red: Red,
  tag: number,
): Promise<HalvingStep[]> {
  const p = pof2(env.size), rem = env.size - p;
  const { disp } = blocks(red.count, p);
  const es = red.es;
  const steps: HalvingStep[] = [];
  let sendIdx = 0, recvIdx = 0, lastIdx = p;
  for (let mask = 1; mask < p; mask <<= 1) {
    const newdst = newrank ^ mask;
    const dst = realRank(newdst, rem);
    let sLo: number, sHi: number, rLo: number, rHi: number;
    if (newrank < newdst) {
      sendIdx = recvIdx + p / (mask * 2);
      [sLo, sHi, rLo, rHi] = [sendIdx, lastIdx, recvIdx, sendIdx];
    } else {
      recvIdx = sendIdx + p / (mask * 2);
      [sLo, sHi, rLo, rHi] = [sendIdx, recvIdx, recvIdx, lastIdx];
    }
    const out = acc.sub(disp[sLo] * es, (disp[sHi] - disp[sLo]) * es);
    const into = tmp.sub(disp[rLo] * es, (disp[rHi] - disp[rLo]) * es);
    await sendrecv(env, out, dst, into, dst, tag);
    env.reduceLocal(red.op, red.dt, acc.sub(disp[rLo] * es, into.bytes), into);
    steps.push({ mask, keep: [disp[rLo], disp[rHi]], give: [disp[sLo], disp[sHi]] });
    sendIdx = recvIdx;
    if (mask * 2 < p) lastIdx = recvIdx + p / (mask * 2);
  }
  return steps;
}

/**
 * Rabenseifner's reduce: recursive-halving reduce-scatter, then the pieces
 * gathered to the root by reversing the halving. `acc` holds this rank's
 * contribution (overwritten); `out` (root only) receives the result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const out = new Float64Array(8);
 *   await comm.reduce(new Float64Array(8).fill(comm.rank), comm.rank === 1 ? out : null, "SUM", 1, { algorithm: "rabenseifner" });
 *   return out[7];
 * });
 * assert.equal(job.results[1], 0 + 1 + 2 + 3 + 4);
 * ```
 */
export async function reduceRabenseifner(
  env: CollEnv,
  acc: Region,
  out: Region | undefined,
  root: number,
  red: Red,
): Promise<void> {
  const { rank: r, size: n } = env;
  const p = pof2(n), rem = n - p;
  const tmp = env.scratch(acc.bytes);
  const newrank = await foldIn(env, acc, tmp, red, TAG.reduce);
  // The group member that collects: the root, or (root handed off) its odd partner.
  const newroot = root < 2 * rem ? root >> 1 : root - rem;
  const collector = realRank(newroot, rem);
  if (newrank >= 0) {
    const steps = await halve(env, acc, tmp, newrank, red, TAG.reduce);
    let alive = true;
    for (const s of steps.reverse()) {
      const partner = realRank(newrank ^ s.mask, rem);
      if ((newrank & s.mask) === (newroot & s.mask)) {
        await recv(
          env,
          acc.sub(s.give[0] * red.es, (s.give[1] - s.give[0]) * red.es),
          partner,
          TAG.reduce,
        );
      } else {
        await send(
          env,
          acc.sub(s.keep[0] * red.es, (s.keep[1] - s.keep[0]) * red.es),
          partner,
          TAG.reduce,
        );
        alive = false;
        break;
      }
    }
    if (alive && r === collector) {
      if (collector === root) env.copy(out!, acc);
      else await send(env, acc, root, TAG.reduce);
    }
  }
  if (r === root && collector !== root) await recv(env, out!, collector, TAG.reduce);
}

/**
 * Recursive-doubling allreduce; `acc` holds the contribution and ends with the result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 6, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(12);
 *   await comm.allreduce(new Int32Array(12).fill(comm.rank + 1), out, "SUM", { algorithm: "recursive_doubling" });
 *   return out.every((x) => x === 21);
 * });
 * assert.ok(job.results.every(Boolean));
 * ```
 */
export async function allreduceRecursiveDoubling(
  env: CollEnv,
  acc: Region,
  red: Red,
): Promise<void> {
  const { rank: r, size: n } = env;
  const p = pof2(n), rem = n - p;
  const tmp = env.scratch(acc.bytes);
  const newrank = await foldIn(env, acc, tmp, red, TAG.allreduce);
  if (newrank >= 0) {
    for (let mask = 1; mask < p; mask <<= 1) {
      const dst = realRank(newrank ^ mask, rem);
      await sendrecv(env, acc, dst, tmp, dst, TAG.allreduce);
      // Partners hold contiguous rank ranges: the lower one's data goes first.
      env.reduceLocal(red.op, red.dt, acc, tmp, dst < r);
    }
  }
  await foldOut(env, acc, rem, r);
}

/** Give the result back to the ranks folded in. */
async function foldOut(env: CollEnv, acc: Region, rem: number, r: number): Promise<void> {
  if (r < 2 * rem) {
    if (r % 2 === 1) await send(env, acc, r - 1, TAG.allreduce);
    else await recv(env, acc, r + 1, TAG.allreduce);
  }
}

/**
 * Rabenseifner's allreduce: recursive-halving reduce-scatter, then
 * recursive-doubling allgather of the pieces.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 6, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(12);
 *   await comm.allreduce(new Int32Array(12).fill(comm.rank + 1), out, "SUM", { algorithm: "rabenseifner" });
 *   return out.every((x) => x === 21);
 * });
 * assert.ok(job.results.every(Boolean));
 * ```
 */
export async function allreduceRabenseifner(env: CollEnv, acc: Region, red: Red): Promise<void> {
  const { rank: r, size: n } = env;
  const p = pof2(n), rem = n - p;
  const tmp = env.scratch(acc.bytes);
  const newrank = await foldIn(env, acc, tmp, red, TAG.allreduce);
  if (newrank >= 0) {
    const steps = await halve(env, acc, tmp, newrank, red, TAG.allreduce);
    for (const s of steps.reverse()) {
      const partner = realRank(newrank ^ s.mask, rem);
      await sendrecv(
        env,
        acc.sub(s.keep[0] * red.es, (s.keep[1] - s.keep[0]) * red.es),
        partner,
        acc.sub(s.give[0] * red.es, (s.give[1] - s.give[0]) * red.es),
        partner,
        TAG.allreduce,
      );
    }
  }
  await foldOut(env, acc, rem, r);
}

/**
 * Ring allreduce: n − 1 reduce-scatter steps around the ring, then n − 1
 * allgather steps; every rank sends 2(n−1)/n of the data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 6, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(12);
 *   await comm.allreduce(new Int32Array(12).fill(comm.rank + 1), out, "SUM", { algorithm: "ring" });
 *   return out.every((x) => x === 21);
 * });
 * assert.ok(job.results.every(Boolean));
 * ```
 */
export async function allreduceRing(env: CollEnv, acc: Region, red: Red): Promise<void> {
  const { rank: r, size: n } = env;
  if (n === 1) return;
  const base = Math.floor(red.count / n), extra = red.count % n;
  const cnt = (i: number) => base + (i < extra ? 1 : 0);
  const disp = (i: number) => i * base + Math.min(i, extra);
  const chunk = (i: number) => acc.sub(disp(i) * red.es, cnt(i) * red.es);
  const tmp = env.scratch((base + 1) * red.es);
  const right = (r + 1) % n, left = (r - 1 + n) % n;
  for (let s = 0; s < n - 1; s++) {
    const out = (r - s + n) % n, inc = (r - s - 1 + n) % n;
    const into = tmp.sub(0, cnt(inc) * red.es);
    await sendrecv(env, chunk(out), right, into, left, TAG.allreduce);
    env.reduceLocal(red.op, red.dt, chunk(inc), into);
  }
  for (let s = 0; s < n - 1; s++) {
    const out = (r + 1 - s + n) % n, inc = (r - s + n) % n;
    await sendrecv(env, chunk(out), right, chunk(inc), left, TAG.allreduce);
  }
}
