/**
 * One MPI program, three placements: ranks on bare-metal hosts (native), in
 * Xen-IB guests (bypass) and in split-driver guests. The results are the
 * same; the time is not (split pays dom0 on every post and poll, bypass only
 * on the control path: registrations, MPI_Init).
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";

/** Point-to-point of every protocol, collectives, computation; returns what it computed. */
async function program(comm: mpi.Comm): Promise<unknown> {
  const me = comm.rank, n = comm.size;
  const right = (me + 1) % n, left = (me + n - 1) % n;
  const out: unknown[] = [];
  for (const count of [4, 1000, 50_000]) {
    const send = comm.alloc(count, "float64");
    send.set(Float64Array.from({ length: count }, (_, i) => me * 1e6 + i));
    const recv = comm.alloc(count, "float64");
    await comm.sendrecv(send, right, count % 1000, recv, left, count % 1000);
    out.push(recv.get(count - 1)[0]);
    await comm.compute({ flops: count * 10, bytes: count * 16 });
  }
  const v = Float64Array.from({ length: 3000 }, (_, i) => (me + 1) * (i % 17));
  await comm.allreduce(mpi.IN_PLACE, v, "SUM");
  const all = new Int32Array(4 * n);
  await comm.alltoall(Int32Array.from({ length: 4 * n }, (_, i) => me * 100 + i), all);
  const sub = await comm.split(me % 2, me);
  const part = new Int32Array([me]);
  await sub!.allreduce(mpi.IN_PLACE, part, "MAX");
  out.push(v.reduce((a, b) => a + b, 0), [...all], part[0], sub!.size);
  return out;
}

Deno.test("mpi: the same program gives the same results in native, bypass and split", async () => {
  const runs: Record<string, mpi.JobResult & mpi.Launched> = {};
  for (const mode of ["native", "bypass", "split"] as const) {
    runs[mode] = await mpi.mpiexec(
      mode === "native" ? { np: 4, mode, hosts: 2 } : { np: 4, mode, hosts: 2, guestsPerHost: 2 },
      program,
    );
  }
  assert.deepEqual(runs.bypass.results, runs.native.results);
  assert.deepEqual(runs.split.results, runs.native.results);
  assert.equal(runs.native.results.length, 4);
  // Same placement on hosts: ranks 0, 1 on node0 and 2, 3 on node1 in every mode.
  for (const r of Object.values(runs)) {
    assert.deepEqual(r.placement.map((p) => p.host), ["node0", "node0", "node1", "node1"]);
  }
  const main = (m: string) => Math.max(...runs[m].mainNs);
  assert.ok(main("bypass") >= main("native"), `bypass ${main("bypass")} native ${main("native")}`);
  assert.ok(main("split") > main("bypass"), `split ${main("split")} bypass ${main("bypass")}`);
  // The bypass fast path never involves the hypervisor: hypercalls happen on the
  // control path only (MPI_Init, registrations), none on native hosts.
  for (const h of runs.native.hosts) assert.equal(h.counters().hypercalls, 0);
});

Deno.test("mpi: the same job and seed repeat exactly: results, virtual times and the trace hash", async () => {
  const run = () => mpi.mpiexec({ np: 3, mode: "bypass", seed: 7 }, program);
  const [a, b] = [await run(), await run()];
  assert.deepEqual(b.results, a.results);
  assert.deepEqual(b.mainNs, a.mainNs);
  assert.equal(b.elapsedNs, a.elapsedNs);
  assert.equal(b.cluster.engine.traceHash(), a.cluster.engine.traceHash());
  assert.deepEqual(b.counters, a.counters);
});
