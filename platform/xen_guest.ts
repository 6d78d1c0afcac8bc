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
import type { Domain as XenDomain } from "../hypervisor/domain.ts";
import { Domain } from "./domain.ts";
import type { GuestDomain, GuestOptions } from "./host.ts";
import { VibFrontFile } from "../drivers/front/file.ts";
import { VibFront } from "../drivers/front/vibfront.ts";
import type { XenPlatform } from "./xen_host.ts";
import { asVerbsError, inEngine } from "./util.ts";

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
  #platform: XenPlatform;
  #gone = false;

  /**
   * Built by the toolstack ({@link XenPlatform.createGuest}).
   * @param platform the host
   * @param xd the hypervisor's domain
   * @param paths xenstore directories of its vib device
   * @param opts what was asked for
   */
  constructor(
    platform: XenPlatform,
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
    });
    this.#platform = platform;
    this.xen = xd;
    this.mode = opts.driver === "split" ? "split" : "bypass";
    this.front = new VibFront({
      engine: hw.engine,
      profile: hw.profile,
      hv: platform.hv,
      dom: xd,
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
    const inst = this.#platform.backend?.instances().get(this.xen.domid);
    if (inst) await inst.finished;
    await this.xen.whenDead();
    this.#platform.forget(this);
  }
}
