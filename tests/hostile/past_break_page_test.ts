/**
 * Attack (issue 11, point 1, second form): a guest registers a page past
 * its allocator's break — memory it owns but never allocated — then opens
 * a second device context; the allocator hands the page out as the new
 * UAR's address, and the page's frame used to go back to the heap while
 * the MTT still pointed at it.
 *
 * Proves: the frontend and the hypervisor agree that such a page is the
 * guest's to grant (Xen: every pseudo-physical frame of a domain is its
 * own), a page never populated gets its frame at map time; then, as for a
 * freed page, the frame stays the attacker's while referenced, the victim
 * never gets it, old keys reach only it, the victim is unchanged and shuts
 * down, teardown frees nothing twice, counts come back, audit clean.
 */
import assert from "node:assert/strict";
import { ACCESS, xenOf } from "../xenib_support.ts";
import { attacker, finish, frameOf, probeOldKeys, victim, world } from "./support.ts";

const CHUNK = 16; // pages the allocator populates together (sim/address_space.ts)

for (const populated of [true, false]) {
  const kind = populated ? "populated ahead of use" : "never populated";
  Deno.test(`past-break page: a registered page past the break (${kind}) keeps its frame when a UAR lands there`, async () => {
    const w = await world();
    await w.cluster.run(async () => {
      const { evil, a, peer } = await attacker(w);
      // Move the break to just before the page to attack: inside a
      // populated chunk, or right at the start of one never touched.
      let probe = evil.memory.alloc(64, 4096);
      const atChunkStart = (p: number) => (p / 4096 + 1) % CHUNK === 0;
      while (atChunkStart(probe) === populated) {
        probe = evil.memory.alloc(64, 4096);
      }
      const page = probe + 4096;
      assert.equal(evil.space.mfnOf(page / 4096) !== undefined, populated);
      const mr = await a.pd.regMr(page, 4096, ACCESS);
      const oldMfn = frameOf(evil, page); // populated now, by the grant map if not before
      evil.memory.write(page, new Uint8Array(4096).fill(0xaa));

      const ctx2 = await evil.openDevice();
      assert.equal(ctx2.file.uarAddr, page, "the new UAR page landed on the registered page");
      const mem = w.xen.hw.memory;
      assert.equal(mem.ownerOf(oldMfn), `dom${evil.domid}`);
      assert.equal(mem.refCount(oldMfn), 2, "dom0's grant mapping and the MTT entry");
      assert.deepEqual(w.xen.audit(), []);

      const vic = await victim(w, evil, [oldMfn]);
      const { statuses } = await probeOldKeys(w, { a: { ...a, buf: page, mr }, peer }, oldMfn, vic);
      assert.deepEqual(statuses, [0, 0, 0, 0]);
      await finish(w, evil, populated ? "crash" : "shutdown", [oldMfn], vic);
    });
  });
}

Deno.test("past-break page: both layers refuse a page outside the guest's memory", async () => {
  const w = await world();
  await w.cluster.run(async () => {
    const { evil, a } = await attacker(w);
    const outside = evil.space.pages * 4096;
    await assert.rejects(a.pd.regMr(outside, 4096, ACCESS), { code: "EFAULT" });
    const hv = xenOf(w.xen).hv;
    const ref = evil.grants.grantAccessNow(0, outside / 4096);
    const r = await hv.hypercall(hv.dom0, "grant_table_op:map_grant_ref", {
      domid: evil.domid,
      ref,
    });
    assert.equal(r.rc, -22, "the hypervisor refuses it too (EINVAL)");
    evil.grants.endAccessNow(ref);
    assert.deepEqual(w.xen.audit(), []);
  });
});
