/**
 * The victim's keys in the attacker's hands (DESIGN §9 invariant 3): the
 * attacker's QP shares the victim's HCA, so the victim's lkey and rkey name
 * valid MPT entries there — but of another protection domain. Local use of
 * the victim's lkey fails with LOC_PROT_ERR, remote use of its rkey through
 * the attacker's connection with REM_ACCESS_ERR; no byte of the victim is
 * read or written. In both modes of the attacker.
 */
import assert from "node:assert/strict";
import { SendFlags, WcStatus, WrOpcode } from "../../mod.ts";
import { connect, end } from "../xenib_support.ts";
import { scene, verdict, VICTIM_BYTE } from "./support.ts";

for (const mode of ["bypass", "split"] as const) {
  Deno.test(`keys (${mode} attacker): the victim's lkey and rkey fail closed on the attacker's QPs`, async () => {
    const s = await scene({ attacker: mode });
    const { evil, victim } = s;
    await s.cluster.run(async () => {
      const a = await end(evil), peer = await end(s.bare.os);
      await connect(a, peer);
      const v = victim.end;
      const post = async (
        from: typeof a,
        opcode: number,
        local: { addr: number; lkey: number },
        remote: { addr: number; rkey: number },
      ) => {
        from.qp.postSend({
          wrId: 1n,
          opcode: opcode as typeof WrOpcode.RDMA_WRITE,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: local.addr, length: 64, lkey: local.lkey }],
          remoteAddr: remote.addr,
          rkey: remote.rkey,
        });
        return (await from.cq.pollUntil(1))[0].status;
      };
      s.bare.os.memory.write(peer.buf, new Uint8Array(64));
      // 1. The device reads through the victim's lkey (at the victim's address): a PD mismatch.
      assert.equal(
        await post(a, WrOpcode.RDMA_WRITE, { addr: v.buf, lkey: v.mr.lkey }, {
          addr: peer.buf,
          rkey: peer.mr.rkey,
        }),
        WcStatus.LOC_PROT_ERR,
      );
      assert.ok(!s.bare.os.memory.read(peer.buf, 64).includes(VICTIM_BYTE), "nothing read");
      // 2. The attacker's peer writes and reads with the victim's rkey, through a QP of the
      // attacker's (a fresh pair each time: the remote access error breaks the connection).
      for (const op of [WrOpcode.RDMA_WRITE, WrOpcode.RDMA_READ]) {
        const q3 = { ...peer, qp: await fresh(peer) }, a3 = { ...a, qp: await fresh(a) };
        await connect(a3, q3);
        assert.equal(
          await post(q3, op, { addr: peer.buf, lkey: peer.mr.lkey }, {
            addr: v.buf,
            rkey: v.mr.rkey,
          }),
          WcStatus.REM_ACCESS_ERR,
        );
      }
      await peer.ctx.close();
      await verdict(s);
    });
  });
}

/** Another RC QP on an end's PD and CQ (the previous one went to ERR). */
async function fresh(e: Awaited<ReturnType<typeof end>>) {
  return await e.pd.createQp({
    type: 2,
    sendCq: e.cq,
    recvCq: e.cq,
    cap: { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 },
  });
}
