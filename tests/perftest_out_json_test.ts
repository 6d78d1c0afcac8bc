// perftest_out_json: the --out_json file as perftest 4.5-0.17's
// write_test_info_to_file and write_bw_report_to_file leave it.
import assert from "node:assert/strict";
import { formatOutJson } from "../tools/lib/perftest_out_json.ts";
import type { BwRow, HeaderInfo, PerftestResult } from "../tools/lib/perftest_stats.ts";
import { bwResult, bwRow } from "./support/perftest_result.ts";

const row = (avgMB: number): BwRow => bwRow(avgMB);

function result(info: Partial<HeaderInfo>, remote?: BwRow): PerftestResult {
  return bwResult({ qps: 2, bw: [row(32)], ...(remote ? { bwRemote: [remote] } : {}) }, info);
}

Deno.test("perftest out_json: Dual_port says what -O asked, as the header does", () => {
  const lines = (dualport: boolean) => formatOutJson(result({ dualport }), 0).split("\n");
  assert.ok(lines(true).includes("Dual_port: ON,"));
  assert.ok(lines(false).includes("Dual_port: OFF,"));
});

Deno.test("perftest out_json: -b writes the sum; --report-both leaves the remote side's report", () => {
  const avg = (text: string) => text.split("\n").find((l) => l.startsWith("BW_average:"));
  // print_full_bw_report(my, rem) writes the sum …
  assert.equal(
    avg(formatOutJson(result({ bidirectional: true }, row(33)), 0)),
    "BW_average: 65.00,",
  );
  // … and with --report-both the local and then the remote report rewrite the file.
  assert.equal(
    avg(formatOutJson(result({ bidirectional: true, reportBoth: true }, row(33)), 0)),
    "BW_average: 33.00,",
  );
});
