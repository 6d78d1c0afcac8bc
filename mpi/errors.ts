/**
 * MPI error classes (MPI-3.1 §8.4, Table 8.7) as one error type: every
 * misuse the library detects throws an {@link MpiError} whose `code` is the
 * MPI error class name and whose message is one line naming the call, the
 * rank and what was wrong.
 *
 * @module
 */

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
  | "MPI_ERR_OP"
  | "MPI_ERR_ARG"
  | "MPI_ERR_REQUEST"
  | "MPI_ERR_TRUNCATE"
  | "MPI_ERR_NO_MEM"
  | "MPI_ERR_INTERN"
  | "MPI_ERR_OTHER";

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
}
