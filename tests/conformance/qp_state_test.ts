/**
 * The QP state machine through the verbs API (IBTA vol. 1 §11.2.4.2, Linux
 * `qp_state_table`): for every QP type and every (from, to) pair, the
 * transition succeeds with its required attributes; fails with EINVAL —
 * leaving the QP where it was — without any one of them, with a forbidden
 * one, or when the pair is not a transition at all.
 *
 * The expected table is written out here, from the specification, rather
 * than taken from the library (`QP_STATE_TABLE`): a wrong entry there must
 * fail this test, not silently become what is tested.
 */
import assert from "node:assert/strict";
import {
  Access,
  ATTR_MASK_BITS,
  connectAttrs,
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
import {
  CAP,
  CONNECT,
  MODES,
  pair,
  rejects,
  type Side,
  side,
  twoDomains,
  twoHosts,
} from "./helpers.ts";

type Names = Record<"RC" | "UC" | "UD", string>;
const none: Names = { RC: "", UC: "", UD: "" };
const same = (n: string): Names => ({ RC: n, UC: n, UD: n });
const RTS_OPT: Names = {
  RC: "curState accessFlags altPath pathMigState minRnrTimer",
  UC: "curState accessFlags altPath pathMigState",
  UD: "curState qkey",
};
/** Every legal `from>to`, with the attributes each type requires and may add. */
const SPEC: Record<string, { req: Names; opt: Names }> = {
  "RESET>RESET": { req: none, opt: none },
  "RESET>INIT": {
    req: {
      RC: "pkeyIndex port accessFlags",
      UC: "pkeyIndex port accessFlags",
      UD: "pkeyIndex port qkey",
    },
    opt: none,
  },
  "INIT>INIT": {
    req: none,
    opt: {
      RC: "pkeyIndex port accessFlags",
      UC: "pkeyIndex port accessFlags",
      UD: "pkeyIndex port qkey",
    },
  },
  "INIT>RTR": {
    req: {
      RC: "ah pathMtu destQpNum rqPsn maxDestRdAtomic minRnrTimer",
      UC: "ah pathMtu destQpNum rqPsn",
      UD: "",
    },
    opt: {
      RC: "altPath accessFlags pkeyIndex",
      UC: "altPath accessFlags pkeyIndex",
      UD: "pkeyIndex qkey",
    },
  },
  "RTR>RTS": {
    req: { RC: "timeout retryCnt rnrRetry sqPsn maxRdAtomic", UC: "sqPsn", UD: "sqPsn" },
    opt: RTS_OPT,
  },
  "RTS>RTS": { req: none, opt: RTS_OPT },
  "RTS>SQD": { req: none, opt: same("enSqdAsyncNotify") },
  "SQD>RTS": { req: none, opt: RTS_OPT },
  "SQD>SQD": {
    req: none,
    opt: {
      RC: "port ah timeout retryCnt rnrRetry maxRdAtomic maxDestRdAtomic altPath accessFlags " +
        "pkeyIndex minRnrTimer pathMigState",
      UC: "ah altPath accessFlags pkeyIndex pathMigState",
      UD: "pkeyIndex qkey",
    },
  },
  "SQE>RTS": { req: none, opt: { RC: "", UC: "curState accessFlags", UD: "curState qkey" } },
};
for (const from of ["INIT", "RTR", "RTS", "SQD", "SQE", "ERR"]) {
  SPEC[`${from}>RESET`] = { req: none, opt: none };
  SPEC[`${from}>ERR`] = { req: none, opt: none };
}

const TYPE_KEY = { [QpType.RC]: "RC", [QpType.UC]: "UC", [QpType.UD]: "UD" } as const;

/** The spec's entry for (from, to, type): required and optional names, or undefined. */
function spec(from: number, to: number, type: QpType) {
  const e = SPEC[`${stateName(from)}>${stateName(to)}`];
  if (!e) return undefined;
  const k = TYPE_KEY[type as 2 | 3 | 4];
  const split = (n: string) => n.split(" ").filter((w) => w) as QpAttrName[];
  return { req: split(e.req[k]), opt: split(e.opt[k]) };
}

Deno.test("the library's QP state table is the specification's, entry for entry", () => {
  for (const type of [QpType.RC, QpType.UC, QpType.UD]) {
    for (let from = S.RESET; from <= S.ERR; from++) {
      for (let to = S.RESET; to <= S.ERR; to++) {
        const want = spec(from, to, type);
        const got = QP_STATE_TABLE[from][to];
        const where = `${stateName(from)}->${stateName(to)} ${TYPE_KEY[type as 2 | 3 | 4]}`;
        assert.equal(got !== undefined, want !== undefined, `${where}: legal?`);
        if (!got || !want) continue;
        const t = type as 2 | 3 | 4;
        assert.deepEqual(maskNames(got.req[t]).sort(), [...want.req].sort(), `${where} required`);
        assert.deepEqual(maskNames(got.opt[t]).sort(), [...want.opt].sort(), `${where} optional`);
      }
    }
  }
});

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
  const [init, rtr, rts] = connectAttrs(type, { ...CONNECT, remoteQpn: peer.qpNum, dlid: peerLid });
  await qp.modify(init);
  if (target === S.INIT) return;
  if (target === S.ERR) return await qp.modify({ state: S.ERR });
  await qp.modify(rtr);
  if (target === S.RTR) return;
  await qp.modify(rts);
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
          const tr = spec(from, to, type);
          const where = `${stateName(from)}->${stateName(to)}`;
          if (!tr) {
            await rejects(() => qp.modify({ state: to as S }), "EINVAL");
            assert.equal(await stateOf(qp), from, `${where} refused, QP unchanged`);
            checked++;
          } else {
            const req = tr.req;
            for (const missing of req) {
              const attr = attrsFor(req.filter((n) => n !== missing), all, to);
              const msg = await rejects(() => qp.modify(attr), "EINVAL");
              assert.match(msg, new RegExp(`requires .*${missing}`), where);
              assert.equal(await stateOf(qp), from, `${where} without ${missing}: unchanged`);
              checked++;
            }
            const allowed = new Set<QpAttrName>(["state", ...tr.req, ...tr.opt]);
            const forbidden = (Object.keys(ATTR_MASK_BITS) as QpAttrName[])
              .filter((n) => !allowed.has(n));
            for (const extra of forbidden) {
              const msg = await rejects(
                () => qp.modify(attrsFor([...req, extra], all, to)),
                "EINVAL",
              );
              assert.match(msg, new RegExp(`${extra}`), `${where} names ${extra}`);
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
      assert.ok(checked > 350, `${checked} checks`);
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

// mthca_modify_qp reads the QP's current state and stores the new one under the QP's mutex
// (qp->mutex, as mthca_query_qp): two modify_qp calls on one QP at once run one after the other,
// the second from the state the first left. Two RESET->INIT at once are RESET->INIT then
// INIT->INIT, both successes, in every mode; two RTS->SQD, RTS->SQD then SQD->SQD.
for (const mode of MODES) {
  Deno.test(`modify_qp (${mode}): two at once on one QP run one after the other`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const qp = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap: CAP });
      const init = { state: S.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 };
      await Promise.all([qp.modify(init), qp.modify(init)]);
      assert.equal(await stateOf(qp), S.INIT);
      // The whole call waits (ib_uverbs' checks too, one interleaving Linux allows), so a chain
      // issued at once takes the QP up as one issued in turn, a guest's kernel as bare metal's.
      const peer = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap: CAP });
      const [, rtr, rts] = connectAttrs(QpType.RC, {
        ...CONNECT,
        remoteQpn: peer.qpNum,
        dlid: y.lid,
      });
      await Promise.all([qp.modify(rtr), qp.modify(rts), qp.query()]);
      assert.equal(await stateOf(qp), S.RTS);
      const [qx] = await pair(x, y, QpType.RC);
      await Promise.all([qx.modify({ state: S.SQD }), qx.modify({ state: S.SQD }), qx.query()]);
      assert.equal(await stateOf(qx), S.SQD);
    });
  });
}

// SQD->SQD takes an RC QP's retry count (qp_state_table; mthca passes it to the device with
// OPTPAR_RETRY_COUNT): the next message to a peer that never answers is retried that many times,
// not as often as the count the QP had before its drain.
for (const mode of MODES) {
  Deno.test(`modify_qp (${mode}): SQD->SQD's retry count is the next message's`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const [qx, qy] = await pair(x, y, QpType.RC); // retryCnt 7, timeout 14 (67 ms)
      await qx.modify({ state: S.SQD });
      await qx.modify({ state: S.SQD, retryCnt: 0, timeout: 10 }); // 4.2 ms, no retry
      await qx.modify({ state: S.RTS });
      await qy.modify({ state: S.RESET }); // the peer answers nothing any more
      const t0 = a.engine.now;
      qx.postSend({
        wrId: 1n,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
        remoteAddr: y.buf,
        rkey: y.mr.rkey,
      });
      const [wc] = await x.cq.pollUntil(1);
      assert.equal(wc.status, WcStatus.RETRY_EXC_ERR);
      const ms = (a.engine.now - t0) / 1e6;
      assert.ok(ms < 8, `one 4.2 ms timeout, no retry: failed after ${ms.toFixed(1)} ms`);
    });
  });
}
