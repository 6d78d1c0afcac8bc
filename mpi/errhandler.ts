/**
 * Error handlers (MPI-3.1 §8.3): what happens when a call on a
 * communicator detects an error. `ERRORS_ARE_FATAL` (every communicator's
 * at the start) throws the {@link MpiError}; uncaught, it ends the job, as
 * MPI's handler aborts it. `ERRORS_RETURN` makes the call return the error
 * instead (MPI's error code, here the error object with its class in
 * `code`); a function is a user handler (`MPI_Comm_create_errhandler`),
 * called with the communicator and the error before the call returns it.
 *
 * The handler is a type parameter of `Comm`, so that a call's result says
 * whether it may be an error: `comm.setErrhandler(ERRORS_RETURN)` returns
 * the communicator typed `Comm<"ERRORS_RETURN">`, whose `recv` resolves to
 * `Status | MpiError`.
 *
 * @module
 */
import type { Comm } from "./comm.ts";
import type { MpiError } from "./errors.ts";

/**
 * `MPI_ERRORS_ARE_FATAL`: a call that detects an error throws it (the default).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ERRORS_ARE_FATAL } from "./errhandler.ts";
 * assert.equal(ERRORS_ARE_FATAL, "ERRORS_ARE_FATAL");
 * ```
 */
export const ERRORS_ARE_FATAL = "ERRORS_ARE_FATAL" as const;

/**
 * `MPI_ERRORS_RETURN`: a call that detects an error returns it (an
 * {@link MpiError}) instead of throwing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ERRORS_RETURN } from "./errhandler.ts";
 * assert.equal(ERRORS_RETURN, "ERRORS_RETURN");
 * ```
 */
export const ERRORS_RETURN = "ERRORS_RETURN" as const;

/**
 * A user error handler (`MPI_Comm_errhandler_function`): called with the
 * communicator and the error; when it returns, the call returns the error.
 * It may throw to end the rank instead.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ErrhandlerFunction } from "./errhandler.ts";
 * const seen: string[] = [];
 * const log: ErrhandlerFunction = (_comm, e) => void seen.push(e.code);
 * assert.equal(typeof log, "function");
 * ```
 */
export type ErrhandlerFunction = (comm: Comm<Errhandler>, error: MpiError) => void;

/**
 * An error handler: one of the predefined ones, or a user function.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Errhandler, ERRORS_RETURN } from "./errhandler.ts";
 * const h: Errhandler = ERRORS_RETURN;
 * assert.equal(h, "ERRORS_RETURN");
 * ```
 */
export type Errhandler = typeof ERRORS_ARE_FATAL | typeof ERRORS_RETURN | ErrhandlerFunction;

/**
 * What a call may give back instead of its result under handler `H`:
 * nothing under ERRORS_ARE_FATAL (it throws), an {@link MpiError} otherwise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ErrorOutcome } from "./errhandler.ts";
 * import { MpiError } from "./errors.ts";
 * const e: ErrorOutcome<"ERRORS_RETURN"> = new MpiError("MPI_ERR_TAG", "tag -1");
 * assert.equal(e.code, "MPI_ERR_TAG");
 * ```
 */
export type ErrorOutcome<H extends Errhandler> = H extends typeof ERRORS_ARE_FATAL ? never
  : MpiError;

/**
 * Whether `h` is an error handler.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ERRORS_RETURN, isErrhandler } from "./errhandler.ts";
 * assert.equal(isErrhandler(ERRORS_RETURN), true);
 * assert.equal(isErrhandler("ERRORS_IGNORE"), false);
 * ```
 */
export function isErrhandler(h: unknown): h is Errhandler {
  return h === ERRORS_ARE_FATAL || h === ERRORS_RETURN || typeof h === "function";
}
