/**
 * Every send opcode on RC, UC and UD as IBTA allows it (vol. 1 §9.2 / the
 * service-type table of §11.4.1.1), with data checked end to end; the
 * opcodes a type does not have are refused at post time with EINVAL.
 * Immediate data, inline data, scatter/gather, and the provider's post
 * errors (queue full, too many SGEs, wrong state) as verbs providers report
 * them.
 */
import assert from "node:assert/strict";
import {
  connectAttrs,
  type Qp,
  QpType,
  SendFlags,
  WcFlags,
  WcOpcode,
  WcStatus,
  WrOpcode,
} from "../../mod.ts";
import {
  CONNECT,
  MODES,
  pair,
  pattern,
  rejects,
  type Side,
  side,
  twoDomains,
  twoHosts,
  waitBytes,
} from "./helpers.ts";

const ALL_OPS = Object.values(WrOpcode);
const ALLOWED: Record<number, number[]> = {
  [QpType.RC]: ALL_OPS,
  [QpType.UC]: [
    WrOpcode.SEND,
    WrOpcode.SEND_WITH_IMM,
    WrOpcode.RDMA_WRITE,
    WrOpcode.RDMA_WRITE_WITH_IMM,
  ],
  [QpType.UD]: [WrOpcode.SEND, WrOpcode.SEND_WITH_IMM],
};
const WC_OF: Record<number, number> = {
  [WrOpcode.SEND]: WcOpcode.SEND,
  [WrOpcode.SEND_WITH_IMM]: WcOpcode.SEND,
  [WrOpcode.RDMA_WRITE]: WcOpcode.RDMA_WRITE,
  [WrOpcode.RDMA_WRITE_WITH_IMM]: WcOpcode.RDMA_WRITE,
  [WrOpcode.RDMA_READ]: WcOpcode.RDMA_READ,
  [WrOpcode.ATOMIC_CMP_AND_SWP]: WcOpcode.COMP_SWAP,
  [WrOpcode.ATOMIC_FETCH_AND_ADD]: WcOpcode.FETCH_ADD,
};
const GRH = 40;

function u64(x: Side, addr: number): bigint {
  return new DataView(x.dom.memory.read(addr, 8).buffer).getBigUint64(0, true);
}
function setU64(x: Side, addr: number, v: bigint): void {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, v, true);
  x.dom.memory.write(addr, b);
}

for (const type of [QpType.RC, QpType.UC, QpType.UD]) {
  const name = ["", "", "RC", "UC", "UD"][type];
  Deno.test(`opcodes on ${name}: allowed ones move the data, others are refused`, async () => {
    const { cluster, a, b } = await twoHosts();
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [qx, qy] = await pair(x, y, type);
      const ah = type === QpType.UD ? await x.pd.createAh({ dlid: y.lid }) : undefined;
      const ud = ah ? { ah, remoteQpn: qy.qpNum, remoteQkey: 0x11111111 } : {};
      const src = x.buf, dst = y.buf + 8192;
      let id = 1n;
      for (const op of ALL_OPS) {
        const payload = pattern(64, op + 3);
        x.dom.memory.write(src, payload);
        const isAtomic = op === WrOpcode.ATOMIC_CMP_AND_SWP || op === WrOpcode.ATOMIC_FETCH_AND_ADD;
        const wr = {
          wrId: id++,
          opcode: op,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: src, length: isAtomic ? 8 : 64, lkey: x.mr.lkey }],
          remoteAddr: dst,
          rkey: y.mr.rkey,
          immData: 0xc0ffee00 + op,
          compareAdd: op === WrOpcode.ATOMIC_CMP_AND_SWP ? 1000n : 5n,
          swap: 2000n,
          ...ud,
        };
        if (!ALLOWED[type].includes(op)) {
          const msg = await rejects(() => qx.postSend(wr), "EINVAL");
          assert.match(msg, /not valid on a/);
          continue;
        }
        const consumesRecv = op === WrOpcode.SEND || op === WrOpcode.SEND_WITH_IMM ||
          op === WrOpcode.RDMA_WRITE_WITH_IMM;
        const recvAt = y.buf + 16384;
        if (consumesRecv) {
          qy.postRecv({
            wrId: 500n + id,
            sgList: [{ addr: recvAt, length: 4096, lkey: y.mr.lkey }],
          });
        }
        if (isAtomic) setU64(y, dst, 1000n);
        if (op === WrOpcode.RDMA_READ) y.dom.memory.write(dst, pattern(64, 77));
        qx.postSend(wr);
        const [wc] = await x.cq.pollUntil(1);
        assert.equal(wc.status, WcStatus.SUCCESS, `${name} op ${op}`);
        assert.equal(wc.wrId, wr.wrId);
        assert.equal(wc.opcode, WC_OF[op]);
        assert.equal(wc.qpNum, qx.qpNum);
        if (consumesRecv) {
          const [rc] = await y.cq.pollUntil(1);
          assert.equal(rc.status, WcStatus.SUCCESS);
          assert.equal(rc.wrId, 500n + id);
          const imm = op !== WrOpcode.SEND;
          assert.equal(!!(rc.wcFlags & WcFlags.WITH_IMM), imm);
          if (imm) assert.equal(rc.immData, 0xc0ffee00 + op);
          assert.equal(
            rc.opcode,
            op === WrOpcode.RDMA_WRITE_WITH_IMM ? WcOpcode.RECV_RDMA_WITH_IMM : WcOpcode.RECV,
          );
          if (op !== WrOpcode.RDMA_WRITE_WITH_IMM) {
            const off = type === QpType.UD ? GRH : 0;
            assert.equal(rc.byteLen, 64 + off);
            assert.deepEqual(y.dom.memory.read(recvAt + off, 64), payload);
            if (type === QpType.UD) {
              assert.equal(rc.srcQp, qx.qpNum);
              assert.equal(rc.slid, x.lid);
            }
          }
        }
        if (op === WrOpcode.RDMA_WRITE || op === WrOpcode.RDMA_WRITE_WITH_IMM) {
          // UC completes when sent, before the data lands: wait for it.
          await waitBytes(y.dom, dst, payload);
        }
        if (op === WrOpcode.RDMA_READ) {
          assert.deepEqual(x.dom.memory.read(src, 64), pattern(64, 77));
        }
        if (op === WrOpcode.ATOMIC_CMP_AND_SWP) {
          assert.equal(u64(x, src), 1000n, "the original value comes back");
          assert.equal(u64(y, dst), 2000n, "compare matched: swapped");
        }
        if (op === WrOpcode.ATOMIC_FETCH_AND_ADD) {
          assert.equal(u64(x, src), 1000n);
          assert.equal(u64(y, dst), 1005n);
        }
      }
      // Values that are no opcode: refused, whatever table entry their text or number names.
      const noOpcodes: unknown[] = [7, -1, 1.5, NaN, "2", "0", "constructor", { valueOf: () => 0 }];
      for (const opcode of noOpcodes) {
        const wr = {
          wrId: id++,
          opcode: opcode as WrOpcode,
          sgList: [{ addr: src, length: 64, lkey: x.mr.lkey }],
          remoteAddr: dst,
          rkey: y.mr.rkey,
          ...ud,
        };
        const msg = await rejects(() => qx.postSend(wr), "EINVAL");
        assert.match(msg, /opcode .* not valid on a/, `opcode ${String(opcode)}`);
      }
      assert.deepEqual(x.cq.poll(), [], "nothing was posted");
    });
  });
}

Deno.test("atomic compare-and-swap that does not match leaves memory alone", async () => {
  const { cluster, a, b } = await twoHosts();
  await cluster.run(async () => {
    const x = await side(a), y = await side(b);
    const [qx] = await pair(x, y, QpType.RC);
    setU64(y, y.buf, 7n);
    qx.postSend({
      wrId: 1n,
      opcode: WrOpcode.ATOMIC_CMP_AND_SWP,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
      remoteAddr: y.buf,
      rkey: y.mr.rkey,
      compareAdd: 8n,
      swap: 99n,
    });
    const [wc] = await x.cq.pollUntil(1);
    assert.equal(wc.status, WcStatus.SUCCESS);
    assert.equal(u64(x, x.buf), 7n);
    assert.equal(u64(y, y.buf), 7n);
  });
});

for (const mode of MODES) {
  Deno.test(`atomic result (${mode}): scattered over the local list, 8 bytes or LOC_LEN_ERR`, async () => {
    // The 8 bytes of the original value fill the WR's scatter list in order, as an RDMA READ
    // response does (Linux rxe_comp.c do_atomic: copy_data over the WQE's whole DMA list), never
    // past its first entry; a list that does not total 8 bytes completes with LOC_LEN_ERR
    // (hca/FORMATS.md §5).
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [qx] = await pair(x, y, QpType.RC);
      setU64(y, y.buf, 0x1122334455667788n);
      const lo = x.buf + 1024, hi = x.buf + 2048;
      x.dom.memory.write(lo, new Uint8Array(8).fill(0xee));
      x.dom.memory.write(hi, new Uint8Array(8).fill(0xee));
      qx.postSend({
        wrId: 1n,
        opcode: WrOpcode.ATOMIC_FETCH_AND_ADD,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: lo, length: 4, lkey: x.mr.lkey }, {
          addr: hi,
          length: 4,
          lkey: x.mr.lkey,
        }],
        remoteAddr: y.buf,
        rkey: y.mr.rkey,
        compareAdd: 1n,
      });
      const [wc] = await x.cq.pollUntil(1);
      assert.deepEqual([wc.status, wc.opcode, wc.byteLen], [
        WcStatus.SUCCESS,
        WcOpcode.FETCH_ADD,
        8,
      ]);
      assert.equal(u64(y, y.buf), 0x1122334455667789n);
      // Little-endian host memory: the low half in the first entry, the high half in the second.
      assert.deepEqual(
        [...x.dom.memory.read(lo, 8)],
        [0x88, 0x77, 0x66, 0x55, 0xee, 0xee, 0xee, 0xee],
        "the first entry's 4 bytes, and nothing after them",
      );
      assert.deepEqual([...x.dom.memory.read(hi, 8)], [
        0x44,
        0x33,
        0x22,
        0x11,
        0xee,
        0xee,
        0xee,
        0xee,
      ]);
      qx.postSend({
        wrId: 2n,
        opcode: WrOpcode.ATOMIC_CMP_AND_SWP,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: lo, length: 8, lkey: x.mr.lkey }, {
          addr: hi,
          length: 4,
          lkey: x.mr.lkey,
        }],
        remoteAddr: y.buf,
        rkey: y.mr.rkey,
        compareAdd: 0x1122334455667789n,
        swap: 0n,
      });
      const [bad] = await x.cq.pollUntil(1);
      assert.deepEqual([bad.wrId, bad.status], [2n, WcStatus.LOC_LEN_ERR]);
      assert.equal(u64(y, y.buf), 0x1122334455667789n, "nothing was sent");
    });
  });
}

Deno.test("inline data and scatter/gather lists", async () => {
  const { cluster, a, b } = await twoHosts();
  await cluster.run(async () => {
    const x = await side(a), y = await side(b);
    const [qx, qy] = await pair(x, y, QpType.RC);
    // Inline: the bytes are copied at post time; changing the buffer after does not matter.
    const data = pattern(60, 9);
    x.dom.memory.write(x.buf, data);
    qy.postRecv({
      wrId: 1n,
      sgList: [
        { addr: y.buf + 100, length: 20, lkey: y.mr.lkey },
        { addr: y.buf + 5000, length: 100, lkey: y.mr.lkey },
      ],
    });
    qx.postSend({
      wrId: 2n,
      opcode: WrOpcode.SEND,
      sendFlags: SendFlags.SIGNALED | SendFlags.INLINE,
      sgList: [{ addr: x.buf, length: 30, lkey: 0 }, { addr: x.buf + 30, length: 30, lkey: 0 }],
    });
    x.dom.memory.write(x.buf, new Uint8Array(60));
    const [rc] = await y.cq.pollUntil(1);
    assert.equal(rc.byteLen, 60);
    assert.deepEqual(y.dom.memory.read(y.buf + 100, 20), data.subarray(0, 20));
    assert.deepEqual(y.dom.memory.read(y.buf + 5000, 40), data.subarray(20));
    await x.cq.pollUntil(1);
    // Beyond max_inline_data (what create_qp granted: at least the 64 asked): EINVAL, nothing
    // posted.
    assert.ok(qx.cap.maxInlineData! >= 64);
    await rejects(
      () =>
        qx.postSend({
          wrId: 3n,
          opcode: WrOpcode.SEND,
          sendFlags: SendFlags.INLINE,
          sgList: [{ addr: x.buf, length: qx.cap.maxInlineData! + 1, lkey: 0 }],
        }),
      "EINVAL",
    );
    // Inline is for SEND and RDMA WRITE only.
    await rejects(
      () =>
        qx.postSend({
          wrId: 4n,
          opcode: WrOpcode.RDMA_READ,
          sendFlags: SendFlags.INLINE,
          sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
          remoteAddr: y.buf,
          rkey: y.mr.rkey,
        }),
      "EINVAL",
    );
    assert.equal(qx.pqp.sqOutstanding, 0);
  });
});

Deno.test("post errors: state, SGE count, missing arguments, full queues", async () => {
  const { cluster, a, b } = await twoHosts();
  await cluster.run(async () => {
    const x = await side(a), y = await side(b);
    const cap = { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1, maxInlineData: 0 };
    const qp: Qp = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
    const send = (wrId: bigint, extra = {}) =>
      qp.postSend({
        wrId,
        opcode: WrOpcode.RDMA_WRITE,
        sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
        remoteAddr: y.buf,
        rkey: y.mr.rkey,
        ...extra,
      });
    const recv = (wrId: bigint) =>
      qp.postRecv({ wrId, sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }] });
    // RESET: neither queue takes work (IBTA §10.8.2).
    await rejects(() => send(1n), "EINVAL");
    await rejects(() => recv(1n), "EINVAL");
    const [init, rtr, rts] = connectAttrs(QpType.RC, {
      ...CONNECT,
      remoteQpn: (await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap })).qpNum,
      dlid: y.lid,
    });
    await qp.modify(init);
    recv(1n); // INIT: receives may be posted
    await rejects(() => send(1n), "EINVAL");
    await qp.modify(rtr);
    await rejects(() => send(1n), "EINVAL"); // RTR: still no sends
    await qp.modify(rts);
    const two = [{ addr: x.buf, length: 8, lkey: x.mr.lkey }, {
      addr: x.buf + 8,
      length: 8,
      lkey: x.mr.lkey,
    }];
    assert.match(await rejects(() => send(1n, { sgList: two }), "EINVAL"), /max_send_sge/);
    assert.match(
      await rejects(() => send(1n, { rkey: undefined }), "EINVAL"),
      /remoteAddr and rkey/,
    );
    await rejects(() => send(1n, { opcode: WrOpcode.RDMA_WRITE_WITH_IMM }), "EINVAL"); // no immData
    await rejects(() => send(1n, { opcode: 42 }), "EINVAL");
    // The send queue holds 4 (the rounded-up capacity): the 5th is ENOMEM.
    for (let i = 0n; i < 4n; i++) send(10n + i);
    assert.match(await rejects(() => send(20n), "ENOMEM"), /send queue full/);
    assert.match(
      await rejects(() => qp.postRecv({ wrId: 6n, sgList: two }), "EINVAL"),
      /max_recv_sge/,
    );
    for (let i = 2n; i <= 4n; i++) recv(i);
    assert.match(await rejects(() => recv(5n), "ENOMEM"), /receive queue full/);
    // A full queue is ENOMEM before the SGEs are looked at (libmthca, libmlx4/5, kernel mthca).
    assert.match(
      await rejects(() => qp.postRecv({ wrId: 7n, sgList: two }), "ENOMEM"),
      /receive queue full/,
    );
  });
});
