/**
 * Buffered and ready sends (MPI-4.0 §3.4, §3.6, §3.7.2, §3.9): `bsend`,
 * `ibsend`, `bsendInit` copy the message into the buffer `bufferAttach`
 * gave and return; `bufferDetach` waits until every buffered message has
 * left it; `rsend`, `irsend`, `rsendInit` are standard sends (as in MPICH
 * and MVAPICH); PROC_NULL and the errors.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";
import { AttachedBuffer } from "../mpi/bsend.ts";
import { JsRegion } from "../mpi/buffer.ts";

const { BSEND_OVERHEAD, ERRORS_RETURN, mpiexec, MpiError, PROC_NULL } = mpi;

/** The error code of a call's outcome, or "ok". */
const code = (v: unknown) => v instanceof MpiError ? v.code : "ok";

Deno.test("mpi bsend: the message leaves from the buffer's copy: the user buffer is reused at once, the copy is charged", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const sizes = [64, 100_000]; // eager, rendezvous
    if (comm.rank === 0) {
      // Room for all three messages: the rendezvous one stays until rank 1 receives it.
      comm.bufferAttach(comm.alloc([...sizes, 8000].reduce((a, n) => a + n + BSEND_OVERHEAD, 0)));
      const out: number[] = [];
      for (const n of sizes) {
        const buf = new Uint8Array(n).fill(n % 251);
        await comm.bsend(buf, 1, 5);
        buf.fill(0); // reused before the receiver has even posted its receive
        out.push(comm.wtime());
      }
      // An eager bsend costs a send plus the copy into the buffer.
      const msg = new Uint8Array(8000);
      const t0 = comm.wtime();
      await comm.send(msg, 1, 6);
      const t1 = comm.wtime();
      await comm.bsend(msg, 1, 6);
      const t2 = comm.wtime();
      out.push((t2 - t1 - (t1 - t0)) * 1e9 / (8000 * comm.proc.params.copyNsPerByte));
      await comm.bufferDetach();
      return out;
    }
    await comm.compute({ ns: 1_000_000 });
    const posted = comm.wtime();
    const ok = [];
    for (const n of sizes) {
      const got = new Uint8Array(n);
      const st = await comm.recv(got, 0, 5);
      ok.push(st.bytes === n && got.every((b) => b === n % 251));
    }
    for (let i = 0; i < 2; i++) await comm.recv(new Uint8Array(8000), 0, 6);
    return [posted, ...ok];
  });
  const [eagerAt, rndvAt, copyRatio] = job.results[0] as number[];
  const [posted, ...ok] = job.results[1] as [number, boolean, boolean];
  assert.deepEqual(ok, [true, true], "the receiver got the data as it was at the bsend");
  assert.ok(eagerAt < posted && rndvAt < posted, "both bsends returned before the receive");
  // Give or take a completion one of them polled (cpu.cqePollNs, 100 ns of the copy's 4000).
  assert.ok(copyRatio > 0.95 && copyRatio < 1.05, `bsend − send = ${copyRatio} × the copy's cost`);
});

Deno.test("mpi bsend: no buffer, a full buffer, a second attach, a buffer below BSEND_OVERHEAD are MPI_ERR_BUFFER; space comes back once the data has gone", async () => {
  const big = 50_000; // rendezvous: its space is held until its data has been transferred
  const job = await mpiexec({ np: 2, mode: "native" }, async (world) => {
    const comm = world.setErrhandler(ERRORS_RETURN);
    if (comm.rank === 1) {
      await comm.barrier();
      await comm.recv(new Uint8Array(big), 0, 1);
      await comm.barrier();
      await comm.recv(new Uint8Array(big), 0, 2);
      return [];
    }
    const msgs: string[] = [];
    const note = (v: unknown) => {
      if (v instanceof MpiError) msgs.push(v.message);
      return code(v);
    };
    const out = [note(await comm.bsend(new Uint8Array(8), 1, 0))];
    out.push(note(comm.bufferAttach(new Uint8Array(BSEND_OVERHEAD - 1))));
    const space = world.alloc(big + BSEND_OVERHEAD);
    out.push(note(comm.bufferAttach(space)));
    out.push(note(comm.bufferAttach(new Uint8Array(1000))));
    out.push(note(await comm.free(space))); // attached: in use
    out.push(note(await comm.bsend(new Uint8Array(big), 1, 1)));
    out.push(note(await comm.bsend(new Uint8Array(1), 1, 1))); // the first holds it all
    await comm.barrier();
    await comm.barrier(); // rank 1 has the first message: its space is free again
    out.push(note(await comm.bsend(new Uint8Array(big), 1, 2)));
    const back = await comm.bufferDetach();
    const none = await comm.bufferDetach();
    out.push(note(await comm.free(space)));
    return [out, msgs, back === space, none === undefined];
  });
  const [out, msgs, same, none] = job.results[0] as [string[], string[], boolean, boolean];
  assert.deepEqual(out, [
    "MPI_ERR_BUFFER", // no buffer attached
    "MPI_ERR_BUFFER", // smaller than BSEND_OVERHEAD
    "ok",
    "MPI_ERR_BUFFER", // a buffer is attached already
    "MPI_ERR_BUFFER", // freeing the attached buffer
    "ok",
    "MPI_ERR_BUFFER", // no space left
    "ok",
    "ok",
  ]);
  assert.match(msgs[0], /^MPI_ERR_BUFFER: MPI_Bsend on rank 0: no buffer attached/);
  assert.match(msgs[1], /MPI_Buffer_attach on rank 0: 95 bytes, less than BSEND_OVERHEAD \(96\)/);
  assert.match(msgs[2], /MPI_Buffer_attach on rank 0: a buffer is attached already/);
  assert.match(msgs[4], /MPI_Bsend on rank 0: 97 bytes \(1 \+ BSEND_OVERHEAD\) do not fit/);
  assert.ok(same, "bufferDetach returns the attached buffer");
  assert.ok(none, "with nothing attached, bufferDetach returns undefined (MPICH: NULL, size 0)");
});

Deno.test("mpi bsend: an eager message's space is free as soon as it is sent: a buffer for one holds any number in a row", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    if (comm.rank === 0) {
      comm.bufferAttach(new Uint8Array(16 + BSEND_OVERHEAD));
      for (let i = 0; i < 10; i++) await comm.bsend(new Float64Array([i, -i]), 1, 3);
      await comm.bufferDetach();
      return [];
    }
    const got: number[] = [];
    const v = new Float64Array(2);
    for (let i = 0; i < 10; i++) {
      await comm.recv(v, 0, 3);
      got.push(v[0]);
    }
    return got;
  });
  assert.deepEqual(job.results[1], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

Deno.test("mpi bsend: bufferDetach waits until the buffered messages have left the buffer", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const n = 100_000;
    if (comm.rank === 0) {
      const space = comm.alloc(n + BSEND_OVERHEAD);
      comm.bufferAttach(space);
      await comm.bsend(new Uint8Array(n).fill(3), 1, 0);
      const sent = comm.wtime();
      const back = await comm.bufferDetach();
      return [sent, comm.wtime(), back === space];
    }
    await comm.compute({ ns: 2_000_000 });
    const posted = comm.wtime();
    const got = new Uint8Array(n);
    await comm.recv(got, 0, 0);
    return [posted, got.every((b) => b === 3)];
  });
  const [sent, detached, same] = job.results[0] as [number, number, boolean];
  const [posted, ok] = job.results[1] as [number, boolean];
  assert.ok(ok && same);
  assert.ok(sent < posted, `bsend returned at ${sent}, before the receive at ${posted}`);
  assert.ok(
    detached > posted,
    `bufferDetach returned at ${detached}, after the receive at ${posted}`,
  );
});

Deno.test("mpi bsend, rsend: ibsend, bsendInit, rsend, irsend and rsendInit deliver", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    if (comm.rank === 0) {
      comm.bufferAttach(new Uint8Array(4 * (4 + BSEND_OVERHEAD)));
      const v = new Int32Array([1]);
      const r = await comm.ibsend(v, 1, 1);
      const local = r.done; // local-complete: the data is in the buffer
      v[0] = -1;
      await comm.wait(r);
      const p = comm.bsendInit(v, 1, 2);
      for (const x of [2, 3]) {
        v[0] = x;
        await comm.start(p);
        await comm.wait(p);
      }
      comm.requestFree(p);
      await comm.barrier(); // rank 1 has posted its receives: ready sends are correct now
      v[0] = 4;
      await comm.rsend(v, 1, 3);
      const ir = await comm.irsend(new Int32Array([5]), 1, 4);
      const rp = comm.rsendInit(new Int32Array([6]), 1, 5);
      await comm.start(rp);
      await comm.waitall([ir, rp]);
      await comm.bufferDetach();
      return [local];
    }
    const got: number[] = [];
    for (const tag of [1, 2, 2]) {
      const v = new Int32Array(1);
      await comm.recv(v, 0, tag);
      got.push(v[0]);
    }
    const bufs = [3, 4, 5].map(() => new Int32Array(1));
    const reqs = await Promise.all(bufs.map((b, i) => comm.irecv(b, 0, 3 + i)));
    await comm.barrier();
    await comm.waitall(reqs);
    return [...got, ...bufs.map((b) => b[0])];
  });
  assert.deepEqual(job.results, [[true], [1, 2, 3, 4, 5, 6]]);
});

Deno.test("mpi rsend: a ready send whose receive is not posted yet is not detected: it is delivered as a standard send", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    if (comm.rank === 0) {
      await comm.rsend(new Int32Array([7]), 1, 0); // erroneous (MPI-4.0 §3.4), as MPICH ch4 sends it
      return 0;
    }
    await comm.compute({ ns: 100_000 });
    const v = new Int32Array(1);
    await comm.recv(v, 0, 0);
    return v[0];
  });
  assert.deepEqual(job.results, [0, 7]);
});

Deno.test("mpi bsend, rsend: to PROC_NULL every mode completes at once (no buffer needed); bad arguments are named", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (world) => {
    const comm = world.setErrhandler(ERRORS_RETURN);
    const b = new Uint8Array(4);
    await comm.bsend(b, PROC_NULL, 0);
    await comm.rsend(b, PROC_NULL, 0);
    const reqs = [await comm.ibsend(b, PROC_NULL, 0), await comm.irsend(b, PROC_NULL, 0)];
    const done = reqs.map((r) => r instanceof mpi.Request && r.done);
    const ps = [comm.bsendInit(b, PROC_NULL, 0), comm.rsendInit(b, PROC_NULL, 0)];
    for (const p of ps) await comm.start(p as mpi.PersistentRequest);
    const sts = await comm.waitall(ps as mpi.PersistentRequest[]);
    const msg = (v: unknown) => v instanceof MpiError ? v.message : "no error";
    return [
      done,
      (sts as mpi.Status[]).map((s) => s.source),
      msg(await comm.bsend(b, 5, 0)),
      msg(await comm.irsend(b, 1, -3)),
      msg(comm.rsendInit(b, 2, 0)),
      msg(comm.bsendInit(b, 1, -1)),
      msg(comm.bufferAttach("not a buffer" as unknown as Uint8Array)),
    ];
  });
  assert.deepEqual(job.results[0], [
    [true, true],
    [PROC_NULL, PROC_NULL],
    "MPI_ERR_RANK: MPI_Bsend on rank 0: destination 5 outside 0..1 of MPI_COMM_WORLD",
    "MPI_ERR_TAG: MPI_Irsend on rank 0: tag -3 outside 0..1073741823",
    "MPI_ERR_RANK: MPI_Rsend_init on rank 0: destination 2 outside 0..1 of MPI_COMM_WORLD",
    "MPI_ERR_TAG: MPI_Bsend_init on rank 0: tag -1 outside 0..1073741823",
    "MPI_ERR_BUFFER: MPI_Buffer_attach on rank 0: not a buffer (give an MpiBuffer from comm.alloc or a typed array)",
  ]);
});

Deno.test("mpi bsend: the buffer is the circular queue of MPI-4.0 §3.6.2: reclaimed from the oldest entry, wrapping to the start", () => {
  const space = new Uint8Array(3 * (8 + BSEND_OVERHEAD));
  const att = new AttachedBuffer(space, new JsRegion(space));
  const msg = (x: number) => new JsRegion(new Uint8Array(8).fill(x));
  const reqs: mpi.Request[] = [];
  const put = (x: number) => {
    try {
      const s = att.stage(msg(x), () => {});
      const r = new mpi.Request("send", 0, "MPI_Isend");
      s.sending(r);
      reqs[x] = r;
      return space.indexOf(x);
    } catch (e) {
      return (e as mpi.MpiError).code;
    }
  };
  const done = (x: number) => reqs[x].complete(mpi.emptyStatus(0));
  const entry = 8 + BSEND_OVERHEAD;
  assert.deepEqual([put(1), put(2), put(3), put(4)], [
    BSEND_OVERHEAD,
    entry + BSEND_OVERHEAD,
    2 * entry + BSEND_OVERHEAD,
    "MPI_ERR_BUFFER",
  ]);
  done(1);
  assert.equal(put(5), BSEND_OVERHEAD, "wraps to the start, where the oldest entry was");
  done(3); // behind the pending 2: not reclaimed yet
  assert.equal(put(6), "MPI_ERR_BUFFER");
  done(2);
  assert.equal(put(6), entry + BSEND_OVERHEAD);
  assert.equal(att.pending, 2);
});
