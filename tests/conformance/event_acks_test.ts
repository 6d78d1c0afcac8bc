/**
 * Object lifetime against events (`drivers/verbs/event_acks.ts`): a destroy
 * returns only once every event of the object that was reported to the
 * program has been acknowledged (libibverbs `ibv_cmd_destroy_qp`,
 * `ibv_cmd_destroy_cq`, `ibv_cmd_destroy_srq` wait until the acked counts
 * equal the kernel's `events_reported`; ibv_get_async_event(3) NOTES), while
 * events never read go with the object and are not waited for. A program
 * that never acknowledges hangs there, and the deadlock report says what it
 * waits for. Every mode.
 */
import assert from "node:assert/strict";
import {
  type Context,
  DeadlockError,
  EventType,
  type Pd,
  type Qp,
  QpState,
  QpType,
  SendFlags,
  VerbsError,
  WrOpcode,
} from "../../mod.ts";
import { CONNECT, MODES, rejects, side, twoDomains } from "./helpers.ts";
import { connectPair } from "../../mod.ts";

const INIT = { state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 };
const CAP = { maxSendWr: 1, maxRecvWr: 0, maxSendSge: 1, maxRecvSge: 1 };

/** A QP on an SRQ moved to Error: its QP_LAST_WQE_REACHED event (IBTA §10.2.9.5). */
async function lastWqeQp(ctx: Context, pd: Pd): Promise<Qp> {
  const srq = await pd.createSrq({ maxWr: 4, maxSge: 1 });
  const cq = await ctx.createCq(4);
  const qp = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, srq, cap: CAP });
  await qp.modify(INIT);
  await qp.modify({ state: QpState.ERR });
  return qp;
}

for (const mode of MODES) {
  Deno.test(`destroy_qp (${mode}): waits for the ack of every reported async event`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const qp = await lastWqeQp(x.ctx, x.pd);
      const ev = await x.ctx.getAsyncEvent();
      assert.deepEqual([ev.type, ev.qp], [EventType.QP_LAST_WQE_REACHED, qp]);
      assert.equal(x.ctx.asyncUnacked, 1);
      let done = -1;
      const destroying = cluster.spawn("destroyer", () => qp.destroy()).then(
        () => (done = cluster.now),
      );
      await cluster.sleep(1_000_000);
      assert.equal(done, -1, "destroy_qp returned with a reported event not acknowledged");
      await rejects(() => qp.modify(INIT), "EINVAL"); // the kernel object is gone already
      const acked = cluster.now;
      x.ctx.ackAsyncEvent(ev);
      await destroying;
      assert.equal(done - acked, cluster.profile.cpu.wakeupNs, "woken as by pthread_cond_signal");
      assert.equal(x.ctx.asyncUnacked, 0);
      // An acknowledged event cannot be acknowledged again (libibverbs would count it twice).
      assert.throws(
        () => x.ctx.ackAsyncEvent(ev),
        (e) =>
          e instanceof VerbsError && e.code === "EINVAL" && /acknowledged already/.test(e.message),
      );
    });
  });

  Deno.test(`destroy (${mode}): an event never read is dropped, not waited for`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const qp = await lastWqeQp(x.ctx, x.pd);
      await cluster.sleep(100_000);
      assert.equal(x.ctx.asyncPending, 1);
      const t0 = cluster.now;
      await qp.destroy();
      assert.ok(cluster.now - t0 < 1_000_000);
      assert.equal(x.ctx.asyncPending, 0);
      assert.equal(x.ctx.asyncUnacked, 0);
    });
  });

  Deno.test(`destroy_cq (${mode}): waits for its completion events' ack, then returns`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const ch = x.ctx.createCompChannel();
      const cq = await x.ctx.createCq(4, { channel: ch });
      const cap = { maxSendWr: 1, maxRecvWr: 2, maxSendSge: 1, maxRecvSge: 1 };
      const qp = await x.pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
      await qp.modify(INIT);
      qp.postRecv({ wrId: 1n, sgList: [] });
      cq.reqNotify();
      await qp.modify({ state: QpState.ERR }); // the flushed receive raises the event
      assert.equal(await ch.getEvent(), cq);
      assert.equal(cq.poll(4).length, 1);
      await qp.destroy();
      let done = false;
      const destroying = cluster.spawn("destroyer", () => cq.destroy()).then(() => (done = true));
      await cluster.sleep(1_000_000);
      assert.equal(done, false, "destroy_cq returned with a completion event not acknowledged");
      // ibv_destroy_cq gives the channel up only when it returns.
      await rejects(() => ch.destroy(), "EBUSY");
      cq.ackEvents(1); // allowed on the destroyed CQ: its destroy waits for exactly this
      await destroying;
      await ch.destroy();
    });
  });

  Deno.test(`destroy_srq (${mode}): waits for the ack of its limit event`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const srq = await y.pd.createSrq({ maxWr: 4, maxSge: 1 });
      const cap = { maxSendWr: 4, maxRecvWr: 0, maxSendSge: 1, maxRecvSge: 0 };
      const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
      const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, srq, cap });
      await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid }, CONNECT);
      for (let i = 0n; i < 2n; i++) {
        srq.postRecv({ wrId: i, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      }
      await srq.modify({ srqLimit: 2 });
      qx.postSend({
        wrId: 1n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
      });
      await y.cq.pollUntil(1);
      const ev = await y.ctx.getAsyncEvent();
      assert.deepEqual([ev.type, ev.srq], [EventType.SRQ_LIMIT_REACHED, srq]);
      await qy.destroy();
      let done = false;
      const destroying = cluster.spawn("destroyer", () => srq.destroy()).then(() => (done = true));
      await cluster.sleep(1_000_000);
      assert.equal(done, false, "destroy_srq returned with its limit event not acknowledged");
      y.ctx.ackAsyncEvent(ev);
      await destroying;
      assert.equal(done, true);
    });
  });

  Deno.test(`destroy_qp (${mode}): never acknowledged, the deadlock report names the wait`, async () => {
    const { cluster, a } = await twoDomains(mode);
    const err = await cluster.run(async () => {
      const x = await side(a);
      const qp = await lastWqeQp(x.ctx, x.pd);
      await x.ctx.getAsyncEvent();
      await qp.destroy(); // as with libibverbs: waits forever
    }).catch((e) => e);
    assert.ok(err instanceof DeadlockError, `expected a deadlock, got ${err}`);
    assert.match(
      err.message,
      /destroy_qp QP \d+: 1 reported async event\(s\) not acknowledged \(ackAsyncEvent\)/,
    );
  });
}

for (const mode of MODES) {
  Deno.test(`destroy_cq (${mode}): waits for the ack of its CQ_ERR async event`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const cq = await x.ctx.createCq(1);
      const cap = { maxSendWr: 1, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 };
      const qp = await x.pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
      await qp.modify(INIT);
      for (let i = 0n; i < 8n; i++) qp.postRecv({ wrId: i, sgList: [] });
      await qp.modify({ state: QpState.ERR }); // 8 flushed receives overrun the CQ
      const ev = await x.ctx.getAsyncEvent();
      assert.deepEqual([ev.type, ev.cq], [EventType.CQ_ERR, cq]);
      await qp.destroy();
      let done = false;
      const destroying = cluster.spawn("destroyer", () => cq.destroy()).then(() => (done = true));
      await cluster.sleep(1_000_000);
      assert.equal(done, false, "destroy_cq returned with its CQ_ERR not acknowledged");
      x.ctx.ackAsyncEvent(ev);
      await destroying;
      assert.equal(done, true);
    });
  });
}
