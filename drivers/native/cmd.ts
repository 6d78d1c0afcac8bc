/**
 * Issuing HCA commands from the driver: a failed command becomes the errno
 * the Linux mthca driver returns for it (`mthca_status_to_errno`), so every
 * caller up to the verbs API sees one kind of error.
 *
 * @module
 */
import {
  type CmdIn,
  cmdName,
  type CmdOp,
  type CmdOut,
  CmdStatus,
  cmdStatusName,
  type CommandInterface,
} from "../../hca/commands.ts";
import { type ErrnoCode, requestError, VerbsError } from "../uapi/errors.ts";

const ERRNO_OF_STATUS: Record<number, ErrnoCode> = {
  [CmdStatus.INTERNAL_ERR]: "EIO",
  [CmdStatus.BAD_OP]: "EPERM",
  [CmdStatus.BAD_PARAM]: "EINVAL",
  [CmdStatus.BAD_SYS_STATE]: "ENXIO",
  [CmdStatus.BAD_RESOURCE]: "EBADF",
  [CmdStatus.RESOURCE_BUSY]: "EBUSY",
  [CmdStatus.EXCEED_LIM]: "ENOMEM",
  [CmdStatus.BAD_RES_STATE]: "EBADF",
  [CmdStatus.BAD_INDEX]: "EBADF",
  [CmdStatus.BAD_QP_STATE]: "EINVAL",
  [CmdStatus.BAD_SEG_PARAM]: "EFAULT",
  [CmdStatus.BAD_SIZE]: "ENOMEM",
};

/**
 * The errno name mthca maps a command status to.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errnoOfStatus } from "./cmd.ts";
 * assert.equal(errnoOfStatus(0x06), "EBUSY"); // RESOURCE_BUSY
 * assert.equal(errnoOfStatus(0x7f), "EIO"); // a status mthca does not know
 * ```
 */
export function errnoOfStatus(status: number): ErrnoCode {
  return ERRNO_OF_STATUS[status] ?? "EIO";
}

/**
 * A failed command: the errno mthca gives its status, and the status.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CmdError } from "./cmd.ts";
 * import { CmdStatus } from "../../hca/commands.ts";
 * const e = new CmdError(CmdStatus.BAD_QP_STATE, "RTS2RTS_QP failed with BAD_QP_STATE: …");
 * assert.deepEqual([e.code, e.status, e.ownRequest], ["EINVAL", 0x10, false]);
 * ```
 */
export class CmdError extends VerbsError {
  /**
   * @param status the command's status (`CmdStatus`)
   * @param message what failed
   */
  constructor(readonly status: number, message: string) {
    super(errnoOfStatus(status), message);
  }
}

/**
 * The statuses of a QP transition that describe the QP the caller asked about and nothing
 * else: its state (BAD_QP_STATE), a context field of its (BAD_PARAM), its queues past the
 * device's limits (EXCEED_LIM). Such a refusal's text may go to the guest whose QP it is
 * (`requestError`, docs/security.md "What a refusal tells the guest"); any other status is
 * dom0's or the device's own.
 */
const QP_OWN_STATUSES: ReadonlySet<number> = new Set([
  CmdStatus.BAD_QP_STATE,
  CmdStatus.BAD_PARAM,
  CmdStatus.EXCEED_LIM,
]);

/**
 * `e`, a QP transition's failure, marked as about the caller's own QP when its status is one
 * of those (see `QP_OWN_STATUSES`); other errors as they are.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CmdError, qpTransitionError } from "./cmd.ts";
 * import { CmdStatus } from "../../hca/commands.ts";
 * import { VerbsError } from "../uapi/errors.ts";
 * const own = qpTransitionError(new CmdError(CmdStatus.BAD_QP_STATE, "RTS2RTS: QP 3 is in state 4 (SQE)"));
 * assert.ok(own instanceof VerbsError && own.ownRequest);
 * assert.equal(own.message, "EINVAL: RTS2RTS: QP 3 is in state 4 (SQE)");
 * const dom0 = new CmdError(CmdStatus.INTERNAL_ERR, "mailbox read failed");
 * assert.equal(qpTransitionError(dom0), dom0);
 * ```
 */
export function qpTransitionError(e: unknown): unknown {
  if (!(e instanceof CmdError) || !QP_OWN_STATUSES.has(e.status)) return e;
  return requestError(e.code, e.message.slice(e.code.length + 2));
}

/**
 * Run a command; throw a `VerbsError` naming the command if it fails.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, type NativePlatform } from "../../mod.ts";
 * import { CmdOp } from "../../hca/commands.ts";
 * import { exec } from "./cmd.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * const { cmd } = (host.platform as NativePlatform).driver.hca;
 * await cluster.run(async () => {
 *   assert.ok((await exec(cmd, CmdOp.QUERY_DEV_LIM, {})).maxQp > 0);
 *   await assert.rejects(exec(cmd, CmdOp.QUERY_CQ, { cqn: 5 }), /^VerbsError: EBADF: QUERY_CQ failed/);
 * });
 * ```
 */
export async function exec<O extends CmdOp>(
  cmd: CommandInterface,
  op: O,
  params: CmdIn<O>,
): Promise<CmdOut<O>> {
  const r = await cmd.exec(op, params);
  if (r.ok) return r.out;
  throw new CmdError(
    r.status,
    `${cmdName(op)} failed with ${cmdStatusName(r.status)}: ${r.message}`,
  );
}
