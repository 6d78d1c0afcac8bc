// An MPI job whose rank's guest live-migrates mid-run (mpi/job.ts `alongside`, Nomad's layer in
// drivers/verbs/nomad_*.ts): eager sends, the RDMA fast path's rings and rendezvous transfers all
// go on across the move, and every rank computes what it computes without one.
import assert from "node:assert/strict";
import { Cluster, type Domain, mpi, type XenGuest } from "../mod.ts";

const PROFILE = { base: "pcix-sdr-2006", migration: { netBytesPerSec: "1 GB/s" } };

/**
 * Rank 0 on A, rank 1 on C (a guest, or C's bare-metal OS): a ping-pong of `doubles` with an
 * allreduce every 25 rounds; B is where rank 0's guest may go.
 */
async function job(
  driver: "bypass" | "split",
  peer: "guest" | "native",
  doubles: number,
  move: boolean,
) {
  const cluster = new Cluster({ profile: PROFILE, seed: 3, nomad: true });
  const A = cluster.addHost({ name: "A", hypervisor: true });
  const B = cluster.addHost({ name: "B", hypervisor: true });
  const C = cluster.addHost({ name: "C", hypervisor: peer === "guest" });
  await cluster.start();
  const g0 = await A.createGuest({ name: "g0", memoryMiB: 32, driver });
  const g1: Domain = peer === "guest"
    ? await C.createGuest({ name: "g1", memoryMiB: 32, driver })
    : C.os;
  const r = await mpi.runJob(cluster, [g0, g1], async (comm) => {
    const buf = new Float64Array(doubles);
    let sum = 0;
    const rounds = doubles > 1000 ? 100 : 400;
    for (let i = 0; i < rounds; i++) {
      await comm.compute({ ns: 40_000_000 / rounds }); // the job outlasts the pre-copy rounds
      if (comm.rank === 0) {
        buf.fill(i);
        await comm.send(buf, 1, i);
        await comm.recv(buf, 1, i);
        sum += buf[0] + buf[doubles - 1];
      } else {
        await comm.recv(buf, 0, i);
        for (let k = 0; k < doubles; k++) buf[k] += 1;
        await comm.send(buf, 0, i);
      }
      if (i % 25 === 0) {
        const y = new Float64Array(1);
        await comm.allreduce(new Float64Array([comm.rank + i]), y, "SUM");
        sum += y[0];
      }
    }
    return sum;
  }, move ? { alongside: () => cluster.sleep(1_000_000).then(() => cluster.migrate(g0, B)) } : {});
  return { r, host: (g0 as XenGuest).hostName };
}

for (
  const [driver, peer, doubles, path] of [
    ["bypass", "guest", 4, "eager and the RDMA fast path"],
    ["split", "native", 4, "eager and the RDMA fast path"],
    ["bypass", "native", 32768, "rendezvous (256 KiB)"],
    ["split", "guest", 32768, "rendezvous (256 KiB)"],
  ] as const
) {
  Deno.test(`mpi migration: a ${driver} rank's guest moves mid-job (${path}, ${peer} peer)`, async () => {
    const still = await job(driver, peer, doubles, false);
    const moved = await job(driver, peer, doubles, true);
    assert.equal(still.host, "A");
    assert.equal(moved.host, "B");
    const m = moved.r.alongside as { to: string; downtimeNs: number; connections: number };
    assert.equal(m.to, "B");
    assert.equal(m.connections, 1, "the job's one connection moved");
    assert.deepEqual(moved.r.results, still.r.results);
    // The path under test carried the job, and the move cost the job its downtime, at least.
    const c = moved.r.counters[0];
    if (doubles > 1000) {
      assert.ok(c.rndvRput + c.rndvRget >= 100, `rendezvous: ${c.rndvRput + c.rndvRget}`);
    } else assert.ok(c.ringPackets > 100, `fast-path packets: ${c.ringPackets}`);
    // Not all of it: the peer's own work goes on while rank 0 is paused.
    assert.ok(
      moved.r.elapsedNs - still.r.elapsedNs > m.downtimeNs / 2,
      `${moved.r.elapsedNs} ns with the move, ${still.r.elapsedNs} without, downtime ${m.downtimeNs}`,
    );
  });
}

Deno.test("mpi migration: an error alongside the job fails the job and names where it came from", async () => {
  const cluster = new Cluster({ profile: PROFILE, seed: 3 });
  const A = cluster.addHost({ name: "A", hypervisor: true });
  const B = cluster.addHost({ name: "B", hypervisor: true });
  await cluster.start();
  const [g0, g1] = [await A.createGuest({ name: "g0" }), await B.createGuest({ name: "g1" })];
  await assert.rejects(
    mpi.runJob(cluster, [g0, g1], (comm) => comm.compute({ ns: 20_000_000 }), {
      // Without the Nomad layer a guest with open RDMA contexts cannot move.
      alongside: async () => {
        await cluster.sleep(5_000_000); // MPI_Init is over
        return await cluster.migrate(g0, B);
      },
    }),
    (e: Error) => {
      assert.equal(e.name, "MpiJobError");
      assert.match(e.message, /^alongside the job: VerbsError: EOPNOTSUPP: /);
      return true;
    },
  );
});

Deno.test("mpi migration: two ranks that are each other's peers move at overlapping times (mpiexec's migrate)", async () => {
  // Rank 2's suspend finds its connection to rank 1 mid-handshake (rank 1 is moving): it lets
  // that handshake end, then begins its own, which reaches rank 1 while rank 1 resumes on its
  // destination. Rank 1 must stay for it (it has moved already), or the connection never
  // resumes and the job's last barrier waits forever.
  const main = async (comm: mpi.Comm) => {
    let sum = 0;
    for (let i = 0; i < 600; i++) {
      await comm.compute({ ns: 100_000 });
      const y = new Float64Array(1);
      await comm.allreduce(new Float64Array([comm.rank]), y, "SUM");
      sum += y[0];
    }
    return sum;
  };
  const job = await mpi.mpiexec({
    np: 4,
    mode: "bypass",
    profile: PROFILE,
    guestMemoryMiB: 16,
    migrate: [{ rank: 1, atNs: 1_000_000 }, { rank: 2, atNs: 2_000_000 }],
  }, main);
  assert.deepEqual(job.results, [3600, 3600, 3600, 3600]);
  assert.deepEqual(job.migrations!.map((m) => [m.guest, m.to, m.connections]), [
    ["node1-vm0", "spare0", 3],
    ["node2-vm0", "spare1", 3],
  ]);
  // The second waited for the first's handshake on their connection: their pauses overlap.
  const [a, b] = job.migrations!;
  assert.ok(b.endNs - b.downtimeNs < a.endNs, `${a.endNs} ${b.endNs} ${b.downtimeNs}`);
});

Deno.test("mpi migration: a bad move is refused before anything runs, naming the entry", async () => {
  await assert.rejects(mpi.launch({ np: 2, mode: "bypass", migrate: [{ rank: 2, atNs: 0 }] }), {
    name: "MpiError",
    message: /migrate\[0\]\.rank must be a rank of the job, 0\.\.1 \(got 2\)$/,
  });
  await assert.rejects(mpi.launch({ np: 2, mode: "native", migrate: [{ rank: 1, atNs: 0 }] }), {
    message: /migrate: native ranks run on bare-metal hosts, which do not move/,
  });
  const l = await mpi.launch({ np: 2, mode: "bypass", guestMemoryMiB: 16 });
  await assert.rejects(
    mpi.runJob(l.cluster, l.domains, () => 0, {
      migrations: [{ rank: 0, atNs: -1, to: l.hosts[1] }],
    }),
    {
      name: "MpiJobError",
      message: /migrations\[0\]\.atNs must be a finite time >= 0 ns \(got -1\)$/,
    },
  );
});
