/**
 * Domain lifecycle: building a domain (dom0 at boot, guests on
 * `domctl:createdomain`), shutdown and crash, and teardown down to `dead`.
 *
 * Teardown runs at once and in this order: event channels closed (peers'
 * ports become unbound), I/O pages unmapped, grants the domain mapped
 * unmapped, its grant table and shared-info page given back, its memory
 * given back, its xenstore home removed and `@releaseDomain` fired,
 * `VIRQ_DOM_EXC` raised to dom0, then the teardown hooks run (backends
 * release what they hold for it). `VIRQ_DOM_EXC` is raised to dom0 also
 * when a domain shuts down (any reason, suspend too) or crashes, and when
 * it is finally dead, as Xen's `domain.c` does; it reaches dom0 only if
 * dom0 bound it (`EVTCHNOP_bind_virq`), and nothing binds it by default. Every
 * step runs even if an earlier one failed: a failure is a fault (counted,
 * logged, see `HostState.fault`), never a reason to stop half-way.
 *
 * Giving a frame back drops the domain's reference; a frame another domain
 * still maps, or a device still reaches through an MTT entry a driver
 * pinned, stays allocated until that reference goes too (`memory.ts`). The
 * domain stays `dying` until its last frame is back in the heap, then it
 * is `dead`, as in Xen.
 *
 * @module
 */
import { PAGE_SIZE } from "../sim/memory.ts";
import { AddressSpace } from "../sim/address_space.ts";
import { XenError } from "./errors.ts";
import { DOMID_FIRST_RESERVED, intArg, show } from "./args.ts";
import { Domain, newDomainCore, type ShutdownCode, type TeardownReason } from "./domain.ts";
import {
  NR_EVENT_CHANNELS,
  OFF_UPCALL_MASK,
  SharedInfo,
  VCPU_INFO_SIZE,
  VIRQ,
  XEN_LEGACY_MAX_VCPUS,
} from "./event_channel.ts";
import type { HostState } from "./host.ts";

/**
 * `domctl:createdomain` arguments.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { type DomainConfig, Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const cfg: DomainConfig = {
 *   name: "small",
 *   memoryBytes: 4 << 20,
 *   grantFrames: 1,
 *   maxEvtchnPorts: 64,
 * };
 * const vm = await engine.run(() => hv.createDomain(hv.dom0, cfg));
 * assert.equal(hv.grantTableFrames(vm.domid)!.length, 1); // 512 refs of 8 bytes
 * assert.equal(vm.name, "small");
 * ```
 */
export interface DomainConfig {
  /** Unique name. */
  name: string;
  /** Size of the domain's address space (frames are taken lazily). */
  memoryBytes: number;
  /** Grant-table frames (1..64). */
  grantFrames?: number;
  /** Event-channel port numbers available (2..4096, port 0 reserved). */
  maxEvtchnPorts?: number;
  /** Grants the domain may map at once. */
  maxMaptrack?: number;
  /** Build it paused (a domain being restored): it runs from `domctl:unpausedomain` on. */
  paused?: boolean;
}

const MIN_DOMAIN_PAGES = 16;

/**
 * Builds, shuts down and tears down the domains of one host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { HostState } from "./host.ts";
 * import { Lifecycle } from "./lifecycle.ts";
 * let life: Lifecycle | undefined;
 * const events = {
 *   kick: () => {},
 *   returned: () => {},
 *   zombieReleased: (d: number) => life!.markDead(d),
 * };
 * const h = new HostState(
 *   new Engine(),
 *   new MachineMemory(64 << 20),
 *   PCIX_SDR_2006,
 *   new Prng(1),
 *   {},
 *   events,
 * );
 * life = new Lifecycle(h, () => {});
 * const vm = life.build(1, "vm", false, { name: "vm", memoryBytes: 8 << 20, grantFrames: 1 });
 * assert.equal(h.domains.get(1), vm);
 * life.teardown(vm, "destroy");
 * assert.deepEqual([vm.state, h.domains.size], ["dead", 0]);
 * ```
 */
export class Lifecycle {
  /**
   * @param h the host's shared state
   * @param upcallInstalled called with a domid when it installs an upcall
   *   handler, so events that arrived before it are delivered
   */
  constructor(
    private h: HostState,
    private upcallInstalled: (domid: number) => void,
  ) {}

  /** Build domain `domid` from `cfg` (arguments already checked) and introduce it to xenstore. */
  build(domid: number, name: string, privileged: boolean, cfg: DomainConfig): Domain {
    const h = this.h;
    const grantFrames = cfg.grantFrames ?? h.opts.grantFrames;
    const [memLabel, siLabel] = h.frameLabels(domid);
    const memory = new AddressSpace(h.mem, memLabel, cfg.memoryBytes, h.prng.fork());
    const siMfn = h.mem.allocFrame(siLabel);
    const sharedInfoAddr = memory.mapForeign(siMfn);
    const sharedInfo = new SharedInfo(h.mem.frame(siMfn));
    // A PV domain boots with every vCPU's upcalls masked (libxc's shared_info_x86_64, Xen's
    // dom0_build.c): its kernel unmasks once its handler is in place (EventDispatcher).
    for (let v = 0; v < XEN_LEGACY_MAX_VCPUS; v++) {
      sharedInfo.page[v * VCPU_INFO_SIZE + OFF_UPCALL_MASK] = 1;
    }
    const tableAddrs = h.grants.setupTable(
      { domid, memory },
      grantFrames,
      cfg.maxMaptrack ?? h.opts.maxMaptrack,
    );
    h.evtchn.addDomain(domid, sharedInfo, cfg.maxEvtchnPorts ?? NR_EVENT_CHANNELS);
    const core = newDomainCore(h.engine, () => this.upcallInstalled(domid));
    core.paused = cfg.paused === true;
    core.controllerPauses = core.paused ? 1 : 0;
    const dom = new Domain(
      { domid, name, privileged, memory, sharedInfo, sharedInfoAddr, grantTableAddrs: tableAddrs },
      core,
    );
    h.domains.set(domid, dom);
    h.cores.set(domid, core);
    h.xenFrames.set(domid, { sharedInfo: siMfn, grantFrames });
    h.xenstore.introduceDomain(domid, name);
    return dom;
  }

  /**
   * The body of `domctl:createdomain` once the caller is known to be
   * privileged: check the untrusted argument block, then build.
   */
  create(a: Record<string, unknown>): Domain {
    const h = this.h;
    const what = "domctl:createdomain";
    const name = a.name;
    if (typeof name !== "string" || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
      throw new XenError("EINVAL", `${what}: name ${show(name)} must be 1-64 of [A-Za-z0-9_.-]`);
    }
    for (const d of h.domains.values()) {
      if (d.name === name) throw new XenError("EEXIST", `${what}: ${d} already has that name`);
    }
    const grantFrames = a.grantFrames === undefined
      ? h.opts.grantFrames
      : intArg(a.grantFrames, 1, 64, `${what}: grantFrames`);
    const minBytes = (MIN_DOMAIN_PAGES + grantFrames) * PAGE_SIZE;
    const bytes = intArg(a.memoryBytes, minBytes, Number.MAX_SAFE_INTEGER, `${what}: memoryBytes`);
    if (bytes > h.mem.frames * PAGE_SIZE) {
      throw new XenError("ENOMEM", `${what}: ${bytes} bytes is more than the host's memory`);
    }
    if (h.mem.available < grantFrames + 1) {
      throw new XenError("ENOMEM", `${what}: no machine frames left for the domain's tables`);
    }
    const maxEvtchnPorts = a.maxEvtchnPorts === undefined
      ? undefined
      : intArg(a.maxEvtchnPorts, 2, NR_EVENT_CHANNELS, `${what}: maxEvtchnPorts`);
    const maxMaptrack = a.maxMaptrack === undefined
      ? undefined
      : intArg(a.maxMaptrack, 1, 1 << 20, `${what}: maxMaptrack`);
    if (h.nextDomid >= DOMID_FIRST_RESERVED) {
      throw new XenError("ENOSPC", `${what}: domain ids exhausted`);
    }
    if (a.paused !== undefined && typeof a.paused !== "boolean") {
      throw new XenError("EINVAL", `${what}: paused ${show(a.paused)} is not a boolean`);
    }
    const domid = h.nextDomid++;
    return this.build(domid, name, false, {
      name,
      memoryBytes: bytes,
      grantFrames,
      maxEvtchnPorts,
      maxMaptrack,
      paused: a.paused === true,
    });
  }

  /**
   * Mark `d` shut down (crashed, for `crash`) with `reason` as its shutdown
   * code; tear it down unless the host keeps zombies for dom0.
   */
  markShutdown(d: Domain, reason: Exclude<ShutdownCode, "suspend">): void {
    const h = this.h;
    const core = h.cores.get(d.domid)!;
    core.state = reason === "crash" ? "crashed" : "shutdown";
    core.reason = reason === "crash" ? "crash" : "shutdown";
    core.shutdownCode = reason;
    core.stateChanged.notifyAll();
    h.engine.traceMark(`xen:${core.state}`, d.domid);
    this.#domExc();
    if (h.opts.autoDestroy) this.teardown(d, core.reason);
  }

  /**
   * `send_global_virq(VIRQ_DOM_EXC)` (xen/common/domain.c): the VIRQ's
   * handler is the hardware domain, dom0 (no `XEN_DOMCTL_set_virq_handler`
   * here); its port goes pending if it bound one, else nothing happens.
   */
  #domExc(): void {
    this.h.evtchn.raiseVirq(0, VIRQ.DOM_EXC);
  }

  /**
   * `d` suspended itself (`SHUTDOWN_suspend`): its vCPU stops; memory, grants
   * and ports stay until dom0 destroys it (migrated away) or resumes it.
   */
  markSuspended(d: Domain): void {
    const core = this.h.cores.get(d.domid)!;
    core.suspended = true;
    core.shutdownCode = "suspend";
    core.stateChanged.notifyAll();
    this.h.engine.traceMark("xen:suspended", d.domid);
    // __domain_finalise_shutdown(): a suspend is VIRQ_DOM_EXC too, unless the toolstack
    // subscribed an event channel for it (XEN_DOMCTL_subscribe, not modelled).
    this.#domExc();
  }

  /** `d` runs again (`domctl:unpausedomain`, `domctl:resumedomain`): pending upcalls go in. */
  markRunnable(d: Domain, how: "unpause" | "resume"): void {
    const core = this.h.cores.get(d.domid)!;
    if (how === "unpause") core.paused = false;
    else {
      // domain_resume(): the shutdown code is reset with the suspend.
      core.suspended = false;
      core.shutdownCode = undefined;
    }
    core.stateChanged.notifyAll();
    if (!core.paused && !core.suspended) this.upcallInstalled(d.domid);
  }

  /** Tear `d` down now (see the module doc for the order). */
  teardown(d: Domain, reason: TeardownReason): void {
    const h = this.h;
    const id = d.domid;
    const core = h.cores.get(id)!;
    core.state = "dying";
    core.reason ??= reason;
    core.upcall = undefined;
    h.upcallScheduled.delete(id);
    const xf = h.xenFrames.get(id);
    h.xenFrames.delete(id);
    // domain_kill() leaves controller_pause_count as it was: a toolstack that paused the domain
    // before destroying it (libxl does) still has it paused (EVTCHNOP_reset of it is then 0).
    core.paused = core.suspended = false;
    const steps: [string, () => void][] = [
      ["leave log-dirty mode", () => h.logDirty.release(id)],
      ["close its event channels", () => h.evtchn.removeDomain(id)],
      ["unmap its I/O pages", () => h.io.releaseDomain(id)],
      ["unmap the grants it mapped", () => h.grants.releaseMapper(id)],
      ["drop its grant table", () => h.grants.releaseGranter(id)],
      ["give back its shared-info page", () => xf && h.mem.freeFrame(xf.sharedInfo)],
      ["give back its memory", () => d.memory.releaseAll()],
      ["remove its xenstore home", () => h.xenstore.releaseDomain(id)],
    ];
    for (const [what, step] of steps) {
      try {
        step();
      } catch (err) {
        h.fault(`teardown of dom${id}: ${what}`, err);
      }
    }
    core.stateChanged.notifyAll();
    h.engine.traceMark("xen:teardown", id);
    // domain_kill(): its resources relinquished (DOMDYING_dead), send_global_virq(VIRQ_DOM_EXC).
    this.#domExc();
    const hooks = core.hooks.splice(0);
    // From now on, the last of its frames to go back to the heap makes it dead.
    for (const l of h.frameLabels(id)) h.dyingLabels.set(l, id);
    if (h.framesHeld(id) === 0) this.markDead(id);
    for (const hook of hooks) {
      h.engine.spawn(`teardown hook of dom${id}`, async () => {
        await hook(d, core.reason!);
      }).catch((err) => {
        h.hookErrors.push(err);
        h.onHookError(err);
      });
    }
  }

  /** `domid` is gone for good: its last frame was freed, or it had none left mapped. */
  markDead(domid: number): void {
    const h = this.h;
    const core = h.cores.get(domid);
    if (!core) return;
    for (const l of h.frameLabels(domid)) h.dyingLabels.delete(l);
    core.state = "dead";
    h.evtchn.forget(domid);
    h.grants.forget(domid);
    h.domains.delete(domid);
    h.cores.delete(domid);
    core.stateChanged.notifyAll();
    // complete_domain_destroy(): the domain is freed, send_global_virq(VIRQ_DOM_EXC).
    this.#domExc();
  }
}
