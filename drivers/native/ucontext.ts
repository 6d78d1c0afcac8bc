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
import { SEG_BYTES } from "../../hca/wqe.ts";
import { PAGE_SIZE } from "../../sim/memory.ts";
import {
  Access,
  EventType,
  mtuFromBytes,
  QpAttrMask as M,
  QpState as S,
  QpType,
} from "../uapi/enums.ts";
import { requestError, VerbsError } from "../uapi/errors.ts";
import { absentAttrs, modifyQpError } from "../uapi/qp_state.ts";
import { qpGrant, roundPow2, sendWqeBytes } from "../uapi/wq_layout.ts";
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
  WqLayout,
} from "../uapi/uverbs.ts";
import type { HcaDriver, HwRegion } from "./driver.ts";
import { fromHwQpState, fromQpAccess, toHwServiceType, toQpAccess } from "./hw_map.ts";

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
  /** Multicast attachments, `gid/mlid` (ib_uverbs' per-QP mcast_list). */
  mcast: Map<string, { gid: Uint8Array; mlid: number }>;
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

function isPow2(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/**
 * `device_cap_flags` as mthca_main.c sets them for every InfiniHost:
 * `IBV_DEVICE_CHANGE_PHY_PORT | PORT_ACTIVE_EVENT | SYS_IMAGE_GUID |
 * RC_RNR_NAK_GEN` (the firmware-dependent counters and automatic path
 * migration are not claimed; no `SRQ_RESIZE`: mthca_modify_srq refuses a
 * new max_wr, as this driver does).
 */
/**
 * GIDs per port: the model's port has one, its GUID under the subnet prefix
 * (query_port's gid_tbl_len; the bound of an address vector's sgid_index).
 */
const GID_TABLE_LEN = 1;

const MTHCA_DEVICE_CAP_FLAGS = (1 << 5) | (1 << 10) | (1 << 11) | (1 << 12);

/** `IB_UVERBS_ACCESS_OPTIONAL_RANGE`: bits 20..29, hints a device may ignore (`RELAXED_ORDERING`, …). */
const ACCESS_OPTIONAL_RANGE = ((1 << 29) * 2 - 1) & ~((1 << 20) - 1);
/** `IB_ACCESS_FLUSH_GLOBAL` and `IB_ACCESS_FLUSH_PERSISTENT` (bits 8, 9): no FLUSH on this device. */
const ACCESS_FLUSH = (1 << 8) | (1 << 9);
/** `IB_ACCESS_SUPPORTED`: bits 0..9 and the optional range. */
const ACCESS_SUPPORTED = ((1 << 9) * 2 - 1) | ACCESS_OPTIONAL_RANGE;

/**
 * reg_mr's arguments as the kernel checks them before it pins a page
 * (ib_uverbs_reg_mr: `ib_check_mr_access` before the driver's
 * `reg_user_mr` calls `ib_umem_get`): the access flags ({@link checkMrAccess}),
 * then the length and the address; returns the flags the region gets.
 * A guest's kernel checks its own `REG_MR` with it before it looks at the
 * buffer's pages, so a bad argument is refused as on bare metal, not as an
 * unmapped page or a pin limit (see `VibFrontFile.regMr`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRegMr } from "./ucontext.ts";
 * assert.equal(checkRegMr({ addr: 0, length: 4096, access: 1 }), 1);
 * assert.throws(() => checkRegMr({ addr: 0, length: 2 ** 40, access: 0 }), /length must be/);
 * ```
 */
export function checkRegMr(req: { addr: number; length: number; access: number }): number {
  const access = checkMrAccess(req.access);
  checkRegMrExtent(req);
  return access;
}

/** reg_mr's extent as `ib_umem_get` checks it before it pins a page (the model's 4 GiB limit). */
function checkRegMrExtent(req: { addr: number; length: number }): void {
  checkInt("reg_mr", "length", req.length, 1, 2 ** 32);
  // Address 0 is no special case: ib_umem_get finds no page there (EFAULT), as at any address
  // the process has not mapped.
  checkInt("reg_mr", "addr", req.addr, 0, Number.MAX_SAFE_INTEGER);
}

/**
 * reg_mr's access flags as the kernel checks them (`ib_check_mr_access`,
 * include/rdma/ib_verbs.h) and mthca takes them; returns the flags the
 * region gets. Remote write or atomic without local write is EINVAL (IBTA
 * §10.6.3.1, ibv_reg_mr(3)); a bit outside `IB_ACCESS_SUPPORTED` is EINVAL;
 * `ON_DEMAND` and the FLUSH flags the device has no capability for are
 * EOPNOTSUPP. The optional range (`RELAXED_ORDERING`, …) is a hint the
 * device may ignore (ibv_reg_mr(3): "A device that does not support the
 * requested flag may ignore it"; libibverbs' `ibv_reg_mr_iova2` strips
 * them for a kernel that does not take them): it is dropped. `MW_BIND` and
 * `HUGETLB` pass, as mthca's `convert_access` lets them (no memory windows
 * here to bind; huge pages are the application's promise). `ZERO_BASED`
 * is refused: mthca would ignore it and address the region by VA, which
 * the caller asked not to.
 */
function checkMrAccess(access: number): number {
  if (!Number.isInteger(access) || access < 0 || access > 0xffffffff) {
    throw inval(`reg_mr: access must be an integer of 32 bits, got ${String(access)}`);
  }
  if ((access & (Access.REMOTE_WRITE | Access.REMOTE_ATOMIC)) && !(access & Access.LOCAL_WRITE)) {
    throw inval("reg_mr: REMOTE_WRITE/REMOTE_ATOMIC require LOCAL_WRITE");
  }
  if ((access & ~ACCESS_SUPPORTED) || (access & Access.ZERO_BASED)) {
    throw inval(`reg_mr: access flags 0x${(access >>> 0).toString(16)} not supported`);
  }
  if (access & (Access.ON_DEMAND | ACCESS_FLUSH)) {
    throw requestError(
      "EOPNOTSUPP",
      `reg_mr: access flags 0x${
        (access >>> 0).toString(16)
      }: no on-demand paging or FLUSH on this device`,
    );
  }
  return access & ~ACCESS_OPTIONAL_RANGE;
}

/** EINVAL about the caller's own request ({@link requestError}: a backend may pass its text on). */
function inval(msg: string): VerbsError {
  return requestError("EINVAL", msg);
}

/**
 * A queue buffer (CQ, QP, SRQ) starts on a page: the library allocates it so
 * (libmthca's mthca_alloc_buf, page-aligned), and the queue's offsets count
 * from that page. Checked with the creation's other arguments, so that a
 * guest's buffer is held to it in every mode: dom0 registers a split guest's
 * shadow queue in its place, and used to accept any address, then copy the
 * guest's WQEs and CQEs at offsets from the page below it.
 */
function queueAligned(what: string, addr: number): void {
  if (addr % PAGE_SIZE !== 0) {
    throw inval(`${what}: buffer 0x${addr.toString(16)} not page-aligned`);
  }
}

/**
 * A CQ's size as the kernel checks it before anything is allocated: `cqe`
 * in 1..max_cqe, and the ring the library laid out (2^`logSize` entries) no
 * larger than max_cqe + 1, the spare entry it adds. Linux refuses a size
 * above the device's limit with -EINVAL (mthca_provider.c `mthca_create_cq`
 * and `mthca_resize_cq`: `entries < 1 || entries > dev->limits.max_cqes`;
 * mlx4_ib_create_cq likewise; ibv_create_cq(3)), never ENOMEM: the device's
 * own refusal (SW2HW_CQ with EXCEED_LIM) or a quota is never reached. The
 * backend checks a guest's CREATE_CQ and RESIZE_CQ with it before its
 * quotas. Returns the ring's entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkCqSize } from "./ucontext.ts";
 * assert.equal(checkCqSize("create_cq", 131071, 17, 131071), 131072);
 * assert.throws(() => checkCqSize("create_cq", 1, 18, 131071), /EINVAL: .*above max_cqe 131071/);
 * ```
 */
export function checkCqSize(call: string, cqe: unknown, logSize: unknown, maxCqe: number): number {
  checkInt(call, "cqe", cqe, 1, maxCqe);
  const log = checkInt(call, "logSize", logSize, 1, 24);
  if (2 ** log > maxCqe + 1) {
    throw inval(`${call}: 2^${log} entries above max_cqe ${maxCqe} (at most ${maxCqe + 1})`);
  }
  return 2 ** log;
}

/**
 * An SRQ's size as the kernel checks it before anything is allocated:
 * `maxWr` in 0..max_srq_wr, and the ring the library laid out
 * (2^`logSize` entries) no larger than the one it lays out for max_srq_wr
 * itself (`srqLayout` rounds `maxWr` up to a power of two and keeps no
 * spare entry). Linux refuses a size above the device's limit with
 * -EINVAL (mthca_srq.c `mthca_alloc_srq`: `attr->max_wr >
 * dev->limits.max_srq_wqes` is -EINVAL; ibv_create_srq(3)), never ENOMEM:
 * the device's own refusal (SW2HW_SRQ with EXCEED_LIM) or a quota is never
 * reached. The backend checks a guest's CREATE_SRQ with it before its
 * quotas. Returns the ring's entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkSrqSize } from "./ucontext.ts";
 * assert.equal(checkSrqSize(16384, 14, 16384), 16384);
 * assert.throws(() => checkSrqSize(1, 15, 16384), /EINVAL: .*above max_srq_wr 16384/);
 * ```
 */
export function checkSrqSize(maxWr: unknown, logSize: unknown, maxSrqWr: number): number {
  checkInt("create_srq", "maxWr", maxWr, 0, maxSrqWr);
  const log = checkInt("create_srq", "logSize", logSize, 0, 24), ring = roundPow2(maxSrqWr);
  if (2 ** log > ring) {
    throw inval(`create_srq: 2^${log} entries above max_srq_wr ${maxSrqWr} (at most ${ring})`);
  }
  return 2 ** log;
}

/**
 * A QP's queue sizes as the kernel checks them before anything is
 * allocated: `maxSendWr` and `maxRecvWr` in 0..max_qp_wr, and each ring the
 * library laid out (`sqSize`, `rqSize` entries) no larger than the one it
 * lays out for max_qp_wr itself (`qpLayout` rounds up to a power of two).
 * Linux refuses a size above the device's limit with -EINVAL at creation
 * (mthca_qp.c `mthca_set_qp_size`, which `mthca_alloc_qp` calls before
 * `mthca_alloc_qp_common`: `cap->max_send_wr > dev->limits.max_wqes ||
 * cap->max_recv_wr > dev->limits.max_wqes` is -EINVAL; ibv_create_qp(3)):
 * no QP is made whose RST2INIT the device would refuse (EXCEED_LIM), nor
 * is a quota asked. The backend checks a guest's CREATE_QP with it before its
 * quotas. Returns the entries of both rings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkQpSize } from "./ucontext.ts";
 * const cap = { maxSendWr: 16384, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
 * assert.equal(checkQpSize(cap, { sqSize: 16384, rqSize: 1 }, 16384), 16385);
 * assert.throws(
 *   () => checkQpSize(cap, { sqSize: 32768, rqSize: 1 }, 16384),
 *   /EINVAL: create_qp: a send queue of 32768 entries above max_qp_wr 16384/,
 * );
 * ```
 */
export function checkQpSize(
  cap: QpCap,
  wq: Pick<WqLayout, "sqSize" | "rqSize">,
  maxQpWr: number,
): number {
  checkInt("create_qp", "maxSendWr", cap.maxSendWr, 0, maxQpWr);
  checkInt("create_qp", "maxRecvWr", cap.maxRecvWr, 0, maxQpWr);
  const ring = roundPow2(maxQpWr);
  let entries = 0;
  for (const [k, what] of [["sqSize", "send"], ["rqSize", "receive"]] as const) {
    const n = checkInt("create_qp", k, wq[k], 0, 0xffffffff);
    if (n > ring) {
      throw inval(
        `create_qp: a ${what} queue of ${n} entries above max_qp_wr ${maxQpWr} (at most ${ring})`,
      );
    }
    entries += n;
  }
  return entries;
}

function mcastKey(gid: Uint8Array, mlid: number): string {
  return `${Array.from(gid, (b) => b.toString(16).padStart(2, "0")).join("")}/${mlid}`;
}

function checkInt(call: string, name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    const got = typeof v === "string" ? JSON.stringify(v) : String(v);
    throw inval(`${call}: ${name} must be an integer in ${min}..${max}, got ${got}`);
  }
  return v;
}

/**
 * An address vector as the kernel checks it (an AH's, or a QP's path at
 * `modify_qp`): every field within the range ib_uverbs and mthca take
 * (`struct ib_uverbs_ah_attr`'s widths, `rdma_check_ah_attr`,
 * `mthca_path_set`'s sgid_index). A guest's kernel checks an AH's with it
 * before its `CREATE_AH` request is encoded, so a value the request
 * cannot carry is refused with the text bare metal gives (see
 * `VibFrontFile.createAh`). Returns the path the device takes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkAhAttr } from "./ucontext.ts";
 * assert.equal(checkAhAttr("create_ah", { dlid: 3 }).dlid, 3);
 * assert.throws(
 *   () => checkAhAttr("create_ah", { dlid: 70000 }),
 *   /EINVAL: create_ah: ah.dlid must be an integer in 0..65535, got 70000$/,
 * );
 * ```
 */
export function checkAhAttr(call: string, ah: AhAttr): PathParams {
  const p: PathParams = {
    // Any DLID a __u16 holds (struct ib_uverbs_ah_attr's dlid): neither the core
    // (ib_uverbs_create_ah, rdma_check_ah_attr, _ib_modify_qp) nor mthca (mthca_create_ah,
    // mthca_path_set) nor libmthca (mthca_alloc_av) looks at it, so the reserved LID 0, the
    // permissive LID 0xFFFF and a multicast LID without a GRH are taken, for an AH and a
    // connected QP's path alike. The fabric decides their packets' fate (docs/api.md, AhAttr).
    dlid: checkInt(call, "ah.dlid", ah.dlid, 0, 0xffff),
    sl: checkInt(call, "ah.sl", ah.sl ?? 0, 0, 15),
    srcPathBits: checkInt(call, "ah.srcPathBits", ah.srcPathBits ?? 0, 0, 127),
    // Fields the device does not check are still the uverbs ABI's widths (struct
    // ib_uverbs_ah_attr: static_rate and hop_limit __u8, flow_label __u32): a value none of
    // them holds could not have been passed, in any mode (a guest's request carries them so).
    staticRate: checkInt(call, "ah.staticRate", ah.staticRate ?? 0, 0, 0xff),
  };
  if (ah.grh) {
    if (!(ah.grh.dgid instanceof Uint8Array) || ah.grh.dgid.length !== 16) {
      throw inval(`${call}: ah.grh.dgid must be 16 bytes`);
    }
    p.grh = {
      dgid: ah.grh.dgid.slice(),
      // mthca_path_set: an sgid_index past the port's GID table fails with EINVAL.
      sgidIndex: checkInt(call, "ah.grh.sgidIndex", ah.grh.sgidIndex ?? 0, 0, GID_TABLE_LEN - 1),
      flowLabel: checkInt(call, "ah.grh.flowLabel", ah.grh.flowLabel ?? 0, 0, 0xffffffff),
      hopLimit: checkInt(call, "ah.grh.hopLimit", ah.grh.hopLimit ?? 64, 0, 0xff),
      // struct ib_uverbs_global_route's traffic_class is a __u8, written into the GRH's TClass
      // (mthca_path_set puts it in sl_tclass_flowlabel; IBTA vol 1 §8.3.1).
      trafficClass: checkInt(call, "ah.grh.trafficClass", ah.grh.trafficClass ?? 0, 0, 0xff),
    };
  }
  return p;
}

/**
 * What ib_uverbs' `modify_qp` (uverbs_cmd.c) checks and changes before the
 * driver sees a modify (the driver's `ib_modify_qp_is_ok` then checks the
 * attribute mask against the state table), in its order:
 *
 * - a port must be one of the device's `ports` (`rdma_is_port_valid`), the
 *   primary AV's and the alternate path's too;
 * - the primary AV's port at INIT->RTR must be the QP's own, `qpPort` (the
 *   one RESET->INIT set); elsewhere (SQD->SQD) it must be the port given
 *   with it, and an AV given without a port brings its port along: "if
 *   only IB_QP_AV was set, add in IB_QP_PORT as well … in SQD, if the
 *   primary AV is modified, the primary port should also be modified". An
 *   AV without `portNum` names the QP's port. (A UC QP takes no port at
 *   SQD->SQD, so the table then refuses the modify, as Linux does.)
 * - a controlled Q_Key (bit 31 set) is EPERM: no consumer may give its QP
 *   one (IBTA vol 1 §3.5.3, as "RDMA/uverbs: Restrict usage of privileged
 *   QKEYs" quotes it; `qkey & IB_QP_SET_QKEY` is -EPERM unless the
 *   administrator allowed it, rdma_nl_get_privileged_qkey, off by default).
 *   Every program here runs as an ordinary user.
 *
 * Returns the attributes and mask the driver gets (the caller's untouched);
 * throws EINVAL or EPERM.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { uverbsModifyQp } from "./ucontext.ts";
 * import { QpAttrMask as M } from "../uapi/enums.ts";
 * const { attr, mask } = uverbsModifyQp({ ah: { dlid: 3, portNum: 2 } }, M.AV, 1, 2);
 * assert.equal(mask, M.AV | M.PORT);
 * assert.equal(attr.port, 2);
 * assert.throws(() => uverbsModifyQp({ qkey: 0x80000001 }, M.QKEY, 1, 2), /EPERM: modify_qp: qkey/);
 * assert.throws(() => uverbsModifyQp({ port: 3 }, M.PORT, 1, 2), /EINVAL: modify_qp: port/);
 * ```
 */
export function uverbsModifyQp(
  attr: QpAttr,
  mask: number,
  qpPort: number | undefined,
  ports: number,
): { attr: QpAttr; mask: number } {
  const call = "modify_qp";
  if (mask & M.PORT) checkInt(call, "port", attr.port, 1, ports);
  const ah = mask & M.AV ? attr.ah : undefined;
  const avPort = ah?.portNum;
  if (avPort !== undefined) checkInt(call, "ah.portNum", avPort, 1, ports);
  let out = attr, outMask = mask;
  if (ah) {
    if (mask & M.STATE && attr.state === S.RTR) {
      if (avPort !== undefined && avPort !== qpPort) {
        throw inval(`${call}: ah.portNum ${avPort} is not the QP's port ${qpPort}`);
      }
    } else if (mask & M.PORT) {
      if (avPort !== undefined && avPort !== attr.port) {
        throw inval(`${call}: ah.portNum ${avPort} is not the port given with it, ${attr.port}`);
      }
    } else {
      out = { ...attr, port: avPort ?? qpPort };
      outMask |= M.PORT;
    }
  }
  const altPort = mask & M.ALT_PATH ? attr.altPath?.portNum : undefined;
  if (altPort !== undefined) checkInt(call, "altPath.portNum", altPort, 1, ports);
  const qkey = attr.qkey;
  if (mask & M.QKEY && typeof qkey === "number" && qkey >>> 0 === qkey && qkey >= 0x80000000) {
    throw requestError(
      "EPERM",
      `${call}: qkey 0x${qkey.toString(16)} is a controlled Q_Key (bit 31 set), ` +
        "which an unprivileged process may not set",
    );
  }
  return { attr: out, mask: outMask };
}

/** verbs.h `IBV_QPT_RAW_PACKET`, `IBV_QPT_XRC_SEND`, `IBV_QPT_XRC_RECV`, `IBV_QPT_DRIVER`. */
const QPT_RAW_PACKET = 8, QPT_XRC_SEND = 9, QPT_XRC_RECV = 10, QPT_DRIVER = 0xff;

/**
 * create_cq's completion vector as ib_uverbs checks it (uverbs_cmd.c
 * `create_cq`: `comp_vector >= num_comp_vectors` is EINVAL), before the
 * driver sees the size. A guest's kernel makes the same check before its
 * `CREATE_CQ` request is built (`VibFrontFile.createCq`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkCompVector } from "./ucontext.ts";
 * checkCompVector(0, 1);
 * assert.throws(() => checkCompVector(-1, 1), /compVector must be an integer in 0..0, got -1/);
 * ```
 */
export function checkCompVector(v: unknown, numCompVectors: number): void {
  checkInt("create_cq", "compVector", v, 0, numCompVectors - 1);
}

/**
 * modify_srq's `max_wr`: mthca_modify_srq refuses a resize (`IB_SRQ_MAX_WR`
 * is -EINVAL), whatever the value. A guest's kernel makes the same check
 * before its `MODIFY_SRQ` request is built (`VibFrontFile.modifySrq`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkSrqResize } from "./ucontext.ts";
 * checkSrqResize({});
 * assert.throws(() => checkSrqResize({ maxWr: 8 }), /resizing an SRQ is not supported/);
 * ```
 */
export function checkSrqResize(req: { maxWr?: unknown }): void {
  if (req.maxWr !== undefined) throw inval("modify_srq: resizing an SRQ is not supported");
}

/**
 * create_srq's `srq_limit`: the ABI carries it (a `__u32`), creation does
 * not use it (mthca_alloc_srq; ibv_create_srq(3): "irrelevant for
 * ibv_create_srq"), but a value no C field could hold is refused. A
 * guest's kernel makes the same check before its `CREATE_SRQ` request is
 * built (the library checked `maxWr` and `maxSge` before either kernel).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkCreateSrqLimit } from "./ucontext.ts";
 * checkCreateSrqLimit(0);
 * assert.throws(() => checkCreateSrqLimit(-1), /srqLimit must be an integer in 0..4294967295/);
 * ```
 */
export function checkCreateSrqLimit(v: unknown): void {
  checkInt("create_srq", "srqLimit", v, 0, 0xffffffff);
}

/**
 * modify_srq's limit: at most the SRQ's `max_wr` (mthca_modify_srq: `limit
 * > srq->max` is -EINVAL). A guest's kernel, which knows the size its SRQ
 * was granted, makes the same check before its `MODIFY_SRQ` request is built.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkSrqLimit } from "./ucontext.ts";
 * checkSrqLimit(4, 4);
 * assert.throws(() => checkSrqLimit(-1, 4), /srqLimit must be an integer in 0..4, got -1/);
 * ```
 */
export function checkSrqLimit(v: unknown, maxWr: number): void {
  checkInt("modify_srq", "srqLimit", v, 0, maxWr);
}

/**
 * create_qp's QP type as the kernel sorts it, before anything is looked up
 * or allocated. ib_uverbs' `create_qp` (uverbs_cmd.c): a raw packet QP
 * needs CAP_NET_RAW, which no program here has (EPERM, as for a controlled
 * Q_Key); RC, UC, UD, the two XRC types and the driver-specific type go
 * on; any other type — SMI and GSI among them, QP0 and QP1 being the
 * kernel's — is EINVAL. An XRC target names an XRC domain where a PD is
 * named, and a PD's handle is not one (EINVAL, as this model has no XRC
 * domains). mthca_create_qp takes RC, UC and UD and refuses the XRC
 * initiator and the driver type: "Don't support raw QPs", EOPNOTSUPP.
 */
export function checkQpType(type: unknown): void {
  if (type === QpType.RC || type === QpType.UC || type === QpType.UD) return;
  const t = typeof type === "string" ? JSON.stringify(type) : String(type);
  if (type === QPT_RAW_PACKET) {
    throw requestError(
      "EPERM",
      `create_qp: QP type ${t} (raw packet) needs CAP_NET_RAW, which this process lacks`,
    );
  }
  if (type === QPT_XRC_SEND || type === QPT_DRIVER) {
    throw requestError("EOPNOTSUPP", `create_qp: QP type ${t} is not supported by mthca`);
  }
  const why = type === QPT_XRC_RECV ? " (an XRC target needs an XRC domain)" : "";
  throw inval(`create_qp: QP type ${t} is not a QP type a process may create${why}`);
}

/**
 * What the kernel knows of its device that modify_qp's checks need: the
 * port count, the P_Key table's length, the largest MTU (an IBA MTU code, the
 * ports' MTUCap) and the RDMA READ / atomic depths (`max_qp_init_rd_atom`,
 * `max_qp_rd_atom`). Bare metal's kernel has them from QUERY_DEV_LIM; a
 * guest's from the device and port attributes dom0 answered it.
 */
export interface ModifyQpLimits {
  ports: number;
  maxPkeys: number;
  maxMtu: number;
  maxRdAtomic: number;
  maxDestRdAtomic: number;
}

/** The QP as its kernel knows it: number, type, cached state and port (RESET->INIT's). */
export interface ModifyQpTarget {
  qpn: number;
  type: number;
  state: number;
  port?: number;
}

/**
 * modify_qp's checks of the request alone, in bare metal's order: a mask bit
 * with no attribute behind it (ibv_modify_qp(3)), then ib_uverbs' port and
 * Q_Key checks ({@link uverbsModifyQp}), then the state table
 * (`ib_modify_qp_is_ok`, {@link modifyQpError}) from the QP's cached state or
 * the `curState` given. Returns what the driver gets and the transition; throws
 * EINVAL or EPERM. A guest's kernel makes the same checks before its
 * `MODIFY_QP` request is built (`VibFrontFile.modifyQp`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkModifyQp } from "./ucontext.ts";
 * import { QpAttrMask as M, QpState, QpType } from "../uapi/enums.ts";
 * const qp = { qpn: 0x404, type: QpType.RC, state: QpState.RESET };
 * const init = { state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 };
 * const mask = M.STATE | M.PORT | M.PKEY_INDEX | M.ACCESS_FLAGS;
 * assert.equal(checkModifyQp(init, mask, qp, 2).next, QpState.INIT);
 * assert.throws(
 *   () => checkModifyQp({ ...init, qkey: 1.5 }, mask | M.QKEY, qp, 2),
 *   /EINVAL: modify_qp QP 1028: RESET->INIT on an RC QP does not take qkey/,
 * );
 * ```
 */
export function checkModifyQp(
  attr: QpAttr,
  mask: number,
  qp: ModifyQpTarget,
  ports: number,
): { attr: QpAttr; mask: number; cur: number; next: number } {
  // A mask bit with no attribute behind it is refused before anything is
  // looked at (a guest's request can carry one; ibv_modify_qp(3)).
  const absent = absentAttrs(attr as Record<string, unknown>, mask);
  if (absent.length > 0) {
    throw inval(
      `modify_qp QP ${qp.qpn}: the attribute mask names ${absent.join(", ")} but no value is given`,
    );
  }
  const u = uverbsModifyQp(attr, mask, qp.port, ports);
  const cur = u.mask & M.CUR_STATE ? u.attr.curState! : qp.state;
  const next = u.mask & M.STATE ? u.attr.state! : cur;
  const why = modifyQpError(cur, next, qp.type, u.mask);
  if (why) throw inval(`modify_qp QP ${qp.qpn}: ${why}`);
  return { ...u, cur, next };
}

/**
 * modify_qp's attribute values → QPC fields, refusing a value the kernel or
 * mthca_modify_qp refuses (EINVAL), in bare metal's order. Pure: it needs the
 * request and the device's limits only; `partition` is dom0's check of a
 * P_Key index against the guest's partitions (Xen-IB), run where bare metal's
 * kernel would look the index up. The remote rights (which need the QP's
 * attributes as last set) are not computed here. A guest's kernel makes the
 * same checks before its `MODIFY_QP` request is built.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkModifyQpValues } from "./ucontext.ts";
 * import { QpAttrMask as M } from "../uapi/enums.ts";
 * const lim = { ports: 2, maxPkeys: 64, maxMtu: 4, maxRdAtomic: 4, maxDestRdAtomic: 4 };
 * assert.equal(checkModifyQpValues({ pathMtu: 2048 }, M.PATH_MTU, lim).mtu, 4);
 * assert.throws(
 *   () => checkModifyQpValues({ pathMtu: 99999 }, M.PATH_MTU, lim),
 *   /EINVAL: modify_qp: pathMtu 99999 is not a supported MTU \(max 2048\)/,
 * );
 * ```
 */
export function checkModifyQpValues(
  a: QpAttr,
  mask: number,
  lim: ModifyQpLimits,
  partition?: (pkeyIndex: number) => void,
): Partial<QpContextParams> {
  const ctx: Partial<QpContextParams> = {};
  // The ports were checked as uverbs checks them (uverbsModifyQp).
  if (mask & M.PORT) ctx.port = a.port;
  if (mask & M.PKEY_INDEX) {
    // mthca_modify_qp: `attr->pkey_index >= dev->limits.pkey_table_len` → -EINVAL.
    const i = a.pkeyIndex;
    if (typeof i !== "number" || !Number.isInteger(i) || i < 0 || i >= lim.maxPkeys) {
      throw inval(
        `modify_qp: pkeyIndex ${
          String(i)
        } is outside the port's P_Key table (${lim.maxPkeys} entries)`,
      );
    }
    partition?.(i);
    ctx.pkeyIndex = i;
  }
  if (mask & M.QKEY) ctx.qkey = checkInt("modify_qp", "qkey", a.qkey, 0, 0xffffffff);
  // qp_access_flags is a __u32 (struct ib_uverbs_qp_attr) that neither the core nor the driver
  // checks: mthca's get_hw_access_flags (as mlx4's and mlx5's) takes the remote rights from it
  // and ignores every other bit.
  if (mask & M.ACCESS_FLAGS) checkInt("modify_qp", "accessFlags", a.accessFlags, 0, 0xffffffff);
  // path_mig_state is a __u8 the device here does not use (no automatic path migration).
  if (mask & M.PATH_MIG_STATE) {
    checkInt("modify_qp", "pathMigState", a.pathMigState, 0, 0xff);
  }
  if (mask & M.AV) ctx.path = checkAhAttr("modify_qp", a.ah!);
  if (mask & M.PATH_MTU) {
    const v = a.pathMtu!;
    const code = typeof v !== "number" ? undefined : v >= 1 && v <= 5 ? v : mtuFromBytes(v);
    if (code === undefined || code > lim.maxMtu) {
      const got = typeof v === "number" ? v : JSON.stringify(v);
      throw inval(
        `modify_qp: pathMtu ${got} is not a supported MTU (max ${256 << (lim.maxMtu - 1)})`,
      );
    }
    ctx.mtu = code;
  }
  if (mask & M.TIMEOUT) ctx.timeout = checkInt("modify_qp", "timeout", a.timeout, 0, 31);
  if (mask & M.RETRY_CNT) ctx.retryCnt = checkInt("modify_qp", "retryCnt", a.retryCnt, 0, 7);
  if (mask & M.RNR_RETRY) ctx.rnrRetry = checkInt("modify_qp", "rnrRetry", a.rnrRetry, 0, 7);
  // PSNs are 24 bits (IBTA vol 1 §9.7.1), given in a `__u32`: _ib_modify_qp (core/verbs.c)
  // masks a PSN past 24 bits to its low 24 ("rq_psn overflow, masking to 24 bits"), it does
  // not refuse it. A value no `__u32` holds could not have been passed: EINVAL.
  if (mask & M.RQ_PSN) ctx.rqPsn = psn24("rqPsn", a.rqPsn);
  if (mask & M.SQ_PSN) ctx.sqPsn = psn24("sqPsn", a.sqPsn);
  if (mask & M.MAX_QP_RD_ATOMIC) {
    ctx.maxRdAtomic = checkInt("modify_qp", "maxRdAtomic", a.maxRdAtomic, 0, lim.maxRdAtomic);
  }
  if (mask & M.MAX_DEST_RD_ATOMIC) {
    ctx.maxDestRdAtomic = checkInt(
      "modify_qp",
      "maxDestRdAtomic",
      a.maxDestRdAtomic,
      0,
      lim.maxDestRdAtomic,
    );
  }
  if (mask & M.MIN_RNR_TIMER) {
    ctx.minRnrTimer = checkInt("modify_qp", "minRnrTimer", a.minRnrTimer, 0, 31);
  }
  if (mask & M.DEST_QPN) {
    ctx.destQpn = checkInt("modify_qp", "destQpNum", a.destQpNum, 0, 0xffffff);
  }
  if (mask & M.EN_SQD_ASYNC_NOTIFY) ctx.sqdEvent = !!a.enSqdAsyncNotify;
  if (mask & M.ALT_PATH) checkAhAttr("modify_qp", a.altPath!); // validated, not used by the device
  if (mask & M.CAP) throw inval("modify_qp: resizing a QP (cap) is not supported");
  return ctx;
}

/** A PSN given to modify_qp: a `__u32`, masked to the 24 bits a PSN has (`_ib_modify_qp`). */
function psn24(name: string, v: unknown): number {
  return checkInt("modify_qp", name, v, 0, 0xffffffff) & 0xffffff;
}

/** An index into a port's table of `len` entries (EINVAL beyond, naming the table's length). */
function tableIndex(call: string, index: unknown, len: number, what: string): number {
  if (typeof index !== "number" || !Number.isInteger(index) || index < 0 || index >= len) {
    const got = typeof index === "string" ? JSON.stringify(index) : String(index);
    throw inval(
      `${call}: index ${got} is outside the port's ${what} table (${len} ${
        len === 1 ? "entry" : "entries"
      })`,
    );
  }
  return index;
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
      type: subtype === 4 ? EventType.PORT_ACTIVE : EventType.PORT_ERR,
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

  #path(call: string, ah: AhAttr): PathParams {
    return checkAhAttr(call, ah);
  }

  /** Attribute values → QPC fields, refusing out-of-range values (EINVAL). */
  #context(a: QpAttr, mask: number, set: QpAttr): Partial<QpContextParams> {
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
      // no RDMA READ or atomic: only REMOTE_WRITE of its rights stays.
      let f = mask & M.ACCESS_FLAGS ? a.accessFlags! : set.accessFlags ?? 0;
      const depth = mask & M.MAX_DEST_RD_ATOMIC ? a.maxDestRdAtomic! : set.maxDestRdAtomic ?? 0;
      if (depth === 0) f &= Access.REMOTE_WRITE;
      ctx.accessFlags = toQpAccess(f);
    }
    return ctx;
  }

  async modifyQp(req: ModifyQpReq): Promise<void> {
    await this.#in();
    const qp = this.#get(this.#qps, req.qpHandle, "QP");
    const { attr: a, mask, cur, next } = checkModifyQp(
      req.attr,
      req.mask,
      { qpn: qp.qpn, type: qp.type, state: qp.state, port: qp.attr.port },
      this.driver.devLim.ports,
    );
    const ctx = this.#context(a, mask, qp.attr);
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
    if (next === S.RESET) qp.attr = {};
    else {
      const { state: _s, curState: _c, sqDraining: _d, ...rest } = a;
      // The PSNs as the QP took them (masked to 24 bits), not as they were given.
      if (ctx.rqPsn !== undefined) rest.rqPsn = ctx.rqPsn;
      if (ctx.sqPsn !== undefined) rest.sqPsn = ctx.sqPsn;
      Object.assign(qp.attr, structuredClone(rest));
    }
  }

  async queryQp(qpHandle: number): Promise<QueryQpResp> {
    await this.#in();
    const qp = this.#get(this.#qps, qpHandle, "QP");
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
    };
    if (qp.type === QpType.UD) attr.qkey = q.qkey;
    // The PSNs as the QP holds them now, not as they were set: the next PSN the
    // responder expects and the next the requester sends (mthca_query_qp reads
    // rnr_nextrecvpsn and next_send_psn from the QP context).
    if (state >= S.RTR && qp.type !== QpType.UD) {
      attr.destQpNum = q.destQpn;
      attr.pathMtu = q.mtu;
      attr.rqPsn = q.expectedPsn;
    }
    if (state >= S.RTS) attr.sqPsn = q.nextPsn;
    // mthca_query_qp: sq_draining is the QPC's DRAINING state, false in every other.
    attr.sqDraining = q.sqDraining;
    return { attr, cap: { ...qp.cap }, sqWqeCounter: q.sqConsumer };
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
    // rdma_fill_sgid_attr: an sgid_index within the port's GID table, else EINVAL).
    this.#path("create_ah", req.attr);
    if (req.attr.portNum !== undefined) {
      checkInt("create_ah", "ah.portNum", req.attr.portNum, 1, this.driver.devLim.ports);
    }
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
