import assert from "node:assert/strict";
import { renderPng, rsvgTest } from "./support/rsvg.ts";
import { decodePng, grayIn, inkIn, PNG_SIGNATURE } from "./support/png.ts";
import { paperCharts, type PaperData, SETUP_OPS } from "../tools/lib/paper_report.ts";
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
  const plan = paperPlan(false);
  const lat = (f: (b: number) => number) =>
    plan.latSizes.map((bytes) => ({ bytes, typicalUs: f(bytes), avgUs: f(bytes) }));
  const ev = (f: (b: number) => number) =>
    plan.evSizes.map((bytes) => ({ bytes, typicalUs: f(bytes), avgUs: f(bytes) }));
  const bw = (fixedUs: number) =>
    plan.bwSizes.map((bytes) => {
      const mbps = bytes / (fixedUs + bytes / 839);
      return { bytes, avgMBps: mbps, peakMBps: mbps, mpps: mbps / bytes, iterations: 200 };
    });
  const reg = (f: (p: number) => number) =>
    plan.pages.map((pages) => ({ pages, regUs: f(pages), deregUs: f(pages) / 2 }));
  const setup = (scale: number) =>
    Object.fromEntries(SETUP_OPS.map((op, i) => [op, (20 + 9 * i) * scale]));
  return {
    profile: "pcix-sdr-2006",
    profileDescription: "test",
    seed: 1,
    quick: false,
    modes: ["native", "bypass", "split"],
    writeLat: {
      native: lat((b) => 5.04 + b * 0.0015),
      bypass: lat((b) => 5.04 + b * 0.0015),
      split: lat((b) => 12.27 + b * 0.0015),
    },
    writeBw: { native: bw(1.4), bypass: bw(1.4), split: bw(1.9) },
    sendLatPoll: { native: ev((b) => 6.16 + b * 0.0024), bypass: ev((b) => 6.16 + b * 0.0024) },
    sendLatEvent: { native: ev((b) => 11.2 + b * 0.0024), bypass: ev((b) => 21.2 + b * 0.0024) },
    reg: {
      native: reg((p) => 42 + p * 0.06),
      bypass: reg((p) => 56 + p * 1.6),
      "bypass + cache": reg((p) => (56 + p * 1.6) / 100),
    },
    setup: { native: setup(1), bypass: setup(1.4), split: setup(1.41) },
    iterations: { lat: 1000, bw: "", reg: 10, setup: 10 },
    counters: {},
  };
}

await rsvgTest("paper charts render to PNG: a quick run of the paper's code", async () => {
  const data = await runPaper({
    quick: true,
    profile: await loadToolProfile("pcix-sdr-2006"),
    seed: 1,
    modes: ["native", "bypass", "split"],
  });
  const charts = paperCharts(data);
  assert.ok(Object.keys(charts).length >= 5);
  for (const [name, svg] of Object.entries(charts)) await checkPng(name, svg);
});

await rsvgTest("paper charts render to PNG: every size of a full run", async () => {
  for (const [name, svg] of Object.entries(paperCharts(fullSized()))) await checkPng(name, svg);
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
