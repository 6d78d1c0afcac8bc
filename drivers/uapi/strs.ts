/**
 * libibverbs' enum-to-string helpers (rdma-core `libibverbs/enum_strs.c`): the text
 * `ibv_wc_status_str`, `ibv_event_type_str`, `ibv_port_state_str`, `ibv_node_type_str` and
 * `ibv_wr_opcode_str` answer, word for word, so that a ported C program prints what it printed
 * on rdma-core. Every value rdma-core names is named, including those the model never produces
 * (tag-matching statuses, `IBV_EVENT_DEVICE_SPEED_CHANGE`, the extended send opcodes); any other
 * value (out of range, negative, not an integer, not a number) answers `"unknown"`, as rdma-core
 * answers for a value outside its table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WcStatus } from "./enums.ts";
 * import { wcStatusStr } from "./strs.ts";
 * assert.equal(wcStatusStr(WcStatus.RETRY_EXC_ERR), "transport retry counter exceeded");
 * ```
 *
 * @module
 */
import { EventType, NodeType, PortState, WcStatus, WrOpcode } from "./enums.ts";

/** The answer for a value a table does not name (enum_strs.c's range check). */
const UNKNOWN = "unknown";

function lookup(table: ReadonlyMap<number, string>, value: unknown): string {
  // A Map compares keys with SameValueZero: NaN, 2.5 and "3" find nothing; -0 finds 0.
  return (typeof value === "number" ? table.get(value) : undefined) ?? UNKNOWN;
}

const WC_STATUS_STR: ReadonlyMap<number, string> = new Map([
  [WcStatus.SUCCESS, "success"],
  [WcStatus.LOC_LEN_ERR, "local length error"],
  [WcStatus.LOC_QP_OP_ERR, "local QP operation error"],
  [WcStatus.LOC_EEC_OP_ERR, "local EE context operation error"],
  [WcStatus.LOC_PROT_ERR, "local protection error"],
  [WcStatus.WR_FLUSH_ERR, "Work Request Flushed Error"],
  [WcStatus.MW_BIND_ERR, "memory management operation error"],
  [WcStatus.BAD_RESP_ERR, "bad response error"],
  [WcStatus.LOC_ACCESS_ERR, "local access error"],
  [WcStatus.REM_INV_REQ_ERR, "remote invalid request error"],
  [WcStatus.REM_ACCESS_ERR, "remote access error"],
  [WcStatus.REM_OP_ERR, "remote operation error"],
  [WcStatus.RETRY_EXC_ERR, "transport retry counter exceeded"],
  [WcStatus.RNR_RETRY_EXC_ERR, "RNR retry counter exceeded"],
  [WcStatus.LOC_RDD_VIOL_ERR, "local RDD violation error"],
  [WcStatus.REM_INV_RD_REQ_ERR, "remote invalid RD request"],
  [WcStatus.REM_ABORT_ERR, "aborted error"],
  [WcStatus.INV_EECN_ERR, "invalid EE context number"],
  [WcStatus.INV_EEC_STATE_ERR, "invalid EE context state"],
  [WcStatus.FATAL_ERR, "fatal error"],
  [WcStatus.RESP_TIMEOUT_ERR, "response timeout error"],
  [WcStatus.GENERAL_ERR, "general error"],
  // Tag matching (IBV_WC_TM_ERR, IBV_WC_TM_RNDV_INCOMPLETE): verbs.h values the model never reports.
  [22, "TM error"],
  [23, "TM software rendezvous"],
]);

/**
 * `ibv_wc_status_str`: rdma-core's text for a work completion's status
 * ({@link WcStatus}, and the tag-matching statuses 22 and 23 the model never reports);
 * `"unknown"` for any other value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WcStatus } from "./enums.ts";
 * import { wcStatusStr } from "./strs.ts";
 * assert.equal(wcStatusStr(WcStatus.SUCCESS), "success");
 * assert.equal(wcStatusStr(WcStatus.WR_FLUSH_ERR), "Work Request Flushed Error");
 * assert.equal(wcStatusStr(99), "unknown");
 * ```
 */
export function wcStatusStr(status: WcStatus | number): string {
  return lookup(WC_STATUS_STR, status);
}

const WC_STATUS_NAME: ReadonlyMap<number, string> = new Map(
  Object.entries(WcStatus).map(([name, value]) => [value, name]),
);

/**
 * The name of `status` in {@link WcStatus} (`"RETRY_EXC_ERR"`), as the
 * project's tools and its MPI name a failed completion in their errors; the
 * number itself for a value the enum does not name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WcStatus } from "./enums.ts";
 * import { wcStatusName } from "./strs.ts";
 * assert.equal(wcStatusName(WcStatus.RETRY_EXC_ERR), "RETRY_EXC_ERR");
 * assert.equal(wcStatusName(99), "99");
 * ```
 */
export function wcStatusName(status: number): string {
  return WC_STATUS_NAME.get(status) ?? String(status);
}

const EVENT_TYPE_STR: ReadonlyMap<number, string> = new Map([
  [EventType.CQ_ERR, "CQ error"],
  [EventType.QP_FATAL, "local work queue catastrophic error"],
  [EventType.QP_REQ_ERR, "invalid request local work queue error"],
  [EventType.QP_ACCESS_ERR, "local access violation work queue error"],
  [EventType.COMM_EST, "communication established"],
  [EventType.SQ_DRAINED, "send queue drained"],
  [EventType.PATH_MIG, "path migrated"],
  [EventType.PATH_MIG_ERR, "path migration request error"],
  [EventType.DEVICE_FATAL, "local catastrophic error"],
  [EventType.PORT_ACTIVE, "port active"],
  [EventType.PORT_ERR, "port error"],
  [EventType.LID_CHANGE, "LID change"],
  [EventType.PKEY_CHANGE, "P_Key change"],
  [EventType.SM_CHANGE, "SM change"],
  [EventType.SRQ_ERR, "SRQ catastrophic error"],
  [EventType.SRQ_LIMIT_REACHED, "SRQ limit reached"],
  [EventType.QP_LAST_WQE_REACHED, "last WQE reached"],
  [EventType.CLIENT_REREGISTER, "client reregistration"],
  [EventType.GID_CHANGE, "GID table change"],
  [EventType.WQ_FATAL, "WQ fatal"],
  // IBV_EVENT_DEVICE_SPEED_CHANGE: a verbs.h value the model never raises.
  [20, "Device link speed change"],
]);

/**
 * `ibv_event_type_str`: rdma-core's text for an async event's type ({@link EventType}, and
 * `IBV_EVENT_DEVICE_SPEED_CHANGE`, 20, which the model never raises); `"unknown"` for any other
 * value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventType } from "./enums.ts";
 * import { eventTypeStr } from "./strs.ts";
 * assert.equal(eventTypeStr(EventType.PORT_ACTIVE), "port active");
 * assert.equal(eventTypeStr(EventType.PKEY_CHANGE), "P_Key change");
 * assert.equal(eventTypeStr(-1), "unknown");
 * ```
 */
export function eventTypeStr(type: EventType | number): string {
  return lookup(EVENT_TYPE_STR, type);
}

const PORT_STATE_STR: ReadonlyMap<number, string> = new Map([
  [PortState.NOP, "no state change (NOP)"],
  [PortState.DOWN, "down"],
  [PortState.INIT, "init"],
  [PortState.ARMED, "armed"],
  [PortState.ACTIVE, "active"],
  [PortState.ACTIVE_DEFER, "active defer"],
]);

/**
 * `ibv_port_state_str`: rdma-core's text for a port's state ({@link PortState});
 * `"unknown"` for any other value. (`ibv_devinfo` prints its own names, `PORT_ACTIVE`, not these.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PortState } from "./enums.ts";
 * import { portStateStr } from "./strs.ts";
 * assert.equal(portStateStr(PortState.ACTIVE), "active");
 * assert.equal(portStateStr(PortState.NOP), "no state change (NOP)");
 * assert.equal(portStateStr(6), "unknown");
 * ```
 */
export function portStateStr(state: PortState | number): string {
  return lookup(PORT_STATE_STR, state);
}

const NODE_TYPE_STR: ReadonlyMap<number, string> = new Map([
  [NodeType.CA, "InfiniBand channel adapter"],
  [NodeType.SWITCH, "InfiniBand switch"],
  [NodeType.ROUTER, "InfiniBand router"],
  [NodeType.RNIC, "iWARP NIC"],
  [NodeType.USNIC, "usNIC"],
  [NodeType.USNIC_UDP, "usNIC UDP"],
  [NodeType.UNSPECIFIED, "unspecified"],
]);

/**
 * `ibv_node_type_str`: rdma-core's text for a device's node type ({@link NodeType});
 * `"unknown"` for `NodeType.UNKNOWN` (-1), 0 and any other value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NodeType } from "./enums.ts";
 * import { nodeTypeStr } from "./strs.ts";
 * assert.equal(nodeTypeStr(NodeType.CA), "InfiniBand channel adapter");
 * assert.equal(nodeTypeStr(NodeType.UNKNOWN), "unknown");
 * ```
 */
export function nodeTypeStr(type: NodeType | number): string {
  return lookup(NODE_TYPE_STR, type);
}

const WR_OPCODE_STR: ReadonlyMap<number, string> = new Map([
  [WrOpcode.RDMA_WRITE, "rdma-write"],
  [WrOpcode.RDMA_WRITE_WITH_IMM, "rdma-write-with-imm"],
  [WrOpcode.SEND, "send"],
  [WrOpcode.SEND_WITH_IMM, "send-with-imm"],
  [WrOpcode.RDMA_READ, "rdma-read"],
  [WrOpcode.ATOMIC_CMP_AND_SWP, "atomic-cmp-and-swp"],
  [WrOpcode.ATOMIC_FETCH_AND_ADD, "atomic-fetch-and-add"],
  // verbs.h opcodes the model does not post: IBV_WR_LOCAL_INV … IBV_WR_DRIVER1, then (after
  // two unnamed values) IBV_WR_FLUSH = 14 and IBV_WR_ATOMIC_WRITE = 15.
  [7, "local-inv"],
  [8, "bind-mw"],
  [9, "send-with-inv"],
  [10, "tso"],
  [11, "driver1"],
  [14, "flush"],
  [15, "atomic-write"],
]);

/**
 * `ibv_wr_opcode_str`: rdma-core's text for a send work request's opcode ({@link WrOpcode},
 * and the verbs.h opcodes 7 … 11, 14 and 15 the model does not post); `"unknown"` for any other
 * value. rdma-core has no such function for a completion's opcode (`ibv_wc_opcode`). For 12 and
 * 13, which verbs.h leaves unnamed inside its range, rdma-core returns a NULL pointer (glibc's
 * printf shows `(null)`); this answers `"unknown"` for them too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WrOpcode } from "./enums.ts";
 * import { wrOpcodeStr } from "./strs.ts";
 * assert.equal(wrOpcodeStr(WrOpcode.RDMA_WRITE_WITH_IMM), "rdma-write-with-imm");
 * assert.equal(wrOpcodeStr(14), "flush");
 * assert.equal(wrOpcodeStr(12), "unknown");
 * ```
 */
export function wrOpcodeStr(opcode: WrOpcode | number): string {
  return lookup(WR_OPCODE_STR, opcode);
}
