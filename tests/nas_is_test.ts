/**
 * IS (NPB 3.4-MPI is.c): class S verifies in native, bypass and split with
 * identical ranks; a model run takes the same virtual time and sends the
 * same messages (its alltoallv counts derived exactly from the generated
 * keys) as a real one; the partial verification rejects a wrong rank; the
 * key stream is NPB's.
 */
import assert from "node:assert/strict";
import { runNas } from "../tools/lib/nas_run.ts";
import {
  createSeq,
  findMySeed,
  IS_PARAMS,
  isExpectedRank,
  isPartialVerify,
  kernel,
} from "../tools/nas/is.ts";
import { NPB_A, NPB_SEED } from "../tools/nas/randlc.ts";

Deno.test("nas IS: class S verifies in native, bypass and split with identical ranks", async () => {
  const runs = [];
  for (const mode of ["native", "bypass", "split"] as const) {
    const r = await runNas({ kernel: "IS", cls: "S", np: 4, mode, compute: "real" });
    assert.equal(r.verified, true, mode);
    assert.ok(r.report.includes(" Verification    =               SUCCESSFUL"), mode);
    assert.ok(r.report.includes(" IS Benchmark Completed"), mode);
    runs.push(r);
  }
  const v = runs[0].values!;
  // 5 test keys x 10 iterations + one full verification per process.
  assert.equal(v.passedChecks, 5 * 10 + 4);
  // Rank 0 holds test keys 0, 1, 2 of class S; their ranks after the 10th iteration.
  assert.deepEqual([v.testKey0Rank, v.testKey1Rank, v.testKey2Rank], [10, 28, 356]);
  for (const r of runs.slice(1)) assert.deepEqual(r.values, v);
  // Messages are the same in every mode; only their cost differs.
  for (const r of runs.slice(1)) {
    assert.deepEqual(r.counters.map((c) => c.bytesSent), runs[0].counters.map((c) => c.bytesSent));
  }
  assert.ok(runs[0].counters[0].rndvRput > 0, "blocks above the eager threshold go by rendezvous");
});

Deno.test("nas IS: model and real runs take the same virtual time and send the same messages", async () => {
  const real = await runNas({ kernel: "IS", cls: "S", np: 8, mode: "native", compute: "real" });
  const model = await runNas({ kernel: "IS", cls: "S", np: 8, mode: "native", compute: "model" });
  assert.equal(model.timeSec, real.timeSec);
  assert.deepEqual(model.mainNs, real.mainNs);
  const shape = (r: typeof real) =>
    r.counters.map((c) => ({
      messages: c.messages,
      bytesSent: c.bytesSent,
      eager: c.eagerSend + c.eagerRdma,
      rndv: c.rndvRput + c.rndvRget,
      computeNs: c.computeNs,
    }));
  assert.deepEqual(shape(model), shape(real));
  assert.equal(model.verified, false);
  assert.ok(model.report.includes(" Verification    =            NOT PERFORMED"));
});

Deno.test("nas IS: the partial verification rejects a wrong rank, per class", () => {
  for (const cls of ["S", "W", "A", "B", "C"] as const) {
    for (let i = 0; i < 5; i++) {
      for (const it of [1, 10]) {
        const want = isExpectedRank(cls, i, it);
        assert.equal(isPartialVerify(cls, i, it, want), true);
        assert.equal(isPartialVerify(cls, i, it, want + 1), false);
        assert.equal(isPartialVerify(cls, i, it, want - 1), false);
      }
    }
  }
  // is.c's class B rule: keys 1, 2 and 4 gain the iteration, keys 0 and 3 lose it.
  assert.equal(isExpectedRank("B", 4, 7), IS_PARAMS.B!.testRank[4] + 7);
  assert.equal(isExpectedRank("B", 3, 7), IS_PARAMS.B!.testRank[3] - 7);
});

Deno.test("nas IS: each rank's keys continue the one NPB stream", () => {
  // Two ranks' parts, generated from find_my_seed, equal one sequence of 2·n keys.
  const n = 512, maxKey = 2048;
  const whole = createSeq(NPB_SEED, 2 * n, maxKey);
  const r0 = createSeq(findMySeed(0, 2, 4 * 2 * n, NPB_SEED, NPB_A), n, maxKey);
  const r1 = createSeq(findMySeed(1, 2, 4 * 2 * n, NPB_SEED, NPB_A), n, maxKey);
  assert.deepEqual([...r0, ...r1], [...whole]);
  assert.equal(kernel.checkNp(128, "S"), undefined);
  assert.match(kernel.checkNp(12, "A")!, /power of two number of processes \(12 is not; try 8\)/);
  assert.match(kernel.checkNp(2048, "B")!, /at most 1024/);
});
