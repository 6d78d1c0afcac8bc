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
import { EntryRing } from "./entry_ring.ts";
import type { EventQueue } from "./eq.ts";
import type { MptEntry } from "./mpt.ts";

/**
 * CQ arm states.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CqArm } from "./cq.ts";
 * import { CqDbCmd } from "./uar.ts";
 * // The CQ doorbell's command is the arm state it sets.
 * assert.equal(CqDbCmd.REQ_NOTIFY_SOLICITED - 1, CqArm.SOLICITED);
 * ```
 */
export const CqArm = { NONE: 0, NEXT: 1, SOLICITED: 2 } as const;

/**
 * One HW-owned CQ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, MptAccess, mptKey } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * import { CqArm } from "./cq.ts";
 * import { cmdWord, CqDbCmd, doorbellBytes, UarOffset } from "./uar.ts";
 * const engine = new Engine(), memory = new MachineMemory(16 << 20);
 * const hca = new Hca({ engine, memory, irq: new InterruptController(), profile: PCIX_SDR_2006,
 *   rng: new Prng(1), name: "hca0" });
 * // One registered page: EQ 1 in its first half, CQ 3 (UAR 0's) in the second.
 * const page = { index: 1, key: mptKey(1), pd: 0, start: 0, length: 4096,
 *   access: MptAccess.LOCAL_WRITE, mttBase: 0, mttCount: 1, pageShift: 12 };
 * const doorbell = (offset: number, bytes: Uint8Array) => memory.write(hca.uarMfn(0) * 4096 + offset, bytes);
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   await hca.cmd.exec(CmdOp.WRITE_MTT, { base: 0, mfns: [memory.allocFrame("q")] });
 *   await hca.cmd.exec(CmdOp.SW2HW_MPT, page);
 *   await hca.cmd.exec(CmdOp.SW2HW_EQ, { eqn: 1, key: page.key, addr: 0, logSize: 6, vector: 17, uarIndex: 0 });
 *   await hca.cmd.exec(CmdOp.SW2HW_CQ, { cqn: 3, key: page.key, addr: 2048, logSize: 6, eqn: 1, uarIndex: 0 });
 *   // The driver arms the CQ for its next completion (ibv_req_notify_cq).
 *   doorbell(UarOffset.CQ, doorbellBytes(cmdWord(CqDbCmd.REQ_NOTIFY_NEXT, 3), 0));
 *   await engine.sleep(1_000); // the posted MMIO write lands
 *   return await hca.cmd.exec(CmdOp.QUERY_CQ, { cqn: 3 });
 * });
 * assert.ok(r.ok);
 * assert.equal(r.out.armed, CqArm.NEXT);
 * ```
 */
export class CompletionQueue extends EntryRing<Cqe> {
  /** Arm state. */
  armed: number = CqArm.NONE;
  /** In error: writes nothing more. */
  error = false;
  /** Producer count up to the last landed CQE that raised no event (the CQ was not armed for it). */
  #silentTo = 0;
  /** The same, for CQEs that would satisfy a solicited-only arm. */
  #silentSolicitedTo = 0;

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
    core: HcaCore,
    readonly cqn: number,
    mpt: MptEntry,
    addr: number,
    logSize: number,
    readonly eq: EventQueue,
    uarIndex: number,
  ) {
    super(core, mpt, addr, logSize, uarIndex, CQE_BYTES, "hca.cqe");
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
    const core = this.core;
    if (this.full) {
      this.error = true;
      core.counters.cqOverruns++;
      core.asyncEvent(EqeType.CQ_ERROR, 0, this.cqn, CqErrorCause.OVERRUN);
      return false;
    }
    this.produce(core.profile.hca.cqeWriteNs, cqe, solicited);
    return true;
  }

  protected encodeEntry(cqe: Cqe, pi: number, logSize: number, out: Uint8Array): void {
    encodeCqe(cqe, pi, logSize, out);
  }

  /** A completion event if the arm state asks for one (`solicited`: see {@link post}). */
  protected entryLanded(_cqe: Cqe, solicited: boolean, pi: number): void {
    this.core.counters.cqesWritten++;
    if (this.armed === CqArm.NEXT || (this.armed === CqArm.SOLICITED && solicited)) {
      this.armed = CqArm.NONE;
      this.eq.post(EqeType.COMPLETION, 0, this.cqn);
    } else {
      this.#silentTo = pi + 1;
      if (solicited) this.#silentSolicitedTo = pi + 1;
    }
  }

  /**
   * CQ doorbell: set the consumer index and the arm state. A request for the next solicited
   * completion does not weaken an arm for the next completion (IBTA vol 1 §11.4.2.2, C11-31
   * and C11-32, as Linux rdmavt's rvt_req_notify_cq keeps IB_CQ_NEXT_COMP); every other
   * request replaces the arm.
   *
   * An arm whose consumer index is behind a CQE that landed without raising an event (the CQ
   * was not armed for it) raises the event at once: the driver's last poll did not see that
   * CQE, and its arm reached the device only after it landed, so waiting for "the next" CQE
   * would lose it. Linux's ib_req_notify_cq contract: a return of 0 guarantees "that any work
   * completions added to the CQ since the last CQ poll will trigger a completion notification
   * event" (include/rdma/ib_verbs.h), and mthca's mthca_tavor_arm_cq / mthca_arbel_arm_cq
   * always return 0 (drivers/infiniband/hw/mthca/mthca_cq.c; the Arbel arm carries cons_index
   * for the HCA to compare), so the device keeps the guarantee. A CQE that already raised an
   * event has triggered one, so arming before polling it (perftest's ctx_notify_events) raises
   * no second event.
   */
  doorbell(ci: number, arm: number): void {
    this.setConsumer(ci);
    if (arm === CqArm.NONE) return;
    if (arm === CqArm.SOLICITED && this.armed === CqArm.NEXT) return;
    this.armed = arm;
    // Signed distances: a hostile consumer index ahead of the producer misses nothing.
    const behind = arm === CqArm.NEXT ? this.#silentTo : this.#silentSolicitedTo;
    if (((behind - this.consumer) | 0) > 0) {
      this.armed = CqArm.NONE;
      this.eq.post(EqeType.COMPLETION, 0, this.cqn);
    }
  }
}
