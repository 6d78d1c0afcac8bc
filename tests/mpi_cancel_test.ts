/**
 * MPI_Cancel (MPI-3.1 §3.8.4): a receive no message has matched is
 * cancelled (`testCancelled`); a pending send whose message no receive has
 * matched is taken back (CANCEL_SEND_REQ/RESP); matched operations and
 * eager standard sends complete normally; persistent requests stay usable;
 * misuse is MPI_ERR_REQUEST.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";

const { mpiexec, testCancelled } = mpi;

for (const mode of ["native", "bypass", "split"] as const) {
  Deno.test(`mpi cancel (${mode}): a pending receive is cancelled, its buffer untouched; the next message goes to the next receive`, async () => {
    const job = await mpiexec({ np: 2, mode }, async (comm) => {
      if (comm.rank === 1) {
        await comm.barrier();
        await comm.send(new Int32Array([77]), 0, 5);
        return [];
      }
      const a = new Int32Array([-1]), b = new Int32Array([-1]);
      const ra = await comm.irecv(a, 1, 5);
      comm.cancel(ra);
      const sa = await comm.wait(ra);
      await comm.barrier();
      const sb = await comm.recv(b, 1, 5);
      return [testCancelled(sa), a[0], testCancelled(sb), b[0], sb.source];
    });
    assert.deepEqual(job.results[0], [true, -1, false, 77, 1]);
  });
}

for (const mode of ["native", "bypass", "split"] as const) {
  Deno.test(`mpi cancel (${mode}): unmatched rendezvous and synchronous sends are taken back; the receiver never sees them`, async () => {
    const job = await mpiexec({ np: 2, mode }, async (comm) => {
      const peer = 1 - comm.rank;
      if (comm.rank === 0) {
        const big = comm.alloc(40_000);
        big.fill(1);
        const r1 = await comm.isend(big, peer, 5); // rendezvous: waits for a CTS
        const r2 = await comm.issend(new Uint8Array([2]), peer, 5); // eager, waits for its ack
        const r3 = await comm.issend(new Uint8Array([3]), 0, 5); // to itself
        await comm.barrier(); // both messages are at rank 1, unexpected
        for (const r of [r1, r2, r3]) comm.cancel(r);
        const st = await comm.waitall([r1, r2, r3]);
        const selfLeft = await comm.iprobe(0, 5);
        await comm.free(big); // no longer pinned by the send
        await comm.send(new Uint8Array([4]), peer, 5);
        await comm.barrier();
        return [...st.map(testCancelled), selfLeft === undefined];
      }
      await comm.barrier();
      await comm.barrier(); // rank 0 has cancelled
      const v = new Uint8Array(40_000);
      const st = await comm.recv(v, 0, 5);
      return [st.bytes, v[0]];
    });
    assert.deepEqual(job.results[0], [true, true, true, true]);
    // Rank 1's only message is the later one: the cancelled ones are gone.
    assert.deepEqual(job.results[1], [1, 4]);
  });
}

Deno.test("mpi cancel: a send whose message a receive matched first completes normally", async () => {
  const job = await mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
    const peer = 1 - comm.rank;
    if (comm.rank === 0) {
      const r = await comm.issend(new Uint8Array(16), peer, 1);
      await comm.barrier(); // rank 1 has received it; its ack is on the way or here
      comm.cancel(r);
      const st = await comm.wait(r);
      return [testCancelled(st)];
    }
    await comm.recv(new Uint8Array(16), 0, 1);
    await comm.barrier();
    return [];
  });
  assert.deepEqual(job.results[0], [false]);
});

Deno.test("mpi cancel: a receive that already matched (eager or rendezvous) and an eager standard send complete normally", async () => {
  const job = await mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
    const peer = 1 - comm.rank;
    if (comm.rank === 1) {
      await comm.send(new Uint8Array(8).fill(1), peer, 1);
      await comm.send(comm.alloc(50_000), peer, 2);
      await comm.recv(new Uint8Array(8), peer, 3);
      return [];
    }
    await comm.compute({ ns: 1_000_000 }); // both messages are here, unexpected
    const small = new Uint8Array(8), big = comm.alloc(50_000);
    const r1 = await comm.irecv(small, peer, 1);
    const r2 = await comm.irecv(big, peer, 2);
    comm.cancel(r1);
    comm.cancel(r2);
    const s = await comm.isend(new Uint8Array(8), peer, 3);
    comm.cancel(s);
    const [s1, s2, ss] = await comm.waitall([r1, r2, s]);
    return [testCancelled(s1), s1.bytes, small[0], testCancelled(s2), s2.bytes, testCancelled(ss)];
  });
  assert.deepEqual(job.results[0], [false, 8, 1, false, 50_000, false]);
});

Deno.test("mpi cancel: a persistent receive's operation is cancelled, the request starts again", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    if (comm.rank === 1) {
      await comm.barrier();
      await comm.send(new Int32Array([3]), 0, 0);
      return [];
    }
    const v = new Int32Array(1);
    const p = comm.recvInit(v, 1, 0);
    await comm.start(p);
    comm.cancel(p);
    const first = await comm.wait(p);
    await comm.start(p);
    await comm.barrier();
    const second = await comm.wait(p);
    comm.requestFree(p);
    return [testCancelled(first), testCancelled(second), v[0]];
  });
  assert.deepEqual(job.results[0], [true, false, 3]);
});

Deno.test("mpi cancel: a cancelled receive releases its buffer; cancelling a null request is MPI_ERR_REQUEST", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const buf = comm.alloc(64);
    const r = await comm.irecv(buf, 1 - comm.rank, 0);
    comm.cancel(r);
    comm.cancel(r); // still pending completion: allowed, no effect
    const st = await comm.wait(r);
    await comm.free(buf); // no longer in use
    const err = await Promise.resolve().then(() => comm.cancel(r)).then(
      () => "no error",
      (e: Error) => e.message,
    );
    return [testCancelled(st), err];
  });
  assert.deepEqual(job.results[0], [
    true,
    "MPI_ERR_REQUEST: MPI_Cancel on rank 0: the MPI_Irecv request is MPI_REQUEST_NULL (completed by a wait or test, or freed)",
  ]);
});

Deno.test("mpi cancel: an inactive persistent request (never started, or completed) is MPI_ERR_REQUEST", async () => {
  // MPI 4.0 §3.8.4 (cancel marks "a pending ... operation"); MPICH MPIR_Cancel_impl:
  // MPI_ERR_REQUEST "**cancelinactive". It was accepted as a no-op.
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const msg = (f: () => unknown) =>
      Promise.resolve().then(f).then(() => "no error", (e: Error) => e.message);
    if (comm.rank === 1) {
      await comm.send(new Int32Array([3]), 0, 0);
      return [];
    }
    const p = comm.recvInit(new Int32Array(1), 1, 0);
    const never = await msg(() => comm.cancel(p));
    await comm.start(p);
    await comm.wait(p);
    const completed = await msg(() => comm.cancel(p));
    const returned = comm.setErrhandler(mpi.ERRORS_RETURN).cancel(p);
    comm.requestFree(p);
    return [never, completed, returned instanceof mpi.MpiError ? returned.code : "no error"];
  });
  const inactive =
    "MPI_ERR_REQUEST: MPI_Cancel on rank 0: the MPI_Recv_init request is inactive (start it first; only an operation under way can be cancelled)";
  assert.deepEqual(job.results[0], [inactive, inactive, "MPI_ERR_REQUEST"]);
});
