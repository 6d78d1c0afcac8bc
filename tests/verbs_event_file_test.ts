/**
 * `drivers/verbs/event_file.ts`: an event handed to a sleeping reader is
 * that reader's, even when its timeout runs out during the wakeup (a read
 * with a timeout that saw the event returns it, as poll(2) does); and the
 * event counts as reported the moment it is handed over.
 */
import assert from "node:assert/strict";
import { Engine } from "../sim/engine.ts";
import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
import { EventFile } from "../drivers/verbs/event_file.ts";

Deno.test("event file: an event delivered just before the timeout is returned, not lost", async () => {
  const engine = new Engine();
  const env = { engine, profile: PCIX_SDR_2006 };
  const taken: string[] = [];
  const f = new EventFile<string>(() => env, "test channel", (e) => taken.push(e));
  const wake = PCIX_SDR_2006.cpu.wakeupNs;
  const got = await engine.run(async () => {
    // The event comes 1 ns before the reader's 10 µs are up; its wakeup takes `wake` ns more.
    engine.schedule(9_999, () => f.deliver("late"));
    const e = await f.read(10_000);
    return { e, at: engine.now, takenAtDelivery: [...taken] };
  });
  assert.deepEqual(got, { e: "late", at: 9_999 + wake, takenAtDelivery: ["late"] });
  assert.equal(f.pending, 0);
  // A timeout with nothing delivered still ends the read.
  const none = await engine.run(() => f.read(500));
  assert.equal(none, undefined);
  assert.deepEqual(taken, ["late"]);
});
