/**
 * Transport timer values: the local ACK timeout (IBTA vol 1 §9.7.6.1.3:
 * 4.096 µs · 2^timeout, 0 = infinite) and the RNR NAK timer codes of table
 * 45 (§9.7.5.2.8).
 *
 * @module
 */

/** RNR timer codes and ACK timeout exponents are 5-bit fields (IBTA vol 1 §9.7.5.2.8, §9.7.6.1.3). */
const TIMER_CODE_MASK = 0x1f;

/**
 * RNR NAK timer, by 5-bit code, in ns (IBTA vol 1 §9.7.5.2.8, table 45).
 * Code 0 is the longest (655.36 ms).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RNR_TIMER_NS } from "./timers.ts";
 * // The smallest code whose RNR delay is at least 1 ms:
 * assert.equal(RNR_TIMER_NS.findIndex((ns, code) => code > 0 && ns >= 1e6), 14); // 1.28 ms
 * ```
 */
export const RNR_TIMER_NS: readonly number[] = [
  655_360_000,
  10_000,
  20_000,
  30_000,
  40_000,
  60_000,
  80_000,
  120_000,
  160_000,
  240_000,
  320_000,
  480_000,
  640_000,
  960_000,
  1_280_000,
  1_920_000,
  2_560_000,
  3_840_000,
  5_120_000,
  7_680_000,
  10_240_000,
  15_360_000,
  20_480_000,
  30_720_000,
  40_960_000,
  61_440_000,
  81_920_000,
  122_880_000,
  163_840_000,
  245_760_000,
  327_680_000,
  491_520_000,
];

/**
 * RNR delay for a timer code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rnrTimerNs } from "./timers.ts";
 * assert.equal(rnrTimerNs(12), 640000); // 0.64 ms
 * ```
 */
export function rnrTimerNs(code: number): number {
  return RNR_TIMER_NS[code & TIMER_CODE_MASK];
}

/**
 * Local ACK timeout in ns for the 5-bit QP attribute, or Infinity for 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ackTimeoutNs } from "./timers.ts";
 * assert.equal(ackTimeoutNs(14), 67108864); // ~67 ms
 * ```
 */
export function ackTimeoutNs(timeout: number): number {
  if (timeout === 0) return Infinity;
  return ACK_TIMEOUT_NS[timeout & TIMER_CODE_MASK];
}

/** The local ACK timeout is 4.096 µs × 2^timeout (IBTA vol 1 §9.7.6.1.3). */
const ACK_TIMEOUT_UNIT_NS = 4096;
/** Every code's timeout, computed once: the requester arms the timer on every packet it sends. */
const ACK_TIMEOUT_NS: readonly number[] = Array.from(
  { length: TIMER_CODE_MASK + 1 },
  (_, code) => ACK_TIMEOUT_UNIT_NS * 2 ** code,
);
