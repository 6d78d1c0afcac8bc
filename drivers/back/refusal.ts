/**
 * What a refused request's error response tells the guest: the rule is an
 * allow mark, not a filter. Only an error made by `requestError`
 * — by a check that runs on the guest's behalf and describes only the
 * guest's own request: the backend's checks of the request it copied out
 * of the ring, the verbs rules the kernel verbs layer applies to the
 * guest's own objects, the split datapath's checks of the guest's
 * doorbells and polls — carries its text to the guest. Any other error
 * raised in dom0 while it serves the request (the hypervisor refusing
 * dom0's own mapping, the HCA command layer, dom0's heap and address
 * space, a device table running out) may name another domain, a machine
 * frame, a dom0 path or how much of a shared pool the other guests use:
 * the guest gets its errno and a fixed reason for that errno's class,
 * and the text stays in dom0 (`VibBack.lastRefusal`). A refusal at a
 * quota or at dom0's headroom sends no reason: the response's limit byte
 * names the limit, and the frontend says which.
 *
 * @module
 */
import { type ErrnoCode, VerbsError } from "../uapi/errors.ts";

/** The fixed reason of each errno class, for an error that is not the guest's own. */
const GENERIC: Partial<Record<ErrnoCode, string>> = {
  ENOMEM: "out of memory or device resources",
  ENOSPC: "out of memory or device resources",
  EAGAIN: "a resource it needs is short for now",
  EBUSY: "a resource it needs is busy",
  EFAULT: "a memory access failed",
  EPERM: "an operation was not permitted",
  EACCES: "an operation was not permitted",
  ETIMEDOUT: "the device did not answer in time",
  ENODEV: "the device is not available",
  ENXIO: "the device is not available",
};

/**
 * The fixed reason the guest gets for a refusal that is not about its own
 * request: one per errno class, naming nothing of dom0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { genericReason } from "./refusal.ts";
 * assert.equal(genericReason("ENOMEM"), "the backend could not carry out the request: out of memory or device resources");
 * assert.equal(genericReason("EIO"), "the backend could not carry out the request: an internal error");
 * ```
 */
export function genericReason(code: ErrnoCode): string {
  return `the backend could not carry out the request: ${GENERIC[code] ?? "an internal error"}`;
}

/**
 * The reason an error response carries for `e` (refused with errno
 * `code`): `e`'s own text when it is about the guest's own request
 * (`ownRequest`, made by `requestError`), none at a
 * limit (the limit byte names it), else {@link genericReason}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refusalReason } from "./refusal.ts";
 * import { requestError, VerbsError } from "../uapi/errors.ts";
 * import { AddressSpaceError } from "../../sim/address_space.ts";
 * import { XenError } from "../../hypervisor/errors.ts";
 * const own = requestError("EINVAL", "modify_qp QP 2: no such QP state 14");
 * assert.equal(refusalReason(own, "EINVAL", undefined), "modify_qp QP 2: no such QP state 14");
 * // Raised by dom0's own work: its errno's class, not its text.
 * const dom0 = new VerbsError("ENOMEM", "UAR mapping refused: EBUSY: I/O frame 4101 is mapped into dom7");
 * assert.equal(refusalReason(dom0, "ENOMEM", undefined), "the backend could not carry out the request: out of memory or device resources");
 * assert.equal(refusalReason(new TypeError("a bug"), "EIO", undefined), "the backend could not carry out the request: an internal error");
 * // Dom0's own memory and the hypervisor's refusals carry errnos, never a mark.
 * const fault = new AddressSpaceError("EFAULT", "dom0: 0x7f000 is not mapped");
 * assert.equal(refusalReason(fault, "EFAULT", undefined), "the backend could not carry out the request: a memory access failed");
 * const xen = new XenError("EBUSY", "map I/O page into dom2: I/O frame 1048579 is mapped into dom1");
 * assert.equal(refusalReason(xen, "EBUSY", undefined), "the backend could not carry out the request: a resource it needs is busy");
 * assert.equal(refusalReason(own, "EAGAIN", "pds"), undefined); // the limit byte says it
 * ```
 */
export function refusalReason(
  e: unknown,
  code: ErrnoCode,
  limit: string | undefined,
): string | undefined {
  if (limit !== undefined) return undefined;
  if (!(e instanceof VerbsError && e.ownRequest)) return genericReason(code);
  return e.message.startsWith(`${e.code}: `) ? e.message.slice(e.code.length + 2) : e.message;
}
