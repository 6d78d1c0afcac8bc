// The tools as users run them: `deno task <tool> …` from the repository
// root, with the permissions deno.json grants. Exit codes and messages.
import assert from "node:assert/strict";
import { ROOT, taskIn } from "./support/tool.ts";

async function task(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return await taskIn(ROOT, ...args);
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
  // perftest's -h exits 1 (HELP_EXIT is a failure in perftest's main); the others 0.
  for (const r of [perf, perfTest]) assert.equal(r.code, 1, r.err);
  for (const r of [dev, paper, run, xperf]) assert.equal(r.code, 0, r.err);
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

Deno.test("tools: perftest prints the warnings it gave before a refusal, then the refusal", async () => {
  const [lat, atomic] = await Promise.all([
    task("perftest", "ib_write_lat", "--rate_limit", "1", "--rate_limit_type", "SW"),
    task("perftest", "ib_atomic_bw", "-s", "100000", "-Q", "4"),
  ]);
  userError(lat, "perftest", /SW Rate limiter cann't be executed on non-BW/);
  assert.deepEqual(lat.err.split("\n")[0], " Setting burst size to tx depth = 1");
  userError(atomic, "perftest", /Message size cannot be changed for Atomic tests/);
  assert.deepEqual(atomic.out.split("\n").slice(0, 3), [
    "-".repeat(87),
    "Warning: Large message requested and CQ moderation enabled",
    "Warning: It can lead to inaccurate results",
  ]);
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
        task("perftest", "ib_write_bw", "-n", "12Q"),
        task("devinfo", "--ib-port", "x"),
        task("paper", "--out", "/proc/xenib-no-such-dir"),
        // The task may read ./ only: a file elsewhere gets a message naming the permission.
        task("run", bad),
        task("run"),
        task("run", "tools/examples/two_guests.yaml", "b.yaml"),
        task("xenib-perf", "--iters", "many"),
        task("xenib-perf", "--profile", "pcix-ddr"),
      ]);
    const profileMissing = await task("perftest", "ib_write_lat", "--profile", `${dir}/p.yaml`);
    userError(
      profileMissing,
      "perftest",
      /--profile .*p\.yaml: cannot read the file \(No such file/,
    );
    userError(unknown, "perftest", /unrecognized option '--frobnicate'/);
    userError(combo, "perftest", /UC connection not possible in READ\/ATOMIC/);
    userError(value, "perftest", /-n\/--iters: Iteration num argument 12Q should be int/);
    userError(devFlag, "devinfo", /-i\/--ib-port: 'x' is not a port number/);
    // Deno's own text asks for --allow-all: the message says what to do instead.
    userError(
      paperOut,
      "paper",
      /--out \/proc\/xenib-no-such-dir: cannot write it: Deno reaches \/dev, \/proc and \/sys only with --allow-all; choose another place$/,
    );
    // The task grants read access to the scenario it is given, wherever it is.
    userError(runBad, "run", /bad\.yaml:3:5: hosts\[0\]\.hypervisr: unknown key/);
    userError(runMissing, "run", /missing scenario file/);
    // Several files: each is checked before anything runs; the missing one is named.
    userError(runExtra, "run", /b\.yaml: no such scenario file/);
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
    assert.match(perf.out, /wall clock \(hardware\)/);
    return;
  }
  userError(perf, "perftest", /^perftest: --device real: .*(ENODEV|ENOENT|libibverbs)/);
  // devinfo.c main: no device list, or no mlx5_0 in it, is status -1 (255); no libibverbs, 1.
  assert.ok([1, 255].includes(dev.code), dev.err);
  assert.ok(!/^\s+at /m.test(dev.err), `stack trace in: ${dev.err}`);
  assert.match(
    dev.err,
    /^devinfo: (--device real(:mlx5_0)?: |-d\/--ib-dev: IB device 'mlx5_0' wasn't found)/,
  );
});

// devinfo.c main: -l prints what ibv_get_device_list returns ("%d HCA%s found:", a tab before
// each name, an empty line), and a NULL list is perror("Failed to get IB devices list"), status
// -1. With --device real the tool ignored -l and opened a device.
Deno.test("tools: devinfo --device real -l lists ibv_get_device_list's devices", async () => {
  const r = await task("devinfo", "--device", "real", "-l");
  const ffi = await import("../hca/ffi/mod.ts");
  let lib;
  try {
    lib = ffi.loadIbverbs();
  } catch {
    userError(r, "devinfo", /^devinfo: --device real: /); // no libibverbs here
    return;
  }
  try {
    const listing = ffi.listDevices(lib);
    if (listing.errno !== 0) {
      assert.equal(r.code, 255, r.err);
      assert.match(r.err, /^devinfo: --device real: Failed to get IB devices list: /);
      assert.equal(r.out, "");
    } else {
      assert.equal(r.code, 0, r.err);
      const n = listing.names.length;
      const names = listing.names.map((x) => `\t${x}\n`).join("");
      assert.equal(r.out, `${n} HCA${n === 1 ? "" : "s"} found:\n${names}\n`);
    }
  } finally {
    lib.close();
  }
});

Deno.test("tools: paths from where the task was run, outputs anywhere the user can write", async () => {
  const dir = await Deno.makeTempDir({ prefix: "xenib_cwd_" });
  try {
    await Deno.writeTextFile(
      `${dir}/slow.yaml`,
      "name: slow\nbase: pcix-sdr-2006\npci:\n  mmioWriteNs: 0.5 us\n",
    );
    const [fromExamples, perf, xperf, native] = await Promise.all([
      taskIn(`${ROOT}tools/examples`, "run", "--check", "two_guests.yaml"),
      taskIn(
        dir,
        "perftest",
        "ib_send_lat",
        "-n",
        "10",
        "--profile",
        "slow.yaml",
        "--pcap",
        "t.pcap",
        "--out_json",
      ),
      taskIn(dir, "xenib-perf", "--profile", "nope.yaml"),
      taskIn(dir, "native-perf", "-p", "slow.yaml", "--iters", "20", "--bw-iters", "5"),
    ]);
    assert.equal(fromExamples.code, 0, fromExamples.err);
    assert.match(fromExamples.out, /two_guests\.yaml: ok/);
    assert.equal(perf.code, 0, perf.err);
    assert.match(perf.out, /profile slow/);
    assert.match(perf.err, new RegExp(`wrote \\d+ bytes to ${dir}/t\\.pcap`));
    assert.ok((await Deno.stat(`${dir}/t.pcap`)).size > 24);
    // perftest's --out_json: its own key: value lines, in the run's directory by default.
    assert.match(
      await Deno.readTextFile(`${dir}/perftest_out.json`),
      /^test: Send_Latency_Test,$/m,
    );
    userError(xperf, "xenib-perf", /--profile .*nope\.yaml: cannot read the file/);
    assert.equal(native.code, 0, native.err);
    assert.match(native.out, /^profile: slow/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tools: native-perf and xenib-perf name bad flags and values in one line", async () => {
  const rs = await Promise.all([
    task("native-perf", "--iters", "0"),
    task("native-perf", "--bw-size", "0"),
    task("native-perf", "--frob"),
    task("native-perf", "--profile", "nope"),
    task("native-perf", "--window", "-3"),
    task("perftest", "ib_write_lat", "--seed", "-1"),
    task("perftest", "ib_write_lat", "-s", "-5"),
    task("xenib-perf", "--iters", "-2"),
  ]);
  const want = [
    /--iters: 0 is out of range \(5\.\.100000000\)/,
    /--bw-size: 0 is out of range/,
    /unknown flag '--frob'/,
    /unknown profile 'nope'/,
    /--window: -3 is negative/,
    /--seed: -1 is negative/,
    /-s\/--size: Message Size should be between 1 and 2147483647 \(got '-5'\)/,
    /--iters: -2 is negative/,
  ];
  rs.forEach((r, i) => {
    userError(r, i < 5 ? "native-perf" : i < 7 ? "perftest" : "xenib-perf", want[i]);
    assert.ok(!/NaN/.test(r.out + r.err), r.out + r.err);
  });
});

Deno.test("tools: a failed perftest run exits as perftest's program does (17 where main() sets it)", async () => {
  // --dlid 7 names no port: the requester retries, then completes with RETRY_EXC_ERR.
  const [send, write, read, readAll, readBw] = await Promise.all([
    task("perftest", "ib_send_lat", "--dlid", "7", "-n", "5"),
    task("perftest", "ib_write_lat", "--dlid", "7", "-n", "5"),
    task("perftest", "ib_read_lat", "--dlid", "7", "-n", "5"),
    task("perftest", "ib_read_bw", "--dlid", "7", "-n", "5", "-a"),
    task("perftest", "ib_read_bw", "--dlid", "7", "-n", "5", "-s", "8"),
  ]);
  // send_lat.c: error = 17 when run_iter_lat_send fails; write_lat.c returns FAILURE.
  assert.equal(send.code, 17, send.err);
  assert.match(
    send.err,
    /^perftest: ib_send_lat 2 bytes: completion with error status RETRY_EXC_ERR/m,
  );
  userError(write, "perftest", /completion with error status RETRY_EXC_ERR/);
  // read_lat.c sets error = 17 too; read_bw.c only in its -a loop (its single-size branch
  // returns the initial error = 1).
  assert.equal(read.code, 17, read.err);
  assert.equal(readAll.code, 17, readAll.err);
  userError(readBw, "perftest", /completion with error status RETRY_EXC_ERR/);
});

Deno.test("tools: perftest's -w on ib_send_bw -b -D always fails, as send_bw.c's never judges it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "xenib_limits_" });
  try {
    // A slow link keeps a one-second -D run short.
    await Deno.writeTextFile(
      `${dir}/slow.yaml`,
      "name: slow\nbase: pcix-sdr-2006\nlink:\n  width: 1\n  laneSignalBytesPerSec: 100 Mb/s\n",
    );
    const args = ["-s", "65536", "-D", "1", "-f", "0", "--profile", "slow.yaml", "-w", "0"];
    const [bi, uni] = await Promise.all([
      taskIn(dir, "perftest", "ib_send_bw", "-b", ...args),
      taskIn(dir, "perftest", "ib_send_bw", ...args),
    ]);
    // The report is printed; the verdict comes after it.
    assert.equal(bi.code, 1, bi.err);
    assert.match(bi.out, /^ 65536 /m);
    assert.match(bi.err, /^Error: BW result is below bw limit$/m);
    assert.equal(uni.code, 0, uni.err); // one direction: any bandwidth passes -w 0
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tools: an output path that cannot be written fails before the run, nothing printed or left", async () => {
  const dir = await Deno.makeTempDir({ prefix: "xenib_out_" });
  try {
    await Deno.mkdir(`${dir}/adir`);
    const [pcapNoDir, pcapDir, jsonDir, runNoDir] = await Promise.all([
      taskIn(dir, "perftest", "ib_write_lat", "-n", "5", "--pcap", "no/t.pcap"),
      taskIn(dir, "perftest", "ib_write_lat", "-n", "5", "--pcap", "adir"),
      taskIn(dir, "perftest", "ib_write_lat", "-n", "5", "--out_json", "--out_json_file", "adir"),
      taskIn(dir, "run", `${ROOT}tools/examples/two_guests.yaml`, "--pcap", "no/t.pcap"),
    ]);
    userError(
      pcapNoDir,
      "perftest",
      /^perftest: --pcap .*\/no\/t\.pcap: its directory does not exist$/,
    );
    userError(pcapDir, "perftest", /^perftest: --pcap .*\/adir: cannot write it \(Is a directory/);
    userError(jsonDir, "perftest", /^perftest: --out_json_file .*\/adir: cannot write it/);
    userError(runNoDir, "run", /^run: --pcap .*\/no\/t\.pcap: its directory does not exist$/);
    // Refused up front: no row measured, no progress drawn, one line in all.
    for (const r of [pcapNoDir, pcapDir, jsonDir, runNoDir]) {
      assert.equal(r.out, "");
      assert.equal(r.err.trim().split("\n").length, 1, r.err);
    }
    // A writable path is checked without leaving a file behind when the run then fails.
    const bad = await taskIn(
      dir,
      "perftest",
      "ib_write_lat",
      "-n",
      "5",
      "--pcap",
      "t.pcap",
      "-d",
      "nope0",
    );
    assert.notEqual(bad.code, 0);
    await assert.rejects(Deno.stat(`${dir}/t.pcap`), { name: "NotFound" });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tools: perftest adds main()'s parser line after a parser() failure only", async () => {
  // perftest 4.5-0.17 src/write_bw.c main(): parser() failed (not -h/-V) →
  // fprintf(stderr, " Parser function exited with Error\n"); return FAILURE.
  const [iters, bidir, atomic, conn] = await Promise.all([
    task("perftest", "ib_write_bw", "-n", "3"),
    task("perftest", "ib_write_lat", "-b"),
    task("perftest", "ib_atomic_bw", "-s", "16"), // force_dependecies: exit(1), no such line
    task("perftest", "ib_read_lat", "-c", "UC"), // change_conn_type: exit(1)
  ]);
  for (const r of [iters, bidir]) assert.equal(r.code, 1, r.err);
  assert.deepEqual(iters.err.split("\n"), [
    "perftest: -n/--iters: Iteration num should be between 5 and 100000000",
    " Parser function exited with Error",
    "",
  ]);
  assert.deepEqual(bidir.err.split("\n"), [
    "perftest: -b/--bidirectional: Bidirectional is only available in BW test",
    " Parser function exited with Error",
    "",
  ]);
  for (const r of [atomic, conn]) {
    assert.equal(r.code, 1, r.err);
    assert.doesNotMatch(r.err, /Parser function/);
  }
});

Deno.test("tools: perftest prints force_dependecies' rule on stdout before its refusal", async () => {
  // perftest 4.5-0.17 force_dependecies: printf(RESULT_LINE); … exit(1) for the atomic size;
  // the dual-port check prints its message alone.
  const [atomic, dual] = await Promise.all([
    task("perftest", "ib_atomic_lat", "-s", "16"),
    task("perftest", "ib_write_lat", "-O"),
  ]);
  for (const r of [atomic, dual]) assert.equal(r.code, 1, r.err);
  assert.equal(atomic.out, `${"-".repeat(87)}\n`);
  assert.equal(
    atomic.err,
    "perftest: -s/--size: Message size cannot be changed for Atomic tests\n",
  );
  assert.equal(dual.out, "");
  assert.equal(dual.err, "perftest: -O/--dualport: Dual-port mode only supports BW tests.\n");
});
