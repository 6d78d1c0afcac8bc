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
import { MpiError } from "./errors.ts";
import { isCommutative, reduceInto } from "./ops.ts";
import type { Status } from "./request.ts";
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
  const ctx = 2 * c.contextId + 1;
  const label = `${what} on ${c.name}`;
  const env: CollEnv = {
    rank: c.rank,
    size: c.size,
    isend: (region, dest, tag) => proc.p2p.isend(region, c.group[dest], c.rank, tag, ctx, what),
    irecv: (region, src, tag) => proc.p2p.irecv(region, "byte", src, tag, ctx, what),
    waitall: async (reqs) => {
      const out: Status[] = [];
      for (const r of reqs) out.push(await finish(c, r, label));
      return out;
    },
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
  try {
    return await body(env);
  } finally {
    for (const r of taken) proc.giveScratch(r);
  }
}
