/**
 * `Pd` (`struct ibv_pd`): a protection domain and the objects made in it —
 * memory regions, QPs, SRQs, address handles.
 *
 * @module
 */
import { Ah } from "./ah.ts";
import type { Context } from "./context.ts";
import type { Cq } from "./cq.ts";
import { VerbsError } from "../uapi/errors.ts";
import { boolArg } from "./args.ts";
import { Mr } from "./mr.ts";
import { Qp } from "./qp.ts";
import { Srq } from "./srq.ts";
import type { AhAttr, QpCap, SrqAttr, WorkCompletion } from "../uapi/types.ts";
import { qpLayout, srqLayout } from "../uapi/wq_layout.ts";

/**
 * QP creation attributes (`struct ibv_qp_init_attr`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, QpType } from "../../mod.ts";
 * import type { QpInitAttr } from "./pd.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   const cq = await ctx.createCq(16);
 *   const cap = { maxSendWr: 10, maxRecvWr: 10, maxSendSge: 1, maxRecvSge: 1 };
 *   const init: QpInitAttr = { type: QpType.UD, sendCq: cq, recvCq: cq, cap };
 *   const qp = await (await ctx.allocPd()).createQp(init);
 *   assert.ok(qp.cap.maxSendWr >= 10); // at least what was asked for
 * });
 * ```
 */
export interface QpInitAttr {
  /** `QpType`. */
  type: number;
  /** The CQ of send completions. */
  sendCq: Cq;
  /** The CQ of receive completions. */
  recvCq: Cq;
  /** Take receive WQEs from this SRQ instead of an own receive queue. */
  srq?: Srq;
  /** Requested capacities (the granted ones are `qp.cap`). */
  cap: QpCap;
  /** Every send WR generates a completion (`true` or `false`: anything else is EINVAL). */
  sqSigAll?: boolean;
}

/**
 * A protection domain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Access, Cluster } from "../../mod.ts";
 * import type { Pd } from "./pd.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const pd: Pd = await (await host.os.openDevice()).allocPd();
 *   const mr = await pd.regMr(host.os.memory.alloc(4096, 4096), 4096, Access.LOCAL_WRITE);
 *   await assert.rejects(pd.dealloc(), /EBUSY/); // an MR still uses it
 *   await mr.dereg();
 *   await pd.dealloc();
 * });
 * ```
 */
export class Pd {
  #dead = false;

  /**
   * Made by `Context.allocPd`.
   *
   * @param context the owning context
   * @param handle kernel handle
   * @param pdn protection domain number
   */
  constructor(readonly context: Context, readonly handle: number, readonly pdn: number) {}

  #live(what: string): void {
    if (this.#dead) throw new VerbsError("EINVAL", `${what}: the PD was deallocated`);
  }

  /** `ibv_reg_mr`: register `[addr, addr+length)` of the domain's memory. */
  async regMr(addr: number, length: number, access: number): Promise<Mr> {
    this.#live("reg_mr");
    await this.context.enter();
    const r = await this.context.file.regMr({ pdHandle: this.handle, addr, length, access });
    return new Mr(this, r.mrHandle, r.lkey, r.rkey, addr, length, access);
  }

  /** `ibv_create_qp`: the library allocates the queue buffer, the kernel registers it. */
  async createQp(init: QpInitAttr): Promise<Qp> {
    this.#live("create_qp");
    const ctx = this.context;
    await ctx.enter();
    // ibv_create_qp(3): the init attributes name both CQs and carry the capacities.
    if (typeof init !== "object" || init === null) {
      throw new VerbsError("EINVAL", "create_qp: give { type, sendCq, recvCq, cap }");
    }
    for (const [name, cq] of [["sendCq", init.sendCq], ["recvCq", init.recvCq]] as const) {
      if (!cq) throw new VerbsError("EINVAL", `create_qp: ${name} is missing`);
      if (cq.context !== ctx) {
        throw new VerbsError("EINVAL", `create_qp: ${name} of another context`);
      }
    }
    if (typeof init.cap !== "object" || init.cap === null) {
      throw new VerbsError("EINVAL", "create_qp: cap (the queue capacities) is missing");
    }
    if (init.srq !== undefined && init.srq !== null && !(init.srq instanceof Srq)) {
      throw new VerbsError("EINVAL", "create_qp: srq is not an SRQ (give one pd.createSrq made)");
    }
    if (init.srq && init.srq.pd.context !== ctx) {
      throw new VerbsError("EINVAL", "create_qp: SRQ of another context");
    }
    // The QP type is the kernel's to judge (libibverbs and libmthca pass any type on to
    // ib_uverbs' create_qp, whose errno — EPERM, EOPNOTSUPP or EINVAL — the caller gets).
    const cap: QpCap = {
      maxSendWr: init.cap.maxSendWr,
      maxRecvWr: init.srq ? 0 : init.cap.maxRecvWr,
      maxSendSge: init.cap.maxSendSge,
      maxRecvSge: init.srq ? 0 : init.cap.maxRecvSge,
      maxInlineData: init.cap.maxInlineData ?? 0,
    };
    const dev = ctx.queryDevice();
    for (
      const [k, v, max] of [
        ["maxSendWr", cap.maxSendWr, dev.maxQpWr],
        ["maxRecvWr", cap.maxRecvWr, dev.maxQpWr],
        ["maxSendSge", cap.maxSendSge, dev.maxSge],
        ["maxRecvSge", cap.maxRecvSge, dev.maxSge],
        ["maxInlineData", cap.maxInlineData!, dev.maxInlineData],
      ] as const
    ) {
      if (!Number.isInteger(v) || v < 0 || v > max) {
        const got = typeof v === "string" ? JSON.stringify(v) : String(v);
        throw new VerbsError("EINVAL", `create_qp: cap.${k} ${got} outside 0..${max}`);
      }
    }
    const sqSigAll = boolArg("create_qp", "sqSigAll", init.sqSigAll);
    const wq = qpLayout(init.type, cap, !!init.srq);
    wq.bufAddr = ctx.allocBuffer(wq.bufBytes);
    let r;
    try {
      r = await ctx.file.createQp({
        pdHandle: this.handle,
        type: init.type,
        sendCqHandle: init.sendCq.handle,
        recvCqHandle: init.recvCq.handle,
        srqHandle: init.srq?.handle,
        sqSigAll,
        cap,
        wq,
      });
    } catch (e) {
      ctx.env.memory.free(wq.bufAddr);
      throw e;
    }
    const pqp = ctx.provider.addQp({
      qpn: r.qpn,
      type: init.type,
      sqSigAll,
      bufAddr: wq.bufAddr,
      sqOffset: wq.sqOffset,
      sqSize: wq.sqSize,
      sqStride: wq.sqStride,
      rqOffset: wq.rqOffset,
      rqSize: wq.rqSize,
      rqStride: wq.rqStride,
      // What the kernel granted (ibv_cmd_create_qp copies the response's caps into
      // qp_init_attr->cap; libmthca's mthca_create_qp sizes its queues from them).
      maxSendWr: r.cap.maxSendWr,
      maxRecvWr: r.cap.maxRecvWr,
      maxSendSge: r.cap.maxSendSge,
      maxRecvSge: r.cap.maxRecvSge,
      maxInline: r.cap.maxInlineData ?? 0,
      sendCq: init.sendCq.pcq,
      recvCq: init.recvCq.pcq,
      srq: init.srq?.psrq,
    });
    ctx.nomad?.bindQp(r.qpHandle, pqp);
    const qp = new Qp(this, r.qpHandle, pqp, init, r.cap, wq.bufAddr);
    ctx.qps.set(r.qpHandle, qp);
    return qp;
  }

  /** `ibv_create_srq`. */
  async createSrq(attr: SrqAttr): Promise<Srq> {
    this.#live("create_srq");
    const ctx = this.context;
    await ctx.enter();
    if (typeof attr !== "object" || attr === null) {
      throw new VerbsError("EINVAL", "create_srq: give the SRQ's attributes { maxWr, maxSge }");
    }
    const dev = ctx.queryDevice();
    // mthca_alloc_srq checks only the maxima (max_srq_wqes, max_srq_sge): an SRQ of no WQEs or
    // no scatter entries is granted, as a QP's zero-sized queue is (it just takes nothing).
    if (!Number.isInteger(attr.maxWr) || attr.maxWr < 0 || attr.maxWr > dev.maxSrqWr) {
      throw new VerbsError("EINVAL", `create_srq: maxWr ${attr.maxWr} outside 0..${dev.maxSrqWr}`);
    }
    if (!Number.isInteger(attr.maxSge) || attr.maxSge < 0 || attr.maxSge > dev.maxSrqSge) {
      throw new VerbsError(
        "EINVAL",
        `create_srq: maxSge ${attr.maxSge} outside 0..${dev.maxSrqSge}`,
      );
    }
    const l = srqLayout(attr.maxWr, attr.maxSge);
    const addr = ctx.allocBuffer(l.bytes);
    let r;
    try {
      r = await ctx.file.createSrq({
        pdHandle: this.handle,
        maxWr: attr.maxWr,
        maxSge: attr.maxSge,
        srqLimit: attr.srqLimit ?? 0,
        bufAddr: addr,
        bufBytes: l.bytes,
        logSize: l.logSize,
        logStride: l.logStride,
      });
    } catch (e) {
      ctx.env.memory.free(addr);
      throw e;
    }
    const psrq = ctx.provider.addSrq({
      srqn: r.srqn,
      addr,
      logSize: l.logSize,
      logStride: l.logStride,
      maxWr: attr.maxWr,
      maxSge: attr.maxSge,
    });
    const srq = new Srq(this, r.srqHandle, psrq, attr, addr);
    ctx.srqs.set(r.srqHandle, srq);
    return srq;
  }

  /** `ibv_create_ah`: an address handle for UD sends. */
  async createAh(attr: AhAttr): Promise<Ah> {
    this.#live("create_ah");
    await this.context.enter();
    if (typeof attr !== "object" || attr === null) {
      throw new VerbsError("EINVAL", "create_ah: give the address vector { dlid, … }");
    }
    const r = await this.context.file.createAh({ pdHandle: this.handle, attr });
    return new Ah(this, r.ahHandle, attr);
  }

  /**
   * `ibv_create_ah_from_wc`: an address handle that answers the datagram `wc`
   * completed, on port `portNum` (`Context.initAhFromWc`, then `createAh`);
   * `grh` is the 40 bytes at the head of its receive buffer.
   */
  async createAhFromWc(
    wc: WorkCompletion,
    grh: Uint8Array | undefined,
    portNum: number,
  ): Promise<Ah> {
    this.#live("create_ah");
    return await this.createAh(await this.context.initAhFromWc(portNum, wc, grh));
  }

  /** `ibv_dealloc_pd`: EBUSY while MRs, QPs, SRQs or AHs use it. */
  async dealloc(): Promise<void> {
    this.#live("dealloc_pd");
    await this.context.enter();
    await this.context.file.deallocPd(this.handle);
    this.#dead = true;
  }
}
