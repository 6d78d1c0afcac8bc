/**
 * The split baseline's part of the backend, as the backend's hooks take
 * it (`drivers/back/datapath.ts`): a {@link SplitContext} per context, the
 * handlers of the two datapath requests — `DOORBELL` (copy the new WQEs
 * into the shadow queue, ring the device) and `POLL_CQ` (copy new CQEs to
 * the guest's ring); `RESIZE_CQ` is the backend's own, which moves the
 * shadow CQ through {@link SplitContext.prepareCqResize} and
 * {@link SplitContext.resizeCq}. The composition root hands
 * {@link SPLIT_DATAPATH} to the backend driver for `mode = split` devices.
 *
 * @module
 */
import type { BackendDatapath, OpHandlers, StagedOps } from "../back/datapath.ts";
import type { BackContext } from "../back/context.ts";
import { requestError } from "../uapi/errors.ts";
import { VibOp } from "../vib/mod.ts";
import { SplitContext } from "./back.ts";

/** The split context of `c` (every context of a split device has one). */
function splitOf(c: BackContext): SplitContext {
  if (!(c.datapath instanceof SplitContext)) {
    throw requestError("EOPNOTSUPP", `context ${c.id}: not a split-mode context`);
  }
  return c.datapath;
}

/**
 * The backend handlers the split baseline adds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SPLIT_OPS } from "./ops.ts";
 * import { VibOp } from "../vib/mod.ts";
 * assert.deepEqual(Object.keys(SPLIT_OPS).map(Number), [VibOp.DOORBELL, VibOp.POLL_CQ]);
 * ```
 */
export const SPLIT_OPS: OpHandlers = {
  [VibOp.DOORBELL]: async (_env, c, req) => {
    const { offset, word0, word1 } = req.body;
    await splitOf(c).doorbell(offset, word0, word1);
    return {};
  },
  [VibOp.POLL_CQ]: async (_env, c, req) => ({
    copied: await splitOf(c).poll(req.body.cqn, req.body.consumerIndex),
  }),
};

/**
 * `DOORBELL` and `POLL_CQ` in two halves ({@link SplitContext.doorbellCopy}
 * and {@link SplitContext.doorbellRing}, {@link SplitContext.pollCopy} and
 * {@link SplitContext.pollDone}): what {@link SPLIT_OPS}' handlers do
 * (`SplitContext.doorbell` and `SplitContext.poll` are the same two halves
 * around their `await`), for a backend that chains them on dom0's VCPUs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SPLIT_DATAPATH, SPLIT_STAGED } from "./ops.ts";
 * import { VibOp } from "../vib/mod.ts";
 * assert.equal(SPLIT_DATAPATH.staged, SPLIT_STAGED);
 * assert.deepEqual(Object.keys(SPLIT_STAGED).map(Number), [VibOp.DOORBELL, VibOp.POLL_CQ]);
 * ```
 */
export const SPLIT_STAGED: StagedOps = {
  [VibOp.DOORBELL]: {
    start: (_env, c, req) =>
      splitOf(c).doorbellCopy(req.body.offset, req.body.word0, req.body.word1),
    finish: (_env, c) => {
      splitOf(c).doorbellRing();
      return NO_BODY;
    },
  },
  [VibOp.POLL_CQ]: {
    start: (_env, c, req) => splitOf(c).pollCopy(req.body.cqn, req.body.consumerIndex),
    finish: (_env, c) => ({ copied: splitOf(c).pollDone() }),
  },
};

/** A DOORBELL's answer has no body (the codec only reads it). */
const NO_BODY = Object.freeze({});

/**
 * The split baseline as a datapath through dom0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SPLIT_DATAPATH, SPLIT_OPS } from "./ops.ts";
 * assert.equal(SPLIT_DATAPATH.ops, SPLIT_OPS);
 * ```
 */
export const SPLIT_DATAPATH: BackendDatapath = {
  ops: SPLIT_OPS,
  staged: SPLIT_STAGED,
  open: (env) => new SplitContext(env),
};
