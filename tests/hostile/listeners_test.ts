/**
 * Program code the library calls back (DESIGN §9 invariant 5: the backend
 * and other guests keep running): an `onAsyncEvent` listener that throws.
 * The listener runs where the device's event arrives — in a guest, in the
 * frontend's upcall on the engine — and its exception used to escape from
 * there and end `cluster.run` for every domain on every host. Now it is
 * kept in `ctx.listenerErrors`; the other listeners and `getAsyncEvent`
 * still get the event, in native, bypass and split alike. (The xenstore
 * watch handler's counterpart is in `xenstore_test.ts`.)
 */
import assert from "node:assert/strict";
import {
  connectPair,
  type Domain,
  EventType,
  QpType,
  SendFlags,
  type VerbsAsyncEvent,
  WrOpcode,
} from "../../mod.ts";
import { end } from "../xenib_support.ts";
import { scene, verdict } from "./support.ts";

/**
 * Overrun a one-entry CQ on a loopback QP of `dom`: the device raises CQ_ERR (IBTA §11.6.2), then
 * QP_FATAL for the QP.
 */
async function overrun(dom: Domain): Promise<void> {
  const e = await end(dom);
  const seen: VerbsAsyncEvent[] = [];
  e.ctx.onAsyncEvent(() => {
    throw new Error("the program's listener throws");
  });
  e.ctx.onAsyncEvent((ev) => seen.push(ev));
  const small = await e.ctx.createCq(1);
  const cap = { maxSendWr: 32, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
  const qp = await e.pd.createQp({ type: QpType.RC, sendCq: small, recvCq: small, cap });
  await connectPair({ qp, lid: e.lid }, { qp, lid: e.lid });
  for (let i = 0; i < 16; i++) {
    qp.postSend({
      wrId: BigInt(i),
      opcode: WrOpcode.RDMA_WRITE,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: e.buf, length: 8, lkey: e.mr.lkey }],
      remoteAddr: e.buf + 64,
      rkey: e.mr.rkey,
    });
  }
  const ev = await e.ctx.getAsyncEvent();
  e.ctx.ackAsyncEvent(ev);
  assert.equal(ev.type, EventType.CQ_ERR, "getAsyncEvent still gets the event");
  assert.equal(ev.cq, small);
  // The QP whose completion the CQ lost follows with QP_FATAL (IBTA vol 1 C9-218).
  const fatal = await e.ctx.getAsyncEvent();
  e.ctx.ackAsyncEvent(fatal);
  assert.deepEqual([fatal.type, fatal.qp], [EventType.QP_FATAL, qp]);
  assert.deepEqual(
    seen.map((x) => x.type),
    [EventType.CQ_ERR, EventType.QP_FATAL],
    "the next listener too",
  );
  assert.equal(e.ctx.listenerErrors.length, 2);
  assert.match(String(e.ctx.listenerErrors[0]), /the program's listener throws/);
  await e.ctx.close();
}

for (const mode of ["bypass", "split"] as const) {
  Deno.test(`listeners: an async-event listener that throws stops nothing (${mode}, and native)`, async () => {
    const s = await scene({ attacker: mode });
    await s.cluster.run(async () => {
      await overrun(s.evil);
      if (mode === "bypass") await overrun(s.bare.os);
      await verdict(s);
    });
  });
}
