/**
 * A control-path flood (DESIGN §9 invariants 5 and 10): a guest that keeps
 * its ring full of garbage and cheap valid requests is served a ring's
 * worth at a time, then the other backends run. The victim's bypass data
 * path does not slow down by a nanosecond and its control path stays
 * within 2x of quiet; every flooded request is answered. (Per-guest quotas
 * and dom0's shared VCPUs sharpen this; their floods live with them.)
 */
import assert from "node:assert/strict";
import { VibOp } from "../../drivers/vib/mod.ts";
import { WcStatus } from "../../mod.ts";
import { rdmaWrite } from "../xenib_support.ts";
import { backOf, checksum, ctxId, scene, verdict } from "./support.ts";

Deno.test("flood: a request flood is served a ring at a time; the victim's paths stay the same", async () => {
  const s = await scene();
  const { evil, victim, cluster: c } = s;
  await c.run(async () => {
    const me = ctxId(await evil.openDevice());
    const g = victim.end, n = victim.peer;
    const write = async () => {
      const t = c.now;
      assert.equal(await rdmaWrite(g, n, { length: 64 }), WcStatus.SUCCESS);
      return c.now - t;
    };
    const control = async () => {
      const t = c.now;
      await (await g.pd.regMr(g.buf, 4096, 1)).dereg();
      return c.now - t;
    };
    const quiet = { write: await write(), control: await control() };
    const flood = 3000;
    let answered = 0;
    for (let i = 0; i < flood; i++) {
      const op = i % 3 === 0 ? 77 : VibOp.QUERY_DEVICE; // garbage and cheap valid requests
      evil.front.submit({ op, flags: 0, ctx: me, handle: 0, body: {}, segs: [] }, () => answered++);
    }
    evil.front.kick(0);
    await c.sleep(5_000);
    const busy = { write: await write(), control: await control() };
    assert.equal(busy.write, quiet.write, "bypass data path: not one nanosecond slower");
    assert.ok(
      busy.control < 2 * quiet.control,
      `control path ${busy.control} vs ${quiet.control} ns`,
    );
    while (answered < flood) await c.sleep(100_000);
    const back = backOf(s, evil);
    assert.ok(back.connected);
    assert.equal(back.refused.ENOSYS, flood / 3);
    victim.sum = checksum(victim.vm); // its own requests and traffic wrote its ring and CQ
    await verdict(s);
  });
});
