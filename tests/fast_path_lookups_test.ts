/**
 * The per-message lookups and allocations the fast path was spared: the
 * provider's doorbells on a line, the CPU ledger's last process, the address
 * space's last mappings, the memory watch's filter, small reads without a
 * view, the owner bit by a shift, the frontend's doorbell ids without a map
 * entry and dom0's last VCPU owners. Each keeps a cache or a shortcut; these
 * tests check that every change of what it caches is seen, and that the
 * shortcut gives what the general path gives.
 */
import assert from "node:assert/strict";
import { Provider, type ProviderEnv } from "../drivers/verbs/provider.ts";
import { ownerBitFor } from "../hca/cqe.ts";
import { SharedInfo } from "../hypervisor/event_channel.ts";
import { DomidFlags } from "../hypervisor/host.ts";
import { VcpuPool } from "../hypervisor/vcpus.ts";
import { CpuClock } from "../platform/cpu.ts";
import { WatchedMemory } from "../platform/memory_watch.ts";
import { Engine } from "../sim/engine.ts";
import { AddressSpace, AddressSpaceError, MachineMemory, PAGE_SIZE, Prng } from "../sim/mod.ts";
import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
import { QpType, SendFlags, WcStatus, WrOpcode } from "../mod.ts";
import type { XenGuest } from "../platform/xen_guest.ts";
import type { CpuNoise } from "../sim/noise.ts";
import { CAP, pair, side, twoDomains } from "./conformance/helpers.ts";

Deno.test("fast path: doorbells waiting for their thread's CPU reach memory at their own times, in time order, when a later one is due first", async () => {
  const engine = new Engine();
  let busy = 0;
  const writes: string[] = [];
  const env: ProviderEnv = {
    engine,
    profile: PCIX_SDR_2006,
    uarAddr: 0x1000,
    cpu: {
      charge: (ns) => (busy += ns),
      busyUntil: () => Math.max(busy, engine.now),
      settle: async () => {},
    },
    memory: {
      read: (_a, len) => new Uint8Array(len),
      write: (addr, b) => writes.push(`${engine.now} ${addr - 0x1000} ${b.join(",")}`),
      translate: (a) => a,
    },
  };
  const p = new Provider(env);
  await engine.run(async () => {
    // Due at 500, then one due at 300 (another thread's CPU: before the line's newest), then
    // two at 600.5 (rounded up to 601, as the engine rounds a delay), then one with no debt.
    for (
      const [at, off, w] of [[500, 0x10, 1], [300, 0x18, 2], [600.5, 0x10, 3], [600.5, 0x10, 4]]
    ) {
      busy = at;
      p.doorbell(off, w, w + 100);
    }
    busy = 0;
    p.doorbell(0x20, 5, 105);
    await engine.sleep(1_000);
  });
  const bytes = (w0: number, w1: number) => [0, 0, 0, w0, 0, 0, 0, w1].join(",");
  assert.deepEqual(writes, [
    `0 32 ${bytes(5, 105)}`,
    `300 24 ${bytes(2, 102)}`,
    `500 16 ${bytes(1, 101)}`,
    `601 16 ${bytes(3, 103)}`,
    `601 16 ${bytes(4, 104)}`,
  ]);
  assert.equal(p.doorbells, 5);
});

Deno.test("fast path: the CPU ledger keeps every process's busy-until time while processes take turns, through every view of it", async () => {
  const engine = new Engine();
  const cpu = CpuClock.of(engine);
  const noisy = cpu.withNoise(
    { finish: (start: number, ns: number) => start + 2 * ns } as CpuNoise,
  );
  const out: string[] = [];
  await engine.run(async () => {
    const a = engine.spawn("a", async () => {
      cpu.charge(100);
      await engine.sleep(0); // b charges meanwhile
      out.push(`a ${cpu.busyUntil()} ${noisy.busyUntil()}`);
      noisy.charge(50); // the same ledger: from 100, doubled
      out.push(`a ${cpu.busyUntil()}`);
      await cpu.settle();
      out.push(`a settled ${engine.now}`);
    });
    const b = engine.spawn("b", async () => {
      cpu.charge(30);
      out.push(`b ${cpu.busyUntil()}`);
      await engine.sleep(0);
      out.push(`b ${noisy.busyUntil()}`);
      await cpu.settle();
      out.push(`b settled ${engine.now}`);
    });
    out.push(`root ${cpu.busyUntil()}`); // no debt of its own
    await Promise.all([a, b]);
  });
  assert.deepEqual(out, [
    "b 30", // spawned processes run to their first wait at once
    "root 0",
    "a 100 100",
    "a 200",
    "b 30",
    "b settled 30",
    "a settled 200",
  ]);
});

Deno.test("fast path: translate sees every change of the address space's mappings after caching them", () => {
  const mem = new MachineMemory(16 << 20);
  const as = new AddressSpace(mem, "vm0", 4 << 20, new Prng(1));
  const own = as.alloc(4 * PAGE_SIZE, PAGE_SIZE);
  const m0 = as.translate(own);
  assert.equal(as.translate(own + 5), m0 + 5); // cached now
  // Pages 4 apart share a cache entry: each still translates to its own frame.
  const far = as.alloc(8 * PAGE_SIZE, PAGE_SIZE);
  const frames = [0, 4, 1, 5].map((p) => as.translate(far + p * PAGE_SIZE));
  assert.equal(new Set(frames).size, 4);
  assert.deepEqual([0, 4, 1, 5].map((p) => as.translate(far + p * PAGE_SIZE)), frames);
  // A foreign frame mapped, translated (cached), unmapped, another mapped: never the stale one.
  const f1 = mem.allocFrame("dom0"), f2 = mem.allocFrame("dom0");
  const a1 = as.mapForeign(f1, true);
  assert.equal(as.translate(a1), f1 * PAGE_SIZE);
  assert.throws(() => as.translate(a1, true), /read-only/);
  as.unmapForeign(a1);
  assert.throws(
    () => as.translate(a1),
    (e) => e instanceof AddressSpaceError && /not mapped/.test(e.message),
  );
  const a2 = as.mapForeign(f2, false);
  assert.equal(as.translate(a2), f2 * PAGE_SIZE);
  if (a2 === a1) assert.notEqual(as.translate(a1), f1 * PAGE_SIZE);
  as.write(a2, new Uint8Array([9]));
  assert.equal(mem.read(f2 * PAGE_SIZE, 1)[0], 9);
  as.releaseAll();
  assert.throws(() => as.translate(own), /not mapped/);
  assert.throws(() => as.translate(a2), /not mapped/);
});

Deno.test("fast path: reads of up to 48 bytes and longer ones give the same bytes, within, across and beyond written frames", () => {
  const mem = new MachineMemory(1 << 20);
  const f = [mem.allocFrame("t"), mem.allocFrame("t")];
  assert.equal(f[1], f[0] + 1);
  const base = f[0] * PAGE_SIZE;
  mem.write(base, Uint8Array.from({ length: PAGE_SIZE }, (_, i) => (i * 7 + 3) & 0xff));
  // The second frame is never written: it reads as zeros.
  for (const len of [1, 8, 32, 47, 48, 49, 64, 100]) {
    for (const at of [0, 100, PAGE_SIZE - 48, PAGE_SIZE - 20, PAGE_SIZE]) {
      const want = Uint8Array.from(
        { length: len },
        (_, i) => at + i < PAGE_SIZE ? ((at + i) * 7 + 3) & 0xff : 0,
      );
      const dst = new Uint8Array(len + 8).fill(0xee);
      mem.readInto(base + at, dst, 4, len);
      assert.deepEqual(dst.subarray(4, 4 + len), want, `${len} bytes at ${at}`);
      assert.deepEqual([...dst.subarray(0, 4), ...dst.subarray(4 + len)], new Array(8).fill(0xee));
      assert.deepEqual(mem.read(base + at, len), want);
    }
  }
});

Deno.test("fast path: the memory watch wakes waiters on watched frames only, including frames whose filter entry another shares", async () => {
  const engine = new Engine();
  const mem = new WatchedMemory(64 << 20, engine);
  const frames = Array.from({ length: 4200 }, () => mem.allocFrame("t"));
  const watched = frames[10],
    twin = frames.find((m) => m !== watched && (m & 4095) === (watched & 4095))!;
  assert.ok(twin !== undefined);
  const woken: string[] = [];
  await engine.run(async () => {
    const w = engine.spawn("w", async () => {
      woken.push(`${await mem.waitWrite([watched], "flag")} ${engine.now}`);
    });
    engine.schedule(100, () => mem.frame(twin).set([1], 0)); // same filter entry, not watched
    engine.schedule(200, () => mem.frame(frames[11]).set([1], 0)); // another frame
    engine.schedule(300, () => mem.frame(watched).set([1], 0));
    await w;
    // The twin is watched now too: a write to it wakes its own waiter, not the other's.
    const t = engine.spawn("t", async () => {
      woken.push(`twin ${await mem.waitWrite([twin], "twin", 1_000)} ${engine.now}`);
    });
    const u = engine.spawn("u", async () => {
      woken.push(`watched ${await mem.waitWrite([watched], "again", 1_000)} ${engine.now}`);
    });
    engine.schedule(50, () => mem.frame(twin).set([2], 0));
    await Promise.all([t, u]);
  });
  assert.deepEqual(woken, ["true 300", "twin true 350", "watched false 1300"]);
});

Deno.test("fast path: the owner bit by a shift is the division's for every 32-bit index, and the division's beyond", () => {
  const div = (i: number, l: number) => 1 ^ (Math.floor(i / 2 ** l) & 1);
  const indices = [0, 1, 2, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];
  const prng = new Prng(7);
  for (let k = 0; k < 2000; k++) indices.push(prng.int(2 ** 31) * 2 + prng.int(2));
  for (const i of [...indices, 2 ** 32, 2 ** 40 + 3, 1.5]) {
    for (let l = 0; l <= 34; l++) assert.equal(ownerBitFor(i, l), div(i, l), `${i} of 2^${l}`);
  }
});

Deno.test("fast path: dom0's VCPU accounts stay each owner's while three owners take turns", async () => {
  const engine = new Engine();
  const cpu = new VcpuPool(engine, { count: 1, sliceNs: 1_000 });
  await engine.run(async () => {
    for (let i = 0; i < 5; i++) {
      await cpu.run(100, "dom1");
      cpu.irq(10, () => {});
      await cpu.run(200, "dom2");
      await cpu.run(300, "dom1");
      await cpu.run(400, "dom3");
    }
  });
  const by = cpu.stats().byOwner;
  assert.deepEqual(
    Object.fromEntries(Object.entries(by).map(([k, v]) => [k, [v.busyNs, v.slices]])),
    { dom1: [2_000, 10], dom2: [1_000, 5], dom3: [2_000, 5], irq: [50, 5] },
  );
});

Deno.test("fast path: more split doorbells outstanding than the frontend has places for their ids all reach the device, none refused", async () => {
  // 1,200 receive WRs posted at once: the ring takes 32, the rest wait in the frontend's backlog,
  // so more than 1,024 doorbells (the frontend's places for unanswered ids) are outstanding.
  const { cluster, a, b } = await twoDomains("split");
  const n = 1200;
  const got = await cluster.run(async () => {
    const x = await side(a, 4096), y = await side(b, 4096);
    const [qa, qb] = await pair(x, y, QpType.RC, { ...CAP, maxSendWr: 64, maxRecvWr: n });
    for (let i = 0; i < n; i++) {
      qb.postRecv({
        wrId: BigInt(i),
        sgList: [{ addr: y.buf + 8 * i, length: 8, lkey: y.mr.lkey }],
      });
    }
    for (let i = 0; i < n; i += 40) {
      for (let j = i; j < i + 40; j++) {
        qa.postSend({
          wrId: BigInt(j),
          opcode: WrOpcode.SEND,
          sendFlags: j % 40 === 39 ? SendFlags.SIGNALED : 0,
          sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
        });
      }
      const [wc] = await x.cq.pollUntil(1);
      assert.equal(wc.status, WcStatus.SUCCESS);
    }
    return await y.cq.pollUntil(n);
  });
  assert.deepEqual(got.map((w) => w.wrId), Array.from({ length: n }, (_, i) => BigInt(i)));
  assert.ok(got.every((w) => w.status === WcStatus.SUCCESS));
  assert.equal((b as XenGuest).front.stats.errors, 0);
  assert.ok((b as XenGuest).front.stats.requests > n);
});

Deno.test("fast path: pending ports into a reused array are the ports a fresh one gets; domid flags are a set", () => {
  const si = new SharedInfo(new Uint8Array(4096));
  const reused = [99, 98, 97, 96];
  for (const ports of [[70, 3], [5], [], [4095, 0, 64]]) {
    for (const p of ports) si.setPending(p);
    const twin = new SharedInfo(new Uint8Array(4096));
    for (const p of ports) twin.setPending(p);
    assert.equal(si.takePending(reused), reused);
    assert.deepEqual(reused, twin.takePending());
  }
  const flags = new DomidFlags();
  for (const d of [0, 1, 63, 64, 5000]) flags.add(d);
  assert.deepEqual([0, 1, 2, 63, 64, 65, 5000, 5001, -1, 1.5].map((d) => flags.has(d)), [
    true,
    true,
    false,
    true,
    true,
    false,
    true,
    false,
    false,
    false,
  ]);
  assert.deepEqual([flags.delete(64), flags.delete(64), flags.has(64), flags.delete(9999)], [
    true,
    false,
    false,
    false,
  ]);
  assert.throws(() => flags.add(-1), /domid -1/);
});
