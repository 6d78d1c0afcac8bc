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
 * import type { Mr } from "./mr.ts";
 * const sge = (mr: Mr) => ({ addr: mr.addr, length: mr.length, lkey: mr.lkey });
 * ```
 */
export class Mr {
  #dead = false;

  /**
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
