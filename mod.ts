/**
 * xenib: VMM-bypass I/O for virtual machines (Liu, Huang, Abali, Panda,
 * USENIX ATC 2006) as an executable system in virtual time. This module only
 * re-exports the public API (API.md): clusters, hosts and domains
 * (`platform/`), the verbs library with its enums, errors and connect
 * helpers (`drivers/verbs`), verbs on real hardware (`openRealDevice`), cost
 * profiles and their loading, the engine and PRNG, packet capture (pcap) and
 * the hypervisor's public face (`host.hypervisor`, `XenError`), and the MPI
 * library as the namespace `mpi` (`mpi/`, docs/mpi.md). Driver
 * internals (the HCA driver, the frontend and backend, the rings) are not
 * part of it; tools and tests that study them import their modules.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "./mod.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * cluster.addHost({ name: "a", hypervisor: false });
 * await cluster.start();
 * assert.ok(cluster.now > 0);
 * ```
 *
 * @module
 */
export * from "./platform/mod.ts";
export * from "./drivers/verbs/mod.ts";
export * from "./drivers/verbs/real.ts";
export * from "./sim/profiles/mod.ts";
export {
  DeadlockError,
  Engine,
  type EngineOptions,
  type EventHandle,
  type EventLane,
  type ProcessInfo,
} from "./sim/engine.ts";
export { Prng } from "./sim/prng.ts";
export { AddressSpaceError } from "./sim/address_space.ts";
export { NOISE_MODES, type NoiseMode, type NoiseParams } from "./sim/noise.ts";
export * from "./hca/pcap.ts";
export * from "./hca/capture.ts";
export * from "./hca/rocev2.ts";
export type { CaptureFilter, CaptureRecord, Fabric, FaultRule } from "./hca/fabric.ts";
export type { HcaStats, ResourceKind } from "./hca/device.ts";
export type { AuditViolation } from "./sim/frame_audit.ts";
export {
  type GrantCopyResult,
  Hypervisor,
  type HypervisorCounters,
  type HypervisorStats,
} from "./hypervisor/hypervisor.ts";
export {
  decodeGnttabCopy,
  encodeGnttabCopy,
  GNTCOPY_dest_gref,
  GNTCOPY_source_gref,
  GNTST,
  type GntStatus,
  GNTTAB_COPY_SIZE,
  type GrantCopyOp,
  type GrantCopyPtr,
} from "./hypervisor/grant_table.ts";
export { XEN_NAMES, XenErrno, type XenErrnoCode, XenError } from "./hypervisor/errors.ts";
export {
  Domain as XenDomain,
  type DomainState,
  SHUTDOWN_REASONS,
  type ShutdownCode,
  type ShutdownReason,
  type TeardownReason,
} from "./hypervisor/domain.ts";
export type { ShadowOp, ShadowOpResult } from "./hypervisor/log_dirty.ts";
export type { DeviceReference, HypervisorAuditOptions } from "./hypervisor/audit.ts";
export type { Caller } from "./hypervisor/hypercalls.ts";
export type { VcpuPool } from "./hypervisor/vcpus.ts";
export type { HcaCounters } from "./hca/core.ts";
export type { Port } from "./hca/port.ts";
export type { Link } from "./hca/link.ts";
export type { SwitchNode } from "./hca/switch.ts";
export type { SubnetManager } from "./hca/subnet_manager.ts";
export { DEFAULT_PKEY, pkeyMatch } from "./hca/pkey.ts";
export * as mpi from "./mpi/mod.ts";
export type { LinkParams } from "./hca/link.ts";
export type { FabricNode, PortCounters, PortLinkState } from "./hca/port.ts";
export { SHADOW_OPS } from "./hypervisor/log_dirty.ts";
export type { MulticastGroup, SweepResult } from "./hca/subnet_manager.ts";
export type { SwitchCounters } from "./hca/switch.ts";
export type { VcpuOwnerStats, VcpuPolicy } from "./hypervisor/vcpus.ts";
export type { MachineMemory } from "./sim/memory.ts";
export type { HcaDevice } from "./drivers/native/driver.ts";
