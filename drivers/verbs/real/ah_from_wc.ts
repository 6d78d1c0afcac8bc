/**
 * `ibv_init_ah_from_wc` on real hardware: libibverbs' own, whose GID search
 * reads the device's GID table and its types (RoCE included), given the
 * completion as a `struct ibv_wc` and the 40-byte GRH area.
 *
 * @module
 */
import { IBV_AH_ATTR, IBV_WC, type Ibverbs, put, scratch, viewOf } from "../../../hca/ffi/mod.ts";
import { checkAhFromWcArgs, checkWcFields, GRH_BYTES } from "../../uapi/ah_from_wc.ts";
import { VerbsError } from "../../uapi/errors.ts";
import type { AhAttr, WorkCompletion } from "../../uapi/types.ts";
import { decodeAh } from "./attrs.ts";
import { verbs } from "./errors.ts";

/**
 * The fields of `wc` ibv_init_ah_from_wc reads, as a `struct ibv_wc`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeWc } from "./ah_from_wc.ts";
 * import { IBV_WC, getUint, viewOf } from "../../../hca/ffi/mod.ts";
 * import type { WorkCompletion } from "../../uapi/types.ts";
 * const b = encodeWc({ slid: 9, sl: 2, dlidPathBits: 1, wcFlags: 0 } as WorkCompletion);
 * assert.deepEqual([getUint(viewOf(b), IBV_WC.fields.slid), b[IBV_WC.fields.sl.offset]], [9, 2]);
 * ```
 */
export function encodeWc(wc: WorkCompletion): Uint8Array<ArrayBuffer> {
  checkWcFields(wc);
  const F = IBV_WC.fields;
  const buf = scratch(IBV_WC.sizeof), v = viewOf(buf);
  put(v, F.slid, wc.slid);
  put(v, F.sl, wc.sl);
  put(v, F.dlid_path_bits, wc.dlidPathBits);
  put(v, F.wc_flags, wc.wcFlags);
  return buf;
}

/**
 * `ibv_init_ah_from_wc(context, port, wc, grh, &ah_attr)` through `lib`: the
 * address vector that answers the datagram `wc` completed. The GRH area is
 * required when `wc` has `WcFlags.GRH` (libibverbs reads it for every
 * completion; a zeroed one is passed otherwise).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initAhFromWcWith } from "./ah_from_wc.ts";
 * import type { WorkCompletion } from "../../uapi/types.ts";
 * // A missing GRH area is refused before libibverbs is called (no library needed).
 * const wc = { slid: 1, sl: 0, dlidPathBits: 0, wcFlags: 1 } as WorkCompletion;
 * assert.throws(() => initAhFromWcWith(undefined as never, null, 1, wc), /give the 40 bytes/);
 * ```
 */
export function initAhFromWcWith(
  lib: Ibverbs,
  ctx: Deno.PointerValue,
  port: number,
  wc: WorkCompletion,
  grh?: Uint8Array,
): AhAttr {
  // uint8_t port_num: a value C would truncate is refused.
  if (!Number.isInteger(port) || port < 1 || port > 255) {
    throw new VerbsError("EINVAL", `init_ah_from_wc: port ${port} (ports are 1-based, 1..255)`);
  }
  checkAhFromWcArgs(wc, grh);
  const w = encodeWc(wc);
  // libibverbs reads the area for every completion: a zeroed one when none was needed.
  const area = scratch(GRH_BYTES);
  if (grh !== undefined) area.set(grh.subarray(0, GRH_BYTES));
  const ah = scratch(IBV_AH_ATTR.sizeof);
  verbs(() =>
    lib.check(lib.symbols.ibv_init_ah_from_wc(ctx, port, w, area, ah), "ibv_init_ah_from_wc")
  );
  return decodeAh(viewOf(ah), 0);
}
