/**
 * The user-level verbs library (libibverbs plus its provider, API.md):
 * contexts and the verbs objects, completion channels, the connect helpers,
 * the connection manager (rdma_cm over IPoIB addresses),
 * the registration cache, the user-level provider and the table that
 * matches a device to its provider. The numbers, structs and errors it
 * shares with the kernel come from the kernel ABI (`drivers/uapi`) and are
 * re-exported here, as `infiniband/verbs.h` is the one header a program
 * includes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QpType, WrOpcode } from "./mod.ts";
 * assert.equal(QpType.RC, 2);
 * assert.equal(WrOpcode.RDMA_WRITE, 0);
 * ```
 *
 * @module
 */
export * from "../uapi/mod.ts";
export { Context, type VerbsAsyncEvent, type VerbsEnv } from "./context.ts";
export { Pd, type QpInitAttr } from "./pd.ts";
export { Mr, type ReregMrArgs } from "./mr.ts";
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
export {
  cmaAnyAddr,
  type CmEvent,
  CmId,
  type CmIdState,
  type ConnParam,
  EventChannel,
  RDMA_MAX_INIT_DEPTH,
  RDMA_MAX_RESP_RES,
  RdmaCm,
  type RdmaCmEnv,
  RdmaCmEvent,
  rdmaEventStr,
  RdmaPortSpace,
  type SockAddr,
} from "./rdma_cm.ts";
export {
  type AgentAddr,
  CM_AGENT_MAX_QUEUED_ANSWERS,
  CM_AGENT_QKEY,
  CmAgent,
  type CmHandler,
} from "./cm_agent.ts";
export {
  CM_ATTR,
  type CmDreq,
  type CmIdsOnly,
  type CmMra,
  type CmMsg,
  type CmRej,
  type CmRep,
  type CmReq,
  decodeCm,
  encodeCm,
  MAD_BYTES,
  type PathRecord,
  PRIVATE_DATA_BYTES,
  RejReason,
} from "./cm_mad.ts";
export {
  ARP_MCAST_SOLICIT,
  ARP_RETRANS_TIME_MS,
  type IpoibMember,
  IpoibNetwork,
  parseIpv4,
  type PathResolver,
} from "./ipoib.ts";
export {
  matches,
  matchProvider,
  MTHCA_PROVIDER,
  openContext,
  type ProviderDriver,
  type ProviderMatch,
  registerProvider,
  unregisterProvider,
} from "./providers.ts";
export { Ah } from "./ah.ts";
export { type NomadDeviceNeeds, NomadFile, type NomadHost } from "./nomad_file.ts";
export { NomadAgent, type NomadTimeline } from "./nomad_agent.ts";
export {
  type NomadAddr,
  type NomadEndpoint,
  type NomadMsg,
  NomadNetwork,
  type NomadNode,
} from "./nomad_net.ts";
export {
  type HandleXlate,
  type HeldSend,
  Provider,
  ProviderCq,
  type ProviderEnv,
  type ProviderMemory,
  ProviderQp,
  ProviderSrq,
  type QpGate,
  type ThreadCpu,
} from "./provider.ts";
