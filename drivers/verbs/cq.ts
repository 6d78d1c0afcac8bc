/**
 * `Cq` (`struct ibv_cq`): a completion queue. `poll` is the provider's
 * synchronous ring read; `pollUntil` is a thread spinning on the CQ in
 * virtual time.
 *
 * `pollUntil` does not burn host CPU while it waits: it blocks until the
 * device writes into the CQ buffer (see `memory_watch.ts`) and then
 * re-polls. What it charges is what a spinning thread would see: it
 * polls every `cpu.emptyPollNs`, so a CQE that lands between two polls is
 * seen at the next one, and reading it costs `cpu.cqePollNs`.
 *
 * @module
 */
import type { CompChannel } from "./comp_channel.ts";
import type { Context } from "./context.ts";
import { EventAcks } from "./event_acks.ts";
import { VerbsError } from "../uapi/errors.ts";
import { boolArg } from "./args.ts";
import type { ProviderCq } from "./provider.ts";
import type { WorkCompletion } from "../uapi/types.ts";
import { cqLayout } from "../uapi/wq_layout.ts";

/** Awaited where an async call's return would be: one turn, no promise made. */
const RETURNED: Promise<void> = Promise.resolve();

/**
 * A completion queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, QpState, QpType, WcStatus } from "../../mod.ts";
 * import type { Cq } from "./cq.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   const cq: Cq = await ctx.createCq(4);
 *   const cap = { maxSendWr: 1, maxRecvWr: 2, maxSendSge: 1, maxRecvSge: 1 };
 *   const qp = await (await ctx.allocPd()).createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
 *   await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
 *   qp.postRecv([{ wrId: 1n, sgList: [] }, { wrId: 2n, sgList: [] }]);
 *   await qp.modify({ state: QpState.ERR }); // the device flushes both receives
 *   const wcs = await cq.pollUntil(2);
 *   assert.deepEqual(wcs.map((wc) => [wc.wrId, wc.status]), [[1n, WcStatus.WR_FLUSH_ERR], [2n, WcStatus.WR_FLUSH_ERR]]);
 *   assert.equal(cq.poll().length, 0);
 * });
 * ```
 */
export class Cq {
  #dead = false;
  #cqe: number;
  #addr: number;
  #comp = new EventAcks("completion event", "ackEvents");
  /** @internal its async events (CQ_ERR) reported by `getAsyncEvent` and acknowledged */
  readonly asyncAcks = new EventAcks("async event", "ackAsyncEvent");

  /** Completion events taken with `channel.getEvent` (the kernel's `comp_events_reported`). */
  get eventsTaken(): number {
    return this.#comp.reported;
  }

  /** Events acknowledged with {@link ackEvents} (`comp_events_completed`). */
  get eventsAcked(): number {
    return this.#comp.acked;
  }

  /**
   * Made by `Context.createCq`.
   *
   * @param context owning context
   * @param handle kernel handle
   * @param pcq the provider's ring
   * @param cqe usable entries
   * @param addr buffer address
   * @param channel completion channel, if any
   */
  constructor(
    readonly context: Context,
    readonly handle: number,
    readonly pcq: ProviderCq,
    cqe: number,
    addr: number,
    readonly channel?: CompChannel,
  ) {
    this.#cqe = cqe;
    this.#addr = addr;
    channel?.attachCq(this);
  }

  /** Usable entries. */
  get cqe(): number {
    return this.#cqe;
  }

  /** CQ number. */
  get cqn(): number {
    return this.pcq.cqn;
  }

  #live(what: string): void {
    if (this.#dead) throw new VerbsError("EINVAL", `${what}: CQ ${this.cqn} was destroyed`);
  }

  /**
   * Whether {@link pollUntil}'s wait polls actively (in a split guest each
   * poll is a request to dom0), rather than watching the CQ's memory for the
   * device's write, which costs nothing until the completion lands.
   */
  get pollsWhileWaiting(): boolean {
    return this.pcq.pollsWhileWaiting;
  }

  /** `ibv_poll_cq`: up to `n` completions, oldest first (may be none). */
  poll(n = 1): WorkCompletion[] {
    this.#live("poll_cq");
    // ibv_poll_cq takes an int: a count of zero or less polls nothing, as libmthca's loop
    // (`npolled < ne`) does; a value no int can hold is EINVAL, not a silent empty poll.
    if (!Number.isInteger(n)) throw this.#badCount("n", n);
    return this.pcq.poll(n);
  }

  #badCount(field: string, v: unknown, want?: string): VerbsError {
    const shown = typeof v === "bigint" ? `${v}n` : typeof v === "string" ? JSON.stringify(v) : v;
    return new VerbsError(
      "EINVAL",
      `poll_cq CQ ${this.cqn}: ${field} ${String(shown).slice(0, 24)} is not ${
        want ?? (field === "n" ? "an integer" : "a number of ns ≥ 0")
      }`,
    );
  }

  /**
   * Exactly `n` completions, waiting in virtual time as a thread spinning on
   * the CQ would. With `timeoutNs`, rejects with ETIMEDOUT; when `signal`
   * aborts (the thread stops spinning, e.g. to compute), with ECANCELED. The
   * completions polled so far are then lost to the caller, as they would be
   * to a thread that gave up.
   */
  async pollUntil(
    n: number,
    opts?: { timeoutNs?: number; signal?: AbortSignal },
  ): Promise<WorkCompletion[]> {
    this.#live("poll_cq");
    // A count that is not a whole number would never be reached, and a spin that polls nothing
    // while the CQ is ready would never let virtual time move on: every domain would stop.
    if (!Number.isInteger(n) || n < 0) throw this.#badCount("n", n, "a whole number ≥ 0");
    const timeoutNs = opts?.timeoutNs;
    if (timeoutNs !== undefined && !(typeof timeoutNs === "number" && timeoutNs >= 0)) {
      throw this.#badCount("timeoutNs", timeoutNs);
    }
    const signal = opts?.signal;
    if (signal?.aborted) throw this.#cancelled(0, n);
    const ctx = this.context;
    const env = ctx.env;
    if (ctx.closed) await ctx.enter(); // rejects, as it always did
    else {
      // `await ctx.enter()` without its async frame (one per wait in a thread that waits for
      // each completion): the same two turns, the debt's and then the return's, so every
      // process resumes in the same turn as before.
      await env.cpu.settle();
      await RETURNED;
    }
    const period = Math.max(1, env.profile.cpu.emptyPollNs);
    const deadline = timeoutNs === undefined ? Infinity : env.engine.now + timeoutNs;
    // The first poll's array (a fresh one) is the result's: later polls add to it.
    let out: WorkCompletion[] | undefined;
    for (;;) {
      const got = this.pcq.poll(n - (out === undefined ? 0 : out.length));
      if (out === undefined) out = got;
      else for (let i = 0; i < got.length; i++) out.push(got[i]);
      if (out.length >= n) return out;
      await env.cpu.settle();
      const spinStart = env.engine.now;
      while (!this.pcq.ready()) {
        if (signal?.aborted) throw this.#cancelled(out.length, n);
        const left = deadline - env.engine.now;
        if (left <= 0) {
          throw new VerbsError(
            "ETIMEDOUT",
            `poll_cq CQ ${this.cqn}: ${out.length} of ${n} completions`,
          );
        }
        await this.pcq.waitWrite(
          this.#waitLabel(n),
          left === Infinity ? undefined : left,
          signal,
        );
        if (this.#dead) throw new VerbsError("EINVAL", `poll_cq: CQ ${this.cqn} was destroyed`);
      }
      // The spinning thread notices the CQE at its next poll.
      const since = env.engine.now - spinStart;
      const wait = Math.ceil(since / period) * period - since;
      if (wait > 0) await env.engine.sleep(wait);
    }
  }

  #cancelled(got: number, n: number): VerbsError {
    return new VerbsError(
      "ECANCELED",
      `poll_cq CQ ${this.cqn}: ${got} of ${n} completions, cancelled`,
    );
  }

  /**
   * What a thread in {@link pollUntil} waits on, made once per `n` (a thread
   * that waits for one completion at a time would make it on every wait).
   */
  #waitLabel(n: number): string {
    const cqn = this.cqn;
    if (this.#labelFor !== n || this.#labelCqn !== cqn) {
      this.#labelFor = n;
      this.#labelCqn = cqn;
      this.#label = `CQ ${cqn} pollUntil(${n})`;
    }
    return this.#label;
  }

  #labelFor = -1;
  #labelCqn = -1;
  #label = "";

  /**
   * `ibv_req_notify_cq`: one completion event for the next (solicited)
   * completion. `solicitedOnly` is a boolean (C's `int solicited_only`):
   * anything else is EINVAL and arms nothing.
   */
  reqNotify(solicitedOnly = false): void {
    this.#live("req_notify_cq");
    this.pcq.arm(boolArg("req_notify_cq", "solicitedOnly", solicitedOnly));
  }

  /**
   * `ibv_ack_cq_events`: acknowledge `n` events `channel.getEvent` returned
   * for this CQ (a destroy waits for them; allowed on a destroyed CQ, whose
   * destroy may be waiting for exactly this).
   */
  ackEvents(n: number): void {
    if (!Number.isInteger(n) || n < 0) {
      // ibv_ack_cq_events takes an unsigned int: a count, not "more than" anything.
      const shown = typeof n === "string" ? JSON.stringify(n) : String(n).slice(0, 24);
      throw new VerbsError("EINVAL", `ack_cq_events: ${shown} is not a count of events`);
    }
    if (n > this.#comp.unacked) {
      throw new VerbsError(
        "EINVAL",
        `ack_cq_events: ${n} more than the ${this.#comp.unacked} unacknowledged`,
      );
    }
    this.#comp.ack(n);
  }

  /** @internal the kernel reported a completion event for this CQ */
  deliverEvent(): void {
    this.pcq.armedCmd = 0;
    this.channel?.deliver(this);
  }

  /** @internal the channel handed a completion event of this CQ to a reader */
  eventTaken(): void {
    this.#comp.reported++;
  }

  /**
   * `ibv_resize_cq`: at least `cqe` entries; unpolled completions are kept.
   * EINVAL for `cqe` outside 1..max_cqe or fewer than the completions the
   * CQ holds unpolled, the CQ unchanged.
   */
  async resize(cqe: number): Promise<void> {
    this.#live("resize_cq");
    const ctx = this.context;
    await ctx.enter();
    // Checked before the library allocates the new ring, as create_cq is: mthca_resize_cq
    // refuses `entries < 1 || entries > dev->limits.max_cqes` with -EINVAL.
    const max = ctx.queryDevice().maxCqe;
    if (!Number.isInteger(cqe) || cqe < 1 || cqe > max) {
      throw new VerbsError("EINVAL", `resize_cq: cqe ${cqe} outside 1..${max}`);
    }
    // ibv_resize_cq(3): "cqe must be at least the number of unpolled entries in the CQ"; the
    // provider refuses fewer with EINVAL before it allocates anything (libmlx4's
    // mlx4_resize_cq: "Can't be smaller then the number of outstanding CQEs"; rxe_cq_chk_attr
    // in the kernel likewise). The device's own RESIZE_CQ check stays behind it.
    const unpolled = this.pcq.unpolled();
    if (cqe < unpolled) {
      throw new VerbsError(
        "EINVAL",
        `resize_cq: cqe ${cqe} is fewer than the ${unpolled} unpolled completions in CQ ${this.cqn}`,
      );
    }
    const l = cqLayout(cqe);
    const addr = ctx.allocBuffer(l.bytes);
    // Every entry not yet written by the device before the device is told of the ring
    // (libmthca's mthca_alloc_cq_buf, before ibv_cmd_resize_cq): see `prepareRing`.
    this.pcq.prepareRing(addr, l.logSize);
    let r;
    try {
      r = await ctx.file.resizeCq({
        cqHandle: this.handle,
        cqe,
        logSize: l.logSize,
        bufAddr: addr,
        bufBytes: l.bytes,
        consumerIndex: this.pcq.consumerIndex,
      });
    } catch (e) {
      ctx.env.memory.free(addr);
      throw e;
    }
    this.pcq.moveTo(addr, l.logSize);
    ctx.env.memory.free(this.#addr);
    this.#addr = addr;
    this.#cqe = r.cqe;
  }

  /**
   * `ibv_destroy_cq`: EBUSY while a QP uses it. Once the kernel destroyed it
   * (its unread events go with it), waits until every completion event
   * `getEvent` returned for it is acknowledged with {@link ackEvents} and
   * every async event `getAsyncEvent` returned for it with
   * `ctx.ackAsyncEvent` (ibv_cmd_destroy_cq waits until
   * `comp_events_completed` and `async_events_completed` equal the counts
   * the kernel reported).
   */
  async destroy(): Promise<void> {
    this.#live("destroy_cq");
    const ctx = this.context;
    await ctx.enter();
    await ctx.file.destroyCq(this.handle);
    this.released(false);
    ctx.cqs.delete(this.handle);
    const who = `destroy_cq CQ ${this.cqn}`;
    await this.#comp.settled(ctx.env, who);
    await this.asyncAcks.settled(ctx.env, who);
    this.channel?.detachCq(this);
  }

  /**
   * @internal the kernel object is gone
   * @param detach whether the channel stops counting the CQ now (a destroy
   *   waiting for acknowledgements detaches it when it returns)
   */
  released(detach = true): void {
    if (this.#dead) return;
    this.#dead = true;
    // A thread waiting in pollUntil looks again and finds the CQ gone (EINVAL), in every mode,
    // instead of sleeping on memory nothing will write again.
    this.pcq.wakeWaiters();
    if (detach) this.channel?.detachCq(this);
    else this.channel?.dropEvents(this);
    this.context.dropAsyncEvents(this);
    this.context.env.memory.free(this.#addr);
  }
}
