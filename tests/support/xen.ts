/**
 * Helpers for hypervisor tests. A refused call must be a `XenError` with
 * the expected code and the matching Linux errno value.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  type Domain,
  type Hypervisor,
  XenErrno,
  type XenErrnoCode,
  XenError,
} from "../../hypervisor/mod.ts";
import { GuestGrantTable } from "../../drivers/xen/grant_table.ts";

function check(e: unknown, code: XenErrnoCode): XenError {
  assert.ok(e instanceof XenError, `expected XenError ${code}, got ${e}`);
  assert.equal(e.code, code, e.message);
  assert.equal(e.errno, XenErrno[code], e.message);
  return e;
}

/**
 * Await `p` and require it to reject with `code`; returns the error.
 *
 * @example
 * ```ts
 * import { rejectsXen } from "./xen.ts";
 * import { XenError } from "../../hypervisor/mod.ts";
 * await rejectsXen(Promise.reject(new XenError("EPERM", "no")), "EPERM");
 * ```
 */
export async function rejectsXen(p: Promise<unknown>, code: XenErrnoCode): Promise<XenError> {
  try {
    await p;
  } catch (e) {
    return check(e, code);
  }
  assert.fail(`expected ${code}, call succeeded`);
}

/**
 * Call `fn` and require it to throw `code`; returns the error.
 *
 * @example
 * ```ts
 * import { throwsXen } from "./xen.ts";
 * import { XenError } from "../../hypervisor/mod.ts";
 * throwsXen(() => { throw new XenError("ENOENT", "gone"); }, "ENOENT");
 * ```
 */
export function throwsXen(fn: () => unknown, code: XenErrnoCode): XenError {
  try {
    fn();
  } catch (e) {
    return check(e, code);
  }
  assert.fail(`expected ${code}, call succeeded`);
}

/**
 * A new guest of the smallest size whose address space is then used up, so
 * that mapping anything more into it (a grant, an I/O page) has no room.
 *
 * @example
 * ```ts
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../../sim/mod.ts";
 * import { Hypervisor } from "../../hypervisor/mod.ts";
 * import { fullDomain } from "./xen.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const vm = await engine.run(() => fullDomain(hv, "full"));
 * console.log(vm.name); // full
 * ```
 */
export async function fullDomain(hv: Hypervisor, name: string): Promise<Domain> {
  // 16 pages is the least createdomain accepts, plus the one grant-table frame.
  const dom = await hv.createDomain(hv.dom0, { name, memoryBytes: 17 << 12, grantFrames: 1 });
  for (;;) {
    try {
      dom.memory.alloc(4096, 4096);
    } catch {
      return dom;
    }
  }
}

/**
 * The grant-table client of `dom`'s kernel (one per domain; see
 * `drivers/xen/grant_table.ts`): what a guest kernel uses to grant pages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../../sim/mod.ts";
 * import { Hypervisor } from "../../hypervisor/mod.ts";
 * import { grantsOf } from "./xen.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * assert.equal(grantsOf(hv, hv.dom0), grantsOf(hv, hv.dom0));
 * ```
 */
export function grantsOf(hv: Hypervisor, dom: Domain): GuestGrantTable {
  return GuestGrantTable.of(dom, hv.engine, hv.profile.xen.grantEntryNs);
}
