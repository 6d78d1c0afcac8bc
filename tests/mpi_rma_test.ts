/**
 * One-sided communication (mpi/rma.ts, MPI-3.1 chapter 11): results of put,
 * get, accumulate and the fetching calls in every mode and under every
 * synchronization; the errors; a hostile origin that cannot reach beyond a
 * window; the VMM-bypass fast path (no hypercall, no dom0 work); and
 * virtual time against ib_write_lat.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";
import { parsePerftestArgs } from "../tools/lib/perftest_args.ts";
import { runPerftest } from "../tools/lib/perftest_runner.ts";
import { PacketType } from "../mpi/wire.ts";

const MODES = ["native", "bypass", "split"] as const;

/** Put, get and accumulate between fences, origins both MpiBuffers and JS arrays. */
async function fenceProgram(comm: mpi.Comm): Promise<unknown> {
  const n = comm.size, me = comm.rank;
  const win = await mpi.Win.allocate(comm, 8, "float64");
  const next = (me + 1) % n, prev = (me + n - 1) % n;
  await win.fence();
  // A JS array into slot 0 of the next rank; domain memory into slot 1.
  await win.put(new Float64Array([me + 0.5]), next, 0);
  const src = comm.alloc(1, "float64");
  src.set([me * 100]);
  await win.put(src, next, 1);
  // Everyone adds (1, rank) into slots 2..3 of rank 0, and takes the MAX into slot 4.
  await win.accumulate(new Float64Array([1, me]), 0, 2, "SUM");
  await win.accumulate(new Float64Array([me * 7]), 0, 4, "MAX");
  await win.fence();
  // Reads after the puts' fence see them: slot 0 and 1 of the previous rank.
  const js = new Float64Array(1), dom = comm.alloc(1, "float64");
  await win.get(js, prev, 0);
  await win.get(dom, prev, 1);
  await win.fence(mpi.MODE.NOSUCCEED);
  const mine = [...win.memory.get()];
  await win.free();
  return { mine, got: [js[0], dom.get()[0]] };
}

Deno.test("rma: put, get and accumulate between fences give the same results in native, bypass and split", async () => {
  for (const mode of MODES) {
    const job = await mpi.mpiexec({ np: 3, mode }, fenceProgram);
    assert.deepEqual(job.results, [
      { mine: [2.5, 200, 3, 3, 14, 0, 0, 0], got: [1.5, 100] },
      { mine: [0.5, 0, 0, 0, 0, 0, 0, 0], got: [2.5, 200] },
      { mine: [1.5, 100, 0, 0, 0, 0, 0, 0], got: [0.5, 0] },
    ], mode);
    // Puts and gets moved by the HCA (one RDMA WRITE per remote put, one READ per get).
    assert.equal(job.counters[1].rdmaWrites, 2, mode);
    assert.equal(job.counters[1].rdmaReads, 2, mode);
  }
});

Deno.test("rma: create exposes a buffer of the program's, with its displacement unit, and a put to oneself is a copy", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
    const buf = comm.alloc(6, "int32");
    buf.fill(-1);
    const win = await mpi.Win.create(comm, buf.subarray(2), { dispUnit: 8 });
    await win.fence();
    // Displacement 1 × 8 bytes: elements 2 and 3 of the exposed 4-element view.
    await win.put(new Int32Array([comm.rank, comm.rank]), 1 - comm.rank, 1);
    await win.put(new Int32Array([9]), comm.rank, 0);
    await win.fence();
    const seen = [...buf.get()];
    assert.deepEqual(win.remote(1 - comm.rank), {
      ...win.remote(1 - comm.rank),
      bytes: 16,
      dispUnit: 8,
    });
    await win.free();
    await comm.free(buf);
    return seen;
  });
  assert.deepEqual(job.results, [[-1, -1, 9, -1, 1, 1], [-1, -1, 9, -1, 0, 0]]);
});

Deno.test("rma: exclusive locks serialize read-modify-writes; shared locks are held together; lockAll with flush", async () => {
  for (const mode of MODES) {
    const job = await mpi.mpiexec({ np: 4, mode }, async (comm) => {
      const win = await mpi.Win.allocate(comm, 4, "int32");
      await comm.barrier();
      // Each rank adds its rank + 1 to rank 0's counter three times, by get, flush, put:
      // correct only if nobody else gets in between.
      for (let i = 0; i < 3; i++) {
        await win.lock(mpi.LOCK_EXCLUSIVE, 0);
        const v = new Int32Array(1);
        await win.get(v, 0, 0);
        await win.flush(0);
        await comm.compute({ ns: 2000 }); // a slow update: others queue for the lock
        v[0] += comm.rank + 1;
        await win.put(v, 0, 0);
        await win.unlock(0);
      }
      await comm.barrier();
      // Shared: every rank holds rank 1's lock at once (they meet in a barrier inside it).
      await win.lock(mpi.LOCK_SHARED, 1);
      await comm.barrier();
      await win.accumulate(new Int32Array([1]), 1, 1, "SUM");
      await win.unlock(1);
      // lockAll: a fetch-and-add ticket from rank 2, and a compare-and-swap race on rank 3.
      await win.lockAll();
      const ticket = new Int32Array(1);
      await win.fetchAndOp(new Int32Array([1]), ticket, 2, 2, "SUM");
      await win.flush(2);
      const old = new Int32Array(1);
      await win.compareAndSwap(new Int32Array([comm.rank + 1]), new Int32Array([0]), old, 3, 3);
      await win.flushAll();
      await win.unlockAll();
      await comm.barrier();
      const mine = [...win.memory.get()];
      await win.free();
      return { mine, ticket: ticket[0], won: old[0] === 0 };
    });
    const r = job.results;
    assert.equal(r[0].mine[0], 3 * (1 + 2 + 3 + 4), mode);
    assert.equal(r[1].mine[1], 4, mode);
    assert.deepEqual(r.map((x) => x.ticket).sort(), [0, 1, 2, 3], mode);
    assert.equal(r.filter((x) => x.won).length, 1, mode);
    const winner = r.findIndex((x) => x.won);
    assert.equal(r[3].mine[3], winner + 1, mode);
  }
});

Deno.test("rma: post/start/complete/wait exchange between two ranks", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "split" }, async (comm) => {
    const win = await mpi.Win.allocate(comm, 2, "float64");
    const other = comm.getGroup().incl([1 - comm.rank]);
    for (let i = 0; i < 3; i++) {
      await win.post(other);
      await win.start(other);
      await win.put(new Float64Array([comm.rank * 10 + i]), 1 - comm.rank, i % 2);
      await win.complete();
      await win.wait();
    }
    const mine = [...win.memory.get()];
    await win.free();
    return mine;
  });
  assert.deepEqual(job.results, [[12, 11], [2, 1]]);
});

Deno.test("rma: getAccumulate and REPLACE, with results spanning several packets", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
    const n = 5000; // 40 KB of float64: more than one eager packet
    const win = await mpi.Win.allocate(comm, n, "float64");
    win.memory.set(Float64Array.from({ length: n }, (_, i) => i));
    await win.fence();
    const old = new Float64Array(n);
    if (comm.rank === 0) {
      await win.getAccumulate(new Float64Array(n).fill(1), old, 1, 0, "SUM");
    }
    await win.fence();
    if (comm.rank === 0) await win.accumulate(new Float64Array([-1, -2]), 1, n - 2, "REPLACE");
    await win.fence();
    const mine = win.memory.get();
    const out = [old[0], old[n - 1], mine[0], mine[n - 3], mine[n - 2], mine[n - 1]];
    await win.free();
    return out;
  });
  assert.deepEqual(job.results[0], [0, 4999, 0, 4997, 4998, 4999]);
  assert.deepEqual(job.results[1], [0, 0, 1, 4998, -1, -2]);
});

Deno.test("rma: NO_OP ignores the origin (MPI-4.0 §12.3.4): getAccumulate and fetchAndOp read as many elements as the result holds", async () => {
  for (const mode of ["native", "bypass"] as const) {
    const job = await mpi.mpiexec({ np: 2, mode }, async (comm) => {
      const win = await mpi.Win.allocate(comm, 3, "int32");
      win.memory.set([10 * comm.rank + 1, 10 * comm.rank + 2, 10 * comm.rank + 3]);
      await comm.barrier();
      const other = 1 - comm.rank;
      const three = new Int32Array(3), one = new Int32Array(1), self = new Int32Array(2);
      await win.lock(mpi.LOCK_SHARED, other);
      // An empty origin: its length and type are not looked at.
      await win.getAccumulate(new Int32Array(0), three, other, 0, "NO_OP");
      await win.fetchAndOp(new Float64Array(5), one, other, 2, "NO_OP");
      await win.unlock(other);
      await win.lock(mpi.LOCK_SHARED, comm.rank);
      await win.getAccumulate(new Uint8Array(0), self, comm.rank, 1, "NO_OP");
      await win.unlock(comm.rank);
      await comm.barrier();
      const mine = [...win.memory.get()];
      await win.free();
      return { three: [...three], one: one[0], self: [...self], mine };
    });
    assert.deepEqual(job.results, [
      { three: [11, 12, 13], one: 13, self: [2, 3], mine: [1, 2, 3] },
      { three: [1, 2, 3], one: 3, self: [12, 13], mine: [11, 12, 13] },
    ], mode);
  }
});

Deno.test("rma: fetchAndOp with MAXLOC and MINLOC takes one (value, index) pair, MPI_2INT's element (MPI-3.1 §11.3.4, §5.9.4)", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
    const win = await mpi.Win.allocate(comm, 4, "int32");
    win.memory.set([5, 1, 5, 1]); // two (value, index) pairs
    await comm.barrier();
    const max = new Int32Array(2), min = new Int32Array(2);
    if (comm.rank === 0) {
      await win.lock(mpi.LOCK_EXCLUSIVE, 1);
      await win.fetchAndOp(new Int32Array([9, 0]), max, 1, 0, "MAXLOC"); // 9 > 5: taken
      await win.fetchAndOp(new Int32Array([5, 0]), min, 1, 2, "MINLOC"); // a tie: the lower index
      await win.unlock(1);
    }
    await comm.barrier();
    const mine = [...win.memory.get()];
    await win.free();
    return { max: [...max], min: [...min], mine };
  });
  assert.deepEqual(job.results[0], { max: [5, 1], min: [5, 1], mine: [5, 1, 5, 1] });
  assert.deepEqual(job.results[1], { max: [0, 0], min: [0, 0], mine: [9, 0, 5, 0] });
});

Deno.test("rma: an operation of no bytes touches no memory: its displacement may lie past the window (MPICH completes it at once)", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
    const win = await mpi.Win.allocate(comm, 2, "int32");
    await win.fence();
    const other = 1 - comm.rank;
    await win.put(new Int32Array(0), other, 50);
    await win.get(comm.alloc(0, "int32"), other, 50);
    await win.accumulate(new Int32Array(0), other, 50, "SUM");
    await win.getAccumulate(new Int32Array(0), new Int32Array(0), other, 50, "SUM");
    await win.fence(mpi.MODE.NOSUCCEED);
    const mine = [...win.memory.get()];
    await win.free();
    return mine;
  });
  assert.deepEqual(job.results, [[0, 0], [0, 0]]);
});

/** Run `body` on rank 0 of a 2-rank bypass job and return the error class it throws. */
async function errorOf(
  body: (win: mpi.Win, comm: mpi.Comm) => Promise<unknown>,
  mode: "native" | "bypass" = "bypass",
): Promise<string> {
  const job = await mpi.mpiexec({ np: 2, mode }, async (comm) => {
    const win = await mpi.Win.allocate(comm, 4, "int32");
    let code = "none";
    if (comm.rank === 0) {
      try {
        await body(win, comm);
      } catch (e) {
        if (!(e instanceof mpi.MpiError)) throw e;
        assert.ok(!e.message.includes("\n"), "one line");
        code = e.message; // "CLASS: call on rank …"
      }
    }
    return code;
  });
  return job.results[0];
}

Deno.test("rma: RMA outside an epoch, unlock without lock, fence or free inside one: MPI_ERR_RMA_SYNC", async () => {
  const cases: [string, (w: mpi.Win, c: mpi.Comm) => Promise<unknown>, RegExp][] = [
    ["put before any fence", (w) => w.put(new Int32Array(1), 1, 0), /no access epoch to rank 1/],
    // MPICH checks the epoch (MPIDIG_RMA_OP_CHECK_SYNC) before anything about the target's window.
    ["put past the end before any fence", (w) => w.put(new Int32Array(2), 1, 3), /no access epoch/],
    ["accumulate past the end before any fence", (w) => {
      return w.accumulate(new Int32Array(9), 1, 0, "SUM");
    }, /no access epoch/],
    ["get after a NOSUCCEED fence", async (w) => {
      await w.lock(mpi.LOCK_SHARED, 0);
      await w.unlock(0);
      return await w.get(new Int32Array(1), 1, 0);
    }, /no access epoch/],
    ["unlock without lock", (w) => w.unlock(1), /rank 1 is not locked/],
    ["flush without lock", (w) => w.flush(1), /not locked/],
    ["flushAll without lock", (w) => w.flushAll(), /no passive-target epoch is open/],
    ["lock twice", async (w) => {
      await w.lock(mpi.LOCK_SHARED, 1);
      return await w.lock(mpi.LOCK_SHARED, 1);
    }, /locked already/],
    ["complete without start", (w) => w.complete(), /no access epoch from start/],
    ...(["lock", "lockAll"] as const).map((call): [
      string,
      (w: mpi.Win, c: mpi.Comm) => Promise<unknown>,
      RegExp,
    ] => [
      `${call} inside a start epoch`,
      async (w, c) => {
        // Rank 0 exposes its own window to itself, starts an access epoch to it, then locks.
        const me = c.getGroup().incl([0]);
        await w.post(me);
        await w.start(me);
        return await (call === "lock" ? w.lock(mpi.LOCK_SHARED, 1) : w.lockAll());
      },
      new RegExp(
        `MPI_Win_${
          call === "lock" ? "lock" : "lock_all"
        } on rank 0: the access epoch start opened is still open`,
      ),
    ]),
    ["wait without post", (w) => w.wait(), /no exposure epoch/],
    ["free with a lock held", async (w) => {
      await w.lock(mpi.LOCK_EXCLUSIVE, 1);
      return await w.free();
    }, /an epoch is open/],
  ];
  for (const [name, body, message] of cases) {
    const got = await errorOf(body);
    assert.match(got, /^MPI_ERR_RMA_SYNC: /, name);
    assert.match(got, message, name);
  }
});

Deno.test("rma: range, rank, displacement, datatype, count, operation, lock type and freed windows have their classes", async () => {
  const open = async (w: mpi.Win) => await w.lock(mpi.LOCK_SHARED, 1);
  const cases: [string, (w: mpi.Win, c: mpi.Comm) => Promise<unknown>, RegExp][] = [
    [
      "put past the end",
      async (w) => {
        await open(w);
        return await w.put(new Int32Array(2), 1, 3);
      },
      /^MPI_ERR_RMA_RANGE: MPI_Put on rank 0: 8 bytes at displacement 3 \(byte 12\) go beyond rank 1's 16-byte window$/,
    ],
    ["accumulate past the end", async (w) => {
      await open(w);
      return await w.accumulate(new Int32Array(5), 1, 0, "SUM");
    }, /^MPI_ERR_RMA_RANGE: /],
    [
      "target rank",
      async (w) => await w.put(new Int32Array(1), 2, 0),
      /^MPI_ERR_RANK: .*target 2 outside 0\.\.1/,
    ],
    ["negative displacement", async (w) => {
      await open(w);
      return await w.get(new Int32Array(1), 1, -1);
    }, /^MPI_ERR_DISP: /],
    // The displacement is the call's own argument: checked before the epoch, as MPICH does.
    [
      "negative displacement outside an epoch",
      (w) => w.put(new Int32Array(1), 1, -2),
      /^MPI_ERR_DISP: /,
    ],
    // MPICH validates the arguments before a PROC_NULL target returns early.
    ["negative displacement to PROC_NULL", (w) => {
      return w.get(new Int32Array(1), mpi.PROC_NULL, -1);
    }, /^MPI_ERR_DISP: MPI_Get on rank 0: target displacement -1/],
    ["fractional displacement to PROC_NULL", (w) => {
      return w.compareAndSwap(
        new Int32Array(1),
        new Int32Array(1),
        new Int32Array(1),
        mpi.PROC_NULL,
        0.5,
      );
    }, /^MPI_ERR_DISP: MPI_Compare_and_swap /],
    ["get_accumulate types", async (w) => {
      await open(w);
      return await w.getAccumulate(new Int32Array(1), new Float32Array(1), 1, 0, "SUM");
    }, /^MPI_ERR_TYPE: .*result buffer is float32/],
    ["fetch_and_op count", async (w) => {
      await open(w);
      return await w.fetchAndOp(new Int32Array(2), new Int32Array(2), 1, 0, "SUM");
    }, /^MPI_ERR_COUNT: .*exactly one int32 element/],
    [
      "fetch_and_op MAXLOC on one element, not a pair",
      async (w) => {
        await open(w);
        return await w.fetchAndOp(new Int32Array(1), new Int32Array(1), 1, 0, "MAXLOC");
      },
      /^MPI_ERR_COUNT: MPI_Fetch_and_op on rank 0: .*one \(value, index\) pair of int32 for MAXLOC, not 1 elements$/,
    ],
    ["fetch_and_op LAND on a double", async (w) => {
      await open(w);
      return await w.fetchAndOp(new Float64Array(1), new Float64Array(1), 1, 0, "LAND");
    }, /^MPI_ERR_OP: MPI_Fetch_and_op on rank 0: LAND applies to integer types, not float64/],
    ["compare_and_swap on floats", async (w) => {
      await open(w);
      const f = () => new Float32Array(1);
      return await w.compareAndSwap(f(), f(), f(), 1, 0);
    }, /^MPI_ERR_TYPE: /],
    ["user operation", async (w) => {
      await open(w);
      const op = mpi.opCreate(() => {}, true) as unknown as mpi.AccOp;
      return await w.accumulate(new Int32Array(1), 1, 0, op);
    }, /^MPI_ERR_OP: .*user-defined operation/],
    ["NO_OP in accumulate", async (w) => {
      await open(w);
      return await w.accumulate(new Int32Array(1), 1, 0, "NO_OP");
    }, /^MPI_ERR_OP: /],
    ["lock type", async (w) => await w.lock("LOCK_BOTH" as mpi.LockType, 1), /^MPI_ERR_LOCKTYPE: /],
    ["assert", async (w) => await w.fence(3), /^MPI_ERR_ASSERT: /],
    [
      "window memory of a JS array",
      async (_w, c) => await mpi.Win.create(c, new Int32Array(4) as unknown as mpi.MpiBuffer),
      /^MPI_ERR_BUFFER: .*MpiBuffer/,
    ],
  ];
  for (const [name, body, message] of cases) {
    assert.match(await errorOf(body), message, name);
  }
  // A freed window: MPI_ERR_WIN (both ranks free it, collectively).
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const win = await mpi.Win.allocate(comm, 4, "int32");
    await win.free();
    try {
      await win.fence();
    } catch (e) {
      return (e as mpi.MpiError).code;
    }
  });
  assert.deepEqual(job.results, ["MPI_ERR_WIN", "MPI_ERR_WIN"]);
  // Exposed memory cannot be freed while the window lives.
  const held = await mpi.mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const buf = comm.alloc(4);
    const win = await mpi.Win.create(comm, buf);
    const e = await comm.setErrhandler(mpi.ERRORS_RETURN).free(buf);
    await win.free();
    await comm.free(buf);
    return e instanceof mpi.MpiError ? e.code : "freed";
  });
  assert.deepEqual(held.results, ["MPI_ERR_BUFFER", "MPI_ERR_BUFFER"]);
});

Deno.test("rma: each synchronization call takes only its own assert bits (MPI-4.0 §12.5.5, MPICH's CHECKMASK); others are MPI_ERR_ASSERT", async () => {
  const other = (c: mpi.Comm) => c.getGroup().incl([1]);
  const refused: [string, (w: mpi.Win, c: mpi.Comm) => Promise<unknown>, RegExp][] = [
    [
      "fence NOCHECK",
      (w) => w.fence(mpi.MODE.NOCHECK),
      /^MPI_ERR_ASSERT: MPI_Win_fence on rank 0: assert 1024 is not a combination of MODE.NOSTORE, MODE.NOPUT, MODE.NOPRECEDE, MODE.NOSUCCEED/,
    ],
    [
      "lock NOPRECEDE",
      (w) => w.lock(mpi.LOCK_SHARED, 1, mpi.MODE.NOPRECEDE),
      /^MPI_ERR_ASSERT: MPI_Win_lock .*MODE.NOCHECK \(/,
    ],
    ["lockAll NOSTORE", (w) => w.lockAll(mpi.MODE.NOSTORE), /^MPI_ERR_ASSERT: MPI_Win_lock_all /],
    ["start NOPUT", (w, c) => w.start(other(c), mpi.MODE.NOPUT), /^MPI_ERR_ASSERT: MPI_Win_start /],
    [
      "post NOSUCCEED",
      (w, c) => w.post(other(c), mpi.MODE.NOSUCCEED),
      /^MPI_ERR_ASSERT: MPI_Win_post .*MODE.NOCHECK, MODE.NOSTORE, MODE.NOPUT/,
    ],
  ];
  for (const [name, body, message] of refused) {
    assert.match(await errorOf(body), message, name);
  }
  // The bits each call does take are accepted.
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const win = await mpi.Win.allocate(comm, 1, "int32");
    const peer = comm.getGroup().incl([1 - comm.rank]);
    const { NOCHECK, NOSTORE, NOPUT, NOPRECEDE, NOSUCCEED } = mpi.MODE;
    await win.fence(NOPRECEDE | NOSTORE | NOPUT);
    await win.fence(NOSUCCEED);
    await win.lock(mpi.LOCK_SHARED, 1 - comm.rank, NOCHECK);
    await win.unlock(1 - comm.rank);
    await win.lockAll(NOCHECK);
    await win.unlockAll();
    await comm.barrier();
    await win.post(peer, NOSTORE | NOPUT);
    await win.start(peer, NOCHECK);
    await win.complete();
    await win.wait();
    await win.free();
    return "ok";
  });
  assert.deepEqual(job.results, ["ok", "ok"]);
});

Deno.test("rma: an RDMA WRITE past a window, with its rkey, is refused by the HCA; the target's memory beyond is untouched", async () => {
  for (const mode of ["bypass", "native"] as const) {
    const l = await mpi.launch({ np: 2, mode, hosts: 2 });
    let beyond = 0;
    const job = mpi.runJob(l.cluster, l.domains, async (comm) => {
      // The window is the middle of a larger allocation: bytes on both sides are not in it.
      const buf = comm.alloc(3 * 4096);
      buf.fill(0x5a);
      const win = await mpi.Win.create(comm, buf.subarray(4096, 8192));
      if (comm.rank === 1) beyond = buf.addr + 8192;
      await comm.barrier();
      if (comm.rank === 0) {
        // A hostile origin skips the library's range check and posts the RDMA itself.
        const t = win.remote(1);
        const src = comm.alloc(4096 + 64);
        src.fill(0xee);
        const reg = await comm.proc.cache.acquire(src.addr, src.byteLength);
        comm.proc.ch.rdma(1, {
          read: false,
          laddr: src.addr,
          len: t.bytes + 64,
          lkey: reg.lkey,
          raddr: t.addr,
          rkey: t.rkey,
          done: () => {},
        });
        await comm.barrier(); // the channel fails on the completion error
      }
      await comm.barrier();
    });
    // The responder NAKs the first packet (its RETH asks for more than the region
    // holds), the requester's QP goes to the error state, and the job fails.
    await assert.rejects(job, /MPI_ERR_INTERN: .*completed with (REM_ACCESS_ERR|WR_FLUSH_ERR)/);
    const window = l.domains[1].memory.read(beyond - 4096, 8192);
    assert.ok(
      window.every((b) => b === 0x5a),
      `${mode}: neither the window nor what follows written`,
    );
  }
});

/** A window a creation returned (an error it returned instead fails the test). */
function ok<W>(w: W | mpi.MpiError): W {
  if (w instanceof mpi.MpiError) throw w;
  return w;
}

/**
 * Send rank 1 an accumulate packet an honest origin never sends (its own
 * check refuses first): SUM of `count` int32 at byte 12 of a window on
 * MPI_COMM_WORLD's first duplicate (context 1).
 */
function forgeAccumulate(comm: { proc: mpi.Comm["proc"] }, count: number): void {
  comm.proc.ch.send(1, {
    type: PacketType.RMA_ACC,
    fields: {
      context: 1,
      src: 0,
      tag: mpi.OPS.indexOf("SUM"),
      size: mpi.DATATYPES.indexOf("int32"),
      addr: 12,
    },
    payload: new Uint8Array(new Int32Array(count).fill(1).buffer),
  });
}

Deno.test("rma: a forged accumulate outside the window is refused by the target's CPU: nothing written", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
    const buf = comm.alloc(64, "int32");
    buf.fill(7);
    const win = await mpi.Win.create(comm, buf.subarray(0, 4)); // 16 bytes
    let code = "none";
    if (comm.rank === 0) {
      // Four int32 at byte 12 of the 16-byte window.
      forgeAccumulate(comm, 4);
      try {
        await win.lock(mpi.LOCK_SHARED, 1); // the refusal arrives before the grant
      } catch (e) {
        code = (e as mpi.MpiError).message;
      }
    }
    await comm.barrier();
    return { code, seen: [...buf.get(0, 8)] };
  });
  assert.match(
    job.results[0].code,
    /^MPI_ERR_RMA_RANGE: rank 0: rank 1 refused an accumulate outside its window$/,
  );
  assert.deepEqual(job.results[1].seen, [7, 7, 7, 7, 7, 7, 7, 7]);
});

Deno.test("rma: put and get in a Xen-IB guest post no hypercall and give dom0 no work (split: every post does)", async () => {
  for (const mode of ["bypass", "split"] as const) {
    const l = await mpi.launch({ np: 2, mode, hosts: 2 });
    const snap = () =>
      l.hosts.map((h) => {
        const c = h.counters();
        return [c.hypercalls, c.evtchnSends, c.backendRequests, c.dom0BusyNs];
      });
    let before: number[][] = [], after: number[][] = [];
    await mpi.runJob(l.cluster, l.domains, async (comm) => {
      const win = await mpi.Win.allocate(comm, 4096);
      const buf = comm.alloc(4096);
      if (comm.rank === 0) {
        await win.lock(mpi.LOCK_SHARED, 1);
        await win.put(buf, 1, 0); // registers buf once: the control path
        await win.flush(1);
        before = snap();
        for (let i = 0; i < 50; i++) {
          await win.put(buf.subarray(0, 8), 1, 0);
          await win.flush(1);
          await win.get(buf.subarray(8, 16), 1, 8);
          await win.flush(1);
        }
        after = snap();
        await win.unlock(1);
      }
      await comm.barrier();
      await win.free();
    });
    if (mode === "bypass") assert.deepEqual(after, before, "no counter of either Xen host moved");
    else assert.ok(after[0][2] - before[0][2] >= 200, "split: every put and get crossed dom0");
  }
});

Deno.test("rma: put+flush takes one RDMA WRITE round trip: about twice ib_write_lat's one-way figure", async () => {
  const perf = await runPerftest(
    parsePerftestArgs([
      "ib_write_lat",
      "-s",
      "8",
      "-n",
      "100",
      "--noise",
      "off",
      "--mode",
      "bypass",
    ]),
  );
  const oneWay = perf.lat[0].tTypical;
  const job = await mpi.mpiexec(
    { np: 2, mode: "bypass", hosts: 2 },
    async (comm) => {
      const win = await mpi.Win.allocate(comm, 8);
      const src = comm.alloc(8);
      let us = 0;
      if (comm.rank === 0) {
        await win.lock(mpi.LOCK_SHARED, 1);
        for (let i = 0; i < 110; i++) {
          const t0 = comm.wtime();
          await win.put(src, 1, 0);
          await win.flush(1);
          if (i >= 10) us += (comm.wtime() - t0) * 1e6 / 100;
        }
        await win.unlock(1);
      }
      await comm.barrier();
      await win.free();
      return us;
    },
  );
  const put = job.results[0];
  // The WRITE and its acknowledgement, plus the library's start and completion costs.
  assert.ok(
    put > 1.6 * oneWay && put < 2.4 * oneWay,
    `put+flush ${put} µs, ib_write_lat ${oneWay} µs`,
  );
});

Deno.test("rma: a target that computes delays a lock grant (no asynchronous progress), never a put under a held lock", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
    const win = await mpi.Win.allocate(comm, 8);
    let lockUs = 0, putUs = 0;
    if (comm.rank === 0) {
      // Rank 1 computes for 1 ms from the barrier on: the grant waits for it.
      await comm.barrier();
      const t0 = comm.wtime();
      await win.lock(mpi.LOCK_EXCLUSIVE, 1);
      lockUs = (comm.wtime() - t0) * 1e6;
      await win.put(new Uint8Array(8), 1, 0); // the bounce buffer's registration, now
      await win.flush(1);
      await comm.barrier();
      // Rank 1 computes again: a put and flush need only its HCA.
      const t1 = comm.wtime();
      await win.put(new Uint8Array(8), 1, 0);
      await win.flush(1);
      putUs = (comm.wtime() - t1) * 1e6;
      await win.unlock(1);
    } else {
      await comm.barrier();
      await comm.compute({ ns: 1_000_000 });
      await comm.barrier();
      await comm.compute({ ns: 1_000_000 });
    }
    await comm.barrier();
    await win.free();
    return [lockUs, putUs];
  });
  const [lockUs, putUs] = job.results[0];
  assert.ok(lockUs >= 1000, `lock granted after ${lockUs} µs`);
  assert.ok(putUs < 50, `put+flush took ${putUs} µs`);
});

Deno.test("rma: a window's error handler is ERRORS_ARE_FATAL whatever its communicator's (which creation's errors go to); ERRORS_RETURN returns the error and the program goes on", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "bypass" }, async (world) => {
    const comm = world.setErrhandler(mpi.ERRORS_RETURN);
    // Creation's errors are the communicator's (MPICH's win_create.c): returned here.
    const made = [
      await mpi.Win.allocate(comm, -1),
      await mpi.Win.create(comm, new Int32Array(4) as unknown as mpi.MpiBuffer),
    ].map((x) => x instanceof mpi.MpiError ? x.code : "no error");
    const fatal = ok(await mpi.Win.allocate(comm, 4, "int32"));
    const before = fatal.getErrhandler();
    const thrownBy = await fatal.put(new Int32Array(1), 1 - comm.rank).then(
      () => "no error",
      (e: mpi.MpiError) => e.code, // no epoch: thrown, not returned as comm's handler would
    );
    const win = fatal.setErrhandler(mpi.ERRORS_RETURN);
    const codes = (xs: unknown[]) => xs.map((x) => x instanceof mpi.MpiError ? x.code : x);
    const got = codes([
      await win.put(new Int32Array(1), 1 - comm.rank), // no epoch
      await win.unlock(1 - comm.rank), // no lock
      await win.fetchAndOp(new Int32Array([1]), new Int32Array(1), 0, 0, "SUM"), // no epoch
      win.remote(5),
    ]);
    await win.fence();
    got.push(...codes([await win.put(new Int32Array(2), 1 - comm.rank, 3)])); // beyond the window
    await win.put(new Int32Array([comm.rank + 40]), 1 - comm.rank, 0); // still works
    await win.fence();
    const mine = win.memory.get(0, 1)[0];
    await win.free();
    got.push(...codes([await win.fence()])); // freed
    return { made, before, thrownBy, after: win.getErrhandler(), got, mine };
  });
  assert.deepEqual(job.results[0], {
    made: ["MPI_ERR_SIZE", "MPI_ERR_BUFFER"],
    before: mpi.ERRORS_ARE_FATAL,
    thrownBy: "MPI_ERR_RMA_SYNC",
    after: mpi.ERRORS_RETURN,
    got: [
      "MPI_ERR_RMA_SYNC",
      "MPI_ERR_RMA_SYNC",
      "MPI_ERR_RMA_SYNC",
      "MPI_ERR_RANK",
      "MPI_ERR_RMA_RANGE",
      "MPI_ERR_WIN",
    ],
    mine: 41,
  });
});

Deno.test("rma: a window's handler function sees each error once, with the window; errors found later go to it too; creation's go to the communicator's", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, async (world) => {
    const seen: string[] = [];
    const comm = world.setErrhandler((_c, e) => seen.push(`comm: ${e.code}`));
    const buf = world.alloc(4, "int32");
    await mpi.Win.create(comm, buf, { dispUnit: 0 }); // creation: the communicator's handler
    const win = ok(await mpi.Win.create(comm, buf)).setErrhandler((w, e) =>
      seen.push(`${w.rank}: ${e.code}`)
    );
    // fetchAndOp is getAccumulate inside: its error reaches the handler once.
    const r = await win.fetchAndOp(new Int32Array([1]), new Int32Array(1), 1 - comm.rank, 0, "SUM");
    let late = "none";
    if (comm.rank === 0) {
      // A forged accumulate beyond rank 1's window: rank 1's CPU refuses it, and the refusal
      // fails rank 0's next synchronization on the window, under the window's handler.
      forgeAccumulate(comm, 2);
      const l = await win.lock(mpi.LOCK_SHARED, 1);
      late = l instanceof mpi.MpiError ? l.code : "no error";
    }
    await comm.barrier();
    return { r: r instanceof mpi.MpiError ? r.code : r, late, seen };
  });
  assert.deepEqual(job.results[0], {
    r: "MPI_ERR_RMA_SYNC",
    late: "MPI_ERR_RMA_RANGE",
    seen: ["comm: MPI_ERR_DISP", "0: MPI_ERR_RMA_SYNC", "0: MPI_ERR_RMA_RANGE"],
  });
  assert.deepEqual(job.results[1].seen, ["comm: MPI_ERR_DISP", "1: MPI_ERR_RMA_SYNC"]);
});

Deno.test("rma: callErrhandler gives an error to the window's handler: fatal throws, ERRORS_RETURN and a function return nothing", async () => {
  const job = await mpi.mpiexec({ np: 1, mode: "native" }, async (comm) => {
    const win = await mpi.Win.allocate(comm, 1);
    const e = new mpi.MpiError("MPI_ERR_OTHER", "the program's own error");
    const fatal = (() => {
      try {
        win.callErrhandler(e);
        return "returned";
      } catch (x) {
        return x === e ? "threw it" : String(x);
      }
    })();
    const ret = win.setErrhandler(mpi.ERRORS_RETURN).callErrhandler(e);
    const seen: unknown[] = [];
    const fn = win.setErrhandler((w, err) => seen.push(w === win, err.code)).callErrhandler(e);
    const bad = (() => {
      try {
        win.setErrhandler("ERRORS_IGNORE" as unknown as mpi.WinErrhandler);
      } catch (x) {
        return (x as mpi.MpiError).code;
      }
    })();
    await win.free();
    const freed = (() => {
      try {
        win.callErrhandler(e);
      } catch (x) {
        return (x as mpi.MpiError).code;
      }
    })();
    return { fatal, ret, fn, seen, bad, freed };
  });
  assert.deepEqual(job.results[0], {
    fatal: "threw it",
    ret: undefined,
    fn: undefined,
    seen: [true, "MPI_ERR_OTHER"],
    bad: "MPI_ERR_ARG",
    freed: "MPI_ERR_WIN",
  });
});

Deno.test("rma: a window on a freed communicator is MPI_ERR_COMM naming the window call", async () => {
  const job = await mpi.mpiexec({ np: 2, mode: "native" }, async (world) => {
    const c = (await world.dup() as mpi.Comm).setErrhandler(mpi.ERRORS_RETURN);
    c.freeComm();
    const a = await mpi.Win.allocate(c, 8);
    const b = await mpi.Win.create(c, world.alloc(8));
    return [
      c.freed,
      a instanceof mpi.MpiError && a.message,
      b instanceof mpi.MpiError && b.message,
    ];
  });
  assert.deepEqual(job.results[1], [
    true,
    "MPI_ERR_COMM: MPI_Win_allocate on rank 1: MPI_COMM_WORLD.dup1 was freed",
    "MPI_ERR_COMM: MPI_Win_create on rank 1: MPI_COMM_WORLD.dup1 was freed",
  ]);
});
