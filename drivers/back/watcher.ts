/**
 * Dom0's backend driver: watches `/local/domain/0/backend/vib` for new
 * devices the toolstack creates and starts one backend instance
 * (`vibback.ts`) per frontend; forgets an instance once it has torn down
 * and its guest is gone (then the backend directory is removed).
 *
 * @module
 */
import { XS_RELEASE_DOMAIN } from "../../hypervisor/xenstore.ts";
import { VIB_KEYS } from "../vib/mod.ts";
import { xenbusPaths } from "../xen/xenbus.ts";
import { Dom0Headroom } from "./headroom.ts";
import { type BackendHost, type BackendStats, removeBackendNode, VibBack } from "./vibback.ts";

/**
 * Where the toolstack puts vib backend directories.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { xenbusPaths } from "../xen/xenbus.ts";
 * import { VIB_BACKEND_DIR } from "./watcher.ts";
 * assert.equal(xenbusPaths("vib", 3, 0, 0).backend, `${VIB_BACKEND_DIR}/3/0`);
 * assert.equal(`${VIB_BACKEND_DIR}/3/0`, "/local/domain/0/backend/vib/3/0");
 * ```
 */
export const VIB_BACKEND_DIR = "/local/domain/0/backend/vib";

/**
 * The backend driver of one host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenPlatform } from "../../platform/xen_host.ts";
 * import type { VibBackDriver } from "./watcher.ts";
 * const served = (d: VibBackDriver) => [...d.instances().keys()]; // frontend domids
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm0 = await xen.createGuest({ name: "vm0", driver: "bypass" });
 * const vm1 = await xen.createGuest({ name: "vm1", driver: "split" });
 * assert.deepEqual(served((xen.platform as XenPlatform).backend!), [vm0.domid, vm1.domid]);
 * ```
 */
export class VibBackDriver {
  /** Requests, by op, and dom0 time, over every instance. */
  readonly stats: BackendStats = { requests: 0, byKind: {}, busyNs: 0, refusedByLimit: {} };
  #host: BackendHost;
  #instances = new Map<number, VibBack>();

  /** Dom0's headroom: what no guest may take (shared by every instance). */
  readonly headroom: Dom0Headroom;

  /** @param host dom0's facilities (its `stats` and `headroom` are this driver's) */
  constructor(host: Omit<BackendHost, "stats" | "headroom">) {
    this.headroom = new Dom0Headroom(host);
    this.#host = { ...host, stats: this.stats, headroom: this.headroom };
  }

  /** Start watching (dom0 boot). */
  start(): void {
    const xs = this.#host.hv.xenstore;
    xs.watch(0, VIB_BACKEND_DIR, "vibback-probe", () => this.#scan());
    xs.watch(0, XS_RELEASE_DOMAIN, "vibback-release", () => this.#reap());
  }

  /** Backend instances by frontend domid. */
  instances(): ReadonlyMap<number, VibBack> {
    return this.#instances;
  }

  #scan(): void {
    const xs = this.#host.hv.xenstore;
    let doms: string[];
    try {
      doms = xs.directory(0, VIB_BACKEND_DIR);
    } catch {
      return;
    }
    for (const d of doms) {
      if (!/^[1-9][0-9]*$/.test(d)) continue;
      const domid = Number(d);
      const p = xenbusPaths("vib", domid, 0, 0);
      const old = this.#instances.get(domid);
      // A finished instance is served anew when the toolstack made the device
      // again (a guest that suspended for a migration resumes where it was).
      if (old && !(old.done && this.#initialising(p.backend))) continue;
      // The toolstack writes the mode last: until then the device is not complete.
      const ready = [`${p.backend}/state`, `${p.backend}/${VIB_KEYS.mode}`].every((k) => {
        try {
          return xs.exists(0, k);
        } catch {
          return false;
        }
      });
      if (!ready) continue;
      const inst = new VibBack(this.#host, domid, p);
      this.#instances.set(domid, inst);
      inst.finished.then(() => this.#reap());
    }
  }

  #initialising(backend: string): boolean {
    try {
      return this.#host.hv.xenstore.read(0, `${backend}/state`) === "1";
    } catch {
      return false;
    }
  }

  #reap(): void {
    const hv = this.#host.hv;
    for (const [domid, inst] of this.#instances) {
      if (inst.connected || hv.stateOf(domid) === "running" || hv.stateOf(domid) === "shutdown") {
        continue;
      }
      inst.finished.then(() => {
        if (this.#instances.get(domid) !== inst) return;
        this.#instances.delete(domid);
        removeBackendNode(hv, inst.paths.backend);
      });
    }
  }
}
