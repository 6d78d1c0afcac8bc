/**
 * A Xen guest as programs see it (`host.createGuest`): a verbs `Domain`
 * whose memory is the guest's pseudo-physical space and whose RDMA device
 * is the vib frontend, plus its lifecycle — clean shutdown (the frontend
 * closes, xenbus Closing → Closed, the backend tears down, then the
 * domain powers off) and crash (Xen kills it; the backend cleans up
 * without the guest's help).
 *
 * @module
 */
import { VibFrontFile } from "../drivers/front/file.ts";
import { VibFront } from "../drivers/front/vibfront.ts";
import { GuestGrantTable } from "../drivers/xen/grant_table.ts";
import type { Domain as XenDomain } from "../hypervisor/domain.ts";
import type { Hypervisor } from "../hypervisor/hypervisor.ts";
import { Domain } from "./domain.ts";
import type { GuestDomain, GuestOptions, HostHardware } from "./host.ts";
import { asVerbsError, inEngine, xenKernelName } from "./util.ts";

/**
 * What a guest needs of the host that runs it (the Xen host's toolstack,
 * `xen_host.ts`): the hardware, the hypervisor, dom0's backend (to wait for
 * its teardown) and a way to leave the host's list of guests.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { GuestToolstack } from "./xen_guest.ts";
 * const idle = (t: GuestToolstack) => t.backendDone(7) === undefined;
 * assert.equal(typeof idle, "function");
 * ```
 */
export interface GuestToolstack {
  readonly hw: Pick<HostHardware, "engine" | "profile" | "memory" | "noise">;
  readonly hv: Hypervisor;
  /** Resolves when dom0's backend instance for `domid` has torn down (undefined: none). */
  backendDone(domid: number): Promise<void> | undefined;
  /** The guest is gone: drop it from the host's guests. */
  forget(g: XenGuest): void;
}

/**
 * A guest domain.
 *
 * @example
 * ```ts
 * import { Cluster } from "./cluster.ts";
 * import "./xen_host.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", memoryMiB: 64, driver: "bypass" });
 * await vm.shutdown();
 * console.log(xen.guests.length); // 0
 * ```
 */
export class XenGuest extends Domain implements GuestDomain {
  /** The hypervisor's domain. */
  readonly xen: XenDomain;
  /** "bypass" or "split". */
  readonly mode: "bypass" | "split";
  /** The guest kernel's vib frontend. */
  readonly front: VibFront;
  /** The guest kernel's grant-table client (the frontend grants through it). */
  readonly grants: GuestGrantTable;
  #platform: GuestToolstack;
  #gone = false;

  /**
   * Built by the toolstack (`XenPlatform.createGuest`).
   * @param platform the host
   * @param xd the hypervisor's domain
   * @param paths xenstore directories of its vib device
   * @param opts what was asked for
   */
  constructor(
    platform: GuestToolstack,
    xd: XenDomain,
    paths: { frontend: string; backend: string },
    opts: GuestOptions,
  ) {
    const hw = platform.hw;
    super({
      name: opts.name,
      domid: xd.domid,
      engine: hw.engine,
      profile: hw.profile,
      space: xd.memory,
      machine: hw.memory,
      regCache: opts.regCache ?? true,
      noise: hw.noise?.cpu(xenKernelName(platform.hv, xd.domid)),
    });
    this.#platform = platform;
    this.xen = xd;
    this.mode = opts.driver === "split" ? "split" : "bypass";
    this.grants = GuestGrantTable.of(xd, hw.engine, hw.profile.xen.grantEntryNs);
    this.front = new VibFront({
      engine: hw.engine,
      profile: hw.profile,
      hv: platform.hv,
      dom: xd,
      grants: this.grants,
      paths,
      mode: this.mode,
      makeFile: (front, r) => new VibFrontFile(front, r),
    });
    this.front.onDead = () => this.removeDevice(this.front.name);
  }

  /** @internal the guest kernel boots: its frontend connects */
  async boot(): Promise<void> {
    await this.front.connect();
    this.addDevice(this.front);
  }

  /** True until the guest shut down or crashed. */
  get running(): boolean {
    return this.xen.running;
  }

  /** Clean shutdown: the frontend disconnects, the backend tears down, the domain powers off. */
  shutdown(): Promise<void> {
    return inEngine(this.engine, `shutdown ${this.name}`, async () => {
      if (this.#gone) return;
      this.#gone = true;
      await this.front.disconnect();
      this.removeDevice(this.front.name);
      try {
        await this.#platform.hv.shutdown(this.xen, this.xen.domid, "poweroff");
      } catch (e) {
        throw asVerbsError(e, `shutdown ${this.name}`);
      }
      await this.whenDead();
    });
  }

  /** Abrupt death: Xen tears the domain down; dom0's backend cleans up on its own. */
  crash(): void {
    if (this.#gone) return;
    this.#gone = true;
    this.front.crashed();
    this.removeDevice(this.front.name);
    this.#platform.hv.domainCrash(this.xen);
    this.#platform.forget(this);
  }

  /**
   * Resolves (in virtual time) when the backend has returned everything
   * and the hypervisor has freed the domain's last frame.
   */
  async whenDead(): Promise<void> {
    await this.#platform.backendDone(this.xen.domid);
    await this.xen.whenDead();
    this.#platform.forget(this);
  }
}
