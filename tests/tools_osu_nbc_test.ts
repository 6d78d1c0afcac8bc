/**
 * `deno task osu` for OMB's non-blocking collectives (osu_ibarrier,
 * osu_ibcast, osu_iallreduce, …): the preamble and columns of
 * print_preamble_nbc / print_stats_nbc, every benchmark running, `-t`
 * (MPI_Test calls during the dummy computation), `-c` (validation, as OMB
 * 7.0's osu_i*.c), and what the overlap figure says about progress only
 * inside MPI calls.
 */
import assert from "node:assert/strict";
import { osu } from "./support/osu.ts";
import { mpi } from "../mod.ts";
import { OSU_BENCHMARKS, OSU_DEFAULTS, parseOsuArgs } from "../tools/lib/osu_args.ts";
import { osuProgram } from "../tools/lib/osu_bench.ts";
import { usage } from "../tools/lib/osu_format.ts";

/** A row's values: `first` characters (size, or osu_ibarrier's overall), then fields of 20. */
function values(line: string, fields: number, first = 10): number[] {
  assert.equal(line.length, first + 20 * fields, `width of '${line}'`);
  const v = [Number(line.slice(0, first))];
  for (let k = 0; k < fields; k++) {
    const f = line.slice(first + 20 * k, first + 20 + 20 * k);
    assert.match(f, /^ *\d+\.\d\d$/, `field '${f}'`);
    v.push(Number(f));
  }
  return v;
}

Deno.test("osu nbc: osu_iallreduce prints OMB's preamble and Size, Overall, Compute, Pure Comm., Overlap", async () => {
  const out = await osu("osu_iallreduce", "-np", "4", "-m", "64", "-i", "10", "-x", "2");
  assert.deepEqual(out.slice(0, 5), [
    "",
    "# OSU MPI Non-blocking Allreduce Latency Test v7.0",
    "# Overall = Coll. Init + Compute + MPI_Test + MPI_Wait",
    "",
    "# Size             Overall(us)         Compute(us)      Pure Comm.(us)          Overlap(%)",
  ]);
  const rows = out.slice(5).map((l) => values(l, 4));
  assert.deepEqual(rows.map((r) => r[0]), [4, 8, 16, 32, 64]); // floats, as osu_allreduce
  for (const [, overall, compute, comm, overlap] of rows) {
    // The dummy computation lasts the pure communication time, overshooting by less than
    // one compute_on_host (3.75 µs on pcix-sdr-2006), and overall is at least the computation.
    assert.ok(compute >= comm && compute < comm + 3.8, `${compute} vs ${comm}`);
    assert.ok(overall >= compute);
    assert.ok(overlap >= 0 && overlap <= 100);
  }
});

Deno.test("osu nbc: -f adds Coll. Init, MPI_Test, MPI_Wait and the pure time's min and max; osu_ibarrier has no size", async () => {
  const out = await osu("osu_ibarrier", "-np", "4", "-i", "10", "-x", "2", "-f");
  assert.equal(
    out[4],
    "         Overall(us)         Compute(us)      Coll. Init(us)        MPI_Test(us)        MPI_Wait(us)" +
      "      Pure Comm.(us)       Min Comm.(us)       Max Comm.(us)          Overlap(%)",
  );
  assert.equal(out.length, 6);
  const [overall, compute, init, test, wait, comm, min, max] = values(out[5], 8, 20);
  assert.equal(test, 0); // no -t: no MPI_Test calls
  assert.ok(min <= comm && comm <= max);
  // Overall = Coll. Init + Compute + MPI_Test + MPI_Wait, each averaged over ranks.
  assert.ok(Math.abs(overall - (init + compute + test + wait)) <= 0.02, out[5]);
});

Deno.test("osu nbc: every non-blocking benchmark runs on 3 ranks (osu_ireduce_scatter too)", async () => {
  const names = Object.keys(OSU_BENCHMARKS).filter((n) => /^osu_i[a-z]/.test(n));
  assert.deepEqual(names, [
    "osu_ibarrier",
    "osu_ibcast",
    "osu_iallreduce",
    "osu_ireduce",
    "osu_igather",
    "osu_iscatter",
    "osu_iallgather",
    "osu_ialltoall",
    "osu_igatherv",
    "osu_iscatterv",
    "osu_iallgatherv",
    "osu_ialltoallv",
    "osu_ialltoallw",
    "osu_ireduce_scatter",
  ]);
  for (const name of names) {
    const out = await osu(name, "-np", "3", "-m", "16", "-i", "3", "-x", "1");
    const rows = out.slice(5);
    if (name === "osu_ibarrier") assert.equal(rows.length, 1);
    else {
      const floats = ["osu_iallreduce", "osu_ireduce", "osu_ireduce_scatter"];
      const first = floats.includes(name) ? 4 : 1;
      const sizes = rows.map((l) => values(l, 4)[0]);
      assert.equal(sizes[0], first, name);
      assert.equal(sizes.at(-1), 16, name);
    }
  }
});

Deno.test("osu nbc: MPI_Test calls during the computation (-t) move a multi-round collective on: more overlap", async () => {
  // A dissemination barrier on 8 ranks has three rounds; without tests only the first
  // moves while the ranks compute (no asynchronous progress), with tests the others do.
  const overlapOf = async (...extra: string[]) => {
    const out = await osu("osu_ibarrier", "-np", "8", "-i", "10", "-x", "2", "-f", ...extra);
    return values(out[5], 8, 20);
  };
  const none = await overlapOf();
  const tested = await overlapOf("-t", "16");
  assert.ok(tested[3] > 0, "the MPI_Test column counts the tests");
  assert.ok(tested[8] > none[8] + 20, `overlap ${none[8]}% without tests, ${tested[8]}% with`);
});

Deno.test("osu nbc: -t takes a count >= 0 (OSU's message); -c and -u for all but osu_ibarrier", () => {
  assert.equal(parseOsuArgs(["osu_ibcast", "-t", "100"]).probes, 100);
  assert.throws(
    () => parseOsuArgs(["osu_ibcast", "-t", "-1"]),
    /osu_ibcast: Invalid Number of Probes \[-t -1\] \(see --help\)/,
  );
  // OMB 7.0's process_options: the NBC_* subtypes take "cu:", osu_ibarrier's NBC does not.
  const c = parseOsuArgs(["osu_iallreduce", "-c"]);
  assert.deepEqual([c.validate, c.warmupValidation], [true, 5]);
  assert.equal(parseOsuArgs(["osu_igatherv", "-c", "-u", "2"]).warmupValidation, 2);
  assert.throws(() => parseOsuArgs(["osu_ibarrier", "-c"]), /Invalid option \[-c\]/);
  assert.match(usage("osu_iallreduce"), /-c, --validation[^]*-u, --validation-warmup[^]*-t, /);
  assert.doesNotMatch(usage("osu_ibarrier"), /--validation/);
  // print_help_message: -m and -M only where sizes are shown (not osu_ibarrier), -t only for
  // the NBC subtypes it names (not NBC_REDUCE_SCATTER); osu_ibarrier skips skip_large.
  assert.doesNotMatch(usage("osu_ibarrier"), /--message-size|--mem-limit/);
  assert.match(usage("osu_ibarrier"), /-x, --warmup ITER .*\(default 10\)/);
  assert.match(usage("osu_iallreduce"), /-x, --warmup ITER .*\(default 100\)/);
  assert.doesNotMatch(usage("osu_ireduce_scatter"), /--num-test-calls/);
  assert.match(usage("osu_ireduce_scatter"), /--message-size/);
});

Deno.test("osu nbc: -c validates every non-blocking benchmark but osu_ibarrier: a Validation column", async () => {
  const names = Object.keys(OSU_BENCHMARKS).filter((n) =>
    /^osu_i[a-z]/.test(n) && n !== "osu_ibarrier"
  );
  for (const name of names) {
    const out = await osu(name, "-np", "3", "-m", "8", "-i", "2", "-x", "1", "-c", "-u", "1");
    assert.equal(
      out[4],
      "# Size             Overall(us)         Compute(us)      Pure Comm.(us)          Overlap(%)" +
        "          Validation",
      name,
    );
    const rows = out.slice(5);
    assert.ok(rows.length >= 2, name);
    for (const r of rows) {
      assert.equal(r.slice(-20), "                Pass", `${name}: ${r}`);
      values(r.slice(0, -20), 4);
    }
  }
});

/**
 * Run `args` on 2 native ranks with `wait` replaced: after the real wait on
 * a request of `method`, `spoil(rank, k, bytes, rb)` may change the call's
 * receive buffer (`bytes`: the send buffer's size; `k` counts the calls of
 * one size from 1); returns the output lines and the first size that failed.
 */
async function spoiled(
  args: string[],
  method: string,
  spoil: (rank: number, k: number, bytes: number, rb: mpi.MpiBuffer) => void,
) {
  const lines: string[] = [];
  const program = osuProgram(parseOsuArgs(args), 2, (l) => lines.push(l));
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, (comm) => {
    const mine = new Map<unknown, mpi.MpiBuffer>();
    let bytes = -1, k = 0;
    return program(
      new Proxy(comm, {
        get(target, prop) {
          const v = Reflect.get(target, prop);
          if (typeof v !== "function") return v;
          if (prop === method) {
            return async (...a: unknown[]) => {
              const req = await v.apply(target, a);
              const b = (a[0] as mpi.MpiBuffer).byteLength;
              if (b !== bytes) [bytes, k] = [b, 0];
              k++;
              const rb = (method === "ibcast" ? a[0] : a[1]) as mpi.MpiBuffer | null;
              if (rb) mine.set(req, rb);
              return req;
            };
          }
          if (prop === "wait") {
            return async (req: mpi.Request) => {
              const st = await target.wait(req);
              const rb = mine.get(req);
              if (rb) spoil(comm.rank, k, bytes, rb);
              return st;
            };
          }
          return v.bind(target);
        },
      }),
    );
  });
  return { lines, failed: job.results[0]!.failedSize };
}

Deno.test("osu nbc: -c notices a wrong result in the first loop and in the overlapped one, and stops there", async () => {
  // osu_iallreduce, -i 1 -x 0 -u 0: per size one call timed alone (k = 1) and one overlapped
  // (k = 2). Rank 1's result of 2 floats (8 bytes) is spoiled in one of them.
  for (const spoilAt of [1, 2]) {
    const { lines, failed } = await spoiled(
      ["osu_iallreduce", "-m", "32", "-i", "1", "-x", "0", "-c", "-u", "0"],
      "iallreduce",
      (rank, k, bytes, rb) => {
        if (rank === 1 && bytes === 8 && k === spoilAt) rb.set([0], 1);
      },
    );
    assert.equal(failed, 8, `spoiled at call ${spoilAt}`);
    assert.deepEqual(lines.slice(5).map((l) => [Number(l.slice(0, 10)), l.slice(-20)]), [
      [4, "                Pass"],
      [8, "                Fail"],
    ]);
  }
  // osu_ibcast: the first loop checks the root only, the overlapped one every rank
  // (osu_ibcast.c).
  const bcast = (spoilAt: number) =>
    spoiled(
      ["osu_ibcast", "-m", "4", "-i", "1", "-x", "0", "-c", "-u", "0"],
      "ibcast",
      (rank, k, bytes, rb) => {
        if (rank === 1 && bytes === 2 && k === spoilAt) rb.set([0], 1);
      },
    );
  assert.equal((await bcast(1)).failed, undefined);
  assert.equal((await bcast(2)).failed, 2);
  // osu_igather: the root's check sees rank 1's block (bytes 2-3 at size 2) go wrong.
  const gather = await spoiled(
    ["osu_igather", "-m", "4", "-i", "1", "-x", "0", "-c", "-u", "0"],
    "igather",
    (rank, k, bytes, rb) => {
      if (rank === 0 && bytes === 2 && k === 2) rb.set([0], 3);
    },
  );
  assert.equal(gather.failed, 2);
  // osu_ireduce_scatter: 16 bytes are 4 floats, 2 to each rank; only rank 1 sees its block.
  const rs = await spoiled(
    ["osu_ireduce_scatter", "-m", "32", "-i", "1", "-x", "0", "-c", "-u", "0"],
    "ireduceScatter",
    (rank, k, bytes, rb) => {
      if (rank === 1 && bytes === 16 && k === 2) rb.set([0], 1);
    },
  );
  assert.equal(rs.failed, 16);
  assert.deepEqual(rs.lines.slice(5).map((l) => l.slice(-4)), ["Pass", "Pass", "Fail"]);
});

/** Runs `deno task osu ARGS` on `np` native ranks, telling `spy` of every `Comm` method called. */
async function spyCalls(
  args: string[],
  np: number,
  spy: (rank: number, method: string, a: unknown[]) => void,
): Promise<void> {
  const program = osuProgram(parseOsuArgs(args), np, () => {});
  await mpi.mpiexec({ np, mode: "native" }, (comm) =>
    program(
      new Proxy(comm, {
        get(target, prop) {
          const v = Reflect.get(target, prop);
          if (typeof v !== "function") return v;
          return (...a: unknown[]) => {
            spy(comm.rank, String(prop), a);
            return v.apply(target, a);
          };
        },
      }),
    ));
}

/**
 * The MPI calls rank 1 makes in `deno task osu ARGS` on 2 ranks (barrier, wait, allreduce,
 * reduce and `method`), space-separated.
 */
async function traceCalls(args: string[], method: string): Promise<string> {
  const log: string[] = [];
  const traced = ["barrier", "wait", "allreduce", "reduce", method];
  await spyCalls(args, 2, (rank, m) => {
    if (rank === 1 && traced.includes(m)) log.push(m);
  });
  return log.join(" ");
}

Deno.test("osu nbc: -c adds OMB 7.0's calls: -u rounds and barriers per iteration, the errors' allreduce", async () => {
  const trace = (name: string, method: string) =>
    traceCalls([name, "-m", "4", "-i", "1", "-x", "0", "-c", "-u", "1"], method);
  // One iteration: set_buffer_validation, a -u round after a barrier, a barrier, the timed call.
  const round = (m: string) => `barrier ${m} wait barrier ${m} wait barrier`;
  const stats = "reduce reduce reduce reduce reduce reduce reduce reduce barrier";
  // osu_iallreduce.c: the errors are reduced after the overlapped loop's barrier.
  assert.equal(
    await trace("osu_iallreduce", "iallreduce"),
    `barrier ${round("iallreduce")} barrier barrier ${
      round("iallreduce")
    } barrier allreduce ${stats}`,
  );
  // osu_igatherv.c: after the first loop too, and before the closing barrier.
  assert.match(
    await trace("osu_igatherv", "igatherv"),
    /igatherv wait barrier barrier allreduce barrier .* igatherv wait barrier allreduce barrier reduce/,
  );
});

Deno.test("osu nbc: osu_ireduce_scatter splits the floats as osu_reduce_scatter and times MPI_Ireduce_scatter", async () => {
  const out = await osu("osu_ireduce_scatter", "-np", "3", "-m", "64", "-i", "3", "-x", "1");
  assert.equal(out[1], "# OSU MPI Non-blocking Reduce_scatter Latency Test v7.0");
  assert.deepEqual(out.slice(5).map((l) => values(l, 4)[0]), [4, 8, 16, 32, 64]);
  // osu_ireduce_scatter.c: recvcounts of `size` floats, size / np each and one more to the
  // first size mod np (one each to the first `size` ranks when fewer).
  const counts: number[][] = [];
  await spyCalls(["osu_ireduce_scatter", "-m", "28", "-i", "1", "-x", "0"], 3, (rank, m, a) => {
    if (rank === 0 && m === "ireduceScatter") counts.push([...(a[2] as number[])]);
  });
  // Sizes 4, 8, 16 bytes: 1, 2, 4 floats; two calls each (alone, overlapped).
  assert.deepEqual(counts, [[1, 0, 0], [1, 0, 0], [1, 1, 0], [1, 1, 0], [2, 1, 1], [2, 1, 1]]);
});

Deno.test("osu nbc: -M limits the sizes as for the blocking twins (check_mem_limit's NBC_* subtypes)", async () => {
  // osu_igather (NBC_GATHER): max × np within -M; osu_iallreduce (NBC_REDUCE): max within it.
  const sizesOf = async (...args: string[]) => {
    const lines: string[] = [];
    const np = 4;
    await mpi.mpiexec(
      { np, mode: "native" },
      osuProgram(parseOsuArgs(args), np, (l) => lines.push(l)),
    );
    return lines.slice(5).map((l) => Number(l.slice(0, 10)));
  };
  const quiet = ["-i", "1", "-x", "0", "-M", "1048576"];
  const warnings: string[] = [];
  const error = console.error;
  console.error = (m: string) => void warnings.push(m);
  try {
    assert.deepEqual(await sizesOf("osu_igather", "-m", "131072:1048576", ...quiet), [
      131072,
      262144,
    ]);
    assert.deepEqual(await sizesOf("osu_iallreduce", "-m", "1048576:2097152", ...quiet), [1048576]);
  } finally {
    console.error = error;
  }
  assert.deepEqual(warnings, [
    "Warning! Limiting max message size to: 262144. Increase -M, --mem-limit for higher message sizes.",
    "Warning! Limiting max message size to: 1048576. Increase -M, --mem-limit for higher message sizes.",
  ]);
});

Deno.test("osu nbc: OMB 7.0's exact call sequence around each size's two loops, per osu_i*.c", async () => {
  // -c -u 0 -x 0 -i 1: one iteration is the validation's barrier, the call, its wait and the
  // barrier after it; calculate_and_print_stats' eight reductions and barrier end the size.
  const stats = "reduce reduce reduce reduce reduce reduce reduce reduce barrier";
  const cases: [string, string, string, string][] = [
    // [benchmark, before the first loop, between the loops, after the overlapped loop]
    ["osu_igather", "", "barrier allreduce barrier", "barrier allreduce"],
    ["osu_iscatter", "", "barrier barrier", "allreduce barrier"],
    ["osu_igatherv", "barrier barrier", "barrier allreduce barrier barrier", "allreduce barrier"],
    ["osu_iallgatherv", "barrier barrier", "barrier allreduce barrier", "allreduce barrier"],
    ["osu_iscatterv", "barrier", "barrier allreduce barrier", "allreduce barrier"],
    ["osu_iallreduce", "barrier", "barrier barrier", "barrier allreduce"],
    ["osu_ibcast", "", "barrier barrier", "barrier allreduce"],
    ["osu_iallgather", "barrier", "barrier barrier", "barrier allreduce"],
    ["osu_ialltoallv", "barrier", "barrier barrier", "barrier allreduce"],
    ["osu_ialltoallw", "barrier", "barrier barrier", "barrier allreduce"],
  ];
  const got: Record<string, string> = {}, want: Record<string, string> = {};
  for (const [name, before, between, after] of cases) {
    const m = name.slice(4);
    const it = `barrier ${m} wait barrier`;
    got[name] = await traceCalls([name, "-m", "4:4", "-i", "1", "-x", "0", "-c", "-u", "0"], m);
    want[name] = [before, it, between, it, after, stats].filter((s) => s !== "").join(" ");
  }
  assert.deepEqual(got, want);
  // The warmup: osu_igatherv.c and osu_iscatterv.c set options.skip = options.skip_large at
  // every size (their `else` branch); the others keep options.skip up to LARGE_MESSAGE_SIZE.
  const warm: Record<string, number> = {};
  for (const name of ["osu_igatherv", "osu_iscatterv", "osu_igather", "osu_iallgatherv"]) {
    const m = name.slice(4);
    const calls = (await traceCalls([name, "-m", "4:4", "-i", "1"], m)).split(" ");
    warm[name] = calls.filter((c) => c === m).length / 2 - 1;
  }
  assert.deepEqual(warm, {
    osu_igatherv: OSU_DEFAULTS.COLL_SKIP_LARGE,
    osu_iscatterv: OSU_DEFAULTS.COLL_SKIP_LARGE,
    osu_igather: OSU_DEFAULTS.COLL_SKIP_SMALL,
    osu_iallgatherv: OSU_DEFAULTS.COLL_SKIP_SMALL,
  });
});

Deno.test("osu nbc: osu_ialltoallw (and osu_alltoallw) start MPI_Ialltoallw with equal MPI_CHAR blocks at byte displacements, as osu_ialltoallw.c", async () => {
  const out = await osu("osu_ialltoallw", "-np", "3", "-m", "8", "-i", "2", "-x", "1", "-c");
  assert.equal(
    out[1],
    "# OSU MPI Non-blocking All-to-Allw Personalized Exchange Latency Test v7.0",
  );
  assert.deepEqual(out.slice(5).map((l) => [values(l.slice(0, -20), 4)[0], l.slice(-4)]), [
    [1, "Pass"],
    [2, "Pass"],
    [4, "Pass"],
    [8, "Pass"],
  ]);
  // osu_alltoallw.c and osu_ialltoallw.c: sendcounts = recvcounts = size, displacements
  // i × size bytes, stypes = rtypes = MPI_CHAR.
  const call = [[4, 4, 4], [0, 4, 8], ["uint8", "uint8", "uint8"]];
  for (const m of ["alltoallw", "ialltoallw"]) {
    const args: unknown[][] = [];
    await spyCalls([`osu_${m}`, "-m", "4:4", "-i", "1", "-x", "0"], 3, (rank, method, a) => {
      if (rank === 1 && method === m) args.push([1, 2, 3, 5, 6, 7].map((k) => a[k]));
    });
    // osu_ialltoallw: one call timed alone and one overlapped.
    assert.deepEqual(args, Array(m === "alltoallw" ? 1 : 2).fill([...call, ...call]), m);
  }
});
