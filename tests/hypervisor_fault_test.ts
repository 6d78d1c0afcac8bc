/**
 * Teardown that always finishes (DESIGN §9 invariant 8): an exception
 * inside a hypercall that is not a refusal — a bug in the model — becomes
 * EIO for the caller, counted and logged; every step of a domain's
 * teardown runs even if an earlier one failed, and the domain reaches
 * dead; a UAR whose unmap failed is not handed to anyone else, and its
 * index is not lost either.
 */
import assert from "node:assert/strict";
import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
import { Hypervisor } from "../hypervisor/mod.ts";
import { grantsOf, rejectsXen } from "./support/xen.ts";
import { cluster, counts, guest, xenOf } from "./xenib_support.ts";

function setup() {
  const engine = new Engine({ recordTrace: true });
  const mem = new MachineMemory(256 << 20);
  const uar = mem.attachMmio(2, { mmioWrite() {}, mmioRead: (_m, _o, n) => new Uint8Array(n) });
  const hv = new Hypervisor(engine, mem, PCIX_SDR_2006, new Prng(5));
  return { engine, mem, hv, dom0: hv.dom0, uar };
}

/** Make `obj[name]` throw a TypeError on its next `times` calls. */
function breakOnce<T extends object>(obj: T, name: keyof T, times = 1): void {
  const real = obj[name] as (...a: unknown[]) => unknown;
  let left = times;
  (obj as Record<keyof T, unknown>)[name] = function (this: unknown, ...a: unknown[]) {
    if (left-- > 0) throw new TypeError(`${String(name)} is broken`);
    return real.apply(this, a);
  };
}

Deno.test("fault: a bug inside a hypercall is EIO for the caller, counted, logged and traced", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const pfn = vm.memory.alloc(3 * 4096, 4096) / 4096;
    const maps = [];
    for (let i = 0; i < 3; i++) {
      maps.push(
        await hv.grantMap(dom0, {
          domid: vm.domid,
          ref: await grantsOf(hv, vm).grantAccess(0, pfn + i),
        }),
      );
    }
    assert.equal(hv.counters().faults, 0);

    breakOnce(dom0.memory, "unmapForeign");
    const e = await rejectsXen(hv.grantUnmap(dom0, maps[0].handle), "EIO");
    assert.match(
      e.message,
      /grant_table_op:unmap_grant_ref: internal error \(TypeError: unmapForeign is broken\)/,
    );
    breakOnce(dom0.memory, "unmapForeign");
    const r = await hv.hypercall(dom0, "grant_table_op:unmap_grant_ref", {
      handle: maps[1].handle,
    });
    assert.equal(r.rc, -5);
    breakOnce(dom0.memory, "unmapForeign");
    // Per-handle GNTST_* statuses: general_error for the fault, bad_handle for 4000.
    assert.deepEqual(await hv.grantUnmapBatch(dom0, [maps[2].handle, 4000]), [-1, -4]);

    assert.equal(hv.counters().faults, 3);
    const log = hv.faultLog();
    assert.equal(log.length, 3);
    assert.match(log[0], /^\d+ grant_table_op:unmap_grant_ref: TypeError: unmapForeign is broken$/);
    assert.ok(engine.trace().some((l) => l.endsWith(" xen:fault")), "marked in the engine's trace");
    // The hypervisor keeps serving, and its audit shows what the bug left:
    // dom0 still maps frames whose grant mappings are gone.
    assert.equal((await hv.hypercall(dom0, "memory_op:current_reservation", {})).rc, 0);
    const left = hv.audit();
    assert.deepEqual(left.map((v) => v.rule), ["mapping", "mapping", "mapping"]);
    for (const m of maps) dom0.memory.unmapForeign(m.addr);
    assert.deepEqual(hv.audit(), []);
  });
});

Deno.test("fault: every teardown step runs after one fails; the domain reaches dead", async () => {
  const { engine, mem, hv, dom0, uar } = setup();
  await engine.run(async () => {
    const base = { stats: hv.stats(), frames: mem.allocated };
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    vm.memory.alloc(1 << 20, 4096);
    await hv.mapIoPage(dom0, { domid: vm.domid, mfn: uar });
    const port = await hv.evtchnAllocUnbound(dom0, { remoteDom: vm.domid });
    await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: port });
    breakOnce(vm.memory, "unmapForeign"); // the I/O-page step fails

    hv.domainCrash(vm);
    assert.equal(vm.state, "dead", "the later steps ran: memory given back, dead");
    assert.equal(hv.counters().faults, 1);
    assert.match(hv.faultLog()[0], new RegExp(`teardown of dom${vm.domid}: unmap its I/O pages`));
    assert.equal(hv.xenstore.exists(0, `/local/domain/${vm.domid}`), false, "xenstore step ran");
    assert.deepEqual((await hv.evtchnStatus(dom0, { port })).state, "unbound");
    assert.equal(hv.ioPageHolder(uar), undefined);
    assert.equal(mem.refCount(uar), 0, "the mapping's reference went with the memory");
    await hv.evtchnClose(dom0, port);
    assert.deepEqual(hv.stats(), base.stats);
    assert.equal(mem.allocated, base.frames);
    assert.deepEqual(hv.audit(), []);
    // The page can be given to another guest.
    const vm2 = await hv.createDomain(dom0, { name: "vm2", memoryBytes: 16 << 20 });
    await hv.mapIoPage(dom0, { domid: vm2.domid, mfn: uar });
  });
});

Deno.test("fault: a UAR whose unmap failed is kept from others, and its index comes back when the guest goes", async () => {
  const { cluster: c, hosts } = await cluster([true]);
  const h = hosts[0];
  const hv = xenOf(h).hv;
  const before = counts(h);
  const vm = await guest(h, "vm");
  await c.run(async () => {
    const ctx = await vm.openDevice();
    const uarIndex = ctx.file.uarIndex;
    const used = h.hca.stats().used.uar;
    const real = hv.unmapIoPage.bind(hv);
    let fail = true;
    hv.unmapIoPage = (caller, a) => {
      if (fail) {
        fail = false;
        return Promise.reject(new Error("unmap lost"));
      }
      return real(caller, a);
    };
    await assert.rejects(ctx.close());
    assert.equal(hv.ioPageHolder(h.hw.hca.uarMfn(uarIndex)), vm.domid, "still the guest's page");
    assert.equal(h.hca.stats().used.uar, used, "the index was not handed back");
    const other = await guest(h, "other");
    await other.openDevice(); // another guest still gets a device
    await other.shutdown();
    vm.crash();
    await vm.whenDead();
  });
  assert.deepEqual(counts(h), before, "the UAR index came back with the guest's teardown");
  assert.deepEqual(h.audit(), []);
});
