/**
 * MPI_Gather and MPI_Scatter: binomial trees (MPICH's algorithm: each
 * subtree's blocks travel together, in rank order relative to the root) and
 * the linear algorithm (the root talks to every rank).
 *
 * @module
 */
import type { Region } from "../buffer.ts";
import { type CollEnv, recv, send, TAG } from "./env.ts";

/**
 * Binomial gather of `mine` (block bytes each) into `out` at the root
 * (block i from rank i). `mine` may be `out`'s own block at the root
 * (MPI_IN_PLACE).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(5);
 *   await comm.gather(new Int32Array([comm.rank * 10]), comm.rank === 2 ? out : null, 2, { algorithm: "binomial" });
 *   return [...out];
 * });
 * assert.deepEqual(job.results[2], [0, 10, 20, 30, 40]);
 * ```
 */
export async function gatherBinomial(
  env: CollEnv,
  mine: Region,
  out: Region | undefined,
  root: number,
): Promise<void> {
  const { rank: r, size: n } = env;
  const bb = mine.bytes;
  const rel = (r - root + n) % n;
  const span = subtree(rel, n);
  // Relative order: at root 0 the result buffer itself, else a scratch buffer.
  const tmp = rel === 0 && root === 0 ? out! : env.scratch(span * bb);
  if (!(rel === 0 && root === 0 && sameRegion(mine, out!.sub(0, bb)))) {
    env.copy(tmp.sub(0, bb), mine);
  }
  let held = 1;
  for (let mask = 1; mask < n; mask <<= 1) {
    if ((rel & mask) === 0) {
      const srcRel = rel | mask;
      if (srcRel < n) {
        const cnt = Math.min(mask, n - srcRel);
        await recv(env, tmp.sub(mask * bb, cnt * bb), (srcRel + root) % n, TAG.gather);
        held = mask + cnt;
      }
    } else {
      await send(env, tmp.sub(0, held * bb), ((rel & ~mask) + root) % n, TAG.gather);
      return;
    }
  }
  if (rel === 0 && root !== 0) {
    // Rotate from relative to absolute order.
    for (let k = 0; k < n; k++) {
      const at = (k + root) % n;
      if (at === root && sameRegion(mine, out!.sub(root * bb, bb))) continue;
      env.copy(out!.sub(at * bb, bb), tmp.sub(k * bb, bb));
    }
  }
}

/** Ranks in the binomial subtree of relative rank `rel` (itself included): rel .. rel + span − 1. */
function subtree(rel: number, n: number): number {
  let span = 1;
  while (span < n && (rel & span) === 0) span <<= 1;
  return Math.min(span, n - rel);
}

/**
 * Linear gather: every rank sends its block to the root.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(5);
 *   await comm.gather(new Int32Array([comm.rank * 10]), comm.rank === 2 ? out : null, 2, { algorithm: "linear" });
 *   return [...out];
 * });
 * assert.deepEqual(job.results[2], [0, 10, 20, 30, 40]);
 * ```
 */
export async function gatherLinear(
  env: CollEnv,
  mine: Region,
  out: Region | undefined,
  root: number,
): Promise<void> {
  const { rank: r, size: n } = env;
  const bb = mine.bytes;
  if (r !== root) return await send(env, mine, root, TAG.gather);
  const reqs = [];
  for (let i = 0; i < n; i++) {
    if (i !== root) reqs.push(await env.irecv(out!.sub(i * bb, bb), i, TAG.gather));
  }
  if (!sameRegion(mine, out!.sub(root * bb, bb))) env.copy(out!.sub(root * bb, bb), mine);
  await env.waitall(reqs);
}

/**
 * Binomial scatter of `src` (root: n blocks) into `mine` (one block).
 * `mine` may be `src`'s own block at the root (MPI_IN_PLACE).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const mine = new Int32Array(1);
 *   await comm.scatter(comm.rank === 4 ? Int32Array.from([5, 6, 7, 8, 9]) : null, mine, 4, { algorithm: "binomial" });
 *   return mine[0];
 * });
 * assert.deepEqual(job.results, [5, 6, 7, 8, 9]);
 * ```
 */
export async function scatterBinomial(
  env: CollEnv,
  src: Region | undefined,
  mine: Region,
  root: number,
): Promise<void> {
  const { rank: r, size: n } = env;
  const bb = mine.bytes;
  const rel = (r - root + n) % n;
  const span = subtree(rel, n);
  let tmp: Region;
  if (rel === 0) {
    if (root === 0) tmp = src!;
    else {
      tmp = env.scratch(n * bb);
      for (let k = 0; k < n; k++) {
        env.copy(tmp.sub(k * bb, bb), src!.sub(((k + root) % n) * bb, bb));
      }
    }
  } else tmp = span === 1 ? mine : env.scratch(span * bb);
  let held = rel === 0 ? n : 0;
  let mask = 1;
  while (mask < n) {
    if (rel & mask) {
      held = Math.min(mask, n - rel);
      await recv(env, tmp.sub(0, held * bb), ((rel & ~mask) + root) % n, TAG.scatter);
      break;
    }
    mask <<= 1;
  }
  mask >>= 1;
  while (mask > 0) {
    if (rel + mask < n) {
      const cnt = held - mask;
      await send(env, tmp.sub(mask * bb, cnt * bb), (rel + mask + root) % n, TAG.scatter);
      held -= cnt;
    }
    mask >>= 1;
  }
  if (tmp !== mine && !sameRegion(mine, tmp.sub(0, bb))) env.copy(mine, tmp.sub(0, bb));
}

/**
 * Linear scatter: the root sends each rank its block.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const mine = new Int32Array(1);
 *   await comm.scatter(comm.rank === 4 ? Int32Array.from([5, 6, 7, 8, 9]) : null, mine, 4, { algorithm: "linear" });
 *   return mine[0];
 * });
 * assert.deepEqual(job.results, [5, 6, 7, 8, 9]);
 * ```
 */
export async function scatterLinear(
  env: CollEnv,
  src: Region | undefined,
  mine: Region,
  root: number,
): Promise<void> {
  const { rank: r, size: n } = env;
  const bb = mine.bytes;
  if (r !== root) {
    await recv(env, mine, root, TAG.scatter);
    return;
  }
  const reqs = [];
  for (let i = 0; i < n; i++) {
    if (i !== root) reqs.push(await env.isend(src!.sub(i * bb, bb), i, TAG.scatter));
  }
  if (!sameRegion(mine, src!.sub(root * bb, bb))) env.copy(mine, src!.sub(root * bb, bb));
  await env.waitall(reqs);
}

/**
 * Whether two regions are the same bytes (MPI_IN_PLACE detection).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsRegion } from "../buffer.ts";
 * import { sameRegion } from "./gather.ts";
 * const r = new JsRegion(new Uint8Array(8));
 * assert.equal(sameRegion(r.sub(0, 4), r.sub(0, 4)), true);
 * assert.equal(sameRegion(r.sub(0, 4), r.sub(4, 4)), false);
 * ```
 */
export function sameRegion(a: Region, b: Region): boolean {
  if (a.bytes !== b.bytes) return false;
  if (a.kind === "dom" && b.kind === "dom") return a.addr === b.addr;
  if (a.kind === "js" && b.kind === "js") {
    return a.u8.buffer === b.u8.buffer && a.u8.byteOffset === b.u8.byteOffset;
  }
  return false;
}
