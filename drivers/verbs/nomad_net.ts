/**
 * The management network as the Nomad layers of the verbs libraries see it
 * (Huang et al., "Nomad: Migrating OS-bypass Networks in Virtual
 * Machines", VEE 2007): a directory that says which library holds a QP —
 * by the physical address peers' QPs are connected to (LID, QP number), or
 * by the virtual one applications know — and a message service between
 * those libraries for the suspend/resume handshake. It stands for the
 * Ethernet network and the per-node daemons of a cluster: messages take
 * the profile's `migration.netLatencyNs` one way.
 *
 * The cluster builds one (`platform/`), every domain's library joins it
 * when the layer is on (`new Cluster({ nomad: true })`).
 *
 * @module
 */
import type { Engine } from "../../sim/engine.ts";
import { VerbsError } from "../uapi/errors.ts";

/**
 * A QP's address on the fabric: the LID of its port and its QP number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../../sim/engine.ts";
 * import { type NomadAddr, NomadNetwork } from "./nomad_net.ts";
 * const net = new NomadNetwork(new Engine(), () => 30_000);
 * const vm = net.join({ name: "vm", deliver: () => {} });
 * const virt: NomadAddr = { lid: 3, qpn: 0x48 };
 * net.bind(vm, 0x48, { lid: 5, qpn: 0x52 }, virt); // re-created on another host
 * assert.deepEqual(net.movedTo(virt), { lid: 5, qpn: 0x52 });
 * ```
 */
export interface NomadAddr {
  /** The LID of the QP's port. */
  lid: number;
  /** The QP's number. */
  qpn: number;
}

/**
 * One end of a connection in the directory: the library (agent) that holds
 * it and the QP's virtual number there, which never changes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../../sim/engine.ts";
 * import { type NomadEndpoint, NomadNetwork } from "./nomad_net.ts";
 * const net = new NomadNetwork(new Engine(), () => 30_000);
 * const vm = net.join({ name: "vm", deliver: () => {} });
 * net.bind(vm, 0x48, { lid: 5, qpn: 0x52 }, { lid: 3, qpn: 0x48 });
 * const e: NomadEndpoint | undefined = net.byPhysical({ lid: 5, qpn: 0x52 });
 * assert.deepEqual(e, { agent: vm, vqpn: 0x48 }); // who holds that device QP
 * ```
 */
export interface NomadEndpoint {
  /** The agent (library) that holds the end. */
  agent: number;
  /** The QP's virtual number there. */
  vqpn: number;
}

/**
 * The handshake's messages, per connection (`to` names the receiver's QP by
 * its virtual number; `from` the sender's end):
 *
 * - `suspend`: stop sending on this connection and drain it (the sender
 *   is about to move).
 * - `drained`: my send queue has drained; every message I sent was
 *   acknowledged.
 * - `ready`: my QP waits in RESET at `addr`; the next PSN I send is
 *   `sqPsn`; my remote keys that differ from their virtual values are
 *   `keys` (virtual → physical).
 * - `rtr`: my QP is ready to receive from yours (send when you are RTS).
 * - `gone`: the QP you name is not your peer any more: destroyed, its
 *   context closed, out of RTS when you asked it to suspend, or connected
 *   elsewhere. Re-establish your end as it was; it fails as any RC
 *   connection to a vanished peer does.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../../sim/engine.ts";
 * import { type NomadMsg, NomadNetwork } from "./nomad_net.ts";
 * const engine = new Engine();
 * const net = new NomadNetwork(engine, () => 30_000);
 * const got: NomadMsg[] = [];
 * const a = net.join({ name: "a", deliver: () => {} });
 * const b = net.join({ name: "b", deliver: (m) => void got.push(m) });
 * const m: NomadMsg = { kind: "drained", from: { agent: a, vqpn: 0x41 }, to: 0x48 };
 * await engine.run(async () => {
 *   net.send(m, b);
 *   await engine.sleep(50_000);
 * });
 * assert.deepEqual(got, [m]);
 * ```
 */
export type NomadMsg =
  & { from: NomadEndpoint; to: number }
  & (
    | { kind: "suspend" }
    | { kind: "drained" }
    | { kind: "ready"; addr: NomadAddr; sqPsn: number; keys: [number, number][] }
    | { kind: "rtr" }
    | { kind: "gone" }
  );

/**
 * A library on the network: it receives its messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../../sim/engine.ts";
 * import { type NomadNode, NomadNetwork } from "./nomad_net.ts";
 * const net = new NomadNetwork(new Engine(), () => 30_000);
 * const quiet: NomadNode = { name: "vm0", deliver: () => {} };
 * const id = net.join(quiet);
 * assert.equal(net.node(id), quiet);
 * ```
 */
export interface NomadNode {
  /** The library's name. */
  readonly name: string;
  /** A handshake message for this library. */
  deliver(msg: NomadMsg): void;
  /** The remote keys of the context holding QP `vqpn` that moved (virtual → physical). */
  keysOf?(vqpn: number): [number, number][];
}

interface Binding {
  agent: number;
  vqpn: number;
  phys: NomadAddr;
  virt: NomadAddr;
}

const key = (a: NomadAddr) => `${a.lid}:${a.qpn}`;

/**
 * The directory and message service.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../../sim/engine.ts";
 * import { NomadNetwork, type NomadMsg } from "./nomad_net.ts";
 * const engine = new Engine();
 * const net = new NomadNetwork(engine, () => 30_000);
 * const got: [number, string][] = [];
 * const a = net.join({ name: "a", deliver: () => {} });
 * const b = net.join({ name: "b", deliver: (m: NomadMsg) => got.push([engine.now, m.kind]) });
 * net.bind(b, 0x48, { lid: 2, qpn: 0x48 }, { lid: 2, qpn: 0x48 });
 * assert.deepEqual(net.byPhysical({ lid: 2, qpn: 0x48 }), { agent: b, vqpn: 0x48 });
 * await engine.run(async () => {
 *   net.send({ kind: "suspend", from: { agent: a, vqpn: 0x41 }, to: 0x48 }, b);
 *   await engine.sleep(50_000);
 * });
 * assert.deepEqual(got, [[30_000, "suspend"]]); // one way on the management network
 * ```
 */
export class NomadNetwork {
  /** Messages sent so far. */
  messages = 0;
  #nodes = new Map<number, NomadNode>();
  #next = 1;
  #byPhys = new Map<string, Binding>();
  #byVirt = new Map<string, Binding>();
  #byEndpoint = new Map<string, Binding>();
  /** Physical addresses whose QP the application destroyed, and who held each. */
  #gone = new Map<string, NomadEndpoint>();

  /**
   * A Nomad directory on `engine`, its messages taking `latencyNs()` each.
   *
   * @param engine the cluster's engine
   * @param latencyNs one-way message latency (the profile's `migration.netLatencyNs`)
   */
  constructor(private engine: Engine, private latencyNs: () => number) {}

  /** One-way latency of a message now. */
  latency(): number {
    return this.latencyNs();
  }

  /** A library joins; returns its id. */
  join(node: NomadNode): number {
    const id = this.#next++;
    this.#nodes.set(id, node);
    return id;
  }

  /** The library of `agent` (for messages and diagnostics). */
  node(agent: number): NomadNode | undefined {
    return this.#nodes.get(agent);
  }

  /**
   * QP `vqpn` of `agent` is at physical address `phys`; applications know
   * it as `virt`. Replaces an earlier binding of the same QP.
   */
  bind(agent: number, vqpn: number, phys: NomadAddr, virt: NomadAddr): void {
    this.unbind(agent, vqpn);
    const b: Binding = { agent, vqpn, phys: { ...phys }, virt: { ...virt } };
    this.#gone.delete(key(phys));
    this.#byEndpoint.set(`${agent}:${vqpn}`, b);
    this.#byPhys.set(key(phys), b);
    this.#byVirt.set(key(virt), b);
  }

  /**
   * The device QP is given back: for a move (`destroyed` false: it will be
   * bound again elsewhere) or for good (the application destroyed it or
   * closed its context), when {@link goneFrom} remembers who held the
   * address until a new QP takes it.
   */
  unbind(agent: number, vqpn: number, destroyed = false): void {
    const b = this.#byEndpoint.get(`${agent}:${vqpn}`);
    if (!b) return;
    this.#byEndpoint.delete(`${agent}:${vqpn}`);
    if (this.#byPhys.get(key(b.phys)) === b) {
      this.#byPhys.delete(key(b.phys));
      if (destroyed) this.#gone.set(key(b.phys), { agent, vqpn });
    }
    if (this.#byVirt.get(key(b.virt)) === b) this.#byVirt.delete(key(b.virt));
  }

  /** Who held the QP at physical address `a` until the application destroyed it. */
  goneFrom(a: NomadAddr): NomadEndpoint | undefined {
    return this.#gone.get(key(a));
  }

  /** Who holds the QP at physical address `a` now. */
  byPhysical(a: NomadAddr): NomadEndpoint | undefined {
    const b = this.#byPhys.get(key(a));
    return b && { agent: b.agent, vqpn: b.vqpn };
  }

  /**
   * Where the QP applications know as `a` is now, if it moved (a QP that
   * never moved is where its virtual address says, and gets undefined).
   */
  movedTo(a: NomadAddr): NomadAddr | undefined {
    const b = this.#byVirt.get(key(a));
    if (!b || (b.phys.lid === b.virt.lid && b.phys.qpn === b.virt.qpn)) return undefined;
    return { ...b.phys };
  }

  /** Deliver `msg` to library `to` after one management-network latency. */
  send(msg: NomadMsg, to: number): void {
    const node = this.#nodes.get(to);
    if (!node) {
      throw new VerbsError("ENOTCONN", `nomad: no library ${to} on the management network`);
    }
    this.messages++;
    // To itself (both ends of a connection in one guest) a message costs nothing on the wire.
    const delay = to === msg.from.agent ? 0 : this.latencyNs();
    this.engine.schedule(delay, () => node.deliver(msg));
  }
}
