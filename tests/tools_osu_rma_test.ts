/**
 * `deno task osu` for OMB's one-sided benchmarks (tools/lib/osu_rma.ts):
 * OMB 7.0's header lines and rows, every synchronization, the figures
 * against the two-sided ones, and the refused options.
 */
import assert from "node:assert/strict";
import { osuMain } from "../tools/osu.ts";
import { osu as run } from "./support/osu.ts";
import { mpi } from "../mod.ts";
import { OSU_RMA_BENCHMARKS, osuRmaProgram, parseOsuRmaArgs } from "../tools/lib/osu_rma.ts";
import { osuOptionTable } from "../tools/lib/osu_args.ts";

const value = (line: string) => Number(line.trim().split(/\s+/)[1]);

Deno.test("osu one-sided: OMB 7.0's header (title, window creation, synchronization, columns) and rows", async () => {
  const lines = await run("osu_put_latency", "-m", "2", "-i", "10", "-x", "2", "--mode", "bypass");
  assert.deepEqual(lines.slice(0, 4), [
    "# OSU MPI_Put Latency Test v7.0",
    "# Window creation: MPI_Win_allocate",
    "# Synchronization: MPI_Win_flush",
    "# Size            Latency (us)",
  ]);
  assert.deepEqual(lines.slice(4).map((l) => l.slice(0, 10).trim()), ["1", "2"]);
  for (const l of lines.slice(4)) assert.match(l, /^\d+\s+\d+\.\d\d$/), assert.equal(l.length, 30);
  const bw = await run(
    "osu_get_bw",
    "-m",
    "4:4",
    "-i",
    "3",
    "-x",
    "1",
    "-w",
    "create",
    "-s",
    "lock",
  );
  assert.deepEqual(bw.slice(0, 4), [
    "# OSU MPI_Get Bandwidth Test v7.0",
    "# Window creation: MPI_Win_create",
    "# Synchronization: MPI_Win_lock/unlock",
    "# Size        Bandwidth (MB/s)",
  ]);
  assert.deepEqual(await run("osu_put_bibw", "-v"), [
    "# OSU MPI_Put Bi-directional Bandwidth Test v7.0",
  ]);
  assert.match((await run("osu_acc_latency", "-h"))[0], /^Usage: osu_acc_latency \[options\]/);
});

Deno.test("osu one-sided: every synchronization runs; lock pays a grant's round trip more than flush, fence and pscw are halved", async () => {
  const lat: Record<string, number> = {};
  for (const s of ["flush", "flush_local", "lock", "lock_all", "fence", "pscw"]) {
    const lines = await run("osu_put_latency", "-m", "8:8", "-i", "20", "-x", "2", "-s", s);
    assert.equal(
      lines[2],
      `# Synchronization: ${
        {
          flush: "MPI_Win_flush",
          flush_local: "MPI_Win_flush_local",
          lock: "MPI_Win_lock/unlock",
          lock_all: "MPI_Win_lock_all/unlock_all",
          fence: "MPI_Win_fence",
          pscw: "MPI_Win_post/start/complete/wait",
        }[s]
      }`,
    );
    lat[s] = value(lines[4]);
  }
  // A put and flush: one RDMA WRITE's round trip (5.5 µs one-way MPI latency on this profile).
  assert.ok(lat.flush > 7 && lat.flush < 12, `flush ${lat.flush}`);
  assert.ok(lat.flush_local <= lat.flush + 0.01);
  // lock/unlock adds the lock request and its grant (two packets through the target's CPU).
  assert.ok(lat.lock > lat.flush + 8, `lock ${lat.lock} flush ${lat.flush}`);
  assert.ok(Math.abs(lat.lock_all - lat.lock) < 1, `lock_all ${lat.lock_all}`);
  for (const s of ["fence", "pscw"]) {
    assert.ok(lat[s] > lat.flush && lat[s] < 3 * lat.flush, `${s} ${lat[s]}`);
  }
  for (const name of ["osu_get_latency", "osu_acc_latency", "osu_fop_latency", "osu_cas_latency"]) {
    const lines = await run(name, "-m", "8:8", "-i", "10", "-x", "1", "-s", "fence");
    assert.equal(lines.at(-1)!.slice(0, 10).trim(), "8", name);
    assert.ok(value(lines.at(-1)!) > 5, name);
  }
});

Deno.test("osu one-sided: put and get bandwidth reach osu_bw's at 1 MiB; put_bibw twice that", async () => {
  const two = value(
    (await run("osu_bw", "-m", "1048576:1048576", "-i", "4", "-x", "1", "-W", "8"))[2],
  );
  const put = value(
    (await run("osu_put_bw", "-m", "1048576:1048576", "-i", "4", "-x", "1", "-W", "8"))[4],
  );
  const get = value(
    (await run("osu_get_bw", "-m", "1048576:1048576", "-i", "4", "-x", "1", "-W", "8"))[4],
  );
  const bi = value(
    (await run(
      "osu_put_bibw",
      "-m",
      "1048576:1048576",
      "-i",
      "4",
      "-x",
      "1",
      "-W",
      "8",
      "-s",
      "fence",
    ))[4],
  );
  for (const [n, v] of [["put", put], ["get", get]] as const) {
    assert.ok(Math.abs(v - two) / two < 0.03, `${n} ${v} MB/s, osu_bw ${two} MB/s`);
  }
  assert.ok(bi > 1.8 * put && bi < 2.1 * put, `bibw ${bi} put ${put}`);
});

Deno.test("osu one-sided: refused options and rank counts say what is wrong in one line", async () => {
  const cases: [string[], RegExp][] = [
    [
      ["osu_put_latency", "-w", "dynamic"],
      /xenib's MPI has no dynamic windows \(MPI_Win_create_dynamic, -w dynamic\); use -w create or -w allocate/,
    ],
    // process_options' message for a -w or -s value process_one_sided_options refuses.
    [["osu_put_latency", "-w", "shared"], /: Invalid option or invalid argument \[-w shared\]/],
    [
      ["osu_put_bibw", "-s", "flush"],
      /-s flush is not one of osu_put_bibw's synchronizations \(pscw, fence\)/,
    ],
    [["osu_get_bw", "-s", "sync"], /: Invalid option or invalid argument \[-s sync\]/],
    [["osu_put_bw", "-W", "0"], /Invalid Window Size \[-W 0\]/],
    [["osu_put_latency", "-W", "4"], /Invalid option \[-W\]/],
    [["osu_put_latency", "-G", "tty"], /graph output \(-G\) is not supported/],
    [["osu_put_latency", "-np", "3"], /requires exactly two processes \(got -np 3\)/],
    [["osu_put_latency", "-m", "9:8"], /minimum message size 9 exceeds the maximum 8/],
    [
      ["osu_put_latency", "--help=1"],
      /^osu_put_latency: option '--help' doesn't allow an argument \(see --help\)$/,
    ],
  ];
  for (const [args, message] of cases) {
    const e = await osuMain(args, () => {}).then(() => undefined, (e: Error) => e);
    assert.ok(e, args.join(" "));
    assert.match(e.message, message, args.join(" "));
    assert.ok(!e.message.includes("\n"));
  }
  // getopt_long's rules (getoptLong), as the two-sided tests have them: `--` ends the options, a
  // prefix of several long options is ambiguous.
  assert.equal(parseOsuRmaArgs(["osu_put_latency", "-m", "8", "--"]).maxSize, 8);
  assert.throws(
    () => parseOsuRmaArgs(["osu_put_latency", "--", "-m", "8"]),
    /^UsageError: osu_put_latency: unexpected argument '-m' \(see --help\)$/,
  );
  // A launch flag after `--` is an operand too, as in nas and mpirun.
  assert.throws(
    () => parseOsuRmaArgs(["osu_put_latency", "--", "--mode", "split"]),
    /^UsageError: osu_put_latency: unexpected argument '--mode' \(see --help\)$/,
  );
  // OMB 7.0 has one long_options table for every benchmark, which glibc lists in its order.
  assert.throws(
    () => parseOsuRmaArgs(["osu_put_bw", "--w", "4"]),
    /^UsageError: osu_put_bw: option '--w' is ambiguous; possibilities: '--window-size' '--warmup' '--win-options' \(see --help\)$/,
  );
  // So --m and --v are ambiguous there, as in OMB (they were --message-size and --version), a
  // long form of a refused option is refused by name, and a long option of another benchmark is
  // unknown here.
  assert.throws(
    () => parseOsuRmaArgs(["osu_put_latency", "--m", "8"]),
    /^UsageError: osu_put_latency: option '--m' is ambiguous; possibilities: '--message-size' '--mem-limit' \(see --help\)$/,
  );
  assert.throws(() => parseOsuRmaArgs(["osu_put_latency", "--v"]), /'--v' is ambiguous/);
  assert.equal(parseOsuRmaArgs(["osu_put_latency", "--mes", "8"]).maxSize, 8);
  assert.throws(
    () => parseOsuRmaArgs(["osu_get_bw", "--gra", "tty"]),
    /^UsageError: osu_get_bw: graph output \(-G\) is not supported \[--gra\]$/,
  );
  assert.throws(
    () => parseOsuRmaArgs(["osu_get_bw", "--full"]),
    /^UsageError: osu_get_bw: unknown option '--full' \(see --help\)$/,
  );
  assert.throws(
    () => parseOsuRmaArgs(["osu_get_bw", "--frob"]),
    /^UsageError: osu_get_bw: unrecognized option '--frob' \(see --help\)$/,
  );
  // osu_args.ts's table of their getopt strings (for tools/launch.ts) agrees with this module's.
  for (const [n, b] of Object.entries(OSU_RMA_BENCHMARKS)) {
    const w = osuOptionTable(n).find((o) => o.name === "window-size");
    assert.equal(w?.short, b.bw ? "W" : undefined, n);
  }
  // The launch flags as the two-sided tests take them: a prefix no OMB option has, -np a word.
  const c = parseOsuRmaArgs(["osu_put_latency", "--mo", "bypass", "-np", "2", "-sfence"]);
  assert.deepEqual([c.launch.mode, c.launch.np, c.sync], ["bypass", 2, "fence"]);
  // osu_bw's bound on -W (MAX_REQ_NUM requests) is not theirs: MPI_Put and MPI_Get post none.
  assert.equal(parseOsuRmaArgs(["osu_put_bw", "-W", "1001"]).windowSize, 1001);
  // The two-sided benchmarks point one-sided flags at these.
  await assert.rejects(
    osuMain(["osu_bw", "-s", "lock"], () => {}),
    /one-sided benchmarks \(osu_put_latency/,
  );
});

Deno.test("osu one-sided: osu_fop_latency and osu_cas_latency ignore -m's minimum; a maximum below 8 is too small a window", async () => {
  // Their run_* functions time one 8-byte MPI_LONG_LONG and never read the minimum; the window
  // is allocate_atomic_memory's options.max_message_size bytes (OMB 7.0 c/util/osu_util_mpi.c).
  for (const name of ["osu_fop_latency", "osu_cas_latency"]) {
    const out = await run(name, "-m", "16:8", "-i", "3", "-x", "1");
    assert.match(out[4], /^8 {9} +\d+\.\d\d$/, name);
    for (const m of ["0", "4", "1:4"]) {
      await assert.rejects(
        osuMain([name, "-m", m], () => {}),
        new RegExp(
          `^UsageError: ${name}: the window is the maximum message size, \\d bytes: ` +
            "too small for the 8-byte MPI_LONG_LONG it operates on \\[-m\\]$",
        ),
        `${name} -m ${m}`,
      );
    }
  }
  // The sized ones still refuse a minimum above the maximum.
  assert.throws(() => parseOsuRmaArgs(["osu_put_latency", "-m", "16:8"]), /exceeds the maximum 8/);
});

Deno.test("osu one-sided: the latency tests start at 1 byte, as OMB 7.0 gives 0 only to point-to-point", async () => {
  // process_options (c/util/osu_util.c) sets min_message_size to 0 for bench PT2PT only; the
  // one-sided tests are bench ONE_SIDED and keep MIN_MESSAGE_SIZE (1).
  for (const name of ["osu_put_latency", "osu_get_latency", "osu_acc_latency"]) {
    assert.equal(parseOsuRmaArgs([name]).minSize, 1, name);
    const lines = await run(name, "-m", "4", "-i", "4", "-x", "1");
    assert.deepEqual(lines.slice(4).map((l) => Number(l.slice(0, 10))), [1, 2, 4], name);
  }
  // `-m 0:MAX` keeps that default minimum, as set_message_size does.
  assert.deepEqual(
    [
      parseOsuRmaArgs(["osu_put_latency", "-m", "0:64"]).minSize,
      parseOsuRmaArgs(["osu_put_bw"]).minSize,
    ],
    [1, 1],
  );
});

Deno.test("osu one-sided: osu_acc_latency -s lock warms up with the large iteration count above 8 KiB, as osu_acc_latency.c", async () => {
  // run_acc_with_lock sets options.skip = options.iterations_large above LARGE_MESSAGE_SIZE
  // where every other loop takes skip_large: with -i 3 -x 1, 3 + 3 lock epochs at 16 KiB.
  const epochs = async (name: string, size: number) => {
    let n = 0;
    const lock = mpi.Win.prototype.lock;
    mpi.Win.prototype.lock = function (this: mpi.Win, ...a: Parameters<typeof lock>) {
      n++;
      return lock.apply(this, a);
    };
    try {
      await run(name, "-i", "3", "-x", "1", "-s", "lock", "-m", `${size}:${size}`);
    } finally {
      mpi.Win.prototype.lock = lock;
    }
    return n;
  };
  assert.equal(await epochs("osu_acc_latency", 16384), 6);
  assert.equal(await epochs("osu_acc_latency", 8192), 4);
  assert.equal(await epochs("osu_put_latency", 16384), 4);
  assert.equal(await epochs("osu_get_latency", 16384), 4);
});

Deno.test("osu one-sided: -h prints OMB 7.0's usage_one_sided text for what the port offers", async () => {
  const help = await run("osu_put_latency", "-h");
  // Its layout: the options after an empty line, each -w and -s value on a line of its own.
  assert.deepEqual(help.slice(0, 5), [
    "Usage: osu_put_latency [options]",
    "Options:",
    "",
    "  -w --win-option <win_option>",
    "            <win_option> can be any of the follows:",
  ]);
  const at = (start: string) => help.findIndex((l) => l.startsWith(start));
  const syncs = help.slice(
    at("  -s, --sync-option <sync_option>") + 2,
    at("  -m, --message-size") - 1,
  );
  assert.deepEqual(syncs.map((l) => l.trim().split(/\s+/)[0]), [
    "pscw",
    "fence",
    "lock",
    "flush",
    "flush_local",
    "lock_all",
  ]);
  assert.equal(
    syncs[0],
    "            pscw              use Post/Start/Complete/Wait synchronization calls ",
  );
  assert.deepEqual(help.slice(at("  -x, --warmup"), at("  -h, --help") + 1), [
    "  -x, --warmup ITER           number of warmup iterations to skip before timing(default 100)",
    "  -i, --iterations ITER       number of iterations for timing (default 10000)",
    "  -h, --help                  print this help message",
  ]);
  // Not offered here: dynamic windows, -M (not in the one-sided getopt string), -G.
  assert.doesNotMatch(help.join("\n"), /dynamic|--mem-limit|--graph/);
  // osu_put_bibw (synctype ACTIVE_SYNC) lists pscw and fence only; the bandwidth tests -W and
  // their own defaults.
  const bibw = (await run("osu_put_bibw", "-h")).join("\n");
  assert.match(bibw, /fence {13}use MPI_Win_fence synchronization call\n\n/);
  assert.doesNotMatch(bibw, /lock/);
  assert.match(
    bibw,
    /timing\(default 10\)\n {2}-W, --window-size SIZE {6}set number of messages to send before synchronization \(default 64\)\n {2}-i, --iterations ITER {7}number of iterations for timing \(default 100\)\n/,
  );
  // What the usage names works: --win-option is a prefix of the long option win-options.
  const c = parseOsuRmaArgs(["osu_put_latency", "--win-option", "create", "--sync-option=lock"]);
  assert.deepEqual([c.win, c.sync], ["create", "lock"]);
});

Deno.test("osu one-sided: osu_get_latency -s pscw synchronizes twice before each size's loop, as osu_get_latency.c", async () => {
  // run_get_with_pscw has an MPI_Barrier before `if (rank == 0)` and another in each branch;
  // run_put_with_pscw (and every other loop) only the one in each branch.
  const barriers = async (name: string, sync: string) => {
    const cfg = parseOsuRmaArgs([name, "-m", "1:2", "-i", "2", "-x", "1", "-s", sync]);
    let n = 0;
    const program = osuRmaProgram(cfg, 2, () => {});
    await mpi.mpiexec({ np: 2, mode: "native" }, (comm) => {
      const barrier = comm.barrier.bind(comm);
      comm.barrier = (...a: Parameters<typeof barrier>) => {
        if (comm.rank === 1) n++;
        return barrier(...a);
      };
      return program(comm);
    });
    return n;
  };
  assert.equal(
    (await barriers("osu_get_latency", "pscw")) - (await barriers("osu_put_latency", "pscw")),
    2,
  );
  assert.equal(
    (await barriers("osu_get_latency", "fence")) - (await barriers("osu_put_latency", "fence")),
    0,
  );
});
