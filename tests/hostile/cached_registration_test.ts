/**
 * The honest program of issue 11, point 1: regMr, dereg (the guest's
 * registration cache keeps the region registered, as MVAPICH's does),
 * free the buffer, open another device context — the UAR page lands on
 * the freed buffer. Nothing hostile, and it used to free a frame the MTT
 * still pointed at; the victim's shutdown then threw MachineMemoryError.
 *
 * Proves: the region the cache keeps keeps its frame (the attacker's, not
 * the heap's) until the cache lets it go; whatever the old keys still do,
 * they reach only that frame; a victim booting meanwhile is untouched and
 * shuts down; the program's own shutdown frees nothing twice; every count
 * comes back; audit clean.
 */
import assert from "node:assert/strict";
import { attacker, finish, frameOf, probeOldKeys, victim, world } from "./support.ts";

Deno.test("cached registration: regMr, dereg (cached), free, openDevice keeps the frame until the cache lets go", async () => {
  const w = await world();
  await w.cluster.run(async () => {
    const { evil, a, peer } = await attacker(w);
    const oldMfn = frameOf(evil, a.buf);
    await a.mr.dereg();
    const mem = w.xen.hw.memory;
    // The program's allocation, plus whatever still pins the page after
    // dereg: dom0's grant mapping and the MTT entry while the cache keeps
    // the region registered.
    const held = mem.refCount(oldMfn);
    assert.ok(held >= 1);
    evil.memory.free(a.buf);
    const ctx2 = await evil.openDevice();
    assert.equal(ctx2.file.uarAddr, a.buf, "the new UAR page landed on the freed buffer");
    const kept = held > 1 ? [oldMfn] : [];
    if (held > 1) {
      assert.equal(mem.ownerOf(oldMfn), `dom${evil.domid}`, "still the program's frame");
      assert.equal(mem.refCount(oldMfn), held - 1, "only the allocation reference went");
    } else {
      assert.equal(mem.isAllocated(oldMfn), false, "nothing held it: back in the heap");
    }
    assert.deepEqual(w.xen.audit(), []);

    const vic = await victim(w, evil, kept);
    await probeOldKeys(w, { a, peer }, oldMfn, vic);
    await finish(w, evil, "shutdown", kept, vic);
  });
});
