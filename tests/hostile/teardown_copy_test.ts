/**
 * Attack: a split guest whose connection dom0 is tearing down keeps polling
 * its CQ. The split datapath runs dom0's half of a poll (copying the CQEs
 * the device wrote into dom0's shadow of the CQ over to the guest's ring,
 * through dom0's grant mappings of the ring's pages) at the poll's call.
 * The backend used to keep that datapath open until the end of the
 * context's close, after it had destroyed the CQ and unmapped its pages:
 * a poll in between copied through dom0 addresses that no longer mapped
 * the attacker's ring — into whatever dom0 had mapped there since, here a
 * page another guest had just registered. The attacker's CQEs landed in the
 * victim's memory.
 *
 * The rule (netback's `xenvif_disconnect_data` stops a vif's threads
 * before `xenvif_unmap_frontend_data_rings`; blkback's
 * `xen_blkif_disconnect` stops its ring's thread before it unmaps): the
 * datapath stops before any of the context's queues is destroyed or
 * unmapped, and a buffer being unmapped is out of reach of dom0's code
 * from the call on (`BackendGrants.unmap` empties it first). DESIGN §9
 * invariants 2 and 6.
 *
 * Timing: the attacker starts polling at the instant dom0 starts to unmap
 * its pages, and the victim registers a buffer at that instant (the test
 * watches dom0's count of the attacker's mappings to find it; an attacker
 * learns it from a twin run: virtual time is deterministic).
 */
import assert from "node:assert/strict";
import { QpType, SendFlags, WrOpcode } from "../../mod.ts";
import { ACCESS, connect, type End, end } from "../xenib_support.ts";
import { backOf, checksum, scene, verdict, VICTIM_BYTE } from "./support.ts";

const VICTIM_PAGES = 64;

Deno.test("teardown copy: a split guest polling while dom0 unmaps its CQ moves nothing into another guest's page", async () => {
  const s = await scene({ attacker: "split" });
  const { evil, hv, victim: v } = s;
  await s.cluster.run(async () => {
    // The attacker: a 4096-entry CQ (32 pages: its unmap takes 64 µs of dom0's time), a QP to a
    // peer, 32 completions waiting in dom0's shadow of the CQ, none polled yet.
    const ctx = await evil.openDevice();
    const pd = await ctx.allocPd();
    const cq = await ctx.createCq(4095);
    const buf = evil.memory.alloc(65536, 4096);
    const mr = await pd.regMr(buf, 65536, ACCESS);
    const qp = await pd.createQp({
      type: QpType.RC,
      sendCq: cq,
      recvCq: cq,
      cap: { maxSendWr: 64, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
    });
    const a: End = { dom: evil, ctx, pd, cq, mr, buf, qp, lid: ctx.queryPort(1).lid };
    const peer = await end(s.bare.os);
    await connect(a, peer);
    for (let i = 0; i < 32; i++) {
      qp.postSend({
        wrId: BigInt(i),
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: buf, length: 8, lkey: mr.lkey }],
        remoteAddr: peer.buf,
        rkey: peer.mr.rkey,
      });
    }
    await s.cluster.sleep(300_000);
    const back = backOf(s, evil);
    const mapped = hv.grantsMappedFrom(evil.domid!);

    // It goes Closing behind its kernel's back: dom0 tears the connection down.
    s.hv.xenstore.write(evil.domid!, `/local/domain/${evil.domid}/device/vib/0/state`, "5");
    while (hv.grantsMappedFrom(evil.domid!) >= mapped) await s.cluster.sleep(50);

    // dom0 has started to unmap the attacker's pages. The victim registers a buffer now…
    const vbuf = v.vm.memory.alloc(VICTIM_PAGES * 4096, 4096);
    v.vm.memory.write(vbuf, new Uint8Array(VICTIM_PAGES * 4096).fill(VICTIM_BYTE));
    const registered = s.cluster.engine.spawn("victim's registration", async () => {
      const m = await v.end.pd.regMr(vbuf, VICTIM_PAGES * 4096, ACCESS);
      await s.cluster.sleep(300_000);
      await m.dereg();
    });
    // …and the attacker polls its CQ every 50 ns.
    const errors = new Set<string>();
    let got = 0;
    for (let i = 0; i < 4000; i++) {
      try {
        got += cq.poll(1).length;
      } catch (e) {
        errors.add(String(e).split("\n")[0]);
      }
      await s.cluster.sleep(50);
    }
    await registered;
    await back.whenDisconnected();

    const changed = v.vm.memory.read(vbuf, VICTIM_PAGES * 4096).findIndex((b) => b !== VICTIM_BYTE);
    assert.equal(changed, -1, `the victim's registered buffer changed at byte ${changed}`);
    // Nothing moved for the attacker once its context began to close, and what its polls met
    // was its own device gone, never dom0's address space.
    assert.equal(got, 0);
    for (const e of errors) assert.match(e, /EIO: .*device disconnected/);
    assert.equal(back.contextCount, 0);
    assert.equal(hv.grantsMappedFrom(evil.domid!), 0);
    v.sum = checksum(v.vm); // its own registration wrote its grant table
    await peer.ctx.close();
    await verdict(s);
  });
});
