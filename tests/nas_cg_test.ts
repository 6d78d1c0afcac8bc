/**
 * NAS CG: class S verifies against NPB's ζ in native, bypass and split with
 * bit-identical ζ; a modelled run takes the same virtual time and sends the
 * same messages as the real one; the decomposition's exchange schedule pairs
 * up for every process count; bad process counts and a wrong ζ are refused.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";
import { CG_CLASSES, cgDetails, checkCgNp, kernel, runCg, verifyZeta } from "../tools/nas/cg.ts";
import { cgPartition } from "../tools/nas/cg/partition.ts";
import type { ComputeMode, NasRunOptions } from "../tools/nas/kernel.ts";
import type { ExchangeEvent } from "../tools/nas/kernel.ts";
import { assertSameCost, type NasMode, twoPerHost } from "./support/nas.ts";

const S = CG_CLASSES.S!;

function classS(mode: NasMode, np: number, compute: ComputeMode) {
  return twoPerHost(mode, np, (comm) => runCg(comm, { cls: "S", compute }))
    .then((job) => ({ out: job.results[0]!, job }));
}

Deno.test("nas cg: class S on 4 ranks verifies in native, bypass and split with identical ζ; the model matches the real run", async () => {
  const native = await classS("native", 4, "real");
  const bypass = await classS("bypass", 4, "real");
  const split = await classS("split", 4, "real");
  for (const { out } of [native, bypass, split]) {
    assert.equal(out.result.verified, true, out.result.details.join("\n"));
    assert.equal(out.result.size, "1400");
    assert.equal(out.result.iterations, 15);
    assert.equal(out.result.opType, "floating point");
    // NPB's formula: Mop = 2·niter·na·(3 + nonzer(nonzer+1) + 25(5 + nonzer(nonzer+1)) + 3)·1e-6.
    const mop = 2 * 15 * 1400 * (3 + 56 + 25 * 61 + 3) * 1e-6;
    assert.ok(Math.abs(out.result.mops - mop / out.result.timeSec) < 1e-9);
  }
  assert.equal(bypass.out.zeta, native.out.zeta);
  assert.equal(split.out.zeta, native.out.zeta);
  assert.deepEqual(bypass.out.result.details, native.out.result.details);
  // Virtualization shows in time only: bypass within a few percent of native, split slower.
  assert.ok(bypass.out.result.timeSec <= native.out.result.timeSec * 1.05);
  assert.ok(split.out.result.timeSec > bypass.out.result.timeSec);

  // Modelled computation: the same virtual time and, per rank, the same traffic and charges.
  const model = await classS("native", 4, "model");
  assert.equal(model.out.result.timeSec, native.out.result.timeSec);
  assertSameCost(native.job, model.job);
  // A 2 × 2 grid: per CG step one vector reduction, the transpose and two dot products; per
  // solve the first dot product and the residual's three; per outer step the norms. Sixteen
  // solves, plus a few collective messages (bcast, barrier, the time's reduce).
  const p2p = 16 * (25 * 4 + 4 + 1);
  for (const c of native.job.counters) assert.ok(c.messages >= p2p && c.messages <= p2p + 8);
  assert.equal(model.out.result.verified, false);
  assert.ok(Number.isNaN(model.out.zeta));
  assert.equal(model.out.result.compute, "model");
});

Deno.test("nas cg: a non-square process grid (2 ranks: 1 × 2) verifies too", async () => {
  const job = await mpi.mpiexec(
    { np: 2, mode: "native" },
    (comm) => kernel.run(comm, { cls: "S", compute: "real" }),
  );
  assert.equal(job.results[0]!.verified, true);
  assert.equal(job.results[1], undefined);
});

Deno.test("nas cg: rank 0 logs NPB's iteration table; a value changed where a transposed piece landed fails verification", async () => {
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
  assert.equal(lines.length, 2 + 15);
  assert.equal(lines[1], "   iteration           ||r||                 zeta");
  assert.match(lines[16], /^ {4}\s+15 {6} 0\.\d{14}E-\d\d\s+8\.5971775078\d{3}$/);

  // Two ranks (1 × 2): the transpose brings the other half of q. One value of it, once, on rank
  // 0, in the last iteration (inverse iteration would damp an early error out).
  let hits = 0, changed = false;
  const hooks = {
    afterExchange(ev: ExchangeEvent) {
      if (ev.step !== "transpose" || ev.comm.rank !== 0) return;
      hits++;
      if (!changed && ev.iteration === 15) {
        changed = true;
        const at = ev.blocks[0].offset / 8 + 100;
        const v = ev.buffer.subarray(at, at + 1);
        v.set([(v.get()[0] as number) * 1.5]);
      }
    },
  };
  const job = await mpi.mpiexec(
    { np: 2, mode: "native" },
    (comm) => runCg(comm, { cls: "S", compute: "real", hooks } as NasRunOptions),
  );
  const out = job.results[0]!;
  assert.equal(out.result.verified, false);
  assert.equal(out.result.details[1], " VERIFICATION FAILED");
  assert.ok(changed);
  assert.equal(hits, 16 * 26); // 25 CG steps and the residual, 16 solves
});

Deno.test("nas cg: a ζ off by more than 1e-10 fails verification", () => {
  assert.equal(verifyZeta(S, S.zetaVerify * (1 + 2e-10)).verified, false);
  assert.equal(verifyZeta(S, S.zetaVerify * (1 + 5e-11)).verified, true);
  assert.equal(verifyZeta(S, NaN).verified, false);
  assert.deepEqual(cgDetails(S, 8.5971775), [
    " Benchmark completed ",
    " VERIFICATION FAILED",
    " Zeta                 0.8597177500000E+01",
    " The correct zeta is  0.8597177507865E+01",
  ]);
});

Deno.test("nas cg: every stage of the row reduction and the transpose exchange pairs up", () => {
  // B on 128 and 512 ranks (16 and 32 column blocks) takes NPB's uneven, halved split.
  for (const np of [2, 4, 8, 16, 32, 64, 128, 512]) {
    for (const cls of ["S", "A", "B"] as const) {
      const na = CG_CLASSES[cls]!.na;
      const parts = Array.from({ length: np }, (_, me) => cgPartition(na, np, me));
      let rows = 0, cols = 0;
      for (const [me, p] of parts.entries()) {
        for (let i = 0; i < p.l2npcols; i++) {
          const peer = parts[p.reduceExchProc[i]];
          // The partner exchanges with me at the same stage, and my send fits its receive.
          assert.equal(peer.reduceExchProc[i], me, `np ${np} rank ${me} stage ${i}`);
          assert.equal(p.reduceSendLengths[i], peer.reduceRecvLengths[i]);
        }
        const t = parts[p.exchProc];
        assert.equal(t.exchProc, me);
        assert.equal(p.sendLen, t.exchRecvLength, `np ${np} rank ${me} transpose`);
        if (p.procCol === 0) rows += p.lastrow - p.firstrow + 1;
        if (p.procRow === 0) cols += p.lastcol - p.firstcol + 1;
      }
      assert.equal(rows, na);
      assert.equal(cols, na);
    }
  }
});

Deno.test("nas cg: process counts NPB refuses are refused with one line", async () => {
  assert.match(checkCgNp(6, "S")!, /power-of-two number of processes \(got 6\)/);
  assert.equal(checkCgNp(8, "B"), undefined);
  await assert.rejects(
    mpi.mpiexec(
      { np: 3, mode: "native" },
      (comm) => kernel.run(comm, { cls: "S", compute: "real" }),
    ),
    /CG needs a power-of-two number of processes \(got 3\)/,
  );
  await assert.rejects(
    mpi.mpiexec(
      { np: 1, mode: "native" },
      (comm) => kernel.run(comm, { cls: "S", compute: "fast" as ComputeMode }),
    ),
    /compute mode 'fast' is not real or model/,
  );
});
