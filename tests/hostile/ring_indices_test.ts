/**
 * Ring index abuse (DESIGN §9 invariant 5; io/ring.h): a frontend that
 * publishes an impossible `req_prod` (more than a ring ahead, or backwards)
 * or an impossible event-ring `cons` is disconnected: the backend tears its
 * contexts down and goes Closed, the guest keeps running without the
 * device. A frontend that scribbles on `rsp_prod` (the backend's index)
 * breaks only its own view. Others never notice.
 */
import assert from "node:assert/strict";
import { QpType, SendFlags, WrOpcode } from "../../mod.ts";
import { connect, end } from "../xenib_support.ts";
import { backOf, scene, verdict } from "./support.ts";

for (const [what, move] of [["ahead", 1000], ["behind", -3]] as const) {
  Deno.test(`ring indices: req_prod ${what === "ahead" ? "more than a ring ahead" : "going backwards"} gets the frontend disconnected`, async () => {
    const s = await scene();
    const { evil } = s;
    await s.cluster.run(async () => {
      await end(evil);
      const ring = evil.front.ring;
      ring.shared.reqProd = (ring.shared.reqProd + move) >>> 0;
      await s.hv.evtchnSend(evil.xen, evil.front.port);
      await s.cluster.sleep(200_000);
      const back = backOf(s, evil);
      assert.match(back.closeReason ?? "", /hostile frontend/);
      assert.equal(back.contextCount, 0, "its contexts were torn down");
      assert.deepEqual(evil.devices(), [], "the guest kernel lost the device");
      assert.ok(evil.running, "a disconnect, not a kill");
      await assert.rejects(evil.openDevice(), /ENODEV/);
      await verdict(s, { attacker: "shutdown" });
    });
  });
}

Deno.test("ring indices: an impossible event-ring cons gets the frontend disconnected at the next event", async () => {
  const s = await scene();
  const { evil } = s;
  await s.cluster.run(async () => {
    const e = await end(evil), n = await end(s.bare.os);
    const ch = e.ctx.createCompChannel();
    const cq = await e.ctx.createCq(8, { channel: ch });
    const cap = { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 };
    const qp = await e.pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
    await connect({ ...e, qp }, n);
    // cons far ahead of anything the backend produced.
    const dv = new DataView(new ArrayBuffer(4));
    dv.setUint32(0, 0x7000_0000, true);
    evil.memory.write(evil.front.eventRingAddr + 4, new Uint8Array(dv.buffer));
    cq.reqNotify(false);
    qp.postSend({
      wrId: 1n,
      opcode: WrOpcode.RDMA_WRITE,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: e.buf, length: 8, lkey: e.mr.lkey }],
      remoteAddr: n.buf,
      rkey: n.mr.rkey,
    });
    await s.cluster.sleep(1_000_000);
    assert.match(backOf(s, evil).closeReason ?? "", /hostile frontend: event ring/);
    assert.deepEqual(evil.devices(), []);
    assert.equal(ch.pending, 0, "no event was delivered from a broken ring");
    await n.ctx.close();
    await verdict(s);
  });
});

Deno.test("ring indices: a frontend scribbling on rsp_prod breaks only its own view of the ring", async () => {
  const s = await scene({ attacker: "split" });
  const { evil } = s;
  await s.cluster.run(async () => {
    const e = await end(evil);
    evil.front.ring.shared.rspProd = 0x4000_0000;
    // Its next request finds responses it cannot believe: its own kernel gives up the device.
    await assert.rejects(e.ctx.allocPd(), /EIO/);
    assert.match(evil.front.deadReason ?? "", /rsp_prod|ring/);
    assert.deepEqual(evil.devices(), []);
    await verdict(s, { attacker: "shutdown" });
  });
});

Deno.test("ring indices: a guest shutting down just as dom0 finished disconnecting it dies cleanly", async () => {
  // Regression (found by deno task fuzz): the frontend's own close (shutdown) and the one the
  // backend's Closed started raced; the second switched a device the first had disposed, the
  // clean shutdown threw half-way, and a crash afterwards did nothing: a domain that never died.
  const s = await scene();
  const { evil } = s;
  await s.cluster.run(async () => {
    await end(evil);
    const back = backOf(s, evil);
    evil.front.ring.shared.reqProd = (evil.front.ring.shared.reqProd + 1000) >>> 0;
    await s.hv.evtchnSend(evil.xen, evil.front.port);
    await back.whenDisconnected(); // dom0 let go (Closing): the frontend's own close of its side starts now
    await evil.shutdown(); // and the guest shuts down in the middle of it
    assert.equal(evil.xen.state, "dead");
    await verdict(s);
  });
});
