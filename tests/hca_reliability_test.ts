import assert from "node:assert/strict";
import { connectedQps, firstDiff, makePair, pattern, withPair } from "./support/hca_harness.ts";
import { WqeFlags, WqeOpcode } from "../hca/wqe.ts";
import { QpServiceType } from "../hca/commands.ts";

const MESSAGES = 1500;

function sizeOf(i: number): number {
  // A mix of single- and multi-packet messages (MTU 2048).
  return [1, 64, 700, 2048, 2049, 5000, 9000][i % 7];
}

function message(i: number): Uint8Array {
  const m = pattern(sizeOf(i), i);
  if (m.length >= 4) new DataView(m.buffer).setUint32(0, i);
  return m;
}

Deno.test("hca reliability: with 1% drop and 1% duplication RC delivers every message exactly once, in order", async () => {
  await withPair({ seed: 7 }, async (p) => {
    p.fabric.addFault({ kind: "drop", probability: 0.01 });
    p.fabric.addFault({ kind: "duplicate", probability: 0.01 });
    // timeout 10: ~4.2 ms; retries reset on progress, so losses never exhaust them.
    const { qa, qb, cqa, cqb } = await connectedQps(p, {
      qa: { timeout: 10 },
      qb: { timeout: 10 },
    });
    const slots = 64, slotBytes = 9216;
    const src = await p.a.buffer(slots * slotBytes);
    const dst = await p.b.buffer(slots * slotBytes);
    const counter = await p.b.buffer(64);
    const local = await p.a.buffer(64);

    const receiver = p.engine.spawn("receiver", async () => {
      const got: number[] = [];
      for (let i = 0; i < slots; i++) {
        p.b.postRecv(qb, [{ addr: dst.addr + i * slotBytes, length: slotBytes, lkey: dst.key }]);
      }
      while (got.length < MESSAGES) {
        const [c] = await p.b.waitCqes(cqb, 1, 1e9, 2000);
        assert.equal(c.syndrome, 0);
        const slot = c.wqeCounter % slots;
        const i = got.length;
        assert.equal(c.byteLen, sizeOf(i), `message ${i} length`);
        const bytes = p.b.read(dst.addr + slot * slotBytes, c.byteLen);
        assert.equal(firstDiff(bytes, message(i)), -1, `message ${i} content`);
        got.push(i);
        if (i + slots < MESSAGES) {
          p.b.postRecv(qb, [{
            addr: dst.addr + slot * slotBytes,
            length: slotBytes,
            lkey: dst.key,
          }]);
        }
      }
      return got.length;
    });

    let completed = 0;
    for (let i = 0; i < MESSAGES; i++) {
      while (i - completed >= 32) {
        const [c] = await p.a.waitCqes(cqa, 1, 1e9, 2000);
        assert.equal(c.syndrome, 0, `send completion syndrome ${c.syndrome}`);
        if (c.opcode === WqeOpcode.SEND) completed++;
      }
      const slot = i % slots;
      p.a.write(src.addr + slot * slotBytes, message(i));
      p.a.postSend(qa, {
        opcode: WqeOpcode.SEND,
        flags: WqeFlags.SIGNALED,
        sgl: [{ addr: src.addr + slot * slotBytes, length: sizeOf(i), lkey: src.key }],
      });
      if (i % 10 === 0) {
        // Atomics are not idempotent: a duplicate executed twice would show in the count.
        p.a.postSend(qa, {
          opcode: WqeOpcode.ATOMIC_FA,
          flags: WqeFlags.SIGNALED,
          remoteAddr: counter.addr,
          rkey: counter.key,
          swapAdd: 1n,
          sgl: [{ addr: local.addr, length: 8, lkey: local.key }],
        });
      }
    }
    while (completed < MESSAGES) {
      const [c] = await p.a.waitCqes(cqa, 1, 1e9, 2000);
      assert.equal(c.syndrome, 0);
      if (c.opcode === WqeOpcode.SEND) completed++;
    }
    assert.equal(await receiver, MESSAGES);
    await p.engine.sleep(10_000_000); // past any retransmission a late duplicate could cause
    assert.equal(p.b.poll(cqb), undefined, "no message delivered twice");
    assert.equal(p.a.poll(cqa), undefined);
    const faa = p.b.readU64(counter.addr);
    assert.equal(faa, BigInt(MESSAGES / 10));
    const ca = p.a.hca.stats().counters, cb = p.b.hca.stats().counters;
    assert.ok(ca.retransmits > 10, `retransmits ${ca.retransmits}`);
    assert.ok(cb.seqNaksSent > 5, `sequence NAKs ${cb.seqNaksSent}`);
  });
});

Deno.test("hca reliability: RDMA READs under loss return the right bytes exactly once per request", async () => {
  await withPair({ seed: 3 }, async (p) => {
    p.fabric.addFault({ kind: "drop", probability: 0.02 });
    p.fabric.addFault({ kind: "duplicate", probability: 0.02 });
    const { qa, cqa } = await connectedQps(p, { qa: { timeout: 10 } });
    const n = 20_000;
    const remote = await p.b.buffer(n);
    const local = await p.a.buffer(n * 4);
    const data = pattern(n, 8);
    p.b.write(remote.addr, data);
    for (let i = 0; i < 4; i++) {
      p.a.postSend(qa, {
        opcode: WqeOpcode.RDMA_READ,
        flags: WqeFlags.SIGNALED,
        remoteAddr: remote.addr,
        rkey: remote.key,
        sgl: [{ addr: local.addr + i * n, length: n, lkey: local.key }],
      });
    }
    const cs = await p.a.waitCqes(cqa, 4, 1e9, 2000);
    assert.deepEqual(cs.map((c) => c.syndrome), [0, 0, 0, 0]);
    for (let i = 0; i < 4; i++) assert.equal(firstDiff(p.a.read(local.addr + i * n, n), data), -1);
  });
});

Deno.test("hca reliability: UC under loss drops whole messages and never retransmits", async () => {
  await withPair({ seed: 5 }, async (p) => {
    p.fabric.addFault({ kind: "drop", probability: 0.05 });
    const { qa, qb, cqa, cqb } = await connectedQps(p, { type: QpServiceType.UC, rqSize: 256 });
    const src = await p.a.buffer(5000);
    const dst = await p.b.buffer(200 * 5000);
    p.a.write(src.addr, pattern(5000, 1));
    for (let i = 0; i < 200; i++) {
      p.b.postRecv(qb, [{ addr: dst.addr + i * 5000, length: 5000, lkey: dst.key }]);
    }
    for (let i = 0; i < 200; i++) {
      p.a.postSend(qa, {
        opcode: WqeOpcode.SEND,
        flags: WqeFlags.SIGNALED,
        sgl: [{ addr: src.addr, length: 5000, lkey: src.key }],
      });
      if (i % 32 === 31) await p.a.waitCqes(cqa, 32, 1e9, 1000);
    }
    await p.a.waitCqes(cqa, 200 % 32, 1e9, 1000);
    await p.engine.sleep(200_000);
    const recvd = await p.b.waitCqes(cqb, 200, 10_000);
    // Each message is 3 packets; P(all arrive) ≈ 0.857: some are lost, the rest intact.
    assert.ok(recvd.length > 150 && recvd.length < 200, `received ${recvd.length}`);
    for (const c of recvd) {
      assert.equal(c.syndrome, 0);
      assert.equal(c.byteLen, 5000);
      const slot = c.wqeCounter % 256;
      assert.equal(firstDiff(p.b.read(dst.addr + slot * 5000, 5000), pattern(5000, 1)), -1);
    }
    assert.equal(p.a.hca.stats().counters.retransmits, 0);
  });
});

Deno.test("hca reliability: reordering (delayed packets), loss and duplicates across READ, atomics, SEND and WRITE", async () => {
  for (const seed of [26, 29, 65]) {
    const p = makePair({ seed });
    await p.engine.run(async () => {
      await p.setup();
      p.fabric.addFault({ kind: "drop", probability: 0.02 });
      p.fabric.addFault({ kind: "duplicate", probability: 0.02 });
      p.fabric.addFault({ kind: "delay", probability: 0.02, delayNs: 200_000 });
      const { qa, qb, cqa, cqb } = await connectedQps(p, { qa: { timeout: 9 }, rqSize: 128 });
      const n = 9000;
      const rem = await p.b.buffer(n * 2), loc = await p.a.buffer(n * 2);
      const ctr = await p.b.buffer(8), res = await p.a.buffer(8 * 64);
      p.b.write(rem.addr, pattern(n, seed));
      p.a.write(loc.addr + n, pattern(n, seed + 1));
      for (let i = 0; i < 16; i++) {
        p.b.postRecv(qb, [{ addr: rem.addr + n, length: n, lkey: rem.key }]);
      }
      for (let i = 0; i < 64; i++) {
        const k = i % 4;
        if (k === 0) {
          p.a.postSend(qa, {
            opcode: WqeOpcode.RDMA_READ,
            flags: WqeFlags.SIGNALED,
            remoteAddr: rem.addr,
            rkey: rem.key,
            sgl: [{ addr: loc.addr, length: n, lkey: loc.key }],
          });
        } else if (k === 1) {
          p.a.postSend(qa, {
            opcode: WqeOpcode.ATOMIC_FA,
            flags: WqeFlags.SIGNALED,
            remoteAddr: ctr.addr,
            rkey: ctr.key,
            swapAdd: 1n,
            sgl: [{ addr: res.addr + 8 * (i >> 2), length: 8, lkey: res.key }],
          });
        } else if (k === 2) {
          p.a.postSend(qa, {
            opcode: WqeOpcode.SEND,
            flags: WqeFlags.SIGNALED,
            sgl: [{ addr: loc.addr + n, length: 5000, lkey: loc.key }],
          });
        } else {
          p.a.postSend(qa, {
            opcode: WqeOpcode.RDMA_WRITE,
            flags: WqeFlags.SIGNALED,
            remoteAddr: rem.addr + n,
            rkey: rem.key,
            sgl: [{ addr: loc.addr + n, length: n, lkey: loc.key }],
          });
        }
        if (i % 16 === 15) {
          await p.a.waitCqes(cqa, 16, 1e9, 5000).then((cs) => {
            assert.equal(cs.length, 16);
            assert.ok(
              cs.every((c) => c.syndrome === 0),
              `statuses ${cs.map((c) => c.syndrome)}`,
            );
          });
        }
      }
      const r = await p.b.waitCqes(cqb, 16, 1e8, 5000);
      assert.equal(r.length, 16);
      assert.equal(firstDiff(p.a.read(loc.addr, n), pattern(n, seed)), -1);
      // Each FETCH_AND_ADD ran exactly once: the counter is 16 and the results are 0..15.
      assert.equal(p.b.readU64(ctr.addr), 16n);
      const got = new Set<bigint>();
      for (let i = 0; i < 16; i++) {
        got.add(p.a.readU64(res.addr + 8 * i));
      }
      assert.equal(got.size, 16);
      assert.ok(p.a.hca.stats().counters.retransmits > 0);
    });
  }
});
