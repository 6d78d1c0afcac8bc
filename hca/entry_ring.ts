/**
 * What CQs and EQs share: a ring of fixed-size entries in host memory that
 * the device produces into (through the ring's MPT, by DMA write) and the
 * driver consumes from, reporting its consumer index with a doorbell. Each
 * entry carries an owner bit computed from the producer counter, so the
 * driver needs no other signal that an entry is new.
 *
 * @module
 */

import type { HcaCore } from "./core.ts";
import type { MptEntry } from "./mpt.ts";
import { Line } from "../sim/line.ts";

/**
 * A ring of 2^logSize entries of `entryBytes` each.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, MptAccess, mptKey } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine(), memory = new MachineMemory(16 << 20);
 * const hca = new Hca({ engine, memory, irq: new InterruptController(), profile: PCIX_SDR_2006,
 *   rng: new Prng(1), name: "hca0" });
 * // One registered page: EQ 1 in its first half, CQ 3 (UAR 0's) in the second.
 * const page = { index: 1, key: mptKey(1), pd: 0, start: 0, length: 4096,
 *   access: MptAccess.LOCAL_WRITE, mttBase: 0, mttCount: 1, pageShift: 12 };
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   await hca.cmd.exec(CmdOp.WRITE_MTT, { base: 0, mfns: [memory.allocFrame("q")] });
 *   await hca.cmd.exec(CmdOp.SW2HW_MPT, page);
 *   await hca.cmd.exec(CmdOp.SW2HW_EQ, { eqn: 1, key: page.key, addr: 0, logSize: 6, vector: 17, uarIndex: 0 });
 *   await hca.cmd.exec(CmdOp.SW2HW_CQ, { cqn: 3, key: page.key, addr: 2048, logSize: 6, eqn: 1, uarIndex: 0 });
 *   return [await hca.cmd.exec(CmdOp.QUERY_EQ, { eqn: 1 }), await hca.cmd.exec(CmdOp.QUERY_CQ, { cqn: 3 })];
 * });
 * // Both rings start empty: producer and consumer counters at 0.
 * for (const q of r) {
 *   assert.ok(q.ok);
 *   assert.deepEqual([q.out.producerIndex, q.out.consumerIndex, q.out.logSize], [0, 0, 6]);
 * }
 * ```
 */
export abstract class EntryRing<E> {
  /** Entries produced (free-running counter). */
  producer = 0;
  /** Consumer counter the driver last set with the doorbell. */
  consumer = 0;
  /** HW-owned objects that report to this ring (QPs to a CQ, CQs to an EQ). */
  refs = 0;
  #scratch: Uint8Array;
  #tag: number;
  /**
   * Entries whose DMA write is on its way, in producer order (the bus's
   * write direction completes in the order it was given work), with their
   * producer counters and flags: one handler takes each as its write lands,
   * no closures per entry.
   */
  #writing: (E | undefined)[] = [];
  #writingPi: number[] = [];
  #writingFlag: number[] = [];
  #line = new Line([this.#writing], [this.#writingPi, this.#writingFlag]);
  /** When the last entry write issued lands (absolute ns; 0: none issued). */
  #landsAt = 0;

  /**
   * @param core device internals
   * @param mpt region of the ring buffer
   * @param addr virtual address of entry 0
   * @param logSize log2 entries
   * @param uarIndex UAR whose doorbells control this ring
   * @param entryBytes size of one entry
   * @param traceLabel engine trace label of the entry writes
   */
  constructor(
    protected readonly core: HcaCore,
    public mpt: MptEntry,
    public addr: number,
    public logSize: number,
    readonly uarIndex: number,
    entryBytes: number,
    traceLabel: string,
  ) {
    this.#scratch = new Uint8Array(entryBytes);
    this.#tag = core.engine.tag(traceLabel);
  }

  /** Entries in the ring. */
  get size(): number {
    return 2 ** this.logSize;
  }

  /** No room for another entry until the driver consumes some. */
  get full(): boolean {
    return this.producer - this.consumer >= this.size;
  }

  /** Record the consumer index a doorbell carried. */
  protected setConsumer(ci: number): void {
    this.consumer = ci >>> 0;
  }

  /**
   * Take the next producer slot and write `entry` there after `workNs` of
   * device work and the DMA write: {@link encodeEntry} runs when the write
   * lands, with the buffer as it is then (RESIZE_CQ may have moved it since).
   * HW2SW_CQ / HW2SW_EQ wait for it ({@link afterWrites}), and the buffer's region
   * cannot be deregistered before (its entry's refs), so it lands through a live
   * region; were the region gone, nothing would be written (fail closed).
   * {@link entryLanded} runs after the write either way.
   */
  protected produce(workNs: number, entry: E, flag = false): void {
    const i = this.#line.add();
    this.#writing[i] = entry;
    this.#writingPi[i] = this.producer++;
    this.#writingFlag[i] = flag ? 1 : 0;
    this.#landsAt = this.core.bus.write(this.#scratch.length, this.#landed, this.#tag, workNs);
  }

  /** An entry write is on its way (issued, not landed). */
  get writing(): boolean {
    return this.#line.length > 0;
  }

  /**
   * HW2SW_CQ / HW2SW_EQ: run `fn` once every entry write issued so far has landed (each one's
   * {@link entryLanded} included). The firmware completes the command only then, so the driver
   * frees the buffer (mthca_free_cq / mthca_free_eq: HW2SW_CQ or HW2SW_EQ, then the buffer's
   * mthca_free_mr and the pages, Linux drivers/infiniband/hw/mthca/mthca_cq.c, mthca_eq.c) with
   * no entry left on its way to it. Claims no bus time.
   */
  afterWrites(fn: () => void): void {
    this.core.bus.afterLanding(this.#landsAt, fn);
  }

  /** The oldest entry's write lands. */
  #landed = (): void => {
    const line = this.#line, h = line.head;
    const entry = this.#writing[h]!, pi = this.#writingPi[h], flag = this.#writingFlag[h] === 1;
    line.drop();
    const core = this.core, out = this.#scratch;
    this.encodeEntry(entry, pi, this.logSize, out);
    if (core.tpt.live(this.mpt)) {
      core.tpt.scatter(this.mpt, this.addr + (pi % this.size) * out.length, out);
    }
    this.entryLanded(entry, flag, pi);
  };

  /** Encode `entry` as the ring's entry `pi` (its owner bit from `pi` and `logSize`) into `out`. */
  protected abstract encodeEntry(entry: E, pi: number, logSize: number, out: Uint8Array): void;

  /** After `entry`'s write (landed or not): counters, arming, interrupts. */
  protected abstract entryLanded(entry: E, flag: boolean, pi: number): void;
}
