/**
 * Text in the charts: XML escaping, and how wide a label will be when drawn,
 * so the layout can keep labels apart and inside the picture without a
 * browser to measure them.
 *
 * Widths are the advance widths of DejaVu Sans (what fontconfig substitutes
 * for "Helvetica, Arial, sans-serif" on a Linux machine without those fonts,
 * and wider than both), so an estimate is an upper bound for the fonts the
 * charts name.
 *
 * @module
 */

/**
 * Escape text for XML content and attributes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { xmlEscape } from "./svg_text.ts";
 * assert.equal(xmlEscape(`a<b & "c"`), "a&lt;b &amp; &quot;c&quot;");
 * ```
 */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/**
 * Undo {@link xmlEscape} (and numeric character references).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { xmlUnescape } from "./svg_text.ts";
 * assert.equal(xmlUnescape("a&lt;b &amp; &#181;s"), "a<b & µs");
 * ```
 */
export function xmlUnescape(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#\d+|lt|gt|quot|apos|amp);/g, (_m, e: string) => {
    if (e[0] === "#") {
      return String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1)));
    }
    return { lt: "<", gt: ">", quot: '"', apos: "'", amp: "&" }[e as "lt"]!;
  });
}

// DejaVu Sans Book advance widths in em (units per em 2048), by character.
const EM: Record<string, number> = {};
const set = (chars: string, w: number) => {
  for (const c of chars) EM[c] = w;
};
set("0123456789", 0.636);
set("abdghnopqu", 0.634);
set("ce", 0.6);
set("f", 0.352);
set("ijlI|", 0.278);
set("k", 0.579);
set("m", 0.974);
set("r", 0.411);
set("s", 0.521);
set("t", 0.392);
set("vxyz", 0.592);
set("w", 0.818);
set("ABCKRXVY", 0.7);
set("DGHNOQU", 0.787);
set("EFLPTSZ", 0.64);
set("J", 0.295);
set("M", 0.863);
set("W", 0.989);
set(" .,:;'", 0.318);
set("!", 0.401);
set("()[]{}", 0.39);
set("-", 0.361);
set("/\\", 0.337);
set('"', 0.46);
set("_*?", 0.5);
set("–", 0.5);
set("—", 1);
set("µ", 0.636);
set("%", 0.95);
set("&", 0.78);
set("#+=<>~^×÷→±·≈≤≥", 0.838);

/**
 * Estimated width in px of `text` at `fontSize` px (bold about 10 % wider).
 * An upper bound for Helvetica and Arial; characters not in the table count
 * as wide as an `M`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { textWidth } from "./svg_text.ts";
 * assert.equal(Math.round(textWidth("16K", 12)), 24);
 * assert.ok(textWidth("bold", 16, true) > textWidth("bold", 16));
 * ```
 */
export function textWidth(text: string, fontSize: number, bold = false): number {
  let em = 0;
  for (const c of text) em += EM[c] ?? 0.863;
  return em * fontSize * (bold ? 1.1 : 1);
}

/**
 * Ascent of capitals and digits above the baseline, in em (DejaVu Sans: 0.73).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ASCENT } from "./svg_text.ts";
 * assert.equal(Math.round(12 * ASCENT), 9); // a 12 px digit rises 9 px
 * ```
 */
export const ASCENT = 0.76;
/**
 * Descent below the baseline, in em (DejaVu Sans: 0.24).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ASCENT, DESCENT } from "./svg_text.ts";
 * assert.equal(ASCENT + DESCENT, 1);
 * ```
 */
export const DESCENT = 0.24;

/**
 * Break `text` at spaces into lines no wider than `maxWidth` px (a single
 * word wider than that stays whole on its own line).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wrapText } from "./svg_text.ts";
 * assert.deepEqual(wrapText("modifyQp (RESET→RTS)", 80, 12), ["modifyQp", "(RESET→RTS)"]);
 * assert.deepEqual(wrapText("createQp", 80, 12), ["createQp"]);
 * ```
 */
export function wrapText(text: string, maxWidth: number, fontSize: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ").filter((w) => w !== "")) {
    const next = line ? `${line} ${word}` : word;
    if (line && textWidth(next, fontSize) > maxWidth) {
      lines.push(line);
      line = word;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines.length ? lines : [""];
}
