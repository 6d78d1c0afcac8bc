/**
 * The kernel ABI of the verbs stack: what the user-level library asks the
 * kernel for, for every control operation (Linux `ib_uverbs` commands). The
 * fast path — WQEs, doorbells, CQEs — never goes through here; it is the
 * user-level provider's (`provider.ts`) business with the device.
 *
 * Two implementations:
 * - native (`drivers/native/uverbs_native.ts`): a system call into the HCA
 *   driver on the same OS;
 * - a Xen guest's frontend: the same calls marshalled into a shared ring and
 *   served by dom0's backend, which calls the native driver.
 *
 * So that a frontend can forward every call as a fixed-size message, the
 * interface is plain data in and out: numbers (handles are small integers
 * that resolve only in this open file's own table), strings, booleans,
 * bigints, `Uint8Array`s and plain objects of those. No call takes or returns
 * a JS object with behaviour, except the two event callbacks registered with
 * {@link UverbsFile.setEventHandlers}. The fast path is not the kernel's to
 * hand over: the user-level library picks the provider for a device from
 * the identity the device exposes ({@link DeviceIdentity}, what sysfs shows
 * libibverbs), as `ibv_get_device_list` matches drivers.
 *
 * Addresses (`bufAddr`, `addr`) are in the caller's address space — for a
 * guest, its pseudo-physical space; the implementation is responsible for
 * translating (native: the process page table; Xen: grants). Errors reject
 * with `VerbsError` carrying the errno the Linux kernel would return.
 *
 * Costs: each call is one kernel crossing; the implementation charges it
 * (native: `cpu.syscallNs + cpu.kernelVerbsNs`, then the device commands).
 *
 * @module
 */
import type { AhAttr, AsyncEvent, DeviceAttr, PortAttr, QpAttr, QpCap } from "./types.ts";

/**
 * What a device tells the user-level library about itself before it is
 * opened, as sysfs tells libibverbs (`/sys/class/infiniband/<dev>/device/`):
 * the kernel driver that registered it and, for a device that is a PCI
 * function the process reaches directly, that function's vendor and device
 * ids. libibverbs matches these against each provider's table
 * (`verbs_match_ent`: `VERBS_PCI_MATCH`, `VERBS_NAME_MATCH`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DeviceIdentity } from "./uverbs.ts";
 * const tavor: DeviceIdentity = { driver: "mthca", pciVendor: 0x15b3, pciDevice: 0x5a44 };
 * assert.equal(tavor.pciDevice, 23108); // MT23108, what ibv_devinfo shows as vendor_part_id
 * ```
 */
export interface DeviceIdentity {
  /** Name of the kernel driver's device type (rdma-core's driver id: "mthca", "vib", …). */
  readonly driver: string;
  /** PCI vendor id of the function the fast path reaches (sysfs `device/vendor`), if any. */
  readonly pciVendor?: number;
  /** PCI device id of that function (sysfs `device/device`), if any. */
  readonly pciDevice?: number;
}

/**
 * A device node a domain can open (`/dev/infiniband/uverbs0`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, type NativePlatform } from "../../mod.ts";
 * import { NativeUverbsDevice } from "../native/uverbs_native.ts";
 * import type { UverbsDevice } from "./uverbs.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * const { driver } = host.platform as NativePlatform;
 * const dev: UverbsDevice = new NativeUverbsDevice(driver, host.os.space);
 * await cluster.run(async () => {
 *   const file = await dev.open(); // a user context with its own UAR page
 *   assert.equal(file.deviceName, "mthca0");
 *   assert.equal(dev.identity.driver, "mthca");
 *   await file.close();
 * });
 * ```
 */
export interface UverbsDevice {
  /** Device name as `ibv_get_device_list` shows it (`"mthca0"`). */
  readonly name: string;
  /** What the library matches its providers against. */
  readonly identity: DeviceIdentity;
  /** Open the device and allocate a user context (`IB_USER_VERBS_CMD_GET_CONTEXT`). */
  open(opts?: OpenFileOptions): Promise<UverbsFile>;
}

/**
 * How a context is opened.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import { VibFrontFile } from "../front/file.ts";
 * import type { OpenFileOptions } from "./uverbs.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "x0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass" });
 * const o: OpenFileOptions = { regCache: false }; // measure registration without the cache
 * await cluster.run(async () => {
 *   const { file } = await vm.openDevice(undefined, o);
 *   assert.ok(file instanceof VibFrontFile);
 *   assert.equal(file.regCache, false); // each regMr grants and maps its pages anew
 * });
 * ```
 */
export interface OpenFileOptions {
  /**
   * Registration cache of a kernel that has one below the ABI (a guest's
   * frontend: dom0 keeps the grant mappings of deregistered regions; keys are
   * invalidated at once either way). Kernels without one ignore it.
   */
  regCache?: boolean;
}

/**
 * Result of allocating a PD.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import type { AllocPdResp } from "./uverbs.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const r: AllocPdResp = await (await host.os.openDevice()).file.allocPd();
 *   assert.notEqual(r.pdn, 0); // PD 0 is the driver's own
 * });
 * ```
 */
export interface AllocPdResp {
  /** The PD's handle in this context. */
  pdHandle: number;
  /** Protection domain number as the device knows it. */
  pdn: number;
}

/**
 * `reg_mr` request.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Access } from "./enums.ts";
 * import type { RegMrReq } from "./uverbs.ts";
 * const r: RegMrReq = { pdHandle: 1, addr: 0x10000, length: 4096, access: Access.LOCAL_WRITE };
 * assert.equal(r.access & Access.REMOTE_WRITE, 0); // peers cannot write it
 * ```
 */
export interface RegMrReq {
  /** The PD the region belongs to. */
  pdHandle: number;
  /** Start address in the caller's space. */
  addr: number;
  /** Bytes to register. */
  length: number;
  /** `Access` bits. */
  access: number;
}

/**
 * `reg_mr` response.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Access, Cluster } from "../../mod.ts";
 * import type { RegMrResp } from "./uverbs.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const file = (await host.os.openDevice()).file;
 *   const { pdHandle } = await file.allocPd();
 *   const addr = host.os.memory.alloc(4096, 4096);
 *   const r: RegMrResp = await file.regMr({ pdHandle, addr, length: 4096, access: Access.LOCAL_WRITE });
 *   assert.equal(r.lkey, r.rkey); // mthca gives a region one key for both
 * });
 * ```
 */
export interface RegMrResp {
  /** The MR's handle in this context. */
  mrHandle: number;
  /** Local key (SGEs). */
  lkey: number;
  /** Remote key (RDMA and atomics from a peer). */
  rkey: number;
}

/**
 * `create_cq` request: the library allocated the CQ buffer (`1 << logSize`
 * entries of the device's CQE size, zeroed) in the caller's memory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CreateCqReq } from "./uverbs.ts";
 * import { cqLayout } from "./wq_layout.ts";
 * const { logSize, bytes } = cqLayout(255);
 * const r: CreateCqReq = { cqe: 255, logSize, bufAddr: 0x20000, bufBytes: bytes, compVector: 0 };
 * assert.deepEqual([r.logSize, r.bufBytes], [8, 8192]); // 256 CQEs of 32 B
 * ```
 */
export interface CreateCqReq {
  /** Entries the application asked for. */
  cqe: number;
  /** log2 of the entries in the buffer (the library rounds `cqe + 1` up). */
  logSize: number;
  /** Buffer address (page-aligned) and its length in bytes. */
  bufAddr: number;
  /** Its length in bytes. */
  bufBytes: number;
  /** Completion vector (EQ) index; 0 on a single-vector device. */
  compVector: number;
}

/**
 * `create_cq` response.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CreateCqResp } from "./uverbs.ts";
 * const logSize = 8;
 * const r: CreateCqResp = { cqHandle: 3, cqn: 1, cqe: (1 << logSize) - 1 };
 * assert.equal(r.cqe, 255); // one entry of the ring stays spare
 * ```
 */
export interface CreateCqResp {
  /** The CQ's handle in this context. */
  cqHandle: number;
  /** CQ number: the CQEs' owner and the CQ doorbell's argument. */
  cqn: number;
  /** Usable entries (`(1 << logSize) - 1`, as mthca reports). */
  cqe: number;
}

/**
 * `resize_cq` request: a new buffer; the kernel copies unpolled CQEs into it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ResizeCqReq } from "./uverbs.ts";
 * import { cqLayout } from "./wq_layout.ts";
 * const { logSize, bytes } = cqLayout(511);
 * const r: ResizeCqReq = { cqHandle: 3, cqe: 511, logSize, bufAddr: 0x30000, bufBytes: bytes, consumerIndex: 7 };
 * assert.deepEqual([r.logSize, r.bufBytes], [9, 16384]);
 * ```
 */
export interface ResizeCqReq {
  /** The CQ to resize. */
  cqHandle: number;
  /** Entries asked for. */
  cqe: number;
  /** log2 of the entries in the new buffer. */
  logSize: number;
  /** The new buffer's address (page-aligned). */
  bufAddr: number;
  /** Its length in bytes. */
  bufBytes: number;
  /** The library's consumer index at the time of the call. */
  consumerIndex: number;
}

/**
 * Layout of a QP's work queue buffer, decided by the user library: one
 * buffer holding the RQ and the SQ, each a ring of fixed-stride entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { WqLayout } from "./uverbs.ts";
 * import { qpLayout } from "./wq_layout.ts";
 * const l: WqLayout = qpLayout(2, { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 }, false);
 * assert.equal(l.rqOffset, 0); // the RQ first,
 * assert.equal(l.sqOffset, l.rqSize * l.rqStride); // then the SQ
 * ```
 */
export interface WqLayout {
  /** Buffer address (page-aligned) and length. */
  bufAddr: number;
  /** Its length in bytes. */
  bufBytes: number;
  /** Byte offset of SQ entry 0; entries (power of two) and stride in bytes. */
  sqOffset: number;
  /** SQ entries (a power of two). */
  sqSize: number;
  /** Bytes per SQ entry. */
  sqStride: number;
  /** Same for the RQ; `rqSize` 0 when the QP uses an SRQ. */
  rqOffset: number;
  /** RQ entries (0 with an SRQ). */
  rqSize: number;
  /** Bytes per RQ entry. */
  rqStride: number;
}

/**
 * `create_qp` request.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QpType } from "./enums.ts";
 * import type { CreateQpReq } from "./uverbs.ts";
 * import { qpLayout } from "./wq_layout.ts";
 * const cap = { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 };
 * const r: CreateQpReq = {
 *   pdHandle: 1, type: QpType.RC, sendCqHandle: 3, recvCqHandle: 3, sqSigAll: false, cap,
 *   wq: { ...qpLayout(QpType.RC, cap, false), bufAddr: 0x40000 },
 * };
 * assert.equal(r.wq.bufBytes, 4096);
 * ```
 */
export interface CreateQpReq {
  /** The PD the QP belongs to. */
  pdHandle: number;
  /** `QpType`. */
  type: number;
  /** The CQ of send completions. */
  sendCqHandle: number;
  /** The CQ of receive completions. */
  recvCqHandle: number;
  /** SRQ handle, or absent. */
  srqHandle?: number;
  /** Signal every send WR. */
  sqSigAll: boolean;
  /** Requested capacities. */
  cap: QpCap;
  /** Where the queues live. */
  wq: WqLayout;
}

/**
 * `create_qp` response.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CreateQpResp } from "./uverbs.ts";
 * const r: CreateQpResp = {
 *   qpHandle: 4, qpn: 0x48,
 *   cap: { maxSendWr: 16, maxRecvWr: 16, maxSendSge: 1, maxRecvSge: 1, maxInlineData: 28 },
 * };
 * assert.ok(r.cap.maxSendWr >= 10); // at least what was asked for
 * ```
 */
export interface CreateQpResp {
  /** The QP's handle in this context. */
  qpHandle: number;
  /** The QP number. */
  qpn: number;
  /** Capacities granted (at least those asked for; every one reported, inline data too). */
  cap: Required<QpCap>;
}

/**
 * `modify_qp` request: attributes and the mask saying which are set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { attrMask } from "./qp_state.ts";
 * import type { QpAttr } from "./types.ts";
 * import type { ModifyQpReq } from "./uverbs.ts";
 * const attr: QpAttr = { state: 1, port: 1, pkeyIndex: 0, accessFlags: 0 };
 * const r: ModifyQpReq = { qpHandle: 4, attr, mask: attrMask({ ...attr }).mask };
 * assert.equal(r.mask, 0x39); // STATE | ACCESS_FLAGS | PKEY_INDEX | PORT
 * ```
 */
export interface ModifyQpReq {
  /** The QP to modify. */
  qpHandle: number;
  /** The attributes, by name (those the mask names are set). */
  attr: QpAttr;
  /** `QpAttrMask` bits. */
  mask: number;
}

/**
 * `query_qp` response.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stateName } from "./qp_state.ts";
 * import type { QueryQpResp } from "./uverbs.ts";
 * const r: QueryQpResp = {
 *   attr: { state: 3, pathMtu: 4 },
 *   cap: { maxSendWr: 16, maxRecvWr: 16, maxSendSge: 1, maxRecvSge: 1, maxInlineData: 0 },
 * };
 * assert.equal(stateName(r.attr.state), "RTS");
 * ```
 */
export interface QueryQpResp {
  /** The attributes set, with the state as the device holds it. */
  attr: QpAttr & { state: number };
  /** The capacities granted. */
  cap: Required<QpCap>;
  /**
   * The QP context's send-queue WQE counter (free-running, as the library
   * counts its posts): the oldest send WQE the device has not completed.
   * Not part of `ibv_query_qp`; the Nomad layer reads it once a drain
   * (RTS → SQD, SQ_DRAINED) is over, to find the WQEs the device never
   * started (IBTA §10.3.1: SQD completes the messages in progress and
   * begins no new one), which a move must post again. Absent in RESET.
   */
  sqWqeCounter?: number;
}

/**
 * `create_srq` request: the library allocated the SRQ ring.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CreateSrqReq } from "./uverbs.ts";
 * import { srqLayout } from "./wq_layout.ts";
 * const { logSize, logStride, bytes } = srqLayout(64, 1);
 * const r: CreateSrqReq = { pdHandle: 1, maxWr: 64, maxSge: 1, srqLimit: 0, bufAddr: 0x40000, bufBytes: bytes, logSize, logStride };
 * assert.deepEqual([r.logSize, r.logStride, r.bufBytes], [6, 4, 4096]);
 * ```
 */
export interface CreateSrqReq {
  /** The PD the SRQ belongs to. */
  pdHandle: number;
  /** Most WQEs outstanding, asked for. */
  maxWr: number;
  /** Most SGEs per WQE. */
  maxSge: number;
  /** Limit event threshold (not armed at creation). */
  srqLimit: number;
  /** The ring's address (page-aligned). */
  bufAddr: number;
  /** Its length in bytes. */
  bufBytes: number;
  /** log2 entries and log2 stride in bytes. */
  logSize: number;
  /** log2 of the bytes per WQE. */
  logStride: number;
}

/**
 * `create_srq` response.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CreateSrqResp } from "./uverbs.ts";
 * const r: CreateSrqResp = { srqHandle: 5, srqn: 1, maxWr: 64, maxSge: 1 };
 * assert.ok(r.maxWr >= 50); // granted at least what was asked for
 * ```
 */
export interface CreateSrqResp {
  /** The SRQ's handle in this context. */
  srqHandle: number;
  /** The device's SRQ number. */
  srqn: number;
  /** Most WQEs outstanding, granted. */
  maxWr: number;
  /** Most SGEs per WQE, granted. */
  maxSge: number;
}

/**
 * `modify_srq` request (`IBV_SRQ_LIMIT` is the only attribute the model changes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ModifySrqReq } from "./uverbs.ts";
 * const arm: ModifySrqReq = { srqHandle: 5, srqLimit: 16 }; // SRQ_LIMIT_REACHED below 16 WQEs
 * assert.equal(arm.maxWr, undefined); // no resize
 * ```
 */
export interface ModifySrqReq {
  /** The SRQ to modify. */
  srqHandle: number;
  /** Arm the limit event: fires once when fewer WQEs remain. */
  srqLimit?: number;
  /** Resize (not supported: EINVAL, as mthca). */
  maxWr?: number;
}

/**
 * `query_srq` response (struct ib_uverbs_query_srq_resp): the SRQ's size as
 * the kernel holds it and its limit as the device holds it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { QuerySrqResp } from "./uverbs.ts";
 * const fired: QuerySrqResp = { maxWr: 64, maxSge: 1, srqLimit: 0 };
 * assert.equal(fired.srqLimit, 0); // not (or no longer) armed: no event until modify arms it
 * ```
 */
export interface QuerySrqResp {
  /** Most WQEs outstanding, as the kernel recorded it. */
  maxWr: number;
  /** Most SGEs per WQE. */
  maxSge: number;
  /** The armed limit; 0 when disarmed (never armed, or the limit event fired). */
  srqLimit: number;
}

/**
 * `create_ah` response.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CreateAhResp } from "./uverbs.ts";
 * const r: CreateAhResp = { ahHandle: 6 };
 * assert.equal(typeof r.ahHandle, "number"); // a handle in this file's table, not a pointer
 * ```
 */
export interface CreateAhResp {
  /** The AH's handle in this context. */
  ahHandle: number;
}

/**
 * `attach_mcast` / `detach_mcast` request (struct ib_uverbs_attach_mcast).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { McastReq } from "./uverbs.ts";
 * const gid = new Uint8Array(16);
 * gid[0] = 0xff; // a multicast GID
 * const r: McastReq = { qpHandle: 3, gid, mlid: 0xc000 };
 * assert.equal(r.gid[0], 0xff);
 * ```
 */
export interface McastReq {
  /** The UD QP to attach or detach. */
  qpHandle: number;
  /** The MGID (16 bytes). */
  gid: Uint8Array;
  /** The group's MLID. */
  mlid: number;
}

/**
 * Callbacks the kernel side calls when events arrive for this file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventType } from "./enums.ts";
 * import type { UverbsEventHandlers } from "./uverbs.ts";
 * const seen: string[] = [];
 * const h: UverbsEventHandlers = {
 *   onCompEvent: (cq) => void seen.push(`comp ${cq}`),
 *   onAsyncEvent: (e) => void seen.push(`async ${e.type}`),
 * };
 * h.onCompEvent(3); // what the kernel side does when CQ handle 3 fires
 * h.onAsyncEvent({ type: EventType.SRQ_LIMIT_REACHED, srqHandle: 5 });
 * assert.deepEqual(seen, ["comp 3", "async 15"]);
 * ```
 */
export interface UverbsEventHandlers {
  /** A completion event for a CQ armed with `reqNotify` (the CQ's handle). */
  onCompEvent(cqHandle: number): void;
  /** An asynchronous event. */
  onAsyncEvent(ev: AsyncEvent): void;
}

/**
 * One open device file with its user context. Every method is one system
 * call (or, in a guest, one request on the ring).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Access, Cluster } from "../../mod.ts";
 * import type { UverbsFile } from "./uverbs.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const f: UverbsFile = (await host.os.openDevice(undefined, { regCache: false })).file;
 *   const { pdHandle } = await f.allocPd();
 *   const addr = host.os.memory.alloc(4096, 4096);
 *   const mr = await f.regMr({ pdHandle, addr, length: 4096, access: Access.LOCAL_WRITE });
 *   await assert.rejects(f.deallocPd(pdHandle), /EBUSY/); // the MR still uses the PD
 *   await f.deregMr(mr.mrHandle);
 *   await f.deallocPd(pdHandle);
 * });
 * ```
 */
export interface UverbsFile {
  /** Device name. */
  readonly deviceName: string;
  /** UAR page index the device associates with this context's queues. */
  readonly uarIndex: number;
  /** Address of that UAR page in the caller's address space (doorbells are writes there). */
  readonly uarAddr: number;
  /** Number of completion vectors. */
  readonly numCompVectors: number;

  /** Register the event callbacks (replaces earlier ones). */
  setEventHandlers(h: UverbsEventHandlers): void;

  /** `ibv_query_device`. */
  queryDevice(): Promise<DeviceAttr>;
  /** `ibv_query_port` of `portNum` (1-based). */
  queryPort(portNum: number): Promise<PortAttr>;
  /**
   * `ibv_query_gid`: entry `index` of the port's GID table, 16 bytes in network order; EINVAL
   * for a port the device lacks or an index outside the table (`gid_tbl_len`).
   */
  queryGid(portNum: number, index: number): Promise<Uint8Array>;
  /**
   * `ibv_query_pkey`: entry `index` of the port's P_Key table (0 for an empty entry); EINVAL
   * for a port the device lacks or an index outside the table (`pkey_tbl_len`).
   */
  queryPkey(portNum: number, index: number): Promise<number>;

  /** `ibv_alloc_pd`. */
  allocPd(): Promise<AllocPdResp>;
  /** EBUSY while MRs, QPs, SRQs or AHs use it. */
  deallocPd(pdHandle: number): Promise<void>;

  /** `ibv_reg_mr`: pin the pages and write the device's translation. */
  regMr(req: RegMrReq): Promise<RegMrResp>;
  /** `ibv_dereg_mr`: the keys are invalid at once. */
  deregMr(mrHandle: number): Promise<void>;

  /** `ibv_create_cq` on the buffer the library allocated. */
  createCq(req: CreateCqReq): Promise<CreateCqResp>;
  /** `ibv_resize_cq` onto a new buffer; unpolled CQEs are kept. */
  resizeCq(req: ResizeCqReq): Promise<{ cqe: number }>;
  /** EBUSY while a QP uses it. */
  destroyCq(cqHandle: number): Promise<void>;

  /** `ibv_create_qp` on the queue buffer the library allocated. */
  createQp(req: CreateQpReq): Promise<CreateQpResp>;
  /** EINVAL (QP unchanged) for an illegal transition or a missing/forbidden attribute. */
  modifyQp(req: ModifyQpReq): Promise<void>;
  /** `ibv_query_qp`. */
  queryQp(qpHandle: number): Promise<QueryQpResp>;
  /** `ibv_destroy_qp`: its CQEs leave the CQs. */
  destroyQp(qpHandle: number): Promise<void>;

  /** `ibv_create_srq` on the ring the library allocated. */
  createSrq(req: CreateSrqReq): Promise<CreateSrqResp>;
  /** `ibv_modify_srq` (arm the limit). */
  modifySrq(req: ModifySrqReq): Promise<void>;
  /** Read the SRQ's attributes, its limit from the device (mthca_query_srq: QUERY_SRQ). */
  querySrq(srqHandle: number): Promise<QuerySrqResp>;
  /** EBUSY while a QP uses it. */
  destroySrq(srqHandle: number): Promise<void>;

  /** `ibv_create_ah`. */
  createAh(req: { pdHandle: number; attr: AhAttr }): Promise<CreateAhResp>;
  /** `ibv_destroy_ah`. */
  destroyAh(ahHandle: number): Promise<void>;

  /**
   * Attach a UD QP to a multicast group (`ibv_attach_mcast`): EINVAL unless UD, a multicast
   * GID and a multicast LID; attaching again is a success; ENOMEM when the group is full.
   */
  attachMcast(req: McastReq): Promise<void>;
  /** Detach (`ibv_detach_mcast`): EINVAL if this QP is not attached to that group and LID. */
  detachMcast(req: McastReq): Promise<void>;

  /** Release every object of this context (in dependency order), the UAR and its mapping. */
  close(): Promise<void>;
}
