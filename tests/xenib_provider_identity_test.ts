/**
 * The paper's "unmodified user-level library", checked by identity: a
 * bypass guest's fast path runs the very module object the bare-metal OS
 * runs (not a copy, not a subclass), on guest memory, ringing the UAR page
 * dom0 had the hypervisor map into the guest.
 */
import assert from "node:assert/strict";
import { Provider, ProviderCq, ProviderQp } from "../drivers/verbs/provider.ts";
import * as api from "../mod.ts";
import { cluster, end, guest, xenOf } from "./xenib_support.ts";

Deno.test("bypass guest and bare-metal OS run the same provider objects", async () => {
  const { cluster: c, hosts } = await cluster([true, false]);
  const vm = await guest(hosts[0], "vm0");
  const split = await guest(hosts[0], "vm1", "split");
  await c.run(async () => {
    const g = await end(vm), n = await end(hosts[1].os), s = await end(split);
    // One module: what mod.ts exports is what the provider module defines.
    assert.equal(api.Provider, Provider);
    for (const e of [g, n]) {
      assert.equal(Object.getPrototypeOf(e.ctx.provider), Provider.prototype);
      assert.equal(Object.getPrototypeOf(e.qp.pqp), ProviderQp.prototype);
      assert.equal(Object.getPrototypeOf(e.cq.pcq), ProviderCq.prototype);
    }
    // The functions that format WQEs, ring doorbells and read CQEs are the same objects.
    assert.equal(g.qp.pqp.postSend, n.qp.pqp.postSend);
    assert.equal(g.qp.pqp.postRecv, n.qp.pqp.postRecv);
    assert.equal(g.cq.pcq.poll, n.cq.pcq.poll);
    assert.equal(g.ctx.provider.doorbell, n.ctx.provider.doorbell);
    // ... working on the guest's own memory and the UAR page mapped into the guest.
    assert.equal(g.ctx.provider.env.memory, vm.space);
    const uarMfn = hosts[0].hw.hca.uarMfn(g.ctx.file.uarIndex);
    assert.equal(Math.floor(vm.space.translate(g.ctx.file.uarAddr) / 4096), uarMfn);
    assert.equal(xenOf(hosts[0]).hv.ioPageHolder(uarMfn), vm.domid);
    // The split baseline is the counter-example: same WQE code, different doorbells.
    assert.notEqual(Object.getPrototypeOf(s.ctx.provider), Provider.prototype);
    assert.ok(s.ctx.provider instanceof Provider);
    assert.equal(s.qp.pqp.postSend, n.qp.pqp.postSend);
    assert.notEqual(s.ctx.provider.doorbell, n.ctx.provider.doorbell);
  });
});
