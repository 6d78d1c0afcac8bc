import assert from "node:assert/strict";
import { allZero, connectedQps, firstDiff, pattern, withPair } from "./support/hca_harness.ts";
import { WqeFlags, WqeOpcode } from "../hca/wqe.ts";
import { CqeFlags } from "../hca/cqe.ts";
import { OP } from "../hca/opcode.ts";

Deno.test("hca RC: SEND moves the bytes into the posted receive buffer and completes both sides", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqa, cqb } = await connectedQps(p);
    const src = await p.a.buffer(5000);
    const dst = await p.b.buffer(8192);
    const data = pattern(5000, 3);
    p.a.write(src.addr, data);
    const rc = p.b.postRecv(qb, [{ addr: dst.addr, length: 8192, lkey: dst.key }]);
    const sc = p.a.postSend(qa, {
      opcode: WqeOpcode.SEND,
      flags: WqeFlags.SIGNALED,
      sgl: [{ addr: src.addr, length: 5000, lkey: src.key }],
    });
    const [sendCqe] = await p.a.waitCqes(cqa, 1);
    const [recvCqe] = await p.b.waitCqes(cqb, 1);
    assert.equal(sendCqe.syndrome, 0);
    assert.equal(sendCqe.opcode, WqeOpcode.SEND); // a send CQE carries its WQE's opcode
    assert.equal(sendCqe.wqeCounter, sc);
    assert.ok(sendCqe.flags & CqeFlags.SQ);
    assert.equal(recvCqe.syndrome, 0);
    assert.equal(recvCqe.opcode, OP.RC_SEND_LAST); // a receive CQE, the last packet's
    assert.equal(recvCqe.byteLen, 5000);
    assert.equal(recvCqe.wqeCounter, rc);
    assert.equal(recvCqe.qpn, qb.qpn);
    assert.equal(recvCqe.slid, p.a.lid);
    assert.deepEqual(p.b.read(dst.addr, 5000), data);
    // Nothing beyond the message was touched.
    assert.deepEqual(p.b.read(dst.addr + 5000, 100), new Uint8Array(100));
  });
});

Deno.test("hca RC: RDMA WRITE of 1 MiB streams and lands exactly", async () => {
  await withPair({}, async (p) => {
    const { qa, cqa } = await connectedQps(p);
    const n = 1 << 20;
    const src = await p.a.buffer(n);
    const dst = await p.b.buffer(n + 4096);
    const data = pattern(n, 9);
    p.a.write(src.addr, data);
    const t0 = p.engine.now;
    p.a.postSend(qa, {
      opcode: WqeOpcode.RDMA_WRITE,
      flags: WqeFlags.SIGNALED,
      remoteAddr: dst.addr,
      rkey: dst.key,
      sgl: [{ addr: src.addr, length: n, lkey: src.key }],
    });
    const [c] = await p.a.waitCqes(cqa, 1, 1e9, 1000);
    const dt = p.engine.now - t0;
    assert.equal(c.syndrome, 0);
    assert.equal(c.opcode, WqeOpcode.RDMA_WRITE);
    assert.equal(firstDiff(p.b.read(dst.addr, n), data), -1);
    assert.ok(allZero(p.b.read(dst.addr + n, 4096)));
    const mbps = n / dt * 1e3;
    // Bound by min(PCI-X 880 MB/s, 4x SDR 1000 MB/s) minus headers: streaming, not stop-and-wait.
    assert.ok(mbps > 750 && mbps < 880, `bandwidth ${mbps.toFixed(0)} MB/s`);
  });
});

Deno.test("hca RC: SEND_WITH_IMM carries the immediate and a solicited bit; unsignaled sends write no CQE", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqa, cqb } = await connectedQps(p);
    const src = await p.a.buffer(64);
    const dst = await p.b.buffer(64);
    p.a.write(src.addr, pattern(16, 5));
    p.b.postRecv(qb, [{ addr: dst.addr, length: 64, lkey: dst.key }]);
    p.b.postRecv(qb, [{ addr: dst.addr + 32, length: 32, lkey: dst.key }]);
    p.a.postSend(qa, {
      opcode: WqeOpcode.SEND,
      flags: 0,
      sgl: [{ addr: src.addr, length: 16, lkey: src.key }],
    });
    const sc = p.a.postSend(qa, {
      opcode: WqeOpcode.SEND_IMM,
      flags: WqeFlags.SIGNALED | WqeFlags.SOLICITED,
      imm: 0xdeadbeef,
      sgl: [{ addr: src.addr, length: 8, lkey: src.key }],
    });
    const recv = await p.b.waitCqes(cqb, 2);
    const sends = await p.a.waitCqes(cqa, 2, 200_000);
    // Only the signaled WQE produced a CQE; its counter lets the provider retire the first one too.
    assert.equal(sends.length, 1);
    assert.equal(sends[0].wqeCounter, sc);
    assert.equal(recv[0].flags & CqeFlags.WITH_IMM, 0);
    assert.equal(recv[0].flags & CqeFlags.SOLICITED, 0);
    assert.equal(recv[1].imm, 0xdeadbeef);
    assert.ok(recv[1].flags & CqeFlags.WITH_IMM);
    assert.ok(recv[1].flags & CqeFlags.SOLICITED);
    assert.equal(recv[1].byteLen, 8);
    assert.deepEqual(p.b.read(dst.addr + 32, 8), pattern(16, 5).subarray(0, 8));
  });
});

Deno.test("hca RC: RDMA WRITE with immediate consumes a receive WQE but not its buffers", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqa, cqb } = await connectedQps(p);
    const src = await p.a.buffer(3000);
    const dst = await p.b.buffer(4096);
    const scratch = await p.b.buffer(64);
    p.a.write(src.addr, pattern(3000, 2));
    const rc = p.b.postRecv(qb, [{ addr: scratch.addr, length: 64, lkey: scratch.key }]);
    p.a.postSend(qa, {
      opcode: WqeOpcode.RDMA_WRITE_IMM,
      flags: WqeFlags.SIGNALED,
      imm: 0x01020304,
      remoteAddr: dst.addr + 100,
      rkey: dst.key,
      sgl: [{ addr: src.addr, length: 3000, lkey: src.key }],
    });
    const [r] = await p.b.waitCqes(cqb, 1);
    const [s] = await p.a.waitCqes(cqa, 1);
    assert.equal(s.syndrome, 0);
    assert.equal(s.opcode, WqeOpcode.RDMA_WRITE_IMM);
    assert.equal(r.opcode, OP.RC_RDMA_WRITE_LAST_WITH_IMMEDIATE);
    assert.equal(r.imm, 0x01020304);
    assert.equal(r.byteLen, 3000);
    assert.equal(r.wqeCounter, rc);
    assert.ok(allZero(p.b.read(scratch.addr, 64)));
    assert.equal(firstDiff(p.b.read(dst.addr + 100, 3000), pattern(3000, 2)), -1);
    assert.ok(allZero(p.b.read(dst.addr, 100)));
  });
});

Deno.test("hca RC: RDMA READ of several MTUs into a two-entry scatter list", async () => {
  await withPair({}, async (p) => {
    const { qa, cqa } = await connectedQps(p);
    const remote = await p.b.buffer(10000);
    const local = await p.a.buffer(12000);
    const data = pattern(10000, 11);
    p.b.write(remote.addr, data);
    p.a.postSend(qa, {
      opcode: WqeOpcode.RDMA_READ,
      flags: WqeFlags.SIGNALED,
      remoteAddr: remote.addr,
      rkey: remote.key,
      sgl: [
        { addr: local.addr, length: 4000, lkey: local.key },
        { addr: local.addr + 6000, length: 6000, lkey: local.key },
      ],
    });
    const [c] = await p.a.waitCqes(cqa, 1);
    assert.equal(c.syndrome, 0);
    assert.equal(c.opcode, WqeOpcode.RDMA_READ);
    assert.equal(c.byteLen, 10000);
    assert.equal(firstDiff(p.a.read(local.addr, 4000), data.subarray(0, 4000)), -1);
    assert.ok(allZero(p.a.read(local.addr + 4000, 2000)));
    assert.equal(firstDiff(p.a.read(local.addr + 6000, 6000), data.subarray(4000)), -1);
  });
});

Deno.test("hca RC: atomics compare-and-swap and fetch-and-add on little-endian host memory", async () => {
  await withPair({}, async (p) => {
    const { qa, cqa } = await connectedQps(p);
    const remote = await p.b.buffer(64);
    const local = await p.a.buffer(64);
    p.b.writeU64(remote.addr, 100n);
    // CAS that matches: swaps.
    p.a.postSend(qa, {
      opcode: WqeOpcode.ATOMIC_CS,
      flags: WqeFlags.SIGNALED,
      remoteAddr: remote.addr,
      rkey: remote.key,
      compare: 100n,
      swapAdd: 7n,
      sgl: [{ addr: local.addr, length: 8, lkey: local.key }],
    });
    // CAS that does not match: leaves memory, returns the current value.
    p.a.postSend(qa, {
      opcode: WqeOpcode.ATOMIC_CS,
      flags: WqeFlags.SIGNALED,
      remoteAddr: remote.addr,
      rkey: remote.key,
      compare: 100n,
      swapAdd: 9n,
      sgl: [{ addr: local.addr + 8, length: 8, lkey: local.key }],
    });
    // FAA wraps modulo 2^64.
    p.a.postSend(qa, {
      opcode: WqeOpcode.ATOMIC_FA,
      flags: WqeFlags.SIGNALED,
      remoteAddr: remote.addr,
      rkey: remote.key,
      swapAdd: (1n << 64n) - 2n,
      sgl: [{ addr: local.addr + 16, length: 8, lkey: local.key }],
    });
    const cs = await p.a.waitCqes(cqa, 3);
    assert.deepEqual(cs.map((c) => c.syndrome), [0, 0, 0]);
    assert.deepEqual(cs.map((c) => c.opcode), [
      WqeOpcode.ATOMIC_CS,
      WqeOpcode.ATOMIC_CS,
      WqeOpcode.ATOMIC_FA,
    ]);
    assert.equal(p.a.readU64(local.addr), 100n);
    assert.equal(p.a.readU64(local.addr + 8), 7n);
    assert.equal(p.a.readU64(local.addr + 16), 7n);
    assert.equal(p.b.readU64(remote.addr), 5n); // 7 + (2^64 - 2) mod 2^64
  });
});

Deno.test("hca RC: inline SEND, zero-length SEND and zero-length RDMA WRITE", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqa, cqb } = await connectedQps(p);
    const dst = await p.b.buffer(256);
    p.b.postRecv(qb, [{ addr: dst.addr, length: 256, lkey: dst.key }]);
    p.b.postRecv(qb, [{ addr: dst.addr + 128, length: 128, lkey: dst.key }]);
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, inline: pattern(100, 4) });
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, sgl: [] });
    p.a.postSend(qa, {
      opcode: WqeOpcode.RDMA_WRITE,
      flags: WqeFlags.SIGNALED,
      remoteAddr: 0,
      rkey: 0,
      sgl: [],
    });
    const s = await p.a.waitCqes(cqa, 3);
    const r = await p.b.waitCqes(cqb, 2);
    assert.deepEqual(s.map((c) => c.syndrome), [0, 0, 0]);
    assert.deepEqual(r.map((c) => c.byteLen), [100, 0]);
    assert.deepEqual(p.b.read(dst.addr, 100), pattern(100, 4));
    assert.ok(allZero(p.b.read(dst.addr + 128, 128)));
  });
});

Deno.test("hca RC: solicited-only arming raises a completion event only for solicited receives", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqb } = await connectedQps(p);
    const dst = await p.b.buffer(256);
    for (let i = 0; i < 2; i++) p.b.postRecv(qb, [{ addr: dst.addr, length: 256, lkey: dst.key }]);
    p.b.arm(cqb, true);
    const before = p.b.interrupts.length;
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: 0, inline: pattern(8) });
    await p.b.waitCqes(cqb, 1);
    await p.engine.sleep(5000);
    assert.equal(p.b.interrupts.length, before, "unsolicited receive must not interrupt");
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SOLICITED, inline: pattern(8) });
    await p.b.waitCqes(cqb, 1);
    await p.engine.sleep(5000);
    assert.equal(p.b.interrupts.length, before + 1);
    const ev = p.b.events.at(-1)!;
    assert.equal(ev.type, 0); // COMPLETION
    assert.equal(ev.index, cqb.cqn);
  });
});
