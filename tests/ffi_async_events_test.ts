/**
 * Async events on the real-hardware path (`drivers/verbs/real/async_events.ts`)
 * against the fake libibverbs of tests/ffi_fake_provider.ts: the blocking
 * `ibv_get_async_event` runs as a nonblocking FFI call, the event's
 * `struct ibv_async_event` resolves to the wrapper's QP/CQ/SRQ or port, each
 * ack hands that same struct back to `ibv_ack_async_event`, and a destroy
 * calls C only once its reported events are acknowledged (the fake throws if
 * an `ibv_destroy_*` would block, as libibverbs would).
 */
import assert from "node:assert/strict";
import { EventType, QpType } from "../drivers/uapi/enums.ts";
import { VerbsError } from "../drivers/uapi/errors.ts";
import { FakeProvider } from "./ffi_fake_provider.ts";

const isCode = (code: string, re?: RegExp) => (e: unknown) =>
  e instanceof VerbsError && e.code === code && (!re || re.test(e.message));
const cap = { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1, maxInlineData: 0 };
const tick = () => new Promise((r) => setTimeout(r, 20));

async function objects(fake: FakeProvider) {
  const ctx = fake.open();
  const pd = await ctx.allocPd();
  const cq = await ctx.createCq(4);
  const srq = await pd.createSrq({ maxWr: 4, maxSge: 1 });
  const qp = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, srq, cap });
  return { ctx, pd, cq, srq, qp };
}

Deno.test("real async events: each event names its QP, CQ, SRQ or port; ack hands its struct back", async () => {
  const fake = new FakeProvider();
  try {
    const { ctx, cq, srq, qp } = await objects(fake);
    fake.raiseAsyncEvent(EventType.QP_LAST_WQE_REACHED, fake.qps[0]);
    fake.raiseAsyncEvent(EventType.CQ_ERR, fake.cqs[0]);
    fake.raiseAsyncEvent(EventType.SRQ_LIMIT_REACHED, fake.srqs[0]);
    fake.raiseAsyncEvent(EventType.PORT_ERR, 2);
    const got = [];
    for (let i = 0; i < 4; i++) got.push(await ctx.getAsyncEvent());
    assert.deepEqual(got, [
      { type: EventType.QP_LAST_WQE_REACHED, qp },
      { type: EventType.CQ_ERR, cq },
      { type: EventType.SRQ_LIMIT_REACHED, srq },
      { type: EventType.PORT_ERR, portNum: 2 },
    ]);
    assert.equal(got[0].qp, qp); // the wrapper's own object, not a copy
    assert.equal(ctx.asyncUnacked, 4);
    for (const e of got) ctx.ackAsyncEvent(e);
    assert.equal(ctx.asyncUnacked, 0);
    // libibverbs counted one completed event per object; the port event counts nothing.
    for (const p of [fake.qps[0], fake.cqs[0], fake.srqs[0]]) {
      assert.deepEqual(fake.asyncCounts.get(Deno.UnsafePointer.value(p)), {
        reported: 1,
        completed: 1,
      });
    }
    assert.deepEqual(fake.log.filter((l) => l.startsWith("ack_async_event")), [
      "ack_async_event 16",
      "ack_async_event 0",
      "ack_async_event 15",
      "ack_async_event 10",
    ]);
    await ctx.close();
  } finally {
    fake.close();
  }
});

Deno.test("real async events: destroy of a QP, SRQ or CQ calls C only after the ack of its events", async () => {
  const fake = new FakeProvider();
  try {
    const { ctx, cq, srq, qp } = await objects(fake);
    const pending = [];
    for (
      const [type, p] of [
        [EventType.QP_FATAL, fake.qps[0]],
        [EventType.SRQ_ERR, fake.srqs[0]],
        [EventType.CQ_ERR, fake.cqs[0]],
      ] as const
    ) {
      fake.raiseAsyncEvent(type, p);
      pending.push(await ctx.getAsyncEvent());
    }
    for (
      const [i, [obj, call]]
        of ([[qp, "destroy_qp"], [srq, "destroy_srq"], [cq, "destroy_cq"]] as const).entries()
    ) {
      let done = false;
      const destroying = obj.destroy().then(() => (done = true));
      await tick();
      assert.equal(done, false, `${call} returned with its event not acknowledged`);
      assert.ok(!fake.log.includes(call), `${call} reached C: it would block the acking thread`);
      ctx.ackAsyncEvent(pending[i]);
      await destroying;
      assert.ok(fake.log.includes(call));
    }
    // The destroyed objects' pointers are forgotten. An event naming a QP the wrapper does not
    // know (here one it never made) is acknowledged at once and reported as EIO.
    fake.raiseAsyncEvent(EventType.QP_FATAL, Deno.UnsafePointer.of(new Uint8Array(64))!);
    await assert.rejects(ctx.getAsyncEvent(), isCode("EIO", /does not know/));
    assert.equal(fake.log.at(-1), "ack_async_event 1", "acked at once, so nothing waits on it");
    // WQ_FATAL (19) names a struct ibv_wq (element.wq), which this wrapper never makes.
    fake.raiseAsyncEvent(EventType.WQ_FATAL, Deno.UnsafePointer.of(new Uint8Array(64))!);
    await assert.rejects(ctx.getAsyncEvent(), isCode("EIO", /WQ_FATAL \(19\) for a WQ/));
    assert.equal(fake.log.at(-1), "ack_async_event 19");
    await ctx.close();
  } finally {
    fake.close();
  }
});

Deno.test("real async events: a destroy while a read is in C runs off the JS thread and waits for the ack", async () => {
  const fake = new FakeProvider();
  try {
    const { ctx, qp, srq } = await objects(fake);
    // A read is in C; the device raises a QP event, which the read takes (the kernel counts it
    // as reported) while the program destroys that QP before seeing it. On the JS thread,
    // ibv_destroy_qp would now wait for an ack only JS can give.
    const reading = ctx.getAsyncEvent();
    await tick();
    fake.raiseAsyncEvent(EventType.QP_FATAL, fake.qps[0]);
    let done = false;
    const destroying = qp.destroy().then(() => (done = true));
    const e = await reading;
    assert.equal(e.qp, qp, "the event still resolves to the QP being destroyed");
    await tick();
    assert.equal(done, false, "destroy returned with its event not acknowledged");
    ctx.ackAsyncEvent(e);
    await destroying;
    assert.deepEqual(fake.log.filter((l) => /destroy_qp|ack_async/.test(l)), [
      "destroy_qp waits for 1 ack(s)",
      "ack_async_event 1",
      "destroy_qp",
    ]);
    // With nothing reported, the off-thread destroy just runs; close waits for none.
    const idle = ctx.getAsyncEvent();
    await tick();
    await srq.destroy();
    assert.ok(fake.log.includes("destroy_srq"));
    fake.raiseAsyncEvent(EventType.PORT_ACTIVE, 1);
    ctx.ackAsyncEvent(await idle);
    await ctx.close();
  } finally {
    fake.close();
  }
});

Deno.test("real async events: unread events of a destroyed object are dropped, not waited for", async () => {
  const fake = new FakeProvider();
  try {
    const { ctx, qp } = await objects(fake);
    fake.raiseAsyncEvent(EventType.COMM_EST, fake.qps[0]);
    fake.raiseAsyncEvent(EventType.PATH_MIG, fake.qps[0]);
    fake.raiseAsyncEvent(EventType.PORT_ACTIVE, 1);
    await qp.destroy(); // nothing reported for it: returns at once
    assert.ok(fake.log.includes("destroy_qp"));
    // Its two events went with it (ib_uverbs_release_uevent); the port event is next.
    assert.deepEqual(await ctx.getAsyncEvent({ timeoutNs: 1e9 }), {
      type: EventType.PORT_ACTIVE,
      portNum: 1,
    });
    await assert.rejects(
      ctx.getAsyncEvent({ timeoutNs: 20e6 }),
      isCode("ETIMEDOUT", /20000000 ns/),
    );
    await ctx.close();
  } finally {
    fake.close();
  }
});

Deno.test("real async events: close acknowledges what is left before destroying and closing", async () => {
  const fake = new FakeProvider();
  try {
    const { ctx } = await objects(fake);
    fake.raiseAsyncEvent(EventType.CQ_ERR, fake.cqs[0]);
    fake.raiseAsyncEvent(EventType.QP_REQ_ERR, fake.qps[0]);
    fake.raiseAsyncEvent(EventType.LID_CHANGE, 1);
    const events = [
      await ctx.getAsyncEvent(),
      await ctx.getAsyncEvent(),
      await ctx.getAsyncEvent(),
    ];
    assert.equal(ctx.asyncUnacked, 3);
    await ctx.close(); // the fake throws if a destroy would block on an unacked event
    assert.equal(ctx.asyncUnacked, 0);
    const tail = fake.log.filter((l) => /ack_async|destroy_|close_device/.test(l));
    assert.deepEqual(tail, [
      "ack_async_event 0",
      "ack_async_event 2",
      "ack_async_event 11",
      "destroy_qp",
      "destroy_srq",
      "destroy_cq",
      "close_device",
    ]);
    assert.throws(() => ctx.ackAsyncEvent(events[0]), isCode("EINVAL", /acknowledged already/));
  } finally {
    fake.close();
  }
});

Deno.test("real async events: a second ack or a foreign event is EINVAL; one read at a time", async () => {
  const a = new FakeProvider();
  const b = new FakeProvider();
  try {
    const ctxA = a.open();
    const ctxB = b.open();
    a.raiseAsyncEvent(EventType.PORT_ACTIVE, 1);
    const e = await ctxA.getAsyncEvent();
    assert.throws(() => ctxB.ackAsyncEvent(e), isCode("EINVAL", /not an event getAsyncEvent/));
    ctxA.ackAsyncEvent(e);
    assert.throws(() => ctxA.ackAsyncEvent(e), isCode("EINVAL", /acknowledged already/));
    assert.throws(
      () => ctxA.ackAsyncEvent({ type: EventType.PORT_ACTIVE, portNum: 1 }),
      isCode("EINVAL"),
    );
    assert.equal(a.log.filter((l) => l.startsWith("ack_async_event")).length, 1);
    // Only one ibv_get_async_event per context; close waits for none to be in C.
    const waiting = ctxA.getAsyncEvent();
    await tick();
    await assert.rejects(ctxA.getAsyncEvent(), isCode("EBUSY", /already waiting/));
    await assert.rejects(ctxA.close(), isCode("EBUSY", /getAsyncEvent/));
    assert.equal(ctxA.closed, false);
    a.raiseAsyncEvent(EventType.SM_CHANGE, 1);
    const sm = await waiting;
    assert.deepEqual(sm, { type: EventType.SM_CHANGE, portNum: 1 });
    await assert.rejects(ctxA.getAsyncEvent({ timeoutNs: -1 }), isCode("EINVAL", /timeoutNs/));
    a.failNext = { verb: "get_async_event", errno: 5 };
    await assert.rejects(ctxA.getAsyncEvent(), isCode("EIO", /returned -1/));
    await ctxA.close();
    await ctxB.close();
    await assert.rejects(ctxA.getAsyncEvent(), isCode("EINVAL", /closed/));
  } finally {
    a.close();
    b.close();
  }
});
