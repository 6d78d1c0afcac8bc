/**
 * One metric, one number (issue 12): each headline figure measured through
 * the perftest CLI (its entry point, as a user runs it), native-perf or
 * xenib-perf, and the paper's code is the same number, with the tools'
 * default noise on; and the noise model behaves as the CLI promises
 * (another seed, other samples with a spread; the same seed, the same
 * output byte for byte).
 */
import assert from "node:assert/strict";
import { PCIX_SDR_2006 } from "../mod.ts";
import { main as nativePerf } from "../tools/native_perf.ts";
import { main as xenibPerf } from "../tools/xenib_perf.ts";
import { paperPlan, runPaper } from "../tools/lib/paper_run.ts";
import { METRICS } from "../tools/lib/metrics.ts";
import { runTool } from "./support/tool.ts";

/** The perftest CLI as a user runs it; stdout. */
async function perftest(args: string[]): Promise<string> {
  const r = await runTool("perftest.ts", args);
  assert.equal(r.code, 0, r.err);
  return r.out;
}

/** The first row of perftest's --json output. */
async function perftestJson(args: string[]): Promise<Record<string, number>> {
  return JSON.parse(await perftest([...args, "--json"])).results[0];
}

/** What a tool's main prints. */
async function printed(main: (a: string[]) => Promise<void>, args: string[]): Promise<string> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (line: string) => void lines.push(line);
  try {
    await main(args);
  } finally {
    console.log = log;
  }
  return lines.join("\n");
}

/** The paper's code at the headline sizes (noise on, seed 1: the tools' defaults). */
async function paper() {
  const plan = {
    ...paperPlan("default", null),
    latSizes: [2],
    bwSizes: [64, 1048576],
    evSizes: [64],
    pages: [1],
    regReps: 1,
    cacheUses: 2,
    setupReps: 1,
    sensitivity: false,
    modern: false,
    osu: undefined,
  };
  return await runPaper({
    scale: "default",
    profile: PCIX_SDR_2006,
    seed: 1,
    noise: "on",
    modes: ["native", "bypass", "split"],
    plan,
  });
}

Deno.test("one metric, one number: perftest, native-perf, xenib-perf and the paper agree", async () => {
  const [lat, bw, ev, rate, d] = await Promise.all([
    perftestJson(["ib_write_lat"]), // perftest's defaults: -s 2 -n 1000, inline
    perftestJson(METRICS["rdma-write-bw"].args),
    perftestJson(METRICS["event-lat"].args),
    perftestJson([...METRICS["msg-rate"].args, "--mode", "split"]),
    paper(),
  ]);
  // One after the other: each is watched through console.log.
  const native = await printed(nativePerf, ["--jobs", "1"]);
  const xenib = await printed(xenibPerf, ["--jobs", "1"]);
  // 2 B native RDMA WRITE latency (µs, median half round trip).
  const paperLat = d.writeLat.native[0].typicalUs;
  assert.equal(paperLat, lat.tTypical);
  assert.match(
    native,
    new RegExp(`^RDMA WRITE latency 2 B: ${lat.tTypical.toFixed(3)} µs median`, "m"),
  );
  assert.match(xenib, new RegExp(`^  native +${lat.tTypical.toFixed(3)} `, "m"));
  // 1 MiB native RDMA WRITE bandwidth (perftest's MB/sec, 2^20 B/s; the 10^6 figure beside it).
  const mb = d.writeBw.native.find((p) => p.bytes === 1048576)!;
  assert.equal(mb.mibps.toFixed(2), bw.bwAverageMBps.toFixed(2));
  assert.match(native, new RegExp(`= ${bw.bwAverageMBps.toFixed(1)} MB/sec as perftest prints it`));
  assert.match(native, new RegExp(`: ${mb.mbps.toFixed(1)} MB/s \\(10\\^6 B/s\\)`));
  assert.match(xenib, new RegExp(`^  native +[\\d.]+ +${mb.mbps.toFixed(1)} *$`, "m"));
  // 64 B event-driven latency, native (µs).
  assert.equal(d.sendLatEvent.native[0].typicalUs, ev.tTypical);
  assert.match(xenib, new RegExp(`^   native ${ev.tTypical.toFixed(3)} µs, bypass `, "m"));
  // The split small-message rate (Mmsg/s, 64 B).
  const sr = d.writeBw.split.find((p) => p.bytes === 64)!;
  assert.equal(sr.mpps, rate.msgRateMpps);
  assert.match(xenib, new RegExp(`split ${rate.msgRateMpps.toFixed(3)} Mmsg/s`));
});

Deno.test("noise from the perftest CLI: another seed differs, with a spread; the same seed repeats", async () => {
  const args = ["ib_write_lat", "-n", "2000"];
  const [a, again, b] = await Promise.all([
    perftest([...args, "--seed", "1"]),
    perftest([...args, "--seed", "1"]),
    perftest([...args, "--seed", "2"]),
  ]);
  assert.equal(again, a, "the same seed twice: identical output");
  assert.notEqual(b, a, "another seed: other samples");
  const row = (out: string) =>
    out.split("\n").find((l) => /^\s*2\s+2000\s/.test(l))!.trim().split(/\s+/);
  for (const out of [a, b]) {
    const [, , tMin, tMax, , , tStdev] = row(out).map(Number);
    assert.ok(tStdev > 0, `t_stdev ${tStdev}`);
    assert.ok(tMax > tMin, `t_max ${tMax} vs t_min ${tMin}`);
  }
  // --noise off: every sample the same exchange.
  const off = row(await perftest([...args, "--noise", "off"])).map(Number);
  assert.deepEqual([off[2], off[3], off[6]], [off[4], off[4], 0]);
});
