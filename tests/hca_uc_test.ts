import assert from "node:assert/strict";
import { allZero, connectedQps, firstDiff, pattern, withPair } from "./support/hca_harness.ts";
import { WqeFlags, WqeOpcode } from "../hca/wqe.ts";
import { CqeFlags } from "../hca/cqe.ts";
import { OP } from "../hca/opcode.ts";
import { MptAccess, QpServiceType } from "../hca/commands.ts";

Deno.test("hca UC: SEND, SEND_WITH_IMM, RDMA WRITE and RDMA WRITE with immediate, bytes checked", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqa, cqb } = await connectedQps(p, { type: QpServiceType.UC });
    const src = await p.a.buffer(6000);
    const dst = await p.b.buffer(16384);
    const data = pattern(6000, 12);
    p.a.write(src.addr, data);
    p.b.postRecv(qb, [{ addr: dst.addr, length: 8192, lkey: dst.key }]);
    p.b.postRecv(qb, [{ addr: dst.addr + 8192, length: 64, lkey: dst.key }]);
    p.b.postRecv(qb, [{ addr: dst.addr + 8192 + 64, length: 64, lkey: dst.key }]);
    const sgl = [{ addr: src.addr, length: 6000, lkey: src.key }];
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, sgl });
    p.a.postSend(qa, {
      opcode: WqeOpcode.SEND_IMM,
      flags: WqeFlags.SIGNALED,
      imm: 77,
      inline: pattern(10, 3),
    });
    p.a.postSend(qa, {
      opcode: WqeOpcode.RDMA_WRITE,
      flags: WqeFlags.SIGNALED,
      remoteAddr: dst.addr + 9000,
      rkey: dst.key,
      sgl: [{ addr: src.addr, length: 3000, lkey: src.key }],
    });
    p.a.postSend(qa, {
      opcode: WqeOpcode.RDMA_WRITE_IMM,
      flags: WqeFlags.SIGNALED,
      imm: 78,
      remoteAddr: dst.addr + 12100,
      rkey: dst.key,
      sgl: [{ addr: src.addr, length: 4000, lkey: src.key }],
    });
    const s = await p.a.waitCqes(cqa, 4);
    const r = await p.b.waitCqes(cqb, 3);
    assert.deepEqual(s.map((c) => c.syndrome), [0, 0, 0, 0]);
    assert.deepEqual(s.map((c) => c.opcode), [
      WqeOpcode.SEND,
      WqeOpcode.SEND_IMM,
      WqeOpcode.RDMA_WRITE,
      WqeOpcode.RDMA_WRITE_IMM,
    ]);
    assert.deepEqual(r.map((c) => c.opcode), [
      OP.UC_SEND_LAST,
      OP.UC_SEND_ONLY_WITH_IMMEDIATE,
      OP.UC_RDMA_WRITE_LAST_WITH_IMMEDIATE,
    ]);
    assert.deepEqual(r.map((c) => c.byteLen), [6000, 10, 4000]);
    assert.equal(r[1].imm, 77);
    assert.equal(r[2].imm, 78);
    assert.ok(r[2].flags & CqeFlags.WITH_IMM);
    assert.equal(firstDiff(p.b.read(dst.addr, 6000), data), -1);
    assert.deepEqual(p.b.read(dst.addr + 8192, 10), pattern(10, 3));
    assert.equal(firstDiff(p.b.read(dst.addr + 9000, 3000), data.subarray(0, 3000)), -1);
    assert.equal(firstDiff(p.b.read(dst.addr + 12100, 4000), data.subarray(0, 4000)), -1);
    assert.ok(
      allZero(p.b.read(dst.addr + 8192 + 64, 64)),
      "WRITE_IMM leaves its receive buffer alone",
    );
    assert.equal(p.a.hca.stats().counters.packetsReceived, 0, "UC sends no ACKs");
  });
});

Deno.test("hca UC: an rkey violation drops the message silently; the QP keeps working", async () => {
  await withPair({}, async (p) => {
    const { qa, cqa } = await connectedQps(p, { type: QpServiceType.UC });
    const src = await p.a.buffer(64);
    const ro = await p.b.buffer(64, MptAccess.LOCAL_WRITE);
    const ok = await p.b.buffer(64);
    p.a.write(src.addr, pattern(64, 9));
    const w = (addr: number, rkey: number) =>
      p.a.postSend(qa, {
        opcode: WqeOpcode.RDMA_WRITE,
        flags: WqeFlags.SIGNALED,
        remoteAddr: addr,
        rkey,
        sgl: [{ addr: src.addr, length: 64, lkey: src.key }],
      });
    w(ro.addr, ro.key);
    w(ok.addr, ok.key);
    const cs = await p.a.waitCqes(cqa, 2);
    assert.deepEqual(cs.map((c) => c.syndrome), [0, 0]);
    await p.engine.sleep(10_000);
    assert.ok(allZero(p.b.read(ro.addr, 64)));
    assert.deepEqual(p.b.read(ok.addr, 64), pattern(64, 9));
  });
});

Deno.test("hca UC: a SEND or WRITE with immediate with no receive posted counts each dropped packet once", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqa, cqb } = await connectedQps(p, { type: QpServiceType.UC });
    const mtu = 2048;
    const src = await p.a.buffer(3 * mtu);
    const dst = await p.b.buffer(3 * mtu);
    p.a.write(src.addr, pattern(3 * mtu, 4));
    const dropped = () => p.b.hca.stats().counters.packetsDropped;
    const send = (length: number, opcode: number = WqeOpcode.SEND) =>
      p.a.postSend(qa, {
        opcode: opcode as typeof WqeOpcode.SEND,
        flags: WqeFlags.SIGNALED,
        imm: 5,
        remoteAddr: dst.addr,
        rkey: dst.key,
        sgl: [{ addr: src.addr, length, lkey: src.key }],
      });
    const cases: [string, number, number, number][] = [
      ["one-packet SEND", 64, WqeOpcode.SEND, 1],
      ["three-packet SEND", 3 * mtu, WqeOpcode.SEND, 3],
      ["one-packet RDMA WRITE with immediate", 64, WqeOpcode.RDMA_WRITE_IMM, 1],
    ];
    for (const [what, length, opcode, packets] of cases) {
      const before = dropped();
      send(length, opcode);
      const [c] = await p.a.waitCqes(cqa, 1);
      assert.equal(c.syndrome, 0, `${what}: UC completes the send anyway`);
      await p.engine.sleep(20_000);
      assert.equal(dropped() - before, packets, `${what}: ${packets} packet(s) dropped`);
    }
    // The QP keeps working: with a receive posted, the next SEND lands.
    p.b.postRecv(qb, [{ addr: dst.addr, length: 64, lkey: dst.key }]);
    const before = dropped();
    send(64);
    await p.a.waitCqes(cqa, 1);
    const [r] = await p.b.waitCqes(cqb, 1);
    assert.equal(r.byteLen, 64);
    assert.equal(dropped(), before);
  });
});
