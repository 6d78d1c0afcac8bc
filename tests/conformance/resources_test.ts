/**
 * Object lifetimes: destroying an object others still use fails with EBUSY
 * (a PD with MRs/QPs, a CQ with QPs, an SRQ with QPs), while a QP with
 * work in flight may be destroyed (verbs does not wait); closing a context
 * returns every device resource; a CQ that overruns raises CQ_ERR; a
 * deregistered region's key stops working even when its MPT entry is
 * reused; a doorbell on one context's UAR page cannot drive another
 * context's QP.
 */
import assert from "node:assert/strict";
import { doorbellBytes, sendDoorbellWord, UarOffset } from "../../hca/uar.ts";
import { connectQp, EventType, QpType, SendFlags, WcStatus, WrOpcode } from "../../mod.ts";
import { ALL_ACCESS, CONNECT, pair, rejects, side, twoHosts } from "./helpers.ts";

Deno.test("destroy while busy: EBUSY until the users are gone", async () => {
  const { cluster, a, b } = await twoHosts();
  await cluster.run(async () => {
    const x = await side(a), y = await side(b);
    const [qx] = await pair(x, y, QpType.RC);
    const srq = await x.pd.createSrq({ maxWr: 4, maxSge: 1 });
    const cap = { maxSendWr: 2, maxRecvWr: 0, maxSendSge: 1, maxRecvSge: 0 };
    const onSrq = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, srq, cap });
    const ah = await x.pd.createAh({ dlid: y.lid });
    await rejects(() => x.cq.destroy(), "EBUSY");
    await rejects(() => srq.destroy(), "EBUSY");
    await rejects(() => x.pd.dealloc(), "EBUSY");
    await qx.destroy();
    await rejects(() => x.cq.destroy(), "EBUSY"); // onSrq still uses it
    await onSrq.destroy();
    await srq.destroy();
    await x.cq.destroy();
    await rejects(() => x.pd.dealloc(), "EBUSY"); // the MR and the AH
    await x.mr.dereg();
    await rejects(() => x.pd.dealloc(), "EBUSY"); // the AH
    await ah.destroy();
    await x.pd.dealloc();
    // A destroyed object's handle is gone for good.
    await rejects(() => x.mr.dereg(), "EINVAL");
  });
});

Deno.test("closing a context returns every device resource it held", async () => {
  const cluster = new (await import("../../mod.ts")).Cluster({ profile: "pcix-sdr-2006", seed: 3 });
  const h = cluster.addHost({ name: "a", hypervisor: false });
  cluster.addHost({ name: "b", hypervisor: false });
  await cluster.start();
  const before = h.hca.stats().used;
  await cluster.run(async () => {
    const x = await side(h.os);
    const mid = h.hca.stats().used;
    assert.equal(mid.pd, before.pd + 1);
    assert.equal(mid.mr, before.mr + 2, "the buffer MR and the CQ ring");
    assert.equal(mid.cq, before.cq + 1);
    assert.equal(mid.uar, before.uar + 1);
    const srq = await x.pd.createSrq({ maxWr: 4, maxSge: 1 });
    await x.pd.createQp({
      type: QpType.UD,
      sendCq: x.cq,
      recvCq: x.cq,
      srq,
      cap: { maxSendWr: 2, maxRecvWr: 0, maxSendSge: 1, maxRecvSge: 0 },
    });
    await x.pd.createAh({ dlid: 1 });
    assert.equal(h.hca.stats().used.qp, before.qp + 1);
    await x.ctx.close();
    await rejects(() => x.ctx.allocPd(), "EBADF");
  });
  assert.deepEqual(h.hca.stats().used, before);
});

Deno.test("CQ overrun raises CQ_ERR; a stale lkey fails after its MPT entry is reused", async () => {
  const { cluster, a, b } = await twoHosts();
  await cluster.run(async () => {
    const x = await side(a), y = await side(b);
    const small = await x.ctx.createCq(1);
    assert.equal(small.cqe, 1);
    const cap = { maxSendWr: 8, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
    const qx = await x.pd.createQp({ type: QpType.RC, sendCq: small, recvCq: x.cq, cap });
    const [, qy] = await pair(x, y, QpType.RC);
    await connectQp(qx, { ...CONNECT, remoteQpn: qy.qpNum, dlid: y.lid });
    // The 2-entry ring takes 2 CQEs; the 3rd overruns it (nobody polls).
    for (let i = 0n; i < 3n; i++) {
      qx.postSend({
        wrId: i,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
        remoteAddr: y.buf,
        rkey: y.mr.rkey,
      });
    }
    const ev = await x.ctx.getAsyncEvent();
    assert.equal(ev.type, EventType.CQ_ERR);
    assert.equal(ev.cq, small);
    x.ctx.ackAsyncEvent(ev);
    assert.equal(small.poll(8).length, 2, "what fitted is still there");

    // Deregister, register again (same MPT index, new tag): the old key is refused.
    const oldKey = x.mr.lkey;
    await x.mr.dereg();
    const again = await x.pd.regMr(x.buf, 4096, ALL_ACCESS);
    assert.equal(again.lkey >>> 8, oldKey >>> 8, "MPT index reused");
    assert.notEqual(again.lkey, oldKey);
    const [qa, qb] = await pair(x, y, QpType.RC);
    void qb;
    qa.postSend({
      wrId: 7n,
      opcode: WrOpcode.RDMA_WRITE,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: x.buf, length: 8, lkey: oldKey }],
      remoteAddr: y.buf,
      rkey: y.mr.rkey,
    });
    const [wc] = await x.cq.pollUntil(1);
    assert.equal(wc.status, WcStatus.LOC_PROT_ERR);
    // An RC QP goes to ERR on a completion error; the CQE is the report
    // (IBTA §10.8.3: no async event for an error a completion can carry).
    assert.equal((await qa.query()).state, 6);
    assert.equal(x.ctx.asyncPending, 0);
  });
});

Deno.test("a doorbell naming another context's QP is dropped by the device", async () => {
  const cluster = new (await import("../../mod.ts")).Cluster({ profile: "pcix-sdr-2006", seed: 5 });
  const h = cluster.addHost({ name: "a", hypervisor: false });
  const hb = cluster.addHost({ name: "b", hypervisor: false });
  await cluster.start();
  await cluster.run(async () => {
    const victim = await side(h.os), intruder = await side(h.os), y = await side(hb.os);
    assert.notEqual(victim.ctx.file.uarIndex, intruder.ctx.file.uarIndex);
    const [qv] = await pair(victim, y, QpType.RC);
    // The victim formats a WQE but has not rung; the intruder rings for it on its own page.
    y.dom.memory.write(y.buf, new Uint8Array(8));
    victim.dom.memory.write(victim.buf, new Uint8Array(8).fill(0xee));
    const ring = qv.pqp.sq;
    const before = h.hca.stats().doorbellsRejected;
    const { encodeSendWqe, WqeOpcode } = await import("../../hca/wqe.ts");
    const wqe = new Uint8Array(64);
    encodeSendWqe({
      opcode: WqeOpcode.RDMA_WRITE,
      flags: 1,
      remoteAddr: y.buf,
      rkey: y.mr.rkey,
      sgl: [{ addr: victim.buf, length: 8, lkey: victim.mr.lkey }],
    }, wqe);
    victim.dom.memory.write(ring.base, wqe);
    intruder.dom.memory.write(
      intruder.ctx.file.uarAddr + UarOffset.SEND,
      doorbellBytes(sendDoorbellWord(qv.qpNum, 3), 1),
    );
    await cluster.sleep(50_000);
    assert.equal(h.hca.stats().doorbellsRejected, before + 1);
    assert.deepEqual(y.dom.memory.read(y.buf, 8), new Uint8Array(8), "nothing was written");
  });
});

Deno.test("destroying a QP with work in flight: allowed, and the device sends nothing more", async () => {
  const { cluster, a, b } = await twoHosts();
  const ha = cluster.hosts[0];
  const before = ha.hca.stats().used;
  await cluster.run(async () => {
    const x = await side(a, 64, 1 << 20), y = await side(b, 64, 1 << 20);
    const [qx] = await pair(x, y, QpType.RC);
    const sent = ha.hca.stats().packetsSent;
    for (let i = 0n; i < 4n; i++) {
      qx.postSend({
        wrId: i,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 256 * 1024, lkey: x.mr.lkey }],
        remoteAddr: y.buf,
        rkey: y.mr.rkey,
      });
    }
    await cluster.sleep(20_000); // mid-stream: some packets are out, most are not
    assert.ok(ha.hca.stats().packetsSent > sent, "the transfer had started");
    await qx.destroy(); // ibv_destroy_qp does not wait for outstanding work
    await x.cq.destroy(); // nor does the CQ it used stay busy
    const after = ha.hca.stats().packetsSent;
    await cluster.sleep(5_000_000);
    assert.equal(ha.hca.stats().packetsSent, after, "the destroyed QP sends nothing more");
    await x.ctx.close();
  });
  assert.deepEqual(ha.hca.stats().used, before);
});
