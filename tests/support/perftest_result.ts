/**
 * Fixtures for the perftest formatting tests: a bandwidth row and a
 * `PerftestResult` of a two-sided bw run, each field overridable.
 *
 * @module
 */
import type { BwRow, HeaderInfo, PerftestResult } from "../../tools/lib/perftest_stats.ts";

/** A 64-byte row averaging `avgMB` MB/s (also its peak) at `rate` Mpps. */
export function bwRow(avgMB: number, rate = avgMB / 64): BwRow {
  return {
    bytes: 64,
    iterations: 10,
    peakBytesPerSec: avgMB * 1048576,
    avgBytesPerSec: avgMB * 1048576,
    msgRateMpps: rate,
    inUnits: { peakMB: avgMB, avgMB, peakGb: avgMB * 0.008388608, avgGb: avgMB * 0.008388608 },
  };
}

/** A native `ib_write_bw`-style result with no rows; `info` merges over a full-verbosity header. */
export function bwResult(
  over: Partial<PerftestResult>,
  info: Partial<HeaderInfo> = {},
): PerftestResult {
  return {
    test: "ib_write_bw",
    verb: "write",
    kind: "bw",
    connection: "RC",
    mode: "native",
    profile: "p",
    seed: 1,
    device: "mthca0",
    mtu: 2048,
    link: "4X SDR",
    inlineSize: 0,
    txDepth: 10,
    qps: 1,
    events: false,
    clock: "virtual",
    reportGbits: false,
    notes: [],
    lat: [],
    bw: [],
    ...over,
    info: {
      bidirectional: false,
      postList: 1,
      recvPostList: 1,
      rxDepth: 0,
      useSrq: false,
      cqMod: 10,
      outReads: 1,
      eqNum: 0,
      pcieRelaxed: true,
      duration: false,
      cycles: false,
      cpuUtil: false,
      output: "full",
      local: [],
      remote: [],
      ...info,
    },
  };
}
