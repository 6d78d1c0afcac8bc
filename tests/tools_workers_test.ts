/**
 * Independent points on Web Workers (issue 14): `perftest -a`, xenib-perf and
 * the paper give byte-identical output with one job (in order, in the
 * tool's own thread) and with several workers.
 */
import assert from "node:assert/strict";
import { PCIX_SDR_2006 } from "../mod.ts";
import { main as xenibPerf } from "../tools/xenib_perf.ts";
import { paperPlan, runPaper } from "../tools/lib/paper_run.ts";
import { paperCharts, paperMarkdown } from "../tools/lib/paper_report.ts";
import { runTool } from "./support/tool.ts";

async function perftest(args: string[], tool = "perftest.ts"): Promise<string> {
  const r = await runTool(tool, args);
  assert.equal(r.code, 0, r.err);
  return r.out;
}

Deno.test("perftest -a: the same bytes in order in one thread and on two workers", async () => {
  for (
    const args of [["ib_send_lat", "-c", "UD", "-a", "-n", "50"], ["ib_write_bw", "-a", "-n", "5"]]
  ) {
    const [one, two] = await Promise.all([
      perftest([...args, "--jobs", "1"]),
      perftest([...args, "--jobs", "2"]),
    ]);
    assert.equal(two, one, args.join(" "));
    // Every size has its row, in order.
    const sizes = one.split("\n").filter((l) => /^ \d+\s+\d+\s/.test(l)).map((l) =>
      Number(l.trim().split(/\s+/)[0])
    );
    assert.deepEqual(sizes, [...sizes].sort((a, b) => a - b));
    assert.ok(sizes.length >= 11, `${sizes.length} rows`);
  }
});

Deno.test("run: several scenario files give the same output in order in one thread and on workers", async () => {
  const files = ["tools/examples/split_vs_bypass.yaml", "tools/examples/two_guests.yaml"];
  const [one, two] = await Promise.all([
    perftest([...files, "--jobs", "1"], "run.ts"),
    perftest([...files, "--jobs", "2"], "run.ts"),
  ]);
  assert.equal(two, one);
  const heads = one.split("\n").filter((l) => l.startsWith("scenario "));
  assert.deepEqual(heads.map((l) => l.split(":")[0]), files.map((f) => `scenario ${f}`));
});

Deno.test("xenib-perf: the same output with one job and with two workers", async () => {
  const run = async (jobs: string) => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (line: string) => void lines.push(line);
    try {
      await xenibPerf(["--quick", "--jobs", jobs]);
    } finally {
      console.log = log;
    }
    return lines.join("\n");
  };
  const one = await run("1");
  assert.equal(await run("2"), one);
  assert.match(one, /^5\. CQ \(256 entries\)/m);
});

Deno.test("paper: the same report and charts with one job, two workers and the default", async () => {
  const run = (jobs: number | undefined) =>
    runPaper({
      scale: "quick",
      profile: PCIX_SDR_2006,
      seed: 5,
      noise: "on",
      modes: ["native", "bypass", "split"],
      plan: { ...paperPlan("quick"), sensitivity: true },
      jobs,
    });
  const [one, two] = [await run(1), await run(2)];
  assert.equal(paperMarkdown(two), paperMarkdown(one));
  assert.deepEqual(paperCharts(two), paperCharts(one));
  // No --jobs: one worker per core, as `deno task paper` runs.
  const byDefault = await run(undefined);
  assert.equal(paperMarkdown(byDefault), paperMarkdown(one));
  assert.deepEqual(paperCharts(byDefault), paperCharts(one));
  assert.ok(one.sensitivity && one.app?.osu, "the sensitivity and MPI parts ran too");
});
