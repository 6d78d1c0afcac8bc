/**
 * `enum ibv_rate` and its conversions (drivers/uapi/rates.ts) against rdma-core's
 * `libibverbs/verbs.c` (`ibv_rate_to_mult`, `mult_to_ibv_rate`, `ibv_rate_to_mbps`,
 * `mbps_to_ibv_rate`): every rate both ways, the values rdma-core has no answer for, and the
 * device model's table of the same numbering (hca/rate.ts).
 *
 * @module
 */
import assert from "node:assert/strict";
import { IbvRate, mbpsToRate, multToRate, rateToMbps, rateToMult } from "../mod.ts";
import { IBV_RATE_GBPS } from "../hca/rate.ts";

/** verbs.h `enum ibv_rate`: name → [value, ibv_rate_to_mult, ibv_rate_to_mbps]. */
const RATES: Record<keyof typeof IbvRate, [number, number, number]> = {
  RATE_MAX: [0, -1, -1],
  RATE_2_5_GBPS: [2, 1, 2500],
  RATE_5_GBPS: [5, 2, 5000],
  RATE_10_GBPS: [3, 4, 10000],
  RATE_20_GBPS: [6, 8, 20000],
  RATE_30_GBPS: [4, 12, 30000],
  RATE_40_GBPS: [7, 16, 40000],
  RATE_60_GBPS: [8, 24, 60000],
  RATE_80_GBPS: [9, 32, 80000],
  RATE_120_GBPS: [10, 48, 120000],
  RATE_14_GBPS: [11, -1, 14062],
  RATE_56_GBPS: [12, -1, 56250],
  RATE_112_GBPS: [13, -1, 112500],
  RATE_168_GBPS: [14, -1, 168750],
  RATE_25_GBPS: [15, -1, 25781],
  RATE_100_GBPS: [16, -1, 103125],
  RATE_200_GBPS: [17, -1, 206250],
  RATE_300_GBPS: [18, -1, 309375],
  RATE_28_GBPS: [19, 11, 28125],
  RATE_50_GBPS: [20, 20, 53125],
  RATE_400_GBPS: [21, 160, 425000],
  RATE_600_GBPS: [22, 240, 637500],
  RATE_800_GBPS: [23, 320, 850000],
  RATE_1200_GBPS: [24, 480, 1275000],
};

/** Numbers no table holds, and values a C caller cannot pass. */
const ODD: unknown[] = [1, 25, -1, 2.5, NaN, Infinity, "3", null, undefined, 3n];

Deno.test("IbvRate: verbs.h's names and values, no more", () => {
  assert.deepEqual(
    Object.fromEntries(Object.entries(IbvRate)),
    Object.fromEntries(Object.entries(RATES).map(([k, [v]]) => [k, v])),
  );
});

Deno.test("rateToMult / multToRate: every rate, both ways, as rdma-core", () => {
  for (const [name, [rate, mult]] of Object.entries(RATES)) {
    assert.equal(rateToMult(rate), mult, name);
    if (mult > 0) assert.equal(multToRate(mult), rate, name);
  }
  for (const v of ODD) assert.equal(rateToMult(v as number), -1, String(v));
  for (const m of [0, 3, 5, 10, 14, 56, 100, 481, -1, 4.5, NaN, "4", null]) {
    assert.equal(multToRate(m as number), IbvRate.RATE_MAX, String(m));
  }
});

Deno.test("rateToMbps / mbpsToRate: every rate, both ways, as rdma-core", () => {
  for (const [name, [rate, , mbps]] of Object.entries(RATES)) {
    assert.equal(rateToMbps(rate), mbps, name);
    if (mbps > 0) assert.equal(mbpsToRate(mbps), rate, name);
  }
  for (const v of ODD) assert.equal(rateToMbps(v as number), -1, String(v));
  // Exact values only: a nominal 14000 or 100000 is no rate, nor is -1 (ibv_rate_to_mbps's "none").
  for (const m of [0, -1, 14000, 100000, 2500.5, NaN, "2500", null]) {
    assert.equal(mbpsToRate(m as number), IbvRate.RATE_MAX, String(m));
  }
});

Deno.test("IbvRate: the device model's IBV_RATE_GBPS uses the same numbering", () => {
  const values = Object.values(IbvRate).filter((r) => r !== IbvRate.RATE_MAX);
  assert.deepEqual(
    Object.keys(IBV_RATE_GBPS).map(Number).sort((a, b) => a - b),
    [...values].sort((a, b) => a - b),
  );
  for (const [name, rate] of Object.entries(IbvRate)) {
    if (rate === IbvRate.RATE_MAX) continue;
    const gbps = IBV_RATE_GBPS[rate];
    // The name's Gb/s is the model's nominal rate; rdma-core's multiple of 2.5 Gb/s is within
    // one step of it (28 Gb/s is 11, 27.5: not a whole multiple).
    assert.equal(gbps, Number(name.slice(5, -5).replace("_", ".")), name);
    const mult = rateToMult(rate);
    if (mult > 0) assert.ok(Math.abs(mult * 2.5 - gbps) < 2.5, `${name}: ${mult} × 2.5 vs ${gbps}`);
  }
});
