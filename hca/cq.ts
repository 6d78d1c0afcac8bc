/**
 * Completion queues: CQE writes into the CQ buffer in host memory, the arm
 * state the CQ doorbell sets, completion events to the CQ's EQ, and overrun
 * detection (IBTA vol 1 §11.4.2: an overrun CQ goes to error and raises
 * the CQ error async event).
 *
 * @module
 */

import { EqeType } from "./commands.ts";
import { type Cqe, CQE_BYTES, encodeCqe } from "./cqe.ts";
import { CqErrorCause } from "./eqe.ts";
import type { HcaCore } from "./core.ts";
import type { EventQueue } from "./eq.ts";
import type { MptEntry } from "./mpt.ts";

/** CQ arm states. */
export const CqArm = { NONE: 0, NEXT: 1, SOLICITED: 2 } as const;

const scratch = new Uint8Array(CQE_BYTES);

/**
 * One HW-owned CQ.
 *
 * @example
 * ```ts
 * import type { CompletionQueue } from "./cq.ts";
 * function unpolled(cq: CompletionQueue): number { return cq.producer - cq.consumer; }
 * ```
 */
export class CompletionQueue {
  /** Entries produced (free-running counter). */
  producer = 0;
  /** Consumer counter. */
  consumer = 0;
  /** Arm state. */
  armed: number = CqArm.NONE;
  /** In error: writes nothing more. */
  error = false;
  /** QPs that report to this CQ. */
  refs = 0;
  #tag: number;

  /**
   * Create it (hardware state; the device builds these).
   * @param core device internals
   * @param cqn CQ number
   * @param mpt region of the CQ buffer
   * @param addr virtual address of entry 0
   * @param logSize log2 entries
   * @param eq EQ for completion events
   * @param uarIndex UAR whose CQ doorbells control this CQ
   */
  constructor(
    private core: HcaCore,
    readonly cqn: number,
    public mpt: MptEntry,
    public addr: number,
    public logSize: number,
    readonly eq: EventQueue,
    readonly uarIndex: number,
  ) {
    this.#tag = core.engine.tag("hca.cqe");
  }

  /** Entries in the ring. */
  get size(): number {
    return 2 ** this.logSize;
  }

  /**
   * Queue a CQE: `cqeWriteNs` of engine work, then its DMA write; then a
   * completion event if the arm state asks for one. `solicited` is true for
   * a solicited receive or any error completion (both satisfy a
   * solicited-only arm, IBTA §11.4.2).
   * @returns false if the CQ is in error or overran (the CQE is lost)
   */
  post(cqe: Cqe, solicited: boolean): boolean {
    if (this.error) return false;
    if (this.producer - this.consumer >= this.size) {
      this.error = true;
      this.core.counters.cqOverruns++;
      this.core.asyncEvent(EqeType.CQ_ERROR, 0, this.cqn, CqErrorCause.OVERRUN);
      return false;
    }
    const pi = this.producer++;
    const core = this.core;
    core.bus.write(
      CQE_BYTES,
      () => {
        // The buffer may have been swapped by RESIZE_CQ since the post: use the current one.
        encodeCqe(cqe, pi, this.logSize, scratch);
        if (core.tpt.live(this.mpt)) {
          core.tpt.scatter(this.mpt, this.addr + (pi % this.size) * CQE_BYTES, scratch);
        }
        core.counters.cqesWritten++;
        if (this.armed === CqArm.NEXT || (this.armed === CqArm.SOLICITED && solicited)) {
          this.armed = CqArm.NONE;
          this.eq.post(EqeType.COMPLETION, 0, this.cqn);
        }
      },
      this.#tag,
      core.profile.hca.cqeWriteNs,
    );
    return true;
  }

  /** CQ doorbell: set the consumer index and the arm state. */
  doorbell(ci: number, arm: number): void {
    this.consumer = ci >>> 0;
    if (arm !== CqArm.NONE) this.armed = arm;
  }
}
