/**
 * Shared receive queues: two QPs draw receive WQEs from one SRQ, the wr_id
 * comes back with the QP that used it; the SRQ limit raises
 * SRQ_LIMIT_REACHED once and disarms (IBTA vol. 1 §10.2.9.3, §11.5.2.3).
 */
import assert from "node:assert/strict";
import {
  connectPair,
  EventType,
  type Qp,
  QpType,
  SendFlags,
  WcStatus,
  WrOpcode,
} from "../../mod.ts";
import { CONNECT, MODES, rejects, side, twoDomains, twoHosts } from "./helpers.ts";
import { srqLayout } from "../../drivers/uapi/wq_layout.ts";

Deno.test("SRQ: shared by two QPs, limit event fires once and disarms", async () => {
  const { cluster, a, b } = await twoHosts();
  await cluster.run(async () => {
    const x = await side(a), y = await side(b);
    // srq_limit is "irrelevant for ibv_create_srq" (ibv_create_srq(3)): mthca_alloc_srq
    // neither checks nor arms it; only ibv_modify_srq arms the limit.
    const unarmed = await y.pd.createSrq({ maxWr: 8, maxSge: 1, srqLimit: 9 });
    assert.equal((await unarmed.query()).srqLimit, 0);
    await unarmed.destroy();
    const srq = await y.pd.createSrq({ maxWr: 8, maxSge: 1 });
    const cap = { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 };
    const senders: Qp[] = [], receivers: Qp[] = [];
    for (let i = 0; i < 2; i++) {
      const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
      const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, srq, cap });
      await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid }, CONNECT);
      senders.push(qx);
      receivers.push(qy);
    }
    // A QP on an SRQ has no receive queue of its own.
    await rejects(
      () =>
        receivers[0].postRecv({ wrId: 1n, sgList: [{ addr: y.buf, length: 8, lkey: y.mr.lkey }] }),
      "EINVAL",
    );
    for (let i = 0n; i < 8n; i++) {
      srq.postRecv({
        wrId: 100n + i,
        sgList: [{ addr: y.buf + Number(i) * 256, length: 256, lkey: y.mr.lkey }],
      });
    }
    assert.match(
      await rejects(() => srq.postRecv({ wrId: 9n, sgList: [] }), "ENOMEM"),
      /SRQ full/,
    );
    await srq.modify({ srqLimit: 7 });
    const send = (q: number, tag: number) => {
      x.dom.memory.write(x.buf, new Uint8Array([tag]));
      senders[q].postSend({
        wrId: BigInt(tag),
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 1, lkey: x.mr.lkey }],
      });
    };
    send(1, 0xa1);
    await x.cq.pollUntil(1);
    send(0, 0xa2);
    await x.cq.pollUntil(1);
    const wcs = await y.cq.pollUntil(2);
    // WQEs are taken in posting order, whichever QP the message came to.
    assert.deepEqual(wcs.map((w) => [w.wrId, w.qpNum]), [
      [100n, receivers[1].qpNum],
      [101n, receivers[0].qpNum],
    ]);
    assert.ok(wcs.every((w) => w.status === WcStatus.SUCCESS));
    assert.equal(y.dom.memory.read(y.buf, 1)[0], 0xa1);
    assert.equal(y.dom.memory.read(y.buf + 256, 1)[0], 0xa2);
    // 6 left < limit 7: one SRQ_LIMIT_REACHED, and the limit is disarmed.
    const ev = await y.ctx.getAsyncEvent();
    assert.equal(ev.type, EventType.SRQ_LIMIT_REACHED);
    assert.equal(ev.srq, srq);
    assert.equal(srq.srqLimit, 0);
    y.ctx.ackAsyncEvent(ev);
    send(0, 0xa3);
    await x.cq.pollUntil(1);
    await y.cq.pollUntil(1);
    await cluster.sleep(50_000);
    assert.equal(y.ctx.asyncPending, 0, "no second limit event without re-arming");
    // Slots are reused once completed.
    srq.postRecv({ wrId: 200n, sgList: [{ addr: y.buf, length: 8, lkey: y.mr.lkey }] });
    assert.equal(srq.outstanding, 6);
    // Busy while QPs use it; free once they are gone.
    await rejects(() => srq.destroy(), "EBUSY");
    for (const q of receivers) await q.destroy();
    await srq.destroy();
  });
});

for (const mode of MODES) {
  Deno.test(`SRQ (${mode}): a limit given at creation arms nothing; modify arms it, once per arm`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const srq = await y.pd.createSrq({ maxWr: 4, maxSge: 1, srqLimit: 4 });
      assert.equal((await srq.query()).srqLimit, 0);
      const cap = { maxSendWr: 4, maxRecvWr: 0, maxSendSge: 1, maxRecvSge: 0 };
      const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
      const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, srq, cap });
      await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid }, CONNECT);
      for (let i = 0n; i < 4n; i++) {
        srq.postRecv({ wrId: i, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      }
      const send = async () => {
        qx.postSend({
          wrId: 1n,
          opcode: WrOpcode.SEND,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
        });
        await x.cq.pollUntil(1);
        await y.cq.pollUntil(1);
        await cluster.sleep(100_000);
      };
      // 3 left, below the 4 given at creation: nothing, the SRQ was never armed.
      await send();
      assert.equal(y.ctx.asyncPending, 0);
      // Armed at 3: 2 left is below it, one event; the next consumption none.
      await srq.modify({ srqLimit: 3 });
      await send();
      assert.equal(y.ctx.asyncPending, 1);
      const ev = await y.ctx.getAsyncEvent();
      assert.equal(ev.type, EventType.SRQ_LIMIT_REACHED);
      assert.equal(ev.srq, srq);
      y.ctx.ackAsyncEvent(ev);
      assert.equal((await srq.query()).srqLimit, 0);
      await send();
      assert.equal(y.ctx.asyncPending, 0);
    });
  });
}

for (const mode of MODES) {
  Deno.test(`SRQ (${mode}): query reads the limit from the device: 0 once it fired, until armed again`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const srq = await y.pd.createSrq({ maxWr: 4, maxSge: 1 });
      const cap = { maxSendWr: 4, maxRecvWr: 0, maxSendSge: 1, maxRecvSge: 0 };
      const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
      const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, srq, cap });
      await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid }, CONNECT);
      for (let i = 0n; i < 4n; i++) {
        srq.postRecv({ wrId: i, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      }
      await srq.modify({ srqLimit: 4 });
      assert.deepEqual(await srq.query(), { maxWr: 4, maxSge: 1, srqLimit: 4 });
      qx.postSend({
        wrId: 1n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
      });
      await y.cq.pollUntil(1);
      // The device disarmed the limit when it took the WQE that left 3 < 4, whether or not its
      // event has reached this program yet (mthca_query_srq reads limit_watermark from the SRQ
      // context; ibv_query_srq(3): 0 means "not (or no longer) armed").
      assert.equal((await srq.query()).srqLimit, 0);
      const ev = await y.ctx.getAsyncEvent();
      assert.deepEqual([ev.type, ev.srq], [EventType.SRQ_LIMIT_REACHED, srq]);
      y.ctx.ackAsyncEvent(ev);
      assert.equal((await srq.query()).srqLimit, 0);
      await srq.modify({ srqLimit: 2 });
      assert.equal((await srq.query()).srqLimit, 2);
      assert.equal(srq.srqLimit, 2);
      await qy.destroy();
      await srq.destroy();
      await rejects(() => srq.query(), "EINVAL");
    });
  });
}

Deno.test("SRQ: create_srq grants the max_wr that query_srq reports (mthca_alloc_srq, mthca_query_srq)", async () => {
  const { cluster, a } = await twoHosts();
  await cluster.run(async () => {
    const x = await side(a);
    const l = srqLayout(5, 1); // a ring of 8 entries for 5 WRs
    const bufAddr = x.ctx.allocBuffer(l.bytes);
    const r = await x.ctx.file.createSrq({
      pdHandle: x.pd.handle,
      maxWr: 5,
      maxSge: 1,
      srqLimit: 0,
      bufAddr,
      bufBytes: l.bytes,
      logSize: l.logSize,
      logStride: l.logStride,
    });
    const q = await x.ctx.file.querySrq(r.srqHandle);
    assert.deepEqual([r.maxWr, r.maxSge], [5, 1]);
    assert.deepEqual(q, { maxWr: 5, maxSge: 1, srqLimit: 0 });
    await x.ctx.file.destroySrq(r.srqHandle);
  });
});
