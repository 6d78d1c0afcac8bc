/**
 * `RealMemory`: the real-hardware counterpart of a domain's memory
 * (`dom.memory.alloc/read/write`). On real hardware an address in an SGE,
 * an MR or `remoteAddr` is a virtual address of this process, and the HCA
 * DMAs to it through the MR's translation. Memory that Deno's GC may move or
 * free must never be registered, so real-hardware programs take their
 * buffers from a `RealMemory`: one page-aligned `ArrayBuffer` whose bytes
 * live outside the V8 heap (they never move) and stay alive as long as the
 * `RealMemory` or any MR registered over it. `alloc` hands out process
 * addresses inside it, so a program written against
 * `dom.memory.alloc/read/write` runs unchanged with `new RealMemory(bytes)`.
 *
 * @module
 */
import { addressOf } from "../../../hca/ffi/mod.ts";
import { VerbsError } from "../../uapi/errors.ts";

const PAGE = 4096;
const live = new Set<WeakRef<RealMemory>>();

/**
 * A Deno-owned, pinned buffer with a bump allocator over process addresses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RealMemory } from "./memory.ts";
 * const mem = new RealMemory(8192); // needs --allow-ffi (it takes the buffer's address)
 * const addr = mem.alloc(4096, 4096);
 * assert.equal(addr, mem.base); // page-aligned process address
 * mem.write(addr, new TextEncoder().encode("hello"));
 * assert.equal(new TextDecoder().decode(mem.read(addr, 5)), "hello");
 * mem.alloc(4096);
 * assert.throws(() => mem.alloc(1), { code: "ENOMEM" });
 * assert.throws(() => mem.read(addr + 8192, 1), { code: "EFAULT" }); // outside the buffer
 * ```
 */
export class RealMemory {
  /** Process address of the first usable byte (page-aligned). */
  readonly base: number;
  /** Usable bytes. */
  readonly size: number;
  #bytes: Uint8Array;
  #next = 0;

  /**
   * Allocate and pin the buffer (needs --allow-ffi to learn its address).
   *
   * @param bytes capacity, rounded up to whole pages
   */
  constructor(bytes: number) {
    if (!Number.isSafeInteger(bytes) || bytes <= 0) {
      throw new VerbsError("EINVAL", `RealMemory: size ${bytes} is not a positive integer`);
    }
    this.size = Math.ceil(bytes / PAGE) * PAGE;
    const raw = new Uint8Array(new ArrayBuffer(this.size + PAGE));
    const start = addressOf(raw);
    const pad = Number((BigInt(PAGE) - (start % BigInt(PAGE))) % BigInt(PAGE));
    const base = start + BigInt(pad);
    if (base + BigInt(this.size) > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new VerbsError("EFAULT", `RealMemory: address 0x${base.toString(16)} exceeds 2^53`);
    }
    this.base = Number(base);
    this.#bytes = raw.subarray(pad, pad + this.size);
    live.add(new WeakRef(this));
  }

  /** Bytes handed out so far (including alignment padding). */
  get used(): number {
    return this.#next;
  }

  /**
   * Reserve `bytes` and return their process address.
   *
   * @param align power of two (default 64, a cache line)
   * @throws VerbsError ENOMEM when the buffer is exhausted, EINVAL on bad arguments
   */
  alloc(bytes: number, align = 64): number {
    if (!Number.isSafeInteger(bytes) || bytes <= 0 || align <= 0 || (align & (align - 1)) !== 0) {
      throw new VerbsError("EINVAL", `RealMemory.alloc(${bytes}, ${align}): bad size or alignment`);
    }
    const off = Math.ceil((this.base + this.#next) / align) * align - this.base;
    if (off + bytes > this.size) {
      throw new VerbsError(
        "ENOMEM",
        `RealMemory.alloc(${bytes}): ${this.size - this.#next} of ${this.size} bytes left`,
      );
    }
    this.#next = off + bytes;
    return this.base + off;
  }

  /** True if `[addr, addr + len)` lies inside this buffer. */
  contains(addr: number, len: number): boolean {
    return addr >= this.base && len >= 0 && addr + len <= this.base + this.size;
  }

  /**
   * A live view of `[addr, addr + len)` (what the HCA reads and writes).
   *
   * @throws VerbsError EFAULT outside the buffer
   */
  view(addr: number, len: number): Uint8Array {
    if (!this.contains(addr, len)) {
      throw new VerbsError(
        "EFAULT",
        `RealMemory: [0x${addr.toString(16)}, +${len}) is outside ` +
          `[0x${this.base.toString(16)}, +${this.size})`,
      );
    }
    return this.#bytes.subarray(addr - this.base, addr - this.base + len);
  }

  /** A copy of `len` bytes at `addr`. */
  read(addr: number, len: number): Uint8Array {
    return this.view(addr, len).slice();
  }

  /** Copy `bytes` to `addr`. */
  write(addr: number, bytes: Uint8Array): void {
    this.view(addr, bytes.length).set(bytes);
  }

  /**
   * The live `RealMemory` holding `[addr, addr + len)`, if any: what `regMr`
   * and inline sends check before handing an address to C.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { RealMemory } from "./memory.ts";
   * const mem = new RealMemory(4096);
   * assert.equal(RealMemory.find(mem.base, 16), mem);
   * assert.equal(RealMemory.find(mem.base + 4090, 16), undefined); // runs past its end
   * ```
   */
  static find(addr: number, len: number): RealMemory | undefined {
    for (const ref of live) {
      const m = ref.deref();
      if (!m) live.delete(ref);
      else if (m.contains(addr, len)) return m;
    }
    return undefined;
  }
}
