/**
 * Non-blocking collectives (MPI-3.1 §5.12): each gives what its blocking
 * version gives, on communicators of 1, 2, 3, 5 and 8 ranks at an eager and
 * a rendezvous size; several may be outstanding and match in call order;
 * they never match a blocking collective or point-to-point traffic with the
 * same tags; their argument errors are the blocking calls'; and they move
 * only while their rank is inside an MPI call (no asynchronous progress).
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";
import { wLayout } from "./support/alltoallw.ts";

const val = (r: number, i: number) => ((r + 1) * 131 + i * 7) % 1009;
const series = (r: number, n: number) => Float64Array.from({ length: n }, (_, i) => val(r, i));

type Run = (comm: mpi.Comm, count: number, nb: boolean) => Promise<number[][]>;

/**
 * Run the blocking collective, or start the non-blocking one and complete
 * it: tested once (it may be done already), then waited for.
 */
async function call(
  comm: mpi.Comm,
  nb: boolean,
  blocking: () => Promise<void>,
  start: () => Promise<mpi.Request>,
): Promise<void> {
  if (!nb) return await blocking();
  const req = await start();
  const st = (await comm.test(req)) ?? (await comm.wait(req));
  assert.deepEqual(st, { source: mpi.ANY_SOURCE, tag: mpi.ANY_TAG, bytes: 0, count: 0 });
}

/** Every non-blocking collective and its blocking twin, on the same inputs. */
const OPS: Record<string, Run> = {
  barrier: async (comm, _count, nb) => {
    await call(comm, nb, () => comm.barrier(), () => comm.ibarrier());
    return [];
  },
  bcast: async (comm, count, nb) => {
    const root = comm.size - 1;
    const b = comm.rank === root ? series(root, count) : new Float64Array(count);
    await call(comm, nb, () => comm.bcast(b, root), () => comm.ibcast(b, root));
    return [[...b]];
  },
  reduce: async (comm, count, nb) => {
    const out = new Float64Array(count);
    const r = comm.rank === 0 ? out : null;
    const s = series(comm.rank, count);
    await call(comm, nb, () => comm.reduce(s, r, "SUM", 0), () => comm.ireduce(s, r, "SUM", 0));
    return [[...out]];
  },
  allreduce: async (comm, count, nb) => {
    const out = comm.alloc(count, "float64");
    const s = series(comm.rank, count);
    await call(comm, nb, () => comm.allreduce(s, out, "MAX"), () => comm.iallreduce(s, out, "MAX"));
    return [[...out.get()]];
  },
  gather: async (comm, count, nb) => {
    const out = comm.rank === 1 % comm.size ? new Float64Array(count * comm.size) : null;
    const s = series(comm.rank, count), root = 1 % comm.size;
    await call(comm, nb, () => comm.gather(s, out, root), () => comm.igather(s, out, root));
    return [[...(out ?? [])]];
  },
  scatter: async (comm, count, nb) => {
    const src = comm.rank === 0 ? series(9, count * comm.size) : null;
    const out = new Float64Array(count);
    await call(comm, nb, () => comm.scatter(src, out, 0), () => comm.iscatter(src, out, 0));
    return [[...out]];
  },
  allgather: async (comm, count, nb) => {
    const out = new Float64Array(count * comm.size), s = series(comm.rank, count);
    await call(comm, nb, () => comm.allgather(s, out), () => comm.iallgather(s, out));
    return [[...out]];
  },
  alltoall: async (comm, count, nb) => {
    const s = series(comm.rank, count * comm.size), out = new Float64Array(count * comm.size);
    await call(comm, nb, () => comm.alltoall(s, out), () => comm.ialltoall(s, out));
    return [[...out]];
  },
  alltoallv: async (comm, count, nb) => {
    const n = comm.size, me = comm.rank;
    const sc = Array.from({ length: n }, (_, j) => (me + j) % 3 + count);
    const rc = Array.from({ length: n }, (_, i) => (i + me) % 3 + count);
    const sd = sc.map((_, j) => sc.slice(0, j).reduce((a, b) => a + b, 0));
    const rd = rc.map((_, i) => rc.slice(0, i).reduce((a, b) => a + b, 0));
    const s = series(me, sc.reduce((a, b) => a + b, 0));
    const out = new Float64Array(rc.reduce((a, b) => a + b, 0));
    await call(
      comm,
      nb,
      () => comm.alltoallv(s, sc, sd, out, rc, rd),
      () => comm.ialltoallv(s, sc, sd, out, rc, rd),
    );
    return [[...out]];
  },
  alltoallw: async (comm, count, nb) => {
    // Per-peer datatypes at byte displacements (tests/support/alltoallw.ts).
    const w = wLayout(comm.size, comm.rank, count);
    const args = [w.send, w.sendcounts, w.sdispls, w.sendtypes, w.recv, w.recvcounts] as const;
    await call(
      comm,
      nb,
      () => comm.alltoallw(...args, w.rdispls, w.recvtypes),
      () => comm.ialltoallw(...args, w.rdispls, w.recvtypes),
    );
    return [[...w.recv]];
  },
  gatherv: async (comm, count, nb) => {
    const counts = Array.from({ length: comm.size }, (_, r) => r + count);
    const displs = counts.map((_, r) => counts.slice(0, r).reduce((a, b) => a + b, 0));
    const out = comm.rank === 0 ? new Float64Array(counts.reduce((a, b) => a + b, 0)) : null;
    const s = series(comm.rank, counts[comm.rank]);
    await call(
      comm,
      nb,
      () => comm.gatherv(s, out, counts, displs, 0),
      () => comm.igatherv(s, out, counts, displs, 0),
    );
    return [[...(out ?? [])]];
  },
  scatterv: async (comm, count, nb) => {
    const counts = Array.from({ length: comm.size }, (_, r) => r + count);
    const displs = counts.map((_, r) => counts.slice(0, r).reduce((a, b) => a + b, 0));
    const src = comm.rank === 0 ? series(4, counts.reduce((a, b) => a + b, 0)) : null;
    const out = new Float64Array(counts[comm.rank]);
    await call(
      comm,
      nb,
      () => comm.scatterv(src, counts, displs, out, 0),
      () => comm.iscatterv(src, counts, displs, out, 0),
    );
    return [[...out]];
  },
  allgatherv: async (comm, count, nb) => {
    const counts = Array.from({ length: comm.size }, (_, r) => (r % 2) + count);
    const displs = counts.map((_, r) => counts.slice(0, r).reduce((a, b) => a + b, 0));
    const out = new Float64Array(counts.reduce((a, b) => a + b, 0));
    const s = series(comm.rank, counts[comm.rank]);
    await call(
      comm,
      nb,
      () => comm.allgatherv(s, out, counts, displs),
      () => comm.iallgatherv(s, out, counts, displs),
    );
    return [[...out]];
  },
  reduceScatterBlock: async (comm, count, nb) => {
    const s = series(comm.rank, count * comm.size), out = new Float64Array(count);
    await call(
      comm,
      nb,
      () => comm.reduceScatterBlock(s, out, "SUM"),
      () => comm.ireduceScatterBlock(s, out, "SUM"),
    );
    return [[...out]];
  },
  reduceScatter: async (comm, count, nb) => {
    const counts = Array.from({ length: comm.size }, (_, r) => r + count);
    const s = series(comm.rank, counts.reduce((a, b) => a + b, 0));
    const out = new Float64Array(counts[comm.rank]);
    await call(
      comm,
      nb,
      () => comm.reduceScatter(s, out, counts, "SUM"),
      () => comm.ireduceScatter(s, out, counts, "SUM"),
    );
    return [[...out]];
  },
  scan: async (comm, count, nb) => {
    const s = series(comm.rank, count), out = new Float64Array(count);
    await call(comm, nb, () => comm.scan(s, out, "SUM"), () => comm.iscan(s, out, "SUM"));
    return [[...out]];
  },
  exscan: async (comm, count, nb) => {
    const s = series(comm.rank, count), out = new Float64Array(count).fill(-1);
    await call(comm, nb, () => comm.exscan(s, out, "SUM"), () => comm.iexscan(s, out, "SUM"));
    return [[...out]];
  },
};

for (const np of [1, 2, 3, 5, 8]) {
  Deno.test(`mpi nbc: every non-blocking collective gives what the blocking one gives (${np} rank(s))`, async () => {
    const job = await mpi.mpiexec({ np, mode: "native" }, async (comm) => {
      const fails: string[] = [];
      // 5 elements go eagerly; 2000 float64s (16000 bytes) by rendezvous.
      for (const count of [5, 2000]) {
        for (const [name, run] of Object.entries(OPS)) {
          const want = await run(comm, count, false);
          const got = await run(comm, count, true);
          if (JSON.stringify(got) !== JSON.stringify(want)) {
            fails.push(`rank ${comm.rank} ${name} count ${count}`);
          }
        }
      }
      return fails;
    });
    assert.deepEqual(job.results.flat(), []);
  });
}

Deno.test("mpi nbc: several outstanding on one communicator match in call order, whatever order they are completed in", async () => {
  const job = await mpi.mpiexec(
    { np: 4, mode: "bypass", hosts: 2, guestsPerHost: 2 },
    async (comm) => {
      // Three broadcasts from different roots and an allreduce, all outstanding at once;
      // ranks complete them in different orders (rank r waits in rotated order).
      const bufs = [0, 1, 2].map((root) =>
        comm.rank === root ? series(root, 3000) : new Float64Array(3000)
      );
      const sum = new Float64Array(4);
      const reqs = [
        await comm.ibcast(bufs[0], 0),
        await comm.ibcast(bufs[1], 1),
        await comm.iallreduce(new Float64Array(4).fill(comm.rank + 1), sum, "SUM"),
        await comm.ibcast(bufs[2], 2),
      ];
      for (let i = 0; i < reqs.length; i++) await comm.wait(reqs[(i + comm.rank) % reqs.length]);
      return [
        bufs.every((b, root) => b.every((v, i) => v === val(root, i))),
        [...sum],
      ];
    },
  );
  assert.deepEqual(job.results, Array(4).fill([true, [10, 10, 10, 10]]));
});

Deno.test("mpi nbc: never matches a blocking collective or point-to-point traffic with the same tags", async () => {
  // The first non-blocking collectives of a communicator use tags 32.., 64.. on the
  // collective context: a user message with those tags, and a blocking bcast started while
  // an ibcast is outstanding, must go to their own receives.
  const job = await mpi.mpiexec({ np: 3, mode: "native" }, async (comm) => {
    const a = comm.rank === 0 ? new Int32Array([11, 12]) : new Int32Array(2);
    const b = comm.rank === 0 ? new Int32Array([21, 22]) : new Int32Array(2);
    const req = await comm.ibcast(a, 0);
    await comm.bcast(b, 0);
    const got: number[] = [];
    for (const tag of [32, 33, 64, 2]) {
      const next = (comm.rank + 1) % comm.size, prev = (comm.rank + 2) % comm.size;
      const into = new Int32Array(1);
      const r = await comm.irecv(into, prev, tag);
      await comm.send(new Int32Array([100 * comm.rank + tag]), next, tag);
      await comm.wait(r);
      got.push(into[0]);
    }
    await comm.wait(req);
    const c = new Int32Array([comm.rank]);
    const req2 = await comm.iallreduce(mpi.IN_PLACE, c, "SUM");
    await comm.allreduce(mpi.IN_PLACE, got.length ? new Int32Array(1) : c, "SUM");
    await comm.wait(req2);
    return { a: [...a], b: [...b], got, c: c[0] };
  });
  for (const [r, res] of job.results.entries()) {
    const prev = (r + 2) % 3;
    assert.deepEqual(res, {
      a: [11, 12],
      b: [21, 22],
      got: [32, 33, 64, 2].map((t) => 100 * prev + t),
      c: 3,
    });
  }
});

Deno.test("mpi nbc: argument errors are the blocking call's, returned by the call itself; cancel and free are MPI_ERR_REQUEST", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, async (world) => {
    const comm = world.setErrhandler(mpi.ERRORS_RETURN);
    const codes: string[] = [];
    const code = (x: unknown) => codes.push(x instanceof mpi.MpiError ? x.code : "ok");
    const blocking = await comm.bcast(new Int32Array(1), 5);
    const started = await comm.ibcast(new Int32Array(1), 5);
    assert.ok(blocking instanceof mpi.MpiError && started instanceof mpi.MpiError);
    assert.equal(started.message, blocking.message.replace("MPI_Bcast", "MPI_Ibcast"));
    code(started);
    code(await comm.iallreduce(new Int32Array(2), new Float64Array(2), "SUM")); // types differ
    code(await comm.iallreduce(new Float64Array(2), new Float64Array(2), "BAND")); // not on floats
    code(await comm.ialltoall(new Uint8Array(3), new Uint8Array(3))); // 3 is not 2 equal blocks
    code(await comm.igather(new Int32Array(2), null, 1)); // the root (rank 1) needs a receive buffer
    const req = await comm.ibarrier();
    assert.ok(!(req instanceof mpi.MpiError));
    code(comm.cancel(req));
    code(comm.requestFree(req));
    code(await comm.wait(req));
    // Under ERRORS_ARE_FATAL the call throws what the blocking one throws.
    await assert.rejects(
      () => world.setErrhandler(mpi.ERRORS_ARE_FATAL).ibcast(new Int32Array(1), -3),
      {
        code: "MPI_ERR_ROOT",
        message: /MPI_Ibcast on rank \d: root -3/,
      },
    );
    return codes;
  });
  assert.equal(job.results[1][4], "MPI_ERR_BUFFER");
  assert.deepEqual(job.results[0], [
    "MPI_ERR_ROOT",
    "MPI_ERR_TYPE",
    "MPI_ERR_OP",
    "MPI_ERR_COUNT",
    "ok",
    "MPI_ERR_REQUEST",
    "MPI_ERR_REQUEST",
    "ok",
  ]);
});

Deno.test("mpi nbc: a failure during the collective completes its request with the error, under the handler", async () => {
  const bad = mpi.opCreate(() => {
    throw new Error("no such sum");
  }, true);
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, async (world) => {
    const comm = world.setErrhandler(mpi.ERRORS_RETURN);
    const req = await comm.iallreduce(new Int32Array([1]), new Int32Array(1), bad);
    assert.ok(req instanceof mpi.Request);
    const st = await comm.wait(req);
    const again = await comm.wait(req); // MPI_REQUEST_NULL now
    return [st instanceof mpi.MpiError ? st.code : "ok", req.error?.code, again];
  });
  assert.deepEqual(
    job.results.map((r) => r.slice(0, 2)),
    Array(2).fill(["MPI_ERR_OTHER", "MPI_ERR_OTHER"]),
  );
  assert.deepEqual(job.results[0][2], { source: -1, tag: -1, bytes: 0, count: 0 });
});

/**
 * Four ranks start a dissemination ibarrier (two rounds: rank i sends to i+1, then to
 * i+2); rank 3 then computes 1 ms. Its second-round message (to rank 1) can only go
 * when rank 3 next runs the progress engine: at its wait after the computation, or at
 * the tests it makes in between when `tests` is set.
 */
async function barrierBehindComputation(tests: number): Promise<number[]> {
  const job = await mpi.mpiexec({ np: 4, mode: "native" }, async (comm) => {
    await comm.barrier();
    const t0 = comm.wtime();
    const req = await comm.ibarrier();
    if (comm.rank === 3) {
      for (let i = 0; i < Math.max(1, tests); i++) {
        await comm.compute({ ns: 1_000_000 / Math.max(1, tests) });
        if (tests > 0) await comm.test(req);
      }
    }
    await comm.wait(req);
    return Math.round((comm.wtime() - t0) * 1e6);
  });
  return job.results;
}

Deno.test("mpi nbc: a rank progresses only inside MPI calls: a computing rank holds back the others' rounds", async () => {
  const quiet = await barrierBehindComputation(0);
  // Ranks 0 and 2 need nothing from rank 3's second round; rank 1 does.
  assert.ok(quiet[0] < 100 && quiet[2] < 100, `${quiet}`);
  assert.ok(quiet[1] >= 1000, `rank 1 finished at ${quiet[1]} µs, before rank 3 called MPI`);
  assert.ok(quiet[3] >= 1000);
  // Tests during the computation run the progress engine: rank 1 is released at the first.
  const tested = await barrierBehindComputation(10);
  assert.ok(tested[1] >= 100 && tested[1] < 200, `${tested}`);
  assert.ok(tested[3] >= 1000);
});

Deno.test("mpi nbc: a communicator freed with a collective pending keeps its context until it completes (MPI 4.0 §6.4.3)", async () => {
  // Rank 2 computes before it joins A's iallreduce, so ranks 0 and 1 free A with theirs pending:
  // rank 0 waits for rank 1's result (recursive doubling folds rank 0 into rank 1), rank 1 for
  // rank 2. A new communicator of ranks 0 and 1 must not take A's context: its first
  // non-blocking collective has A's tags (each communicator numbers its own from 0), so its
  // messages would match A's pending receives, and A's late result B's.
  const job = await mpi.mpiexec({ np: 3, mode: "native" }, async (world) => {
    const pair = await world.split(world.rank < 2 ? 0 : mpi.UNDEFINED);
    const a = await world.dup();
    if (world.rank === 2) await world.compute({ ns: 1_000_000 });
    const sumA = new Float64Array(1);
    const reqA = await a.iallreduce(new Float64Array([[1, 2, 4][world.rank]]), sumA, "SUM");
    a.freeComm(); // MPI_Comm_free: pending operations complete normally
    if (!pair) {
      await world.wait(reqA);
      return [sumA[0]];
    }
    const b = await pair.dup();
    const sumB = new Float64Array(1);
    const reqB = await b.iallreduce(new Float64Array([[10, 20][pair.rank]]), sumB, "SUM");
    await world.waitall([reqB, reqA]);
    // Completed: A's id is free again, and the next new communicator takes it.
    const c = await pair.dup();
    return [
      sumA[0],
      sumB[0],
      b.contextId === a.contextId ? 1 : 0,
      c.contextId === a.contextId ? 1 : 0,
    ];
  });
  assert.deepEqual(job.results, [[7, 30, 0, 1], [7, 30, 0, 1], [7]]);
});

Deno.test("mpi nbc: a receive pending on a freed communicator never takes a new one's message", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, async (world) => {
    const a = await world.dup();
    const stale = new Int32Array([-1]);
    const reqA = world.rank === 0 ? await a.irecv(stale, 1, 5) : undefined; // never sent
    a.freeComm();
    const b = await world.dup();
    const got = new Int32Array(1);
    if (world.rank === 1) await b.send(new Int32Array([42]), 0, 5);
    else await b.recv(got, 1, 5);
    if (reqA) {
      world.cancel(reqA);
      assert.ok(mpi.testCancelled(await world.wait(reqA)));
    }
    return [got[0], stale[0]];
  });
  assert.deepEqual(job.results[0], [42, -1]);
});
