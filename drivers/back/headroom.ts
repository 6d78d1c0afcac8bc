/**
 * Dom0's headroom (DESIGN §9 invariant 9): capacity no guest may take, so
 * that dom0's own control operations and a newly booted guest always get
 * what they need however much the running guests hold. Quotas bound one
 * guest; the headroom bounds all of them together. Three pools:
 *
 * - the device's resources (UARs, PDs, MPT and MTT entries, CQs, QPs,
 *   SRQs, AHs), as the native driver's allocators count them: a guest's
 *   allocation that would leave fewer free than the profile's
 *   `dom0.reserve*` is refused with EAGAIN — except a guest's first
 *   context, which may use the UAR reserve (a new guest gets its device);
 * - dom0's grant-map table (Xen's maptrack): a guest's buffer mappings must
 *   leave `dom0.reserveGrantMaps` entries, which only ring pages of
 *   connecting frontends may use (ENOMEM otherwise, as Xen's GNTST_no_space
 *   would become);
 * - dom0's backend heap (split shadow queues): `dom0.reserveHeapBytes`
 *   stay free (ENOMEM).
 *
 * A check passed is a claim (`owner`, the frontend's domid): a request
 * checks before it maps grants and calls the driver, and other backends run
 * meanwhile, so what it was let take is counted as taken until its backend
 * {@link Dom0Headroom.settle}s it at the request's end — else every guest
 * with a request in flight passes the same check against the same free
 * count, and together they take the reserve (`tests/hostile/
 * headroom_race_test.ts`). Xen's claims (`XENMEM_claim_pages`) count
 * outstanding claims against what others may allocate in the same way,
 * and the rdma cgroup charges before the object is made
 * (`rdmacg_try_charge`). A claim is held until the request ends, after
 * the allocation it stood for: a racing request may be refused a little
 * early, never late.
 *
 * Dom0's own verbs programs allocate from the driver directly and are not
 * held back.
 *
 * @module
 */
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import { PAGE_SIZE } from "../../sim/memory.ts";
import type { Profile } from "../../sim/profiles/mod.ts";
import type { HcaDriver } from "../native/driver.ts";
import { VerbsError } from "../uapi/errors.ts";
import type { Dom0Heap } from "./dom0_heap.ts";

/**
 * A device resource a guest's request takes from the driver.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenPlatform } from "../../platform/xen_host.ts";
 * import type { DeviceResource } from "./headroom.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const headroom = (xen.platform as XenPlatform).backend!.headroom;
 * const r: DeviceResource = "mtt";
 * headroom.device(r, 16); // plenty left for dom0
 * assert.throws(() => headroom.device(r, 1 << 30), /EAGAIN: dom0 headroom: 1073741824 mtt asked/);
 * assert.equal(headroom.refusals.mtt, 1);
 * ```
 */
export type DeviceResource = "uar" | "pd" | "mr" | "mtt" | "cq" | "qp" | "srq" | "ah";

/**
 * A pool the headroom keeps a reserve of: a device resource, dom0's
 * grant-map table, or its backend heap.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { HeadroomPool } from "./headroom.ts";
 * const pools: HeadroomPool[] = ["mtt", "grantMaps", "heap"];
 * assert.equal(pools.length, 3);
 * ```
 */
export type HeadroomPool = DeviceResource | "grantMaps" | "heap";

const RESERVE_KEY: Record<DeviceResource, keyof Profile["dom0"]> = {
  uar: "reserveUars",
  pd: "reservePds",
  mr: "reserveMrs",
  mtt: "reserveMtts",
  cq: "reserveCqs",
  qp: "reserveQps",
  srq: "reserveSrqs",
  ah: "reserveAhs",
};

/**
 * Dom0's headroom checks, shared by every backend instance of a host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenPlatform } from "../../platform/xen_host.ts";
 * import type { Dom0Headroom } from "./headroom.ts";
 * const canMap = (h: Dom0Headroom, n: number) => {
 *   try {
 *     h.grantMaps(n, false);
 *     return true;
 *   } catch {
 *     return false; // would eat into what new guests' rings need
 *   }
 * };
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const headroom = (xen.platform as XenPlatform).backend!.headroom;
 * assert.ok(canMap(headroom, 64));
 * assert.ok(!canMap(headroom, 1 << 30));
 * assert.equal(headroom.refusals.grantMaps, 1);
 * ```
 */
export class Dom0Headroom {
  /** Refusals so far, by pool. */
  readonly refusals: Record<string, number> = {};
  /** What checks passed for requests still in flight, by pool (bytes for the heap). */
  readonly #claimed = new Map<HeadroomPool, number>();
  /** The same, by frontend domid and pool. */
  readonly #claims = new Map<number, Map<HeadroomPool, number>>();

  /**
   * @param o the driver (device allocators), the hypervisor (dom0's maptrack),
   *   the backend heap and the profile (the reserves)
   */
  constructor(
    private o: { driver: HcaDriver; hv: Hypervisor; heap: Dom0Heap; profile: Profile },
  ) {}

  #refuse(pool: string, code: "EAGAIN" | "ENOMEM", msg: string): VerbsError {
    this.refusals[pool] = (this.refusals[pool] ?? 0) + 1;
    return Object.assign(new VerbsError(code, `dom0 headroom: ${msg}`), { limit: `dom0:${pool}` });
  }

  /** What requests in flight were let take of `pool` and have not settled (bytes for the heap). */
  claimed(pool: HeadroomPool): number {
    return this.#claimed.get(pool) ?? 0;
  }

  #claim(owner: number | undefined, pool: HeadroomPool, n: number): void {
    if (owner === undefined) return;
    this.#claimed.set(pool, this.claimed(pool) + n);
    let mine = this.#claims.get(owner);
    if (!mine) this.#claims.set(owner, mine = new Map());
    mine.set(pool, (mine.get(pool) ?? 0) + n);
  }

  /**
   * The request of frontend `owner` has ended: what its checks let it take
   * is now taken (or was given back), and no longer claimed.
   */
  settle(owner: number): void {
    const mine = this.#claims.get(owner);
    if (!mine) return;
    this.#claims.delete(owner);
    for (const [pool, n] of mine) this.#claimed.set(pool, this.claimed(pool) - n);
  }

  /** What dom0 keeps of device resource `kind` for itself and new guests (the profile's reserve). */
  reserveOf(kind: DeviceResource): number {
    return this.o.profile.dom0[RESERVE_KEY[kind]];
  }

  /**
   * Throw unless taking `n` more of device resource `kind` leaves dom0's
   * reserve free (`useReserve`: a guest's first context may dip into it),
   * counting what other requests in flight were let take; with `owner` (a
   * frontend's domid), the `n` is claimed until {@link settle}.
   */
  device(kind: DeviceResource, n: number, useReserve = false, owner?: number): void {
    if (n <= 0) return;
    const free = this.o.driver.available()[kind] - this.claimed(kind);
    const keep = useReserve ? 0 : this.reserveOf(kind);
    if (free - n < keep) {
      throw this.#refuse(
        kind,
        "EAGAIN",
        `${n} ${kind} asked, ${free} free, ${keep} kept for dom0 and new guests`,
      );
    }
    this.#claim(owner, kind, n);
  }

  /**
   * Throw unless `n` more grant mappings leave dom0's maptrack reserve
   * (`rings`: a connecting frontend's ring pages, which may use it); with
   * `owner`, claimed until {@link settle}.
   */
  grantMaps(n: number, rings: boolean, owner?: number): void {
    if (n <= 0) return;
    const hv = this.o.hv;
    const free = hv.maptrackSize(0) - hv.grantsMappedBy(0) - this.claimed("grantMaps");
    const keep = rings ? 0 : this.o.profile.dom0.reserveGrantMaps;
    if (free - n < keep) {
      throw this.#refuse(
        "grantMaps",
        "ENOMEM",
        `${n} grant mappings asked, ${free} entries of dom0's table free, ${keep} kept for new guests' rings`,
      );
    }
    this.#claim(owner, "grantMaps", n);
  }

  /** Throw unless `bytes` more of the backend heap leave its reserve; with `owner`, claimed. */
  heap(bytes: number, owner?: number): void {
    const need = Math.max(1, Math.ceil(bytes / PAGE_SIZE)) * PAGE_SIZE;
    const free = this.o.heap.pagesFree * PAGE_SIZE - this.claimed("heap");
    const keep = this.o.profile.dom0.reserveHeapBytes;
    if (free - need < keep) {
      throw this.#refuse(
        "heap",
        "ENOMEM",
        `${need} bytes of dom0's backend heap asked, ${free} free, ${keep} kept back`,
      );
    }
    this.#claim(owner, "heap", need);
  }
}
