/**
 * A program that keeps using a guest's objects after the guest died (docs/api.md, `GuestDomain`):
 * every control call is EIO naming the disconnected device, `regMr` included — it used to grant
 * pages first and report the torn-down grant table as `ENOMEM: grant table full: EFAULT: grant
 * table not accessible …` — and memory accesses say the space was torn down, in bypass and split
 * mode, after a crash and after a clean shutdown.
 */
import assert from "node:assert/strict";
import { Access, AddressSpaceError, Cluster, VerbsError } from "../mod.ts";

for (const mode of ["bypass", "split"] as const) {
  for (const death of ["crash", "shutdown"] as const) {
    Deno.test(`calls after the guest's ${death} name what happened (${mode})`, async () => {
      const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
      const xen = cluster.addHost({ name: "x", hypervisor: true });
      await cluster.start();
      const vm = await xen.createGuest({ name: "vm", driver: mode });
      const reason = death === "crash" ? "guest crashed" : "device closed";
      await cluster.run(async () => {
        const ctx = await vm.openDevice();
        const pd = await ctx.allocPd();
        const addr = vm.memory.alloc(8192, 4096);
        const mr = await pd.regMr(addr, 4096, Access.LOCAL_WRITE);
        if (death === "crash") vm.crash();
        else await vm.shutdown();
        await cluster.sleep(1_000_000);
        const eio = (e: unknown) => {
          assert.ok(e instanceof VerbsError, `${e}`);
          assert.equal(e.code, "EIO");
          assert.equal(e.message, `EIO: mthca0: device disconnected (${reason})`);
          return true;
        };
        await assert.rejects(pd.regMr(addr, 4096, Access.LOCAL_WRITE), eio);
        await assert.rejects(ctx.allocPd(), eio);
        await assert.rejects(mr.dereg(), eio);
        assert.throws(() => vm.memory.read(addr, 4), (e: unknown) => {
          assert.ok(e instanceof AddressSpaceError);
          assert.match(e.message, /is not mapped \(the space was torn down: its domain is gone\)$/);
          return true;
        });
      });
      assert.deepEqual(xen.audit(), []);
    });
  }
}
