/**
 * `connectQp`/`connectPair`: each step passes exactly the attributes the
 * IBTA table requires for the QP's type; RC/UC without a peer address and
 * mixed types are refused before any modify; a QP may loop back to itself.
 */
import assert from "node:assert/strict";
import {
  attrMask,
  connectAttrs,
  connectPair,
  connectQp,
  QP_STATE_TABLE,
  QpAttrMask,
  QpState,
  QpType,
  SendFlags,
  WcStatus,
  WrOpcode,
} from "../mod.ts";
import { rejects, side, twoHosts } from "./conformance/helpers.ts";

Deno.test("connectAttrs: exactly the required attributes of RESET→INIT→RTR→RTS, per type", () => {
  const path = [QpState.RESET, QpState.INIT, QpState.RTR, QpState.RTS];
  for (const type of [QpType.RC, QpType.UC, QpType.UD]) {
    const steps = connectAttrs(type, { remoteQpn: 0x48, dlid: 2 });
    steps.forEach((attr, i) => {
      const req = QP_STATE_TABLE[path[i]][path[i + 1]]!.req[type];
      assert.equal(attr.state, path[i + 1]);
      assert.equal(attrMask(attr as Record<string, unknown>).mask, req | QpAttrMask.STATE);
    });
  }
});

Deno.test("connectQp/connectPair refuse what cannot be connected, before touching the QP", async () => {
  const { cluster, a, b } = await twoHosts();
  await cluster.run(async () => {
    const x = await side(a), y = await side(b);
    const cap = { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 };
    const rc = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
    const uc = await y.pd.createQp({ type: QpType.UC, sendCq: y.cq, recvCq: y.cq, cap });
    assert.match(await rejects(() => connectQp(rc, { dlid: y.lid }), "EINVAL"), /remoteQpn/);
    // Both ends drew a random first PSN: one end alone cannot know the other's.
    assert.match(
      await rejects(() => connectQp(rc, { dlid: y.lid, remoteQpn: uc.qpNum }), "EINVAL"),
      /needs the peer's first PSN \(rqPsn/,
    );
    assert.match(
      await rejects(() => connectPair({ qp: rc, lid: x.lid }, { qp: uc, lid: y.lid }), "EINVAL"),
      /type 2 .* type 3/,
    );
    assert.equal((await rc.query()).state, QpState.RESET);
    assert.equal((await uc.query()).state, QpState.RESET);
  });
});

Deno.test("connectPair: a QP paired with itself loops back through its port", async () => {
  const { cluster, a } = await twoHosts();
  await cluster.run(async () => {
    const x = await side(a);
    const cap = { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 };
    const qp = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
    const end = { qp, lid: x.lid };
    await connectPair(end, end, { sqPsn: 7, rqPsn: 7 });
    x.dom.memory.write(x.buf, new Uint8Array([1, 2, 3, 4]));
    qp.postSend({
      wrId: 1n,
      opcode: WrOpcode.RDMA_WRITE,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: x.buf, length: 4, lkey: x.mr.lkey }],
      remoteAddr: x.buf + 4096,
      rkey: x.mr.rkey,
    });
    const [wc] = await x.cq.pollUntil(1);
    assert.equal(wc.status, WcStatus.SUCCESS);
    assert.deepEqual(x.dom.memory.read(x.buf + 4096, 4), new Uint8Array([1, 2, 3, 4]));
  });
});

Deno.test("connectPair: each QP starts at its own random initial PSN, drawn from its domain's seeded stream", async () => {
  const psns = async () => {
    const { cluster, a, b } = await twoHosts(); // seed 7 each time
    return await cluster.run(async () => {
      const x = await side(a), y = await side(b);
      const cap = { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 };
      const qx = await x.pd.createQp({ type: QpType.RC, sendCq: x.cq, recvCq: x.cq, cap });
      const qy = await y.pd.createQp({ type: QpType.RC, sendCq: y.cq, recvCq: y.cq, cap });
      await connectPair({ qp: qx, lid: x.lid }, { qp: qy, lid: y.lid });
      const ax = await qx.query(), ay = await qy.query();
      assert.equal(ax.sqPsn, qx.initialPsn);
      assert.equal(ax.rqPsn, qy.initialPsn, "x expects what y sends");
      assert.equal(ay.sqPsn, qy.initialPsn);
      assert.equal(ay.rqPsn, qx.initialPsn);
      x.dom.memory.write(x.buf, new Uint8Array([9, 8, 7]));
      qx.postSend({
        wrId: 1n,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: x.buf, length: 3, lkey: x.mr.lkey }],
        remoteAddr: y.buf,
        rkey: y.mr.rkey,
      });
      assert.equal((await x.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
      return [qx.initialPsn, qy.initialPsn];
    });
  };
  const first = await psns(), again = await psns();
  assert.deepEqual(again, first, "same seed, same PSNs");
  for (const p of first) assert.ok(Number.isInteger(p) && p >= 0 && p < 1 << 24);
  assert.notDeepEqual(first, [0, 0], "not the fixed 0 of old");
  assert.notEqual(first[0], first[1], "each end its own");
});
