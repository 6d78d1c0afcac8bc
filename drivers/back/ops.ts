/**
 * What the backend does for each request, after the ring gave it a private
 * copy: check every field the kernel verbs layer does not (context id,
 * page counts, segment counts, the device's datapath), map the grants of
 * any buffer, call the native driver's verbs layer (`UContext`) of that
 * context — with the context's UAR, so the device ties the guest's queues
 * to the UAR page mapped into the guest — and remember what the new object
 * holds.
 *
 * {@link execute} is a dispatch over the op table: one handler per op
 * ({@link CONTROL_OPS}, each typed by its op's table entry), to which a
 * datapath through dom0 adds its own (`datapath.ts`).
 *
 * Errors are `VerbsError`s; the caller turns them into `-errno`. Those of
 * the checks here, about the guest's own request, are made by `requestError`
 * (their text goes back to the guest, `refusal.ts`); dom0's own failures
 * (the hypervisor refusing its mapping of the UAR page) are not.
 *
 * @module
 */
import type { AddressSpace } from "../../sim/address_space.ts";
import { PAGE_SIZE } from "../../sim/memory.ts";
import { checkQpSize, checkSrqSize } from "../uapi/kernel_checks.ts";
import { UContext } from "../native/ucontext.ts";
import { DEFAULT_PKEY } from "../../hca/pkey.ts";
import { CQE_BYTES } from "../../hca/cqe.ts";
import { Access, QpAttrMask, QpState } from "../uapi/enums.ts";
import { requestError, VerbsError } from "../uapi/errors.ts";
import { ATTR_MASK_BITS } from "../uapi/qp_state.ts";
import type { AsyncEvent, QpAttr } from "../uapi/types.ts";
import type { WqLayout } from "../uapi/uverbs.ts";
import { type VibEvent, VibEventKind, VibEventObj } from "../vib/event_ring.ts";
import {
  knownRequest,
  segCapacity,
  VIB_F_INDIRECT,
  VIB_F_PERSISTENT,
  VIB_MAX_PAGES,
  VIB_OPS,
  VibOp,
  type VibOpCode,
  type VibRequest,
  type VibRequestOf,
  type VibRspBody,
} from "../vib/mod.ts";
import type { BackContext, ObjectBacking } from "./context.ts";
import type { OpEnv, OpHandlers } from "./datapath.ts";
import { GrantedMemory } from "./granted_memory.ts";
import { checkRefCount, type MappedBuffer } from "./grants.ts";
import type { DeviceResource } from "./headroom.ts";
import type { Charge } from "./quota.ts";

/** EINVAL about the guest's own request (its text goes back to the guest). */
function inval(msg: string): VerbsError {
  return requestError("EINVAL", msg);
}

function pagesOf(addr: number, len: number): number {
  if (!Number.isInteger(addr) || !Number.isInteger(len) || addr < 0 || len <= 0) return 0;
  return Math.floor((addr + len - 1) / PAGE_SIZE) - Math.floor(addr / PAGE_SIZE) + 1;
}

/**
 * The header and size checks every request gets, before any lookup.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRequest, type OpEnv } from "./ops.ts";
 * import { VibOp } from "../vib/mod.ts";
 * const bypass = { datapath: undefined } as OpEnv; // the checks look at nothing else
 * const req = { id: 1, flags: 0, ctx: 1, handle: 0, body: {}, segs: [] };
 * checkRequest(bypass, { ...req, op: VibOp.ALLOC_PD }); // passes
 * assert.throws(() => checkRequest(bypass, { ...req, op: 99 }), /ENOSYS/);
 * assert.throws(() => checkRequest(bypass, { ...req, op: VibOp.ALLOC_PD, flags: 0x80 }), /EINVAL/);
 * assert.throws(() => checkRequest(bypass, { ...req, op: VibOp.DOORBELL }), /EOPNOTSUPP/);
 * ```
 */
export function checkRequest(env: OpEnv, req: VibRequest): void {
  const spec = VIB_OPS.get(req.op);
  if (!spec) throw requestError("ENOSYS", `unknown op ${req.op}`);
  if ((req.reserved ?? 0) !== 0) throw inval("reserved header bits set");
  if (req.flags & ~(VIB_F_INDIRECT | VIB_F_PERSISTENT)) {
    throw inval(`unknown flags 0x${req.flags.toString(16)}`);
  }
  if ((req.flags & VIB_F_PERSISTENT) && req.op !== VibOp.REG_MR) {
    throw inval(`${spec.name}: only a memory region's grants may be persistent`);
  }
  const cap = segCapacity(req.op);
  const nrSegs = req.nrSegsRaw ?? req.segs.length;
  if (nrSegs > cap) {
    throw requestError("E2BIG", `${spec.name}: ${nrSegs} segments (at most ${cap})`);
  }
  if ((req.flags & VIB_F_INDIRECT) && cap === 0) throw inval(`${spec.name}: takes no segments`);
  if (spec.datapath && env.datapath === undefined) {
    throw requestError(
      "EOPNOTSUPP",
      `${spec.name}: the datapath of a bypass guest does not cross dom0`,
    );
  }
}

/**
 * A buffer's page count against its extent and the grant refs the request
 * names for it: the request's own fault, so checked before any quota or
 * dom0's headroom is asked (as the kernel checks an extent in ib_umem_get
 * before it counts a page against RLIMIT_MEMLOCK), and again by
 * {@link mapFor}. A REG_MR naming 2 pages for a 1-page extent used to get
 * EAGAIN naming a full `mrs` quota.
 */
function checkBuffer(req: VibRequest, nrPages: number, addr: number, bytes: number): void {
  if (nrPages > VIB_MAX_PAGES) {
    throw requestError("E2BIG", `${nrPages} pages in one buffer (at most ${VIB_MAX_PAGES})`);
  }
  if (nrPages !== pagesOf(addr, bytes)) {
    throw inval(`${nrPages} pages given for ${bytes} bytes at 0x${addr.toString(16)}`);
  }
  checkRefCount(req, nrPages);
}

/** A buffer's grants, after checking the page count against its extent. */
async function mapFor(
  env: OpEnv,
  req: VibRequest,
  nrPages: number,
  addr: number,
  bytes: number,
  readonly: boolean,
): Promise<MappedBuffer> {
  checkBuffer(req, nrPages, addr, bytes);
  return await env.grants.mapBuffer(req, nrPages, readonly, {
    persistent: (req.flags & VIB_F_PERSISTENT) !== 0,
  });
}

/**
 * Check that the context may hold `charge` more (its guest's quotas) and
 * that the device keeps dom0's headroom after taking `device`; nothing is
 * taken yet.
 */
function admit(
  env: OpEnv,
  charge: Charge,
  device: Partial<Record<DeviceResource, number>> = {},
): void {
  env.ledger.check(charge);
  for (const [k, n] of Object.entries(device) as [DeviceResource, number][]) {
    env.headroom?.device(k, n, false, env.frontDomid);
  }
}

/**
 * A queue size as the quota counts it — or 0 when it is beyond what the
 * device allows at all: then the driver refuses the request with its own
 * errno (EINVAL, as mthca and mlx4 check sizes before anything else), not
 * the quota.
 */
function sizeOf(n: unknown, max: number): number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= max ? n : 0;
}

/** Hold `charge` for the object `key` of context `c` (after it was made). */
function hold(env: OpEnv, c: BackContext, key: string, charge: Charge): void {
  env.ledger.hold(charge);
  c.charges.set(key, charge);
}

/** Give back what the object `key` of context `c` held against the quotas. */
function drop(env: OpEnv, c: BackContext, key: string): void {
  const charge = c.charges.get(key);
  if (!charge) return;
  c.charges.delete(key);
  env.ledger.give(charge);
  // A multicast attachment also held its QP's place in the group (mcastGroupQps, by MGID).
  if (key.startsWith(MCAST_KEY)) env.ledger.giveInGroup(mcastGroupOf(key), mcastMember(c, key));
}

/** Run `fn` with `mfns` staged as the frames of the buffer at `addr`. */
async function withFrames<T>(
  c: BackContext,
  addr: number,
  mfns: number[],
  fn: () => Promise<T>,
): Promise<T> {
  c.memory.stage(addr, mfns);
  try {
    return await fn();
  } finally {
    c.memory.clear();
  }
}

/** Unmap a dead object's pages, free its device queue, give back its quota. */
async function release(env: OpEnv, c: BackContext, key: string): Promise<void> {
  drop(env, c, key);
  const o = c.objects.get(key);
  if (!o) return;
  c.objects.delete(key);
  await env.grants.unmap(o.buf);
  if (o.queue !== undefined) c.datapath?.freeDeviceQueue(o.queue);
}

/** A queue buffer as the device gets it, and the guest's pages behind it. */
interface QueueBuffer {
  buf: MappedBuffer;
  regAddr: number;
  regMfns: number[];
  /** The datapath's device queue, when there is one. */
  queue?: number;
  /** Dom0 heap the device queue takes (split shadow memory). */
  shadowBytes: number;
}

/**
 * A queue buffer (CQ, QP, SRQ): in bypass mode the device gets the guest's
 * pages themselves; with a datapath through dom0 they are mapped for
 * copying and the device gets a dom0 queue of the same size instead.
 */
async function queueBuffer(
  env: OpEnv,
  c: BackContext,
  req: VibRequest,
  nrPages: number,
  addr: number,
  bytes: number,
  readonly: boolean,
): Promise<QueueBuffer> {
  const sane = sizeOf(bytes, VIB_MAX_PAGES * PAGE_SIZE);
  const shadowBytes = c.datapath && sane > 0 ? Math.ceil(sane / PAGE_SIZE) * PAGE_SIZE : 0;
  if (shadowBytes > 0) {
    env.ledger.check({ shadowBytes });
    env.headroom?.heap(shadowBytes, env.frontDomid);
  }
  const buf = await mapFor(env, req, nrPages, addr, bytes, readonly);
  if (!c.datapath) return { buf, regAddr: addr, regMfns: buf.mfns, shadowBytes };
  try {
    const q = c.datapath.deviceQueue(bytes);
    return { buf, regAddr: q.addr, regMfns: q.mfns, queue: q.addr, shadowBytes };
  } catch (e) {
    await env.grants.unmap(buf);
    throw e;
  }
}

/**
 * Make the driver call that creates the queue `q` is for, with its frames
 * staged; if the call fails, give the guest's pages and the device queue back.
 */
async function withQueue<T>(
  env: OpEnv,
  c: BackContext,
  q: QueueBuffer,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await withFrames(c, q.regAddr, q.regMfns, fn);
  } catch (e) {
    await env.grants.unmap(q.buf);
    if (q.queue !== undefined) c.datapath?.freeDeviceQueue(q.queue);
    throw e;
  }
}

/** QP attributes as `qp.modify` had them: only the fields the mask names. */
function maskedAttr(attr: Record<string, unknown>, mask: number): QpAttr {
  const out: Record<string, unknown> = {};
  for (const [k, bit] of Object.entries(ATTR_MASK_BITS)) {
    if ((mask & bit) && attr[k] !== undefined) out[k] = attr[k];
  }
  return out as QpAttr;
}

function asyncEvent(ctx: number, e: AsyncEvent): VibEvent {
  if (e.qpHandle !== undefined) {
    return { ctx, kind: VibEventKind.ASYNC, obj: VibEventObj.QP, type: e.type, handle: e.qpHandle };
  }
  if (e.cqHandle !== undefined) {
    return { ctx, kind: VibEventKind.ASYNC, obj: VibEventObj.CQ, type: e.type, handle: e.cqHandle };
  }
  if (e.srqHandle !== undefined) {
    return {
      ctx,
      kind: VibEventKind.ASYNC,
      obj: VibEventObj.SRQ,
      type: e.type,
      handle: e.srqHandle,
    };
  }
  return {
    ctx,
    kind: VibEventKind.ASYNC,
    obj: e.portNum !== undefined ? VibEventObj.PORT : VibEventObj.NONE,
    type: e.type,
    handle: e.portNum ?? 0,
  };
}

/** `OPEN`: a UAR for the guest, and a kernel verbs context bound to it. */
async function open(env: OpEnv): Promise<VibRspBody<typeof VibOp.OPEN>> {
  env.ledger.check({ contexts: 1 });
  // A guest's first context may use dom0's UAR reserve: a new guest always gets its device.
  env.headroom?.device("uar", 1, env.contexts.size === 0, env.frontDomid);
  let id = 1;
  while (env.contexts.has(id)) id++;
  const uarIndex = env.driver.allocUar();
  const mfn = env.driver.hca.uarMfn(uarIndex);
  const space: AddressSpace = env.dom0.memory;
  let uarAddr: number;
  try {
    // Bypass: the hypervisor maps the page into the guest, on dom0's request
    // (only then can the guest's own provider ring doorbells). Through dom0:
    // only dom0 maps it; the guest never touches the device.
    uarAddr = env.datapath === undefined
      ? await env.hv.mapIoPage(env.dom0, { domid: env.frontDomid, mfn })
      : space.mapForeign(mfn);
  } catch (e) {
    env.driver.freeUar(uarIndex);
    // Dom0's own mapping failed: the hypervisor's text names frames and domains, so this is not
    // about the guest's request, and the guest gets ENOMEM with a fixed reason (refusal.ts).
    throw new VerbsError("ENOMEM", `UAR mapping refused: ${(e as Error).message}`);
  }
  const memory = new GrantedMemory();
  const kernelNs = env.profile.cpu.kernelVerbsNs;
  const uctx = new UContext({
    driver: env.driver,
    memory,
    uarIndex,
    uarAddr,
    enter: () => env.cpu(kernelNs),
    // Its QPs are the guest's, as the driver tells anyone who asks (the Nomad directory).
    owner: env.frontDomid,
    // …and may use only the guest's partitions (the toolstack's `pkeys`, vibback.ts).
    pkeys: env.pkeys ?? [DEFAULT_PKEY],
  });
  const c: BackContext = {
    id,
    uctx,
    memory,
    uarIndex,
    uarAddr,
    objects: new Map(),
    charges: new Map([["context", { contexts: 1 }]]),
  };
  env.ledger.hold({ contexts: 1 });
  if (env.datapath) {
    c.datapath = env.datapath.open({
      engine: env.engine,
      profile: env.profile,
      space,
      heap: env.heap,
      uarAddr,
      frontend: { hv: env.hv, domid: env.frontDomid, ctx: id },
      cpu: env.cpu,
      compEvent: (cqn) => {
        const h = cqHandleOf(c, cqn);
        if (h !== undefined) {
          env.queueEvent({
            ctx: id,
            kind: VibEventKind.COMP,
            obj: VibEventObj.CQ,
            type: 0,
            handle: h,
          });
        }
      },
    });
  }
  uctx.setEventHandlers({
    onCompEvent: (h) =>
      env.queueEvent({ ctx: id, kind: VibEventKind.COMP, obj: VibEventObj.CQ, type: 0, handle: h }),
    onAsyncEvent: (e) => env.queueEvent(asyncEvent(id, e)),
  });
  env.contexts.set(id, c);
  return {
    ctx: id,
    numCompVectors: uctx.numCompVectors,
    uarIndex,
    uarAddr: env.datapath === undefined ? uarAddr : 0,
  };
}

/**
 * Close a context: the device objects first, then the pages they used,
 * then the UAR — unmapped from the guest before its index can be handed
 * to anyone else. Every step runs even if an earlier one failed (the
 * failures are thrown together at the end): a half-closed context would
 * leak grant mappings, pins or the UAR index. The index goes back only once
 * no guest maps its page any more: at once, or when the guest is torn down.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenPlatform } from "../../platform/xen_host.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass" });
 * const back = (xen.platform as XenPlatform).backend!.instances().get(vm.domid!)!;
 * const uars = xen.hca.stats().used.uar;
 * await cluster.run(async () => {
 *   const ctx = await vm.openDevice();
 *   assert.equal(back.contextCount, 1);
 *   await ctx.close(); // CLOSE: the backend closes the context
 * });
 * assert.equal(back.contextCount, 0);
 * assert.equal(xen.hca.stats().used.uar, uars); // its UAR is back
 * ```
 */
export async function closeContext(env: OpEnv, c: BackContext): Promise<void> {
  env.contexts.delete(c.id);
  // Nothing of dom0 may touch the context's queues once they start to go: its datapath stops
  // before the first object is destroyed or unmapped, as netback stops a vif's threads before
  // it unmaps the rings (xenvif_disconnect_data, then xenvif_unmap_frontend_data_rings) and
  // blkback its ring's thread (xen_blkif_disconnect). A split guest's poll used to copy CQEs
  // through dom0's mappings of its CQ while they were being unmapped, into whatever dom0
  // mapped there next: another guest's registered page (tests/hostile/teardown_copy_test.ts).
  c.datapath?.close?.();
  const errors: unknown[] = [];
  // Everything the context held goes with it (objects with pages go in release() below).
  for (const key of [...c.charges.keys()]) if (!c.objects.has(key)) drop(env, c, key);
  try {
    await c.uctx.close();
  } catch (e) {
    errors.push(e);
  }
  for (const key of [...c.objects.keys()]) {
    try {
      await release(env, c, key);
    } catch (e) {
      errors.push(e);
    }
  }
  const mfn = env.driver.hca.uarMfn(c.uarIndex);
  const dom0Only = env.datapath !== undefined; // only dom0 maps the UAR page
  try {
    if (dom0Only) env.dom0.memory.unmapForeign(c.uarAddr);
    else if (env.hv.ioPageHolder(mfn) === env.frontDomid) {
      // A dead guest's I/O pages were already unmapped by its teardown.
      await env.hv.unmapIoPage(env.dom0, { domid: env.frontDomid, mfn });
    }
  } catch (e) {
    errors.push(e);
  }
  if (dom0Only || env.hv.ioPageHolder(mfn) === undefined) {
    env.driver.freeUar(c.uarIndex);
  } else {
    // The unmap failed and the running guest still maps the page: handing
    // the index to anyone else would let this guest ring their doorbells.
    // It goes back once the guest's teardown has unmapped the page.
    const index = c.uarIndex;
    env.hv.domain(env.frontDomid)?.onTeardown(() => {
      if (env.hv.ioPageHolder(mfn) === undefined) env.driver.freeUar(index);
    });
    errors.push(
      new VerbsError("EBUSY", `UAR ${index} is still mapped into the guest; kept until it goes`),
    );
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) {
    throw new AggregateError(errors, `close of context ${c.id}: ${errors.length} steps failed`);
  }
}

/**
 * The control operations: one handler per op of the table, each given the
 * request typed by its own entry (the header's `handle` names the object).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CONTROL_OPS } from "./ops.ts";
 * import { VibOp } from "../vib/mod.ts";
 * assert.ok(CONTROL_OPS[VibOp.REG_MR] && !CONTROL_OPS[VibOp.DOORBELL]);
 * ```
 */
export const CONTROL_OPS: OpHandlers = {
  [VibOp.CLOSE]: async (env, c) => {
    await closeContext(env, c);
    return {};
  },
  [VibOp.QUERY_DEVICE]: async (_env, c) => ({ ...(await c.uctx.queryDevice()) }),
  [VibOp.QUERY_PORT]: async (_env, c, req) => ({ ...(await c.uctx.queryPort(req.body.port)) }),
  [VibOp.QUERY_GID]: async (_env, c, req) => ({
    gid: await c.uctx.queryGid(req.body.port, req.body.index),
  }),
  [VibOp.QUERY_PKEY]: async (_env, c, req) => ({
    pkey: await c.uctx.queryPkey(req.body.port, req.body.index),
  }),
  [VibOp.ALLOC_PD]: async (env, c) => {
    admit(env, { pds: 1 }, { pd: 1 });
    const r = await c.uctx.allocPd();
    hold(env, c, `pd:${r.pdHandle}`, { pds: 1 });
    return { ...r };
  },
  [VibOp.DEALLOC_PD]: async (env, c, req) => {
    await c.uctx.deallocPd(req.handle);
    drop(env, c, `pd:${req.handle}`);
    return {};
  },
  [VibOp.REG_MR]: async (env, c, req) => {
    const { addr, length, access, nrPages } = req.body;
    // The access flags, the PD and the extent are the request's own fault, and Linux finds them
    // before it pins a page or counts one against RLIMIT_MEMLOCK (ib_uverbs_reg_mr checks the
    // flags and looks up the PD before reg_user_mr's ib_umem_get): EINVAL here before the guest's
    // mrs/mrPages quotas (its RLIMIT_MEMLOCK), dom0's headroom or any grant mapping. A REG_MR
    // naming no PD of the context, or REMOTE_WRITE without LOCAL_WRITE, used to get ENOMEM
    // naming a full quota, after dom0 had mapped every page of it.
    c.uctx.checkRegMr({ pdHandle: req.handle, addr, length, access });
    checkBuffer(req, nrPages, addr, length);
    const charge = { mrs: 1, mrPages: sizeOf(nrPages, VIB_MAX_PAGES) };
    admit(env, charge, { mr: 1, mtt: charge.mrPages });
    // The device writes only into regions with local write access.
    const readonly = (access & Access.LOCAL_WRITE) === 0;
    const buf = await mapFor(env, req, nrPages, addr, length, readonly);
    let r;
    try {
      r = await withFrames(
        c,
        addr,
        buf.mfns,
        () => c.uctx.regMr({ pdHandle: req.handle, addr, length, access }),
      );
    } catch (e) {
      await env.grants.unmap(buf);
      throw e;
    }
    c.objects.set(`mr:${r.mrHandle}`, { buf });
    hold(env, c, `mr:${r.mrHandle}`, charge);
    return { ...r };
  },
  [VibOp.DEREG_MR]: async (env, c, req) => {
    // The handle first, as ib_uverbs_dereg_mr looks it up (EINVAL) before anything else: dom0
    // used to map the indirect pages of the refs a DEREG_MR of no MR named before it found none.
    if (!c.objects.has(`mr:${req.handle}`)) {
      throw inval(`no MR with handle ${req.handle} in this context`);
    }
    // The refs the frontend gives back with it are read (and checked) before anything changes.
    const n = req.body.nrRefs ?? 0;
    if (!Number.isInteger(n) || n < 0 || n > VIB_MAX_PAGES) {
      throw inval(`dereg_mr: ${n} refs to release (0..${VIB_MAX_PAGES})`);
    }
    const refs = n > 0 ? await env.grants.refsOf(req, n) : [];
    // IBTA 10.6.3.3 / ibv_dereg_mr(3): once this returns, the keys are invalid — the MPT entry
    // and MTT entries are gone. Only dom0's grant mappings of a persistent region stay cached,
    // less those the frontend gives back now (it ends those grants after the response).
    await c.uctx.deregMr(req.handle);
    await release(env, c, `mr:${req.handle}`);
    return { released: refs.length > 0 ? await env.grants.release(refs) : 0 };
  },
  [VibOp.CREATE_CQ]: async (env, c, req) => {
    const { cqe, logSize, compVector, bufAddr, bufBytes, nrPages } = req.body;
    // A size above the device's limit is EINVAL naming it, as the driver answers it (mthca_create_cq),
    // before any quota or dom0's headroom is asked: it is the request's fault, not a shortage.
    // So is a completion vector the device lacks, which ib_uverbs checks first (create_cq).
    const entries = c.uctx.checkCreateCq({ compVector, cqe, logSize, bufAddr, bufBytes });
    checkBuffer(req, nrPages, bufAddr, bufBytes);
    admit(env, { cqs: 1, cqes: entries }, { cq: 1, mtt: sizeOf(nrPages, VIB_MAX_PAGES) });
    const q = await queueBuffer(env, c, req, nrPages, bufAddr, bufBytes, false);
    const r = await withQueue(
      env,
      c,
      q,
      () => c.uctx.createCq({ cqe, logSize, bufAddr: q.regAddr, bufBytes, compVector }),
    );
    c.objects.set(`cq:${r.cqHandle}`, { buf: q.buf, queue: q.queue, num: r.cqn });
    hold(env, c, `cq:${r.cqHandle}`, { cqs: 1, cqes: entries, shadowBytes: q.shadowBytes });
    if (q.queue !== undefined) c.datapath?.addCq(r.cqn, q.buf, q.queue, logSize);
    return { ...r };
  },
  [VibOp.RESIZE_CQ]: async (env, c, req) => {
    const h = req.handle;
    const { cqe, logSize, bufAddr, bufBytes, consumerIndex, nrPages } = req.body;
    const old = c.objects.get(`cq:${h}`);
    if (!old) throw inval(`no CQ with handle ${h} in this context`);
    const held = c.charges.get(`cq:${h}`) ?? {};
    // The size and the buffer before the cqes quota or a mapping, as CREATE_CQ's.
    const entries = c.uctx.checkResizeCq({ cqHandle: h, cqe, logSize, bufAddr, bufBytes });
    checkBuffer(req, nrPages, bufAddr, bufBytes);
    admit(env, { cqes: entries - (held.cqes ?? 0) }, { mtt: sizeOf(nrPages, VIB_MAX_PAGES) });
    const q = await queueBuffer(env, c, req, nrPages, bufAddr, bufBytes, false);
    // With a datapath through dom0 (split) the device writes a dom0 queue, which moves too: its
    // entries not written before the command, what the old one holds after it (the datapath).
    const dp = q.queue !== undefined && old.num !== undefined ? c.datapath : undefined;
    const r = await withQueue(env, c, q, () => {
      // Only a dom0 queue that holds the ring is written: one the guest's `bufBytes` made smaller
      // (the driver refuses it next, "entries do not fit") would be written past its end.
      if (typeof bufBytes === "number" && entries * CQE_BYTES <= bufBytes) {
        dp?.prepareCqResize(old.num!, q.queue!, logSize);
      }
      return c.uctx.resizeCq({
        cqHandle: h,
        cqe,
        logSize,
        bufAddr: q.regAddr,
        bufBytes,
        consumerIndex,
      });
    });
    const oldQueue = dp ? await dp.resizeCq(old.num!, q.buf, q.queue!, logSize) : undefined;
    await env.grants.unmap(old.buf);
    if (oldQueue !== undefined) dp!.freeDeviceQueue(oldQueue);
    c.objects.set(`cq:${h}`, { buf: q.buf, queue: q.queue, num: old.num });
    drop(env, c, `cq:${h}`);
    hold(env, c, `cq:${h}`, { ...held, cqes: entries, shadowBytes: q.shadowBytes });
    return { ...r };
  },
  [VibOp.DESTROY_CQ]: async (env, c, req) => {
    const h = req.handle;
    await c.uctx.destroyCq(h);
    const o = c.objects.get(`cq:${h}`);
    if (o?.num !== undefined) c.datapath?.removeCq(o.num);
    await release(env, c, `cq:${h}`);
    return {};
  },
  [VibOp.CREATE_QP]: async (env, c, req) => {
    const b = req.body;
    // The entries the queues really have (the library's layout rounds the caps up). A size
    // above the device's limit is EINVAL naming it, as the driver answers it (mthca_set_qp_size),
    // before any quota or dom0's headroom is asked: it is the request's fault, not a shortage.
    // So is a PD, CQ or SRQ handle of no object of this context, which ib_uverbs finds before
    // the driver is called (create_qp: EINVAL), and a layout the caps do not fit: all of it
    // before any quota, dom0's headroom, a grant mapping or a shadow queue is asked. A CREATE_QP
    // naming a CQ it does not have used to get EAGAIN naming a full qps quota, and with room
    // dom0 mapped every page of its buffer before the driver refused the handle.
    const qpReq = {
      pdHandle: req.handle,
      type: b.type,
      sendCqHandle: b.sendCqHandle,
      recvCqHandle: b.recvCqHandle,
      srqHandle: b.srqHandle,
      sqSigAll: b.sqSigAll,
      cap: b.cap,
      wq: b.wq,
    };
    c.uctx.checkCreateQp(qpReq);
    const wqes = checkQpSize(b.cap, b.wq, env.driver.devLim.maxQpWr);
    checkBuffer(req, b.nrPages, b.wq.bufAddr, b.wq.bufBytes);
    admit(env, { qps: 1, wqes }, { qp: 1, mtt: sizeOf(b.nrPages, VIB_MAX_PAGES) });
    const readonly = c.datapath?.readsGuestQueues ?? false;
    const q = await queueBuffer(env, c, req, b.nrPages, b.wq.bufAddr, b.wq.bufBytes, readonly);
    const layout: WqLayout = { ...b.wq, bufAddr: q.regAddr };
    const r = await withQueue(env, c, q, () => c.uctx.createQp({ ...qpReq, wq: layout }));
    c.objects.set(`qp:${r.qpHandle}`, { buf: q.buf, queue: q.queue, num: r.qpn });
    hold(env, c, `qp:${r.qpHandle}`, { qps: 1, wqes, shadowBytes: q.shadowBytes });
    if (q.queue !== undefined) c.datapath?.addQp(r.qpn, q.buf, q.queue, layout);
    return { ...r };
  },
  [VibOp.MODIFY_QP]: async (_env, c, req) => {
    const h = req.handle, mask = req.body.mask;
    const attr = maskedAttr(req.body.attr ?? {}, mask);
    await c.uctx.modifyQp({ qpHandle: h, attr, mask });
    if ((mask & QpAttrMask.STATE) && attr.state === QpState.RESET) {
      const o = c.objects.get(`qp:${h}`);
      if (o?.num !== undefined) c.datapath?.resetQp(o.num);
    }
    return {};
  },
  [VibOp.QUERY_QP]: async (_env, c, req) => {
    const r = await c.uctx.queryQp(req.handle);
    return { attr: r.attr, cap: r.cap, sqWqeCounter: r.sqWqeCounter };
  },
  [VibOp.DESTROY_QP]: async (env, c, req) => {
    const h = req.handle;
    await c.uctx.destroyQp(h); // EBUSY while attached to a group: the quota stays held
    const o = c.objects.get(`qp:${h}`);
    if (o?.num !== undefined) c.datapath?.removeQp(o.num);
    await release(env, c, `qp:${h}`);
    return {};
  },
  [VibOp.CREATE_SRQ]: async (env, c, req) => {
    const { maxWr, maxSge, srqLimit, bufAddr, bufBytes, logSize, logStride, nrPages } = req.body;
    // A size above the device's limit is EINVAL naming it (mthca_alloc_srq), before any quota
    // or dom0's headroom is asked, as CREATE_CQ's.
    // So is a PD handle of no PD of this context (ib_uverbs create_srq: EINVAL) and a ring that
    // does not fit the request, as CREATE_QP's.
    c.uctx.checkCreateSrq({
      pdHandle: req.handle,
      maxWr,
      maxSge,
      srqLimit,
      bufAddr,
      bufBytes,
      logSize,
      logStride,
    });
    const entries = checkSrqSize(maxWr, logSize, env.driver.devLim.maxQpWr);
    checkBuffer(req, nrPages, bufAddr, bufBytes);
    admit(env, { srqs: 1, wqes: entries }, { srq: 1, mtt: sizeOf(nrPages, VIB_MAX_PAGES) });
    const readonly = c.datapath?.readsGuestQueues ?? false;
    const q = await queueBuffer(env, c, req, nrPages, bufAddr, bufBytes, readonly);
    const r = await withQueue(env, c, q, () =>
      c.uctx.createSrq({
        pdHandle: req.handle,
        maxWr,
        maxSge,
        srqLimit,
        bufAddr: q.regAddr,
        bufBytes,
        logSize,
        logStride,
      }));
    c.objects.set(`srq:${r.srqHandle}`, { buf: q.buf, queue: q.queue, num: r.srqn });
    hold(env, c, `srq:${r.srqHandle}`, { srqs: 1, wqes: entries, shadowBytes: q.shadowBytes });
    if (q.queue !== undefined) c.datapath?.addSrq(r.srqn, q.buf, q.queue, logSize, logStride);
    return { ...r };
  },
  [VibOp.MODIFY_SRQ]: async (_env, c, req) => {
    const { srqLimit, maxWr } = req.body;
    await c.uctx.modifySrq({ srqHandle: req.handle, srqLimit, maxWr });
    return {};
  },
  [VibOp.QUERY_SRQ]: async (_env, c, req) => {
    return await c.uctx.querySrq(req.handle);
  },
  [VibOp.DESTROY_SRQ]: async (env, c, req) => {
    const h = req.handle;
    await c.uctx.destroySrq(h);
    const o = c.objects.get(`srq:${h}`);
    if (o?.num !== undefined) c.datapath?.removeSrq(o.num);
    await release(env, c, `srq:${h}`);
    return {};
  },
  [VibOp.CREATE_AH]: async (env, c, req) => {
    const attr = req.body.attr;
    if (!attr) throw inval("create_ah: no address vector");
    // The PD and the address vector before the ahs quota, as CREATE_QP's handles.
    c.uctx.checkCreateAh({ pdHandle: req.handle, attr });
    admit(env, { ahs: 1 }, { ah: 1 });
    const r = await c.uctx.createAh({ pdHandle: req.handle, attr });
    hold(env, c, `ah:${r.ahHandle}`, { ahs: 1 });
    return { ...r };
  },
  [VibOp.DESTROY_AH]: async (env, c, req) => {
    await c.uctx.destroyAh(req.handle);
    drop(env, c, `ah:${req.handle}`);
    return {};
  },
  // The body is the ring's private copy (vibback copies before it dispatches); the QP handle is
  // looked up in this guest's own context only, so another guest's QP cannot be named. Each
  // attachment holds one of the guest's `mcastAttachments` quota until detached (a QP attached to
  // a group cannot be destroyed) or the context closes, and a place among the guest's QPs in that
  // group (`mcastGroupQps`): the group's MGM entry has `max_mcast_qp_attach` slots that every
  // domain on the host shares, first come first served, so a guest may take only part of them
  // and no one guest can keep another's or dom0's QPs out of a group (DESIGN §9, invariant 9).
  [VibOp.ATTACH_MCAST]: async (env, c, req) => {
    const { gid, mlid } = req.body;
    // The QP handle, the GID, the QP's type and the LID are the request's own fault, and
    // ib_uverbs_attach_mcast / ib_attach_mcast find them (EINVAL) before the device is asked:
    // here before the mcastAttachments quota or a place in the group (mcastGroupQps). A non-UD
    // QP or a unicast LID used to get EAGAIN naming a full quota.
    c.uctx.checkAttachMcast({ qpHandle: req.handle, gid, mlid });
    const key = mcastKey(req.handle, gid, mlid);
    if (c.charges.has(key)) {
      await c.uctx.attachMcast({ qpHandle: req.handle, gid, mlid }); // again: a no-op success
      return {};
    }
    admit(env, { mcastAttachments: 1 });
    const group = mcastGroupOf(key), member = mcastMember(c, key);
    const newPlace = env.ledger.takeInGroup(group, member);
    try {
      await c.uctx.attachMcast({ qpHandle: req.handle, gid, mlid });
    } catch (e) {
      if (newPlace) env.ledger.giveInGroup(group, member);
      throw e;
    }
    hold(env, c, key, { mcastAttachments: 1 });
    return {};
  },
  [VibOp.DETACH_MCAST]: async (env, c, req) => {
    const { gid, mlid } = req.body;
    const key = mcastKey(req.handle, gid, mlid);
    // A charged pair is on the QP's list, and ib_uverbs_detach_mcast takes it off the list
    // before ib_detach_mcast, whatever the device then answers (a QP attached under two LIDs
    // is no longer in the group when the second is detached: mthca "QP not found in MGM"). So
    // the charge goes with the list entry, the device's refusal or not.
    const held = c.charges.has(key);
    try {
      await c.uctx.detachMcast({ qpHandle: req.handle, gid, mlid });
    } finally {
      if (held) {
        // The device took the QP out of the group (mthca keeps one membership per QP and
        // MGID, whatever LIDs it was attached under): its place is free.
        env.ledger.giveInGroup(mcastGroupOf(key), mcastMember(c, key));
        drop(env, c, key);
      }
    }
    return {};
  },
};

/** The prefix of a multicast attachment's key among a context's charges. */
const MCAST_KEY = "mcast:";

/** The charge key of QP `qp`'s attachment to (`gid`, `mlid`): `mcast:QP:MGID/MLID`. */
function mcastKey(qp: number, gid: Uint8Array, mlid: number): string {
  const mgid = Array.from(gid, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${MCAST_KEY}${qp}:${mgid}/${mlid}`;
}

/** The group of an attachment's key: its MGID, which names the MGM entry whose slots it takes. */
function mcastGroupOf(key: string): string {
  return key.slice(key.indexOf(":", MCAST_KEY.length) + 1, key.lastIndexOf("/"));
}

/** The QP of an attachment's key, named across the guest's contexts. */
function mcastMember(c: BackContext, key: string): string {
  return `${c.id}:${key.slice(MCAST_KEY.length, key.indexOf(":", MCAST_KEY.length))}`;
}

/**
 * `RELEASE_GRANTS` (device-level, no context): dom0 unmaps its idle cached
 * mappings of the refs the request names (in the segment area, or in
 * indirect pages) so that the frontend can end those grants.
 */
async function releaseGrants(
  env: OpEnv,
  req: VibRequestOf<typeof VibOp.RELEASE_GRANTS>,
): Promise<VibRspBody<typeof VibOp.RELEASE_GRANTS>> {
  const n = req.body.nrRefs;
  if (!Number.isInteger(n) || n < 1 || n > VIB_MAX_PAGES) {
    throw requestError("EINVAL", `release_grants: ${n} refs (1..${VIB_MAX_PAGES})`);
  }
  const refs = await env.grants.refsOf(req, n);
  return { released: await env.grants.release(refs) };
}

/** Run the handler of `req`'s op (typed for that op). */
// Not async: the handler's promise is the answer (one microtask hop fewer per request); a
// throw here is its caller's (`execute`, async) rejection.
function dispatch<O extends VibOpCode>(
  env: OpEnv,
  c: BackContext,
  req: VibRequestOf<O>,
): Promise<VibRspBody<O>> {
  const handler = env.handlers[req.op];
  if (!handler) {
    throw requestError("ENOSYS", `op ${req.op} is not a vibfront request this backend knows`);
  }
  return handler(env, c, req);
}

/**
 * Execute one request that {@link checkRequest} passed, as decoded from its
 * slot; returns the response body.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { execute, type OpEnv } from "./ops.ts";
 * import { VibOp } from "../vib/mod.ts";
 * const env = { contexts: new Map() } as OpEnv; // no context open
 * const pd = { id: 1, op: VibOp.ALLOC_PD, flags: 0, ctx: 3, handle: 0, body: {}, segs: [] };
 * await assert.rejects(execute(env, pd), /EBADF: no context 3/); // handles resolve per context
 * ```
 */
export async function execute(env: OpEnv, req: VibRequest): Promise<Record<string, unknown>> {
  const known = knownRequest(req);
  if (!known) throw requestError("ENOSYS", `unknown op ${req.op}`);
  if (known.op === VibOp.OPEN) return await open(env);
  if (known.op === VibOp.RELEASE_GRANTS) return await releaseGrants(env, known);
  const c = env.contexts.get(known.ctx);
  if (!c) throw requestError("EBADF", `no context ${known.ctx} on this device`);
  return await dispatch(env, c, known);
}

/**
 * The CQN of CQ handle `h` in context `c`, for event delivery through a datapath.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cqnOf } from "./ops.ts";
 * import type { BackContext } from "./context.ts";
 * import { checkRefCount, type MappedBuffer } from "./grants.ts";
 * const buf: MappedBuffer = { handles: [], mfns: [], addrs: [] };
 * const c = { objects: new Map([["cq:1", { buf, num: 7 }]]) } as BackContext;
 * assert.equal(cqnOf(c, 1), 7);
 * assert.equal(cqnOf(c, 2), undefined);
 * ```
 */
export function cqnOf(c: BackContext, h: number): number | undefined {
  return c.objects.get(`cq:${h}`)?.num;
}

/** The handle of CQ `cqn` in context `c` (the inverse of {@link cqnOf}; a scan, for rare use). */
function cqHandleOf(c: BackContext, cqn: number): number | undefined {
  for (const [key, o] of c.objects) {
    if (key.startsWith("cq:") && o.num === cqn) return Number(key.slice(3));
  }
  return undefined;
}

export type { ObjectBacking, OpEnv };
