/**
 * Completion events through completion channels (IBTA vol. 1 §11.4.2.2):
 * only an armed CQ raises one, once per arm; a solicited-only arm ignores
 * unsolicited completions; the event reaches the waiting thread after the
 * interrupt and the wake-up.
 */
import assert from "node:assert/strict";
import { connectPair, QpType, SendFlags, WcStatus, WrOpcode } from "../../mod.ts";
import { CONNECT, rejects, side, twoHosts } from "./helpers.ts";

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
