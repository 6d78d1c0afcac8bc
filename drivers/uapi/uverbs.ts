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
 * import type { UverbsDevice } from "./uverbs.ts";
 * async function first(devs: UverbsDevice[]) {
 *   const file = await devs[0].open();
 *   return file.uarAddr;
 * }
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
 * import type { OpenFileOptions } from "./uverbs.ts";
 * const o: OpenFileOptions = { regCache: false }; // measure registration without the cache
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
 * import type { AllocPdResp } from "./uverbs.ts";
 * const r: AllocPdResp = { pdHandle: 1, pdn: 5 };
 * ```
 */
export interface AllocPdResp {
  pdHandle: number;
  /** Protection domain number as the device knows it. */
  pdn: number;
}

/**
 * `reg_mr` request.
 *
 * @example
 * ```ts
 * import type { RegMrReq } from "./uverbs.ts";
 * const r: RegMrReq = { pdHandle: 1, addr: 0x10000, length: 4096, access: 1 };
 * ```
 */
export interface RegMrReq {
  pdHandle: number;
  /** Start address in the caller's space. */
  addr: number;
  length: number;
  /** `Access` bits. */
  access: number;
}

/**
 * `reg_mr` response.
 *
 * @example
 * ```ts
 * import type { RegMrResp } from "./uverbs.ts";
 * const r: RegMrResp = { mrHandle: 2, lkey: 0x100, rkey: 0x100 };
 * ```
 */
export interface RegMrResp {
  mrHandle: number;
  lkey: number;
  rkey: number;
}

/**
 * `create_cq` request: the library allocated the CQ buffer (`1 << logSize`
 * entries of the device's CQE size, zeroed) in the caller's memory.
 *
 * @example
 * ```ts
 * import type { CreateCqReq } from "./uverbs.ts";
 * const r: CreateCqReq = { cqe: 255, logSize: 8, bufAddr: 0x20000, bufBytes: 8192, compVector: 0 };
 * ```
 */
export interface CreateCqReq {
  /** Entries the application asked for. */
  cqe: number;
  /** log2 of the entries in the buffer (the library rounds `cqe + 1` up). */
  logSize: number;
  /** Buffer address (page-aligned) and its length in bytes. */
  bufAddr: number;
  bufBytes: number;
  /** Completion vector (EQ) index; 0 on a single-vector device. */
  compVector: number;
}

/**
 * `create_cq` response.
 *
 * @example
 * ```ts
 * import type { CreateCqResp } from "./uverbs.ts";
 * const r: CreateCqResp = { cqHandle: 3, cqn: 1, cqe: 255 };
 * ```
 */
export interface CreateCqResp {
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
 * import type { ResizeCqReq } from "./uverbs.ts";
 * const r: ResizeCqReq = { cqHandle: 3, cqe: 511, logSize: 9, bufAddr: 0x30000, bufBytes: 16384, consumerIndex: 7 };
 * ```
 */
export interface ResizeCqReq {
  cqHandle: number;
  cqe: number;
  logSize: number;
  bufAddr: number;
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
 * import { qpLayout } from "./wq_layout.ts";
 * const l = qpLayout(2, { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 }, false);
 * ```
 */
export interface WqLayout {
  /** Buffer address (page-aligned) and length. */
  bufAddr: number;
  bufBytes: number;
  /** Byte offset of SQ entry 0; entries (power of two) and stride in bytes. */
  sqOffset: number;
  sqSize: number;
  sqStride: number;
  /** Same for the RQ; `rqSize` 0 when the QP uses an SRQ. */
  rqOffset: number;
  rqSize: number;
  rqStride: number;
}

/**
 * `create_qp` request.
 *
 * @example
 * ```ts
 * import type { CreateQpReq } from "./uverbs.ts";
 * const type = (r: CreateQpReq) => r.type;
 * ```
 */
export interface CreateQpReq {
  pdHandle: number;
  /** `QpType`. */
  type: number;
  sendCqHandle: number;
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
 * import type { CreateQpResp } from "./uverbs.ts";
 * const qpn = (r: CreateQpResp) => r.qpn;
 * ```
 */
export interface CreateQpResp {
  qpHandle: number;
  qpn: number;
  /** Capacities granted (at least those asked for; every one reported, inline data too). */
  cap: Required<QpCap>;
}

/**
 * `modify_qp` request: attributes and the mask saying which are set.
 *
 * @example
 * ```ts
 * import type { ModifyQpReq } from "./uverbs.ts";
 * const r: ModifyQpReq = { qpHandle: 4, attr: { state: 1, port: 1, pkeyIndex: 0, accessFlags: 0 }, mask: 0x39 };
 * ```
 */
export interface ModifyQpReq {
  qpHandle: number;
  attr: QpAttr;
  /** `QpAttrMask` bits. */
  mask: number;
}

/**
 * `query_qp` response.
 *
 * @example
 * ```ts
 * import type { QueryQpResp } from "./uverbs.ts";
 * const state = (r: QueryQpResp) => r.attr.state;
 * ```
 */
export interface QueryQpResp {
  attr: QpAttr & { state: number };
  cap: Required<QpCap>;
}

/**
 * `create_srq` request: the library allocated the SRQ ring.
 *
 * @example
 * ```ts
 * import type { CreateSrqReq } from "./uverbs.ts";
 * const r: CreateSrqReq = { pdHandle: 1, maxWr: 64, maxSge: 1, srqLimit: 0, bufAddr: 0x40000, bufBytes: 4096, logSize: 6, logStride: 4 };
 * ```
 */
export interface CreateSrqReq {
  pdHandle: number;
  maxWr: number;
  maxSge: number;
  srqLimit: number;
  bufAddr: number;
  bufBytes: number;
  /** log2 entries and log2 stride in bytes. */
  logSize: number;
  logStride: number;
}

/**
 * `create_srq` response.
 *
 * @example
 * ```ts
 * import type { CreateSrqResp } from "./uverbs.ts";
 * const srqn = (r: CreateSrqResp) => r.srqn;
 * ```
 */
export interface CreateSrqResp {
  srqHandle: number;
  srqn: number;
  maxWr: number;
  maxSge: number;
}

/**
 * `modify_srq` request (`IBV_SRQ_LIMIT` is the only attribute the model changes).
 *
 * @example
 * ```ts
 * import type { ModifySrqReq } from "./uverbs.ts";
 * const r: ModifySrqReq = { srqHandle: 5, srqLimit: 16 };
 * ```
 */
export interface ModifySrqReq {
  srqHandle: number;
  /** Arm the limit event: fires once when fewer WQEs remain. */
  srqLimit?: number;
  /** Resize (not supported: EINVAL, as mthca). */
  maxWr?: number;
}

/**
 * `create_ah` response.
 *
 * @example
 * ```ts
 * import type { CreateAhResp } from "./uverbs.ts";
 * const r: CreateAhResp = { ahHandle: 6 };
 * ```
 */
export interface CreateAhResp {
  ahHandle: number;
}

/**
 * Callbacks the kernel side calls when events arrive for this file.
 *
 * @example
 * ```ts
 * import type { UverbsEventHandlers } from "./uverbs.ts";
 * const h: UverbsEventHandlers = { onCompEvent: (cq) => console.log(cq), onAsyncEvent: (e) => console.log(e.type) };
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
 * import type { UverbsFile } from "./uverbs.ts";
 * async function pdAndMr(f: UverbsFile, addr: number) {
 *   const { pdHandle } = await f.allocPd();
 *   return await f.regMr({ pdHandle, addr, length: 4096, access: 1 });
 * }
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

  queryDevice(): Promise<DeviceAttr>;
  queryPort(portNum: number): Promise<PortAttr>;

  allocPd(): Promise<AllocPdResp>;
  /** EBUSY while MRs, QPs, SRQs or AHs use it. */
  deallocPd(pdHandle: number): Promise<void>;

  regMr(req: RegMrReq): Promise<RegMrResp>;
  deregMr(mrHandle: number): Promise<void>;

  createCq(req: CreateCqReq): Promise<CreateCqResp>;
  resizeCq(req: ResizeCqReq): Promise<{ cqe: number }>;
  /** EBUSY while a QP uses it. */
  destroyCq(cqHandle: number): Promise<void>;

  createQp(req: CreateQpReq): Promise<CreateQpResp>;
  /** EINVAL (QP unchanged) for an illegal transition or a missing/forbidden attribute. */
  modifyQp(req: ModifyQpReq): Promise<void>;
  queryQp(qpHandle: number): Promise<QueryQpResp>;
  destroyQp(qpHandle: number): Promise<void>;

  createSrq(req: CreateSrqReq): Promise<CreateSrqResp>;
  modifySrq(req: ModifySrqReq): Promise<void>;
  /** EBUSY while a QP uses it. */
  destroySrq(srqHandle: number): Promise<void>;

  createAh(req: { pdHandle: number; attr: AhAttr }): Promise<CreateAhResp>;
  destroyAh(ahHandle: number): Promise<void>;

  /** Release every object of this context (in dependency order), the UAR and its mapping. */
  close(): Promise<void>;
}
