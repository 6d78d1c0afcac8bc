/**
 * The project's promises about how it is run: one Deno version everywhere,
 * and CI runs exactly the README's test command.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const read = (p: string) => Deno.readTextFileSync(new URL(p, root));

function textFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(new URL(dir, root))) {
    const p = `${dir}${e.name}`;
    if (e.isDirectory && !["out", "node_modules", ".git"].includes(e.name)) {
      out.push(...textFiles(`${p}/`));
    } else if (e.isFile && /\.(md|ts|json)$|^run$/.test(e.name)) out.push(p);
  }
  return out;
}

Deno.test("Deno is pinned to one version across README, CI, docs and tools", () => {
  const versions = new Map<string, string[]>();
  for (const f of ["README.md", ".ci/run", ...textFiles("docs/"), ...textFiles("tools/")]) {
    for (const m of read(f).matchAll(/deno@(\d+\.\d+\.\d+)/g)) {
      versions.set(m[1], [...(versions.get(m[1]) ?? []), f]);
    }
  }
  assert.equal(versions.size, 1, `several Deno versions: ${JSON.stringify([...versions])}`);
  assert.ok(
    versions.has(Deno.version.deno) || Deno.env.get("CI") !== "true",
    `CI runs Deno ${Deno.version.deno} but the pin is ${[...versions.keys()][0]}`,
  );
});

Deno.test("README shows the two commands and .ci/run runs the README's test command", () => {
  const readme = read("README.md");
  const pin = /npx -y deno@(\d+\.\d+\.\d+) task test/.exec(readme);
  assert.ok(pin, "README lacks `npx -y deno@X task test`");
  assert.match(readme, new RegExp(`npx -y deno@${pin[1]} task paper`));
  const ci = read(".ci/run").split("\n").map((l) => l.trim());
  assert.ok(
    ci.some((l) => l === pin[0] || l.startsWith(`${pin[0]} 2>&1 | tee `)),
    `.ci/run does not run '${pin[0]}' as its own command`,
  );
});
