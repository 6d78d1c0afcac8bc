/**
 * perftest's `--out_json` file (src/perftest_parameters.c:
 * `write_test_info_to_file`, `write_bw_report_to_file`,
 * `write_report_lat_to_file`): not JSON despite the name, but perftest's
 * `key: value,` lines, reproduced as it writes them for the last size.
 *
 * @module
 */
import { cPrintf } from "./c_format.ts";
import { sumBwRows } from "./perftest_format.ts";
import type { BwRow, LatRow, PerftestResult } from "./perftest_stats.ts";

const TESTS: Record<string, string> = {
  send: "Send",
  write: "RDMA_Write",
  read: "RDMA_Read",
  atomic: "Atomic",
};

/**
 * The file perftest writes after the report of size `index`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatOutJson } from "./perftest_out_json.ts";
 * const text = formatOutJson({
 *   test: "ib_write_lat", verb: "write", kind: "lat", connection: "RC", mode: "native",
 *   profile: "p", seed: 1, device: "mthca0", mtu: 2048, link: "4X SDR", inlineSize: 220,
 *   txDepth: 1, qps: 1, events: false, clock: "virtual", reportGbits: false, notes: [], bw: [],
 *   lat: [{ bytes: 2, iterations: 5, tMin: 1, tMax: 2, tTypical: 1, tAvg: 1.5, tStdev: 0, p99: 2, p999: 2 }],
 * }, 0);
 * assert.deepEqual(text.split("\n")[2], "test: RDMA_Write_Latency_Test,");
 * ```
 */
export function formatOutJson(r: PerftestResult, index: number): string {
  const h = r.info;
  const o: string[] = ["{", "test_info: {"];
  let test = `test: ${TESTS[r.verb] ?? r.verb}_`;
  if (r.verb === "atomic" && r.atomicType) test += `${r.atomicType}_`;
  if (r.kind === "bw") {
    if (h?.bidirectional) test += "Bidirectional_";
    if ((h?.postList ?? 1) > 1) test += "Post_List_";
    test += "BW_";
  } else test += "Latency_";
  if (h?.multicast) test += "Multicast_";
  o.push(`${test}Test,`);
  if (r.events) o.push(`Test with events: Using_${r.device}_comp${h?.eqNum ?? 0},`);
  if (h?.multicast) o.push(` MultiCast_runs: on_UD,`);
  o.push(
    `Dual_port: ${h?.dualport ? "ON" : "OFF"},`,
    `Device: "${r.device}",`,
    `Number_of_qps: ${r.qps},`,
    `Transport_type: IB,`,
    `Connection_type: ${r.connection},`,
    `Using_SRQ: ${h?.useSrq ? "ON" : "OFF"},`,
    `PCIe_relax_order: ${h?.pcieRelaxed === false ? "OFF" : "ON"},`,
    `ibv_wr_API: OFF,`,
    `TX_depth : ${r.txDepth},`,
  );
  if ((h?.postList ?? 1) > 1) o.push(`Post_List: ${h!.postList},`);
  if ((h?.recvPostList ?? 1) > 1) o.push(`Recv_Post_List: ${h!.recvPostList},`);
  if (r.verb === "send" && h?.bidirectional) o.push(`RX_depth: ${h.rxDepth},`);
  if (r.kind === "bw") o.push(`CQ_Moderation: ${h?.cqMod ?? 1},`);
  o.push(`Mtu: ${r.mtu},`, `Link_type: IB,`);
  if (h?.gidIndex !== undefined) o.push(`GID_index: ${h.gidIndex},`);
  if (r.verb !== "read" && r.verb !== "atomic") o.push(`Max_inline_data: ${r.inlineSize},`);
  else o.push(`Outstand_reads: ${h?.outReads ?? 1},`);
  o.push(
    `rdma_cm_QPs: ${h?.rdmaCm ? "ON" : "OFF"},`,
    `Data_ex_method: ${h?.commRdmaCm ? "rdma_cm" : "Ethernet"},`,
  );
  if (h?.rdmaCm && h.tos !== undefined) o.push(`TOS: ${h.tos},`);
  o.push(`},`, `results: {`);
  const cpu = h?.cpuUtil;
  const output = h?.output ?? "full";
  if (r.kind === "lat") {
    const x: LatRow = r.lat[index];
    if (x.tps !== undefined) {
      if (output === "latency") o.push(cPrintf("t_avg: %f", x.tAvg));
      else {
        o.push(
          cPrintf("MsgSize: %lu,", x.bytes),
          cPrintf("n_iterations: %lu,", x.iterations),
          cPrintf("t_avg: %.2f,", x.tAvg),
          cPrintf("tps_average: %.2f,", x.tps),
        );
        if (cpu) o.push(cPrintf("CPU_util: %.2f,", x.cpuUtil ?? 0));
      }
    } else if (output === "latency") o.push(cPrintf("avg_lat: %f,", x.tAvg));
    else {
      o.push(
        cPrintf("MsgSize: %lu,", x.bytes),
        cPrintf("n_iterations: %lu,", x.iterations),
        cPrintf("t_min: %.2f,", x.tMin),
        cPrintf("t_max: %.2f,", x.tMax),
        cPrintf("t_typical: %.2f,", x.tTypical),
        cPrintf("t_avg: %.2f,", x.tAvg),
        cPrintf("t_stdev: %.2f,", x.tStdev),
        cPrintf("percentile_99: %.2f,", x.p99),
        cPrintf("percentile_99.9: %.2f,", x.p999),
      );
      if (cpu) o.push(cPrintf("CPU_util: %.2f,", x.cpuUtil ?? 0));
    }
  } else {
    const mine: BwRow = r.bw[index];
    const rem = r.bwRemote?.[index];
    // Every print_full_bw_report call rewrites the file: with --report-both the
    // last one is the remote side's own report (write_bw.c and the other bw tests).
    const last = rem && h?.reportBoth ? rem : mine;
    const x = rem && !h?.reportBoth ? sumBwRows(mine, rem) : last;
    const peak = r.reportGbits ? x.inUnits.peakGb : x.inUnits.peakMB;
    const avg = r.reportGbits ? x.inUnits.avgGb : x.inUnits.avgMB;
    const own = r.reportGbits ? last.inUnits.avgGb : last.inUnits.avgMB;
    if (output === "bandwidth") o.push(cPrintf("bw_avg: %f,", avg));
    else if (output === "message_rate") o.push(cPrintf("msgRate_avg: %f,", x.msgRateMpps));
    else {
      const ext = own < 0.1 && r.reportGbits;
      const f = ext ? "%.6f" : "%.2f";
      o.push(
        cPrintf("MsgSize: %lu,", x.bytes),
        cPrintf("n_iterations: %lu,", x.iterations),
        cPrintf(`BW_peak: ${f},`, peak),
        cPrintf(`BW_average: ${f},`, avg),
        cPrintf("MsgRate: %.6f,", x.msgRateMpps),
      );
    }
    if (cpu) o.push(cPrintf("CPU_util: %.2f,", x.cpuUtil ?? 0));
  }
  o.push("},", "}");
  return o.join("\n") + "\n";
}
