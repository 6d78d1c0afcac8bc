/**
 * A send WR whose flag word or UD destination no C field could hold (`unsigned int send_flags`,
 * `uint32_t remote_qpn`, `uint32_t remote_qkey` of `struct ibv_send_wr`) is refused with EINVAL
 * naming the field, as the other fields are (docs/api.md, `postSend`), in native, bypass and split
 * mode: before the check, a `NaN` `remoteQpn` was posted as QP 0 and a `NaN` `sendFlags` as an
 * unsignaled send.
 */
import assert from "node:assert/strict";
import { einval, MODES, oneDomain } from "./conformance/helpers.ts";
import { Access, QpState, QpType, SendFlags, WrOpcode } from "../mod.ts";

const setup = oneDomain;

for (const mode of MODES) {
  Deno.test(`post_send refuses a flag word or UD destination no C field holds (${mode})`, async () => {
    const { cluster, d } = await setup(mode);
    await cluster.run(async () => {
      const ctx = await d.openDevice();
      const pd = await ctx.allocPd();
      const addr = d.memory.alloc(4096, 4096);
      const mr = await pd.regMr(addr, 4096, Access.LOCAL_WRITE);
      const cq = await ctx.createCq(16);
      const ud = await pd.createQp({
        type: QpType.UD,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 },
      });
      await ud.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, qkey: 1 });
      await ud.modify({ state: QpState.RTR });
      await ud.modify({ state: QpState.RTS, sqPsn: 0 });
      const ah = await pd.createAh({ dlid: ctx.queryPort(1).lid });
      const wr = {
        wrId: 1n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr, length: 8, lkey: mr.lkey }],
        ah,
        remoteQpn: ud.qpNum,
        remoteQkey: 1,
      };
      for (
        const [field, v] of [
          ["remoteQpn", NaN],
          ["remoteQkey", NaN],
          ["remoteQpn", -1],
          ["sendFlags", NaN],
          ["sendFlags", "x"],
        ] as const
      ) {
        assert.throws(
          () => ud.postSend({ ...wr, [field]: v }),
          einval(new RegExp(`^EINVAL: post_send QP \\d+: ${field} ${v} is not a uint32$`)),
        );
      }
      // None of them was posted: the queue's four WQEs are all there for valid sends.
      for (let i = 0; i < 4; i++) ud.postSend({ ...wr, wrId: BigInt(i) });
      assert.equal((await cq.pollUntil(4)).length, 4);
      await ctx.close();
    });
  });
}
