/**
 * The split backend serves a `DOORBELL` as a chain of callbacks on dom0's
 * VCPUs (`StagedOp`, `VcpuPool.runThen`) instead of waking its thread per
 * CPU step: the same steps at the same instants. The same programs with
 * the staged path taken away give the same trace, the same virtual times
 * and the same results; only the backend's thread is woken less often.
 */
import assert from "node:assert/strict";
import { Cluster, QpType } from "../mod.ts";
import { UarOffset } from "../hca/uar.ts";
import type { StagedOps } from "../drivers/back/datapath.ts";
import { SPLIT_DATAPATH, SPLIT_STAGED } from "../drivers/split/ops.ts";
import type { XenPlatform } from "../platform/xen_host.ts";
import { WriteStream } from "../tools/lib/bench_model.ts";

/** Run `fn` with the split datapath's staged ops taken away (every op through its handler). */
async function unstaged<T>(fn: () => Promise<T>): Promise<T> {
  const dp = SPLIT_DATAPATH as { staged?: StagedOps };
  dp.staged = undefined;
  try {
    return await fn();
  } finally {
    dp.staged = SPLIT_STAGED;
  }
}

async function stream(messages: number) {
  const s = await WriteStream.create("pcix-sdr-2006", "split", 64);
  const r = await s.run(messages);
  const e = s.cluster.engine;
  return {
    hash: e.traceHash(),
    now: e.now,
    events: r.events,
    virtualNs: r.virtualNs,
    wakeups: r.wakeups,
  };
}

Deno.test("split staged doorbells: a 64 B write stream runs the same trace with fewer wake-ups", async () => {
  const staged = await stream(300);
  const plain = await unstaged(() => stream(300));
  assert.equal(staged.hash, plain.hash);
  assert.equal(staged.now, plain.now);
  assert.equal(staged.virtualNs, plain.virtualNs);
  assert.equal(staged.events, plain.events);
  // Each doorbell woke the backend's thread three times (two CPU steps and the response); now at
  // most once, and not at all while the backend goes on to the next doorbell on the ring.
  assert.ok(staged.wakeups < plain.wakeups - 300, `${staged.wakeups} vs ${plain.wakeups}`);
});

/** A split guest posts receives and refused doorbells; what dom0 did and when. */
async function doorbells() {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 7 });
  const xen = cluster.addHost({ name: "xen0", hypervisor: true });
  await cluster.start();
  const vm = await xen.createGuest({ name: "vm0", driver: "split" });
  const out = await cluster.run(async () => {
    const ctx = await vm.openDevice();
    const cq = await ctx.createCq(8);
    const cap = { maxSendWr: 4, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 };
    const qp = await (await ctx.allocPd()).createQp({
      type: QpType.RC,
      sendCq: cq,
      recvCq: cq,
      cap,
    });
    await qp.modify({ state: 1, port: 1, pkeyIndex: 0, accessFlags: 0 }); // INIT
    for (let i = 0; i < 3; i++) {
      qp.postRecv([{ wrId: BigInt(2 * i), sgList: [] }, { wrId: BigInt(2 * i + 1), sgList: [] }]);
      await cluster.engine.sleep(1_000 * i);
    }
    // A doorbell for a QP the context does not have: dom0 refuses it (EINVAL) and serves on.
    ctx.provider.doorbell(UarOffset.RECV, 0xffffff, 1);
    await cluster.engine.sleep(200_000);
    return { now: cluster.now };
  });
  const back = (xen.platform as XenPlatform).backend!.instances().get(vm.domid!)!;
  return {
    ...out,
    hash: cluster.engine.traceHash(),
    refused: { ...back.refused },
    lastRefusal: back.lastRefusal,
    counters: xen.counters(),
  };
}

Deno.test("split staged doorbells: receives and a refused doorbell, same trace and times as unstaged", async () => {
  const staged = await doorbells();
  const plain = await unstaged(doorbells);
  assert.deepEqual(staged, plain);
  assert.deepEqual(staged.refused, { EINVAL: 1 });
  assert.match(
    staged.lastRefusal ?? "",
    /DOORBELL: EINVAL: doorbell for QP 16777215: not a QP of this context/,
  );
});
