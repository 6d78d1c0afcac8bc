/**
 * What `tests/docs_links_test.ts` reads from a Markdown page: its links and the anchors GitHub gives
 * its headings.
 *
 * @module
 */

/**
 * A relative or absolute link of a page, with its 1-based line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MarkdownLink } from "./markdown_links.ts";
 * const l: MarkdownLink = { target: "api.md#verbs", line: 3 };
 * assert.equal(l.target.split("#")[1], "verbs");
 * ```
 */
export interface MarkdownLink {
  /** What the link points at, as written (`page.md#anchor`, `#anchor`, `https://…`). */
  target: string;
  /** Line of the page the link is on. */
  line: number;
}

/** Lines of a page with fenced code blocks blanked (their text is not Markdown). */
function prose(text: string): string[] {
  let fence: string | undefined;
  return text.split("\n").map((line) => {
    const m = /^\s*(`{3,}|~{3,})/.exec(line);
    if (fence !== undefined) {
      if (m && m[1][0] === fence[0] && m[1].length >= fence.length) fence = undefined;
      return "";
    }
    if (m) {
      fence = m[1];
      return "";
    }
    return line;
  });
}

/**
 * The inline links (`[text](target)`) and reference definitions (`[name]: target`) of a page,
 * outside code blocks and code spans. A link's text may span lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linksOf } from "./markdown_links.ts";
 * const fence = "~~~";
 * const page = `See [the API](api.md#verbs) and \`[not](a link)\`.\n${fence}\n[no](x.md)\n${fence}\n[ref]: b.md\n`;
 * assert.deepEqual(linksOf(page), [{ target: "api.md#verbs", line: 1 }, { target: "b.md", line: 5 }]);
 * ```
 */
export function linksOf(text: string): MarkdownLink[] {
  const lines = prose(text).map((l) => l.replace(/`[^`]*`/g, (m) => " ".repeat(m.length)));
  const joined = lines.join("\n");
  const out: MarkdownLink[] = [];
  const lineAt = (i: number) => joined.slice(0, i).split("\n").length;
  for (const m of joined.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    out.push({ target: m[1], line: lineAt(m.index!) });
  }
  for (const m of joined.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm)) {
    out.push({ target: m[1], line: lineAt(m.index!) });
  }
  return out.sort((a, b) => a.line - b.line);
}

/**
 * The anchors GitHub gives a page's headings: the heading's text without Markdown (links keep
 * their text, code spans their content), lower-cased, every character that is not a letter, a
 * digit, a space, `-` or `_` dropped, spaces made hyphens; a repeated anchor gets `-1`, `-2`, ….
 * Explicit `<a id="…">`/`<a name="…">` anchors count too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { anchorsOf } from "./markdown_links.ts";
 * const a = anchorsOf("# The API\n## `perftest -a` on two workers\n## Notes\n## Notes\n");
 * assert.deepEqual([...a], ["the-api", "perftest--a-on-two-workers", "notes", "notes-1"]);
 * ```
 */
export function anchorsOf(text: string): Set<string> {
  const out = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of prose(text)) {
    for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) out.add(m[1]);
    const h = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    const plain = h[1]
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1")
      .replace(/`([^`]*)`/g, "$1")
      .replace(/<[^>]+>/g, "");
    const base = plain.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
    const n = seen.get(base);
    seen.set(base, (n ?? -1) + 1);
    out.add(n === undefined ? base : `${base}-${n + 1}`);
  }
  return out;
}
