/**
 * The registration cache of the verbs layer: repeated registrations of a
 * buffer make no kernel call (no ring request in a guest), idle regions
 * stay registered until evicted, and a PD's deallocation flushes them; off
 * by default on bare metal, on in guests, switchable per context.
 */
import assert from "node:assert/strict";
import { RegCacheFile } from "../mod.ts";
import { ACCESS, cluster, guest } from "./xenib_support.ts";

Deno.test("guest: a cached registration costs no request; dealloc flushes; off on demand", async () => {
  const { cluster: c, hosts } = await cluster([true]);
  const vm = await guest(hosts[0], "vm0");
  await c.run(async () => {
    const ctx = await vm.openDevice();
    assert.ok(ctx.file instanceof RegCacheFile, "on by default in a guest");
    const pd = await ctx.allocPd();
    const buf = vm.memory.alloc(16 * 4096, 4096);
    const req = () => hosts[0].counters().byKind.backendRequests.REG_MR ?? 0;
    const mrs0 = hosts[0].hca.stats().used.mr;
    const a = await pd.regMr(buf, 16 * 4096, ACCESS);
    await a.dereg();
    const t = c.now;
    const b = await pd.regMr(buf + 4096, 4096, ACCESS); // inside the cached region
    assert.equal(c.now, t, "a hit takes no time");
    assert.equal(b.rkey, a.rkey);
    assert.equal(req(), 1, "one REG_MR request for two registrations");
    assert.equal(hosts[0].hca.stats().used.mr, mrs0 + 1, "the idle region stays registered");
    await b.dereg();
    await pd.dealloc();
    assert.equal(hosts[0].hca.stats().used.mr, mrs0, "dealloc of the PD flushed it");
    const plain = await vm.openDevice(undefined, { regCache: false });
    assert.ok(!(plain.file instanceof RegCacheFile));
  });
});

Deno.test("bare metal: off by default, and the same layer when asked", async () => {
  const { cluster: c, hosts } = await cluster([false]);
  const os = hosts[0].os;
  await c.run(async () => {
    const plain = await os.openDevice();
    assert.ok(!(plain.file instanceof RegCacheFile));
    const ctx = await os.openDevice(undefined, os.regCacheOption);
    const cache = ctx.file as RegCacheFile;
    const pd = await ctx.allocPd();
    const buf = os.memory.alloc(8192, 4096);
    for (let i = 0; i < 5; i++) await (await pd.regMr(buf, 8192, ACCESS)).dereg();
    assert.deepEqual(cache.stats, { hits: 4, misses: 1, evictions: 0 });
    // Eviction: more idle regions than the cache keeps.
    const small = new RegCacheFile(cache.inner, { maxIdle: 2 });
    const { pdHandle } = await small.allocPd();
    for (let i = 0; i < 4; i++) {
      const a = os.memory.alloc(4096, 4096);
      const r = await small.regMr({ pdHandle, addr: a, length: 4096, access: ACCESS });
      await small.deregMr(r.mrHandle);
    }
    assert.equal(small.stats.evictions, 2);
    assert.equal(small.size, 2);
    await small.deallocPd(pdHandle);
    assert.equal(small.size, 0);
  });
});
