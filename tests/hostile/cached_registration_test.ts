/**
 * The honest program of issue 11, point 1: regMr, dereg, free the buffer,
 * open another device context — the UAR page lands on the freed buffer.
 * Nothing hostile, and it used to free a frame the MTT still pointed at (the
 * guest's registration cache kept the region registered); the victim's
 * shutdown then threw MachineMemoryError.
 *
 * Now (issue 11, point 2) dereg means what it means on bare metal: the keys
 * die at once; what the registration cache keeps is dom0's grant mapping of
 * the page (a persistent grant), which holds the frame like any mapping.
 * Proves: after dereg the frame is held by the allocation and dom0's cached
 * mapping only (no MTT pin); once the UAR replaces the page, the frontend
 * gives that grant back (dom0 unmaps it first) and the frame returns to the
 * heap — never to the next guest while anything maps it; the old keys fail
 * everywhere; a victim booting meanwhile is untouched and shuts down; every
 * count comes back; audit clean.
 */
import assert from "node:assert/strict";
import { WcStatus } from "../../mod.ts";
import { xenOf } from "../xenib_support.ts";
import { attacker, finish, frameOf, probeOldKeys, victim, world } from "./support.ts";

Deno.test("cached registration: regMr, dereg, free, openDevice — the keys are dead, the cached grant goes back before the frame does", async () => {
  const w = await world();
  await w.cluster.run(async () => {
    const { evil, a, peer } = await attacker(w);
    const oldMfn = frameOf(evil, a.buf);
    const back = xenOf(w.xen).backend!.instances().get(evil.domid!)!;
    await a.mr.dereg();
    const mem = w.xen.hw.memory;
    assert.equal(mem.refCount(oldMfn), 2, "the program's allocation and dom0's cached mapping");
    const pinned = [...xenOf(w.xen).driver.pinnedFrames()].map((p) => p.mfn);
    assert.ok(!pinned.includes(oldMfn), "no MTT entry reaches the page after dereg");
    assert.equal(back.grants.cachedIdle, 1, "dom0 keeps the page's grant mapped");
    evil.memory.free(a.buf);
    const ctx2 = await evil.openDevice();
    assert.equal(ctx2.file.uarAddr, a.buf, "the new UAR page landed on the freed buffer");
    assert.equal(back.grants.cachedIdle, 0, "the frontend asked dom0 to drop the stale grant");
    assert.equal(evil.front.persistent.size, 0);
    assert.equal(mem.isAllocated(oldMfn), false, "nothing holds it any more: back in the heap");
    assert.deepEqual(w.xen.audit(), []);

    const vic = await victim(w, evil, []);
    const { statuses } = await probeOldKeys(w, { a, peer }, oldMfn, vic);
    assert.deepEqual(
      statuses,
      [
        WcStatus.LOC_PROT_ERR, // the old lkey, as on bare metal; the QP goes to error
        WcStatus.WR_FLUSH_ERR,
        WcStatus.RETRY_EXC_ERR, // the peer's write with the old rkey: that QP no longer answers
        WcStatus.WR_FLUSH_ERR,
      ],
      "every old key fails",
    );
    await finish(w, evil, "shutdown", [], vic);
  });
});
