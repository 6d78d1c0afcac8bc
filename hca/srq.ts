/**
 * Shared receive queues: a ring of receive WQEs that several QPs draw from,
 * with the limit event (IBTA vol 1 §10.2.9: when the number of WQEs drops
 * below the armed limit, raise SRQ_LIMIT once and disarm).
 *
 * @module
 */

import { EqeType } from "./commands.ts";
import type { HcaCore } from "./core.ts";
import type { MptEntry } from "./mpt.ts";

/**
 * One HW-owned SRQ.
 *
 * @example
 * ```ts
 * import type { SharedReceiveQueue } from "./srq.ts";
 * function available(s: SharedReceiveQueue): number { return s.available; }
 * ```
 */
export class SharedReceiveQueue {
  /** Entries produced (free-running counter). */
  producer = 0;
  /** Consumer counter. */
  consumer = 0;
  /** Armed limit (0 = disarmed). */
  limit = 0;
  /** QPs attached. */
  refs = 0;

  /**
   * Create it (hardware state; the device builds these).
   * @param core device internals
   * @param srqn SRQ number
   * @param pd protection domain (scatter keys must belong to it)
   * @param mpt region of the ring
   * @param addr virtual address of entry 0
   * @param logSize log2 entries
   * @param stride bytes per entry
   * @param uarIndex UAR whose SRQ doorbell feeds this SRQ
   */
  constructor(
    private core: HcaCore,
    readonly srqn: number,
    readonly pd: number,
    readonly mpt: MptEntry,
    readonly addr: number,
    readonly logSize: number,
    readonly stride: number,
    readonly uarIndex: number,
  ) {}

  /** Entries in the ring. */
  get size(): number {
    return 2 ** this.logSize;
  }

  /** Posted WQEs not yet taken. */
  get available(): number {
    return (this.producer - this.consumer) >>> 0;
  }

  /** Virtual address of the WQE with counter `c`. */
  wqeAddr(c: number): number {
    return this.addr + (c % this.size) * this.stride;
  }

  /** Take the next WQE; returns its counter, or -1 if the SRQ is empty. */
  take(): number {
    if (this.available === 0) return -1;
    const c = this.consumer;
    this.consumer = (c + 1) >>> 0;
    if (this.limit > 0 && this.available < this.limit) {
      this.limit = 0;
      this.core.asyncEvent(EqeType.SRQ_LIMIT, 0, this.srqn);
    }
    return c;
  }

  /** SRQ doorbell: new producer counter. False if it is not plausible (backwards or overfull). */
  doorbell(counter: number): boolean {
    const c = counter >>> 0;
    const ahead = (c - this.consumer) >>> 0;
    if (ahead > this.size || ((c - this.producer) >>> 0) > this.size) return false;
    this.producer = c;
    return true;
  }
}
