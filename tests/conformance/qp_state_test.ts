/**
 * The QP state machine through the verbs API (IBTA vol. 1 §11.2.4.2, Linux
 * `qp_state_table`): for every QP type and every (from, to) pair, the
 * transition succeeds with its required attributes; fails with EINVAL —
 * leaving the QP where it was — without any one of them, with a forbidden
 * one, or when the pair is not a transition at all.
 */
import assert from "node:assert/strict";
import {
  Access,
  ATTR_MASK_BITS,
  maskNames,
  type Qp,
  QP_STATE_TABLE,
  type QpAttrName,
  QpState as S,
  QpType,
  SendFlags,
  stateName,
  WcStatus,
  WrOpcode,
} from "../../mod.ts";
import { initAttr, rejects, rtrAttr, rtsAttr, type Side, side, twoHosts } from "./helpers.ts";

/** A valid value for every attribute name, toward `peer`. */
function values(peerLid: number, peerQpn: number, from: number): Record<QpAttrName, unknown> {
  return {
    state: S.RESET,
    curState: from,
    enSqdAsyncNotify: false,
    accessFlags: Access.REMOTE_WRITE,
    pkeyIndex: 0,
    port: 1,
    qkey: 0x1234,
    ah: { dlid: peerLid },
    pathMtu: 1024,
    timeout: 14,
    retryCnt: 7,
    rnrRetry: 7,
    rqPsn: 5,
    maxRdAtomic: 1,
    altPath: { dlid: peerLid },
    minRnrTimer: 12,
    sqPsn: 5,
    maxDestRdAtomic: 1,
    pathMigState: 0,
    cap: { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 },
    destQpNum: peerQpn,
  };
}

function attrsFor(names: QpAttrName[], all: Record<QpAttrName, unknown>, to: number) {
  const a: Record<string, unknown> = { state: to };
  for (const n of names) if (n !== "state") a[n] = all[n];
  return a;
}

async function stateOf(qp: Qp): Promise<number> {
  return (await qp.query()).state;
}

/** Drive `qp` from RESET to `target` along the legal path (SQE by a local send error). */
async function bringTo(qp: Qp, x: Side, type: number, target: number, peer: Qp, peerLid: number) {
  if (target === S.RESET) return;
  await qp.modify(initAttr(type));
  if (target === S.INIT) return;
  if (target === S.ERR) return await qp.modify({ state: S.ERR });
  await qp.modify(rtrAttr(type, peerLid, peer.qpNum));
  if (target === S.RTR) return;
  await qp.modify(rtsAttr(type));
  if (target === S.RTS) return;
  if (target === S.SQD) return await qp.modify({ state: S.SQD });
  // SQE: a UC/UD send whose gather key is bad fails locally (IBTA §10.3.1).
  const wr = {
    wrId: 99n,
    opcode: WrOpcode.SEND,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey ^ 0xff }],
    ah: type === QpType.UD ? await x.pd.createAh({ dlid: peerLid }) : undefined,
    remoteQpn: peer.qpNum,
    remoteQkey: 0x1234,
  };
  qp.postSend(wr);
  const [wc] = await x.cq.pollUntil(1);
  assert.equal(wc.status, WcStatus.LOC_PROT_ERR);
}

for (const type of [QpType.RC, QpType.UC, QpType.UD]) {
  Deno.test(`QP state table through modify_qp: ${["", "", "RC", "UC", "UD"][type]}`, async () => {
    const { cluster, a, b } = await twoHosts();
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const cap = { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 };
      const peer = await y.pd.createQp({ type, sendCq: y.cq, recvCq: y.cq, cap });
      let checked = 0;
      for (let from: number = S.RESET; from <= S.ERR; from++) {
        if (from === S.SQE && type === QpType.RC) continue; // RC never enters SQE
        const qp = await x.pd.createQp({ type, sendCq: x.cq, recvCq: x.cq, cap });
        const all = values(y.lid, peer.qpNum, from);
        for (let to: number = S.RESET; to <= S.ERR; to++) {
          await bringTo(qp, x, type, from, peer, y.lid);
          assert.equal(await stateOf(qp), from, `reached ${stateName(from)}`);
          const tr = QP_STATE_TABLE[from][to];
          const where = `${stateName(from)}->${stateName(to)}`;
          if (!tr) {
            await rejects(() => qp.modify({ state: to as S }), "EINVAL");
            assert.equal(await stateOf(qp), from, `${where} refused, QP unchanged`);
            checked++;
          } else {
            const req = maskNames(tr.req[type as 2 | 3 | 4]);
            for (const missing of req) {
              const attr = attrsFor(req.filter((n) => n !== missing), all, to);
              const msg = await rejects(() => qp.modify(attr), "EINVAL");
              assert.match(msg, new RegExp(`requires .*${missing}`), where);
              assert.equal(await stateOf(qp), from, `${where} without ${missing}: unchanged`);
              checked++;
            }
            const allowed = tr.req[type as 2 | 3 | 4] | tr.opt[type as 2 | 3 | 4] |
              ATTR_MASK_BITS.state;
            const forbidden = (Object.keys(ATTR_MASK_BITS) as QpAttrName[])
              .filter((n) => !(ATTR_MASK_BITS[n] & allowed));
            if (forbidden.length > 0) {
              const extra = forbidden[(from * 7 + to) % forbidden.length];
              await rejects(() => qp.modify(attrsFor([...req, extra], all, to)), "EINVAL");
              assert.equal(await stateOf(qp), from, `${where} with ${extra}: unchanged`);
              checked++;
            }
            await qp.modify(attrsFor(req, all, to));
            assert.equal(await stateOf(qp), to, `${where} with exactly the required attributes`);
            checked++;
          }
          if ((await stateOf(qp)) !== S.RESET) await qp.modify({ state: S.RESET });
          // A QP back in RESET may not send: the provider refuses (IBTA §10.8.2).
        }
        await qp.destroy();
      }
      assert.ok(checked > 60, `${checked} checks`);
    });
  });
}

Deno.test("modify_qp: unknown attribute names are refused before the kernel is asked", async () => {
  const { cluster, a } = await twoHosts();
  await cluster.run(async () => {
    const x = await side(a);
    const qp = await x.pd.createQp({
      type: QpType.RC,
      sendCq: x.cq,
      recvCq: x.cq,
      cap: { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
    });
    const msg = await rejects(() => qp.modify({ state: S.INIT, portNum: 1 } as never), "EINVAL");
    assert.match(msg, /portNum/);
    // Out-of-range values fail the same way, and leave the QP in RESET.
    await rejects(
      () => qp.modify({ state: S.INIT, port: 9, pkeyIndex: 0, accessFlags: 0 }),
      "EINVAL",
    );
    assert.equal(await stateOf(qp), S.RESET);
  });
});
