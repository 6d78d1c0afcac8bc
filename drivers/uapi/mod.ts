/**
 * The uverbs kernel ABI: what the user-level verbs library and "a kernel"
 * (the native HCA driver's user context, or a Xen guest's frontend that
 * forwards to dom0) agree on — the `UverbsDevice`/`UverbsFile` calls and
 * their request/response types, the numbers of `infiniband/verbs.h` and
 * libibverbs' pure helpers on them (the enum strings, the rate
 * conversions), the errno-carrying `VerbsError`, the QP state table both
 * sides enforce and the work-queue layout the library decides and the
 * kernel checks. Linux keeps
 * the same contract in `include/uapi/rdma/ib_user_verbs.h`; like that
 * header, this folder knows no provider and no driver.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QP_STATE_TABLE, QpState, VerbsError } from "./mod.ts";
 * assert.equal(new VerbsError("EINVAL", "x").errno, 22);
 * assert.ok(QP_STATE_TABLE[QpState.RESET][QpState.INIT] !== undefined);
 * ```
 *
 * @module
 */
export * from "./enums.ts";
export * from "./errors.ts";
export * from "./rates.ts";
export * from "./strs.ts";
export * from "./types.ts";
export type * from "./uverbs.ts";
export {
  ATTR_MASK_BITS,
  attrMask,
  isQpState,
  maskNames,
  modifyQpError,
  QP_STATE_TABLE,
  type QpAttrName,
  qpTypeName,
  stateName,
  type TransitionParams,
} from "./qp_state.ts";
export { cqLayout, qpGrant, qpLayout, roundPow2, sendWqeBytes, srqLayout } from "./wq_layout.ts";
