// Bad input to the tools, as users type it: each is one line on stderr naming what was wrong,
// exit code 1, no stack trace, and nothing run or written (docs/tools.md, "Errors in flags").
import assert from "node:assert/strict";
import { ROOT, taskIn } from "./support/tool.ts";
import { parseFuzzArgs } from "../tools/lib/fuzz_args.ts";
import { parsePaperArgs } from "../tools/lib/paper_args.ts";

/** Exit 1, the one line `<tool>: <message>` on stderr, nothing on stdout. */
function oneLine(r: { code: number; out: string; err: string }, line: string): void {
  assert.equal(r.code, 1, r.err);
  assert.equal(r.err, `${line}\n`);
  assert.equal(r.out, "");
}

Deno.test("tools: an empty file name is refused as one, not read as the directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const [run, mpirun, mmap, json] = await Promise.all([
      taskIn(dir, "run", ""),
      taskIn(dir, "mpirun", "-np", "2", ""),
      taskIn(dir, "perftest", "ib_write_lat", "-n", "5", "--mmap", ""),
      taskIn(dir, "perftest", "ib_write_lat", "-n", "5", "--out_json", "--out_json_file", ""),
    ]);
    oneLine(run, "run: the scenario: empty file name");
    oneLine(mpirun, "mpirun: the program: empty file name");
    oneLine(mmap, "perftest: --mmap: empty file name");
    oneLine(json, "perftest: --out_json_file: empty file name");
    assert.deepEqual([...Deno.readDirSync(dir)], []); // nothing written where the task ran
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run: an all-to-all size that is not a size is named once, at its key", async () => {
  const { parseScenario } = await import("../tools/lib/scenario.ts");
  const text = "hosts: [{name: a}, {name: b}]\nworkload:\n  - alltoall: [a, b]\n    size: 16Q\n";
  await assert.rejects(parseScenario(text, "s.yaml", "/tmp"), {
    name: "YamlInputError",
    message: "s.yaml:4:5: workload[0].size: '16Q' is not a size (bytes, or with K or M)",
  });
});

Deno.test("mpirun, osu, nas: a count or time beyond 2^53 is refused as typed", async () => {
  const [np, hosts, rank, late] = await Promise.all([
    taskIn(ROOT, "osu", "osu_latency", "-np", "9007199254740993"),
    taskIn(ROOT, "nas", "is", "--hosts", "99999999999999999999"),
    taskIn(ROOT, "nas", "is", "--mode", "bypass", "--migrate", "99999999999999999999@1"),
    taskIn(
      ROOT,
      "mpirun",
      "-np",
      "2",
      "--mode",
      "bypass",
      "--migrate",
      "0@99999999999999999999",
      "x.ts",
    ),
  ]);
  // Not "(got -np 9007199254740992)" nor "(got 100000000000000000000)": the value typed.
  oneLine(np, "osu: -np: 9007199254740993 is too large");
  oneLine(hosts, "nas: --hosts: 99999999999999999999 is too large");
  oneLine(rank, "nas: --migrate: the rank: 99999999999999999999 is too large");
  oneLine(
    late,
    "mpirun: --migrate: '0@99999999999999999999': 99999999999999999999 ms is too late " +
      "(virtual time counts whole ns up to 2^53, 9007199254 ms)",
  );
});

Deno.test("osu: a count outside OMB's C int is the option's error, not a 2^53-iteration run", async () => {
  const { parseOsuArgs } = await import("../tools/lib/osu_args.ts");
  for (
    const [args, msg] of [
      [
        ["osu_latency", "-i", "9007199254740993"],
        "Invalid Number of Iterations [-i 9007199254740993]",
      ],
      [["osu_latency", "-x", "2147483648"], "Invalid Number of Warmup Iterations [-x 2147483648]"],
      [["osu_bw", "-W", "99999999999"], "Invalid Window Size [-W 99999999999]"],
      [["osu_put_latency", "-i", "99999999999"], "Invalid Number of Iterations [-i 99999999999]"],
    ] as const
  ) {
    const run = args[0] === "osu_put_latency"
      ? (await import("../tools/osu.ts")).osuMain([...args], () => {})
      : Promise.resolve().then(() => parseOsuArgs([...args]));
    await assert.rejects(run, { name: "UsageError", message: `${args[0]}: ${msg} (see --help)` });
  }
  // The largest int is a count; -M, a long long in OMB, takes more.
  assert.equal(parseOsuArgs(["osu_latency", "-i", "2147483647"]).iterations, 2147483647);
  assert.equal(parseOsuArgs(["osu_allreduce", "-M", "99999999999"]).memLimit, 99999999999);
});

// getoptLong's words (glibc's), as perftest, devinfo and osu say it.
Deno.test("nas: a switch given a value is refused, not taken as the switch", async () => {
  const [json, help] = await Promise.all([
    taskIn(ROOT, "nas", "is", "--np", "2", "--json=1"),
    taskIn(ROOT, "nas", "is", "--help=no"),
  ]);
  oneLine(json, "nas: option '--json' doesn't allow an argument (see --help)");
  oneLine(help, "nas: option '--help' doesn't allow an argument (see --help)");
});

Deno.test("devinfo: -i is read as ibv_devinfo's strtol(optarg, NULL, 0)", async () => {
  const [hex, word, big] = await Promise.all([
    taskIn(ROOT, "devinfo", "-i", "0x1"),
    taskIn(ROOT, "devinfo", "-i", "one"),
    taskIn(ROOT, "devinfo", "-i", "256"),
  ]);
  assert.equal(hex.code, 0, hex.err);
  assert.match(hex.out, /^hca_id:\tmthca0\n/);
  assert.match(hex.out, /\t\tport:\t1\n/);
  oneLine(
    word,
    "devinfo: -i/--ib-port: 'one' is not a port number (ibv_devinfo reads strtol's number; it must be > 0)",
  );
  oneLine(
    big,
    "devinfo: -i/--ib-port: 256 is above 255 (ibv_devinfo passes the port as a uint8_t, where it would be 0)",
  );
});

// rdma-core libibverbs/examples/devinfo.c main: getopt's '?' (an unknown option, -d or -i
// without its argument) is `usage(argv[0]); return -1;`, status 255, where a -i that is no port
// is `return 1`; -l prints the list and returns inside the getopt loop, so a -i, -d or -v after
// it is never read.
Deno.test("devinfo: getopt's errors exit 255, and -l ends the option loop", async () => {
  const [unknown, noArg, listFirst, listLast, word] = await Promise.all([
    taskIn(ROOT, "devinfo", "-q"),
    taskIn(ROOT, "devinfo", "-i"),
    taskIn(ROOT, "devinfo", "-l", "-i", "0", "-d", "nosuch", "-v"),
    taskIn(ROOT, "devinfo", "-i", "0", "-l"),
    taskIn(ROOT, "devinfo", "foo"),
  ]);
  // A word that is no option is not getopt's error (devinfo.c never reads it): xenib's refusal.
  oneLine(word, "devinfo: unexpected argument 'foo' (see --help)");
  assert.deepEqual([unknown.code, unknown.err, unknown.out], [
    255,
    "devinfo: invalid option -- 'q' (see --help)\n",
    "",
  ]);
  assert.deepEqual([noArg.code, noArg.err, noArg.out], [
    255,
    "devinfo: option requires an argument -- 'i' (see --help)\n",
    "",
  ]);
  assert.deepEqual([listFirst.code, listFirst.out], [0, "1 HCA found:\n\tmthca0\n\n"]);
  oneLine(
    listLast,
    "devinfo: -i/--ib-port: '0' is not a port number (ibv_devinfo reads strtol's number; it must be > 0)",
  );
});

// getopt_long (devinfo.c's option loop) takes an unambiguous prefix of a long option.
Deno.test("devinfo: long options by their unambiguous prefixes, as getopt_long", async () => {
  const { DevinfoOptionError, parseDevinfoArgs } = await import("../tools/lib/devinfo_args.ts");
  const c = parseDevinfoArgs(["--verb", "--ib-p", "1", "--ib-d=mthca0", "--l"]);
  assert.deepEqual([c.verbose, c.ibPort, c.ibDev, c.list], [true, 1, "mthca0", true]);
  // --ib is ibv_devinfo's "option '--ib' is ambiguous": getopt's '?', status 255.
  assert.throws(() => parseDevinfoArgs(["--ib", "1"]), DevinfoOptionError);
  assert.throws(() => parseDevinfoArgs(["--ib", "1"]), {
    message: "option '--ib' is ambiguous; possibilities: '--ib-dev' '--ib-port' (see --help)",
  });
  // xenib's flags by their prefixes too, where none of devinfo.c's options is meant.
  const x = parseDevinfoArgs(["--mod", "split", "--dom", "--v"]);
  assert.deepEqual([x.mode, x.dom0, x.verbose], ["split", true, true]);
  assert.throws(() => parseDevinfoArgs(["--d"]), {
    message: "option '--d' is ambiguous; possibilities: '--dom0' '--device' (see --help)",
  });
  // A cluster: -l returns from devinfo.c's loop before getopt looks for -i's argument.
  assert.equal(parseDevinfoArgs(["-li"]).list, true);
  assert.equal(parseDevinfoArgs(["-l", "--verbose=1"]).list, true);
  assert.throws(() => parseDevinfoArgs(["--verbose=1", "-l"]), {
    message: "option '--verbose' doesn't allow an argument (see --help)",
  });
});

Deno.test("paper: a --nas shape no job takes is refused before the evaluation runs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const [np, hosts] = await Promise.all([
      taskIn(dir, "paper", "--quick", "--out", "p1", "--nas", "S:99999999999999999999"),
      taskIn(dir, "paper", "--quick", "--out", "p2", "--nas", "S:100000"),
    ]);
    oneLine(
      np,
      "paper: --nas: 'S:99999999999999999999': NP 99999999999999999999, more than a job takes " +
        "(at most 2147483647)",
    );
    oneLine(
      hosts,
      "paper: --nas: 'S:100000': 50000 hosts (NP / GUESTS), more than a job takes (at most 49150)",
    );
    assert.deepEqual([...Deno.readDirSync(dir)], []); // no --out directory made
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("osu, mpirun: --guest-memory too large for a host is named as the guests' memory", async () => {
  const r = await taskIn(
    ROOT,
    "osu",
    "osu_latency",
    "--mode",
    "bypass",
    "--guest-memory",
    "99999999999",
  );
  // Not addHost's "memoryMiB must be … got 100000001023" of a host the user never sized.
  oneLine(r, "osu: MPI_ERR_ARG: guestMemoryMiB must be at most 8589933568 (got 99999999999)");
  const { mpi } = await import("../mod.ts");
  await assert.rejects(
    mpi.launch({ np: 4, mode: "split", guestsPerHost: 2, guestMemoryMiB: 4294966785 }),
    { name: "MpiError", message: /guestMemoryMiB must be at most 4294966784 \(got 4294966785\)/ },
  );
});

Deno.test("paper: a bad profile leaves no --out directory behind", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/bad.yaml`, "pci: [\n");
    const [file, name] = await Promise.all([
      taskIn(dir, "paper", "--quick", "--profile", "bad.yaml", "--out", "p1"),
      taskIn(dir, "paper", "--quick", "--profile", "nosuch", "--out", "p2"),
    ]);
    oneLine(
      file,
      `paper: ${dir}/bad.yaml:2:1: Flow sequence in block collection must be sufficiently ` +
        "indented and end with a ]",
    );
    oneLine(
      name,
      "paper: profile: unknown profile 'nosuch' (built-in: pcix-sdr-2006, modern-gen5-ndr)",
    );
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["bad.yaml"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("launch: a short flag's glued value (-pmy.yaml) is granted as the spaced one is", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/mine.yaml`, "pci: [\n");
    // The tool reads the file and names the mistake in it: the launcher let it read the file.
    const r = await taskIn(dir, "native-perf", "-pmine.yaml");
    oneLine(
      r,
      `native-perf: ${dir}/mine.yaml:2:1: Flow sequence in block collection must be sufficiently ` +
        "indented and end with a ]",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run: a scenario's profile above its directory is refused in words, path resolved", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/s`);
    await Deno.writeTextFile(`${dir}/p.yaml`, "link:\n  mtu: 1024\n");
    await Deno.writeTextFile(
      `${dir}/s/up.yaml`,
      "profile: ../p.yaml\nhosts: [{name: a}, {name: b}]\n" +
        "workload: [{perftest: ib_write_lat, between: [a, b]}]\n",
    );
    const r = await taskIn(`${dir}/s`, "run", "--check", "up.yaml");
    // Not "cannot read …/s/../p.yaml (Requires read access to …)".
    oneLine(
      r,
      `run: up.yaml:1:1: profile: cannot read ${dir}/p.yaml: deno task run may read the ` +
        `scenario's directory and below, not this; put the profile there, or run tools/run.ts by ` +
        `hand with --allow-read=${dir}/p.yaml`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("launch: mpirun's program above INIT_CWD is read after -np N and --migrate R@MS", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/s`);
    await Deno.writeTextFile(
      `${dir}/p.ts`,
      "export function main(comm: { rank: number }) { console.log('rank', comm.rank); }\n",
    );
    const [np, migrate] = await Promise.all([
      taskIn(`${dir}/s`, "mpirun", "-np", "2", "--quiet", "../p.ts"),
      taskIn(
        `${dir}/s`,
        "mpirun",
        "-np",
        "2",
        "--mode",
        "bypass",
        "--guest-memory",
        "16",
        "--migrate",
        "0@1",
        "--quiet",
        "../p.ts",
      ),
    ]);
    for (const r of [np, migrate]) {
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(r.out.trim().split("\n").sort(), ["[0] rank 0", "[1] rank 1"]);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mpirun by hand without read permission on the program says which to add", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/s`);
    await Deno.writeTextFile(`${dir}/p.ts`, "export function main() {}\n");
    const r = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        `--allow-read=${ROOT},${dir}/s`,
        "--allow-env",
        `${ROOT}tools/mpirun.ts`,
        "-np",
        "2",
        "../p.ts",
      ],
      cwd: `${dir}/s`,
      env: { NO_COLOR: "1", INIT_CWD: `${dir}/s` },
      stdout: "piped",
      stderr: "piped",
    }).output();
    oneLine(
      {
        code: r.code,
        out: new TextDecoder().decode(r.stdout),
        err: new TextDecoder().decode(r.stderr),
      },
      "mpirun: ../p.ts: cannot read it: no read permission (deno task mpirun grants the program's " +
        `directory; running the script by hand, add --allow-read=${dir})`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("perftest: --pcap with --device real is refused, not silently left unwritten", async () => {
  const { parsePerftestArgs } = await import("../tools/lib/perftest_args.ts");
  assert.throws(() => parsePerftestArgs(["ib_write_lat", "--device", "real", "--pcap", "t.pcap"]), {
    name: "UsageError",
    message:
      "--pcap with --device real: the trace is of the simulated fabric, which a real device's packets do not cross",
  });
  assert.equal(parsePerftestArgs(["ib_write_lat", "--pcap", "t.pcap"]).pcap, "t.pcap");
});

Deno.test("perftest, devinfo: the simulated cluster's flags with --device real are refused", async () => {
  const { parsePerftestArgs } = await import("../tools/lib/perftest_args.ts");
  const { parseDevinfoArgs } = await import("../tools/lib/devinfo_args.ts");
  assert.throws(
    () => parsePerftestArgs(["ib_write_lat", "--device", "real", "--noise", "off", "--seed", "2"]),
    {
      name: "UsageError",
      message:
        "--noise, --seed with --device real: they set the simulated cluster; a real device " +
        "is measured on the wall clock as it is",
    },
  );
  assert.throws(() => parsePerftestArgs(["ib_write_bw", "--device", "real", "--profile", "x"]), {
    message: /^--profile with --device real: it sets the simulated cluster/,
  });
  assert.throws(() => parseDevinfoArgs(["--device", "real", "--profile", "modern-gen5-ndr"]), {
    name: "UsageError",
    message: "--device real: shows the real device of this machine; drop --profile/--seed",
  });
  // Without --device they are the simulation's.
  assert.equal(parsePerftestArgs(["ib_write_lat", "--seed", "2"]).seed, 2);
});

Deno.test("fuzz, paper: a list with an empty item is refused, as bench's and migration's are", () => {
  assert.throws(() => parseFuzzArgs(["--kinds", "ring,,wqe"]), /--kinds: '' is not a kind/);
  assert.throws(() => parsePaperArgs(["--modes", "native,,bypass"]), /--modes: '' is not a mode/);
  assert.throws(() => parsePaperArgs(["--modes", " , "]), /--modes: empty list/);
  assert.deepEqual(parseFuzzArgs(["--kinds", " wqe , ring "]).kinds.length, 2);
});

Deno.test("perftest: an --mmap-offset mmap(2) refuses fails as perftest's ctx_init does", async () => {
  // perftest_resources.c pp_init_mmap opens the file (its "Unable to open" line on ENOENT), then
  // hands the offset to mmap(2): EINVAL unless a multiple of the page size; then "Couldn't
  // allocate work buf." and ctx_init's failure (exit 1).
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeFile(`${dir}/buf.bin`, new Uint8Array(16384));
    const withOffset = (offset: string) =>
      taskIn(
        dir,
        "perftest",
        "ib_write_lat",
        "-n",
        "5",
        "--mmap",
        "buf.bin",
        "--mmap-offset",
        offset,
      );
    // open(2) comes before mmap(2): a missing file is open's ENOENT whatever the offset.
    const missing = taskIn(
      dir,
      "perftest",
      "ib_write_lat",
      "-n",
      "5",
      "--mmap",
      "none.bin",
      "--mmap-offset",
      "100",
    );
    const [odd, paged, none] = await Promise.all([
      withOffset("100"),
      withOffset("4096"),
      missing,
    ]);
    oneLine(
      none,
      "perftest: --mmap none.bin: Unable to open 'none.bin': No such file or directory; Couldn't allocate work buf.; Couldn't create IB resources",
    );
    oneLine(
      odd,
      "perftest: --mmap-offset 100: Unable to mmap 'buf.bin': Invalid argument (not a multiple of the 4096-byte page); Couldn't allocate work buf.; Couldn't create IB resources",
    );
    assert.equal(paged.code, 0, paged.err);
    assert.match(paged.out, /^allocated mmap buffer of size 8192 at 0x[0-9a-f]+\n-{87}\n/m);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// Every tool reads its line with getoptLong (tools/lib/getopt.ts) and words what getopt refuses the
// same way: glibc's text (OSU's own for its short options), then `(see --help)`.
Deno.test("tools: every getopt refusal ends with '(see --help)', in every tool alike", async () => {
  const { parsePerftestArgs } = await import("../tools/lib/perftest_args.ts");
  const { parseDevinfoArgs } = await import("../tools/lib/devinfo_args.ts");
  const { parseNasArgs } = await import("../tools/lib/nas_args.ts");
  const { parseMpirunArgs } = await import("../tools/lib/mpirun_args.ts");
  const { parseOsuArgs } = await import("../tools/lib/osu_args.ts");
  const { parseOsuRmaArgs } = await import("../tools/lib/osu_rma.ts");
  const tools: [string, (argv: string[]) => unknown, string[], string[][]][] = [
    ["perftest", parsePerftestArgs, ["ib_write_lat"], [["--rep"], ["--all=1"], ["--size"]]],
    ["devinfo", parseDevinfoArgs, [], [["--ib"], ["--verbose=1"], ["--ib-port"], ["-q"]]],
    ["nas", parseNasArgs, ["ep"], [["--c", "A"], ["--json=1"], ["--class"], ["-q"]]],
    ["mpirun", parseMpirunArgs, ["-np", "2"], [["--m", "x"], ["--quiet=1"], ["--mode"], ["-z"]]],
    ["osu", parseOsuArgs, ["osu_bw"], [["--val"], ["--validation=1"], ["--mode"], ["-z"], ["-i"]]],
    ["osu one-sided", parseOsuRmaArgs, ["osu_put_bw"], [["--w", "4"], ["--help=1"], ["-z"], [
      "-W",
    ]]],
  ];
  for (const [tool, parse, head, lines] of tools) {
    for (const line of [["--frob"], ...lines]) {
      const argv = [...head, ...line];
      assert.throws(() => parse(argv), (e: Error) => {
        assert.equal(e.name, "UsageError", `${tool} ${argv.join(" ")}: ${e.message}`);
        assert.match(e.message, /\S \(see --help\)$/, `${tool} ${argv.join(" ")}`);
        return true;
      });
    }
  }
  // OSU's texts for a short option stay as OMB prints them, before the suffix.
  assert.throws(() => parseOsuArgs(["osu_bw", "-z"]), {
    message: "osu_bw: Invalid option [-z] (see --help)",
  });
  assert.throws(() => parseOsuArgs(["osu_bw", "-i"]), {
    message: "osu_bw: Option Missing Required Argument [-i] (see --help)",
  });
});
