/**
 * UAR pages (FORMATS.md §4): the device's user access region, one 4 KiB I/O
 * frame per user context. A doorbell is one 8-byte MMIO write at a fixed
 * offset; the page it lands on is the authority the device checks against
 * the context's UAR index (DESIGN §9 invariant 1). This module owns the I/O
 * frames and the posted-write delay; the device decides what a doorbell
 * does.
 *
 * @module
 */

import type { Engine } from "../sim/engine.ts";
import type { MachineMemory, MmioHandler } from "../sim/memory.ts";

/**
 * Doorbell offsets within a UAR page.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UarOffset } from "./uar.ts";
 * assert.equal(UarOffset.SEND.toString(16), "18");
 * ```
 */
export const UarOffset = {
  CQ: 0x10,
  SEND: 0x18,
  RECV: 0x20,
  SRQ: 0x28,
  EQ: 0x30,
} as const;
/** A value of {@link UarOffset}. */
export type UarOffset = (typeof UarOffset)[keyof typeof UarOffset];

/**
 * CQ doorbell commands (top byte of word 0).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cmdWord, CqDbCmd } from "./uar.ts";
 * assert.equal(cmdWord(CqDbCmd.REQ_NOTIFY_NEXT, 5).toString(16), "2000005");
 * ```
 */
export const CqDbCmd = { SET_CI: 1, REQ_NOTIFY_NEXT: 2, REQ_NOTIFY_SOLICITED: 3 } as const;
/**
 * EQ doorbell commands.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cmdWord, doorbellBytes, EqDbCmd } from "./uar.ts";
 * // What an interrupt handler writes after draining EQ 0 up to consumer index 12:
 * assert.deepEqual([...doorbellBytes(cmdWord(EqDbCmd.SET_CI_ARM, 0), 12)], [ 2, 0, 0, 0, 0, 0, 0, 12 ]);
 * ```
 */
export const EqDbCmd = { SET_CI: 1, SET_CI_ARM: 2 } as const;

/**
 * Bytes of one doorbell write.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DOORBELL_BYTES, doorbellBytes } from "./uar.ts";
 * assert.equal(doorbellBytes(1, 2).length, DOORBELL_BYTES); // a write of any other size is rejected
 * ```
 */
export const DOORBELL_BYTES = 8;

/**
 * The 8 bytes of a doorbell: `word0` (big-endian u32) then `word1`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { doorbellBytes, sendDoorbellWord, UarOffset } from "./uar.ts";
 * // Send doorbell for QP 0x12, a 48-byte WQE, producer counter 3, written at uarAddr + UarOffset.SEND:
 * assert.deepEqual([...doorbellBytes(sendDoorbellWord(0x12, 3), 3)], [0, 0, 0x12, 3, 0, 0, 0, 3]);
 * ```
 */
export function doorbellBytes(word0: number, word1: number): Uint8Array {
  return doorbellInto(new Uint8Array(DOORBELL_BYTES), word0, word1);
}

/**
 * Write the 8 bytes of a doorbell into `buf` (at least 8 bytes) and return
 * it: the fast path's form of {@link doorbellBytes}, for a caller that keeps
 * one buffer for all its doorbells. That is safe because a store to a UAR
 * page is parsed into its two words the moment it is written
 * ({@link UarPages.mmioWrite}), and a store to RAM copies the bytes: nothing
 * keeps the buffer.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { doorbellBytes, doorbellInto } from "./uar.ts";
 * const buf = new Uint8Array(8);
 * assert.equal(doorbellInto(buf, 0x1203, 0xfffffffe), buf);
 * assert.deepEqual(buf, doorbellBytes(0x1203, 0xfffffffe));
 * ```
 */
export function doorbellInto(buf: Uint8Array, word0: number, word1: number): Uint8Array {
  buf[0] = word0 >>> 24;
  buf[1] = word0 >>> 16;
  buf[2] = word0 >>> 8;
  buf[3] = word0;
  buf[4] = word1 >>> 24;
  buf[5] = word1 >>> 16;
  buf[6] = word1 >>> 8;
  buf[7] = word1;
  return buf;
}

/** Word 0's command byte starts at bit 24; the 24 bits below name the QP, CQ, EQ or SRQ. */
const DOORBELL_CMD_SHIFT = 24;
/** Word 0's index bits (a QPN, CQN, EQN or SRQN is 24 bits). */
const DOORBELL_INDEX_MASK = 0xffffff;

/**
 * Word 0 of a CQ or EQ doorbell: command in the top byte, CQN/EQN below.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cmdWord, CqDbCmd } from "./uar.ts";
 * assert.equal(cmdWord(CqDbCmd.REQ_NOTIFY_NEXT, 7).toString(16), "2000007");
 * ```
 */
export function cmdWord(cmd: number, index: number): number {
  return ((cmd << DOORBELL_CMD_SHIFT) | (index & DOORBELL_INDEX_MASK)) >>> 0;
}

/** The command byte of receive and SRQ doorbells, which take none. */
export const DB_NO_CMD = 0;

/**
 * Split doorbell word 0 into its command and the object it names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cmdWord, CqDbCmd, splitCmdWord } from "./uar.ts";
 * assert.deepEqual(splitCmdWord(cmdWord(CqDbCmd.SET_CI, 0x123456)), { cmd: CqDbCmd.SET_CI, index: 0x123456 });
 * ```
 */
export function splitCmdWord(word0: number): { cmd: number; index: number } {
  return { cmd: word0 >>> DOORBELL_CMD_SHIFT, index: word0 & DOORBELL_INDEX_MASK };
}

/**
 * Bits of send-doorbell word 0 that carry the descriptor size; the QPN sits above them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SEND_DB_SIZE_BITS } from "./uar.ts";
 * assert.equal(SEND_DB_SIZE_BITS, 8); // as mthca's `(qpn << 8) | size0`
 * ```
 */
export const SEND_DB_SIZE_BITS = 8;

/**
 * Word 0 of a send doorbell: the QPN and the size, in 16-byte units, of the
 * first WQE the doorbell announces. This is the word mthca's
 * `MTHCA_SEND_DOORBELL` carries (Linux `drivers/infiniband/hw/mthca/mthca_qp.c`,
 * libmthca `mthca_tavor_post_send`: `(qpn << 8) | size0`); the HCA fetches
 * exactly `size * 16` bytes of that WQE instead of its whole slot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sendDoorbellWord, splitSendDoorbellWord } from "./uar.ts";
 * const w0 = sendDoorbellWord(0x48, 3); // a 48-byte WQE on QP 0x48
 * assert.equal(w0, 0x4803);
 * assert.deepEqual(splitSendDoorbellWord(w0), { qpn: 0x48, size: 3 });
 * ```
 */
export function sendDoorbellWord(qpn: number, size16: number): number {
  return (((qpn & DOORBELL_INDEX_MASK) << SEND_DB_SIZE_BITS) |
    (size16 & ((1 << SEND_DB_SIZE_BITS) - 1))) >>> 0;
}

/**
 * Split send-doorbell word 0 into the QPN and the first WQE's size (16-byte units).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitSendDoorbellWord } from "./uar.ts";
 * assert.deepEqual(splitSendDoorbellWord(0x00123404), { qpn: 0x1234, size: 4 });
 * ```
 */
export function splitSendDoorbellWord(word0: number): { qpn: number; size: number } {
  return {
    qpn: word0 >>> SEND_DB_SIZE_BITS,
    size: word0 & ((1 << SEND_DB_SIZE_BITS) - 1),
  };
}

/**
 * Receiver of doorbells once the posted write reaches the device.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory } from "../sim/mod.ts";
 * import { doorbellBytes, type DoorbellSink, UarOffset, UarPages } from "./uar.ts";
 * const engine = new Engine(), mem = new MachineMemory(1 << 20);
 * const rejected: number[] = [];
 * const sink: DoorbellSink = { doorbell: (uar, offset, _w0, _w1, ok) => void (ok || rejected.push(offset)) };
 * const uars = new UarPages(engine, mem, 2, 100, sink);
 * await engine.run(async () => {
 *   mem.write(uars.mfn(1) * 4096 + UarOffset.RECV, new Uint8Array(4)); // a 4-byte write
 *   mem.write(uars.mfn(1) * 4096 + UarOffset.RECV, doorbellBytes(7, 1));
 *   await engine.sleep(100);
 * });
 * assert.deepEqual(rejected, [ 32 ]);
 * ```
 */
export interface DoorbellSink {
  /**
   * A doorbell written on UAR `uar` at `offset`; `ok` false for a write the
   * page could not parse (wrong size or offset).
   */
  doorbell(uar: number, offset: number, word0: number, word1: number, ok: boolean): void;
}

/**
 * The UAR I/O frames of one HCA. Writes are delivered to the sink
 * `mmioWriteNs` later, in order (posted writes do not pass each other).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory } from "../sim/mod.ts";
 * import { UarPages, UarOffset, doorbellBytes } from "./uar.ts";
 * const engine = new Engine(), mem = new MachineMemory(1 << 20);
 * const seen: number[] = [];
 * const uars = new UarPages(engine, mem, 4, 250, { doorbell: (u, o, w0) => seen.push(u, o, w0) });
 * await engine.run(async () => {
 *   mem.write(uars.mfn(2) * 4096 + UarOffset.SEND, doorbellBytes(9, 1));
 *   await engine.sleep(250);
 * });
 * assert.deepEqual(seen, [2, 24, 9]);
 * ```
 */
export class UarPages implements MmioHandler {
  /** First I/O frame. */
  readonly firstMfn: number;
  // Pending doorbells as a flat FIFO (uar, offset, w0, w1, ok, due) in
  // [#head, #tail): one engine event at a time instead of a closure per
  // doorbell. The array keeps its length when the FIFO empties (truncating
  // it would free its backing store, and the next doorbell allocate one).
  #q: number[] = [];
  #head = 0;
  #tail = 0;
  #armed = false;
  #tag: number;
  /** Doorbell writes received (valid or not). */
  writes = 0;

  /**
   * Create it (hardware state; the device builds these).
   * @param engine the engine
   * @param memory host memory to attach the frames to
   * @param count number of UAR pages
   * @param mmioWriteNs posted-write delay until the device sees a write
   * @param sink the device
   */
  constructor(
    private engine: Engine,
    memory: MachineMemory,
    readonly count: number,
    private mmioWriteNs: number,
    private sink: DoorbellSink,
  ) {
    this.firstMfn = memory.attachMmio(count, this);
    this.#tag = engine.tag("hca.doorbell");
  }

  /** Machine frame number of UAR `index`. */
  mfn(index: number): number {
    if (!(index >= 0 && index < this.count) || !Number.isInteger(index)) {
      throw new RangeError(`UAR index ${index} outside 0..${this.count - 1}`);
    }
    return this.firstMfn + index;
  }

  /** A doorbell write reached the UAR page (see FORMATS.md §4). */
  mmioWrite(mfn: number, offset: number, bytes: Uint8Array): void {
    this.writes++;
    const uar = mfn - this.firstMfn;
    let ok = bytes.length === DOORBELL_BYTES && (offset & 7) === 0;
    let w0 = 0, w1 = 0;
    if (ok) {
      w0 = ((bytes[0] << 24) | (bytes[1] << 16) | (bytes[2] << 8) | bytes[3]) >>> 0;
      w1 = ((bytes[4] << 24) | (bytes[5] << 16) | (bytes[6] << 8) | bytes[7]) >>> 0;
    } else ok = false;
    const q = this.#q, t = this.#tail;
    q[t] = uar;
    q[t + 1] = offset;
    q[t + 2] = w0;
    q[t + 3] = w1;
    q[t + 4] = ok ? 1 : 0;
    q[t + 5] = this.engine.now + this.mmioWriteNs;
    this.#tail = t + 6;
    if (!this.#armed) {
      this.#armed = true;
      this.engine.post(this.mmioWriteNs, this.#deliver, this.#tag);
    }
  }

  /** Reads of a UAR page return zeros (doorbell registers are write-only). */
  mmioRead(_mfn: number, _offset: number, len: number): Uint8Array {
    // Doorbell registers are write-only; reads return zeros like the hardware.
    return new Uint8Array(len);
  }

  #deliver = (): void => {
    const q = this.#q;
    const now = this.engine.now;
    while (this.#head < this.#tail && q[this.#head + 5] <= now) {
      const h = this.#head;
      this.#head += 6;
      this.sink.doorbell(q[h], q[h + 1], q[h + 2], q[h + 3], q[h + 4] === 1);
    }
    if (this.#head >= this.#tail) {
      this.#head = this.#tail = 0;
      this.#armed = false;
    } else {
      if (this.#head > 4096) {
        q.copyWithin(0, this.#head, this.#tail);
        this.#tail -= this.#head;
        this.#head = 0;
      }
      this.engine.post(q[this.#head + 5] - now, this.#deliver, this.#tag);
    }
  };
}
