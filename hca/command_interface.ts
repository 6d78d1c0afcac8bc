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
    const start = Math.max(e.now, this.#busyUntil);
    this.#busyUntil = start + cost;
    const b = e.block<CmdResult<CmdOut<O>>>(`HCA command ${cmdName(op)}`);
    e.schedule(this.#busyUntil - e.now, () => {
      this.#executed++;
      e.traceMark(this.#mark, op);
      let r: CmdResult<unknown>;
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
      b.resolve(r as CmdResult<CmdOut<O>>);
    }, this.#tag);
    return b.promise;
  }
}
