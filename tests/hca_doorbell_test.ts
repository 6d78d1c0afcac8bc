import assert from "node:assert/strict";
import { allZero, connectedQps, pattern, withPair } from "./support/hca_harness.ts";
import { WqeFlags, WqeOpcode } from "../hca/wqe.ts";
import { cmdWord, CqDbCmd, sendDoorbellWord, UarOffset } from "../hca/uar.ts";
import { PAGE_SIZE } from "../sim/mod.ts";

Deno.test("hca doorbell: a send doorbell on the wrong UAR page moves no data and is counted", async () => {
  await withPair({}, async (p) => {
    const { qa, cqa } = await connectedQps(p); // the QP's context holds UAR 1
    const src = await p.a.buffer(256);
    const dst = await p.b.buffer(256);
    p.a.write(src.addr, pattern(256));
    const sent = p.a.hca.stats().packetsSent;
    p.a.postSend(qa, {
      opcode: WqeOpcode.RDMA_WRITE,
      flags: WqeFlags.SIGNALED,
      remoteAddr: dst.addr,
      rkey: dst.key,
      sgl: [{ addr: src.addr, length: 256, lkey: src.key }],
    }, 2); // rung on UAR 2, as a hostile guest owning UAR 2 would
    await p.engine.sleep(100_000);
    const s = p.a.hca.stats();
    assert.equal(s.doorbellsRejected, 1);
    assert.equal(s.packetsSent, sent);
    assert.ok(allZero(p.b.read(dst.addr, 256)));
    assert.equal(p.a.poll(cqa), undefined);
    // The owner's doorbell on the right page (same absolute counter, same first WQE) then works.
    p.a.ringSend(qa, 1, 0);
    const [c] = await p.a.waitCqes(cqa, 1);
    assert.equal(c.syndrome, 0);
    assert.deepEqual(p.b.read(dst.addr, 256), pattern(256));
  });
});

Deno.test("hca doorbell: receive, CQ and malformed doorbells are checked the same way", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqb } = await connectedQps(p);
    const dst = await p.b.buffer(64);
    const base = p.b.hca.stats().doorbellsRejected;
    // Receive doorbell on UAR 3 for a QP of UAR 1: dropped, so the SEND meets an empty RQ (RNR).
    p.b.postRecv(qb, [{ addr: dst.addr, length: 64, lkey: dst.key }], 3);
    // CQ arm on the wrong page.
    p.b.ring(3, UarOffset.CQ, cmdWord(CqDbCmd.REQ_NOTIFY_NEXT, cqb.cqn), 0);
    // Wrong size, unknown offset, unknown QPN, counter far ahead of the queue.
    p.b.memory.write(p.b.hca.uarMfn(1) * PAGE_SIZE + UarOffset.SEND, new Uint8Array(4));
    p.b.ring(1, 0x40, qb.qpn, 1);
    p.b.ring(1, UarOffset.SEND, sendDoorbellWord(0x7777, 3), 1);
    p.b.ring(1, UarOffset.RECV, qb.qpn, 100_000);
    await p.engine.sleep(10_000);
    assert.equal(p.b.hca.stats().doorbellsRejected - base, 6);
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: 0, inline: pattern(8) });
    await p.engine.sleep(100_000);
    assert.ok(p.b.hca.stats().counters.rnrNaksSent > 0);
    assert.ok(allZero(p.b.read(dst.addr, 64)));
    // A UAR page reads back as zeros (doorbell registers are write-only).
    assert.ok(allZero(p.b.memory.read(p.b.hca.uarMfn(1) * PAGE_SIZE, 64)));
  });
});

Deno.test("hca doorbell: the device sees a doorbell mmioWriteNs after the write", async () => {
  await withPair({}, async (p) => {
    const { qa } = await connectedQps(p);
    const before = p.a.hca.stats().counters.doorbells;
    p.a.ring(2, UarOffset.SEND, sendDoorbellWord(qa.qpn, 3), 0);
    await p.engine.sleep(p.a.profile.pci.mmioWriteNs - 1);
    assert.equal(p.a.hca.stats().counters.doorbells, before);
    await p.engine.sleep(1);
    assert.equal(p.a.hca.stats().counters.doorbells, before + 1);
  });
});

Deno.test("hca doorbell: one doorbell for three WQEs fetches each by the size the previous one links", async () => {
  await withPair({}, async (p) => {
    const { qa, cqa } = await connectedQps(p); // 64-byte slots
    const dst = await p.b.buffer(64);
    const bus = p.a.hca.core.bus;
    const write = (n: number) => ({
      opcode: WqeOpcode.RDMA_WRITE,
      flags: WqeFlags.SIGNALED,
      remoteAddr: dst.addr + 8 * n,
      rkey: dst.key,
      inline: pattern(n + 1, n + 1), // 1..3 bytes: one 16-byte inline segment each
    });
    for (let n = 0; n < 3; n++) p.a.postSend(qa, write(n), qa.uar, false);
    const before = bus.bytesRead;
    p.a.ringSend(qa); // names only the first WQE's size; the links name the others
    const cqes = await p.a.waitCqes(cqa, 3);
    assert.deepEqual(cqes.map((c) => c.syndrome), [0, 0, 0]);
    // Three 48-byte WQEs (control, remote address, inline) out of 64-byte slots; inline: no payload reads.
    assert.equal(bus.bytesRead - before, 3 * 48);
    for (let n = 0; n < 3; n++) {
      assert.deepEqual(p.b.read(dst.addr + 8 * n, n + 1), pattern(n + 1, n + 1));
    }
  });
});

Deno.test("hca doorbell: a send doorbell naming no size, or more than the slot, is dropped", async () => {
  await withPair({}, async (p) => {
    const { qa } = await connectedQps(p);
    const base = p.a.hca.stats().doorbellsRejected;
    const sent = p.a.hca.stats().packetsSent;
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: 0, inline: pattern(8) }, qa.uar, false);
    p.a.ring(qa.uar, UarOffset.SEND, sendDoorbellWord(qa.qpn, 0), 1);
    p.a.ring(qa.uar, UarOffset.SEND, sendDoorbellWord(qa.qpn, qa.sqStride / 16 + 1), 1);
    await p.engine.sleep(10_000);
    assert.equal(p.a.hca.stats().doorbellsRejected - base, 2);
    assert.equal(p.a.hca.stats().packetsSent, sent);
  });
});
