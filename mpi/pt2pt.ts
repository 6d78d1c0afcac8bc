/**
 * The point-to-point engine: MPI's matching rules and MVAPICH's protocols on
 * top of the channel.
 *
 * - **Matching** (MPI-3.1 §3.5): an arriving message matches the oldest
 *   posted receive with the same context whose source and tag equal the
 *   message's or are wildcards; a new receive matches the oldest unexpected
 *   message. Packets from one sender are handled in the order they were sent
 *   (channel sequence numbers), so messages never overtake each other.
 * - **Eager** (header + data ≤ MV2_IBA_EAGER_THRESHOLD): the data is copied
 *   into the packet; the send completes at once. An eager message nobody
 *   waits for is copied out of its vbuf into the unexpected queue, so the
 *   vbuf (a credit) goes back at once.
 * - **Rendezvous**: RTS with the size; the receiver, once matched, registers
 *   its buffer (pin-down cache) and either answers CTS with address and rkey
 *   so the sender RDMA-WRITEs the data and follows with FIN (RPUT), or, if
 *   the RTS carried the sender's buffer, RDMA-READs it and sends FIN back
 *   (RGET). Data moves zero-copy between buffers in domain memory; a JS array
 *   is staged through a pre-registered bounce buffer (copy charged).
 * - **Synchronous send** (MPI-3.1 §3.4: it "will complete successfully only
 *   if a matching receive is posted, and the receive operation has started
 *   to receive the message"): as MPICH ch3 (and MVAPICH with it), an eager
 *   one goes as EAGER_SYNC carrying its request id, and the receiver answers
 *   SYNC_ACK when a receive matches it; the send completes on the ack. A
 *   rendezvous send is synchronous already (CTS or the RDMA READ come after
 *   the match). To oneself, the send completes when a receive matches.
 * - **Cancel** (MPI-3.1 §3.8.4): a receive still posted (not matched) is
 *   taken off the queue and completes cancelled. A send still pending (a
 *   rendezvous waiting for its CTS or FIN, a synchronous one for its ack)
 *   is cancelled as MPICH ch3 does it: CANCEL_SEND_REQ asks the receiver to
 *   drop the message from its unexpected queue, and CANCEL_SEND_RESP says
 *   whether it did; if a receive matched it first, the send completes
 *   normally. An eager standard send is complete when `isend` returns and
 *   cannot be cancelled (the standard allows that).
 * - **Matched probe** (MPI-3.1 §3.8.2): the message is taken off the
 *   unexpected queue (nothing else can match it) and received later by
 *   `mrecv`.
 * - A message to oneself is copied locally.
 *
 * @module
 */
import { type Allocation, DomRegion, type Region } from "./buffer.ts";
import type { Channel, InPacket, PacketHandler } from "./channel.ts";
import { ANY_SOURCE, ANY_TAG } from "./constants.ts";
import type { Datatype } from "./datatype.ts";
import { MpiError } from "./errors.ts";
import type { MpiParams } from "./params.ts";
import type { RegistrationCache } from "./regcache.ts";
import {
  emptyStatus,
  getCount,
  Message,
  type PostedRecv,
  Request,
  type Status,
} from "./request.ts";
import { type Header, HEADER_BYTES, PacketType } from "./wire.ts";

/**
 * Message-level counters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MessageCounters } from "./pt2pt.ts";
 * const c: MessageCounters = { messages: 3, eagerSend: 1, eagerRdma: 1, rndvRput: 1, rndvRget: 0,
 *   self: 0, bytesSent: 70000, unexpected: 0, copiedBytes: 16, stagedBytes: 0 };
 * assert.equal(c.eagerSend + c.eagerRdma + c.rndvRput + c.rndvRget + c.self, c.messages);
 * ```
 */
export interface MessageCounters {
  /** Messages sent (every protocol). */
  messages: number;
  /** Eager messages sent by SEND/RECV into vbufs. */
  eagerSend: number;
  /** Eager messages sent by the RDMA fast path. */
  eagerRdma: number;
  /** Rendezvous messages by RDMA WRITE (RPUT). */
  rndvRput: number;
  /** Rendezvous messages by RDMA READ (RGET). */
  rndvRget: number;
  /** Messages to oneself. */
  self: number;
  /** Bytes of all messages sent. */
  bytesSent: number;
  /** Messages that arrived before a matching receive was posted. */
  unexpected: number;
  /** Bytes copied by the CPU for eager messages (in and out of vbufs). */
  copiedBytes: number;
  /** Bytes copied through bounce buffers (JS arrays in rendezvous). */
  stagedBytes: number;
}

interface Unexpected {
  context: number;
  src: number;
  tag: number;
  size: number;
  data?: Uint8Array;
  rts?: Rts;
  /** A synchronous send to acknowledge when a receive matches: the peer's, or this process's own. */
  sync?: { peer: number; sreq: number } | Request;
}

interface Rts {
  peer: number;
  sreq: number;
  addr: number;
  rkey: number;
  rget: boolean;
}

/** Where rendezvous data comes from or goes to, registered. */
interface Pinned {
  addr: number;
  lkey: number;
  rkey: number;
  /** Done: copy out of a bounce buffer if any, release the registration. */
  finish(): void;
}

interface Staging {
  addr: number;
  bytes: number;
  lkey: number;
  rkey: number;
}

interface SendState {
  req: Request;
  peer: number;
  src: Pinned;
}

interface RecvState {
  pr: PostedRecv;
  dst: Pinned | undefined;
  status: Status;
  size: number;
}

/**
 * One process's point-to-point engine.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsRegion } from "./buffer.ts";
 * import { mpiexec } from "./launch.ts";
 * const job = await mpiexec({ np: 1, mode: "native" }, async (comm) => {
 *   // A message to oneself on context 0 (MPI_COMM_WORLD's point-to-point context).
 *   const p2p = comm.proc.p2p;
 *   const got = new Uint8Array(3);
 *   const r = await p2p.irecv(new JsRegion(got), "uint8", 0, 9, 0, "MPI_Irecv");
 *   await p2p.isend(new JsRegion(new Uint8Array([1, 2, 3])), 0, 0, 9, 0, "MPI_Isend");
 *   return [r.done, [...got], p2p.counters.self];
 * });
 * assert.deepEqual(job.results[0], [true, [1, 2, 3], 1]);
 * ```
 */
export class PointToPoint implements PacketHandler {
  readonly counters: MessageCounters = {
    messages: 0,
    eagerSend: 0,
    eagerRdma: 0,
    rndvRput: 0,
    rndvRget: 0,
    self: 0,
    bytesSent: 0,
    unexpected: 0,
    copiedBytes: 0,
    stagedBytes: 0,
  };
  #posted: PostedRecv[] = [];
  #unexpected: Unexpected[] = [];
  #sends = new Map<number, SendState>();
  /** Eager synchronous sends waiting for their SYNC_ACK, by request id. */
  #syncSends = new Map<number, { req: Request; src: number; peer: number }>();
  /** Sends with a CANCEL_SEND_REQ on its way (one question per send). */
  #cancelling = new Set<number>();
  #recvs = new Map<number, RecvState>();
  #staging = new Map<number, Staging[]>();
  #flushQueued = false;
  #lastId = 0;
  /** Tickets of the isend/irecv calls in the order they were made, and the one posting now. */
  #ticket = 0;
  #turn = 0;
  /** Calls waiting for their turn, by ticket (each is woken when its turn comes). */
  #turnWaiters = new Map<number, () => void>();
  /** Where one-sided packets go (mpi/rma.ts sets it at the first window). */
  rma: PacketHandler | undefined;

  /**
   * @param ch the channel
   * @param params protocol parameters
   * @param cache the pin-down cache
   */
  constructor(
    readonly ch: Channel,
    readonly params: MpiParams,
    readonly cache: RegistrationCache,
  ) {}

  /** A request id (1..2^32−16, wrapping; pending requests never live that long). */
  #newId(): number {
    this.#lastId = (this.#lastId % 0xffff_fff0) + 1;
    return this.#lastId;
  }

  /** World rank of this process. */
  get rank(): number {
    return this.ch.rank;
  }

  /**
   * Wait until the isend/irecv calls made before the one holding `ticket`
   * have posted. MPI-3.1 §3.5: "If a sender sends two messages in succession
   * to the same destination, and both match the same receive, then this
   * operation cannot receive the second message if the first one is still
   * pending"; and a receive posted first takes the message both match. The
   * succession is the order of the calls: a call made while an earlier one
   * is still posting (not awaited yet, as in one `Promise.all`) waits for it,
   * so a small eager send cannot overtake a rendezvous send registering its
   * buffer. A call made when none is posting goes at once (no wait at all).
   */
  /** Run `post` when every isend/irecv call made before this one has posted. */
  async #inTurn<T>(post: () => Promise<T>): Promise<T> {
    const ticket = this.#ticket++;
    if (this.#turn !== ticket) {
      const b = this.ch.dom.engine.block<void>(
        `rank ${this.rank}: an earlier MPI_Isend/MPI_Irecv posting`,
      );
      this.#turnWaiters.set(ticket, () => b.resolve());
      await b.promise;
    }
    try {
      return await post();
    } finally {
      const next = ++this.#turn;
      const wake = this.#turnWaiters.get(next);
      if (wake) {
        this.#turnWaiters.delete(next);
        wake();
      }
    }
  }

  #charge(ns: number): void {
    this.ch.cpu.charge(ns);
  }

  #copyCost(bytes: number): void {
    if (bytes > 0) this.#charge(bytes * this.params.copyNsPerByte);
  }

  /**
   * Start sending `region` to world rank `dest`, as rank `src` of the
   * communicator with `context`. Resolves once the send is under way.
   * `stage`, if given, is called in the send's turn, once arrivals have been
   * handled, and returns the region the message leaves from instead
   * (a buffered send's copy in the attached buffer, mpi/bsend.ts).
   */
  async isend(
    region: Region,
    dest: number,
    src: number,
    tag: number,
    context: number,
    what: string,
    sync = false,
    stage?: (region: Region) => Region,
  ): Promise<Request> {
    return await this.#inTurn(() =>
      this.#postSend(region, dest, src, tag, context, what, sync, stage)
    );
  }

  async #postSend(
    user: Region,
    dest: number,
    src: number,
    tag: number,
    context: number,
    what: string,
    sync: boolean,
    stage: ((region: Region) => Region) | undefined,
  ): Promise<Request> {
    const req = new Request("send", this.rank, what, this.#newId());
    // An MPI call first catches up with its CPU time (so that what arrived
    // meanwhile is visible), then looks at arrivals before adding work.
    await this.ch.cpu.settle();
    this.ch.progress();
    const region = stage ? stage(user) : user;
    const size = region.bytes;
    this.#charge(this.params.sendOverheadNs);
    this.counters.messages++;
    this.counters.bytesSent += size;
    if (dest === this.rank) {
      const data = region.copy(0, size);
      this.#copyCost(size);
      this.counters.self++;
      // Synchronous to oneself: complete when a receive matches (#matched), maybe at once.
      this.#arrive({ context, src, tag, size, data, sync: sync ? req : undefined });
      if (!sync) req.complete(emptyStatus(src));
      return req;
    }
    if (size + HEADER_BYTES <= this.params.eagerThreshold) {
      const payload = region.copy(0, size);
      this.#copyCost(size);
      this.counters.copiedBytes += size;
      if (sync) this.#syncSends.set(req.id, { req, src, peer: dest });
      this.ch.send(dest, {
        type: sync ? PacketType.EAGER_SYNC : PacketType.EAGER,
        fields: sync ? { context, src, tag, size, sreq: req.id } : { context, src, tag, size },
        payload,
        onPosted: (ring) => ring ? this.counters.eagerRdma++ : this.counters.eagerSend++,
      });
      if (!sync) req.complete(emptyStatus(src));
      return req;
    }
    const pinned = await this.#source(region);
    const rget = this.params.rndvProtocol === "RGET";
    if (rget) this.counters.rndvRget++;
    else this.counters.rndvRput++;
    this.#sends.set(req.id, { req, peer: dest, src: pinned });
    this.ch.send(dest, {
      type: PacketType.RTS,
      fields: {
        context,
        src,
        tag,
        size,
        sreq: req.id,
        addr: rget ? pinned.addr : 0,
        rkey: rget ? pinned.rkey : 0,
        length: rget ? 1 : 0,
      },
    });
    return req;
  }

  /**
   * Post a receive of at most `region.bytes` from `source` (rank in the
   * communicator, or ANY_SOURCE) with `tag` (or ANY_TAG).
   */
  async irecv(
    region: Region,
    datatype: Datatype,
    source: number,
    tag: number,
    context: number,
    what: string,
  ): Promise<Request> {
    return await this.#inTurn(() => this.#postRecv(region, datatype, source, tag, context, what));
  }

  async #postRecv(
    region: Region,
    datatype: Datatype,
    source: number,
    tag: number,
    context: number,
    what: string,
  ): Promise<Request> {
    const req = new Request("recv", this.rank, what, this.#newId());
    await this.ch.cpu.settle();
    this.ch.progress();
    const pr: PostedRecv = { req, context, source, tag, region, datatype };
    this.#pin(region, 1);
    const i = this.#unexpected.findIndex((u) => matches(pr, u.context, u.src, u.tag));
    if (i < 0) {
      this.#posted.push(pr);
      return req;
    }
    const [u] = this.#unexpected.splice(i, 1);
    await this.#receive(pr, u);
    return req;
  }

  /** Receive the unexpected message `u` into `pr` (it matched). */
  async #receive(pr: PostedRecv, u: Unexpected): Promise<void> {
    this.#matched(u);
    if (u.data) this.#deliverEager(pr, u.src, u.tag, u.size, u.data);
    else await this.#startRndvRecv(pr, u.src, u.tag, u.size, u.rts!);
  }

  /**
   * A receive has matched `u`: a synchronous send may complete now (MPI-3.1
   * §3.4). A peer's gets SYNC_ACK (MPICH ch3's EAGER_SYNC_ACK); one to
   * oneself completes here.
   */
  #matched(u: Unexpected): void {
    const s = u.sync;
    if (!s) return;
    if (s instanceof Request) s.complete(emptyStatus(u.src));
    else this.ch.send(s.peer, { type: PacketType.SYNC_ACK, fields: { sreq: s.sreq } });
  }

  /**
   * `MPI_Cancel` of `req` (MPI-3.1 §3.8.4: "Either the cancellation
   * succeeds, or the communication succeeds, but not both"). A receive
   * still waiting for a message leaves the queue and completes with
   * `cancelled` set. A pending send to oneself leaves the local unexpected
   * queue; to a peer, CANCEL_SEND_REQ asks for its message back. Anything
   * already matched completes normally.
   */
  cancel(req: Request): void {
    if (req.done) return;
    if (req.kind === "recv") {
      const i = this.#posted.findIndex((pr) => pr.req === req);
      if (i < 0) return;
      const [pr] = this.#posted.splice(i, 1);
      this.#pin(pr.region, -1);
      req.complete({ source: pr.source, tag: pr.tag, bytes: 0, count: 0, cancelled: true });
      return;
    }
    const rndv = this.#sends.get(req.id), sync = this.#syncSends.get(req.id);
    if (rndv?.req === req || sync?.req === req) {
      if (this.#cancelling.has(req.id)) return;
      this.#cancelling.add(req.id);
      const peer = rndv?.req === req ? rndv.peer : sync!.peer;
      this.ch.send(peer, { type: PacketType.CANCEL_SEND_REQ, fields: { sreq: req.id } });
      return;
    }
    const i = this.#unexpected.findIndex((u) => u.sync === req);
    if (i >= 0) {
      const [u] = this.#unexpected.splice(i, 1);
      req.complete({ ...emptyStatus(u.src), cancelled: true });
    }
  }

  /**
   * CANCEL_SEND_REQ from `peer` for its send `sreq`: drop the message if it
   * is still unexpected here (no receive or matched probe has taken it), and
   * answer either way.
   */
  #onCancelSend(peer: number, sreq: number): void {
    const i = this.#unexpected.findIndex((u) =>
      (u.rts !== undefined && u.rts.peer === peer && u.rts.sreq === sreq) ||
      (u.sync !== undefined && !(u.sync instanceof Request) && u.sync.peer === peer &&
        u.sync.sreq === sreq)
    );
    if (i >= 0) this.#unexpected.splice(i, 1);
    this.ch.send(peer, {
      type: PacketType.CANCEL_SEND_RESP,
      fields: { sreq, length: i >= 0 ? 1 : 0 },
    });
  }

  /** CANCEL_SEND_RESP: the send `sreq` completes cancelled if its message was dropped. */
  #onCancelSendResp(sreq: number, dropped: boolean): void {
    this.#cancelling.delete(sreq);
    if (!dropped) return; // a receive matched it first: it completes normally
    const rndv = this.#sends.get(sreq);
    if (rndv) {
      this.#sends.delete(sreq);
      rndv.src.finish();
      this.#deregisterLater();
      rndv.req.complete({ ...emptyStatus(this.rank), cancelled: true });
      return;
    }
    const sync = this.#syncSends.get(sreq);
    if (!sync) {
      throw new MpiError(
        "MPI_ERR_INTERN",
        `rank ${this.rank}: CANCEL_SEND_RESP for unknown send ${sreq}`,
      );
    }
    this.#syncSends.delete(sreq);
    sync.req.complete({ ...emptyStatus(sync.src), cancelled: true });
  }

  /**
   * `MPI_Improbe`: take the oldest unexpected message matching off the
   * queue (no receive can match it any more) and return it as a
   * {@link Message}, or undefined if none is there.
   */
  mprobe(context: number, source: number, tag: number): Message | undefined {
    const i = this.#unexpected.findIndex((m) => probed(m, context, source, tag));
    if (i < 0) return undefined;
    const [u] = this.#unexpected.splice(i, 1);
    return new Message(this.rank, { source: u.src, tag: u.tag, bytes: u.size, count: u.size }, u);
  }

  /** `MPI_Imrecv`: receive a message a matched probe took (`entry` is what {@link Message.take} gave). */
  async mrecv(
    entry: unknown,
    region: Region,
    datatype: Datatype,
    what: string,
  ): Promise<Request> {
    const u = entry as Unexpected;
    return await this.#inTurn(async () => {
      const req = new Request("recv", this.rank, what, this.#newId());
      await this.ch.cpu.settle();
      this.ch.progress();
      const pr: PostedRecv = {
        req,
        context: u.context,
        source: u.src,
        tag: u.tag,
        region,
        datatype,
      };
      this.#pin(region, 1);
      await this.#receive(pr, u);
      return req;
    });
  }

  /** The status of the oldest unexpected message matching, without receiving it (MPI_Iprobe). */
  probe(context: number, source: number, tag: number): Status | undefined {
    const u = this.#unexpected.find((m) => probed(m, context, source, tag));
    return u ? { source: u.src, tag: u.tag, bytes: u.size, count: u.size } : undefined;
  }

  /** A packet from the channel, in sequence order (see {@link PacketHandler}). */
  onPacket(peer: number, p: InPacket): void {
    const h = p.header;
    switch (h.type) {
      case PacketType.EAGER: {
        const data = p.payload();
        this.#arrive({ context: h.context, src: h.src, tag: h.tag, size: h.size, data });
        return;
      }
      case PacketType.EAGER_SYNC: {
        const data = p.payload();
        const sync = { peer, sreq: h.sreq };
        this.#arrive({ context: h.context, src: h.src, tag: h.tag, size: h.size, data, sync });
        return;
      }
      case PacketType.SYNC_ACK: {
        const s = this.#syncSends.get(h.sreq);
        if (!s) {
          throw new MpiError(
            "MPI_ERR_INTERN",
            `rank ${this.rank}: SYNC_ACK for unknown send ${h.sreq}`,
          );
        }
        this.#syncSends.delete(h.sreq);
        s.req.complete(emptyStatus(s.src));
        return;
      }
      case PacketType.CANCEL_SEND_REQ:
        this.#onCancelSend(peer, h.sreq);
        return;
      case PacketType.CANCEL_SEND_RESP:
        this.#onCancelSendResp(h.sreq, h.length === 1);
        return;
      case PacketType.RTS:
        this.#arrive({
          context: h.context,
          src: h.src,
          tag: h.tag,
          size: h.size,
          rts: { peer, sreq: h.sreq, addr: h.addr, rkey: h.rkey, rget: h.length === 1 },
        });
        return;
      case PacketType.CTS:
        this.#onCts(peer, h);
        return;
      case PacketType.FIN:
        this.#onFin(h);
        return;
      default:
        // One-sided packets belong to the process's RMA engine (mpi/rma.ts), once it has a window.
        if (this.rma && h.type >= PacketType.RMA_LOCK) return this.rma.onPacket(peer, p);
        throw new MpiError(
          "MPI_ERR_INTERN",
          `rank ${this.rank}: packet type ${h.type} from rank ${peer}`,
        );
    }
  }

  /** A message (or RTS) has arrived: match it or keep it as unexpected. */
  #arrive(u: Unexpected): void {
    const i = this.#posted.findIndex((pr) => matches(pr, u.context, u.src, u.tag));
    if (i < 0) {
      this.counters.unexpected++;
      // The payload leaves its vbuf now (a copy into a temporary buffer).
      if (u.data) this.#copyCost(u.data.byteLength);
      this.#unexpected.push(u);
      return;
    }
    const [pr] = this.#posted.splice(i, 1);
    this.#matched(u);
    if (u.data) this.#deliverEager(pr, u.src, u.tag, u.size, u.data);
    else {
      const rts = u.rts!;
      this.ch.tasks.push(() => this.#startRndvRecv(pr, u.src, u.tag, u.size, rts));
    }
  }

  #deliverEager(pr: PostedRecv, src: number, tag: number, size: number, data: Uint8Array): void {
    const n = Math.min(size, pr.region.bytes);
    if (this.#freed(pr)) return;
    pr.region.write(0, data.subarray(0, n));
    this.#copyCost(n);
    this.counters.copiedBytes += n;
    this.#pin(pr.region, -1);
    this.#complete(pr, { source: src, tag, bytes: n, count: getCount(n, pr.datatype) }, size);
  }

  #complete(pr: PostedRecv, status: Status, size: number): void {
    if (size > pr.region.bytes) {
      pr.req.fail(
        new MpiError(
          "MPI_ERR_TRUNCATE",
          `${pr.req.what} on rank ${this.rank}: message of ${size} bytes from rank ${status.source} (tag ${status.tag}) does not fit the ${pr.region.bytes}-byte receive buffer`,
        ),
        status,
      );
    } else pr.req.complete(status);
  }

  #freed(pr: PostedRecv): boolean {
    const a = pr.region instanceof DomRegion ? pr.region.allocation : undefined;
    if (!a?.freed) return false;
    pr.req.fail(
      new MpiError(
        "MPI_ERR_BUFFER",
        `${pr.req.what} on rank ${this.rank}: the receive buffer was freed`,
      ),
      emptyStatus(pr.source),
    );
    return true;
  }

  async #startRndvRecv(
    pr: PostedRecv,
    src: number,
    tag: number,
    size: number,
    rts: Rts,
  ): Promise<void> {
    const accept = Math.min(size, pr.region.bytes);
    const status: Status = {
      source: src,
      tag,
      bytes: accept,
      count: getCount(accept, pr.datatype),
    };
    const dst = accept > 0 ? await this.#dest(pr.region.sub(0, accept)) : undefined;
    if (rts.rget) {
      const finish = () => {
        dst?.finish();
        this.#deregisterLater();
        this.#pin(pr.region, -1);
        this.ch.send(rts.peer, { type: PacketType.FIN, fields: { sreq: rts.sreq } });
        this.#complete(pr, status, size);
      };
      if (!dst) return finish();
      this.ch.rdma(rts.peer, {
        read: true,
        laddr: dst.addr,
        len: accept,
        lkey: dst.lkey,
        raddr: rts.addr,
        rkey: rts.rkey,
        done: finish,
      });
      return;
    }
    this.#recvs.set(pr.req.id, { pr, dst, status, size });
    this.ch.send(rts.peer, {
      type: PacketType.CTS,
      fields: {
        sreq: rts.sreq,
        rreq: pr.req.id,
        addr: dst?.addr ?? 0,
        rkey: dst?.rkey ?? 0,
        length: accept,
      },
    });
  }

  #onCts(peer: number, h: Header): void {
    const s = this.#sends.get(h.sreq);
    if (!s) {
      throw new MpiError("MPI_ERR_INTERN", `rank ${this.rank}: CTS for unknown send ${h.sreq}`);
    }
    if (h.length > 0) {
      this.ch.rdma(peer, {
        read: false,
        laddr: s.src.addr,
        len: h.length,
        lkey: s.src.lkey,
        raddr: h.addr,
        rkey: h.rkey,
        done: () => this.#finishSend(h.sreq),
      });
    }
    this.ch.send(peer, { type: PacketType.FIN, fields: { rreq: h.rreq } });
    if (h.length === 0) this.#finishSend(h.sreq);
  }

  #onFin(h: Header): void {
    if (h.rreq !== 0) {
      const r = this.#recvs.get(h.rreq);
      if (!r) {
        throw new MpiError(
          "MPI_ERR_INTERN",
          `rank ${this.rank}: FIN for unknown receive ${h.rreq}`,
        );
      }
      this.#recvs.delete(h.rreq);
      r.dst?.finish();
      this.#deregisterLater();
      this.#pin(r.pr.region, -1);
      this.#complete(r.pr, r.status, r.size);
      return;
    }
    this.#finishSend(h.sreq);
  }

  #finishSend(id: number): void {
    const s = this.#sends.get(id);
    if (!s) {
      throw new MpiError("MPI_ERR_INTERN", `rank ${this.rank}: completion of unknown send ${id}`);
    }
    this.#sends.delete(id);
    s.src.finish();
    this.#deregisterLater();
    s.req.complete(emptyStatus(this.rank));
  }

  /** Registrations given back (cache off, evicted, invalidated) are deregistered by deferred work. */
  #deregisterLater(): void {
    if (this.cache.pendingDeregistrations === 0 || this.#flushQueued) return;
    this.#flushQueued = true;
    this.ch.tasks.push(async () => {
      this.#flushQueued = false;
      await this.cache.flush();
    });
  }

  #pin(region: Region, delta: number): void {
    const a: Allocation | undefined = region instanceof DomRegion ? region.allocation : undefined;
    if (a) a.pins += delta;
  }

  /** The send buffer, registered (domain memory) or copied into a bounce buffer (JS array). */
  async #source(region: Region): Promise<Pinned> {
    if (region instanceof DomRegion) {
      const reg = await this.cache.acquire(region.addr, region.bytes);
      this.#pin(region, 1);
      return {
        addr: region.addr,
        lkey: reg.lkey,
        rkey: reg.rkey,
        finish: () => {
          reg.release();
          this.#pin(region, -1);
        },
      };
    }
    const stg = await this.#takeStaging(region.bytes);
    this.ch.dom.memory.write(stg.addr, region.read(0, region.bytes));
    this.#copyCost(region.bytes);
    this.counters.stagedBytes += region.bytes;
    return { addr: stg.addr, lkey: stg.lkey, rkey: stg.rkey, finish: () => this.#giveStaging(stg) };
  }

  /** The receive buffer, registered, or a bounce buffer copied out when done. */
  async #dest(region: Region): Promise<Pinned> {
    if (region instanceof DomRegion) {
      const reg = await this.cache.acquire(region.addr, region.bytes);
      return { addr: region.addr, lkey: reg.lkey, rkey: reg.rkey, finish: () => reg.release() };
    }
    const stg = await this.#takeStaging(region.bytes);
    return {
      addr: stg.addr,
      lkey: stg.lkey,
      rkey: stg.rkey,
      finish: () => {
        region.write(0, this.ch.dom.memory.read(stg.addr, region.bytes));
        this.#copyCost(region.bytes);
        this.counters.stagedBytes += region.bytes;
        this.#giveStaging(stg);
      },
    };
  }

  /** A pre-registered bounce buffer of at least `bytes` (power-of-two classes, kept for reuse). */
  async #takeStaging(bytes: number): Promise<Staging> {
    let cls = 4096;
    while (cls < bytes) cls *= 2;
    const free = this.#staging.get(cls);
    if (free && free.length > 0) return free.pop()!;
    let addr: number;
    try {
      addr = this.ch.dom.memory.alloc(cls, 4096);
    } catch (e) {
      throw new MpiError(
        "MPI_ERR_NO_MEM",
        `rank ${this.rank}: no memory for a ${cls}-byte bounce buffer: ${(e as Error).message}`,
      );
    }
    // Registered once and kept (never released): the bounce buffers stay pinned.
    const reg = await this.cache.acquire(addr, cls);
    return { addr, bytes: cls, lkey: reg.lkey, rkey: reg.rkey };
  }

  #giveStaging(s: Staging): void {
    let list = this.#staging.get(s.bytes);
    if (!list) this.#staging.set(s.bytes, list = []);
    list.push(s);
  }

  /** Receives posted and not matched yet (for diagnostics). */
  get postedCount(): number {
    return this.#posted.length;
  }

  /** Whether a receive posted on `context` waits for a message (a freed communicator's id stays taken). */
  postedOn(context: number): boolean {
    return this.#posted.some((pr) => pr.context === context);
  }

  /** Unexpected messages held (for diagnostics). */
  get unexpectedCount(): number {
    return this.#unexpected.length;
  }
}

/** Whether a probe of (`context`, `source`, `tag`) sees unexpected message `m`. */
function probed(m: Unexpected, context: number, source: number, tag: number): boolean {
  return m.context === context && (source === ANY_SOURCE || source === m.src) &&
    (tag === ANY_TAG || tag === m.tag);
}

function matches(pr: PostedRecv, context: number, src: number, tag: number): boolean {
  return pr.context === context && (pr.source === ANY_SOURCE || pr.source === src) &&
    (pr.tag === ANY_TAG || pr.tag === tag);
}
