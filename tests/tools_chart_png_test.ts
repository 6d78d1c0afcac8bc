import assert from "node:assert/strict";
import { renderPng, rsvgTest } from "./support/rsvg.ts";
import { decodePng, grayIn, inkIn, PNG_SIGNATURE } from "./support/png.ts";
import {
  emptyPaperData,
  paperCharts,
  type PaperData,
  SETUP_OPS,
} from "../tools/lib/paper_report.ts";
import { paperPlan, runPaper } from "../tools/lib/paper_run.ts";
import { loadToolProfile } from "../tools/lib/api.ts";
import { lineChart } from "../tools/lib/svg_chart.ts";
import { parseSvg, plotAreas, svgProblems } from "../tools/lib/svg_check.ts";

/** Width the charts are rendered at (a printed column at about 150 dpi). */
const WIDTH = 1200;

/** The chart's own size, from its viewBox. */
function size(svg: string): [number, number] {
  const [, , w, h] = parseSvg(svg).root!.attrs.viewBox.split(" ").map(Number);
  return [w, h];
}

/**
 * Render `svg` and check the picture: a PNG (signature, CRCs, decodable),
 * the expected size (rsvg-convert rounds the height up), a white
 * background, and data drawn in every plot area (ink other than the light
 * grid lines, inside the axes). Returns the decoded image.
 */
async function checkPng(name: string, svg: string) {
  assert.deepEqual(svgProblems(svg), [], name);
  const [w, h] = size(svg);
  const bytes = await renderPng(svg, WIDTH);
  assert.deepEqual([...bytes.subarray(0, 8)], PNG_SIGNATURE, `${name}: PNG signature`);
  const img = await decodePng(bytes);
  assert.deepEqual([img.width, img.height], [WIDTH, Math.ceil((h * WIDTH) / w)], name);
  assert.deepEqual([...img.rgba.subarray(0, 4)], [255, 255, 255, 255], `${name}: background`);
  const k = WIDTH / w;
  const areas = plotAreas(svg);
  assert.ok(areas.length >= 1, name);
  for (const a of areas) {
    // 3 px inside, so that the axis lines on the edges do not count.
    const { ink, pixels } = inkIn(
      img,
      (a.x0 + 3) * k,
      (a.y0 + 3) * k,
      (a.x1 - 3) * k,
      (a.y1 - 3) * k,
    );
    assert.ok(ink / pixels > 0.005, `${name}: ${ink} of ${pixels} plot pixels drawn`);
  }
  return { img, k };
}

/** Data shaped like a full (not --quick) paper run: every size of the paper's plan. */
function fullSized(): PaperData {
  const plan = paperPlan("full");
  const lp = (bytes: number, us: number) => ({
    bytes,
    typicalUs: us,
    avgUs: us,
    p1Us: us * 0.99,
    p99Us: us * 1.05,
  });
  const lat = (f: (b: number) => number) => plan.latSizes.map((bytes) => lp(bytes, f(bytes)));
  const ev = (f: (b: number) => number) => plan.evSizes.map((bytes) => lp(bytes, f(bytes)));
  const bw = (fixedUs: number) =>
    plan.bwSizes.map((bytes) => {
      const mbps = bytes / (fixedUs + bytes / 829);
      return { bytes, mbps, mibps: mbps / 1.048576, mpps: mbps / bytes, iterations: 200 };
    });
  const reg = (f: (p: number) => number) =>
    plan.pages.map((pages) => ({ pages, regUs: f(pages), deregUs: f(pages) / 2 }));
  const cache = (f: (p: number) => number) =>
    plan.pages.map((pages) => ({ pages, coldUs: f(pages), warmUs: 0, perUseUs: f(pages) / 100 }));
  const setup = (scale: number) =>
    Object.fromEntries(SETUP_OPS.map((op, i) => [op, (20 + 9 * i) * scale]));
  const d: PaperData = {
    ...emptyPaperData(),
    profile: "pcix-sdr-2006",
    scale: "full",
    noise: "on",
    modes: ["native", "bypass", "split"],
    writeLat: {
      native: lat((b) => 4.66 + b * 0.0015),
      bypass: lat((b) => 4.66 + b * 0.0015),
      split: lat((b) => 12.15 + b * 0.0015),
    },
    writeBw: { native: bw(1.4), bypass: bw(1.4), split: bw(1.9) },
    sendLatPoll: { native: ev((b) => 6.72 + b * 0.0024), bypass: ev((b) => 6.72 + b * 0.0024) },
    sendLatEvent: { native: ev((b) => 11.8 + b * 0.0024), bypass: ev((b) => 21.8 + b * 0.0024) },
    reg: { native: reg((p) => 42 + p * 0.06), bypass: reg((p) => 56 + p * 1.6) },
    regCache: {
      "native + cache": cache((p) => 42 + p * 0.06),
      "bypass + cache": cache((p) => 56 + p * 1.6),
    },
    setup: { native: setup(1), bypass: setup(1.4), split: setup(1.41) },
    app: {
      osu: {
        latency: {
          native: [8, 64, 1024].map((size) => ({ size, value: 5.5 + size / 500 })),
          bypass: [8, 64, 1024].map((size) => ({ size, value: 5.5 + size / 500 })),
          split: [8, 64, 1024].map((size) => ({ size, value: 12 + size / 500 })),
        },
        bw: {},
        method: { latency: "osu_latency -m 8:1024", bw: "" },
      },
      nas: {
        cls: "A",
        shape: { np: 16, hosts: 8, guestsPerHost: 2 },
        layout: {},
        rows: Object.fromEntries(["CG", "EP", "FT", "IS", "LU", "MG"].map((k, i) => [k, {
          native: { kernel: k, cls: "A", timeSec: 1, mops: 1, verified: true, compute: "model" },
          bypass: { kernel: k, cls: "A", timeSec: 1.01, mops: 1, verified: true, compute: "model" },
          split: {
            kernel: k,
            cls: "A",
            timeSec: 1.1 + i / 20,
            mops: 1,
            verified: true,
            compute: "model",
          },
        }])),
      },
    },
  };
  return { ...d, modern: { ...d, profile: "modern-gen5-ndr", app: undefined } };
}

await rsvgTest("paper charts render to PNG: a quick run of the paper's code", async () => {
  const data = await runPaper({
    scale: "quick",
    profile: await loadToolProfile("pcix-sdr-2006"),
    seed: 1,
    noise: "on",
    modes: ["native", "bypass", "split"],
  });
  const charts = paperCharts(data);
  assert.ok(Object.keys(charts).length >= 5);
  for (const [name, svg] of Object.entries(charts)) await checkPng(name, svg);
});

await rsvgTest("paper charts render to PNG: every size of a full run", async () => {
  const charts = paperCharts(fullSized());
  assert.deepEqual(Object.keys(charts).sort(), [
    "event_lat.svg",
    "mpi_latency.svg",
    "nas.svg",
    "registration.svg",
    "setup.svg",
    "virtualization_cost.svg",
    "write_bw.svg",
    "write_lat.svg",
  ]);
  for (const [name, svg] of Object.entries(charts)) await checkPng(name, svg);
});

await rsvgTest("chart PNGs: an empty plot is caught; bar series differ in grayscale", async () => {
  // No data: the plot area holds only grid lines, which the ink check ignores.
  const empty = lineChart({
    title: "No data",
    xLabel: "Message size (bytes)",
    yLabel: "Latency (µs)",
    series: [{ label: "native", points: [] }],
  });
  await assert.rejects(checkPng("empty", empty), /0 of \d+ plot pixels drawn/);
  // Setup bars: the middle of each series' first bar, converted to gray,
  // differs from every other series' in mean level or in texture.
  const svg = paperCharts(fullSized())["setup.svg"];
  const { img, k } = await checkPng("setup.svg", svg);
  const firstBars = parseSvg(svg).root!.children.flatMap(function walk(e): typeof e[] {
    return (e.attrs.class ?? "") === "series"
      ? [e.children.find((c) => c.attrs.class === "bar")!]
      : e.children.flatMap(walk);
  });
  assert.equal(firstBars.length, 3);
  const gray = firstBars.map((r) => {
    const [x, y, w, h] = ["x", "y", "width", "height"].map((a) => Number(r.attrs[a]));
    return grayIn(img, (x + 2) * k, (y + 2) * k, (x + w - 2) * k, (y + h - 2) * k);
  });
  for (let i = 0; i < gray.length; i++) {
    for (let j = i + 1; j < gray.length; j++) {
      const dm = Math.abs(gray[i].mean - gray[j].mean), ds = Math.abs(gray[i].sd - gray[j].sd);
      assert.ok(
        dm > 20 || ds > 20,
        `series ${i} and ${j} look alike in gray: ${JSON.stringify(gray)}`,
      );
    }
  }
});
