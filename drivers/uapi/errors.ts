/**
 * `VerbsError`: what every verbs call throws or rejects with. `errno` is the
 * Linux value a provider would return, `code` its name. One made by
 * {@link requestError} is about the caller's own request (`ownRequest`):
 * the only kind whose text crosses from dom0 to a guest.
 *
 * @module
 */

import { Errno, type ErrnoCode } from "../../sim/errno.ts";

export { Errno, type ErrnoCode };

/**
 * Error of a verbs call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VerbsError } from "./errors.ts";
 * const e = new VerbsError("EINVAL", "modify_qp: missing attribute path_mtu for INIT->RTR");
 * assert.equal(e.errno, 22);
 * assert.equal(e.code, "EINVAL");
 * assert.equal(e.message, "EINVAL: modify_qp: missing attribute path_mtu for INIT->RTR");
 * ```
 */
export class VerbsError extends Error {
  /** Linux errno value. */
  readonly errno: number;
  /**
   * `ibv_post_send`/`ibv_post_recv`/`ibv_post_srq_recv`: the index, in the
   * list given, of the work request that failed (the call's `bad_wr`); those
   * before it were posted, none after it. Undefined for other calls.
   */
  badWr?: number;
  #ownRequest: boolean;
  /**
   * An error of errno `code`; the message begins with the code.
   *
   * @param code errno name
   * @param message what was wrong, naming the call and the argument
   * @param options `ownRequest`: the message describes only the caller's own
   *   request (see {@link requestError}, the usual way to make one)
   */
  constructor(readonly code: ErrnoCode, message: string, options?: { ownRequest?: boolean }) {
    super(`${code}: ${message}`);
    this.name = "VerbsError";
    this.errno = Errno[code];
    this.#ownRequest = options?.ownRequest === true;
  }

  /**
   * True when the error is about the caller's own request and its message
   * describes nothing else ({@link requestError}); set where the error is
   * made, never changed.
   */
  get ownRequest(): boolean {
    return this.#ownRequest;
  }
}

/**
 * A {@link VerbsError} about the caller's own request (`ownRequest` true):
 * an argument it passed, a rule about an object it holds (a PD still in
 * use, a QP state it cannot take that way), a limit it is held to. Its
 * message describes only what the caller sent or holds, so a kernel that
 * serves another domain may hand it back across the boundary: dom0's
 * backend passes a refusal's text to the guest only for such an error;
 * every other error (the hypervisor's, the HCA command layer's, dom0's own
 * memory, mappings and pools) reaches the guest as its errno and a fixed
 * reason, its text staying in dom0. The mark is set by the check that runs
 * on the caller's behalf, where it makes the error, never inferred later
 * from the text: a message built from another error's text is about the
 * caller's own request only when that error was. The error is an ordinary
 * `VerbsError` otherwise (same class, name and message).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestError, VerbsError } from "./errors.ts";
 * const e = requestError("EINVAL", "reg_mr: REMOTE_WRITE/REMOTE_ATOMIC require LOCAL_WRITE");
 * assert.ok(e instanceof VerbsError && e.ownRequest);
 * assert.equal(e.message, "EINVAL: reg_mr: REMOTE_WRITE/REMOTE_ATOMIC require LOCAL_WRITE");
 * assert.equal(new VerbsError("ENOMEM", "mthca0: MTT table full").ownRequest, false);
 * ```
 */
export function requestError(code: ErrnoCode, message: string): VerbsError {
  return new VerbsError(code, message, { ownRequest: true });
}

/**
 * The error a post verb throws when WR `i` of the `n` it was given failed
 * with `e`: `e` itself for a single WR, a copy naming the WR for a list;
 * either way with `badWr` set to `i` (`ibv_post_send`'s `bad_wr`), about
 * the caller's own request when `e` was. Anything but a
 * {@link VerbsError} is returned as it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VerbsError, withBadWr } from "./errors.ts";
 * const e = withBadWr(new VerbsError("ENOMEM", "post_send QP 5: send queue full"), 2, 4);
 * assert.ok(e instanceof VerbsError);
 * assert.equal(e.badWr, 2);
 * assert.match(e.message, /^ENOMEM: post_send QP 5: send queue full \(wr\[2\] of 4/);
 * ```
 */
export function withBadWr(e: unknown, i: number, n: number): unknown {
  if (!(e instanceof VerbsError)) return e;
  const out = n === 1 ? e : new VerbsError(
    e.code,
    `${
      e.message.slice(e.code.length + 2)
    } (wr[${i}] of ${n}: the ${i} before it were posted, none after it)`,
    { ownRequest: e.ownRequest },
  );
  out.badWr = i;
  return out;
}
