/**
 * Nomad's suspend/resume handshake (Huang, Liu, Koop, Abali, Panda, VEE
 * 2007), in the verbs library of every domain when the layer is on: one
 * agent per domain, holding its contexts' virtualizing files
 * (`nomad_file.ts`) and the state of each RC connection while a migration
 * moves one end (or both).
 *
 * Per connection, both ends run the same steps; the end that moves adds
 * giving its device resources back and making them again:
 *
 * 1. suspend: the moving end tells its peer (`suspend`); each end holds
 *    new sends (posted later, in order; receives still go to the device,
 *    a sender waiting out an RNR NAK needs them), drains its send queue
 *    (RTS → SQD until SQ_DRAINED: every message it sent was acknowledged,
 *    so the peer has executed it) and reads its PSNs, then says `drained`.
 * 2. quiesced (both drained): nothing is in flight. Each end moves the
 *    completions in its CQs into the CQ's stash (polls see them first),
 *    holds new receives, and reads back the receives still posted. A
 *    staying end resets its QP and says `ready` with its address and next
 *    send PSN; the moving end gives everything back (closing its kernel
 *    files) and waits for its domain to run on the destination, where it
 *    re-creates its objects (new QP numbers, keys, LID) and says `ready`.
 * 3. reconnect: with its own QP in RESET and the peer's `ready`, each end
 *    goes INIT (posts the receives again, then the held ones), RTR toward
 *    the peer's address expecting the peer's next PSN, says `rtr`; once it
 *    has the peer's `rtr`, RTS from its own next PSN, and posts the held
 *    sends. The peer's moved remote keys (from `ready`) are installed on
 *    the QP: the provider translates the rkeys it posts.
 *
 * So every message is delivered once and in order: none is in flight
 * while the QPs are replaced, no PSN is reused, receives keep their order
 * and work request ids, and completions taken before are returned first.
 *
 * A peer can go away mid-handshake: its application destroys the QP or
 * closes the context (a staying domain's verbs do not wait), or its QP has
 * left RTS or been given to another connection by the time `suspend`
 * arrives. Only the QP's peer is answered (the sender must hold the device
 * QP this one is connected to, as ib_cm matches both communication ids
 * before it acts); anything else gets `gone`, and so does the peer of a
 * QP destroyed mid-handshake. An end that hears `gone` stops waiting for
 * its peer and re-establishes its own QP as it was: toward the peer's last
 * address, expecting the PSN it expected, its receives posted again and its
 * held sends posted. It then fails as any RC connection to a vanished peer
 * fails, with its sends ending in RETRY_EXC_ERR; a QP that was already in
 * the Error state is made again in the Error state, and what is posted to
 * it is flushed. A migration never waits for a peer that is gone.
 *
 * @module
 */
import { type Engine, WaitQueue } from "../../sim/engine.ts";
import { CqDbCmd } from "../../hca/uar.ts";
import { QpState } from "../uapi/enums.ts";
import { VerbsError } from "../uapi/errors.ts";
import type { RecvWr } from "../uapi/types.ts";
import type { HeldSend } from "./provider.ts";
import type { UverbsDevice } from "../uapi/uverbs.ts";
import type { NomadDeviceNeeds, NomadFile, NomadHost, QpRec } from "./nomad_file.ts";
import type { NomadAddr, NomadEndpoint, NomadMsg, NomadNetwork, NomadNode } from "./nomad_net.ts";

/** One connection being suspended and resumed. */
interface Conn {
  file: NomadFile;
  q: QpRec;
  peer: NomadEndpoint;
  /** This end moves (its device QP is given back and made again). */
  moving: boolean;
  selfDrained: boolean;
  peerDrained: boolean;
  quiesced: boolean;
  /** This end's next send PSN, read after the drain. */
  sqPsn: number;
  /** The PSN this end expects next from its peer, read after the drain. */
  rqPsn: number;
  /** The device QP was in the Error state at the drain: it stays there. */
  qpError: boolean;
  /** The peer's QP is gone (`gone`): nothing more comes from it. */
  peerGone: boolean;
  /** Receives that were posted and not completed, with the application's keys. */
  recvs: RecvWr[];
  /** The device's SQ WQE counter once drained: sends from there on were never started. */
  sqWqeCounter: number | undefined;
  /** Sends posted and never started by the device, as the application posted them. */
  sends: HeldSend[];
  /** Own device QP in RESET at its address; `ready` was sent. */
  localReady: boolean;
  peerReady?: { addr: NomadAddr; sqPsn: number; keys: [number, number][] };
  rtrStarted: boolean;
  rtrDone: boolean;
  peerRtr: boolean;
  rtsStarted: boolean;
  active: boolean;
  error?: unknown;
}

/**
 * When the last migration of a domain went through each step (virtual ns).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NomadTimeline } from "./nomad_agent.ts";
 * const t: NomadTimeline = { suspendStartNs: 1_000, quiescedNs: 41_000, resumeStartNs: 90_000, resumedNs: 150_000 };
 * const pause = (x: NomadTimeline) => x.resumedNs! - x.suspendStartNs!; // connections held this long
 * assert.equal(pause(t), 149_000);
 * ```
 */
export interface NomadTimeline {
  /** The handshake started: connections hold new sends from here on. */
  suspendStartNs?: number;
  /** Every connection drained in both directions. */
  quiescedNs?: number;
  /** Every device resource given back. */
  releasedNs?: number;
  /** Re-creation started on the new host. */
  resumeStartNs?: number;
  /** Every connection carries traffic again. */
  resumedNs?: number;
  /** Connections the domain had. */
  connections?: number;
}

/**
 * The Nomad layer of one domain's verbs library.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../../sim/engine.ts";
 * import { NomadAgent } from "./nomad_agent.ts";
 * import { NomadNetwork } from "./nomad_net.ts";
 * const engine = new Engine();
 * const agent = new NomadAgent(new NomadNetwork(engine, () => 30_000), engine, "vm0");
 * assert.equal(agent.virtualLid(1, 5), 5); // the first LID seen on port 1 stays its virtual LID
 * assert.equal(agent.virtualLid(1, 9), 5); // after a move the port has LID 9
 * assert.equal(agent.unmovable(), undefined); // nothing open: nothing in the way
 * ```
 */
export class NomadAgent implements NomadNode, NomadHost {
  /** Its id on the management network. */
  readonly id: number;
  /** What the last (or current) migration went through. */
  timeline: NomadTimeline = {};
  #net: NomadNetwork;
  #files: NomadFile[] = [];
  #vLid = new Map<number, number>();
  #pLid = new Map<number, number>();
  #phase: "running" | "suspending" | "suspended" | "resuming" = "running";
  #conns = new Map<number, Conn>();
  #changed: WaitQueue;
  /** Opens of a device under way (`beginOpen`). */
  #opening = 0;

  /**
   * The domain's agent on the Nomad directory `net`.
   *
   * @param net the cluster's management network
   * @param engine the cluster's engine
   * @param name the domain's name (messages, deadlock reports)
   */
  constructor(net: NomadNetwork, readonly engine: Engine, readonly name: string) {
    this.#net = net;
    this.id = net.join(this);
    this.#changed = new WaitQueue(engine, `nomad ${name}: handshake`);
  }

  /** "running", or where a migration of the domain is. */
  get phase(): string {
    return this.#phase;
  }

  /** A context was opened through this agent. */
  adopt(file: NomadFile): void {
    this.#files.push(file);
  }

  /**
   * An `ibv_open_device` of the domain begins; call the function returned when it has ended
   * (the context adopted, or the open failed). A suspend lets opens under way end first, as it
   * lets control verbs under way end: the context they make moves with the others.
   */
  beginOpen(): () => void {
    this.#opening++;
    return () => {
      this.#opening--;
      if (this.#phase !== "running") this.#changed.notifyAll();
    };
  }

  // ---- NomadHost ----

  async whenRunning(): Promise<void> {
    while (this.#phase !== "running") await this.#changed.wait();
  }

  virtualLid(port: number, physical: number): number {
    this.#pLid.set(port, physical);
    if (!this.#vLid.has(port)) this.#vLid.set(port, physical);
    return this.#vLid.get(port)!;
  }

  vqpnTaken(vqpn: number): boolean {
    for (const f of this.#files) {
      for (const q of f.qpRecords()) if (q.vqpn === vqpn) return true;
    }
    // Another library's QP known by it (one that moved away from this host keeps it).
    const by = this.#net.heldBy({ lid: this.#vLid.get(1) ?? 0, qpn: vqpn });
    return by !== undefined && by !== this.id;
  }

  /**
   * The domain crashed: its library is gone from the management network, and
   * its QPs with it (peers are told `gone` when they ask).
   */
  crashed(): void {
    this.#net.leave(this);
  }

  /** @internal */
  bound(_file: NomadFile, q: QpRec): void {
    const lid = this.#pLid.get(q.port) ?? 0, vlid = this.#vLid.get(q.port) ?? lid;
    try {
      this.#net.bind(this, q.vqpn, { lid, qpn: q.pqpn }, { lid: vlid, qpn: q.vqpn });
    } catch (e) {
      // The directory refused an address (another library holds it, or the driver does not
      // name this domain as the QP's holder). The verb stands; the QP is then not in the
      // directory, and cannot move: peers find no library to hand-shake with for it.
      const code = (e as VerbsError).code;
      if (code !== "EADDRINUSE" && code !== "EADDRNOTAVAIL") throw e;
      this.#net.unbind(this, q.vqpn);
    }
  }

  /** @internal */
  unbound(_file: NomadFile, q: QpRec, destroyed = false): void {
    this.#net.unbind(this, q.vqpn, destroyed);
    const c = destroyed ? this.#conns.get(q.vqpn) : undefined;
    if (!c) return;
    // Destroyed mid-handshake (only a domain that is not moving can: a moving one's verbs
    // wait): the peer must not wait for this end, and this end's tasks end.
    this.#conns.delete(q.vqpn);
    if (!c.peerGone) this.#send(c, "gone");
    c.error ??= new VerbsError("ECONNRESET", `nomad: QP ${q.vqpn} was destroyed mid-handshake`);
    q.wakeDrain?.();
    this.#changed.notifyAll();
  }

  /** @internal */
  holderOf(a: NomadAddr): NomadEndpoint | undefined {
    return this.#net.byPhysical(a);
  }

  async resolveRemote(
    a: NomadAddr,
  ): Promise<{ addr: NomadAddr; keys: [number, number][] } | undefined> {
    const now = this.#net.movedTo(a);
    if (!now) return undefined;
    const ep = this.#net.byPhysical(now);
    const keys = ep ? this.#net.keysOf(ep) : [];
    // Asking the library that holds it for its keys: one round trip on the management network.
    await this.engine.sleep(2 * this.#latency());
    return { addr: now, keys };
  }

  #latency(): number {
    return this.#net.latency();
  }

  /** The remote keys of the context holding QP `vqpn` that differ from their virtual values. */
  keysOf(vqpn: number): [number, number][] {
    for (const f of this.#files) {
      if (f.qpRecords().some((q) => q.vqpn === vqpn)) return f.movedRkeys();
    }
    return [];
  }

  // ---- migration ----

  /** Why this domain's contexts cannot move now (undefined: they can). */
  unmovable(): string | undefined {
    if (this.#phase !== "running") return `${this.name} is already moving`;
    return this.#unmovableContexts();
  }

  #unmovableContexts(): string | undefined {
    for (const f of this.#files) {
      if (f.inner === undefined) continue;
      const why = f.unmovable();
      if (why) return why;
      for (const q of f.qpRecords()) {
        if (q.state !== QpState.RTS) continue;
        if (!q.remoteP || !this.#peerOfQp(q).peer) {
          const at = q.remoteP ? `LID ${q.remoteP.lid} QPN ${q.remoteP.qpn}` : "an unknown peer";
          return `QP ${q.vqpn} is connected to ${at}, which has no Nomad library to hand-shake with`;
        }
      }
    }
    return undefined;
  }

  /**
   * The peer of connected QP `q`, and whether it still holds the address `q`
   * sends to. The peer is the end that held the address when `q` was
   * connected to it; a library that holds the address now and is not that
   * end took the number after the peer's QP was destroyed, and is not
   * answered or waited for (it could hold the connection's migration forever).
   */
  #peerOfQp(q: QpRec): { peer: NomadEndpoint | undefined; there: boolean } {
    const now = this.#net.byPhysical(q.remoteP!);
    if (q.peer) return { peer: q.peer, there: now !== undefined && sameEnd(now, q.peer) };
    if (now) return { peer: now, there: true };
    return { peer: this.#net.goneFrom(q.remoteP!), there: false };
  }

  /**
   * What re-creating every context of the domain on another host's device
   * takes, summed over its contexts (`NomadFile.deviceNeeds`).
   */
  deviceNeeds(): NomadDeviceNeeds {
    const n: NomadDeviceNeeds = { uar: 0, pd: 0, mr: 0, cq: 0, qp: 0, mtt: 0 };
    for (const f of this.#files) {
      const m = f.deviceNeeds();
      for (const k of Object.keys(n) as (keyof NomadDeviceNeeds)[]) n[k] += m[k];
    }
    return n;
  }

  #open(): NomadFile[] {
    return this.#files.filter((f) => f.inner !== undefined);
  }

  /**
   * Suspend every connection and give every device resource back, for a
   * migration of this domain: resolves once nothing of the domain is left
   * on the device. EOPNOTSUPP (nothing changed) if {@link unmovable} says why.
   */
  async suspend(): Promise<void> {
    const why = this.unmovable();
    if (why) throw new VerbsError("EOPNOTSUPP", `nomad: ${why}`);
    this.#phase = "suspending";
    this.timeline = { suspendStartNs: this.engine.now };
    // New control verbs wait from here on; those under way finish first, and what they
    // did (a QP destroyed, a connection made or half made) decides what moves.
    while (this.#opening > 0) await this.#changed.wait();
    for (const f of this.#files) await f.idle();
    const now = this.#unmovableContexts();
    if (now) {
      this.#phase = "running";
      this.#changed.notifyAll();
      throw new VerbsError("EOPNOTSUPP", `nomad: ${now}`);
    }
    const files = this.#open();
    const mine: Conn[] = [];
    for (const f of files) {
      for (const q of f.qpRecords()) {
        if (q.state !== QpState.RTS) continue;
        let c = this.#conns.get(q.vqpn);
        if (c && !c.moving && (c.localReady || c.quiesced)) {
          // Already past the point of no return as a staying end: let it finish, then move it.
          while (!c.active && !c.error) await this.#changed.wait();
          c = undefined;
        }
        if (c) c.moving = true;
        else {
          const { peer, there } = this.#peerOfQp(q);
          c = this.#begin(f, q, peer!, true, there);
          if (!there) this.#peerGone(c);
        }
        mine.push(c);
      }
    }
    this.timeline.connections = mine.length;
    while (!mine.every((c) => c.quiesced || c.error)) await this.#changed.wait();
    this.#throwIfFailed(mine);
    this.timeline.quiescedNs = this.engine.now;
    for (const f of files) {
      for (const c of f.cqRecords()) await c.pcq?.drainToStash();
    }
    for (const c of mine) this.#takeWork(c);
    for (const f of files) {
      for (const c of f.cqRecords()) c.pcq?.suspend();
      await f.release();
    }
    this.#phase = "suspended";
    this.timeline.releasedNs = this.engine.now;
  }

  /**
   * The domain's memory is now on other machine frames (the switch of a
   * live migration): waits on CQ rings must watch the new ones.
   */
  relocated(): void {
    for (const f of this.#files) for (const c of f.cqRecords()) c.pcq?.remap();
  }

  /**
   * Make every context again on `device` (the domain's device on the host it
   * now runs on) and reconnect every connection; resolves when all carry
   * traffic again.
   */
  async resume(device: UverbsDevice): Promise<void> {
    if (this.#phase !== "suspended") {
      throw new VerbsError("EINVAL", `nomad: ${this.name} is ${this.#phase}, not suspended`);
    }
    this.#phase = "resuming";
    this.timeline.resumeStartNs = this.engine.now;
    for (const f of this.#files) {
      if (!f.released) continue;
      await f.reopen(await device.open(f.openOptions));
      for (const c of f.cqRecords()) {
        c.pcq?.resume();
        // An arm that no event answered yet is made again on the new CQ.
        const cmd = c.pcq?.armedCmd ?? 0;
        if (cmd !== 0) c.pcq!.arm(cmd === CqDbCmd.REQ_NOTIFY_SOLICITED);
      }
    }
    const mine = [...this.#conns.values()].filter((c) => c.moving);
    for (const c of mine) this.#ready(c);
    while (!mine.every((c) => c.active || c.error)) await this.#changed.wait();
    this.#phase = "running";
    this.timeline.resumedNs = this.engine.now;
    this.#changed.notifyAll();
    this.#throwIfFailed(mine);
  }

  #throwIfFailed(cs: Conn[]): void {
    const bad = cs.find((c) => c.error);
    if (bad) {
      const e = bad.error;
      throw e instanceof VerbsError ? e : new VerbsError("EIO", `nomad: ${(e as Error).message}`);
    }
  }

  // ---- the handshake ----

  /** A handshake message from a peer's agent. */
  deliver(msg: NomadMsg): void {
    const found = this.#find(msg.to);
    let c = found && this.#conns.get(found.q.vqpn);
    if (c && !sameEnd(c.peer, msg.from)) c = undefined;
    if (msg.kind === "gone") {
      if (c) this.#peerGone(c);
      return;
    }
    if (!found) return this.#answerGone(msg); // destroyed, or its context closed
    const { file, q } = found;
    if (msg.kind === "suspend" && c?.peerRtr) {
      // The peer ended the last handshake on this connection (it sent `rtr`, and its end is
      // active again) and starts another, for a move of its own, before this end is back in RTS:
      // the new one begins once the last one is over here.
      const last = c;
      this.#task(last, `QP ${q.vqpn}: a new suspend after the last handshake`, async () => {
        while (!last.active && !last.error) await this.#changed.wait();
        if (last.active) this.deliver(msg);
      });
      return;
    }
    if (msg.kind === "suspend" || msg.kind === "drained") {
      if (!c) {
        // Only the peer may suspend a connection: the sender must hold the device QP this one
        // sends to (a QPN given back and taken again is another connection), as ib_cm acts on
        // a message only when both communication ids match (cm.c, cm_acquire_id).
        const { peer, there } = q.remoteP ? this.#peerOfQp(q) : { peer: undefined, there: false };
        if (this.#conns.has(q.vqpn) || !peer || !there || !sameEnd(peer, msg.from)) {
          return this.#answerGone(msg);
        }
        if (q.state !== QpState.RTS || !q.pqp) return this.#answerGone(msg);
        // This end moves only while its own suspend gathers connections; a domain that is back
        // (resuming: its device is open again) stays for a handshake its peer begins.
        c = this.#begin(file, q, msg.from, this.#phase === "suspending", false);
      }
      if (msg.kind === "drained") {
        c.peerDrained = true;
        this.#checkQuiesced(c);
      }
      return;
    }
    if (!c) return; // a late message of a handshake that is over, or not from the peer
    if (msg.kind === "ready") {
      c.peerReady = { addr: msg.addr, sqPsn: msg.sqPsn, keys: msg.keys };
    } else c.peerRtr = true;
    this.#progress(c);
  }

  #find(vqpn: number): { file: NomadFile; q: QpRec } | undefined {
    for (const file of this.#files) {
      for (const q of file.qpRecords()) if (q.vqpn === vqpn) return { file, q };
    }
    return undefined;
  }

  /** The QP `msg` names is not the sender's peer (any more). */
  #answerGone(msg: NomadMsg): void {
    this.#net.send(
      this,
      { kind: "gone", from: { agent: this.id, vqpn: msg.to }, to: msg.from.vqpn },
      msg.from.agent,
    );
  }

  /**
   * The peer's QP is gone: wait for nothing more from it, and re-establish
   * this end as it was (the module's header says how).
   */
  #peerGone(c: Conn): void {
    if (c.peerGone || c.active) return;
    c.peerGone = c.peerDrained = c.peerRtr = true;
    c.q.wakeDrain?.();
    this.#checkQuiesced(c);
    this.#progress(c);
    this.#changed.notifyAll();
  }

  #send(c: Conn, kind: NomadMsg["kind"], extra: object = {}): void {
    this.#net.send(
      this,
      { ...extra, kind, from: { agent: this.id, vqpn: c.q.vqpn }, to: c.peer.vqpn } as NomadMsg,
      c.peer.agent,
    );
  }

  #begin(
    file: NomadFile,
    q: QpRec,
    peer: NomadEndpoint,
    moving: boolean,
    initiator: boolean,
  ): Conn {
    const c: Conn = {
      file,
      q,
      peer,
      moving,
      selfDrained: false,
      peerDrained: false,
      quiesced: false,
      sqPsn: 0,
      rqPsn: 0,
      qpError: false,
      peerGone: false,
      recvs: [],
      sqWqeCounter: undefined,
      sends: [],
      localReady: false,
      rtrStarted: false,
      rtrDone: false,
      peerRtr: false,
      rtsStarted: false,
      active: false,
    };
    this.#conns.set(q.vqpn, c);
    q.pqp!.hold();
    if (initiator) this.#send(c, "suspend");
    this.#task(c, `drain QP ${q.vqpn}`, async () => {
      const { sqPsn, rqPsn, sqWqeCounter, error } = await file.drainQp(q, () => c.peerGone);
      c.sqPsn = sqPsn;
      c.rqPsn = rqPsn;
      c.sqWqeCounter = sqWqeCounter;
      c.qpError = error;
      c.selfDrained = true;
      if (!c.peerGone) this.#send(c, "drained");
      this.#checkQuiesced(c);
    });
    return c;
  }

  #task(c: Conn, what: string, fn: () => Promise<void>): void {
    this.engine.spawn(`nomad ${this.name}: ${what}`, async () => {
      try {
        await fn();
      } catch (e) {
        c.error = e;
        this.#changed.notifyAll();
      }
    });
  }

  #checkQuiesced(c: Conn): void {
    if (c.quiesced || !c.selfDrained || !c.peerDrained) return;
    c.quiesced = true;
    this.#changed.notifyAll();
    if (c.moving) return; // the agent's suspend takes it from here
    this.#task(c, `reset QP ${c.q.vqpn}`, async () => {
      for (const cq of new Set([c.q.sendCq, c.q.recvCq])) await cq.pcq?.drainToStash();
      this.#takeWork(c);
      await c.file.resetQp(c.q);
      this.#ready(c);
    });
  }

  /**
   * Hold new receives; the posted ones are read back to be posted again, and
   * so are the sends the device never started: a drain leaves them on the
   * queue (IBTA §10.3.1's SQD), and the queue is about to be reset or given
   * back. A QP in the Error state flushed them instead (their completions
   * are in the stash).
   */
  #takeWork(c: Conn): void {
    const pqp = c.q.pqp!;
    pqp.hold().holdRecvs = true;
    c.recvs = pqp.outstandingRecvs().map((r) => ({
      wrId: r.wrId,
      sgList: r.sgList.map((s) => ({ ...s, lkey: c.file.virtualLkey(s.lkey) })),
    }));
    c.sends = c.qpError || c.sqWqeCounter === undefined ? [] : pqp.unstartedSends(c.sqWqeCounter);
  }

  /** Own QP waits in RESET: tell the peer where, from which PSN, with which keys. */
  #ready(c: Conn): void {
    c.localReady = true;
    const lid = this.#pLid.get(c.q.port) ?? 0;
    if (!c.peerGone) {
      this.#send(c, "ready", {
        addr: { lid, qpn: c.q.pqpn },
        sqPsn: c.sqPsn,
        keys: c.file.movedRkeys(),
      });
    }
    this.#progress(c);
  }

  #progress(c: Conn): void {
    if (!c.localReady) return;
    if (c.qpError) {
      if (!c.rtrStarted) {
        c.rtrStarted = true;
        this.#task(c, `restore QP ${c.q.vqpn} in the Error state`, async () => {
          await c.file.toError(c.q);
          this.#resumed(c);
        });
      }
      return;
    }
    // The peer is gone: toward its last address, expecting what this end expected.
    c.peerReady ??= c.peerGone
      ? { addr: { ...c.q.remoteP! }, sqPsn: c.rqPsn, keys: [...(c.q.pqp?.remoteKeys ?? [])] }
      : undefined;
    if (!c.peerReady) return;
    if (!c.rtrStarted) {
      c.rtrStarted = true;
      const pr = c.peerReady;
      this.#task(c, `reconnect QP ${c.q.vqpn}`, async () => {
        await c.file.reconnectToRtr(c.q, pr.addr, pr.sqPsn, pr.keys, () => this.#repost(c));
        c.q.peer = { ...c.peer }; // the same end, wherever it is now
        c.rtrDone = true;
        this.#send(c, "rtr");
        this.#progress(c);
      });
      return;
    }
    if (c.rtrDone && c.peerRtr && !c.rtsStarted) {
      c.rtsStarted = true;
      this.#task(c, `resume QP ${c.q.vqpn}`, async () => {
        await c.file.reconnectToRts(c.q, c.sqPsn);
        this.#resumed(c);
      });
    }
  }

  /** The device QP is where the connection left it: post what was held. */
  #resumed(c: Conn): void {
    const pqp = c.q.pqp!;
    if (c.qpError) this.#repost(c);
    const held = pqp.release();
    // First what the device never started, then what the application posted meanwhile.
    for (const h of [...c.sends, ...held?.sends ?? []]) pqp.repost(h);
    c.sends = [];
    c.active = true;
    if (this.#conns.get(c.q.vqpn) === c) this.#conns.delete(c.q.vqpn);
    this.#changed.notifyAll();
  }

  /** In INIT: the receives that were posted, then those the application posted meanwhile. */
  #repost(c: Conn): void {
    const pqp = c.q.pqp!;
    const g = pqp.hold();
    const held = g.recvs;
    g.recvs = [];
    g.holdRecvs = false;
    for (const r of [...c.recvs, ...held]) pqp.postRecv(r);
    c.recvs = [];
  }
}

function sameEnd(a: NomadEndpoint, b: NomadEndpoint): boolean {
  return a.agent === b.agent && a.vqpn === b.vqpn;
}
