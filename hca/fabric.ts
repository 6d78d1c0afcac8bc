/**
 * The InfiniBand fabric of a cluster: channel-adapter nodes (the HCA
 * devices attach here as endpoints), switches, links, seeded fault
 * injection and packet capture. Hardware only: callbacks on the engine
 * heap, no processes.
 *
 * @module
 */

import type { Engine } from "../sim/engine.ts";
import { Prng } from "../sim/prng.ts";
import type { Profile } from "../sim/profiles/mod.ts";
import { Link, type LinkParams, linkParamsFromProfile, validateLinkParams } from "./link.ts";
import type { WirePacket } from "./packet.ts";
import {
  creditsFor,
  DEFAULT_RX_BUFFER_BYTES,
  type FabricNode,
  type Fate,
  Port,
  type PortLinkState,
} from "./port.ts";
import { SwitchNode } from "./switch.ts";
import { type PcapOptions, PcapWriter } from "./pcap.ts";

/**
 * What a channel adapter gives the fabric: where its packets go.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { type Endpoint, Fabric } from "./fabric.ts";
 * import { OP } from "./opcode.ts";
 * import { encodePacket } from "./packet.ts";
 * import { SubnetManager } from "./subnet_manager.ts";
 * const engine = new Engine();
 * const got: number[] = [];
 * const nic: Endpoint = { receive: (bytes) => void got.push(bytes.length) };
 * const fabric = new Fabric(engine, { profile: PCIX_SDR_2006 });
 * const a = fabric.addHca("a", { receive() {} }), b = fabric.addHca("nic", nic);
 * fabric.connect(a.port(1), b.port(1));
 * new SubnetManager(fabric).sweepNow();
 * const lrh = { dlid: b.port(1).lid, slid: a.port(1).lid };
 * const pkt = encodePacket({ lrh, bth: { opcode: OP.RC_SEND_ONLY, destQp: 9, psn: 0 } });
 * await engine.run(async () => {
 *   a.port(1).trySend(pkt);
 *   await engine.sleep(1_000);
 * });
 * assert.deepEqual(got, [pkt.length]); // the whole packet, once its last bit is in
 * ```
 */
export interface Endpoint {
  /**
   * A packet arrived at `port` (its last bit is in). Return `false` to
   * leave it in the port's input buffer — its credits stay taken, so the
   * sender stalls — and call `port.resumeReceive()` when ready.
   */
  receive(bytes: Uint8Array, port: Port): boolean | void;
  /**
   * The same, given the packet as the fabric carries it (its wire bytes
   * built only if asked for); when present the fabric calls it instead of
   * {@link Endpoint.receive}.
   */
  receiveWire?(wire: WirePacket, port: Port): boolean | void;
  /** The port changed state (e.g. the SM made it ACTIVE): raise the port event. */
  portStateChanged?(port: Port, from: PortLinkState): void;
  /** A P_KeyTable Set changed the port's P_Key table. */
  portPkeysChanged?(port: Port): void;
}

/**
 * Options for {@link Fabric.addHca}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { type CaAttachOptions, Fabric } from "./fabric.ts";
 * const fabric = new Fabric(new Engine(), { profile: PCIX_SDR_2006 });
 * const opts: CaAttachOptions = { ports: 2, maxMtu: 1024 };
 * const a = fabric.addHca("a", { receive() {} }, opts);
 * const b = fabric.addHca("b", { receive() {} });
 * fabric.connect(a.port(2), b.port(1));
 * assert.equal(a.port(2).activeMtu, 1024); // the smaller end decides
 * ```
 */
export interface CaAttachOptions {
  /** Number of ports (default 1). */
  ports?: number;
  /** Input buffer per port in bytes (default {@link DEFAULT_RX_BUFFER_BYTES}). */
  rxBufferBytes?: number;
  /** Largest MTU the ports support (default 4096). */
  maxMtu?: number;
  /**
   * NodeInfo:PartitionCap (IBTA vol 1 §14.2.5.3): entries of each port's P_Key table, the most
   * the subnet manager may set (default 64; an `Hca` gives its profile's `maxPkeys`).
   */
  partitionCap?: number;
}

/**
 * Options for {@link Fabric.addSwitch}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { Fabric, type SwitchOptions } from "./fabric.ts";
 * const fabric = new Fabric(new Engine());
 * const opts: SwitchOptions = { ports: 36, hopNs: 100 };
 * assert.equal(fabric.addSwitch("leaf", opts).ports.length, 36);
 * ```
 */
export interface SwitchOptions {
  /** Number of external ports (default 8). */
  ports?: number;
  /** Cut-through latency per hop in ns (default: the profile's `switchHopNs`). */
  hopNs?: number;
  /** Input buffer per port in bytes (default {@link DEFAULT_RX_BUFFER_BYTES}). */
  rxBufferBytes?: number;
}

/**
 * Options for {@link Fabric}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MODERN_GEN5_NDR, Prng } from "../sim/mod.ts";
 * import { Fabric, type FabricOptions } from "./fabric.ts";
 * const opts: FabricOptions = { profile: MODERN_GEN5_NDR, prng: new Prng(9) };
 * const fabric = new Fabric(new Engine(), opts);
 * const a = fabric.addHca("a", { receive() {} }), b = fabric.addHca("b", { receive() {} });
 * assert.equal(fabric.connect(a.port(1), b.port(1)).params.mtu, 4096);
 * ```
 */
export interface FabricOptions {
  /** Draws for fault injection (default: a Prng seeded 0). Pass a fork of the cluster's. */
  prng?: Prng;
  /** Defaults for link parameters and switch hop latency (default: none; then pass them). */
  profile?: Profile;
  /** Initial value of {@link Fabric.stepByStep} (default false). */
  stepByStep?: boolean;
}

/**
 * A fault rule: every packet put on a wire that matches all given fields
 * suffers `kind` with `probability` (one Prng draw per matching packet).
 * Rules are tried in order; the first that fires decides the packet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { Fabric, type FaultRule } from "./fabric.ts";
 * import { OP } from "./opcode.ts";
 * import { encodePacket } from "./packet.ts";
 * import { SubnetManager } from "./subnet_manager.ts";
 * const engine = new Engine();
 * const fabric = new Fabric(engine, { profile: PCIX_SDR_2006 });
 * const psns: number[] = [];
 * const a = fabric.addHca("a", { receive() {} });
 * const b = fabric.addHca("b", { receive: (bytes) => void psns.push(bytes[19]) }); // low PSN byte
 * fabric.connect(a.port(1), b.port(1));
 * new SubnetManager(fabric).sweepNow();
 * // Lose the first SEND only: the requester must recover by its timer.
 * const loseOne: FaultRule = { kind: "drop", opcode: OP.RC_SEND_ONLY, probability: 1, limit: 1 };
 * fabric.addFault(loseOne);
 * const lrh = { dlid: b.port(1).lid, slid: a.port(1).lid };
 * await engine.run(async () => {
 *   for (const psn of [0, 1]) {
 *     a.port(1).trySend(encodePacket({ lrh, bth: { opcode: OP.RC_SEND_ONLY, destQp: 9, psn } }));
 *     await engine.sleep(1_000); // the transmitter is free again
 *   }
 * });
 * assert.deepEqual(psns, [1]);
 * ```
 */
export interface FaultRule {
  /** Only this link (either direction unless `from` is given). */
  link?: Link;
  /** Only packets sent by this port. */
  from?: Port;
  /** Only this BTH opcode. */
  opcode?: number;
  /** Only this DLID. */
  dlid?: number;
  /** Chance per matching packet, 0..1. */
  probability: number;
  /** What happens. `corrupt` flips one bit (the receiver's CRC check catches it). */
  kind: "drop" | "duplicate" | "delay" | "corrupt";
  /** Extra delay for `delay` (ns). */
  delayNs?: number;
  /** Stop after firing this many times (default unlimited). */
  limit?: number;
}

/**
 * A packet as a capture hook sees it, at the instant its first bit leaves `from`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { type CaptureRecord, Fabric } from "./fabric.ts";
 * import { OP } from "./opcode.ts";
 * import { encodePacket } from "./packet.ts";
 * import { SubnetManager } from "./subnet_manager.ts";
 * const engine = new Engine();
 * const fabric = new Fabric(engine, { profile: PCIX_SDR_2006 });
 * const a = fabric.addHca("a", { receive() {} }), b = fabric.addHca("b", { receive() {} });
 * fabric.connect(a.port(1), b.port(1));
 * new SubnetManager(fabric).sweepNow();
 * const wire: CaptureRecord[] = [];
 * fabric.addCapture((r) => wire.push(r));
 * const lrh = { dlid: b.port(1).lid, slid: a.port(1).lid };
 * const pkt = encodePacket({ lrh, bth: { opcode: OP.RC_SEND_ONLY, destQp: 9, psn: 0 } });
 * await engine.run(async () => {
 *   a.port(1).trySend(pkt);
 *   await engine.sleep(1_000);
 * });
 * assert.deepEqual([wire.length, wire[0].to === b.port(1)], [1, true]);
 * ```
 */
export interface CaptureRecord {
  /** Virtual time (ns). */
  timeNs: number;
  /** Wire bytes (do not modify). */
  bytes: Uint8Array;
  /** Sending port. */
  from: Port;
  /** Receiving port. */
  to: Port;
  /** The link. */
  link: Link;
}

/**
 * Restricts a capture hook to one port's traffic (what it sends or receives) or one link.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { type CaptureFilter, Fabric, type HcaNode } from "./fabric.ts";
 * import { OP } from "./opcode.ts";
 * import { encodePacket } from "./packet.ts";
 * import { SubnetManager } from "./subnet_manager.ts";
 * const engine = new Engine();
 * const fabric = new Fabric(engine, { profile: PCIX_SDR_2006 });
 * const sw = fabric.addSwitch("sw", { ports: 4 });
 * const [a, b, c] = ["a", "b", "c"].map((n, i) => {
 *   const h = fabric.addHca(n, { receive() {} });
 *   fabric.connect(h.port(1), sw.port(i + 1));
 *   return h;
 * });
 * new SubnetManager(fabric).sweepNow();
 * const toC: CaptureFilter = { port: c.port(1) };
 * const seen: string[] = [];
 * fabric.addCapture((r) => seen.push(`${r.from.node.name}->${r.to.node.name}`), toC);
 * const send = (from: HcaNode, to: HcaNode) =>
 *   from.port(1).trySend(encodePacket({
 *     lrh: { dlid: to.port(1).lid, slid: from.port(1).lid },
 *     bth: { opcode: OP.RC_SEND_ONLY, destQp: 9, psn: 0 },
 *   }));
 * await engine.run(async () => {
 *   send(a, b);
 *   await engine.sleep(1_000);
 *   send(a, c);
 *   await engine.sleep(1_000);
 * });
 * assert.deepEqual(seen, ["sw->c"]); // only the hop into c's port
 * ```
 */
export interface CaptureFilter {
  /** Only packets this port sends or receives. */
  port?: Port;
  /** Only packets on this link. */
  link?: Link;
}

interface ActiveRule {
  rule: FaultRule;
  fired: number;
}

interface Capture {
  hook: (rec: CaptureRecord) => void;
  filter: CaptureFilter;
}

/** Mellanox OUI 0x0002C9 in a GUID's top 24 bits; the rest from the node index. */
const GUID_BASE = 0x0002c90300000000n;

/**
 * GUID of the node added `index`-th: deterministic, so runs and captures
 * compare byte for byte.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nodeGuid } from "./fabric.ts";
 * assert.equal(nodeGuid(0).toString(16), "2c90300000100");
 * ```
 */
export function nodeGuid(index: number): bigint {
  return GUID_BASE + (BigInt(index + 1) << 8n);
}

/**
 * A channel-adapter node: the ports an HCA device sends and receives on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { Fabric } from "./fabric.ts";
 * const fabric = new Fabric(new Engine());
 * const hca = fabric.addHca("host0", { receive() {} }, { ports: 2 });
 * assert.deepEqual([hca.ports.length, hca.port(2).guid - hca.nodeGuid], [2, 2n]);
 * ```
 */
export class HcaNode implements FabricNode {
  /** Always "hca". */
  readonly kind = "hca" as const;
  /** Ports 1..N. */
  ports: readonly Port[] = [];
  /** NodeInfo:PartitionCap: entries of each port's P_Key table ({@link CaAttachOptions.partitionCap}). */
  partitionCap = 64;

  /**
   * @param name node name
   * @param index order of addition
   * @param nodeGuid node GUID; port n's GUID is nodeGuid + n
   * @param endpoint the device
   */
  constructor(
    readonly name: string,
    readonly index: number,
    readonly nodeGuid: bigint,
    readonly endpoint: Endpoint,
  ) {}

  /** Port `n` (1-based). */
  port(n: number): Port {
    const p = this.ports[n - 1];
    if (!p) throw new RangeError(`HCA ${this.name} has no port ${n} (1..${this.ports.length})`);
    return p;
  }
}

/**
 * The fabric: build it, attach HCAs, add switches, connect ports; then run
 * a subnet manager to assign LIDs and bring ports ACTIVE.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { Fabric } from "./fabric.ts";
 * const fabric = new Fabric(new Engine(), { profile: PCIX_SDR_2006 });
 * const sw = fabric.addSwitch("sw0", { ports: 8 });
 * const a = fabric.addHca("a", { receive() {} });
 * fabric.connect(a.port(1), sw.port(1));
 * assert.deepEqual([a.port(1).state, a.port(1).activeMtu], ["INIT", 2048]);
 * ```
 */
export class Fabric {
  /** The engine. */
  readonly engine: Engine;
  /** Fault-injection draws. */
  readonly prng: Prng;
  /** Default link parameters and hop latency, if given. */
  readonly profile: Profile | undefined;
  /**
   * Run every step of every packet as its own engine event (default false).
   * Off, steps whose outcome nothing can change are computed instead of
   * scheduled (a credit return nobody waits for is counted when its port
   * next looks); the virtual times, bytes and counters are the same either
   * way, only the engine's event count and trace hash differ. On, for
   * tests that check that equivalence.
   */
  stepByStep: boolean;
  #nodes: (HcaNode | SwitchNode)[] = [];
  #links: Link[] = [];
  #rules: ActiveRule[] = [];
  #captures: Capture[] = [];

  /**
   * An empty fabric on `engine`: no nodes, no links.
   *
   * @param engine the cluster's engine
   * @param opts see {@link FabricOptions}
   */
  constructor(engine: Engine, opts: FabricOptions = {}) {
    this.engine = engine;
    this.prng = opts.prng ?? new Prng(0);
    this.profile = opts.profile;
    this.stepByStep = opts.stepByStep ?? false;
  }

  /**
   * Nodes in order of addition.
   *
   * @internal
   */
  get nodes(): readonly (HcaNode | SwitchNode)[] {
    return this.#nodes;
  }

  /** Links in order of connection. */
  get links(): readonly Link[] {
    return this.#links;
  }

  /**
   * Attach a channel adapter with `opts.ports` ports (all DOWN until connected).
   *
   * @internal
   */
  addHca(name: string, endpoint: Endpoint, opts: CaAttachOptions = {}): HcaNode {
    const index = this.#nodes.length;
    const node = new HcaNode(name, index, nodeGuid(index), endpoint);
    const wiring = {
      engine: this.engine,
      onTransmit: (p: Port, l: Link, w: WirePacket) => this.#onTransmit(p, l, w),
      quiet: () => this.#rules.length === 0 && this.#captures.length === 0,
      stepByStep: () => this.stepByStep,
      receive: endpoint.receiveWire
        ? (wire: WirePacket, port: Port) => endpoint.receiveWire!(wire, port)
        : (wire: WirePacket, port: Port) => endpoint.receive(wire.bytes, port),
      stateChanged: (port: Port, from: PortLinkState) => endpoint.portStateChanged?.(port, from),
      pkeysChanged: (port: Port) => endpoint.portPkeysChanged?.(port),
    };
    const n = opts.ports ?? 1;
    const ports: Port[] = [];
    for (let i = 1; i <= n; i++) {
      ports.push(
        new Port(
          node,
          i,
          node.nodeGuid + BigInt(i),
          opts.rxBufferBytes ?? DEFAULT_RX_BUFFER_BYTES,
          opts.maxMtu ?? 4096,
          wiring,
        ),
      );
    }
    node.ports = ports;
    if (opts.partitionCap !== undefined) node.partitionCap = opts.partitionCap;
    this.#nodes.push(node);
    return node;
  }

  /**
   * Add a switch with `opts.ports` external ports and an empty LFT.
   *
   * @internal
   */
  addSwitch(name: string, opts: SwitchOptions = {}): SwitchNode {
    const hopNs = opts.hopNs ?? this.profile?.link.switchHopNs;
    if (hopNs === undefined || !(hopNs >= 0)) {
      throw new RangeError(`addSwitch ${name}: give hopNs (>= 0) or a fabric profile`);
    }
    const index = this.#nodes.length;
    const sw = new SwitchNode(name, index, nodeGuid(index), hopNs);
    const wiring = {
      engine: this.engine,
      onTransmit: (p: Port, l: Link, w: WirePacket) => this.#onTransmit(p, l, w),
      quiet: () => this.#rules.length === 0 && this.#captures.length === 0,
      stepByStep: () => this.stepByStep,
      forward: sw.forward.bind(sw),
    };
    const ports: Port[] = [];
    for (let i = 1; i <= (opts.ports ?? 8); i++) {
      const p = new Port(
        sw,
        i,
        sw.nodeGuid,
        opts.rxBufferBytes ?? DEFAULT_RX_BUFFER_BYTES,
        4096,
        wiring,
      );
      p.cutThroughNs = hopNs;
      ports.push(p);
    }
    sw.ports = ports;
    this.#nodes.push(sw);
    return sw;
  }

  /**
   * Cable two ports together. Parameters not given come from the fabric's
   * profile. Both ports go to INIT (link up) and get the active MTU
   * min(link MTU, both ports' max MTU).
   * @throws RangeError if a port is already connected, the parameters are
   *   invalid, or a port's input buffer cannot hold one MTU packet
   */
  connect(a: Port, b: Port, params: Partial<LinkParams> = {}): Link {
    if (a === b) throw new RangeError(`connect: ${a.name} to itself`);
    for (const p of [a, b]) {
      if (p.link) throw new RangeError(`connect: port ${p.name} is already connected`);
    }
    const base = this.profile ? linkParamsFromProfile(this.profile) : undefined;
    const full = { ...base, ...params } as LinkParams;
    for (
      const k of ["width", "laneSignalBytesPerSec", "encodingEfficiency", "mtu", "propagationNs"]
    ) {
      if ((full as unknown as Record<string, unknown>)[k] === undefined) {
        throw new RangeError(
          `connect ${a.name}--${b.name}: link parameter '${k}' missing (no profile)`,
        );
      }
    }
    validateLinkParams(full);
    // Largest packet: MTU payload + the longest header set (LRH+GRH+BTH+ETHs+ICRC+VCRC).
    const maxPacket = full.mtu + 126;
    for (const p of [a, b]) {
      if (p.bufferCredits < creditsFor(maxPacket)) {
        throw new RangeError(
          `connect: port ${p.name}'s ${p.rxBufferBytes}-byte input buffer cannot hold one ${maxPacket}-byte packet`,
        );
      }
    }
    const link = new Link(`${a.name}--${b.name}`, a, b, Object.freeze(full));
    a.attach(link, b.bufferCredits);
    b.attach(link, a.bufferCredits);
    this.#links.push(link);
    return link;
  }

  /**
   * All HCA nodes.
   *
   * @internal
   */
  hcas(): HcaNode[] {
    return this.#nodes.filter((n): n is HcaNode => n.kind === "hca");
  }

  /** All switches. */
  switches(): SwitchNode[] {
    return this.#nodes.filter((n): n is SwitchNode => n.kind === "switch");
  }

  /** The port whose LID is `lid` (an HCA port or a switch's port 0 → undefined), if any. */
  portByLid(lid: number): Port | undefined {
    for (const n of this.#nodes) {
      if (n.kind !== "hca") continue;
      for (const p of n.ports) if (p.lid !== 0 && lid >> p.lmc === p.lid >> p.lmc) return p;
    }
    return undefined;
  }

  /**
   * Add a fault rule; returns a function that removes it.
   * @throws RangeError on a probability outside 0..1 or a delay rule without delayNs
   */
  addFault(rule: FaultRule): () => void {
    if (!(rule.probability >= 0 && rule.probability <= 1)) {
      throw new RangeError(`fault probability ${rule.probability} must be in [0, 1]`);
    }
    if (rule.kind === "delay" && !(rule.delayNs !== undefined && rule.delayNs >= 0)) {
      throw new RangeError("a delay fault needs delayNs >= 0");
    }
    const active = { rule, fired: 0 };
    this.#rules.push(active);
    return () => {
      const i = this.#rules.indexOf(active);
      if (i >= 0) this.#rules.splice(i, 1);
    };
  }

  /** Remove every fault rule. */
  clearFaults(): void {
    this.#rules = [];
  }

  /**
   * Call `hook` for every packet put on a wire (matching `filter`), at the
   * instant its first bit leaves; returns a function that removes the hook.
   */
  addCapture(hook: (rec: CaptureRecord) => void, filter: CaptureFilter = {}): () => void {
    const c = { hook, filter };
    this.#captures.push(c);
    return () => {
      const i = this.#captures.indexOf(c);
      if (i >= 0) this.#captures.splice(i, 1);
    };
  }

  /**
   * Capture into a pcap writer (see `pcap.ts`): `fabric.capturePcap()` then
   * `Deno.writeFile(path, writer.bytes())`. Remove with the returned `stop`.
   */
  capturePcap(
    filter: CaptureFilter = {},
    opts: PcapOptions = {},
  ): { writer: PcapWriter; stop: () => void } {
    const writer = new PcapWriter(opts);
    const stop = this.addCapture((r) => writer.add(r), filter);
    return { writer, stop };
  }

  #onTransmit(from: Port, link: Link, wire: WirePacket): Fate {
    const to = link.peer(from);
    for (const c of this.#captures) {
      const f = c.filter;
      if (f.link && f.link !== link) continue;
      if (f.port && f.port !== from && f.port !== to) continue;
      c.hook({ timeNs: this.engine.now, bytes: wire.bytes, from, to, link });
    }
    for (const a of this.#rules) {
      const r = a.rule;
      if (r.link && r.link !== link) continue;
      if (r.from && r.from !== from) continue;
      if (r.dlid !== undefined && wire.dlid !== r.dlid) continue;
      if (r.opcode !== undefined && wire.opcode !== r.opcode) continue;
      if (r.limit !== undefined && a.fired >= r.limit) continue;
      if (!this.prng.chance(r.probability)) continue;
      a.fired++;
      switch (r.kind) {
        case "drop":
          return { kind: "drop" };
        case "duplicate":
          return { kind: "duplicate" };
        case "delay":
          return { kind: "delay", delayNs: r.delayNs ?? 0 };
        case "corrupt": {
          const copy = wire.bytes.slice();
          const bit = this.prng.int(copy.length * 8);
          copy[bit >>> 3] ^= 1 << (bit & 7);
          return { kind: "corrupt", bytes: copy };
        }
      }
    }
    return { kind: "deliver" };
  }
}
