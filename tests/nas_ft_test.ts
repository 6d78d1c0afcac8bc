/**
 * NAS FT (tools/nas/ft.ts): class S verifies against NPB's reference
 * checksums in native, bypass and split domains with identical checksums;
 * a model run sends the same messages and takes the same virtual time as
 * the real one; the pencil (2-D) layout computes what the single-process
 * layout computes; a wrong checksum fails verification.
 */
import assert from "node:assert/strict";
import { mpiexec } from "../mpi/mod.ts";
import { ftMops, ftSolve, ftVerify, kernel, runFt } from "../tools/nas/ft.ts";
import { FT_REFERENCE } from "../tools/nas/ft/params.ts";
import type { NasResult } from "../tools/nas/kernel.ts";

const layouts = {
  native: { np: 4, mode: "native" },
  bypass: { np: 4, mode: "bypass", hosts: 2, guestsPerHost: 2 },
  split: { np: 4, mode: "split", hosts: 2, guestsPerHost: 2 },
} as const;

Deno.test("nas ft: class S verifies in native, bypass and split with identical checksums", async () => {
  const out: Record<string, NasResult> = {};
  const logged: Record<string, string[]> = {};
  for (const [mode, opts] of Object.entries(layouts)) {
    const lines: string[] = [];
    const { results } = await mpiexec(
      opts,
      (comm) => runFt(comm, { cls: "S", compute: "real", log: (l) => lines.push(l) }),
    );
    logged[mode] = lines;
    const r = results[0]!;
    assert.equal(r.verified, true, `${mode}: ${r.details.join("\n")}`);
    assert.deepEqual(results.slice(1), [undefined, undefined, undefined]);
    assert.equal(r.size, "64x  64x  64");
    assert.equal(r.iterations, 6);
    assert.equal(r.mops, ftMops(64, 64, 64, 6, r.timeSec));
    out[mode] = r;
  }
  // The checksum lines (12 digits) are the same in every mode.
  assert.deepEqual(out.bypass.details, out.native.details);
  assert.deepEqual(out.split.details, out.native.details);
  // checksum's format 30 per step, then verify's format 2000: nothing else (the layout is in
  // the banner, as ft.f90's setup prints it).
  assert.equal(out.native.details.length, 7);
  assert.ok(
    out.native.details[0].startsWith(" T =    1     Checksum =    5.546087004964D+02"),
    out.native.details[0],
  );
  assert.equal(out.native.details[6], " Result verification successful");
  // Rank 0's T_init of the warm-up pass, format (/' Initialization time =', f12.4/).
  for (const lines of Object.values(logged)) {
    assert.equal(lines.length, 3, lines.join("\n"));
    assert.equal(lines[0], "");
    assert.match(lines[1], /^ Initialization time = {4}\s*\d+\.\d{4}$/);
    assert.equal(lines[1].length, " Initialization time =".length + 12);
    assert.equal(lines[2], "");
  }
  // Virtualization shows in the time, not in the numbers.
  assert.ok(
    out.split.timeSec > out.native.timeSec,
    `${out.split.timeSec} vs ${out.native.timeSec}`,
  );
});

Deno.test("nas ft: a model run sends the same messages and takes the same virtual time as a real run (class S)", async () => {
  const run = (compute: "real" | "model") =>
    mpiexec(layouts.native, async (comm) => {
      const s = await ftSolve(comm, { nx: 64, ny: 64, nz: 64, niter: 6 }, compute === "real");
      const c = comm.counters();
      return { t: s.timeSec, messages: c.messages, bytes: c.bytesSent, computeNs: c.computeNs };
    });
  const real = await run("real"), model = await run("model");
  assert.deepEqual(model.results, real.results);
  // Per rank, 8 alltoalls (warm-up forward FFT, timed forward FFT, 6 inverse FFTs), each
  // sending 3 blocks of 65536 complex numbers / 4; the rest is small (bcasts, splits, reduces).
  const alltoallBytes = 8 * 3 * (64 ** 3 / 4 / 4) * 16;
  for (const r of real.results) {
    assert.ok(r.bytes >= alltoallBytes && r.bytes < alltoallBytes + 4096, `${r.bytes}`);
  }
});

Deno.test("nas ft: the pencil (2-D) layout gives the single-process checksums", async () => {
  // np = 8 > nz = 4: a 4 x 2 processor array with two alltoalls per FFT.
  const c = { nx: 16, ny: 16, nz: 4, niter: 2 };
  const one = await mpiexec({ np: 1, mode: "native" }, (comm) => ftSolve(comm, c, true));
  const eight = await mpiexec({ np: 8, mode: "native" }, (comm) => ftSolve(comm, c, true));
  assert.equal(eight.results[0].layout, "2D");
  assert.deepEqual([eight.results[0].np1, eight.results[0].np2], [4, 2]);
  for (const [i, [re, im]] of one.results[0].sums.entries()) {
    const [re8, im8] = eight.results[0].sums[i];
    assert.ok(Math.abs(re8 - re) <= 1e-13 * Math.abs(re), `step ${i + 1}: ${re8} vs ${re}`);
    assert.ok(Math.abs(im8 - im) <= 1e-13 * Math.abs(im), `step ${i + 1}: ${im8} vs ${im}`);
  }
});

Deno.test("nas ft: Mop/s by ft.f90's formula with its single-precision constants", () => {
  // ft.f90: 1.0d-6*ntotal_f*(14.8157+7.19641*log(ntotal_f)
  //   + (5.23518+7.21113*log(ntotal_f))*niter)/total_time, the constants default-real literals.
  const n = 256 * 256 * 128, ln = Math.log(n);
  const lit = (a: number, b: number, c: number, d: number) =>
    1e-6 * n * (a + b * ln + (c + d * ln) * 6) / 0.85;
  const f = Math.fround;
  assert.equal(ftMops(256, 256, 128, 6, 0.85), lit(f(14.8157), f(7.19641), f(5.23518), f(7.21113)));
  assert.notEqual(ftMops(256, 256, 128, 6, 0.85), lit(14.8157, 7.19641, 5.23518, 7.21113));
});

Deno.test("nas ft: a checksum off by more than 1e-12 fails verification", () => {
  const ref = FT_REFERENCE.W.map(([re, im]) => [re, im] as [number, number]);
  assert.equal(ftVerify("W", ref).verified, true);
  const off = ref.map(([re, im], i) => [re, i === 5 ? im * (1 + 3e-12) : im] as [number, number]);
  assert.equal(ftVerify("W", off).verified, false);
  assert.equal(ftVerify("W", ref.slice(0, 5)).verified, false);
  assert.equal(ftVerify("W", ref.map(() => [NaN, 0] as [number, number])).verified, false);
});

Deno.test("nas ft: process counts follow NPB (powers of two)", () => {
  assert.equal(kernel.checkNp(1, "S"), undefined);
  assert.equal(kernel.checkNp(64, "W"), undefined);
  assert.match(kernel.checkNp(3, "S")!, /power-of-two number of processes \(got 3\)/);
  assert.match(kernel.checkNp(4, "C")!, /no class C/);
  assert.deepEqual(kernel.modelClasses, ["A", "B"]);
});
