/**
 * What the call modules (send_recv.ts, probe.ts, completion.ts, memory.ts,
 * compute.ts, coll_*.ts, topology.ts) see of a communicator. `Comm` keeps its error
 * handler, algorithm choices and freed flag private and hands each module
 * only this: its identity, the check every call starts with, and its error
 * handler as a function. A module can apply the handler but not change it,
 * and cannot make or free a communicator.
 *
 * Not exported from mod.ts: programs use `Comm`'s methods.
 *
 * @module
 */
import { ANY_SOURCE, ANY_TAG, PROC_NULL, TAG_UB } from "./constants.ts";
import type { Collective } from "./coll/tuning.ts";
import { MpiError } from "./errors.ts";
import type { MpiProcess } from "./process.ts";

/**
 * A communicator as a call module sees it. `E` is what a call gives back
 * instead of its result when it fails: `never` under ERRORS_ARE_FATAL,
 * `MpiError` under the other handlers (`Comm`'s `ErrorOutcome<H>`), so the
 * modules are typed without naming `Comm`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CommCore } from "./comm_core.ts";
 * // A ring's neighbours need only the identity part of a communicator.
 * const right = (c: Pick<CommCore<never>, "rank" | "size">) => (c.rank + 1) % c.size;
 * assert.equal(right({ rank: 3, size: 4 }), 0);
 * ```
 */
export interface CommCore<E extends MpiError = MpiError> {
  /** The process this rank is. */
  readonly proc: MpiProcess;
  /** World ranks of the members, in rank order. */
  readonly group: readonly number[];
  /** This process's rank in the communicator. */
  readonly rank: number;
  /** Number of ranks. */
  readonly size: number;
  /** Context id: point-to-point uses 2·id, collectives 2·id + 1. */
  readonly contextId: number;
  /** For messages (`MPI_COMM_WORLD`, …). */
  readonly name: string;
  /** Throw unless the process may make MPI calls and the communicator is not freed. */
  check(what: string): void;
  /** Give `e` to the communicator's error handler: throws it, or returns it for the call to return. */
  raise(e: unknown): E;
  /** Whether the handler is ERRORS_ARE_FATAL (a multiple completion call then stops at the first error). */
  fatal(): boolean;
  /** The algorithm `setAlgorithm` chose for `coll` on this communicator, if any. */
  algorithm(coll: Collective): string | undefined;
  /**
   * The sequence number of the next non-blocking collective started on
   * this communicator (0, 1, 2, …; MPICH's `next_sched_tag`): every member
   * starts them in the same order, so the number names the same operation
   * everywhere and picks its tags.
   */
  nextSchedule(): number;
  /** The communicator's Cartesian topology, if it has one (`cartCreate`, `cartSub`, a `dup` of either). */
  topology(): CartTopology | undefined;
}

/**
 * A Cartesian topology (MPI-4.0 §8.5.1) as a communicator carries it: the
 * extent of each dimension and whether it wraps around. Rank `r` of the
 * communicator sits at the coordinates of `r` in row-major order (the last
 * dimension varies fastest, §8.5.5). Zero dimensions: a grid of one process.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CartTopology } from "./comm_core.ts";
 * const torus: CartTopology = { dims: [4, 4], periods: [true, true] };
 * assert.equal(torus.dims.reduce((a, b) => a * b, 1), 16);
 * ```
 */
export interface CartTopology {
  /** Processes along each dimension (each at least 1). */
  readonly dims: readonly number[];
  /** Whether each dimension is periodic. */
  readonly periods: readonly boolean[];
}

/**
 * The checks of a point-to-point call's envelope, in MPICH's order: the
 * communicator, then the peer (`role`: "destination" or "source"; PROC_NULL
 * always allowed, ANY_SOURCE when `wildcard`), then the tag (ANY_TAG when
 * `wildcard`, else 0..TAG_UB).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkEnvelope } from "./comm_core.ts";
 * import { ANY_SOURCE } from "./constants.ts";
 * const c = { rank: 0, size: 2, name: "MPI_COMM_WORLD", check() {} };
 * checkEnvelope(c, "MPI_Recv", ANY_SOURCE, "source", 7, true);
 * assert.throws(
 *   () => checkEnvelope(c, "MPI_Send", 2, "destination", 0, false),
 *   /MPI_Send on rank 0: destination 2 outside 0..1 of MPI_COMM_WORLD/,
 * );
 * ```
 */
export function checkEnvelope(
  c: Pick<CommCore, "rank" | "size" | "name" | "check">,
  what: string,
  peer: number,
  role: string,
  tag: number,
  wildcard: boolean,
): void {
  c.check(what);
  if (peer !== PROC_NULL && !(wildcard && peer === ANY_SOURCE)) {
    if (!Number.isInteger(peer) || peer < 0 || peer >= c.size) {
      throw new MpiError(
        "MPI_ERR_RANK",
        `${what} on rank ${c.rank}: ${role} ${peer} outside 0..${c.size - 1} of ${c.name}`,
      );
    }
  }
  if (wildcard && tag === ANY_TAG) return;
  if (!Number.isInteger(tag) || tag < 0 || tag > TAG_UB) {
    throw new MpiError(
      "MPI_ERR_TAG",
      `${what} on rank ${c.rank}: tag ${tag} outside 0..${TAG_UB}`,
    );
  }
}
