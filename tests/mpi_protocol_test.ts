/**
 * MVAPICH's protocols as the counters see them: the eager/rendezvous switch
 * at MV2_IBA_EAGER_THRESHOLD, the adaptive RDMA fast path, RPUT and RGET,
 * credit flow control under a flood (no RNR NAK on the wire), the pin-down
 * registration cache (hits, invalidation when the application frees memory,
 * eviction, off), and bounce buffers for JS arrays.
 */
import assert from "node:assert/strict";
import { mpi } from "../mod.ts";

const { mpiexec } = mpi;
const HEADER = 56;

/** The 2006 profile with `mpi` overrides. */
function profile(mpiOverrides: Record<string, number>): Record<string, unknown> {
  return { base: "pcix-sdr-2006", name: "test", mpi: mpiOverrides };
}

Deno.test("mpi: header + data up to MV2_IBA_EAGER_THRESHOLD go eagerly, one byte more by rendezvous", async () => {
  for (const [rget, counter] of [[0, "rndvRput"], [1, "rndvRget"]] as const) {
    const job = await mpiexec(
      { np: 2, mode: "native", profile: profile({ rdmaFastPath: 0, rndvRdmaRead: rget }) },
      async (comm) => {
        const t = 12288 - HEADER;
        const steps: Record<string, number>[] = [];
        for (const n of [t, t + 1]) {
          const before = comm.counters();
          const buf = comm.alloc(n);
          if (comm.rank === 0) {
            buf.fill(n % 251);
            await comm.send(buf, 1, 0);
          } else {
            await comm.recv(buf, 0, 0);
            assert.equal(buf.get(n - 1)[0], n % 251);
          }
          const after = comm.counters();
          steps.push({
            eagerSend: after.eagerSend - before.eagerSend,
            [counter]: after[counter] - before[counter],
          });
        }
        return steps;
      },
    );
    assert.deepEqual(job.results[0], [{ eagerSend: 1, [counter]: 0 }, {
      eagerSend: 0,
      [counter]: 1,
    }]);
    const c = job.counters[0];
    assert.equal(counter === "rndvRput" ? c.rdmaWrites : job.counters[1].rdmaReads, 1);
  }
});

Deno.test("mpi: after MV2_RDMA_EAGER_LIMIT eager messages a peer gets a fast-path ring", async () => {
  const job = await mpiexec({ np: 2, mode: "native" }, async (comm) => {
    const b = new Uint8Array(64);
    // Ping-pong: each side receives 100 messages from the other.
    for (let i = 0; i < 100; i++) {
      if (comm.rank === 0) {
        await comm.send(b, 1, 0);
        await comm.recv(b, 1, 0);
      } else {
        await comm.recv(b, 0, 0);
        await comm.send(b, 0, 0);
      }
    }
    return comm.counters();
  });
  for (const c of job.results) {
    assert.equal(c.fastPathPeers, 1);
    assert.equal(c.eagerSend + c.eagerRdma, 100);
    // The peer offers its ring after 32 messages have come in: the 33rd goes by RDMA.
    assert.equal(c.eagerSend, 32);
    assert.equal(c.eagerRdma, 68);
  }
});

Deno.test("mpi: credit flow control keeps a flood of eager messages free of RNR NAKs", async () => {
  const n = 400;
  const job = await mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
    if (comm.rank === 0) {
      const reqs = [];
      for (let i = 0; i < n; i++) reqs.push(await comm.isend(new Int32Array([i, i * 3]), 1, i % 7));
      await comm.waitall(reqs);
      return [];
    }
    // Busy while the flood arrives: only prepostDepth + noopExtra receives are posted.
    await comm.compute({ ns: 2_000_000 });
    const got: number[] = [];
    for (let i = 0; i < n; i++) {
      const v = new Int32Array(2);
      await comm.recv(v, 0, i % 7);
      if (v[1] !== v[0] * 3) throw new Error(`corrupted message ${i}`);
      got.push(v[0]);
    }
    return got;
  });
  assert.deepEqual(job.results[1], Array.from({ length: n }, (_, i) => i));
  const [s, r] = job.counters;
  assert.ok(s.creditStalls > 0, "the sender ran out of credits and waited");
  assert.ok(r.creditUpdates > 0, "the receiver returned credits explicitly");
  for (const h of job.hosts) {
    const c = h.hca.stats().counters;
    assert.equal(c.rnrNaksSent, 0, `${h.name}: RNR NAKs sent`);
    assert.equal(c.rnrNaksReceived, 0, `${h.name}: RNR NAKs received`);
  }
});

Deno.test("mpi: the pin-down cache hits for a reused buffer and is invalidated when the buffer is freed", async () => {
  const job = await mpiexec({ np: 2, mode: "bypass" }, async (comm) => {
    const size = 1 << 16;
    const stats = () => comm.counters().regCache;
    const transfer = async (buf: mpi.MpiBuffer) => {
      if (comm.rank === 0) await comm.send(buf, 1, 0);
      else await comm.recv(buf, 0, 0);
    };
    const a = comm.alloc(size);
    for (let i = 0; i < 5; i++) await transfer(a);
    const reused = stats();
    const addr = a.addr;
    await comm.free(a);
    const freed = stats();
    // The allocator hands the same addresses out again: the cache must not
    // find the old (deregistered) entry for them.
    const b = comm.alloc(size);
    b.fill(comm.rank + 1);
    await transfer(b);
    const again = stats();
    return {
      sameAddress: b.addr === addr,
      reused: [reused.misses, reused.hits],
      invalidated: freed.invalidations,
      dereg: freed.deregistrations,
      after: [again.misses - freed.misses, again.hits - freed.hits],
      data: b.get(size - 1)[0],
    };
  });
  for (const [rank, r] of job.results.entries()) {
    assert.deepEqual(r.reused, [1, 4], `rank ${rank}: one miss, then hits`);
    assert.equal(r.invalidated, 1);
    assert.equal(r.dereg, 1);
    assert.equal(r.sameAddress, true);
    assert.deepEqual(r.after, [1, 0], `rank ${rank}: a fresh registration after free`);
  }
  assert.equal(job.results[1].data, 1);
});

Deno.test("mpi: the cache evicts beyond MV2_NDREG_ENTRIES; without it every transfer registers", async () => {
  const run = (o: Record<string, number>) =>
    mpiexec({ np: 2, mode: "native", profile: profile(o) }, async (comm) => {
      const bufs = [0, 1, 2, 3].map(() => comm.alloc(1 << 15));
      for (let round = 0; round < 2; round++) {
        for (const b of bufs) {
          if (comm.rank === 0) await comm.send(b, 1, 0);
          else await comm.recv(b, 0, 0);
        }
      }
      return comm.counters().regCache;
    });
  const small = (await run({ dregEntries: 2 })).results[0];
  assert.ok(small.evictions >= 6, `evictions ${small.evictions}`);
  assert.ok(small.entries <= 2);
  const off = (await run({ regCache: 0 })).results[0];
  assert.equal(off.hits, 0);
  assert.equal(off.registrations, 8);
  assert.equal(off.deregistrations, 8);
  assert.equal(off.entries, 0);
});

Deno.test("mpi: JS typed arrays in rendezvous go through bounce buffers (copies counted), data intact", async () => {
  const job = await mpiexec({ np: 2, mode: "split" }, async (comm) => {
    const n = 30_000;
    if (comm.rank === 0) {
      await comm.send(Float64Array.from({ length: n }, (_, i) => i / 4), 1, 3);
    } else {
      const got = new Float64Array(n);
      await comm.recv(got, 0, 3);
      if (got.some((v, i) => v !== i / 4)) throw new Error("data corrupted");
    }
    return comm.counters().stagedBytes;
  });
  assert.deepEqual(job.results, [240_000, 240_000]);
});
