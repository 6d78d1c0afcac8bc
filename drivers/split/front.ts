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
import { CqDbCmd, UarOffset } from "../../hca/uar.ts";
import { type FrontDatapath, VibFrontFile } from "../front/file.ts";
import { VIB_SPLIT_DRIVER } from "../front/vibfront.ts";
import { VerbsError } from "../uapi/errors.ts";
import type { UverbsFile } from "../uapi/uverbs.ts";
import { Provider, ProviderCq, type ProviderEnv } from "../verbs/provider.ts";
import type { ProviderDriver } from "../verbs/providers.ts";
import { VibOp, type VibOpCode, type VibReqBody, type VibResponse } from "../vib/mod.ts";

/**
 * A provider whose doorbells and polls go to dom0.
 *
 * @example
 * ```ts
 * import { SplitProvider } from "./front.ts";
 * import { Provider } from "../verbs/provider.ts";
 * console.log(SplitProvider.prototype instanceof Provider); // true: same WQE/CQE code
 * ```
 */
export class SplitProvider extends Provider {
  /** Requests sent by this context's datapath. */
  requests = 0;

  /**
   * @param env the provider's environment (the guest's memory; `uarAddr` unused)
   * @param ring the context's requests on the frontend's ring
   */
  constructor(env: ProviderEnv, public ring: FrontDatapath) {
    super(env);
  }

  /** Re-opened on another frontend's file (live migration): its ring from now on. */
  override rebind(file: UverbsFile): void {
    if (!(file instanceof VibFrontFile)) {
      throw new VerbsError("ENODEV", `${file.deviceName}: not a vib frontend's file`);
    }
    super.rebind(file);
    this.ring = file.datapath;
  }

  /** Marshal a datapath request from a synchronous call, charging the calling thread. */
  send<O extends VibOpCode>(
    op: O,
    body: VibReqBody<O>,
    onResponse?: (r: VibResponse) => void,
  ): void {
    const env = this.env, x = env.profile.xen;
    env.cpu.charge(env.profile.cpu.syscallNs + x.ringMarshalNs);
    this.requests++;
    const notify = this.ring.submit(op, body, onResponse);
    if (notify) {
      // The hypercall is the thread's work too; the event leaves when it is done.
      const done = env.cpu.charge(x.hypercallNs);
      this.ring.kick(done - x.hypercallNs - env.engine.now);
    }
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
 * import { SplitCq } from "./front.ts";
 * import { ProviderCq } from "../verbs/provider.ts";
 * console.log(SplitCq.prototype instanceof ProviderCq); // true
 * ```
 */
export class SplitCq extends ProviderCq {
  #sp: SplitProvider;
  #inflight = false;
  /** A waiting thread was woken by a poll answer that no `poll()` has returned yet. */
  #answered = false;
  #waiters: ((v: boolean) => void)[] = [];

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
    this.#sp.send(VibOp.POLL_CQ, { cqn: this.cqn, consumerIndex: this.consumerIndex }, () => {
      this.#inflight = false;
      this.#answered = this.#waiters.length > 0;
      for (const w of this.#waiters.splice(0)) w(true);
    });
  }

  /**
   * `ibv_poll_cq`: what dom0 has delivered so far; the call itself is one
   * more request. Except right after a waiting thread got an answer: that
   * answer is this call's round trip (in the split driver `ibv_poll_cq`
   * is one request and its response), so no request follows it. Otherwise
   * a `pollUntil` that found its completion would leave a request in
   * flight whose stale answer its next wait would have to sit out: one
   * extra dom0 round trip per wait, which made latency a staircase of
   * poll round trips instead of the path's cost.
   */
  override poll(max: number): ReturnType<ProviderCq["poll"]> {
    const out = super.poll(max);
    if (this.suspended) return out; // no ring to ask while the context moves
    if (this.#answered) this.#answered = false;
    else this.#ask();
    return out;
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

  /** Wait for the answer of the poll request on its way (or `timeoutNs`). */
  override waitWrite(label: string, timeoutNs?: number): Promise<boolean> {
    if (this.suspended) return this.waitResumed(label, timeoutNs);
    this.#ask();
    const engine = this.#sp.env.engine;
    const b = engine.block<boolean>(`${label} (split poll)`);
    this.#waiters.push(b.resolve);
    if (timeoutNs !== undefined) {
      engine.schedule(timeoutNs, () => {
        const i = this.#waiters.indexOf(b.resolve);
        if (i >= 0) this.#waiters.splice(i, 1);
        b.resolve(false);
      });
    }
    return b.promise;
  }
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
    return new SplitProvider(env, file.datapath);
  },
};
