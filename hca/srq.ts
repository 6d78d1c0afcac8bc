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
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, MptAccess, mptKey } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * import { doorbellBytes, UarOffset } from "./uar.ts";
 * const engine = new Engine(), memory = new MachineMemory(16 << 20);
 * const hca = new Hca({ engine, memory, irq: new InterruptController(), profile: PCIX_SDR_2006,
 *   rng: new Prng(1), name: "hca0" });
 * // SRQ 1 in one registered page: 2^6 receive WQEs of 32 bytes.
 * const page = { index: 1, key: mptKey(1), pd: 1, start: 0, length: 4096,
 *   access: MptAccess.LOCAL_READ, mttBase: 0, mttCount: 1, pageShift: 12 };
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   await hca.cmd.exec(CmdOp.WRITE_MTT, { base: 0, mfns: [memory.allocFrame("srq")] });
 *   await hca.cmd.exec(CmdOp.SW2HW_MPT, page);
 *   await hca.cmd.exec(CmdOp.SW2HW_SRQ, { srqn: 1, pd: 1, key: page.key, addr: 0, logSize: 6, logStride: 5, uarIndex: 0 });
 *   // The driver wrote 3 receive WQEs and rings the SRQ doorbell with its producer counter.
 *   memory.write(hca.uarMfn(0) * 4096 + UarOffset.SRQ, doorbellBytes(1, 3));
 *   await engine.sleep(1_000); // the posted MMIO write lands
 *   return await hca.cmd.exec(CmdOp.QUERY_SRQ, { srqn: 1 });
 * });
 * assert.ok(r.ok);
 * assert.deepEqual([r.out.producerCounter, r.out.consumerCounter], [3, 0]); // 3 WQEs available
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
