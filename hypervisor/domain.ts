/**
 * A Xen domain as the rest of the system sees it: id, name, privilege, its
 * memory (the P2M), its lifecycle state, the upcall handler its kernel
 * installs, and teardown hooks other components register.
 *
 * Lifecycle: `running` → `shutdown` (clean) or `crashed` → `dying` (teardown
 * has run; some of its frames are still mapped by other domains) → `dead`
 * (everything returned). A domain leaves `shutdown`/`crashed` when it is
 * destroyed, which the hypervisor does at once unless told otherwise. Only
 * the hypervisor changes the state: it holds the {@link DomainCore} record
 * the domain was built with.
 *
 * @module
 */
import { type Engine, WaitQueue } from "../sim/engine.ts";
import type { AddressSpace } from "../sim/address_space.ts";
import type { SharedInfo } from "./event_channel.ts";

/**
 * Where a domain is in its life.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * import type { DomainState } from "./domain.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const states: DomainState[] = [];
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   states.push(vm.state);
 *   hv.domainCrash(vm);
 *   await vm.whenDead();
 *   states.push(vm.state);
 * });
 * assert.deepEqual(states, ["running", "dead"]);
 * ```
 */
export type DomainState = "running" | "shutdown" | "crashed" | "dying" | "dead";

/**
 * The `SHUTDOWN_*` reasons of `xen/sched.h`, each at its value
 * (`SHUTDOWN_poweroff` 0 … `SHUTDOWN_soft_reset` 5): what a domain passes to
 * `SCHEDOP_shutdown` (and dom0 to `SCHEDOP_remote_shutdown`), by name or by
 * value. Xen records it as the domain's shutdown code for the toolstack,
 * which decides what follows (xl: destroy on poweroff, restart on reboot).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SHUTDOWN_REASONS } from "./domain.ts";
 * assert.equal(SHUTDOWN_REASONS.indexOf("crash"), 3); // #define SHUTDOWN_crash 3
 * assert.equal(SHUTDOWN_REASONS[2], "suspend");
 * ```
 */
export const SHUTDOWN_REASONS = [
  "poweroff",
  "reboot",
  "suspend",
  "crash",
  "watchdog",
  "soft_reset",
] as const;

/**
 * A `SHUTDOWN_*` reason by name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SHUTDOWN_REASONS, type ShutdownReason } from "./domain.ts";
 * const code = (r: ShutdownReason) => SHUTDOWN_REASONS.indexOf(r);
 * assert.equal(code("watchdog"), 4);
 * ```
 */
export type ShutdownReason = typeof SHUTDOWN_REASONS[number];

/**
 * Xen's `shutdown_code`: a `SHUTDOWN_*` reason by name, or the number of a
 * code `xen/sched.h` names nothing for (6..255). Xen takes any reason a
 * domain gives (`do_sched_op` passes `(u8)reason` to `domain_shutdown`,
 * which refuses none); what a code means is the toolstack's business.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SHUTDOWN_REASONS, type ShutdownCode } from "./domain.ts";
 * const codeOf = (v: number): ShutdownCode => SHUTDOWN_REASONS[v & 0xff] ?? (v & 0xff);
 * assert.equal(codeOf(3), "crash");
 * assert.equal(codeOf(7), 7);
 * assert.equal(codeOf(258), "suspend"); // (u8)258
 * ```
 */
export type ShutdownCode = ShutdownReason | number;

/**
 * Why a domain was torn down.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * import type { TeardownReason } from "./domain.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const reasons: TeardownReason[] = [];
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   vm.onTeardown((_dom, why) => void reasons.push(why));
 *   hv.domainCrash(vm);
 *   await vm.whenDead();
 * });
 * assert.deepEqual(reasons, ["crash"]);
 * ```
 */
export type TeardownReason = "shutdown" | "crash" | "destroy";

/**
 * The guest kernel's event-channel upcall (a virtual interrupt). It runs as
 * an engine callback, not a process: it must not await; it reads the
 * pending ports (`dom.sharedInfo.takePending()`) and wakes processes. A
 * domain boots with upcalls masked (`vcpu_info.evtchn_upcall_mask`, as
 * libxc builds a PV domain): none is entered until its kernel unmasks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * import type { UpcallHandler } from "./domain.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * const seen: number[] = [];
 * // What a guest kernel's event handler does: take the pending ports, dispatch each.
 * const handler: UpcallHandler = (dom) => void seen.push(...dom.sharedInfo.takePending());
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   vm.sharedInfo.unmaskUpcalls(); // it booted with upcalls masked
 *   vm.installUpcall(handler);
 *   const back = await hv.evtchnAllocUnbound(hv.dom0, { remoteDom: vm.domid });
 *   const r = await hv.hypercall(vm, "event_channel_op:bind_interdomain", {
 *     remoteDom: 0,
 *     remotePort: back,
 *   });
 *   await hv.evtchnSend(hv.dom0, back);
 *   await engine.sleep(100_000); // the upcall is delivered after the send returns
 *   assert.deepEqual(seen, [r.value]);
 * });
 * ```
 */
export type UpcallHandler = (dom: Domain) => void;

/**
 * Run when the domain is torn down (after the hypervisor revoked what it
 * owns). A hook that returns a promise runs as its own engine process, so it
 * may take virtual time (a backend unmapping grants, destroying HCA
 * resources).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * import type { TeardownHook } from "./domain.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * // A backend releases what it holds for a guest when the guest goes away.
 * const held = new Map<number, string[]>([[1, ["grant 8", "port 3"]]]);
 * const release: TeardownHook = (dom) => void held.delete(dom.domid);
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   assert.equal(vm.domid, 1);
 *   vm.onTeardown(release);
 *   await hv.destroyDomain(hv.dom0, vm.domid);
 * });
 * assert.equal(held.size, 0);
 * ```
 */
export type TeardownHook = (dom: Domain, reason: TeardownReason) => void | Promise<void>;

/**
 * The mutable part of a domain, held by the hypervisor.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/mod.ts";
 * import { newDomainCore } from "./domain.ts";
 * let installs = 0;
 * const core = newDomainCore(new Engine(), () => installs++);
 * assert.deepEqual([core.state, core.hooks.length, installs], ["running", 0, 0]);
 * ```
 */
export interface DomainCore {
  /** Lifecycle state. */
  state: DomainState;
  /** Set when the domain shut down or crashed. */
  reason?: TeardownReason;
  /** The `SHUTDOWN_*` reason it shut down or suspended with (Xen's `shutdown_code`). */
  shutdownCode?: ShutdownCode;
  /** Registered teardown hooks. */
  hooks: TeardownHook[];
  /**
   * Not scheduled: created paused (`domctl:createdomain` with `paused`) or
   * paused by dom0. Upcalls wait until it runs again.
   */
  paused: boolean;
  /**
   * Xen's `controller_pause_count`: the toolstack's pauses not yet undone
   * (1 for a domain created paused); `paused` while it is above 0.
   */
  controllerPauses: number;
  /**
   * Suspended itself for save or migration (`SCHEDOP_shutdown` with
   * `SHUTDOWN_suspend`): not scheduled, memory kept, until dom0 destroys it
   * or resumes it (`domctl:resumedomain`, a cancelled suspend).
   */
  suspended: boolean;
  /**
   * Installed upcall handler.
   *
   * @internal
   */
  upcall?: UpcallHandler;
  /** Called when a handler is installed (the hypervisor delivers a pending upcall). */
  onUpcallInstalled: () => void;
  /** Woken when the state changes. */
  stateChanged: WaitQueue;
}

/**
 * What the hypervisor passes to build a domain.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(1));
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
 *   // The hypervisor built `vm` from a DomainInit; its fields are the domain's.
 *   assert.deepEqual([vm.domid, vm.name, vm.privileged], [1, "vm", false]);
 *   assert.equal(vm.memory.pages, (8 << 20) / 4096);
 * });
 * ```
 */
export interface DomainInit {
  /** Domain id. */
  domid: number;
  /** Name (unique among live domains). */
  name: string;
  /** True for dom0. */
  privileged: boolean;
  /** The P2M. */
  memory: AddressSpace;
  /** Shared-info page (event bits), mapped into the guest at `sharedInfoAddr`. */
  sharedInfo: SharedInfo;
  /** Guest address of the shared-info page. */
  sharedInfoAddr: number;
  /** Guest address of each of its grant-table frames (`GNTTABOP_setup_table`). */
  grantTableAddrs: readonly number[];
}

/**
 * A domain. Built by the hypervisor (`hv.createDomain`, or `hv.dom0`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./hypervisor.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(256 << 20), PCIX_SDR_2006, new Prng(1));
 * await engine.run(async () => {
 *   const vm = await hv.createDomain(hv.dom0, { name: "vm0", memoryBytes: 16 << 20 });
 *   const gone: string[] = [];
 *   vm.onTeardown((d, why) => void gone.push(`dom${d.domid} ${why}`));
 *   await hv.destroyDomain(hv.dom0, vm.domid);
 *   await vm.whenDead();
 *   assert.deepEqual(gone, ["dom1 destroy"]);
 *   assert.equal(vm.state, "dead");
 *   assert.equal(hv.domain(vm.domid), undefined);
 * });
 * ```
 */
export class Domain {
  /** Domain id (0 for dom0). */
  readonly domid: number;
  /** Name. */
  readonly name: string;
  /** True for dom0: may create/destroy domains, bind physical IRQs, map I/O pages. */
  readonly privileged: boolean;
  /**
   * The domain's memory: its P2M (pseudo-physical pages → machine frames).
   *
   * @internal
   */
  readonly memory: AddressSpace;
  /**
   * Event bits (pending, mask, selector, upcall-pending) of vCPU 0.
   *
   * @internal
   */
  readonly sharedInfo: SharedInfo;
  /** Guest address of the shared-info page. */
  readonly sharedInfoAddr: number;
  /**
   * Guest address of each frame of the domain's grant table, mapped into it
   * by the hypervisor (`GNTTABOP_setup_table`): the domain writes its
   * `grant_entry_v1_t`s there (its kernel's grant-table client,
   * `drivers/xen/grant_table.ts`, does).
   */
  readonly grantTableAddrs: readonly number[];
  #core: DomainCore;

  /**
   * Built by the hypervisor only.
   * @param init identity and resources
   * @param core the mutable record the hypervisor keeps
   */
  constructor(init: DomainInit, core: DomainCore) {
    this.domid = init.domid;
    this.name = init.name;
    this.privileged = init.privileged;
    this.memory = init.memory;
    this.sharedInfo = init.sharedInfo;
    this.sharedInfoAddr = init.sharedInfoAddr;
    this.grantTableAddrs = init.grantTableAddrs;
    this.#core = core;
  }

  /** Lifecycle state. */
  get state(): DomainState {
    return this.#core.state;
  }

  /** Why the domain was torn down (undefined while running). */
  get reason(): TeardownReason | undefined {
    return this.#core.reason;
  }

  /**
   * The `SHUTDOWN_*` reason it gave (Xen's `shutdown_code`; a code with no name as its
   * number): set when it shuts down, crashes or suspends; undefined while it runs, and again
   * once a suspend is resumed.
   */
  get shutdownCode(): ShutdownCode | undefined {
    return this.#core.shutdownCode;
  }

  /** True while the domain runs (its vCPU may make hypercalls and take upcalls). */
  get running(): boolean {
    return this.#core.state === "running";
  }

  /**
   * True while the domain's vCPU is not scheduled: paused by dom0 or
   * suspended by itself. It stays `running` (its memory, grants and ports
   * are kept); upcalls wait until it runs again.
   */
  get paused(): boolean {
    return this.#core.paused || this.#core.suspended;
  }

  /** True once it suspended itself (`SCHEDOP_shutdown(SHUTDOWN_suspend)`), until resumed. */
  get suspended(): boolean {
    return this.#core.suspended;
  }

  /**
   * The installed upcall handler.
   *
   * @internal
   */
  get upcall(): UpcallHandler | undefined {
    return this.#core.upcall;
  }

  /**
   * Install the kernel's upcall handler (replacing any earlier one). If an
   * upcall is already pending and upcalls are unmasked, it is delivered as
   * if it had just arrived.
   *
   * @internal
   */
  installUpcall(handler: UpcallHandler): void {
    this.#core.upcall = handler;
    this.#core.onUpcallInstalled();
  }

  /** Remove the upcall handler: events stay pending until one is installed. */
  removeUpcall(): void {
    this.#core.upcall = undefined;
  }

  /**
   * Run `hook` when this domain is torn down. Returns a function that
   * unregisters it. Registering on a domain already torn down runs nothing
   * and returns a no-op.
   *
   * @internal
   */
  onTeardown(hook: TeardownHook): () => void {
    const s = this.#core.state;
    if (s === "dying" || s === "dead") return () => {};
    this.#core.hooks.push(hook);
    return () => {
      const i = this.#core.hooks.indexOf(hook);
      if (i >= 0) this.#core.hooks.splice(i, 1);
    };
  }

  /** Resolves when the domain is dead (every frame returned). Call from a process. */
  async whenDead(): Promise<void> {
    while (this.#core.state !== "dead") await this.#core.stateChanged.wait();
  }

  /** `dom<id> (<name>)`, for messages. */
  toString(): string {
    return `dom${this.domid} (${this.name})`;
  }
}

/**
 * A fresh {@link DomainCore} in state running.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { newDomainCore } from "./domain.ts";
 * const core = newDomainCore(new Engine(), () => {});
 * assert.equal(core.state, "running");
 * assert.equal(core.upcall, undefined); // no handler until the guest installs one
 * ```
 */
export function newDomainCore(engine: Engine, onUpcallInstalled: () => void): DomainCore {
  return {
    state: "running",
    hooks: [],
    paused: false,
    controllerPauses: 0,
    suspended: false,
    onUpcallInstalled,
    stateChanged: new WaitQueue(engine, "domain state change"),
  };
}
