/**
 * Every JSDoc example asserts what it shows: it imports `node:assert/strict`
 * and calls it, it is run (no `ignore`/`no_run`/`no_check`), and no value
 * is claimed in a comment after a `console.log`, where changing it would
 * still pass. `deno task doctest` runs the examples; this keeps them honest.
 */
import assert from "node:assert/strict";
import { EXAMPLE_ROOTS, examplesIn, repositoryExamples } from "./support/doc_examples.ts";

const repo = new URL("../", import.meta.url);

/** Why an example does not assert what it shows; [] when it does. */
function problems(code: string, attrs: readonly string[]): string[] {
  const out: string[] = [];
  const skipped = attrs.filter((a) => ["ignore", "no_run", "no_check"].includes(a));
  if (skipped.length) out.push(`is marked ${skipped.join(", ")}: CI would not check it`);
  if (!/^import assert from "node:assert\/strict";$/m.test(code)) {
    out.push(`does not import assert from "node:assert/strict"`);
  } else if (!/\bassert(\.\w+)?\(/.test(code.replace(/^import assert .*$/m, ""))) {
    out.push("asserts nothing");
  }
  const lines = code.split("\n");
  lines.forEach((l, i) => {
    if (!/\bconsole\.\w+\(/.test(l)) return;
    // The line where the call's parentheses close.
    let end = i;
    let depth = 0;
    for (let j = i; j < lines.length; j++) {
      const code = lines[j].replace(/"(\\.|[^"])*"|'(\\.|[^'])*'|`[^`]*`|\/\/.*$/g, "");
      depth += (code.match(/\(/g) ?? []).length - (code.match(/\)/g) ?? []).length;
      end = j;
      if (depth <= 0) break;
    }
    if (/\/\/\s*\S/.test(lines[end]) || /^\s*\/\/\s*\S/.test(lines[end + 1] ?? "")) {
      out.push(`claims a value in a comment after console output (line ${i + 1}): assert it`);
    }
  });
  return out;
}

const examples = repositoryExamples(repo, EXAMPLE_ROOTS);

Deno.test("doc examples: found with their lines, fence attributes and declaration", () => {
  const f = "`".repeat(3);
  const text = [
    "/**", // 1
    " * A module.",
    " * @example",
    ` * ${f}ts`,
    " * module();", // 5
    ` * ${f}`,
    " * @module",
    " */",
    "/** Two. */",
    "export const two = 2;", // 10
    "/**",
    ` * ${f}sh`,
    " * not code",
    ` * ${f}`,
    " */", // 15
    "export class Table {",
    "  /**",
    `   * ${f}ts ignore`,
    "   * member();",
    `   * ${f}`, // 20
    "   */",
    "  grant(): void {}",
    "}",
    "/**",
    ` * ${f}ts`, // 25
    " * after();",
    " * again();",
    ` * ${f}`,
    " */",
    "export function after(): void {}", // 30
  ].join("\n");
  assert.deepEqual(
    examplesIn("x.ts", text).map((e) => [e.line, e.endLine, e.owner, e.attrs, e.code]),
    [
      [5, 5, "", [], "module();"],
      [19, 19, "Table", ["ignore"], "member();"],
      [26, 27, "after", [], "after();\nagain();"],
    ],
  );
});

Deno.test("doc examples: the rule catches a printed claim and passes an assertion", () => {
  assert.deepEqual(
    problems('import assert from "node:assert/strict";\nassert.equal(1, 1);', []),
    [],
  );
  const printed = problems("console.log(x); // 5", []);
  assert.equal(printed.length, 2);
  assert.match(printed[1], /claims a value in a comment/);
  assert.match(problems("console.log(f(\n  1,\n));\n// 5", [])[1], /claims a value/);
  assert.match(
    problems('import assert from "node:assert/strict";\nconst x = 1;', [])[0],
    /asserts nothing/,
  );
  assert.match(
    problems('import assert from "node:assert/strict";\nassert(1);', ["ignore"])[0],
    /ignore/,
  );
});

Deno.test("doc examples: every example asserts what it shows", () => {
  assert.ok(examples.length > 100, `only ${examples.length} examples found`);
  const bad = examples.flatMap((ex) =>
    problems(ex.code, ex.attrs).map((p) => `${ex.file}:${ex.line} ${p}`)
  );
  assert.deepEqual(bad, [], `examples that do not assert what they show:\n${bad.join("\n")}`);
});

Deno.test("doc examples: CI runs them (deno task doctest in .ci/run)", () => {
  const tasks = JSON.parse(Deno.readTextFileSync(new URL("deno.json", repo))).tasks;
  assert.match(tasks.doctest, /tests\/support\/doctest\.ts/);
  assert.match(Deno.readTextFileSync(new URL(".ci/run", repo)), /^\$DENO task doctest\b/m);
});
