/**
 * Flags of `tools/fuzz.ts`: `fuzz [--iterations N] [--seed S]
 * [--kinds ring,doorbell,…] [--check-every K] [--json]`.
 *
 * @module
 */
import { parseFlags, parseIntFlag, parseSeed, UsageError } from "./perftest_args.ts";

/**
 * What a campaign throws at the device, the backend and the hypervisor, one
 * kind per surface a guest controls (docs/security.md, "Threat model").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FUZZ_KINDS } from "./fuzz_args.ts";
 * assert.deepEqual(FUZZ_KINDS.slice(0, 3), ["ring", "doorbell", "wqe"]);
 * ```
 */
export const FUZZ_KINDS = [
  "ring",
  "doorbell",
  "wqe",
  "grant",
  "hypercall",
  "evtchn",
  "xenstore",
] as const;

/**
 * One of {@link FUZZ_KINDS}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FUZZ_KINDS, type FuzzKind } from "./fuzz_args.ts";
 * const k: FuzzKind = "grant";
 * assert.ok(FUZZ_KINDS.includes(k));
 * ```
 */
export type FuzzKind = typeof FUZZ_KINDS[number];

/**
 * A parsed `deno task fuzz` command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFuzzArgs } from "./fuzz_args.ts";
 * const c = parseFuzzArgs(["--iterations", "500", "--kinds", "wqe,ring"]);
 * assert.deepEqual([c.iterations, c.seed, c.kinds, c.checkEvery], [500, 1, ["ring", "wqe"], 250]);
 * ```
 */
export interface FuzzConfig {
  /** Attacks to run. */
  iterations: number;
  /** Seed of the cluster and of every random choice. */
  seed: number;
  /** Kinds drawn from, in {@link FUZZ_KINDS} order. */
  kinds: FuzzKind[];
  /** Iterations between two full checks (victim, dom0, audit). */
  checkEvery: number;
  /** One JSON object instead of the table. */
  json: boolean;
  /** `-h`. */
  help: boolean;
}

/** Most iterations one run takes. */
const MAX_ITERATIONS = 100_000_000;

/**
 * Parse fuzz flags.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFuzzArgs } from "./fuzz_args.ts";
 * assert.throws(() => parseFuzzArgs(["--kinds", "ring,dma"]), {
 *   name: "UsageError",
 *   message: "--kinds: 'dma' is not a kind (use ring, doorbell, wqe, grant, hypercall, evtchn, xenstore)",
 * });
 * assert.throws(() => parseFuzzArgs(["--iterations", "0"]), /--iterations: 0 is out of range/);
 * ```
 */
export function parseFuzzArgs(argv: string[]): FuzzConfig {
  const v = parseFlags(argv, {
    iterations: { type: "string" },
    seed: { type: "string" },
    kinds: { type: "string" },
    "check-every": { type: "string" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }).values;
  const c: FuzzConfig = {
    iterations: 10_000,
    seed: 1,
    kinds: [...FUZZ_KINDS],
    checkEvery: 250,
    json: v.json ?? false,
    help: v.help ?? false,
  };
  if (v.iterations !== undefined) {
    c.iterations = parseIntFlag("--iterations", v.iterations, 1, MAX_ITERATIONS);
  }
  if (v.seed !== undefined) c.seed = parseSeed(v.seed);
  if (v["check-every"] !== undefined) {
    c.checkEvery = parseIntFlag("--check-every", v["check-every"], 1, MAX_ITERATIONS);
  }
  if (v.kinds !== undefined) {
    // An empty item is an error, as in bench's and migration's lists (not skipped).
    const list = v.kinds.split(",").map((s) => s.trim());
    if (list.every((k) => k === "")) {
      throw new UsageError(`--kinds: empty list (use ${FUZZ_KINDS.join(", ")})`);
    }
    for (const k of list) {
      if (!(FUZZ_KINDS as readonly string[]).includes(k)) {
        throw new UsageError(`--kinds: '${k}' is not a kind (use ${FUZZ_KINDS.join(", ")})`);
      }
    }
    c.kinds = FUZZ_KINDS.filter((k) => list.includes(k));
  }
  return c;
}

/**
 * Usage text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fuzzUsage } from "./fuzz_args.ts";
 * const text = fuzzUsage();
 * assert.equal(text.split("\n")[0], "Usage: deno task fuzz [flags]");
 * for (const flag of ["--iterations", "--seed", "--kinds", "--check-every", "--json", "--help"]) {
 *   assert.ok(text.includes(flag), flag);
 * }
 * ```
 */
export function fuzzUsage(): string {
  return [
    "Usage: deno task fuzz [flags]",
    "",
    "Attacks a Xen host from hostile guests (one bypass, one split) with random and mutated",
    "input on every surface a guest controls, while a victim guest on the same host keeps",
    "working: ring requests (valid ones mutated field by field, random bytes, index abuse),",
    "raw UAR doorbells naming any queue, mutated WQEs in the guest's own send queue, raw",
    "grant-table entries, hypercalls with random arguments, event channels and xenstore.",
    "Prints the iterations and their outcomes by kind. Fails (exit 1) at the first broken",
    "rule: an uncaught exception, a request neither answered nor disconnected, a fault in",
    "the hypervisor, an isolation audit violation, a change to the victim's memory, a",
    "victim that can no longer communicate or control its device, or anything left over",
    "after teardown. Deterministic for a seed.",
    "",
    "      --iterations=<n>   attacks to run (default 10000)",
    "      --seed=<n>         seed of the cluster and of every choice (default 1)",
    `      --kinds=<list>     comma-separated kinds (default all: ${FUZZ_KINDS.join(",")})`,
    "      --check-every=<n>  iterations between two full checks (default 250)",
    "      --json             one JSON object instead of the table",
    "  -h, --help           this text",
  ].join("\n");
}
