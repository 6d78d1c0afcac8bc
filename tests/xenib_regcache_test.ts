/**
 * The registration cache of a guest (persistent grants, `drivers/front/
 * persistent.ts` and `drivers/back/grants.ts`): deregistration invalidates
 * the keys at once, dom0 keeps the pages' grant mappings, and registering
 * the same pages again maps nothing. Its limits: the `persistentGrants`
 * quota (idle mappings, least recently used given back first, through
 * RELEASE_GRANTS before the frontend ends the grants), the `grantMaps`
 * quota (idle mappings evicted to make room before a refusal), stale pages
 * (a page backed by another frame is never reused), and the protocol's
 * rules (one ref once per request; the persistent flag on REG_MR only).
 */
import assert from "node:assert/strict";
import { Errno, type XenGuest } from "../mod.ts";
import { VIB_F_PERSISTENT, VibOp } from "../drivers/vib/mod.ts";
import { ACCESS, cluster, xenOf } from "./xenib_support.ts";

const reqs =
  (h: { counters(): { byKind: { backendRequests: Record<string, number> } } }) => (op: string) =>
    h.counters().byKind.backendRequests[op] ?? 0;

Deno.test("guest: dereg frees the keys, dom0 keeps the mappings, the next regMr of those pages maps nothing", async () => {
  const { cluster: c, hosts } = await cluster([true]);
  const xen = hosts[0];
  const vm = await xen.createGuest({ name: "vm0", driver: "bypass" }) as XenGuest;
  await c.run(async () => {
    const ctx = await vm.openDevice();
    const pd = await ctx.allocPd();
    const buf = vm.memory.alloc(16 * 4096, 4096);
    const back = xenOf(xen).backend!.instances().get(vm.domid!)!;
    const mrs0 = xen.hca.stats().used.mr;
    const t0 = c.now;
    const a = await pd.regMr(buf, 16 * 4096, ACCESS);
    const cold = c.now - t0;
    await a.dereg();
    assert.equal(xen.hca.stats().used.mr, mrs0, "the device forgot the region");
    assert.deepEqual([back.grants.cachedIdle, vm.front.persistent.idle], [16, 16]);
    const maps = xen.counters().grantMaps;
    const t1 = c.now;
    const b = await pd.regMr(buf + 4096, 4096, ACCESS); // one of the cached pages
    const warm = c.now - t1;
    assert.equal(xen.counters().grantMaps, maps, "no grant map");
    assert.equal(reqs(xen)("REG_MR"), 2, "still a request to dom0: the MTT and MPT are written");
    assert.notEqual(b.lkey, a.lkey, "new keys");
    assert.ok(warm < cold, `warm ${warm} ns < cold ${cold} ns`);
    assert.deepEqual(back.grants.cacheStats, { hits: 1, misses: 16, evictions: 0, released: 0 });
    await b.dereg();
    const plain = await vm.openDevice(undefined, { regCache: false });
    const ppd = await plain.allocPd();
    const m = await ppd.regMr(buf, 4096, ACCESS);
    await m.dereg();
    assert.equal(xen.counters().grantMaps, maps + 1, "without the cache the page is mapped again");
  });
  await vm.shutdown();
  assert.deepEqual(xen.audit(), []);
});

Deno.test("guest: the persistentGrants quota bounds the idle cache; grants beyond it go back with the dereg", async () => {
  const { cluster: c, hosts } = await cluster([true]);
  const xen = hosts[0];
  const vm = await xen.createGuest({
    name: "vm0",
    driver: "bypass",
    quota: { persistentGrants: 4 },
  }) as XenGuest;
  await c.run(async () => {
    const pd = await (await vm.openDevice()).allocPd();
    const back = xenOf(xen).backend!.instances().get(vm.domid!)!;
    const granted0 = vm.grants.inUse;
    const a = vm.memory.alloc(8 * 4096, 4096);
    await (await pd.regMr(a, 8 * 4096, ACCESS)).dereg();
    // The four least recently used are dropped by dom0 within the DEREG_MR itself (no extra
    // round trip), then the frontend ends their grants.
    assert.equal(reqs(xen)("RELEASE_GRANTS"), 0);
    assert.equal(reqs(xen)("DEREG_MR"), 1);
    assert.deepEqual([back.grants.cachedIdle, vm.front.persistent.idle], [4, 4]);
    assert.equal(vm.grants.inUse, granted0 + 4, "and their grants were ended");
    // A frontend that keeps more than dom0 does (hostile, or out of step) only costs itself:
    // dom0 evicts beyond the quota on its own; a later RELEASE_GRANTS finds nothing to unmap.
    vm.front.persistent.limit = 100;
    const b = vm.memory.alloc(8 * 4096, 4096);
    await (await pd.regMr(b, 8 * 4096, ACCESS)).dereg();
    assert.deepEqual([back.grants.cachedIdle, vm.front.persistent.idle], [4, 12]);
    vm.front.persistent.limit = 4;
    // The last pages deregistered are the ones dom0 kept: registering them again maps nothing.
    const maps = xen.counters().grantMaps;
    await (await pd.regMr(b + 4 * 4096, 4 * 4096, ACCESS)).dereg();
    assert.equal(xen.counters().grantMaps, maps);
    // Pages dom0 evicted (a's last four): granted and mapped again, correctly.
    await (await pd.regMr(a + 4 * 4096, 4 * 4096, ACCESS)).dereg();
    assert.equal(xen.counters().grantMaps, maps + 4);
  });
  await vm.shutdown();
  assert.deepEqual(xen.audit(), []);
});

Deno.test("guest: idle cached mappings make room under the grantMaps quota before anything is refused", async () => {
  const { cluster: c, hosts } = await cluster([true]);
  const xen = hosts[0];
  // Two ring pages, then room for 8 more mappings.
  const vm = await xen.createGuest({ name: "vm0", quota: { grantMaps: 10 } }) as XenGuest;
  await c.run(async () => {
    const pd = await (await vm.openDevice()).allocPd();
    const back = xenOf(xen).backend!.instances().get(vm.domid!)!;
    const a = vm.memory.alloc(8 * 4096, 4096), b = vm.memory.alloc(8 * 4096, 4096);
    await (await pd.regMr(a, 8 * 4096, ACCESS)).dereg();
    const mb = await pd.regMr(b, 8 * 4096, ACCESS);
    assert.equal(back.grants.cacheStats.evictions, 8, "a's idle mappings made room for b");
    await assert.rejects(
      pd.regMr(a, 4096, ACCESS),
      (e: Error & { errno?: number }) =>
        e.errno === Errno.ENOMEM &&
        /REG_MR: the backend refused the request: over the guest's grantMaps quota/.test(e.message),
    );
    assert.equal(back.ledger.refusals.grantMaps, 1);
    assert.match(
      back.lastRefusal ?? "",
      /quota grantMaps of dom\d+: 10 held, 1 more asked, limit 10/,
    );
    await mb.dereg();
    // a's grants were evicted by dom0 on its own: registering a again maps them anew and works.
    await (await pd.regMr(a, 8 * 4096, ACCESS)).dereg();
  });
  await vm.shutdown();
  assert.deepEqual(xen.audit(), []);
});

Deno.test("guest: a page whose frame changed under a live region is never reused; its grant goes back at dereg", async () => {
  const { cluster: c, hosts } = await cluster([true]);
  const xen = hosts[0];
  const vm = await xen.createGuest({ name: "vm0" }) as XenGuest;
  await c.run(async () => {
    const pd = await (await vm.openDevice()).allocPd();
    const buf = vm.memory.alloc(4096, 4096);
    const oldMfn = vm.space.mfnOf(buf / 4096)!;
    const mr = await pd.regMr(buf, 4096, ACCESS);
    vm.memory.free(buf);
    const ctx2 = await vm.openDevice();
    assert.equal(ctx2.file.uarAddr, buf, "the UAR replaced the page under the live region");
    const mem = xen.hw.memory;
    assert.ok(mem.isAllocated(oldMfn), "the region and dom0's mapping still hold the old frame");
    await mr.dereg();
    assert.equal(vm.front.persistent.size, 0, "stale: given back, not cached");
    assert.equal(mem.isAllocated(oldMfn), false);
    assert.deepEqual(xen.audit(), []);
  });
  await vm.shutdown();
  assert.deepEqual(xen.audit(), []);
});

Deno.test("guest: a page never touched is refused before any grant, and cached like any other once the program's memory has it", async () => {
  const { cluster: c, hosts } = await cluster([true]);
  const xen = hosts[0];
  const vm = await xen.createGuest({ name: "vm0" }) as XenGuest;
  await c.run(async () => {
    const pd = await (await vm.openDevice()).allocPd();
    // Past the allocator's break, at the start of a chunk nobody touched: no frame yet.
    let probe = vm.memory.alloc(64, 4096);
    while ((probe / 4096 + 1) % 16 !== 0) probe = vm.memory.alloc(64, 4096);
    const page = probe + 4096;
    assert.equal(vm.space.mfnOf(page / 4096), undefined);
    const sent = xen.counters().backendRequests;
    await assert.rejects(pd.regMr(page, 4096, ACCESS), {
      code: "EFAULT",
      message: /^EFAULT: REG_MR: buffer 0x[0-9a-f]+\+4096: page 0x[0-9a-f]+ is not mapped memory$/,
    });
    assert.equal(xen.counters().backendRequests, sent, "refused in the guest, nothing sent");
    assert.equal(vm.front.persistent.size, 0, "no grant taken");
    assert.equal(vm.space.mfnOf(page / 4096), undefined, "nothing populated it");
    assert.equal(vm.memory.alloc(4096, 4096), page, "the program allocates it");
    await (await pd.regMr(page, 4096, ACCESS)).dereg();
    const maps = xen.counters().grantMaps;
    await (await pd.regMr(page, 4096, ACCESS)).dereg();
    assert.equal(xen.counters().grantMaps, maps, "the cached grant is reused");
  });
  await vm.shutdown();
  assert.deepEqual(xen.audit(), []);
});

Deno.test("hostile guest: one ref twice in a request, the persistent flag elsewhere, releasing refs in use", async () => {
  const { cluster: c, hosts } = await cluster([true]);
  const xen = hosts[0];
  const vm = await xen.createGuest({ name: "evil" }) as XenGuest;
  await c.run(async () => {
    const ctx = await vm.openDevice();
    const pd = await ctx.allocPd();
    const me = (ctx.file as unknown as { ctx: number }).ctx;
    const buf = vm.memory.alloc(2 * 4096, 4096);
    const ref = await vm.grants.grantAccess(0, buf / 4096, false);
    const reg = (flags: number, segs: number[]) =>
      vm.front.requestRaw({
        op: VibOp.REG_MR,
        flags,
        ctx: me,
        handle: pd.handle,
        body: { addr: buf, length: 2 * 4096, access: ACCESS, nrPages: 2 },
        segs,
      });
    const maps = xen.counters().grantMaps;
    for (const flags of [0, VIB_F_PERSISTENT]) {
      assert.equal((await reg(flags, [ref, ref]))!.status, -Errno.EINVAL, "the same grant twice");
    }
    assert.equal(xen.counters().grantMaps, maps, "refused before any mapping");
    const pdReq = await vm.front.requestRaw({
      op: VibOp.ALLOC_PD,
      flags: VIB_F_PERSISTENT,
      ctx: me,
      handle: 0,
      body: {},
      segs: [],
    });
    assert.equal(pdReq!.status, -Errno.EINVAL);
    // A live region's grants cannot be released out from under it.
    const mr = await pd.regMr(buf, 4096, ACCESS);
    const live = vm.front.persistent;
    assert.equal(live.size, 1);
    const rsp = await vm.front.requestRaw({
      op: VibOp.RELEASE_GRANTS,
      flags: 0,
      ctx: 0,
      handle: 0,
      body: { nrRefs: 2 },
      segs: [ref, 9999],
    });
    assert.deepEqual([rsp!.status, rsp!.body.released], [0, 0]);
    await mr.dereg();
    await vm.grants.endAccess(ref);
  });
  await vm.shutdown();
  assert.deepEqual(xen.audit(), []);
});

Deno.test("bare metal: no registration cache below the ABI; dereg invalidates as always", async () => {
  const { cluster: c, hosts } = await cluster([false]);
  const os = hosts[0].os;
  await c.run(async () => {
    const ctx = await os.openDevice(undefined, os.regCacheOption);
    const pd = await ctx.allocPd();
    const buf = os.memory.alloc(8192, 4096);
    const used = hosts[0].hca.stats().used.mr;
    const a = await pd.regMr(buf, 8192, ACCESS);
    await a.dereg();
    assert.equal(hosts[0].hca.stats().used.mr, used);
  });
});
