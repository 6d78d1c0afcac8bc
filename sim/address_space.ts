/**
 * A software address space over machine memory: page-granular mapping from
 * the addresses a domain (or a bare-metal process) uses to machine frames,
 * with a simple allocator. For a Xen domain this is its P2M table
 * (pseudo-physical frame → machine frame); for a bare-metal OS it is the
 * process page table. Either way, guest-contiguous pages are deliberately
 * not machine-contiguous, so that the HCA's MTT translation is exercised.
 *
 * Frames are taken from machine memory when an allocation first covers a
 * page, not when the space is created: a 64 MiB guest costs nothing until
 * it allocates.
 *
 * Reference counting (see `memory.ts`): a page the space owns holds its
 * frame's allocation reference; a foreign mapping (a grant mapping, an I/O
 * page, a shared-info or grant-table frame) holds one reference of its own
 * on the frame it maps, taken at {@link AddressSpace.mapForeign} and dropped
 * at {@link AddressSpace.unmapForeign}. When a foreign mapping replaces a
 * page the space owned (a page populated ahead of use, or one the program
 * freed), the space gives that frame back as Xen does when a guest's P2M
 * entry is replaced (`guest_remove_page`): it drops the allocation
 * reference, and the frame returns to the heap only if nothing else — a
 * grant mapping in dom0, an MTT entry — still holds it.
 *
 * @module
 */
import { type MachineMemory, PAGE_SIZE } from "./memory.ts";
import type { Prng } from "./prng.ts";
import { Errno } from "./errno.ts";

/** Pages populated together; their machine frames are shuffled within the chunk. */
const CHUNK = 16;

/**
 * Error for a bad address or an exhausted space.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressSpace, AddressSpaceError } from "./address_space.ts";
 * import { MachineMemory } from "./memory.ts";
 * import { Prng } from "./prng.ts";
 * const as = new AddressSpace(new MachineMemory(1 << 20), "dom1", 64 << 10, new Prng(1));
 * assert.throws(
 *   () => as.alloc(1 << 20),
 *   (e) => e instanceof AddressSpaceError && e.code === "ENOMEM",
 * );
 * assert.throws(() => as.read(0, 4), { name: "AddressSpaceError", code: "EFAULT", errno: 14 });
 * ```
 */
export class AddressSpaceError extends Error {
  /** Linux errno value of `code` (EFAULT 14, ENOMEM 12, EINVAL 22). */
  readonly errno: number;
  /**
   * A fault of kind `code`.
   *
   * @param code errno-style name (`EFAULT`, `ENOMEM`, `EINVAL`)
   * @param message what was wrong
   */
  constructor(readonly code: "EFAULT" | "ENOMEM" | "EINVAL", message: string) {
    super(message);
    this.name = "AddressSpaceError";
    this.errno = Errno[code];
  }
}

interface Mapping {
  mfn: number;
  /** Frame belongs to this space (freed with it) or is a foreign mapping. */
  owned: boolean;
  readonly: boolean;
}

/**
 * A reference a space holds on a machine frame (for audits): the
 * allocation reference of a page it owns, or a foreign mapping's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressSpace, MachineMemory, Prng } from "./mod.ts";
 * import type { SpaceReference } from "./address_space.ts";
 * const mem = new MachineMemory(1 << 20);
 * const as = new AddressSpace(mem, "dom1", 256 << 10, new Prng(1));
 * as.alloc(4096, 4096);
 * as.mapForeign(mem.allocFrame("dom2")); // someone else's frame
 * const refs: SpaceReference[] = [...as.references()];
 * assert.equal(refs.filter((r) => r.owned).length, as.framesOwned);
 * assert.equal(refs.filter((r) => !r.owned).length, 1);
 * ```
 */
export interface SpaceReference {
  /** Page number in the space. */
  pfn: number;
  /** Machine frame. */
  mfn: number;
  /** The space's own page (allocation reference) or a foreign mapping (a reference of its own). */
  owned: boolean;
  /** Mapped read-only. */
  readonly: boolean;
}

/**
 * The allocator's bookkeeping of an address space: what a guest kernel's
 * page allocator knows (the break, the free runs, each allocation's size).
 * It lives in guest memory on a real machine, so live migration carries it
 * to the destination with the pages ({@link AddressSpace.allocatorState},
 * {@link AddressSpace.adoptAllocatorState}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressSpace, MachineMemory, Prng } from "./mod.ts";
 * import type { AllocatorState } from "./address_space.ts";
 * const as = new AddressSpace(new MachineMemory(1 << 20), "vm", 256 << 10, new Prng(1));
 * const a = as.alloc(4096, 4096);
 * const s: AllocatorState = as.allocatorState();
 * assert.deepEqual(s.allocs, [[a, 4096]]);
 * ```
 */
export interface AllocatorState {
  /** First address never handed out. */
  brk: number;
  /** Runs given back, in address order. */
  freeRuns: { start: number; len: number }[];
  /** Live allocations: address and size. */
  allocs: [number, number][];
}

/**
 * Address space of one domain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressSpace, MachineMemory, Prng } from "./mod.ts";
 * const mem = new MachineMemory(64 << 20);
 * const as = new AddressSpace(mem, "vm0", 16 << 20, new Prng(1));
 * const a = as.alloc(8192, 4096);
 * as.write(a + 4090, new Uint8Array(10).fill(7)); // crosses a page boundary
 * assert.deepEqual(as.read(a + 4090, 10), new Uint8Array(10).fill(7));
 * assert.notEqual(as.translate(a + 4096), as.translate(a) + 4096); // not machine-contiguous
 * assert.equal(mem.ownerOf(as.translate(a) / 4096), "vm0");
 * ```
 */
export class AddressSpace {
  /** Pages in the space. */
  readonly pages: number;
  #map = new Map<number, Mapping>();
  /**
   * The mappings {@link translate} found last, by the low bits of their page
   * numbers (a provider writes its WQE page, then its UAR page, then polls
   * its CQ page, message after message: no map lookup for them). Mappings
   * are never changed in place; every change of the map empties this.
   */
  #hotPfn = [-1, -1, -1, -1];
  #hotMap: (Mapping | undefined)[] = [undefined, undefined, undefined, undefined];
  #brk = PAGE_SIZE; // page 0 stays unmapped: address 0 is never valid
  #freeRuns: { start: number; len: number }[] = [];
  #allocs = new Map<number, number>();
  #ownedFrames = 0;
  /** Own frames back to their pages (Xen's M2P, `machine_to_phys_mapping`). */
  #m2p = new Map<number, number>();
  #released = false;

  /**
   * @param mem the host's machine memory
   * @param owner label for frames taken (shown by the memory's ownerOf)
   * @param bytes size of the space
   * @param rng decides frame placement within a chunk
   */
  constructor(
    readonly mem: MachineMemory,
    readonly owner: string,
    bytes: number,
    private rng: Prng,
  ) {
    this.pages = Math.floor(bytes / PAGE_SIZE);
  }

  /** Machine frames this space owns now. */
  get framesOwned(): number {
    return this.#ownedFrames;
  }

  /** Foreign (not owned) frames mapped now. */
  get foreignMapped(): number {
    return this.#map.size - this.#ownedFrames;
  }

  /**
   * Allocate `bytes` (rounded up to `align`, default 64) and back the pages
   * with machine frames. Returns the address.
   */
  alloc(bytes: number, align = 64): number {
    this.#alive("alloc");
    const addr = this.#reserve(bytes, align);
    // Division, not `>>`: addresses reach 2^31 and beyond (a 4 GiB host),
    // where a 32-bit shift turns negative and would populate nothing.
    this.#populate(
      Math.floor(addr / PAGE_SIZE),
      Math.floor((addr + this.#allocs.get(addr)! - 1) / PAGE_SIZE),
    );
    return addr;
  }

  #reserve(bytes: number, align: number): number {
    if (!Number.isInteger(bytes) || bytes <= 0) {
      throw new AddressSpaceError("EINVAL", `alloc: size must be a positive integer, got ${bytes}`);
    }
    if (!Number.isInteger(align) || align <= 0 || (align & (align - 1)) !== 0) {
      throw new AddressSpaceError("EINVAL", `alloc: align must be a power of two, got ${align}`);
    }
    const size = Math.ceil(bytes / 64) * 64;
    let addr = -1;
    for (let i = 0; i < this.#freeRuns.length; i++) {
      const r = this.#freeRuns[i];
      const a = Math.ceil(r.start / align) * align;
      if (a + size <= r.start + r.len) {
        addr = a;
        this.#takeFromRun(i, a, size);
        break;
      }
    }
    if (addr < 0) {
      const a = Math.ceil(this.#brk / align) * align;
      if (a + size > this.pages * PAGE_SIZE) {
        throw new AddressSpaceError(
          "ENOMEM",
          `${this.owner}: out of memory allocating ${bytes} bytes (${
            this.pages * PAGE_SIZE
          } in space)`,
        );
      }
      if (a > this.#brk) this.#freeRuns.push({ start: this.#brk, len: a - this.#brk });
      this.#brk = a + size;
      addr = a;
    }
    this.#allocs.set(addr, size);
    return addr;
  }

  /** Free an allocation made by {@link alloc}; its frames stay with the space. */
  free(addr: number): void {
    const size = this.#allocs.get(addr);
    if (size === undefined) {
      throw new AddressSpaceError("EINVAL", `free: ${addr} was not allocated`);
    }
    this.#allocs.delete(addr);
    this.#freeRuns.push({ start: addr, len: size });
    this.#freeRuns.sort((a, b) => a.start - b.start);
    const merged: { start: number; len: number }[] = [];
    for (const r of this.#freeRuns) {
      const last = merged[merged.length - 1];
      if (last && last.start + last.len === r.start) last.len += r.len;
      else merged.push({ ...r });
    }
    this.#freeRuns = merged;
  }

  #takeFromRun(i: number, a: number, size: number): void {
    const r = this.#freeRuns[i];
    const parts = [];
    if (a > r.start) parts.push({ start: r.start, len: a - r.start });
    const end = r.start + r.len;
    if (a + size < end) parts.push({ start: a + size, len: end - a - size });
    this.#freeRuns.splice(i, 1, ...parts);
  }

  /** Refuse what would give a torn-down space memory (see {@link releaseAll}). */
  #alive(what: string): void {
    if (this.#released) {
      throw new AddressSpaceError("EFAULT", `${this.owner}: ${what}: the space was torn down`);
    }
  }

  #populate(first: number, last: number): void {
    this.#alive("populate");
    for (let c = Math.floor(first / CHUNK) * CHUNK; c <= last; c += CHUNK) {
      const want: number[] = [];
      for (let p = Math.max(c, 1); p < c + CHUNK && p < this.pages; p++) {
        if (!this.#map.has(p)) want.push(p);
      }
      if (want.length === 0) continue;
      // Descending order, rotated by a seeded amount: page p+1 never lands
      // on frame mfn(p)+1, so a device that ignores its MTT gets caught.
      const asc: number[] = [];
      try {
        for (let i = 0; i < want.length; i++) asc.push(this.mem.allocFrame(this.owner));
      } catch (err) {
        // All of a chunk or none of it: frames taken before the failure go back.
        for (const m of asc) this.mem.freeFrame(m);
        throw err;
      }
      const desc = asc.reverse();
      const rot = desc.length > 2 ? this.rng.int(desc.length) : 0;
      const frames = [...desc.slice(rot), ...desc.slice(0, rot)];
      want.forEach((p, i) => {
        this.#map.set(p, { mfn: frames[i], owned: true, readonly: false });
        this.#m2p.set(frames[i], p);
      });
      this.#forgetHot();
      this.#ownedFrames += frames.length;
    }
  }

  #forgetHot(): void {
    this.#hotPfn.fill(-1);
    this.#hotMap.fill(undefined);
  }

  /** Machine frame behind page number `pfn`, or undefined if unmapped. */
  mfnOf(pfn: number): number | undefined {
    return this.#map.get(pfn)?.mfn;
  }

  /**
   * The page an own frame backs (the M2P lookup a hypervisor makes to turn
   * a written machine frame into the domain's dirty page), or undefined for
   * a frame the space does not own.
   */
  pfnOf(mfn: number): number | undefined {
    return this.#m2p.get(mfn);
  }

  /** Every own page that has a frame, as `[pfn, mfn]`, in page order. */
  ownPages(): [number, number][] {
    const out: [number, number][] = [];
    for (const [pfn, m] of this.#map) if (m.owned) out.push([pfn, m.mfn]);
    return out.sort((a, b) => a[0] - b[0]);
  }

  /** A copy of the allocator's bookkeeping (see {@link AllocatorState}). */
  allocatorState(): AllocatorState {
    return {
      brk: this.#brk,
      freeRuns: this.#freeRuns.map((r) => ({ ...r })),
      allocs: [...this.#allocs],
    };
  }

  /**
   * Take over another space's allocator bookkeeping (the destination of a
   * live migration, once the last pages are in): from now on `alloc`
   * hands out what the source's allocator would have. Pages keep their
   * frames; a page the state calls free may hold a frame, as after `free`.
   * @throws AddressSpaceError EINVAL if the state does not fit this space
   */
  adoptAllocatorState(s: AllocatorState): void {
    if (!Number.isInteger(s.brk) || s.brk < PAGE_SIZE || s.brk > this.pages * PAGE_SIZE) {
      throw new AddressSpaceError("EINVAL", `${this.owner}: allocator break ${s.brk} out of range`);
    }
    this.#brk = s.brk;
    this.#freeRuns = s.freeRuns.map((r) => ({ ...r }));
    this.#allocs = new Map(s.allocs);
  }

  /** True if the page is mapped and owned by this space (not a foreign mapping). */
  owns(pfn: number): boolean {
    return this.#map.get(pfn)?.owned === true;
  }

  /**
   * True if `pfn` is one of the space's own pseudo-physical pages, populated
   * or not: inside the space, not page 0, not a foreign mapping. Xen's rule
   * for what a domain may grant: every pseudo-physical frame of its
   * reservation is its own, whether or not its allocator handed it out
   * (`xen/common/grant_table.c` map_grant_ref: `get_page(page, rd)`).
   */
  isOwnPage(pfn: number): boolean {
    if (!Number.isInteger(pfn) || pfn < 1 || pfn >= this.pages) return false;
    const m = this.#map.get(pfn);
    return m === undefined || m.owned;
  }

  /**
   * The frame behind own page `pfn`, populating it on first use (Xen's
   * populate-on-demand: a page the guest never touched gets its frame when
   * something needs it). Undefined when `pfn` is not an own page
   * ({@link isOwnPage}); throws AddressSpaceError ENOMEM when machine memory
   * is exhausted, EFAULT once the space was torn down.
   */
  populatePage(pfn: number): number | undefined {
    this.#alive("populate");
    if (!this.isOwnPage(pfn)) return undefined;
    if (!this.#map.has(pfn)) {
      try {
        this.#populate(pfn, pfn);
      } catch (err) {
        throw new AddressSpaceError(
          "ENOMEM",
          `${this.owner}: no machine frame for page ${pfn} (${(err as Error).message})`,
        );
      }
    }
    return this.#map.get(pfn)!.mfn;
  }

  /** Every mapping of the space and the reference it holds (for audits). */
  *references(): Generator<SpaceReference> {
    for (const [pfn, m] of this.#map) {
      yield { pfn, mfn: m.mfn, owned: m.owned, readonly: m.readonly };
    }
  }

  /** Machine address of `addr`; throws EFAULT if unmapped. */
  translate(addr: number, write = false): number {
    const pfn = Math.floor(addr / PAGE_SIZE), h = pfn & 3;
    let m = this.#hotPfn[h] === pfn ? this.#hotMap[h] : undefined;
    if (m === undefined) {
      m = this.#map.get(pfn);
      if (m !== undefined) {
        this.#hotPfn[h] = pfn;
        this.#hotMap[h] = m;
      }
    }
    if (!m) {
      throw new AddressSpaceError(
        "EFAULT",
        `${this.owner}: address 0x${addr.toString(16)} is not mapped${
          this.#released ? " (the space was torn down: its domain is gone)" : ""
        }`,
      );
    }
    if (write && m.readonly) {
      throw new AddressSpaceError(
        "EFAULT",
        `${this.owner}: address 0x${addr.toString(16)} is read-only`,
      );
    }
    return m.mfn * PAGE_SIZE + (addr & (PAGE_SIZE - 1));
  }

  /** Read `len` bytes at `addr`: a fresh copy the caller may keep and modify. */
  read(addr: number, len: number): Uint8Array {
    this.#check(addr, len);
    // A long read's last page is looked up before the copy is allocated: a length no space
    // holds (2^53) is EFAULT, not a RangeError from the allocation.
    if (len > 65536) this.translate(addr + len - 1);
    const out = new Uint8Array(len);
    this.#copyOut(addr, out, 0, len);
    return out;
  }

  /**
   * Copy `len` bytes at `addr` into `dst` from `dstOffset` on, without
   * allocating.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { AddressSpace, MachineMemory, Prng } from "./mod.ts";
   * const as = new AddressSpace(new MachineMemory(16 << 20), "vm0", 1 << 20, new Prng(1));
   * const a = as.alloc(8192, 4096);
   * as.write(a + 4094, new Uint8Array([1, 2, 3, 4])); // crosses a page boundary
   * const buf = new Uint8Array(4);
   * as.readInto(a + 4094, buf);
   * assert.deepEqual([...buf], [1, 2, 3, 4]);
   * ```
   */
  readInto(addr: number, dst: Uint8Array, dstOffset = 0, len = dst.length - dstOffset): void {
    this.#check(addr, len);
    if (!(dstOffset >= 0 && dstOffset + len <= dst.length)) {
      throw new RangeError(
        `readInto: ${len} bytes at offset ${dstOffset} do not fit a ${dst.length}-byte buffer`,
      );
    }
    this.#copyOut(addr, dst, dstOffset, len);
  }

  /**
   * The `len` bytes at `addr` for reading only: a view of machine memory
   * when they lie in one page (no copy), else a fresh copy. The caller must
   * not write through the result nor keep it past the next write there.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { AddressSpace, MachineMemory, Prng } from "./mod.ts";
   * const as = new AddressSpace(new MachineMemory(16 << 20), "vm0", 1 << 20, new Prng(1));
   * const a = as.alloc(64);
   * as.write(a, new Uint8Array([5, 6]));
   * assert.deepEqual([...as.peek(a, 2)], [5, 6]);
   * ```
   */
  peek(addr: number, len: number): Uint8Array {
    this.#check(addr, len);
    if (len > 0 && (addr & (PAGE_SIZE - 1)) + len <= PAGE_SIZE) {
      return this.mem.peek(this.translate(addr), len);
    }
    return this.read(addr, len);
  }

  #copyOut(addr: number, dst: Uint8Array, dstOffset: number, len: number): void {
    let done = 0;
    while (done < len) {
      const a = addr + done;
      const n = Math.min(PAGE_SIZE - (a & (PAGE_SIZE - 1)), len - done);
      this.mem.readInto(this.translate(a), dst, dstOffset + done, n);
      done += n;
    }
  }

  /** Write `bytes` at `addr`. */
  write(addr: number, bytes: Uint8Array): void {
    this.#check(addr, bytes.length);
    if (bytes.length > 0 && (addr & (PAGE_SIZE - 1)) + bytes.length <= PAGE_SIZE) {
      // Within one page (a WQE, a doorbell): no view of `bytes` to make.
      this.mem.write(this.translate(addr, true), bytes);
      return;
    }
    let done = 0;
    while (done < bytes.length) {
      const a = addr + done;
      const n = Math.min(PAGE_SIZE - (a & (PAGE_SIZE - 1)), bytes.length - done);
      this.mem.write(this.translate(a, true), bytes.subarray(done, done + n));
      done += n;
    }
  }

  #check(addr: number, len: number): void {
    if (!Number.isInteger(addr) || !Number.isInteger(len) || addr < 0 || len < 0) {
      throw new AddressSpaceError("EINVAL", `${this.owner}: bad range addr=${addr} len=${len}`);
    }
  }

  /** Page numbers covering [addr, addr+len). */
  pageRange(addr: number, len: number): number[] {
    const out = [];
    for (let p = Math.floor(addr / PAGE_SIZE); p * PAGE_SIZE < addr + len; p++) out.push(p);
    return out;
  }

  /**
   * Map a frame this space does not own (a grant mapping, an I/O page) at a
   * fresh page; returns the page's address. The mapping holds a reference
   * on the frame until {@link unmapForeign}. If the page had been populated
   * ahead of use, or freed by the program, its own frame is given back (the
   * allocation reference dropped; see the module doc): it returns to the
   * heap only when nothing else holds it.
   */
  mapForeign(mfn: number, readonly = false): number {
    this.#alive("map a foreign page");
    this.mem.getPage(mfn);
    let addr: number;
    try {
      addr = this.#reserve(PAGE_SIZE, PAGE_SIZE);
    } catch (err) {
      this.mem.putPage(mfn);
      throw err;
    }
    const pfn = Math.floor(addr / PAGE_SIZE);
    const own = this.#map.get(pfn);
    this.#map.set(pfn, { mfn, owned: false, readonly });
    this.#forgetHot();
    if (own?.owned) {
      this.#ownedFrames--;
      this.#m2p.delete(own.mfn);
      this.mem.freeFrame(own.mfn);
    }
    return addr;
  }

  /** Remove a foreign mapping made by {@link mapForeign}; its reference on the frame is dropped. */
  unmapForeign(addr: number): void {
    const pfn = Math.floor(addr / PAGE_SIZE);
    const m = this.#map.get(pfn);
    if (!m || m.owned || addr % PAGE_SIZE !== 0) {
      throw new AddressSpaceError(
        "EINVAL",
        `unmapForeign: 0x${addr.toString(16)} is not a foreign mapping`,
      );
    }
    this.#map.delete(pfn);
    this.#forgetHot();
    this.free(addr);
    this.mem.putPage(m.mfn);
  }

  /**
   * Teardown: give back every owned frame and drop every foreign mapping;
   * the space is dead from then on (allocating, populating or mapping in it
   * is EFAULT).
   * Each frame returns to the heap at its last reference: one another
   * domain still maps, or a device still reaches through an MTT entry,
   * stays allocated (and this space's owner's) until that reference goes
   * (a Xen domain is a zombie until then).
   */
  releaseAll(): void {
    // From now on nothing populates or maps pages here: code of the dead domain that still
    // runs (the model's processes outlive a crash) gets EFAULT, and no frame is ever
    // allocated to an owner that is gone.
    this.#released = true;
    const maps = [...this.#map.values()];
    this.#map.clear();
    this.#forgetHot();
    this.#m2p.clear();
    this.#allocs.clear();
    this.#freeRuns = [];
    this.#brk = PAGE_SIZE;
    this.#ownedFrames = 0;
    for (const m of maps) {
      if (m.owned) this.mem.freeFrame(m.mfn);
      else this.mem.putPage(m.mfn);
    }
  }
}
