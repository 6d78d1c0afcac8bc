/**
 * Event queues: the device writes an EQE into the EQ buffer (host memory,
 * through its MPT) and, if the EQ is armed, raises the EQ's interrupt
 * vector once; the driver drains the EQ and re-arms it with the EQ doorbell.
 * This is the hardware end of DESIGN §3 flow 3 (completion event).
 *
 * @module
 */

import { encodeEqe, type Eqe, EQE_BYTES } from "./eqe.ts";
import type { HcaCore } from "./core.ts";
import { EntryRing } from "./entry_ring.ts";
import type { MptEntry } from "./mpt.ts";

/**
 * One HW-owned EQ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, EqeType, MptAccess, mptKey } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * import { Fabric } from "./fabric.ts";
 * import { SubnetManager } from "./subnet_manager.ts";
 * const engine = new Engine(), memory = new MachineMemory(16 << 20), irq = new InterruptController();
 * const fabric = new Fabric(engine, { profile: PCIX_SDR_2006 });
 * const hca = new Hca({ engine, memory, irq, profile: PCIX_SDR_2006, rng: new Prng(1), name: "a", fabric });
 * const peer = fabric.addHca("b", { receive() {} });
 * fabric.connect(hca.port(1)!, peer.port(1));
 * const page = { index: 1, key: mptKey(1), pd: 0, start: 0, length: 4096,
 *   access: MptAccess.LOCAL_WRITE, mttBase: 0, mttCount: 1, pageShift: 12 };
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   await hca.cmd.exec(CmdOp.WRITE_MTT, { base: 0, mfns: [memory.allocFrame("eq")] });
 *   await hca.cmd.exec(CmdOp.SW2HW_MPT, page);
 *   await hca.cmd.exec(CmdOp.SW2HW_EQ, { eqn: 1, key: page.key, addr: 0, logSize: 7, vector: 17, uarIndex: 0 });
 *   await hca.cmd.exec(CmdOp.MAP_EQ, { eqn: 1, eventMask: 1 << EqeType.PORT_CHANGE });
 *   new SubnetManager(fabric).sweepNow(); // the port goes ACTIVE: a PORT_CHANGE event
 *   await engine.sleep(10_000);
 *   return await hca.cmd.exec(CmdOp.QUERY_EQ, { eqn: 1 });
 * });
 * assert.ok(r.ok);
 * assert.equal(r.out.producerIndex, 1); // one EQE written
 * assert.equal(irq.raised.get(17), 1); // the armed EQ interrupted once
 * assert.equal(r.out.armed, false); // and waits for the driver to re-arm it
 * ```
 */
export class EventQueue extends EntryRing<Eqe> {
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
    this.produce(core.profile.hca.eqeNs, { type, subtype, index, cause });
  }

  protected encodeEntry(eqe: Eqe, pi: number, logSize: number, out: Uint8Array): void {
    encodeEqe(eqe, pi, logSize, out);
  }

  /** The EQE is visible: interrupt if armed. */
  protected entryLanded(_eqe: Eqe, _flag: boolean, pi: number): void {
    this.core.counters.eqesWritten++;
    this.visible = pi + 1;
    this.#interrupt();
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
