/**
 * `ibv_rereg_mr(3)` as libibverbs and libmthca answer it, in every mode (native, bypass, split:
 * DESIGN §9, invariant 11). libibverbs checks the request first (verbs.c `ibv_rereg_mr`): flags
 * outside IBV_REREG_MR_CHANGE_TRANSLATION | CHANGE_PD | CHANGE_ACCESS, a new translation with a
 * zero length or a NULL address, or access flags without CHANGE_ACCESS are EINVAL. Then it asks
 * the provider, and libmthca has no rereg_mr (nor has the kernel's mthca a rereg_user_mr): the
 * verbs dummy op answers EOPNOTSUPP (dummy_ops.c `rereg_mr`). Either way the call returns
 * IBV_REREG_MR_ERR_INPUT, no kernel call is made, and the region is as it was: its keys, extent
 * and access still work.
 */
import assert from "node:assert/strict";
import { Access, QpType, ReregMrFlags, SendFlags, WcStatus, WrOpcode } from "../../mod.ts";
import { MODES, pair, rejects, side, twoDomains } from "./helpers.ts";

for (const mode of MODES) {
  Deno.test(`rereg_mr (${mode}): libibverbs' input checks, then EOPNOTSUPP on mthca`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const pd2 = await x.ctx.allocPd();
      const mr = await x.pd.regMr(x.buf, 8192, Access.LOCAL_WRITE);
      const { CHANGE_TRANSLATION: T, CHANGE_PD: P, CHANGE_ACCESS: A } = ReregMrFlags;
      const einval: [number, Parameters<typeof mr.rereg>[1]][] = [
        [8, {}], // no such flag
        [T, { addr: x.buf, length: 0 }], // a translation of no bytes
        [T, { addr: 0, length: 4096 }], // a translation at NULL
        [P, { pd: pd2, access: Access.LOCAL_WRITE }], // access without CHANGE_ACCESS
      ];
      for (const [flags, args] of einval) await rejects(() => mr.rereg(flags, args), "EINVAL");
      for (
        const [flags, args] of [
          [T, { addr: x.buf, length: 4096 }],
          [P, { pd: pd2 }],
          [A, { access: Access.LOCAL_WRITE | Access.REMOTE_READ }],
          [T | P | A, { pd: pd2, addr: x.buf, length: 4096, access: 0 }],
          [0, {}],
        ] as const
      ) {
        assert.match(await rejects(() => mr.rereg(flags, args), "EOPNOTSUPP"), /rereg_mr/);
      }
      // The region is unchanged and still works: a SEND from it arrives.
      assert.deepEqual([mr.pd, mr.addr, mr.length, mr.access], [
        x.pd,
        x.buf,
        8192,
        Access.LOCAL_WRITE,
      ]);
      const [qx, qy] = await pair(x, y, QpType.RC);
      qy.postRecv({ wrId: 1n, sgList: [{ addr: y.buf, length: 64, lkey: y.mr.lkey }] });
      qx.postSend({
        wrId: 2n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 64, lkey: mr.lkey }],
      });
      assert.equal((await x.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
      assert.equal((await y.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
      await mr.dereg();
      await rejects(() => mr.rereg(A, { access: 0 }), "EINVAL");
    });
  });
}
