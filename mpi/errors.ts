/**
 * MPI error classes (MPI-3.1 §8.4, Table 8.7) as one error type: every
 * misuse the library detects raises an {@link MpiError} whose `code` is the
 * MPI error class name and whose message is one line naming the call, the
 * rank and what was wrong. The communicator's error handler (`Comm`'s
 * `setErrhandler`) decides whether it is thrown or returned.
 *
 * @module
 */
import type { Status } from "./request.ts";

/**
 * The MPI error classes this library raises (MPI-3.1 Table 8.7).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MpiErrorCode } from "./errors.ts";
 * const code: MpiErrorCode = "MPI_ERR_TRUNCATE";
 * assert.equal(code, "MPI_ERR_TRUNCATE");
 * ```
 */
export type MpiErrorCode =
  | "MPI_ERR_BUFFER"
  | "MPI_ERR_COUNT"
  | "MPI_ERR_TYPE"
  | "MPI_ERR_TAG"
  | "MPI_ERR_COMM"
  | "MPI_ERR_RANK"
  | "MPI_ERR_ROOT"
  | "MPI_ERR_GROUP"
  | "MPI_ERR_OP"
  | "MPI_ERR_TOPOLOGY"
  | "MPI_ERR_DIMS"
  | "MPI_ERR_ARG"
  | "MPI_ERR_REQUEST"
  | "MPI_ERR_TRUNCATE"
  | "MPI_ERR_NO_MEM"
  | "MPI_ERR_IN_STATUS"
  | "MPI_ERR_INTERN"
  | "MPI_ERR_OTHER"
  | "MPI_ERR_WIN"
  | "MPI_ERR_LOCKTYPE"
  | "MPI_ERR_RMA_SYNC"
  | "MPI_ERR_SIZE"
  | "MPI_ERR_DISP"
  | "MPI_ERR_ASSERT"
  | "MPI_ERR_RMA_RANGE";

/**
 * The numeric value of each error class, as MPICH's (and so MVAPICH's)
 * `mpi.h` defines it (`MPI_SUCCESS` is 0): what `MPI_Error_class` returns
 * to a C program. {@link MpiError.errorClass} reads it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ERROR_CLASSES } from "./errors.ts";
 * assert.equal(ERROR_CLASSES.MPI_ERR_TRUNCATE, 14);
 * assert.equal(ERROR_CLASSES.MPI_ERR_IN_STATUS, 17);
 * assert.equal(ERROR_CLASSES.MPI_ERR_TOPOLOGY, 10);
 * ```
 */
export const ERROR_CLASSES: Readonly<Record<MpiErrorCode, number>> = Object.freeze({
  MPI_ERR_BUFFER: 1,
  MPI_ERR_COUNT: 2,
  MPI_ERR_TYPE: 3,
  MPI_ERR_TAG: 4,
  MPI_ERR_COMM: 5,
  MPI_ERR_RANK: 6,
  MPI_ERR_ROOT: 7,
  MPI_ERR_GROUP: 8,
  MPI_ERR_OP: 9,
  MPI_ERR_TOPOLOGY: 10,
  MPI_ERR_DIMS: 11,
  MPI_ERR_ARG: 12,
  MPI_ERR_TRUNCATE: 14,
  MPI_ERR_OTHER: 15,
  MPI_ERR_INTERN: 16,
  MPI_ERR_IN_STATUS: 17,
  MPI_ERR_REQUEST: 19,
  MPI_ERR_NO_MEM: 34,
  MPI_ERR_WIN: 45,
  MPI_ERR_LOCKTYPE: 47,
  MPI_ERR_RMA_SYNC: 50,
  MPI_ERR_SIZE: 51,
  MPI_ERR_DISP: 52,
  MPI_ERR_ASSERT: 53,
  MPI_ERR_RMA_RANGE: 55,
});

/**
 * `MPI_SUCCESS`: the error class of no error.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SUCCESS } from "./errors.ts";
 * assert.equal(SUCCESS, 0);
 * ```
 */
export const SUCCESS = 0 as const;

/**
 * An MPI error: `code` is the error class, the message one line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MpiError } from "./errors.ts";
 * const e = new MpiError("MPI_ERR_RANK", "MPI_Send on rank 0: destination 7 outside 0..3");
 * assert.equal(e.name, "MpiError");
 * assert.equal(e.code, "MPI_ERR_RANK");
 * assert.ok(e.message.startsWith("MPI_ERR_RANK: MPI_Send"));
 * ```
 */
export class MpiError extends Error {
  /**
   * An MPI error of class `code`.
   *
   * @param code the MPI error class
   * @param detail what was wrong (one line; the code is prefixed)
   */
  constructor(readonly code: MpiErrorCode, detail: string) {
    super(`${code}: ${detail}`);
    this.name = "MpiError";
  }

  /**
   * The status of the operation that failed, when it had one: a receive's source, tag and the
   * bytes that did arrive (a truncated message's first `bytes`). MPI fills the status of a
   * receive it matched even when the call returns an error (MPI-3.1 §3.2.5: MPI_SOURCE and
   * MPI_TAG are set, MPI_ERROR only by the calls of several statuses), so a program under
   * `ERRORS_RETURN` can read it here; a multiple-completion
   * call's statuses carry it instead (`InStatusError.statuses`).
   */
  status?: Status;

  /**
   * For `waitany` and `testany`: the index of the request whose operation failed (MPICH's
   * MPIR_Waitany sets `*indx` before the request's completion processing returns its error,
   * src/mpi/request/request_impl.c), so a program under `ERRORS_RETURN` knows which one did.
   */
  index?: number;

  /** The class's number, as `MPI_Error_class` gives it (MPICH's values, {@link ERROR_CLASSES}). */
  get errorClass(): number {
    return ERROR_CLASSES[this.code];
  }
}
