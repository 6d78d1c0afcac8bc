/**
 * The MPI progress engine polls only inside MPI calls (MVAPICH's progresses
 * when the application calls MPI): while a rank computes, nothing polls its
 * CQ, so a split guest's dom0 serves no POLL_CQ requests for it; what
 * completed meanwhile is taken at once when the rank is back, and results
 * and message order are those of a program that never computed.
 */
import assert from "node:assert/strict";
import { launch } from "../mpi/launch.ts";
import { runJob } from "../mpi/job.ts";

const MODES = ["native", "bypass", "split"] as const;

Deno.test("mpi progress: no CQ polling while ranks compute; what completed meanwhile is taken back", async () => {
  for (const mode of MODES) {
    const l = await launch({ np: 2, mode, hosts: 2, guestMemoryMiB: 128 });
    const polls = () =>
      l.hosts.reduce((n, h) => n + (h.counters().byKind.backendRequests.POLL_CQ ?? 0), 0);
    const job = await runJob(l.cluster, l.domains, async (comm) => {
      const peer = 1 - comm.rank;
      const out = comm.alloc(64, "int32"), got = comm.alloc(64, "int32");
      await comm.barrier();
      const before = polls();
      // Messages in flight while both compute: sent before, arriving during the computation.
      const reqs = [];
      for (let i = 0; i < 8; i++) {
        out.set(new Array(64).fill(100 * comm.rank + i));
        reqs.push(await comm.isend(out, peer, i));
      }
      await comm.compute({ ns: 10_000_000 });
      const during = polls() - before;
      const order: number[] = [];
      for (let i = 0; i < 8; i++) {
        await comm.recv(got, peer, i);
        order.push(got.get(0, 1)[0]);
      }
      await comm.waitall(reqs);
      await comm.barrier();
      return { during, order };
    });
    for (const [rank, r] of job.results.entries()) {
      const peer = 1 - rank;
      assert.deepEqual(r.order, [0, 1, 2, 3, 4, 5, 6, 7].map((i) => 100 * peer + i), mode);
      if (mode === "split") {
        // At most the requests already on their way when the computation began, and the one
        // poll each rank makes when it is back: nothing like one per poll period of 10 ms.
        assert.ok(r.during <= 4, `${mode}: ${r.during} POLL_CQ requests during 10 ms of compute`);
      } else assert.equal(r.during, 0, mode);
    }
  }
});
