/**
 * The HCR while the firmware holds a command (HW2SW_MPT waiting for DMA writes through the
 * entry to land, Linux mthca_mr.c mthca_free_mr): the command's result and every command
 * behind it wait; commands that are not held take exactly their own time as before.
 */
import assert from "node:assert/strict";
import { Engine } from "../sim/engine.ts";
import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
import { HcaCommandInterface } from "../hca/command_interface.ts";
import { CmdOp } from "../hca/commands.ts";

const C = PCIX_SDR_2006.hca.commandNs;

function hcr(holdNs: number) {
  const engine = new Engine();
  const h: HcaCommandInterface = new HcaCommandInterface(engine, PCIX_SDR_2006, (op) => {
    if (op === CmdOp.HW2SW_MPT && holdNs > 0) h.holdUntil((done) => engine.schedule(holdNs, done));
    return { ok: true, status: 0, out: undefined };
  });
  return { engine, h };
}

async function times(holdNs: number, laterAt: number) {
  const { engine, h } = hcr(holdNs);
  return await engine.run(async () => {
    const done: [string, number][] = [];
    const at = (name: string) => () => done.push([name, engine.now]);
    const a = h.exec(CmdOp.HW2SW_MPT, { index: 1 }).then(at("dereg"));
    const b = h.exec(CmdOp.QUERY_MPT, { index: 2 }).then(at("next"));
    await engine.sleep(laterAt);
    const c = h.exec(CmdOp.QUERY_MPT, { index: 3 }).then(at("later"));
    await Promise.all([a, b, c]);
    return done;
  });
}

Deno.test("hcr: a command the firmware does not hold takes its own time, as before", async () => {
  assert.deepEqual(await times(0, 10), [["dereg", C], ["next", 2 * C], ["later", 3 * C]]);
});

Deno.test("hcr: a held command completes when the firmware is done, and the commands behind it run after, each for its own time", async () => {
  // Issued while the hold lasts: queued behind it.
  assert.deepEqual(await times(5_000, 10), [
    ["dereg", C + 5_000],
    ["next", 2 * C + 5_000],
    ["later", 3 * C + 5_000],
  ]);
  // Issued after the held command completed, while the one behind it still runs.
  assert.deepEqual(await times(5_000, C + 5_000 + 1), [
    ["dereg", C + 5_000],
    ["next", 2 * C + 5_000],
    ["later", 3 * C + 5_000],
  ]);
  // Issued after everything finished: its own time from now.
  assert.deepEqual(await times(5_000, 3 * C + 5_000 + 7), [
    ["dereg", C + 5_000],
    ["next", 2 * C + 5_000],
    ["later", 4 * C + 5_000 + 7],
  ]);
});
