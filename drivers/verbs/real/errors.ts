/**
 * From the binding's `FfiError` to the API's `VerbsError`: a missing library
 * or device is ENODEV with the binding's explanation, a missing `--allow-ffi`
 * EPERM, and a failed verb its own errno.
 *
 * @module
 */
import { FfiError } from "../../../hca/ffi/mod.ts";
import { Errno, type ErrnoCode, VerbsError } from "../../uapi/errors.ts";

const NAMES = new Map<number, ErrnoCode>(
  (Object.entries(Errno) as [ErrnoCode, number][]).map(([k, v]) => [v, k]),
);

/**
 * The errno name for a Linux errno value (EIO for values the API does not name).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { errnoCode } from "./errors.ts";
 * assert.deepEqual([errnoCode(12), errnoCode(9999)], ["ENOMEM", "EIO"]);
 * ```
 */
export function errnoCode(errno: number): ErrnoCode {
  return NAMES.get(errno) ?? "EIO";
}

/**
 * Convert an `FfiError` into a `VerbsError`; anything else is returned as is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FfiError } from "../../../hca/ffi/mod.ts";
 * import { VerbsError } from "../../uapi/errors.ts";
 * import { toVerbsError } from "./errors.ts";
 * const e = toVerbsError(
 *   new FfiError("call", 12, "ibv_alloc_pd", "ibv_alloc_pd failed (errno 12)"),
 * );
 * assert.ok(e instanceof VerbsError);
 * assert.deepEqual([e.code, e.message], ["ENOMEM", "ENOMEM: ibv_alloc_pd failed (errno 12)"]);
 * const noLib = toVerbsError(new FfiError("no-library", 19, "dlopen", "not installed"));
 * assert.equal((noLib as VerbsError).code, "ENODEV");
 * ```
 */
export function toVerbsError(e: unknown): unknown {
  if (!(e instanceof FfiError)) return e;
  switch (e.kind) {
    case "no-library":
    case "no-device":
      return new VerbsError("ENODEV", e.message);
    case "no-permission":
      return new VerbsError("EPERM", e.message);
    default: {
      const code = errnoCode(e.errno);
      const unnamed = Errno[code] !== e.errno ? ` [errno ${e.errno} has no name here]` : "";
      return new VerbsError(code, e.message + unnamed);
    }
  }
}

/**
 * Run a binding call, turning its `FfiError` into a `VerbsError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FfiError } from "../../../hca/ffi/mod.ts";
 * import { verbs } from "./errors.ts";
 * assert.equal(verbs(() => 1 + 1), 2);
 * assert.throws(() =>
 *   verbs(() => {
 *     throw new FfiError("call", 16, "ibv_destroy_cq", "busy");
 *   }), {
 *   name: "VerbsError",
 *   code: "EBUSY",
 * });
 * ```
 */
export function verbs<T>(body: () => T): T {
  try {
    return body();
  } catch (e) {
    throw toVerbsError(e);
  }
}
