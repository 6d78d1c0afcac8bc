/**
 * Which algorithm each collective uses: the names, MPICH's switch points
 * (its `MPIR_CVAR_*` defaults, which MVAPICH2 inherits for its generic
 * paths) and the selection rule. A communicator or a single call may name an
 * algorithm instead (`comm.setAlgorithm`, `{ algorithm }`).
 *
 * @module
 */
import { MpiError } from "../errors.ts";

/**
 * The algorithms of each collective.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ALGORITHMS } from "./tuning.ts";
 * assert.deepEqual(ALGORITHMS.allreduce, ["recursive_doubling", "rabenseifner", "ring"]);
 * ```
 */
export const ALGORITHMS = {
  barrier: ["dissemination", "recursive_doubling"],
  bcast: ["binomial", "scatter_doubling_allgather", "scatter_ring_allgather"],
  reduce: ["binomial", "rabenseifner"],
  allreduce: ["recursive_doubling", "rabenseifner", "ring"],
  gather: ["binomial", "linear"],
  scatter: ["binomial", "linear"],
  allgather: ["recursive_doubling", "bruck", "ring"],
  alltoall: ["bruck", "scattered", "pairwise"],
  alltoallv: ["pairwise", "scattered"],
  alltoallw: ["pairwise", "scattered"],
  gatherv: ["linear"],
  scatterv: ["linear"],
  allgatherv: ["recursive_doubling", "bruck", "ring"],
  reduceScatterBlock: ["recursive_halving", "pairwise", "recursive_doubling", "noncommutative"],
  reduceScatter: ["recursive_halving", "pairwise", "recursive_doubling", "noncommutative"],
  scan: ["recursive_doubling"],
  exscan: ["recursive_doubling"],
} as const;

/**
 * A collective operation's name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Collective } from "./tuning.ts";
 * const c: Collective = "bcast";
 * assert.equal(c, "bcast");
 * ```
 */
export type Collective = keyof typeof ALGORITHMS;

/**
 * An algorithm name of collective `C`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AlgorithmOf } from "./tuning.ts";
 * const a: AlgorithmOf<"alltoall"> = "bruck";
 * assert.equal(a, "bruck");
 * ```
 */
export type AlgorithmOf<C extends Collective> = (typeof ALGORITHMS)[C][number];

/**
 * The switch points (bytes unless said), with the MPICH control variable
 * each one is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SWITCH_POINTS } from "./tuning.ts";
 * assert.equal(SWITCH_POINTS.bcastShortMsgSize, 12288);
 * ```
 */
export const SWITCH_POINTS = {
  /** MPIR_CVAR_BCAST_SHORT_MSG_SIZE: below, binomial bcast. */
  bcastShortMsgSize: 12288,
  /** MPIR_CVAR_BCAST_LONG_MSG_SIZE: below (and n a power of two), scatter + recursive doubling. */
  bcastLongMsgSize: 524288,
  /** MPIR_CVAR_BCAST_MIN_PROCS: fewer processes, always binomial. */
  bcastMinProcs: 8,
  /** MPIR_CVAR_REDUCE_SHORT_MSG_SIZE: up to it, binomial reduce. */
  reduceShortMsgSize: 2048,
  /** MPIR_CVAR_ALLREDUCE_SHORT_MSG_SIZE: up to it, recursive doubling. */
  allreduceShortMsgSize: 2048,
  /** From here the ring allreduce (MVAPICH2's ring for large messages; xenib's switch point). */
  allreduceRingMsgSize: 524288,
  /** MPIR_CVAR_ALLGATHER_SHORT_MSG_SIZE (total bytes): below, Bruck when n is not a power of two. */
  allgatherShortMsgSize: 81920,
  /** MPIR_CVAR_ALLGATHER_LONG_MSG_SIZE (total bytes): below, recursive doubling when n is a power of two. */
  allgatherLongMsgSize: 524288,
  /** MPIR_CVAR_ALLTOALL_SHORT_MSG_SIZE (per block): up to it (and n ≥ 8), Bruck. */
  alltoallShortMsgSize: 256,
  /** MPIR_CVAR_ALLTOALL_MEDIUM_MSG_SIZE (per block): up to it, scattered isend/irecv. */
  alltoallMediumMsgSize: 32768,
  /** MPICH's MPIR_Alltoall_intra_auto uses Bruck only from 8 processes. */
  alltoallMinProcs: 8,
  /**
   * MPIR_CVAR_ALLGATHERV_PIPELINE_MSG_SIZE: the ring allgatherv moves blocks
   * in pieces of max(smallest block, this). (Its algorithm choice uses the
   * allgather switch points on the total, as MPIR_Allgatherv_intra_auto does.)
   */
  allgathervPipelineMsgSize: 32768,
  /**
   * MPIR_CVAR_REDUCE_SCATTER_COMMUTATIVE_LONG_MSG_SIZE (total bytes): below,
   * recursive halving; from it, pairwise (reduce_scatter and
   * reduce_scatter_block).
   */
  reduceScatterCommutativeLongMsgSize: 524288,
} as const;

function isPow2(n: number): boolean {
  return (n & (n - 1)) === 0;
}

function pof2(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

/**
 * What the algorithm choice looks at: communicator size, bytes (see
 * {@link defaultAlgorithm}), elements of a reduction, whether its operation
 * is commutative (default yes) and whether reduce-scatter blocks are all
 * the same size (default yes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CallShape } from "./tuning.ts";
 * const c: CallShape = { n: 4, bytes: 64, count: 8, commutative: false };
 * assert.equal(c.commutative, false);
 * ```
 */
export interface CallShape {
  /** Communicator size. */
  n: number;
  /** Bytes (message, block, result or input: see defaultAlgorithm). */
  bytes: number;
  /** Elements of a reduction. */
  count?: number;
  /** The reduction's operation is commutative (default true). */
  commutative?: boolean;
  /** Every reduce-scatter block has the same size (default true). */
  regular?: boolean;
}

/**
 * Whether a named algorithm can run this call. As MPICH's collective
 * fallback does (MPIR_CVAR_COLLECTIVE_FALLBACK, "silent"), a call whose
 * named algorithm cannot runs the default choice instead: with a
 * non-commutative operation only the algorithms that combine in rank order
 * (binomial reduce, recursive-doubling allreduce, recursive-doubling and
 * noncommutative reduce-scatter), and noncommutative reduce-scatter only on
 * a power-of-two communicator with equal blocks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { usable } from "./tuning.ts";
 * assert.equal(usable("allreduce", "ring", { n: 4, bytes: 8, commutative: false }), false);
 * assert.equal(usable("reduceScatter", "noncommutative", { n: 6, bytes: 8 }), false);
 * assert.equal(usable("allreduce", "ring", { n: 4, bytes: 8 }), true);
 * ```
 */
export function usable(coll: Collective, algorithm: string, c: CallShape): boolean {
  const commutative = c.commutative ?? true;
  switch (coll) {
    case "reduce":
      return commutative || algorithm === "binomial";
    case "allreduce":
      return commutative || algorithm === "recursive_doubling";
    case "reduceScatter":
    case "reduceScatterBlock":
      if (algorithm === "noncommutative") return isPow2(c.n) && (c.regular ?? true);
      return commutative || algorithm === "recursive_doubling";
    default:
      return true;
  }
}

/**
 * The default algorithm for a call: `bytes` is the message (bcast, reduce,
 * allreduce, scan, exscan), one block (gather, scatter, alltoall), the
 * whole result (allgather, allgatherv) or input (reduceScatter(Block));
 * `count` the elements of a reduction; a non-commutative operation takes
 * MPICH's choices for it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultAlgorithm } from "./tuning.ts";
 * assert.equal(defaultAlgorithm("bcast", { n: 16, bytes: 1 << 20 }), "scatter_ring_allgather");
 * assert.equal(defaultAlgorithm("allreduce", { n: 4, bytes: 8, count: 1 }), "recursive_doubling");
 * assert.equal(defaultAlgorithm("alltoall", { n: 8, bytes: 16 }), "bruck");
 * assert.equal(defaultAlgorithm("allgatherv", { n: 6, bytes: 1 << 20 }), "ring");
 * assert.equal(defaultAlgorithm("reduceScatter", { n: 8, bytes: 64, commutative: false }), "noncommutative");
 * assert.equal(defaultAlgorithm("reduceScatter", { n: 6, bytes: 64, commutative: false }), "recursive_doubling");
 * ```
 */
export function defaultAlgorithm(
  coll: Collective,
  c: CallShape,
): string {
  const S = SWITCH_POINTS;
  const count = c.count ?? c.bytes;
  const commutative = c.commutative ?? true;
  switch (coll) {
    case "barrier":
      return "dissemination";
    case "bcast":
      if (c.bytes < S.bcastShortMsgSize || c.n < S.bcastMinProcs) return "binomial";
      if (c.bytes < S.bcastLongMsgSize && isPow2(c.n)) return "scatter_doubling_allgather";
      return "scatter_ring_allgather";
    case "reduce":
      return c.bytes <= S.reduceShortMsgSize || !commutative || count < pof2(c.n)
        ? "binomial"
        : "rabenseifner";
    case "allreduce":
      if (c.bytes <= S.allreduceShortMsgSize || !commutative || count < pof2(c.n)) {
        return "recursive_doubling";
      }
      return c.bytes < S.allreduceRingMsgSize ? "rabenseifner" : "ring";
    case "gather":
    case "scatter":
      return "binomial";
    case "allgather":
    case "allgatherv":
      if (c.bytes < S.allgatherLongMsgSize && isPow2(c.n)) return "recursive_doubling";
      if (c.bytes < S.allgatherShortMsgSize) return "bruck";
      return "ring";
    case "alltoall":
      if (c.bytes <= S.alltoallShortMsgSize && c.n >= S.alltoallMinProcs) return "bruck";
      return c.bytes <= S.alltoallMediumMsgSize ? "scattered" : "pairwise";
    case "alltoallv":
    case "alltoallw":
      return "pairwise";
    case "gatherv":
    case "scatterv":
      return "linear";
    case "reduceScatterBlock":
    case "reduceScatter":
      if (!commutative) {
        return isPow2(c.n) && (c.regular ?? true) ? "noncommutative" : "recursive_doubling";
      }
      return c.bytes < S.reduceScatterCommutativeLongMsgSize ? "recursive_halving" : "pairwise";
    case "scan":
    case "exscan":
      return "recursive_doubling";
  }
}

/**
 * Check an algorithm name given for `coll`.
 *
 * @throws MpiError MPI_ERR_ARG for an unknown collective or algorithm
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkAlgorithm } from "./tuning.ts";
 * checkAlgorithm("bcast", "binomial");
 * assert.throws(() => checkAlgorithm("bcast", "ring"), /MPI_ERR_ARG/);
 * ```
 */
export function checkAlgorithm(coll: string, name: string): void {
  const list = (ALGORITHMS as Record<string, readonly string[]>)[coll];
  if (!list) {
    throw new MpiError(
      "MPI_ERR_ARG",
      `unknown collective '${coll}' (known: ${Object.keys(ALGORITHMS).join(", ")})`,
    );
  }
  if (!list.includes(name)) {
    throw new MpiError(
      "MPI_ERR_ARG",
      `${coll}: unknown algorithm '${name}' (known: ${list.join(", ")})`,
    );
  }
}
