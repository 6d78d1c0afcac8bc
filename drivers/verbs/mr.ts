/**
 * `Mr` (`struct ibv_mr`): a registered memory region.
 *
 * @module
 */
import { VerbsError } from "../uapi/errors.ts";
import type { Pd } from "./pd.ts";

/**
 * A memory region: its keys and extent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Access, Cluster } from "../../mod.ts";
 * import type { Mr } from "./mr.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const pd = await (await host.os.openDevice()).allocPd();
 *   const addr = host.os.memory.alloc(4096, 4096);
 *   const mr: Mr = await pd.regMr(addr, 4096, Access.LOCAL_WRITE);
 *   const sge = { addr: mr.addr, length: mr.length, lkey: mr.lkey }; // what a work request names
 *   assert.deepEqual([sge.addr, sge.length], [addr, 4096]);
 *   await mr.dereg();
 *   await assert.rejects(mr.dereg(), /already deregistered/);
 * });
 * ```
 */
export class Mr {
  #dead = false;

  /**
   * Made by `Pd.regMr`.
   *
   * @param pd protection domain
   * @param handle kernel handle
   * @param lkey local key
   * @param rkey remote key
   * @param addr start address in the domain's memory
   * @param length bytes
   * @param access `Access` bits
   */
  constructor(
    readonly pd: Pd,
    readonly handle: number,
    readonly lkey: number,
    readonly rkey: number,
    readonly addr: number,
    readonly length: number,
    readonly access: number,
  ) {}

  /** `ibv_dereg_mr`. */
  async dereg(): Promise<void> {
    if (this.#dead) throw new VerbsError("EINVAL", "dereg_mr: already deregistered");
    await this.pd.context.enter();
    await this.pd.context.file.deregMr(this.handle);
    this.#dead = true;
  }
}
