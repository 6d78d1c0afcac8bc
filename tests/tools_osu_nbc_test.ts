/**
 * `deno task osu` for OMB's non-blocking collectives (osu_ibarrier,
 * osu_ibcast, osu_iallreduce, …): the preamble and columns of
 * print_preamble_nbc / print_stats_nbc, every benchmark running, `-t`
 * (MPI_Test calls during the dummy computation), and what the overlap
 * figure says about progress only inside MPI calls.
 */
import assert from "node:assert/strict";
import { osu } from "./support/osu.ts";
import { OSU_BENCHMARKS, parseOsuArgs } from "../tools/lib/osu_args.ts";

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
    "# Overall(us)         Compute(us)      Coll. Init(us)        MPI_Test(us)        MPI_Wait(us)" +
      "      Pure Comm.(us)       Min Comm.(us)       Max Comm.(us)          Overlap(%)",
  );
  assert.equal(out.length, 6);
  const [overall, compute, init, test, wait, comm, min, max] = values(out[5], 8, 13);
  assert.equal(test, 0); // no -t: no MPI_Test calls
  assert.ok(min <= comm && comm <= max);
  // Overall = Coll. Init + Compute + MPI_Test + MPI_Wait, each averaged over ranks.
  assert.ok(Math.abs(overall - (init + compute + test + wait)) <= 0.02, out[5]);
});

Deno.test("osu nbc: every non-blocking benchmark runs on 3 ranks", async () => {
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
  ]);
  for (const name of names) {
    const out = await osu(name, "-np", "3", "-m", "16", "-i", "3", "-x", "1");
    const rows = out.slice(5);
    if (name === "osu_ibarrier") assert.equal(rows.length, 1);
    else {
      const first = name === "osu_iallreduce" || name === "osu_ireduce" ? 4 : 1;
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
    return values(out[5], 8, 13);
  };
  const none = await overlapOf();
  const tested = await overlapOf("-t", "16");
  assert.ok(tested[3] > 0, "the MPI_Test column counts the tests");
  assert.ok(tested[8] > none[8] + 20, `overlap ${none[8]}% without tests, ${tested[8]}% with`);
});

Deno.test("osu nbc: -t takes a count >= 0 (OSU's message); -c is not offered", () => {
  assert.equal(parseOsuArgs(["osu_ibcast", "-t", "100"]).probes, 100);
  assert.throws(
    () => parseOsuArgs(["osu_ibcast", "-t", "-1"]),
    /osu_ibcast: Invalid Number of Probes \[-t -1\] \(see --help\)/,
  );
  assert.throws(() => parseOsuArgs(["osu_iallreduce", "-c"]), /Invalid option \[-c\]/);
});
