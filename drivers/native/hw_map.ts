/**
 * Verbs values to the InfiniHost's own, and back: what the native driver
 * converts when it builds HCA commands and reads QUERY_QP, as Linux mthca
 * does — `to_mthca_st` (QP service type), `to_ib_qp_state` (QP state from
 * the QPC), `get_hw_access_flags`/`to_ib_qp_access_flags` (the QPC's remote
 * enables) in mthca_qp.c, and `convert_access` (MPT flags) in
 * mthca_provider.c. The device (`hca/`) never sees a verbs number.
 *
 * @module
 */
import {
  HwQpState,
  MptAccess,
  QP_ACCESS_MASK,
  QpAccess,
  QpServiceType,
} from "../../hca/commands.ts";
import { Access, QpState, QpType } from "../uapi/enums.ts";

const SERVICE_OF_QP_TYPE: Readonly<Record<number, QpServiceType>> = {
  [QpType.RC]: QpServiceType.RC,
  [QpType.UC]: QpServiceType.UC,
  [QpType.UD]: QpServiceType.UD,
};

/**
 * The device service type of a verbs QP type (mthca `to_mthca_st`), or
 * undefined for a type the device does not serve.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toHwServiceType } from "./hw_map.ts";
 * import { QpServiceType } from "../../hca/commands.ts";
 * import { QpType } from "../uapi/enums.ts";
 * assert.equal(toHwServiceType(QpType.UD), QpServiceType.UD); // IBV_QPT_UD 4 → MTHCA_QP_ST_UD 3
 * assert.equal(toHwServiceType(9), undefined);
 * ```
 */
export function toHwServiceType(type: number): QpServiceType | undefined {
  return SERVICE_OF_QP_TYPE[type];
}

const QP_STATE_OF_HW: Readonly<Record<number, QpState>> = {
  [HwQpState.RESET]: QpState.RESET,
  [HwQpState.INIT]: QpState.INIT,
  [HwQpState.RTR]: QpState.RTR,
  [HwQpState.RTS]: QpState.RTS,
  [HwQpState.SQE]: QpState.SQE,
  [HwQpState.SQD]: QpState.SQD,
  [HwQpState.ERR]: QpState.ERR,
};

/**
 * The verbs QP state of a state QUERY_QP reports (mthca `to_ib_qp_state`).
 * @throws RangeError for a value the device does not define (a driver bug, not user input)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromHwQpState } from "./hw_map.ts";
 * import { HwQpState } from "../../hca/commands.ts";
 * import { QpState } from "../uapi/enums.ts";
 * assert.equal(fromHwQpState(HwQpState.SQE), QpState.SQE); // device 4 → IBV_QPS_SQE 5
 * assert.throws(() => fromHwQpState(7), RangeError);
 * ```
 */
export function fromHwQpState(state: number): QpState {
  const s = QP_STATE_OF_HW[state];
  if (s === undefined) throw new RangeError(`QUERY_QP returned unknown QP state ${state}`);
  return s;
}

/** Verbs remote access bits and the QPC enable each one becomes. */
const QP_ENABLES: readonly [number, number][] = [
  [Access.REMOTE_WRITE, QpAccess.REMOTE_WRITE],
  [Access.REMOTE_READ, QpAccess.REMOTE_READ],
  [Access.REMOTE_ATOMIC, QpAccess.REMOTE_ATOMIC],
];

/**
 * The QPC remote enables (RWE/RRE/RAE) of a verbs `qp_access_flags` value;
 * bits with no enable (LOCAL_WRITE) are dropped, as mthca's
 * `get_hw_access_flags` does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toQpAccess } from "./hw_map.ts";
 * import { QpAccess } from "../../hca/commands.ts";
 * import { Access } from "../uapi/enums.ts";
 * assert.equal(toQpAccess(Access.LOCAL_WRITE | Access.REMOTE_WRITE), QpAccess.REMOTE_WRITE);
 * ```
 */
export function toQpAccess(access: number): number {
  let bits = 0;
  for (const [verbs, hw] of QP_ENABLES) if (access & verbs) bits |= hw;
  return bits;
}

/**
 * The verbs `qp_access_flags` of the QPC remote enables QUERY_QP reports
 * (mthca `to_ib_qp_access_flags`).
 * @throws RangeError for bits that are not QPC enables
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromQpAccess, toQpAccess } from "./hw_map.ts";
 * import { Access } from "../uapi/enums.ts";
 * const remote = Access.REMOTE_READ | Access.REMOTE_ATOMIC;
 * assert.equal(fromQpAccess(toQpAccess(remote)), remote);
 * ```
 */
export function fromQpAccess(bits: number): number {
  if (bits & ~QP_ACCESS_MASK) {
    throw new RangeError(`QUERY_QP returned unknown access bits 0x${bits.toString(16)}`);
  }
  let access = 0;
  for (const [verbs, hw] of QP_ENABLES) if (bits & hw) access |= verbs;
  return access;
}

/** Verbs MR access bits and the MPT flag each one becomes. */
const MPT_FLAGS: readonly [number, number][] = [
  [Access.LOCAL_WRITE, MptAccess.LOCAL_WRITE],
  [Access.REMOTE_WRITE, MptAccess.REMOTE_WRITE],
  [Access.REMOTE_READ, MptAccess.REMOTE_READ],
  [Access.REMOTE_ATOMIC, MptAccess.ATOMIC],
];

/**
 * The MPT access flags of a verbs MR access value (mthca `convert_access`):
 * local read is always granted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toMptAccess } from "./hw_map.ts";
 * import { MptAccess } from "../../hca/commands.ts";
 * import { Access } from "../uapi/enums.ts";
 * assert.equal(toMptAccess(0), MptAccess.LOCAL_READ);
 * assert.equal(
 *   toMptAccess(Access.LOCAL_WRITE | Access.REMOTE_ATOMIC),
 *   MptAccess.LOCAL_READ | MptAccess.LOCAL_WRITE | MptAccess.ATOMIC,
 * );
 * ```
 */
export function toMptAccess(access: number): number {
  let flags: number = MptAccess.LOCAL_READ;
  for (const [verbs, hw] of MPT_FLAGS) if (access & verbs) flags |= hw;
  return flags;
}

/**
 * The RDMA READ / atomic depth the QPC holds for a `max_rd_atomic` or
 * `max_dest_rd_atomic` (Linux mthca `__mthca_modify_qp`: the context keeps
 * its log2, `fls(depth - 1)`, so a depth is rounded up to a power of two; 0
 * sets no log and, for the initiator, leaves the SRE/SAE enables off: the QP
 * issues no RDMA READ or atomic).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toHwRdAtomic } from "./hw_map.ts";
 * assert.deepEqual([0, 1, 2, 3, 4, 5].map(toHwRdAtomic), [0, 1, 2, 4, 4, 8]);
 * ```
 */
export function toHwRdAtomic(depth: number): number {
  return depth === 0 ? 0 : 2 ** Math.ceil(Math.log2(depth));
}

/**
 * The `max_rd_atomic` / `max_dest_rd_atomic` QUERY_QP reports for the depth
 * the QPC holds (mthca `mthca_query_qp`: `1 << log`, so a context with no log
 * set, depth 0, reports 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fromHwRdAtomic, toHwRdAtomic } from "./hw_map.ts";
 * assert.deepEqual([0, 1, 3].map((d) => fromHwRdAtomic(toHwRdAtomic(d))), [1, 1, 4]);
 * ```
 */
export function fromHwRdAtomic(depth: number): number {
  return depth <= 1 ? 1 : 2 ** Math.ceil(Math.log2(depth));
}
