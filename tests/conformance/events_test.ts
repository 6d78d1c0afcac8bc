for (const mode of MODES) {
  Deno.test(`async events (${mode}): no COMM_EST for a UD QP, nor for a packet out of sequence`, async () => {
    // Communication Established is a connected QP's (IBTA vol 1 §11.6.3), raised once a packet
    // passed the PSN and opcode-sequence checks: Linux qib_rc_rcv/qib_uc_rcv raise it there,
    // qib_ud_rcv never.
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const cap = { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 };
      const sge = (s: typeof x) => [{ addr: s.buf, length: 8, lkey: s.mr.lkey }];
      // UD: the receiver stays in RTR and takes a datagram.
      const ux = await x.pd.createQp({ type: QpType.UD, sendCq: x.cq, recvCq: x.cq, cap });
      const uy = await y.pd.createQp({ type: QpType.UD, sendCq: y.cq, recvCq: y.cq, cap });
      const qkey = 0x11111111;
      for (const [q, rts] of [[ux, true], [uy, false]] as const) {
        await q.modify({ state: QpState.INIT, pkeyIndex: 0, port: 1, qkey });
        await q.modify({ state: QpState.RTR });
        if (rts) await q.modify({ state: QpState.RTS, sqPsn: 0 });
      }
      uy.postRecv({ wrId: 1n, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      const ah = await x.pd.createAh({ dlid: y.lid });
      ux.postSend({
        wrId: 2n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: sge(x),
        ah,
        remoteQpn: uy.qpNum,
        remoteQkey: qkey,
      });
      const [wc] = await y.cq.pollUntil(1);
      assert.equal(wc.status, WcStatus.SUCCESS, "the datagram was taken in RTR");
      // RC: the receiver in RTR expects PSN 1000, the sender starts at 0 (a duplicate) and at
      // 5000 (ahead: NAKed as out of sequence); neither is taken.
      const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
      const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap });
      await qy.modify({ state: QpState.INIT, pkeyIndex: 0, port: 1, accessFlags: 0 });
      await qy.modify({
        state: QpState.RTR,
        pathMtu: 4,
        destQpNum: qx.qpNum,
        rqPsn: 1000,
        maxDestRdAtomic: 1,
        minRnrTimer: 1,
        ah: { dlid: x.lid },
      });
      qy.postRecv({ wrId: 3n, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      for (const sqPsn of [0, 5000]) {
        const q = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
        await connectQp(q, { ...CONNECT, sqPsn, remoteQpn: qy.qpNum, dlid: y.lid });
        q.postSend({
          wrId: 4n,
          opcode: WrOpcode.SEND,
          sendFlags: SendFlags.SIGNALED,
          sgList: sge(x),
        });
        await cluster.sleep(200_000);
        await q.modify({ state: QpState.ERR });
      }
      assert.equal(y.cq.poll(4).length, 0, "nothing taken on the RC receiver");
      assert.equal(y.ctx.asyncPending, 0, "no COMM_EST");
      assert.equal((await qy.query()).state, QpState.RTR);
    });
  });
}

/**
 * Completion events through completion channels (IBTA vol. 1 §11.4.2.2):
 * only an armed CQ raises one, once per arm; a solicited-only arm ignores
 * unsolicited completions; the event reaches the waiting thread after the
 * interrupt and the wake-up.
 */
import assert from "node:assert/strict";
import {
  connectPair,
  connectQp,
  EventType,
  PortState,
  QpState,
  QpType,
  SendFlags,
  WcStatus,
  WrOpcode,
} from "../../mod.ts";
import { CONNECT, MODES, pair, postWrite, rejects, side, twoDomains, twoHosts } from "./helpers.ts";

Deno.test("completion channel: armed CQ raises one event per arm; solicited-only arms", async () => {
  const { cluster, a, b } = await twoHosts();
  await cluster.run(async () => {
    const x = await side(a);
    const y = await side(b);
    const ch = y.ctx.createCompChannel();
    const rcq = await y.ctx.createCq(16, { channel: ch });
    const cap = { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 };
    const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
    const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: rcq, cap });
    await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid }, CONNECT);
    for (let i = 0n; i < 6n; i++) {
      qy.postRecv({ wrId: i, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
    }
    const send = (solicited: boolean) =>
      qx.postSend({
        wrId: 1n,
        opcode: WrOpcode.SEND,
        sendFlags: solicited ? SendFlags.SOLICITED : 0,
        sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
      });
    const p = cluster.profile.cpu;

    // Not armed: a completion raises no event.
    send(false);
    await rejects(() => ch.getEvent({ timeoutNs: 100_000 }), "ETIMEDOUT");
    assert.equal(rcq.poll(4).length, 1);

    // Armed: one event; the thread runs after interrupt entry and wake-up.
    rcq.reqNotify(false);
    await cluster.sleep(1_000);
    send(false);
    const got = await ch.getEvent();
    assert.equal(got, rcq);
    const [wc] = rcq.poll(1);
    assert.equal(wc.status, WcStatus.SUCCESS);
    assert.equal(rcq.eventsTaken, 1);
    rcq.ackEvents(1);
    assert.throws(() => rcq.ackEvents(1), /unacknowledged/);

    // The arm was used up: the next completion raises nothing.
    send(false);
    await rejects(() => ch.getEvent({ timeoutNs: 100_000 }), "ETIMEDOUT");
    assert.equal(rcq.poll(4).length, 1);

    // Solicited-only: an unsolicited completion does not fire, a solicited one does.
    rcq.reqNotify(true);
    await cluster.sleep(1_000);
    send(false);
    await rejects(() => ch.getEvent({ timeoutNs: 100_000 }), "ETIMEDOUT");
    const t0 = cluster.now;
    send(true);
    assert.equal(await ch.getEvent(), rcq);
    // Post, wire, interrupt entry, dispatch and wake-up all lie on the path.
    assert.ok(cluster.now - t0 > p.interruptNs + p.wakeupNs, `event after ${cluster.now - t0} ns`);
    assert.equal(rcq.poll(4).length, 2);
    rcq.ackEvents(1);
    assert.equal(ch.delivered, 2);
  });
});

for (const mode of MODES) {
  Deno.test(`completion channel (${mode}): an arm over a completion that raised no event fires at once, over one that did not again`, async () => {
    // ib_req_notify_cq (include/rdma/ib_verbs.h): a return of 0 guarantees "that any work
    // completions added to the CQ since the last CQ poll will trigger a completion notification
    // event"; a completion that already triggered one is not owed another. The same in every
    // mode: the device keeps the rule, and a split guest's arm reaches it through dom0.
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const ch = y.ctx.createCompChannel();
      const rcq = await y.ctx.createCq(16, { channel: ch });
      const cap = { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 };
      const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
      const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: rcq, cap });
      await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid }, CONNECT);
      for (let i = 0n; i < 4n; i++) {
        qy.postRecv({ wrId: i, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      }
      const send = () =>
        qx.postSend({
          wrId: 1n,
          opcode: WrOpcode.SEND,
          sendFlags: 0,
          sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
        });
      // A completion lands while the CQ is not armed, unpolled: the arm finds it and fires.
      send();
      await cluster.sleep(200_000);
      rcq.reqNotify(false);
      assert.equal(await ch.getEvent({ timeoutNs: 100_000 }), rcq, "the silent completion");
      rcq.ackEvents(1);
      assert.equal(rcq.poll(4).length, 1);
      // Armed, a completion raises the event; armed again before it is polled: no second one.
      rcq.reqNotify(false);
      await cluster.sleep(1_000);
      send();
      assert.equal(await ch.getEvent(), rcq);
      rcq.ackEvents(1);
      rcq.reqNotify(false);
      await rejects(() => ch.getEvent({ timeoutNs: 100_000 }), "ETIMEDOUT");
      assert.equal(rcq.poll(4).length, 1);
    });
  });

  Deno.test(`async events (${mode}): a destroyed object's unread events go with it`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const y = await side(b);
      void a;
      const srq = await y.pd.createSrq({ maxWr: 4, maxSge: 1 });
      const cap = { maxSendWr: 1, maxRecvWr: 0, maxSendSge: 1, maxRecvSge: 0 };
      const onSrq = () => y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, srq, cap });
      const init = { state: QpState.INIT, pkeyIndex: 0, port: 1, accessFlags: 0 };
      // A QP on an SRQ that enters Error reports Last WQE Reached (IBTA §10.2.9.5) ...
      const kept = await onSrq();
      await kept.modify(init);
      await kept.modify({ state: QpState.ERR });
      await cluster.sleep(100_000);
      assert.equal(y.ctx.asyncPending, 1);
      const ev = await y.ctx.getAsyncEvent();
      assert.equal(ev.type, EventType.QP_LAST_WQE_REACHED);
      assert.equal(ev.qp, kept);
      y.ctx.ackAsyncEvent(ev);
      // ... but once the QP is destroyed nobody is handed its unread event
      // (ibv_get_async_event(3): destroying an object avoids "an application
      // retrieving an affiliated event after the corresponding object has
      // already been destroyed").
      const gone = await onSrq();
      await gone.modify(init);
      await gone.modify({ state: QpState.ERR });
      await cluster.sleep(100_000);
      assert.equal(y.ctx.asyncPending, 1);
      await gone.destroy();
      assert.equal(y.ctx.asyncPending, 0);

      // The same for a CQ's completion events on its channel.
      const ch = y.ctx.createCompChannel();
      const cq = await y.ctx.createCq(4, { channel: ch });
      const q = await y.pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
      });
      await q.modify(init);
      q.postRecv({ wrId: 1n, sgList: [] });
      cq.reqNotify();
      await q.modify({ state: QpState.ERR }); // the flushed receive completes
      await cluster.sleep(100_000);
      assert.equal(ch.pending, 1);
      await q.destroy();
      await cq.destroy();
      assert.equal(ch.pending, 0, "the destroyed CQ's event left the channel");
      await rejects(() => ch.getEvent({ timeoutNs: 100_000 }), "ETIMEDOUT");
    });
  });

  Deno.test(`comp channel (${mode}): destroy is EBUSY while a CQ uses it`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const ctx = await a.openDevice();
      const ch = ctx.createCompChannel();
      const cq = await ctx.createCq(4, { channel: ch });
      // ibv_create_comp_channel(3): "ibv_destroy_comp_channel() fails if any
      // CQs are still associated with the completion event channel".
      assert.match(await rejects(() => ch.destroy(), "EBUSY"), /1 CQ/);
      // A thread asleep on the channel keeps it too.
      const waiting = cluster.spawn(
        "reader",
        () => ch.getEvent({ timeoutNs: 5_000_000 }).catch((e) => e.code),
      );
      await cluster.sleep(100_000);
      await cq.destroy();
      await rejects(() => ch.destroy(), "EBUSY");
      assert.equal(await waiting, "ETIMEDOUT");
      await ch.destroy();
      assert.ok(ch.destroyed);
      await rejects(() => ctx.createCq(4, { channel: ch }), "EINVAL");
      await rejects(() => ch.getEvent({ timeoutNs: 1 }), "EINVAL");
      await rejects(() => ch.destroy(), "EINVAL");
    });
  });
}

for (const mode of MODES) {
  Deno.test(`async events (${mode}): COMM_EST in RTR; SQ_DRAINED only for a drain that asks`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const cap = { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 };
      const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
      const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap });
      await connectQp(qx, { ...CONNECT, remoteQpn: qy.qpNum, dlid: y.lid });
      // The receiver stays in RTR: its first packet raises COMM_EST (IBTA §11.6.3).
      await qy.modify({ state: QpState.INIT, pkeyIndex: 0, port: 1, accessFlags: 0 });
      await qy.modify({
        state: QpState.RTR,
        pathMtu: 4,
        destQpNum: qx.qpNum,
        rqPsn: CONNECT.sqPsn,
        maxDestRdAtomic: 1,
        minRnrTimer: 1,
        ah: { dlid: x.lid },
      });
      qy.postRecv({ wrId: 1n, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      qx.postSend({
        wrId: 1n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
      });
      await x.cq.pollUntil(1);
      const est = await y.ctx.getAsyncEvent();
      assert.deepEqual([est.type, est.qp], [EventType.COMM_EST, qy]);
      y.ctx.ackAsyncEvent(est);

      // RTS→SQD with en_sqd_async_notify: one SQ_DRAINED once the SQ is drained.
      await qx.modify({ state: QpState.SQD, enSqdAsyncNotify: true });
      const drained = await x.ctx.getAsyncEvent();
      assert.deepEqual([drained.type, drained.qp], [EventType.SQ_DRAINED, qx]);
      x.ctx.ackAsyncEvent(drained);
      // ibv_query_qp: cur_qp_state is the state; en_sqd_async_notify is not reported
      // (mthca_query_qp: "only applicable in modify qp").
      const q = await qx.query();
      assert.equal(q.state, QpState.SQD);
      assert.equal(q.curState, QpState.SQD);
      assert.equal(q.enSqdAsyncNotify, undefined);
      // A later drain that does not ask raises nothing: mthca_modify_qp sets the
      // RTS2SQD command's event bit only for a modify with IB_QP_EN_SQD_ASYNC_NOTIFY.
      await qx.modify({ state: QpState.RTS });
      await qx.modify({ state: QpState.SQD });
      await cluster.sleep(200_000);
      assert.equal(x.ctx.asyncPending, 0);
      assert.equal((await qx.query()).state, QpState.SQD);
    });
  });
}

for (const mode of MODES) {
  // ibv_req_notify_cq(3): "A CQE is solicited if it is a receive completion for a message with
  // the Solicited Event header bit set, or if the status is not successful. All other successful
  // receive completions, or any successful send completion is unsolicited."
  Deno.test(`completion events (${mode}): a solicited-only arm fires for solicited receives and errors only; it never weakens an arm for the next`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const chx = x.ctx.createCompChannel(), chy = y.ctx.createCompChannel();
      const scq = await x.ctx.createCq(16, { channel: chx });
      const rcq = await y.ctx.createCq(16, { channel: chy });
      const cap = { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 };
      const qx = await x.pd.createQp({ type: QpType.RC, sendCq: scq, recvCq: scq, cap });
      const qy = await y.pd.createQp({ type: QpType.RC, sendCq: rcq, recvCq: rcq, cap });
      await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid }, CONNECT);
      for (let i = 0n; i < 4n; i++) {
        qy.postRecv({ wrId: i, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      }
      const sge = [{ addr: x.buf, length: 8, lkey: x.mr.lkey }];
      const arm = async () => {
        scq.reqNotify(true);
        rcq.reqNotify(true);
        await cluster.sleep(1_000);
      };
      const quiet = async () => {
        await rejects(() => chx.getEvent({ timeoutNs: 200_000 }), "ETIMEDOUT");
        await rejects(() => chy.getEvent({ timeoutNs: 1 }), "ETIMEDOUT");
      };
      // An arm for the next completion is not weakened by a later solicited-only request, and
      // a solicited-only arm is strengthened by a later request for the next completion (IBTA
      // vol 1 §11.4.2.2, C11-31 and C11-32): an unsolicited receive raises the event either way.
      for (const order of [[false, true], [true, false]]) {
        for (const solicitedOnly of order) rcq.reqNotify(solicitedOnly);
        await cluster.sleep(1_000);
        qx.postSend({ wrId: 9n, opcode: WrOpcode.SEND, sgList: sge });
        assert.equal(await chy.getEvent({ timeoutNs: 1_000_000 }), rcq, `arms ${order}`);
        rcq.ackEvents(1);
        assert.equal(rcq.poll(4).length, 1);
      }
      qy.postRecv({ wrId: 8n, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      qy.postRecv({ wrId: 9n, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      // A successful send and its unsolicited receive: no event on either side.
      await arm();
      qx.postSend({ wrId: 1n, opcode: WrOpcode.SEND, sendFlags: SendFlags.SIGNALED, sgList: sge });
      await quiet();
      assert.deepEqual([scq.poll(4).length, rcq.poll(4).length], [1, 1]);
      // A solicited RDMA WRITE with immediate: the receiver's event; the sender's successful
      // completion stays unsolicited, solicited bit or not.
      qx.postSend({
        wrId: 2n,
        opcode: WrOpcode.RDMA_WRITE_WITH_IMM,
        immData: 5,
        sendFlags: SendFlags.SIGNALED | SendFlags.SOLICITED,
        sgList: sge,
        remoteAddr: y.buf,
        rkey: y.mr.rkey,
      });
      assert.equal(await chy.getEvent({ timeoutNs: 1_000_000 }), rcq);
      rcq.ackEvents(1);
      await rejects(() => chx.getEvent({ timeoutNs: 100_000 }), "ETIMEDOUT");
      assert.deepEqual(rcq.poll(4).map((w) => [w.status, w.opcode]), [[WcStatus.SUCCESS, 129]]);
      assert.equal(scq.poll(4).length, 1);
      // Completions in error are solicited: the sender's REM_ACCESS_ERR, and the flushes of the
      // receiver's WQEs as its QP enters Error (a bad R_Key is a class E error, IBTA §9.9.3).
      await arm();
      qx.postSend({
        wrId: 3n,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: sge,
        remoteAddr: y.buf,
        rkey: y.mr.rkey ^ 0x100,
      });
      assert.equal(await chx.getEvent({ timeoutNs: 5_000_000 }), scq);
      assert.equal(await chy.getEvent({ timeoutNs: 5_000_000 }), rcq);
      scq.ackEvents(1);
      rcq.ackEvents(1);
      assert.deepEqual(scq.poll(4).map((w) => w.status), [WcStatus.REM_ACCESS_ERR]);
      assert.deepEqual(rcq.poll(4).map((w) => w.status), [
        WcStatus.WR_FLUSH_ERR,
        WcStatus.WR_FLUSH_ERR,
      ]);
    });
  });
}

for (const mode of MODES) {
  Deno.test(`async events (${mode}): a CQ overrun raises CQ_ERR, and each QP that then completes into it QP_FATAL and goes to ERR`, async () => {
    // IBTA vol 1 C9-218: "A Requester Class F error occurs when the CQ is inaccessible or full
    // and an attempt is made to complete a WQE. The Affected QP shall be moved to the error
    // state and affiliated asynchronous errors generated"; C11-37: the CQ Error "will result in
    // an Affiliated Asynchronous Error for any associated Work Queues when they attempt to use
    // that CQ".
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const cq = await x.ctx.createCq(1);
      const cap = { maxSendWr: 16, maxRecvWr: 16, maxSendSge: 1, maxRecvSge: 1 };
      const mk = async () => {
        const qx = await x.pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: x.cq, cap });
        const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap });
        await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid }, CONNECT);
        return qx;
      };
      const q1 = await mk(), q2 = await mk();
      const write = (qp: typeof q1, wrId: bigint) =>
        qp.postSend({
          wrId,
          opcode: WrOpcode.RDMA_WRITE,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
          remoteAddr: y.buf,
          rkey: y.mr.rkey,
        });
      // mthca's ring has one entry more than the cqe it reports: cqe + 2 completions overrun it.
      for (let i = 0n; i < BigInt(cq.cqe) + 2n; i++) write(q1, i);
      const cqErr = await x.ctx.getAsyncEvent();
      assert.deepEqual([cqErr.type, cqErr.cq], [EventType.CQ_ERR, cq]);
      const fatal = await x.ctx.getAsyncEvent();
      assert.deepEqual([fatal.type, fatal.qp], [EventType.QP_FATAL, q1]);
      assert.equal((await q1.query()).state, QpState.ERR);
      assert.equal(cq.poll(64).length, cq.cqe + 1, "the completions before the overrun stay");
      // Another QP of the CQ in error: nothing happens until it completes a WQE.
      assert.equal((await q2.query()).state, QpState.RTS);
      assert.equal(x.ctx.asyncPending, 0);
      write(q2, 100n);
      const fatal2 = await x.ctx.getAsyncEvent();
      assert.deepEqual([fatal2.type, fatal2.qp], [EventType.QP_FATAL, q2]);
      assert.equal((await q2.query()).state, QpState.ERR);
      await cluster.sleep(200_000);
      assert.equal(x.ctx.asyncPending, 0, "one event per QP");
      assert.deepEqual(cq.poll(64), [], "the CQ in error takes no completion");
      for (const e of [cqErr, fatal, fatal2]) x.ctx.ackAsyncEvent(e);

      // The receive side: a UD QP whose receive CQ overruns.
      const rcq = await y.ctx.createCq(1);
      const uy = await y.pd.createQp({ type: QpType.UD, sendCq: y.cq, recvCq: rcq, cap });
      const ux = await x.pd.createQp({ type: QpType.UD, sendCq: x.cq, recvCq: x.cq, cap });
      await connectPair({ qp: ux, lid: x.lid }, { qp: uy, lid: y.lid });
      const ah = await x.pd.createAh({ dlid: y.lid });
      const n = rcq.cqe + 2;
      for (let i = 0; i < n; i++) {
        uy.postRecv({ wrId: BigInt(i), sgList: [{ addr: y.buf, length: 256, lkey: y.mr.lkey }] });
        ux.postSend({
          wrId: BigInt(i),
          opcode: WrOpcode.SEND,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
          ah,
          remoteQpn: uy.qpNum,
          remoteQkey: 0x11111111,
        });
      }
      const rErr = await y.ctx.getAsyncEvent();
      assert.deepEqual([rErr.type, rErr.cq], [EventType.CQ_ERR, rcq]);
      const rFatal = await y.ctx.getAsyncEvent();
      assert.deepEqual([rFatal.type, rFatal.qp], [EventType.QP_FATAL, uy]);
      assert.equal((await uy.query()).state, QpState.ERR);
      const held = Array.from({ length: rcq.cqe + 1 }, (_, i) => BigInt(i));
      assert.deepEqual(rcq.poll(64).map((w) => w.wrId), held, "the receives before the overrun");
      for (const e of [rErr, rFatal]) y.ctx.ackAsyncEvent(e);
    });
  });

  Deno.test(`async events (${mode}): a CQ holds what its consumer has not polled, a poll between or not`, async () => {
    // The consumer index the device works with is the consumer's (libmthca's update_cons_index
    // rings SET_CI after a poll): in split mode an entry dom0 copied into the guest's ring but
    // the guest did not poll still fills the CQ, so it overruns as on bare metal.
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a, 7), y = await side(b);
      const [qx] = await pair(x, y, QpType.RC);
      const write = (wrId: bigint) => postWrite(qx, x, y, wrId, 8);
      for (let i = 0n; i <= BigInt(x.cq.cqe); i++) write(i); // cqe + 1: the ring is full
      await cluster.sleep(2_000_000);
      assert.deepEqual(x.cq.poll(1).map((w) => w.wrId), [0n]);
      write(100n);
      write(101n);
      const err = await x.ctx.getAsyncEvent();
      assert.deepEqual([err.type, err.cq], [EventType.CQ_ERR, x.cq]);
      x.ctx.ackAsyncEvent(err);
      const fatal = await x.ctx.getAsyncEvent();
      assert.deepEqual([fatal.type, fatal.qp], [EventType.QP_FATAL, qx]);
      x.ctx.ackAsyncEvent(fatal);
    });
  });
}

for (const mode of MODES) {
  Deno.test(`async events (${mode}): a P_Key table the SM changes raises PKEY_CHANGE on every open context, once`, async () => {
    // A SubnSet(P_KeyTable) passes through the driver (mthca_process_mad → MAD_IFC), whose
    // smp_snoop (Linux mthca_mad.c) dispatches IB_EVENT_PKEY_CHANGE; ib_uverbs_event_handler
    // queues an unaffiliated event on every open context. It used to raise nothing: a consumer
    // holding a pkey_index never learned that the entry moved.
    const { cluster, a, b, hosts } = await twoDomains(mode);
    const got = await cluster.run(async () => {
      const ctx1 = await a.openDevice(), ctx2 = await a.openDevice();
      const other = await b.openDevice();
      const port = cluster.fabric.nodes.find((n) => n.name === hosts[0].hca.name)!.ports[0];
      const sm = cluster.subnetManager!;
      sm.setPkeys(port, [0x8001]);
      await sm.sweep();
      await sm.sweep(); // a re-sweep with nothing to change raises nothing
      const read = async (ctx: typeof ctx1) => {
        const e = await ctx.getAsyncEvent();
        ctx.ackAsyncEvent(e); // an unaffiliated event acknowledges nothing, and is accepted
        const entry = await ctx.queryPkey(1, 1);
        // A P_Key change is no port state change: the port still reads ACTIVE.
        return { type: e.type, portNum: e.portNum, entry, state: ctx.queryPort(1).state };
      };
      const seen = [await read(ctx1), await read(ctx2)];
      // Nothing more for them, nor for the other host's context (its table did not change).
      const more = [ctx1, ctx2, other].map((ctx) => {
        let n = 0;
        cluster.spawn("late", async () => void (await ctx.getAsyncEvent(), n++));
        return () => n;
      });
      await cluster.sleep(1_000_000);
      return { seen, more: more.map((f) => f()) };
    });
    const want = {
      type: EventType.PKEY_CHANGE,
      portNum: 1,
      entry: 0x8001,
      state: PortState.ACTIVE,
    };
    assert.deepEqual(got, { seen: [want, want], more: [0, 0, 0] });
  });
}
