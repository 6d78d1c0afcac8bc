/**
 * Hand-written SVG line charts for the paper report, fit for print: title,
 * axes with units and a label on every tick, base-2 log or linear x, linear
 * or base-10 log y, optional shaded spread bands (p1–p99, min–max) or error
 * bars, and an optional ratio panel beneath that shows every series relative
 * to a reference series, so small differences stay visible.
 *
 * Series that coincide stay identifiable: each has its own colour, dash
 * pattern and marker (filled and hollow alternate), markers of points that
 * fall on the same spot are set side by side, and a note under the legend
 * names the series that coincide at every point. The legend sits below the
 * plot, never on the data. No dependencies; the same input gives the same
 * bytes.
 *
 * @module
 */
import {
  linearScale,
  log10Scale,
  log2Scale,
  type Scale,
  sizeLabel,
  tickLabel,
} from "./svg_axis.ts";
import {
  axisLines,
  type Box,
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
import { FONT, marker, n1, type SeriesStyle, seriesStyle } from "./svg_style.ts";
import { textWidth, xmlEscape } from "./svg_text.ts";

/**
 * The spread of a series at each x: drawn as a shaded band (default) or as
 * error bars.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Spread } from "./svg_chart.ts";
 * const s: Spread = { label: "p1–p99", points: [[2, 4.4, 4.9], [64, 4.6, 5.2]] };
 * assert.equal(s.points[0][2], 4.9);
 * ```
 */
export interface Spread {
  /** What the spread is, e.g. `p1–p99` or `min–max` (named in the chart's note). */
  label: string;
  /** (x, low, high). */
  points: [number, number, number][];
  /** Shaded band between low and high (default) or an error bar at each point. */
  draw?: "band" | "bars";
}

/**
 * One line of a chart.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Series } from "./svg_chart.ts";
 * const s: Series = { label: "native", points: [[2, 4.5], [64, 4.7]] };
 * assert.equal(s.points.length, 2);
 * ```
 */
export interface Series {
  /** Legend label, in full (no abbreviations). */
  label: string;
  /** Points (x, y); x > 0 when the x axis is logarithmic, y > 0 when y is. */
  points: [number, number][];
  /** Optional spread around the points. */
  spread?: Spread;
}

/**
 * What to draw.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ChartSpec, lineChart } from "./svg_chart.ts";
 * const spec: ChartSpec = { title: "t", xLabel: "Pages (4 KiB)", yLabel: "Time (µs)",
 *   xTicks: "plain", series: [] };
 * assert.ok(lineChart(spec).includes("Pages (4 KiB)"));
 * ```
 */
export interface ChartSpec {
  /** Title above the plot. */
  title: string;
  /** X axis label including its unit, e.g. `Message size (bytes)`. */
  xLabel: string;
  /** Y axis label including its unit, e.g. `Latency (µs)`. */
  yLabel: string;
  /** Base-2 logarithmic x axis (default true). */
  logX?: boolean;
  /** Base-10 logarithmic y axis, for values spanning decades (default false: linear). */
  logY?: boolean;
  /** A linear y axis starts at zero (default true). */
  yFromZero?: boolean;
  /** X tick labels: byte sizes with K/M suffixes (default) or plain numbers. */
  xTicks?: "size" | "plain";
  /** The lines. */
  series: Series[];
  /**
   * Label of the reference series: adds a panel beneath the plot with each
   * series divided by the reference at the same x.
   */
  ratioTo?: string;
  /** Y axis label of the ratio panel (default `Ratio to <ratioTo> (×)`). */
  ratioLabel?: string;
  /** Width in px (default 720). */
  width?: number;
  /** Height in px (default 440, or 600 with a ratio panel). */
  height?: number;
}

/** Relative tolerance under which two series count as coinciding at a point. */
const COINCIDE = 1e-3;
/** Markers closer than this (px, vertically) at the same x are set side by side. */
const CLASH_PX = 8;
/** Horizontal distance between markers set side by side, px. */
const DODGE_PX = 9;
/** The x scale starts and ends this far inside the plot, so end markers stay off the axes. */
const X_INSET = 12;

interface Drawn {
  label: string;
  style: SeriesStyle;
  points: [number, number][];
  spread?: Spread;
}

const finitePoint = (p: number[]) => p.every(Number.isFinite);

/** The series of the ratio panel: each divided by the reference at the same x. */
function ratios(series: Drawn[], ref: Drawn): Drawn[] {
  const at = new Map(ref.points.filter(([, y]) => y !== 0).map(([x, y]) => [x, y]));
  return series.map((s) => ({
    ...s,
    points: s.points.filter(([x]) => at.has(x)).map(([x, y]) => [x, y / at.get(x)!]),
    spread: s.spread && {
      ...s.spread,
      points: s.spread.points.filter(([x]) => at.has(x)).map((
        [x, lo, hi],
      ) => [x, lo / at.get(x)!, hi / at.get(x)!]),
    },
  }));
}

/**
 * Groups of series that coincide at every point (same x values, y within
 * 0.1 %), as sentences for the note under the legend.
 */
function coincidenceNotes(series: Drawn[]): string[] {
  const same = (a: Drawn, b: Drawn) =>
    a.points.length > 0 && a.points.length === b.points.length &&
    a.points.every(([x, y], k) => {
      const [bx, by] = b.points[k];
      return bx === x && Math.abs(by - y) <= COINCIDE * Math.max(Math.abs(y), Math.abs(by));
    });
  const group = series.map((_s, i) => i);
  for (let i = 0; i < series.length; i++) {
    for (let j = i + 1; j < series.length; j++) {
      if (group[j] === j && same(series[i], series[j])) group[j] = group[i];
    }
  }
  const out: string[] = [];
  for (let i = 0; i < series.length; i++) {
    const members = series.filter((_s, k) => group[k] === i && group[i] === i).map((s) => s.label);
    if (members.length < 2) continue;
    // Labels with commas in them are quoted, so that the list stays readable.
    const q = members.some((m) => /,| and /.test(m)) ? (m: string) => `“${m}”` : (m: string) => m;
    const names = `${members.slice(0, -1).map(q).join(", ")} and ${q(members.at(-1)!)}`;
    out.push(
      `${names} coincide at every point (within ${COINCIDE * 100} %): markers drawn side by side.`,
    );
  }
  return out;
}

/**
 * Horizontal marker offsets (px) per series and point: markers of points at
 * the same x closer than {@link CLASH_PX} vertically are spread side by
 * side, in series order.
 */
function dodge(pix: [number, number][][]): number[][] {
  const off = pix.map((pts) => pts.map(() => 0));
  const byX = new Map<string, { s: number; k: number; y: number }[]>();
  pix.forEach((pts, s) =>
    pts.forEach(([x, y], k) => {
      const key = n1(x);
      byX.set(key, [...(byX.get(key) ?? []), { s, k, y }]);
    })
  );
  for (const at of byX.values()) {
    at.sort((a, b) => a.y - b.y || a.s - b.s);
    let start = 0;
    for (let i = 1; i <= at.length; i++) {
      if (i < at.length && at[i].y - at[i - 1].y < CLASH_PX) continue;
      const cluster = at.slice(start, i).sort((a, b) => a.s - b.s);
      cluster.forEach((m, r) => off[m.s][m.k] = (r - (cluster.length - 1) / 2) * DODGE_PX);
      start = i;
    }
  }
  return off;
}

/** One panel: plot area, axes, grid, bands, lines, markers. */
function panel(
  o: string[],
  name: string,
  b: Box,
  xs: Scale,
  ys: Scale,
  xLabels: boolean,
  label: string,
  series: Drawn[],
): void {
  const X = (x: number) => b.x + X_INSET + xs.frac(x) * (b.w - 2 * X_INSET);
  const Y = (y: number) => b.y + b.h - ys.frac(y) * b.h;
  const ok = (x: number, y: number) => xs.drawable(x) && ys.drawable(y);
  o.push(`<g class="panel" data-panel="${name}">`);
  o.push(plotArea(b));
  yAxis(o, b, ys);
  xAxis(o, b, xs, xLabels, X_INSET);
  for (const s of series) {
    if (!s.spread || (s.spread.draw ?? "band") !== "band") continue;
    const pts = s.spread.points.filter(([x, lo, hi]) => ok(x, lo) && ok(x, hi));
    if (pts.length < 2) continue;
    const d = [
      ...pts.map(([x, , hi]) => `${n1(X(x))},${n1(Y(hi))}`),
      ...pts.toReversed().map(([x, lo]) => `${n1(X(x))},${n1(Y(lo))}`),
    ];
    o.push(
      `<path class="band" data-label="${xmlEscape(s.label)}" d="M${
        d.join(" L")
      } Z" fill="${s.style.color}" fill-opacity="0.18" stroke="none"/>`,
    );
  }
  const pix = series.map((s) =>
    s.points.filter(([x, y]) => ok(x, y)).map(([x, y]) => [X(x), Y(y)] as [number, number])
  );
  series.forEach((s, i) => {
    o.push(`<g class="series" data-label="${xmlEscape(s.label)}">`);
    if (pix[i].length > 1) {
      o.push(
        `<path d="M${
          pix[i].map(([x, y]) => `${n1(x)},${n1(y)}`).join(" L")
        }" fill="none" stroke="${s.style.color}" stroke-width="${s.style.width}" stroke-linejoin="round"${
          s.style.dash ? ` stroke-dasharray="${s.style.dash}"` : ""
        }/>`,
      );
    }
    o.push(`</g>`);
  });
  const off = dodge(pix);
  series.forEach((s, i) => {
    o.push(`<g class="markers" data-label="${xmlEscape(s.label)}">`);
    if (s.spread?.draw === "bars") {
      // An error bar stands where its point's marker is (side by side included).
      const shift = new Map(
        s.points.filter(([x, y]) => ok(x, y)).map(([x], k) => [x, off[i][k]] as const),
      );
      for (const [x, lo, hi] of s.spread.points) {
        if (!ok(x, lo) || !ok(x, hi)) continue;
        const cx = X(x) + (shift.get(x) ?? 0);
        o.push(errorBar([cx, Y(lo)], [cx, Y(hi)], 3, s.style.color));
      }
    }
    pix[i].forEach(([x, y], k) => o.push(marker(s.style, x + off[i][k], y)));
    o.push(`</g>`);
  });
  axisLines(o, b);
  yLabel(o, b, label);
  o.push(`</g>`);
}

/**
 * Render a line chart as a standalone SVG document.
 *
 * Throws when `ratioTo` names no series, or the height leaves no room for
 * the plot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lineChart } from "./svg_chart.ts";
 * const svg = lineChart({ title: "Latency", xLabel: "Message size (bytes)", yLabel: "Latency (µs)",
 *   ratioTo: "native", series: [
 *     { label: "native", points: [[2, 4.5], [1024, 7]] },
 *     { label: "bypass", points: [[2, 4.5], [1024, 7]] },
 *   ] });
 * assert.ok(svg.startsWith("<?xml"));
 * assert.match(svg, />2<\/text>/); // the first size has its tick label
 * assert.match(svg, /data-panel="ratio"/);
 * assert.match(svg, /native and bypass coincide at every point/);
 * ```
 */
export function lineChart(spec: ChartSpec): string {
  const W = spec.width ?? 720;
  const hasRatio = spec.ratioTo !== undefined;
  const H = spec.height ?? (hasRatio ? 600 : 440);
  const logX = spec.logX ?? true, logY = spec.logY ?? false;
  const series: Drawn[] = spec.series.map((s, i) => ({
    label: s.label,
    style: seriesStyle(i),
    points: s.points.filter(finitePoint),
    spread: s.spread && { ...s.spread, points: s.spread.points.filter(finitePoint) },
  }));
  let ratioSeries: Drawn[] = [];
  if (hasRatio) {
    const ref = series.find((s) => s.label === spec.ratioTo);
    if (!ref) {
      throw new Error(
        `lineChart: ratioTo "${spec.ratioTo}" names no series (series: ${
          series.map((s) => `"${s.label}"`).join(", ") || "none"
        })`,
      );
    }
    ratioSeries = ratios(series, ref);
  }
  const ratioLabel = spec.ratioLabel ?? `Ratio to ${spec.ratioTo} (×)`;

  // Vertical layout: title, plot (and ratio panel), x tick labels, x label, legend.
  const spreadNotes = [
    ...new Set(
      series.filter((s) => s.spread).map((s) =>
        `${s.spread!.draw === "bars" ? "Error bars" : "Shaded bands"} show ${s.spread!.label}.`
      ),
    ),
  ];
  const notes = [...coincidenceNotes(series), ...spreadNotes];
  const entries: LegendEntry[] = series.map((s) => ({
    label: s.label,
    style: s.style,
    sample: "line",
    band: !!s.spread && (s.spread.draw ?? "band") === "band",
  }));
  const legendW = W - 32;
  const legendH = legendHeight(entries, notes, legendW);
  const top = titleLayout(spec.title, W).bottom + 12;
  const gap = hasRatio ? 20 : 0;
  const below = 19 + 26 + 14; // tick labels, x label, space before the legend
  const plotH = H - top - below - legendH - 10 - gap;
  const ph2 = hasRatio ? Math.max(130, Math.round(plotH * 0.3)) : 0;
  const ph1 = plotH - ph2;
  if (ph1 < 80) {
    throw new Error(`lineChart: ${W}×${H} px leaves ${ph1} px for the plot (need 80)`);
  }

  const yVals = series.flatMap((s) => [
    ...s.points.map((p) => p[1]),
    ...(s.spread?.points.flatMap((p) => [p[1], p[2]]) ?? []),
  ]);
  const ys1 = logY
    ? log10Scale(yVals, { lengthPx: ph1, vertical: true })
    : linearScale(yVals, { lengthPx: ph1, vertical: true, fromZero: spec.yFromZero ?? true });
  let ys2: Scale | undefined;
  if (hasRatio) {
    const rv = ratioSeries.flatMap((s) => [
      ...s.points.map((p) => p[1]),
      ...(s.spread?.points.flatMap((p) => [p[1], p[2]]) ?? []),
    ]).filter(Number.isFinite);
    const lo = Math.min(1, ...rv), hi = Math.max(1, ...rv);
    const pad = Math.max(hi - lo, 0.1) * 0.06;
    ys2 = linearScale([lo - pad, hi + pad], {
      lengthPx: ph2,
      vertical: true,
      fromZero: false,
      minSpan: 0.1,
    });
  }
  const left = Math.max(
    leftMargin([spec.yLabel], ph1, maxTickWidth(ys1)),
    ys2 ? leftMargin([ratioLabel], ph2, maxTickWidth(ys2)) : 0,
  );
  const xVals = series.flatMap((s) => [
    ...s.points.map((p) => p[0]),
    ...(s.spread?.points.map((p) => p[0]) ?? []),
  ]);
  const format = logX && spec.xTicks !== "plain" ? sizeLabel : tickLabel;
  const xScale = (w: number) =>
    logX
      ? log2Scale(xVals, { lengthPx: w, vertical: false, format })
      : linearScale(xVals, { lengthPx: w, vertical: false, format, fromZero: false });
  let xs = xScale(W - left - 24 - 2 * X_INSET);
  const lastHalf = Math.ceil(textWidth(xs.ticks.at(-1)!.label, FONT) / 2);
  const right = Math.max(16, lastHalf + 8 - X_INSET);
  const pw = W - left - right;
  xs = xScale(pw - 2 * X_INSET);

  const o: string[] = [];
  svgOpen(o, W, H, spec.title, "line");
  const main: Box = { x: left, y: top, w: pw, h: ph1 };
  panel(o, "main", main, xs, ys1, !hasRatio, spec.yLabel + (logY ? " — log scale" : ""), series);
  let bottom = main.y + main.h;
  if (ys2) {
    const rb: Box = { x: left, y: bottom + gap, w: pw, h: ph2 };
    panel(o, "ratio", rb, xs, ys2, true, ratioLabel, ratioSeries);
    bottom = rb.y + rb.h;
  }
  o.push(
    `<text class="axis-label x-label" x="${n1(left + pw / 2)}" y="${
      n1(bottom + 40)
    }" text-anchor="middle" font-size="13">${
      xmlEscape(spec.xLabel + (logX ? " — log scale" : ""))
    }</text>`,
  );
  legend(o, entries, notes, 16, bottom + below, legendW);
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}
