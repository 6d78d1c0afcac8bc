/**
 * `deno task osu`: OSU 7.0's output layout field by field (title, column
 * header `%-10s%20s`, rows `%-10d%20.2f`, collective and osu_mbw_mr formats,
 * `-f`, `-c`, `-V`), its option errors, the CLI, and the figures the paper
 * cares about (bypass latency = native, split higher).
 */
import assert from "node:assert/strict";
import { osuMain } from "../tools/osu.ts";
import { osu } from "./support/osu.ts";
import { OSU_BENCHMARKS, parseOsuArgs } from "../tools/lib/osu_args.ts";
import { OSU_RMA_BENCHMARKS, parseOsuRmaArgs, rmaUsage } from "../tools/lib/osu_rma.ts";
import { usage } from "../tools/lib/osu_format.ts";
import { osuProgram } from "../tools/lib/osu_bench.ts";
import { mpi } from "../mod.ts";

/** A row: the size left-justified in 10 columns, then values right-justified in 20 each. */
function row(line: string, values: number): { size: number; v: number[] } {
  assert.equal(line.length, 10 + 20 * values, `width of '${line}'`);
  const size = line.slice(0, 10);
  assert.match(size, /^\d+ *$/);
  const v = [];
  for (let k = 0; k < values; k++) {
    const f = line.slice(10 + 20 * k, 30 + 20 * k);
    assert.match(f, /^ *\d+\.\d\d$/, `field '${f}'`);
    v.push(Number(f));
  }
  return { size: Number(size), v };
}

Deno.test("osu: osu_latency and osu_bw print OSU 7.0's layout", async () => {
  const lat = await osu("osu_latency", "-m", "8", "-i", "20", "-x", "5");
  assert.deepEqual(lat.slice(0, 2), [
    "# OSU MPI Latency Test v7.0",
    "# Size            Latency (us)",
  ]);
  assert.deepEqual(lat.slice(2).map((l) => row(l, 1).size), [0, 1, 2, 4, 8]);
  const bw = await osu("osu_bw", "-m", "4:64", "-i", "3", "-x", "1", "-W", "8");
  assert.deepEqual(bw.slice(0, 2), [
    "# OSU MPI Bandwidth Test v7.0",
    "# Size        Bandwidth (MB/s)",
  ]);
  assert.deepEqual(bw.slice(2).map((l) => row(l, 1).size), [4, 8, 16, 32, 64]);
  const bibw = await osu("osu_bibw", "-m", "1024:1024", "-i", "2", "-x", "1", "-W", "4", "-c");
  assert.deepEqual(bibw.slice(0, 2), [
    "# OSU MPI Bi-Directional Bandwidth Test v7.0",
    "# Size        Bandwidth (MB/s)          Validation",
  ]);
  assert.match(bibw[2], /^1024 {6} +\d+\.\d\d {16}Pass$/);
});

Deno.test("osu: collectives print the blank line, title, columns; -f adds min, max, iterations", async () => {
  const b = await osu("osu_barrier", "-np", "3", "-i", "10", "-x", "2");
  assert.deepEqual(b.slice(0, 3), ["", "# OSU MPI Barrier Latency Test v7.0", "# Avg Latency(us)"]);
  assert.match(b[3], /^ {0,16}\d+\.\d\d$/);
  assert.equal(b[3].length, 17);
  const bc = await osu("osu_bcast", "-np", "3", "-m", "4", "-i", "10", "-x", "2", "-f");
  assert.deepEqual(bc.slice(0, 3), [
    "",
    "# OSU MPI Broadcast Latency Test v7.0",
    "# Size         Avg Latency(us)     Min Latency(us)     Max Latency(us)  Iterations",
  ]);
  for (const l of bc.slice(3)) {
    assert.equal(l.length, 10 + 20 * 3 + 12);
    const { v } = row(l.slice(0, 70), 3);
    assert.ok(v[1] <= v[0] && v[0] <= v[2], l);
    assert.match(l.slice(70), /^ {10}10$/);
  }
  assert.deepEqual(bc.slice(3).map((l) => Number(l.slice(0, 10))), [1, 2, 4]);
  const ar = await osu("osu_allreduce", "-np", "4", "-m", "16", "-i", "5", "-x", "1", "-c");
  assert.equal(ar[2], "# Size         Avg Latency(us)          Validation");
  // MPI_FLOAT counts: sizes 4, 8, 16 bytes, each validated.
  assert.deepEqual(ar.slice(3).map((l) => [Number(l.slice(0, 10)), l.slice(30)]), [
    [4, "                Pass"],
    [8, "                Pass"],
    [16, "                Pass"],
  ]);
  const a2a = await osu("osu_alltoall", "-np", "3", "-m", "2", "-i", "5", "-x", "1", "-c");
  assert.equal(a2a[1], "# OSU MPI All-to-All Personalized Exchange Latency Test v7.0");
  assert.ok(a2a.slice(3).every((l) => l.endsWith("Pass")));
});

Deno.test("osu: -M limits osu_allreduce's sizes as check_mem_limit does for REDUCE", async () => {
  const ar = await osu(
    "osu_allreduce",
    "-np",
    "2",
    "-m",
    "1048576:2097152",
    "-M",
    "1048576",
    "-i",
    "1",
    "-x",
    "0",
  );
  assert.deepEqual(ar.slice(3).map((l) => Number(l.slice(0, 10))), [1048576]);
});

/** The MPI calls each rank makes running `args` (waitall as waitall:send or waitall:recv). */
async function calls(np: number, ...args: string[]): Promise<string[][]> {
  const log: string[][] = Array.from({ length: np }, () => []);
  const program = osuProgram(parseOsuArgs(args), np, () => {});
  const traced = [
    "barrier",
    "bcast",
    "reduce",
    "allreduce",
    "alltoall",
    "alltoallv",
    "alltoallw",
    "gather",
    "scatter",
    "allgather",
    "gatherv",
    "scatterv",
    "allgatherv",
    "reduceScatter",
    "waitall",
  ];
  await mpi.mpiexec({ np, mode: "native" }, (comm) => {
    const sends = new Set<unknown>();
    const wrapped = new Proxy(comm, {
      get(target, prop) {
        const v = Reflect.get(target, prop);
        if (typeof v !== "function") return v;
        if (!traced.includes(String(prop)) && prop !== "isend") return v.bind(target);
        return async (...a: unknown[]) => {
          const r = await v.apply(target, a);
          if (prop === "isend") sends.add(r);
          if (prop === "waitall") {
            log[comm.rank].push(`waitall:${sends.has((a[0] as unknown[])[0]) ? "send" : "recv"}`);
          } else if (traced.includes(String(prop))) log[comm.rank].push(String(prop));
          return r;
        };
      },
    });
    return program(wrapped);
  });
  return log;
}

Deno.test("osu: collectives synchronize around each size where OMB 7.0 does", async () => {
  // osu_bcast.c: no barrier before the loop, one between the loop and the statistics.
  const bc = await calls(2, "osu_bcast", "-m", "1", "-i", "1", "-x", "0");
  assert.deepEqual(bc[1], ["bcast", "barrier", "barrier", "reduce", "reduce", "reduce"]);
  // osu_allreduce.c, osu_alltoall.c: a barrier before the loop and one after printing.
  const ar = await calls(2, "osu_allreduce", "-m", "4", "-i", "1", "-x", "0");
  assert.deepEqual(ar[1], [
    "barrier",
    "allreduce",
    "barrier",
    "reduce",
    "reduce",
    "reduce",
    "barrier",
  ]);
  const a2a = await calls(2, "osu_alltoall", "-m", "1", "-i", "1", "-x", "0");
  assert.deepEqual(a2a[0], [
    "barrier",
    "alltoall",
    "barrier",
    "reduce",
    "reduce",
    "reduce",
    "barrier",
  ]);
});

Deno.test("osu: osu_bibw's rank 1 waits for its receives before its sends, as osu_bibw.c", async () => {
  const log = await calls(2, "osu_bibw", "-m", "1", "-i", "1", "-x", "0", "-W", "2");
  assert.deepEqual(log[0].filter((c) => c.startsWith("waitall")), ["waitall:send", "waitall:recv"]);
  assert.deepEqual(log[1].filter((c) => c.startsWith("waitall")), ["waitall:recv", "waitall:send"]);
});

Deno.test("osu: osu_mbw_mr stops at the first size that fails validation, as osu_mbw_mr.c", async () => {
  const lines: string[] = [];
  const args = ["osu_mbw_mr", "-m", "1:16", "-i", "2", "-x", "0", "-c", "-W", "2"];
  const program = osuProgram(parseOsuArgs(args), 2, (l) => lines.push(l));
  // The sender zeroes what it sends from 4 bytes on: the receiver's check fails there.
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, (comm) =>
    program(
      new Proxy(comm, {
        get(target, prop) {
          const v = Reflect.get(target, prop);
          if (typeof v !== "function") return v;
          if (comm.rank !== 0 || prop !== "isend") return v.bind(target);
          return (buf: mpi.MpiBuffer, ...rest: unknown[]) => {
            if (buf.length >= 4) buf.fill(0);
            return v.call(target, buf, ...rest);
          };
        },
      }),
    ));
  assert.equal(job.results[0]!.failedSize, 4);
  assert.deepEqual(lines.slice(4).map((l) => [Number(l.slice(0, 10)), l.slice(50)]), [
    [1, "                Pass"],
    [2, "                Pass"],
    [4, "                Fail"],
  ]);
});

Deno.test("osu: osu_mbw_mr with pairs, message rate and varied windows", async () => {
  const m = await osu("osu_mbw_mr", "-np", "4", "-m", "8", "-i", "3", "-x", "1", "-W", "4");
  assert.deepEqual(m.slice(0, 4), [
    "# OSU MPI Multiple Bandwidth / Message Rate Test v7.0",
    "",
    "# [ pairs: 2 ] [ window size: 4 ]",
    "# Size                    MB/s          Messages/s",
  ]);
  for (const l of m.slice(4)) {
    const { size, v } = row(l, 2);
    // Messages/s = 10^6 × MB/s / size.
    assert.ok(Math.abs(v[1] - (1e6 * v[0]) / size) <= 0.02 * v[1] + 0.01, l);
  }
  const vary = await osu("osu_mbw_mr", "-np", "2", "-m", "2", "-i", "2", "-x", "0", "-V");
  assert.deepEqual(vary.slice(0, 6), [
    "# OSU MPI Multiple Bandwidth / Message Rate Test v7.0",
    "",
    "# [ pairs: 1 ] [ window size: varied ]",
    "",
    "# Uni-directional Bandwidth (MB/sec)",
    "#                 1           2           4           8          16          32          64         128",
  ]);
  assert.match(vary[6], /^1 {6}( {2} {0,9}\d+\.\d\d){8}$/);
  assert.equal(vary[8], "");
  assert.equal(vary[9], "# Message Rate Profile");
});

Deno.test("osu: OSU's option errors and defaults", () => {
  const d = parseOsuArgs(["osu_latency"]);
  assert.deepEqual(
    [d.minSize, d.maxSize, d.iterations, d.skip, d.iterationsLarge, d.skipLarge],
    [0, 1 << 22, 10000, 100, 1000, 10],
  );
  const bw = parseOsuArgs(["osu_bw"]);
  assert.deepEqual([bw.minSize, bw.windowSize, bw.iterations, bw.iterationsLarge], [
    1,
    64,
    100,
    20,
  ]);
  const c = parseOsuArgs(["osu_allreduce"]);
  assert.deepEqual([c.maxSize, c.iterations, c.skip], [1 << 20, 1000, 100]);
  assert.equal(parseOsuArgs(["osu_bw", "-c"]).warmupValidation, 5);
  // -b is compared without regard to case (strncasecmp).
  assert.equal(parseOsuArgs(["osu_bw", "-b", "Multiple"]).bufNum, "multiple");
  assert.equal(parseOsuArgs(["osu_latency", "--buffer-num=SINGLE"]).bufNum, "single");
  assert.deepEqual(parseOsuArgs(["osu_latency", "-m", ":64", "-x10"]).maxSize, 64);
  const bad: [string[], RegExp][] = [
    [["osu_latency", "-i", "0"], /osu_latency: Invalid Number of Iterations \[-i 0\]/],
    [["osu_latency", "-m", "0:"], /Invalid Message Size \[-m 0:\]/],
    [["osu_latency", "-m", ":"], /Invalid Message Size \[-m :\]/],
    [["osu_bw", "-W", "x"], /Invalid Window Size \[-W x\]/],
    // OMB 7.0's osu_bw/osu_bibw requests live in arrays of MAX_REQ_NUM (1000).
    [["osu_bw", "-W", "1001"], /osu_bw: Invalid Window Size \(at most 1000, .*\) \[-W 1001\]/],
    [["osu_bibw", "--window-size=4096"], /Invalid Window Size \(at most 1000/],
    [["osu_latency", "-W", "4"], /Invalid option \[-W\]/],
    [["osu_latency", "-G", "png"], /graph output \(-G\) is not supported/],
    [["osu_latency", "--graph", "png"], /graph output \(-G\) is not supported \[--graph\]/],
    [["osu_bw", "--accelerator=cuda"], /accelerator buffers \(-d\) are not simulated/],
    [["osu_bcast", "-b", "single"], /Invalid option \[-b\]/],
    [["osu_latency", "--mode", "hvm"], /--mode: 'hvm' is not a mode/],
    [
      ["osu_latency", "--guests-per-host", "2"],
      /--guests-per-host applies to --mode bypass and split/,
    ],
    [["osu_nope"], /unknown benchmark 'osu_nope'/],
    [["osu_latency", "-i"], /Option Missing Required Argument \[-i\]/],
  ];
  for (const [args, re] of bad) assert.throws(() => parseOsuArgs(args), re, args.join(" "));
  assert.equal(parseOsuArgs(["osu_bibw", "-W", "1000"]).windowSize, 1000);
  // osu_mbw_mr mallocs a request per window slot: no such bound.
  assert.equal(parseOsuArgs(["osu_mbw_mr", "-W", "1001"]).windowSize, 1001);
});

Deno.test("osu: an unknown benchmark is one line naming every benchmark, one-sided ones included", async () => {
  const names = [...Object.keys(OSU_BENCHMARKS), ...Object.keys(OSU_RMA_BENCHMARKS)];
  // Names an object has from Object.prototype are no benchmarks either (they got a TypeError's
  // stack: 'constructor' passed the `in` test and had no option string).
  for (const name of ["osu_nope", "constructor", "toString", "__proto__"]) {
    const e = await osuMain([name], () => {}).then(() => undefined, (e: Error) => e);
    assert.ok(e instanceof Error, name);
    assert.equal(e.name, "UsageError", name);
    assert.ok(e.message.startsWith(`unknown benchmark '${name}' (have: `), e.message);
    assert.ok(!e.message.includes("\n"));
    for (const n of names) assert.ok(e.message.includes(n), `${name}: ${n}`);
  }
  assert.throws(() => parseOsuArgs([]), /give a benchmark first: osu_latency, .*osu_put_bibw$/);
});

Deno.test("osu: -h lists only options the benchmark takes (no -M for the point-to-point tests)", () => {
  // OMB 7.0's print_help_message lists -M for osu_latency, osu_multi_lat, osu_bw and osu_bibw,
  // whose getopt strings lack it; they refused it ("Invalid option [-M]") though -h offered it.
  const value: Record<string, string> = {
    m: "8",
    M: "2097152",
    i: "5",
    x: "1",
    W: "4",
    b: "single",
    u: "1",
    t: "1",
    p: "1",
    R: "1",
    w: "create",
    s: "fence",
  };
  const listed = (text: string) =>
    [...text.split("\nxenib's launch flags")[0].matchAll(/^ {2}-(\w)[,= ]/gm)].map((m) => m[1]);
  for (const name of Object.keys(OSU_BENCHMARKS) as (keyof typeof OSU_BENCHMARKS)[]) {
    const opts = listed(usage(name));
    // The barriers take -M but, like OMB (no show_size), list neither -m nor -M.
    const barrier = name.endsWith("barrier");
    assert.equal(opts.includes("m"), !barrier, name);
    assert.equal(opts.includes("M"), OSU_BENCHMARKS[name].opts.includes("M:") && !barrier, name);
    for (const o of opts) {
      const args = [name, `-${o}`, ...(value[o] ? [value[o]] : [])];
      assert.doesNotThrow(() => parseOsuArgs(args), args.join(" "));
    }
  }
  for (const name of Object.keys(OSU_RMA_BENCHMARKS) as (keyof typeof OSU_RMA_BENCHMARKS)[]) {
    for (const o of listed(rmaUsage(name))) {
      const v = name === "osu_put_bibw" && o === "s" ? "pscw" : value[o];
      const args = [name, `-${o}`, ...(v ? [v] : [])];
      assert.doesNotThrow(() => parseOsuRmaArgs(args), args.join(" "));
    }
  }
});

Deno.test("osu: an operand named like an Object.prototype member is an unexpected argument", () => {
  // takeLaunchFlag found `toString` in its flag table's prototype: `toString 5` was dropped
  // silently and `constructor` said "constructor needs a value".
  for (const args of [["toString", "5"], ["constructor"], ["hasOwnProperty", "x"]]) {
    assert.throws(
      () => parseOsuArgs(["osu_latency", "-m", "1", ...args]),
      new RegExp(`^UsageError: osu_latency: unexpected argument '${args[0]}' \\(see --help\\)$`),
      args.join(" "),
    );
  }
});

Deno.test("osu: a minimum above the maximum stops only benchmarks with sizes; osu_barrier's row stays", async () => {
  // osu_barrier.c and osu_ibarrier.c never read min or max: OMB prints their row whatever -m.
  for (const args of [["-m", "0"], ["-m", "16:8"]]) {
    assert.equal(parseOsuArgs(["osu_barrier", ...args]).maxSize, args[1] === "0" ? 0 : 8);
    const out = await osu("osu_ibarrier", ...args, "-i", "3", "-x", "1");
    assert.match(out.at(-1)!, /^ {15}\d+\.\d\d( {12,}\d+\.\d\d){3}$/);
  }
  assert.match(
    (await osu("osu_barrier", "-m", "0", "-i", "3", "-x", "1")).at(-1)!,
    /^ +\d+\.\d\d$/,
  );
  // -m is still read (set_message_size's errors), and sized benchmarks still refuse min > max.
  assert.throws(() => parseOsuArgs(["osu_barrier", "-m", "0:"]), /Invalid Message Size \[-m 0:\]/);
  assert.throws(() => parseOsuArgs(["osu_bcast", "-m", "16:8"]), /minimum message size 16 exceeds/);
});

Deno.test("osu: -m 0:MAX keeps the default minimum, as OMB 7.0's set_message_size does", () => {
  // MIN:MAX sets MIN (refused when 0) and then MAX, whose result is the one returned.
  const lat = parseOsuArgs(["osu_latency", "-m", "0:8"]);
  assert.deepEqual([lat.minSize, lat.maxSize], [0, 8]);
  const bw = parseOsuArgs(["osu_bw", "-m", "0:64"]);
  assert.deepEqual([bw.minSize, bw.maxSize], [1, 64]);
  const ar = parseOsuArgs(["osu_allreduce", "-m", "0:16"]);
  assert.deepEqual([ar.minSize, ar.maxSize], [1, 16]);
  assert.deepEqual(parseOsuArgs(["osu_bw", "-m", "2:64"]).minSize, 2);
});

Deno.test("osu: -h and -v end option processing, as process_options returns at them", () => {
  assert.equal(parseOsuArgs(["osu_latency", "-h", "-i", "0"]).help, true);
  assert.equal(parseOsuArgs(["osu_bw", "-v", "-W", "0"]).version, true);
  assert.equal(parseOsuArgs(["osu_bw", "-hW0"]).help, true);
  // Nor is the rest of the cluster read after them (it was: a missing argument, a bad letter).
  assert.equal(parseOsuArgs(["osu_latency", "-hx"]).help, true);
  assert.equal(parseOsuArgs(["osu_bw", "-vz"]).version, true);
  assert.equal(parseOsuRmaArgs(["osu_put_latency", "-hv"]).help, true);
  assert.equal(parseOsuRmaArgs(["osu_get_bw", "-vx"]).version, true);
  assert.throws(() => parseOsuArgs(["osu_latency", "-zh"]), /Invalid option \[-z\]/);
  // An error before -h is still reported.
  assert.throws(
    () => parseOsuArgs(["osu_latency", "-i", "0", "-h"]),
    /Invalid Number of Iterations/,
  );
});

Deno.test("osu: -M below 1 MiB is raised with OSU's warning, not silently", async () => {
  const c = parseOsuArgs(["osu_bcast", "-M", "5"]);
  assert.equal(c.memLimit, 1 << 20);
  assert.deepEqual(c.warnings, ["Requested memory limit too low, using [1048576] instead."]);
  assert.deepEqual(parseOsuArgs(["osu_bcast", "-M", "2097152"]).warnings, []);
  const lines: string[] = [], warned: string[] = [];
  const args = ["osu_bcast", "-M", "5", "-m", "1", "-i", "1", "-x", "0"];
  assert.equal(await osuMain(args, (l) => lines.push(l), (l) => warned.push(l)), 0);
  assert.deepEqual(warned, ["Requested memory limit too low, using [1048576] instead."]);
  assert.ok(lines.every((l) => !l.includes("Requested")));
});

Deno.test("osu: SRC DST buffer locations: H H is host memory, D and M are refused", () => {
  assert.equal(parseOsuArgs(["osu_bw", "-m", "8", "H", "H"]).maxSize, 8);
  assert.throws(
    () => parseOsuArgs(["osu_latency", "D", "D"]),
    /osu_latency: device and managed buffers \(D\) are not simulated/,
  );
  assert.throws(() => parseOsuArgs(["osu_latency", "H"]), /give both buffer locations/);
  assert.throws(() => parseOsuArgs(["osu_latency", "H", "H", "H"]), /unexpected argument 'H'/);
});

Deno.test("osu: values print as C's %.2f rounds them (an exact tie goes to even)", async () => {
  const { pt2ptRow, collRow, mbwRow, variedRow } = await import("../tools/lib/osu_format.ts");
  assert.equal(pt2ptRow(8, 2.125), "8                         2.12");
  assert.equal(pt2ptRow(8, 2.375), "8                         2.38");
  assert.equal(mbwRow(1, 0.625, 625000.125), "1                         0.62           625000.12");
  assert.equal(variedRow(4, [1.875]), "4              1.88");
  assert.equal(
    collRow({ avg: 6.125, min: 6, max: 6.2, iterations: 10 }, false),
    "             6.12",
  );
});

Deno.test("osu: bypass latency equals native, split is higher; the CLI as users run it", async () => {
  const lat = async (mode: string) =>
    row((await osu("osu_latency", "-m", "8:8", "-i", "200", "-x", "40", "--mode", mode))[2], 1)
      .v[0];
  const [native, bypass, split] = [await lat("native"), await lat("bypass"), await lat("split")];
  assert.equal(bypass, native);
  assert.ok(split > native * 1.5, `split ${split} native ${native}`);
  const root = new URL("..", import.meta.url).pathname;
  const run = (...args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["task", "-q", "osu", ...args],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    })
      .output();
  const dec = new TextDecoder();
  const [ok, help, bad, np] = await Promise.all([
    run("osu_latency", "-m", "1", "-i", "5", "-x", "1", "--mode", "split"),
    run("osu_alltoall", "--help"),
    run("osu_bw", "-W", "0"),
    run("osu_latency", "-np", "3"),
  ]);
  assert.equal(ok.code, 0, dec.decode(ok.stderr));
  assert.match(
    dec.decode(ok.stdout),
    /^# OSU MPI Latency Test v7\.0\n# Size {12}Latency \(us\)\n0 {9} +\d+\.\d\d\n1 /,
  );
  assert.equal(help.code, 0);
  assert.match(dec.decode(help.stdout), /^Usage: osu_alltoall \[options\]/);
  for (
    const [r, re] of [[bad, /^osu: osu_bw: Invalid Window Size \[-W 0\]/], [
      np,
      /This test requires exactly two processes/,
    ]] as const
  ) {
    assert.equal(r.code, 1);
    const err = dec.decode(r.stderr).trim();
    assert.match(err, re);
    assert.equal(err.split("\n").length, 1, err);
  }
});

Deno.test("osu: `--` ends the options as getopt's does; [SRC DST] may follow it", () => {
  const c = parseOsuArgs(["osu_bw", "-m", "8", "--", "H", "H"]);
  assert.equal(c.maxSize, 8);
  // After `--` an option letter is an operand, not an option.
  assert.throws(
    () => parseOsuArgs(["osu_latency", "--", "-m", "4"]),
    /osu_latency: unexpected argument '-m'/,
  );
  // So is a launch flag (glibc's rule, as nas and mpirun read theirs): OMB's process_options
  // leaves every word after `--` to the benchmark, and xenib's flags are read where OMB's are.
  for (const a of [["--mode", "bypass"], ["-np", "2"], ["--profile=p.yaml"]]) {
    assert.throws(
      () => parseOsuArgs(["osu_latency", "--", ...a]),
      new RegExp(`^UsageError: osu_latency: unexpected argument '${a[0]}' \\(see --help\\)$`),
      a.join(" "),
    );
  }
  assert.equal(parseOsuArgs(["osu_latency", "--mode", "bypass", "--"]).launch.mode, "bypass");
});

Deno.test("osu: long options may be abbreviated to a unique prefix, as getopt_long allows", () => {
  const c = parseOsuArgs([
    "osu_bw",
    "--iter",
    "7",
    "--window=16",
    "--mess=64",
    "--validation-w",
    "3",
  ]);
  assert.deepEqual([c.iterations, c.windowSize, c.maxSize, c.warmupValidation], [7, 16, 64, 0]);
  assert.equal(parseOsuArgs(["osu_allreduce", "--fu", "--mem-l", "2097152"]).full, true);
  // A prefix of several long options is ambiguous (glibc names them).
  assert.throws(
    () => parseOsuArgs(["osu_bw", "--val"]),
    /^UsageError: osu_bw: option '--val' is ambiguous; possibilities: '--validation' '--validation-warmup' \(see --help\)$/,
  );
  // A prefix of an option the benchmark does not take is still refused.
  assert.throws(() => parseOsuArgs(["osu_latency", "--wind", "4"]), /unknown option '--wind'/);
  assert.throws(() => parseOsuArgs(["osu_bw", "--gra", "png"]), /graph output \(-G\)/);
  // `=VALUE` on an option without an argument is refused, as getopt_long refuses it.
  assert.throws(
    () => parseOsuArgs(["osu_allreduce", "--full=1"]),
    /^UsageError: osu_allreduce: option '--full' doesn't allow an argument \(see --help\)$/,
  );
  assert.throws(
    () => parseOsuArgs(["osu_bw", "--validation=yes"]),
    /^UsageError: osu_bw: option '--validation' doesn't allow an argument \(see --help\)$/,
  );
  // A name Object.prototype has is no long option (it read as an unsupported one: 'undefined'):
  // glibc's getopt_long does not recognize it, and says so in its words.
  for (const a of ["--constructor", "--toString", "--hasOwnProperty=1"]) {
    assert.throws(
      () => parseOsuArgs(["osu_latency", a]),
      new RegExp(`^UsageError: osu_latency: unrecognized option '${a}' \\(see --help\\)$`),
      a,
    );
  }
});

Deno.test("osu: osu_bw and osu_bibw take -t with any argument and no effect, as process_options", () => {
  // OMB 7.0 validates -t only for collectives ("Invalid Number of Probes").
  for (const name of ["osu_bw", "osu_bibw"]) {
    const c = parseOsuArgs([name, "-t", "-3", "--num-test-calls", "x", "-m", "8"]);
    assert.equal(c.maxSize, 8);
  }
  assert.throws(() => parseOsuArgs(["osu_bw", "-t"]), /Option Missing Required Argument \[-t\]/);
  assert.throws(() => parseOsuArgs(["osu_latency", "-t", "1"]), /Invalid option \[-t\]/);
});

Deno.test("osu: osu_reduce, osu_gather, osu_scatter, osu_allgather print OMB 7.0's layout and validate", async () => {
  const red = await osu("osu_reduce", "-np", "4", "-m", "16", "-i", "3", "-x", "1", "-c", "-f");
  assert.deepEqual(red.slice(0, 3), [
    "",
    "# OSU MPI Reduce Latency Test v7.0",
    "# Size         Avg Latency(us)     Min Latency(us)     Max Latency(us)  Iterations          Validation",
  ]);
  // Floats: sizes from 4 bytes (one float), as osu_reduce.c counts them.
  assert.deepEqual(red.slice(3).map((l) => [Number(l.slice(0, 10)), l.slice(82)]), [
    [4, "                Pass"],
    [8, "                Pass"],
    [16, "                Pass"],
  ]);
  for (
    const [name, title] of [
      ["osu_gather", "# OSU MPI Gather Latency Test v7.0"],
      ["osu_scatter", "# OSU MPI Scatter Latency Test v7.0"],
      ["osu_allgather", "# OSU MPI Allgather Latency Test v7.0"],
    ]
  ) {
    const out = await osu(name, "-np", "3", "-m", "4", "-i", "3", "-x", "1", "-c");
    assert.deepEqual(out.slice(0, 3), [
      "",
      title,
      "# Size         Avg Latency(us)          Validation",
    ]);
    assert.deepEqual(out.slice(3).map((l) => [Number(l.slice(0, 10)), l.slice(30)]), [
      [1, "                Pass"],
      [2, "                Pass"],
      [4, "                Pass"],
    ], name);
  }
  const help = (await osu("osu_gather", "-h")).join("\n");
  assert.match(help, /^Usage: osu_gather \[options\]/);
  assert.ok(help.includes("-f, --full") && help.includes("-M, --mem-limit SIZE"));
});

Deno.test("osu: the new collectives synchronize and limit sizes as their OMB 7.0 sources do", async () => {
  // osu_reduce.c: a barrier before every timed call, none after it.
  const red = await calls(2, "osu_reduce", "-m", "4", "-i", "2", "-x", "0");
  assert.deepEqual(red[1], [
    "barrier",
    "barrier",
    "reduce",
    "barrier",
    "reduce",
    "reduce",
    "reduce",
    "reduce",
    "barrier",
  ]);
  // osu_gather.c, osu_scatter.c: as osu_alltoall.c.
  for (const name of ["gather", "scatter"]) {
    const log = await calls(2, `osu_${name}`, "-m", "1", "-i", "1", "-x", "0");
    assert.deepEqual(log[1], ["barrier", name, "barrier", "reduce", "reduce", "reduce", "barrier"]);
  }
  // osu_allgather.c: and a barrier between the loop and the statistics.
  const ag = await calls(2, "osu_allgather", "-m", "1", "-i", "1", "-x", "0");
  assert.deepEqual(ag[0], [
    "barrier",
    "allgather",
    "barrier",
    "barrier",
    "reduce",
    "reduce",
    "reduce",
    "barrier",
  ]);
  // check_mem_limit: GATHER keeps max × np within -M (2 MiB / 4 ranks = 512 KiB).
  const g = parseOsuArgs([
    "osu_gather",
    "-m",
    "262144:1048576",
    "-M",
    "2097152",
    "-i",
    "1",
    "-x",
    "0",
  ]);
  const lines: string[] = [];
  await mpi.mpiexec({ np: 4, mode: "native" }, osuProgram(g, 4, (l) => lines.push(l)));
  assert.deepEqual(lines.slice(3).map((l) => Number(l.slice(0, 10))), [262144, 524288]);
});

Deno.test("osu: osu_mbw_mr -V -c prints every table, then fails a run whose windows lost data", async () => {
  // osu_mbw_mr.c: calc_bw checks every window of every size with -V too, and main ends with
  // DATA VALIDATION ERROR after the tables when errors were counted.
  const cfg = parseOsuArgs(["osu_mbw_mr", "-V", "-c", "-m", "4", "-i", "2", "-x", "0"]);
  const lines: string[] = [];
  const program = osuProgram(cfg, 2, (l) => lines.push(l));
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, (comm) => {
    const received: mpi.MpiBuffer[] = [];
    const broken = new Proxy(comm, {
      get(target, prop) {
        const v = Reflect.get(target, prop);
        if (typeof v !== "function") return v;
        if (prop === "irecv") {
          return (b: mpi.MpiBuffer, src: number, tag: number) => {
            if (b.length === 2) received.push(b);
            return target.irecv(b, src, tag);
          };
        }
        if (prop === "waitall") {
          return async (reqs: mpi.Request[]) => {
            await target.waitall(reqs);
            // The 2-byte size's windows arrive empty.
            for (const b of received.splice(0)) b.fill(0);
          };
        }
        return v.bind(target);
      },
    });
    return program(broken);
  });
  assert.equal(job.results[0]!.failedSize, 2);
  // Every size's row is printed: the run is not cut short.
  assert.deepEqual(lines.slice(-3).map((l) => Number(l.slice(0, 7))), [1, 2, 4]);
});

Deno.test("osu: osu_gather's root notices data that did not arrive", async () => {
  const cfg = parseOsuArgs(["osu_gather", "-m", "4", "-i", "2", "-x", "0", "-c"]);
  const lines: string[] = [];
  const program = osuProgram(cfg, 2, (l) => lines.push(l));
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, (comm) => {
    const broken = new Proxy(comm, {
      get(target, prop) {
        const v = Reflect.get(target, prop);
        if (typeof v !== "function") return v;
        if (prop !== "gather") return v.bind(target);
        return async (sb: mpi.MpiBuffer, rb: mpi.MpiBuffer | null, root: number) => {
          await target.gather(sb, rb, root);
          // The 2-byte size loses rank 1's block at the root.
          if (rb && sb.length === 2) rb.subarray(2, 4).fill(0);
        };
      },
    });
    return program(broken);
  });
  assert.equal(job.results[0]!.failedSize, 2);
  assert.deepEqual(lines.slice(3).map((l) => [Number(l.slice(0, 10)), l.slice(30)]), [
    [1, "                Pass"],
    [2, "                Fail"],
  ]);
});

Deno.test("osu: osu_multi_lat pairs rank i with i + np/2, as osu_multi_lat.c", async () => {
  const out = await osu("osu_multi_lat", "-np", "4", "-m", "4", "-i", "3", "-x", "1", "-c");
  assert.deepEqual(out.slice(0, 2), [
    "# OSU MPI Multi Latency Test v7.0",
    "# Size            Latency (us)          Validation",
  ]);
  assert.deepEqual(out.slice(2).map((l) => [Number(l.slice(0, 10)), l.slice(30)]), [
    [0, "                Pass"],
    [1, "                Pass"],
    [2, "                Pass"],
    [4, "                Pass"],
  ]);
  const d = parseOsuArgs(["osu_multi_lat"]);
  assert.deepEqual([d.minSize, d.maxSize, d.iterations, d.skip], [0, 1 << 22, 10000, 100]);
  // main: a barrier after the header and one after the last size; multi_latency: one
  // before each size and one before every ping-pong.
  const log = await calls(4, "osu_multi_lat", "-m", "0", "-i", "2", "-x", "1");
  assert.deepEqual(log[3], ["barrier", "barrier", "barrier", "barrier", "barrier", "barrier"]);
  const two = await calls(4, "osu_multi_lat", "-m", "1", "-i", "1", "-x", "0");
  assert.deepEqual(two[0], ["barrier", "barrier", "barrier", "barrier", "barrier", "barrier"]);
  // OMB does not check the count and an odd last rank would wait forever: refused.
  assert.throws(
    () => osuProgram(parseOsuArgs(["osu_multi_lat"]), 3, () => {}),
    /osu_multi_lat: This test requires an even number of processes \(got -np 3\)/,
  );
});

Deno.test("osu: osu_multi_lat sums every rank's validation at rank 0", async () => {
  const cfg = parseOsuArgs(["osu_multi_lat", "-m", "4", "-i", "2", "-x", "0", "-c", "-u", "0"]);
  const lines: string[] = [];
  const program = osuProgram(cfg, 4, (l) => lines.push(l));
  const job = await mpi.mpiexec({ np: 4, mode: "native" }, (comm) => {
    const broken = new Proxy(comm, {
      get(target, prop) {
        const v = Reflect.get(target, prop);
        if (typeof v !== "function") return v;
        if (prop !== "recv" || comm.rank !== 3) return v.bind(target);
        return async (buf: mpi.MpiBuffer, from: number, tag: number) => {
          const st = await target.recv(buf, from, tag);
          // Rank 3 (rank 1's partner) sees its 2-byte messages damaged.
          if (buf.length === 2) buf.fill(0);
          return st;
        };
      },
    });
    return program(broken);
  });
  assert.equal(job.results[0]!.failedSize, 2);
  assert.deepEqual(lines.slice(2).map((l) => [Number(l.slice(0, 10)), l.slice(30)]), [
    [0, "                Pass"],
    [1, "                Pass"],
    [2, "                Fail"],
  ]);
});

for (const [v, more] of [["v", ["barrier"]], ["w", []]] as const) {
  Deno.test(`osu: osu_alltoall${v} exchanges equal counts as osu_alltoall${v}.c (osu_alltoallv: one barrier more)`, async () => {
    const name = `osu_alltoall${v}`;
    const out = await osu(name, "-np", "3", "-m", "4", "-i", "3", "-x", "1", "-c");
    assert.deepEqual(out.slice(0, 3), [
      "",
      `# OSU MPI All-to-All${v} Personalized Exchange Latency Test v7.0`,
      "# Size         Avg Latency(us)          Validation",
    ]);
    assert.deepEqual(out.slice(3).map((l) => [Number(l.slice(0, 10)), l.slice(30)]), [
      [1, "                Pass"],
      [2, "                Pass"],
      [4, "                Pass"],
    ]);
    const log = await calls(2, name, "-m", "1", "-i", "1", "-x", "0");
    const stats = ["reduce", "reduce", "reduce", "barrier"];
    assert.deepEqual(log[1], [...more, "barrier", `alltoall${v}`, "barrier", ...stats]);
    // check_mem_limit: subtype ALLTOALL, max × np within -M.
    const c = parseOsuArgs([name, "-m", "262144:1048576", "-M", "2097152", "-i", "1"]);
    const lines: string[] = [];
    await mpi.mpiexec({ np: 4, mode: "native" }, osuProgram(c, 4, (l) => lines.push(l)));
    assert.deepEqual(lines.slice(3).map((l) => Number(l.slice(0, 10))), [262144, 524288]);
  });
}

Deno.test("osu: osu_gatherv, osu_scatterv, osu_allgatherv, osu_reduce_scatter print OMB 7.0's layout and validate", async () => {
  for (
    const [name, title] of [
      ["osu_gatherv", "# OSU MPI Gatherv Latency Test v7.0"],
      ["osu_scatterv", "# OSU MPI Scatterv Latency Test v7.0"],
      ["osu_allgatherv", "# OSU MPI Allgatherv Latency Test v7.0"],
    ]
  ) {
    const out = await osu(name, "-np", "3", "-m", "4", "-i", "3", "-x", "1", "-c");
    assert.deepEqual(out.slice(0, 3), [
      "",
      title,
      "# Size         Avg Latency(us)          Validation",
    ]);
    assert.deepEqual(out.slice(3).map((l) => [Number(l.slice(0, 10)), l.slice(30)]), [
      [1, "                Pass"],
      [2, "                Pass"],
      [4, "                Pass"],
    ], name);
  }
  // Floats from 4 bytes, as osu_reduce_scatter.c counts them; 1 and 2 floats on 3 ranks leave
  // some ranks without a block.
  const rs = await osu(
    "osu_reduce_scatter",
    "-np",
    "3",
    "-m",
    "64",
    "-i",
    "3",
    "-x",
    "1",
    "-c",
    "-f",
  );
  assert.deepEqual(rs.slice(0, 3), [
    "",
    "# OSU MPI Reduce_scatter Latency Test v7.0",
    "# Size         Avg Latency(us)     Min Latency(us)     Max Latency(us)  Iterations          Validation",
  ]);
  assert.deepEqual(rs.slice(3).map((l) => [row(l.slice(0, 70), 3).size, l.slice(-20)]), [
    [4, "                Pass"],
    [8, "                Pass"],
    [16, "                Pass"],
    [32, "                Pass"],
    [64, "                Pass"],
  ]);
  const help = (await osu("osu_reduce_scatter", "-h")).join("\n");
  assert.match(help, /^Usage: osu_reduce_scatter \[options\]/);
});

Deno.test("osu: osu_gatherv, osu_scatterv, osu_allgatherv, osu_reduce_scatter synchronize as their OMB 7.0 sources do", async () => {
  // osu_gatherv.c, osu_allgatherv.c: two barriers before the loop (around setting the counts),
  // one after each call, one before the statistics, one after printing.
  for (const [name, call] of [["osu_gatherv", "gatherv"], ["osu_allgatherv", "allgatherv"]]) {
    const log = await calls(2, name, "-m", "1", "-i", "1", "-x", "0");
    assert.deepEqual(log[1], [
      "barrier",
      "barrier",
      call,
      "barrier",
      "barrier",
      "reduce",
      "reduce",
      "reduce",
      "barrier",
    ], name);
  }
  // osu_scatterv.c: none before the statistics.
  const sv = await calls(2, "osu_scatterv", "-m", "1", "-i", "1", "-x", "0");
  assert.deepEqual(sv[1], [
    "barrier",
    "barrier",
    "scatterv",
    "barrier",
    "reduce",
    "reduce",
    "reduce",
    "barrier",
  ]);
  // osu_reduce_scatter.c: as osu_allreduce.c.
  const rs = await calls(2, "osu_reduce_scatter", "-m", "4", "-i", "1", "-x", "0");
  assert.deepEqual(rs[0], [
    "barrier",
    "reduceScatter",
    "barrier",
    "reduce",
    "reduce",
    "reduce",
    "barrier",
  ]);
  // check_mem_limit: GATHER and SCATTER keep max × np within -M, REDUCE_SCATTER max.
  for (
    const [name, want] of [["osu_scatterv", [262144, 524288]], ["osu_reduce_scatter", [
      262144,
      524288,
      1048576,
    ]]] as const
  ) {
    const cfg = parseOsuArgs([name, "-m", "262144:1048576", "-M", "2097152", "-i", "1", "-x", "0"]);
    const lines: string[] = [];
    await mpi.mpiexec({ np: 4, mode: "native" }, osuProgram(cfg, 4, (l) => lines.push(l)));
    assert.deepEqual(lines.slice(3).map((l) => Number(l.slice(0, 10))), want, name);
  }
});

Deno.test("osu: osu_gatherv's root and osu_reduce_scatter's ranks notice data that did not arrive", async () => {
  const broken = (prop: string, spoil: (args: unknown[]) => void) => (comm: mpi.Comm) =>
    new Proxy(comm, {
      get(target, p) {
        const v = Reflect.get(target, p);
        if (typeof v !== "function") return v;
        if (p !== prop) return v.bind(target);
        return async (...a: unknown[]) => {
          await v.apply(target, a);
          spoil(a);
        };
      },
    });
  // The 2-byte size loses rank 1's block at the gatherv root.
  const g = parseOsuArgs(["osu_gatherv", "-m", "4", "-i", "2", "-x", "0", "-c"]);
  const gl: string[] = [];
  const gj = await mpi.mpiexec(
    { np: 2, mode: "native" },
    (comm) =>
      osuProgram(g, 2, (l) => gl.push(l))(
        broken("gatherv", (a) => {
          const rb = a[1] as mpi.MpiBuffer | null;
          if (rb && (a[0] as mpi.MpiBuffer).length === 2) rb.subarray(2, 4).fill(0);
        })(comm),
      ),
  );
  assert.equal(gj.results[0]!.failedSize, 2);
  assert.deepEqual(gl.slice(3).map((l) => [Number(l.slice(0, 10)), l.slice(30)]), [
    [1, "                Pass"],
    [2, "                Fail"],
  ]);
  // Rank 1's block goes wrong at 16 bytes (4 floats, 2 each): only rank 1 can see it.
  const r = parseOsuArgs(["osu_reduce_scatter", "-m", "32", "-i", "2", "-x", "0", "-c"]);
  const rl: string[] = [];
  const rj = await mpi.mpiexec(
    { np: 2, mode: "native" },
    (comm) =>
      osuProgram(r, 2, (l) => rl.push(l))(
        broken("reduceScatter", (a) => {
          const rb = a[1] as mpi.MpiBuffer;
          if (comm.rank === 1 && (a[0] as mpi.MpiBuffer).length === 4) rb.fill(0);
        })(comm),
      ),
  );
  assert.equal(rj.results[0]!.failedSize, 16);
  assert.deepEqual(rl.slice(3).map((l) => [Number(l.slice(0, 10)), l.slice(30)]), [
    [4, "                Pass"],
    [8, "                Pass"],
    [16, "                Fail"],
  ]);
});

Deno.test("osu: --migrate moves a rank's guest mid-run; a comment line after the table says what it cost", async () => {
  const migrate = ["--mode", "bypass", "--guest-memory", "16", "--migrate", "1@1"];
  const [lat, put] = await Promise.all([
    osu("osu_latency", "-m", "2", ...migrate),
    osu("osu_put_latency", "-m", "2", ...migrate),
  ]);
  for (const [out, sizes] of [[lat, [0, 1, 2]], [put, [1, 2]]] as const) {
    const last = out.at(-1)!;
    assert.match(
      last,
      /^# Live migration: rank 1's guest node1-vm0 moved node1 → spare0 at 1\.00 ms: downtime [\d.]+ ms, migration [\d.]+ ms, \d+ round\(s\), 1 connection\(s\) moved$/,
      out.join("\n"),
    );
    // The table is whole above it (the one-sided latency tests start at 1 byte).
    const rows = out.slice(-1 - sizes.length, -1);
    assert.deepEqual(rows.map((l) => Number(l.split(/\s+/)[0])), sizes);
  }
});

Deno.test("osu: the command line is read by getopt_long's rules (getoptLong), launch flags as extensions", () => {
  // xenib's launch flags take a prefix that names none of OMB's long options…
  const c = parseOsuArgs(["osu_latency", "--mo", "split", "--ho=2", "--se", "7", "--ma", "cyclic"]);
  assert.deepEqual([c.launch.mode, c.launch.hosts, c.launch.seed, c.launch.map], [
    "split",
    2,
    7,
    "cyclic",
  ]);
  // …never one OMB's table makes ambiguous or its own (--m, --h: OMB's).
  assert.throws(
    () => parseOsuArgs(["osu_latency", "--m", "4"]),
    /^UsageError: osu_latency: option '--m' is ambiguous; possibilities: '--message-size' '--mem-limit' \(see --help\)$/,
  );
  assert.equal(parseOsuArgs(["osu_latency", "--h"]).help, true);
  assert.throws(
    () => parseOsuArgs(["osu_latency", "--gu", "2"]),
    /option '--gu' is ambiguous; possibilities: '--guests-per-host' '--guest-memory'/,
  );
  // -np and -n are whole words, never a cluster; -np=4 is one (and -n is no OSU option).
  assert.equal(parseOsuArgs(["osu_mbw_mr", "-np", "4", "-p", "2"]).launch.np, 4);
  assert.throws(() => parseOsuArgs(["osu_mbw_mr", "-np=4"]), /osu_mbw_mr: Invalid option \[-n\]/);
  // A launch flag without its value is glibc's missing argument (it was "--mode needs a value").
  assert.throws(
    () => parseOsuArgs(["osu_latency", "-m", "8", "--mode"]),
    /^UsageError: osu_latency: option '--mode' requires an argument \(see --help\)$/,
  );
  assert.throws(
    () => parseOsuArgs(["osu_latency", "-np"]),
    /^UsageError: osu_latency: option '-np' requires an argument \(see --help\)$/,
  );
  // A value is the next word whatever it looks like, as getopt takes it.
  assert.throws(
    () => parseOsuArgs(["osu_latency", "-m", "--mode"]),
    /Invalid Message Size \[-m --mode\]/,
  );
  // getopt permutes the operands after the options: an option's error comes first.
  assert.throws(
    () => parseOsuArgs(["osu_latency", "D", "-i", "0"]),
    /Invalid Number of Iterations/,
  );
  assert.equal(parseOsuArgs(["osu_latency", "H", "-m", "8", "H"]).maxSize, 8);
});
