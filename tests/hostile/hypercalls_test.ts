/**
 * Hypercalls straight from the attacker (DESIGN §9 invariant 7): every
 * privileged operation, every operation on another domain, unknown calls
 * and argument blocks that are not what the call takes. Each is refused
 * with a Xen errno (never a JS exception), and nothing of the victim's or
 * of dom0's moves.
 */
import assert from "node:assert/strict";
import { DOMID_SELF } from "../../hypervisor/args.ts";
import { GNTST } from "../../hypervisor/grant_table.ts";
import { end } from "../xenib_support.ts";
import { E, scene, verdict } from "./support.ts";

Deno.test("hypercalls: privileged and cross-domain calls from a guest are refused", async () => {
  const s = await scene();
  const { evil, victim, hv, xen } = s;
  await s.cluster.run(async () => {
    await end(evil); // a device of its own, as any guest has
    const v = victim.vm.domid!;
    const call = async (name: string, args: unknown) =>
      (await hv.hypercall(evil.xen, name, args)).rc;
    const refused: [string, unknown, number][] = [
      ["domctl:createdomain", { name: "mine", memoryBytes: 1 << 20 }, E.EPERM],
      ["domctl:destroydomain", { domid: v }, E.EPERM],
      ["sched_op:remote_shutdown", { domid: v, reason: "crash" }, E.EPERM],
      // Nor itself: XSM_DM_PRIV lets only the control domain or the target's device model.
      ["sched_op:remote_shutdown", { domid: evil.domid, reason: "crash" }, E.EPERM],
      ["event_channel_op:bind_pirq", { pirq: 0 }, E.EPERM],
      // The victim's UAR page mapped into the attacker: only dom0 asks for I/O pages.
      [
        "domctl:memory_mapping",
        { domid: evil.domid, mfn: xen.hw.hca.uarMfn(victim.end.ctx.file.uarIndex), add: true },
        E.EPERM,
      ],
      // do_domctl looks the domain up by id first: DOMID_SELF names none (ESRCH).
      [
        "domctl:memory_mapping",
        { domid: DOMID_SELF, mfn: xen.hw.hca.uarMfn(0), add: true },
        -3,
      ],
      ["memory_op:current_reservation", { domid: v }, E.EPERM],
      ["event_channel_op:status", { dom: 0, port: 1 }, E.EPERM],
      ["grant_table_op:unmap_grant_ref", { handle: 0 }, E.EINVAL], // dom0's handles are dom0's
      ["memory_op:increase_reservation", {}, E.ENOSYS],
      ["sched_op:shutdown", { reason: "halt" }, E.EINVAL],
      ["sched_op:remote_shutdown", { domid: 999, reason: "crash" }, -3], // ESRCH
      ["grant_table_op:map_grant_ref", "not an object", -14], // EFAULT
      ["grant_table_op:map_grant_ref", { ops: new Array(5000).fill({}) }, E.EINVAL],
      ["domctl:destroydomain", { domid: 0x7ff5 }, -3], // ESRCH: no such domain, before EPERM
    ];
    for (const [name, args, rc] of refused) {
      assert.equal(await call(name, args), rc, `${name} ${JSON.stringify(args)?.slice(0, 60)}`);
    }
    // gnttab_query_size refuses in the op (GNTST_permission_denied), the call itself is 0:
    // and nothing of the victim's table comes back.
    assert.deepEqual(
      Object.entries(
        (await hv.hypercall(evil.xen, "grant_table_op:query_size", { domid: v })).value as object,
      ).filter(([k]) => k !== "error"),
      [["status", GNTST.permission_denied], ["code", "EPERM"]],
    );
    assert.equal(hv.counters().faults, 0, "refusals, not faults");
    assert.ok(victim.vm.running);
    assert.equal(hv.ioPageHolder(xen.hw.hca.uarMfn(victim.end.ctx.file.uarIndex)), v);
    await verdict(s);
  });
});

Deno.test("hypercalls: a dead guest's domain makes no call at all", async () => {
  const s = await scene();
  const { evil, hv } = s;
  await s.cluster.run(async () => {
    await end(evil);
    const stale = evil.xen;
    evil.crash();
    await evil.whenDead();
    const r = await hv.hypercall(stale, "event_channel_op:send", { port: 1 });
    assert.equal(r.rc, -3, "ESRCH: the caller is no running domain");
    assert.equal((await hv.hypercall(stale.domid, "memory_op:current_reservation", {})).rc, -3);
    await verdict(s);
  });
});

Deno.test("hypercalls: an argument block that changes or faults while it is read is copied once, or EFAULT; a name that is no string is ENOSYS", async () => {
  // Xen copies a hypercall's argument structure from the guest (copy_from_guest) and checks and
  // uses only the copy; a fault while copying is EFAULT. Here the block is whatever object the
  // guest passes, so reads of it can change between the check and the use, or throw.
  const s = await scene();
  const { evil, hv } = s;
  await s.cluster.run(async () => {
    await end(evil);
    const map = "grant_table_op:map_grant_ref";
    // A list whose length is 1 while the batch limit is checked and 100,000 when it is walked.
    let reads = 0;
    const ops = new Proxy([{ domid: 0, ref: 1 }], {
      get: (t, p, r) => p === "length" ? (++reads <= 2 ? 1 : 100_000) : Reflect.get(t, p, r),
    });
    const t0 = s.cluster.now;
    const r = await hv.hypercall(evil.xen, map, { ops });
    assert.equal(r.rc, 0, r.error);
    assert.equal((r.value as unknown[]).length, 1, "one op, as checked");
    const x = s.cluster.profile.xen;
    assert.equal(s.cluster.now - t0, x.hypercallNs + x.grantMapNs, "charged for one op");
    // A list that claims more entries than any batch may have: refused before anything is read.
    const huge = new Proxy([], {
      get: (t, p, r) => p === "length" ? 2 ** 32 - 1 : Reflect.get(t, p, r),
    });
    assert.equal((await hv.hypercall(evil.xen, map, { ops: huge })).rc, E.EINVAL);
    // Reads that fault: EFAULT, a refusal, not a fault of the hypervisor.
    const faulty = {
      get port() {
        throw new Error("unmapped");
      },
    };
    const f = await hv.hypercall(evil.xen, "event_channel_op:send", faulty);
    assert.equal(f.rc, -14, f.error);
    assert.match(f.error!, /^EFAULT: event_channel_op:send: argument block is not readable$/);
    const op = await hv.hypercall(evil.xen, map, { ops: [faulty] });
    assert.equal(op.rc, -14);
    // A name that is not a string, whose conversion throws: no such hypercall, not an exception.
    const name = {
      toString() {
        throw new Error("the guest's toString");
      },
    };
    const n = await hv.hypercall(evil.xen, name as unknown as string, {});
    assert.equal(n.rc, -38, n.error);
    assert.equal(hv.counters().faults, 0, "refusals, not faults");
    await verdict(s);
  });
});
