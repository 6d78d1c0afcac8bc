import assert from "node:assert/strict";
import { Engine, MachineMemory, type MmioHandler, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
import { Hypervisor } from "../hypervisor/mod.ts";
import { fullDomain, rejectsXen } from "./support/xen.ts";

/** A host with a device of 4 UAR-like I/O pages that logs every write. */
function setup() {
  const engine = new Engine();
  const mem = new MachineMemory(128 << 20);
  const writes: { mfn: number; offset: number; bytes: number[] }[] = [];
  const dev: MmioHandler = {
    mmioWrite: (mfn, offset, bytes) => writes.push({ mfn, offset, bytes: [...bytes] }),
    mmioRead: (_mfn, _offset, len) => new Uint8Array(len).fill(0xee),
  };
  const uar = mem.attachMmio(4, dev);
  const hv = new Hypervisor(engine, mem, PCIX_SDR_2006, new Prng(2));
  return { engine, mem, hv, dom0: hv.dom0, uar, writes };
}

Deno.test("iopage: dom0 maps a device page into one guest; the guest's stores reach the device", async () => {
  const { engine, hv, dom0, uar, writes } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const t = engine.now;
    const addr = await hv.mapIoPage(dom0, { domid: vm.domid, mfn: uar + 1 });
    assert.equal(engine.now - t, PCIX_SDR_2006.xen.hypercallNs);
    assert.equal(addr % 4096, 0);
    assert.equal(vm.memory.translate(addr + 0x20), (uar + 1) * 4096 + 0x20);
    vm.memory.write(addr + 0x20, new Uint8Array([1, 2, 3, 4]));
    assert.deepEqual(writes, [{ mfn: uar + 1, offset: 0x20, bytes: [1, 2, 3, 4] }]);
    assert.equal(vm.memory.read(addr, 1)[0], 0xee);
    assert.equal(hv.stats().ioPagesMapped, 1);
    assert.equal(hv.ioPageHolder(uar + 1), vm.domid);

    await hv.unmapIoPage(dom0, { domid: vm.domid, mfn: uar + 1 });
    assert.throws(() => vm.memory.write(addr, new Uint8Array([9])), /not mapped/);
    assert.equal(writes.length, 1);
    assert.equal(hv.stats().ioPagesMapped, 0);
    assert.equal(hv.ioPageHolder(uar + 1), undefined);
  });
});

Deno.test("iopage: refusals — unprivileged, RAM, no such frame, already mapped, dom0, unknown guest, no room", async () => {
  const { engine, mem, hv, dom0, uar } = setup();
  await engine.run(async () => {
    const a = await hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20 });
    const b = await hv.createDomain(dom0, { name: "b", memoryBytes: 16 << 20 });
    await rejectsXen(hv.mapIoPage(a, { domid: a.domid, mfn: uar }), "EPERM");
    await rejectsXen(hv.mapIoPage(a, { domid: b.domid, mfn: uar }), "EPERM");
    const ram = b.memory.mfnOf(b.memory.alloc(4096, 4096) / 4096)!;
    await rejectsXen(hv.mapIoPage(dom0, { domid: a.domid, mfn: ram }), "EPERM");
    await rejectsXen(hv.mapIoPage(dom0, { domid: a.domid, mfn: 0 }), "EINVAL");
    await rejectsXen(hv.mapIoPage(dom0, { domid: a.domid, mfn: mem.frames }), "EINVAL");
    await rejectsXen(hv.mapIoPage(dom0, { domid: a.domid, mfn: uar + 4 }), "EINVAL");
    await rejectsXen(hv.mapIoPage(dom0, { domid: a.domid, mfn: -1 }), "EINVAL");
    await rejectsXen(hv.mapIoPage(dom0, { domid: 0, mfn: uar }), "EINVAL");
    await rejectsXen(hv.mapIoPage(dom0, { domid: 999, mfn: uar }), "ESRCH");
    await rejectsXen(hv.mapIoPage(dom0, { domid: 0x8000, mfn: uar }), "ESRCH"); // reserved domid
    await rejectsXen(hv.mapIoPage(dom0, { domid: 0x10000, mfn: uar }), "EINVAL"); // no domid_t
    // A guest whose address space is used up has nowhere to put the page.
    const full = await fullDomain(hv, "full");
    await rejectsXen(hv.mapIoPage(dom0, { domid: full.domid, mfn: uar }), "ENOMEM");
    assert.equal(hv.ioPageHolder(uar), undefined);

    await hv.mapIoPage(dom0, { domid: a.domid, mfn: uar });
    await rejectsXen(hv.mapIoPage(dom0, { domid: b.domid, mfn: uar }), "EBUSY");
    await rejectsXen(hv.mapIoPage(dom0, { domid: a.domid, mfn: uar }), "EBUSY");
    await rejectsXen(hv.unmapIoPage(dom0, { domid: b.domid, mfn: uar }), "EINVAL");
    await rejectsXen(hv.unmapIoPage(dom0, { domid: a.domid, mfn: uar + 1 }), "EINVAL");
    await rejectsXen(hv.unmapIoPage(a, { domid: a.domid, mfn: uar }), "EPERM");
    assert.equal(hv.ioPageHolder(uar), a.domid);
    assert.equal(hv.stats().ioPagesMapped, 1);

    // After unmapping, another guest may have it.
    await hv.unmapIoPage(dom0, { domid: a.domid, mfn: uar });
    await hv.mapIoPage(dom0, { domid: b.domid, mfn: uar });
    assert.equal(hv.ioPageHolder(uar), b.domid);
  });
});

Deno.test("iopage: a guest's I/O pages are released when it crashes, and can go to another guest", async () => {
  const { engine, hv, dom0, uar, writes } = setup();
  await engine.run(async () => {
    const a = await hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20 });
    const addr = await hv.mapIoPage(dom0, { domid: a.domid, mfn: uar + 2 });
    await hv.mapIoPage(dom0, { domid: a.domid, mfn: uar + 3 });
    assert.equal(hv.stats().ioPagesMapped, 2);
    hv.domainCrash(a);
    assert.equal(hv.stats().ioPagesMapped, 0);
    assert.throws(() => a.memory.write(addr, new Uint8Array([1])));
    assert.equal(writes.length, 0, "no store from the dead guest reached the device");
    const b = await hv.createDomain(dom0, { name: "b", memoryBytes: 16 << 20 });
    await hv.mapIoPage(dom0, { domid: b.domid, mfn: uar + 2 });
    assert.equal(hv.ioPageHolder(uar + 2), b.domid);
  });
});
