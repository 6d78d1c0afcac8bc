/**
 * The acknowledgement count of one kind of event on one verbs object (a QP's
 * async events; a CQ's completion events and its async events; an SRQ's
 * async events), and the wait of its destroy.
 *
 * The kernel counts, per object, the events a reader took from the event
 * file (`events_reported`, incremented when `read()` hands the event out:
 * uverbs_main.c, ib_uverbs_event_read); the library counts the acks
 * (`events_completed`: ibv_ack_async_event, ibv_ack_cq_events). Once the
 * kernel destroyed the object (and dropped its unread events, which are then
 * never reported), libibverbs waits on the object's condition variable until
 * every reported event has been acknowledged (libibverbs/cmd_qp.c,
 * cmd_cq.c, cmd_srq.c: `ibv_cmd_destroy_*`), so that no thread still holds
 * an event of an object that is gone (ibv_get_async_event(3), NOTES). A
 * program that never acknowledges waits forever there: in the model, the
 * engine's deadlock report names the object and how many events it waits
 * for.
 *
 * @module
 */
import type { Engine } from "../../sim/engine.ts";
import type { Profile } from "../../sim/profiles/mod.ts";

/** What a waiting destroy is woken with. */
export interface AckWaitEnv {
  readonly engine: Engine;
  readonly profile: Profile;
}

/**
 * Reported and acknowledged events of one kind on one object.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../../sim/profiles/mod.ts";
 * import { EventAcks } from "./event_acks.ts";
 * const engine = new Engine();
 * const env = { engine, profile: PCIX_SDR_2006 };
 * const acks = new EventAcks("async event", "ibv_ack_async_event");
 * acks.reported++; // a reader took one event of the object
 * const t = await engine.run(async () => {
 *   engine.schedule(5_000, () => acks.ack(1)); // another thread acknowledges it later
 *   await acks.settled(env, "destroy_qp QP 0x48"); // the destroy waits for it
 *   return engine.now;
 * });
 * assert.equal(t, 5_000 + PCIX_SDR_2006.cpu.wakeupNs); // woken like a condition variable
 * assert.equal(acks.unacked, 0);
 * ```
 */
export class EventAcks {
  /** Events handed to a reader (the kernel's `events_reported`). */
  reported = 0;
  /** Events acknowledged (the library's `events_completed`). */
  acked = 0;
  #wake: (() => void) | undefined;

  /**
   * @param what the events counted, for the deadlock report ("async event")
   * @param ackCall the call that acknowledges them, for the deadlock report
   */
  constructor(readonly what: string, readonly ackCall: string) {}

  /** Reported and not yet acknowledged. */
  get unacked(): number {
    return this.reported - this.acked;
  }

  /** Acknowledge `n` events; a destroy waiting for the last of them runs again. */
  ack(n: number): void {
    this.acked += n;
    if (this.unacked === 0 && this.#wake) {
      const w = this.#wake;
      this.#wake = undefined;
      w();
    }
  }

  /**
   * Resolve once every reported event is acknowledged: at once if none is
   * outstanding, else `cpu.wakeupNs` after the last ack (pthread_cond_signal
   * waking the destroying thread).
   *
   * @param who the waiting call and its object, for the deadlock report
   */
  async settled(env: AckWaitEnv, who: string): Promise<void> {
    if (this.unacked === 0) return;
    const b = env.engine.block<void>(() =>
      `${who}: ${this.unacked} reported ${this.what}(s) not acknowledged (${this.ackCall})`
    );
    this.#wake = () => env.engine.schedule(env.profile.cpu.wakeupNs, () => b.resolve());
    await b.promise;
  }
}
