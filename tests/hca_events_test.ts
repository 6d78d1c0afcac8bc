import assert from "node:assert/strict";
import {
  connectedQps,
  type Host,
  type HQp,
  type Mr,
  must,
  pattern,
  withPair,
} from "./support/hca_harness.ts";
import { WqeFlags, WqeOpcode } from "../hca/wqe.ts";
import { CqeFlags } from "../hca/cqe.ts";
import { CqErrorCause, EQE_BYTES, eqeReady } from "../hca/eqe.ts";
import { CmdOp, EqeType, HwQpState, MptAccess } from "../hca/commands.ts";
import { PAGE_SIZE } from "../sim/memory.ts";
import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";

/** A signaled 4-byte inline RDMA WRITE from `qp` of `host` into `dst`. */
function signaledWrite(host: Host, qp: HQp, dst: Mr): void {
  host.postSend(qp, {
    opcode: WqeOpcode.RDMA_WRITE,
    flags: WqeFlags.SIGNALED,
    remoteAddr: dst.addr,
    rkey: dst.key,
    inline: pattern(4),
  });
}

Deno.test("hca events: an armed CQ writes one completion EQE and raises the EQ's vector once", async () => {
  await withPair({}, async (p) => {
    const { qa, cqa } = await connectedQps(p);
    const dst = await p.b.buffer(64);
    const irqs = p.a.interrupts.length;
    p.a.arm(cqa);
    for (let i = 0; i < 3; i++) {
      signaledWrite(p.a, qa, dst);
    }
    await p.engine.sleep(50_000);
    assert.equal(p.a.interrupts.length, irqs + 1, "armed once → one event");
    assert.equal(p.a.interrupts.at(-1), 5);
    const comp = p.a.events.filter((e) => e.type === EqeType.COMPLETION);
    assert.equal(comp.length, 1);
    assert.equal(comp[0].index, cqa.cqn);
    assert.equal((await p.a.waitCqes(cqa, 3)).length, 3);
  });
});

Deno.test("hca events: a CQ that overruns goes to error and raises CQ_ERROR, its QP WQ_CATAS_ERROR; no CQE is overwritten", async () => {
  await withPair({}, async (p) => {
    const cq = await p.a.createCq(2); // 4 entries
    const cqb = await p.b.createCq();
    const qa = await p.a.createQp({ sendCq: cq });
    const qb = await p.b.createQp({ sendCq: cqb });
    await p.a.toRts(qa, qb.qpn, p.b.lid);
    await p.b.toRts(qb, qa.qpn, p.a.lid);
    const dst = await p.b.buffer(64);
    for (let i = 0; i < 6; i++) {
      signaledWrite(p.a, qa, dst);
    }
    await p.engine.sleep(50_000);
    const ev = p.a.events.find((e) => e.type === EqeType.CQ_ERROR);
    assert.ok(ev, "CQ_ERROR raised");
    assert.equal(ev.index, cq.cqn);
    assert.equal(ev.cause, CqErrorCause.OVERRUN);
    assert.equal(must(await p.a.exec(CmdOp.QUERY_CQ, { cqn: cq.cqn })).error, true);
    const got = await p.a.waitCqes(cq, 6, 10_000);
    assert.deepEqual(got.map((c) => c.wqeCounter), [0, 1, 2, 3]);
    // IBTA vol 1 C9-218: the QP whose CQE was lost goes to Error with an affiliated error.
    const catas = p.a.events.filter((e) => e.type === EqeType.WQ_CATAS_ERROR);
    assert.deepEqual(catas.map((e) => e.index), [qa.qpn], "once, for the QP");
    assert.ok(p.a.events.indexOf(ev) < p.a.events.indexOf(catas[0]), "after CQ_ERROR");
    assert.equal(must(await p.a.exec(CmdOp.QUERY_QP, { qpn: qa.qpn })).state, HwQpState.ERR);
  });
});

Deno.test("hca events: two QPs share an SRQ; the limit event fires once when it runs low", async () => {
  await withPair({}, async (p) => {
    const srq = await p.b.createSrq(4, 5); // 16 entries of 32 bytes
    const cqb = await p.b.createCq();
    const cqa = await p.a.createCq();
    const b1 = await p.b.createQp({ sendCq: cqb, srq });
    const b2 = await p.b.createQp({ sendCq: cqb, srq });
    const a1 = await p.a.createQp({ sendCq: cqa });
    const a2 = await p.a.createQp({ sendCq: cqa });
    await p.a.toRts(a1, b1.qpn, p.b.lid);
    await p.a.toRts(a2, b2.qpn, p.b.lid);
    await p.b.toRts(b1, a1.qpn, p.a.lid);
    await p.b.toRts(b2, a2.qpn, p.a.lid);
    const dst = await p.b.buffer(8 * 64);
    for (let i = 0; i < 8; i++) {
      p.b.postSrq(srq, [{ addr: dst.addr + i * 64, length: 64, lkey: dst.key }]);
    }
    must(await p.b.exec(CmdOp.ARM_SRQ, { srqn: srq.srqn, limit: 5 }));
    for (let i = 0; i < 4; i++) {
      p.a.postSend(i % 2 ? a2 : a1, { opcode: WqeOpcode.SEND, flags: 0, inline: pattern(16, i) });
      await p.engine.sleep(10_000);
    }
    const cs = await p.b.waitCqes(cqb, 4);
    assert.deepEqual(cs.map((c) => c.qpn), [b1.qpn, b2.qpn, b1.qpn, b2.qpn]);
    assert.deepEqual(cs.map((c) => c.wqeCounter), [0, 1, 2, 3]);
    assert.ok(cs.every((c) => (c.flags & CqeFlags.SRQ) && c.syndrome === 0));
    for (let i = 0; i < 4; i++) assert.deepEqual(p.b.read(dst.addr + i * 64, 16), pattern(16, i));
    const lim = p.b.events.filter((e) => e.type === EqeType.SRQ_LIMIT);
    assert.equal(lim.length, 1);
    assert.equal(lim[0].index, srq.srqn);
    assert.equal(must(await p.b.exec(CmdOp.QUERY_SRQ, { srqn: srq.srqn })).limit, 0, "disarmed");
    // A receive doorbell for a QP on an SRQ is meaningless: rejected.
    const rej = p.b.hca.stats().doorbellsRejected;
    p.b.ring(1, 0x20, b1.qpn, 1);
    await p.engine.sleep(1000);
    assert.equal(p.b.hca.stats().doorbellsRejected, rej + 1);
  });
});

Deno.test("hca events: COMM_EST on the first packet in RTR, SQ_DRAINED after RTS→SQD", async () => {
  await withPair({}, async (p) => {
    const cqa = await p.a.createCq(), cqb = await p.b.createCq();
    const qa = await p.a.createQp({ sendCq: cqa });
    const qb = await p.b.createQp({ sendCq: cqb });
    await p.a.toRts(qa, qb.qpn, p.b.lid);
    must(
      await p.b.exec(CmdOp.INIT2RTR_QP, {
        qpn: qb.qpn,
        ctx: { destQpn: qa.qpn, rqPsn: 0, mtu: 4, path: { dlid: p.a.lid, sl: 0, srcPathBits: 0 } },
      }),
    );
    const dst = await p.b.buffer(64);
    p.b.postRecv(qb, [{ addr: dst.addr, length: 64, lkey: dst.key }]);
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, inline: pattern(8) });
    const [c] = await p.a.waitCqes(cqa, 1);
    assert.equal(c.syndrome, 0, "an RTR responder receives and acknowledges");
    assert.ok(p.b.events.some((e) => e.type === EqeType.COMM_EST && e.index === qb.qpn));
    must(await p.a.exec(CmdOp.RTS2SQD_QP, { qpn: qa.qpn, ctx: { sqdEvent: true } }));
    await p.engine.sleep(1000);
    assert.ok(p.a.events.some((e) => e.type === EqeType.SQ_DRAINED && e.index === qa.qpn));
    // In SQD new WQEs wait; SQD2RTS lets them go.
    p.b.postRecv(qb, [{ addr: dst.addr, length: 64, lkey: dst.key }]);
    p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, inline: pattern(8) });
    await p.engine.sleep(50_000);
    assert.equal(p.a.poll(cqa), undefined);
    must(await p.a.exec(CmdOp.SQD2RTS_QP, { qpn: qa.qpn }));
    const [c2] = await p.a.waitCqes(cqa, 1);
    assert.equal(c2.syndrome, 0);
  });
});

Deno.test("hca events: an EQE on its way when HW2SW_EQ runs lands before the command completes", async () => {
  // The firmware completes HW2SW_EQ once the HCA no longer uses the EQ, and the driver frees the
  // buffer only after the command returns (Linux mthca_eq.c mthca_free_eq: HW2SW_EQ, then the
  // buffer's mthca_free_mr and its pages): an EQE the device was already writing lands first.
  // Before, HW2SW_EQ completed at once and such an EQE landed after it. Here a COMM_EST (the
  // first packet at an RTR QP) mapped to EQ 1 is raised around the command's execution.
  const C = PCIX_SDR_2006.hca.commandNs;
  const logSize = 4;
  const outcomes = new Set<string>();
  for (let delay = 10_000; delay <= 22_000; delay += 50) {
    await withPair({}, async (p) => {
      const cqa = await p.a.createCq(), cqb = await p.b.createCq();
      const qa = await p.a.createQp({ sendCq: cqa });
      const qb = await p.b.createQp({ sendCq: cqb });
      await p.a.toRts(qa, qb.qpn, p.b.lid);
      must(
        await p.b.exec(CmdOp.INIT2RTR_QP, {
          qpn: qb.qpn,
          ctx: {
            destQpn: qa.qpn,
            rqPsn: 0,
            mtu: 4,
            path: { dlid: p.a.lid, sl: 0, srcPathBits: 0 },
          },
        }),
      );
      const addr = p.b.as.alloc(EQE_BYTES << logSize, PAGE_SIZE);
      const mr = await p.b.regMr(addr, EQE_BYTES << logSize, MptAccess.LOCAL_WRITE, 0);
      must(
        await p.b.exec(CmdOp.SW2HW_EQ, {
          eqn: 1,
          key: mr.key,
          addr,
          logSize,
          vector: 6,
          uarIndex: 0,
        }),
      );
      must(await p.b.exec(CmdOp.MAP_EQ, { eqn: 1, eventMask: 1 << EqeType.COMM_EST }));
      const dst = await p.b.buffer(64);
      p.b.postRecv(qb, [{ addr: dst.addr, length: 64, lkey: dst.key }]);
      const ready = () => eqeReady(p.b.as.read(addr, EQE_BYTES), 0, 0, logSize);
      const t0 = p.engine.now;
      let took = 0, readyAtReturn = false;
      const stop = p.b.exec(CmdOp.HW2SW_EQ, { eqn: 1 }).then((r) => {
        took = p.engine.now - t0;
        readyAtReturn = ready();
        return r;
      });
      await p.engine.sleep(delay);
      p.a.postSend(qa, { opcode: WqeOpcode.SEND, flags: WqeFlags.SIGNALED, inline: pattern(8) });
      await p.a.waitCqes(cqa, 1);
      must(await stop);
      await p.engine.sleep(20_000);
      const at = `posted ${delay} ns after HW2SW_EQ was issued`;
      assert.equal(ready(), readyAtReturn, `${at}: no EQE lands after HW2SW_EQ completed`);
      if (!readyAtReturn) assert.equal(took, C, `${at}: the command waited for nothing`);
      outcomes.add(readyAtReturn ? (took > C ? "landed, waited" : "landed") : "none");
    });
  }
  assert.deepEqual([...outcomes].sort(), ["landed", "landed, waited", "none"]);
});

Deno.test("hca events: an arm behind a CQE that raised no event raises one at once, behind one that did none (ib_req_notify_cq)", async () => {
  await withPair({}, async (p) => {
    const { qa, cqa } = await connectedQps(p);
    const dst = await p.b.buffer(64);
    // Two CQEs land while the CQ is not armed (so they raise no event); the driver has polled neither.
    for (let i = 0; i < 2; i++) {
      signaledWrite(p.a, qa, dst);
    }
    await p.engine.sleep(50_000);
    const completions = () => p.a.events.filter((e) => e.type === EqeType.COMPLETION).length;
    assert.equal(completions(), 0, "not armed: no event");
    // A solicited-only arm: neither CQE is solicited or an error, so nothing is due.
    p.a.arm(cqa, true);
    await p.engine.sleep(5_000);
    assert.equal(completions(), 0, "solicited-only arm over unsolicited CQEs");
    // An arm for the next completion with both unpolled: the event comes now, not at a third CQE.
    p.a.arm(cqa);
    await p.engine.sleep(5_000);
    assert.equal(completions(), 1, "arm behind landed CQEs → event at once");
    assert.equal(
      must(await p.a.exec(CmdOp.QUERY_CQ, { cqn: cqa.cqn })).armed,
      0,
      "the arm is spent",
    );
    // Polled up to date, the next arm waits for the next CQE.
    assert.equal((await p.a.waitCqes(cqa, 2)).length, 2);
    p.a.arm(cqa);
    await p.engine.sleep(5_000);
    assert.equal(completions(), 1, "nothing behind the consumer index → no event yet");
    // The next CQE raises it; arming again before polling that CQE (perftest's
    // ctx_notify_events) raises no second event: the CQE already triggered one.
    signaledWrite(p.a, qa, dst);
    await p.engine.sleep(50_000);
    assert.equal(completions(), 2);
    p.a.arm(cqa);
    await p.engine.sleep(5_000);
    assert.equal(completions(), 2, "a CQE that raised an event raises no second one");
  });
});
