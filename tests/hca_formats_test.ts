import assert from "node:assert/strict";
import {
  decodeRecvWqe,
  decodeSendWqe,
  encodeRecvWqe,
  encodeSendWqe,
  INVALID_LKEY,
  type ParsedSendWqe,
  sendWqeSize,
  WqeFlags,
  WqeOpcode,
} from "../hca/wqe.ts";
import { CQE_BYTES, cqeReady, decodeCqe, encodeCqe, ownerBitFor } from "../hca/cqe.ts";
import { decodeEqe, encodeEqe, eqeReady } from "../hca/eqe.ts";
import { cmdWord, CqDbCmd, doorbellBytes } from "../hca/uar.ts";
import { ackTimeoutNs, rnrTimerNs } from "../hca/timers.ts";
import { FetchedWqe, psnAdd, psnDiff } from "../hca/qp.ts";
import { keyToMptIndex, mptKey } from "../hca/commands.ts";
import { pagesSpanned } from "../hca/mpt.ts";

Deno.test("hca formats: send WQEs round-trip byte for byte through encode/decode", () => {
  const buf = new Uint8Array(256);
  const n = encodeSendWqe({
    opcode: WqeOpcode.ATOMIC_CS,
    flags: WqeFlags.SIGNALED | WqeFlags.FENCE,
    remoteAddr: 0x1234_5678_9a00,
    rkey: 0xabcdef01,
    swapAdd: 0xffff_ffff_ffff_fffen,
    compare: 3n,
    sgl: [{ addr: 0x7000, length: 8, lkey: 0x300 }],
  }, buf);
  assert.equal(n, 64);
  assert.equal(buf[0], 0x11);
  assert.equal(buf[2], 4, "ds = 4 units");
  const d = decodeSendWqe(buf, false);
  assert.ok(typeof d !== "string");
  assert.equal(d.remoteAddr, 0x1234_5678_9a00);
  assert.equal(d.rkey, 0xabcdef01);
  assert.equal(d.swapAdd, 0xffff_ffff_ffff_fffen);
  assert.equal(d.compare, 3n);
  assert.equal(d.flags & WqeFlags.FENCE, WqeFlags.FENCE);
  assert.deepEqual(d.sgl, [{ addr: 0x7000, length: 8, lkey: 0x300 }]);

  const ud = new Uint8Array(128);
  const dgid = new Uint8Array(16).fill(9);
  encodeSendWqe({
    opcode: WqeOpcode.SEND_IMM,
    flags: 0,
    imm: 0x01020304,
    ud: {
      dlid: 0x44,
      sl: 3,
      remoteQpn: 0x123456,
      qkey: 0x80000000,
      grh: { dgid, hopLimit: 2, flowLabel: 5, trafficClass: 7 },
    },
    inline: new Uint8Array([1, 2, 3]),
  }, ud);
  assert.equal(
    sendWqeSize({
      opcode: WqeOpcode.SEND,
      flags: 0,
      ud: { dlid: 1, remoteQpn: 1, qkey: 1 },
      inline: new Uint8Array(3),
    }),
    80,
  );
  const u = decodeSendWqe(ud, true);
  assert.ok(typeof u !== "string");
  assert.equal(u.imm, 0x01020304);
  assert.equal(u.ud!.dlid, 0x44);
  assert.equal(u.ud!.sl, 3);
  assert.equal(u.ud!.remoteQpn, 0x123456);
  assert.equal(u.ud!.qkey, 0x80000000);
  assert.deepEqual(u.ud!.grh!.dgid, dgid);
  assert.equal(u.ud!.grh!.flowLabel, 5);
  assert.equal(u.ud!.grh!.trafficClass, 7);
  assert.deepEqual(u.inline, new Uint8Array([1, 2, 3]));
  assert.equal(u.length, 3);
});

Deno.test("hca formats: malformed send WQEs are reported, not thrown", () => {
  const b = new Uint8Array(64);
  b[0] = 0x77;
  assert.match(decodeSendWqe(b, false) as string, /opcode/);
  b[0] = WqeOpcode.RDMA_WRITE;
  b[2] = 1; // control segment only: no room for the remote address
  assert.match(decodeSendWqe(b, false) as string, /remote address/);
  b[2] = 9; // bigger than the 64 bytes fetched
  assert.match(decodeSendWqe(b, false) as string, /outside what was fetched \(64 bytes\)/);
  b[0] = WqeOpcode.SEND;
  b[1] = WqeFlags.INLINE;
  b[2] = 2;
  new DataView(b.buffer).setUint32(16, 0x80000000 | 100);
  assert.match(decodeSendWqe(b, false) as string, /overruns/);
  assert.throws(
    () =>
      encodeSendWqe(
        { opcode: WqeOpcode.SEND, flags: 0, inline: new Uint8Array(100) },
        new Uint8Array(64),
      ),
    RangeError,
  );
});

Deno.test("hca formats: receive WQEs end at the stride or the first invalid lkey", () => {
  const b = new Uint8Array(64);
  encodeRecvWqe([{ addr: 1, length: 2, lkey: 0x100 }, { addr: 3, length: 4, lkey: 0x200 }], b);
  assert.deepEqual(decodeRecvWqe(b), [{ addr: 1, length: 2, lkey: 0x100 }, {
    addr: 3,
    length: 4,
    lkey: 0x200,
  }]);
  assert.equal(INVALID_LKEY, 0);
  assert.throws(
    () => encodeRecvWqe(new Array(5).fill({ addr: 0, length: 1, lkey: 1 }), b),
    RangeError,
  );
});

Deno.test("hca formats: CQE owner bits flip on every pass; a zeroed ring is empty", () => {
  const logSize = 2;
  const ring = new Uint8Array(CQE_BYTES << logSize);
  const cqe = {
    qpn: 0xabcd,
    imm: 1,
    byteLen: 2,
    slid: 3,
    sl: 4,
    dlidPathBits: 5,
    srcQp: 6,
    wqeCounter: 7,
    syndrome: 0,
    vendorErr: 0,
    opcode: 129,
    flags: 3,
    pkeyIndex: 0,
  };
  assert.equal(cqeReady(ring, 0, 0, logSize), false);
  for (let pi = 0; pi < 12; pi++) {
    const off = (pi % 4) * CQE_BYTES;
    encodeCqe({ ...cqe, wqeCounter: pi }, pi, logSize, ring, off);
    assert.ok(cqeReady(ring, off, pi, logSize), `entry ${pi} ready for its consumer index`);
    assert.equal(cqeReady(ring, off, pi + 4, logSize), false, `entry ${pi} stale one pass later`);
    assert.equal(ownerBitFor(pi, logSize), (pi >> 2) & 1 ? 0 : 1);
  }
  const d = decodeCqe(ring, 3 * CQE_BYTES);
  assert.equal(d.wqeCounter, 11);
  assert.equal(d.qpn, 0xabcd);
  assert.equal(d.sl, 4);
  assert.equal(d.opcode, 129);
});

Deno.test("hca formats: EQEs, doorbell words, keys, timers and PSN arithmetic", () => {
  const e = new Uint8Array(32);
  encodeEqe({ type: 0x14, subtype: 0, index: 0x123456, cause: 0 }, 8, 3, e);
  assert.equal(eqeReady(e, 0, 8, 3), true);
  assert.equal(eqeReady(e, 0, 0, 3), false);
  assert.deepEqual(decodeEqe(e), { type: 0x14, subtype: 0, index: 0x123456, cause: 0 });
  assert.deepEqual(
    doorbellBytes(cmdWord(CqDbCmd.REQ_NOTIFY_SOLICITED, 0x10203), 0xfffffffe),
    new Uint8Array([3, 1, 2, 3, 0xff, 0xff, 0xff, 0xfe]),
  );
  assert.equal(keyToMptIndex(mptKey(0x1234, 0x99)), 0x1234);
  // IBTA table 45: code 0 is 655.36 ms; codes 1..3 are 0.01, 0.02, 0.03 ms; from code 2 on,
  // every second code doubles (0.02, 0.04, 0.08, … and 0.03, 0.06, 0.12, …) up to 491.52 ms.
  assert.equal(rnrTimerNs(0), 655_360_000);
  assert.deepEqual([1, 2, 3].map(rnrTimerNs), [10_000, 20_000, 30_000]);
  for (let c = 2; c <= 29; c++) assert.equal(rnrTimerNs(c + 2), 2 * rnrTimerNs(c), `code ${c + 2}`);
  assert.equal(rnrTimerNs(31), 491_520_000);
  assert.equal(rnrTimerNs(32 + 12), rnrTimerNs(12), "only the 5-bit code counts");
  assert.equal(ackTimeoutNs(14), 4096 * 2 ** 14, "4.096 us * 2^timeout");
  assert.equal(ackTimeoutNs(0), Infinity);
  assert.equal(ackTimeoutNs(1), 8192);
  assert.equal(psnDiff(2, 0xfffffe), 4);
  assert.equal(psnDiff(0xfffffe, 2), -4);
  assert.equal(psnAdd(0xffffff, 2), 1);
  assert.equal(pagesSpanned(4095, 2), 2);
  assert.equal(pagesSpanned(4096, 4096), 1);
  assert.equal(pagesSpanned(10, 0), 0);
});

Deno.test("hca formats: a send WQE parsed into the device's record reads as the plain parse, with 0 to 3 gather entries, inline and UD", () => {
  const sge = (i: number) => ({
    addr: 0x7f00_0000_1000 + i * 0x1000,
    length: 100 + i,
    lkey: 0x300 + i,
  });
  const cases: Parameters<typeof encodeSendWqe>[0][] = [
    {
      opcode: WqeOpcode.RDMA_WRITE,
      flags: WqeFlags.SIGNALED,
      remoteAddr: 0x9000,
      rkey: 5,
      sgl: [],
    },
    ...[1, 2, 3].map((n) => ({
      opcode: WqeOpcode.RDMA_WRITE_IMM,
      flags: WqeFlags.SIGNALED,
      imm: 0xfedcba98,
      remoteAddr: 0x7fff_ffff_0000,
      rkey: 0x80000001,
      sgl: Array.from({ length: n }, (_, i) => sge(i)),
    })),
    { opcode: WqeOpcode.SEND, flags: 0, sgl: [sge(0), { addr: 0, length: 0, lkey: 9 }, sge(2)] },
    { opcode: WqeOpcode.SEND, flags: 0, inline: new Uint8Array([1, 2, 3]) },
    { opcode: WqeOpcode.ATOMIC_FA, flags: 0, remoteAddr: 8, rkey: 1, swapAdd: 7n, sgl: [sge(0)] },
  ];
  for (const [k, c] of cases.entries()) {
    const b = new Uint8Array(256);
    encodeSendWqe(c, b);
    const plain = decodeSendWqe(b, false);
    assert.ok(typeof plain !== "string", `case ${k}`);
    // Parse into the same record twice (a record is written once, but nothing may leak).
    const rec = new FetchedWqe(k);
    for (let round = 0; round < 2; round++) {
      assert.equal(decodeSendWqe(b, false, 30, rec), rec, `case ${k}`);
      const fields = (p: ParsedSendWqe) => ({
        opcode: p.opcode,
        flags: p.flags,
        imm: p.imm,
        remoteAddr: p.remoteAddr,
        rkey: p.rkey,
        swapAdd: p.swapAdd,
        compare: p.compare,
        ud: p.ud,
        inline: p.inline,
        length: p.length,
        sgl: p.sgl.map((s) => ({ addr: s.addr, length: s.length, lkey: s.lkey })),
      });
      assert.deepEqual(fields(rec), fields(plain), `case ${k}`);
    }
  }
  // The UD address segment, and a malformed WQE, the same way.
  const ud = new Uint8Array(128);
  encodeSendWqe({
    opcode: WqeOpcode.SEND,
    flags: 0,
    ud: { dlid: 0x44, remoteQpn: 0x123456, qkey: 0x11 },
    sgl: [sge(1)],
  }, ud);
  const rec = new FetchedWqe(0);
  decodeSendWqe(ud, true, 30, rec);
  assert.deepEqual(rec.ud, (decodeSendWqe(ud, true) as ParsedSendWqe).ud);
  assert.deepEqual([rec.sgl, rec.length], [[sge(1)], 101]);
  assert.match(
    decodeSendWqe(new Uint8Array(64).fill(0xff), false, 30, new FetchedWqe(0)) as string,
    /opcode/,
  );
});
