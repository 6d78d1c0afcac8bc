/**
 * Doorbells naming other contexts' queues (DESIGN §9 invariant 1): on its
 * own UAR page a guest can write any doorbell, naming any QPN, CQN, SRQN
 * or EQN it can guess. The device acts only on queues whose context holds
 * that UAR: the victim's send and receive queues, its CQ's arm, and dom0's
 * EQs stay untouched; garbage writes anywhere on the page are dropped. A
 * split guest's doorbells go through dom0, which refuses queues that are
 * not its own.
 */
import assert from "node:assert/strict";
import { VibOp } from "../../drivers/vib/mod.ts";
import {
  cmdWord,
  CqDbCmd,
  doorbellBytes,
  EqDbCmd,
  sendDoorbellWord,
  UarOffset,
} from "../../hca/uar.ts";
import { encodeSendWqe, WqeOpcode } from "../../hca/wqe.ts";
import { end } from "../xenib_support.ts";
import { backOf, checksum, ctxId, E, raw, scene, verdict } from "./support.ts";

Deno.test("doorbells: send, receive, CQ-arm and EQ doorbells naming others' queues do nothing", async () => {
  const s = await scene();
  const { evil, victim, xen } = s;
  await s.cluster.run(async () => {
    const e = await end(evil);
    const v = victim.end;
    // A WQE the victim wrote but never rang for: a doorbell naming its QP would send it.
    const wqe = new Uint8Array(64);
    encodeSendWqe({
      opcode: WqeOpcode.RDMA_WRITE,
      flags: 1,
      remoteAddr: victim.peer.buf,
      rkey: victim.peer.mr.rkey,
      sgl: [{ addr: v.buf, length: 8, lkey: v.mr.lkey }],
    }, wqe);
    victim.vm.memory.write(v.qp.pqp.sq.base, wqe);
    victim.sum = checksum(victim.vm);
    const uar = e.ctx.file.uarAddr;
    const vcqn = (v.cq as unknown as { pcq: { cqn: number } }).pcq.cqn;
    const stats = () => xen.hca.stats();
    const before = stats();
    const peerBytes = s.bare.os.memory.read(victim.peer.buf, 8);
    const writes: [number, Uint8Array][] = [
      [UarOffset.SEND, doorbellBytes(sendDoorbellWord(v.qp.qpNum, 3), 1)],
      [UarOffset.RECV, doorbellBytes(v.qp.qpNum, 5)],
      [UarOffset.CQ, doorbellBytes(cmdWord(CqDbCmd.REQ_NOTIFY_NEXT, vcqn), 0)],
      [UarOffset.CQ, doorbellBytes(cmdWord(CqDbCmd.SET_CI, vcqn), 40)],
      [UarOffset.SRQ, doorbellBytes(1, 9)],
      [UarOffset.EQ, doorbellBytes(cmdWord(EqDbCmd.SET_CI_ARM, 0), 3)], // dom0's EQ 0
      [UarOffset.EQ, doorbellBytes(cmdWord(EqDbCmd.SET_CI, 1), 3)],
    ];
    for (const [off, bytes] of writes) evil.memory.write(uar + off, bytes);
    // Garbage anywhere else on the page: partial and unaligned writes.
    evil.memory.write(uar + 0x13, new Uint8Array([1, 2, 3]));
    evil.memory.write(uar + 0x800, new Uint8Array(16).fill(0xff));
    await s.cluster.sleep(100_000);
    const after = stats();
    assert.equal(
      after.doorbellsRejected - before.doorbellsRejected,
      writes.length + 2,
      "every doorbell naming another context's queue, and both garbage writes, dropped and counted",
    );
    assert.deepEqual(s.bare.os.memory.read(victim.peer.buf, 8), peerBytes, "no byte moved");
    assert.deepEqual(v.cq.poll(4), [], "no completion for the victim");
    assert.equal(victim.vm.front.stats.events, 0, "no event: its CQ was never armed");
    await verdict(s);
  });
});

Deno.test("doorbells: a split guest's DOORBELL requests naming the victim's queues are refused by dom0", async () => {
  const s = await scene({ attacker: "split" });
  const { evil, victim, xen } = s;
  await s.cluster.run(async () => {
    const me = ctxId((await end(evil)).ctx);
    const v = victim.end;
    const vcqn = (v.cq as unknown as { pcq: { cqn: number } }).pcq.cqn;
    const before = xen.hca.stats();
    for (
      const [offset, word0] of [
        [UarOffset.SEND, sendDoorbellWord(v.qp.qpNum, 3)],
        [UarOffset.RECV, v.qp.qpNum],
        [UarOffset.CQ, cmdWord(CqDbCmd.REQ_NOTIFY_NEXT, vcqn)],
        [UarOffset.EQ, cmdWord(EqDbCmd.SET_CI_ARM, 0)],
      ]
    ) {
      const st = await raw(evil, {
        op: VibOp.DOORBELL,
        ctx: me,
        body: { offset, word0, word1: 1 },
      });
      assert.equal(st, E.EINVAL, `offset 0x${offset.toString(16)}`);
    }
    await s.cluster.sleep(50_000);
    assert.equal(
      xen.hca.stats().counters.doorbells,
      before.counters.doorbells,
      "none reached the HCA",
    );
    assert.ok(backOf(s, evil).connected);
    await verdict(s);
  });
});
