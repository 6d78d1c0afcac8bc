/**
 * `enum ibv_rate` and libibverbs' conversions of it (rdma-core `libibverbs/verbs.c`,
 * `ibv_rate_to_mult(3)`, `ibv_rate_to_mbps(3)`): to and from a multiple of the 2.5 Gb/s base
 * rate, and to and from Mbit/s. An address vector's `staticRate` (`AhAttr.staticRate`) is one of
 * these values. Like rdma-core, a value a conversion has no answer for is not an error:
 * `rateToMult` and `rateToMbps` answer -1, `multToRate` and `mbpsToRate` answer
 * `IbvRate.RATE_MAX` (0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IbvRate, rateToMbps } from "./rates.ts";
 * assert.equal(rateToMbps(IbvRate.RATE_10_GBPS), 10000);
 * ```
 *
 * @module
 */

/**
 * `enum ibv_rate` (verbs.h): a static rate. `RATE_MAX` (0) asks for the port's own rate; the
 * others are numbered as the IBTA's rate codes, not in order of speed (`RATE_10_GBPS` is 3,
 * `RATE_5_GBPS` 5). The device model's `IBV_RATE_GBPS` (hca/rate.ts, which may not import this
 * layer) gives the nominal Gb/s of the same values; tests/uapi_rates_test.ts keeps the two in step.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IbvRate } from "./rates.ts";
 * assert.deepEqual([IbvRate.RATE_MAX, IbvRate.RATE_2_5_GBPS, IbvRate.RATE_10_GBPS], [0, 2, 3]);
 * assert.equal(IbvRate.RATE_1200_GBPS, 24);
 * ```
 */
export const IbvRate = {
  RATE_MAX: 0,
  RATE_2_5_GBPS: 2,
  RATE_5_GBPS: 5,
  RATE_10_GBPS: 3,
  RATE_20_GBPS: 6,
  RATE_30_GBPS: 4,
  RATE_40_GBPS: 7,
  RATE_60_GBPS: 8,
  RATE_80_GBPS: 9,
  RATE_120_GBPS: 10,
  RATE_14_GBPS: 11,
  RATE_56_GBPS: 12,
  RATE_112_GBPS: 13,
  RATE_168_GBPS: 14,
  RATE_25_GBPS: 15,
  RATE_100_GBPS: 16,
  RATE_200_GBPS: 17,
  RATE_300_GBPS: 18,
  RATE_28_GBPS: 19,
  RATE_50_GBPS: 20,
  RATE_400_GBPS: 21,
  RATE_600_GBPS: 22,
  RATE_800_GBPS: 23,
  RATE_1200_GBPS: 24,
} as const;
/**
 * A value of {@link IbvRate}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IbvRate } from "./rates.ts";
 * const portRate = (r: IbvRate) => r === IbvRate.RATE_MAX;
 * assert.ok(portRate(IbvRate.RATE_MAX) && !portRate(IbvRate.RATE_40_GBPS));
 * ```
 */
export type IbvRate = (typeof IbvRate)[keyof typeof IbvRate];

const R = IbvRate;

/**
 * The multiples of 2.5 Gb/s rdma-core's `ibv_rate_to_mult` knows: the SDR-based rates and the
 * HDR-era ones. FDR and EDR rates (14, 56, 112, 168, 25, 100, 200, 300 Gb/s) are none: 14.0625
 * or 25.78125 Gb/s is no whole multiple, and rdma-core answers -1 for them.
 */
const MULT: ReadonlyMap<number, number> = new Map([
  [R.RATE_2_5_GBPS, 1],
  [R.RATE_5_GBPS, 2],
  [R.RATE_10_GBPS, 4],
  [R.RATE_20_GBPS, 8],
  [R.RATE_30_GBPS, 12],
  [R.RATE_40_GBPS, 16],
  [R.RATE_60_GBPS, 24],
  [R.RATE_80_GBPS, 32],
  [R.RATE_120_GBPS, 48],
  [R.RATE_28_GBPS, 11],
  [R.RATE_50_GBPS, 20],
  [R.RATE_400_GBPS, 160],
  [R.RATE_600_GBPS, 240],
  [R.RATE_800_GBPS, 320],
  [R.RATE_1200_GBPS, 480],
]);

/** `ibv_rate_to_mbps`: every rate but `RATE_MAX`, at its lanes' data rate (FDR 14062, EDR 25781 …). */
const MBPS: ReadonlyMap<number, number> = new Map([
  [R.RATE_2_5_GBPS, 2500],
  [R.RATE_5_GBPS, 5000],
  [R.RATE_10_GBPS, 10000],
  [R.RATE_20_GBPS, 20000],
  [R.RATE_30_GBPS, 30000],
  [R.RATE_40_GBPS, 40000],
  [R.RATE_60_GBPS, 60000],
  [R.RATE_80_GBPS, 80000],
  [R.RATE_120_GBPS, 120000],
  [R.RATE_14_GBPS, 14062],
  [R.RATE_56_GBPS, 56250],
  [R.RATE_112_GBPS, 112500],
  [R.RATE_168_GBPS, 168750],
  [R.RATE_25_GBPS, 25781],
  [R.RATE_100_GBPS, 103125],
  [R.RATE_200_GBPS, 206250],
  [R.RATE_300_GBPS, 309375],
  [R.RATE_28_GBPS, 28125],
  [R.RATE_50_GBPS, 53125],
  [R.RATE_400_GBPS, 425000],
  [R.RATE_600_GBPS, 637500],
  [R.RATE_800_GBPS, 850000],
  [R.RATE_1200_GBPS, 1275000],
]);

function inverse(table: ReadonlyMap<number, number>): ReadonlyMap<number, IbvRate> {
  return new Map([...table].map(([rate, n]) => [n, rate as IbvRate]));
}
const RATE_OF_MULT = inverse(MULT);
const RATE_OF_MBPS = inverse(MBPS);

function get<T>(table: ReadonlyMap<number, T>, key: unknown): T | undefined {
  // SameValueZero: NaN, 2.5 and "4" find nothing, as no C int is one of them.
  return typeof key === "number" ? table.get(key) : undefined;
}

/**
 * `ibv_rate_to_mult`: the rate as a multiple of 2.5 Gb/s (`RATE_5_GBPS` → 2); -1 for
 * `RATE_MAX`, for the FDR and EDR rates (14, 56, 112, 168, 25, 100, 200, 300 Gb/s), which
 * rdma-core gives no multiple, and for any other value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IbvRate, rateToMult } from "./rates.ts";
 * assert.equal(rateToMult(IbvRate.RATE_5_GBPS), 2);
 * assert.equal(rateToMult(IbvRate.RATE_400_GBPS), 160);
 * assert.equal(rateToMult(IbvRate.RATE_14_GBPS), -1);
 * assert.equal(rateToMult(IbvRate.RATE_MAX), -1);
 * ```
 */
export function rateToMult(rate: IbvRate | number): number {
  return get(MULT, rate) ?? -1;
}

/**
 * `mult_to_ibv_rate`: the rate that is `mult` × 2.5 Gb/s (2 → `RATE_5_GBPS`), for the
 * multiples {@link rateToMult} answers; `RATE_MAX` (0) for any other number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IbvRate, multToRate } from "./rates.ts";
 * assert.equal(multToRate(4), IbvRate.RATE_10_GBPS);
 * assert.equal(multToRate(3), IbvRate.RATE_MAX); // 7.5 Gb/s is no rate
 * ```
 */
export function multToRate(mult: number): IbvRate {
  return get(RATE_OF_MULT, mult) ?? R.RATE_MAX;
}

/**
 * `ibv_rate_to_mbps`: the rate in Mbit/s, as rdma-core counts it (`RATE_5_GBPS` → 5000; FDR's
 * `RATE_14_GBPS` → 14062, EDR's `RATE_100_GBPS` → 103125); -1 for `RATE_MAX` and any other value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IbvRate, rateToMbps } from "./rates.ts";
 * assert.equal(rateToMbps(IbvRate.RATE_5_GBPS), 5000);
 * assert.equal(rateToMbps(IbvRate.RATE_14_GBPS), 14062);
 * assert.equal(rateToMbps(IbvRate.RATE_MAX), -1);
 * ```
 */
export function rateToMbps(rate: IbvRate | number): number {
  return get(MBPS, rate) ?? -1;
}

/**
 * `mbps_to_ibv_rate`: the rate of exactly `mbps` Mbit/s as {@link rateToMbps} counts it
 * (5000 → `RATE_5_GBPS`, 14062 → `RATE_14_GBPS`); `RATE_MAX` (0) for any other number
 * (14000 is none: rdma-core matches exact values only).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IbvRate, mbpsToRate } from "./rates.ts";
 * assert.equal(mbpsToRate(5000), IbvRate.RATE_5_GBPS);
 * assert.equal(mbpsToRate(103125), IbvRate.RATE_100_GBPS);
 * assert.equal(mbpsToRate(14000), IbvRate.RATE_MAX);
 * ```
 */
export function mbpsToRate(mbps: number): IbvRate {
  return get(RATE_OF_MBPS, mbps) ?? R.RATE_MAX;
}
