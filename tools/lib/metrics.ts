/**
 * The one measurement core of the tools: each figure xenib quotes is a
 * named metric, defined once as a perftest command line, a size and a
 * statistic, and measured by perftest's loop and statistics on a freshly
 * built pair of endpoints (`measurePerftestPoint`). `perftest`,
 * `native-perf`, `xenib-perf`, `paper` and the calibration test all measure
 * a metric through {@link measureMetric} (or the same point, by the same
 * key), so the same metric prints the same number everywhere: with noise
 * on, for the same seed; with noise off, exactly.
 *
 * Units are named: latency in µs (half a round trip for write and send
 * tests, as perftest), bandwidth in MB/s = 10^6 bytes per second (perftest
 * prints 2^20-byte "MB/sec", 4.6 % lower; both are given), message rate in
 * millions of messages per second.
 *
 * @module
 */
import type { NoiseMode, Profile } from "../../mod.ts";
import { type Mode, parsePerftestArgs, type PerftestConfig } from "./perftest_args.ts";
import {
  type MeasurementMethod,
  measurePerftestPoint,
  type PointOutcome,
  type PointRequest,
} from "./perftest_runner.ts";
import type { BwRow, LatRow } from "./perftest_stats.ts";

/**
 * What a point is measured in: the run's profile, seed and noise.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RunEnv } from "./metrics.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const env: RunEnv = { profile: PCIX_SDR_2006, seed: 1, noise: "on" }; // the tools' default
 * assert.equal(env.noise, "on");
 * ```
 */
export interface RunEnv {
  /** The loaded profile. */
  profile: Profile;
  /** The cluster's seed. */
  seed: number;
  /** The noise model: on (the tools' default) or off (exact). */
  noise: NoiseMode;
}

/** The statistic a metric reads off perftest's report. */
export type Statistic = "t_typical" | "bw_average" | "msg_rate";

/**
 * One named figure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Metric, METRICS } from "./metrics.ts";
 * const m: Metric = METRICS["rdma-write-lat"];
 * assert.deepEqual(m.args, ["ib_write_lat", "-s", "2"]); // perftest's defaults: -n 1000, inline
 * assert.equal(m.unit, "µs");
 * ```
 */
export interface Metric {
  /** Short name. */
  id: MetricId;
  /** What it is, in words (for tables). */
  label: string;
  /** The perftest command line (without --mode, --seed, --noise, --profile). */
  args: string[];
  /** Which figure of perftest's report. */
  statistic: Statistic;
  /** Unit of the value. */
  unit: "µs" | "MB/s" | "Mmsg/s";
}

/**
 * The metrics: the calibration targets' (`profile.calibration`) and the
 * figures the paper's claims compare.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { METRICS } from "./metrics.ts";
 * assert.deepEqual(Object.keys(METRICS), [
 *   "rdma-write-lat",
 *   "send-lat",
 *   "rdma-write-bw",
 *   "event-lat",
 *   "msg-rate",
 *   "rdma-write-rate",
 * ]);
 * assert.deepEqual(METRICS["rdma-write-bw"].args, ["ib_write_bw", "-s", "1048576", "-n", "16"]);
 * ```
 */
export const METRICS = {
  "rdma-write-lat": {
    id: "rdma-write-lat",
    label: "2 B RDMA WRITE latency",
    args: ["ib_write_lat", "-s", "2"],
    statistic: "t_typical",
    unit: "µs",
  },
  "send-lat": {
    id: "send-lat",
    label: "2 B SEND/RECV latency, polled",
    args: ["ib_send_lat", "-s", "2"],
    statistic: "t_typical",
    unit: "µs",
  },
  "rdma-write-bw": {
    id: "rdma-write-bw",
    label: "1 MiB RDMA WRITE bandwidth",
    args: ["ib_write_bw", "-s", "1048576", "-n", "16"],
    statistic: "bw_average",
    unit: "MB/s",
  },
  "event-lat": {
    id: "event-lat",
    label: "64 B SEND/RECV latency, event-driven",
    args: ["ib_send_lat", "-e", "-s", "64"],
    statistic: "t_typical",
    unit: "µs",
  },
  "msg-rate": {
    id: "msg-rate",
    label: "64 B RDMA WRITE message rate",
    args: ["ib_write_bw", "-s", "64", "-n", "1000"],
    statistic: "msg_rate",
    unit: "Mmsg/s",
  },
  "rdma-write-rate": {
    id: "rdma-write-rate",
    label: "2 B inline RDMA WRITE rate, every WR signaled",
    args: ["ib_write_bw", "-s", "2", "-I", "2", "-t", "64", "-Q", "1", "-n", "2000"],
    statistic: "msg_rate",
    unit: "Mmsg/s",
  },
} as const satisfies Record<string, Omit<Metric, "id"> & { id: string }>;

/**
 * A metric's name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { METRICS, type MetricId } from "./metrics.ts";
 * const id: MetricId = "event-lat";
 * assert.equal(METRICS[id].args[1], "-e");
 * ```
 */
export type MetricId = keyof typeof METRICS;

/**
 * The perftest configuration of a command line in a mode and environment:
 * what every point of the tools is measured with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pointConfig } from "./metrics.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const c = pointConfig(["ib_write_lat", "-s", "64"], "split", {
 *   profile: PCIX_SDR_2006,
 *   seed: 3,
 *   noise: "off",
 * });
 * assert.deepEqual([c.test, c.sizes, c.mode, c.seed, c.noise], [
 *   "ib_write_lat",
 *   [64],
 *   "split",
 *   3,
 *   "off",
 * ]);
 * ```
 */
export function pointConfig(args: readonly string[], mode: Mode, env: RunEnv): PerftestConfig {
  return parsePerftestArgs([
    ...args,
    "--mode",
    mode,
    "--seed",
    String(env.seed),
    "--noise",
    env.noise,
  ]);
}

/**
 * The request of a single-size point (`args` must name one size).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pointKey, pointRequest } from "./metrics.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const env = { profile: PCIX_SDR_2006, seed: 1, noise: "on" as const };
 * const r = pointRequest(["ib_write_lat", "-s", "2"], "native", env);
 * assert.equal(r.config.iters, 1000);
 * // The same command line, mode and environment: the same point.
 * assert.equal(pointKey(["ib_write_lat", "-s", "2"], "native", env), pointKey(r));
 * ```
 */
export function pointRequest(args: readonly string[], mode: Mode, env: RunEnv): PointRequest {
  return { config: pointConfig(args, mode, env), profile: env.profile };
}

/**
 * The identity of a point: its command line, mode, profile, seed and noise.
 * Two points with the same key are the same measurement.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pointKey } from "./metrics.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const env = { profile: PCIX_SDR_2006, seed: 1, noise: "on" as const };
 * assert.notEqual(
 *   pointKey(["ib_write_lat", "-s", "2"], "native", env),
 *   pointKey(["ib_write_lat", "-s", "2"], "native", { ...env, seed: 2 }),
 * );
 * ```
 */
export function pointKey(req: PointRequest): string;
/** The key of `args` in `mode` and `env`. */
export function pointKey(args: readonly string[], mode: Mode, env: RunEnv): string;
export function pointKey(
  a: PointRequest | readonly string[],
  mode?: Mode,
  env?: RunEnv,
): string {
  const req = Array.isArray(a)
    ? pointRequest(a as readonly string[], mode!, env!)
    : a as PointRequest;
  const c = req.config;
  return JSON.stringify([
    c.test,
    req.size ?? c.sizes,
    c.mode,
    req.profile.name,
    c.seed,
    c.noise,
    // Everything else perftest reads: the config itself, without what names the above.
    { ...c, notices: undefined, profile: undefined },
  ]);
}

/**
 * A point's value, with its spread over the samples and the method.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type MetricValue, measureMetric } from "./metrics.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const v: MetricValue = await measureMetric("rdma-write-lat", "native", {
 *   profile: PCIX_SDR_2006,
 *   seed: 1,
 *   noise: "off",
 * });
 * assert.equal(v.value, 4.6155); // µs, every sample alike with noise off
 * assert.deepEqual([v.p1, v.p99], [4.6155, 4.6155]);
 * ```
 */
export interface MetricValue {
  /** The figure in `unit`. */
  value: number;
  /** Its unit. */
  unit: Metric["unit"];
  /** Latency: entry ⌊0.01 n⌋ of perftest's kept deltas; bandwidth: undefined. */
  p1?: number;
  /** Latency: perftest's 99 % percentile (entry ⌈0.99 n⌉); bandwidth: undefined. */
  p99?: number;
  /** Bandwidth: perftest's "MB/sec" (2^20 bytes per second). */
  mibPerSec?: number;
  /** How it was measured, in words. */
  method: string;
  /** Host counter changes while measuring (both hosts summed). */
  crossings: Record<string, number>;
}

/**
 * The first percentile of a latency point: entry ⌊0.01 n⌋ of perftest's kept
 * deltas (sorted, the two largest dropped), in µs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { p1Of } from "./metrics.ts";
 * // 101 posts 1 µs apart (1000 virtual ns), half round trips: 0.5 µs each.
 * const t = Array.from({ length: 101 }, (_, i) => i * 1000);
 * assert.equal(p1Of(t, 2), 0.5);
 * ```
 */
export function p1Of(tposted: readonly number[], rttFactor: 1 | 2): number {
  const d: number[] = [];
  for (let i = 1; i < tposted.length; i++) d.push(tposted[i] - tposted[i - 1]);
  d.sort((x, y) => x - y);
  const kept = d.length - 2;
  return d[Math.floor(kept * 0.01)] / 1000 / rttFactor;
}

/**
 * A point's method in words: the command line, the pattern, completion,
 * signaling, inline, window, and the statistic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { methodText } from "./metrics.ts";
 * const m = {
 *   pattern: "ping-pong" as const,
 *   completion: "polled" as const,
 *   signaledEvery: 1,
 *   inline: true,
 *   window: 1,
 *   postList: 1,
 * };
 * assert.equal(
 *   methodText(["ib_write_lat", "-s", "2"], m, 1000, "t_typical"),
 *   "ib_write_lat -s 2 (perftest's defaults otherwise): ping-pong, completions polled, " +
 *     "every WR signaled, inline, 1 outstanding; median (t_typical) of 1000 half round trips",
 * );
 * ```
 */
export function methodText(
  args: readonly string[],
  m: MeasurementMethod,
  iterations: number,
  statistic: Statistic,
): string {
  const half = args[0] === "ib_write_lat" || args[0] === "ib_send_lat";
  const what = statistic === "t_typical"
    ? `median (t_typical) of ${iterations} ${half ? "half round trips" : "round trips"}`
    : statistic === "bw_average"
    ? `bytes / (last completion - first post) over ${iterations} messages, MB/s = 10^6 B/s`
    : `messages / (last completion - first post) over ${iterations} messages`;
  return `${args.join(" ")} (perftest's defaults otherwise): ${m.pattern}, completions ${
    m.completion === "event" ? "by event (completion channel)" : "polled"
  }, ${m.signaledEvery === 1 ? "every WR signaled" : `every ${m.signaledEvery}th WR signaled`}, ${
    m.inline ? "inline" : "not inline"
  }, ${m.window} outstanding${m.postList > 1 ? `, post lists of ${m.postList}` : ""}; ${what}`;
}

/**
 * Read a metric's value off a measured point.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { METRICS, metricOf, pointRequest } from "./metrics.ts";
 * import { measurePerftestPoint } from "./perftest_runner.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const env = { profile: PCIX_SDR_2006, seed: 1, noise: "off" as const };
 * const m = METRICS["msg-rate"];
 * const p = await measurePerftestPoint(pointRequest(m.args, "split", env));
 * const v = metricOf(m, p);
 * assert.equal(v.value.toFixed(3), "0.533"); // Mmsg/s: dom0 serves every doorbell
 * assert.ok(v.crossings.backendRequests > 1000); // one request per post, and polls
 * ```
 */
export function metricOf(m: Metric, p: PointOutcome): MetricValue {
  const base = {
    unit: m.unit,
    method: methodText(
      m.args,
      p.method,
      p.result.kind === "lat" ? p.result.lat[0].iterations : p.result.bw[0].iterations,
      m.statistic,
    ),
    crossings: p.crossings,
  };
  if (m.statistic === "t_typical") {
    const row = p.result.lat[0] as LatRow;
    const rtt = p.result.verb === "read" || p.result.verb === "atomic" ? 1 : 2;
    return { ...base, value: row.tTypical, p1: p1Of(p.tposted, rtt), p99: row.p99 };
  }
  const row = p.result.bw[0] as BwRow;
  if (m.statistic === "bw_average") {
    return { ...base, value: row.avgBytesPerSec / 1e6, mibPerSec: row.avgBytesPerSec / 1048576 };
  }
  return { ...base, value: row.msgRateMpps };
}

/**
 * Measure a metric in a mode: its perftest command line as one point on a
 * fresh pair of endpoints.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { measureMetric } from "./metrics.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const env = { profile: PCIX_SDR_2006, seed: 1, noise: "off" as const };
 * const native = await measureMetric("event-lat", "native", env);
 * const bypass = await measureMetric("event-lat", "bypass", env);
 * // Every completion event of a guest goes through dom0: a fixed extra per event.
 * assert.equal((bypass.value - native.value).toFixed(2), "10.00");
 * assert.match(native.method, /completions by event/);
 * ```
 */
export async function measureMetric(id: MetricId, mode: Mode, env: RunEnv): Promise<MetricValue> {
  const m = METRICS[id];
  return metricOf(m, await measurePerftestPoint(pointRequest(m.args, mode, env)));
}
