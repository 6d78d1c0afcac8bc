/**
 * IP over InfiniBand as the connection manager needs it (RFC 4391/4392):
 * every domain's kernel has an `ib0` interface with an IPv4 address, and
 * rdma_cm finds the port behind an IP address by ARP over IPoIB — the
 * hardware address it learns is the 20-byte IPoIB address (flags, QPN and
 * the port GID) and, from the reply's source, the LID.
 *
 * {@link IpoibNetwork} is the subnet's IPoIB link: the composition root
 * (`platform/`) attaches each domain's kernel to it and gives the address
 * (10.0.0.1, 10.0.0.2, … in the order domains are created). An ARP
 * request is a broadcast on the IPoIB multicast group; the model delivers
 * it to the owner of the address only (the others would drop it), as one
 * UD datagram of {@link ARP_FRAME_BYTES} through the fabric, and the reply
 * comes back the same way. Each member's interface is in one partition
 * (`RdmaCm.pkey`, Linux's `ib0.8001`): a request from another partition is
 * dropped by the holder's HCA (IBTA vol 1 §10.9), as another partition's
 * broadcast never reaches it, and goes unanswered.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IpoibNetwork, parseIpv4 } from "./ipoib.ts";
 * const net = new IpoibNetwork();
 * const ip = net.attach({ name: "vm0" });
 * assert.equal(ip, "10.0.0.1");
 * assert.equal(net.lookup("10.0.0.1")?.name, "vm0");
 * assert.equal(parseIpv4("10.0.0.300"), undefined);
 * ```
 *
 * @module
 */
import type { PathRecord } from "./cm_mad.ts";

/**
 * A domain's kernel on the IPoIB link. The connection manager of the
 * domain (`rdma_cm.ts`) is one; `agent` starts its management service when
 * an ARP for its address arrives.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type IpoibMember, IpoibNetwork } from "./ipoib.ts";
 * const quiet: IpoibMember = { name: "vm0" }; // no service: its ARP requests go unanswered
 * assert.equal(new IpoibNetwork().attach(quiet), "10.0.0.1");
 * ```
 */
export interface IpoibMember {
  /** The domain's name. */
  readonly name: string;
  /**
   * The management service's address on the fabric (its LID and UD QP
   * number), started if it is not yet: what an ARP request is sent to.
   */
  agentAddress?(): Promise<{ lid: number; qpn: number }>;
  /**
   * On the subnet manager's node: the address of the service that answers
   * PathRecord queries carrying P_Key `pkey` (the GSI takes any P_Key of its
   * port's table, IBTA vol 1 §10.9: here one service per partition), started
   * if it is not yet. Without it, queries go to {@link agentAddress}.
   */
  saAddress?(pkey: number): Promise<{ lid: number; qpn: number }>;
}

/**
 * What the subnet administrator knows: the path between two LIDs in the
 * partition `pkey`, or undefined when there is none (a port down, no such
 * LID, the two ports not both members of the partition).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PathResolver } from "./ipoib.ts";
 * const none: PathResolver = () => undefined; // a subnet without paths
 * assert.equal(none({ slid: 1, dlid: 2, qosClass: 0, pkey: 0xffff }), undefined);
 * ```
 */
export type PathResolver = (q: { slid: number; dlid: number; qosClass: number; pkey: number }) =>
  | PathRecord
  | undefined;

/**
 * Options of {@link IpoibNetwork}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IpoibNetwork, type IpoibNetworkOptions } from "./ipoib.ts";
 * const o: IpoibNetworkOptions = { prefix: "192.168" };
 * assert.equal(new IpoibNetwork(o).attach({ name: "a" }), "192.168.0.1");
 * ```
 */
export interface IpoibNetworkOptions {
  /** The /16 the addresses are handed out of: its first two octets (default "10.0"). */
  prefix?: string;
}

/**
 * The IPoIB link of one subnet: addresses and who holds them, the port
 * GIDs, and where the subnet administrator runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IpoibNetwork } from "./ipoib.ts";
 * const net = new IpoibNetwork();
 * const a = net.attach({ name: "a" });
 * net.detach(a);
 * assert.equal(net.lookup(a), undefined); // its ARP requests now go unanswered
 * assert.equal(net.attach({ name: "b" }), "10.0.0.2"); // addresses are not reused
 * ```
 */
export class IpoibNetwork {
  #prefix: string;
  #next = 1;
  #members = new Map<string, IpoibMember>();
  /** The domain the subnet administrator answers from (the subnet manager's node). */
  saMember: IpoibMember | undefined;
  /** The subnet administrator's path computation (set by the composition root). */
  pathResolver: PathResolver | undefined;
  /** The GID of the port with a LID (set by the composition root). */
  gidOf: (lid: number) => Uint8Array | undefined = () => undefined;

  /**
   * An IPoIB link with no member yet (addresses from 10.0.0.1 on).
   *
   * @param opts see {@link IpoibNetworkOptions}
   */
  constructor(opts: IpoibNetworkOptions = {}) {
    this.#prefix = opts.prefix ?? "10.0";
  }

  /** Give `member` the next address; returns it. */
  attach(member: IpoibMember): string {
    const n = this.#next++;
    const ip = `${this.#prefix}.${n >> 8}.${n & 0xff}`;
    this.#members.set(ip, member);
    return ip;
  }

  /** The address leaves the link (its domain was destroyed). */
  detach(ip: string): void {
    this.#members.delete(ip);
  }

  /** Who holds `ip` (the one an ARP request for it reaches). */
  lookup(ip: string): IpoibMember | undefined {
    return this.#members.get(ip);
  }

  /** Addresses attached now, in order. */
  addresses(): string[] {
    return [...this.#members.keys()];
  }
}

/**
 * `inet_pton(AF_INET, …)`: the address as a 32-bit number, or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseIpv4 } from "./ipoib.ts";
 * assert.equal(parseIpv4("10.0.0.2"), 0x0a000002);
 * assert.equal(parseIpv4("10.0.0"), undefined);
 * ```
 */
export function parseIpv4(s: string): number | undefined {
  if (typeof s !== "string") return undefined;
  const parts = s.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    return undefined;
  }
  return parts.reduce((a, p) => a * 256 + Number(p), 0);
}

/**
 * A 32-bit address in dotted form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatIpv4 } from "./ipoib.ts";
 * assert.equal(formatIpv4(0x0a000002), "10.0.0.2");
 * ```
 */
export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join(".");
}

/**
 * UD payload of an ARP packet over IPoIB: the 4-byte IPoIB encapsulation
 * header and the ARP body with 20-byte hardware addresses (RFC 4391 §4, §8).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ARP_FRAME_BYTES } from "./ipoib.ts";
 * assert.equal(ARP_FRAME_BYTES, 4 + 8 + 2 * (20 + 4));
 * ```
 */
export const ARP_FRAME_BYTES = 60;
/**
 * Time between ARP probes for an address not yet resolved, in ms: Linux's
 * `retrans_time_ms` (/proc/sys/net/ipv4/neigh/<dev>/retrans_time_ms), whose
 * ARP default is `RETRANS_TIME = 1 * HZ` (`arp_tbl`, net/ipv4/arp.c). A
 * neighbour in NUD_INCOMPLETE re-arms its timer this long after each probe
 * (`neigh_timer_handler`, net/core/neighbour.c).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ARP_MCAST_SOLICIT, ARP_RETRANS_TIME_MS } from "./ipoib.ts";
 * assert.equal(ARP_MCAST_SOLICIT * ARP_RETRANS_TIME_MS, 3000); // a neighbour fails after 3 s
 * ```
 */
export const ARP_RETRANS_TIME_MS = 1000;

/**
 * How many ARP requests go out for an address not yet resolved: Linux's
 * `mcast_solicit` (ARP default `MCAST_PROBES = 3`). `__neigh_event_send`
 * starts the probe count at `ucast_probes` and `neigh_max_probes` is
 * `ucast_probes + app_probes + mcast_probes` in NUD_INCOMPLETE, so with
 * `app_solicit` 0 exactly `mcast_solicit` requests are broadcast before the
 * neighbour goes to NUD_FAILED (net/core/neighbour.c).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ARP_MCAST_SOLICIT } from "./ipoib.ts";
 * assert.equal(ARP_MCAST_SOLICIT, 3);
 * ```
 */
export const ARP_MCAST_SOLICIT = 3;
const ETHERTYPE_ARP = 0x0806;
const ARPHRD_INFINIBAND = 32;

/**
 * An ARP request or reply over IPoIB.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ArpPacket, encodeArp } from "./ipoib.ts";
 * const who: ArpPacket = {
 *   op: 1, senderQpn: 0x48, senderGid: new Uint8Array(16), senderIp: "10.0.0.1",
 *   targetQpn: 0, targetGid: new Uint8Array(16), targetIp: "10.0.0.2",
 * };
 * assert.deepEqual([...encodeArp(who).subarray(0, 2)], [0x08, 0x06]); // ethertype ARP
 * ```
 */
export interface ArpPacket {
  /** 1 request, 2 reply. */
  op: 1 | 2;
  senderQpn: number;
  senderGid: Uint8Array;
  senderIp: string;
  targetQpn: number;
  targetGid: Uint8Array;
  targetIp: string;
}

/**
 * The packet as its UD payload.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeArp, encodeArp } from "./ipoib.ts";
 * const p = {
 *   op: 2 as const, senderQpn: 0x48, senderGid: new Uint8Array(16).fill(1), senderIp: "10.0.0.2",
 *   targetQpn: 0x49, targetGid: new Uint8Array(16).fill(2), targetIp: "10.0.0.1",
 * };
 * assert.deepEqual(decodeArp(encodeArp(p)), p);
 * ```
 */
export function encodeArp(p: ArpPacket): Uint8Array {
  const out = new Uint8Array(ARP_FRAME_BYTES);
  const v = new DataView(out.buffer);
  v.setUint16(0, ETHERTYPE_ARP);
  v.setUint16(4, ARPHRD_INFINIBAND);
  v.setUint16(6, 0x0800);
  v.setUint8(8, 20);
  v.setUint8(9, 4);
  v.setUint16(10, p.op);
  const hw = (at: number, qpn: number, gid: Uint8Array) => {
    v.setUint32(at, qpn & 0xffffff);
    out.set(gid.subarray(0, 16), at + 4);
  };
  hw(12, p.senderQpn, p.senderGid);
  v.setUint32(32, parseIpv4(p.senderIp) ?? 0);
  hw(36, p.targetQpn, p.targetGid);
  v.setUint32(56, parseIpv4(p.targetIp) ?? 0);
  return out;
}

/**
 * The ARP packet in a UD payload; undefined when it is not one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeArp } from "./ipoib.ts";
 * assert.equal(decodeArp(new Uint8Array(256)), undefined);
 * ```
 */
export function decodeArp(b: Uint8Array): ArpPacket | undefined {
  if (b.length < ARP_FRAME_BYTES) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, ARP_FRAME_BYTES);
  if (v.getUint16(0) !== ETHERTYPE_ARP || v.getUint16(4) !== ARPHRD_INFINIBAND) return undefined;
  const op = v.getUint16(10);
  if (op !== 1 && op !== 2) return undefined;
  return {
    op,
    senderQpn: v.getUint32(12) & 0xffffff,
    senderGid: b.slice(16, 32),
    senderIp: formatIpv4(v.getUint32(32)),
    targetQpn: v.getUint32(36) & 0xffffff,
    targetGid: b.slice(40, 56),
    targetIp: formatIpv4(v.getUint32(56)),
  };
}
