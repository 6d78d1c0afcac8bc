/**
 * docs/guide.md (and the README's library example) is held to the code. Its programs are the files in
 * docs/guide/, byte for byte; every `npx -y deno@… run …` command it gives
 * is run as a reader would run it — in a fresh directory `hello/` next to a
 * copy of the repository named `xenib/`, the programs copied there
 * verbatim, with exactly the command's permissions — and prints exactly the
 * guide's output block for it. The first program runs alone in an otherwise
 * empty directory.
 *
 * The tshark check follows tests/support/tshark.ts's skip policy.
 */
import assert from "node:assert/strict";
import { tshark, tsharkTest } from "./support/tshark.ts";

const root = new URL("../", import.meta.url);
const rootPath = decodeURIComponent(root.pathname);
const GUIDE = "docs/guide.md";
const guide = Deno.readTextFileSync(new URL(GUIDE, root));

/** A fenced code block of the guide. */
interface Block {
  lang: string;
  attrs: Record<string, string>;
  body: string;
  /** 1-based line of the opening fence. */
  line: number;
}

function parseBlocks(md: string): Block[] {
  const lines = md.split("\n");
  const out: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(`{3,})(\S*)(.*)$/.exec(lines[i]);
    if (!open) continue;
    const close = new RegExp(`^${open[1]}\`*\\s*$`);
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !close.test(lines[i]); i++) body.push(lines[i]);
    assert.ok(i < lines.length, `${GUIDE}:${start + 1}: code block never closed`);
    const attrs: Record<string, string> = {};
    for (const m of open[3].matchAll(/(\w+)(?:="([^"]*)")?/g)) attrs[m[1]] = m[2] ?? "";
    out.push({ lang: open[2], attrs, body: body.map((l) => `${l}\n`).join(""), line: start + 1 });
  }
  return out;
}

const blocks = parseBlocks(guide);

/** A command of the guide that runs a program: its argv and the program's file name. */
interface GuideRun {
  argv: string[];
  file: string;
  line: number;
}

const runs: GuideRun[] = blocks.filter((b) => b.lang === "sh").flatMap((b) =>
  b.body.split("\n").flatMap((l, k) => {
    if (!/^npx -y deno@\S+ run /.test(l)) return [];
    const argv = l.trim().split(/\s+/);
    return [{ argv, file: argv[argv.length - 1], line: b.line + 1 + k }];
  })
);

const outputs = new Map(
  blocks.filter((b) => b.lang === "text" && "output" in b.attrs).map((b) => [b.attrs.output, b]),
);

function guideFiles(): string[] {
  return [...Deno.readDirSync(new URL("docs/guide/", root))].filter((e) => e.isFile)
    .map((e) => `docs/guide/${e.name}`).sort();
}

/** Copy the repository as a reader's clone would hold it (no .git, no build output). */
async function copyRepo(to: string, from = rootPath): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if ([".git", "out", "node_modules"].includes(e.name)) continue;
    const src = `${from}${e.name}`, dst = `${to}/${e.name}`;
    if (e.isDirectory) await copyRepo(dst, `${src}/`);
    else if (e.isFile) await Deno.copyFile(src, dst);
  }
}

/** `work/xenib` (the repository) and an empty `work/hello`, as section 0 lays them out. */
async function layout(): Promise<{ work: string; hello: string }> {
  const work = await Deno.makeTempDir({ dir: "/tmp", prefix: "xenib-guide-" });
  await copyRepo(`${work}/xenib`);
  await Deno.mkdir(`${work}/hello`);
  return { work, hello: `${work}/hello` };
}

async function runInHello(run: GuideRun, hello: string): Promise<string> {
  const [cmd, ...args] = run.argv;
  const out = await new Deno.Command(cmd, { args, cwd: hello, stdout: "piped", stderr: "piped" })
    .output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  assert.ok(
    out.success,
    `${GUIDE}:${run.line}: \`${run.argv.join(" ")}\` failed (exit ${out.code}):\n${
      text(out.stderr)
    }`,
  );
  return text(out.stdout);
}

function expectOutput(run: GuideRun, stdout: string): void {
  const block = outputs.get(run.file);
  assert.ok(block, `${GUIDE}:${run.line}: no \`\`\`text output="${run.file}" block`);
  assert.equal(
    stdout,
    block.body,
    `${run.file} no longer prints what ${GUIDE}:${block.line} shows: update that block ` +
      "(and any sentence quoting it)",
  );
}

Deno.test("guide: its code blocks are the files in docs/guide/, byte for byte", () => {
  const shown = new Map<string, number>();
  for (const b of blocks) {
    if (b.lang !== "ts" && b.lang !== "yaml") continue;
    const title = b.attrs.title;
    if (title === undefined) {
      assert.ok("ignore" in b.attrs, `${GUIDE}:${b.line}: a ${b.lang} block needs a title= file`);
      continue;
    }
    assert.match(title, /^docs\/guide\/[^/]+$/, `${GUIDE}:${b.line}: title names a guide file`);
    const file = Deno.readTextFileSync(new URL(title, root));
    assert.equal(b.body, file, `${GUIDE}:${b.line}: the block differs from ${title}`);
    shown.set(title, (shown.get(title) ?? 0) + 1);
  }
  assert.deepEqual([...shown.keys()].sort(), guideFiles(), "every guide file is shown");
  assert.ok([...shown.values()].every((n) => n === 1), "each file is shown once");
  // Each program imports the library as section 0 says, from the directory next to xenib/.
  for (const f of guideFiles().filter((f) => f.endsWith(".ts"))) {
    const text = Deno.readTextFileSync(new URL(f, root));
    const specifiers = [...text.matchAll(/from "([^"]+)"/g)].map((m) => m[1]);
    assert.ok(specifiers.includes("../xenib/mod.ts"), `${f} imports ../xenib/mod.ts`);
    for (const s of specifiers) {
      assert.ok(s === "../xenib/mod.ts" || s.startsWith("npm:"), `${f}: import "${s}"`);
    }
  }
});

Deno.test("guide: every program has one run command and one output block", () => {
  const programs = guideFiles().filter((f) => f.endsWith(".ts")).map((f) => f.slice(11));
  assert.deepEqual(runs.map((r) => r.file).sort(), programs);
  assert.deepEqual([...outputs.keys()].sort(), programs);
  for (const r of runs) assert.equal(r.argv.slice(0, 4).join(" "), "npx -y deno@2.9.6 run");
});

Deno.test("guide: the first program, alone next to xenib/, runs with the guide's command and prints what the guide shows", async () => {
  const first = blocks.find((b) => b.lang === "ts" && b.attrs.title);
  assert.equal(first?.attrs.title, "docs/guide/01_first_program.ts", "the first program shown");
  const run = runs[0];
  assert.equal(run.file, "01_first_program.ts", "the first command runs it");
  const { work, hello } = await layout();
  try {
    await Deno.copyFile(new URL(first.attrs.title, root), `${hello}/${run.file}`);
    assert.deepEqual([...Deno.readDirSync(hello)].map((e) => e.name), [run.file]);
    expectOutput(run, await runInHello(run, hello));
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("guide: every command runs as the guide says and prints what the guide shows", async () => {
  const { work, hello } = await layout();
  try {
    for (const f of guideFiles()) {
      await Deno.copyFile(new URL(f, root), `${hello}/${f.slice(11)}`);
    }
    for (const run of runs) expectOutput(run, await runInHello(run, hello));
    // 08_traces.ts wrote its capture where the guide says.
    assert.ok(Deno.statSync(`${hello}/rdma_write.pcap`).size > 24);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("README: the library example runs next to xenib/ as the README says and prints what it shows", async () => {
  const readme = Deno.readTextFileSync(new URL("README.md", root));
  const section = readme.slice(readme.indexOf("## Use it as a library"));
  const [code, shown] = parseBlocks(section).filter((b) => b.lang === "ts" || b.lang === "text");
  assert.equal(code?.lang, "ts", "README's library section shows a program");
  assert.equal(shown?.lang, "text", "… and what it prints");
  const how = /Saved as `hello\/(\S+\.ts)` next to `xenib\/`, `(npx -y deno@2\.9\.6 run \1)`/
    .exec(section.replace(/\s+/g, " "));
  assert.ok(how, "README says where to save the example and how to run it");
  const { work, hello } = await layout();
  try {
    await Deno.writeTextFile(`${hello}/${how[1]}`, code.body);
    const run = { argv: how[2].split(" "), file: how[1], line: 0 };
    assert.equal(await runInHello(run, hello), shown.body);
    // The same program under the V8 inlining budgets the README suggests prints the same.
    const fast = parseBlocks(section).find((b) =>
      b.lang === "sh" && b.body.includes("--v8-flags=")
    );
    assert.ok(fast, "README shows the run with V8's inlining budgets");
    const argv = fast.body.trim().split(/\s+/);
    assert.equal(argv.at(-1), how[1], "… of the same program");
    assert.equal(await runInHello({ argv, file: how[1], line: 0 }, hello), shown.body);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

await tsharkTest(
  "guide: tshark -r rdma_write.pcap lists the six packets section 8 shows",
  async () => {
    assert.match(guide, /`tshark -r rdma_write\.pcap` lists the same six packets/);
    const run = runs.find((r) => r.file === "08_traces.ts")!;
    const { work, hello } = await layout();
    try {
      await Deno.copyFile(new URL("docs/guide/08_traces.ts", root), `${hello}/08_traces.ts`);
      await runInHello(run, hello);
      const rows = (await tshark(["-r", "rdma_write.pcap"], hello)).trim().split("\n");
      const ops = rows.map((r) => /RC (RDMA Write First|RDMA Write Last|Acknowledge)/.exec(r)?.[1]);
      assert.deepEqual(ops, [
        "RDMA Write First",
        "RDMA Write First",
        "RDMA Write Last",
        "RDMA Write Last",
        "Acknowledge",
        "Acknowledge",
      ]);
      assert.ok(rows.every((r) => /QP=0x0+2\b/.test(r)), "QP numbers dissected");
    } finally {
      await Deno.remove(work, { recursive: true });
    }
  },
);
