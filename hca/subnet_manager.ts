/**
 * A subnet manager (IBTA vol. 1 ch. 14): sweeps the fabric from the port it
 * runs on, assigns LIDs, programs every switch's linear forwarding table and
 * brings ports INIT → ARMED → ACTIVE. In the cluster it runs on a host —
 * dom0 or a bare-metal OS — as software, so {@link SubnetManager.sweep} is
 * a process that spends virtual time.
 *
 * The SM does not put MADs on the wire (QP0 is not modelled); it reads and
 * writes the fabric's objects directly and charges, for every SMP it would
 * send, the directed-route round trip to the target node:
 *
 *   smpNs = smProcessNs + 2 × oneWay(target) + smaProcessNs
 *
 * - `oneWay(target)`: profile-derived — over each link of the BFS path, the
 *   serialization of a {@link SMP_WIRE_BYTES}-byte SMP plus propagation,
 *   plus the hop latency of each switch passed through.
 * - `smaProcessNs` ({@link SMA_PROCESS_NS}): firmware subnet management
 *   agent turnaround per SMP, profile-independent.
 * - `smProcessNs` ({@link SM_PROCESS_NS}): the SM's own per-SMP software
 *   cost (build, umad send, receive, parse), profile-independent.
 *
 * SMPs are sent one at a time, in sweep order: discovery (NodeInfo,
 * SwitchInfo, PortInfo per port), LID assignment (PortInfo Set per HCA port
 * and switch), forwarding tables (LinearForwardingTable Set per 64-LID
 * block per switch), then PortInfo Set ARMED for every link-up port, then
 * ACTIVE for every one (IBTA §14.2.5.6; OpenSM arms all before activating).
 *
 * LIDs are handed out 1, 2, … in discovery order (breadth-first from the
 * SM's node, ports in port-number order); a port that already has a LID
 * keeps it on a re-sweep. Switches get one LID (their port 0). A port with
 * `lmc` > 0 gets a block of 2^lmc LIDs whose base has its low lmc bits 0
 * (IBTA §7.11.1), every LID of it routed. LIDs stay in the unicast range
 * 0x0001–0xBFFF (§4.1.3): past 0xBFFF the lowest free block is taken, and
 * a sweep with no block left throws a RangeError.
 *
 * Multicast (IBTA §15.2.5.17 MCMemberRecord, §4.1.1 multicast LIDs): a port
 * joins a group by its MGID through the SA (here: {@link SubnetManager.joinMulticast});
 * the first join creates the group and assigns it the lowest free MLID in
 * 0xC000–0xFFFE, as OpenSM does. After every change of a group's members
 * the SM sets, in every switch, the MulticastForwardingTable entry of the
 * MLID (§14.2.5.12) to the ports on the shortest paths toward the members,
 * so that a packet to the MLID reaches every member port once. When the
 * last member leaves, the entries are cleared and the MLID is free again.
 * A join costs one SA round trip (charged as an SMP to the member's node)
 * plus one MulticastForwardingTable Set per switch; the same estimates as
 * the sweep's SMPs.
 *
 * Partitions (IBTA vol 1 §10.9; the SM's partition manager): every CA port's
 * P_Key table holds the default P_Key 0xFFFF at index 0 and, after it, the
 * P_Keys {@link SubnetManager.setPkeys} assigned the port, in that order (as
 * OpenSM's partitions.conf lists a port's partitions). The sweep sends a
 * P_KeyTable Set (§14.2.5.7, 32 entries a block) for each block that differs
 * from what the port holds, after the forwarding tables and before the port
 * states, as OpenSM's pkey manager sends only the blocks it changes; a port
 * left with the power-on table costs no SMP.
 *
 * @module
 */

import type { Fabric, HcaNode } from "./fabric.ts";
import { serializationNs } from "./link.ts";
import type { FabricNode, Port } from "./port.ts";
import type { SwitchNode } from "./switch.ts";
import { isMulticastGid, MCAST_LID_BASE, MCAST_LID_LAST } from "./mcg.ts";
import { DEFAULT_PKEY, partitionTable, PKEY_BLOCK } from "./pkey.ts";

/** The highest unicast LID (IBTA vol. 1 §4.1.3: 0xC000 and up are multicast). */
const UNICAST_LID_LAST = 0xbfff;

/**
 * PortInfo:SubnetTimeOut the SM sets on every CA port: OpenSM's default `subnet_timeout`
 * (osm_base.h OSM_DEFAULT_SUBNET_TIMEOUT 0x12, 4.096 µs × 2^18 ≈ 1 s).
 */
const SUBNET_TIMEOUT = 18;

/**
 * Wire bytes of a directed-route SMP: LRH 8 + BTH 12 + DETH 8 + MAD 256 +
 * ICRC 4 + VCRC 2 (IBTA §13.4, §14.2.1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SMP_WIRE_BYTES } from "./subnet_manager.ts";
 * assert.equal(SMP_WIRE_BYTES - 256, 34); // bytes of headers and CRCs around the 256-byte MAD
 * ```
 */
export const SMP_WIRE_BYTES = 290;
/**
 * Firmware SMA turnaround per SMP, ns. Estimate: HCA and switch firmware
 * answer a MAD in a few µs (single-SMP ibquery round trips on InfiniHost-era
 * hardware are on the order of 10 µs including the host side).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SM_PROCESS_NS, SMA_PROCESS_NS } from "./subnet_manager.ts";
 * // One SMP on a direct cable (10 ns each way) costs about this much:
 * assert.equal(SM_PROCESS_NS + 2 * 10 + SMA_PROCESS_NS, 6020);
 * ```
 */
export const SMA_PROCESS_NS = 4_000;
/**
 * SM software per SMP (build, send through umad, receive, parse), ns. Estimate.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { Fabric } from "./fabric.ts";
 * import { SM_PROCESS_NS, SubnetManager } from "./subnet_manager.ts";
 * const sweepNs = async (smProcessNs: number) => {
 *   const engine = new Engine();
 *   const fabric = new Fabric(engine, { profile: PCIX_SDR_2006 });
 *   const a = fabric.addHca("a", { receive() {} }), b = fabric.addHca("b", { receive() {} });
 *   fabric.connect(a.port(1), b.port(1));
 *   return (await engine.run(() => new SubnetManager(fabric, { smProcessNs }).sweep())).durationNs;
 * };
 * // A faster SM host shortens the sweep by the SM time of every SMP it sends.
 * const slow = await sweepNs(SM_PROCESS_NS), fast = await sweepNs(SM_PROCESS_NS / 2);
 * assert.ok(fast < slow);
 * assert.equal((slow - fast) % (SM_PROCESS_NS / 2), 0);
 * ```
 */
export const SM_PROCESS_NS = 2_000;
/**
 * LIDs per LinearForwardingTable block (IBTA §14.2.5.10).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LFT_BLOCK_LIDS } from "./subnet_manager.ts";
 * // LinearForwardingTable SMPs a switch needs for LIDs 1..130:
 * assert.equal(Math.floor(130 / LFT_BLOCK_LIDS) + 1, 3);
 * ```
 */
export const LFT_BLOCK_LIDS = 64;

/**
 * Options for {@link SubnetManager}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { Fabric } from "./fabric.ts";
 * import { SubnetManager, type SubnetManagerOptions } from "./subnet_manager.ts";
 * const fabric = new Fabric(new Engine(), { profile: PCIX_SDR_2006 });
 * const a = fabric.addHca("a", { receive() {} }), b = fabric.addHca("b", { receive() {} });
 * fabric.connect(a.port(1), b.port(1));
 * const fromB: SubnetManagerOptions = { home: b.port(1) };
 * new SubnetManager(fabric, fromB).sweepNow();
 * assert.deepEqual([b.port(1).lid, a.port(1).lid], [1, 2]); // LIDs in discovery order from the SM's port
 * ```
 */
export interface SubnetManagerOptions {
  /** The HCA port the SM sends from (default: the first connected HCA port). */
  home?: Port;
  /** Firmware SMA time per SMP (default {@link SMA_PROCESS_NS}). */
  smaProcessNs?: number;
  /** SM software time per SMP (default {@link SM_PROCESS_NS}). */
  smProcessNs?: number;
}

/**
 * What a sweep did.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { Fabric } from "./fabric.ts";
 * import { SubnetManager, type SweepResult } from "./subnet_manager.ts";
 * const fabric = new Fabric(new Engine(), { profile: PCIX_SDR_2006 });
 * const a = fabric.addHca("a", { receive() {} }), b = fabric.addHca("b", { receive() {} });
 * fabric.addHca("loner", { receive() {} }); // never cabled
 * fabric.connect(a.port(1), b.port(1));
 * const r: SweepResult = new SubnetManager(fabric).sweepNow();
 * assert.deepEqual([r.lids.size, r.unreachable.map((n) => n.name)], [2, [ "loner" ]]);
 * ```
 */
export interface SweepResult {
  /** LID of every reached HCA port (by `port.name`) and switch (by node name). */
  lids: Map<string, number>;
  /** SMPs the sweep would have sent. */
  smps: number;
  /** Virtual time the sweep took (0 for {@link SubnetManager.sweepNow}). */
  durationNs: number;
  /** Nodes not reachable from the SM's port (their ports stay as they were). */
  unreachable: FabricNode[];
}

/**
 * A multicast group as the SM holds it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MulticastGroup } from "./subnet_manager.ts";
 * const g: MulticastGroup = { mgid: new Uint8Array(16).fill(0xff), mlid: 0xc000, members: [] };
 * assert.equal(g.mlid.toString(16), "c000");
 * ```
 */
export interface MulticastGroup {
  /** The MGID. */
  mgid: Uint8Array;
  /** The MLID the SM assigned. */
  mlid: number;
  /** Member ports (FullMember), in join order. */
  members: Port[];
}

function gidKey(g: Uint8Array): string {
  return Array.from(g, (b) => b.toString(16).padStart(2, "0")).join("");
}

interface Reach {
  node: HcaNode | SwitchNode;
  oneWayNs: number;
}

interface Step {
  target: Reach;
  apply?: () => void;
}

/**
 * The subnet manager.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { Fabric } from "./fabric.ts";
 * import { SubnetManager } from "./subnet_manager.ts";
 * const engine = new Engine();
 * const fabric = new Fabric(engine, { profile: PCIX_SDR_2006 });
 * const sw = fabric.addSwitch("sw", { ports: 4 });
 * const a = fabric.addHca("a", { receive() {} });
 * const b = fabric.addHca("b", { receive() {} });
 * fabric.connect(a.port(1), sw.port(1));
 * fabric.connect(b.port(1), sw.port(2));
 * const r = await engine.run(() => new SubnetManager(fabric).sweep());
 * assert.deepEqual([a.port(1).lid, sw.lid, b.port(1).lid, b.port(1).state], [1, 2, 3, "ACTIVE"]);
 * assert.equal(r.durationNs > 0, true);
 * ```
 */
export class SubnetManager {
  readonly #fabric: Fabric;
  readonly #opts: SubnetManagerOptions;
  #groups = new Map<string, MulticastGroup>();
  /** The P_Keys assigned each port after the default one (the partition configuration). */
  #pkeys = new Map<Port, number[]>();

  /**
   * The subnet manager of `fabric` (before its first sweep).
   *
   * @param fabric the subnet
   * @param opts see {@link SubnetManagerOptions}
   */
  constructor(fabric: Fabric, opts: SubnetManagerOptions = {}) {
    this.#fabric = fabric;
    this.#opts = opts;
  }

  /** The port the SM sends from. */
  get home(): Port {
    if (this.#opts.home) return this.#opts.home;
    for (const h of this.#fabric.hcas()) {
      for (const p of h.ports) if (p.link) return p;
    }
    throw new Error("SubnetManager: no connected HCA port to run from");
  }

  /**
   * Sweep and configure the subnet, spending the SMPs' time. Call from an
   * engine process (it awaits `engine.sleep`).
   */
  async sweep(): Promise<SweepResult> {
    const { steps, result } = this.#plan();
    const engine = this.#fabric.engine;
    const start = engine.now;
    const sma = this.#opts.smaProcessNs ?? SMA_PROCESS_NS;
    const sm = this.#opts.smProcessNs ?? SM_PROCESS_NS;
    for (const s of steps) {
      await engine.sleep(sm + 2 * s.target.oneWayNs + sma);
      s.apply?.();
    }
    result.durationNs = engine.now - start;
    return result;
  }

  /** The same configuration at once, spending no time (for tests of other parts). */
  sweepNow(): SweepResult {
    const { steps, result } = this.#plan();
    for (const s of steps) s.apply?.();
    return result;
  }

  /**
   * Assign `port` the partitions `pkeys` (16-bit P_Keys, the membership bit set for a full
   * member): its table becomes 0xFFFF at index 0, then these in order; the next sweep sets it.
   * An empty list leaves the default partition only. Throws a RangeError for a port that is not
   * a CA's, or a list {@link partitionTable} refuses (a bad or repeated P_Key, 0xFFFF, more
   * entries than the node's PartitionCap).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Engine } from "../sim/engine.ts";
   * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
   * import { Fabric } from "./fabric.ts";
   * import { SubnetManager } from "./subnet_manager.ts";
   * const fabric = new Fabric(new Engine(), { profile: PCIX_SDR_2006 });
   * const a = fabric.addHca("a", { receive() {} }), b = fabric.addHca("b", { receive() {} });
   * fabric.connect(a.port(1), b.port(1));
   * const sm = new SubnetManager(fabric);
   * sm.sweepNow(); // LIDs, forwarding, ports ACTIVE
   * const plain = sm.sweepNow().smps; // a re-sweep: discovery and the LIDs kept
   * sm.setPkeys(b.port(1), [0x8001, 0x0002]);
   * assert.equal(sm.sweepNow().smps, plain + 1); // one P_KeyTable block changed
   * assert.deepEqual(b.port(1).pkeys, [0xffff, 0x8001, 0x0002]);
   * assert.equal(sm.sweepNow().smps, plain); // nothing left to change
   * assert.throws(() => sm.setPkeys(a.port(1), [0xffff]), /0xffff is index 0's already/);
   * ```
   */
  setPkeys(port: Port, pkeys: readonly number[]): void {
    const node = port?.node;
    if (!node || node.kind !== "hca") {
      throw new RangeError("SubnetManager.setPkeys: not a channel adapter's port");
    }
    const cap = (node as HcaNode).partitionCap;
    this.#pkeys.set(port, partitionTable(pkeys ?? [], cap, `${port.name} P_Key table`));
  }

  /** The table the SM sets on `port`: 0xFFFF at index 0, then what {@link setPkeys} assigned. */
  pkeysOf(port: Port): number[] {
    return [...(this.#pkeys.get(port) ?? [DEFAULT_PKEY])];
  }

  /**
   * SA MCMemberRecord Set (JoinState FullMember) for `port`: creates the
   * group on first join (lowest free MLID), makes `port` a member, programs
   * every switch's MFT entry. Spends the SA round trip and one MFT SMP per
   * switch. Returns the MLID. Errors (a non-multicast MGID, no MLID left)
   * are thrown as RangeError, as the SA answers with an error status.
   */
  async joinMulticast(mgid: Uint8Array, port: Port): Promise<number> {
    const { mlid, smps } = this.#join(mgid, port);
    await this.#spend(port, smps);
    return mlid;
  }

  /** {@link joinMulticast} at once, spending no time (setup and tests of other parts). */
  joinMulticastNow(mgid: Uint8Array, port: Port): number {
    return this.#join(mgid, port).mlid;
  }

  /**
   * SA MCMemberRecord Delete for `port`: it leaves the group; the MFT
   * entries follow; the last member's leave deletes the group and frees its
   * MLID. Leaving a group one is not in does nothing (false).
   */
  async leaveMulticast(mgid: Uint8Array, port: Port): Promise<boolean> {
    const r = this.#leave(mgid, port);
    await this.#spend(port, r.smps);
    return r.left;
  }

  /** {@link leaveMulticast} at once. */
  leaveMulticastNow(mgid: Uint8Array, port: Port): boolean {
    return this.#leave(mgid, port).left;
  }

  /** The group of `mgid`, if it exists (a copy). */
  multicastGroup(mgid: Uint8Array): MulticastGroup | undefined {
    const g = this.#groups.get(gidKey(mgid));
    return g && { mgid: g.mgid.slice(), mlid: g.mlid, members: [...g.members] };
  }

  /** Every group, by MLID. */
  get multicastGroups(): MulticastGroup[] {
    return [...this.#groups.values()].sort((a, b) => a.mlid - b.mlid)
      .map((g) => ({ mgid: g.mgid.slice(), mlid: g.mlid, members: [...g.members] }));
  }

  #join(mgid: Uint8Array, port: Port): { mlid: number; smps: number } {
    if (!(mgid instanceof Uint8Array) || !isMulticastGid(mgid)) {
      throw new RangeError("SA MCMemberRecord: MGID must be 16 bytes starting with 0xFF");
    }
    const key = gidKey(mgid);
    let g = this.#groups.get(key);
    if (!g) {
      const used = new Set([...this.#groups.values()].map((x) => x.mlid));
      let mlid = MCAST_LID_BASE;
      while (mlid <= MCAST_LID_LAST && used.has(mlid)) mlid++;
      if (mlid > MCAST_LID_LAST) throw new RangeError("SA MCMemberRecord: no multicast LID left");
      g = { mgid: mgid.slice(), mlid, members: [] };
      this.#groups.set(key, g);
    }
    if (g.members.includes(port)) return { mlid: g.mlid, smps: 1 };
    g.members.push(port);
    return { mlid: g.mlid, smps: 1 + this.#program(g) };
  }

  #leave(mgid: Uint8Array, port: Port): { left: boolean; smps: number } {
    const g = mgid instanceof Uint8Array ? this.#groups.get(gidKey(mgid)) : undefined;
    const i = g ? g.members.indexOf(port) : -1;
    if (!g || i < 0) return { left: false, smps: 1 };
    g.members.splice(i, 1);
    const smps = 1 + this.#program(g);
    if (g.members.length === 0) this.#groups.delete(gidKey(g.mgid));
    return { left: true, smps };
  }

  /** Set every switch's MFT entry of `g`; returns the MFT SMPs it took. */
  #program(g: MulticastGroup): number {
    const { order, reach } = this.#discover(this.home);
    let smps = 0;
    for (const r of order) {
      if (r.node.kind !== "switch") continue;
      const sw = r.node as SwitchNode;
      const routes = routesFrom(sw, reach);
      const ports = new Set<number>();
      for (const m of g.members) {
        const out = routeToPort(sw, m, routes);
        if (out !== undefined) ports.add(out);
      }
      sw.setMulticastPorts(g.mlid, [...ports]);
      smps++;
    }
    return smps;
  }

  /** Spend `smps` management round trips to `port`'s node. */
  async #spend(port: Port, smps: number): Promise<void> {
    const { reach } = this.#discover(this.home);
    const oneWay = reach.get(port.node)?.oneWayNs ?? 0;
    const sma = this.#opts.smaProcessNs ?? SMA_PROCESS_NS;
    const sm = this.#opts.smProcessNs ?? SM_PROCESS_NS;
    await this.#fabric.engine.sleep(smps * (sm + 2 * oneWay + sma));
  }

  /** Breadth-first discovery from `home`'s node (directed route). */
  #discover(home: Port): { order: Reach[]; reach: Map<FabricNode, Reach> } {
    const reach = new Map<FabricNode, Reach>();
    const order: Reach[] = [];
    const first: Reach = { node: home.node as HcaNode | SwitchNode, oneWayNs: 0 };
    reach.set(first.node, first);
    order.push(first);
    for (let i = 0; i < order.length; i++) {
      const r = order[i];
      for (const p of r.node.ports) {
        if (!p.link) continue;
        const peer = p.link.peer(p);
        if (reach.has(peer.node)) continue;
        // Only switches relay SMPs onward; a CA is a leaf unless it is the SM's own node.
        if (r.node.kind === "hca" && r !== first) continue;
        const hop = r.node.kind === "switch" ? (r.node as SwitchNode).hopNs : 0;
        const next: Reach = {
          node: peer.node as HcaNode | SwitchNode,
          oneWayNs: r.oneWayNs + hop + serializationNs(SMP_WIRE_BYTES, p.link.params) +
            p.link.params.propagationNs,
        };
        reach.set(next.node, next);
        order.push(next);
      }
    }
    return { order, reach };
  }

  #plan(): { steps: Step[]; result: SweepResult } {
    const fabric = this.#fabric;
    const home = this.home;
    const steps: Step[] = [];

    // 1. Discovery: NodeInfo (and SwitchInfo) and PortInfo per port of every node reached.
    const { order, reach } = this.#discover(home);
    for (const r of order) {
      steps.push({ target: r }); // NodeInfo
      if (r.node.kind === "switch") steps.push({ target: r }); // SwitchInfo
      for (const _ of r.node.ports) steps.push({ target: r }); // PortInfo
    }

    // 2. LIDs: keep what ports have, hand out the rest in discovery order.
    // IBTA vol. 1 §4.1.3: unicast LIDs are 0x0001–0xBFFF; a CA port with LMC
    // answers 2^LMC LIDs from a base whose low LMC bits are 0 (§7.11.1), so
    // the SM hands it an aligned block (OpenSM's osm_lid_mgr does the same).
    // Switch port 0 answers one LID.
    const used = new Set<number>();
    const span = (lmc: number) => 1 << lmc;
    let nextLid = 1;
    const note = (base: number, n: number) => {
      for (let l = base; l < base + n; l++) used.add(l);
      nextLid = Math.max(nextLid, base + n);
    };
    for (const r of order) {
      if (r.node.kind === "switch") {
        const lid = (r.node as SwitchNode).lid;
        if (lid) note(lid, 1);
      } else for (const p of r.node.ports) if (p.lid) note(p.lid, span(p.lmc));
    }
    const allocate = (n: number): number => {
      const free = (b: number) => {
        if (b + n - 1 > UNICAST_LID_LAST) return false;
        for (let l = b; l < b + n; l++) if (used.has(l)) return false;
        return true;
      };
      // After the highest LID in use, else the lowest free aligned block.
      let base = Math.ceil(nextLid / n) * n;
      if (!free(base)) {
        base = n;
        while (base <= UNICAST_LID_LAST && !free(base)) base += n;
      }
      if (base > UNICAST_LID_LAST) {
        throw new RangeError(
          `SubnetManager: no free block of ${n} unicast LIDs left in 0x0001-0xBFFF`,
        );
      }
      note(base, n);
      return base;
    };
    const lids = new Map<string, number>();
    const lidOf = new Map<Port | SwitchNode, number>();
    for (const r of order) {
      if (r.node.kind === "switch") {
        const sw = r.node as SwitchNode;
        const lid = sw.lid || allocate(1);
        lids.set(sw.name, lid);
        lidOf.set(sw, lid);
        steps.push({ target: r, apply: () => (sw.lid = lid) });
      } else {
        for (const p of r.node.ports) {
          if (!p.link) continue;
          const lid = p.lid || allocate(span(p.lmc));
          lids.set(p.name, lid);
          lidOf.set(p, lid);
          // The same PortInfo Set carries SubnetTimeOut (OpenSM's osm_lid_mgr.c
          // lid_mgr_set_physp_pi sets it with the LID, from its subnet_timeout option).
          steps.push({
            target: r,
            apply: () => {
              p.lid = lid;
              p.subnetTimeout = SUBNET_TIMEOUT;
            },
          });
        }
      }
    }
    const maxLid = nextLid - 1;
    // PortInfo:MasterSMLID tells every CA port where its SM is (IBTA §14.2.5.6).
    const smLid = lidOf.get(home) ?? 0;
    for (const r of order) {
      if (r.node.kind === "switch") continue;
      for (const p of r.node.ports) {
        if (p.link) steps.push({ target: r, apply: () => (p.smLid = smLid) });
      }
    }

    // 3. Forwarding tables: shortest path, ties to the lowest port number.
    for (const r of order) {
      if (r.node.kind !== "switch") continue;
      const sw = r.node as SwitchNode;
      const routes = routesFrom(sw, reach);
      const table: [number, number][] = [];
      for (const [dest, lid] of lidOf) {
        if (dest === sw) table.push([lid, 0]);
        else {
          const out = "portNum" in dest ? routeToPort(sw, dest, routes) : routes.get(dest);
          // Every LID of a port's LMC block is routed, here all on one path (OpenSM
          // spreads them over paths when there are several; one path stays correct).
          const n = "portNum" in dest ? span(dest.lmc) : 1;
          if (out !== undefined) { for (let i = 0; i < n; i++) table.push([lid + i, out]); }
        }
      }
      const blocks = Math.ceil((maxLid + 1) / LFT_BLOCK_LIDS);
      for (let b = 0; b < blocks; b++) {
        const lo = b * LFT_BLOCK_LIDS, hi = lo + LFT_BLOCK_LIDS;
        steps.push({
          target: r,
          apply: () => {
            for (const [lid, port] of table) if (lid >= lo && lid < hi) sw.setRoute(lid, port);
          },
        });
      }
    }

    // 4. Partitions: a P_KeyTable Set (IBTA vol 1 §14.2.5.7) for each 32-entry block of a CA
    // port's table that is not what the SM assigns it (OpenSM's pkey manager compares and sends
    // only the changed blocks; a port with the power-on table and no partitions costs nothing).
    for (const r of order) {
      if (r.node.kind !== "hca") continue;
      for (const p of r.node.ports) {
        if (!p.link) continue;
        const want = this.#pkeys.get(p) ?? [DEFAULT_PKEY];
        const span = Math.max(want.length, p.pkeys.length);
        for (let lo = 0; lo < span; lo += PKEY_BLOCK) {
          let same = true;
          for (let i = lo; i < lo + PKEY_BLOCK && i < span; i++) {
            if ((want[i] ?? 0) !== (p.pkeys[i] ?? 0)) same = false;
          }
          if (same) continue;
          steps.push({ target: r, apply: () => setPkeyBlock(p, want, lo) });
        }
      }
    }

    // 5. Port states: every link-up port between reached nodes, ARMED then ACTIVE.
    const upPorts: [Reach, Port][] = [];
    for (const r of order) {
      for (const p of r.node.ports) {
        if (p.link && reach.has(p.link.peer(p).node)) upPorts.push([r, p]);
      }
    }
    for (const [r, p] of upPorts) {
      if (p.state === "INIT") steps.push({ target: r, apply: () => p.setState("ARMED") });
    }
    for (const [r, p] of upPorts) {
      if (p.state === "INIT" || p.state === "ARMED") {
        steps.push({ target: r, apply: () => p.setState("ACTIVE") });
      }
    }

    const unreachable = fabric.nodes.filter((n) => !reach.has(n));
    return { steps, result: { lids, smps: steps.length, durationNs: 0, unreachable } };
  }
}

/** P_KeyTable Set of the block from index `lo`: `want`'s entries there, trailing empties trimmed. */
function setPkeyBlock(p: Port, want: readonly number[], lo: number): void {
  const t = [...p.pkeys];
  while (t.length < lo) t.push(0);
  for (let i = lo; i < lo + PKEY_BLOCK; i++) t[i] = want[i] ?? 0;
  while (t.length > 1 && !t[t.length - 1]) t.pop();
  p.setPkeyTable(t);
}

/** First-hop output port from `sw` to every node it can reach through switches. */
function routesFrom(
  sw: SwitchNode,
  reach: Map<FabricNode, Reach>,
): Map<FabricNode, number> {
  const out = new Map<FabricNode, number>();
  const queue: [FabricNode, number][] = [];
  const seen = new Set<FabricNode>([sw]);
  for (const p of sw.ports) {
    if (!p.link) continue;
    const n = p.link.peer(p).node;
    if (!reach.has(n) || seen.has(n)) continue;
    seen.add(n);
    out.set(n, p.portNum);
    queue.push([n, p.portNum]);
  }
  for (let i = 0; i < queue.length; i++) {
    const [n, firstHop] = queue[i];
    if (n.kind !== "switch") continue; // CAs do not relay
    for (const p of n.ports) {
      if (!p.link) continue;
      const m = p.link.peer(p).node;
      if (!reach.has(m) || seen.has(m)) continue;
      seen.add(m);
      out.set(m, firstHop);
      queue.push([m, firstHop]);
    }
  }
  return out;
}

/** Output port of `sw` toward HCA port `dest`: the cable into that very port. */
function routeToPort(
  sw: SwitchNode,
  dest: Port,
  routes: Map<FabricNode, number>,
): number | undefined {
  const peer = dest.link?.peer(dest);
  if (!peer) return undefined;
  if (peer.node === sw) return peer.portNum;
  return routes.get(peer.node);
}
