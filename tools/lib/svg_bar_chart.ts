/**
 * Grouped bar charts (categories × series) for costs that are not a curve:
 * resource setup, registration at one size, benchmark times normalized to
 * native. Every bar carries its value; category names are written in full
 * (wrapped, never abbreviated); each series has its colour and a fill
 * pattern, so the chart reads in grayscale. Bars run vertically or, for many
 * categories with long names, horizontally. Optional error bars (min–max,
 * p1–p99) and a dashed reference line (e.g. native = 1). No dependencies;
 * the same input gives the same bytes.
 *
 * @module
 */
import { linearScale, type Scale } from "./svg_axis.ts";
import {
  type Box,
  categoryTick,
  errorBar,
  leftMargin,
  maxTickWidth,
  plotArea,
  svgOpen,
  titleLayout,
  xAxis,
  yAxis,
  yLabel,
} from "./svg_frame.ts";
import { legend, type LegendEntry, legendHeight } from "./svg_legend.ts";
import { barFill, FONT, LABEL_FONT, n1, patternDefs, seriesStyle } from "./svg_style.ts";
import { ASCENT, textWidth, wrapText, xmlEscape } from "./svg_text.ts";

/**
 * One series of bars: a value per category (`null`: not measured, drawn as
 * "n/a" without a bar).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BarSeries } from "./svg_bar_chart.ts";
 * const s: BarSeries = { label: "bypass", values: [61.3, null],
 *   spread: { label: "min–max", ranges: [[60, 63], null] } };
 * assert.equal(s.values[1], null);
 * ```
 */
export interface BarSeries {
  /** Legend label, in full. */
  label: string;
  /** One value per category. */
  values: (number | null)[];
  /** Optional error bars: (low, high) per category, and what they show. */
  spread?: { label: string; ranges: ([number, number] | null)[] };
}

/**
 * What to draw.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { barChart, type BarChartSpec } from "./svg_bar_chart.ts";
 * const spec: BarChartSpec = { title: "Setup", valueLabel: "Time (µs)",
 *   categories: ["createQp"], series: [{ label: "native", values: [42.4] }] };
 * assert.match(barChart(spec), />42\.4<\/text>/);
 * ```
 */
export interface BarChartSpec {
  /** Title above the plot. */
  title: string;
  /** Value axis label with its unit, e.g. `Time (µs)` or `Time relative to native (×)`. */
  valueLabel: string;
  /** Optional title of the category axis. */
  categoryLabel?: string;
  /** Category names, in full (long ones are wrapped). */
  categories: string[];
  /** The series; each has one value per category. */
  series: BarSeries[];
  /** Bars grow up from the x axis (default) or right from the y axis. */
  orientation?: "vertical" | "horizontal";
  /** A dashed line across the plot at `value`, explained in a note (e.g. native = 1). */
  reference?: { value: number; label: string };
  /** Value label text (default {@link barValueLabel}). */
  format?: (v: number) => string;
  /** Width in px (default 720). */
  width?: number;
  /** Height in px (default: from the number of bars, horizontal; 440, vertical). */
  height?: number;
}

/**
 * Default value label: thousands separated above 1000, one decimal from 10,
 * two below.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { barValueLabel } from "./svg_bar_chart.ts";
 * assert.deepEqual([2.3, 26.9, 102.9, 1707.7].map(barValueLabel), ["2.30", "26.9", "102.9", "1,708"]);
 * ```
 */
export function barValueLabel(v: number): string {
  const a = Math.abs(v);
  if (a >= 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 0 });
  return v.toFixed(a >= 10 ? 1 : 2);
}

const BAR_H = 14, BAR_GAP = 2, GROUP_PAD = 14;

/**
 * Render a grouped bar chart as a standalone SVG document.
 *
 * Throws when a series has not one value per category, or the size leaves no
 * room for the plot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { barChart } from "./svg_bar_chart.ts";
 * const svg = barChart({ title: "Setup", valueLabel: "Time (µs)",
 *   categories: ["createQp", "modifyQp (RESET→RTS)"], orientation: "horizontal",
 *   series: [{ label: "native", values: [42.4, 66.9] }, { label: "bypass", values: [57.9, 102.9] }] });
 * assert.match(svg, />modifyQp \(RESET→RTS\)<\/text>/); // full name
 * assert.equal(svg.match(/class="value-label"/g)!.length, 4); // a value on every bar
 * ```
 */
export function barChart(spec: BarChartSpec): string {
  const nc = spec.categories.length, ns = spec.series.length;
  for (const s of spec.series) {
    if (s.values.length !== nc) {
      throw new Error(
        `barChart: series "${s.label}" has ${s.values.length} values for ${nc} categories`,
      );
    }
  }
  const fmt = spec.format ?? barValueLabel;
  const notes: string[] = [];
  for (const l of new Set(spec.series.filter((s) => s.spread).map((s) => s.spread!.label))) {
    notes.push(`Error bars show ${l}.`);
  }
  if (spec.reference) notes.push(`Dashed line: ${spec.reference.label}.`);
  const entries: LegendEntry[] = spec.series.map((s, i) => ({
    label: s.label,
    style: seriesStyle(i),
    sample: "swatch",
    index: i,
  }));
  const vals = spec.series.flatMap((s) => [
    ...s.values.filter((v): v is number => v !== null && Number.isFinite(v)),
    ...(s.spread?.ranges.flatMap((r) => r ? r.filter(Number.isFinite) : []) ?? []),
  ]);
  if (spec.reference && Number.isFinite(spec.reference.value)) vals.push(spec.reference.value);
  const prepared: Prepared = { spec, nc, ns, fmt, entries, notes, vals };
  return (spec.orientation ?? "vertical") === "horizontal"
    ? horizontal(prepared)
    : vertical(prepared);
}

/** A chart's spec with what both orientations derive from it. */
interface Prepared {
  spec: BarChartSpec;
  /** Categories. */
  nc: number;
  /** Series. */
  ns: number;
  /** Value label text. */
  fmt: (v: number) => string;
  entries: LegendEntry[];
  /** Notes under the legend. */
  notes: string[];
  /** Every value the value axis must cover. */
  vals: number[];
}

/** What each bar needs: its box, value, label and error range. */
interface Bar {
  series: number;
  category: number;
  value: number | null;
  range: [number, number] | null;
}

function bars(spec: BarChartSpec): Bar[] {
  return spec.series.flatMap((s, si) =>
    s.values.map((v, ci) => ({
      series: si,
      category: ci,
      value: v !== null && Number.isFinite(v) ? v : null,
      range: s.spread?.ranges[ci] ?? null,
    }))
  );
}

function open(o: string[], spec: BarChartSpec, W: number, H: number): void {
  svgOpen(o, W, H, spec.title, "bar");
  const defs = patternDefs(spec.series.length);
  if (defs) o.push(defs);
}

function rect(b: Box, fill: string): string {
  return `<rect class="bar" x="${n1(b.x)}" y="${n1(b.y)}" width="${n1(b.w)}" height="${
    n1(b.h)
  }" fill="${fill}" stroke="#000000" stroke-width="0.8"/>`;
}

/**
 * The value labels of each series, drawn after the bars and the reference
 * line, on a white halo so that a line under them does not cross them out.
 */
function values(o: string[], spec: BarChartSpec, labels: string[][]): void {
  spec.series.forEach((s, si) => {
    o.push(`<g class="values" data-label="${xmlEscape(s.label)}">`, ...labels[si], `</g>`);
  });
}

function valueText(x: number, y: number, text: string, anchor: string, rotate = false): string {
  return `<text class="value-label" x="${n1(x)}" y="${
    n1(y)
  }" text-anchor="${anchor}" stroke="#ffffff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"${
    rotate ? ` transform="rotate(-90 ${n1(x)} ${n1(y)})"` : ""
  }>${xmlEscape(text)}</text>`;
}

/** Bars growing right from the category axis on the left. */
function horizontal(
  { spec, nc, ns, fmt, entries, notes, vals }: Prepared,
): string {
  const W = spec.width ?? 720;
  const legendW = W - 32;
  const legendH = legendHeight(entries, notes, legendW);
  const top = titleLayout(spec.title, W).bottom + 8;
  const below = 19 + 26 + 14;
  const groupH = Math.max(1, ns) * (BAR_H + BAR_GAP) - BAR_GAP + GROUP_PAD;
  const ph = spec.height === undefined
    ? Math.max(1, nc) * groupH
    : spec.height - top - below - legendH - 10;
  const H = spec.height ?? top + ph + below + legendH + 10;
  const gh = ph / Math.max(1, nc);
  const bh = (gh - GROUP_PAD + BAR_GAP) / Math.max(1, ns) - BAR_GAP;
  if (bh < 6) throw new Error(`barChart: ${W}×${H} px leaves ${n1(bh)} px per bar (need 6)`);
  const catW = Math.min(W * 0.34, Math.max(0, ...spec.categories.map((c) => textWidth(c, FONT))));
  const catLines = spec.categories.map((c) => wrapText(c, catW, FONT));
  const widest = Math.max(0, ...catLines.flat().map((l) => textWidth(l, FONT)));
  const left = Math.ceil(
    widest + 13 + 6 + (spec.categoryLabel ? leftMargin([spec.categoryLabel], ph, 0) - 13 : 6),
  );
  const all = bars(spec);
  const labelW = Math.max(
    0,
    ...all.map((b) => textWidth(b.value === null ? "n/a" : fmt(b.value), FONT)),
  );
  const right = Math.ceil(labelW + 14);
  const pw = W - left - right;
  const xs: Scale = linearScale(vals, { lengthPx: pw, vertical: false, fromZero: true });
  const box: Box = { x: left, y: top, w: pw, h: ph };
  const X = (v: number) => box.x + xs.frac(v) * box.w;

  const o: string[] = [];
  open(o, spec, W, H);
  o.push(`<g class="panel" data-panel="main">`);
  o.push(plotArea(box));
  xAxis(o, box, xs, true);
  o.push(`<g class="y-axis" data-kind="category">`);
  catLines.forEach((lines, ci) => {
    const cy = box.y + gh * (ci + 0.5);
    const y0 = cy - (lines.length - 1) * 7.5 + FONT * ASCENT / 2;
    o.push(categoryTick([box.x - 5, cy, box.x, cy], lines, box.x - 8, y0, "end"));
  });
  o.push(`</g>`);
  const zero = X(Math.max(0, xs.ticks[0].value));
  const valueLabels: string[][] = spec.series.map(() => []);
  spec.series.forEach((s, si) => {
    o.push(`<g class="series" data-label="${xmlEscape(s.label)}">`);
    for (const b of all.filter((b) => b.series === si)) {
      const y = box.y + gh * b.category + GROUP_PAD / 2 + si * (bh + BAR_GAP);
      const cy = y + bh / 2 + FONT * ASCENT / 2 - 0.5;
      if (b.value === null) {
        valueLabels[si].push(valueText(zero + 4, cy, "n/a", "start"));
        continue;
      }
      const end = X(b.value);
      o.push(
        rect(
          { x: Math.min(zero, end), y, w: Math.abs(end - zero), h: bh },
          barFill(seriesStyle(si), si),
        ),
      );
      let tip = end;
      if (b.range) {
        const [lo, hi] = [X(b.range[0]), X(b.range[1])];
        o.push(errorBar([lo, y + bh / 2], [hi, y + bh / 2], bh / 2 - 2, "#000000"));
        tip = b.value >= 0 ? Math.max(end, hi) : Math.min(end, lo);
      }
      valueLabels[si].push(
        b.value >= 0
          ? valueText(tip + 4, cy, fmt(b.value), "start")
          : valueText(tip - 4, cy, fmt(b.value), "end"),
      );
    }
    o.push(`</g>`);
  });
  reference(o, spec, (v) => [X(v), box.y, X(v), box.y + box.h]);
  values(o, spec, valueLabels);
  axisLinesAt(o, box, zero, "horizontal");
  if (spec.categoryLabel) yLabel(o, box, spec.categoryLabel);
  o.push(`</g>`);
  o.push(
    `<text class="axis-label x-label" x="${n1(box.x + box.w / 2)}" y="${
      n1(box.y + box.h + 40)
    }" text-anchor="middle" font-size="${LABEL_FONT}">${xmlEscape(spec.valueLabel)}</text>`,
  );
  legend(o, entries, notes, 16, box.y + box.h + below, legendW);
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}

/** Bars growing up from the category axis at the bottom. */
function vertical(
  { spec, nc, ns, fmt, entries, notes, vals }: Prepared,
): string {
  const W = spec.width ?? 720, H = spec.height ?? 440;
  const legendW = W - 32;
  const legendH = legendHeight(entries, notes, legendW);
  const top = titleLayout(spec.title, W).bottom + 12;
  const all = bars(spec);
  const right = 16;
  // The left margin depends on the value ticks, which depend on the height
  // left over by the wrapped category names and on the value labels' room:
  // lay out with a generous margin, then again with the one the ticks need.
  const labels = all.map((b) => (b.value === null ? "n/a" : fmt(b.value)));
  const maxV = Math.max(0, ...vals);
  const layout = (left: number) => {
    const gw = (W - left - right) / Math.max(1, nc);
    const bw = Math.min(48, (gw * 0.8) / Math.max(1, ns));
    const lines = spec.categories.map((c) => wrapText(c, gw - 8, FONT));
    const nLines = Math.max(1, ...lines.map((l) => l.length));
    const below = 6 + nLines * 15 + 26 + 14;
    const ph = H - top - below - legendH - 10;
    // Value labels sit on the bars, rotated when wider than a bar; the axis
    // grows until the tallest label fits under the top.
    const rotate = labels.some((l) => textWidth(l, FONT) > bw + 1);
    const headroom = rotate ? Math.max(0, ...labels.map((l) => textWidth(l, FONT))) + 8 : 18;
    let ys = linearScale(vals, { lengthPx: ph, vertical: true, fromZero: true });
    if (ph > headroom + 10 && ys.frac(maxV) * ph > ph - headroom) {
      const need = (maxV * ph) / (ph - headroom);
      ys = linearScale([...vals, need], { lengthPx: ph, vertical: true, fromZero: true });
    }
    return { gw, bw, lines, nLines, below, ph, rotate, ys };
  };
  let L = layout(Math.round(W * 0.2));
  if (L.ph < 80) throw new Error(`barChart: ${W}×${H} px leaves ${L.ph} px for the plot (need 80)`);
  const left = leftMargin([spec.valueLabel], L.ph, maxTickWidth(L.ys));
  L = layout(left);
  const { gw, bw, lines, nLines, below, rotate, ys } = L;
  const box: Box = { x: left, y: top, w: W - left - right, h: L.ph };
  const Y = (v: number) => box.y + box.h - ys.frac(v) * box.h;

  const o: string[] = [];
  open(o, spec, W, H);
  o.push(`<g class="panel" data-panel="main">`);
  o.push(plotArea(box));
  yAxis(o, box, ys);
  o.push(`<g class="x-axis" data-kind="category">`);
  lines.forEach((ls, ci) => {
    const cx = box.x + gw * (ci + 0.5), yb = box.y + box.h;
    o.push(categoryTick([cx, yb, cx, yb + 5], ls, cx, yb + 19, "middle"));
  });
  o.push(`</g>`);
  const zero = Y(Math.max(0, ys.ticks[0].value));
  const valueLabels: string[][] = spec.series.map(() => []);
  spec.series.forEach((s, si) => {
    o.push(`<g class="series" data-label="${xmlEscape(s.label)}">`);
    for (const b of all.filter((b) => b.series === si)) {
      const x = box.x + gw * b.category + (gw - bw * ns) / 2 + si * bw;
      const cx = x + bw / 2;
      const text = b.value === null ? "n/a" : fmt(b.value);
      if (b.value === null) {
        valueLabels[si].push(valueText(cx, zero - 4, text, rotate ? "start" : "middle", rotate));
        continue;
      }
      const end = Y(b.value);
      o.push(
        rect(
          { x, y: Math.min(zero, end), w: bw, h: Math.abs(end - zero) },
          barFill(seriesStyle(si), si),
        ),
      );
      let tip = end;
      if (b.range) {
        const [lo, hi] = [Y(b.range[0]), Y(b.range[1])];
        o.push(errorBar([cx, lo], [cx, hi], Math.min(4, bw / 3), "#000000"));
        tip = b.value >= 0 ? Math.min(end, hi) : Math.max(end, lo);
      }
      // Above a bar that rises, below one that falls.
      if (b.value < 0) {
        valueLabels[si].push(
          rotate
            ? valueText(cx + FONT * ASCENT / 2, tip + 4, text, "end", true)
            : valueText(cx, tip + 4 + FONT * ASCENT, text, "middle"),
        );
        continue;
      }
      valueLabels[si].push(
        rotate
          ? valueText(cx + FONT * ASCENT / 2, tip - 4, text, "start", true)
          : valueText(cx, tip - 5, text, "middle"),
      );
    }
    o.push(`</g>`);
  });
  reference(o, spec, (v) => [box.x, Y(v), box.x + box.w, Y(v)]);
  values(o, spec, valueLabels);
  axisLinesAt(o, box, zero, "vertical");
  yLabel(o, box, spec.valueLabel);
  if (spec.categoryLabel) {
    o.push(
      `<text class="axis-label x-label" data-kind="category" x="${n1(box.x + box.w / 2)}" y="${
        n1(box.y + box.h + 6 + nLines * 15 + 20)
      }" text-anchor="middle" font-size="${LABEL_FONT}">${xmlEscape(spec.categoryLabel)}</text>`,
    );
  }
  o.push(`</g>`);
  legend(o, entries, notes, 16, box.y + box.h + below, legendW);
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}

function reference(
  o: string[],
  spec: BarChartSpec,
  at: (v: number) => [number, number, number, number],
): void {
  if (!spec.reference || !Number.isFinite(spec.reference.value)) return;
  const [x1, y1, x2, y2] = at(spec.reference.value);
  o.push(
    `<line class="reference" x1="${n1(x1)}" y1="${n1(y1)}" x2="${n1(x2)}" y2="${
      n1(y2)
    }" stroke="#000000" stroke-width="1.2" stroke-dasharray="6 4"/>`,
  );
}

/**
 * The two axis lines: the category axis along the bars' zero (`zero` is a y
 * for vertical bars, an x for horizontal ones), the value axis along the
 * plot's edge.
 */
function axisLinesAt(o: string[], b: Box, zero: number, bars: "vertical" | "horizontal"): void {
  const line = (x1: number, y1: number, x2: number, y2: number) =>
    o.push(
      `<line class="axis" x1="${n1(x1)}" y1="${n1(y1)}" x2="${n1(x2)}" y2="${
        n1(y2)
      }" stroke="#000000" stroke-width="1.5"/>`,
    );
  if (bars === "vertical") {
    line(b.x, zero, b.x + b.w, zero);
    line(b.x, b.y, b.x, b.y + b.h);
  } else {
    line(b.x, b.y + b.h, b.x + b.w, b.y + b.h);
    line(zero, b.y, zero, b.y + b.h);
  }
}
