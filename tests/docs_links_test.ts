/**
 * Every relative link of the Markdown pages (README.md, docs/ and its subfolders) leads somewhere:
 * the file exists, and a `#fragment` names a heading of that page as GitHub makes its anchor
 * (lower case, punctuation dropped, spaces to hyphens, `-1`, `-2`, … for repeats). Links inside
 * code blocks and code spans are not links; absolute URLs are not checked (no network here).
 *
 * @module
 */
import assert from "node:assert/strict";
import { anchorsOf, linksOf } from "./support/markdown_links.ts";

const root = new URL("../", import.meta.url);

function pages(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(new URL(dir, root))) {
    const path = `${dir}${e.name}`;
    if (e.isDirectory) out.push(...pages(`${path}/`));
    else if (e.isFile && e.name.endsWith(".md")) out.push(path);
  }
  return out.sort();
}

const PAGES = ["README.md", ...pages("docs/")];

Deno.test("docs links: every relative link and anchor of README.md and docs/ resolves", () => {
  const anchors = new Map<string, Set<string>>();
  const anchorsFor = (path: string): Set<string> => {
    let a = anchors.get(path);
    if (!a) anchors.set(path, a = anchorsOf(Deno.readTextFileSync(new URL(path, root))));
    return a;
  };
  const broken: string[] = [];
  let checked = 0;
  for (const page of PAGES) {
    for (const { target, line } of linksOf(Deno.readTextFileSync(new URL(page, root)))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
      const [file, fragment] = target.split("#", 2);
      const path = file === "" ? page : new URL(file, new URL(page, root)).pathname
        .slice(root.pathname.length);
      checked++;
      let stat: Deno.FileInfo | undefined;
      try {
        stat = Deno.statSync(new URL(path, root));
      } catch {
        broken.push(`${page}:${line}: ${target}: no file ${path}`);
        continue;
      }
      if (fragment === undefined || fragment === "") continue;
      if (!stat.isFile || !path.endsWith(".md")) {
        broken.push(`${page}:${line}: ${target}: an anchor into ${path}, which is not a page`);
      } else if (!anchorsFor(path).has(decodeURIComponent(fragment))) {
        broken.push(`${page}:${line}: ${target}: ${path} has no heading #${fragment}`);
      }
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(checked > 50, `only ${checked} links found: is the parser reading the pages?`);
});
