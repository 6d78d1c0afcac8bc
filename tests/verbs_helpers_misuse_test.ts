/**
 * The connect helpers and `onAsyncEvent` given something that is not what they take are EINVAL
 * naming the call (docs/api.md), never a TypeError from inside the library (`Cannot read
 * properties of undefined (reading 'initialPsn')`), and an address vector's GRH error names the
 * call as the other checks of it do.
 */
import assert from "node:assert/strict";
import { einval } from "./conformance/helpers.ts";
import { Cluster, connectPair, connectQp } from "../mod.ts";

Deno.test("connect helpers and onAsyncEvent refuse what they do not take", async () => {
  await assert.rejects(connectQp(undefined as never, {}), einval(/^EINVAL: connectQp: give a QP/));
  await assert.rejects(
    connectPair({} as never, {} as never),
    einval(/^EINVAL: connectPair: end a/),
  );
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  const h = cluster.addHost({ name: "b", hypervisor: false });
  await cluster.start();
  await cluster.run(async () => {
    const ctx = await h.os.openDevice();
    const pd = await ctx.allocPd();
    const cq = await ctx.createCq(4);
    const qp = await pd.createQp({
      type: 2,
      sendCq: cq,
      recvCq: cq,
      cap: { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
    });
    await assert.rejects(connectQp(qp, null as never), einval(/^EINVAL: connectQp: give the peer/));
    await assert.rejects(
      connectPair({ qp, lid: 1 }, { qp: undefined as never, lid: 1 }),
      einval(/^EINVAL: connectPair: end b must be \{ qp, lid \}/),
    );
    assert.throws(
      () => ctx.onAsyncEvent("x" as never),
      einval(/^EINVAL: onAsyncEvent: the listener must be a function, got string$/),
    );
    await assert.rejects(
      pd.createAh({ dlid: 1, grh: {} as never }),
      einval(/^EINVAL: create_ah: ah\.grh\.dgid must be 16 bytes$/),
    );
    await ctx.close();
  });
});
