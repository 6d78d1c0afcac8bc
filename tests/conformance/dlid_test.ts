/**
 * Destination LIDs and GIDs as Linux and the IBTA have them, in every mode
 * (native, bypass, split: DESIGN §9, invariant 11):
 *
 * 1. `ibv_create_ah` and `ibv_modify_qp`'s address vectors take any DLID a
 *    `__u16` holds: neither the core (`ib_uverbs_create_ah`,
 *    `rdma_check_ah_attr`, `_ib_modify_qp`) nor mthca (`mthca_create_ah`,
 *    `mthca_path_set`) nor libmthca (`mthca_alloc_av`) looks at it, so the
 *    reserved LID 0, the permissive LID 0xFFFF and a multicast LID without
 *    a GRH are all accepted; only a value no `__u16` holds is EINVAL.
 * 2. What the fabric does with such a packet (IBTA vol 1): a switch has no
 *    forwarding entry for the reserved LID 0 and drops it as a DLID it cannot
 *    relay (PortRcvSwitchRelayErrors, §16.1.3.5); a permissive DLID is the
 *    switch's own management port's (directed routing, §14.2.2), which takes
 *    only SMPs (the permissive LID is QP0's only, §9.6.1.4.1 as Linux qib and
 *    hfi1 check it), so the switch takes it and drops it, counted as
 *    addressed to the switch; a multicast DLID goes by the multicast
 *    forwarding table, and a member CA drops a packet that carries no GRH,
 *    whose MGID names the group (§10.5; rxe `hdr_check`: "no grh for mcast
 *    qpn"). No completion at any receiver; a UD sender completes, an RC
 *    sender ends with RETRY_EXC_ERR.
 * 3. A unicast packet with a GRH whose DGID is none of the receiving port's
 *    GIDs is dropped by the receiving CA (Linux rxe_recv.c `rxe_match_dgid`)
 *    and counted in the device's `dgidDrops`, for UD and connected QPs alike;
 *    a multicast DGID is not looked up there.
 */
import assert from "node:assert/strict";
import { connectPair, QpState, QpType, SendFlags, WcStatus, WrOpcode } from "../../mod.ts";
import { CAP, CONNECT, datagram, MODES, pair, rejects, side, twoDomains } from "./helpers.ts";

/** A multicast GID (first byte 0xFF), last byte `n`. */
function mgid(n: number): Uint8Array {
  const g = new Uint8Array([0xff, 0x12, 0x40, 0x1b, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  g[15] = n;
  return g;
}

for (const mode of MODES) {
  Deno.test(`dlid (${mode}): create_ah and modify_qp take any DLID a __u16 holds`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const unicastGid = await y.ctx.queryGid(1, 0);
      for (const dlid of [0, 0xffff, 0xc001, 0xfffe]) {
        const ah = await x.pd.createAh({ dlid });
        await ah.destroy();
      }
      // A multicast DLID with a unicast DGID, and a unicast DLID with a multicast DGID.
      await (await x.pd.createAh({ dlid: 0xc001, grh: { dgid: unicastGid } })).destroy();
      await (await x.pd.createAh({ dlid: y.lid, grh: { dgid: mgid(1) } })).destroy();
      for (const dlid of [-1, 0x10000, 1.5]) {
        await rejects(() => x.pd.createAh({ dlid }), "EINVAL");
      }
      for (const dlid of [0, 0xffff, 0xc001]) {
        const qp = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
        await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
        await qp.modify({
          state: QpState.RTR,
          pathMtu: 2048,
          destQpNum: 1,
          rqPsn: 0,
          ah: { dlid },
          altPath: { dlid },
          maxDestRdAtomic: 1,
          minRnrTimer: 12,
        });
        const q = await qp.query();
        assert.deepEqual([q.state, q.ah?.dlid], [QpState.RTR, dlid], `dlid 0x${dlid.toString(16)}`);
      }
      const qp = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
      await rejects(
        () =>
          qp.modify({
            state: QpState.RTR,
            pathMtu: 2048,
            destQpNum: 1,
            rqPsn: 0,
            ah: { dlid: 0x10000 },
            maxDestRdAtomic: 1,
            minRnrTimer: 12,
          }),
        "EINVAL",
      );
      assert.equal((await qp.query()).state, QpState.INIT);
    });
  });

  Deno.test(`dlid (${mode}): datagrams to LID 0, the permissive LID or an MLID without a GRH are dropped`, async () => {
    const { cluster, a, b, hosts } = await twoDomains(mode);
    const sw = cluster.switch!;
    const hcaB = hosts[1].hca;
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [ux, uy] = await pair(x, y, QpType.UD);
      // y's QP is a member of a group: the switch has an MFT entry for its MLID.
      const mlid = 0xc000;
      await uy.attachMcast(mgid(7), mlid);
      assert.deepEqual(sw.multicastPorts(mlid).length > 0, true);
      for (let i = 0; i < 8; i++) {
        uy.postRecv({ wrId: BigInt(i), sgList: [{ addr: y.buf, length: 256, lkey: y.mr.lkey }] });
      }
      const inPort = () => sw.ports.find((p) => p.link?.peer(p).lid === x.lid)!;
      const relayErrors = () => inPort().counters.rcvSwitchRelayErrors;
      const before = {
        relay: relayErrors(),
        unknown: sw.counters.unknownDlidDrops,
        toSwitch: sw.counters.toSwitchLid,
        dropped: hcaB.stats().counters.packetsDropped,
      };
      // LID 0: reserved, in no forwarding table.
      assert.equal(await datagram(ux, x, await x.pd.createAh({ dlid: 0 }), uy.qpNum), 0);
      await cluster.sleep(100_000);
      assert.equal(relayErrors(), before.relay + 1);
      assert.equal(sw.counters.unknownDlidDrops, before.unknown + 1);
      // The permissive LID: the switch's management port's, which takes no data packet.
      const perm = await x.pd.createAh({ dlid: 0xffff });
      assert.equal(await datagram(ux, x, perm, uy.qpNum), WcStatus.SUCCESS);
      await cluster.sleep(100_000);
      assert.equal(sw.counters.toSwitchLid, before.toSwitch + 1);
      assert.equal(relayErrors(), before.relay + 1, "not a relay error");
      // The group's MLID without a GRH (to the multicast QPN or to y's QP): relayed to the
      // member, which drops it.
      const noGrh = await x.pd.createAh({ dlid: mlid });
      assert.equal(await datagram(ux, x, noGrh, 0xffffff), WcStatus.SUCCESS);
      assert.equal(await datagram(ux, x, noGrh, uy.qpNum), WcStatus.SUCCESS);
      await cluster.sleep(100_000);
      assert.equal(hcaB.stats().counters.packetsDropped, before.dropped + 2);
      // An MLID no group has: no MFT entry, a relay error.
      assert.equal(await datagram(ux, x, await x.pd.createAh({ dlid: 0xc123 }), 0xffffff), 0);
      await cluster.sleep(100_000);
      assert.equal(relayErrors(), before.relay + 2);
      assert.equal(y.cq.poll(8).length, 0, "no receiver got anything");
      // y's QP still receives: with the group's GRH, and to its own LID.
      const grh = await x.pd.createAh({ dlid: mlid, grh: { dgid: mgid(7) } });
      assert.equal(await datagram(ux, x, grh, 0xffffff), WcStatus.SUCCESS);
      assert.equal(await datagram(ux, x, await x.pd.createAh({ dlid: y.lid }), uy.qpNum), 0);
      const got = await y.cq.pollUntil(2);
      assert.deepEqual(got.map((w) => w.status), [WcStatus.SUCCESS, WcStatus.SUCCESS]);
    });
  });

  Deno.test(`dlid (${mode}): an RC QP whose path is LID 0 or the permissive LID retries and fails`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      for (const dlid of [0, 0xffff, 0xc000]) {
        const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
        const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap: CAP });
        // qx's path is `dlid` (connectPair gives each end the other's LID).
        await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: dlid }, {
          ...CONNECT,
          timeout: 8,
          retryCnt: 1,
        });
        qy.postRecv({ wrId: 9n, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
        qx.postSend({
          wrId: 1n,
          opcode: WrOpcode.SEND,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: x.buf, length: 16, lkey: x.mr.lkey }],
        });
        const [wc] = await x.cq.pollUntil(1);
        assert.equal(wc.status, WcStatus.RETRY_EXC_ERR, `dlid 0x${dlid.toString(16)}`);
        assert.equal(y.cq.poll(1).length, 0);
      }
    });
  });
}
