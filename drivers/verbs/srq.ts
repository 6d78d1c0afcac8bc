/**
 * `Srq` (`struct ibv_srq`): a shared receive queue. Its limit arms a
 * one-shot SRQ_LIMIT_REACHED async event for when fewer WQEs remain
 * (IBTA §10.2.9.3); the event disarms it.
 *
 * @module
 */
import { VerbsError } from "../uapi/errors.ts";
import { EventAcks } from "./event_acks.ts";
import { postEach } from "./wr_check.ts";
import type { Pd } from "./pd.ts";
import type { ProviderSrq } from "./provider.ts";
import type { RecvWr, SrqAttr } from "../uapi/types.ts";

/**
 * A shared receive queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import type { Srq } from "./srq.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const srq: Srq = await (await (await host.os.openDevice()).allocPd()).createSrq({ maxWr: 16, maxSge: 1 });
 *   srq.postRecv([{ wrId: 1n, sgList: [] }, { wrId: 2n, sgList: [] }]);
 *   await srq.modify({ srqLimit: 1 }); // an event once fewer than 1 WQE is left
 *   assert.deepEqual([srq.outstanding, (await srq.query()).srqLimit], [2, 1]);
 *   await assert.rejects(srq.modify({ maxWr: 32 }), /EINVAL/); // no resize, as mthca
 * });
 * ```
 */
export class Srq {
  #dead = false;
  #limit: number;
  /** Most WQEs outstanding (what was granted). */
  readonly maxWr: number;
  /** Most SGEs per WQE. */
  readonly maxSge: number;
  /** @internal its async events reported by `getAsyncEvent` and acknowledged */
  readonly asyncAcks = new EventAcks("async event", "ackAsyncEvent");

  /**
   * Made by `Pd.createSrq`.
   *
   * @param pd protection domain
   * @param handle kernel handle
   * @param psrq the provider's ring
   * @param attr creation attributes
   * @param bufAddr ring buffer
   */
  constructor(
    readonly pd: Pd,
    readonly handle: number,
    readonly psrq: ProviderSrq,
    attr: SrqAttr,
    readonly bufAddr: number,
  ) {
    this.maxWr = attr.maxWr;
    this.maxSge = attr.maxSge;
    // Not armed at creation, whatever `attr.srqLimit` says (mthca_alloc_srq ignores it).
    this.#limit = 0;
  }

  /** SRQ number. */
  get srqn(): number {
    return this.psrq.srqn;
  }

  /**
   * The armed limit as the library last learned it (0 when disarmed): set by
   * {@link modify}, cleared when the limit event arrives, refreshed by
   * {@link query}. The device disarms the limit as it fires, before the
   * event reaches the program: {@link query} asks the device.
   */
  get srqLimit(): number {
    return this.#limit;
  }

  /** Receive WQEs posted and not yet consumed by a completion the application polled. */
  get outstanding(): number {
    return this.psrq.outstanding;
  }

  #live(what: string): void {
    if (this.#dead) throw new VerbsError("EINVAL", `${what}: SRQ ${this.srqn} was destroyed`);
  }

  /** `ibv_post_srq_recv` (one WR or several in order). */
  postRecv(wr: RecvWr | readonly RecvWr[]): void {
    this.#live("post_srq_recv");
    postEach(this.psrq, this.psrq.postRecv, wr, "post_srq_recv SRQ", this.psrq.srqn, false);
  }

  /** `ibv_modify_srq` with `IBV_SRQ_LIMIT` (resizing is not supported: EINVAL). */
  async modify(attr: { srqLimit?: number; maxWr?: number }): Promise<void> {
    this.#live("modify_srq");
    const ctx = this.pd.context;
    await ctx.enter();
    if (typeof attr !== "object" || attr === null) {
      throw new VerbsError("EINVAL", "modify_srq: give the attributes to set, { srqLimit }");
    }
    await ctx.file.modifySrq({
      srqHandle: this.handle,
      srqLimit: attr.srqLimit,
      maxWr: attr.maxWr,
    });
    if (attr.srqLimit !== undefined) this.#limit = attr.srqLimit;
  }

  /**
   * `ibv_query_srq`: one kernel call that reads the SRQ from the device, as
   * libmthca's mthca_query_srq (ibv_cmd_query_srq) and the kernel's
   * mthca_query_srq (QUERY_SRQ: `srq_limit` is the SRQ context's
   * limit_watermark) do. `srqLimit` is 0 once the limit fired, even before
   * its event reached the program, until {@link modify} arms it again
   * (ibv_query_srq(3): "If the value returned for srq_limit is 0, then the
   * SRQ limit reached ("low watermark") event is not (or no longer) armed").
   */
  async query(): Promise<SrqAttr> {
    this.#live("query_srq");
    const ctx = this.pd.context;
    await ctx.enter();
    const r = await ctx.file.querySrq(this.handle);
    this.#limit = r.srqLimit;
    return { maxWr: r.maxWr, maxSge: r.maxSge, srqLimit: r.srqLimit };
  }

  /**
   * `ibv_destroy_srq`: EBUSY while a QP uses it. Once the kernel destroyed it
   * (its unread async events go with it), waits until every async event
   * `getAsyncEvent` returned for it is acknowledged with `ctx.ackAsyncEvent`
   * (ibv_cmd_destroy_srq waits until `events_completed` equals the kernel's
   * `events_reported`).
   */
  async destroy(): Promise<void> {
    this.#live("destroy_srq");
    const ctx = this.pd.context;
    await ctx.enter();
    await ctx.file.destroySrq(this.handle);
    ctx.srqs.delete(this.handle);
    this.released();
    await this.asyncAcks.settled(ctx.env, `destroy_srq SRQ ${this.srqn}`);
  }

  /** @internal the limit event fired and disarmed the limit */
  limitFired(): void {
    this.#limit = 0;
  }

  /** @internal the kernel object is gone */
  released(): void {
    if (this.#dead) return;
    this.#dead = true;
    this.pd.context.dropAsyncEvents(this);
    this.pd.context.env.memory.free(this.bufAddr);
  }
}
