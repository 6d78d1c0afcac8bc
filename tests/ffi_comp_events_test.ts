/**
 * Completion-channel events on the real-hardware path (`drivers/verbs/real/cq.ts`) racing a
 * destroy or a close, against the fake libibverbs of tests/ffi_fake_provider.ts with
 * `cqEventsBlock`: `ibv_get_cq_event` blocks in C until the device raises an event, takes it the
 * moment it is raised (the kernel counts it as reported), and the fake throws if an
 * `ibv_destroy_cq` on the JavaScript thread would block on an unacknowledged event, or if
 * `ibv_close_device` runs under a blocked read.
 */
import assert from "node:assert/strict";
import { VerbsError } from "../drivers/uapi/errors.ts";
import type { RealCompChannel, RealContext, RealCq } from "../drivers/verbs/real.ts";
import { FakeProvider } from "./ffi_fake_provider.ts";

const isCode = (code: string, re?: RegExp) => (e: unknown) =>
  e instanceof VerbsError && e.code === code && (!re || re.test(e.message));
const tick = () => new Promise((r) => setTimeout(r, 20));

/** Two CQs on one channel whose `getEvent` is already in C (the fake's read blocks). */
async function withReadInC(
  body: (
    t: {
      fake: FakeProvider;
      ctx: RealContext;
      cq: RealCq;
      other: RealCq;
      reading: Promise<RealCq>;
      ch: RealCompChannel;
    },
  ) => Promise<void>,
): Promise<void> {
  const fake = new FakeProvider();
  fake.cqEventsBlock = true;
  try {
    const ctx = fake.open();
    const ch = ctx.createCompChannel();
    const cq = await ctx.createCq(4, { channel: ch });
    const other = await ctx.createCq(4, { channel: ch });
    const reading = ch.getEvent();
    await tick();
    await body({ fake, ctx, ch, cq, other, reading });
  } finally {
    fake.close();
  }
}
/** The acks, CQ destroys and device close the fake saw, in order. */
const teardown = (fake: FakeProvider) =>
  fake.log.filter((l) => /ack_cq|destroy_cq|close_device/.test(l));

Deno.test("real comp events: a CQ destroy while getEvent is in C runs off the JS thread and waits for the event's ack", () =>
  withReadInC(async ({ fake, ctx, cq, reading }) => {
    // The read is in C; the CQ fires and the read takes the event (counted as reported) while
    // the program destroys that CQ before seeing it. On the JS thread, ibv_destroy_cq would now
    // wait for an ack only JS can give.
    fake.raiseCqEvent(fake.cqs[0]);
    let done = false;
    const destroying = cq.destroy().then(() => (done = true));
    assert.equal(await reading, cq, "the event still resolves to the CQ being destroyed");
    await tick();
    assert.equal(done, false, "destroy returned with its event not acknowledged");
    cq.ackEvents(1); // allowed while the destroy waits for it
    await destroying;
    assert.deepEqual(fake.log.filter((l) => /destroy_cq|ack_cq/.test(l)), [
      "destroy_cq waits for 1 ack(s)",
      "ack_cq_events 1",
      "destroy_cq",
    ]);
    assert.throws(() => cq.ackEvents(0), isCode("EINVAL", /already destroyed/));
    await ctx.close();
  }));

Deno.test("real comp events: a destroy while getEvent is in C for another CQ, or none, just returns", () =>
  withReadInC(async ({ fake, ctx, ch, cq, other, reading }) => {
    fake.raiseCqEvent(fake.cqs[0]); // the read takes cq's event
    await other.destroy(); // nothing reported for `other`: the off-thread call returns
    assert.ok(fake.log.includes("destroy_cq"));
    assert.equal(await reading, cq);
    cq.ackEvents(1);
    // A read in C with no event at all: the destroy of the CQ it would report still returns.
    // Its rejection is awaited at once (a wall-clock timeout may fire while the test waits), and
    // the timeout is long enough that the destroy below runs while the read is still in C.
    const idle = assert.rejects(ch.getEvent({ timeoutNs: 500e6 }), isCode("ETIMEDOUT"));
    await tick();
    await cq.destroy();
    assert.equal(fake.log.filter((l) => l === "destroy_cq").length, 2);
    await idle;
    await ctx.close();
  }));

Deno.test("real comp events: close while getEvent is in C is EBUSY and leaves the context open", () =>
  withReadInC(async ({ fake, ctx, cq, reading }) => {
    await assert.rejects(ctx.close(), isCode("EBUSY", /completion channel's getEvent/));
    assert.equal(ctx.closed, false);
    assert.ok(!fake.log.some((l) => /destroy_|close_device|dlclose/.test(l)), "nothing torn down");
    fake.raiseCqEvent(fake.cqs[0]);
    assert.equal(await reading, cq);
    // Unacknowledged: close acknowledges it before ibv_destroy_cq (the fake throws otherwise).
    await ctx.close();
    assert.equal(ctx.closed, true);
    assert.deepEqual(teardown(fake), [
      "ack_cq_events 1",
      "destroy_cq",
      "destroy_cq",
      "close_device",
    ]);
  }));

Deno.test("real comp events: close acknowledges the event an off-thread CQ destroy waits for, then waits for it", () =>
  withReadInC(async ({ fake, ctx, cq, reading }) => {
    fake.raiseCqEvent(fake.cqs[0]);
    const destroying = cq.destroy();
    assert.equal(await reading, cq);
    await ctx.close(); // the read returned: close acks, and the waiting destroy returns
    await destroying;
    assert.equal(ctx.closed, true);
    assert.deepEqual(teardown(fake), [
      "destroy_cq waits for 1 ack(s)",
      "ack_cq_events 1",
      "destroy_cq",
      "destroy_cq",
      "close_device",
    ]);
  }));
