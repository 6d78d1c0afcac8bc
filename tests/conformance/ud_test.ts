/**
 * What a UD datagram carries and who may set it, in every mode (native,
 * bypass, split: DESIGN §9, invariant 11):
 *
 * - A Q_Key with bit 31 set is a controlled Q_Key, which a consumer may not
 *   give its QP (IBTA vol 1 §3.5.3): Linux `modify_qp` (uverbs_cmd.c)
 *   refuses it with EPERM for an unprivileged process
 *   (`rdma_nl_get_privileged_qkey`, off by default), and the QP keeps the
 *   Q_Key it had. The check is uverbs' own, before the driver's state
 *   table: a controlled Q_Key is EPERM even where the transition takes no
 *   Q_Key (an RC QP, a UD QP missing a required attribute).
 * - A send whose Q_Key has bit 31 set carries the sending QP's own Q_Key
 *   instead (IBTA vol 1 §10.2.5); any other Q_Key must equal the receiver's,
 *   else the datagram is dropped silently: no completion on the receiver,
 *   the receive WQE kept for the next datagram.
 * - A datagram dropped for its Q_Key or its P_Key is counted at the receiving port, in
 *   PortInfo:Q_KeyViolations and P_KeyViolations (IBTA vol 1 §14.2.5.6), which
 *   `ibv_query_port` reports as `qkey_viol_cntr` and `bad_pkey_cntr` (mthca_query_port reads
 *   them from PortInfo; Linux rxe_recv.c `check_keys` counts both drops).
 * - The source LID is the sending port's: an address handle's source path
 *   bits pick among the port's 2^LMC LIDs and only their low LMC bits count
 *   (IBTA vol 1 §7.11.1; Linux qib/hfi1: `lid | (src_path_bits & ((1 <<
 *   lmc) - 1))`), so no program, in a guest or not, sends as another port.
 */
import assert from "node:assert/strict";
import {
  type Ah,
  connectPair,
  connectQp,
  type Qp,
  QpState,
  QpType,
  SendFlags,
  WcFlags,
  WcStatus,
  type WorkCompletion,
  WrOpcode,
} from "../../mod.ts";
import { CAP, CONNECT, MODES, pair, rejects, type Side, side, twoDomains } from "./helpers.ts";

/** The Q_Key `connectPair` gives UD QPs (perftest's DEF_QKEY). */
const QKEY = 0x11111111;

/**
 * One 16-byte UD SEND from `qf` (of `from`) to `qt` (of `to`) through `ah`, both completions
 * successful; the receiver's completion (its buffer holds the GRH area, then the payload).
 */
async function datagram(from: Side, qf: Qp, to: Side, qt: Qp, ah: Ah): Promise<WorkCompletion> {
  qt.postRecv({ wrId: 9n, sgList: [{ addr: to.buf, length: 256, lkey: to.mr.lkey }] });
  qf.postSend({
    wrId: 1n,
    opcode: WrOpcode.SEND,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: from.buf, length: 16, lkey: from.mr.lkey }],
    ah,
    remoteQpn: qt.qpNum,
    remoteQkey: QKEY,
  });
  assert.equal((await from.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
  const [got] = await to.cq.pollUntil(1);
  assert.equal(got.status, WcStatus.SUCCESS);
  return got;
}

for (const mode of MODES) {
  Deno.test(`qkey (${mode}): a controlled Q_Key (bit 31) is EPERM at modify_qp, the QP unchanged`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const qp = await x.pd.createQp({ type: QpType.UD, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      const init = { state: QpState.INIT, pkeyIndex: 0, port: 1 };
      const msg = await rejects(() => qp.modify({ ...init, qkey: 0x80010000 }), "EPERM");
      assert.match(msg, /qkey 0x80010000 is a controlled Q_Key/);
      assert.equal((await qp.query()).state, QpState.RESET, "RESET->INIT did not happen");
      await qp.modify({ ...init, qkey: QKEY });
      await qp.modify({ state: QpState.RTR });
      await qp.modify({ state: QpState.RTS, sqPsn: 1 });
      await rejects(() => qp.modify({ state: QpState.RTS, qkey: 0x80000000 }), "EPERM");
      const q = await qp.query();
      assert.deepEqual([q.state, q.qkey], [QpState.RTS, QKEY]);
      await qp.modify({ state: QpState.RTS, qkey: 0x7fffffff }); // the highest one allowed
      assert.equal((await qp.query()).qkey, 0x7fffffff);
      // EPERM comes before the state table's EINVAL: on an RC QP, which takes no Q_Key, and on a
      // UD RESET->INIT without its pkeyIndex.
      const rc = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      await rejects(() => rc.modify({ ...init, accessFlags: 0, qkey: 0x80000001 }), "EPERM");
      const ud = await x.pd.createQp({ type: QpType.UD, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      await rejects(() => ud.modify({ state: QpState.INIT, port: 1, qkey: 0x80000001 }), "EPERM");
      // Without the controlled Q_Key, the table's refusals: EINVAL.
      await rejects(() => rc.modify({ ...init, accessFlags: 0, qkey: 1 }), "EINVAL");
      await rejects(() => ud.modify({ state: QpState.INIT, port: 1, qkey: 1 }), "EINVAL");
      assert.deepEqual([(await rc.query()).state, (await ud.query()).state], [0, 0]);
    });
  });

  Deno.test(`qkey (${mode}): a send's bit-31 Q_Key is the QP's own; a wrong one is dropped`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [ux, uy] = await pair(x, y, QpType.UD);
      const ah = await x.pd.createAh({ dlid: y.lid });
      const send = (q: Qp, s: Side, wrId: bigint, remoteQkey: number) =>
        q.postSend({
          wrId,
          opcode: WrOpcode.SEND,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: s.buf, length: 16, lkey: s.mr.lkey }],
          ah,
          remoteQpn: uy.qpNum,
          remoteQkey,
        });
      uy.postRecv({ wrId: 7n, sgList: [{ addr: y.buf, length: 256, lkey: y.mr.lkey }] });
      send(ux, x, 1n, QKEY ^ 1); // the receiver's Q_Key is QKEY: dropped
      send(ux, x, 2n, 0x80000000); // the sender's own Q_Key, QKEY: delivered
      const sent = await x.cq.pollUntil(2);
      assert.deepEqual(sent.map((w) => [w.wrId, w.status]), [
        [1n, WcStatus.SUCCESS],
        [2n, WcStatus.SUCCESS],
      ], "UD: the sender completes either way");
      const [got] = await y.cq.pollUntil(1);
      assert.deepEqual([got.wrId, got.status, got.byteLen], [7n, WcStatus.SUCCESS, 40 + 16]);
      await cluster.sleep(200_000);
      assert.deepEqual(y.cq.poll(4), [], "no completion for the dropped datagram");
    });
  });

  Deno.test(`ud (${mode}): an AH of another device's context fails the send as another PD's would`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [ux, uy] = await pair(x, y, QpType.UD);
      // The other host's PD has the same number as this QP's: only its device tells them apart.
      const foreign = await y.pd.createAh({ dlid: y.lid });
      assert.equal(y.pd.pdn, x.pd.pdn);
      const own = await x.pd.createAh({ dlid: y.lid });
      const status = (ah: typeof own) => {
        ux.postSend({
          wrId: 1n,
          opcode: WrOpcode.SEND,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: x.buf, length: 16, lkey: x.mr.lkey }],
          ah,
          remoteQpn: uy.qpNum,
          remoteQkey: QKEY,
        });
        return x.cq.pollUntil(1).then(([wc]) => wc.status);
      };
      assert.equal(await status(own), WcStatus.SUCCESS);
      // IBTA vol 1 §11.4.1.1: the AH must be of the QP's PD (rxe_get_av: LOC_QP_OP_ERR).
      assert.equal(await status(foreign), WcStatus.LOC_QP_OP_ERR);
    });
  });

  Deno.test(`ud (${mode}): source path bits cannot make a datagram's SLID another port's LID`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [ux, uy] = await pair(x, y, QpType.UD);
      assert.equal(x.ctx.queryPort(1).lmc, 0);
      // The path bits that would turn the sender's LID into the receiver's.
      const ah = await x.pd.createAh({ dlid: y.lid, srcPathBits: x.lid ^ y.lid });
      uy.postRecv({ wrId: 1n, sgList: [{ addr: y.buf, length: 256, lkey: y.mr.lkey }] });
      ux.postSend({
        wrId: 1n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 16, lkey: x.mr.lkey }],
        ah,
        remoteQpn: uy.qpNum,
        remoteQkey: QKEY,
      });
      const [got] = await y.cq.pollUntil(1);
      assert.deepEqual([got.status, got.srcQp, got.slid, got.dlidPathBits], [
        WcStatus.SUCCESS,
        ux.qpNum,
        x.lid,
        0,
      ]);
    });
  });

  Deno.test(`ud (${mode}): a wrong Q_Key or P_Key counts in query_port's qkey_viol_cntr and bad_pkey_cntr`, async () => {
    const { cluster, a, b } = await twoDomains(mode, "pcix-sdr-2006", [0x8001, 0x8002]);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [ux, uy] = await pair(x, y, QpType.UD);
      // A QP of y's in partition 0x8002 (index 2): x's 0xffff reaches it, x's 0x8001 does not.
      const other = await y.pd.createQp({ type: QpType.UD, sendCq: y.cq, recvCq: y.cq, cap: CAP });
      await connectQp(other, { pkeyIndex: 2 });
      const in8001 = await x.pd.createQp({ type: QpType.UD, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      await connectQp(in8001, { pkeyIndex: 1 });
      const ah = await x.pd.createAh({ dlid: y.lid });
      for (const q of [uy, other]) {
        q.postRecv({ wrId: 9n, sgList: [{ addr: y.buf, length: 256, lkey: y.mr.lkey }] });
      }
      const start = await y.ctx.refreshPort(1);
      assert.deepEqual([start.badPkeyCntr, start.qkeyViolCntr], [0, 0]);
      const send = (q: Qp, remoteQpn: number, remoteQkey: number) =>
        q.postSend({
          wrId: 1n,
          opcode: WrOpcode.SEND,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: x.buf, length: 16, lkey: x.mr.lkey }],
          ah,
          remoteQpn,
          remoteQkey,
        });
      send(ux, uy.qpNum, QKEY ^ 2); // the wrong Q_Key
      send(in8001, other.qpNum, QKEY); // the wrong partition
      send(in8001, other.qpNum, QKEY); // again
      await x.cq.pollUntil(3);
      await cluster.sleep(200_000);
      assert.deepEqual(y.cq.poll(4), [], "all three dropped");
      const p = await y.ctx.refreshPort(1);
      assert.deepEqual([p.badPkeyCntr, p.qkeyViolCntr], [2, 1]);
      const mine = await x.ctx.refreshPort(1);
      assert.deepEqual(
        [mine.badPkeyCntr, mine.qkeyViolCntr],
        [0, 0],
        "the sender's port counts none",
      );
    });
  });

  Deno.test(`ud (${mode}): a GRH's hop limit is the AH's, 0 when left unset, in the receive buffer's GRH`, async () => {
    // libmthca's mthca_alloc_av (and the kernel's mthca_create_ah) zero the AV and copy
    // grh.hop_limit into it as given; ib_uverbs_create_ah passes it unchanged: no layer puts a
    // default in its place, so an ibv_ah_attr whose hop_limit is left unset (0, as every other
    // field left unset) sends HopLmt 0. ibv_post_recv(3): the GRH lands in the first 40 bytes.
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [ux, uy] = await pair(x, y, QpType.UD);
      const dgid = await y.ctx.queryGid(1, 0);
      const hopOf = async (grh: { dgid: Uint8Array; hopLimit?: number }) => {
        const got = await datagram(x, ux, y, uy, await x.pd.createAh({ dlid: y.lid, grh }));
        assert.equal(got.wcFlags & WcFlags.GRH, WcFlags.GRH);
        const g = y.dom.memory.read(y.buf, 40);
        assert.deepEqual([g[0] >>> 4, g[6]], [6, 0x1b], "IPVer 6, NxtHdr 0x1B: a GRH");
        return g[7];
      };
      assert.equal(await hopOf({ dgid, hopLimit: 200 }), 200);
      assert.equal(await hopOf({ dgid, hopLimit: 0 }), 0);
      assert.equal(await hopOf({ dgid }), 0, "hop limit left unset");
      // A connected QP's path takes the same AV (ib_uverbs_modify_qp copies it as given).
      const rc = await Promise.all(
        [x, y].map((s) => s.pd.createQp({ type: QpType.RC, sendCq: s.cq, recvCq: s.cq, cap: CAP })),
      );
      const xgid = await x.ctx.queryGid(1, 0);
      await connectPair(
        { qp: rc[0], lid: x.lid, grh: { dgid: xgid } },
        { qp: rc[1], lid: y.lid, grh: { dgid } },
        CONNECT,
      );
      const hops = new Set<number>();
      cluster.fabric.addCapture((r) => {
        // LRH:LNH 3: a GRH follows the 8-byte LRH; its HopLmt is byte 7 of it.
        if (r.from.node.name !== "sw0" && (r.bytes[1] & 3) === 3) hops.add(r.bytes[15]);
      });
      rc[0].postSend({
        wrId: 3n,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 16, lkey: x.mr.lkey }],
        remoteAddr: y.buf,
        rkey: y.mr.rkey,
      });
      assert.equal((await x.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
      assert.deepEqual([...hops], [0], "the WRITE and its ACK");
    });
  });

  Deno.test(`ud (${mode}): createAhFromWc answers a datagram's sender (ibv_create_ah_from_wc), with and without its GRH`, async () => {
    // rdma-core ibv_init_ah_from_wc: dlid = wc.slid, sl = wc.sl, src_path_bits = wc.dlid_path_bits;
    // with IBV_WC_GRH the GRH's source GID is the reply's destination, its destination GID's
    // index in the port's table the source, its flow label, traffic class and hop limit kept.
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [ux, uy] = await pair(x, y, QpType.UD);
      const xgid = await x.ctx.queryGid(1, 0), ygid = await y.ctx.queryGid(1, 0);
      const grh = { dgid: ygid, hopLimit: 33, trafficClass: 0x5a, flowLabel: 0x12345 };
      const wc = await datagram(x, ux, y, uy, await x.pd.createAh({ dlid: y.lid, sl: 3, grh }));
      const area = y.dom.memory.read(y.buf, 40);
      const attr = await y.ctx.initAhFromWc(1, wc, area);
      assert.deepEqual(
        [attr.dlid, attr.sl, attr.srcPathBits, attr.portNum],
        [x.lid, 3, 0, 1],
      );
      assert.deepEqual(
        attr.grh &&
          [
            [...attr.grh.dgid],
            attr.grh.sgidIndex,
            attr.grh.hopLimit,
            attr.grh.trafficClass,
            attr.grh.flowLabel,
          ],
        [[...xgid], 0, 33, 0x5a, 0x12345],
      );
      // The reply reaches the sender, through an AH made from the completion.
      const back = await datagram(y, uy, x, ux, await y.pd.createAhFromWc(wc, area, 1));
      assert.equal(back.srcQp, uy.qpNum);
      // Without a GRH, no GRH in the answer and no GID looked up.
      const plain = await datagram(x, ux, y, uy, await x.pd.createAh({ dlid: y.lid }));
      assert.equal(plain.wcFlags & WcFlags.GRH, 0);
      assert.equal((await y.ctx.initAhFromWc(1, plain)).grh, undefined);
      // Refusals: the GRH area missing; a multicast destination; a next header neither IBA's nor
      // UDP's; a RoCE v2 header on an InfiniBand port (no GID of that type).
      assert.match(await rejects(() => y.ctx.initAhFromWc(1, wc), "EINVAL"), /give the 40 bytes/);
      const bad = (edit: (g: Uint8Array) => void) => {
        const g = area.slice();
        edit(g);
        return g;
      };
      assert.match(
        await rejects(() => y.ctx.initAhFromWc(1, wc, bad((g) => g[24] = 0xff)), "EINVAL"),
        /multicast GID/,
      );
      assert.match(
        await rejects(() => y.ctx.initAhFromWc(1, wc, bad((g) => g[6] = 0x3b)), "EPROTONOSUPPORT"),
        /next header 0x3b/,
      );
      assert.match(
        await rejects(() => y.ctx.initAhFromWc(1, wc, bad((g) => g[6] = 17)), "EINVAL"),
        /\(RoCE v2\) is not in port 1's GID table/,
      );
      assert.match(
        await rejects(() => y.ctx.initAhFromWc(1, { ...wc, slid: -1 }, area), "EINVAL"),
        /wc\.slid/,
      );
    });
  });
}
