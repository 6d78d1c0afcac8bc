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
  hwQpStateName,
  type PathParams,
  QP_ACCESS_MASK,
  type QpInfo,
  QpServiceType,
} from "./commands.ts";
import { IBA_MTUS, ibaMtuBytes, ibaMtuCode, MTU_CODE_MAX, MTU_CODE_MIN } from "./link.ts";
import { RQ_STRIDE_MAX, RQ_STRIDE_MIN, SQ_STRIDE_MAX, SQ_STRIDE_MIN } from "./wqe.ts";
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

/**
 * Engines the QP commands start or stop.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, CmdStatus } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * // RTR2RTS starts the requester; from any other state the engines are not touched.
 * const r = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   return await hca.cmd.exec(CmdOp.RTR2RTS_QP, { qpn: 0x40, ctx: { sqPsn: 0 } });
 * });
 * assert.equal(r.status, CmdStatus.BAD_QP_STATE);
 * assert.equal(r.ok ? "" : r.message, "RTR2RTS: QP 64 is in state 0 (RESET)");
 * ```
 */
export interface QpEngines {
  /** The send engine. */
  readonly requester: Requester;
  /** The completer. */
  readonly completer: Completer;
}

type Ctx = Record<string, unknown>;

/**
 * One QP transition command: the state(s) it starts from, the state it
 * leaves, and the QPC fields it takes (FORMATS.md §9, after IBTA vol 1
 * §11.2.4). Fields it does not take are ignored; `requires` must be present
 * for every QP type, `requiresConnected` for RC and UC only.
 */
interface Transition {
  readonly name: string;
  readonly from: readonly number[];
  readonly to: number;
  readonly accepts: readonly Field[];
  readonly requires?: readonly Field[];
  readonly requiresConnected?: readonly Field[];
}

type Field = keyof typeof FIELDS;

const ANY_BUT_RESET = [
  HwQpState.INIT,
  HwQpState.RTR,
  HwQpState.RTS,
  HwQpState.SQD,
  HwQpState.SQE,
  HwQpState.ERR,
];

/** What a QP in RTS may still change (RTS2RTS, and SQD2RTS on the way back). */
const RTS_MODIFIABLE: readonly Field[] = ["accessFlags", "minRnrTimer", "qkey"];

/** The one place that says which fields each transition takes. */
const TRANSITIONS: Record<number, Transition> = {
  [CmdOp.RST2INIT_QP]: {
    name: "RST2INIT",
    from: [HwQpState.RESET],
    to: HwQpState.INIT,
    accepts: ["pkeyIndex", "qkey", "accessFlags"],
  },
  [CmdOp.INIT2INIT_QP]: {
    name: "INIT2INIT",
    from: [HwQpState.INIT],
    to: HwQpState.INIT,
    accepts: ["port", "pkeyIndex", "qkey", "accessFlags"],
  },
  [CmdOp.INIT2RTR_QP]: {
    name: "INIT2RTR",
    from: [HwQpState.INIT],
    to: HwQpState.RTR,
    accepts: [
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
    requiresConnected: ["destQpn", "rqPsn", "mtu", "path"],
  },
  [CmdOp.RTR2RTS_QP]: {
    name: "RTR2RTS",
    from: [HwQpState.RTR],
    to: HwQpState.RTS,
    accepts: [
      "sqPsn",
      "timeout",
      "retryCnt",
      "rnrRetry",
      "maxRdAtomic",
      "accessFlags",
      "minRnrTimer",
      "qkey",
    ],
    requires: ["sqPsn"],
  },
  [CmdOp.RTS2RTS_QP]: {
    name: "RTS2RTS",
    from: [HwQpState.RTS],
    to: HwQpState.RTS,
    accepts: RTS_MODIFIABLE,
  },
  [CmdOp.SQERR2RTS_QP]: {
    name: "SQERR2RTS",
    from: [HwQpState.SQE],
    to: HwQpState.RTS,
    accepts: ["accessFlags", "qkey"],
  },
  [CmdOp.RTS2SQD_QP]: {
    name: "RTS2SQD",
    from: [HwQpState.RTS],
    to: HwQpState.SQD,
    accepts: ["sqdEvent"],
  },
  [CmdOp.SQD2SQD_QP]: {
    name: "SQD2SQD",
    from: [HwQpState.SQD],
    to: HwQpState.SQD,
    // A drained QP may also change its retry policy, path, port, P_Key index and both
    // RDMA READ/atomic depths (IBTA vol 1 §11.2.4; Linux qp_state_table, SQD->SQD).
    accepts: [
      ...RTS_MODIFIABLE,
      "timeout",
      "retryCnt",
      "rnrRetry",
      "maxRdAtomic",
      "maxDestRdAtomic",
      "path",
      "port",
      "pkeyIndex",
    ],
  },
  [CmdOp.SQD2RTS_QP]: {
    name: "SQD2RTS",
    from: [HwQpState.SQD],
    to: HwQpState.RTS,
    accepts: RTS_MODIFIABLE,
  },
  [CmdOp.TO_ERR_QP]: { name: "2ERR", from: ANY_BUT_RESET, to: HwQpState.ERR, accepts: [] },
  [CmdOp.TO_RST_QP]: {
    name: "2RST",
    from: [HwQpState.RESET, ...ANY_BUT_RESET],
    to: HwQpState.RESET,
    accepts: [],
  },
};

/**
 * True if `op` is a QP transition command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isQpTransition } from "./qp_commands.ts";
 * import { CmdOp } from "./commands.ts";
 * assert.deepEqual([isQpTransition(CmdOp.TO_ERR_QP), isQpTransition(CmdOp.QUERY_QP)], [true, false]);
 * ```
 */
export function isQpTransition(op: number): boolean {
  return TRANSITIONS[op] !== undefined;
}

/**
 * Execute a QP transition.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, CmdStatus } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * // The device runs every transition command through it.
 * const [special, toErr, toRst] = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   return [
 *     await hca.cmd.exec(CmdOp.TO_RST_QP, { qpn: 1 }),
 *     await hca.cmd.exec(CmdOp.TO_ERR_QP, { qpn: 0x40 }),
 *     await hca.cmd.exec(CmdOp.TO_RST_QP, { qpn: 0x40 }),
 *   ];
 * });
 * assert.equal(special.status, CmdStatus.BAD_INDEX); // QP 1 is a special QP
 * assert.equal(toErr.status, CmdStatus.BAD_QP_STATE); // a RESET QP has no context to fail
 * assert.ok(toRst.ok); // 2RST is allowed from RESET
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
    return fail(
      CmdStatus.BAD_QP_STATE,
      `${tr.name}: QP ${p.qpn} is in state ${state} (${hwQpStateName(state)})`,
    );
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
    q.req.psn = q.sqPsn;
    q.req.psnHigh = q.sqPsn;
    q.comp.psn = q.sqPsn;
    q.comp.retries = q.retryCnt;
    q.comp.rnrRetries = q.rnrRetry;
  }
  if (op === CmdOp.SQERR2RTS_QP) q.req.error = false;
  if (op === CmdOp.SQD2SQD_QP) {
    // A drained QP's new retry policy (IBTA vol 1 §11.2.4; Linux qp_state_table, SQD->SQD takes
    // IB_QP_RETRY_CNT and IB_QP_RNR_RETRY, which mthca passes with OPTPAR_RETRY_COUNT and
    // OPTPAR_RNR_RETRY) is the budget of the next message, not only after its next ACK.
    if (ctx.retryCnt !== undefined) q.comp.retries = q.retryCnt;
    if (ctx.rnrRetry !== undefined) q.comp.rnrRetries = q.rnrRetry;
  }
  if (op === CmdOp.RTS2SQD_QP) {
    // The drain event is asked for by each RTS2SQD command (mthca_modify_qp passes it as the
    // command's modifier only when this modify_qp has IB_QP_EN_SQD_ASYNC_NOTIFY set): a request
    // of an earlier drain does not carry over to this one.
    q.sqdEvent = ctx.sqdEvent === true;
    q.comp.draining = true;
    eng.completer.checkDrained(q);
  }
  if (q.state === HwQpState.RTS) {
    eng.requester.fetch(q);
    eng.requester.kick(q);
  }
  return ok(undefined);
}

/**
 * Drop a QP's context (2RST): no completions, references released, in-flight work discarded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, HwQpState } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * // 2RST runs release(): the QPN is free again and the QP is reported in RESET.
 * const [r, q] = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   const r = await hca.cmd.exec(CmdOp.TO_RST_QP, { qpn: 0x40 });
 *   return [r, await hca.cmd.exec(CmdOp.QUERY_QP, { qpn: 0x40 })];
 * });
 * assert.ok(r.ok);
 * assert.ok(q.ok);
 * assert.equal(q.out.state, HwQpState.RESET);
 * ```
 */
export function release(t: DeviceTables, qp: Qp): void {
  qp.state = HwQpState.RESET;
  qp.req.epoch++;
  qp.req.fetchEpoch++;
  qp.resp.epoch++;
  t.tp.dropHeld(qp);
  if (qp.comp.timer) t.core.engine.cancel(qp.comp.timer);
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
  if (!isPow2(c.sqStride) || c.sqStride < SQ_STRIDE_MIN || c.sqStride > SQ_STRIDE_MAX) {
    return fail(
      CmdStatus.BAD_SIZE,
      `${name}: sqStride must be a power of two in ${SQ_STRIDE_MIN}..${SQ_STRIDE_MAX}`,
    );
  }
  const rqSize = c.rqSize ?? 0;
  if (srq ? rqSize !== 0 : !isPow2(rqSize)) {
    return fail(CmdStatus.BAD_SIZE, `${name}: rqSize must be a power of two (0 with an SRQ)`);
  }
  if ((rqSize as number) > maxWr) {
    return fail(CmdStatus.EXCEED_LIM, `${name}: rqSize above max_qp_wr`);
  }
  const rqStride = c.rqStride ?? RQ_STRIDE_MIN;
  if (
    !isPow2(rqStride) || (rqStride as number) < RQ_STRIDE_MIN ||
    (rqStride as number) > RQ_STRIDE_MAX
  ) {
    return fail(
      CmdStatus.BAD_SIZE,
      `${name}: rqStride must be a power of two in ${RQ_STRIDE_MIN}..${RQ_STRIDE_MAX}`,
    );
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
  // A UD QP's packets are as long as its port's active MTU allows.
  const pm = t.port(q.port)?.activeMtu;
  if (q.type === QpServiceType.UD && pm) q.mtu = ibaMtuCode(pm) ?? q.mtu;
  t.tp.qps[qpn] = q;
  return ok(undefined);
}

/** A field's value as the QPC stores it, or why the command is refused. */
type Parsed = { value: unknown } | { status: number; why: string };

/** How one QPC field is checked, and stored once every field of the command passed. */
interface FieldRule {
  parse(v: unknown, t: DeviceTables, q: Qp): Parsed;
  /** Method syntax on purpose: each rule's `set` takes its own value type. */
  set(q: Qp, v: unknown): void;
}

/**
 * An integer field in `lo..hi` (`hi` may come from the device), refused
 * with BAD_PARAM and `why`; `cap`, if given, is a device limit above which
 * the value is EXCEED_LIM instead.
 */
function int(
  lo: number,
  hi: number | ((t: DeviceTables) => number),
  why: string,
  set: (q: Qp, v: number) => void,
  cap?: (t: DeviceTables) => number,
): FieldRule {
  return {
    parse(v, t) {
      if (!isInt(v, lo, typeof hi === "number" ? hi : hi(t))) {
        return { status: CmdStatus.BAD_PARAM, why };
      }
      const limit = cap?.(t);
      if (limit !== undefined && v > limit) {
        return { status: CmdStatus.EXCEED_LIM, why: `above the device's ${limit}` };
      }
      return { value: v };
    },
    set,
  };
}

const maxRdAtomic = (t: DeviceTables) => t.core.profile.hca.maxRdAtomic;

/** Every QPC field a transition may set. */
const FIELDS = {
  port: int(1, (t) => t.portCount, "out of range", (q, v) => (q.port = v)),
  pkeyIndex: int(
    0,
    (t) => t.core.profile.hca.maxPkeys - 1,
    "outside the port's P_Key table",
    (q, v) => (q.pkeyIndex = v),
  ),
  qkey: int(0, 0xffffffff, "must be a u32", (q, v) => (q.qkey = v)),
  accessFlags: {
    parse: (v: unknown) =>
      isInt(v, 0, QP_ACCESS_MASK) && (v & ~QP_ACCESS_MASK) === 0
        ? { value: v }
        : { status: CmdStatus.BAD_PARAM, why: "must be QP access bits (RRE/RWE/RAE)" },
    set: (q: Qp, v: number) => (q.accessFlags = v),
  },
  destQpn: int(0, 0xffffff, "must be 24 bits", (q, v) => (q.destQpn = v)),
  rqPsn: int(0, 0xffffff, "must be 24 bits", (q, v) => (q.rqPsn = q.resp.psn = v)),
  sqPsn: int(0, 0xffffff, "must be 24 bits", (q, v) => (q.sqPsn = v)),
  mtu: { parse: parseMtu, set: (q: Qp, v: number) => (q.mtu = v) },
  path: { parse: parsePath, set: (q: Qp, v: PathParams) => (q.path = v) },
  maxDestRdAtomic: int(0, 255, "out of range", (q, v) => (q.maxDestRdAtomic = v), maxRdAtomic),
  maxRdAtomic: int(0, 255, "out of range", (q, v) => (q.maxRdAtomic = v), maxRdAtomic),
  minRnrTimer: int(0, 31, "must be a 5-bit code", (q, v) => (q.minRnrTimer = v)),
  timeout: int(0, 31, "must be 0..31", (q, v) => (q.timeout = v)),
  retryCnt: int(0, 7, "must be 0..7", (q, v) => (q.retryCnt = v)),
  rnrRetry: int(0, 7, "must be 0..7", (q, v) => (q.rnrRetry = v)),
  sqdEvent: {
    parse: (v: unknown) => ({ value: v === true }),
    set: (q: Qp, v: boolean) => (q.sqdEvent = v),
  },
} satisfies Record<string, FieldRule>;

function parseMtu(v: unknown, t: DeviceTables, q: Qp): Parsed {
  if (!isInt(v, MTU_CODE_MIN, MTU_CODE_MAX)) {
    return {
      status: CmdStatus.BAD_PARAM,
      why: `must be an MTU code ${MTU_CODE_MIN}..${MTU_CODE_MAX} (${IBA_MTUS.join(", ")} bytes)`,
    };
  }
  // Longer packets than the port's link carries would go on the wire.
  const portMtu = t.port(q.port)?.activeMtu ?? 0;
  if (portMtu > 0 && ibaMtuBytes(v) > portMtu) {
    return {
      status: CmdStatus.BAD_PARAM,
      why: `${ibaMtuBytes(v)} above port ${q.port}'s MTU ${portMtu}`,
    };
  }
  return { value: v };
}

function parsePath(v: unknown): Parsed {
  const p = obj(v);
  if (
    !p || !isInt(p.dlid, 0, 0xffff) || !isInt(p.sl ?? 0, 0, 15) ||
    !isInt(p.srcPathBits ?? 0, 0, 0x7f)
  ) {
    return {
      status: CmdStatus.BAD_PARAM,
      why: "needs dlid (16 bits), sl (0..15), srcPathBits (0..127)",
    };
  }
  const g = p.grh === undefined ? undefined : obj(p.grh);
  if (p.grh !== undefined && (!g || !(g.dgid instanceof Uint8Array) || g.dgid.length !== 16)) {
    return { status: CmdStatus.BAD_PARAM, why: "grh needs a 16-byte dgid" };
  }
  const path: PathParams = {
    dlid: p.dlid as number,
    sl: (p.sl ?? 0) as number,
    srcPathBits: (p.srcPathBits ?? 0) as number,
    staticRate: (p.staticRate ?? 0) as number,
    grh: g
      ? {
        dgid: (g.dgid as Uint8Array).slice(),
        sgidIndex: (g.sgidIndex ?? 0) as number,
        flowLabel: (g.flowLabel ?? 0) as number,
        hopLimit: (g.hopLimit ?? 0) as number, // as a zeroed AV holds it (mthca_path_set)
        trafficClass: (g.trafficClass ?? 0) as number,
      }
      : undefined,
  };
  return { value: path };
}

/** Validate and apply the fields of `c` that transition `op` takes; nothing changes on failure. */
function modify(t: DeviceTables, q: Qp, op: number, c: Ctx): CmdResult<void> {
  const tr = TRANSITIONS[op];
  const connected = q.type !== QpServiceType.UD;
  for (const k of [...(tr.requires ?? []), ...(connected ? tr.requiresConnected ?? [] : [])]) {
    if (c[k] === undefined) return fail(CmdStatus.BAD_PARAM, `${tr.name}: ${k} is required`);
  }
  const apply: (() => void)[] = [];
  for (const k of tr.accepts) {
    if (c[k] === undefined) continue;
    const rule: FieldRule = FIELDS[k];
    const r = rule.parse(c[k], t, q);
    if ("why" in r) return fail(r.status, `${tr.name}: ${k} ${r.why}`);
    apply.push(() => rule.set(q, r.value));
  }
  for (const f of apply) f();
  return ok(undefined);
}

/**
 * QUERY_QP: the QPC as the device holds it (a RESET QP reports its defaults).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { CmdOp, CmdStatus, HwQpState } from "./commands.ts";
 * import { Hca } from "./device.ts";
 * const engine = new Engine();
 * const hca = new Hca({ engine, memory: new MachineMemory(16 << 20), irq: new InterruptController(),
 *   profile: PCIX_SDR_2006, rng: new Prng(1), name: "hca0" });
 * // QUERY_QP: a QPN never used reports RESET defaults; one past the table is refused.
 * const [fresh, outside] = await engine.run(async () => {
 *   await hca.cmd.exec(CmdOp.INIT_HCA, {});
 *   return [
 *     await hca.cmd.exec(CmdOp.QUERY_QP, { qpn: 0x40 }),
 *     await hca.cmd.exec(CmdOp.QUERY_QP, { qpn: PCIX_SDR_2006.hca.maxQp }),
 *   ];
 * });
 * assert.ok(fresh.ok);
 * assert.deepEqual([fresh.out.state, fresh.out.sendCqn], [HwQpState.RESET, -1]);
 * assert.equal(outside.status, CmdStatus.BAD_INDEX);
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
    nextPsn: q.req.psn,
    unackedPsn: q.comp.psn,
    sqDraining: q.state === HwQpState.SQD && q.comp.draining,
    expectedPsn: q.resp.psn,
    sqProducer: q.sqProducer,
    sqConsumer: q.sq[q.sqHead]?.counter ?? ((q.req.fetchCounter - q.req.fetching) >>> 0),
    rqProducer: q.rqProducer,
    rqConsumer: q.resp.rqConsumer,
    retriesLeft: q.comp.retries,
    rnrRetriesLeft: q.comp.rnrRetries,
  });
}
