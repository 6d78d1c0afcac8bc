/**
 * The native implementation of the kernel ABI (`drivers/uapi/uverbs.ts`):
 * a process on a bare-metal OS (or dom0) enters its own kernel, whose verbs
 * layer drives the HCA driver. Every call costs one system call plus the
 * kernel verbs work (`cpu.syscallNs + cpu.kernelVerbsNs`), then whatever
 * device commands it issues.
 *
 * @module
 */
import { PCI_DEVICE_MT23108, PCI_VENDOR_MELLANOX } from "../../hca/pci.ts";
import type { AddressSpace } from "../../sim/address_space.ts";
import { VerbsError } from "../uapi/errors.ts";
import type { DeviceIdentity, UverbsDevice, UverbsFile } from "../uapi/uverbs.ts";
import type { HcaDriver } from "./driver.ts";
import { UContext, type UserMemory } from "./ucontext.ts";

/**
 * The name the HCA driver registers its devices under (rdma-core's driver
 * id for this class of device).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NATIVE_DRIVER_NAME } from "./uverbs_native.ts";
 * assert.equal(NATIVE_DRIVER_NAME, "mthca");
 * ```
 */
export const NATIVE_DRIVER_NAME = "mthca";

/**
 * User memory of a process on the same OS as the driver: its page table
 * gives the frames directly (get_user_pages).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import { pageTableMemory } from "./uverbs_native.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * const mem = pageTableMemory(host.os.space);
 * const addr = host.os.memory.alloc(8192, 4096);
 * assert.equal(mem.frames(addr, 8192).length, 2); // two pages, two frames
 * assert.throws(() => mem.frames(0, 64), /EFAULT/); // page 0 is not mapped
 * ```
 */
export function pageTableMemory(space: AddressSpace): UserMemory {
  return {
    frames(addr: number, len: number): number[] {
      return space.pageRange(addr, len).map((p) => {
        const mfn = space.mfnOf(p);
        if (mfn === undefined || !space.owns(p)) {
          throw new VerbsError("EFAULT", `page 0x${(p * 4096).toString(16)} is not mapped memory`);
        }
        return mfn;
      });
    },
  };
}

/**
 * `/dev/infiniband/uverbsN` on a native OS, for processes of one address
 * space.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, type NativePlatform } from "../../mod.ts";
 * import { NativeUverbsDevice } from "./uverbs_native.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * const dev = new NativeUverbsDevice((host.platform as NativePlatform).driver, host.os.space);
 * await cluster.run(async () => {
 *   const file = await dev.open(); // one UAR page, mapped into the OS's space
 *   assert.equal(dev.openFiles, 1);
 *   await file.close();
 *   assert.equal(dev.openFiles, 0);
 * });
 * ```
 */
export class NativeUverbsDevice implements UverbsDevice {
  readonly name: string;
  /** The HCA's PCI function, registered by the HCA driver. */
  readonly identity: DeviceIdentity = {
    driver: NATIVE_DRIVER_NAME,
    pciVendor: PCI_VENDOR_MELLANOX,
    pciDevice: PCI_DEVICE_MT23108,
  };
  /** Files opened and not closed. */
  openFiles = 0;

  /**
   * @param driver the host's HCA driver
   * @param space the address space of the processes that open it
   */
  constructor(readonly driver: HcaDriver, readonly space: AddressSpace) {
    this.name = driver.name;
  }

  #enter = (): Promise<void> => {
    const c = this.driver.profile.cpu;
    return this.driver.engine.sleep(c.syscallNs + c.kernelVerbsNs);
  };

  async open(): Promise<UverbsFile> {
    if (!this.driver.ready) {
      throw new VerbsError(
        "ENODEV",
        `${this.name}: the HCA driver is not initialized (cluster.start())`,
      );
    }
    await this.#enter();
    const uarIndex = this.driver.allocUar();
    const uarAddr = this.space.mapForeign(this.driver.hca.uarMfn(uarIndex));
    this.openFiles++;
    return new UContext({
      driver: this.driver,
      memory: pageTableMemory(this.space),
      uarIndex,
      uarAddr,
      enter: this.#enter,
      onClose: () => {
        this.space.unmapForeign(uarAddr);
        this.driver.freeUar(uarIndex);
        this.openFiles--;
      },
    });
  }
}
