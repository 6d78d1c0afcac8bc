/**
 * An open device file in a guest: the kernel ABI (`UverbsFile`) implemented
 * by forwarding each call over the ring to dom0's backend. Buffers the
 * call names (a memory region, a CQ/QP/SRQ ring the user library
 * allocated in guest memory) are granted page by page first; the grants
 * stay until the object is destroyed, because dom0 keeps them mapped (the
 * device's MTT points at those frames).
 *
 * With the registration cache (`regCache`, on by default) memory regions
 * are registered with persistent grants (`persistent.ts`): deregistering
 * one invalidates its keys at once, as on bare metal, but the grants and
 * dom0's mappings stay for the next registration of the same pages.
 *
 * The UAR page of the context is the one dom0 had the hypervisor map into
 * this guest (bypass mode): `uarAddr` is its guest address, and the
 * unchanged user-level provider rings doorbells there. A provider whose
 * datapath crosses dom0 instead (split mode) reaches the ring through the
 * file's {@link FrontDatapath} hook.
 *
 * @module
 */
import type { AhAttr, DeviceAttr, PortAttr } from "../uapi/types.ts";
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
  OpenFileOptions,
  QueryQpResp,
  QuerySrqResp,
  RegMrReq,
  RegMrResp,
  ResizeCqReq,
  UverbsEventHandlers,
} from "../uapi/uverbs.ts";
import { requestError, VerbsError } from "../uapi/errors.ts";
import {
  abiAhAttr,
  checkAhAttr,
  checkCompVector,
  checkCreateAhAttr,
  checkCreateSrqLimit,
  checkModifyQp,
  checkModifyQpValues,
  checkQpType,
  checkRegMr,
  checkSrqLimit,
  checkSrqResize,
} from "../uapi/kernel_checks.ts";
import { Access, QpAttrMask, QpState } from "../uapi/enums.ts";
import { holdQpMutex, isQpState } from "../uapi/qp_state.ts";
import {
  opName,
  segCapacity,
  VIB_F_PERSISTENT,
  VibOp,
  type VibOpCode,
  type VibReqBody,
  type VibResponse,
  type VibRspBody,
} from "../vib/mod.ts";
import {
  dropIndirect,
  grantBuffer,
  type GrantedBuffer,
  ownPages,
  packRefs,
  ungrant,
} from "./buffers.ts";
import type { PersistentGrant } from "./persistent.ts";
import type { FrontFile, VibFront } from "./vibfront.ts";

/**
 * A refusal about a request's buffer (a page the guest does not own, more pages than a request
 * carries), naming the request and the extent as the native kernel names them.
 */
function bufferError(e: unknown, op: number, addr: number, bytes: number): unknown {
  if (!(e instanceof VerbsError)) return e;
  const why = e.message.slice(e.code.length + 2);
  const at = typeof addr === "number" ? `0x${addr.toString(16)}` : String(addr);
  return new VerbsError(e.code, `${opName(op)}: buffer ${at}+${bytes}: ${why}`);
}
/**
 * The hook a datapath driver plugs into (the split baseline's provider):
 * requests of this context on the ring, sent from a synchronous call
 * without waiting. `submit` publishes the request (or queues it while the
 * ring is full) and says whether the backend must be notified; the caller
 * charges the notification hypercall to its thread and then calls `kick`
 * with the delay until its CPU gets there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { FrontDatapath } from "./file.ts";
 * const sent: number[] = [];
 * const dp: FrontDatapath = { ctx: 1, submit: (op) => (sent.push(op), true), kick: () => {} };
 * if (dp.submit(33, { cqn: 1, consumerIndex: 0 })) dp.kick(0);
 * assert.deepEqual(sent, [33]);
 * ```
 */
export interface FrontDatapath {
  /** The context id the requests carry. */
  readonly ctx: number;
  submit<O extends VibOpCode>(
    op: O,
    body: VibReqBody<O>,
    onResponse?: (r: VibResponse) => void,
  ): boolean;
  kick(delayNs: number): void;
}

/** A QP as the guest's kernel knows it: number, type, state and port as last set or queried. */
interface FrontQp {
  qpn: number;
  type: number;
  state: number;
  port?: number;
  /** Settles when the modify_qp or query_qp running on the QP ends (bare metal's QP mutex). */
  busy?: Promise<void>;
}

/**
 * Run a check of the guest's own kernel that bare metal's kernel makes too
 * (`drivers/native/ucontext.ts`), before request `op` is built: its refusal
 * names the request first, as the same refusal from dom0 would (docs/api.md,
 * Conventions: Errors), so a guest says what bare metal says.
 */
function kernelCheck(op: VibOpCode, check: () => unknown): void {
  try {
    check();
  } catch (e) {
    if (e instanceof VerbsError && e.ownRequest) {
      throw requestError(e.code, `${opName(op)}: ${e.message.slice(e.code.length + 2)}`);
    }
    throw e;
  }
}

/**
 * A guest's open device file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import { VibFrontFile } from "./file.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass", regCache: false });
 * await cluster.run(async () => {
 *   const ctx = await vm.openDevice();
 *   const file = ctx.file;
 *   assert.ok(file instanceof VibFrontFile);
 *   const buf = vm.memory.alloc(3 * 4096, 4096);
 *   const mr = await (await ctx.allocPd()).regMr(buf, 3 * 4096, 1);
 *   assert.equal(file.grantedPages, 3); // one grant per page, kept while dom0 maps them
 *   await mr.dereg();
 *   assert.equal(file.grantedPages, 0); // no registration cache in this guest: ended at once
 * });
 * ```
 */
export class VibFrontFile implements FrontFile {
  readonly deviceName: string;
  readonly ctx: number;
  readonly uarIndex: number;
  readonly uarAddr: number;
  readonly numCompVectors: number;
  /** Where events for this file go (the verbs context installs them). */
  handlers: UverbsEventHandlers = { onCompEvent() {}, onAsyncEvent() {} };
  #front: VibFront;
  #grants = new Map<string, number[]>();
  /** Persistent grants of each live memory region (registration cache on). */
  #regions = new Map<number, PersistentGrant[]>();
  #closed = false;
  /** Memory regions are registered with persistent grants (the registration cache). */
  readonly regCache: boolean;

  /**
   * @param front the device
   * @param r the `OPEN` response
   * @param opts `regCache` (default on): register with persistent grants
   */
  constructor(front: VibFront, r: VibRspBody<typeof VibOp.OPEN>, opts: OpenFileOptions = {}) {
    this.regCache = opts.regCache ?? true;
    this.#front = front;
    this.deviceName = front.name;
    this.ctx = r.ctx;
    this.uarIndex = r.uarIndex;
    this.uarAddr = r.uarAddr;
    this.numCompVectors = r.numCompVectors;
  }

  /** The device this file was opened on. */
  get front(): VibFront {
    return this.#front;
  }

  /** Pages this file keeps granted to dom0 now (its live objects' buffers). */
  get grantedPages(): number {
    let n = 0;
    for (const r of this.#grants.values()) n += r.length;
    for (const r of this.#regions.values()) n += r.length;
    return n;
  }

  setEventHandlers(h: UverbsEventHandlers): void {
    this.handlers = h;
  }

  /** This context's requests from a datapath driver (see {@link FrontDatapath}). */
  get datapath(): FrontDatapath {
    const front = this.#front, ctx = this.ctx;
    return {
      ctx,
      submit: (op, body, onResponse) => front.submitOp(op, ctx, body, onResponse),
      kick: (delayNs) => front.kick(delayNs),
    };
  }

  async #call<O extends VibOpCode>(
    op: O,
    handle: number,
    body: VibReqBody<O>,
    buf?: GrantedBuffer,
  ): Promise<VibRspBody<O>> {
    if (this.#closed) throw new VerbsError("EBADF", `${this.deviceName}: context is closed`);
    return await this.#front.request({
      op,
      flags: buf?.flags ?? 0,
      ctx: this.ctx,
      handle: typeof handle === "number" && Number.isInteger(handle) ? handle >>> 0 : 0xffffffff,
      body,
      segs: buf?.segs ?? [],
    });
  }

  /**
   * Before granting pages for a request: a closed context is EBADF, and a device that is gone
   * (the guest shut down or crashed, dom0 disconnected it) is EIO, as every request to it is,
   * rather than whatever the torn-down grant table would answer.
   */
  #usable(): void {
    if (this.#closed) throw new VerbsError("EBADF", `${this.deviceName}: context is closed`);
    const dead = this.#front.deadReason;
    if (dead) throw new VerbsError("EIO", `${this.deviceName}: device disconnected (${dead})`);
  }

  async #grant(addr: number, bytes: number, readonly: boolean, op: number): Promise<GrantedBuffer> {
    const o = this.#front.o;
    this.#usable();
    try {
      return await grantBuffer(
        o.engine,
        o,
        o.profile.xen.grantEntryNs,
        addr,
        bytes,
        readonly,
        segCapacity(op),
      );
    } catch (e) {
      throw bufferError(e, op, addr, bytes);
    }
  }

  /**
   * Grant a buffer's pages, then send the request `send` builds with them
   * (its body names their count); on failure give the grants back.
   */
  async #withBuffer<R>(
    op: number,
    addr: number,
    bytes: number,
    readonly: boolean,
    send: (g: GrantedBuffer) => Promise<R>,
  ): Promise<{ r: R; refs: number[] }> {
    const o = this.#front.o;
    const g = await this.#grant(addr, bytes, readonly, op);
    try {
      const r = await send(g);
      return { r, refs: g.refs };
    } catch (e) {
      await ungrant(o.engine, o, o.profile.xen.grantEntryNs, g.refs);
      throw e;
    } finally {
      await dropIndirect(o.engine, o, o.profile.xen.grantEntryNs, g);
    }
  }

  async #endGrants(key: string): Promise<void> {
    const refs = this.#grants.get(key);
    if (!refs) return;
    this.#grants.delete(key);
    const o = this.#front.o;
    await ungrant(o.engine, o, o.profile.xen.grantEntryNs, refs);
  }

  /** The device's attributes and each port's MTUCap as dom0 last answered them (modify_qp's limits). */
  #device?: DeviceAttr;
  #portMtu = new Map<number, number>();

  async queryDevice(): Promise<DeviceAttr> {
    const d = await this.#call(VibOp.QUERY_DEVICE, 0, {});
    // sys_image_guid is not on the wire (QUERY_DEVICE's response fills its 128-byte slot): the
    // host's device is a system of one node, whose SystemImageGUID is its node GUID, as the
    // native driver answers it (`NativeUcontext.queryDevice`).
    this.#device = { ...d, sysImageGuid: d.nodeGuid };
    return { ...this.#device };
  }

  async queryPort(portNum: number): Promise<PortAttr> {
    const p = await this.#call(VibOp.QUERY_PORT, 0, { port: portNum });
    this.#portMtu.set(portNum, p.maxMtu);
    return p;
  }

  async queryGid(portNum: number, index: number): Promise<Uint8Array> {
    return (await this.#call(VibOp.QUERY_GID, 0, { port: portNum, index })).gid;
  }

  async queryPkey(portNum: number, index: number): Promise<number> {
    return (await this.#call(VibOp.QUERY_PKEY, 0, { port: portNum, index })).pkey;
  }

  async allocPd(): Promise<AllocPdResp> {
    return await this.#call(VibOp.ALLOC_PD, 0, {});
  }

  async deallocPd(pdHandle: number): Promise<void> {
    await this.#call(VibOp.DEALLOC_PD, pdHandle, {});
  }

  async regMr(req: RegMrReq): Promise<RegMrResp> {
    // The guest's ib_uverbs checks the arguments before ib_umem_get looks at a page, as bare
    // metal's (ib_uverbs_reg_mr: ib_check_mr_access, then the driver's reg_user_mr): a bad
    // access or length was refused as an unmapped page (EFAULT) or past the pin limit (ENOMEM).
    kernelCheck(VibOp.REG_MR, () => checkRegMr(req));
    const { addr, length, access } = req;
    // The device writes only into regions with local write access.
    const ro = typeof access === "number" && (access & Access.LOCAL_WRITE) === 0;
    if (this.regCache) return await this.#regPersistent(req, ro);
    const { r, refs } = await this.#withBuffer(
      VibOp.REG_MR,
      addr,
      length,
      ro,
      (g) =>
        this.#call(VibOp.REG_MR, req.pdHandle, { addr, length, access, nrPages: g.nrPages }, g),
    );
    this.#grants.set(`mr:${r.mrHandle}`, refs);
    return r;
  }

  /**
   * `regMr` with persistent grants: pages granted before (and still backed
   * by the same frames) reuse their grant — no grant entry written, no grant
   * map in dom0 — the others are granted now; the request says dom0 may keep
   * the mappings after deregistration.
   */
  async #regPersistent(req: RegMrReq, ro: boolean): Promise<RegMrResp> {
    const front = this.#front, o = front.o;
    const entryNs = o.profile.xen.grantEntryNs;
    this.#usable();
    let pfns;
    try {
      pfns = ownPages(o, req.addr, req.length);
    } catch (e) {
      throw bufferError(e, VibOp.REG_MR, req.addr, req.length);
    }
    let a;
    try {
      a = front.persistent.acquire(o, pfns, ro);
    } catch (e) {
      // The guest's grant table is full: give the idle cached grants back and try once more.
      if (front.persistent.idle === 0) throw e;
      await front.releasePersistent(front.persistent.takeIdle());
      a = front.persistent.acquire(o, pfns, ro);
    }
    await o.engine.sleep(a.granted * entryNs);
    let g: GrantedBuffer | undefined;
    let r: RegMrResp;
    try {
      g = await packRefs(
        o.engine,
        o,
        entryNs,
        a.grants.map((x) => x.ref),
        segCapacity(VibOp.REG_MR),
      );
      r = await this.#call(
        VibOp.REG_MR,
        req.pdHandle,
        { addr: req.addr, length: req.length, access: req.access, nrPages: g.nrPages },
        { ...g, flags: g.flags | VIB_F_PERSISTENT },
      );
    } catch (e) {
      front.persistent.fail(a.grants, a.fresh, o);
      await front.releasePersistent(a.stale);
      throw e;
    } finally {
      if (g) await dropIndirect(o.engine, o, entryNs, g);
    }
    // Every page had its frame before it was granted (`ownPages` takes only mapped memory, as
    // get_user_pages): the frames noted at `acquire` are the ones dom0 mapped.
    this.#regions.set(r.mrHandle, a.grants);
    await front.releasePersistent(a.stale);
    return r;
  }

  async deregMr(mrHandle: number): Promise<void> {
    const grants = this.#regions.get(mrHandle);
    if (!grants) {
      await this.#call(VibOp.DEREG_MR, mrHandle, { nrRefs: 0 });
      await this.#endGrants(`mr:${mrHandle}`);
      return;
    }
    // The keys die; the grants stay for the next registration, within the backend's limit. The
    // ones beyond it (and stale ones) go back with the deregistration itself: dom0 drops their
    // mappings in the same request, and no extra round trip is made.
    const front = this.#front, o = front.o, entryNs = o.profile.xen.grantEntryNs;
    const planned = front.persistent.plan(grants);
    const g = await packRefs(
      o.engine,
      o,
      entryNs,
      planned.map((x) => x.ref),
      segCapacity(VibOp.DEREG_MR),
    );
    try {
      await this.#call(VibOp.DEREG_MR, mrHandle, { nrRefs: planned.length }, g);
    } finally {
      await dropIndirect(o.engine, o, entryNs, g);
    }
    this.#regions.delete(mrHandle);
    const out = front.persistent.put(grants);
    const sent = new Set(planned);
    // Given back with the request: end them. Anything else to give back (a concurrent
    // registration changed the picture meanwhile): the usual way.
    await ungrant(o.engine, o, entryNs, out.filter((x) => sent.has(x)).map((x) => x.ref));
    front.persistent.stats.released += out.filter((x) => sent.has(x)).length;
    await front.releasePersistent(out.filter((x) => !sent.has(x)));
  }

  async createCq(req: CreateCqReq): Promise<CreateCqResp> {
    // ib_uverbs' create_cq checks the vector before the driver (bare metal's kernel too).
    kernelCheck(VibOp.CREATE_CQ, () => checkCompVector(req.compVector, this.numCompVectors));
    const { r, refs } = await this.#withBuffer(
      VibOp.CREATE_CQ,
      req.bufAddr,
      req.bufBytes,
      false,
      (g) => this.#call(VibOp.CREATE_CQ, 0, { ...req, nrPages: g.nrPages }, g),
    );
    this.#grants.set(`cq:${r.cqHandle}`, refs);
    return r;
  }

  async resizeCq(req: ResizeCqReq): Promise<{ cqe: number }> {
    const { r, refs } = await this.#withBuffer(
      VibOp.RESIZE_CQ,
      req.bufAddr,
      req.bufBytes,
      false,
      (g) => this.#call(VibOp.RESIZE_CQ, req.cqHandle, { ...req, nrPages: g.nrPages }, g),
    );
    await this.#endGrants(`cq:${req.cqHandle}`);
    this.#grants.set(`cq:${req.cqHandle}`, refs);
    return r;
  }

  async destroyCq(cqHandle: number): Promise<void> {
    await this.#call(VibOp.DESTROY_CQ, cqHandle, {});
    await this.#endGrants(`cq:${cqHandle}`);
  }

  async createQp(req: CreateQpReq): Promise<CreateQpResp> {
    // ib_uverbs' create_qp sorts the QP type before anything is looked up (as bare metal's).
    kernelCheck(VibOp.CREATE_QP, () => checkQpType(req.type));
    const { r, refs } = await this.#withBuffer(
      VibOp.CREATE_QP,
      req.wq?.bufAddr,
      req.wq?.bufBytes,
      false,
      (g) => this.#call(VibOp.CREATE_QP, req.pdHandle, { ...req, nrPages: g.nrPages }, g),
    );
    this.#grants.set(`qp:${r.qpHandle}`, refs);
    this.#qps.set(r.qpHandle, { qpn: r.qpn, type: req.type, state: QpState.RESET });
    return r;
  }

  /** Each QP as this kernel knows it (number, type, state and port as last set or queried). */
  #qps = new Map<number, FrontQp>();

  async modifyQp(req: ModifyQpReq): Promise<void> {
    // The guest's kernel makes bare metal's checks of the request (UContext.modifyQp: the mask,
    // ib_uverbs' ports and Q_Key, the state table, then each value against the device's limits
    // as its device and port attributes say), in that order, before the request is built: a
    // value the request cannot carry was the ring encoder's text ('attr.port: 300 does not fit
    // u8'), and a qkey at an RC QP's RESET->INIT was refused for its type, not its width. What
    // needs dom0 (the guest's partitions, the device's QP state) stays with dom0.
    // Bare metal's kernel checks a modify_qp against the QP's state under the QP's mutex
    // (mthca_modify_qp), so one issued while another runs on the same QP is checked against the
    // state that one leaves: this kernel waits for it as well.
    let qp = this.#qps.get(req.qpHandle);
    while (qp?.busy) {
      await qp.busy;
      qp = this.#qps.get(req.qpHandle);
    }
    const unlock = qp && holdQpMutex(qp);
    try {
      let checked: ReturnType<typeof checkModifyQp> | undefined;
      kernelCheck(VibOp.MODIFY_QP, () => {
        const d = this.#device;
        // Not opened through a verbs context (which asks the device and its ports): dom0 checks it.
        if (!qp || !d || this.#portMtu.size === 0) return;
        checked = checkModifyQp(req.attr, req.mask, qp, d.physPortCnt);
        checkModifyQpValues(checked.attr, checked.mask, {
          ports: d.physPortCnt,
          maxPkeys: d.maxPkeys,
          // The ports' MTUCap (each port's is the device's QUERY_DEV_LIM max_mtu).
          maxMtu: Math.max(...this.#portMtu.values()),
          maxRdAtomic: d.maxQpInitRdAtom,
          maxDestRdAtomic: d.maxQpRdAtom,
        });
      });
      // A null GRH is none (checkAhAttr), which the request carries by leaving it out.
      const { ah, altPath } = req.attr;
      const attr = ah?.grh === null || altPath?.grh === null
        ? { ...req.attr, ah: abiAhAttr(ah), altPath: abiAhAttr(altPath) }
        : req.attr;
      await this.#call(VibOp.MODIFY_QP, req.qpHandle, { mask: req.mask, attr });
      if (qp && checked) {
        // What dom0's kernel now holds for it (UContext.modifyQp).
        qp.state = checked.next;
        if (checked.next === QpState.RESET) qp.port = undefined;
        else if (checked.mask & QpAttrMask.PORT) qp.port = checked.attr.port;
      }
    } finally {
      unlock?.();
    }
  }

  async queryQp(qpHandle: number): Promise<QueryQpResp> {
    // Under the QP's mutex, as a modify_qp (mthca_query_qp stores the state it read).
    let qp = this.#qps.get(qpHandle);
    while (qp?.busy) {
      await qp.busy;
      qp = this.#qps.get(qpHandle);
    }
    const unlock = qp && holdQpMutex(qp);
    try {
      const r = await this.#call(VibOp.QUERY_QP, qpHandle, {});
      const { state, curState, ...attr } = r.attr ?? {};
      // A state outside the QP state machine is a backend the guest cannot trust.
      if (!isQpState(state) || (curState !== undefined && !isQpState(curState))) {
        throw new VerbsError("EIO", `query_qp: the backend answered QP state ${state}`);
      }
      if (qp) qp.state = state; // as dom0's kernel caches it (UContext.queryQp)
      return {
        attr: { ...attr, state, ...(curState === undefined ? {} : { curState }) },
        cap: r.cap,
        ...(r.sqWqeCounter === undefined ? {} : { sqWqeCounter: r.sqWqeCounter }),
      };
    } finally {
      unlock?.();
    }
  }

  async destroyQp(qpHandle: number): Promise<void> {
    await this.#call(VibOp.DESTROY_QP, qpHandle, {});
    this.#qps.delete(qpHandle);
    await this.#endGrants(`qp:${qpHandle}`);
  }

  async createSrq(req: CreateSrqReq): Promise<CreateSrqResp> {
    kernelCheck(VibOp.CREATE_SRQ, () => checkCreateSrqLimit(req.srqLimit));
    const { r, refs } = await this.#withBuffer(
      VibOp.CREATE_SRQ,
      req.bufAddr,
      req.bufBytes,
      false,
      (g) => this.#call(VibOp.CREATE_SRQ, req.pdHandle, { ...req, nrPages: g.nrPages }, g),
    );
    this.#grants.set(`srq:${r.srqHandle}`, refs);
    this.#srqMaxWr.set(r.srqHandle, r.maxWr);
    return r;
  }

  /** The size each SRQ was granted (its limit's range), by handle. */
  #srqMaxWr = new Map<number, number>();

  async modifySrq(req: ModifySrqReq): Promise<void> {
    // mthca's modify_srq checks, as bare metal's kernel makes them: no resize, a limit within
    // the SRQ (a value the request cannot carry was the ring encoder's `srqLimit: -1 does not
    // fit u32`).
    const maxWr = this.#srqMaxWr.get(req.srqHandle);
    kernelCheck(VibOp.MODIFY_SRQ, () => {
      checkSrqResize(req);
      if (req.srqLimit !== undefined && maxWr !== undefined) checkSrqLimit(req.srqLimit, maxWr);
    });
    await this.#call(VibOp.MODIFY_SRQ, req.srqHandle, { srqLimit: req.srqLimit, maxWr: req.maxWr });
  }

  async querySrq(srqHandle: number): Promise<QuerySrqResp> {
    const r = await this.#call(VibOp.QUERY_SRQ, srqHandle, {});
    return { maxWr: r.maxWr, maxSge: r.maxSge, srqLimit: r.srqLimit };
  }

  async destroySrq(srqHandle: number): Promise<void> {
    await this.#call(VibOp.DESTROY_SRQ, srqHandle, {});
    this.#srqMaxWr.delete(srqHandle);
    await this.#endGrants(`srq:${srqHandle}`);
  }

  async createAh(req: { pdHandle: number; attr: AhAttr }): Promise<CreateAhResp> {
    // The guest's ib_uverbs core checks the address vector as bare metal's does (its fields
    // within struct ib_uverbs_ah_attr's widths and the ranges rdma_check_ah_attr and mthca
    // take): a value the request cannot carry is refused with the text dom0 would have given,
    // not the ring encoder's (an `undefined` dlid was `attr.dlid: undefined does not fit u16`),
    // and a port the device lacks as rdma_check_ah_attr does, when the guest's kernel knows the
    // device (a port no __u8 holds was `attr.portNum: 300 does not fit u8`).
    kernelCheck(VibOp.CREATE_AH, () => {
      const d = this.#device;
      if (d) checkCreateAhAttr(req.attr, d.physPortCnt);
      else checkAhAttr("create_ah", req.attr);
    });
    return await this.#call(VibOp.CREATE_AH, req.pdHandle, { attr: abiAhAttr(req.attr) });
  }

  async destroyAh(ahHandle: number): Promise<void> {
    await this.#call(VibOp.DESTROY_AH, ahHandle, {});
  }

  async attachMcast(req: McastReq): Promise<void> {
    await this.#call(VibOp.ATTACH_MCAST, req.qpHandle, { gid: req.gid, mlid: req.mlid });
  }

  async detachMcast(req: McastReq): Promise<void> {
    await this.#call(VibOp.DETACH_MCAST, req.qpHandle, { gid: req.gid, mlid: req.mlid });
  }

  async close(): Promise<void> {
    await this.#call(VibOp.CLOSE, 0, {});
    this.#closed = true;
    this.handlers = { onCompEvent() {}, onAsyncEvent() {} };
    await this.releaseGrants();
    this.#front.forgetFile(this.ctx);
  }

  /** @internal end every grant this file holds (dom0 has unmapped them) */
  async releaseGrants(): Promise<void> {
    for (const key of [...this.#grants.keys()]) await this.#endGrants(key);
    // The context's regions are gone: their persistent grants go idle (the device keeps them).
    const front = this.#front;
    for (const [h, grants] of [...this.#regions]) {
      this.#regions.delete(h);
      await front.releasePersistent(front.persistent.put(grants));
    }
  }
}
