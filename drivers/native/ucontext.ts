/**
 * The kernel verbs layer for one open device file (Linux ib_uverbs + the
 * parts of ib_core and mthca that hold per-user state): the file's handle
 * tables, use counts (destroying a PD, CQ or SRQ that others use fails with
 * EBUSY), the QP attribute table check, argument validation, and the
 * translation of user buffers to machine frames for the driver.
 *
 * Costs are not charged here: the caller decides what reaching the kernel
 * cost (a system call natively, a ring round trip and backend work in Xen).
 *
 * @module
 */
import { CmdOp, type PathParams, type QpContextParams } from "../../hca/commands.ts";
import { CQE_BYTES } from "../../hca/cqe.ts";
import { EqeType } from "../../hca/commands.ts";
import { isMulticastGid, isMulticastLid } from "../../hca/mcg.ts";
import { isValidPkey, pkeyText } from "../../hca/pkey.ts";
import { MELLANOX_OUI, PCI_DEVICE_MT23108 } from "../../hca/pci.ts";
import { pathRate } from "../../hca/rate.ts";
import { SEG_BYTES } from "../../hca/wqe.ts";
import { Access, EventType, QpAttrMask as M, QpState as S, QpType } from "../uapi/enums.ts";
import { requestError, VerbsError } from "../uapi/errors.ts";
import {
  abiAhAttr,
  checkAhAttr,
  checkCompVector,
  checkCqSize,
  checkCreateAhAttr,
  checkCreateSrqLimit,
  checkInt,
  checkModifyQp,
  checkModifyQpValues,
  checkMrAccess,
  checkQpSize,
  checkQpType,
  checkRegMrExtent,
  checkSrqLimit,
  checkSrqResize,
  checkSrqSize,
  GID_TABLE_LEN,
  inval,
  isPow2,
  mcastKey,
  MTHCA_DEVICE_CAP_FLAGS,
  queueAligned,
  tableIndex,
} from "../uapi/kernel_checks.ts";
import { holdQpMutex } from "../uapi/qp_state.ts";
import { qpGrant, sendWqeBytes } from "../uapi/wq_layout.ts";
import type { AhAttr, AsyncEvent, DeviceAttr, PortAttr, QpAttr, QpCap } from "../uapi/types.ts";
import type {
  AllocPdResp,
  CreateAhResp,
  CreateCqReq,
  CreateCqResp,
  CreateQpReq,
  CreateQpResp,
  CreateSrqReq,
  CreateSrqResp,
  McastReq,
  ModifyQpReq,
  ModifySrqReq,
  QueryQpResp,
  QuerySrqResp,
  RegMrReq,
  RegMrResp,
  ResizeCqReq,
  UverbsEventHandlers,
  UverbsFile,
} from "../uapi/uverbs.ts";
import type { HcaDriver, HwRegion } from "./driver.ts";
import { PORT_SINK_PKEY_CHANGE } from "./driver.ts";
import {
  fromHwQpState,
  fromHwRdAtomic,
  fromQpAccess,
  toHwRdAtomic,
  toHwServiceType,
  toQpAccess,
} from "./hw_map.ts";

/**
 * How the kernel reaches a user's buffers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { UserMemory } from "./ucontext.ts";
 * // Identity-mapped memory: page p is frame p.
 * const flat: UserMemory = { frames: (addr, len) => [Math.floor(addr / 4096), Math.floor((addr + len - 1) / 4096)] };
 * assert.deepEqual(flat.frames(8192 + 4000, 200), [2, 3]); // 200 bytes across a page boundary
 * ```
 */
export interface UserMemory {
  /**
   * Machine frames of the pages covering `[addr, addr+len)`, first page
   * first (pinning them). Throws `VerbsError` EFAULT for an unmapped page.
   */
  frames(addr: number, len: number): number[];
}

/**
 * Options of {@link UContext}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, type NativePlatform } from "../../mod.ts";
 * import { UContext, type UContextOptions } from "./ucontext.ts";
 * import { pageTableMemory } from "./uverbs_native.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * const { driver } = (host.platform as NativePlatform);
 * const uarIndex = driver.allocUar();
 * let closed = 0;
 * const o: UContextOptions = {
 *   driver, memory: pageTableMemory(host.os.space), uarIndex,
 *   uarAddr: host.os.space.mapForeign(driver.hca.uarMfn(uarIndex)),
 *   onClose: () => void closed++, // the opener frees and unmaps its UAR here
 * };
 * await cluster.run(() => new UContext(o).close());
 * assert.equal(closed, 1);
 * ```
 */
export interface UContextOptions {
  driver: HcaDriver;
  memory: UserMemory;
  /** The context's UAR (allocated by the opener) and where it is mapped for the user. */
  uarIndex: number;
  uarAddr: number;
  /** Awaited at the start of every call: the cost of entering the kernel. */
  enter?: () => Promise<void>;
  /** Called once by {@link UContext.close} after everything is released (free and unmap the UAR). */
  onClose?: () => void;
  /**
   * The domain the context serves, as the driver records its QPs' holder: 0
   * (default) for the kernel's own OS, the frontend's domid for a context a
   * backend opened on a guest's behalf.
   */
  owner?: number;
  /**
   * The P_Keys this context's QPs may use (none: any entry of the table, as a bare-metal
   * kernel allows). A backend gives its guest's partitions: a modify_qp whose `pkey_index`
   * names an entry holding anything else — another tenant's partition, or an empty entry that
   * the subnet manager might fill later — is refused with EINVAL, as an index past the table is.
   */
  pkeys?: readonly number[];
}

interface PdObj {
  pdn: number;
  users: number;
}
interface MrObj {
  pd: PdObj;
  region: HwRegion;
}
interface CqObj {
  cqn: number;
  region: HwRegion;
  logSize: number;
  users: number;
}
interface SrqObj {
  srqn: number;
  pd: PdObj;
  region: HwRegion;
  maxWr: number;
  maxSge: number;
  users: number;
}
interface QpObj {
  qpn: number;
  type: number;
  pd: PdObj;
  sendCq: CqObj;
  recvCq: CqObj;
  srq: SrqObj | undefined;
  region: HwRegion;
  req: CreateQpReq;
  cap: Required<QpCap>;
  state: number;
  attr: QpAttr;
  /**
   * The remote rights and responder depth last given (mthca_qp.c's `atomic_rd_en` and
   * `resp_depth`: 0 at creation, set by a modify_qp that gives them, kept through RESET).
   */
  rights: { accessFlags: number; respDepth: number };
  /** Settles when the modify_qp or query_qp running on the QP ends (mthca's `qp->mutex`). */
  busy?: Promise<void>;
  /** Multicast attachments, `gid/mlid` (ib_uverbs' per-QP mcast_list). */
  mcast: Map<string, { gid: Uint8Array; mlid: number }>;
}

/** A path of the QP context as mthca_query_qp reports it: every field, `portNum` and the rate given. */
function queriedPath(p: PathParams, portNum: number, staticRate: number): AhAttr {
  const ah: AhAttr = { dlid: p.dlid, sl: p.sl, srcPathBits: p.srcPathBits, staticRate, portNum };
  if (p.grh) {
    const { dgid, sgidIndex, flowLabel, hopLimit, trafficClass } = p.grh;
    // The GRH field's 20 bits (to_ib_ah_attr masks sl_tclass_flowlabel; IBTA vol 1 §8.3.1).
    ah.grh = {
      dgid: dgid.slice(),
      sgidIndex,
      flowLabel: flowLabel & 0xfffff,
      hopLimit,
      trafficClass,
    };
  }
  return ah;
}

interface AhObj {
  pd: PdObj;
  index: number;
}

const ASYNC_OF_EQE: Record<number, number> = {
  [EqeType.PATH_MIG]: EventType.PATH_MIG,
  [EqeType.COMM_EST]: EventType.COMM_EST,
  [EqeType.SQ_DRAINED]: EventType.SQ_DRAINED,
  [EqeType.WQ_CATAS_ERROR]: EventType.QP_FATAL,
  [EqeType.PATH_MIG_FAILED]: EventType.PATH_MIG_ERR,
  [EqeType.WQ_INVAL_REQ_ERROR]: EventType.QP_REQ_ERR,
  [EqeType.WQ_ACCESS_ERROR]: EventType.QP_ACCESS_ERR,
  [EqeType.SRQ_QP_LAST_WQE]: EventType.QP_LAST_WQE_REACHED,
  [EqeType.SRQ_LIMIT]: EventType.SRQ_LIMIT_REACHED,
  [EqeType.SRQ_CATAS_ERROR]: EventType.SRQ_ERR,
};

/** The HCA command of each legal (from, to) pair. */
function transitionOp(from: number, to: number): number | undefined {
  if (to === S.ERR) return CmdOp.TO_ERR_QP;
  if (to === S.RESET) return CmdOp.TO_RST_QP;
  const key = `${from}>${to}`;
  return ({
    [`${S.RESET}>${S.INIT}`]: CmdOp.RST2INIT_QP,
    [`${S.INIT}>${S.INIT}`]: CmdOp.INIT2INIT_QP,
    [`${S.INIT}>${S.RTR}`]: CmdOp.INIT2RTR_QP,
    [`${S.RTR}>${S.RTS}`]: CmdOp.RTR2RTS_QP,
    [`${S.RTS}>${S.RTS}`]: CmdOp.RTS2RTS_QP,
    [`${S.SQE}>${S.RTS}`]: CmdOp.SQERR2RTS_QP,
    [`${S.RTS}>${S.SQD}`]: CmdOp.RTS2SQD_QP,
    [`${S.SQD}>${S.SQD}`]: CmdOp.SQD2SQD_QP,
    [`${S.SQD}>${S.RTS}`]: CmdOp.SQD2RTS_QP,
  } as Record<string, number>)[key];
}

/**
 * One open device file's kernel state.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, type NativePlatform } from "../../mod.ts";
 * import { UContext } from "./ucontext.ts";
 * import { pageTableMemory } from "./uverbs_native.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * const { driver } = (host.platform as NativePlatform);
 * const uarIndex = driver.allocUar();
 * const uarAddr = host.os.space.mapForeign(driver.hca.uarMfn(uarIndex));
 * const uctx = new UContext({ driver, memory: pageTableMemory(host.os.space), uarIndex, uarAddr });
 * await cluster.run(async () => {
 *   const { pdHandle } = await uctx.allocPd();
 *   assert.equal(driver.swCounts().pd, 1);
 *   await uctx.deallocPd(pdHandle);
 *   assert.equal(driver.swCounts().pd, 0);
 *   await uctx.close();
 * });
 * ```
 */
export class UContext implements UverbsFile {
  readonly deviceName: string;
  readonly uarIndex: number;
  readonly uarAddr: number;
  readonly numCompVectors = 1;
  readonly driver: HcaDriver;
  /** The domain the context serves (see {@link UContextOptions.owner}). */
  readonly owner: number;
  #mem: UserMemory;
  #enter: () => Promise<void>;
  #onClose?: () => void;
  #pkeys: readonly number[] | undefined;
  #handlers: UverbsEventHandlers = { onCompEvent() {}, onAsyncEvent() {} };
  #next = 1;
  #closed = false;
  #pds = new Map<number, PdObj>();
  #mrs = new Map<number, MrObj>();
  #cqs = new Map<number, CqObj>();
  #qps = new Map<number, QpObj>();
  #srqs = new Map<number, SrqObj>();
  #ahs = new Map<number, AhObj>();
  #portSink = (port: number, subtype: number) => {
    this.#handlers.onAsyncEvent({
      type: subtype === PORT_SINK_PKEY_CHANGE
        ? EventType.PKEY_CHANGE
        : subtype === 4
        ? EventType.PORT_ACTIVE
        : EventType.PORT_ERR,
      portNum: port,
    });
  };

  /** @param o see {@link UContextOptions} */
  constructor(o: UContextOptions) {
    this.driver = o.driver;
    this.deviceName = o.driver.name;
    this.#mem = o.memory;
    this.uarIndex = o.uarIndex;
    this.uarAddr = o.uarAddr;
    this.owner = o.owner ?? 0;
    this.#enter = o.enter ?? (() => Promise.resolve());
    this.#onClose = o.onClose;
    this.#pkeys = o.pkeys;
    this.driver.addPortSink(this.#portSink);
  }

  /** Objects this file holds now, by kind (teardown checks use it). */
  counts(): { pd: number; mr: number; cq: number; qp: number; srq: number; ah: number } {
    return {
      pd: this.#pds.size,
      mr: this.#mrs.size,
      cq: this.#cqs.size,
      qp: this.#qps.size,
      srq: this.#srqs.size,
      ah: this.#ahs.size,
    };
  }

  setEventHandlers(h: UverbsEventHandlers): void {
    this.#handlers = h;
  }

  async #in(): Promise<void> {
    this.#live();
    await this.#enter();
  }

  /** EBADF once the context is closed (the synchronous checks make it too, as {@link #in}). */
  #live(): void {
    if (this.#closed) throw new VerbsError("EBADF", `${this.deviceName}: context is closed`);
  }

  #get<T>(m: Map<number, T>, h: number, what: string): T {
    const o = m.get(h);
    if (!o) throw inval(`no ${what} with handle ${h} in this context`);
    return o;
  }

  #frames(call: string, addr: number, len: number): number[] {
    try {
      return this.#mem.frames(addr, len);
    } catch (e) {
      const v = e instanceof VerbsError ? e : undefined;
      const why = v ? v.message.slice(v.code.length + 2) : (e as Error).message;
      // Built from `e`'s text: the caller's own request only when `e` said so.
      throw new VerbsError(
        v?.code ?? "EFAULT",
        `${call}: buffer 0x${addr.toString(16)}+${len}: ${why}`,
        { ownRequest: v?.ownRequest },
      );
    }
  }

  async queryDevice(): Promise<DeviceAttr> {
    await this.#in();
    const l = this.driver.devLim;
    const p = this.driver.profile.hca;
    return {
      fwVer: "3.5.0",
      // ib_device.node_guid: the device's NodeInfo:NodeGUID, one per HCA (IBTA vol 1 §4.1.1).
      nodeGuid: l.nodeGuid.toString(16).padStart(16, "0"),
      // ib_device_attr.sys_image_guid: NodeInfo:SystemImageGUID (mthca_query_device copies it from
      // the NodeInfo MAD, `out_mad->data + 4`; the device advertises IB_DEVICE_SYS_IMAGE_GUID). A
      // host here is a system of one node, named by that node's GUID (IBTA vol 1 §14.2.5.3).
      sysImageGuid: l.nodeGuid.toString(16).padStart(16, "0"),
      vendorId: MELLANOX_OUI,
      vendorPartId: PCI_DEVICE_MT23108,
      hwVer: 0xa1,
      maxMrSize: 2 ** 32,
      pageSizeCap: 0xfffff000,
      maxQp: l.maxQp - l.reservedQps,
      maxQpWr: l.maxQpWr,
      deviceCapFlags: MTHCA_DEVICE_CAP_FLAGS,
      maxSge: l.maxSge,
      maxCq: l.maxCq - l.reservedCqs,
      maxCqe: l.maxCqe,
      maxMr: l.maxMpt - l.reservedMpts,
      maxPd: Math.min(l.maxPd, p.maxPd) - 1,
      maxQpRdAtom: l.maxDestRdAtomic,
      maxQpInitRdAtom: l.maxRdAtomic,
      // mthca_query_device: max_sge_rd = limits.max_sg; max_res_rd_atom = max_qp_rd_atom * max_qp.
      maxSgeRd: l.maxSge,
      maxResRdAtom: l.maxDestRdAtomic * (l.maxQp - l.reservedQps),
      atomicCap: 1,
      // mthca_query_device (drivers/infiniband/hw/mthca/mthca_provider.c) zeroes the attributes
      // and never sets max_ah, and ib_uverbs_query_device copies attr->max_ah as it is: an MT23108
      // reports 0 (ibv_devinfo -v: "max_ah: 0"). The device's AH table (profile hca.maxAh) still
      // bounds ibv_create_ah.
      maxAh: 0,
      maxSrq: l.maxSrq - l.reservedSrqs,
      maxSrqWr: l.maxQpWr,
      maxSrqSge: l.maxSge,
      maxPkeys: l.maxPkeys,
      physPortCnt: l.ports,
      maxInlineData: l.maxInline,
      // mthca_query_device: max_mcast_grp = num_mgms + num_amgms, max_mcast_qp_attach =
      // MTHCA_QP_PER_MGM, max_total_mcast_qp_attach = their product (mlx5 reports the same way).
      maxMcastGrp: l.maxMcg,
      maxMcastQpAttach: l.qpPerMgm,
      maxTotalMcastQpAttach: l.maxMcg * l.qpPerMgm,
      // mthca_query_device: local_ca_ack_delay is the firmware's dev_lim value.
      localCaAckDelay: l.localCaAckDelay,
    };
  }

  async queryPort(portNum: number): Promise<PortAttr> {
    await this.#in();
    checkInt("query_port", "port", portNum, 1, this.driver.devLim.ports);
    const p = await this.driver.queryPort(portNum);
    // IBTA PortInfo:LinkWidthActive (verbs.h active_width): 1x 1, 4x 2, 8x 4, 12x 8, 2x 16.
    const width: Record<number, number> = { 1: 1, 2: 16, 4: 2, 8: 4, 12: 8 };
    return {
      state: p.state,
      maxMtu: p.maxMtu,
      activeMtu: p.activeMtu,
      lid: p.lid,
      smLid: p.smLid,
      lmc: p.lmc,
      activeWidth: width[p.activeWidth] ?? 0,
      activeSpeed: speedCode(p.activeSpeedGbps),
      physState: p.physState,
      gidTblLen: GID_TABLE_LEN,
      // mthca_query_port: pkey_tbl_len is the device's limits.pkey_table_len, as max_pkeys is.
      pkeyTblLen: this.driver.devLim.maxPkeys,
      maxMsgSz: 2 ** 31,
      maxVlNum: p.vlCap, // mthca_query_port: PortInfo:VLCap
      // mthca_query_port: bad_pkey_cntr and qkey_viol_cntr are PortInfo's P_KeyViolations and
      // Q_KeyViolations (rxe counts the same drops in check_keys).
      badPkeyCntr: p.pkeyViolations,
      qkeyViolCntr: p.qkeyViolations,
      // mthca_query_port: sm_sl is PortInfo:MasterSMSL, port_cap_flags PortInfo:CapabilityMask.
      smSl: p.smSl,
      portCapFlags: p.capMask,
      // mthca_query_port: PortInfo's SubnetTimeOut (data[51] & 0x1f) and InitTypeReply.
      subnetTimeout: p.subnetTimeout,
      initTypeReply: p.initTypeReply,
      // ib_uverbs_query_port: rdma_port_get_link_layer, InfiniBand for mthca (no get_link_layer).
      linkLayer: IBV_LINK_LAYER_INFINIBAND,
    };
  }

  async queryGid(portNum: number, index: number): Promise<Uint8Array> {
    await this.#in();
    checkInt("query_gid", "port", portNum, 1, this.driver.devLim.ports);
    // rdma_query_gid / ib_get_cached_gid (drivers/infiniband/core/cache.c): an index outside the
    // port's GID table is -EINVAL. The table is the port's GUID under its subnet prefix (IBTA
    // vol 1 §4.1.1), read from the device as mthca_query_gid reads PortInfo and GUIDInfo.
    tableIndex("query_gid", index, GID_TABLE_LEN, "GID");
    const p = await this.driver.queryPort(portNum);
    const gid = new Uint8Array(16);
    const dv = new DataView(gid.buffer);
    dv.setBigUint64(0, BigInt.asUintN(64, p.gidPrefix));
    dv.setBigUint64(8, BigInt.asUintN(64, p.guid));
    return gid;
  }

  async queryPkey(portNum: number, index: number): Promise<number> {
    await this.#in();
    checkInt("query_pkey", "port", portNum, 1, this.driver.devLim.ports);
    // ib_get_cached_pkey (core/cache.c): `index < 0 || index >= cache->table_len` is -EINVAL;
    // the table has pkey_tbl_len entries, read from the device as mthca_query_pkey reads the
    // PKeyTable attribute.
    tableIndex("query_pkey", index, this.driver.devLim.maxPkeys, "P_Key");
    const p = await this.driver.queryPort(portNum);
    return p.pkeys[index] ?? 0;
  }

  async allocPd(): Promise<AllocPdResp> {
    await this.#in();
    const pdn = this.driver.allocPd();
    const h = this.#next++;
    this.#pds.set(h, { pdn, users: 0 });
    return { pdHandle: h, pdn };
  }

  async deallocPd(pdHandle: number): Promise<void> {
    await this.#in();
    const pd = this.#get(this.#pds, pdHandle, "PD");
    if (pd.users > 0) {
      throw requestError("EBUSY", `dealloc_pd: PD ${pd.pdn} still has ${pd.users} object(s)`);
    }
    this.#pds.delete(pdHandle);
    this.driver.freePd(pd.pdn);
  }

  /**
   * The checks of a registration before any page of it is pinned, in
   * ib_uverbs_reg_mr's order (drivers/infiniband/core/uverbs_cmd.c): the
   * access flags (`ib_check_mr_access`), the PD handle (`uobj_get_obj_read`,
   * EINVAL), then the extent (`ib_umem_get`, before it pins a page or counts
   * it against RLIMIT_MEMLOCK). Synchronous and without side effects, so
   * that dom0 runs them for a guest before it charges the guest's quotas or
   * maps a grant (`drivers/back/ops.ts`); {@link regMr} runs them too.
   * Returns the access flags the device gets.
   */
  checkRegMr(req: Pick<RegMrReq, "pdHandle" | "addr" | "length" | "access">): number {
    this.#live();
    return this.#checkRegMr(req).access;
  }

  #checkRegMr(
    req: Pick<RegMrReq, "pdHandle" | "addr" | "length" | "access">,
  ): { pd: PdObj; access: number } {
    const access = checkMrAccess(req.access);
    const pd = this.#get(this.#pds, req.pdHandle, "PD");
    checkRegMrExtent(req);
    return { pd, access };
  }

  async regMr(req: RegMrReq): Promise<RegMrResp> {
    await this.#in();
    const { pd, access } = this.#checkRegMr(req);
    const region = await this.driver.regRegion({
      pdn: pd.pdn,
      start: req.addr,
      length: req.length,
      access,
      mfns: this.#frames("reg_mr", req.addr, req.length),
    });
    pd.users++;
    const h = this.#next++;
    this.#mrs.set(h, { pd, region });
    return { mrHandle: h, lkey: region.key, rkey: region.key };
  }

  async deregMr(mrHandle: number): Promise<void> {
    await this.#in();
    const mr = this.#get(this.#mrs, mrHandle, "MR");
    await this.driver.deregRegion(mr.region);
    this.#mrs.delete(mrHandle);
    mr.pd.users--;
  }

  /** Register a queue buffer the library allocated (page-aligned, whole pages). */
  async #queueRegion(pdn: number, addr: number, bytes: number, what: string): Promise<HwRegion> {
    queueAligned(what, addr);
    return await this.driver.regRegion({
      pdn,
      start: addr,
      length: bytes,
      access: Access.LOCAL_WRITE,
      mfns: this.#frames(what, addr, bytes),
    });
  }

  /**
   * What creating a CQ checks before the driver makes anything: the vector
   * (ib_uverbs create_cq, EINVAL), then the size (mthca_create_cq). Synchronous
   * and without side effects, as {@link checkCreateQp}, for dom0 to run before
   * a guest's quotas; {@link createCq} runs it too. Returns the ring's entries.
   */
  checkCreateCq(
    req: Pick<CreateCqReq, "compVector" | "cqe" | "logSize" | "bufAddr" | "bufBytes">,
  ): number {
    this.#live();
    // ib_uverbs checks the vector (uverbs_cmd.c create_cq), then the driver the size.
    checkCompVector(req.compVector, this.numCompVectors);
    const entries = checkCqSize("create_cq", req.cqe, req.logSize, this.driver.devLim.maxCqe);
    if (entries < req.cqe + 1 || entries * CQE_BYTES > req.bufBytes) {
      throw inval(
        `create_cq: ${entries} entries do not fit cqe=${req.cqe} in ${req.bufBytes} bytes`,
      );
    }
    queueAligned("create_cq", req.bufAddr);
    return entries;
  }

  async createCq(req: CreateCqReq): Promise<CreateCqResp> {
    await this.#in();
    const entries = this.checkCreateCq(req);
    const region = await this.#queueRegion(0, req.bufAddr, entries * CQE_BYTES, "create_cq");
    let cqn: number;
    try {
      cqn = this.driver.allocCqn();
    } catch (e) {
      await this.driver.deregRegion(region);
      throw e;
    }
    const h = this.#next++;
    const cq: CqObj = { cqn, region, logSize: req.logSize, users: 0 };
    try {
      await this.driver.swToHwCq(
        { cqn, region, addr: req.bufAddr, logSize: req.logSize, uarIndex: this.uarIndex },
        {
          comp: () => this.#handlers.onCompEvent(h),
          error: () => this.#handlers.onAsyncEvent({ type: EventType.CQ_ERR, cqHandle: h }),
        },
      );
    } catch (e) {
      this.driver.freeCqn(cqn);
      await this.driver.deregRegion(region);
      throw e;
    }
    this.#cqs.set(h, cq);
    return { cqHandle: h, cqn, cqe: entries - 1 };
  }

  /**
   * What resizing a CQ checks before the driver makes anything: the CQ
   * handle (ib_uverbs resize_cq, EINVAL), then the size and the buffer
   * (mthca_resize_cq). Synchronous and without side effects, as
   * {@link checkCreateQp}, for dom0 to run before a guest's quotas;
   * {@link resizeCq} runs it too. Returns the new ring's entries.
   */
  checkResizeCq(
    req: Pick<ResizeCqReq, "cqHandle" | "cqe" | "logSize" | "bufAddr" | "bufBytes">,
  ): number {
    this.#live();
    return this.#checkResizeCq(req).entries;
  }

  #checkResizeCq(
    req: Pick<ResizeCqReq, "cqHandle" | "cqe" | "logSize" | "bufAddr" | "bufBytes">,
  ): { cq: CqObj; entries: number } {
    const cq = this.#get(this.#cqs, req.cqHandle, "CQ");
    const entries = checkCqSize("resize_cq", req.cqe, req.logSize, this.driver.devLim.maxCqe);
    if (entries < req.cqe + 1 || entries * CQE_BYTES > req.bufBytes) {
      throw inval(`resize_cq: ${entries} entries do not fit cqe=${req.cqe}`);
    }
    queueAligned("resize_cq", req.bufAddr);
    return { cq, entries };
  }

  async resizeCq(req: ResizeCqReq): Promise<{ cqe: number }> {
    await this.#in();
    const { cq, entries } = this.#checkResizeCq(req);
    const region = await this.#queueRegion(0, req.bufAddr, entries * CQE_BYTES, "resize_cq");
    try {
      await this.driver.resizeCq({ cqn: cq.cqn, region, addr: req.bufAddr, logSize: req.logSize });
    } catch (e) {
      await this.driver.deregRegion(region);
      throw e;
    }
    const old = cq.region;
    cq.region = region;
    cq.logSize = req.logSize;
    await this.driver.deregRegion(old);
    return { cqe: entries - 1 };
  }

  async destroyCq(cqHandle: number): Promise<void> {
    await this.#in();
    const cq = this.#get(this.#cqs, cqHandle, "CQ");
    if (cq.users > 0) {
      throw requestError(
        "EBUSY",
        `destroy_cq: CQ ${cq.cqn} is in use (${cq.users} QP queue(s) complete into it)`,
      );
    }
    await this.driver.hwToSwCq(cq.cqn);
    this.driver.freeCqn(cq.cqn);
    await this.driver.deregRegion(cq.region);
    this.#cqs.delete(cqHandle);
  }

  /**
   * What creating a QP checks before the driver makes anything, in
   * ib_uverbs' order (uverbs_cmd.c create_qp looks up the PD, the CQs and
   * the SRQ, EINVAL for a handle of no object of this context, before
   * ib_create_qp; mthca_create_qp → mthca_set_qp_size then the sizes). Synchronous
   * and without side effects, so that dom0 runs them for a guest before it
   * charges the guest's quotas or maps a grant (`drivers/back/ops.ts`);
   * {@link createQp} runs them too.
   */
  checkCreateQp(req: CreateQpReq): void {
    this.#live();
    this.#checkCreateQp(req);
  }

  #checkCreateQp(
    req: CreateQpReq,
  ): { pd: PdObj; sendCq: CqObj; recvCq: CqObj; srq: SrqObj | undefined } {
    const lim = this.driver.devLim;
    checkQpType(req.type);
    const pd = this.#get(this.#pds, req.pdHandle, "PD");
    const sendCq = this.#get(this.#cqs, req.sendCqHandle, "CQ");
    const recvCq = this.#get(this.#cqs, req.recvCqHandle, "CQ");
    const srq = req.srqHandle === undefined
      ? undefined
      : this.#get(this.#srqs, req.srqHandle, "SRQ");
    if (srq && req.type === QpType.UC) {
      // ibv_create_qp(3), NOTES: ibv_create_qp() fails if it is asked to create a QP of a type
      // other than RC or UD associated with an SRQ.
      throw inval("create_qp: a UC QP cannot use an SRQ (only RC and UD QPs can)");
    }
    const c = req.cap;
    // Zero is a valid request for each (mthca_set_qp_size checks only the maxima; libmthca's
    // align_queue_size: "If someone asks for a 0-sized queue, presumably they're not going to
    // use it"): the library's queue then has the smallest size, which ibv_create_qp(3) allows
    // ("greater than or equal to the values requested"). Above the device's limit, a request or
    // a ring the library laid out is EINVAL here, at creation (mthca_set_qp_size), not the
    // device's EXCEED_LIM at RST2INIT.
    checkQpSize(c, req.wq, lim.maxQpWr);
    checkInt("create_qp", "maxSendSge", c.maxSendSge, 0, lim.maxSge);
    checkInt("create_qp", "maxRecvSge", c.maxRecvSge, 0, lim.maxSge);
    checkInt("create_qp", "maxInlineData", c.maxInlineData ?? 0, 0, lim.maxInline);
    const w = req.wq;
    const need = sendWqeBytes(req.type, c.maxSendSge, c.maxInlineData ?? 0);
    if (
      !isPow2(w.sqSize) || w.sqSize < c.maxSendWr || !isPow2(w.sqStride) || w.sqStride < need ||
      w.sqStride < 64 || w.sqStride > 1024
    ) {
      throw inval(`create_qp: send queue ${w.sqSize}x${w.sqStride} B does not fit the caps`);
    }
    if (srq) {
      if (w.rqSize !== 0) throw inval("create_qp: a QP with an SRQ has no receive queue");
    } else if (
      !isPow2(w.rqSize) || w.rqSize < c.maxRecvWr || !isPow2(w.rqStride) ||
      w.rqStride < c.maxRecvSge * SEG_BYTES || w.rqStride < 16 || w.rqStride > 1024
    ) {
      throw inval(`create_qp: receive queue ${w.rqSize}x${w.rqStride} B does not fit the caps`);
    }
    const sqEnd = w.sqOffset + w.sqSize * w.sqStride, rqEnd = w.rqOffset + w.rqSize * w.rqStride;
    if (
      w.sqOffset < 0 || w.rqOffset < 0 || sqEnd > w.bufBytes || rqEnd > w.bufBytes ||
      (w.rqSize > 0 && w.sqOffset < rqEnd && w.rqOffset < sqEnd)
    ) {
      throw inval("create_qp: queues overlap or overrun the buffer");
    }
    queueAligned("create_qp", w.bufAddr);
    return { pd, sendCq, recvCq, srq };
  }

  async createQp(req: CreateQpReq): Promise<CreateQpResp> {
    await this.#in();
    const lim = this.driver.devLim;
    const { pd, sendCq, recvCq, srq } = this.#checkCreateQp(req);
    const c = req.cap, w = req.wq;
    const region = await this.#queueRegion(pd.pdn, w.bufAddr, w.bufBytes, "create_qp");
    let qpn: number;
    try {
      qpn = this.driver.allocQpn(this.owner);
    } catch (e) {
      await this.driver.deregRegion(region);
      throw e;
    }
    const h = this.#next++;
    // What the QP is granted is the driver's to say, from the layout it checked (mthca_alloc_qp
    // → mthca_set_qp_size, mthca_adjust_qp_caps; ib_uverbs_create_qp copies it into the
    // response, and query_qp reports the same): Tavor's rules, see qpGrant.
    const cap = qpGrant(req.type, c, w, {
      maxSge: lim.maxSge,
      maxInline: lim.maxInline,
    });
    const qp: QpObj = {
      qpn,
      type: req.type,
      pd,
      sendCq,
      recvCq,
      srq,
      region,
      req: structuredClone(req),
      cap,
      state: S.RESET,
      attr: {},
      rights: { accessFlags: 0, respDepth: 0 },
      mcast: new Map(),
    };
    this.driver.setQpSink(qpn, (t) => {
      const type = ASYNC_OF_EQE[t];
      if (type !== undefined) this.#handlers.onAsyncEvent({ type, qpHandle: h });
    });
    pd.users++;
    sendCq.users++;
    recvCq.users++;
    if (srq) srq.users++;
    this.#qps.set(h, qp);
    return { qpHandle: h, qpn, cap: { ...cap } };
  }

  /** Attribute values → QPC fields, refusing out-of-range values (EINVAL). */
  #context(
    a: QpAttr,
    mask: number,
    set: QpAttr,
    rights: QpObj["rights"],
  ): Partial<QpContextParams> {
    const lim = this.driver.devLim;
    const ctx = checkModifyQpValues(a, mask, lim, (i) => {
      // Xen-IB: dom0 runs this modify_qp for a guest, and the toolstack gave the guest its
      // partitions. An entry holding anything else is refused as an index past the table is
      // (the same EINVAL in bypass and split); what an LSM does for a process in Linux's
      // ib_security_modify_qp (core/security.c: the P_Key the index names, read from the
      // cache, must be one the caller may access), and what mlx4's SR-IOV gets by mapping a
      // VF's other indices to an entry kept invalid (mlx4 main.c init_pkeys). Nothing is
      // charged: the table is the kernel's cache.
      if (this.#pkeys) {
        const port = mask & M.PORT ? a.port! : set.port ?? 1;
        const pkey = this.driver.cachedPkey(port, i);
        if (!this.#pkeys.includes(pkey)) {
          throw inval(
            `modify_qp: pkeyIndex ${i} (P_Key ${pkeyText(pkey)}${
              isValidPkey(pkey) ? "" : ", an empty entry"
            }) is not one of this domain's partitions (${this.#pkeys.map(pkeyText).join(", ")})`,
          );
        }
      }
    });
    if (mask & (M.ACCESS_FLAGS | M.MAX_DEST_RD_ATOMIC)) {
      // mthca's get_hw_access_flags (as mlx4's and mlx5's): the QP's remote rights are written
      // whenever either attribute is given, from the one given or the one last set, and a QP
      // with no responder resources (max_dest_rd_atomic 0, also before it is first set) takes
      // no RDMA READ or atomic: only REMOTE_WRITE of its rights stays. "Last set" is the
      // driver's qp->atomic_rd_en and qp->resp_depth, which __mthca_modify_qp updates on each
      // modify_qp that gives them and nothing clears at RESET: a QP reset and taken to INIT
      // again keeps the responder depth its earlier RTR gave (mthca_alloc_qp_common zeroes it).
      let f = mask & M.ACCESS_FLAGS ? a.accessFlags! : rights.accessFlags;
      const depth = mask & M.MAX_DEST_RD_ATOMIC ? a.maxDestRdAtomic! : rights.respDepth;
      if (depth === 0) f &= Access.REMOTE_WRITE;
      ctx.accessFlags = toQpAccess(f);
    }
    // __mthca_modify_qp writes each depth as its log2 (fls(depth - 1)): the device takes the
    // depth rounded up to a power of two, which query_qp then reports.
    if (ctx.maxRdAtomic !== undefined) ctx.maxRdAtomic = toHwRdAtomic(ctx.maxRdAtomic);
    if (ctx.maxDestRdAtomic !== undefined) ctx.maxDestRdAtomic = toHwRdAtomic(ctx.maxDestRdAtomic);
    return ctx;
  }

  async modifyQp(req: ModifyQpReq): Promise<void> {
    await this.#in();
    let qp = this.#get(this.#qps, req.qpHandle, "QP");
    // mthca_modify_qp holds the QP's mutex from reading its state to storing the new one, so a
    // modify_qp issued while another runs on the same QP starts from the state that one leaves
    // (two RESET->INIT at once: the second is INIT->INIT), not from the state both began in.
    while (qp.busy) {
      await qp.busy;
      qp = this.#get(this.#qps, req.qpHandle, "QP");
    }
    const unlock = holdQpMutex(qp);
    try {
      const { attr: a, mask, cur, next } = checkModifyQp(
        req.attr,
        req.mask,
        { qpn: qp.qpn, type: qp.type, state: qp.state, port: qp.attr.port },
        this.driver.devLim.ports,
      );
      const ctx = this.#context(a, mask, qp.attr, qp.rights);
      if (cur === S.RESET && next === S.RESET) return;
      if (cur === S.RESET && next === S.INIT) {
        const w = qp.req.wq;
        Object.assign(ctx, {
          type: toHwServiceType(qp.type),
          pd: qp.pd.pdn,
          sendCqn: qp.sendCq.cqn,
          recvCqn: qp.recvCq.cqn,
          srqn: qp.srq ? qp.srq.srqn : -1,
          uarIndex: this.uarIndex,
          wqKey: qp.region.key,
          sqAddr: w.bufAddr + w.sqOffset,
          sqSize: w.sqSize,
          sqStride: w.sqStride,
          rqAddr: w.bufAddr + w.rqOffset,
          rqSize: w.rqSize,
          rqStride: w.rqStride || 16,
        });
      }
      const op = transitionOp(cur, next)!;
      try {
        await this.driver.qpTransition(op, qp.qpn, ctx);
      } catch (e) {
        // The device refused it for the QP's own state or context (a `curState` that is not the
        // QP's, as mthca's firmware answers BAD_QP_STATE): the call's error, naming it.
        if (!(e instanceof VerbsError && e.ownRequest)) throw e;
        throw requestError(e.code, `modify_qp QP ${qp.qpn}: ${e.message.slice(e.code.length + 2)}`);
      }
      qp.state = next;
      if (mask & M.ACCESS_FLAGS) qp.rights.accessFlags = a.accessFlags!;
      if (mask & M.MAX_DEST_RD_ATOMIC) qp.rights.respDepth = a.maxDestRdAtomic!;
      if (next === S.RESET) qp.attr = {};
      else {
        const { state: _s, curState: _c, sqDraining: _d, ...rest } = a;
        // The PSNs as the QP took them (masked to 24 bits), not as they were given.
        if (ctx.rqPsn !== undefined) rest.rqPsn = ctx.rqPsn;
        if (ctx.sqPsn !== undefined) rest.sqPsn = ctx.sqPsn;
        // A null GRH is none (checkAhAttr): query reports no GRH, as a guest's dom0 does.
        if (rest.ah) rest.ah = abiAhAttr(rest.ah);
        if (rest.altPath) rest.altPath = abiAhAttr(rest.altPath);
        Object.assign(qp.attr, structuredClone(rest));
      }
    } finally {
      unlock();
    }
  }

  async queryQp(qpHandle: number): Promise<QueryQpResp> {
    await this.#in();
    let qp = this.#get(this.#qps, qpHandle, "QP");
    // mthca_query_qp reads the context and stores the state it read under the QP's mutex, as
    // mthca_modify_qp does (modifyQp).
    while (qp.busy) {
      await qp.busy;
      qp = this.#get(this.#qps, qpHandle, "QP");
    }
    const unlock = holdQpMutex(qp);
    try {
      // mthca_query_qp: cur_qp_state is the state it read; en_sqd_async_notify "is only applicable
      // in modify qp" and is not reported.
      if (qp.state === S.RESET) {
        return { attr: { state: S.RESET, curState: S.RESET }, cap: { ...qp.cap } };
      }
      const q = await this.driver.queryQp(qp.qpn);
      const state = fromHwQpState(q.state);
      qp.state = state;
      const { enSqdAsyncNotify: _modifyOnly, ...set } = structuredClone(qp.attr);
      const attr: QpAttr & { state: number } = {
        ...set,
        state,
        curState: state,
        port: q.port,
        pkeyIndex: q.pkeyIndex,
        accessFlags: fromQpAccess(q.accessFlags),
        // mthca_query_qp: `1 << log` of the QPC's SRA_MAX and RRA_MAX, the depths rounded up to
        // a power of two as modify_qp wrote them, and 1 for a depth of 0 or never set.
        maxRdAtomic: fromHwRdAtomic(q.maxRdAtomic),
        maxDestRdAtomic: fromHwRdAtomic(q.maxDestRdAtomic),
      };
      // mthca_query_qp (hw/mthca/mthca_qp.c) reads every one of these from the QP context, for
      // every QP type and from INIT on: a field no modify_qp gave reads as the context RST2INIT
      // loaded, which __mthca_modify_qp zeroed (memset of the mailbox): 0. The PSNs are the QP's
      // now, not as they were set: the next the responder expects and the next the requester
      // sends (rnr_nextrecvpsn, next_send_psn).
      attr.qkey = q.qkey;
      attr.rqPsn = q.expectedPsn;
      attr.sqPsn = q.nextPsn;
      attr.destQpNum = q.destQpn;
      attr.timeout = q.timeout;
      attr.retryCnt = q.retryCnt;
      attr.rnrRetry = q.rnrRetry;
      attr.minRnrTimer = q.minRnrTimer;
      // The context's path migration state: IB_MIG_MIGRATED (0) unless a modify_qp gave another
      // (__mthca_modify_qp writes MTHCA_QP_PM_MIGRATED without IB_QP_PATH_MIG_STATE). Given, it
      // writes the context's code for IB_MIG_MIGRATED, REARM or ARMED (0, 1, 2) and leaves any
      // other value's bits 0, MTHCA_QP_PM_ARMED, which mthca_query_qp reads back as IB_MIG_ARMED.
      const pm = set.pathMigState ?? 0;
      attr.pathMigState = pm === 0 || pm === 1 ? pm : 2;
      // path_mtu is the context's MTU. mthca sets it for a UD QP at every transition (IB_MTU_2048 on
      // Tavor: the MTU its datagrams are sent with); here the device gives a UD QP its port's
      // active MTU at RST2INIT, 2048 on the MT23108's ports. An RC or UC QP's is written by the
      // modify_qp that gives IB_QP_PATH_MTU (INIT->RTR): 0 before.
      attr.pathMtu = qp.type === QpType.UD || set.pathMtu !== undefined ? q.mtu : 0;
      // mthca_query_qp: a connected QP's paths as the context holds them, whose static_rate is
      // the rate the path runs at on its port (to_rdma_ah_attr: mthca_rate_to_ib of the context's
      // rate field, the port's own rate for a path that runs at it), not the rate asked for.
      // Every field of a path is read back (to_ib_ah_attr), given or not: the port the path's
      // context names (the primary path's is the QP's port, which IB_QP_AV does not change; the
      // alternate path's alt_port_num), and an SL, source path bits and GRH fields at their
      // values, 0 where no modify_qp gave one.
      if (attr.ah) {
        const rate = pathRate(q.path.staticRate ?? 0, this.driver.portGbps(q.port));
        attr.ah = queriedPath(q.path, q.port, rate);
      }
      if (attr.altPath) {
        const port = attr.altPath.portNum ?? q.port;
        const rate = pathRate(attr.altPath.staticRate ?? 0, this.driver.portGbps(port));
        attr.altPath = queriedPath(checkAhAttr("query_qp", attr.altPath), port, rate);
      }
      // mthca_query_qp: sq_draining is the QPC's DRAINING state, false in every other.
      attr.sqDraining = q.sqDraining;
      return { attr, cap: { ...qp.cap }, sqWqeCounter: q.sqConsumer };
    } finally {
      unlock();
    }
  }

  /**
   * What attaching a QP to a multicast group checks before the device is
   * asked: the QP handle (ib_uverbs_attach_mcast, EINVAL), then the GID, the
   * QP's type and the LID (ib_attach_mcast). Synchronous and without side
   * effects, as {@link checkCreateQp}, for dom0 to run before a guest's
   * quotas; {@link attachMcast} runs it too.
   */
  checkAttachMcast(req: McastReq): void {
    this.#live();
    this.#checkAttachMcast(req);
  }

  #checkAttachMcast(req: McastReq): QpObj {
    const qp = this.#get(this.#qps, req.qpHandle, "QP");
    const { gid, mlid } = req;
    // ib_attach_mcast (drivers/infiniband/core/verbs.c): EINVAL unless the GID is multicast
    // (rdma_is_multicast_addr: first byte 0xFF), the QP is UD and the LID a multicast LID
    // (is_valid_mcast_lid: 0xC000..0xFFFE, IBTA vol 1 §4.1.1).
    if (!(gid instanceof Uint8Array) || gid.length !== 16 || !isMulticastGid(gid)) {
      throw inval("attach_mcast: the GID is not a multicast GID (its first byte must be 0xFF)");
    }
    if (qp.type !== QpType.UD) throw inval("attach_mcast: only a UD QP can join a multicast group");
    if (!isMulticastLid(mlid)) {
      throw inval(`attach_mcast: LID ${String(mlid)} is not a multicast LID (0xC000..0xFFFE)`);
    }
    return qp;
  }

  async attachMcast(req: McastReq): Promise<void> {
    await this.#in();
    const qp = this.#checkAttachMcast(req);
    const { gid, mlid } = req;
    // ib_uverbs_attach_mcast: a gid/mlid pair already on the QP's list is a success.
    const key = mcastKey(gid, mlid);
    if (qp.mcast.has(key)) return;
    await this.driver.attachMcast(qp.qpn, gid);
    qp.mcast.set(key, { gid: gid.slice(), mlid });
  }

  async detachMcast(req: McastReq): Promise<void> {
    await this.#in();
    const qp = this.#get(this.#qps, req.qpHandle, "QP");
    const { gid, mlid } = req;
    // ib_uverbs_detach_mcast: the pair must be on the QP's list (EINVAL), then ib_detach_mcast.
    const key = gid instanceof Uint8Array && gid.length === 16 ? mcastKey(gid, mlid) : "";
    if (!qp.mcast.has(key)) {
      throw inval("detach_mcast: the QP is not attached to that group (GID and LID)");
    }
    qp.mcast.delete(key);
    await this.driver.detachMcast(qp.qpn, gid);
  }

  /**
   * ib_uverbs_detach_umcast: a QP going away with its context leaves every group on its list
   * (each entry detached once; an MGID listed under two LIDs is found the
   * first time only, and the kernel ignores the second's error).
   */
  async #detachAll(qp: QpObj): Promise<void> {
    const entries = [...qp.mcast.values()];
    qp.mcast.clear();
    for (const m of entries) {
      try {
        await this.driver.detachMcast(qp.qpn, m.gid);
      } catch (e) {
        if (!(e instanceof VerbsError)) throw e;
      }
    }
  }

  async destroyQp(qpHandle: number): Promise<void> {
    await this.#in();
    const qp = this.#get(this.#qps, qpHandle, "QP");
    // uverbs_free_qp (uverbs_std_types_qp.c): a destroy the user asked for is refused while the
    // QP is attached to a multicast group ("do not allow destruction until the user cleans up
    // all the mcast bindings"), -EBUSY, as ibv_create_qp(3) says: "ibv_destroy_qp() fails if the
    // QP is attached to a multicast group". Only closing the context detaches them itself.
    if (qp.mcast.size > 0) {
      throw requestError(
        "EBUSY",
        `destroy_qp: QP ${qp.qpn} is still attached to ${qp.mcast.size} multicast group(s)`,
      );
    }
    if (qp.state !== S.RESET) await this.driver.qpTransition(CmdOp.TO_RST_QP, qp.qpn);
    qp.state = S.RESET;
    await this.driver.deregRegion(qp.region);
    this.driver.freeQpn(qp.qpn);
    this.#qps.delete(qpHandle);
    qp.pd.users--;
    qp.sendCq.users--;
    qp.recvCq.users--;
    if (qp.srq) qp.srq.users--;
  }

  /**
   * What creating an SRQ checks before the driver makes anything: the PD
   * handle (ib_uverbs create_srq, EINVAL), then the sizes (mthca_alloc_srq).
   * Synchronous and without side effects, as {@link checkCreateQp}, for dom0
   * to run before a guest's quotas; {@link createSrq} runs it too.
   */
  checkCreateSrq(req: CreateSrqReq): void {
    this.#live();
    this.#checkCreateSrq(req);
  }

  #checkCreateSrq(req: CreateSrqReq): { pd: PdObj; entries: number; stride: number } {
    const lim = this.driver.devLim;
    const pd = this.#get(this.#pds, req.pdHandle, "PD");
    // mthca_alloc_srq: `attr->max_wr > dev->limits.max_srq_wqes || attr->max_sge >
    // dev->limits.max_srq_sge` is -EINVAL; nothing refuses 0 (Tavor grants max_wr + 1 entries,
    // one of them spare, and reports max_wr). The ring is checked against the limit too.
    const entries = checkSrqSize(req.maxWr, req.logSize, lim.maxQpWr);
    checkInt("create_srq", "maxSge", req.maxSge, 0, lim.maxSge);
    // The ABI carries srq_limit, but creation does not arm the SRQ: mthca_alloc_srq neither
    // checks nor uses it (ibv_create_srq(3): "irrelevant for ibv_create_srq"); arming is
    // ibv_modify_srq's. A value no C field could hold is still refused.
    checkCreateSrqLimit(req.srqLimit);
    const stride = 1 << checkInt("create_srq", "logStride", req.logStride, 4, 10);
    if (entries < req.maxWr || stride < req.maxSge * SEG_BYTES || entries * stride > req.bufBytes) {
      throw inval(`create_srq: ${entries}x${stride} B ring does not fit the request`);
    }
    queueAligned("create_srq", req.bufAddr);
    return { pd, entries, stride };
  }

  async createSrq(req: CreateSrqReq): Promise<CreateSrqResp> {
    await this.#in();
    const { pd } = this.#checkCreateSrq(req);
    const region = await this.#queueRegion(pd.pdn, req.bufAddr, req.bufBytes, "create_srq");
    let srqn: number;
    try {
      srqn = this.driver.allocSrqn();
    } catch (e) {
      await this.driver.deregRegion(region);
      throw e;
    }
    const h = this.#next++;
    try {
      await this.driver.swToHwSrq(
        {
          srqn,
          pdn: pd.pdn,
          region,
          addr: req.bufAddr,
          logSize: req.logSize,
          logStride: req.logStride,
          uarIndex: this.uarIndex,
        },
        (t) => {
          const type = ASYNC_OF_EQE[t];
          if (type !== undefined) this.#handlers.onAsyncEvent({ type, srqHandle: h });
        },
      );
    } catch (e) {
      this.driver.freeSrqn(srqn);
      await this.driver.deregRegion(region);
      throw e;
    }
    pd.users++;
    this.#srqs.set(h, { srqn, pd, region, maxWr: req.maxWr, maxSge: req.maxSge, users: 0 });
    // What the SRQ was granted is what query_srq reports later: mthca_alloc_srq hands back
    // attr->max_wr = srq->max - 1 (on Tavor, srq->max is max_wr + 1: what was asked), the
    // same value mthca_query_srq reports; the library posts no more than that.
    return { srqHandle: h, srqn, maxWr: req.maxWr, maxSge: req.maxSge };
  }

  async modifySrq(req: ModifySrqReq): Promise<void> {
    await this.#in();
    const srq = this.#get(this.#srqs, req.srqHandle, "SRQ");
    checkSrqResize(req);
    if (req.srqLimit === undefined) return;
    checkSrqLimit(req.srqLimit, srq.maxWr);
    await this.driver.armSrq(srq.srqn, req.srqLimit);
  }

  async querySrq(srqHandle: number): Promise<QuerySrqResp> {
    await this.#in();
    const srq = this.#get(this.#srqs, srqHandle, "SRQ");
    // mthca_query_srq: srq_limit is the limit_watermark QUERY_SRQ reads from the SRQ context
    // (the device zeroes it when SRQ_LIMIT fires, IBTA vol 1 §10.2.9.3), max_wr and max_sge
    // are the driver's own record of the SRQ.
    const info = await this.driver.querySrq(srq.srqn);
    return { maxWr: srq.maxWr, maxSge: srq.maxSge, srqLimit: info.limit };
  }

  async destroySrq(srqHandle: number): Promise<void> {
    await this.#in();
    const srq = this.#get(this.#srqs, srqHandle, "SRQ");
    if (srq.users > 0) {
      throw requestError("EBUSY", `destroy_srq: SRQ ${srq.srqn} is used by ${srq.users} QP(s)`);
    }
    await this.driver.hwToSwSrq(srq.srqn);
    this.driver.freeSrqn(srq.srqn);
    await this.driver.deregRegion(srq.region);
    this.#srqs.delete(srqHandle);
    srq.pd.users--;
  }

  /**
   * What creating an AH checks before the driver makes anything: the PD
   * handle (ib_uverbs create_ah, EINVAL), then the address vector
   * (ib_create_user_ah). Synchronous and without side effects, as
   * {@link checkCreateQp}, for dom0 to run before a guest's quotas;
   * {@link createAh} runs it too.
   */
  checkCreateAh(req: { pdHandle: number; attr: AhAttr }): void {
    this.#live();
    this.#checkCreateAh(req);
  }

  #checkCreateAh(req: { pdHandle: number; attr: AhAttr }): PdObj {
    const pd = this.#get(this.#pds, req.pdHandle, "PD");
    // ib_create_user_ah checks the AV as modify_qp does (rdma_check_ah_attr: a valid port;
    // rdma_fill_sgid_attr: an sgid_index within the port's GID table, else EINVAL); a guest's
    // kernel makes the same check (checkCreateAhAttr).
    checkCreateAhAttr(req.attr, this.driver.devLim.ports);
    return pd;
  }

  async createAh(req: { pdHandle: number; attr: AhAttr }): Promise<CreateAhResp> {
    await this.#in();
    const pd = this.#checkCreateAh(req);
    const index = this.driver.allocAh();
    pd.users++;
    const h = this.#next++;
    this.#ahs.set(h, { pd, index });
    return { ahHandle: h };
  }

  async destroyAh(ahHandle: number): Promise<void> {
    await this.#in();
    const ah = this.#get(this.#ahs, ahHandle, "AH");
    this.driver.freeAh(ah.index);
    this.#ahs.delete(ahHandle);
    ah.pd.users--;
  }

  /**
   * Release everything the context holds, in dependency order as
   * ib_uverbs_cleanup_ucontext does. Every object is released even if an
   * earlier one failed (a half-closed context would leak device resources
   * and pins); the failures are thrown together at the end, after the
   * opener's own release (`onClose`: the UAR) has run.
   */
  async close(): Promise<void> {
    await this.#in();
    this.#closed = true;
    this.driver.removePortSink(this.#portSink);
    this.#handlers = { onCompEvent() {}, onAsyncEvent() {} };
    // try/catch around each await (no helper): the same microtask turns as
    // before, so concurrent teardowns interleave exactly as they did.
    const errors: unknown[] = [];
    const sync = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        errors.push(e);
      }
    };
    // An object the device would not give back keeps its number and region
    // (reusing them while the device still uses the context would be worse);
    // the next object is released all the same.
    for (const [h, qp] of this.#qps) {
      this.#qps.delete(h);
      try {
        await this.#detachAll(qp);
      } catch (e) {
        errors.push(e);
      }
      try {
        if (qp.state !== S.RESET) await this.driver.qpTransition(CmdOp.TO_RST_QP, qp.qpn);
      } catch (e) {
        errors.push(e);
        continue;
      }
      try {
        await this.driver.deregRegion(qp.region);
      } catch (e) {
        errors.push(e);
      }
      sync(() => this.driver.freeQpn(qp.qpn));
    }
    for (const [h, ah] of this.#ahs) {
      sync(() => this.driver.freeAh(ah.index));
      this.#ahs.delete(h);
    }
    for (const [h, mr] of this.#mrs) {
      try {
        await this.driver.deregRegion(mr.region);
      } catch (e) {
        errors.push(e);
      }
      this.#mrs.delete(h);
    }
    for (const [h, srq] of this.#srqs) {
      this.#srqs.delete(h);
      try {
        await this.driver.hwToSwSrq(srq.srqn);
      } catch (e) {
        errors.push(e);
        continue;
      }
      sync(() => this.driver.freeSrqn(srq.srqn));
      try {
        await this.driver.deregRegion(srq.region);
      } catch (e) {
        errors.push(e);
      }
    }
    for (const [h, cq] of this.#cqs) {
      this.#cqs.delete(h);
      try {
        await this.driver.hwToSwCq(cq.cqn);
      } catch (e) {
        errors.push(e);
        continue;
      }
      sync(() => this.driver.freeCqn(cq.cqn));
      try {
        await this.driver.deregRegion(cq.region);
      } catch (e) {
        errors.push(e);
      }
    }
    for (const [h, pd] of this.#pds) {
      sync(() => this.driver.freePd(pd.pdn));
      this.#pds.delete(h);
    }
    // The opener allocated and mapped the UAR; it releases them.
    sync(() => this.#onClose?.());
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) {
      throw new AggregateError(errors, `close: ${errors.length} resources failed to release`);
    }
  }
}

/** Re-exported for the types of event payloads. */
export type { AsyncEvent };

/**
 * Per-lane signalling rates (Gb/s, before encoding) of the IBA link speeds and their
 * `ibv_port_attr.active_speed` codes (verbs.h IBV_SPEED_*; IBTA vol 2 PortInfo
 * LinkSpeedActive / LinkSpeedExtActive): SDR, DDR, QDR, FDR10, FDR, EDR, HDR, NDR.
 */
const SPEED_CODES: [number, number][] = [
  [2.5, 1],
  [5, 2],
  [10, 4],
  [10.3125, 8],
  [14.0625, 16],
  [25.78125, 32],
  [53.125, 64],
  [106.25, 128],
];

/** verbs.h `IBV_LINK_LAYER_INFINIBAND`: the model's ports are InfiniBand ports. */
const IBV_LINK_LAYER_INFINIBAND = 1;

/** The speed code of a lane signalling rate (0: none of the IBA speeds). */
function speedCode(gbps: number): number {
  for (const [rate, code] of SPEED_CODES) if (Math.abs(gbps - rate) < rate * 1e-6) return code;
  return 0;
}
