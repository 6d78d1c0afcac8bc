/**
 * NAS BT (tools/nas/bt.ts): class S verifies against NPB's reference norms
 * on 1 and 4 processes; a process count off NPB's rule is NPB's one-line
 * error; the multi-partition's messages are NPB's (peers, tags, sizes,
 * counts); a model run sends the same messages and takes the real run's
 * virtual time; Mop/s is bt.f90's formula.
 */
import assert from "node:assert/strict";
import { Comm, mpiexec } from "../mpi/mod.ts";
import { btMops, btSolve, kernel } from "../tools/nas/bt.ts";
import { BT_REFERENCE } from "../tools/nas/bt/params.ts";
import { btVerify } from "../tools/nas/bt/verify.ts";
import { checkNasOptions, runNas } from "../tools/lib/nas_run.ts";

Deno.test("nas bt: class S verifies on 1 and 4 processes with NPB's output", async () => {
  for (const np of [1, 4]) {
    const r = await runNas({ kernel: "bt", cls: "S", np, mode: "native" });
    assert.equal(r.verified, true, r.report.join("\n"));
    assert.equal(r.compute, "real");
    assert.equal(r.mops, btMops(12, 60, r.timeSec));
    const lines = r.report;
    assert.ok(lines.includes(" Size:   12x  12x  12  (class S)"));
    assert.ok(lines.includes(" Iterations:   60    dt:   0.0100000"));
    // bt.f90 format 200 at steps 1, 20, 40 and niter of the timed loop (none in the warm-up).
    assert.deepEqual(
      lines.filter((l) => l.startsWith(" Time step")),
      [1, 20, 40, 60].map((n) => ` Time step ${String(n).padStart(4)}`),
    );
    assert.ok(lines.includes(" Verification Successful"));
    assert.ok(lines.includes(" Verification    =               SUCCESSFUL"));
    assert.ok(lines.includes(" Size            =             12x  12x  12"));
    // The norms agree with NPB's far inside the tolerance, whatever the partition.
    for (let m = 0; m < 5; m++) {
      const xce = r.values![`xce${m + 1}`], ref = BT_REFERENCE.S.xce[m];
      assert.ok(Math.abs(xce - ref) <= 1e-11 * ref, `np ${np} xce${m + 1} ${xce}`);
    }
  }
});

Deno.test("nas bt: a process count that is not a square is NPB's one-line error", () => {
  assert.equal(
    kernel.checkNp(8, "S"),
    "*** ERROR determining processor topology for 8 processes: Expecting a square number of processes (such as 4)",
  );
  assert.throws(
    () => checkNasOptions({ kernel: "BT", cls: "A", np: 12, mode: "native" }),
    /^.*--np 12: \*\*\* ERROR determining processor topology for 12 processes: Expecting a square number of processes \(such as 9\)$/,
  );
  // make_set.f90: a cell needs 3 points a side (12 / 5 = 2).
  assert.match(kernel.checkNp(25, "S")!, /^Error: Cell size too small\. Min size is 3/);
  for (const np of [1, 4, 9, 16, 25]) assert.equal(kernel.checkNp(np, "A"), undefined, `${np}`);
  assert.deepEqual(kernel.modelClasses, ["S", "W", "A", "B", "C"]);
});

/**
 * Record every isend of the kernel's own point-to-point messages (tags of
 * bt_data.f90's EAST … TOP, 2000 and up), by destination, tag and bytes.
 */
function recordIsends(): { seen: Map<number, Map<string, number>>; restore: () => void } {
  const seen = new Map<number, Map<string, number>>();
  const orig = Comm.prototype.isend;
  Comm.prototype.isend = function (this: Comm, buf, dest, tag = 0) {
    if (tag >= 2000) {
      const mine = seen.get(this.rank) ?? new Map<string, number>();
      seen.set(this.rank, mine);
      const key = `${dest}/${tag}/${(buf as { byteLength: number }).byteLength}`;
      mine.set(key, (mine.get(key) ?? 0) + 1);
    }
    return orig.call(this, buf, dest, tag);
  };
  return { seen, restore: () => void (Comm.prototype.isend = orig) };
}

Deno.test("nas bt: a model run sends NPB's messages and takes the real run's virtual time (class S, 4 processes)", async () => {
  const run = async (real: boolean) => {
    const rec = recordIsends();
    try {
      const { results } = await mpiexec({ np: 4, mode: "native" }, async (comm) => {
        const s = await btSolve(comm, "S", real);
        const c = comm.counters();
        return {
          t: s.maxtime,
          messages: c.messages,
          bytes: c.bytesSent,
          eager: c.eagerSend + c.eagerRdma,
          rndv: c.rndvRput + c.rndvRget,
          computeNs: c.computeNs,
        };
      });
      return { results, sends: [...rec.seen].sort().map(([r, m]) => [r, [...m].sort()]) };
    } finally {
      rec.restore();
    }
  };
  const real = await run(true), model = await run(false);
  assert.deepEqual(model.results, real.results);
  assert.deepEqual(model.sends, real.sends);
  assert.ok(real.results[0].t > 0);
  // Rank 0 of 2 x 2 holds cells (1,1,1) and (2,2,2); its neighbours are 1 (x), 2 (y), 3 (z)
  // both ways. copy_faces, in each of the 62 steps (warm-up, 60, verify's), sends one face
  // of 6 x 6 points x 2 planes x 5 doubles (2880 B) each way with tags EAST 2000 … TOP 7000.
  // Each x/y/z solve of the 61 steps sends its first cell's C' and rhs' forward
  // (MAX_CELL_DIM 7: 7 x 7 x 30 doubles, 11760 B, tag WEST/SOUTH/BOTTOM + 0) and its second
  // cell's U back (7 x 7 x 5 doubles, 1960 B, tag EAST/NORTH/TOP + 1 + 1 x 2).
  const r0 = new Map(real.sends.find(([r]) => r === 0)![1] as [string, number][]);
  assert.deepEqual(Object.fromEntries(r0), {
    "1/2000/2880": 62,
    "1/3000/2880": 62,
    "2/4000/2880": 62,
    "2/5000/2880": 62,
    "3/7000/2880": 62,
    "3/6000/2880": 62,
    "1/3000/11760": 61,
    "1/2003/1960": 61,
    "2/5000/11760": 61,
    "2/4003/1960": 61,
    "3/6000/11760": 61,
    "3/7003/1960": 61,
  });
});

Deno.test("nas bt: Mop/s by bt.f90's formula with its single-precision constants; 1e-8 decides", () => {
  const lit = (a: number, b: number, c: number) =>
    1e-6 * 200 * (a * 64 ** 3 - b * 64 ** 2 + c * 64) / 10;
  const f = Math.fround;
  assert.equal(btMops(64, 200, 10), lit(f(3478.8), f(17655.7), f(28023.7)));
  assert.notEqual(btMops(64, 200, 10), lit(3478.8, 17655.7, 28023.7));
  const { xcr, xce } = BT_REFERENCE.A;
  assert.equal(btVerify("A", xcr, xce, 0.8e-3).verified, true);
  const bad = [...xcr];
  bad[1] *= 1 + 3e-8;
  const v = btVerify("A", bad, xce, 0.8e-3);
  assert.equal(v.verified, false);
  assert.ok(v.lines.some((l) => l.startsWith(" FAILURE:  2")), v.lines.join("\n"));
  assert.equal(btVerify("A", xcr, xce, 1e-3).verified, false); // dt is not class A's
  assert.equal(btVerify("A", xcr.map(() => NaN), xce, 0.8e-3).verified, false);
});
