/**
 * The guest kernel's event-channel layer (`drivers/xen/evtchn.ts`) holding
 * upcalls back and letting them in again, in bypass and split guests: a
 * completion event dom0 forwards while the guest masks upcalls
 * (`vcpu_info.evtchn_upcall_mask`) waits in the shared-info page and arrives
 * once the guest unmasks (Linux `xen_irq_disable` / `xen_irq_enable`).
 */
import assert from "node:assert/strict";
import { connectPair, QpType, SendFlags, WrOpcode, type XenGuest } from "../mod.ts";
import { EventDispatcher } from "../drivers/xen/evtchn.ts";
import { PCIX_SDR_2006 } from "../sim/mod.ts";
import { ACCESS, cluster, end, xenOf } from "./xenib_support.ts";

for (const driver of ["bypass", "split"] as const) {
  Deno.test(`evtchn dispatcher (${driver}): a completion event waits while upcalls are masked; enableUpcalls lets it in`, async () => {
    const { cluster: c, hosts } = await cluster([true, false], 11);
    const xen = hosts[0];
    const hv = xenOf(xen).hv;
    const vm = await xen.createGuest({ name: "vm", driver }) as XenGuest;
    await c.run(async () => {
      const ctx = await vm.openDevice();
      const pd = await ctx.allocPd();
      const buf = vm.memory.alloc(4096, 4096);
      const mr = await pd.regMr(buf, 4096, ACCESS);
      const ch = ctx.createCompChannel();
      const cq = await ctx.createCq(4, { channel: ch });
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 2, maxRecvWr: 2, maxSendSge: 1, maxRecvSge: 1 },
      });
      const peer = await end(hosts[1].os);
      await connectPair({ qp, lid: ctx.queryPort(1).lid }, peer);
      qp.postRecv({ wrId: 1n, sgList: [{ addr: buf, length: 64, lkey: mr.lkey }] });
      cq.reqNotify(false);
      await c.sleep(100_000);

      const events = EventDispatcher.of(vm.xen);
      const si = vm.xen.sharedInfo;
      const upcalls = hv.counters().upcalls;
      events.disableUpcalls();
      assert.equal(vm.memory.read(vm.xen.sharedInfoAddr + 1, 1)[0], 1, "evtchn_upcall_mask");
      peer.qp.postSend({
        wrId: 1n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: peer.buf, length: 8, lkey: peer.mr.lkey }],
      });
      await c.sleep(500_000);
      assert.equal(ch.pending, 0, "no upcall, so no event reached the channel");
      assert.ok(si.upcallPending, "dom0's notification is pending in the shared-info page");
      const guestUpcalls = hv.counters().upcalls - upcalls;
      await events.enableUpcalls(hv);
      const t = c.now;
      assert.equal(await ch.getEvent({ timeoutNs: 1_000_000 }), cq);
      assert.ok(c.now - t >= PCIX_SDR_2006.xen.upcallNs, "delivered at the hypercall's return");
      assert.equal(hv.counters().upcalls - upcalls, guestUpcalls + 1);
      cq.ackEvents(1);
      assert.equal(cq.poll(4).length, 1);
    });
    await vm.shutdown();
    assert.deepEqual(xen.audit(), []);
  });
}
