/**
 * The two link-layer CRCs of an IBA packet, table-driven (slicing by 8:
 * eight bytes per step, tables built once at load), because every packet
 * whose wire bytes are built (a capture, a fault rule, a test: see
 * `WirePacket` in `packet.ts`) is checksummed when encoded and decoded.
 *
 * - ICRC (IBTA vol. 1 §7.8.1): CRC-32 with the Ethernet polynomial
 *   0x04C11DB7, processed least-significant bit first (reflected form
 *   0xEDB88320), seed all ones, result inverted.
 * - VCRC (§7.8.2): CRC-16 with polynomial 0x100B (x^16+x^12+x^3+x+1),
 *   processed least-significant bit first (reflected form 0xD008), seed all
 *   ones, result inverted.
 *
 * Both run in the reflected direction because IBA, like Ethernet, puts each
 * byte on the wire least-significant bit first; the CRC is computed in
 * transmission order.
 *
 * @module
 */

const CRC32_REFLECTED_POLY = 0xedb88320;
const CRC16_REFLECTED_POLY = 0xd008;

function slicingTables(poly: number): Int32Array {
  // Int32Array keeps table reads in small-integer range (no doubles).
  const t = new Int32Array(256 * 8);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ poly : c >>> 1;
    t[n] = c;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const prev = t[(k - 1) * 256 + n];
      t[k * 256 + n] = (prev >>> 8) ^ t[prev & 0xff];
    }
  }
  return t;
}

const T32 = slicingTables(CRC32_REFLECTED_POLY);
const T16 = slicingTables(CRC16_REFLECTED_POLY);

/**
 * Continue a reflected CRC-32 register (not inverted) over `buf[start, end)`.
 * Start with `0xffffffff`, invert the end result (see {@link crc32}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc32Update } from "./crc.ts";
 * const data = new TextEncoder().encode("123456789");
 * assert.equal(((crc32Update(0xffffffff, data, 0, data.length) ^ 0xffffffff) >>> 0).toString(16), "cbf43926");
 * ```
 */
export function crc32Update(crc: number, buf: Uint8Array, start: number, end: number): number {
  let c = crc | 0;
  let i = start;
  const stop8 = end - 8;
  while (i <= stop8) {
    const a = c ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24));
    c = T32[1792 + (a & 0xff)] ^ T32[1536 + ((a >>> 8) & 0xff)] ^
      T32[1280 + ((a >>> 16) & 0xff)] ^ T32[1024 + (a >>> 24)] ^
      T32[768 + buf[i + 4]] ^ T32[512 + buf[i + 5]] ^ T32[256 + buf[i + 6]] ^ T32[buf[i + 7]];
    i += 8;
  }
  while (i < end) c = T32[(c ^ buf[i++]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

/**
 * One byte into a reflected CRC-32 register (for masked header bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc32Byte, crc32Update } from "./crc.ts";
 * const d = new Uint8Array([0xff, 7]);
 * assert.equal(crc32Byte(crc32Byte(0xffffffff, 0xff), 7), crc32Update(0xffffffff, d, 0, 2));
 * ```
 */
export function crc32Byte(crc: number, byte: number): number {
  return (T32[(crc ^ byte) & 0xff] ^ (crc >>> 8)) >>> 0;
}

/**
 * CRC-32 (IEEE 802.3, as the ICRC uses it) of a whole buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc32 } from "./crc.ts";
 * assert.equal(crc32(new TextEncoder().encode("123456789")).toString(16), "cbf43926");
 * ```
 */
export function crc32(buf: Uint8Array): number {
  return (crc32Update(0xffffffff, buf, 0, buf.length) ^ 0xffffffff) >>> 0;
}

/**
 * Continue a reflected CRC-16/0x100B register (not inverted) over
 * `buf[start, end)`. Start with `0xffff`, invert the end result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc16Update } from "./crc.ts";
 * const d = new Uint8Array([1, 2, 3]);
 * // Feeding the bytes in two pieces gives the same CRC as in one.
 * assert.equal(crc16Update(crc16Update(0xffff, d, 0, 1), d, 1, 3), crc16Update(0xffff, d, 0, 3));
 * ```
 */
export function crc16Update(crc: number, buf: Uint8Array, start: number, end: number): number {
  let c = crc & 0xffff;
  let i = start;
  const stop8 = end - 8;
  while (i <= stop8) {
    const a = c ^ (buf[i] | (buf[i + 1] << 8));
    c = T16[1792 + (a & 0xff)] ^ T16[1536 + (a >>> 8)] ^ T16[1280 + buf[i + 2]] ^
      T16[1024 + buf[i + 3]] ^ T16[768 + buf[i + 4]] ^ T16[512 + buf[i + 5]] ^
      T16[256 + buf[i + 6]] ^ T16[buf[i + 7]];
    i += 8;
  }
  while (i < end) c = T16[(c ^ buf[i++]) & 0xff] ^ (c >>> 8);
  return c & 0xffff;
}

/**
 * The VCRC polynomial's CRC-16 of a whole buffer (seed 0xFFFF, inverted).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc16 } from "./crc.ts";
 * assert.equal(crc16(new Uint8Array(0)), 0); // the inverted seed
 * ```
 */
export function crc16(buf: Uint8Array): number {
  return (crc16Update(0xffff, buf, 0, buf.length) ^ 0xffff) & 0xffff;
}
