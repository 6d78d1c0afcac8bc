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
 * import assert from "node:assert/strict";
 * import { PERFTEST_TESTS, type TestName } from "./perftest_types.ts";
 * const t: TestName = "ib_atomic_bw";
 * assert.deepEqual(PERFTEST_TESTS[t], { verb: "atomic", kind: "bw" });
 * assert.equal(Object.keys(PERFTEST_TESTS).length, 8); // perftest's eight IB programs
 * ```
 */
export type TestName = keyof typeof PERFTEST_TESTS;

/**
 * The verb a test exercises.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PERFTEST_TESTS, type Verb } from "./perftest_types.ts";
 * const verbs = new Set<Verb>(Object.values(PERFTEST_TESTS).map((t) => t.verb));
 * // a _lat and a _bw each
 * assert.deepEqual([...verbs].sort(), ["atomic", "read", "send", "write"]);
 * ```
 */
export type Verb = "write" | "read" | "send" | "atomic";

/**
 * Latency (ping-pong / round trip) or bandwidth (streaming) test.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PERFTEST_TESTS, type TestKind } from "./perftest_types.ts";
 * const of = (kind: TestKind) =>
 *   Object.entries(PERFTEST_TESTS).filter(([, t]) => t.kind === kind).map(([name]) => name);
 * assert.ok(of("bw").every((name) => name.endsWith("_bw")));
 * assert.deepEqual(of("lat"), ["ib_write_lat", "ib_read_lat", "ib_send_lat", "ib_atomic_lat"]);
 * ```
 */
export type TestKind = "lat" | "bw";

/**
 * Transport service (`-c`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Connection } from "./perftest_types.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * const c: Connection = parsePerftestArgs(["ib_send_lat", "-c", "UD"]).connection;
 * assert.equal(c, "UD");
 * assert.equal(parsePerftestArgs(["ib_send_lat"]).connection, "RC"); // the default
 * assert.throws(() => parsePerftestArgs(["ib_write_lat", "-c", "UD"]), {
 *   message: "-c/--connection UD: UD connection only possible in SEND verb", // as perftest says
 * });
 * ```
 */
export type Connection = "RC" | "UC" | "UD";

/**
 * How the endpoints reach the HCA.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Mode } from "./perftest_types.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * const m: Mode = parsePerftestArgs(["ib_write_lat", "--mode", "bypass"]).mode;
 * assert.equal(m, "bypass"); // a guest on each of two Xen hosts, Xen-IB's fast path
 * assert.equal(parsePerftestArgs(["ib_write_lat"]).mode, "native"); // two bare-metal hosts
 * assert.throws(() => parsePerftestArgs(["ib_write_lat", "--mode", "sriov"]), {
 *   message: "--mode: 'sriov' is not a mode (use native, bypass or split)",
 * });
 * ```
 */
export type Mode = "native" | "bypass" | "split";

/**
 * Atomic operation of the atomic tests (`-A`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AtomicType } from "./perftest_types.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * const a: AtomicType = parsePerftestArgs(["ib_atomic_lat", "-A", "CMP_AND_SWAP"]).atomicType;
 * assert.equal(a, "CMP_AND_SWAP");
 * assert.equal(parsePerftestArgs(["ib_atomic_lat"]).atomicType, "FETCH_AND_ADD"); // the default
 * assert.deepEqual(parsePerftestArgs(["ib_atomic_lat"]).sizes, [8]); // 64-bit operands
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
