/**
 * What was wrong with a work request: a value no field of the C struct
 * could hold (an address that is `NaN`, a length or key that is no
 * 32-bit unsigned integer, a `wrId` or atomic operand that is not a
 * `bigint`, a missing SGE). A C caller cannot pass such a WR; a JavaScript
 * caller can, and would otherwise see it posted as something else (a
 * `NaN` length becomes 0). Every post verb refuses it with EINVAL naming
 * the field and the WR, before it posts anything ({@link checkWrFields});
 * what the verbs rules check (opcode, SGE count, inline size, queue room)
 * the provider checks as libmthca does.
 *
 * @module
 */
import { VerbsError, withBadWr } from "../uapi/errors.ts";

/** An integer a 64-bit field can take (negative values wrap, as a C cast would). */
function isInt(v: unknown): boolean {
  return typeof v === "number" && Number.isInteger(v);
}

/** A value a C `uint32_t` holds. */
function isU32(v: unknown): boolean {
  return typeof v === "number" && v >>> 0 === v;
}

/** The largest `uint64_t` (`wr_id`). */
const U64_MAX = (1n << 64n) - 1n;

function sglField(sgl: unknown): string | undefined {
  if (sgl === undefined) return undefined;
  if (!Array.isArray(sgl)) return "sgList is not an array";
  for (let i = 0; i < sgl.length; i++) {
    const s = sgl[i];
    if (typeof s !== "object" || s === null) return `sgList[${i}] is not an SGE`;
    if (!isInt(s.addr)) return `sgList[${i}].addr ${String(s.addr)} is not an address`;
    // struct ibv_sge: uint32_t length, uint32_t lkey.
    if (!isU32(s.length)) return `sgList[${i}].length ${String(s.length)} is not a uint32`;
    if (!isU32(s.lkey)) return `sgList[${i}].lkey ${String(s.lkey)} is not a uint32`;
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
 * assert.equal(badWrField({ wrId: 1n, sgList: [{ addr: NaN, length: 8, lkey: 1 }] }, true), "sgList[0].addr NaN is not an address");
 * assert.equal(badWrField({ wrId: 1n, sgList: [{ addr: 0, length: -1, lkey: 1 }] }, false), "sgList[0].length -1 is not a uint32");
 * assert.equal(badWrField({ wrId: 1n, compareAdd: 5, sgList: [] }, true), "compareAdd 5 is not a bigint");
 * assert.equal(badWrField({ wrId: 7, sgList: [] }, false), "wrId 7 is not a uint64 bigint");
 * assert.equal(badWrField({ wrId: 1n, sgList: [] }, false), undefined);
 * ```
 */
export function badWrField(wr: unknown, send: boolean): string | undefined {
  if (typeof wr !== "object" || wr === null) return "the work request is not an object";
  const w = wr as Record<string, unknown>;
  // uint64_t wr_id: given back untouched in the completion.
  const id = w.wrId;
  if (typeof id !== "bigint" || id < 0n || id > U64_MAX) {
    return `wrId ${String(id)} is not a uint64 bigint`;
  }
  const sgl = sglField(w.sgList);
  if (sgl || !send) return sgl;
  if (w.remoteAddr !== undefined && !isInt(w.remoteAddr)) {
    return `remoteAddr ${String(w.remoteAddr)} is not an address`;
  }
  if (w.rkey !== undefined && !isU32(w.rkey)) return `rkey ${String(w.rkey)} is not a uint32`;
  if (w.immData !== undefined && !isU32(w.immData)) {
    return `immData ${String(w.immData)} is not a uint32`;
  }
  if (w.compareAdd !== undefined && typeof w.compareAdd !== "bigint") {
    return `compareAdd ${String(w.compareAdd)} is not a bigint`;
  }
  if (w.swap !== undefined && typeof w.swap !== "bigint") {
    return `swap ${String(w.swap)} is not a bigint`;
  }
  return undefined;
}

/**
 * Refuse a WR, or a list of them whole, with EINVAL naming the first WR
 * with a field no C field could hold ({@link badWrField}) and that field,
 * before anything is posted; `badWr` is its index.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkWrFields } from "./wr_check.ts";
 * import { VerbsError } from "../uapi/errors.ts";
 * const ok = { wrId: 1n, sgList: [{ addr: 4096, length: 8, lkey: 7 }] };
 * checkWrFields([ok, ok], "post_recv QP 9", false); // nothing to refuse
 * assert.throws(
 *   () => checkWrFields([ok, { wrId: 2n, sgList: [{ addr: 4096, length: NaN, lkey: 7 }] }], "post_recv QP 9", false),
 *   (e: VerbsError) =>
 *     e.badWr === 1 &&
 *     e.message === "EINVAL: post_recv QP 9: sgList[0].length NaN is not a uint32 (wr[1] of 2: none was posted)",
 * );
 * ```
 */
export function checkWrFields(wr: unknown, what: string, send: boolean): void {
  checkFields(wr, what, undefined, send);
}

/**
 * {@link checkWrFields} for the verb `verb` on queue `id`: the message's
 * prefix (`verb id`) is made only for an error, not on every post.
 */
function checkFields(wr: unknown, verb: string, id: number | undefined, send: boolean): void {
  if (!Array.isArray(wr)) return refuse(badWrField(wr, send), verb, id, 0, 1);
  for (let i = 0; i < wr.length; i++) refuse(badWrField(wr[i], send), verb, id, i, wr.length);
}

function refuse(
  field: string | undefined,
  verb: string,
  id: number | undefined,
  i: number,
  n: number,
): void {
  if (field === undefined) return;
  const what = id === undefined ? verb : `${verb} ${id}`;
  const where = n === 1 ? "" : ` (wr[${i}] of ${n}: none was posted)`;
  const e = new VerbsError("EINVAL", `${what}: ${field}${where}`);
  e.badWr = i;
  throw e;
}

/**
 * `ibv_post_send`, `ibv_post_recv` or `ibv_post_srq_recv` of one WR or a
 * list, in order, with `post` (called on `q`), once {@link checkWrFields}
 * found every field one a C caller could have passed; at the first that
 * fails, the error gets `badWr` (`withBadWr`) and no later WR is posted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { postEach } from "./wr_check.ts";
 * import { VerbsError } from "../uapi/errors.ts";
 * const wr = (id: bigint) => ({ wrId: id, sgList: [] });
 * const ring = { posted: [] as bigint[], post(w: { wrId: bigint }) {
 *   if (this.posted.length === 2) throw new VerbsError("ENOMEM", "post_recv QP 9: queue full");
 *   this.posted.push(w.wrId);
 * } };
 * assert.throws(() => postEach(ring, ring.post, [wr(1n), wr(2n), wr(3n)], "post_recv QP", 9, false),
 *   (e: VerbsError) => e.badWr === 2);
 * assert.deepEqual(ring.posted, [1n, 2n]);
 * // A field no C struct could hold: refused before anything is posted.
 * assert.throws(() => postEach(ring, ring.post, [wr(4n), { wrId: 5 as unknown as bigint }], "post_recv QP", 9, false),
 *   (e: VerbsError) => e.badWr === 1 && e.code === "EINVAL");
 * assert.deepEqual(ring.posted, [1n, 2n]);
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
  checkFields(wr, verb, id, send);
  if (!Array.isArray(wr)) {
    try {
      post.call(q, wr as W);
    } catch (e) {
      throw withBadWr(e, 0, 1);
    }
    return;
  }
  const list = wr as readonly W[];
  for (let i = 0; i < list.length; i++) {
    try {
      post.call(q, list[i]);
    } catch (e) {
      throw withBadWr(e, i, list.length);
    }
  }
}
