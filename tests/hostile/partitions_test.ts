/**
 * Partitions between tenants (IBTA vol 1 §10.9): a guest cannot reach another tenant's QPs by
 * picking the other tenant's P_Key index (dom0 refuses it, EINVAL, in bypass and split), and
 * what it sends from its own partition to them is dropped at the receiving HCA and counted
 * (PortInfo:P_KeyViolations): its RC QP retries and ends with RETRY_EXC_ERR, its UD datagrams
 * vanish. The host's ports hold both tenants' partitions; the victim is in 0x8001 (and the
 * default partition, for the verdict's peer), the attacker in 0x8002 only.
 */
import assert from "node:assert/strict";
import { connectQp, QpState, QpType, SendFlags, WcStatus, WrOpcode } from "../../mod.ts";
import { connectInPartitions, end, errnoOf, rdmaWrite } from "../xenib_support.ts";
import { checksum, type Scene, scene, verdict } from "./support.ts";

const VICTIM_PKEY = 0x8001, EVIL_PKEY = 0x8002;
/** The hosts' tables: 0xffff at index 0, then these. */
const PKEYS = {
  hosts: [VICTIM_PKEY, EVIL_PKEY],
  victim: [0xffff, VICTIM_PKEY],
  attacker: [EVIL_PKEY],
};
const [VICTIM_INDEX, EVIL_INDEX] = [1, 2];
/** Retries of the attacker's RC QP: RETRY_EXC_ERR after the first try and these. */
const RETRIES = 2;

for (const mode of ["bypass", "split"] as const) {
  Deno.test(`partitions (${mode} attacker): dom0 refuses another tenant's P_Key index`, async () => {
    const s: Scene = await scene({ attacker: mode, pkeys: PKEYS });
    await s.cluster.run(async () => {
      const e = await end(s.evil);
      // The guest sees the port's real table (ibv_query_pkey)…
      const table = [];
      for (let i = 0; i < 4; i++) table.push(await e.ctx.queryPkey(1, i));
      assert.deepEqual(table, [0xffff, VICTIM_PKEY, EVIL_PKEY, 0]);
      // …but dom0 lets its QPs use only its own partition: the victim's, the default one it was
      // not given, an empty entry and one past the table are all EINVAL, the QP left in RESET.
      const init = { state: QpState.INIT, port: 1, accessFlags: 0 };
      for (const pkeyIndex of [VICTIM_INDEX, 0, 3, 64]) {
        assert.match(await errnoOf(e.qp.modify({ ...init, pkeyIndex })), /^EINVAL/, `${pkeyIndex}`);
        assert.equal((await e.qp.query()).state, QpState.RESET);
      }
      // A UD QP is held to the same rule.
      const ud = await e.pd.createQp({
        type: QpType.UD,
        sendCq: e.cq,
        recvCq: e.cq,
        cap: { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 },
      });
      const udInit = { state: QpState.INIT, port: 1, qkey: 0x11111111 };
      assert.match(await errnoOf(ud.modify({ ...udInit, pkeyIndex: VICTIM_INDEX })), /^EINVAL/);
      // Its own partition is fine.
      await e.qp.modify({ ...init, pkeyIndex: EVIL_INDEX });
      await ud.modify({ ...udInit, pkeyIndex: EVIL_INDEX });
      assert.equal((await e.qp.query()).pkeyIndex, EVIL_INDEX);
      await verdict(s);
    });
  });

  Deno.test(`partitions (${mode} attacker): its packets to another partition are dropped and counted`, async () => {
    const s: Scene = await scene({ attacker: mode, pkeys: PKEYS });
    await s.cluster.run(async () => {
      // The victim sets up RC and UD QPs in its partition, then stays idle (its checksum).
      const v = await end(s.victim.vm), e = await end(s.evil);
      const cap = { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 };
      const vud = await v.pd.createQp({ type: QpType.UD, sendCq: v.cq, recvCq: v.cq, cap });
      const eud = await e.pd.createQp({ type: QpType.UD, sendCq: e.cq, recvCq: e.cq, cap });
      await connectQp(vud, { pkeyIndex: VICTIM_INDEX });
      await connectQp(eud, { pkeyIndex: EVIL_INDEX });
      vud.postRecv({ wrId: 9n, sgList: [{ addr: v.buf + 4096, length: 4096, lkey: v.mr.lkey }] });
      await connectInPartitions(e, EVIL_INDEX, v, VICTIM_INDEX, RETRIES);
      s.victim.sum = checksum(s.victim.vm);
      const hca = s.xen.hca;
      assert.deepEqual(s.xen.hw.hca.pkeys!(1), [0xffff, VICTIM_PKEY, EVIL_PKEY]);
      // RC: the attacker's WRITE (and its retries) never reaches the victim's QP.
      const before = hca.stats().counters.pkeyViolations;
      const status = await rdmaWrite(e, v, { length: 64 });
      assert.equal(status, WcStatus.RETRY_EXC_ERR, "the sender retried and gave up");
      assert.equal(
        hca.stats().counters.pkeyViolations - before,
        1 + RETRIES,
        "the first try and every retry dropped",
      );
      const port = s.cluster.fabric.portByLid(v.lid)!;
      assert.equal(
        port.counters.pkeyViolations,
        hca.stats().counters.pkeyViolations,
        "PortInfo:P_KeyViolations",
      );
      // UD: a datagram from the attacker's partition to the victim's UD QP is dropped too.
      const ah = await e.pd.createAh({ dlid: v.lid, portNum: 1 });
      const udBefore = hca.stats().counters.pkeyViolations;
      eud.postSend({
        wrId: 2n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: e.buf, length: 32, lkey: e.mr.lkey }],
        ah,
        remoteQpn: vud.qpNum,
        remoteQkey: 0x11111111,
      });
      const [sent] = await e.cq.pollUntil(1);
      assert.equal(sent.status, WcStatus.SUCCESS, "UD is unreliable: the send completes");
      await s.cluster.sleep(100_000);
      assert.equal(hca.stats().counters.pkeyViolations, udBefore + 1);
      assert.deepEqual(v.cq.poll(4), [], "the victim's QPs saw nothing");
      // The victim's memory: the verdict's checksum.
      await verdict(s);
    });
  });
}
