// sim/memory.ts and sim/address_space.ts: byte-exact reads through every
// path (copy, copy into a buffer, view), what each may share, and that
// reading never creates a frame.
import assert from "node:assert/strict";
import {
  AddressSpace,
  MachineMemory,
  MachineMemoryError,
  type MmioHandler,
  PAGE_SIZE,
  Prng,
} from "../sim/mod.ts";

/** Counts the frames created and every `frame()` call (a possible write for WatchedMemory). */
class CountingMemory extends MachineMemory {
  frameCalls = 0;
  override frame(mfn: number): Uint8Array {
    this.frameCalls++;
    return super.frame(mfn);
  }
}

function pattern(n: number, seed = 1): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);
}

Deno.test("memory: read, readInto and peek give the written bytes, within and across frames", () => {
  const mem = new MachineMemory(1 << 20);
  const mfns = [mem.allocFrame("t"), mem.allocFrame("t"), mem.allocFrame("t")];
  assert.deepEqual(mfns, [1, 2, 3], "consecutive frames, so a range can cross them");
  const data = pattern(2 * PAGE_SIZE + 100);
  const at = PAGE_SIZE + 4000;
  mem.write(at, data.subarray(0, 2 * PAGE_SIZE - 4000 + 96)); // frames 1..3
  for (const [off, len] of [[0, 1], [50, 96], [96, 10], [0, 2 * PAGE_SIZE - 4000 + 96]]) {
    const want = data.subarray(off, off + len);
    assert.deepEqual(mem.read(at + off, len), want, `read ${off}+${len}`);
    const buf = new Uint8Array(len + 4).fill(0xee);
    mem.readInto(at + off, buf, 2, len);
    assert.deepEqual(buf.subarray(2, 2 + len), want, `readInto ${off}+${len}`);
    assert.deepEqual([buf[0], buf[1], buf[len + 2], buf[len + 3]], [0xee, 0xee, 0xee, 0xee]);
    assert.deepEqual(mem.peek(at + off, len), want, `peek ${off}+${len}`);
  }
});

Deno.test("memory: read returns a copy, peek a view; mutating a read changes nothing", () => {
  const mem = new MachineMemory(1 << 20);
  const mfn = mem.allocFrame("t");
  const a = mfn * PAGE_SIZE + 16;
  mem.write(a, new Uint8Array([1, 2, 3]));
  const copy = mem.read(a, 3);
  copy[0] = 99;
  assert.deepEqual([...mem.read(a, 3)], [1, 2, 3], "a read is the caller's own copy");
  const view = mem.peek(a, 3);
  mem.write(a, new Uint8Array([7]));
  assert.equal(view[0], 7, "a peek within one written frame is a view");
  assert.equal(copy[0], 99);
  // Across frames, peek copies.
  const m2 = mem.allocFrame("t");
  assert.equal(m2, mfn + 1);
  mem.write(m2 * PAGE_SIZE - 1, new Uint8Array([5, 6]));
  const across = mem.peek(m2 * PAGE_SIZE - 1, 2);
  mem.write(m2 * PAGE_SIZE - 1, new Uint8Array([0, 0]));
  assert.deepEqual([...across], [5, 6]);
});

Deno.test("memory: reading a frame never written gives zeros without creating it; writes create it", () => {
  const mem = new CountingMemory(1 << 20);
  const mfn = mem.allocFrame("t");
  const a = mfn * PAGE_SIZE;
  assert.deepEqual([...mem.read(a + 10, 4)], [0, 0, 0, 0]);
  const buf = new Uint8Array(PAGE_SIZE + 8).fill(1);
  mem.readInto(a, buf, 8);
  assert.ok(buf.subarray(8).every((b) => b === 0));
  assert.deepEqual([...mem.peek(a, 2)], [0, 0]);
  assert.equal(mem.frameCalls, 0, "no read path creates (or touches) the frame");
  mem.write(a + 1, new Uint8Array([4]));
  assert.equal(mem.frameCalls, 1);
  mem.write(a, new Uint8Array(0));
  assert.equal(mem.frameCalls, 1, "an empty write touches nothing");
  assert.deepEqual([...mem.read(a, 2)], [0, 4]);
});

Deno.test("memory: unallocated frames, bad ranges and I/O frames on every read path", () => {
  const mem = new MachineMemory(1 << 20);
  const stores: string[] = [];
  const dev: MmioHandler = {
    mmioWrite: (mfn, off, b) => stores.push(`${mfn}:${off}:${[...b]}`),
    mmioRead: (_mfn, off, len) => Uint8Array.from({ length: len }, (_, i) => off + i),
  };
  const io = mem.attachMmio(1, dev);
  assert.throws(() => mem.read(5 * PAGE_SIZE, 4), MachineMemoryError);
  assert.throws(() => mem.readInto(5 * PAGE_SIZE, new Uint8Array(4)), MachineMemoryError);
  assert.throws(() => mem.peek(5 * PAGE_SIZE, 4), MachineMemoryError);
  assert.equal(mem.read(5 * PAGE_SIZE, 0).length, 0, "an empty read checks nothing, as before");
  assert.throws(() => mem.read(0, -1), RangeError);
  assert.throws(() => mem.readInto(0, new Uint8Array(4), 2, 3), RangeError);
  assert.throws(() => mem.readInto(0, new Uint8Array(4), -1, 1), RangeError);
  assert.deepEqual([...mem.read(io * PAGE_SIZE + 8, 3)], [8, 9, 10]);
  const buf = new Uint8Array(3);
  mem.readInto(io * PAGE_SIZE + 20, buf);
  assert.deepEqual([...buf], [20, 21, 22]);
  assert.deepEqual([...mem.peek(io * PAGE_SIZE + 1, 2)], [1, 2]);
  mem.write(io * PAGE_SIZE + 0x18, new Uint8Array([1, 2]));
  assert.deepEqual(stores, [`${io}:24:1,2`]);
});

Deno.test("memory: readByte is read(addr, 1)[0] on every kind of frame, and creates nothing", () => {
  const mem = new CountingMemory(1 << 20);
  const dev: MmioHandler = {
    mmioWrite: () => {},
    mmioRead: (_mfn, off, len) => Uint8Array.from({ length: len }, (_, i) => (off + i) ^ 0x5a),
  };
  const io = mem.attachMmio(1, dev);
  const written = mem.allocFrame("t"), untouched = mem.allocFrame("t");
  mem.write(written * PAGE_SIZE, pattern(PAGE_SIZE, 7));
  for (const mfn of [written, untouched, io]) {
    for (const off of [0, 1, 255, 2048, PAGE_SIZE - 1]) {
      const a = mfn * PAGE_SIZE + off;
      assert.equal(mem.readByte(a), mem.read(a, 1)[0], `frame ${mfn} offset ${off}`);
    }
  }
  assert.equal(mem.readByte(untouched * PAGE_SIZE + 3), 0);
  assert.equal(mem.frameCalls, 1, "only the write touched a frame");
  assert.throws(() => mem.readByte(9 * PAGE_SIZE), MachineMemoryError);
  assert.throws(() => mem.readByte(-1), MachineMemoryError);
});

Deno.test("address space: read, readInto and peek across pages that are not machine-contiguous", () => {
  const mem = new MachineMemory(16 << 20);
  const as = new AddressSpace(mem, "vm0", 1 << 20, new Prng(3));
  const a = as.alloc(3 * PAGE_SIZE, PAGE_SIZE);
  assert.notEqual(as.translate(a + PAGE_SIZE), as.translate(a) + PAGE_SIZE);
  const data = pattern(3 * PAGE_SIZE, 7);
  as.write(a, data);
  for (
    const [off, len] of [[0, 3 * PAGE_SIZE], [PAGE_SIZE - 3, 10], [5, 100], [2 * PAGE_SIZE, 0]]
  ) {
    const want = data.subarray(off, off + len);
    assert.deepEqual(as.read(a + off, len), want);
    const buf = new Uint8Array(len + 1);
    as.readInto(a + off, buf, 1);
    assert.deepEqual(buf.subarray(1), want);
    assert.deepEqual(as.peek(a + off, len), want);
  }
  const copy = as.read(a, 4);
  copy.fill(0);
  assert.deepEqual(as.read(a, 4), data.subarray(0, 4), "a read is a copy");
  assert.throws(() => as.readInto(a, new Uint8Array(2), 1, 2), RangeError);
  assert.throws(() => as.peek(a + 64 * PAGE_SIZE, 4), /not mapped/);
  assert.throws(() => as.read(a, -1), /bad range/);
});

Deno.test("address space: an allocation reaching past 2 GiB is mapped to its last page", () => {
  // A 4 GiB native host puts a second 1 GiB buffer across 2^31, where a
  // 32-bit shift of the address is negative.
  const mem = new MachineMemory(3 * 2 ** 30);
  const as = new AddressSpace(mem, "node0 os", 3 * 2 ** 30, new Prng(1));
  const a = as.alloc(2 ** 31 + 2 * PAGE_SIZE, PAGE_SIZE);
  const last = a + 2 ** 31 + PAGE_SIZE;
  as.write(last, new Uint8Array([1, 2, 3]));
  assert.deepEqual(as.read(last, 3), new Uint8Array([1, 2, 3]));
  assert.ok(as.translate(last) >= 0);
});

Deno.test("frames looked up often answer like any other: freed, reused, never a wrong number", () => {
  const mem = new MachineMemory(64 * 4096);
  const a = mem.allocFrame("d1");
  mem.frame(a)[0] = 7; // now among the frames looked up last
  assert.equal(mem.isAllocated(a), true);
  // Numbers that are no frame (or share its slot in the cache) are not allocated.
  for (const n of [-1, a + 256, a - 256, a + 0.5, NaN]) {
    assert.equal(mem.isAllocated(n), false, `${n}`);
  }
  assert.throws(() => mem.frame(-1), MachineMemoryError);
  mem.freeFrame(a);
  assert.equal(mem.isAllocated(a), false);
  assert.throws(() => mem.frame(a), MachineMemoryError);
  assert.equal(mem.allocFrame("d2"), a); // reused, and scrubbed
  assert.equal(mem.frame(a)[0], 0);
});

Deno.test("thousands of frames, beyond the cache of recent ones: each its own bytes, freed ones gone", () => {
  const mem = new MachineMemory(4096 * 4096);
  const mfns = Array.from({ length: 2000 }, () => mem.allocFrame("d1"));
  for (const m of mfns) mem.write(m * PAGE_SIZE + 100, Uint8Array.of(m & 0xff, m >> 8));
  for (const m of mfns) {
    assert.deepEqual([...mem.read(m * PAGE_SIZE + 100, 2)], [m & 0xff, m >> 8], `frame ${m}`);
    assert.equal(mem.hasData(m), true);
  }
  // Around the index's chunk boundaries and numbers that are no frame number.
  assert.ok(mfns.includes(511) && mfns.includes(512) && mfns.includes(1024));
  for (const n of [2 ** 32 + 512, 512.5, -512, 2 ** 32 - 1, Infinity]) {
    assert.equal(mem.isAllocated(n), false, `${n}`);
    assert.equal(mem.hasData(n), false, `${n}`);
  }
  mem.freeFrame(512);
  assert.equal(mem.isAllocated(512), false);
  assert.equal(mem.hasData(512), false);
  assert.throws(() => mem.read(512 * PAGE_SIZE, 1), MachineMemoryError);
  assert.deepEqual([...mem.read(511 * PAGE_SIZE + 100, 2)], [511 & 0xff, 511 >> 8]);
  assert.deepEqual([...mem.read(513 * PAGE_SIZE + 100, 2)], [513 & 0xff, 513 >> 8]);
  assert.equal(mem.allocFrame("d2"), 512); // reused, and scrubbed
  assert.deepEqual([...mem.read(512 * PAGE_SIZE + 100, 2)], [0, 0]);
});

Deno.test("a view kept from a frame's earlier life never reaches the next owner's bytes", () => {
  const mem = new MachineMemory(2048 * 4096);
  const a = mem.allocFrame("d1"), b = mem.allocFrame("d1");
  const stale = mem.frame(a); // e.g. a mapping the old owner kept
  mem.frame(b)[0] = 5;
  mem.freeFrame(a);
  assert.equal(mem.allocFrame("d2"), a); // reused, and scrubbed
  stale.fill(0xee); // the old owner writes through what it kept
  assert.deepEqual(mem.read(a * PAGE_SIZE, 4), new Uint8Array(4));
  mem.write(a * PAGE_SIZE, Uint8Array.of(1, 2, 3, 4)); // the new owner's bytes
  assert.deepEqual([...stale.subarray(0, 4)], [0xee, 0xee, 0xee, 0xee]);
  assert.equal(mem.read(b * PAGE_SIZE, 1)[0], 5); // its neighbour untouched
  // Every frame freed, then used again: still nothing shared.
  mem.freeFrame(a);
  mem.freeFrame(b);
  const c = mem.allocFrame("d3");
  mem.frame(c)[0] = 9;
  stale[0] = 0xaa;
  assert.equal(mem.frame(c)[0], 9);
});

Deno.test("small reads (copied by a loop) and larger ones give the same bytes, across a frame edge too", () => {
  const mem = new MachineMemory(16 * 4096);
  const a = mem.allocFrame("d1"), b = mem.allocFrame("d1");
  assert.equal(b, a + 1);
  const bytes = pattern(2 * PAGE_SIZE, 5);
  mem.write(a * PAGE_SIZE, bytes);
  for (const [off, len] of [[0, 32], [4096 - 20, 40], [100, 64], [100, 65], [4000, 200]]) {
    const want = [...bytes.subarray(off, off + len)];
    assert.deepEqual([...mem.read(a * PAGE_SIZE + off, len)], want, `${off}+${len}`);
    const into = new Uint8Array(len + 3).fill(0xee);
    mem.readInto(a * PAGE_SIZE + off, into, 3, len);
    assert.deepEqual([...into.subarray(0, 3)], [0xee, 0xee, 0xee]);
    assert.deepEqual([...into.subarray(3)], want, `readInto ${off}+${len}`);
  }
});
