/**
 * Error handlers (MPI-3.1 §8.3): ERRORS_ARE_FATAL throws (the default),
 * ERRORS_RETURN returns the error from the call, a user function sees it
 * first; set per communicator and inherited by dup and split; multiple
 * completion calls report MPI_ERR_IN_STATUS; the job's end still throws.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";

const { ERRORS_ARE_FATAL, ERRORS_RETURN, MpiError, mpiexec } = mpi;

for (const mode of ["native", "bypass", "split"] as const) {
  Deno.test(`mpi errhandler (${mode}): under ERRORS_RETURN a truncated receive returns MPI_ERR_TRUNCATE and the program goes on`, async () => {
    const job = await mpiexec({ np: 2, mode }, async (world) => {
      const comm = world.setErrhandler(ERRORS_RETURN);
      const peer = 1 - comm.rank;
      if (comm.rank === 0) {
        await comm.send(new Uint8Array(64), peer, 1); // too long for rank 1's buffer
        await comm.send(new Uint8Array(20_000).fill(3), peer, 2); // rendezvous, too long
        await comm.send(new Int32Array([99]), peer, 3);
        return [];
      }
      const a = await comm.recv(new Uint8Array(8), peer, 1);
      const b = await comm.recv(new Uint8Array(100), peer, 2);
      const v = new Int32Array(1);
      const c = await comm.recv(v, peer, 3);
      // MPI-3.1 §3.2.5: the receive's status is filled though the call returns an error.
      const st = (e: unknown) =>
        e instanceof MpiError && e.status ? [e.status.source, e.status.tag, e.status.bytes] : [];
      return [
        a instanceof MpiError ? [a.code, a.errorClass, ...st(a)] : "no error",
        b instanceof MpiError ? [b.code, ...st(b)] : "no error",
        c instanceof MpiError ? c.code : [c.source, v[0]],
      ];
    });
    assert.deepEqual(job.results[1], [
      ["MPI_ERR_TRUNCATE", 14, 0, 1, 8], // source 0, tag 1, the 8 bytes that fit
      ["MPI_ERR_TRUNCATE", 0, 2, 100],
      [0, 99],
    ]);
  });
}

Deno.test("mpi errhandler: ERRORS_ARE_FATAL is the default and throws; ERRORS_RETURN returns argument errors of every kind of call", async () => {
  const job = await mpiexec({ np: 2, mode: "bypass" }, async (world) => {
    const fatal = await world.send(new Uint8Array(1), 7, 0).then(
      () => "no error",
      (e: Error) => e.message,
    );
    const before = world.getErrhandler();
    const comm = world.setErrhandler(ERRORS_RETURN);
    const codes = (xs: unknown[]) => xs.map((x) => x instanceof MpiError ? x.code : x);
    const out = codes([
      await comm.send(new Uint8Array(1), 7, 0),
      await comm.irecv(new Uint8Array(1), 0, -5),
      await comm.bcast(new Uint8Array(1), 9),
      await comm.allreduce(new Float64Array(1), new Float64Array(1), "BAND"),
      comm.alloc(-1),
      comm.cancel({} as mpi.Request),
      comm.sendInit(new Uint8Array(1), 4),
      await comm.wait({} as mpi.Request),
      await comm.compute({ flops: -1 }),
    ]);
    await comm.barrier(); // still works
    return { fatal, before, after: comm.getErrhandler(), out };
  });
  assert.deepEqual(job.results[0], {
    fatal: "MPI_ERR_RANK: MPI_Send on rank 0: destination 7 outside 0..1 of MPI_COMM_WORLD",
    before: ERRORS_ARE_FATAL,
    after: ERRORS_RETURN,
    out: [
      "MPI_ERR_RANK",
      "MPI_ERR_TAG",
      "MPI_ERR_ROOT",
      "MPI_ERR_OP",
      "MPI_ERR_ARG", // MPI_Alloc_mem(-1): MPICH's MPIR_ERRTEST_ARGNEG, Open MPI's alloc_mem.c
      "MPI_ERR_REQUEST",
      "MPI_ERR_RANK",
      "MPI_ERR_REQUEST",
      "MPI_ERR_ARG",
    ],
  });
});

Deno.test("mpi errhandler: an unknown datatype, a name every object inherits too, is MPI_ERR_TYPE naming the call and the rank", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (world) => {
    const comm = world.setErrhandler(ERRORS_RETURN);
    const out: string[] = [];
    for (const name of ["toString", "constructor", "float128"]) {
      const dt = name as mpi.Datatype;
      for (const r of [comm.alloc(4, dt), await mpi.Win.allocate(comm, 4, dt)]) {
        out.push(r instanceof MpiError ? r.message.split(" (known")[0] : "accepted");
      }
    }
    return out;
  });
  // Before, "toString" passed as a datatype of undefined size, and alloc failed with
  // MPI_ERR_NO_MEM (NaN bytes).
  assert.deepEqual(job.results[1], [
    "MPI_ERR_TYPE: MPI_Alloc_mem on rank 1: unknown datatype 'toString'",
    "MPI_ERR_TYPE: MPI_Win_allocate on rank 1: unknown datatype 'toString'",
    "MPI_ERR_TYPE: MPI_Alloc_mem on rank 1: unknown datatype 'constructor'",
    "MPI_ERR_TYPE: MPI_Win_allocate on rank 1: unknown datatype 'constructor'",
    "MPI_ERR_TYPE: MPI_Alloc_mem on rank 1: unknown datatype 'float128'",
    "MPI_ERR_TYPE: MPI_Win_allocate on rank 1: unknown datatype 'float128'",
  ]);
  assert.throws(
    () => mpi.typeSize("hasOwnProperty" as mpi.Datatype),
    /^MpiError: MPI_ERR_TYPE: unknown datatype 'hasOwnProperty'/,
  );
});

Deno.test("mpi errhandler: per communicator, inherited by dup and split, changeable on each", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (world) => {
    const ret = world.setErrhandler(ERRORS_RETURN);
    const d = await ret.dup();
    const s = await ret.split(0);
    if (d instanceof MpiError || s instanceof MpiError || s === null) throw new Error("no comm");
    const inherited = [d.getErrhandler(), s.getErrhandler()];
    const f = d.setErrhandler(ERRORS_ARE_FATAL);
    const thrown = await f.recv(new Uint8Array(1), 5).then(() => "no error", (e: Error) => e.name);
    const returned = await s.recv(new Uint8Array(1), 5);
    return [...inherited, thrown, returned instanceof MpiError ? returned.code : "no error"];
  });
  assert.deepEqual(job.results[0], [ERRORS_RETURN, ERRORS_RETURN, "MpiError", "MPI_ERR_RANK"]);
});

Deno.test("mpi errhandler: waitall, waitsome and testall under ERRORS_RETURN complete every request and report MPI_ERR_IN_STATUS", async () => {
  const job = await mpiexec({ np: 2, mode: "bypass" }, async (world) => {
    const comm = world.setErrhandler(ERRORS_RETURN);
    const peer = 1 - comm.rank;
    if (comm.rank === 0) {
      for (let i = 0; i < 7; i++) await comm.send(new Int32Array([i + 1, 0]), peer, i);
      return [];
    }
    const recv = async (n: number, tag: number) => {
      const r = await comm.irecv(new Int32Array(n), peer, tag);
      if (r instanceof MpiError) throw r;
      return r;
    };
    const a = new Int32Array(2), b = new Int32Array(1), c = new Int32Array(2);
    const reqs = [
      await comm.irecv(a, peer, 0),
      await comm.irecv(b, peer, 1), // 8 bytes into 4: truncated
      await comm.irecv(c, peer, 2),
    ].map((r) => {
      if (r instanceof MpiError) throw r;
      return r;
    });
    const e = await comm.waitall(reqs);
    if (!(e instanceof mpi.InStatusError)) return ["no error"];
    const t = [await recv(1, 3), await recv(2, 4)];
    let te = await comm.testall(t);
    while (te === undefined) te = await comm.testall(t);
    const w = [await recv(2, 5), await recv(1, 6)];
    let we = await comm.waitsome(w);
    if (!(we instanceof MpiError) && we.outcount === 1) we = await comm.waitsome(w);
    const codes = (x: unknown) =>
      x instanceof mpi.InStatusError
        ? [x.code, x.statuses.map((s) => s.error?.code ?? "ok"), x.message.split(" on ")[0]]
        : "no error";
    return [
      e.code,
      e.errorClass,
      e.statuses.map((s) => s.error?.code ?? "ok"),
      a[0],
      c[0],
      reqs.every((r) => r.done),
      codes(te),
      codes(we),
    ];
  });
  const inStatus = (
    call: string,
    ...s: string[]
  ) => ["MPI_ERR_IN_STATUS", s, `MPI_ERR_IN_STATUS: ${call}`];
  assert.deepEqual(job.results[1], [
    "MPI_ERR_IN_STATUS",
    17,
    ["ok", "MPI_ERR_TRUNCATE", "ok"],
    1,
    3,
    true,
    // The error names the call made: MPI_Testall (it said MPI_Waitall, the call testall made).
    inStatus("MPI_Testall", "MPI_ERR_TRUNCATE", "ok"),
    // The first waitsome returned the good message alone; the second, the truncated one.
    inStatus("MPI_Waitsome", "MPI_ERR_TRUNCATE"),
  ]);
  // Under ERRORS_ARE_FATAL, waitall throws the failing request's own error.
  const fatal = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    if (comm.rank === 0) {
      await comm.send(new Int32Array(2), 1, 0);
      return "";
    }
    const r = await comm.irecv(new Int32Array(1), 0, 0);
    return await comm.waitall([r]).then(() => "no error", (e: mpi.MpiError) => e.code);
  });
  assert.equal(fatal.results[1], "MPI_ERR_TRUNCATE");
});

Deno.test("mpi errhandler: a user function is called once with the communicator and the error, then the call returns it", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (world) => {
    const seen: string[] = [];
    const comm = world.setErrhandler((c, e) => {
      seen.push(`${c.name}: ${e.code}`);
    });
    const r = await comm.sendrecv(new Uint8Array(1), 3, 0, new Uint8Array(1), 1 - comm.rank, 0);
    const d = await comm.dup(); // its collective returns nothing wrong
    const t = await comm.charge(-1);
    const angry = world.setErrhandler(() => {
      throw new Error("handler says stop");
    });
    const stop = await angry.probe(9).then(() => "no error", (e: Error) => e.message);
    return [
      r instanceof MpiError ? r.code : "no error",
      d instanceof MpiError ? "error" : d.name,
      t instanceof MpiError ? t.code : "no error",
      seen,
      stop,
    ];
  });
  assert.deepEqual(job.results[0], [
    "MPI_ERR_RANK",
    "MPI_COMM_WORLD.dup1",
    "MPI_ERR_ARG",
    ["MPI_COMM_WORLD: MPI_ERR_RANK", "MPI_COMM_WORLD: MPI_ERR_ARG"],
    "handler says stop",
  ]);
});

Deno.test("mpi errhandler: the job's end (a deadlock) still throws under ERRORS_RETURN; a bad handler is MPI_ERR_ARG", async () => {
  const e = await mpiexec({ np: 2, mode: "native" }, async (world) => {
    const comm = world.setErrhandler(ERRORS_RETURN);
    const r = await comm.recv(new Uint8Array(1), 1 - comm.rank, 0);
    return r instanceof MpiError ? "returned" : "received";
  }).then(() => undefined, (err) => err);
  assert.ok(e instanceof mpi.MpiJobError);
  assert.match(e.message, /^MPI_ERR_OTHER: deadlock/);
  const job = await mpiexec({ np: 1, mode: "native" }, (comm) => {
    try {
      comm.setErrhandler("ERRORS_IGNORE" as unknown as mpi.Errhandler);
      return "no error";
    } catch (err) {
      return (err as Error).message;
    }
  });
  assert.equal(
    job.results[0],
    "MPI_ERR_ARG: MPI_Comm_set_errhandler on rank 0: ERRORS_IGNORE is not an error handler (ERRORS_ARE_FATAL, ERRORS_RETURN or a function)",
  );
});

Deno.test("mpi errhandler: callErrhandler gives an error to the communicator's handler: fatal throws, ERRORS_RETURN and a function return nothing", async () => {
  const job = await mpiexec({ np: 1, mode: "native" }, async (world) => {
    const e = new MpiError("MPI_ERR_OTHER", "the program's own error");
    /** What a call did: returned, threw `e` itself, or threw another MPI error (its code). */
    const outcome = (call: () => void) => {
      try {
        call();
        return "returned";
      } catch (x) {
        return x === e ? "threw it" : (x as mpi.MpiError).code;
      }
    };
    const fatal = outcome(() => world.callErrhandler(e));
    const ret = outcome(() => world.setErrhandler(ERRORS_RETURN).callErrhandler(e));
    const seen: unknown[] = [];
    const fn = outcome(() =>
      world.setErrhandler((c, err) => seen.push(c === world, err.code)).callErrhandler(e)
    );
    // Not an MPI error: MPI_ERR_ARG, whatever the handler (MPI 4.0 §9.5: errorcode must be one).
    const notMpi = outcome(() =>
      world.callErrhandler(new Error("plain") as unknown as mpi.MpiError)
    );
    world.setErrhandler(ERRORS_ARE_FATAL);
    const dup = await world.dup();
    dup.freeComm();
    const freed = outcome(() => dup.callErrhandler(e));
    return { fatal, ret, fn, seen, notMpi, freed };
  });
  assert.deepEqual(job.results[0], {
    fatal: "threw it",
    ret: "returned",
    fn: "returned",
    seen: [true, "MPI_ERR_OTHER"],
    notMpi: "MPI_ERR_ARG",
    freed: "MPI_ERR_COMM",
  });
});

Deno.test("mpi errhandler: a sendrecv with a bad destination posts no receive (the next message goes to the next recv)", async () => {
  // MPICH's MPI_Sendrecv checks every argument before posting its receive;
  // a receive posted before the bad destination was found took rank 1's
  // message and left the recv below waiting for ever.
  const job = await mpiexec({ np: 2, mode: "native" }, async (world) => {
    const comm = world.setErrhandler(ERRORS_RETURN);
    if (comm.rank === 1) {
      await comm.send(new Int32Array([77]), 0, 5);
      return [];
    }
    const e = await comm.sendrecv(new Int32Array(1), 99, 0, new Int32Array(1), 1, 5);
    const b = new Int32Array(1);
    const st = await comm.recv(b, 1, 5);
    return [e instanceof MpiError ? e.message : "no error", st instanceof MpiError ? -1 : b[0]];
  });
  assert.deepEqual(job.results[0], [
    "MPI_ERR_RANK: MPI_Sendrecv on rank 0: destination 99 outside 0..1 of MPI_COMM_WORLD",
    77,
  ]);
});
