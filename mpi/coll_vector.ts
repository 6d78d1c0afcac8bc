/**
 * The vector collectives (MPI-3.1 §5.5–§5.8): gatherv, scatterv,
 * allgatherv and alltoallv, whose blocks differ in size and place, given
 * as counts and displacements in elements of the buffer's type.
 *
 * @module
 */
import { type Buf, type Region, toRegion } from "./buffer.ts";
import type { CommCore } from "./comm_core.ts";
import { type InPlace, isInPlace } from "./constants.ts";
import { type Datatype, typeSize } from "./datatype.ts";
import { MpiError } from "./errors.ts";
import { allgathervBruck, allgathervRecursiveDoubling, allgathervRing } from "./coll/allgatherv.ts";
import { alltoallPairwise, alltoallScattered, vBlocks } from "./coll/alltoall.ts";
import { collArgs } from "./coll_args.ts";
import { type CollBody, collective, type CollOptions, pickAlgorithm } from "./coll_call.ts";
import { TAG } from "./coll/env.ts";
import { gathervLinear, scattervLinear } from "./coll/gatherv.ts";

const { sameType, notAliased, root: checkRoot, need, inPlaceAtRoot, sendCopy, vector } = collArgs;

/**
 * This rank's own block of a vector collective, given as a separate
 * buffer (`role`: the send buffer of gatherv/allgatherv, the receive
 * buffer of scatterv) against its block `own` of the vector buffer `v`:
 * same type, not aliased with the block (MPICH's MPIR_ERRTEST_ALIAS_COLL
 * against buf + displs[rank]), and the data fits where it goes
 * (MPI_ERR_TRUNCATE, as the local copy MPIR_Localcopy reports).
 */
function ownBlock(
  c: CommCore,
  what: string,
  buf: Buf,
  v: { region: Region; datatype: Datatype },
  own: Region,
  role: "send" | "receive",
): Region {
  const b = toRegion(buf, c.proc.rank, what);
  sameType(
    c,
    what,
    role === "send" ? b.datatype : v.datatype,
    role === "send" ? v.datatype : b.datatype,
  );
  notAliased(c, what, role === "send" ? b.region : own, role === "send" ? own : b.region);
  if (role === "send" && b.region.bytes > own.bytes) {
    throw new MpiError(
      "MPI_ERR_TRUNCATE",
      `${what} on rank ${c.rank}: ${b.region.bytes} bytes sent, its block holds ${own.bytes}`,
    );
  }
  if (role === "receive" && own.bytes > b.region.bytes) {
    throw new MpiError(
      "MPI_ERR_TRUNCATE",
      `${what} on rank ${c.rank}: its block is ${own.bytes} bytes, the receive buffer holds ${b.region.bytes}`,
    );
  }
  return role === "send" ? b.region : b.region.sub(0, own.bytes);
}

function alltoallvBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  sendcounts: readonly number[],
  sdispls: readonly number[],
  recvbuf: Buf,
  recvcounts: readonly number[],
  rdispls: readonly number[],
  opts?: CollOptions<"alltoallv">,
): CollBody {
  return async (env) => {
    const o = toRegion(recvbuf, c.proc.rank, what);
    const inPlace = isInPlace(sendbuf);
    const s = inPlace ? sendCopy(env, o) : toRegion(sendbuf, c.proc.rank, what);
    sameType(c, what, s.datatype, o.datatype);
    const es = typeSize(s.datatype);
    if (!inPlace) notAliased(c, what, s.region, o.region);
    if (!inPlace) vector(c, what, "send", sendcounts, sdispls, s.region.bytes / es);
    vector(c, what, "receive", recvcounts, rdispls, o.region.bytes / es);
    const rb = vBlocks(recvcounts, rdispls, es);
    const sb = inPlace ? rb : vBlocks(sendcounts, sdispls, es);
    if (pickAlgorithm(c, "alltoallv", opts, { bytes: 0 }) === "scattered") {
      await alltoallScattered(env, s.region, sb, o.region, rb, TAG.alltoallv);
    } else await alltoallPairwise(env, s.region, sb, o.region, rb, TAG.alltoallv);
  };
}
const alltoallv = collective("MPI_Alltoallv", "MPI_Ialltoallv", alltoallvBody);

function gathervBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  recvbuf: Buf | null,
  recvcounts: readonly number[],
  displs: readonly number[],
  root: number,
  opts?: CollOptions<"gatherv">,
): CollBody {
  return async (env) => {
    checkRoot(c, what, root);
    const isRoot = c.rank === root;
    inPlaceAtRoot(c, what, isInPlace(sendbuf), isRoot);
    pickAlgorithm(c, "gatherv", opts, { bytes: 0 });
    if (!isRoot) {
      await gathervLinear(
        env,
        toRegion(sendbuf as Buf, c.proc.rank, what).region,
        undefined,
        undefined,
        root,
      );
      return;
    }
    const out = need(c, recvbuf, what, "receive buffer");
    const es = typeSize(out.datatype);
    vector(c, what, "receive", recvcounts, displs, out.region.bytes / es);
    const blocks = vBlocks(recvcounts, displs, es);
    const own = out.region.sub(blocks.off(root), blocks.len(root));
    const mine = isInPlace(sendbuf) ? own : ownBlock(c, what, sendbuf, out, own, "send");
    await gathervLinear(env, mine, out.region, blocks, root);
  };
}
const gatherv = collective("MPI_Gatherv", "MPI_Igatherv", gathervBody);

function scattervBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | null,
  sendcounts: readonly number[],
  displs: readonly number[],
  recvbuf: Buf | InPlace,
  root: number,
  opts?: CollOptions<"scatterv">,
): CollBody {
  return async (env) => {
    checkRoot(c, what, root);
    const isRoot = c.rank === root;
    inPlaceAtRoot(c, what, isInPlace(recvbuf), isRoot);
    pickAlgorithm(c, "scatterv", opts, { bytes: 0 });
    if (!isRoot) {
      await scattervLinear(
        env,
        undefined,
        undefined,
        toRegion(recvbuf as Buf, c.proc.rank, what).region,
        root,
      );
      return;
    }
    const src = need(c, sendbuf, what, "send buffer");
    const es = typeSize(src.datatype);
    vector(c, what, "send", sendcounts, displs, src.region.bytes / es);
    const blocks = vBlocks(sendcounts, displs, es);
    const own = src.region.sub(blocks.off(root), blocks.len(root));
    const mine = isInPlace(recvbuf) ? own : ownBlock(c, what, recvbuf, src, own, "receive");
    await scattervLinear(env, src.region, blocks, mine, root);
  };
}
const scatterv = collective("MPI_Scatterv", "MPI_Iscatterv", scattervBody);

function allgathervBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  recvbuf: Buf,
  recvcounts: readonly number[],
  displs: readonly number[],
  opts?: CollOptions<"allgatherv">,
): CollBody {
  return async (env) => {
    const out = toRegion(recvbuf, c.proc.rank, what);
    const es = typeSize(out.datatype);
    vector(c, what, "receive", recvcounts, displs, out.region.bytes / es);
    const blocks = vBlocks(recvcounts, displs, es);
    const own = out.region.sub(blocks.off(c.rank), blocks.len(c.rank));
    if (!isInPlace(sendbuf)) {
      env.copy(own, ownBlock(c, what, sendbuf, out, own, "send"));
    }
    let total = 0;
    for (let i = 0; i < c.size; i++) total += blocks.len(i);
    if (c.size === 1 || total === 0) return;
    const a = pickAlgorithm(c, "allgatherv", opts, { bytes: total });
    const pow2 = (c.size & (c.size - 1)) === 0;
    if (a === "recursive_doubling" && pow2) {
      await allgathervRecursiveDoubling(env, out.region, blocks);
    } else if (a === "ring") await allgathervRing(env, out.region, blocks, es);
    else await allgathervBruck(env, out.region, blocks);
  };
}
const allgatherv = collective("MPI_Allgatherv", "MPI_Iallgatherv", allgathervBody);

/**
 * The vector collectives, as `Comm`'s methods of the same names forward to
 * them with the communicator's {@link CommCore}: the blocking calls and
 * their non-blocking twins (`igatherv`, …).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mpiexec } from "./launch.ts";
 * // Rank i contributes i + 1 elements; the root lays them out back to back.
 * const { results } = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
 *   const mine = new Int32Array(comm.rank + 1).fill(comm.rank);
 *   const all = comm.rank === 0 ? new Int32Array(6) : null;
 *   await comm.gatherv(mine, all, [1, 2, 3], [0, 1, 3], 0);
 *   return all && [...all];
 * });
 * assert.deepEqual(results[0], [0, 1, 1, 2, 2, 2]);
 * ```
 */
export const vectorCalls = {
  alltoallv: alltoallv.blocking,
  gatherv: gatherv.blocking,
  scatterv: scatterv.blocking,
  allgatherv: allgatherv.blocking,
  ialltoallv: alltoallv.nonblocking,
  igatherv: gatherv.nonblocking,
  iscatterv: scatterv.nonblocking,
  iallgatherv: allgatherv.nonblocking,
} as const;
