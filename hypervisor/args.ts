/**
 * Argument checks shared by every hypercall. A guest passes whatever it
 * likes; each check turns a malformed value into the errno Xen would give
 * instead of letting it reach model state.
 *
 * @module
 */
import { type XenErrnoCode, XenError } from "./errors.ts";

/**
 * `DOMID_SELF` (`xen/xen.h`): "the calling domain" wherever a domid is expected.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DOMID_SELF } from "./args.ts";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const [self, byId] = await engine.run(() =>
 *   Promise.all([hv.currentReservation(hv.dom0, DOMID_SELF), hv.currentReservation(hv.dom0, 0)])
 * );
 * assert.equal(self, byId); // DOMID_SELF names the caller
 * ```
 */
export const DOMID_SELF = 0x7ff0;
/**
 * `DOMID_FIRST_RESERVED` (`xen/xen.h`): domids from here up are special, never a domain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DOMID_FIRST_RESERVED } from "./args.ts";
 * const isDomid = (v: number) => Number.isInteger(v) && v >= 0 && v < DOMID_FIRST_RESERVED;
 * assert.equal(isDomid(1), true);
 * assert.equal(isDomid(0x7ff0), false); // DOMID_SELF and above are reserved
 * ```
 */
export const DOMID_FIRST_RESERVED = 0x7ff0;

/**
 * `value` as an integer in `[lo, hi]`, or a {@link XenError} naming `what`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { intArg } from "./args.ts";
 * assert.equal(intArg(5, 0, 10, "evtchn_send: port"), 5);
 * assert.throws(() => intArg(11, 0, 10, "evtchn_send: port"), {
 *   code: "EINVAL",
 *   message: "EINVAL: evtchn_send: port: 11 is not an integer in [0, 10]",
 * });
 * ```
 */
export function intArg(
  value: unknown,
  lo: number,
  hi: number,
  what: string,
  code: XenErrnoCode = "EINVAL",
): number {
  if (!intIn(value, lo, hi)) {
    throw new XenError(code, `${what}: ${show(value)} is not an integer in [${lo}, ${hi}]`);
  }
  return value;
}

/**
 * Whether `value` is an integer in `[lo, hi]` (the test of {@link intArg},
 * for a caller that refuses with an error of its own).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { intIn } from "./args.ts";
 * assert.deepEqual([intIn(3, 0, 7), intIn(8, 0, 7), intIn(1.5, 0, 7), intIn("3", 0, 7)], [true, false, false, false]);
 * ```
 */
export function intIn(value: unknown, lo: number, hi: number): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= lo && value <= hi;
}

/**
 * An optional boolean flag (`undefined` means false), or EINVAL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boolArg } from "./args.ts";
 * assert.equal(boolArg(undefined, "readonly"), false); // absent means false
 * assert.throws(() => boolArg(1, "readonly"), /readonly: 1 is not a boolean/);
 * ```
 */
export function boolArg(value: unknown, what: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") {
    throw new XenError("EINVAL", `${what}: ${show(value)} is not a boolean`);
  }
  return value;
}

/**
 * The most entries a list in an argument block may have (the `ops` of a
 * batched grant map, the `handles` of a batched unmap).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { argBlock, MAX_ARG_LIST } from "./args.ts";
 * const ops = new Array(MAX_ARG_LIST + 1).fill({ domid: 1, ref: 8 });
 * assert.throws(() => argBlock({ ops }, "grant_table_op:map_grant_ref"), { code: "EINVAL" });
 * ```
 */
export const MAX_ARG_LIST = 4096;

/** Fields an argument block (or an op block in a list) may have; Xen's structs have a handful. */
const MAX_ARG_FIELDS = 64;

/**
 * The argument block of a hypercall, copied: a plain record of its own
 * fields (and plain copies of the lists and op blocks in it), each field
 * read exactly once. EFAULT when it is not an object or a read of it fails
 * (Xen's answer when `copy_from_guest` cannot copy the structure); EINVAL
 * for a list longer than {@link MAX_ARG_LIST} or a block of more fields than
 * any call takes.
 *
 * The handlers check and use only the copy, as Xen checks the copy it made
 * of the guest's structure and never the guest's memory again: the block
 * the guest passed may be an accessor or a proxy whose reads change between
 * the check and the use (a list whose length is 1 when checked and a
 * million when walked), or throw.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { argBlock } from "./args.ts";
 * assert.equal(argBlock({ port: 3 }, "event_channel_op:send").port, 3);
 * assert.throws(() => argBlock(null, "event_channel_op:send"), { code: "EFAULT" });
 * let reads = 0;
 * const shifty = { get port() { return ++reads === 1 ? 3 : 4095; } };
 * const copy = argBlock(shifty, "event_channel_op:send");
 * assert.equal(copy.port, 3);
 * assert.equal(copy.port, 3); // the copy does not change under the caller
 * assert.throws(
 *   () => argBlock({ get port() { throw new Error("unmapped"); } }, "event_channel_op:send"),
 *   { code: "EFAULT" },
 * );
 * ```
 */
export function argBlock(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new XenError("EFAULT", `${what}: argument block ${show(value)} is not readable`);
  }
  try {
    return copyIn(value, what, 0) as Record<string, unknown>;
  } catch (e) {
    if (e instanceof XenError) throw e;
    throw new XenError("EFAULT", `${what}: argument block is not readable`);
  }
}

/**
 * A plain copy of an untrusted value: lists and records copied field by field, to `depth` 3 (a
 * list of op blocks whose fields are blocks: `gnttab_copy`'s `source` and `dest`).
 */
function copyIn(v: unknown, what: string, depth: number): unknown {
  if (typeof v !== "object" || v === null) return v;
  if (depth > 3) throw new XenError("EFAULT", `${what}: argument block nests too deep`);
  if (Array.isArray(v)) {
    const n: unknown = v.length;
    if (!intIn(n, 0, MAX_ARG_LIST)) {
      throw new XenError(
        "EINVAL",
        `${what}: a list of ${show(n)} entries (at most ${MAX_ARG_LIST})`,
      );
    }
    const out = new Array(n);
    for (let i = 0; i < n; i++) out[i] = copyIn(v[i], what, depth + 1);
    return out;
  }
  const keys = Object.keys(v);
  if (keys.length > MAX_ARG_FIELDS) {
    throw new XenError("EINVAL", `${what}: a block of ${keys.length} fields`);
  }
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = copyIn((v as Record<string, unknown>)[k], what, depth + 1);
  return out;
}

/**
 * A short printable form of an untrusted value for error messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { show } from "./args.ts";
 * assert.equal(show("x".repeat(100)).length, 42); // 40 characters, quoted
 * assert.equal(show([1, 2]), "an array");
 * ```
 */
export function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.slice(0, 40));
  if (typeof value === "number" || typeof value === "boolean" || value == null) {
    return String(value);
  }
  if (typeof value === "bigint") return `${value}n`;
  return Array.isArray(value) ? "an array" : typeof value;
}
