/**
 * A memory registration cache (MVAPICH's "dreg" cache), as a layer of the
 * user-level verbs library over any kernel ABI (`UverbsFile`): a
 * registration that an earlier, still-cached one covers (same PD, same
 * access, range inside it) is answered at once, with no kernel call — no
 * ring request, no grant, no device command; deregistration is lazy (the
 * region stays registered, and pinned, until the cache evicts it or its PD
 * goes away).
 *
 * Why at this boundary: in a guest, registering is the most expensive
 * control operation (a grant per page, a ring round trip, a grant map per
 * page, MTT writes); applications register the same buffers over and over
 * (MPI's large messages), so skipping repeats is what amortizes it. The
 * layer knows nothing of Xen: it wraps a bare-metal context's file as
 * well, which is how native and bypass costs are compared with and
 * without it. `openDevice(name, { regCache })` switches it per context;
 * a domain's default is on for Xen guests (where registration is the
 * costly crossing) and off on bare metal and in dom0 (where existing
 * programs rely on `dereg` invalidating the keys at once).
 *
 * The caveat is MVAPICH's too: after `dereg`, the keys of a cached region
 * still work until it is evicted. Buffers keep their frames in this model
 * (an address's page is never remapped under a live allocation), so a hit
 * always names the right frames.
 *
 * @module
 */
import type {
  AllocPdResp,
  CreateAhResp,
  CreateCqReq,
  CreateCqResp,
  CreateQpReq,
  CreateQpResp,
  CreateSrqReq,
  CreateSrqResp,
  ModifyQpReq,
  ModifySrqReq,
  QueryQpResp,
  RegMrReq,
  RegMrResp,
  ResizeCqReq,
  UverbsEventHandlers,
  UverbsFile,
} from "../uapi/uverbs.ts";
import type { AhAttr, DeviceAttr, PortAttr } from "../uapi/types.ts";
import { VerbsError } from "../uapi/errors.ts";

/**
 * Limits of a {@link RegCacheFile}.
 *
 * @example
 * ```ts
 * import type { RegCacheOptions } from "./reg_cache.ts";
 * const small: RegCacheOptions = { maxIdle: 8, maxIdlePages: 1024 };
 * ```
 */
export interface RegCacheOptions {
  /** Unused registrations kept (least recently used evicted first). Default 64. */
  maxIdle?: number;
  /** Pages kept registered while unused. Default 65536 (256 MiB). */
  maxIdlePages?: number;
}

interface Entry {
  pdHandle: number;
  addr: number;
  length: number;
  access: number;
  real: RegMrResp;
  pages: number;
  users: number;
  lastUse: number;
}

/**
 * A `UverbsFile` with a registration cache in front of another.
 *
 * @example
 * ```ts
 * import { RegCacheFile } from "./reg_cache.ts";
 * import type { UverbsFile } from "../uapi/uverbs.ts";
 * async function twice(file: UverbsFile, pdHandle: number, addr: number) {
 *   const cached = new RegCacheFile(file);
 *   const a = await cached.regMr({ pdHandle, addr, length: 4096, access: 1 });
 *   await cached.deregMr(a.mrHandle);
 *   await cached.regMr({ pdHandle, addr, length: 4096, access: 1 }); // no kernel call
 *   return cached.stats; // { hits: 1, misses: 1, evictions: 0 }
 * }
 * ```
 */
export class RegCacheFile implements UverbsFile {
  readonly inner: UverbsFile;
  /** Hits, misses, regions really deregistered to make room. */
  readonly stats = { hits: 0, misses: 0, evictions: 0 };
  #entries: Entry[] = [];
  #handles = new Map<number, Entry>();
  #next = 1;
  #clock = 0;
  #maxIdle: number;
  #maxIdlePages: number;

  /**
   * @param inner the file to cache registrations of
   * @param opts limits
   */
  constructor(inner: UverbsFile, opts: RegCacheOptions = {}) {
    this.inner = inner;
    this.#maxIdle = opts.maxIdle ?? 64;
    this.#maxIdlePages = opts.maxIdlePages ?? 65536;
  }

  get deviceName(): string {
    return this.inner.deviceName;
  }
  get uarIndex(): number {
    return this.inner.uarIndex;
  }
  get uarAddr(): number {
    return this.inner.uarAddr;
  }
  get numCompVectors(): number {
    return this.inner.numCompVectors;
  }

  /** Registrations cached now (in use or idle). */
  get size(): number {
    return this.#entries.length;
  }

  setEventHandlers(h: UverbsEventHandlers): void {
    this.inner.setEventHandlers(h);
  }

  async regMr(req: RegMrReq): Promise<RegMrResp> {
    const end = req.addr + req.length;
    const e = this.#entries.find((x) =>
      x.pdHandle === req.pdHandle && x.access === req.access && x.addr <= req.addr &&
      end <= x.addr + x.length && req.length > 0
    );
    let entry = e;
    if (entry) this.stats.hits++;
    else {
      this.stats.misses++;
      const real = await this.inner.regMr(req);
      const pages = Math.ceil(((req.addr % 4096) + req.length) / 4096);
      entry = { ...req, real, pages, users: 0, lastUse: 0 };
      this.#entries.push(entry);
    }
    entry.users++;
    entry.lastUse = ++this.#clock;
    const h = this.#next++;
    this.#handles.set(h, entry);
    await this.#trim();
    return { mrHandle: h, lkey: entry.real.lkey, rkey: entry.real.rkey };
  }

  async deregMr(mrHandle: number): Promise<void> {
    const e = this.#handles.get(mrHandle);
    if (!e) throw new VerbsError("EINVAL", `no MR with handle ${mrHandle} in this context`);
    this.#handles.delete(mrHandle);
    e.users--;
    e.lastUse = ++this.#clock;
    await this.#trim();
  }

  /** Really deregister idle regions beyond the limits, least recently used first. */
  async #trim(): Promise<void> {
    for (;;) {
      const idle = this.#entries.filter((e) => e.users === 0);
      const pages = idle.reduce((n, e) => n + e.pages, 0);
      if (idle.length <= this.#maxIdle && pages <= this.#maxIdlePages) return;
      idle.sort((a, b) => a.lastUse - b.lastUse);
      await this.#drop(idle[0]);
      this.stats.evictions++;
    }
  }

  async #drop(e: Entry): Promise<void> {
    this.#entries = this.#entries.filter((x) => x !== e);
    await this.inner.deregMr(e.real.mrHandle);
  }

  /** Deregister every idle cached region (of one PD, or all). */
  async flush(pdHandle?: number): Promise<void> {
    for (const e of [...this.#entries]) {
      if (e.users === 0 && (pdHandle === undefined || e.pdHandle === pdHandle)) await this.#drop(e);
    }
  }

  async deallocPd(pdHandle: number): Promise<void> {
    // Idle cached regions must not keep the PD busy.
    await this.flush(pdHandle);
    await this.inner.deallocPd(pdHandle);
  }

  async close(): Promise<void> {
    this.#entries = [];
    this.#handles.clear();
    await this.inner.close();
  }

  queryDevice(): Promise<DeviceAttr> {
    return this.inner.queryDevice();
  }
  queryPort(portNum: number): Promise<PortAttr> {
    return this.inner.queryPort(portNum);
  }
  allocPd(): Promise<AllocPdResp> {
    return this.inner.allocPd();
  }
  createCq(req: CreateCqReq): Promise<CreateCqResp> {
    return this.inner.createCq(req);
  }
  resizeCq(req: ResizeCqReq): Promise<{ cqe: number }> {
    return this.inner.resizeCq(req);
  }
  destroyCq(cqHandle: number): Promise<void> {
    return this.inner.destroyCq(cqHandle);
  }
  createQp(req: CreateQpReq): Promise<CreateQpResp> {
    return this.inner.createQp(req);
  }
  modifyQp(req: ModifyQpReq): Promise<void> {
    return this.inner.modifyQp(req);
  }
  queryQp(qpHandle: number): Promise<QueryQpResp> {
    return this.inner.queryQp(qpHandle);
  }
  destroyQp(qpHandle: number): Promise<void> {
    return this.inner.destroyQp(qpHandle);
  }
  createSrq(req: CreateSrqReq): Promise<CreateSrqResp> {
    return this.inner.createSrq(req);
  }
  modifySrq(req: ModifySrqReq): Promise<void> {
    return this.inner.modifySrq(req);
  }
  destroySrq(srqHandle: number): Promise<void> {
    return this.inner.destroySrq(srqHandle);
  }
  createAh(req: { pdHandle: number; attr: AhAttr }): Promise<CreateAhResp> {
    return this.inner.createAh(req);
  }
  destroyAh(ahHandle: number): Promise<void> {
    return this.inner.destroyAh(ahHandle);
  }
}
