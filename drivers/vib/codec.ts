/**
 * Encoding and decoding of request/response slots. Kept separate from the
 * layout so that the rules about what a value may be (range checks, the
 * presence map, `-EIO` fallback) live in one place both ends share.
 *
 * @module
 */

import { limitCode, limitName } from "./limits.ts";
import { type Layout, type Placed, requestLayout, responseLayout } from "./layout.ts";
import {
  type FieldType,
  opName,
  VIB_OPS,
  VibOp,
  type VibOpCode,
  type VibReqBody,
  type VibRspBody,
} from "./ops.ts";
import { VIB_RSP_HEADER, VIB_SLOT_BYTES } from "./wire.ts";
import { Errno } from "../../sim/errno.ts";

const MAX: Partial<Record<FieldType, number>> = {
  u8: 0xff,
  u16: 0xffff,
  u32: 0xffffffff,
  u64: Number.MAX_SAFE_INTEGER,
};

/**
 * A request as the two ends see it: the header, the op's fields (nested
 * plain objects, keys as in the table) and the segment refs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRequest, encodeRequest, VIB_SLOT_BYTES, VibOp, type VibRequest } from "./mod.ts";
 * const req: VibRequest = { id: 1, op: VibOp.ALLOC_PD, flags: 0, ctx: 1, handle: 0, body: {}, segs: [] };
 * const slot = new DataView(new ArrayBuffer(VIB_SLOT_BYTES));
 * encodeRequest(req, slot);
 * const read = decodeRequest(slot); // what dom0 reads
 * assert.deepEqual([read.id, read.op, read.ctx], [req.id, req.op, req.ctx]);
 * ```
 */
export interface VibRequest {
  id: number;
  op: number;
  flags: number;
  ctx: number;
  handle: number;
  /** Op fields (nested). */
  body: Record<string, unknown>;
  /** Grant refs of the segment area (`nr_segs` of them). */
  segs: number[];
  /** Header bytes 14..15 (must be 0; the backend refuses anything else). */
  reserved?: number;
  /** As decoded: the header's `nr_segs` before clamping to the slot (the backend checks it). */
  nrSegsRaw?: number;
}

/**
 * A response: header and the op's response fields.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeResponse, encodeResponse, VIB_SLOT_BYTES, VibOp, type VibResponse } from "./mod.ts";
 * const refused: VibResponse = { id: 1, op: VibOp.ALLOC_PD, status: -22, body: {} };
 * const slot = new DataView(new ArrayBuffer(VIB_SLOT_BYTES));
 * encodeResponse(refused, slot);
 * assert.equal(decodeResponse(slot).status, -22); // -EINVAL
 * ```
 */
export interface VibResponse {
  id: number;
  op: number;
  /** 0 or `-errno`. */
  status: number;
  body: Record<string, unknown>;
  /** With an error: the quota or dom0 headroom pool that refused it (`limits.ts`). */
  limit?: string;
  /**
   * With an error: what was wrong with the guest's own request, or a
   * fixed reason for the errno's class when dom0 itself failed; one line
   * of UTF-8 in the body's bytes ({@link VIB_REASON_BYTES} at most,
   * NUL-padded; cut at a character boundary), so that a guest's error
   * names the rule as it would on bare metal.
   */
  reason?: string;
}

/**
 * The most bytes of a refusal's reason an error response carries: the
 * slot after the header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VIB_REASON_BYTES, VIB_SLOT_BYTES } from "./mod.ts";
 * assert.equal(VIB_REASON_BYTES, VIB_SLOT_BYTES - 8);
 * ```
 */
export const VIB_REASON_BYTES: number = VIB_SLOT_BYTES - VIB_RSP_HEADER;

const reasonEncoder = new TextEncoder();
// deno-lint-ignore no-control-regex
const CONTROL_CHARS = /[\x00-\x1f\x7f]/g;
const reasonDecoder = new TextDecoder();

/** `reason` as at most {@link VIB_REASON_BYTES} bytes, cut before a partial character. */
function reasonBytes(reason: string): Uint8Array {
  const b = reasonEncoder.encode(reason);
  if (b.length <= VIB_REASON_BYTES) return b;
  let end = VIB_REASON_BYTES;
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--; // a continuation byte: back to its start
  return b.subarray(0, end);
}

/**
 * A request of op `O`, its body typed by the op table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VibOp, type VibRequestOf } from "./mod.ts";
 * const port: VibRequestOf<typeof VibOp.QUERY_PORT> = {
 *   id: 1, op: VibOp.QUERY_PORT, flags: 0, ctx: 1, handle: 0, body: { port: 1 }, segs: [],
 * };
 * assert.equal(port.body.port, 1);
 * ```
 */
export type VibRequestOf<O extends VibOpCode> = Omit<VibRequest, "op" | "body"> & {
  op: O;
  body: VibReqBody<O>;
};

/**
 * A request of any op in the table: a union over the ops, so that a
 * `switch` on `op` (or a table of handlers indexed by it) sees each op's
 * own body type.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type KnownVibRequest, VibOp } from "./mod.ts";
 * const pages = (r: KnownVibRequest) => r.op === VibOp.REG_MR ? r.body.nrPages : 0;
 * assert.equal(pages({ id: 1, op: VibOp.ALLOC_PD, flags: 0, ctx: 1, handle: 0, body: {}, segs: [] }), 0);
 * ```
 */
export type KnownVibRequest = { [O in VibOpCode]: VibRequestOf<O> }[VibOpCode];

/**
 * A decoded request as its op's table entry types it, or undefined for an
 * op outside the table. Sound for what {@link decodeRequest} returns: it
 * lays the body out from exactly that entry, so every field the table
 * requires is there with its type (what the values mean is the backend's
 * to check).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRequest, encodeRequest, knownRequest, VIB_SLOT_BYTES, VibOp } from "./mod.ts";
 * const slot = new DataView(new ArrayBuffer(VIB_SLOT_BYTES));
 * encodeRequest({ id: 1, op: VibOp.QUERY_PORT, flags: 0, ctx: 1, handle: 0, body: { port: 2 }, segs: [] }, slot);
 * const r = knownRequest(decodeRequest(slot));
 * assert.ok(r?.op === VibOp.QUERY_PORT && r.body.port === 2);
 * slot.setUint8(4, 99);
 * assert.equal(knownRequest(decodeRequest(slot)), undefined);
 * ```
 */
export function knownRequest(req: VibRequest): KnownVibRequest | undefined {
  return VIB_OPS.has(req.op) ? (req as KnownVibRequest) : undefined;
}

/**
 * The body of a successful response to a request of `op`, typed by the op
 * table. A response that echoes another op (whose body was decoded by that
 * op's layout) or reports an error is refused with a
 * {@link VibProtocolError}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeResponse, encodeResponse, responseBody, VIB_SLOT_BYTES, VibOp } from "./mod.ts";
 * const slot = new DataView(new ArrayBuffer(VIB_SLOT_BYTES));
 * encodeResponse({ id: 5, op: VibOp.ALLOC_PD, status: 0, body: { pdHandle: 1, pdn: 3 } }, slot);
 * assert.equal(responseBody(VibOp.ALLOC_PD, decodeResponse(slot)).pdn, 3);
 * assert.throws(() => responseBody(VibOp.REG_MR, decodeResponse(slot)), /answers ALLOC_PD/);
 * ```
 */
export function responseBody<O extends VibOpCode>(op: O, rsp: VibResponse): VibRspBody<O> {
  if (rsp.op !== op) {
    throw new VibProtocolError(`response ${rsp.id} answers ${opName(rsp.op)}, not ${opName(op)}`);
  }
  if (rsp.status !== 0) {
    throw new VibProtocolError(`response ${rsp.id} to ${opName(op)} has status ${rsp.status}`);
  }
  return rsp.body as VibRspBody<O>;
}

/**
 * A response that does not answer what was asked (the frontend treats the
 * device as broken: EIO).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VibProtocolError } from "./mod.ts";
 * assert.equal(new VibProtocolError("x").name, "VibProtocolError");
 * ```
 */
export class VibProtocolError extends Error {
  /** @param message what did not match */
  constructor(message: string) {
    super(message);
    this.name = "VibProtocolError";
  }
}

/**
 * A value the table cannot carry (the sender refuses it: EINVAL).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeRequest, VIB_SLOT_BYTES, VibEncodeError, VibOp } from "./mod.ts";
 * const slot = new DataView(new ArrayBuffer(VIB_SLOT_BYTES));
 * const req = { id: 1, op: VibOp.QUERY_PORT, flags: 0, ctx: 1, handle: 0, body: { port: 300 }, segs: [] };
 * assert.throws(() => encodeRequest(req, slot), VibEncodeError); // port is a u8
 * assert.equal(new VibEncodeError("attr.port: 300 does not fit u8").name, "VibEncodeError");
 * ```
 */
export class VibEncodeError extends Error {
  /** @param message which field and why */
  constructor(message: string) {
    super(message);
    this.name = "VibEncodeError";
  }
}

function getPath(o: Record<string, unknown>, path: string): unknown {
  let v: unknown = o;
  for (const k of path.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

function setPath(o: Record<string, unknown>, path: string, value: unknown): void {
  const ks = path.split(".");
  let t = o;
  for (const k of ks.slice(0, -1)) {
    if (typeof t[k] !== "object" || t[k] === null) t[k] = {};
    t = t[k] as Record<string, unknown>;
  }
  t[ks[ks.length - 1]] = value;
}

/** True if `path` lies inside one of the absent optional objects. */
function hidden(absent: string[], path: string): boolean {
  return absent.some((a) => path.startsWith(`${a}.`));
}

function writeField(dv: DataView, p: Placed, v: unknown): void {
  const bad = (why: string) => new VibEncodeError(`${p.name}: ${why}`);
  switch (p.type) {
    case "u8":
    case "u16":
    case "u32":
    case "u64": {
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > MAX[p.type]!) {
        // A string is quoted: "3" is not the number 3, which would fit.
        throw bad(
          `${typeof v === "string" ? JSON.stringify(v) : String(v)} does not fit ${p.type}`,
        );
      }
      if (p.type === "u8") dv.setUint8(p.off, v);
      else if (p.type === "u16") dv.setUint16(p.off, v, true);
      else if (p.type === "u32") dv.setUint32(p.off, v, true);
      else {
        dv.setUint32(p.off, v % 2 ** 32, true);
        dv.setUint32(p.off + 4, Math.floor(v / 2 ** 32), true);
      }
      return;
    }
    case "bool":
      dv.setUint8(p.off, v ? 1 : 0);
      return;
    case "guid": {
      if (typeof v !== "string" || !/^[0-9a-fA-F]{16}$/.test(v)) throw bad("not 16 hex digits");
      dv.setBigUint64(p.off, BigInt(`0x${v}`), true);
      return;
    }
    case "str16": {
      const b = new TextEncoder().encode(String(v ?? ""));
      if (b.length > 16) throw bad("longer than 16 bytes");
      for (let i = 0; i < 16; i++) dv.setUint8(p.off + i, b[i] ?? 0);
      return;
    }
    case "bytes16": {
      if (!(v instanceof Uint8Array) || v.length !== 16) throw bad("must be 16 bytes");
      for (let i = 0; i < 16; i++) dv.setUint8(p.off + i, v[i]);
      return;
    }
    case "obj":
      return;
  }
}

function readField(dv: DataView, p: Placed): unknown {
  switch (p.type) {
    case "u8":
      return dv.getUint8(p.off);
    case "u16":
      return dv.getUint16(p.off, true);
    case "u32":
      return dv.getUint32(p.off, true);
    case "u64":
      return dv.getUint32(p.off, true) + dv.getUint32(p.off + 4, true) * 2 ** 32;
    case "bool":
      return dv.getUint8(p.off) !== 0;
    case "guid":
      return dv.getBigUint64(p.off, true).toString(16).padStart(16, "0");
    case "str16": {
      const b = new Uint8Array(dv.buffer, dv.byteOffset + p.off, 16);
      const end = b.indexOf(0);
      return new TextDecoder().decode(b.subarray(0, end < 0 ? 16 : end));
    }
    case "bytes16":
      return new Uint8Array(dv.buffer, dv.byteOffset + p.off, 16).slice();
    case "obj":
      return {};
  }
}

/** Zero a slot through its own view (no typed array made per message). */
function zeroSlot(out: DataView): void {
  // +0.0 is eight zero bytes: 16 stores for a 128-byte slot.
  for (let i = 0; i < VIB_SLOT_BYTES; i += 8) out.setFloat64(i, 0);
}

function encodeBody(dv: DataView, l: Layout, body: Record<string, unknown>): void {
  if (l.flat) {
    // Top-level numbers only: no path to split, no presence map (what writeField checks, still).
    const o = body !== null && typeof body === "object" ? body : undefined;
    const fs = l.fields;
    for (let i = 0; i < fs.length; i++) writeField(dv, fs[i], o?.[fs[i].name]);
    return;
  }
  let lo = 0, hi = 0;
  const absent: string[] = [];
  const fs = l.fields;
  for (let i = 0; i < fs.length; i++) {
    const p = fs[i];
    if (hidden(absent, p.name)) continue;
    const v = getPath(body, p.name);
    if (p.opt && v === undefined) {
      if (p.type === "obj") absent.push(p.name);
      continue;
    }
    if (p.type === "obj" && (v === null || typeof v !== "object")) {
      throw new VibEncodeError(`${p.name}: not an object`);
    }
    if (p.opt) {
      if (p.bit < 32) lo |= 1 << p.bit;
      else hi |= 1 << (p.bit - 32);
    }
    writeField(dv, p, v);
  }
  if (l.hasPresence) {
    const base = l.fields[0].off - 8;
    dv.setUint32(base, lo >>> 0, true);
    dv.setUint32(base + 4, hi >>> 0, true);
  }
}

function decodeBody(dv: DataView, l: Layout): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (l.flat) {
    const fs = l.fields;
    for (let i = 0; i < fs.length; i++) out[fs[i].name] = readField(dv, fs[i]);
    return out;
  }
  let lo = 0, hi = 0;
  if (l.hasPresence) {
    const base = l.fields[0].off - 8;
    lo = dv.getUint32(base, true);
    hi = dv.getUint32(base + 4, true);
  }
  const absent: string[] = [];
  const fs = l.fields;
  for (let i = 0; i < fs.length; i++) {
    const p = fs[i];
    if (hidden(absent, p.name)) continue;
    if (p.opt) {
      const on = p.bit < 32 ? (lo >>> p.bit) & 1 : (hi >>> (p.bit - 32)) & 1;
      if (!on) {
        if (p.type === "obj") absent.push(p.name);
        continue;
      }
    }
    setPath(out, p.name, readField(dv, p));
  }
  return out;
}

/**
 * Write `req` into a slot (`out` views exactly {@link VIB_SLOT_BYTES} bytes).
 * @throws VibEncodeError for a value that does not fit, or too many segments
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRequest, encodeRequest, VIB_SLOT_BYTES, VibOp } from "./mod.ts";
 * const slot = new DataView(new ArrayBuffer(VIB_SLOT_BYTES));
 * encodeRequest({ id: 1, op: VibOp.QUERY_PORT, flags: 0, ctx: 1, handle: 0, body: { port: 1 }, segs: [] }, slot);
 * assert.deepEqual(decodeRequest(slot).body, { port: 1 });
 * ```
 */
export function encodeRequest(req: VibRequest, out: DataView): void {
  // An op outside the table still gets its header (a hostile or newer frontend may send one).
  const l = requestLayout(req.op);
  zeroSlot(out);
  out.setUint32(0, req.id >>> 0, true);
  out.setUint8(4, req.op);
  out.setUint8(5, req.flags & 0xff);
  out.setUint16(6, req.ctx & 0xffff, true);
  out.setUint32(8, req.handle >>> 0, true);
  out.setUint16(12, req.segs.length, true);
  out.setUint16(14, (req.reserved ?? 0) & 0xffff, true);
  if (l && !encodeFast(req.op, out, req.body)) encodeBody(out, l, req.body);
  if (req.segs.length === 0) return;
  if (req.segs.length > (l?.segCapacity ?? 0)) {
    throw new VibEncodeError(`${opName(req.op)}: ${req.segs.length} segments do not fit`);
  }
  const s = l!.segStart;
  req.segs.forEach((r, i) => out.setUint32(s + 4 * i, r >>> 0, true));
}

/*
 * The datapath's bodies (DOORBELL and POLL_CQ requests, the POLL_CQ
 * response), written and read field by field with their offsets: one of
 * them per post and per poll in split mode, so no loop over the table and
 * no lookup by field name. The table is the authority: these offsets are
 * checked against it when the module loads, and a body these do not take
 * (a value out of range, not an object) goes through the general code,
 * which refuses it with the same message.
 */
const DB_OFFSET = 16, DB_WORD0 = 17, DB_WORD1 = 21;
const PQ_CQN = 16, PQ_CI = 20, PQ_COPIED = 8;
for (
  const [what, l, want] of [
    ["DOORBELL request", requestLayout(VibOp.DOORBELL), [
      `offset:u8@${DB_OFFSET}`,
      `word0:u32@${DB_WORD0}`,
      `word1:u32@${DB_WORD1}`,
    ]],
    ["POLL_CQ request", requestLayout(VibOp.POLL_CQ), [
      `cqn:u32@${PQ_CQN}`,
      `consumerIndex:u32@${PQ_CI}`,
    ]],
    ["POLL_CQ response", responseLayout(VibOp.POLL_CQ), [`copied:u32@${PQ_COPIED}`]],
  ] as const
) {
  const placed = l?.fields.map((p) => `${p.name}:${p.type}@${p.off}`).join();
  if (placed !== want.join()) {
    throw new Error(`vib codec: ${what} is laid out as ${placed}, not ${want.join()}`);
  }
}

/** Write a datapath request's body that fits; false (nothing written) for anything else. */
function encodeFast(op: number, out: DataView, body: unknown): boolean {
  if (op === VibOp.DOORBELL) return encodeDoorbell(out, body);
  if (op !== VibOp.POLL_CQ || body === null || typeof body !== "object") return false;
  const { cqn, consumerIndex } = body as Record<string, unknown>;
  if (!isU(cqn, 0xffffffff) || !isU(consumerIndex, 0xffffffff)) return false;
  out.setUint32(PQ_CQN, cqn, true);
  out.setUint32(PQ_CI, consumerIndex, true);
  return true;
}

function isU(v: unknown, max: number): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= max;
}

/** Write a DOORBELL body that fits; false (nothing written) for one the general code must refuse. */
function encodeDoorbell(out: DataView, body: unknown): boolean {
  if (body === null || typeof body !== "object") return false;
  const { offset, word0, word1 } = body as Record<string, unknown>;
  if (!isU(offset, 0xff) || !isU(word0, 0xffffffff) || !isU(word1, 0xffffffff)) return false;
  out.setUint8(DB_OFFSET, offset);
  out.setUint32(DB_WORD0, word0, true);
  out.setUint32(DB_WORD1, word1, true);
  return true;
}

function decodeDoorbell(inp: DataView): Record<string, unknown> {
  return {
    offset: inp.getUint8(DB_OFFSET),
    word0: inp.getUint32(DB_WORD0, true),
    word1: inp.getUint32(DB_WORD1, true),
  };
}

/**
 * Read a request from a private copy of its slot. Unknown ops decode with
 * an empty body; the segment refs are clamped to what the slot can hold,
 * and `nrSegsRaw` keeps the header's count for the backend to check.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeRequest, VIB_SLOT_BYTES } from "./mod.ts";
 * const slot = new DataView(new ArrayBuffer(VIB_SLOT_BYTES));
 * slot.setUint8(4, 99);
 * assert.equal(decodeRequest(slot).op, 99); // an unknown op decodes; the backend refuses it
 * ```
 */
export function decodeRequest(inp: DataView): VibRequest {
  const op = inp.getUint8(4);
  const l = requestLayout(op);
  const nrSegsRaw = inp.getUint16(12, true);
  const segs: number[] = [];
  if (l && nrSegsRaw > 0) {
    const s = l.segStart;
    const n = Math.min(nrSegsRaw, l.segCapacity);
    for (let i = 0; i < n; i++) segs.push(inp.getUint32(s + 4 * i, true));
  }
  return {
    id: inp.getUint32(0, true),
    op,
    flags: inp.getUint8(5),
    ctx: inp.getUint16(6, true),
    handle: inp.getUint32(8, true),
    reserved: inp.getUint16(14, true),
    nrSegsRaw,
    body: !l
      ? {}
      : op === VibOp.DOORBELL
      ? decodeDoorbell(inp)
      : op === VibOp.POLL_CQ
      ? { cqn: inp.getUint32(PQ_CQN, true), consumerIndex: inp.getUint32(PQ_CI, true) }
      : decodeBody(inp, l),
    segs,
  };
}

/**
 * Write a response into a slot. A response whose body does not fit its
 * table (it should always fit) is sent as `-EIO` with an empty body.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeResponse, encodeResponse, VIB_SLOT_BYTES, VibOp } from "./mod.ts";
 * const slot = new DataView(new ArrayBuffer(VIB_SLOT_BYTES));
 * encodeResponse({ id: 5, op: VibOp.ALLOC_PD, status: 0, body: { pdHandle: 1, pdn: 3 } }, slot);
 * assert.deepEqual(decodeResponse(slot).body, { pdHandle: 1, pdn: 3 });
 * ```
 */
export function encodeResponse(rsp: VibResponse, out: DataView): void {
  zeroSlot(out);
  out.setUint32(0, rsp.id >>> 0, true);
  out.setUint8(4, rsp.op & 0xff);
  if (rsp.status < 0) {
    out.setUint8(5, limitCode(rsp.limit));
    if (rsp.reason) {
      new Uint8Array(out.buffer, out.byteOffset + VIB_RSP_HEADER, VIB_REASON_BYTES)
        .set(reasonBytes(rsp.reason));
    }
  }
  let status = rsp.status;
  const l = responseLayout(rsp.op);
  if (status === 0 && l && l.fields.length > 0 && !encodeCopied(rsp.op, out, rsp.body)) {
    try {
      encodeBody(out, l, rsp.body);
    } catch {
      new Uint8Array(out.buffer, out.byteOffset + VIB_RSP_HEADER, VIB_SLOT_BYTES - VIB_RSP_HEADER)
        .fill(0);
      status = -Errno.EIO;
    }
  }
  out.setInt16(6, status, true);
}

/** A POLL_CQ response's body that fits; false (nothing written) for anything else. */
function encodeCopied(op: number, out: DataView, body: unknown): boolean {
  if (op !== VibOp.POLL_CQ || body === null || typeof body !== "object") return false;
  const copied = (body as Record<string, unknown>).copied;
  if (!isU(copied, 0xffffffff)) return false;
  out.setUint32(PQ_COPIED, copied, true);
  return true;
}

/**
 * Read a response from a private copy of its slot (a body only on success).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeResponse, encodeResponse, VIB_SLOT_BYTES, VibOp } from "./mod.ts";
 * const slot = new DataView(new ArrayBuffer(VIB_SLOT_BYTES));
 * encodeResponse({ id: 5, op: VibOp.ALLOC_PD, status: -22, body: {} }, slot);
 * assert.equal(decodeResponse(slot).status, -22);
 * encodeResponse({ id: 6, op: VibOp.REG_MR, status: -22, body: {}, reason: "reg_mr: bad" }, slot);
 * assert.equal(decodeResponse(slot).reason, "reg_mr: bad");
 * ```
 */
export function decodeResponse(inp: DataView): VibResponse {
  const op = inp.getUint8(4);
  const status = inp.getInt16(6, true);
  const l = responseLayout(op);
  const limit = status < 0 ? limitName(inp.getUint8(5)) : undefined;
  const r: VibResponse = {
    id: inp.getUint32(0, true),
    op,
    status,
    body: status !== 0 || !l || l.fields.length === 0
      ? {}
      : op === VibOp.POLL_CQ
      ? { copied: inp.getUint32(PQ_COPIED, true) }
      : decodeBody(inp, l),
  };
  if (limit !== undefined) r.limit = limit;
  if (status < 0) {
    const b = new Uint8Array(inp.buffer, inp.byteOffset + VIB_RSP_HEADER, VIB_REASON_BYTES);
    const end = b.indexOf(0);
    // One line whatever the bytes: control characters become spaces.
    const reason = reasonDecoder.decode(end < 0 ? b : b.subarray(0, end))
      .replace(CONTROL_CHARS, " ").trim();
    if (reason) r.reason = reason;
  }
  return r;
}

/**
 * The slot codecs for `FrontRing`/`BackRing` (`ring.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FrontRing } from "../xen/ring.ts";
 * import { vibRingOptions } from "./mod.ts";
 * const front = FrontRing.init(new Uint8Array(4096), vibRingOptions());
 * assert.equal(front.size, 16); // 128-byte slots: (4096 - 64) / 128 = 31 -> 16
 * ```
 */
export function vibRingOptions() {
  return {
    request: {
      size: VIB_SLOT_BYTES,
      encode: (v: VibRequest, out: DataView) => encodeRequest(v, out),
      decode: (inp: DataView) => decodeRequest(inp),
      // Every field is read into the message (`bytes16` as a copy): a ring end may reuse its copy.
      transient: true,
    },
    response: {
      size: VIB_SLOT_BYTES,
      encode: (v: VibResponse, out: DataView) => encodeResponse(v, out),
      decode: (inp: DataView) => decodeResponse(inp),
      transient: true,
    },
  };
}
