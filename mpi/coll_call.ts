/**
 * One collective call on one rank: the algorithm it runs and the
 * {@link CollEnv} the algorithm runs in. The environment sends on the
 * communicator's collective context (2·id + 1, so a collective never
 * matches a user's message) and lends scratch memory for the length of the
 * call only.
 *
 * @module
 */
import { DomRegion } from "./buffer.ts";
import type { CommCore } from "./comm_core.ts";
import { finish } from "./completion.ts";
import { typeSize } from "./datatype.ts";
import { TAG_UB } from "./constants.ts";
import { MpiError } from "./errors.ts";
import { isCommutative, reduceInto } from "./ops.ts";
import { Request, type Status } from "./request.ts";
import { Schedule } from "./schedule.ts";
import type { CollEnv } from "./coll/env.ts";
import { sameRegion } from "./coll/gather.ts";
import {
  type AlgorithmOf,
  type CallShape,
  checkAlgorithm,
  type Collective,
  defaultAlgorithm,
  usable,
} from "./coll/tuning.ts";

/**
 * Options of a collective call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CollOptions } from "./coll_call.ts";
 * const o: CollOptions<"allreduce"> = { algorithm: "ring" };
 * assert.equal(o.algorithm, "ring");
 * ```
 */
export interface CollOptions<C extends Collective> {
  /** Use this algorithm instead of the communicator's choice. */
  algorithm?: AlgorithmOf<C>;
}

/**
 * The algorithm a call runs: the call's option, else the communicator's
 * choice, where it can serve this call's shape; else the default for the
 * shape (coll/tuning.ts). A name that is no algorithm of `coll` throws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pickAlgorithm } from "./coll_call.ts";
 * const c = { size: 4, algorithm: () => undefined };
 * const shape = { bytes: 64, count: 16, commutative: true };
 * assert.equal(pickAlgorithm(c, "allreduce", { algorithm: "ring" }, shape), "ring");
 * assert.throws(() => pickAlgorithm(c, "allreduce", { algorithm: "tree" as "ring" }, shape));
 * ```
 */
export function pickAlgorithm(
  c: Pick<CommCore, "size" | "algorithm">,
  coll: Collective,
  opts: CollOptions<Collective> | undefined,
  shape: Omit<CallShape, "n">,
): string {
  const a = opts?.algorithm ?? c.algorithm(coll);
  const full = { n: c.size, ...shape };
  if (a !== undefined) {
    checkAlgorithm(coll, a);
    if (usable(coll, a, full)) return a;
  }
  return defaultAlgorithm(coll, full);
}

/**
 * Run `body` with the environment of collective call `what` on `c`;
 * scratch memory it took is returned afterwards.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsRegion } from "./buffer.ts";
 * import type { CommCore } from "./comm_core.ts";
 * import { mpiexec } from "./launch.ts";
 * import { runColl } from "./coll_call.ts";
 * import { recv, send } from "./coll/env.ts";
 * // A communicator's core made of its public parts, as Comm makes its own.
 * const { results } = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   const c: CommCore<never> = {
 *     proc: comm.proc, group: comm.group, rank: comm.rank, size: comm.size,
 *     contextId: comm.contextId, name: comm.name, check: (w) => comm.proc.check(w),
 *     raise: (e) => { throw e; }, fatal: () => true, algorithm: () => undefined,
 *     nextSchedule: () => 0, topology: () => undefined,
 *   };
 *   const got = new JsRegion(new Uint8Array(1));
 *   await runColl(c, "a ping", async (env) => {
 *     if (env.rank === 0) await send(env, new JsRegion(new Uint8Array([42])), 1, 9);
 *     else await recv(env, got, 0, 9);
 *   });
 *   return got.u8[0];
 * });
 * assert.deepEqual(results, [0, 42]);
 * ```
 */
export async function runColl<T>(
  c: CommCore,
  what: string,
  body: (env: CollEnv) => Promise<T>,
): Promise<T> {
  c.check(what);
  const taken: DomRegion[] = [];
  const proc = c.proc;
  const label = `${what} on ${c.name}`;
  const env = collEnv(c, what, 0, taken, async (reqs) => {
    const out: Status[] = [];
    for (const r of reqs) out.push(await finish(c, r, label));
    return out;
  });
  try {
    return await body(env);
  } finally {
    for (const r of taken) proc.giveScratch(r);
  }
}

/**
 * The environment of one collective call on `c`: point-to-point on the
 * collective context (2·id + 1) with the algorithm's tags moved up by
 * `tagBase` (0 for the blocking calls; a non-blocking collective's own
 * block, see {@link scheduleTag}), scratch memory remembered in `taken`,
 * reductions and copies charged to the rank's CPU; `waitall` ends a round.
 */
function collEnv(
  c: CommCore,
  what: string,
  tagBase: number,
  taken: DomRegion[],
  waitall: CollEnv["waitall"],
): CollEnv {
  const proc = c.proc;
  const ctx = 2 * c.contextId + 1;
  return {
    rank: c.rank,
    size: c.size,
    isend: (region, dest, tag) =>
      proc.p2p.isend(region, c.group[dest], c.rank, tagBase + tag, ctx, what),
    irecv: (region, src, tag) => proc.p2p.irecv(region, "byte", src, tagBase + tag, ctx, what),
    waitall,
    scratch: (bytes) => {
      const r = proc.takeScratch(bytes);
      taken.push(r);
      return r;
    },
    reduceLocal: (op, dt, inout, input, inputFirst) => {
      const a = inout.read(0, inout.bytes), b = input.read(0, input.bytes);
      // Operand order matters only to a non-commutative operation (MPI-3.1 §5.9.5).
      const swap = inputFirst === true && !isCommutative(op);
      let res: Uint8Array;
      try {
        res = swap ? reduceInto(op, dt, b.slice(), a) : reduceInto(op, dt, a, b);
      } catch (e) {
        if (e instanceof MpiError) throw e;
        throw new MpiError(
          "MPI_ERR_OTHER",
          `${what} on rank ${c.rank}: the user operation threw: ${(e as Error)?.message ?? e}`,
        );
      }
      // A JS region's read is a view: reduceInto has already written the result there.
      if (inout instanceof DomRegion || swap) inout.write(0, res);
      const bytes = inout.bytes;
      const p = proc.params;
      proc.chargeCpu(
        Math.max(bytes / typeSize(dt) / p.flopsPerNs, (3 * bytes) / p.memBytesPerNs),
      );
    },
    copy: (dst, src) => {
      if (src.bytes === 0 || sameRegion(dst, src)) return;
      dst.write(0, src.read(0, src.bytes));
      proc.chargeCpu(src.bytes * proc.params.copyNsPerByte);
    },
  };
}

/**
 * Tags a non-blocking collective's messages carry on the collective
 * context: the blocking collectives use the algorithm's own tags (1–17,
 * coll/env.ts's TAG), a non-blocking one number `seq` on its communicator
 * the block of 32 from `32 + 32·seq` (modulo the tag space), so that it
 * matches neither a blocking collective nor another non-blocking one —
 * MPICH's scheme, where each NBC takes the communicator's next schedule
 * tag (MPIR_Sched_next_tag) above the blocking collectives' tags, and the
 * collective context keeps all of them away from point-to-point.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scheduleTag } from "./coll_call.ts";
 * import { TAG_UB } from "./constants.ts";
 * assert.deepEqual([0, 1, 2].map(scheduleTag), [32, 64, 96]);
 * assert.ok(scheduleTag(2 ** 40) + 31 <= TAG_UB); // wraps round inside the tag space
 * ```
 */
export function scheduleTag(seq: number): number {
  return SCHEDULE_TAGS * (1 + (seq % SCHEDULE_SLOTS));
}

/** Tags in one non-blocking collective's block (above every TAG of coll/env.ts). */
const SCHEDULE_TAGS = 32;
/** Blocks in the tag space 0..TAG_UB, the first left to the blocking collectives. */
const SCHEDULE_SLOTS = Math.floor((TAG_UB + 1) / SCHEDULE_TAGS) - 1;

/**
 * What a collective call runs once its arguments are in hand: its checks,
 * then its algorithm, against an environment. The blocking call runs it
 * to the end ({@link blocking}), the non-blocking one as a schedule
 * ({@link nonblocking}); both check the same way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CollBody } from "./coll_call.ts";
 * const nothing: CollBody = async () => {};
 * assert.equal(typeof nothing, "function");
 * ```
 */
export type CollBody = (env: CollEnv) => Promise<void>;

/**
 * A blocking collective call: run `body` to its end, and give an error to
 * the communicator's handler.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * // comm.barrier is blocking(comm's core, "MPI_Barrier", the barrier's body).
 * const { results } = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
 *   await comm.barrier();
 *   return comm.rank;
 * });
 * assert.deepEqual(results, [0, 1]);
 * ```
 */
export async function blocking<E extends MpiError>(
  c: CommCore<E>,
  what: string,
  body: CollBody,
): Promise<void | E> {
  try {
    await runColl(c, what, body);
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * A non-blocking collective call (MPI-3.1 §5.12): start `body` as a
 * schedule (mpi/schedule.ts) on the communicator's next schedule tags and
 * return its request at once, its first round issued. Its later rounds
 * start only inside the rank's MPI calls that make progress (`test`,
 * `wait` and their kin, and every blocking call that waits); the request
 * completes, with the error if the algorithm failed, when the last round
 * has. What the body throws before it communicates is an argument error:
 * the call itself returns it, under the communicator's handler, as the
 * blocking call would, and no request is made. Scratch memory is kept
 * until the schedule ends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * const { results } = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
 *   const v = new Int32Array([comm.rank === 1 ? 42 : 0]);
 *   const req = await comm.ibcast(v, 1);
 *   await comm.wait(req);
 *   return v[0];
 * });
 * assert.deepEqual(results, [42, 42, 42]);
 * ```
 */
export async function nonblocking<E extends MpiError>(
  c: CommCore<E>,
  what: string,
  body: CollBody,
): Promise<Request | E> {
  try {
    c.check(what);
    const proc = c.proc;
    const taken: DomRegion[] = [];
    const sched = new Schedule(new Request("coll", proc.rank, what), c.contextId);
    const env = collEnv(c, what, scheduleTag(c.nextSchedule()), taken, (r) => sched.barrier(r));
    let talked = false;
    const { isend, irecv } = env;
    env.isend = (...a) => (talked = true, isend(...a));
    env.irecv = (...a) => (talked = true, irecv(...a));
    await proc.schedules.start(sched, async () => {
      try {
        await body(env);
      } finally {
        for (const r of taken) proc.giveScratch(r);
      }
    });
    if (sched.finished && sched.error !== undefined && !talked) throw sched.error;
    return sched.req;
  } catch (e) {
    return c.raise(e);
  }
}

/**
 * A collective's blocking and non-blocking calls from its one body:
 * `name` (MPI_Bcast) runs it with {@link blocking}, `iname` (MPI_Ibcast)
 * with {@link nonblocking}; the arguments after the communicator go to
 * `body`, with the call's name for its messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { collective } from "./coll_call.ts";
 * const calls = collective("MPI_Barrier", "MPI_Ibarrier", () => async () => {});
 * assert.equal(typeof calls.blocking, "function");
 * assert.equal(typeof calls.nonblocking, "function");
 * ```
 */
export function collective<A extends unknown[]>(
  name: string,
  iname: string,
  body: (c: CommCore, what: string, ...args: A) => CollBody,
): {
  blocking<E extends MpiError>(c: CommCore<E>, ...args: A): Promise<void | E>;
  nonblocking<E extends MpiError>(c: CommCore<E>, ...args: A): Promise<Request | E>;
} {
  return {
    blocking: (c, ...args) => blocking(c, name, body(c, name, ...args)),
    nonblocking: (c, ...args) => nonblocking(c, iname, body(c, iname, ...args)),
  };
}
