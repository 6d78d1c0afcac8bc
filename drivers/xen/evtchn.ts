/**
 * A domain kernel's event-channel layer (Linux `drivers/xen/events`): the
 * one upcall handler Xen calls for the domain, demultiplexed to the
 * handlers bound to each port — physical IRQs in dom0, one port per
 * split device in guests and in dom0's backends.
 *
 * Handlers run inside the upcall, an engine callback: they must not
 * await; they wake processes or schedule work. The kernel holds upcalls
 * back the way Linux PV does (`arch/x86/xen/irq.c`): `disableUpcalls` sets
 * `vcpu_info.evtchn_upcall_mask`, `enableUpcalls` clears it and, if an
 * upcall became pending meanwhile, makes the hypercall whose return
 * delivers it.
 *
 * @module
 */
import type { Domain as XenDomain } from "../../hypervisor/domain.ts";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";

/**
 * Port → handler table of one domain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../../sim/mod.ts";
 * import { Hypervisor } from "../../hypervisor/mod.ts";
 * import { EventDispatcher } from "./evtchn.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(256 << 20), PCIX_SDR_2006, new Prng(1));
 * const events = EventDispatcher.of(hv.dom0);
 * let hits = 0;
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 16 << 20 });
 *   const port = await hv.evtchnAllocUnbound(hv.dom0, { remoteDom: vm.domid });
 *   events.bind(port, () => hits++);
 *   const p = await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: port });
 *   await hv.evtchnSend(vm, p);
 *   await engine.sleep(10_000);
 * });
 * assert.equal(hits, 1); // dom0's handler for that port ran once
 * ```
 */
export class EventDispatcher {
  static #of = new WeakMap<XenDomain, EventDispatcher>();
  #handlers = new Map<number, () => void>();
  /** Upcalls taken, ports dispatched. */
  readonly counters = { upcalls: 0, events: 0 };

  private constructor(readonly dom: XenDomain) {
    // The kernel's boot: its callback in place, it enables events (the domain was built with
    // upcalls masked); what arrived meanwhile is delivered as the handler is installed.
    dom.sharedInfo.unmaskUpcalls();
    dom.installUpcall(() => this.#upcall());
  }

  /** The dispatcher of `dom` (installed as its upcall handler on first use). */
  static of(dom: XenDomain): EventDispatcher {
    let d = EventDispatcher.#of.get(dom);
    if (!d) {
      d = new EventDispatcher(dom);
      EventDispatcher.#of.set(dom, d);
    }
    return d;
  }

  /** Call `fn` when `port` fires (replaces an earlier handler). */
  bind(port: number, fn: () => void): void {
    this.#handlers.set(port, fn);
  }

  /** Forget `port`'s handler. */
  unbind(port: number): void {
    this.#handlers.delete(port);
  }

  /**
   * Hold this domain's upcalls back (Linux `xen_irq_disable`: one store to
   * `evtchn_upcall_mask`, no hypercall). Events still become pending.
   */
  disableUpcalls(): void {
    this.dom.sharedInfo.maskUpcalls();
  }

  /**
   * Let upcalls in again (Linux `xen_irq_enable`): clear the mask, and if an
   * upcall is pending, make a hypercall (`xen_force_evtchn_callback`:
   * `XENVER_version`) whose return delivers it, `upcallNs` later. Costs
   * nothing when none is pending. Call from a process of this domain.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../../sim/mod.ts";
   * import { Hypervisor } from "../../hypervisor/mod.ts";
   * import { EventDispatcher } from "./evtchn.ts";
   * const engine = new Engine();
   * const hv = new Hypervisor(engine, new MachineMemory(256 << 20), PCIX_SDR_2006, new Prng(1));
   * const hits: number[] = [];
   * await engine.run(async () => {
   *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 16 << 20 });
   *   const back = await hv.evtchnAllocUnbound(hv.dom0, { remoteDom: vm.domid });
   *   const events = EventDispatcher.of(vm);
   *   events.disableUpcalls();
   *   const port = await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: back });
   *   events.bind(port, () => hits.push(engine.now));
   *   await hv.evtchnSend(hv.dom0, back);
   *   await engine.sleep(100_000);
   *   assert.deepEqual(hits, []); // pending, held back
   *   const t = engine.now;
   *   await events.enableUpcalls(hv);
   *   await engine.sleep(100_000);
   *   assert.deepEqual(hits, [t + PCIX_SDR_2006.xen.hypercallNs + PCIX_SDR_2006.xen.upcallNs]);
   * });
   * ```
   */
  async enableUpcalls(hv: Hypervisor): Promise<void> {
    if (this.dom.sharedInfo.unmaskUpcalls()) await hv.xenVersion(this.dom);
  }

  #upcall(): void {
    this.counters.upcalls++;
    // One array for every upcall's ports, unless a handler runs another upcall meanwhile.
    const ports = this.dom.sharedInfo.takePending(this.#spare ?? []);
    this.#spare = undefined;
    for (let i = 0; i < ports.length; i++) {
      const h = this.#handlers.get(ports[i]);
      if (!h) continue;
      this.counters.events++;
      h();
    }
    this.#spare = ports;
  }

  #spare: number[] | undefined = [];
}
