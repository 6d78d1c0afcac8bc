// The tools as users run them: `deno task <tool> …` from the repository
// root, with the permissions deno.json grants. Exit codes and messages.
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;

async function task(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

/** A user error: exit 1, one line on stderr naming the problem, no stack trace. */
function userError(r: { code: number; err: string }, tool: string, re: RegExp): void {
  assert.equal(r.code, 1, r.err);
  const lines = r.err.trim().split("\n");
  assert.ok(lines.some((l) => l.startsWith(`${tool}: `) && re.test(l)), r.err);
  assert.ok(!/^\s+at /m.test(r.err), `stack trace in: ${r.err}`);
}

Deno.test("tools: --help of every task", async () => {
  const [perf, perfTest, dev, paper, run, xperf] = await Promise.all([
    task("perftest", "--help"),
    task("perftest", "ib_read_bw", "-h"),
    task("devinfo", "--help"),
    task("paper", "--help"),
    task("run", "--help"),
    task("xenib-perf", "--help"),
  ]);
  for (const r of [perf, perfTest, dev, paper, run, xperf]) assert.equal(r.code, 0, r.err);
  assert.match(perf.out, /Usage: deno task perftest <test>/);
  assert.match(perf.out, /ib_atomic_bw/);
  assert.match(perfTest.out, /Usage: deno task perftest ib_read_bw/);
  assert.match(perfTest.out, /--report_gbits/);
  assert.match(dev.out, /Usage: deno task devinfo/);
  assert.match(paper.out, /Usage: deno task paper/);
  assert.match(paper.out, /--quick/);
  assert.match(run.out, /Usage: deno task run <scenario\.yaml>/);
  assert.match(xperf.out, /Usage: deno task xenib-perf/);
  assert.match(xperf.out, /--profile/);
});

Deno.test("tools: bad flags and values exit 1 with a message naming them", async () => {
  const dir = await Deno.makeTempDir({ prefix: "xenib_cli_" });
  try {
    const bad = `${dir}/bad.yaml`;
    await Deno.writeTextFile(bad, "hosts:\n  - name: a\n    hypervisr: true\nworkload: []\n");
    const [unknown, combo, value, devFlag, paperOut, runBad, runMissing, runExtra, xIters, xProf] =
      await Promise.all([
        task("perftest", "ib_write_lat", "--frobnicate"),
        task("perftest", "ib_read_lat", "-c", "UC"),
        task("perftest", "ib_write_bw", "-s", "12Q"),
        task("devinfo", "--ib-port", "x"),
        task("paper", "--out", `${dir}/paper`),
        // The task may read ./ only: a file elsewhere gets a message naming the permission.
        task("run", bad),
        task("run"),
        task("run", "a.yaml", "b.yaml"),
        task("xenib-perf", "--iters", "many"),
        task("xenib-perf", "--profile", "pcix-ddr"),
      ]);
    const profileOutside = await task("perftest", "ib_write_lat", "--profile", `${dir}/p.yaml`);
    userError(
      profileOutside,
      "perftest",
      /--profile .*p\.yaml: cannot read the file.*--allow-read=\.,/,
    );
    userError(unknown, "perftest", /unknown flag '--frobnicate'/);
    userError(combo, "perftest", /UC connection not possible in READ\/ATOMIC/);
    userError(value, "perftest", /-s\/--size: '12Q' is not a size/);
    userError(devFlag, "devinfo", /-i\/--ib-port: 'x' is not a whole number/);
    userError(paperOut, "paper", /no permission to write there.*--allow-write=out,/);
    userError(runBad, "run", /cannot read the scenario: no read permission.*--allow-read=\.,/);
    userError(runMissing, "run", /missing scenario file/);
    userError(runExtra, "run", /one scenario file at a time/);
    userError(xIters, "xenib-perf", /--iters: 'many' is not a whole number/);
    userError(xProf, "xenib-perf", /unknown profile 'pcix-ddr' \(built-in: pcix-sdr-2006/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tools: scenario errors carry file:line:col and the key; examples validate", async () => {
  const dir = await Deno.makeTempDir({ prefix: "xenib_cli_" });
  try {
    await Deno.writeTextFile(
      `${dir}/bad.yaml`,
      "hosts:\n  - name: a\n    hypervisr: true\nworkload: []\n",
    );
    const direct = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--allow-read=${ROOT},${dir}`,
        "--allow-env=LOG_TOKENS,LOG_STREAM",
        `${ROOT}tools/run.ts`,
        `${dir}/bad.yaml`,
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const [bad, ex1, ex2] = await Promise.all([
      direct,
      task("run", "--check", "tools/examples/two_guests.yaml"),
      task("run", "--check", "tools/examples/split_vs_bypass.yaml"),
    ]);
    userError(
      { code: bad.code, err: new TextDecoder().decode(bad.stderr) },
      "run",
      /bad\.yaml:3:5: hosts\[0\]\.hypervisr: unknown key 'hypervisr'/,
    );
    assert.equal(ex1.code, 0, ex1.err);
    assert.match(ex1.out, /ok \(3 host\(s\), 2 guest\(s\), 3 workload\(s\)\)/);
    assert.equal(ex2.code, 0, ex2.err);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tools: --device real uses the FFI provider and passes its message on", async () => {
  const [perf, dev] = await Promise.all([
    task("perftest", "ib_write_lat", "-n", "100", "--device", "real"),
    task("devinfo", "--device", "real:mlx5_0"),
  ]);
  if (perf.code === 0) {
    // A machine with an RDMA device: a wall-clock perftest table.
    assert.match(perf.out, /Clock\s+: wall clock \(hardware\)/);
    return;
  }
  userError(perf, "perftest", /^perftest: --device real: .*(ENODEV|ENOENT|libibverbs)/);
  userError(dev, "devinfo", /^devinfo: --device real:mlx5_0: /);
});
