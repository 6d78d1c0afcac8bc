/**
 * A thread waiting in `cq.pollUntil` when the CQ is destroyed, or its context closed, rejects with
 * EINVAL (`poll_cq: CQ n was destroyed`) in every mode (DESIGN §9 invariant 11). It used to do so
 * only in split mode, whose waiters re-poll; in native and bypass mode they watch the CQ's memory,
 * which nothing writes again, and slept until the run ended in a DeadlockError.
 */
import assert from "node:assert/strict";
import { oneDomain } from "./conformance/helpers.ts";
import { VerbsError } from "../mod.ts";

for (const mode of ["native", "bypass", "split"] as const) {
  for (const how of ["destroy", "close"] as const) {
    Deno.test(`pollUntil on a CQ that is ${how}ed under it rejects (${mode})`, async () => {
      const { cluster, d } = await oneDomain(mode);
      const got = await cluster.run(async () => {
        const ctx = await d.openDevice();
        const cq = await ctx.createCq(4);
        const waiter = cluster.spawn("waiter", () => cq.pollUntil(1)).then(
          () => undefined,
          (e) => e,
        );
        await cluster.sleep(10_000);
        if (how === "destroy") await cq.destroy();
        else await ctx.close();
        return await waiter;
      });
      assert.ok(got instanceof VerbsError, `${got}`);
      assert.equal(got.code, "EINVAL");
      assert.match(got.message, /^EINVAL: poll_cq: CQ \d+ was destroyed$/);
    });
  }
}
