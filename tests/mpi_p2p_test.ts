/**
 * MPI point-to-point semantics (MPI-3.1 §3): non-overtaking order, wildcard
 * matching, unexpected messages and probes, statuses, MPI_PROC_NULL, and
 * the one-line errors for misuse (wrong rank, bad tag, truncation, use after
 * finalize, a deadlocked job).
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";

const { ANY_SOURCE, ANY_TAG, PROC_NULL, mpiexec } = mpi;

Deno.test("mpi: messages from one sender never overtake each other (eager, fast path and rendezvous mixed)", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    // Sizes cross every protocol: SEND/RECV eager, fast path, rendezvous.
    const sizes = [8, 20000, 8, 100, 70000, 1, 4000, 13000, 2];
    const msgs = Array.from({ length: 40 }, (_, i) => sizes[i % sizes.length]);
    // Warm-up: enough eager messages for the receiver to set up its fast-path ring.
    for (let i = 0; i < 40; i++) {
      if (comm.rank === 0) await comm.send(new Uint8Array(4), 1, 1);
      else await comm.recv(new Uint8Array(4), 0, 1);
    }
    await comm.barrier();
    if (comm.rank === 0) {
      const reqs = [];
      for (const [i, n] of msgs.entries()) {
        reqs.push(await comm.isend(new Uint8Array(n).fill(i + 1), 1, 5));
      }
      await comm.waitall(reqs);
      return [];
    }
    // Let everything arrive first (unexpected), then receive with wildcards.
    const before = comm.counters().unexpected;
    await comm.compute({ ns: 5_000_000 });
    const got: number[] = [];
    for (const n of msgs) {
      const b = new Uint8Array(n);
      const st = await comm.recv(b, ANY_SOURCE, ANY_TAG);
      assert.equal(st.bytes, n);
      got.push(b[0]);
    }
    got.push(comm.counters().unexpected - before);
    return got;
  });
  // They came out in order, and they had all arrived before any receive was posted
  // (the 41st entry; rank 0's MPI_Finalize barrier message may add one).
  assert.deepEqual(job.results[1].slice(0, 40), Array.from({ length: 40 }, (_, i) => i + 1));
  assert.ok(job.results[1][40] >= 40, `unexpected ${job.results[1][40]}`);
  assert.ok(
    job.counters[0].eagerRdma > 0 && job.counters[0].eagerSend > 0 && job.counters[0].rndvRput > 0,
  );
});

Deno.test("mpi: posted receives match in posting order; wildcards take the oldest match", async () => {
  const job = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
    if (comm.rank === 0) {
      // Three receives posted before anything is sent.
      const a = new Int32Array(1), b = new Int32Array(1), c = new Int32Array(1);
      const ra = await comm.irecv(a, ANY_SOURCE, 7);
      const rb = await comm.irecv(b, 2, ANY_TAG);
      const rc = await comm.irecv(c, ANY_SOURCE, ANY_TAG);
      await comm.barrier();
      const [sa, sb, sc] = await comm.waitall([ra, rb, rc]);
      return [[a[0], sa.source, sa.tag], [b[0], sb.source, sb.tag], [c[0], sc.source, sc.tag]];
    }
    await comm.barrier();
    if (comm.rank === 1) {
      await comm.send(new Int32Array([11]), 0, 7);
      await comm.send(new Int32Array([12]), 0, 8);
    } else {
      await comm.compute({ ns: 50_000 });
      await comm.send(new Int32Array([21]), 0, 9);
    }
    return [];
  });
  // (ANY, 7) takes 1's tag 7; (2, ANY) waits for rank 2; (ANY, ANY) takes 1's tag 8.
  assert.deepEqual(job.results[0], [[11, 1, 7], [21, 2, 9], [12, 1, 8]]);
});

Deno.test("mpi: probe and iprobe see unexpected messages; the status counts elements", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    if (comm.rank === 1) {
      const before = await comm.iprobe(0, 3);
      await comm.barrier();
      const st = await comm.probe(0, ANY_TAG);
      const buf = new Float64Array(st.bytes / 8);
      const got = await comm.recv(buf, st.source, st.tag);
      const big = await comm.probe(0, 4);
      const bigBuf = comm.alloc(big.bytes / 4, "float32");
      const bs = await comm.recv(bigBuf, 0, 4);
      return {
        before: before === undefined,
        probe: [st.source, st.tag, st.bytes],
        count: got.count,
        data: [...buf],
        big: [bs.bytes, bs.count, bigBuf.get(99_999, 100_000)[0]],
      };
    }
    await comm.send(new Float64Array([1.5, 2.5, 3.5]), 1, 3);
    const big = comm.alloc(100_000, "float32");
    big.fill(7);
    await comm.barrier();
    await comm.send(big, 1, 4);
    return undefined;
  });
  assert.deepEqual(job.results[1], {
    before: true,
    probe: [0, 3, 24],
    count: 3,
    data: [1.5, 2.5, 3.5],
    big: [400_000, 100_000, 7],
  });
});

Deno.test("mpi: a message that is no whole number of receive elements counts as UNDEFINED (MPI_Get_count)", async () => {
  // MPI-3.1 §3.2.5: the datatype's size does not divide the bytes received → MPI_UNDEFINED.
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    if (comm.rank === 0) {
      await comm.send(new Uint8Array(6), 1, 1); // eager
      await comm.send(comm.alloc(100_001), 1, 2); // rendezvous
      await comm.send(new Uint8Array(8), 1, 3);
      return [];
    }
    const a = await comm.recv(new Int32Array(4), 0, 1);
    const b = await comm.recv(comm.alloc(25_001, "float32"), 0, 2);
    const c = await comm.recv(new Int32Array(4), 0, 3);
    return [[a.bytes, a.count], [b.bytes, b.count], [c.bytes, c.count]];
  });
  assert.deepEqual(job.results[1], [[6, mpi.UNDEFINED], [100_001, mpi.UNDEFINED], [8, 2]]);
  assert.equal(mpi.getCount(12, "float64"), mpi.UNDEFINED);
  assert.equal(mpi.getCount(16, "float64"), 2);
});

Deno.test("mpi: PROC_NULL, self messages, sendrecv around a ring", async () => {
  const job = await mpiexec({ np: 4, mode: "native" }, async (comm) => {
    const st = await comm.recv(new Uint8Array(4), PROC_NULL, 0);
    await comm.send(new Uint8Array(4), PROC_NULL, 0);
    const self = new Int32Array(1);
    const r = await comm.irecv(self, comm.rank, 1);
    await comm.send(new Int32Array([comm.rank * 10]), comm.rank, 1);
    await comm.wait(r);
    const got = new Int32Array(1);
    const right = (comm.rank + 1) % comm.size, left = (comm.rank + comm.size - 1) % comm.size;
    await comm.sendrecv(new Int32Array([comm.rank]), right, 2, got, left, 2);
    return [st.source, st.bytes, self[0], got[0]];
  });
  assert.deepEqual(job.results, [
    [PROC_NULL, 0, 0, 3],
    [PROC_NULL, 0, 10, 0],
    [PROC_NULL, 0, 20, 1],
    [
      PROC_NULL,
      0,
      30,
      2,
    ],
  ]);
});

Deno.test("mpi: waitany and test/testall make progress and report completion", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    if (comm.rank === 0) {
      await comm.compute({ ns: 20_000 });
      await comm.send(new Int32Array([2]), 1, 2);
      await comm.send(new Int32Array([1]), 1, 1);
      return [];
    }
    const a = new Int32Array(1), b = new Int32Array(1);
    const ra = await comm.irecv(a, 0, 1), rb = await comm.irecv(b, 0, 2);
    const early = await comm.test(ra);
    const first = await comm.waitany([ra, rb]);
    const second = await comm.waitany([ra, rb]);
    const none = await comm.waitany([ra, rb]);
    const all = await comm.testall([ra, rb]);
    return [early === undefined, first.index, second.index, none.index, all?.length];
  });
  assert.deepEqual(job.results[1], [true, 1, 0, mpi.UNDEFINED, 2]);
});

Deno.test("mpi: isend/irecv started together keep their call order: a later eager send does not overtake a rendezvous one (MPI-3.1 §3.5)", async () => {
  for (const mode of ["native", "bypass", "split"] as const) {
    const job = await mpiexec({ np: 2, mode }, async (comm) => {
      if (comm.rank === 0) {
        // Both calls are made before either is awaited (one Promise.all): the
        // rendezvous send registers its buffer while the eager one could go.
        const big = comm.alloc(100_000);
        big.fill(1);
        const small = new Uint8Array(8).fill(2);
        await comm.waitall(await Promise.all([comm.isend(big, 1, 5), comm.isend(small, 1, 5)]));
        await comm.barrier();
        await comm.send(new Int32Array([3]), 1, 6);
        await comm.send(new Int32Array([4]), 1, 7);
        return [];
      }
      await comm.compute({ ns: 1_000_000 });
      const a = new Uint8Array(100_000), b = new Uint8Array(100_000);
      const sa = await comm.recv(a, 0, 5), sb = await comm.recv(b, 0, 5);
      // Receives posted together take the messages in their call order too.
      const x = new Int32Array(1), y = new Int32Array(1);
      const [rx, ry] = await Promise.all([comm.irecv(x, 0, ANY_TAG), comm.irecv(y, 0, ANY_TAG)]);
      await comm.barrier();
      await comm.waitall([rx, ry]);
      return [sa.bytes, a[0], sb.bytes, b[0], x[0], y[0]];
    });
    assert.deepEqual(job.results[1], [100_000, 1, 8, 2, 3, 4], mode);
  }
});

Deno.test("mpi: a request a completion call returned is MPI_REQUEST_NULL: the empty status, skipped by waitany (MPI-3.1 §3.7.3, §3.7.5)", async () => {
  for (const mode of ["native", "bypass", "split"] as const) {
    const job = await mpiexec({ np: 2, mode }, async (comm) => {
      if (comm.rank === 0) {
        for (const tag of [1, 2, 3]) await comm.send(new Int32Array([tag]), 1, tag);
        return [];
      }
      const empty = { source: ANY_SOURCE, tag: ANY_TAG, bytes: 0, count: 0 };
      const r1 = await comm.irecv(new Int32Array(1), 0, 1);
      const r2 = await comm.irecv(new Int32Array(1), 0, 2);
      const r3 = await comm.irecv(new Int32Array(1), 0, 3);
      const first = await comm.wait(r1);
      // Waited on: r1 is null now. Waiting or testing again returns the empty status at once.
      assert.deepEqual(await comm.wait(r1), empty);
      assert.deepEqual(await comm.test(r1), empty);
      // waitany skips it (it used to return index 0 again).
      const any = await comm.waitany([r1, r2]);
      assert.deepEqual(await comm.waitall([r1, r2, r3]), [empty, empty, { ...first, tag: 3 }]);
      // No active request left: UNDEFINED and the empty status (source ANY_SOURCE, not PROC_NULL).
      const none = await comm.waitany([r1, r2, r3]);
      assert.deepEqual(none, { index: mpi.UNDEFINED, status: empty });
      assert.deepEqual(await comm.waitany([]), { index: mpi.UNDEFINED, status: empty });
      return [first.tag, any.index, any.status.tag, r1.status?.tag];
    });
    // The request object still shows the status it completed with.
    assert.deepEqual(job.results[1], [1, 1, 2, 1], mode);
  }
});

Deno.test("mpi: a request freed while its operation is pending is MPI_REQUEST_NULL: test and testall give flag true and the empty status (MPI 4.0 §3.7.3, §3.7.5)", async () => {
  // It was flag false (undefined) until the freed operation completed.
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    if (comm.rank === 1) {
      await comm.barrier();
      for (const tag of [1, 2]) await comm.send(new Int32Array([tag]), 0, tag);
      return [];
    }
    const r = await comm.irecv(new Int32Array(1), 1, 1);
    const p = comm.recvInit(new Int32Array(1), 1, 2);
    await comm.start(p);
    comm.requestFree(r);
    comm.requestFree(p);
    const out = [await comm.test(r), await comm.test(p), await comm.testall([r, p])];
    await comm.barrier();
    return out;
  });
  const empty = { source: ANY_SOURCE, tag: ANY_TAG, bytes: 0, count: 0 };
  assert.deepEqual(job.results[0], [empty, empty, [empty, empty]]);
});

Deno.test("mpi: requestGetStatus (MPI_Request_get_status, MPI 4.0 §3.7.3) reports completion without freeing or inactivating the request", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    if (comm.rank === 1) {
      await comm.barrier();
      for (const tag of [1, 2]) await comm.send(new Int32Array([tag]), 0, tag);
      await comm.barrier();
      return [];
    }
    const r = await comm.irecv(new Int32Array(1), 1, 1);
    const p = comm.recvInit(new Int32Array(1), 1, 2);
    const idle = await comm.requestGetStatus(p); // inactive: flag true, empty status
    await comm.start(p);
    const pending = await comm.requestGetStatus(r); // flag false
    await comm.barrier();
    await comm.barrier(); // both messages are here
    const got = [await comm.requestGetStatus(r), await comm.requestGetStatus(p)];
    const again = await comm.requestGetStatus(r); // not freed: the same status again
    const kept = [p.active, await comm.wait(r), await comm.wait(p), p.active];
    const nul = await comm.requestGetStatus(r); // MPI_REQUEST_NULL now
    comm.requestFree(p);
    return [idle, pending, ...got, again, ...kept, nul];
  });
  const empty = { source: ANY_SOURCE, tag: ANY_TAG, bytes: 0, count: 0 };
  const s1 = { source: 1, tag: 1, bytes: 4, count: 1 }, s2 = { ...s1, tag: 2 };
  assert.deepEqual(job.results[0], [empty, undefined, s1, s2, s1, true, s1, s2, false, empty]);
  // A failed operation gives its error, and the request stays for the wait that frees it.
  const failed = await mpiexec({ np: 2, mode: "native" }, async (world) => {
    const comm = world.setErrhandler(mpi.ERRORS_RETURN);
    if (comm.rank === 1) return await comm.send(new Int32Array(2), 0, 0) ?? "sent";
    const r = await comm.irecv(new Int32Array(1), 1, 0) as mpi.Request;
    let st = await comm.requestGetStatus(r);
    while (st === undefined) st = await comm.requestGetStatus(r);
    const code = (x: unknown) => x instanceof mpi.MpiError ? x.code : "no error";
    return [code(st), r.returned, code(await comm.wait(r)), r.returned];
  });
  assert.deepEqual(failed.results[0], ["MPI_ERR_TRUNCATE", false, "MPI_ERR_TRUNCATE", true]);
});

Deno.test("mpi: a message longer than the receive buffer is MPI_ERR_TRUNCATE (eager and rendezvous)", async () => {
  for (const n of [100, 50_000]) {
    const e = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
      if (comm.rank === 0) await comm.send(new Uint8Array(n), 1, 9);
      else await comm.recv(new Uint8Array(64), 0, 9);
    }).then(() => undefined, (err) => err);
    assert.ok(e instanceof mpi.MpiJobError, String(e));
    assert.match(
      e.message,
      new RegExp(
        `^rank 1: MPI_ERR_TRUNCATE: MPI_Recv on rank 1: message of ${n} bytes from rank 0 \\(tag 9\\) does not fit the 64-byte receive buffer$`,
      ),
    );
    assert.equal(e.message.split("\n").length, 1);
  }
});

Deno.test("mpi: misuse gets one-line named errors", async () => {
  const cases: [string, (c: mpi.Comm) => Promise<unknown>, RegExp][] = [
    [
      "rank",
      (c) => c.send(new Uint8Array(1), 5, 0),
      /MPI_ERR_RANK: MPI_Send on rank 0: destination 5 outside 0\.\.1/,
    ],
    ["tag", (c) => c.send(new Uint8Array(1), 1, -3), /MPI_ERR_TAG: .*tag -3/],
    ["recv tag", (c) => c.recv(new Uint8Array(1), 1, mpi.TAG_UB + 1), /MPI_ERR_TAG/],
    ["buffer", (c) => c.send("x" as unknown as Uint8Array, 1, 0), /MPI_ERR_BUFFER: .*not a buffer/],
    ["root", (c) => c.bcast(new Uint8Array(1), 2), /MPI_ERR_ROOT: .*root 2/],
    ["op", (c) => c.allreduce(new Float64Array(1), new Float64Array(1), "BAND"), /MPI_ERR_OP/],
    ["type", (c) => c.allreduce(new Float64Array(1), new Int32Array(2), "SUM"), /MPI_ERR_TYPE/],
    ["count", (c) => c.allgather(new Int32Array(2), new Int32Array(3)), /MPI_ERR_COUNT/],
    [
      "algorithm",
      (c) => c.barrier({ algorithm: "tree" as never }),
      /MPI_ERR_ARG: barrier: unknown algorithm 'tree'/,
    ],
    ["work", (c) => c.compute({ flops: -1 }), /MPI_ERR_ARG: compute on rank 0: flops/],
    ["free twice", async (c) => {
      const b = c.alloc(8);
      await c.free(b);
      await c.free(b);
    }, /MPI_ERR_BUFFER: .*already freed/],
    ["freed buffer", async (c) => {
      const b = c.alloc(8);
      await c.free(b);
      await c.send(b, 1, 0);
    }, /MPI_ERR_BUFFER: .*was freed/],
    ["world", (c) => Promise.resolve(c.freeComm()), /MPI_ERR_COMM: .*cannot be freed/],
  ];
  for (const [name, call, re] of cases) {
    const e = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
      if (comm.rank === 0) await call(comm);
    }).then(() => undefined, (err) => err);
    assert.ok(e instanceof mpi.MpiJobError, `${name}: ${e}`);
    assert.match(e.message, re, name);
    assert.equal(e.message.split("\n").length, 1, name);
  }
});

Deno.test("mpi: a failing rank aborts the job; calls after finalize and on freed communicators fail", async () => {
  let kept: mpi.Comm | undefined;
  const e = await mpiexec({ np: 3, mode: "native" }, async (comm) => {
    kept = comm;
    if (comm.rank === 2) throw new TypeError("oops in the program");
    await comm.recv(new Uint8Array(1), 2, 0); // would wait forever
  }).then(() => undefined, (err) => err);
  assert.equal(e?.message, "rank 2: TypeError: oops in the program");
  const ok = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    kept = comm;
    const d = await comm.dup();
    d.freeComm();
    return await d.barrier().then(() => "no error", (err: Error) => err.message);
  });
  assert.match(
    ok.results[0],
    /MPI_ERR_COMM: MPI_Barrier on rank 0: MPI_COMM_WORLD\.dup1 was freed/,
  );
  await assert.rejects(
    () => kept!.barrier(),
    /MPI_ERR_OTHER: MPI_Barrier on rank 1 after MPI_Finalize/,
  );
});

Deno.test("mpi: a deadlocked job says what every rank waits in", async () => {
  const e = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    await comm.recv(new Uint8Array(1), 1 - comm.rank, 42);
  }).then(() => undefined, (err) => err);
  assert.ok(e instanceof mpi.MpiJobError);
  assert.match(e.message, /^MPI_ERR_OTHER: deadlock at [\d.]+ µs: every rank waits: /);
  assert.match(e.message, /rank 0 in MPI_Recv\(source 1, tag 42\)/);
  assert.match(e.message, /rank 1 in MPI_Recv\(source 0, tag 42\)/);
});

Deno.test("mpi: a loop of test() advances virtual time until the message arrives", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    if (comm.rank === 0) {
      await comm.compute({ ns: 100_000 });
      await comm.send(new Int32Array([5]), 1, 0);
      return [0, 0];
    }
    const v = new Int32Array(1);
    const r = await comm.irecv(v, 0, 0);
    const t0 = comm.wtime();
    let polls = 0;
    while (!(await comm.test(r))) polls++;
    return [polls, (comm.wtime() - t0) * 1e6, v[0]];
  });
  const [polls, us, v] = job.results[1];
  assert.equal(v, 5);
  assert.ok(us > 100 && us < 120, `${us} µs`);
  // Each empty test costs one empty CQ poll (cpu.emptyPollNs, 40 ns on this profile).
  assert.ok(polls > 2000 && polls < 3000, `${polls} polls`);
});

Deno.test("mpi: another rank's request, or no request, is MPI_ERR_REQUEST in every completion call, before anything is waited for", async () => {
  for (const mode of ["native", "bypass", "split"] as const) {
    let shared: mpi.Request | undefined;
    const job = await mpiexec({ np: 2, mode }, async (comm) => {
      const mine = await comm.irecv(new Int32Array(1), comm.rank ^ 1, 4);
      if (comm.rank === 0) shared = mine;
      await comm.barrier();
      const errs: string[] = [];
      if (comm.rank === 1) {
        const other = shared!;
        for (
          const call of [
            () => comm.test(other),
            () => comm.testall([other]),
            () => comm.waitany([mine, other]),
            () => comm.waitall([mine, other]),
            () => comm.wait({} as mpi.Request),
          ]
        ) errs.push(await call().then(() => "no error", (e: Error) => e.message));
      }
      // Nothing above consumed `mine`: it is still there to complete.
      await comm.send(new Int32Array([comm.rank]), comm.rank ^ 1, 4);
      const st = await comm.wait(mine);
      return [st.source, ...errs];
    });
    assert.deepEqual(job.results[0], [1], mode);
    assert.equal(job.results[1][0], 0, mode);
    const errs = job.results[1].slice(1) as string[];
    for (const [i, call] of ["MPI_Test", "MPI_Testall", "MPI_Waitany", "MPI_Waitall"].entries()) {
      assert.equal(
        errs[i],
        `MPI_ERR_REQUEST: ${call} on rank 1: the request belongs to rank 0`,
        mode,
      );
    }
    assert.match(
      errs[4],
      /^MPI_ERR_REQUEST: MPI_Wait on rank 1: not a request \(give what isend or irecv returned\)$/,
    );
  }
});

Deno.test("mpi: testany, waitsome and testsome: flag, indices, statuses, UNDEFINED when no request is active (MPI-3.1 §3.7.5)", async () => {
  for (const mode of ["native", "bypass", "split"] as const) {
    const job = await mpiexec({ np: 3, mode }, async (comm) => {
      if (comm.rank !== 0) {
        await comm.barrier();
        if (comm.rank === 2) await comm.compute({ ns: 20_000 });
        await comm.send(new Int32Array([comm.rank * 10 + 1]), 0, comm.rank);
        if (comm.rank === 1) {
          await comm.compute({ ns: 50_000 });
          await comm.send(new Int32Array([13]), 0, 3);
          await comm.compute({ ns: 50_000 });
          await comm.send(new Int32Array([14]), 0, 4);
        }
        return [];
      }
      const bufs = [0, 1, 2, 3].map(() => new Int32Array(1));
      const reqs = [
        await comm.irecv(bufs[0], 1, 1),
        await comm.irecv(bufs[1], 2, 2),
        await comm.irecv(bufs[2], 1, 3),
        await comm.irecv(bufs[3], 1, 4),
      ];
      const nothing = [await comm.testany(reqs), await comm.testsome(reqs)];
      await comm.barrier();
      const rounds: (number | number[])[][] = [];
      // One by testany (it may take a few tries), the others by waitsome.
      let any;
      while ((any = await comm.testany(reqs)) === undefined);
      rounds.push([any.index, any.status.tag]);
      // Away long enough for tags 2 and 3 to arrive, not 4: one waitsome returns both.
      await comm.compute({ ns: 60_000 });
      for (;;) {
        const some = await comm.waitsome(reqs);
        if (some.outcount === mpi.UNDEFINED) break;
        rounds.push([some.indices, some.statuses.map((s) => s.tag)]);
      }
      const after = [await comm.testany(reqs), await comm.testsome(reqs), await comm.waitsome([])];
      return [nothing, rounds, bufs.map((b) => b[0]), after];
    });
    const empty = { source: ANY_SOURCE, tag: ANY_TAG, bytes: 0, count: 0 };
    const none = { outcount: mpi.UNDEFINED, indices: [], statuses: [] };
    assert.deepEqual(
      job.results[0],
      [
        [undefined, { outcount: 0, indices: [], statuses: [] }],
        [[0, 1], [[1, 2], [2, 3]], [[3], [4]]],
        [11, 21, 13, 14],
        [{ index: mpi.UNDEFINED, status: empty }, none, none],
      ],
      mode,
    );
  }
});

Deno.test("mpi: waitany and testany name the request that failed (MpiError.index, as MPICH's MPIR_Waitany sets indx)", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (world) => {
    const comm = world.setErrhandler(mpi.ERRORS_RETURN);
    if (comm.rank === 1) {
      await comm.send(new Int32Array(2), 0, 5); // too long for its receive: MPI_ERR_TRUNCATE
      await comm.send(new Int32Array(2), 0, 6);
      return [];
    }
    const idle = await comm.irecv(new Int32Array(1), 1, 7) as mpi.Request; // never matched
    const a = await comm.irecv(new Int32Array(1), 1, 5) as mpi.Request;
    const e1 = await comm.waitany([idle, a]);
    const b = await comm.irecv(new Int32Array(1), 1, 6) as mpi.Request;
    let e2 = await comm.testany([idle, idle, b]);
    while (e2 === undefined) e2 = await comm.testany([idle, idle, b]);
    comm.cancel(idle);
    await comm.wait(idle);
    const named = (x: unknown) => x instanceof mpi.MpiError ? [x.code, x.index] : x;
    return [named(e1), named(e2)];
  });
  assert.deepEqual(job.results[0], [["MPI_ERR_TRUNCATE", 1], ["MPI_ERR_TRUNCATE", 2]]);
});
