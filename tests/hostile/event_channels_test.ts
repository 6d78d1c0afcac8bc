/**
 * Event-channel abuse: ports are per domain, so the numbers of the
 * victim's and dom0's ports name nothing of theirs in the attacker's
 * table; binding to dom0's end of the victim's channel, allocating ports
 * for others, closing what is not its own, are refused; a flood of
 * notifications to dom0 makes the backend look at an empty ring, nothing
 * more. The victim receives no upcall it did not cause. A guest's upcall
 * handler that throws crashes that guest alone. VIRQ and IPI binds with
 * hostile numbers get Xen's errno, and bind in the attacker's own table
 * whatever domain the block names.
 */
import assert from "node:assert/strict";
import { end } from "../xenib_support.ts";
import { backOf, E, scene, verdict } from "./support.ts";

Deno.test("event channels: others' ports, binds and allocations are refused; a notification flood changes nothing", async () => {
  const s = await scene();
  const { evil, victim, hv } = s;
  await s.cluster.run(async () => {
    await end(evil);
    const call = async (name: string, args: Record<string, unknown>) =>
      (await hv.hypercall(evil.xen, name, args)).rc;
    const vport = victim.vm.front.port;
    const upcalls = victim.vm.front.stats.upcalls;
    // Port numbers are per domain: the victim's number names the attacker's own port, or none.
    const mine = evil.front.port;
    const rc = await call("event_channel_op:send", { port: vport });
    assert.ok(vport === mine ? rc === 0 : rc === E.EINVAL, `send on ${vport}: ${rc}`);
    assert.equal(await call("event_channel_op:send", { port: 60 }), E.EINVAL);
    assert.equal(await call("event_channel_op:close", { port: 60 }), E.EINVAL);
    // Unmask needs a valid port of the caller's own only (event_channel.c evtchn_unmask):
    // its own unused port 61 is fine and touches no one else; past its table is EINVAL.
    assert.equal(await call("event_channel_op:unmask", { port: 61 }), 0);
    assert.equal(await call("event_channel_op:unmask", { port: 4096 }), E.EINVAL);
    // dom0's end of the victim's channel is bound: nobody else binds to it.
    for (let p = 1; p < 16; p++) {
      const rc = await call("event_channel_op:bind_interdomain", { remoteDom: 0, remotePort: p });
      assert.ok(rc === E.EINVAL || rc === E.EPERM, `dom0 port ${p}: ${rc}`);
    }
    assert.equal(
      await call("event_channel_op:bind_interdomain", {
        remoteDom: victim.vm.domid,
        remotePort: vport,
      }),
      E.EINVAL,
      "the victim's port is bound to dom0",
    );
    assert.equal(
      await call("event_channel_op:alloc_unbound", { dom: victim.vm.domid, remoteDom: 0 }),
      E.EPERM,
      "a port in the victim's table",
    );
    assert.equal(
      await call("event_channel_op:status", { dom: victim.vm.domid, port: vport }),
      E.EPERM,
    );
    // A flood of notifications to dom0 on its own channel.
    const served = s.xen.counters().backendRequests;
    for (let i = 0; i < 500; i++) await call("event_channel_op:send", { port: mine });
    await s.cluster.sleep(100_000);
    assert.equal(s.xen.counters().backendRequests, served, "nothing to serve, nothing served");
    assert.ok(backOf(s, evil).connected);
    assert.equal(victim.vm.front.stats.upcalls, upcalls, "no upcall reached the victim");
    await verdict(s);
  });
});

Deno.test("event channels: hostile VIRQ and IPI binds get Xen's errno; they bind in the attacker's own table only; its IPIs reach itself", async () => {
  // event_channel.c evtchn_bind_virq / evtchn_bind_ipi (4.17): virq past NR_VIRQS EINVAL, a
  // global VIRQ off vCPU 0 EINVAL, a vCPU the domain lacks ENOENT, a VIRQ bound twice EEXIST.
  // Their structs name no domain: Xen binds in current->domain's table.
  const s = await scene();
  const { evil, victim, hv } = s;
  await s.cluster.run(async () => {
    await end(evil);
    const call = (name: string, args: Record<string, unknown>) =>
      hv.hypercall(evil.xen, name, args);
    const bound = hv.stats().evtchnsBound;
    const upcalls = victim.vm.front.stats.upcalls;
    const cases: [string, Record<string, unknown>, number][] = [
      ["bind_virq", { virq: 24, vcpu: 0 }, E.EINVAL],
      ["bind_virq", { virq: 2 ** 53, vcpu: 0 }, E.EINVAL],
      ["bind_virq", { virq: -5, vcpu: 0 }, E.EINVAL],
      ["bind_virq", { virq: NaN, vcpu: 0 }, E.EINVAL],
      ["bind_virq", { virq: "3", vcpu: 0 }, E.EINVAL],
      ["bind_virq", { virq: {}, vcpu: 0 }, E.EINVAL],
      ["bind_virq", { vcpu: 0 }, E.EINVAL],
      ["bind_virq", { virq: 3, vcpu: 2 ** 31 }, E.EINVAL], // global: vCPU 0 only
      ["bind_virq", { virq: 0, vcpu: 7 }, E.ENOENT], // per-vCPU: no vCPU 7
      ["bind_virq", { virq: 0, vcpu: -1 }, E.EINVAL],
      ["bind_virq", { virq: 0, vcpu: 1e300 }, E.EINVAL],
      ["bind_ipi", { vcpu: 1 }, E.ENOENT],
      ["bind_ipi", { vcpu: -1 }, E.EINVAL],
      ["bind_ipi", { vcpu: 0.5 }, E.EINVAL],
      ["bind_ipi", {}, E.EINVAL],
    ];
    for (const [op, args, rc] of cases) {
      const r = await call(`event_channel_op:${op}`, args);
      assert.equal(r.rc, rc, `${op} ${JSON.stringify(args)}: ${r.error}`);
      assert.match(r.error!, /^E[A-Z]+: event_channel_op:|^E[A-Z]+: EVTCHNOP_bind_/);
      assert.equal(r.error!.includes("\n"), false, "a one-line message");
    }
    assert.equal(hv.stats().evtchnsBound, bound, "nothing bound by a refusal");
    // "In dom0's name": the fields are not read; the port is the attacker's.
    const r = await call("event_channel_op:bind_virq", { virq: 3, vcpu: 0, dom: 0, domid: 0 });
    assert.equal(r.rc, 0);
    const port = r.value as number;
    assert.deepEqual(await hv.evtchnStatus(evil.xen, { port }), {
      state: "virq",
      vcpu: 0,
      virq: 3,
    });
    assert.equal((await call("event_channel_op:bind_virq", { virq: 3, vcpu: 0 })).rc, E.EEXIST);
    // Dom0's own VIRQ_DOM_EXC is still free to bind.
    const dom0Port = await hv.evtchnBindVirq(hv.dom0, { virq: 3, vcpu: 0 });
    await hv.evtchnClose(hv.dom0, dom0Port);
    // An IPI flood: the attacker's own port, nobody else's.
    const ipi = (await call("event_channel_op:bind_ipi", { vcpu: 0, dom: victim.vm.domid }))
      .value as number;
    const served = s.xen.counters().backendRequests;
    for (let i = 0; i < 200; i++) {
      assert.equal((await call("event_channel_op:send", { port: ipi })).rc, 0);
    }
    await s.cluster.sleep(100_000);
    assert.equal(hv.counters().evtchnSendsByKind[`dom${evil.domid}->dom${evil.domid}`], 200);
    assert.equal(s.xen.counters().backendRequests, served, "dom0 saw nothing");
    assert.equal(victim.vm.front.stats.upcalls, upcalls, "no upcall reached the victim");
    await verdict(s);
  });
});

for (const attacker of ["bypass", "split"] as const) {
  Deno.test(`event channels: a guest whose upcall handler throws crashes alone; the host goes on (${attacker})`, async () => {
    const s = await scene({ attacker });
    const { evil, hv } = s;
    await s.cluster.run(async () => {
      const e = await end(evil);
      // The guest's kernel installs an event callback that faults (any code of its own can).
      evil.xen.installUpcall(() => {
        throw new Error("guest kernel oops");
      });
      // Dom0's answer to its next request raises its upcall (the guest's program that asked
      // never runs again).
      void s.cluster.engine.spawn("attacker's program", () => e.ctx.allocPd());
      await s.cluster.sleep(1_000_000);
      // It used to escape into the engine and end the simulation of every domain; now it is the
      // guest's own panic: it crashed, and nothing of the hypervisor failed.
      assert.equal(hv.counters().guestUpcallErrors, 1);
      assert.equal(hv.stateOf(evil.domid!), "dead");
      assert.equal(hv.counters().faults, 0);
      await verdict(s);
    });
  });
}
