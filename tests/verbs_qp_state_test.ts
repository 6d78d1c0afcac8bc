import assert from "node:assert/strict";
import {
  ATTR_MASK_BITS,
  attrMask,
  maskNames,
  modifyQpError,
  QP_STATE_TABLE,
} from "../drivers/uapi/qp_state.ts";
import { QpAttrMask as M, QpState as S, QpType as T } from "../drivers/uapi/enums.ts";

const TYPES = [T.RC, T.UC, T.UD];
const ALL_BITS = Object.values(ATTR_MASK_BITS).reduce((a, b) => a | b, 0);

Deno.test("qp_state: IBTA facts the table must encode", () => {
  // RC INIT→RTR needs the full connection description (IBTA §11.2.4.2).
  const need = M.AV | M.PATH_MTU | M.DEST_QPN | M.RQ_PSN | M.MAX_DEST_RD_ATOMIC |
    M.MIN_RNR_TIMER;
  assert.equal(QP_STATE_TABLE[S.INIT][S.RTR]!.req[T.RC], need);
  // UC has no RDMA READ/atomic responder resources and no RNR.
  assert.equal(QP_STATE_TABLE[S.INIT][S.RTR]!.req[T.UC], M.AV | M.PATH_MTU | M.DEST_QPN | M.RQ_PSN);
  // UD needs nothing to reach RTR: addresses come with each WR.
  assert.equal(QP_STATE_TABLE[S.INIT][S.RTR]!.req[T.UD], 0);
  assert.equal(QP_STATE_TABLE[S.RESET][S.INIT]!.req[T.UD], M.PKEY_INDEX | M.PORT | M.QKEY);
  assert.equal(QP_STATE_TABLE[S.RTR][S.RTS]!.req[T.UD], M.SQ_PSN);
  // No way out of RESET except INIT; no skipping states.
  assert.equal(QP_STATE_TABLE[S.RESET][S.ERR], undefined);
  assert.equal(QP_STATE_TABLE[S.RESET][S.RTR], undefined);
  assert.equal(QP_STATE_TABLE[S.INIT][S.RTS], undefined);
  assert.equal(QP_STATE_TABLE[S.RTS][S.RTR], undefined);
  // Nobody moves a QP into SQE by modify; the device does.
  for (let s = 0; s <= S.ERR; s++) assert.equal(QP_STATE_TABLE[s][S.SQE], undefined);
  // Reset and error are reachable from every state but RESET→ERR.
  for (let s = S.INIT; s <= S.ERR; s++) {
    assert.ok(QP_STATE_TABLE[s][S.RESET]);
    assert.ok(QP_STATE_TABLE[s][S.ERR]);
  }
});

Deno.test("qp_state: every pair, every type, with and without each required attribute", () => {
  let checked = 0;
  for (const type of TYPES) {
    for (let from = S.RESET; from <= S.ERR; from++) {
      for (let to = S.RESET; to <= S.ERR; to++) {
        const tr = QP_STATE_TABLE[from][to];
        if (!tr) {
          // Not even a complete mask makes an absent transition legal.
          assert.match(modifyQpError(from, to, type, M.STATE)!, /no transition/);
          assert.match(modifyQpError(from, to, type, ALL_BITS)!, /no transition|curState/);
          checked += 2;
          continue;
        }
        const req = tr.req[type] | M.STATE;
        assert.equal(modifyQpError(from, to, type, req), undefined, `${from}->${to} t${type}`);
        assert.equal(modifyQpError(from, to, type, req | tr.opt[type]), undefined);
        for (const name of maskNames(tr.req[type])) {
          const without = req & ~ATTR_MASK_BITS[name];
          const err = modifyQpError(from, to, type, without);
          assert.ok(err && err.includes(`requires ${name}`), `${from}->${to} t${type} -${name}`);
          checked++;
        }
        for (const name of maskNames(ALL_BITS & ~(req | tr.opt[type]))) {
          const err = modifyQpError(from, to, type, req | ATTR_MASK_BITS[name]);
          assert.ok(err, `${from}->${to} t${type} +${name} must be refused`);
          checked++;
        }
      }
    }
  }
  assert.ok(checked > 1000, `checked ${checked}`);
});

Deno.test("qp_state: curState is only accepted from RTR on", () => {
  assert.match(modifyQpError(S.INIT, S.INIT, T.RC, M.STATE | M.CUR_STATE)!, /curState/);
  assert.equal(modifyQpError(S.RTS, S.RTS, T.RC, M.STATE | M.CUR_STATE), undefined);
  assert.equal(modifyQpError(S.SQE, S.RTS, T.UD, M.STATE | M.CUR_STATE), undefined);
});

Deno.test("qp_state: attribute names map to verbs.h mask bits", () => {
  const { mask, unknown } = attrMask({
    state: S.RTR,
    ah: { dlid: 1 },
    pathMtu: 2048,
    destQpNum: 5,
    rqPsn: 0,
    maxDestRdAtomic: 1,
    minRnrTimer: 12,
    sqPsn: undefined, // an undefined value is "not given", as in a C mask
  });
  assert.deepEqual(unknown, []);
  assert.equal(
    mask,
    M.STATE | M.AV | M.PATH_MTU | M.DEST_QPN | M.RQ_PSN | M.MAX_DEST_RD_ATOMIC |
      M.MIN_RNR_TIMER,
  );
  assert.deepEqual(attrMask({ qp_state: 1 }).unknown, ["qp_state"]);
  assert.equal(ATTR_MASK_BITS.maxRdAtomic, 1 << 13);
  assert.equal(ATTR_MASK_BITS.destQpNum, 1 << 20);
});
