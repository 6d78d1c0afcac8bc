import assert from "node:assert/strict";
import {
  buildProfile,
  Engine,
  InterruptController,
  MachineMemory,
  PCIX_SDR_2006,
  Prng,
} from "../sim/mod.ts";
import { Hca } from "../hca/device.ts";
import {
  cmdName,
  CmdOp,
  CmdStatus,
  EqeType,
  HwQpState,
  MptAccess,
  mptKey,
  QpServiceType,
} from "../hca/commands.ts";
import { WqeFlags, WqeOpcode } from "../hca/wqe.ts";
import { CqeSyndrome } from "../hca/cqe.ts";
import { must, withPair } from "./support/hca_harness.ts";

function solo() {
  const engine = new Engine();
  const memory = new MachineMemory(16 << 20);
  const hca = new Hca({
    engine,
    memory,
    irq: new InterruptController(),
    profile: PCIX_SDR_2006,
    rng: new Prng(1),
    name: "solo",
  });
  return { engine, memory, hca };
}

Deno.test("hca commands: nothing but QUERY_DEV_LIM/INIT_HCA works before INIT_HCA; INIT_HCA twice is refused", async () => {
  const { engine, hca } = solo();
  await engine.run(async () => {
    const r = await hca.cmd.exec(CmdOp.SW2HW_CQ, {
      cqn: 1,
      key: 0x100,
      addr: 0,
      logSize: 4,
      eqn: 0,
      uarIndex: 0,
    });
    assert.equal(r.status, CmdStatus.BAD_SYS_STATE);
    assert.ok((await hca.cmd.exec(CmdOp.QUERY_DEV_LIM, {})).ok);
    assert.ok((await hca.cmd.exec(CmdOp.INIT_HCA, {})).ok);
    assert.equal((await hca.cmd.exec(CmdOp.INIT_HCA, {})).status, CmdStatus.BAD_SYS_STATE);
    assert.equal((await hca.cmd.exec(0x999 as typeof CmdOp.INIT_HCA, {})).status, CmdStatus.BAD_OP);
  });
});

Deno.test("hca commands: each costs commandNs, WRITE_MTT adds commandPerMttNs per entry, and they run in order", async () => {
  const { engine, memory, hca } = solo();
  const h = PCIX_SDR_2006.hca;
  await engine.run(async () => {
    const t0 = engine.now;
    must(await hca.cmd.exec(CmdOp.INIT_HCA, {}));
    assert.equal(engine.now - t0, h.commandNs);
    const frames = Array.from({ length: 100 }, () => memory.allocFrame("t"));
    const t1 = engine.now;
    // Two commands issued together: the second waits for the first.
    const [a, b] = await Promise.all([
      hca.cmd.exec(CmdOp.WRITE_MTT, { base: 0, mfns: frames }),
      hca.cmd.exec(CmdOp.QUERY_DEV_LIM, {}),
    ]);
    assert.ok(a.ok && b.ok);
    assert.equal(engine.now - t1, 2 * h.commandNs + 100 * h.commandPerMttNs);
    assert.equal(hca.cmd.executed, 3);
  });
});

Deno.test("hca commands: MPT/MTT validation returns firmware statuses, never throws", async () => {
  const { engine, memory, hca } = solo();
  await engine.run(async () => {
    must(await hca.cmd.exec(CmdOp.INIT_HCA, {}));
    const f = memory.allocFrame("t");
    const mpt = (o: Record<string, unknown>) =>
      hca.cmd.exec(CmdOp.SW2HW_MPT, {
        index: 5,
        key: mptKey(5, 1),
        pd: 1,
        start: 0x1000,
        length: 4096,
        access: MptAccess.LOCAL_WRITE,
        mttBase: 0,
        mttCount: 1,
        pageShift: 12,
        ...o,
      } as never);
    // An I/O frame (a UAR page) can never be an MTT entry.
    assert.equal(
      (await hca.cmd.exec(CmdOp.WRITE_MTT, { base: 0, mfns: [hca.uarMfn(0)] })).status,
      CmdStatus.BAD_PARAM,
    );
    assert.equal(
      (await hca.cmd.exec(CmdOp.WRITE_MTT, { base: 0, mfns: [999_999] })).status,
      CmdStatus.BAD_PARAM,
    );
    assert.equal(
      (await hca.cmd.exec(CmdOp.WRITE_MTT, { base: PCIX_SDR_2006.hca.maxMtt, mfns: [f] })).status,
      CmdStatus.BAD_SEG_PARAM,
    );
    must(await hca.cmd.exec(CmdOp.WRITE_MTT, { base: 0, mfns: [f] }));
    assert.equal((await mpt({ index: 0, key: 0 })).status, CmdStatus.BAD_INDEX); // reserved
    assert.equal((await mpt({ index: 1e9 })).status, CmdStatus.BAD_INDEX);
    assert.equal((await mpt({ key: mptKey(6) })).status, CmdStatus.BAD_PARAM);
    assert.equal((await mpt({ access: MptAccess.REMOTE_WRITE })).status, CmdStatus.BAD_PARAM);
    assert.equal((await mpt({ length: 8192 })).status, CmdStatus.BAD_SEG_PARAM); // 2 pages, 1 entry
    assert.equal((await mpt({ pageShift: 11 })).status, CmdStatus.BAD_SEG_PARAM);
    assert.equal((await mpt({ start: "x" })).status, CmdStatus.BAD_PARAM);
    assert.ok((await mpt({})).ok);
    assert.equal((await mpt({})).status, CmdStatus.BAD_RES_STATE);
    assert.equal(
      (await hca.cmd.exec(CmdOp.HW2SW_MPT, { index: 6 })).status,
      CmdStatus.BAD_RES_STATE,
    );
    const q = must(await hca.cmd.exec(CmdOp.QUERY_MPT, { index: 5 }));
    assert.equal(q.key, mptKey(5, 1));
    // Garbage in: statuses out.
    for (const bad of [undefined, null, 42, "x", [], { index: -1 }]) {
      const r = await hca.cmd.exec(CmdOp.SW2HW_MPT, bad as never);
      assert.equal(r.ok, false);
      const r2 = await hca.cmd.exec(CmdOp.RST2INIT_QP, bad as never);
      assert.equal(r2.ok, false);
      const r3 = await hca.cmd.exec(CmdOp.WRITE_MTT, bad as never);
      assert.equal(r3.ok, false);
    }
  });
});

Deno.test("hca commands: CQ/EQ/SRQ checks, RESOURCE_BUSY while referenced, limits", async () => {
  await withPair({}, async (p) => {
    const h = p.a;
    const cq = await h.createCq(4);
    const mem = await h.buffer(1 << 16, MptAccess.LOCAL_WRITE, 0);
    const noWrite = await h.buffer(4096, 0, 0);
    const cqp = { cqn: 9, key: mem.key, addr: mem.addr, logSize: 4, eqn: 0, uarIndex: 1 };
    assert.equal(
      (await h.exec(CmdOp.SW2HW_CQ, { ...cqp, cqn: cq.cqn })).status,
      CmdStatus.BAD_RES_STATE,
    );
    assert.equal((await h.exec(CmdOp.SW2HW_CQ, { ...cqp, eqn: 7 })).status, CmdStatus.BAD_RESOURCE);
    assert.equal(
      (await h.exec(CmdOp.SW2HW_CQ, { ...cqp, logSize: 20 })).status,
      CmdStatus.EXCEED_LIM,
    );
    assert.equal(
      (await h.exec(CmdOp.SW2HW_CQ, { ...cqp, logSize: 12 })).status,
      CmdStatus.BAD_PARAM,
    ); // 128 KiB > region
    assert.equal(
      (await h.exec(CmdOp.SW2HW_CQ, { ...cqp, key: noWrite.key, addr: noWrite.addr })).status,
      CmdStatus.BAD_RESOURCE,
    );
    assert.equal(
      (await h.exec(CmdOp.SW2HW_CQ, { ...cqp, key: 0xdead00 })).status,
      CmdStatus.BAD_RESOURCE,
    );
    const qp = await h.createQp({ sendCq: cq });
    assert.equal((await h.exec(CmdOp.HW2SW_CQ, { cqn: cq.cqn })).status, CmdStatus.RESOURCE_BUSY);
    assert.equal((await h.exec(CmdOp.HW2SW_EQ, { eqn: 0 })).status, CmdStatus.RESOURCE_BUSY);
    // The CQ's buffer region cannot be deregistered under it.
    assert.equal((await h.exec(CmdOp.HW2SW_MPT, { index: 2 })).status, CmdStatus.RESOURCE_BUSY);
    must(await h.exec(CmdOp.TO_RST_QP, { qpn: qp.qpn }));
    must(await h.exec(CmdOp.HW2SW_CQ, { cqn: cq.cqn }));
    assert.equal((await h.exec(CmdOp.QUERY_CQ, { cqn: cq.cqn })).status, CmdStatus.BAD_RES_STATE);
    // SRQ.
    const srq = await h.createSrq();
    assert.equal(
      (await h.exec(CmdOp.ARM_SRQ, { srqn: srq.srqn, limit: 1000 })).status,
      CmdStatus.BAD_PARAM,
    );
    must(await h.exec(CmdOp.ARM_SRQ, { srqn: srq.srqn, limit: 4 }));
    assert.equal(must(await h.exec(CmdOp.QUERY_SRQ, { srqn: srq.srqn })).limit, 4);
    const cq2 = await h.createCq(4);
    const qps = await h.createQp({ sendCq: cq2, srq });
    assert.equal(
      (await h.exec(CmdOp.HW2SW_SRQ, { srqn: srq.srqn })).status,
      CmdStatus.RESOURCE_BUSY,
    );
    must(await h.exec(CmdOp.TO_RST_QP, { qpn: qps.qpn }));
    must(await h.exec(CmdOp.HW2SW_SRQ, { srqn: srq.srqn }));
    // RESIZE_CQ moves the CQ to a bigger buffer.
    must(await h.exec(CmdOp.RESIZE_CQ, { cqn: cq2.cqn, key: mem.key, addr: mem.addr, logSize: 8 }));
    assert.equal(must(await h.exec(CmdOp.QUERY_CQ, { cqn: cq2.cqn })).logSize, 8);
  });
});

Deno.test("hca commands: QP transitions are enforced from the right state only, with required fields", async () => {
  await withPair({}, async (p) => {
    const h = p.a;
    const cq = await h.createCq(4);
    const qp = await h.createQp({ sendCq: cq });
    const qpn = qp.qpn;
    const st = async () => must(await h.exec(CmdOp.QUERY_QP, { qpn })).state;
    assert.equal(await st(), HwQpState.INIT);
    assert.equal(
      (await h.exec(CmdOp.RST2INIT_QP, { qpn, ctx: {} })).status,
      CmdStatus.BAD_QP_STATE,
    );
    assert.equal(
      (await h.exec(CmdOp.RTR2RTS_QP, { qpn, ctx: { sqPsn: 0 } })).status,
      CmdStatus.BAD_QP_STATE,
    );
    const rtr = { destQpn: 5, rqPsn: 0, mtu: 4, path: { dlid: 1, sl: 0, srcPathBits: 0 } };
    const refused: [Record<string, unknown>, number][] = [
      [{ rqPsn: 0 }, CmdStatus.BAD_PARAM], // destQpn, mtu, path missing
      [{ ...rtr, mtu: 9 }, CmdStatus.BAD_PARAM],
      [{ ...rtr, maxDestRdAtomic: 99 }, CmdStatus.EXCEED_LIM],
      // The port's link carries 2048-byte payloads (pcix-sdr-2006): no 4096 path MTU.
      [{ ...rtr, mtu: 5 }, CmdStatus.BAD_PARAM],
    ];
    for (const [ctx, status] of refused) {
      const r = await h.exec(CmdOp.INIT2RTR_QP, { qpn, ctx });
      assert.equal(r.status, status, JSON.stringify(ctx));
    }
    assert.equal(await st(), HwQpState.INIT, "a failed transition changes nothing");
    must(
      await h.exec(CmdOp.INIT2RTR_QP, {
        qpn,
        ctx: { destQpn: 5, rqPsn: 77, mtu: 3, path: { dlid: 1, sl: 0, srcPathBits: 0 } },
      }),
    );
    must(
      await h.exec(CmdOp.RTR2RTS_QP, {
        qpn,
        ctx: { sqPsn: 0x123, timeout: 9, retryCnt: 5, rnrRetry: 6 },
      }),
    );
    const q = must(await h.exec(CmdOp.QUERY_QP, { qpn }));
    assert.equal(q.state, HwQpState.RTS);
    assert.equal(q.expectedPsn, 77);
    assert.equal(q.nextPsn, 0x123);
    assert.equal(q.mtu, 3);
    assert.equal(q.retryCnt, 5);
    assert.equal(q.rnrRetry, 6);
    assert.equal(q.sendCqn, cq.cqn);
    must(await h.exec(CmdOp.RTS2SQD_QP, { qpn, ctx: { sqdEvent: true } }));
    assert.equal(await st(), HwQpState.SQD);
    must(await h.exec(CmdOp.SQD2RTS_QP, { qpn }));
    assert.equal((await h.exec(CmdOp.SQERR2RTS_QP, { qpn })).status, CmdStatus.BAD_QP_STATE);
    must(await h.exec(CmdOp.TO_ERR_QP, { qpn }));
    assert.equal(await st(), HwQpState.ERR);
    assert.equal((await h.exec(CmdOp.RTS2RTS_QP, { qpn })).status, CmdStatus.BAD_QP_STATE);
    must(await h.exec(CmdOp.TO_RST_QP, { qpn }));
    assert.equal(await st(), HwQpState.RESET);
    assert.equal((await h.exec(CmdOp.TO_ERR_QP, { qpn })).status, CmdStatus.BAD_QP_STATE);
    assert.equal(
      (await h.exec(CmdOp.RST2INIT_QP, { qpn: 1, ctx: {} })).status,
      CmdStatus.BAD_INDEX,
    );
    // RST2INIT with a CQ that is not HW-owned, or a WQ outside its region.
    const bad = await h.exec(CmdOp.RST2INIT_QP, {
      qpn,
      ctx: { type: QpServiceType.RC, pd: 1, sendCqn: 999, recvCqn: 999 },
    });
    assert.equal(bad.status, CmdStatus.BAD_RESOURCE);
  });
});

Deno.test("hca commands: QUERY_PORT reports the fabric port; CLOSE_IB takes it down and raises PORT_CHANGE", async () => {
  await withPair({}, async (p) => {
    const info = must(await p.a.exec(CmdOp.QUERY_PORT, { port: 1 }));
    assert.equal(info.state, 4);
    assert.equal(info.lid, p.a.lid);
    assert.equal(info.activeMtu, 4);
    assert.equal(info.activeWidth, 4);
    assert.equal(info.activeSpeedGbps, 2.5);
    assert.equal((await p.a.exec(CmdOp.QUERY_PORT, { port: 2 })).status, CmdStatus.BAD_PARAM);
    must(await p.a.exec(CmdOp.CLOSE_IB, { port: 1 }));
    await p.engine.sleep(5_000);
    assert.equal(must(await p.a.exec(CmdOp.QUERY_PORT, { port: 1 })).state, 1);
    assert.ok(p.a.events.some((e) => e.type === 0x09 && e.subtype === 1 && e.index === 1));
  });
});

Deno.test("hca commands: every opcode succeeds in its place, and every firmware status is produced", async () => {
  await withPair({}, async (p) => {
    const h = p.a;
    const ok = new Set<number>();
    const statuses = new Set<number>();
    /** Run a command, require `status`, record both; returns the output on success. */
    const run = async (op: number, params: unknown, status: number = CmdStatus.OK) => {
      const r = await h.hca.cmd.exec(op as CmdOp, params as never);
      assert.equal(r.status, status, `${cmdName(op)} ${r.ok ? "" : r.message}`);
      if (r.ok) ok.add(op);
      statuses.add(r.status);
      return r.ok ? r.out as unknown as Record<string, unknown> : undefined;
    };
    const op = CmdOp;
    const st = CmdStatus;
    await run(op.QUERY_DEV_LIM, {});
    await run(op.INIT_HCA, {}, st.BAD_SYS_STATE);
    await run(0x999, {}, st.BAD_OP);
    await run(op.QUERY_PORT, { port: 1 });
    await run(op.INIT_IB, { port: 1 });
    await run(op.INIT_IB, { port: 2 }, st.BAD_PARAM);
    // A firmware fault (here a mailbox that cannot be read) is INTERNAL_ERR, not an exception.
    const unreadable = new Proxy({}, {
      get() {
        throw new Error("bus error");
      },
    });
    await run(op.QUERY_QP, unreadable, st.INTERNAL_ERR);

    // Memory translation.
    const addr = h.as.alloc(3 * 4096, 4096);
    const mfns = h.as.pageRange(addr, 3 * 4096).map((pg) => h.as.mfnOf(pg)!);
    const lim = PCIX_SDR_2006.hca;
    await run(op.WRITE_MTT, { base: 1000, mfns });
    await run(op.WRITE_MTT, { base: lim.maxMtt - 1, mfns }, st.BAD_SEG_PARAM);
    const mpt = {
      index: 100,
      key: mptKey(100, 7),
      pd: 1,
      start: addr,
      length: 3 * 4096,
      access: MptAccess.LOCAL_WRITE,
      mttBase: 1000,
      mttCount: 3,
      pageShift: 12,
    };
    await run(op.SW2HW_MPT, mpt);
    await run(op.SW2HW_MPT, mpt, st.BAD_RES_STATE);
    await run(op.SW2HW_MPT, { ...mpt, index: 0, key: 7 }, st.BAD_INDEX);
    assert.equal((await run(op.QUERY_MPT, { index: 100 }))!.key, mpt.key);

    // EQ 1 in the region's first page, CQ in the second, SRQ in the third.
    const eq = { eqn: 1, key: mpt.key, addr, logSize: 7, vector: 9, uarIndex: 2 };
    await run(op.SW2HW_EQ, { ...eq, logSize: 23 }, st.BAD_SIZE);
    await run(op.SW2HW_EQ, eq);
    await run(op.MAP_EQ, { eqn: 1, eventMask: 1 << EqeType.SRQ_LIMIT });
    await run(op.MAP_EQ, { eqn: 1, eventMask: 1 << EqeType.SRQ_LIMIT, unmap: true });
    assert.equal((await run(op.QUERY_EQ, { eqn: 1 }))!.vector, 9);
    const cq = { cqn: 50, key: mpt.key, addr: addr + 4096, logSize: 6, eqn: 1, uarIndex: 2 };
    await run(op.SW2HW_CQ, { ...cq, logSize: 20 }, st.EXCEED_LIM);
    await run(op.SW2HW_CQ, { ...cq, eqn: 7 }, st.BAD_RESOURCE);
    await run(op.SW2HW_CQ, cq);
    await run(op.RESIZE_CQ, { cqn: 50, key: mpt.key, addr: addr + 4096, logSize: 7 });
    assert.equal((await run(op.QUERY_CQ, { cqn: 50 }))!.logSize, 7);
    await run(op.HW2SW_EQ, { eqn: 1 }, st.RESOURCE_BUSY);
    const srq = {
      srqn: 5,
      pd: 1,
      key: mpt.key,
      addr: addr + 2 * 4096,
      logSize: 4,
      logStride: 5,
      uarIndex: 2,
    };
    await run(op.SW2HW_SRQ, srq);
    await run(op.ARM_SRQ, { srqn: 5, limit: 2 });
    assert.equal((await run(op.QUERY_SRQ, { srqn: 5 }))!.limit, 2);

    // The multicast group table: hash, write an entry, read it back; bad indices and entries.
    const gid = new Uint8Array(16).fill(0xff);
    const { hash } = (await run(op.MGID_HASH, { gid }))! as { hash: number };
    await run(op.WRITE_MGM, { index: hash, entry: { nextGidIndex: 0, gid, qp: [0x80000009] } });
    const mgm = (await run(op.READ_MGM, { index: hash }))!;
    assert.deepEqual([mgm.gid, (mgm.qp as number[])[0]], [gid, 0x80000009]);
    await run(op.READ_MGM, { index: 8192 }, st.BAD_INDEX);
    await run(op.MGID_HASH, { gid: gid.subarray(1) }, st.BAD_PARAM);
    await run(
      op.WRITE_MGM,
      { index: 1, entry: { nextGidIndex: 0, gid, qp: new Array(9).fill(0) } },
      st.BAD_PARAM,
    );

    // A UD QP through every transition; SQE comes from a send with a bad lkey.
    const ud = await h.createQp({ type: QpServiceType.UD, sendCq: await h.createCq(4) });
    const qpn = ud.qpn;
    await run(op.INIT2INIT_QP, { qpn, ctx: { qkey: 0x77 } });
    await run(op.INIT2RTR_QP, { qpn, ctx: {} });
    await run(op.RTR2RTS_QP, { qpn, ctx: { sqPsn: 1 } });
    await run(op.RTS2RTS_QP, { qpn, ctx: { qkey: 0x78 } });
    await run(op.RTS2SQD_QP, { qpn, ctx: {} });
    await run(op.SQD2SQD_QP, { qpn, ctx: { qkey: 0x79 } });
    await run(op.SQD2RTS_QP, { qpn, ctx: {} });
    await run(op.SQERR2RTS_QP, { qpn, ctx: {} }, st.BAD_QP_STATE);
    h.postSend(ud, {
      opcode: WqeOpcode.SEND,
      flags: WqeFlags.SIGNALED,
      ud: { dlid: p.b.lid, remoteQpn: 0x99, qkey: 0 },
      sgl: [{ addr, length: 8, lkey: 0xbad00 }],
    });
    const [cqe] = await h.waitCqes(ud.sendCq, 1);
    assert.equal(cqe.syndrome, CqeSyndrome.LOCAL_PROT_ERR);
    assert.equal((await run(op.QUERY_QP, { qpn }))!.state, HwQpState.SQE);
    await run(op.SQERR2RTS_QP, { qpn, ctx: {} });
    assert.equal((await run(op.QUERY_QP, { qpn }))!.qkey, 0x79);
    const ctx = await run(op.QUERY_QP, { qpn });
    await run(op.TO_ERR_QP, { qpn });
    await run(op.TO_RST_QP, { qpn });
    // The QPN is free again: the context QUERY_QP reported sets it up anew.
    await run(op.RST2INIT_QP, { qpn, ctx });
    assert.equal((await run(op.QUERY_QP, { qpn }))!.state, HwQpState.INIT);
    await run(op.TO_RST_QP, { qpn });

    // Tear down what this test made, then the ports and the HCA.
    await run(op.HW2SW_SRQ, { srqn: 5 });
    await run(op.HW2SW_CQ, { cqn: 50 });
    await run(op.HW2SW_EQ, { eqn: 1 });
    await run(op.HW2SW_MPT, { index: 100 });
    await run(op.CLOSE_IB, { port: 1 });
    await run(op.CLOSE_HCA, {});
    await run(op.QUERY_PORT, { port: 1 }, st.BAD_SYS_STATE);
    await run(op.INIT_HCA, {});

    const names = (set: Set<number>, table: Record<string, number>) =>
      Object.keys(table).filter((k) => set.has(table[k])).sort();
    assert.deepEqual(names(ok, CmdOp), Object.keys(CmdOp).sort(), "every opcode succeeded once");
    assert.deepEqual(names(statuses, CmdStatus), Object.keys(CmdStatus).sort());
  });
});

Deno.test("hca commands: QUERY_DEV_LIM's local_ca_ack_delay is the code of the ACK coalescing window", async () => {
  // IBTA vol 1 §9.7.6.1.3: 4.096 µs × 2^code; the smallest code that covers hca.ackDelayNs.
  const got: number[] = [];
  for (const ackDelayNs of [0, 4_096, 5_000, 1e9, 60e9]) {
    const engine = new Engine();
    const hca = new Hca({
      engine,
      memory: new MachineMemory(16 << 20),
      irq: new InterruptController(),
      profile: buildProfile({ hca: { ackDelayNs } }, PCIX_SDR_2006),
      rng: new Prng(1),
      name: "solo",
    });
    got.push(must(await engine.run(() => hca.cmd.exec(CmdOp.QUERY_DEV_LIM, {}))).localCaAckDelay);
  }
  assert.deepEqual(got, [0, 0, 1, 18, 24]);
});
