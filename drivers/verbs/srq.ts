/**
 * `Srq` (`struct ibv_srq`): a shared receive queue. Its limit arms a
 * one-shot SRQ_LIMIT_REACHED async event for when fewer WQEs remain
 * (IBTA §10.2.9.3); the event disarms it.
 *
 * @module
 */
import { VerbsError } from "../uapi/errors.ts";
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
 *   assert.deepEqual([srq.outstanding, srq.query().srqLimit], [2, 1]);
 *   await assert.rejects(srq.modify({ maxWr: 32 }), /EINVAL/); // no resize, as mthca
 * });
 * ```
 */
export class Srq {
  #dead = false;
  #limit: number;
  readonly maxWr: number;
  readonly maxSge: number;

  /**
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

  /** The armed limit (0 when disarmed). */
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
    await ctx.file.modifySrq({
      srqHandle: this.handle,
      srqLimit: attr.srqLimit,
      maxWr: attr.maxWr,
    });
    if (attr.srqLimit !== undefined) this.#limit = attr.srqLimit;
  }

  /** `ibv_query_srq` (from the library's view). */
  query(): SrqAttr {
    return { maxWr: this.maxWr, maxSge: this.maxSge, srqLimit: this.#limit };
  }

  /** `ibv_destroy_srq`: EBUSY while a QP uses it. */
  async destroy(): Promise<void> {
    this.#live("destroy_srq");
    const ctx = this.pd.context;
    await ctx.enter();
    await ctx.file.destroySrq(this.handle);
    ctx.srqs.delete(this.handle);
    this.released();
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
