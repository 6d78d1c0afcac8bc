/**
 * `CompChannel` (`struct ibv_comp_channel`): where completion events of the
 * CQs created with it are queued, and where a thread sleeps waiting for
 * them.
 *
 * Costs: taking an already-queued event is a `read()` on the channel's file
 * (`cpu.syscallNs`); a thread that had to sleep runs again `cpu.wakeupNs`
 * after the kernel queued the event (try_to_wake_up and the switch to it).
 *
 * @module
 */
import type { Context } from "./context.ts";
import type { Cq } from "./cq.ts";
import { VerbsError } from "../uapi/errors.ts";
import { EventFile, waitTimeout } from "./event_file.ts";

/**
 * A completion channel.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, QpState, QpType, WcStatus } from "../../mod.ts";
 * import type { CompChannel } from "./comp_channel.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   const ch: CompChannel = ctx.createCompChannel();
 *   const cq = await ctx.createCq(4, { channel: ch });
 *   const cap = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
 *   const qp = await (await ctx.allocPd()).createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
 *   await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
 *   qp.postRecv({ wrId: 7n, sgList: [] });
 *   cq.reqNotify();
 *   await qp.modify({ state: QpState.ERR }); // flushes the receive: a completion
 *   const got = await ch.getEvent(); // sleeps until the event
 *   got.ackEvents(1);
 *   assert.equal(got, cq);
 *   assert.equal(cq.poll()[0].status, WcStatus.WR_FLUSH_ERR);
 *   await assert.rejects(ch.destroy(), /EBUSY/); // the CQ still uses it
 *   await qp.destroy();
 *   await cq.destroy();
 *   await ch.destroy();
 * });
 * ```
 */
export class CompChannel {
  #file: EventFile<Cq>;
  #cqs = new Set<Cq>();
  #dead = false;
  /** Events delivered to this channel so far. */
  delivered = 0;

  /**
   * Made by `Context.createCompChannel`.
   *
   * @param context the owning context
   */
  constructor(readonly context: Context) {
    this.#file = new EventFile(
      () => context.env,
      `completion channel of ${context.deviceName}`,
      (cq) => cq.eventTaken(),
    );
  }

  /** Events queued and not yet taken. */
  get pending(): number {
    return this.#file.pending;
  }

  /** CQs created with this channel and not yet destroyed. */
  get cqCount(): number {
    return this.#cqs.size;
  }

  /** True once {@link destroy} ran. */
  get destroyed(): boolean {
    return this.#dead;
  }

  #live(what: string): void {
    if (this.#dead) {
      throw new VerbsError("EINVAL", `${what}: the completion channel was destroyed`);
    }
  }

  /** @internal `create_cq` named this channel */
  attachCq(cq: Cq): void {
    this.#live("create_cq");
    this.#cqs.add(cq);
  }

  /**
   * @internal the kernel destroyed `cq`: its unread events go with it, as the
   * kernel frees a destroyed CQ's events from the channel's queue
   * (uverbs_main.c, ib_uverbs_release_ucq), so no reader is handed a
   * destroyed CQ.
   */
  dropEvents(cq: Cq): void {
    this.#file.discard((e) => e === cq);
  }

  /**
   * @internal `cq`'s destroy returned: the channel no longer counts it
   * (ibv_destroy_cq decrements the channel's refcnt only once the provider's
   * destroy, with its wait for acknowledgements, succeeded).
   */
  detachCq(cq: Cq): void {
    this.#cqs.delete(cq);
    this.dropEvents(cq);
  }

  /**
   * `ibv_destroy_comp_channel`: EBUSY while a CQ still uses the channel
   * (ibv_create_comp_channel(3): "fails if any CQs are still associated with
   * the completion event channel"; libibverbs checks the channel's refcnt)
   * or a thread sleeps in {@link getEvent} on it (as the hardware path's
   * channel refuses); then the channel can take no CQ and no reader.
   */
  async destroy(): Promise<void> {
    this.#live("destroy_comp_channel");
    await this.context.enter();
    if (this.#cqs.size > 0) {
      throw new VerbsError(
        "EBUSY",
        `destroy_comp_channel: ${this.#cqs.size} CQ(s) still use the channel`,
      );
    }
    if (this.#file.readers > 0) {
      throw new VerbsError("EBUSY", "destroy_comp_channel: a getEvent() is still waiting on it");
    }
    this.#dead = true;
  }

  /** @internal the kernel queued a completion event for `cq` */
  deliver(cq: Cq): void {
    this.delivered++;
    this.#file.deliver(cq);
  }

  /**
   * `ibv_get_cq_event`: the CQ of the next completion event, waiting in
   * virtual time. With `timeoutNs`, rejects with ETIMEDOUT when none came;
   * a `timeoutNs` that is not a number ≥ 0 is EINVAL, before anything waits.
   */
  async getEvent(opts?: { timeoutNs?: number }): Promise<Cq> {
    this.#live("get_cq_event");
    const timeoutNs = waitTimeout("get_cq_event", opts?.timeoutNs);
    await this.context.enter();
    const cq = await this.#file.read(timeoutNs);
    if (!cq) {
      throw new VerbsError("ETIMEDOUT", `get_cq_event: no event within ${timeoutNs} ns`);
    }
    return cq;
  }
}
