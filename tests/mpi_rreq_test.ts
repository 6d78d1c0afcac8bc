/**
 * Request-based RMA (MPI-4.0 §12.3.5: `rput`, `rget`, `raccumulate`,
 * `rgetAccumulate`), `MPI_Win_test` (§12.5.2) and `MPI_Win_sync` (§12.5.4)
 * on mpi/rma.ts's windows: the requests complete locally and go through the
 * ordinary completion calls; they are valid only in passive-target epochs.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";

/** The error code a call returned (ERRORS_RETURN), or "ok". */
function code(x: unknown): string {
  return x instanceof mpi.MpiError ? x.code : "ok";
}

/** A request a call returned (an error it returned instead fails the test). */
function req(r: mpi.Request | mpi.MpiError): mpi.Request {
  if (r instanceof mpi.MpiError) throw r;
  return r;
}

Deno.test("rreq: rput and rget under a lock complete through waitall; an rget's data is in the origin buffer at its completion, before any flush", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const win = await mpi.Win.allocate(comm, 8, "float64");
    let got: number[] = [], statuses: number[] = [];
    if (comm.rank === 0) {
      await win.lock(mpi.LOCK_SHARED, 1);
      const dom = comm.alloc(4, "float64");
      dom.set([1, 2, 3, 4]);
      const reqs = [
        await win.rput(dom, 1, 0), // zero-copy from domain memory
        await win.rput(new Float64Array([5, 6]), 1, 4), // through a bounce buffer
      ].map(req);
      statuses = (await comm.waitall(reqs)).map((s) => s.source);
      assert.ok(reqs.every((r) => r.done));
      await win.flush(1); // remote completion: the data is in rank 1's window
      const back = new Float64Array(6);
      const r = req(await win.rget(back, 1, 0));
      await comm.wait(r);
      got = [...back]; // no flush, no unlock: the request's completion is enough
      await win.unlock(1);
    }
    await comm.barrier();
    const mine = [...win.memory.get()];
    await win.free();
    return { got, statuses, mine };
  });
  assert.deepEqual(job.results[0].got, [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(job.results[0].statuses, [1, 1]); // status source: the target
  assert.deepEqual(job.results[1].mine, [1, 2, 3, 4, 5, 6, 0, 0]);
});

Deno.test("rreq: an rput's completion means its RDMA WRITE has read the origin buffer: changing it afterwards does not reach the target", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const n = 16384; // 64 KiB: the WRITE takes many packets' time
    const win = await mpi.Win.allocate(comm, n, "int32");
    if (comm.rank === 0) {
      const src = comm.alloc(n, "int32");
      src.fill(7);
      await win.lock(mpi.LOCK_EXCLUSIVE, 1);
      const r = req(await win.rput(src, 1, 0));
      const early = r.done; // a WRITE of 64 KiB has not completed at the call
      await comm.wait(r);
      src.fill(-1); // the origin buffer may be reused
      await win.unlock(1);
      await comm.barrier();
      await win.free();
      return early;
    }
    await comm.barrier();
    const seen = win.memory.get();
    const all7 = seen.every((v) => v === 7);
    await win.free();
    return all7;
  });
  assert.deepEqual(job.results, [false, true]);
});

Deno.test("rreq: request-based operations outside a passive-target epoch to their target are MPI_ERR_RMA_SYNC (ERRORS_RETURN), fence and start epochs included", async () => {
  const job = await mpi.mpiexec({ np: 3, mode: "native" }, async (comm) => {
    const win = (await mpi.Win.allocate(comm, 4, "int32")).setErrhandler(mpi.ERRORS_RETURN);
    const one = () => new Int32Array(1);
    const out: string[] = [];
    if (comm.rank === 0) {
      const none = await win.rput(one(), 1, 0); // no epoch at all
      out.push(code(none));
      assert.match(
        (none as mpi.MpiError).message,
        /^MPI_ERR_RMA_SYNC: MPI_Rput on rank 0: no passive-target epoch to rank 1 is open/,
      );
      out.push(code(await win.rget(one(), 1, 0)));
      out.push(code(await win.raccumulate(one(), 1, 0, "SUM")));
      out.push(code(await win.rgetAccumulate(one(), one(), 1, 0, "SUM")));
      await win.lock(mpi.LOCK_SHARED, 2);
      out.push(code(await win.rput(one(), 1, 0))); // rank 2 is locked, rank 1 is not
      out.push(code(await win.rput(one(), 2, 0))); // rank 2: fine
      await win.unlock(2);
    }
    await win.fence();
    if (comm.rank === 0) out.push(code(await win.rput(one(), 1, 0))); // a fence epoch is active
    await win.fence(mpi.MODE.NOSUCCEED);
    if (comm.rank < 2) {
      const other = comm.getGroup().incl([1 - comm.rank]);
      await win.post(other);
      await win.start(other);
      out.push(code(await win.rget(one(), 1 - comm.rank, 0))); // a start epoch is active
      await win.complete();
      await win.wait();
    }
    await comm.barrier();
    await win.free();
    return out;
  });
  assert.deepEqual(job.results[0], [
    "MPI_ERR_RMA_SYNC",
    "MPI_ERR_RMA_SYNC",
    "MPI_ERR_RMA_SYNC",
    "MPI_ERR_RMA_SYNC",
    "MPI_ERR_RMA_SYNC",
    "ok",
    "MPI_ERR_RMA_SYNC",
    "MPI_ERR_RMA_SYNC",
  ]);
  assert.deepEqual(job.results[1], ["MPI_ERR_RMA_SYNC"]);
});

Deno.test("rreq: raccumulate SUM from every rank under lockAll; its request is complete at the call (the data left at once), the sum is there after unlockAll", async () => {
  const job = await mpi.mpiexec({ np: 4, mode: "native" }, async (comm) => {
    const win = await mpi.Win.allocate(comm, 2, "int32");
    await win.lockAll();
    const reqs = [
      req(await win.raccumulate(new Int32Array([comm.rank + 1, 10]), 0, 0, "SUM")),
      req(await win.raccumulate(new Int32Array([comm.rank]), 1, 1, "MAX")),
    ];
    const atOnce = reqs.every((r) => r.done);
    const any = await comm.testany(reqs);
    await comm.waitall(reqs);
    await win.unlockAll();
    await comm.barrier();
    const mine = [...win.memory.get()];
    await win.free();
    return { atOnce, index: any?.index, mine };
  });
  assert.deepEqual(job.results[0], { atOnce: true, index: 0, mine: [1 + 2 + 3 + 4, 40] });
  assert.deepEqual(job.results[1].mine, [0, 3]);
});

Deno.test("rreq: rgetAccumulate fetches the target's old value atomically; NO_OP only reads; a result of several packets is whole at completion", async () => {
  const job = await mpi.mpiexec({ np: 3, mode: "native" }, async (comm) => {
    const n = 5000; // 40 KB of float64: several accumulate packets
    const win = await mpi.Win.allocate(comm, n, "float64");
    if (comm.rank === 1) win.memory.set(Float64Array.from({ length: n }, (_, i) => i));
    await comm.barrier();
    await win.lockAll();
    // A ticket: everyone adds 1 to rank 1's element 0 and gets what was there.
    const ticket = new Float64Array(1);
    await comm.wait(req(await win.rgetAccumulate(new Float64Array([1]), ticket, 1, 0, "SUM")));
    await win.flushAll();
    await comm.barrier();
    // Rank 2 reads the whole window with NO_OP; the others only take part in the barriers.
    let whole: number[] = [];
    if (comm.rank === 2) {
      const old = new Float64Array(n);
      const r = req(await win.rgetAccumulate(new Float64Array(n), old, 1, 0, "NO_OP"));
      await comm.wait(r);
      whole = [old[0], old[1], old[n - 1]];
    }
    await win.unlockAll();
    await comm.barrier();
    const mine = win.memory.get(0, 2);
    await win.free();
    return { ticket: ticket[0], whole, mine: [...mine] };
  });
  assert.deepEqual(job.results.map((r) => r.ticket).sort(), [0, 1, 2]);
  assert.deepEqual(job.results[2].whole, [3, 1, 4999]);
  assert.deepEqual(job.results[1].mine, [3, 1]); // NO_OP left the target alone
});

Deno.test("rreq: win.test is false while an origin has not completed and leaves the exposure epoch open; true ends it, as wait would", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const win = (await mpi.Win.allocate(comm, 2, "int32")).setErrhandler(mpi.ERRORS_RETURN);
    const token = new Int32Array(1);
    if (comm.rank === 0) {
      const outside = code(await win.test()); // no exposure epoch
      await win.start(comm.getGroup().incl([1]));
      await win.put(new Int32Array([42]), 1, 1);
      await comm.recv(token, 1, 0); // rank 1 has tested once
      await win.complete();
      await comm.barrier();
      await win.free();
      return { outside };
    }
    await win.post(comm.getGroup().incl([0]));
    const first = await win.test();
    await comm.send(token, 0, 0);
    let tests = 1, flag: unknown = first;
    while (flag === false) {
      flag = await win.test();
      tests++;
    }
    const seen = win.memory.get(0, 2)[1];
    const after = [code(await win.test()), code(await win.wait())]; // the epoch is over
    await comm.barrier();
    await win.free();
    return { first, flag, more: tests > 1, seen, after };
  });
  assert.deepEqual(job.results[0], { outside: "MPI_ERR_RMA_SYNC" });
  assert.deepEqual(job.results[1], {
    first: false,
    flag: true,
    more: true,
    seen: 42,
    after: ["MPI_ERR_RMA_SYNC", "MPI_ERR_RMA_SYNC"],
  });
});

Deno.test("rreq: win.sync inside a lock moves no data, sends nothing and takes no time; outside a passive-target epoch it is MPI_ERR_RMA_SYNC", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const win = (await mpi.Win.allocate(comm, 2, "int32")).setErrhandler(mpi.ERRORS_RETURN);
    const out: unknown[] = [code(await win.sync())];
    await win.fence();
    out.push(code(await win.sync())); // a fence epoch is no passive-target epoch
    await win.fence(mpi.MODE.NOSUCCEED);
    if (comm.rank === 0) {
      await win.lock(mpi.LOCK_EXCLUSIVE, 1);
      const r = req(await win.rput(new Int32Array([5]), 1, 0));
      const before = [comm.wtime(), comm.counters().packets, comm.counters().rdmaWrites];
      out.push(code(await win.sync()));
      const after = [comm.wtime(), comm.counters().packets, comm.counters().rdmaWrites];
      out.push(after.every((v, i) => v === before[i]), r.done); // sync completed nothing
      await comm.wait(r);
      await win.unlock(1);
      await win.lockAll();
      out.push(code(await win.sync()));
      await win.unlockAll();
    }
    await comm.barrier();
    await win.free();
    return out;
  });
  const [outside, inFence, inLock, nothingMoved, rputDone, inLockAll] = job.results[0];
  assert.deepEqual([outside, inFence], ["MPI_ERR_RMA_SYNC", "MPI_ERR_RMA_SYNC"]);
  assert.deepEqual([inLock, inLockAll, nothingMoved, rputDone], ["ok", "ok", true, false]);
  assert.deepEqual(job.results[1], ["MPI_ERR_RMA_SYNC", "MPI_ERR_RMA_SYNC"]);
});

Deno.test("rreq: PROC_NULL targets complete at once, even outside an epoch; bad arguments have their classes and name the argument; an RMA request cannot be cancelled", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const win = (await mpi.Win.allocate(comm, 4, "int32")).setErrhandler(mpi.ERRORS_RETURN);
    const one = () => new Int32Array(1);
    const nulls = [
      await win.rput(one(), mpi.PROC_NULL),
      await win.rget(one(), mpi.PROC_NULL, 0),
      await win.raccumulate(one(), mpi.PROC_NULL, 0, "SUM"),
      await win.rgetAccumulate(one(), one(), mpi.PROC_NULL, 0, "SUM"),
    ].map(req);
    const nullDone = nulls.every((r) => r.done && r.status?.source === mpi.PROC_NULL);
    const waited = (await comm.waitall(nulls)).map((s) => s.source);
    await win.lock(mpi.LOCK_SHARED, 1 - comm.rank);
    const t = 1 - comm.rank;
    const errs = [
      await win.rput(one(), 2, 0),
      await win.rget(one(), t, -1),
      await win.rput(new Int32Array(2), t, 3),
      await win.rput(42 as unknown as Int32Array, t, 0),
      await win.raccumulate(one(), t, 0, "NO_OP"),
      await win.rgetAccumulate(one(), new Float32Array(1), t, 0, "SUM"),
    ].map((e) => (e instanceof mpi.MpiError ? e.message : "ok"));
    const r = req(await win.rput(one(), t, 0));
    const cancel = comm.setErrhandler(mpi.ERRORS_RETURN).cancel(r);
    await comm.wait(r);
    await win.unlock(t);
    await win.free();
    const freed = code(await win.rput(one(), t, 0));
    return { nullDone, waited, errs, cancel: cancel && cancel.message, freed };
  });
  const r = job.results[0];
  assert.equal(r.nullDone, true);
  assert.deepEqual(r.waited, [mpi.PROC_NULL, mpi.PROC_NULL, mpi.PROC_NULL, mpi.PROC_NULL]);
  const expect = [
    /^MPI_ERR_RANK: MPI_Rput on rank 0: target 2 outside 0\.\.1/,
    /^MPI_ERR_DISP: MPI_Rget on rank 0: target displacement -1/,
    /^MPI_ERR_RMA_RANGE: MPI_Rput on rank 0: 8 bytes at displacement 3/,
    /^MPI_ERR_BUFFER: MPI_Rput on rank 0: /,
    /^MPI_ERR_OP: MPI_Raccumulate on rank 0: NO_OP/,
    /^MPI_ERR_TYPE: MPI_Rget_accumulate on rank 0: the result buffer is float32/,
  ];
  r.errs.forEach((m, i) => {
    assert.ok(!m.includes("\n"), "one line");
    assert.match(m, expect[i]);
  });
  assert.match(String(r.cancel), /^MPI_ERR_REQUEST: MPI_Cancel on rank 0: .*MPI_Rput/);
  assert.equal(r.freed, "MPI_ERR_WIN");
});
