/**
 * Dom0's VCPUs (`hypervisor/vcpus.ts`): slices of work queue when every VCPU
 * is busy; the fair policy preempts a long slice at its next preemption
 * point for an owner that has run less, so a short request never waits for
 * a long one, and owners that both keep dom0 busy share it evenly; an owner
 * idle for a while cannot bank that time; the FIFO policy runs slices to
 * completion in arrival order; interrupts go first under both; several
 * VCPUs run in parallel; a quiet dom0 adds nothing to a slice's time.
 */
import assert from "node:assert/strict";
import { Engine } from "../sim/engine.ts";
import { type VcpuPolicy, VcpuPool } from "../hypervisor/vcpus.ts";

function pool(policy: VcpuPolicy, count = 1) {
  const engine = new Engine();
  return { engine, cpu: new VcpuPool(engine, { count, sliceNs: 1_000, policy }) };
}

Deno.test("vcpus: alone, a slice takes exactly its time, with no preemption", async () => {
  for (const policy of ["fair", "fifo"] as const) {
    const { engine, cpu } = pool(policy);
    const t = await engine.run(async () => {
      await cpu.run(123_456, "dom1");
      await cpu.run(7, "dom2");
      return engine.now;
    });
    assert.equal(t, 123_463, policy);
    assert.equal(cpu.preemptions, 0);
    assert.equal(cpu.stats().waitNs, 0);
  }
});

/** A hog starts a 1 ms slice at 0; a short 2 µs request arrives at 10.5 µs. */
async function hogAndShort(policy: VcpuPolicy) {
  const { engine, cpu } = pool(policy);
  const done: Record<string, number> = {};
  await engine.run(async () => {
    const hog = engine.spawn("hog", async () => {
      await cpu.run(1_000_000, "dom1");
      done.hog = engine.now;
    });
    await engine.sleep(10_500);
    await cpu.run(2_000, "dom2");
    done.short = engine.now;
    await hog;
  });
  return { done, cpu };
}

Deno.test("vcpus: fair — a short request waits for the hog's next preemption point only", async () => {
  const { done, cpu } = await hogAndShort("fair");
  assert.deepEqual(done, { short: 13_000, hog: 1_002_000 });
  assert.equal(cpu.preemptions, 1);
  assert.deepEqual(cpu.stats().byOwner.dom2, { busyNs: 2_000, waitNs: 500, slices: 1 });
});

Deno.test("vcpus: fifo — the same request waits for the whole slice", async () => {
  const { done, cpu } = await hogAndShort("fifo");
  assert.deepEqual(done, { short: 1_002_000, hog: 1_000_000 });
  assert.equal(cpu.preemptions, 0);
});

Deno.test("vcpus: fair — two owners that keep dom0 busy share it evenly", async () => {
  const { engine, cpu } = pool("fair");
  const mid: Record<string, number> = {};
  await engine.run(async () => {
    const run = (owner: string) =>
      engine.spawn(owner, async () => {
        for (let i = 0; i < 100; i++) await cpu.run(5_000, owner);
      });
    const both = [run("dom1"), run("dom2")];
    await engine.sleep(400_000);
    for (const [k, v] of Object.entries(cpu.stats().byOwner)) mid[k] = v.busyNs;
    await Promise.all(both);
  });
  assert.ok(Math.abs(mid.dom1 - mid.dom2) <= 2_000, JSON.stringify(mid));
  assert.equal(cpu.stats().busyNs, 1_000_000);
});

Deno.test("vcpus: fair — an owner idle for a long time cannot bank it", async () => {
  const { engine, cpu } = pool("fair");
  let lateDone = 0;
  await engine.run(async () => {
    // dom1 runs 1 ms; dom2, idle all that time, then wants 100 µs; dom1 keeps working.
    await cpu.run(1_000_000, "dom1");
    const hog = engine.spawn("dom1", async () => {
      for (let i = 0; i < 50; i++) await cpu.run(4_000, "dom1");
    });
    await cpu.run(100_000, "dom2");
    lateDone = engine.now;
    await hog;
  });
  // Had dom2 kept credit for the idle millisecond it would run alone for 100 µs; it gets about
  // half of dom0 instead, from one slice of credit.
  assert.ok(lateDone - 1_000_000 > 180_000, `dom2 done after ${lateDone - 1_000_000} ns`);
});

Deno.test("vcpus: an interrupt goes first, at the next preemption point, under both policies", async () => {
  for (const policy of ["fair", "fifo"] as const) {
    const { engine, cpu } = pool(policy);
    let at = 0;
    await engine.run(async () => {
      const hog = engine.spawn("hog", () => cpu.run(50_000, "dom1"));
      await engine.sleep(2_200);
      cpu.irq(1_500, () => (at = engine.now));
      await hog;
    });
    assert.equal(at, 4_500, policy);
  }
});

Deno.test("vcpus: two VCPUs run two owners at once", async () => {
  const { engine, cpu } = pool("fair", 2);
  const t = await engine.run(async () => {
    await Promise.all([
      engine.spawn("a", () => cpu.run(10_000, "dom1")),
      engine.spawn("b", () => cpu.run(10_000, "dom2")),
    ]);
    return engine.now;
  });
  assert.equal(t, 10_000);
});

Deno.test("vcpus: a process's work is charged to the owner it bound; bad options are refused", async () => {
  const { engine, cpu } = pool("fair");
  await engine.run(async () => {
    assert.equal(cpu.owner(), "dom0");
    await engine.spawn("backend", async () => {
      cpu.bind("dom7");
      await cpu.run(3_000);
    });
  });
  assert.equal(cpu.stats().byOwner.dom7.busyNs, 3_000);
  assert.throws(() => new VcpuPool(engine, { count: 1.5, sliceNs: 1 }), /dom0 VCPUs: 1.5/);
  assert.throws(() => new VcpuPool(engine, { count: 1, sliceNs: 0 }), /dom0 slice: 0 ns/);
  assert.throws(
    () => new VcpuPool(engine, { count: 1, sliceNs: 1, policy: "lottery" as VcpuPolicy }),
    /dom0 scheduler 'lottery'/,
  );
});

Deno.test("vcpus: runThen runs the slice run() would and continues where its process would", async () => {
  // Owner a's 100 ns slice runs while b's 50 ns slice queues behind it (one VCPU); a then runs 30 ns more.
  async function scenario(chain: boolean) {
    const { engine, cpu } = pool("fifo");
    const seen: string[] = [];
    await engine.run(async () => {
      const b = engine.spawn("b", async () => {
        await engine.sleep(10);
        await cpu.run(50, "dom2");
        seen.push(`b done ${engine.now}`);
      });
      if (chain) {
        const blk = engine.block<void>("a");
        cpu.runThen(100, "dom1", () => {
          // The VCPU has taken b's slice already, as it has when a woken process continues.
          seen.push(`a step ${engine.now} waiting ${cpu.waiting}`);
          cpu.runThen(30, "dom1", () => blk.resolve());
        });
        await blk.promise;
      } else {
        await cpu.run(100, "dom1");
        seen.push(`a step ${engine.now} waiting ${cpu.waiting}`);
        await cpu.run(30, "dom1");
      }
      seen.push(`a done ${engine.now}`);
      await b;
    });
    return { seen, stats: cpu.stats(), hash: engine.traceHash(), wakeups: engine.wakeups };
  }
  const chained = await scenario(true), awaited = await scenario(false);
  assert.deepEqual(chained.seen, ["a step 100 waiting 0", "b done 150", "a done 180"]);
  assert.deepEqual(chained.seen, awaited.seen);
  assert.deepEqual(chained.stats, awaited.stats);
  assert.equal(chained.hash, awaited.hash);
  assert.equal(chained.wakeups, awaited.wakeups - 1); // a's thread woke once, not twice
});
