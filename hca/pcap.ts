/**
 * Packet capture in the classic pcap format, so Wireshark/tshark can dissect
 * what the simulated fabric carried. Link type 247 (LINKTYPE_INFINIBAND):
 * each record is one IBA packet from the first LRH byte through the VCRC.
 *
 * Wireshark 4.0 has no reader mapping for link type 247, so the writer can
 * also wrap each packet for LINKTYPE_WIRESHARK_UPPER_PDU (252): an
 * "exported PDU" header naming the `infiniband` dissector, which every
 * Wireshark since 1.12 opens without configuration.
 *
 * Timestamps are virtual time. The file uses the nanosecond-resolution
 * magic (0xA1B23C4D) so a record's time is exactly the engine's `now`.
 *
 * Pure bytes in, bytes out: the caller writes the file (e.g.
 * `Deno.writeFile`), so the model keeps no I/O.
 *
 * @module
 */

/**
 * LINKTYPE_INFINIBAND (tcpdump.org link-layer header types).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LINKTYPE_INFINIBAND, PcapWriter } from "./pcap.ts";
 * assert.deepEqual(new PcapWriter({ linkType: LINKTYPE_INFINIBAND }).linkType, 247);
 * ```
 */
export const LINKTYPE_INFINIBAND = 247;
/**
 * LINKTYPE_ETHERNET: records are Ethernet frames (the RoCEv2 framing of
 * `capture.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LINKTYPE_ETHERNET, PcapWriter } from "./pcap.ts";
 * assert.deepEqual(new PcapWriter({ linkType: LINKTYPE_ETHERNET }).linkType, 1);
 * ```
 */
export const LINKTYPE_ETHERNET = 1;
/**
 * LINKTYPE_WIRESHARK_UPPER_PDU: records start with exported-PDU tags.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePcap, encodePcap, LINKTYPE_WIRESHARK_UPPER_PDU } from "./pcap.ts";
 * const file = encodePcap([{ timeNs: 5, bytes: new Uint8Array(30) }], { linkType: LINKTYPE_WIRESHARK_UPPER_PDU });
 * assert.equal(decodePcap(file)[0].bytes.length, 30); // the exported-PDU tags are stripped again
 * ```
 */
export const LINKTYPE_WIRESHARK_UPPER_PDU = 252;
/**
 * pcap magic for nanosecond timestamps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePcap, PCAP_MAGIC_NS } from "./pcap.ts";
 * const file = encodePcap([]);
 * assert.equal(new DataView(file.buffer).getUint32(0, true), PCAP_MAGIC_NS); // nanosecond timestamps
 * ```
 */
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/**
 * Bytes of the pcap global header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePcap, PCAP_HEADER_BYTES } from "./pcap.ts";
 * assert.deepEqual(encodePcap([]).length === PCAP_HEADER_BYTES, true);
 * ```
 */
export const PCAP_HEADER_BYTES = 24;
/**
 * Bytes of a pcap record header.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePcap, PCAP_HEADER_BYTES, PCAP_RECORD_HEADER_BYTES } from "./pcap.ts";
 * const file = encodePcap([{ timeNs: 0, bytes: new Uint8Array(26) }]);
 * assert.deepEqual(file.length - PCAP_HEADER_BYTES - PCAP_RECORD_HEADER_BYTES, 26);
 * ```
 */
export const PCAP_RECORD_HEADER_BYTES = 16;
/**
 * Default snapshot length: the largest IBA packet (4 KiB MTU + headers) fits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_SNAPLEN } from "./pcap.ts";
 * assert.ok(DEFAULT_SNAPLEN > 4096 + 126); // a 4 KiB-MTU packet with every header fits
 * ```
 */
export const DEFAULT_SNAPLEN = 8192;

/** Exported-PDU tag naming the dissector for the bytes that follow. */
const EXP_PDU_TAG_DISSECTOR_NAME = 12;

/**
 * Exported-PDU header for the `infiniband` dissector: tag 12, length 12
 * (the name padded to 4 bytes), name, end-of-options tag (0, length 0).
 * Tags are big-endian.
 */
const EXPORTED_PDU_PREFIX: Uint8Array = (() => {
  const name = new TextEncoder().encode("infiniband");
  const padded = (name.length + 3) & ~3;
  const b = new Uint8Array(4 + padded + 4);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, EXP_PDU_TAG_DISSECTOR_NAME);
  dv.setUint16(2, padded);
  b.set(name, 4);
  return b;
})();

/**
 * Options for {@link PcapWriter}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePcap, encodePcap, type PcapOptions } from "./pcap.ts";
 * const headersOnly: PcapOptions = { snaplen: 64 };
 * const file = encodePcap([{ timeNs: 0, bytes: new Uint8Array(2100) }], headersOnly);
 * assert.deepEqual(decodePcap(file)[0].bytes.length, 64);
 * ```
 */
export interface PcapOptions {
  /** Longest record kept; longer packets are truncated (caplen < len). */
  snaplen?: number;
  /**
   * {@link LINKTYPE_INFINIBAND} (default; the registered type, bare IBA
   * packets) or {@link LINKTYPE_WIRESHARK_UPPER_PDU} (opens in stock
   * Wireshark/tshark).
   */
  linkType?:
    | typeof LINKTYPE_INFINIBAND
    | typeof LINKTYPE_WIRESHARK_UPPER_PDU
    | typeof LINKTYPE_ETHERNET;
}

/**
 * One captured packet.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePcap, encodePcap, type PcapRecord } from "./pcap.ts";
 * const rec: PcapRecord = { timeNs: 1_234_567_890_123, bytes: new Uint8Array([0xf0, 2]) };
 * assert.deepEqual(decodePcap(encodePcap([rec]))[0].timeNs, 1234567890123);
 * ```
 */
export interface PcapRecord {
  /** Virtual time in nanoseconds. */
  timeNs: number;
  /** Wire bytes, LRH through VCRC. */
  bytes: Uint8Array;
}

/**
 * Accumulates records into a pcap file image in memory; growth doubles a
 * single buffer, so a long capture costs no per-packet allocation beyond
 * the copy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PcapWriter } from "./pcap.ts";
 * const w = new PcapWriter();
 * w.add({ timeNs: 1_500, bytes: new Uint8Array(30) });
 * assert.deepEqual([w.count, w.bytes().length], [1, 70]);
 * ```
 */
export class PcapWriter {
  #buf: Uint8Array;
  #dv: DataView;
  #len = 0;
  #prefix: Uint8Array;
  /** Records added. */
  count = 0;
  /** Longest record kept. */
  readonly snaplen: number;
  /** The file's link type. */
  readonly linkType: number;

  /**
   * An empty pcap image.
   *
   * @param opts see {@link PcapOptions}
   */
  constructor(opts: PcapOptions = {}) {
    this.snaplen = opts.snaplen ?? DEFAULT_SNAPLEN;
    this.linkType = opts.linkType ?? LINKTYPE_INFINIBAND;
    if (
      this.linkType !== LINKTYPE_INFINIBAND && this.linkType !== LINKTYPE_WIRESHARK_UPPER_PDU &&
      this.linkType !== LINKTYPE_ETHERNET
    ) {
      throw new RangeError(`PcapWriter: link type ${this.linkType} is not 1, 247 or 252`);
    }
    this.#prefix = this.linkType === LINKTYPE_WIRESHARK_UPPER_PDU
      ? EXPORTED_PDU_PREFIX
      : new Uint8Array(0);
    const snaplen = this.snaplen;
    this.#buf = new Uint8Array(64 * 1024);
    this.#dv = new DataView(this.#buf.buffer);
    const dv = this.#dv;
    // Little-endian header: readers detect byte order from the magic.
    dv.setUint32(0, PCAP_MAGIC_NS, true);
    dv.setUint16(4, 2, true);
    dv.setUint16(6, 4, true);
    dv.setInt32(8, 0, true); // thiszone
    dv.setUint32(12, 0, true); // sigfigs
    dv.setUint32(16, snaplen, true);
    dv.setUint32(20, this.linkType, true);
    this.#len = PCAP_HEADER_BYTES;
  }

  /** Append one packet. */
  add(rec: PcapRecord): void {
    if (typeof rec !== "object" || rec === null || !(rec.bytes instanceof Uint8Array)) {
      throw new TypeError("PcapWriter: a record is { timeNs, bytes: Uint8Array }");
    }
    if (!(rec.timeNs >= 0)) throw new RangeError(`PcapWriter: bad timestamp ${rec.timeNs}`);
    const pre = this.#prefix;
    const len = pre.length + rec.bytes.length;
    const cap = Math.min(len, this.snaplen);
    this.#reserve(PCAP_RECORD_HEADER_BYTES + cap);
    const dv = this.#dv;
    const t = Math.round(rec.timeNs);
    const at = this.#len;
    dv.setUint32(at, Math.floor(t / 1e9), true);
    dv.setUint32(at + 4, t % 1e9, true);
    dv.setUint32(at + 8, cap, true);
    dv.setUint32(at + 12, len, true);
    const data = at + PCAP_RECORD_HEADER_BYTES;
    this.#buf.set(pre.subarray(0, cap), data);
    if (cap > pre.length) this.#buf.set(rec.bytes.subarray(0, cap - pre.length), data + pre.length);
    this.#len = at + PCAP_RECORD_HEADER_BYTES + cap;
    this.count++;
  }

  /** The file image so far (a view; copy it if you keep adding). */
  bytes(): Uint8Array {
    return this.#buf.subarray(0, this.#len);
  }

  #reserve(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    let size = this.#buf.length * 2;
    while (size < this.#len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#dv = new DataView(next.buffer);
  }
}

/**
 * A whole pcap file image from records.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePcap } from "./pcap.ts";
 * const file = encodePcap([{ timeNs: 0, bytes: new Uint8Array(26) }]);
 * assert.equal(file.length, 24 + 16 + 26);
 * ```
 */
export function encodePcap(records: Iterable<PcapRecord>, opts: PcapOptions = {}): Uint8Array {
  const w = new PcapWriter(opts);
  for (const r of records) w.add(r);
  return w.bytes().slice();
}

/**
 * Parse a pcap file image written by {@link PcapWriter} (either byte order,
 * µs or ns magic, link type 247 or 252) back into records of bare IBA
 * packets (link type 1: the Ethernet frames as they are) — for tests and
 * trace tools.
 * @throws Error if the bytes are not such a pcap file
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePcap, encodePcap } from "./pcap.ts";
 * const recs = decodePcap(encodePcap([{ timeNs: 42, bytes: new Uint8Array(26) }]));
 * assert.deepEqual(recs[0].timeNs, 42);
 * ```
 */
export function decodePcap(file: Uint8Array): PcapRecord[] {
  if (file.length < PCAP_HEADER_BYTES) throw new Error("pcap: shorter than the global header");
  const dv = new DataView(file.buffer, file.byteOffset, file.length);
  const m = dv.getUint32(0, true);
  let le: boolean;
  let nano: boolean;
  if (m === PCAP_MAGIC_NS || m === 0xa1b2c3d4) [le, nano] = [true, m === PCAP_MAGIC_NS];
  else {
    const mb = dv.getUint32(0, false);
    if (mb !== PCAP_MAGIC_NS && mb !== 0xa1b2c3d4) {
      throw new Error(`pcap: bad magic 0x${m.toString(16)}`);
    }
    [le, nano] = [false, mb === PCAP_MAGIC_NS];
  }
  const link = dv.getUint32(20, le);
  if (
    link !== LINKTYPE_INFINIBAND && link !== LINKTYPE_WIRESHARK_UPPER_PDU &&
    link !== LINKTYPE_ETHERNET
  ) {
    throw new Error(`pcap: link type ${link}, expected 1, 247 or 252`);
  }
  const out: PcapRecord[] = [];
  let at = PCAP_HEADER_BYTES;
  while (at + PCAP_RECORD_HEADER_BYTES <= file.length) {
    const sec = dv.getUint32(at, le);
    const frac = dv.getUint32(at + 4, le);
    const cap = dv.getUint32(at + 8, le);
    const start = at + PCAP_RECORD_HEADER_BYTES;
    if (start + cap > file.length) throw new Error(`pcap: record at ${at} runs past the end`);
    let from = start;
    if (link === LINKTYPE_WIRESHARK_UPPER_PDU) {
      // Skip exported-PDU tags up to and including end-of-options.
      for (;;) {
        if (from + 4 > start + cap) throw new Error(`pcap: record at ${at}: unterminated PDU tags`);
        const tag = dv.getUint16(from, false);
        const tlen = dv.getUint16(from + 2, false);
        from += 4 + tlen;
        if (tag === 0) break;
      }
    }
    out.push({
      timeNs: sec * 1e9 + frac * (nano ? 1 : 1000),
      bytes: file.slice(from, start + cap),
    });
    at = start + cap;
  }
  return out;
}
