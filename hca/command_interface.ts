/**
 * The command interface (HCR in BAR0): commands run one at a time, in the
 * order issued, each taking `profile.hca.commandNs` of firmware time
 * (WRITE_MTT adds `commandPerMttNs` per entry). The driver's process awaits
 * the result; the firmware's effect (context written, state changed) takes
 * place when the command completes. Status codes, never exceptions.
 *
 * @module
 */

import type { Engine } from "../sim/engine.ts";
import type { Profile } from "../sim/profiles/schema.ts";
import {
  type CmdIn,
  cmdName,
  type CmdOp,
  CmdOp as Op,
  type CmdOut,
  type CmdResult,
  CmdStatus,
  type CommandInterface,
} from "./commands.ts";

/**
 * What executes a command's effect (the device's firmware).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { type CommandHandler, HcaCommandInterface } from "./command_interface.ts";
 * import { CmdOp, CmdStatus } from "./commands.ts";
 * // Firmware that knows only QUERY_DEV_LIM's opcode and refuses everything else.
 * const firmware: CommandHandler = (op) =>
 *   op === CmdOp.QUERY_DEV_LIM
 *     ? { ok: true, status: CmdStatus.OK, out: {} }
 *     : { ok: false, status: CmdStatus.BAD_OP, message: `0x${op.toString(16)}` };
 * const engine = new Engine();
 * const hcr = new HcaCommandInterface(engine, PCIX_SDR_2006, firmware);
 * const r = await engine.run(() => hcr.exec(CmdOp.INIT_HCA, {}));
 * assert.equal(r.status, 2); // BAD_OP
 * ```
 */
export type CommandHandler = (op: number, params: unknown) => CmdResult<unknown>;

/**
 * The HCR of one HCA.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { HcaCommandInterface } from "./command_interface.ts";
 * import { CmdOp } from "./commands.ts";
 * const engine = new Engine();
 * const hcr = new HcaCommandInterface(engine, PCIX_SDR_2006, () => ({ ok: true, status: 0, out: undefined }));
 * const t = await engine.run(async () => { await hcr.exec(CmdOp.INIT_HCA, {}); return engine.now; });
 * assert.equal(t, 20000);
 * ```
 */
export class HcaCommandInterface implements CommandInterface {
  #busyUntil = 0;
  #executed = 0;
  /** Set by the firmware during a command's execution ({@link holdUntil}). */
  #hold: ((done: () => void) => void) | undefined;
  /** A command is held: commands that come due meanwhile queue behind it. */
  #holding = false;
  /** The HCR is busy with held and re-queued commands until then (0: never held). */
  #heldUntil = 0;
  #queued: { run: () => void; cost: number }[] = [];
  #tag: number;
  /** The trace mark of a command executed. */
  #mark: number;

  /**
   * Create it (hardware state; the device builds these).
   * @param engine the engine
   * @param profile costs (hca.commandNs, hca.commandPerMttNs)
   * @param handler the firmware
   */
  constructor(
    private engine: Engine,
    private profile: Profile,
    private handler: CommandHandler,
  ) {
    this.#tag = engine.tag("hca.command");
    this.#mark = engine.tag("hca.cmd");
  }

  /** Commands completed so far. */
  get executed(): number {
    return this.#executed;
  }

  /** Run one command (see CommandInterface.exec). */
  exec<O extends CmdOp>(op: O, params: CmdIn<O>): Promise<CmdResult<CmdOut<O>>> {
    const e = this.engine;
    let cost = this.profile.hca.commandNs;
    if (op === Op.WRITE_MTT) {
      const n = (params as { mfns?: unknown })?.mfns;
      if (Array.isArray(n)) cost += n.length * this.profile.hca.commandPerMttNs;
    }
    const start = Math.max(e.now, this.#busyUntil, this.#heldUntil);
    this.#busyUntil = start + cost;
    const b = e.block<CmdResult<CmdOut<O>>>(`HCA command ${cmdName(op)}`);
    let direct = false;
    const run = () => {
      // A command ahead of this one kept the HCR longer than its own time (a HW2SW_MPT
      // waiting for DMA writes to land): this one runs after it, for its full time.
      if (this.#holding) {
        direct = true;
        this.#queued.push({ run, cost });
        return;
      }
      if (!direct && this.#heldUntil > e.now - cost) {
        direct = true;
        this.#heldUntil += cost;
        e.schedule(this.#heldUntil - e.now, run, this.#tag);
        return;
      }
      this.#executed++;
      e.traceMark(this.#mark, op);
      let r: CmdResult<unknown>;
      this.#hold = undefined;
      try {
        r = this.handler(op, params);
      } catch (err) {
        // A firmware bug must not crash the driver: report it like the hardware would.
        r = {
          ok: false,
          status: CmdStatus.INTERNAL_ERR,
          message: `${cmdName(op)}: ${String(err)}`,
        };
      }
      // Set by the handler (holdUntil), which TypeScript's narrowing above does not see.
      const hold = this.#hold as ((done: () => void) => void) | undefined;
      if (hold === undefined) return b.resolve(r as CmdResult<CmdOut<O>>);
      // The firmware finishes this command later: the result waits, and so does the HCR.
      this.#hold = undefined;
      this.#holding = true;
      hold(() => {
        this.#holding = false;
        b.resolve(r as CmdResult<CmdOut<O>>);
        const queued = this.#queued.splice(0);
        let at = e.now;
        this.#heldUntil = at + queued.reduce((sum, q) => sum + q.cost, 0);
        for (const q of queued) {
          at += q.cost;
          e.schedule(at - e.now, q.run, this.#tag);
        }
      });
    };
    e.schedule(this.#busyUntil - e.now, run, this.#tag);
    return b.promise;
  }

  /**
   * Called by the firmware while it executes a command: the command completes (its result
   * reaches the driver) only when `wait` calls its `done`, and the HCR takes no other command
   * before (the go bit stays set, as a Tavor HCR's does while the firmware works). Unused on
   * every command but one that must wait for the device's own traffic: HW2SW_MPT with DMA
   * writes through the entry still on their way.
   */
  holdUntil(wait: (done: () => void) => void): void {
    this.#hold = wait;
  }
}
