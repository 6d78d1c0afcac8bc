/**
 * The TypeScript examples of the Markdown pages (README.md, docs/*.md) run as written: each
 * ```` ```ts ```` block is a whole program, its relative imports resolved from its page's folder
 * as a reader who saved it there would have them. All are type-checked (`deno check`) and run;
 * the one that needs an RDMA device (docs/real-hardware.md) runs only where there is one.
 *
 * Blocks that are not programs say so in their fence: `ts ignore` (a signature listing, a lone
 * import line) and `ts listing="FILE"` (a file of the repository shown without its doc comments
 * and with some lines left out: every line shown is the file's, in order, and every line that
 * prints is shown). The guide's programs (`ts title="…"`) and the README's library example are run
 * by tests/docs_guide_test.ts, in a directory next to a copy of the repository.
 */
import assert from "node:assert/strict";

const root = new URL("../", import.meta.url);
const rootPath = decodeURIComponent(root.pathname);

/** A fenced TypeScript block of a page. */
interface Block {
  page: string;
  /** 1-based line of the opening fence. */
  line: number;
  attrs: string;
  code: string;
}

function blocks(page: string): Block[] {
  const lines = Deno.readTextFileSync(new URL(page, root)).split("\n");
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)(.*)$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++);
    assert.ok(i < lines.length, `${page}:${start + 1}: code block never closed`);
    if (["ts", "typescript"].includes(open[1])) {
      out.push({
        page,
        line: start + 1,
        attrs: open[2].trim(),
        code: lines.slice(start + 1, i).join("\n") + "\n",
      });
    }
  }
  return out;
}

const pages = [
  "README.md",
  ...[...Deno.readDirSync(new URL("docs/", root))]
    .filter((e) => e.isFile && e.name.endsWith(".md")).map((e) => `docs/${e.name}`).sort(),
];
const all = pages.flatMap(blocks);
const elsewhere = (b: Block) => /\btitle="/.test(b.attrs) || b.page === "README.md";
const ignored = (b: Block) => /^ignore\b/.test(b.attrs);
const listing = (b: Block) => /\blisting="([^"]+)"/.exec(b.attrs)?.[1];
const programs = all.filter((b) => !elsewhere(b) && !ignored(b) && listing(b) === undefined);
const needsDevice = (b: Block) => /\bRealHost\b|\bopenRealDevice\b/.test(b.code);

/** The block as a module in `dir`, its relative imports made absolute from its page's folder. */
function moduleFile(b: Block, dir: string): string {
  const base = new URL(b.page, root);
  const code = b.code.replace(
    /(\bfrom\s*|\bimport\s*\(?\s*)(["'])(\.\.?\/[^"']*)\2/g,
    (_m, lead: string, q: string, spec: string) => `${lead}${q}${new URL(spec, base).href}${q}`,
  );
  const path = `${dir}/${b.page.replaceAll("/", "__")}_${b.line}.ts`;
  Deno.writeTextFileSync(path, code);
  return path;
}

const dir = await Deno.makeTempDir({ prefix: "xenib-md-examples-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const files = new Map(programs.map((b) => [b, moduleFile(b, dir)]));

Deno.test("markdown examples: there are programs to run, and each block says what it is", () => {
  assert.ok(programs.length >= 5, `only ${programs.length} runnable blocks found`);
  for (const b of all) {
    const known = b.attrs === "" || elsewhere(b) || ignored(b) || listing(b) !== undefined;
    assert.ok(known, `${b.page}:${b.line}: unknown fence attributes '${b.attrs}'`);
  }
});

Deno.test("markdown examples: every program type-checks", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", ...files.values()],
    cwd: rootPath,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
  assert.ok(out.success, text);
});

function hasDevice(): boolean {
  try {
    const lib = Deno.dlopen("libibverbs.so.1", {
      ibv_get_device_list: { parameters: ["pointer"], result: "pointer" },
    });
    try {
      const count = new Int32Array(1);
      lib.symbols.ibv_get_device_list(Deno.UnsafePointer.of(count));
      return count[0] > 0;
    } finally {
      lib.close();
    }
  } catch {
    return false;
  }
}
const device = hasDevice();

for (const b of programs) {
  const skip = needsDevice(b) && !device;
  Deno.test({
    name: `${b.page}:${b.line} runs as written${skip ? " (skipped: no RDMA device here)" : ""}`,
    ignore: skip,
    fn: async () => {
      const log = console.log;
      console.log = () => {}; // the programs print; what they show is asserted in them
      try {
        await import(`file://${files.get(b)}`);
      } finally {
        console.log = log;
      }
    },
  });
}

for (const b of all.filter((b) => listing(b) !== undefined)) {
  Deno.test(`${b.page}:${b.line} shows ${listing(b)}: its lines, in order, every printing line`, () => {
    const file = Deno.readTextFileSync(new URL(listing(b)!, new URL(b.page, root))).split("\n");
    const shown = b.code.trimEnd().split("\n");
    let at = 0;
    for (const [k, l] of shown.entries()) {
      while (at < file.length && file[at] !== l) at++;
      assert.ok(
        at < file.length,
        `line ${k + 1} of the listing is not the file's (in order): ${l}`,
      );
      at++;
    }
    for (const l of file.filter((l) => /\bconsole\.\w+\(/.test(l))) {
      assert.ok(shown.includes(l), `the listing leaves out a line that prints: ${l.trim()}`);
    }
  });
}
