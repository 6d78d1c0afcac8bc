/**
 * The collective calls that synchronize or move equal blocks (MPI-3.1
 * §5.3–§5.8): barrier, bcast, gather, scatter, allgather, alltoall. Each
 * checks its arguments, picks its algorithm for the call's shape and runs
 * it from the algorithm modules of coll/.
 *
 * @module
 */
import { type Buf, type Region, toRegion } from "./buffer.ts";
import type { CommCore } from "./comm_core.ts";
import { type InPlace, isInPlace } from "./constants.ts";
import { MpiError } from "./errors.ts";
import { allgatherBruck, allgatherRecursiveDoubling, allgatherRing } from "./coll/allgather.ts";
import {
  alltoallBruck,
  alltoallPairwise,
  alltoallScattered,
  equalBlocks,
} from "./coll/alltoall.ts";
import { collArgs } from "./coll_args.ts";
import { barrierDissemination, barrierRecursiveDoubling } from "./coll/barrier.ts";
import { bcastBinomial, bcastScatterDoubling, bcastScatterRing } from "./coll/bcast.ts";
import { type CollBody, collective, type CollOptions, pickAlgorithm } from "./coll_call.ts";
import { gatherBinomial, gatherLinear, scatterBinomial, scatterLinear } from "./coll/gather.ts";

const { sameType, notAliased, root: checkRoot, fits, need, inPlaceAtRoot, sendCopy } = collArgs;

function blocks(c: CommCore, what: string, bytes: number): MpiError {
  return new MpiError(
    "MPI_ERR_COUNT",
    `${what} on rank ${c.rank}: ${bytes} bytes is not ${c.size} equal blocks`,
  );
}

function barrierBody(c: CommCore, _what: string, opts?: CollOptions<"barrier">): CollBody {
  return async (env) => {
    if (c.size === 1) return;
    if (pickAlgorithm(c, "barrier", opts, { bytes: 0 }) === "recursive_doubling") {
      await barrierRecursiveDoubling(env);
    } else await barrierDissemination(env);
  };
}
const barrier = collective("MPI_Barrier", "MPI_Ibarrier", barrierBody);

function bcastBody(
  c: CommCore,
  what: string,
  buf: Buf,
  root: number,
  opts?: CollOptions<"bcast">,
): CollBody {
  return async (env) => {
    checkRoot(c, what, root);
    const { region } = toRegion(buf, c.proc.rank, what);
    if (c.size === 1 || region.bytes === 0) return;
    const a = pickAlgorithm(c, "bcast", opts, { bytes: region.bytes });
    const pow2 = (c.size & (c.size - 1)) === 0;
    if (a === "binomial") await bcastBinomial(env, region, root);
    else if (a === "scatter_doubling_allgather" && pow2) {
      await bcastScatterDoubling(env, region, root);
    } else await bcastScatterRing(env, region, root);
  };
}
const bcast = collective("MPI_Bcast", "MPI_Ibcast", bcastBody);

function gatherBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  recvbuf: Buf | null,
  root: number,
  opts?: CollOptions<"gather">,
): CollBody {
  return async (env) => {
    checkRoot(c, what, root);
    const isRoot = c.rank === root;
    const out = isRoot ? need(c, recvbuf, what, "receive buffer") : undefined;
    inPlaceAtRoot(c, what, isInPlace(sendbuf), isRoot);
    let mine: Region;
    if (isInPlace(sendbuf)) {
      const bb = out!.region.bytes / c.size;
      if (!Number.isInteger(bb)) throw blocks(c, what, out!.region.bytes);
      mine = out!.region.sub(root * bb, bb);
    } else {
      const s = toRegion(sendbuf, c.proc.rank, what);
      if (out) sameType(c, what, s.datatype, out.datatype);
      if (out) notAliased(c, what, s.region, out.region);
      mine = s.region;
    }
    if (out) fits(c, what, "receive buffer", out.region, mine.bytes * c.size);
    const o = out?.region.sub(0, mine.bytes * c.size);
    if (pickAlgorithm(c, "gather", opts, { bytes: mine.bytes }) === "linear") {
      await gatherLinear(env, mine, o, root);
    } else await gatherBinomial(env, mine, o, root);
  };
}
const gather = collective("MPI_Gather", "MPI_Igather", gatherBody);

function scatterBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | null,
  recvbuf: Buf | InPlace,
  root: number,
  opts?: CollOptions<"scatter">,
): CollBody {
  return async (env) => {
    checkRoot(c, what, root);
    const isRoot = c.rank === root;
    const src = isRoot ? need(c, sendbuf, what, "send buffer") : undefined;
    inPlaceAtRoot(c, what, isInPlace(recvbuf), isRoot);
    let mine: Region;
    if (isInPlace(recvbuf)) {
      const bb = src!.region.bytes / c.size;
      if (!Number.isInteger(bb)) throw blocks(c, what, src!.region.bytes);
      mine = src!.region.sub(root * bb, bb);
    } else {
      const r = toRegion(recvbuf, c.proc.rank, what);
      if (src) sameType(c, what, src.datatype, r.datatype);
      if (src) notAliased(c, what, src.region, r.region);
      mine = r.region;
    }
    if (src) fits(c, what, "send buffer", src.region, mine.bytes * c.size);
    const s = src?.region.sub(0, mine.bytes * c.size);
    if (pickAlgorithm(c, "scatter", opts, { bytes: mine.bytes }) === "linear") {
      await scatterLinear(env, s, mine, root);
    } else await scatterBinomial(env, s, mine, root);
  };
}
const scatter = collective("MPI_Scatter", "MPI_Iscatter", scatterBody);

function allgatherBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  recvbuf: Buf,
  opts?: CollOptions<"allgather">,
): CollBody {
  return async (env) => {
    const out = toRegion(recvbuf, c.proc.rank, what);
    let bb: number;
    if (isInPlace(sendbuf)) {
      bb = out.region.bytes / c.size;
      if (!Number.isInteger(bb)) throw blocks(c, what, out.region.bytes);
    } else {
      const s = toRegion(sendbuf, c.proc.rank, what);
      sameType(c, what, s.datatype, out.datatype);
      notAliased(c, what, s.region, out.region);
      bb = s.region.bytes;
      fits(c, what, "receive buffer", out.region, bb * c.size);
      env.copy(out.region.sub(c.rank * bb, bb), s.region);
    }
    if (c.size === 1 || bb === 0) return;
    const o = out.region.sub(0, bb * c.size);
    const a = pickAlgorithm(c, "allgather", opts, { bytes: bb * c.size });
    const pow2 = (c.size & (c.size - 1)) === 0;
    if (a === "recursive_doubling" && pow2) await allgatherRecursiveDoubling(env, o, bb);
    else if (a === "ring") await allgatherRing(env, o, bb);
    else await allgatherBruck(env, o, bb);
  };
}
const allgather = collective("MPI_Allgather", "MPI_Iallgather", allgatherBody);

function alltoallBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  recvbuf: Buf,
  opts?: CollOptions<"alltoall">,
): CollBody {
  return async (env) => {
    const o = toRegion(recvbuf, c.proc.rank, what);
    const s = isInPlace(sendbuf) ? sendCopy(env, o) : toRegion(sendbuf, c.proc.rank, what);
    sameType(c, what, s.datatype, o.datatype);
    const bb = s.region.bytes / c.size;
    if (!Number.isInteger(bb)) throw blocks(c, what, s.region.bytes);
    fits(c, what, "receive buffer", o.region, s.region.bytes);
    notAliased(c, what, s.region, o.region);
    const a = pickAlgorithm(c, "alltoall", opts, { bytes: bb });
    const b = equalBlocks(bb);
    if (a === "bruck") await alltoallBruck(env, s.region, o.region, bb);
    else if (a === "scattered") {
      await alltoallScattered(env, s.region, b, o.region, b);
    } else await alltoallPairwise(env, s.region, b, o.region, b);
  };
}
const alltoall = collective("MPI_Alltoall", "MPI_Ialltoall", alltoallBody);

/**
 * The data-movement collectives, as `Comm`'s methods of the same names
 * forward to them with the communicator's {@link CommCore}: the blocking
 * calls and their non-blocking twins (`ibarrier`, `ibcast`, …), both run
 * from the one body of each collective.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * const { results } = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
 *   const all = new Int32Array(3);
 *   await comm.allgather(new Int32Array([comm.rank * 10]), all, { algorithm: "ring" });
 *   return [...all];
 * });
 * assert.deepEqual(results, [[0, 10, 20], [0, 10, 20], [0, 10, 20]]);
 * ```
 */
export const dataCalls = {
  barrier: barrier.blocking,
  bcast: bcast.blocking,
  gather: gather.blocking,
  scatter: scatter.blocking,
  allgather: allgather.blocking,
  alltoall: alltoall.blocking,
  ibarrier: barrier.nonblocking,
  ibcast: bcast.nonblocking,
  igather: gather.nonblocking,
  iscatter: scatter.nonblocking,
  iallgather: allgather.nonblocking,
  ialltoall: alltoall.nonblocking,
} as const;
