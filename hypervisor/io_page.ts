/**
 * I/O-page mapping: the hypervisor installs a device I/O frame (an HCA UAR
 * page) into one guest's address space, on dom0's request. This is what
 * makes VMM-bypass safe: a guest can ring doorbells only on the UAR page
 * dom0 gave it, and no frame is ever given to two guests.
 *
 * Refusals: a frame that is RAM, EPERM (mapping someone's memory is not
 * what this call is for); a number that is neither RAM nor a device page,
 * EINVAL; a frame already mapped into a guest, EBUSY; unmapping a frame that
 * is not mapped into that guest, EINVAL. Privilege (dom0 only) is checked by
 * the hypervisor before it calls in here.
 *
 * @module
 */
import type { MachineMemory } from "../sim/memory.ts";
import type { AddressSpace } from "../sim/address_space.ts";
import { XenError } from "./errors.ts";
import { intArg } from "./args.ts";

/**
 * What the I/O-page code needs of a domain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressSpace, MachineMemory, Prng } from "../sim/mod.ts";
 * import { IoPages, type IoPageTarget } from "./io_page.ts";
 * const mem = new MachineMemory(16 << 20);
 * const uar = mem.attachMmio(1, { mmioWrite() {}, mmioRead: (_m, _o, n) => new Uint8Array(n) });
 * const guest: IoPageTarget = {
 *   domid: 3,
 *   memory: new AddressSpace(mem, "dom3", 8 << 20, new Prng(2)),
 * };
 * new IoPages(mem).map(guest, uar);
 * assert.equal(guest.memory.foreignMapped, 1); // the device page, not the guest's own frame
 * ```
 */
export interface IoPageTarget {
  /** Domain id. */
  readonly domid: number;
  /** Its address space. */
  readonly memory: AddressSpace;
}

/**
 * The I/O frames mapped into guests on one host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IoPages } from "./io_page.ts";
 * import { AddressSpace, MachineMemory, Prng } from "../sim/mod.ts";
 * const mem = new MachineMemory(16 << 20);
 * const uar = mem.attachMmio(4, { mmioWrite() {}, mmioRead: (_m, _o, n) => new Uint8Array(n) });
 * const vm = { domid: 1, memory: new AddressSpace(mem, "dom1", 1 << 20, new Prng(1)) };
 * const io = new IoPages(mem);
 * const addr = io.map(vm, uar);
 * assert.equal(vm.memory.translate(addr) / 4096, uar);
 * assert.equal(io.holderOf(uar), 1);
 * assert.throws(() => io.map(vm, 5), { code: "EPERM", message: /frame 5 is RAM/ });
 * ```
 */
export class IoPages {
  #byMfn = new Map<number, { target: IoPageTarget; addr: number }>();

  /**
   * Nothing mapped yet.
   * @param mem the host's machine memory (to tell I/O frames from RAM)
   */
  constructor(private mem: MachineMemory) {}

  /** I/O frames mapped into guests now. */
  get mapped(): number {
    return this.#byMfn.size;
  }

  /** I/O frames mapped into `domid`. */
  mappedInto(domid: number): number {
    let n = 0;
    for (const m of this.#byMfn.values()) if (m.target.domid === domid) n++;
    return n;
  }

  /** Every I/O frame mapped into a guest, with where (for audits). */
  *mappings(): Generator<{ mfn: number; domid: number; addr: number }> {
    for (const [mfn, m] of this.#byMfn) yield { mfn, domid: m.target.domid, addr: m.addr };
  }

  /** The guest an I/O frame is mapped into, if any. */
  holderOf(mfn: number): number | undefined {
    return this.#byMfn.get(mfn)?.target.domid;
  }

  /** Map I/O frame `mfn` into `target`; returns the guest address. */
  map(target: IoPageTarget, mfn: unknown): number {
    const what = `map I/O page into dom${target.domid}`;
    const f = intArg(mfn, 0, Number.MAX_SAFE_INTEGER, `${what}: mfn`);
    if (!this.mem.isMmio(f)) {
      if (f >= 1 && f < this.mem.frames) {
        throw new XenError("EPERM", `${what}: frame ${f} is RAM, not a device I/O page`);
      }
      throw new XenError("EINVAL", `${what}: frame ${f} is not a device I/O page`);
    }
    const held = this.#byMfn.get(f);
    if (held) {
      throw new XenError("EBUSY", `${what}: I/O frame ${f} is mapped into dom${held.target.domid}`);
    }
    let addr: number;
    try {
      addr = target.memory.mapForeign(f);
    } catch (err) {
      throw new XenError("ENOMEM", `${what}: no room in address space (${(err as Error).message})`);
    }
    this.#byMfn.set(f, { target, addr });
    return addr;
  }

  /** Unmap I/O frame `mfn` from guest `domid`. */
  unmap(domid: number, mfn: unknown): void {
    const what = `unmap I/O page from dom${domid}`;
    const f = intArg(mfn, 0, Number.MAX_SAFE_INTEGER, `${what}: mfn`);
    const held = this.#byMfn.get(f);
    if (!held || held.target.domid !== domid) {
      throw new XenError("EINVAL", `${what}: frame ${f} is not mapped into dom${domid}`);
    }
    held.target.memory.unmapForeign(held.addr);
    this.#byMfn.delete(f);
  }

  /**
   * Teardown: unmap every I/O frame mapped into `domid`. Every one is
   * released even if one fails; the failures are thrown together at the end.
   */
  releaseDomain(domid: number): void {
    const errors: unknown[] = [];
    for (const [mfn, m] of [...this.#byMfn]) {
      if (m.target.domid !== domid) continue;
      this.#byMfn.delete(mfn);
      try {
        m.target.memory.unmapForeign(m.addr);
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) {
      throw new AggregateError(errors, `unmapping dom${domid}'s I/O pages`);
    }
  }
}
