/**
 * `XenError`: how the hypervisor reports a refused operation.
 *
 * Convention (one for the whole `hypervisor/` folder): the typed API
 * (`await hv.grantMap(…)`, `xs.read(…)`, …) **throws** a `XenError`; the raw
 * hypercall dispatcher (`hv.hypercall(caller, name, args)`) never throws and
 * returns `rc` = `-errno`, as a Xen hypercall does. Any other exception
 * inside a hypercall is a bug in the model, not the guest's doing: the
 * dispatcher records it as a fault (counted in `hv.counters().faults`,
 * logged in `hv.faultLog()` and the engine's trace) and the call fails with
 * EIO, so a guest never sees a JS crash and the hypervisor keeps serving.
 *
 * The names are those of Xen's own errno list (`xen/include/public/errno.h`,
 * `XEN_E*`), which a guest decodes a hypercall's `-errno` with: only
 * errnos Xen can return are in {@link XenErrno}, and their values (Xen's
 * are Linux's numbers) come from `sim/errno.ts`, the table the verbs layer
 * uses too. `EINTR` is left out: errno.h marks it "internal only, should
 * never be exposed to the guest".
 *
 * @module
 */

import { Errno, type ErrnoCode } from "../sim/errno.ts";

/**
 * Names of `sim/errno.ts` that `xen/errno.h` defines for guests (`XEN_<name>`): the keys of
 * {@link XenErrno}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XEN_NAMES } from "./errors.ts";
 * assert.ok(XEN_NAMES.includes("ESRCH"));
 * assert.ok(!(XEN_NAMES as readonly string[]).includes("ECONNRESET")); // Linux only
 * ```
 */
export const XEN_NAMES = [
  "EPERM",
  "ENOENT",
  "ESRCH",
  "EIO",
  "ENXIO",
  "E2BIG",
  "EBADF",
  "EAGAIN",
  "ENOMEM",
  "EACCES",
  "EFAULT",
  "EBUSY",
  "EEXIST",
  "ENODEV",
  "EINVAL",
  "ENOSPC",
  "ERANGE",
  "EOVERFLOW",
  "ENOSYS",
  "EOPNOTSUPP",
  "EADDRINUSE",
  "EADDRNOTAVAIL",
  "EISCONN",
  "ENOTCONN",
  "ETIMEDOUT",
  "ECONNREFUSED",
] as const satisfies readonly ErrnoCode[];

/**
 * The errno values the hypervisor may return: Xen's (`xen/errno.h`), with
 * the platform's numbers for them (equal to Xen's).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenErrno } from "./errors.ts";
 * assert.equal(-XenErrno.ESRCH, -3); // what a hypercall naming no domain returns
 * assert.equal("ECONNRESET" in XenErrno, false); // Linux has it; Xen's errno.h does not
 * ```
 */
export const XenErrno: { readonly [K in typeof XEN_NAMES[number]]: typeof Errno[K] } = Object
  .freeze(Object.fromEntries(XEN_NAMES.map((n) => [n, Errno[n]]))) as {
    readonly [K in typeof XEN_NAMES[number]]: typeof Errno[K];
  };

/**
 * A name in {@link XenErrno}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type XenErrnoCode, XenError } from "./errors.ts";
 * const refuse = (code: XenErrnoCode) => new XenError(code, "refused");
 * assert.equal(refuse("EPERM").errno, 1);
 * ```
 */
export type XenErrnoCode = keyof typeof XenErrno;

/**
 * A refused hypervisor operation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenError } from "./errors.ts";
 * const e = new XenError("EPERM", "domctl:createdomain: caller dom1 is not privileged");
 * assert.deepEqual([e.errno, e.code, e.rc], [1, "EPERM", -1]);
 * assert.equal(e.message, "EPERM: domctl:createdomain: caller dom1 is not privileged");
 * ```
 */
export class XenError extends Error {
  /** Linux errno value (positive). */
  readonly errno: number;
  /**
   * An error with `errno` taken from {@link XenErrno}.
   * @param code errno name
   * @param message what was refused, naming the operation and the argument
   */
  constructor(readonly code: XenErrnoCode, message: string) {
    super(`${code}: ${message}`);
    this.name = "XenError";
    this.errno = XenErrno[code];
  }

  /** The hypercall return value for this error: `-errno`. */
  get rc(): number {
    return -this.errno;
  }
}

/**
 * The hypercall return value for `e`: `-errno` for a {@link XenError},
 * `-EIO` for anything else (an internal fault; the dispatcher records
 * faults before it gets here, see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rc, XenError } from "./errors.ts";
 * assert.equal(rc(new XenError("EINVAL", "bad port")), -22);
 * assert.equal(rc(new TypeError("a bug")), -5); // EIO
 * ```
 */
export function rc(e: unknown): number {
  return e instanceof XenError ? e.rc : -XenErrno.EIO;
}

/**
 * The errno name for a negative hypercall return value, or `"OK"` for 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errnoName } from "./errors.ts";
 * assert.deepEqual([errnoName(-16), errnoName(0), errnoName(-999)], ["EBUSY", "OK", "UNKNOWN"]);
 * ```
 */
export function errnoName(rcValue: number): XenErrnoCode | "OK" | "UNKNOWN" {
  if (rcValue === 0) return "OK";
  for (const [k, v] of Object.entries(XenErrno)) if (v === -rcValue) return k as XenErrnoCode;
  return "UNKNOWN";
}
