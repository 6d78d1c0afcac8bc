/**
 * The split baseline's `ibv_poll_cq` (drivers/split/front.ts): the call
 * returns what the device has completed when it is made (dom0's half runs
 * at the call), the request still crosses dom0, and a thread that got
 * completions this way is busy until the request's answer would arrive —
 * exactly then, with dom0 idle: the charge is the path, not a constant.
 */
import assert from "node:assert/strict";
import { QpType } from "../mod.ts";
import { SplitProvider } from "../drivers/split/front.ts";
import { XenGuest } from "../platform/xen_guest.ts";
import { pair, postWrite, side, twoDomains } from "./conformance/helpers.ts";

Deno.test("split poll: completions at the call, paid until the request's answer arrives", async () => {
  const { cluster, a, b, hosts } = await twoDomains("split");
  await cluster.run(async () => {
    const x = await side(a), y = await side(b);
    const [qx] = await pair(x, y, QpType.RC);
    const sp = x.ctx.provider;
    assert.ok(sp instanceof SplitProvider);
    const write = (wrId: bigint) => postWrite(qx, x, y, wrId);
    for (const n of [1, 3]) {
      for (let i = 0; i < n; i++) write(BigInt(i));
      await cluster.sleep(200_000); // long done at the device, and dom0 idle again
      const polls = () => hosts[0].counters().byKind.backendRequests.POLL_CQ ?? 0;
      const [before, busyBefore] = [polls(), hosts[0].counters().dom0BusyNs];
      const t0 = cluster.now;
      const wcs = x.cq.poll(8);
      assert.equal(wcs.length, n, "every completion at the first poll");
      const busyUntil = a.cpu.busyUntil();
      const p = a.profile;
      const issue = n * p.cpu.cqePollNs + p.cpu.syscallNs + p.xen.ringMarshalNs +
        p.xen.hypercallNs;
      assert.equal(busyUntil - t0, issue + sp.answerNs(n * 32));
      // A post right after it: the thread gets there once the answer is in.
      const doorbells = () => hosts[0].counters().byKind.backendRequests.DOORBELL ?? 0;
      const posted = doorbells();
      write(99n);
      // The request that carries the call is on its way: wait for its answer.
      await x.cq.pcq.waitWrite("the poll's answer");
      assert.equal(cluster.now, busyUntil, "the thread is free when the answer arrives");
      const busyAtAnswer = hosts[0].counters().dom0BusyNs;
      assert.equal(polls() - before, 1, "one POLL_CQ request for the call");
      assert.equal(
        doorbells(),
        posted,
        "the post reached dom0 after the poll's answer, not before",
      );
      assert.deepEqual((await x.cq.pollUntil(1)).map((wc) => wc.wrId), [99n]);
      assert.equal(doorbells() - posted, 1);
      const copyNs = (n * 32 * 1e9) / p.cpu.memcpyBytesPerSec;
      assert.equal(
        busyAtAnswer - busyBefore,
        2 * p.xen.ringMarshalNs + p.xen.backendOpNs + copyNs + p.xen.hypercallNs,
        "dom0 served it, the copy included",
      );
      assert.deepEqual(x.cq.poll(8), [], "nothing twice");
      await cluster.sleep(100_000);
    }
  });
});

Deno.test("split: a kick due while the notifier's hypercall runs goes out after it", async () => {
  const { cluster, a, hosts } = await twoDomains("split");
  await cluster.run(async () => {
    await side(a); // the device is connected and dom0 idle
    await cluster.sleep(100_000);
    const sends = () => hosts[0].counters().byKind.hypercalls["event_channel_op:send"] ?? 0;
    const s0 = sends();
    assert.ok(a instanceof XenGuest);
    const ns = a.profile.xen.hypercallNs;
    a.front.kick(0);
    a.front.kick(0);
    a.front.kick(ns / 2);
    await cluster.sleep(ns - 1);
    assert.equal(sends() - s0, 1, "one hypercall at a time");
    await cluster.sleep(1);
    assert.equal(sends() - s0, 2, "the second starts when the first ends");
    await cluster.sleep(ns);
    assert.equal(sends() - s0, 3, "the third, due meanwhile, after the second");
    await cluster.sleep(100_000);
    assert.equal(sends() - s0, 3, "each kick once");
  });
});
