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
import { EntryRing } from "./entry_ring.ts";
import type { MptEntry } from "./mpt.ts";

/**
 * One HW-owned EQ.
 *
 * @example
 * ```ts
 * import type { EventQueue } from "./eq.ts";
 * function pending(eq: EventQueue): number { return eq.producer - eq.consumer; }
 * ```
 */
export class EventQueue extends EntryRing {
  /** EQEs whose DMA write is visible. */
  visible = 0;
  /** Arm state. */
  armed = true;
  /** An event was lost to overrun. */
  overflowed = false;

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
    core: HcaCore,
    readonly eqn: number,
    mpt: MptEntry,
    addr: number,
    logSize: number,
    public vector: number,
    uarIndex: number,
  ) {
    super(core, mpt, addr, logSize, uarIndex, EQE_BYTES, "hca.eqe");
  }

  /**
   * Write an EQE (after `eqeNs` of engine work and the DMA write) and
   * interrupt if armed. An EQ without room drops the event and remembers
   * the overrun (Tavor reports EQ overflow the same way: events are lost).
   */
  post(type: number, subtype: number, index: number, cause = 0): void {
    const core = this.core;
    if (this.full) {
      this.overflowed = true;
      core.counters.eqOverruns++;
      return;
    }
    this.produce(
      core.profile.hca.eqeNs,
      (pi, logSize, out) => encodeEqe({ type, subtype, index, cause }, pi, logSize, out),
      (pi) => {
        core.counters.eqesWritten++;
        this.visible = pi + 1;
        this.#interrupt();
      },
    );
  }

  /** EQ doorbell: set the consumer index, optionally re-arm. */
  doorbell(ci: number, arm: boolean): void {
    this.setConsumer(ci);
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
