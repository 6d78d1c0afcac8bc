/**
 * NAS MG: class S verifies against NPB's L2 norm in native, bypass and split
 * with bit-identical norms; a modelled run takes the same virtual time and
 * sends the same messages as the real one; 16 ranks (coarse levels where
 * processes own no points, the expanding exchanges) verify too; the
 * exchanges pair up; bad process counts and a wrong norm are refused.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";
import type { ComputeMode, NasRunOptions } from "../tools/nas/kernel.ts";
import type { ExchangeEvent } from "../tools/nas/kernel.ts";
import { assertSameCost, type NasMode, twoPerHost } from "./support/nas.ts";
import { checkMgNp, kernel, MG_CLASSES, mgDetails, runMg, verifyNorm } from "../tools/nas/mg.ts";
import { exchangeBox } from "../tools/nas/mg/comm3.ts";
import { mgSetup } from "../tools/nas/mg/setup.ts";

const S = MG_CLASSES.S!;

function classS(mode: NasMode, np: number, compute: ComputeMode) {
  return twoPerHost(mode, np, (comm) => runMg(comm, { cls: "S", compute }))
    .then((job) => ({ out: job.results[0]!, job }));
}

Deno.test("nas mg: class S on 4 ranks verifies in native, bypass and split with identical norms; the model matches the real run", async () => {
  const native = await classS("native", 4, "real");
  const bypass = await classS("bypass", 4, "real");
  const split = await classS("split", 4, "real");
  for (const { out } of [native, bypass, split]) {
    assert.equal(out.result.verified, true, out.result.details.join("\n"));
    assert.equal(out.result.size, "  32x  32x  32");
    assert.equal(out.result.iterations, 4);
    // NPB's formula: 58 · nit · nx³ · 1e-6 Mop.
    assert.ok(Math.abs(out.result.mops - (58e-6 * 4 * 32 ** 3) / out.result.timeSec) < 1e-9);
  }
  assert.equal(bypass.out.rnm2, native.out.rnm2);
  assert.equal(split.out.rnm2, native.out.rnm2);
  assert.ok(bypass.out.result.timeSec <= native.out.result.timeSec * 1.05);
  assert.ok(split.out.result.timeSec > bypass.out.result.timeSec);

  const model = await classS("native", 4, "model");
  assert.equal(model.out.result.timeSec, native.out.result.timeSec);
  assertSameCost(native.job, model.job);
  assert.equal(model.out.result.verified, false);
  assert.ok(Number.isNaN(model.out.rnm2));
});

Deno.test("nas mg: 16 ranks (a 2 × 2 × 4 grid: dead processes on the coarsest level) verify", async () => {
  const job = await mpi.mpiexec(
    { np: 16, mode: "native", hosts: 8 },
    (comm) => kernel.run(comm, { cls: "S", compute: "real" }),
  );
  const r = job.results[0]!;
  assert.equal(r.verified, true, r.details.join("\n"));
  // Some ranks own no points on level 1 and take points on level 2.
  const layouts = Array.from({ length: 16 }, (_, me) => mgSetup(32, 5, 16, me));
  assert.ok(layouts.some((l) => l.dead[1]) && layouts.some((l) => !l.dead[1]));
  assert.ok(layouts.some((l) => l.takeEx[2][2]) && layouts.some((l) => l.giveEx[2][2]));
});

Deno.test("nas mg: rank 0 logs NPB's progress lines; a ghost value changed where it landed fails verification", async () => {
  const lines: string[] = [];
  const clean = await mpi.mpiexec(
    { np: 1, mode: "native" },
    (comm) =>
      kernel.run(comm, {
        cls: "S",
        compute: "real",
        log: (l: string) => lines.push(l),
      } as NasRunOptions),
  );
  assert.equal(clean.results[0]!.verified, true);
  assert.equal(lines.length, 5);
  assert.match(lines[1], /^ Initialization time: {7}\s*\d+\.\d{3} seconds$/);
  assert.deepEqual(lines.slice(3), ["  iter    1", "  iter    4"]);

  // Two ranks (1 × 1 × 2): one value of one finest-level face, in the second V-cycle, on rank 1.
  let hits = 0, changed = false;
  const hooks = {
    afterExchange(ev: ExchangeEvent) {
      hits++;
      const big = ev.blocks[0].bytes === 34 * 34 * 8;
      if (!changed && ev.comm.rank === 1 && ev.iteration === 2 && ev.step === "comm3" && big) {
        changed = true;
        const at = ev.blocks[0].offset / 8 + 17 * 34 + 17;
        ev.buffer.subarray(at, at + 1).set([0.25]);
      }
    },
  };
  const job = await mpi.mpiexec(
    { np: 2, mode: "native" },
    (comm) => runMg(comm, { cls: "S", compute: "real", hooks } as NasRunOptions),
  );
  assert.ok(changed && hits > 100);
  assert.equal(job.results[0]!.result.verified, false);
  assert.equal(job.results[0]!.result.details[2], " VERIFICATION FAILED");
});

Deno.test("nas mg: a norm off by more than 1e-8 fails verification", () => {
  assert.equal(verifyNorm(S, S.verifyValue * (1 + 2e-8)).verified, false);
  assert.equal(verifyNorm(S, S.verifyValue * (1 + 5e-9)).verified, true);
  assert.equal(verifyNorm(S, NaN).verified, false);
  assert.deepEqual(mgDetails(S, 0.53e-4), [
    "",
    " Benchmark completed ",
    " VERIFICATION FAILED",
    " L2 Norm is              0.5300000000000E-04",
    " The correct L2 Norm is  0.5307707005734E-04",
  ]);
});

Deno.test("nas mg: on every level, what a rank gives towards a neighbour is what that neighbour takes", () => {
  for (const np of [2, 4, 8, 16, 32, 64]) {
    const ls = Array.from({ length: np }, (_, me) => mgSetup(32, 5, np, me));
    for (const [me, l] of ls.entries()) {
      for (let k = 1; k <= 5; k++) {
        if (l.dead[k]) continue;
        const dims = [l.m[0][k], l.m[1][k], l.m[2][k]] as const;
        for (let axis = 0; axis < 3; axis++) {
          for (const dir of [-1, 1] as const) {
            const peer = ls[l.nbr(axis, dir, k)];
            // The neighbour receives from the opposite side, and expects as many values.
            assert.equal(peer.nbr(axis, dir === 1 ? -1 : 1, k), me, `np ${np} rank ${me} k ${k}`);
            const pd = [peer.m[0][k], peer.m[1][k], peer.m[2][k]] as const;
            const give = exchangeBox("give", axis, dir, ...dims);
            const take = exchangeBox("take", axis, dir, ...pd);
            const vol = (b: number[]) => (b[1] - b[0] + 1) * (b[3] - b[2] + 1) * (b[5] - b[4] + 1);
            assert.equal(vol(give), vol(take));
            assert.ok(vol(give) <= l.nm2);
          }
        }
      }
    }
  }
});

Deno.test("nas mg: process counts NPB refuses are refused with one line", async () => {
  assert.match(checkMgNp(12, "S")!, /power-of-two number of processes \(got 12\)/);
  assert.match(checkMgNp(65536, "S")!, /cannot be split over 65536/);
  await assert.rejects(
    mpi.mpiexec(
      { np: 3, mode: "native" },
      (comm) => kernel.run(comm, { cls: "S", compute: "real" }),
    ),
    /MG needs a power-of-two number of processes \(got 3\)/,
  );
  await assert.rejects(
    mpi.mpiexec(
      { np: 1, mode: "native" },
      (comm) => kernel.run(comm, { cls: "C", compute: "real" }),
    ),
    /MG has no class C/,
  );
});
