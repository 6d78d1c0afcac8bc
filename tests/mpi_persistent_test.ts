/**
 * Persistent requests (MPI-3.1 §3.9): `sendInit`/`ssendInit`/`recvInit`,
 * `start`/`startall`, completion making them inactive (not null),
 * `requestFree`, and the errors for misuse.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";

const { ANY_SOURCE, ANY_TAG, mpiexec, PROC_NULL, UNDEFINED } = mpi;

for (const mode of ["native", "bypass", "split"] as const) {
  Deno.test(`mpi persistent (${mode}): a halo exchange started 5 times, eager and rendezvous, with startall and waitall`, async () => {
    const job = await mpiexec({ np: 3, mode }, async (comm) => {
      const right = (comm.rank + 1) % comm.size, left = (comm.rank + comm.size - 1) % comm.size;
      const out: number[] = [];
      for (const n of [4, 20_000]) {
        const sbuf = comm.alloc(n, "int32"), rbuf = comm.alloc(n, "int32");
        const reqs = [comm.recvInit(rbuf, left, 7), comm.sendInit(sbuf, right, 7)];
        for (let it = 0; it < 5; it++) {
          sbuf.fill(100 * comm.rank + it);
          await comm.startall(reqs);
          const [st] = await comm.waitall(reqs);
          out.push(rbuf.get(n - 1, n)[0], st.source, st.count);
        }
        for (const r of reqs) comm.requestFree(r);
      }
      return out;
    });
    const left = 2;
    const expect = (n: number) =>
      Array.from({ length: 5 }, (_, it) => [100 * left + it, left, n]).flat();
    assert.deepEqual(job.results[0], [...expect(4), ...expect(20_000)]);
    const c = job.counters[0];
    assert.ok(c.rndvRput + c.rndvRget >= 5, "the large round went by rendezvous");
  });
}

Deno.test("mpi persistent: a completed request is inactive, not null: it starts again; wait and test on it return the empty status at once", async () => {
  const job = await mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
    const v = new Int32Array(1);
    if (comm.rank === 0) {
      const s = comm.sendInit(v, 1, 3);
      const idle = await comm.wait(s); // never started: inactive
      const tested = await comm.test(s);
      const flags = [s.active, s.done];
      v[0] = 11;
      await comm.start(s);
      const started = s.active;
      await comm.wait(s);
      v[0] = 12;
      await comm.start(s);
      await comm.wait(s);
      const again = await comm.wait(s); // inactive again
      comm.requestFree(s);
      return { idle, tested, flags, started, again, after: s.active };
    }
    const got: number[] = [];
    for (let i = 0; i < 2; i++) {
      await comm.recv(v, 0, 3);
      got.push(v[0]);
    }
    return got;
  });
  const empty = { source: ANY_SOURCE, tag: ANY_TAG, bytes: 0, count: 0 };
  assert.deepEqual(job.results[0], {
    idle: empty,
    tested: empty,
    flags: [false, true],
    started: true,
    again: empty,
    after: false,
  });
  assert.deepEqual(job.results[1], [11, 12]);
});

Deno.test("mpi persistent: waitany, testany, waitsome skip inactive requests; UNDEFINED when all are inactive", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    if (comm.rank === 1) {
      await comm.send(new Uint8Array([5]), 0, 1);
      return [];
    }
    const a = comm.recvInit(new Uint8Array(1), 1, 0), b = comm.recvInit(new Uint8Array(1), 1, 1);
    const none = await comm.waitany([a, b]);
    const noneSome = await comm.testsome([a, b]);
    await comm.start(b);
    const got = await comm.waitany([a, b]);
    const after = await comm.testany([a, b]);
    return [none.index, noneSome.outcount, got.index, got.status.tag, after?.index];
  });
  assert.deepEqual(job.results[0], [UNDEFINED, UNDEFINED, 1, 1, UNDEFINED]);
});

Deno.test("mpi persistent: ssendInit is synchronous; PROC_NULL completes at once; start order keeps messages in order", async () => {
  const job = await mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
    if (comm.rank === 0) {
      const s = comm.ssendInit(new Uint8Array(16), 1, 2);
      const n = comm.recvInit(new Uint8Array(4), PROC_NULL, 0);
      await comm.start(n);
      const nst = await comm.wait(n);
      await comm.start(s);
      const early = (await comm.test(s)) !== undefined;
      await comm.barrier();
      await comm.wait(s);
      // Three starts in a row to the same destination arrive in start order.
      const big = comm.alloc(30_000), small = new Uint8Array([9]);
      big.fill(1);
      const rs = [comm.sendInit(big, 1, 4), comm.sendInit(small, 1, 4), comm.sendInit(small, 1, 4)];
      await comm.startall(rs);
      await comm.waitall(rs);
      return [nst.source, early];
    }
    await comm.barrier();
    await comm.recv(new Uint8Array(16), 0, 2);
    const sizes: number[] = [];
    for (let i = 0; i < 3; i++) sizes.push((await comm.recv(new Uint8Array(30_000), 0, 4)).bytes);
    return sizes;
  });
  assert.deepEqual(job.results[0], [PROC_NULL, false]);
  assert.deepEqual(job.results[1], [30_000, 1, 1]);
});

Deno.test("mpi persistent: misuse is MPI_ERR_REQUEST (not persistent, active, freed, twice in startall, free of a null request)", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const msg = (f: () => unknown) =>
      Promise.resolve().then(f).then(() => "no error", (e: Error) => e.message);
    const peer = 1 - comm.rank;
    const out: string[] = [];
    const r = await comm.irecv(new Uint8Array(1), peer, 0);
    out.push(await msg(() => comm.start(r)));
    const p = comm.recvInit(new Uint8Array(1), peer, 1);
    await comm.start(p);
    out.push(await msg(() => comm.start(p)));
    out.push(await msg(() => comm.startall([p, p])));
    await comm.send(new Uint8Array(1), peer, 0);
    await comm.send(new Uint8Array(1), peer, 1);
    await comm.waitall([r, p]);
    out.push(await msg(() => comm.requestFree(r)));
    comm.requestFree(p);
    out.push(await msg(() => comm.start(p)));
    out.push(await msg(() => comm.requestFree(p)));
    out.push(await msg(() => comm.sendInit(new Uint8Array(1), 9, 0)));
    out.push(await msg(() => comm.recvInit(new Uint8Array(1), 0, -3)));
    // The wait on a freed persistent request is the null request's: at once, empty.
    out.push(JSON.stringify(await comm.wait(p)));
    return out;
  });
  assert.deepEqual(job.results[0], [
    "MPI_ERR_REQUEST: MPI_Start on rank 0: MPI_Irecv's request is not persistent (make one with sendInit, ssendInit or recvInit)",
    "MPI_ERR_REQUEST: MPI_Start on rank 0: the MPI_Recv_init request is active (complete it with wait or test first)",
    "MPI_ERR_REQUEST: MPI_Startall on rank 0: the MPI_Recv_init request is active (complete it with wait or test first)",
    "MPI_ERR_REQUEST: MPI_Request_free on rank 0: the MPI_Irecv request is already MPI_REQUEST_NULL (completed by a wait or test, or freed)",
    "MPI_ERR_REQUEST: MPI_Start on rank 0: the MPI_Recv_init request was freed",
    "MPI_ERR_REQUEST: MPI_Request_free on rank 0: the MPI_Recv_init request is already MPI_REQUEST_NULL (completed by a wait or test, or freed)",
    "MPI_ERR_RANK: MPI_Send_init on rank 0: destination 9 outside 0..1 of MPI_COMM_WORLD",
    "MPI_ERR_TAG: MPI_Recv_init on rank 0: tag -3 outside 0..1073741823",
    JSON.stringify({ source: ANY_SOURCE, tag: ANY_TAG, bytes: 0, count: 0 }),
  ]);
});

Deno.test("mpi persistent: startall with the same inactive request twice is MPI_ERR_REQUEST; a freed buffer fails at start", async () => {
  const job = await mpiexec({ np: 1, mode: "native" }, async (comm) => {
    const msg = (p: Promise<unknown>) => p.then(() => "no error", (e: Error) => e.message);
    const q = comm.recvInit(new Uint8Array(1), 0, 0);
    const twice = await msg(comm.startall([q, q]));
    const buf = comm.alloc(8);
    const s = comm.sendInit(buf, 0, 0);
    await comm.free(buf);
    const freed = await msg(comm.start(s));
    return [twice, freed, s.active];
  });
  assert.equal(
    job.results[0][0],
    "MPI_ERR_REQUEST: MPI_Startall on rank 0: a request appears twice in the array",
  );
  assert.match(
    job.results[0][1] as string,
    /^MPI_ERR_BUFFER: MPI_Start\(MPI_Send_init\) on rank 0: /,
  );
  assert.equal(job.results[0][2], false);
});

Deno.test("mpi persistent: requests outlive their freed communicator: they start again, and hold its context until freed (MPI 4.1 §7.4.3)", async () => {
  // MPI_Comm_free: operations that use the communicator, "whether active or inactive", continue
  // to work (MPICH: the persistent request holds a reference). Starting one was MPI_ERR_COMM.
  const job = await mpiexec({ np: 2, mode: "native" }, async (world) => {
    const a = await world.dup();
    const v = new Int32Array(1);
    const p = world.rank === 0 ? a.sendInit(v, 1, 4) : a.recvInit(v, 0, 4);
    a.freeComm();
    const got: number[] = [];
    for (const x of [5, 6]) {
      v[0] = world.rank === 0 ? x : -1;
      await world.start(p);
      await world.wait(p);
      got.push(v[0]);
    }
    const b = await world.dup(); // a's context is still held by p
    world.requestFree(p);
    const c = await world.dup(); // released: the next new communicator takes it
    return [...got, b.contextId === a.contextId ? 1 : 0, c.contextId === a.contextId ? 1 : 0];
  });
  assert.deepEqual(job.results, [[5, 6, 0, 1], [5, 6, 0, 1]]);
});
