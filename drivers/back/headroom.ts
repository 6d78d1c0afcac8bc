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

  /**
   * Throw unless taking `n` more of device resource `kind` leaves dom0's
   * reserve free (`useReserve`: a guest's first context may dip into it).
   */
  device(kind: DeviceResource, n: number, useReserve = false): void {
    if (n <= 0) return;
    const free = this.o.driver.available()[kind];
    const keep = useReserve ? 0 : this.o.profile.dom0[RESERVE_KEY[kind]];
    if (free - n < keep) {
      throw this.#refuse(
        kind,
        "EAGAIN",
        `${n} ${kind} asked, ${free} free, ${keep} kept for dom0 and new guests`,
      );
    }
  }

  /**
   * Throw unless `n` more grant mappings leave dom0's maptrack reserve
   * (`rings`: a connecting frontend's ring pages, which may use it).
   */
  grantMaps(n: number, rings: boolean): void {
    if (n <= 0) return;
    const hv = this.o.hv;
    const free = hv.maptrackSize(0) - hv.grantsMappedBy(0);
    const keep = rings ? 0 : this.o.profile.dom0.reserveGrantMaps;
    if (free - n < keep) {
      throw this.#refuse(
        "grantMaps",
        "ENOMEM",
        `${n} grant mappings asked, ${free} entries of dom0's table free, ${keep} kept for new guests' rings`,
      );
    }
  }

  /** Throw unless `bytes` more of the backend heap leave its reserve. */
  heap(bytes: number): void {
    const need = Math.max(1, Math.ceil(bytes / PAGE_SIZE)) * PAGE_SIZE;
    const free = this.o.heap.pagesFree * PAGE_SIZE;
    const keep = this.o.profile.dom0.reserveHeapBytes;
    if (free - need < keep) {
      throw this.#refuse(
        "heap",
        "ENOMEM",
        `${need} bytes of dom0's backend heap asked, ${free} free, ${keep} kept back`,
      );
    }
  }
}
