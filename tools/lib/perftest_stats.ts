/**
 * perftest's statistics, as pure functions over timestamps in nanoseconds:
 * latency rows (min, max, typical = median, average, stdev, 99 % and
 * 99.9 % percentiles, after dropping the two largest samples as perftest
 * does) and bandwidth rows (peak over every run of consecutive messages,
 * average over the whole test, message rate).
 *
 * @module
 */

/**
 * One line of a latency table; times in microseconds.
 *
 * @example
 * ```ts
 * import { latencyStats, type LatRow } from "./perftest_stats.ts";
 * const row: LatRow = latencyStats(2, [9000, 9000, 9000], 2);
 * console.log(row.tTypical); // 4.5
 * ```
 */
export interface LatRow {
  /** Message size. */
  bytes: number;
  /** Iterations run. */
  iterations: number;
  /** Smallest sample. */
  tMin: number;
  /** Largest sample kept (the two largest are dropped, as perftest). */
  tMax: number;
  /** Median. */
  tTypical: number;
  /** Mean. */
  tAvg: number;
  /** Standard deviation. */
  tStdev: number;
  /** 99th percentile. */
  p99: number;
  /** 99.9th percentile. */
  p999: number;
}

/**
 * One line of a bandwidth table.
 *
 * @example
 * ```ts
 * import { bandwidthStats, type BwRow } from "./perftest_stats.ts";
 * const row: BwRow = bandwidthStats(1000, [0, 0], [1000, 2000], 1);
 * console.log(row.avgBytesPerSec); // 1000000000
 * ```
 */
export interface BwRow {
  /** Message size. */
  bytes: number;
  /** Messages sent (all QPs). */
  iterations: number;
  /** Best bandwidth over any run of consecutive messages, bytes/s. */
  peakBytesPerSec: number;
  /** Bandwidth over the whole test, bytes/s. */
  avgBytesPerSec: number;
  /** Messages per second / 10^6. */
  msgRateMpps: number;
}

/**
 * Samples perftest drops from the top before computing latency statistics.
 *
 * @example
 * ```ts
 * import { LAT_MEASURE_TAIL } from "./perftest_stats.ts";
 * console.log(LAT_MEASURE_TAIL); // 2
 * ```
 */
export const LAT_MEASURE_TAIL = 2;

/**
 * Latency statistics from per-iteration samples (ns). `rttFactor` is 2 for
 * tests that report half a round trip (write, send), 1 for read/atomic.
 *
 * @example
 * ```ts
 * import { latencyStats } from "./perftest_stats.ts";
 * const r = latencyStats(64, [9000, 9000, 9200, 9000, 20000, 30000], 2);
 * console.log(r.tMin, r.tTypical, r.tMax); // 4.5 4.5 4.6
 * ```
 */
export function latencyStats(bytes: number, samplesNs: number[], rttFactor: 1 | 2): LatRow {
  if (samplesNs.length === 0) throw new RangeError("latencyStats: no samples");
  const sorted = [...samplesNs].sort((a, b) => a - b);
  const keep = sorted.length > LAT_MEASURE_TAIL + 1
    ? sorted.slice(0, sorted.length - LAT_MEASURE_TAIL)
    : sorted;
  const us = keep.map((ns) => ns / 1000 / rttFactor);
  const n = us.length;
  const median = n % 2 === 1 ? us[(n - 1) / 2] : (us[n / 2 - 1] + us[n / 2]) / 2;
  const avg = us.reduce((a, b) => a + b, 0) / n;
  const variance = us.reduce((a, b) => a + (b - avg) ** 2, 0) / n;
  const pct = (p: number) => us[Math.min(n - 1, Math.ceil(n * p) - 1)];
  return {
    bytes,
    iterations: samplesNs.length,
    tMin: us[0],
    tMax: us[n - 1],
    tTypical: median,
    tAvg: avg,
    tStdev: Math.sqrt(variance),
    p99: pct(0.99),
    p999: pct(0.999),
  };
}

/**
 * Bandwidth statistics from the post and completion time of every message
 * (ns; `completed[i]` is when message i was seen complete, i.e. the time the
 * signaled completion covering it was polled). Peak follows perftest: the
 * best average over any run of consecutive messages i..j ending at a
 * signaled message (`signaledEvery`).
 *
 * @example
 * ```ts
 * import { bandwidthStats } from "./perftest_stats.ts";
 * const posted = [0, 0, 0, 0], completed = [1000, 2000, 3000, 4000];
 * const r = bandwidthStats(1000, posted, completed, 1);
 * console.log(r.avgBytesPerSec, r.peakBytesPerSec); // 1000000000 1000000000
 * ```
 */
export function bandwidthStats(
  bytes: number,
  posted: number[],
  completed: number[],
  signaledEvery: number,
): BwRow {
  const n = posted.length;
  if (n === 0 || completed.length !== n) throw new RangeError("bandwidthStats: bad samples");
  const total = completed[n - 1] - posted[0];
  let best = total / n;
  const step = Math.max(1, signaledEvery);
  // j runs over group ends (and the last message), as perftest's cq_mod loop.
  const ends: number[] = [];
  for (let j = step - 1; j < n; j += step) ends.push(j);
  if (ends[ends.length - 1] !== n - 1) ends.push(n - 1);
  for (let i = 0; i < n; i++) {
    const p = posted[i];
    for (const j of ends) {
      if (j < i) continue;
      const t = (completed[j] - p) / (j - i + 1);
      if (t < best && t > 0) best = t;
    }
  }
  const seconds = total / 1e9;
  return {
    bytes,
    iterations: n,
    peakBytesPerSec: best > 0 ? bytes / (best / 1e9) : 0,
    avgBytesPerSec: seconds > 0 ? (bytes * n) / seconds : 0,
    msgRateMpps: seconds > 0 ? n / seconds / 1e6 : 0,
  };
}

/**
 * perftest's MB: 2^20 bytes.
 *
 * @example
 * ```ts
 * import { MB } from "./perftest_stats.ts";
 * console.log(MB); // 1048576
 * ```
 */
export const MB = 1 << 20;

/**
 * Bytes/s in the unit of the report: MB/sec (2^20 B/s) or Gb/sec (10^9 bit/s).
 *
 * @example
 * ```ts
 * import { bwInUnit } from "./perftest_stats.ts";
 * console.log(bwInUnit(125e6, true)); // 1
 * ```
 */
export function bwInUnit(bytesPerSec: number, gbits: boolean): number {
  return gbits ? bytesPerSec / 125e6 : bytesPerSec / MB;
}

/**
 * What a perftest run reports: its settings (for the header) and one row per size.
 *
 * @example
 * ```ts
 * import type { PerftestResult } from "./perftest_stats.ts";
 * const typical = (r: PerftestResult) => r.lat.map((row) => row.tTypical);
 * ```
 */
export interface PerftestResult {
  /** Program, e.g. `ib_write_lat`. */
  test: string;
  /** `write`, `read`, `send`, `atomic`. */
  verb: string;
  /** `lat` or `bw`. */
  kind: "lat" | "bw";
  /** `RC`, `UC`, `UD`. */
  connection: string;
  /** `native`, `bypass`, `split` (or `real` on hardware). */
  mode: string;
  /** Profile name (simulated) or `hardware`. */
  profile: string;
  /** Seed (simulated runs). */
  seed: number;
  /** Device name (`hca_id`). */
  device: string;
  /** Active path MTU in bytes. */
  mtu: number;
  /** Link description, e.g. `4X SDR (10 Gb/s signalling, 8 Gb/s data)`. */
  link: string;
  /** Max inline data used. */
  inlineSize: number;
  /** Send queue depth. */
  txDepth: number;
  /** QPs. */
  qps: number;
  /** Event-driven completions (`-e`). */
  events: boolean;
  /** Atomic operation (atomic tests). */
  atomicType?: string;
  /** `virtual` (simulated) or `wall` (real hardware). */
  clock: "virtual" | "wall";
  /** Bandwidth unit of the report. */
  reportGbits: boolean;
  /** Notes printed under the header (perftest's warnings, e.g. MTU lowered). */
  notes: string[];
  /** Latency rows (kind `lat`). */
  lat: LatRow[];
  /** Bandwidth rows (kind `bw`). */
  bw: BwRow[];
}
