/**
 * Attack (issue 11, point 1): a guest registers a page for RDMA, frees it,
 * and opens a second device context, so that dom0 has the hypervisor map
 * the new UAR page over the freed page. The page's frame used to go back
 * to the heap while dom0 still mapped it and the HCA's MTT still pointed
 * at it; the next guest got it, and the attacker read and wrote that
 * guest's memory through its old keys.
 *
 * Proves (DESIGN §9 invariant 8): the frame stays allocated — and the
 * attacker's — while the MTT and dom0's grant mapping reference it; the
 * victim booting afterwards never gets it; the attacker's old lkey and its
 * peer's old rkey reach only that frame; the victim's memory is unchanged;
 * the attacker's crash or shutdown frees nothing twice and raises no
 * fault; the victim shuts down; every count is back and the audit is
 * clean.
 */
import assert from "node:assert/strict";
import { end } from "../xenib_support.ts";
import { attacker, finish, frameOf, probeOldKeys, victim, world } from "./support.ts";

for (const how of ["crash", "shutdown"] as const) {
  Deno.test(`freed page: a UAR mapped over a freed registered page keeps its frame from the next guest (attacker ${how === "crash" ? "crashes" : "shuts down"})`, async () => {
    const w = await world();
    await w.cluster.run(async () => {
      const { evil, a, peer } = await attacker(w);
      const oldMfn = frameOf(evil, a.buf);
      evil.memory.free(a.buf);
      const ctx2 = await evil.openDevice();
      assert.equal(ctx2.file.uarAddr, a.buf, "the new UAR page landed on the freed page");
      assert.notEqual(frameOf(evil, a.buf), oldMfn);
      const mem = w.xen.hw.memory;
      assert.equal(mem.isAllocated(oldMfn), true, "the frame is still allocated");
      assert.equal(mem.ownerOf(oldMfn), `dom${evil.domid}`);
      assert.equal(mem.refCount(oldMfn), 2, "dom0's grant mapping and the MTT entry");
      assert.deepEqual(w.xen.audit(), []);

      const vic = await victim(w, evil, [oldMfn]);
      const { statuses } = await probeOldKeys(w, { a, peer }, oldMfn, vic);
      assert.deepEqual(statuses, [0, 0, 0, 0], "the region is still registered: its keys work");
      await finish(w, evil, how, [oldMfn], vic);
    });
  });
}

Deno.test("freed page: on bare metal the MTT pin keeps a freed registered page's frame until the region goes", async () => {
  const w = await world();
  await w.cluster.run(async () => {
    const os = w.bare.os;
    const mem = w.bare.hw.memory;
    const p = await end(os, 4096);
    const oldMfn = frameOf(os, p.buf);
    os.memory.free(p.buf);
    const ctx2 = await os.openDevice();
    assert.equal(ctx2.file.uarAddr, p.buf, "the new UAR page landed on the freed page");
    assert.equal(mem.isAllocated(oldMfn), true, "pinned by the MTT entry");
    assert.equal(mem.refCount(oldMfn), 1);
    assert.deepEqual(w.bare.audit(), []);
    const before = mem.allocated;
    await p.ctx.close(); // deregisters the region: the last reference goes
    assert.equal(mem.isAllocated(oldMfn), false);
    assert.ok(mem.allocated < before);
    assert.deepEqual(w.bare.audit(), []);
  });
});
