/**
 * Checks of the SVG charts the tools write, for the tests and for anyone
 * post-processing the charts: well-formed XML (balanced tags, one root
 * `<svg>`, quoted attributes, escaped text), a title, axes with a label (and
 * a unit) and a label on every tick, a legend entry for every series that
 * stays off the plot area, a value on every bar, no text outside the
 * picture or smaller than 11 px at 720 px width, no overlapping tick
 * labels, and no NaN or Infinity in any coordinate.
 *
 * It reads the element classes `svg_frame.ts` and `svg_legend.ts` write (`panel`,
 * `plot-area`, `x-axis`, `y-axis`, `tick`, `tick-label`, `axis`,
 * `axis-label`, `series`, `legend`, `legend-entry`, `bar`, `value-label`).
 * Text extents are estimated with `svg_text.ts` (DejaVu Sans widths, an upper
 * bound for the fonts the charts name).
 *
 * @module
 */
import { ASCENT, DESCENT, textWidth, xmlUnescape } from "./svg_text.ts";

/**
 * An element of a parsed SVG document.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSvg, type SvgElement } from "./svg_check.ts";
 * const root: SvgElement = parseSvg(`<svg><text x="1">a &amp; b</text></svg>`).root!;
 * assert.equal(root.children[0].text, "a & b");
 * ```
 */
export interface SvgElement {
  /** Tag name. */
  name: string;
  /** Attributes, values unescaped. */
  attrs: Record<string, string>;
  /** Child elements. */
  children: SvgElement[];
  /** Text content of the element itself (not of its children), unescaped. */
  text: string;
  /** Enclosing element (undefined for the root). */
  parent?: SvgElement;
}

/**
 * Parse an SVG document into elements, with the well-formedness problems
 * found on the way (unbalanced or unquoted markup, several roots).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSvg } from "./svg_check.ts";
 * assert.deepEqual(parseSvg("<svg><g></svg>").problems, ["</svg> closes <g>"]);
 * assert.deepEqual(parseSvg("<svg><g>").problems, ["unclosed tags: svg, g"]);
 * ```
 */
export function parseSvg(svg: string): { root?: SvgElement; problems: string[] } {
  const p: string[] = [];
  const body = svg.replace(/^<\?xml[^>]*\?>\s*/, "").replace(/<!--[\s\S]*?-->/g, "");
  const stack: SvgElement[] = [];
  const roots: SvgElement[] = [];
  let last = 0;
  for (
    const m of body.matchAll(
      /<(\/?)([A-Za-z][\w:-]*)((?:\s+[^\s=>/]+=(?:"[^"]*"|'[^']*'|[^\s"'>/]+))*)\s*(\/?)>/g,
    )
  ) {
    const between = body.slice(last, m.index);
    last = m.index! + m[0].length;
    if (between.includes("<")) p.push(`malformed markup: ${between.trim().slice(0, 60)}`);
    if (stack.length && between.trim()) stack[stack.length - 1].text += xmlUnescape(between);
    const [, close, name, attrText, self] = m;
    if (close) {
      const open = stack.at(-1);
      if (open?.name !== name) p.push(`</${name}> closes <${open?.name}>`);
      // Recover at the matching open tag, if there is one.
      if (stack.some((e) => e.name === name)) { while (stack.pop()?.name !== name); }
      continue;
    }
    const attrs: Record<string, string> = {};
    for (const a of attrText.matchAll(/\s([^\s=>/]+)=("[^"]*"|'[^']*'|[^\s"'>/]+)/g)) {
      if (!/^["']/.test(a[2])) p.push(`unquoted attribute ${a[1]} on <${name}>`);
      attrs[a[1]] = xmlUnescape(a[2].replace(/^["']|["']$/g, ""));
    }
    const el: SvgElement = { name, attrs, children: [], text: "", parent: stack.at(-1) };
    if (el.parent) el.parent.children.push(el);
    else roots.push(el);
    if (!self) stack.push(el);
  }
  const tail = body.slice(last);
  if (tail.includes("<")) p.push(`malformed markup: ${tail.trim().slice(0, 60)}`);
  if (stack.length) p.push(`unclosed tags: ${stack.map((e) => e.name).join(", ")}`);
  if (roots.length !== 1) p.push(`${roots.length} root elements`);
  return { root: roots[0], problems: p };
}

/** All elements under (and including) `e` that satisfy `pred`, in document order. */
function all(e: SvgElement | undefined, pred: (e: SvgElement) => boolean): SvgElement[] {
  if (!e) return [];
  const out: SvgElement[] = pred(e) ? [e] : [];
  for (const c of e.children) out.push(...all(c, pred));
  return out;
}

const hasClass = (e: SvgElement, c: string) => (e.attrs.class ?? "").split(/\s+/).includes(c);
const cls = (c: string) => (e: SvgElement) => hasClass(e, c);

/** An attribute inherited from the nearest element that sets it. */
function inherited(e: SvgElement | undefined, attr: string): string | undefined {
  for (let x = e; x; x = x.parent) if (x.attrs[attr] !== undefined) return x.attrs[attr];
  return undefined;
}

/**
 * A rectangle in the document's coordinates.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Rect } from "./svg_check.ts";
 * const r: Rect = { x0: 0, y0: 0, x1: 10, y1: 5 };
 * assert.equal(r.x1 - r.x0, 10);
 * ```
 */
export interface Rect {
  /** Left. */
  x0: number;
  /** Top. */
  y0: number;
  /** Right. */
  x1: number;
  /** Bottom. */
  y1: number;
}

const num = (e: SvgElement, a: string, d = 0) => {
  const v = parseFloat(e.attrs[a] ?? "");
  return Number.isFinite(v) ? v : d;
};

/** Font size of a text element in px (inherited, default 16 as in CSS). */
function fontSize(e: SvgElement): number {
  return parseFloat(inherited(e, "font-size") ?? "16") || 16;
}

/**
 * Estimated extent of a `<text>` element: its width from the font's
 * advance widths, its anchor, ascent and descent, and a `rotate(a cx cy)`
 * transform. Undefined for empty text or other transforms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSvg, textBox } from "./svg_check.ts";
 * const t = parseSvg(`<text x="100" y="50" font-size="10" text-anchor="end">000</text>`).root!;
 * const b = textBox(t)!;
 * assert.equal(Math.round(b.x0), 81);
 * assert.equal(b.x1, 100);
 * ```
 */
export function textBox(e: SvgElement): Rect | undefined {
  if (!e.text.trim()) return undefined;
  const fs = fontSize(e);
  const bold = /bold|[6-9]00/.test(inherited(e, "font-weight") ?? "");
  const w = textWidth(e.text, fs, bold);
  const x = num(e, "x"), y = num(e, "y");
  const anchor = inherited(e, "text-anchor") ?? "start";
  const x0 = anchor === "middle" ? x - w / 2 : anchor === "end" ? x - w : x;
  const box: Rect = { x0, y0: y - ASCENT * fs, x1: x0 + w, y1: y + DESCENT * fs };
  const t = e.attrs.transform;
  if (!t) return box;
  const m = t.match(/^\s*rotate\(\s*(-?[\d.]+)(?:[\s,]+(-?[\d.]+)[\s,]+(-?[\d.]+))?\s*\)\s*$/);
  if (!m) return undefined;
  const a = (parseFloat(m[1]) * Math.PI) / 180;
  const cx = parseFloat(m[2] ?? "0"), cy = parseFloat(m[3] ?? "0");
  const pts = [[box.x0, box.y0], [box.x1, box.y0], [box.x0, box.y1], [box.x1, box.y1]].map((
    [px, py],
  ) => [
    cx + (px - cx) * Math.cos(a) - (py - cy) * Math.sin(a),
    cy + (px - cx) * Math.sin(a) + (py - cy) * Math.cos(a),
  ]);
  return {
    x0: Math.min(...pts.map((q) => q[0])),
    y0: Math.min(...pts.map((q) => q[1])),
    x1: Math.max(...pts.map((q) => q[0])),
    y1: Math.max(...pts.map((q) => q[1])),
  };
}

/** Extent of a drawn shape (text, rect, line, circle, path with absolute coordinates). */
function shapeBox(e: SvgElement): Rect | undefined {
  switch (e.name) {
    case "text":
      return textBox(e);
    case "rect":
      return {
        x0: num(e, "x"),
        y0: num(e, "y"),
        x1: num(e, "x") + num(e, "width"),
        y1: num(e, "y") + num(e, "height"),
      };
    case "line":
      return {
        x0: Math.min(num(e, "x1"), num(e, "x2")),
        y0: Math.min(num(e, "y1"), num(e, "y2")),
        x1: Math.max(num(e, "x1"), num(e, "x2")),
        y1: Math.max(num(e, "y1"), num(e, "y2")),
      };
    case "circle":
      return {
        x0: num(e, "cx") - num(e, "r"),
        y0: num(e, "cy") - num(e, "r"),
        x1: num(e, "cx") + num(e, "r"),
        y1: num(e, "cy") + num(e, "r"),
      };
    case "path": {
      const xy = [...(e.attrs.d ?? "").matchAll(/(-?[\d.]+),(-?[\d.]+)/g)].map((
        m,
      ) => [parseFloat(m[1]), parseFloat(m[2])]);
      if (!xy.length) return undefined;
      return {
        x0: Math.min(...xy.map((q) => q[0])),
        y0: Math.min(...xy.map((q) => q[1])),
        x1: Math.max(...xy.map((q) => q[0])),
        y1: Math.max(...xy.map((q) => q[1])),
      };
    }
  }
  return undefined;
}

/** Whether two rectangles overlap by more than `tol` px both ways. */
function overlap(a: Rect, b: Rect, tol = 0.5): boolean {
  return a.x0 < b.x1 - tol && b.x0 < a.x1 - tol && a.y0 < b.y1 - tol && b.y0 < a.y1 - tol;
}

/**
 * The plot areas of a chart (one per panel), in the document's px.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lineChart } from "./svg_chart.ts";
 * import { plotAreas } from "./svg_check.ts";
 * const svg = lineChart({ title: "t", xLabel: "x (B)", yLabel: "y (µs)",
 *   series: [{ label: "a", points: [[1, 1], [2, 2]] }] });
 * assert.equal(plotAreas(svg).length, 1);
 * ```
 */
export function plotAreas(svg: string): Rect[] {
  return all(parseSvg(svg).root, cls("plot-area")).map((e) => shapeBox(e)!);
}

const short = (s: string) => (s.length > 40 ? `${s.slice(0, 37)}…` : s);

/**
 * Problems found in a chart (empty when it passes). `legend`: labels that
 * must have a legend entry (besides every series drawn). `minFontPx`: the
 * smallest font size allowed at 720 px width (default 11; scaled with the
 * chart's width).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { svgProblems } from "./svg_check.ts";
 * import { lineChart } from "./svg_chart.ts";
 * assert.equal(svgProblems("<svg>", [])[0], "missing XML declaration");
 * const svg = lineChart({ title: "Latency", xLabel: "Message size (bytes)", yLabel: "Latency (µs)",
 *   series: [{ label: "native", points: [[2, 4.5], [1024, 7]] }] });
 * assert.deepEqual(svgProblems(svg, ["native"]), []);
 * assert.deepEqual(svgProblems(svg.replace(`y2="`, `y2="NaN`), []),
 *   ["non-finite number in <line y2>"]);
 * ```
 */
export function svgProblems(
  svg: string,
  legend: string[] = [],
  opts: { minFontPx?: number } = {},
): string[] {
  const p: string[] = [];
  if (!svg.startsWith("<?xml")) p.push("missing XML declaration");
  const { root, problems } = parseSvg(svg);
  p.push(...problems);
  const body = svg.replace(/^<\?xml[^>]*\?>\s*/, "");
  if (!/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/.test(body)) {
    p.push("root is not <svg xmlns=…>");
  }
  if (/&(?!amp;|lt;|gt;|quot;|apos;|#)/.test(body)) p.push("unescaped &");
  if (!root) return p;
  const els = all(root, () => true);

  // Numbers.
  for (const e of els) {
    for (const [a, v] of Object.entries(e.attrs)) {
      if (a === "class" || a.startsWith("data-") || a === "id") continue;
      if (/NaN|Infinity/.test(v)) p.push(`non-finite number in <${e.name} ${a}>`);
    }
  }

  // Size and text placement.
  const vb = (root.attrs.viewBox ?? "").split(/[\s,]+/).map(Number);
  const W = vb.length === 4 ? vb[2] : num(root, "width"),
    H = vb.length === 4 ? vb[3] : num(root, "height");
  if (!(W > 0 && H > 0)) p.push("no width/height or viewBox");
  if (!all(root, (e) => e.name === "title" && e.text.trim() !== "").length) p.push("no <title>");
  const minFont = (opts.minFontPx ?? 11) * (W > 0 ? W / 720 : 1);
  for (const t of all(root, (e) => e.name === "text" && e.text.trim() !== "")) {
    const fs = fontSize(t);
    if (fs < minFont - 1e-9) p.push(`text '${short(t.text)}' is ${fs} px (minimum ${minFont} px)`);
    const b = textBox(t);
    if (b && W > 0 && (b.x0 < -0.5 || b.y0 < -0.5 || b.x1 > W + 0.5 || b.y1 > H + 0.5)) {
      p.push(`text '${short(t.text)}' extends outside the ${W}×${H} viewBox`);
    }
  }

  // Panels and axes.
  const panels = all(root, cls("panel"));
  if (!panels.length) p.push("no panel");
  for (const pn of panels) {
    const name = pn.attrs["data-panel"] ?? "?";
    const n = all(pn, cls("axis")).length;
    if (n !== 2) p.push(`panel ${name}: ${n} axis lines (want 2)`);
    if (!all(pn, cls("plot-area")).length) p.push(`panel ${name}: no plot area`);
  }
  const axes = all(root, (e) => hasClass(e, "x-axis") || hasClass(e, "y-axis"));
  if (!axes.some(cls("x-axis")) || !axes.some(cls("y-axis"))) p.push("no tick groups");
  for (const ax of axes) {
    const which = hasClass(ax, "x-axis") ? "x" : "y";
    const ticks = all(ax, cls("tick"));
    for (const t of ticks) {
      if (!all(t, (e) => e.name === "line").length) p.push(`${which} tick without a tick mark`);
      const labels = all(t, (e) => hasClass(e, "tick-label") && e.text.trim() !== "");
      if (!labels.length) p.push(`${which} tick without a label`);
    }
    const loose = ax.children.filter((e) => e.name === "line" && !hasClass(e, "grid"));
    if (loose.length) p.push(`${which} axis: ${loose.length} tick marks without a label`);
    if (ax.attrs["data-kind"] !== "category" && ticks.length === 1) {
      p.push(`${which} axis: one labelled tick (a value axis needs two)`);
    }
    const boxes = all(ax, cls("tick-label")).map((e) => ({ e, b: textBox(e) }));
    for (let i = 0; i < boxes.length; i++) {
      for (let j = i + 1; j < boxes.length; j++) {
        const [a, b] = [boxes[i], boxes[j]];
        if (a.b && b.b && overlap(a.b, b.b)) {
          p.push(`${which} tick labels '${a.e.text}' and '${b.e.text}' overlap`);
        }
      }
    }
  }
  // Line charts: every point lies within the labelled ticks (no data beyond
  // the first or the last tick, as when a 2 B point has no label under it).
  if (root.attrs["data-chart"] === "line") {
    for (const pn of panels) {
      const at = (which: string, attr: "x1" | "y1") =>
        all(pn, cls(which)).flatMap((ax) =>
          all(ax, (e) => e.name === "line" && (hasClass(e, "grid") || hasClass(e.parent!, "tick")))
            .map((e) => num(e, attr))
        );
      const xt = at("x-axis", "x1"), yt = at("y-axis", "y1");
      const pts = all(pn, cls("series")).flatMap((s) =>
        all(s, (e) => e.name === "path").flatMap((e) =>
          [...(e.attrs.d ?? "").matchAll(/(-?[\d.]+),(-?[\d.]+)/g)].map((m) => [+m[1], +m[2]])
        )
      );
      if (!pts.length || !xt.length || !yt.length) continue;
      const name = pn.attrs["data-panel"] ?? "?";
      const [x0, x1] = [Math.min(...xt), Math.max(...xt)],
        [y0, y1] = [Math.min(...yt), Math.max(...yt)];
      if (pts.some(([x]) => x < x0 - 1 || x > x1 + 1)) {
        p.push(`panel ${name}: data beyond the x ticks`);
      }
      if (pts.some(([, y]) => y < y0 - 1 || y > y1 + 1)) {
        p.push(`panel ${name}: data beyond the y ticks`);
      }
    }
  }
  if (all(root, cls("tick-label")).filter((e) => e.text.trim()).length < 3) {
    p.push("fewer than 3 tick labels");
  }
  const axisLabels = all(root, cls("axis-label"));
  if (root.attrs["data-chart"] !== "bar") {
    if (!axisLabels.some(cls("y-label"))) p.push("no y axis label");
    if (!axisLabels.some(cls("x-label"))) p.push("no x axis label");
  } else if (!axisLabels.length) p.push("no axis label");
  for (const l of axisLabels) {
    if (l.attrs["data-kind"] === "category") continue;
    // A wrapped label carries its unit on its last line.
    const next = l.parent?.children[l.parent.children.indexOf(l) + 1];
    if (next && hasClass(next, "axis-label") && next.attrs.y === l.attrs.y) continue;
    if (!/\([^)]+\)/.test(l.text)) p.push(`axis label '${short(l.text)}' names no unit`);
  }

  // Legend: an entry per series, off the plot areas.
  const leg = all(root, cls("legend"));
  if (!leg.length) p.push("no legend");
  const entries = all(root, cls("legend-entry"));
  const entryText = (e: SvgElement) => all(e, (x) => x.name === "text").map((x) => x.text).join("");
  const have = new Set(entries.map(entryText));
  const series = [...new Set(all(root, cls("series")).map((e) => e.attrs["data-label"] ?? ""))];
  for (const s of series) if (!have.has(s)) p.push(`series '${s}' has no legend entry`);
  for (const l of legend) {
    if (!have.has(l) && !have.has(xmlUnescape(l))) p.push(`legend entry '${l}' missing`);
  }
  const areas = all(root, cls("plot-area")).map((e) => shapeBox(e)!);
  for (const e of leg.flatMap((g) => all(g, (x) => x.children.length === 0))) {
    const b = shapeBox(e);
    if (b && areas.some((a) => overlap(a, b))) {
      p.push(`legend ${e.name}${e.text ? ` '${short(e.text)}'` : ""} overlaps the plot area`);
    }
  }

  // Bars: a value on each (value labels sit in the series' group or in a
  // `values` group with the same label).
  const seriesLabels = new Set(all(root, cls("series")).map((e) => e.attrs["data-label"] ?? ""));
  for (const label of seriesLabels) {
    const groups = all(
      root,
      (e) => (hasClass(e, "series") || hasClass(e, "values")) && e.attrs["data-label"] === label,
    );
    const bars = groups.flatMap((g) => all(g, cls("bar"))).length;
    const values = groups.flatMap((g) =>
      all(g, (e) => hasClass(e, "value-label") && e.text.trim() !== "")
    ).length;
    if (bars > values) p.push(`series '${label}': ${bars - values} bars without a value label`);
  }
  const values = all(root, cls("value-label")).map((e) => ({ e, b: textBox(e) }));
  for (let i = 0; i < values.length; i++) {
    for (let j = i + 1; j < values.length; j++) {
      const [a, b] = [values[i], values[j]];
      if (a.b && b.b && overlap(a.b, b.b)) {
        p.push(`value labels '${a.e.text}' and '${b.e.text}' overlap`);
      }
    }
  }
  return p;
}
