/**
 * Queue pairs and shared receive queues on a real HCA. Posting calls the
 * provider's `post_send`/`post_recv` straight from JS: the provider writes
 * the WQE into the queue buffer and rings the doorbell on the UAR page —
 * the same no-kernel, no-hypervisor path a bypass guest takes.
 *
 * @module
 */
import { badWrError, firstBadWr } from "../wr_check.ts";
import {
  cUint,
  getU64,
  IBV_QP,
  IBV_QP_ATTR,
  IBV_QP_INIT_ATTR,
  IBV_SRQ,
  IBV_SRQ_INIT_ATTR,
  pointerValue,
  type PostFn,
  put,
  scratch,
  viewOf,
} from "../../../hca/ffi/mod.ts";
import { QpAttrMask, type QpState, type QpType } from "../../uapi/enums.ts";
import { VerbsError, withBadWr } from "../../uapi/errors.ts";
import { boolArg } from "../args.ts";
import type { QpAttr, QpCap, RecvWr, SendWr, SrqAttr } from "../../uapi/types.ts";
import { decodeCap, decodeQpAttr, encodeQpAttr, encodeQpInitAttr } from "./attrs.ts";
import type { RealCq } from "./cq.ts";
import { attach, destroyObject, pointerOf, type RealDevice } from "./device.ts";
import { destroyAffiliated, registerAffiliated, unregisterAffiliated } from "./async_events.ts";
import { errnoCode, verbs } from "./errors.ts";
import { type EncodedChain, encodeRecvWrs, encodeSendWrs, failedIndex } from "./wr.ts";

const ALL_ATTRS = Object.values(QpAttrMask).reduce((a, b) => a | b, 0);

function post(
  fn: PostFn | null,
  verb: string,
  ptr: Deno.PointerObject,
  c: EncodedChain,
  wrs: readonly { wrId: bigint }[],
): void {
  if (!fn) throw new VerbsError("EOPNOTSUPP", `${verb}: the provider does not implement it`);
  const bad = scratch(8);
  const rc = fn.call(ptr, c.buf, bad);
  if (rc === 0) return;
  const i = failedIndex(c, getU64(viewOf(bad), { offset: 0, size: 8 }));
  const which = i >= 0 ? `wr[${i}] (wrId ${wrs[i].wrId}) and later WRs` : "the WR list";
  const e = new VerbsError(
    errnoCode(Math.abs(rc)),
    `${verb}: ${which} refused by the provider (errno ${Math.abs(rc)}); earlier WRs were posted`,
  );
  if (i >= 0) e.badWr = i;
  throw e;
}

/**
 * Post `wr` (one WR or a list) through the provider up to its first WR with
 * a field no C field could hold, then refuse that one with its `badWr`: as
 * the provider refuses a WR it cannot post, the ones before it are posted.
 */
function postUpToBad<W extends { wrId: bigint }>(
  wr: W | readonly W[],
  send: boolean,
  verb: string,
  fn: PostFn | null,
  ptr: Deno.PointerObject,
  encode: (wrs: readonly W[]) => EncodedChain,
): void {
  const wrs: readonly W[] = Array.isArray(wr) ? wr : [wr as W];
  const bad = firstBadWr(wrs, send);
  const good = bad < 0 ? wrs : wrs.slice(0, bad);
  if (good.length > 0) {
    let chain: EncodedChain;
    try {
      chain = encode(good);
    } catch (e) {
      // The encoder names the WR it refused (a missing operand, an AH of another context…):
      // that one is the list's badWr like any other, and those before it are posted.
      if (!(e instanceof VerbsError) || e.badWr === undefined) throw e;
      const i = e.badWr;
      if (i > 0) post(fn, verb, ptr, encode(good.slice(0, i)), good);
      const named = new VerbsError(e.code, `${verb}: ${e.message.slice(e.code.length + 2)}`);
      throw withBadWr(named, i, wrs.length);
    }
    post(fn, verb, ptr, chain, good);
  }
  if (bad >= 0) throw badWrError(wr, bad, verb, send);
}

/**
 * What `pd.createQp` takes (API.md).
 *
 * @example
 * ```ts
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { QpType } from "../../uapi/enums.ts";
 * import { listRealDevices, openRealDevice } from "./open.ts";
 * import type { RealQpInit } from "./qp.ts";
 * if (listRealDevices().length > 0) {
 *   const ctx = await openRealDevice();
 *   const pd = await ctx.allocPd();
 *   const cq = await ctx.createCq(8);
 *   const cap = { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 };
 *   const init: RealQpInit = { type: QpType.UD, sendCq: cq, recvCq: cq, cap };
 *   const qp = await pd.createQp(init);
 *   assert.equal(qp.type, QpType.UD);
 *   await ctx.close();
 * } else {
 *   // No RDMA device here: ENODEV saying why.
 *   await assert.rejects(openRealDevice(), { name: "VerbsError", code: "ENODEV" });
 * }
 * ```
 */
export interface RealQpInit {
  /** `QpType.RC`, `UC` or `UD`. */
  type: QpType;
  /** CQ for send completions. */
  sendCq: RealCq;
  /** CQ for receive completions. */
  recvCq: RealCq;
  /** Shared receive queue instead of the QP's own. */
  srq?: RealSrq;
  /** Requested capacities (the granted ones are `qp.cap`). */
  cap: QpCap;
  /** Every send WR completes signalled. */
  sqSigAll?: boolean;
}

/**
 * A queue pair (`struct ibv_qp`).
 *
 * Its methods are the model's verbs (API.md) on a real device;
 * `tests/ffi_fake_provider_test.ts` drives them through a stand-in provider.
 * The example uses a device where there is one; elsewhere opening one says why not.
 *
 * @example
 * ```ts
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { listRealDevices, openRealDevice } from "./open.ts";
 * import { QpState, QpType } from "../../uapi/enums.ts";
 * import { RealQp } from "./qp.ts";
 * if (listRealDevices().length > 0) {
 *   const ctx = await openRealDevice();
 *   const pd = await ctx.allocPd();
 *   const cq = await ctx.createCq(8);
 *   const cap = { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 };
 *   const qp = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
 *   assert.ok(qp instanceof RealQp);
 *   assert.equal(qp.state, QpState.RESET);
 *   assert.ok(qp.cap.maxSendWr >= 4);
 *   await qp.destroy();
 *   await ctx.close();
 * } else {
 *   // No RDMA device here: ENODEV saying why.
 *   await assert.rejects(openRealDevice(), { name: "VerbsError", code: "ENODEV" });
 * }
 * ```
 */
export class RealQp {
  /** QP number (what the peer puts in `destQpNum`). */
  readonly qpNum: number;
  /** Transport type. */
  readonly type: QpType;
  /** Capacities the provider granted. */
  readonly cap: Required<QpCap>;
  /** Kernel handle of the QP. */
  readonly handle: number;
  #dev: RealDevice;
  #addr: bigint;
  #port = 1;

  /** Made by `RealPd.createQp`. */
  constructor(dev: RealDevice, pd: Deno.PointerObject, init: RealQpInit) {
    this.#dev = dev;
    if (typeof init !== "object" || init === null) {
      throw new VerbsError("EINVAL", "createQp: give { type, sendCq, recvCq, cap }");
    }
    // ibv_create_qp(3) names both CQs: a NULL one reaches the kernel as CQ handle 0 (another CQ,
    // or EINVAL) and a provider may dereference it later (libmthca's mthca_lock_cqs at destroy).
    // The model refuses it the same way (drivers/verbs/pd.ts createQp).
    for (const name of ["sendCq", "recvCq"] as const) {
      if (!init[name]) throw new VerbsError("EINVAL", `create_qp: ${name} is missing`);
    }
    const addr = (o: unknown, what: string) =>
      o === undefined || o === null ? 0n : Deno.UnsafePointer.value(pointerOf(o, dev, what));
    const sqSigAll = boolArg("create_qp", "sqSigAll", init.sqSigAll);
    const buf = encodeQpInitAttr(init.type, init.cap, sqSigAll, [
      addr(init.sendCq, "sendCq"),
      addr(init.recvCq, "recvCq"),
      addr(init.srq, "srq"),
    ]);
    const ptr = verbs(() => dev.lib.must(dev.lib.symbols.ibv_create_qp(pd, buf), "ibv_create_qp"));
    this.qpNum = cUint(ptr, IBV_QP.fields.qp_num);
    this.handle = cUint(ptr, IBV_QP.fields.handle);
    this.type = init.type;
    this.cap = decodeCap(viewOf(buf), IBV_QP_INIT_ATTR.fields.cap.offset);
    this.#addr = pointerValue(ptr);
    registerAffiliated(dev, this.#addr, this);
    attach(this, dev, "qp", ptr, () => this.#destroy());
  }

  /** Current state as libibverbs tracks it (updated by each successful modify). */
  get state(): QpState {
    return cUint(pointerOf(this, this.#dev, "qp"), IBV_QP.fields.state) as QpState;
  }

  /** `ibv_modify_qp`; the attribute mask is the set of keys given. */
  modify(attr: QpAttr): Promise<void> {
    return Promise.resolve().then(() => {
      const ptr = pointerOf(this, this.#dev, "qp");
      const { buf, mask } = encodeQpAttr(attr, this.#port);
      verbs(() =>
        this.#dev.lib.check(this.#dev.lib.symbols.ibv_modify_qp(ptr, buf, mask), "ibv_modify_qp")
      );
      if (attr.port !== undefined) this.#port = attr.port;
    });
  }

  /** `ibv_query_qp` of every attribute (`pathMtu` as an `Mtu` value). */
  query(): Promise<Required<Omit<QpAttr, "altPath">>> {
    return Promise.resolve().then(() => {
      const ptr = pointerOf(this, this.#dev, "qp");
      const attr = scratch(IBV_QP_ATTR.sizeof);
      const init = scratch(IBV_QP_INIT_ATTR.sizeof);
      verbs(() =>
        this.#dev.lib.check(
          this.#dev.lib.symbols.ibv_query_qp(ptr, attr, ALL_ATTRS, init),
          "ibv_query_qp",
        )
      );
      return decodeQpAttr(attr);
    });
  }

  /** `ibv_attach_mcast(3)`: the kernel's and the provider's rules and errno. */
  attachMcast(gid: Uint8Array, lid: number): Promise<void> {
    return this.#mcast("ibv_attach_mcast", gid, lid);
  }

  /** `ibv_detach_mcast(3)`. */
  detachMcast(gid: Uint8Array, lid: number): Promise<void> {
    return this.#mcast("ibv_detach_mcast", gid, lid);
  }

  #mcast(fn: "ibv_attach_mcast" | "ibv_detach_mcast", gid: Uint8Array, lid: number): Promise<void> {
    return Promise.resolve().then(() => {
      // union ibv_gid is 16 bytes and the LID a uint16_t: nothing else can be passed to C.
      if (!(gid instanceof Uint8Array) || gid.length !== 16) {
        throw new VerbsError("EINVAL", `${fn}: gid must be a Uint8Array of 16 bytes`);
      }
      if (!Number.isInteger(lid) || lid < 0 || lid > 0xffff) {
        throw new VerbsError("EINVAL", `${fn}: lid must be an integer 0..0xFFFF, got ${lid}`);
      }
      const ptr = pointerOf(this, this.#dev, "qp");
      const buf = new Uint8Array(gid);
      verbs(() => this.#dev.lib.check(this.#dev.lib.symbols[fn](ptr, buf, lid), fn));
    });
  }

  /** Post one WR or a chain; throws VerbsError naming the first refused WR. */
  postSend(wr: SendWr | readonly SendWr[]): void {
    const ptr = pointerOf(this, this.#dev, "qp");
    postUpToBad(
      wr,
      true,
      "post_send",
      this.#dev.ops.postSend,
      ptr,
      (wrs) =>
        encodeSendWrs(
          wrs,
          this.type,
          (ah) => Deno.UnsafePointer.value(pointerOf(ah, this.#dev, "wr.ah")),
        ),
    );
  }

  /** Post one receive WR or a chain. */
  postRecv(wr: RecvWr | readonly RecvWr[]): void {
    const ptr = pointerOf(this, this.#dev, "qp");
    postUpToBad(wr, false, "post_recv", this.#dev.ops.postRecv, ptr, encodeRecvWrs);
  }

  #destroy(): void {
    destroyObject(
      this,
      this.#dev,
      "qp",
      "ibv_destroy_qp",
      (p) => this.#dev.lib.symbols.ibv_destroy_qp(p),
    );
    unregisterAffiliated(this.#dev, this.#addr);
  }

  /**
   * `ibv_destroy_qp`. Resolves only once every async event `getAsyncEvent`
   * returned for this QP is acknowledged, as ibv_destroy_qp returns only then
   * (libibverbs ibv_cmd_destroy_qp); the C call is made after the last
   * acknowledgement (made before it, it would block the thread that has to
   * acknowledge; while a `getAsyncEvent` is in C it runs on a worker thread,
   * as that read may hold an event of this QP). Events the device raised and
   * nobody read are not waited for: the kernel drops them with the QP.
   */
  async destroy(): Promise<void> {
    pointerOf(this, this.#dev, "qp");
    await destroyAffiliated(
      this.#dev,
      this,
      "qp",
      "ibv_destroy_qp",
      () => this.#destroy(),
      (p) => this.#dev.lib.symbols.ibv_destroy_qp_off_thread(p),
      () => unregisterAffiliated(this.#dev, this.#addr),
    );
  }
}

/**
 * A shared receive queue (`struct ibv_srq`).
 *
 * Its methods are the model's verbs (API.md) on a real device;
 * `tests/ffi_fake_provider_test.ts` drives them through a stand-in provider.
 * The example uses a device where there is one; elsewhere opening one says why not.
 *
 * @example
 * ```ts
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { listRealDevices, openRealDevice } from "./open.ts";
 * import { RealSrq } from "./qp.ts";
 * if (listRealDevices().length > 0) {
 *   const ctx = await openRealDevice();
 *   const pd = await ctx.allocPd();
 *   const srq = await pd.createSrq({ maxWr: 4, maxSge: 1 });
 *   assert.ok(srq instanceof RealSrq && srq.attr.maxWr >= 4);
 *   await srq.destroy();
 *   await ctx.close();
 * } else {
 *   // No RDMA device here: ENODEV saying why.
 *   await assert.rejects(openRealDevice(), { name: "VerbsError", code: "ENODEV" });
 * }
 * ```
 */
export class RealSrq {
  /** Attributes the provider granted. */
  readonly attr: Required<SrqAttr>;
  /** Kernel handle of the SRQ. */
  readonly handle: number;
  #dev: RealDevice;
  #addr: bigint;

  /** Made by `RealPd.createSrq`. */
  constructor(dev: RealDevice, pd: Deno.PointerObject, attr: SrqAttr) {
    this.#dev = dev;
    const F = IBV_SRQ_INIT_ATTR.fields;
    const buf = scratch(IBV_SRQ_INIT_ATTR.sizeof);
    const v = viewOf(buf);
    if (typeof attr !== "object" || attr === null) {
      throw new VerbsError("EINVAL", "createSrq: give { maxWr, maxSge, srqLimit? }");
    }
    // struct ibv_srq_attr's max_wr, max_sge and srq_limit are uint32_t (verbs.h): a value that
    // C would truncate (2^32 + 1 is 1) or wrap (-1) is refused here, as the model refuses it.
    // 0 is the provider's to judge (API.md SrqAttr: the model grants 0, as mthca_alloc_srq).
    const fields = [
      ["maxWr", F["attr.max_wr"]],
      ["maxSge", F["attr.max_sge"]],
      ["srqLimit", F["attr.srq_limit"]],
    ] as const;
    for (const [k, f] of fields) {
      const x = k === "srqLimit" ? attr[k] ?? 0 : attr[k];
      if (!Number.isInteger(x) || x < 0 || x > 0xffffffff) {
        throw new VerbsError(
          "EINVAL",
          `createSrq: ${k} must be an integer in 0..4294967295, got ${String(x)}`,
        );
      }
      put(v, f, x);
    }
    const ptr = verbs(() =>
      dev.lib.must(dev.lib.symbols.ibv_create_srq(pd, buf), "ibv_create_srq")
    );
    this.attr = {
      maxWr: v.getUint32(F["attr.max_wr"].offset, true),
      maxSge: v.getUint32(F["attr.max_sge"].offset, true),
      srqLimit: v.getUint32(F["attr.srq_limit"].offset, true),
    };
    this.handle = cUint(ptr, IBV_SRQ.fields.handle);
    this.#addr = pointerValue(ptr);
    registerAffiliated(dev, this.#addr, this);
    attach(this, dev, "srq", ptr, () => this.#destroy());
  }

  /** Post one receive WR or a chain to the shared queue. */
  postRecv(wr: RecvWr | readonly RecvWr[]): void {
    const ptr = pointerOf(this, this.#dev, "srq");
    postUpToBad(wr, false, "post_srq_recv", this.#dev.ops.postSrqRecv, ptr, encodeRecvWrs);
  }

  #destroy(): void {
    destroyObject(
      this,
      this.#dev,
      "srq",
      "ibv_destroy_srq",
      (p) => this.#dev.lib.symbols.ibv_destroy_srq(p),
    );
    unregisterAffiliated(this.#dev, this.#addr);
  }

  /**
   * `ibv_destroy_srq` (EBUSY while a QP uses it). Like `RealQp.destroy`, it
   * resolves only once every async event returned for the SRQ is
   * acknowledged (libibverbs ibv_cmd_destroy_srq), and calls C only then.
   */
  async destroy(): Promise<void> {
    pointerOf(this, this.#dev, "srq");
    await destroyAffiliated(
      this.#dev,
      this,
      "srq",
      "ibv_destroy_srq",
      () => this.#destroy(),
      (p) => this.#dev.lib.symbols.ibv_destroy_srq_off_thread(p),
      () => unregisterAffiliated(this.#dev, this.#addr),
    );
  }
}
