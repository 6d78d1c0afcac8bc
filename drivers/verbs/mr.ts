/**
 * `Mr` (`struct ibv_mr`): a registered memory region.
 *
 * @module
 */
import { ReregMrFlags } from "../uapi/enums.ts";
import { VerbsError } from "../uapi/errors.ts";
import type { Pd } from "./pd.ts";

/** `IBV_REREG_MR_FLAGS_SUPPORTED`: every {@link ReregMrFlags} bit. */
const REREG_FLAGS = ReregMrFlags.CHANGE_TRANSLATION | ReregMrFlags.CHANGE_PD |
  ReregMrFlags.CHANGE_ACCESS;

/** What `Mr.rereg` may change: `ibv_rereg_mr`'s `pd`, `addr`, `length` and `access`. */
export interface ReregMrArgs {
  /** New protection domain (with `CHANGE_PD`). */
  pd?: Pd;
  /** New start address (with `CHANGE_TRANSLATION`). */
  addr?: number;
  /** New length in bytes (with `CHANGE_TRANSLATION`). */
  length?: number;
  /** New `Access` bits (with `CHANGE_ACCESS`). */
  access?: number;
}

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

  /**
   * `ibv_rereg_mr(3)`: change the region's translation, PD or access (`flags`, {@link
   * ReregMrFlags}) in place. libibverbs checks the request first (verbs.c `ibv_rereg_mr`):
   * `flags` outside the three, `CHANGE_TRANSLATION` with a zero `length` or a NULL (0) `addr`,
   * and `access` bits without `CHANGE_ACCESS` are `EINVAL`. It then asks the provider, and the
   * model's MT23108 has none: libmthca implements no rereg_mr (nor the kernel's mthca a
   * rereg_user_mr), so the verbs dummy op answers `EOPNOTSUPP` (dummy_ops.c). In C either is
   * `IBV_REREG_MR_ERR_INPUT` with `errno` set; here a `VerbsError` with that code. No kernel call
   * is made, and the region stays as it was. Same in every mode. A deregistered region is
   * `EINVAL`.
   */
  // deno-lint-ignore require-await
  async rereg(flags: number, args: ReregMrArgs = {}): Promise<void> {
    const what = "rereg_mr";
    if (this.#dead) throw new VerbsError("EINVAL", `${what}: the region is deregistered`);
    if (!Number.isInteger(flags) || (flags & ~REREG_FLAGS) !== 0) {
      throw new VerbsError("EINVAL", `${what}: flags ${String(flags)} outside ${REREG_FLAGS}`);
    }
    if ((flags & ReregMrFlags.CHANGE_TRANSLATION) && (!args.length || !args.addr)) {
      throw new VerbsError(
        "EINVAL",
        `${what}: CHANGE_TRANSLATION needs a length and an address (not 0)`,
      );
    }
    if (args.access && !(flags & ReregMrFlags.CHANGE_ACCESS)) {
      throw new VerbsError("EINVAL", `${what}: access flags given without CHANGE_ACCESS`);
    }
    throw new VerbsError(
      "EOPNOTSUPP",
      `${what}: the mthca provider cannot re-register a region (deregister and register again)`,
    );
  }

  /** `ibv_dereg_mr`. */
  async dereg(): Promise<void> {
    if (this.#dead) throw new VerbsError("EINVAL", "dereg_mr: already deregistered");
    await this.pd.context.enter();
    await this.pd.context.file.deregMr(this.handle);
    this.#dead = true;
  }
}
