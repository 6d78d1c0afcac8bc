/**
 * `Ah` (`struct ibv_ah`): an address handle for UD sends. The provider
 * copies its address vector into each UD WQE (mlx4 style), so posting
 * needs no kernel call.
 *
 * @module
 */
import { VerbsError } from "../uapi/errors.ts";
import type { Pd } from "./pd.ts";
import type { AhAttr } from "../uapi/types.ts";

/**
 * An address handle.
 *
 * @example
 * ```ts
 * import type { Ah } from "./ah.ts";
 * const dest = (ah: Ah) => ah.attr.dlid;
 * ```
 */
export class Ah {
  #dead = false;
  /** The address vector (a copy of what it was created with). */
  readonly attr: Readonly<AhAttr>;

  /**
   * @param pd protection domain
   * @param handle kernel handle
   * @param attr address vector
   */
  constructor(readonly pd: Pd, readonly handle: number, attr: AhAttr) {
    this.attr = Object.freeze(structuredClone(attr));
  }

  /** `ibv_destroy_ah`. */
  async destroy(): Promise<void> {
    if (this.#dead) throw new VerbsError("EINVAL", "destroy_ah: already destroyed");
    await this.pd.context.enter();
    await this.pd.context.file.destroyAh(this.handle);
    this.#dead = true;
  }
}
