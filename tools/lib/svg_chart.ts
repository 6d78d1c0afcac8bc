/**
 * Hand-written SVG line charts for the paper report: title, axes with ticks
 * and units, grid, legend, log-scale x (powers of two, for message sizes or
 * page counts) or linear x, linear y from zero. No dependencies.
 *
 * @module
 */

/**
 * One line of a chart.
 *
 * @example
 * ```ts
 * import type { Series } from "./svg_chart.ts";
 * const s: Series = { label: "native", points: [[2, 4.5], [64, 4.7]] };
 * ```
 */
export interface Series {
  /** Legend label. */
  label: string;
  /** Points (x, y); x > 0 when the x axis is logarithmic. */
  points: [number, number][];
}

/**
 * What to draw.
 *
 * @example
 * ```ts
 * import { type ChartSpec, lineChart } from "./svg_chart.ts";
 * const spec: ChartSpec = { title: "t", xLabel: "Pages", yLabel: "Time (µs)", xTicks: "plain", series: [] };
 * console.log(lineChart(spec).includes("Pages")); // true
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
  /** Base-10 logarithmic y axis, for values spanning decades (default false: linear from 0). */
  logY?: boolean;
  /** X tick labels: byte sizes with K/M suffixes (default) or plain numbers. */
  xTicks?: "size" | "plain";
  /** The lines. */
  series: Series[];
  /** Width in px (default 720). */
  width?: number;
  /** Height in px (default 440). */
  height?: number;
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
const DASHES = ["", "6 3", "2 3", "8 3 2 3", "4 4", "1 2"];
const MARKERS = ["circle", "square", "triangle", "diamond", "circle", "square"] as const;

/**
 * Escape text for XML content and attributes.
 *
 * @example
 * ```ts
 * import { xmlEscape } from "./svg_chart.ts";
 * console.log(xmlEscape("a<b & \"c\"")); // a&lt;b &amp; &quot;c&quot;
 * ```
 */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/**
 * A byte count with a binary suffix: 1K, 64K, 1M.
 *
 * @example
 * ```ts
 * import { sizeLabel } from "./svg_chart.ts";
 * console.log(sizeLabel(65536), sizeLabel(8), sizeLabel(4194304)); // 64K 8 4M
 * ```
 */
export function sizeLabel(n: number): string {
  if (n >= 1048576 && n % 1048576 === 0) return `${n / 1048576}M`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}K`;
  return String(n);
}

/**
 * "Nice" linear ticks from 0 to at least `max` (1, 2, 2.5 or 5 × 10^k steps).
 *
 * @example
 * ```ts
 * import { niceTicks } from "./svg_chart.ts";
 * console.log(niceTicks(9.3)); // [ 0, 2, 4, 6, 8, 10 ]
 * ```
 */
export function niceTicks(max: number, target = 5): number[] {
  if (!(max > 0)) return [0, 1];
  const raw = max / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = 0; v < max + step * 0.999; v += step) out.push(Number(v.toPrecision(12)));
  if (out[out.length - 1] < max) out.push(Number((out[out.length - 1] + step).toPrecision(12)));
  return out;
}

function fmtTick(v: number): string {
  if (v === 0) return "0";
  if (Math.abs(v) >= 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 0 });
  return Number(v.toPrecision(3)).toString();
}

/** Plot area margins and size of a chart. */
interface Frame {
  m: { left: number; right: number; top: number; bottom: number };
  pw: number;
  ph: number;
}

/** The document head: XML declaration, `<svg>`, title, white background, heading. */
function open(o: string[], W: number, H: number, title: string): void {
  o.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
  );
  o.push(`<title>${xmlEscape(title)}</title>`);
  o.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  o.push(
    `<text x="${W / 2}" y="26" text-anchor="middle" font-size="16" font-weight="bold">${
      xmlEscape(title)
    }</text>`,
  );
}

/** Horizontal grid lines with the y ticks and their labels. */
function yGrid(o: string[], { m, pw }: Frame, ticks: number[], Y: (y: number) => number): void {
  o.push(`<g class="y-axis">`);
  for (const v of ticks) {
    const y = Y(v).toFixed(1);
    o.push(
      `<line x1="${m.left}" y1="${y}" x2="${
        m.left + pw
      }" y2="${y}" stroke="#dddddd" stroke-width="1"/>`,
    );
    o.push(`<line x1="${m.left - 5}" y1="${y}" x2="${m.left}" y2="${y}" stroke="#000000"/>`);
    o.push(`<text x="${m.left - 8}" y="${Number(y) + 4}" text-anchor="end">${fmtTick(v)}</text>`);
  }
  o.push(`</g>`);
}

/** The x and y axis lines. */
function axes(o: string[], { m, pw, ph }: Frame): void {
  o.push(
    `<line class="axis" x1="${m.left}" y1="${m.top + ph}" x2="${m.left + pw}" y2="${
      m.top + ph
    }" stroke="#000000" stroke-width="1.5"/>`,
  );
  o.push(
    `<line class="axis" x1="${m.left}" y1="${m.top}" x2="${m.left}" y2="${
      m.top + ph
    }" stroke="#000000" stroke-width="1.5"/>`,
  );
}

/** The y axis label, rotated, centred on the plot. */
function yLabel(o: string[], { m, ph }: Frame, text: string): void {
  o.push(
    `<text class="y-label" x="18" y="${
      m.top + ph / 2
    }" text-anchor="middle" font-size="13" transform="rotate(-90 18 ${m.top + ph / 2})">${
      xmlEscape(text)
    }</text>`,
  );
}

/**
 * Render a line chart as a standalone SVG document.
 *
 * @example
 * ```ts
 * import { lineChart } from "./svg_chart.ts";
 * const svg = lineChart({ title: "Latency", xLabel: "Message size (bytes)", yLabel: "Latency (µs)",
 *   series: [{ label: "native", points: [[2, 4.5], [1024, 7]] }] });
 * console.log(svg.startsWith("<?xml")); // true
 * ```
 */
export function lineChart(spec: ChartSpec): string {
  const W = spec.width ?? 720, H = spec.height ?? 440;
  const logX = spec.logX ?? true;
  const m = { left: 78, right: 36, top: 48, bottom: 92 };
  const pw = W - m.left - m.right, ph = H - m.top - m.bottom;
  const all = spec.series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const tx = logX ? (x: number) => Math.log2(x) : (x: number) => x;
  let x0 = xs.length ? Math.min(...xs.map(tx)) : 0, x1 = xs.length ? Math.max(...xs.map(tx)) : 1;
  if (x1 === x0) {
    x0 -= 1;
    x1 += 1;
  }
  const logY = spec.logY ?? false;
  let yt: number[];
  let Y: (y: number) => number;
  if (logY) {
    const pos = ys.filter((y) => y > 0);
    const lo = Math.floor(Math.log10(pos.length ? Math.min(...pos) : 1));
    let hi = Math.ceil(Math.log10(pos.length ? Math.max(...pos) : 10));
    if (hi === lo) hi = lo + 1;
    yt = [];
    for (let e = lo; e <= hi; e++) yt.push(Number((10 ** e).toPrecision(12)));
    Y = (y: number) => m.top + ph - ((Math.log10(Math.max(y, 10 ** lo)) - lo) / (hi - lo)) * ph;
  } else {
    yt = niceTicks(ys.length ? Math.max(...ys) : 1);
    const y1 = yt[yt.length - 1];
    Y = (y: number) => m.top + ph - (y / y1) * ph;
  }
  const X = (x: number) => m.left + ((tx(x) - x0) / (x1 - x0)) * pw;
  const f: Frame = { m, pw, ph };
  const o: string[] = [];
  open(o, W, H, spec.title);
  yGrid(o, f, yt, Y);
  // X ticks: powers of two (thinned to at most ~12 labels) or linear nice ticks.
  o.push(`<g class="x-axis">`);
  const xTicks: number[] = [];
  if (logX) {
    const lo = Math.ceil(x0), hi = Math.floor(x1);
    const stride = Math.max(1, Math.ceil((hi - lo + 1) / 12));
    // Step down from the largest so the last size always has a label.
    for (let e = hi; e >= lo; e -= stride) xTicks.unshift(2 ** e);
  } else {
    for (const v of niceTicks(x1, 8)) if (v >= x0) xTicks.push(v);
  }
  for (const v of xTicks) {
    const x = X(v).toFixed(1);
    o.push(
      `<line x1="${x}" y1="${m.top}" x2="${x}" y2="${
        m.top + ph
      }" stroke="#eeeeee" stroke-width="1"/>`,
    );
    o.push(
      `<line x1="${x}" y1="${m.top + ph}" x2="${x}" y2="${m.top + ph + 5}" stroke="#000000"/>`,
    );
    o.push(
      `<text x="${x}" y="${m.top + ph + 19}" text-anchor="middle">${
        logX && spec.xTicks !== "plain" ? sizeLabel(v) : fmtTick(v)
      }</text>`,
    );
  }
  o.push(`</g>`);
  axes(o, f);
  o.push(
    `<text class="x-label" x="${m.left + pw / 2}" y="${
      m.top + ph + 40
    }" text-anchor="middle" font-size="13">${
      xmlEscape(spec.xLabel + (logX ? " — log scale" : ""))
    }</text>`,
  );
  yLabel(o, f, spec.yLabel + (logY ? " — log scale" : ""));
  // Series.
  spec.series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = s.points.filter((p) => !logX || p[0] > 0);
    o.push(`<g class="series" data-label="${xmlEscape(s.label)}">`);
    if (pts.length > 1) {
      const d = pts.map((p, k) => `${k ? "L" : "M"}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`)
        .join(" ");
      const dash = DASHES[i % DASHES.length];
      o.push(
        `<path d="${d}" fill="none" stroke="${c}" stroke-width="2"${
          dash ? ` stroke-dasharray="${dash}"` : ""
        }/>`,
      );
    }
    for (const p of pts) o.push(marker(MARKERS[i % MARKERS.length], X(p[0]), Y(p[1]), c));
    o.push(`</g>`);
  });
  // Legend, below the x label.
  o.push(`<g class="legend">`);
  const ly = H - 22;
  const itemW = Math.min(200, pw / Math.max(1, spec.series.length));
  spec.series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const lx = m.left + i * itemW;
    const dash = DASHES[i % DASHES.length];
    o.push(
      `<line x1="${lx}" y1="${ly}" x2="${lx + 28}" y2="${ly}" stroke="${c}" stroke-width="2"${
        dash ? ` stroke-dasharray="${dash}"` : ""
      }/>`,
    );
    o.push(marker(MARKERS[i % MARKERS.length], lx + 14, ly, c));
    o.push(`<text x="${lx + 34}" y="${ly + 4}">${xmlEscape(s.label)}</text>`);
  });
  o.push(`</g>`);
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}

function marker(kind: (typeof MARKERS)[number], x: number, y: number, c: string): string {
  const X = x.toFixed(1), Y = y.toFixed(1);
  switch (kind) {
    case "square":
      return `<rect x="${(x - 3.5).toFixed(1)}" y="${
        (y - 3.5).toFixed(1)
      }" width="7" height="7" fill="${c}"/>`;
    case "triangle":
      return `<path d="M${X},${(y - 4.5).toFixed(1)} L${(x + 4.5).toFixed(1)},${
        (y + 3.5).toFixed(1)
      } L${(x - 4.5).toFixed(1)},${(y + 3.5).toFixed(1)} Z" fill="${c}"/>`;
    case "diamond":
      return `<path d="M${X},${(y - 5).toFixed(1)} L${(x + 5).toFixed(1)},${Y} L${X},${
        (y + 5).toFixed(1)
      } L${(x - 5).toFixed(1)},${Y} Z" fill="${c}"/>`;
    default:
      return `<circle cx="${X}" cy="${Y}" r="3.5" fill="${c}"/>`;
  }
}

/**
 * A grouped bar chart (categories × series), for costs that are not a curve
 * (resource setup).
 *
 * @example
 * ```ts
 * import { barChart } from "./svg_chart.ts";
 * const svg = barChart({ title: "Setup", yLabel: "Time (µs)", categories: ["create QP"],
 *   series: [{ label: "native", values: [30] }, { label: "bypass", values: [45] }] });
 * console.log(svg.includes("create QP")); // true
 * ```
 */
export function barChart(spec: {
  title: string;
  yLabel: string;
  categories: string[];
  series: { label: string; values: number[] }[];
  width?: number;
  height?: number;
}): string {
  const W = spec.width ?? 720, H = spec.height ?? 440;
  const m = { left: 78, right: 24, top: 48, bottom: 92 };
  const pw = W - m.left - m.right, ph = H - m.top - m.bottom;
  const yt = niceTicks(Math.max(1e-9, ...spec.series.flatMap((s) => s.values)));
  const y1 = yt[yt.length - 1];
  const Y = (y: number) => m.top + ph - (y / y1) * ph;
  const f: Frame = { m, pw, ph };
  const o: string[] = [];
  open(o, W, H, spec.title);
  yGrid(o, f, yt, Y);
  const nc = Math.max(1, spec.categories.length), ns = Math.max(1, spec.series.length);
  const groupW = pw / nc, barW = (groupW * 0.7) / ns;
  o.push(`<g class="x-axis">`);
  spec.categories.forEach((cat, ci) => {
    const cx = m.left + groupW * (ci + 0.5);
    o.push(
      `<line x1="${cx.toFixed(1)}" y1="${m.top + ph}" x2="${cx.toFixed(1)}" y2="${
        m.top + ph + 5
      }" stroke="#000000"/>`,
    );
    o.push(
      `<text x="${cx.toFixed(1)}" y="${m.top + ph + 19}" text-anchor="middle">${
        xmlEscape(cat)
      }</text>`,
    );
  });
  o.push(`</g>`);
  spec.series.forEach((s, si) => {
    const c = COLORS[si % COLORS.length];
    o.push(`<g class="series" data-label="${xmlEscape(s.label)}">`);
    s.values.forEach((v, ci) => {
      const x = m.left + groupW * ci + groupW * 0.15 + barW * si;
      o.push(
        `<rect x="${x.toFixed(1)}" y="${Y(v).toFixed(1)}" width="${barW.toFixed(1)}" height="${
          (m.top + ph - Y(v)).toFixed(1)
        }" fill="${c}"><title>${xmlEscape(`${s.label}: ${fmtTick(v)}`)}</title></rect>`,
      );
    });
    o.push(`</g>`);
  });
  axes(o, f);
  yLabel(o, f, spec.yLabel);
  o.push(`<g class="legend">`);
  const ly = H - 22;
  const itemW = Math.min(200, pw / ns);
  spec.series.forEach((s, i) => {
    const lx = m.left + i * itemW;
    o.push(
      `<rect x="${lx}" y="${ly - 6}" width="14" height="12" fill="${COLORS[i % COLORS.length]}"/>`,
    );
    o.push(`<text x="${lx + 20}" y="${ly + 4}">${xmlEscape(s.label)}</text>`);
  });
  o.push(`</g>`);
  o.push(`</svg>`);
  return o.join("\n") + "\n";
}
