/**
 * `VerbsError`: what every verbs call throws or rejects with. `errno` is the
 * Linux value a provider would return, `code` its name.
 *
 * @module
 */

/** Linux errno values used by verbs and the hypervisor. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  ENOSYS: 38,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNRESET: 104,
  EOPNOTSUPP: 95,
} as const;

/** A name in {@link Errno}. */
export type ErrnoCode = keyof typeof Errno;

/**
 * Error of a verbs call.
 *
 * @example
 * ```ts
 * import { VerbsError } from "./errors.ts";
 * const e = new VerbsError("EINVAL", "modify_qp: missing attribute path_mtu for INIT->RTR");
 * console.log(e.errno, e.code); // 22 EINVAL
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
