/**
 * The QP state machine of `ibv_modify_qp`: which state transitions exist and,
 * per transition and QP type, which attributes must and may be given
 * (IBTA vol. 1 §11.2.4.2 and the QP state diagram §10.3.1; the same table
 * Linux keeps as `qp_state_table` in drivers/infiniband/core/verbs.c and
 * checks with `ib_modify_qp_is_ok`).
 *
 * API.md's `qp.modify({ state, … })` takes attributes by name; the mask is
 * derived from which keys are present ({@link attrMask}), so "missing" and
 * "forbidden" are decided exactly as the kernel decides them for a C caller
 * that sets `attr_mask` bits.
 *
 * @module
 */
import { QpAttrMask, QpState, QpType } from "./enums.ts";

const {
  STATE,
  CUR_STATE,
  EN_SQD_ASYNC_NOTIFY,
  ACCESS_FLAGS,
  PKEY_INDEX,
  PORT,
  QKEY,
  AV,
  PATH_MTU,
  TIMEOUT,
  RETRY_CNT,
  RNR_RETRY,
  RQ_PSN,
  MAX_QP_RD_ATOMIC,
  ALT_PATH,
  MIN_RNR_TIMER,
  SQ_PSN,
  MAX_DEST_RD_ATOMIC,
  PATH_MIG_STATE,
  DEST_QPN,
} = QpAttrMask;

/**
 * Attribute bits per QP type for one transition.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QP_STATE_TABLE, type TransitionParams } from "./qp_state.ts";
 * import { QpAttrMask as M, QpState, QpType } from "./enums.ts";
 * const reset2init: TransitionParams = QP_STATE_TABLE[QpState.RESET][QpState.INIT]!;
 * assert.equal(reset2init.req[QpType.UD] & M.QKEY, M.QKEY); // UD needs a Q_Key
 * assert.equal(reset2init.req[QpType.RC] & M.QKEY, 0);
 * assert.equal(QP_STATE_TABLE[QpState.RESET][QpState.RTS], undefined); // no such transition
 * ```
 */
export interface TransitionParams {
  /** Attributes that must be present, by QP type. */
  readonly req: Readonly<Record<QpType, number>>;
  /** Attributes that may be present, by QP type (anything else is forbidden). */
  readonly opt: Readonly<Record<QpType, number>>;
}

const NONE: Readonly<Record<QpType, number>> = { [QpType.RC]: 0, [QpType.UC]: 0, [QpType.UD]: 0 };

function t(
  req: Partial<Record<QpType, number>> = {},
  opt: Partial<Record<QpType, number>> = {},
): TransitionParams {
  return { req: { ...NONE, ...req }, opt: { ...NONE, ...opt } };
}

const RC = QpType.RC, UC = QpType.UC, UD = QpType.UD;
const S = QpState;

/**
 * `QP_STATE_TABLE[from][to]`: the transition's parameters, or undefined if
 * `ibv_modify_qp` may not move a QP from `from` to `to` (SQE and ERR are
 * also entered by the device on errors; that is not a modify).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QP_STATE_TABLE } from "./qp_state.ts";
 * import { QpAttrMask, QpState, QpType } from "./enums.ts";
 * const init2rtr = QP_STATE_TABLE[QpState.INIT][QpState.RTR]!;
 * assert.ok((init2rtr.req[QpType.RC] & QpAttrMask.PATH_MTU) !== 0);
 * assert.equal(init2rtr.req[QpType.UD] & QpAttrMask.PATH_MTU, 0);
 * ```
 */
export const QP_STATE_TABLE: readonly (readonly (TransitionParams | undefined)[])[] = (() => {
  const tab: (TransitionParams | undefined)[][] = [];
  for (let i = 0; i <= S.ERR; i++) tab.push(new Array(S.ERR + 1).fill(undefined));
  // Every state but RESET may be reset or moved to ERR with no attributes.
  for (let s = S.INIT; s <= S.ERR; s++) {
    tab[s][S.RESET] = t();
    tab[s][S.ERR] = t();
  }
  tab[S.RESET][S.RESET] = t();
  tab[S.RESET][S.INIT] = t({
    [UD]: PKEY_INDEX | PORT | QKEY,
    [UC]: PKEY_INDEX | PORT | ACCESS_FLAGS,
    [RC]: PKEY_INDEX | PORT | ACCESS_FLAGS,
  });
  tab[S.INIT][S.INIT] = t({}, {
    [UD]: PKEY_INDEX | PORT | QKEY,
    [UC]: PKEY_INDEX | PORT | ACCESS_FLAGS,
    [RC]: PKEY_INDEX | PORT | ACCESS_FLAGS,
  });
  tab[S.INIT][S.RTR] = t({
    [UC]: AV | PATH_MTU | DEST_QPN | RQ_PSN,
    [RC]: AV | PATH_MTU | DEST_QPN | RQ_PSN | MAX_DEST_RD_ATOMIC | MIN_RNR_TIMER,
  }, {
    [UD]: PKEY_INDEX | QKEY,
    [UC]: ALT_PATH | ACCESS_FLAGS | PKEY_INDEX,
    [RC]: ALT_PATH | ACCESS_FLAGS | PKEY_INDEX,
  });
  tab[S.RTR][S.RTS] = t({
    [UD]: SQ_PSN,
    [UC]: SQ_PSN,
    [RC]: TIMEOUT | RETRY_CNT | RNR_RETRY | SQ_PSN | MAX_QP_RD_ATOMIC,
  }, {
    [UD]: CUR_STATE | QKEY,
    [UC]: CUR_STATE | ALT_PATH | ACCESS_FLAGS | PATH_MIG_STATE,
    [RC]: CUR_STATE | ALT_PATH | ACCESS_FLAGS | MIN_RNR_TIMER | PATH_MIG_STATE,
  });
  const rtsOpt = {
    [UD]: CUR_STATE | QKEY,
    [UC]: CUR_STATE | ACCESS_FLAGS | ALT_PATH | PATH_MIG_STATE,
    [RC]: CUR_STATE | ACCESS_FLAGS | ALT_PATH | PATH_MIG_STATE | MIN_RNR_TIMER,
  };
  tab[S.RTS][S.RTS] = t({}, rtsOpt);
  tab[S.RTS][S.SQD] = t({}, {
    [UD]: EN_SQD_ASYNC_NOTIFY,
    [UC]: EN_SQD_ASYNC_NOTIFY,
    [RC]: EN_SQD_ASYNC_NOTIFY,
  });
  tab[S.SQD][S.RTS] = t({}, rtsOpt);
  tab[S.SQD][S.SQD] = t({}, {
    [UD]: PKEY_INDEX | QKEY,
    [UC]: AV | ALT_PATH | ACCESS_FLAGS | PKEY_INDEX | PATH_MIG_STATE,
    [RC]: PORT | AV | TIMEOUT | RETRY_CNT | RNR_RETRY | MAX_QP_RD_ATOMIC | MAX_DEST_RD_ATOMIC |
      ALT_PATH | ACCESS_FLAGS | PKEY_INDEX | MIN_RNR_TIMER | PATH_MIG_STATE,
  });
  // SQE exists for UC and UD only (an RC send error moves the QP to ERR,
  // IBTA §10.3.1); Linux lists the transition without attributes for RC.
  tab[S.SQE][S.RTS] = t({}, { [UD]: CUR_STATE | QKEY, [UC]: CUR_STATE | ACCESS_FLAGS });
  return tab;
})();

/**
 * Attribute names of `qp.modify`, with the `ibv_qp_attr_mask` bit each one sets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ATTR_MASK_BITS } from "./qp_state.ts";
 * assert.equal(ATTR_MASK_BITS.pathMtu, 1 << 8);
 * ```
 */
export const ATTR_MASK_BITS = {
  state: STATE,
  curState: CUR_STATE,
  enSqdAsyncNotify: EN_SQD_ASYNC_NOTIFY,
  accessFlags: ACCESS_FLAGS,
  pkeyIndex: PKEY_INDEX,
  port: PORT,
  qkey: QKEY,
  ah: AV,
  pathMtu: PATH_MTU,
  timeout: TIMEOUT,
  retryCnt: RETRY_CNT,
  rnrRetry: RNR_RETRY,
  rqPsn: RQ_PSN,
  maxRdAtomic: MAX_QP_RD_ATOMIC,
  altPath: ALT_PATH,
  minRnrTimer: MIN_RNR_TIMER,
  sqPsn: SQ_PSN,
  maxDestRdAtomic: MAX_DEST_RD_ATOMIC,
  pathMigState: PATH_MIG_STATE,
  cap: QpAttrMask.CAP,
  destQpNum: DEST_QPN,
} as const;

/**
 * A `qp.modify` attribute name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ATTR_MASK_BITS, type QpAttrName } from "./qp_state.ts";
 * const n: QpAttrName = "destQpNum";
 * assert.equal(ATTR_MASK_BITS[n], 1 << 20);
 * ```
 */
export type QpAttrName = keyof typeof ATTR_MASK_BITS;

const NAME_OF_BIT = new Map<number, QpAttrName>(
  Object.entries(ATTR_MASK_BITS).map(([k, v]) => [v, k as QpAttrName]),
);

/**
 * The attribute mask a C caller would pass: one bit per present key whose
 * value is not `undefined`. Unknown keys are returned separately so the
 * caller can reject them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { attrMask } from "./qp_state.ts";
 * import { QpAttrMask } from "./enums.ts";
 * const { mask, unknown } = attrMask({ state: 1, port: 1, bogus: 3 });
 * assert.equal(mask, QpAttrMask.STATE | QpAttrMask.PORT);
 * assert.deepEqual(unknown, ["bogus"]);
 * ```
 */
export function attrMask(attr: Record<string, unknown>): { mask: number; unknown: string[] } {
  let mask = 0;
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(attr)) {
    // sq_draining is an output of ibv_query_qp with no mask bit: ibv_modify_qp ignores it.
    if (v === undefined || k === "sqDraining") continue;
    const bit = (ATTR_MASK_BITS as Record<string, number>)[k];
    if (bit === undefined) unknown.push(k);
    else mask |= bit;
  }
  return { mask, unknown };
}

/** The attributes that are structures: present means an object. */
const STRUCT_ATTRS: ReadonlySet<string> = new Set(["ah", "altPath", "cap"]);

/**
 * The attributes `mask` names that `attr` does not give: no value, or for
 * an address vector (`ah`, `altPath`) or `cap` no object. A C caller always
 * passes a whole `struct ibv_qp_attr`, so its mask bits always have a value
 * behind them (ibv_modify_qp(3): `attr_mask` says which fields of `attr`
 * are valid); a request from a guest's ring can name an attribute it does
 * not carry, which the kernel refuses with EINVAL before any work.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { absentAttrs } from "./qp_state.ts";
 * import { QpAttrMask as M } from "./enums.ts";
 * assert.deepEqual(absentAttrs({ state: 2, pathMtu: 2048 }, M.STATE | M.AV | M.PATH_MTU), ["ah"]);
 * assert.deepEqual(absentAttrs({ altPath: null }, M.ALT_PATH), ["altPath"]);
 * assert.deepEqual(absentAttrs({ state: 1, port: 1 }, M.STATE | M.PORT), []);
 * ```
 */
export function absentAttrs(attr: Record<string, unknown>, mask: number): QpAttrName[] {
  return maskNames(mask).filter((name) => {
    const v = attr[name];
    return STRUCT_ATTRS.has(name) ? typeof v !== "object" || v === null : v === undefined;
  });
}

/**
 * Names of the attributes whose bits are set in `mask`, for error messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { maskNames } from "./qp_state.ts";
 * assert.deepEqual(maskNames((1 << 4) | (1 << 5)), ["pkeyIndex", "port"]);
 * ```
 */
export function maskNames(mask: number): QpAttrName[] {
  const out: QpAttrName[] = [];
  for (let b = 1; b <= mask && b !== 0; b <<= 1) {
    if (mask & b) {
      const n = NAME_OF_BIT.get(b);
      if (n) out.push(n);
    }
  }
  return out;
}

const STATE_NAMES = ["RESET", "INIT", "RTR", "RTS", "SQD", "SQE", "ERR"];
const TYPE_NAMES: Record<number, string> = { [RC]: "RC", [UC]: "UC", [UD]: "UD" };

/**
 * True for a value of `QpState` (RESET … ERR): what a number read from a
 * peer that is trusted no more than it must be (a backend's answer) has to
 * be before it is used as one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isQpState } from "./qp_state.ts";
 * assert.ok(isQpState(3));
 * assert.ok(!isQpState(7) && !isQpState(undefined));
 * ```
 */
export function isQpState(s: unknown): s is QpState {
  return typeof s === "number" && Object.values(QpState).includes(s as QpState);
}

/**
 * `QpState` value → its verbs name (`"RTR"`), for messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stateName } from "./qp_state.ts";
 * assert.equal(stateName(2), "RTR");
 * assert.equal(stateName(9), "state 9");
 * ```
 */
export function stateName(s: number): string {
  return STATE_NAMES[s] ?? `state ${s}`;
}

/**
 * `QpType` value → its verbs name (`"RC"`), for messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { qpTypeName } from "./qp_state.ts";
 * assert.equal(qpTypeName(4), "UD");
 * ```
 */
export function qpTypeName(t: number): string {
  return TYPE_NAMES[t] ?? `type ${t}`;
}

/** A value as a message shows it: a string quoted, so `"3"` is not read as the number 3. */
function valueText(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : String(v);
}

/**
 * Why `ibv_modify_qp(cur → next, mask)` is not allowed for a QP of `type`,
 * or undefined if it is (Linux `ib_modify_qp_is_ok`, with the reason).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { modifyQpError } from "./qp_state.ts";
 * import { QpAttrMask as M, QpState, QpType } from "./enums.ts";
 * assert.equal(
 *   modifyQpError(QpState.RESET, QpState.INIT, QpType.RC, M.STATE | M.PORT),
 *   "RESET->INIT on an RC QP requires accessFlags, pkeyIndex",
 * );
 * const all = M.STATE | M.PORT | M.PKEY_INDEX | M.ACCESS_FLAGS;
 * assert.equal(modifyQpError(QpState.RESET, QpState.INIT, QpType.RC, all), undefined);
 * // A state that is no number is named as it was given.
 * assert.equal(modifyQpError(QpState.RESET, "1" as unknown as number, QpType.RC, all), 'no such QP state "1"');
 * ```
 */
export function modifyQpError(
  cur: number,
  next: number,
  type: number,
  mask: number,
): string | undefined {
  if (!Object.hasOwn(TYPE_NAMES, type)) return `unsupported QP type ${type}`;
  // ib_uverbs_modify_qp: a cur_qp_state past IB_QPS_ERR is EINVAL before anything else.
  if (!isQpState(cur)) return `no such QP state ${valueText(cur)} (curState)`;
  if (!Number.isInteger(next) || next < S.RESET || next > S.ERR) {
    return `no such QP state ${valueText(next)}`;
  }
  const from = stateName(cur), to = stateName(next), ty = qpTypeName(type);
  // The current-state hint is only meaningful once the QP can have had an
  // asynchronous state change (RTR onward, IBTA §11.2.4.2).
  if (mask & CUR_STATE && cur !== S.RTR && cur !== S.RTS && cur !== S.SQD && cur !== S.SQE) {
    return `curState may not be given in state ${from}`;
  }
  const tr = QP_STATE_TABLE[cur]?.[next];
  if (!tr) return `no transition ${from}->${to}`;
  const req = tr.req[type as QpType], opt = tr.opt[type as QpType];
  if ((mask & req) !== req) {
    return `${from}->${to} on an ${ty} QP requires ${maskNames(req & ~mask).join(", ")}`;
  }
  const extra = mask & ~(req | opt | STATE);
  if (extra) {
    return `${from}->${to} on an ${ty} QP does not take ${maskNames(extra).join(", ")}`;
  }
  return undefined;
}

/**
 * Take a QP's mutex: `modify_qp` and `query_qp` on one QP run one after the
 * other (mthca holds `qp->mutex` from reading the state to storing the new
 * one). The caller first waits while `qp.busy` is set (`while (qp.busy) await
 * qp.busy`), so a QP nobody else is modifying costs no await; the function
 * returned releases the mutex and wakes the waiters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { holdQpMutex } from "./qp_state.ts";
 * const qp: { busy?: Promise<void> } = {};
 * const release = holdQpMutex(qp);
 * assert.ok(qp.busy instanceof Promise);
 * release();
 * assert.equal(qp.busy, undefined);
 * ```
 */
export function holdQpMutex(qp: { busy?: Promise<void> }): () => void {
  let release!: () => void;
  qp.busy = new Promise<void>((r) => (release = r));
  return () => {
    qp.busy = undefined;
    release();
  };
}
