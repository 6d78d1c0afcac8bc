/**
 * Device behaviour seen on the wire: every packet two HCAs exchange is
 * captured and decoded, so the tests check what the transport put in the
 * headers (opcodes, PSNs, lengths, AETH syndromes), not only the result in
 * memory.
 */
import assert from "node:assert/strict";
import { connectedQps, firstDiff, type Pair, pattern, withPair } from "./support/hca_harness.ts";
import { MODERN_GEN5_NDR } from "../sim/mod.ts";
import { WqeFlags, WqeOpcode } from "../hca/wqe.ts";
import { OP, opcodeInfo } from "../hca/opcode.ts";
import { aethSyndrome, decodePacket, type Packet } from "../hca/packet.ts";
import { ackTimeoutNs } from "../hca/timers.ts";

interface Seen {
  t: number;
  fromA: boolean;
  pkt: Packet;
}

/** Decode every transport packet between the two HCAs (not the SM's), in wire order. */
function tap(p: Pair): Seen[] {
  const seen: Seen[] = [];
  const portA = p.a.hca.port(1)!;
  p.fabric.addCapture((r) => {
    const d = decodePacket(r.bytes);
    if (!d.ok || d.packet.bth.destQp < 2) return;
    // A switch forwards each packet once more: keep the copy the HCA sent.
    if (r.from !== portA && r.from !== p.b.hca.port(1)) return;
    seen.push({ t: r.timeNs, fromA: r.from === portA, pkt: d.packet });
  });
  return seen;
}

const named = (ops: number[]) => ops.map((o) => opcodeInfo(o)?.name);

/** Opcodes FIRST, MIDDLE…, LAST (or ONLY) for a message of `n` packets. */
function sequence(n: number, [first, middle, last, only]: readonly number[]): number[] {
  return n === 1 ? [only] : [first, ...Array(n - 2).fill(middle), last];
}

Deno.test("hca wire: messages are cut at the path MTU (256 to 4096 bytes) and land whole", async () => {
  const LEN = 10_000;
  for (const [code, mtu] of [[1, 256], [2, 512], [3, 1024], [4, 2048], [5, 4096]]) {
    await withPair({ profile: MODERN_GEN5_NDR }, async (p) => {
      const seen = tap(p);
      const { qa, qb, cqa, cqb } = await connectedQps(p, { qa: { mtu: code }, qb: { mtu: code } });
      const src = await p.a.buffer(LEN), into = await p.a.buffer(LEN);
      const dst = await p.b.buffer(2 * LEN);
      p.a.write(src.addr, pattern(LEN, code));
      p.b.write(dst.addr + LEN, pattern(LEN, code + 10));
      p.b.postRecv(qb, [{ addr: dst.addr, length: LEN, lkey: dst.key }]);
      const sgl = [{ addr: src.addr, length: LEN, lkey: src.key }];
      p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, sgl });
      p.a.postSend(qa, {
        opcode: WqeOpcode.RDMA_WRITE,
        flags: WqeFlags.SIGNALED,
        remoteAddr: dst.addr + LEN / 2,
        rkey: dst.key,
        sgl: [{ addr: src.addr, length: LEN / 2, lkey: src.key }],
      });
      p.a.postSend(qa, {
        opcode: WqeOpcode.RDMA_READ,
        flags: WqeFlags.SIGNALED,
        remoteAddr: dst.addr + LEN,
        rkey: dst.key,
        sgl: [{ addr: into.addr, length: LEN, lkey: into.key }],
      });
      const sent = await p.a.waitCqes(cqa, 3);
      const [recv] = await p.b.waitCqes(cqb, 1);
      assert.deepEqual([...sent, recv].map((c) => c.syndrome), [0, 0, 0, 0], `MTU ${mtu}`);
      assert.equal(recv.byteLen, LEN);
      assert.equal(firstDiff(p.b.read(dst.addr, LEN / 2), pattern(LEN / 2, code)), -1);
      assert.equal(firstDiff(p.b.read(dst.addr + LEN / 2, LEN / 2), pattern(LEN / 2, code)), -1);
      assert.equal(firstDiff(p.a.read(into.addr, LEN), pattern(LEN, code + 10)), -1);

      /** The packets of one message: opcodes, payload sizes and PSNs. */
      const check = (what: string, ops: readonly number[], fromA: boolean, len: number) => {
        const pkts = seen.filter((x) => x.fromA === fromA && ops.includes(x.pkt.bth.opcode));
        const n = Math.ceil(len / mtu);
        const want = named(sequence(n, ops));
        assert.deepEqual(named(pkts.map((x) => x.pkt.bth.opcode)), want, `${what} @${mtu}`);
        const sizes = pkts.map((x) => x.pkt.payload.length);
        assert.deepEqual(sizes, [...Array(n - 1).fill(mtu), len - (n - 1) * mtu], what);
        const psns = pkts.map((x) => x.pkt.bth.psn);
        assert.deepEqual(psns, psns.map((_, i) => psns[0] + i), `${what}: consecutive PSNs`);
      };
      check(
        "SEND",
        [OP.RC_SEND_FIRST, OP.RC_SEND_MIDDLE, OP.RC_SEND_LAST, OP.RC_SEND_ONLY],
        true,
        LEN,
      );
      check(
        "WRITE",
        [
          OP.RC_RDMA_WRITE_FIRST,
          OP.RC_RDMA_WRITE_MIDDLE,
          OP.RC_RDMA_WRITE_LAST,
          OP.RC_RDMA_WRITE_ONLY,
        ],
        true,
        LEN / 2,
      );
      check(
        "READ response",
        [
          OP.RC_RDMA_READ_RESPONSE_FIRST,
          OP.RC_RDMA_READ_RESPONSE_MIDDLE,
          OP.RC_RDMA_READ_RESPONSE_LAST,
          OP.RC_RDMA_READ_RESPONSE_ONLY,
        ],
        false,
        LEN,
      );
      assert.equal(p.a.hca.stats().counters.retransmits, 0);
    });
  }
});

Deno.test("hca wire: one lost packet draws one PSN-sequence NAK, and the sender resends from it long before its timer", async () => {
  await withPair({}, async (p) => {
    const seen = tap(p);
    // Only the first SEND MIDDLE packet (PSN 1) is lost.
    p.fabric.addFault({ kind: "drop", opcode: OP.RC_SEND_MIDDLE, probability: 1, limit: 1 });
    const timeout = 20; // ~4.3 s: recovery by the timer would show in the elapsed time
    const { qa, qb, cqa, cqb } = await connectedQps(p, { qa: { timeout } });
    const LEN = 10 * 2048;
    const src = await p.a.buffer(LEN), dst = await p.b.buffer(LEN);
    p.a.write(src.addr, pattern(LEN, 4));
    p.b.postRecv(qb, [{ addr: dst.addr, length: LEN, lkey: dst.key }]);
    const t0 = p.engine.now;
    p.a.postSend(qa, {
      opcode: WqeOpcode.SEND,
      flags: WqeFlags.SIGNALED,
      sgl: [{ addr: src.addr, length: LEN, lkey: src.key }],
    });
    const [s] = await p.a.waitCqes(cqa, 1);
    const [r] = await p.b.waitCqes(cqb, 1);
    assert.equal(s.syndrome, 0);
    assert.equal(r.syndrome, 0);
    assert.equal(firstDiff(p.b.read(dst.addr, LEN), pattern(LEN, 4)), -1);
    assert.ok(p.engine.now - t0 < ackTimeoutNs(timeout) / 1000, `took ${p.engine.now - t0} ns`);

    const naks = seen.filter((x) =>
      !x.fromA && x.pkt.aeth?.syndrome === aethSyndrome.nak(aethSyndrome.NAK_PSN_SEQUENCE)
    );
    assert.equal(naks.length, 1, "NAKed once, though later PSNs kept arriving out of sequence");
    assert.equal(naks[0].pkt.bth.psn, 1, "the NAK names the PSN the responder expects");
    // What was in flight when the NAK left may still go out; then go-back-N from PSN 1.
    const psns = seen.filter((x) => x.fromA && x.pkt.bth.opcode <= OP.RC_SEND_ONLY)
      .map((x) => x.pkt.bth.psn);
    const resend = psns.lastIndexOf(1);
    assert.deepEqual(psns.slice(resend), [1, 2, 3, 4, 5, 6, 7, 8, 9], `wire PSNs ${psns}`);
    const first = psns.slice(0, resend); // the capture sees the lost packet leave, too
    assert.deepEqual(first, first.map((_, i) => i), "first pass in PSN order");
    assert.equal(p.b.hca.stats().counters.seqNaksSent, 1);
    assert.equal(p.a.hca.stats().counters.timeouts, 0);
    assert.equal(p.b.poll(cqb), undefined, "delivered once");
  });
});

Deno.test("hca wire: a lost ATOMIC ACK is retried; the responder replays the cached result and adds once", async () => {
  await withPair({}, async (p) => {
    const seen = tap(p);
    p.fabric.addFault({ kind: "drop", opcode: OP.RC_ATOMIC_ACKNOWLEDGE, probability: 1, limit: 1 });
    const { qa, cqa } = await connectedQps(p, { qa: { timeout: 8 } });
    const counter = await p.b.buffer(8), result = await p.a.buffer(8);
    p.b.writeU64(counter.addr, 40n);
    p.a.postSend(qa, {
      opcode: WqeOpcode.ATOMIC_FA,
      flags: WqeFlags.SIGNALED,
      remoteAddr: counter.addr,
      rkey: counter.key,
      swapAdd: 2n,
      sgl: [{ addr: result.addr, length: 8, lkey: result.key }],
    });
    const [c] = await p.a.waitCqes(cqa, 1, 1e9, 10_000);
    assert.equal(c.syndrome, 0);
    assert.equal(p.b.readU64(counter.addr), 42n, "added once");
    assert.equal(p.a.readU64(result.addr), 40n, "the original value");
    const requests = seen.filter((x) => x.fromA && x.pkt.bth.opcode === OP.RC_FETCH_ADD);
    const acks = seen.filter((x) => !x.fromA && x.pkt.bth.opcode === OP.RC_ATOMIC_ACKNOWLEDGE);
    assert.equal(requests.length, 2, "sent again after the ACK timeout");
    assert.equal(requests[0].pkt.bth.psn, requests[1].pkt.bth.psn);
    assert.deepEqual(acks.map((x) => x.pkt.atomicAckEth?.origRemData), [40n, 40n]);
    assert.equal(p.a.hca.stats().counters.timeouts, 1);
  });
});

Deno.test("hca wire: a capture on the path builds every packet's bytes and changes no virtual time", async () => {
  const LEN = 20_000;
  /** One SEND and one RDMA WRITE, optionally captured; what the run left behind. */
  const run = (capture: boolean) =>
    withPair({}, async (p) => {
      const seen = capture ? tap(p) : undefined;
      const { qa, qb, cqa, cqb } = await connectedQps(p);
      const src = await p.a.buffer(LEN), dst = await p.b.buffer(2 * LEN);
      p.a.write(src.addr, pattern(LEN, 3));
      p.b.postRecv(qb, [{ addr: dst.addr, length: LEN, lkey: dst.key }]);
      const sgl = [{ addr: src.addr, length: LEN, lkey: src.key }];
      p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, sgl });
      p.a.postSend(qa, {
        opcode: WqeOpcode.RDMA_WRITE,
        flags: WqeFlags.SIGNALED,
        remoteAddr: dst.addr + LEN,
        rkey: dst.key,
        sgl,
      });
      // The sender's buffer changes once the WRITE is posted: the packets already made keep
      // their bytes in both runs alike, so what lands does not depend on the capture.
      await p.engine.sleep(3_000);
      p.a.write(src.addr, pattern(LEN, 4));
      const sent = await p.a.waitCqes(cqa, 2);
      const [recv] = await p.b.waitCqes(cqb, 1);
      return {
        syndromes: [...sent, recv].map((c) => c.syndrome),
        now: p.engine.now,
        hash: p.engine.traceHash(),
        landed: p.b.read(dst.addr, 2 * LEN),
        payloads: seen?.filter((s) => s.fromA).reduce((n, s) => n + s.pkt.payload.length, 0),
      };
    });
  const plain = await run(false);
  const captured = await run(true);
  assert.deepEqual(plain.syndromes, [0, 0, 0]);
  assert.equal(captured.payloads, 2 * LEN, "every data packet captured and decoded from its bytes");
  assert.equal(captured.now, plain.now);
  assert.equal(captured.hash, plain.hash);
  assert.equal(firstDiff(captured.landed, plain.landed), -1);
});
