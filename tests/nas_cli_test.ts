/**
 * `deno task nas` as users run it: NPB's output, --json, exit codes, and
 * one-line errors for bad flags (unknown kernel, a bad class, a bad DT
 * graph or a graph for another kernel, a process count against NPB's rules,
 * a missing profile file); paths resolve from where the task was run.
 */
import assert from "node:assert/strict";
import { nasUsage, parseNasArgs } from "../tools/lib/nas_args.ts";
import { LAUNCH_LONG_FLAGS } from "../tools/lib/mpi_args.ts";
import { MPIRUN_USAGE } from "../tools/lib/mpirun_args.ts";
import { usage as osuUsage } from "../tools/lib/osu_format.ts";

const ROOT = new URL("..", import.meta.url).pathname;

async function nas(cwd: string, ...args: string[]) {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "nas", ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
    // What npx (npm) or deno task sets: the directory the user ran the task from.
    env: { NO_COLOR: "1", INIT_CWD: cwd },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

function userError(r: { code: number; err: string }, re: RegExp): void {
  assert.equal(r.code, 1, r.err);
  const lines = r.err.trim().split("\n");
  assert.equal(lines.length, 1, r.err);
  assert.match(lines[0], /^nas: /);
  assert.match(lines[0], re);
}

Deno.test("nas cli: a run prints NPB's banner and report; --json gives the figures", async () => {
  const [text, json, help, moved, dt] = await Promise.all([
    nas(ROOT, "is", "--class", "S", "--np", "2", "--mode", "bypass"),
    nas(ROOT, "IS", "-np", "2", "--json", "--compute", "model"),
    nas(ROOT, "--help"),
    nas(ROOT, "is", "--np", "2", "--mode", "split", "--guest-memory", "16", "--migrate", "1@0.5"),
    nas(ROOT, "dt", "--graph", "wh", "--np", "5", "--json"),
  ]);
  // DT: the graph is NPB's argument, --graph here; --json names it.
  assert.equal(dt.code, 0, dt.err);
  const d = JSON.parse(dt.out);
  assert.deepEqual([d.kernel, d.graph, d.verification], ["DT", "WH", "SUCCESSFUL"]);
  // --migrate: the run verifies, and the report ends with what the move did and cost.
  assert.equal(moved.code, 0, moved.err);
  assert.ok(moved.out.includes(" Verification    =               SUCCESSFUL"));
  assert.match(
    moved.out,
    /\n Live migration: rank 1's guest node1-vm0 moved node1 → spare0 at 0\.50 ms: downtime [\d.]+ ms/,
  );
  assert.equal(text.code, 0, text.err);
  const lines = text.out.split("\n");
  assert.ok(lines.includes(" NAS Parallel Benchmarks 3.4 -- IS Benchmark"));
  assert.ok(lines.includes(" Size:  65536  (class S)"));
  assert.ok(lines.includes(" Verification    =               SUCCESSFUL"));
  assert.ok(lines.includes(" Total processes =                        2"));
  assert.ok(lines.some((l) => l.startsWith("    MODE         = bypass")));
  assert.equal(json.code, 0, json.err);
  const j = JSON.parse(json.out);
  assert.equal(j.kernel, "IS");
  assert.equal(j.compute, "model");
  assert.equal(j.verification, "NOT PERFORMED");
  assert.equal(j.ranks.length, 2);
  assert.ok(j.timeSec > 0 && j.ranks[0].bytesSent > 0);
  assert.equal(help.code, 0);
  assert.match(help.out, /usage: deno task nas KERNEL/);
  assert.match(help.out, /IS +Integer Sort/);
  assert.match(help.out, /DT +Data Traffic .*; --graph BH WH SH/);
});

Deno.test("nas cli: bad flags and values are one line each, exit 1", async () => {
  const rs = await Promise.all([
    nas(ROOT, "qq"),
    nas(ROOT, "dt"),
    nas(ROOT, "is", "--class", "Z"),
    nas(ROOT, "is", "--np", "6"),
    nas(ROOT, "ep", "--class", "S", "--np", "257"),
    nas(ROOT, "is", "--mode", "xen"),
    nas(ROOT, "is", "--guests-per-host", "2"),
    nas(ROOT, "is", "--compute", "fast"),
    nas(ROOT, "is", "--profile", "missing.yaml"),
    nas(ROOT, "is", "--frobnicate"),
    nas(ROOT, "is", "--class", "C"),
    nas(ROOT, "sp", "--np", "8"),
    nas(ROOT, "dt", "--graph", "XY", "--np", "5"),
    nas(ROOT, "is", "--graph", "BH"),
  ]);
  userError(rs[0], /unknown kernel 'qq' \(have: BT, CG, DT, EP, FT, IS, LU, MG, SP\)/);
  // dt.c: "The number of MPI processes should not be less than the number of nodes in the graph".
  userError(rs[1], /--np 4: DT_BH\.S has 5 nodes, one per process: at least 5 processes \(NPB: /);
  userError(rs[2], /--class: 'Z' is not a class/);
  userError(rs[3], /--np 6: IS needs a power of two number of processes \(6 is not; try 4\)/);
  userError(rs[4], /--np 257: EP class S has 256 batches .* at most 256 processes/);
  userError(rs[5], /--mode: 'xen' is not a mode/);
  userError(rs[6], /--guests-per-host applies to --mode bypass and split/);
  userError(rs[7], /--compute: 'fast' is not real, model or auto/);
  userError(rs[8], /--profile .*missing\.yaml: cannot read the file/);
  userError(rs[9], /unrecognized option '--frobnicate' \(see --help\)$/);
  userError(rs[10], /IS has no class C here \(classes: S, W, A, B\)/);
  // NPB's get_active_nprocs: " *** ERROR determining processor topology for 8 processes" and
  // "     Expecting a square number of processes (such as 4)", as one line.
  userError(
    rs[11],
    /--np 8: SP: \*\*\* ERROR determining processor topology for 8 processes: Expecting a square number of processes \(such as 4\)/,
  );
  userError(rs[12], /--graph: 'XY' is not a DT graph \(BH, WH, SH\)$/);
  userError(rs[13], /--graph: IS takes no graph \(only DT does\)$/);
});

Deno.test("nas cli: a profile path resolves from where the task was run", async () => {
  const r = await nas(
    `${ROOT}tools`,
    "is",
    "--profile",
    "examples/slow_bus_profile.yaml",
    "--np",
    "2",
  );
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /^ {4}PROFILE {6}= slow-bus$/m);
});

Deno.test("nas cli: flag parsing", () => {
  const c = parseNasArgs([
    "ep",
    "--class=a",
    "-n",
    "16",
    "--mode=split",
    "--hosts",
    "8",
    "--guests-per-host",
    "2",
  ]);
  assert.deepEqual(
    [c.kernel, c.cls, c.launch.np, c.launch.mode, c.launch.hosts, c.launch.guestsPerHost],
    ["ep", "A", 16, "split", 8, 2],
  );
  assert.deepEqual([parseNasArgs(["is"]).cls, parseNasArgs(["is"]).launch.np], ["S", 4]);
  assert.throws(() => parseNasArgs(["is", "ep"]), /one kernel at a time/);
  assert.throws(() => parseNasArgs(["is", "--class"]), {
    message: "option '--class' requires an argument (see --help)",
  });
  assert.throws(() => parseNasArgs(["dt", "--graph"]), {
    message: "option '--graph' requires an argument (see --help)",
  });
  assert.throws(() => parseNasArgs(["is", "-np"]), {
    message: "option '-np' requires an argument (see --help)",
  });
  assert.equal(parseNasArgs(["dt", "--graph=SH"]).graph, "SH");
  assert.equal(parseNasArgs(["-h"]).help, true);
});

Deno.test("nas cli: the command line is read by getopt_long's rules, launch flags as osu's", () => {
  // Unambiguous prefixes, the kernel anywhere (getopt permutes), `--` ending the options.
  const c = parseNasArgs([
    "--cl",
    "w",
    "--mo",
    "split",
    "--guests=2",
    "ep",
    "--comp",
    "model",
    "--js",
  ]);
  assert.deepEqual(
    [c.kernel, c.cls, c.launch.mode, c.launch.guestsPerHost, c.compute, c.json],
    ["ep", "W", "split", 2, "model", true],
  );
  // The launch flags take a prefix only where it names none of nas's own: --g is --graph.
  assert.equal(parseNasArgs(["dt", "--g", "WH"]).graph, "WH");
  assert.deepEqual(parseNasArgs(["--", "is"]).kernel, "is");
  assert.throws(() => parseNasArgs(["is", "--c", "A"]), {
    message: "option '--c' is ambiguous; possibilities: '--class' '--compute' (see --help)",
  });
  assert.throws(
    () => parseNasArgs(["is", "--gues", "2"]),
    /^UsageError: option '--gues' is ambiguous/,
  );
  // A bad value is named by the flag's full name, or as typed where that is one (-np, -n).
  assert.throws(
    () => parseNasArgs(["is", "--mo", "xen"]),
    /^UsageError: --mode: 'xen' is not a mode/,
  );
  assert.throws(() => parseNasArgs(["is", "-n", "0"]), {
    message: "-n: '0' is not a whole number >= 1",
  });
  // Options are handled in command-line order: the first bad one is the error.
  assert.throws(() => parseNasArgs(["is", "--class", "Q", "--frob"]), /^UsageError: --class: 'Q'/);
  assert.throws(
    () => parseNasArgs(["is", "--frob", "--class", "Q"]),
    /unrecognized option '--frob'/,
  );
});

Deno.test("mpi tools: every help text names every launch flag (nas, mpirun, osu)", () => {
  const helps = {
    nas: nasUsage([{ name: "EP", classes: ["S"], modelClasses: [] }]),
    mpirun: MPIRUN_USAGE,
    osu: osuUsage("osu_latency"),
  };
  for (const [tool, text] of Object.entries(helps)) {
    for (const flag of LAUNCH_LONG_FLAGS) {
      assert.ok(text.includes(`${flag} `), `${tool}'s help does not name ${flag}`);
    }
  }
});
