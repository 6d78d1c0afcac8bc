/**
 * The names perftest's tools share: the eight programs, their verb and
 * kind, transports, modes. No logic.
 *
 * @module
 */

/**
 * The eight perftest programs xenib provides.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PERFTEST_TESTS } from "./perftest_types.ts";
 * assert.deepEqual(PERFTEST_TESTS.ib_read_bw, { verb: "read", kind: "bw" });
 * ```
 */
export const PERFTEST_TESTS = {
  ib_write_lat: { verb: "write", kind: "lat" },
  ib_write_bw: { verb: "write", kind: "bw" },
  ib_read_lat: { verb: "read", kind: "lat" },
  ib_read_bw: { verb: "read", kind: "bw" },
  ib_send_lat: { verb: "send", kind: "lat" },
  ib_send_bw: { verb: "send", kind: "bw" },
  ib_atomic_lat: { verb: "atomic", kind: "lat" },
  ib_atomic_bw: { verb: "atomic", kind: "bw" },
} as const;

/**
 * A perftest program name, e.g. `ib_write_lat`.
 *
 * @example
 * ```ts
 * import type { TestName } from "./perftest_types.ts";
 * const t: TestName = "ib_send_lat";
 * ```
 */
export type TestName = keyof typeof PERFTEST_TESTS;

/**
 * The verb a test exercises.
 *
 * @example
 * ```ts
 * import type { Verb } from "./perftest_types.ts";
 * const v: Verb = "atomic";
 * ```
 */
export type Verb = "write" | "read" | "send" | "atomic";

/**
 * Latency (ping-pong / round trip) or bandwidth (streaming) test.
 *
 * @example
 * ```ts
 * import type { TestKind } from "./perftest_types.ts";
 * const k: TestKind = "bw";
 * ```
 */
export type TestKind = "lat" | "bw";

/**
 * Transport service (`-c`).
 *
 * @example
 * ```ts
 * import type { Connection } from "./perftest_types.ts";
 * const c: Connection = "UD";
 * ```
 */
export type Connection = "RC" | "UC" | "UD";

/**
 * How the endpoints reach the HCA.
 *
 * @example
 * ```ts
 * import type { Mode } from "./perftest_types.ts";
 * const m: Mode = "bypass";
 * ```
 */
export type Mode = "native" | "bypass" | "split";

/**
 * Atomic operation of the atomic tests (`-A`).
 *
 * @example
 * ```ts
 * import type { AtomicType } from "./perftest_types.ts";
 * const a: AtomicType = "CMP_AND_SWAP";
 * ```
 */
export type AtomicType = "FETCH_AND_ADD" | "CMP_AND_SWAP";

/**
 * All modes, in the order tools show them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MODES } from "./perftest_types.ts";
 * assert.deepEqual(MODES.join(","), "native,bypass,split");
 * ```
 */
export const MODES: readonly Mode[] = ["native", "bypass", "split"];
