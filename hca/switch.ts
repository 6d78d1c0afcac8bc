/**
 * An IBA switch: linear forwarding table (LID → output port, IBTA §18.2.4.3),
 * cut-through forwarding after a fixed hop latency, and an output queue per
 * port. A packet holds its input-port credits until its tail has left the
 * output port, so a blocked output backs up into the upstream links
 * (lossless, IBTA §7.9) rather than losing packets.
 *
 * Multicast LIDs (0xC000–0xFFFE) go by the multicast forwarding table
 * (IBTA §18.2.4.3.2, MulticastForwardingTable §14.2.5.12): a port set per
 * MLID that the subnet manager programs when ports join and leave a group.
 * The switch sends a copy out every port of the set except the one it came
 * in by, and frees the input buffer when the last copy has left.
 *
 * @module
 */

import { PERMISSIVE_LID } from "./packet.ts";
import type { BufferedPacket, FabricNode, Port } from "./port.ts";

/**
 * Entries of the linear forwarding table: unicast LIDs 0x0000–0xBFFF (IBTA §4.1.3).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LFT_SIZE } from "./switch.ts";
 * assert.equal((LFT_SIZE - 1).toString(16), "bfff"); // the highest unicast LID
 * ```
 */
export const LFT_SIZE = 0xc000;
/**
 * LFT entry meaning "no route" (IBTA §14.2.5.10: 255 = invalid port).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { Fabric } from "./fabric.ts";
 * import { LFT_NO_ROUTE } from "./switch.ts";
 * const sw = new Fabric(new Engine()).addSwitch("sw", { ports: 2, hopNs: 50 });
 * assert.deepEqual([LFT_NO_ROUTE, sw.route(9)], [255, undefined]); // packets to LID 9 are dropped
 * ```
 */
export const LFT_NO_ROUTE = 0xff;

/**
 * Switch counters beyond its ports'.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { SwitchCounters } from "./switch.ts";
 * const lossRate = (c: SwitchCounters) => c.unknownDlidDrops / Math.max(1, c.forwarded + c.unknownDlidDrops);
 * assert.equal(lossRate({ unknownDlidDrops: 1, toSwitchLid: 0, forwarded: 99 }), 0.01);
 * ```
 */
export interface SwitchCounters {
  /** Packets dropped because the LFT had no valid port for the DLID. */
  unknownDlidDrops: number;
  /**
   * Data packets addressed to the switch's own LID or to the permissive LID (its management
   * port's; its SMA is not modelled): dropped.
   */
  toSwitchLid: number;
  /** Packets forwarded. */
  forwarded: number;
}

/**
 * A switch node. Create with `Fabric.addSwitch`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { Fabric } from "./fabric.ts";
 * const fabric = new Fabric(new Engine());
 * const sw = fabric.addSwitch("sw", { ports: 4, hopNs: 200 });
 * sw.setRoute(5, 2);
 * assert.deepEqual([sw.route(5), sw.route(6)], [2, undefined]);
 * ```
 */
export class SwitchNode implements FabricNode {
  /** Always "switch". */
  readonly kind = "switch" as const;
  /** External ports 1..N. */
  ports: readonly Port[] = [];
  /** The switch's own LID (management port 0), set by the SM. */
  lid = 0;
  /** Counters. */
  readonly counters: SwitchCounters = { unknownDlidDrops: 0, toSwitchLid: 0, forwarded: 0 };
  #lft = new Uint8Array(LFT_SIZE).fill(LFT_NO_ROUTE);
  #mft = new Map<number, readonly number[]>();

  /**
   * A switch of the fabric (built by `Fabric.addSwitch`).
   *
   * @param name node name
   * @param index order of addition
   * @param nodeGuid node GUID (switch ports share it, IBTA §14.2.5.3)
   * @param hopNs cut-through latency, first bit in to routing decision
   */
  constructor(
    readonly name: string,
    readonly index: number,
    readonly nodeGuid: bigint,
    readonly hopNs: number,
  ) {}

  /** Port `n` (1-based). */
  port(n: number): Port {
    const p = this.ports[n - 1];
    if (!p) throw new RangeError(`switch ${this.name} has no port ${n} (1..${this.ports.length})`);
    return p;
  }

  /** Program one LFT entry: packets for `lid` leave by `portNum` (0 = the switch itself). */
  setRoute(lid: number, portNum: number): void {
    if (!(lid >= 1 && lid < LFT_SIZE)) throw new RangeError(`LFT: LID ${lid} is not unicast`);
    if (!(portNum >= 0 && portNum <= this.ports.length)) {
      throw new RangeError(`LFT: switch ${this.name} has no port ${portNum}`);
    }
    this.#lft[lid] = portNum;
  }

  /** The output port for `lid`, or undefined if the LFT has no route. */
  route(lid: number): number | undefined {
    const v = lid < LFT_SIZE ? this.#lft[lid] : LFT_NO_ROUTE;
    return v === LFT_NO_ROUTE ? undefined : v;
  }

  /**
   * Program the multicast forwarding table entry of `mlid`: the output ports
   * of its group (empty: no entry).
   */
  setMulticastPorts(mlid: number, ports: readonly number[]): void {
    if (!(mlid >= LFT_SIZE && mlid <= 0xfffe)) {
      throw new RangeError(`MFT: LID ${mlid} is not a multicast LID (0xC000..0xFFFE)`);
    }
    for (const p of ports) {
      if (!(Number.isInteger(p) && p >= 1 && p <= this.ports.length)) {
        throw new RangeError(`MFT: switch ${this.name} has no port ${p}`);
      }
    }
    if (ports.length === 0) this.#mft.delete(mlid);
    else this.#mft.set(mlid, [...new Set(ports)].sort((a, b) => a - b));
  }

  /** The output ports of `mlid` (empty if the MFT has no entry). */
  multicastPorts(mlid: number): readonly number[] {
    return this.#mft.get(mlid) ?? [];
  }

  /** Clear the whole LFT. */
  clearRoutes(): void {
    this.#lft.fill(LFT_NO_ROUTE);
  }

  /** @internal Route a packet that entered by `inPort` (called at the cut-through instant). */
  forward(inPort: Port, pkt: BufferedPacket, lastBitNs: number): void {
    const dlid = pkt.wire.dlid;
    // The switch's own LID, and the permissive LID 0xFFFF, which every port takes as its own
    // (IBTA vol 1 §4.1.3; directed-route SMPs, §14.2.2, reach each switch's SMI by it): both
    // are for the management port, whose SMA is not modelled and which takes no data packet
    // (the permissive LID is QP0's alone, §9.6.1.4.1, as Linux qib/hfi1 `*_ud_rcv` check it).
    // Not a relay error: the relay did not fail to map the DLID.
    if (dlid === PERMISSIVE_LID || (this.lid !== 0 && dlid === this.lid)) {
      this.counters.toSwitchLid++;
      inPort.release(pkt);
      return;
    }
    if (dlid >= LFT_SIZE) return this.#replicate(inPort, pkt, dlid, lastBitNs);
    // The reserved LID 0 (§4.1.3) has no LFT entry (setRoute refuses it): a relay error.
    const out = this.#lft[dlid];
    const outPort = out === LFT_NO_ROUTE || out === 0 ? undefined : this.ports[out - 1];
    if (!outPort || !outPort.link) {
      // IBTA §18.2.4.3: no valid LFT entry — discard, count PortRcvSwitchRelayErrors.
      inPort.counters.rcvSwitchRelayErrors++;
      this.counters.unknownDlidDrops++;
      inPort.release(pkt);
      return;
    }
    this.counters.forwarded++;
    outPort.enqueue(pkt.wire, lastBitNs, inPort, pkt);
  }

  /** A multicast packet: a copy out of every MFT port but the input (IBTA §18.2.4.3.2). */
  #replicate(inPort: Port, pkt: BufferedPacket, mlid: number, lastBitNs: number): void {
    const entry = this.#mft.get(mlid);
    const outs: Port[] = [];
    for (const n of entry ?? []) {
      const p = this.ports[n - 1];
      if (p && p !== inPort && p.link) outs.push(p);
    }
    if (outs.length === 0) {
      // No MFT entry: as an unknown unicast DLID. An entry whose only port is the input: no
      // other member, nothing to do.
      if (!entry) {
        inPort.counters.rcvSwitchRelayErrors++;
        this.counters.unknownDlidDrops++;
      }
      inPort.release(pkt);
      return;
    }
    this.counters.forwarded++;
    let left = outs.length;
    const done = () => {
      if (--left === 0) inPort.release(pkt);
    };
    // Several copies of one packet: no receiver may give its payload back (WirePacket.release).
    if (outs.length > 1) pkt.wire.shared();
    for (const p of outs) p.enqueue(pkt.wire, lastBitNs, done);
  }
}
