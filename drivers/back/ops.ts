/**
 * What the backend does for each request, after the ring gave it a private
 * copy: check every field the kernel verbs layer does not (context id,
 * page counts, segment counts, the mode), map the grants of any buffer,
 * call the native driver's verbs layer (`UContext`) of that context — with
 * the context's UAR, so the device ties the guest's queues to the UAR page
 * mapped into the guest — and remember what the new object holds.
 *
 * Errors are `VerbsError`s; the caller turns them into `-errno`.
 *
 * @module
 */
import type { Domain as XenDomain } from "../../hypervisor/domain.ts";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import type { AddressSpace } from "../../sim/address_space.ts";
import { PAGE_SIZE } from "../../sim/memory.ts";
import type { Profile } from "../../sim/profiles/mod.ts";
import type { Engine } from "../../sim/engine.ts";
import type { HcaDriver } from "../native/driver.ts";
import { UContext } from "../native/ucontext.ts";
import { SplitContext } from "../split/back.ts";
import { QpAttrMask, QpState } from "../uapi/enums.ts";
import { VerbsError } from "../uapi/errors.ts";
import { ATTR_MASK_BITS } from "../uapi/qp_state.ts";
import type { AsyncEvent, QpAttr } from "../uapi/types.ts";
import type { WqLayout } from "../uapi/uverbs.ts";
import type { Dom0Heap } from "./dom0_heap.ts";
import { type VibEvent, VibEventKind, VibEventObj } from "../vib/event_ring.ts";
import {
  segCapacity,
  VIB_F_INDIRECT,
  VIB_MAX_PAGES,
  VIB_OPS,
  VibOp,
  type VibRequest,
} from "../vib/mod.ts";
import type { BackContext, ObjectBacking } from "./context.ts";
import { GrantedMemory } from "./granted_memory.ts";
import type { BackendGrants, MappedBuffer } from "./grants.ts";

/**
 * What the op handlers need from their backend instance.
 *
 * @example
 * ```ts
 * import type { OpEnv } from "./ops.ts";
 * const isSplit = (env: OpEnv) => env.mode === "split";
 * ```
 */
export interface OpEnv {
  engine: Engine;
  profile: Profile;
  hv: Hypervisor;
  dom0: XenDomain;
  /** The frontend's domain id. */
  frontDomid: number;
  driver: HcaDriver;
  heap: Dom0Heap;
  grants: BackendGrants;
  mode: "bypass" | "split";
  contexts: Map<number, BackContext>;
  /** Queue an event for the frontend (called from interrupt context). */
  queueEvent(e: VibEvent): void;
}

/**
 * Most contexts one frontend may open.
 *
 * @example
 * ```ts
 * import { MAX_CONTEXTS } from "./ops.ts";
 * console.log(MAX_CONTEXTS); // 64
 * ```
 */
export const MAX_CONTEXTS = 64;

function inval(msg: string): VerbsError {
  return new VerbsError("EINVAL", msg);
}

function num(v: unknown, what: string): number {
  if (typeof v !== "number") throw inval(`${what} missing`);
  return v;
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
 * import { checkRequest, type OpEnv } from "./ops.ts";
 * const ok = (env: OpEnv, r: Parameters<typeof checkRequest>[1]) => {
 *   try { checkRequest(env, r); return true; } catch { return false; }
 * };
 * ```
 */
export function checkRequest(env: OpEnv, req: VibRequest): void {
  const spec = VIB_OPS.get(req.op);
  if (!spec) throw new VerbsError("ENOSYS", `unknown op ${req.op}`);
  if ((req.reserved ?? 0) !== 0) throw inval("reserved header bits set");
  if (req.flags & ~VIB_F_INDIRECT) throw inval(`unknown flags 0x${req.flags.toString(16)}`);
  const cap = segCapacity(req.op);
  const nrSegs = req.nrSegsRaw ?? req.segs.length;
  if (nrSegs > cap) {
    throw new VerbsError("E2BIG", `${spec.name}: ${nrSegs} segments (at most ${cap})`);
  }
  if ((req.flags & VIB_F_INDIRECT) && cap === 0) throw inval(`${spec.name}: takes no segments`);
  const splitOp = req.op === VibOp.DOORBELL || req.op === VibOp.POLL_CQ;
  if (splitOp && env.mode !== "split") {
    throw new VerbsError(
      "EOPNOTSUPP",
      `${spec.name}: the datapath of a bypass guest does not cross dom0`,
    );
  }
}

/** A buffer's grants, after checking the page count against its extent. */
async function mapFor(
  env: OpEnv,
  req: VibRequest,
  addr: number,
  bytes: number,
  readonly: boolean,
): Promise<MappedBuffer> {
  const nrPages = num(req.body.nrPages, "nrPages");
  if (nrPages > VIB_MAX_PAGES) {
    throw new VerbsError("E2BIG", `${nrPages} pages in one buffer (at most ${VIB_MAX_PAGES})`);
  }
  if (nrPages !== pagesOf(addr, bytes)) {
    throw inval(`${nrPages} pages given for ${bytes} bytes at 0x${addr.toString(16)}`);
  }
  return await env.grants.mapBuffer(req, nrPages, readonly);
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

/** Unmap a dead object's pages and free its shadow. */
async function release(env: OpEnv, c: BackContext, key: string): Promise<void> {
  const o = c.objects.get(key);
  if (!o) return;
  c.objects.delete(key);
  await env.grants.unmap(o.buf);
  if (o.shadow !== undefined) c.split!.freeShadow(o.shadow);
}

/**
 * A queue buffer (CQ, QP, SRQ): bypass mode registers the guest's pages
 * themselves; split mode maps them for copying and registers a dom0
 * shadow of the same size instead.
 */
async function queueBuffer(
  env: OpEnv,
  c: BackContext,
  req: VibRequest,
  addr: number,
  bytes: number,
  readonly: boolean,
): Promise<{ buf: MappedBuffer; regAddr: number; regMfns: number[]; shadow?: number }> {
  const buf = await mapFor(env, req, addr, bytes, readonly);
  if (!c.split) return { buf, regAddr: addr, regMfns: buf.mfns };
  try {
    const s = c.split.shadow(bytes);
    return { buf, regAddr: s.addr, regMfns: s.mfns, shadow: s.addr };
  } catch (e) {
    await env.grants.unmap(buf);
    throw e;
  }
}

async function undoQueue(env: OpEnv, c: BackContext, q: { buf: MappedBuffer; shadow?: number }) {
  await env.grants.unmap(q.buf);
  if (q.shadow !== undefined) c.split!.freeShadow(q.shadow);
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
async function open(env: OpEnv): Promise<Record<string, unknown>> {
  if (env.contexts.size >= MAX_CONTEXTS) {
    throw new VerbsError("ENOMEM", `at most ${MAX_CONTEXTS} open contexts per frontend`);
  }
  let id = 1;
  while (env.contexts.has(id)) id++;
  const uarIndex = env.driver.allocUar();
  const mfn = env.driver.hca.uarMfn(uarIndex);
  const space: AddressSpace = env.dom0.memory;
  let uarAddr: number;
  try {
    // Bypass: the hypervisor maps the page into the guest, on dom0's request
    // (only then can the guest's own provider ring doorbells). Split: only
    // dom0 maps it; the guest never touches the device.
    uarAddr = env.mode === "bypass"
      ? await env.hv.mapIoPage(env.dom0, { domid: env.frontDomid, mfn })
      : space.mapForeign(mfn);
  } catch (e) {
    env.driver.freeUar(uarIndex);
    throw new VerbsError("ENOMEM", `UAR mapping refused: ${(e as Error).message}`);
  }
  const memory = new GrantedMemory();
  const kernelNs = env.profile.cpu.kernelVerbsNs;
  const uctx = new UContext({
    driver: env.driver,
    memory,
    uarIndex,
    uarAddr,
    enter: () => env.engine.sleep(kernelNs),
  });
  const c: BackContext = { id, uctx, memory, uarIndex, uarAddr, objects: new Map() };
  if (env.mode === "split") {
    c.split = new SplitContext({
      engine: env.engine,
      profile: env.profile,
      space,
      heap: env.heap,
      uarAddr,
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
    uarAddr: env.mode === "bypass" ? uarAddr : 0,
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
 * import { closeContext, type OpEnv } from "./ops.ts";
 * const closeAll = async (env: OpEnv) => {
 *   for (const c of [...env.contexts.values()]) await closeContext(env, c);
 * };
 * ```
 */
export async function closeContext(env: OpEnv, c: BackContext): Promise<void> {
  env.contexts.delete(c.id);
  const errors: unknown[] = [];
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
  try {
    if (env.mode === "split") env.dom0.memory.unmapForeign(c.uarAddr);
    else if (env.hv.ioPageHolder(mfn) === env.frontDomid) {
      // A dead guest's I/O pages were already unmapped by its teardown.
      await env.hv.unmapIoPage(env.dom0, { domid: env.frontDomid, mfn });
    }
  } catch (e) {
    errors.push(e);
  }
  if (env.mode === "split" || env.hv.ioPageHolder(mfn) === undefined) {
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
 * Execute one checked request; returns the response body.
 *
 * @example
 * ```ts
 * import { execute, type OpEnv } from "./ops.ts";
 * import { VibOp } from "../vib/mod.ts";
 * const pd = (env: OpEnv, ctx: number) =>
 *   execute(env, { id: 1, op: VibOp.ALLOC_PD, flags: 0, ctx, handle: 0, body: {}, segs: [] });
 * ```
 */
export async function execute(env: OpEnv, req: VibRequest): Promise<Record<string, unknown>> {
  if (req.op === VibOp.OPEN) return await open(env);
  const c = env.contexts.get(req.ctx);
  if (!c) throw new VerbsError("EBADF", `no context ${req.ctx} on this device`);
  const u = c.uctx, b = req.body, h = req.handle;
  switch (req.op) {
    case VibOp.CLOSE:
      await closeContext(env, c);
      return {};
    case VibOp.QUERY_DEVICE:
      return { ...(await u.queryDevice()) };
    case VibOp.QUERY_PORT:
      return { ...(await u.queryPort(num(b.port, "port"))) };
    case VibOp.ALLOC_PD:
      return { ...(await u.allocPd()) };
    case VibOp.DEALLOC_PD:
      await u.deallocPd(h);
      return {};
    case VibOp.REG_MR: {
      const addr = num(b.addr, "addr"),
        length = num(b.length, "length"),
        access = num(b.access, "access");
      // The device writes only into regions with local write access.
      const buf = await mapFor(env, req, addr, length, (access & 1) === 0);
      let r;
      try {
        r = await withFrames(
          c,
          addr,
          buf.mfns,
          () => u.regMr({ pdHandle: h, addr, length, access }),
        );
      } catch (e) {
        await env.grants.unmap(buf);
        throw e;
      }
      c.objects.set(`mr:${r.mrHandle}`, { buf });
      return { ...r };
    }
    case VibOp.DEREG_MR:
      await u.deregMr(h);
      await release(env, c, `mr:${h}`);
      return {};
    case VibOp.CREATE_CQ: {
      const bufAddr = num(b.bufAddr, "bufAddr"), bufBytes = num(b.bufBytes, "bufBytes");
      const q = await queueBuffer(env, c, req, bufAddr, bufBytes, false);
      let r;
      try {
        r = await withFrames(c, q.regAddr, q.regMfns, () =>
          u.createCq({
            cqe: num(b.cqe, "cqe"),
            logSize: num(b.logSize, "logSize"),
            bufAddr: q.regAddr,
            bufBytes,
            compVector: num(b.compVector, "compVector"),
          }));
      } catch (e) {
        await undoQueue(env, c, q);
        throw e;
      }
      c.objects.set(`cq:${r.cqHandle}`, { buf: q.buf, shadow: q.shadow, num: r.cqn });
      c.split?.addCq(r.cqn, q.buf, q.shadow!, num(b.logSize, "logSize"));
      return { ...r };
    }
    case VibOp.RESIZE_CQ: {
      if (c.split) {
        throw new VerbsError("EOPNOTSUPP", "resize_cq: not supported by the split baseline");
      }
      const bufAddr = num(b.bufAddr, "bufAddr"), bufBytes = num(b.bufBytes, "bufBytes");
      const old = c.objects.get(`cq:${h}`);
      if (!old) throw inval(`no CQ with handle ${h} in this context`);
      const q = await queueBuffer(env, c, req, bufAddr, bufBytes, false);
      let r;
      try {
        r = await withFrames(c, q.regAddr, q.regMfns, () =>
          u.resizeCq({
            cqHandle: h,
            cqe: num(b.cqe, "cqe"),
            logSize: num(b.logSize, "logSize"),
            bufAddr: q.regAddr,
            bufBytes,
            consumerIndex: num(b.consumerIndex, "consumerIndex"),
          }));
      } catch (e) {
        await undoQueue(env, c, q);
        throw e;
      }
      await env.grants.unmap(old.buf);
      c.objects.set(`cq:${h}`, { buf: q.buf, num: old.num });
      return { ...r };
    }
    case VibOp.DESTROY_CQ: {
      await u.destroyCq(h);
      const o = c.objects.get(`cq:${h}`);
      if (o?.num !== undefined) c.split?.removeCq(o.num);
      await release(env, c, `cq:${h}`);
      return {};
    }
    case VibOp.CREATE_QP: {
      const wq = b.wq as WqLayout;
      if (!wq || typeof wq !== "object") throw inval("create_qp: no queue layout");
      const q = await queueBuffer(
        env,
        c,
        req,
        num(wq.bufAddr, "wq.bufAddr"),
        num(wq.bufBytes, "wq.bufBytes"),
        !!c.split,
      );
      const layout: WqLayout = { ...wq, bufAddr: q.regAddr };
      let r;
      try {
        r = await withFrames(c, q.regAddr, q.regMfns, () =>
          u.createQp({
            pdHandle: h,
            type: num(b.type, "type"),
            sendCqHandle: num(b.sendCqHandle, "sendCqHandle"),
            recvCqHandle: num(b.recvCqHandle, "recvCqHandle"),
            srqHandle: b.srqHandle as number | undefined,
            sqSigAll: !!b.sqSigAll,
            cap: b.cap as never,
            wq: layout,
          }));
      } catch (e) {
        await undoQueue(env, c, q);
        throw e;
      }
      c.objects.set(`qp:${r.qpHandle}`, { buf: q.buf, shadow: q.shadow, num: r.qpn });
      c.split?.addQp(r.qpn, q.buf, q.shadow!, layout);
      return { ...r };
    }
    case VibOp.MODIFY_QP: {
      const mask = num(b.mask, "mask");
      const attr = maskedAttr((b.attr ?? {}) as Record<string, unknown>, mask);
      await u.modifyQp({ qpHandle: h, attr, mask });
      if ((mask & QpAttrMask.STATE) && attr.state === QpState.RESET) {
        const o = c.objects.get(`qp:${h}`);
        if (o?.num !== undefined) c.split?.resetQp(o.num);
      }
      return {};
    }
    case VibOp.QUERY_QP: {
      const r = await u.queryQp(h);
      return { attr: r.attr, cap: r.cap };
    }
    case VibOp.DESTROY_QP: {
      await u.destroyQp(h);
      const o = c.objects.get(`qp:${h}`);
      if (o?.num !== undefined) c.split?.removeQp(o.num);
      await release(env, c, `qp:${h}`);
      return {};
    }
    case VibOp.CREATE_SRQ: {
      const bufAddr = num(b.bufAddr, "bufAddr"), bufBytes = num(b.bufBytes, "bufBytes");
      const q = await queueBuffer(env, c, req, bufAddr, bufBytes, !!c.split);
      let r;
      try {
        r = await withFrames(c, q.regAddr, q.regMfns, () =>
          u.createSrq({
            pdHandle: h,
            maxWr: num(b.maxWr, "maxWr"),
            maxSge: num(b.maxSge, "maxSge"),
            srqLimit: num(b.srqLimit, "srqLimit"),
            bufAddr: q.regAddr,
            bufBytes,
            logSize: num(b.logSize, "logSize"),
            logStride: num(b.logStride, "logStride"),
          }));
      } catch (e) {
        await undoQueue(env, c, q);
        throw e;
      }
      c.objects.set(`srq:${r.srqHandle}`, { buf: q.buf, shadow: q.shadow, num: r.srqn });
      c.split?.addSrq(
        r.srqn,
        q.buf,
        q.shadow!,
        num(b.logSize, "logSize"),
        num(b.logStride, "logStride"),
      );
      return { ...r };
    }
    case VibOp.MODIFY_SRQ:
      await u.modifySrq({
        srqHandle: h,
        srqLimit: b.srqLimit as number | undefined,
        maxWr: b.maxWr as number | undefined,
      });
      return {};
    case VibOp.DESTROY_SRQ: {
      await u.destroySrq(h);
      const o = c.objects.get(`srq:${h}`);
      if (o?.num !== undefined) c.split?.removeSrq(o.num);
      await release(env, c, `srq:${h}`);
      return {};
    }
    case VibOp.CREATE_AH:
      return { ...(await u.createAh({ pdHandle: h, attr: (b.attr ?? {}) as never })) };
    case VibOp.DESTROY_AH:
      await u.destroyAh(h);
      return {};
    case VibOp.DOORBELL:
      await c.split!.doorbell(
        num(b.offset, "offset"),
        num(b.word0, "word0"),
        num(b.word1, "word1"),
      );
      return {};
    case VibOp.POLL_CQ:
      return {
        copied: await c.split!.poll(num(b.cqn, "cqn"), num(b.consumerIndex, "consumerIndex")),
      };
  }
  throw new VerbsError("ENOSYS", `op ${req.op} is not a vibfront request this backend knows`);
}

/**
 * The CQN of CQ handle `h` in context `c`, for split-mode event delivery.
 *
 * @example
 * ```ts
 * import { cqnOf } from "./ops.ts";
 * import type { BackContext } from "./context.ts";
 * const first = (c: BackContext) => cqnOf(c, 1);
 * ```
 */
export function cqnOf(c: BackContext, h: number): number | undefined {
  return c.objects.get(`cq:${h}`)?.num;
}

export type { ObjectBacking };
