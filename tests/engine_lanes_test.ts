/**
 * Event lanes and the heap of far events change no order: the same programs
 * run with them and with `engine.oneHeap` (every event in the one heap) run
 * the same events at the same times in the same order, with the same results.
 * And a thread waiting on a CQ watches only the frame of the CQE it waits
 * for: completions that cross the ring's pages, and several threads polling
 * one CQ, still wake every waiter.
 */
import assert from "node:assert/strict";
import {
  Access,
  Cluster,
  connectPair,
  Engine,
  type EventHandle,
  Prng,
  QpType,
  SendFlags,
  WrOpcode,
} from "../mod.ts";
import { runAllToAll } from "../tools/lib/alltoall.ts";

/**
 * A random mix of lane, plain, far, cancelled and reserved events; the log of what ran. With
 * `post`, about half the lane and plain events (those no handle is kept for) are posted
 * (`Engine.post`, `EventLane.post`) instead of scheduled.
 */
async function randomProgram(oneHeap: boolean, seed: number, post = false): Promise<string[]> {
  const engine = new Engine({ recordTrace: true });
  engine.oneHeap = oneHeap;
  const rng = new Prng(seed);
  const lanes = [engine.lane(), engine.lane(), engine.lane()];
  const laneFree = [0, 0, 0];
  const log: string[] = [];
  const handles: EventHandle[] = [];
  const reserved: { time: number; seq: number }[] = [];
  let n = 0;
  const act = (depth: number) => {
    const id = n++;
    log.push(`${engine.now} ${id}`);
    if (depth > 6) return;
    for (let k = rng.int(4); k > 0; k--) {
      const what = rng.int(8);
      if (what < 3) {
        // A FIFO server: its completions at nondecreasing times, mostly.
        const l = rng.int(3);
        const start = Math.max(laneFree[l], engine.now);
        laneFree[l] = start + rng.int(50);
        const at = rng.chance(0.1) ? engine.now + rng.int(20) : laneFree[l]; // sometimes out of order
        if (!rng.chance(0.5)) {
          handles.push(lanes[l].schedule(at - engine.now, () => act(depth + 1)));
        } else if (post) lanes[l].post(at - engine.now, () => act(depth + 1));
        else lanes[l].schedule(at - engine.now, () => act(depth + 1));
      } else if (what < 5) {
        const delay = rng.int(3) === 0 ? 0 : rng.int(100);
        if (!rng.chance(0.5)) handles.push(engine.schedule(delay, () => act(depth + 1)));
        else if (post) engine.post(delay, () => act(depth + 1));
        else engine.schedule(delay, () => act(depth + 1));
      } else if (what === 5) {
        handles.push(engine.schedule(1_000_000 + rng.int(3_000_000), () => act(depth + 1)));
      } else if (what === 6 && handles.length > 0) {
        engine.cancel(handles[rng.int(handles.length)]);
      } else {
        reserved.push({ time: engine.now + rng.int(40), seq: engine.reserveSeq() });
      }
    }
    // Schedule a reserved place that is still ahead, as a deferred update does.
    const r = reserved.shift();
    if (r && !engine.isPast(r.time, r.seq)) {
      engine.scheduleReserved(r.time, r.seq, () => act(depth + 1));
    }
  };
  await engine.run(async () => {
    for (let i = 0; i < 20; i++) {
      engine.schedule(rng.int(30), () => act(0));
      await engine.sleep(rng.int(10));
    }
    await engine.sleep(10_000_000);
  });
  return [...log, ...engine.trace(), engine.traceHash(), String(engine.eventsRun)];
}

Deno.test("engine lanes: random lane, plain, far, cancelled and reserved events run in the one heap's order", async () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    const withLanes = await randomProgram(false, seed);
    const oneHeap = await randomProgram(true, seed);
    assert.ok(withLanes.length > 200, `seed ${seed}: a program of some size`);
    assert.deepEqual(withLanes, oneHeap, `seed ${seed}`);
  }
});

Deno.test("engine lanes: posted events run where scheduled ones do, and reused records never reach a handle", async () => {
  for (const seed of [1, 2, 3]) {
    const scheduled = await randomProgram(false, seed);
    assert.ok(scheduled.length > 200, `seed ${seed}: a program of some size`);
    assert.deepEqual(await randomProgram(false, seed, true), scheduled, `seed ${seed}`);
    assert.deepEqual(await randomProgram(true, seed, true), scheduled, `seed ${seed}, one heap`);
  }
  // A handle's event keeps its own record while thousands of posted ones (and sleeps) come and
  // go: a record is reused only when nothing outside the engine can reach it.
  const engine = new Engine();
  const lane = engine.lane();
  const held: EventHandle[] = [];
  let ran = 0;
  await engine.run(async () => {
    for (let i = 0; i < 2000; i++) {
      engine.post(i % 7, () => ran++);
      lane.post(i % 5, () => ran++);
      if (i % 100 === 0) held.push(engine.schedule(50 + i, () => ran++));
      if (i % 10 === 0) await engine.sleep(1);
    }
    await engine.sleep(5_000);
  });
  assert.equal(ran, 4020);
  assert.deepEqual(
    held.map((h) => [h.time, h.done]),
    held.map((_, k) => [50 + 100 * k + 10 * k, true]),
  );
});

/**
 * Tickers that re-arm one event each (a VCPU's end of work), among plain events at equal times;
 * `again`: a ticker whose event ran schedules it again in its record (`Engine.scheduleAgain`),
 * else a new one. A cancelled ticker event (a preemption) is replaced by a new record.
 */
async function tickers(seed: number, again: boolean): Promise<string[]> {
  const engine = new Engine({ recordTrace: true });
  const rng = new Prng(seed);
  const log: string[] = [];
  const records = new Set<EventHandle>();
  const ticks = [0, 1, 2].map((t) => {
    const k = { h: undefined as EventHandle | undefined, fire: () => {} };
    k.fire = () => {
      log.push(`${engine.now} tick${t}`);
      if (rng.chance(0.2)) engine.schedule(rng.int(3), () => log.push(`${engine.now} plain`));
      const d = rng.int(4) === 0 ? 0 : rng.int(30);
      k.h = again ? engine.scheduleAgain(k.h!, d) : engine.schedule(d, k.fire);
      records.add(k.h);
    };
    return k;
  });
  await engine.run(async () => {
    for (const k of ticks) k.h = engine.schedule(rng.int(10), k.fire);
    for (let i = 0; i < 300; i++) {
      await engine.sleep(rng.int(20));
      const k = ticks[rng.int(3)];
      if (rng.chance(0.1)) {
        // Cancelled while waiting: its record stays queued, so a new one replaces it.
        engine.cancel(k.h!);
        k.h = engine.schedule(rng.int(15), k.fire);
      }
    }
    for (const k of ticks) engine.cancel(k.h!);
  });
  return [
    ...log,
    ...engine.trace(),
    engine.traceHash(),
    String(engine.eventsRun),
    String(records.size),
  ];
}

Deno.test("engine: an event scheduled again in its own record runs where a new one would", async () => {
  for (const seed of [1, 2, 3]) {
    const fresh = await tickers(seed, false);
    const reused = await tickers(seed, true);
    assert.ok(fresh.length > 500, `seed ${seed}: a program of some size`);
    // Everything but the count of distinct records is the same.
    assert.deepEqual(reused.slice(0, -1), fresh.slice(0, -1), `seed ${seed}`);
    assert.ok(Number(reused.at(-1)) < Number(fresh.at(-1)) / 10, `seed ${seed}: records reused`);
  }
});

Deno.test("engine: scheduleAgain refuses an event that may still be queued, and changes nothing", async () => {
  const engine = new Engine();
  const order: string[] = [];
  const waiting = engine.schedule(10, () => order.push("waiting"));
  const cancelled = engine.schedule(20, () => order.push("cancelled"));
  engine.cancel(cancelled);
  const laneRan = engine.lane().schedule(1, () => order.push("lane"));
  const plainRan = engine.schedule(2, () => order.push("plain"));
  await engine.run(() => engine.sleep(5));
  const refused =
    /scheduleAgain: the event has not run \(it is waiting or was cancelled\) or is not a plain scheduled event/;
  for (const h of [waiting, cancelled, laneRan, { time: 0, done: true }]) {
    assert.throws(() => engine.scheduleAgain(h, 1), refused);
  }
  assert.throws(
    () => engine.scheduleAgain(plainRan, -1),
    /scheduleAgain: delay must be a finite number >= 0 ns/,
  );
  assert.equal(engine.scheduleAgain(plainRan, 1), plainRan);
  await engine.run(() => engine.sleep(30));
  // Each ran once, in its place; the refused ones were not queued again.
  assert.deepEqual(order, ["lane", "plain", "plain", "waiting"]);
  assert.deepEqual([plainRan.time, plainRan.done], [6, true]);
});

Deno.test("engine lanes: pending counts events queued in lanes and far ahead", async () => {
  const engine = new Engine();
  const lane = engine.lane();
  let ran = 0;
  await engine.run(async () => {
    for (let i = 1; i <= 5; i++) lane.schedule(i * 10, () => ran++);
    engine.schedule(2_000_000, () => ran++);
    assert.equal(engine.pending, 6);
    await engine.sleep(25);
    assert.equal(engine.pending, 4);
    await engine.sleep(3_000_000);
  });
  assert.equal(ran, 6);
  assert.equal(engine.pending, 0);
});

/** An all-to-all among bypass guests; every result and the trace hash. */
async function allToAll(oneHeap: boolean, opcode: "write" | "send" | "read", noise: boolean) {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 3, noise: noise ? "on" : "off" });
  cluster.engine.oneHeap = oneHeap;
  const hosts = [0, 1, 2].map((i) => cluster.addHost({ name: `n${i}`, hypervisor: true }));
  await cluster.start();
  const eps = [];
  for (let g = 0; g < 2; g++) {
    for (const [i, h] of hosts.entries()) {
      const name = `vm${i}-${g}`;
      eps.push({
        name,
        mode: "bypass",
        dom: await h.createGuest({ name, memoryMiB: 16, driver: "bypass" }),
      });
    }
  }
  const r = await runAllToAll(cluster, eps, {
    kind: "alltoall",
    name: "lanes",
    endpoints: eps.map((e) => e.name),
    size: 4096,
    iterations: 12,
    opcode,
    txDepth: 4,
  });
  return {
    finish: r.endpoints.map((e) => e.finishUs),
    makespan: r.makespanUs,
    end: cluster.engine.now,
    events: cluster.engine.eventsRun,
    hash: cluster.engine.traceHash(),
  };
}

Deno.test("engine lanes: an all-to-all (write, send, read; noise on and off) is the same event for event", async () => {
  for (const opcode of ["write", "send", "read"] as const) {
    for (const noise of [false, true]) {
      const a = await allToAll(false, opcode, noise);
      const b = await allToAll(true, opcode, noise);
      assert.deepEqual(a, b, `${opcode}, noise ${noise}`);
    }
  }
});

Deno.test("CQ waiters: completions across every page of a large ring, and two threads on one CQ, wake their waiters", async () => {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  const a = cluster.addHost({ name: "a", hypervisor: true });
  const b = cluster.addHost({ name: "b", hypervisor: true });
  await cluster.start();
  const ga = await a.createGuest({ name: "ga", memoryMiB: 32, driver: "bypass" });
  const gb = await b.createGuest({ name: "gb", memoryMiB: 32, driver: "bypass" });
  const total = 1500;
  const got = await cluster.run(async () => {
    const [ca, cb] = [await ga.openDevice(), await gb.openDevice()];
    const [pa, pb] = [await ca.allocPd(), await cb.allocPd()];
    // 1024 CQEs of 32 bytes: eight pages, crossed about twice over.
    const cq = await ca.createCq(1000);
    const rcq = await cb.createCq(16);
    const bufA = ga.memory.alloc(4096, 4096), bufB = gb.memory.alloc(4096, 4096);
    const mrA = await pa.regMr(bufA, 4096, Access.LOCAL_WRITE);
    const mrB = await pb.regMr(bufB, 4096, Access.LOCAL_WRITE | Access.REMOTE_WRITE);
    const cap = { maxSendWr: 64, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 };
    const qa = await pa.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
    const qb = await pb.createQp({ type: QpType.RC, sendCq: rcq, recvCq: rcq, cap });
    await connectPair(
      { qp: qa, lid: Number(ca.queryPort(1).lid) },
      { qp: qb, lid: Number(cb.queryPort(1).lid) },
    );
    let posted = 0, polled = 0;
    const byThread = [0, 0];
    const post = () => {
      while (posted < total && posted - polled < 48) {
        qa.postSend({
          wrId: BigInt(posted++),
          opcode: WrOpcode.RDMA_WRITE,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: bufA, length: 64, lkey: mrA.lkey }],
          remoteAddr: bufB,
          rkey: mrB.rkey,
        });
      }
    };
    post();
    // Two threads wait on the same CQ; each takes what it finds. The one
    // still waiting when the other took the last completion is called off.
    const stop = new AbortController();
    const thread = (k: number, n: number) =>
      cluster.spawn!(`poller${k}`, async () => {
        while (polled < total) {
          let wcs;
          try {
            wcs = await cq.pollUntil(1, { signal: stop.signal });
          } catch (e) {
            if (polled === total && stop.signal.aborted) break;
            throw e;
          }
          for (const wc of [...wcs, ...cq.poll(n)]) {
            assert.equal(wc.wrId, BigInt(polled));
            polled++;
            byThread[k]++;
          }
          post();
        }
        stop.abort();
      });
    await Promise.all([thread(0, 3), thread(1, 5)]);
    return byThread;
  });
  assert.equal(got[0] + got[1], total);
  assert.ok(got[0] > 0 && got[1] > 0, `both threads polled: ${got}`);
});
