/**
 * perftest-style output: the header block and the result tables, and the
 * JSON form of a run.
 *
 * @module
 */
import { bwInUnit, type BwRow, type LatRow, type PerftestResult } from "./perftest_stats.ts";

/**
 * perftest's separator line.
 *
 * @example
 * ```ts
 * import { RESULT_LINE } from "./perftest_format.ts";
 * console.log(RESULT_LINE.length); // 87
 * ```
 */
export const RESULT_LINE = "-".repeat(87);

const TITLES: Record<string, string> = {
  write: "RDMA_Write",
  read: "RDMA_Read",
  send: "Send",
  atomic: "Atomic",
};

/**
 * Column headers of the latency table.
 *
 * @example
 * ```ts
 * import { LAT_COLUMNS } from "./perftest_format.ts";
 * console.log(LAT_COLUMNS[4]); // t_typical[usec]
 * ```
 */
export const LAT_COLUMNS = [
  "#bytes",
  "#iterations",
  "t_min[usec]",
  "t_max[usec]",
  "t_typical[usec]",
  "t_avg[usec]",
  "t_stdev[usec]",
  "99% percentile[usec]",
  "99.9% percentile[usec]",
];

/**
 * Column headers of the bandwidth table.
 *
 * @example
 * ```ts
 * import { bwColumns } from "./perftest_format.ts";
 * console.log(bwColumns(true)[2]); // BW peak[Gb/sec]
 * ```
 */
export function bwColumns(gbits: boolean): string[] {
  const u = gbits ? "Gb/sec" : "MB/sec";
  return ["#bytes", "#iterations", `BW peak[${u}]`, `BW average[${u}]`, "MsgRate[Mpps]"];
}

/** Right-pad cells to the width of their header so columns line up. */
function line(cells: string[], widths: number[]): string {
  return " " + cells.map((c, i) => c.padEnd(widths[i])).join("   ").trimEnd();
}

/**
 * The header block perftest prints before the table.
 *
 * @example
 * ```ts
 * import { formatHeader } from "./perftest_format.ts";
 * const h = formatHeader({
 *   test: "ib_write_lat", verb: "write", kind: "lat", connection: "RC", mode: "native",
 *   profile: "pcix-sdr-2006", seed: 1, device: "xhca0", mtu: 2048, link: "4X SDR",
 *   inlineSize: 220, txDepth: 1, qps: 1, events: false, clock: "virtual",
 *   reportGbits: false, notes: [], lat: [], bw: [],
 * });
 * console.log(h.includes("RDMA_Write Latency Test")); // true
 * ```
 */
export function formatHeader(r: PerftestResult): string {
  const title = `${TITLES[r.verb] ?? r.verb} ${r.kind === "lat" ? "Latency" : "BW"} Test`;
  const pad = Math.max(0, Math.floor((RESULT_LINE.length - title.length) / 2));
  const rows: [string, string][] = [
    [
      "Mode",
      `${r.mode}${
        r.mode === "bypass"
          ? " (Xen-IB VMM-bypass guest)"
          : r.mode === "split"
          ? " (split driver guest)"
          : r.mode === "native"
          ? " (bare metal)"
          : ""
      }`,
    ],
    ["Profile", r.clock === "virtual" ? `${r.profile}  seed ${r.seed}` : r.profile],
    ["Device", r.device],
    ["Number of qps", String(r.qps)],
    ["Transport type", "IB"],
    ["Connection type", r.connection],
    ["Using SRQ", "OFF"],
    ["TX depth", String(r.txDepth)],
  ];
  if (r.verb === "atomic" && r.atomicType) rows.push(["Atomic Type", r.atomicType]);
  rows.push(
    ["Mtu", `${r.mtu}[B]`],
    ["Link type", "IB"],
    ["Link", r.link],
  );
  if (r.verb !== "read" && r.verb !== "atomic") {
    rows.push(["Max inline data", `${r.inlineSize}[B]`]);
  }
  rows.push(
    ["Completion", r.events ? "events (completion channel)" : "polling"],
    ["Clock", r.clock === "virtual" ? "virtual time (simulated)" : "wall clock (hardware)"],
  );
  const out = [RESULT_LINE, " ".repeat(pad) + title];
  for (const [k, v] of rows) out.push(` ${k.padEnd(16)}: ${v}`);
  for (const n of r.notes) out.push(` ${n}`);
  out.push(RESULT_LINE);
  return out.join("\n");
}

/**
 * The latency table (header line and one line per size).
 *
 * @example
 * ```ts
 * import { formatLatTable } from "./perftest_format.ts";
 * const t = formatLatTable([{ bytes: 2, iterations: 1000, tMin: 4.5, tMax: 4.6, tTypical: 4.5,
 *   tAvg: 4.52, tStdev: 0.01, p99: 4.6, p999: 4.6 }]);
 * console.log(t.split("\n")[1].trim().split(/\s+/).slice(0, 3).join(" ")); // 2 1000 4.50
 * ```
 */
export function formatLatTable(rows: LatRow[]): string {
  const cells = rows.map((r) => [
    String(r.bytes),
    String(r.iterations),
    ...[r.tMin, r.tMax, r.tTypical, r.tAvg, r.tStdev, r.p99, r.p999].map((x) => x.toFixed(2)),
  ]);
  return table(LAT_COLUMNS, cells);
}

/** Header and rows with each column as wide as its widest cell. */
function table(head: string[], cells: string[][]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  return [line(head, widths), ...cells.map((c) => line(c, widths))].join("\n");
}

/**
 * The bandwidth table, in MB/sec (2^20 B/s) or Gb/sec.
 *
 * @example
 * ```ts
 * import { formatBwTable } from "./perftest_format.ts";
 * const t = formatBwTable([{ bytes: 65536, iterations: 5000, peakBytesPerSec: 2 ** 30,
 *   avgBytesPerSec: 2 ** 29, msgRateMpps: 0.008192 }], false);
 * console.log(t.split("\n")[1].trim().split(/\s+/).join(" ")); // 65536 5000 1024.00 512.00 0.008192
 * ```
 */
export function formatBwTable(rows: BwRow[], gbits: boolean): string {
  const cells = rows.map((r) => [
    String(r.bytes),
    String(r.iterations),
    bwInUnit(r.peakBytesPerSec, gbits).toFixed(2),
    bwInUnit(r.avgBytesPerSec, gbits).toFixed(2),
    r.msgRateMpps.toFixed(6),
  ]);
  return table(bwColumns(gbits), cells);
}

/**
 * The whole report: header, table, closing line.
 *
 * @example
 * ```ts
 * import { formatResult } from "./perftest_format.ts";
 * const text = formatResult({
 *   test: "ib_read_bw", verb: "read", kind: "bw", connection: "RC", mode: "native",
 *   profile: "pcix-sdr-2006", seed: 1, device: "xhca0", mtu: 2048, link: "4X SDR",
 *   inlineSize: 0, txDepth: 128, qps: 1, events: false, clock: "virtual",
 *   reportGbits: true, notes: [], lat: [],
 *   bw: [{ bytes: 65536, iterations: 5000, peakBytesPerSec: 1e9, avgBytesPerSec: 1e9, msgRateMpps: 0.015 }],
 * });
 * console.log(text.includes("BW average[Gb/sec]")); // true
 * ```
 */
export function formatResult(r: PerftestResult): string {
  const table = r.kind === "lat" ? formatLatTable(r.lat) : formatBwTable(r.bw, r.reportGbits);
  return [formatHeader(r), table, RESULT_LINE].join("\n");
}

/**
 * The JSON form of a run (numbers as measured; bandwidth in both units).
 *
 * @example
 * ```ts
 * import { resultToJson } from "./perftest_format.ts";
 * const j = resultToJson({
 *   test: "ib_write_bw", verb: "write", kind: "bw", connection: "RC", mode: "native",
 *   profile: "p", seed: 1, device: "xhca0", mtu: 2048, link: "4X SDR", inlineSize: 0,
 *   txDepth: 128, qps: 1, events: false, clock: "virtual", reportGbits: false, notes: [], lat: [],
 *   bw: [{ bytes: 2, iterations: 5, peakBytesPerSec: 1048576, avgBytesPerSec: 1048576, msgRateMpps: 0.5 }],
 * });
 * console.log((j.results as { bwAverageMBps: number }[])[0].bwAverageMBps); // 1
 * ```
 */
export function resultToJson(r: PerftestResult): Record<string, unknown> {
  const { lat, bw, ...info } = r;
  const results = r.kind === "lat" ? lat.map((x) => ({ ...x })) : bw.map((x) => ({
    bytes: x.bytes,
    iterations: x.iterations,
    bwPeakMBps: bwInUnit(x.peakBytesPerSec, false),
    bwAverageMBps: bwInUnit(x.avgBytesPerSec, false),
    bwPeakGbps: bwInUnit(x.peakBytesPerSec, true),
    bwAverageGbps: bwInUnit(x.avgBytesPerSec, true),
    msgRateMpps: x.msgRateMpps,
  }));
  return { ...info, units: r.kind === "lat" ? "usec" : "MB=2^20 B/s, Gb=10^9 bit/s", results };
}
