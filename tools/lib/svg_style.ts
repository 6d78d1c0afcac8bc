/**
 * How the charts look: font sizes, and the style of each series — colour,
 * dash pattern, marker (filled and hollow alternate) and bar fill pattern —
 * chosen so that series stay apart in grayscale and when one lies exactly
 * on another.
 *
 * @module
 */

/**
 * Base font size of the charts, px (tick labels, legend, value labels): at
 * 720 px width, above the 11 px `svg_check.ts` asks for.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FONT } from "./svg_style.ts";
 * assert.equal(FONT, 12);
 * ```
 */
export const FONT = 12;
/**
 * Axis label font size, px.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FONT, LABEL_FONT } from "./svg_style.ts";
 * assert.ok(LABEL_FONT > FONT);
 * ```
 */
export const LABEL_FONT = 13;
/**
 * Title font size, px.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LABEL_FONT, TITLE_FONT } from "./svg_style.ts";
 * assert.ok(TITLE_FONT > LABEL_FONT);
 * ```
 */
export const TITLE_FONT = 16;

/**
 * A marker shape; hollow ones are drawn white inside so one on top of a
 * filled one stays visible.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MarkerKind } from "./svg_style.ts";
 * const m: MarkerKind = "square";
 * assert.equal(m, "square");
 * ```
 */
export type MarkerKind = "circle" | "square" | "triangle" | "diamond" | "triangle-down";

/**
 * How series number `i` is drawn.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seriesStyle, type SeriesStyle } from "./svg_style.ts";
 * const s: SeriesStyle = seriesStyle(1);
 * assert.equal(s.hollow, true);
 * ```
 */
export interface SeriesStyle {
  /** Stroke and fill colour. */
  color: string;
  /** `stroke-dasharray` of its line ("" for solid). */
  dash: string;
  /** Line width, px. */
  width: number;
  /** Marker shape. */
  marker: MarkerKind;
  /** Marker drawn as an outline. */
  hollow: boolean;
  /** Bar fill pattern (none for the first series). */
  pattern: "solid" | "diagonal" | "crosshatch" | "dots" | "horizontal" | "backdiagonal";
}

// Okabe–Ito colours (distinct for colour-blind readers); dash, marker, hollow
// and bar pattern differ from one series to the next so that the series stay
// apart in grayscale and when one lies exactly on another.
const COLORS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"];
const DASHES = ["", "8 4", "2 3", "10 3 2 3", "5 5", "1 3", "12 4"];
const MARKERS: MarkerKind[] = ["circle", "square", "triangle", "diamond", "triangle-down"];
const PATTERNS: SeriesStyle["pattern"][] = [
  "solid",
  "diagonal",
  "dots",
  "crosshatch",
  "horizontal",
  "backdiagonal",
];

/**
 * The style of series `i` (cycling after seven colours).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { seriesStyle } from "./svg_style.ts";
 * assert.equal(seriesStyle(0).dash, "");
 * assert.notEqual(seriesStyle(1).marker, seriesStyle(0).marker);
 * ```
 */
export function seriesStyle(i: number): SeriesStyle {
  return {
    color: COLORS[i % COLORS.length],
    dash: DASHES[i % DASHES.length],
    width: i === 0 ? 2.5 : 2,
    marker: MARKERS[i % MARKERS.length],
    hollow: i % 2 === 1,
    pattern: PATTERNS[i % PATTERNS.length],
  };
}

/**
 * A number for an SVG attribute: one decimal, never `-0.0` (so the same
 * drawing always gives the same bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { n1 } from "./svg_style.ts";
 * assert.deepEqual([n1(3.14159), n1(-0.01), n1(2)], ["3.1", "0.0", "2.0"]);
 * ```
 */
export const n1 = (v: number): string => {
  const s = v.toFixed(1);
  return s === "-0.0" ? "0.0" : s;
};

/**
 * A marker centred on (x, y).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { marker, seriesStyle } from "./svg_style.ts";
 * assert.equal(marker(seriesStyle(0), 10, 20), `<circle cx="10.0" cy="20.0" r="4.0" fill="#0072b2"/>`);
 * ```
 */
export function marker(s: SeriesStyle, x: number, y: number): string {
  const paint = s.hollow
    ? `fill="#ffffff" stroke="${s.color}" stroke-width="1.6"`
    : `fill="${s.color}"`;
  const poly = (pts: [number, number][]) =>
    `<path d="M${pts.map(([a, b]) => `${n1(x + a)},${n1(y + b)}`).join(" L")} Z" ${paint}/>`;
  switch (s.marker) {
    case "square":
      return `<rect x="${n1(x - 3.6)}" y="${n1(y - 3.6)}" width="7.2" height="7.2" ${paint}/>`;
    case "triangle":
      return poly([[0, -5], [4.6, 3.4], [-4.6, 3.4]]);
    case "triangle-down":
      return poly([[0, 5], [4.6, -3.4], [-4.6, -3.4]]);
    case "diamond":
      return poly([[0, -5.2], [5.2, 0], [0, 5.2], [-5.2, 0]]);
    default:
      return `<circle cx="${n1(x)}" cy="${n1(y)}" r="4.0" ${paint}/>`;
  }
}

/**
 * The fill of a bar of style `s`: its colour, or a pattern (defined by
 * {@link patternDefs}) of white or black lines or dots over it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { barFill, seriesStyle } from "./svg_style.ts";
 * assert.equal(barFill(seriesStyle(0), 0), "#0072b2");
 * assert.equal(barFill(seriesStyle(1), 1), "url(#fill-1)");
 * ```
 */
export function barFill(s: SeriesStyle, i: number): string {
  return s.pattern === "solid" ? s.color : `url(#fill-${i})`;
}

/**
 * `<defs>` with the fill patterns of the first `n` series.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { patternDefs } from "./svg_style.ts";
 * assert.match(patternDefs(2), /<pattern id="fill-1"/);
 * assert.equal(patternDefs(1), "");
 * ```
 */
export function patternDefs(n: number): string {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const s = seriesStyle(i);
    if (s.pattern === "solid") continue;
    const bg = `<rect x="0" y="0" width="8" height="8" fill="${s.color}"/>`;
    // White marks lighten a bar, black ones darken it: neighbours in the
    // palette then differ in gray level as well as in texture.
    const w = `stroke="#ffffff" stroke-width="2"`, k = `stroke="#000000" stroke-width="1.2"`;
    const body = {
      diagonal: `${bg}<path d="M-2,2 L2,-2 M0,8 L8,0 M6,10 L10,6" ${w}/>`,
      backdiagonal: `${bg}<path d="M-2,6 L2,10 M0,0 L8,8 M6,-2 L10,2" ${k}/>`,
      crosshatch: `${bg}<path d="M0,8 L8,0 M0,0 L8,8" stroke="#ffffff" stroke-width="1.4"/>`,
      horizontal: `${bg}<path d="M0,2 L8,2 M0,6 L8,6" ${k}/>`,
      dots:
        `${bg}<circle cx="2" cy="2" r="1.6" fill="#000000"/><circle cx="6" cy="6" r="1.6" fill="#000000"/>`,
    }[s.pattern];
    out.push(
      `<pattern id="fill-${i}" patternUnits="userSpaceOnUse" x="0" y="0" width="8" height="8">${body}</pattern>`,
    );
  }
  return out.length ? `<defs>\n${out.join("\n")}\n</defs>` : "";
}
