/**
 * The IBTA transport opcode table (vol. 1 §9.2, table 38): every BTH opcode
 * the model speaks, with its 8-bit value, the extension headers it carries
 * and what the requester, responder and completer need to know about it.
 *
 * One table, read by everything (packet codec, requester, responder,
 * completer), in the spirit of Linux rxe's `rxe_opcode.c`: adding an opcode
 * here is the only place its header layout is decided.
 *
 * Value = transport prefix (bits 7..5: RC 000, UC 001, RD 010, UD 011) + op
 * (bits 4..0).
 *
 * @module
 */

/**
 * Transport service, the top three bits of the opcode (IBTA §9.2, table 38).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { opcodeInfo, type Transport } from "./opcode.ts";
 * const reliable = (t: Transport) => t === "RC";
 * assert.equal(reliable(opcodeInfo(0x64)!.transport), false); // UD SEND ONLY
 * ```
 */
export type Transport = "RC" | "UC" | "UD";

/**
 * Opcode bits 7..5 per transport (IBTA §9.2 table 38).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TRANSPORT_PREFIX } from "./opcode.ts";
 * assert.equal((TRANSPORT_PREFIX.UC | 0x04).toString(16), "24"); // UC SEND ONLY
 * ```
 */
export const TRANSPORT_PREFIX: Readonly<Record<Transport, number>> = {
  RC: 0x00,
  UC: 0x20,
  UD: 0x60,
};

/**
 * Extension transport headers an opcode may carry (IBTA §9.3).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EXT_HEADER_BYTES, type ExtHeader } from "./opcode.ts";
 * const headers: ExtHeader[] = ["reth", "immDt"]; // RDMA WRITE ONLY with immediate
 * assert.equal(headers.reduce((n, h) => n + EXT_HEADER_BYTES[h], 0), 20);
 * ```
 */
export type ExtHeader = "deth" | "reth" | "atomicEth" | "aeth" | "atomicAckEth" | "immDt";

/**
 * Byte length of each extension header (IBTA §9.3.2–§9.3.6, §9.3.8).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EXT_HEADER_BYTES } from "./opcode.ts";
 * assert.equal(EXT_HEADER_BYTES.atomicEth, 28);
 * ```
 */
export const EXT_HEADER_BYTES: Readonly<Record<ExtHeader, number>> = {
  // Q_Key (4), reserved (1), SrcQP (3) — §9.3.2.
  deth: 8,
  // VA (8), R_Key (4), DMALen (4) — §9.3.3.
  reth: 16,
  // VA (8), R_Key (4), SwapDt/AddDt (8), CmpDt (8) — §9.3.4.
  atomicEth: 28,
  // Syndrome (1), MSN (3) — §9.3.5.
  aeth: 4,
  // OrigRemDt (8) — §9.3.6.
  atomicAckEth: 8,
  // Immediate data (4) — §9.3.8.
  immDt: 4,
};

/**
 * Order in which extension headers follow the BTH (IBTA §9.2, figure 100 and
 * the per-opcode header lists of table 38): DETH, RETH, AtomicETH, AETH,
 * AtomicAckETH, ImmDt.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EXT_HEADER_ORDER } from "./opcode.ts";
 * assert.equal(EXT_HEADER_ORDER.indexOf("deth") < EXT_HEADER_ORDER.indexOf("immDt"), true); // DETH comes first
 * ```
 */
export const EXT_HEADER_ORDER: readonly ExtHeader[] = [
  "deth",
  "reth",
  "atomicEth",
  "aeth",
  "atomicAckEth",
  "immDt",
];

/**
 * Where a packet sits in its message (IBTA §9.2: First/Middle/Last/Only).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { opcodeInfo, type Position } from "./opcode.ts";
 * const ends = (p: Position) => p === "last" || p === "only";
 * assert.equal(ends(opcodeInfo(0x02)!.position), true); // RC SEND LAST
 * ```
 */
export type Position = "first" | "middle" | "last" | "only";

/**
 * What the operation is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OPCODES, type Operation } from "./opcode.ts";
 * const count = (op: Operation) => OPCODES.filter((o) => o.operation === op).length;
 * assert.equal(count("read"), 5); // the request and four response positions
 * ```
 */
export type Operation = "send" | "write" | "read" | "atomic" | "ack";

/**
 * One row of the opcode table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OP, opcodeInfo, type OpcodeInfo } from "./opcode.ts";
 * const i: OpcodeInfo = opcodeInfo(OP.RC_RDMA_READ_REQUEST)!;
 * assert.deepEqual([i.headers, i.requiresAck, i.hasPayload], [[ "reth" ], true, false]);
 * ```
 */
export interface OpcodeInfo {
  /** 8-bit BTH opcode value. */
  readonly value: number;
  /** IBTA name, e.g. `RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE`. */
  readonly name: string;
  /** Transport service. */
  readonly transport: Transport;
  /** The operation this packet belongs to (`ack` for ACKNOWLEDGE/ATOMIC_ACKNOWLEDGE). */
  readonly operation: Operation;
  /** Position in the message. */
  readonly position: Position;
  /** Extension headers after the BTH, in wire order. */
  readonly headers: readonly ExtHeader[];
  /** Bytes of extension headers (sum over `headers`). */
  readonly extBytes: number;
  /** Byte offset of each present extension header from the start of the BTH. */
  readonly offsets: Readonly<Partial<Record<ExtHeader, number>>>;
  /** Sent by a requester (send, write, read request, atomic). */
  readonly isRequest: boolean;
  /** Sent by a responder (read response, ACK, atomic ACK). */
  readonly isResponse: boolean;
  /** Carries a data payload (possibly zero bytes for zero-length messages). */
  readonly hasPayload: boolean;
  /**
   * The responder must acknowledge it: every RC request (IBTA §9.7.5.1);
   * UC and UD are unacknowledged.
   */
  readonly requiresAck: boolean;
  /** RDMA READ request or response. */
  readonly isRead: boolean;
  /** CmpSwap / FetchAdd request or ATOMIC ACKNOWLEDGE. */
  readonly isAtomic: boolean;
  /** Carries immediate data (ImmDt header). */
  readonly hasImmediate: boolean;
  /** Consumes a receive WQE at the responder (SEND, RDMA WRITE with immediate, on its first/only or imm packet). */
  readonly consumesRecvWqe: boolean;
  /** First packet of a message (First or Only). */
  readonly isFirst: boolean;
  /** Last packet of a message (Last or Only). */
  readonly isLast: boolean;
}

/**
 * Length of the BTH (IBTA §9.2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BTH_BYTES, OP, opcodeInfo } from "./opcode.ts";
 * // The payload of an RDMA WRITE FIRST starts this far after the LRH (no GRH):
 * assert.equal(8 + BTH_BYTES + opcodeInfo(OP.RC_RDMA_WRITE_FIRST)!.extBytes, 36);
 * ```
 */
export const BTH_BYTES = 12;

function row(
  transport: Transport,
  op: number,
  name: string,
  operation: Operation,
  position: Position,
  headers: ExtHeader[],
): OpcodeInfo {
  const offsets: Partial<Record<ExtHeader, number>> = {};
  let off = BTH_BYTES;
  // Sort by wire order so a row can list headers in any order.
  const ordered = EXT_HEADER_ORDER.filter((h) => headers.includes(h));
  for (const h of ordered) {
    offsets[h] = off;
    off += EXT_HEADER_BYTES[h];
  }
  const isResponse = operation === "ack" || (operation === "read" && name.includes("RESPONSE"));
  const isRequest = !isResponse;
  const hasImmediate = ordered.includes("immDt");
  const isReadRequest = operation === "read" && isRequest;
  return Object.freeze({
    value: TRANSPORT_PREFIX[transport] | op,
    name: `${transport}_${name}`,
    transport,
    operation,
    position,
    headers: Object.freeze(ordered),
    extBytes: off - BTH_BYTES,
    offsets: Object.freeze(offsets),
    isRequest,
    isResponse,
    // Read requests, atomics and ACKs carry none (IBTA §9.4.3, §9.4.4, §9.4.5).
    hasPayload: operation === "send" || operation === "write" ||
      (operation === "read" && !isReadRequest),
    requiresAck: transport === "RC" && isRequest,
    isRead: operation === "read",
    isAtomic: operation === "atomic" || name === "ATOMIC_ACKNOWLEDGE",
    hasImmediate,
    // A SEND's first packet takes the receive WQE; an RDMA WRITE takes one only
    // when immediate data arrives (IBTA §9.4.1, §9.4.2).
    consumesRecvWqe: (operation === "send" && (position === "first" || position === "only")) ||
      (operation === "write" && hasImmediate),
    isFirst: position === "first" || position === "only",
    isLast: position === "last" || position === "only",
  });
}

/** Sends and RDMA WRITEs: common to RC and UC (op values 0x00–0x0B). */
function sendsAndWrites(t: Transport): OpcodeInfo[] {
  return [
    row(t, 0x00, "SEND_FIRST", "send", "first", []),
    row(t, 0x01, "SEND_MIDDLE", "send", "middle", []),
    row(t, 0x02, "SEND_LAST", "send", "last", []),
    row(t, 0x03, "SEND_LAST_WITH_IMMEDIATE", "send", "last", ["immDt"]),
    row(t, 0x04, "SEND_ONLY", "send", "only", []),
    row(t, 0x05, "SEND_ONLY_WITH_IMMEDIATE", "send", "only", ["immDt"]),
    row(t, 0x06, "RDMA_WRITE_FIRST", "write", "first", ["reth"]),
    row(t, 0x07, "RDMA_WRITE_MIDDLE", "write", "middle", []),
    row(t, 0x08, "RDMA_WRITE_LAST", "write", "last", []),
    row(t, 0x09, "RDMA_WRITE_LAST_WITH_IMMEDIATE", "write", "last", ["immDt"]),
    row(t, 0x0a, "RDMA_WRITE_ONLY", "write", "only", ["reth"]),
    row(t, 0x0b, "RDMA_WRITE_ONLY_WITH_IMMEDIATE", "write", "only", ["reth", "immDt"]),
  ];
}

/**
 * Every opcode the model uses, in value order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OPCODES } from "./opcode.ts";
 * assert.deepEqual([OPCODES.length, OPCODES.filter((o) => o.transport === "UD").length], [35, 2]);
 * ```
 */
export const OPCODES: readonly OpcodeInfo[] = Object.freeze([
  ...sendsAndWrites("RC"),
  row("RC", 0x0c, "RDMA_READ_REQUEST", "read", "only", ["reth"]),
  // A read response's Middle packets carry no AETH (IBTA §9.4.3, table 38).
  row("RC", 0x0d, "RDMA_READ_RESPONSE_FIRST", "read", "first", ["aeth"]),
  row("RC", 0x0e, "RDMA_READ_RESPONSE_MIDDLE", "read", "middle", []),
  row("RC", 0x0f, "RDMA_READ_RESPONSE_LAST", "read", "last", ["aeth"]),
  row("RC", 0x10, "RDMA_READ_RESPONSE_ONLY", "read", "only", ["aeth"]),
  row("RC", 0x11, "ACKNOWLEDGE", "ack", "only", ["aeth"]),
  row("RC", 0x12, "ATOMIC_ACKNOWLEDGE", "ack", "only", ["aeth", "atomicAckEth"]),
  row("RC", 0x13, "COMPARE_SWAP", "atomic", "only", ["atomicEth"]),
  row("RC", 0x14, "FETCH_ADD", "atomic", "only", ["atomicEth"]),
  ...sendsAndWrites("UC"),
  // UD has only single-packet sends (IBTA §9.2 table 38: UD 0x04, 0x05).
  row("UD", 0x04, "SEND_ONLY", "send", "only", ["deth"]),
  row("UD", 0x05, "SEND_ONLY_WITH_IMMEDIATE", "send", "only", ["deth", "immDt"]),
]);

const BY_VALUE: (OpcodeInfo | undefined)[] = new Array(256);
const BY_NAME = new Map<string, OpcodeInfo>();
for (const o of OPCODES) {
  BY_VALUE[o.value] = o;
  BY_NAME.set(o.name, o);
}

/**
 * The table row for an opcode value, or undefined for an opcode the model
 * does not implement (reserved, RD, or extension opcodes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { opcodeInfo } from "./opcode.ts";
 * assert.equal(opcodeInfo(0x0a)?.name, "RC_RDMA_WRITE_ONLY");
 * ```
 */
export function opcodeInfo(value: number): OpcodeInfo | undefined {
  return BY_VALUE[value & 0xff];
}

/**
 * The table row for an IBTA opcode name.
 * @throws RangeError for a name not in the table
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { opcodeByName } from "./opcode.ts";
 * assert.equal(opcodeByName("UD_SEND_ONLY").value, 100); // 0x64
 * ```
 */
export function opcodeByName(name: string): OpcodeInfo {
  const o = BY_NAME.get(name);
  if (!o) throw new RangeError(`unknown opcode name '${name}'`);
  return o;
}

/**
 * Opcode values by IBTA name, for code that sends a known opcode
 * (`OP.RC_SEND_ONLY`, `OP.UD_SEND_ONLY_WITH_IMMEDIATE`, …).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OP } from "./opcode.ts";
 * assert.equal(OP.RC_ACKNOWLEDGE, 0x11);
 * ```
 */
export const OP = {
  RC_SEND_FIRST: 0x00,
  RC_SEND_MIDDLE: 0x01,
  RC_SEND_LAST: 0x02,
  RC_SEND_LAST_WITH_IMMEDIATE: 0x03,
  RC_SEND_ONLY: 0x04,
  RC_SEND_ONLY_WITH_IMMEDIATE: 0x05,
  RC_RDMA_WRITE_FIRST: 0x06,
  RC_RDMA_WRITE_MIDDLE: 0x07,
  RC_RDMA_WRITE_LAST: 0x08,
  RC_RDMA_WRITE_LAST_WITH_IMMEDIATE: 0x09,
  RC_RDMA_WRITE_ONLY: 0x0a,
  RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE: 0x0b,
  RC_RDMA_READ_REQUEST: 0x0c,
  RC_RDMA_READ_RESPONSE_FIRST: 0x0d,
  RC_RDMA_READ_RESPONSE_MIDDLE: 0x0e,
  RC_RDMA_READ_RESPONSE_LAST: 0x0f,
  RC_RDMA_READ_RESPONSE_ONLY: 0x10,
  RC_ACKNOWLEDGE: 0x11,
  RC_ATOMIC_ACKNOWLEDGE: 0x12,
  RC_COMPARE_SWAP: 0x13,
  RC_FETCH_ADD: 0x14,
  UC_SEND_FIRST: 0x20,
  UC_SEND_MIDDLE: 0x21,
  UC_SEND_LAST: 0x22,
  UC_SEND_LAST_WITH_IMMEDIATE: 0x23,
  UC_SEND_ONLY: 0x24,
  UC_SEND_ONLY_WITH_IMMEDIATE: 0x25,
  UC_RDMA_WRITE_FIRST: 0x26,
  UC_RDMA_WRITE_MIDDLE: 0x27,
  UC_RDMA_WRITE_LAST: 0x28,
  UC_RDMA_WRITE_LAST_WITH_IMMEDIATE: 0x29,
  UC_RDMA_WRITE_ONLY: 0x2a,
  UC_RDMA_WRITE_ONLY_WITH_IMMEDIATE: 0x2b,
  UD_SEND_ONLY: 0x64,
  UD_SEND_ONLY_WITH_IMMEDIATE: 0x65,
} as const;

/**
 * An opcode value the table defines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OP, type OpcodeValue } from "./opcode.ts";
 * const ack: OpcodeValue = OP.RC_ACKNOWLEDGE;
 * assert.equal(ack, 17);
 * ```
 */
export type OpcodeValue = (typeof OP)[keyof typeof OP];

/**
 * The opcode for `operation` at `position` on `transport`, with or without
 * immediate data — how a requester picks the opcode of each packet of a
 * message (IBTA §9.2 table 38).
 * @throws RangeError if the combination does not exist (e.g. a UD RDMA WRITE)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pickOpcode, OP } from "./opcode.ts";
 * assert.equal(pickOpcode("RC", "write", "last", true), OP.RC_RDMA_WRITE_LAST_WITH_IMMEDIATE);
 * ```
 */
export function pickOpcode(
  transport: Transport,
  operation: "send" | "write",
  position: Position,
  immediate: boolean,
): number {
  // Immediate data rides only on the last packet of a message (IBTA §9.4.1).
  const imm = immediate && (position === "last" || position === "only");
  const t = transport === "RC" ? 0 : transport === "UC" ? 1 : transport === "UD" ? 2 : -1;
  const o = operation === "send" ? 0 : operation === "write" ? 1 : -1;
  const p = POSITION_INDEX[position] ?? -1;
  const found = t >= 0 && o >= 0 && p >= 0 ? PICK[pickIndex(t, o, p, imm)] : -1;
  if (found >= 0) return found;
  throw new RangeError(
    `no ${transport} ${operation} opcode for position '${position}'${
      immediate ? " with immediate" : ""
    }`,
  );
}

const POSITION_INDEX: Readonly<Record<string, number>> = { first: 0, middle: 1, last: 2, only: 3 };

function pickIndex(transport: number, operation: number, position: number, imm: boolean): number {
  return ((transport * 2 + operation) * 4 + position) * 2 + (imm ? 1 : 0);
}

/**
 * {@link OPCODES} indexed by transport, operation and position, then by
 * immediate (0/1): the requester picks an opcode for every packet, and a
 * scan of the table for each was a measurable part of building one.
 */
const PICK: Int16Array = (() => {
  const t = new Int16Array(3 * 2 * 4 * 2).fill(-1);
  const tIdx: Record<string, number> = { RC: 0, UC: 1, UD: 2 };
  for (const o of OPCODES) {
    if (o.operation !== "send" && o.operation !== "write") continue;
    const ti = tIdx[o.transport];
    if (ti === undefined) continue;
    const i = pickIndex(
      ti,
      o.operation === "send" ? 0 : 1,
      POSITION_INDEX[o.position],
      o.hasImmediate,
    );
    // The first match in table order, as the scan found it.
    if (t[i] < 0) t[i] = o.value;
  }
  return t;
})();
