/**
 * libibverbs' enum strings (drivers/uapi/strs.ts) against rdma-core's `libibverbs/enum_strs.c`:
 * every value of each enum, by its verbs.h name, with the text rdma-core answers, and values
 * outside each table.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  EventType,
  eventTypeStr,
  NodeType,
  nodeTypeStr,
  PortState,
  portStateStr,
  WcStatus,
  wcStatusName,
  wcStatusStr,
  WrOpcode,
  wrOpcodeStr,
} from "../mod.ts";

/** Values a C caller cannot pass, or that no table names: each answers "unknown". */
const ODD: unknown[] = [-1, -2, 1e9, 2.5, NaN, Infinity, "0", null, undefined, 0n];

Deno.test("wcStatusStr: every ibv_wc_status as rdma-core spells it", () => {
  const want: Record<keyof typeof WcStatus, string> = {
    SUCCESS: "success",
    LOC_LEN_ERR: "local length error",
    LOC_QP_OP_ERR: "local QP operation error",
    LOC_EEC_OP_ERR: "local EE context operation error",
    LOC_PROT_ERR: "local protection error",
    WR_FLUSH_ERR: "Work Request Flushed Error",
    MW_BIND_ERR: "memory management operation error",
    BAD_RESP_ERR: "bad response error",
    LOC_ACCESS_ERR: "local access error",
    REM_INV_REQ_ERR: "remote invalid request error",
    REM_ACCESS_ERR: "remote access error",
    REM_OP_ERR: "remote operation error",
    RETRY_EXC_ERR: "transport retry counter exceeded",
    RNR_RETRY_EXC_ERR: "RNR retry counter exceeded",
    LOC_RDD_VIOL_ERR: "local RDD violation error",
    REM_INV_RD_REQ_ERR: "remote invalid RD request",
    REM_ABORT_ERR: "aborted error",
    INV_EECN_ERR: "invalid EE context number",
    INV_EEC_STATE_ERR: "invalid EE context state",
    FATAL_ERR: "fatal error",
    RESP_TIMEOUT_ERR: "response timeout error",
    GENERAL_ERR: "general error",
  };
  for (const [name, value] of Object.entries(WcStatus)) {
    assert.equal(wcStatusStr(value), want[name as keyof typeof WcStatus], name);
  }
  // IBV_WC_TM_ERR and IBV_WC_TM_RNDV_INCOMPLETE, which the model's enum leaves out.
  assert.equal(wcStatusStr(22), "TM error");
  assert.equal(wcStatusStr(23), "TM software rendezvous");
  assert.equal(wcStatusStr(24), "unknown");
  for (const v of ODD) assert.equal(wcStatusStr(v as number), "unknown", String(v));
  assert.equal(wcStatusStr(-0), "success");
});

Deno.test("eventTypeStr: every ibv_event_type as rdma-core spells it", () => {
  const want: Record<keyof typeof EventType, string> = {
    CQ_ERR: "CQ error",
    QP_FATAL: "local work queue catastrophic error",
    QP_REQ_ERR: "invalid request local work queue error",
    QP_ACCESS_ERR: "local access violation work queue error",
    COMM_EST: "communication established",
    SQ_DRAINED: "send queue drained",
    PATH_MIG: "path migrated",
    PATH_MIG_ERR: "path migration request error",
    DEVICE_FATAL: "local catastrophic error",
    PORT_ACTIVE: "port active",
    PORT_ERR: "port error",
    LID_CHANGE: "LID change",
    PKEY_CHANGE: "P_Key change",
    SM_CHANGE: "SM change",
    SRQ_ERR: "SRQ catastrophic error",
    SRQ_LIMIT_REACHED: "SRQ limit reached",
    QP_LAST_WQE_REACHED: "last WQE reached",
    CLIENT_REREGISTER: "client reregistration",
    GID_CHANGE: "GID table change",
    WQ_FATAL: "WQ fatal",
  };
  for (const [name, value] of Object.entries(EventType)) {
    assert.equal(eventTypeStr(value), want[name as keyof typeof EventType], name);
  }
  assert.equal(eventTypeStr(20), "Device link speed change"); // IBV_EVENT_DEVICE_SPEED_CHANGE
  assert.equal(eventTypeStr(21), "unknown");
  for (const v of ODD) assert.equal(eventTypeStr(v as number), "unknown", String(v));
});

Deno.test("portStateStr: every ibv_port_state as rdma-core spells it", () => {
  const want: Record<keyof typeof PortState, string> = {
    NOP: "no state change (NOP)",
    DOWN: "down",
    INIT: "init",
    ARMED: "armed",
    ACTIVE: "active",
    ACTIVE_DEFER: "active defer",
  };
  for (const [name, value] of Object.entries(PortState)) {
    assert.equal(portStateStr(value), want[name as keyof typeof PortState], name);
  }
  assert.equal(portStateStr(6), "unknown");
  for (const v of ODD) assert.equal(portStateStr(v as number), "unknown", String(v));
});

Deno.test("nodeTypeStr: every ibv_node_type as rdma-core spells it; UNKNOWN and 0 are unknown", () => {
  const want: Record<keyof typeof NodeType, string> = {
    UNKNOWN: "unknown",
    CA: "InfiniBand channel adapter",
    SWITCH: "InfiniBand switch",
    ROUTER: "InfiniBand router",
    RNIC: "iWARP NIC",
    USNIC: "usNIC",
    USNIC_UDP: "usNIC UDP",
    UNSPECIFIED: "unspecified",
  };
  for (const [name, value] of Object.entries(NodeType)) {
    assert.equal(nodeTypeStr(value), want[name as keyof typeof NodeType], name);
  }
  assert.equal(nodeTypeStr(0), "unknown"); // below IBV_NODE_CA
  assert.equal(nodeTypeStr(8), "unknown");
  for (const v of ODD) assert.equal(nodeTypeStr(v as number), "unknown", String(v));
});

Deno.test("wrOpcodeStr: every ibv_wr_opcode as rdma-core spells it; the unnamed 12 and 13 are unknown", () => {
  const want: Record<keyof typeof WrOpcode, string> = {
    RDMA_WRITE: "rdma-write",
    RDMA_WRITE_WITH_IMM: "rdma-write-with-imm",
    SEND: "send",
    SEND_WITH_IMM: "send-with-imm",
    RDMA_READ: "rdma-read",
    ATOMIC_CMP_AND_SWP: "atomic-cmp-and-swp",
    ATOMIC_FETCH_AND_ADD: "atomic-fetch-and-add",
  };
  for (const [name, value] of Object.entries(WrOpcode)) {
    assert.equal(wrOpcodeStr(value), want[name as keyof typeof WrOpcode], name);
  }
  // verbs.h's opcodes beyond the model's enum: LOCAL_INV = 7 … DRIVER1 = 11, FLUSH = 14,
  // ATOMIC_WRITE = 15.
  assert.deepEqual(
    [7, 8, 9, 10, 11, 12, 13, 14, 15, 16].map(wrOpcodeStr),
    [
      "local-inv",
      "bind-mw",
      "send-with-inv",
      "tso",
      "driver1",
      "unknown", // rdma-core: NULL (a hole in its table)
      "unknown",
      "flush",
      "atomic-write",
      "unknown",
    ],
  );
  for (const v of ODD) assert.equal(wrOpcodeStr(v as number), "unknown", String(v));
});

Deno.test("uapi strs: wcStatusName is each WcStatus's own name, the number for any other value", () => {
  for (const [name, value] of Object.entries(WcStatus)) assert.equal(wcStatusName(value), name);
  assert.deepEqual([wcStatusName(22), wcStatusName(-1)], ["22", "-1"]);
});
