/**
 * What was wrong with a work request: a value no field of the C struct
 * could hold (an address that is `NaN`, a length, key, flag word or UD
 * destination that is no 32-bit unsigned integer, a `wrId` or atomic operand that is not a
 * `bigint`, a missing SGE). A C caller cannot pass such a WR; a JavaScript
 * caller can, and would otherwise see it posted as something else (a
 * `NaN` length becomes 0). Every post verb refuses such a WR with EINVAL
 * naming the field and the WR when it reaches it ({@link postEach}), as a
 * provider refuses a WR it cannot post; what the verbs rules check (queue
 * room, SGE count, opcode, inline size) the provider checks as libmthca
 * does.
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
 * assert.equal(badWrField({ wrId: 1n, sendFlags: NaN, sgList: [] }, true), "sendFlags NaN is not a uint32");
 * assert.equal(badWrField({ wrId: 1n, remoteQpn: NaN, remoteQkey: 1, sgList: [] }, true), "remoteQpn NaN is not a uint32");
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
  // unsigned int send_flags; uint32_t remote_qpn, remote_qkey (wr.ud).
  if (w.sendFlags !== undefined && !isU32(w.sendFlags)) {
    return `sendFlags ${String(w.sendFlags)} is not a uint32`;
  }
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
  if (w.remoteQpn !== undefined && !isU32(w.remoteQpn)) {
    return `remoteQpn ${String(w.remoteQpn)} is not a uint32`;
  }
  if (w.remoteQkey !== undefined && !isU32(w.remoteQkey)) {
    return `remoteQkey ${String(w.remoteQkey)} is not a uint32`;
  }
  return undefined;
}

/**
 * The index of the first WR of `wr` (one WR or a list) with a field no C
 * field could hold ({@link badWrField}), or -1 if there is none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { firstBadWr } from "./wr_check.ts";
 * const ok = { wrId: 1n, sgList: [{ addr: 4096, length: 8, lkey: 7 }] };
 * assert.equal(firstBadWr([ok, ok], false), -1);
 * assert.equal(firstBadWr([ok, { wrId: 2n, sgList: [{ addr: 4096, length: NaN, lkey: 7 }] }], false), 1);
 * assert.equal(firstBadWr({ wrId: 3 }, false), 0); // one WR
 * ```
 */
export function firstBadWr(wr: unknown, send: boolean): number {
  if (!Array.isArray(wr)) return badWrField(wr, send) === undefined ? -1 : 0;
  for (let i = 0; i < wr.length; i++) if (badWrField(wr[i], send) !== undefined) return i;
  return -1;
}

/**
 * The EINVAL for WR `i` of `wr` (one WR or a list), which has a field no C
 * field could hold: it names the field and, in a list, the WR, whose index
 * is the error's `badWr`. The WR is refused as `ibv_post_send` refuses a
 * WR it cannot post (ibv_post_send(3): processing stops at the first
 * failure, returned through `bad_wr`; include/rdma/ib_verbs.h: the earlier
 * WRs of the list are queued): the ones before it stay posted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { badWrError } from "./wr_check.ts";
 * const ok = { wrId: 1n, sgList: [{ addr: 4096, length: 8, lkey: 7 }] };
 * const e = badWrError([ok, { wrId: 2n, sgList: [{ addr: 4096, length: NaN, lkey: 7 }] }], 1, "post_recv QP 9", false);
 * assert.equal(e.badWr, 1);
 * assert.equal(
 *   e.message,
 *   "EINVAL: post_recv QP 9: sgList[0].length NaN is not a uint32 (wr[1] of 2: the 1 before it were posted, none after it)",
 * );
 * ```
 */
export function badWrError(wr: unknown, i: number, what: string, send: boolean): VerbsError {
  const list = Array.isArray(wr);
  const field = badWrField(list ? wr[i] : wr, send) ?? "the work request is valid";
  return withBadWr(
    new VerbsError("EINVAL", `${what}: ${field}`),
    i,
    list ? wr.length : 1,
  ) as VerbsError;
}

/**
 * `ibv_post_send`, `ibv_post_recv` or `ibv_post_srq_recv` of one WR or a
 * list, in order, with `post` (called on `q`). Each WR's fields are looked
 * at when it is reached ({@link badWrField}); at the first WR that has a
 * field no C field could hold, or that `post` refuses, the error gets
 * `badWr` and no later WR is posted: the earlier ones are, as with
 * `ibv_post_send`'s `bad_wr`.
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
 * // A field no C struct could hold: that WR is refused, the one before it was posted.
 * ring.posted.length = 0;
 * assert.throws(() => postEach(ring, ring.post, [wr(4n), { wrId: 5 as unknown as bigint }], "post_recv QP", 9, false),
 *   (e: VerbsError) => e.badWr === 1 && e.code === "EINVAL");
 * assert.deepEqual(ring.posted, [4n]);
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
    // The message's prefix (`verb id`) is made only for an error, not on every post.
    if (badWrField(wr, send) !== undefined) throw badWrError(wr, 0, `${verb} ${id}`, send);
    try {
      post.call(q, wr as W);
    } catch (e) {
      throw withBadWr(e, 0, 1);
    }
    return;
  }
  const list = wr as readonly W[];
  for (let i = 0; i < list.length; i++) {
    if (badWrField(list[i], send) !== undefined) throw badWrError(list, i, `${verb} ${id}`, send);
    try {
      post.call(q, list[i]);
    } catch (e) {
      throw withBadWr(e, i, list.length);
    }
  }
}
