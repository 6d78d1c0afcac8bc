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
 * One frame as the allocator sees it (what Xen keeps in `struct page_info`):
 * its owner, its reference count (`count_info & PGC_count_mask`) and
 * whether the owner's allocation reference is still held (`PGC_allocated`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type FrameInfo, MachineMemory } from "./memory.ts";
 * const mem = new MachineMemory(1 << 20);
 * const mfn = mem.allocFrame("dom1");
 * const info: FrameInfo = mem.frameInfo(mfn)!;
 * assert.deepEqual(info, { mfn, owner: "dom1", count: 1, allocated: true });
 * ```
 */
export interface FrameInfo {
  /** Machine frame number. */
  readonly mfn: number;
  /** Owner label ("dom1", "xen:gnttab:dom1", "node0 os", …). */
  readonly owner: string;
  /** References held (the allocation one included while it is held). */
  readonly count: number;
  /** The owner's allocation reference is still held (Xen's `PGC_allocated`). */
  readonly allocated: boolean;
}

/** Entries of {@link MachineMemory}'s cache of recently used frames (a power of two). */
const HOT_FRAMES = 256;
/** Reads up to this many bytes are copied without a view of the frame. */
const SMALL_COPY = 48;

/** Frames per chunk of {@link MachineMemory}'s frame index (a power of two). */
const CHUNK_BITS = 9;
const CHUNK = 1 << CHUNK_BITS;

/**
 * A host's machine memory with a frame allocator and per-frame reference
 * counts, as Xen keeps them (`xen/arch/x86/mm.c`: `get_page`, `put_page`;
 * `xen/common/memory.c`: `guest_remove_page`).
 *
 * A frame is allocated with one reference, its owner's allocation
 * reference. Whoever else uses the frame — a mapping into an address
 * space, a grant mapping, an MTT entry a driver pinned — takes a reference
 * with {@link getPage} and drops it with {@link putPage}. {@link freeFrame}
 * drops the allocation reference. The frame returns to the heap only at its
 * last put, never while anything still holds it: a frame its owner gave
 * back while a device can still reach it stays allocated (and its owner's)
 * until the device lets go. Device I/O frames ({@link attachMmio}) are
 * counted the same way but never freed.
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
 * mem.getPage(mfn); // a device pins it
 * mem.freeFrame(mfn); // the owner lets go: still allocated, the pin holds it
 * assert.equal(mem.isAllocated(mfn), true);
 * assert.equal(mem.refCount(mfn), 1);
 * assert.equal(mem.putPage(mfn), true); // the last put frees it
 * assert.equal(mem.isAllocated(mfn), false);
 * assert.equal(mem.allocFrame("dom1"), mfn); // reused, and scrubbed
 * assert.deepEqual(mem.read(mfn * 4096 + 8, 3), new Uint8Array(3));
 * ```
 */
export class MachineMemory {
  /** Total frames. */
  readonly frames: number;
  /**
   * The bytes of every frame ever accessed, in chunks of {@link CHUNK}
   * frames indexed by frame number (a chunk is made when one of its frames
   * is first accessed). A map keyed by frame number cost a hash lookup per
   * DMA read or write that missed the cache of recent frames below, and a
   * cluster of many guests misses it on most messages.
   */
  #data: (Uint8Array | undefined)[][] = [];
  /**
   * The frames looked up last, direct-mapped by the low bits of their number:
   * the data path (a DMA read or write per packet) asks for the same few
   * frames over and over, and a map lookup in a large memory costs more than
   * the packet's other work. An entry goes when its frame is freed (NaN:
   * no entry, equal to no frame number).
   */
  #hotMfn = new Float64Array(HOT_FRAMES).fill(NaN);
  #hotData: Uint8Array[] = new Array(HOT_FRAMES);
  /** Owner of every frame whose count is above zero. */
  #owner = new Map<number, string>();
  /** Reference counts of RAM frames in use, and of I/O frames that are referenced. */
  #count = new Map<number, number>();
  /** RAM frames whose owner dropped its allocation reference while others still hold one. */
  #released = new Set<number>();
  /** Frames per owner label (Xen's `tot_pages`, per label). */
  #perOwner = new Map<string, number>();
  #freeListeners: ((mfn: number, owner: string) => void)[] = [];
  #free: number[] = [];
  #next = 1; // machine frame 0 is never handed out: a zero MFN is a bug marker
  /** Write logs by owner label (log-dirty mode); undefined while none is on (the common case). */
  #writeLogs: Map<string, Set<number>> | undefined;
  #mmio: { first: number; count: number; handler: MmioHandler }[] = [];

  /**
   * Machine memory of `bytes`, frames allocated when first touched.
   *
   * @param bytes size of machine memory (rounded down to whole frames)
   */
  constructor(bytes: number) {
    this.frames = Math.floor(bytes / PAGE_SIZE);
  }

  /** Frames handed out and not yet back in the heap. */
  get allocated(): number {
    return this.#owner.size;
  }

  /** Frames left to allocate. */
  get available(): number {
    return this.frames - this.#owner.size - 1;
  }

  /**
   * Allocate one frame for `owner` (a label: "dom0", "domU 3", "hca") with
   * its allocation reference (count 1). Freed frames are reused first,
   * lowest number first.
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
    this.#count.set(mfn, 1);
    this.#perOwner.set(owner, (this.#perOwner.get(owner) ?? 0) + 1);
    return mfn;
  }

  /**
   * The owner gives the frame back: drop its allocation reference (Xen's
   * `test_and_clear_bit(_PGC_allocated)` + `put_page`). The frame returns to
   * the heap, scrubbed, when no other reference remains; until then it stays
   * allocated and its owner's. A second free is a bug in the model and throws.
   */
  freeFrame(mfn: number): void {
    if (!this.#owner.has(mfn) || this.isMmio(mfn)) {
      throw new MachineMemoryError(`free of unallocated frame ${mfn}`);
    }
    if (this.#released.has(mfn)) {
      throw new MachineMemoryError(
        `free of frame ${mfn} whose owner (${this.#owner.get(mfn)}) already gave it back`,
      );
    }
    this.#released.add(mfn);
    this.putPage(mfn);
  }

  /**
   * Take a reference on frame `mfn` (Xen's `get_page`): RAM that is
   * allocated, or a device I/O frame. A free frame cannot be referenced:
   * MachineMemoryError.
   */
  getPage(mfn: number): void {
    const n = this.#count.get(mfn);
    if (n === undefined) {
      if (!this.isMmio(mfn)) {
        throw new MachineMemoryError(`reference to unallocated machine frame ${mfn}`);
      }
      this.#count.set(mfn, 1);
      return;
    }
    this.#count.set(mfn, n + 1);
  }

  /**
   * Drop a reference (Xen's `put_page`). At the last one a RAM frame goes
   * back to the heap with its contents scrubbed; returns true then. Putting
   * a reference nobody holds is a bug in the model and throws.
   */
  putPage(mfn: number): boolean {
    const n = this.#count.get(mfn);
    if (n === undefined) {
      throw new MachineMemoryError(`put of machine frame ${mfn}, which holds no reference`);
    }
    if (n > 1) {
      this.#count.set(mfn, n - 1);
      return false;
    }
    this.#count.delete(mfn);
    if (this.isMmio(mfn)) return false;
    if (!this.#released.has(mfn)) {
      // The last reference was not the allocation one: the owner still holds
      // its own, so the count cannot have reached zero. Restore and refuse.
      this.#count.set(mfn, n);
      throw new MachineMemoryError(
        `put of machine frame ${mfn} would drop its owner's allocation reference`,
      );
    }
    const owner = this.#owner.get(mfn)!;
    this.#released.delete(mfn);
    this.#owner.delete(mfn);
    const chunk = this.#data[mfn >>> CHUNK_BITS];
    if (chunk !== undefined) chunk[mfn & (CHUNK - 1)] = undefined;
    if (this.#hotMfn[mfn & (HOT_FRAMES - 1)] === mfn) this.#hotMfn[mfn & (HOT_FRAMES - 1)] = NaN;
    this.#writeLogs?.get(owner)?.delete(mfn);
    const left = this.#perOwner.get(owner)! - 1;
    if (left > 0) this.#perOwner.set(owner, left);
    else this.#perOwner.delete(owner);
    this.#free.push(mfn);
    if (this.#free.length > 1 && this.#free[this.#free.length - 2] < mfn) {
      this.#free.sort((a, b) => b - a);
    }
    for (const l of this.#freeListeners) l(mfn, owner);
    return true;
  }

  /** References held on `mfn` now (0 for a free frame or an unreferenced I/O frame). */
  refCount(mfn: number): number {
    return this.#count.get(mfn) ?? 0;
  }

  /** Frames owned by `owner` that are not back in the heap (given back ones still referenced included). */
  ownedBy(owner: string): number {
    return this.#perOwner.get(owner) ?? 0;
  }

  /**
   * Call `listener` whenever a RAM frame returns to the heap (after its last
   * put), with its number and its last owner. Returns an unsubscribe function.
   */
  onFrameFreed(listener: (mfn: number, owner: string) => void): () => void {
    this.#freeListeners.push(listener);
    return () => {
      const i = this.#freeListeners.indexOf(listener);
      if (i >= 0) this.#freeListeners.splice(i, 1);
    };
  }

  /**
   * What the allocator knows of RAM frame `mfn`, or undefined if it is free.
   *
   * @internal
   */
  frameInfo(mfn: number): FrameInfo | undefined {
    const owner = this.#owner.get(mfn);
    if (owner === undefined) return undefined;
    return { mfn, owner, count: this.#count.get(mfn)!, allocated: !this.#released.has(mfn) };
  }

  /**
   * Every RAM frame not in the heap, in frame order (for audits; costs one sort).
   *
   * @internal
   */
  allocatedFrames(): FrameInfo[] {
    return [...this.#owner.keys()].sort((a, b) => a - b).map((m) => this.frameInfo(m)!);
  }

  /** I/O frames that hold references now, with their counts (for audits). */
  referencedIoFrames(): { mfn: number; count: number }[] {
    const out: { mfn: number; count: number }[] = [];
    for (const [mfn, count] of this.#count) if (this.isMmio(mfn)) out.push({ mfn, count });
    return out.sort((a, b) => a.mfn - b.mfn);
  }

  /** Owner label of an allocated frame, or undefined. */
  ownerOf(mfn: number): string | undefined {
    return this.#owner.get(mfn);
  }

  /** True if `mfn` is allocated (its count is above zero). */
  isAllocated(mfn: number): boolean {
    // A frame with data is allocated (its data goes when it is freed).
    return this.#hotMfn[mfn & (HOT_FRAMES - 1)] === mfn || this.#dataOf(mfn) !== undefined ||
      this.#owner.has(mfn);
  }

  /** The frame's bytes if it was ever accessed (a frame number outside memory has none). */
  #dataOf(mfn: number): Uint8Array | undefined {
    if ((mfn >>> 0) !== mfn) return undefined; // not a frame number: -1, 1.5, NaN
    const chunk = this.#data[mfn >>> CHUNK_BITS];
    return chunk === undefined ? undefined : chunk[mfn & (CHUNK - 1)];
  }

  /**
   * Log-dirty support (Xen's shadow `LOGDIRTY` mode, the hypervisor's to
   * drive): from now on, remember every frame owned by `owner` that is
   * written — by a CPU store ({@link write}), by a device's DMA
   * ({@link frameForWrite}) or through a grant mapping that is given up
   * ({@link noteWrite}) — until {@link stopWriteLog}. One log per owner
   * label; starting a running log keeps what it holds.
   */
  startWriteLog(owner: string): void {
    this.#writeLogs ??= new Map();
    if (!this.#writeLogs.has(owner)) this.#writeLogs.set(owner, new Set());
  }

  /** Stop logging writes to `owner`'s frames and forget what was logged. */
  stopWriteLog(owner: string): void {
    this.#writeLogs?.delete(owner);
    if (this.#writeLogs?.size === 0) this.#writeLogs = undefined;
  }

  /** True while writes to `owner`'s frames are logged. */
  isWriteLogged(owner: string): boolean {
    return this.#writeLogs?.has(owner) === true;
  }

  /**
   * The frames of `owner` written since the log started or was last
   * taken, in frame order; the log is cleared (XEN_DOMCTL_SHADOW_OP_CLEAN).
   * Empty when no log runs for `owner`.
   */
  takeWriteLog(owner: string): number[] {
    const log = this.#writeLogs?.get(owner);
    if (!log || log.size === 0) return [];
    const out = [...log].sort((a, b) => a - b);
    log.clear();
    return out;
  }

  /** Frames logged for `owner` and not yet taken (XEN_DOMCTL_SHADOW_OP_PEEK's count). */
  writeLogSize(owner: string): number {
    return this.#writeLogs?.get(owner)?.size ?? 0;
  }

  /**
   * Frame `mfn` was (or may have been) written by someone other than a CPU
   * store through {@link write}: a device, a mapping given up. Logged if its
   * owner's writes are logged; free otherwise.
   */
  noteWrite(mfn: number): void {
    if (this.#writeLogs === undefined) return;
    const owner = this.#owner.get(mfn);
    if (owner !== undefined) this.#writeLogs.get(owner)?.add(mfn);
  }

  /**
   * The bytes of frame `mfn` for a device's write into it (DMA): the frame
   * is logged as written (see {@link startWriteLog}) before it is handed out.
   */
  frameForWrite(mfn: number): Uint8Array {
    if (this.#writeLogs !== undefined) this.noteWrite(mfn);
    return this.frame(mfn);
  }

  /**
   * The bytes of frame `mfn` if it is allocated (created zeroed on first
   * use, as {@link frame}), else undefined: {@link isAllocated} and
   * {@link frame} in one look-up, for the DMA path, which translates and
   * then touches a frame for every packet.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MachineMemory } from "./memory.ts";
   * const mem = new MachineMemory(1 << 20);
   * const mfn = mem.allocFrame("dom1");
   * assert.equal(mem.frameIfAllocated(mfn), mem.frame(mfn));
   * mem.freeFrame(mfn);
   * assert.equal(mem.frameIfAllocated(mfn), undefined);
   * ```
   */
  frameIfAllocated(mfn: number): Uint8Array | undefined {
    return this.#bytes(mfn);
  }

  /**
   * {@link frameIfAllocated} for a device's write into the frame (DMA):
   * logged as written, as {@link frameForWrite} does, when it is allocated.
   */
  frameForWriteIfAllocated(mfn: number): Uint8Array | undefined {
    const f = this.frameIfAllocated(mfn);
    if (f !== undefined && this.#writeLogs !== undefined) this.noteWrite(mfn);
    return f;
  }

  /** True if frame `mfn` was ever accessed since its allocation (untouched frames read as zeros). */
  hasData(mfn: number): boolean {
    return this.#dataOf(mfn) !== undefined;
  }

  /** The bytes of a frame (created zeroed on first use). */
  frame(mfn: number): Uint8Array {
    const f = this.#bytes(mfn);
    if (f === undefined) throw new MachineMemoryError(`access to unallocated machine frame ${mfn}`);
    return f;
  }

  /** The bytes of frame `mfn` (created zeroed on first use), or undefined if it is not allocated. */
  #bytes(mfn: number): Uint8Array | undefined {
    const h = mfn & (HOT_FRAMES - 1);
    if (this.#hotMfn[h] === mfn) return this.#hotData[h];
    let f = this.#dataOf(mfn);
    if (!f) {
      if (!this.#owner.has(mfn)) return undefined;
      f = new Uint8Array(PAGE_SIZE);
      const c = mfn >>> CHUNK_BITS;
      (this.#data[c] ??= new Array<Uint8Array | undefined>(CHUNK).fill(undefined))[
        mfn & (CHUNK - 1)
      ] = f;
    }
    this.#hotMfn[h] = mfn;
    this.#hotData[h] = f;
    return f;
  }

  /**
   * Attach `count` I/O frames for a device, above RAM; returns the first
   * I/O frame number. Reads and writes there reach the device's handler.
   *
   * @internal
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
    // An index loop: an iterator here would be allocated on every doorbell store.
    const io = this.#mmio;
    for (let i = 0; i < io.length; i++) {
      const r = io[i];
      if (mfn >= r.first && mfn < r.first + r.count) return r.handler;
    }
    return undefined;
  }

  /**
   * Read `len` bytes at machine address `maddr` (may cross frames): a fresh
   * copy the caller may keep and modify. Reading a frame never written
   * gives zeros and does not create it.
   */
  read(maddr: number, len: number): Uint8Array {
    const mfn = Math.floor(maddr / PAGE_SIZE);
    const io = this.#mmioFor(mfn);
    if (io) return io.mmioRead(mfn, maddr & (PAGE_SIZE - 1), len);
    const off = maddr & (PAGE_SIZE - 1);
    if (len > 0 && off + len <= PAGE_SIZE) {
      // Within one frame: the copy is the only allocation.
      const f = this.#written(mfn);
      return f ? f.slice(off, off + len) : new Uint8Array(len);
    }
    const out = new Uint8Array(len);
    this.#copyOut(maddr, out, 0, len);
    return out;
  }

  /**
   * Copy `len` bytes at machine address `maddr` into `dst` from
   * `dstOffset` on, without allocating: the read path for a caller that
   * owns a buffer. Frames never written read as zeros.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MachineMemory } from "./memory.ts";
   * const mem = new MachineMemory(1 << 20);
   * const mfn = mem.allocFrame("t");
   * mem.write(mfn * 4096, new Uint8Array([7, 8]));
   * const buf = new Uint8Array(4).fill(9);
   * mem.readInto(mfn * 4096, buf, 1, 3);
   * assert.deepEqual([...buf], [9, 7, 8, 0]);
   * ```
   */
  readInto(maddr: number, dst: Uint8Array, dstOffset = 0, len = dst.length - dstOffset): void {
    if (!(len >= 0 && dstOffset >= 0 && dstOffset + len <= dst.length)) {
      throw new RangeError(
        `readInto: ${len} bytes at offset ${dstOffset} do not fit a ${dst.length}-byte buffer`,
      );
    }
    const mfn = Math.floor(maddr / PAGE_SIZE);
    const io = this.#mmioFor(mfn);
    if (io) return dst.set(io.mmioRead(mfn, maddr & (PAGE_SIZE - 1), len), dstOffset);
    this.#copyOut(maddr, dst, dstOffset, len);
  }

  /**
   * The `len` bytes at `maddr` for reading only: a view into the frame when
   * the range lies in one RAM frame that has been written, else a fresh
   * copy. No copy on the common path, so the caller must not write through
   * the result nor keep it past the next write of that memory (use
   * {@link read} for bytes to keep or change).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MachineMemory } from "./memory.ts";
   * const mem = new MachineMemory(1 << 20);
   * const mfn = mem.allocFrame("t");
   * mem.write(mfn * 4096 + 8, new Uint8Array([1, 2, 3]));
   * const v = mem.peek(mfn * 4096 + 8, 3);
   * assert.deepEqual([...v], [1, 2, 3]);
   * mem.write(mfn * 4096 + 8, new Uint8Array([4]));
   * assert.equal(v[0], 4); // a view: it sees later writes
   * ```
   */
  peek(maddr: number, len: number): Uint8Array {
    const mfn = Math.floor(maddr / PAGE_SIZE);
    const off = maddr & (PAGE_SIZE - 1);
    if (len > 0 && off + len <= PAGE_SIZE && !this.#mmioFor(mfn)) {
      const f = this.#written(mfn);
      if (f) return f.subarray(off, off + len);
    }
    return this.read(maddr, len);
  }

  /**
   * The byte at machine address `maddr`, as `read(maddr, 1)[0]` gives it, without allocating: a
   * CPU's load of a flag it polls (an MPI rank's look at the head byte of its receive ring runs at
   * every wake-up, and a one-byte `read` is a fresh ArrayBuffer each time). Zero in a frame never
   * written; an I/O frame's handler is asked as for `read`.
   * @throws MachineMemoryError for a frame that is not allocated, as `read` does
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MachineMemory } from "./memory.ts";
   * const mem = new MachineMemory(1 << 20);
   * const mfn = mem.allocFrame("t");
   * assert.equal(mem.readByte(mfn * 4096 + 5), 0); // never written: zero, and no frame made
   * mem.write(mfn * 4096 + 5, new Uint8Array([0xab]));
   * assert.equal(mem.readByte(mfn * 4096 + 5), 0xab);
   * assert.throws(() => mem.readByte((mfn + 1) * 4096), /unallocated machine frame/);
   * ```
   */
  readByte(maddr: number): number {
    const mfn = Math.floor(maddr / PAGE_SIZE);
    if (this.#mmioFor(mfn)) return this.read(maddr, 1)[0];
    const f = this.#written(mfn);
    return f === undefined ? 0 : f[maddr & (PAGE_SIZE - 1)];
  }

  /** The frame's bytes if it was ever written, undefined if it reads as zeros; throws if unallocated. */
  #written(mfn: number): Uint8Array | undefined {
    const h = mfn & (HOT_FRAMES - 1);
    if (this.#hotMfn[h] === mfn) return this.#hotData[h];
    const f = this.#dataOf(mfn);
    if (f) return f;
    if (!this.#owner.has(mfn)) {
      throw new MachineMemoryError(`access to unallocated machine frame ${mfn}`);
    }
    return undefined;
  }

  #copyOut(maddr: number, dst: Uint8Array, dstOffset: number, len: number): void {
    let done = 0;
    while (done < len) {
      const a = maddr + done;
      const off = a & (PAGE_SIZE - 1);
      const n = Math.min(PAGE_SIZE - off, len - done);
      const f = this.#written(Math.floor(a / PAGE_SIZE));
      if (f) {
        if (n <= SMALL_COPY) {
          // A WQE, a CQE, a doorbell record: byte by byte costs less than the view `set` needs.
          const d = dstOffset + done;
          for (let i = 0; i < n; i++) dst[d + i] = f[off + i];
        } else dst.set(f.subarray(off, off + n), dstOffset + done);
      } else dst.fill(0, dstOffset + done, dstOffset + done + n);
      done += n;
    }
  }

  /** Write bytes at machine address `maddr` (may cross frames). */
  write(maddr: number, bytes: Uint8Array): void {
    const mfn = Math.floor(maddr / PAGE_SIZE);
    const io = this.#mmioFor(mfn);
    if (io) return io.mmioWrite(mfn, maddr & (PAGE_SIZE - 1), bytes);
    const first = maddr & (PAGE_SIZE - 1);
    if (bytes.length > 0 && first + bytes.length <= PAGE_SIZE) {
      // Within one frame: no subarray, but the write is logged like any other.
      if (this.#writeLogs !== undefined) this.noteWrite(mfn);
      return this.frame(mfn).set(bytes, first);
    }
    let done = 0;
    while (done < bytes.length) {
      const a = maddr + done;
      const off = a & (PAGE_SIZE - 1);
      const n = Math.min(PAGE_SIZE - off, bytes.length - done);
      const mfn = Math.floor(a / PAGE_SIZE);
      if (this.#writeLogs !== undefined) this.noteWrite(mfn);
      this.frame(mfn).set(bytes.subarray(done, done + n), off);
      done += n;
    }
  }

  /** A DataView over one whole frame, for structured access within a page. */
  view(mfn: number): DataView {
    const f = this.frame(mfn);
    return new DataView(f.buffer, f.byteOffset, f.byteLength);
  }
}
