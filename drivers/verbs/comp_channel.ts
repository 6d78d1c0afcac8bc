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
import { EventFile } from "./event_file.ts";

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
 * });
 * ```
 */
export class CompChannel {
  #file: EventFile<Cq>;
  /** Events delivered to this channel so far. */
  delivered = 0;

  /** @param context the owning context */
  constructor(readonly context: Context) {
    this.#file = new EventFile(
      () => context.env,
      `completion channel of ${context.deviceName}`,
    );
  }

  /** Events queued and not yet taken. */
  get pending(): number {
    return this.#file.pending;
  }

  /** @internal the kernel queued a completion event for `cq` */
  deliver(cq: Cq): void {
    this.delivered++;
    this.#file.deliver(cq);
  }

  /**
   * `ibv_get_cq_event`: the CQ of the next completion event, waiting in
   * virtual time. With `timeoutNs`, rejects with ETIMEDOUT when none came.
   */
  async getEvent(opts: { timeoutNs?: number } = {}): Promise<Cq> {
    await this.context.enter();
    const cq = await this.#file.read(opts.timeoutNs);
    if (!cq) {
      throw new VerbsError("ETIMEDOUT", `get_cq_event: no event within ${opts.timeoutNs} ns`);
    }
    cq.eventTaken();
    return cq;
  }
}
