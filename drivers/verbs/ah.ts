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
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import type { Ah } from "./ah.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * await cluster.run(async () => {
 *   const pd = await (await host.os.openDevice()).allocPd();
 *   const ah: Ah = await pd.createAh({ dlid: 2, portNum: 1 });
 *   assert.equal(ah.attr.dlid, 2); // where UD sends that name it go
 *   await ah.destroy();
 * });
 * ```
 */
export class Ah {
  #dead = false;
  /** The address vector (a copy of what it was created with). */
  readonly attr: Readonly<AhAttr>;

  /**
   * Made by `Pd.createAh`.
   *
   * @param pd protection domain
   * @param handle kernel handle
   * @param attr address vector
   */
  constructor(readonly pd: Pd, readonly handle: number, attr: AhAttr) {
    this.attr = Object.freeze(structuredClone(attr));
  }

  /** True once destroyed (a UD send naming it then completes with `LOC_QP_OP_ERR`). */
  get destroyed(): boolean {
    return this.#dead;
  }

  /** `ibv_destroy_ah`. */
  async destroy(): Promise<void> {
    if (this.#dead) throw new VerbsError("EINVAL", "destroy_ah: already destroyed");
    await this.pd.context.enter();
    await this.pd.context.file.destroyAh(this.handle);
    this.#dead = true;
  }
}
