/**
 * Verbs rules as the authorities have them, in every mode (native, bypass,
 * split: DESIGN §9, invariant 11):
 *
 * 1. A send WR with more SGEs than the QP's max_send_sge is refused (EINVAL),
 *    inline or not: libmthca, rxe, mlx4 and mlx5 check the count before they
 *    look at IBV_SEND_INLINE; the kernel's mthca refuses "too many gathers"
 *    with -EINVAL.
 * 2. The device's P_Key table has one size everywhere (queryDevice's
 *    max_pkeys, queryPort's pkey_tbl_len, the device's own table), and a
 *    pkey_index outside it is refused at modify_qp with EINVAL, the QP left
 *    where it was (mthca_modify_qp: `pkey_index >= limits.pkey_table_len`).
 *    Inside it a bare-metal kernel takes any entry; dom0 refuses a guest an
 *    entry that is not one of its partitions (EINVAL too).
 * 3. A UC QP cannot be created with an SRQ (ibv_create_qp(3), NOTES: only RC
 *    and UD QPs may use one): EINVAL, nothing left behind.
 * 4. `cq.poll()` returns the completions the device has written by the time
 *    of the call, at once (ibv_poll_cq(3)); none is returned twice or lost.
 * 5. A UD message longer than the port's MTU sends no packet and completes
 *    successfully (IBTA vol 1 C10-93.1.1, as Linux rxe_req.c does); the QP
 *    stays in RTS.
 * 6. A QP moved to RESET, or destroyed, leaves none of its completions in its
 *    CQs, unpolled ones included (libmthca's and libmlx4's `cq_clean` after
 *    the modify or destroy); other QPs' completions stay, in order. A
 *    forgotten receive completion of a QP on an SRQ gives the SRQ its WQE
 *    back (`__mthca_cq_clean`: `mthca_free_srq_wqe`).
 * 7. reg_mr's access flags as the kernel's `ib_check_mr_access` takes them:
 *    the optional flags (`RELAXED_ORDERING`) are hints a device may ignore
 *    (ibv_reg_mr(3)); `MW_BIND` passes as mthca takes it; `ON_DEMAND` on a
 *    device without on-demand paging is EOPNOTSUPP; unknown bits are EINVAL.
 * 8. A QP may be created with zero-sized queues (max_send_wr, max_recv_wr,
 *    max_recv_sge 0: mthca_set_qp_size checks maxima only); the capacities
 *    granted are at least those asked (ibv_create_qp(3)).
 * 9. resize_cq outside 1..max_cqe is EINVAL (mthca_resize_cq), the CQ
 *    unchanged.
 * 10. A post of a list stops at the first bad WR and says which
 *    (`ibv_post_send`'s `bad_wr`: the error's `badWr`); those before it were
 *    posted, none after it.
 * 11. A WR with a value no field of `struct ibv_send_wr` could hold (an
 *    address that is not an integer, an atomic operand that is not a bigint,
 *    a missing SGE) is EINVAL naming the field, and inline data from memory
 *    the caller does not have is EFAULT; that WR is not posted, and in a
 *    list it is the `bad_wr` of rule 10: those before it were posted.
 * 12. A UD send's address handle must belong to the QP's PD and must not
 *    be destroyed: else the WR completes with LOC_QP_OP_ERR and nothing is
 *    sent (Linux rxe_get_av: "PDs don't match for AH and QP").
 * 13. query_device's capability flags are mthca's (mthca_main.c): RC RNR
 *    NAK generation, port active events, system image GUID, changing a
 *    QP's port; no SRQ resize, which modify_srq refuses (EINVAL).
 * 14. A PSN past 24 bits given to modify_qp is masked to its low 24 bits,
 *    not refused (Linux core/verbs.c `_ib_modify_qp`: "rq_psn overflow,
 *    masking to 24 bits", the same for sq_psn); query_qp reports the masked
 *    PSN and the connection works from it. A value no `__u32` holds is still
 *    EINVAL.
 * 15. create_qp's QP type as the kernel sorts it (uverbs_cmd.c `create_qp`):
 *    a raw packet QP needs CAP_NET_RAW, EPERM for an ordinary process; an
 *    XRC initiator or a driver-specific QP reaches the driver, which has no
 *    such QPs (mthca_create_qp: "Don't support raw QPs", EOPNOTSUPP); any
 *    other type outside RC, UC, UD, XRC (SMI and GSI among them) is EINVAL.
 *    Nothing is left behind.
 * 16. resize_cq to fewer entries than the CQ holds unpolled is EINVAL
 *    (ibv_resize_cq(3): "cqe must be at least the number of unpolled
 *    entries"; libmlx4's mlx4_resize_cq and rxe's rxe_cq_chk_attr refuse
 *    it with EINVAL), the CQ and its completions unchanged; to as many is
 *    fine. In a split guest the completions dom0 still holds in its shadow
 *    of the CQ count too, and its shadow moves with the ring.
 * 17. A QP still attached to a multicast group cannot be destroyed: EBUSY
 *    until every attachment is detached (ibv_create_qp(3), NOTES:
 *    "ibv_destroy_qp() fails if the QP is attached to a multicast group";
 *    uverbs_std_types_qp.c
 *    `uverbs_free_qp`: "do not allow destruction until the user cleans up
 *    all the mcast bindings"); closing the context detaches them itself.
 * 18. A full queue is ENOMEM whatever the WR: libmthca's tavor_post_send,
 *    libmlx4's and libmlx5's post_send and post_recv, and the kernel's
 *    mthca_tavor_post_receive and mthca_tavor_post_srq_recv test for room
 *    before the WR's SGE count (and its opcode), so a WR with too many SGEs
 *    posted to a full queue is ENOMEM, not EINVAL.
 * 19. modify_qp's fields as the uverbs ABI has them, the same in every mode:
 *    `qp_access_flags` is a `__u32` nobody checks (ib_uverbs_modify_qp
 *    copies it; mthca's get_hw_access_flags, as mlx4's and mlx5's, takes
 *    the remote rights and ignores the other bits), so any `uint32` is
 *    taken and `query` reports the rights; `path_mig_state`, an AH's
 *    `static_rate` and its GRH's `hop_limit` are `__u8`s the device does not
 *    check, and a value none of them holds is EINVAL, the QP unchanged.
 * 20. query_qp reports `sq_draining` (ibv_query_qp(3); mthca_query_qp: the
 *    QPC's DRAINING state): true in SQD while WQEs started before the move
 *    are still unacknowledged, false once the queue drained and in every
 *    other state; modify_qp ignores it (it has no mask bit).
 * 21. resize_cq keeps every completion, whatever lap of the new ring the
 *    consumer index is on: the library marks each entry of the new ring as
 *    not written before the device is told of it (libmthca's
 *    `mthca_alloc_cq_buf` sets every CQE hardware-owned before
 *    `ibv_cmd_resize_cq`), copies the unpolled ones over
 *    (`mthca_cq_resize_copy_cqes`), and later completions land in it.
 */
import assert from "node:assert/strict";
import {
  Access,
  type Ah,
  connectPair,
  QpState,
  QpType,
  SendFlags,
  VerbsError,
  WcOpcode,
  WcStatus,
  WrOpcode,
} from "../../mod.ts";
import {
  ALL_ACCESS,
  CAP,
  CONNECT,
  MODES,
  pair,
  pattern,
  postSendWr,
  postWrite,
  rejects,
  type Side,
  side,
  twoDomains,
  waitBytes,
} from "./helpers.ts";
import type { Sge } from "../../drivers/uapi/types.ts";

/** Long enough for any single small operation to have completed at the device. */
const SETTLE_NS = 200_000;

/** An RDMA WRITE of SGEs `sgList` to `y`'s buffer, signaled or not. */
function writeWr(y: Side, wrId: bigint, sgList: Sge[], signaled: boolean) {
  return {
    wrId,
    opcode: WrOpcode.RDMA_WRITE,
    sendFlags: signaled ? SendFlags.SIGNALED : 0,
    sgList,
    remoteAddr: y.buf,
    rkey: y.mr.rkey,
  };
}

for (const mode of MODES) {
  Deno.test(`rule 1 (${mode}): an inline send with more SGEs than max_send_sge is EINVAL`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const cap = { ...CAP, maxSendSge: 1, maxInlineData: 64 };
      const [qx] = await pair(x, y, QpType.RC, cap);
      a.memory.write(x.buf, pattern(16, 3));
      const sge = (off: number) => ({ addr: x.buf + off, length: 8, lkey: x.mr.lkey });
      const write = (sgList: ReturnType<typeof sge>[], wrId: bigint) =>
        qx.postSend({
          wrId,
          opcode: WrOpcode.RDMA_WRITE,
          sendFlags: SendFlags.SIGNALED | SendFlags.INLINE,
          sgList,
          remoteAddr: y.buf,
          rkey: y.mr.rkey,
        });
      // The limits are what create_qp granted (at least what was asked: the 128-byte WQE the
      // inline data needs holds 5 data segments and 76 inline bytes). One SGE more than
      // max_send_sge, of 8 bytes each, fits max_inline_data but not max_send_sge.
      const n = qx.cap.maxSendSge + 1;
      assert.ok(n * 8 <= qx.cap.maxInlineData!, "the SGEs' bytes fit max_inline_data");
      const many = Array.from({ length: n }, (_, i) => sge(8 * (i % 2)));
      const msg = await rejects(() => write(many, 1n), "EINVAL");
      assert.match(msg, new RegExp(`${n} SGEs exceed max_send_sge ${n - 1}`));
      // Nothing was posted: the next WR is the only one that completes, and it lands.
      write([sge(0)], 2n);
      const [wc] = await x.cq.pollUntil(1);
      assert.deepEqual([wc.wrId, wc.status], [2n, WcStatus.SUCCESS]);
      await waitBytes(b, y.buf, pattern(16, 3).subarray(0, 8));
      await cluster.sleep(SETTLE_NS);
      assert.deepEqual(x.cq.poll(4), [], "the refused WR left no completion");
    });
  });

  Deno.test(`rule 2 (${mode}): one P_Key table size; a pkey_index outside it is EINVAL`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      assert.equal(x.ctx.queryDevice().maxPkeys, 64, "MT23108: 64 P_Keys per port");
      assert.equal(x.ctx.queryPort(1).pkeyTblLen, 64, "the port's table is the device's");
      const qp = () => x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      const init = { state: QpState.INIT, port: 1, accessFlags: 0 };
      const q = await qp();
      for (const pkeyIndex of [64, 255, 256, 65535]) {
        const msg = await rejects(() => q.modify({ ...init, pkeyIndex }), "EINVAL");
        // A guest learns the errno only (the ring's response carries a status, not a text).
        if (mode === "native") assert.match(msg, /outside the port's P_Key table \(64 entries\)/);
        assert.equal((await q.query()).state, QpState.RESET, "the QP stays where it was");
      }
      // The last entry of the table is empty: the kernel takes it (mthca checks the length
      // only); dom0 gives a guest only its partitions, the default one here (docs/security.md).
      const last = mode === "native" ? 63 : 0;
      if (mode !== "native") {
        const why = await rejects(() => q.modify({ ...init, pkeyIndex: 63 }), "EINVAL");
        assert.match(
          why,
          /pkeyIndex 63 \(P_Key 0x0000, an empty entry\) is not one of this domain's/,
        );
      }
      await q.modify({ ...init, pkeyIndex: last });
      assert.equal((await q.query()).pkeyIndex, last);
      // INIT→INIT and INIT→RTR take pkey_index too: the same limit.
      await rejects(() => q.modify({ state: QpState.INIT, pkeyIndex: 64 }), "EINVAL");
      assert.deepEqual([(await q.query()).state, (await q.query()).pkeyIndex], [
        QpState.INIT,
        last,
      ]);
      // A QP on index 0 still connects and moves data (the default partition).
      const [qx, qy] = await pair(x, y, QpType.RC);
      qy.postRecv({ wrId: 7n, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      postSendWr(qx, x, 8n);
      assert.equal((await y.cq.pollUntil(1))[0].wrId, 7n);
    });
  });

  Deno.test(`rule 2 (${mode}): a profile's larger P_Key table is the limit, past 255 too`, async () => {
    const profile = { base: "pcix-sdr-2006", hca: { maxPkeys: 512 } };
    const { cluster, a } = await twoDomains(mode, profile);
    await cluster.run(async () => {
      const x = await side(a);
      assert.equal(x.ctx.queryDevice().maxPkeys, 512);
      assert.equal(x.ctx.queryPort(1).pkeyTblLen, 512);
      const q = await x.pd.createQp({ type: QpType.UD, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      await rejects(
        () => q.modify({ state: QpState.INIT, port: 1, qkey: 1, pkeyIndex: 512 }),
        "EINVAL",
      );
      if (mode === "native") {
        await q.modify({ state: QpState.INIT, port: 1, qkey: 1, pkeyIndex: 300 });
        assert.equal((await q.query()).pkeyIndex, 300);
      } else {
        // Inside the table, but an empty entry: none of the guest's partitions (dom0's check).
        const why = await rejects(
          () => q.modify({ state: QpState.INIT, port: 1, qkey: 1, pkeyIndex: 300 }),
          "EINVAL",
        );
        assert.match(why, /pkeyIndex 300 .* is not one of this domain's partitions/);
      }
    });
  });

  Deno.test(`rule 3 (${mode}): a UC QP with an SRQ is EINVAL; RC and UD take one`, async () => {
    const { cluster, a, hosts } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const srq = await x.pd.createSrq({ maxWr: 8, maxSge: 1 });
      const before = hosts[0].hca.stats().used;
      const attr = (type: number) => ({ type, sendCq: x.cq, recvCq: x.cq, srq, cap: CAP });
      const msg = await rejects(() => x.pd.createQp(attr(QpType.UC)), "EINVAL");
      if (mode === "native") assert.match(msg, /UC QP cannot use an SRQ/);
      assert.deepEqual(hosts[0].hca.stats().used, before, "nothing left behind at the device");
      // The same attributes for RC and UD are fine, and so is UC without the SRQ.
      for (const type of [QpType.RC, QpType.UD]) await (await x.pd.createQp(attr(type))).destroy();
      const uc = await x.pd.createQp({ ...attr(QpType.UC), srq: undefined });
      await uc.destroy();
      await srq.destroy();
      await x.ctx.close();
    });
  });

  Deno.test(`rule 4 (${mode}): one poll returns what the device has completed, once`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [qx, qy] = await pair(x, y, QpType.RC);
      const write = (wrId: bigint) => postWrite(qx, x, y, wrId);
      // One completion, long done at the device: the first poll returns it.
      write(1n);
      await cluster.sleep(SETTLE_NS);
      assert.deepEqual(x.cq.poll(4).map((wc) => wc.wrId), [1n]);
      assert.deepEqual(x.cq.poll(4), []);
      // Three completions, polled two at a time: 2, then 1, then none; no loss, no repeat.
      for (const id of [2n, 3n, 4n]) write(id);
      await cluster.sleep(SETTLE_NS);
      assert.deepEqual(x.cq.poll(2).map((wc) => wc.wrId), [2n, 3n]);
      assert.deepEqual(x.cq.poll(2).map((wc) => wc.wrId), [4n]);
      assert.deepEqual(x.cq.poll(2), []);
      // A receive completion that arrived while the peer was busy elsewhere.
      qy.postRecv({ wrId: 9n, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      postSendWr(qx, x, 10n);
      await cluster.sleep(SETTLE_NS);
      const [r] = y.cq.poll(4);
      assert.deepEqual([r?.wrId, r?.status, r?.opcode], [9n, WcStatus.SUCCESS, WcOpcode.RECV]);
      assert.deepEqual(x.cq.poll(4).map((wc) => wc.wrId), [10n]);
      // Waiting still works after polls that found everything.
      write(11n);
      assert.deepEqual((await x.cq.pollUntil(1)).map((wc) => wc.wrId), [11n]);
    });
  });
}

for (const mode of MODES) {
  Deno.test(`rule 5 (${mode}): a UD message longer than the MTU sends nothing and succeeds`, async () => {
    const { cluster, a, b, hosts } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [ux, uy] = await pair(x, y, QpType.UD);
      const ah = await x.pd.createAh({ dlid: y.lid });
      const mtu = 2048; // the port's active MTU on pcix-sdr-2006
      for (const id of [1n, 2n]) {
        uy.postRecv({ wrId: id, sgList: [{ addr: y.buf, length: 8192, lkey: y.mr.lkey }] });
      }
      const send = (wrId: bigint, length: number) =>
        ux.postSend({
          wrId,
          opcode: WrOpcode.SEND,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: x.buf, length, lkey: x.mr.lkey }],
          ah,
          remoteQpn: uy.qpNum,
          remoteQkey: 0x11111111,
        });
      const sent = hosts[1].hca.stats().packetsReceived;
      send(10n, mtu + 1);
      send(11n, 64);
      const wcs = await x.cq.pollUntil(2);
      assert.deepEqual(wcs.map((w) => [w.wrId, w.status]), [[10n, WcStatus.SUCCESS], [
        11n,
        WcStatus.SUCCESS,
      ]]);
      assert.equal((await ux.query()).state, QpState.RTS);
      const [r] = await y.cq.pollUntil(1);
      assert.deepEqual([r.wrId, r.byteLen], [1n, 64 + 40], "only the short message arrived");
      await cluster.sleep(SETTLE_NS);
      assert.deepEqual(y.cq.poll(4), []);
      assert.equal(hosts[1].hca.stats().packetsReceived - sent, 1);
    });
  });

  Deno.test(`rule 6 (${mode}): RESET and destroy take a QP's completions out of its CQ`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [q1] = await pair(x, y, QpType.RC);
      const [q2] = await pair(x, y, QpType.RC);
      const [q3] = await pair(x, y, QpType.RC);
      postWrite(q1, x, y, 1n, 8);
      postWrite(q2, x, y, 2n, 8);
      postWrite(q1, x, y, 3n, 8);
      postWrite(q3, x, y, 4n, 8);
      postWrite(q2, x, y, 5n, 8);
      await cluster.sleep(SETTLE_NS); // all five completed, none polled
      await q1.modify({ state: QpState.RESET });
      await q3.destroy();
      assert.deepEqual(x.cq.poll(8).map((wc) => [wc.wrId, wc.qpNum]), [
        [2n, q2.qpNum],
        [5n, q2.qpNum],
      ]);
      // The QP back from RESET starts afresh: its next completion is its own.
      const p1 = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap: CAP });
      await connectPair({ qp: q1, lid: x.lid }, { qp: p1, lid: y.lid }, CONNECT);
      postWrite(q1, x, y, 6n, 8);
      assert.deepEqual((await x.cq.pollUntil(1)).map((wc) => [wc.wrId, wc.qpNum]), [[
        6n,
        q1.qpNum,
      ]]);
    });
  });

  Deno.test(`rule 6 (${mode}): an SRQ gets back the WQEs of a destroyed QP's unpolled receives`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const srq = await y.pd.createSrq({ maxWr: 4, maxSge: 1 });
      const cap = { maxSendWr: 8, maxRecvWr: 0, maxSendSge: 1, maxRecvSge: 0 };
      const recv = (wrId: bigint) =>
        srq.postRecv({ wrId, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      const connected = async () => {
        const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
        const qy = await y.pd.createQp({
          type: QpType.RC,
          sendCq: y.cq,
          recvCq: y.cq,
          srq,
          cap,
        });
        await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid }, CONNECT);
        return [qx, qy];
      };
      for (let i = 0n; i < 4n; i++) recv(10n + i);
      const [qx, qy] = await connected();
      for (let i = 0n; i < 3n; i++) postSendWr(qx, x, i, 8);
      await cluster.sleep(SETTLE_NS); // three receives completed, not polled
      assert.equal(srq.psrq.outstanding, 4);
      await qy.destroy();
      assert.equal(srq.psrq.outstanding, 1, "the three consumed WQEs are the SRQ's again");
      assert.deepEqual(y.cq.poll(8), []);
      for (let i = 0n; i < 3n; i++) recv(20n + i); // room for exactly three
      await rejects(() => recv(30n), "ENOMEM");
      // Another QP on the SRQ takes them in order: the one left over, then the new ones.
      const [px] = await connected();
      x.cq.poll(8);
      for (let i = 0n; i < 4n; i++) postSendWr(px, x, 40n + i, 8);
      assert.deepEqual((await y.cq.pollUntil(4)).map((w) => w.wrId), [13n, 20n, 21n, 22n]);
    });
  });

  Deno.test(`rule 7 (${mode}): reg_mr takes the access flags the kernel takes`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [qx] = await pair(x, y, QpType.RC);
      // RELAXED_ORDERING is a hint: the region registers and takes remote writes.
      const ro = await y.pd.regMr(y.buf + 8192, 4096, ALL_ACCESS | Access.RELAXED_ORDERING);
      a.memory.write(x.buf, pattern(32, 4));
      qx.postSend({
        wrId: 1n,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 32, lkey: x.mr.lkey }],
        remoteAddr: y.buf + 8192,
        rkey: ro.rkey,
      });
      assert.equal((await x.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
      await waitBytes(b, y.buf + 8192, pattern(32, 4));
      for (const ok of [Access.MW_BIND, Access.HUGETLB | Access.LOCAL_WRITE]) {
        await (await x.pd.regMr(x.buf, 4096, ok)).dereg();
      }
      await rejects(() => x.pd.regMr(x.buf, 4096, Access.ON_DEMAND), "EOPNOTSUPP");
      await rejects(() => x.pd.regMr(x.buf, 4096, 1 << 30), "EINVAL");
      await rejects(() => x.pd.regMr(x.buf, 4096, Access.REMOTE_ATOMIC), "EINVAL");
      await rejects(() => x.pd.regMr(x.buf, 4096, Access.REMOTE_WRITE), "EINVAL");
    });
  });

  Deno.test(`rule 8 (${mode}): a QP with zero-sized queues is created and works`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      // A sender that never receives, and a receiver that never sends.
      const tx = { maxSendWr: 4, maxRecvWr: 0, maxSendSge: 1, maxRecvSge: 0 };
      const rx = { maxSendWr: 0, maxRecvWr: 4, maxSendSge: 0, maxRecvSge: 1 };
      const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: tx });
      const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap: rx });
      for (const [q, want] of [[qx, tx], [qy, rx]] as const) {
        for (const k of ["maxSendWr", "maxRecvWr", "maxSendSge", "maxRecvSge"] as const) {
          assert.ok(q.cap[k] >= want[k], `${k} ${q.cap[k]} granted for ${want[k]} asked`);
        }
      }
      await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid }, CONNECT);
      qy.postRecv({ wrId: 7n, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      postSendWr(qx, x, 8n);
      assert.equal((await x.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
      assert.deepEqual((await y.cq.pollUntil(1)).map((w) => [w.wrId, w.status]), [[7n, 0]]);
    });
  });

  Deno.test(`rule 9 (${mode}): resize_cq outside 1..max_cqe is EINVAL, the CQ unchanged`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const max = x.ctx.queryDevice().maxCqe;
      const cq = await x.ctx.createCq(8);
      for (const bad of [0, -1, 1.5, NaN, max + 1, 1e9]) {
        const msg = await rejects(() => cq.resize(bad), "EINVAL");
        assert.match(msg, /resize_cq: cqe .* outside 1\.\./);
      }
      assert.equal(cq.cqe, 15);
      assert.deepEqual(cq.poll(4), []);
    });
  });

  Deno.test(`rule 10 (${mode}): a list stops at the bad WR and names it (bad_wr)`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [qx, qy] = await pair(x, y, QpType.RC);
      const sge = { addr: x.buf, length: 8, lkey: x.mr.lkey };
      const write = (wrId: bigint, sgList = [sge]) => writeWr(y, wrId, sgList, true);
      const badWr = (fn: () => void) => {
        try {
          fn();
        } catch (e) {
          if (e instanceof VerbsError) return [e.code, e.badWr, e.message];
          throw e;
        }
        throw new Error("the post succeeded");
      };
      const tooMany = Array.from({ length: qx.cap.maxSendSge + 1 }, () => sge);
      const [code, at, msg] = badWr(() =>
        qx.postSend([write(1n), write(2n), write(3n, tooMany), write(4n)])
      );
      assert.deepEqual([code, at], ["EINVAL", 2]);
      assert.match(String(msg), /wr\[2\] of 4/);
      const wcs = await x.cq.pollUntil(2);
      assert.deepEqual(wcs.map((w) => w.wrId), [1n, 2n]);
      await cluster.sleep(SETTLE_NS);
      assert.deepEqual(x.cq.poll(4), [], "none after the bad one");
      // A WR no C struct could hold stops the list the same way: the one before it is posted.
      const nan = { ...sge, addr: NaN };
      const [code2, at2, msg2] = badWr(() => qx.postSend([write(6n), write(7n, [nan]), write(8n)]));
      assert.deepEqual([code2, at2], ["EINVAL", 1]);
      assert.match(
        String(msg2),
        /sgList\[0\]\.addr NaN .*\(wr\[1\] of 3: the 1 before it were posted/,
      );
      assert.deepEqual((await x.cq.pollUntil(1)).map((w) => w.wrId), [6n]);
      await cluster.sleep(SETTLE_NS);
      assert.deepEqual(x.cq.poll(4), [], "none after the bad one");
      // One WR: the error is the WR's own, at index 0.
      assert.deepEqual(badWr(() => qx.postSend(write(5n, tooMany))).slice(0, 2), [
        "EINVAL",
        0,
      ]);
      // Receives: the queue holds 16; the 17th of a list is refused.
      const recvs = Array.from({ length: 17 }, (_, i) => ({ wrId: BigInt(100 + i), sgList: [] }));
      assert.deepEqual(badWr(() => qy.postRecv(recvs)).slice(0, 2), ["ENOMEM", 16]);
      const srq = await y.pd.createSrq({ maxWr: 2, maxSge: 1 });
      assert.deepEqual(badWr(() => srq.postRecv(recvs.slice(0, 3))).slice(0, 2), ["ENOMEM", 2]);
      assert.equal(srq.psrq.outstanding, 2);
    });
  });

  Deno.test(`rule 11 (${mode}): a WR no C struct could hold is EINVAL naming the field`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [qx, qy] = await pair(x, y, QpType.RC);
      const srq = await y.pd.createSrq({ maxWr: 2, maxSge: 1 });
      const sge = { addr: x.buf, length: 8, lkey: x.mr.lkey };
      const bad: [string, () => void, string, RegExp][] = [
        [
          "send NaN addr",
          () => postSendWr(qx, { ...x, buf: NaN }, 1n),
          "EINVAL",
          /sgList\[0\]\.addr NaN/,
        ],
        [
          "inline unmapped",
          () =>
            qx.postSend({
              wrId: 2n,
              opcode: WrOpcode.SEND,
              sendFlags: SendFlags.INLINE,
              sgList: [{ addr: 2 ** 52, length: 8, lkey: 0 }],
            }),
          "EFAULT",
          /inline sgList\[0\]/,
        ],
        [
          "remoteAddr",
          () =>
            qx.postSend({
              wrId: 3n,
              opcode: WrOpcode.RDMA_WRITE,
              sgList: [sge],
              remoteAddr: 1.5,
              rkey: y.mr.rkey,
            }),
          "EINVAL",
          /remoteAddr 1\.5 is not an address/,
        ],
        [
          "atomic operand",
          () =>
            qx.postSend({
              wrId: 4n,
              opcode: WrOpcode.ATOMIC_FETCH_AND_ADD,
              sgList: [sge],
              remoteAddr: y.buf,
              rkey: y.mr.rkey,
              compareAdd: 5 as unknown as bigint,
            }),
          "EINVAL",
          /compareAdd 5 is not a bigint/,
        ],
        [
          "null SGE",
          () => qy.postRecv({ wrId: 5n, sgList: [null as never] }),
          "EINVAL",
          /sgList\[0\] is not an SGE/,
        ],
        [
          "srq undefined addr",
          () => srq.postRecv({ wrId: 6n, sgList: [{ ...sge, addr: undefined as never }] }),
          "EINVAL",
          /post_srq_recv SRQ .*addr undefined/,
        ],
      ];
      for (const [what, fn, code, re] of bad) assert.match(await rejects(fn, code), re, what);
      assert.deepEqual([qx.pqp.sqOutstanding, srq.psrq.outstanding], [0, 0], "none of them posted");
      // The QP is untouched: the next good WR goes through.
      postWrite(qx, x, y, 7n, 8);
      assert.deepEqual((await x.cq.pollUntil(1)).map((w) => [w.wrId, w.status]), [[7n, 0]]);
    });
  });

  Deno.test(`rule 12 (${mode}): a UD send through an AH of another PD, or a destroyed one, fails`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [ux, uy] = await pair(x, y, QpType.UD);
      for (let i = 0n; i < 3n; i++) {
        uy.postRecv({ wrId: 100n + i, sgList: [{ addr: y.buf, length: 4096, lkey: y.mr.lkey }] });
      }
      const send = (wrId: bigint, ah: Ah) =>
        ux.postSend({
          wrId,
          opcode: WrOpcode.SEND,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
          ah,
          remoteQpn: uy.qpNum,
          remoteQkey: 0x11111111,
        });
      const recover = () => ux.modify({ state: QpState.RTS, curState: QpState.SQE });
      const other = await (await x.ctx.allocPd()).createAh({ dlid: y.lid });
      send(1n, other);
      assert.deepEqual((await x.cq.pollUntil(1)).map((w) => [w.wrId, w.status]), [[
        1n,
        WcStatus.LOC_QP_OP_ERR,
      ]]);
      assert.equal((await ux.query()).state, QpState.SQE);
      await recover();
      const gone = await x.pd.createAh({ dlid: y.lid });
      await gone.destroy();
      send(2n, gone);
      assert.equal((await x.cq.pollUntil(1))[0].status, WcStatus.LOC_QP_OP_ERR);
      await recover();
      send(3n, await x.pd.createAh({ dlid: y.lid })); // the QP's own PD: delivered
      assert.equal((await x.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
      assert.deepEqual((await y.cq.pollUntil(1)).map((w) => w.wrId), [100n]);
      await cluster.sleep(SETTLE_NS);
      assert.deepEqual(y.cq.poll(4), [], "nothing arrived from the refused sends");
    });
  });

  Deno.test(`rule 13 (${mode}): query_device's capability flags are mthca's`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const flags = x.ctx.queryDevice().deviceCapFlags;
      const has = (bit: number) => (flags & (1 << bit)) !== 0;
      // IBV_DEVICE_CHANGE_PHY_PORT 5, PORT_ACTIVE_EVENT 10, SYS_IMAGE_GUID 11, RC_RNR_NAK_GEN 12
      assert.deepEqual([5, 10, 11, 12].map(has), [true, true, true, true]);
      assert.equal(has(13), false, "no IBV_DEVICE_SRQ_RESIZE");
      const srq = await x.pd.createSrq({ maxWr: 4, maxSge: 1 });
      await rejects(() => srq.modify({ maxWr: 8 }), "EINVAL");
    });
  });

  Deno.test(`rule 14 (${mode}): a PSN past 24 bits is masked, not refused`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap: CAP });
      // x sends from PSN 0x123456 (given with bits 24..31 set); y expects exactly that.
      await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid }, {
        ...CONNECT,
        sqPsn: 0xab123456,
        rqPsn: 0x01000064,
      });
      assert.equal((await qx.query()).sqPsn, 0x123456);
      assert.equal((await qx.query()).rqPsn, 0x64);
      // The peer was told the masked PSNs (connectPair passes them through as given).
      assert.equal((await qy.query()).rqPsn, 0x123456);
      postWrite(qx, x, y, 1n, 8);
      assert.deepEqual((await x.cq.pollUntil(1)).map((w) => [w.wrId, w.status]), [[1n, 0]]);
      const q = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      await q.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
      const rtr = {
        state: QpState.RTR,
        ah: { dlid: y.lid },
        destQpNum: qy.qpNum,
        pathMtu: 2048,
        maxDestRdAtomic: 1,
        minRnrTimer: 1,
      };
      for (const bad of [2 ** 32, -1, 1.5]) {
        await rejects(() => q.modify({ ...rtr, rqPsn: bad }), "EINVAL");
      }
      assert.equal((await q.query()).state, QpState.INIT);
    });
  });

  Deno.test(`rule 15 (${mode}): create_qp's QP type: EPERM, EOPNOTSUPP or EINVAL as the kernel sorts it`, async () => {
    const { cluster, a, hosts } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const before = hosts[0].hca.stats().used;
      const attr = (type: number) => ({ type, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      // verbs.h: IBV_QPT_RAW_PACKET 8, IBV_QPT_XRC_SEND 9, IBV_QPT_XRC_RECV 10, IBV_QPT_DRIVER 0xff;
      // ib_verbs.h: IB_QPT_SMI 0, IB_QPT_GSI 1.
      const want: [number, string][] = [
        [8, "EPERM"],
        [9, "EOPNOTSUPP"],
        [0xff, "EOPNOTSUPP"],
        [0, "EINVAL"],
        [1, "EINVAL"],
        [5, "EINVAL"],
        [10, "EINVAL"],
        [0x100, "EINVAL"],
      ];
      for (const [type, code] of want) {
        const msg = await rejects(() => x.pd.createQp(attr(type)), code);
        if (mode === "native") assert.match(msg, new RegExp(`QP type ${type}\\b`), msg);
      }
      assert.deepEqual(hosts[0].hca.stats().used, before, "nothing left behind at the device");
      await (await x.pd.createQp(attr(QpType.UD))).destroy();
    });
  });

  Deno.test(`rule 16 (${mode}): resize_cq below the unpolled completions is EINVAL`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const cq = await x.ctx.createCq(31);
      const cap = { maxSendWr: 1, maxRecvWr: 16, maxSendSge: 1, maxRecvSge: 1 };
      const qp = await x.pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
      await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
      for (let i = 0n; i < 10n; i++) qp.postRecv({ wrId: i, sgList: [] });
      await qp.modify({ state: QpState.ERR }); // ten flush completions, none polled
      await cluster.sleep(SETTLE_NS);
      const msg = await rejects(() => cq.resize(9), "EINVAL");
      assert.match(msg, /resize_cq: cqe 9 is fewer than the 10 unpolled completions/);
      assert.equal(cq.cqe, 31, "the CQ unchanged");
      await cq.resize(10); // as many as are unpolled: fine (a ring of 15)
      assert.equal(cq.cqe, 15);
      assert.deepEqual(
        cq.poll(16).map((w) => [w.wrId, w.status]),
        Array.from({ length: 10 }, (_, i) => [BigInt(i), WcStatus.WR_FLUSH_ERR]),
      );
    });
  });

  Deno.test(`rule 17 (${mode}): destroying a QP attached to a multicast group is EBUSY`, async () => {
    const { cluster, a, hosts } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const mgid = (n: number) =>
        new Uint8Array([0xff, 0x12, 0x40, 0x1b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, n]);
      const ud = await x.pd.createQp({ type: QpType.UD, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      await ud.attachMcast(mgid(1), 0xc001);
      await ud.attachMcast(mgid(2), 0xc002);
      assert.match(await rejects(() => ud.destroy(), "EBUSY"), /multicast/);
      await ud.detachMcast(mgid(1), 0xc001);
      await rejects(() => ud.destroy(), "EBUSY");
      await ud.detachMcast(mgid(2), 0xc002);
      await ud.destroy();
      // Closing the context is not a destroy: it detaches what is still attached.
      const before = hosts[0].hca.stats().used;
      const ctx = await a.openDevice();
      const pd = await ctx.allocPd();
      const cq = await ctx.createCq(4);
      const q = await pd.createQp({ type: QpType.UD, sendCq: cq, recvCq: cq, cap: CAP });
      await q.attachMcast(mgid(3), 0xc003);
      await ctx.close();
      assert.deepEqual(hosts[0].hca.stats().used, before);
    });
  });

  Deno.test(`rule 18 (${mode}): a full queue is ENOMEM before the WR's SGEs are looked at`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [qx, qy] = await pair(x, y, QpType.RC);
      const sge = { addr: x.buf, length: 8, lkey: x.mr.lkey };
      const write = (wrId: bigint, sgList = [sge]) => writeWr(y, wrId, sgList, false);
      const tooMany = (n: number) => Array.from({ length: n + 1 }, () => sge);
      // With room, too many SGEs is EINVAL (rule 1); with none, ENOMEM.
      assert.match(
        await rejects(() => qx.postSend(write(1n, tooMany(qx.cap.maxSendSge))), "EINVAL"),
        /SGEs exceed max_send_sge/,
      );
      for (let i = 0; i < qx.cap.maxSendWr; i++) qx.postSend(write(BigInt(10 + i)));
      assert.match(
        await rejects(() => qx.postSend(write(2n, tooMany(qx.cap.maxSendSge))), "ENOMEM"),
        /send queue full/,
      );
      // Receives: SGEs never looked at (the queue is full), so any address serves.
      const recv = (wrId: bigint, n: number) => ({ wrId, sgList: tooMany(n - 1) });
      for (let i = 0; i < qy.cap.maxRecvWr; i++) qy.postRecv(recv(BigInt(100 + i), 0));
      assert.match(
        await rejects(() => qy.postRecv(recv(3n, qy.cap.maxRecvSge + 1)), "ENOMEM"),
        /receive queue full/,
      );
      const srq = await y.pd.createSrq({ maxWr: 2, maxSge: 1 });
      assert.match(await rejects(() => srq.postRecv(recv(4n, 2)), "EINVAL"), /exceed max_sge/);
      srq.postRecv(recv(5n, 0));
      srq.postRecv(recv(6n, 0));
      assert.match(await rejects(() => srq.postRecv(recv(7n, 2)), "ENOMEM"), /SRQ full/);
      assert.equal(srq.psrq.outstanding, 2);
    });
  });

  Deno.test(`rule 19 (${mode}): modify_qp's fields are the uverbs ABI's, in every mode`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [qx] = await pair(x, y, QpType.RC);
      const rights = Access.REMOTE_WRITE | Access.REMOTE_READ;
      // IBV_ACCESS_MW_BIND (1 << 4), IBV_ACCESS_RELAXED_ORDERING (1 << 20), bit 31: taken.
      for (const extra of [1 << 4, 1 << 20, 2 ** 31]) {
        await qx.modify({ state: QpState.RTS, accessFlags: rights + extra });
        assert.equal((await qx.query()).accessFlags, rights, `extra bit 0x${extra.toString(16)}`);
      }
      await qx.modify({ state: QpState.RTS, accessFlags: Access.REMOTE_WRITE });
      const bad: [string, Record<string, unknown>][] = [
        ["accessFlags 2^32", { accessFlags: 2 ** 32 }],
        ["accessFlags -1", { accessFlags: -1 }],
        ["pathMigState 256", { pathMigState: 256 }],
      ];
      for (const [what, attr] of bad) {
        await rejects(() => qx.modify({ state: QpState.RTS, ...attr }), "EINVAL");
        const q = await qx.query();
        assert.deepEqual([q.state, q.accessFlags], [QpState.RTS, Access.REMOTE_WRITE], what);
      }
      await qx.modify({ state: QpState.SQD });
      const av = (ah: Record<string, unknown>) => ({
        state: QpState.SQD,
        ah: { dlid: y.lid, ...ah },
      });
      const dgid = new Uint8Array(16);
      dgid[0] = 0xfe;
      dgid[1] = 0x80;
      for (
        const ah of [
          { staticRate: 256 },
          { grh: { dgid, hopLimit: 256 } },
          { grh: { dgid, flowLabel: 2 ** 32 } },
        ]
      ) {
        await rejects(() => qx.modify(av(ah)), "EINVAL");
        assert.equal((await qx.query()).state, QpState.SQD);
      }
      // The widest values each field holds are taken.
      await qx.modify({
        ...av({ staticRate: 255, grh: { dgid, hopLimit: 255 } }),
        pathMigState: 2,
      });
      // query_qp reads the path migration state from the QP context: IB_MIG_MIGRATED, REARM and
      // ARMED (0, 1, 2) as given, any other value as ARMED, the context code __mthca_modify_qp
      // leaves for a value its switch has no case for (mthca_query_qp: to_ib_mig_state).
      for (const [given, read] of [[1, 1], [0, 0], [7, 2], [255, 2], [2, 2]]) {
        await qx.modify({ state: QpState.SQD, pathMigState: given });
        assert.equal((await qx.query()).pathMigState, read, `pathMigState ${given}`);
      }
    });
  });

  Deno.test(`rule 20 (${mode}): query_qp's sqDraining is true while SQD drains`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      // Writes of 1 MiB: each takes longer on the wire than a modify_qp and a query_qp.
      const x = await side(a, 64, 1 << 20), y = await side(b, 64, 1 << 20);
      const [qx] = await pair(x, y, QpType.RC);
      assert.equal((await qx.query()).sqDraining, false, "RTS");
      for (let i = 0; i < 4; i++) postWrite(qx, x, y, BigInt(i), 1 << 20);
      await qx.modify({ state: QpState.SQD });
      const q = await qx.query();
      assert.deepEqual([q.state, q.sqDraining], [QpState.SQD, true]);
      await cluster.sleep(50 * SETTLE_NS);
      const drained = await qx.query();
      assert.deepEqual([drained.state, drained.sqDraining], [QpState.SQD, false]);
      // Given back to modify (as a query's result may be), it is ignored.
      await qx.modify({ state: QpState.RTS, sqDraining: true });
      assert.equal((await qx.query()).sqDraining, false);
    });
  });

  Deno.test(`rule 21 (${mode}): resize_cq keeps every completion on any lap of the new ring`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const cq = await x.ctx.createCq(3); // a ring of 4
      const cap = { maxSendWr: 1, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 };
      const qp = await x.pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
      await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
      qp.postRecv([{ wrId: 1n, sgList: [] }, { wrId: 2n, sgList: [] }, { wrId: 3n, sgList: [] }]);
      await qp.modify({ state: QpState.ERR }); // three flush completions
      await cluster.sleep(SETTLE_NS);
      const flushed = (ws: { wrId: bigint; status: number }[]) => ws.map((w) => [w.wrId, w.status]);
      const F = WcStatus.WR_FLUSH_ERR;
      assert.deepEqual(flushed(cq.poll(2)), [[1n, F], [2n, F]]); // the consumer index is 2
      // A ring of 2: index 2 is on its second lap, where a zeroed entry has the owner bit the
      // device writes. The unpolled completion moves over, and nothing else is read as one.
      await cq.resize(1);
      assert.equal(cq.cqe, 1);
      assert.deepEqual(flushed(cq.poll(4)), [[3n, F]]);
      assert.deepEqual(cq.poll(4), []);
      qp.postRecv({ wrId: 4n, sgList: [] }); // in ERR: flushed at once
      await cluster.sleep(SETTLE_NS);
      assert.deepEqual(flushed(cq.poll(4)), [[4n, F]]);
      // Growing to a ring of 8, where the consumer index (4) is on the first lap.
      await cq.resize(7);
      qp.postRecv({ wrId: 5n, sgList: [] });
      await cluster.sleep(SETTLE_NS);
      assert.deepEqual(flushed(cq.poll(4)), [[5n, F]]);
      // Completions the device writes while the resize is on its way (in a split guest into
      // dom0's old shadow of the CQ, which dom0 moves to the new one) are kept too.
      qp.postRecv([{ wrId: 6n, sgList: [] }, { wrId: 7n, sgList: [] }]);
      await cq.resize(3);
      assert.deepEqual(flushed(await cq.pollUntil(2, { timeoutNs: SETTLE_NS })), [[6n, F], [
        7n,
        F,
      ]]);
      assert.deepEqual(cq.poll(4), []);
    });
  });
}
