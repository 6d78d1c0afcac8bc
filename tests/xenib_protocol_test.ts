/**
 * The vib wire format: every op fits its slot, values survive the trip
 * (absent attributes stay absent; a refusal's reason), values a field cannot hold are refused,
 * and the event ring's indices are checked on both sides.
 */
import assert from "node:assert/strict";
import {
  decodeRequest,
  decodeResponse,
  encodeRequest,
  encodeResponse,
  protocolTable,
  segCapacity,
  VIB_F_INDIRECT,
  VIB_OPS,
  VIB_REASON_BYTES,
  VIB_SLOT_BYTES,
  VibEncodeError,
  VibOp,
} from "../drivers/vib/mod.ts";
import { EventRingConsumer, EventRingProducer, VibEventKind } from "../drivers/vib/event_ring.ts";

const slot = () => new DataView(new ArrayBuffer(VIB_SLOT_BYTES));

Deno.test("the opcode table: every field inside the slot, no two fields overlap", () => {
  for (const [op] of VIB_OPS) {
    for (const dir of ["req", "rsp"] as const) {
      const rows = protocolTable().filter((r) =>
        r.op === op && r.dir === dir && !r.field.startsWith("segs")
      );
      const sizes: Record<string, number> = {
        u8: 1,
        bool: 1,
        u16: 2,
        u32: 4,
        u64: 8,
        guid: 8,
        str16: 16,
        bytes16: 16,
        obj: 0,
      };
      let end = 0;
      for (const r of rows) {
        assert.ok(r.offset >= end, `${r.name}.${r.field} overlaps`);
        end = r.offset + sizes[r.type];
      }
      assert.ok(end <= VIB_SLOT_BYTES, `op ${op} ${dir} ends at ${end}`);
    }
  }
  assert.equal(segCapacity(VibOp.REG_MR), 22);
  assert.equal(segCapacity(VibOp.ALLOC_PD), 0);
});

Deno.test("a modify_qp request round-trips, absent attributes stay absent", () => {
  const attr = {
    state: 2,
    pathMtu: 2048,
    destQpNum: 0x123456,
    rqPsn: 5,
    ah: { dlid: 7, grh: { dgid: new Uint8Array(16).fill(9), hopLimit: 3 } },
  };
  const s = slot();
  encodeRequest({
    id: 9,
    op: VibOp.MODIFY_QP,
    flags: 0,
    ctx: 2,
    handle: 4,
    body: { mask: 0x1181, attr },
    segs: [],
  }, s);
  const r = decodeRequest(new DataView(s.buffer.slice(0)));
  assert.equal(r.id, 9);
  assert.equal(r.ctx, 2);
  assert.equal(r.handle, 4);
  assert.deepEqual(r.body, { mask: 0x1181, attr });
  assert.ok(
    !("altPath" in (r.body.attr as object)) && !("sl" in ((r.body.attr as { ah: object }).ah)),
  );
});

Deno.test("values a field cannot hold are refused, segments beyond the slot too", () => {
  const bad = [
    { op: VibOp.QUERY_PORT, body: { port: 256 } },
    { op: VibOp.QUERY_PORT, body: { port: 1.5 } },
    {
      op: VibOp.MODIFY_QP,
      body: { mask: 0, attr: { ah: { dlid: 1, grh: { dgid: new Uint8Array(4) } } } },
    },
    { op: VibOp.REG_MR, body: { addr: -1, length: 1, access: 0, nrPages: 0 } },
  ];
  for (const b of bad) {
    assert.throws(
      () => encodeRequest({ id: 1, flags: 0, ctx: 1, handle: 0, segs: [], ...b }, slot()),
      VibEncodeError,
    );
  }
  assert.throws(() =>
    encodeRequest({
      id: 1,
      op: VibOp.REG_MR,
      flags: VIB_F_INDIRECT,
      ctx: 1,
      handle: 1,
      body: { addr: 4096, length: 4096, access: 1, nrPages: 1 },
      segs: new Array(23).fill(8),
    }, slot()), VibEncodeError);
});

Deno.test("responses: body on success only, errno otherwise", () => {
  const s = slot();
  encodeResponse({
    id: 3,
    op: VibOp.CREATE_CQ,
    status: 0,
    body: { cqHandle: 2, cqn: 130, cqe: 255 },
  }, s);
  assert.deepEqual(decodeResponse(s), {
    id: 3,
    op: VibOp.CREATE_CQ,
    status: 0,
    body: { cqHandle: 2, cqn: 130, cqe: 255 },
  });
  encodeResponse({ id: 4, op: VibOp.CREATE_CQ, status: -12, body: { cqHandle: 2 } }, s);
  assert.deepEqual(decodeResponse(s), { id: 4, op: VibOp.CREATE_CQ, status: -12, body: {} });
});

Deno.test("responses: an error carries the reason, one line, cut at a character boundary", () => {
  const s = slot();
  const reason = "reg_mr: REMOTE_WRITE/REMOTE_ATOMIC require LOCAL_WRITE";
  encodeResponse({ id: 5, op: VibOp.REG_MR, status: -22, body: {}, reason }, s);
  assert.deepEqual(decodeResponse(s), { id: 5, op: VibOp.REG_MR, status: -22, body: {}, reason });
  // Never on success: the body's bytes are the op's fields.
  encodeResponse(
    { id: 6, op: VibOp.ALLOC_PD, status: 0, body: { pdHandle: 1, pdn: 2 }, reason },
    s,
  );
  assert.equal(decodeResponse(s).reason, undefined);
  // Too long: cut to the slot, never in the middle of a character (é is two bytes).
  const long = "x".repeat(VIB_REASON_BYTES - 1) + "é and more";
  encodeResponse({ id: 7, op: VibOp.REG_MR, status: -22, body: {}, reason: long }, s);
  assert.equal(decodeResponse(s).reason, "x".repeat(VIB_REASON_BYTES - 1));
  // Whatever the bytes, one line: control characters read as spaces.
  encodeResponse({ id: 8, op: VibOp.REG_MR, status: -22, body: {}, reason: "a\nb\r\tc" }, s);
  assert.equal(decodeResponse(s).reason, "a b  c");
  // A refusal at a limit keeps its limit beside the reason.
  encodeResponse({ id: 9, op: VibOp.ALLOC_PD, status: -11, body: {}, limit: "pds" }, s);
  assert.deepEqual(decodeResponse(s), {
    id: 9,
    op: VibOp.ALLOC_PD,
    status: -11,
    body: {},
    limit: "pds",
  });
});

Deno.test("event ring: fills, reports loss, refuses an impossible consumer index", () => {
  const page = new Uint8Array(4096);
  const back = new EventRingProducer(page), front = new EventRingConsumer(page);
  front.init();
  for (let i = 0; i < 128; i++) {
    assert.ok(back.push({ ctx: 1, kind: VibEventKind.COMP, obj: 2, type: 0, handle: i }));
  }
  assert.equal(back.push({ ctx: 1, kind: VibEventKind.COMP, obj: 2, type: 0, handle: 999 }), false);
  assert.equal(front.lost, 1);
  const got = front.take();
  assert.equal(got.length, 128);
  assert.equal(got[127].handle, 127);
  new DataView(page.buffer).setUint32(4, 5000, true);
  assert.throws(
    () => back.push({ ctx: 1, kind: VibEventKind.ASYNC, obj: 0, type: 1, handle: 0 }),
    /cons/,
  );
});

Deno.test("datapath bodies (DOORBELL, POLL_CQ): bytes where the table puts them, the same refusals", () => {
  const at = (op: number, dir: "req" | "rsp", field: string) =>
    protocolTable().find((r) => r.op === op && r.dir === dir && r.field === field)!.offset;
  // A request's bytes: each field little-endian at the table's offset, the rest of the slot zero.
  const db = slot();
  db.setUint8(77, 0xee); // stale bytes the encoder must clear
  encodeRequest({
    id: 9,
    op: VibOp.DOORBELL,
    flags: 0,
    ctx: 2,
    handle: 0,
    body: { offset: 0x20, word0: 0x12345678, word1: 0xfedcba98 },
    segs: [],
  }, db);
  const want = slot();
  want.setUint32(0, 9, true);
  want.setUint8(4, VibOp.DOORBELL);
  want.setUint16(6, 2, true);
  want.setUint8(at(VibOp.DOORBELL, "req", "offset"), 0x20);
  want.setUint32(at(VibOp.DOORBELL, "req", "word0"), 0x12345678, true);
  want.setUint32(at(VibOp.DOORBELL, "req", "word1"), 0xfedcba98, true);
  assert.deepEqual(new Uint8Array(db.buffer), new Uint8Array(want.buffer));
  assert.deepEqual(decodeRequest(db).body, { offset: 0x20, word0: 0x12345678, word1: 0xfedcba98 });
  const pq = slot();
  const poll = { cqn: 0xffffffff, consumerIndex: 7 };
  encodeRequest(
    { id: 1, op: VibOp.POLL_CQ, flags: 0, ctx: 1, handle: 0, body: poll, segs: [] },
    pq,
  );
  assert.equal(pq.getUint32(at(VibOp.POLL_CQ, "req", "cqn"), true), 0xffffffff);
  assert.equal(pq.getUint32(at(VibOp.POLL_CQ, "req", "consumerIndex"), true), 7);
  assert.deepEqual(decodeRequest(pq).body, poll);
  const rsp = slot();
  encodeResponse({ id: 1, op: VibOp.POLL_CQ, status: 0, body: { copied: 3 } }, rsp);
  assert.equal(rsp.getUint32(at(VibOp.POLL_CQ, "rsp", "copied"), true), 3);
  assert.deepEqual(decodeResponse(rsp), {
    id: 1,
    op: VibOp.POLL_CQ,
    status: 0,
    body: { copied: 3 },
  });
  encodeResponse({ id: 2, op: VibOp.DOORBELL, status: 0, body: {} }, rsp);
  assert.deepEqual(decodeResponse(rsp), { id: 2, op: VibOp.DOORBELL, status: 0, body: {} });
  // What does not fit is refused by the field it names, whichever body it is.
  const refused = (op: number, body: unknown) =>
    assert.throws(
      () =>
        encodeRequest(
          { id: 1, op, flags: 0, ctx: 1, handle: 0, body: body as never, segs: [] },
          slot(),
        ),
      VibEncodeError,
    );
  for (
    const [body, msg] of [
      [{ offset: 256, word0: 0, word1: 0 }, "offset: 256 does not fit u8"],
      [{ offset: 0, word0: -1, word1: 0 }, "word0: -1 does not fit u32"],
      [{ offset: 0, word0: 0, word1: 2 ** 32 }, "word1: 4294967296 does not fit u32"],
      [{ offset: 0, word0: 0.5, word1: 0 }, "word0: 0.5 does not fit u32"],
      [{ offset: 0, word0: 0 }, "word1: undefined does not fit u32"],
      [null, "offset: undefined does not fit u8"],
    ] as const
  ) {
    refused(VibOp.DOORBELL, body);
    assert.throws(
      () =>
        encodeRequest(
          { id: 1, op: VibOp.DOORBELL, flags: 0, ctx: 1, handle: 0, body: body as never, segs: [] },
          slot(),
        ),
      { name: "VibEncodeError", message: msg },
    );
  }
  refused(VibOp.POLL_CQ, { cqn: "1", consumerIndex: 0 });
  // A POLL_CQ answer that cannot hold its count goes out as -EIO, as any other response.
  encodeResponse({ id: 3, op: VibOp.POLL_CQ, status: 0, body: { copied: -1 } }, rsp);
  assert.equal(decodeResponse(rsp).status, -5);
});
