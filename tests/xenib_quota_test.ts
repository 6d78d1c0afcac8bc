/**
 * The quotas that are not about holding objects: the `events` quota bounds
 * what dom0 queues for a frontend's event ring (beyond it events are dropped
 * and counted lost, as when the ring itself is full), and every refusal is
 * counted by the host (`counters().quotaRefusals`, by quota).
 */
import assert from "node:assert/strict";
import { connectPair, QpType, SendFlags, WrOpcode, type XenGuest } from "../mod.ts";
import { ACCESS, cluster, end, xenOf } from "./xenib_support.ts";

async function burst(quota: { events: number } | undefined) {
  const { cluster: c, hosts } = await cluster([true, false], 7);
  const xen = hosts[0];
  const vm = await xen.createGuest({ name: "vm", ...(quota ? { quota } : {}) }) as XenGuest;
  const back = () => xenOf(xen).backend!.instances().get(vm.domid!)!;
  let events = 0;
  await c.run(async () => {
    const ctx = await vm.openDevice();
    const pd = await ctx.allocPd();
    const buf = vm.memory.alloc(4096, 4096);
    const mr = await pd.regMr(buf, 4096, ACCESS);
    const ch = ctx.createCompChannel();
    // Four QPs, each receiving on its own armed CQ: one send each from the peer lands at once.
    const mine = [];
    for (let i = 0; i < 4; i++) {
      const cq = await ctx.createCq(4, { channel: ch });
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 2, maxRecvWr: 2, maxSendSge: 1, maxRecvSge: 1 },
      });
      const p = await end(hosts[1].os);
      await connectPair({ qp, lid: ctx.queryPort(1).lid }, p);
      qp.postRecv({ wrId: 1n, sgList: [{ addr: buf, length: 64, lkey: mr.lkey }] });
      cq.reqNotify(false);
      mine.push({ cq, p });
    }
    for (const { p } of mine) {
      p.qp.postSend({
        wrId: 1n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: p.buf, length: 8, lkey: p.mr.lkey }],
      });
    }
    await c.sleep(200_000);
    for (const { cq } of mine) events += cq.poll(4).length;
  });
  const b = back();
  const r = { completions: events, dropped: b.eventsDropped };
  await vm.shutdown();
  assert.deepEqual(xen.audit(), []);
  return r;
}

Deno.test("events quota: what dom0 queues for one guest's event ring is bounded; beyond it, lost", async () => {
  const roomy = await burst(undefined);
  assert.equal(roomy.completions, 4);
  assert.equal(roomy.dropped, 0, "the default quota holds a burst of four");
  const tight = await burst({ events: 1 });
  assert.equal(tight.completions, 4, "the completions themselves are all there");
  assert.ok(tight.dropped >= 1, `events dropped: ${tight.dropped}`);
});

Deno.test("quota refusals: counted by the host, by quota", async () => {
  const { cluster: c, hosts } = await cluster([true]);
  const xen = hosts[0];
  const vm = await xen.createGuest({ name: "vm", quota: { pds: 1, cqs: 0 } }) as XenGuest;
  await c.run(async () => {
    const ctx = await vm.openDevice();
    await ctx.allocPd();
    for (let i = 0; i < 2; i++) await ctx.allocPd().catch(() => {});
    await ctx.createCq(4).catch(() => {});
  });
  const k = xen.counters();
  assert.equal(k.quotaRefusals, 3);
  assert.deepEqual(k.byKind.quotaRefusals, { cqs: 1, pds: 2 });
  await vm.shutdown();
});
