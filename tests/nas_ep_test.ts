/**
 * EP (NPB 3.4-MPI ep.f90): class S verifies in native, bypass and split with
 * the same sums and counts; a model run takes the same virtual time and
 * sends the same messages as a real one; the verification rejects values off
 * by more than NPB's 1e-8.
 */
import assert from "node:assert/strict";
import { runNas } from "../tools/lib/nas_run.ts";
import { EP_REFERENCE, epVerify, epWork, kernel } from "../tools/nas/ep.ts";

const perRank = (r: Awaited<ReturnType<typeof runNas>>) =>
  r.counters.map((c) => ({ messages: c.messages, bytesSent: c.bytesSent }));

Deno.test("nas EP: class S verifies in native, bypass and split with identical sums", async () => {
  const runs = [];
  for (const mode of ["native", "bypass", "split"] as const) {
    const r = await runNas({ kernel: "EP", cls: "S", np: 4, mode, compute: "real" });
    assert.equal(r.verified, true, mode);
    assert.ok(r.report.includes(" Verification    =               SUCCESSFUL"), mode);
    runs.push(r);
  }
  const v = runs[0].values!;
  assert.equal(v.gc, EP_REFERENCE[24].gc);
  for (const r of runs.slice(1)) assert.deepEqual(r.values, v);
  // Computation dominates EP: the modes differ by communication only.
  assert.ok(runs[1].timeSec / runs[0].timeSec < 1.01);
});

Deno.test("nas EP: model and real runs take the same virtual time and send the same messages", async () => {
  const [real, model] = [
    await runNas({ kernel: "EP", cls: "S", np: 3, mode: "native", compute: "real" }),
    await runNas({ kernel: "EP", cls: "S", np: 3, mode: "native", compute: "model" }),
  ];
  assert.equal(model.timeSec, real.timeSec);
  assert.deepEqual(model.mainNs, real.mainNs);
  assert.deepEqual(perRank(model), perRank(real));
  assert.deepEqual(model.counters.map((c) => c.computeNs), real.counters.map((c) => c.computeNs));
  assert.equal(model.verified, false);
  assert.ok(model.report.includes(" Verification    =            NOT PERFORMED"));
  // 3 ranks share 256 batches unevenly (86, 85, 85), as NPB deals them.
  assert.ok(real.counters[0].computeNs > real.counters[1].computeNs);
});

Deno.test("nas EP: verification fails on a perturbed value and on NaN", () => {
  const r = EP_REFERENCE[24];
  assert.equal(epVerify(24, r.sx, r.sy, r.gc), true);
  assert.equal(epVerify(24, r.sx * (1 + 2e-8), r.sy, r.gc), false);
  assert.equal(epVerify(24, r.sx, r.sy * (1 - 2e-8), r.gc), false);
  assert.equal(epVerify(24, r.sx, r.sy, r.gc + 1), false);
  assert.equal(epVerify(24, NaN, r.sy, r.gc), false);
  assert.equal(epVerify(28, r.sx, r.sy, r.gc), false); // class S's values against class A's
});

Deno.test("nas EP: NPB's process rule and the work charged", () => {
  assert.equal(kernel.checkNp(256, "S"), undefined);
  assert.match(kernel.checkNp(257, "S")!, /at most 256 processes/);
  assert.equal(kernel.checkNp(4096, "A"), undefined);
  // The work of a run does not depend on how the batches are dealt.
  const whole = epWork(0, 256).flops;
  const parts = epWork(0, 86).flops + epWork(86, 85).flops + epWork(171, 85).flops;
  assert.equal(parts, whole);
});
