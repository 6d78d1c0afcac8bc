/**
 * The channel: how packets move between two MPI processes over RC queue
 * pairs, as MVAPICH's `ch3:mrail` channel does it.
 *
 * - One RC QP per peer, all sharing one CQ, connected at `MPI_Init`.
 * - **Vbufs**: one registered region holds the receive vbufs (`prepostDepth +
 *   noopExtra` posted per connection), the send vbuf pool and the fast-path
 *   rings. A packet sent by SEND/RECV is copied into a send vbuf and lands in
 *   one of the peer's posted receive vbufs.
 * - **Credits**: a sender may have at most as many packets outstanding as
 *   the receiver has receive vbufs posted, so no SEND ever meets an empty
 *   receive queue (no RNR NAK). Ordinary packets keep `noopExtra` credits in
 *   reserve; explicit credit updates (NOOP) may use them, so credits always
 *   flow back. Returned credits ride in every header; a NOOP goes out when
 *   `creditNotifyThreshold` are owed and nothing else would carry them.
 * - **RDMA fast path**: after `rdmaEagerLimit` eager packets from a peer
 *   (up to `pollingSetLimit` peers), a process gives that peer a ring of
 *   `numRdmaBuffer` slots in its memory; the peer then RDMA-writes small
 *   packets straight into the next slot and the receiver polls the slot's
 *   head and tail (no receive WQE, no CQE at the receiver). Ring slots are
 *   credits of their own, returned in headers.
 * - Packets carry a per-connection sequence number; the two paths can be
 *   noticed out of order, so packets are processed strictly in sequence.
 * - **Progress**: a process makes progress only inside MPI calls. A helper
 *   process drains the CQ (a thread spinning on it would see the same
 *   completions at the same times) and wakes the rank by a write to its wake
 *   word; the rank spins on that word and on each ring's next slot.
 *
 * @module
 */
import {
  Access,
  connectQp,
  type Context,
  type Cq,
  type Mr,
  type Pd,
  type Qp,
  QpType,
  SendFlags,
  VerbsError,
  WcStatus,
  wcStatusName,
  type WorkCompletion,
  WrOpcode,
} from "../drivers/verbs/mod.ts";
import type { Domain } from "../platform/mod.ts";
import type { AddressSpace } from "../sim/address_space.ts";
import { MpiError } from "./errors.ts";
import type { MpiParams } from "./params.ts";
import { SpinWait } from "./spin.ts";
import {
  decodeHeader,
  encodeHeader,
  type Header,
  HEADER_BYTES,
  PacketType,
  TAIL_BYTES,
  tailMatches,
  writeTail,
} from "./wire.ts";

/**
 * Channel-level counters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ChannelCounters } from "./channel.ts";
 * const c: ChannelCounters = { packets: 10, ringPackets: 4, creditUpdates: 0, creditStalls: 0,
 *   fastPathPeers: 1, outOfOrder: 0, rdmaWrites: 0, rdmaReads: 0 };
 * assert.equal(c.packets - c.ringPackets, 6);
 * ```
 */
export interface ChannelCounters {
  /** Packets posted (SEND or fast-path RDMA WRITE). */
  packets: number;
  /** Of those, by the RDMA fast path. */
  ringPackets: number;
  /** Explicit credit updates (NOOP packets) sent. */
  creditUpdates: number;
  /** Packets that had to wait in the backlog (no credit, send slot or vbuf). */
  creditStalls: number;
  /** Peers whose packets this process receives on a fast-path ring. */
  fastPathPeers: number;
  /** Packets noticed before an earlier one and held back for sequence order. */
  outOfOrder: number;
  /** RDMA WRITEs posted (rendezvous data, one-sided puts). */
  rdmaWrites: number;
  /** RDMA READs posted (rendezvous data, one-sided gets). */
  rdmaReads: number;
}

/**
 * A packet to send: header fields (the channel fills in sequence number and
 * credits) and the payload.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { OutPacket } from "./channel.ts";
 * import { PacketType } from "./wire.ts";
 * const p: OutPacket = { type: PacketType.FIN, fields: { rreq: 7 } };
 * assert.equal(p.fields.rreq, 7);
 * ```
 */
export interface OutPacket {
  /** Packet type. */
  type: number;
  /** Header fields other than type, seq and credits. */
  fields: Partial<Header>;
  /** Data after the header. */
  payload?: Uint8Array;
  /** Called when the packet is posted (`ring`: by the fast path). */
  onPosted?: (ring: boolean) => void;
}

/**
 * A one-sided operation (rendezvous data) to post in order with the packets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { OutRdma } from "./channel.ts";
 * const op: OutRdma = { read: false, laddr: 0x1000, len: 4096, lkey: 1, raddr: 0x2000, rkey: 2,
 *   done: () => {} };
 * assert.equal(op.read, false);
 * ```
 */
export interface OutRdma {
  /** RDMA READ (RGET) instead of RDMA WRITE (RPUT). */
  read: boolean;
  /** Local address. */
  laddr: number;
  /** Bytes. */
  len: number;
  /** Local key. */
  lkey: number;
  /** Remote address. */
  raddr: number;
  /** Remote key. */
  rkey: number;
  /** Called (inside progress) when the operation completes. */
  done: () => void;
}

type OutOp = { packet: OutPacket; rdma?: undefined } | { rdma: OutRdma; packet?: undefined };

/**
 * A packet as received: its header and a way to read its payload (valid
 * until the handler returns).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { InPacket } from "./channel.ts";
 * import { decodeHeader, HEADER_BYTES } from "./wire.ts";
 * const p: InPacket = { header: decodeHeader(new Uint8Array(HEADER_BYTES)), payload: () => new Uint8Array(0) };
 * assert.equal(p.header.len, p.payload().byteLength);
 * ```
 */
export interface InPacket {
  /** Decoded header. */
  header: Header;
  /** Copy of the payload. */
  payload(): Uint8Array;
}

/**
 * What the layer above does with packets (the point-to-point engine).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PacketHandler } from "./channel.ts";
 * import { decodeHeader, HEADER_BYTES } from "./wire.ts";
 * const seen: number[] = [];
 * const h: PacketHandler = { onPacket: (peer) => void seen.push(peer) };
 * h.onPacket(3, { header: decodeHeader(new Uint8Array(HEADER_BYTES)), payload: () => new Uint8Array(0) });
 * assert.deepEqual(seen, [3]);
 * ```
 */
export interface PacketHandler {
  /** A packet from `peer` (world rank), in sequence order. */
  onPacket(peer: number, p: InPacket): void;
}

/**
 * Work the progress engine advances on each pass while any is pending (the
 * process's non-blocking collective schedules, mpi/schedule.ts). `advance`
 * runs what became possible and says whether anything moved.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ProgressWork } from "./channel.ts";
 * let steps = 2;
 * const w: ProgressWork = {
 *   get pending() { return steps > 0; },
 *   advance: () => Promise.resolve(steps-- > 0),
 * };
 * while (w.pending) await w.advance();
 * assert.equal(steps, 0);
 * ```
 */
export interface ProgressWork {
  /** Whether anything waits to be advanced (when not, the engine does not call `advance`). */
  readonly pending: boolean;
  /** Move everything that can move now; true if anything did. */
  advance(): Promise<boolean>;
}

interface Ring {
  addr: number;
  slots: number;
  head: number;
  /** Address of the tail being waited for, if the head has landed and the tail not. */
  waitTail: number;
  /** `engine.eventsRun` when the ring was last found without a complete packet. */
  idleAt: number;
  /** Machine address of each slot's head byte (the CPU polls it without the page walk). */
  heads: number[];
  /** The address space {@link heads} were found in (a guest that migrated has another). */
  space: AddressSpace;
}

interface RemoteRing {
  addr: number;
  rkey: number;
  slots: number;
  next: number;
  avail: number;
  mirror: number;
}

/** Per-peer connection state. */
class Connection {
  /** Credits: receive vbufs the peer has posted for us, minus packets in flight. */
  credits: number;
  sendSeq = 0;
  recvSeq = 0;
  sq = 0;
  backlog: OutOp[] = [];
  /** Receive vbufs reposted and not yet reported to the peer. */
  owed = 0;
  /** Ring slots consumed and not yet reported. */
  ringOwed = 0;
  /** Eager packets received over SEND/RECV (fast-path trigger). */
  eagerRecv = 0;
  ring: Ring | undefined;
  remote: RemoteRing | undefined;
  held = new Map<number, { header: Header; data: Uint8Array }>();

  constructor(readonly peer: number, readonly qp: Qp, credits: number) {
    this.credits = credits;
  }
}

type Inflight =
  | { kind: "recv"; conn: Connection; addr: number }
  | { kind: "send"; conn: Connection; vbuf: number; unsolicited: boolean }
  | { kind: "ring"; conn: Connection; unsolicited: boolean }
  | { kind: "rdma"; conn: Connection; done: () => void; unsolicited: boolean };

/**
 * How to reach one peer: its port's LID and the QP number it created for
 * each process (0 for itself), published at `MPI_Init`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PeerInfo } from "./channel.ts";
 * const info: PeerInfo = { lid: 3, qpns: [0x48, 0, 0x52] };
 * assert.equal(info.qpns.length, 3);
 * ```
 */
export interface PeerInfo {
  /** LID of the peer's port. */
  lid: number;
  /** Peer's QP number toward each world rank. */
  qpns: number[];
}

const ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;
const ZERO_HEAD = new Uint8Array(1);
const ZERO_TAIL = new Uint8Array(TAIL_BYTES);

/**
 * One process's channel: its verbs resources, connections and progress engine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../mod.ts";
 * import { Channel } from "./channel.ts";
 * import { mpiParams } from "./params.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const dom = cluster.addHost({ name: "n0", hypervisor: false }).os;
 * await cluster.start();
 * await cluster.run(async () => {
 *   // Rank 0 of a 3-process job: one RC QP toward each of ranks 1 and 2.
 *   const ch = await Channel.open(dom, 0, 3, mpiParams(cluster.profile, 3));
 *   const info = ch.info();
 *   assert.equal(info.qpns[0], 0);
 *   assert.ok(info.qpns[1] > 0 && info.qpns[2] > 0 && info.lid > 0);
 *   await ch.close();
 * });
 * ```
 */
export class Channel {
  readonly cpu: Domain["cpu"];
  readonly counters: ChannelCounters = {
    packets: 0,
    ringPackets: 0,
    creditUpdates: 0,
    creditStalls: 0,
    fastPathPeers: 0,
    outOfOrder: 0,
    rdmaWrites: 0,
    rdmaReads: 0,
  };
  /** Deferred asynchronous work (registrations) run by {@link waitFor}. */
  readonly tasks: (() => Promise<void>)[] = [];
  /**
   * Work that moves only when the progress engine runs (set by the process):
   * the schedules of non-blocking collectives, which {@link waitFor} and
   * {@link poll} advance after handling arrivals, as MPICH's progress engine
   * calls MPIDU_Sched_progress on every pass.
   */
  work: ProgressWork | undefined;
  /** Set when the job aborts or a fatal error occurs; thrown by the next wait. */
  failure: MpiError | undefined;
  #conns: (Connection | undefined)[] = [];
  #byQpn = new Map<number, Connection>();
  #ops = new Map<number, Inflight>();
  #nextOp = 1;
  #freeVbufs: number[] = [];
  #ringsFree: number[] = [];
  #mirrorsFree: number[] = [];
  #polling: Connection[] = [];
  #dirty = new Set<Connection>();
  /** Completions polled and not handled yet; `read`: the rank's own poll already paid for reading it. */
  #wcs: { wc: WorkCompletion; read: boolean }[] = [];
  /** The rank computes: the progress engine does not poll (see {@link pause}). */
  #paused = false;
  /** Resumes the CQ helper parked while the rank computes. */
  #unpark: (() => void) | undefined;
  /** Stops the CQ helper's current wait. */
  #stopSpin: AbortController | undefined;
  #handler: PacketHandler | undefined;
  #spin: SpinWait;
  #wakeAddr: number;
  #wakeCount = 0;
  /** MPI_Finalize started: no more unsolicited packets (credit updates, ring offers). */
  #closing = false;
  /** The device is released: the CQ helper stops. */
  #closed = false;
  /** Posted operations other than credit updates and ring offers, not yet completed. */
  #solicited = 0;
  #lid = 0;

  private constructor(
    readonly dom: Domain,
    readonly rank: number,
    readonly size: number,
    readonly params: MpiParams,
    readonly ctx: Context,
    readonly pd: Pd,
    readonly cq: Cq,
    readonly mr: Mr,
    readonly layout: PoolLayout,
    qps: (Qp | undefined)[],
  ) {
    this.cpu = dom.cpu;
    this.#spin = new SpinWait(dom);
    this.#wakeAddr = layout.wake;
    for (let i = 0; i < layout.sendVbufs; i++) {
      this.#freeVbufs.push(layout.sendBase + i * params.vbufTotalSize);
    }
    for (let i = layout.rings - 1; i >= 0; i--) {
      this.#ringsFree.push(i);
      this.#mirrorsFree.push(i);
    }
    qps.forEach((qp, peer) => {
      if (!qp) return;
      const c = new Connection(peer, qp, params.prepostDepth + params.noopExtra);
      this.#conns[peer] = c;
      this.#byQpn.set(qp.qpNum, c);
    });
    this.#lid = ctx.queryPort(1).lid;
  }

  /**
   * Open the device in `dom`, allocate and register the vbuf and ring pools
   * and create one RC QP per peer (not yet connected).
   */
  static async open(dom: Domain, rank: number, size: number, params: MpiParams): Promise<Channel> {
    const ctx = await dom.openDevice();
    const pd = await ctx.allocPd();
    const peers = size - 1;
    const perConn = params.prepostDepth + params.noopExtra;
    const dev = ctx.queryDevice();
    const cqe = Math.min(dev.maxCqe, Math.max(16, peers * (params.maxSendWqe + perConn) + 16));
    const cq = await ctx.createCq(cqe);
    const layout = poolLayout(params, peers);
    let base: number;
    try {
      base = dom.memory.alloc(layout.total, 4096);
    } catch (e) {
      throw new MpiError(
        "MPI_ERR_NO_MEM",
        `MPI_Init on rank ${rank} (${dom.name}): cannot allocate ${layout.total} bytes of vbufs and rings: ${
          (e as Error).message
        }`,
      );
    }
    const abs = absolute(layout, base);
    // Rings and the wake word must start zeroed (a reused allocation may hold old bytes).
    dom.memory.write(abs.wake, new Uint8Array(4096));
    if (abs.rings > 0) {
      dom.memory.write(
        abs.ringBase,
        new Uint8Array(abs.rings * params.numRdmaBuffer * params.fastPathBufSize),
      );
    }
    const mr = await pd.regMr(base, layout.total, ACCESS);
    const qps: (Qp | undefined)[] = [];
    for (let p = 0; p < size; p++) {
      qps.push(
        p === rank ? undefined : await pd.createQp({
          type: QpType.RC,
          sendCq: cq,
          recvCq: cq,
          cap: {
            maxSendWr: params.maxSendWqe,
            maxRecvWr: perConn,
            maxSendSge: 1,
            maxRecvSge: 1,
            maxInlineData: Math.min(params.maxInline, dev.maxInlineData),
          },
        }),
      );
    }
    return new Channel(dom, rank, size, params, ctx, pd, cq, mr, abs, qps);
  }

  /** What peers need to connect to this process. */
  info(): PeerInfo {
    return {
      lid: this.#lid,
      qpns: Array.from({ length: this.size }, (_, p) => this.#conns[p]?.qp.qpNum ?? 0),
    };
  }

  /**
   * Connect every QP to its peer (INIT → RTR → RTS), post the receive vbufs
   * and start draining the CQ. Every peer must have posted its receives
   * before anyone sends (the caller fences after this).
   */
  async connect(peers: readonly PeerInfo[], handler: PacketHandler): Promise<void> {
    this.#handler = handler;
    const dev = this.ctx.queryDevice();
    const rd = Math.max(1, dev.maxQpRdAtom);
    const perConn = this.params.prepostDepth + this.params.noopExtra;
    let vb = this.layout.recvBase;
    for (const c of this.#conns) {
      if (!c) continue;
      await connectQp(c.qp, {
        remoteQpn: peers[c.peer].qpns[this.rank],
        dlid: peers[c.peer].lid,
        pathMtu: this.dom.profile.link.mtu,
        maxRdAtomic: rd,
        maxDestRdAtomic: rd,
        accessFlags: Access.REMOTE_WRITE | Access.REMOTE_READ,
        // MVAPICH2 starts every connection at one fixed PSN (MV2_DEFAULT_PSN, 0).
        sqPsn: 0,
        rqPsn: 0,
      });
      for (let i = 0; i < perConn; i++) {
        const id = this.#nextOp++;
        this.#ops.set(id, { kind: "recv", conn: c, addr: vb });
        this.#postRecv(c, id, vb);
        vb += this.params.vbufTotalSize;
      }
    }
    if (this.size > 1) {
      this.dom.engine.spawn(`rank ${this.rank} progress`, () => this.#drainCq()).catch(() => {});
    }
  }

  #postRecv(c: Connection, id: number, addr: number): void {
    c.qp.postRecv({
      wrId: BigInt(id),
      sgList: [{ addr, length: this.params.vbufTotalSize, lkey: this.mr.lkey }],
    });
  }

  /**
   * The helper that spins on the CQ for the rank and wakes it: the CQ half of
   * MVAPICH's progress loop, running while the rank is in the MPI library.
   * It is parked while the rank computes ({@link pause}).
   */
  async #drainCq(): Promise<void> {
    const kick = new Uint8Array(4);
    for (;;) {
      if (this.#closed) return;
      if (this.#paused && this.cq.pollsWhileWaiting) {
        const b = this.dom.engine.block<void>(
          `rank ${this.rank} CQ helper, parked while computing`,
        );
        this.#unpark = () => b.resolve();
        await b.promise;
        continue;
      }
      // Only a polling wait is ever cancelled (pause): a watch on the CQ's memory takes no
      // signal, whose listener would be added and removed on every wait for nothing.
      const stop = this.#stopSpin = this.cq.pollsWhileWaiting ? new AbortController() : undefined;
      let wcs: WorkCompletion[];
      try {
        wcs = await this.cq.pollUntil(1, stop && { signal: stop.signal });
      } catch (e) {
        if (this.#closed) return;
        if (e instanceof VerbsError && e.code === "ECANCELED") continue;
        this.failure ??= new MpiError(
          "MPI_ERR_INTERN",
          `rank ${this.rank}: polling the completion queue failed: ${(e as Error).message}`,
        );
        this.kick();
        return;
      }
      // The rank has the completions once the helper's CPU is done with all but reading them
      // (which the rank charges itself): a split guest's poll is a round trip to dom0.
      const extra = this.cpu.debt() - wcs.length * this.params.cqePollNs;
      if (extra > 0) await this.dom.engine.sleep(extra);
      for (const wc of wcs) this.#wcs.push({ wc, read: false });
      if (this.#closed) return;
      new DataView(kick.buffer).setUint32(0, ++this.#wakeCount, true);
      this.dom.memory.write(this.#wakeAddr, kick);
    }
  }

  /** Wake the rank if it is spinning (abort, fatal error). */
  kick(): void {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, ++this.#wakeCount, true);
    this.dom.memory.write(this.#wakeAddr, b);
  }

  /** Queue `p` for `peer` (world rank); posted now if credits allow, else kept in order. */
  send(peer: number, p: OutPacket): void {
    const c = this.#conn(peer);
    c.backlog.push({ packet: p });
    this.#flush(c);
    if (c.backlog.length > 0) this.counters.creditStalls++;
  }

  /** Queue an RDMA WRITE or READ toward `peer`, in order with its packets. */
  rdma(peer: number, op: OutRdma): void {
    const c = this.#conn(peer);
    c.backlog.push({ rdma: op });
    this.#flush(c);
  }

  #conn(peer: number): Connection {
    const c = this.#conns[peer];
    if (!c) {
      throw new MpiError("MPI_ERR_INTERN", `rank ${this.rank}: no connection to rank ${peer}`);
    }
    return c;
  }

  /** Whether `p` goes by the peer's ring. */
  #ringFits(c: Connection, p: OutPacket): boolean {
    return !!c.remote && c.remote.avail > 0 && p.type !== PacketType.NOOP &&
      HEADER_BYTES + (p.payload?.byteLength ?? 0) + TAIL_BYTES <= this.params.fastPathBufSize;
  }

  /** Post what the connection's resources allow, in order; then a NOOP if credits are owed. */
  #flush(c: Connection): void {
    if (this.#closed) return;
    while (c.backlog.length > 0) {
      const op = c.backlog[0];
      if (c.sq >= this.params.maxSendWqe) break;
      if (op.rdma) {
        c.backlog.shift();
        this.#postRdma(c, op.rdma);
        continue;
      }
      const p = op.packet;
      if (this.#ringFits(c, p)) {
        c.backlog.shift();
        this.#postPacket(c, p, true);
        continue;
      }
      // Ordinary packets keep noopExtra credits for credit updates (see module doc).
      if (c.credits <= this.params.noopExtra || this.#freeVbufs.length === 0) break;
      c.backlog.shift();
      this.#postPacket(c, p, false);
    }
    const t = this.params.creditNotifyThreshold;
    if (
      !this.#closing && (c.owed >= t || c.ringOwed >= t) && c.credits > 0 &&
      c.sq < this.params.maxSendWqe &&
      this.#freeVbufs.length > 0
    ) {
      this.counters.creditUpdates++;
      this.#postPacket(c, { type: PacketType.NOOP, fields: {} }, false);
    }
  }

  #postPacket(c: Connection, p: OutPacket, ring: boolean): void {
    const len = p.payload?.byteLength ?? 0;
    const f = p.fields;
    // Written out rather than spread over defaults: no generic copy of `fields` per packet.
    const h: Header = {
      type: p.type,
      vbufCredits: c.owed,
      seq: c.sendSeq++,
      ringCredits: c.ringOwed,
      context: f.context ?? 0,
      src: f.src ?? 0,
      tag: f.tag ?? 0,
      size: f.size ?? 0,
      len,
      sreq: f.sreq ?? 0,
      rreq: f.rreq ?? 0,
      rkey: f.rkey ?? 0,
      addr: f.addr ?? 0,
      length: f.length ?? 0,
    };
    c.owed = 0;
    c.ringOwed = 0;
    const bytes = this.#packetBytes(HEADER_BYTES + len + (ring ? TAIL_BYTES : 0));
    encodeHeader(bytes, h);
    if (len > 0) bytes.set(p.payload!, HEADER_BYTES);
    const inline = bytes.byteLength <= this.params.maxInline ? SendFlags.INLINE : 0;
    const id = this.#nextOp++;
    const unsolicited = p.type === PacketType.NOOP || p.type === PacketType.RING;
    if (!unsolicited) this.#solicited++;
    if (ring) {
      const r = c.remote!;
      writeTail(bytes, HEADER_BYTES + len, h.seq);
      const slot = r.next;
      const local = r.mirror + slot * this.params.fastPathBufSize;
      this.dom.memory.write(local, bytes);
      r.next = (slot + 1) % r.slots;
      r.avail--;
      this.#ops.set(id, { kind: "ring", conn: c, unsolicited });
      c.qp.postSend({
        wrId: BigInt(id),
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED | inline,
        sgList: [{ addr: local, length: bytes.byteLength, lkey: this.mr.lkey }],
        remoteAddr: r.addr + slot * this.params.fastPathBufSize,
        rkey: r.rkey,
      });
      this.counters.ringPackets++;
    } else {
      const vbuf = this.#freeVbufs.pop()!;
      this.dom.memory.write(vbuf, bytes);
      c.credits--;
      this.#ops.set(id, { kind: "send", conn: c, vbuf, unsolicited });
      c.qp.postSend({
        wrId: BigInt(id),
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED | inline,
        sgList: [{ addr: vbuf, length: bytes.byteLength, lkey: this.mr.lkey }],
      });
    }
    c.sq++;
    this.counters.packets++;
    p.onPosted?.(ring);
  }

  /**
   * `n` bytes of the channel's one packet buffer: a packet is built there
   * and copied into registered memory at once, so one buffer serves them all.
   */
  #packetBytes(n: number): Uint8Array {
    if (this.#packetBuf.length < n) this.#packetBuf = new Uint8Array(n);
    return this.#packetBuf.subarray(0, n);
  }
  #packetBuf = new Uint8Array(0);

  #postRdma(c: Connection, op: OutRdma): void {
    const id = this.#nextOp++;
    this.#ops.set(id, { kind: "rdma", conn: c, done: op.done, unsolicited: false });
    this.#solicited++;
    c.qp.postSend({
      wrId: BigInt(id),
      opcode: op.read ? WrOpcode.RDMA_READ : WrOpcode.RDMA_WRITE,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: op.laddr, length: op.len, lkey: op.lkey }],
      remoteAddr: op.raddr,
      rkey: op.rkey,
    });
    c.sq++;
    if (op.read) this.counters.rdmaReads++;
    else this.counters.rdmaWrites++;
  }

  /**
   * Handle everything that has arrived or completed (completions first,
   * then each polled ring), then post what became possible. Returns whether
   * anything happened.
   */
  progress(): boolean {
    // One pass is enough: nothing can arrive while this synchronous code runs
    // (completions and DMA writes happen between awaits).
    let did = false;
    while (this.#wcs.length > 0) {
      const { wc, read } = this.#wcs.shift()!;
      if (!read) this.cpu.charge(this.params.cqePollNs);
      this.#onCompletion(wc);
      did = true;
    }
    for (const c of this.#polling) if (this.#pollRing(c)) did = true;
    for (const c of this.#dirty) this.#flush(c);
    this.#dirty.clear();
    return did;
  }

  #onCompletion(wc: WorkCompletion): void {
    const id = Number(wc.wrId);
    const op = this.#ops.get(id);
    if (!op) {
      throw new MpiError(
        "MPI_ERR_INTERN",
        `rank ${this.rank}: completion for unknown work request ${id}`,
      );
    }
    if (wc.status !== WcStatus.SUCCESS) {
      // A credit update to a peer that already finalized is never acknowledged: harmless.
      if (this.#closing && op.kind !== "recv" && op.unsolicited) return;
      const name = wcStatusName(wc.status);
      this.failure ??= new MpiError(
        "MPI_ERR_INTERN",
        `rank ${this.rank}: ${op.kind} work request to rank ${op.conn.peer} completed with ${name}`,
      );
      return;
    }
    const c = op.conn;
    this.#dirty.add(c);
    switch (op.kind) {
      case "recv": {
        this.dom.memory.space.readInto(op.addr, this.#headerBuf);
        const header = decodeHeader(this.#headerBuf);
        const addr = op.addr;
        this.#arrive(c, header, () => this.dom.memory.read(addr + HEADER_BYTES, header.len), () => {
          this.#postRecv(c, id, addr);
          c.owed++;
        }, false);
        return;
      }
      case "send":
        this.#freeVbufs.push(op.vbuf);
        // Another connection may have waited for a vbuf.
        for (const other of this.#conns) {
          if (other && other.backlog.length > 0) this.#dirty.add(other);
        }
        break;
      case "ring":
        break;
      case "rdma":
        op.done();
        break;
    }
    c.sq--;
    if (!op.unsolicited) this.#solicited--;
    this.#ops.delete(id);
  }

  /**
   * A received packet's header and a ring slot's tail, read here to be checked (a header is
   * decoded into an object of its own).
   */
  #headerBuf = new Uint8Array(HEADER_BYTES);
  #ringTail = new Uint8Array(TAIL_BYTES);

  /** Read every complete packet waiting in `c`'s ring. */
  #pollRing(c: Connection): boolean {
    const r = c.ring!;
    // Only the HCA writes a ring, and only inside an event: no event since the
    // last look, nothing new (saves reading the slot again).
    const events = this.dom.engine.eventsRun;
    if (r.idleAt === events) return false;
    const mem = this.dom.memory;
    const slotBytes = this.params.fastPathBufSize;
    let any = false;
    for (;;) {
      const slot = r.addr + r.head * slotBytes;
      if (this.#headByte(r) === 0) {
        r.waitTail = 0;
        r.idleAt = events;
        break;
      }
      const space = mem.space;
      space.readInto(slot, this.#headerBuf);
      const header = decodeHeader(this.#headerBuf);
      const tailAt = slot + HEADER_BYTES + header.len;
      space.readInto(tailAt, this.#ringTail);
      if (!tailMatches(this.#ringTail, header.seq)) {
        r.waitTail = tailAt;
        r.idleAt = events;
        break;
      }
      r.waitTail = 0;
      this.cpu.charge(this.params.cqePollNs);
      any = true;
      this.#dirty.add(c);
      this.#arrive(c, header, () => mem.read(slot + HEADER_BYTES, header.len), () => {
        mem.write(slot, ZERO_HEAD);
        mem.write(tailAt, ZERO_TAIL);
        r.head = (r.head + 1) % r.slots;
        c.ringOwed++;
      }, true);
    }
    return any;
  }

  /** A packet noticed: apply its credits, then hand it up in sequence order. */
  #arrive(
    c: Connection,
    header: Header,
    payload: () => Uint8Array,
    release: () => void,
    viaRing: boolean,
  ): void {
    c.credits += header.vbufCredits;
    if (c.remote) c.remote.avail += header.ringCredits;
    if (header.seq !== c.recvSeq) {
      this.counters.outOfOrder++;
      c.held.set(header.seq, { header, data: header.len > 0 ? payload() : new Uint8Array(0) });
      release();
      return;
    }
    this.#process(c, header, payload, viaRing);
    release();
    c.recvSeq++;
    for (let h = c.held.get(c.recvSeq); h; h = c.held.get(c.recvSeq)) {
      c.held.delete(c.recvSeq);
      const data = h.data;
      this.#process(c, h.header, () => data, false);
      c.recvSeq++;
    }
  }

  #process(c: Connection, header: Header, payload: () => Uint8Array, viaRing: boolean): void {
    this.cpu.charge(this.params.recvOverheadNs);
    if (header.type === PacketType.NOOP) return;
    if (header.type === PacketType.RING) {
      const mirror = this.#mirrorsFree.pop();
      if (mirror === undefined) return; // no mirror slot: keep using SEND/RECV to this peer
      c.remote = {
        addr: header.addr,
        rkey: header.rkey,
        slots: header.length,
        next: 0,
        avail: header.length,
        mirror: this.layout.mirrorBase +
          mirror * this.params.numRdmaBuffer * this.params.fastPathBufSize,
      };
      return;
    }
    const eager = header.type === PacketType.EAGER || header.type === PacketType.EAGER_SYNC;
    if (eager && !viaRing) this.#maybeRing(c);
    this.#handler!.onPacket(c.peer, { header, payload });
  }

  /** MVAPICH's adaptive fast path: give a busy peer a ring (MV2_RDMA_EAGER_LIMIT). */
  #maybeRing(c: Connection): void {
    if (!this.params.rdmaFastPath || c.ring || this.#closing) return;
    if (++c.eagerRecv < this.params.rdmaEagerLimit) return;
    if (this.#polling.length >= this.params.pollingSetLimit) return;
    const idx = this.#ringsFree.pop();
    if (idx === undefined) return;
    const addr = this.layout.ringBase +
      idx * this.params.numRdmaBuffer * this.params.fastPathBufSize;
    const slots = this.params.numRdmaBuffer;
    const space = this.dom.memory.space;
    c.ring = { addr, slots, head: 0, waitTail: 0, idleAt: -1, heads: [], space };
    this.#findHeads(c.ring, space);
    this.#polling.push(c);
    this.counters.fastPathPeers++;
    this.send(c.peer, {
      type: PacketType.RING,
      fields: { addr, rkey: this.mr.rkey, length: this.params.numRdmaBuffer },
    });
  }

  /** Whether a ring holds a complete packet or completions wait (no need to block). */
  #pending(): boolean {
    if (this.#wcs.length > 0) return true;
    const events = this.dom.engine.eventsRun;
    for (const c of this.#polling) {
      const r = c.ring!;
      if (r.idleAt === events) continue;
      // Something happened since the last look: a new head, or the tail of a
      // packet whose head was already seen (a fast-path packet of two wire
      // packets whose tail landed while the rank was paying CPU debt). Either
      // way the ring must be read again before the rank sleeps on it.
      if (this.#headByte(r) !== 0) return true;
    }
    return false;
  }

  /** The head byte of the ring's next slot. */
  #headByte(r: Ring): number {
    const mem = this.dom.memory, machine = mem.machine;
    if (!machine) return mem.read(r.addr + r.head * this.params.fastPathBufSize, 1)[0];
    // A live migration (Nomad) moves the guest's pages to other frames on
    // another host: the ring is where it was in the guest, not in machine memory.
    if (r.space !== mem.space) this.#findHeads(r, mem.space);
    return machine.readByte(r.heads[r.head]);
  }

  /** Where each slot's head byte of `r` is in machine memory under `space`. */
  #findHeads(r: Ring, space: AddressSpace): void {
    const size = this.params.fastPathBufSize;
    r.heads = Array.from({ length: r.slots }, (_, k) => space.translate(r.addr + k * size));
    r.space = space;
  }

  /**
   * Make progress until `done()` holds: handle arrivals, run deferred work,
   * and spin (in virtual time) while nothing is there. `label` says what
   * the rank waits for (shown if the job deadlocks).
   */
  async waitFor(done: () => boolean, label: string): Promise<void> {
    for (;;) {
      if (this.failure) throw this.failure;
      this.progress();
      while (this.tasks.length > 0) {
        await this.tasks.shift()!();
        this.progress();
      }
      if (this.work?.pending) await this.work.advance();
      if (this.failure) throw this.failure;
      if (done()) return;
      // Pay the CPU debt first; what arrived meanwhile is handled before spinning.
      if (this.cpu.debt() > 0) {
        await this.cpu.settle();
        if (this.#pending() || this.failure) continue;
      }
      const ranges: [number, number][] = [[this.#wakeAddr, 4]];
      for (const c of this.#polling) {
        const r = c.ring!;
        ranges.push(
          r.waitTail
            ? [r.waitTail, TAIL_BYTES]
            : [r.addr + r.head * this.params.fastPathBufSize, 1],
        );
      }
      await this.#spin.wait(ranges, `${label} on rank ${this.rank}`);
    }
  }

  /**
   * The rank computes (`comm.compute`): the progress engine stops polling
   * until {@link resume}, as MVAPICH's does, which runs only inside MPI
   * calls. Where waiting on the CQ means polling (a split guest, where each
   * poll is a round trip through dom0), the helper's wait is cancelled and it
   * parks. Where it is a watch on the CQ's memory, the wait costs nothing and
   * what it notices is the rank's only at its next call, as after a poll
   * then: it goes on.
   */
  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    if (this.cq.pollsWhileWaiting) this.#stopSpin?.abort();
  }

  /**
   * Back in the MPI library after computing. If the helper was parked, one
   * poll of the CQ takes what completed meanwhile (the progress engine's
   * pass at the next call), and the helper spins again.
   */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    const unpark = this.#unpark;
    this.#unpark = undefined;
    if (!unpark) return;
    if (!this.#closed) {
      for (const wc of this.cq.poll(this.cq.cqe)) this.#wcs.push({ wc, read: true });
    }
    unpark();
  }

  /** Make progress once without waiting (for `test`); charges an empty poll if nothing was there. */
  async poll(): Promise<void> {
    if (this.failure) throw this.failure;
    // Catch up with the CPU time spent so far, so that a loop of tests moves
    // virtual time forward and sees what arrives.
    await this.cpu.settle();
    let did = this.progress();
    while (this.tasks.length > 0) {
      await this.tasks.shift()!();
      this.progress();
    }
    if (this.work?.pending && await this.work.advance()) did = true;
    if (!did) this.cpu.charge(this.params.emptyPollNs);
    if (this.failure) throw this.failure;
  }

  /**
   * MPI_Finalize, after the closing barrier: send no more credit updates or
   * ring offers, wait until every packet and RDMA operation this process
   * posted has been acknowledged, and release the device.
   */
  async close(): Promise<void> {
    this.#closing = true;
    await this.waitFor(
      () => this.#solicited === 0 && this.#conns.every((c) => !c || c.backlog.length === 0),
      "MPI_Finalize",
    );
    this.#closed = true;
    await this.ctx.close();
  }
}

/**
 * Where the vbufs and rings live (offsets; {@link absolute} makes them addresses).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PCIX_SDR_2006 } from "../mod.ts";
 * import { mpiParams } from "./params.ts";
 * import { poolLayout } from "./channel.ts";
 * const l = poolLayout(mpiParams(PCIX_SDR_2006, 4), 3);
 * assert.equal(l.rings, 3);
 * assert.ok(l.total >= 3 * 70 * 12288);
 * ```
 */
export interface PoolLayout {
  /** The wake word's page. */
  wake: number;
  /** First receive vbuf. */
  recvBase: number;
  /** First send vbuf. */
  sendBase: number;
  /** Send vbufs. */
  sendVbufs: number;
  /** First ring (this process's receive rings). */
  ringBase: number;
  /** First mirror (staging for RDMA writes into peers' rings). */
  mirrorBase: number;
  /** Rings (and mirrors) available. */
  rings: number;
  /** Bytes in all. */
  total: number;
}

/**
 * The pool layout for `peers` connections.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PCIX_SDR_2006 } from "../mod.ts";
 * import { mpiParams } from "./params.ts";
 * import { poolLayout } from "./channel.ts";
 * assert.equal(poolLayout(mpiParams(PCIX_SDR_2006, 1), 0).rings, 0);
 * ```
 */
export function poolLayout(params: MpiParams, peers: number): PoolLayout {
  const wake = 0;
  const recvBase = 4096;
  const recv = peers * (params.prepostDepth + params.noopExtra) * params.vbufTotalSize;
  const sendBase = recvBase + recv;
  const sendVbufs = peers > 0 ? params.sendVbufs : 0;
  const ringBase = align(sendBase + sendVbufs * params.vbufTotalSize);
  const rings = params.rdmaFastPath ? Math.min(peers, params.pollingSetLimit) : 0;
  const ringBytes = params.numRdmaBuffer * params.fastPathBufSize;
  const mirrorBase = ringBase + rings * ringBytes;
  const total = align(mirrorBase + rings * ringBytes);
  return { wake, recvBase, sendBase, sendVbufs, ringBase, mirrorBase, rings, total };
}

function align(n: number): number {
  return Math.ceil(n / 4096) * 4096;
}

function absolute(l: PoolLayout, base: number): PoolLayout {
  return {
    ...l,
    wake: base + l.wake,
    recvBase: base + l.recvBase,
    sendBase: base + l.sendBase,
    ringBase: base + l.ringBase,
    mirrorBase: base + l.mirrorBase,
  };
}
