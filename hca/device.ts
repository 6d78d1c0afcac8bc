/**
 * The HCA device model (MT23108 "Tavor"/mthca style, simplified, same
 * boundaries): the command interface in BAR0, UAR doorbell pages, the
 * context tables (QPC, CQC, EQC, SRQC, MPT, MTT), the DMA engine and the
 * RC/UC/UD transport, attached to the fabric as a channel adapter.
 *
 * The device knows machine addresses and interrupt vectors, not domains or
 * verbs objects: it imports nothing from `drivers/` or `hypervisor/`.
 * Contract with the driver: `hca/FORMATS.md`, `hca/commands.ts`.
 *
 * @module
 */

import type { Engine } from "../sim/engine.ts";
import type { InterruptController } from "../sim/irq.ts";
import type { MachineMemory } from "../sim/memory.ts";
import type { Prng } from "../sim/prng.ts";
import type { Profile } from "../sim/profiles/schema.ts";
import { Line } from "../sim/line.ts";
import { IBA_MTUS, ibaMtuCode } from "./link.ts";
import { HcaCommandInterface } from "./command_interface.ts";
import {
  cmdName,
  CmdOp,
  type CmdResult,
  CmdStatus,
  EqeType,
  HwQpState,
  QpServiceType,
} from "./commands.ts";
import { Completer } from "./completer.ts";
import { type HcaCore, type HcaCounters, newCounters } from "./core.ts";
import { type CompletionQueue, CqArm } from "./cq.ts";
import { DmaBus } from "./dma.ts";
import type { EventQueue } from "./eq.ts";
import { PortChangeSubtype } from "./eqe.ts";
import type { Fabric, HcaNode } from "./fabric.ts";
import * as fw from "./firmware.ts";
import { isMulticastLid, McgTable, MULTICAST_QPN } from "./mcg.ts";
import { MemoryTranslation } from "./mpt.ts";
import { type Packet, WirePacket } from "./packet.ts";
import { DEFAULT_PKEY, pkeyAccepts } from "./pkey.ts";
import { portNominalGbps } from "./rate.ts";
import type { Port, PortLinkState } from "./port.ts";
import { isQpTransition, qpTransition, queryQp, release } from "./qp_commands.ts";
import { Requester } from "./requester.ts";
import { Responder } from "./responder.ts";
import type { SharedReceiveQueue } from "./srq.ts";
import { Transport } from "./transport.ts";
import {
  CqDbCmd,
  DB_NO_CMD,
  EqDbCmd,
  splitCmdWord,
  splitSendDoorbellWord,
  UarOffset,
  UarPages,
} from "./uar.ts";
import { SEG_BYTES } from "./wqe.ts";
import { type Qp, serviceOfTransport } from "./qp.ts";

/**
 * Options for {@link Hca}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, MODERN_GEN5_NDR, Prng } from "../sim/mod.ts";
 * import { Hca, type HcaOptions } from "./device.ts";
 * const opts: HcaOptions = {
 *   engine: new Engine(), memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: MODERN_GEN5_NDR, rng: new Prng(3), name: "cx7", ports: 2,
 * };
 * assert.equal(new Hca(opts).portCount, 2);
 * ```
 */
export interface HcaOptions {
  /** The simulation engine. */
  engine: Engine;
  /** Host machine memory (DMA target; UAR pages are attached to it). */
  memory: MachineMemory;
  /** Host interrupt controller (EQ vectors are raised here). */
  irq: InterruptController;
  /** Cost profile. */
  profile: Profile;
  /** Seeded random source. */
  rng: Prng;
  /** Device and fabric node name. */
  name: string;
  /** Number of ports (default 1). */
  ports?: 1 | 2;
  /** Attach to this fabric at once (else call {@link Hca.attach}). */
  fabric?: Fabric;
  /** Extra latency of each DMA transaction, ns (the host's noise; absent = none). */
  dmaJitter?: () => number;
}

/**
 * Resource kinds in {@link HcaStats}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hca, type ResourceKind } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const kinds: ResourceKind[] = ["qp", "cq", "mr", "uar", "mtt"];
 * const s = hca.stats();
 * assert.deepEqual(kinds.map((k) => s.used[k]), [0, 0, 0, 0, 0]);
 * ```
 */
export type ResourceKind = "pd" | "mr" | "cq" | "qp" | "srq" | "ah" | "uar" | "mtt" | "eq";

/**
 * `hca.stats()`: used/free resources plus cumulative counters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hca, type HcaStats } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * // The driver adds what only it tracks: here 2 PDs.
 * const s: HcaStats = hca.stats({ pd: 2 });
 * assert.equal(s.used.pd, 2);
 * assert.equal(s.used.pd + s.free.pd, PCIX_SDR_2006.hca.maxPd);
 * assert.equal(s.packetsSent, 0);
 * ```
 */
export interface HcaStats {
  /** In use, per kind. */
  used: Record<ResourceKind, number>;
  /** Available, per kind. */
  free: Record<ResourceKind, number>;
  /** Doorbells dropped (wrong UAR, free context, malformed). */
  doorbellsRejected: number;
  /** Packets the ports took for transmission. */
  packetsSent: number;
  /** Packets decoded (good CRCs). */
  packetsReceived: number;
  /** Every device counter (retransmits, NAKs, CQEs written, …). */
  counters: Readonly<HcaCounters>;
}

/** Receive queue depth (packets) beyond which the device stops taking packets from the port. */
const RX_QUEUE_LIMIT = 64;
/** Write-bus backlog (ns) beyond which receive back-pressures the link instead of buffering. */
const RX_BACKLOG_NS = 20_000;
/**
 * Request packets the responder may hold behind receive WQE fetches (a UD datagram or a SEND
 * whose WQE is on its way) before the device stops taking packets from the port. They are in
 * the device's receive buffer, which is finite, and the link is lossless (IBTA vol 1 §7.9:
 * credit-based flow control), so a receiver slower than its senders holds them back on the
 * link instead of buffering without bound.
 */
const RX_HELD_LIMIT = 64;

/**
 * One HCA.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, Prng, PCIX_SDR_2006 } from "../sim/mod.ts";
 * import { Hca } from "./device.ts";
 * import { CmdOp } from "./commands.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(64 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const r = await engine.run(() => hca.cmd.exec(CmdOp.INIT_HCA, {}));
 * assert.deepEqual([r.ok, hca.stats().free.qp], [true, 64512]);
 * ```
 */
export class Hca {
  /** The privileged command interface (BAR0). Never map it into a guest. */
  readonly cmd: HcaCommandInterface;
  /** Device internals shared by its parts. */
  readonly core: HcaCore;
  /** The fabric node, once attached. */
  node: HcaNode | undefined;
  /** Number of ports. */
  readonly portCount: number;
  /** The UAR I/O pages. */
  readonly uars: UarPages;

  #tp: Transport;
  #req: Requester;
  #comp: Completer;
  #resp: Responder;
  #tables: fw.DeviceTables;
  #cqs: (CompletionQueue | undefined)[] = [];
  #eqs: (EventQueue | undefined)[] = [];
  #srqs: (SharedReceiveQueue | undefined)[] = [];
  #eventMap: (EventQueue | undefined)[] = [];
  #mcg: McgTable;
  #mcastPorts = new Map<string, { gid: Uint8Array; ports: Set<number> }>();
  #initialized = false;
  // Receive pipeline: (bytes, port, due) FIFO behind one engine event.
  #rxBytes: WirePacket[] = [];
  #rxDue: number[] = [];
  #rxPort: Port[] = [];
  #rxLine = new Line([this.#rxBytes, this.#rxPort], [this.#rxDue]);
  #rxFree = 0;
  #rxArmed = false;
  #rxStalled: Port[] = [];
  #tagRx: number;
  /** Profile hca.checkSourceLid: drop RC/UC packets from a LID not on the QP's path. */
  #checkSourceLid: boolean;

  /**
   * Create it (hardware state; the device builds these).
   * @param opts see {@link HcaOptions} */
  constructor(opts: HcaOptions) {
    const { engine, memory, irq, profile, rng, name } = opts;
    if (ibaMtuCode(profile.hca.maxMtu) === undefined) {
      throw new RangeError(
        `hca maxMtu ${profile.hca.maxMtu}: IBA MTUs are ${IBA_MTUS.join(", ")} (IBTA §7.7.8)`,
      );
    }
    this.portCount = opts.ports ?? 1;
    const counters = newCounters();
    const tpt = new MemoryTranslation(memory, profile.hca.maxMr, profile.hca.maxMtt);
    const bus = new DmaBus(engine, profile.pci, opts.dmaJitter);
    this.core = {
      name,
      engine,
      memory,
      irq,
      profile,
      rng,
      bus,
      tpt,
      counters,
      asyncEvent: (type, subtype, index, cause = 0) => {
        const eq = this.#eventMap[type];
        if (eq) eq.post(type, subtype, index, cause);
      },
    };
    this.#checkSourceLid = profile.hca.checkSourceLid !== 0;
    this.#mcg = new McgTable(profile.hca.maxMcastGrp, profile.hca.maxMcastQpAttach);
    this.#tp = new Transport(this.core);
    this.#tp.multicastSent = (wire, port) => this.#multicastLoopback(wire, port);
    this.#req = new Requester(this.core, this.#tp, (qp) => this.#comp.timeout(qp));
    this.#comp = new Completer(this.core, this.#tp, this.#req);
    this.#resp = new Responder(this.core, this.#tp);
    this.#tp.engines = {
      kickRequester: (qp) => this.#req.kick(qp),
      kickResponder: (qp) => this.#resp.kick(qp),
      localError: (qp) => this.#comp.localError(qp),
      checkDrained: (qp) => this.#comp.checkDrained(qp),
      unreliableSent: (qp, w) => this.#comp.unreliableSent(qp, w),
    };
    const isInit = () => this.#initialized;
    const setInit = (v: boolean) => (this.#initialized = v);
    this.#tables = {
      core: this.core,
      tp: this.#tp,
      cqs: this.#cqs,
      eqs: this.#eqs,
      srqs: this.#srqs,
      eventMap: this.#eventMap,
      mcg: this.#mcg,
      get initialized() {
        return isInit();
      },
      set initialized(v: boolean) {
        setInit(v);
      },
      portCount: this.portCount,
      port: (n) => this.port(n),
      reset: () => this.#reset(),
      hold: (wait) => this.cmd.holdUntil(wait),
    };
    this.uars = new UarPages(engine, memory, profile.hca.maxUar, profile.pci.mmioWriteNs, this);
    this.cmd = new HcaCommandInterface(engine, profile, (op, p) => this.#firmware(op, p));
    this.#tagRx = engine.tag("hca.rx");
    if (opts.fabric) this.attach(opts.fabric);
  }

  /** Device name. */
  get name(): string {
    return this.core.name;
  }

  /** Attach to a fabric as a channel adapter (once); returns the node. */
  attach(fabric: Fabric): HcaNode {
    if (this.node) throw new Error(`HCA ${this.name} is already attached to a fabric`);
    this.node = fabric.addHca(this.name, this, {
      ports: this.portCount,
      maxMtu: this.core.profile.hca.maxMtu, // PortInfo:MTUCap of every port
      partitionCap: this.core.profile.hca.maxPkeys, // NodeInfo:PartitionCap
    });
    this.#tp.bindPorts(this.node.ports);
    return this.node;
  }

  /** Fabric port `n` (1-based), once attached. */
  port(n: number): Port | undefined {
    return this.node?.ports[n - 1];
  }

  /**
   * Port `n`'s P_Key table as the subnet manager set it (the power-on table, the default P_Key
   * alone, before the HCA is on a fabric): what the kernel's P_Key cache holds.
   */
  pkeys(n: number): readonly number[] {
    return this.port(n)?.pkeys ?? [DEFAULT_PKEY];
  }

  /** Port `n`'s nominal rate in Gb/s from its link's width and lane rate (4x SDR: 10), 0 unlinked. */
  portGbps(n: number): number {
    const link = this.port(n)?.link;
    return link ? portNominalGbps(link.params.width, link.params.laneSignalBytesPerSec) : 0;
  }

  /** @internal A QP context (tests and diagnostics; the driver uses QUERY_QP). */
  qpContext(qpn: number): Qp | undefined {
    return this.#tp.qps[qpn];
  }

  /** Machine frame number of UAR page `index` (an I/O frame: map it into exactly one user). */
  uarMfn(index: number): number {
    return this.uars.mfn(index);
  }

  /**
   * The frames the device can reach by DMA now: every MTT entry of every
   * HW-owned MPT entry (read-only, for audits).
   */
  mttFrames(): Iterable<{ key: number; mtt: number; mfn: number }> {
    return this.core.tpt.reachableFrames();
  }

  /**
   * Resource usage and counters. `sw` supplies used counts the driver keeps
   * (PDs, AHs, UARs it allocated, QPs still in RESET): any kind given
   * overrides the device's own count.
   */
  stats(sw: Partial<Record<ResourceKind, number>> = {}): HcaStats {
    const h = this.core.profile.hca;
    let qp = 0;
    const uars = new Set<number>();
    for (const q of this.#tp.qps) {
      if (q && q.state !== HwQpState.RESET) {
        qp++;
        uars.add(q.uarIndex);
      }
    }
    let cq = 0, eq = 0, srq = 0;
    for (const c of this.#cqs) if (c) (cq++, uars.add(c.uarIndex));
    for (const e of this.#eqs) if (e) (eq++, uars.add(e.uarIndex));
    for (const s of this.#srqs) if (s) (srq++, uars.add(s.uarIndex));
    const used: Record<ResourceKind, number> = {
      pd: 0,
      mr: this.core.tpt.used,
      cq,
      qp,
      srq,
      ah: 0,
      uar: uars.size,
      mtt: this.core.tpt.mttUsed,
      eq,
    };
    for (const [k, v] of Object.entries(sw)) if (typeof v === "number") used[k as ResourceKind] = v;
    const max: Record<ResourceKind, number> = {
      pd: h.maxPd,
      mr: h.maxMr - fw.RESERVED.mpt,
      cq: h.maxCq - fw.RESERVED.cq,
      qp: h.maxQp - fw.RESERVED.qp,
      srq: h.maxSrq - fw.RESERVED.srq,
      ah: h.maxAh,
      uar: h.maxUar,
      mtt: h.maxMtt,
      eq: fw.MAX_EQ - fw.RESERVED.eq,
    };
    const free = {} as Record<ResourceKind, number>;
    for (const k of Object.keys(max) as ResourceKind[]) free[k] = max[k] - used[k];
    const c = this.core.counters;
    return {
      used,
      free,
      doorbellsRejected: c.doorbellsRejected,
      packetsSent: c.packetsSent,
      packetsReceived: c.packetsReceived,
      counters: { ...c },
    };
  }

  // ---- firmware -------------------------------------------------------

  #firmware(op: number, p: unknown): CmdResult<unknown> {
    const t = this.#tables;
    if (op === CmdOp.QUERY_DEV_LIM) return fw.ok(fw.devLim(t));
    if (op === CmdOp.INIT_HCA) {
      if (this.#initialized) {
        return fw.fail(CmdStatus.BAD_SYS_STATE, "INIT_HCA: already initialized");
      }
      this.#initialized = true;
      return fw.ok(undefined);
    }
    if (!this.#initialized) {
      return fw.fail(CmdStatus.BAD_SYS_STATE, `${cmdName(op)}: HCA not initialized (run INIT_HCA)`);
    }
    if (isQpTransition(op)) {
      return qpTransition(t, { requester: this.#req, completer: this.#comp }, op, p);
    }
    if (op === CmdOp.CLOSE_HCA) {
      this.#reset();
      this.#initialized = false;
      return fw.ok(undefined);
    }
    if (op === CmdOp.QUERY_QP) return queryQp(t, p);
    const command = fw.RESOURCE_COMMANDS[op];
    if (command) {
      const r = command(t, p);
      if (r.ok && op === CmdOp.WRITE_MGM) {
        this.#membersChanged((p as { entry: { gid: Uint8Array } }).entry.gid);
      }
      return r;
    }
    return fw.fail(CmdStatus.BAD_OP, `opcode 0x${op.toString(16)} is not supported`);
  }

  /** CLOSE_HCA: every context dropped, in-flight work discarded. */
  #reset(): void {
    for (const q of this.#tp.qps) if (q) release(this.#tables, q);
    this.#tp.qps.length = 0;
    this.#cqs.length = 0;
    this.#eqs.length = 0;
    this.#srqs.length = 0;
    this.#eventMap.length = 0;
    this.#mcg.clear();
    this.#mcastPorts.clear();
    this.core.tpt.clear();
  }

  // ---- doorbells (UAR) --------------------------------------------------

  /** @internal A doorbell reached the device (called by {@link UarPages}). */
  doorbell(uar: number, offset: number, w0: number, w1: number, ok: boolean): void {
    const c = this.core.counters;
    c.doorbells++;
    if (!ok || !this.#initialized || !this.#ring(uar, offset, w0, w1)) c.doorbellsRejected++;
  }

  /**
   * Act on a doorbell; false if it must be dropped: unknown offset or
   * command, a context not owned by HW, or one whose UAR index is not the
   * page written (DESIGN §9 invariant 1: the UAR page is the authority).
   */
  #ring(uar: number, offset: number, w0: number, w1: number): boolean {
    const { cmd, index } = splitCmdWord(w0);
    switch (offset) {
      case UarOffset.SEND: {
        // Word 0 is mthca's `(qpn << 8) | size0`: the first new WQE's size in 16-byte units.
        const { qpn, size } = splitSendDoorbellWord(w0);
        const qp = this.#tp.qps[qpn];
        if (!qp || qp.uarIndex !== uar) return false;
        // A descriptor of no segments, or larger than its slot, is not one the device can fetch.
        if (size === 0 || size * SEG_BYTES > qp.sqStride) return false;
        // IBTA vol 1 §10.3.1: the SQ takes WRs only from RTS on (the verbs layer reports the error).
        if (
          qp.state === HwQpState.RESET || qp.state === HwQpState.INIT || qp.state === HwQpState.RTR
        ) {
          return false;
        }
        if (!this.#sqCounterOk(qp, w1)) return false;
        this.#req.doorbell(qp, w1 >>> 0, size);
        return true;
      }
      case UarOffset.RECV: {
        const qp = this.#tp.qps[index];
        if (
          cmd !== DB_NO_CMD || !qp || qp.uarIndex !== uar || qp.state === HwQpState.RESET || qp.srq
        ) {
          return false;
        }
        return this.#resp.doorbell(qp, w1);
      }
      case UarOffset.SRQ: {
        const s = this.#srqs[index];
        if (cmd !== DB_NO_CMD || !s || s.uarIndex !== uar) return false;
        return s.doorbell(w1);
      }
      case UarOffset.CQ: {
        const cq = this.#cqs[index];
        if (!cq || cq.uarIndex !== uar) return false;
        if (cmd === CqDbCmd.SET_CI) cq.doorbell(w1, CqArm.NONE);
        else if (cmd === CqDbCmd.REQ_NOTIFY_NEXT) cq.doorbell(w1, CqArm.NEXT);
        else if (cmd === CqDbCmd.REQ_NOTIFY_SOLICITED) cq.doorbell(w1, CqArm.SOLICITED);
        else return false;
        return true;
      }
      case UarOffset.EQ: {
        const eq = this.#eqs[index];
        if (!eq || eq.uarIndex !== uar) return false;
        if (cmd !== EqDbCmd.SET_CI && cmd !== EqDbCmd.SET_CI_ARM) return false;
        eq.doorbell(w1, cmd === EqDbCmd.SET_CI_ARM);
        return true;
      }
    }
    return false;
  }

  /** A send producer counter may move forward by at most the queue size past the oldest live WQE. */
  #sqCounterOk(qp: Qp, counter: number): boolean {
    const c = counter >>> 0;
    const oldest = qp.sq[qp.sqHead]?.counter ??
      ((qp.req.fetchCounter - qp.req.fetching) >>> 0);
    return ((c - oldest) >>> 0) <= qp.sqSize && ((c - qp.sqProducer) >>> 0) <= qp.sqSize;
  }

  // ---- fabric endpoint ---------------------------------------------------

  /**
   * @internal A packet arrived at one of our ports. Returns false (leave it
   * in the port's buffer, the sender stalls on credits) when the receive
   * pipeline or the host bus is backed up.
   */
  receive(bytes: Uint8Array | WirePacket, port: Port): boolean {
    return this.receiveWire(bytes instanceof WirePacket ? bytes : new WirePacket(bytes), port);
  }

  /** @internal The same, as the fabric carries the packet (wire bytes built only on demand). */
  receiveWire(wire: WirePacket, port: Port): boolean {
    const e = this.core.engine;
    if (!this.#rxRoom()) {
      if (!this.#rxStalled.includes(port)) this.#rxStalled.push(port);
      if (!this.#rxArmed) {
        this.#rxArmed = true;
        e.post(RX_BACKLOG_NS / 4, this.#rxRun, this.#tagRx);
      }
      return false;
    }
    // The receive engine starts a packet every rxPacketNs; each spends
    // packetProcessNs in the pipeline (they overlap, and leave in order).
    const h = this.core.profile.hca;
    const start = this.#rxFree > e.now ? this.#rxFree : e.now;
    this.#rxFree = start + h.rxPacketNs;
    const due = start + (h.packetProcessNs > h.rxPacketNs ? h.packetProcessNs : h.rxPacketNs);
    const i = this.#rxLine.add();
    this.#rxBytes[i] = wire;
    this.#rxDue[i] = due;
    this.#rxPort[i] = port;
    if (!this.#rxArmed) {
      this.#rxArmed = true;
      e.post(due - e.now, this.#rxRun, this.#tagRx);
    }
    return true;
  }

  /** Whether the receive pipeline, the host bus and the responder can take another packet. */
  #rxRoom(): boolean {
    return this.#rxLine.length < RX_QUEUE_LIMIT &&
      this.core.bus.writeBacklogNs() <= RX_BACKLOG_NS && this.#tp.requestsHeld < RX_HELD_LIMIT;
  }

  #rxRun = (): void => {
    const e = this.core.engine;
    const now = e.now;
    const line = this.#rxLine;
    while (line.length > 0 && this.#rxDue[line.head] <= now) {
      const b = this.#rxBytes[line.head];
      const port = this.#rxPort[line.head];
      line.drop();
      this.#process(b, port);
    }
    if (
      this.#rxStalled.length > 0 && this.core.bus.writeBacklogNs() <= RX_BACKLOG_NS &&
      this.#tp.requestsHeld < RX_HELD_LIMIT
    ) {
      const ports = this.#rxStalled;
      this.#rxStalled = [];
      for (const p of ports) p.resumeReceive();
    }
    if (line.length > 0) {
      e.post(this.#rxDue[line.head] - now, this.#rxRun, this.#tagRx);
    } else if (this.#rxStalled.length > 0) {
      e.post(RX_BACKLOG_NS / 4, this.#rxRun, this.#tagRx);
    } else {
      this.#rxArmed = false;
    }
  };

  /** Transport-layer receive checks (IBTA vol 1 §9.6 packet validation), then the responder or the completer. */
  #process(wire: WirePacket, port: Port): void {
    const c = this.core.counters;
    let pkt = wire.headerPacket();
    if (pkt === undefined) {
      const r = wire.decode();
      if (!r.ok) {
        // Bad CRC/length: the link layer would have dropped it (IBTA §7.8).
        c.packetsDropped++;
        return;
      }
      pkt = r.packet;
    }
    c.packetsReceived++;
    // The DLID the fabric carried (the packet's LRH:DLID, without reading its LRH record).
    if (isMulticastLid(wire.dlid)) return this.#multicast(pkt, wire, port);
    // A unicast packet with a GRH is for this port only if its DGID is one of the port's GIDs,
    // else it is dropped before any QP sees it, UD or connected (Linux rxe_recv.c `rxe_chk_dgid`,
    // run on every packet before `hdr_check`). A multicast DGID is not looked up there (its
    // group's QPs are found by MLID and MGID, #multicast). Packets without a GRH skip it.
    const grh = pkt.grh;
    if (grh !== undefined && grh.dgid[0] !== 0xff && !port.hasGid(grh.dgid)) {
      c.dgidDrops++;
      c.packetsDropped++;
      return;
    }
    const qp = this.#tp.qps[pkt.bth.destQp];
    if (!qp || qp.state === HwQpState.RESET || qp.state === HwQpState.INIT) {
      c.packetsDropped++;
      return;
    }
    // The opcode's transport must be the QP's service (IBTA vol 1 §9.6: else silently dropped).
    if (serviceOfTransport(pkt.info.transport) !== qp.type) {
      c.packetsDropped++;
      return;
    }
    // Optional source check (profile hca.checkSourceLid): a connected QP takes packets only
    // from its path's remote LID. InfiniBand ties a packet to a connection by destination QPN
    // and PSN alone, so on real HCAs anyone who guesses them can inject (ReDMArk, USENIX
    // Security 2021); this is the mitigation a device could apply, off by default as there.
    if (
      this.#checkSourceLid && qp.type !== QpServiceType.UD && pkt.lrh.slid !== qp.path.dlid
    ) {
      c.sourceLidDrops++;
      c.packetsDropped++;
      return;
    }
    if (!this.#pkeyOk(qp, pkt, port)) return;
    if (pkt.info.isResponse) this.#comp.onResponse(qp, pkt);
    else this.#resp.onRequest(qp, pkt, wire);
  }

  /**
   * The partition check (IBTA vol 1 §10.9; Linux rxe_recv.c `check_keys`, mlx HCAs in
   * hardware): a packet whose BTH P_Key does not match the receiving QP's is silently dropped
   * and counted in the port's P_KeyViolations (§14.2.5.6) and the device's `pkeyViolations`.
   * Requests and responses alike: an ACK or read response carries the responder QP's P_Key.
   */
  #pkeyOk(qp: Qp, pkt: Packet, port: Port): boolean {
    if (pkeyAccepts(qp.qpn, pkt.bth.pkey, port.pkeys, this.#tp.pkey(qp))) return true;
    const c = this.core.counters;
    c.pkeyViolations++;
    c.packetsDropped++;
    port.counters.pkeyViolations++;
    return false;
  }

  /**
   * A packet to a multicast LID: it must carry a GRH whose DGID is the MGID
   * and BTH DestQP 0xFFFFFF, and be a UD SEND (IBTA vol 1 §10.5: only UD
   * supports multicast; §9.6.1.1 / §8.3: the MGID travels in the GRH).
   * Each UD QP the MGM table holds for that MGID, on the port it arrived
   * by and ready to receive, gets its own copy (each consumes one receive
   * WQE and checks its own Q_Key) — what mthca's MGM entries are for and
   * what rxe_rcv_mcast_pkt does (drivers/infiniband/sw/rxe/rxe_recv.c).
   */
  #multicast(pkt: Packet, wire: WirePacket, port: Port): void {
    const c = this.core.counters;
    if (
      !pkt.grh || pkt.bth.destQp !== MULTICAST_QPN || pkt.info.isResponse ||
      serviceOfTransport(pkt.info.transport) !== QpServiceType.UD
    ) {
      c.packetsDropped++;
      return;
    }
    const qpns = this.#mcg.qpsOf(pkt.grh.dgid);
    let delivered = 0;
    for (const qpn of qpns) {
      const qp = this.#tp.qps[qpn];
      if (
        !qp || qp.type !== QpServiceType.UD || qp.port !== port.portNum ||
        qp.state === HwQpState.RESET || qp.state === HwQpState.INIT
      ) continue;
      // Each member checks the P_Key against its own (rxe_rcv_mcast_pkt runs check_keys per QP).
      if (!this.#pkeyOk(qp, pkt, port)) continue;
      delivered++;
      this.#resp.onRequest(qp, pkt, wire);
    }
    if (delivered === 0) c.packetsDropped++;
  }

  /**
   * A multicast packet this HCA sent on `port`: QPs of this HCA attached to
   * the group on that port get a copy as well (the switch never sends a
   * packet back out the port it came in by, IBTA vol 1 §18.2.4.3.2). This is
   * the HCA's multicast loopback, on by default on Mellanox HCAs — the
   * sending QP itself gets a copy if it is attached: Linux IPoIB drops its
   * own looped-back packets by source QPN (ipoib_ib.c, ipoib_ib_handle_rx_wc),
   * and mlx4/mlx5 block it only on request (IB_QP_CREATE_BLOCK_MULTICAST_LOOPBACK,
   * not modelled). A QP not attached gets nothing.
   */
  #multicastLoopback = (wire: WirePacket, port: Port): void => {
    if (!this.receiveWire(wire, port)) this.core.counters.packetsDropped++;
  };

  /**
   * After a WRITE_MGM: tell {@link onMulticastMembership} which ports gained
   * their first attached QP of a group, or lost their last — for the SA
   * client that joins and leaves on the port's behalf (the kernel's
   * ib_sa multicast module keeps such per-port counts for its users).
   */
  #membersChanged(written: Uint8Array): void {
    const hook = this.onMulticastMembership;
    if (!hook) return;
    const key = (g: Uint8Array) => Array.from(g, (b) => b.toString(16).padStart(2, "0")).join("");
    if (written.some((b) => b !== 0) && !this.#mcastPorts.has(key(written))) {
      this.#mcastPorts.set(key(written), { gid: written.slice(), ports: new Set() });
    }
    for (const [k, m] of this.#mcastPorts) {
      const now = new Set<number>();
      for (const qpn of this.#mcg.qpsOf(m.gid)) now.add(this.#tp.qps[qpn]?.port || 1);
      for (const n of now) {
        const port = this.port(n);
        if (port && !m.ports.has(n)) hook(port, m.gid, true);
      }
      for (const n of m.ports) {
        const port = this.port(n);
        if (port && !now.has(n)) hook(port, m.gid, false);
      }
      m.ports = now;
      if (now.size === 0) this.#mcastPorts.delete(k);
    }
  }

  /**
   * Called when a port gets its first QP attached to a multicast group
   * (`member` true) or loses its last (false). The composition root wires
   * it to the subnet manager's join and leave.
   */
  onMulticastMembership: ((port: Port, mgid: Uint8Array, member: boolean) => void) | undefined;

  /**
   * Called with the port number when a P_KeyTable Set changed a port's table. The driver sets it:
   * every SMP reaches the device through the driver (mthca_process_mad → MAD_IFC), which snoops a
   * P_KeyTable Set and dispatches IB_EVENT_PKEY_CHANGE (Linux mthca_mad.c smp_snoop); no EQE.
   */
  onPkeyTableSet: ((port: number) => void) | undefined;

  /** @internal The fabric reports a port's P_Key table changed (see {@link onPkeyTableSet}). */
  portPkeysChanged(port: Port): void {
    if (this.#initialized) this.onPkeyTableSet?.(port.portNum);
  }

  /** @internal The fabric changed a port's state: raise PORT_CHANGE (IBTA vol 1 §14.3.6 port state change). */
  portStateChanged(port: Port, from: PortLinkState): void {
    if (!this.#initialized) return;
    if (port.state === "ACTIVE") {
      this.core.asyncEvent(EqeType.PORT_CHANGE, PortChangeSubtype.ACTIVE, port.portNum);
    } else if (from === "ACTIVE") {
      this.core.asyncEvent(EqeType.PORT_CHANGE, PortChangeSubtype.DOWN, port.portNum);
    }
  }
}
