/**
 * A domain kernel's management datagram service: what carries the
 * connection manager's MADs (REQ, REP, RTU, REJ, DREQ, DREP), the subnet
 * administrator's PathRecord queries and the IPoIB ARP packets in and out
 * of the domain.
 *
 * On real InfiniBand the CM and SA MADs travel on QP1 (the GSI), which the
 * HCA driver owns, and ARP on the IPoIB driver's UD QP. The device model
 * has no QP1 (the subnet manager reaches ports without MADs on the wire,
 * `hca/subnet_manager.ts`), and a guest's kernel has no QP1 of its own
 * under VMM-bypass anyway. So each domain's kernel runs this service on
 * one ordinary UD QP of its own device — created through the same verbs
 * and, in a guest, the same frontend as any QP, so no new dom0 operation
 * exists for it — and sends every MAD as a 256-byte UD datagram through
 * the fabric: the wire time of the handshake is the fabric's, and in a
 * guest the completion interrupt reaches the service through dom0 as any
 * completion event does. What differs from the IBTA: the service's QP
 * number is learnt by ARP (the IPoIB address carries it) instead of being
 * the well-known 1, and its Q_Key is 0x00010000 — GSI's 0x80010000 is a
 * controlled Q_Key an unprivileged QP may not use (IBTA vol. 1 §10.2.4).
 *
 * The service's QP is in one partition, its domain's IPoIB interface's
 * (`CmAgent.start`'s `partition`): every datagram it sends carries that
 * P_Key and it takes only those whose P_Key matches, so ARP and CM MADs
 * stay within the partition and an answer goes out in the one its request
 * came in on. The subnet manager's node runs one more service for each other
 * partition it answers PathRecord queries in (`RdmaCm.saAddress`), as its
 * GSI takes any P_Key of the port's table.
 *
 * Time it charges: each datagram received wakes the service (the
 * completion event and `cpu.wakeupNs`), then costs `cm.madProcessNs` for a
 * CM MAD, `cm.saProcessNs` for a PathRecord query answered here (only on
 * the subnet manager's node) and `cm.arpProcessNs` for an ARP packet.
 *
 * @module
 */
import { QpState, QpType, SendFlags, WcStatus, WrOpcode } from "../uapi/enums.ts";
import { VerbsError } from "../uapi/errors.ts";
import type { Ah } from "./ah.ts";
import type { CompChannel } from "./comp_channel.ts";
import type { Context } from "./context.ts";
import type { Engine, EventHandle } from "../../sim/engine.ts";
import type { Cq } from "./cq.ts";
import {
  decodeCm,
  decodePathRecord,
  encodePathRecord,
  MAD_BYTES,
  madStatus,
  MGMT_CLASS_CM,
  MGMT_CLASS_SA,
  type PathRecord,
  SA_ERR_NO_RECORDS,
  setMadStatus,
} from "./cm_mad.ts";
import type { CmMsg } from "./cm_mad.ts";
import {
  ARP_FRAME_BYTES,
  ARP_MCAST_SOLICIT,
  ARP_RETRANS_TIME_MS,
  decodeArp,
  encodeArp,
  type IpoibNetwork,
} from "./ipoib.ts";
import type { Mr } from "./mr.ts";
import type { Pd } from "./pd.ts";
import type { Qp } from "./qp.ts";
import { DEFAULT_PKEY } from "../../hca/pkey.ts";

/**
 * The Q_Key of every management service QP (see the module text).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CM_AGENT_QKEY } from "./cm_agent.ts";
 * assert.equal(CM_AGENT_QKEY & 0x80000000, 0); // not a controlled Q_Key
 * ```
 */
export const CM_AGENT_QKEY = 0x00010000;
/** UD receive buffers carry a 40-byte GRH slot before the payload (IBTA §11.4.1.2). */
const GRH_BYTES = 40;
const SLOT = 512;
const RECV_SLOTS = 32;
const SEND_SLOTS = 32;

/**
 * The most answers (a DREP, REJ, MRA or RTU a received CM message asks for,
 * an ARP reply, an SA GetResp) a service holds waiting for a send slot; one
 * more is dropped, as a datagram lost on the wire, and the asker's retry
 * covers it. Linux queues a MAD posted on a full send queue on ib_mad's
 * `overflow_list` (`ib_send_mad`), which has no bound of its own: what bounds
 * it is that every answer is a GFP_ATOMIC allocation (`cm_alloc_response_msg`
 * → `ib_create_send_mad`), which fails under memory pressure and leaves the
 * message unanswered (`cm_issue_rej`, `cm_issue_drep` return the error). The
 * model has no memory pressure, so the bound is a count: the service's
 * receive queue, one answer for each datagram it can hold. Without it any
 * domain whose messages each need an answer could grow another domain's
 * kernel memory for as long as that domain's sends lagged behind. The
 * service's own requests (REQ, REP, DREQ, ARP and PathRecord queries), which
 * its programs' calls bound, always wait for a slot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AGENT_DATAGRAM_BYTES, CM_AGENT_MAX_QUEUED_ANSWERS } from "./cm_agent.ts";
 * assert.equal(CM_AGENT_MAX_QUEUED_ANSWERS, 32);
 * assert.equal(CM_AGENT_MAX_QUEUED_ANSWERS * AGENT_DATAGRAM_BYTES.mad, 8192); // bytes at most
 * ```
 */
export const CM_AGENT_MAX_QUEUED_ANSWERS: number = RECV_SLOTS;

/**
 * A management service's address: the LID of its port and its QP number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AgentAddr } from "./cm_agent.ts";
 * const a: AgentAddr = { lid: 2, qpn: 0x49 };
 * assert.notEqual(a.qpn, 1); // not the GSI's well-known QP1
 * ```
 */
export interface AgentAddr {
  /** The LID of the agent's port. */
  lid: number;
  /** The agent's QP number (its UD QP for CM MADs). */
  qpn: number;
}

/**
 * Where the service hands a CM message it received (the domain's
 * connection manager).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { CmHandler } from "./cm_agent.ts";
 * const seen: string[] = [];
 * const log: CmHandler = async (m) => void seen.push(m.kind);
 * await log({ kind: "RTU", localCommId: 1, remoteCommId: 2, tid: 1n }, { lid: 1, qpn: 2 });
 * assert.deepEqual(seen, ["RTU"]);
 * ```
 */
export type CmHandler = (msg: CmMsg & { tid: bigint }, from: AgentAddr) => Promise<void>;

/**
 * An answer awaited from the network: settled by the receive loop or a
 * timer, waited on (an engine block) only once the request is out.
 */
class Pending<T> {
  #done = false;
  #value: T | undefined;
  #wake: ((v: T) => void) | undefined;

  resolve(v: T): void {
    if (this.#done) return;
    this.#done = true;
    this.#value = v;
    this.#wake?.(v);
  }

  async wait(engine: Engine, label: string): Promise<T> {
    if (this.#done) return this.#value as T;
    const b = engine.block<T>(label);
    this.#wake = b.resolve;
    return await b.promise;
  }
}

/** An address being resolved (Linux's `struct neighbour` while NUD_INCOMPLETE). */
interface Neighbour {
  /** The resolutions waiting for the reply. */
  waiting: Pending<{ lid: number; qpn: number; gid: Uint8Array } | undefined>[];
  /** Probes are going out (INCOMPLETE); false once the last went unanswered (FAILED). */
  soliciting: boolean;
  /** The timer of the next probe, or of the failure after the last. */
  retransmit: EventHandle | undefined;
}

/**
 * The service of one domain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import { CmAgent } from "./cm_agent.ts";
 * import { IpoibNetwork } from "./ipoib.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const h = cluster.addHost({ name: "a", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await h.os.openDevice();
 *   const agent = await CmAgent.start(ctx, new IpoibNetwork(), "10.0.0.9");
 *   assert.equal(agent.address.lid, ctx.queryPort(1).lid);
 *   assert.ok(agent.address.qpn > 1); // an ordinary UD QP, not QP1
 * });
 * ```
 */
export class CmAgent {
  /** The device context the agent's QP is on. */
  readonly ctx: Context;
  /** The domain's IPoIB address. */
  readonly ip: string;
  /** Where its MADs go: the port's LID and the UD QP. */
  readonly address: AgentAddr;
  /** The port's GID (the IPoIB hardware address's). */
  readonly gid: Uint8Array;
  /**
   * The partition the service's QP is in: the P_Key of its `pkey_index`, what every datagram it
   * sends carries and what one it takes must match (IBTA vol 1 §10.9).
   */
  readonly pkey: number;
  /** The index of {@link pkey} in its port's P_Key table (the QP's `pkey_index`). */
  readonly pkeyIndex: number;
  /** CM messages go here (set by the connection manager). */
  onCm: CmHandler | undefined;
  /** Datagrams sent and received (tests, counters). */
  sent = 0;
  /** CM MADs received. */
  received = 0;
  /** Answers dropped because {@link CM_AGENT_MAX_QUEUED_ANSWERS} were already waiting. */
  answersDropped = 0;
  /** The most datagrams that waited for a send slot at once. */
  queuedPeak = 0;
  #net: IpoibNetwork;
  #pd: Pd;
  #mr: Mr;
  #cq: Cq;
  #ch: CompChannel;
  #qp: Qp;
  #base: number;
  #freeSend: number[] = [];
  /**
   * Datagrams waiting for a send slot, oldest first (ib_mad's `overflow_list`: a MAD posted while
   * the send queue holds `max_active` waits there, and each send completion posts the next).
   */
  #overflow: { ah: Ah; to: AgentAddr; bytes: Uint8Array; answer: boolean }[] = [];
  /** Answers among them ({@link CM_AGENT_MAX_QUEUED_ANSWERS} at most). */
  #queuedAnswers = 0;
  #ahs = new Map<number, Promise<Ah>>();
  #tid = 1n;
  /** Addresses being resolved: Linux's neighbour entries in NUD_INCOMPLETE, one per address. */
  #arps = new Map<string, Neighbour>();
  /** Path queries waiting for their answer, by TID, with where each was sent (once it was). */
  #paths = new Map<bigint, { b: Pending<PathRecord | "none" | undefined>; to?: AgentAddr }>();

  private constructor(
    ctx: Context,
    net: IpoibNetwork,
    ip: string,
    parts: {
      pd: Pd;
      mr: Mr;
      cq: Cq;
      ch: CompChannel;
      qp: Qp;
      base: number;
      lid: number;
      pkey: number;
      pkeyIndex: number;
    },
  ) {
    this.ctx = ctx;
    this.#net = net;
    this.ip = ip;
    this.#pd = parts.pd;
    this.#mr = parts.mr;
    this.#cq = parts.cq;
    this.#ch = parts.ch;
    this.#qp = parts.qp;
    this.#base = parts.base;
    this.address = { lid: parts.lid, qpn: parts.qp.qpNum };
    this.pkey = parts.pkey;
    this.pkeyIndex = parts.pkeyIndex;
    this.gid = net.gidOf(parts.lid) ?? new Uint8Array(16);
    for (let i = 0; i < SEND_SLOTS; i++) this.#freeSend.push(RECV_SLOTS + i);
  }

  /**
   * Create the service's PD, buffers, CQ and UD QP on `ctx` (port 1), post
   * its receives and start its receive loop (a kernel thread that sleeps
   * on the CQ's completion channel).
   *
   * `partition`: the P_Key the service is in and its index in port 1's table
   * (default the default partition, 0xffff at index 0). Its QP is moved to
   * INIT with that index, so every datagram it sends carries the P_Key and
   * it takes only datagrams whose P_Key matches (IBTA vol 1 §10.9): in a
   * guest, dom0 checks the index against the guest's partitions as it does
   * for any QP. Linux's GSI (QP1) instead takes any P_Key of the port's table
   * and picks a P_Key index per send (`ib_create_send_mad`'s `pkey_index`,
   * answering with the one a request came on); a service per partition is
   * that here, with no per-send index an unprivileged QP could abuse.
   */
  static async start(
    ctx: Context,
    net: IpoibNetwork,
    ip: string,
    partition: { pkey: number; pkeyIndex: number } = { pkey: DEFAULT_PKEY, pkeyIndex: 0 },
  ): Promise<CmAgent> {
    const pd = await ctx.allocPd();
    const bytes = (RECV_SLOTS + SEND_SLOTS) * SLOT;
    const base = ctx.env.memory.alloc(bytes, 4096);
    ctx.env.memory.write(base, new Uint8Array(bytes));
    const mr = await pd.regMr(base, bytes, 1 /* LOCAL_WRITE */);
    const ch = ctx.createCompChannel();
    const cq = await ctx.createCq(RECV_SLOTS + SEND_SLOTS + 1, { channel: ch });
    const qp = await pd.createQp({
      type: QpType.UD,
      sendCq: cq,
      recvCq: cq,
      cap: { maxSendWr: SEND_SLOTS, maxRecvWr: RECV_SLOTS, maxSendSge: 1, maxRecvSge: 1 },
    });
    await qp.modify({
      state: QpState.INIT,
      port: 1,
      pkeyIndex: partition.pkeyIndex,
      qkey: CM_AGENT_QKEY,
    });
    await qp.modify({ state: QpState.RTR });
    await qp.modify({ state: QpState.RTS, sqPsn: 0 });
    const lid = ctx.queryPort(1).lid;
    const agent = new CmAgent(ctx, net, ip, { pd, mr, cq, ch, qp, base, lid, ...partition });
    for (let i = 0; i < RECV_SLOTS; i++) agent.#postRecv(i);
    cq.reqNotify(false);
    // In a split guest the receives are requests to dom0: answer no ARP before they are posted.
    if (cq.pollsWhileWaiting) await ctx.refreshPort(1);
    void ctx.env.engine.spawn(`${ip} ib_mad`, () => agent.#loop());
    return agent;
  }

  #postRecv(slot: number): void {
    this.#qp.postRecv({
      wrId: BigInt(slot),
      sgList: [{ addr: this.#base + slot * SLOT, length: SLOT, lkey: this.#mr.lkey }],
    });
  }

  async #loop(): Promise<void> {
    // Arm, then drain, then sleep: a completion that landed before the arm took
    // effect is not lost. In a split guest the arm is itself a request to dom0,
    // queued behind the others, while a poll reads what dom0 holds at once: the
    // service waits for one control call's answer (which dom0 serves after the
    // arm) before it drains.
    for (;;) {
      if (this.#cq.pollsWhileWaiting) await this.ctx.refreshPort(1);
      await this.#drain();
      let cq;
      try {
        cq = await this.#ch.getEvent();
      } catch {
        return; // the context went away with its domain
      }
      cq.ackEvents(1);
      cq.reqNotify(false);
    }
  }

  async #drain(): Promise<void> {
    const mem = this.ctx.env.memory;
    for (;;) {
      const wcs = this.#cq.poll(16);
      if (wcs.length === 0) return;
      for (const wc of wcs) {
        const slot = Number(wc.wrId);
        if (slot >= RECV_SLOTS) {
          // ib_mad_send_done: the completion moves the oldest queued send to the send queue.
          const queued = this.#overflow.shift();
          if (queued?.answer) this.#queuedAnswers--;
          if (queued) await this.#post(slot, queued.ah, queued.to, queued.bytes);
          else this.#freeSend.push(slot);
          continue;
        }
        if (wc.status !== WcStatus.SUCCESS) continue; // flushed: the QP is going away
        const bytes = mem.read(this.#base + slot * SLOT + GRH_BYTES, wc.byteLen - GRH_BYTES);
        this.#postRecv(slot);
        this.received++;
        await this.#handle(bytes, { lid: wc.slid, qpn: wc.srcQp });
      }
    }
  }

  async #handle(bytes: Uint8Array, from: AgentAddr): Promise<void> {
    const engine = this.ctx.env.engine;
    const cm = this.ctx.env.profile.cm;
    if (bytes.length === MAD_BYTES && bytes[1] === MGMT_CLASS_CM) {
      await engine.sleep(cm.madProcessNs);
      const msg = decodeCm(bytes);
      if (msg && this.onCm) await this.onCm(msg, from);
      return;
    }
    if (bytes.length === MAD_BYTES && bytes[1] === MGMT_CLASS_SA) {
      const pr = decodePathRecord(bytes);
      if (!pr) return;
      if (pr.response) {
        // ib_find_send_mad (drivers/infiniband/core/mad.c): a response completes the request of
        // its TID only when it comes from where the request went (rcv_has_same_gid: the
        // response's SLID is the request's DLID). Here the administrator is a UD service, not
        // QP1, so its QPN counts too: both are stamped by the sender's HCA. Anything else is
        // dropped, and the query keeps waiting for the real answer.
        const p = this.#paths.get(pr.tid);
        if (!p?.to || p.to.lid !== from.lid || p.to.qpn !== from.qpn) return;
        this.#paths.delete(pr.tid);
        p.b.resolve(madStatus(bytes) === 0 ? pr.record : "none");
        return;
      }
      // A query: only the subnet manager's node answers (IBTA §15.2: the SA is at the SM).
      await engine.sleep(cm.saProcessNs);
      const q = pr.record;
      const found = this.#net.pathResolver?.({
        slid: q.slid,
        dlid: q.dlid,
        qosClass: q.qosClass,
        pkey: q.pkey,
      });
      const answer = encodePathRecord(found ?? q, pr.tid, true);
      if (!found) setMadStatus(answer, SA_ERR_NO_RECORDS);
      await this.send(from, answer, true);
      return;
    }
    const arp = decodeArp(bytes);
    if (!arp) return;
    await engine.sleep(cm.arpProcessNs);
    if (arp.op === 1 && arp.targetIp === this.ip) {
      await this.send(
        from,
        encodeArp({
          op: 2,
          senderQpn: this.address.qpn,
          senderGid: this.gid,
          senderIp: this.ip,
          targetQpn: arp.senderQpn,
          targetGid: arp.senderGid,
          targetIp: arp.senderIp,
        }),
        true,
      );
    } else if (arp.op === 2) {
      const n = this.#arps.get(arp.senderIp);
      if (!n) return;
      this.#arps.delete(arp.senderIp);
      if (n.retransmit) engine.cancel(n.retransmit);
      for (const w of n.waiting) {
        w.resolve({ lid: from.lid, qpn: arp.senderQpn, gid: arp.senderGid });
      }
    }
  }

  /** Datagrams waiting for a send slot now. */
  get queued(): number {
    return this.#overflow.length;
  }

  /** A fresh transaction ID for a MAD this service originates. */
  nextTid(): bigint {
    return this.#tid++;
  }

  /**
   * Send `bytes` (a MAD or an ARP frame) to another service as one UD
   * datagram; resolves once it is posted, or queued behind those waiting
   * for a send slot (the address handle for the LID is created on first use
   * and kept). `answer`: the datagram answers one received (see
   * {@link CM_AGENT_MAX_QUEUED_ANSWERS}: beyond that many waiting, it is dropped).
   */
  async send(to: AgentAddr, bytes: Uint8Array, answer = false): Promise<void> {
    if (bytes.length > SLOT) {
      throw new VerbsError("EINVAL", `cm agent: ${bytes.length}-byte datagram`);
    }
    if (to.lid === this.address.lid && to.qpn === this.address.qpn) {
      // To itself (a client on the subnet manager's node asking its SA, or the CM MADs of a
      // connection within the domain: rdma_cm's loopback): the MAD
      // layer hands it over in software; the device model does not loop UD back.
      const copy = bytes.slice();
      this.sent++;
      void this.ctx.env.engine.spawn(`${this.ip} ib_mad local`, async () => {
        this.received++;
        await this.#handle(copy, this.address);
      });
      return;
    }
    let ahP = this.#ahs.get(to.lid);
    if (!ahP) {
      ahP = this.#pd.createAh({ dlid: to.lid, portNum: 1 });
      this.#ahs.set(to.lid, ahP);
    }
    const ah = await ahP;
    // Never wait for a slot: the receive loop sends answers (a DREP, an ARP reply, a REJ) and is
    // the one that frees slots, so waiting here let a burst of requests from any domain stop the
    // service for good. As ib_mad_post_send does when the send queue is full, the datagram waits
    // in the overflow list and goes out as a send completes (ib_send_mad, ib_mad_send_done).
    const slot = this.#freeSend.shift();
    if (slot === undefined) {
      if (answer && this.#queuedAnswers >= CM_AGENT_MAX_QUEUED_ANSWERS) {
        this.answersDropped++;
        return;
      }
      if (answer) this.#queuedAnswers++;
      this.#overflow.push({ ah, to, bytes: bytes.slice(), answer });
      this.queuedPeak = Math.max(this.queuedPeak, this.#overflow.length);
      return;
    }
    await this.#post(slot, ah, to, bytes);
  }

  /** Post `bytes` from send slot `slot` to the service at `to`. */
  async #post(slot: number, ah: Ah, to: AgentAddr, bytes: Uint8Array): Promise<void> {
    const addr = this.#base + slot * SLOT;
    this.ctx.env.memory.write(addr, bytes);
    await this.ctx.enter();
    this.#qp.postSend({
      wrId: BigInt(slot),
      opcode: WrOpcode.SEND,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr, length: bytes.length, lkey: this.#mr.lkey }],
      ah,
      remoteQpn: to.qpn,
      remoteQkey: CM_AGENT_QKEY,
    });
    this.sent++;
  }

  /**
   * ARP for `ip` on the IPoIB link: the request goes to the service of the
   * domain holding the address; resolves with the LID, QP number and GID of
   * the reply, or undefined when no reply came within `timeoutNs` (no such
   * address, or its holder is gone, or every request or reply was lost).
   *
   * A request or reply lost is covered as Linux's neighbour code covers it:
   * while unanswered (NUD_INCOMPLETE) the request goes out again
   * {@link ARP_RETRANS_TIME_MS} after the one before, {@link ARP_MCAST_SOLICIT}
   * requests in all (`neigh_timer_handler`, `neigh_max_probes`,
   * net/core/neighbour.c); then no more (NUD_FAILED). The caller's timeout
   * alone ends the wait: rdma_cm's address request re-checks the neighbour
   * when one becomes valid (`netevent_callback`) and otherwise only at its
   * timeout, when it fails with -ETIMEDOUT (`process_one_req`,
   * drivers/infiniband/core/addr.c), so a failed neighbour does not end it
   * sooner, and a late reply still answers it. The first reply answers every
   * waiter for `ip`; a duplicate, or a reply to a repeated request, finds
   * none and is ignored. Waiters for one address share its entry and its
   * probes, which go on while any of them waits.
   */
  async arp(
    ip: string,
    timeoutNs: number,
  ): Promise<{ lid: number; qpn: number; gid: Uint8Array } | undefined> {
    const engine = this.ctx.env.engine;
    const b = new Pending<{ lid: number; qpn: number; gid: Uint8Array } | undefined>();
    let n = this.#arps.get(ip);
    if (!n) this.#arps.set(ip, n = { waiting: [], soliciting: false, retransmit: undefined });
    const entry = n;
    entry.waiting.push(b);
    const timer = engine.schedule(timeoutNs, () => {
      const i = entry.waiting.indexOf(b);
      if (i >= 0) entry.waiting.splice(i, 1);
      // Nobody waits for the address any more: no more probes for it.
      if (entry.waiting.length === 0 && this.#arps.get(ip) === entry) {
        this.#arps.delete(ip);
        if (entry.retransmit) engine.cancel(entry.retransmit);
      }
      b.resolve(undefined);
    });
    // One entry per address: a resolution that finds it soliciting waits with the others
    // (`__neigh_event_send` queues on NUD_INCOMPLETE); one that finds it failed (every probe
    // out, none answered: NUD_FAILED) solicits again.
    if (!entry.soliciting) await this.#solicit(ip, entry);
    const r = await b.wait(engine, `${this.ip} ARP ${ip}`);
    engine.cancel(timer);
    return r;
  }

  /** Send `entry`'s probes for `ip`: the first now, the next each retrans_time after. */
  async #solicit(ip: string, entry: Neighbour): Promise<void> {
    const engine = this.ctx.env.engine;
    entry.soliciting = true;
    const holder = this.#net.lookup(ip);
    let to: AgentAddr | undefined;
    try {
      if (holder?.agentAddress) to = await holder.agentAddress();
    } catch {
      // A holder whose service cannot start (its interface's partition is not in its port's
      // table) answers nothing: the wait ends at the timeout.
    }
    if (!to) return;
    const dest = to;
    const request = encodeArp({
      op: 1,
      senderQpn: this.address.qpn,
      senderGid: this.gid,
      senderIp: this.ip,
      targetQpn: 0,
      targetGid: new Uint8Array(16),
      targetIp: ip,
    });
    // One probe: the next is armed as this one goes out (neigh_timer_handler re-arms its
    // timer when it solicits), at most ARP_MCAST_SOLICIT in all; one retrans_time after the
    // last the entry has failed.
    let probes = 0;
    const probe = async () => {
      // Answered, or nobody waits any more, since this probe was due: none goes out.
      if (this.#arps.get(ip) !== entry) return;
      probes++;
      entry.retransmit = engine.schedule(ARP_RETRANS_TIME_MS * 1e6, () => {
        entry.retransmit = undefined;
        if (probes < ARP_MCAST_SOLICIT) {
          void engine.spawn(`${this.ip} ARP ${ip} probe ${probes + 1}`, probe);
        } else entry.soliciting = false;
      });
      await engine.sleep(this.ctx.env.profile.cm.arpProcessNs);
      await this.send(dest, request);
    };
    await probe();
  }

  /**
   * Ask the subnet administrator for the path from this port to `dlid`
   * (a SubnAdmGet(PathRecord) MAD to the subnet manager's node): the
   * record, "none" when the SA has no path, undefined when no answer came
   * within `timeoutNs`.
   */
  async queryPath(
    q: { dlid: number; dgid: Uint8Array; qosClass: number; pkey?: number },
    timeoutNs: number,
  ): Promise<PathRecord | "none" | undefined> {
    const engine = this.ctx.env.engine;
    const sa = this.#net.saMember;
    const tid = this.nextTid();
    const b = new Pending<PathRecord | "none" | undefined>();
    const query = { b, to: undefined as AgentAddr | undefined };
    this.#paths.set(tid, query);
    const timer = engine.schedule(timeoutNs, () => {
      this.#paths.delete(tid);
      b.resolve(undefined);
    });
    // The SA answers on the GSI of its port, which takes any P_Key of the port's table (IBTA vol 1
    // §10.9): the query goes to its service for this one's partition.
    if (sa?.saAddress || sa?.agentAddress) {
      const to = sa.saAddress ? await sa.saAddress(this.pkey) : await sa.agentAddress!();
      query.to = to;
      const record: PathRecord = {
        dgid: q.dgid,
        sgid: this.gid,
        dlid: q.dlid,
        slid: this.address.lid,
        trafficClass: 0,
        // The partition the path is asked for (ComponentMask's P_Key bit): the caller's, else
        // the service's, as the cma asks for its device address's (`cma_query_ib_route`:
        // `ib_addr_get_pkey`).
        pkey: q.pkey ?? this.pkey,
        qosClass: q.qosClass,
        sl: 0,
        mtu: 0,
        rate: 0,
        packetLifeTime: 0,
      };
      await this.send(to, encodePathRecord(record, tid, false));
    }
    const r = await b.wait(engine, `${this.ip} PathRecord query`);
    engine.cancel(timer);
    return r;
  }
}

/**
 * Bytes of the datagrams this service sends (tests and docs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AGENT_DATAGRAM_BYTES } from "./cm_agent.ts";
 * assert.deepEqual(AGENT_DATAGRAM_BYTES, { mad: 256, arp: 60 });
 * ```
 */
export const AGENT_DATAGRAM_BYTES = { mad: MAD_BYTES, arp: ARP_FRAME_BYTES } as const;
