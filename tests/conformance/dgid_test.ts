/**
 * A received unicast packet that carries a GRH is the receiving port's only
 * if its DGID is one of the port's GIDs: else the CA drops it before any QP
 * sees it (Linux rxe_recv.c `rxe_chk_dgid`, formerly `rxe_match_dgid`: "accept
 * if multicast packet, accept if matches an SGID table entry"), for UD and
 * connected QPs alike, in every mode (native, bypass, split: DESIGN §9,
 * invariant 11). The drop is silent and counted in the device's `dgidDrops`
 * (and `packetsDropped`); a UD receive WQE stays for the next datagram, an RC
 * requester whose packets or ACKs are dropped retries and ends with
 * RETRY_EXC_ERR. A multicast DGID is not looked up among the port's GIDs.
 */
import assert from "node:assert/strict";
import { connectPair, type Qp, QpType, SendFlags, WcFlags, WcStatus, WrOpcode } from "../../mod.ts";
import { CAP, CONNECT, datagram, MODES, pair, type Side, side, twoDomains } from "./helpers.ts";

/** `gid` with its last byte changed: the GID of no port. */
function other(gid: Uint8Array): Uint8Array {
  const g = gid.slice();
  g[15] ^= 0x5a;
  return g;
}

for (const mode of MODES) {
  Deno.test(`dgid (${mode}): a datagram whose DGID is not the receiving port's is dropped and counted`, async () => {
    const { cluster, a, b, hosts } = await twoDomains(mode);
    const stats = () => hosts[1].hca.stats().counters;
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [ux, uy] = await pair(x, y, QpType.UD);
      const gidY = await y.ctx.queryGid(1, 0);
      uy.postRecv({ wrId: 7n, sgList: [{ addr: y.buf, length: 256, lkey: y.mr.lkey }] });
      const before = stats();
      const wrong = await x.pd.createAh({ dlid: y.lid, grh: { dgid: other(gidY) } });
      assert.equal(await datagram(ux, x, wrong, uy.qpNum), WcStatus.SUCCESS);
      await cluster.sleep(200_000);
      assert.equal(y.cq.poll(1).length, 0, "nothing received");
      assert.equal(stats().dgidDrops, before.dgidDrops + 1);
      assert.equal(stats().packetsDropped, before.packetsDropped + 1);
      assert.equal(stats().qkeyViolations, before.qkeyViolations);
      // The receive WQE is still there: the port's own GID gets through.
      const right = await x.pd.createAh({ dlid: y.lid, grh: { dgid: gidY } });
      assert.equal(await datagram(ux, x, right, uy.qpNum), WcStatus.SUCCESS);
      const [wc] = await y.cq.pollUntil(1);
      assert.deepEqual(
        [wc.wrId, wc.status, wc.wcFlags & WcFlags.GRH],
        [7n, WcStatus.SUCCESS, WcFlags.GRH],
      );
      // A multicast DGID is not one to look up among the port's GIDs: the unicast DLID and
      // QPN deliver it, as before.
      uy.postRecv({ wrId: 8n, sgList: [{ addr: y.buf, length: 256, lkey: y.mr.lkey }] });
      const mgid = new Uint8Array(16);
      mgid[0] = 0xff;
      mgid[15] = 3;
      const mc = await x.pd.createAh({ dlid: y.lid, grh: { dgid: mgid } });
      assert.equal(await datagram(ux, x, mc, uy.qpNum), WcStatus.SUCCESS);
      assert.equal((await y.cq.pollUntil(1))[0].wrId, 8n);
      assert.equal(stats().dgidDrops, before.dgidDrops + 1);
    });
  });

  Deno.test(`dgid (${mode}): a connected QP's packets to a DGID not the peer port's are dropped`, async () => {
    const { cluster, a, b, hosts } = await twoDomains(mode);
    const drops = (i: number) => hosts[i].hca.stats().counters.dgidDrops;
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const gidX = await x.ctx.queryGid(1, 0), gidY = await y.ctx.queryGid(1, 0);
      const opts = { ...CONNECT, timeout: 8, retryCnt: 1 };
      const qp = (s: Side, type: number) =>
        s.pd.createQp({ type, sendCq: s.cq, recvCq: s.cq, cap: CAP });
      const write = (q: Qp, wrId: bigint) =>
        q.postSend({
          wrId,
          opcode: WrOpcode.RDMA_WRITE,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: x.buf, length: 16, lkey: x.mr.lkey }],
          remoteAddr: y.buf + 1024,
          rkey: y.mr.rkey,
        });
      // Each end's `grh` is how its peer reaches it (connectPair). x's requests to a DGID that
      // is not y's: y drops them; x retries and fails.
      const rc = [await qp(x, QpType.RC), await qp(y, QpType.RC)];
      await connectPair(
        { qp: rc[0], lid: x.lid, grh: { dgid: gidX } },
        { qp: rc[1], lid: y.lid, grh: { dgid: other(gidY) } },
        opts,
      );
      x.dom.memory.write(x.buf, new Uint8Array(16).fill(0xab));
      write(rc[0], 1n);
      assert.equal((await x.cq.pollUntil(1))[0].status, WcStatus.RETRY_EXC_ERR);
      assert.ok(drops(1) >= 1, "y dropped x's WRITEs");
      assert.deepEqual(y.dom.memory.read(y.buf + 1024, 16), new Uint8Array(16), "not written");
      // The ACK's DGID is y's path's: x drops it, and its WRITE fails although it landed.
      const rc2 = [await qp(x, QpType.RC), await qp(y, QpType.RC)];
      await connectPair(
        { qp: rc2[0], lid: x.lid, grh: { dgid: other(gidX) } },
        { qp: rc2[1], lid: y.lid, grh: { dgid: gidY } },
        opts,
      );
      const xBefore = drops(0);
      write(rc2[0], 2n);
      assert.equal((await x.cq.pollUntil(1))[0].status, WcStatus.RETRY_EXC_ERR);
      assert.ok(drops(0) > xBefore, "x dropped y's ACKs");
      assert.deepEqual(y.dom.memory.read(y.buf + 1024, 16), new Uint8Array(16).fill(0xab));
      // UC: no ACK, the WRITE completes at x and never lands at y.
      const uc = [await qp(x, QpType.UC), await qp(y, QpType.UC)];
      await connectPair(
        { qp: uc[0], lid: x.lid, grh: { dgid: gidX } },
        { qp: uc[1], lid: y.lid, grh: { dgid: other(gidY) } },
        opts,
      );
      x.dom.memory.write(x.buf, new Uint8Array(16).fill(0xcd));
      const yBefore = drops(1);
      write(uc[0], 3n);
      assert.equal((await x.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
      await cluster.sleep(200_000);
      assert.equal(drops(1), yBefore + 1);
      assert.deepEqual(y.dom.memory.read(y.buf + 1024, 16), new Uint8Array(16).fill(0xab));
      assert.equal(y.cq.poll(4).length, 0);
    });
  });
}
