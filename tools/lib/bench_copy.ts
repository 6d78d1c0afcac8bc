/**
 * The floor under the bulk streams' wall seconds per simulated GB: what
 * moving the payload alone costs on this machine, done as the model does
 * it (`deno task bench copy`). Machine memory is one 4 KiB `Uint8Array`
 * per frame (`sim/memory.ts`); a packet's payload is copied out of the
 * source frame into a slab when the sender's DMA read completes
 * (`hca/packet.ts`, `snapshot`) and out of the slab into the destination
 * frame by the receiver's DMA write (`hca/mpt.ts`, `scatter`). No model
 * code runs here: only those copies, in the model's packet sizes.
 *
 * @module
 */
import { IBA_MTUS } from "../../mod.ts";
import { stopwatch } from "./bench_engine.ts";

/** Bytes of a frame of machine memory (`PAGE_SIZE`). */
const FRAME_BYTES = 4096;
/** The slab the two-copy path stages payloads in (`hca/packet.ts` reuses 32 KiB slabs). */
const SLAB_BYTES = 1 << 15;

/**
 * One measurement of {@link payloadCopies}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CopyRun, payloadCopies } from "./bench_copy.ts";
 * const r: CopyRun = payloadCopies(1 << 20, 2048, 2, 4);
 * assert.equal(r.bytes, 4 << 20);
 * assert.ok(r.wallMs >= 0 && r.cpuMs >= 0);
 * ```
 */
export interface CopyRun {
  /** Payload bytes moved (each byte copied `copies` times). */
  bytes: number;
  /** Wall time, ms. */
  wallMs: number;
  /** CPU time, ms (see `stopwatch`). */
  cpuMs: number;
}

/**
 * Move `messages` messages of `bufferBytes` each, in packets of
 * `packetBytes` (the path MTU), from a source buffer of frames to a destination
 * buffer of frames: through a slab (`copies` 2, as the model does today) or
 * straight from frame to frame (`copies` 1, the least a byte-exact DMA
 * can do). Every message re-reads the whole source and re-writes the whole
 * destination, as `ib_write_bw` does with its buffers. The destination's
 * bytes are checked against the source's after the run.
 *
 * @throws RangeError if `bufferBytes` is not a positive multiple of a frame, or
 *   `packetBytes` not an IB MTU (256 … 4096, a power of two)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { payloadCopies } from "./bench_copy.ts";
 * const one = payloadCopies(64 * 1024, 2048, 1, 8), two = payloadCopies(64 * 1024, 2048, 2, 8);
 * assert.deepEqual([one.bytes, two.bytes], [512 * 1024, 512 * 1024]);
 * assert.throws(() => payloadCopies(1000, 2048, 1, 1), /multiple of 4096/);
 * assert.throws(() => payloadCopies(4096, 1500, 1, 1), /not an IB MTU/);
 * ```
 */
export function payloadCopies(
  bufferBytes: number,
  packetBytes: number,
  copies: 1 | 2,
  messages: number,
): CopyRun {
  if (!(bufferBytes > 0) || bufferBytes % FRAME_BYTES !== 0) {
    throw new RangeError(`payloadCopies: buffer of ${bufferBytes} bytes is not a multiple of 4096`);
  }
  if (!IBA_MTUS.includes(packetBytes)) {
    throw new RangeError(`payloadCopies: packets of ${packetBytes} bytes: not an IB MTU`);
  }
  const frames = bufferBytes / FRAME_BYTES;
  const { src, dst } = frameBuffers(frames);
  const slab = new Uint8Array(SLAB_BYTES);
  const perFrame = FRAME_BYTES / packetBytes;
  const sw = stopwatch();
  let at = 0;
  for (let m = 0; m < messages; m++) {
    for (let f = 0; f < frames; f++) {
      const s = src[f], d = dst[f];
      for (let p = 0; p < perFrame; p++) {
        const off = p * packetBytes;
        const payload = s.subarray(off, off + packetBytes);
        if (copies === 1) d.set(payload, off);
        else {
          if (at + packetBytes > SLAB_BYTES) at = 0;
          slab.set(payload, at);
          d.set(slab.subarray(at, at + packetBytes), off);
          at += packetBytes;
        }
      }
    }
  }
  const t = sw();
  checkCopied(src, dst, "payloadCopies");
  return { bytes: messages * bufferBytes, wallMs: t.wallMs, cpuMs: t.cpuMs };
}

/**
 * A source and a destination buffer of `frames` 4 KiB frames each, as machine memory keeps
 * them (one `Uint8Array` per frame); every 64th source byte is set, so that
 * {@link checkCopied} can tell a moved frame from an untouched one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkCopied, frameBuffers } from "./bench_copy.ts";
 * const { src, dst } = frameBuffers(2);
 * assert.deepEqual([src.length, dst[1].length], [2, 4096]);
 * assert.throws(() => checkCopied(src, dst, "test"), /test: frame 0 byte 64 differs/);
 * dst.forEach((d, f) => d.set(src[f]));
 * checkCopied(src, dst, "test");
 * ```
 */
export function frameBuffers(frames: number): { src: Uint8Array[]; dst: Uint8Array[] } {
  const src: Uint8Array[] = [], dst: Uint8Array[] = [];
  for (let f = 0; f < frames; f++) {
    const s = new Uint8Array(FRAME_BYTES);
    for (let i = 0; i < FRAME_BYTES; i += 64) s[i] = (f + i) & 0xff;
    src.push(s);
    dst.push(new Uint8Array(FRAME_BYTES));
  }
  return { src, dst };
}

/**
 * Throw unless every marked byte of {@link frameBuffers}' source arrived in the destination.
 * @throws Error naming `who`, the frame and the byte that differs
 */
export function checkCopied(src: Uint8Array[], dst: Uint8Array[], who: string): void {
  for (let f = 0; f < src.length; f++) {
    for (let i = 0; i < FRAME_BYTES; i += 64) {
      if (dst[f][i] !== src[f][i]) throw new Error(`${who}: frame ${f} byte ${i} differs`);
    }
  }
}
