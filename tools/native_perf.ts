/**
 * `deno task native-perf`: RDMA WRITE latency and bandwidth between two
 * bare-metal hosts through one switch, in virtual time, measured by the
 * tools' one measurement core (`tools/lib/metrics.ts`): perftest's
 * `ib_write_lat` and `ib_write_bw` loops and statistics, each point on a
 * freshly connected pair of endpoints.
 *
 * - Latency: `ib_write_lat -s SIZE -n ITERS` — a ping-pong of RDMA WRITEs
 *   (inline up to perftest's 220 bytes), each side spinning on the last
 *   byte of its buffer; half a round trip, perftest's t_typical (median).
 * - Bandwidth: `ib_write_bw -s SIZE -n ITERS [-t WINDOW]` — WRITEs kept
 *   outstanding; bytes / (last completion − first post), perftest's "BW
 *   average", printed in MB/s = 10^6 B/s and in perftest's 2^20-byte
 *   "MB/sec".
 *
 * The defaults are the metrics `rdma-write-lat` and `rdma-write-bw`: the
 * same numbers `deno task perftest ib_write_lat` (its defaults) and the
 * paper print for the same seed.
 *
 * @example
 * ```sh
 * deno run --allow-read=. tools/native_perf.ts --profile modern-gen5-ndr
 * ```
 *
 * @module
 */
import { runMain } from "./lib/cli.ts";
import { loadToolProfile } from "./lib/api.ts";
import {
  parseFlags,
  parseIntFlag,
  parseJobs,
  parseNoise,
  parseSeed,
  UsageError,
} from "./lib/perftest_args.ts";
import { metricOf, pointRequest, type RunEnv } from "./lib/metrics.ts";
import { measurePerftestPoint, type PointOutcome } from "./lib/perftest_runner.ts";
import { runTasks, task } from "./lib/pool.ts";
import { type NoiseMode, type Profile, resolveProfile } from "../mod.ts";

/**
 * Latency result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LatencyResult, writeLatency } from "./native_perf.ts";
 * const r: LatencyResult = await writeLatency("pcix-sdr-2006", { iters: 20, noise: "off" });
 * assert.deepEqual([r.profile, r.size, r.iters, r.inline], ["pcix-sdr-2006", 2, 20, true]);
 * assert.equal(r.averageUs.toFixed(6), r.typicalUs.toFixed(6)); // noise off: all round trips alike
 * assert.match(r.method, /^ib_write_lat -s 2 -n 20 /);
 * ```
 */
export interface LatencyResult {
  profile: string;
  size: number;
  iters: number;
  /** Median half round trip (perftest's t_typical), µs. */
  typicalUs: number;
  /** Mean half round trip (perftest's t_avg), µs. */
  averageUs: number;
  /** First and 99th percentile of the half round trips, µs. */
  p1Us: number;
  p99Us: number;
  inline: boolean;
  /** How it was measured. */
  method: string;
}

/**
 * Bandwidth result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type BandwidthResult, writeBandwidth } from "./native_perf.ts";
 * const r: BandwidthResult = await writeBandwidth("pcix-sdr-2006", { size: 65536, iters: 20 });
 * assert.deepEqual([r.size, r.iters, r.window], [65536, 20, 20]); // perftest: tx depth ≤ -n
 * // One rate in two units: 10^6 B/s and perftest's 2^20 B/s.
 * assert.equal((r.perftestMbPerSec * 1.048576).toFixed(6), r.mbPerSec.toFixed(6));
 * ```
 */
export interface BandwidthResult {
  profile: string;
  size: number;
  iters: number;
  window: number;
  /** MB/s (10^6 bytes per second). */
  mbPerSec: number;
  /** MB/sec as perftest prints it (2^20 bytes per second). */
  perftestMbPerSec: number;
  /** Million messages per second. */
  msgRateMpps: number;
  /** How it was measured. */
  method: string;
}

/**
 * Where the two ends of a test run: bare-metal hosts ("native", the
 * default) or one Xen guest per host with the given driver. The verbs
 * program is the same in every case; only its domains differ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Placement, writeLatency } from "./native_perf.ts";
 * // The same verbs program on bare metal and in Xen guests.
 * const at = async (placement: Placement) =>
 *   (await writeLatency("pcix-sdr-2006", { iters: 20, placement, noise: "off" })).typicalUs;
 * const native = await at("native");
 * assert.equal(await at("bypass"), native); // VMM-bypass: the guest posts and polls the HCA itself
 * assert.ok(await at("split") > native); // split: every post and poll goes through dom0
 * ```
 */
export type Placement = "native" | "bypass" | "split";

/** Options common to both measurements. */
interface Common {
  placement?: Placement;
  seed?: number;
  noise?: NoiseMode;
  /** Run the verbs libraries with Nomad's handle translation (`Cluster` option `nomad`). */
  nomad?: boolean;
}

function envOf(profile: string | Record<string, unknown> | Profile, o: Common): RunEnv {
  return {
    profile: resolveProfile(profile as string | Record<string, unknown>),
    seed: o.seed ?? 1,
    noise: o.noise ?? "off",
  };
}

/** The `ib_write_lat` command line of a latency measurement. */
function latArgs(size: number, iters: number): string[] {
  return ["ib_write_lat", "-s", String(size), "-n", String(iters)];
}

/** The `ib_write_bw` command line of a bandwidth measurement. */
function bwArgs(size: number, iters: number, window?: number): string[] {
  return [
    "ib_write_bw",
    "-s",
    String(size),
    "-n",
    String(iters),
    ...(window !== undefined ? ["-t", String(window)] : []),
  ];
}

function latencyOf(profile: string, args: string[], p: PointOutcome): LatencyResult {
  const v = metricOf(
    { id: "rdma-write-lat", label: "", args, statistic: "t_typical", unit: "µs" },
    p,
  );
  const row = p.result.lat[0];
  return {
    profile,
    size: row.bytes,
    iters: row.iterations,
    typicalUs: v.value,
    averageUs: row.tAvg,
    p1Us: v.p1!,
    p99Us: v.p99!,
    inline: p.method.inline,
    method: v.method,
  };
}

function bandwidthOf(profile: string, args: string[], p: PointOutcome): BandwidthResult {
  const v = metricOf(
    { id: "rdma-write-bw", label: "", args, statistic: "bw_average", unit: "MB/s" },
    p,
  );
  const row = p.result.bw[0];
  return {
    profile,
    size: row.bytes,
    iters: row.iterations,
    window: p.method.window,
    mbPerSec: v.value,
    perftestMbPerSec: v.mibPerSec!,
    msgRateMpps: row.msgRateMpps,
    method: v.method,
  };
}

/**
 * RDMA WRITE ping-pong latency (half the round trip): `ib_write_lat -s
 * size -n iters`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeLatency } from "./native_perf.ts";
 * const small = await writeLatency("pcix-sdr-2006", { size: 2, iters: 20 });
 * const large = await writeLatency("pcix-sdr-2006", { size: 1024, iters: 20 });
 * assert.equal(small.inline, true); // the payload rides in the WQE
 * assert.equal(large.inline, false); // more than perftest's 220 B inline: fetched by DMA
 * assert.ok(large.typicalUs > small.typicalUs);
 * // A faster machine, the same program.
 * assert.ok((await writeLatency("modern-gen5-ndr", { iters: 20 })).typicalUs < small.typicalUs);
 * ```
 */
export async function writeLatency(
  profile: string | Record<string, unknown>,
  opts: Common & { size?: number; iters?: number } = {},
): Promise<LatencyResult> {
  const env = envOf(profile, opts);
  const args = latArgs(opts.size ?? 2, opts.iters ?? 1000);
  const p = await measurePerftestPoint({
    ...pointRequest(args, opts.placement ?? "native", env),
    nomad: opts.nomad,
  });
  return latencyOf(env.profile.name, args, p);
}

/**
 * RDMA WRITE bandwidth: `ib_write_bw -s size -n iters [-t window]`
 * (perftest's tx depth, 128, capped at `iters`, when no window is given).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeBandwidth } from "./native_perf.ts";
 * import { PCIX_SDR_2006 } from "../mod.ts";
 * const deep = await writeBandwidth("pcix-sdr-2006", { size: 65536, iters: 20 });
 * const one = await writeBandwidth("pcix-sdr-2006", { size: 65536, iters: 20, window: 1 });
 * assert.ok(deep.mbPerSec > one.mbPerSec); // writes in flight hide each one's latency
 * assert.ok(deep.mbPerSec * 1e6 < PCIX_SDR_2006.pci.bytesPerSec); // the PCI-X bus is the limit
 * ```
 */
export async function writeBandwidth(
  profile: string | Record<string, unknown>,
  opts: Common & { size?: number; iters?: number; window?: number } = {},
): Promise<BandwidthResult> {
  const env = envOf(profile, opts);
  const args = bwArgs(opts.size ?? 1 << 20, opts.iters ?? 16, opts.window);
  const p = await measurePerftestPoint({
    ...pointRequest(args, opts.placement ?? "native", env),
    nomad: opts.nomad,
  });
  return bandwidthOf(env.profile.name, args, p);
}

/**
 * Usage text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativePerfUsage } from "./native_perf.ts";
 * const text = nativePerfUsage();
 * assert.equal(text.split("\n")[0], "Usage: deno task native-perf [flags]");
 * for (
 *   const flag of [
 *     "--profile",
 *     "--lat-size",
 *     "--bw-size",
 *     "--iters",
 *     "--bw-iters",
 *     "--window",
 *     "--seed",
 *     "--noise",
 *     "--jobs",
 *   ]
 * ) {
 *   assert.ok(text.includes(flag), flag);
 * }
 * ```
 */
export function nativePerfUsage(): string {
  return [
    "Usage: deno task native-perf [flags]",
    "",
    "RDMA WRITE latency (ib_write_lat: ping-pong, half round trip, median) and bandwidth",
    "(ib_write_bw: bytes / (last completion - first post)) between two bare-metal hosts in",
    "virtual time, by perftest's loops. The defaults measure the metrics rdma-write-lat",
    "(ib_write_lat -s 2) and rdma-write-bw (ib_write_bw -s 1048576 -n 16).",
    "",
    "  -p, --profile=<NAME|FILE.yaml>  cost profile (default pcix-sdr-2006; built-in: pcix-sdr-2006,",
    "                                  modern-gen5-ndr)",
    "      --lat-size=<bytes>          latency message size, 1.. (default 2)",
    "      --bw-size=<bytes>           bandwidth message size, 1.. (default 1048576)",
    "      --iters=<n>                 latency round trips, 5.. (default 1000, perftest's)",
    "      --bw-iters=<n>              bandwidth messages, 5.. (default 16)",
    "      --window=<n>                bandwidth WRs outstanding, 1..16384 (default perftest's",
    "                                  tx depth: 128, at most --bw-iters)",
    "      --seed=<n>                  PRNG seed (default 1); same seed, same numbers",
    "      --noise=<on|off>            the profile's seeded noise model (default on)",
    "      --jobs=<n>                  workers for the two points (default one per core)",
    "  -h, --help                      this text",
  ].join("\n");
}

/**
 * The command line: figures for one profile.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "./native_perf.ts";
 * const lines: string[] = [];
 * const log = console.log; // watched, to see what it prints
 * console.log = (line: string) => void lines.push(line);
 * try {
 *   await main(["--iters", "10", "--bw-size", "65536", "--bw-iters", "8", "--jobs", "1"]);
 * } finally {
 *   console.log = log;
 * }
 * assert.equal(lines.length, 5);
 * assert.match(lines[0], /^profile: pcix-sdr-2006 — .*; virtual time, noise on, seed 1$/);
 * assert.match(lines[1], /^RDMA WRITE latency 2 B: [\d.]+ µs median, [\d.]+ µs mean, p1–p99 /);
 * assert.match(lines[2], /^  method: ib_write_lat -s 2 -n 10 /);
 * assert.match(
 *   lines[3],
 *   /^RDMA WRITE bandwidth 65536 B: [\d.]+ MB\/s \(10\^6 B\/s\) = [\d.]+ MB\/sec as perftest /,
 * );
 * assert.match(lines[4], /^  method: ib_write_bw -s 65536 -n 8 /);
 * await assert.rejects(main(["--window", "0"]), {
 *   name: "UsageError",
 *   message: "--window: 0 is out of range (1..16384)",
 * });
 * ```
 */
export async function main(args: string[]): Promise<void> {
  const { values } = parseFlags(args, {
    profile: { type: "string", short: "p" },
    "lat-size": { type: "string" },
    "bw-size": { type: "string" },
    iters: { type: "string" },
    "bw-iters": { type: "string" },
    window: { type: "string" },
    seed: { type: "string" },
    noise: { type: "string" },
    jobs: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(nativePerfUsage());
    return;
  }
  const MAX = 2 ** 31 - 1;
  const latSize = parseIntFlag("--lat-size", values["lat-size"] ?? "2", 1, MAX);
  const bwSize = parseIntFlag("--bw-size", values["bw-size"] ?? String(1 << 20), 1, MAX);
  const iters = parseIntFlag("--iters", values.iters ?? "1000", 5, 100_000_000);
  const bwIters = parseIntFlag("--bw-iters", values["bw-iters"] ?? "16", 5, 100_000_000);
  const window = values.window === undefined
    ? undefined
    : parseIntFlag("--window", values.window, 1, 16384);
  const seed = values.seed === undefined ? 1 : parseSeed(values.seed);
  const noise = values.noise === undefined ? "on" : parseNoise(values.noise);
  const jobs = values.jobs === undefined ? undefined : parseJobs(values.jobs);
  if (values.profile === "") throw new UsageError("--profile: empty value");
  const profile = await loadToolProfile(values.profile ?? "pcix-sdr-2006");
  const env: RunEnv = { profile, seed, noise };
  console.log(
    `profile: ${profile.name} — ${profile.description}; virtual time, noise ${noise}, seed ${seed}`,
  );
  const la = latArgs(latSize, iters), ba = bwArgs(bwSize, bwIters, window);
  const runner = new URL("./lib/perftest_runner.ts", import.meta.url);
  const [lp, bp] = await runTasks<PointOutcome>([
    task(runner, "measurePerftestPoint", pointRequest(la, "native", env)),
    task(runner, "measurePerftestPoint", pointRequest(ba, "native", env)),
  ], { jobs });
  const lat = latencyOf(profile.name, la, lp);
  const bw = bandwidthOf(profile.name, ba, bp);
  const us = (x: number) => x.toFixed(3);
  console.log(
    `RDMA WRITE latency ${lat.size} B: ${us(lat.typicalUs)} µs median, ${
      us(lat.averageUs)
    } µs mean, p1–p99 ${us(lat.p1Us)}–${us(lat.p99Us)} µs (half round trip)`,
  );
  console.log(`  method: ${lat.method}`);
  console.log(
    `RDMA WRITE bandwidth ${bw.size} B: ${bw.mbPerSec.toFixed(1)} MB/s (10^6 B/s) = ` +
      `${bw.perftestMbPerSec.toFixed(1)} MB/sec as perftest prints it (2^20 B/s)`,
  );
  console.log(`  method: ${bw.method}`);
}

// Only as a program: importing the module (docs, tests) must not run it.
if (import.meta.main) await runMain("native-perf", () => main(Deno.args));
