/**
 * `deno task doctest`: type-check every JSDoc example under
 * {@link EXAMPLE_ROOTS} once (a second process, beside the runs) and run
 * each as its own test in this one process.
 *
 * `deno test --doc` starts a fresh runtime and loads the model's module
 * graph again for each of several hundred examples; that start-up, not the
 * examples, was nearly all of its time. Here the type check is Deno's own
 * (`deno check --doc-only`, the same extraction `deno test --doc` uses) and
 * each example is written to a temporary module (relative imports made
 * absolute) that its test imports, so the graph loads once. A failure names
 * the example as `file:line`.
 *
 * Run: `deno task doctest`, or `deno task doctest -- hypervisor/grant_table.ts
 * sim` for some files or folders. An example that needs libibverbs says
 * `// needs libibverbs1` on a line of its own; without the library it is
 * skipped, except in CI (CI=true), which installs it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type DocExample, EXAMPLE_ROOTS, repositoryExamples, sourceFiles } from "./doc_examples.ts";

const repo = new URL("../../", import.meta.url);
const roots = Deno.args.length > 0 ? Deno.args : EXAMPLE_ROOTS;
const files = sourceFiles(repo, roots);
const examples = repositoryExamples(repo, roots);
const dir = await Deno.makeTempDir({ prefix: "xenib-doctest-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));

/**
 * The example as a module of its own that behaves as if it sat beside its
 * source file (where `deno test --doc` puts it): relative specifiers and
 * `import.meta.url` are resolved against that file.
 */
function moduleText(ex: DocExample): string {
  const base = new URL(ex.file, repo);
  return ex.code.replace(
    /(\bfrom\s*|\bimport\s*\(?\s*)(["'])(\.\.?\/[^"']*)\2/g,
    (_m, lead: string, q: string, spec: string) => `${lead}${q}${new URL(spec, base).href}${q}`,
  ).replaceAll("import.meta.url", JSON.stringify(base.href)) + "\n";
}

// Deno's type check of every example, in its own process beside the runs below.
const checked = new Deno.Command(Deno.execPath(), {
  args: ["check", "--quiet", "--doc-only", ...files],
  cwd: repo,
  env: { NO_COLOR: "1" },
  stdout: "piped",
  stderr: "piped",
}).output();
checked.catch(() => {}); // reported by the last test

/** True if libibverbs can be loaded here (examples that need it say `// needs libibverbs1`). */
function ibverbsLoads(): boolean {
  try {
    Deno.dlopen("libibverbs.so.1", {}).close();
    return true;
  } catch {
    return false;
  }
}
// CI installs libibverbs1, so there a missing library fails those examples.
const skipIbverbs = Deno.env.get("CI") !== "true" && !ibverbsLoads();

for (const ex of examples) {
  const skip = skipIbverbs && /^\/\/ needs libibverbs1\b/m.test(ex.code);
  const run = !ex.attrs.includes("ignore") && !ex.attrs.includes("no_run") && !skip;
  const path = `${dir}/${ex.file.replaceAll("/", "__")}$${ex.line}-${ex.endLine}.ts`;
  if (run) Deno.writeTextFileSync(path, moduleText(ex));
  Deno.test({
    name: `${ex.file}:${ex.line}${skip ? " (skipped: libibverbs1 is not installed)" : ""}`,
    ignore: !run,
    fn: async () => {
      await import(new URL(`file://${path}`).href);
    },
  });
}

Deno.test(`the examples of ${files.length} files type-check (deno check --doc-only)`, async () => {
  assert.ok(files.length > 0, `no .ts files under ${roots.join(" ")}`);
  const r = await checked;
  const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  assert.ok(r.success, out);
});
