/**
 * Log-dirty mode (Xen's `XEN_DOMCTL_SHADOW_OP_*`, the hypervisor half of
 * live migration): while it is on for a domain, every page of the domain
 * that is written is marked in a bitmap that dom0's save loop reads and
 * clears once per round (`CLEAN`), or only counts (`PEEK`).
 *
 * What counts as a write: a store by the guest's CPU, a device's DMA into
 * a frame of the domain (the HCA writing received data or a CQE: the
 * device model knows machine frames only, so the hypervisor turns the
 * frame into the owner's page through the M2P, as Xen's
 * `paging_mark_dirty(d, mfn)` does), and a writable grant mapping that is
 * given up (`gnttab_mark_dirty`: a backend may have written through it).
 * The machine memory keeps the written frames per owner
 * (`MachineMemory.startWriteLog`); this module owns the per-domain switch
 * and the frame → page translation.
 *
 * @module
 */
import type { MachineMemory } from "../sim/memory.ts";
import type { Domain } from "./domain.ts";
import { XenError } from "./errors.ts";

/**
 * The `domctl:shadow_op` operations (`XEN_DOMCTL_SHADOW_OP_ENABLE_LOGDIRTY`,
 * `_CLEAN`, `_PEEK`, `_OFF`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SHADOW_OPS } from "./log_dirty.ts";
 * assert.deepEqual([...SHADOW_OPS], ["enable_logdirty", "clean", "peek", "off"]);
 * ```
 */
export const SHADOW_OPS = ["enable_logdirty", "clean", "peek", "off"] as const;

/**
 * A `domctl:shadow_op` operation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SHADOW_OPS, type ShadowOp } from "./log_dirty.ts";
 * const op: ShadowOp = "clean";
 * assert.ok(SHADOW_OPS.includes(op));
 * ```
 */
export type ShadowOp = typeof SHADOW_OPS[number];

/**
 * What `domctl:shadow_op` answers: the pages the domain has (the bitmap's
 * size) and, for `clean` and `peek`, how many are dirty; `clean` also
 * lists them (page numbers, ascending) and clears the bitmap.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ShadowOpResult } from "./log_dirty.ts";
 * const r: ShadowOpResult = { pages: 16384, dirtyCount: 2, dirty: [17, 18] };
 * assert.equal(Math.ceil(r.pages / 8), 2048); // the bitmap clean copies: a bit a page
 * ```
 */
export interface ShadowOpResult {
  /** Pages of the domain (the bitmap covers them all). */
  pages: number;
  /** Dirty pages now (`clean`: before clearing). */
  dirtyCount: number;
  /** The dirty pages (`clean` only). */
  dirty?: number[];
}

/**
 * Log-dirty state of one host's domains.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   const a = vm.memory.alloc(3 * 4096, 4096);
 *   await hv.shadowOp(hv.dom0, { domid: vm.domid, op: "enable_logdirty" });
 *   vm.memory.write(a + 4096, new Uint8Array([1])); // the guest's CPU writes its second page
 *   const r = await hv.shadowOp(hv.dom0, { domid: vm.domid, op: "clean" });
 *   assert.deepEqual(r.dirty, [a / 4096 + 1]);
 *   const again = await hv.shadowOp(hv.dom0, { domid: vm.domid, op: "clean" });
 *   assert.deepEqual(again.dirty, []); // cleared by the first clean
 * });
 * ```
 */
export class LogDirty {
  #on = new Set<number>();

  /**
   * @param mem the host's machine memory (it logs the written frames)
   * @param label the owner label of a domain's memory frames
   */
  constructor(private mem: MachineMemory, private label: (domid: number) => string) {}

  /** True while log-dirty mode is on for `domid`. */
  isOn(domid: number): boolean {
    return this.#on.has(domid);
  }

  /** Run one operation on `d` (arguments already checked). */
  op(d: Domain, op: ShadowOp): ShadowOpResult {
    const label = this.label(d.domid);
    const pages = d.memory.pages;
    switch (op) {
      case "enable_logdirty":
        // paging_log_dirty_enable() (xen/arch/x86/mm/paging.c, Xen 4.17): "if (
        // paging_mode_log_dirty(d) ) return -EINVAL;" (EBUSY there is for an unfinished,
        // preempted op, which the model never leaves).
        if (this.#on.has(d.domid)) {
          throw new XenError("EINVAL", `domctl:shadow_op: log-dirty mode is already on for ${d}`);
        }
        this.#on.add(d.domid);
        this.mem.startWriteLog(label);
        return { pages, dirtyCount: 0 };
      case "off":
        this.release(d.domid);
        return { pages, dirtyCount: 0 };
      // paging_domctl() hands CLEAN and PEEK to paging_log_dirty_op() whether or not the mode is
      // on (Xen 4.17 paging.c): with it off there is no bitmap (freed by OFF, never made before
      // ENABLE), so the caller's is cleared, all zeros, and the call returns 0.
      case "peek":
        if (!this.#on.has(d.domid)) return { pages, dirtyCount: 0 };
        return { pages, dirtyCount: this.mem.writeLogSize(label) };
      case "clean": {
        if (!this.#on.has(d.domid)) return { pages, dirtyCount: 0, dirty: [] };
        const seen = new Set<number>();
        for (const mfn of this.mem.takeWriteLog(label)) {
          const pfn = d.memory.pfnOf(mfn);
          if (pfn !== undefined) seen.add(pfn);
        }
        const dirty = [...seen].sort((a, b) => a - b);
        return { pages, dirtyCount: dirty.length, dirty };
      }
    }
  }

  /** Log-dirty mode off for `domid` (`off`, or its teardown). */
  release(domid: number): void {
    if (!this.#on.delete(domid)) return;
    this.mem.stopWriteLog(this.label(domid));
  }
}
