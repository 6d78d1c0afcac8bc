/**
 * The repository's JSDoc examples, found the way `deno test --doc` finds
 * them: fenced code blocks tagged with a JavaScript or TypeScript language
 * inside `/** … *\/` comments. The doctest runner (`deno task doctest`)
 * executes them; `tests/doc_examples_test.ts` keeps every one asserting
 * what it shows.
 *
 * @module
 */

/** Folders and files whose JSDoc examples CI type-checks and runs. */
export const EXAMPLE_ROOTS: readonly string[] = [
  "sim",
  "hypervisor",
  "hca",
  "drivers",
  "platform",
  "mpi",
  "tools",
  "mod.ts",
];

/** Fence languages Deno extracts from JSDoc (its doc-test extractor's list). */
const LANGS = new Set([
  "js",
  "javascript",
  "mjs",
  "cjs",
  "jsx",
  "ts",
  "typescript",
  "mts",
  "cts",
  "tsx",
]);

/** One fenced example in a JSDoc comment. */
export interface DocExample {
  /** Path from the repository root, with `/` separators. */
  file: string;
  /** 1-based line of the example's first code line. */
  line: number;
  /** 1-based line of its last code line. */
  endLine: number;
  /** Fence attributes after the language (`ignore`, `no_run`, `no_check`). */
  attrs: string[];
  /** The code, comment stars stripped. */
  code: string;
  /**
   * The top-level declaration the comment documents or sits in (`Prng`,
   * `GuestGrantTable`), or `""` for a module comment.
   */
  owner: string;
}

const DECL =
  /^(?:export\s+)?(?:default\s+)?(?:declare\s+)?(?:abstract\s+)?(?:async\s+)?(?:class|function\*?|interface|type|const|let|var|enum|namespace)\s+([A-Za-z_$][\w$]*)/;

/**
 * Every example in the JSDoc comments of one file's text. Relies on
 * `deno fmt` layout: a top-level declaration starts in column 0 and its
 * body ends at the next line that is exactly `}` or `};`.
 */
export function examplesIn(file: string, text: string): DocExample[] {
  const lines = text.split("\n");
  const out: DocExample[] = [];
  let enclosing = ""; // the column-0 declaration whose body we are in
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i];
    const decl = DECL.exec(l);
    if (decl) enclosing = decl[1];
    else if (/^\};?\s*$/.test(l)) enclosing = "";
    if (!/^\s*\/\*\*/.test(l) || /\*\/\s*$/.test(l.replace(/^\s*\/\*\*/, ""))) continue;
    const topLevel = /^\/\*\*/.test(l);
    const start = i;
    while (i < lines.length && !/\*\//.test(lines[i])) i++;
    const body = lines.slice(start + 1, i).map((s) => s.replace(/^\s*\* ?/, ""));
    let owner = enclosing;
    if (topLevel) {
      const next = lines.slice(i + 1).find((s) => s.trim() !== "" && !/^\s*\/\//.test(s));
      owner = /@module\b/.test(body.join("\n")) ? "" : DECL.exec(next ?? "")?.[1] ?? "";
    }
    for (let j = 0; j < body.length; j++) {
      const fence = /^\s*```\s*([\w-]*)\s*(.*)$/.exec(body[j]);
      if (!fence) continue;
      let k = j + 1;
      while (k < body.length && !/^\s*```\s*$/.test(body[k])) k++;
      if (LANGS.has(fence[1].toLowerCase())) {
        out.push({
          file,
          line: start + 2 + j + 1,
          endLine: start + 2 + k - 1,
          attrs: fence[2].split(/[\s,]+/).filter(Boolean),
          code: body.slice(j + 1, k).join("\n"),
          owner,
        });
      }
      j = k;
    }
  }
  return out;
}

/**
 * The `.ts` files under `roots` (paths from `repo`, a directory URL),
 * sorted; roots that do not exist yet are skipped.
 */
export function sourceFiles(repo: URL, roots: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (p: string) => {
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(new URL(p, repo));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    if (info.isFile) {
      if (p.endsWith(".ts") && !p.endsWith(".d.ts")) out.push(p);
      return;
    }
    for (const e of Deno.readDirSync(new URL(`${p}/`, repo))) walk(`${p}/${e.name}`);
  };
  for (const r of roots) walk(r.replace(/\/$/, ""));
  return out.sort();
}

/**
 * Every example under `roots` of the repository at `repo`.
 */
export function repositoryExamples(repo: URL, roots: readonly string[]): DocExample[] {
  return sourceFiles(repo, roots).flatMap((f) =>
    examplesIn(f, Deno.readTextFileSync(new URL(f, repo)))
  );
}
