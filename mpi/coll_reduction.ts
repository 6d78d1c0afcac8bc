/**
 * The reduction collectives (MPI-3.1 §5.9–§5.11): reduce, allreduce,
 * reduce_scatter_block, reduce_scatter, scan and exscan. They combine
 * elements of one type with an operation, so besides the buffers they
 * check the type and count against the operation (ops.ts), and a
 * non-commutative operation restricts the algorithms that may run.
 *
 * @module
 */
import { type Buf, type Region, toRegion } from "./buffer.ts";
import type { CommCore } from "./comm_core.ts";
import { type InPlace, isInPlace } from "./constants.ts";
import { type Datatype, typeSize } from "./datatype.ts";
import { MpiError } from "./errors.ts";
import { checkOp, isCommutative, type ReductionOp } from "./ops.ts";
import { collArgs } from "./coll_args.ts";
import { type CollBody, collective, type CollOptions, pickAlgorithm } from "./coll_call.ts";
import { type CollEnv, recv, send, TAG } from "./coll/env.ts";
import {
  allreduceRabenseifner,
  allreduceRecursiveDoubling,
  allreduceRing,
  type Red,
  reduceBinomial,
  reduceRabenseifner,
} from "./coll/reduce.ts";
import {
  reduceScatterNoncommutative,
  reduceScatterPairwise,
  reduceScatterRecursiveDoubling,
  reduceScatterRecursiveHalving,
} from "./coll/reduce_scatter.ts";
import { exscanRecursiveDoubling, scanRecursiveDoubling } from "./coll/scan.ts";

const { sameType, notAliased, root: checkRoot, fits, need, inPlaceAtRoot, sendCopy, vector } =
  collArgs;

type Typed = { region: Region; datatype: Datatype };

/**
 * The element type a reduction combines: the typed side's when the other
 * is untyped bytes (a DataView), so a `Float64Array` reduced into a
 * DataView still adds doubles (it added bytes at one end and doubles at
 * the other); the send buffer must hold whole elements of it.
 */
function reduceType(c: CommCore, what: string, src: Typed, out: Typed | undefined) {
  const dt = src.datatype === "byte" && out ? out.datatype : src.datatype;
  if (src.region.bytes % typeSize(dt) !== 0) {
    throw new MpiError(
      "MPI_ERR_COUNT",
      `${what} on rank ${c.rank}: ${src.region.bytes} bytes is not a whole number of ${dt} elements`,
    );
  }
  return dt;
}

/**
 * The operands of a reduction that every rank receives into: the receive
 * buffer, the input (the receive buffer itself under IN_PLACE) of the
 * same type and not aliased with it, and the element type combined.
 */
function operands(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  recvbuf: Buf,
): { out: Typed; src: Typed; dt: Datatype } {
  const out = toRegion(recvbuf, c.proc.rank, what);
  const src = isInPlace(sendbuf) ? out : toRegion(sendbuf, c.proc.rank, what);
  sameType(c, what, src.datatype, out.datatype);
  if (!isInPlace(sendbuf)) notAliased(c, what, src.region, out.region);
  return { out, src, dt: reduceType(c, what, src, out) };
}

/**
 * The operands of a reduction whose result is the input's size (allreduce,
 * scan, exscan): the input, the start of the receive buffer that holds the
 * result, and the reduction, checked against the operation.
 */
function accumulator(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  recvbuf: Buf,
  op: ReductionOp,
): { src: Region; acc: Region; red: Red } {
  const { out, src, dt } = operands(c, what, sendbuf, recvbuf);
  const es = typeSize(dt), bytes = src.region.bytes, count = bytes / es;
  checkOp(op, dt, count, `${what} on rank ${c.rank}`);
  fits(c, what, "receive buffer", out.region, bytes);
  return { src: src.region, acc: out.region.sub(0, bytes), red: { count, es, dt, op } };
}

function reduceBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  recvbuf: Buf | null,
  op: ReductionOp,
  root: number,
  opts?: CollOptions<"reduce">,
): CollBody {
  return async (env) => {
    checkRoot(c, what, root);
    const isRoot = c.rank === root;
    inPlaceAtRoot(c, what, isInPlace(sendbuf), isRoot);
    const out = isRoot ? need(c, recvbuf, what, "receive buffer") : undefined;
    const src = isInPlace(sendbuf) ? out! : toRegion(sendbuf, c.proc.rank, what);
    if (out) sameType(c, what, src.datatype, out.datatype);
    if (out && !isInPlace(sendbuf)) notAliased(c, what, src.region, out.region);
    const dt = reduceType(c, what, src, out);
    const es = typeSize(dt), bytes = src.region.bytes, count = bytes / es;
    checkOp(op, dt, count, `${what} on rank ${c.rank}`);
    if (out) fits(c, what, "receive buffer", out.region, bytes);
    const red = { count, es, dt, op };
    const commutative = isCommutative(op);
    const algo = pickAlgorithm(c, "reduce", opts, { bytes, count, commutative });
    if (!commutative && root !== 0) {
      // MPICH's binomial reduce for a non-commutative operation: rooted at rank 0 (the
      // tree then combines in rank order), the result sent on to the root.
      const acc = env.scratch(bytes);
      env.copy(acc, src.region);
      await reduceBinomial(env, acc, 0, red);
      if (c.rank === 0) await send(env, acc, root, TAG.reduce);
      else if (isRoot) await recv(env, out!.region.sub(0, bytes), 0, TAG.reduce);
    } else if (algo === "rabenseifner" && c.size > 1) {
      const acc = env.scratch(bytes);
      env.copy(acc, src.region);
      await reduceRabenseifner(env, acc, out?.region.sub(0, bytes), root, red);
    } else {
      const acc = isRoot ? out!.region.sub(0, bytes) : env.scratch(bytes);
      env.copy(acc, src.region);
      await reduceBinomial(env, acc, root, red);
    }
  };
}
const reduce = collective("MPI_Reduce", "MPI_Ireduce", reduceBody);

function allreduceBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  recvbuf: Buf,
  op: ReductionOp,
  opts?: CollOptions<"allreduce">,
): CollBody {
  return async (env) => {
    const { src, acc, red } = accumulator(c, what, sendbuf, recvbuf, op);
    env.copy(acc, src);
    if (c.size === 1 || acc.bytes === 0) return;
    const algo = pickAlgorithm(c, "allreduce", opts, {
      bytes: acc.bytes,
      count: red.count,
      commutative: isCommutative(op),
    });
    if (algo === "ring") await allreduceRing(env, acc, red);
    else if (algo === "rabenseifner") await allreduceRabenseifner(env, acc, red);
    else await allreduceRecursiveDoubling(env, acc, red);
  };
}
const allreduce = collective("MPI_Allreduce", "MPI_Iallreduce", allreduceBody);

/**
 * The operands of a reduction whose input and output differ in size
 * (reduce_scatter, reduce_scatter_block): with IN_PLACE the input is the
 * receive buffer, copied to scratch first since the result overwrites its
 * start.
 */
function scatterOperands(
  c: CommCore,
  env: CollEnv,
  what: string,
  sendbuf: Buf | InPlace,
  recvbuf: Buf,
): { dt: Datatype; es: number; src: Region; out: Typed } {
  const { out, src, dt } = operands(c, what, sendbuf, recvbuf);
  const input = isInPlace(sendbuf) ? sendCopy(env, out).region : src.region;
  return { dt, es: typeSize(dt), src: input, out };
}

function reduceScatterBlockBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  recvbuf: Buf,
  op: ReductionOp,
  opts?: CollOptions<"reduceScatterBlock">,
): CollBody {
  return async (env) => {
    const { dt, es, src, out } = scatterOperands(c, env, what, sendbuf, recvbuf);
    const count = src.bytes / es;
    const per = count / c.size;
    if (!Number.isInteger(per)) {
      throw new MpiError(
        "MPI_ERR_COUNT",
        `${what} on rank ${c.rank}: ${count} elements is not ${c.size} equal blocks`,
      );
    }
    const counts = new Array<number>(c.size).fill(per);
    await scatterResult(c, env, "reduceScatterBlock", opts, src, out, counts, dt, op, what);
  };
}
const reduceScatterBlock = collective(
  "MPI_Reduce_scatter_block",
  "MPI_Ireduce_scatter_block",
  reduceScatterBlockBody,
);

function reduceScatterBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  recvbuf: Buf,
  recvcounts: readonly number[],
  op: ReductionOp,
  opts?: CollOptions<"reduceScatter">,
): CollBody {
  return async (env) => {
    const { dt, es, src, out } = scatterOperands(c, env, what, sendbuf, recvbuf);
    const displs = [0];
    for (let i = 1; i < c.size; i++) displs.push(displs[i - 1] + (recvcounts[i - 1] ?? 0));
    vector(c, what, "receive", recvcounts, displs, src.bytes / es);
    await scatterResult(
      c,
      env,
      "reduceScatter",
      opts,
      src.sub(0, (displs[c.size - 1] + recvcounts[c.size - 1]) * es),
      out,
      recvcounts,
      dt,
      op,
      what,
    );
  };
}
const reduceScatter = collective("MPI_Reduce_scatter", "MPI_Ireduce_scatter", reduceScatterBody);

/** Block `rank` of the reduction of `input` (blocks of `counts` elements) into `out`. */
async function scatterResult(
  c: CommCore,
  env: CollEnv,
  coll: "reduceScatter" | "reduceScatterBlock",
  opts: CollOptions<"reduceScatter" | "reduceScatterBlock"> | undefined,
  input: Region,
  out: { region: Region },
  counts: readonly number[],
  dt: Datatype,
  op: ReductionOp,
  what: string,
): Promise<void> {
  const es = typeSize(dt), count = input.bytes / es;
  checkOp(op, dt, count, `${what} on rank ${c.rank}`);
  const mine = counts[c.rank] * es;
  fits(c, what, "receive buffer", out.region, mine);
  const src = input;
  const o = out.region.sub(0, mine);
  if (c.size === 1 || input.bytes === 0) return env.copy(o, src.sub(0, mine));
  const red = { count, es, dt, op };
  const a = pickAlgorithm(c, coll, opts, {
    bytes: input.bytes,
    count,
    commutative: isCommutative(op),
    regular: counts.every((n) => n === counts[0]),
  });
  if (a === "pairwise") await reduceScatterPairwise(env, src, o, counts, red);
  else if (a === "noncommutative") await reduceScatterNoncommutative(env, src, o, counts, red);
  else if (a === "recursive_doubling") {
    await reduceScatterRecursiveDoubling(env, src, o, counts, red);
  } else await reduceScatterRecursiveHalving(env, src, o, counts, red);
}

function scanBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  recvbuf: Buf,
  op: ReductionOp,
  opts?: CollOptions<"scan">,
): CollBody {
  return async (env) => {
    const { src, acc, red } = accumulator(c, what, sendbuf, recvbuf, op);
    env.copy(acc, src);
    if (c.size === 1 || acc.bytes === 0) return;
    pickAlgorithm(c, "scan", opts, { bytes: acc.bytes, count: red.count });
    await scanRecursiveDoubling(env, acc, red);
  };
}
const scan = collective("MPI_Scan", "MPI_Iscan", scanBody);

function exscanBody(
  c: CommCore,
  what: string,
  sendbuf: Buf | InPlace,
  recvbuf: Buf,
  op: ReductionOp,
  opts?: CollOptions<"exscan">,
): CollBody {
  return async (env) => {
    const { src, acc, red } = accumulator(c, what, sendbuf, recvbuf, op);
    const mine = isInPlace(sendbuf) ? acc : src;
    if (c.size === 1 || acc.bytes === 0) return;
    pickAlgorithm(c, "exscan", opts, { bytes: acc.bytes, count: red.count });
    await exscanRecursiveDoubling(env, mine, acc, red);
  };
}
const exscan = collective("MPI_Exscan", "MPI_Iexscan", exscanBody);

/**
 * The reduction collectives, as `Comm`'s methods of the same names forward
 * to them with the communicator's {@link CommCore}: the blocking calls and
 * their non-blocking twins (`ireduce`, `iallreduce`, …).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IN_PLACE } from "./constants.ts";
 * import { mpiexec } from "./launch.ts";
 * const { results } = await mpiexec({ np: 4, mode: "native" }, async (comm) => {
 *   const v = new Int32Array([comm.rank + 1]);
 *   await comm.scan(IN_PLACE, v, "SUM");
 *   return v[0];
 * });
 * assert.deepEqual(results, [1, 3, 6, 10]);
 * ```
 */
export const reductionCalls = {
  reduce: reduce.blocking,
  allreduce: allreduce.blocking,
  reduceScatterBlock: reduceScatterBlock.blocking,
  reduceScatter: reduceScatter.blocking,
  scan: scan.blocking,
  exscan: exscan.blocking,
  ireduce: reduce.nonblocking,
  iallreduce: allreduce.nonblocking,
  ireduceScatterBlock: reduceScatterBlock.nonblocking,
  ireduceScatter: reduceScatter.nonblocking,
  iscan: scan.nonblocking,
  iexscan: exscan.nonblocking,
} as const;
