/**
 * Synchronous sends (MPI-3.1 §3.4): `ssend`/`issend` complete only once a
 * receive has matched the message: an eager one waits for the receiver's
 * SYNC_ACK, a rendezvous one for the rendezvous itself, one to oneself for
 * the local receive. Run in native, bypass and split.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";

const { mpiexec, PROC_NULL } = mpi;
const MODES = ["native", "bypass", "split"] as const;

/** Rank 1 computes `delayNs` before posting its receive; rank 0 sends `bytes` with `how`. */
async function race(
  mode: (typeof MODES)[number],
  how: "send" | "ssend",
  bytes: number,
): Promise<{ sentAt: number; postedAt: number; ok: boolean }> {
  const job = await mpiexec({ np: 2, mode }, async (comm) => {
    await comm.barrier();
    if (comm.rank === 0) {
      const buf = comm.alloc(bytes);
      buf.fill(7);
      await comm[how](buf, 1, 3);
      return { at: comm.wtime(), ok: true };
    }
    await comm.compute({ ns: 1_000_000 });
    const at = comm.wtime();
    const got = new Uint8Array(bytes);
    const st = await comm.recv(got, 0, 3);
    return { at, ok: st.bytes === bytes && got.every((b) => b === 7) };
  });
  return { sentAt: job.results[0].at, postedAt: job.results[1].at, ok: job.results[1].ok };
}

for (const mode of MODES) {
  Deno.test(`mpi ssend (${mode}): an eager ssend returns only after the receive is posted; send returns at once`, async () => {
    const s = await race(mode, "ssend", 64);
    assert.ok(s.ok);
    assert.ok(s.sentAt > s.postedAt, `ssend done at ${s.sentAt}, receive posted at ${s.postedAt}`);
    const e = await race(mode, "send", 64);
    assert.ok(e.ok);
    assert.ok(e.sentAt < e.postedAt, `send done at ${e.sentAt}, receive posted at ${e.postedAt}`);
  });
}

Deno.test("mpi ssend (bypass): a rendezvous ssend also waits for the receive, and moves the data", async () => {
  const s = await race("bypass", "ssend", 100_000);
  assert.ok(s.ok);
  assert.ok(s.sentAt > s.postedAt);
});

Deno.test("mpi ssend (bypass): issend over the RDMA fast path is acknowledged; test sees it pending until then", async () => {
  const job = await mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
    // Enough eager messages for rank 1 to give rank 0 a fast-path ring (its offer is
    // taken in the barrier).
    for (let i = 0; i < 40; i++) {
      if (comm.rank === 0) await comm.send(new Uint8Array(8), 1, 1);
      else await comm.recv(new Uint8Array(8), 0, 1);
    }
    await comm.barrier();
    const before = comm.counters().eagerRdma;
    if (comm.rank === 0) {
      const r = await comm.issend(new Int32Array([42]), 1, 2);
      const early: boolean[] = [];
      for (let i = 0; i < 5; i++) early.push((await comm.test(r)) !== undefined);
      const st = await comm.wait(r);
      return { early, st, rdma: comm.counters().eagerRdma - before };
    }
    await comm.compute({ ns: 200_000 });
    const v = new Int32Array(1);
    await comm.recv(v, 0, 2);
    return { v: v[0] };
  });
  const r0 = job.results[0] as { early: boolean[]; st: mpi.Status; rdma: number };
  assert.deepEqual(r0.early, [false, false, false, false, false]);
  assert.equal(r0.st.count, 0);
  assert.equal(r0.rdma, 1, "the EAGER_SYNC went by the fast path");
  assert.deepEqual(job.results[1], { v: 42 });
});

Deno.test("mpi ssend: to oneself, it completes when the receive matches; to PROC_NULL at once", async () => {
  const job = await mpiexec({ np: 1, mode: "native" }, async (comm) => {
    const r = await comm.issend(new Float64Array([2.5]), 0, 9);
    const before = (await comm.test(r)) !== undefined;
    const v = new Float64Array(1);
    const st = await comm.recv(v, 0, 9);
    const after = await comm.test(r);
    await comm.ssend(new Uint8Array(4), PROC_NULL, 1);
    return [before, after !== undefined, v[0], st.source];
  });
  assert.deepEqual(job.results[0], [false, true, 2.5, 0]);
});

Deno.test("mpi ssend: a message taken as unexpected is acknowledged when a later receive matches it", async () => {
  const job = await mpiexec({ np: 2, mode: "split" }, async (comm) => {
    if (comm.rank === 0) {
      const r = await comm.issend(new Uint8Array([1, 2, 3]), 1, 4);
      await comm.barrier(); // the message is at rank 1, unmatched
      const pending = (await comm.test(r)) === undefined;
      await comm.barrier(); // rank 1 received
      await comm.wait(r);
      return pending;
    }
    await comm.barrier();
    const seen = await comm.iprobe(0, 4); // probing does not acknowledge
    await comm.recv(new Uint8Array(3), 0, 4);
    await comm.barrier();
    return seen?.bytes === 3;
  });
  assert.deepEqual(job.results, [true, true]);
});

Deno.test("mpi ssend: two ranks that ssend to each other before receiving deadlock (send would not)", async () => {
  const program = (how: "send" | "ssend") => async (comm: mpi.Comm) => {
    await comm[how](new Uint8Array(8), 1 - comm.rank, 0);
    await comm.recv(new Uint8Array(8), 1 - comm.rank, 0);
  };
  await mpiexec({ np: 2, mode: "native" }, program("send"));
  const e = await mpiexec({ np: 2, mode: "native" }, program("ssend")).then(
    () => undefined,
    (err) => err,
  );
  assert.ok(e instanceof mpi.MpiJobError);
  assert.match(e.message, /deadlock .*rank 0 in MPI_Ssend\(dest 1, tag 0\)/);
});

Deno.test("mpi ssend: bad arguments are named errors", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const msg = (p: Promise<unknown>) => p.then(() => "no error", (e: Error) => e.message);
    return [
      await msg(comm.ssend(new Uint8Array(1), 5, 0)),
      await msg(comm.issend(new Uint8Array(1), 1, -4)),
    ];
  });
  assert.deepEqual(job.results[0], [
    "MPI_ERR_RANK: MPI_Ssend on rank 0: destination 5 outside 0..1 of MPI_COMM_WORLD",
    "MPI_ERR_TAG: MPI_Issend on rank 0: tag -4 outside 0..1073741823",
  ]);
});
