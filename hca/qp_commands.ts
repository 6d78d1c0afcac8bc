/**
 * QP state transitions as firmware commands (RST2INIT … 2RST) and
 * QUERY_QP. The device enforces the current state of each transition and
 * the fields it needs to operate; the driver checks the IBTA attribute
 * table (vol 1 §11.2.4, the Modify QP attribute table) before issuing them.
 *
 * @module
 */

import {
  CmdOp,
  type CmdResult,
  CmdStatus,
  HwQpState,
  type QpInfo,
  QpServiceType,
} from "./commands.ts";
import {
  type DeviceTables,
  fail,
  isInt,
  isPow2,
  isResult,
  obj,
  ok,
  queueBuffer,
} from "./firmware.ts";
import { Qp } from "./qp.ts";
import type { Requester } from "./requester.ts";
import type { Completer } from "./completer.ts";

/** Engines the QP commands start or stop. */
export interface QpEngines {
  /** The send engine. */
  readonly requester: Requester;
  /** The completer. */
  readonly completer: Completer;
}

type Ctx = Record<string, unknown>;

/** Allowed current state(s) and resulting state of each transition command. */
const TRANSITIONS: Record<number, { from: readonly number[]; to: number; name: string }> = {
  [CmdOp.RST2INIT_QP]: { from: [HwQpState.RESET], to: HwQpState.INIT, name: "RST2INIT" },
  [CmdOp.INIT2INIT_QP]: { from: [HwQpState.INIT], to: HwQpState.INIT, name: "INIT2INIT" },
  [CmdOp.INIT2RTR_QP]: { from: [HwQpState.INIT], to: HwQpState.RTR, name: "INIT2RTR" },
  [CmdOp.RTR2RTS_QP]: { from: [HwQpState.RTR], to: HwQpState.RTS, name: "RTR2RTS" },
  [CmdOp.RTS2RTS_QP]: { from: [HwQpState.RTS], to: HwQpState.RTS, name: "RTS2RTS" },
  [CmdOp.SQERR2RTS_QP]: { from: [HwQpState.SQE], to: HwQpState.RTS, name: "SQERR2RTS" },
  [CmdOp.RTS2SQD_QP]: { from: [HwQpState.RTS], to: HwQpState.SQD, name: "RTS2SQD" },
  [CmdOp.SQD2SQD_QP]: { from: [HwQpState.SQD], to: HwQpState.SQD, name: "SQD2SQD" },
  [CmdOp.SQD2RTS_QP]: { from: [HwQpState.SQD], to: HwQpState.RTS, name: "SQD2RTS" },
  [CmdOp.TO_ERR_QP]: {
    from: [
      HwQpState.INIT,
      HwQpState.RTR,
      HwQpState.RTS,
      HwQpState.SQD,
      HwQpState.SQE,
      HwQpState.ERR,
    ],
    to: HwQpState.ERR,
    name: "2ERR",
  },
  [CmdOp.TO_RST_QP]: {
    from: [
      HwQpState.RESET,
      HwQpState.INIT,
      HwQpState.RTR,
      HwQpState.RTS,
      HwQpState.SQD,
      HwQpState.SQE,
      HwQpState.ERR,
    ],
    to: HwQpState.RESET,
    name: "2RST",
  },
};

/** True if `op` is a QP transition command. */
export function isQpTransition(op: number): boolean {
  return TRANSITIONS[op] !== undefined;
}

/**
 * Execute a QP transition.
 *
 * @example
 * ```ts
 * import { isQpTransition } from "./qp_commands.ts";
 * import { CmdOp } from "./commands.ts";
 * console.log(isQpTransition(CmdOp.RTR2RTS_QP)); // true
 * ```
 */
export function qpTransition(
  t: DeviceTables,
  eng: QpEngines,
  op: number,
  params: unknown,
): CmdResult<void> {
  const tr = TRANSITIONS[op];
  const p = obj(params);
  const h = t.core.profile.hca;
  if (!p || !isInt(p.qpn, 0, h.maxQp - 1)) {
    return fail(CmdStatus.BAD_INDEX, `${tr.name}: qpn out of range`);
  }
  if (p.qpn < 2) {
    return fail(CmdStatus.BAD_INDEX, `${tr.name}: QPN ${p.qpn} is a special QP (not modelled)`);
  }
  const ctx = (obj(p.ctx) ?? {}) as Ctx;
  const qp = t.tp.qps[p.qpn];
  const state = qp ? qp.state : HwQpState.RESET;
  if (!tr.from.includes(state)) {
    return fail(CmdStatus.BAD_QP_STATE, `${tr.name}: QP ${p.qpn} is in state ${state}`);
  }
  if (op === CmdOp.TO_RST_QP) {
    if (qp) release(t, qp);
    return ok(undefined);
  }
  if (op === CmdOp.RST2INIT_QP) return rst2init(t, p.qpn, ctx);
  const q = qp!;
  if (op === CmdOp.TO_ERR_QP) {
    t.tp.toError(q);
    return ok(undefined);
  }
  const r = modify(t, q, op, ctx);
  if (!r.ok) return r;
  q.state = tr.to as Qp["state"];
  if (op === CmdOp.RTR2RTS_QP) {
    q.nextPsn = q.sqPsn;
    q.psnHigh = q.sqPsn;
    q.unackedPsn = q.sqPsn;
    q.retriesLeft = q.retryCnt;
    q.rnrRetriesLeft = q.rnrRetry;
  }
  if (op === CmdOp.SQERR2RTS_QP) q.sqError = false;
  if (op === CmdOp.RTS2SQD_QP) {
    q.draining = true;
    eng.completer.checkDrained(q);
  }
  if (q.state === HwQpState.RTS) {
    eng.requester.fetch(q);
    eng.requester.kick(q);
  }
  return ok(undefined);
}

/** Drop a QP's context (2RST): no completions, references released, in-flight work discarded. */
export function release(t: DeviceTables, qp: Qp): void {
  qp.state = HwQpState.RESET;
  qp.epoch++;
  qp.fetchEpoch++;
  qp.respEpoch++;
  if (qp.retransmitTimer) t.core.engine.cancel(qp.retransmitTimer);
  qp.sendCq.refs--;
  qp.recvCq.refs--;
  if (qp.srq) qp.srq.refs--;
  qp.wq.refs--;
  t.tp.qps[qp.qpn] = undefined;
}

function rst2init(t: DeviceTables, qpn: number, c: Ctx): CmdResult<void> {
  const h = t.core.profile.hca;
  const name = "RST2INIT";
  if (c.type !== QpServiceType.RC && c.type !== QpServiceType.UC && c.type !== QpServiceType.UD) {
    return fail(CmdStatus.BAD_PARAM, `${name}: type ${c.type} is not RC/UC/UD`);
  }
  if (!isInt(c.pd, 0, h.maxPd - 1)) return fail(CmdStatus.BAD_PARAM, `${name}: pd out of range`);
  const scq = isInt(c.sendCqn, 0, h.maxCq - 1) ? t.cqs[c.sendCqn] : undefined;
  const rcq = isInt(c.recvCqn, 0, h.maxCq - 1) ? t.cqs[c.recvCqn] : undefined;
  if (!scq || !rcq) return fail(CmdStatus.BAD_RESOURCE, `${name}: send/recv CQ is not HW-owned`);
  let srq = undefined;
  if (c.srqn !== undefined && c.srqn !== -1) {
    srq = isInt(c.srqn, 0, h.maxSrq - 1) ? t.srqs[c.srqn] : undefined;
    if (!srq) return fail(CmdStatus.BAD_RESOURCE, `${name}: SRQ ${c.srqn} is not HW-owned`);
  }
  if (!isInt(c.uarIndex, 0, h.maxUar - 1)) {
    return fail(CmdStatus.BAD_PARAM, `${name}: uarIndex out of range`);
  }
  if (!isInt(c.port, 1, t.portCount)) return fail(CmdStatus.BAD_PARAM, `${name}: port ${c.port}`);
  const maxWr = 2 ** Math.ceil(Math.log2(h.maxQpWr));
  if (!isPow2(c.sqSize)) return fail(CmdStatus.BAD_SIZE, `${name}: sqSize must be a power of two`);
  if (c.sqSize > maxWr) return fail(CmdStatus.EXCEED_LIM, `${name}: sqSize above max_qp_wr`);
  if (!isPow2(c.sqStride) || c.sqStride < 64 || c.sqStride > 1024) {
    return fail(CmdStatus.BAD_SIZE, `${name}: sqStride must be a power of two in 64..1024`);
  }
  const rqSize = c.rqSize ?? 0;
  if (srq ? rqSize !== 0 : !isPow2(rqSize)) {
    return fail(CmdStatus.BAD_SIZE, `${name}: rqSize must be a power of two (0 with an SRQ)`);
  }
  if ((rqSize as number) > maxWr) {
    return fail(CmdStatus.EXCEED_LIM, `${name}: rqSize above max_qp_wr`);
  }
  const rqStride = c.rqStride ?? 16;
  if (!isPow2(rqStride) || (rqStride as number) < 16 || (rqStride as number) > 1024) {
    return fail(CmdStatus.BAD_SIZE, `${name}: rqStride must be a power of two in 16..1024`);
  }
  const sq = queueBuffer(t, c.wqKey, c.sqAddr, c.sqSize * c.sqStride, false, `${name} SQ`);
  if (isResult(sq)) return sq;
  if (!srq) {
    const rq = queueBuffer(
      t,
      c.wqKey,
      c.rqAddr,
      (rqSize as number) * (rqStride as number),
      false,
      `${name} RQ`,
    );
    if (isResult(rq)) return rq;
  }
  const q = new Qp(qpn);
  q.type = c.type;
  q.pd = c.pd;
  q.sendCq = scq;
  q.recvCq = rcq;
  q.srq = srq;
  q.uarIndex = c.uarIndex;
  q.wq = sq;
  q.sqAddr = c.sqAddr as number;
  q.sqSize = c.sqSize;
  q.sqStride = c.sqStride;
  q.rqAddr = (c.rqAddr as number) ?? 0;
  q.rqSize = rqSize as number;
  q.rqStride = rqStride as number;
  q.port = c.port;
  const r = modify(t, q, CmdOp.RST2INIT_QP, c);
  if (!r.ok) return r;
  scq.refs++;
  rcq.refs++;
  if (srq) srq.refs++;
  sq.refs++;
  q.state = HwQpState.INIT;
  const pm = t.port(q.port)?.activeMtu;
  if (q.type === QpServiceType.UD && pm) q.mtu = Math.log2(pm) - 7;
  t.tp.qps[qpn] = q;
  return ok(undefined);
}

/** Fields each transition accepts (FORMATS.md §9); others are ignored. */
const ACCEPTS: Record<number, readonly string[]> = {
  [CmdOp.RST2INIT_QP]: ["pkeyIndex", "qkey", "accessFlags"],
  [CmdOp.INIT2INIT_QP]: ["port", "pkeyIndex", "qkey", "accessFlags"],
  [CmdOp.INIT2RTR_QP]: [
    "destQpn",
    "rqPsn",
    "mtu",
    "path",
    "maxDestRdAtomic",
    "minRnrTimer",
    "qkey",
    "accessFlags",
    "pkeyIndex",
  ],
  [CmdOp.RTR2RTS_QP]: [
    "sqPsn",
    "timeout",
    "retryCnt",
    "rnrRetry",
    "maxRdAtomic",
    "accessFlags",
    "minRnrTimer",
    "qkey",
  ],
  [CmdOp.RTS2RTS_QP]: ["accessFlags", "minRnrTimer", "qkey"],
  [CmdOp.SQERR2RTS_QP]: ["accessFlags", "qkey"],
  [CmdOp.RTS2SQD_QP]: ["sqdEvent"],
  [CmdOp.SQD2SQD_QP]: [
    "accessFlags",
    "minRnrTimer",
    "qkey",
    "timeout",
    "retryCnt",
    "rnrRetry",
    "maxRdAtomic",
    "path",
  ],
  [CmdOp.SQD2RTS_QP]: ["accessFlags", "minRnrTimer", "qkey"],
};

/** Fields a transition cannot do without, by QP type. */
function required(op: number, type: number): readonly string[] {
  if (op === CmdOp.INIT2RTR_QP && type !== QpServiceType.UD) {
    return ["destQpn", "rqPsn", "mtu", "path"];
  }
  if (op === CmdOp.RTR2RTS_QP) return ["sqPsn"];
  return [];
}

/** Validate and apply the accepted fields of `c` to `q`; nothing changes on failure. */
function modify(t: DeviceTables, q: Qp, op: number, c: Ctx): CmdResult<void> {
  const name = TRANSITIONS[op].name;
  const h = t.core.profile.hca;
  for (const k of required(op, q.type)) {
    if (c[k] === undefined) return fail(CmdStatus.BAD_PARAM, `${name}: ${k} is required`);
  }
  const apply: (() => void)[] = [];
  for (const k of ACCEPTS[op] ?? []) {
    const v = c[k];
    if (v === undefined) continue;
    const bad = (why: string) => fail(CmdStatus.BAD_PARAM, `${name}: ${k} ${why}`);
    switch (k) {
      case "port":
        if (!isInt(v, 1, t.portCount)) return bad("out of range");
        apply.push(() => (q.port = v));
        break;
      case "pkeyIndex":
        if (!isInt(v, 0, 0xffff)) return bad("out of range");
        apply.push(() => (q.pkeyIndex = v));
        break;
      case "qkey":
        if (!isInt(v, 0, 0xffffffff)) return bad("must be a u32");
        apply.push(() => (q.qkey = v));
        break;
      case "accessFlags":
        if (!isInt(v, 0, 0xff)) return bad("must be a bit mask");
        apply.push(() => (q.accessFlags = v));
        break;
      case "destQpn":
        if (!isInt(v, 0, 0xffffff)) return bad("must be 24 bits");
        apply.push(() => (q.destQpn = v));
        break;
      case "rqPsn":
        if (!isInt(v, 0, 0xffffff)) return bad("must be 24 bits");
        apply.push(() => (q.rqPsn = q.expectedPsn = v));
        break;
      case "sqPsn":
        if (!isInt(v, 0, 0xffffff)) return bad("must be 24 bits");
        apply.push(() => (q.sqPsn = v));
        break;
      case "mtu":
        if (!isInt(v, 1, 5)) return bad("must be an MTU code 1..5");
        apply.push(() => (q.mtu = v));
        break;
      case "path": {
        const p = obj(v);
        if (
          !p || !isInt(p.dlid, 0, 0xffff) || !isInt(p.sl ?? 0, 0, 15) ||
          !isInt(p.srcPathBits ?? 0, 0, 0x7f)
        ) {
          return bad("needs dlid (16 bits), sl (0..15), srcPathBits (0..127)");
        }
        const g = p.grh === undefined ? undefined : obj(p.grh);
        if (
          p.grh !== undefined && (!g || !(g.dgid instanceof Uint8Array) || g.dgid.length !== 16)
        ) {
          return bad("grh needs a 16-byte dgid");
        }
        const path = {
          dlid: p.dlid as number,
          sl: (p.sl ?? 0) as number,
          srcPathBits: (p.srcPathBits ?? 0) as number,
          staticRate: (p.staticRate ?? 0) as number,
          grh: g
            ? {
              dgid: (g.dgid as Uint8Array).slice(),
              sgidIndex: (g.sgidIndex ?? 0) as number,
              flowLabel: (g.flowLabel ?? 0) as number,
              hopLimit: (g.hopLimit ?? 64) as number,
              trafficClass: (g.trafficClass ?? 0) as number,
            }
            : undefined,
        };
        apply.push(() => (q.path = path));
        break;
      }
      case "maxDestRdAtomic":
        if (!isInt(v, 0, 255)) return bad("out of range");
        if (v > h.maxRdAtomic) {
          return fail(CmdStatus.EXCEED_LIM, `${name}: ${k} above the device's ${h.maxRdAtomic}`);
        }
        apply.push(() => (q.maxDestRdAtomic = v));
        break;
      case "maxRdAtomic":
        if (!isInt(v, 0, 255)) return bad("out of range");
        if (v > h.maxRdAtomic) {
          return fail(CmdStatus.EXCEED_LIM, `${name}: ${k} above the device's ${h.maxRdAtomic}`);
        }
        apply.push(() => (q.maxRdAtomic = v));
        break;
      case "minRnrTimer":
        if (!isInt(v, 0, 31)) return bad("must be a 5-bit code");
        apply.push(() => (q.minRnrTimer = v));
        break;
      case "timeout":
        if (!isInt(v, 0, 31)) return bad("must be 0..31");
        apply.push(() => (q.timeout = v));
        break;
      case "retryCnt":
        if (!isInt(v, 0, 7)) return bad("must be 0..7");
        apply.push(() => (q.retryCnt = v));
        break;
      case "rnrRetry":
        if (!isInt(v, 0, 7)) return bad("must be 0..7");
        apply.push(() => (q.rnrRetry = v));
        break;
      case "sqdEvent":
        apply.push(() => (q.sqdEvent = v === true));
        break;
    }
  }
  for (const f of apply) f();
  return ok(undefined);
}

/**
 * QUERY_QP: the QPC as the device holds it (a RESET QP reports its defaults).
 *
 * @example
 * ```ts
 * import { queryQp } from "./qp_commands.ts";
 * console.log(typeof queryQp); // "function"
 * ```
 */
export function queryQp(t: DeviceTables, params: unknown): CmdResult<QpInfo> {
  const p = obj(params);
  if (!p || !isInt(p.qpn, 0, t.core.profile.hca.maxQp - 1)) {
    return fail(CmdStatus.BAD_INDEX, "QUERY_QP: qpn out of range");
  }
  const q = t.tp.qps[p.qpn] ?? new Qp(p.qpn);
  return ok({
    qpn: q.qpn,
    state: q.state,
    type: q.type,
    pd: q.pd,
    sendCqn: q.sendCq?.cqn ?? -1,
    recvCqn: q.recvCq?.cqn ?? -1,
    srqn: q.srq?.srqn ?? -1,
    uarIndex: q.uarIndex,
    wqKey: q.wq?.key ?? 0,
    sqAddr: q.sqAddr,
    rqAddr: q.rqAddr,
    sqSize: q.sqSize,
    sqStride: q.sqStride,
    rqSize: q.rqSize,
    rqStride: q.rqStride,
    port: q.port,
    pkeyIndex: q.pkeyIndex,
    qkey: q.qkey,
    accessFlags: q.accessFlags,
    destQpn: q.destQpn,
    rqPsn: q.rqPsn,
    sqPsn: q.sqPsn,
    mtu: q.mtu,
    path: q.path,
    timeout: q.timeout,
    retryCnt: q.retryCnt,
    rnrRetry: q.rnrRetry,
    minRnrTimer: q.minRnrTimer,
    maxRdAtomic: q.maxRdAtomic,
    maxDestRdAtomic: q.maxDestRdAtomic,
    sqdEvent: q.sqdEvent,
    nextPsn: q.nextPsn,
    unackedPsn: q.unackedPsn,
    expectedPsn: q.expectedPsn,
    sqProducer: q.sqProducer,
    sqConsumer: q.sq[0]?.counter ?? ((q.sqFetch - q.fetching) >>> 0),
    rqProducer: q.rqProducer,
    rqConsumer: q.rqConsumer,
    retriesLeft: q.retriesLeft,
    rnrRetriesLeft: q.rnrRetriesLeft,
  });
}
