/**
 * NAS LU (tools/nas/lu.ts): class S verifies against NPB's reference norms
 * and surface integral in native, bypass and split domains with identical
 * values; a model run sends the same messages and takes the same virtual
 * time as the real one; the wavefront and ghost exchanges are NPB's
 * (peers, tags, sizes, counts); a wrong value fails verification.
 */
import assert from "node:assert/strict";
import { type Comm, mpiexec } from "../mpi/mod.ts";
import { fortranE, fortranI } from "../tools/nas/format.ts";
import type { NasResult } from "../tools/nas/kernel.ts";
import { kernel, luMops, luSolve, runLu } from "../tools/nas/lu.ts";
import { LU_REFERENCE } from "../tools/nas/lu/params.ts";
import { luVerify } from "../tools/nas/lu/verify.ts";

const layouts = {
  native: { np: 4, mode: "native" },
  bypass: { np: 4, mode: "bypass", hosts: 2, guestsPerHost: 2 },
  split: { np: 4, mode: "split", hosts: 2, guestsPerHost: 2 },
} as const;

Deno.test("nas lu: class S verifies in native, bypass and split with identical values", async () => {
  const out: Record<string, NasResult> = {};
  const logged: Record<string, string[]> = {};
  for (const [mode, opts] of Object.entries(layouts)) {
    const lines: string[] = [];
    const { results } = await mpiexec(
      opts,
      (comm) => runLu(comm, { cls: "S", compute: "real", log: (l) => lines.push(l) }),
    );
    logged[mode] = lines;
    const r = results[0]!;
    assert.equal(r.verified, true, `${mode}: ${r.details.join("\n")}`);
    assert.equal(r.size, "12x  12x  12");
    assert.equal(r.iterations, 50);
    assert.equal(r.mops, luMops(12, 50, r.timeSec));
    out[mode] = r;
  }
  // The verification lines print every norm to 13 digits: the same in every mode.
  assert.deepEqual(out.bypass.details, out.native.details);
  assert.deepEqual(out.split.details, out.native.details);
  // ssor.f90 format 200 on rank 0 at steps 1, 20, 40 and itmax of the timed run (none in the
  // warm-up step); then verify.f90's lines, the first (format 1990) after a blank line.
  assert.deepEqual(logged.native, [1, 20, 40, 50].map((n) => ` Time step ${fortranI(n, 4)}`));
  assert.deepEqual(logged.split, logged.native);
  assert.deepEqual(out.native.details.slice(0, 3), [
    "",
    " Verification being performed for class S",
    " Accuracy setting for epsilon = " + fortranE(1e-8, 20, 13),
  ]);
  assert.equal(out.native.details.at(-1), " Verification Successful");
  assert.ok(
    out.split.timeSec > out.native.timeSec,
    `${out.split.timeSec} vs ${out.native.timeSec}`,
  );
});

/** Record every point-to-point send the kernel makes (collectives are not in it). */
function recordSends(comm: Comm): Map<string, number> {
  const seen = new Map<string, number>();
  const send = comm.send.bind(comm);
  comm.send = (buf, dest, tag) => {
    const key = `${dest}/${tag}/${(buf as ArrayBufferView | { byteLength: number }).byteLength}`;
    seen.set(key, (seen.get(key) ?? 0) + 1);
    return send(buf, dest, tag);
  };
  return seen;
}

Deno.test("nas lu: a model run sends NPB's messages and takes the real run's virtual time (class S)", async () => {
  const run = (real: boolean) =>
    mpiexec(layouts.native, async (comm) => {
      const sends = recordSends(comm);
      const s = await luSolve(comm, "S", real);
      const c = comm.counters();
      return {
        t: s.maxtime,
        messages: c.messages,
        bytes: c.bytesSent,
        computeNs: c.computeNs,
        sends: [...sends].sort(),
      };
    });
  const real = await run(true), model = await run(false);
  assert.deepEqual(model.results, real.results);
  // Rank 0 is the north-west corner of the 2 x 2 grid (6 x 6 x 12 points, interior j 2..6):
  // per k-plane of the lower sweep one edge south (tag from_n) and one east (tag from_w), 25
  // doubles each, for 10 planes in 51 steps (the warm-up step and 50); nothing in the upper
  // sweep (its neighbours are south and east). exchange_3 sends 10·6·12 doubles south and east
  // in erhs and in each of the 53 rhs calls. pintgr's few surface lines are the rest.
  const sends = new Map(real.results[0].sends);
  assert.equal(sends.get("1/2/200"), 510);
  assert.equal(sends.get("2/4/200"), 510);
  assert.equal(sends.get("1/2/5760"), 54);
  assert.equal(sends.get("2/4/5760"), 54);
  const rest = [...sends].filter(([k]) =>
    !["1/2/200", "2/4/200", "1/2/5760", "2/4/5760"].includes(k)
  );
  assert.ok(rest.reduce((a, [, n]) => a + n, 0) <= 4, JSON.stringify(rest));
  // Rank 3 (south-east) sends only in the upper sweep: north to rank 2 (tag from_s), west to
  // rank 1 (tag from_e), and exchange_3's layers the same ways.
  const s3 = new Map(real.results[3].sends);
  assert.equal(s3.get("2/1/200"), 510);
  assert.equal(s3.get("1/3/200"), 510);
  assert.equal(s3.get("2/1/5760"), 54);
  assert.equal(s3.get("1/3/5760"), 54);
});

Deno.test("nas lu: Mop/s by lu.f90's formula with its single-precision constants", () => {
  // lu.f90: 1.0d-6*dble(itmax)*(1984.77*dble(nx0)*dble(ny0)*dble(nz0)
  //   -10923.3*(dble(nx0+ny0+nz0)/3.)**2 +27770.9* dble(nx0+ny0+nz0)/3. -144010.) / maxtime,
  // the constants default-real literals (1984.77 is 1984.77001953125 promoted to double).
  const lit = (a: number, b: number, c: number) =>
    1e-6 * 250 * (a * 64 * 64 * 64 - b * (192 / 3) ** 2 + c * 192 / 3 - 144010.) / 12.5;
  const f = Math.fround;
  assert.equal(luMops(64, 250, 12.5), lit(f(1984.77), f(10923.3), f(27770.9)));
  assert.notEqual(luMops(64, 250, 12.5), lit(1984.77, 10923.3, 27770.9));
});

Deno.test("nas lu: a value off by more than 1e-8 fails verification", () => {
  const { xcr, xce, xci } = LU_REFERENCE.A;
  assert.equal(luVerify("A", xcr, xce, xci, 2.0).verified, true);
  const badXce = [...xce];
  badXce[2] *= 1 + 3e-8;
  const v = luVerify("A", xcr, badXce, xci, 2.0);
  assert.equal(v.verified, false);
  assert.ok(v.lines.some((l) => l.startsWith(" FAILURE:  3")), v.lines.join("\n"));
  assert.equal(luVerify("A", xcr, xce, xci, 1.0).verified, false); // dt is not class A's
  assert.equal(luVerify("A", xcr.map(() => NaN), xce, xci, 2.0).verified, false);
});

Deno.test("nas lu: process counts follow NPB (n1*n2 grids with n1/2 <= n2 <= n1)", () => {
  for (const np of [1, 2, 4, 6, 8, 16, 32]) {
    assert.equal(kernel.checkNp(np, "A"), undefined, `${np}`);
  }
  assert.match(kernel.checkNp(5, "A")!, /n1\*n2 .* \(got 5, such as 4\)/);
  assert.match(kernel.checkNp(64, "S")!, /subdomain too small on a 8 x 8 process grid/);
  assert.match(kernel.checkNp(4, "C")!, /no class C/);
  assert.deepEqual(kernel.modelClasses, ["A", "B"]);
});
