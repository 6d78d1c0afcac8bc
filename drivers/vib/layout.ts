/**
 * Where each field of each op sits in a slot. Offsets are computed once
 * from the op table at load time, so that a table change that overflows a
 * slot fails at import rather than on the first request that uses it.
 *
 * @module
 */

import { type FieldSpec, type FieldType, VIB_OPS } from "./ops.ts";
import { VIB_REQ_HEADER, VIB_RSP_HEADER, VIB_SLOT_BYTES } from "./wire.ts";

const SIZE: Record<FieldType, number> = {
  u8: 1,
  u16: 2,
  u32: 4,
  u64: 8,
  bool: 1,
  guid: 8,
  str16: 16,
  bytes16: 16,
  obj: 0,
};

/**
 * A field with its place in the slot. The codec works from these rather
 * than from the table so that offsets are computed once, not per message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Placed, requestLayout } from "./layout.ts";
 * import { VibOp } from "./ops.ts";
 * const addr: Placed = requestLayout(VibOp.REG_MR)!.fields[0];
 * assert.deepEqual([addr.name, addr.off, addr.bit], ["addr", 16, -1]); // after the header, always present
 * ```
 */
export interface Placed extends FieldSpec {
  /** Byte offset in the slot. */
  off: number;
  /** Presence-map bit, or -1 for a field that is always present. */
  bit: number;
}

/**
 * One direction of one op, as laid out in a slot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Layout, responseLayout } from "./layout.ts";
 * import { VibOp } from "./ops.ts";
 * const l: Layout = responseLayout(VibOp.ALLOC_PD)!;
 * assert.equal(l.hasPresence, false);
 * assert.equal(l.end, 16); // 8-byte header, pdHandle and pdn
 * ```
 */
export interface Layout {
  fields: Placed[];
  hasPresence: boolean;
  /** Byte after the last field (relative to the slot). */
  end: number;
  /**
   * Every field a top-level number (`u8`, `u16`, `u32`), none optional:
   * the codec reads and writes such a body field by field, without paths
   * or a presence map (the datapath's DOORBELL and POLL_CQ are).
   */
  flat: boolean;
  /** Requests: where the segment area starts (4-byte aligned after the fields). */
  segStart: number;
  /** Requests: grant refs that fit in the segment area (0 for an op without one). */
  segCapacity: number;
}

function place(specs: readonly FieldSpec[], start: number): Layout {
  const hasPresence = specs.some((s) => s.opt);
  let off = start + (hasPresence ? 8 : 0);
  let bit = 0;
  const fields = specs.map((s) => {
    const p: Placed = { ...s, off, bit: s.opt ? bit++ : -1 };
    off += SIZE[s.type];
    return p;
  });
  if (bit > 64) throw new Error("vib protocol: more than 64 optional fields in one message");
  const flat = fields.every((p) =>
    !p.opt && !p.name.includes(".") && (p.type === "u8" || p.type === "u16" || p.type === "u32")
  );
  const segStart = (off + 3) & ~3;
  return { fields, hasPresence, end: off, flat, segStart, segCapacity: 0 };
}

// By op code (a u8): an array index, not a map lookup, per message.
const REQ_LAYOUT: (Layout | undefined)[] = [];
const RSP_LAYOUT: (Layout | undefined)[] = [];
for (const [op, s] of VIB_OPS) {
  const req = place(s.req, VIB_REQ_HEADER);
  const rsp = place(s.rsp, VIB_RSP_HEADER);
  if (req.end > VIB_SLOT_BYTES || rsp.end > VIB_SLOT_BYTES) {
    throw new Error(`vib protocol: ${s.name} does not fit a ${VIB_SLOT_BYTES}-byte slot`);
  }
  if (s.segs) req.segCapacity = Math.floor((VIB_SLOT_BYTES - req.segStart) / 4);
  REQ_LAYOUT[op] = req;
  RSP_LAYOUT[op] = rsp;
}

function layoutOf(table: (Layout | undefined)[], op: number): Layout | undefined {
  return Number.isInteger(op) && op >= 0 && op < table.length ? table[op] : undefined;
}

/**
 * Request layout of `op`; `undefined` for an op outside the table, which the
 * codec still carries header-only because a hostile or newer frontend may
 * send one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestLayout } from "./layout.ts";
 * import { VibOp } from "./ops.ts";
 * assert.equal(requestLayout(VibOp.QUERY_PORT)!.fields.length, 1);
 * assert.equal(requestLayout(99), undefined); // not an op
 * ```
 */
export function requestLayout(op: number): Layout | undefined {
  return layoutOf(REQ_LAYOUT, op);
}

/**
 * Response layout of `op`; `undefined` for an op outside the table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { responseLayout } from "./layout.ts";
 * import { VibOp } from "./ops.ts";
 * assert.deepEqual(responseLayout(VibOp.ALLOC_PD)!.fields.map((p) => p.off), [8, 12]);
 * ```
 */
export function responseLayout(op: number): Layout | undefined {
  return layoutOf(RSP_LAYOUT, op);
}

/**
 * Offset of an op's segment area: 4-byte aligned after its fields, so that
 * the `u32` grant refs are naturally aligned for a C backend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { segStart } from "./layout.ts";
 * import { VibOp } from "./ops.ts";
 * assert.equal(segStart(VibOp.REG_MR), 40); // header 16 + addr, length (u64) + access, nrPages (u32)
 * ```
 */
export function segStart(op: number): number {
  return requestLayout(op)!.segStart;
}

/**
 * Grant refs that fit in `op`'s segment area (0 for ops without one).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { segCapacity, VibOp } from "./mod.ts";
 * assert.equal(segCapacity(VibOp.REG_MR), 22); // (128 - 40) / 4
 * ```
 */
export function segCapacity(op: number): number {
  return requestLayout(op)?.segCapacity ?? 0;
}

/**
 * One row of {@link protocolTable}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { protocolTable, type ProtocolRow } from "./mod.ts";
 * const rows: ProtocolRow[] = protocolTable().filter((r) => r.name === "REG_MR" && r.dir === "rsp");
 * assert.deepEqual(rows.map((r) => r.field), ["mrHandle", "lkey", "rkey"]);
 * ```
 */
export interface ProtocolRow {
  op: number;
  name: string;
  handle: string;
  dir: "req" | "rsp";
  field: string;
  type: FieldType;
  offset: number;
  optional: boolean;
}

/**
 * The opcode table with offsets, for documentation and tests.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { protocolTable } from "./mod.ts";
 * const row = protocolTable().find((r) => r.name === "REG_MR" && r.field === "addr")!;
 * assert.equal(row.offset, 16);
 * assert.equal(row.type, "u64");
 * ```
 */
export function protocolTable(): ProtocolRow[] {
  const rows: ProtocolRow[] = [];
  for (const [op, s] of VIB_OPS) {
    for (const [dir, l] of [["req", REQ_LAYOUT[op]!], ["rsp", RSP_LAYOUT[op]!]] as const) {
      for (const p of l.fields) {
        rows.push({
          op,
          name: s.name,
          handle: s.handle ?? "",
          dir,
          field: p.name,
          type: p.type,
          offset: p.off,
          optional: !!p.opt,
        });
      }
    }
    if (s.segs) {
      rows.push({
        op,
        name: s.name,
        handle: s.handle ?? "",
        dir: "req",
        field: `segs[${segCapacity(op)}]`,
        type: "u32",
        offset: segStart(op),
        optional: false,
      });
    }
  }
  return rows;
}
