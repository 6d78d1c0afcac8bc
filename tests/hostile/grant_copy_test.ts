/**
 * `GNTTABOP_copy` from a hostile guest (DESIGN §9 invariants 2 and 7): the
 * victim's grants (made for dom0, mapped by dom0, or never made), its
 * frames named as the attacker's own, huge lengths, offsets no `uint16_t`
 * holds, counts past the bound and op blocks that fault when read. Each is
 * refused in its op's status or by the call's errno, the victim's memory
 * and table do not move, and the attacker can still copy within itself.
 */
import assert from "node:assert/strict";
import { DOMID_SELF } from "../../hypervisor/args.ts";
import {
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTST,
  GTF_reading,
  GTF_writing,
} from "../../hypervisor/grant_table.ts";
import { checksum, E, frameOf, scene, verdict } from "./support.ts";

const SRC = GNTCOPY_source_gref, DST = GNTCOPY_dest_gref;

Deno.test("grant copy: the victim's grants, frames and hostile op blocks give the attacker nothing", async () => {
  const s = await scene();
  const { evil, victim, hv } = s;
  await s.cluster.run(async () => {
    const v = victim.vm.domid!;
    const me = evil.memory.alloc(2 * 4096, 4096);
    evil.memory.write(me, new Uint8Array(8192).fill(0xaa));
    const mine = { gmfn: me / 4096, domid: DOMID_SELF, offset: 0 };
    const copy = async (ops: unknown) =>
      await hv.hypercall(evil.xen, "grant_table_op:copy", { ops });
    const statuses = async (ops: unknown[]) => {
      const r = await copy(ops);
      assert.equal(r.rc, 0, r.error);
      return (r.value as { status: number }[]).map((o) => o.status);
    };
    // A fresh grant of the victim's for dom0 (not mapped) and every ref of its table: none was
    // made for the attacker, as source or as dest.
    const forDom0 = victim.vm.grants.grantAccessNow(0, victim.end.buf / 4096);
    const refs = Array.from({ length: 64 }, (_, i) => i).concat([forDom0]);
    for (const flags of [SRC, DST]) {
      const ops = refs.map((ref) => {
        const g = { ref, domid: v, offset: 0 };
        return flags === SRC
          ? { source: g, dest: mine, len: 4096, flags }
          : { source: mine, dest: g, len: 4096, flags };
      });
      const got = await statuses(ops);
      assert.ok(got.every((st) => st !== GNTST.okay), `flags ${flags}: ${got}`);
    }
    // The refusals left the victim's entry as it wrote it: it can end its grant.
    assert.equal(victim.vm.grants.readEntry(forDom0).flags & (GTF_reading | GTF_writing), 0);
    victim.vm.grants.endAccessNow(forDom0);
    victim.sum = checksum(victim.vm); // its own grant and its end changed its table
    // The victim's frames named as frames: only DOMID_SELF may name a frame.
    const vFrame = frameOf(victim.vm, victim.end.buf);
    const asVictim = { gmfn: victim.end.buf / 4096, domid: v, offset: 0 };
    assert.deepEqual(
      await statuses([
        { source: asVictim, dest: mine, len: 4096 },
        { source: mine, dest: asVictim, len: 4096 },
        { source: { ...asVictim, domid: 0 }, dest: mine, len: 64 }, // dom0's frame
      ]),
      [GNTST.permission_denied, GNTST.permission_denied, GNTST.permission_denied],
    );
    // Its machine frame number as one of the attacker's own pages: the attacker's page of that
    // number, or none; never the victim's frame.
    const [asOwn] = await statuses([{ source: { ...mine, gmfn: vFrame }, dest: mine, len: 64 }]);
    assert.ok(asOwn === GNTST.okay || asOwn === GNTST.bad_page, `${asOwn}`);
    // Lengths and offsets past a page or past uint16_t, refs past uint32_t.
    const own = { ...mine, gmfn: me / 4096 + 1 };
    const bad = await statuses([
      { source: own, dest: mine, len: 0xffff },
      { source: own, dest: mine, len: 2 ** 53 },
      { source: own, dest: mine, len: -1 },
      { source: { ...own, offset: 0xffff }, dest: mine, len: 1 },
      { source: { ...own, offset: -4096 }, dest: mine, len: 4096 },
      { source: own, dest: { ...mine, offset: 2 ** 32 + 8 }, len: 8 },
      { source: own, dest: { ...mine, offset: 4095 }, len: 4095 },
      { source: { ref: 2 ** 32, domid: v, offset: 0 }, dest: mine, len: 8, flags: SRC },
      { source: { ref: NaN, domid: DOMID_SELF, offset: 0 }, dest: mine, len: 8, flags: SRC },
      { source: own, dest: mine, len: 8, flags: 0x10000 },
    ]);
    assert.deepEqual(bad, [
      GNTST.bad_copy_arg,
      GNTST.bad_copy_arg,
      GNTST.bad_copy_arg,
      GNTST.bad_copy_arg,
      GNTST.bad_copy_arg,
      GNTST.bad_copy_arg,
      GNTST.bad_copy_arg,
      GNTST.bad_gntref,
      GNTST.bad_gntref,
      GNTST.bad_copy_arg,
    ]);
    // Counts past the bound, lists that are not lists, op blocks whose reads fault.
    assert.equal(
      (await copy(new Array(5000).fill({ source: own, dest: mine, len: 1 }))).rc,
      E.EINVAL,
    );
    assert.equal((await copy({ length: 1e9 })).rc, E.EINVAL);
    const trap = {
      get source() {
        throw new Error("unmapped");
      },
    };
    assert.equal((await copy([{ source: own, dest: mine, len: 8 }, trap])).rc, -14);
    // Within itself the attacker may copy, frame to frame and through a grant to itself.
    const toSelf = evil.grants.grantAccessNow(evil.domid!, me / 4096 + 1);
    evil.memory.write(me, new Uint8Array(16).fill(0x33));
    assert.deepEqual(
      await statuses([
        { source: mine, dest: { ref: toSelf, domid: DOMID_SELF, offset: 16 }, len: 16, flags: DST },
      ]),
      [GNTST.okay],
    );
    assert.deepEqual(evil.memory.read(me + 4096 + 16, 16), new Uint8Array(16).fill(0x33));
    evil.grants.endAccessNow(toSelf);
    assert.equal(hv.counters().faults, 0, hv.faultLog().join("; "));
    await verdict(s);
  });
});
