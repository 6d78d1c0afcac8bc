/**
 * Axes of the charts: where a value lands along an axis (linear, base-2 or
 * base-10 logarithmic) and which ticks it gets. Every tick this module
 * returns carries a label, the axis ends are always ticks (the first and the
 * last message size included), and ticks are thinned, never crowded: two
 * neighbouring labels keep a gap.
 *
 * @module
 */
import { textWidth } from "./svg_text.ts";

/**
 * One labelled tick.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Tick } from "./svg_axis.ts";
 * const t: Tick = { value: 1024, label: "1K" };
 * assert.equal(t.label, "1K");
 * ```
 */
export interface Tick {
  /** Data value. */
  value: number;
  /** Text drawn beside the tick. */
  label: string;
}

/**
 * A data axis: how values map onto it, and its ticks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linearScale, type Scale } from "./svg_axis.ts";
 * const s: Scale = linearScale([3, 9.3], { lengthPx: 300, vertical: true });
 * assert.equal(s.frac(0), 0);
 * assert.equal(s.frac(10), 1);
 * ```
 */
export interface Scale {
  /** Linear, base-2 or base-10 logarithmic. */
  kind: "linear" | "log2" | "log10";
  /** Position of `v` along the axis, 0 at the first tick and 1 at the last. */
  frac(v: number): number;
  /** Whether `v` can be drawn on this axis (finite; positive on a log axis). */
  drawable(v: number): boolean;
  /** Labelled ticks, in increasing value; the first is at 0 and the last at 1. */
  ticks: Tick[];
}

/**
 * How to lay out the ticks of an axis.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AxisLayout } from "./svg_axis.ts";
 * const l: AxisLayout = { lengthPx: 600, vertical: false, fontSize: 12 };
 * assert.equal(l.vertical, false);
 * ```
 */
export interface AxisLayout {
  /** Length of the axis in px. */
  lengthPx: number;
  /** A y axis (labels stacked vertically) or an x axis (labels side by side). */
  vertical: boolean;
  /** Tick label font size in px (default 12). */
  fontSize?: number;
  /** Tick label text (default: {@link tickLabel}). */
  format?: (v: number) => string;
}

const clean = (v: number) => Number(v.toPrecision(12));

/**
 * The "nice" step (1, 2, 2.5 or 5 × 10^k) at least `raw`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { niceStep } from "./svg_axis.ts";
 * assert.equal(niceStep(1.86), 2);
 * assert.equal(niceStep(0.065), 0.1);
 * ```
 */
export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const mag = 10 ** Math.floor(Math.log10(raw));
  return clean([1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw * (1 - 1e-9))!);
}

/**
 * "Nice" linear ticks from 0 to at least `max` (about `target` steps).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { niceTicks } from "./svg_axis.ts";
 * assert.deepEqual(niceTicks(9.3), [0, 2, 4, 6, 8, 10]);
 * ```
 */
export function niceTicks(max: number, target = 5): number[] {
  if (!(max > 0) || !Number.isFinite(max)) return [0, 1];
  return niceRange(0, max, target);
}

/**
 * "Nice" linear ticks covering `lo`..`hi` (about `target` steps): the first
 * tick is at or below `lo`, the last at or above `hi`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { niceRange } from "./svg_axis.ts";
 * assert.deepEqual(niceRange(0.74, 1.02, 4), [0.7, 0.8, 0.9, 1, 1.1]);
 * assert.deepEqual(niceRange(5, 5), [4, 4.5, 5, 5.5, 6]);
 * ```
 */
export function niceRange(lo: number, hi: number, target = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [0, 1];
  if (hi < lo) [lo, hi] = [hi, lo];
  if (hi === lo) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.2;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep((hi - lo) / Math.max(1, target));
  const a = Math.floor(clean(lo / step)), b = Math.ceil(clean(hi / step));
  const out: number[] = [];
  for (let k = a; k <= b; k++) out.push(clean(k * step));
  return out;
}

/**
 * A byte count with a binary suffix: 1K, 64K, 1M.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sizeLabel } from "./svg_axis.ts";
 * assert.deepEqual([sizeLabel(65536), sizeLabel(8), sizeLabel(4194304)], ["64K", "8", "4M"]);
 * ```
 */
export function sizeLabel(n: number): string {
  if (n >= 1073741824 && n % 1073741824 === 0) return `${n / 1073741824}G`;
  if (n >= 1048576 && n % 1048576 === 0) return `${n / 1048576}M`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024}K`;
  return tickLabel(n);
}

/**
 * A tick value as text: thousands separated, at most three significant
 * digits below 1000.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tickLabel } from "./svg_axis.ts";
 * assert.deepEqual([tickLabel(0), tickLabel(1024), tickLabel(0.25), tickLabel(12.5)],
 *   ["0", "1,024", "0.25", "12.5"]);
 * ```
 */
export function tickLabel(v: number): string {
  if (v === 0) return "0";
  if (Math.abs(v) >= 1000) return v.toLocaleString("en-US", { maximumFractionDigits: 0 });
  return Number(v.toPrecision(3)).toString();
}

/** Whether neighbouring labels of `ticks` keep a gap on an axis laid out as `l`. */
function fits(ticks: Tick[], frac: (v: number) => number, l: AxisLayout): boolean {
  const fs = l.fontSize ?? 12;
  for (let i = 1; i < ticks.length; i++) {
    const d = Math.abs(frac(ticks[i].value) - frac(ticks[i - 1].value)) * l.lengthPx;
    const need = l.vertical
      ? fs + 4
      : (textWidth(ticks[i].label, fs) + textWidth(ticks[i - 1].label, fs)) / 2 + 8;
    if (d < need) return false;
  }
  return true;
}

/**
 * The candidates if all their labels fit, else every `s`-th one counted
 * down from the last, plus the first (dropping the inner ticks too close to
 * it), for the smallest stride `s` whose labels fit. The first and the last
 * candidate are always kept.
 */
function thin(cands: Tick[], frac: (v: number) => number, l: AxisLayout): Tick[] {
  if (cands.length <= 2 || fits(cands, frac, l)) return cands;
  const n = cands.length;
  for (let s = 2; s < n - 1; s++) {
    const idx: number[] = [];
    for (let i = n - 1; i > 0; i -= s) idx.unshift(i);
    const pick = [cands[0], ...idx.map((i) => cands[i])];
    while (pick.length > 2 && !fits(pick.slice(0, 2), frac, l)) pick.splice(1, 1);
    if (fits(pick, frac, l)) return pick;
  }
  return [cands[0], cands[n - 1]];
}

/**
 * A linear axis over `values`: from zero (default) or from the smallest
 * value, with nice ticks as dense as the labels allow. `include` adds values
 * the axis must cover (e.g. 1 on a ratio axis).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linearScale } from "./svg_axis.ts";
 * const s = linearScale([4.5, 36], { lengthPx: 300, vertical: true });
 * assert.deepEqual(s.ticks.map((t) => t.label), ["0", "10", "20", "30", "40"]);
 * assert.equal(s.frac(20), 0.5);
 * ```
 */
export function linearScale(
  values: number[],
  l: AxisLayout & { fromZero?: boolean; include?: number[]; minSpan?: number },
): Scale {
  const vs = [...values, ...(l.include ?? [])].filter(Number.isFinite);
  let lo = vs.length ? Math.min(...vs) : 0, hi = vs.length ? Math.max(...vs) : 1;
  if (l.fromZero ?? true) {
    lo = Math.min(0, lo);
    hi = Math.max(0, hi);
  }
  if (l.minSpan && hi - lo < l.minSpan) {
    const mid = (lo + hi) / 2;
    lo = (l.fromZero ?? true) && lo === 0 ? 0 : mid - l.minSpan / 2;
    hi = lo + l.minSpan;
  }
  const fmt = l.format ?? tickLabel;
  const per = l.vertical ? 40 : 90;
  let ticks: Tick[] = [];
  let frac = (_v: number) => 0;
  for (let target = Math.max(2, Math.floor(l.lengthPx / per)); target >= 1; target--) {
    const vals = hi === lo && lo === 0 ? [0, 1] : niceRange(lo, hi, target);
    const a = vals[0], b = vals[vals.length - 1];
    ticks = vals.map((v) => ({ value: v, label: fmt(v) }));
    frac = (v: number) => (v - a) / (b - a);
    if (fits(ticks, frac, l)) break;
  }
  return { kind: "linear", frac, drawable: Number.isFinite, ticks };
}

/**
 * A base-2 logarithmic axis (message sizes, page counts) from the power of
 * two at or below the smallest value to the one at or above the largest;
 * ticks at powers of two, thinned so labels keep apart, both ends labelled.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { log2Scale, sizeLabel } from "./svg_axis.ts";
 * const s = log2Scale([2, 1048576], { lengthPx: 600, vertical: false, format: sizeLabel });
 * assert.equal(s.ticks[0].label, "2");
 * assert.equal(s.ticks.at(-1)!.label, "1M");
 * assert.equal(s.frac(1024), 9 / 19);
 * ```
 */
export function log2Scale(values: number[], l: AxisLayout): Scale {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  let a = pos.length ? Math.floor(Math.log2(Math.min(...pos))) : 0;
  let b = pos.length ? Math.ceil(Math.log2(Math.max(...pos))) : 1;
  if (a === b) {
    a -= 1;
    b += 1;
  }
  const frac = (v: number) => (Math.log2(v) - a) / (b - a);
  const fmt = l.format ?? tickLabel;
  const cands: Tick[] = [];
  for (let e = a; e <= b; e++) cands.push({ value: 2 ** e, label: fmt(2 ** e) });
  return {
    kind: "log2",
    frac,
    drawable: (v) => v > 0 && Number.isFinite(v),
    ticks: thin(cands, frac, l),
  };
}

/**
 * A base-10 logarithmic axis from the decade at or below the smallest
 * positive value to the one at or above the largest; ticks at decades, and
 * at 2 and 5 times them when the axis spans two decades or less.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { log10Scale } from "./svg_axis.ts";
 * const s = log10Scale([0.56, 1707], { lengthPx: 300, vertical: true });
 * assert.deepEqual(s.ticks.map((t) => t.label), ["0.1", "1", "10", "100", "1,000", "10,000"]);
 * ```
 */
export function log10Scale(values: number[], l: AxisLayout): Scale {
  const pos = values.filter((v) => v > 0 && Number.isFinite(v));
  const a = pos.length ? Math.floor(Math.log10(Math.min(...pos))) : 0;
  let b = pos.length ? Math.ceil(Math.log10(Math.max(...pos))) : 1;
  if (b === a) b = a + 1;
  const frac = (v: number) => (Math.log10(v) - a) / (b - a);
  const fmt = l.format ?? tickLabel;
  const decades: Tick[] = [];
  for (let e = a; e <= b; e++) decades.push({ value: clean(10 ** e), label: fmt(clean(10 ** e)) });
  let ticks = decades;
  if (b - a <= 2) {
    const fine: Tick[] = [];
    for (let e = a; e <= b; e++) {
      for (const m of e < b ? [1, 2, 5] : [1]) {
        fine.push({ value: clean(m * 10 ** e), label: fmt(clean(m * 10 ** e)) });
      }
    }
    if (fits(fine, frac, l)) ticks = fine;
  }
  return {
    kind: "log10",
    frac,
    drawable: (v) => v > 0 && Number.isFinite(v),
    ticks: thin(ticks, frac, l),
  };
}
