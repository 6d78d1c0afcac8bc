// perftest_format: the bw programs' --report-both blocks as write_bw.c,
// read_bw.c, send_bw.c and atomic_bw.c (perftest 4.5-0.17) print them.
import assert from "node:assert/strict";
import {
  bwHead,
  formatPreamble,
  formatResult,
  formatRow,
  RESULT_LINE,
} from "../tools/lib/perftest_format.ts";
import type { BwRow, PerftestResult } from "../tools/lib/perftest_stats.ts";
import { bwResult, bwRow } from "./support/perftest_result.ts";

const row = (avgMB: number, rate: number): BwRow => bwRow(avgMB, rate);

function result(verb: string, output: "full" | "bandwidth" | "message_rate"): PerftestResult {
  return bwResult({ test: `ib_${verb}_bw`, verb }, {
    bidirectional: true,
    reportBoth: true,
    output,
  });
}

Deno.test("perftest format: --report-both's labels, as each bw program spells them", () => {
  const mine = row(32, 0.5), rem = row(33, 0.52);
  const lines = (verb: string) => formatRow(result(verb, "full"), mine, rem).split("\n");
  for (const verb of ["write", "read", "send"]) {
    const l = lines(verb);
    assert.deepEqual([l[3], l[9]], [" Local results: ", " Remote results: "], verb);
  }
  // atomic_bw.c: printf("\n Local results:\n"), no space before the newline.
  const a = lines("atomic");
  assert.deepEqual([a[3], a[9]], [" Local results:", " Remote results:"]);
  assert.deepEqual([a[1], a[2], a[4], a[5]], [RESULT_LINE, "", RESULT_LINE, bwHead(false)]);
});

Deno.test("perftest format: -W's counter lines follow every report, --report-both's too", () => {
  // print_full_bw_report ends with counters_print (perftest_parameters.c): after the summed row
  // and again after the Local and Remote rows of write_bw.c's --report-both blocks.
  const mine = row(32, 0.5), rem = row(33, 0.52);
  const after = (k: number) => [`\tc=${k}`, ""];
  const l = formatRow(result("write", "full"), mine, rem, after).split("\n");
  assert.deepEqual(l.slice(1, 3), ["\tc=0", ""]);
  const at = (label: string) => l.indexOf(` ${label} results: `);
  assert.deepEqual(l.slice(at("Local") + 4, at("Local") + 6), ["\tc=1", ""]);
  assert.deepEqual(l.slice(at("Remote") + 4, at("Remote") + 6), ["\tc=2", ""]);
  assert.equal(l.length, 3 + 2 * 8);
});

Deno.test("perftest format: --report-both's blocks are printed whatever --output says", () => {
  const mine = row(32, 0.5), rem = row(33, 0.52);
  // write_bw.c prints the blocks outside its FULL_VERBOSITY checks; the rows are
  // print_full_bw_report's, which gives the --output number alone.
  assert.deepEqual(formatRow(result("write", "bandwidth"), mine, rem).split("\n"), [
    "65.000000",
    RESULT_LINE,
    "",
    " Local results: ",
    RESULT_LINE,
    bwHead(false),
    "32.000000",
    RESULT_LINE,
    "",
    " Remote results: ",
    RESULT_LINE,
    bwHead(false),
    "33.000000",
  ]);
  const mr = formatRow(result("send", "message_rate"), mine, rem).split("\n");
  assert.deepEqual([mr[0], mr[6], mr[12]], ["1.020000", "0.500000", "0.520000"]);
});

Deno.test("perftest format: --output keeps perftest's warnings before the numbers", () => {
  // force_dependencies and set_mtu print them with plain printf, whatever --output says.
  const r = result("write", "bandwidth");
  r.info!.bidirectional = false;
  r.notes = [RESULT_LINE, "Post List requested - CQ moderation will be the size of the post list"];
  r.bw = [row(40, 0.6)];
  assert.equal(formatPreamble(r), r.notes.join("\n"));
  assert.deepEqual(formatResult(r).split("\n"), [...r.notes, "40.000000"]);
  // Nothing at all when there is nothing to warn about.
  assert.equal(formatPreamble({ ...r, notes: [] }), "");
});
