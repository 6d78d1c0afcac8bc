/**
 * perftest 4.5's statistics (src/perftest_parameters.c: `print_report_lat`,
 * `print_report_lat_duration`, `print_report_bw`), operation for operation
 * on integer cycle counts, so every printed digit is the one perftest
 * would print for the same timestamps:
 *
 * - latency: the deltas between consecutive post times (iters − 1 of them),
 *   sorted, the two largest dropped; t_min the smallest, t_max the largest
 *   kept (the second largest of all), t_typical the median (integer mean of
 *   the middle two), t_avg the double mean, t_stdev from differences
 *   truncated to whole units (perftest's `int temp_var`), the 99 % and
 *   99.9 % entries at index ceil(n × p) of the kept samples;
 * - bandwidth: peak is the best (integer) cycles per message over every run
 *   from a post to a signaled completion, average over the whole run,
 *   message rate in millions per second.
 *
 * The simulated cycle counter is the virtual clock: 1 cycle = 1 ns
 * ({@link VIRTUAL_CPU_MHZ}).
 *
 * @module
 */

/**
 * perftest's `get_cpu_mhz()` for the virtual clock: one cycle per nanosecond.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VIRTUAL_CPU_MHZ } from "./perftest_stats.ts";
 * assert.deepEqual(VIRTUAL_CPU_MHZ, 1000);
 * ```
 */
export const VIRTUAL_CPU_MHZ = 1000;

/**
 * Samples perftest drops from the top before computing latency statistics.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LAT_MEASURE_TAIL } from "./perftest_stats.ts";
 * assert.deepEqual(LAT_MEASURE_TAIL, 2);
 * ```
 */
export const LAT_MEASURE_TAIL = 2;

/**
 * One line of a latency table, in the report's unit (µs, or cycles with `-C`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { latencyReport, type LatRow } from "./perftest_stats.ts";
 * const row: LatRow = latencyReport(2, [0, 9000, 18000, 27000, 36000, 45000], { rttFactor: 2 });
 * assert.deepEqual(row.tTypical, 4.5);
 * ```
 */
export interface LatRow {
  /** Message size. */
  bytes: number;
  /** perftest's `#iterations`: the posts made (`-n`), or completions counted in a -D run. */
  iterations: number;
  /** Smallest kept delta. */
  tMin: number;
  /** Largest kept delta (the second largest of all: perftest drops two). */
  tMax: number;
  /** Median of the kept deltas. */
  tTypical: number;
  /** Mean of the kept deltas. */
  tAvg: number;
  /** perftest's standard deviation (over truncated differences). */
  tStdev: number;
  /** Entry ceil(0.99 n) of the kept deltas. */
  p99: number;
  /** Entry ceil(0.999 n) of the kept deltas. */
  p999: number;
  /** The deltas in post order, in the unit (for `-U`). */
  unsorted?: number[];
  /** The kept deltas sorted, in the unit (for `-H`). */
  sorted?: number[];
  /** Duration mode (`-D`): transactions per second; the min/max/… fields are then unused. */
  tps?: number;
  /** `--cpu_util` figure, percent. */
  cpuUtil?: number;
}

/**
 * Options of {@link latencyReport}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LatencyOptions, latencyReport } from "./perftest_stats.ts";
 * const t = [0, 2000, 4000, 6000, 8000, 10000, 12000, 14000]; // a round trip every 2000 cycles
 * const at = (o: LatencyOptions) => latencyReport(2, t, o).tTypical;
 * assert.equal(at({ rttFactor: 1 }), 2); // µs (1 cycle = 1 ns here)
 * assert.equal(at({ rttFactor: 2 }), 1); // write/send latency: half the round trip
 * assert.equal(at({ rttFactor: 2, cycles: true }), 1000); // -C
 * assert.equal(at({ rttFactor: 1, cpuMhz: 2000 }), 1); // a 2 GHz cycle counter
 * ```
 */
export interface LatencyOptions {
  /** 2 where perftest reports half a round trip (write, send), 1 for read/atomic. */
  rttFactor: 1 | 2;
  /** `-C`: report cycles instead of µs. */
  cycles?: boolean;
  /** Cycles per µs (default {@link VIRTUAL_CPU_MHZ}). */
  cpuMhz?: number;
  /** Keep the samples for `-H`/`-U`. */
  keepSamples?: boolean;
}

/** perftest's `get_median`: the integer mean of the middle two for an even count. */
function median(n: number, sorted: number[]): number {
  if ((n - 1) % 2) return Math.floor((sorted[n / 2] + sorted[n / 2 - 1]) / 2);
  return sorted[Math.floor(n / 2)];
}

/**
 * `print_report_lat` from the post timestamps of one size (integer
 * cycles, as many as iterations). Needs at least 4 timestamps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { latencyReport } from "./perftest_stats.ts";
 * // Deltas 1000 ×4, 1200, 5000, 9000 ns: the 9000 and 5000 stay out of the
 * // mean and median; t_max is the second largest, as perftest prints it.
 * const t = [0, 1000, 2000, 3000, 4000, 5200, 10200, 19200];
 * const r = latencyReport(64, t, { rttFactor: 1 });
 * assert.equal(r.tMin, 1);
 * assert.equal(r.tMax, 5);
 * assert.equal(r.tAvg, 1.04);
 * assert.equal(r.tTypical, 1);
 * assert.equal(r.iterations, 8);
 * ```
 */
export function latencyReport(bytes: number, tposted: number[], o: LatencyOptions): LatRow {
  const iters = tposted.length;
  let n = iters - 1;
  if (n < LAT_MEASURE_TAIL + 1) {
    throw new RangeError(`latencyReport: ${iters} timestamps; perftest needs at least 4`);
  }
  const ctu = o.cycles ? 1 : (o.cpuMhz ?? VIRTUAL_CPU_MHZ);
  const q = ctu * o.rttFactor;
  const delta = new Array<number>(n);
  for (let i = 0; i < n; i++) delta[i] = tposted[i + 1] - tposted[i];
  const unsorted = o.keepSamples ? delta.map((d) => d / q) : undefined;
  delta.sort((a, b) => a - b);
  n -= LAT_MEASURE_TAIL;
  const med = median(n, delta);
  let sum = 0;
  for (let i = 0; i < n; i++) sum += delta[i] / q;
  const average = sum / n;
  let stdevSum = 0;
  for (let i = 0; i < n; i++) {
    const tempVar = Math.trunc(average - delta[i] / q); // int temp_var
    stdevSum += Math.trunc(tempVar ** 2); // int pow_var
  }
  const i99 = Math.ceil(n * 0.99);
  const i999 = Math.ceil(n * 0.999);
  return {
    bytes,
    iterations: iters,
    tMin: delta[0] / q,
    tMax: delta[n] / q,
    tTypical: med / q,
    tAvg: average,
    tStdev: Math.sqrt(stdevSum / n),
    p99: delta[i99] / q,
    p999: delta[i999] / q,
    unsorted,
    sorted: o.keepSamples ? delta.slice(0, n).map((d) => d / q) : undefined,
  };
}

/**
 * `print_report_lat_duration`: a -D latency run's average and
 * transactions per second from the sampled window and the count in it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { latencyDurationReport } from "./perftest_stats.ts";
 * const r = latencyDurationReport(2, 1000, 0, 10_000_000, 2);
 * assert.deepEqual([r.tAvg, r.tps], [5, 100000]);
 * ```
 */
export function latencyDurationReport(
  bytes: number,
  iters: number,
  start: number,
  end: number,
  rttFactor: 1 | 2,
  cpuMhz = VIRTUAL_CPU_MHZ,
): LatRow {
  const time = end - start;
  const latency = time / cpuMhz / rttFactor / iters;
  const tps = iters / (time / (cpuMhz * 1000000));
  return {
    bytes,
    iterations: iters,
    tMin: latency,
    tMax: latency,
    tTypical: latency,
    tAvg: latency,
    tStdev: 0,
    p99: latency,
    p999: latency,
    tps,
  };
}

/**
 * One line of a bandwidth table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bandwidthReport, type BwRow } from "./perftest_stats.ts";
 * const row: BwRow = bandwidthReport([0, 0], [1000, 2000], { size: 1000, iters: 2 });
 * assert.deepEqual(row.avgBytesPerSec, 1000000000);
 * ```
 */
export interface BwRow {
  /** Message size. */
  bytes: number;
  /** Messages counted (all QPs). */
  iterations: number;
  /** Peak in bytes/s (0 when perftest computes none). */
  peakBytesPerSec: number;
  /** Average in bytes/s. */
  avgBytesPerSec: number;
  /** Messages per second / 10^6. */
  msgRateMpps: number;
  /** Peak and average in MB/sec and Gb/sec, each by perftest's own division. */
  inUnits: { peakMB: number; avgMB: number; peakGb: number; avgGb: number };
  /** `--cpu_util` figure, percent. */
  cpuUtil?: number;
  /**
   * `--report-per-port`: ports 1 and 2 (perftest's `bw_avg_p1`/`_p2` and
   * `msgRate_avg_p1`/`_p2`, over the same sampling window as the average).
   */
  perPort?: PortFigures[];
}

/**
 * One port's share of a `--report-per-port` row.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bandwidthReport } from "./perftest_stats.ts";
 * const r = bandwidthReport([0], [1000], {
 *   size: 1000, iters: 3, noPeak: true, duration: true, itersPerPort: [2, 1],
 * });
 * assert.deepEqual(r.perPort!.map((p) => p.msgRateMpps), [2, 1]);
 * ```
 */
export interface PortFigures {
  /** Average in MB/sec (2^20 B/s). */
  avgMB: number;
  /** Average in Gb/sec. */
  avgGb: number;
  /** Messages per second / 10^6. */
  msgRateMpps: number;
}

/**
 * Inputs of {@link bandwidthReport} besides the timestamps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type BandwidthOptions, bandwidthReport } from "./perftest_stats.ts";
 * // Two QPs of two 1000-byte messages each, completions polled every 2 (cq_mod).
 * const o: BandwidthOptions = { size: 1000, iters: 2, qps: 2, cqMod: 2 };
 * const r = bandwidthReport([0, 0, 0, 0], [0, 2000, 0, 4000], o);
 * assert.equal(r.iterations, 4); // iters counts per QP
 * assert.equal(r.avgBytesPerSec, 1e9); // 4000 bytes in 4 µs
 * assert.equal(r.inUnits.avgGb, 8);
 * ```
 */
export interface BandwidthOptions {
  /** Message size. */
  size: number;
  /** Iterations per QP (duration mode: completions counted while sampling). */
  iters: number;
  /** QPs (default 1). */
  qps?: number;
  /** CQ moderation (default 1). */
  cqMod?: number;
  /** Post list (default 1). */
  postList?: number;
  /** No peak: `tposted[0]`/`tcompleted[0]` are the run's start and end. */
  noPeak?: boolean;
  /** Duration mode (the count is not multiplied by QPs). */
  duration?: boolean;
  /** `--run_infinitely` with `-b`: perftest's bidirectional factor. */
  runInfBiFactor?: number;
  /** Cycles per µs. */
  cpuMhz?: number;
  /** `--report-per-port`: completions counted on each port's QPs while sampling. */
  itersPerPort?: [number, number];
}

/**
 * `print_report_bw`: peak, average and message rate from the post time of
 * every (list of) message(s) and the time of every signaled completion,
 * indexed as perftest's `tposted[totscnt]` and `tcompleted[totccnt - 1]`.
 * Units are bytes/s here; {@link bwInUnit} gives perftest's MB/sec
 * (2^20) or Gb/sec with the same division perftest does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bandwidthReport } from "./perftest_stats.ts";
 * // Four 1000-byte messages posted at 0, completions every 1000 ns, cq_mod 2.
 * const tposted = [0, 0, 0, 0], tcompleted = [0, 2000, 0, 4000];
 * const r = bandwidthReport(tposted, tcompleted, { size: 1000, iters: 4, cqMod: 2 });
 * assert.equal(r.avgBytesPerSec, 1e9);
 * assert.equal(r.msgRateMpps, 1);
 * ```
 */
export function bandwidthReport(
  tposted: number[],
  tcompleted: number[],
  o: BandwidthOptions,
): BwRow {
  const qps = o.qps ?? 1, cqMod = o.cqMod ?? 1, postList = o.postList ?? 1;
  const noPeak = o.noPeak ?? false;
  const N = o.iters * qps;
  const mhz = o.cpuMhz ?? VIRTUAL_CPU_MHZ;
  // cycles_t is unsigned: an unset tcompleted[0] (0) makes a huge first candidate.
  const d0 = tcompleted[0] - tposted[0];
  let optDelta = d0 >= 0 ? d0 : 2 ** 64;
  if (!noPeak) {
    for (let i = 0; i < N; i += postList) {
      const first = (i + 1) % cqMod === 0 ? i + 1 : cqMod * (Math.floor((i + 1) / cqMod) + 1);
      for (let j = first - 1; j < N; j += cqMod) {
        const d = tcompleted[j] - tposted[i];
        if (d < 0) continue; // unsigned in perftest: a huge value, never the minimum
        const t = Math.floor(d / (j - i + 1));
        if (t < optDelta) optDelta = t;
      }
      if (N % cqMod) {
        const j = N - 1;
        const d = tcompleted[j] - tposted[i];
        if (d >= 0) {
          const t = Math.floor(d / (j - i + 1));
          if (t < optDelta) optDelta = t;
        }
      }
    }
  }
  const ctu = mhz * 1000000;
  const bi = o.runInfBiFactor ?? 1;
  const tsize = bi * o.size;
  const calc = o.duration ? o.iters : N;
  const loc = noPeak ? 0 : calc - 1;
  const cycles = tcompleted[loc] - tposted[0];
  // Kept in bytes/s: bwInUnit divides by perftest's format factor.
  const avg = (tsize * calc * ctu) / cycles;
  const rate = (calc * ctu * bi) / (cycles * 1000000);
  const peakUp = noPeak ? 0 : tsize * ctu;
  const inUnit = (ff: number) => ({
    peak: peakUp / (optDelta * ff),
    avg: (tsize * calc * ctu) / (cycles * ff),
  });
  const mb = inUnit(0x100000), gb = inUnit(125000000);
  // print_report_bw: each port's iterations over the whole window, in the report's units.
  const perPort = o.itersPerPort?.map((n) => ({
    avgMB: (tsize * n * ctu) / (cycles * 0x100000),
    avgGb: (tsize * n * ctu) / (cycles * 125000000),
    msgRateMpps: (n * ctu * bi) / (cycles * 1000000),
  }));
  return {
    bytes: o.size,
    iterations: calc,
    peakBytesPerSec: peakUp / optDelta,
    avgBytesPerSec: avg,
    msgRateMpps: rate,
    inUnits: { peakMB: mb.peak, avgMB: mb.avg, peakGb: gb.peak, avgGb: gb.avg },
    ...(perPort ? { perPort } : {}),
  };
}

/**
 * perftest's MB: 2^20 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MB } from "./perftest_stats.ts";
 * assert.deepEqual(MB, 1048576);
 * ```
 */
export const MB = 1 << 20;

/**
 * Bytes/s in the unit of the report: MB/sec (2^20 B/s) or Gb/sec (10^9 bit/s),
 * perftest's `format_factor`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bwInUnit } from "./perftest_stats.ts";
 * assert.deepEqual(bwInUnit(125e6, true), 1);
 * ```
 */
export function bwInUnit(bytesPerSec: number, gbits: boolean): number {
  return bytesPerSec / (gbits ? 125000000 : 0x100000);
}

/**
 * What a perftest run reports: its settings (for the header) and one row per size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PerftestResult } from "./perftest_stats.ts";
 * import { runPerftest } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * const r: PerftestResult = await runPerftest(
 *   parsePerftestArgs(["ib_read_bw", "-n", "10", "-q", "2"]),
 * );
 * assert.deepEqual([r.verb, r.kind, r.connection, r.qps, r.clock], [
 *   "read",
 *   "bw",
 *   "RC",
 *   2,
 *   "virtual",
 * ]);
 * // A bandwidth test fills `bw`, one row per size (65536 by default); `lat` stays empty.
 * assert.equal(r.lat.length, 0);
 * assert.deepEqual(r.bw.map((row) => [row.bytes, row.iterations]), [[65536, 20]]);
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
  /** The header as perftest prints it, and the address lines (see perftest_format.ts). */
  info?: HeaderInfo;
  /** The peer's rows of a bidirectional test (perftest adds them to ours). */
  bwRemote?: BwRow[];
  /** `-W`: counter changes over each size. */
  counters?: { name: string; value: number }[][];
}

/**
 * Everything `ctx_print_test_info` and `ctx_print_pingpong_data` print.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { HeaderInfo } from "./perftest_stats.ts";
 * import { runPerftest } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * const r = await runPerftest(parsePerftestArgs(["ib_read_bw", "-n", "10", "-q", "2"]));
 * const h: HeaderInfo = r.info!;
 * assert.equal(h.outReads, 4); // a read test prints "Outstand reads"
 * assert.equal(h.cqMod, 1);
 * // One address line per QP on each side, each with its QPN and this buffer's R_Key.
 * assert.deepEqual(h.local.map((a) => a.qpn), [2, 3]);
 * assert.deepEqual(h.remote.map((a) => a.qpn), [2, 3]);
 * assert.ok(h.local.every((a) => a.rkey !== undefined && a.outReads === 4));
 * ```
 */
export interface HeaderInfo {
  /** `-b`. */
  bidirectional: boolean;
  /** `-l` (> 1 prints a row). */
  postList: number;
  /** `--recv_post_list` (> 1 prints a row). */
  recvPostList: number;
  /** `-r` of a send test. */
  rxDepth: number;
  /** `--use-srq`. */
  useSrq: boolean;
  /** CQ moderation in force (bw tests print it). */
  cqMod: number;
  /** `-x` (printed when given). */
  gidIndex?: number;
  /** Outstanding reads/atomics (read and atomic tests print it). */
  outReads: number;
  /** `-e` and its vector: perftest's "Test with events" line. */
  eqNum: number;
  /** PCIe relaxed ordering row. */
  pcieRelaxed: boolean;
  /** Duration mode. */
  duration: boolean;
  /** `-C`. */
  cycles: boolean;
  /** `--cpu_util`. */
  cpuUtil: boolean;
  /**
   * `--report-both` with `-b`: each side's report after the sum (perftest's
   * RUN_REGULAR branch only: not with `-a`).
   */
  reportBoth?: boolean;
  /** `-O`: "Dual-port : ON". */
  dualport?: boolean;
  /**
   * `--report-per-port`: the wide rules and head (the rows carry each port's
   * figures whenever measured; atomic_bw.c keeps its usual rules and head).
   */
  reportPerPort?: boolean;
  /** `-g`: "Multicast" in the title and " MultiCast runs on UD!". */
  multicast?: boolean;
  /** `--output` other than full. */
  output: "full" | "bandwidth" | "message_rate" | "latency";
  /** `-R`: "rdma_cm QPs : ON". */
  rdmaCm?: boolean;
  /** `-z` or `-R`: "Data ex. method : rdma_cm". */
  commRdmaCm?: boolean;
  /** `-T` with `-R`: printed after the data exchange method. */
  tos?: number;
  /** This side's QPs, then the peer's. */
  local: AddressLine[];
  /** The peer's QPs (perftest's `remote address`). */
  remote: AddressLine[];
}

/**
 * One ` local address:` / ` remote address:` line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AddressLine } from "./perftest_stats.ts";
 * import { addressLine } from "./perftest_format.ts";
 * const a: AddressLine = { lid: 1, qpn: 0x48, psn: 0x123456, rkey: 0x1000, vaddr: 0x7f00n };
 * assert.equal(
 *   addressLine("remote", "write", a),
 *   " remote address: LID 0x01 QPN 0x0048 PSN 0x123456 RKey 0x001000 VAddr 0x00000000007f00",
 * );
 * // A send test has no remote buffer to name: R_Key and address are not printed.
 * assert.equal(
 *   addressLine("remote", "send", a),
 *   " remote address: LID 0x01 QPN 0x0048 PSN 0x123456",
 * );
 * ```
 */
export interface AddressLine {
  /** LID (the `--dlid` on the remote line when given). */
  lid: number;
  /** QP number. */
  qpn: number;
  /** First PSN. */
  psn: number;
  /** Outstanding reads (read tests). */
  outReads?: number;
  /** R_Key (RDMA tests). */
  rkey?: number;
  /** Buffer address (RDMA tests). */
  vaddr?: bigint;
  /** GID bytes (with `-x`, and with `-g`: the port's GID, or the group's MGID). */
  gid?: Uint8Array;
  /** How the GID line names it: `GID`, or `MGID` for the group (perftest's `gidArray`). */
  gidLabel?: "GID" | "MGID";
}
