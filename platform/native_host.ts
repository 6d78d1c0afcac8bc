/**
 * The bare-metal host platform: one OS with the HCA driver in its kernel.
 * Interrupts reach the driver after the interrupt entry cost; the OS's
 * processes open the device through the native kernel ABI.
 *
 * @module
 */
import type { ResourceKind } from "../hca/device.ts";
import { AddressSpace } from "../sim/address_space.ts";
import { Prng } from "../sim/prng.ts";
import { auditFrames, type AuditViolation } from "../sim/frame_audit.ts";
import { Domain } from "./domain.ts";
import {
  type HostCounters,
  type HostHardware,
  type HostPlatform,
  type HostSpec,
  zeroCounters,
} from "./host.ts";
import { HcaDriver } from "../drivers/native/driver.ts";
import { NativeUverbsDevice } from "../drivers/native/uverbs_native.ts";

/** Kernel address space of a host (EQ buffers and the kernel's UAR mapping). */
const KERNEL_BYTES = 64 << 20;

/**
 * The HCA kernel driver of a host, in the kernel whose address space is
 * `kernel`: the bare-metal OS's, or dom0's on a Xen host. Both register
 * the device under the same name, so guests and bare-metal programs open
 * it alike.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressSpace, Prng } from "../sim/mod.ts";
 * import { Cluster } from "./cluster.ts";
 * import { hostDriver } from "./native_host.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * assert.deepEqual(host.os.devices(), ["mthca0"]); // what the cluster's host runs
 * const kernel = new AddressSpace(host.hw.memory, "kernel", 64 << 20, new Prng(1));
 * assert.equal(hostDriver(host.hw, kernel).name, "mthca0"); // dom0's kernel names it alike
 * ```
 */
export function hostDriver(hw: HostHardware, kernel: AddressSpace): HcaDriver {
  return new HcaDriver({
    engine: hw.engine,
    profile: hw.profile,
    hca: hw.hca,
    kernel,
    name: "mthca0",
    // A named stream: drawing key tags changes no other generator's sequence.
    rng: Prng.derive(hw.seed, `${hw.name}/mthca0/keys`),
  });
}

/**
 * A bare-metal OS on a host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import { NativePlatform } from "./native_host.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * assert.ok(host.platform instanceof NativePlatform);
 * assert.equal(host.platform.kind, "native");
 * assert.equal(host.os, host.platform.os);
 * ```
 */
export class NativePlatform implements HostPlatform {
  readonly kind = "native";
  readonly os: Domain;
  readonly guests: readonly Domain[] = [];
  /**
   * The HCA driver of the OS's kernel.
   *
   * @internal
   */
  readonly driver: HcaDriver;
  /**
   * The kernel's own address space (queues, event rings).
   *
   * @internal
   */
  readonly kernel: AddressSpace;

  /**
   * Boot a bare-metal OS on the host's hardware.
   *
   * @param hw the host's hardware
   * @param spec the host's description
   */
  constructor(readonly hw: HostHardware, spec: HostSpec) {
    const memBytes = (spec.memoryMiB ?? 4096) * 1024 * 1024;
    this.kernel = new AddressSpace(hw.memory, `${hw.name} kernel`, KERNEL_BYTES, hw.rng.fork());
    const space = new AddressSpace(
      hw.memory,
      `${hw.name} os`,
      memBytes - KERNEL_BYTES,
      hw.rng.fork(),
    );
    this.os = new Domain({
      name: hw.name,
      engine: hw.engine,
      profile: hw.profile,
      space,
      machine: hw.memory,
      noise: hw.noise?.cpu("os"),
      nomad: hw.nomad,
      ipoib: hw.ipoib,
      ipoibPkey: spec.ipoibPkey,
      rng: Prng.derive(hw.seed, `${hw.name}/os/user`),
    });
    this.driver = hostDriver(hw, this.kernel);
    // The handler runs after interrupt entry (APIC, irq_enter, dispatch).
    hw.irq.connect((v) =>
      hw.engine.schedule(hw.profile.cpu.interruptNs, () => this.driver.handleInterrupt(v))
    );
  }

  /** Initialize the driver and offer the device to the OS's processes. */
  async start(): Promise<void> {
    if (this.driver.ready) return;
    await this.driver.init();
    this.os.addDevice(new NativeUverbsDevice(this.driver, this.os.space));
  }

  swCounts(): Partial<Record<ResourceKind, number>> {
    return this.driver.swCounts();
  }

  /** Every context on bare metal is the OS's own (the driver records owner 0). */
  holdsQp(domain: Domain, qpn: number): boolean {
    return domain === this.os && this.driver.qpOwner(qpn) === 0;
  }

  counters(): HostCounters {
    return zeroCounters();
  }

  /**
   * `host.audit()`: the frame census over the kernel's and the OS's spaces
   * and the driver's MTT pins; every pinned frame must be the OS's or the
   * kernel's; the device's MTT must match the pins.
   */
  audit(): AuditViolation[] {
    const pins = [...this.driver.pinnedFrames()];
    const out = auditFrames(this.hw.memory, {
      spaces: [this.kernel, this.os.space],
      references: pins.map((p) => ({
        mfn: p.mfn,
        kind: "pin" as const,
        holder: `${this.driver.name} MTT entry ${p.mtt}`,
      })),
    });
    const mine = new Set([this.kernel.owner, this.os.space.owner]);
    for (const p of pins) {
      const owner = this.hw.memory.ownerOf(p.mfn);
      if (owner !== undefined && !mine.has(owner)) {
        out.push({
          rule: "device",
          mfn: p.mfn,
          message: `${this.driver.name} MTT entry ${p.mtt} reaches frame ${p.mfn} of ${owner}`,
        });
      }
    }
    for (const message of this.driver.auditMtt()) out.push({ rule: "device-mtt", message });
    return out;
  }
}

/**
 * The factory registered for `hypervisor: false` hosts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./cluster.ts";
 * import { registerHostPlatform } from "./host.ts";
 * import { NativePlatform, nativePlatform } from "./native_host.ts";
 * const restore = registerHostPlatform("native", nativePlatform); // what the cluster does
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * assert.ok(cluster.addHost({ name: "n0", hypervisor: false }).platform instanceof NativePlatform);
 * restore();
 * ```
 */
export function nativePlatform(hw: HostHardware, spec: HostSpec): HostPlatform {
  return new NativePlatform(hw, spec);
}
