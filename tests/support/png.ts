/**
 * Test helper: decode a PNG (as rsvg-convert writes them) far enough to
 * check it — signature, chunk CRCs, header, and the pixels (IDAT inflated
 * with the platform's `DecompressionStream("deflate")`, rows unfiltered).
 *
 * Handles 8-bit grayscale, gray + alpha, RGB and RGBA, not interlaced; other
 * formats are refused with a message naming them (PNG spec, ISO/IEC
 * 15948:2003, §11.2.2 IHDR, §9 filtering).
 *
 * @example
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { decodePng } from "./png.ts"; // in a test under tests/: "./support/png.ts"
 * const img = await decodePng(await Deno.readFile("/tmp/chart.png"));
 * assert.equal(img.width, 1200);
 * ```
 *
 * @module
 */

/**
 * A decoded image, 4 bytes (RGBA) per pixel, row after row.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Png } from "./png.ts";
 * const img: Png = { width: 1, height: 1, rgba: new Uint8Array([255, 255, 255, 255]) };
 * assert.equal(img.rgba.length, 4);
 * ```
 */
export interface Png {
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Pixels as RGBA. */
  rgba: Uint8Array;
}

/**
 * The eight bytes every PNG starts with (PNG spec §5.2).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PNG_SIGNATURE } from "./png.ts";
 * assert.equal(String.fromCharCode(...PNG_SIGNATURE.slice(1, 4)), "PNG");
 * ```
 */
export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/**
 * CRC-32 as PNG chunks carry it (PNG spec §5.5, Annex D).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc32 } from "./png.ts";
 * assert.equal(crc32(new TextEncoder().encode("IEND")), 0xae426082);
 * ```
 */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

async function inflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * Decode `bytes` as a PNG; throws with what is wrong when it is not a PNG
 * this helper reads (bad signature or CRC, missing IHDR/IDAT/IEND, bit depth
 * other than 8, interlacing, truncated data).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePng } from "./png.ts";
 * await assert.rejects(decodePng(new Uint8Array(8)), /not a PNG: bad signature/);
 * ```
 */
export async function decodePng(bytes: Uint8Array): Promise<Png> {
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) {
    throw new Error("not a PNG: bad signature");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 8, width = 0, height = 0, colorType = -1, ended = false;
  const idat: Uint8Array[] = [];
  while (off + 12 <= bytes.length) {
    const len = view.getUint32(off);
    const type = String.fromCharCode(...bytes.subarray(off + 4, off + 8));
    if (off + 12 + len > bytes.length) throw new Error(`PNG: chunk ${type} truncated`);
    const data = bytes.subarray(off + 8, off + 8 + len);
    if (crc32(bytes.subarray(off + 4, off + 8 + len)) !== view.getUint32(off + 8 + len)) {
      throw new Error(`PNG: bad CRC in chunk ${type}`);
    }
    if (type === "IHDR") {
      const h = new DataView(data.buffer, data.byteOffset, data.byteLength);
      width = h.getUint32(0);
      height = h.getUint32(4);
      const depth = data[8];
      colorType = data[9];
      if (depth !== 8) throw new Error(`PNG: bit depth ${depth} not supported (8 only)`);
      if (![0, 2, 4, 6].includes(colorType)) {
        throw new Error(`PNG: colour type ${colorType} not supported`);
      }
      if (data[12] !== 0) throw new Error("PNG: interlaced images not supported");
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") {
      ended = true;
      break;
    }
    off += 12 + len;
  }
  if (colorType < 0) throw new Error("PNG: no IHDR chunk");
  if (!idat.length) throw new Error("PNG: no IDAT chunk");
  if (!ended) throw new Error("PNG: no IEND chunk");
  const joined = new Uint8Array(idat.reduce((n, d) => n + d.length, 0));
  idat.reduce((o, d) => (joined.set(d, o), o + d.length), 0);
  const raw = await inflate(joined);
  const bpp = { 0: 1, 2: 3, 4: 2, 6: 4 }[colorType as 0 | 2 | 4 | 6];
  const stride = width * bpp;
  if (raw.length < height * (stride + 1)) {
    throw new Error(`PNG: ${raw.length} bytes of image data for ${width}×${height}`);
  }
  const px = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = px.subarray(y * stride, (y + 1) * stride);
    const up = y ? px.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? row[i - bpp] : 0, b = up[i], c = i >= bpp ? up[i - bpp] : 0;
      let pred: number;
      switch (filter) {
        case 0:
          pred = 0;
          break;
        case 1:
          pred = a;
          break;
        case 2:
          pred = b;
          break;
        case 3:
          pred = (a + b) >> 1;
          break;
        case 4: {
          const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
          pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          throw new Error(`PNG: row ${y} has unknown filter type ${filter}`);
      }
      row[i] = (src[i] + pred) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    const s = i * bpp;
    const [r, g, b, al] = colorType === 6
      ? [px[s], px[s + 1], px[s + 2], px[s + 3]]
      : colorType === 2
      ? [px[s], px[s + 1], px[s + 2], 255]
      : colorType === 4
      ? [px[s], px[s], px[s], px[s + 1]]
      : [px[s], px[s], px[s], 255];
    rgba.set([r, g, b, al], i * 4);
  }
  return { width, height, rgba };
}

/**
 * How many pixels inside the rectangle (x0, y0)–(x1, y1) carry ink: a
 * channel darker than `below` (default 200, so light grid lines do not
 * count) or not opaque; and how many pixels it holds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inkIn } from "./png.ts";
 * const img = { width: 3, height: 1,
 *   rgba: new Uint8Array([255, 255, 255, 255, 221, 221, 221, 255, 0, 114, 178, 255]) };
 * assert.deepEqual(inkIn(img, 0, 0, 3, 1), { ink: 1, pixels: 3 });
 * ```
 */
export function inkIn(
  img: Png,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  below = 200,
): { ink: number; pixels: number } {
  let ink = 0, pixels = 0;
  const xa = Math.max(0, Math.floor(x0)), xb = Math.min(img.width, Math.ceil(x1));
  const ya = Math.max(0, Math.floor(y0)), yb = Math.min(img.height, Math.ceil(y1));
  for (let y = ya; y < yb; y++) {
    for (let x = xa; x < xb; x++) {
      const i = (y * img.width + x) * 4;
      const [r, g, b, a] = img.rgba.subarray(i, i + 4);
      pixels++;
      if (Math.min(r, g, b) < below || a < 250) ink++;
    }
  }
  return { ink, pixels };
}

/**
 * Mean and standard deviation of the gray level (ITU-R BT.601 luma) of the
 * pixels inside (x0, y0)–(x1, y1): what a reader of a grayscale print sees.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grayIn } from "./png.ts";
 * const img = { width: 2, height: 1, rgba: new Uint8Array([0, 0, 0, 255, 255, 255, 255, 255]) };
 * assert.deepEqual(grayIn(img, 0, 0, 2, 1), { mean: 127.5, sd: 127.5 });
 * ```
 */
export function grayIn(
  img: Png,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
): { mean: number; sd: number } {
  const g: number[] = [];
  for (let y = Math.max(0, Math.floor(y0)); y < Math.min(img.height, Math.ceil(y1)); y++) {
    for (let x = Math.max(0, Math.floor(x0)); x < Math.min(img.width, Math.ceil(x1)); x++) {
      const i = (y * img.width + x) * 4;
      g.push(0.299 * img.rgba[i] + 0.587 * img.rgba[i + 1] + 0.114 * img.rgba[i + 2]);
    }
  }
  const mean = g.reduce((a, b) => a + b, 0) / Math.max(1, g.length);
  const sd = Math.sqrt(g.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, g.length));
  return { mean: Number(mean.toFixed(3)), sd: Number(sd.toFixed(3)) };
}
