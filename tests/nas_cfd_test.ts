/**
 * NAS BT, SP and LU share NPB's common pieces once (tools/nas/cfd/): the
 * exact solution's ce table and set_constants' constants, verify.f90's
 * comparison lines, and the banner; each benchmark's own output is
 * unchanged (its tests compare it with NPB's).
 */
import assert from "node:assert/strict";
import { BtGrid } from "../tools/nas/bt/grid.ts";
import { makeSet as btSet } from "../tools/nas/bt/params.ts";
import { btVerify } from "../tools/nas/bt/verify.ts";
import { btBanner } from "../tools/nas/bt.ts";
import { CE, SetConstants } from "../tools/nas/cfd/constants.ts";
import { compareNorm } from "../tools/nas/cfd/verify.ts";
import { LuGrid } from "../tools/nas/lu/grid.ts";
import { subdomain } from "../tools/nas/lu/params.ts";
import { LU_REFERENCE } from "../tools/nas/lu/params.ts";
import { luVerify } from "../tools/nas/lu/verify.ts";
import { luBanner } from "../tools/nas/lu.ts";
import { SpState } from "../tools/nas/sp/data.ts";
import { makeSet as spSet } from "../tools/nas/sp/params.ts";
import { spVerify } from "../tools/nas/sp/verify.ts";
import { spBanner } from "../tools/nas/sp.ts";

// A one-rank communicator that charges nothing: the grids only need its shape here.
const loneRank = {
  size: 1,
  rank: 0,
  compute: () => Promise.resolve(0),
  alloc: () => undefined,
} as never;

Deno.test("nas cfd: BT, SP and LU use the one ce table and BT/SP the one set of set_constants", () => {
  const bt = new BtGrid({ n: 12, niter: 60, dt: 0.01 }, btSet(12, 1, 0), true, loneRank);
  const sp = new SpState(
    { n: 12, niter: 100, dt: 0.015 },
    spSet(12, 1, 0),
    true,
    loneRank,
    loneRank,
    loneRank,
  );
  const lu = new LuGrid(
    { n: 12, itmax: 50, dt: 0.5 },
    subdomain(12, 12, 12, 1, 1, 0),
    true,
    loneRank,
  );
  assert.equal(bt.ce, CE);
  assert.equal(sp.ce, CE);
  assert.equal(lu.ce, CE);
  assert.ok(bt instanceof SetConstants && sp instanceof SetConstants);
  const shared = new SetConstants(12);
  for (
    const k of ["dnm1", "c1c2", "c1c5", "c3c4", "conz1", "t1", "t2", "t3", "dssp", "con", "ddt1"]
  ) {
    const key = k as keyof SetConstants;
    assert.deepEqual(bt[key], shared[key], k);
    assert.deepEqual(sp[key], shared[key], k);
  }
  // BT's and SP's own constants stay theirs.
  assert.equal(bt.c1345, bt.c1c5 * bt.c3c4);
  assert.equal(sp.comz6, 6.0 * (0.015 * sp.dssp));
});

Deno.test("nas cfd: BT's and SP's verification print verify.f90's lines alike; LU's rows are the same comparison", () => {
  const xcr = [1, 2, 3, 4, 5], xce = [6, 7, 8, 9, 10];
  // A dt off the class's: both print the unknown-class norms, the same lines.
  const bt = btVerify("S", xcr, xce, 0.5).lines;
  const sp = spVerify("S", xcr, xce, 0.5).lines;
  assert.equal(bt.length, 17);
  assert.deepEqual(bt.slice(3), sp.slice(3));
  assert.equal(bt[2], " DT does not match the reference value of  0.10000000E-01");
  assert.equal(sp[2], " DT does not match the reference value of  0.15000000E-01");
  const { xcr: r, xce: e, xci } = LU_REFERENCE.S;
  const lu = luVerify("S", r, e, xci * (1 + 3e-8), 0.5);
  assert.equal(lu.verified, false);
  assert.equal(lu.lines.at(-2), compareNorm("    ", xci * (1 + 3e-8), xci, 1e-8).line);
  assert.ok(lu.lines.at(-2)!.startsWith(" FAILURE: "));
});

Deno.test("nas cfd: the banners of BT, SP and LU differ only where NPB's do", () => {
  const bt = btBanner("S", 4), sp = spBanner("S", 4), lu = luBanner("S", 4);
  assert.deepEqual(
    bt.map((l) => l.replace(/BT|bt/g, "XX")).filter((_, i) => i !== 6),
    sp.map((l) => l.replace(/SP|sp/g, "XX")).filter((_, i) => i !== 6),
  );
  assert.deepEqual(
    lu,
    [...bt.slice(0, 4), bt[5], " Iterations:   50", ...bt.slice(7)].map((l) =>
      l.replace("BT", "LU")
    ),
  );
  assert.deepEqual(btBanner("U" as never, 4), []);
});
