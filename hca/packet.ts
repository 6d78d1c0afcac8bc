/**
 * IBA packets as wire bytes (IBTA vol. 1 ch. 7–9): LRH, optional GRH, BTH,
 * the extension headers the opcode table names, payload, pad, ICRC, VCRC.
 * Layout: `hca/FORMATS.md`, section "Wire packets".
 *
 * {@link encodePacket} builds one `Uint8Array` per packet (DataView writes,
 * lengths and pad computed); {@link decodePacket} checks what a receiving
 * port's link and transport layers check before the packet is used (length,
 * versions, VCRC, ICRC, known opcode) and answers with a reason instead of
 * throwing, since bad bytes are an input, not a bug. The fabric carries
 * {@link WirePacket}s, which build their bytes only when asked for (a
 * capture, a corrupting fault rule, a test).
 *
 * @module
 */

import { crc16Update, crc32Byte, crc32Update } from "./crc.ts";
import { BTH_BYTES, type OpcodeInfo, opcodeInfo } from "./opcode.ts";
import zlib from "node:zlib";

/**
 * Bytes of the Local Route Header (IBTA §7.7).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePacket, LRH_BYTES } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * const wire = encodePacket({ lrh: { dlid: 4, slid: 1 }, bth: { opcode: OP.RC_ACKNOWLEDGE, destQp: 9, psn: 3 }, aeth: { syndrome: 0x1f, msn: 1 } });
 * assert.equal(wire[LRH_BYTES], 17); // the BTH opcode byte follows the LRH
 * ```
 */
export const LRH_BYTES = 8;
/**
 * Bytes of the Global Route Header (IBTA §8.3).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GRH_BYTES, wireLength } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * assert.equal(wireLength(OP.UD_SEND_ONLY, 64, true) - wireLength(OP.UD_SEND_ONLY, 64, false), GRH_BYTES);
 * ```
 */
export const GRH_BYTES = 40;
/**
 * Bytes of the Invariant CRC (IBTA §7.8.1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ICRC_BYTES, VCRC_BYTES, wireLength } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * // A zero-length RC SEND ONLY: LRH + BTH + both CRCs.
 * assert.equal(wireLength(OP.RC_SEND_ONLY, 0, false), 8 + 12 + ICRC_BYTES + VCRC_BYTES);
 * ```
 */
export const ICRC_BYTES = 4;
/**
 * Bytes of the Variant CRC (IBTA §7.8.2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket, encodePacket, VCRC_BYTES } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * const wire = encodePacket({ lrh: { dlid: 2, slid: 1 }, bth: { opcode: OP.RC_SEND_ONLY, destQp: 5, psn: 0 } });
 * wire[wire.length - VCRC_BYTES] ^= 1; // a bit flipped on the link
 * const r = decodePacket(wire);
 * assert.equal(r.ok ? "ok" : r.code, "vcrc");
 * ```
 */
export const VCRC_BYTES = 2;
/**
 * Link Next Header: IBA transport, BTH follows the LRH (IBTA §7.7.4).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket, encodePacket, LNH_IBA_LOCAL } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * const r = decodePacket(encodePacket({ lrh: { dlid: 2, slid: 1 }, bth: { opcode: OP.RC_SEND_ONLY, destQp: 5, psn: 0 } }));
 * assert.ok(r.ok);
 * assert.equal(r.packet.lrh.lnh, LNH_IBA_LOCAL);
 * ```
 */
export const LNH_IBA_LOCAL = 2;
/**
 * Link Next Header: IBA global, GRH then BTH follow (IBTA §7.7.4).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket, encodePacket, LNH_IBA_GLOBAL } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * const gid = new Uint8Array(16);
 * const wire = encodePacket({
 *   lrh: { dlid: 2, slid: 1 }, grh: { sgid: gid, dgid: gid },
 *   bth: { opcode: OP.UD_SEND_ONLY, destQp: 5, psn: 0 }, deth: { qkey: 0x11, srcQp: 7 },
 * });
 * const r = decodePacket(wire);
 * assert.ok(r.ok);
 * assert.equal(r.packet.lrh.lnh, LNH_IBA_GLOBAL);
 * ```
 */
export const LNH_IBA_GLOBAL = 3;
/**
 * GRH NxtHdr value for an IBA transport header (IBTA §8.3.1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GRH_NXTHDR_IBA } from "./packet.ts";
 * assert.equal(GRH_NXTHDR_IBA, 27); // the IPv6 next-header value IBTA assigned to the BTH
 * ```
 */
export const GRH_NXTHDR_IBA = 0x1b;
/**
 * Permissive DLID, accepted by every port (IBTA §4.1.3).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PERMISSIVE_LID } from "./packet.ts";
 * const forEveryPort = (dlid: number) => dlid === PERMISSIVE_LID;
 * assert.equal(forEveryPort(0xffff), true); // directed-route SMPs use it
 * ```
 */
export const PERMISSIVE_LID = 0xffff;
/**
 * Largest LRH PktLen an 11-bit field holds, in 4-byte words (IBTA §7.7.6).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_PKT_LEN_WORDS } from "./packet.ts";
 * assert.equal(MAX_PKT_LEN_WORDS * 4, 8188); // no packet is longer, so a 4 KiB MTU fits with room
 * ```
 */
export const MAX_PKT_LEN_WORDS = 0x7ff;

/**
 * Local Route Header (IBTA §7.7).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket, encodePacket, type Lrh } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * const r = decodePacket(encodePacket({ lrh: { dlid: 2, slid: 1, sl: 3 }, bth: { opcode: OP.RC_SEND_ONLY, destQp: 5, psn: 0 }, payload: new Uint8Array(5) }));
 * const lrh: Lrh | undefined = r.ok ? r.packet.lrh : undefined;
 * assert.deepEqual([lrh?.sl, lrh?.pktLen], [3, 8]); // 8 + 12 + 5 + 3 pad + 4 ICRC = 32 bytes = 8 words
 * ```
 */
export interface Lrh {
  /** Virtual lane, 4 bits (15 = subnet management). */
  vl: number;
  /** Link version, 4 bits; 0 for IBA 1.x (§7.7.2). */
  lver: number;
  /** Service level, 4 bits. */
  sl: number;
  /** Link next header, 2 bits (2 = local, 3 = global). */
  lnh: number;
  /** Destination LID. */
  dlid: number;
  /** Packet length in 4-byte words, LRH through ICRC (§7.7.6). */
  pktLen: number;
  /** Source LID. */
  slid: number;
}

/**
 * Global Route Header (IBTA §8.3).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Grh } from "./packet.ts";
 * const sameSubnet = (g: Grh) => g.sgid.subarray(0, 8).every((b, i) => b === g.dgid[i]);
 * const gid = (last: number) => Uint8Array.from({ length: 16 }, (_, i) => i === 0 ? 0xfe : i === 1 ? 0x80 : i === 15 ? last : 0);
 * assert.equal(sameSubnet({ sgid: gid(1), dgid: gid(2) } as Grh), true);
 * ```
 */
export interface Grh {
  /** IP version, 4 bits; 6 (§8.3.1). */
  ipVer: number;
  /** Traffic class, 8 bits. */
  tClass: number;
  /** Flow label, 20 bits. */
  flowLabel: number;
  /** Bytes after the GRH up to and including the ICRC. */
  payLen: number;
  /** Next header; 0x1B for IBA transport. */
  nxtHdr: number;
  /** Hop limit. */
  hopLmt: number;
  /** Source GID, 16 bytes. */
  sgid: Uint8Array;
  /** Destination GID, 16 bytes. */
  dgid: Uint8Array;
}

/**
 * Base Transport Header (IBTA §9.2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Bth } from "./packet.ts";
 * import { psnDiff } from "./qp.ts";
 * const behind = (b: Bth, expected: number) => psnDiff(b.psn, expected) < 0;
 * assert.equal(behind({ psn: 0xfffffe } as Bth, 1), true); // a duplicate from before the wrap
 * ```
 */
export interface Bth {
  /** Opcode (see `opcode.ts`). */
  opcode: number;
  /** Solicited event. */
  se: boolean;
  /** MigReq. */
  m: boolean;
  /** Pad bytes after the payload, 0–3. */
  padCnt: number;
  /** Transport header version, 4 bits; 0 (§9.2.1). */
  tver: number;
  /** Partition key. */
  pkey: number;
  /** FECN (byte 4 bit 7; Resv8a in IBA 1.0, masked out of the ICRC). */
  fecn: boolean;
  /** BECN (byte 4 bit 6; likewise variant). */
  becn: boolean;
  /** Destination QP, 24 bits. */
  destQp: number;
  /** AckReq. */
  ackReq: boolean;
  /** Packet sequence number, 24 bits. */
  psn: number;
}

/**
 * Datagram Extended Transport Header (IBTA §9.3.2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Deth } from "./packet.ts";
 * // IBTA vol 1 §10.2.5: a UD datagram is accepted only with the QP's Q_Key.
 * const accepted = (d: Deth, qkey: number) => d.qkey === qkey;
 * assert.equal(accepted({ qkey: 0x1234, srcQp: 0x48 }, 0x1234), true);
 * ```
 */
export interface Deth {
  /** Queue key. */
  qkey: number;
  /** Source QP, 24 bits. */
  srcQp: number;
}

/**
 * RDMA Extended Transport Header (IBTA §9.3.3).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Reth } from "./packet.ts";
 * const lastByte = (r: Reth) => r.va + BigInt(r.dmaLen) - 1n;
 * assert.equal(lastByte({ va: 0x1000n, rkey: 0x5a01, dmaLen: 4096 }), 8191n);
 * ```
 */
export interface Reth {
  /** Remote virtual address. */
  va: bigint;
  /** Remote key. */
  rkey: number;
  /** DMA length of the whole message. */
  dmaLen: number;
}

/**
 * Atomic Extended Transport Header (IBTA §9.3.4).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AtomicEth } from "./packet.ts";
 * const aligned = (a: AtomicEth) => a.va % 8n === 0n;
 * assert.equal(aligned({ va: 0x2004n, rkey: 1, swapAdd: 1n, compare: 0n }), false); // Invalid Request NAK
 * ```
 */
export interface AtomicEth {
  /** Remote virtual address (8-byte aligned). */
  va: bigint;
  /** Remote key. */
  rkey: number;
  /** Swap data (CmpSwap) or add data (FetchAdd). */
  swapAdd: bigint;
  /** Compare data (CmpSwap). */
  compare: bigint;
}

/**
 * ACK Extended Transport Header (IBTA §9.3.5).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Aeth, aethSyndrome } from "./packet.ts";
 * const a: Aeth = { syndrome: aethSyndrome.rnrNak(12), msn: 4 };
 * assert.deepEqual(aethSyndrome.parse(a.syndrome), { kind: "rnrNak", value: 12 });
 * ```
 */
export interface Aeth {
  /** Syndrome, 8 bits (see {@link aethSyndrome}). */
  syndrome: number;
  /** Message sequence number, 24 bits. */
  msn: number;
}

/**
 * Atomic ACK Extended Transport Header (IBTA §9.3.6).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AtomicAckEth } from "./packet.ts";
 * // FETCH_ADD returns the value before the add.
 * const ack: AtomicAckEth = { origRemData: 41n };
 * assert.equal(ack.origRemData + 1n, 42n); // now in remote memory
 * ```
 */
export interface AtomicAckEth {
  /** The remote data before the atomic operation. */
  origRemData: bigint;
}

/**
 * The extension headers after the BTH (IBTA §9.3). Each is present exactly
 * when the opcode carries it: so a decoded {@link Packet} has them, and
 * {@link encodePacket} requires them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ExtensionHeaders } from "./packet.ts";
 * const readRequest: ExtensionHeaders = { reth: { va: 0x1000n, rkey: 0x5a01, dmaLen: 4096 } };
 * assert.deepEqual(Object.keys(readRequest), [ "reth" ]);
 * ```
 */
export interface ExtensionHeaders {
  /** Datagram header: UD packets. */
  deth?: Deth;
  /** RDMA header: RDMA WRITE First/Only and RDMA READ Request. */
  reth?: Reth;
  /** Atomic header: CmpSwap and FetchAdd. */
  atomicEth?: AtomicEth;
  /** ACK header: ACK, ATOMIC ACK and READ responses First/Last/Only. */
  aeth?: Aeth;
  /** Atomic ACK header: ATOMIC ACKNOWLEDGE. */
  atomicAckEth?: AtomicAckEth;
  /** Immediate data (32 bits, as sent: network byte order value) on *_WITH_IMMEDIATE. */
  immDt?: number;
}

/**
 * A decoded packet; every header the opcode carries is present.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket, encodePacket, type Packet } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * const r = decodePacket(encodePacket({
 *   lrh: { dlid: 7, slid: 3 }, bth: { opcode: OP.RC_RDMA_WRITE_ONLY, destQp: 0x41, psn: 5 },
 *   reth: { va: 0x9000n, rkey: 0x301, dmaLen: 3 }, payload: new Uint8Array([1, 2, 3]),
 * }));
 * const p: Packet | undefined = r.ok ? r.packet : undefined;
 * assert.deepEqual([p?.info.name, [...p!.payload]], ["RC_RDMA_WRITE_ONLY", [ 1, 2, 3 ]]);
 * ```
 */
export interface Packet extends ExtensionHeaders {
  /** Local Route Header. */
  lrh: Lrh;
  /** Global Route Header, when `lrh.lnh` is 3. */
  grh?: Grh;
  /** Base Transport Header. */
  bth: Bth;
  /** Payload bytes (a view into the decoded buffer; pad excluded). */
  payload: Uint8Array;
  /** The opcode table row. */
  info: OpcodeInfo;
  /** ICRC as carried (already checked). */
  icrc: number;
  /** VCRC as carried (already checked). */
  vcrc: number;
}

/**
 * What {@link encodePacket} needs: the headers without fields it computes
 * (LNH, PktLen, PadCnt, PayLen) and with defaults (versions 0, VL/SL 0,
 * P_Key 0xFFFF, hop limit 64, flags false).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePacket, type PacketInit } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * const init: PacketInit = {
 *   lrh: { dlid: 7, slid: 3 },
 *   bth: { opcode: OP.RC_SEND_ONLY_WITH_IMMEDIATE, destQp: 0x41, psn: 100, se: true },
 *   immDt: 0xcafe,
 *   payload: new Uint8Array(6),
 * };
 * assert.equal(encodePacket(init).length, 38); // 8 + 12 + 4 + 6 + 2 pad + 4 + 2
 * ```
 */
export interface PacketInit extends ExtensionHeaders {
  /** Route: DLID and SLID required. */
  lrh: { dlid: number; slid: number; vl?: number; sl?: number; lver?: number };
  /** Global route: GIDs required. Its presence sets LNH to IBA global. */
  grh?: {
    sgid: Uint8Array;
    dgid: Uint8Array;
    tClass?: number;
    flowLabel?: number;
    hopLmt?: number;
  };
  /** Transport: opcode, DestQP and PSN required. */
  bth: {
    opcode: number;
    destQp: number;
    psn: number;
    pkey?: number;
    se?: boolean;
    m?: boolean;
    ackReq?: boolean;
    tver?: number;
    fecn?: boolean;
    becn?: boolean;
  };
  /** Payload; must be empty for opcodes without one. */
  payload?: Uint8Array;
}

/**
 * Why {@link decodePacket} rejected bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket, type DecodeErrorCode } from "./packet.ts";
 * const r = decodePacket(new Uint8Array(10));
 * const code: DecodeErrorCode | undefined = r.ok ? undefined : r.code;
 * assert.equal(code, "short");
 * ```
 */
export type DecodeErrorCode =
  | "short"
  | "length"
  | "lver"
  | "lnh"
  | "grh"
  | "tver"
  | "opcode"
  | "pad"
  | "vcrc"
  | "icrc";

/**
 * Result of {@link decodePacket}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket, type DecodeResult, encodePacket } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * const r: DecodeResult = decodePacket(encodePacket({ lrh: { dlid: 2, slid: 1 }, bth: { opcode: OP.RC_RDMA_READ_REQUEST, destQp: 5, psn: 9 }, reth: { va: 64n, rkey: 7, dmaLen: 100 } }));
 * assert.equal(r.ok ? r.packet.reth?.dmaLen : r.reason, 100);
 * ```
 */
export type DecodeResult =
  | { ok: true; packet: Packet }
  | { ok: false; code: DecodeErrorCode; reason: string };

/**
 * Options for {@link decodePacket}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket, type DecodeOptions, encodePacket } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * const wire = encodePacket({ lrh: { dlid: 2, slid: 1 }, bth: { opcode: OP.RC_SEND_ONLY, destQp: 5, psn: 0 } });
 * wire[wire.length - 1] ^= 0xff;
 * const headersOnly: DecodeOptions = { checkCrc: false };
 * assert.deepEqual([decodePacket(wire).ok, decodePacket(wire, headersOnly).ok], [false, true]);
 * ```
 */
export interface DecodeOptions {
  /** Check VCRC and ICRC (default true). */
  checkCrc?: boolean;
}

const EMPTY = new Uint8Array(0);

/**
 * Total wire bytes of a packet (LRH through VCRC) for an opcode and payload
 * size — what the link serializes; no encoding needed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wireLength } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * assert.equal(wireLength(OP.RC_SEND_ONLY, 1, false), 8 + 12 + 1 + 3 + 4 + 2); // LRH, BTH, payload, pad, ICRC, VCRC
 * ```
 */
export function wireLength(opcode: number, payloadBytes: number, global: boolean): number {
  const info = opcodeInfo(opcode);
  if (!info) throw new RangeError(`wireLength: unknown opcode 0x${opcode.toString(16)}`);
  const pad = padFor(payloadBytes);
  return LRH_BYTES + (global ? GRH_BYTES : 0) + BTH_BYTES + info.extBytes + payloadBytes + pad +
    ICRC_BYTES + VCRC_BYTES;
}

/**
 * Encode a packet into wire bytes, computing LNH, PktLen, PadCnt, PayLen,
 * ICRC and VCRC.
 * @throws RangeError on an unknown opcode, a missing or superfluous
 *   extension header, a payload on an opcode without one, or a packet longer
 *   than PktLen can express — all bugs of the caller, not of the wire.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePacket, decodePacket } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * const bytes = encodePacket({
 *   lrh: { dlid: 2, slid: 1 },
 *   bth: { opcode: OP.RC_SEND_ONLY, destQp: 0x11, psn: 7, ackReq: true },
 *   payload: new TextEncoder().encode("hi"),
 * });
 * const r = decodePacket(bytes);
 * assert.equal(r.ok && r.packet.bth.psn, 7);
 * ```
 */
export function encodePacket(p: PacketInit): Uint8Array {
  const total = checkedLength(p);
  const info = opcodeInfo(p.bth.opcode)!;
  const payload = p.payload ?? EMPTY;
  const grh = p.grh;
  const hdr = LRH_BYTES + (grh ? GRH_BYTES : 0);
  const pad = padFor(payload.length);
  const payloadAt = hdr + BTH_BYTES + info.extBytes;
  const icrcAt = payloadAt + payload.length + pad;
  const pktLen = (icrcAt + ICRC_BYTES) >>> 2;
  const buf = new Uint8Array(total);
  const present = HEADER_MASK[info.value];

  // LRH (IBTA §7.7).
  const lrh = p.lrh;
  buf[0] = ((lrh.vl ?? 0) << 4) | ((lrh.lver ?? 0) & 0xf);
  buf[1] = ((lrh.sl ?? 0) << 4) | (grh ? LNH_IBA_GLOBAL : LNH_IBA_LOCAL);
  put16(buf, 2, lrh.dlid);
  put16(buf, 4, pktLen & MAX_PKT_LEN_WORDS);
  put16(buf, 6, lrh.slid);

  // GRH (IBTA §8.3).
  if (grh) {
    const tc = grh.tClass ?? 0;
    const fl = grh.flowLabel ?? 0;
    put32(buf, 8, (6 << 28) | ((tc & 0xff) << 20) | (fl & 0xfffff));
    put16(buf, 12, total - VCRC_BYTES - hdr);
    buf[14] = GRH_NXTHDR_IBA;
    buf[15] = grh.hopLmt ?? 64;
    buf.set(grh.sgid.subarray(0, 16), 16);
    buf.set(grh.dgid.subarray(0, 16), 32);
  }

  // BTH (IBTA §9.2).
  const b = p.bth;
  const o = hdr;
  buf[o] = b.opcode;
  buf[o + 1] = (b.se ? 0x80 : 0) | (b.m ? 0x40 : 0) | (pad << 4) | ((b.tver ?? 0) & 0xf);
  put16(buf, o + 2, b.pkey ?? 0xffff);
  put32(buf, o + 4, ((b.fecn ? 0x80 : 0) | (b.becn ? 0x40 : 0)) << 24 | (b.destQp & 0xffffff));
  put32(buf, o + 8, (b.ackReq ? 0x80000000 : 0) | (b.psn & 0xffffff));

  // Extension headers, at the offsets the opcode table fixes.
  if (present !== 0) {
    const off = info.offsets;
    if (p.deth) {
      const at = o + off.deth!;
      put32(buf, at, p.deth.qkey);
      put32(buf, at + 4, p.deth.srcQp & 0xffffff);
    }
    if (p.reth) {
      const at = o + off.reth!;
      put64(buf, at, p.reth.va);
      put32(buf, at + 8, p.reth.rkey);
      put32(buf, at + 12, p.reth.dmaLen);
    }
    if (p.atomicEth) {
      const at = o + off.atomicEth!;
      put64(buf, at, p.atomicEth.va);
      put32(buf, at + 8, p.atomicEth.rkey);
      put64(buf, at + 12, p.atomicEth.swapAdd);
      put64(buf, at + 20, p.atomicEth.compare);
    }
    if (p.aeth) {
      put32(buf, o + off.aeth!, ((p.aeth.syndrome & 0xff) << 24) | (p.aeth.msn & 0xffffff));
    }
    if (p.atomicAckEth) put64(buf, o + off.atomicAckEth!, p.atomicAckEth.origRemData);
    if (p.immDt !== undefined) put32(buf, o + off.immDt!, p.immDt);
  }

  if (payload.length > 0) buf.set(payload, payloadAt);
  // Pad bytes stay zero (IBTA §9.2.1.4 leaves their value to the sender).
  // Both CRCs go out least-significant byte first, as Ethernet's FCS does
  // (matches the ICRC a ConnectX-4 puts on RoCE packets).
  const icrc = computeIcrc(buf, grh !== undefined, icrcAt);
  buf[icrcAt] = icrc & 0xff;
  buf[icrcAt + 1] = (icrc >>> 8) & 0xff;
  buf[icrcAt + 2] = (icrc >>> 16) & 0xff;
  buf[icrcAt + 3] = icrc >>> 24;
  const vcrc = computeVcrc(buf, icrcAt + ICRC_BYTES);
  buf[icrcAt + 4] = vcrc & 0xff;
  buf[icrcAt + 5] = vcrc >>> 8;
  return buf;
}

/**
 * Wire length of `p` after the checks {@link encodePacket} makes, in its
 * order and with its messages (so a packet that is never encoded fails
 * where an encoded one would).
 */
function checkedLength(p: PacketInit): number {
  const info = opcodeInfo(p.bth.opcode);
  if (!info) throw new RangeError(`encodePacket: unknown opcode 0x${p.bth.opcode.toString(16)}`);
  const n = p.payload?.length ?? 0;
  if (n > 0 && !info.hasPayload) {
    throw new RangeError(`encodePacket: ${info.name} carries no payload (IBTA §9.2 table 38)`);
  }
  const icrcAt = LRH_BYTES + (p.grh ? GRH_BYTES : 0) + BTH_BYTES + info.extBytes + n +
    ((4 - (n & 3)) & 3);
  const total = icrcAt + ICRC_BYTES + VCRC_BYTES;
  if ((icrcAt + ICRC_BYTES) >>> 2 > MAX_PKT_LEN_WORDS) {
    throw new RangeError(`encodePacket: ${total} bytes exceed the LRH PktLen field (IBTA §7.7.6)`);
  }
  const present = (p.deth ? 1 : 0) | (p.reth ? 2 : 0) | (p.atomicEth ? 4 : 0) | (p.aeth ? 8 : 0) |
    (p.atomicAckEth ? 16 : 0) | (p.immDt !== undefined ? 32 : 0);
  if (present !== HEADER_MASK[info.value]) extMismatch(info, present);
  return total;
}

/**
 * A packet on its way through the fabric: its headers and payload, with the
 * wire bytes (headers, pad, ICRC, VCRC) built only when something asks for
 * {@link WirePacket.bytes}: a capture, a fault rule that corrupts, a test.
 * What ports and switches need (length, VL, DLID, opcode) is known without
 * them, and {@link WirePacket.decode} gives the receiver the very
 * {@link Packet} that decoding the bytes would give, without building them.
 *
 * The payload is copied when the packet is made: the bytes on the wire are
 * those of that instant, as with an encoded packet, whatever the sender's
 * memory holds later.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket, encodePacket, type Packet, WirePacket } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * const init = { lrh: { dlid: 4, slid: 1 }, bth: { opcode: OP.RC_SEND_ONLY, destQp: 9, psn: 3 }, payload: new Uint8Array([1, 2, 3]) };
 * const w = new WirePacket(init);
 * assert.equal(w.length, encodePacket(init).length); // 8 + 12 + 3 + 1 pad + 4 + 2 = 30
 * assert.equal(w.encoded, false); // nothing built yet
 * const r = w.decode();
 * assert.ok(r.ok);
 * assert.deepEqual([...r.packet.payload], [1, 2, 3]);
 * assert.deepEqual(w.bytes, encodePacket(init)); // built on demand, byte for byte
 * const d = decodePacket(w.bytes);
 * assert.ok(d.ok);
 * const fields = ({ lrh, bth, payload, info, icrc, vcrc }: Packet) => ({ lrh, bth, payload, info, icrc, vcrc });
 * assert.deepEqual(fields(r.packet), fields(d.packet)); // the CRCs read from the bytes when asked
 * ```
 */
export class WirePacket {
  /** Wire bytes, LRH through VCRC. */
  readonly length: number;
  /** LRH:VL. */
  readonly vl: number;
  /** LRH:DLID. */
  readonly dlid: number;
  #init: PacketInit | undefined;
  #payload: Uint8Array = EMPTY;
  #bytes: Uint8Array | undefined;
  /** The slab the payload copy lies in while this packet may give it back ({@link release}). */
  #slab: Slab | undefined;

  /**
   * A packet from its headers and payload (checked as {@link encodePacket}
   * checks), or given as wire bytes (a test's, a corrupted copy: decoded and
   * checked on receipt).
   * @throws RangeError where {@link encodePacket} would
   */
  constructor(init: PacketInit | Uint8Array) {
    if (init instanceof Uint8Array) {
      this.length = init.length;
      this.vl = peek.vl(init);
      this.dlid = peek.dlid(init);
      this.#bytes = init;
      return;
    }
    this.length = checkedLength(init);
    this.vl = (init.lrh.vl ?? 0) & 0xf;
    this.dlid = init.lrh.dlid & 0xffff;
    this.#init = init;
    const payload = init.payload;
    if (payload !== undefined && payload.length > 0) {
      const n = payload.length;
      if (n > SLAB_MAX_PAYLOAD) this.#payload = payload.slice();
      else {
        this.#payload = snapshot(payload);
        this.#slab = current;
      }
    }
  }

  /**
   * @internal Whoever last uses the payload (the receiving HCA, once the
   * DMA write of it has run) gives its slab space back for reuse. Only a
   * packet that went once through the fabric, whose payload nobody else
   * kept, may be released: a packet a fault duplicated is
   * {@link shared}. Releasing twice, or a shared packet, does nothing.
   */
  release(): void {
    const s = this.#slab;
    if (s === undefined) return;
    this.#slab = undefined;
    this.#payload = EMPTY;
    if (--s.live === 0 && s !== current) recycle(s);
  }

  /** @internal The packet (and its payload) is held by more than one receiver: never released. */
  shared(): void {
    const s = this.#slab;
    if (s === undefined) return;
    this.#slab = undefined;
    // Its space stays taken: the slab is left to the garbage collector.
    s.live = -Infinity;
  }

  /** True once the wire bytes exist (given, or built on demand). */
  get encoded(): boolean {
    return this.#bytes !== undefined;
  }

  /** The wire bytes (built on first use, then kept). */
  get bytes(): Uint8Array {
    if (this.#bytes === undefined) {
      const init = this.#init!;
      this.#bytes = encodePacket(
        this.#payload === EMPTY ? init : { ...init, payload: this.#payload },
      );
    }
    return this.#bytes;
  }

  /** BTH:OpCode. */
  get opcode(): number {
    const i = this.#init;
    return i ? i.bth.opcode : peek.opcode(this.#bytes!);
  }

  /**
   * What {@link decodePacket} answers for the wire bytes. A packet made from
   * headers (local route, versions 0) is answered from them: the bytes would
   * be its own encoding, so every check passes and every field reads back
   * masked to its width; anything else is encoded and decoded.
   */
  decode(): DecodeResult {
    const packet = this.headerPacket();
    return packet !== undefined ? { ok: true, packet } : decodePacket(this.bytes);
  }

  /**
   * @internal What {@link decode} answers for a packet made from headers
   * (local route, versions 0), without the result record around it (a
   * receiving HCA takes one per packet); undefined for any other packet,
   * which must be decoded from its bytes.
   */
  headerPacket(): Packet | undefined {
    const p = this.#init;
    if (!p || p.grh || (p.lrh.lver ?? 0) !== 0 || (p.bth.tver ?? 0) !== 0) return undefined;
    const packet = new HeaderPacket(this, p, this.#payload);
    if (p.deth) packet.deth = { qkey: p.deth.qkey >>> 0, srcQp: p.deth.srcQp & 0xffffff };
    const r = p.reth;
    if (r) {
      // A record already as decoding gives it is shared (records are not changed once sent).
      const va = BigInt.asUintN(64, r.va);
      packet.reth = va === r.va && r.rkey === r.rkey >>> 0 && r.dmaLen === r.dmaLen >>> 0
        ? r
        : { va, rkey: r.rkey >>> 0, dmaLen: r.dmaLen >>> 0 };
    }
    if (p.atomicEth) {
      const a = p.atomicEth;
      packet.atomicEth = {
        va: BigInt.asUintN(64, a.va),
        rkey: a.rkey >>> 0,
        swapAdd: BigInt.asUintN(64, a.swapAdd),
        compare: BigInt.asUintN(64, a.compare),
      };
    }
    const a = p.aeth;
    if (a) {
      packet.aeth = a.syndrome === (a.syndrome & 0xff) && a.msn === (a.msn & 0xffffff)
        ? a
        : { syndrome: a.syndrome & 0xff, msn: a.msn & 0xffffff };
    }
    if (p.atomicAckEth) {
      packet.atomicAckEth = { origRemData: BigInt.asUintN(64, p.atomicAckEth.origRemData) };
    }
    if (p.immDt !== undefined) packet.immDt = p.immDt >>> 0;
    return packet;
  }
}

/**
 * Bytes of one payload slab (see {@link snapshot}). Small, so that the few
 * slabs a stream cycles through (its packets between DMA read and DMA write)
 * stay in the CPU's cache: the copies into and out of a slab are most of a
 * bulk packet's cost when they miss it.
 */
const SLAB_BYTES = 1 << 15;
/** Largest payload copied into a slab (4096 B, the largest IBA path MTU); a larger one gets its own copy. */
const SLAB_MAX_PAYLOAD = 4096;
/** Full slabs kept for reuse once every packet in them was released (at most 4 MiB). */
const SLAB_POOL = 128;

/** A slab of payload copies and how many of them are still held. */
interface Slab {
  readonly bytes: Uint8Array;
  /** Packets in it not yet released (-Infinity: some payload escaped; never reused). */
  live: number;
}

let current: Slab = { bytes: new Uint8Array(SLAB_BYTES), live: 0 };
let slabAt = 0;
const pool: Slab[] = [];

function recycle(s: Slab): void {
  if (pool.length < SLAB_POOL) pool.push(s);
}

/**
 * A copy of `payload` as a view into the current slab: one small view per
 * packet instead of an ArrayBuffer of its own (whose allocation costs more
 * than the copy). A full slab is reused once every packet in it was
 * released (its payload DMA-written by the receiver, see
 * {@link WirePacket.release}); otherwise it is left to the views still
 * holding it.
 */
function snapshot(payload: Uint8Array): Uint8Array {
  const n = payload.length;
  if (slabAt + n > SLAB_BYTES) {
    const full = current;
    current = pool.pop() ?? { bytes: new Uint8Array(SLAB_BYTES), live: 0 };
    slabAt = 0;
    if (full.live === 0) recycle(full);
  }
  const at = slabAt;
  const s = current;
  s.bytes.set(payload, at);
  s.live++;
  slabAt = (at + n + 7) & ~7;
  return s.bytes.subarray(at, at + n);
}

/**
 * @internal A BTH record with every field as {@link decodePacket} gives it
 * (masked to its width, flags boolean, TVer 0, the pad count a payload of
 * `payloadBytes` needs). A sender that builds its
 * packets' BTHs with it lets a receiving HCA take the record as it is
 * instead of copying it; no one may change it once the packet is sent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bthRecord, decodePacket, encodePacket } from "./packet.ts";
 * import { OP } from "./opcode.ts";
 * const bth = bthRecord(OP.RC_SEND_ONLY, 0x1000041, 5, 0x1ffff, false, true, 0);
 * const r = decodePacket(encodePacket({ lrh: { dlid: 2, slid: 1 }, bth }));
 * assert.deepEqual(r.ok && r.packet.bth, bth); // DestQP and P_Key masked to their widths
 * ```
 */
export function bthRecord(
  opcode: number,
  destQp: number,
  psn: number,
  pkey: number,
  se: boolean,
  ackReq: boolean,
  payloadBytes: number,
  m = false,
  fecn = false,
  becn = false,
): Bth {
  return {
    opcode,
    se,
    m,
    padCnt: padFor(payloadBytes),
    tver: 0,
    pkey: pkey & 0xffff,
    fecn,
    becn,
    destQp: destQp & 0xffffff,
    ackReq,
    psn: psn & 0xffffff,
  };
}

/** Pad bytes after a payload of `n` bytes, to a multiple of 4 (IBTA §9.2: BTH:PadCnt). */
function padFor(n: number): number {
  return (4 - (n & 3)) & 3;
}

/** Whether a sender's BTH fields are all as {@link bthRecord} makes them for `padCnt`. */
function isBthRecord(b: PacketInit["bth"], padCnt: number): b is Bth {
  return (b as Partial<Bth>).padCnt === padCnt && b.tver === 0 && typeof b.se === "boolean" &&
    typeof b.ackReq === "boolean" && b.m === false &&
    b.fecn === false && b.becn === false && b.pkey === ((b.pkey as number) & 0xffff) &&
    b.destQp === (b.destQp & 0xffffff) && b.psn === (b.psn & 0xffffff);
}

/**
 * A {@link Packet} read from the headers a {@link WirePacket} was made from;
 * the CRCs, which no receiver of a packet it made itself needs, are read
 * from its wire bytes only when asked for, and so is the LRH record (an RC
 * data packet or ACK is taken by its BTH alone; the port and the device go by
 * the DLID the fabric carries).
 */
class HeaderPacket implements Packet {
  #lrh: Lrh | undefined = undefined;
  /** The route it was made with (its sender does not change it once the packet is sent). */
  #route: PacketInit["lrh"];
  grh: Grh | undefined = undefined;
  bth: Bth;
  payload: Uint8Array;
  info: OpcodeInfo;
  declare deth?: Deth;
  declare reth?: Reth;
  declare atomicEth?: AtomicEth;
  declare aeth?: Aeth;
  declare atomicAckEth?: AtomicAckEth;
  declare immDt?: number;
  #wire: WirePacket;

  constructor(wire: WirePacket, p: PacketInit, payload: Uint8Array) {
    this.#wire = wire;
    this.#route = p.lrh;
    const b = p.bth;
    const padCnt = padFor(payload.length);
    // A sender's record already as decoding gives it ({@link bthRecord}) is shared: records
    // are not changed once sent.
    this.bth = isBthRecord(b, padCnt) ? b : bthRecord(
      b.opcode,
      b.destQp,
      b.psn,
      b.pkey ?? 0xffff,
      !!b.se,
      !!b.ackReq,
      payload.length,
      !!b.m,
      !!b.fecn,
      !!b.becn,
    );
    this.payload = payload;
    this.info = opcodeInfo(b.opcode)!;
  }

  /** Local Route Header, as decoding the bytes would give it (made on first use, then kept). */
  get lrh(): Lrh {
    if (this.#lrh !== undefined) return this.#lrh;
    const l = this.#route;
    return this.#lrh = {
      vl: (l.vl ?? 0) & 0xf,
      lver: 0,
      sl: (l.sl ?? 0) & 0xf,
      lnh: LNH_IBA_LOCAL,
      dlid: l.dlid & 0xffff,
      pktLen: (this.#wire.length - VCRC_BYTES) >>> 2,
      slid: l.slid & 0xffff,
    };
  }

  /** ICRC as its wire bytes carry it. */
  get icrc(): number {
    const w = this.#wire.bytes;
    return new DataView(w.buffer, w.byteOffset).getUint32(w.length - 6, true);
  }

  /** VCRC as its wire bytes carry it. */
  get vcrc(): number {
    const w = this.#wire.bytes;
    return new DataView(w.buffer, w.byteOffset).getUint16(w.length - 2, true);
  }
}

/** Bit per extension header (deth 1, reth 2, atomicEth 4, aeth 8, atomicAckEth 16, immDt 32) by opcode. */
const HEADER_BIT: Readonly<Record<string, number>> = {
  deth: 1,
  reth: 2,
  atomicEth: 4,
  aeth: 8,
  atomicAckEth: 16,
  immDt: 32,
};
const HEADER_MASK = new Uint8Array(256);
for (let v = 0; v < 256; v++) {
  const info = opcodeInfo(v);
  if (info) { for (const h of info.headers) HEADER_MASK[v] |= HEADER_BIT[h]; }
}

function extMismatch(info: OpcodeInfo, present: number): never {
  for (const [h, bit] of Object.entries(HEADER_BIT)) {
    const wanted = (HEADER_MASK[info.value] & bit) !== 0;
    if (wanted !== ((present & bit) !== 0)) {
      throw new RangeError(
        `encodePacket: ${info.name} ${wanted ? "needs" : "carries no"} ${h} (IBTA §9.2 table 38)`,
      );
    }
  }
  throw new Error("unreachable");
}

function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}

function put32(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 24) & 0xff;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

function put64(b: Uint8Array, at: number, v: bigint): void {
  const x = BigInt.asUintN(64, v);
  put32(b, at, Number(x >> 32n));
  put32(b, at + 4, Number(x & 0xffffffffn));
}

/** Packets shorter than this pass the ICRC body to zlib's native CRC-32. */
const NATIVE_CRC_MIN = 128;

/**
 * ICRC over `buf[0, icrcAt)` with the variant fields taken as ones (IBTA
 * §7.8.1): local packets mask LRH:VL and BTH:Resv8a (now FECN/BECN);
 * global packets mask the whole LRH (routers rewrite it), GRH:TClass,
 * FlowLabel and HopLmt, and BTH:Resv8a.
 */
function computeIcrc(buf: Uint8Array, global: boolean, icrcAt: number): number {
  let c = 0xffffffff;
  let bth: number;
  if (global) {
    for (let i = 0; i < LRH_BYTES; i++) c = crc32Byte(c, 0xff);
    c = crc32Byte(c, buf[8] | 0x0f); // IPVer kept, TClass high nibble masked
    c = crc32Byte(c, 0xff); // TClass low nibble, FlowLabel high nibble
    c = crc32Byte(c, 0xff);
    c = crc32Byte(c, 0xff);
    c = crc32Byte(c, buf[12]); // PayLen
    c = crc32Byte(c, buf[13]);
    c = crc32Byte(c, buf[14]); // NxtHdr
    c = crc32Byte(c, 0xff); // HopLmt
    c = crc32Update(c, buf, 16, 48); // SGID, DGID
    bth = 48;
  } else {
    c = crc32Byte(c, buf[0] | 0xf0); // VL masked, LVer kept
    c = crc32Update(c, buf, 1, LRH_BYTES);
    bth = LRH_BYTES;
  }
  c = crc32Update(c, buf, bth, bth + 4);
  c = crc32Byte(c, 0xff); // Resv8a
  const rest = bth + 5;
  if (icrcAt - rest >= NATIVE_CRC_MIN) {
    // zlib continues from a finished (inverted) CRC-32.
    return zlib.crc32(buf.subarray(rest, icrcAt), (c ^ 0xffffffff) >>> 0) >>> 0;
  }
  c = crc32Update(c, buf, rest, icrcAt);
  return (c ^ 0xffffffff) >>> 0;
}

/** VCRC over `buf[0, end)`: every byte from the LRH through the ICRC (IBTA §7.8.2). */
function computeVcrc(buf: Uint8Array, end: number): number {
  return (crc16Update(0xffff, buf, 0, end) ^ 0xffff) & 0xffff;
}

function fail(code: DecodeErrorCode, reason: string): DecodeResult {
  return { ok: false, code, reason };
}

/**
 * Decode and check wire bytes. Checks, in the order a port applies them:
 * length against LRH:PktLen (IBTA §7.7.6, C7-41), VCRC (§7.8.2), LVer
 * (§7.7.2), LNH (§7.7.4; raw packets are not modelled), GRH IPVer/NxtHdr/
 * PayLen (§8.3), TVer (§9.2.1), opcode known (§9.2 table 38), PadCnt
 * against the payload (§9.2.1.4), ICRC (§7.8.1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePacket } from "./packet.ts";
 * const r = decodePacket(new Uint8Array(10));
 * assert.equal(r.ok ? "" : r.code, "short");
 * ```
 */
export function decodePacket(bytes: Uint8Array, opts: DecodeOptions = {}): DecodeResult {
  const n = bytes.length;
  const minLocal = LRH_BYTES + BTH_BYTES + ICRC_BYTES + VCRC_BYTES;
  if (n < minLocal) return fail("short", `${n} bytes: shorter than LRH+BTH+ICRC+VCRC (26)`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, n);
  const pktLen = dv.getUint16(4) & MAX_PKT_LEN_WORDS;
  if (pktLen * 4 + VCRC_BYTES !== n) {
    return fail(
      "length",
      `LRH PktLen ${pktLen} words (${
        pktLen * 4 + VCRC_BYTES
      } bytes with VCRC) but ${n} bytes received (IBTA §7.7.6)`,
    );
  }
  const checkCrc = opts.checkCrc ?? true;
  const vcrcAt = n - VCRC_BYTES;
  const vcrc = dv.getUint16(vcrcAt, true);
  if (checkCrc) {
    const want = computeVcrc(bytes, vcrcAt);
    if (want !== vcrc) {
      return fail(
        "vcrc",
        `VCRC 0x${hex(vcrc, 4)} but packet computes 0x${hex(want, 4)} (IBTA §7.8.2)`,
      );
    }
  }
  const lver = bytes[0] & 0xf;
  if (lver !== 0) return fail("lver", `LVer ${lver}: only link version 0 exists (IBTA §7.7.2)`);
  const lnh = bytes[1] & 0x3;
  if (lnh !== LNH_IBA_LOCAL && lnh !== LNH_IBA_GLOBAL) {
    return fail(
      "lnh",
      `LNH ${lnh}: raw packets are not modelled, only IBA local/global (IBTA §7.7.4)`,
    );
  }
  const lrh: Lrh = {
    vl: bytes[0] >>> 4,
    lver,
    sl: bytes[1] >>> 4,
    lnh,
    dlid: dv.getUint16(2),
    pktLen,
    slid: dv.getUint16(6),
  };
  let o = LRH_BYTES;
  let grh: Grh | undefined;
  if (lnh === LNH_IBA_GLOBAL) {
    if (n < minLocal + GRH_BYTES) return fail("short", `${n} bytes: too short for a GRH packet`);
    const w0 = dv.getUint32(8);
    grh = {
      ipVer: w0 >>> 28,
      tClass: (w0 >>> 20) & 0xff,
      flowLabel: w0 & 0xfffff,
      payLen: dv.getUint16(12),
      nxtHdr: bytes[14],
      hopLmt: bytes[15],
      sgid: bytes.subarray(16, 32),
      dgid: bytes.subarray(32, 48),
    };
    if (grh.ipVer !== 6) return fail("grh", `GRH IPVer ${grh.ipVer}, must be 6 (IBTA §8.3.1)`);
    if (grh.nxtHdr !== GRH_NXTHDR_IBA) {
      return fail("grh", `GRH NxtHdr 0x${hex(grh.nxtHdr, 2)}, must be 0x1b (IBTA §8.3.1)`);
    }
    if (grh.payLen !== n - VCRC_BYTES - LRH_BYTES - GRH_BYTES) {
      return fail(
        "grh",
        `GRH PayLen ${grh.payLen} disagrees with LRH PktLen (${n - VCRC_BYTES - 48}) (IBTA §8.3.1)`,
      );
    }
    o += GRH_BYTES;
  }
  const opcode = bytes[o];
  const b1 = bytes[o + 1];
  const tver = b1 & 0xf;
  if (tver !== 0) return fail("tver", `BTH TVer ${tver}, must be 0 (IBTA §9.2.1)`);
  const info = opcodeInfo(opcode);
  if (!info) {
    return fail(
      "opcode",
      `opcode 0x${hex(opcode, 2)} is not supported by this model (IBTA §9.2 table 38)`,
    );
  }
  const padCnt = (b1 >>> 4) & 3;
  const payloadAt = o + BTH_BYTES + info.extBytes;
  const icrcAt = n - VCRC_BYTES - ICRC_BYTES;
  const payloadLen = icrcAt - padCnt - payloadAt;
  if (payloadLen < 0) {
    return fail(
      "length",
      `${n} bytes too short for ${info.name}'s headers (${
        payloadAt - o
      } bytes from BTH) and pad ${padCnt}`,
    );
  }
  if (!info.hasPayload && (payloadLen !== 0 || padCnt !== 0)) {
    return fail(
      "pad",
      `${info.name} carries no payload but has ${payloadLen} bytes, pad ${padCnt}`,
    );
  }
  const icrc = dv.getUint32(icrcAt, true);
  if (checkCrc) {
    const want = computeIcrc(bytes, grh !== undefined, icrcAt);
    if (want !== icrc) {
      return fail(
        "icrc",
        `ICRC 0x${hex(icrc, 8)} but packet computes 0x${hex(want, 8)} (IBTA §7.8.1)`,
      );
    }
  }
  const b4 = bytes[o + 4];
  const w8 = dv.getUint32(o + 8);
  const packet: Packet = {
    lrh,
    grh,
    bth: {
      opcode,
      se: (b1 & 0x80) !== 0,
      m: (b1 & 0x40) !== 0,
      padCnt,
      tver,
      pkey: dv.getUint16(o + 2),
      fecn: (b4 & 0x80) !== 0,
      becn: (b4 & 0x40) !== 0,
      destQp: dv.getUint32(o + 4) & 0xffffff,
      ackReq: (w8 & 0x80000000) !== 0,
      psn: w8 & 0xffffff,
    },
    payload: bytes.subarray(payloadAt, payloadAt + payloadLen),
    info,
    icrc,
    vcrc,
  };
  const off = info.offsets;
  if (off.deth !== undefined) {
    const at = o + off.deth;
    packet.deth = { qkey: dv.getUint32(at), srcQp: dv.getUint32(at + 4) & 0xffffff };
  }
  if (off.reth !== undefined) {
    const at = o + off.reth;
    packet.reth = {
      va: dv.getBigUint64(at),
      rkey: dv.getUint32(at + 8),
      dmaLen: dv.getUint32(at + 12),
    };
  }
  if (off.atomicEth !== undefined) {
    const at = o + off.atomicEth;
    packet.atomicEth = {
      va: dv.getBigUint64(at),
      rkey: dv.getUint32(at + 8),
      swapAdd: dv.getBigUint64(at + 12),
      compare: dv.getBigUint64(at + 20),
    };
  }
  if (off.aeth !== undefined) {
    const w = dv.getUint32(o + off.aeth);
    packet.aeth = { syndrome: w >>> 24, msn: w & 0xffffff };
  }
  if (off.atomicAckEth !== undefined) {
    packet.atomicAckEth = { origRemData: dv.getBigUint64(o + off.atomicAckEth) };
  }
  if (off.immDt !== undefined) packet.immDt = dv.getUint32(o + off.immDt);
  return { ok: true, packet };
}

function hex(v: number, digits: number): string {
  return v.toString(16).padStart(digits, "0");
}

/**
 * Header fields a switch or port needs, read straight from the bytes
 * without decoding (no allocation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { peek } from "./packet.ts";
 * const b = new Uint8Array(26); b[0] = 0x30; b[3] = 9;
 * assert.deepEqual([peek.vl(b), peek.dlid(b)], [3, 9]);
 * ```
 */
export const peek = {
  /** LRH:VL. */
  vl: (b: Uint8Array): number => b[0] >>> 4,
  /** LRH:DLID. */
  dlid: (b: Uint8Array): number => (b[2] << 8) | b[3],
  /** LRH:SLID. */
  slid: (b: Uint8Array): number => (b[6] << 8) | b[7],
  /** BTH:OpCode (after the GRH when LNH says global). */
  opcode: (b: Uint8Array): number =>
    b[(b[1] & 3) === LNH_IBA_GLOBAL ? LRH_BYTES + GRH_BYTES : LRH_BYTES],
} as const;

/**
 * AETH syndrome encoding (IBTA §9.7.5.1, table 44): bits 7..5 say ACK (000),
 * RNR NAK (001) or NAK (011); bits 4..0 carry the credit count, the RNR
 * timer code or the NAK code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { aethSyndrome } from "./packet.ts";
 * const s = aethSyndrome.nak(aethSyndrome.NAK_REMOTE_ACCESS);
 * assert.deepEqual(aethSyndrome.parse(s), { kind: "nak", value: 2 });
 * ```
 */
export const aethSyndrome = {
  /** NAK code: PSN sequence error. */
  NAK_PSN_SEQUENCE: 0,
  /** NAK code: invalid request. */
  NAK_INVALID_REQUEST: 1,
  /** NAK code: remote access error. */
  NAK_REMOTE_ACCESS: 2,
  /** NAK code: remote operational error. */
  NAK_REMOTE_OPERATIONAL: 3,
  /** NAK code: invalid RD request. */
  NAK_INVALID_RD_REQUEST: 4,
  /** Credit count meaning "no end-to-end credit information" (§9.7.7.2). */
  CREDITS_INVALID: 0x1f,
  /** ACK syndrome with a credit count (5 bits). */
  ack: (credits: number): number => credits & 0x1f,
  /** RNR NAK syndrome with an RNR timer code (5 bits). */
  rnrNak: (timer: number): number => 0x20 | (timer & 0x1f),
  /** NAK syndrome with a NAK code. */
  nak: (code: number): number => 0x60 | (code & 0x1f),
  /** Split a syndrome into kind and value. */
  parse(s: number): { kind: "ack" | "rnrNak" | "nak" | "reserved"; value: number } {
    const k = (s >>> 5) & 7;
    const value = s & 0x1f;
    if (k === 0) return { kind: "ack", value };
    if (k === 1) return { kind: "rnrNak", value };
    if (k === 3) return { kind: "nak", value };
    return { kind: "reserved", value };
  },
} as const;
