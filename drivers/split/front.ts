/**
 * The split baseline's guest half: the unchanged user-level provider,
 * except that it never touches the device. Its WQEs and CQEs stay where
 * the provider puts and reads them (the guest's own queue buffers), but
 *
 * - a doorbell becomes a `DOORBELL` request on the ring (dom0 copies the
 *   new WQEs into its shadow queue and rings the device itself);
 * - every poll of a CQ sends a `POLL_CQ` request (dom0 copies the new
 *   CQEs into the guest's ring), and a thread that waits for completions
 *   waits for that request's response.
 *
 * `ibv_poll_cq` returns the completions in the CQ when it is called
 * (ibv_poll_cq(3)), and in this baseline it is a round trip to dom0 that
 * the calling thread waits out. The model's verbs are synchronous and a
 * thread cannot block inside one, so the call is linearized at its issue:
 * dom0's half of the `POLL_CQ` (copy what the device has completed into
 * the guest's ring) runs at the call, through the split module's own link
 * to the context's shadows ({@link SplitContext.take}); the call returns
 * what the CQ held then, and a thread that got completions this way is
 * charged the rest of the round trip (what the request's path costs with
 * dom0 idle) as CPU time, since it has them only when the answer would
 * arrive. The request itself still crosses the ring and dom0 serves it:
 * its counters, its backend time and the copy's time stay dom0's.
 *
 * Each request costs the posting thread what entering the guest kernel
 * and marshalling cost (`syscallNs + ringMarshalNs`), plus the
 * `EVTCHNOP_send` hypercall when the backend was idle and asked to be
 * woken. No response is waited for on the post path (errors dom0 finds
 * there surface as the device's error completions or not at all, as a
 * lost doorbell would). See `back.ts` for dom0's half.
 *
 * The provider binds to split-mode vib devices by their driver type
 * ({@link SPLIT_PROVIDER}, registered by the composition root) and reaches
 * the ring through the frontend file's datapath hook; the frontend never
 * imports this module.
 *
 * @module
 */
import { CQE_BYTES } from "../../hca/cqe.ts";
import { CqDbCmd, UarOffset } from "../../hca/uar.ts";
import { type FrontDatapath, VibFrontFile } from "../front/file.ts";
import { VIB_SPLIT_DRIVER } from "../front/vibfront.ts";
import { VerbsError } from "../uapi/errors.ts";
import type { UverbsFile } from "../uapi/uverbs.ts";
import { Provider, ProviderCq, type ProviderEnv, type ProviderSrq } from "../verbs/provider.ts";
import type { ProviderDriver } from "../verbs/providers.ts";
import { emptyArray } from "../../sim/queue.ts";
import { VibOp, type VibOpCode, type VibReqBody, type VibResponse } from "../vib/mod.ts";
import { type SplitContext, splitContextOf } from "./back.ts";

/**
 * A provider whose doorbells and polls go to dom0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import { Provider } from "../verbs/provider.ts";
 * import { SplitProvider } from "./front.ts";
 * assert.ok(SplitProvider.prototype instanceof Provider); // same WQE/CQE code as bypass and native
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const split = await xen.createGuest({ name: "vm0", driver: "split" });
 * const bypass = await xen.createGuest({ name: "vm1", driver: "bypass" });
 * await cluster.run(async () => {
 *   assert.ok((await split.openDevice()).provider instanceof SplitProvider);
 *   assert.ok(!((await bypass.openDevice()).provider instanceof SplitProvider));
 * });
 * ```
 */
export class SplitProvider extends Provider {
  /** Requests sent by this context's datapath. */
  requests = 0;

  /**
   * @param env the provider's environment (the guest's memory; `uarAddr` unused)
   * @param ring the context's requests on the frontend's ring
   * @param dom0 dom0's split context of this context, while it is open (the
   *   instant half of a poll; see the module's notes)
   */
  constructor(
    env: ProviderEnv,
    public ring: FrontDatapath,
    public dom0: () => SplitContext | undefined = () => undefined,
  ) {
    super(env);
  }

  /** Re-opened on another frontend's file (live migration): its ring from now on. */
  override rebind(file: UverbsFile): void {
    if (!(file instanceof VibFrontFile)) {
      throw new VerbsError("ENODEV", `${file.deviceName}: not a vib frontend's file`);
    }
    super.rebind(file);
    this.ring = file.datapath;
    this.dom0 = dom0Link(file);
  }

  /** When each thread's pending poll answer is due (threads that got completions at a poll). */
  #answerDue = new WeakMap<object, number>();

  #thread(): object {
    return this.env.engine.current() ?? this;
  }

  /** The latest time any thread's answer is due (none is due after it). */
  #latestDue = 0;

  /** The calling thread waits for a poll's answer until `at` (its CPU account says so too). */
  awaitAnswer(at: number): void {
    this.#answerDue.set(this.#thread(), at);
    if (at > this.#latestDue) this.#latestDue = at;
  }

  /**
   * What the rest of a request's round trip costs once the calling thread
   * has issued it, dom0 idle: dom0 woken by the event, the backend copying
   * the request out and serving it (`copyBytes` of memcpy), the response
   * marshalled and its event sent, the guest woken.
   */
  answerNs(copyBytes: number): number {
    const x = this.env.profile.xen;
    return 2 * (x.upcallNs + x.domainSwitchNs) + 2 * x.ringMarshalNs + x.backendOpNs +
      x.hypercallNs + (copyBytes * 1e9) / this.env.profile.cpu.memcpyBytesPerSec;
  }

  /**
   * Marshal a datapath request from a synchronous call, charging the calling
   * thread. A thread that still owes CPU time for an earlier call (it waits
   * for a poll's answer: see {@link SplitCq.poll}) gets to this one only
   * then, so the request reaches the ring then, in the order it was made.
   */
  send<O extends VibOpCode>(
    op: O,
    body: VibReqBody<O>,
    onResponse?: (r: VibResponse) => void,
  ): void {
    const env = this.env, x = env.profile.xen, now = env.engine.now;
    const free = env.cpu.busyUntil();
    const marshalled = env.cpu.charge(env.profile.cpu.syscallNs + x.ringMarshalNs);
    this.requests++;
    // No thread's answer is due after the latest one: most posts need not look their thread up.
    if (this.#latestDue > now && (this.#answerDue.get(this.#thread()) ?? 0) > now) {
      // Whether the backend wants an event is known only when the request is published; the
      // notification then leaves once the marshalling is done (the hypercall is not charged to
      // the thread's account, which is already past that point).
      this.#submitLater(free - now, op, body, onResponse, marshalled - free);
      return;
    }
    const notify = this.ring.submit(op, body, onResponse);
    if (notify) {
      // The hypercall is the thread's work too; the event leaves when it is done.
      const done = env.cpu.charge(x.hypercallNs);
      this.ring.kick(done - x.hypercallNs - now);
    }
  }

  /** The kind of the event that puts a request on the ring (an engine tag). */
  readonly #tagSubmit: number = this.env.engine.tag("split.submit");

  /**
   * Publish a request `delayNs` from now, when its thread gets to it, and
   * kick the backend `kickNs` after that if it wants an event. Apart from
   * {@link send}, which runs for every request: a function that makes a
   * closure from its parameters allocates their context on every call.
   */
  #submitLater<O extends VibOpCode>(
    delayNs: number,
    op: O,
    body: VibReqBody<O>,
    onResponse: ((r: VibResponse) => void) | undefined,
    kickNs: number,
  ): void {
    this.env.engine.post(delayNs, () => {
      let notify: boolean;
      try {
        notify = this.ring.submit(op, body, onResponse);
      } catch (e) {
        // The device went away meanwhile (refused as the call itself would have been): whoever
        // waits for an answer gets that refusal instead of waiting forever.
        if (!(e instanceof VerbsError)) throw e;
        onResponse?.({ id: 0, op, status: -e.errno, body: {} });
        return;
      }
      if (notify) this.ring.kick(kickNs);
    }, this.#tagSubmit);
  }

  /** A doorbell: a request for dom0 to execute (the CQ's consumer index travels with the polls). */
  override doorbell(offset: number, word0: number, word1: number): void {
    if (offset === UarOffset.CQ && word0 >>> 24 === CqDbCmd.SET_CI) return;
    this.doorbells++;
    this.send(VibOp.DOORBELL, { offset, word0, word1 });
  }

  override addCq(c: { cqn: number; addr: number; logSize: number }): ProviderCq {
    return new SplitCq(this, c.cqn, c.addr, c.logSize);
  }
}

/**
 * A CQ read from the guest's own ring, which dom0 fills on each poll.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import { ProviderCq } from "../verbs/provider.ts";
 * import { SplitCq } from "./front.ts";
 * assert.ok(SplitCq.prototype instanceof ProviderCq);
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "split" });
 * await cluster.run(async () => {
 *   const cq = await (await vm.openDevice()).createCq(4);
 *   assert.ok(cq.pcq instanceof SplitCq); // its polls ask dom0 to copy CQEs
 *   assert.deepEqual(cq.poll(), []);
 * });
 * ```
 */
export class SplitCq extends ProviderCq {
  #sp: SplitProvider;
  #inflight = false;
  /** A waiting thread was woken by a poll answer that no `poll()` has returned yet. */
  #answered = false;
  #waiters: ((v: boolean) => void)[] = [];
  /** The last wait's label, and what the waiting thread shows then. */
  #label = "";
  #blockLabel = "";

  /**
   * @param p the split provider
   * @param cqn CQ number
   * @param addr the guest's ring
   * @param logSize log2 entries
   */
  constructor(p: SplitProvider, cqn: number, addr: number, logSize: number) {
    super(p, cqn, addr, logSize);
    this.#sp = p;
  }

  /** Ask dom0 for new completions, unless a request is already on its way. */
  #ask(): void {
    if (this.#inflight) return;
    this.#inflight = true;
    // A newer round trip supersedes an answer no poll has used.
    this.#answered = false;
    this.#sp.send(
      VibOp.POLL_CQ,
      { cqn: this.cqn, consumerIndex: this.consumerIndex },
      this.#onAnswer,
    );
  }

  /** A poll's answer: every thread waiting for it goes on (one callback for every request). */
  #onAnswer = (): void => {
    this.#inflight = false;
    const ws = this.#waiters;
    this.#answered = ws.length > 0;
    if (ws.length === 0) return;
    // Waiters that come while these are woken wait for the next answer (in the other array).
    this.#waiters = this.#woken;
    this.#woken = ws;
    for (let i = 0; i < ws.length; i++) ws[i](true);
    emptyArray(ws);
  };

  #woken: ((v: boolean) => void)[] = [];

  /**
   * `ibv_poll_cq`: one request, and the completions the CQ holds at the
   * call (dom0's half runs at once: see the module's notes). A thread that
   * got completions from dom0 this way pays the rest of the round trip.
   *
   * Except right after a waiting thread got an answer: that answer is this
   * call's round trip, so the call returns what it delivered and no request
   * follows it. Otherwise a `pollUntil` that found its completion would
   * leave a request in flight whose stale answer its next wait would have
   * to sit out: one extra dom0 round trip per wait, which made latency a
   * staircase of poll round trips instead of the path's cost.
   */
  override poll(max: number): ReturnType<ProviderCq["poll"]> {
    if (this.#answered) {
      this.#answered = false;
      return super.poll(max);
    }
    if (this.suspended) return super.poll(max); // no ring to ask while the context moves
    const moved = this.#sp.dom0()?.take(this.cqn, this.consumerIndex) ?? 0;
    const out = super.poll(max);
    this.#ask();
    if (moved > 0) {
      this.#sp.awaitAnswer(this.#sp.env.cpu.charge(this.#sp.answerNs(moved * CQE_BYTES)));
    }
    return out;
  }

  /**
   * The QP `qpn` went to RESET or was destroyed: its completions leave the
   * CQ, as libmthca's `mthca_cq_clean` (and libmlx4's) removes them after
   * the modify or destroy, unpolled ones included. Here some of them may
   * still sit in dom0's shadow of the CQ: dom0's half of a poll brings them
   * into the guest's ring first (its copy paid by the request that follows,
   * as for a poll), so that the QP's entries are forgotten wherever they
   * were, as in native and bypass mode.
   */
  override forget(qpn: number, srq?: ProviderSrq): void {
    if (!this.suspended && (this.#sp.dom0()?.take(this.cqn, this.consumerIndex) ?? 0) > 0) {
      this.#ask();
    }
    super.forget(qpn, srq);
  }

  /**
   * The completions the CQ holds unpolled, for `ibv_resize_cq`'s check
   * ("cqe must be at least the number of unpolled entries"): those still in
   * dom0's shadow too. dom0's half of a poll brings them into the guest's
   * ring first (its copy paid by the request that follows, as for a poll),
   * so the count is the one native and bypass mode find in their ring.
   */
  override unpolled(): number {
    if (!this.suspended && (this.#sp.dom0()?.take(this.cqn, this.consumerIndex) ?? 0) > 0) {
      this.#ask();
    }
    return super.unpolled();
  }

  /**
   * Take every completion dom0 holds for this CQ into the stash: poll
   * round trips until one copies nothing and the guest's ring is empty.
   */
  override async drainToStash(): Promise<void> {
    const engine = this.#sp.env.engine;
    for (;;) {
      const b = engine.block<number>(`CQ ${this.cqn} drain (split poll)`);
      this.#sp.send(
        VibOp.POLL_CQ,
        { cqn: this.cqn, consumerIndex: this.consumerIndex },
        (r) => b.resolve(r.status < 0 ? 0 : Number(r.body.copied ?? 0)),
      );
      const copied = await b.promise;
      const before = this.stashed;
      await super.drainToStash();
      if (copied === 0 && this.stashed === before) return;
    }
  }

  /** A waiting thread polls dom0: every poll is a request. */
  override get pollsWhileWaiting(): boolean {
    return true;
  }

  /** Wait for the answer of the poll request on its way (or `timeoutNs`, or `signal`'s abort). */
  override waitWrite(label: string, timeoutNs?: number, signal?: AbortSignal): Promise<boolean> {
    if (this.suspended) return this.waitResumed(label, timeoutNs);
    const engine = this.#sp.env.engine;
    // The same caller waits with the same label at every round trip: its text made once.
    if (label !== this.#label) this.#blockLabel = `${this.#label = label} (split poll)`;
    const b = engine.block<boolean>(this.#blockLabel);
    if (signal?.aborted) {
      b.resolve(false);
      return b.promise;
    }
    this.#ask();
    this.#waiters.push(b.resolve);
    if (timeoutNs === undefined && !signal) return b.promise;
    const giveUp = () => {
      const i = this.#waiters.indexOf(b.resolve);
      if (i >= 0) this.#waiters.splice(i, 1);
      b.resolve(false);
    };
    if (timeoutNs !== undefined) engine.schedule(timeoutNs, giveUp);
    signal?.addEventListener("abort", giveUp, { once: true });
    return b.promise;
  }
}

/** dom0's split context of a frontend file's context, while it is open. */
function dom0Link(file: VibFrontFile): () => SplitContext | undefined {
  const { hv, dom } = file.front.o, ctx = file.ctx;
  // The context found last, while it stays open (a poll per message asks: no key built each time).
  let last: SplitContext | undefined;
  return () => {
    if (last && last.open) return last;
    return last = splitContextOf(hv, dom.domid, ctx);
  };
}

/**
 * The split baseline's user-level provider as it registers itself: it
 * drives split-mode vib devices (`VERBS_NAME_MATCH` on their driver type)
 * and needs the frontend's file to reach the ring.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matchProvider, registerProvider } from "../verbs/providers.ts";
 * import { SPLIT_PROVIDER } from "./front.ts";
 * const undo = registerProvider(SPLIT_PROVIDER); // the composition root does this
 * assert.equal(matchProvider({ driver: "vib-split" }), SPLIT_PROVIDER);
 * undo();
 * ```
 */
export const SPLIT_PROVIDER: ProviderDriver = {
  name: "vib-split",
  match: [{ driver: VIB_SPLIT_DRIVER }],
  create(env: ProviderEnv, file: UverbsFile): Provider {
    if (!(file instanceof VibFrontFile)) {
      throw new VerbsError("ENODEV", `${file.deviceName}: not a vib frontend's file`);
    }
    return new SplitProvider(env, file.datapath, dom0Link(file));
  },
};
