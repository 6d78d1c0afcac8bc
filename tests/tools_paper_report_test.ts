import assert from "node:assert/strict";
import {
  emptyPaperData,
  evaluateClaims,
  type LatPoint,
  paperCharts,
  type PaperData,
  paperMarkdown,
  paperTables,
} from "../tools/lib/paper_report.ts";
import { paperPlan } from "../tools/lib/paper_run.ts";
import { parseNasPlan, parsePaperArgs } from "../tools/lib/paper_args.ts";
import { svgProblems } from "../tools/lib/svg_check.ts";
import { PCIX_SDR_2006 } from "../mod.ts";

const lat = (us: number[]): LatPoint[] =>
  [2, 64, 4096].map((bytes, i) => ({
    bytes,
    typicalUs: us[i],
    avgUs: us[i],
    p1Us: us[i] * 0.99,
    p99Us: us[i] * 1.02,
  }));
const bw = (mbps: number[], mpps: number) =>
  [64, 65536, 1048576].map((bytes, i) => ({
    bytes,
    mbps: mbps[i],
    mibps: (mbps[i] * 1e6) / 2 ** 20,
    mpps: i === 0 ? mpps : 0.1,
    iterations: 100,
  }));
const reg = (us: number[]) =>
  [1, 16, 256].map((pages, i) => ({ pages, regUs: us[i], deregUs: us[i] / 2 }));
const cache = (cold: number[], warm: number[]) =>
  [1, 16, 256].map((pages, i) => ({
    pages,
    coldUs: cold[i],
    warmUs: warm[i],
    perUseUs: (cold[i] + 9 * warm[i]) / 10,
  }));
const nas = (t: number) => ({
  kernel: "IS",
  cls: "A" as const,
  timeSec: t,
  mops: 1,
  verified: true,
  compute: "model" as const,
});
const zero = { hypercalls: 0, evtchnSends: 0, backendRequests: 0 };

/** Numbers shaped like the paper's findings. */
function paperLike(): PaperData {
  return {
    ...emptyPaperData(),
    profile: "pcix-sdr-2006",
    noise: "on",
    modes: ["native", "bypass", "split"],
    writeLat: {
      native: lat([4.5, 5, 10]),
      bypass: lat([4.52, 5.02, 10.05]),
      split: lat([12, 12.5, 18]),
    },
    writeBw: {
      native: bw([55, 600, 829], 0.86),
      bypass: bw([55, 598, 829], 0.86),
      split: bw([34, 400, 828], 0.53),
    },
    sendLatPoll: { native: lat([6.7, 6.9, 16]), bypass: lat([6.7, 6.9, 16]) },
    sendLatEvent: { native: lat([11.8, 12, 21]), bypass: lat([21.8, 22, 31]) },
    reg: { native: reg([42, 43, 58]), bypass: reg([56, 80, 471]) },
    regCache: {
      // Bare metal has no cache below the verbs ABI: every use is a full registration.
      "native + cache": cache([42, 43, 58], [42, 43, 58]),
      // dom0 keeps the grant mappings, the keys die at dereg: a warm use costs native plus the
      // crossing, whatever the size.
      "bypass + cache": cache([56, 80, 471], [54, 55, 74]),
    },
    setup: {
      native: { createQp: 40, createCq: 30, openDevice: 10 },
      bypass: { createQp: 60, createCq: 45, openDevice: 30 },
      split: { createQp: 61, createCq: 46, openDevice: 31 },
    },
    counters: {
      "ib_write_lat, bypass": zero,
      "ib_write_bw, bypass": zero,
      "ib_write_lat, split": { hypercalls: 40, evtchnSends: 80, backendRequests: 40 },
    },
    calibration: [...PCIX_SDR_2006.calibration],
    app: {
      osu: {
        latency: {
          native: [{ size: 8, value: 5.5 }, { size: 1024, value: 10.9 }],
          bypass: [{ size: 8, value: 5.5 }, { size: 1024, value: 11 }],
          split: [{ size: 8, value: 12 }, { size: 1024, value: 18.9 }],
        },
        bw: { native: [{ size: 1048576, value: 825 }], bypass: [{ size: 1048576, value: 825 }] },
        method: { latency: "osu_latency -m 8:1024", bw: "osu_bw -m 1048576:1048576" },
      },
      nas: {
        cls: "A",
        shape: { np: 16, hosts: 8, guestsPerHost: 2 },
        layout: { native: "16 on 8", bypass: "16 on 8 × 2", split: "16 on 8 × 2" },
        rows: { IS: { native: nas(1), bypass: nas(1.01), split: nas(1.3) } },
      },
    },
  };
}

Deno.test("paper claims: verdicts come from the numbers, with criteria, basis and the paper's figures", () => {
  const ok = evaluateClaims(paperLike());
  assert.deepEqual(ok.map((c) => c.id), ["C1", "C2", "C3", "C4", "C5a", "C5b", "C6", "C7a", "C7b"]);
  for (const c of ok) assert.equal(c.status, "reproduced", `${c.id}: ${c.evidence}`);
  assert.deepEqual(ok.filter((c) => c.basis === "structure").map((c) => c.id), ["C1", "C2"]);
  assert.match(ok[0].evidence, /native 4\.50 µs, bypass 4\.52 µs/);
  assert.match(ok[0].evidence, /0 hypercalls, 0 event-channel sends, 0 backend requests/);
  assert.match(ok[0].paper, /native 4\.6 µs \(band 4\.2–5/); // the profile's calibration target
  assert.match(ok[3].evidence, /\+10\.00 µs per event/);
  assert.match(ok[8].evidence, /IS 1\.010/);

  // Bypass 20 % slower: C1 fails. Split as fast as native: C3 fails. No event gap: C4 fails.
  const d = paperLike();
  d.writeLat.bypass = lat([5.4, 6, 12]);
  d.writeLat.split = lat([4.6, 5.1, 10.1]);
  d.sendLatEvent.bypass = lat([11.9, 12.1, 21]);
  d.regCache["bypass + cache"] = cache([56, 80, 471], [54, 80, 400]); // the excess grows: no cache
  d.setup.bypass = { createQp: 41, createCq: 30 };
  d.app!.nas!.rows.IS.bypass = nas(1.08);
  const bad = Object.fromEntries(evaluateClaims(d).map((c) => [c.id, c.status]));
  assert.deepEqual(bad, {
    C1: "not reproduced",
    C2: "reproduced",
    C3: "not reproduced",
    C4: "not reproduced",
    C5a: "reproduced",
    C5b: "not reproduced",
    C6: "not reproduced",
    C7a: "reproduced",
    C7b: "not reproduced",
  });

  // A crossing on the fast path breaks the structural claim even when the numbers agree.
  const crossed = paperLike();
  crossed.counters["ib_write_lat, bypass"] = { ...zero, hypercalls: 3 };
  assert.equal(evaluateClaims(crossed)[0].status, "not reproduced");

  // Modes not measured: claims that need them are not evaluated (never guessed).
  const native = paperLike();
  native.modes = ["native"];
  for (const k of ["writeLat", "writeBw", "sendLatPoll", "sendLatEvent", "reg", "setup"] as const) {
    native[k] = { native: native[k].native } as never;
  }
  native.regCache = {};
  native.app = undefined;
  assert.ok(evaluateClaims(native).every((c) => c.status === "not evaluated"));
});

Deno.test("paper report: sections, tables, claims, charts", () => {
  const d = paperLike();
  const md = paperMarkdown(d);
  for (
    const h of [
      "## Headline figures",
      "## Claims",
      "## 1. RDMA WRITE latency",
      "## 2. RDMA WRITE bandwidth and message rate",
      "## 3. Event-driven completion",
      "## 4. Memory registration",
      "## 5. Resource setup costs",
      "## 6. What crossed the hypervisor",
      "## 9. Applications: MPI and the NAS Parallel Benchmarks",
      "## Method",
    ]
  ) assert.ok(md.includes(h), h);
  assert.match(md, /9 of 9 evaluated claims reproduced/);
  assert.match(md, /\| bytes \| native \[µs\] \| bypass \[µs\] \| split \[µs\] \|/);
  assert.match(
    md,
    /\| 2 \| 4\.50 \(4\.46–4\.59\) \| 4\.52 \(4\.47–4\.61\) \| 12\.00 \(11\.88–12\.24\) \|/,
  );
  assert.match(md, /\| createQp \| 40\.00 \| 60\.00 \| 61\.00 \| 1\.50× \|/);
  assert.match(md, /!\[RDMA WRITE latency\]\(write_lat\.svg\)/);
  assert.doesNotMatch(
    md,
    /wall time\)/,
    "no wall time in the report: the same run writes the same bytes",
  );
  assert.match(md, /MB\/s = 10\^6 bytes per second/);
  assert.match(md, /split: 40 hypercalls and 80 event-channel sends while measuring\./);
  const t = paperTables(d);
  assert.match(t.figures, /\| 2 B RDMA WRITE latency \[µs\] \| native 4\.6 µs/);
  assert.match(t.nas, /\| IS \| model \| 1\.0000 \| 1\.0100 \| 1\.3000 \| 1\.010× \| 1\.300× \|/);
  const charts = paperCharts(d);
  assert.deepEqual(Object.keys(charts).sort(), [
    "event_lat.svg",
    "mpi_latency.svg",
    "nas.svg",
    "registration.svg",
    "setup.svg",
    "write_bw.svg",
    "write_lat.svg",
  ]);
  assert.deepEqual(svgProblems(charts["write_lat.svg"], ["native", "bypass", "split"]), []);
  assert.deepEqual(svgProblems(charts["write_bw.svg"], ["native", "bypass", "split"]), []);
  assert.deepEqual(svgProblems(charts["event_lat.svg"], ["native, events", "bypass, polled"]), []);
  assert.deepEqual(svgProblems(charts["registration.svg"], ["bypass + cache, per use"]), []);
  assert.deepEqual(svgProblems(charts["setup.svg"], ["native", "bypass", "split"]), []);
  assert.deepEqual(svgProblems(charts["nas.svg"], ["bypass", "split"]), []);
  assert.deepEqual(svgProblems(charts["mpi_latency.svg"], ["native", "bypass", "split"]), []);
  assert.match(charts["write_bw.svg"], /MB\/s = 10\^6 B\/s/);
  assert.match(charts["registration.svg"], /4 KiB pages/);
  assert.match(charts["nas.svg"], /native = 1/);
  // A modern profile adds its section and the then-and-now chart.
  const both = { ...paperLike(), modern: { ...paperLike(), profile: "modern-gen5-ndr" } };
  assert.match(paperMarkdown(both), /## 8\. Today's hardware class: `modern-gen5-ndr`/);
  assert.deepEqual(
    svgProblems(paperCharts(both)["virtualization_cost.svg"], ["bypass, modern-gen5-ndr"]),
    [],
  );
});

Deno.test("paper plan and flags: scales, the NAS part, the bandwidth rule", () => {
  const q = paperPlan("quick"), def = paperPlan("default"), f = paperPlan("full");
  assert.ok(q.latSizes.length < def.latSizes.length && def.latSizes.length < f.latSizes.length);
  // The default measures the headline points exactly as the metrics define them.
  assert.ok(def.latSizes.includes(2) && def.latIters === 1000);
  assert.deepEqual([def.bwIters(64), def.bwIters(1048576)], [1000, 16]);
  assert.ok(def.bwSizes.includes(64) && def.bwSizes.includes(1048576) && def.evSizes.includes(64));
  assert.deepEqual(f.pages, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);
  assert.deepEqual(f.nas, { cls: "A", shape: { np: 16, hosts: 8, guestsPerHost: 2 } });
  assert.equal(def.nas, undefined);
  assert.deepEqual(parsePaperArgs(["--nas", "S:4"]).nas, parseNasPlan("S:4"));
  assert.equal(paperPlan("full", null).nas, undefined);
  assert.throws(() => parsePaperArgs(["--nas", "A:3:2"]), /--nas: 'A:3:2' is not CLASS:NP/);
  assert.throws(() => parsePaperArgs(["--jobs", "0"]), /--jobs: 0 is out of range/);
  assert.throws(() => parsePaperArgs(["--noise", "yes"]), /--noise: 'yes' is not on or off/);
});

Deno.test("paper report: kernels whose NPB rule refuses the NAS shape are named as not run", () => {
  const d = paperLike();
  assert.doesNotMatch(paperMarkdown(d), /Not run at this class and rank count/);
  d.app!.nas!.skipped = ["BT (*** ERROR determining processor topology for 8 processes)"];
  assert.match(
    paperMarkdown(d),
    /\nNot run at this class and rank count: BT \(\*\*\* ERROR determining processor topology for 8 processes\)\.\n/,
  );
});
