/**
 * What the three transport engines (requester, completer, responder) share:
 * the QP table, the per-port transmit arbiter, packet header construction
 * from a QP's path, completion writing, and the move to the error state
 * with its flush (IBTA vol 1 §10.3.1: a QP entering Error completes every
 * outstanding WR with "flushed in error").
 *
 * @module
 */

import { EqeType, HwQpState, QpServiceType } from "./commands.ts";
import type { HcaCore } from "./core.ts";
import type { CompletionQueue } from "./cq.ts";
import { MCAST_LID_BASE } from "./mcg.ts";
import type { Profile } from "../sim/profiles/schema.ts";
import { Line } from "../sim/line.ts";
import {
  type Cqe,
  CQE_WQE_COUNTER_MASK,
  CqeFlags,
  CqeOpcode,
  CqeSyndrome,
  CqeVendorErr,
} from "./cqe.ts";
import { type PacketInit, WirePacket } from "./packet.ts";
import type { Port } from "./port.ts";
import { type Qp, type SendWqe, WqeState } from "./qp.ts";

/**
 * The default partition's P_Key (from `pkey.ts`, where the partition rules are).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_PKEY } from "./transport.ts";
 * assert.equal(DEFAULT_PKEY, 0xffff); // the default partition, full membership
 * ```
 */
export { DEFAULT_PKEY } from "./pkey.ts";

/**
 * Transmit queue entry owners: whose window a packet counts against.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TxWindow } from "./transport.ts";
 * // Read-response packets count against the responder's window, not the requester's.
 * const windowOf = (isResponse: boolean) => isResponse ? TxWindow.RESPONDER : TxWindow.REQUESTER;
 * assert.equal(windowOf(true), TxWindow.RESPONDER);
 * ```
 */
export const TxWindow = { NONE: 0, REQUESTER: 1, RESPONDER: 2 } as const;

/**
 * Smallest number of packets a QP may have between "payload DMA issued"
 * and "accepted by the port", per direction of work. Small enough that one
 * streaming QP cannot queue a whole message ahead of others.
 */
const TX_WINDOW = 4;

/**
 * The send engine's read-ahead for a profile and path MTU (default the
 * profile's): enough packets to cover the DMA read latency twice over at bus
 * speed (so a long message streams at min(bus, link)), never below
 * {@link TX_WINDOW}. On PCI-X (0.9 µs, 2 KiB packets) that is 4; on PCIe
 * Gen5 (0.6 µs, 50 GB/s, 4 KiB) 18. The engine reads ahead in bytes, so a
 * smaller MTU gets more packets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { txWindowFor } from "./transport.ts";
 * import { MODERN_GEN5_NDR, PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * assert.equal(txWindowFor(PCIX_SDR_2006), 4);
 * assert.equal(txWindowFor(MODERN_GEN5_NDR), 18);
 * ```
 */
export function txWindowFor(p: Profile, mtu: number = p.link.mtu): number {
  const inFlight = (p.pci.dmaReadLatencyNs * p.pci.bytesPerSec) / 1e9;
  return Math.max(TX_WINDOW, 2 * Math.ceil(inFlight / mtu) + 2);
}

/** Per-port transmit arbiter: FIFO of finished packets waiting for the link. */
class TxQueue {
  wires: WirePacket[] = [];
  owner: (Qp | undefined)[] = [];
  kind: number[] = [];
  line = new Line([this.wires, this.owner], [this.kind]);
  waiting = false;
  /** The pump, called back when the port can send. */
  pumpNext: (() => void) | undefined = undefined;
  constructor(readonly port: Port) {}
}

/**
 * Hooks the transport calls into its engines (set by the device).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { TransportEngines } from "./transport.ts";
 * // The hooks a device gives its transport; a do-nothing set for a unit test:
 * const idle: TransportEngines = {
 *   kickRequester() {}, kickResponder() {}, localError() {}, checkDrained() {}, unreliableSent() {},
 * };
 * assert.equal(Object.keys(idle).length, 5);
 * ```
 */
export interface TransportEngines {
  /** The requester may send again (window opened, RNR wait over, fence lifted). */
  kickRequester(qp: Qp): void;
  /** The responder's read-response stream may continue. */
  kickResponder(qp: Qp): void;
  /** A WQE failed a local check: complete it in error once all before it completed. */
  localError(qp: Qp): void;
  /** SQD: see whether the send queue has drained. */
  checkDrained(qp: Qp): void;
  /** UC/UD: the last packet of `w` left; it completes now. */
  unreliableSent(qp: Qp, w: SendWqe): void;
}

/**
 * Shared transport services of one HCA.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hca } from "./device.ts";
 * import { Transport } from "./transport.ts";
 * const hca = new Hca({ engine: new Engine(), memory: new MachineMemory(16 << 20),
 *   irq: new InterruptController(), profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * const tp = new Transport(hca.core);
 * assert.equal(tp.txWindow, 4); // txWindowFor(PCIX_SDR_2006)
 * assert.equal(tp.port(1), undefined); // no ports bound yet
 * ```
 */
export class Transport {
  /** QP contexts by QPN (every allocated entry, including RESET ones). */
  readonly qps: (Qp | undefined)[] = [];
  #tx: TxQueue[] = [];
  /** Engines (set once by the device). */
  engines!: TransportEngines;
  /** A packet to a multicast LID left by `port` (the device loops it back to its own members). */
  multicastSent: ((wire: WirePacket, port: Port) => void) | undefined;
  /**
   * Request packets the responder holds behind receive WQE fetches, every QP of the HCA
   * together (`ResponderState.queue`): the device counts them against its receive buffer.
   */
  requestsHeld = 0;

  /**
   * Create it (hardware state; the device builds these).
   * @param core device internals */
  constructor(readonly core: HcaCore) {
    this.txWindow = txWindowFor(core.profile);
  }

  /** Packets per QP and direction between DMA and the port at the profile's MTU ({@link txWindowFor}). */
  readonly txWindow: number;
  /** {@link txWindowFor} by path MTU code (the requester asks once per packet). */
  #windows: number[] = [];
  #sendEngineFree = 0;

  /** Bind the fabric ports (index 0 = port 1). */
  bindPorts(ports: readonly Port[]): void {
    this.#tx = ports.map((p) => new TxQueue(p));
  }

  /** The port object for a 1-based port number, if bound. */
  port(n: number): Port | undefined {
    return this.#tx[n - 1]?.port;
  }

  /** Packets a QP may have between DMA and the port at its path MTU ({@link txWindowFor}). */
  windowFor(qp: Qp): number {
    const code = qp.mtu;
    let w = this.#windows[code];
    if (w === undefined) {
      w = txWindowFor(this.core.profile, qp.mtuBytes);
      if (code >= 0 && code < 16 && Number.isInteger(code)) this.#windows[code] = w;
    }
    return w;
  }

  /**
   * Claim the send engine for one data packet (request or read response):
   * ns from now until its header is built and its payload read can be
   * issued. One packet at a time per HCA, `hca.txPacketNs` each; the engine
   * works ahead of the DMA and the wire, so it limits only the packet rate.
   */
  sendEngine(): number {
    const now = this.core.engine.now;
    const start = this.#sendEngineFree > now ? this.#sendEngineFree : now;
    this.#sendEngineFree = start + this.core.profile.hca.txPacketNs;
    return this.#sendEngineFree - now;
  }

  /**
   * Queue a packet on port `portNum` (its wire bytes are built only if a
   * capture, a fault rule or a test asks). `window` says which of the QP's
   * windows it counts against until the port takes it.
   */
  send(portNum: number, init: PacketInit, qp: Qp | undefined, window: number): void {
    const q = this.#tx[portNum - 1];
    if (!q) {
      // No cable: the packet goes nowhere (the peer's absence shows as timeouts).
      this.#sent(qp, window);
      return;
    }
    const wire = new WirePacket(init);
    if (q.line.length === 0 && !q.waiting) {
      // What #pump does with the queue's only packet, without storing it in the queue when the
      // port takes it at once (a young packet stored into the queue's long-lived arrays costs a
      // write barrier's slow path, for nothing if it leaves right away).
      if (q.port.trySend(wire)) return this.#taken(q, wire, qp, window);
      this.#queue(q, wire, qp, window);
      return this.#waitFor(q, wire);
    }
    this.#queue(q, wire, qp, window);
    if (!q.waiting) this.#pump(q);
  }

  #queue(q: TxQueue, wire: WirePacket, qp: Qp | undefined, window: number): void {
    const i = q.line.add();
    q.wires[i] = wire;
    q.owner[i] = qp;
    q.kind[i] = window;
  }

  #pump(q: TxQueue): void {
    q.waiting = false;
    const line = q.line;
    while (line.length > 0) {
      const b = q.wires[line.head];
      if (!q.port.trySend(b)) return this.#waitFor(q, b);
      const qp = q.owner[line.head];
      const kind = q.kind[line.head];
      line.drop();
      this.#taken(q, b, qp, kind);
    }
  }

  /** The port cannot take the queue's head `b` now: pump again when it can. */
  #waitFor(q: TxQueue, b: WirePacket): void {
    q.waiting = true;
    q.port.whenReady(b.length, q.pumpNext ?? this.#pumpOf(q));
  }

  /** The port took packet `b`: count it, loop a multicast one back, free its window place. */
  #taken(q: TxQueue, b: WirePacket, qp: Qp | undefined, kind: number): void {
    this.core.counters.packetsSent++;
    // DLID 0xC000..0xFFFE (IBTA vol 1 §4.1.1): a multicast packet.
    if (b.dlid >= 0xc000 && b.dlid !== 0xffff) this.multicastSent?.(b, q.port);
    this.#sent(qp, kind);
  }

  /** The queue's pump callback, made once per queue (a closure made in `#pump` would allocate its context on every call). */
  #pumpOf(q: TxQueue): () => void {
    return q.pumpNext = () => this.#pump(q);
  }

  #sent(qp: Qp | undefined, kind: number): void {
    if (!qp) return;
    if (kind === TxWindow.REQUESTER) {
      qp.req.txInFlight--;
      this.engines.kickRequester(qp);
    } else if (kind === TxWindow.RESPONDER) {
      qp.resp.txInFlight--;
      this.engines.kickResponder(qp);
    }
  }

  /**
   * LRH/GRH part of a packet to the QP's primary path (connected QPs). The
   * LRH record is shared by the QP's packets while its fields stay the same
   * (no one changes a packet's LRH once made), so a packet does not make one.
   */
  route(qp: Qp, init: PacketInit): PacketInit {
    const port = this.port(qp.port);
    const av = qp.path;
    const last = qp.lastLrh;
    if (
      last !== undefined && av.grh === undefined && last.dlid === av.dlid &&
      last.sl === (av.sl ?? 0) && last.slid === slidOf(port, av)
    ) {
      init.lrh = last;
      return init;
    }
    routeTo(init, port, av);
    qp.lastLrh = Object.freeze(init.lrh);
    return init;
  }

  /**
   * P_Key the QP's packets carry, and the one it takes on receive: the entry of its port's P_Key
   * table its `pkey_index` names (IBTA vol 1 §10.9; Linux rxe_req.c before 5.10 put
   * `port->pkey_tbl[qp->attr.pkey_index]` in the BTH). Read at every packet, as the device reads
   * its table: an empty entry gives the invalid P_Key 0, which no receiver takes. ACKs and read
   * responses carry the responder QP's.
   */
  pkey(qp: Qp): number {
    return this.#tx[qp.port - 1]?.port.pkeys[qp.pkeyIndex] ?? 0;
  }

  // ---- completions ----------------------------------------------------
  // CQEs in the device's terms (FORMATS.md §7): a good send completion
  // carries the WQE's opcode, a good receive the BTH opcode of the last
  // packet, an error one a syndrome and the error opcode of its queue.

  /** The send-queue CQE of `w` completed successfully (written only if signaled). */
  sqComplete(qp: Qp, w: SendWqe): void {
    if (!w.signaled) return;
    const p = w.wqe!;
    this.#toCq(qp, qp.sendCq, {
      qpn: qp.qpn,
      imm: 0,
      byteLen: p.length,
      slid: 0,
      sl: 0,
      dlidPathBits: 0,
      srcQp: 0,
      wqeCounter: w.counter & CQE_WQE_COUNTER_MASK,
      syndrome: 0,
      vendorErr: CqeVendorErr.NONE,
      opcode: p.opcode,
      flags: CqeFlags.SQ,
      pkeyIndex: 0,
    }, false);
  }

  /** Error CQE for send WQE `counter` (always written; raises a completion event if armed). */
  sqError(qp: Qp, counter: number, syndrome: number, vendorErr: number): void {
    const cqe = errorCqe(qp.qpn, counter, syndrome, vendorErr, CqeOpcode.ERROR_SEND, CqeFlags.SQ);
    this.#toCq(qp, qp.sendCq, cqe, true);
  }

  /** A receive WQE completed successfully: a message of `f.byteLen` bytes arrived. */
  rqComplete(
    qp: Qp,
    counter: number,
    fromSrq: boolean,
    f: {
      /** BTH opcode of the message's last packet. */
      opcode: number;
      byteLen: number;
      imm?: number;
      withImm?: boolean;
      grh?: boolean;
      slid: number;
      /** The DLID the message came to: one of the port's LIDs, or a multicast LID. */
      dlid: number;
      sl: number;
      srcQp: number;
      solicited: boolean;
    },
  ): void {
    let flags = fromSrq ? CqeFlags.SRQ : 0;
    if (f.withImm) flags |= CqeFlags.WITH_IMM;
    if (f.grh) flags |= CqeFlags.GRH;
    if (f.solicited) flags |= CqeFlags.SOLICITED;
    // Which of the port's 2^LMC LIDs the message came to; none for a multicast LID (mthca's
    // CQE `g_mlpath`; Linux qib_ud_rcv: `dlid & ((1 << lmc) - 1)`, 0 for multicast).
    const lmc = this.port(qp.port)?.lmc ?? 0;
    const dlidPathBits = f.dlid >= MCAST_LID_BASE ? 0 : f.dlid & ((1 << lmc) - 1);
    this.#toCq(qp, qp.recvCq, {
      qpn: qp.qpn,
      imm: f.imm ?? 0,
      byteLen: f.byteLen,
      slid: f.slid,
      sl: f.sl,
      dlidPathBits,
      srcQp: f.srcQp,
      wqeCounter: counter & CQE_WQE_COUNTER_MASK,
      syndrome: 0,
      vendorErr: CqeVendorErr.NONE,
      opcode: f.opcode,
      flags,
      pkeyIndex: 0,
    }, f.solicited);
  }

  /** Error CQE for receive WQE `counter` (of the SRQ if `fromSrq`). */
  rqError(qp: Qp, counter: number, fromSrq: boolean, syndrome: number, vendorErr: number): void {
    const flags = fromSrq ? CqeFlags.SRQ : 0;
    this.#toCq(
      qp,
      qp.recvCq,
      errorCqe(qp.qpn, counter, syndrome, vendorErr, CqeOpcode.ERROR_RECV, flags),
      true,
    );
  }

  /**
   * Write `qp`'s CQE to `cq`. A CQ that cannot take it (it overran now, or has been in error
   * since) loses the CQE, and the QP, which can report no more completions, moves to Error
   * with a Local Work Queue Catastrophic Error (WQ_CATAS_ERROR: the verbs' QP_FATAL). IBTA vol 1
   * C9-218: "A Requester Class F error occurs when the CQ is inaccessible or full and an attempt
   * is made to complete a WQE. The Affected QP shall be moved to the error state and affiliated
   * asynchronous errors generated"; C11-37: the CQ Error "will result in an Affiliated
   * Asynchronous Error for any associated Work Queues when they attempt to use that CQ". The
   * move is an event of its own, at once: the engine that completed the WQE ends the step it is
   * in, and the QP's new epochs stop what it had scheduled. A QP already in Error (flushing into
   * the full CQ) has no state left to lose and raises nothing more.
   */
  #toCq(qp: Qp, cq: CompletionQueue, cqe: Cqe, solicited: boolean): void {
    if (cq.post(cqe, solicited)) return;
    if (qp.state === HwQpState.ERR || qp.state === HwQpState.RESET) return;
    const engine = this.core.engine;
    engine.post(
      0,
      () => this.toError(qp, EqeType.WQ_CATAS_ERROR),
      engine.tag("hca.wq_catas"),
    );
  }

  // ---- error state ----------------------------------------------------

  /**
   * Move a QP to ERR (or, for a UC/UD send-side error with `sqOnly`, to SQE)
   * and flush: every WQE the device holds or that was posted and not
   * fetched completes with WR_FLUSH_ERR (IBTA vol 1 §10.3.1, §11.5.4);
   * `asyncType` raises an affiliated async event (e.g. WQ_ACCESS_ERROR).
   */
  toError(qp: Qp, asyncType = -1, sqOnly = false): void {
    if (qp.state === HwQpState.ERR || qp.state === HwQpState.RESET) return;
    const next = sqOnly && qp.type !== QpServiceType.RC ? HwQpState.SQE : HwQpState.ERR;
    if (qp.state === HwQpState.SQE && next === HwQpState.SQE) return;
    qp.state = next;
    qp.req.epoch++;
    if (next === HwQpState.ERR) qp.resp.epoch++;
    if (qp.comp.timer) {
      this.core.engine.cancel(qp.comp.timer);
      qp.comp.timer = undefined;
    }
    if (asyncType >= 0) this.core.asyncEvent(asyncType, 0, qp.qpn);
    this.flushSend(qp);
    if (next === HwQpState.ERR) this.flushRecv(qp);
  }

  /** Flush the send queue (fetched and unfetched WQEs). */
  flushSend(qp: Qp): void {
    const req = qp.req;
    for (let i = qp.sqHead; i < qp.sq.length; i++) {
      const w = qp.sq[i];
      if (w.state !== WqeState.DONE) {
        this.sqError(qp, w.counter, CqeSyndrome.WR_FLUSH_ERR, CqeVendorErr.FLUSH);
      }
    }
    qp.clearSq();
    req.index = 0;
    req.rdAtomicOutstanding = 0;
    // WQEs being fetched now come after those in `sq`, then the unfetched ones.
    for (let c = (req.fetchCounter - req.fetching) >>> 0; c !== qp.sqProducer; c = (c + 1) >>> 0) {
      this.sqError(qp, c, CqeSyndrome.WR_FLUSH_ERR, CqeVendorErr.FLUSH);
    }
    req.fetching = 0;
    req.fetchEpoch++;
    req.fetchCounter = qp.sqProducer;
    req.wqeSizes.fill(0);
  }

  /** Flush the receive side: a message in progress, and the RQ (not the SRQ's WQEs). */
  flushRecv(qp: Qp): void {
    const resp = qp.resp;
    const r = resp.wqe;
    if (r) {
      this.rqError(qp, r.counter, r.fromSrq, CqeSyndrome.WR_FLUSH_ERR, CqeVendorErr.FLUSH);
      resp.wqe = undefined;
    }
    if (!qp.srq) {
      for (let c = resp.rqConsumer; c !== qp.rqProducer; c = (c + 1) >>> 0) {
        this.rqError(qp, c, false, CqeSyndrome.WR_FLUSH_ERR, CqeVendorErr.FLUSH);
      }
      resp.rqConsumer = qp.rqProducer;
    } else {
      // IBTA §10.2.9.5: a QP on an SRQ that enters Error reports Last WQE Reached.
      this.core.asyncEvent(EqeType.SRQ_QP_LAST_WQE, 0, qp.qpn);
    }
    this.dropHeld(qp);
    resp.busy = false;
    resp.responses = [];
  }

  /** Discard the request packets `qp`'s responder holds (its receive side flushed or reset). */
  dropHeld(qp: Qp): void {
    const resp = qp.resp;
    this.requestsHeld -= resp.queue.length - resp.queueHead;
    resp.queue = [];
    resp.queueHead = 0;
  }
}

/**
 * An error CQE: only the QPN, WQE counter, syndrome, vendor error, the error
 * opcode of its queue and the queue flags are valid; the rest is 0 (FORMATS.md §7).
 */
function errorCqe(
  qpn: number,
  counter: number,
  syndrome: number,
  vendorErr: number,
  opcode: number,
  flags: number,
): Cqe {
  return {
    qpn,
    imm: 0,
    byteLen: 0,
    slid: 0,
    sl: 0,
    dlidPathBits: 0,
    srcQp: 0,
    wqeCounter: counter & CQE_WQE_COUNTER_MASK,
    syndrome,
    vendorErr,
    opcode,
    flags,
    pkeyIndex: 0,
  };
}

/**
 * Where a packet goes: a connected QP's primary path, or the address vector of a UD WQE.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AddressVector } from "./transport.ts";
 * // A path's LRH SLID is the port's base LID with the low LMC bits from the source path bits.
 * const slid = (portLid: number, lmc: number, av: AddressVector) =>
 *   portLid | ((av.srcPathBits ?? 0) & ((1 << lmc) - 1));
 * assert.equal(slid(0x10, 2, { dlid: 0x20, srcPathBits: 3 }), 0x13);
 * assert.equal(slid(0x10, 0, { dlid: 0x20, srcPathBits: 3 }), 0x10);
 * ```
 */
export interface AddressVector {
  /** Destination LID. */
  dlid: number;
  /** Service level (default 0). */
  sl?: number;
  /** Source path bits added to the port's LID (default 0). */
  srcPathBits?: number;
  /** GRH fields; without them (or without a port GID) the packet is local. */
  grh?: { dgid: Uint8Array; flowLabel?: number; hopLimit?: number; trafficClass?: number };
}

/**
 * A packet's LRH before its route is known, for a {@link PacketInit} that
 * {@link routeTo} routes next (it replaces the record, never changes it): one
 * frozen record instead of one per packet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { routeTo, UNROUTED } from "./transport.ts";
 * import { OP } from "./opcode.ts";
 * import type { PacketInit } from "./packet.ts";
 * import type { Port } from "./port.ts";
 * const init: PacketInit = { lrh: UNROUTED, bth: { opcode: OP.RC_ACKNOWLEDGE, destQp: 9, psn: 0 } };
 * routeTo(init, { lid: 3, lmc: 0 } as Port, { dlid: 7 });
 * assert.deepEqual([init.lrh, UNROUTED], [{ dlid: 7, slid: 3, sl: 0 }, { dlid: 0, slid: 0 }]);
 * assert.ok(Object.isFrozen(UNROUTED));
 * ```
 */
export const UNROUTED: PacketInit["lrh"] = Object.freeze({ dlid: 0, slid: 0 });

/** The SLID a packet from `port` on path `av` carries. */
function slidOf(port: Port | undefined, av: AddressVector): number {
  // A port answers to the 2^LMC LIDs from its base LID (IBTA vol 1 §7.11.1): the source path
  // bits pick one of them, and only their low LMC bits count, as Linux qib/hfi1 build the SLID
  // (`lid |= src_path_bits & ((1 << lmc) - 1)`). No QP sends with another port's LID.
  const pathBits = (av.srcPathBits ?? 0) & ((1 << (port?.lmc ?? 0)) - 1);
  return ((port?.lid ?? 0) | pathBits) & 0xffff;
}

/**
 * Fill the LRH (and GRH for a global destination) of `init` for a packet
 * leaving `port` towards `av`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { routeTo } from "./transport.ts";
 * import { OP } from "./opcode.ts";
 * import type { PacketInit } from "./packet.ts";
 * import type { Port } from "./port.ts";
 * const init = { bth: { opcode: OP.RC_SEND_ONLY, destQp: 9, psn: 0 } } as PacketInit;
 * // A port of LIDs 0x10..0x13 (LMC 2): the path bits' low two bits pick the SLID.
 * const port = { lid: 0x10, lmc: 2 } as Port;
 * routeTo(init, port, { dlid: 7, sl: 2, srcPathBits: 0x7 });
 * assert.deepEqual(init.lrh, { dlid: 7, slid: 0x13, sl: 2 });
 * assert.equal(init.grh, undefined); // no GRH asked for: a local packet
 * // LMC 0: the port has one LID, whatever the path bits say.
 * routeTo(init, { lid: 0x10, lmc: 0 } as Port, { dlid: 7, srcPathBits: 1 });
 * assert.equal(init.lrh.slid, 0x10);
 * ```
 */
export function routeTo(
  init: PacketInit,
  port: Port | undefined,
  av: AddressVector,
): PacketInit {
  init.lrh = { dlid: av.dlid, slid: slidOf(port, av), sl: av.sl ?? 0 };
  if (av.grh && port) {
    init.grh = {
      sgid: port.gid,
      dgid: av.grh.dgid,
      tClass: av.grh.trafficClass,
      flowLabel: av.grh.flowLabel,
      hopLmt: av.grh.hopLimit,
    };
  }
  return init;
}
