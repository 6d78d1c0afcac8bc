/**
 * Checks of verbs arguments that are no work request's fields (those are
 * `wr_check.ts`'s): a value of another type than the API gives the
 * argument is refused by the library with EINVAL naming the call, before
 * any kernel call, in every mode and on a real device, rather than coerced
 * into something the program did not mean.
 *
 * @module
 */
import { VerbsError } from "../uapi/errors.ts";

/**
 * A boolean argument of a verbs call (`ibv_req_notify_cq`'s
 * `solicited_only`, `ibv_qp_init_attr`'s `sq_sig_all`, `ibv_qp_attr`'s
 * `en_sqd_async_notify`): `true` or `false`, or `undefined` for the
 * default (`false`). Anything else is EINVAL naming the call and the
 * argument, as `openDevice` refuses a `regCache` and `addHost` a
 * `hypervisor` that is no boolean: JavaScript's truthiness would read
 * `"false"` or `"no"` as true. A number is refused too, though C's `int`
 * would take it: the API's flag is a boolean, and one spelling keeps a
 * program's meaning plain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boolArg } from "./args.ts";
 * assert.equal(boolArg("req_notify_cq", "solicitedOnly", undefined), false);
 * assert.equal(boolArg("create_qp", "sqSigAll", true), true);
 * assert.throws(() => boolArg("req_notify_cq", "solicitedOnly", "x"), {
 *   code: "EINVAL",
 *   message: 'EINVAL: req_notify_cq: solicitedOnly must be true or false, got "x"',
 * });
 * assert.throws(() => boolArg("create_qp", "sqSigAll", 1), /sqSigAll must be true or false, got 1$/);
 * ```
 */
export function boolArg(call: string, name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v === "boolean") return v;
  const got = typeof v === "string"
    ? JSON.stringify(v.length > 32 ? `${v.slice(0, 32)}…` : v)
    : v === null
    ? "null"
    : typeof v === "object" || typeof v === "function"
    ? `a${typeof v === "object" ? "n object" : " function"}`
    : String(v);
  throw new VerbsError("EINVAL", `${call}: ${name} must be true or false, got ${got}`);
}
