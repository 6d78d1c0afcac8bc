/**
 * `Cq.pollUntil`'s ways out (drivers/verbs/cq.ts), in every mode: a timeout
 * (ETIMEDOUT) and an AbortSignal (ECANCELED) end the wait when they say,
 * and a completion that arrives afterwards is still there for the next poll;
 * a wait on a closing or closed context fails.
 */
import assert from "node:assert/strict";
import { QpType, VerbsError } from "../mod.ts";
import { MODES, pair, postWrite, side, twoDomains } from "./conformance/helpers.ts";

for (const mode of MODES) {
  Deno.test(`pollUntil (${mode}): a timeout or an abort ends the wait; nothing is lost`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [qx] = await pair(x, y, QpType.RC);
      const code = (e: unknown) => (e instanceof VerbsError ? e.code : String(e));
      // Aborted before it starts: at once.
      const gone = new AbortController();
      gone.abort();
      let t0 = cluster.now;
      assert.equal(await x.cq.pollUntil(1, { signal: gone.signal }).catch(code), "ECANCELED");
      assert.equal(cluster.now, t0);
      // Aborted while it waits: when the abort comes.
      const stop = new AbortController();
      await cluster.sleep(1_000);
      t0 = cluster.now;
      cluster.spawn("stopper", async () => {
        await cluster.sleep(10_000);
        stop.abort();
      });
      assert.equal(await x.cq.pollUntil(1, { signal: stop.signal }).catch(code), "ECANCELED");
      assert.equal(cluster.now - t0, 10_000);
      t0 = cluster.now;
      assert.equal(await x.cq.pollUntil(1, { timeoutNs: 5_000 }).catch(code), "ETIMEDOUT");
      assert.ok(cluster.now - t0 >= 5_000 && cluster.now - t0 < 20_000);
      // The CQ still works, and a completion after the abort is there for the next wait.
      postWrite(qx, x, y, 5n, 8);
      assert.deepEqual((await x.cq.pollUntil(1)).map((wc) => wc.wrId), [5n]);
      // A wait that starts while the context is closing, before its CQs are released: EBADF.
      const closing = x.ctx.close();
      for (let turn = 0; turn < 16 && !x.ctx.closed; turn++) await Promise.resolve();
      assert.ok(x.ctx.closed);
      assert.match(
        await x.cq.pollUntil(1).then(() => "polled", (e) => `${code(e)}: ${(e as Error).message}`),
        /^EBADF: .*context is closed/,
      );
      await closing;
      // Once closed, the CQ is gone with it.
      assert.equal(await x.cq.pollUntil(1).catch(code), "EINVAL");
    });
  });
}
