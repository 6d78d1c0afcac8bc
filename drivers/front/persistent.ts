/**
 * The guest's half of persistent grants for memory registration (the
 * registration cache that keeps verbs semantics; dom0's half is in
 * `drivers/back/grants.ts`). When a region registered with them is
 * deregistered, the frontend keeps its pages granted to dom0 and dom0 keeps
 * them mapped — but the device forgets the region at once, so its keys fail
 * as on bare metal. Registering the same pages again writes no grant entry
 * and costs dom0 no grant map: only the MTT and MPT are written (new keys).
 *
 * The table is keyed by guest page (and read-only or writable grant), as
 * the guest kernel knows its pages. A cached grant is reused only while
 * the page is still backed by the frame it was granted with (a PV guest
 * kernel knows its P2M): once something else is mapped at that page — the
 * UAR of a new context landing on a freed buffer, say — the grant is stale
 * and is never reused; it is given back as soon as no live region uses it.
 *
 * Giving a grant back is a protocol: dom0 may still hold it mapped, and
 * `gnttab_end_foreign_access` on a grant in use fails, so the frontend
 * first asks dom0 to drop its cached mappings (`RELEASE_GRANTS`), then ends
 * the grants. It does so for stale grants and for the least recently used
 * idle ones beyond the backend's `max-persistent-grants` (the guest's
 * `persistentGrants` quota), which dom0 publishes in its xenstore
 * directory.
 *
 * @module
 */
import { VerbsError } from "../uapi/errors.ts";
import type { Granter } from "./buffers.ts";

/**
 * One persistent grant: a guest page granted to dom0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PersistentGrant, PersistentGrants } from "./persistent.ts";
 * import type { Granter } from "./buffers.ts";
 * const idle = (g: PersistentGrant) => g.users === 0;
 * let next = 100;
 * const k = {
 *   dom: { memory: { mfnOf: (pfn: number) => 1000 + pfn } },
 *   grants: { grantAccessNow: () => next++, endAccessNow() {} },
 * } as unknown as Granter;
 * const table = new PersistentGrants(4);
 * const [g] = table.acquire(k, [7], false).grants;
 * assert.deepEqual([g.pfn, g.ref, g.mfn, idle(g)], [7, 100, 1007, false]); // a region uses it
 * table.put([g]); // the region is deregistered
 * assert.ok(idle(g)); // kept for the next registration of page 7
 * ```
 */
export interface PersistentGrant {
  pfn: number;
  readonly: boolean;
  ref: number;
  /** The frame behind the page when it was granted. */
  mfn: number;
  /** Live regions using it. */
  users: number;
  /** The page is backed by another frame now: never reused, given back once idle. */
  stale: boolean;
}

/**
 * What {@link PersistentGrants.acquire} hands a registration.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Acquired, PersistentGrants } from "./persistent.ts";
 * import type { Granter } from "./buffers.ts";
 * const reused = (a: Acquired) => a.grants.length - a.granted;
 * let next = 100;
 * const k = {
 *   dom: { memory: { mfnOf: (pfn: number) => 1000 + pfn } },
 *   grants: { grantAccessNow: () => next++, endAccessNow() {} },
 * } as unknown as Granter;
 * const table = new PersistentGrants(4);
 * table.put(table.acquire(k, [7, 8], false).grants);
 * const a: Acquired = table.acquire(k, [8, 9], false);
 * assert.equal(reused(a), 1); // page 8's grant
 * assert.deepEqual(a.fresh.map((g) => g.pfn), [9]);
 * ```
 */
export interface Acquired {
  /** One grant per page, in page order. */
  grants: PersistentGrant[];
  /** How many of them were granted now (the rest were cached). */
  granted: number;
  /** The grants made now (given back by {@link PersistentGrants.fail} if the registration fails). */
  fresh: PersistentGrant[];
  /** Idle stale grants found on the way: to give back. */
  stale: PersistentGrant[];
}

/**
 * A guest's persistent grants (one table per device, shared by its contexts).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PersistentGrants } from "./persistent.ts";
 * import type { Granter } from "./buffers.ts";
 * let next = 100;
 * const k = {
 *   dom: { memory: { mfnOf: (pfn: number) => 1000 + pfn } },
 *   grants: { grantAccessNow: () => next++, endAccessNow() {} },
 * } as unknown as Granter;
 * const table = new PersistentGrants(4);
 * const a = table.acquire(k, [7, 8], false);
 * assert.deepEqual([a.granted, a.grants.map((g) => g.ref)], [2, [100, 101]]);
 * assert.deepEqual(table.put(a.grants), []); // idle, within the limit: kept
 * const b = table.acquire(k, [8], false);
 * assert.deepEqual([b.granted, b.grants[0].ref], [0, 101]); // reused: no new grant
 * ```
 */
export class PersistentGrants {
  #byPage = new Map<string, PersistentGrant>();
  /** Every grant held, stale ones a live region still uses included. */
  #all = new Set<PersistentGrant>();
  /** Idle grants, least recently used first. */
  #idle = new Set<PersistentGrant>();
  /** Registrations' pages found cached, and granted anew. */
  readonly stats = { hits: 0, misses: 0, released: 0 };

  /** @param limit idle grants kept (the backend's `max-persistent-grants`; 0: none) */
  constructor(public limit: number) {}

  /** Grants held now (idle or in use). */
  get size(): number {
    return this.#all.size;
  }

  /** Idle grants held now. */
  get idle(): number {
    return this.#idle.size;
  }

  static #key(pfn: number, ro: boolean): string {
    return `${pfn}${ro ? "r" : "w"}`;
  }

  /**
   * A grant of each page to dom0: a cached one while the page is backed by
   * the frame it was granted with, else a new one. Throws ENOMEM when the
   * guest's grant table is full (nothing is kept then).
   */
  acquire(k: Granter, pfns: readonly number[], readonly: boolean): Acquired {
    const fresh: PersistentGrant[] = [];
    const out: Acquired = { grants: [], granted: 0, fresh, stale: [] };
    try {
      for (const pfn of pfns) {
        const key = PersistentGrants.#key(pfn, readonly);
        let g = this.#byPage.get(key);
        const mfn = k.dom.memory.mfnOf(pfn) ?? -1;
        if (g && g.mfn !== mfn) {
          // Something else is mapped at the page now: that grant is not this page's any more.
          g.stale = true;
          this.#byPage.delete(key);
          if (g.users === 0) {
            this.#idle.delete(g);
            out.stale.push(g);
          }
          g = undefined;
        }
        if (g) {
          this.stats.hits++;
          this.#idle.delete(g);
        } else {
          this.stats.misses++;
          g = {
            pfn,
            readonly,
            ref: k.grants.grantAccessNow(0, pfn, readonly),
            mfn,
            users: 0,
            stale: false,
          };
          fresh.push(g);
          this.#byPage.set(key, g);
          this.#all.add(g);
        }
        g.users++;
        out.grants.push(g);
      }
    } catch (e) {
      this.fail(out.grants, fresh, k);
      throw new VerbsError("ENOMEM", `grant table full: ${(e as Error).message}`);
    }
    out.granted = fresh.length;
    return out;
  }

  /**
   * A registration with `grants` failed: drop its use of them; grants made
   * for it (`fresh`) are ended and forgotten (dom0 unmapped them).
   */
  fail(grants: readonly PersistentGrant[], fresh: readonly PersistentGrant[], k: Granter): void {
    const made = new Set(fresh);
    for (const g of grants) {
      g.users--;
      if (made.has(g)) {
        this.#forget(g);
        try {
          k.grants.endAccessNow(g.ref);
        } catch {
          // Still mapped by a backend that did not let go: the ref stays in use.
        }
      } else if (g.users === 0) this.#idle.add(g);
    }
  }

  /**
   * A region using `grants` was deregistered: they go idle. Returns the
   * grants to give back now — stale ones, and the least recently used idle
   * ones beyond the limit — which are forgotten here.
   */
  put(grants: readonly PersistentGrant[]): PersistentGrant[] {
    const out: PersistentGrant[] = [];
    for (const g of grants) {
      g.users--;
      if (g.users > 0) continue;
      if (g.stale) out.push(g);
      else this.#idle.add(g);
    }
    let excess = this.#idle.size - this.limit;
    for (const g of this.#idle) {
      if (excess-- <= 0) break;
      out.push(g);
    }
    for (const g of out) this.#forget(g);
    return out;
  }

  /**
   * What {@link put} would give back if a region using `grants` were
   * deregistered now (nothing changes): so that the frontend can ask dom0
   * to drop those mappings in the deregistration request itself.
   */
  plan(grants: readonly PersistentGrant[]): PersistentGrant[] {
    const drop = new Map<PersistentGrant, number>();
    for (const g of grants) drop.set(g, (drop.get(g) ?? 0) + 1);
    const out: PersistentGrant[] = [];
    const idle = [...this.#idle];
    for (const [g, n] of drop) {
      if (g.users - n > 0) continue;
      if (g.stale) out.push(g);
      else idle.push(g);
    }
    const excess = idle.length - this.limit;
    for (let i = 0; i < excess; i++) out.push(idle[i]);
    return out;
  }

  /** Idle grants of page `pfn` (any access), forgotten here: to give back. */
  takeIdleAt(pfn: number): PersistentGrant[] {
    const out: PersistentGrant[] = [];
    for (const ro of [false, true]) {
      const g = this.#byPage.get(PersistentGrants.#key(pfn, ro));
      if (g && g.users === 0) out.push(g);
      else if (g) g.stale = true;
    }
    for (const g of out) this.#forget(g);
    return out;
  }

  /** Every idle grant, forgotten here: to give back (the guest's grant table is full). */
  takeIdle(): PersistentGrant[] {
    const out = [...this.#idle];
    for (const g of out) this.#forget(g);
    return out;
  }

  /** Every grant, forgotten here (the device is going away). */
  takeAll(): PersistentGrant[] {
    const out = [...this.#all];
    this.#all.clear();
    this.#byPage.clear();
    this.#idle.clear();
    return out;
  }

  #forget(g: PersistentGrant): void {
    this.#all.delete(g);
    this.#idle.delete(g);
    const key = PersistentGrants.#key(g.pfn, g.readonly);
    if (this.#byPage.get(key) === g) this.#byPage.delete(key);
  }
}
