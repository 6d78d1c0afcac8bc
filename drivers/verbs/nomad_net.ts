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
 * const vmDomain = {}; // the QPs it holds: the HCA driver's record, here a stand-in
 * const net = new NomadNetwork(new Engine(), () => 30_000, (d) => d === vmDomain);
 * const vm = { name: "vm", deliver: () => {} };
 * net.admit(vm, vmDomain);
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
 * const vmDomain = {};
 * const net = new NomadNetwork(new Engine(), () => 30_000, (d) => d === vmDomain);
 * const vm = { name: "vm", deliver: () => {} };
 * const id = net.admit(vm, vmDomain);
 * net.bind(vm, 0x48, { lid: 5, qpn: 0x52 }, { lid: 3, qpn: 0x48 });
 * const e: NomadEndpoint | undefined = net.byPhysical({ lid: 5, qpn: 0x52 });
 * assert.deepEqual(e, { agent: id, vqpn: 0x48 }); // who holds that device QP
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
 * const a = { name: "a", deliver: () => {} };
 * const aId = net.join(a);
 * const b = net.join({ name: "b", deliver: (m) => void got.push(m) });
 * const m: NomadMsg = { kind: "drained", from: { agent: aId, vqpn: 0x41 }, to: 0x48 };
 * await engine.run(async () => {
 *   net.send(a, m, b);
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
 * assert.equal(net.nameOf(id), "vm0");
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

/**
 * The ownership oracle a composition root gives the directory: whether
 * `domain`'s contexts hold the device QP at `phys` (LID → host → its HCA
 * driver's record of which domain each QPN was handed to).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../../sim/engine.ts";
 * import { type NomadQpHolder, NomadNetwork } from "./nomad_net.ts";
 * const vmDomain = {};
 * const holds: NomadQpHolder = (d, a) => d === vmDomain && a.lid === 5 && a.qpn === 0x52;
 * const net = new NomadNetwork(new Engine(), () => 30_000, holds);
 * const vm = { name: "vm", deliver: () => {} };
 * net.admit(vm, vmDomain);
 * net.bind(vm, 0x48, { lid: 5, qpn: 0x52 }, { lid: 3, qpn: 0x48 });
 * assert.throws(() => net.bind(vm, 0x49, { lid: 5, qpn: 0x53 }, { lid: 3, qpn: 0x49 }), /EADDRNOTAVAIL/);
 * ```
 */
export type NomadQpHolder = (domain: object, phys: NomadAddr) => boolean;

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
 * const bDomain = {};
 * const net = new NomadNetwork(engine, () => 30_000, (d) => d === bDomain);
 * const got: [number, string][] = [];
 * const a = { name: "a", deliver: () => {} };
 * const aId = net.join(a);
 * const bNode = { name: "b", deliver: (m: NomadMsg) => void got.push([engine.now, m.kind]) };
 * const b = net.admit(bNode, bDomain); // b's domain admits its library
 * net.bind(bNode, 0x48, { lid: 2, qpn: 0x48 }, { lid: 2, qpn: 0x48 });
 * assert.deepEqual(net.byPhysical({ lid: 2, qpn: 0x48 }), { agent: b, vqpn: 0x48 });
 * await engine.run(async () => {
 *   net.send(a, { kind: "suspend", from: { agent: aId, vqpn: 0x41 }, to: 0x48 }, b);
 *   await engine.sleep(50_000);
 * });
 * assert.deepEqual(got, [[30_000, "suspend"]]); // one way on the management network
 * ```
 */
export class NomadNetwork {
  /** Messages sent so far. */
  messages = 0;
  #nodes = new Map<number, NomadNode>();
  /**
   * Who each joined library is: the network knows its members as a transport knows the
   * port a frame came in on, so what a library sends or binds is in its own name only.
   */
  #ids = new Map<NomadNode, number>();
  #next = 1;
  #byPhys = new Map<string, Binding>();
  #byVirt = new Map<string, Binding>();
  #byEndpoint = new Map<string, Binding>();
  /** Physical addresses whose QP the application destroyed, and who held each. */
  #gone = new Map<string, NomadEndpoint>();
  /**
   * Which library each virtual address is reserved for: from its first bind
   * until its QP is destroyed, also while the QP moves (unbound between
   * hosts), so nobody takes the address connections are made to meanwhile.
   */
  #virtOwner = new Map<string, number>();

  /** The domain each admitted library acts for (set by the platform, {@link admit}). */
  #domainOf = new Map<number, object>();
  /** The library each admitted domain runs. */
  #agentOf = new Map<object, number>();

  /**
   * A Nomad directory on `engine`, its messages taking `latencyNs()` each.
   *
   * @param engine the cluster's engine
   * @param latencyNs one-way message latency (the profile's `migration.netLatencyNs`)
   * @param holds the ownership oracle of the composition root: whether `domain`'s
   *   contexts hold the device QP at `phys` now, as the driver of the HCA behind
   *   that LID records it (default: nothing is anybody's, so nothing binds)
   */
  constructor(
    private engine: Engine,
    private latencyNs: () => number,
    private holds: NomadQpHolder = () => false,
  ) {}

  /**
   * Platform code: `domain` admits `node`, its verbs library, to the network
   * (joining it if needed); what the library binds is checked against the
   * QPs that domain holds. A library is admitted for one domain, a domain
   * admits one library (EPERM otherwise). Returns the library's id.
   *
   * @internal
   */
  admit(node: NomadNode, domain: object): number {
    const id = this.join(node);
    const had = this.#domainOf.get(id), runs = this.#agentOf.get(domain);
    if ((had !== undefined && had !== domain) || (runs !== undefined && runs !== id)) {
      throw new VerbsError("EPERM", `nomad: ${node.name} is admitted for another domain`);
    }
    this.#domainOf.set(id, domain);
    this.#agentOf.set(domain, id);
    return id;
  }

  /** One-way latency of a message now. */
  latency(): number {
    return this.latencyNs();
  }

  /** A library joins; returns its id (a library that joined already keeps its id). */
  join(node: NomadNode): number {
    const had = this.#ids.get(node);
    if (had !== undefined) return had;
    const id = this.#next++;
    this.#nodes.set(id, node);
    this.#ids.set(node, id);
    return id;
  }

  /** The name of library `agent` (for diagnostics). */
  nameOf(agent: number): string | undefined {
    return this.#nodes.get(agent)?.name;
  }

  /**
   * The remote keys of the context that holds `ep`'s QP and that moved
   * (virtual → physical), as its library answers them.
   */
  keysOf(ep: NomadEndpoint): [number, number][] {
    return this.#nodes.get(ep.agent)?.keysOf?.(ep.vqpn) ?? [];
  }

  /**
   * The id of `node`, which must have joined: the network acts for a member
   * only in its own name (a library cannot send, bind or unbind as another).
   */
  #idOf(node: NomadNode, what: string): number {
    const id = this.#ids.get(node);
    if (id === undefined) {
      throw new VerbsError("EPERM", `nomad: ${what} from a library not on the management network`);
    }
    return id;
  }

  /**
   * QP `vqpn` of library `node` is at physical address `phys`; applications
   * know it as `virt`. Replaces an earlier binding of the same QP. EADDRINUSE
   * when another library holds `phys` or `virt` now: an address names one
   * QP, and only its holder gives it up ({@link unbind}, {@link leave}), or a
   * library could pass for a connection's peer (and suspend it) or take the
   * virtual address others connect to. LID 0 (a port not yet seen) is no
   * address: IBTA vol. 1 §4.1.3 reserves it. EADDRNOTAVAIL when `phys` is no
   * QP of the domain that {@link admit}ted `node` (as the cluster's oracle
   * says): a library not admitted by a domain binds nothing.
   */
  bind(node: NomadNode, vqpn: number, phys: NomadAddr, virt: NomadAddr): void {
    const agent = this.#idOf(node, "bind");
    // The holder of a device QP is the driver's to say, not the library's: a
    // library may name only a QP its own domain's contexts hold on the HCA
    // behind that LID, or a guest could take another domain's next QPN (the
    // device hands them out next-fit) and stall that QP's migration. bind(2)
    // of an address the host does not have is EADDRNOTAVAIL (ip(7), bind(2)).
    const domain = this.#domainOf.get(agent);
    if (phys.lid !== 0 && (domain === undefined || !this.holds(domain, phys))) {
      throw new VerbsError(
        "EADDRNOTAVAIL",
        `nomad: LID ${phys.lid} QPN ${phys.qpn} is no QP of ${node.name}'s domain`,
      );
    }
    const holders = [
      [phys, phys.lid === 0 ? undefined : this.#byPhys.get(key(phys))?.agent],
      [virt, virt.lid === 0 ? undefined : this.#virtOwner.get(key(virt))],
    ] as const;
    for (const [a, by] of holders) {
      if (by !== undefined && by !== agent) {
        throw new VerbsError(
          "EADDRINUSE",
          `nomad: LID ${a.lid} QPN ${a.qpn} is held by another library`,
        );
      }
    }
    this.#unbind(agent, vqpn, false);
    const b: Binding = { agent, vqpn, phys: { ...phys }, virt: { ...virt } };
    this.#gone.delete(key(phys));
    this.#byEndpoint.set(`${agent}:${vqpn}`, b);
    this.#byPhys.set(key(phys), b);
    this.#byVirt.set(key(virt), b);
    if (virt.lid !== 0) this.#virtOwner.set(key(virt), agent);
  }

  /**
   * The device QP of `node`'s QP `vqpn` is given back: for a move
   * (`destroyed` false: it will be bound again elsewhere) or for good (the
   * application destroyed it or closed its context), when {@link goneFrom}
   * remembers who held the address until a new QP takes it.
   */
  unbind(node: NomadNode, vqpn: number, destroyed = false): void {
    this.#unbind(this.#idOf(node, "unbind"), vqpn, destroyed);
  }

  #unbind(agent: number, vqpn: number, destroyed: boolean): void {
    const b = this.#byEndpoint.get(`${agent}:${vqpn}`);
    if (!b) return;
    this.#byEndpoint.delete(`${agent}:${vqpn}`);
    if (this.#byPhys.get(key(b.phys)) === b) {
      this.#byPhys.delete(key(b.phys));
      if (destroyed) this.#gone.set(key(b.phys), { agent, vqpn });
    }
    if (this.#byVirt.get(key(b.virt)) === b) this.#byVirt.delete(key(b.virt));
    if (destroyed && this.#virtOwner.get(key(b.virt)) === agent) {
      this.#virtOwner.delete(key(b.virt));
    }
  }

  /**
   * The library that holds address `a` now, physical or virtual (undefined:
   * none, or LID 0). A new QP takes no number another library's QP is known by.
   */
  heldBy(a: NomadAddr): number | undefined {
    if (a.lid === 0) return undefined;
    return this.#byPhys.get(key(a))?.agent ?? this.#virtOwner.get(key(a));
  }

  /**
   * Library `node` is gone (its domain crashed): each QP it held is gone as
   * a destroyed one is, and its addresses are free.
   */
  leave(node: NomadNode): void {
    const agent = this.#idOf(node, "leave");
    for (const b of [...this.#byEndpoint.values()]) {
      if (b.agent === agent) this.#unbind(agent, b.vqpn, true);
    }
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

  /**
   * Deliver `msg` from library `sender` to library `to` after one
   * management-network latency. The network stamps the sender: the message
   * arrives with `from.agent` the id of `sender` whatever `msg` said, as a
   * transport sets a frame's source address (the handshake's rule that only
   * a QP's peer may suspend it rests on it; ib_cm likewise takes the sender
   * of a MAD from the transport, the work completion's source LID and QPN,
   * never from the message: cm.c, cm_req_handler/cm_acquire_id).
   */
  send(sender: NomadNode, msg: NomadMsg, to: number): void {
    const from = this.#idOf(sender, "send");
    const node = this.#nodes.get(to);
    if (!node) {
      throw new VerbsError("ENOTCONN", `nomad: no library ${to} on the management network`);
    }
    this.messages++;
    // A copy, as a wire carries bytes: what the sender changes later does not reach the receiver.
    const stamped = { ...structuredClone(msg), from: { agent: from, vqpn: msg.from.vqpn } };
    // To itself (both ends of a connection in one guest) a message costs nothing on the wire.
    const delay = to === from ? 0 : this.latencyNs();
    this.engine.schedule(delay, () => node.deliver(stamped));
  }
}
