/**
 * What was wrong with a work request the provider could not encode. The
 * provider's fast path checks what the verbs rules check (opcode, SGE
 * count, inline size, queue room) and trusts the types of the rest, as a C
 * provider trusts `struct ibv_send_wr`; a JavaScript caller can still pass
 * a value no C field could hold (an address that is `NaN`, an atomic
 * operand that is not a `bigint`, a missing SGE). When encoding such a WR
 * fails, {@link postError} names the field, so the caller gets a
 * `VerbsError` (EINVAL) and nothing was posted: this runs only after a
 * failure, never on the fast path.
 *
 * @module
 */
import { VerbsError, withBadWr } from "../uapi/errors.ts";

/** An integer a 64-bit field can take (negative values wrap, as a C cast would). */
function isInt(v: unknown): boolean {
  return typeof v === "number" && Number.isInteger(v);
}

function sglField(sgl: unknown): string | undefined {
  if (sgl === undefined) return undefined;
  if (!Array.isArray(sgl)) return "sgList is not an array";
  for (let i = 0; i < sgl.length; i++) {
    const s = sgl[i];
    if (typeof s !== "object" || s === null) return `sgList[${i}] is not an SGE`;
    if (!isInt(s.addr)) return `sgList[${i}].addr ${String(s.addr)} is not an address`;
  }
  return undefined;
}

/**
 * The first field of a send (`send`) or receive WR that no C field could
 * hold, or undefined if there is none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { badWrField } from "./wr_check.ts";
 * assert.equal(badWrField({ sgList: [{ addr: NaN, length: 8, lkey: 1 }] }, true), "sgList[0].addr NaN is not an address");
 * assert.equal(badWrField({ compareAdd: 5, sgList: [] }, true), "compareAdd 5 is not a bigint");
 * assert.equal(badWrField({ wrId: 1n, sgList: [] }, false), undefined);
 * ```
 */
export function badWrField(wr: unknown, send: boolean): string | undefined {
  if (typeof wr !== "object" || wr === null) return "the work request is not an object";
  const w = wr as Record<string, unknown>;
  const sgl = sglField(w.sgList);
  if (sgl || !send) return sgl;
  if (w.remoteAddr !== undefined && !isInt(w.remoteAddr)) {
    return `remoteAddr ${String(w.remoteAddr)} is not an address`;
  }
  for (const k of ["compareAdd", "swap"]) {
    if (w[k] !== undefined && typeof w[k] !== "bigint") {
      return `${k} ${String(w[k])} is not a bigint`;
    }
  }
  return undefined;
}

/**
 * The error a post verb reports for `e`, thrown while posting `wr`: `e` if
 * it is a `VerbsError` or no field of `wr` explains it (a fault of the
 * library, not of the caller), else EINVAL naming the field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { postError } from "./wr_check.ts";
 * import { VerbsError, withBadWr } from "../uapi/errors.ts";
 * const wr = { wrId: 1n, sgList: [{ addr: undefined, length: 8, lkey: 1 }] };
 * const e = postError(new TypeError("Cannot convert undefined to a BigInt"), "post_recv QP 7", wr, false);
 * assert.ok(e instanceof VerbsError);
 * assert.equal(e.message, "EINVAL: post_recv QP 7: sgList[0].addr undefined is not an address");
 * ```
 */
export function postError(e: unknown, what: string, wr: unknown, send: boolean): unknown {
  if (e instanceof VerbsError) return e;
  const field = badWrField(wr, send);
  return field === undefined ? e : new VerbsError("EINVAL", `${what}: ${field}`);
}

/**
 * `ibv_post_send`, `ibv_post_recv` or `ibv_post_srq_recv` of one WR or a
 * list, in order, with `post` (called on `q`); at the first that fails, the
 * error (named by {@link postError}, prefixed `${verb} ${id}`) gets `badWr`
 * (`withBadWr`) and no later WR is posted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { postEach } from "./wr_check.ts";
 * import { VerbsError } from "../uapi/errors.ts";
 * const ring = { posted: [] as number[], post(w: number) {
 *   if (w < 0) throw new VerbsError("EINVAL", "negative");
 *   this.posted.push(w);
 * } };
 * assert.throws(() => postEach(ring, ring.post, [1, 2, -3, 4], "post_recv QP", 9, false),
 *   (e: VerbsError) => e.badWr === 2);
 * assert.deepEqual(ring.posted, [1, 2]);
 * ```
 */
export function postEach<Q, W>(
  q: Q,
  post: (this: Q, w: W) => void,
  wr: W | readonly W[],
  verb: string,
  id: number,
  send: boolean,
): void {
  if (!Array.isArray(wr)) {
    try {
      post.call(q, wr as W);
    } catch (e) {
      throw withBadWr(postError(e, `${verb} ${id}`, wr, send), 0, 1);
    }
    return;
  }
  const list = wr as readonly W[];
  for (let i = 0; i < list.length; i++) {
    try {
      post.call(q, list[i]);
    } catch (e) {
      throw withBadWr(postError(e, `${verb} ${id}`, list[i], send), i, list.length);
    }
  }
}
