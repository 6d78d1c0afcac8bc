/**
 * rdma_cm calls given something that is not what they take are EINVAL naming the call
 * (docs/api.md, rdma_cm), never a TypeError from inside the library, in native, bypass and split
 * mode: `createQp` without a PD or init attributes, `connect`/`accept` with parameters that are no
 * `ConnParam` object (a string used to be taken as a zeroed one). `null` is librdmacm's NULL, as
 * `undefined` is.
 */
import assert from "node:assert/strict";
import { einval } from "./conformance/helpers.ts";
import { QpType, RdmaCmEvent } from "../mod.ts";
import { MODES, next, pair, rcQp } from "./support/rdma_cm.ts";

for (const mode of MODES) {
  Deno.test(`rdma_cm refuses what its calls do not take (${mode})`, async () => {
    const { cluster, a, b } = await pair(mode);
    await cluster.run(async () => {
      const sch = b.rdmaCm.createEventChannel();
      const listener = await sch.createId();
      await listener.bindAddr({ ip: b.rdmaCm.ip, port: 7000 });
      listener.listen(4);
      const cch = a.rdmaCm.createEventChannel();
      const cid = await cch.createId();
      await cid.resolveAddr({ ip: b.rdmaCm.ip, port: 7000 }, { timeoutMs: 100 });
      (await next(cch, RdmaCmEvent.ADDR_RESOLVED)).ack();
      await cid.resolveRoute(100);
      (await next(cch, RdmaCmEvent.ROUTE_RESOLVED)).ack();
      const pd = await cid.verbs!.allocPd();
      const cq = await cid.verbs!.createCq(4);
      const init = {
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
      };
      await assert.rejects(
        cid.createQp(pd, undefined as never),
        einval(/^EINVAL: rdma_create_qp: give the QP's init attributes/),
      );
      await assert.rejects(
        cid.createQp(undefined as never, init),
        einval(/^EINVAL: rdma_create_qp: the PD belongs to another context/),
      );
      await rcQp(cid);
      await assert.rejects(
        cid.connect("x" as never),
        einval(/^EINVAL: rdma_connect: the connection parameters must be a ConnParam object/),
      );
      assert.equal(cid.state, "route_resolved");
      await cid.connect(null as never); // NULL: the device's maxima, 7 retries
      const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
      assert.equal(req.param.initiatorDepth, cid.verbs!.queryDevice().maxQpInitRdAtom);
      const sid = req.id;
      await rcQp(sid);
      await assert.rejects(
        sid.accept(5 as never),
        einval(/^EINVAL: rdma_accept: the connection parameters must be a ConnParam object/),
      );
      await sid.accept(null as never);
      req.ack();
      (await next(cch, RdmaCmEvent.ESTABLISHED)).ack();
      (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
    });
  });
}

Deno.test("rdma_cm: rdma_resolve_addr's options as null are none; a value of the wrong type is named as given", async () => {
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const ch = a.rdmaCm.createEventChannel();
    const id = await ch.createId();
    await assert.rejects(
      id.resolveAddr({ ip: b.rdmaCm.ip, port: 7000 }, 5 as never),
      einval(/^EINVAL: rdma_resolve_addr: the options must be an object/),
    );
    await assert.rejects(
      id.bindAddr({ ip: a.rdmaCm.ip, port: "1" as never }),
      einval(/^EINVAL: rdma_bind_addr: port "1" is not an integer in 0\.\.65535/),
    );
    assert.equal(id.state, "idle");
    await id.resolveAddr({ ip: b.rdmaCm.ip, port: 7000 }, null as never); // NULL: the defaults
    (await next(ch, RdmaCmEvent.ADDR_RESOLVED)).ack();
    await id.resolveRoute();
    (await next(ch, RdmaCmEvent.ROUTE_RESOLVED)).ack();
    await rcQp(id);
    await assert.rejects(
      id.connect({ responderResources: "1" as never }),
      einval(/^EINVAL: rdma_connect: responderResources "1" outside 0\.\.\d+/),
    );
  });
});
