/**
 * `Qp` (`struct ibv_qp`): a queue pair. `modify` takes attributes by name
 * (API.md); the attribute mask is derived from the keys present and checked
 * by the kernel against the IBTA transition table (`qp_state.ts`).
 * `postSend`/`postRecv` are the provider's synchronous fast path.
 *
 * @module
 */
import type { Cq } from "./cq.ts";
import { QpAttrMask, QpState } from "../uapi/enums.ts";
import { VerbsError } from "../uapi/errors.ts";
import { boolArg } from "./args.ts";
import { EventAcks } from "./event_acks.ts";
import { postEach } from "./wr_check.ts";
import type { Pd, QpInitAttr } from "./pd.ts";
import type { ProviderQp } from "./provider.ts";
import { attrMask } from "../uapi/qp_state.ts";
import type { Srq } from "./srq.ts";
import type { QpAttr, QpCap, RecvWr, SendWr } from "../uapi/types.ts";

/** `union ibv_gid` is 16 bytes and a LID 16 bits: anything else cannot reach the kernel. */
function checkMcastArgs(what: string, gid: unknown, lid: unknown): void {
  if (!(gid instanceof Uint8Array) || gid.length !== 16) {
    throw new VerbsError("EINVAL", `${what}: gid must be a Uint8Array of 16 bytes`);
  }
  if (typeof lid !== "number" || !Number.isInteger(lid) || lid < 0 || lid > 0xffff) {
    throw new VerbsError("EINVAL", `${what}: lid must be an integer 0..0xFFFF, got ${String(lid)}`);
  }
}

/** PSNs are 24 bits (IBTA vol 1 §9.7.1). */
const PSN_MASK = 0xffffff;

/**
 * A queue pair.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Access, Cluster, connectPair, QpState, QpType, SendFlags, WrOpcode } from "../../mod.ts";
 * import type { Qp } from "./qp.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ctx = await host.os.openDevice();
 *   const pd = await ctx.allocPd();
 *   const cq = await ctx.createCq(4);
 *   const cap = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
 *   const qp: Qp = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
 *   const lid = ctx.queryPort(1).lid;
 *   await connectPair({ qp, lid }, { qp, lid }); // loopback through its own port
 *   assert.equal(qp.state, QpState.RTS);
 *   const buf = host.os.memory.alloc(4096, 4096);
 *   const mr = await pd.regMr(buf, 4096, Access.LOCAL_WRITE);
 *   host.os.memory.write(buf, new TextEncoder().encode("ping"));
 *   qp.postRecv({ wrId: 2n, sgList: [{ addr: buf + 64, length: 64, lkey: mr.lkey }] });
 *   qp.postSend({ wrId: 1n, opcode: WrOpcode.SEND, sendFlags: SendFlags.SIGNALED, sgList: [{ addr: buf, length: 4, lkey: mr.lkey }] });
 *   assert.equal((await cq.pollUntil(2)).length, 2); // the send's and the receive's
 *   assert.equal(new TextDecoder().decode(host.os.memory.read(buf + 64, 4)), "ping");
 * });
 * ```
 */
export class Qp {
  #dead = false;
  /** `QpType`. */
  readonly type: number;
  /** The CQ of send completions. */
  readonly sendCq: Cq;
  /** The CQ of receive completions. */
  readonly recvCq: Cq;
  /** The SRQ it receives from, if any. */
  readonly srq: Srq | undefined;
  /** Capacities granted. */
  readonly cap: Readonly<QpCap>;
  /**
   * This QP's first send PSN, drawn at creation from its domain's seeded
   * stream as perftest draws `lrand48() & 0xffffff`: a peer passes it as its
   * `rqPsn`, and `connectQp`/`connectPair` use it unless told otherwise. A
   * PSN an attacker cannot guess is part of what keeps it from injecting
   * into the connection (ReDMArk, USENIX Security 2021).
   */
  readonly initialPsn: number;
  /** @internal its async events reported by `getAsyncEvent` and acknowledged */
  readonly asyncAcks = new EventAcks("async event", "ackAsyncEvent");

  /**
   * Made by `Pd.createQp`.
   *
   * @param pd protection domain
   * @param handle kernel handle
   * @param pqp the provider's rings
   * @param init creation attributes
   * @param cap capacities granted
   * @param bufAddr the work queue buffer
   */
  constructor(
    readonly pd: Pd,
    readonly handle: number,
    readonly pqp: ProviderQp,
    init: QpInitAttr,
    cap: QpCap,
    readonly bufAddr: number,
  ) {
    this.type = init.type;
    this.sendCq = init.sendCq;
    this.recvCq = init.recvCq;
    this.srq = init.srq;
    this.cap = Object.freeze({ ...cap });
    this.initialPsn = (pd.context.env.rng?.nextU32() ?? 0) & PSN_MASK;
  }

  /**
   * QP number, as the application knows it: the device's, or under the
   * Nomad layer the virtual number the QP keeps when a live migration
   * re-creates it under another number.
   */
  get qpNum(): number {
    return this.pqp.vqpn;
  }

  /** State as last set by `modify` or seen by `query` (the device may since have moved it to an error state). */
  get state(): number {
    return this.pqp.state;
  }

  #live(what: string): void {
    if (this.#dead) throw new VerbsError("EINVAL", `${what}: QP ${this.qpNum} was destroyed`);
  }

  /**
   * `ibv_modify_qp`: attributes by name; a key present (and not undefined)
   * sets its mask bit. EINVAL — and the QP unchanged — for an unknown
   * attribute, an illegal transition, or a missing or forbidden attribute.
   */
  async modify(attr: QpAttr): Promise<void> {
    this.#live("modify_qp");
    if (typeof attr !== "object" || attr === null) {
      throw new VerbsError("EINVAL", "modify_qp: give the attributes to set, { state, … }");
    }
    const { mask, unknown } = attrMask(attr as Record<string, unknown>);
    if (unknown.length > 0) {
      throw new VerbsError("EINVAL", `modify_qp: unknown attribute(s) ${unknown.join(", ")}`);
    }
    boolArg("modify_qp", "enSqdAsyncNotify", attr.enSqdAsyncNotify);
    const ctx = this.pd.context;
    await ctx.enter();
    await ctx.file.modifyQp({ qpHandle: this.handle, attr, mask });
    if (mask & QpAttrMask.STATE) {
      if (attr.state === QpState.RESET) this.pqp.reset();
      this.pqp.state = attr.state!;
    }
  }

  /** `ibv_query_qp`: current attributes (state as the device holds it) and capacities. */
  async query(): Promise<QpAttr & { state: number; cap: QpCap }> {
    this.#live("query_qp");
    const ctx = this.pd.context;
    await ctx.enter();
    const r = await ctx.file.queryQp(this.handle);
    this.pqp.state = r.attr.state;
    return { ...r.attr, cap: r.cap };
  }

  /**
   * `ibv_attach_mcast(3)`: this UD QP receives what is sent to multicast group
   * `gid` (16 bytes, first 0xFF) with MLID `lid` (0xC000–0xFFFE, from the
   * subnet manager's join). EINVAL for another QP type, a unicast GID or LID
   * (Linux ib_attach_mcast); attaching again is a success; ENOMEM when the
   * device's group entry is full (`maxMcastQpAttach`) or no group entry is
   * left; in a guest, EAGAIN at its `mcastAttachments` quota.
   */
  async attachMcast(gid: Uint8Array, lid: number): Promise<void> {
    this.#live("attach_mcast");
    const ctx = this.pd.context;
    checkMcastArgs("attach_mcast", gid, lid);
    await ctx.enter();
    await ctx.file.attachMcast({ qpHandle: this.handle, gid, mlid: lid });
  }

  /**
   * `ibv_detach_mcast(3)`: stop receiving group `gid`. EINVAL if this QP is
   * not attached to it with that LID. A QP must be detached from every group
   * before it is destroyed ({@link destroy} is EBUSY until then); closing
   * the context detaches what is left.
   */
  async detachMcast(gid: Uint8Array, lid: number): Promise<void> {
    this.#live("detach_mcast");
    const ctx = this.pd.context;
    checkMcastArgs("detach_mcast", gid, lid);
    await ctx.enter();
    await ctx.file.detachMcast({ qpHandle: this.handle, gid, mlid: lid });
  }

  /**
   * `ibv_post_send` (one WR, or several in order; stops at the first that
   * fails, whose index is the error's `badWr`).
   */
  postSend(wr: SendWr | readonly SendWr[]): void {
    this.#live("post_send");
    postEach(this.pqp, this.pqp.postSend, wr, "post_send QP", this.qpNum, true);
  }

  /** `ibv_post_recv` (one WR, or several in order; `badWr` as for {@link postSend}). */
  postRecv(wr: RecvWr | readonly RecvWr[]): void {
    this.#live("post_recv");
    postEach(this.pqp, this.pqp.postRecv, wr, "post_recv QP", this.qpNum, false);
  }

  /**
   * `ibv_destroy_qp`: EBUSY while the QP is attached to a multicast group
   * (the kernel's uverbs_free_qp: detach first). Once the kernel destroyed
   * it (its unread async events go with it), waits until every async event
   * `getAsyncEvent` returned for it is acknowledged with `ctx.ackAsyncEvent`
   * (ibv_cmd_destroy_qp waits until `events_completed` equals the kernel's
   * `events_reported`).
   */
  async destroy(): Promise<void> {
    this.#live("destroy_qp");
    const ctx = this.pd.context;
    await ctx.enter();
    await ctx.file.destroyQp(this.handle);
    ctx.qps.delete(this.handle);
    this.released();
    await this.asyncAcks.settled(ctx.env, `destroy_qp QP ${this.qpNum}`);
  }

  /** @internal the kernel object is gone */
  released(): void {
    if (this.#dead) return;
    this.#dead = true;
    const ctx = this.pd.context;
    this.pqp.reset();
    ctx.provider.qps.delete(this.pqp.qpn);
    ctx.dropAsyncEvents(this);
    ctx.env.memory.free(this.bufAddr);
  }
}
