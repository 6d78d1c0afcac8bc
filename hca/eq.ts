/**
 * Event queues: the device writes an EQE into the EQ buffer (host memory,
 * through its MPT) and, if the EQ is armed, raises the EQ's interrupt
 * vector once; the driver drains the EQ and re-arms it with the EQ doorbell.
 * This is the hardware end of DESIGN §3 flow 3 (completion event).
 *
 * @module
 */

import { encodeEqe, EQE_BYTES } from "./eqe.ts";
import type { HcaCore } from "./core.ts";
import type { MptEntry } from "./mpt.ts";

const scratch = new Uint8Array(EQE_BYTES);

/**
 * One HW-owned EQ.
 *
 * @example
 * ```ts
 * import type { EventQueue } from "./eq.ts";
 * function pending(eq: EventQueue): number { return eq.producer - eq.consumer; }
 * ```
 */
export class EventQueue {
  /** EQEs written (free-running). */
  producer = 0;
  /** Consumer index the driver last set with the EQ doorbell. */
  consumer = 0;
  /** EQEs whose DMA write is visible. */
  visible = 0;
  /** Arm state. */
  armed = true;
  /** An event was lost to overrun. */
  overflowed = false;
  /** CQs that report to this EQ. */
  refs = 0;
  #tag: number;

  /**
   * Create it (hardware state; the device builds these).
   * @param core device internals
   * @param eqn EQ number
   * @param mpt region of the EQ buffer
   * @param addr virtual address of entry 0
   * @param logSize log2 entries
   * @param vector interrupt vector
   * @param uarIndex UAR whose EQ doorbell controls this EQ
   */
  constructor(
    private core: HcaCore,
    readonly eqn: number,
    public mpt: MptEntry,
    public addr: number,
    readonly logSize: number,
    public vector: number,
    readonly uarIndex: number,
  ) {
    this.#tag = core.engine.tag("hca.eqe");
  }

  /** Entries in the ring. */
  get size(): number {
    return 2 ** this.logSize;
  }

  /**
   * Write an EQE (after `eqeNs` of engine work and the DMA write) and
   * interrupt if armed. An EQ without room drops the event and remembers
   * the overrun (Tavor reports EQ overflow the same way: events are lost).
   */
  post(type: number, subtype: number, index: number, cause = 0): void {
    if (this.producer - this.consumer >= this.size) {
      this.overflowed = true;
      this.core.counters.eqOverruns++;
      return;
    }
    const pi = this.producer++;
    const core = this.core;
    core.bus.write(
      EQE_BYTES,
      () => {
        encodeEqe({ type, subtype, index, cause }, pi, this.logSize, scratch);
        const va = this.addr + (pi % this.size) * EQE_BYTES;
        if (core.tpt.live(this.mpt)) core.tpt.scatter(this.mpt, va, scratch);
        core.counters.eqesWritten++;
        this.visible = pi + 1;
        this.#interrupt();
      },
      this.#tag,
      core.profile.hca.eqeNs,
    );
  }

  /** EQ doorbell: set the consumer index, optionally re-arm. */
  doorbell(ci: number, arm: boolean): void {
    this.consumer = ci >>> 0;
    if (arm) {
      this.armed = true;
      // Arming with unconsumed EQEs interrupts at once, so an EQE written
      // between the driver's last poll and the arm is not lost.
      if (this.visible !== this.consumer) this.#interrupt();
    }
  }

  #interrupt(): void {
    if (!this.armed) return;
    this.armed = false;
    this.core.counters.interrupts++;
    this.core.irq.raise(this.vector);
  }
}
