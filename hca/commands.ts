/**
 * The HCA command interface (BAR0 "HCR", privileged): command opcodes, their
 * parameter and result types, and the firmware status codes. Opcode and
 * status numbers follow the Mellanox InfiniHost (MT23108 "Tavor") programming
 * model as the Linux mthca driver names them; parameters are typed objects
 * instead of mailbox bytes, but carry the same fields.
 *
 * The driver allocates indices (QPN, CQN, EQN, SRQN, MPT index, MTT segment,
 * UAR index) from its own allocators and hands ownership of an entry to the
 * device with a SW2HW_* command; HW2SW_* (or 2RST for a QP) gives it back.
 * The device validates every field and answers with a {@link CmdStatus};
 * it never throws on bad input.
 *
 * The device speaks its own vocabulary, as an InfiniHost does: QP service
 * types and states, MPT and QPC access bits are Tavor's numbers (Linux
 * mthca_qp.c `MTHCA_QP_ST_*` / `MTHCA_QP_STATE_*`, mthca_provider.h
 * `MTHCA_MPT_FLAG_*`), and the native driver converts verbs values to them
 * (its `to_mthca_state`/`to_mthca_st`/`convert_access`). MTU codes are the
 * IBTA PortInfo encoding (`hca/link.ts`). This module imports nothing from
 * `drivers/`: the device knows machine addresses and vectors, not verbs.
 *
 * @module
 */

/**
 * Command opcodes (Tavor numbering; QUERY_PORT and INIT2INIT as in later
 * Mellanox firmware).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cmdName, CmdOp } from "./commands.ts";
 * assert.deepEqual([CmdOp.RTR2RTS_QP, cmdName(0x1b)], [27, "RTR2RTS_QP"]);
 * ```
 */
export const CmdOp = {
  QUERY_DEV_LIM: 0x03,
  INIT_HCA: 0x07,
  CLOSE_HCA: 0x08,
  INIT_IB: 0x09,
  CLOSE_IB: 0x0a,
  SW2HW_MPT: 0x0d,
  QUERY_MPT: 0x0e,
  HW2SW_MPT: 0x0f,
  WRITE_MTT: 0x11,
  MAP_EQ: 0x12,
  SW2HW_EQ: 0x13,
  HW2SW_EQ: 0x14,
  QUERY_EQ: 0x15,
  SW2HW_CQ: 0x16,
  HW2SW_CQ: 0x17,
  QUERY_CQ: 0x18,
  RST2INIT_QP: 0x19,
  INIT2RTR_QP: 0x1a,
  RTR2RTS_QP: 0x1b,
  RTS2RTS_QP: 0x1c,
  SQERR2RTS_QP: 0x1d,
  TO_ERR_QP: 0x1e,
  RTS2SQD_QP: 0x1f,
  SQD2RTS_QP: 0x20,
  TO_RST_QP: 0x21,
  QUERY_QP: 0x22,
  READ_MGM: 0x25,
  WRITE_MGM: 0x26,
  MGID_HASH: 0x27,
  RESIZE_CQ: 0x2c,
  INIT2INIT_QP: 0x2d,
  SW2HW_SRQ: 0x35,
  HW2SW_SRQ: 0x36,
  QUERY_SRQ: 0x37,
  SQD2SQD_QP: 0x38,
  ARM_SRQ: 0x40,
  QUERY_PORT: 0x43,
} as const;
/** A value of {@link CmdOp}. */
export type CmdOp = (typeof CmdOp)[keyof typeof CmdOp];

/**
 * Name of a command opcode, for traces and messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cmdName } from "./commands.ts";
 * assert.deepEqual([cmdName(0x16), cmdName(0x99)], ["SW2HW_CQ", "CMD_0x99"]);
 * ```
 */
export function cmdName(op: number): string {
  for (const [k, v] of Object.entries(CmdOp)) if (v === op) return k;
  return `CMD_0x${op.toString(16)}`;
}

/**
 * Firmware command status (the HCR status byte; values as mthca's CMD_STAT_*).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, CmdStatus } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const r = await engine.run(() => hca.cmd.exec(CmdOp.QUERY_PORT, { port: 1 }));
 * assert.equal(r.status, CmdStatus.BAD_SYS_STATE); // INIT_HCA has not run
 * ```
 */
export const CmdStatus = {
  OK: 0x00,
  /** Internal error (a bus error while reading the mailbox). */
  INTERNAL_ERR: 0x01,
  /** Opcode not supported. */
  BAD_OP: 0x02,
  /** A parameter is out of range or missing. */
  BAD_PARAM: 0x03,
  /** The HCA is not initialized (INIT_HCA not run) or already is. */
  BAD_SYS_STATE: 0x04,
  /** The object referred to (PD, CQ, EQ, SRQ, MPT key, MTT range) is not usable. */
  BAD_RESOURCE: 0x05,
  /** The object is referenced by another HW-owned object (e.g. a CQ with QPs). */
  RESOURCE_BUSY: 0x06,
  /** A limit would be exceeded (e.g. CQ size above max_cqe). */
  EXCEED_LIM: 0x08,
  /** The object is in the wrong state for this command (e.g. SW2HW on a HW-owned entry). */
  BAD_RES_STATE: 0x09,
  /** The index is outside the table. */
  BAD_INDEX: 0x0a,
  /** The QP is in the wrong state for this transition. */
  BAD_QP_STATE: 0x10,
  /** A memory-translation segment parameter is bad (page size, MTT range). */
  BAD_SEG_PARAM: 0x20,
  /** A size (queue length, stride) is not supported. */
  BAD_SIZE: 0x40,
} as const;
/** A value of {@link CmdStatus}. */
export type CmdStatus = (typeof CmdStatus)[keyof typeof CmdStatus];

/**
 * Name of a status value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cmdStatusName } from "./commands.ts";
 * assert.equal(cmdStatusName(0x10), "BAD_QP_STATE");
 * ```
 */
export function cmdStatusName(status: number): string {
  for (const [k, v] of Object.entries(CmdStatus)) if (v === status) return k;
  return `STATUS_0x${status.toString(16)}`;
}

/**
 * QP service type in the QP context (Tavor numbering, mthca_qp.c
 * `MTHCA_QP_ST_*`). The device also numbers RD 0x2 and MLX 0x7; it models
 * neither, and RST2INIT refuses them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QpServiceType } from "./commands.ts";
 * // Not the verbs numbers: IBV_QPT_UD is 4, the device's UD is 3.
 * assert.equal(QpServiceType.UD, 0x3);
 * assert.deepEqual(Object.keys(QpServiceType), ["RC", "UC", "UD"]);
 * ```
 */
export const QpServiceType = { RC: 0x0, UC: 0x1, UD: 0x3 } as const;
/** A value of {@link QpServiceType}. */
export type QpServiceType = (typeof QpServiceType)[keyof typeof QpServiceType];

/**
 * QP state as the device holds it and QUERY_QP reports it (Tavor numbering,
 * mthca_qp.c `MTHCA_QP_STATE_*`: SQE before SQD, unlike `ibv_qp_state`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HwQpState, hwQpStateName } from "./commands.ts";
 * assert.equal(HwQpState.SQE, 4); // IBV_QPS_SQE is 5
 * assert.equal(hwQpStateName(HwQpState.SQD), "SQD");
 * ```
 */
export const HwQpState = { RESET: 0, INIT: 1, RTR: 2, RTS: 3, SQE: 4, SQD: 5, ERR: 6 } as const;
/** A value of {@link HwQpState}. */
export type HwQpState = (typeof HwQpState)[keyof typeof HwQpState];

/**
 * Name of a device QP state, for messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hwQpStateName } from "./commands.ts";
 * assert.equal(hwQpStateName(3), "RTS");
 * assert.equal(hwQpStateName(9), "state 9");
 * ```
 */
export function hwQpStateName(state: number): string {
  for (const [k, v] of Object.entries(HwQpState)) if (v === state) return k;
  return `state ${state}`;
}

/**
 * Access rights of an MPT entry (bits of the MPT flags word, mthca_provider.h
 * `MTHCA_MPT_FLAG_*`). mthca's `convert_access` always sets LOCAL_READ; the
 * device never refuses a local read of a region its owner registered.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MptAccess } from "./commands.ts";
 * // A region a peer may write into needs LOCAL_WRITE too (IBTA vol 1 §10.6.3).
 * const peerWritable = MptAccess.LOCAL_READ | MptAccess.LOCAL_WRITE | MptAccess.REMOTE_WRITE;
 * assert.equal(peerWritable, 0x2c00);
 * ```
 */
export const MptAccess = {
  LOCAL_READ: 1 << 10,
  LOCAL_WRITE: 1 << 11,
  REMOTE_READ: 1 << 12,
  REMOTE_WRITE: 1 << 13,
  ATOMIC: 1 << 14,
} as const;

/** Every {@link MptAccess} bit: SW2HW_MPT refuses others. */
export const MPT_ACCESS_MASK: number = Object.values(MptAccess).reduce((m, b) => m | b, 0);

/**
 * Remote operations a QP's responder accepts (QPC params2 bits, mthca_qp.c
 * `MTHCA_QP_BIT_RRE/RWE/RAE`: remote read, write, atomic enable).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QpAccess } from "./commands.ts";
 * const rdmaTarget = QpAccess.REMOTE_READ | QpAccess.REMOTE_WRITE;
 * assert.equal(rdmaTarget, 0xc000);
 * assert.equal((rdmaTarget & QpAccess.REMOTE_ATOMIC) !== 0, false);
 * ```
 */
export const QpAccess = {
  REMOTE_ATOMIC: 1 << 13,
  REMOTE_WRITE: 1 << 14,
  REMOTE_READ: 1 << 15,
} as const;

/** Every {@link QpAccess} bit: a transition refuses others. */
export const QP_ACCESS_MASK: number = Object.values(QpAccess).reduce((m, b) => m | b, 0);

/**
 * Event types of EQEs (Tavor numbering). Completion events go to the EQ
 * named in the CQ context; the others go to the EQ that MAP_EQ maps them to.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EqeType } from "./commands.ts";
 * // MAP_EQ's mask: route the QP error events to one EQ.
 * assert.equal(1 << EqeType.WQ_INVAL_REQ_ERROR | 1 << EqeType.WQ_ACCESS_ERROR, 0x30000);
 * ```
 */
export const EqeType = {
  COMPLETION: 0x00,
  PATH_MIG: 0x01,
  COMM_EST: 0x02,
  SQ_DRAINED: 0x03,
  CQ_ERROR: 0x04,
  WQ_CATAS_ERROR: 0x05,
  PATH_MIG_FAILED: 0x07,
  LOCAL_CATAS_ERROR: 0x08,
  PORT_CHANGE: 0x09,
  EQ_OVERFLOW: 0x0f,
  WQ_INVAL_REQ_ERROR: 0x10,
  WQ_ACCESS_ERROR: 0x11,
  SRQ_CATAS_ERROR: 0x12,
  SRQ_QP_LAST_WQE: 0x13,
  SRQ_LIMIT: 0x14,
} as const;
/** A value of {@link EqeType}. */
export type EqeType = (typeof EqeType)[keyof typeof EqeType];

/**
 * Bits of a key (lkey = rkey) that tag the MPT entry: `key = index << 8 | tag`.
 * The driver changes the tag each time it reuses an index, so a key of a
 * deregistered region stops working even when its entry is reused (as
 * mthca's `arbel_hw_index_to_key` keeps 8 bits beside the index).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MPT_KEY_TAG_BITS, MPT_KEY_TAG_MASK } from "./commands.ts";
 * assert.equal(MPT_KEY_TAG_MASK, (1 << MPT_KEY_TAG_BITS) - 1);
 * ```
 */
export const MPT_KEY_TAG_BITS = 8;
/** Mask of the tag bits of a key. */
export const MPT_KEY_TAG_MASK = (1 << MPT_KEY_TAG_BITS) - 1;

/**
 * MPT index of a key (the bits above the tag).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { keyToMptIndex } from "./commands.ts";
 * assert.equal(keyToMptIndex(0x12345a), 0x1234);
 * ```
 */
export function keyToMptIndex(key: number): number {
  return key >>> MPT_KEY_TAG_BITS;
}

/**
 * Tag of a key (its low bits).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mptKeyTag } from "./commands.ts";
 * assert.equal(mptKeyTag(0x12345a), 0x5a);
 * ```
 */
export function mptKeyTag(key: number): number {
  return key & MPT_KEY_TAG_MASK;
}

/**
 * A key for MPT entry `index` with tag `tag` (taken modulo the tag space).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { keyToMptIndex, mptKey } from "./commands.ts";
 * const stale = mptKey(7, 1), fresh = mptKey(7, 2); // the same entry, registered again
 * assert.equal(keyToMptIndex(stale), keyToMptIndex(fresh));
 * assert.notEqual(stale, fresh);
 * assert.equal(mptKey(7, 0x101), mptKey(7, 1)); // the tag wraps
 * ```
 */
export function mptKey(index: number, tag = 0): number {
  return ((index << MPT_KEY_TAG_BITS) | (tag & MPT_KEY_TAG_MASK)) >>> 0;
}

/**
 * The tag a driver gives an index's next key (the tag after `tag`, wrapping).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MPT_KEY_TAG_MASK, nextMptKeyTag } from "./commands.ts";
 * assert.equal(nextMptKeyTag(4), 5);
 * assert.equal(nextMptKeyTag(MPT_KEY_TAG_MASK), 0);
 * ```
 */
export function nextMptKeyTag(tag: number): number {
  return (tag + 1) & MPT_KEY_TAG_MASK;
}

// ---------------------------------------------------------------------------
// Parameter and result types, one per command.

/**
 * Output of QUERY_DEV_LIM: the device's limits and fixed formats.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, type DevLim } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const r = await engine.run(() => hca.cmd.exec(CmdOp.QUERY_DEV_LIM, {}));
 * assert.ok(r.ok);
 * const lim: DevLim = r.out;
 * assert.equal(lim.reservedQps, 2); // QPN 2 is the first a consumer gets
 * assert.equal(lim.cqeSize, 32);
 * ```
 */
export interface DevLim {
  /** Queue pairs. */
  maxQp: number;
  /** Completion queues. */
  maxCq: number;
  /** Event queues. */
  maxEq: number;
  /** Shared receive queues. */
  maxSrq: number;
  /** MPT entries (memory regions). */
  maxMpt: number;
  /** MTT entries. */
  maxMtt: number;
  /** UAR pages. */
  maxUar: number;
  /** Protection domains. */
  maxPd: number;
  /** Address handles (kept by the driver). */
  maxAh: number;
  /** Work requests per queue. */
  maxQpWr: number;
  /** Gather/scatter entries per WQE. */
  maxSge: number;
  /** Entries per CQ. */
  maxCqe: number;
  /** Inline bytes per send WQE. */
  maxInline: number;
  /** Outstanding RDMA READ/atomic a QP may initiate. */
  maxRdAtomic: number;
  /** Outstanding RDMA READ/atomic a QP accepts as responder. */
  maxDestRdAtomic: number;
  /** QPNs below this are reserved (special QPs 0 and 1). */
  reservedQps: number;
  /** MPT indices below this are reserved (index 0: key 0 means "no key"). */
  reservedMpts: number;
  /** CQNs/EQNs/SRQNs below these are reserved. */
  reservedCqs: number;
  /** EQNs below this are reserved. */
  reservedEqs: number;
  /** SRQNs below this are reserved. */
  reservedSrqs: number;
  /** UARs below this are the kernel driver's (UAR 0). */
  reservedUars: number;
  /** Number of ports. */
  ports: number;
  /** Bytes: UAR page, CQE, EQE, smallest WQE stride, largest WQE stride. */
  uarSize: number;
  /** Bytes per CQE. */
  cqeSize: number;
  /** Bytes per EQE. */
  eqeSize: number;
  /** Smallest send WQE stride (bytes). */
  minWqeStride: number;
  /** Largest WQE stride (bytes). */
  maxWqeStride: number;
  /** Largest MTU code (5 = 4096). */
  maxMtu: number;
  /**
   * NodeInfo:NodeGUID (port n's GUID is NodeGUID + n; 0 off a fabric). mthca reads it with a
   * MAD_IFC at bring-up (mthca_init_node_data); the model hands it out with the limits.
   */
  nodeGuid: bigint;
  /** P_Key table entries per port (mthca's `limits.pkey_table_len`). */
  maxPkeys: number;
  /** Page shifts accepted in an MPT entry. */
  minPageShift: number;
  /** Largest page shift in an MPT entry. */
  maxPageShift: number;
  /** MGM + AMGM entries (multicast groups the device holds; mthca's `num_mgms + num_amgms`). */
  maxMcg: number;
  /** MGM hash entries (the rest are AMGM overflow entries the driver allocates). */
  numMgms: number;
  /** QP slots per MGM entry (mthca's MTHCA_QP_PER_MGM). */
  qpPerMgm: number;
  /**
   * Local CA ACK delay (QUERY_DEV_LIM's `local_ca_ack_delay`, IBTA vol 1 §9.7.6.1.3): the longest
   * the responder takes to acknowledge, 4.096 µs × 2^value (0..31).
   */
  localCaAckDelay: number;
}

/**
 * READ_MGM parameter (mthca_READ_MGM: the entry index).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MgmIndexParams } from "./commands.ts";
 * const p: MgmIndexParams = { index: 4096 }; // the first AMGM entry of an MT23108
 * assert.equal(p.index >= 4096, true);
 * ```
 */
export interface MgmIndexParams {
  /** Entry index, 0 .. maxMcg - 1. */
  index: number;
}

/**
 * An MGM entry as READ_MGM returns it and WRITE_MGM takes it (hca/mcg.ts).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MgmInfo } from "./commands.ts";
 * const free: MgmInfo = { nextGidIndex: 0, gid: new Uint8Array(16), qp: [0, 0, 0, 0, 0, 0, 0, 0] };
 * assert.equal(free.gid.every((b) => b === 0), true); // a zero MGID marks a free entry
 * ```
 */
export interface MgmInfo {
  /** Next entry of the hash chain (0: none). */
  nextGidIndex: number;
  /** The MGID (16 bytes; all zero: free). */
  gid: Uint8Array;
  /** QP slots: `qpn | 1 << 31` when in use, valid ones first. */
  qp: number[];
}

/**
 * WRITE_MGM parameter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WriteMgmParams } from "./commands.ts";
 * const p: WriteMgmParams = { index: 3, entry: { nextGidIndex: 0, gid: new Uint8Array(16), qp: [] } };
 * assert.equal(p.entry.qp.length, 0);
 * ```
 */
export interface WriteMgmParams {
  /** Entry index. */
  index: number;
  /** What the entry becomes. */
  entry: MgmInfo;
}

/**
 * MGID_HASH parameter and result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MgidHashParams } from "./commands.ts";
 * const p: MgidHashParams = { gid: new Uint8Array(16).fill(0xff) };
 * assert.equal(p.gid.length, 16);
 * ```
 */
export interface MgidHashParams {
  /** The MGID to hash. */
  gid: Uint8Array;
}

/**
 * INIT_IB / CLOSE_IB / QUERY_PORT parameter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, PortInfoState, type PortParams } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const port: PortParams = { port: 1 };
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   return await hca.cmd.exec(CmdOp.QUERY_PORT, port);
 * });
 * assert.ok(r.ok);
 * assert.equal(r.out.state, PortInfoState.DOWN); // not cabled
 * ```
 */
export interface PortParams {
  /** Port number (1-based). */
  port: number;
}

/**
 * Logical port state as QUERY_PORT reports it (IBTA vol 1 §14.2.5.6,
 * PortInfo:PortState).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PortInfoState } from "./commands.ts";
 * assert.equal(PortInfoState.ACTIVE, 4);
 * ```
 */
export const PortInfoState = { DOWN: 1, INIT: 2, ARMED: 3, ACTIVE: 4 } as const;

/**
 * Physical port state (IBTA vol 1 §14.2.5.6, PortInfo:PortPhysicalState);
 * the device reports Polling (no cable), Disabled (port down) or LinkUp.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PortPhysState } from "./commands.ts";
 * assert.equal(PortPhysState.LINK_UP, 5);
 * ```
 */
export const PortPhysState = {
  SLEEP: 1,
  POLLING: 2,
  DISABLED: 3,
  TRAINING: 4,
  LINK_UP: 5,
} as const;

/**
 * Output of QUERY_PORT (fabric-side values come from the port object).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PortInfo } from "./commands.ts";
 * import { ibaMtuBytes } from "./link.ts";
 * assert.equal(ibaMtuBytes(({ activeMtu: 4 } as PortInfo).activeMtu), 2048);
 * ```
 */
export interface PortInfo {
  /** Port number (1-based). */
  port: number;
  /** {@link PortInfoState} (IBTA PortInfo:PortState). */
  state: number;
  /** {@link PortPhysState} (IBTA PortInfo:PortPhysicalState). */
  physState: number;
  /** Base LID. */
  lid: number;
  /** LID mask control. */
  lmc: number;
  /** LID of the subnet manager. */
  smLid: number;
  /** SL to reach the subnet manager. */
  smSl: number;
  /** MTU codes (IBTA PortInfo encoding 1..5, `hca/link.ts`). */
  maxMtu: number;
  /** Active MTU code. */
  activeMtu: number;
  /** Link width (lanes) and per-lane signalling rate in Gb/s. */
  activeWidth: number;
  /** Per-lane signalling rate, Gb/s. */
  activeSpeedGbps: number;
  /** Subnet prefix (GID high 64 bits). */
  gidPrefix: bigint;
  /** Port GUID. */
  guid: bigint;
  /** The port's P_Key table, all {@link DevLim.maxPkeys} entries (0: an empty entry). */
  pkeys: number[];
  /** PortInfo:P_KeyViolations: packets dropped for a P_Key that did not match (saturates at 0xFFFF). */
  pkeyViolations: number;
  /** PortInfo:Q_KeyViolations: UD datagrams dropped for a Q_Key that did not match (saturates at 0xFFFF). */
  qkeyViolations: number;
  /** IB_PORT_* capability bits (IBTA PortInfo:CapabilityMask). */
  capMask: number;
  /** IBTA PortInfo:VLCap, the data VLs the port has (1: VL0, 2: VL0-1, 3: VL0-3, 4: VL0-7, 5: VL0-14). */
  vlCap: number;
  /** PortInfo:SubnetTimeOut as the subnet manager set it (4.096 µs × 2^value; 0 before). */
  subnetTimeout: number;
  /** PortInfo:InitTypeReply as the subnet manager set it (0: the SM sets none). */
  initTypeReply: number;
}

/**
 * SW2HW_MPT parameter: make MPT entry `index` a valid region owned by HW.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, CmdStatus, MptAccess, type MptParams, mptKey } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine(), memory = new MachineMemory(16 << 20);
 * const hca = new Hca({ engine, memory, irq: new InterruptController(), profile: PCIX_SDR_2006,
 *   rng: new Prng(1), name: "hca0" });
 * // 10 KiB at an address 512 bytes into a page: it spans 3 translation pages.
 * const mr: MptParams = {
 *   index: 9, key: mptKey(9, 0x5a), pd: 1, start: 0x20200, length: 10240,
 *   access: MptAccess.LOCAL_READ | MptAccess.LOCAL_WRITE, mttBase: 0, mttCount: 3, pageShift: 12,
 * };
 * const frames = [1, 2, 3].map(() => memory.allocFrame("mr"));
 * const [short, r] = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   await hca.cmd.exec(CmdOp.WRITE_MTT, { base: 0, mfns: frames });
 *   const short = await hca.cmd.exec(CmdOp.SW2HW_MPT, { ...mr, mttCount: 2 });
 *   return [short, await hca.cmd.exec(CmdOp.SW2HW_MPT, mr)];
 * });
 * assert.equal(short.status, CmdStatus.BAD_SEG_PARAM); // 2 pages cannot hold it
 * assert.ok(r.ok);
 * ```
 */
export interface MptParams {
  /** MPT index (= key >>> 8). */
  index: number;
  /** lkey = rkey; must satisfy `key >>> 8 === index`. */
  key: number;
  /** Protection domain. */
  pd: number;
  /** Virtual start address the consumer uses (what WQE addresses are relative to). */
  start: number;
  /** Bytes in the region. */
  length: number;
  /** {@link MptAccess} bits. */
  access: number;
  /** First MTT entry and number of entries (pages) the region uses. */
  mttBase: number;
  /** MTT entries used (pages). */
  mttCount: number;
  /** log2 of the translation page size (12 = 4 KiB; larger pages need machine-contiguous frames). */
  pageShift: number;
}

/**
 * HW2SW_MPT / QUERY_MPT parameter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, CmdStatus, keyToMptIndex, type MptIndexParams } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const dereg: MptIndexParams = { index: keyToMptIndex(0x95a) };
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   return await hca.cmd.exec(CmdOp.HW2SW_MPT, dereg);
 * });
 * assert.equal(r.status, CmdStatus.BAD_RES_STATE);
 * assert.equal(r.ok ? "" : r.message, "HW2SW_MPT: entry 9 is not HW-owned");
 * ```
 */
export interface MptIndexParams {
  /** Table index. */
  index: number;
}

/**
 * QUERY_MPT output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MptInfo } from "./commands.ts";
 * const covers = (e: MptInfo, va: number, len: number) => va >= e.start && va + len <= e.start + e.length;
 * assert.equal(covers({ start: 4096, length: 4096 } as MptInfo, 8000, 300), false);
 * ```
 */
export type MptInfo = MptParams;

/**
 * WRITE_MTT parameter: write machine frame numbers into MTT[base ..].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, CmdStatus, type WriteMttParams } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine(), memory = new MachineMemory(16 << 20);
 * const hca = new Hca({ engine, memory, irq: new InterruptController(), profile: PCIX_SDR_2006,
 *   rng: new Prng(1), name: "hca0" });
 * // Guest-contiguous pages need not be machine-contiguous: one MTT entry each.
 * const w: WriteMttParams = { base: 64, mfns: [1, 2, 3].map(() => memory.allocFrame("buf")) };
 * const [ok, bad] = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   const ok = await hca.cmd.exec(CmdOp.WRITE_MTT, w);
 *   return [ok, await hca.cmd.exec(CmdOp.WRITE_MTT, { base: 67, mfns: [999_999] })];
 * });
 * assert.ok(ok.ok);
 * assert.equal(bad.status, CmdStatus.BAD_PARAM); // not an allocated RAM frame
 * ```
 */
export interface WriteMttParams {
  /** First MTT entry to write. */
  base: number;
  /** Machine frame number of each translation page (first frame of the page). */
  mfns: readonly number[];
}

/**
 * SW2HW_EQ parameter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, type EqParams, MptAccess, mptKey } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine(), memory = new MachineMemory(16 << 20);
 * const hca = new Hca({ engine, memory, irq: new InterruptController(), profile: PCIX_SDR_2006,
 *   rng: new Prng(1), name: "hca0" });
 * // One registered page with LOCAL_WRITE holds the EQ: 2^7 entries of 32 bytes.
 * const page = { index: 1, key: mptKey(1), pd: 0, start: 0, length: 4096,
 *   access: MptAccess.LOCAL_WRITE, mttBase: 0, mttCount: 1, pageShift: 12 };
 * const eq: EqParams = { eqn: 1, key: page.key, addr: 0, logSize: 7, vector: 17, uarIndex: 0 };
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   await hca.cmd.exec(CmdOp.WRITE_MTT, { base: 0, mfns: [memory.allocFrame("eq")] });
 *   await hca.cmd.exec(CmdOp.SW2HW_MPT, page);
 *   await hca.cmd.exec(CmdOp.SW2HW_EQ, eq);
 *   return await hca.cmd.exec(CmdOp.QUERY_EQ, { eqn: 1 });
 * });
 * assert.ok(r.ok);
 * assert.deepEqual([r.out.vector, r.out.producerIndex, r.out.armed], [17, 0, true]);
 * ```
 */
export interface EqParams {
  /** EQ number. */
  eqn: number;
  /** MPT key of the EQ buffer (must grant LOCAL_WRITE). */
  key: number;
  /** Virtual address of entry 0 within that region. */
  addr: number;
  /** log2 of the number of 32-byte entries. */
  logSize: number;
  /** Interrupt vector raised (through `irq.raise`) when an EQE is written to an armed EQ. */
  vector: number;
  /** UAR whose EQ doorbell may update this EQ (the kernel's, normally 0). */
  uarIndex: number;
}

/**
 * HW2SW_EQ / QUERY_EQ parameter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, CmdStatus, type EqIndexParams } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const q: EqIndexParams = { eqn: 1 };
 * const [query, outOfRange] = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   return [await hca.cmd.exec(CmdOp.QUERY_EQ, q), await hca.cmd.exec(CmdOp.HW2SW_EQ, { eqn: 64 })];
 * });
 * assert.equal(query.status, CmdStatus.BAD_RES_STATE); // EQ 1 was never made HW-owned
 * assert.equal(outOfRange.status, CmdStatus.BAD_INDEX); // EQNs are 0..63
 * ```
 */
export interface EqIndexParams {
  /** EQ number. */
  eqn: number;
}

/**
 * QUERY_EQ output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { EqInfo } from "./commands.ts";
 * const backlog = (e: EqInfo) => e.producerIndex - e.consumerIndex;
 * assert.equal(backlog({ producerIndex: 12, consumerIndex: 9 } as EqInfo), 3);
 * ```
 */
export interface EqInfo extends EqParams {
  /** Entries written by the device (free-running). */
  producerIndex: number;
  /** Consumer index last set by a doorbell. */
  consumerIndex: number;
  /** Arm state. */
  armed: boolean;
  /** An event was lost to overrun. */
  overflowed: boolean;
}

/**
 * MAP_EQ parameter: route the event types in `eventMask` (bit = 1 << EqeType) to `eqn`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EqeType, type MapEqParams } from "./commands.ts";
 * const portEvents: MapEqParams = { eqn: 0, eventMask: 1 << EqeType.PORT_CHANGE };
 * assert.equal(portEvents.eventMask, 512);
 * ```
 */
export interface MapEqParams {
  /** EQ number. */
  eqn: number;
  /** Bit `1 << EqeType` per event type. */
  eventMask: number;
  /** Remove the mapping instead of adding it. */
  unmap?: boolean;
}

/**
 * SW2HW_CQ parameter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, type CqParams, MptAccess, mptKey } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine(), memory = new MachineMemory(16 << 20);
 * const hca = new Hca({ engine, memory, irq: new InterruptController(), profile: PCIX_SDR_2006,
 *   rng: new Prng(1), name: "hca0" });
 * // One registered page: the EQ in its first half, the CQ (2^6 entries of 32 bytes) in the second.
 * const page = { index: 1, key: mptKey(1), pd: 0, start: 0, length: 4096,
 *   access: MptAccess.LOCAL_WRITE, mttBase: 0, mttCount: 1, pageShift: 12 };
 * const cq: CqParams = { cqn: 3, key: page.key, addr: 2048, logSize: 6, eqn: 1, uarIndex: 0 };
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   await hca.cmd.exec(CmdOp.WRITE_MTT, { base: 0, mfns: [memory.allocFrame("q")] });
 *   await hca.cmd.exec(CmdOp.SW2HW_MPT, page);
 *   await hca.cmd.exec(CmdOp.SW2HW_EQ, { eqn: 1, key: page.key, addr: 0, logSize: 6, vector: 17, uarIndex: 0 });
 *   await hca.cmd.exec(CmdOp.SW2HW_CQ, cq);
 *   return await hca.cmd.exec(CmdOp.QUERY_CQ, { cqn: 3 });
 * });
 * assert.ok(r.ok);
 * assert.deepEqual([r.out.eqn, r.out.logSize, r.out.producerIndex], [1, 6, 0]);
 * ```
 */
export interface CqParams {
  /** CQ number. */
  cqn: number;
  /** MPT key of the CQ buffer (must grant LOCAL_WRITE). */
  key: number;
  /** Virtual address of entry 0 within that region. */
  addr: number;
  /** log2 of the number of 32-byte entries. */
  logSize: number;
  /** EQ that receives this CQ's completion events. */
  eqn: number;
  /** UAR whose CQ doorbells may update this CQ. */
  uarIndex: number;
}

/**
 * HW2SW_CQ / QUERY_CQ parameter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, CmdStatus, type CqIndexParams } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const q: CqIndexParams = { cqn: 3 };
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   return await hca.cmd.exec(CmdOp.QUERY_CQ, q);
 * });
 * assert.equal(r.status, CmdStatus.BAD_RES_STATE); // CQ 3 was never made HW-owned
 * ```
 */
export interface CqIndexParams {
  /** CQ number. */
  cqn: number;
}

/**
 * RESIZE_CQ parameter: the CQ continues in a new buffer (see FORMATS.md "Resize").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, CmdStatus, mptKey, type ResizeCqParams } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const grow: ResizeCqParams = { cqn: 3, key: mptKey(5), addr: 0x90000, logSize: 7 };
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   return await hca.cmd.exec(CmdOp.RESIZE_CQ, grow);
 * });
 * assert.equal(r.ok ? "" : r.message, "RESIZE_CQ: CQ 3 is not HW-owned");
 * assert.equal(r.status, CmdStatus.BAD_RES_STATE);
 * ```
 */
export interface ResizeCqParams {
  /** CQ number. */
  cqn: number;
  /** MPT key (lkey = rkey) of the buffer's region. */
  key: number;
  /** Virtual address of entry 0 within the key's region. */
  addr: number;
  /** log2 of the number of entries. */
  logSize: number;
}

/**
 * QUERY_CQ output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CqInfo } from "./commands.ts";
 * const unpolled = (c: CqInfo) => c.producerIndex - c.consumerIndex;
 * assert.equal(unpolled({ producerIndex: 70, consumerIndex: 64 } as CqInfo), 6);
 * ```
 */
export interface CqInfo extends CqParams {
  /** Entries written by the device (free-running). */
  producerIndex: number;
  /** Consumer index last set by a doorbell. */
  consumerIndex: number;
  /** 0 disarmed, 1 next completion, 2 solicited only. */
  armed: number;
  /** CQ overflowed: no more CQEs are written (async CQ_ERROR was raised). */
  error: boolean;
}

/**
 * SW2HW_SRQ parameter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mptKey, type SrqParams } from "./commands.ts";
 * const srq: SrqParams = { srqn: 1, pd: 1, key: mptKey(6), addr: 0xa0000, logSize: 6, logStride: 5, uarIndex: 2 };
 * assert.equal(2 ** srq.logStride / 16, 2); // scatter entries per WQE
 * ```
 */
export interface SrqParams {
  /** SRQ number. */
  srqn: number;
  /** Protection domain. */
  pd: number;
  /** MPT key and virtual address of the SRQ ring buffer. */
  key: number;
  /** Virtual address of entry 0 within the key's region. */
  addr: number;
  /** log2 entries and log2 stride (bytes, 16-byte scatter entries). */
  logSize: number;
  /** log2 of the entry stride in bytes. */
  logStride: number;
  /** UAR index whose doorbells control this object. */
  uarIndex: number;
}

/**
 * HW2SW_SRQ / QUERY_SRQ parameter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, CmdStatus, type SrqIndexParams } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const q: SrqIndexParams = { srqn: 1 };
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   return await hca.cmd.exec(CmdOp.HW2SW_SRQ, q);
 * });
 * assert.equal(r.status, CmdStatus.BAD_RES_STATE); // SRQ 1 was never made HW-owned
 * ```
 */
export interface SrqIndexParams {
  /** SRQ number. */
  srqn: number;
}

/**
 * ARM_SRQ parameter: raise SRQ_LIMIT once when fewer than `limit` WQEs remain (0 disarms).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { type ArmSrqParams, CmdOp, CmdStatus } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * // SRQ_LIMIT fires once when fewer than 8 posted receives remain.
 * const arm: ArmSrqParams = { srqn: 1, limit: 8 };
 * const r = await engine.run(() => hca.cmd.exec(CmdOp.ARM_SRQ, arm));
 * assert.equal(r.status, CmdStatus.BAD_SYS_STATE); // before INIT_HCA nothing is armed
 * ```
 */
export interface ArmSrqParams {
  /** SRQ number. */
  srqn: number;
  /** Armed limit (0 = disarmed). */
  limit: number;
}

/**
 * QUERY_SRQ output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { SrqInfo } from "./commands.ts";
 * const posted = (s: SrqInfo) => s.producerCounter - s.consumerCounter;
 * assert.equal(posted({ producerCounter: 40, consumerCounter: 33 } as SrqInfo), 7);
 * ```
 */
export interface SrqInfo extends SrqParams {
  /** Producer counter from the last doorbell. */
  producerCounter: number;
  /** WQEs taken by the device. */
  consumerCounter: number;
  /** Armed limit (0 = disarmed). */
  limit: number;
}

/**
 * GRH fields of a path or UD address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { GrhParams } from "./commands.ts";
 * const dgid = new Uint8Array(16);
 * dgid.set([0xfe, 0x80]);
 * const grh: GrhParams = { dgid, sgidIndex: 0, flowLabel: 0, hopLimit: 64, trafficClass: 0 };
 * assert.equal(grh.dgid[0].toString(16), "fe"); // link-local prefix
 * ```
 */
export interface GrhParams {
  /** Destination GID (16 bytes). */
  dgid: Uint8Array;
  /** Index of the source GID. */
  sgidIndex: number;
  /** GRH flow label (20 bits). */
  flowLabel: number;
  /** GRH hop limit. */
  hopLimit: number;
  /** GRH traffic class. */
  trafficClass: number;
}

/**
 * Primary path of a connected QP (the address vector in the QPC).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PathParams } from "./commands.ts";
 * const toPeer: PathParams = { dlid: 3, sl: 0, srcPathBits: 0 };
 * assert.equal(toPeer.grh, undefined); // same subnet, LRH only
 * ```
 */
export interface PathParams {
  /** Destination LID. */
  dlid: number;
  /** Service level. */
  sl: number;
  /** Source path bits (added to the port LID). */
  srcPathBits: number;
  /** Absent: no GRH (same subnet). */
  grh?: GrhParams;
  /** Static rate (0 = full). */
  staticRate?: number;
}

/**
 * QPC fields a transition may set. Which ones a transition requires is
 * listed in FORMATS.md ("QP transitions"); fields a transition does not
 * accept are ignored. Sizes are in entries and bytes, each a power of two.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, CmdStatus, type QpContextParams, QpServiceType } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * // RST2INIT checks every field it takes; here the CQs it names were never created.
 * const ctx: Partial<QpContextParams> = { type: QpServiceType.RC, pd: 1, sendCqn: 1, recvCqn: 1 };
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   return await hca.cmd.exec(CmdOp.RST2INIT_QP, { qpn: 0x40, ctx });
 * });
 * assert.equal(r.status, CmdStatus.BAD_RESOURCE);
 * assert.equal(r.ok ? "" : r.message, "RST2INIT: send/recv CQ is not HW-owned");
 * ```
 */
export interface QpContextParams {
  /** Service type. */
  type: QpServiceType;
  /** Protection domain. */
  pd: number;
  /** CQ for send completions. */
  sendCqn: number;
  /** CQ for receive completions. */
  recvCqn: number;
  /** SRQ number, or -1 / absent for none (then rqSize must be > 0). */
  srqn: number;
  /** UAR index whose doorbells control this object. */
  uarIndex: number;
  /** MPT key of the WQ buffer (SQ and RQ live in this one region). */
  wqKey: number;
  /** Virtual address of SQ entry 0 and RQ entry 0 in that region. */
  sqAddr: number;
  /** Virtual address of RQ entry 0. */
  rqAddr: number;
  /** Entries (power of two, 1..maxQpWr rounded up) and stride in bytes (64..1024). */
  sqSize: number;
  /** SQ stride in bytes (64..1024). */
  sqStride: number;
  /** 0 with an SRQ. */
  rqSize: number;
  /** RQ stride in bytes (16..1024). */
  rqStride: number;
  /** Port number (1-based). */
  port: number;
  /** P_Key table index. */
  pkeyIndex: number;
  /** Q_Key (UD). */
  qkey: number;
  /** {@link QpAccess} bits: the remote operations the responder accepts. */
  accessFlags: number;
  /** Remote QPN. */
  destQpn: number;
  /** Expected PSN of the responder (INIT2RTR). */
  rqPsn: number;
  /** Next PSN of the requester (RTR2RTS). */
  sqPsn: number;
  /** MTU code 1..5 (256..4096 bytes). */
  mtu: number;
  /** Primary path. */
  path: PathParams;
  /** Local ACK timeout: 4.096 µs · 2^timeout; 0 = infinite (IBTA §9.7.6.1.3). */
  timeout: number;
  /** 0..7 transport retries. */
  retryCnt: number;
  /** 0..7 RNR retries; 7 = infinite (IBTA §9.7.5.2.8). */
  rnrRetry: number;
  /** 5-bit code of IBTA table 45 sent in our RNR NAKs. */
  minRnrTimer: number;
  /** Outstanding RDMA READ/atomic we may initiate. */
  maxRdAtomic: number;
  /** RDMA READ/atomic we accept outstanding as responder. */
  maxDestRdAtomic: number;
  /** Raise SQ_DRAINED when the RTS→SQD drain completes. */
  sqdEvent: boolean;
}

/**
 * Parameter of every QP transition command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CmdOp, type QpTransitionParams } from "./commands.ts";
 * const toRts: QpTransitionParams = { qpn: 0x40, ctx: { sqPsn: 0, timeout: 14, retryCnt: 7, rnrRetry: 7 } };
 * assert.deepEqual([CmdOp.RTR2RTS_QP, toRts.ctx?.timeout], [27, 14]);
 * ```
 */
export interface QpTransitionParams {
  /** QP number. */
  qpn: number;
  /** Fields to set. */
  ctx?: Partial<QpContextParams>;
}

/**
 * QUERY_QP parameter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, HwQpState, type QpIndexParams } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const q: QpIndexParams = { qpn: 0x40 };
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   return await hca.cmd.exec(CmdOp.QUERY_QP, q);
 * });
 * assert.ok(r.ok);
 * assert.equal(r.out.state, HwQpState.RESET); // every QPN starts in RESET
 * ```
 */
export interface QpIndexParams {
  /** QP number. */
  qpn: number;
}

/**
 * QUERY_QP output: the whole QPC as the device holds it now.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HwQpState, type QpInfo } from "./commands.ts";
 * const canPost = (q: QpInfo) => q.state === HwQpState.RTS;
 * assert.equal(canPost({ state: HwQpState.RTR } as QpInfo), false);
 * ```
 */
export interface QpInfo extends QpContextParams {
  /** QP number. */
  qpn: number;
  /** State (see the type). */
  state: HwQpState;
  /** PSN the requester sends next, and the oldest unacknowledged PSN. */
  nextPsn: number;
  /** Oldest unacknowledged PSN. */
  unackedPsn: number;
  /** PSN the responder expects next. */
  expectedPsn: number;
  /** Producer counters the doorbells set and the device's consumer counters. */
  sqProducer: number;
  /** Oldest SQ WQE not completed. */
  sqConsumer: number;
  /** RQ producer counter from the last doorbell. */
  rqProducer: number;
  /** RQ WQEs taken. */
  rqConsumer: number;
  /** Retries left now (reset on progress). */
  retriesLeft: number;
  /**
   * In SQD with the send queue still draining: WQEs started before the move
   * are not all acknowledged yet (the QPC state mthca_query_qp reads as
   * `MTHCA_QP_STATE_DRAINING`, its `sq_draining`).
   */
  sqDraining: boolean;
  /** RNR retries left now. */
  rnrRetriesLeft: number;
}

/**
 * Parameter and output type of each command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CmdOp, type CommandMap } from "./commands.ts";
 * type CqQuery = CommandMap[typeof CmdOp.QUERY_CQ];
 * const emptyCq = (r: CqQuery["out"]) => r.producerIndex === r.consumerIndex;
 * assert.equal(emptyCq({ producerIndex: 5, consumerIndex: 5 } as CqQuery["out"]), true);
 * ```
 */
export interface CommandMap {
  /** QUERY_DEV_LIM. */
  [CmdOp.QUERY_DEV_LIM]: { in: Record<string, never>; out: DevLim };
  /** INIT_HCA. */
  [CmdOp.INIT_HCA]: { in: Record<string, never>; out: void };
  /** CLOSE_HCA. */
  [CmdOp.CLOSE_HCA]: { in: Record<string, never>; out: void };
  /** INIT_IB. */
  [CmdOp.INIT_IB]: { in: PortParams; out: void };
  /** CLOSE_IB. */
  [CmdOp.CLOSE_IB]: { in: PortParams; out: void };
  /** QUERY_PORT. */
  [CmdOp.QUERY_PORT]: { in: PortParams; out: PortInfo };
  /** SW2HW_MPT. */
  [CmdOp.SW2HW_MPT]: { in: MptParams; out: void };
  /** QUERY_MPT. */
  [CmdOp.QUERY_MPT]: { in: MptIndexParams; out: MptInfo };
  /** HW2SW_MPT. */
  [CmdOp.HW2SW_MPT]: { in: MptIndexParams; out: void };
  /** WRITE_MTT. */
  [CmdOp.WRITE_MTT]: { in: WriteMttParams; out: void };
  /** MAP_EQ. */
  [CmdOp.MAP_EQ]: { in: MapEqParams; out: void };
  /** SW2HW_EQ. */
  [CmdOp.SW2HW_EQ]: { in: EqParams; out: void };
  /** HW2SW_EQ. */
  [CmdOp.HW2SW_EQ]: { in: EqIndexParams; out: void };
  /** QUERY_EQ. */
  [CmdOp.QUERY_EQ]: { in: EqIndexParams; out: EqInfo };
  /** SW2HW_CQ. */
  [CmdOp.SW2HW_CQ]: { in: CqParams; out: void };
  /** HW2SW_CQ. */
  [CmdOp.HW2SW_CQ]: { in: CqIndexParams; out: void };
  /** QUERY_CQ. */
  [CmdOp.QUERY_CQ]: { in: CqIndexParams; out: CqInfo };
  /** RESIZE_CQ. */
  [CmdOp.RESIZE_CQ]: { in: ResizeCqParams; out: void };
  /** SW2HW_SRQ. */
  [CmdOp.SW2HW_SRQ]: { in: SrqParams; out: void };
  /** HW2SW_SRQ. */
  [CmdOp.HW2SW_SRQ]: { in: SrqIndexParams; out: void };
  /** QUERY_SRQ. */
  [CmdOp.QUERY_SRQ]: { in: SrqIndexParams; out: SrqInfo };
  /** ARM_SRQ. */
  [CmdOp.ARM_SRQ]: { in: ArmSrqParams; out: void };
  /** RST2INIT_QP. */
  [CmdOp.RST2INIT_QP]: { in: QpTransitionParams; out: void };
  /** INIT2INIT_QP. */
  [CmdOp.INIT2INIT_QP]: { in: QpTransitionParams; out: void };
  /** INIT2RTR_QP. */
  [CmdOp.INIT2RTR_QP]: { in: QpTransitionParams; out: void };
  /** RTR2RTS_QP. */
  [CmdOp.RTR2RTS_QP]: { in: QpTransitionParams; out: void };
  /** RTS2RTS_QP. */
  [CmdOp.RTS2RTS_QP]: { in: QpTransitionParams; out: void };
  /** SQERR2RTS_QP. */
  [CmdOp.SQERR2RTS_QP]: { in: QpTransitionParams; out: void };
  /** RTS2SQD_QP. */
  [CmdOp.RTS2SQD_QP]: { in: QpTransitionParams; out: void };
  /** SQD2SQD_QP. */
  [CmdOp.SQD2SQD_QP]: { in: QpTransitionParams; out: void };
  /** SQD2RTS_QP. */
  [CmdOp.SQD2RTS_QP]: { in: QpTransitionParams; out: void };
  /** TO_ERR_QP. */
  [CmdOp.TO_ERR_QP]: { in: QpTransitionParams; out: void };
  /** TO_RST_QP. */
  [CmdOp.TO_RST_QP]: { in: QpTransitionParams; out: void };
  /** QUERY_QP. */
  [CmdOp.QUERY_QP]: { in: QpIndexParams; out: QpInfo };
  /** READ_MGM. */
  [CmdOp.READ_MGM]: { in: MgmIndexParams; out: MgmInfo };
  /** WRITE_MGM. */
  [CmdOp.WRITE_MGM]: { in: WriteMgmParams; out: void };
  /** MGID_HASH. */
  [CmdOp.MGID_HASH]: { in: MgidHashParams; out: { hash: number } };
}

/**
 * Parameter type of command `O`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { type CmdIn, CmdOp, CmdStatus } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const p: CmdIn<typeof CmdOp.HW2SW_CQ> = { cqn: 3 };
 * const r = await engine.run(() => hca.cmd.exec(CmdOp.HW2SW_CQ, p));
 * assert.equal(r.status, CmdStatus.BAD_SYS_STATE);
 * ```
 */
export type CmdIn<O extends CmdOp> = CommandMap[O]["in"];
/**
 * Output type of command `O`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CmdOp, type CmdOut } from "./commands.ts";
 * type Port = CmdOut<typeof CmdOp.QUERY_PORT>;
 * const speedGbps = (o: Port) => o.activeWidth * o.activeSpeedGbps;
 * assert.equal(speedGbps({ activeWidth: 4, activeSpeedGbps: 2.5 } as Port), 10);
 * ```
 */
export type CmdOut<O extends CmdOp> = CommandMap[O]["out"];

/**
 * Result of a command: `status` 0 ({@link CmdStatus.OK}) with `out`, or a
 * failure status with a one-line `message` naming the field at fault.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, type CmdResult, cmdStatusName } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const r: CmdResult<void> = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   return await hca.cmd.exec(CmdOp.HW2SW_CQ, { cqn: 7 });
 * });
 * assert.equal(r.ok, false);
 * assert.equal(cmdStatusName(r.status), "BAD_RES_STATE");
 * assert.equal(r.ok ? "" : r.message, "HW2SW_CQ: CQ 7 is not HW-owned");
 * ```
 */
export type CmdResult<T> =
  | { ok: true; status: typeof CmdStatus.OK; out: T }
  | { ok: false; status: Exclude<CmdStatus, typeof CmdStatus.OK>; message: string };

/**
 * What the driver holds to issue commands (`hca.cmd`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, type CommandInterface } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * async function maxQp(cmd: CommandInterface): Promise<number> {
 *   const r = await cmd.exec(CmdOp.QUERY_DEV_LIM, {});
 *   return r.ok ? r.out.maxQp : -1;
 * }
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * assert.equal(await engine.run(() => maxQp(hca.cmd)), PCIX_SDR_2006.hca.maxQp);
 * ```
 */
export interface CommandInterface {
  /**
   * Run one command; resolves after the command time (commandNs, plus
   * commandPerMttNs per entry for WRITE_MTT) in virtual time. Commands run
   * one at a time, in the order issued.
   */
  exec<O extends CmdOp>(op: O, params: CmdIn<O>): Promise<CmdResult<CmdOut<O>>>;
  /** Commands executed so far. */
  readonly executed: number;
}
