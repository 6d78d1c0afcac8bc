import assert from "node:assert/strict";
import {
  ALL_ACCESS,
  ALL_QP_ACCESS,
  allZero,
  connectedQps,
  type Host,
  must,
  pattern,
  withPair,
} from "./support/hca_harness.ts";
import { WqeFlags, WqeOpcode } from "../hca/wqe.ts";
import { CqeSyndrome, CqeVendorErr } from "../hca/cqe.ts";
import { CmdOp, EqeType, HwQpState, MptAccess, QpAccess, QpServiceType } from "../hca/commands.ts";
import { encodePacket } from "../hca/packet.ts";
import { OP } from "../hca/opcode.ts";
import { sendDoorbellWord } from "../hca/uar.ts";
import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";

/**
 * HW2SW_MPT of entry `index` on `host`, timed: settles, once the command completed (it must
 * succeed), with the ns it took; `completed` runs at that moment.
 */
async function timedHw2swMpt(host: Host, index: number, completed?: () => void): Promise<number> {
  const t0 = host.engine.now;
  must(await host.exec(CmdOp.HW2SW_MPT, { index }));
  completed?.();
  return host.engine.now - t0;
}

Deno.test("hca errors: a bad rkey gives REM_ACCESS_ERR, writes no byte, errors both QPs and flushes the rest", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqa } = await connectedQps(p);
    const src = await p.a.buffer(4096);
    const dst = await p.b.buffer(4096);
    p.a.write(src.addr, pattern(4096));
    p.a.postSend(qa, {
      opcode: WqeOpcode.RDMA_WRITE,
      flags: WqeFlags.SIGNALED,
      remoteAddr: dst.addr,
      rkey: (dst.key & ~0xff) | ((dst.key + 1) & 0xff), // right index, stale tag
      sgl: [{ addr: src.addr, length: 4096, lkey: src.key }],
    });
    const second = p.a.postSend(qa, {
      opcode: WqeOpcode.RDMA_WRITE,
      flags: 0,
      remoteAddr: dst.addr,
      rkey: dst.key,
      sgl: [{ addr: src.addr, length: 8, lkey: src.key }],
    });
    const cs = await p.a.waitCqes(cqa, 2);
    assert.equal(cs[0].syndrome, CqeSyndrome.REMOTE_ACCESS_ERR);
    assert.equal(cs[0].vendorErr, CqeVendorErr.NAK_REMOTE_ACCESS);
    assert.equal(cs[1].syndrome, CqeSyndrome.WR_FLUSH_ERR);
    assert.equal(cs[1].wqeCounter, second);
    assert.ok(allZero(p.b.read(dst.addr, 4096)));
    assert.equal(must(await p.a.exec(CmdOp.QUERY_QP, { qpn: qa.qpn })).state, HwQpState.ERR);
    assert.equal(must(await p.b.exec(CmdOp.QUERY_QP, { qpn: qb.qpn })).state, HwQpState.ERR);
    assert.ok(p.b.events.some((e) => e.type === EqeType.WQ_ACCESS_ERROR && e.index === qb.qpn));
  });
});

Deno.test("hca errors: an RDMA WRITE one byte past the region writes nothing (bounds fail closed)", async () => {
  await withPair({}, async (p) => {
    const { qa, cqa } = await connectedQps(p);
    const src = await p.a.buffer(8192);
    const whole = p.b.as.alloc(16384, 4096);
    const dst = await p.b.regMr(whole, 8192, MptAccess.LOCAL_WRITE | MptAccess.REMOTE_WRITE, 1);
    p.a.write(src.addr, pattern(8192));
    p.a.postSend(qa, {
      opcode: WqeOpcode.RDMA_WRITE,
      flags: WqeFlags.SIGNALED,
      remoteAddr: dst.addr + 1,
      rkey: dst.key,
      sgl: [{ addr: src.addr, length: 8192, lkey: src.key }],
    });
    const [c] = await p.a.waitCqes(cqa, 1);
    assert.equal(c.syndrome, CqeSyndrome.REMOTE_ACCESS_ERR);
    assert.ok(allZero(p.b.read(whole, 16384)));
  });
});

Deno.test("hca errors: RDMA READ without REMOTE_READ rights is a remote access error", async () => {
  await withPair({}, async (p) => {
    const { qa, cqa } = await connectedQps(p);
    const local = await p.a.buffer(64);
    const remote = await p.b.buffer(64, MptAccess.LOCAL_WRITE | MptAccess.REMOTE_WRITE);
    p.a.postSend(qa, {
      opcode: WqeOpcode.RDMA_READ,
      flags: WqeFlags.SIGNALED,
      remoteAddr: remote.addr,
      rkey: remote.key,
      sgl: [{ addr: local.addr, length: 64, lkey: local.key }],
    });
    const [c] = await p.a.waitCqes(cqa, 1);
    assert.equal(c.syndrome, CqeSyndrome.REMOTE_ACCESS_ERR);
  });
});

Deno.test("hca errors: an RDMA or atomic operation the responder QP does not enable is an Invalid Request, zero-length too", async () => {
  // rxe_resp.c check_op_valid → RESPST_ERR_UNSUPPORTED_OPCODE → Invalid Request NAK (class C),
  // IB_WC_REM_INV_REQ_ERR; qib/hfi1 rc_rcv `goto nack_inv` before looking at the RETH length.
  // A region that allows everything: only the QP's enables are missing.
  const cases = [
    { op: WqeOpcode.RDMA_WRITE, length: 64, off: QpAccess.REMOTE_WRITE },
    { op: WqeOpcode.RDMA_WRITE, length: 0, off: QpAccess.REMOTE_WRITE },
    { op: WqeOpcode.RDMA_READ, length: 64, off: QpAccess.REMOTE_READ },
    { op: WqeOpcode.RDMA_READ, length: 0, off: QpAccess.REMOTE_READ },
    { op: WqeOpcode.ATOMIC_FA, length: 8, off: QpAccess.REMOTE_ATOMIC },
  ];
  for (const { op, length, off } of cases) {
    await withPair({}, async (p) => {
      const cqa = await p.a.createCq(), cqb = await p.b.createCq();
      const qa = await p.a.createQp({ sendCq: cqa });
      const qb = await p.b.createQp({ sendCq: cqb, access: ALL_QP_ACCESS & ~off });
      await p.a.toRts(qa, qb.qpn, p.b.lid);
      await p.b.toRts(qb, qa.qpn, p.a.lid);
      const local = await p.a.buffer(64);
      const remote = await p.b.buffer(64);
      p.a.write(local.addr, pattern(64));
      p.a.postSend(qa, {
        opcode: op,
        flags: WqeFlags.SIGNALED,
        remoteAddr: remote.addr,
        rkey: remote.key,
        swapAdd: 1n,
        sgl: length ? [{ addr: local.addr, length, lkey: local.key }] : [],
      });
      const [c] = await p.a.waitCqes(cqa, 1);
      const what = `opcode ${op}, ${length} bytes`;
      assert.equal(c.syndrome, CqeSyndrome.REMOTE_INVAL_REQ_ERR, what);
      assert.equal(c.vendorErr, CqeVendorErr.NAK_INVALID_REQUEST, what);
      assert.ok(allZero(p.b.read(remote.addr, 64)), what);
      assert.equal(must(await p.b.exec(CmdOp.QUERY_QP, { qpn: qb.qpn })).state, HwQpState.ERR);
      assert.ok(
        p.b.events.some((e) => e.type === EqeType.WQ_INVAL_REQ_ERROR && e.index === qb.qpn),
      );
      assert.ok(!p.b.events.some((e) => e.type === EqeType.WQ_ACCESS_ERROR), what);
    });
  }
});

Deno.test("hca errors: bad lkey, foreign PD and missing LOCAL_WRITE are LOC_PROT_ERR before anything is sent", async () => {
  await withPair({}, async (p) => {
    const cases: [number, number][] = [];
    for (let i = 0; i < 3; i++) {
      const { qa, cqa } = await connectedQps(p);
      const other = await p.a.buffer(64, ALL_ACCESS, 2); // PD 2, the QP is in PD 1
      const ro = await p.a.buffer(64, 0); // no LOCAL_WRITE
      const remote = await p.b.buffer(64);
      const sent = p.a.hca.stats().packetsSent;
      if (i === 0) {
        p.a.postSend(qa, {
          opcode: WqeOpcode.SEND,
          flags: 0,
          sgl: [{ addr: ro.addr, length: 8, lkey: 0x12345 }],
        });
      } else if (i === 1) {
        p.a.postSend(qa, {
          opcode: WqeOpcode.SEND,
          flags: 0,
          sgl: [{ addr: other.addr, length: 8, lkey: other.key }],
        });
      } else {
        p.a.postSend(qa, {
          opcode: WqeOpcode.RDMA_READ,
          flags: 0,
          remoteAddr: remote.addr,
          rkey: remote.key,
          sgl: [{ addr: ro.addr, length: 8, lkey: ro.key }],
        });
      }
      const [c] = await p.a.waitCqes(cqa, 1);
      cases.push([c.syndrome, c.vendorErr]);
      assert.equal(p.a.hca.stats().packetsSent, sent, "nothing left the port");
    }
    assert.deepEqual(cases, [
      [CqeSyndrome.LOCAL_PROT_ERR, CqeVendorErr.BAD_KEY],
      [CqeSyndrome.LOCAL_PROT_ERR, CqeVendorErr.PD_MISMATCH],
      [CqeSyndrome.LOCAL_PROT_ERR, CqeVendorErr.ACCESS_RIGHTS],
    ]);
  });
});

Deno.test("hca errors: a receive buffer too small gives LOC_LEN_ERR at the responder, REM_INV_REQ_ERR at the requester", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqa, cqb } = await connectedQps(p);
    const dst = await p.b.buffer(4096);
    const src = await p.a.buffer(200);
    p.a.write(src.addr, pattern(200));
    p.b.postRecv(qb, [{ addr: dst.addr, length: 100, lkey: dst.key }]);
    p.a.postSend(qa, {
      opcode: WqeOpcode.SEND,
      flags: WqeFlags.SIGNALED,
      sgl: [{ addr: src.addr, length: 200, lkey: src.key }],
    });
    const [r] = await p.b.waitCqes(cqb, 1);
    const [s] = await p.a.waitCqes(cqa, 1);
    assert.equal(r.syndrome, CqeSyndrome.LOCAL_LENGTH_ERR);
    assert.equal(s.syndrome, CqeSyndrome.REMOTE_INVAL_REQ_ERR);
    assert.ok(allZero(p.b.read(dst.addr + 100, 100)));
  });
});

Deno.test("hca errors: a misaligned atomic is an invalid request (REM_INV_REQ_ERR) and changes nothing", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqa } = await connectedQps(p);
    const local = await p.a.buffer(64);
    const remote = await p.b.buffer(64);
    p.a.postSend(qa, {
      opcode: WqeOpcode.ATOMIC_FA,
      flags: WqeFlags.SIGNALED,
      remoteAddr: remote.addr + 4,
      rkey: remote.key,
      swapAdd: 1n,
      sgl: [{ addr: local.addr, length: 8, lkey: local.key }],
    });
    const [c] = await p.a.waitCqes(cqa, 1);
    assert.equal(c.syndrome, CqeSyndrome.REMOTE_INVAL_REQ_ERR);
    assert.ok(allZero(p.b.read(remote.addr, 64)));
    assert.ok(allZero(p.a.read(local.addr, 8)));
    assert.ok(p.b.events.some((e) => e.type === EqeType.WQ_INVAL_REQ_ERROR && e.index === qb.qpn));
  });
});

Deno.test("hca errors: a responder whose receive WQE has a bad lkey answers REM_OP_ERR; it reports LOC_PROT_ERR", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqa, cqb } = await connectedQps(p);
    const dst = await p.b.buffer(64);
    p.b.postRecv(qb, [{ addr: dst.addr, length: 64, lkey: dst.key + 0x100 }]);
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, inline: pattern(16) });
    const [r] = await p.b.waitCqes(cqb, 1);
    const [s] = await p.a.waitCqes(cqa, 1);
    assert.equal(r.syndrome, CqeSyndrome.LOCAL_PROT_ERR);
    assert.equal(s.syndrome, CqeSyndrome.REMOTE_OP_ERR);
    assert.ok(allZero(p.b.read(dst.addr, 64)), "nothing placed");
  });
});

Deno.test("hca errors: an RDMA WRITE whose data is on its way when its region is deregistered lands before HW2SW_MPT completes", async () => {
  // An ACK says the data is placed (the responder sends it once the write is visible). The
  // firmware completes HW2SW_MPT only once the HCA no longer uses the entry, and the driver
  // unpins the pages after the command returns (Linux mthca_mr.c mthca_free_mr, then
  // ib_umem_release): a write the device translated before lands, before the command
  // completes; a packet checked after the command began is an R_Key violation (IBTA vol 1
  // §9.7.5.2 class C). Before, a write translated just before was dropped at landing and NAKed.
  const outcomes = new Set<string>();
  const deregNs: [number, boolean][] = []; // how long HW2SW_MPT took, and whether the WRITE succeeded
  for (let delay = 6_000; delay <= 16_000; delay += 100) {
    await withPair({}, async (p) => {
      const { qa, qb, cqa } = await connectedQps(p, { qa: { timeout: 8, retryCnt: 0 } });
      const local = await p.a.buffer(2048);
      const remote = await p.b.buffer(2048);
      p.a.write(local.addr, new Uint8Array(2048).fill(0x5a));
      const count = () => p.b.read(remote.addr, 2048).filter((b) => b === 0x5a).length;
      let landedAtReturn = -1;
      const dereg = timedHw2swMpt(p.b, remote.index, () => (landedAtReturn = count()));
      await p.engine.sleep(delay);
      p.a.postSend(qa, {
        opcode: WqeOpcode.RDMA_WRITE,
        flags: WqeFlags.SIGNALED,
        remoteAddr: remote.addr,
        rkey: remote.key,
        sgl: [{ addr: local.addr, length: 2048, lkey: local.key }],
      });
      const [c] = await p.a.waitCqes(cqa, 1, 10_000_000);
      const took = await dereg;
      const at = `posted ${delay} ns after the deregistration began`;
      const landed = count();
      assert.equal(landedAtReturn, landed, `${at}: nothing lands after HW2SW_MPT completed`);
      const state = must(await p.b.exec(CmdOp.QUERY_QP, { qpn: qb.qpn })).state;
      deregNs.push([took, c.syndrome === 0]);
      if (c.syndrome === 0) {
        assert.equal(landed, 2048, at);
        assert.equal(state, HwQpState.RTS, at);
        outcomes.add("success");
      } else {
        assert.equal(c.syndrome, CqeSyndrome.REMOTE_ACCESS_ERR, at);
        assert.equal(landed, 0, at);
        assert.equal(state, HwQpState.ERR, at);
        outcomes.add("remote access error");
      }
    });
  }
  assert.deepEqual([...outcomes].sort(), ["remote access error", "success"]);
  // The command took longer only where the write was on its way, and that write succeeded.
  const least = Math.min(...deregNs.map(([t]) => t));
  const waited = deregNs.filter(([t]) => t > least);
  assert.ok(waited.length > 0 && waited.every(([, ok]) => ok), JSON.stringify(deregNs));
});

Deno.test("hca errors: HW2SW_MPT waits for writes through its own entry only", async () => {
  // The command's extra time is the drain of the region's own writes (mthca's firmware waits
  // until the HCA no longer uses the entry): with a WRITE into another region on its way it
  // takes its usual time whenever it runs.
  const C = PCIX_SDR_2006.hca.commandNs;
  const took = { own: [] as number[], other: [] as number[] };
  for (let delay = 6_000; delay <= 16_000; delay += 100) {
    for (const which of ["own", "other"] as const) {
      await withPair({}, async (p) => {
        const { qa, cqa } = await connectedQps(p);
        const local = await p.a.buffer(2048);
        const target = await p.b.buffer(2048);
        const other = await p.b.buffer(2048);
        p.a.write(local.addr, new Uint8Array(2048).fill(0x5a));
        const dereg = timedHw2swMpt(p.b, (which === "own" ? target : other).index);
        await p.engine.sleep(delay);
        p.a.postSend(qa, {
          opcode: WqeOpcode.RDMA_WRITE,
          flags: WqeFlags.SIGNALED,
          remoteAddr: target.addr,
          rkey: target.key,
          sgl: [{ addr: local.addr, length: 2048, lkey: local.key }],
        });
        await p.a.waitCqes(cqa, 1, 10_000_000);
        took[which].push(await dereg);
      });
    }
  }
  assert.ok(took.own.some((t) => t > C), "the region's own write held the command");
  assert.ok(took.other.every((t) => t === C), JSON.stringify(took.other));
});

Deno.test("hca errors: an RDMA READ or atomic whose DMA read is issued before HW2SW_MPT completes through the region, and the command waits for it", async () => {
  // The device translates a READ response's or an atomic's bytes as it issues their DMA read;
  // HW2SW_MPT completes once the HCA no longer uses the entry (Linux mthca_mr.c mthca_free_mr
  // unpins after it returns). Before, such a read found the entry gone when its data came back
  // and the request was refused (REM_ACCESS_ERR) although it had passed its R_Key check.
  const C = PCIX_SDR_2006.hca.commandNs;
  for (const op of [WqeOpcode.RDMA_READ, WqeOpcode.ATOMIC_FA] as const) {
    const outcomes = new Set<string>();
    for (let delay = 6_000; delay <= 22_000; delay += 100) {
      await withPair({}, async (p) => {
        const { qa, cqa } = await connectedQps(p, { qa: { timeout: 8, retryCnt: 0 } });
        const local = await p.a.buffer(2048);
        const remote = await p.b.buffer(2048);
        p.b.write(remote.addr, new Uint8Array(2048).fill(0x5a));
        const dereg = timedHw2swMpt(p.b, remote.index);
        await p.engine.sleep(delay);
        const n = op === WqeOpcode.RDMA_READ ? 2048 : 8;
        p.a.postSend(qa, {
          opcode: op,
          flags: WqeFlags.SIGNALED,
          remoteAddr: remote.addr,
          rkey: remote.key,
          swapAdd: 1n,
          sgl: [{ addr: local.addr, length: n, lkey: local.key }],
        });
        const [c] = await p.a.waitCqes(cqa, 1, 10_000_000);
        const took = await dereg;
        const at = `opcode ${op} posted ${delay} ns after the deregistration began`;
        const got = p.a.read(local.addr, n).filter((b) => b === 0x5a).length;
        if (c.syndrome === 0) {
          assert.equal(got, n, at);
          outcomes.add(took > C ? "success, dereg waited" : "success");
        } else {
          assert.equal(c.syndrome, CqeSyndrome.REMOTE_ACCESS_ERR, at);
          assert.equal(took, C, `${at}: the command waited for nothing`);
          outcomes.add("remote access error");
        }
      });
    }
    assert.deepEqual([...outcomes].sort(), [
      "remote access error",
      "success",
      "success, dereg waited",
    ], `opcode ${op}`);
  }
});

Deno.test("hca errors: a SEND or RDMA WRITE whose payload read is issued before HW2SW_MPT of its local buffer completes through it, and the command waits for it", async () => {
  // The device translates a packet's gather list as it issues the payload's DMA read;
  // HW2SW_MPT completes once the HCA no longer uses the entry (Linux mthca_mr.c mthca_free_mr
  // unpins after it returns). A read issued after the command began finds the L_Key gone:
  // LOC_PROT_ERR (IBTA vol 1 §10.6.3.3). Before, the requester re-checked the key when the
  // read's data arrived and failed the WR with LOC_PROT_ERR although the read was issued first.
  const C = PCIX_SDR_2006.hca.commandNs;
  // The last case gathers from two regions, only the second of them deregistered.
  for (
    const [op, sges] of [
      [WqeOpcode.SEND, 1],
      [WqeOpcode.RDMA_WRITE, 1],
      [WqeOpcode.SEND, 2],
    ] as const
  ) {
    const outcomes = new Set<string>();
    for (let delay = 10_000; delay <= 24_000; delay += 100) {
      await withPair({}, async (p) => {
        const { qa, qb, cqa } = await connectedQps(p, { qa: { timeout: 8, retryCnt: 0 } });
        const local = await p.a.buffer(2048);
        const remote = await p.b.buffer(2048);
        const kept = await p.a.buffer(1024);
        p.a.write(local.addr, new Uint8Array(2048).fill(0x5a));
        p.a.write(kept.addr, new Uint8Array(1024).fill(0x5a));
        if (op === WqeOpcode.SEND) {
          p.b.postRecv(qb, [{ addr: remote.addr, length: 2048, lkey: remote.key }]);
        }
        const dereg = timedHw2swMpt(p.a, local.index);
        await p.engine.sleep(delay);
        p.a.postSend(qa, {
          opcode: op,
          flags: WqeFlags.SIGNALED,
          remoteAddr: remote.addr,
          rkey: remote.key,
          sgl: sges === 1 ? [{ addr: local.addr, length: 2048, lkey: local.key }] : [
            { addr: kept.addr, length: 1024, lkey: kept.key },
            { addr: local.addr, length: 1024, lkey: local.key },
          ],
        });
        const [c] = await p.a.waitCqes(cqa, 1, 10_000_000);
        const took = await dereg;
        const at =
          `opcode ${op} (${sges} gather entries) posted ${delay} ns after the deregistration began`;
        const got = p.b.read(remote.addr, 2048).filter((b) => b === 0x5a).length;
        if (c.syndrome === 0) {
          assert.equal(got, 2048, at);
          outcomes.add(took > C ? "success, dereg waited" : "success");
        } else {
          assert.equal(c.syndrome, CqeSyndrome.LOCAL_PROT_ERR, at);
          assert.equal(got, 0, `${at}: nothing sent`);
          assert.equal(took, C, `${at}: the command waited for nothing`);
          outcomes.add("local protection error");
        }
      });
    }
    assert.deepEqual([...outcomes].sort(), [
      "local protection error",
      "success",
      "success, dereg waited",
    ], `opcode ${op} (${sges} gather entries)`);
  }
});

Deno.test("hca errors: a READ asked again after its region was deregistered is a Remote Access Error", async () => {
  // A duplicate READ is executed again, R_Key check included (IBTA vol 1 §9.7.5.2.5; Linux rxe
  // read_reply: a replay whose rxe_recheck_mr fails is RESPST_ERR_RKEY_VIOLATION, class C).
  await withPair({}, async (p) => {
    const { qa, qb, cqa } = await connectedQps(p, { qa: { timeout: 10, retryCnt: 3 } });
    const local = await p.a.buffer(64);
    const remote = await p.b.buffer(64);
    p.fabric.addFault({
      kind: "drop",
      opcode: OP.RC_RDMA_READ_RESPONSE_ONLY,
      probability: 1,
      limit: 1,
    });
    p.a.postSend(qa, {
      opcode: WqeOpcode.RDMA_READ,
      flags: WqeFlags.SIGNALED,
      remoteAddr: remote.addr,
      rkey: remote.key,
      sgl: [{ addr: local.addr, length: 64, lkey: local.key }],
    });
    await p.engine.sleep(50_000); // served once, the response lost
    must(await p.b.exec(CmdOp.HW2SW_MPT, { index: remote.index }));
    const [c] = await p.a.waitCqes(cqa, 1);
    assert.equal(c.syndrome, CqeSyndrome.REMOTE_ACCESS_ERR); // was RETRY_EXC_ERR
    assert.equal(must(await p.b.exec(CmdOp.QUERY_QP, { qpn: qb.qpn })).state, HwQpState.ERR);
    assert.ok(p.b.events.some((e) => e.type === EqeType.WQ_ACCESS_ERROR && e.index === qb.qpn));
  });
});

Deno.test("hca errors: LOC_QP_OP_ERR for a READ on a UC QP and for a malformed WQE", async () => {
  await withPair({}, async (p) => {
    const uc = await connectedQps(p, { type: QpServiceType.UC });
    const buf = await p.a.buffer(64);
    p.a.postSend(uc.qa, {
      opcode: WqeOpcode.RDMA_READ,
      flags: 0,
      remoteAddr: 0,
      rkey: 0,
      sgl: [{ addr: buf.addr, length: 8, lkey: buf.key }],
    });
    const [c1] = await p.a.waitCqes(uc.cqa, 1);
    assert.equal(c1.syndrome, CqeSyndrome.LOCAL_QP_OP_ERR);
    assert.ok(allZero(p.a.read(buf.addr, 64)), "nothing placed");
    assert.equal(c1.vendorErr, CqeVendorErr.BAD_OPCODE_FOR_QP);
    // UC send-side errors leave the receive side working: SQE, not ERR (IBTA §10.3.1).
    assert.equal(must(await p.a.exec(CmdOp.QUERY_QP, { qpn: uc.qa.qpn })).state, HwQpState.SQE);

    const rc = await connectedQps(p);
    const garbage = new Uint8Array(rc.qa.sqStride).fill(0xee);
    p.a.write(rc.qa.sqAddr, garbage);
    rc.qa.sqPc = 1;
    // Announced as a whole slot: the device fetches and parses the garbage.
    p.a.ring(rc.qa.uar, 0x18, sendDoorbellWord(rc.qa.qpn, rc.qa.sqStride / 16), 1);
    const [c2] = await p.a.waitCqes(rc.cqa, 1);
    assert.equal(c2.syndrome, CqeSyndrome.LOCAL_QP_OP_ERR);
    assert.equal(c2.vendorErr, CqeVendorErr.BAD_WQE);
  });
});

Deno.test("hca errors: with the peer QP destroyed the sender completes with RETRY_EXC_ERR after retry_cnt retries", async () => {
  await withPair({}, async (p) => {
    // timeout 8: 4.096 µs · 2^8 ≈ 1.05 ms per try.
    const { qa, qb, cqa } = await connectedQps(p, { qa: { timeout: 8, retryCnt: 3 } });
    must(await p.b.exec(CmdOp.TO_RST_QP, { qpn: qb.qpn }));
    const t0 = p.engine.now;
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, inline: pattern(8) });
    const [c] = await p.a.waitCqes(cqa, 1, 1e9, 10_000);
    const dt = p.engine.now - t0;
    assert.equal(c.syndrome, CqeSyndrome.RETRY_EXC_ERR);
    assert.equal(p.a.hca.stats().counters.timeouts, 4);
    assert.ok(dt > 4 * 1.04e6 && dt < 4 * 1.04e6 + 100_000, `took ${dt} ns`);
  });
});

Deno.test("hca errors: with the peer's port down (CLOSE_IB) the sender completes with RETRY_EXC_ERR", async () => {
  await withPair({}, async (p) => {
    const { qa, cqa } = await connectedQps(p, { qa: { timeout: 6, retryCnt: 1 } });
    must(await p.b.exec(CmdOp.CLOSE_IB, { port: 1 }));
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, inline: pattern(8) });
    const [c] = await p.a.waitCqes(cqa, 1, 1e9, 10_000);
    assert.equal(c.syndrome, CqeSyndrome.RETRY_EXC_ERR);
    assert.equal(c.vendorErr, CqeVendorErr.RETRY_EXCEEDED);
  });
});

Deno.test("hca errors: with no receive posted the sender gets RNR_RETRY_EXC_ERR after rnr_retry RNR NAKs", async () => {
  await withPair({}, async (p) => {
    // Responder's min RNR timer code 2 = 20 µs (IBTA table 45).
    const { qa, cqa } = await connectedQps(p, { qa: { rnrRetry: 3 }, qb: { minRnrTimer: 2 } });
    const t0 = p.engine.now;
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, inline: pattern(8) });
    const [c] = await p.a.waitCqes(cqa, 1, 1e9, 1000);
    assert.equal(c.syndrome, CqeSyndrome.RNR_RETRY_EXC_ERR);
    assert.equal(p.a.hca.stats().counters.rnrNaksReceived, 4);
    assert.equal(p.b.hca.stats().counters.rnrNaksSent, 4);
    const dt = p.engine.now - t0;
    assert.ok(dt > 3 * 20_000 && dt < 3 * 20_000 + 30_000, `took ${dt} ns`);
  });
});

Deno.test("hca errors: RNR NAKs are retried until a receive is posted (rnr_retry 7 = forever)", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqa, cqb } = await connectedQps(p, { qb: { minRnrTimer: 1 } });
    const dst = await p.b.buffer(64);
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, inline: pattern(8, 3) });
    await p.engine.sleep(200_000);
    p.b.postRecv(qb, [{ addr: dst.addr, length: 64, lkey: dst.key }]);
    const [s] = await p.a.waitCqes(cqa, 1);
    const [r] = await p.b.waitCqes(cqb, 1);
    assert.equal(s.syndrome, 0);
    assert.equal(r.syndrome, 0);
    assert.deepEqual(p.b.read(dst.addr, 8), pattern(8, 3));
    assert.ok(p.a.hca.stats().counters.rnrNaksReceived >= 10);
  });
});

Deno.test("hca errors: 2ERR flushes posted receives with WR_FLUSH_ERR, and later posts flush at once", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqa, cqb } = await connectedQps(p);
    const dst = await p.b.buffer(64);
    const counters = [0, 1, 2].map(() =>
      p.b.postRecv(qb, [{ addr: dst.addr, length: 64, lkey: dst.key }])
    );
    await p.engine.sleep(1000);
    must(await p.b.exec(CmdOp.TO_ERR_QP, { qpn: qb.qpn }));
    const r = await p.b.waitCqes(cqb, 3);
    assert.deepEqual(r.map((c) => c.syndrome), Array(3).fill(CqeSyndrome.WR_FLUSH_ERR));
    assert.deepEqual(r.map((c) => c.wqeCounter), counters);
    const late = p.b.postRecv(qb, [{ addr: dst.addr, length: 64, lkey: dst.key }]);
    const [l] = await p.b.waitCqes(cqb, 1);
    assert.equal(l.syndrome, CqeSyndrome.WR_FLUSH_ERR);
    assert.equal(l.wqeCounter, late);
    // Sends posted after the error are flushed too (SQ in ERR).
    must(await p.a.exec(CmdOp.TO_ERR_QP, { qpn: qa.qpn }));
    const sc = p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: 0, inline: pattern(4) });
    const [s] = await p.a.waitCqes(cqa, 1);
    assert.equal(s.syndrome, CqeSyndrome.WR_FLUSH_ERR);
    assert.equal(s.wqeCounter, sc);
  });
});

Deno.test("hca errors: a response that does not match the outstanding request is BAD_RESP_ERR", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqa } = await connectedQps(p, { qa: { timeout: 20 } });
    // Silence the real peer so that only the forged response arrives.
    must(await p.b.exec(CmdOp.TO_RST_QP, { qpn: qb.qpn }));
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, inline: pattern(8) });
    await p.engine.sleep(5_000);
    const forged = encodePacket({
      lrh: { dlid: p.a.lid, slid: p.b.lid },
      bth: { opcode: OP.RC_ATOMIC_ACKNOWLEDGE, destQp: qa.qpn, psn: 0 },
      aeth: { syndrome: 0x1f, msn: 1 },
      atomicAckEth: { origRemData: 42n },
    });
    p.a.hca.receive(forged, p.a.hca.port(1)!);
    const [c] = await p.a.waitCqes(cqa, 1);
    assert.equal(c.syndrome, CqeSyndrome.BAD_RESP_ERR);
  });
});

Deno.test("hca responder: checks run in order — CHK_RESOURCE (RNR) before CHK_RKEY for a WRITE with immediate", async () => {
  await withPair({}, async (p) => {
    // A bad R_Key and no receive posted: the missing receive WQE is found first.
    const { qa, cqa } = await connectedQps(p, { qa: { rnrRetry: 0 }, qb: { minRnrTimer: 1 } });
    const src = await p.a.buffer(64);
    p.a.postSend(qa, {
      opcode: WqeOpcode.RDMA_WRITE_IMM,
      flags: WqeFlags.SIGNALED,
      imm: 5,
      remoteAddr: 0x1000,
      rkey: 0x7777,
      sgl: [{ addr: src.addr, length: 64, lkey: src.key }],
    });
    const [c] = await p.a.waitCqes(cqa, 1, 1e9, 1000);
    assert.equal(c.syndrome, CqeSyndrome.RNR_RETRY_EXC_ERR);
    assert.equal(p.b.hca.stats().counters.rnrNaksSent, 1);
  });
});

Deno.test("hca responder: checks run in order — CHK_LENGTH (alignment) before CHK_RKEY for an atomic", async () => {
  await withPair({}, async (p) => {
    const { qa, qb, cqa } = await connectedQps(p);
    const local = await p.a.buffer(64);
    p.a.postSend(qa, {
      opcode: WqeOpcode.ATOMIC_CS,
      flags: WqeFlags.SIGNALED,
      remoteAddr: 0x1004,
      rkey: 0x7777, // names no region
      swapAdd: 1n,
      sgl: [{ addr: local.addr, length: 8, lkey: local.key }],
    });
    const [c] = await p.a.waitCqes(cqa, 1);
    assert.equal(c.syndrome, CqeSyndrome.REMOTE_INVAL_REQ_ERR, "misaligned, not an access error");
    assert.ok(p.b.events.some((e) => e.type === EqeType.WQ_INVAL_REQ_ERROR && e.index === qb.qpn));
    assert.ok(!p.b.events.some((e) => e.type === EqeType.WQ_ACCESS_ERROR));
  });
});
