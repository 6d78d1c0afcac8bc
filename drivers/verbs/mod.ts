/**
 * The verbs library (API.md): cluster and hosts, domains, and the verbs
 * objects, plus the kernel ABI (`uverbs.ts`) and the platform extension
 * point (`host.ts`) that virtualized hosts build on.
 *
 * @example
 * ```ts
 * import { Cluster, QpType } from "./mod.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * console.log(QpType.RC); // 2
 * ```
 *
 * @module
 */
export * from "./enums.ts";
export * from "./errors.ts";
export { Cluster, type ClusterOptions } from "./cluster.ts";
export {
  type GuestDomain,
  type GuestOptions,
  HcaHandle,
  Host,
  type HostCounters,
  type HostHardware,
  type HostPlatform,
  type HostPlatformFactory,
  hostPlatformFactory,
  type HostSpec,
  type HypervisorLike,
  registerHostPlatform,
  zeroCounters,
} from "./host.ts";
export { Domain, DomainMemory, type DomainOptions, type OpenDeviceOptions } from "./domain.ts";
export { RegCacheFile, type RegCacheOptions } from "./reg_cache.ts";
export { Context, type VerbsAsyncEvent, type VerbsEnv } from "./context.ts";
export { Pd, type QpInitAttr } from "./pd.ts";
export { Mr } from "./mr.ts";
export { Cq } from "./cq.ts";
export { CompChannel } from "./comp_channel.ts";
export { Qp } from "./qp.ts";
export {
  type ConnectableQp,
  connectAttrs,
  type ConnectOptions,
  connectPair,
  connectQp,
  type QpEnd,
  type QpPeer,
} from "./connect.ts";
export { Srq } from "./srq.ts";
export { Ah } from "./ah.ts";
export { CpuClock } from "./cpu.ts";
export { WatchedMemory } from "./memory_watch.ts";
export * from "./types.ts";
export type * from "./uverbs.ts";
export {
  ATTR_MASK_BITS,
  attrMask,
  maskNames,
  modifyQpError,
  QP_STATE_TABLE,
  type QpAttrName,
  qpTypeName,
  stateName,
  type TransitionParams,
} from "./qp_state.ts";
export { cqLayout, qpLayout, roundPow2, sendWqeBytes, srqLayout } from "./wq_layout.ts";
export {
  Provider,
  ProviderCq,
  type ProviderEnv,
  type ProviderMemory,
  ProviderQp,
  ProviderSrq,
} from "./provider.ts";
export { HcaDriver, type HcaDriverOptions } from "../native/driver.ts";
export { UContext, type UContextOptions, type UserMemory } from "../native/ucontext.ts";
export { NativeUverbsDevice, pageTableMemory } from "../native/uverbs_native.ts";
export { NativePlatform, nativePlatform } from "../native/platform.ts";
