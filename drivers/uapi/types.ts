/**
 * Plain data types of the verbs API (API.md): work requests, completions,
 * attributes. They carry no behaviour, so the same shapes travel through the
 * kernel ABI ({@link "./uverbs.ts"}) and, in a guest, over the shared ring.
 *
 * @module
 */
import type { QpState, WcOpcode, WcStatus, WrOpcode } from "./enums.ts";

/**
 * One scatter/gather element (`struct ibv_sge`): `addr` in the poster's
 * address space.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Sge } from "./types.ts";
 * const sgList: Sge[] = [{ addr: 0x10000, length: 64, lkey: 0x100 }, { addr: 0x20000, length: 32, lkey: 0x200 }];
 * assert.equal(sgList.reduce((n, s) => n + s.length, 0), 96); // the message is both pieces in order
 * ```
 */
export interface Sge {
  /** Start address in the posting domain's memory. */
  addr: number;
  /** Bytes. */
  length: number;
  /** Local key of a memory region covering the range. */
  lkey: number;
}

/**
 * Address vector (`struct ibv_ah_attr`): where a UD packet or a connected
 * QP's path goes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AhAttr } from "./types.ts";
 * const ah: AhAttr = { dlid: 2, sl: 0, portNum: 1 };
 * assert.equal(ah.grh, undefined); // a LID-routed path inside one subnet needs no GRH
 * ```
 */
export interface AhAttr {
  /** Destination LID. */
  dlid: number;
  /** Service level (0..15). */
  sl?: number;
  /** Source path bits (LMC). */
  srcPathBits?: number;
  /**
   * Static rate (an `IbvRate`, `enum ibv_rate`; 0 = port rate). A connected QP's `query` reports
   * the rate its path runs at on the port (mthca_query_qp: `mthca_rate_to_ib`), not the rate asked
   * for: a path at the port's rate, or asked faster, reads back as the port's rate (10 Gb/s, 3, on
   * 4x SDR).
   */
  staticRate?: number;
  /** Local port (default 1). */
  portNum?: number;
  /**
   * Global route header (`struct ibv_global_route`): present when routing across subnets, or to a
   * multicast group. `trafficClass` is the GRH's TClass (IBTA vol 1 §8.3.1, a `__u8`).
   */
  grh?: {
    dgid: Uint8Array;
    flowLabel?: number;
    sgidIndex?: number;
    hopLimit?: number;
    trafficClass?: number;
  };
}

/**
 * Queue capacities (`struct ibv_qp_cap`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { QpCap } from "./types.ts";
 * import { qpLayout } from "./wq_layout.ts";
 * const cap: QpCap = { maxSendWr: 64, maxRecvWr: 64, maxSendSge: 1, maxRecvSge: 1, maxInlineData: 64 };
 * assert.equal(qpLayout(2, cap, false).sqStride, 128); // inline data widens each send WQE
 * ```
 */
export interface QpCap {
  /** Send work requests outstanding. */
  maxSendWr: number;
  /** Receive work requests outstanding. */
  maxRecvWr: number;
  /** Scatter/gather entries per send WR. */
  maxSendSge: number;
  /** Scatter/gather entries per receive WR. */
  maxRecvSge: number;
  /** Bytes of inline data per send WR. */
  maxInlineData?: number;
}

/**
 * Attributes of `qp.modify` / `qp.query` (`struct ibv_qp_attr`); keys
 * present select the attribute mask (see `qp_state.ts`). `query` (from INIT on) answers every
 * field the QP context holds, as mthca_query_qp reads it, whether `modify` set it or not: one
 * never set reads 0 (`timeout`, `retryCnt`, `rnrRetry`, `minRnrTimer`, `destQpNum`, `qkey`, the
 * PSNs, an RC or UC QP's `pathMtu` before RTR), `pathMigState` 0 (`IBV_MIG_MIGRATED`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { QpAttr } from "./types.ts";
 * import { attrMask } from "./qp_state.ts";
 * import { QpAttrMask as M } from "./enums.ts";
 * const toInit: QpAttr = { state: 1, port: 1, pkeyIndex: 0, accessFlags: 0 };
 * assert.equal(attrMask({ ...toInit }).mask, M.STATE | M.PORT | M.PKEY_INDEX | M.ACCESS_FLAGS);
 * ```
 */
export interface QpAttr {
  /** Target state; absent means "stay" (e.g. RTS→RTS tuning). */
  state?: QpState;
  /** The caller's idea of the current state (allowed from RTR on). */
  curState?: QpState;
  /**
   * Ask for an SQ_DRAINED async event on entering SQD (`true` or `false`:
   * the verbs library refuses anything else with EINVAL).
   */
  enSqdAsyncNotify?: boolean;
  /** Remote access rights the QP grants (`Access` bits). */
  accessFlags?: number;
  /** P_Key table index. */
  pkeyIndex?: number;
  /** Physical port (1-based). */
  port?: number;
  /** Q_Key (UD). */
  qkey?: number;
  /** Primary path. */
  ah?: AhAttr;
  /** Path MTU: an `Mtu` value (1..5) or bytes (256..4096). */
  pathMtu?: number;
  /** Local ACK timeout exponent (4.096 µs × 2^timeout; 0 = infinite). */
  timeout?: number;
  /** Transport retries (0..7). */
  retryCnt?: number;
  /** RNR retries (0..7; 7 = infinite). */
  rnrRetry?: number;
  /** Expected receive PSN. */
  rqPsn?: number;
  /** Outstanding RDMA READ/atomic as initiator. */
  maxRdAtomic?: number;
  /** Alternate path (APM; accepted and stored, not used by the model). */
  altPath?: AhAttr;
  /** Minimum RNR NAK timer (IBTA encoding 0..31). */
  minRnrTimer?: number;
  /** Send PSN. */
  sqPsn?: number;
  /** Outstanding RDMA READ/atomic as responder. */
  maxDestRdAtomic?: number;
  /** APM migration state. */
  pathMigState?: number;
  /**
   * `query` only (ibv_qp_attr's `sq_draining`, which `ibv_modify_qp` ignores):
   * the QP is in SQD and its send queue still draining.
   */
  sqDraining?: boolean;
  /** Capacities (resize; not supported by the model's QPs). */
  cap?: QpCap;
  /** Remote QP number (connected QPs). */
  destQpNum?: number;
}

/**
 * A send work request (`struct ibv_send_wr`, one WR — chain by calling again).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SendFlags, WrOpcode } from "./enums.ts";
 * import type { SendWr } from "./types.ts";
 * const wr: SendWr = {
 *   wrId: 1n,
 *   opcode: WrOpcode.RDMA_WRITE,
 *   sendFlags: SendFlags.SIGNALED,
 *   sgList: [{ addr: 0x10000, length: 64, lkey: 0x100 }],
 *   remoteAddr: 0x80000,
 *   rkey: 0x2300,
 * };
 * assert.ok((wr.sendFlags! & SendFlags.SIGNALED) !== 0); // it will complete with a WC
 * ```
 */
export interface SendWr {
  /** Returned in the completion. */
  wrId: bigint;
  /** Operation. */
  opcode: WrOpcode;
  /** `SendFlags` bits. */
  sendFlags?: number;
  /** Local buffers (gathered, or copied inline with `SendFlags.INLINE`). */
  sgList: Sge[];
  /** Immediate data (`*_WITH_IMM`), 32 bits. */
  immData?: number;
  /** RDMA/atomic target address in the remote domain's region. */
  remoteAddr?: number;
  /** Remote key. */
  rkey?: number;
  /** Atomic compare (CMP_AND_SWP) or add (FETCH_AND_ADD) operand. */
  compareAdd?: bigint;
  /** Atomic swap operand. */
  swap?: bigint;
  /**
   * UD: destination address handle (an `Ah`). Its `pd` must be the QP's (of the
   * same open device: another context's PD number can equal it), and it must not
   * be destroyed, else the WR completes with `LOC_QP_OP_ERR`.
   */
  ah?: {
    readonly attr: AhAttr;
    readonly pd?: { readonly pdn: number; readonly context?: { readonly provider?: unknown } };
    readonly destroyed?: boolean;
  };
  /** UD: destination QP number. */
  remoteQpn?: number;
  /** UD: destination Q_Key. */
  remoteQkey?: number;
}

/**
 * A receive work request (`struct ibv_recv_wr`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RecvWr } from "./types.ts";
 * const wr: RecvWr = { wrId: 2n, sgList: [{ addr: 0x10000, length: 4096, lkey: 0x100 }] };
 * assert.equal(wr.sgList[0].length, 4096); // room for a message of up to one page
 * ```
 */
export interface RecvWr {
  /** Returned in the completion. */
  wrId: bigint;
  /** Scatter list. */
  sgList: Sge[];
}

/**
 * A work completion (`struct ibv_wc`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WcOpcode, WcStatus } from "./enums.ts";
 * import type { WorkCompletion } from "./types.ts";
 * const wc: WorkCompletion = {
 *   wrId: 7n, status: WcStatus.SUCCESS, opcode: WcOpcode.RECV, vendorErr: 0, byteLen: 64,
 *   qpNum: 0x48, srcQp: 0, wcFlags: 0, slid: 2, sl: 0, pkeyIndex: 0, dlidPathBits: 0,
 * };
 * const received = (c: WorkCompletion) => c.status === WcStatus.SUCCESS && (c.opcode & WcOpcode.RECV) !== 0;
 * assert.ok(received(wc));
 * assert.ok(!received({ ...wc, status: WcStatus.WR_FLUSH_ERR }));
 * ```
 */
export interface WorkCompletion {
  /** The WR's id. */
  wrId: bigint;
  /** `WcStatus`. */
  status: WcStatus;
  /** `WcOpcode` (meaningful on success). */
  opcode: WcOpcode;
  /** Vendor syndrome (0 on success). */
  vendorErr: number;
  /** Bytes received (receive completions) or transferred. */
  byteLen: number;
  /** Local QP number. */
  qpNum: number;
  /** Source QP (UD receives). */
  srcQp: number;
  /** Immediate data, when `wcFlags & WcFlags.WITH_IMM`. */
  immData?: number;
  /** `WcFlags` bits. */
  wcFlags: number;
  /** Source LID (receives). */
  slid: number;
  /** Service level (receives). */
  sl: number;
  /** P_Key index (UD receives on GSI). */
  pkeyIndex: number;
  /** Destination path bits. */
  dlidPathBits: number;
}

/**
 * Device attributes (`struct ibv_device_attr`, the fields the model has).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import type { DeviceAttr } from "./types.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const d: DeviceAttr = (await host.os.openDevice()).queryDevice();
 *   assert.equal(d.vendorPartId, 23108); // MT23108
 *   assert.equal(d.physPortCnt, 1);
 * });
 * ```
 */
export interface DeviceAttr {
  /** Firmware version string. */
  fwVer: string;
  /** Node GUID (hex string). */
  nodeGuid: string;
  /**
   * System image GUID (`sys_image_guid`, hex string): NodeInfo:SystemImageGUID, which
   * mthca_query_device copies from the device's NodeInfo. Every model host is a system of one
   * node, which names itself by its node GUID (IBTA vol 1 §14.2.5.3), so it equals `nodeGuid`.
   */
  sysImageGuid: string;
  /** PCI vendor id. */
  vendorId: number;
  /** PCI device id. */
  vendorPartId: number;
  /** Hardware revision. */
  hwVer: number;
  /** Largest MR in bytes. */
  maxMrSize: number;
  /** Supported page sizes (bit mask). */
  pageSizeCap: number;
  /** Queue pairs. */
  maxQp: number;
  /** Work requests per queue. */
  maxQpWr: number;
  /** `IBV_DEVICE_*` capability bits. */
  deviceCapFlags: number;
  /** SGEs per WR. */
  maxSge: number;
  /** Completion queues. */
  maxCq: number;
  /** Entries per CQ. */
  maxCqe: number;
  /** Memory regions. */
  maxMr: number;
  /** Protection domains. */
  maxPd: number;
  /** Outstanding RDMA READ/atomic per QP as responder. */
  maxQpRdAtom: number;
  /** Outstanding RDMA READ/atomic per QP as initiator. */
  maxQpInitRdAtom: number;
  /** SGEs per RDMA READ WR (`max_sge_rd`; mthca: its `max_sg`, as `maxSge`). */
  maxSgeRd: number;
  /**
   * RDMA READ/atomic responder resources of the whole device (`max_res_rd_atom`; mthca:
   * `maxQpRdAtom` × `maxQp`).
   */
  maxResRdAtom: number;
  /** Atomic support (0 none, 1 HCA, 2 global). */
  atomicCap: number;
  /** Address handles. */
  maxAh: number;
  /** Shared receive queues. */
  maxSrq: number;
  /** Work requests per SRQ. */
  maxSrqWr: number;
  /** SGEs per SRQ WR. */
  maxSrqSge: number;
  /** P_Keys per port. */
  maxPkeys: number;
  /** Physical ports. */
  physPortCnt: number;
  /** Inline bytes per send WR (model extension, mthca reports it per QP). */
  maxInlineData: number;
  /** Multicast groups (`max_mcast_grp`). */
  maxMcastGrp: number;
  /** QPs attached to one multicast group (`max_mcast_qp_attach`). */
  maxMcastQpAttach: number;
  /** QP attachments over all groups (`max_total_mcast_qp_attach`). */
  maxTotalMcastQpAttach: number;
  /**
   * `local_ca_ack_delay`: the longest the device takes to acknowledge a request, 4.096 µs ×
   * 2^value (IBTA vol 1 §9.7.6.1.3), as QUERY_DEV_LIM reports it (mthca_query_device). The model
   * reports the code of the profile's `hca.ackDelayNs` ACK coalescing window (0 when it has none).
   */
  localCaAckDelay: number;
}

/**
 * Port attributes (`struct ibv_port_attr`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, PortState } from "../../mod.ts";
 * import type { PortAttr } from "./types.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const p: PortAttr = (await host.os.openDevice()).queryPort(1);
 *   assert.equal(p.state, PortState.ACTIVE);
 *   assert.ok(p.lid > 0); // the subnet manager gave the port a LID
 * });
 * ```
 */
export interface PortAttr {
  /** `PortState`. */
  state: number;
  /** Largest MTU the port supports (`Mtu`). */
  maxMtu: number;
  /** Active MTU (`Mtu`). */
  activeMtu: number;
  /** LID (0 until the subnet manager assigns one). */
  lid: number;
  /** The subnet manager's LID. */
  smLid: number;
  /** LID mask count. */
  lmc: number;
  /** Lanes (IBTA encoding: 1 = 1x, 2 = 4x, 4 = 8x, 8 = 12x). */
  activeWidth: number;
  /** Per-lane speed (verbs.h `active_speed`: 1 SDR, 2 DDR, 4 QDR, … 64 HDR, 128 NDR). */
  activeSpeed: number;
  /** Physical state (5 = LinkUp). */
  physState: number;
  /** GIDs per port. */
  gidTblLen: number;
  /** P_Keys per port. */
  pkeyTblLen: number;
  /** Largest message. */
  maxMsgSz: number;
  /** Data VLs (`max_vl_num`, IBTA PortInfo:VLCap: 1 VL0, 2 VL0-1, 3 VL0-3, 4 VL0-7, 5 VL0-14). */
  maxVlNum: number;
  /**
   * `bad_pkey_cntr`: PortInfo:P_KeyViolations (IBTA vol 1 §14.2.5.6), packets dropped at this port
   * for a P_Key the receiving QP's partition does not match; 16 bits, it stops at 0xFFFF.
   */
  badPkeyCntr: number;
  /**
   * `qkey_viol_cntr`: PortInfo:Q_KeyViolations, UD datagrams dropped at this port for a Q_Key
   * other than the receiving QP's; 16 bits, it stops at 0xFFFF.
   */
  qkeyViolCntr: number;
  /** `sm_sl`: PortInfo:MasterSMSL, the SL to reach the subnet manager (mthca_query_port). */
  smSl: number;
  /** `port_cap_flags`: PortInfo:CapabilityMask (`IBV_PORT_*` bits), as the device answers it. */
  portCapFlags: number;
  /**
   * `subnet_timeout`: PortInfo:SubnetTimeOut (mthca_query_port), the subnet's propagation delay,
   * 4.096 µs × 2^value, as the subnet manager set it with the port's LID: 18 (OpenSM's default
   * `subnet_timeout`) once swept, 0 before.
   */
  subnetTimeout: number;
  /** `init_type_reply`: PortInfo:InitTypeReply (mthca_query_port); the model's SM sets none, 0. */
  initTypeReply: number;
  /**
   * `link_layer`: 1, `IBV_LINK_LAYER_INFINIBAND` (ib_uverbs_query_port asks
   * rdma_port_get_link_layer, which answers InfiniBand for an IB device without a
   * get_link_layer of its own, as mthca is).
   */
  linkLayer: number;
}

/**
 * Shared receive queue attributes (`struct ibv_srq_attr`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { SrqAttr } from "./types.ts";
 * import { srqLayout } from "./wq_layout.ts";
 * const a: SrqAttr = { maxWr: 128, maxSge: 1, srqLimit: 16 };
 * assert.equal(srqLayout(a.maxWr, a.maxSge).bytes, 4096); // 128 WQEs of 16 B, in whole pages
 * ```
 */
export interface SrqAttr {
  /** Receive WRs outstanding. */
  maxWr: number;
  /** SGEs per WR. */
  maxSge: number;
  /** Limit: an SRQ_LIMIT_REACHED event fires when fewer WRs remain (0 = disarmed). */
  srqLimit?: number;
}

/**
 * An asynchronous event (`struct ibv_async_event`) as delivered to a context.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventType } from "./enums.ts";
 * import type { AsyncEvent } from "./types.ts";
 * const e: AsyncEvent = { type: EventType.SRQ_LIMIT_REACHED, srqHandle: 3 };
 * assert.equal(e.qpHandle, undefined); // the event names only the object it concerns
 * ```
 */
export interface AsyncEvent {
  /** `EventType`. */
  type: number;
  /** The QP, by handle, for QP events. */
  qpHandle?: number;
  /** The CQ, by handle, for CQ_ERR. */
  cqHandle?: number;
  /** The SRQ, by handle, for SRQ events. */
  srqHandle?: number;
  /** The port, for port events. */
  portNum?: number;
}
