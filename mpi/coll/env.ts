/**
 * What a collective algorithm needs from its communicator: point-to-point
 * on the communicator's collective context (so it never matches user
 * messages), scratch memory in the rank's domain (registered once, reused:
 * zero-copy like user buffers), local reductions and copies charged in
 * virtual time. Algorithms are written once against this interface.
 *
 * @module
 */
import { JsRegion, type Region } from "../buffer.ts";
import type { Datatype } from "../datatype.ts";
import type { ReductionOp } from "../ops.ts";
import type { Request, Status } from "../request.ts";

/**
 * The environment of one collective call on one rank.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CollEnv } from "./env.ts";
 * // The neighbours of a ring algorithm.
 * const ring = (env: Pick<CollEnv, "rank" | "size">) => [(env.rank + 1) % env.size, (env.rank - 1 + env.size) % env.size];
 * assert.deepEqual(ring({ rank: 0, size: 4 }), [1, 3]);
 * ```
 */
export interface CollEnv {
  /** Rank in the communicator. */
  readonly rank: number;
  /** Size of the communicator. */
  readonly size: number;
  /** Start sending `region` to `dest` with `tag`. */
  isend(region: Region, dest: number, tag: number): Promise<Request>;
  /** Post a receive into `region` from `src` with `tag`. */
  irecv(region: Region, src: number, tag: number): Promise<Request>;
  /** Wait for all; returns their statuses (throws the first error). */
  waitall(reqs: readonly Request[]): Promise<Status[]>;
  /** A scratch region of `bytes` in domain memory, returned when the collective ends. */
  scratch(bytes: number): Region;
  /**
   * `inout = inout op input` elementwise, or `input op inout` when
   * `inputFirst` (input holds lower ranks' data: the order a
   * non-commutative operation needs); charged as computation.
   */
  reduceLocal(
    op: ReductionOp,
    datatype: Datatype,
    inout: Region,
    input: Region,
    inputFirst?: boolean,
  ): void;
  /** Copy `src` into `dst` (same length; charged at the memcpy rate). */
  copy(dst: Region, src: Region): void;
}

/**
 * Send and wait.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsRegion } from "../buffer.ts";
 * import { mpiexec } from "../launch.ts";
 * import { type CollEnv, recv, send } from "./env.ts";
 * // A collective environment over the public point-to-point calls of two ranks.
 * const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   const env: CollEnv = {
 *     rank: comm.rank,
 *     size: comm.size,
 *     isend: (r, d, t) => comm.isend((r as JsRegion).u8, d, t),
 *     irecv: (r, s, t) => comm.irecv((r as JsRegion).u8, s, t),
 *     waitall: (q) => comm.waitall(q),
 *     scratch: (n) => new JsRegion(new Uint8Array(n)),
 *     reduceLocal: () => {},
 *     copy: (d, s) => d.write(0, s.read(0, s.bytes)),
 *   };
 *   const peer = 1 - comm.rank;
 *   const mine = new JsRegion(new Uint8Array([comm.rank + 1])), theirs = new JsRegion(new Uint8Array(1));
 *   if (comm.rank === 0) await send(env, mine, peer, 5);
 *   else await recv(env, theirs, peer, 5);
 *   return theirs.u8[0];
 * });
 * assert.deepEqual(job.results, [0, 1]);
 * ```
 */
export async function send(env: CollEnv, region: Region, dest: number, tag: number): Promise<void> {
  await env.waitall([await env.isend(region, dest, tag)]);
}

/**
 * Receive and wait; returns the status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsRegion } from "../buffer.ts";
 * import { mpiexec } from "../launch.ts";
 * import { type CollEnv, recv, send } from "./env.ts";
 * // A collective environment over the public point-to-point calls of two ranks.
 * const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   const env: CollEnv = {
 *     rank: comm.rank,
 *     size: comm.size,
 *     isend: (r, d, t) => comm.isend((r as JsRegion).u8, d, t),
 *     irecv: (r, s, t) => comm.irecv((r as JsRegion).u8, s, t),
 *     waitall: (q) => comm.waitall(q),
 *     scratch: (n) => new JsRegion(new Uint8Array(n)),
 *     reduceLocal: () => {},
 *     copy: (d, s) => d.write(0, s.read(0, s.bytes)),
 *   };
 *   const peer = 1 - comm.rank;
 *   const mine = new JsRegion(new Uint8Array([comm.rank + 1])), theirs = new JsRegion(new Uint8Array(1));
 *   if (comm.rank === 1) await send(env, mine, peer, 5);
 *   else assert.equal((await recv(env, theirs, peer, 5)).bytes, 1);
 *   return theirs.u8[0];
 * });
 * assert.deepEqual(job.results, [2, 0]);
 * ```
 */
export async function recv(
  env: CollEnv,
  region: Region,
  src: number,
  tag: number,
): Promise<Status> {
  return (await env.waitall([await env.irecv(region, src, tag)]))[0];
}

/**
 * Exchange: send `out` to `dest` and receive `into` from `src` at once
 * (MPI_Sendrecv); returns the receive's status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsRegion } from "../buffer.ts";
 * import { mpiexec } from "../launch.ts";
 * import { type CollEnv, sendrecv } from "./env.ts";
 * // A collective environment over the public point-to-point calls of two ranks.
 * const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   const env: CollEnv = {
 *     rank: comm.rank,
 *     size: comm.size,
 *     isend: (r, d, t) => comm.isend((r as JsRegion).u8, d, t),
 *     irecv: (r, s, t) => comm.irecv((r as JsRegion).u8, s, t),
 *     waitall: (q) => comm.waitall(q),
 *     scratch: (n) => new JsRegion(new Uint8Array(n)),
 *     reduceLocal: () => {},
 *     copy: (d, s) => d.write(0, s.read(0, s.bytes)),
 *   };
 *   const peer = 1 - comm.rank;
 *   const mine = new JsRegion(new Uint8Array([comm.rank + 1])), theirs = new JsRegion(new Uint8Array(1));
 *   await sendrecv(env, mine, peer, theirs, peer, 5);
 *   return theirs.u8[0];
 * });
 * assert.deepEqual(job.results, [2, 1]);
 * ```
 */
export async function sendrecv(
  env: CollEnv,
  out: Region,
  dest: number,
  into: Region,
  src: number,
  tag: number,
): Promise<Status> {
  const r = await env.irecv(into, src, tag);
  const s = await env.isend(out, dest, tag);
  return (await env.waitall([r, s]))[0];
}

/**
 * Send `out` and/or receive `into`, leaving out an empty side (MPICH's
 * collectives skip zero-count sends and receives; both ends agree on the
 * sizes, so they skip the same messages).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsRegion } from "../buffer.ts";
 * import { mpiexec } from "../launch.ts";
 * import { type CollEnv, EMPTY, exchange } from "./env.ts";
 * // A collective environment over the public point-to-point calls of two ranks.
 * const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   const env: CollEnv = {
 *     rank: comm.rank,
 *     size: comm.size,
 *     isend: (r, d, t) => comm.isend((r as JsRegion).u8, d, t),
 *     irecv: (r, s, t) => comm.irecv((r as JsRegion).u8, s, t),
 *     waitall: (q) => comm.waitall(q),
 *     scratch: (n) => new JsRegion(new Uint8Array(n)),
 *     reduceLocal: () => {},
 *     copy: (d, s) => d.write(0, s.read(0, s.bytes)),
 *   };
 *   // Rank 0 only sends, rank 1 only receives.
 *   const got = new JsRegion(new Uint8Array(1));
 *   if (comm.rank === 0) await exchange(env, new JsRegion(new Uint8Array([7])), 1, EMPTY, 1, 5);
 *   else await exchange(env, EMPTY, 0, got, 0, 5);
 *   return got.u8[0];
 * });
 * assert.deepEqual(job.results, [0, 7]);
 * ```
 */
export async function exchange(
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
 * Tags of the collective context, one per operation (MPICH's MPIR_*_TAG).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TAG } from "./env.ts";
 * assert.notEqual(TAG.bcast, TAG.reduce);
 * ```
 */
export const TAG = {
  barrier: 1,
  bcast: 2,
  reduce: 3,
  allreduce: 4,
  gather: 5,
  scatter: 6,
  allgather: 7,
  alltoall: 8,
  alltoallv: 9,
  context: 10,
  gatherv: 11,
  scatterv: 12,
  allgatherv: 13,
  reduceScatter: 14,
  scan: 15,
  exscan: 16,
  alltoallw: 17,
} as const;

/**
 * Largest power of two not above `n` (n ≥ 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pof2 } from "./env.ts";
 * assert.deepEqual([1, 2, 3, 5, 8, 12].map(pof2), [1, 2, 2, 4, 8, 8]);
 * ```
 */
export function pof2(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/**
 * The empty region (zero-byte messages).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EMPTY } from "./env.ts";
 * assert.equal(EMPTY.bytes, 0);
 * ```
 */
export const EMPTY: Region = new JsRegion(new Uint8Array(0));
