/**
 * A small well-formedness check of the SVG the tools write: balanced tags,
 * one root `<svg>`, quoted attributes, escaped text, a title, both axes,
 * tick labels and a legend with the expected entries. Used by the tests and
 * available to anyone post-processing the charts.
 *
 * @module
 */

/**
 * Problems found in an SVG document (empty when it passes).
 *
 * @example
 * ```ts
 * import { svgProblems } from "./svg_check.ts";
 * console.log(svgProblems("<svg>", [])[0]); // missing XML declaration
 * ```
 */
export function svgProblems(svg: string, legend: string[]): string[] {
  const p: string[] = [];
  if (!svg.startsWith("<?xml")) p.push("missing XML declaration");
  const body = svg.replace(/^<\?xml[^>]*\?>\s*/, "");
  const stack: string[] = [];
  let roots = 0;
  for (const m of body.matchAll(/<(\/?)([A-Za-z][\w:-]*)([^>]*?)(\/?)>/g)) {
    const [, close, name, attrs, self] = m;
    for (const a of attrs.matchAll(/\s([\w:-]+)=("[^"]*"|'[^']*'|[^\s"']+)/g)) {
      if (!/^["']/.test(a[2])) p.push(`unquoted attribute ${a[1]} on <${name}>`);
    }
    if (close) {
      const open = stack.pop();
      if (open !== name) p.push(`</${name}> closes <${open}>`);
    } else if (!self) {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
  }
  if (stack.length) p.push(`unclosed tags: ${stack.join(", ")}`);
  if (roots !== 1) p.push(`${roots} root elements`);
  if (!/^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/.test(body)) {
    p.push("root is not <svg xmlns=…>");
  }
  if (/&(?!amp;|lt;|gt;|quot;|#)/.test(body)) p.push("unescaped &");
  if (!/<title>[^<]+<\/title>/.test(body)) p.push("no <title>");
  if ((body.match(/class="axis"/g) ?? []).length !== 2) p.push("not exactly two axis lines");
  if (!/class="y-axis"/.test(body) || !/class="x-axis"/.test(body)) p.push("no tick groups");
  if ((body.match(/<text [^>]*text-anchor="end">[^<]+<\/text>/g) ?? []).length < 3) {
    p.push("fewer than 3 y tick labels");
  }
  if (!/class="y-label"/.test(body)) p.push("no y axis label");
  if (!/class="legend"/.test(body)) p.push("no legend");
  for (const l of legend) if (!body.includes(`>${l}</text>`)) p.push(`legend entry '${l}' missing`);
  return p;
}
