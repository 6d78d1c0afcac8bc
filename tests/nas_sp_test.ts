/**
 * NAS SP (tools/nas/sp.ts): class S verifies against NPB's reference norms
 * on one process and on four (two cells each); a model run sends the same
 * messages (per rank: peers, tags, sizes, counts, and every MPI counter)
 * and takes the same virtual time as the real one; the messages are NPB's
 * (copy_faces' six faces, the line solves' per-stage forward and back
 * messages); a process count off NPB's rule is NPB's error; a value off by
 * more than 1e-8 fails verification.
 */
import assert from "node:assert/strict";
import { type Comm, mpiexec } from "../mpi/mod.ts";
import { runNas } from "../tools/lib/nas_run.ts";
import { fortranE, fortranI } from "../tools/nas/format.ts";
import { kernel, runSp, spMops } from "../tools/nas/sp.ts";
import { SP_REFERENCE } from "../tools/nas/sp/params.ts";
import { spVerify } from "../tools/nas/sp/verify.ts";

Deno.test("nas sp: class S on one process verifies, with NPB's progress and verification lines", async () => {
  const r = await runNas({ kernel: "SP", cls: "S", np: 1, mode: "native" });
  assert.equal(r.verified, true, r.report.join("\n"));
  assert.equal(r.compute, "real");
  assert.equal(r.mops, spMops(12, 100, r.timeSec));
  // sp.f90 format 200 at steps 1, 20, …, 100 of the timed run (none in the warm-up step), then
  // verify.f90's formats 1990 and 2000 (its 'accuracy' in lower case), then print_results.
  const steps = r.report.filter((l) => l.startsWith(" Time step"));
  assert.deepEqual(steps, [1, 20, 40, 60, 80, 100].map((n) => ` Time step ${fortranI(n, 4)}`));
  const v = r.report.indexOf(" Verification being performed for class S");
  assert.ok(v > r.report.indexOf(" Time step  100"));
  assert.equal(r.report[v + 1], " accuracy setting for epsilon = " + fortranE(1e-8, 20, 13));
  assert.equal(r.report[v + 14], " Verification Successful");
  assert.ok(r.report.includes(" Verification    =               SUCCESSFUL"));
  assert.ok(r.report.includes(" Size            =             12x  12x  12"));
});

/**
 * Record every isend of the kernel on `comm` and on the communicators it
 * duplicates from it (comm_solve, comm_rhs): "dest/tag/bytes" → count.
 */
function recordSends(comm: Comm, seen = new Map<string, number>()): Map<string, number> {
  const isend = comm.isend.bind(comm);
  comm.isend = (buf, dest, tag) => {
    const key = `${dest}/${tag}/${(buf as { byteLength: number }).byteLength}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    return isend(buf, dest, tag);
  };
  const dup = comm.dup.bind(comm);
  comm.dup = async () => {
    const c = await dup();
    recordSends(c as Comm, seen);
    return c;
  };
  return seen;
}

Deno.test("nas sp: on four processes class S verifies, and a model run sends NPB's messages in the real run's virtual time", async () => {
  const run = (compute: "real" | "model") =>
    mpiexec({ np: 4, mode: "native" }, async (comm) => {
      const sends = recordSends(comm);
      const r = await runSp(comm, { cls: "S", compute });
      return { r, counters: comm.counters(), sends: [...sends].sort() };
    });
  const real = await run("real"), model = await run("model");
  const r0 = real.results[0].r!;
  assert.equal(r0.verified, true, r0.details.join("\n"));
  assert.equal(r0.details.at(-1), " Verification Successful");
  const m0 = model.results[0].r!;
  assert.equal(m0.verified, false);
  assert.equal(m0.compute, "model");
  assert.equal(m0.timeSec, r0.timeSec);
  assert.deepEqual(model.mainNs, real.mainNs);
  assert.deepEqual(model.results.map((x) => x.counters), real.results.map((x) => x.counters));
  assert.deepEqual(model.results.map((x) => x.sends), real.results.map((x) => x.sends));
  // Rank 0 holds cells (1,1,1) and (2,2,2) of 6 x 6 x 6 points; its neighbours are rank 1 in x,
  // 2 in y and 3 in z (successor and predecessor alike with two cells per direction).
  // copy_faces (101 steps and verify's) sends one cell face, 6·6·5·2 doubles, each way in each
  // direction, tagged with the direction of travel; each line solve (101 steps) sends the first
  // cell's 5 x 5 interior lines forward (22 doubles each) and the second cell's back (10 each).
  const sends = new Map(real.results[0].sends);
  const expect = new Map<string, number>();
  for (const [dest, tags] of [[1, [2000, 3000]], [2, [4000, 5000]], [3, [6000, 7000]]] as const) {
    for (const tag of tags) expect.set(`${dest}/${tag}/${360 * 8}`, 102);
    expect.set(`${dest}/0/${22 * 25 * 8}`, 101);
    expect.set(`${dest}/0/${10 * 25 * 8}`, 101);
  }
  assert.deepEqual(sends, expect);
  assert.ok(real.results[0].counters.computeNs > 0);
});

Deno.test("nas sp: process counts follow NPB (a square, at least 3 points per cell)", async () => {
  for (const np of [1, 4, 9, 16]) assert.equal(kernel.checkNp(np, "S"), undefined, `${np}`);
  assert.equal(
    kernel.checkNp(8, "S"),
    "SP: *** ERROR determining processor topology for 8 processes: Expecting a square number of processes (such as 4)",
  );
  assert.match(kernel.checkNp(25, "S")!, /Error: Cell size too small\. Min size is 3/);
  assert.equal(kernel.checkNp(25, "A"), undefined);
  await assert.rejects(
    () => runNas({ kernel: "sp", cls: "S", np: 3, mode: "native" }),
    /^ToolError: --np 3: SP: \*\*\* ERROR determining processor topology for 3 processes: Expecting a square number of processes \(such as 1\)$/,
  );
});

Deno.test("nas sp: Mop/s by sp.f90's formula with its single-precision constants", () => {
  // sp.f90: 1.0d-6*dble(niter)*(881.174*n3 -4683.91*t**2 +11484.5*t -19272.4) / tmax, the
  // constants default-real literals (promoted to double with their single-precision value).
  const lit = (a: number, b: number, c: number, d: number) =>
    1.0e-6 * 400 * (a * 64 ** 3 - b * 64 ** 2 + c * 64 - d) / 20;
  const f = Math.fround;
  assert.equal(spMops(64, 400, 20), lit(f(881.174), f(4683.91), f(11484.5), f(19272.4)));
  assert.notEqual(spMops(64, 400, 20), lit(881.174, 4683.91, 11484.5, 19272.4));
});

Deno.test("nas sp: a value off by more than 1e-8, a NaN or another dt fails verification", () => {
  const { xcr, xce } = SP_REFERENCE.A;
  assert.equal(spVerify("A", xcr, xce, 1.5e-3).verified, true);
  const bad = [...xce];
  bad[1] *= 1 + 3e-8;
  const v = spVerify("A", xcr, bad, 1.5e-3);
  assert.equal(v.verified, false);
  assert.ok(v.lines.some((l) => l.startsWith(" FAILURE:  2")), v.lines.join("\n"));
  assert.equal(v.lines.at(-1), " Verification failed");
  assert.equal(spVerify("A", xcr.map(() => NaN), xce, 1.5e-3).verified, false);
  const dt = spVerify("A", xcr, xce, 1.0e-3);
  assert.equal(dt.verified, false);
  assert.ok(
    dt.lines.includes(" DT does not match the reference value of " + fortranE(1.5e-3, 15, 8)),
  );
  assert.equal(dt.lines.at(-1), " No verification performed");
});
