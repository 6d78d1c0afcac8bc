/**
 * Groups as objects (MPI-3.1 §6.3) and MPI_Comm_create (§6.4.2): local
 * group operations, rank translation and comparison, and communicators made
 * of a group, which communicate on their own context.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";

const { IDENT, mpiexec, PROC_NULL, SIMILAR, UNDEFINED, UNEQUAL } = mpi;

Deno.test("mpi group: size, rank, incl, excl, union, intersection, difference, translateRanks, compare", async () => {
  const job = await mpiexec({ np: 5, mode: "native" }, (comm) => {
    const world = comm.getGroup();
    const evens = world.incl([4, 2, 0]);
    const odds = world.excl([0, 2, 4]);
    const back = evens.union(odds);
    return {
      size: world.size,
      rank: world.rank,
      evens: [evens.members, evens.rank],
      odds: [odds.members, odds.rank],
      union: back.members,
      inter: world.intersection(evens).members,
      diff: world.difference(odds).members,
      translate: world.translateRanks([0, 1, 4, PROC_NULL], evens),
      compare: [
        world.compare(comm.getGroup()),
        world.compare(back),
        world.compare(evens),
        evens.compare(world.incl([4, 2, 0])),
      ],
    };
  });
  assert.deepEqual(job.results[2], {
    size: 5,
    rank: 2,
    evens: [[4, 2, 0], 1],
    odds: [[1, 3], UNDEFINED],
    union: [4, 2, 0, 1, 3],
    inter: [0, 2, 4],
    diff: [0, 2, 4],
    translate: [2, UNDEFINED, 0, PROC_NULL],
    compare: [IDENT, SIMILAR, UNEQUAL, IDENT],
  });
});

for (const mode of ["native", "bypass", "split"] as const) {
  Deno.test(`mpi group (${mode}): comm.create makes a communicator of a group, in its order; the others get null`, async () => {
    const job = await mpiexec({ np: 4, mode }, async (comm) => {
      // Ranks 3, 1, 0 in that order; rank 2 is left out.
      const sub = await comm.create(comm.getGroup().incl([3, 1, 0]));
      if (sub === null) {
        await comm.barrier();
        return null;
      }
      const v = new Int32Array([comm.rank]);
      await sub.allreduce(mpi.IN_PLACE, v, "SUM");
      const got = new Int32Array(1);
      await sub.sendrecv(
        new Int32Array([10 * comm.rank]),
        (sub.rank + 1) % sub.size,
        0,
        got,
        (sub.rank + sub.size - 1) % sub.size,
        0,
      );
      const same = comm.compare(sub);
      await comm.barrier();
      return [sub.rank, sub.size, [...sub.group], v[0], got[0], same, sub.name];
    });
    assert.deepEqual(job.results, [
      [2, 3, [3, 1, 0], 4, 10, UNEQUAL, "MPI_COMM_WORLD.create1"],
      [1, 3, [3, 1, 0], 4, 30, UNEQUAL, "MPI_COMM_WORLD.create1"],
      null,
      [0, 3, [3, 1, 0], 4, 0, UNEQUAL, "MPI_COMM_WORLD.create1"],
    ]);
  });
}

Deno.test("mpi group: create of the whole group is congruent; a group from a sub-communicator creates within it", async () => {
  const job = await mpiexec({ np: 4, mode: "bypass" }, async (comm) => {
    const all = await comm.create(comm.getGroup());
    const half = await comm.split(comm.rank % 2);
    const g = half!.getGroup();
    const one = await half!.create(g.incl([0]));
    const out = [comm.compare(all!), one === null ? "null" : [...one.group]];
    all!.freeComm();
    return out;
  });
  assert.deepEqual(job.results, [
    [mpi.CONGRUENT, [0]],
    [mpi.CONGRUENT, [1]],
    [mpi.CONGRUENT, "null"],
    [mpi.CONGRUENT, "null"],
  ]);
});

Deno.test("mpi group: misuse is named (ranks out of range or repeated, foreign groups, a group outside the communicator)", async () => {
  const job = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
    const msg = (f: () => unknown) =>
      Promise.resolve().then(f).then(() => "no error", (e: Error) => e.message);
    const g = comm.getGroup();
    const sub = await comm.split(comm.rank === 2 ? UNDEFINED : 0);
    const out = [
      await msg(() => g.incl([0, 3])),
      await msg(() => g.excl([1, 1])),
      await msg(() => g.translateRanks([5], g)),
      await msg(() => g.compare({} as mpi.Group)),
    ];
    if (sub) out.push(await msg(() => sub.create(g)));
    return out;
  });
  assert.deepEqual(job.results[0], [
    "MPI_ERR_RANK: MPI_Group_incl: rank 3 outside 0..2 of the group",
    "MPI_ERR_RANK: MPI_Group_excl: rank 1 appears twice",
    "MPI_ERR_RANK: MPI_Group_translate_ranks: rank 5 outside 0..2 of the group",
    "MPI_ERR_GROUP: MPI_Group_compare: not a group",
    "MPI_ERR_GROUP: MPI_Comm_create on rank 0: world rank 2 of the group is not in MPI_COMM_WORLD.split(0)",
  ]);
});
