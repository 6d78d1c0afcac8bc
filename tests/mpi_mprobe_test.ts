/**
 * Matched probe and receive (MPI-3.1 §3.8.2–3.8.3): `mprobe`/`improbe` take
 * the message off the queue so no other receive or probe can match it,
 * `mrecv`/`imrecv` receive it once; MESSAGE_NO_PROC for PROC_NULL.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";

const { ANY_SOURCE, ANY_TAG, MESSAGE_NO_PROC, mpiexec, PROC_NULL } = mpi;

for (const mode of ["native", "bypass", "split"] as const) {
  Deno.test(`mpi mprobe (${mode}): size the buffer from the probe, then receive that message (eager and rendezvous)`, async () => {
    const job = await mpiexec({ np: 3, mode }, async (comm) => {
      if (comm.rank !== 0) {
        const n = comm.rank === 1 ? 10 : 5000; // 40 bytes eager, 40000 by rendezvous
        const v = new Float32Array(n).fill(comm.rank);
        await comm.send(v, 0, comm.rank);
        return [];
      }
      const out: number[][] = [];
      for (let i = 0; i < 2; i++) {
        const { message, status } = await comm.mprobe(ANY_SOURCE, ANY_TAG);
        const buf = comm.alloc(status.bytes / 4, "float32");
        const st = await comm.mrecv(buf, message);
        out.push([
          st.source,
          st.tag,
          st.count,
          buf.get(st.count - 1, st.count)[0],
          +message.received,
        ]);
      }
      return out.sort((a, b) => a[0] - b[0]);
    });
    assert.deepEqual(job.results[0], [[1, 1, 10, 1, 1], [2, 2, 5000, 2, 1]]);
  });
}

Deno.test("mpi mprobe: a probed message is no longer there for other receives and probes", async () => {
  const job = await mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
    if (comm.rank === 1) {
      await comm.send(new Int32Array([1]), 0, 0);
      await comm.send(new Int32Array([2]), 0, 0);
      return [];
    }
    await comm.compute({ ns: 500_000 }); // both unexpected
    const m = await comm.improbe(1, 0);
    const seen = await comm.iprobe(1, 0); // the second message now
    const v = new Int32Array(1);
    await comm.recv(v, 1, 0); // takes the second
    const second = v[0];
    const r = await comm.imrecv(v, m!.message);
    await comm.wait(r);
    return [seen?.tag, second, v[0], (await comm.iprobe(1, 0)) === undefined ? 1 : 0];
  });
  assert.deepEqual(job.results[0], [0, 2, 1, 1]);
});

Deno.test("mpi mprobe: improbe returns undefined when nothing matches; a matched synchronous send completes at the mrecv", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    if (comm.rank === 1) {
      const r = await comm.issend(new Uint8Array(4), 0, 6);
      await comm.barrier(); // rank 0 has mprobed it
      const pending = (await comm.test(r)) === undefined;
      await comm.barrier(); // rank 0 has received it
      await comm.wait(r);
      return [pending ? 1 : 0];
    }
    const nothing = await comm.improbe(1, 99);
    const { message } = await comm.mprobe(1, 6);
    await comm.barrier();
    await comm.mrecv(new Uint8Array(4), message);
    await comm.barrier();
    return [nothing === undefined ? 1 : 0];
  });
  assert.deepEqual(job.results, [[1], [1]]);
});

Deno.test("mpi mprobe: PROC_NULL gives MESSAGE_NO_PROC; receiving it is a receive from PROC_NULL; misuse is named", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const msg = (p: Promise<unknown>) => p.then(() => "no error", (e: Error) => e.message);
    const a = await comm.mprobe(PROC_NULL, 3);
    const b = await comm.improbe(PROC_NULL, ANY_TAG);
    const st = await comm.mrecv(new Uint8Array(1), MESSAGE_NO_PROC);
    const out: unknown[] = [a.message === MESSAGE_NO_PROC, b?.message === MESSAGE_NO_PROC, st];
    if (comm.rank === 0) {
      await comm.send(new Uint8Array(1), 1, 0);
      return out;
    }
    const { message } = await comm.mprobe(0, 0);
    await comm.mrecv(new Uint8Array(1), message);
    out.push(
      await msg(comm.mrecv(new Uint8Array(1), message)),
      await msg(comm.imrecv(new Uint8Array(1), {} as mpi.Message)),
      await msg(comm.mprobe(4, 0)),
      await msg(comm.improbe(0, -7)),
    );
    return out;
  });
  const nullStatus = { source: PROC_NULL, tag: ANY_TAG, bytes: 0, count: 0 };
  assert.deepEqual(job.results[0], [true, true, nullStatus]);
  assert.deepEqual(job.results[1], [
    true,
    true,
    nullStatus,
    "MPI_ERR_REQUEST: MPI_Mrecv on rank 1: the message was received already (it is MPI_MESSAGE_NULL)",
    "MPI_ERR_REQUEST: MPI_Imrecv on rank 1: not a message (give what mprobe or improbe returned)",
    "MPI_ERR_RANK: MPI_Mprobe on rank 1: source 4 outside 0..1 of MPI_COMM_WORLD",
    "MPI_ERR_TAG: MPI_Improbe on rank 1: tag -7 outside 0..1073741823",
  ]);
});

Deno.test("mpi mprobe: a message probed by another rank is refused; a short buffer is MPI_ERR_TRUNCATE", async () => {
  let kept: mpi.Message | undefined;
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    if (comm.rank === 1) {
      await comm.send(new Uint8Array(16), 0, 0);
      await comm.barrier();
      return await comm.imrecv(new Uint8Array(16), kept!).then(
        () => "no error",
        (e: Error) => e.message,
      );
    }
    const { message } = await comm.mprobe(1, 0);
    kept = message;
    await comm.barrier();
    return await comm.mrecv(new Uint8Array(8), message).then(
      () => "no error",
      (e: Error) => e.message,
    );
  });
  assert.equal(
    job.results[1],
    "MPI_ERR_REQUEST: MPI_Imrecv on rank 1: the message was probed by rank 0",
  );
  assert.match(job.results[0], /^MPI_ERR_TRUNCATE: MPI_Mrecv on rank 0: message of 16 bytes/);
});
