/**
 * Machine memory of one host: 4 KiB frames, allocated lazily. A frame costs
 * nothing until a byte of it is written; reads of an untouched frame give
 * zeros. This is platform, not hypervisor: bare-metal hosts have it too, and
 * the HCA reaches it by machine address without knowing about domains.
 *
 * @module
 */

/**
 * Bytes in a page/frame.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PAGE_SIZE } from "./memory.ts";
 * assert.equal(PAGE_SIZE, 4096);
 * assert.equal(0x12345 % PAGE_SIZE, 0x345); // offset in its frame
 * ```
 */
export const PAGE_SIZE = 4096;
/**
 * log2 of {@link PAGE_SIZE}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PAGE_SHIFT, PAGE_SIZE } from "./memory.ts";
 * assert.equal(1 << PAGE_SHIFT, PAGE_SIZE);
 * assert.equal(0x12345 >> PAGE_SHIFT, 0x12); // frame number
 * ```
 */
export const PAGE_SHIFT = 12;

/**
 * Error for an access to a frame that was never allocated or was freed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MachineMemory, MachineMemoryError } from "./memory.ts";
 * const mem = new MachineMemory(1 << 20);
 * assert.throws(() => mem.read(5 * 4096, 4), MachineMemoryError); // frame 5 was never allocated
 * assert.throws(() => mem.freeFrame(5), /free of unallocated frame 5/);
 * ```
 */
export class MachineMemoryError extends Error {
  /** @param message what was wrong */
  constructor(message: string) {
    super(message);
    this.name = "MachineMemoryError";
  }
}

/**
 * A device's memory-mapped I/O page handler (a BAR page such as a UAR).
 * Writes to machine frames attached with {@link MachineMemory.attachMmio}
 * go here instead of to RAM; the device sees which frame and offset.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MachineMemory, type MmioHandler } from "./memory.ts";
 * const mem = new MachineMemory(1 << 20);
 * const stores: [number, number, number][] = [];
 * const device: MmioHandler = {
 *   mmioWrite: (mfn, offset, bytes) => stores.push([mfn, offset, bytes.length]),
 *   mmioRead: (_mfn, _offset, len) => new Uint8Array(len).fill(0xff),
 * };
 * const first = mem.attachMmio(1, device);
 * assert.equal(first, mem.frames + 1); // I/O frames sit above RAM
 * mem.write(first * 4096 + 0x18, new Uint8Array(8)); // a doorbell store reaches the device
 * assert.deepEqual(stores, [[first, 0x18, 8]]);
 * assert.deepEqual(mem.read(first * 4096, 2), new Uint8Array([0xff, 0xff]));
 * ```
 */
export interface MmioHandler {
  /** A write of `bytes` at `offset` within I/O frame `mfn`. */
  mmioWrite(mfn: number, offset: number, bytes: Uint8Array): void;
  /** A read of `len` bytes at `offset` within I/O frame `mfn`. */
  mmioRead(mfn: number, offset: number, len: number): Uint8Array;
}

/**
 * A host's machine memory with a frame allocator.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MachineMemory } from "./memory.ts";
 * const mem = new MachineMemory(16 * 1024 * 1024);
 * const mfn = mem.allocFrame("dom0");
 * assert.deepEqual(mem.read(mfn * 4096, 2), new Uint8Array(2)); // untouched frames read as zeros
 * mem.write(mfn * 4096 + 8, new Uint8Array([1, 2, 3]));
 * assert.deepEqual(mem.read(mfn * 4096 + 8, 3), new Uint8Array([1, 2, 3]));
 * assert.equal(mem.ownerOf(mfn), "dom0");
 * mem.freeFrame(mfn);
 * assert.equal(mem.allocFrame("dom1"), mfn); // reused, and scrubbed
 * assert.deepEqual(mem.read(mfn * 4096 + 8, 3), new Uint8Array(3));
 * ```
 */
export class MachineMemory {
  /** Total frames. */
  readonly frames: number;
  #data = new Map<number, Uint8Array>();
  #owner = new Map<number, string>();
  #free: number[] = [];
  #next = 1; // machine frame 0 is never handed out: a zero MFN is a bug marker
  #mmio: { first: number; count: number; handler: MmioHandler }[] = [];

  /** @param bytes size of machine memory (rounded down to whole frames) */
  constructor(bytes: number) {
    this.frames = Math.floor(bytes / PAGE_SIZE);
  }

  /** Frames handed out and not freed. */
  get allocated(): number {
    return this.#owner.size;
  }

  /** Frames left to allocate. */
  get available(): number {
    return this.frames - this.#owner.size - 1;
  }

  /**
   * Allocate one frame for `owner` (a label: "dom0", "domU 3", "hca").
   * Freed frames are reused first, lowest number first.
   */
  allocFrame(owner: string): number {
    let mfn: number;
    if (this.#free.length > 0) {
      mfn = this.#free.pop()!;
    } else {
      if (this.#next >= this.frames) {
        throw new MachineMemoryError(`out of machine memory (${this.frames} frames)`);
      }
      mfn = this.#next++;
    }
    this.#owner.set(mfn, owner);
    return mfn;
  }

  /** Return a frame; its contents are scrubbed. */
  freeFrame(mfn: number): void {
    if (!this.#owner.has(mfn)) throw new MachineMemoryError(`free of unallocated frame ${mfn}`);
    this.#owner.delete(mfn);
    this.#data.delete(mfn);
    this.#free.push(mfn);
    if (this.#free.length > 1 && this.#free[this.#free.length - 2] < mfn) {
      this.#free.sort((a, b) => b - a);
    }
  }

  /** Owner label of an allocated frame, or undefined. */
  ownerOf(mfn: number): string | undefined {
    return this.#owner.get(mfn);
  }

  /** True if `mfn` is allocated. */
  isAllocated(mfn: number): boolean {
    return this.#owner.has(mfn);
  }

  /** The bytes of a frame (created zeroed on first use). */
  frame(mfn: number): Uint8Array {
    let f = this.#data.get(mfn);
    if (!f) {
      if (!this.#owner.has(mfn)) {
        throw new MachineMemoryError(`access to unallocated machine frame ${mfn}`);
      }
      f = new Uint8Array(PAGE_SIZE);
      this.#data.set(mfn, f);
    }
    return f;
  }

  /**
   * Attach `count` I/O frames for a device, above RAM; returns the first
   * I/O frame number. Reads and writes there reach the device's handler.
   */
  attachMmio(count: number, handler: MmioHandler): number {
    const last = this.#mmio[this.#mmio.length - 1];
    const first = last ? last.first + last.count : this.frames + 1;
    this.#mmio.push({ first, count, handler });
    return first;
  }

  /** True if `mfn` is an I/O frame (device page), not RAM. */
  isMmio(mfn: number): boolean {
    return this.#mmioFor(mfn) !== undefined;
  }

  #mmioFor(mfn: number): MmioHandler | undefined {
    if (mfn <= this.frames) return undefined;
    for (const r of this.#mmio) if (mfn >= r.first && mfn < r.first + r.count) return r.handler;
    return undefined;
  }

  /** Read `len` bytes at machine address `maddr` (may cross frames). */
  read(maddr: number, len: number): Uint8Array {
    const io = this.#mmioFor(Math.floor(maddr / PAGE_SIZE));
    if (io) return io.mmioRead(Math.floor(maddr / PAGE_SIZE), maddr & (PAGE_SIZE - 1), len);
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const a = maddr + done;
      const off = a & (PAGE_SIZE - 1);
      const n = Math.min(PAGE_SIZE - off, len - done);
      out.set(this.frame(Math.floor(a / PAGE_SIZE)).subarray(off, off + n), done);
      done += n;
    }
    return out;
  }

  /** Write bytes at machine address `maddr` (may cross frames). */
  write(maddr: number, bytes: Uint8Array): void {
    const io = this.#mmioFor(Math.floor(maddr / PAGE_SIZE));
    if (io) return io.mmioWrite(Math.floor(maddr / PAGE_SIZE), maddr & (PAGE_SIZE - 1), bytes);
    let done = 0;
    while (done < bytes.length) {
      const a = maddr + done;
      const off = a & (PAGE_SIZE - 1);
      const n = Math.min(PAGE_SIZE - off, bytes.length - done);
      this.frame(Math.floor(a / PAGE_SIZE)).set(bytes.subarray(done, done + n), off);
      done += n;
    }
  }

  /** A DataView over one whole frame, for structured access within a page. */
  view(mfn: number): DataView {
    const f = this.frame(mfn);
    return new DataView(f.buffer, f.byteOffset, f.byteLength);
  }
}
