/**
 * The composition root: the one place that wires the device model, the
 * hypervisor and the drivers into machines. `Cluster` builds each host's
 * hardware and hands it to a host builder — a bare-metal OS with the
 * native HCA driver (`native_host.ts`), or a Xen host with dom0, the
 * native driver in dom0, the vib backend and guests whose frontends run
 * bypass or split (`xen_host.ts`, `xen_guest.ts`). `Domain` is an OS
 * instance that offers its devices to the verbs library; `CpuClock` and
 * `WatchedMemory` are the per-thread CPU account and the machine memory
 * that wakes waiters on writes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./mod.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", memoryMiB: 64, driver: "bypass" });
 * assert.deepEqual(vm.devices(), ["mthca0"]);
 * ```
 *
 * @module
 */
export { Cluster, type ClusterOptions } from "./cluster.ts";
export {
  type GuestDomain,
  type GuestOptions,
  HcaHandle,
  Host,
  type HostCounters,
  type HostHardware,
  type HostHca,
  type HostPlatform,
  type HostPlatformFactory,
  hostPlatformFactory,
  type HostSpec,
  type HypervisorLike,
  type QuotaName,
  registerHostPlatform,
  zeroCounters,
} from "./host.ts";
export { Domain, DomainMemory, type DomainOptions, type OpenDeviceOptions } from "./domain.ts";
export { CpuClock } from "./cpu.ts";
export { WatchedMemory } from "./memory_watch.ts";
export { NativePlatform, nativePlatform } from "./native_host.ts";
export { XenPlatform, xenPlatform } from "./xen_host.ts";
export { type QuotaUsage, XenGuest } from "./xen_guest.ts";
export {
  type MigrateOptions,
  migrateOptions,
  type MigrationResult,
  type MigrationRound,
} from "./migration.ts";
export { ManagementNetwork } from "./mgmt_net.ts";
