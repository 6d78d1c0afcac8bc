/**
 * MPI_Alltoall, MPI_Alltoallv and MPI_Alltoallw (MPICH's algorithms): Bruck's algorithm
 * for short blocks (⌈log2 n⌉ steps, each moving about half the blocks), all
 * sends and receives posted at once ("scattered") for medium blocks, and
 * pairwise exchange for long ones (n − 1 steps; partner r XOR i when n is a
 * power of two, else r + i / r − i).
 *
 * @module
 */
import type { Region } from "../buffer.ts";
import { type Datatype, typeSize } from "../datatype.ts";
import { type CollEnv, sendrecv, TAG } from "./env.ts";

/**
 * Bruck's alltoall: rotate, exchange by bit, rotate back.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(5);
 *   await comm.alltoall(Int32Array.from({ length: 5 }, (_, j) => comm.rank * 10 + j), out, { algorithm: "bruck" });
 *   return [...out];
 * });
 * assert.deepEqual(job.results[3], [3, 13, 23, 33, 43]);
 * ```
 */
export async function alltoallBruck(
  env: CollEnv,
  src: Region,
  out: Region,
  bb: number,
): Promise<void> {
  const { rank: r, size: n } = env;
  const tmp = env.scratch(n * bb);
  for (let i = 0; i < n; i++) env.copy(tmp.sub(i * bb, bb), src.sub(((r + i) % n) * bb, bb));
  const packed = env.scratch(Math.ceil(n / 2) * bb);
  const incoming = env.scratch(Math.ceil(n / 2) * bb);
  for (let pof = 1; pof < n; pof *= 2) {
    const idx = [];
    for (let i = 0; i < n; i++) if (i & pof) idx.push(i);
    idx.forEach((b, k) => env.copy(packed.sub(k * bb, bb), tmp.sub(b * bb, bb)));
    const len = idx.length * bb;
    await sendrecv(
      env,
      packed.sub(0, len),
      (r + pof) % n,
      incoming.sub(0, len),
      (r - pof + n) % n,
      TAG.alltoall,
    );
    idx.forEach((b, k) => env.copy(tmp.sub(b * bb, bb), incoming.sub(k * bb, bb)));
  }
  for (let j = 0; j < n; j++) env.copy(out.sub(j * bb, bb), tmp.sub(((r - j + n) % n) * bb, bb));
}

/**
 * Per-peer byte ranges of a vector collective (alltoall(v), gatherv,
 * scatterv, allgatherv): block i starts at `off(i)` and is `len(i)` bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Blocks } from "./alltoall.ts";
 * const b: Blocks = { off: (i) => 8 * i, len: () => 8 };
 * assert.equal(b.off(2), 16);
 * ```
 */
export interface Blocks {
  /** Byte offset of block i. */
  off(i: number): number;
  /** Bytes of block i. */
  len(i: number): number;
}

/**
 * Scattered: post every receive and send at once (ordered by distance from
 * this rank so that not everyone hits rank 0 first), then wait for all.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(5);
 *   await comm.alltoall(Int32Array.from({ length: 5 }, (_, j) => comm.rank * 10 + j), out, { algorithm: "scattered" });
 *   return [...out];
 * });
 * assert.deepEqual(job.results[3], [3, 13, 23, 33, 43]);
 * ```
 */
export async function alltoallScattered(
  env: CollEnv,
  src: Region,
  s: Blocks,
  out: Region,
  d: Blocks,
  tag: number = TAG.alltoall,
): Promise<void> {
  const { rank: r, size: n } = env;
  const reqs = [];
  for (let i = 1; i < n; i++) {
    const from = (r - i + n) % n;
    reqs.push(await env.irecv(out.sub(d.off(from), d.len(from)), from, tag));
  }
  for (let i = 1; i < n; i++) {
    const to = (r + i) % n;
    reqs.push(await env.isend(src.sub(s.off(to), s.len(to)), to, tag));
  }
  selfCopy(env, src, s, out, d);
  await env.waitall(reqs);
}

/**
 * Pairwise exchange: n − 1 steps, one partner each.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "../launch.ts";
 * const job = await mpiexec({ np: 5, mode: "native" }, async (comm) => {
 *   const out = new Int32Array(5);
 *   await comm.alltoall(Int32Array.from({ length: 5 }, (_, j) => comm.rank * 10 + j), out, { algorithm: "pairwise" });
 *   return [...out];
 * });
 * assert.deepEqual(job.results[3], [3, 13, 23, 33, 43]);
 * ```
 */
export async function alltoallPairwise(
  env: CollEnv,
  src: Region,
  s: Blocks,
  out: Region,
  d: Blocks,
  tag: number = TAG.alltoall,
): Promise<void> {
  const { rank: r, size: n } = env;
  selfCopy(env, src, s, out, d);
  const pow2 = (n & (n - 1)) === 0;
  for (let i = 1; i < n; i++) {
    const to = pow2 ? r ^ i : (r + i) % n;
    const from = pow2 ? r ^ i : (r - i + n) % n;
    await sendrecv(
      env,
      src.sub(s.off(to), s.len(to)),
      to,
      out.sub(d.off(from), d.len(from)),
      from,
      tag,
    );
  }
}

function selfCopy(env: CollEnv, src: Region, s: Blocks, out: Region, d: Blocks): void {
  const r = env.rank;
  const n = Math.min(s.len(r), d.len(r));
  if (n > 0) env.copy(out.sub(d.off(r), n), src.sub(s.off(r), n));
}

/**
 * Equal blocks of `bb` bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { equalBlocks } from "./alltoall.ts";
 * const b = equalBlocks(16);
 * assert.deepEqual([b.off(3), b.len(3)], [48, 16]);
 * ```
 */
export function equalBlocks(bb: number): Blocks {
  return { off: (i) => i * bb, len: () => bb };
}

/**
 * Blocks given by element counts and displacements (MPI_Alltoallv).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vBlocks } from "./alltoall.ts";
 * const b = vBlocks([1, 2], [0, 4], 8);
 * assert.deepEqual([b.off(1), b.len(1)], [32, 16]);
 * ```
 */
export function vBlocks(counts: readonly number[], displs: readonly number[], es: number): Blocks {
  return { off: (i) => displs[i] * es, len: (i) => counts[i] * es };
}

/**
 * Blocks given by element counts, a datatype each and displacements in
 * bytes (MPI_Alltoallw, MPI-4.0 §6.8); an empty block's type is not looked
 * at.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wBlocks } from "./alltoall.ts";
 * const b = wBlocks([2, 3], [1, 9], ["float64", "int16"]);
 * assert.deepEqual([b.off(0), b.len(0), b.off(1), b.len(1)], [1, 16, 9, 6]);
 * ```
 */
export function wBlocks(
  counts: readonly number[],
  displs: readonly number[],
  types: readonly Datatype[],
): Blocks {
  return {
    off: (i) => displs[i],
    len: (i) => counts[i] === 0 ? 0 : counts[i] * typeSize(types[i]),
  };
}
