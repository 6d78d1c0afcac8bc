import assert from "node:assert/strict";
import { connectedQps, firstDiff, makePair, pattern, withPair } from "./support/hca_harness.ts";
import { WqeFlags, WqeOpcode } from "../hca/wqe.ts";
import { CqeSyndrome } from "../hca/cqe.ts";
import { buildProfile, PCIX_SDR_2006 } from "../sim/mod.ts";
import { OP } from "../hca/opcode.ts";
import { encodePacket, peek } from "../hca/packet.ts";
import { HwQpState, QpServiceType } from "../hca/commands.ts";

/** A signaled RDMA READ of `length` bytes from `remote` into `local`. */
function readWqe(
  local: { addr: number; key: number },
  remote: { addr: number; key: number },
  length: number,
) {
  return {
    opcode: WqeOpcode.RDMA_READ,
    flags: WqeFlags.SIGNALED,
    remoteAddr: remote.addr,
    rkey: remote.key,
    sgl: [{ addr: local.addr, length, lkey: local.key }],
  };
}

Deno.test("hca transport: a cut link (every packet dropped) ends in RETRY_EXC_ERR", async () => {
  await withPair({}, async (p) => {
    const { qa, cqa } = await connectedQps(p, { qa: { timeout: 5, retryCnt: 2 } });
    p.fabric.addFault({ kind: "drop", probability: 1 });
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, inline: pattern(8) });
    const [c] = await p.a.waitCqes(cqa, 1, 1e9, 5000);
    assert.equal(c.syndrome, CqeSyndrome.RETRY_EXC_ERR);
    assert.equal(p.a.hca.stats().counters.timeouts, 3);
  });
});

async function readsThenSend(fence: boolean): Promise<{ sendArrived: number; readDone: number }> {
  return await withPair({}, async (p) => {
    const { qa, qb, cqa, cqb } = await connectedQps(p);
    const remote = await p.b.buffer(65536);
    const local = await p.a.buffer(65536);
    const dst = await p.b.buffer(64);
    p.b.postRecv(qb, [{ addr: dst.addr, length: 64, lkey: dst.key }]);
    p.a.postSend(qa, readWqe(local, remote, 65536));
    p.a.postSend(qa, {
      opcode: WqeOpcode.SEND,
      flags: WqeFlags.SIGNALED | (fence ? WqeFlags.FENCE : 0),
      inline: pattern(8),
    });
    let sendArrived = 0, readDone = 0;
    const rx = p.engine.spawn("rx", async () => {
      await p.b.waitCqes(cqb, 1, 1e9, 100);
      sendArrived = p.engine.now;
    });
    const [r] = await p.a.waitCqes(cqa, 1, 1e9, 100);
    readDone = p.engine.now;
    assert.equal(r.syndrome, 0);
    await rx;
    return { sendArrived, readDone };
  });
}

Deno.test("hca transport: a fenced SEND waits for the RDMA READ before it leaves (IBTA §10.8.3.3)", async () => {
  const loose = await readsThenSend(false);
  const fenced = await readsThenSend(true);
  assert.ok(loose.sendArrived < loose.readDone - 30_000, "unfenced SEND overtakes the READ data");
  assert.ok(
    fenced.sendArrived > fenced.readDone - 2_000,
    "fenced SEND follows the READ's completion",
  );
});

async function fourReads(maxRdAtomic: number): Promise<number> {
  return await withPair({}, async (p) => {
    const { qa, cqa } = await connectedQps(p, { qa: { maxRdAtomic }, qb: { maxDestRdAtomic: 4 } });
    const remote = await p.b.buffer(4 * 512);
    const local = await p.a.buffer(4 * 512);
    p.b.write(remote.addr, pattern(2048, 4));
    const t0 = p.engine.now;
    for (let i = 0; i < 4; i++) {
      p.a.postSend(qa, {
        opcode: WqeOpcode.RDMA_READ,
        flags: WqeFlags.SIGNALED,
        remoteAddr: remote.addr + i * 512,
        rkey: remote.key,
        sgl: [{ addr: local.addr + i * 512, length: 512, lkey: local.key }],
      });
    }
    const cs = await p.a.waitCqes(cqa, 4, 1e9, 100);
    assert.deepEqual(cs.map((c) => c.syndrome), [0, 0, 0, 0]);
    assert.equal(firstDiff(p.a.read(local.addr, 2048), pattern(2048, 4)), -1);
    return p.engine.now - t0;
  });
}

Deno.test("hca transport: RDMA READs overlap up to max_rd_atomic", async () => {
  const one = await fourReads(1);
  const four = await fourReads(4);
  // With one outstanding READ each waits a full round trip.
  assert.ok(one > 1.8 * four, `serial ${one} ns vs overlapped ${four} ns`);
});

Deno.test("hca transport: ACK coalescing (ackDelayNs) acknowledges several messages with one ACK", async () => {
  const profile = buildProfile({ hca: { ackDelayNs: 5_000 } }, PCIX_SDR_2006);
  await withPair({ profile }, async (p) => {
    let acks = 0;
    p.fabric.addCapture((r) => {
      if (peek.opcode(r.bytes) === OP.RC_ACKNOWLEDGE && r.from === p.b.hca.port(1)) acks++;
    });
    const { qa, cqa } = await connectedQps(p);
    const dst = await p.b.buffer(64);
    for (let i = 0; i < 20; i++) {
      p.a.postSend(qa, {
        opcode: WqeOpcode.RDMA_WRITE,
        flags: WqeFlags.SIGNALED,
        remoteAddr: dst.addr,
        rkey: dst.key,
        inline: pattern(8, i),
      });
    }
    const cs = await p.a.waitCqes(cqa, 20);
    assert.equal(cs.length, 20);
    assert.ok(cs.every((c) => c.syndrome === 0));
    assert.ok(acks >= 1 && acks < 10, `${acks} ACKs for 20 messages`);
  });
});

Deno.test("hca transport: the same seed gives the same virtual time and trace hash under faults", async () => {
  const run = async () => {
    const p = makePair({ seed: 11 });
    return await p.engine.run(async () => {
      await p.setup();
      p.fabric.addFault({ kind: "drop", probability: 0.03 });
      const { qa, cqa } = await connectedQps(p, { qa: { timeout: 8 } });
      const src = await p.a.buffer(20000);
      const dst = await p.b.buffer(20000);
      for (let i = 0; i < 10; i++) {
        p.a.postSend(qa, {
          opcode: WqeOpcode.RDMA_WRITE,
          flags: WqeFlags.SIGNALED,
          remoteAddr: dst.addr,
          rkey: dst.key,
          sgl: [{ addr: src.addr, length: 20000, lkey: src.key }],
        });
      }
      await p.a.waitCqes(cqa, 10, 1e9, 1000);
      return `${p.engine.now} ${p.engine.traceHash()} ${p.a.hca.stats().counters.retransmits}`;
    });
  };
  assert.equal(await run(), await run());
});

Deno.test("hca transport: an RDMA WRITE's completion time moves by exactly the profile's costs on its path", async () => {
  // One signaled 8-byte inline RDMA WRITE through a switch, polled every ns.
  const completion = (over: Record<string, Record<string, number>>) =>
    withPair({ profile: buildProfile(over, PCIX_SDR_2006) }, async (p) => {
      const { qa, cqa } = await connectedQps(p);
      const dst = await p.b.buffer(64);
      const t0 = p.engine.now;
      p.a.postSend(qa, {
        opcode: WqeOpcode.RDMA_WRITE,
        flags: WqeFlags.SIGNALED,
        remoteAddr: dst.addr,
        rkey: dst.key,
        inline: pattern(8),
      });
      await p.a.waitCqes(cqa, 1, 1e9, 1);
      return p.engine.now - t0;
    });
  const base = await completion({});
  // [group, parameter, added ns, times it lies on the path (FORMATS.md §13)]
  const path: [string, string, number, number][] = [
    ["pci", "mmioWriteNs", 100, 1], // the doorbell
    ["pci", "dmaReadLatencyNs", 200, 1], // the WQE fetch (inline data: no payload read)
    ["pci", "transactionNs", 30, 3], // the WQE fetch, the data at b, the CQE at a
    ["hca", "wqeProcessNs", 1000, 1], // the requester starts the WQE
    ["hca", "txPacketNs", 100, 1], // the send engine builds the WRITE (ACKs come from the receive side)
    ["link", "propagationNs", 50, 4], // a→switch→b, and the ACK back
    ["link", "switchHopNs", 40, 2],
    ["hca", "packetProcessNs", 500, 2], // the WRITE at b, the ACK at a
    ["hca", "rxPacketNs", 500, 0], // occupancy, not latency: still below packetProcessNs
    ["pci", "dmaWriteLatencyNs", 70, 2], // the data at b (before the ACK), the CQE at a
    ["hca", "cqeWriteNs", 300, 1],
  ];
  const P = PCIX_SDR_2006 as unknown as Record<string, Record<string, number>>;
  for (const [group, key, add, times] of path) {
    const t = await completion({ [group]: { [key]: P[group][key] + add } });
    assert.equal(t - base, add * times, `${group}.${key} + ${add} ns`);
  }
});

Deno.test("hca transport: packet lengths as C9-92 has them: First/Middle = path MTU, Last 1..MTU, Only ≤ MTU", async () => {
  // IBTA vol 1 C9-92 (rxe_resp.c check_length). RC: Invalid Request NAK, the responder's QP to
  // ERR, a SEND's receive WQE completes LOC_LEN_ERR; UC: the message is dropped silently.
  type Pkt = { op: number; len: number; reth?: number };
  const run = (pkts: Pkt[], type: number = QpServiceType.RC) =>
    withPair({}, async (p) => {
      const mtu = 3; // 1024 bytes
      const { qb, cqb } = await connectedQps(p, { type, qa: { mtu }, qb: { mtu } });
      const dst = await p.b.buffer(16384);
      p.b.postRecv(qb, [{ addr: dst.addr, length: 16384, lkey: dst.key }]);
      await p.engine.sleep(10_000);
      let psn = 0;
      for (const k of pkts) {
        const bytes = encodePacket({
          lrh: { dlid: p.b.lid, slid: p.a.lid },
          bth: { opcode: k.op, destQp: qb.qpn, psn: psn++, pkey: 0xffff, ackReq: true },
          payload: pattern(k.len),
          ...(k.reth === undefined
            ? {}
            : { reth: { va: BigInt(dst.addr), rkey: dst.key, dmaLen: k.reth } }),
        });
        assert.ok(p.a.hca.port(1)!.trySend(bytes));
        await p.engine.sleep(5_000);
      }
      await p.engine.sleep(50_000);
      const cqes = await p.b.waitCqes(cqb, 1, 100_000);
      return { cqes, state: p.b.hca.qpContext(qb.qpn)!.state };
    });
  const M = 1024;
  const bad: [string, Pkt[]][] = [
    ["Only > MTU", [{ op: OP.RC_SEND_ONLY, len: M + 1 }]],
    ["First < MTU", [{ op: OP.RC_SEND_FIRST, len: 512 }, { op: OP.RC_SEND_LAST, len: 8 }]],
    ["Last of 0", [{ op: OP.RC_SEND_FIRST, len: M }, { op: OP.RC_SEND_LAST, len: 0 }]],
    ["WRITE Last of 0", [
      { op: OP.RC_RDMA_WRITE_FIRST, len: M, reth: M },
      { op: OP.RC_RDMA_WRITE_LAST, len: 0 },
    ]],
  ];
  for (const [what, pkts] of bad) {
    const r = await run(pkts);
    assert.equal(r.state, HwQpState.ERR, what);
    if (pkts[0].reth === undefined) {
      assert.equal(r.cqes[0]?.syndrome, CqeSyndrome.LOCAL_LENGTH_ERR, what);
    }
  }
  // The lengths C9-92 allows are taken.
  const ok = await run([
    { op: OP.RC_SEND_FIRST, len: M },
    { op: OP.RC_SEND_MIDDLE, len: M },
    { op: OP.RC_SEND_LAST, len: 1 },
  ]);
  assert.deepEqual([ok.state, ok.cqes[0]?.syndrome, ok.cqes[0]?.byteLen], [
    HwQpState.RTS,
    0,
    2 * M + 1,
  ]);
  // UC: a short First is dropped with its message; the QP stays in RTS, the WQE unused.
  const uc = await run(
    [{ op: OP.UC_SEND_FIRST, len: 512 }, { op: OP.UC_SEND_LAST, len: 8 }],
    QpServiceType.UC,
  );
  assert.deepEqual([uc.state, uc.cqes.length], [HwQpState.RTS, 0]);
});

Deno.test("hca transport: an implied NAK (a READ response lost, a later ACK) counts against retry_cnt", async () => {
  // IBTA §9.7.6.1.3: every retry uses up one of retry_cnt (qib do_rc_ack → qib_restart_rc,
  // rxe check_psn → COMPST_ERROR_RETRY). With none left the READ fails RETRY_EXC_ERR.
  const outcome = (retryCnt: number) =>
    withPair({}, async (p) => {
      const { qa, qb, cqa } = await connectedQps(p, { qa: { retryCnt, timeout: 10 } });
      const loc = await p.a.buffer(4096), rem = await p.b.buffer(4096), dst = await p.b.buffer(64);
      p.b.postRecv(qb, [{ addr: dst.addr, length: 64, lkey: dst.key }]);
      p.fabric.addFault({
        kind: "drop",
        opcode: OP.RC_RDMA_READ_RESPONSE_ONLY,
        probability: 1,
        limit: 1,
      });
      p.a.postSend(qa, readWqe(loc, rem, 64));
      p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, inline: pattern(8) });
      return (await p.a.waitCqes(cqa, 2, 1e8)).map((c) => c.syndrome);
    });
  assert.deepEqual(await outcome(0), [CqeSyndrome.RETRY_EXC_ERR, CqeSyndrome.WR_FLUSH_ERR]);
  assert.deepEqual(await outcome(1), [0, 0]);
});

Deno.test("hca transport: max_rd_atomic 0 lets no RDMA READ or atomic out", async () => {
  // IBTA §11.2.4 (initiator depth 0): rxe's check_init_depth and qib's make_rc_req never
  // issue one; the WR waits at the head of the send queue.
  await withPair({}, async (p) => {
    const { qa, cqa } = await connectedQps(p, { qa: { maxRdAtomic: 0 } });
    const loc = await p.a.buffer(4096), rem = await p.b.buffer(4096);
    let reads = 0;
    p.fabric.addCapture((r) => {
      if (r.from === p.a.hca.port(1) && peek.opcode(r.bytes) === OP.RC_RDMA_READ_REQUEST) reads++;
    });
    p.a.postSend(qa, readWqe(loc, rem, 64));
    await p.engine.sleep(10_000_000);
    assert.equal(reads, 0);
    assert.deepEqual(await p.a.waitCqes(cqa, 1, 1_000_000), []);
  });
});

Deno.test("hca transport: a responder's NAK waits for the READ responses owed before it", async () => {
  // IBTA vol 1 §9.7.5.1.2: responses leave in PSN order, and a NAK acknowledges what is before
  // it; rxe's read_reply finishes a READ before the next request, qib_send_rc_ack holds a NAK
  // while a READ response is pending. So the READ completes, and only the bad request fails.
  for (
    const [bad, status] of [
      ["excess READ", CqeSyndrome.REMOTE_INVAL_REQ_ERR],
      ["bad rkey", CqeSyndrome.REMOTE_ACCESS_ERR],
    ] as const
  ) {
    await withPair({}, async (p) => {
      const { qa, qb, cqa } = await connectedQps(p, {
        qa: { maxRdAtomic: 4, timeout: 10, retryCnt: 2 },
        qb: { maxDestRdAtomic: 1 },
      });
      const loc = await p.a.buffer(65536), rem = await p.b.buffer(65536);
      const sgl = (length: number) => [{ addr: loc.addr, length, lkey: loc.key }];
      p.a.postSend(qa, readWqe(loc, rem, 16384));
      p.a.postSend(qa, {
        opcode: bad === "excess READ" ? WqeOpcode.RDMA_READ : WqeOpcode.RDMA_WRITE,
        flags: WqeFlags.SIGNALED,
        remoteAddr: rem.addr,
        rkey: bad === "excess READ" ? rem.key : 0x777,
        sgl: sgl(64),
      });
      const cqes = await p.a.waitCqes(cqa, 2, 1e8, 2000);
      assert.deepEqual(cqes.map((c) => c.syndrome), [0, status], bad);
      assert.equal(p.b.hca.qpContext(qb.qpn)!.state, HwQpState.ERR, bad);
    });
  }
});
