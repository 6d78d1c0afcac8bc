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
import { type ErrnoCode, VerbsError } from "../uapi/errors.ts";

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
  throw new VerbsError(
    errnoOfStatus(r.status),
    `${cmdName(op)} failed with ${cmdStatusName(r.status)}: ${r.message}`,
  );
}
