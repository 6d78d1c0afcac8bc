/**
 * The RDMA connection manager (librdmacm and the kernel's `rdma_cm` and
 * `ib_cm`, rdma_cm(7)): connect RC QPs by IP address and port instead of
 * exchanging QP numbers, LIDs and PSNs out of band.
 *
 * One {@link RdmaCm} per domain (`dom.rdmaCm`), the kernel module of that
 * domain: its address is the domain's IPoIB address (`ipoib.ts`), its
 * messages travel through the domain's own device (`cm_agent.ts`). A
 * guest's connection manager runs in the guest over its virtual HCA, so it
 * works unchanged in native, bypass and split domains and needs nothing new
 * from dom0. The domain's IPoIB interface is in one partition
 * ({@link RdmaCmEnv.pkey}): its ARP, PathRecord queries, CM MADs and the
 * QPs it connects all use that P_Key (docs/rdma_cm.md, "Partitions").
 *
 * The calls and their events, in librdmacm's order (rdma_cm(7)):
 *
 * - active side: {@link CmId.resolveAddr} → `ADDR_RESOLVED` (ARP over
 *   IPoIB: the peer's LID, GID and service QP; `ADDR_ERROR` on timeout),
 *   {@link CmId.resolveRoute} → `ROUTE_RESOLVED` (a PathRecord query to
 *   the subnet administrator; `ROUTE_ERROR`), {@link CmId.createQp},
 *   {@link CmId.connect} (REQ) → `ESTABLISHED` once the REP came and the
 *   program read its event: as librdmacm's `ucma_process_conn_resp`, reading
 *   it moves the QP to RTR and RTS and sends the RTU; `REJECTED` (status: the REJ
 *   reason, 8 when nobody listens on the port, 10 when the peer still had
 *   a connection with this QP: "stale connection") or `UNREACHABLE` (status
 *   -ETIMEDOUT when no answer came after the retries);
 * - passive side: {@link CmId.bindAddr}, {@link CmId.listen} →
 *   `CONNECT_REQUEST` on a new id, {@link CmId.createQp},
 *   {@link CmId.accept} (QP to RTR and RTS, REP) → `ESTABLISHED` when the
 *   RTU arrives; or {@link CmId.reject};
 * - either side: {@link CmId.disconnect} (QP to ERR, DREQ) →
 *   `DISCONNECTED` on both sides (DREP, or -ETIMEDOUT); each side's
 *   connection then waits out ib_cm's timewait (one local ACK timeout:
 *   2048 ms on OpenSM's paths) and its id gets `TIMEWAIT_EXIT` (status 0)
 *   unless it was destroyed first.
 *
 * The QP moves as librdmacm moves it with the kernel's `ib_cm` attributes:
 * INIT at `createQp` (access flags 0), then INIT→INIT (REMOTE_WRITE, plus
 * READ and ATOMIC when the peer's message asks for an initiator depth),
 * INIT→RTR (path, peer QPN, receive PSN = the QP's `initialPsn`, which
 * this side announces as its starting PSN, min RNR timer 0, responder
 * resources as granted) and RTR→RTS (send PSN = the starting PSN the peer
 * announced, ACK timeout = the path's packet lifetime + 1, initiator depth
 * as granted, the REQ's retry count, the peer's RNR retry count) when the
 * answer comes (`cm_req_handler`, `cm_rep_handler`, `cm_init_qp_*_attr`).
 *
 * The domain's own address, 127.0.0.0/8 and 0.0.0.0 resolve locally, without ARP
 * ({@link cmaAnyAddr}; cma.c's `cma_resolve_loopback` and `cma_bind_loopback`: the first active
 * port, its GID and P_Key at index 0, source 127.0.0.1); a connection to the own address works
 * within the domain, while the passive side refuses a REQ naming a loopback or zero address
 * (`validate_ipv4_net_dev`: REJECTED 28), as Linux's does (docs/rdma_cm.md, "Loopback").
 *
 * Private data: up to 56 bytes in `connect` (a REQ holds 92, the CMA header
 * takes 36: rdma_connect(3)), 196 in `accept`, 148 in `reject`; the peer's
 * event shows the whole field (56, 196 or 148 bytes, zero-padded), as
 * librdmacm's does.
 *
 * Not modelled: the UDP and IB port spaces (SIDR, UD QPs), multicast,
 * alternate paths (LAP/APR), IPv6, ids without a QP of their own
 * (`CONNECT_RESPONSE` handed to the program, `rdma_establish`), and
 * connection managers of domains that migrate.
 *
 * A listener holds at most its backlog of connection requests unread (ucma's
 * rule: 1..1023 as given, else 1024); a REQ beyond it is dropped without a
 * REJ, and the peer's retry is taken once the program has read some.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, QpType, RdmaCmEvent } from "../../mod.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const a = cluster.addHost({ name: "a", hypervisor: false }).os;
 * const b = cluster.addHost({ name: "b", hypervisor: false }).os;
 * await cluster.start();
 * const types = await cluster.run(async () => {
 *   const sch = b.rdmaCm.createEventChannel();
 *   const listener = await sch.createId();
 *   await listener.bindAddr({ ip: b.rdmaCm.ip, port: 7471 });
 *   await listener.listen(1);
 *   const server = cluster.spawn("server", async () => {
 *     const req = await sch.getEvent();
 *     const pd = await req.id.verbs!.allocPd();
 *     const cq = await req.id.verbs!.createCq(8);
 *     await req.id.createQp(pd, { type: QpType.RC, sendCq: cq, recvCq: cq,
 *       cap: { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 } });
 *     await req.id.accept({});
 *     req.ack();
 *     const est = await sch.getEvent();
 *     est.ack();
 *     return est.type;
 *   });
 *   const ch = a.rdmaCm.createEventChannel();
 *   const id = await ch.createId();
 *   await id.resolveAddr({ ip: b.rdmaCm.ip, port: 7471 });
 *   const seen = [];
 *   let ev = await ch.getEvent(); seen.push(ev.type); ev.ack();
 *   await id.resolveRoute();
 *   ev = await ch.getEvent(); seen.push(ev.type); ev.ack();
 *   const pd = await id.verbs!.allocPd();
 *   const cq = await id.verbs!.createCq(8);
 *   await id.createQp(pd, { type: QpType.RC, sendCq: cq, recvCq: cq,
 *     cap: { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 } });
 *   await id.connect({ privateData: new TextEncoder().encode("hello") });
 *   ev = await ch.getEvent(); seen.push(ev.type); ev.ack();
 *   seen.push(await server);
 *   return seen;
 * });
 * assert.deepEqual(types, [
 *   RdmaCmEvent.ADDR_RESOLVED, RdmaCmEvent.ROUTE_RESOLVED,
 *   RdmaCmEvent.ESTABLISHED, RdmaCmEvent.ESTABLISHED,
 * ]);
 * ```
 *
 * @module
 */
import type { Engine } from "../../sim/engine.ts";
import type { Profile } from "../../sim/profiles/mod.ts";
import { Access, PortState, QpState, QpType } from "../uapi/enums.ts";
import { Errno } from "../uapi/errors.ts";
import { VerbsError } from "../uapi/errors.ts";
import type { QpAttr } from "../uapi/types.ts";
import type { AgentAddr } from "./cm_agent.ts";
import { CmAgent } from "./cm_agent.ts";
import {
  type CmMsg,
  type CmRep,
  type CmReq,
  encodeCm,
  type PathRecord,
  PRIVATE_DATA_BYTES,
  RejReason,
} from "./cm_mad.ts";
import type { Context } from "./context.ts";
import { EventAcks } from "./event_acks.ts";
import { EventFile, waitTimeout } from "./event_file.ts";
import { type IpoibNetwork, parseIpv4 } from "./ipoib.ts";
import { DEFAULT_PKEY, pkeyMatch, pkeyText } from "../../hca/pkey.ts";
import type { Pd, QpInitAttr } from "./pd.ts";
import type { ThreadCpu } from "./provider.ts";
import type { Qp } from "./qp.ts";

/**
 * `enum rdma_cm_event_type` (rdma_cma.h).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RdmaCmEvent } from "./rdma_cm.ts";
 * assert.equal(RdmaCmEvent.ESTABLISHED, 9);
 * ```
 */
export const RdmaCmEvent = {
  ADDR_RESOLVED: 0,
  ADDR_ERROR: 1,
  ROUTE_RESOLVED: 2,
  ROUTE_ERROR: 3,
  CONNECT_REQUEST: 4,
  CONNECT_RESPONSE: 5,
  CONNECT_ERROR: 6,
  UNREACHABLE: 7,
  REJECTED: 8,
  ESTABLISHED: 9,
  DISCONNECTED: 10,
  DEVICE_REMOVAL: 11,
  MULTICAST_JOIN: 12,
  MULTICAST_ERROR: 13,
  ADDR_CHANGE: 14,
  TIMEWAIT_EXIT: 15,
} as const;

/**
 * `rdma_event_str`: the event's name as librdmacm spells it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rdmaEventStr } from "./rdma_cm.ts";
 * assert.equal(rdmaEventStr(8), "RDMA_CM_EVENT_REJECTED");
 * assert.equal(rdmaEventStr(99), "UNKNOWN EVENT");
 * ```
 */
export function rdmaEventStr(type: number): string {
  const name = Object.entries(RdmaCmEvent).find(([, v]) => v === type)?.[0];
  return name ? `RDMA_CM_EVENT_${name}` : "UNKNOWN EVENT";
}

/**
 * `enum rdma_port_space`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RdmaPortSpace } from "./rdma_cm.ts";
 * assert.equal(RdmaPortSpace.TCP, 0x0106);
 * ```
 */
export const RdmaPortSpace = { IPOIB: 0x0002, TCP: 0x0106, UDP: 0x0111, IB: 0x013f } as const;

/** The ucma ABI's private data buffer (`RDMA_MAX_PRIVATE_DATA`, struct ucma_abi_conn_param). */
const UCMA_PRIVATE_DATA_BYTES = 256;

/**
 * `RDMA_MAX_RESP_RES` (rdma_cma.h): as `responderResources`, "as many as
 * the device allows" (`connect`) or "as many as the request asked, up to
 * the device's limit" (`accept`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RDMA_MAX_RESP_RES } from "./rdma_cm.ts";
 * assert.equal(RDMA_MAX_RESP_RES, 0xff);
 * ```
 */
export const RDMA_MAX_RESP_RES = 0xff;

/**
 * `RDMA_MAX_INIT_DEPTH` (rdma_cma.h): the same for `initiatorDepth`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RDMA_MAX_INIT_DEPTH } from "./rdma_cm.ts";
 * assert.equal(RDMA_MAX_INIT_DEPTH, 0xff);
 * ```
 */
export const RDMA_MAX_INIT_DEPTH = 0xff;

/**
 * cma.c's `cma_any_addr` for IPv4: the zero network (`ipv4_is_zeronet`, 0.0.0.0/8) or a
 * loopback address (`ipv4_is_loopback`, 127.0.0.0/8). `rdma_bind_addr` binds such an address
 * to no device, and `rdma_resolve_addr` resolves one locally (`cma_resolve_loopback`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cmaAnyAddr } from "./rdma_cm.ts";
 * assert.deepEqual(["0.0.0.0", "127.0.0.1", "127.1.2.3", "10.0.0.1"].map(cmaAnyAddr), [
 *   true, true, true, false,
 * ]);
 * ```
 */
export function cmaAnyAddr(ip: string): boolean {
  const n = parseIpv4(ip);
  return n !== undefined && (n >>> 24 === 0 || n >>> 24 === 127);
}

/** `ipv4_is_zeronet`: 0.0.0.0/8, the zero half of {@link cmaAnyAddr} (`cma_zero_addr`). */
const cmaZeroNet = (ip: string) => parseIpv4(ip)! >>> 24 === 0;

/**
 * An IPv4 socket address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseIpv4 } from "./ipoib.ts";
 * import type { SockAddr } from "./rdma_cm.ts";
 * const server: SockAddr = { ip: "10.0.0.2", port: 18515 };
 * assert.equal(parseIpv4(server.ip), 0x0a000002);
 * ```
 */
export interface SockAddr {
  /** IPv4 address, dotted (`10.0.0.1`). */
  ip: string;
  /** Port number (the port space's). */
  port: number;
}

/**
 * `struct rdma_conn_param`; every field defaults to 0 as in a zeroed
 * struct. `responderResources` = {@link RDMA_MAX_RESP_RES} and
 * `initiatorDepth` = {@link RDMA_MAX_INIT_DEPTH} mean the device's limit
 * (capped by the request's in `accept`); no `ConnParam` at all (`connect()`,
 * `accept()`) is librdmacm's NULL: both at that maximum, retry and RNR retry
 * counts 7.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ConnParam } from "./rdma_cm.ts";
 * const p: ConnParam = { responderResources: 1, initiatorDepth: 1, retryCount: 7, rnrRetryCount: 7 };
 * assert.equal(p.privateData, undefined); // none: the peer sees zeros
 * ```
 */
export interface ConnParam {
  /** Private data for the peer's event (at most 56 bytes in `connect`, 196 in `accept`). */
  privateData?: Uint8Array;
  /** RDMA READs/atomics this side accepts as responder. */
  responderResources?: number;
  /** RDMA READs/atomics this side has outstanding as initiator. */
  initiatorDepth?: number;
  /** Transport retries 0..7 (larger values are taken as 7, as the kernel does). */
  retryCount?: number;
  /** RNR retries 0..7, 7 = infinite. */
  rnrRetryCount?: number;
}

/**
 * `struct rdma_cm_event`: its type, status (0, a negative errno, or a REJ
 * reason for `REJECTED`), the id it concerns (for `CONNECT_REQUEST` a new
 * one, `listenId` the listener) and the connection parameters it carries.
 * Every event must be acknowledged with {@link CmEvent.ack}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CmEvent, RdmaCmEvent } from "./rdma_cm.ts";
 * const noListener = (e: CmEvent) => e.type === RdmaCmEvent.REJECTED && e.status === 8;
 * assert.equal(noListener({ type: 8, status: 8 } as CmEvent), true);
 * ```
 */
export interface CmEvent {
  /** `RdmaCmEvent` value. */
  type: number;
  /** 0, a negative errno, or for `REJECTED` the REJ reason. */
  status: number;
  /** The id the event concerns (for `CONNECT_REQUEST`, a new id for the connection). */
  id: CmId;
  /** For `CONNECT_REQUEST`: the listening id. */
  listenId?: CmId;
  /** The connection parameters the peer's message carried. */
  param: {
    privateData?: Uint8Array;
    responderResources?: number;
    initiatorDepth?: number;
    retryCount?: number;
    rnrRetryCount?: number;
    /**
     * The peer's QP number (`CONNECT_REQUEST`; the active side's `ESTABLISHED`,
     * from the REP — the passive side's, from the RTU, carries none).
     */
    qpNum?: number;
  };
  /** `rdma_ack_cm_event`. */
  ack(): void;
}

/**
 * What a domain's connection manager runs on (the composition root builds it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RdmaCmEnv } from "./rdma_cm.ts";
 * const where = (e: Pick<RdmaCmEnv, "name">) => e.name;
 * assert.equal(where({ name: "vm0" }), "vm0");
 * ```
 */
export interface RdmaCmEnv {
  /** The domain's name, for messages. */
  name: string;
  /** The engine its waits run on. */
  engine: Engine;
  /** The cost profile (the `cm` group: timeouts, retries). */
  profile: Profile;
  /** The calling thread's CPU account. */
  cpu: ThreadCpu;
  /** The domain's IPoIB link. */
  network: IpoibNetwork;
  /** The domain's first RDMA device (the one its IPoIB interface is on). */
  openDevice(): Promise<Context>;
  /**
   * The partition of the domain's IPoIB interface (default 0xffff, the default partition): the
   * P_Key its ARP and management datagrams carry, the PathRecords it asks for and the REQs it
   * sends, and its rdma_cm QPs' (Linux: the interface's broadcast address carries it,
   * `ib_addr_get_pkey`, and the cma finds its index, `cma_ib_init_qp_attr`).
   */
  pkey?: number;
}

/** The cma's CM response timeout (CMA_CM_RESPONSE_TIMEOUT: 4.096 µs × 2^20, 4096 ms to ib_cm). */
const CM_RESPONSE_TIMEOUT = 20;

/**
 * The index of `pkey` in port 1's P_Key table on `ctx`, reading the entries in turn (one
 * `ibv_query_pkey` each) until it is found: with `exact`, the entry equal to it, as
 * ibv_get_pkey_index(3) finds one; otherwise an entry of its partition, a full member's before a
 * limited one's, as `ib_find_cached_pkey` (drivers/infiniband/core/cache.c) finds one. EINVAL
 * naming the P_Key when the table has none.
 */
async function pkeyIndexOf(
  ctx: Context,
  pkey: number,
  exact: boolean,
  who: string,
): Promise<number> {
  const len = ctx.queryPort(1).pkeyTblLen;
  let limited: number | undefined;
  for (let i = 0; i < len; i++) {
    const e = await ctx.queryPkey(1, i);
    if (exact ? e === pkey : (e & 0x7fff) !== 0 && ((e ^ pkey) & 0x7fff) === 0) {
      if (exact || e & 0x8000) return i;
      limited ??= i;
    }
  }
  if (limited !== undefined) return limited;
  return fail(
    "EINVAL",
    `rdma_cm ${who}: port 1's P_Key table has no ${
      pkeyText(pkey)
    } (the IPoIB interface's partition)`,
  );
}
/** The cma's retries of a CM message (CMA_MAX_CM_RETRIES). */
const MAX_CM_RETRIES = 15;
/**
 * The service timeout of the cma's MRA (CMA_CM_MRA_SETTING: IB_CM_MRA_FLAG_DELAY | 24,
 * 4.096 µs × 2^24, 65536 ms to ib_cm): how long a request handed to the program may wait
 * for its `accept` or `reject`.
 */
const CM_MRA_SERVICE_TIMEOUT = 24;
/**
 * The most connection requests a listener holds unread, and the backlog a
 * `listen` of 0 or of more gets: ucma's `max_backlog` (the sysctl
 * net.rdma_ucm.max_backlog, 1024 by default; drivers/infiniband/core/ucma.c,
 * ucma_listen).
 */
const RDMA_MAX_BACKLOG = 1024;
/** Bytes of the CMA header at the start of a REQ's private data (struct cma_hdr). */
const CMA_HDR_BYTES = 36;
/**
 * The ports a bind to port 0 takes: Linux's default ip_local_port_range, 32768..60999, which
 * `cma_alloc_any_port` (drivers/infiniband/core/cma.c) searches through
 * `inet_get_local_port_range`.
 */
const EPHEMERAL_FIRST = 32768;
const EPHEMERAL_LAST = 60999;
const MTU_BYTES = [0, 256, 512, 1024, 2048, 4096];

/**
 * The state of a {@link CmId} (`enum rdma_cm_state` and ib_cm's, in one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CmIdState } from "./rdma_cm.ts";
 * const ready = (s: CmIdState) => s === "established";
 * assert.equal(ready("idle"), false);
 * ```
 */
export type CmIdState =
  | "idle"
  | "addr_bound"
  | "addr_query"
  | "addr_resolved"
  | "route_query"
  | "route_resolved"
  | "listen"
  | "req_sent"
  | "req_rcvd"
  | "rep_rcvd"
  | "rep_sent"
  | "established"
  | "dreq_sent"
  | "dreq_rcvd"
  | "timewait"
  | "disconnected"
  | "rejected"
  | "unreachable"
  | "destroyed";

const fail = (code: keyof typeof Errno, msg: string): never => {
  throw new VerbsError(code, msg);
};

/** A value as an error message names it: a string quoted, so "1" is not read as the number 1. */
const show = (v: unknown) => typeof v === "string" ? JSON.stringify(v) : String(v);

/**
 * A domain's connection manager.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const h = cluster.addHost({ name: "a", hypervisor: false });
 * assert.equal(h.os.rdmaCm.ip, "10.0.0.1"); // the first domain created gets .1
 * ```
 */
export class RdmaCm {
  /** What the connection manager runs on. */
  readonly env: RdmaCmEnv;
  /** The domain's IPoIB address. */
  readonly ip: string;
  /** The partition of the domain's IPoIB interface ({@link RdmaCmEnv.pkey}). */
  readonly pkey: number;
  #ctx: Promise<Context> | undefined;
  #agent: Promise<CmAgent> | undefined;
  /** The subnet administrator's services in other partitions than the interface's, by index. */
  #saAgents = new Map<number, Promise<CmAgent>>();
  /** Where a PathRecord query of each P_Key goes, once found ({@link saAddress}). */
  #saAddrs = new Map<number, Promise<AgentAddr>>();
  #ports = new Map<number, CmId>();
  #nextPort = EPHEMERAL_FIRST;
  #nextCommId = 1;
  /** ids by local communication ID */
  #byComm = new Map<number, CmId>();
  /**
   * Passive ids by the peer's connection manager and its communication ID,
   * to spot a retransmitted REQ (ib_cm's remote_id table, keyed by remote
   * comm ID and remote CA GUID: `cm_insert_remote_id`). The peer's CM is its
   * service's address, LID and QPN as the HCA stamps them: the guests of one
   * host share their port's LID and HCA, and every domain's CM numbers its
   * connections from 1, so a LID alone took a second guest's first REQ for a
   * retransmission of the first guest's and dropped it.
   */
  #byRemote = new Map<string, CmId>();

  /**
   * The connection manager of one domain's kernel, attached to its IPoIB link.
   *
   * @param env see {@link RdmaCmEnv}
   */
  constructor(env: RdmaCmEnv) {
    this.env = env;
    this.pkey = env.pkey ?? DEFAULT_PKEY;
    this.ip = env.network.attach(this);
  }

  /** The domain's name. */
  get name(): string {
    return this.env.name;
  }

  /** `rdma_create_event_channel`. */
  createEventChannel(): EventChannel {
    return new EventChannel(this);
  }

  /** The address leaves the IPoIB link (the domain is going away). */
  detach(): void {
    this.env.network.detach(this.ip);
  }

  /** @internal the device context ids are bound to (`id->verbs`), opened once */
  context(): Promise<Context> {
    this.#ctx ??= this.env.openDevice();
    return this.#ctx;
  }

  /**
   * @internal Whether the kernel's management service has started (its UD QP and address
   * handles are on the device from then on).
   */
  get agentStarted(): boolean {
    return this.#agent !== undefined || this.#saAgents.size > 0;
  }

  /** @internal the domain kernel's management service, started on first use */
  agent(): Promise<CmAgent> {
    this.#agent ??= (async () => {
      // The kernel's own consumer of the device, apart from the programs' context.
      const ctx = await this.env.openDevice();
      // The default partition is index 0's in every table (hca/pkey.ts, partitionTable): no
      // lookup. Another is looked up by value, as ibv_get_pkey_index(3) does.
      const partition = this.pkey === DEFAULT_PKEY
        ? undefined
        : { pkey: this.pkey, pkeyIndex: await pkeyIndexOf(ctx, this.pkey, true, this.name) };
      const a = await CmAgent.start(ctx, this.env.network, this.ip, partition);
      a.onCm = (m, from) => this.#onCm(m, from);
      return a;
    })();
    return this.#agent;
  }

  /** The management service's address (an ARP for this domain's address starts it). */
  async agentAddress(): Promise<AgentAddr> {
    return (await this.agent()).address;
  }

  /**
   * On the subnet manager's node: the service that answers PathRecord queries carrying `pkey`.
   * The SA receives on its port's GSI, which takes a MAD whose P_Key matches any entry of the
   * port's table (IBTA vol 1 §10.9; `pkeyAccepts` for QP1); here the interface's service when
   * its P_Key matches, else a service on the table entry that does (found as
   * `ib_find_cached_pkey` finds one: the same partition, a full member first), started on first
   * use. With no such entry the query goes to the interface's service and the HCA drops it, as
   * it would drop it at QP1.
   */
  saAddress(pkey: number): Promise<AgentAddr> {
    if (pkeyMatch(pkey, this.pkey)) return this.agentAddress();
    let addr = this.#saAddrs.get(pkey);
    if (!addr) {
      addr = (async () => {
        const ctx = await this.context();
        const idx = await pkeyIndexOf(ctx, pkey, false, this.name).catch(() => undefined);
        const entry = idx === undefined ? 0 : await ctx.queryPkey(1, idx);
        if (idx === undefined || !pkeyMatch(pkey, entry)) return await this.agentAddress();
        let a = this.#saAgents.get(idx);
        if (!a) {
          a = (async () => {
            const dev = await this.env.openDevice();
            const s = await CmAgent.start(dev, this.env.network, this.ip, {
              pkey: entry,
              pkeyIndex: idx,
            });
            s.onCm = (m, from) => this.#onCm(m, from);
            return s;
          })();
          this.#saAgents.set(idx, a);
        }
        return (await a).address;
      })();
      this.#saAddrs.set(pkey, addr);
    }
    return addr;
  }

  /** @internal one system call on the rdma_cm device */
  async syscall(): Promise<void> {
    await this.env.cpu.settle();
    await this.env.engine.sleep(this.env.profile.cpu.syscallNs);
  }

  /**
   * @internal Bind `port` for `id`, bound to address `ip`. A port already taken is refused as
   * cma.c's `cma_check_port` refuses it: EADDRNOTAVAIL when either address is a wildcard or
   * loopback one (`cma_any_addr`: 0.0.0.0/8, 127.0.0.0/8), EADDRINUSE for the same address.
   */
  bindPort(id: CmId, port: number, ip: string): number {
    if (port === 0) {
      // cma_alloc_any_port: from the rover on, through the range once, wrapping to its start;
      // -EADDRNOTAVAIL when every port of it is taken. (Linux starts the rover at a random
      // port and skips the last one used; here it goes on from the port after the last one.)
      const size = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
      let tries = size;
      while (tries > 0 && this.#ports.has(this.#nextPort)) {
        this.#nextPort = this.#nextPort === EPHEMERAL_LAST ? EPHEMERAL_FIRST : this.#nextPort + 1;
        tries--;
      }
      if (tries === 0) {
        fail(
          "EADDRNOTAVAIL",
          `rdma_bind_addr: every port of ${EPHEMERAL_FIRST}..${EPHEMERAL_LAST} of ${this.ip} is in use`,
        );
      }
      port = this.#nextPort;
      this.#nextPort = port === EPHEMERAL_LAST ? EPHEMERAL_FIRST : port + 1;
    } else {
      const cur = this.#ports.get(port);
      if (cur !== undefined) {
        const anyHere = cmaAnyAddr(ip) || cur.boundIp === undefined || cmaAnyAddr(cur.boundIp);
        fail(
          anyHere ? "EADDRNOTAVAIL" : "EADDRINUSE",
          `rdma_bind_addr: port ${port} of ${this.ip} is in use` +
            (anyHere ? " (by or for a wildcard or loopback address)" : ""),
        );
      }
    }
    this.#ports.set(port, id);
    return port;
  }

  /** @internal */
  releasePort(id: CmId, port: number | undefined): void {
    if (port !== undefined && this.#ports.get(port) === id) this.#ports.delete(port);
  }

  /** @internal */
  newCommId(id: CmId): number {
    const c = this.#nextCommId++;
    this.#byComm.set(c, id);
    return c;
  }

  /** @internal */
  forget(id: CmId): void {
    if (id.localCommId !== 0) this.#byComm.delete(id.localCommId);
    for (const [k, v] of this.#byRemote) if (v === id) this.#byRemote.delete(k);
  }

  /**
   * @internal ib_cm's remote_qp_table: the id (other than `except`) whose connection is with
   * QP `qpn` of the CM at `from` and is still live — from the REQ received (passive side) or
   * the REP taken (active side) until it enters timewait or ends (`cm_insert_remote_qpn`,
   * `cm_remove_remote`, `cm_enter_timewait`)
   */
  liveConnectionTo(from: AgentAddr, qpn: number, except?: CmId): CmId | undefined {
    for (const id of this.#byComm.values()) {
      if (id !== except && id.connectedTo(from, qpn)) return id;
    }
    return undefined;
  }

  /**
   * @internal send a CM message to a peer's service; `answer`: it answers a message received
   * (dropped when the service already holds its limit of answers waiting: CmAgent.send)
   */
  async sendCm(to: AgentAddr, msg: CmMsg, tid: bigint, answer = false): Promise<void> {
    const agent = await this.agent();
    await agent.send(to, encodeCm(msg, tid), answer);
  }

  async #onCm(m: CmMsg & { tid: bigint }, from: AgentAddr): Promise<void> {
    if (m.kind === "REQ") return await this.#onReq(m, from);
    let found = "remoteCommId" in m ? this.#byComm.get(m.remoteCommId) : undefined;
    // A REJ from a peer that gave up before it learnt our ID (its destroy while its REQ
    // was out: reason "timeout") names only its own: ib_cm's cm_acquire_rejected_id finds
    // the connection by the remote ID.
    if (!found && m.kind === "REJ") found = this.#byRemote.get(remoteKey(from, m.localCommId));
    const id = found?.speaksFor(m, from) ? found : undefined;
    if (!id) {
      // IBTA §12.9.8.x: a message for no connection this CM knows is answered with
      // REJ (invalid communication ID) when it expects an answer; DREQ gets a DREP.
      // cm_issue_drep (drivers/infiniband/core/cm.c): its LocalCommID is the DREQ's
      // RemoteCommID and its RemoteCommID the DREQ's LocalCommID, so the sender's
      // cm_drep_handler, which finds its connection by both IDs, takes it (with 0, the sender
      // of a DREQ to a peer that destroyed its id waited out every retry: -ETIMEDOUT).
      if (m.kind === "DREQ") {
        await this.sendCm(
          from,
          { kind: "DREP", localCommId: m.remoteCommId, remoteCommId: m.localCommId },
          m.tid,
          true,
        );
      }
      return;
    }
    await id.onMessage(m, from);
  }

  async #onReq(req: CmReq & { tid: bigint }, from: AgentAddr): Promise<void> {
    const key = remoteKey(from, req.localCommId);
    const known = this.#byRemote.get(key);
    if (known) return await known.onMessage(req, from); // a retransmitted REQ
    // cm_match_req, "Check for stale connections" (IBTA vol. 1 §12.9.8.3.1): a REQ from a QP
    // this CM still has a connection with means the peer lost that connection and reuses the
    // QP. The REQ is rejected "stale connection" (10; cm_issue_rej: MessageRejected REQ,
    // LocalCommID the REQ's zero field) and the old connection, when established, gets a DREQ
    // (ib_send_cm_dreq). Linux keys the old connection by the REQ's LocalQPN and LocalCAGUID;
    // here the sender's service (LID and QPN, stamped by the HCA) stands for the CA, as for every
    // message of a connection (see `speaksFor`): a REQ claiming another guest's QPN from the same
    // HCA must not tear that guest's connection down.
    // cm_issue_rej: LocalCommID the REQ's zero field, MessageRejected REQ.
    const rejectReq = (reason: number) =>
      this.sendCm(
        from,
        {
          kind: "REJ",
          localCommId: 0,
          remoteCommId: req.localCommId,
          messageRejected: 0,
          reason,
        },
        req.tid,
        true,
      );
    const stale = this.liveConnectionTo(from, req.localQpn);
    if (stale) {
      await rejectReq(RejReason.STALE_CONN);
      await stale.dreqStale();
      return;
    }
    const ps = Number((req.serviceId >> 16n) & 0xffffn);
    const port = Number(req.serviceId & 0xffffn);
    const listener = ps === RdmaPortSpace.TCP ? this.#ports.get(port) : undefined;
    const hdr = new DataView(req.privateData.buffer, req.privateData.byteOffset, CMA_HDR_BYTES);
    const dstIp = formatIp(hdr.getUint32(32));
    const srcIp = formatIp(hdr.getUint32(16));
    // cm_match_req: no listener for the service ID (no id listens on the port) → REJ
    // "invalid service ID". The cma then matches the REQ's cma header against the port's
    // listeners (cma_ib_id_from_event: an IPv4 header, a destination this domain holds, as
    // cma_match_private_data and cma_get_net_dev require); a REQ that none takes fails
    // cma_ib_req_handler, and ib_cm's cm_destroy_id rejects it from IB_CM_REQ_RCVD: REJ
    // "consumer defined" (28), LocalCommID 0. So does one for another transport than RC
    // (cma_ib_check_req_qp_type: an RDMA_PS_TCP listener takes RC requests only), and one whose
    // header names a loopback or zero address, as destination (what `rdma_resolve_addr` to
    // 127.0.0.1 or 0.0.0.0 sends) or source (an id bound to 127.x): cma_get_net_dev finds the
    // IPoIB interface by GID and P_Key, and validate_ipv4_net_dev refuses either (-EHOSTUNREACH).
    const reason = !listener || !listener.listening
      ? RejReason.INVALID_SERVICE_ID
      : hdr.getUint8(1) >> 4 !== 4 || dstIp !== this.ip || cmaAnyAddr(srcIp) ||
          req.transportType !== 0
      ? RejReason.CONSUMER_REJECT
      : 0;
    if (reason !== 0 || !listener) {
      await rejectReq(reason);
      return;
    }
    // ucma_event_handler: a listener whose backlog of unread connection requests is full
    // takes no more (-ENOMEM); cm_destroy_id then neither rejects nor remembers the REQ
    // ("Do not reject to allow future retries": IB_CM_REQ_RCVD, err == -ENOMEM), so the
    // peer's retry is taken once the program has read some. Without it, any domain could
    // make a listener's connection manager allocate an id per REQ without bound.
    if (!listener.takeBacklog()) return;
    const id = new CmId(listener.channel, RdmaPortSpace.TCP);
    id.passiveFromReq(req, from, await this.context(), {
      local: { ip: dstIp, port },
      remote: { ip: srcIp, port: hdr.getUint16(2) },
    });
    this.#byRemote.set(key, id);
    listener.channel.deliver({
      type: RdmaCmEvent.CONNECT_REQUEST,
      status: 0,
      id,
      listenId: listener,
      param: {
        privateData: req.privateData.slice(CMA_HDR_BYTES),
        responderResources: req.initiatorDepth,
        initiatorDepth: req.responderResources,
        retryCount: req.retryCount,
        rnrRetryCount: req.rnrRetryCount,
        qpNum: req.localQpn,
      },
    });
  }
}

/** The key of a peer's connection in {@link RdmaCm}'s table of passive ids. */
const remoteKey = (from: AgentAddr, commId: number) => `${from.lid}:${from.qpn}:${commId}`;

/** ib_cm's `cm_convert_to_ms`: 4.096 µs × 2^t, approximated as 2^(t−8) ms (at least 1). */
const cmConvertToMs = (t: number) => 2 ** Math.max(t - 8, 0);

/**
 * ib_cm's `cm_ack_timeout`: the local ACK timeout the active side takes once
 * the REP names the peer's CA ACK delay (4.096 µs × 2^t ≥ the ACK delay plus
 * twice the packet lifetime): the larger of the delay and the lifetime + 1,
 * rounded up by one when the other is within a factor of two.
 */
function cmAckTimeout(caAckDelay: number, packetLifeTime: number): number {
  let t = packetLifeTime + 1;
  if (t >= caAckDelay) t += caAckDelay >= t - 1 ? 1 : 0;
  else t = caAckDelay + (t >= caAckDelay - 1 ? 1 : 0);
  return Math.min(31, t);
}

/**
 * The states in which ib_cm's remote_qp_table holds a connection (REQ received or REP taken,
 * up to timewait): those a REQ or REP from the same peer QP finds stale.
 */
const LIVE_CONN: CmIdState[] = [
  "req_rcvd",
  "rep_rcvd",
  "rep_sent",
  "established",
  "dreq_sent",
  "dreq_rcvd",
];

/** The states of an id that has (or had) an ib_cm id: those `disconnect` takes. */
const HAD_CONNECTION: CmIdState[] = [
  "req_sent",
  ...LIVE_CONN,
  "timewait",
  "disconnected",
  "rejected",
  "unreachable",
];

const formatIp = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join(".");

/**
 * `struct rdma_event_channel`: where the events of its ids queue.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const h = cluster.addHost({ name: "a", hypervisor: false });
 * const ch = h.os.rdmaCm.createEventChannel();
 * assert.equal(ch.pending, 0);
 * ch.destroy();
 * assert.throws(() => ch.destroy(), /destroyed/);
 * ```
 */
export class EventChannel {
  /** The connection manager the channel belongs to. */
  readonly cm: RdmaCm;
  #file: EventFile<CmEvent>;
  #ids = new Set<CmId>();
  #destroyed = false;

  /**
   * `rdma_create_event_channel`: a channel of `cm`'s domain.
   *
   * @param cm the domain's connection manager
   */
  constructor(cm: RdmaCm) {
    this.cm = cm;
    this.#file = new EventFile(() => cm.env, `rdma_cm event channel of ${cm.name}`);
  }

  /** Events queued and not yet taken. */
  get pending(): number {
    return this.#file.pending;
  }

  /**
   * `rdma_create_id`: a new id on this channel. Only the TCP port space
   * (reliable connected QPs) is modelled.
   *
   * @throws VerbsError EINVAL for a value that is no port space, EOPNOTSUPP for the ones not
   *   modelled (UDP, IPoIB, IB), EBADF on a destroyed channel
   */
  async createId(ps: number = RdmaPortSpace.TCP): Promise<CmId> {
    this.#live("rdma_create_id");
    // ucma.c's ucma_get_qp_type: a port space other than TCP, UDP, IPOIB and IB is -EINVAL.
    if (!(Object.values(RdmaPortSpace) as number[]).includes(ps)) {
      fail(
        "EINVAL",
        `rdma_create_id: ${typeof ps === "number" ? `0x${ps.toString(16)}` : String(ps)} is ` +
          "not a port space (RDMA_PS_TCP 0x106, UDP 0x111, IPOIB 0x2, IB 0x13f)",
      );
    }
    if (ps !== RdmaPortSpace.TCP) {
      fail(
        "EOPNOTSUPP",
        `rdma_create_id: port space 0x${ps.toString(16)} is not modelled (only RDMA_PS_TCP, ` +
          "0x106: RC QPs; UDP and IB need SIDR, which the model's CM does not have)",
      );
    }
    await this.cm.syscall();
    return new CmId(this, ps);
  }

  /** @internal */
  adopt(id: CmId): void {
    this.#ids.add(id);
  }

  /** @internal */
  release(id: CmId): void {
    this.#ids.delete(id);
  }

  /** @internal queue an event (or hand it to a waiting `getEvent`) */
  deliver(e: Omit<CmEvent, "ack">): void {
    let acked = false;
    const ev: CmEvent = {
      ...e,
      ack: () => {
        if (acked) fail("EINVAL", `rdma_ack_cm_event: ${rdmaEventStr(ev.type)} already acked`);
        acked = true;
        // A connection request is the listener's event (see getEvent).
        (e.listenId ?? e.id).acks.ack(1);
      },
    };
    this.#file.deliver(ev);
  }

  /**
   * @internal drop the queued, unread events of `id` (and, for a listener,
   * the connection requests it has not handed out); returns them
   */
  discard(id: CmId): CmEvent[] {
    return this.#file.discard((e) => e.id === id || e.listenId === id);
  }

  /**
   * `rdma_get_cm_event`: the next event, waiting in virtual time. With
   * `timeoutNs`, rejects with ETIMEDOUT when none came (a poll(2) on the
   * channel's fd with a timeout). The event counts against its id (and a
   * `CONNECT_REQUEST` against the listener) until it is acked.
   */
  async getEvent(opts?: { timeoutNs?: number }): Promise<CmEvent> {
    this.#live("rdma_get_cm_event");
    const timeoutNs = waitTimeout("rdma_get_cm_event", opts?.timeoutNs);
    const env = this.cm.env;
    await env.cpu.settle();
    for (;;) {
      const ev = await this.#file.read(timeoutNs);
      if (!ev) fail("ETIMEDOUT", `rdma_get_cm_event: no event within ${timeoutNs} ns`);
      // An event on its way to a sleeping reader when its id was destroyed: freed, as
      // ucma_free_ctx frees the events not yet reported.
      if (ev!.id.state === "destroyed") {
        if (ev!.type === RdmaCmEvent.CONNECT_REQUEST) ev!.listenId?.returnBacklog();
        continue;
      }
      // librdmacm's rdma_get_cm_event: after a CONNECT_RESPONSE it could not process (its
      // CONNECT_ERROR), an id's REJECTED and DISCONNECTED are dropped (`connect_error`).
      if (
        ev!.id.connectError &&
        (ev!.type === RdmaCmEvent.REJECTED || ev!.type === RdmaCmEvent.DISCONNECTED)
      ) continue;
      // ucma_get_event: a connection request read leaves the listener's backlog.
      if (ev!.type === RdmaCmEvent.CONNECT_REQUEST) ev!.listenId?.returnBacklog();
      // librdmacm's rdma_get_cm_event processes the REP of an id with a QP as it hands the
      // event over (ucma_process_conn_resp): the QP to RTR and RTS, then UCMA_CMD_ACCEPT,
      // which sends the RTU; the program sees ESTABLISHED, or CONNECT_ERROR.
      if (ev!.type === RdmaCmEvent.CONNECT_RESPONSE) await ev!.id.processConnResp(ev!);
      // ucma_get_event counts an event as reported only once it is read; rdma_destroy_id
      // waits for the reported ones to be acked (librdmacm's events_completed). A connection
      // request is counted on the listener alone (ucma_connect_event_handler makes it on the
      // listener's context; librdmacm's rdma_ack_cm_event completes it there), so the new id
      // may be destroyed before its request is acked.
      (ev!.listenId ?? ev!.id).acks.reported++;
      return ev!;
    }
  }

  /**
   * `rdma_destroy_event_channel`.
   *
   * @throws VerbsError EBUSY while ids are still on it (rdma_destroy_event_channel(3):
   *   destroy them first)
   */
  destroy(): void {
    this.#live("rdma_destroy_event_channel");
    if (this.#ids.size > 0) {
      fail("EBUSY", `rdma_destroy_event_channel: ${this.#ids.size} id(s) still use it`);
    }
    this.#destroyed = true;
  }

  #live(what: string): void {
    if (this.#destroyed) fail("EBADF", `${what}: the event channel was destroyed`);
  }
}

/**
 * `struct rdma_cm_id`: one endpoint, as a socket is one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const h = cluster.addHost({ name: "a", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const id = await h.os.rdmaCm.createEventChannel().createId();
 *   await id.bindAddr({ ip: h.os.rdmaCm.ip, port: 0 });
 *   assert.equal(id.state, "addr_bound");
 *   assert.equal(id.localAddr?.port, 32768); // the first ephemeral port
 * });
 * ```
 */
export class CmId {
  /** The channel that receives this id's events. */
  readonly channel: EventChannel;
  /** Its port space (`RdmaPortSpace.TCP`). */
  readonly ps: number;
  /** The connection state (the cma's and ib_cm's, in one). */
  state: CmIdState = "idle";
  /** `id->verbs`: the device context, once the address is resolved (or for a request). */
  verbs: Context | undefined;
  /** `id->port_num`. */
  portNum = 1;
  /** `id->qp`, from {@link createQp}. */
  qp: Qp | undefined;
  /** The PathRecord the route resolution got (`id->route.path_rec`). */
  route: PathRecord | undefined;
  /** The local address once bound or resolved. */
  localAddr: SockAddr | undefined;
  /** The peer's address once resolved or connected. */
  remoteAddr: SockAddr | undefined;
  /** `RDMA_OPTION_ID_TOS` (undefined: not set). */
  tos: number | undefined;
  /** @internal events of this id read with `getEvent`, and their acks */
  readonly acks = new EventAcks("event", "rdma_ack_cm_event");
  /** @internal */
  localCommId = 0;
  /** @internal */
  boundIp: string | undefined;
  #cm: RdmaCm;
  /**
   * The P_Key of an id `cma_bind_loopback` bound (index 0's entry of its port's table), which its
   * route and QP take instead of the IPoIB interface's; undefined otherwise.
   */
  #loopbackPkey: number | undefined;
  #remote: AgentAddr | undefined;
  #remoteGid: Uint8Array | undefined;
  #remoteCommId = 0;
  #remoteQpn = 0;
  /** ib_cm's `local_qpn`: the QP number this side's REQ or REP announced. */
  #localQpn = 0;
  #req: CmReq | undefined;
  /** The REP the active side took, until the program reads its event (`rep_rcvd`). */
  #rep: (CmRep & { tid: bigint }) | undefined;
  /**
   * @internal librdmacm's `connect_error`: processing the REP's event failed (CONNECT_ERROR),
   * so the id's REJECTED and DISCONNECTED events are dropped unread.
   */
  connectError = false;
  #conn: ConnParam = {};
  #tid = 0n;
  /** ib_cm's `timeout_ms` of the connection: how long each of its MADs waits for an answer. */
  #timeoutMs = 0;
  #maxCmRetries = MAX_CM_RETRIES;
  /**
   * ib_cm's `av.timeout` of the connection (4.096 µs × 2^t): the path's packet
   * lifetime + 1 (`cm_init_av_by_path`; the passive side's path has the REQ's
   * local ACK timeout − 1), on the active side rounded for the REP's target ACK
   * delay (`cm_rep_handler`: `cm_ack_timeout`). The timewait period is this.
   */
  #ackTimeout = 0;
  /**
   * The cma's RDMA_CM_DISCONNECT: `DISCONNECTED` was reported. Only such an id
   * hears of the timewait's end (`cma_ib_handler`).
   */
  #disconnectReported = false;
  #timer: ReturnType<Engine["schedule"]> | undefined;
  /** The message waiting for an answer: how long each try waits, and its timer's re-arm. */
  #retry: { periodNs: number; arm: () => void } | undefined;
  /** ib_cm's IB_CM_MRA_REQ_RCVD / IB_CM_MRA_REP_RCVD: an MRA already stretched the wait. */
  #mraReceived = false;
  #backlog = 0;
  /**
   * Connection requests this listener may still queue unread (ucma's
   * `ctx->backlog`): one less for each `CONNECT_REQUEST` queued, one more
   * for each read.
   */
  #backlogLeft = 0;

  /**
   * `rdma_create_id`: an idle id on `channel` in port space `ps`.
   *
   * @param channel the channel its events go to
   * @param ps port space
   */
  constructor(channel: EventChannel, ps: number) {
    this.channel = channel;
    this.ps = ps;
    this.#cm = channel.cm;
    channel.adopt(this);
  }

  /** True while listening (`rdma_listen`). */
  get listening(): boolean {
    return this.state === "listen";
  }

  /** The backlog `listen` was given. */
  get backlog(): number {
    return this.#backlog;
  }

  /**
   * @internal a connection request is queued for this listener: false (and
   * nothing taken) when its backlog is full
   */
  takeBacklog(): boolean {
    if (this.#backlogLeft === 0) return false;
    this.#backlogLeft--;
    return true;
  }

  /** @internal a connection request of this listener was read (ucma_get_event: backlog++) */
  returnBacklog(): void {
    this.#backlogLeft++;
  }

  #live(what: string): void {
    if (this.state === "destroyed") fail("EBADF", `${what}: the id was destroyed`);
  }

  #want(what: string, ...states: CmIdState[]): void {
    this.#live(what);
    if (!states.includes(this.state)) {
      fail("EINVAL", `${what}: not valid in state ${this.state} (needs ${states.join(" or ")})`);
    }
  }

  #event(type: number, status = 0, param: CmEvent["param"] = {}): void {
    if (this.state === "destroyed") return;
    if (type === RdmaCmEvent.DISCONNECTED) this.#disconnectReported = true;
    this.channel.deliver({ type, status, id: this, param });
  }

  /**
   * ib_cm's `cm_enter_timewait`: the connection is gone, but packets of it may
   * still be in the fabric, so its QP number stays out of use for one local ACK
   * timeout, `cm_convert_to_ms(av.timeout)` (2^(t−8) ms: 2048 ms for OpenSM's
   * packet lifetime 18, t = 19). Then `cm_timewait_handler` moves the ib_cm id
   * to IDLE and reports IB_CM_TIMEWAIT_EXIT, which `cma_ib_handler` passes on
   * as `TIMEWAIT_EXIT` (status 0) only to an id in RDMA_CM_DISCONNECT — one
   * that reported `DISCONNECTED` — and whose state it leaves as it is. An id
   * destroyed first hears nothing: `rdma_destroy_id` cancels the timer here
   * (in Linux the work finds no id: `cm_acquire_id` fails). `after` is the
   * state the id shows once timewait is over: `disconnected`, or `rejected`
   * for a connection a REJ ended (`cm_rej_handler`).
   */
  #enterTimewait(after: CmIdState = "disconnected"): void {
    this.#stopTimer();
    this.state = "timewait";
    const ns = cmConvertToMs(this.#ackTimeout) * 1e6;
    this.#timer = this.#cm.env.engine.schedule(ns, () => {
      this.#timer = undefined;
      if (this.state !== "timewait") return;
      this.state = after;
      if (this.#disconnectReported) this.#event(RdmaCmEvent.TIMEWAIT_EXIT);
    });
  }

  /**
   * `rdma_bind_addr`: this domain's address (or 0.0.0.0) and a port (0:
   * a free one of 32768..60999, Linux's ip_local_port_range). Bound to the domain's address, the id is bound to
   * its RDMA device too ({@link verbs}): rdma_bind_addr(3), "If binding to
   * a specific local address, the rdma_cm_id will also be bound to a local
   * RDMA device"; bound to 0.0.0.0 it is not.
   *
   * @throws VerbsError EINVAL (bad address or state), EADDRNOTAVAIL (not this domain's
   *   address, port 0 with every port of 32768..60999 taken, or a port taken where either
   *   bind is a wildcard or loopback address), EADDRINUSE (port taken for the same address)
   */
  async bindAddr(addr: SockAddr): Promise<void> {
    await this.#bind(addr, true);
  }

  /**
   * The bind; `device`: whether the id takes the device now (librdmacm's
   * rdma_bind_addr queries it; the bind inside `resolveAddr` and `listen`
   * does not — there `id->verbs` comes with ADDR_RESOLVED).
   */
  async #bind(addr: SockAddr, device: boolean): Promise<void> {
    this.#want("rdma_bind_addr", "idle");
    this.#checkAddr("rdma_bind_addr", addr);
    // rdma_bind_addr (drivers/infiniband/core/cma.c) acquires a device only for an address that
    // is not cma_any_addr: 0.0.0.0 and 127.0.0.0/8 bind the port alone.
    const any = cmaAnyAddr(addr.ip);
    if (addr.ip !== this.#cm.ip && !any) {
      fail("EADDRNOTAVAIL", `rdma_bind_addr: ${addr.ip} is not an address of ${this.#cm.name}`);
    }
    await this.#cm.syscall();
    const port = this.#cm.bindPort(this, addr.port, addr.ip);
    this.boundIp = addr.ip;
    // rdma_bind_addr copies the address as given into the id's source address: an id bound to
    // 0.0.0.0 reads it (rdma_get_local_addr) until addr_handler puts the resolved source there.
    this.localAddr = { ip: addr.ip, port };
    this.state = "addr_bound";
    if (device && !any) this.verbs = await this.#cm.context();
  }

  #checkAddr(what: string, addr: SockAddr): void {
    if (!addr || parseIpv4(addr.ip) === undefined) {
      fail("EINVAL", `${what}: '${addr?.ip}' is not an IPv4 address`);
    }
    if (!Number.isInteger(addr.port) || addr.port < 0 || addr.port > 65535) {
      fail("EINVAL", `${what}: port ${show(addr.port)} is not an integer in 0..65535`);
    }
  }

  /**
   * `rdma_listen`: connection requests to the bound port become
   * `CONNECT_REQUEST` events on this id's channel (an unbound id is bound
   * to an ephemeral port first, as the kernel does). At most `backlog` of
   * them wait unread: 1..1023 as given, anything else (0, a negative
   * count, 1024 and more) 1024, as ucma's `max_backlog`.
   *
   * @throws VerbsError EINVAL for a backlog that is not an integer, or an id
   *   already listening or past binding
   */
  async listen(backlog: number): Promise<void> {
    this.#want("rdma_listen", "idle", "addr_bound");
    if (!Number.isInteger(backlog)) {
      fail("EINVAL", `rdma_listen: backlog ${show(backlog)} is not an integer`);
    }
    if (this.state === "idle") await this.#bind({ ip: "0.0.0.0", port: 0 }, false);
    await this.#cm.syscall();
    this.#backlog = backlog;
    // ucma_listen: a backlog of 0 or less, or above max_backlog, is max_backlog (the
    // int librdmacm passes travels as rdma_ucm_listen's __u32: a negative one is huge).
    this.#backlogLeft = backlog > 0 && backlog < RDMA_MAX_BACKLOG ? backlog : RDMA_MAX_BACKLOG;
    this.state = "listen";
  }

  /**
   * `rdma_set_option(id, RDMA_OPTION_ID, RDMA_OPTION_ID_TOS)`: the type of
   * service of the connection. On InfiniBand the cma puts an IPv4 id's TOS
   * into the PathRecord query as its QoS class; a subnet administrator
   * without a QoS policy (as here, and OpenSM's default) answers with SL 0.
   */
  async setTos(tos: number): Promise<void> {
    this.#live("rdma_set_option");
    if (!Number.isInteger(tos) || tos < 0 || tos > 255) {
      fail("EINVAL", `rdma_set_option: TOS ${show(tos)} outside 0..255`);
    }
    await this.#cm.syscall();
    this.tos = tos;
  }

  /**
   * `rdma_resolve_addr`: ARP for `dst` on the IPoIB link; `ADDR_RESOLVED`
   * (the id is then bound to the device: {@link verbs}) or `ADDR_ERROR`
   * (status -ETIMEDOUT) after `timeoutMs`. An unanswered request goes out
   * again every second, three in all (Linux's neighbour probes, see
   * `CmAgent.arp`); only `timeoutMs` ends the wait (`process_one_req`,
   * drivers/infiniband/core/addr.c).
   *
   * The domain's own address, and the loopback and zero addresses
   * ({@link cmaAnyAddr}: 127.0.0.0/8, 0.0.0.0), resolve locally, without ARP,
   * `ADDR_RESOLVED` coming from a work item: the own address by the local
   * route (the IPoIB interface's own hardware address), a loopback or zero
   * address as cma.c's `cma_resolve_loopback` does — an id without a device
   * (idle, or bound to 0.0.0.0 or 127.x) is bound to the first device with an
   * active port, else port 1 (`cma_bind_loopback`: its GID at index 0, its
   * P_Key at index 0) and takes 127.0.0.1 as its source address; an id bound
   * to the domain's address keeps it and its device. Either way the
   * destination GID is the source GID and `remoteAddr` is `dst` as given. A
   * timeout of 0 is taken for those (the kernel has no check; the work item
   * runs at once); for another address it is EINVAL, since with no neighbour
   * cache modelled it could only fail.
   *
   * @throws VerbsError EINVAL (bad address, state or timeout), ENODEV for a
   *   loopback or zero address in a domain without an RDMA device
   *   (`cma_bind_loopback`: the id stays bound)
   */
  async resolveAddr(
    dst: SockAddr,
    opts: { src?: SockAddr; timeoutMs?: number } = {},
  ): Promise<void> {
    this.#want("rdma_resolve_addr", "idle", "addr_bound");
    // null is no options, as undefined (librdmacm's NULL src and the default timeout).
    opts ??= {};
    if (typeof opts !== "object") {
      fail("EINVAL", `rdma_resolve_addr: the options must be an object { src?, timeoutMs? }`);
    }
    this.#checkAddr("rdma_resolve_addr", dst);
    const any = cmaAnyAddr(dst.ip);
    const local = any || dst.ip === this.#cm.ip;
    const timeoutMs = opts.timeoutMs ?? 2000;
    if (!Number.isInteger(timeoutMs) || timeoutMs < 0) {
      fail("EINVAL", `rdma_resolve_addr: timeout ${show(timeoutMs)} ms is not a count of ms`);
    }
    if (timeoutMs === 0 && !local) {
      // The kernel takes 0 (rdma_resolve_ip arms its request for now): the address resolves
      // only if the neighbour is already valid. The model keeps no neighbour cache (every
      // resolution ARPs), so 0 could only fail here.
      fail(
        "EINVAL",
        `rdma_resolve_addr: timeout 0 ms for ${dst.ip} resolves only from the neighbour cache, ` +
          "which is not modelled (give a positive timeout)",
      );
    }
    // resolve_prepare_src → cma_bind_addr: an idle id is bound first, to the source given, else
    // to the zero address, which addr_handler replaces with the route's source at ADDR_RESOLVED.
    if (opts.src && this.state === "idle") await this.#bind(opts.src, false);
    else if (this.state === "idle") await this.#bind({ ip: "0.0.0.0", port: 0 }, false);
    // cma_resolve_loopback: an id without a device is bound to one first (cma_bind_loopback),
    // in the call: without a device rdma_resolve_addr fails -ENODEV, the id left bound.
    if (any && !this.verbs) await this.#bindLoopback();
    await this.#cm.syscall();
    this.remoteAddr = { ...dst };
    this.state = "addr_query";
    const engine = this.#cm.env.engine;
    void engine.spawn(`${this.#cm.name} rdma_resolve_addr`, async () => {
      let agent: CmAgent;
      try {
        agent = await this.#cm.agent();
      } catch {
        // The interface's P_Key is not in the port's table (the subnet manager took it away):
        // the interface has no carrier (ipoib's `ipoib_pkey_dev_check_presence`), nothing goes
        // out on it.
        if (this.state !== "addr_query") return;
        this.state = "addr_bound";
        return this.#event(RdmaCmEvent.ADDR_ERROR, -Errno.ENETUNREACH);
      }
      // The device is the id's only once its address resolved (addr_handler's
      // cma_acquire_dev_by_src_ip): after an ADDR_ERROR an id bound to the zero address has none.
      const verbs = await this.#cm.context();
      // The local route (own address: the interface's own hardware address; a loopback or zero
      // address: dgid = sgid, cma_resolve_loopback) answers without ARP; the destination is
      // this domain's management service, which hands a datagram to itself over in software.
      const r = local
        ? { ...agent.address, gid: agent.gid }
        : await agent.arp(dst.ip, timeoutMs * 1e6);
      if (this.state !== "addr_query") return;
      if (!r) {
        this.state = "addr_bound";
        return this.#event(RdmaCmEvent.ADDR_ERROR, -Errno.ETIMEDOUT);
      }
      this.verbs = verbs;
      // addr_handler (drivers/infiniband/core/cma.c) stores the route's source address in the
      // id (it restores the old one on ADDR_ERROR): an id on the zero address gets the domain's,
      // which its REQ's cma header then carries and cma_check_port compares later binds with.
      if (cmaZeroNet(this.localAddr!.ip)) {
        this.localAddr = { ip: this.#cm.ip, port: this.localAddr!.port };
        this.boundIp = this.#cm.ip;
      }
      this.#remote = { lid: r.lid, qpn: r.qpn };
      this.#remoteGid = r.gid;
      this.state = "addr_resolved";
      this.#event(RdmaCmEvent.ADDR_RESOLVED);
    });
  }

  /**
   * cma.c's `cma_bind_loopback`: the first device with an active port (the domain has one
   * device; its first active port, else port 1), the GID at index 0 of that port (the port's
   * GID, the IPoIB hardware address's) and the P_Key at index 0 of its table; the source
   * address becomes 127.0.0.1 (`cma_set_loopback`). ENODEV without a device. (The GID at index 0
   * is the one the management service carries, `CmAgent.gid`: the model's ports have one.)
   */
  async #bindLoopback(): Promise<void> {
    let ctx: Context;
    try {
      ctx = await this.#cm.context();
    } catch (e) {
      if (e instanceof VerbsError && e.code === "ENODEV") {
        fail(
          "ENODEV",
          `rdma_resolve_addr: ${this.#cm.name} has no RDMA device to bind the loopback address to ` +
            "(cma_bind_loopback)",
        );
      }
      throw e;
    }
    const ports = ctx.queryDevice().physPortCnt;
    let port = 1;
    for (let p = 1; p <= ports; p++) {
      if (ctx.queryPort(p).state === PortState.ACTIVE) {
        port = p;
        break;
      }
    }
    // ib_get_cached_pkey(…, 0): index 0's entry; the default partition's in every table but a
    // guest's whose first partition is another (it is then its interface's, hca/pkey.ts).
    this.#loopbackPkey = this.#cm.pkey === DEFAULT_PKEY
      ? DEFAULT_PKEY
      : await ctx.queryPkey(port, 0);
    this.portNum = port;
    this.localAddr = { ip: "127.0.0.1", port: this.localAddr!.port };
  }

  /**
   * `rdma_resolve_route`: a PathRecord query to the subnet administrator;
   * `ROUTE_RESOLVED` ({@link route} set) or `ROUTE_ERROR` (status
   * -ETIMEDOUT without an answer, -EINVAL when the SA answers with an error
   * status, as it does when it has no path).
   */
  async resolveRoute(timeoutMs = 2000): Promise<void> {
    this.#want("rdma_resolve_route", "addr_resolved");
    // The kernel has no check, but a 0 ms SA query is sent without waiting for an answer
    // (ib_post_send_mad: no response reference when timeout_ms is 0; ib_sa's send_handler then
    // calls no one on IB_WC_SUCCESS): the route query would never end. Refused here instead.
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) {
      fail(
        "EINVAL",
        `rdma_resolve_route: timeout ${show(timeoutMs)} ms is not a positive count ` +
          "(with 0 the kernel's SA query never reports)",
      );
    }
    // ib_sa drops its address handle for the subnet manager when the port leaves ACTIVE
    // (ib_sa_event) and makes it again when it comes back (update_sm_ah): meanwhile a query
    // cannot be made (sa_query.c alloc_mad: -EAGAIN), and rdma_resolve_route fails with it.
    if (this.verbs!.queryPort(this.portNum).state !== PortState.ACTIVE) {
      fail(
        "EAGAIN",
        `rdma_resolve_route: port ${this.portNum} is not active (no subnet manager to ask)`,
      );
    }
    await this.#cm.syscall();
    this.state = "route_query";
    void this.#cm.env.engine.spawn(`${this.#cm.name} rdma_resolve_route`, async () => {
      const agent = await this.#cm.agent();
      const r = await agent.queryPath(
        {
          dlid: this.#remote!.lid,
          dgid: this.#remoteGid!,
          qosClass: this.tos ?? 0,
          // cma_query_ib_route asks for the id's P_Key (ib_addr_get_pkey): the interface's, or
          // index 0's for an id cma_bind_loopback bound.
          pkey: this.#loopbackPkey,
        },
        timeoutMs * 1e6,
      );
      if (this.state !== "route_query") return;
      if (r === undefined || r === "none") {
        this.state = "addr_resolved";
        // The status is ib_sa's: -ETIMEDOUT when no answer came (send_handler,
        // IB_WC_RESP_TIMEOUT_ERR); an answer whose MAD status is not 0 (OpenSM's
        // ERR_NO_RECORDS for a PathRecord Get it has no path for) is -EINVAL (recv_handler in
        // drivers/infiniband/core/sa_query.c), which cma_query_handler passes on as is.
        return this.#event(
          RdmaCmEvent.ROUTE_ERROR,
          r === undefined ? -Errno.ETIMEDOUT : -Errno.EINVAL,
        );
      }
      this.route = r;
      this.state = "route_resolved";
      this.#event(RdmaCmEvent.ROUTE_RESOLVED);
    });
  }

  /**
   * `rdma_create_qp`: create an RC QP on `pd` (of the id's device) and move
   * it to INIT for the id's port, as the cma does; `id.qp` is it.
   *
   * @throws VerbsError EINVAL without a device yet, for a PD of another context, a QP already
   *   there or a type other than RC
   */
  async createQp(pd: Pd, init: QpInitAttr): Promise<Qp> {
    this.#live("rdma_create_qp");
    if (!this.verbs) {
      fail("EINVAL", "rdma_create_qp: the id has no device yet (resolve the address first)");
    }
    if (typeof pd !== "object" || pd === null || pd.context !== this.verbs) {
      fail("EINVAL", "rdma_create_qp: the PD belongs to another context than id->verbs");
    }
    if (typeof init !== "object" || init === null) {
      fail("EINVAL", "rdma_create_qp: give the QP's init attributes { type, sendCq, recvCq, cap }");
    }
    if (this.qp) fail("EINVAL", `rdma_create_qp: the id already has QP ${this.qp.qpNum}`);
    if (init.type !== QpType.RC) {
      fail("EINVAL", `rdma_create_qp: RDMA_PS_TCP connects RC QPs (type 2), not type ${init.type}`);
    }
    // cma_ib_init_qp_attr: the index of the interface's P_Key (`ib_find_cached_pkey`), which the
    // domain's management service looked up (it runs by the time an id has a device).
    // An id cma_bind_loopback bound has index 0's (its dev_addr P_Key is that entry).
    const pkeyIndex = this.#cm.pkey === DEFAULT_PKEY || this.#loopbackPkey !== undefined
      ? 0
      : (await this.#cm.agent()).pkeyIndex;
    // rdma_init_qp_attr(INIT): an id that took a REQ has an ib_cm id, whose
    // cm_init_qp_init_attr grants REMOTE_WRITE, and READ and atomics when the REQ's initiator
    // depth (its responder resources here) is above 0; any other id cma_ib_init_qp_attr's none.
    const req = this.#req;
    const accessFlags = req === undefined ? 0 : Access.REMOTE_WRITE |
      (req.initiatorDepth > 0 ? Access.REMOTE_READ | Access.REMOTE_ATOMIC : 0);
    const qp = await pd.createQp(init);
    try {
      await qp.modify({ state: QpState.INIT, port: this.portNum, pkeyIndex, accessFlags });
    } catch (e) {
      await qp.destroy();
      throw e;
    }
    this.qp = qp;
    return qp;
  }

  /** `rdma_destroy_qp`. */
  async destroyQp(): Promise<void> {
    this.#live("rdma_destroy_qp");
    if (!this.qp) fail("EINVAL", "rdma_destroy_qp: the id has no QP");
    const qp = this.qp!;
    this.qp = undefined;
    await qp.destroy();
  }

  #checkConn(what: string, p: ConnParam, maxPrivate: number): void {
    if (typeof p !== "object" || p === null) {
      fail(
        "EINVAL",
        `${what}: the connection parameters must be a ConnParam object, got ${typeof p}`,
      );
    }
    const pd = p.privateData;
    if (pd !== undefined && !(pd instanceof Uint8Array)) {
      fail("EINVAL", `${what}: privateData must be a Uint8Array`);
    }
    if (pd && pd.length > maxPrivate) {
      fail("EINVAL", `${what}: ${pd.length} bytes of private data (at most ${maxPrivate})`);
    }
    const dev = this.verbs!.queryDevice();
    // librdmacm's ucma_valid_param: up to the device's limit, or the "maximum" marker.
    for (
      const [k, max] of [
        ["responderResources", dev.maxQpRdAtom],
        ["initiatorDepth", dev.maxQpInitRdAtom],
      ] as const
    ) {
      const v = p[k] ?? 0;
      if (!Number.isInteger(v) || v < 0 || (v > max && v !== 0xff)) {
        fail("EINVAL", `${what}: ${k} ${show(v)} outside 0..${max} (the device's limit) or 255`);
      }
    }
    for (const k of ["retryCount", "rnrRetryCount"] as const) {
      const v = p[k] ?? 0;
      if (!Number.isInteger(v) || v < 0 || v > 255) {
        fail("EINVAL", `${what}: ${k} ${show(v)} is not a u8`);
      }
    }
  }

  /**
   * `rdma_connect`: send the REQ. `ESTABLISHED` follows the REP (`getEvent`
   * moves the QP to RTS and sends the RTU as it hands the event over, as
   * librdmacm's `rdma_get_cm_event` does), or `REJECTED` / `UNREACHABLE` /
   * `CONNECT_ERROR`.
   *
   * @throws VerbsError EINVAL before the route is resolved, without a QP, or with more
   *   than 56 bytes of private data
   */
  async connect(param?: ConnParam): Promise<void> {
    param ??= undefined; // null is librdmacm's NULL, as undefined
    this.#want("rdma_connect", "route_resolved");
    if (!this.qp) fail("EINVAL", "rdma_connect: the id has no QP (rdma_create_qp first)");
    this.#checkConn("rdma_connect", param ?? {}, PRIVATE_DATA_BYTES.REQ - CMA_HDR_BYTES);
    await this.#cm.syscall();
    // librdmacm's rdma_connect: the "maximum" markers (and a NULL param) take the
    // device's limits; ucma_copy_conn_param_to_kern: a NULL param retries 7 times.
    const dev = this.verbs!.queryDevice();
    const max = (v: number | undefined, limit: number) =>
      param === undefined || v === 0xff ? limit : v ?? 0;
    this.#conn = {
      privateData: param?.privateData,
      responderResources: max(param?.responderResources, dev.maxQpRdAtom),
      initiatorDepth: max(param?.initiatorDepth, dev.maxQpInitRdAtom),
      retryCount: param ? param.retryCount ?? 0 : 7,
      rnrRetryCount: param ? param.rnrRetryCount ?? 0 : 7,
    };
    param = this.#conn;
    const agent = await this.#cm.agent();
    const path = this.route!;
    const pdata = new Uint8Array(PRIVATE_DATA_BYTES.REQ);
    const hv = new DataView(pdata.buffer);
    hv.setUint8(1, 4 << 4); // cma_hdr: IPv4
    hv.setUint16(2, this.localAddr!.port);
    hv.setUint32(16, parseIpv4(this.localAddr!.ip)!);
    hv.setUint32(32, parseIpv4(this.remoteAddr!.ip)!);
    if (param.privateData) pdata.set(param.privateData, CMA_HDR_BYTES);
    this.localCommId = this.#cm.newCommId(this);
    this.#localQpn = this.qp!.qpNum;
    const req: CmReq = {
      kind: "REQ",
      localCommId: this.localCommId,
      // RDMA_IB_IP_PS_TCP | port (the service ID an IP port maps to).
      serviceId: 0x0000000001060000n | BigInt(this.remoteAddr!.port),
      // cm_format_req: LocalCAGUID is the device's node GUID (IBTA vol. 1 table 106).
      localCaGuid: BigInt(`0x${dev.nodeGuid}`),
      localQpn: this.qp!.qpNum,
      responderResources: param.responderResources ?? 0,
      initiatorDepth: param.initiatorDepth ?? 0,
      remoteCmResponseTimeout: CM_RESPONSE_TIMEOUT,
      transportType: 0,
      startingPsn: this.qp!.initialPsn,
      localCmResponseTimeout: CM_RESPONSE_TIMEOUT,
      retryCount: Math.min(7, param.retryCount ?? 0),
      // cm_format_req: the partition of the path (the interface's, asked of the SA).
      pkey: path.pkey,
      pathMtu: path.mtu,
      rnrRetryCount: Math.min(7, param.rnrRetryCount ?? 0),
      maxCmRetries: MAX_CM_RETRIES,
      primaryLocalLid: path.slid,
      primaryRemoteLid: path.dlid,
      primaryLocalGid: path.sgid,
      primaryRemoteGid: path.dgid,
      // cm_format_req: PrimaryPacketRate is the path's rate.
      packetRate: path.rate,
      trafficClass: path.trafficClass,
      hopLimit: 0,
      sl: path.sl,
      // cm_init_av_by_path: the local ACK timeout is the packet lifetime + 1.
      localAckTimeout: Math.min(31, path.packetLifeTime + 1),
      privateData: pdata,
    };
    this.#tid = agent.nextTid();
    // ib_send_cm_req: each try waits twice the path's packet lifetime plus the peer's CM
    // response time, in cm_convert_to_ms's milliseconds (4.096 µs × 2^t ≈ 2^(t-8) ms).
    this.#timeoutMs = cmConvertToMs(path.packetLifeTime) * 2 + cmConvertToMs(CM_RESPONSE_TIMEOUT);
    this.#maxCmRetries = MAX_CM_RETRIES;
    // cm_init_av_by_path: av.timeout = the path's packet lifetime + 1.
    this.#ackTimeout = Math.min(31, path.packetLifeTime + 1);
    this.state = "req_sent";
    await this.#sendRetrying(req, "req_sent", () => {
      // cma_ib_handler: IB_CM_REQ_ERROR → UNREACHABLE; the QP stays as it is (neither
      // the cma nor librdmacm's event processing touches it; only a REJ moves it to ERR).
      this.state = "unreachable";
      this.#event(RdmaCmEvent.UNREACHABLE, -Errno.ETIMEDOUT);
    });
  }

  /**
   * `rdma_accept`: on a `CONNECT_REQUEST` id with a QP: move the QP to RTR
   * and RTS from the request, send the REP; `ESTABLISHED` when the RTU
   * arrives.
   *
   * @throws VerbsError EINVAL outside a request, without a QP, with more than 256 bytes of
   *   private data (the ucma ABI's buffer), or with more than 196 (a REP's): then, as the
   *   kernel's rdma_accept does when ib_send_cm_rep refuses, the QP goes to ERR and the
   *   request is rejected (the peer gets `REJECTED`, status 28); the QP's own errors from
   *   its transitions
   */
  async accept(param?: ConnParam): Promise<void> {
    param ??= undefined; // null is librdmacm's NULL, as undefined
    this.#want("rdma_accept", "req_rcvd");
    if (!this.qp) fail("EINVAL", "rdma_accept: the id has no QP (rdma_create_qp first)");
    // The ucma ABI carries up to RDMA_MAX_PRIVATE_DATA (256) bytes; the REP's limit (196) is
    // ib_send_cm_rep's, met only once librdmacm has moved the QP (below).
    this.#checkConn("rdma_accept", param ?? {}, UCMA_PRIVATE_DATA_BYTES);
    await this.#cm.syscall();
    const req = this.#req!;
    const qp = this.qp!;
    // librdmacm's rdma_accept: the "maximum" markers (and a NULL param) take what the
    // request asked for, up to the device's limits; otherwise the values given.
    const dev = this.verbs!.queryDevice();
    const upTo = (v: number | undefined, asked: number, limit: number) =>
      param === undefined || v === 0xff ? Math.min(asked, limit) : v ?? 0;
    const responder = upTo(param?.responderResources, req.initiatorDepth, dev.maxQpRdAtom);
    const initiator = upTo(param?.initiatorDepth, req.responderResources, dev.maxQpInitRdAtom);
    this.#conn = {
      privateData: param?.privateData,
      responderResources: responder,
      initiatorDepth: initiator,
      retryCount: param ? param.retryCount ?? 0 : 7,
      rnrRetryCount: param ? param.rnrRetryCount ?? 0 : 7,
    };
    // ucma_modify_qp_rtr/rts with ib_cm's attributes (cm_req_handler's view of the REQ):
    // INIT access from the REQ's initiator depth (ib_send_cm_rep has not run yet), RTR's
    // responder resources and RTS's initiator depth as accepted, the retry counts the
    // REQ carries, the send PSN the REQ's starting PSN and the receive PSN the one the
    // REP announces.
    await this.#toRts(qp, {
      remoteReads: req.initiatorDepth,
      dlid: req.primaryLocalLid,
      sl: req.sl,
      pathMtu: MTU_BYTES[req.pathMtu] ?? 2048,
      destQpNum: req.localQpn,
      rqPsn: qp.initialPsn,
      maxDestRdAtomic: responder,
      sqPsn: req.startingPsn,
      timeout: req.localAckTimeout,
      retryCnt: req.retryCount,
      rnrRetry: req.rnrRetryCount,
      maxRdAtomic: initiator,
    });
    const pdLen = param?.privateData?.length ?? 0;
    if (pdLen > PRIVATE_DATA_BYTES.REP) {
      // ib_send_cm_rep refuses it (-EINVAL), and the kernel's rdma_accept then takes the
      // connection down (cma_modify_qp_err, rdma_reject with IB_CM_REJ_CONSUMER_DEFINED);
      // librdmacm's rdma_accept moves its QP to ERR as the write fails.
      await qp.modify({ state: QpState.ERR });
      await this.#rejectNow(undefined);
      fail(
        "EINVAL",
        `rdma_accept: ${pdLen} bytes of private data (a REP carries at most ` +
          `${PRIVATE_DATA_BYTES.REP}): the connection is rejected`,
      );
    }
    this.#localQpn = qp.qpNum;
    const rep: CmRep = {
      kind: "REP",
      localCommId: this.localCommId,
      remoteCommId: this.#remoteCommId,
      localQpn: qp.qpNum,
      startingPsn: qp.initialPsn,
      responderResources: responder,
      initiatorDepth: initiator,
      targetAckDelay: 0,
      rnrRetryCount: Math.min(7, this.#conn.rnrRetryCount!),
      // cm_format_rep: LocalCAGUID is the device's node GUID (IBTA vol. 1 table 108).
      localCaGuid: BigInt(`0x${dev.nodeGuid}`),
      privateData: padded(param?.privateData, PRIVATE_DATA_BYTES.REP),
    };
    this.state = "rep_sent";
    await this.#sendRetrying(rep, "rep_sent", () => {
      // cma_ib_handler: IB_CM_REP_ERROR → UNREACHABLE, the QP left in RTS as accept left it.
      this.state = "unreachable";
      this.#event(RdmaCmEvent.UNREACHABLE, -Errno.ETIMEDOUT);
    });
  }

  /**
   * `rdma_reject`: refuse a `CONNECT_REQUEST` (REJ, reason "consumer
   * reject", 28); the active side gets `REJECTED` with status 28 and this
   * private data. It also takes back an `accept` whose RTU has not come yet
   * (ib_cm's `cm_send_rej_locked` allows IB_CM_REP_SENT: the REP's resends
   * stop, the REJ says "other", and the id waits out timewait before it reads
   * `rejected`); the QP is left as it is, as librdmacm leaves it.
   *
   * @throws VerbsError EINVAL on an id that holds no request, or one answered and
   *   established (ib_send_cm_rej: -EINVAL), or with more than 148 bytes of private data
   */
  async reject(privateData?: Uint8Array): Promise<void> {
    this.#want("rdma_reject", "req_rcvd", "rep_sent");
    this.#checkConn("rdma_reject", { privateData }, PRIVATE_DATA_BYTES.REJ);
    await this.#cm.syscall();
    await this.#rejectNow(privateData);
  }

  /** The REJ of a consumer reject (reason 28) for the request this id holds; the id is `rejected`. */
  async #rejectNow(privateData: Uint8Array | undefined): Promise<void> {
    const was = this.state;
    this.#stopTimer();
    // cm_send_rej_locked (drivers/infiniband/core/cm.c): a REJ from IB_CM_REP_SENT enters
    // timewait (the peer may have taken the REP: its QP's packets may still be in the fabric);
    // from IB_CM_MRA_REQ_SENT the ib_cm id resets to idle.
    if (was === "rep_sent") this.#enterTimewait("rejected");
    else this.state = "rejected";
    await this.#cm.sendCm(this.#remote!, {
      kind: "REJ",
      // cm_format_rej: a REJ of a REQ handed to the program carries this side's ID and
      // MessageRejected REQ — ib_cm's state is IB_CM_MRA_REQ_SENT by then (the cma's delayed
      // MRA); only from IB_CM_REQ_RCVD would LocalCommID be 0. From IB_CM_REP_SENT: "other".
      localCommId: this.localCommId,
      remoteCommId: this.#remoteCommId,
      messageRejected: was === "req_rcvd" ? 0 : 2,
      reason: RejReason.CONSUMER_REJECT,
      privateData,
    }, this.#tid);
  }

  /**
   * `rdma_disconnect`: the QP to ERR and a DREQ (or, when the peer
   * disconnected first, the DREP); both sides get `DISCONNECTED`, then each
   * `TIMEWAIT_EXIT` when its connection's timewait ends (one local ACK
   * timeout, 2048 ms on OpenSM's paths, after it sent or got the DREP). On a
   * connection in any other state (disconnected already, rejected,
   * unreachable, still being set up) it only moves the QP to ERR and
   * succeeds, as the kernel's does: `rdma_disconnect` fails only for an id
   * that never had a connection (Linux `cma.c`: `if (!id_priv->cm_id.ib)
   * return -EINVAL`; a DREQ, else a DREP, is sent where ib_cm's state allows
   * one, and the result is the QP modify's). One difference: after the REP,
   * before the RTU, the DREQ goes out here (ib_cm sends nothing then, and
   * the RTU still brings `ESTABLISHED`).
   *
   * A listener bound to an address (not 0.0.0.0) has an ib_cm id, so there it succeeds and
   * sends nothing, as the kernel's does.
   *
   * @throws VerbsError EINVAL on an id without a connection (never connected, nor born
   *   from a request, nor a listener bound to an address); its QP, if it has one, is in ERR
   *   all the same (librdmacm moves it before it asks the kernel)
   */
  async disconnect(): Promise<void> {
    this.#live("rdma_disconnect");
    if (this.state === "listen" && this.verbs) {
      // A listener bound to an address has an ib_cm id (cma_ib_listen), so the kernel's
      // rdma_disconnect (drivers/infiniband/core/cma.c) goes on past its `!cm_id.ib` check:
      // the QP, if any, to ERR; ib_send_cm_dreq, then ib_send_cm_drep, refuse a listening
      // id (-EINVAL), and neither result is returned: 0, nothing sent, still listening.
      // (On 0.0.0.0 it has no device, and librdmacm's ucma_shutdown fails EINVAL, below.)
      await this.#toError();
      await this.#cm.syscall();
      return;
    }
    if (!HAD_CONNECTION.includes(this.state)) {
      // librdmacm's rdma_disconnect moves the QP of an id bound to a device to ERR first
      // (ucma_shutdown), then the kernel refuses an id without an ib_cm id (cma.c
      // rdma_disconnect: -EINVAL): the QP stays in ERR.
      if (this.verbs) {
        await this.#toError();
        await this.#cm.syscall();
      }
      fail("EINVAL", `rdma_disconnect: the id never had a connection (state ${this.state})`);
    }
    await this.#cm.syscall();
    await this.#toError();
    if (this.state !== "established" && this.state !== "dreq_rcvd" && this.state !== "rep_sent") {
      return;
    }
    if (this.state === "dreq_rcvd") {
      // cm_send_drep_locked: the DREP's sender enters timewait.
      this.#enterTimewait();
      await this.#cm.sendCm(this.#remote!, {
        kind: "DREP",
        localCommId: this.localCommId,
        remoteCommId: this.#remoteCommId,
      }, this.#tid);
      return;
    }
    await this.#sendDreq();
  }

  /** ib_cm's `ib_send_cm_dreq`: the DREQ, resent until the DREP comes or the retries run out. */
  async #sendDreq(): Promise<void> {
    const agent = await this.#cm.agent();
    this.#tid = agent.nextTid();
    this.state = "dreq_sent";
    await this.#sendRetrying(
      {
        kind: "DREQ",
        localCommId: this.localCommId,
        remoteCommId: this.#remoteCommId,
        remoteQpn: this.#remoteQpn,
      },
      "dreq_sent",
      () => {
        // cm_process_send_error: a DREQ never answered enters timewait too
        // (IB_CM_DREQ_ERROR → DISCONNECTED, -ETIMEDOUT).
        this.#enterTimewait();
        this.#event(RdmaCmEvent.DISCONNECTED, -Errno.ETIMEDOUT);
      },
    );
  }

  /**
   * @internal Whether this id's connection is with QP `qpn` of the CM at `from` and still
   * live: ib_cm's remote_qp_table holds it from the REQ received (passive side) or the REP
   * taken (active side) until timewait (`cm_enter_timewait`) or the end (`cm_reset_to_idle`,
   * `cm_destroy_id`).
   */
  connectedTo(from: AgentAddr, qpn: number): boolean {
    const r = this.#remote;
    return r !== undefined && r.lid === from.lid && r.qpn === from.qpn &&
      this.#remoteQpn === qpn && LIVE_CONN.includes(this.state);
  }

  /**
   * @internal A REQ or REP showed this connection stale (the peer reuses its QP): as
   * `cm_match_req` and `cm_rep_handler` call `ib_send_cm_dreq`, a DREQ when it is established
   * (in any other state ib_send_cm_dreq refuses, -EINVAL, and nothing is sent). The program
   * hears `DISCONNECTED` when the DREP comes (cma_ib_handler, IB_CM_DREP_RECEIVED); its QP is
   * left as it is until it calls `disconnect`.
   */
  async dreqStale(): Promise<void> {
    if (this.state === "established") await this.#sendDreq();
  }

  /**
   * `rdma_destroy_id`: a connection still up is torn down toward the peer
   * as ib_cm's `cm_destroy_id` does it (established: DREQ; a DREQ received:
   * DREP; a request received or a REP sent: REJ "consumer reject", 28; a
   * REQ sent: REJ "timeout", 4); a listener stops. Events of the id still
   * queued unread are freed (ucma_free_ctx), and so are the connection
   * requests a listener never handed out: their ids are destroyed, which
   * rejects them. A timewait under way ends without `TIMEWAIT_EXIT`.
   *
   * Then, as librdmacm's rdma_destroy_id after the kernel's destroy, it waits
   * until every event of the id that `getEvent` handed out is acked
   * (`events_completed` against what ucma reported; rdma_destroy_id(3): "the
   * user must ... acknowledge all related events"); one never acked keeps it
   * waiting, and the engine's deadlock report names the id.
   */
  async destroy(): Promise<void> {
    this.#live("rdma_destroy_id");
    await this.#teardown();
    await this.acks.settled(this.#cm.env, `rdma_destroy_id id ${this.localCommId}`);
  }

  /** Events of this id read with `getEvent` and not yet acked. */
  get unacked(): number {
    return this.acks.unacked;
  }

  async #teardown(): Promise<void> {
    await this.#cm.syscall();
    const was = this.state;
    this.state = "destroyed";
    this.#stopTimer();
    this.#cm.releasePort(this, this.localAddr?.port);
    const unread = this.channel.discard(this);
    this.channel.release(this);
    const remote = this.#remote;
    const ids = { localCommId: this.localCommId, remoteCommId: this.#remoteCommId };
    this.#cm.forget(this);
    for (const e of unread) {
      if (e.listenId === this && e.id.state !== "destroyed") await e.id.destroy();
    }
    if (!remote) return;
    const rej = (reason: number, ari?: Uint8Array) =>
      this.#cm.sendCm(remote, {
        kind: "REJ",
        ...ids,
        ari,
        // cm_format_rej: from IB_CM_MRA_REQ_SENT (a request handed to the program: the cma's
        // delayed MRA), this side's ID and MessageRejected REQ; from REQ_SENT or REP_SENT,
        // this side's ID and "other".
        // cm_format_rej: from IB_CM_MRA_REP_SENT (a REP whose event the program has not read),
        // this side's ID and MessageRejected REP.
        messageRejected: was === "req_rcvd" ? 0 : was === "rep_rcvd" ? 1 : 2,
        reason,
      }, this.#tid);
    if (was === "established") {
      await this.#cm.sendCm(remote, { kind: "DREQ", ...ids, remoteQpn: this.#remoteQpn }, 0n);
    } else if (was === "dreq_rcvd") {
      await this.#cm.sendCm(remote, { kind: "DREP", ...ids }, this.#tid);
    } else if (was === "req_rcvd" || was === "rep_sent" || was === "rep_rcvd") {
      await rej(RejReason.CONSUMER_REJECT);
    } else if (was === "req_sent") {
      // cm_destroy_id: reason "timeout", the ARI this side's CA GUID (IBTA vol. 1 table 109).
      await rej(RejReason.TIMEOUT, this.#caGuid());
    }
  }

  /** The device's node GUID, as the 8 bytes of a GUID on the wire. */
  #caGuid(): Uint8Array {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, BigInt(`0x${this.verbs!.queryDevice().nodeGuid}`));
    return out;
  }

  /** @internal a passive id born from a REQ */
  passiveFromReq(
    req: CmReq & { tid: bigint },
    from: AgentAddr,
    ctx: Context,
    addrs: { local: SockAddr; remote: SockAddr },
  ): void {
    this.#req = req;
    this.#remote = from;
    this.#remoteCommId = req.localCommId;
    this.#remoteQpn = req.localQpn;
    this.#tid = req.tid;
    this.verbs = ctx;
    this.localAddr = addrs.local;
    this.remoteAddr = addrs.remote;
    this.route = {
      dgid: req.primaryLocalGid,
      sgid: req.primaryRemoteGid,
      dlid: req.primaryLocalLid,
      slid: req.primaryRemoteLid,
      trafficClass: req.trafficClass,
      pkey: req.pkey,
      qosClass: 0,
      sl: req.sl,
      mtu: req.pathMtu,
      // cm_format_path_from_req: the rate is the REQ's PrimaryPacketRate.
      rate: req.packetRate,
      packetLifeTime: Math.max(0, req.localAckTimeout - 1),
    };
    this.localCommId = this.#cm.newCommId(this);
    // cm_req_handler: the REP (and a later DREQ) waits the response time the REQ's
    // sender asked for, as often as it said to retry.
    this.#timeoutMs = cmConvertToMs(req.localCmResponseTimeout);
    this.#maxCmRetries = req.maxCmRetries;
    // cm_init_av_by_path: av.timeout = the path's packet lifetime + 1.
    this.#ackTimeout = Math.min(31, this.route.packetLifeTime + 1);
    this.state = "req_rcvd";
  }

  /**
   * @internal Whether `m`, from the service at `from`, may speak for this
   * connection: it must come from the peer's connection manager, and name
   * both ends' communication IDs as this connection knows them.
   *
   * On InfiniBand CM messages travel on QP1 with GSI's controlled Q_Key,
   * which no unprivileged QP may send with (IBTA vol. 1 §10.2.4); here the
   * service is an ordinary UD QP (see the module doc), so any domain's
   * kernel can reach it, and a DREQ naming a guessed comm ID used to
   * disconnect another domain's connection. The HCA stamps every datagram
   * with its sender's QPN and LID, which no guest can forge: the peer's
   * service address is the model's counterpart of GSI's privilege. The IDs
   * are Linux's own check (`cm_acquire_id(local_id, remote_id)`,
   * `drivers/infiniband/core/cm.c`).
   */
  speaksFor(m: CmMsg, from: AgentAddr): boolean {
    const r = this.#remote;
    if (!r || r.lid !== from.lid || r.qpn !== from.qpn) return false;
    // Until the peer's ID is known (a REP or REJ answering our REQ) only ours is checked.
    return this.#remoteCommId === 0 || !("localCommId" in m) ||
      m.localCommId === this.#remoteCommId || m.kind === "REQ";
  }

  /** @internal a CM message for this connection */
  async onMessage(m: CmMsg & { tid: bigint }, from: AgentAddr): Promise<void> {
    switch (m.kind) {
      case "REQ":
        // A retransmitted REQ (cm_dup_req_handler). While the program has not answered it
        // (ib_cm's IB_CM_MRA_REQ_SENT: the cma's delayed MRA, CMA_CM_MRA_SETTING, set once the
        // request was handed over), an MRA: the peer waits the MRA's service timeout before it
        // tries again, instead of giving up after its retries.
        if (this.state === "req_rcvd") {
          await this.#cm.sendCm(
            from,
            {
              kind: "MRA",
              localCommId: this.localCommId,
              remoteCommId: this.#remoteCommId,
              messageMraed: 0,
              serviceTimeout: CM_MRA_SERVICE_TIMEOUT,
            },
            m.tid,
            true,
          );
        }
        // For a connection in timewait, REJ "stale connection" (cm_format_rej in
        // IB_CM_TIMEWAIT: this side's ID, MessageRejected "other"); otherwise dropped (the REP
        // was lost: the timer resends it).
        if (this.state === "timewait") {
          await this.#cm.sendCm(
            from,
            {
              kind: "REJ",
              localCommId: this.localCommId,
              remoteCommId: this.#remoteCommId,
              messageRejected: 2,
              reason: RejReason.STALE_CONN,
            },
            m.tid,
            true,
          );
        }
        return;
      case "REP":
        if (
          (this.state === "established" || this.state === "rep_rcvd") &&
          m.localCommId === this.#remoteCommId
        ) {
          // cm_dup_rep_handler: the peer sends its REP again. Once established, our RTU was
          // lost (a full receive queue drops a datagram): the RTU again, or the peer ends
          // UNREACHABLE while this side is connected. In IB_CM_MRA_REP_SENT — the program has
          // not read the REP's event (the cma's delayed MRA, CMA_CM_MRA_SETTING, armed when the
          // REP came: cma_ib_handler, IB_CM_REP_RECEIVED) — an MRA for the REP: the peer waits
          // its service timeout before it tries again.
          const ids = { localCommId: this.localCommId, remoteCommId: this.#remoteCommId };
          const answer: CmMsg = this.state === "established"
            ? { kind: "RTU", ...ids }
            : { kind: "MRA", ...ids, messageMraed: 1, serviceTimeout: CM_MRA_SERVICE_TIMEOUT };
          return await this.#cm.sendCm(from, answer, m.tid, true);
        }
        if (this.state !== "req_sent") return;
        {
          // cm_rep_handler, "Check for a stale connection": a REP from a QP this CM still has
          // another connection with is rejected "stale connection" (cm_issue_rej: MessageRejected
          // REP, LocalCommID ours) and dropped — the REQ stays outstanding — and the old
          // connection gets a DREQ (IBTA vol. 1 §12.9.8.3.1).
          const stale = this.#cm.liveConnectionTo(from, m.localQpn, this);
          if (stale) {
            await this.#cm.sendCm(
              from,
              {
                kind: "REJ",
                localCommId: this.localCommId,
                remoteCommId: m.localCommId,
                messageRejected: 1,
                reason: RejReason.STALE_CONN,
              },
              m.tid,
              true,
            );
            return await stale.dreqStale();
          }
        }
        this.#stopTimer();
        this.#remoteCommId = m.localCommId;
        this.#remoteQpn = m.localQpn;
        // cm_rep_handler: av.timeout = cm_ack_timeout(target ACK delay, packet lifetime).
        this.#ackTimeout = cmAckTimeout(m.targetAckDelay, this.route!.packetLifeTime);
        // cma_ib_handler (IB_CM_REP_RECEIVED): the kernel id of a user-space program has no
        // QP, so the cma arms its delayed MRA and reports CONNECT_RESPONSE; librdmacm moves
        // the QP and sends the RTU when the program reads it (`processConnResp`).
        this.#rep = m;
        this.state = "rep_rcvd";
        return this.#event(RdmaCmEvent.CONNECT_RESPONSE, 0, {
          privateData: m.privateData,
          responderResources: m.initiatorDepth,
          initiatorDepth: m.responderResources,
          rnrRetryCount: m.rnrRetryCount,
          qpNum: m.localQpn,
        });
      case "RTU":
        if (this.state !== "rep_sent") return;
        this.#stopTimer();
        this.state = "established";
        // cma_ib_handler: IB_CM_RTU_RECEIVED → ESTABLISHED with no connection
        // parameters (librdmacm's event shows a zeroed rdma_conn_param).
        return this.#event(RdmaCmEvent.ESTABLISHED);
      case "REJ": {
        // cm_rej_handler: a REJ ends a connection being set up, or one the peer
        // abandoned after its REP (cma reports REJECTED for all of them).
        // cm_rej_handler also takes one crossing this side's DREQ (IB_CM_DREQ_SENT: the
        // DREQ's retries stop), and the cma reports it as REJECTED (still RDMA_CM_CONNECT).
        const live: CmIdState[] = [
          "req_sent",
          "req_rcvd",
          "rep_rcvd",
          "rep_sent",
          "established",
          "dreq_sent",
        ];
        if (!live.includes(this.state)) return;
        const was = this.state;
        this.#stopTimer();
        this.state = "rejected";
        await this.#toError();
        // cm_rej_handler: a REJ "stale connection" (10) puts the connection in timewait
        // (cm_enter_timewait) where another reason resets it to idle (REQ_SENT, REQ_RCVD,
        // REP_SENT and their MRA states); from REP_RCVD, MRA_REP_SENT, ESTABLISHED and
        // DREQ_SENT any REJ does. IBTA vol. 1 §12.9.8.3.1: the QP of a stale connection waits
        // out timewait before it is used again. The cma's events are the same: REJECTED, and
        // no TIMEWAIT_EXIT (it passes that on only in RDMA_CM_DISCONNECT).
        const upOrTaken: CmIdState[] = ["rep_rcvd", "established", "dreq_sent"];
        if (m.reason === RejReason.STALE_CONN || upOrTaken.includes(was)) {
          this.#enterTimewait("rejected");
        }
        return this.#event(RdmaCmEvent.REJECTED, m.reason, { privateData: m.privateData });
      }
      case "DREQ":
        // cm_dreq_handler: a DREQ whose RemoteQPN is not this side's QP is dropped.
        if (m.remoteQpn !== this.#localQpn) return;
        if (this.state === "established" || this.state === "rep_sent") {
          this.#stopTimer();
          this.state = "dreq_rcvd";
          return this.#event(RdmaCmEvent.DISCONNECTED);
        }
        if (this.state === "dreq_sent" || this.state === "timewait") {
          // Both ends disconnected at once (IBTA §12.9.6): answer, our DREP decides.
          await this.#cm.sendCm(
            from,
            {
              kind: "DREP",
              localCommId: this.localCommId,
              remoteCommId: this.#remoteCommId,
            },
            m.tid,
            true,
          );
        }
        return;
      case "MRA": {
        // cm_mra_handler: an MRA for the REQ (REQ_SENT) or the REP (REP_SENT) this side waits
        // on stretches that wait — and each later resend's — to the MRA's service timeout plus
        // the connection's local ACK timeout (cm_convert_to_ms of both: 65536 + 2048 ms for
        // the cma's 24 on OpenSM's paths); the first one only (IB_CM_MRA_*_RCVD: a second is
        // a duplicate). The program hears nothing (cma_ib_handler ignores IB_CM_MRA_RECEIVED).
        const mraed = this.state === "req_sent" ? 0 : this.state === "rep_sent" ? 1 : -1;
        if (m.messageMraed !== mraed || this.#mraReceived) return;
        this.#mraReceived = true;
        return this.#stretchWait(
          cmConvertToMs(m.serviceTimeout) + cmConvertToMs(this.#ackTimeout),
        );
      }
      case "DREP":
        if (this.state !== "dreq_sent") return;
        // cm_drep_handler: timewait, then DISCONNECTED.
        this.#enterTimewait();
        return this.#event(RdmaCmEvent.DISCONNECTED);
    }
  }

  /**
   * @internal librdmacm's `ucma_process_conn_resp`, run as `getEvent` hands
   * the program this id's `CONNECT_RESPONSE` (an id with a QP): move the QP
   * to RTR and RTS from the REP, then UCMA_CMD_ACCEPT, whose `rdma_accept` →
   * `cma_rep_recv` → `ib_send_cm_rtu` sends the RTU; `ev` becomes
   * `ESTABLISHED`. A QP that cannot follow (or an ib_cm id no longer waiting
   * for the RTU, `ib_send_cm_rtu`: -EINVAL) makes it `CONNECT_ERROR`, the QP
   * goes to ERR (`ucma_modify_qp_err`) and nothing is sent: the REJ comes
   * with `destroy` (`cm_destroy_id` in IB_CM_MRA_REP_SENT).
   */
  async processConnResp(ev: CmEvent): Promise<void> {
    const qp = this.qp;
    const rep = this.#rep;
    if (!qp || !rep) return; // an id without a QP hears CONNECT_RESPONSE (rdma_establish)
    const path = this.route!;
    const conn = this.#conn;
    try {
      // cm_rep_handler's attributes, as ucma_modify_qp_rtr/rts ask the kernel for them: the
      // REP's initiator depth is this side's responder resources (INIT access, RTR), its
      // responder resources this side's initiator depth (RTS), its RNR retry count and its
      // starting PSN the send PSN; the receive PSN is the one the REQ announced.
      await this.#toRts(qp, {
        remoteReads: rep.initiatorDepth,
        dlid: path.dlid,
        sl: path.sl,
        pathMtu: MTU_BYTES[path.mtu] ?? 2048,
        destQpNum: rep.localQpn,
        rqPsn: qp.initialPsn,
        maxDestRdAtomic: rep.initiatorDepth,
        sqPsn: rep.startingPsn,
        timeout: Math.min(31, path.packetLifeTime + 1),
        retryCnt: Math.min(7, conn.retryCount ?? 0),
        rnrRetry: rep.rnrRetryCount,
        maxRdAtomic: rep.responderResources,
      });
      await this.#cm.syscall(); // UCMA_CMD_ACCEPT
      if (this.state !== "rep_rcvd") {
        // ib_send_cm_rtu refuses an ib_cm id past MRA_REP_SENT (a REJ came meanwhile).
        throw new VerbsError("EINVAL", "rdma_accept: the connection is no longer set up");
      }
    } catch (e) {
      await this.#toError();
      this.connectError = true;
      ev.type = RdmaCmEvent.CONNECT_ERROR;
      ev.status = -(e instanceof VerbsError ? e.errno : Errno.EINVAL);
      return;
    }
    this.#rep = undefined;
    this.state = "established";
    ev.type = RdmaCmEvent.ESTABLISHED;
    await this.#cm.sendCm(this.#remote!, {
      kind: "RTU",
      localCommId: this.localCommId,
      remoteCommId: rep.localCommId,
    }, rep.tid);
  }

  /** ucma_modify_qp_rtr + ucma_modify_qp_rts (INIT→INIT, RTR, RTS). */
  async #toRts(
    qp: Qp,
    a: {
      /** ib_cm's responder resources when the QP goes INIT→INIT (the peer's initiator depth). */
      remoteReads: number;
      dlid: number;
      sl: number;
      pathMtu: number;
      destQpNum: number;
      rqPsn: number;
      maxDestRdAtomic: number;
      sqPsn: number;
      timeout: number;
      retryCnt: number;
      rnrRetry: number;
      maxRdAtomic: number;
    },
  ): Promise<void> {
    // cm_init_qp_init_attr: remote write always, read and atomic when ib_cm's responder
    // resources are not 0.
    const access = Access.REMOTE_WRITE |
      (a.remoteReads > 0 ? Access.REMOTE_READ | Access.REMOTE_ATOMIC : 0);
    await qp.modify({ state: QpState.INIT, accessFlags: access });
    const rtr: QpAttr = {
      state: QpState.RTR,
      ah: { dlid: a.dlid, sl: a.sl, portNum: this.portNum },
      pathMtu: a.pathMtu,
      destQpNum: a.destQpNum,
      rqPsn: a.rqPsn,
      maxDestRdAtomic: a.maxDestRdAtomic,
      // cm_init_qp_rtr_attr sets the minimum RNR timer to 0 (655.36 ms).
      minRnrTimer: 0,
    };
    await qp.modify(rtr);
    await qp.modify({
      state: QpState.RTS,
      sqPsn: a.sqPsn,
      timeout: a.timeout,
      retryCnt: a.retryCnt,
      rnrRetry: a.rnrRetry,
      maxRdAtomic: a.maxRdAtomic,
    });
  }

  async #toError(): Promise<void> {
    const qp = this.qp;
    if (!qp || qp.state === QpState.ERR || qp.state === QpState.RESET) return;
    try {
      await qp.modify({ state: QpState.ERR });
    } catch {
      // a QP already gone with its context: nothing to move
    }
  }

  /**
   * Send a message that expects an answer, and resend it every CM response
   * timeout while the id stays in `waiting`, up to the cma's retries; then
   * `giveUp`.
   */
  async #sendRetrying(
    msg: CmMsg,
    waiting: CmIdState,
    giveUp: () => void | Promise<void>,
  ): Promise<void> {
    const to = this.#remote!;
    const tid = this.#tid;
    await this.#cm.sendCm(to, msg, tid);
    const engine = this.#cm.env.engine;
    let left = this.#maxCmRetries;
    const retry = { periodNs: this.#timeoutMs * 1e6, arm: () => {} };
    retry.arm = () => {
      this.#timer = engine.schedule(retry.periodNs, () => {
        this.#timer = undefined;
        if (this.state !== waiting) return;
        if (left-- <= 0) {
          void engine.spawn(`${this.#cm.name} cm timeout`, async () => await giveUp());
          return;
        }
        void engine.spawn(`${this.#cm.name} cm retry`, async () => {
          if (this.state !== waiting) return;
          await this.#cm.sendCm(to, msg, tid);
          retry.arm();
        });
      });
    };
    this.#retry = retry;
    this.#mraReceived = false;
    retry.arm();
  }

  /**
   * ib_mad's `ib_modify_mad`, as `cm_mra_handler` calls it: the message out now waits `ms`
   * from now for its answer, and so does each resend of it; its retries left stay as they are.
   */
  #stretchWait(ms: number): void {
    const r = this.#retry;
    if (!r) return;
    r.periodNs = ms * 1e6;
    if (this.#timer) {
      this.#stopTimer();
      r.arm();
    }
  }

  #stopTimer(): void {
    if (this.#timer) this.#cm.env.engine.cancel(this.#timer);
    this.#timer = undefined;
  }
}

function padded(data: Uint8Array | undefined, n: number): Uint8Array {
  const out = new Uint8Array(n);
  if (data) out.set(data);
  return out;
}
