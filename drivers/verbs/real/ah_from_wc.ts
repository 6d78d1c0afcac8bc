/**
 * `ibv_init_ah_from_wc` on real hardware: libibverbs' own, whose GID search
 * reads the device's GID table and its types (RoCE included), given the
 * completion as a `struct ibv_wc` and the 40-byte GRH area.
 *
 * @module
 */
import { IBV_AH_ATTR, IBV_WC, type Ibverbs, put, scratch, viewOf } from "../../../hca/ffi/mod.ts";
import { WcFlags } from "../../uapi/enums.ts";
import { VerbsError } from "../../uapi/errors.ts";
import type { AhAttr, WorkCompletion } from "../../uapi/types.ts";
import { decodeAh } from "./attrs.ts";
import { verbs } from "./errors.ts";

/** Bytes of the GRH area (ibv_post_recv(3)). */
const GRH_BYTES = 40;

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
  if (typeof wc !== "object" || wc === null) {
    throw new VerbsError(
      "EINVAL",
      "init_ah_from_wc: give the work completion of the received datagram",
    );
  }
  const F = IBV_WC.fields;
  const limits = { slid: 0xffff, sl: 0xf, dlidPathBits: 0x7f, wcFlags: 0xffffffff } as const;
  const buf = scratch(IBV_WC.sizeof), v = viewOf(buf);
  for (const [k, max] of Object.entries(limits) as [keyof typeof limits, number][]) {
    const x = wc[k];
    if (!Number.isInteger(x) || x < 0 || x > max) {
      throw new VerbsError(
        "EINVAL",
        `init_ah_from_wc: wc.${k} must be a whole number 0..${max}, got ${x}`,
      );
    }
  }
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
  const w = encodeWc(wc);
  const area = scratch(GRH_BYTES);
  if (grh !== undefined) {
    if (!(grh instanceof Uint8Array) || grh.length < GRH_BYTES) {
      throw new VerbsError(
        "EINVAL",
        `init_ah_from_wc: the GRH area is the ${GRH_BYTES} bytes at the head of the receive buffer`,
      );
    }
    area.set(grh.subarray(0, GRH_BYTES));
  } else if (wc.wcFlags & WcFlags.GRH) {
    throw new VerbsError(
      "EINVAL",
      `init_ah_from_wc: the completion has a GRH (IBV_WC_GRH): give the ${GRH_BYTES} bytes at the head of its receive buffer`,
    );
  }
  const ah = scratch(IBV_AH_ATTR.sizeof);
  verbs(() =>
    lib.check(lib.symbols.ibv_init_ah_from_wc(ctx, port, w, area, ah), "ibv_init_ah_from_wc")
  );
  return decodeAh(viewOf(ah), 0);
}
