/**
 * Bringing a QP from RESET to RTS in one call: the INIT → RTR → RTS sequence
 * of `ibv_modify_qp` that every verbs program writes out after exchanging
 * QP numbers, LIDs and PSNs with its peer (perftest's `ctx_connect`).
 *
 * The defaults are perftest's: port 1, P_Key index 0, path MTU 2048, random
 * initial PSNs (perftest draws `lrand48() & 0xffffff`; here each QP's
 * `initialPsn`, from its domain's seeded stream), ACK timeout 14, 7 retries,
 * 7 RNR retries (infinite), RNR timer 12, one outstanding RDMA READ/atomic
 * each way, and Q_Key 0x11111111 for UD. Each
 * transition passes exactly the attributes the IBTA table requires for the
 * QP's type (`qp_state.ts`), so the same call works for RC, UC and UD, on the
 * device model and on real hardware (`RealQp`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, connectPair, QpState, QpType } from "../../mod.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const hosts = [
 *   cluster.addHost({ name: "a", hypervisor: false }),
 *   cluster.addHost({ name: "b", hypervisor: false }),
 * ];
 * await cluster.start();
 * await cluster.run(async () => {
 *   const ends = [];
 *   for (const h of hosts) {
 *     const ctx = await h.os.openDevice();
 *     const pd = await ctx.allocPd();
 *     const cq = await ctx.createCq(16);
 *     const qp = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq,
 *       cap: { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 } });
 *     ends.push({ qp, lid: ctx.queryPort(1).lid });
 *   }
 *   await connectPair(ends[0], ends[1]);
 *   assert.equal(ends[0].qp.state, QpState.RTS);
 *   assert.equal(ends[1].qp.state, QpState.RTS);
 * });
 * ```
 *
 * @module
 */
import { Access, QpState, QpType } from "../uapi/enums.ts";
import { VerbsError } from "../uapi/errors.ts";
import type { AhAttr, QpAttr } from "../uapi/types.ts";

/**
 * What the helpers need of a QP: its type, number and `modify`. Both the
 * model's `Qp` and the FFI provider's `RealQp` are one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ConnectableQp, connectQp } from "./connect.ts";
 * import { QpType } from "../uapi/enums.ts";
 * import { stateName } from "../uapi/qp_state.ts";
 * // Any QP with a type, a number and modify() connects: here one that records the steps.
 * const steps: string[] = [];
 * const qp: ConnectableQp = { type: QpType.UC, qpNum: 0x41, modify: async (a) => void steps.push(stateName(a.state!)) };
 * await connectQp(qp, { remoteQpn: 0x48, dlid: 2 });
 * assert.deepEqual(steps, ["INIT", "RTR", "RTS"]);
 * ```
 */
export interface ConnectableQp {
  /** `QpType.RC`, `UC` or `UD`. */
  readonly type: number;
  /** This QP's number (what the peer passes as `remoteQpn`). */
  readonly qpNum: number;
  /** `ibv_modify_qp` with attributes by name. */
  modify(attr: QpAttr): Promise<void>;
  /**
   * The first send PSN this QP was given at creation (the model's `Qp`
   * draws one at random): its default `sqPsn`, and what its peer passes as
   * `rqPsn`. A QP without one starts at PSN 0.
   */
  readonly initialPsn?: number;
}

/**
 * Connection parameters with perftest's defaults; every field is optional.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectAttrs, type ConnectOptions } from "./connect.ts";
 * import { QpType } from "../uapi/enums.ts";
 * const opts: ConnectOptions = { pathMtu: 4096, sqPsn: 100, rqPsn: 200, maxRdAtomic: 4 };
 * const [, rtr, rts] = connectAttrs(QpType.RC, { ...opts, remoteQpn: 0x48, dlid: 2 });
 * assert.deepEqual([rtr.pathMtu, rtr.rqPsn, rts.sqPsn, rts.maxRdAtomic], [4096, 200, 100, 4]);
 * assert.equal(rts.retryCnt, 7); // what opts leaves out has its default
 * ```
 */
export interface ConnectOptions {
  /** Physical port, 1-based (default 1). */
  port?: number;
  /** P_Key table index (default 0). */
  pkeyIndex?: number;
  /**
   * Remote rights the QP grants (`Access` bits). Default: RC
   * REMOTE_WRITE | REMOTE_READ | REMOTE_ATOMIC; UC REMOTE_WRITE (the only
   * remote operation UC has). Ignored for UD.
   */
  accessFlags?: number;
  /** Q_Key of a UD QP (default 0x11111111, perftest's `DEF_QKEY`). */
  qkey?: number;
  /** Path MTU: bytes (256..4096) or an `Mtu` value (default 2048). */
  pathMtu?: number;
  /** Service level of the path (default 0). */
  sl?: number;
  /** This QP's first send PSN (default: its `initialPsn`, else 0). */
  sqPsn?: number;
  /**
   * The first PSN this QP expects: the peer's `sqPsn` (its `initialPsn`
   * unless it was told otherwise). `connectPair` knows it; `connectQp` of an
   * RC or UC QP that has an `initialPsn` needs it given.
   */
  rqPsn?: number;
  /** RC local ACK timeout exponent: 4.096 µs × 2^timeout (default 14). */
  timeout?: number;
  /** RC transport retries, 0..7 (default 7). */
  retryCnt?: number;
  /** RC RNR retries, 0..7 where 7 is infinite (default 7). */
  rnrRetry?: number;
  /** RC minimum RNR NAK timer, IBTA encoding 0..31 (default 12). */
  minRnrTimer?: number;
  /** RC RDMA READs/atomics outstanding as initiator (default 1). */
  maxRdAtomic?: number;
  /** RC RDMA READs/atomics accepted as responder (default 1). */
  maxDestRdAtomic?: number;
}

/**
 * Where a connected QP sends: the peer's QP number and LID (both required
 * for RC and UC, unused for UD, whose destination is in each work request),
 * plus any {@link ConnectOptions}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectAttrs, type QpPeer } from "./connect.ts";
 * import { QpType } from "../uapi/enums.ts";
 * const peer: QpPeer = { remoteQpn: 0x48, dlid: 2, sqPsn: 7, rqPsn: 9 };
 * const [, rtr, rts] = connectAttrs(QpType.RC, peer);
 * assert.deepEqual([rtr.destQpNum, rtr.ah?.dlid, rtr.rqPsn, rts.sqPsn], [0x48, 2, 9, 7]);
 * ```
 */
export interface QpPeer extends ConnectOptions {
  /** The peer QP's number (`dest_qp_num`). */
  remoteQpn?: number;
  /** The LID of the peer's port (`ah_attr.dlid`). */
  dlid?: number;
  /**
   * Global route to the peer (`ah_attr.grh`): needed across subnets and
   * always on RoCE, where the GID is the address.
   */
  grh?: AhAttr["grh"];
}

/**
 * One end for {@link connectPair}: a QP and the LID of the port it uses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ConnectableQp, connectPair, type QpEnd } from "./connect.ts";
 * import { QpType } from "../uapi/enums.ts";
 * const dest = new Map<number, number | undefined>();
 * const fake = (qpNum: number): ConnectableQp =>
 *   ({ type: QpType.UC, qpNum, modify: async (a) => void (a.destQpNum && dest.set(qpNum, a.destQpNum)) });
 * const end = (qp: ConnectableQp, lid: number): QpEnd => ({ qp, lid });
 * await connectPair(end(fake(0x41), 1), end(fake(0x48), 2));
 * assert.deepEqual([...dest], [[0x41, 0x48], [0x48, 0x41]]); // each end points at the other
 * ```
 */
export interface QpEnd {
  /** The QP, in RESET. */
  qp: ConnectableQp;
  /** LID of the local port (`ctx.queryPort(port).lid`), the peer's `dlid`. */
  lid: number;
  /** How the peer reaches this end by GID (its `grh`; RoCE needs one). */
  grh?: AhAttr["grh"];
}

/** perftest's `DEF_QKEY`. */
const DEFAULT_QKEY = 0x11111111;

/**
 * The three `modify` attribute sets that take a QP of `type` from RESET to
 * RTS toward `peer`: exactly the attributes the IBTA table requires for each
 * transition, no more (so they also serve as the "valid" baseline when
 * probing the state table).
 *
 * @throws VerbsError EINVAL for an RC or UC QP without `remoteQpn` and `dlid`, or an unknown type
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectAttrs } from "./connect.ts";
 * import { QpState, QpType } from "../uapi/enums.ts";
 * const [init, rtr, rts] = connectAttrs(QpType.UC, { remoteQpn: 0x48, dlid: 2 });
 * assert.deepEqual([init.state, rtr.destQpNum, rts.sqPsn], [QpState.INIT, 0x48, 0]);
 * assert.equal(rts.retryCnt, undefined); // UC has no acknowledgements to retry
 * assert.throws(() => connectAttrs(QpType.RC, {}), /needs the peer's remoteQpn and dlid/);
 * ```
 */
export function connectAttrs(type: number, peer: QpPeer = {}): [QpAttr, QpAttr, QpAttr] {
  if (typeof peer !== "object" || peer === null) {
    throw new VerbsError("EINVAL", `connectQp: give the peer { remoteQpn, dlid, … }, got ${peer}`);
  }
  const port = peer.port ?? 1;
  const pkeyIndex = peer.pkeyIndex ?? 0;
  const sqPsn = peer.sqPsn ?? 0;
  if (type === QpType.UD) {
    return [
      { state: QpState.INIT, port, pkeyIndex, qkey: peer.qkey ?? DEFAULT_QKEY },
      { state: QpState.RTR },
      { state: QpState.RTS, sqPsn },
    ];
  }
  if (type !== QpType.RC && type !== QpType.UC) {
    throw new VerbsError("EINVAL", `connectQp: QP type ${type} is not RC (2), UC (3) or UD (4)`);
  }
  const rc = type === QpType.RC;
  const name = rc ? "RC" : "UC";
  if (peer.remoteQpn === undefined || peer.dlid === undefined) {
    throw new VerbsError(
      "EINVAL",
      `connectQp: an ${name} QP needs the peer's remoteQpn and dlid (got ${peer.remoteQpn} and ${peer.dlid})`,
    );
  }
  const accessFlags = peer.accessFlags ??
    (rc ? Access.REMOTE_WRITE | Access.REMOTE_READ | Access.REMOTE_ATOMIC : Access.REMOTE_WRITE);
  const rtr: QpAttr = {
    state: QpState.RTR,
    ah: {
      dlid: peer.dlid,
      sl: peer.sl ?? 0,
      portNum: port,
      ...(peer.grh ? { grh: peer.grh } : {}),
    },
    pathMtu: peer.pathMtu ?? 2048,
    destQpNum: peer.remoteQpn,
    rqPsn: peer.rqPsn ?? 0,
  };
  const rts: QpAttr = { state: QpState.RTS, sqPsn };
  if (rc) {
    Object.assign(rtr, {
      maxDestRdAtomic: peer.maxDestRdAtomic ?? 1,
      minRnrTimer: peer.minRnrTimer ?? 12,
    });
    Object.assign(rts, {
      timeout: peer.timeout ?? 14,
      retryCnt: peer.retryCnt ?? 7,
      rnrRetry: peer.rnrRetry ?? 7,
      maxRdAtomic: peer.maxRdAtomic ?? 1,
    });
  }
  return [{ state: QpState.INIT, port, pkeyIndex, accessFlags }, rtr, rts];
}

/**
 * Take `qp` from RESET through INIT and RTR to RTS toward `peer`
 * (see {@link connectAttrs} for what each step passes). A step the device
 * refuses rejects with its `VerbsError` and leaves the QP in the state the
 * previous step reached.
 *
 * @throws VerbsError EINVAL for an RC or UC QP without `remoteQpn` and `dlid`, or with an
 *   `initialPsn` and no `rqPsn` (the peer's first PSN), or from `modify`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ConnectableQp, connectQp } from "./connect.ts";
 * import { QpType } from "../uapi/enums.ts";
 * import type { QpAttr } from "../uapi/types.ts";
 * const given: QpAttr[] = [];
 * const qp: ConnectableQp = { type: QpType.RC, qpNum: 0x41, initialPsn: 0x1234, modify: async (a) => void given.push(a) };
 * await connectQp(qp, { remoteQpn: 0x48, dlid: 2, pathMtu: 4096, rqPsn: 0x5678 });
 * assert.deepEqual([given[1].rqPsn, given[2].sqPsn], [0x5678, 0x1234]); // sends from its initialPsn
 * await assert.rejects(connectQp(qp, { remoteQpn: 0x48, dlid: 2 }), /needs the peer's first PSN/);
 * ```
 */
export async function connectQp(qp: ConnectableQp, peer: QpPeer = {}): Promise<void> {
  if (typeof qp !== "object" || qp === null || typeof qp.modify !== "function") {
    throw new VerbsError("EINVAL", `connectQp: give a QP (pd.createQp), got ${qp}`);
  }
  if (typeof peer !== "object" || peer === null) {
    throw new VerbsError("EINVAL", `connectQp: give the peer { remoteQpn, dlid, … }, got ${peer}`);
  }
  const sqPsn = peer.sqPsn ?? qp.initialPsn ?? 0;
  const steps = connectAttrs(qp.type, { ...peer, sqPsn });
  const connected = qp.type === QpType.RC || qp.type === QpType.UC;
  if (connected && peer.rqPsn === undefined && qp.initialPsn !== undefined) {
    // Both ends draw their first PSN at random: one end cannot guess the other's.
    throw new VerbsError(
      "EINVAL",
      `connectQp: QP ${qp.qpNum} needs the peer's first PSN (rqPsn: the peer QP's initialPsn, exchanged with its QP number as perftest does)`,
    );
  }
  for (const attr of steps) await qp.modify(attr);
}

/**
 * Connect two QPs of the same type to each other (`a` first). `opts` is
 * `a`'s view: `a` sends from `sqPsn` and expects `rqPsn`, so `b` gets the
 * two swapped. A QP may be paired with itself (loopback through its port).
 *
 * @throws VerbsError EINVAL when the types differ, or from {@link connectQp}
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ConnectableQp, connectPair } from "./connect.ts";
 * import { QpType } from "../uapi/enums.ts";
 * import type { QpAttr } from "../uapi/types.ts";
 * const given = new Map<number, QpAttr[]>();
 * const fake = (qpNum: number): ConnectableQp => ({
 *   type: QpType.RC, qpNum, modify: async (a) => void given.set(qpNum, [...given.get(qpNum) ?? [], a]),
 * });
 * await connectPair({ qp: fake(0x41), lid: 1 }, { qp: fake(0x48), lid: 2 }, { sqPsn: 100, rqPsn: 200 });
 * assert.deepEqual([given.get(0x41)![2].sqPsn, given.get(0x41)![1].rqPsn], [100, 200]);
 * assert.deepEqual([given.get(0x48)![2].sqPsn, given.get(0x48)![1].rqPsn], [200, 100]); // swapped
 * ```
 */
export async function connectPair(a: QpEnd, b: QpEnd, opts: ConnectOptions = {}): Promise<void> {
  for (const [name, end] of [["a", a], ["b", b]] as const) {
    if (typeof end !== "object" || end === null || typeof end.qp?.modify !== "function") {
      throw new VerbsError("EINVAL", `connectPair: end ${name} must be { qp, lid }, got ${end}`);
    }
  }
  if (typeof opts !== "object" || opts === null) {
    throw new VerbsError("EINVAL", `connectPair: opts must be an object, got ${opts}`);
  }
  if (a.qp.type !== b.qp.type) {
    throw new VerbsError(
      "EINVAL",
      `connectPair: QP ${a.qp.qpNum} is type ${a.qp.type} but QP ${b.qp.qpNum} is type ${b.qp.type}`,
    );
  }
  // Each end sends from its own initial PSN unless told otherwise (perftest's random PSNs).
  const sqPsn = opts.sqPsn ?? a.qp.initialPsn ?? 0;
  const rqPsn = opts.rqPsn ?? b.qp.initialPsn ?? 0;
  await connectQp(a.qp, { ...opts, sqPsn, rqPsn, remoteQpn: b.qp.qpNum, dlid: b.lid, grh: b.grh });
  if (b.qp === a.qp) return;
  await connectQp(b.qp, {
    ...opts,
    sqPsn: rqPsn,
    rqPsn: sqPsn,
    remoteQpn: a.qp.qpNum,
    dlid: a.lid,
    grh: a.grh,
  });
}
