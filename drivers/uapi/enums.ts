/**
 * Verbs enumerations. Numeric values equal `infiniband/verbs.h` (rdma-core),
 * so the FFI provider maps them one to one.
 *
 * @module
 */
import { ibaMtuCode } from "../../hca/link.ts";

/**
 * `enum ibv_access_flags`: rights of a memory region or QP.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Access } from "./enums.ts";
 * const rw = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;
 * assert.equal(rw, 7);
 * assert.equal(rw & Access.REMOTE_ATOMIC, 0);
 * ```
 */
export const Access = {
  LOCAL_WRITE: 1,
  REMOTE_WRITE: 1 << 1,
  REMOTE_READ: 1 << 2,
  REMOTE_ATOMIC: 1 << 3,
  MW_BIND: 1 << 4,
  ZERO_BASED: 1 << 5,
  ON_DEMAND: 1 << 6,
  HUGETLB: 1 << 7,
  /** The first of the optional flags (`IBV_ACCESS_OPTIONAL_FIRST`): a hint a device may ignore. */
  RELAXED_ORDERING: 1 << 20,
} as const;

/**
 * `enum ibv_rereg_mr_flags`: what `ibv_rereg_mr` is asked to change (`Mr.rereg`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReregMrFlags } from "./enums.ts";
 * assert.deepEqual(Object.values(ReregMrFlags), [1, 2, 4]);
 * ```
 */
export const ReregMrFlags = {
  CHANGE_TRANSLATION: 1,
  CHANGE_PD: 1 << 1,
  CHANGE_ACCESS: 1 << 2,
} as const;

/**
 * `enum ibv_qp_type`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QpType } from "./enums.ts";
 * assert.deepEqual([QpType.RC, QpType.UC, QpType.UD], [2, 3, 4]);
 * ```
 */
export const QpType = { RC: 2, UC: 3, UD: 4 } as const;
/**
 * A value of {@link QpType}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QpType } from "./enums.ts";
 * const connected = (t: QpType) => t !== QpType.UD;
 * assert.ok(connected(QpType.RC) && !connected(QpType.UD));
 * ```
 */
export type QpType = (typeof QpType)[keyof typeof QpType];

/**
 * `enum ibv_qp_state`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QpState } from "./enums.ts";
 * assert.equal(QpState.RTS, 3);
 * assert.ok(QpState.INIT < QpState.RTR && QpState.RTR < QpState.RTS);
 * ```
 */
export const QpState = {
  RESET: 0,
  INIT: 1,
  RTR: 2,
  RTS: 3,
  SQD: 4,
  SQE: 5,
  ERR: 6,
} as const;
/**
 * A value of {@link QpState}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QpState } from "./enums.ts";
 * const canSend = (s: QpState) => s === QpState.RTS || s === QpState.SQD;
 * assert.ok(canSend(QpState.RTS) && !canSend(QpState.RTR));
 * ```
 */
export type QpState = (typeof QpState)[keyof typeof QpState];

/**
 * `enum ibv_wr_opcode`: what a send work request does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WrOpcode } from "./enums.ts";
 * assert.deepEqual([WrOpcode.RDMA_WRITE, WrOpcode.SEND, WrOpcode.RDMA_READ], [0, 2, 4]);
 * ```
 */
export const WrOpcode = {
  RDMA_WRITE: 0,
  RDMA_WRITE_WITH_IMM: 1,
  SEND: 2,
  SEND_WITH_IMM: 3,
  RDMA_READ: 4,
  ATOMIC_CMP_AND_SWP: 5,
  ATOMIC_FETCH_AND_ADD: 6,
} as const;
/**
 * A value of {@link WrOpcode}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WrOpcode } from "./enums.ts";
 * const oneSided = (op: WrOpcode) => op !== WrOpcode.SEND && op !== WrOpcode.SEND_WITH_IMM;
 * assert.ok(oneSided(WrOpcode.RDMA_WRITE) && !oneSided(WrOpcode.SEND));
 * ```
 */
export type WrOpcode = (typeof WrOpcode)[keyof typeof WrOpcode];

/**
 * `enum ibv_send_flags`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SendFlags } from "./enums.ts";
 * const flags = SendFlags.SIGNALED | SendFlags.INLINE;
 * assert.equal(flags, 10);
 * ```
 */
export const SendFlags = {
  FENCE: 1,
  SIGNALED: 1 << 1,
  SOLICITED: 1 << 2,
  INLINE: 1 << 3,
} as const;

/**
 * `enum ibv_wc_status`: the outcome in a work completion.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WcStatus } from "./enums.ts";
 * assert.deepEqual([WcStatus.SUCCESS, WcStatus.WR_FLUSH_ERR, WcStatus.RETRY_EXC_ERR], [0, 5, 12]);
 * ```
 */
export const WcStatus = {
  SUCCESS: 0,
  LOC_LEN_ERR: 1,
  LOC_QP_OP_ERR: 2,
  LOC_EEC_OP_ERR: 3,
  LOC_PROT_ERR: 4,
  WR_FLUSH_ERR: 5,
  MW_BIND_ERR: 6,
  BAD_RESP_ERR: 7,
  LOC_ACCESS_ERR: 8,
  REM_INV_REQ_ERR: 9,
  REM_ACCESS_ERR: 10,
  REM_OP_ERR: 11,
  RETRY_EXC_ERR: 12,
  RNR_RETRY_EXC_ERR: 13,
  LOC_RDD_VIOL_ERR: 14,
  REM_INV_RD_REQ_ERR: 15,
  REM_ABORT_ERR: 16,
  INV_EECN_ERR: 17,
  INV_EEC_STATE_ERR: 18,
  FATAL_ERR: 19,
  RESP_TIMEOUT_ERR: 20,
  GENERAL_ERR: 21,
} as const;
/**
 * A value of {@link WcStatus}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WcStatus } from "./enums.ts";
 * const flushed = (s: WcStatus) => s === WcStatus.WR_FLUSH_ERR;
 * assert.ok(flushed(WcStatus.WR_FLUSH_ERR) && !flushed(WcStatus.SUCCESS));
 * ```
 */
export type WcStatus = (typeof WcStatus)[keyof typeof WcStatus];

/**
 * `enum ibv_wc_opcode`: which operation a work completion reports.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WcOpcode } from "./enums.ts";
 * assert.equal(WcOpcode.RECV, 128);
 * assert.equal(WcOpcode.RECV_RDMA_WITH_IMM, 129);
 * ```
 */
export const WcOpcode = {
  SEND: 0,
  RDMA_WRITE: 1,
  RDMA_READ: 2,
  COMP_SWAP: 3,
  FETCH_ADD: 4,
  BIND_MW: 5,
  RECV: 1 << 7,
  RECV_RDMA_WITH_IMM: (1 << 7) + 1,
} as const;
/**
 * A value of {@link WcOpcode}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WcOpcode } from "./enums.ts";
 * const receiveSide = (op: WcOpcode) => (op & WcOpcode.RECV) !== 0;
 * assert.ok(receiveSide(WcOpcode.RECV_RDMA_WITH_IMM) && !receiveSide(WcOpcode.RDMA_WRITE));
 * ```
 */
export type WcOpcode = (typeof WcOpcode)[keyof typeof WcOpcode];

/**
 * `enum ibv_wc_flags`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WcFlags } from "./enums.ts";
 * const hasImm = (wcFlags: number) => (wcFlags & WcFlags.WITH_IMM) !== 0;
 * assert.ok(hasImm(2));
 * assert.ok(!hasImm(WcFlags.GRH));
 * ```
 */
export const WcFlags = { GRH: 1, WITH_IMM: 1 << 1 } as const;

/**
 * `enum ibv_port_state`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PortState } from "./enums.ts";
 * assert.equal(PortState.ACTIVE, 4);
 * ```
 */
export const PortState = {
  NOP: 0,
  DOWN: 1,
  INIT: 2,
  ARMED: 3,
  ACTIVE: 4,
  ACTIVE_DEFER: 5,
} as const;
/**
 * A value of {@link PortState}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PortState } from "./enums.ts";
 * const usable = (s: PortState) => s === PortState.ACTIVE || s === PortState.ACTIVE_DEFER;
 * assert.ok(usable(PortState.ACTIVE) && !usable(PortState.ARMED));
 * ```
 */
export type PortState = (typeof PortState)[keyof typeof PortState];

/**
 * `enum ibv_mtu`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Mtu } from "./enums.ts";
 * assert.equal(Mtu.MTU_2048, 4);
 * ```
 */
export const Mtu = { MTU_256: 1, MTU_512: 2, MTU_1024: 3, MTU_2048: 4, MTU_4096: 5 } as const;
/**
 * A value of {@link Mtu}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Mtu } from "./enums.ts";
 * const smaller = (a: Mtu, b: Mtu): Mtu => (a < b ? a : b); // the path MTU two ports agree on
 * assert.equal(smaller(Mtu.MTU_4096, Mtu.MTU_2048), Mtu.MTU_2048);
 * ```
 */
export type Mtu = (typeof Mtu)[keyof typeof Mtu];

/**
 * `enum ibv_node_type`: what kind of node a device is (`struct ibv_device`'s `node_type`).
 * `UNKNOWN` is -1 and 0 is no node type; every device the model offers is a `CA`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NodeType } from "./enums.ts";
 * assert.deepEqual([NodeType.UNKNOWN, NodeType.CA, NodeType.UNSPECIFIED], [-1, 1, 7]);
 * ```
 */
export const NodeType = {
  UNKNOWN: -1,
  CA: 1,
  SWITCH: 2,
  ROUTER: 3,
  RNIC: 4,
  USNIC: 5,
  USNIC_UDP: 6,
  UNSPECIFIED: 7,
} as const;
/**
 * A value of {@link NodeType}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NodeType } from "./enums.ts";
 * const infiniband = (t: NodeType) => t >= NodeType.CA && t <= NodeType.ROUTER;
 * assert.ok(infiniband(NodeType.SWITCH) && !infiniband(NodeType.RNIC));
 * ```
 */
export type NodeType = (typeof NodeType)[keyof typeof NodeType];

/**
 * `enum ibv_event_type` (async events).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventType } from "./enums.ts";
 * assert.equal(EventType.SRQ_LIMIT_REACHED, 15);
 * ```
 */
export const EventType = {
  CQ_ERR: 0,
  QP_FATAL: 1,
  QP_REQ_ERR: 2,
  QP_ACCESS_ERR: 3,
  COMM_EST: 4,
  SQ_DRAINED: 5,
  PATH_MIG: 6,
  PATH_MIG_ERR: 7,
  DEVICE_FATAL: 8,
  PORT_ACTIVE: 9,
  PORT_ERR: 10,
  LID_CHANGE: 11,
  PKEY_CHANGE: 12,
  SM_CHANGE: 13,
  SRQ_ERR: 14,
  SRQ_LIMIT_REACHED: 15,
  QP_LAST_WQE_REACHED: 16,
  CLIENT_REREGISTER: 17,
  GID_CHANGE: 18,
  /** Names a `struct ibv_wq` (verbs.h `element.wq`), not a QP, CQ or SRQ. */
  WQ_FATAL: 19,
} as const;
/**
 * A value of {@link EventType}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventType } from "./enums.ts";
 * const portEvent = (t: EventType) => t === EventType.PORT_ACTIVE || t === EventType.PORT_ERR;
 * assert.ok(portEvent(EventType.PORT_ERR) && !portEvent(EventType.CQ_ERR));
 * ```
 */
export type EventType = (typeof EventType)[keyof typeof EventType];

/**
 * `enum ibv_qp_attr_mask`: which `ibv_qp_attr` fields a modify sets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QpAttrMask } from "./enums.ts";
 * assert.equal(QpAttrMask.STATE | QpAttrMask.PORT, 33);
 * ```
 */
export const QpAttrMask = {
  STATE: 1,
  CUR_STATE: 1 << 1,
  EN_SQD_ASYNC_NOTIFY: 1 << 2,
  ACCESS_FLAGS: 1 << 3,
  PKEY_INDEX: 1 << 4,
  PORT: 1 << 5,
  QKEY: 1 << 6,
  AV: 1 << 7,
  PATH_MTU: 1 << 8,
  TIMEOUT: 1 << 9,
  RETRY_CNT: 1 << 10,
  RNR_RETRY: 1 << 11,
  RQ_PSN: 1 << 12,
  MAX_QP_RD_ATOMIC: 1 << 13,
  ALT_PATH: 1 << 14,
  MIN_RNR_TIMER: 1 << 15,
  SQ_PSN: 1 << 16,
  MAX_DEST_RD_ATOMIC: 1 << 17,
  PATH_MIG_STATE: 1 << 18,
  CAP: 1 << 19,
  DEST_QPN: 1 << 20,
} as const;

/**
 * Bytes of an `ibv_mtu` value: 256 << (mtu - 1); a RangeError for anything that is not one
 * (1..5), which would otherwise give a size no IBA MTU has.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Mtu, mtuBytes } from "./enums.ts";
 * assert.equal(mtuBytes(Mtu.MTU_4096), 4096);
 * assert.equal(mtuBytes(Mtu.MTU_256), 256);
 * assert.throws(() => mtuBytes(9 as Mtu), /mtuBytes: 9 is not an ibv_mtu/);
 * ```
 */
export function mtuBytes(mtu: Mtu): number {
  if (!Number.isInteger(mtu) || mtu < Mtu.MTU_256 || mtu > Mtu.MTU_4096) {
    throw new RangeError(`mtuBytes: ${String(mtu).slice(0, 24)} is not an ibv_mtu (1..5)`);
  }
  return 256 << (mtu - 1);
}

/**
 * The `ibv_mtu` value for a byte count (256..4096), or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mtuFromBytes } from "./enums.ts";
 * assert.equal(mtuFromBytes(2048), 4);
 * assert.equal(mtuFromBytes(3000), undefined); // not an IBA MTU
 * ```
 */
export function mtuFromBytes(bytes: number): Mtu | undefined {
  // ibv_mtu's values are the IBA's PortInfo MTU codes.
  return ibaMtuCode(bytes) as Mtu | undefined;
}
