import assert from "node:assert/strict";
import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
import {
  type Domain,
  GNTMAP_application_map,
  GNTMAP_contains_pte,
  GNTMAP_device_map,
  GNTMAP_host_map,
  GNTMAP_readonly,
  GNTPIN_MAX_MAPS,
  GNTST,
  GNTTAB_NR_RESERVED_ENTRIES,
  GRANT_ENTRIES_PER_FRAME,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_sub_page,
  GTF_transitive,
  GTF_writing,
  Hypervisor,
  type HypervisorOptions,
  MAPTRACK_PER_PAGE,
} from "../hypervisor/mod.ts";
import { fullDomain, grantsOf, rejectsXen, throwsXen } from "./support/xen.ts";

const X = PCIX_SDR_2006.xen;

function setup(opts: HypervisorOptions = {}) {
  const engine = new Engine();
  const mem = new MachineMemory(256 << 20);
  const hv = new Hypervisor(engine, mem, PCIX_SDR_2006, new Prng(11), opts);
  return { engine, mem, hv, dom0: hv.dom0 };
}

/** A fresh page of `dom` with a byte pattern; returns its address and pfn. */
function page(dom: Domain, fill: number): { addr: number; pfn: number } {
  const addr = dom.memory.alloc(4096, 4096);
  dom.memory.write(addr, new Uint8Array(4096).fill(fill));
  return { addr, pfn: addr / 4096 };
}

Deno.test("grant: map gives the granter's frame; GTF_reading/writing track the mapping; endAccess EBUSY while mapped", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const { addr, pfn } = page(vm, 0x11);
    const ref = await grantsOf(hv, vm).grantAccess(0, pfn, false);
    assert.equal(ref, GNTTAB_NR_RESERVED_ENTRIES, "first ref after the reserved ones");
    assert.deepEqual(grantsOf(hv, vm).readEntry(ref), {
      flags: GTF_permit_access,
      domid: 0,
      frame: pfn,
    });

    const m = await hv.grantMap(dom0, { domid: vm.domid, ref });
    assert.equal(m.mfn, vm.memory.mfnOf(pfn));
    assert.equal(dom0.memory.translate(m.addr), m.mfn * 4096);
    assert.equal(dom0.memory.read(m.addr, 1)[0], 0x11);
    dom0.memory.write(m.addr + 100, new Uint8Array([0xab]));
    assert.equal(vm.memory.read(addr + 100, 1)[0], 0xab, "dom0's write lands in the guest page");

    assert.equal(
      grantsOf(hv, vm).readEntry(ref).flags,
      GTF_permit_access | GTF_reading | GTF_writing,
    );
    assert.equal(hv.grantsMappedBy(0), 1);
    assert.equal(hv.grantsMappedFrom(vm.domid), 1);
    assert.equal(hv.stats().grantsMapped, 1);
    await rejectsXen(grantsOf(hv, vm).endAccess(ref), "EBUSY");

    await hv.grantUnmap(dom0, m.handle);
    assert.equal(grantsOf(hv, vm).readEntry(ref).flags, GTF_permit_access, "status bits cleared");
    assert.throws(() => dom0.memory.read(m.addr, 1), /not mapped/);
    assert.equal(hv.stats().grantsMapped, 0);
    await grantsOf(hv, vm).endAccess(ref);
    assert.equal(grantsOf(hv, vm).inUse, 0);
    await rejectsXen(grantsOf(hv, vm).endAccess(ref), "EINVAL");
    // The freed ref is handed out again.
    assert.equal(await grantsOf(hv, vm).grantAccess(0, pfn), ref);
  });
});

Deno.test("grant: read-only grants map read-only; writes through the mapping fail; writable grants may map read-only", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const { addr, pfn } = page(vm, 0x22);
    const ro = await grantsOf(hv, vm).grantAccess(0, pfn, true);
    assert.equal(grantsOf(hv, vm).readEntry(ro).flags, GTF_permit_access | GTF_readonly);
    await rejectsXen(hv.grantMap(dom0, { domid: vm.domid, ref: ro }), "EPERM");
    const m = await hv.grantMap(dom0, { domid: vm.domid, ref: ro, readonly: true });
    assert.equal(dom0.memory.read(m.addr, 1)[0], 0x22);
    assert.throws(() => dom0.memory.write(m.addr, new Uint8Array([1])), /read-only/);
    assert.equal(vm.memory.read(addr, 1)[0], 0x22, "guest page unchanged");
    assert.equal(grantsOf(hv, vm).readEntry(ro).flags & (GTF_reading | GTF_writing), GTF_reading);
    await hv.grantUnmap(dom0, m.handle);

    const rw = await grantsOf(hv, vm).grantAccess(0, pfn, false);
    const m2 = await hv.grantMap(dom0, { domid: vm.domid, ref: rw, readonly: true });
    assert.equal(grantsOf(hv, vm).readEntry(rw).flags & (GTF_reading | GTF_writing), GTF_reading);
    assert.throws(() => dom0.memory.write(m2.addr, new Uint8Array([1])), /read-only/);
    await hv.grantUnmap(dom0, m2.handle);
  });
});

Deno.test("grant: map flags as map_grant_ref reads them — GNTMAP_readonly maps read-only, neither host nor device map is GNTST_bad_gntref", async () => {
  // grant_table.c map_grant_ref(): pin_incr comes from GNTMAP_device_map/GNTMAP_host_map, each
  // read-only when GNTMAP_readonly is set; no pin at all is "Bad flags", GNTST_bad_gntref, before
  // the domain is looked up.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const { pfn } = page(vm, 0x33);
    const ro = await grantsOf(hv, vm).grantAccess(0, pfn, true);
    const rw = await grantsOf(hv, vm).grantAccess(0, pfn, false);
    const host = GNTMAP_host_map, rdonly = GNTMAP_readonly;
    const out = await hv.grantMapBatch(dom0, [
      { domid: vm.domid, ref: ro, flags: host | rdonly }, // read-only, as the grant allows
      { domid: vm.domid, ref: ro, flags: host }, // a writable pin of a read-only grant
      { domid: vm.domid, ref: rw, flags: 0 }, // asks for nothing
      { domid: vm.domid, ref: rw, flags: rdonly }, // read-only nothing
      { domid: 999, ref: rw, flags: GNTMAP_contains_pte }, // flags before the domain
      { domid: vm.domid, ref: rw, flags: -1 }, // no uint32_t
      { domid: vm.domid, ref: rw, flags: host, readonly: true }, // the two disagree
      { domid: vm.domid, ref: rw, flags: GNTMAP_device_map | rdonly, readonly: true },
      { domid: vm.domid, ref: rw, flags: host | GNTMAP_application_map | GNTMAP_contains_pte },
    ]);
    assert.deepEqual(out.map((r) => r.status), [
      GNTST.okay,
      GNTST.general_error,
      GNTST.bad_gntref,
      GNTST.bad_gntref,
      GNTST.bad_gntref,
      GNTST.bad_gntref,
      GNTST.bad_gntref,
      GNTST.okay,
      GNTST.okay,
    ], JSON.stringify(out.map((r) => r.error ?? "ok")));
    assert.deepEqual(out.map((r) => r.code ?? "-"), [
      "-",
      "EPERM",
      "EINVAL",
      "EINVAL",
      "EINVAL",
      "EINVAL",
      "EINVAL",
      "-",
      "-",
    ]);
    assert.match(out[2].error!, /neither GNTMAP_host_map nor GNTMAP_device_map/);
    // GNTMAP_readonly made the first mapping read-only: no write reaches the guest's page.
    assert.throws(() => dom0.memory.write(out[0].addr!, new Uint8Array([1])), /read-only/);
    assert.throws(() => dom0.memory.write(out[7].addr!, new Uint8Array([1])), /read-only/);
    dom0.memory.write(out[8].addr!, new Uint8Array([0x44])); // writable
    assert.equal(vm.memory.read(pfn * 4096, 1)[0], 0x44);
    assert.equal(
      grantsOf(hv, vm).readEntry(ro).flags & (GTF_reading | GTF_writing),
      GTF_reading,
    );
    // The typed call refuses the same way.
    await rejectsXen(hv.grantMap(dom0, { domid: vm.domid, ref: rw, flags: 0 }), "EINVAL");
    for (const i of [0, 7, 8]) await hv.grantUnmap(dom0, out[i].handle!);
    assert.equal(hv.grantsMappedBy(0), 0);
    assert.deepEqual(hv.audit(), []);
  });
});

Deno.test("grant: GTF_reading/GTF_writing follow the pins of grant_table.c, read-only and writable maps of one grant", async () => {
  // map_grant_ref: _set_status_v1 runs for the first pin and for the first writable pin only
  // (a read-only map of a writable grant sets GTF_reading alone); unmap clears GTF_writing
  // when the last writable pin goes and GTF_reading when the last pin goes (gnttab_clear_flag).
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const g = grantsOf(hv, vm);
    const ref = await g.grantAccess(0, page(vm, 1).pfn);
    const bits = () => g.readEntry(ref).flags & (GTF_reading | GTF_writing);
    const ro1 = await hv.grantMap(dom0, { domid: vm.domid, ref, readonly: true });
    assert.equal(bits(), GTF_reading);
    const rw1 = await hv.grantMap(dom0, { domid: vm.domid, ref });
    assert.equal(bits(), GTF_reading | GTF_writing);
    const rw2 = await hv.grantMap(dom0, { domid: vm.domid, ref });
    await hv.grantUnmap(dom0, rw1.handle);
    assert.equal(bits(), GTF_reading | GTF_writing, "one writable pin left");
    await hv.grantUnmap(dom0, rw2.handle);
    assert.equal(bits(), GTF_reading, "the read-only pin holds GTF_reading alone");
    // The guest makes the entry read-only while dom0 holds a read pin: a read-only map is
    // made from the active entry; a first writable pin reads the entry and is refused.
    const e = g.readEntry(ref);
    vm.memory.write(g.entryAddr(ref), new Uint8Array([e.flags | GTF_readonly, 0]));
    const ro2 = await hv.grantMap(dom0, { domid: vm.domid, ref, readonly: true });
    await rejectsXen(hv.grantMap(dom0, { domid: vm.domid, ref }), "EPERM");
    await hv.grantUnmap(dom0, ro1.handle);
    await hv.grantUnmap(dom0, ro2.handle);
    assert.equal(bits(), 0);
    assert.equal(g.readEntry(ref).flags, GTF_permit_access | GTF_readonly);
    // A handle unmapped twice: the second is refused and changes nothing.
    await rejectsXen(hv.grantUnmap(dom0, ro2.handle), "EINVAL");
    assert.equal(hv.grantsMappedBy(0), 0);
  });
});

Deno.test("grant: one ref mapped twice pins it until both handles are unmapped", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const ref = await grantsOf(hv, vm).grantAccess(0, page(vm, 1).pfn);
    const a = await hv.grantMap(dom0, { domid: vm.domid, ref });
    const b = await hv.grantMap(dom0, { domid: vm.domid, ref, readonly: true });
    assert.notEqual(a.handle, b.handle);
    assert.equal(a.mfn, b.mfn);
    await hv.grantUnmap(dom0, a.handle);
    assert.equal(grantsOf(hv, vm).readEntry(ref).flags & (GTF_reading | GTF_writing), GTF_reading);
    await rejectsXen(grantsOf(hv, vm).endAccess(ref), "EBUSY");
    await hv.grantUnmap(dom0, b.handle);
    assert.equal(grantsOf(hv, vm).readEntry(ref).flags & (GTF_reading | GTF_writing), 0);
    await grantsOf(hv, vm).endAccess(ref);
  });
});

Deno.test("grant: one domain holds at most 128 read-only and 128 writable mappings of one grant (the pin counters of grant_table.c)", async () => {
  // map_grant_ref(): act->pin keeps hstr and hstw pins in 8-bit fields, and a map whose field
  // has its top bit set is refused, "risk of counter overflow", GNTST_general_error. The model
  // used to count without a bound. Another domain's grant, and the same grant once a mapping
  // goes, map as before.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const other = await hv.createDomain(dom0, { name: "other", memoryBytes: 16 << 20 });
    const ref = await grantsOf(hv, vm).grantAccess(0, page(vm, 1).pfn);
    const ops = (n: number, readonly: boolean) =>
      Array.from({ length: n }, () => ({ domid: vm.domid, ref, readonly }));
    const ro = await hv.grantMapBatch(dom0, ops(GNTPIN_MAX_MAPS + 1, true));
    assert.deepEqual(
      ro.slice(0, GNTPIN_MAX_MAPS).map((r) => r.status),
      ops(128, true).map(() => 0),
    );
    assert.equal(ro[GNTPIN_MAX_MAPS].status, GNTST.general_error);
    assert.equal(ro[GNTPIN_MAX_MAPS].code, "EOVERFLOW");
    assert.match(ro[GNTPIN_MAX_MAPS].error!, /128 read-only mappings/);
    await rejectsXen(hv.grantMap(dom0, { domid: vm.domid, ref, readonly: true }), "EOVERFLOW");
    // Writable pins have their own counter.
    const rw = await hv.grantMapBatch(dom0, ops(GNTPIN_MAX_MAPS + 1, false));
    assert.equal(rw.filter((r) => r.status === 0).length, GNTPIN_MAX_MAPS);
    assert.equal(rw[GNTPIN_MAX_MAPS].code, "EOVERFLOW");
    // One mapping goes: one more may come.
    await hv.grantUnmap(dom0, ro[0].handle!);
    const again = await hv.grantMap(dom0, { domid: vm.domid, ref, readonly: true });
    // Another domain's grant is not affected.
    const oref = await grantsOf(hv, other).grantAccess(0, page(other, 2).pfn);
    const om = await hv.grantMap(dom0, { domid: other.domid, ref: oref });
    await hv.grantUnmap(dom0, om.handle);
    const mapped = [...ro.slice(1), ...rw].filter((r) => r.status === GNTST.okay);
    for (const h of [again.handle, ...mapped.map((r) => r.handle!)]) await hv.grantUnmap(dom0, h);
    assert.equal(hv.grantsMappedBy(0), 0);
    assert.equal(grantsOf(hv, vm).readEntry(ref).flags & (GTF_reading | GTF_writing), 0);
    await grantsOf(hv, vm).endAccess(ref);
  });
});

Deno.test("grant: a domain maps a grant it made to itself, as Xen 4.17's map_grant_ref lets it (no granter != mapper check)", async () => {
  const { engine, hv } = setup();
  await engine.run(async () => {
    const a = await hv.createDomain(hv.dom0, { name: "a", memoryBytes: 16 << 20 });
    const { addr, pfn } = page(a, 0x5a);
    const g = grantsOf(hv, a);
    const ref = await g.grantAccess(a.domid, pfn);
    // The raw hypercall, as a C guest makes it: GNTST_okay (0, xen/grant_table.h), not
    // GNTST_general_error (-1), which the model answered before.
    const r = await hv.hypercall(a, "grant_table_op:map_grant_ref", {
      ops: [{ domid: a.domid, ref }],
    });
    assert.equal(r.rc, 0);
    const [m] = r.value as { status: number; handle: number; addr: number }[];
    assert.equal(m.status, GNTST.okay, JSON.stringify(m));
    assert.equal(GNTST.okay, 0); // xen/grant_table.h: #define GNTST_okay (0)
    // The same frame, seen at both addresses; the entry shows the writable pin.
    assert.equal(a.memory.read(m.addr, 1)[0], 0x5a);
    a.memory.write(m.addr, new Uint8Array([0x77]));
    assert.equal(a.memory.read(addr, 1)[0], 0x77);
    assert.equal(g.readEntry(ref).flags, GTF_permit_access | GTF_reading | GTF_writing);
    // Read-only: a second pin of the same grant; unmapping both drops the status bits.
    const ro = await hv.grantMap(a, { domid: a.domid, ref, readonly: true });
    await hv.grantUnmap(a, m.handle);
    await hv.grantUnmap(a, ro.handle);
    assert.equal(g.readEntry(ref).flags, GTF_permit_access);
    // Mapped at teardown: the domain still goes, nothing leaks.
    await hv.grantMap(a, { domid: a.domid, ref });
    await hv.destroyDomain(hv.dom0, a.domid);
    assert.deepEqual(hv.audit(), []);
    assert.equal(hv.counters().faults, 0);
  });
});

Deno.test("grant: map refusals — domid, ref, entry contents, frames the granter does not own", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const a = await hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20 });
    const b = await hv.createDomain(dom0, { name: "b", memoryBytes: 16 << 20 });
    const { pfn } = page(a, 3);
    const grantForDom0 = await grantsOf(hv, a).grantAccess(0, pfn);
    await rejectsXen(hv.grantMap(dom0, { domid: 999, ref: grantForDom0 }), "ESRCH");
    await rejectsXen(hv.grantMap(dom0, { domid: 0x8000, ref: grantForDom0 }), "ESRCH"); // reserved
    await rejectsXen(hv.grantMap(dom0, { domid: 0x10000, ref: grantForDom0 }), "EINVAL"); // no domid_t
    await rejectsXen(hv.grantMap(dom0, { domid: a.domid, ref: grantsOf(hv, a).size }), "EINVAL");
    await rejectsXen(hv.grantMap(dom0, { domid: a.domid, ref: -1 }), "EINVAL");
    await rejectsXen(hv.grantMap(dom0, { domid: a.domid, ref: 1.5 }), "EINVAL");
    await rejectsXen(hv.grantMap(dom0, { domid: a.domid, ref: grantForDom0 + 1 }), "EINVAL"); // never granted
    await rejectsXen(hv.grantMap(b, { domid: a.domid, ref: grantForDom0 }), "EPERM"); // granted to dom0
    // a's own table, but the entry names dom0: _set_status_v1's domid check, not a self-map ban.
    await rejectsXen(hv.grantMap(a, { domid: a.domid, ref: grantForDom0 }), "EPERM");

    // Hostile entry contents written straight into the table.
    const poke = (ref: number, bytes: number[]) =>
      a.memory.write(grantsOf(hv, a).entryAddr(ref), new Uint8Array(bytes));
    poke(100, [GTF_transitive, 0, 0, 0, pfn & 0xff, pfn >> 8, 0, 0]);
    await rejectsXen(hv.grantMap(dom0, { domid: a.domid, ref: 100 }), "EINVAL");
    poke(101, [GTF_permit_access, GTF_sub_page >> 8, 0, 0, pfn & 0xff, pfn >> 8, 0, 0]);
    await rejectsXen(hv.grantMap(dom0, { domid: a.domid, ref: 101 }), "EINVAL");
    poke(102, [GTF_permit_access, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]); // frame 2^32-1
    await rejectsXen(hv.grantMap(dom0, { domid: a.domid, ref: 102 }), "EINVAL");

    // A page a maps from b is not a's to grant: refused at map time.
    const bp = page(b, 9);
    const bRef = await grantsOf(hv, b).grantAccess(a.domid, bp.pfn);
    const am = await hv.grantMap(a, { domid: b.domid, ref: bRef });
    const regrant = await grantsOf(hv, a).grantAccess(0, am.addr / 4096);
    const e = await rejectsXen(hv.grantMap(dom0, { domid: a.domid, ref: regrant }), "EINVAL");
    assert.match(e.message, /not a page dom\d+ owns/);
    // Nor are the shared-info page or the grant table itself.
    const si = await grantsOf(hv, a).grantAccess(0, a.sharedInfoAddr / 4096);
    await rejectsXen(hv.grantMap(dom0, { domid: a.domid, ref: si }), "EINVAL");
    const tbl = await grantsOf(hv, a).grantAccess(0, grantsOf(hv, a).entryAddr(0) / 4096);
    await rejectsXen(hv.grantMap(dom0, { domid: a.domid, ref: tbl }), "EINVAL");
    // Nor a page past a's memory.
    const past = await grantsOf(hv, a).grantAccess(0, (16 << 20) / 4096);
    await rejectsXen(hv.grantMap(dom0, { domid: a.domid, ref: past }), "EINVAL");
    // A page a never allocated is still its own (Xen: every pseudo-physical
    // frame of its reservation is): the map populates it.
    const last = (16 << 20) / 4096 - 1;
    assert.equal(a.memory.mfnOf(last), undefined);
    const hole = await grantsOf(hv, a).grantAccess(0, last);
    const hm = await hv.grantMap(dom0, { domid: a.domid, ref: hole });
    assert.equal(hm.mfn, a.memory.mfnOf(last));
    assert.equal(hv.mem.ownerOf(hm.mfn), `dom${a.domid}`);

    assert.equal(hv.stats().grantsMapped, 2, "a's mapping of b's page, dom0's of a's last page");
    await hv.grantUnmap(a, am.handle);
    await hv.grantUnmap(dom0, hm.handle);
    assert.deepEqual(hv.audit(), []);
  });
});

Deno.test("grant: unmap refusals — unknown, foreign and double handles", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const a = await hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20 });
    const b = await hv.createDomain(dom0, { name: "b", memoryBytes: 16 << 20 });
    const ref = await grantsOf(hv, a).grantAccess(0, page(a, 1).pfn);
    const m = await hv.grantMap(dom0, { domid: a.domid, ref });
    await rejectsXen(hv.grantUnmap(dom0, m.handle + 1), "EINVAL");
    await rejectsXen(hv.grantUnmap(dom0, -1), "EINVAL");
    await rejectsXen(hv.grantUnmap(dom0, 1 << 30), "EINVAL");
    await rejectsXen(hv.grantUnmap(b, m.handle), "EINVAL"); // handles resolve only in the caller
    assert.equal(hv.grantsMappedBy(0), 1);
    await hv.grantUnmap(dom0, m.handle);
    await rejectsXen(hv.grantUnmap(dom0, m.handle), "EINVAL");
  });
});

Deno.test("grant: a guest rewriting a mapped entry cannot move or steal the mapping", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const a = await hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20 });
    const b = await hv.createDomain(dom0, { name: "b", memoryBytes: 16 << 20 });
    const p1 = page(a, 0x31), p2 = page(a, 0x32);
    const ref = await grantsOf(hv, a).grantAccess(0, p1.pfn);
    const m = await hv.grantMap(dom0, { domid: a.domid, ref });
    // Point the live entry at another page and another domain, and clear Xen's bits.
    a.memory.write(
      grantsOf(hv, a).entryAddr(ref),
      new Uint8Array([1, 0, b.domid, 0, p2.pfn & 0xff, p2.pfn >> 8, 0, 0]),
    );
    assert.equal(dom0.memory.read(m.addr, 1)[0], 0x31, "mapping still on the original frame");
    // b is now named by the entry, but the grant is pinned by dom0.
    await rejectsXen(hv.grantMap(b, { domid: a.domid, ref }), "EBUSY");
    // dom0 is no longer named, but it holds the grant: map_grant_ref reads the entry only to
    // pin a grant first, so dom0 maps it again — the frame it pinned, not the new one.
    const again = await hv.grantMap(dom0, { domid: a.domid, ref });
    assert.equal(again.mfn, m.mfn);
    assert.equal(dom0.memory.read(again.addr, 1)[0], 0x31);
    await hv.grantUnmap(dom0, again.handle);
    await hv.grantUnmap(dom0, m.handle);
    // Unpinned: the entry is read again, and no longer names dom0.
    await rejectsXen(hv.grantMap(dom0, { domid: a.domid, ref }), "EPERM");
    // Once unpinned, b may map what the entry now says.
    const mb = await hv.grantMap(b, { domid: a.domid, ref });
    assert.equal(b.memory.read(mb.addr, 1)[0], 0x32);
    await hv.grantUnmap(b, mb.handle);
  });
});

Deno.test("grant: garbage in a guest's whole table gives errnos only and leaves other domains alone", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const evil = await hv.createDomain(dom0, {
      name: "evil",
      memoryBytes: 16 << 20,
      grantFrames: 2,
    });
    const good = await hv.createDomain(dom0, { name: "good", memoryBytes: 16 << 20 });
    const gp = page(good, 0x5a);
    const gref = await grantsOf(hv, good).grantAccess(0, gp.pfn);
    const gm = await hv.grantMap(dom0, { domid: good.domid, ref: gref });
    // Pages evil owns, so that a few garbage entries might even be valid.
    for (let i = 0; i < 8; i++) page(evil, i);

    const rng = new Prng(99);
    const size = grantsOf(hv, evil).size;
    for (let ref = 0; ref < size; ref++) {
      const bytes = new Uint8Array(8);
      for (let i = 0; i < 8; i++) bytes[i] = rng.int(256);
      if (ref % 3 === 0) bytes[0] = (bytes[0] & ~3) | GTF_permit_access; // valid type, random rest
      if (ref % 7 === 0) bytes[2] = bytes[3] = 0; // names dom0
      if (ref % 11 === 0) bytes[5] = bytes[6] = bytes[7] = 0; // small frame number
      evil.memory.write(grantsOf(hv, evil).entryAddr(ref), bytes);
    }
    const before = hv.stats();
    const ops = Array.from({ length: size }, (_, ref) => ({ domid: evil.domid, ref }));
    const results = await hv.grantMapBatch(dom0, ops);
    assert.equal(results.length, size);
    // GNTST_* statuses (bad flags or domid: general_error; a frame not evil's: bad_page).
    const allowed = new Set<number>([GNTST.okay, GNTST.general_error, GNTST.bad_page]);
    for (const r of results) assert.ok(allowed.has(r.status), `status ${r.status}`);
    const okHandles = results.filter((r) => r.status === 0).map((r) => r.handle!);
    assert.ok(results.some((r) => r.status === GNTST.general_error && r.code === "EPERM"));
    assert.ok(results.some((r) => r.status === GNTST.bad_page && r.code === "EINVAL"));
    assert.equal(hv.stats().grantsMapped, before.grantsMapped + okHandles.length);
    if (okHandles.length) {
      assert.deepEqual(await hv.grantUnmapBatch(dom0, okHandles), okHandles.map(() => 0));
    }
    // good's grant and data are intact.
    assert.equal(dom0.memory.read(gm.addr, 1)[0], 0x5a);
    assert.equal(
      grantsOf(hv, good).readEntry(gref).flags,
      GTF_permit_access | GTF_reading | GTF_writing,
    );
    assert.deepEqual(hv.stats(), before);
    await hv.grantUnmap(dom0, gm.handle);
  });
});

Deno.test("grant: table and maptrack limits give ENOSPC; a full address space ENOMEM", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const a = await hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20, grantFrames: 1 });
    const b = await hv.createDomain(dom0, { name: "b", memoryBytes: 16 << 20, maxMaptrack: 2 });
    assert.equal(grantsOf(hv, a).size, GRANT_ENTRIES_PER_FRAME);
    assert.deepEqual(await hv.grantQuerySize(a), { nrFrames: 1, maxNrFrames: 1 });
    const { pfn } = page(a, 1);
    const refs: number[] = [];
    for (let i = GNTTAB_NR_RESERVED_ENTRIES; i < grantsOf(hv, a).size; i++) {
      refs.push(grantsOf(hv, a).grantAccessNow(b.domid, pfn));
    }
    throwsXen(() => grantsOf(hv, a).grantAccessNow(b.domid, pfn), "ENOSPC");
    const m1 = await hv.grantMap(b, { domid: a.domid, ref: refs[0] });
    await hv.grantMap(b, { domid: a.domid, ref: refs[1] });
    await rejectsXen(hv.grantMap(b, { domid: a.domid, ref: refs[2] }), "ENOSPC");
    await hv.grantUnmap(b, m1.handle);
    await hv.grantMap(b, { domid: a.domid, ref: refs[2] });

    // A mapper whose address space is used up has nowhere to put the page.
    const full = await fullDomain(hv, "full");
    const ref = await grantsOf(hv, dom0).grantAccess(full.domid, page(dom0, 2).pfn);
    const before = hv.stats();
    await rejectsXen(hv.grantMap(full, { domid: 0, ref }), "ENOMEM");
    assert.deepEqual(hv.stats(), before);
    const flags = grantsOf(hv, dom0).readEntry(ref).flags;
    assert.equal(flags & (GTF_reading | GTF_writing), 0, "not marked in use");
  });
});

Deno.test("grant: maptrack handles come in Xen's free-list order — a freed handle goes to the tail, a page at a time", async () => {
  // grant_table.c get_maptrack_handle()/put_maptrack_handle(), one vCPU's list: handles are
  // taken from the head, freed ones appended at the tail, one kept as the tail while a new page
  // of MAPTRACK_PER_PAGE handles can be made (its first handle taken, the rest put at the head).
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const a = await hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20, grantFrames: 1 });
    const b = await hv.createDomain(dom0, { name: "b", memoryBytes: 16 << 20, maxMaptrack: 600 });
    const { pfn } = page(a, 1);
    const refs: number[] = [];
    for (let i = 0; i < 300; i++) refs.push(grantsOf(hv, a).grantAccessNow(b.domid, pfn));
    let next = 0;
    const map = async (n: number) =>
      (await hv.grantMapBatch(
        b,
        refs.slice(next, next += n).map((ref) => ({ domid: a.domid, ref })),
      ))
        .map((r) => r.handle);
    assert.equal(MAPTRACK_PER_PAGE, 256);
    assert.deepEqual(await map(3), [0, 1, 2]);
    await hv.grantUnmap(b, 0);
    await hv.grantUnmap(b, 1);
    // Not 1 (the last freed) nor 0: the rest of the first page comes first, then 0; 1 stays as
    // the list's tail, and the next handle is the first of a new page.
    const seq = await map(256);
    const firstPage = Array.from({ length: 253 }, (_, i) => 3 + i); // 3..255
    assert.deepEqual(seq, [...firstPage, 0, 256, 257]);
    assert.equal(hv.grantsMappedBy(b.domid), 257);

    // A maptrack that may grow no more hands out its last free entry too (Xen steals it from
    // another vCPU's list), and a handle unmapped there is the next one.
    const c = await hv.createDomain(dom0, { name: "c", memoryBytes: 16 << 20, maxMaptrack: 3 });
    const cRefs: number[] = [];
    for (let i = 0; i < 4; i++) cRefs.push(grantsOf(hv, a).grantAccessNow(c.domid, pfn));
    const cm = await hv.grantMapBatch(c, cRefs.map((ref) => ({ domid: a.domid, ref })));
    assert.deepEqual(cm.map((r) => r.handle ?? r.status), [0, 1, 2, GNTST.no_space]);
    await hv.grantUnmap(c, 1);
    await hv.grantUnmap(c, 0);
    const again = await hv.grantMapBatch(c, [{ domid: a.domid, ref: cRefs[3] }]);
    assert.equal(again[0].handle, 1, "the head of the list [1, 0]");
    assert.deepEqual(hv.audit(), []);
  });
});

Deno.test("grant: refs come lowest fresh first, else the last one freed, until the table is full", async () => {
  // The free list as Linux's gnttab_list keeps it: a stack that starts as every ref from
  // GNTTAB_NR_RESERVED_ENTRIES up, lowest on top; a freed ref goes back on top.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const a = await hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20, grantFrames: 1 });
    const g = grantsOf(hv, a);
    const { pfn } = page(a, 1);
    const stack: number[] = [];
    for (let r = g.size - 1; r >= GNTTAB_NR_RESERVED_ENTRIES; r--) stack.push(r);
    const held: number[] = [];
    const rng = new Prng(5);
    for (let step = 0; step < 3000; step++) {
      if (held.length > 0 && (stack.length === 0 || rng.int(3) === 0)) {
        const ref = held.splice(rng.int(held.length), 1)[0];
        g.endAccessNow(ref);
        stack.push(ref);
      } else {
        const ref = g.grantAccessNow(dom0.domid, pfn);
        assert.equal(ref, stack.pop(), `step ${step}`);
        held.push(ref);
      }
      if (stack.length === 0) throwsXen(() => g.grantAccessNow(dom0.domid, pfn), "ENOSPC");
    }
    assert.equal(g.inUse, held.length);
  });
});

Deno.test("grant: guest-side argument checks", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const a = await hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20 });
    throwsXen(() => grantsOf(hv, a).grantAccessNow(-1, 5), "EINVAL");
    throwsXen(() => grantsOf(hv, a).grantAccessNow(0x7ff0, 5), "EINVAL");
    throwsXen(() => grantsOf(hv, a).grantAccessNow(0, 2 ** 32), "EINVAL");
    throwsXen(() => grantsOf(hv, a).endAccessNow(grantsOf(hv, a).size), "EINVAL");
    throwsXen(() => grantsOf(hv, a).endAccessNow(GNTTAB_NR_RESERVED_ENTRIES), "EINVAL"); // not in use
  });
});

Deno.test("grant: costs — hypercallNs + grantMapNs per map, grantUnmapNs per unmap, grantEntryNs per entry", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const a = await hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20 });
    const pfns = [0, 1, 2, 3].map((i) => page(a, i).pfn);
    let t = engine.now;
    const refs = [];
    for (const p of pfns) refs.push(await grantsOf(hv, a).grantAccess(0, p));
    assert.equal(engine.now - t, 4 * X.grantEntryNs);

    t = engine.now;
    const one = await hv.grantMap(dom0, { domid: a.domid, ref: refs[0] });
    assert.equal(engine.now - t, X.hypercallNs + X.grantMapNs);
    t = engine.now;
    const many = await hv.grantMapBatch(
      dom0,
      refs.slice(1).map((ref) => ({ domid: a.domid, ref })),
    );
    assert.equal(engine.now - t, X.hypercallNs + 3 * X.grantMapNs);
    assert.ok(many.every((r) => r.status === 0));

    t = engine.now;
    await hv.grantUnmap(dom0, one.handle);
    assert.equal(engine.now - t, X.hypercallNs + X.grantUnmapNs);
    t = engine.now;
    await hv.grantUnmapBatch(dom0, many.map((r) => r.handle!));
    assert.equal(engine.now - t, X.hypercallNs + 3 * X.grantUnmapNs);

    const c = hv.counters();
    assert.equal(c.byKind["grant_table_op:map_grant_ref"], 2, "a batch is one hypercall");
    assert.equal(c.grantMaps, 4);
    assert.equal(c.grantUnmaps, 4);
  });
});
