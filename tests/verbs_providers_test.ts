/**
 * Provider matching (drivers/verbs/providers.ts): a device is bound to the
 * user-level provider its identity matches, as libibverbs binds drivers —
 * never handed one by the kernel file.
 */
import assert from "node:assert/strict";
import { PCI_DEVICE_MT23108, PCI_VENDOR_MELLANOX } from "../hca/pci.ts";
import { SPLIT_PROVIDER, SplitProvider } from "../drivers/split/front.ts";
import type { UverbsDevice } from "../drivers/uapi/uverbs.ts";
import { Provider } from "../drivers/verbs/provider.ts";
import {
  matchProvider,
  MTHCA_PROVIDER,
  openContext,
  registerProvider,
  unregisterProvider,
} from "../drivers/verbs/providers.ts";
import { cluster, guest } from "./xenib_support.ts";

Deno.test("providers: bare metal and a bypass guest bind the mthca provider by PCI id; split binds its own", async () => {
  const { cluster: c, hosts } = await cluster([true, false]);
  const vm = await guest(hosts[0], "vm0");
  const split = await guest(hosts[0], "vm1", "split");
  const physical = { pciVendor: PCI_VENDOR_MELLANOX, pciDevice: PCI_DEVICE_MT23108 };
  assert.equal(matchProvider({ driver: "mthca", ...physical }), MTHCA_PROVIDER);
  assert.equal(matchProvider({ driver: "vib", ...physical }), MTHCA_PROVIDER);
  assert.equal(matchProvider({ driver: "vib-split" }), SPLIT_PROVIDER);
  assert.equal(matchProvider({ driver: "vib" }), undefined, "a vib device without a PCI function");
  await c.run(async () => {
    const n = await hosts[1].os.openDevice();
    const g = await vm.openDevice();
    const s = await split.openDevice();
    assert.equal(Object.getPrototypeOf(n.provider), Provider.prototype);
    assert.equal(Object.getPrototypeOf(g.provider), Provider.prototype);
    assert.ok(s.provider instanceof SplitProvider);
    for (const ctx of [n, g, s]) await ctx.close();
  });
});

Deno.test("providers: a device no provider drives is refused before it is opened", async () => {
  let opened = 0;
  const odd: UverbsDevice = {
    name: "odd0",
    identity: { driver: "odd", pciVendor: 0x1234, pciDevice: 0x0001 },
    open: () => {
      opened++;
      return Promise.reject(new Error("must not be opened"));
    },
  };
  await assert.rejects(
    openContext(odd, {} as never),
    /ENODEV: odd0: no user-level provider drives this device \(driver odd, PCI 1234:0001\)/,
  );
  assert.equal(opened, 0);
});

Deno.test("providers: without the split provider a split guest's device has no driver (ENODEV)", async () => {
  const { cluster: c, hosts } = await cluster([true]);
  const split = await guest(hosts[0], "vm1", "split");
  const uars = hosts[0].hca.stats().used.uar;
  assert.ok(unregisterProvider(SPLIT_PROVIDER), "the composition root registered it");
  try {
    await c.run(async () => {
      await assert.rejects(
        split.openDevice(),
        /ENODEV: mthca0: no user-level provider .*vib-split/,
      );
    });
    assert.equal(hosts[0].hca.stats().used.uar, uars, "nothing was opened");
  } finally {
    registerProvider(SPLIT_PROVIDER);
  }
  await c.run(async () => {
    const ctx = await split.openDevice();
    assert.ok(ctx.provider instanceof SplitProvider);
    await ctx.close();
  });
});
