import assert from "node:assert/strict";
import {
  allZero,
  firstDiff,
  type Host,
  makePair,
  must,
  type Pair,
  pattern,
  withPair,
} from "./support/hca_harness.ts";
import { WqeFlags, WqeOpcode } from "../hca/wqe.ts";
import { CqeFlags } from "../hca/cqe.ts";
import { CqeSyndrome, CqeVendorErr } from "../hca/cqe.ts";
import { OP } from "../hca/opcode.ts";
import { CmdOp, HwQpState, QpServiceType } from "../hca/commands.ts";

const QKEY = 0x11111111;

async function udPair(p: Pair) {
  const mk = async (h: Host) => {
    const cq = await h.createCq();
    const qp = await h.createQp({ type: QpServiceType.UD, sendCq: cq, qkey: QKEY });
    await h.toRts(qp, 0, 0);
    return { cq, qp };
  };
  return { a: await mk(p.a), b: await mk(p.b) };
}

Deno.test("hca UD: a datagram lands after 40 bytes of GRH space, with source QP and LID in the CQE", async () => {
  await withPair({}, async (p) => {
    const { a, b } = await udPair(p);
    const src = await p.a.buffer(1000);
    const dst = await p.b.buffer(2048);
    p.a.write(src.addr, pattern(1000, 6));
    p.b.postRecv(b.qp, [{ addr: dst.addr, length: 2048, lkey: dst.key }]);
    p.a.postSend(a.qp, {
      opcode: WqeOpcode.SEND_IMM,
      flags: WqeFlags.SIGNALED,
      imm: 0xabcd,
      ud: { dlid: p.b.lid, remoteQpn: b.qp.qpn, qkey: QKEY },
      sgl: [{ addr: src.addr, length: 1000, lkey: src.key }],
    });
    const [s] = await p.a.waitCqes(a.cq, 1);
    const [r] = await p.b.waitCqes(b.cq, 1);
    assert.equal(s.syndrome, 0);
    assert.equal(r.syndrome, 0);
    assert.equal(r.opcode, OP.UD_SEND_ONLY_WITH_IMMEDIATE);
    assert.equal(r.byteLen, 1040);
    assert.equal(r.srcQp, a.qp.qpn);
    assert.equal(r.slid, p.a.lid);
    assert.equal(r.imm, 0xabcd);
    assert.equal(r.flags & CqeFlags.GRH, 0);
    assert.ok(allZero(p.b.read(dst.addr, 40)), "no GRH: the space is left untouched");
    assert.equal(firstDiff(p.b.read(dst.addr + 40, 1000), pattern(1000, 6)), -1);
  });
});

Deno.test("hca UD: with a GRH the first 40 bytes receive it; a Q_Key with bit 31 uses the QP's own", async () => {
  await withPair({}, async (p) => {
    const { a, b } = await udPair(p);
    const dst = await p.b.buffer(256);
    p.b.postRecv(b.qp, [{ addr: dst.addr, length: 256, lkey: dst.key }]);
    const dgid = p.b.hca.port(1)!.gid;
    p.a.postSend(a.qp, {
      opcode: WqeOpcode.SEND,
      flags: WqeFlags.SIGNALED,
      ud: { dlid: p.b.lid, remoteQpn: b.qp.qpn, qkey: 0x80000000, grh: { dgid, hopLimit: 7 } },
      inline: pattern(20, 2),
    });
    const [r] = await p.b.waitCqes(b.cq, 1);
    assert.equal(r.syndrome, 0);
    assert.ok(r.flags & CqeFlags.GRH);
    const grh = p.b.read(dst.addr, 40);
    assert.equal(grh[0] >>> 4, 6, "IPVer 6");
    assert.equal(grh[7], 7, "hop limit");
    assert.deepEqual(grh.subarray(8, 24), p.a.hca.port(1)!.gid, "SGID");
    assert.deepEqual(grh.subarray(24, 40), dgid, "DGID");
    assert.deepEqual(p.b.read(dst.addr + 40, 20), pattern(20, 2));
  });
});

Deno.test("hca UD: a wrong Q_Key or no posted receive drops the datagram silently", async () => {
  await withPair({}, async (p) => {
    const { a, b } = await udPair(p);
    const dst = await p.b.buffer(256);
    const dropped = p.b.hca.stats().counters.packetsDropped;
    p.a.postSend(a.qp, {
      opcode: WqeOpcode.SEND,
      flags: 0,
      ud: { dlid: p.b.lid, remoteQpn: b.qp.qpn, qkey: QKEY },
      inline: pattern(8),
    });
    await p.engine.sleep(20_000);
    p.b.postRecv(b.qp, [{ addr: dst.addr, length: 256, lkey: dst.key }]);
    p.a.postSend(a.qp, {
      opcode: WqeOpcode.SEND,
      flags: 0,
      ud: { dlid: p.b.lid, remoteQpn: b.qp.qpn, qkey: 0x2222 },
      inline: pattern(8),
    });
    await p.engine.sleep(20_000);
    assert.equal(p.b.poll(b.cq), undefined);
    assert.equal(p.b.hca.stats().counters.packetsDropped - dropped, 2);
    assert.ok(allZero(p.b.read(dst.addr, 256)));
    assert.equal(p.b.hca.stats().counters.rnrNaksSent, 0, "UD never sends RNR NAKs");
  });
});

Deno.test("hca UD: a datagram longer than the receive buffer is dropped and counted; the WQE takes the next one", async () => {
  await withPair({}, async (p) => {
    const { a, b } = await udPair(p);
    const dst = await p.b.buffer(4096);
    const src = await p.a.buffer(4096);
    const before = p.b.hca.stats().counters;
    // 40 bytes of GRH space + 60 of payload: a 61-byte datagram does not fit.
    p.b.postRecv(b.qp, [{ addr: dst.addr, length: 100, lkey: dst.key }]);
    const send = (n: number, seed: number) => {
      p.a.write(src.addr, pattern(n, seed));
      p.a.postSend(a.qp, {
        opcode: WqeOpcode.SEND,
        flags: WqeFlags.SIGNALED,
        ud: { dlid: p.b.lid, remoteQpn: b.qp.qpn, qkey: QKEY },
        sgl: [{ addr: src.addr, length: n, lkey: src.key }],
      });
    };
    send(61, 1);
    const [s1] = await p.a.waitCqes(a.cq, 1);
    assert.equal(s1.syndrome, 0, "UD is unreliable: the sender completes");
    await p.engine.sleep(20_000);
    assert.equal(p.b.poll(b.cq), undefined, "no completion for the dropped datagram");
    const after = p.b.hca.stats().counters;
    assert.equal(after.udLengthDrops - before.udLengthDrops, 1);
    assert.equal(after.packetsDropped - before.packetsDropped, 1);
    assert.ok(allZero(p.b.read(dst.addr, 100)), "not one byte placed");
    assert.equal(must(await p.b.exec(CmdOp.QUERY_QP, { qpn: b.qp.qpn })).state, HwQpState.RTS);
    // The same receive WQE takes the next datagram that fits.
    send(60, 2);
    await p.a.waitCqes(a.cq, 1);
    const [r] = await p.b.waitCqes(b.cq, 1);
    assert.equal(r.syndrome, 0);
    assert.equal(r.byteLen, 100);
    assert.deepEqual(p.b.read(dst.addr + 40, 60), pattern(60, 2));
  });
});

Deno.test("hca UD: a message longer than the MTU sends nothing and completes successfully, in order", async () => {
  // IBTA vol 1 C10-93.1.1 (as Linux rxe_req.c quotes it): "the CI shall not emit any packets
  // for this message. Further, the CI shall not generate an error due to this condition."
  await withPair({}, async (p) => {
    const { a, b } = await udPair(p);
    const src = await p.a.buffer(4096);
    const dst = await p.b.buffer(4096);
    p.a.write(src.addr, pattern(64, 5));
    for (let i = 0; i < 2; i++) {
      p.b.postRecv(b.qp, [{ addr: dst.addr, length: 4096, lkey: dst.key }]);
    }
    const sent = p.a.hca.stats().packetsSent;
    const send = (length: number) =>
      p.a.postSend(a.qp, {
        opcode: WqeOpcode.SEND,
        flags: WqeFlags.SIGNALED,
        ud: { dlid: p.b.lid, remoteQpn: b.qp.qpn, qkey: QKEY },
        sgl: [{ addr: src.addr, length, lkey: src.key }],
      });
    send(64);
    send(2049); // one byte over the port's 2048
    send(64);
    const cqes = await p.a.waitCqes(a.cq, 3);
    assert.deepEqual(cqes.map((c) => c.syndrome), [0, 0, 0]);
    assert.deepEqual(cqes.map((c) => c.wqeCounter), [0, 1, 2], "in posting order");
    assert.equal(must(await p.a.exec(CmdOp.QUERY_QP, { qpn: a.qp.qpn })).state, HwQpState.RTS);
    const got = await p.b.waitCqes(b.cq, 2);
    assert.deepEqual(got.map((c) => [c.syndrome, c.byteLen]), [[0, 104], [0, 104]]);
    assert.equal(p.a.hca.stats().packetsSent - sent, 2, "no packet for the long message");
  });
});

Deno.test("hca UD: an address vector of another PD than the QP's is LOC_QP_OP_ERR", async () => {
  // As Linux rxe_get_av refuses an AH whose PD is not the QP's ("PDs don't match for AH and QP").
  await withPair({}, async (p) => {
    const { a, b } = await udPair(p); // the harness puts QPs in PD 1
    const src = await p.a.buffer(64);
    const dst = await p.b.buffer(256);
    p.b.postRecv(b.qp, [{ addr: dst.addr, length: 256, lkey: dst.key }]);
    const send = (avPd: number | undefined) =>
      p.a.postSend(a.qp, {
        opcode: WqeOpcode.SEND,
        flags: WqeFlags.SIGNALED,
        ud: { dlid: p.b.lid, remoteQpn: b.qp.qpn, qkey: QKEY, avPd },
        sgl: [{ addr: src.addr, length: 8, lkey: src.key }],
      });
    send(1); // the QP's own PD: sent
    const [ok] = await p.a.waitCqes(a.cq, 1);
    assert.equal(ok.syndrome, 0);
    assert.equal((await p.b.waitCqes(b.cq, 1))[0].syndrome, 0);
    send(2);
    const [c] = await p.a.waitCqes(a.cq, 1);
    assert.deepEqual([c.syndrome, c.vendorErr], [
      CqeSyndrome.LOCAL_QP_OP_ERR,
      CqeVendorErr.PD_MISMATCH,
    ]);
  });
});

Deno.test("hca UD: RDMA opcodes are not allowed on UD (LOC_QP_OP_ERR)", async () => {
  await withPair({}, async (p) => {
    const { a } = await udPair(p);
    const src = await p.a.buffer(64);
    p.a.postSend(a.qp, {
      opcode: WqeOpcode.RDMA_WRITE,
      flags: WqeFlags.SIGNALED,
      remoteAddr: 0,
      rkey: 0,
      ud: { dlid: p.b.lid, remoteQpn: 9, qkey: QKEY },
      sgl: [{ addr: src.addr, length: 8, lkey: src.key }],
    });
    const [c] = await p.a.waitCqes(a.cq, 1);
    assert.equal(c.syndrome, CqeSyndrome.LOCAL_QP_OP_ERR);
  });
});

Deno.test("hca UD: with LMC the source path bits pick the SLID within the port's LIDs; the CQE names the DLID's path bits", async () => {
  // IBTA vol 1 §7.11.1: a port answers to the 2^LMC LIDs from its base. Linux qib/hfi1 build the
  // SLID as `lid | (src_path_bits & ((1 << lmc) - 1))` and report `dlid & ((1 << lmc) - 1)` as the
  // receive's dlid_path_bits (0 for multicast); mthca's CQE carries them in `g_mlpath`.
  const p = makePair();
  p.a.hca.port(1)!.lmc = 2;
  p.b.hca.port(1)!.lmc = 2;
  await p.engine.run(async () => {
    await p.setup();
    const { a, b } = await udPair(p);
    const dst = await p.b.buffer(4096);
    const send = (srcPathBits: number, dlid: number) => {
      p.b.postRecv(b.qp, [{ addr: dst.addr, length: 256, lkey: dst.key }]);
      p.a.postSend(a.qp, {
        opcode: WqeOpcode.SEND,
        flags: WqeFlags.SIGNALED,
        ud: { dlid, remoteQpn: b.qp.qpn, qkey: QKEY, srcPathBits },
        inline: pattern(8),
      });
    };
    assert.equal(p.a.lid & 3, 0, "an aligned block");
    send(0x2, p.b.lid | 3);
    send(0x7d, p.b.lid); // only the low two bits count: 0x7d & 3 = 1
    await p.a.waitCqes(a.cq, 2);
    const got = await p.b.waitCqes(b.cq, 2);
    assert.deepEqual(got.map((c) => [c.syndrome, c.slid, c.dlidPathBits]), [
      [0, p.a.lid | 2, 3],
      [0, p.a.lid | 1, 0],
    ]);
  });
});

Deno.test("hca UD: without LMC the source path bits change no SLID: a QP cannot send as another port's LID", async () => {
  await withPair({}, async (p) => {
    const { a, b } = await udPair(p);
    const dst = await p.b.buffer(256);
    p.b.postRecv(b.qp, [{ addr: dst.addr, length: 256, lkey: dst.key }]);
    // Path bits that would turn a's LID into b's own.
    const srcPathBits = p.a.lid ^ p.b.lid;
    assert.notEqual(p.a.lid | srcPathBits, p.a.lid);
    p.a.postSend(a.qp, {
      opcode: WqeOpcode.SEND,
      flags: WqeFlags.SIGNALED,
      ud: { dlid: p.b.lid, remoteQpn: b.qp.qpn, qkey: QKEY, srcPathBits },
      inline: pattern(8),
    });
    const [r] = await p.b.waitCqes(b.cq, 1);
    assert.deepEqual([r.syndrome, r.slid, r.dlidPathBits], [0, p.a.lid, 0]);
  });
});

Deno.test("hca UD: a receiver slower than its sender holds the flood back on the link (credits), not in an unbounded queue", async () => {
  // Each datagram waits for its receive WQE's DMA fetch, so the responder takes fewer datagrams
  // per second than the link brings. The device's receive buffer is finite and the link is
  // lossless (IBTA vol 1 §7.9): the device stops taking packets, the switch's port to it runs out
  // of credits, and the sender slows to the receiver's pace. Without the limit every datagram the
  // responder had not served waited in its queue (hundreds of MB for an ib_send_bw -c UD run).
  const N = 1024, LEN = 64;
  await withPair({}, async (p) => {
    const mk = async (h: Host) => {
      const cq = await h.createCq(11);
      const qp = await h.createQp({
        type: QpServiceType.UD,
        sendCq: cq,
        qkey: QKEY,
        sqSize: 1024,
        rqSize: 1024,
        // A long receive WQE: its fetch takes longer than the datagram's time on the link.
        rqStride: 1024,
      });
      await h.toRts(qp, 0, 0);
      return { cq, qp };
    };
    const a = await mk(p.a), b = await mk(p.b);
    const src = await p.a.buffer(LEN);
    const dst = await p.b.buffer(N * (LEN + 40));
    for (let i = 0; i < N; i++) {
      p.b.postRecv(b.qp, [{ addr: dst.addr + i * (LEN + 40), length: LEN + 40, lkey: dst.key }]);
    }
    for (let i = 0; i < N; i++) {
      p.a.postSend(a.qp, {
        opcode: WqeOpcode.SEND,
        flags: i % 64 === 63 ? WqeFlags.SIGNALED : 0,
        ud: { dlid: p.b.lid, remoteQpn: b.qp.qpn, qkey: QKEY },
        sgl: [{ addr: src.addr, length: LEN, lkey: src.key }],
      });
    }
    const sent = await p.a.waitCqes(a.cq, N / 64, 50_000_000, 50);
    const toB = p.fabric.switches()[0].port(2);
    const stalls = toB.counters.creditStalls;
    const received = await p.b.waitCqes(b.cq, N, 50_000_000, 50);
    assert.equal(sent.filter((c) => c.syndrome !== 0).length, 0);
    assert.equal(received.filter((c) => c.syndrome !== 0).length, 0, "no datagram is lost");
    assert.equal(p.b.hca.stats().counters.packetsDropped, 0);
    assert.ok(stalls > 0, `the switch's port to the receiver waited for credits (${stalls})`);
  });
});
