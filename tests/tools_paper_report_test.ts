import assert from "node:assert/strict";
import {
  evaluateClaims,
  type LatPoint,
  paperCharts,
  type PaperData,
  paperMarkdown,
} from "../tools/lib/paper_report.ts";
import { paperPlan, paperSteps } from "../tools/lib/paper_run.ts";
import { svgProblems } from "../tools/lib/svg_check.ts";

const lat = (us: number[]): LatPoint[] =>
  [2, 64, 4096].map((bytes, i) => ({ bytes, typicalUs: us[i], avgUs: us[i] }));
const bw = (mbps: number[], mpps: number) =>
  [2, 4096, 65536].map((bytes, i) => ({
    bytes,
    avgMBps: mbps[i],
    peakMBps: mbps[i],
    mpps: i === 0 ? mpps : 0.1,
    iterations: 100,
  }));
const reg = (us: number[]) =>
  [1, 16, 256].map((pages, i) => ({ pages, regUs: us[i], deregUs: us[i] / 2 }));

/** Numbers shaped like the paper's findings. */
function paperLike(): PaperData {
  return {
    profile: "pcix-sdr-2006",
    profileDescription: "test",
    seed: 1,
    quick: true,
    modes: ["native", "bypass", "split"],
    writeLat: {
      native: lat([4.5, 5, 10]),
      bypass: lat([4.52, 5.02, 10.05]),
      split: lat([12, 12.5, 18]),
    },
    writeBw: {
      native: bw([2, 600, 870], 1.2),
      bypass: bw([2, 598, 869], 1.19),
      split: bw([0.5, 400, 860], 0.3),
    },
    sendLatPoll: { native: lat([5, 5.5, 11]), bypass: lat([5.02, 5.5, 11]) },
    sendLatEvent: { native: lat([9, 9.5, 15]), bypass: lat([14, 14.5, 20]) },
    reg: {
      native: reg([25, 30, 60]),
      bypass: reg([40, 90, 900]),
      // The cache keeps dom0's grant mappings: a reused buffer costs native plus the crossing.
      "bypass + cache": reg([35, 41, 75]),
    },
    setup: {
      native: { createQp: 40, createCq: 30, openDevice: 10 },
      bypass: { createQp: 60, createCq: 45, openDevice: 30 },
      split: { createQp: 61, createCq: 46, openDevice: 31 },
    },
    iterations: { lat: 20, bw: "20", reg: 2, setup: 2 },
    counters: { "ib_write_lat, split": { hypercalls: 40, evtchnSends: 80, backendRequests: 40 } },
  };
}

Deno.test("paper claims: verdicts come from the numbers", () => {
  const ok = evaluateClaims(paperLike());
  assert.deepEqual(ok.map((c) => c.id), ["C1", "C2", "C3", "C4", "C5a", "C5b", "C6"]);
  for (const c of ok) assert.equal(c.status, "reproduced", `${c.id}: ${c.evidence}`);
  assert.match(ok[0].evidence, /native 4\.50 µs, bypass 4\.52 µs/);
  assert.match(ok[3].evidence, /\+5\.00 µs per event/);

  // Bypass 20 % slower: C1 fails. Split as fast as native: C3 fails. No event gap: C4 fails.
  const d = paperLike();
  d.writeLat.bypass = lat([5.4, 6, 12]);
  d.writeLat.split = lat([4.6, 5.1, 10.1]);
  d.sendLatEvent.bypass = lat([9.1, 9.6, 15]);
  d.reg["bypass + cache"] = reg([30, 80, 800]); // the excess grows with the pages: no cache
  d.setup.bypass = { createQp: 41, createCq: 30 };
  const bad = Object.fromEntries(evaluateClaims(d).map((c) => [c.id, c.status]));
  assert.deepEqual(bad, {
    C1: "not reproduced",
    C2: "reproduced",
    C3: "not reproduced",
    C4: "not reproduced",
    C5a: "reproduced",
    C5b: "not reproduced",
    C6: "not reproduced",
  });

  // Modes not measured: claims that need them are not evaluated (never guessed).
  const native = paperLike();
  native.modes = ["native"];
  for (const k of ["writeLat", "writeBw", "sendLatPoll", "sendLatEvent"] as const) {
    native[k] = { native: native[k].native } as never;
  }
  native.reg = { native: native.reg.native };
  native.setup = { native: native.setup.native };
  assert.ok(evaluateClaims(native).every((c) => c.status === "not evaluated"));
});

Deno.test("paper report: sections, tables, claims, charts", () => {
  const d = paperLike();
  d.wallSeconds = 12.3;
  const md = paperMarkdown(d);
  for (
    const h of [
      "## Claims",
      "## 1. RDMA WRITE latency",
      "## 2. RDMA WRITE bandwidth",
      "## 3. Event-driven completion",
      "## 4. Memory registration",
      "## 5. Resource setup costs",
      "## What crossed the hypervisor",
      "## Method",
    ]
  ) assert.ok(md.includes(h), h);
  assert.match(md, /7 of 7 evaluated claims reproduced/);
  assert.match(md, /\| bytes \| native \[µs\] \| bypass \[µs\] \| split \[µs\] \|/);
  assert.match(md, /\| 2 \| 4\.50 \| 4\.52 \| 12\.00 \|/);
  assert.match(md, /\| createQp \| 40\.00 \| 60\.00 \| 61\.00 \| 1\.50× \|/);
  assert.match(md, /!\[RDMA WRITE latency\]\(write_lat\.svg\)/);
  assert.match(md, /12\.3 s of wall time/);
  assert.match(md, /split: 40 hypercalls and 80 event-channel sends while measuring\./);
  const charts = paperCharts(d);
  assert.deepEqual(Object.keys(charts).sort(), [
    "event_lat.svg",
    "registration.svg",
    "setup.svg",
    "write_bw.svg",
    "write_lat.svg",
  ]);
  assert.deepEqual(svgProblems(charts["write_lat.svg"], ["native", "bypass", "split"]), []);
  assert.deepEqual(svgProblems(charts["write_bw.svg"], ["native", "bypass", "split"]), []);
  assert.deepEqual(svgProblems(charts["event_lat.svg"], ["native, events", "bypass, polling"]), []);
  assert.deepEqual(svgProblems(charts["registration.svg"], ["bypass + cache"]), []);
  assert.deepEqual(svgProblems(charts["setup.svg"], ["native", "bypass", "split"]), []);
  assert.match(charts["write_bw.svg"], /Bandwidth \(MB\/s/);
  assert.match(charts["registration.svg"], /4 KiB pages/);
});

Deno.test("paper plan: quick is smaller, steps add up", () => {
  const q = paperPlan(true), f = paperPlan(false);
  assert.ok(q.latSizes.length < f.latSizes.length && q.latIters < f.latIters);
  assert.deepEqual(f.pages, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);
  assert.equal(f.bwSizes.at(-1), 1048576);
  // 3 modes: lat+bw sizes each; events+poll for native and bypass; reg series native, bypass, cache; setup.
  assert.equal(
    paperSteps(q, ["native", "bypass", "split"]),
    3 * (4 + 4) + 2 * 2 * 2 + 3 * 4 + 3,
  );
});
