/**
 * A domain kernel's side of its grant table (what Linux's `gnttab_*`
 * helpers in `drivers/xen/grant-table.c` do): allocate a free reference,
 * write the `grant_entry_v1_t` through the domain's own memory (the table
 * frames the hypervisor set up and mapped into it, `GNTTABOP_setup_table`),
 * end access when the peer is done. Refs below
 * `GNTTAB_NR_RESERVED_ENTRIES` are not handed out, as in Linux. The
 * hypervisor keeps the table itself (`hypervisor/grant_table.ts`): it
 * copies an entry out at map time and trusts nothing this client wrote.
 *
 * @module
 */
import type { AddressSpace } from "../../sim/address_space.ts";
import type { Engine } from "../../sim/engine.ts";
import { DOMID_FIRST_RESERVED, intArg } from "../../hypervisor/args.ts";
import { XenError } from "../../hypervisor/errors.ts";
import {
  decodeGrantEntry,
  encodeGrantEntry,
  GNTTAB_NR_RESERVED_ENTRIES,
  GRANT_ENTRIES_PER_FRAME,
  GRANT_ENTRY_V1_SIZE,
  type GrantEntryV1,
  GTF_permit_access,
  GTF_reading,
  GTF_readonly,
  GTF_writing,
} from "../../hypervisor/grant_table.ts";

/**
 * One domain kernel's grant-table client.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GuestGrantTable } from "./grant_table.ts";
 * import { AddressSpace, Engine, MachineMemory, Prng } from "../../sim/mod.ts";
 * const mem = new MachineMemory(16 << 20);
 * const as = new AddressSpace(mem, "vm", 1 << 20, new Prng(1));
 * const table = as.alloc(4096, 4096); // stands in for the Xen-provided frame
 * const engine = new Engine();
 * const g = new GuestGrantTable(as, [table], engine, 50);
 * await engine.run(async () => {
 *   const ref = await g.grantAccess(0, 42, true);
 *   assert.equal(ref, 8); // the first ref past the reserved ones
 *   assert.deepEqual(g.readEntry(ref), { flags: 5, domid: 0, frame: 42 }); // permit_access | readonly
 *   await g.endAccess(ref);
 *   assert.equal(g.inUse, 0);
 * });
 * ```
 */
export class GuestGrantTable {
  static #of = new WeakMap<object, GuestGrantTable>();
  /**
   * Refs given back, the last on top; below them, implicitly, every ref from {@link #fresh} up,
   * never handed out. Together the free list Linux's `gnttab_list` keeps, taken from the same end
   * (`get_free_entries`: lowest fresh ref first, else the last one freed), without an entry per
   * free ref: a table of 32 frames has 16,376 of them, in every guest.
   */
  #free: number[] = [];
  #fresh = GNTTAB_NR_RESERVED_ENTRIES;
  #used = new Set<number>();

  /**
   * The client of `dom`'s kernel: one per domain, so every driver in it
   * hands out refs from the same free list (made on first use).
   * @param dom the domain (its memory and the table frames Xen mapped into it)
   * @param engine for the cost of writing an entry
   * @param entryNs cost of one entry write (`profile.xen.grantEntryNs`)
   */
  static of(
    dom: { readonly memory: AddressSpace; readonly grantTableAddrs: readonly number[] },
    engine: Engine,
    entryNs: number,
  ): GuestGrantTable {
    let g = GuestGrantTable.#of.get(dom);
    if (!g) {
      g = new GuestGrantTable(dom.memory, dom.grantTableAddrs, engine, entryNs);
      GuestGrantTable.#of.set(dom, g);
    }
    return g;
  }

  /**
   * Every ref from {@link GNTTAB_NR_RESERVED_ENTRIES} up starts free; the lowest is handed out
   * first.
   * @param memory the guest's address space
   * @param frameAddrs guest address of each table frame
   * @param engine for the cost of writing an entry
   * @param entryNs cost of one entry write (`profile.xen.grantEntryNs`)
   */
  constructor(
    private memory: AddressSpace,
    private frameAddrs: readonly number[],
    private engine: Engine,
    private entryNs: number,
  ) {}

  /** Entries in the table. */
  get size(): number {
    return this.frameAddrs.length * GRANT_ENTRIES_PER_FRAME;
  }

  /** References handed out and not yet ended. */
  get inUse(): number {
    return this.#used.size;
  }

  /** Guest address of entry `ref` (for code that writes entries itself). */
  entryAddr(ref: number): number {
    const r = intArg(ref, 0, this.size - 1, "grant entry: ref");
    return this.frameAddrs[Math.floor(r / GRANT_ENTRIES_PER_FRAME)] +
      (r % GRANT_ENTRIES_PER_FRAME) * GRANT_ENTRY_V1_SIZE;
  }

  /** Entry `ref` as the guest sees it now. */
  readEntry(ref: number): GrantEntryV1 {
    return decodeGrantEntry(this.#io(() => this.memory.read(this.entryAddr(ref), 8)));
  }

  #io<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof XenError) throw err;
      throw new XenError("EFAULT", `grant table not accessible: ${(err as Error).message}`);
    }
  }

  /**
   * Grant `domid` access to the guest page `pfn`; returns the reference.
   * Costs `grantEntryNs`. ENOSPC when the table is full.
   */
  async grantAccess(domid: number, pfn: number, readonly = false): Promise<number> {
    const ref = this.grantAccessNow(domid, pfn, readonly);
    await this.engine.sleep(this.entryNs);
    return ref;
  }

  /** {@link grantAccess} without the time cost (the caller charges it, e.g. per batch). */
  grantAccessNow(domid: number, pfn: number, readonly = false): number {
    const what = "gnttab_grant_foreign_access";
    const d = intArg(domid, 0, DOMID_FIRST_RESERVED - 1, `${what}: domid`);
    const f = intArg(pfn, 0, 0xffffffff, `${what}: frame`);
    const ref = this.#free.pop() ?? (this.#fresh < this.size ? this.#fresh++ : undefined);
    if (ref === undefined) throw new XenError("ENOSPC", `${what}: all ${this.size} refs in use`);
    const flags = GTF_permit_access | (readonly ? GTF_readonly : 0);
    // Frame and domid must be in place before flags make the entry valid;
    // one 8-byte write with flags included is equivalent in a single thread.
    try {
      this.#io(() =>
        this.memory.write(this.entryAddr(ref), encodeGrantEntry({ flags, domid: d, frame: f }))
      );
    } catch (err) {
      this.#free.push(ref);
      throw err;
    }
    this.#used.add(ref);
    return ref;
  }

  /**
   * End access through `ref` and free it. EBUSY while the peer has it mapped
   * (`GTF_reading`/`GTF_writing` set by Xen); EINVAL for a ref not in use.
   * Costs `grantEntryNs`.
   */
  async endAccess(ref: number): Promise<void> {
    this.endAccessNow(ref);
    await this.engine.sleep(this.entryNs);
  }

  /** {@link endAccess} without the time cost. */
  endAccessNow(ref: number): void {
    const what = "gnttab_end_foreign_access";
    const r = intArg(ref, 0, this.size - 1, `${what}: ref`);
    if (!this.#used.has(r)) throw new XenError("EINVAL", `${what}: ref ${r} is not in use`);
    const e = this.readEntry(r);
    if ((e.flags & (GTF_reading | GTF_writing)) !== 0) {
      throw new XenError("EBUSY", `${what}: ref ${r} is mapped by dom${e.domid}`);
    }
    this.#io(() => this.memory.write(this.entryAddr(r), new Uint8Array(2)));
    this.#used.delete(r);
    this.#free.push(r);
  }
}
