/**
 * The backend's grant mappings of a guest's buffers (flow 4): the refs of
 * a request (directly, or read out of indirect pages), mapped in one
 * batched hypercall. Mapping is what proves the guest owns each page and
 * pins its frame: the hypervisor refuses a ref that is not a grant of the
 * guest's own page to dom0, and keeps the frame allocated while mapped.
 *
 * @module
 */
import type { Domain as XenDomain } from "../../hypervisor/domain.ts";
import { errnoName } from "../../hypervisor/errors.ts";
import type { GrantMapOp, Hypervisor } from "../../hypervisor/hypervisor.ts";
import { PAGE_SIZE } from "../../sim/memory.ts";
import { Errno, type ErrnoCode, VerbsError } from "../uapi/errors.ts";
import { REFS_PER_INDIRECT_PAGE, VIB_F_INDIRECT } from "../vib/mod.ts";

/**
 * A guest buffer mapped into dom0, page by page.
 *
 * @example
 * ```ts
 * import type { MappedBuffer } from "./grants.ts";
 * const none: MappedBuffer = { handles: [], mfns: [], addrs: [] };
 * ```
 */
export interface MappedBuffer {
  /** Grant handles (dom0's maptrack), for the unmap. */
  handles: number[];
  /** Machine frames, what the HCA's MTT gets. */
  mfns: number[];
  /** Where each page is mapped in dom0's address space. */
  addrs: number[];
}

/** Most ops in one `map_grant_ref` batch (the hypervisor's limit). */
const BATCH = 4096;

/** The errno name of a negative Xen status (EIO for one verbs does not know). */
function codeOf(status: number): ErrnoCode {
  const n = errnoName(status);
  return (n in Errno ? n : "EIO") as ErrnoCode;
}

/**
 * Grant mapping for one frontend.
 *
 * @example
 * ```ts
 * import type { BackendGrants } from "./grants.ts";
 * async function pin(g: BackendGrants, refs: number[]) {
 *   const buf = await g.mapBuffer({ flags: 0, segs: refs }, refs.length, false);
 *   return buf.mfns; // the frames an MTT may point at
 * }
 * ```
 */
export class BackendGrants {
  /** Grants mapped now (by this frontend's backend). */
  mapped = 0;

  /**
   * @param hv the hypervisor
   * @param dom0 the backend's domain (the mapper)
   * @param frontDomid the granting guest
   */
  constructor(readonly hv: Hypervisor, readonly dom0: XenDomain, readonly frontDomid: number) {}

  /**
   * Map the `nrPages` pages a request names. Direct refs must be exactly
   * `nrPages`; with {@link VIB_F_INDIRECT} the refs name
   * `ceil(nrPages / 1024)` indirect pages, which are mapped read-only,
   * copied out and unmapped before any ref in them is used.
   */
  async mapBuffer(
    req: { flags: number; segs: readonly number[] },
    nrPages: number,
    readonly: boolean,
  ): Promise<MappedBuffer> {
    let refs: number[];
    if (req.flags & VIB_F_INDIRECT) {
      const want = Math.ceil(nrPages / REFS_PER_INDIRECT_PAGE);
      if (req.segs.length !== want) {
        throw new VerbsError(
          "EINVAL",
          `${req.segs.length} indirect pages for ${nrPages} pages (need ${want})`,
        );
      }
      refs = await this.#readIndirect(req.segs, nrPages);
    } else {
      if (req.segs.length !== nrPages) {
        throw new VerbsError("EINVAL", `${req.segs.length} grant refs for ${nrPages} pages`);
      }
      refs = [...req.segs];
    }
    return await this.#map(refs, readonly);
  }

  async #readIndirect(pages: readonly number[], nrPages: number): Promise<number[]> {
    const ind = await this.#map([...pages], true);
    const refs: number[] = [];
    try {
      for (let i = 0; i < ind.mfns.length; i++) {
        // Copy the page before reading it: the guest can rewrite it at any time.
        const copy = this.hv.mem.frame(ind.mfns[i]).slice(0, PAGE_SIZE);
        const dv = new DataView(copy.buffer);
        const n = Math.min(REFS_PER_INDIRECT_PAGE, nrPages - refs.length);
        for (let j = 0; j < n; j++) refs.push(dv.getUint32(4 * j, true));
      }
    } finally {
      await this.unmap(ind);
    }
    return refs;
  }

  async #map(refs: number[], readonly: boolean): Promise<MappedBuffer> {
    const out: MappedBuffer = { handles: [], mfns: [], addrs: [] };
    let failed: number | undefined;
    for (let i = 0; i < refs.length && failed === undefined; i += BATCH) {
      const ops: GrantMapOp[] = refs.slice(i, i + BATCH).map((ref) => ({
        domid: this.frontDomid,
        ref,
        readonly,
      }));
      const res = await this.hv.grantMapBatch(this.dom0, ops);
      for (const r of res) {
        if (r.status === 0) {
          out.handles.push(r.handle!);
          out.mfns.push(r.mfn!);
          out.addrs.push(r.addr!);
          this.mapped++;
        } else failed ??= r.status;
      }
    }
    if (failed !== undefined) {
      await this.unmap(out);
      throw new VerbsError(codeOf(failed), `grant map refused (${errnoName(failed)})`);
    }
    return out;
  }

  /** Unmap a buffer (one batched hypercall per 4096 pages). */
  async unmap(b: MappedBuffer): Promise<void> {
    for (let i = 0; i < b.handles.length; i += BATCH) {
      await this.hv.grantUnmapBatch(this.dom0, b.handles.slice(i, i + BATCH));
    }
    this.mapped -= b.handles.length;
    b.handles = [];
    b.mfns = [];
    b.addrs = [];
  }
}
