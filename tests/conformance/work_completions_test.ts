/**
 * Work completion fields as ibv_poll_cq(3) and libmthca's `mthca_poll_one`
 * fill them, in every mode (native, bypass, split: DESIGN §9, invariant 11):
 *
 * - A SEND or RDMA WRITE with immediate data completes on the sender's side
 *   with opcode SEND / RDMA_WRITE and `wc_flags` WITH_IMM (libmthca:
 *   MTHCA_OPCODE_SEND_IMM, MTHCA_OPCODE_RDMA_WRITE_IMM; rxe and mlx4 too).
 * - On the receiver an RDMA WRITE with immediate completes as
 *   RECV_RDMA_WITH_IMM with WITH_IMM, the immediate, and `byte_len` the
 *   length written (the CQE's byte count).
 * - A UD receive reports the sender's QP, LID and SL, the P_Key index, and a
 *   `byte_len` that counts the 40 bytes of GRH space; no GRH flag when the
 *   datagram came without one.
 */
import assert from "node:assert/strict";
import { QpType, SendFlags, WcFlags, WcOpcode, WcStatus, WrOpcode } from "../../mod.ts";
import { MODES, pair, side, twoDomains } from "./helpers.ts";

for (const mode of MODES) {
  Deno.test(`work completions (${mode}): immediate data on both sides, UD source fields`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [qx, qy] = await pair(x, y, QpType.RC);
      const recvAt = y.buf + 16384;
      for (
        const [opcode, wcOp] of [
          [WrOpcode.SEND_WITH_IMM, WcOpcode.SEND],
          [WrOpcode.RDMA_WRITE_WITH_IMM, WcOpcode.RDMA_WRITE],
          [WrOpcode.SEND, WcOpcode.SEND],
          [WrOpcode.RDMA_WRITE, WcOpcode.RDMA_WRITE],
        ] as const
      ) {
        qy.postRecv({ wrId: 9n, sgList: [{ addr: recvAt, length: 4096, lkey: y.mr.lkey }] });
        qx.postSend({
          wrId: 1n,
          opcode,
          immData: 0x1234,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: x.buf, length: 100, lkey: x.mr.lkey }],
          remoteAddr: y.buf,
          rkey: y.mr.rkey,
        });
        const [sent] = await x.cq.pollUntil(1);
        assert.equal(sent.status, WcStatus.SUCCESS);
        assert.equal(sent.opcode, wcOp);
        const imm = opcode === WrOpcode.SEND_WITH_IMM || opcode === WrOpcode.RDMA_WRITE_WITH_IMM;
        assert.equal(sent.wcFlags, imm ? WcFlags.WITH_IMM : 0, `sender's flags, opcode ${opcode}`);
        if (opcode === WrOpcode.RDMA_WRITE) continue; // consumes no receive (it is the last)
        const [got] = await y.cq.pollUntil(1);
        assert.equal(got.status, WcStatus.SUCCESS);
        assert.equal(got.byteLen, 100);
        assert.equal(got.wcFlags, imm ? WcFlags.WITH_IMM : 0);
        if (imm) assert.equal(got.immData, 0x1234);
        assert.equal(
          got.opcode,
          opcode === WrOpcode.RDMA_WRITE_WITH_IMM ? WcOpcode.RECV_RDMA_WITH_IMM : WcOpcode.RECV,
        );
      }
      const [ux, uy] = await pair(x, y, QpType.UD);
      const ah = await x.pd.createAh({ dlid: y.lid, sl: 3 });
      uy.postRecv({ wrId: 20n, sgList: [{ addr: recvAt, length: 4096, lkey: y.mr.lkey }] });
      ux.postSend({
        wrId: 21n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 100, lkey: x.mr.lkey }],
        ah,
        remoteQpn: uy.qpNum,
        remoteQkey: 0x11111111,
      });
      assert.equal((await x.cq.pollUntil(1))[0].wcFlags, 0);
      const [ud] = await y.cq.pollUntil(1);
      assert.equal(ud.status, WcStatus.SUCCESS);
      assert.deepEqual(
        [ud.byteLen, ud.srcQp, ud.slid, ud.sl, ud.pkeyIndex, ud.wcFlags],
        [40 + 100, ux.qpNum, x.lid, 3, 0, 0],
      );
    });
  });
}
