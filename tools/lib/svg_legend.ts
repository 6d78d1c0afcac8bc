/**
 * The legend of a chart: entries in centred rows below the plot (never on
 * the data), then notes (what coincides, what bands and dashed lines mean).
 *
 * @module
 */
import { barFill, FONT, marker, n1, type SeriesStyle } from "./svg_style.ts";
import { ASCENT, textWidth, wrapText, xmlEscape } from "./svg_text.ts";

/**
 * One legend entry: a line sample with its marker, or a filled swatch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LegendEntry } from "./svg_legend.ts";
 * import { seriesStyle } from "./svg_style.ts";
 * const e: LegendEntry = { label: "native", style: seriesStyle(0), sample: "line" };
 * assert.equal(e.sample, "line");
 * ```
 */
export interface LegendEntry {
  /** Series label. */
  label: string;
  /** Its style. */
  style: SeriesStyle;
  /** Line with marker (line charts) or filled swatch (bar charts). */
  sample: "line" | "swatch";
  /** Index of the series (for the bar fill pattern). */
  index?: number;
  /** A shaded band is drawn behind the line sample. */
  band?: boolean;
}

const SAMPLE_W = 34, SWATCH_W = 20;
const sampleWidth = (e: LegendEntry) => e.sample === "line" ? SAMPLE_W : SWATCH_W;
const entryWidth = (e: LegendEntry) => sampleWidth(e) + 6 + textWidth(e.label, FONT);

/**
 * Rows of legend entries that fit in `width` px (20 px apart), plus the
 * note lines under them; the height this takes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { legendHeight } from "./svg_legend.ts";
 * import { seriesStyle } from "./svg_style.ts";
 * const e = { label: "native", style: seriesStyle(0), sample: "line" as const };
 * assert.equal(legendHeight([e, e], [], 600), 20);
 * assert.equal(legendHeight([e], ["a note"], 600), 38);
 * ```
 */
export function legendHeight(entries: LegendEntry[], notes: string[], width: number): number {
  return legendRows(entries, width).length * 20 +
    notes.flatMap((n) => wrapText(n, width, FONT)).length * 18;
}

function legendRows(entries: LegendEntry[], width: number): LegendEntry[][] {
  const rows: LegendEntry[][] = [];
  let row: LegendEntry[] = [], used = 0;
  for (const e of entries) {
    const w = entryWidth(e) + (row.length ? 24 : 0);
    if (row.length && used + w > width) {
      rows.push(row);
      row = [];
      used = 0;
    }
    row.push(e);
    used += row.length > 1 ? w : entryWidth(e);
  }
  if (row.length) rows.push(row);
  return rows;
}

/**
 * The legend: entries in centred rows starting at `top`, within `left` ..
 * `left + width`, then the notes (one wrapped paragraph each).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { legend } from "./svg_legend.ts";
 * import { seriesStyle } from "./svg_style.ts";
 * const o: string[] = [];
 * legend(o, [{ label: "native", style: seriesStyle(0), sample: "line" }], ["n"], 20, 400, 600);
 * assert.match(o.join("\n"), /<g class="legend-entry" data-label="native">/);
 * assert.match(o.join("\n"), /class="note"/);
 * ```
 */
export function legend(
  o: string[],
  entries: LegendEntry[],
  notes: string[],
  left: number,
  top: number,
  width: number,
): void {
  o.push(`<g class="legend">`);
  let y = top;
  for (const row of legendRows(entries, width)) {
    const total = row.reduce((a, e) => a + entryWidth(e), 0) + 24 * (row.length - 1);
    let x = left + (width - total) / 2;
    const cy = y + 10;
    for (const e of row) {
      o.push(`<g class="legend-entry" data-label="${xmlEscape(e.label)}">`);
      const s = e.style;
      if (e.sample === "line") {
        if (e.band) {
          o.push(
            `<rect x="${n1(x)}" y="${
              n1(cy - 7)
            }" width="${SAMPLE_W}" height="14" fill="${s.color}" fill-opacity="0.18"/>`,
          );
        }
        o.push(
          `<line x1="${n1(x)}" y1="${n1(cy)}" x2="${n1(x + SAMPLE_W)}" y2="${
            n1(cy)
          }" stroke="${s.color}" stroke-width="${s.width}"${
            s.dash ? ` stroke-dasharray="${s.dash}"` : ""
          }/>`,
        );
        o.push(marker(s, x + SAMPLE_W / 2, cy));
      } else {
        o.push(
          `<rect x="${n1(x)}" y="${n1(cy - 7)}" width="${SWATCH_W}" height="14" fill="${
            barFill(s, e.index ?? 0)
          }" stroke="#000000" stroke-width="0.8"/>`,
        );
      }
      o.push(
        `<text x="${n1(x + sampleWidth(e) + 6)}" y="${n1(cy + FONT * ASCENT / 2)}">${
          xmlEscape(e.label)
        }</text>`,
      );
      o.push(`</g>`);
      x += entryWidth(e) + 24;
    }
    y += 20;
  }
  for (const n of notes) {
    for (const l of wrapText(n, width, FONT)) {
      o.push(
        `<text class="note" x="${n1(left + width / 2)}" y="${
          n1(y + 13)
        }" text-anchor="middle" font-style="italic">${xmlEscape(l)}</text>`,
      );
      y += 18;
    }
  }
  o.push(`</g>`);
}
