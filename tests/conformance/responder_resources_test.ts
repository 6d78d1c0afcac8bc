/**
 * A QP's remote rights and responder resources, in every mode (native,
 * bypass, split: DESIGN §9, invariant 11):
 *
 * 1. A QP with no responder resources (max_dest_rd_atomic 0) takes no RDMA
 *    READ or atomic, whatever its access flags say: only REMOTE_WRITE of its
 *    rights stays, and query_qp reports that (mthca's get_hw_access_flags,
 *    as mlx4's and mlx5's; rxe refuses such a request too). A READ to it
 *    completes in error, as one to a QP without REMOTE_READ does.
 * 2. SQD->SQD changes what the transition table lets it change on an RC QP
 *    (Linux qp_state_table: among them MAX_DEST_RD_ATOMIC and PKEY_INDEX),
 *    at the device: the rights the QP was given come back with responder
 *    resources (mthca keeps them as atomic_rd_en), and query_qp reads the
 *    new P_Key index from the QP context.
 * 3. A responder keeps the result of as many atomics as its max_dest_rd_atomic lets be
 *    outstanding, so a duplicate of any of them is answered from it.
 * 4. The depth and rights last given outlive a RESET (mthca's resp_depth and atomic_rd_en).
 */
import assert from "node:assert/strict";
import {
  Access,
  connectAttrs,
  connectPair,
  type Qp,
  QpState,
  QpType,
  SendFlags,
  WcStatus,
  WrOpcode,
} from "../../mod.ts";
import { CAP, CONNECT, MODES, type Side, side, twoDomains } from "./helpers.ts";

/** An RC pair whose second QP (the responder) has `maxDestRdAtomic` 0. */
async function noResponderResources(x: Side, y: Side): Promise<[Qp, Qp]> {
  const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
  const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap: CAP });
  const ends: [Qp, Qp, Side, number][] = [[qx, qy, y, CONNECT.maxDestRdAtomic!], [qy, qx, x, 0]];
  for (const [qp, peer, at, maxDestRdAtomic] of ends) {
    for (
      const attr of connectAttrs(QpType.RC, {
        ...CONNECT,
        maxDestRdAtomic,
        remoteQpn: peer.qpNum,
        dlid: at.lid,
      })
    ) await qp.modify(attr);
  }
  return [qx, qy];
}

function postRead(qp: Qp, x: Side, y: Side, wrId: bigint): void {
  qp.postSend({
    wrId,
    opcode: WrOpcode.RDMA_READ,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
    remoteAddr: y.buf,
    rkey: y.mr.rkey,
  });
}

const REMOTE = Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC;

for (const mode of MODES) {
  Deno.test(`responder resources (${mode}): none means no RDMA READ or atomic`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [qx, qy] = await noResponderResources(x, y);
      const q = await qy.query();
      // mthca_query_qp reports the depth as `1 << log` of the QP context, 1 for 0: the rights
      // are what say the QP takes no RDMA READ or atomic.
      assert.equal(q.maxDestRdAtomic, 1);
      assert.equal(q.accessFlags! & REMOTE, Access.REMOTE_WRITE, "READ and atomic rights dropped");
      // RDMA WRITE is still taken.
      qx.postSend({
        wrId: 1n,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
        remoteAddr: y.buf,
        rkey: y.mr.rkey,
      });
      assert.equal((await x.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
      postRead(qx, x, y, 2n);
      const [wc] = await x.cq.pollUntil(1);
      assert.equal(wc.wrId, 2n);
      // An operation the QP does not enable is an Invalid Request (rxe check_op_valid; rxe
      // answers max_dest_rd_atomic 0 with the same NAK), not a Remote Access Error.
      assert.equal(wc.status, WcStatus.REM_INV_REQ_ERR);
    });
  });

  Deno.test(`responder resources (${mode}): SQD->SQD gives them, and a P_Key index, at the device`, async () => {
    // Index 1 holds a partition both ends may use (a guest is given only its own).
    const { cluster, a, b } = await twoDomains(mode, "pcix-sdr-2006", [0x8001]);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [qx, qy] = await noResponderResources(x, y);
      await qy.modify({ state: QpState.SQD });
      await qy.modify({ state: QpState.SQD, maxDestRdAtomic: 2, pkeyIndex: 1 });
      const q = await qy.query();
      assert.equal(q.state, QpState.SQD);
      assert.equal(q.accessFlags! & REMOTE, REMOTE, "the rights given at INIT come back");
      assert.equal(q.pkeyIndex, 1, "the device holds the new P_Key index");
      await qy.modify({ state: QpState.SQD, pkeyIndex: 0 });
      await qy.modify({ state: QpState.RTS });
      y.dom.memory.write(y.buf, new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]));
      postRead(qx, x, y, 3n);
      const [wc] = await x.cq.pollUntil(1);
      assert.equal(wc.status, WcStatus.SUCCESS);
      assert.deepEqual(x.dom.memory.read(x.buf, 8), new Uint8Array([9, 8, 7, 6, 5, 4, 3, 2]));
    });
  });

  Deno.test(`responder resources (${mode}): a QP reset keeps the depth last given, as mthca's resp_depth`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const peer = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap: CAP });
      const qp = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      const [init, rtr] = connectAttrs(QpType.RC, {
        ...CONNECT,
        remoteQpn: peer.qpNum,
        dlid: y.lid,
      });
      const rights = async () => (await qp.query()).accessFlags! & REMOTE;
      await qp.modify({ ...init, accessFlags: REMOTE });
      // A new QP has no responder depth yet (mthca_alloc_qp_common: resp_depth 0).
      assert.equal(await rights(), Access.REMOTE_WRITE);
      await qp.modify(rtr);
      assert.equal(await rights(), REMOTE);
      // RESET clears neither qp->resp_depth nor qp->atomic_rd_en (__mthca_modify_qp sets them
      // only from a modify_qp that gives them): RESET->INIT's rights are written with the
      // depth RTR gave, and READ and atomic stay.
      await qp.modify({ state: QpState.RESET });
      await qp.modify({ ...init, accessFlags: REMOTE });
      assert.equal(await rights(), REMOTE);
      // Until a modify_qp gives the depth 0.
      await qp.modify({ ...rtr, maxDestRdAtomic: 0 });
      assert.equal(await rights(), Access.REMOTE_WRITE);
    });
  });
}

for (const mode of MODES) {
  Deno.test(`responder resources (${mode}): every outstanding atomic's result is kept for a duplicate`, async () => {
    // A duplicate atomic is answered with the saved result, never run again (IBTA vol 1 §9.7.5,
    // duplicate requests); the responder keeps one per responder resource, max_dest_rd_atomic of
    // them (Linux rxe_qp.c: alloc_rd_atomic_resources(qp, max_dest_rd_atomic)). A device of 32 (a profile's
    // maxRdAtomic) and the answers to the first 20 of 32 atomics lost: the requester asks again
    // from the first. Before, the responder kept 16 results whatever the depth: the oldest were
    // gone, it answered nothing, and the requester ran out of retries (RETRY_EXC_ERR).
    const depth = 32;
    const { cluster, a, b } = await twoDomains(mode, {
      base: "pcix-sdr-2006",
      hca: { maxRdAtomic: depth },
    });
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const cap = { ...CAP, maxSendWr: depth };
      const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
      const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap });
      await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid }, {
        ...CONNECT,
        maxRdAtomic: depth,
        maxDestRdAtomic: depth,
        timeout: 10,
      });
      assert.equal((await qy.query()).maxDestRdAtomic, depth);
      cluster.fabric.addFault({
        kind: "drop",
        opcode: 0x12, // the BTH opcode of an RC ATOMIC ACKNOWLEDGE (hca/FORMATS.md §12)
        probability: 1,
        limit: 20,
      });
      for (let i = 0; i < depth; i++) {
        qx.postSend({
          wrId: BigInt(i),
          opcode: WrOpcode.ATOMIC_FETCH_AND_ADD,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: x.buf + 8 * i, length: 8, lkey: x.mr.lkey }],
          remoteAddr: y.buf,
          rkey: y.mr.rkey,
          compareAdd: 1n,
        });
      }
      const wcs = await x.cq.pollUntil(depth);
      assert.deepEqual(wcs.map((w) => w.status), wcs.map(() => WcStatus.SUCCESS));
      const u64 = (d: Side, at: number) =>
        new DataView(d.dom.memory.read(at, 8).slice().buffer).getBigUint64(0, true);
      assert.equal(u64(y, y.buf), BigInt(depth), "each atomic ran once");
      for (let i = 0; i < depth; i++) assert.equal(u64(x, x.buf + 8 * i), BigInt(i), `result ${i}`);
    });
  });
}
