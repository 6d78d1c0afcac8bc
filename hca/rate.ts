/**
 * Static rate control (IBTA vol 1 §9.11): a path may be slower than the port a QP sends from (a
 * 1x link or a slower switch on the way), and the sender then spaces its packets so as not to
 * inject faster than the path carries. The path's rate is the address vector's `static_rate`
 * (`enum ibv_rate` of verbs.h, 0 = the port's own rate); from it and the port's rate comes the
 * inter-packet delay (IPD): after a packet that took `T` on the wire, the next one to that path
 * waits `IPD × T` more, so packets start `(IPD + 1) × T` apart and the path sees the port's rate
 * over `IPD + 1`. Mellanox HCAs do it in hardware from the AV's rate field (Linux mthca_av.c
 * `mthca_get_rate`: a Tavor port of 4x SDR knows 1x (2.5 Gb/s), 1x DDR (5) and 4x (10), IPD 3, 1
 * and 0 on its 10 Gb/s port, as {@link interPacketDelay} gives them).
 *
 * @module
 */

/**
 * Nominal Gb/s of each `enum ibv_rate` value (verbs.h: `IBV_RATE_2_5_GBPS` = 2, `IBV_RATE_10_GBPS`
 * = 3, …, `IBV_RATE_1200_GBPS` = 24). 0 (`IBV_RATE_MAX`) and values verbs.h does not define have
 * none: they ask for the port's rate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_RATE_GBPS } from "./rate.ts";
 * assert.deepEqual([IBV_RATE_GBPS[2], IBV_RATE_GBPS[3], IBV_RATE_GBPS[21]], [2.5, 10, 400]);
 * assert.equal(IBV_RATE_GBPS[0], undefined); // IBV_RATE_MAX: the port's rate
 * ```
 */
export const IBV_RATE_GBPS: Readonly<Record<number, number>> = Object.freeze({
  2: 2.5,
  5: 5,
  3: 10,
  6: 20,
  4: 30,
  7: 40,
  8: 60,
  9: 80,
  10: 120,
  11: 14,
  12: 56,
  13: 112,
  14: 168,
  15: 25,
  16: 100,
  17: 200,
  18: 300,
  19: 28,
  20: 50,
  21: 400,
  22: 600,
  23: 800,
  24: 1200,
});

/** Lane signalling rates (Gb/s) of the IBA speeds, and the nominal rate each is named by. */
const NOMINAL_LANE: readonly (readonly [number, number])[] = [
  [2.5, 2.5], // SDR
  [5, 5], // DDR
  [10, 10], // QDR
  [10.3125, 10], // FDR10
  [14.0625, 14], // FDR
  [25.78125, 25], // EDR
  [53.125, 50], // HDR (PAM4, 26.5625 GBd)
  [106.25, 100], // NDR
  [212.5, 200], // XDR
];

/**
 * A port's nominal rate in Gb/s (what `enum ibv_rate` names it by: 4x SDR is 10, 4x NDR 400) from
 * its width and lane signalling rate; a lane rate that is none of the IBA speeds counts as is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { portNominalGbps } from "./rate.ts";
 * assert.equal(portNominalGbps(4, 2.5e9 / 8), 10); // 4x SDR
 * assert.equal(portNominalGbps(4, 106.25e9 / 8), 400); // 4x NDR
 * ```
 */
export function portNominalGbps(width: number, laneSignalBytesPerSec: number): number {
  const lane = (laneSignalBytesPerSec * 8) / 1e9;
  for (const [signal, nominal] of NOMINAL_LANE) {
    if (Math.abs(lane - signal) < signal * 1e-6) return width * nominal;
  }
  return width * lane;
}

/**
 * The inter-packet delay (IBTA vol 1 §9.11) of a path of `staticRate` (`enum ibv_rate`) from a
 * port of `portGbps` (nominal): the smallest IPD that keeps the port's rate over `IPD + 1` at or
 * below the path's, 0 for a path as fast as the port or faster, for `IBV_RATE_MAX` (0) and for a
 * value verbs.h does not define (as mthca_get_rate sends such a path at the port's rate).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { interPacketDelay } from "./rate.ts";
 * // A 10 Gb/s port (4x SDR): 2.5 Gb/s is IPD 3, 5 Gb/s IPD 1, 10 Gb/s and above none.
 * assert.deepEqual([2, 5, 3, 4, 0, 1].map((r) => interPacketDelay(r, 10)), [3, 1, 0, 0, 0, 0]);
 * assert.equal(interPacketDelay(3, 30), 2); // 10 Gb/s from a 30 Gb/s port (IBTA's example)
 * ```
 */
export function interPacketDelay(staticRate: number, portGbps: number): number {
  const gbps = IBV_RATE_GBPS[staticRate];
  if (gbps === undefined || gbps >= portGbps) return 0;
  return Math.ceil(portGbps / gbps - 1e-9) - 1;
}

/**
 * The `enum ibv_rate` a path of `staticRate` from a port of `portGbps` (nominal) runs at: the
 * port's rate over `IPD + 1` ({@link interPacketDelay}), what the device holds for it and
 * mthca_query_qp reports (mthca_av.c `mthca_rate_to_ib`: the rate the QP context's path rate
 * field stands for on that port, the port's own rate for a path that runs at it). A rate verbs.h
 * has no value for is 0 (`IBV_RATE_MAX`, as the kernel's `mult_to_ib_rate` answers
 * IB_RATE_PORT_CURRENT for it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pathRate } from "./rate.ts";
 * // A 10 Gb/s port (4x SDR): 2.5 and 5 Gb/s paths as asked; 0, 10, 20 and 30 at the port's 10.
 * assert.deepEqual([2, 5, 0, 3, 6, 4].map((r) => pathRate(r, 10)), [2, 5, 3, 3, 3, 3]);
 * assert.equal(pathRate(18, 400), 17); // 300 Gb/s from 400: IPD 1, the path runs at 200
 * ```
 */
export function pathRate(staticRate: number, portGbps: number): number {
  const gbps = portGbps / (interPacketDelay(staticRate, portGbps) + 1);
  for (const [rate, g] of Object.entries(IBV_RATE_GBPS)) {
    if (Math.abs(g - gbps) < 1e-9 * g) return Number(rate);
  }
  return 0;
}
