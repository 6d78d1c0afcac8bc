/**
 * `VerbsError`: what every verbs call throws or rejects with. `errno` is the
 * Linux value a provider would return, `code` its name.
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
   * @param code errno name
   * @param message what was wrong, naming the call and the argument
   */
  constructor(readonly code: ErrnoCode, message: string) {
    super(`${code}: ${message}`);
    this.name = "VerbsError";
    this.errno = Errno[code];
  }
}
