/**
 * Independent points on Web Workers (issue 14): `perftest -a`, xenib-perf, native-perf and
 * the paper give byte-identical output with one job (in order, in the
 * tool's own thread) and with several workers.
 */
import assert from "node:assert/strict";
import { PCIX_SDR_2006 } from "../mod.ts";
import { main as nativePerf } from "../tools/native_perf.ts";
import { main as xenibPerf } from "../tools/xenib_perf.ts";
import { paperPlan, runPaper } from "../tools/lib/paper_run.ts";
import { paperCharts, paperMarkdown } from "../tools/lib/paper_report.ts";
import { ROOT, runTool } from "./support/tool.ts";

async function perftest(args: string[], tool = "perftest.ts"): Promise<string> {
  const r = await runTool(tool, args);
  assert.equal(r.code, 0, r.err);
  return r.out;
}

Deno.test("perftest -a: the same bytes in order in one thread and on two workers", async () => {
  for (
    const args of [["ib_send_lat", "-c", "UD", "-a", "-n", "50"], ["ib_write_bw", "-a", "-n", "5"]]
  ) {
    const [one, two] = await Promise.all([
      perftest([...args, "--jobs", "1"]),
      perftest([...args, "--jobs", "2"]),
    ]);
    assert.equal(two, one, args.join(" "));
    // Every size has its row, in order.
    const sizes = one.split("\n").filter((l) => /^ \d+\s+\d+\s/.test(l)).map((l) =>
      Number(l.trim().split(/\s+/)[0])
    );
    assert.deepEqual(sizes, [...sizes].sort((a, b) => a - b));
    assert.ok(sizes.length >= 11, `${sizes.length} rows`);
  }
});

Deno.test("run: several scenario files give the same output in order in one thread and on workers", async () => {
  const files = ["tools/examples/split_vs_bypass.yaml", "tools/examples/two_guests.yaml"];
  const [one, two] = await Promise.all([
    perftest([...files, "--jobs", "1"], "run.ts"),
    perftest([...files, "--jobs", "2"], "run.ts"),
  ]);
  assert.equal(two, one);
  const heads = one.split("\n").filter((l) => l.startsWith("scenario "));
  assert.deepEqual(heads.map((l) => l.split(":")[0]), files.map((f) => `scenario ${f}`));
});

Deno.test("run: a scenario that fails ends the run as in one thread: the files before it print, then its error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const head = "profile: pcix-sdr-2006\nseed: 1\nhosts:\n  - name: xen0\n    hypervisor: true\n" +
      "  - name: metal\nguests:\n  - name: vm0\n    host: xen0\n    mode: bypass\n";
    // Valid, and a few hundred milliseconds of simulation.
    await Deno.writeTextFile(
      `${dir}/ok.yaml`,
      head + "workload:\n  - perftest: ib_write_lat\n    between: [vm0, metal]\n" +
        "    sizes: [2, 64]\n    iterations: 1000\n",
    );
    // Valid, and fails at once when it runs: the guest cannot hold the buffers.
    await Deno.writeTextFile(
      `${dir}/small.yaml`,
      head.replace("mode: bypass\n", "mode: bypass\n    memoryMiB: 16\n") +
        "workload:\n  - perftest: ib_write_bw\n    between: [vm0, metal]\n" +
        "    size: 64M\n    iterations: 5\n",
    );
    const run = async (jobs: string) => {
      const r = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          `--allow-read=${ROOT},${dir}`,
          "--allow-env",
          `${ROOT}tools/run.ts`,
          "ok.yaml",
          "small.yaml",
          "ok.yaml",
          "--jobs",
          jobs,
        ],
        cwd: dir,
        env: { NO_COLOR: "1", INIT_CWD: dir },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const d = new TextDecoder();
      return { code: r.code, out: d.decode(r.stdout), err: d.decode(r.stderr) };
    };
    const one = await run("1");
    assert.equal(one.code, 1);
    assert.match(one.out, /^scenario ok\.yaml:/);
    assert.equal(one.out.split("\nscenario ").length, 1, "only the first file's output");
    // The failing file and entry are named (of three files, which one failed).
    assert.match(
      one.err,
      /^run: small\.yaml: workload\[0\] \(ib_write_bw vm0<->metal\): vm0: cannot allocate \d+ bytes of buffers/,
    );
    for (const jobs of ["2", "3"]) assert.deepEqual(await run(jobs), one, `--jobs ${jobs}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("xenib-perf: the same output with one job and with two workers", async () => {
  const run = async (jobs: string) => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (line: string) => void lines.push(line);
    try {
      await xenibPerf(["--quick", "--jobs", jobs]);
    } finally {
      console.log = log;
    }
    return lines.join("\n");
  };
  const one = await run("1");
  assert.equal(await run("2"), one);
  assert.match(one, /^5\. CQ \(256 entries\)/m);
});

Deno.test("native-perf: the same output with one job and with two workers", async () => {
  const run = async (jobs: string) => {
    const lines: string[] = [];
    const log = console.log;
    console.log = (line: string) => void lines.push(line);
    try {
      await nativePerf(["--iters", "50", "--bw-iters", "8", "--jobs", jobs]);
    } finally {
      console.log = log;
    }
    return lines.join("\n");
  };
  const one = await run("1");
  assert.equal(await run("2"), one);
  assert.match(one, /^RDMA WRITE latency 2 B: /m);
  assert.match(one, /^RDMA WRITE bandwidth 1048576 B: /m);
});

Deno.test("paper: the tool writes the same files with one job and with two workers", async () => {
  const dir = await Deno.makeTempDir({ prefix: "xenib_paper_jobs_" });
  try {
    const files: Record<string, Record<string, string>> = {};
    const outs: Record<string, string> = {};
    for (const jobs of ["1", "2"]) {
      const out = `${dir}/jobs${jobs}`;
      const r = await runTool("paper.ts", ["--quick", "--jobs", jobs, "--out", out], dir);
      assert.equal(r.code, 0, r.err);
      // What it printed, but for the lines that name the directory and the wall time.
      outs[jobs] = r.out.split("\n").filter((l) => !/^(wrote |elapsed: )/.test(l)).join("\n");
      files[jobs] = {};
      for (const e of [...Deno.readDirSync(out)].sort((a, b) => a.name < b.name ? -1 : 1)) {
        files[jobs][e.name] = await Deno.readTextFile(`${out}/${e.name}`);
      }
    }
    assert.ok("report.md" in files["1"] && "write_lat.svg" in files["1"]);
    assert.deepEqual(files["2"], files["1"], "report.md and the charts, byte for byte");
    assert.equal(outs["2"], outs["1"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("paper: the same report and charts with one job, two workers and the default", async () => {
  const run = (jobs: number | undefined) =>
    runPaper({
      scale: "quick",
      profile: PCIX_SDR_2006,
      seed: 5,
      noise: "on",
      modes: ["native", "bypass", "split"],
      plan: { ...paperPlan("quick"), sensitivity: true },
      jobs,
    });
  const [one, two] = [await run(1), await run(2)];
  assert.equal(paperMarkdown(two), paperMarkdown(one));
  assert.deepEqual(paperCharts(two), paperCharts(one));
  // No --jobs: one worker per core, as `deno task paper` runs.
  const byDefault = await run(undefined);
  assert.equal(paperMarkdown(byDefault), paperMarkdown(one));
  assert.deepEqual(paperCharts(byDefault), paperCharts(one));
  assert.ok(one.sensitivity && one.app?.osu, "the sensitivity and MPI parts ran too");
});
