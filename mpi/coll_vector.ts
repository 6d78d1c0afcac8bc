/**
 * The vector collectives (MPI-3.1 §5.5–§5.8): gatherv, scatterv,
 * allgatherv and alltoallv, whose blocks differ in size and place, given
 * as counts and displacements in elements of the buffer's type; and
 * alltoallw (MPI-4.0 §6.8), whose blocks each have their own datatype and
 * a displacement in bytes.
 *
 * @module
 */
import { type Buf, type Region, toRegion } from "./buffer.ts";
import type { CommCore } from "./comm_core.ts";
import { type InPlace, isInPlace } from "./constants.ts";
import { type Datatype, typeSize } from "./datatype.ts";
import { MpiError } from "./errors.ts";
import { allgathervBruck, allgathervRecursiveDoubling, allgathervRing } from "./coll/allgatherv.ts";
import {
  alltoallPairwise,
  alltoallScattered,
  type Blocks,
  vBlocks,
  wBlocks,
} from "./coll/alltoall.ts";
import { collArgs } from "./coll_args.ts";
import { type CollBody, collective, type CollOptions, pickAlgorithm } from "./coll_call.ts";
import { TAG } from "./coll/env.ts";
import { gathervLinear, scattervLinear } from "./coll/gatherv.ts";

const { sameType, notAliased, root: checkRoot, need, inPlaceAtRoot, sendCopy, vector } = collArgs;

/** A user buffer as its bytes and its element type. */
type Typed = { region: Region; datatype: Datatype };

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
  v: Typed,
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

/**
 * The body MPI_Alltoallv and MPI_Alltoallw share, as MPICH runs the same
 * two algorithms for both (MPIR_Alltoallv_intra_* and
 * MPIR_Alltoallw_intra_*: pairwise exchange and scattered): the buffers,
 * with IN_PLACE the data to send a copy of the receive buffer taken first
 * (MPI-4.0 §6.8: "The data to be sent is taken from the recvbuf and
 * replaced by the received data"); `layout` checks the counts,
 * displacements (and types) and gives each side's blocks. A rank's own
 * block may not bring more than its place holds: MPI_ERR_TRUNCATE, as
 * MPICH's local copy (MPIR_Localcopy) reports it; another rank's block
 * that does not fit is its receive's MPI_ERR_TRUNCATE.
 */
function exchangeBody(
  c: CommCore,
  what: string,
  coll: "alltoallv" | "alltoallw",
  sendbuf: Buf | InPlace,
  recvbuf: Buf,
  opts: CollOptions<"alltoallv" | "alltoallw"> | undefined,
  layout: (s: Typed, o: Typed, inPlace: boolean) => { sb: Blocks; rb: Blocks },
): CollBody {
  return async (env) => {
    const o = toRegion(recvbuf, c.proc.rank, what);
    const inPlace = isInPlace(sendbuf);
    const s = inPlace ? sendCopy(env, o) : toRegion(sendbuf, c.proc.rank, what);
    const { sb, rb } = layout(s, o, inPlace);
    if (sb.len(c.rank) > rb.len(c.rank)) {
      throw new MpiError(
        "MPI_ERR_TRUNCATE",
        `${what} on rank ${c.rank}: ${sb.len(c.rank)} bytes sent to itself, its block holds ${
          rb.len(c.rank)
        }`,
      );
    }
    if (pickAlgorithm(c, coll, opts, { bytes: 0 }) === "scattered") {
      await alltoallScattered(env, s.region, sb, o.region, rb, TAG[coll]);
    } else await alltoallPairwise(env, s.region, sb, o.region, rb, TAG[coll]);
  };
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
  return exchangeBody(c, what, "alltoallv", sendbuf, recvbuf, opts, (s, o, inPlace) => {
    sameType(c, what, s.datatype, o.datatype);
    const es = typeSize(s.datatype);
    if (!inPlace) notAliased(c, what, s.region, o.region);
    if (!inPlace) vector(c, what, "send", sendcounts, sdispls, s.region.bytes / es);
    vector(c, what, "receive", recvcounts, rdispls, o.region.bytes / es);
    const rb = vBlocks(recvcounts, rdispls, es);
    return { sb: inPlace ? rb : vBlocks(sendcounts, sdispls, es), rb };
  });
}
const alltoallv = collective("MPI_Alltoallv", "MPI_Ialltoallv", alltoallvBody);

/**
 * MPI_Alltoallw (MPI-4.0 §6.8): alltoallv with a datatype per block and
 * displacements in bytes; the buffers are bytes (their own element type is
 * not looked at). The checks are MPICH's (its MPI_Alltoallw binding): the
 * counts, and the type of each block that is not empty; the send and
 * receive buffers are the same (MPI_ERR_BUFFER) only when both sides name
 * the same count and type arrays, as one buffer with disjoint blocks is
 * the call's common use. As the library's other calls, the block a rank
 * sends itself and receives from itself are of one type (MPI_ERR_TYPE);
 * the types of the other ranks' blocks are their senders' to match
 * (MPI-4.0 §6.8: the type signatures must be equal), as with alltoallv
 * only their sizes are checked, by the receives (MPI_ERR_TRUNCATE).
 */
function alltoallwBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  sendcounts: readonly number[],
  sdispls: readonly number[],
  sendtypes: readonly Datatype[],
  recvbuf: Buf,
  recvcounts: readonly number[],
  rdispls: readonly number[],
  recvtypes: readonly Datatype[],
  opts?: CollOptions<"alltoallw">,
): CollBody {
  return exchangeBody(c, what, "alltoallw", sendbuf, recvbuf, opts, (s, o, inPlace) => {
    if (!inPlace && sendcounts === recvcounts && sendtypes === recvtypes) {
      notAliased(c, what, s.region, o.region);
    }
    if (!inPlace) vector(c, what, "send", sendcounts, sdispls, s.region.bytes, sendtypes);
    vector(c, what, "receive", recvcounts, rdispls, o.region.bytes, recvtypes);
    const rb = wBlocks(recvcounts, rdispls, recvtypes);
    if (inPlace) return { sb: rb, rb };
    const me = c.rank;
    if (sendcounts[me] > 0 && recvcounts[me] > 0) sameType(c, what, sendtypes[me], recvtypes[me]);
    return { sb: wBlocks(sendcounts, sdispls, sendtypes), rb };
  });
}
const alltoallw = collective("MPI_Alltoallw", "MPI_Ialltoallw", alltoallwBody);

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
  alltoallw: alltoallw.blocking,
  gatherv: gatherv.blocking,
  scatterv: scatterv.blocking,
  allgatherv: allgatherv.blocking,
  ialltoallv: alltoallv.nonblocking,
  ialltoallw: alltoallw.nonblocking,
  igatherv: gatherv.nonblocking,
  iscatterv: scatterv.nonblocking,
  iallgatherv: allgatherv.nonblocking,
} as const;
