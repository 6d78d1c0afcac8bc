/**
 * The backend's grant mappings of a guest's buffers (flow 4): the refs of
 * a request (directly, or read out of indirect pages), mapped in one
 * batched hypercall. Mapping is what proves the guest owns each page and
 * pins its frame: the hypervisor refuses a ref that is not a grant of the
 * guest's own page to dom0, and keeps the frame allocated while mapped.
 *
 * **Persistent grants** (the registration cache that keeps verbs
 * semantics): a memory region registered with `VIB_F_PERSISTENT` maps its
 * pages through a per-frontend cache keyed by grant ref. When the region is
 * deregistered the device forgets it at once (its MPT entry and MTT
 * entries go, so its keys fail as on bare metal), but the mappings stay
 * cached; a later registration naming the same refs reuses them and costs
 * no grant hypercall. This is blkback's `feature-persistent` applied to
 * registration: the expensive part of a guest's registration (a map per
 * page, an unmap per page at deregistration) is what is kept, never the
 * keys. The cache is bounded by the guest's `persistentGrants` quota
 * (idle mappings, least recently used evicted first) and by its
 * `grantMaps` quota (idle mappings are evicted to make room before a
 * request is refused). Several live regions may share one cached mapping.
 * The frontend owns the grants: before it ends one that dom0 may still
 * hold cached it asks dom0 to let go (`RELEASE_GRANTS`, {@link
 * BackendGrants.release}), since `gnttab_end_foreign_access` on a mapped
 * grant fails; dom0 unmaps idle ones and leaves those a live region uses.
 *
 * Rules a request must follow (each an EINVAL): no grant ref twice in one
 * request; a persistent ref cached read-only and in use is not mapped
 * writable.
 *
 * @module
 */
import type { Domain as XenDomain } from "../../hypervisor/domain.ts";
import type { GrantMapOp, Hypervisor } from "../../hypervisor/hypervisor.ts";
import { PAGE_SIZE } from "../../sim/memory.ts";
import { type ErrnoCode, requestError } from "../uapi/errors.ts";
import { REFS_PER_INDIRECT_PAGE, VIB_F_INDIRECT } from "../vib/mod.ts";
import type { Dom0Headroom } from "./headroom.ts";
import type { QuotaLedger } from "./quota.ts";

/**
 * A guest buffer mapped into dom0, page by page.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenPlatform } from "../../platform/xen_host.ts";
 * import type { MappedBuffer } from "./grants.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass", regCache: false });
 * const back = (xen.platform as XenPlatform).backend!.instances().get(vm.domid!)!;
 * await cluster.run(async () => {
 *   const ctx = await vm.openDevice();
 *   await (await ctx.allocPd()).regMr(vm.memory.alloc(2 * 4096, 4096), 2 * 4096, 1);
 *   const [mr] = back.contexts().get(1)!.objects.values();
 *   const buf: MappedBuffer = mr.buf;
 *   assert.deepEqual([buf.handles.length, buf.mfns.length, buf.addrs.length], [2, 2, 2]);
 *   assert.equal(buf.persistent, undefined);
 * });
 * ```
 */
export interface MappedBuffer {
  /** Grant handles (dom0's maptrack), for the unmap. */
  handles: number[];
  /** Machine frames, what the HCA's MTT gets. */
  mfns: number[];
  /** Where each page is mapped in dom0's address space. */
  addrs: number[];
  /** A persistent buffer: its grant refs, each a mapping of the cache. */
  persistent?: number[];
  /** Indirect pages being read: not charged to the guest's quota. */
  transient?: boolean;
}

/** Most ops in one `map_grant_ref` batch (the hypervisor's limit). */
const BATCH = 4096;

/** One cached persistent mapping. */
interface Cached {
  ref: number;
  handle: number;
  mfn: number;
  addr: number;
  readonly: boolean;
  /** Live buffers using it. */
  users: number;
}

/**
 * Options of {@link BackendGrants.mapBuffer}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenPlatform } from "../../platform/xen_host.ts";
 * import type { MapOptions } from "./grants.ts";
 * const mr: MapOptions = { persistent: true }; // how dom0 maps a REG_MR with VIB_F_PERSISTENT
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass" }); // registration cache on
 * const back = (xen.platform as XenPlatform).backend!.instances().get(vm.domid!)!;
 * await cluster.run(async () => {
 *   const ctx = await vm.openDevice();
 *   const m = await (await ctx.allocPd()).regMr(vm.memory.alloc(2 * 4096, 4096), 2 * 4096, 1);
 *   await m.dereg();
 *   assert.ok(mr.persistent);
 *   assert.equal(back.grants.cachedIdle, 2); // dom0 keeps both mappings for the next registration
 * });
 * ```
 */
export interface MapOptions {
  /** Map through the persistent cache (memory regions registered with VIB_F_PERSISTENT). */
  persistent?: boolean;
  /** The frontend's ring pages at connect: may use dom0's maptrack reserve. */
  rings?: boolean;
}

/**
 * That a request names as many grant refs as it has pages: `nrPages` refs
 * in its segment area, or with {@link VIB_F_INDIRECT} `ceil(nrPages / 1024)`
 * indirect pages of them, and direct refs all distinct. EINVAL otherwise.
 * Pure (nothing is read or mapped),
 * so that the backend checks it before it asks a quota
 * ({@link BackendGrants.refsOf} checks it again).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRefCount } from "./grants.ts";
 * import { VIB_F_INDIRECT } from "../vib/mod.ts";
 * checkRefCount({ flags: 0, segs: [7, 8] }, 2);
 * checkRefCount({ flags: VIB_F_INDIRECT, segs: [9] }, 1024);
 * assert.throws(() => checkRefCount({ flags: 0, segs: [7] }, 2), /EINVAL: 1 grant refs for 2 pages/);
 * assert.throws(() => checkRefCount({ flags: 0, segs: [7, 7] }, 2), /ref 7 named twice/);
 * ```
 */
export function checkRefCount(
  req: { flags: number; segs: readonly number[] },
  nrPages: number,
): void {
  if (req.flags & VIB_F_INDIRECT) {
    const want = Math.ceil(nrPages / REFS_PER_INDIRECT_PAGE);
    if (req.segs.length !== want) {
      throw requestError(
        "EINVAL",
        `${req.segs.length} indirect pages for ${nrPages} pages (need ${want})`,
      );
    }
  } else {
    if (req.segs.length !== nrPages) {
      throw requestError("EINVAL", `${req.segs.length} grant refs for ${nrPages} pages`);
    }
    checkDistinct(req.segs);
  }
}

/** EINVAL for a ref named twice (one request may not map the same grant twice). */
function checkDistinct(refs: readonly number[]): void {
  const seen = new Set<number>();
  for (const r of refs) {
    if (seen.has(r)) {
      throw requestError("EINVAL", `grant ref ${r} named twice in one request`);
    }
    seen.add(r);
  }
}

/**
 * Grant mapping for one frontend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenPlatform } from "../../platform/xen_host.ts";
 * import type { BackendGrants } from "./grants.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass", regCache: false });
 * const g: BackendGrants = (xen.platform as XenPlatform).backend!.instances().get(vm.domid!)!.grants;
 * await cluster.run(async () => {
 *   const ctx = await vm.openDevice();
 *   const before = g.mapped; // the frontend's ring pages
 *   const mr = await (await ctx.allocPd()).regMr(vm.memory.alloc(4 * 4096, 4096), 4 * 4096, 1);
 *   assert.equal(g.mapped, before + 4);
 *   await mr.dereg();
 *   assert.equal(g.mapped, before);
 * });
 * ```
 */
export class BackendGrants {
  /** Grant mappings held now (persistent cache included). */
  mapped = 0;
  /** Persistent cache: registrations that found their mapping cached, and mappings evicted. */
  readonly cacheStats = { hits: 0, misses: 0, evictions: 0, released: 0 };
  #cache = new Map<number, Cached>();
  /** Refs of idle cached mappings, least recently used first. */
  #idle = new Set<number>();

  /**
   * @param hv the hypervisor
   * @param dom0 the backend's domain (the mapper)
   * @param frontDomid the granting guest
   * @param limits the guest's quota ledger and dom0's headroom (none: unlimited)
   */
  constructor(
    readonly hv: Hypervisor,
    readonly dom0: XenDomain,
    readonly frontDomid: number,
    private limits: { ledger?: QuotaLedger; headroom?: Dom0Headroom } = {},
  ) {}

  /** Idle mappings the persistent cache holds now. */
  get cachedIdle(): number {
    return this.#idle.size;
  }

  /** Mappings in the persistent cache (idle or in use). */
  get cached(): number {
    return this.#cache.size;
  }

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
    opts: MapOptions = {},
  ): Promise<MappedBuffer> {
    const refs = await this.refsOf(req, nrPages);
    return opts.persistent
      ? await this.#mapPersistent(refs, readonly)
      : await this.#mapOwn(refs, readonly, opts.rings ?? false);
  }

  /**
   * The grant refs a request names: its segments, or the refs read out of
   * its indirect pages. EINVAL for a count that does not match, or a ref
   * named twice (one request may not map the same grant twice).
   */
  async refsOf(
    req: { flags: number; segs: readonly number[] },
    nrPages: number,
  ): Promise<number[]> {
    checkRefCount(req, nrPages);
    const refs = req.flags & VIB_F_INDIRECT
      ? await this.#readIndirect(req.segs, nrPages)
      : [...req.segs];
    checkDistinct(refs);
    return refs;
  }

  async #readIndirect(pages: readonly number[], nrPages: number): Promise<number[]> {
    // At most 16 pages, mapped only while the request is read: not charged to the guest's
    // grantMaps quota (dom0's headroom still applies).
    const ind = await this.#mapOwn([...pages], true, false, true);
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

  /**
   * Make room for `n` new mappings: within the guest's grantMaps quota
   * (evicting idle cached mappings first, except those of `keep`) and
   * dom0's maptrack headroom.
   */
  async #room(
    n: number,
    rings: boolean,
    keep?: ReadonlySet<number>,
    transient = false,
  ): Promise<void> {
    const ledger = this.limits.ledger;
    if (ledger && !rings && !transient) {
      const over = ledger.used.grantMaps + n - ledger.limit.grantMaps;
      if (over > 0) await this.#evict(over, keep);
      if (ledger.used.grantMaps + n > ledger.limit.grantMaps) throw ledger.refuse("grantMaps", n);
    }
    const headroom = this.limits.headroom;
    if (headroom) {
      try {
        headroom.grantMaps(n, rings, this.frontDomid);
      } catch (e) {
        // The idle cache is the first thing to give back to dom0.
        if (rings || transient || this.#idle.size === 0) throw e;
        await this.#evict(Math.min(n, this.#idle.size), keep);
        headroom.grantMaps(n, rings, this.frontDomid);
      }
    }
  }

  async #mapOwn(
    refs: number[],
    readonly: boolean,
    rings: boolean,
    transient = false,
  ): Promise<MappedBuffer> {
    await this.#room(refs.length, rings, undefined, transient);
    const out: MappedBuffer = { handles: [], mfns: [], addrs: [], transient };
    const failed = await this.#map(refs, readonly, !transient, (_ref, h, mfn, addr) => {
      out.handles.push(h);
      out.mfns.push(mfn);
      out.addrs.push(addr);
    });
    if (failed !== undefined) {
      await this.unmap(out);
      // The hypervisor's check of the guest's own refs; the text is its errno name, nothing of
      // the hypervisor's message.
      throw requestError(failed, `grant map refused (${failed})`);
    }
    return out;
  }

  /**
   * Map `refs` in batches; each success goes to `got`; the first failure's
   * errno name is returned (the hypervisor's reason for the op's `GNTST_*`
   * status: see `GrantMapResult`).
   */
  async #map(
    refs: number[],
    readonly: boolean,
    charged: boolean,
    got: (ref: number, handle: number, mfn: number, addr: number) => void,
  ): Promise<ErrnoCode | undefined> {
    let failed: ErrnoCode | undefined;
    for (let i = 0; i < refs.length && failed === undefined; i += BATCH) {
      const chunk = refs.slice(i, i + BATCH);
      const ops: GrantMapOp[] = chunk.map((ref) => ({ domid: this.frontDomid, ref, readonly }));
      const res = await this.hv.grantMapBatch(this.dom0, ops);
      res.forEach((r, j) => {
        if (r.status === 0) {
          this.mapped++;
          // Checked by #room before the batch; counted as each mapping is made.
          if (charged && this.limits.ledger) this.limits.ledger.used.grantMaps++;
          got(chunk[j], r.handle!, r.mfn!, r.addr!);
        } else failed ??= r.code ?? "EIO";
      });
    }
    return failed;
  }

  async #mapPersistent(refs: number[], readonly: boolean): Promise<MappedBuffer> {
    const misses: number[] = [];
    for (const ref of refs) {
      const c = this.#cache.get(ref);
      if (c && (!c.readonly || readonly)) continue;
      if (c && c.users > 0) {
        throw requestError(
          "EINVAL",
          `grant ref ${ref} is mapped read-only by a live region; a writable mapping was asked`,
        );
      }
      misses.push(ref);
    }
    // A cached read-only mapping asked for writable, idle: drop it and map again.
    const stale = misses.filter((r) => this.#cache.has(r));
    if (stale.length > 0) await this.#unmapCached(stale);
    await this.#room(misses.length, false, new Set(refs));
    const made: Cached[] = [];
    const failed = await this.#map(misses, readonly, true, (ref, handle, mfn, addr) => {
      made.push({ ref, handle, mfn, addr, readonly, users: 0 });
    });
    if (failed !== undefined) {
      await this.#unmapHandles(made.map((c) => c.handle), true);
      throw requestError(failed, `grant map refused (${failed})`);
    }
    for (const c of made) this.#cache.set(c.ref, c);
    this.cacheStats.misses += made.length;
    this.cacheStats.hits += refs.length - made.length;
    const out: MappedBuffer = { handles: [], mfns: [], addrs: [], persistent: refs };
    for (const ref of refs) {
      const c = this.#cache.get(ref)!;
      c.users++;
      this.#idle.delete(ref);
      out.handles.push(c.handle);
      out.mfns.push(c.mfn);
      out.addrs.push(c.addr);
    }
    this.#countIdle();
    return out;
  }

  #countIdle(): void {
    if (this.limits.ledger) this.limits.ledger.used.persistentGrants = this.#idle.size;
  }

  /**
   * Give a buffer back: a buffer of its own is unmapped (one batched
   * hypercall per 4096 pages); a persistent buffer's mappings stay cached,
   * idle once no live buffer uses them, within the `persistentGrants` quota.
   * The buffer is emptied first: from the call on, no dom0 code reaches the
   * pages through it (the hypercall's time passes after Xen has removed the
   * mappings, and dom0 may map something else at those addresses meanwhile).
   */
  async unmap(b: MappedBuffer): Promise<void> {
    const { handles, persistent } = b;
    b.handles = [];
    b.mfns = [];
    b.addrs = [];
    b.persistent = undefined;
    if (persistent) {
      for (const ref of persistent) {
        const c = this.#cache.get(ref);
        if (!c) continue;
        c.users--;
        if (c.users === 0) this.#idle.add(ref);
      }
      const limit = this.limits.ledger?.limit.persistentGrants ?? Infinity;
      if (this.#idle.size > limit) await this.#evict(this.#idle.size - limit);
      this.#countIdle();
    } else {
      await this.#unmapHandles(handles, !b.transient);
    }
  }

  async #unmapHandles(handles: number[], charged: boolean): Promise<void> {
    for (let i = 0; i < handles.length; i += BATCH) {
      await this.hv.grantUnmapBatch(this.dom0, handles.slice(i, i + BATCH));
    }
    this.mapped -= handles.length;
    if (charged && this.limits.ledger) this.limits.ledger.give({ grantMaps: handles.length });
  }

  /** Unmap the least recently used `n` idle cached mappings (not those of `keep`). */
  async #evict(n: number, keep?: ReadonlySet<number>): Promise<void> {
    const victims: number[] = [];
    for (const ref of this.#idle) {
      if (victims.length >= n) break;
      if (!keep?.has(ref)) victims.push(ref);
    }
    if (victims.length === 0) return;
    this.cacheStats.evictions += victims.length;
    await this.#unmapCached(victims);
  }

  async #unmapCached(refs: number[]): Promise<void> {
    const handles: number[] = [];
    for (const ref of refs) {
      const c = this.#cache.get(ref);
      if (!c || c.users > 0) continue;
      this.#cache.delete(ref);
      this.#idle.delete(ref);
      handles.push(c.handle);
    }
    await this.#unmapHandles(handles, true);
    this.#countIdle();
  }

  /**
   * `RELEASE_GRANTS`: unmap the idle cached mappings of `refs` (so the
   * frontend can end those grants); refs a live region uses, or that are
   * not cached, are left alone. Returns how many were unmapped.
   */
  async release(refs: readonly number[]): Promise<number> {
    const idle = refs.filter((r) => this.#cache.get(r)?.users === 0);
    await this.#unmapCached(idle);
    this.cacheStats.released += idle.length;
    return idle.length;
  }

  /** Unmap every cached mapping (teardown: every region is gone by then). */
  async releaseAll(): Promise<void> {
    for (const c of this.#cache.values()) c.users = 0;
    await this.#unmapCached([...this.#cache.keys()]);
  }
}
