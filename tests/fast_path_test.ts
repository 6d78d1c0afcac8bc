/**
 * The allocation-free fast path: doorbells, WQEs and CQEs go through
 * buffers and views that are reused from one message to the next. These
 * tests check that reuse never lets a later message see an earlier one's
 * bytes (or the other way round), and that the byte-level codecs write and
 * read exactly what the DataView/BigInt forms they replaced did.
 */
import assert from "node:assert/strict";
import { QpType, SendFlags, WcStatus, WrOpcode } from "../mod.ts";
import { decodeCqe, encodeCqe } from "../hca/cqe.ts";
import { OPCODES, pickOpcode, type Position, type Transport } from "../hca/opcode.ts";
import { DOORBELL_BYTES, doorbellBytes, doorbellInto, UarOffset, UarPages } from "../hca/uar.ts";
import {
  decodeRecvWqe,
  decodeSendWqe,
  encodeRecvWqe,
  encodeSendWqe,
  WqeOpcode,
} from "../hca/wqe.ts";
import { ackTimeoutNs } from "../hca/timers.ts";
import { Engine } from "../sim/engine.ts";
import { MachineMemory } from "../sim/memory.ts";
import { takeFirst } from "../sim/queue.ts";
import { Qp, type SendWqe, WqeKind, WqeState } from "../hca/qp.ts";
import { BackRing, bytesCodec, FrontRing, SharedRing } from "../drivers/xen/ring.ts";
import { MODES, pair, side, twoDomains } from "./conformance/helpers.ts";

Deno.test("fast path: doorbellInto writes what doorbellBytes builds, and a reused buffer delivers every doorbell's own words", async () => {
  for (
    const [w0, w1] of [[0, 0], [0x1203, 0xfffffffe], [0xffffffff, 1], [0x80000000, 0x7fffffff]]
  ) {
    assert.deepEqual(doorbellInto(new Uint8Array(DOORBELL_BYTES), w0, w1), doorbellBytes(w0, w1));
  }
  const engine = new Engine(), mem = new MachineMemory(1 << 20);
  const seen: number[][] = [];
  const uars = new UarPages(engine, mem, 1, 100, {
    doorbell: (_u, _o, w0, w1, ok) => seen.push([w0, w1, ok ? 1 : 0]),
  });
  const buf = new Uint8Array(DOORBELL_BYTES);
  await engine.run(async () => {
    // Three stores from one buffer before the device sees the first.
    for (let i = 1; i <= 3; i++) {
      mem.write(uars.mfn(0) * 4096 + UarOffset.SEND, doorbellInto(buf, 0x100 + i, i));
    }
    buf.fill(0xee); // changing the buffer afterwards changes nothing delivered
    await engine.sleep(100);
  });
  assert.deepEqual(seen, [[0x101, 1, 1], [0x102, 2, 1], [0x103, 3, 1]]);
});

/** The encoder before the byte-level rewrite: DataView and BigInt fields. */
function referenceSendWqe(
  op: number,
  flags: number,
  remoteAddr: number,
  rkey: number,
  sgl: { addr: number; length: number; lkey: number }[],
): Uint8Array {
  const size = 16 + 16 + 16 * sgl.length;
  const b = new Uint8Array(size);
  const dv = new DataView(b.buffer);
  dv.setUint8(0, op);
  dv.setUint8(1, flags);
  dv.setUint8(2, size / 16);
  dv.setBigUint64(16, BigInt.asUintN(64, BigInt(remoteAddr)));
  dv.setUint32(24, rkey >>> 0);
  let p = 32;
  for (const s of sgl) {
    dv.setUint32(p, s.length >>> 0);
    dv.setUint32(p + 4, s.lkey >>> 0);
    dv.setBigUint64(p + 8, BigInt(s.addr));
    p += 16;
  }
  return b;
}

Deno.test("fast path: WQE fields are the bytes and numbers the DataView/BigInt codec gave, at every magnitude", () => {
  const addrs = [
    0,
    1,
    0xffff_ffff,
    2 ** 32,
    0x1234_5678_9abc,
    2 ** 53 - 1,
    2 ** 53,
    2 ** 60 + 2 ** 12,
    2 ** 64 - 2 ** 11,
    -1,
    -4096,
  ];
  for (const a of addrs) {
    const sgl = [{ addr: Math.abs(a) % 2 ** 53, length: 0x8000_0000 - 1, lkey: 0xdead_beef }];
    const out = new Uint8Array(64).fill(0x5a);
    const n = encodeSendWqe({
      opcode: WqeOpcode.RDMA_WRITE,
      flags: 1,
      remoteAddr: a,
      rkey: 0xfedc_ba98,
      sgl,
    }, out);
    const ref = referenceSendWqe(WqeOpcode.RDMA_WRITE, 1, a, 0xfedc_ba98, sgl);
    assert.deepEqual(out.subarray(0, n), ref, `remote address ${a}`);
    const d = decodeSendWqe(out, false);
    assert.ok(typeof d !== "string");
    // Parsing gives what Number(getBigUint64) gave: the exact value, rounded once.
    assert.equal(d.remoteAddr, Number(new DataView(ref.buffer).getBigUint64(16)), `parsed ${a}`);
    assert.equal(d.sgl[0].addr, sgl[0].addr);
  }
  // A bigint address and a non-integer one behave as before (the first encodes, the second throws).
  const out = new Uint8Array(48);
  encodeSendWqe(
    { opcode: WqeOpcode.RDMA_WRITE, flags: 0, remoteAddr: 2n ** 63n, rkey: 1, sgl: [] },
    out,
  );
  assert.equal(new DataView(out.buffer).getBigUint64(16), 2n ** 63n);
  assert.throws(
    () =>
      encodeSendWqe(
        { opcode: WqeOpcode.RDMA_WRITE, flags: 0, remoteAddr: 1.5, rkey: 1, sgl: [] },
        out,
      ),
    RangeError,
  );
  // Receive WQEs: written at an offset, and a stride past the buffer is refused.
  const rb = new Uint8Array(64);
  encodeRecvWqe([{ addr: 2 ** 40 + 8, length: 100, lkey: 7 }], rb, 32, 32);
  assert.deepEqual(decodeRecvWqe(rb.subarray(32)), [{ addr: 2 ** 40 + 8, length: 100, lkey: 7 }]);
  assert.throws(() => encodeRecvWqe([], rb, 48, 32), RangeError);
});

Deno.test("fast path: a decoded CQE is a copy, whatever is written to its bytes afterwards", () => {
  const b = new Uint8Array(64);
  const cqe = {
    qpn: 0xabcdef,
    imm: 0xffffffff,
    byteLen: 0x8000_0001,
    slid: 0xbeef,
    sl: 15,
    dlidPathBits: 0x7f,
    srcQp: 0x123456,
    wqeCounter: 0xfffe,
    syndrome: 0x81,
    vendorErr: 0x32,
    opcode: 8,
    flags: 3,
    pkeyIndex: 0xffff,
  };
  encodeCqe(cqe, 0, 4, b, 32);
  const d = decodeCqe(b, 32);
  assert.deepEqual(d, cqe);
  b.fill(0);
  assert.deepEqual(d, cqe, "the reused ring buffer may change; the completion does not");
  assert.throws(() => decodeCqe(b, 40), RangeError);
  assert.throws(() => encodeCqe(cqe, 0, 4, b, 33), RangeError);
});

Deno.test("fast path: pickOpcode's index gives the table's opcode for every combination, and refuses the rest", () => {
  const transports: Transport[] = ["RC", "UC", "UD"];
  const positions: Position[] = ["first", "middle", "last", "only"];
  for (const t of transports) {
    for (const op of ["send", "write"] as const) {
      for (const pos of positions) {
        for (const immediate of [false, true]) {
          const imm = immediate && (pos === "last" || pos === "only");
          const row = OPCODES.find((o) =>
            o.transport === t && o.operation === op && o.position === pos && o.hasImmediate === imm
          );
          if (row) assert.equal(pickOpcode(t, op, pos, immediate), row.value);
          else assert.throws(() => pickOpcode(t, op, pos, immediate), RangeError);
        }
      }
    }
  }
});

Deno.test("fast path: 64 writes in flight, each from its own bytes, of two WQE sizes, land byte-exact with their own completions in every mode", async () => {
  for (const mode of MODES) {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a, 256), y = await side(b, 256);
      const [qx] = await pair(x, y, QpType.RC, {
        maxSendWr: 64,
        maxRecvWr: 1,
        maxSendSge: 2,
        maxRecvSge: 1,
      });
      const n = 64, len = 40;
      for (let i = 0; i < n; i++) {
        a.memory.write(
          x.buf + i * len,
          Uint8Array.from({ length: len }, (_, k) => (i * 7 + k) & 0xff),
        );
      }
      for (let i = 0; i < n; i++) {
        // Odd WRs gather from two entries: a 64-byte WQE among 48-byte ones.
        const at = x.buf + i * len;
        const sgList = i % 2
          ? [{ addr: at, length: 16, lkey: x.mr.lkey }, {
            addr: at + 16,
            length: len - 16,
            lkey: x.mr.lkey,
          }]
          : [{ addr: at, length: len, lkey: x.mr.lkey }];
        qx.postSend({
          wrId: BigInt(i),
          opcode: WrOpcode.RDMA_WRITE,
          sendFlags: SendFlags.SIGNALED,
          sgList,
          remoteAddr: y.buf + 8192 + i * len,
          rkey: y.mr.rkey,
        });
      }
      const wcs = await x.cq.pollUntil(n);
      assert.deepEqual(
        wcs.map((wc) => [wc.wrId, wc.status]),
        Array.from({ length: n }, (_, i) => [BigInt(i), WcStatus.SUCCESS]),
        mode,
      );
      for (let i = 0; i < n; i++) {
        assert.deepEqual(
          b.memory.read(y.buf + 8192 + i * len, len),
          Uint8Array.from({ length: len }, (_, k) => (i * 7 + k) & 0xff),
          `${mode}: message ${i}`,
        );
      }
    });
  }
});

Deno.test("fast path: ring slot copies are cut from shared slabs yet stay private, however many are taken and kept", () => {
  // Word-aligned slots (copied by words), odd ones (by bytes), and a page that starts off a word.
  for (const [slot, pageOffset] of [[128, 0], [60, 0], [61, 0], [128, 1]]) {
    const page = new Uint8Array(4096 + pageOffset).subarray(pageOffset);
    const ring = new SharedRing(page, slot);
    const codec = bytesCodec(slot);
    const kept: Uint8Array[] = [];
    // More copies than one slab holds, each kept as a decoder's view of its copy.
    for (let i = 0; i < 3000; i++) {
      const at = ring.slotOffset(i);
      for (let k = 0; k < slot; k++) page[at + k] = (i + k) & 0xff;
      const copy = ring.copySlot(i, slot);
      assert.equal(copy.byteOffset % 8, 0);
      assert.equal(copy.byteLength, slot);
      kept.push(codec.decode(copy));
      page.fill(0xff, at, at + slot); // the peer rewrites the slot
    }
    for (const [i, b] of kept.entries()) {
      assert.deepEqual(
        b,
        Uint8Array.from({ length: slot }, (_, k) => (i + k) & 0xff),
        `${slot}: copy ${i}`,
      );
    }
  }
});

Deno.test("fast path: a transient codec's ring end copies every slot into its own buffer, before decoding", () => {
  const page = new Uint8Array(4096);
  const seen: DataView[] = [];
  const codec = (transient: boolean) => ({
    size: 16,
    transient,
    encode: (v: number, out: DataView) => out.setUint32(0, v, true),
    decode: (inp: DataView) => {
      seen.push(inp);
      // The peer rewrites the slot while the backend decodes: the copy is already taken.
      page.fill(0xee, 64, 64 + 32 * 16);
      return inp.getUint32(0, true);
    },
  });
  for (const transient of [true, false]) {
    page.fill(0);
    seen.length = 0;
    const opts = { request: codec(transient), response: codec(transient) };
    const front = FrontRing.init(page, opts);
    const back = BackRing.attach(page, opts);
    const got: number[] = [];
    for (let i = 1; i <= 40; i++) {
      front.pushRequest(i);
      front.pushRequests();
      got.push(back.takeRequest()!);
      back.pushResponse(i);
      back.pushResponses();
      front.takeResponse();
    }
    assert.deepEqual(got, Array.from({ length: 40 }, (_, i) => i + 1), `transient ${transient}`);
    const requestCopies = new Set(seen.filter((_, k) => k % 2 === 0));
    // One buffer for all of a transient end's copies; a piece of its own for each otherwise.
    assert.equal(requestCopies.size, transient ? 1 : 40);
    assert.ok(seen.every((v) => v.buffer !== page.buffer), "never a view of the shared page");
  }
});

Deno.test("fast path: the local ACK timeout table is 4.096 µs × 2^code for every code, Infinity for 0", () => {
  assert.equal(ackTimeoutNs(0), Infinity);
  for (let code = 1; code < 32; code++) assert.equal(ackTimeoutNs(code), 4096 * 2 ** code);
  assert.equal(ackTimeoutNs(32 + 3), 4096 * 2 ** 3, "only the 5-bit field counts");
});

Deno.test("fast path: the send queue retires by a head index; the requester's index moves up to it and with every compaction", () => {
  const qp = new Qp(7);
  const wqe = (counter: number): SendWqe => ({
    counter,
    wqe: undefined,
    kind: WqeKind.WRITE,
    signaled: false,
    state: WqeState.DONE,
    failSyndrome: 0,
    failVendorErr: 0,
    firstPsn: counter,
    npsn: 1,
    npkts: 1,
    sentPkts: 1,
    readPkts: 0,
    readDone: 0,
  });
  let next = 0;
  const fetch = (n: number) => {
    for (let i = 0; i < n; i++) qp.sq.push(wqe(next++));
  };
  fetch(10);
  qp.req.index = 5;
  qp.retireSq(3);
  assert.deepEqual([qp.sqHead, qp.sqCount, qp.sq[qp.sqHead].counter, qp.req.index], [3, 7, 3, 5]);
  // A late ACK retires WQEs a rewind was about to resend: the index moves up to the new oldest.
  qp.req.index = 3;
  qp.retireSq(4);
  assert.deepEqual([qp.sqHead, qp.sq[qp.sqHead].counter, qp.req.index], [7, 7, 7]);
  // Many retirements: the array drops the retired entries, the index keeps its WQE.
  fetch(60);
  qp.req.index = qp.sqHead + 40;
  const at = qp.sq[qp.req.index].counter;
  qp.retireSq(30);
  assert.equal(qp.sqHead, 0, "compacted");
  assert.equal(qp.sq.length, 33);
  assert.deepEqual([qp.sq[0].counter, qp.sq[qp.req.index].counter], [37, at]);
  assert.ok(qp.sq.every((w) => w !== undefined), "no retired entry is left in the array");
  qp.clearSq();
  assert.deepEqual([qp.sq.length, qp.sqHead, qp.sqCount], [0, 0, 0]);
});

Deno.test("fast path: takeFirst takes what shift takes, and a drained queue fills again in order", () => {
  const q: number[] = [];
  const got: (number | undefined)[] = [];
  for (let round = 0; round < 3; round++) {
    q.push(round * 10, round * 10 + 1);
    got.push(takeFirst(q), takeFirst(q), takeFirst(q));
    q.push(round * 10 + 2);
    got.push(takeFirst(q));
  }
  assert.deepEqual(got, [0, 1, undefined, 2, 10, 11, undefined, 12, 20, 21, undefined, 22]);
});

Deno.test("fast path: the doorbell FIFO delivers every doorbell once, in order, across a drain and a compaction", async () => {
  const engine = new Engine(), mem = new MachineMemory(1 << 20);
  const seen: number[] = [];
  const uars = new UarPages(engine, mem, 1, 100, { doorbell: (_u, _o, _w0, w1) => seen.push(w1) });
  const buf = new Uint8Array(DOORBELL_BYTES);
  const ring = (w1: number) =>
    mem.write(uars.mfn(0) * 4096 + UarOffset.SEND, doorbellInto(buf, 0x100, w1));
  let w = 0;
  await engine.run(async () => {
    // 700 doorbells due at 100 ns and 10 at 150: the FIFO's head passes its
    // compaction mark with entries still waiting behind it.
    for (let i = 0; i < 700; i++) ring(w++);
    await engine.sleep(50);
    for (let i = 0; i < 10; i++) ring(w++);
    await engine.sleep(60);
    assert.equal(seen.length, 700);
    await engine.sleep(100);
    // Emptied: the next doorbells start a fresh round.
    for (let i = 0; i < 5; i++) ring(w++);
    await engine.sleep(100);
  });
  assert.deepEqual(seen, Array.from({ length: 715 }, (_, i) => i));
});
