/**
 * Same seed, same run (DESIGN §4, docs/api.md "Determinism"), with the noise
 * model on: a verbs program and an MPI job give the same trace hash, event
 * count, end time and results when repeated in one process, in another
 * process, and while other clusters run at the same time in the same process
 * (their engines' runs interleaved on one microtask queue, as a program or a
 * tool that runs points concurrently does). Different seeds give different runs.
 */
import assert from "node:assert/strict";
import { mpiRun, printed, verbsRun } from "./support/determinism.ts";

const SEED = 5;

Deno.test("determinism: the same seed repeats a verbs run and an MPI job exactly in one process", async () => {
  const once = async () => [
    printed(await verbsRun(SEED, "bypass")),
    printed(await verbsRun(SEED, "split", true)),
    printed(await mpiRun(SEED)),
  ];
  const first = await once();
  assert.deepEqual(await once(), first);
  // The programs saw what was sent: every WRITE succeeded and landed intact, faults or not.
  for (const run of first.slice(0, 2)) {
    assert.deepEqual(JSON.parse(run).out.wrong, [0, 0, 0, 0, 0, 0, 0, 0]);
  }
});

Deno.test("determinism: another process gives the same trace hashes, event counts and end times", async () => {
  const here = [
    printed(await verbsRun(SEED, "bypass")),
    printed(await verbsRun(SEED, "split", true)),
    printed(await mpiRun(SEED)),
  ];
  const run = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-check",
      new URL("./support/determinism.ts", import.meta.url).pathname,
      `${SEED}`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(run.success, new TextDecoder().decode(run.stderr));
  assert.deepEqual(JSON.parse(new TextDecoder().decode(run.stdout)), here);
});

Deno.test("determinism: clusters run at the same time in one process each give what they give alone", async () => {
  const alone = {
    verbs: printed(await verbsRun(SEED, "bypass")),
    faults: printed(await verbsRun(SEED + 1, "split", true)),
    mpi: printed(await mpiRun(SEED)),
  };
  const [v1, f1, m1, v2, m2, f2] = await Promise.all([
    verbsRun(SEED, "bypass"),
    verbsRun(SEED + 1, "split", true),
    mpiRun(SEED),
    verbsRun(SEED, "bypass"),
    mpiRun(SEED),
    verbsRun(SEED + 1, "split", true),
  ]);
  assert.deepEqual([v1, v2].map(printed), [alone.verbs, alone.verbs]);
  assert.deepEqual([f1, f2].map(printed), [alone.faults, alone.faults]);
  assert.deepEqual([m1, m2].map(printed), [alone.mpi, alone.mpi]);
});

Deno.test("determinism: with the noise on, another seed gives another run", async () => {
  const [a, b] = [await verbsRun(SEED, "bypass"), await verbsRun(SEED + 2, "bypass")];
  assert.notEqual(b.hash, a.hash);
  assert.notDeepEqual(b.out, a.out);
  const [m, n] = [await mpiRun(SEED), await mpiRun(SEED + 2)];
  assert.notEqual(n.hash, m.hash);
  assert.notEqual(n.now, m.now);
});
