/**
 * Machine frames' reference counts (`sim/memory.ts`, Xen's get_page /
 * put_page), how address spaces hold them (`sim/address_space.ts`), and
 * the frame census that audits them (`sim/frame_audit.ts`).
 */
import assert from "node:assert/strict";
import { AddressSpace, auditFrames, MachineMemory, MachineMemoryError, Prng } from "../sim/mod.ts";

const io = () => ({
  mmioWrite() {},
  mmioRead: (_m: number, _o: number, n: number) => new Uint8Array(n),
});

Deno.test("memory: a frame returns to the heap only at its last put", () => {
  const mem = new MachineMemory(1 << 20);
  const freed: [number, string][] = [];
  mem.onFrameFreed((m, o) => freed.push([m, o]));
  const f = mem.allocFrame("dom1");
  assert.deepEqual(mem.frameInfo(f), { mfn: f, owner: "dom1", count: 1, allocated: true });
  mem.write(f * 4096, new Uint8Array([9]));
  mem.getPage(f); // a mapping
  mem.getPage(f); // an MTT pin
  mem.freeFrame(f); // the owner gives it back
  assert.deepEqual(mem.frameInfo(f), { mfn: f, owner: "dom1", count: 2, allocated: false });
  assert.equal(mem.ownedBy("dom1"), 1, "still the owner's while referenced");
  assert.equal(mem.read(f * 4096, 1)[0], 9, "contents intact while referenced");
  assert.equal(mem.putPage(f), false);
  assert.deepEqual(freed, []);
  assert.equal(mem.putPage(f), true, "the last put frees it");
  assert.deepEqual(freed, [[f, "dom1"]]);
  assert.equal(mem.isAllocated(f), false);
  assert.equal(mem.ownedBy("dom1"), 0);
  const g = mem.allocFrame("dom2");
  assert.equal(g, f, "reused");
  assert.equal(mem.read(g * 4096, 1)[0], 0, "scrubbed");
});

Deno.test("memory: double frees, stray puts and references to free frames are refused", () => {
  const mem = new MachineMemory(1 << 20);
  const f = mem.allocFrame("dom1");
  assert.throws(() => mem.putPage(f), MachineMemoryError, "a put nobody took");
  assert.equal(mem.refCount(f), 1, "the refused put changed nothing");
  mem.getPage(f);
  mem.freeFrame(f);
  assert.throws(() => mem.freeFrame(f), /already gave it back/);
  mem.putPage(f);
  assert.throws(() => mem.freeFrame(f), /unallocated/);
  assert.throws(() => mem.getPage(f), /unallocated/);
  assert.throws(() => mem.putPage(f), MachineMemoryError);
});

Deno.test("memory: I/O frames are counted but never freed", () => {
  const mem = new MachineMemory(1 << 20);
  const uar = mem.attachMmio(2, io());
  mem.getPage(uar);
  mem.getPage(uar);
  assert.equal(mem.refCount(uar), 2);
  assert.deepEqual(mem.referencedIoFrames(), [{ mfn: uar, count: 2 }]);
  assert.equal(mem.putPage(uar), false);
  assert.equal(mem.putPage(uar), false);
  assert.deepEqual(mem.referencedIoFrames(), []);
  assert.throws(() => mem.freeFrame(uar), /unallocated/);
  assert.throws(() => mem.putPage(uar), MachineMemoryError);
});

Deno.test("address space: a foreign mapping over an own page gives the page back, a pinned frame stays", () => {
  const mem = new MachineMemory(4 << 20);
  const as = new AddressSpace(mem, "dom1", 1 << 20, new Prng(1));
  const uar = mem.attachMmio(1, io());
  const a = as.alloc(4096, 4096);
  const b = as.alloc(4096, 4096);
  const fa = as.mfnOf(a / 4096)!, fb = as.mfnOf(b / 4096)!;
  mem.getPage(fb); // a device pins b's frame
  as.free(a);
  as.free(b);
  const owned = as.framesOwned;
  const u1 = as.mapForeign(uar);
  const u2 = as.mapForeign(uar);
  assert.deepEqual([u1, u2], [a, b], "the mappings land on the freed pages");
  assert.equal(as.framesOwned, owned - 2);
  assert.equal(mem.isAllocated(fa), false, "unreferenced: back in the heap");
  assert.equal(mem.isAllocated(fb), true, "pinned: kept");
  assert.deepEqual(mem.frameInfo(fb), { mfn: fb, owner: "dom1", count: 1, allocated: false });
  assert.equal(mem.refCount(uar), 2, "one reference per mapping");
  assert.deepEqual(
    auditFrames(mem, {
      spaces: [as],
      references: [{ mfn: fb, kind: "pin", holder: "the device" }],
    }),
    [],
  );
  as.unmapForeign(u1);
  assert.equal(mem.refCount(uar), 1);
  as.releaseAll();
  assert.equal(mem.refCount(uar), 0);
  assert.equal(mem.isAllocated(fb), true, "teardown does not free a pinned frame");
  assert.equal(mem.ownedBy("dom1"), 1);
  mem.putPage(fb);
  assert.equal(mem.allocated, 0);
  // A torn-down space gets no memory again (code of a dead domain that still runs: EFAULT).
  assert.throws(() => as.alloc(4096), { name: "AddressSpaceError", code: "EFAULT" });
  assert.throws(() => as.populatePage(3), { code: "EFAULT" });
  assert.throws(() => as.mapForeign(uar), { code: "EFAULT" });
  assert.equal(mem.allocated, 0, "no frame allocated to the dead owner");
});

Deno.test("address space: own pages are every page of the space, populated on demand", () => {
  const mem = new MachineMemory(4 << 20);
  const as = new AddressSpace(mem, "dom1", 1 << 20, new Prng(1));
  const other = mem.allocFrame("dom2");
  const m = as.mapForeign(other);
  assert.equal(as.isOwnPage(0), false, "page 0 is never valid");
  assert.equal(as.isOwnPage(as.pages), false, "past the space");
  assert.equal(as.isOwnPage(1.5), false);
  assert.equal(as.isOwnPage(m / 4096), false, "a foreign mapping");
  assert.equal(as.isOwnPage(200), true, "never allocated, still its own");
  assert.equal(as.mfnOf(200), undefined);
  const f = as.populatePage(200)!;
  assert.equal(as.mfnOf(200), f);
  assert.equal(mem.ownerOf(f), "dom1");
  assert.equal(as.populatePage(200), f, "populated once");
  assert.equal(as.populatePage(m / 4096), undefined);
  assert.deepEqual(
    auditFrames(mem, {
      spaces: [as],
      references: [{ mfn: other, kind: "allocation", holder: "dom2", owner: "dom2" }],
    }),
    [],
  );
});

Deno.test("address space: a chunk that cannot be populated whole takes no frame", () => {
  const mem = new MachineMemory(8 * 4096); // frames 1..7
  const as = new AddressSpace(mem, "dom1", 1 << 20, new Prng(1));
  assert.throws(() => as.populatePage(20), /no machine frame/);
  assert.equal(mem.allocated, 0, "the frames taken before the failure went back");
});

Deno.test("census: a reference nobody accounts for, a frame freed under a mapping, a leak", () => {
  const mem = new MachineMemory(4 << 20);
  const as = new AddressSpace(mem, "dom1", 1 << 20, new Prng(1));
  const a = as.alloc(4096, 4096);
  const f = as.mfnOf(a / 4096)!;
  assert.deepEqual(auditFrames(mem, { spaces: [as] }), []);

  mem.getPage(f);
  const extra = auditFrames(mem, { spaces: [as] });
  assert.deepEqual(extra.map((v) => v.rule), ["count-mismatch"]);
  assert.match(extra[0].message, new RegExp(`frame ${f} \\(dom1\\): reference count 2, but 1`));
  mem.putPage(f);

  const stray = mem.allocFrame("dom9");
  const leak = auditFrames(mem, { spaces: [as] });
  assert.deepEqual(leak.map((v) => [v.rule, v.mfn]), [["leak", stray]]);
  mem.freeFrame(stray);

  // The owner's allocation reference dropped behind the space's back: the
  // frame is free while the space still maps it as its own.
  mem.freeFrame(f);
  const uaf = auditFrames(mem, { spaces: [as] });
  assert.deepEqual(uaf.map((v) => v.rule), ["free-referenced"]);
  assert.match(uaf[0].message, /is free, yet referenced by dom1 page/);
});
