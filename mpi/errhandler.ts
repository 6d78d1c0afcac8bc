/**
 * What an error handler does with the error a call detects (MPI-3.1 §8.3).
 * The handler types (`Errhandler`, `ErrhandlerFunction`, `ErrorOutcome`)
 * stay in comm.ts: a handler function is called with the communicator, and
 * the communicator is typed by its handler, so the types cannot leave
 * `Comm` without an import cycle. This module is generic over the
 * communicator for the same reason.
 *
 * @module
 */
import { ERRORS_ARE_FATAL, ERRORS_RETURN } from "./constants.ts";
import { MpiError } from "./errors.ts";

/** Errors a user error handler has been given already (a call returning another's error). */
const handled = new WeakSet<MpiError>();

/**
 * MPI-3.1 §8.3: an error a call on a communicator detects goes to the
 * communicator's error handler. ERRORS_ARE_FATAL throws it; otherwise a
 * user function is called with it (once per error), and the call returns
 * it. What is not an MPI error (a bug in the program) and the job's end
 * (`failure`: aborted, deadlocked) always throw: no call returns from those.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { raise } from "./errhandler.ts";
 * import { MpiError } from "./errors.ts";
 * const e = new MpiError("MPI_ERR_TAG", "tag -1");
 * assert.throws(() => raise("ERRORS_ARE_FATAL", "comm", e, undefined), /tag -1/);
 * assert.equal(raise("ERRORS_RETURN", "comm", e, undefined), e);
 * const seen: string[] = [];
 * const log = (c: string, err: MpiError) => void seen.push(`${c}: ${err.code}`);
 * raise(log, "comm", e, undefined);
 * raise(log, "comm", e, undefined); // an error returned on by an outer call: not again
 * assert.deepEqual(seen, ["comm: MPI_ERR_TAG"]);
 * assert.throws(() => raise("ERRORS_RETURN", "comm", e, e), /tag -1/);
 * ```
 */
export function raise<C>(
  handler: typeof ERRORS_ARE_FATAL | typeof ERRORS_RETURN | ((comm: C, error: MpiError) => void),
  comm: C,
  e: unknown,
  failure: MpiError | undefined,
): MpiError {
  if (handler === ERRORS_ARE_FATAL || !(e instanceof MpiError) || e === failure) throw e;
  if (typeof handler === "function" && !handled.has(e)) {
    handled.add(e);
    handler(comm, e);
  }
  return e;
}

/**
 * Whether `h` is an error handler: ERRORS_ARE_FATAL, ERRORS_RETURN or a function.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isErrhandler } from "./errhandler.ts";
 * assert.equal(isErrhandler("ERRORS_RETURN"), true);
 * assert.equal(isErrhandler(() => {}), true);
 * assert.equal(isErrhandler("ERRORS_IGNORE"), false);
 * ```
 */
export function isErrhandler(
  h: unknown,
): h is typeof ERRORS_ARE_FATAL | typeof ERRORS_RETURN | ((...args: never[]) => unknown) {
  return h === ERRORS_ARE_FATAL || h === ERRORS_RETURN || typeof h === "function";
}

/**
 * MPI_Comm_set_errhandler's and MPI_Win_set_errhandler's check: `h` must be
 * an error handler, else `MPI_ERR_ARG` naming the call and the rank.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkErrhandler } from "./errhandler.ts";
 * checkErrhandler("MPI_Win_set_errhandler", 0, "ERRORS_RETURN");
 * assert.throws(() => checkErrhandler("MPI_Win_set_errhandler", 1, 7), /MPI_ERR_ARG: .* 7 is not an error handler/);
 * ```
 */
export function checkErrhandler(what: string, rank: number, h: unknown): void {
  if (isErrhandler(h)) return;
  throw new MpiError(
    "MPI_ERR_ARG",
    `${what} on rank ${rank}: ${
      String(h)
    } is not an error handler (ERRORS_ARE_FATAL, ERRORS_RETURN or a function)`,
  );
}

/**
 * MPI_Comm_call_errhandler's and MPI_Win_call_errhandler's work (MPI 4.0
 * §9.5): give the program's own `error` to `handler`, called with `obj` (the
 * communicator or window). ERRORS_ARE_FATAL throws it; a function is called
 * with it; then the call returns nothing, as under ERRORS_RETURN (MPICH's
 * comm_call_errhandler.c and win_call_errhandler.c return MPI_SUCCESS
 * whatever the handler did). What is not an {@link MpiError} is
 * `MPI_ERR_ARG`, thrown whatever the handler.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { callErrhandler } from "./errhandler.ts";
 * import { MpiError } from "./errors.ts";
 * const e = new MpiError("MPI_ERR_OTHER", "the program's own");
 * assert.throws(() => callErrhandler("MPI_Comm_call_errhandler", 0, "ERRORS_ARE_FATAL", "c", e), /own/);
 * assert.equal(callErrhandler("MPI_Comm_call_errhandler", 0, "ERRORS_RETURN", "c", e), undefined);
 * const seen: string[] = [];
 * callErrhandler("MPI_Comm_call_errhandler", 0, (c: string, x: MpiError) => void seen.push(`${c}: ${x.code}`), "c", e);
 * assert.deepEqual(seen, ["c: MPI_ERR_OTHER"]);
 * assert.throws(() => callErrhandler("MPI_Win_call_errhandler", 2, "ERRORS_RETURN", "w", 5 as never), /MPI_ERR_ARG: .*rank 2: 5 is not an MPI error/);
 * ```
 */
export function callErrhandler<C>(
  what: string,
  rank: number,
  handler: typeof ERRORS_ARE_FATAL | typeof ERRORS_RETURN | ((obj: C, error: MpiError) => void),
  obj: C,
  error: MpiError,
): void {
  if (!(error instanceof MpiError)) {
    throw new MpiError(
      "MPI_ERR_ARG",
      `${what} on rank ${rank}: ${String(error).slice(0, 60)} is not an MPI error`,
    );
  }
  if (handler === ERRORS_ARE_FATAL) throw error;
  if (typeof handler === "function") handler(obj, error);
}

/**
 * The result of a call made inside another: an error it returned (its
 * handler has seen it) is thrown on, for the outer call to raise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { thrown } from "./errhandler.ts";
 * import { MpiError } from "./errors.ts";
 * assert.equal(thrown(3), 3);
 * assert.throws(() => thrown(new MpiError("MPI_ERR_RANK", "rank 9")), /rank 9/);
 * ```
 */
export function thrown<T>(r: T): Exclude<T, MpiError> {
  if (r instanceof MpiError) throw r;
  return r as Exclude<T, MpiError>;
}
