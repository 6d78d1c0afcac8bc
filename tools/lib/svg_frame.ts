/**
 * The frame of a chart: the document head with its title, plot rectangles,
 * axes with a label on every tick, axis labels and the margins they need.
 *
 * The element classes written here and in `svg_legend.ts` (`panel`,
 * `plot-area`, `x-axis`, `y-axis`, `tick`, `tick-label`, `axis`,
 * `axis-label`, `legend`, `legend-entry`, `note`) are what `svg_check.ts`
 * checks.
 *
 * @module
 */
import type { Scale } from "./svg_axis.ts";
import { FONT, LABEL_FONT, n1, TITLE_FONT } from "./svg_style.ts";
import { DESCENT, textWidth, wrapText, xmlEscape } from "./svg_text.ts";

/**
 * Lines of the chart title wrapped to `width` px, and the y of the first
 * plot pixel below them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { titleLayout } from "./svg_frame.ts";
 * assert.deepEqual(titleLayout("Latency", 720), { lines: ["Latency"], bottom: 36 });
 * ```
 */
export function titleLayout(title: string, width: number): { lines: string[]; bottom: number } {
  const lines: string[] = [];
  for (const l of wrapText(title, width - 32, TITLE_FONT * 1.1)) lines.push(l);
  return { lines, bottom: 26 + (lines.length - 1) * 20 + 10 };
}

/**
 * The document head: XML declaration, `<svg>`, `<title>`, white
 * background, the visible title (as laid out by {@link titleLayout}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { svgOpen } from "./svg_frame.ts";
 * const o: string[] = [];
 * svgOpen(o, 720, 440, "Latency", "line");
 * assert.equal(o[0], `<?xml version="1.0" encoding="UTF-8"?>`);
 * assert.match(o.join("\n"), /<title>Latency<\/title>/);
 * ```
 */
export function svgOpen(o: string[], W: number, H: number, title: string, kind: string): void {
  o.push(`<?xml version="1.0" encoding="UTF-8"?>`);
  o.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="${FONT}" data-chart="${kind}">`,
  );
  o.push(`<title>${xmlEscape(title)}</title>`);
  o.push(`<rect class="background" x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  titleLayout(title, W).lines.forEach((l, i) =>
    o.push(
      `<text class="title" x="${W / 2}" y="${
        26 + i * 20
      }" text-anchor="middle" font-size="${TITLE_FONT}" font-weight="bold">${xmlEscape(l)}</text>`,
    )
  );
}

/**
 * A plot rectangle: left, top, width and height in px.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Box } from "./svg_frame.ts";
 * const b: Box = { x: 78, y: 48, w: 600, h: 300 };
 * assert.equal(b.x + b.w, 678);
 * ```
 */
export interface Box {
  /** Left edge. */
  x: number;
  /** Top edge. */
  y: number;
  /** Width. */
  w: number;
  /** Height. */
  h: number;
}

/**
 * The invisible rectangle that marks a panel's plot area (what the legend
 * must stay out of).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { plotArea } from "./svg_frame.ts";
 * assert.match(plotArea({ x: 1, y: 2, w: 3, h: 4 }), /class="plot-area"/);
 * ```
 */
export function plotArea(b: Box): string {
  return `<rect class="plot-area" x="${n1(b.x)}" y="${n1(b.y)}" width="${n1(b.w)}" height="${
    n1(b.h)
  }" fill="none" stroke="none"/>`;
}

/**
 * Widest tick label of a scale, px.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linearScale } from "./svg_axis.ts";
 * import { maxTickWidth } from "./svg_frame.ts";
 * assert.ok(maxTickWidth(linearScale([900], { lengthPx: 300, vertical: true })) > 20);
 * ```
 */
export function maxTickWidth(s: Scale): number {
  return Math.max(0, ...s.ticks.map((t) => textWidth(t.label, FONT)));
}

/**
 * The y axis of a panel: grid lines, labelled ticks at the left edge; the
 * scale runs from `inset` px above the bottom to `inset` px below the top.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linearScale } from "./svg_axis.ts";
 * import { yAxis } from "./svg_frame.ts";
 * const o: string[] = [];
 * yAxis(o, { x: 80, y: 40, w: 500, h: 300 }, linearScale([9], { lengthPx: 300, vertical: true }));
 * assert.equal(o.filter((l) => l.includes(`class="tick-label"`)).length, 6);
 * ```
 */
export function yAxis(o: string[], b: Box, s: Scale, inset = 0): void {
  o.push(`<g class="y-axis" data-scale="${s.kind}">`);
  for (const t of s.ticks) {
    const y = n1(b.y + b.h - inset - s.frac(t.value) * (b.h - 2 * inset));
    o.push(
      `<line class="grid" x1="${n1(b.x)}" y1="${y}" x2="${
        n1(b.x + b.w)
      }" y2="${y}" stroke="#dddddd" stroke-width="1"/>`,
    );
    o.push(
      `<g class="tick"><line x1="${n1(b.x - 5)}" y1="${y}" x2="${
        n1(b.x)
      }" y2="${y}" stroke="#000000"/><text class="tick-label" x="${n1(b.x - 8)}" y="${
        n1(Number(y) + 4)
      }" text-anchor="end">${xmlEscape(t.label)}</text></g>`,
    );
  }
  o.push(`</g>`);
}

/**
 * The x axis of a panel: grid lines, and labelled ticks under the bottom
 * edge unless `labels` is false (a panel above another that shares its x
 * axis gets grid lines only: no tick without its label). The scale runs
 * from `inset` px right of the left edge to `inset` px left of the right one,
 * so that markers at the ends stay off the axis lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { log2Scale } from "./svg_axis.ts";
 * import { xAxis } from "./svg_frame.ts";
 * const o: string[] = [];
 * xAxis(o, { x: 80, y: 40, w: 500, h: 300 }, log2Scale([2, 64], { lengthPx: 500, vertical: false }), true);
 * assert.equal(o.filter((l) => l.includes(`class="tick-label"`)).length, 6);
 * ```
 */
export function xAxis(o: string[], b: Box, s: Scale, labels: boolean, inset = 0): void {
  o.push(`<g class="x-axis" data-scale="${s.kind}">`);
  for (const t of s.ticks) {
    const x = n1(b.x + inset + s.frac(t.value) * (b.w - 2 * inset));
    o.push(
      `<line class="grid" x1="${x}" y1="${n1(b.y)}" x2="${x}" y2="${
        n1(b.y + b.h)
      }" stroke="#eeeeee" stroke-width="1"/>`,
    );
    if (!labels) continue;
    const yb = b.y + b.h;
    o.push(
      `<g class="tick"><line x1="${x}" y1="${n1(yb)}" x2="${x}" y2="${
        n1(yb + 5)
      }" stroke="#000000"/><text class="tick-label" x="${x}" y="${
        n1(yb + 19)
      }" text-anchor="middle">${xmlEscape(t.label)}</text></g>`,
    );
  }
  o.push(`</g>`);
}

/**
 * An error bar from `a` to `b` (a vertical or a horizontal segment) with a
 * cap of half-width `cap` across each end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorBar } from "./svg_frame.ts";
 * assert.match(errorBar([10, 20], [10, 40], 3, "#000000"),
 *   /d="M10\.0,20\.0 L10\.0,40\.0 M7\.0,20\.0 L13\.0,20\.0 M7\.0,40\.0 L13\.0,40\.0"/);
 * ```
 */
export function errorBar(
  a: [number, number],
  b: [number, number],
  cap: number,
  color: string,
): string {
  const across = (p: [number, number]) =>
    a[0] === b[0]
      ? `M${n1(p[0] - cap)},${n1(p[1])} L${n1(p[0] + cap)},${n1(p[1])}`
      : `M${n1(p[0])},${n1(p[1] - cap)} L${n1(p[0])},${n1(p[1] + cap)}`;
  return `<path class="error-bar" d="M${n1(a[0])},${n1(a[1])} L${n1(b[0])},${n1(b[1])} ${
    across(a)
  } ${across(b)}" stroke="${color}" stroke-width="1.2" fill="none"/>`;
}

/**
 * A category tick: its mark from (x1, y1) to (x2, y2) and the category's
 * name, one text per wrapped line (15 px apart) starting at (x, y).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { categoryTick } from "./svg_frame.ts";
 * const t = categoryTick([75, 50, 80, 50], ["modifyQp", "(RESET→RTS)"], 72, 46, "end");
 * assert.equal(t.match(/class="tick-label"/g)!.length, 2);
 * ```
 */
export function categoryTick(
  mark: [number, number, number, number],
  lines: string[],
  x: number,
  y: number,
  anchor: "start" | "middle" | "end",
): string {
  const [x1, y1, x2, y2] = mark.map(n1);
  return `<g class="tick"><line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#000000"/>${
    lines.map((l, k) =>
      `<text class="tick-label" x="${n1(x)}" y="${n1(y + k * 15)}" text-anchor="${anchor}">${
        xmlEscape(l)
      }</text>`
    ).join("")
  }</g>`;
}

/**
 * The two axis lines of a panel (left and bottom edges).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { axisLines } from "./svg_frame.ts";
 * const o: string[] = [];
 * axisLines(o, { x: 80, y: 40, w: 500, h: 300 });
 * assert.equal(o.length, 2);
 * ```
 */
export function axisLines(o: string[], b: Box): void {
  const bottom = n1(b.y + b.h);
  o.push(
    `<line class="axis" x1="${n1(b.x)}" y1="${bottom}" x2="${
      n1(b.x + b.w)
    }" y2="${bottom}" stroke="#000000" stroke-width="1.5"/>`,
  );
  o.push(
    `<line class="axis" x1="${n1(b.x)}" y1="${n1(b.y)}" x2="${
      n1(b.x)
    }" y2="${bottom}" stroke="#000000" stroke-width="1.5"/>`,
  );
}

/**
 * The rotated label of a panel's y axis, centred on it; wrapped onto two
 * lines when longer than the panel is high ({@link leftMargin} leaves room).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { yLabel } from "./svg_frame.ts";
 * const o: string[] = [];
 * yLabel(o, { x: 80, y: 40, w: 500, h: 300 }, "Latency (µs)");
 * assert.match(o[0], /transform="rotate\(-90 /);
 * ```
 */
export function yLabel(o: string[], b: Box, text: string): void {
  const lines = yLabelLines(text, b.h);
  const cy = n1(b.y + b.h / 2);
  lines.forEach((l, i) => {
    const x = 18 + i * 16;
    o.push(
      `<text class="axis-label y-label" x="${x}" y="${cy}" text-anchor="middle" font-size="${LABEL_FONT}" transform="rotate(-90 ${x} ${cy})">${
        xmlEscape(l)
      }</text>`,
    );
  });
}

/**
 * The lines a rotated y axis label is drawn on for a panel `height` px high.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { yLabelLines } from "./svg_frame.ts";
 * assert.deepEqual(yLabelLines("Ratio to native (×)", 300), ["Ratio to native (×)"]);
 * assert.equal(yLabelLines("Ratio to native (×)", 90).length, 2);
 * ```
 */
export function yLabelLines(text: string, height: number): string[] {
  if (textWidth(text, LABEL_FONT) <= height - 4) return [text];
  const lines = wrapText(text, height - 4, LABEL_FONT);
  return lines.length <= 2 ? lines : [lines[0], lines.slice(1).join(" ")];
}

/**
 * The left margin a panel needs for its y label and tick labels, px.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { leftMargin } from "./svg_frame.ts";
 * assert.equal(leftMargin(["Latency (µs)"], 300, 20), 61);
 * ```
 */
export function leftMargin(labels: string[], heightPx: number, tickW: number): number {
  const lines = Math.max(1, ...labels.map((l) => yLabelLines(l, heightPx).length));
  // Rotated label baseline at x = 18 (+16 per extra line), its descent to the
  // right of it; then a gap, the tick labels, 8 px, the 5 px tick.
  return Math.ceil(18 + (lines - 1) * 16 + LABEL_FONT * DESCENT + 6 + tickW + 13);
}
