/**
 * Attack (issue 11, point 1, second form): a guest registers a page past
 * its allocator's break — memory it owns but never allocated — then opens
 * a second device context; the allocator hands the page out as the new
 * UAR's address, and the page's frame used to go back to the heap while
 * the MTT still pointed at it.
 *
 * Proves: a page past the break that the program's memory populated (in a
 * chunk the allocator populated ahead of use) is mapped memory, which the
 * frontend registers as bare metal would; a page never populated is not
 * (the frontend refuses it with EFAULT before anything reaches dom0, as the
 * guest kernel's get_user_pages would), so the attacker's kernel grants it
 * by itself and sends REG_MR raw: the hypervisor agrees that the page is
 * the guest's to grant (Xen: every pseudo-physical frame of a domain is its
 * own) and gives it its frame at map time. Either way, as for a freed page,
 * the frame stays the attacker's while referenced, the victim never gets
 * it, old keys reach only it, the victim is unchanged and shuts down,
 * teardown frees nothing twice, counts come back, audit clean.
 */
import assert from "node:assert/strict";
import type { Mr } from "../../mod.ts";
import { VibOp } from "../../drivers/vib/mod.ts";
import { ACCESS, xenOf } from "../xenib_support.ts";
import { attacker, ctxId, finish, frameOf, probeOldKeys, victim, world } from "./support.ts";

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
      let mr: Pick<Mr, "lkey" | "rkey">;
      if (populated) mr = await a.pd.regMr(page, 4096, ACCESS);
      else {
        // Not mapped memory: the frontend refuses it, as get_user_pages would.
        const sent = w.xen.counters().backendRequests;
        await assert.rejects(a.pd.regMr(page, 4096, ACCESS), {
          code: "EFAULT",
          message: /is not mapped memory/,
        });
        assert.equal(w.xen.counters().backendRequests, sent, "nothing reached dom0");
        assert.equal(evil.space.mfnOf(page / 4096), undefined, "still no frame");
        // The attacker's kernel grants the page itself and registers it raw.
        const ref = evil.grants.grantAccessNow(0, page / 4096, false);
        const r = await evil.front.requestRaw({
          op: VibOp.REG_MR,
          flags: 0,
          ctx: ctxId(a.ctx),
          handle: a.pd.handle,
          body: { addr: page, length: 4096, access: ACCESS, nrPages: 1 },
          segs: [ref],
        });
        assert.equal(r!.status, 0);
        mr = { lkey: Number(r!.body.lkey), rkey: Number(r!.body.rkey) };
      }
      const oldMfn = frameOf(evil, page); // populated now, by the grant map if not before
      evil.memory.write(page, new Uint8Array(4096).fill(0xaa));

      const ctx2 = await evil.openDevice();
      assert.equal(ctx2.file.uarAddr, page, "the new UAR page landed on the registered page");
      const mem = w.xen.hw.memory;
      assert.equal(mem.ownerOf(oldMfn), `dom${evil.domid}`);
      assert.equal(mem.refCount(oldMfn), 2, "dom0's grant mapping and the MTT entry");
      assert.deepEqual(w.xen.audit(), []);

      const vic = await victim(w, evil, [oldMfn]);
      const { statuses } = await probeOldKeys(
        w,
        { a: { ...a, buf: page, mr: mr as Mr }, peer },
        oldMfn,
        vic,
      );
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
