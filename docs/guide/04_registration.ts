// Memory registration: what regMr costs on bare metal and in a guest, per page, and with the cache.
import { Access, Cluster } from "../xenib/mod.ts";

const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
const bare = cluster.addHost({ name: "node0", hypervisor: false });
const xen = cluster.addHost({ name: "node1", hypervisor: true });
await cluster.start();
const vm = await xen.createGuest({ name: "vm0", memoryMiB: 64, driver: "bypass" });
const access = Access.LOCAL_WRITE | Access.REMOTE_WRITE;

await cluster.run(async () => {
  // regCache: false: every regMr goes to the kernel (in the guest: to dom0's backend).
  const native = await (await bare.os.openDevice(undefined, { regCache: false })).allocPd();
  const guest = await (await vm.openDevice(undefined, { regCache: false })).allocPd();
  console.log("pages  bare metal  bypass guest  extra per page  grant maps  backend requests");
  for (const pages of [1, 16, 256]) {
    const bytes = pages * 4096;
    const t0 = cluster.now;
    const nmr = await native.regMr(bare.os.memory.alloc(bytes, 4096), bytes, access);
    const t1 = cluster.now;
    const before = xen.counters();
    const gmr = await guest.regMr(vm.memory.alloc(bytes, 4096), bytes, access);
    const t2 = cluster.now;
    const after = xen.counters();
    console.log(
      [
        String(pages).padStart(5),
        `${((t1 - t0) / 1000).toFixed(1)} µs`.padStart(10),
        `${((t2 - t1) / 1000).toFixed(1)} µs`.padStart(12),
        `${((t2 - t1 - (t1 - t0)) / pages / 1000).toFixed(2)} µs`.padStart(14),
        String(after.grantMaps - before.grantMaps).padStart(10),
        String(after.backendRequests - before.backendRequests).padStart(16),
      ].join("  "),
    );
    await nmr.dereg();
    await gmr.dereg();
  }

  // The registration cache (on by default in guests): dom0 keeps the pages' grant mappings.
  const cached = await (await vm.openDevice()).allocPd();
  const buf = vm.memory.alloc(64 * 4096, 4096);
  for (const round of ["first", "second"]) {
    const before = xen.counters();
    const t0 = cluster.now;
    const mr = await cached.regMr(buf, 64 * 4096, access);
    const after = xen.counters();
    console.log(
      `cached context, ${round} regMr of 64 pages: ${(cluster.now - t0) / 1000} µs, ` +
        `${after.backendRequests - before.backendRequests} backend request, ` +
        `${after.grantMaps - before.grantMaps} grant maps, rkey 0x${mr.rkey.toString(16)}`,
    );
    await mr.dereg(); // its keys die here; the grant mappings stay for the next regMr
  }
});
