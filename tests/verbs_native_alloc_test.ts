import assert from "node:assert/strict";
import { IndexAllocator, KeyAllocator } from "../drivers/native/alloc.ts";
import { keyToMptIndex, mptKey } from "../hca/commands.ts";
import { MTT_SEG_ENTRIES, MttBuddy } from "../drivers/native/buddy.ts";
import { CpuClock } from "../platform/cpu.ts";
import { Engine } from "../sim/engine.ts";

Deno.test("IndexAllocator: reserved indices are never handed out; freed ones are not reused at once", () => {
  const a = new IndexAllocator("qpn", 6, 2);
  assert.deepEqual([a.alloc(), a.alloc(), a.alloc()], [2, 3, 4]);
  a.release(3);
  assert.equal(a.alloc(), 5); // next-fit: 3 waits its turn
  assert.equal(a.alloc(), 3); // wrapped around, skipping 0 and 1
  assert.equal(a.alloc(), undefined); // 2..5 all in use
  assert.equal(a.inUse, 4);
  assert.throws(() => a.release(1), /not allocated/);
});

Deno.test("KeyAllocator: a reused MPT index gets a new tag, so the old key differs", () => {
  const k = new KeyAllocator(4, 1); // indices 1, 2, 3
  const k1 = k.alloc()!;
  const k2 = k.alloc()!;
  assert.equal(k1 >>> 8, 1);
  assert.equal(k2 >>> 8, 2);
  k.release(k1);
  const k3 = k.alloc()!;
  assert.equal(k3 >>> 8, 1, "lowest free index first");
  assert.notEqual(k3, k1);
  assert.equal(k3 & 0xff, ((k1 & 0xff) + 1) & 0xff);
  assert.equal(k.alloc()! >>> 8, 3);
  assert.equal(k.alloc(), undefined);
  // 256 reuses wrap the 8-bit tag.
  let last = k3;
  for (let i = 0; i < 255; i++) {
    k.release(last);
    last = k.alloc()!;
  }
  assert.equal(last, k1);
});

Deno.test("MttBuddy: runs are size-aligned powers of two and merge back on free", () => {
  const m = new MttBuddy(64 * MTT_SEG_ENTRIES);
  const a = m.alloc(1)!; // 1 segment
  const b = m.alloc(3 * MTT_SEG_ENTRIES)!; // 3 segments → 4
  assert.equal(a.entries, MTT_SEG_ENTRIES);
  assert.equal(b.entries, 4 * MTT_SEG_ENTRIES);
  assert.equal(b.base % b.entries, 0);
  assert.ok(b.base >= a.base + a.entries || b.base + b.entries <= a.base);
  assert.equal(m.usedEntries, 5 * MTT_SEG_ENTRIES);
  m.free(a);
  m.free(b);
  assert.equal(m.freeEntries, 64 * MTT_SEG_ENTRIES);
  // Fully merged again: the whole table is one run.
  assert.equal(m.alloc(64 * MTT_SEG_ENTRIES)?.base, 0);
  assert.equal(m.alloc(1), undefined);
});

Deno.test("MttBuddy: a table fragmented into 300 000 free runs still hands out the lowest one", () => {
  // modern-gen5-ndr's 2^24 MTT entries, every other one-segment run freed: 300 000 free runs of
  // order 0 that cannot merge. Picking the lowest with Math.min(...runs) spread them as arguments
  // and threw RangeError past V8's stack (about 120 000 arguments at its default size): a
  // registration's success depended on the runtime's stack size, not on the model.
  const m = new MttBuddy(1 << 24);
  const runs = [];
  for (let i = 0; i < 600_000; i++) runs.push(m.alloc(MTT_SEG_ENTRIES)!);
  assert.deepEqual([runs[0].base, runs[599_999].base], [0, 599_999 * MTT_SEG_ENTRIES]);
  for (let i = 0; i < runs.length; i += 2) m.free(runs[i]);
  assert.equal(m.alloc(MTT_SEG_ENTRIES)?.base, 0);
  assert.equal(m.alloc(MTT_SEG_ENTRIES)?.base, 2 * MTT_SEG_ENTRIES);
  assert.equal(m.usedEntries, 300_002 * MTT_SEG_ENTRIES);
});

Deno.test("IndexAllocator, KeyAllocator: a 2^24-entry table hands out, frees and wraps as a small one does", () => {
  const max = 1 << 24;
  const a = new IndexAllocator("cqn", max, 8);
  const got: number[] = [];
  for (let n = 0; n < 3000; n++) got.push(a.alloc()!);
  assert.deepEqual([got[0], got[2999]], [8, 3007]);
  assert.equal(a.isUsed(3007), true);
  assert.equal(a.isUsed(3008), false);
  assert.equal(a.isUsed(max - 1), false);
  a.release(2500);
  assert.equal(a.isUsed(2500), false);
  assert.equal(a.alloc(), 3008); // next-fit: not 2500 again at once
  assert.throws(() => a.release(5_000_000), /not allocated/);
  // Next-fit reaches the end of the space and wraps to the first free index.
  const b = new IndexAllocator("qpn", 3000, 2);
  for (let n = 0; n < 2998; n++) b.alloc();
  assert.equal(b.alloc(), undefined);
  b.release(1500);
  b.release(2999);
  assert.deepEqual([b.alloc(), b.alloc(), b.alloc()], [1500, 2999, undefined]);
  // Keys: every index's first tag is 0, its reuse the next tag, far beyond the first slots.
  const keys = new KeyAllocator(max, 1);
  let k = 0;
  for (let n = 0; n < 2000; n++) k = keys.alloc()!;
  assert.equal(keyToMptIndex(k), 2000);
  assert.equal(k, mptKey(2000, 0));
  keys.release(k);
  assert.equal(keys.alloc(), mptKey(2000, 1));
});

Deno.test("CpuClock: synchronous work is debt, paid by the next await; per process", async () => {
  const e = new Engine();
  const cpu = CpuClock.of(e);
  const t = await e.run(async () => {
    assert.equal(cpu.charge(150), 150);
    assert.equal(cpu.charge(100), 250); // work serializes on one thread
    const other = e.spawn("other", async () => {
      assert.equal(cpu.debt(), 0); // another thread has its own CPU
      cpu.charge(40);
      await cpu.settle();
      return e.now;
    });
    assert.equal(await other, 40);
    await cpu.settle();
    return e.now;
  });
  assert.equal(t, 250);
  // A stale "busy until" in the past does not delay later work.
  await e.run(async () => {
    cpu.charge(10);
    await e.sleep(1000);
    assert.equal(cpu.charge(5), e.now + 5);
  });
});
