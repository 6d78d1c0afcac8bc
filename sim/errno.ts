/**
 * Linux errno values: the one table both the verbs layer (`VerbsError`) and
 * the hypervisor (`XenError`) report with, so a number means the same thing
 * on every path. Platform-level, so neither has to import the other.
 *
 * @module
 */

/**
 * Linux errno values by name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Errno } from "./errno.ts";
 * assert.equal(Errno.EINVAL, 22); // as in Linux's include/uapi/asm-generic/errno-base.h
 * assert.equal(Errno.ETIMEDOUT, 110);
 * ```
 */
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
  EOVERFLOW: 75,
  ENOSYS: 38,
  ENOTCONN: 107,
  ETIMEDOUT: 110,
  ECONNRESET: 104,
  EPROTONOSUPPORT: 93,
  EOPNOTSUPP: 95,
  ECANCELED: 125,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENETUNREACH: 101,
  EISCONN: 106,
  ECONNREFUSED: 111,
  EHOSTUNREACH: 113,
} as const;

/**
 * A name in {@link Errno}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Errno, type ErrnoCode } from "./errno.ts";
 * const hypercallRc = (code: ErrnoCode) => -Errno[code]; // Xen returns -errno
 * assert.equal(hypercallRc("EBUSY"), -16);
 * ```
 */
export type ErrnoCode = keyof typeof Errno;
