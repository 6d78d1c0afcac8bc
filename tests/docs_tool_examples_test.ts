/**
 * The example outputs of the pages in {@link PAGES} (between `<!-- EXAMPLE:name -->` and
 * `<!-- /EXAMPLE:name -->`) are what the tools print today. For every example cheap enough for
 * the suite, each `$ deno task TOOL ARGS…` line of its code block is run as written (`deno task
 * -q`, from the repository's root, as a user who cloned it; a `# comment` after the arguments is
 * the reader's, not the command's) and its standard output compared, line for line, with the
 * lines the block shows under it. Progress bars and deno's own lines go to stderr, which the
 * blocks do not show.
 *
 * No output line is ignored: none of the checked commands prints anything of the wall clock (the
 * paper's `elapsed: … (wall clock)` line is the only such line in the examples, and the paper is
 * not checked, see {@link PAGES}). One difference is allowed, at the end of a block only: empty
 * lines the last command prints at the very end (devinfo ends each port with one) are not in the
 * block, because `deno fmt` removes the empty lines that end a fenced code block.
 *
 * Every example of a page is named here, checked or not, so a new one must be sorted in.
 */
import assert from "node:assert/strict";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);

/**
 * The pages whose examples are checked: how many examples each has at least (so a page whose
 * markers went missing fails), and the examples not run here, with why. The checked ones take
 * about 18 s of wall clock together on a 2-core machine shared with other work, all started at
 * once (alone: mpi.md's osu_latency up to 64 B 6 s, xenib-perf 5 s, each osu run of tools.md and
 * mpi.md's osu_bw about 2 s, every other 1.5 s or less); the budget for this file is about 25 s.
 */
const PAGES: Record<string, { atLeast: number; notChecked: Record<string, string> }> = {
  "docs/tools.md": {
    atLeast: 10,
    notChecked: {
      paper: "deno task paper measures every figure of the paper in three modes: 11 s of wall " +
        "clock on 2 shared cores, alone as long as all the checked examples together; it also " +
        "writes out/paper/ and prints its wall-clock run time, and the block shows its claims " +
        "table as deno fmt lays it out, not as printed",
    },
  },
  "docs/mpi.md": { atLeast: 2, notChecked: {} },
  "docs/nas.md": { atLeast: 3, notChecked: {} },
  "docs/migration.md": {
    atLeast: 1,
    notChecked: {
      migration: "deno task migration moves 64 MiB to 1 GiB guests page by page, pre-copy round " +
        "by round: 8 s of wall clock on 2 shared cores, as long as the slowest two checked " +
        "examples together",
    },
  },
};

/** One `$ deno task …` line of a block and the output lines the block shows under it. */
interface Command {
  /** 1-based line of the `$` line in the page. */
  line: number;
  /** The arguments after `deno task`. */
  args: string[];
  expected: string[];
}

/**
 * A marked example: its page, its name, where it starts, and its commands (none: prose, not a
 * session).
 */
interface Example {
  page: string;
  name: string;
  line: number;
  commands: Command[];
}

function examples(page: string): Example[] {
  const lines = Deno.readTextFileSync(`${ROOT}${page}`).split("\n");
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^<!-- EXAMPLE:([\w-]+) -->$/.exec(lines[i]);
    if (!open) continue;
    const name = open[1], start = i;
    const end = lines.indexOf(`<!-- /EXAMPLE:${name} -->`, i);
    assert.ok(end > i, `${page}:${i + 1}: EXAMPLE:${name} is never closed`);
    const commands: Command[] = [];
    // The example's first fenced block (``` or ```text) holds its session when it starts with a
    // `$` line.
    const fence = lines.findIndex((l, k) => k > i && /^```\w*$/.test(l));
    const close = lines.indexOf("```", fence + 1);
    if (fence > i && fence < end && lines[fence + 1].startsWith("$ ")) {
      assert.ok(close > fence && close < end, `${page}:${fence + 1}: code block never closed`);
      for (let j = fence + 1; j < close; j++) {
        const cmd = /^\$ deno task (.+?)(?: +# .*)?$/.exec(lines[j]);
        if (cmd) {
          assert.doesNotMatch(
            cmd[1],
            /["'\\|;&<>$`]/,
            `${page}:${j + 1}: not a plain command line`,
          );
          commands.push({ line: j + 1, args: cmd[1].split(/ +/), expected: [] });
        } else {
          assert.ok(!lines[j].startsWith("$ "), `${page}:${j + 1}: not a deno task: ${lines[j]}`);
          commands.at(-1)!.expected.push(lines[j]);
        }
      }
    }
    out.push({ page, name, line: start + 1, commands });
    i = end;
  }
  return out;
}

/** `deno task -q ARGS…` from the repository's root: its stdout, or why it failed. */
async function run(args: string[]): Promise<string> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", INIT_CWD: ROOT },
  }).output();
  const dec = new TextDecoder();
  assert.equal(
    r.code,
    0,
    `deno task ${args.join(" ")} exited with ${r.code}:\n${dec.decode(r.stderr)}`,
  );
  return dec.decode(r.stdout);
}

/** The first line where `printed` and `expected` differ, as a message; undefined if none. */
function firstDifference(printed: string[], expected: string[]): string | undefined {
  for (let k = 0; k < Math.max(printed.length, expected.length); k++) {
    if (printed[k] === expected[k]) continue;
    const show = (l: string | undefined) => l === undefined ? "(no line)" : JSON.stringify(l);
    return `output line ${k + 1}:\n  block:   ${show(expected[k])}\n  printed: ${show(printed[k])}`;
  }
  return undefined;
}

const all = Object.keys(PAGES).flatMap(examples);
const checked = all.filter((e) => !(e.name in PAGES[e.page].notChecked));

for (const [page, { atLeast, notChecked }] of Object.entries(PAGES)) {
  Deno.test(`${page} examples: each is checked here or listed as not checked, with a reason`, () => {
    const names = all.filter((e) => e.page === page).map((e) => e.name);
    assert.ok(names.length >= atLeast, `only ${names.length} examples found in ${page}`);
    assert.equal(new Set(names).size, names.length, `an example name is used twice: ${names}`);
    for (const n of Object.keys(notChecked)) {
      assert.ok(
        names.includes(n),
        `PAGES names '${n}' as not checked, which ${page} no longer has`,
      );
    }
    for (const e of checked.filter((e) => e.page === page)) {
      assert.ok(
        e.commands.length > 0,
        `${page}:${e.line}: EXAMPLE:${e.name} shows no '$ deno task …' line to run: add one, or ` +
          `list it in PAGES' notChecked with the reason`,
      );
    }
  });
}

/** Every checked command's stdout: all started together at the first test that needs one. */
let outputs: Map<Command, Promise<string>> | undefined;
function output(c: Command): Promise<string> {
  outputs ??= new Map(
    checked.flatMap((e) => e.commands).map((c) => {
      const p = run(c.args);
      p.catch(() => {}); // reported by its example's test
      return [c, p];
    }),
  );
  return outputs.get(c)!;
}

for (const e of checked) {
  Deno.test(`${e.page} example '${e.name}' is what the tool prints`, async () => {
    for (const [k, c] of e.commands.entries()) {
      const command = `deno task ${c.args.join(" ")}`;
      const printed = (await output(c)).replace(/\n$/, "").split("\n");
      // The block's end: deno fmt drops the empty lines that end a fenced block.
      if (k === e.commands.length - 1) {
        while (printed.length > 0 && printed.at(-1) === "") printed.pop();
      }
      const diff = firstDifference(printed, c.expected);
      assert.ok(
        diff === undefined,
        `${e.page}:${c.line} (EXAMPLE:${e.name}): '$ ${command}' no longer prints what the ` +
          `block shows; first difference at ${diff}\nregenerate: ${command}   (from the ` +
          `repository's root; its stdout goes under line ${c.line})`,
      );
    }
  });
}
