/**
 * How dom0's kernel verbs layer reaches a guest's buffers: not through a
 * page table (the guest's addresses mean nothing in dom0) but through the
 * grant mappings the backend made for the call in progress. The backend
 * stages the machine frames of the buffer it just mapped, keyed by the
 * guest's page numbers; the verbs layer asks for the frames of a range and
 * gets exactly those, or EFAULT for any page the guest did not grant.
 *
 * @module
 */
import { PAGE_SIZE } from "../../sim/memory.ts";
import type { UserMemory } from "../native/ucontext.ts";
import { requestError } from "../uapi/errors.ts";

/**
 * A `UserMemory` over staged frames.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GrantedMemory } from "./granted_memory.ts";
 * const mem = new GrantedMemory();
 * mem.stage(0x10000, [77, 78]);
 * assert.deepEqual(mem.frames(0x10800, 4096), [77, 78]); // half of each staged page
 * mem.clear();
 * assert.throws(() => mem.frames(0x10000, 1), /EFAULT: page 0x10000 was not granted/);
 * ```
 */
export class GrantedMemory implements UserMemory {
  #pages = new Map<number, number>();

  /** Stage the frames of the pages covering a buffer that starts at `addr`, first page first. */
  stage(addr: number, mfns: readonly number[]): void {
    this.#pages.clear();
    const first = Math.floor(addr / PAGE_SIZE);
    mfns.forEach((m, i) => this.#pages.set(first + i, m));
  }

  /** Forget the staged frames (the call is over). */
  clear(): void {
    this.#pages.clear();
  }

  frames(addr: number, len: number): number[] {
    const out: number[] = [];
    for (let p = Math.floor(addr / PAGE_SIZE); p * PAGE_SIZE < addr + len; p++) {
      const m = this.#pages.get(p);
      if (m === undefined) {
        throw requestError(
          "EFAULT",
          `page 0x${(p * PAGE_SIZE).toString(16)} was not granted for this call`,
        );
      }
      out.push(m);
    }
    return out;
  }
}
