/**
 * A port's link layer: state (IBTA §7.2), transmitter, credit-based flow
 * control (§7.9) and input buffer. HCA and switch ports share it; what
 * happens to a packet once it is in the input buffer is the node's business.
 *
 * Flow control is lossless: a transmitter sends only when the receiver's
 * buffer has room for the whole packet, counted in 64-byte credits (§7.9.4).
 * The receiver returns credits when a packet leaves its buffer (an HCA
 * accepted it, a switch finished forwarding it); they reach the sender one
 * propagation delay later, as a flow-control packet would. A receiver that
 * stops accepting therefore stalls its sender instead of losing packets.
 *
 * Times are kept as fractional ns internally and rounded up only when an
 * event is scheduled, so serialization never drifts.
 *
 * @module
 */

import type { Engine, EventHandle } from "../sim/engine.ts";
import type { Link } from "./link.ts";
import { Line } from "../sim/line.ts";
import { emptyArray } from "../sim/queue.ts";
import { PERMISSIVE_LID, WirePacket } from "./packet.ts";
import { DEFAULT_PKEY } from "./pkey.ts";

/**
 * Port states (IBTA §7.2, PortInfo:PortLinkState).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PortLinkState } from "./port.ts";
 * const sendsData = (s: PortLinkState) => s === "ACTIVE";
 * assert.equal(sendsData("ARMED"), false); // only SMPs (VL15) leave an ARMED port
 * ```
 */
export type PortLinkState = "DOWN" | "INIT" | "ARMED" | "ACTIVE";

/**
 * Bytes per flow-control credit (IBTA §7.9.4).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CREDIT_BYTES, DEFAULT_RX_BUFFER_BYTES } from "./port.ts";
 * assert.equal(DEFAULT_RX_BUFFER_BYTES / CREDIT_BYTES, 256); // credits
 * ```
 */
export const CREDIT_BYTES = 64;
/**
 * VL of subnet management packets; the only traffic in INIT/ARMED (§7.2, §7.6.5).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VL15 } from "./port.ts";
 * const isSmp = (wire: Uint8Array) => wire[0] >>> 4 === VL15;
 * assert.equal(isSmp(new Uint8Array([0xf0, 0x02])), true);
 * ```
 */
export const VL15 = 15;

/** First multicast LID (IBTA vol 1 §4.1.1). */
const MULTICAST_LID_BASE = 0xc000;
/**
 * Default input buffer per port: 16 KiB (256 credits), the order of one
 * data VL's buffer on InfiniHost/ConnectX-class silicon; at least a few
 * MTU packets so one link keeps streaming while credits travel back.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { creditsFor, DEFAULT_RX_BUFFER_BYTES } from "./port.ts";
 * // Full 2 KiB-MTU packets (2174 wire bytes) the default buffer holds:
 * assert.equal(Math.floor(DEFAULT_RX_BUFFER_BYTES / 64 / creditsFor(2174)), 7);
 * ```
 */
export const DEFAULT_RX_BUFFER_BYTES = 16 * 1024;

/**
 * Credits a packet of `bytes` wire bytes needs (IBTA §7.9.4).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { creditsFor } from "./port.ts";
 * assert.deepEqual([creditsFor(30), creditsFor(2174)], [1, 34]);
 * ```
 */
export function creditsFor(bytes: number): number {
  return Math.ceil(bytes / CREDIT_BYTES);
}

/** {@link creditsFor} of a packet's length (a whole number of bytes below 2^31). */
function packetCredits(length: number): number {
  return ((length + CREDIT_BYTES - 1) / CREDIT_BYTES) | 0;
}

/**
 * Per-port counters (named after PortCounters where one exists, IBTA §16.1.3.5).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { Fabric } from "./fabric.ts";
 * import type { PortCounters } from "./port.ts";
 * const fabric = new Fabric(new Engine(), { profile: PCIX_SDR_2006 });
 * const a = fabric.addHca("a", { receive() {} });
 * a.port(1).trySend(new Uint8Array(30)); // not cabled: discarded
 * const c: PortCounters = a.port(1).counters;
 * assert.deepEqual([c.xmitPkts, c.xmitDiscards], [0, 1]);
 * ```
 */
export interface PortCounters {
  /** PortXmitPkts: packets put on the wire. */
  xmitPkts: number;
  /** Wire bytes put on the wire (PortXmitData counts 4-byte words). */
  xmitBytes: number;
  /** PortRcvPkts: packets accepted into the input buffer. */
  rcvPkts: number;
  /** Wire bytes accepted. */
  rcvBytes: number;
  /** PortXmitDiscards: packets the port threw away instead of sending (port not ACTIVE). */
  xmitDiscards: number;
  /** Packets discarded on receive (port state, DLID not this port's). */
  rcvDiscards: number;
  /** PortRcvSwitchRelayErrors: a switch could not forward (unknown DLID). */
  rcvSwitchRelayErrors: number;
  /**
   * Back-pressure observed: times a send found the transmitter idle but the
   * receiver without enough credits (a `trySend`, a `whenReady`, a retry).
   */
  creditStalls: number;
  /** Packets sent from this port that fault injection dropped. */
  dropped: number;
  /** Packets sent from this port that fault injection duplicated. */
  duplicated: number;
  /** Packets sent from this port that fault injection delayed. */
  delayed: number;
  /** Packets sent from this port that fault injection corrupted. */
  corrupted: number;
  /**
   * PortInfo:P_KeyViolations (IBTA vol 1 §14.2.5.6): packets that reached a QP of this port with
   * a P_Key its partition does not match, dropped (`ibv_query_port`'s `bad_pkey_cntr`).
   */
  pkeyViolations: number;
  /**
   * PortInfo:Q_KeyViolations (IBTA vol 1 §14.2.5.6): UD datagrams that reached a QP of this port
   * with a Q_Key other than the QP's, dropped (`ibv_query_port`'s `qkey_viol_cntr`).
   */
  qkeyViolations: number;
}

function zeroCounters(): PortCounters {
  return {
    xmitPkts: 0,
    xmitBytes: 0,
    rcvPkts: 0,
    rcvBytes: 0,
    xmitDiscards: 0,
    rcvDiscards: 0,
    rcvSwitchRelayErrors: 0,
    creditStalls: 0,
    dropped: 0,
    duplicated: 0,
    delayed: 0,
    corrupted: 0,
    pkeyViolations: 0,
    qkeyViolations: 0,
  };
}

/**
 * A node of the fabric as ports see it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { Fabric } from "./fabric.ts";
 * import type { FabricNode } from "./port.ts";
 * const fabric = new Fabric(new Engine());
 * fabric.addSwitch("sw", { ports: 4, hopNs: 100 });
 * fabric.addHca("h", { receive() {} });
 * const describe = (n: FabricNode) => `${n.kind} ${n.name}: ${n.ports.length} ports`;
 * assert.deepEqual(fabric.nodes.map(describe), [ "switch sw: 4 ports", "hca h: 1 ports" ]);
 * ```
 */
export interface FabricNode {
  /** Channel adapter or switch. */
  readonly kind: "hca" | "switch";
  /** Name given when added. */
  readonly name: string;
  /** Order of addition (0, 1, …); GUIDs derive from it. */
  readonly index: number;
  /** Node GUID. */
  readonly nodeGuid: bigint;
  /** External ports, port numbers 1..N in order. */
  readonly ports: readonly Port[];
}

/**
 * What a faulty link does to one packet (decided by the fabric).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Fate } from "./port.ts";
 * const extraDelay = (f: Fate) => f.kind === "delay" ? f.delayNs : 0;
 * assert.equal(extraDelay({ kind: "delay", delayNs: 5_000 }), 5000);
 * ```
 */
export type Fate =
  | { kind: "deliver" }
  | { kind: "drop" }
  | { kind: "duplicate" }
  | { kind: "delay"; delayNs: number }
  | { kind: "corrupt"; bytes: Uint8Array };

const DELIVER: Fate = { kind: "deliver" };

/**
 * Services the fabric gives its ports.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import type { PortWiring } from "./port.ts";
 * // The fabric wires each port with these services; a minimal, fault-free one:
 * const wiring: PortWiring = { engine: new Engine(), onTransmit: () => ({ kind: "deliver" }), quiet: () => true };
 * assert.equal(wiring.quiet(), true);
 * ```
 */
export interface PortWiring {
  /** The engine. */
  readonly engine: Engine;
  /** Called for every packet put on a wire: capture, then fault decision. */
  onTransmit(from: Port, link: Link, wire: WirePacket): Fate;
  /** True when no capture hook or fault rule exists (skip `onTransmit`). */
  quiet(): boolean;
  /**
   * True when every step of a packet must run as its own engine event (the
   * fabric's `stepByStep`): credit returns are then events even when nobody
   * waits for them. Absent = false.
   */
  stepByStep?(): boolean;
  /** The node took the packet out of the port's input buffer (switch forwarding). */
  forward?(port: Port, pkt: BufferedPacket, lastBitNs: number): void;
  /** Receive callback of an HCA node. */
  receive?(wire: WirePacket, port: Port): boolean | void;
  /** Port state change notification of an HCA node. */
  stateChanged?(port: Port, from: PortLinkState): void;
  /** A P_KeyTable Set changed the port's P_Key table (HCA nodes). */
  pkeysChanged?(port: Port): void;
}

/**
 * A packet in a port's input buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BufferedPacket } from "./port.ts";
 * import { creditsFor } from "./port.ts";
 * import { WirePacket } from "./packet.ts";
 * const wire = new WirePacket(new Uint8Array(2174));
 * const pkt: BufferedPacket = { wire, credits: creditsFor(wire.length), charged: true };
 * assert.equal(pkt.credits, 34);
 * ```
 */
export interface BufferedPacket {
  /** The packet (its wire bytes built only on demand). */
  readonly wire: WirePacket;
  /** Credits it holds. */
  readonly credits: number;
  /** False for a copy the sender never paid credits for (duplicate fault). */
  readonly charged: boolean;
}

/**
 * What frees a queued packet's input-buffer space once its tail has left: a
 * callback, or the input port and the packet it holds (a unicast packet: no
 * closure per packet).
 */
type Release = (() => void) | Port | undefined;

/** Legal state changes (IBTA §7.2: link up → INIT; SM: INIT → ARMED → ACTIVE; anything → DOWN). */
const TRANSITIONS: Record<PortLinkState, readonly PortLinkState[]> = {
  DOWN: ["INIT"],
  INIT: ["ARMED", "DOWN"],
  ARMED: ["ACTIVE", "INIT", "DOWN"],
  ACTIVE: ["INIT", "DOWN"],
};

/**
 * One port of an HCA or switch.
 *
 * Send side, for the HCA's send engine: {@link canSend} / {@link trySend}
 * now, or {@link whenReady} to be called back once the transmitter is idle
 * and the receiver has credits. Receive side: the node's `receive(bytes,
 * port)` may return `false` to leave the packet in the input buffer (its
 * credits stay taken, so the sender stalls); call {@link resumeReceive} to
 * have it offered again.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { Fabric } from "./fabric.ts";
 * const engine = new Engine();
 * const fabric = new Fabric(engine);
 * const a = fabric.addHca("a", { receive() {} });
 * assert.deepEqual([a.port(1).state, a.port(1).portNum], ["DOWN", 1]);
 * ```
 */
export class Port {
  /** LID assigned by the subnet manager (0 = none yet). */
  lid = 0;
  /** LID mask control: the port answers to 2^lmc LIDs from `lid` (IBTA §7.11.1). */
  lmc = 0;
  /** LID of the port the master subnet manager runs on (PortInfo:MasterSMLID), 0 = none yet. */
  smLid = 0;
  /**
   * PortInfo:SubnetTimeOut (IBTA vol 1 §14.2.5.6): the subnet's propagation delay the master SM
   * announces, 4.096 µs × 2^value; 0 until the subnet manager sets it with the port's LID.
   */
  subnetTimeout = 0;
  /**
   * The port's P_Key table (IBTA vol 1 §10.9, P_KeyTable §14.2.5.7): entry `i` is the P_Key at
   * index `i`, entries past the end are empty (0). At power-on the default P_Key at index 0 and
   * nothing else (as mlx4's `init_pkeys` fills its cache); the subnet manager sets the rest.
   */
  pkeys: number[] = [DEFAULT_PKEY];
  #subnetPrefix = 0xfe80000000000000n;
  /** The port's GID as bytes, made on first use and again after the prefix changes. */
  #gidBytes: Uint8Array | undefined;
  /** Link to the peer port, when connected. */
  link: Link | undefined;
  /** Active MTU negotiated at connect (0 while unconnected). */
  activeMtu = 0;
  /** Counters. */
  readonly counters: PortCounters = zeroCounters();
  /** Switch ports: cut-through latency from first bit in to routing decision; undefined on CAs. */
  cutThroughNs: number | undefined;

  #state: PortLinkState = "DOWN";
  #w: PortWiring;
  /**
   * The kinds of the events a port schedules ({@link Engine.tag}): arrival at a CA port, at a
   * switch port, a switch's buffer release, a look at the output queue, credits returning, a
   * paused receive resumed.
   */
  readonly #tags: readonly [number, number, number, number, number, number];
  #bufferCredits: number;
  // Transmit side.
  #txFreeAt = 0;
  #credits = 0;
  /** Waiters ({@link whenReady}) in registration order: the bytes each needs, and its callback. */
  #waitNeed: number[] = [];
  #waiters: (() => void)[] = [];
  /**
   * The pair of arrays {@link #pump} puts back the waiters it cannot serve
   * into, swapped with the pair it serves (so a pump allocates none);
   * undefined while a pump uses them.
   */
  #spareNeed: number[] | undefined = [];
  #spareWaiters: (() => void)[] | undefined = [];
  #kick: EventHandle | undefined;
  /** The record of the last kick made by `schedule`: once it has run, the next kick re-arms it. */
  #kickEvent: EventHandle | undefined;
  /**
   * Where the latest buffer release of a unicast packet this switch port
   * sent would look at its output queue, while that release is no event
   * (-1: none; see `#transmit`): the look becomes an event only for a packet
   * queued by then ({@link #scheduleKick}).
   */
  #relPlaceTime = -1;
  #relPlaceSeq = 0;
  #pumpNow = (): void => this.#pump();
  // Events of packets this port sends, kept in the order they were
  // scheduled: a transmitter's start and end times never go back, so these
  // events fire in that order, and one handler made once per port takes each
  // from here (no closure per packet). Arrivals at the peer (a packet
  // delivered, corrupted, or the first copy of a duplicate; a delayed packet
  // or a duplicate's second copy, which may overtake, gets its own event):
  #arrPkt: BufferedPacket[] = [];
  #arrLastBit: number[] = [];
  #arrLine = new Line([this.#arrPkt], [this.#arrLastBit]);
  // …and, on a switch port, the moments a packet's tail has left, which free its input buffer:
  #relWhat: Release[] = [];
  #relHeld: (BufferedPacket | undefined)[] = [];
  #relLine = new Line([this.#relWhat, this.#relHeld]);
  // The output queue (switch ports): each packet, the time its tail is in, how its input buffer
  // is freed and the packet an input port holds when that port frees it (fields in arrays: no
  // object per packet).
  #outWire: WirePacket[] = [];
  #outNotBefore: number[] = [];
  #outRelease: Release[] = [];
  #outHeld: (BufferedPacket | undefined)[] = [];
  #outLine = new Line([this.#outWire, this.#outRelease, this.#outHeld], [this.#outNotBefore]);
  // Credit returns on their way back, not yet counted: (time, event order, credits) each.
  // Kept as [head, tail) of arrays that are never truncated to empty: an
  // array emptied by `length = 0` drops its backing store, and a stream of
  // packets would allocate a fresh one for every return.
  #retTime: number[] = [];
  #retSeq: number[] = [];
  #retN: number[] = [];
  // …and, for a return whose release ran no event, the release's place: its event order is
  // taken where the engine passed that place (`Engine.passCounter`); -1 for the others.
  #retRelTime: number[] = [];
  #retRelSeq: number[] = [];
  #retHead = 0;
  #retTail = 0;
  // Receive side (HCA ports).
  #rxQ: BufferedPacket[] = [];
  #rxLine = new Line([this.#rxQ]);
  #paused = false;
  #delivering = false;
  #resume: EventHandle | undefined;

  /**
   * A port of a node of the fabric (built by `Fabric`).
   *
   * @param node the HCA or switch
   * @param portNum 1-based port number
   * @param guid port GUID
   * @param rxBufferBytes input buffer size
   * @param maxMtu largest MTU the port supports
   * @param wiring services of the fabric and node
   */
  constructor(
    readonly node: FabricNode,
    readonly portNum: number,
    readonly guid: bigint,
    readonly rxBufferBytes: number,
    readonly maxMtu: number,
    wiring: PortWiring,
  ) {
    this.#w = wiring;
    this.#bufferCredits = Math.floor(rxBufferBytes / CREDIT_BYTES);
    const e = wiring.engine;
    this.#tags = [
      e.tag("port.arrival"),
      e.tag("switch.arrival"),
      e.tag("switch.release"),
      e.tag("port.kick"),
      e.tag("port.credit"),
      e.tag("port.resume"),
    ];
  }

  /** `"<node>/<port>"`. */
  get name(): string {
    return `${this.node.name}/${this.portNum}`;
  }

  /** Port state (IBTA §7.2). */
  get state(): PortLinkState {
    return this.#state;
  }

  /** Credits this port's input buffer holds in all. */
  get bufferCredits(): number {
    return this.#bufferCredits;
  }

  /** Credits the transmitter believes the peer's buffer has free. */
  get txCredits(): number {
    this.#settleCredits();
    return this.#credits;
  }

  /** Packets waiting in the input buffer for the HCA to accept them. */
  get rxQueued(): number {
    return this.#rxLine.length;
  }

  /** Packets queued for transmission (switch output queue). */
  get txQueued(): number {
    return this.#outLine.length;
  }

  /** Virtual time (ns, fractional) at which the transmitter is free. */
  get txFreeAt(): number {
    return this.#txFreeAt;
  }

  /** Subnet prefix (high 8 bytes of the GID), set by the SM; default fe80::/64. */
  get subnetPrefix(): bigint {
    return this.#subnetPrefix;
  }

  set subnetPrefix(prefix: bigint) {
    this.#subnetPrefix = prefix;
    this.#gidBytes = undefined;
  }

  /**
   * The port's GID: subnet prefix + port GUID (IBTA §4.1.1), 16 bytes.
   * A new array on each call.
   */
  get gid(): Uint8Array {
    return this.#ownGid().slice();
  }

  /**
   * Whether `gid` (16 bytes) is one of the port's GIDs: its GID table has one entry, the
   * prefix and the port GUID (`gidTblLen` 1). Compares bytes, allocates nothing.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Engine } from "../sim/engine.ts";
   * import { Fabric } from "./fabric.ts";
   * const port = new Fabric(new Engine()).addHca("a", { receive() {} }).port(1);
   * const other = port.gid;
   * other[15] ^= 1;
   * assert.deepEqual([port.hasGid(port.gid), port.hasGid(other)], [true, false]);
   * ```
   */
  hasGid(gid: Uint8Array): boolean {
    const own = this.#ownGid();
    // From the end: GIDs under one subnet prefix differ in their GUID's low bytes.
    for (let i = 15; i >= 0; i--) if (gid[i] !== own[i]) return false;
    return true;
  }

  #ownGid(): Uint8Array {
    if (this.#gidBytes !== undefined) return this.#gidBytes;
    const g = new Uint8Array(16);
    const dv = new DataView(g.buffer);
    dv.setBigUint64(0, this.#subnetPrefix);
    dv.setBigUint64(8, this.guid);
    return this.#gidBytes = g;
  }

  /** The GID as IPv6 text (`fe80::2:c903:0:101`). */
  get gidText(): string {
    const g = this.gid;
    const parts: string[] = [];
    for (let i = 0; i < 16; i += 2) parts.push(((g[i] << 8) | g[i + 1]).toString(16));
    // Compress the longest run of zero groups, as IPv6 text does (RFC 5952).
    let best = -1, bestLen = 0;
    for (let i = 0; i < 8;) {
      if (parts[i] !== "0") {
        i++;
        continue;
      }
      let j = i;
      while (j < 8 && parts[j] === "0") j++;
      if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i];
      i = j;
    }
    if (best < 0) return parts.join(":");
    return `${parts.slice(0, best).join(":")}::${parts.slice(best + bestLen).join(":")}`;
  }

  /**
   * Change the port state; only the transitions IBTA §7.2 allows.
   * @throws RangeError on an illegal transition (e.g. INIT → ACTIVE)
   */
  setState(next: PortLinkState): void {
    const from = this.#state;
    if (from === next) return;
    if (!TRANSITIONS[from].includes(next)) {
      throw new RangeError(
        `port ${this.name}: ${from} → ${next} is not a legal transition (IBTA §7.2)`,
      );
    }
    this.#state = next;
    this.#w.stateChanged?.(this, from);
  }

  /**
   * A SubnSet(P_KeyTable) changed the port's P_Key table to `table` (IBTA vol 1 §14.2.5.7): store
   * it and tell the node, whose driver raises IB_EVENT_PKEY_CHANGE (see HcaDevice.portPkeysChanged).
   */
  setPkeyTable(table: number[]): void {
    this.pkeys = table;
    this.#w.pkeysChanged?.(this);
  }

  /** ns to serialize `bytes` wire bytes on this port's link (0 if unconnected). */
  wireTimeNs(bytes: number): number {
    return this.link ? bytes * this.link.nsPerByte : 0;
  }

  /**
   * Whether a packet of `bytes` wire bytes would go out now: the
   * transmitter is idle and the receiver has credits for it. An unconnected
   * port says true (its packets are discarded, see {@link trySend}).
   */
  canSend(bytes: number): boolean {
    if (!this.link) return true;
    this.#settleCredits();
    return this.#w.engine.now >= this.#txFreeAt && this.#credits >= creditsFor(bytes);
  }

  /**
   * Put a packet on the wire if the transmitter is idle and the receiver
   * has credits; otherwise return false and send nothing (call
   * {@link whenReady}). A port that is not ACTIVE discards data packets
   * (VL 0–14) and counts them in `xmitDiscards` (IBTA §7.2: only SMPs leave
   * a port in INIT or ARMED); that counts as sent.
   *
   * @internal
   */
  trySend(packet: Uint8Array | WirePacket): boolean {
    const wire = packet instanceof WirePacket ? packet : new WirePacket(packet);
    if (
      !this.link ||
      (this.#state !== "ACTIVE" && (wire.vl !== VL15 || this.#state === "DOWN"))
    ) {
      this.counters.xmitDiscards++;
      return true;
    }
    if (this.#w.engine.now < this.#txFreeAt) return false;
    this.#settleCredits();
    if (this.#credits < packetCredits(wire.length)) {
      this.counters.creditStalls++;
      return false;
    }
    this.#transmit(wire, 0, undefined, undefined);
    return true;
  }

  /**
   * Call `cb` once (from an engine event, never synchronously) when a
   * packet of `bytes` wire bytes can be sent: transmitter idle and enough
   * credits. Waiters are called in registration order.
   */
  whenReady(bytes: number, cb: () => void): void {
    this.#waitNeed.push(bytes);
    this.#waiters.push(cb);
    this.#creditEvents();
    const engine = this.#w.engine;
    if (!this.link || this.canSend(bytes)) {
      this.#scheduleKick(engine.now);
    } else if (engine.now < this.#txFreeAt) {
      this.#scheduleKick(this.#txFreeAt);
    } else {
      // Credits are short: the next credit return kicks.
      this.counters.creditStalls++;
    }
  }

  /** After `receive` returned false: offer the buffered packets again (from an engine event). */
  resumeReceive(): void {
    this.#paused = false;
    if (this.#resume || this.rxQueued === 0) return;
    this.#resume = this.#w.engine.schedule(0, () => {
      this.#resume = undefined;
      this.#deliver();
    }, this.#tags[5]);
  }

  // ---- fabric-internal -------------------------------------------------

  /** @internal Connect: fresh credits, state INIT (IBTA §7.2: link up). */
  attach(link: Link, peerBufferCredits: number): void {
    this.link = link;
    const peer = link.peer(this);
    this.activeMtu = Math.min(link.params.mtu, this.maxMtu, peer.maxMtu);
    this.#credits = peerBufferCredits;
    this.#txFreeAt = this.#w.engine.now;
    this.setState("INIT");
  }

  /** @internal Queue for transmission after the switch's routing (switch ports). */
  enqueue(
    wire: WirePacket,
    notBefore: number,
    release: (() => void) | Port,
    held?: BufferedPacket,
  ): void {
    if (this.#state !== "ACTIVE" && wire.vl !== VL15) {
      this.counters.xmitDiscards++;
      freeInput(release, held);
      return;
    }
    if (
      this.#outLine.length === 0 && this.#waiters.length === 0 &&
      this.#w.engine.now >= this.#txFreeAt
    ) {
      // What #pump does with the queue's only packet when it can go now, without storing it in
      // the queue first (see #deliverNow: a write barrier's slow path per store).
      this.#settleCredits();
      if (this.#credits >= packetCredits(wire.length)) {
        return this.#transmit(wire, notBefore, release, held);
      }
    }
    const i = this.#outLine.add();
    this.#outWire[i] = wire;
    this.#outNotBefore[i] = notBefore;
    this.#outRelease[i] = release;
    this.#outHeld[i] = held;
    this.#pump();
    if (this.#outLine.length > 0) this.#creditEvents();
  }

  /** @internal A packet's scheduled arrival at this port. */
  arrive(pkt: BufferedPacket, lastBitNs: number): void {
    const wire = pkt.wire;
    const vl = wire.vl;
    if (this.#state === "DOWN" || (this.#state === "INIT" && vl !== VL15)) {
      // IBTA §7.2: a port in INIT accepts only SMPs.
      this.counters.rcvDiscards++;
      this.release(pkt);
      return;
    }
    if (this.#w.forward) {
      this.counters.rcvPkts++;
      this.counters.rcvBytes += wire.length;
      this.#w.forward(this, pkt, lastBitNs);
      return;
    }
    const dlid = wire.dlid;
    const mask = ~((1 << this.lmc) - 1);
    // A multicast DLID (0xC000..0xFFFE, IBTA vol 1 §4.1.1) is for the device: it checks the
    // packet's MGID against its attached QPs (§10.5).
    if (
      dlid !== PERMISSIVE_LID && (dlid & mask) !== (this.lid & mask) && dlid < MULTICAST_LID_BASE
    ) {
      // IBTA §7.11.1: a CA port drops a packet whose DLID is not its own.
      this.counters.rcvDiscards++;
      this.release(pkt);
      return;
    }
    this.counters.rcvPkts++;
    this.counters.rcvBytes += wire.length;
    if (this.#rxLine.length === 0 && !this.#paused && !this.#delivering && this.#w.receive) {
      return this.#deliverNow(pkt);
    }
    this.#rxQ[this.#rxLine.add()] = pkt;
    if (!this.#paused && !this.#delivering) this.#deliver();
  }

  /**
   * {@link #deliver} for a packet that would be the only one in the input
   * buffer: offered without going through the buffer's line, where storing
   * it (a packet made since the last scavenge, into the port's long-lived
   * array) costs a write barrier's slow path for nothing when the node takes
   * it at once. It enters the line only if the node leaves it there.
   */
  #deliverNow(pkt: BufferedPacket): void {
    this.#delivering = true;
    try {
      let took;
      try {
        took = this.#w.receive!(pkt.wire, this);
      } catch (e) {
        this.#bufferFirst(pkt); // where #deliver's throw leaves it
        throw e;
      }
      if (took === false) {
        this.#paused = true;
        this.#bufferFirst(pkt);
        return;
      }
      this.release(pkt);
    } finally {
      this.#delivering = false;
    }
    // What arrived meanwhile, as #deliver's loop would have taken it.
    if (!this.#paused && this.#rxLine.length > 0) this.#deliver();
  }

  /**
   * Put `pkt` at the head of the input buffer, ahead of anything that arrived while the node
   * was looking at it (as it would be had it been buffered first).
   */
  #bufferFirst(pkt: BufferedPacket): void {
    const line = this.#rxLine, q = this.#rxQ;
    const later: BufferedPacket[] = [];
    while (line.length > 0) {
      later.push(q[line.head]);
      line.drop();
    }
    q[line.add()] = pkt;
    for (let k = 0; k < later.length; k++) q[line.add()] = later[k];
  }

  /** @internal Free a packet's buffer space: its credits go back to the sender. */
  release(pkt: BufferedPacket): void {
    if (!pkt.charged || !this.link) return;
    this.link.peer(this).#returnCredits(this.link.params.propagationNs, pkt.credits);
  }

  /** Whether the sender on this port's link has nothing waiting to send (no waiter, no queue). */
  #upstreamIdle(): boolean {
    const up = this.link!.peer(this);
    return up.#waiters.length === 0 && up.#outLine.length === 0;
  }

  /** @internal Credits arrive from the peer. */
  credit(n: number): void {
    this.#settleCredits();
    this.#credits += n;
    this.#pump();
  }

  /**
   * `n` credits reach this (sending) port `delayNs` from now. Their arrival
   * is an event only when it can make something happen there: a waiter or a
   * queued packet that, the transmitter being free by then, may be short of
   * credits. Otherwise (IBTA §7.9.4: a credit return only raises the
   * sender's limit) it is kept as a deferred update in its place in event
   * order and counted the first time this port looks at its credits at or
   * after that place, so every decision sees the credits it would have seen
   * with an event per return. While a waiter or a queued packet exists,
   * every deferred return lies before `txFreeAt`, where its event would
   * have found the transmitter busy and done nothing else (the kick at
   * `txFreeAt` is pending then).
   */
  #returnCredits(delayNs: number, n: number): void {
    const engine = this.#w.engine;
    const at = engine.now + Math.ceil(delayNs);
    if (
      this.#w.stepByStep?.() === true ||
      ((this.#waiters.length > 0 || this.#outLine.length > 0) && at >= this.#txFreeAt)
    ) {
      this.#creditEvent(delayNs, n);
      return;
    }
    this.#deferCredits(at, engine.reserveSeq(), n, -1, 0);
  }

  /**
   * `n` credits reach this port at `at`, freed by a switch's buffer release
   * at (`relTime`, `relSeq`) that runs no event: deferred as
   * {@link #returnCredits} defers them, in the place the release would have
   * reserved when it ran (this port's waiters and queue were none when the
   * release was decided; any that come later turn it into an event, see
   * {@link #creditEvents}).
   */
  #returnCreditsFrom(at: number, relTime: number, relSeq: number, n: number): void {
    this.#w.engine.keepPlaceLog(at - relTime, at);
    this.#deferCredits(at, NaN, n, relTime, relSeq);
  }

  /**
   * Keep a credit return in time order among the others (a release decided
   * ahead may come after returns registered later; {@link #settleCredits}
   * sorts out equal times).
   */
  #deferCredits(at: number, seq: number, n: number, relTime: number, relSeq: number): void {
    const t = this.#retTime, s = this.#retSeq, c = this.#retN;
    const rt = this.#retRelTime, rs = this.#retRelSeq;
    let i = this.#retTail++;
    while (i > this.#retHead && t[i - 1] > at) {
      t[i] = t[i - 1];
      s[i] = s[i - 1];
      c[i] = c[i - 1];
      rt[i] = rt[i - 1];
      rs[i] = rs[i - 1];
      i--;
    }
    t[i] = at;
    s[i] = seq;
    c[i] = n;
    rt[i] = relTime;
    rs[i] = relSeq;
  }

  /**
   * The place in event order of deferred return `i`: its reserved one, or
   * (a release that ran no event) the one the release would have reserved;
   * NaN while that release's place is not past.
   */
  #retPlace(i: number): number {
    const seq = this.#retSeq[i];
    if (seq === seq) return seq; // not NaN
    const c = this.#w.engine.passCounter(this.#retRelTime[i], this.#retRelSeq[i]);
    if (c < 0) return NaN;
    // Between what was reserved before that place was passed (< c) and after (>= c).
    return this.#retSeq[i] = c - 0.5;
  }

  /** Count the deferred credit returns whose place in event order has passed (they come in order). */
  #settleCredits(): void {
    let h = this.#retHead;
    const end = this.#retTail;
    if (h === end) return;
    const t = this.#retTime;
    const engine = this.#w.engine;
    const now = engine.now;
    while (h < end && t[h] < now) this.#credits += this.#retN[h++];
    if (h < end && t[h] === now) {
      // Returns due now count if their place is past; their order among themselves is known
      // only once places are resolved, so the ones not yet due move behind the others.
      let g = h;
      while (g < end && t[g] === now) g++;
      let w = g;
      for (let k = g - 1; k >= h; k--) {
        const place = this.#retPlace(k);
        if (place === place && engine.isPast(now, place)) this.#credits += this.#retN[k];
        else if (--w !== k) {
          t[w] = t[k];
          this.#retSeq[w] = this.#retSeq[k];
          this.#retN[w] = this.#retN[k];
          this.#retRelTime[w] = this.#retRelTime[k];
          this.#retRelSeq[w] = this.#retRelSeq[k];
        }
      }
      h = w;
    }
    if (h === end) {
      this.#retTail = 0;
      h = 0;
    } else if (h > 1024 && h * 2 > end) {
      // A port that always has a return on its way: drop the counted ones.
      t.copyWithin(0, h, end);
      this.#retSeq.copyWithin(0, h, end);
      this.#retN.copyWithin(0, h, end);
      this.#retRelTime.copyWithin(0, h, end);
      this.#retRelSeq.copyWithin(0, h, end);
      this.#retTail = end - h;
      h = 0;
    }
    this.#retHead = h;
  }

  /**
   * A waiter or a queued packet appeared: deferred returns due when the
   * transmitter is free (they could find it short of credits) become events
   * in their places.
   */
  #creditEvents(): void {
    this.#settleCredits();
    const t = this.#retTime;
    const end = this.#retTail;
    let h = end;
    while (h > this.#retHead && t[h - 1] >= this.#txFreeAt) h--;
    if (h === end) return;
    for (let i = h; i < end; i++) {
      const place = this.#retPlace(i);
      if (place === place) this.#creditEventAt(t[i], place, this.#retN[i]);
      else this.#releaseEvent(t[i], this.#retRelTime[i], this.#retRelSeq[i], this.#retN[i]);
    }
    this.#retTail = h;
  }

  // A closure is made only where one is needed: a function that makes one
  // from its parameters allocates their context on every call, taken or not
  // (these run for every packet; the closures for few).

  /** `n` credits arrive `delayNs` from now, as an event. */
  #creditEvent(delayNs: number, n: number): void {
    this.#w.engine.post(delayNs, () => this.credit(n), this.#tags[4]);
  }

  /**
   * A switch's buffer release that ran no event, not yet past, frees `n`
   * credits for this port at `at`: it becomes its event after all, in its
   * place, and returns them as a release event does ({@link #returnCredits}).
   */
  #releaseEvent(at: number, relTime: number, relSeq: number, n: number): void {
    this.#w.engine.scheduleReserved(
      relTime,
      relSeq,
      () => this.#returnCredits(at - relTime, n),
      this.#tags[2],
    );
  }

  /** `n` credits arrive at `time`, as an event in the place `seq` reserved. */
  #creditEventAt(time: number, seq: number, n: number): void {
    this.#w.engine.scheduleReserved(time, seq, () => this.credit(n), this.#tags[4]);
  }

  // ---- internals -------------------------------------------------------

  #deliver(): void {
    const receive = this.#w.receive;
    if (!receive) return;
    this.#delivering = true;
    try {
      const line = this.#rxLine;
      while (!this.#paused && line.length > 0) {
        const pkt = this.#rxQ[line.head];
        if (receive(pkt.wire, this) === false) {
          this.#paused = true;
          break;
        }
        line.drop();
        this.release(pkt);
      }
    } finally {
      this.#delivering = false;
    }
  }

  #scheduleKick(at: number): void {
    if (this.#kick && !this.#kick.done && this.#kick.time <= Math.ceil(at)) return;
    const engine = this.#w.engine;
    const rt = this.#relPlaceTime;
    if (rt >= 0 && rt <= Math.ceil(at) && !engine.isPast(rt, this.#relPlaceSeq)) {
      // The latest release's look at the queue, in its place, as when every release is an event.
      this.#relPlaceTime = -1;
      this.#kick = engine.scheduleReserved(rt, this.#relPlaceSeq, this.#pumpNow, this.#tags[3]);
      return;
    }
    const delay = Math.max(0, at - engine.now);
    const last = this.#kickEvent;
    this.#kick = this.#kickEvent = last !== undefined && last.done
      ? engine.scheduleAgain(last, delay)
      : engine.schedule(delay, this.#pumpNow, this.#tags[3]);
  }

  /** Send what the output queue and waiters can send now; arrange the next look. */
  #pump(): void {
    const now = this.#w.engine.now;
    this.#settleCredits();
    const out = this.#outLine;
    while (out.head < out.tail) {
      if (now < this.#txFreeAt) break;
      const h = out.head;
      const wire = this.#outWire[h];
      if (this.#credits < packetCredits(wire.length)) {
        this.counters.creditStalls++;
        break;
      }
      const notBefore = this.#outNotBefore[h],
        release = this.#outRelease[h],
        held = this.#outHeld[h];
      out.drop();
      this.#transmit(wire, notBefore, release, held);
    }
    if (this.#waiters.length > 0) this.#serveWaiters(now);
    if ((this.#waiters.length > 0 || this.txQueued > 0) && now < this.#txFreeAt) {
      this.#scheduleKick(this.#txFreeAt);
    }
  }

  /**
   * Call the waiters that can send now, in registration order; the others
   * wait on. Apart from {@link #pump}, which a switch port runs for every
   * packet it forwards: waiters are the HCA transport's, a switch port has
   * none.
   */
  #serveWaiters(now: number): void {
    const needs = this.#waitNeed, ws = this.#waiters;
    this.#waitNeed = this.#spareNeed ?? [];
    this.#waiters = this.#spareWaiters ?? [];
    this.#spareNeed = this.#spareWaiters = undefined;
    for (let i = 0; i < ws.length; i++) {
      if (this.canSend(needs[i])) ws[i]();
      else {
        if (now >= this.#txFreeAt) this.counters.creditStalls++;
        this.#waitNeed.push(needs[i]);
        this.#waiters.push(ws[i]);
      }
    }
    emptyArray(needs);
    emptyArray(ws);
    this.#spareNeed = needs;
    this.#spareWaiters = ws;
  }

  #transmit(
    wire: WirePacket,
    notBefore: number,
    release: Release,
    held: BufferedPacket | undefined,
  ): void {
    const link = this.link!;
    const engine = this.#w.engine;
    const now = engine.now;
    // Events fire on whole ns; a transmitter that went idle within the last
    // ns of rounding is treated as continuously busy, so back-to-back
    // packets keep the exact line rate instead of losing up to 1 ns each.
    const start = this.#txFreeAt > now - 1 ? this.#txFreeAt : now;
    let end = start + wire.length * link.nsPerByte;
    // Cut-through: the tail cannot leave before it has arrived.
    if (end < notBefore) end = notBefore;
    this.#txFreeAt = end;
    const credits = packetCredits(wire.length);
    this.#credits -= credits;
    const c = this.counters;
    c.xmitPkts++;
    c.xmitBytes += wire.length;
    const prop = link.params.propagationNs;
    const fate = this.#w.quiet() ? DELIVER : this.#w.onTransmit(this, link, wire);
    const firstBit = start + prop;
    const lastBit = end + prop;
    if (release) {
      // The tail has left the switch: its input buffer space is free. `start`
      // may lie up to 1 ns in the past (see above), so a short packet on a
      // fast link can end before `now`: then it is free at once.
      const relTime = now + Math.ceil(Math.max(0, end - now));
      const relSeq = engine.reserveSeq();
      if (
        release instanceof Port && held!.charged && release.link !== undefined &&
        this.#w.stepByStep?.() !== true && release.#upstreamIdle()
      ) {
        // A unicast packet whose sender nothing waits at: its release frees credits there
        // (deferred, in the place the release takes when it runs) and looks at this port's
        // queue; neither needs an event unless something comes to wait first.
        const up = release.link.peer(release);
        up.#returnCreditsFrom(
          relTime + Math.ceil(release.link.params.propagationNs),
          relTime,
          relSeq,
          held!.credits,
        );
        // Just after the release's own place: its credit part, if it must become an event,
        // runs first there, as in the release's event.
        this.#relPlaceTime = relTime;
        this.#relPlaceSeq = relSeq + 0.25;
        this.#kick = undefined;
      } else {
        const i = this.#relLine.add();
        this.#relWhat[i] = release;
        this.#relHeld[i] = held;
        this.#relPlaceTime = -1;
        this.#kick = engine.scheduleReserved(relTime, relSeq, this.#released, this.#tags[2]);
      }
    }
    switch (fate.kind) {
      case "deliver":
        // A switch forwards the record its input port holds: the same packet and credits
        // (records are immutable), so no second one is made.
        this.#arriveInOrder(
          held !== undefined && held.wire === wire && held.charged && held.credits === credits
            ? held
            : { wire, credits, charged: true },
          firstBit,
          lastBit,
        );
        break;
      case "drop":
        c.dropped++;
        // The receiver discards it on arrival (bad CRC); its credits come back.
        this.#creditEvent(Math.max(0, lastBit + prop - now), credits);
        break;
      case "duplicate": {
        c.duplicated++;
        // Two arrivals of one packet: neither receiver may give its payload back.
        wire.shared();
        this.#arriveInOrder({ wire, credits, charged: true }, firstBit, lastBit);
        const ser = end - start;
        this.#arriveLater({ wire, credits, charged: false }, firstBit + ser, lastBit + ser);
        break;
      }
      case "delay":
        c.delayed++;
        this.#arriveLater(
          { wire, credits, charged: true },
          firstBit + fate.delayNs,
          lastBit + fate.delayNs,
        );
        break;
      case "corrupt":
        c.corrupted++;
        this.#arriveInOrder(
          { wire: new WirePacket(fate.bytes), credits, charged: true },
          firstBit,
          lastBit,
        );
        break;
    }
  }

  /** Schedule `pkt`'s arrival at the peer as {@link #arriveLater} does, its event taken from the line above. */
  #arriveInOrder(pkt: BufferedPacket, firstBit: number, lastBit: number): void {
    const peer = this.link!.peer(this);
    const at = peer.cutThroughNs === undefined ? lastBit : firstBit + peer.cutThroughNs;
    const i = this.#arrLine.add();
    this.#arrPkt[i] = pkt;
    this.#arrLastBit[i] = lastBit;
    const engine = this.#w.engine;
    engine.post(Math.max(0, at - engine.now), this.#arrived, this.#arrivalTag(peer));
  }

  /** The kind of a packet's arrival at `peer`: at a CA port or at a switch port. */
  #arrivalTag(peer: Port): number {
    return this.#tags[peer.cutThroughNs === undefined ? 0 : 1];
  }

  /**
   * Schedule `pkt`'s arrival at the peer with an event of its own, out of the line's order (a
   * fault's duplicate or delay): a CA port takes a packet when its last bit is in (it must check
   * the CRCs); a switch port acts on the header, `cutThroughNs` after the first bit.
   */
  #arriveLater(pkt: BufferedPacket, firstBit: number, lastBit: number): void {
    const peer = this.link!.peer(this);
    const at = peer.cutThroughNs === undefined ? lastBit : firstBit + peer.cutThroughNs;
    const engine = this.#w.engine;
    engine.post(
      Math.max(0, at - engine.now),
      () => peer.arrive(pkt, lastBit),
      this.#arrivalTag(peer),
    );
  }

  /** The next packet of the line has arrived at the peer. */
  #arrived = (): void => {
    const line = this.#arrLine;
    const pkt = this.#arrPkt[line.head];
    const lastBit = this.#arrLastBit[line.head];
    line.drop();
    this.link!.peer(this).arrive(pkt, lastBit);
  };

  /** The next packet of the line has left: its input buffer space is free. */
  #released = (): void => {
    const line = this.#relLine;
    const what = this.#relWhat[line.head];
    const held = this.#relHeld[line.head];
    line.drop();
    freeInput(what, held);
    this.#pump();
  };
}

/** Free a packet's input-buffer space as its {@link Release} says. */
function freeInput(release: Release, held: BufferedPacket | undefined): void {
  if (release instanceof Port) release.release(held!);
  else release?.();
}
