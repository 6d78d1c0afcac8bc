/**
 * The pin-down registration cache (MVAPICH's `dreg`, after Tezuka et al.,
 * "Pin-down cache", IPPS 1998): a rendezvous transfer needs its buffer
 * registered with the HCA, and registering costs a control-path trip
 * (through dom0 in a guest), so registrations outlive the transfer and are
 * found again by address. Entries cover whole pages; one in use is pinned by
 * a reference count; the least recently used idle ones are deregistered when
 * the cache exceeds its entry or byte limit (MV2_NDREG_ENTRIES,
 * MV2_DREG_CACHE_LIMIT).
 *
 * The cache is keyed by real addresses, so it must hear when the application
 * frees memory: MVAPICH hooks ptmalloc's free/munmap; here `comm.free` calls
 * {@link RegistrationCache.invalidate}. Without the cache
 * (MV2_USE_LAZY_MEM_UNREGISTER=0) every transfer registers and deregisters.
 *
 * Deregistration is asynchronous (a control operation); released and evicted
 * regions queue up and {@link RegistrationCache.flush} deregisters them when
 * the library next runs its deferred work.
 *
 * @module
 */
import type { Mr, Pd } from "../drivers/verbs/mod.ts";

const PAGE = 4096;

/**
 * Cache counters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RegCacheStats } from "./regcache.ts";
 * const s: RegCacheStats = { hits: 9, misses: 1, evictions: 0, invalidations: 0, registrations: 1,
 *   deregistrations: 0, entries: 1, bytes: 4096 };
 * assert.equal(s.hits / (s.hits + s.misses), 0.9);
 * ```
 */
export interface RegCacheStats {
  /** Lookups that found a registration. */
  hits: number;
  /** Lookups that registered. */
  misses: number;
  /** Idle entries deregistered to stay within the limits. */
  evictions: number;
  /** Entries dropped because the application freed their memory. */
  invalidations: number;
  /** `regMr` calls. */
  registrations: number;
  /** `dereg` calls. */
  deregistrations: number;
  /** Entries held now. */
  entries: number;
  /** Bytes registered by the held entries. */
  bytes: number;
}

interface Entry {
  start: number;
  end: number;
  mr: Mr;
  refs: number;
  valid: boolean;
  lastUse: number;
}

/**
 * A registration handed out by the cache; give it back with `release`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Registration } from "./regcache.ts";
 * let released = 0;
 * const r: Registration = { lkey: 0x100, rkey: 0x200, release: () => void released++ };
 * r.release();
 * assert.equal(released, 1);
 * ```
 */
export interface Registration {
  /** Local key covering the range. */
  readonly lkey: number;
  /** Remote key covering the range. */
  readonly rkey: number;
  /** Done with it (the entry stays cached unless invalidated or the cache is off). */
  release(): void;
}

/**
 * Options of {@link RegistrationCache}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RegCacheOptions } from "./regcache.ts";
 * const o: RegCacheOptions = { enabled: true, maxEntries: 8192, maxBytes: 0, access: 7 };
 * assert.equal(o.maxBytes, 0);
 * ```
 */
export interface RegCacheOptions {
  /** Keep registrations after use. */
  enabled: boolean;
  /** Most entries kept. */
  maxEntries: number;
  /** Most bytes kept registered (0 = no limit). */
  maxBytes: number;
  /** `Access` bits of every registration. */
  access: number;
}

/**
 * A pin-down cache over one protection domain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Access, Cluster } from "../mod.ts";
 * import { RegistrationCache } from "./regcache.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const dom = cluster.addHost({ name: "n0", hypervisor: false }).os;
 * await cluster.start();
 * await cluster.run(async () => {
 *   const pd = await (await dom.openDevice()).allocPd();
 *   const cache = new RegistrationCache(pd, { enabled: true, maxEntries: 8, maxBytes: 0,
 *     access: Access.LOCAL_WRITE | Access.REMOTE_WRITE });
 *   const addr = dom.memory.alloc(65536, 4096);
 *   (await cache.acquire(addr, 65536)).release();
 *   (await cache.acquire(addr + 4096, 100)).release(); // inside the first entry: a hit
 *   cache.invalidate(addr, 65536); // the application frees the memory
 *   await cache.flush();
 *   const s = cache.stats();
 *   assert.deepEqual([s.misses, s.hits, s.invalidations, s.entries], [1, 1, 1, 0]);
 * });
 * ```
 */
export class RegistrationCache {
  #entries: Entry[] = [];
  #dead: Mr[] = [];
  #clock = 0;
  #bytes = 0;
  #stats = {
    hits: 0,
    misses: 0,
    evictions: 0,
    invalidations: 0,
    registrations: 0,
    deregistrations: 0,
  };

  /**
   * @param pd the protection domain registrations are made in
   * @param opts limits and access rights
   */
  constructor(readonly pd: Pd, readonly opts: RegCacheOptions) {}

  /** Counters and current size. */
  stats(): RegCacheStats {
    return { ...this.#stats, entries: this.#entries.length, bytes: this.#bytes };
  }

  /** Registrations waiting to be deregistered by {@link flush}. */
  get pendingDeregistrations(): number {
    return this.#dead.length;
  }

  /** A registration covering `[addr, addr+len)`, from the cache or new. */
  async acquire(addr: number, len: number): Promise<Registration> {
    const start = Math.floor(addr / PAGE) * PAGE;
    const end = Math.ceil((addr + Math.max(1, len)) / PAGE) * PAGE;
    if (this.opts.enabled) {
      for (const e of this.#entries) {
        if (e.valid && e.start <= start && e.end >= end) {
          this.#stats.hits++;
          e.refs++;
          e.lastUse = ++this.#clock;
          return this.#handle(e);
        }
      }
    }
    this.#stats.misses++;
    this.#stats.registrations++;
    const mr = await this.pd.regMr(start, end - start, this.opts.access);
    const e: Entry = { start, end, mr, refs: 1, valid: true, lastUse: ++this.#clock };
    if (this.opts.enabled) {
      this.#entries.push(e);
      this.#bytes += end - start;
      this.#evict();
    }
    return this.#handle(e);
  }

  #handle(e: Entry): Registration {
    let released = false;
    return {
      lkey: e.mr.lkey,
      rkey: e.mr.rkey,
      release: () => {
        if (released) return;
        released = true;
        e.refs--;
        if (!this.opts.enabled || (!e.valid && e.refs === 0)) this.#dead.push(e.mr);
        else this.#evict();
      },
    };
  }

  /** Drop idle least-recently-used entries until within the limits. */
  #evict(): void {
    const over = () =>
      this.#entries.length > this.opts.maxEntries ||
      (this.opts.maxBytes > 0 && this.#bytes > this.opts.maxBytes);
    while (over()) {
      let victim = -1;
      for (let i = 0; i < this.#entries.length; i++) {
        const e = this.#entries[i];
        if (e.refs === 0 && (victim < 0 || e.lastUse < this.#entries[victim].lastUse)) victim = i;
      }
      if (victim < 0) return; // everything pinned: stay over the limit until released
      const [e] = this.#entries.splice(victim, 1);
      this.#bytes -= e.end - e.start;
      this.#stats.evictions++;
      this.#dead.push(e.mr);
    }
  }

  /**
   * The application frees `[addr, addr+len)`: every entry overlapping it is
   * dropped (deregistered now if idle, else when its last user releases it).
   * Returns the number of entries dropped.
   */
  invalidate(addr: number, len: number): number {
    let n = 0;
    const end = addr + Math.max(1, len);
    this.#entries = this.#entries.filter((e) => {
      if (e.end <= addr || e.start >= end) return true;
      e.valid = false;
      n++;
      this.#bytes -= e.end - e.start;
      if (e.refs === 0) this.#dead.push(e.mr);
      return false;
    });
    this.#stats.invalidations += n;
    return n;
  }

  /** Deregister everything released, evicted or invalidated so far. */
  async flush(): Promise<void> {
    while (this.#dead.length > 0) {
      const mr = this.#dead.shift()!;
      this.#stats.deregistrations++;
      await mr.dereg();
    }
  }

  /** Drop every idle entry and deregister (MPI_Finalize). */
  async clear(): Promise<void> {
    this.#entries = this.#entries.filter((e) => {
      if (e.refs > 0) return true;
      this.#bytes -= e.end - e.start;
      this.#dead.push(e.mr);
      return false;
    });
    await this.flush();
  }
}
