/**
 * Grants a guest does not own, or no longer owns (DESIGN §9 invariant 2):
 * pages outside its memory, its UAR page, grants to another domain,
 * read-only grants for a writable region, refs never granted, ended refs,
 * refs of the victim's table, raw rewrites of its own table while dom0
 * maps an entry, and the victim's grants mapped by the attacker itself.
 * Each is refused at map time (the hypervisor's check, not the frontend's
 * word), and nothing of the victim's is ever reached.
 */
import assert from "node:assert/strict";
import { VibOp } from "../../drivers/vib/mod.ts";
import {
  encodeGrantEntry,
  GTF_permit_access,
  GTF_reading,
  GTF_writing,
} from "../../hypervisor/grant_table.ts";
import { SendFlags, WcStatus, WrOpcode } from "../../mod.ts";
import { connect, end } from "../xenib_support.ts";
import { backOf, checksum, ctxId, E, raw, scene, verdict, VICTIM_BYTE } from "./support.ts";

Deno.test("grants: foreign, stale, read-only and never-granted refs are refused when dom0 maps them", async () => {
  const s = await scene();
  const { evil, victim } = s;
  await s.cluster.run(async () => {
    const ctx = await evil.openDevice();
    const pd = await ctx.allocPd();
    const me = ctxId(ctx);
    const buf = evil.memory.alloc(4096, 4096);
    const reg = (ref: number, access = 1) =>
      raw(evil, {
        op: VibOp.REG_MR,
        ctx: me,
        handle: pd.handle,
        body: { addr: buf, length: 4096, access, nrPages: 1 },
        segs: [ref],
      });
    const g = evil.grants;
    // Its own kernel would refuse these; the entries are written raw, as a hostile kernel does.
    const forge = (ref: number, frame: number, flags = GTF_permit_access, domid = 0) => {
      evil.memory.write(g.entryAddr(ref), encodeGrantEntry({ flags, domid, frame }));
      return ref;
    };
    assert.equal(await reg(forge(400, (64 << 20) / 4096 + 10)), E.EINVAL, "beyond its memory");
    assert.equal(await reg(forge(401, ctx.file.uarAddr / 4096)), E.EINVAL, "its UAR page");
    assert.equal(await reg(forge(402, buf / 4096, GTF_permit_access, victim.vm.domid!)), E.EPERM);
    assert.equal(
      await reg(g.grantAccessNow(0, buf / 4096, true)),
      E.EPERM,
      "read-only for a writable region",
    );
    assert.equal(await reg(450), E.EINVAL, "a ref never granted");
    // Stale: granted, ended, then named again.
    const ended = g.grantAccessNow(0, buf / 4096);
    g.endAccessNow(ended);
    assert.equal(await reg(ended), E.EINVAL, "an ended grant");
    // The victim's refs name entries of the attacker's own table, not the victim's.
    const vref = victim.vm.grants.grantAccessNow(0, victim.end.buf / 4096);
    if (g.readEntry(vref).flags === 0) assert.equal(await reg(vref), E.EINVAL);
    victim.vm.grants.endAccessNow(vref);
    // The victim's grant mapped by the attacker itself: only dom0 was granted it.
    const vref2 = victim.vm.grants.grantAccessNow(0, victim.end.buf / 4096);
    const m = await s.hv.hypercall(evil.xen, "grant_table_op:map_grant_ref", {
      domid: victim.vm.domid,
      ref: vref2,
      readonly: false,
    });
    assert.equal(m.rc, E.EPERM);
    victim.vm.grants.endAccessNow(vref2);
    assert.equal(backOf(s, evil).refused.EIO ?? 0, 0);
    assert.ok(backOf(s, evil).connected);
    victim.sum = checksum(victim.vm); // its own grants changed its table
    await verdict(s);
  });
});

Deno.test("grants: one ref named in 129 registrations gets dom0's 129th mapping refused, as Xen's pin counter does; the victim registers as before", async () => {
  // grant_table.c map_grant_ref(): dom0 may hold at most 128 writable mappings of one grant
  // (an 8-bit pin counter, GNTPIN_incr2oflow_mask: GNTST_general_error). The model used to let
  // a guest have dom0 pin one grant as many times as its grantMaps quota allowed.
  const s = await scene();
  const { evil, victim } = s;
  await s.cluster.run(async () => {
    const ctx = await evil.openDevice();
    const pd = await ctx.allocPd();
    const me = ctxId(ctx);
    const buf = evil.memory.alloc(4096, 4096);
    const ref = evil.grants.grantAccessNow(0, buf / 4096);
    const reg = () =>
      raw(evil, {
        op: VibOp.REG_MR,
        ctx: me,
        handle: pd.handle,
        body: { addr: buf, length: 4096, access: 1, nrPages: 1 },
        segs: [ref],
      });
    for (let i = 0; i < 128; i++) assert.equal(await reg(), 0, `registration ${i}`);
    assert.equal(await reg(), -75, "EOVERFLOW: the 129th mapping of the grant");
    assert.equal(backOf(s, evil).lastRefusal?.includes("EOVERFLOW"), true);
    assert.ok(backOf(s, evil).connected);
    // The victim's registrations map its own grants, whatever the attacker's counters say.
    const mr = await victim.end.pd.regMr(victim.end.buf, 4096, 1);
    await mr.dereg();
    victim.sum = checksum(victim.vm); // its own grants changed its table
    await verdict(s);
  });
});

Deno.test("grants: rewriting a registered page's entry moves nothing; the MTT keeps the frame dom0 mapped", async () => {
  const s = await scene();
  const { evil, victim } = s;
  await s.cluster.run(async () => {
    const a = await end(evil, 8192, { regCache: false });
    const peer = await end(s.bare.os);
    await connect(a, peer);
    // Find the grant of its region's first page and point it at the second, then at the UAR.
    const g = evil.grants;
    const pfn = a.buf / 4096;
    let ref = -1;
    for (let r = 8; r < g.size && ref < 0; r++) {
      const e = g.readEntry(r);
      if (e.frame === pfn && e.domid === 0 && (e.flags & GTF_permit_access)) ref = r;
    }
    assert.ok(ref >= 8, "the region's grant");
    evil.memory.write(
      g.entryAddr(ref),
      encodeGrantEntry({ flags: GTF_permit_access, domid: victim.vm.domid!, frame: pfn + 1 }),
    );
    evil.memory.write(a.buf, new Uint8Array(16).fill(0x31));
    evil.memory.write(a.buf + 4096, new Uint8Array(16).fill(0x32));
    a.qp.postSend({
      wrId: 1n,
      opcode: WrOpcode.RDMA_WRITE,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: a.buf, length: 16, lkey: a.mr.lkey }],
      remoteAddr: peer.buf,
      rkey: peer.mr.rkey,
    });
    assert.equal((await a.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
    assert.deepEqual(
      s.bare.os.memory.read(peer.buf, 16),
      new Uint8Array(16).fill(0x31),
      "the device read the page dom0 mapped, not what the entry says now",
    );
    assert.ok(!s.bare.os.memory.read(peer.buf, 16).includes(VICTIM_BYTE));
    await peer.ctx.close();
    await verdict(s);
  });
});

Deno.test("grants: a guest that marks its own grants in use still shuts down, and can be crashed after", async () => {
  // Its own kernel then cannot end those grants; dom0 and Xen must still take it down.
  for (const then of ["shutdown", "crash"] as const) {
    const s = await scene();
    const { evil } = s;
    await s.cluster.run(async () => {
      const a = await end(evil, 8192, { regCache: false });
      const g = evil.grants;
      for (let r = 8; r < 64; r++) {
        const e = g.readEntry(r);
        if (e.domid === 0 && (e.flags & GTF_permit_access)) {
          // Xen's "mapped" bits, set by the guest itself: its own kernel now believes dom0 maps them.
          evil.memory.write(
            g.entryAddr(r),
            encodeGrantEntry({ ...e, flags: e.flags | GTF_reading | GTF_writing }),
          );
        }
      }
      void a;
      if (then === "crash") {
        await evil.shutdown().catch(() => {});
        evil.crash();
      }
      await verdict(s, { attacker: "shutdown" });
    });
  }
});
