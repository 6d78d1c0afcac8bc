/**
 * Which limit a refusal hit: a byte of an error response (offset 5), so the
 * guest's program learns not just the errno (EAGAIN, ENOMEM) but the quota
 * or the part of dom0's headroom that refused it. 0 means none; the codes
 * are fixed wire numbers.
 *
 * @module
 */

/**
 * The limits, by wire code (index + 1): the per-guest quotas, then dom0's
 * headroom pools (`dom0:<pool>`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VIB_LIMITS } from "./limits.ts";
 * assert.equal(VIB_LIMITS[0], "contexts"); // code 1
 * ```
 */
export const VIB_LIMITS = [
  "contexts",
  "pds",
  "mrs",
  "mrPages",
  "grantMaps",
  "persistentGrants",
  "cqs",
  "cqes",
  "qps",
  "wqes",
  "srqs",
  "ahs",
  "events",
  "shadowBytes",
  "dom0:uar",
  "dom0:pd",
  "dom0:mr",
  "dom0:mtt",
  "dom0:cq",
  "dom0:qp",
  "dom0:srq",
  "dom0:ah",
  "dom0:grantMaps",
  "dom0:heap",
  "mcastAttachments",
  "mcastGroupQps",
] as const;

/**
 * The wire code of a limit's name (0 for none or an unknown name).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { limitCode, limitName } from "./limits.ts";
 * assert.equal(limitName(limitCode("grantMaps")), "grantMaps");
 * assert.equal(limitCode(undefined), 0);
 * ```
 */
export function limitCode(name: string | undefined): number {
  return name === undefined ? 0 : (VIB_LIMITS as readonly string[]).indexOf(name) + 1;
}

/**
 * A limit's name from its wire code (undefined for 0 or an unknown code).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { limitName } from "./limits.ts";
 * assert.equal(limitName(0), undefined);
 * assert.equal(limitName(255), undefined);
 * ```
 */
export function limitName(code: number): string | undefined {
  return code >= 1 ? VIB_LIMITS[code - 1] : undefined;
}
