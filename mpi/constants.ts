/**
 * MPI's predefined constants (MPI-3.1 Annex A.1.1): wildcards, the null
 * process, the in-place marker and the tag bound.
 *
 * @module
 */

/**
 * Receive from any source (`MPI_ANY_SOURCE`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ANY_SOURCE } from "./constants.ts";
 * assert.equal(ANY_SOURCE, -1);
 * ```
 */
export const ANY_SOURCE: -1 = -1;

/**
 * Receive any tag (`MPI_ANY_TAG`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ANY_TAG } from "./constants.ts";
 * assert.equal(ANY_TAG, -1);
 * ```
 */
export const ANY_TAG: -1 = -1;

/**
 * The null process (`MPI_PROC_NULL`): a send to it or a receive from it
 * completes at once and moves no data (MPI-3.1 §3.11).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PROC_NULL } from "./constants.ts";
 * assert.equal(PROC_NULL, -2);
 * ```
 */
export const PROC_NULL: -2 = -2;

/**
 * `MPI_UNDEFINED`: the color that keeps a process out of `comm.split`;
 * what `comm.topoTest` says of a communicator without a topology and
 * `comm.cartMap` of a process outside the grid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UNDEFINED } from "./constants.ts";
 * assert.equal(UNDEFINED, -32766);
 * ```
 */
export const UNDEFINED: -32766 = -32766;

/**
 * `MPI_IDENT`: `comm.compare`'s answer for the same communicator
 * (MPICH's value).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IDENT } from "./constants.ts";
 * assert.equal(IDENT, 0);
 * ```
 */
export const IDENT = 0 as const;

/**
 * `MPI_CONGRUENT`: the same members in the same order, another context
 * (a `dup`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CONGRUENT } from "./constants.ts";
 * assert.equal(CONGRUENT, 1);
 * ```
 */
export const CONGRUENT = 1 as const;

/**
 * `MPI_SIMILAR`: the same members in another order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SIMILAR } from "./constants.ts";
 * assert.equal(SIMILAR, 2);
 * ```
 */
export const SIMILAR = 2 as const;

/**
 * `MPI_UNEQUAL`: other members.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UNEQUAL } from "./constants.ts";
 * assert.equal(UNEQUAL, 3);
 * ```
 */
export const UNEQUAL = 3 as const;

/**
 * `MPI_CART` (MPI-4.0 §8.5.5): `comm.topoTest`'s answer for a communicator
 * with a Cartesian topology (MPICH's value).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CART } from "./constants.ts";
 * assert.equal(CART, 2);
 * ```
 */
export const CART = 2 as const;

/**
 * `MPI_ERRORS_ARE_FATAL` (MPI-3.1 §8.3): a call that detects an error
 * throws it; every communicator's error handler at the start.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ERRORS_ARE_FATAL } from "./constants.ts";
 * assert.equal(ERRORS_ARE_FATAL, "ERRORS_ARE_FATAL");
 * ```
 */
export const ERRORS_ARE_FATAL = "ERRORS_ARE_FATAL" as const;

/**
 * `MPI_ERRORS_RETURN` (MPI-3.1 §8.3): a call that detects an error returns
 * it (an `MpiError`) instead of throwing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ERRORS_RETURN } from "./constants.ts";
 * assert.equal(ERRORS_RETURN, "ERRORS_RETURN");
 * ```
 */
export const ERRORS_RETURN = "ERRORS_RETURN" as const;

/**
 * Largest valid tag (`MPI_TAG_UB`; the standard requires at least 32767).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TAG_UB } from "./constants.ts";
 * assert.ok(TAG_UB >= 32767);
 * ```
 */
export const TAG_UB = 0x3fff_ffff;

/**
 * The type of {@link IN_PLACE}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IN_PLACE, type InPlace } from "./constants.ts";
 * const x: InPlace = IN_PLACE;
 * assert.equal(x, IN_PLACE);
 * ```
 */
export interface InPlace {
  /** Marks the one value of this type. */
  readonly mpi: "MPI_IN_PLACE";
}

/**
 * `MPI_IN_PLACE`: pass as the send buffer of a collective to use the
 * receive buffer as input (allreduce, reduce at the root, gather at the
 * root, allgather, alltoall, alltoallv and alltoallw on every rank) or as
 * the receive buffer of scatter at the root.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IN_PLACE } from "./constants.ts";
 * assert.equal(IN_PLACE.mpi, "MPI_IN_PLACE");
 * assert.ok(Object.isFrozen(IN_PLACE));
 * ```
 */
export const IN_PLACE: InPlace = Object.freeze({ mpi: "MPI_IN_PLACE" });

/**
 * Whether a buffer argument is {@link IN_PLACE}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IN_PLACE, isInPlace } from "./constants.ts";
 * assert.equal(isInPlace(IN_PLACE), true);
 * assert.equal(isInPlace(new Uint8Array(1)), false);
 * ```
 */
export function isInPlace(x: unknown): x is InPlace {
  return x === IN_PLACE;
}
