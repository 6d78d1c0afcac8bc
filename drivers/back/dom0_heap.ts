/**
 * Dom0's kernel heap for backend buffers (the split datapath's shadow
 * queues): page runs carved from one region reserved at boot.
 *
 * Why a region of its own: in Xen, dom0's memory is its reservation,
 * fixed at boot, and the dom0 kernel allocating a page does not change
 * what the hypervisor counts. The model's address spaces take frames
 * lazily, and a freed allocation keeps its frames; left alone, each
 * guest's lifetime would leave dom0's frame count a little different,
 * and DESIGN §9 invariant 6 (counts return to their value before the
 * guest existed) could not be checked exactly. So dom0 populates the
 * heap once at boot, and {@link sealDom0Space} consumes the populated
 * slack that grant mappings would otherwise land on (and give back).
 *
 * @module
 */
import type { AddressSpace } from "../../sim/address_space.ts";
import { PAGE_SIZE } from "../../sim/memory.ts";
import { VerbsError } from "../uapi/errors.ts";

/**
 * First-fit page allocator over a reserved region.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressSpace, MachineMemory, Prng } from "../../sim/mod.ts";
 * import { Dom0Heap } from "./dom0_heap.ts";
 * const space = new AddressSpace(new MachineMemory(64 << 20), "dom0", 32 << 20, new Prng(1));
 * const heap = Dom0Heap.reserve(space, 1 << 20);
 * const a = heap.alloc(8192);
 * assert.equal(heap.pagesFree, 254);
 * heap.free(a);
 * assert.equal(heap.pagesFree, 256); // 1 MiB of 4 KiB pages
 * ```
 */
export class Dom0Heap {
  #free: { start: number; pages: number }[];
  #used = new Map<number, number>();

  private constructor(readonly space: AddressSpace, readonly base: number, readonly pages: number) {
    this.#free = [{ start: base, pages }];
  }

  /** Reserve and populate `bytes` (rounded to 64 KiB) of `space` as a heap. */
  static reserve(space: AddressSpace, bytes: number): Dom0Heap {
    const chunk = 16 * PAGE_SIZE;
    const size = Math.max(chunk, Math.ceil(bytes / chunk) * chunk);
    const base = space.alloc(size, chunk);
    return new Dom0Heap(space, base, size / PAGE_SIZE);
  }

  /** First byte after the heap. */
  get end(): number {
    return this.base + this.pages * PAGE_SIZE;
  }

  /** Pages not allocated. */
  get pagesFree(): number {
    return this.#free.reduce((n, r) => n + r.pages, 0);
  }

  /** Allocate whole zeroed pages for `bytes`; ENOMEM when no run is long enough. */
  alloc(bytes: number): number {
    const n = Math.max(1, Math.ceil(bytes / PAGE_SIZE));
    const i = this.#free.findIndex((r) => r.pages >= n);
    if (i < 0) {
      throw new VerbsError("ENOMEM", `dom0 heap: no run of ${n} pages (${this.pagesFree} free)`);
    }
    const r = this.#free[i];
    const addr = r.start;
    r.start += n * PAGE_SIZE;
    r.pages -= n;
    if (r.pages === 0) this.#free.splice(i, 1);
    this.#used.set(addr, n);
    // A reused run may hold an old queue: a stale owner bit must not look valid.
    this.space.write(addr, new Uint8Array(n * PAGE_SIZE));
    return addr;
  }

  /** Return an allocation. */
  free(addr: number): void {
    const n = this.#used.get(addr);
    if (n === undefined) {
      throw new VerbsError("EINVAL", `dom0 heap: 0x${addr.toString(16)} not allocated`);
    }
    this.#used.delete(addr);
    this.#free.push({ start: addr, pages: n });
    this.#free.sort((a, b) => a.start - b.start);
    const merged: { start: number; pages: number }[] = [];
    for (const r of this.#free) {
      const last = merged[merged.length - 1];
      if (last && last.start + last.pages * PAGE_SIZE === r.start) last.pages += r.pages;
      else merged.push({ ...r });
    }
    this.#free = merged;
  }
}

/**
 * Map and unmap throw-away pages until a fresh mapping lands above `end`:
 * every page below that the allocator had populated ahead of use is then
 * given back once, at boot, instead of at the first guest's first grant
 * mapping (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressSpace, MachineMemory, Prng } from "../../sim/mod.ts";
 * import { sealDom0Space } from "./dom0_heap.ts";
 * const mem = new MachineMemory(64 << 20);
 * const space = new AddressSpace(mem, "dom0", 32 << 20, new Prng(1));
 * const io = mem.attachMmio(1, { mmioWrite() {}, mmioRead: (_m, _o, n) => new Uint8Array(n) });
 * space.alloc(4096, 4096); // populates a 16-page chunk
 * sealDom0Space(space, 16 * 4096, io);
 * const before = space.framesOwned;
 * space.unmapForeign(space.mapForeign(io));
 * assert.equal(space.framesOwned, before); // mapping a foreign frame took no frame of dom0's own
 * ```
 */
export function sealDom0Space(space: AddressSpace, end: number, anyMfn: number): void {
  const probes: number[] = [];
  for (;;) {
    const a = space.mapForeign(anyMfn);
    probes.push(a);
    if (a >= end) break;
  }
  for (const a of probes) space.unmapForeign(a);
}
