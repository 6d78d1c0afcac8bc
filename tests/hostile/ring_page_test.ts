/**
 * Attack (issue 11, point 1, third form): a guest frees the pages of its
 * own shared request ring and event ring — granted to dom0 and mapped by
 * the backend for the life of the device — and opens device contexts so
 * that UAR pages land on them. The ring frames used to go back to the
 * heap while dom0 still read requests from one and wrote events into the
 * other; the next guest's memory would have become dom0's ring.
 *
 * Proves: dom0's grant mappings keep both frames allocated (and the
 * attacker's) until the backend lets go; the ring keeps working through
 * them; the victim never gets them and is unchanged; the attacker's keys
 * reach only its own memory; teardown frees nothing twice; counts come
 * back; audit clean.
 */
import assert from "node:assert/strict";
import { VIB_KEYS } from "../../drivers/vib/mod.ts";
import { xenOf } from "../xenib_support.ts";
import { attacker, finish, frameOf, probeOldKeys, victim, world } from "./support.ts";

for (const how of ["crash", "shutdown"] as const) {
  Deno.test(`ring page: freed ring and event-ring pages stay dom0's ring, not the next guest's memory (attacker ${how === "crash" ? "crashes" : "shuts down"})`, async () => {
    const w = await world();
    const hv = xenOf(w.xen).hv;
    await w.cluster.run(async () => {
      const { evil, a, peer } = await attacker(w);
      const ringRef = Number(
        hv.xenstore.read(evil.xen.domid, `${evil.front.o.paths.frontend}/${VIB_KEYS.ringRef}`),
      );
      const ringAddr = evil.grants.readEntry(ringRef).frame * 4096;
      const evAddr = evil.front.eventRingAddr;
      const kept = [frameOf(evil, ringAddr), frameOf(evil, evAddr)];
      evil.memory.free(ringAddr);
      evil.memory.free(evAddr);
      const c2 = await evil.openDevice();
      const c3 = await evil.openDevice();
      assert.deepEqual(
        [c2.file.uarAddr, c3.file.uarAddr].sort(),
        [ringAddr, evAddr].sort(),
        "UAR pages landed on both ring pages",
      );
      const mem = w.xen.hw.memory;
      for (const mfn of kept) {
        assert.equal(mem.ownerOf(mfn), `dom${evil.domid}`);
        assert.equal(mem.refCount(mfn), 1, "held by dom0's grant mapping");
      }
      // The device still works over the kept frames: requests and answers.
      const pd = await c3.allocPd();
      await pd.dealloc();
      assert.deepEqual(w.xen.audit(), []);

      const vic = await victim(w, evil, kept);
      await probeOldKeys(w, { a, peer }, frameOf(evil, a.buf), vic);
      await finish(w, evil, how, kept, vic);
    });
  });
}
