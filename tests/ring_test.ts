import assert from "node:assert/strict";
import {
  BackRing,
  bytesCodec,
  FrontRing,
  RING_HEADER_SIZE,
  RingError,
  type RingOptions,
  ringSize,
  SharedRing,
  type SlotCodec,
} from "../drivers/xen/ring.ts";
import { Prng } from "../sim/prng.ts";

/** A blkif-like request: u64 id, u32 op, u32 arg (16 bytes). */
interface Req {
  id: bigint;
  op: number;
  arg: number;
}
/** A response: u64 id, i32 status (12 bytes; the C union pads it to 16). */
interface Rsp {
  id: bigint;
  status: number;
}
const reqCodec: SlotCodec<Req> = {
  size: 16,
  encode(v, out) {
    out.setBigUint64(0, v.id, true);
    out.setUint32(8, v.op, true);
    out.setUint32(12, v.arg, true);
  },
  decode(inp) {
    return {
      id: inp.getBigUint64(0, true),
      op: inp.getUint32(8, true),
      arg: inp.getUint32(12, true),
    };
  },
};
const rspCodec: SlotCodec<Rsp> = {
  size: 12,
  encode(v, out) {
    out.setBigUint64(0, v.id, true);
    out.setInt32(8, v.status, true);
  },
  decode(inp) {
    return { id: inp.getBigUint64(0, true), status: inp.getInt32(8, true) };
  },
};
const OPTS = { request: reqCodec, response: rspCodec };

function pair<Q = Req, P = Rsp>(
  start = 0,
  opts: RingOptions<Q, P> = OPTS as unknown as RingOptions<Q, P>,
) {
  const page = new Uint8Array(4096);
  const front = FrontRing.init(page, opts, start);
  const back = BackRing.attach(page, opts, start);
  return { page, front, back, dv: new DataView(page.buffer) };
}

function assertRingError(fn: () => unknown, code: string): RingError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof RingError, `expected RingError ${code}, got ${caught}`);
  assert.equal(caught.code, code);
  return caught;
}

Deno.test("ringSize follows __CONST_RING_SIZE: (4096 - 64) / slot, rounded down to 2^k", () => {
  assert.equal(RING_HEADER_SIZE, 64);
  assert.equal(ringSize(1), 2048); // 4032 -> 2048
  assert.equal(ringSize(16), 128); // 252 -> 128
  assert.equal(ringSize(64), 32); // 63 -> 32
  assert.equal(ringSize(63), 64); // exactly 64
  assert.equal(ringSize(112), 32); // blkif: 36 -> 32
  assert.equal(ringSize(2016), 2); // exactly 2
  assert.equal(ringSize(2017), 1);
  assert.equal(ringSize(4032), 1);
  assert.equal(ringSize(4033), 0);
  assert.equal(ringSize(16, 8192), 256); // a two-page ring: 508 -> 256
  assertRingError(() => ringSize(0), "layout");
  assertRingError(() => new SharedRing(new Uint8Array(4096), 4033), "layout");
});

Deno.test("SharedRing: SHARED_RING_INIT values and field offsets in the page", () => {
  const page = new Uint8Array(4096).fill(0xaa);
  const s = new SharedRing(page, 16);
  s.init();
  const dv = new DataView(page.buffer);
  assert.deepEqual(
    [0, 4, 8, 12].map((o) => dv.getUint32(o, true)),
    [0, 1, 0, 1], // req_prod, req_event, rsp_prod, rsp_event
  );
  assert.ok(page.subarray(16, 64).every((b) => b === 0), "pvt and __pad zeroed");
  assert.equal(page[64], 0xaa, "init does not touch the slots");
  s.reqProd = 0x01020304;
  assert.deepEqual([...page.subarray(0, 4)], [4, 3, 2, 1], "indices are little-endian u32");
  assert.equal(s.slotOffset(0), 64);
  assert.equal(s.slotOffset(127), 64 + 127 * 16);
  assert.equal(s.slotOffset(128), 64, "index masks to slot");
  assert.equal(s.slotOffset(0xffffffff), 64 + 127 * 16);
});

Deno.test("ring: requests and responses round-trip in order through the slots", () => {
  const { front, back, dv } = pair();
  for (let i = 0; i < 5; i++) front.pushRequest({ id: BigInt(100 + i), op: i, arg: i * 7 });
  assert.equal(back.takeRequest(), undefined, "unpublished requests are invisible");
  assert.equal(front.unpublished, 5);
  front.pushRequests();
  assert.equal(dv.getUint32(0, true), 5, "req_prod published");
  assert.equal(dv.getBigUint64(64 + 16 * 3, true), 103n, "request 3 sits in slot 3");
  assert.equal(back.unconsumedRequests(), 5);
  const got: Req[] = [];
  for (let r = back.takeRequest(); r; r = back.takeRequest()) got.push(r);
  assert.deepEqual(got.map((r) => r.id), [100n, 101n, 102n, 103n, 104n]);
  assert.deepEqual(got[4], { id: 104n, op: 4, arg: 28 });
  for (const r of got) back.pushResponse({ id: r.id, status: -r.op });
  back.pushResponses();
  assert.equal(front.unconsumedResponses(), 5);
  const rsps: Rsp[] = [];
  for (let r = front.takeResponse(); r; r = front.takeResponse()) rsps.push(r);
  assert.deepEqual(rsps.map((r) => r.status), [0, -1, -2, -3, -4]);
  assert.deepEqual(rsps.map((r) => r.id), [100n, 101n, 102n, 103n, 104n]);
  assert.equal(front.freeRequests, front.size);
});

Deno.test("ring: push-and-check-notify notifies only when the event index is crossed", () => {
  const { front, back, dv } = pair();
  const push = (n: number) => {
    for (let i = 0; i < n; i++) front.pushRequest({ id: 0n, op: 0, arg: 0 });
    return front.pushRequestsAndCheckNotify();
  };
  assert.equal(push(1), true, "req_event = 1 after init: the first request notifies");
  assert.equal(push(1), false, "back has not re-armed: req_event 1 is behind, no notify");
  assert.ok(back.takeRequest());
  assert.ok(back.takeRequest());
  assert.equal(back.finalCheckForRequests(), false, "nothing left: back may sleep");
  assert.equal(dv.getUint32(4, true), 3, "final check armed req_event = req_cons + 1");
  assert.equal(push(3), true, "a batch that crosses req_event notifies once");
  assert.equal(push(1), false, "req_event already passed");
  // A back asking to be woken only after a batch (custom event, as ring.h allows).
  while (back.takeRequest()) { /* drain */ }
  back.shared.reqEvent = back.reqCons + 3;
  assert.equal(push(2), false, "event at +3, only +2 pushed");
  assert.equal(push(1), true, "the third request crosses it");

  // Responses follow the same rule with rsp_event.
  while (back.takeRequest()) { /* drain: 9 requests taken */ }
  for (let i = 0; i < 7; i++) back.pushResponse({ id: BigInt(i), status: 0 });
  assert.equal(back.pushResponsesAndCheckNotify(), true, "rsp_event = 1 after init");
  back.pushResponse({ id: 7n, status: 0 });
  assert.equal(back.pushResponsesAndCheckNotify(), false, "front has not re-armed");
  while (front.takeResponse()) { /* drain */ }
  assert.equal(front.finalCheckForResponses(), false);
  assert.equal(front.shared.rspEvent, 9);
  assert.equal(back.pushResponsesAndCheckNotify(), false, "pushing nothing never notifies");
});

Deno.test("ring: final check catches a request published after the first check (no lost wakeup)", () => {
  const { front, back } = pair();
  front.pushRequest({ id: 1n, op: 0, arg: 0 });
  assert.equal(front.pushRequestsAndCheckNotify(), true);
  assert.ok(back.takeRequest());
  // The back found the ring empty and is about to sleep...
  assert.equal(back.unconsumedRequests(), 0);
  // ...when the front publishes: req_event is still 1 (stale), so no event is sent.
  front.pushRequest({ id: 2n, op: 0, arg: 0 });
  assert.equal(front.pushRequestsAndCheckNotify(), false, "no notification in the race window");
  // Sleeping now would strand request 2; the final check re-arms and looks again.
  assert.equal(back.finalCheckForRequests(), true, "final check sees the racing request");
  assert.equal(back.takeRequest()?.id, 2n);
  // Once the final check says "sleep", the next request must notify.
  assert.equal(back.finalCheckForRequests(), false);
  front.pushRequest({ id: 3n, op: 0, arg: 0 });
  assert.equal(front.pushRequestsAndCheckNotify(), true);

  // Same on the response side.
  back.pushResponse({ id: 1n, status: 0 });
  assert.equal(back.pushResponsesAndCheckNotify(), true);
  assert.ok(front.takeResponse());
  assert.equal(front.unconsumedResponses(), 0);
  back.pushResponse({ id: 2n, status: 0 });
  assert.equal(back.pushResponsesAndCheckNotify(), false);
  assert.equal(front.finalCheckForResponses(), true);
});

/** A shared page whose event-index writes run a hook first: the peer's CPU acting "now". */
class RacyPage extends SharedRing {
  onArm: (() => void) | undefined;
  override get reqEvent(): number {
    return super.reqEvent;
  }
  override set reqEvent(v: number) {
    const hook = this.onArm;
    this.onArm = undefined;
    hook?.();
    super.reqEvent = v;
  }
  override get rspEvent(): number {
    return super.rspEvent;
  }
  override set rspEvent(v: number) {
    const hook = this.onArm;
    this.onArm = undefined;
    hook?.();
    super.rspEvent = v;
  }
}

Deno.test("ring: final check re-checks after arming the event (push inside the race window)", () => {
  const page = new RacyPage(new Uint8Array(4096), 16);
  const front = FrontRing.init(page, OPTS);
  const back = BackRing.attach(page, OPTS);
  front.pushRequest({ id: 1n, op: 0, arg: 0 });
  front.pushRequestsAndCheckNotify();
  assert.ok(back.takeRequest());
  // The front publishes after the back's first check and before its req_event write lands.
  let notified: boolean | undefined;
  page.onArm = () => {
    front.pushRequest({ id: 2n, op: 0, arg: 0 });
    notified = front.pushRequestsAndCheckNotify();
  };
  assert.equal(back.finalCheckForRequests(), true, "the second check sees request 2");
  assert.equal(notified, false, "the front saw the stale req_event, so only the re-check saves it");
  assert.equal(back.takeRequest()?.id, 2n);

  back.pushResponse({ id: 1n, status: 0 });
  back.pushResponse({ id: 2n, status: 0 });
  back.pushResponses();
  while (front.takeResponse()) { /* drain */ }
  page.onArm = () => {
    front.pushRequest({ id: 3n, op: 0, arg: 0 });
    front.pushRequests();
    back.takeRequest();
    back.pushResponse({ id: 3n, status: 0 });
    notified = back.pushResponsesAndCheckNotify();
  };
  assert.equal(front.finalCheckForResponses(), true);
  assert.equal(notified, false);
  assert.equal(front.takeResponse()?.id, 3n);
});

Deno.test("ring: random interleavings never strand a request and hold off most notifications", () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const rng = new Prng(seed);
    const { front, back } = pair(seed % 2 ? 0xffffff00 : 0);
    let backAsleep = true; // armed by init (req_event = start + 1)
    let frontAsleep = true;
    let sent = 0, served = 0, answered = 0, reqNotifies = 0, rspNotifies = 0;
    const total = 2000;
    for (let steps = 0; answered < total; steps++) {
      assert.ok(steps < 100_000, `seed ${seed}: no progress (sent ${sent}, answered ${answered})`);
      const step = rng.int(4);
      if (step === 0 && sent < total) {
        const n = Math.min(1 + rng.int(4), front.freeRequests, total - sent);
        for (let i = 0; i < n; i++) front.pushRequest({ id: BigInt(sent++), op: 0, arg: 0 });
        if (front.pushRequestsAndCheckNotify()) {
          reqNotifies++;
          backAsleep = false;
        }
      } else if (step === 1 && !backAsleep) {
        // The back serves a few, answers them, then maybe goes to sleep.
        for (let k = rng.int(3); k >= 0; k--) {
          const r = back.takeRequest();
          if (!r) break;
          assert.equal(r.id, BigInt(served++), "requests arrive in order, none lost");
          back.pushResponse({ id: r.id, status: 0 });
        }
        if (back.pushResponsesAndCheckNotify()) {
          rspNotifies++;
          frontAsleep = false;
        }
        if (!back.finalCheckForRequests()) backAsleep = true;
      } else if (step === 2 && !frontAsleep) {
        for (let r = front.takeResponse(); r; r = front.takeResponse()) {
          assert.equal(r.id, BigInt(answered++));
        }
        if (!front.finalCheckForResponses()) frontAsleep = true;
      } else if (step === 3) {
        // The invariant behind the protocol: an end that sleeps has no work.
        if (backAsleep) assert.equal(back.unconsumedRequests(), 0, `seed ${seed}: back stranded`);
        if (frontAsleep) {
          assert.equal(front.unconsumedResponses(), 0, `seed ${seed}: front stranded`);
        }
      }
    }
    assert.equal(served, total);
    assert.ok(reqNotifies > 0 && reqNotifies < total, `seed ${seed}: ${reqNotifies} req events`);
    assert.ok(rspNotifies > 0 && rspNotifies < total, `seed ${seed}: ${rspNotifies} rsp events`);
  }
});

Deno.test("ring: full ring refuses a request until a response frees a slot", () => {
  const { front, back } = pair(0, { request: bytesCodec(1000), response: bytesCodec(8) }); // 4 slots
  assert.equal(front.size, 4);
  assertRingError(() => front.pushRequest(new Uint8Array(1001)), "layout");
  assert.equal(front.freeRequests, 4, "a refused message takes no slot");
  for (let i = 0; i < 4; i++) front.pushRequest(new Uint8Array([i]));
  assert.equal(front.full, true);
  assert.equal(front.freeRequests, 0);
  assertRingError(() => front.pushRequest(new Uint8Array([9])), "full");
  front.pushRequests();
  // Taking requests does not free slots: the responses go into them.
  assert.ok(back.takeRequest());
  assert.equal(front.full, true);
  back.pushResponse(new Uint8Array([0xee]));
  back.pushResponses();
  assert.equal(front.full, true, "a published response frees nothing until consumed");
  assert.equal(front.takeResponse()?.[0], 0xee);
  assert.equal(front.freeRequests, 1);
  front.pushRequest(new Uint8Array([4]));
  front.pushRequests();
  assert.equal(back.unconsumedRequests(), 4);
  assert.deepEqual([1, 2, 3, 4].map(() => back.takeRequest()![0]), [1, 2, 3, 4]);
  assert.equal(back.takeRequest(), undefined);
});

Deno.test("ring: a back with no taken request cannot produce a response", () => {
  const { front, back } = pair();
  assertRingError(() => back.pushResponse({ id: 0n, status: 0 }), "no-request");
  front.pushRequest({ id: 1n, op: 0, arg: 0 });
  front.pushRequests();
  back.takeRequest();
  back.pushResponse({ id: 1n, status: 0 });
  assertRingError(() => back.pushResponse({ id: 1n, status: 0 }), "no-request");
});

Deno.test("ring: 32-bit indices wrap at 2^32 (start near 0xffffffff)", () => {
  const start = 0xffffffff - 5;
  const { front, back, dv } = pair(start);
  assert.equal(dv.getUint32(0, true), start);
  assert.equal(dv.getUint32(4, true), start + 1);
  const size = front.size; // 128
  let id = 0n, expect = 0n, notified = 0;
  for (let round = 0; round < 3; round++) {
    // Fill the ring completely across the wrap, then drain it.
    for (let k = 0; !front.full; k++) {
      assert.ok(k < size, "the ring fills after RING_SIZE requests");
      front.pushRequest({ id: id++, op: 0, arg: 0 });
    }
    if (front.pushRequestsAndCheckNotify()) notified++;
    assert.equal(back.unconsumedRequests(), size);
    for (let r = back.takeRequest(); r; r = back.takeRequest()) {
      assert.equal(r.id, expect++);
      back.pushResponse({ id: r.id, status: 1 });
    }
    back.pushResponsesAndCheckNotify();
    while (front.takeResponse()) { /* drain */ }
    assert.equal(back.finalCheckForRequests(), false);
    assert.equal(front.finalCheckForResponses(), false);
  }
  assert.equal(notified, 3, "each round crosses the re-armed req_event, across the wrap too");
  const end = (start + 3 * size) >>> 0;
  assert.equal(end, 3 * 128 - 6, "indices wrapped to small values");
  assert.equal(front.reqProdPvt, end);
  assert.equal(back.reqCons, end);
  assert.equal(dv.getUint32(0, true), end);
  assert.equal(dv.getUint32(8, true), end);
  assert.equal(dv.getUint32(4, true), end + 1);
  // Index 0xffffffff and index 0 are neighbouring slots.
  assert.equal(front.shared.slotOffset(0), front.shared.slotOffset(0xffffffff) + 16 - 128 * 16);
  // A push right across the wrap: old = 2^32 - 1, new = 0, event = 0 => notify.
  const w = pair(0xffffffff);
  w.front.pushRequest({ id: 0n, op: 0, arg: 0 });
  assert.equal(w.front.pushRequestsAndCheckNotify(), true);
  assert.equal(w.dv.getUint32(0, true), 0);
  assert.equal(w.back.takeRequest()?.id, 0n);
});

Deno.test("ring: hostile req_prod values are rejected with an error, and the ring stays broken", () => {
  const size = ringSize(16);
  for (
    const [what, forge] of [
      ["more than RING_SIZE ahead", (c: number) => c + size + 1],
      ["far ahead", () => 0x7fffffff],
      ["behind req_cons (went backwards)", (c: number) => c - 1],
      ["2^31 ahead", (c: number) => c + 0x80000000],
    ] as const
  ) {
    for (const start of [0, 0xfffffff0]) {
      const { front, back, dv } = pair(start);
      front.pushRequest({ id: 1n, op: 0, arg: 0 });
      front.pushRequests();
      assert.ok(back.takeRequest());
      dv.setUint32(0, forge(back.reqCons) >>> 0, true);
      const err = assertRingError(() => back.takeRequest(), "prod-overflow");
      assert.match(err.message, /req_prod/, what);
      assert.equal(back.error, err);
      assertRingError(() => back.unconsumedRequests(), "broken");
      assertRingError(() => back.pushResponse({ id: 1n, status: 0 }), "broken");
      assertRingError(() => back.finalCheckForRequests(), "broken");
    }
  }
});

Deno.test("ring: the request bound counts requests awaiting responses (RING_REQUEST_PROD_OVERFLOW)", () => {
  const { front, back, dv } = pair(0xfffffffc);
  const size = front.size;
  for (let i = 0; i < 4; i++) front.pushRequest({ id: BigInt(i), op: 0, arg: 0 });
  front.pushRequests();
  for (let i = 0; i < 4; i++) assert.ok(back.takeRequest());
  // 4 slots still hold requests awaiting responses: at most size - 4 more.
  dv.setUint32(0, (back.reqCons + size - 4) >>> 0, true);
  assert.equal(back.unconsumedRequests(), size - 4, "exactly full is legal");
  dv.setUint32(0, (back.reqCons + size - 3) >>> 0, true);
  assertRingError(() => back.unconsumedRequests(), "prod-overflow");
});

Deno.test("ring: the back decodes a private copy; rewriting the slot afterwards changes nothing", () => {
  const page = new Uint8Array(4096);
  const raw = bytesCodec(16);
  const front = FrontRing.init(page, { request: raw, response: raw });
  const back = BackRing.attach(page, { request: raw, response: raw });
  front.pushRequest(new Uint8Array([1, 2, 3, 4]));
  front.pushRequests();
  const req = back.takeRequest()!;
  assert.notEqual(req.buffer, page.buffer, "decoded from a copy, not from the shared page");
  page.fill(0xff, 64, 80); // the frontend rewrites slot 0 after the back took it
  assert.deepEqual([...req.subarray(0, 4)], [1, 2, 3, 4]);
  // The same rule protects the front from a backend.
  back.pushResponse(new Uint8Array([5]));
  back.pushResponses();
  const rsp = front.takeResponse()!;
  page.fill(0, 64, 80);
  assert.equal(rsp[0], 5);
});

Deno.test("ring: hostile event indices and scribbled rsp_prod cannot break the back", () => {
  const { front, back, dv } = pair();
  front.pushRequest({ id: 1n, op: 0, arg: 0 });
  front.pushRequests();
  back.takeRequest();
  back.pushResponse({ id: 1n, status: 0 });
  dv.setUint32(12, 0xdeadbeef, true); // rsp_event garbage: only the notify decision changes
  dv.setUint32(8, 0x12345678, true); // the front scribbles on rsp_prod, which the back owns
  assert.equal(back.pushResponsesAndCheckNotify(), false, "event not in (0, 1]");
  assert.equal(dv.getUint32(8, true), 1, "the back republishes its own rsp_prod");
  // The front asks for an event at response 2 but fakes rsp_prod = 2 first: ring.h, which
  // re-reads the old value from the page, would see no new responses and not notify; the
  // back uses its own last published value (1), so the front still gets its event.
  dv.setUint32(12, 2, true);
  back.shared.rspProd = 2;
  front.pushRequest({ id: 2n, op: 0, arg: 0 });
  front.pushRequests();
  back.takeRequest();
  back.pushResponse({ id: 2n, status: 0 });
  assert.equal(back.pushResponsesAndCheckNotify(), true);
});

Deno.test("ring: a hostile rsp_prod is rejected by the front", () => {
  const { front, back, dv } = pair();
  front.pushRequest({ id: 1n, op: 0, arg: 0 });
  front.pushRequests();
  back.takeRequest();
  dv.setUint32(8, 2, true); // two responses to one request
  assertRingError(() => front.takeResponse(), "prod-overflow");
  assertRingError(() => front.finalCheckForResponses(), "broken");
});

Deno.test("ring: slot size must hold both messages; explicit slot size sets the C union size", () => {
  assertRingError(
    () => FrontRing.init(new Uint8Array(4096), { ...OPTS, slotSize: 12 }),
    "layout",
  );
  // A page already laid out with other slots cannot carry these messages.
  assertRingError(() => BackRing.attach(new SharedRing(new Uint8Array(4096), 32), OPTS), "layout");
  const r = FrontRing.init(new Uint8Array(4096), { request: rspCodec, response: rspCodec });
  assert.equal(r.shared.slotSize, 12);
  const padded = FrontRing.init(new Uint8Array(4096), {
    request: rspCodec,
    response: rspCodec,
    slotSize: 16,
  });
  assert.equal(padded.shared.slotOffset(1), 80);
});
