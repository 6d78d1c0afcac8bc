/**
 * The launcher's V8 flags: the inlining budgets go to the tools whose time is one long simulated
 * loop, V8's defaults to the tools of many short points (docs/performance-history.md, "Short runs
 * under V8's defaults").
 */
import assert from "node:assert/strict";
import { denoArgs, INLINING_FLAGS } from "../tools/launch.ts";

function v8Flags(tool: string, args: string[] = []): string[] {
  const f = denoArgs(tool, args, "/repo", "/tmp").find((a) => a.startsWith("--v8-flags="));
  return f === undefined ? [] : f.slice("--v8-flags=".length).split(",");
}

Deno.test("launch: the tools of many short points run under V8's default inlining", () => {
  for (const tool of ["paper", "xenib-perf", "native-perf"]) {
    assert.deepEqual(v8Flags(tool), [], tool);
    assert.deepEqual(v8Flags(tool, ["--jobs", "1"]), [], tool);
  }
});

Deno.test("launch: the long-running tools get the inlining budgets after their own flags", () => {
  for (const tool of ["perftest", "run", "mpirun", "osu", "nas", "migration", "fuzz", "devinfo"]) {
    assert.deepEqual(v8Flags(tool), [...INLINING_FLAGS], tool);
  }
  assert.deepEqual(v8Flags("bench", ["stream"]), ["--expose-gc", ...INLINING_FLAGS]);
  assert.deepEqual(v8Flags("bench", ["all-to-all"]), [
    "--expose-gc",
    "--max-semi-space-size=128",
    ...INLINING_FLAGS,
  ]);
});

Deno.test("launch: the script and its arguments follow the flags", () => {
  const a = denoArgs("paper", ["--out", "/tmp/p"], "/repo", "/home/u");
  assert.equal(a[0], "run");
  assert.deepEqual(a.slice(-3), ["/repo/tools/paper.ts", "--out", "/tmp/p"]);
  assert.ok(a.includes("--allow-write=/tmp/p"));
});

// node:util's parseArgs (run's parser) reads every argument after `--` as a positional: the
// launcher took `--odd.yaml` for a flag, granted no read, and the run said "no read permission".
Deno.test("launch: after '--' the scenario files are read, however they are spelled", () => {
  const a = denoArgs("run", ["--check", "--", "--odd.yaml", "b.yaml"], "/repo", "/home/u");
  const read = a.find((x) => x.startsWith("--allow-read="))!.slice("--allow-read=".length);
  assert.ok(read.split(",").includes("/home/u/--odd.yaml"), read);
  assert.ok(read.split(",").includes("/home/u/b.yaml"), read);
  assert.deepEqual(a.slice(-4), ["--check", "--", "--odd.yaml", "b.yaml"]);
});

// devinfo reads its command line by getopt_long's rules (tools/lib/getopt.ts): `--prof` is its
// --profile, whose file the launcher must grant, also after -l with a -i that never gets read.
Deno.test("launch: devinfo's profile file is granted however getopt_long spells the flag", () => {
  for (
    const args of [["--prof", "p.yaml"], ["-l", "--profile=p.yaml", "-i"], [
      "-v",
      "--pro",
      "p.yaml",
    ]]
  ) {
    const a = denoArgs("devinfo", args, "/repo", "/home/u");
    const read = a.find((x) => x.startsWith("--allow-read="))!.slice("--allow-read=".length);
    assert.ok(read.split(",").includes("/home/u/p.yaml"), `${args.join(" ")}: ${read}`);
  }
});

// osu reads its command line by getopt_long's rules too (tools/lib/osu_args.ts), with the
// benchmark's getopt string: the launcher grants the profile file it reads, and only that.
Deno.test("launch: osu's profile file is granted as osu's getopt_long table reads the line", () => {
  const granted = (args: string[]) =>
    denoArgs("osu", args, "/repo", "/home/u").find((x) => x.startsWith("--allow-read="))!
      .slice("--allow-read=".length).split(",").includes("/home/u/p.yaml");
  for (
    const args of [
      ["osu_latency", "--prof", "p.yaml"],
      ["osu_bw", "-cW16", "--profile=p.yaml"],
      ["osu_put_latency", "-sfence", "--pro", "p.yaml"],
    ]
  ) {
    assert.ok(granted(args), args.join(" "));
  }
  // -b takes the next word as its value (osu_bw's getopt string has b:); osu_bcast has no -b.
  assert.equal(granted(["osu_bw", "-b", "--profile", "p.yaml"]), false);
  assert.equal(granted(["osu_bcast", "-b", "--profile", "p.yaml"]), true);
  // The one-sided benchmarks' getopt string has s:, and -s's value is the next word.
  assert.equal(granted(["osu_put_latency", "-s", "--profile", "p.yaml"]), false);
});

// `--` ends the options (glibc's rule) for osu as for nas and mpirun: a launch flag after it is
// an operand, which the tool refuses or hands on, so the launcher grants no file it names.
Deno.test("launch: after '--' no tool's --profile is a flag, osu's as nas's and mpirun's", () => {
  const read = (tool: string, args: string[]) =>
    denoArgs(tool, args, "/repo", "/home/u").find((x) => x.startsWith("--allow-read="))!
      .slice("--allow-read=".length).split(",");
  for (
    const [tool, args] of [
      ["osu", ["osu_latency", "-m", "8", "--", "H", "H", "--profile", "p.yaml"]],
      ["osu", ["osu_put_latency", "--", "--profile=p.yaml"]],
      ["nas", ["is", "--", "--profile", "p.yaml"]],
      ["mpirun", ["-np", "2", "--", "prog.ts", "--profile", "p.yaml"]],
    ] as const
  ) {
    assert.ok(!read(tool, [...args]).includes("/home/u/p.yaml"), `${tool} ${args.join(" ")}`);
  }
});

// nas and mpirun read their command lines by getopt_long's rules too (tools/lib/nas_args.ts,
// tools/lib/mpirun_args.ts, the launch flags as extensions): the launcher grants the profile file
// and mpirun's program as the tools read them. mpirun's flags end at the program.
Deno.test("launch: nas's and mpirun's files are granted as their getopt_long tables read the line", () => {
  const read = (tool: string, args: string[]) =>
    denoArgs(tool, args, "/repo", "/home/u").find((x) => x.startsWith("--allow-read="))!
      .slice("--allow-read=".length).split(",");
  for (
    const args of [
      ["is", "--prof", "p.yaml"],
      ["--pro=p.yaml", "ep", "-np", "2"],
      ["is", "--mo", "split", "--profile", "p.yaml"],
      ["-h", "is", "--profile=p.yaml"],
    ]
  ) {
    assert.ok(read("nas", args).includes("/home/u/p.yaml"), args.join(" "));
  }
  // A value is the next word, whatever it looks like: --graph's here, nothing to read.
  assert.ok(!read("nas", ["dt", "--graph", "--profile", "p.yaml"]).includes("/home/u/p.yaml"));
  const m = read("mpirun", ["-np", "2", "--prof", "p.yaml", "--mo", "split", "prog.ts", "-x"]);
  assert.ok(m.includes("/home/u/p.yaml") && m.includes("/home/u/prog.ts"), m.join());
  // After the program, the words are its own: its --profile is no file of mpirun's.
  const after = read("mpirun", ["-n", "2", "prog.ts", "--profile", "q.yaml"]);
  assert.ok(after.includes("/home/u/prog.ts") && !after.includes("/home/u/q.yaml"), after.join());
  // `--` ends mpirun's flags: a program named with a dash is still the program.
  assert.ok(read("mpirun", ["-np", "2", "--", "-odd.ts"]).includes("/home/u/-odd.ts"));
  // --migrate's value is its value, not the program.
  const mig = read("mpirun", ["-np", "2", "--mig", "0@5", "prog.ts"]);
  assert.ok(mig.includes("/home/u/prog.ts") && !mig.includes("/home/u/0@5"), mig.join());
});

Deno.test("launch: a name that is no tool is refused in one line, names every object has too", async () => {
  for (const name of ["nope", "constructor", "toString"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../tools/launch.ts", import.meta.url).pathname, name],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 2, name);
    assert.match(err, new RegExp(`^launch: unknown tool '${name}' \\(one of perftest, `), name);
    assert.equal(err.trim().split("\n").length, 1, err);
  }
});
