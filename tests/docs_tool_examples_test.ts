/**
 * The example outputs of docs/tools.md (between `<!-- EXAMPLE:name -->` and
 * `<!-- /EXAMPLE:name -->`) are what the tools print today. For every example cheap enough for
 * the suite, each `$ deno task TOOL ARGS…` line of its code block is run as written (`deno task
 * -q`, from the repository's root, as a user who cloned it) and its standard output compared,
 * line for line, with the lines the block shows under it. Progress bars and deno's own lines go
 * to stderr, which the blocks do not show.
 *
 * No output line is ignored: none of the checked commands prints anything of the wall clock (the
 * paper's `elapsed: … (wall clock)` line is the only such line in the examples, and the paper is
 * not checked, see {@link NOT_CHECKED}). One difference is allowed, at the end of a block only:
 * empty lines the last command prints at the very end (devinfo ends each port with one) are not in
 * the block, because `deno fmt` removes the empty lines that end a fenced code block.
 *
 * Every example of the page is named here, checked or not, so a new one must be sorted in.
 */
import assert from "node:assert/strict";

const ROOT = decodeURIComponent(new URL("..", import.meta.url).pathname);
const PAGE = "docs/tools.md";

/**
 * Examples not run here, and why. The checked ones take about 10 s of wall clock together on a
 * 2-core machine shared with other work (the two osu runs about 7 s each, xenib-perf 5 s, each
 * of the others 1 s or less); the budget for this file is about 20 s.
 */
const NOT_CHECKED: Record<string, string> = {
  paper: "deno task paper measures every figure of the paper in three modes: 11 s of wall clock " +
    "on 2 shared cores, alone as long as all the checked examples together; it also writes " +
    "out/paper/ and prints its wall-clock run time, and the block shows its claims table as " +
    "deno fmt lays it out, not as printed",
};

/** One `$ deno task …` line of a block and the output lines the block shows under it. */
interface Command {
  /** 1-based line of the `$` line in the page. */
  line: number;
  /** The arguments after `deno task`. */
  args: string[];
  expected: string[];
}

/** A marked example: its name, where it starts, and its commands (none: prose, not a session). */
interface Example {
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
    // The example's first fenced block holds its session when it starts with a `$` line.
    const fence = lines.indexOf("```", i);
    const close = lines.indexOf("```", fence + 1);
    if (fence > i && fence < end && lines[fence + 1].startsWith("$ ")) {
      assert.ok(close > fence && close < end, `${page}:${fence + 1}: code block never closed`);
      for (let j = fence + 1; j < close; j++) {
        const cmd = /^\$ deno task (.+)$/.exec(lines[j]);
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
    out.push({ name, line: start + 1, commands });
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

const all = examples(PAGE);
const checked = all.filter((e) => !(e.name in NOT_CHECKED));

Deno.test("docs/tools.md examples: each is checked here or listed as not checked, with a reason", () => {
  const names = all.map((e) => e.name);
  assert.ok(names.length >= 9, `only ${names.length} examples found in ${PAGE}`);
  assert.equal(new Set(names).size, names.length, `an example name is used twice: ${names}`);
  for (const n of Object.keys(NOT_CHECKED)) {
    assert.ok(names.includes(n), `NOT_CHECKED names '${n}', which ${PAGE} no longer has`);
  }
  for (const e of checked) {
    assert.ok(
      e.commands.length > 0,
      `${PAGE}:${e.line}: EXAMPLE:${e.name} shows no '$ deno task …' line to run: add one, or ` +
        `list it in NOT_CHECKED with the reason`,
    );
  }
});

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
  Deno.test(`docs/tools.md example '${e.name}' is what the tool prints`, async () => {
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
        `${PAGE}:${c.line} (EXAMPLE:${e.name}): '$ ${command}' no longer prints what the ` +
          `block shows; first difference at ${diff}\nregenerate: ${command}   (from the ` +
          `repository's root; its stdout goes under line ${c.line})`,
      );
    }
  });
}
