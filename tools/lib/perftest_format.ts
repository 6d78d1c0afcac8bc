/**
 * perftest 4.5's output, byte for byte (src/perftest_parameters.h formats,
 * `ctx_print_test_info`, `ctx_print_pingpong_data`, `print_report_lat`,
 * `print_full_bw_report`): the title indented 20 spaces, the two-column
 * rows, the address lines, the table heads and rows with perftest's
 * `printf` widths and tabs, and `--output` single numbers. xenib adds one
 * line of its own before perftest's first separator (mode, profile, seed,
 * clock), and `resultToJson` for `--json`.
 *
 * @module
 */
import { cPrintf } from "./c_format.ts";
import type { AddressLine, BwRow, HeaderInfo, LatRow, PerftestResult } from "./perftest_stats.ts";
import { bwInUnit } from "./perftest_stats.ts";

/**
 * perftest's separator line (87 dashes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RESULT_LINE } from "./perftest_format.ts";
 * assert.deepEqual(RESULT_LINE.length, 87);
 * ```
 */
export const RESULT_LINE = "-".repeat(87);

/** perftest's `testsStr`. */
const TITLES: Record<string, string> = {
  send: "Send",
  write: "RDMA_Write",
  read: "RDMA_Read",
  atomic: "Atomic",
};

/**
 * perftest's latency table head (`RESULT_FMT_LAT`, trailing space included).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LAT_HEAD } from "./perftest_format.ts";
 * assert.deepEqual(LAT_HEAD.startsWith(" #bytes #iterations    t_min[usec]"), true);
 * ```
 */
export const LAT_HEAD =
  " #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]    t_stdev[usec]   99% percentile[usec]   99.9% percentile[usec] ";

/**
 * perftest's duration-mode latency head (`RESULT_FMT_LAT_DUR`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LAT_DUR_HEAD } from "./perftest_format.ts";
 * assert.deepEqual(LAT_DUR_HEAD.includes("tps average"), true);
 * ```
 */
export const LAT_DUR_HEAD = " #bytes        #iterations       t_avg[usec]    tps average";

/**
 * perftest's bandwidth table head (`RESULT_FMT` / `RESULT_FMT_G`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bwHead } from "./perftest_format.ts";
 * assert.equal(
 *   bwHead(true),
 *   " #bytes     #iterations    BW peak[Gb/sec]    BW average[Gb/sec]   MsgRate[Mpps]",
 * );
 * assert.equal(bwHead(false).split("    ")[2], "BW peak[MB/sec]");
 * ```
 */
export function bwHead(gbits: boolean, perPort = false): string {
  const u = gbits ? "Gb/sec" : "MB/sec";
  const head = ` #bytes     #iterations    BW peak[${u}]    BW average[${u}]   MsgRate[Mpps]`;
  return perPort
    ? `${head}   BW Port1[${u}]   MsgRate Port1[Mpps]   BW Port2[${u}]   MsgRate Port2[Mpps]`
    : head;
}

/**
 * perftest's `RESULT_LINE_PER_PORT`: the rule around the `--report-per-port` table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RESULT_LINE_PER_PORT } from "./perftest_format.ts";
 * assert.equal(RESULT_LINE_PER_PORT.length, 163);
 * ```
 */
export const RESULT_LINE_PER_PORT = "-".repeat(163);

/**
 * The rule before the table head and after the rows: the wide one with
 * `--report-per-port`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RESULT_LINE, resultLine } from "./perftest_format.ts";
 * assert.equal(resultLine({}), RESULT_LINE);
 * assert.equal(resultLine({ reportPerPort: true }).length, 163);
 * ```
 */
export function resultLine(h: { reportPerPort?: boolean }): string {
  return h.reportPerPort ? RESULT_LINE_PER_PORT : RESULT_LINE;
}

/**
 * Column names of the latency table (for JSON and the docs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LAT_COLUMNS } from "./perftest_format.ts";
 * assert.deepEqual(LAT_COLUMNS[4], "t_typical[usec]");
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
 * The title line: 20 spaces, the verb, the atomic type, `Bidirectional`,
 * `Post List`, `BW`/`Latency`, `Test`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { titleLine } from "./perftest_format.ts";
 * const indent = " ".repeat(20);
 * assert.equal(
 *   titleLine("atomic", "lat", { atomicType: "FETCH_AND_ADD" }),
 *   `${indent}Atomic FETCH_AND_ADD Latency Test`,
 * );
 * assert.equal(
 *   titleLine("write", "bw", { bidirectional: true, postList: 4 }),
 *   `${indent}RDMA_Write Bidirectional Post List BW Test`,
 * );
 * assert.equal(titleLine("send", "lat", { multicast: true }), `${indent}Send Latency Multicast Test`);
 * ```
 */
export function titleLine(
  verb: string,
  kind: "lat" | "bw",
  o: { atomicType?: string; bidirectional?: boolean; postList?: number; multicast?: boolean } = {},
): string {
  let t = " ".repeat(20) + `${TITLES[verb] ?? verb} `;
  if (verb === "atomic" && o.atomicType) t += `${o.atomicType} `;
  if (kind === "bw") {
    if (o.bidirectional) t += "Bidirectional ";
    if ((o.postList ?? 1) > 1) t += "Post List ";
    t += "BW ";
  } else t += "Latency ";
  if (o.multicast) t += "Multicast ";
  return t + "Test";
}

/**
 * xenib's line before perftest's output: where and how the test ran.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { xenibLine } from "./perftest_format.ts";
 * assert.equal(
 *   xenibLine({ mode: "bypass", profile: "p", seed: 1, link: "4X SDR", clock: "virtual" }),
 *   "xenib: bypass (Xen-IB VMM-bypass guest), profile p, seed 1, link 4X SDR, " +
 *     "virtual time (1 cycle = 1 ns)",
 * );
 * // On real hardware there is no profile or seed to name.
 * assert.equal(
 *   xenibLine({ mode: "native", profile: "p", seed: 1, link: "4X SDR", clock: "wall" }),
 *   "xenib: native (bare metal), link 4X SDR, wall clock (hardware)",
 * );
 * ```
 */
export function xenibLine(
  r: { mode: string; profile: string; seed: number; link: string; clock: "virtual" | "wall" },
): string {
  const what = r.mode === "bypass"
    ? " (Xen-IB VMM-bypass guest)"
    : r.mode === "split"
    ? " (split driver guest)"
    : r.mode === "native"
    ? " (bare metal)"
    : "";
  const clock = r.clock === "virtual" ? "virtual time (1 cycle = 1 ns)" : "wall clock (hardware)";
  const where = r.clock === "virtual" ? `profile ${r.profile}, seed ${r.seed}, ` : "";
  return `xenib: ${r.mode}${what}, ${where}link ${r.link}, ${clock}`;
}

function defaultInfo(r: PerftestResult): HeaderInfo {
  return {
    bidirectional: false,
    postList: 1,
    recvPostList: 1,
    rxDepth: 0,
    useSrq: false,
    cqMod: 1,
    outReads: 1,
    eqNum: 0,
    pcieRelaxed: !(r.verb === "write" && r.kind === "lat"),
    duration: false,
    cycles: false,
    cpuUtil: false,
    output: "full",
    local: [],
    remote: [],
  };
}

/**
 * `ctx_print_test_info`: separator, title, the parameter rows, separator.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatHeader } from "./perftest_format.ts";
 * const h = formatHeader({
 *   test: "ib_write_lat", verb: "write", kind: "lat", connection: "RC", mode: "native",
 *   profile: "pcix-sdr-2006", seed: 1, device: "mthca0", mtu: 2048, link: "4X SDR",
 *   inlineSize: 220, txDepth: 1, qps: 1, events: false, clock: "virtual",
 *   reportGbits: false, notes: [], lat: [], bw: [],
 * });
 * assert.equal(h.split("\n")[2], " Dual-port       : OFF\t\tDevice         : mthca0");
 * ```
 */
export function formatHeader(r: PerftestResult): string {
  const h = r.info ?? defaultInfo(r);
  const out = [
    RESULT_LINE,
    titleLine(r.verb, r.kind, {
      atomicType: r.atomicType,
      bidirectional: h.bidirectional,
      postList: h.postList,
      multicast: h.multicast,
    }),
  ];
  if (r.events) out.push(` Test with events. Using ${r.device}_comp${h.eqNum}`);
  if (h.multicast) out.push(` MultiCast runs on UD!`);
  out.push(
    ` Dual-port       : ${h.dualport ? "ON" : "OFF"}\t\tDevice         : ${r.device}`,
    ` Number of qps   : ${r.qps}\t\tTransport type : IB`,
    ` Connection type : ${r.connection}\t\tUsing SRQ      : ${h.useSrq ? "ON" : "OFF"}`,
    ` PCIe relax order: ${h.pcieRelaxed ? "ON" : "OFF"}`,
    ` ibv_wr* API     : OFF`,
    ` TX depth        : ${r.txDepth}`,
  );
  if (h.postList > 1) out.push(` Post List       : ${h.postList}`);
  if (h.recvPostList > 1) out.push(` Recv Post List  : ${h.recvPostList}`);
  if (r.verb === "send" && h.bidirectional) out.push(` RX depth        : ${h.rxDepth}`);
  if (r.kind === "bw") out.push(` CQ Moderation   : ${h.cqMod}`);
  out.push(` Mtu             : ${r.mtu}[B]`, ` Link type       : IB`);
  if (h.gidIndex !== undefined) out.push(` GID index       : ${h.gidIndex}`);
  if (r.verb !== "read" && r.verb !== "atomic") out.push(` Max inline data : ${r.inlineSize}[B]`);
  else out.push(` Outstand reads  : ${h.outReads}`);
  // perftest: the TOS follows the method on its line, for rdma_cm QPs only.
  const tos = h.rdmaCm && h.tos !== undefined ? ` \tTOS    : ${h.tos}` : "";
  out.push(
    ` rdma_cm QPs\t : ${h.rdmaCm ? "ON" : "OFF"}`,
    ` Data ex. method : ${h.commRdmaCm ? "rdma_cm" : "Ethernet"}${tos}`,
    RESULT_LINE,
  );
  return out.join("\n");
}

/**
 * `ctx_print_pingpong_data`: one address line (and its GID line with `-x`).
 * The verb decides the extras as perftest's switch does: READ prints OUT
 * and falls through to RKey/VAddr, WRITE prints RKey/VAddr, SEND and
 * ATOMIC nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addressLine } from "./perftest_format.ts";
 * const a = { lid: 1, qpn: 0x48, psn: 0x1a2b3c, rkey: 0x2000, vaddr: 0x10000n, outReads: 4 };
 * assert.equal(
 *   addressLine("local", "write", a),
 *   " local address: LID 0x01 QPN 0x0048 PSN 0x1a2b3c RKey 0x002000 VAddr 0x00000000010000",
 * );
 * assert.equal(
 *   addressLine("local", "read", a),
 *   " local address: LID 0x01 QPN 0x0048 PSN 0x1a2b3c OUT 0x04 " +
 *     "RKey 0x002000 VAddr 0x00000000010000",
 * );
 * assert.equal(
 *   addressLine("local", "send", a),
 *   " local address: LID 0x01 QPN 0x0048 PSN 0x1a2b3c",
 * );
 * ```
 */
export function addressLine(side: "local" | "remote", verb: string, a: AddressLine): string {
  let s = cPrintf(" %s address: LID %#04x QPN %#06x PSN %#06x", side, a.lid, a.qpn, a.psn);
  if (verb === "read") s += cPrintf(" OUT %#04x", a.outReads ?? 0);
  if (verb === "read" || verb === "write") {
    s += cPrintf(" RKey %#08x VAddr %#016llx", a.rkey ?? 0, a.vaddr ?? 0n);
  }
  if (a.gid) {
    const g = [...a.gid].map((b) => String(b).padStart(2, "0")).join(":");
    s += `\n ${a.gidLabel ?? "GID"}: ${g}`;
  }
  return s;
}

/**
 * One latency row (`REPORT_FMT_LAT`), or the duration row (`REPORT_FMT_LAT_DUR`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { latRowLine } from "./perftest_format.ts";
 * const r = {
 *   bytes: 2,
 *   iterations: 1000,
 *   tMin: 4.5,
 *   tMax: 4.6,
 *   tTypical: 4.5,
 *   tAvg: 4.52,
 *   tStdev: 0,
 *   p99: 4.6,
 *   p999: 4.6,
 * };
 * // perftest's "%-7.2f" fields, its spaces and tabs
 * assert.equal(
 *   latRowLine(r),
 *   " 2       1000          4.50           4.60         4.50     \t       4.52        " +
 *     "\t0.00   \t\t4.60    \t\t4.60   ",
 * );
 * // -D: the duration row
 * assert.equal(
 *   latRowLine({ ...r, tps: 221238.9 }),
 *   " 2             1000            4.52           221238.90",
 * );
 * ```
 */
export function latRowLine(r: LatRow, cpuUtil?: boolean): string {
  const row = r.tps !== undefined
    ? cPrintf(
      " %-7lu       %lu            %-7.2f        %-7.2f",
      r.bytes,
      r.iterations,
      r.tAvg,
      r.tps,
    )
    : cPrintf(
      " %-7lu %lu          %-7.2f        %-7.2f      %-7.2f  \t       %-7.2f     \t%-7.2f\t\t%-7.2f \t\t%-7.2f",
      r.bytes,
      r.iterations,
      r.tMin,
      r.tMax,
      r.tTypical,
      r.tAvg,
      r.tStdev,
      r.p99,
      r.p999,
    );
  return row + (cpuUtil ? cPrintf("\t    %-3.2f", r.cpuUtil ?? 0) : "");
}

/**
 * One bandwidth row (`REPORT_FMT`, or `REPORT_FMT_EXT` with 6 decimals
 * when the Gb/sec average is below 0.1, perftest's `inc_accuracy`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bwRowLine } from "./perftest_format.ts";
 * const r = {
 *   bytes: 2,
 *   iterations: 5000,
 *   peakBytesPerSec: 0,
 *   avgBytesPerSec: 1e6,
 *   msgRateMpps: 0.5,
 *   inUnits: { peakMB: 0, avgMB: 0.95, peakGb: 0, avgGb: 0.008 },
 * };
 * assert.deepEqual(
 *   bwRowLine(r, true).trim().split(/\s+/).join(" "),
 *   "2 5000 0.000000 0.008000 0.500000",
 * );
 * ```
 */
export function bwRowLine(r: BwRow, gbits: boolean, cpuUtil?: boolean, ownAvg?: number): string {
  const peak = gbits ? r.inUnits.peakGb : r.inUnits.peakMB;
  const avg = gbits ? r.inUnits.avgGb : r.inUnits.avgMB;
  // perftest decides the precision from its own side's average, before adding the peer's.
  const inc = (ownAvg ?? avg) < 0.1 && gbits;
  // REPORT_FMT_PER_PORT comes before the inc_accuracy choice in print_full_bw_report.
  const [p1, p2] = r.perPort ?? [];
  const row = p1 && p2
    ? cPrintf(
      " %-7lu    %-10lu     %-7.2lf            %-7.2lf\t\t   %-7.6lf        %-7.2lf            %-7.6lf              %-7.2lf            %-7.6lf",
      r.bytes,
      r.iterations,
      peak,
      avg,
      r.msgRateMpps,
      gbits ? p1.avgGb : p1.avgMB,
      p1.msgRateMpps,
      gbits ? p2.avgGb : p2.avgMB,
      p2.msgRateMpps,
    )
    : inc
    ? cPrintf(
      " %-7lu    %lu           %-7.6lf            %-7.6lf            %-7.6lf",
      r.bytes,
      r.iterations,
      peak,
      avg,
      r.msgRateMpps,
    )
    : cPrintf(
      " %-7lu    %-10lu       %-7.2lf            %-7.2lf\t\t   %-7.6lf",
      r.bytes,
      r.iterations,
      peak,
      avg,
      r.msgRateMpps,
    );
  return row + (cpuUtil ? cPrintf("\t    %-3.2f", r.cpuUtil ?? 0) : "");
}

/**
 * perftest's sum of the local and remote reports (bidirectional tests).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sumBwRows } from "./perftest_format.ts";
 * const a = { bytes: 8, iterations: 10, peakBytesPerSec: 2, avgBytesPerSec: 1, msgRateMpps: 1,
 *   inUnits: { peakMB: 2, avgMB: 1, peakGb: 2, avgGb: 1 } };
 * assert.deepEqual(sumBwRows(a, a).inUnits.avgMB, 2);
 * ```
 */
export function sumBwRows(mine: BwRow, remote: BwRow): BwRow {
  return {
    bytes: mine.bytes,
    iterations: mine.iterations,
    peakBytesPerSec: mine.peakBytesPerSec + remote.peakBytesPerSec,
    avgBytesPerSec: mine.avgBytesPerSec + remote.avgBytesPerSec,
    msgRateMpps: mine.msgRateMpps + remote.msgRateMpps,
    inUnits: {
      peakMB: mine.inUnits.peakMB + remote.inUnits.peakMB,
      avgMB: mine.inUnits.avgMB + remote.inUnits.avgMB,
      peakGb: mine.inUnits.peakGb + remote.inUnits.peakGb,
      avgGb: mine.inUnits.avgGb + remote.inUnits.avgGb,
    },
    cpuUtil: mine.cpuUtil,
    ...(mine.perPort && remote.perPort
      ? {
        perPort: mine.perPort.map((p, i) => ({
          avgMB: p.avgMB + remote.perPort![i].avgMB,
          avgGb: p.avgGb + remote.perPort![i].avgGb,
          msgRateMpps: p.msgRateMpps + remote.perPort![i].msgRateMpps,
        })),
      }
      : {}),
  };
}

/**
 * The lines before the first row: xenib's line, perftest's notices,
 * header, address lines, table head. With `--output` only the notices:
 * perftest prints its warnings (`Post List requested …`, the MTU lines)
 * whatever the verbosity, and nothing else before the numbers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bwHead, formatPreamble, RESULT_LINE } from "./perftest_format.ts";
 * const p = formatPreamble({
 *   test: "ib_send_bw", verb: "send", kind: "bw", connection: "RC", mode: "native",
 *   profile: "p", seed: 1, device: "mthca0", mtu: 2048, link: "4X SDR", inlineSize: 0,
 *   txDepth: 128, qps: 1, events: false, clock: "virtual", reportGbits: false, notes: [],
 *   lat: [], bw: [],
 * });
 * const lines = p.split("\n");
 * assert.equal(lines[0], "xenib: native (bare metal), profile p, seed 1, link 4X SDR, " +
 *   "virtual time (1 cycle = 1 ns)");
 * assert.equal(lines[2].trim(), "Send BW Test");
 * assert.deepEqual(lines.slice(-2), [RESULT_LINE, bwHead(false)]); // then the rows
 * ```
 */
export function formatPreamble(r: PerftestResult): string {
  const h = r.info ?? defaultInfo(r);
  if (h.output !== "full") return r.notes.join("\n");
  const out = [xenibLine(r), ...r.notes, formatHeader(r)];
  for (const a of h.local) out.push(addressLine("local", r.verb, a));
  for (const a of h.remote) out.push(addressLine("remote", r.verb, a));
  out.push(resultLine(h));
  out.push(tableHead(r));
  return out.join("\n");
}

/** The head of the table, with perftest's CPU_Util column when asked. */
function tableHead(r: PerftestResult): string {
  const h = r.info ?? defaultInfo(r);
  const head = r.kind === "lat"
    ? (h.duration ? LAT_DUR_HEAD : LAT_HEAD)
    : bwHead(r.reportGbits, h.reportPerPort);
  return head + (h.cpuUtil ? "    CPU_Util[%]" : "");
}

/**
 * The lines of one size: the row (or the `--output` number), and for `-U`
 * / `-H` perftest's sample lists and repeated head. `afterReport(k)` gives
 * the lines printed after report `k` (0: the row; with `--report-both`, 1
 * and 2: the Local and Remote rows), as perftest's `counters_print` follows
 * each report.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatRow, latRowLine } from "./perftest_format.ts";
 * const r = {
 *   test: "ib_read_lat",
 *   verb: "read",
 *   kind: "lat" as const,
 *   connection: "RC",
 *   mode: "native",
 *   profile: "p",
 *   seed: 1,
 *   device: "mthca0",
 *   mtu: 2048,
 *   link: "4X SDR",
 *   inlineSize: 0,
 *   txDepth: 1,
 *   qps: 1,
 *   events: false,
 *   clock: "virtual" as const,
 *   reportGbits: false,
 *   notes: [],
 *   lat: [],
 *   bw: [],
 * };
 * const row = {
 *   bytes: 2,
 *   iterations: 5,
 *   tMin: 1,
 *   tMax: 1,
 *   tTypical: 1,
 *   tAvg: 1,
 *   tStdev: 0,
 *   p99: 1,
 *   p999: 1,
 * };
 * assert.equal(formatRow(r, row), latRowLine(row)); // the full report's row
 * ```
 */
export function formatRow(
  r: PerftestResult,
  row: LatRow | BwRow,
  remote?: BwRow,
  afterReport: (k: number) => readonly string[] = () => [],
): string {
  const h = r.info ?? defaultInfo(r);
  const out: string[] = [];
  if (r.kind === "lat") {
    const lr = row as LatRow;
    const units = h.cycles ? "cycles" : "usec";
    if (lr.unsorted) {
      out.push(`#, ${units}`);
      lr.unsorted.forEach((x, i) => out.push(cPrintf("%d, %g", i + 1, x)));
    }
    if (lr.sorted) {
      out.push(`#, ${units}`);
      lr.sorted.forEach((x, i) => out.push(cPrintf("%d, %g", i + 1, x)));
    }
    if ((lr.unsorted || lr.sorted) && h.output === "full") out.push(RESULT_LINE, tableHead(r));
    if (h.output === "latency") out.push(cPrintf("%f", lr.tAvg));
    else out.push(latRowLine(lr, h.cpuUtil));
    out.push(...afterReport(0));
    return out.join("\n");
  }
  const mine = row as BwRow;
  // print_full_bw_report: the --output number, or the row (precision from this side's average).
  const report = (x: BwRow, own: BwRow): string => {
    if (h.output === "bandwidth") {
      return cPrintf("%f", r.reportGbits ? x.inUnits.avgGb : x.inUnits.avgMB);
    }
    if (h.output === "message_rate") return cPrintf("%f", x.msgRateMpps);
    return bwRowLine(
      x,
      r.reportGbits,
      h.cpuUtil,
      r.reportGbits ? own.inUnits.avgGb : own.inUnits.avgMB,
    );
  };
  const line = [report(remote ? sumBwRows(mine, remote) : mine, mine), ...afterReport(0)];
  if (!remote || !h.reportBoth) return line.join("\n");
  // The bw programs' --report-both: each side's report after the sum, printed
  // whatever --output says (only the rows follow it), under the plain head.
  // atomic_bw.c spells the labels without the trailing space the others print.
  const space = r.verb === "atomic" ? "" : " ";
  const side = (label: string, x: BwRow, k: number) => [
    RESULT_LINE,
    "",
    ` ${label} results:${space}`,
    RESULT_LINE,
    bwHead(r.reportGbits) + (h.cpuUtil ? "    CPU_Util[%]" : ""),
    report(x, x),
    ...afterReport(k),
  ];
  return [...line, ...side("Local", mine, 1), ...side("Remote", remote, 2)].join("\n");
}

/**
 * The latency table (head and one row per size), as perftest prints it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatLatTable } from "./perftest_format.ts";
 * const t = formatLatTable([{ bytes: 2, iterations: 1000, tMin: 4.5, tMax: 4.6, tTypical: 4.5,
 *   tAvg: 4.52, tStdev: 0.01, p99: 4.6, p999: 4.6 }]);
 * assert.deepEqual(t.split("\n")[1].trim().split(/\s+/).slice(0, 3).join(" "), "2 1000 4.50");
 * ```
 */
export function formatLatTable(rows: LatRow[]): string {
  return [LAT_HEAD, ...rows.map((r) => latRowLine(r))].join("\n");
}

/**
 * The bandwidth table, in MB/sec (2^20 B/s) or Gb/sec.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatBwTable } from "./perftest_format.ts";
 * const t = formatBwTable([{
 *   bytes: 65536,
 *   iterations: 5000,
 *   peakBytesPerSec: 2 ** 30,
 *   avgBytesPerSec: 2 ** 29,
 *   msgRateMpps: 0.008192,
 *   inUnits: { peakMB: 1024, avgMB: 512, peakGb: 8.59, avgGb: 4.29 },
 * }], false);
 * assert.deepEqual(
 *   t.split("\n")[1].trim().split(/\s+/).join(" "),
 *   "65536 5000 1024.00 512.00 0.008192",
 * );
 * ```
 */
export function formatBwTable(rows: BwRow[], gbits: boolean): string {
  return [bwHead(gbits), ...rows.map((r) => bwRowLine(r, gbits))].join("\n");
}

/**
 * The whole report as perftest prints it after a run (preamble, rows, closing line).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bwHead, bwRowLine, formatResult, RESULT_LINE } from "./perftest_format.ts";
 * import type { PerftestResult } from "./perftest_stats.ts";
 * const r: PerftestResult = {
 *   test: "ib_read_bw",
 *   verb: "read",
 *   kind: "bw",
 *   connection: "RC",
 *   mode: "native",
 *   profile: "pcix-sdr-2006",
 *   seed: 1,
 *   device: "mthca0",
 *   mtu: 2048,
 *   link: "4X SDR",
 *   inlineSize: 0,
 *   txDepth: 128,
 *   qps: 1,
 *   events: false,
 *   clock: "virtual",
 *   reportGbits: true,
 *   notes: [],
 *   lat: [],
 *   bw: [{
 *     bytes: 65536,
 *     iterations: 1000,
 *     peakBytesPerSec: 1e9,
 *     avgBytesPerSec: 1e9,
 *     msgRateMpps: 0.015,
 *     inUnits: { peakMB: 953.67, avgMB: 953.67, peakGb: 8, avgGb: 8 },
 *   }],
 * };
 * const text = formatResult(r);
 * const lines = text.split("\n");
 * assert.equal(lines[2].trim(), "RDMA_Read BW Test");
 * assert.equal(lines.at(-3), bwHead(true)); // reported in Gb/sec
 * assert.equal(lines.at(-2), bwRowLine(r.bw[0], true));
 * assert.equal(lines.at(-1), RESULT_LINE);
 * ```
 */
export function formatResult(r: PerftestResult): string {
  const h = r.info ?? defaultInfo(r);
  const rows = r.kind === "lat" ? r.lat : r.bw;
  const body = rows.map((row, i) => formatRow(r, row, r.bwRemote?.[i]));
  if (h.output !== "full") return [...r.notes, ...body].join("\n");
  return [formatPreamble(r), ...body, resultLine(h)].join("\n");
}

/**
 * The JSON form of a run (numbers as measured; bandwidth in both units).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resultToJson } from "./perftest_format.ts";
 * const j = resultToJson({
 *   test: "ib_write_bw",
 *   verb: "write",
 *   kind: "bw",
 *   connection: "RC",
 *   mode: "native",
 *   profile: "p",
 *   seed: 1,
 *   device: "mthca0",
 *   mtu: 2048,
 *   link: "4X SDR",
 *   inlineSize: 0,
 *   txDepth: 128,
 *   qps: 1,
 *   events: false,
 *   clock: "virtual",
 *   reportGbits: false,
 *   notes: [],
 *   lat: [],
 *   bw: [{
 *     bytes: 2,
 *     iterations: 5,
 *     peakBytesPerSec: 1048576,
 *     avgBytesPerSec: 1048576,
 *     msgRateMpps: 0.5,
 *     inUnits: { peakMB: 1, avgMB: 1, peakGb: 0.008, avgGb: 0.008 },
 *   }],
 * });
 * assert.deepEqual((j.results as { bwAverageMBps: number }[])[0].bwAverageMBps, 1);
 * ```
 */
export function resultToJson(r: PerftestResult): Record<string, unknown> {
  const { lat, bw, info, bwRemote, ...rest } = r;
  const results = r.kind === "lat"
    ? lat.map(({ unsorted: _u, sorted: _s, ...x }) => ({ ...x }))
    : bw.map((mine, i) => {
      const x = bwRemote?.[i] ? sumBwRows(mine, bwRemote[i]) : mine;
      return {
        bytes: x.bytes,
        iterations: x.iterations,
        bwPeakMBps: x.inUnits.peakMB,
        bwAverageMBps: x.inUnits.avgMB,
        bwPeakGbps: x.inUnits.peakGb,
        bwAverageGbps: x.inUnits.avgGb,
        msgRateMpps: x.msgRateMpps,
        ...(x.cpuUtil !== undefined ? { cpuUtil: x.cpuUtil } : {}),
      };
    });
  const addr = info
    ? {
      local: info.local.map((a) => ({ lid: a.lid, qpn: a.qpn, psn: a.psn })),
      remote: info.remote.map((a) => ({ lid: a.lid, qpn: a.qpn, psn: a.psn })),
    }
    : {};
  return {
    ...rest,
    ...addr,
    units: r.kind === "lat" ? (info?.cycles ? "cycles" : "usec") : "MB=2^20 B/s, Gb=10^9 bit/s",
    results,
  };
}

/** Kept for callers that format a bandwidth figure in the report's unit. */
export { bwInUnit };
