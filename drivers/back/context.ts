/**
 * One guest context as dom0's backend holds it: the kernel verbs state
 * (a `UContext` of the native driver, with the context's own handle
 * tables — DESIGN §9 invariant 4: a handle from this frontend resolves
 * only here), the UAR, and every grant mapping and device queue the
 * context's objects use, so that closing it returns all of them.
 *
 * @module
 */
import type { UContext } from "../native/ucontext.ts";
import type { GrantedMemory } from "./granted_memory.ts";
import type { MappedBuffer } from "./grants.ts";
import type { Charge } from "./quota.ts";
import type { WqLayout } from "../uapi/uverbs.ts";

/**
 * What one object (MR, CQ, QP, SRQ) holds besides its device state.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenPlatform } from "../../platform/xen_host.ts";
 * import type { ObjectBacking } from "./context.ts";
 * const pages = (o: ObjectBacking) => o.buf.mfns.length; // the frames the device may reach
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass", regCache: false });
 * const back = (xen.platform as XenPlatform).backend!.instances().get(vm.domid!)!;
 * await cluster.run(async () => {
 *   const ctx = await vm.openDevice();
 *   await (await ctx.allocPd()).regMr(vm.memory.alloc(3 * 4096, 4096), 3 * 4096, 1);
 *   const [c] = back.contexts().values();
 *   assert.deepEqual([...c.objects.values()].map(pages), [3]); // the MR's three guest pages
 * });
 * ```
 */
export interface ObjectBacking {
  /** The guest pages, mapped in dom0. */
  buf: MappedBuffer;
  /** With a datapath through dom0: the dom0 queue registered with the device instead. */
  queue?: number;
  /** QPN / CQN / SRQN (a datapath through dom0 routes doorbells by number). */
  num?: number;
}

/**
 * A context of a frontend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenPlatform } from "../../platform/xen_host.ts";
 * import type { BackContext } from "./context.ts";
 * const pinned = (c: BackContext) =>
 *   [...c.objects.values()].reduce((n, o) => n + o.buf.handles.length, 0);
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", driver: "bypass", regCache: false });
 * const back = (xen.platform as XenPlatform).backend!.instances().get(vm.domid!)!;
 * await cluster.run(async () => {
 *   const ctx = await vm.openDevice();
 *   const mr = await (await ctx.allocPd()).regMr(vm.memory.alloc(2 * 4096, 4096), 2 * 4096, 1);
 *   const c: BackContext = back.contexts().get(1)!; // the guest's first context
 *   assert.equal(pinned(c), 2); // one grant mapping per page
 *   await mr.dereg();
 *   assert.equal(pinned(c), 0); // no registration cache: unmapped at once
 * });
 * ```
 */
export interface BackContext {
  /** Context id (the `ctx` of requests). */
  id: number;
  /** The kernel verbs state. */
  uctx: UContext;
  /** The frames of the buffer being registered by the call in progress. */
  memory: GrantedMemory;
  /** UAR page index and where it is mapped (guest address in bypass mode, dom0's in split). */
  uarIndex: number;
  uarAddr: number;
  /** Backing of each object, by `"<kind>:<handle>"`. */
  objects: Map<string, ObjectBacking>;
  /**
   * What each object (and the context itself, `"context"`) holds against the
   * guest's quotas, by the same keys; given back when the object goes.
   */
  charges: Map<string, Charge>;
  /** The context's datapath through dom0, if the device has one (split mode). */
  datapath?: ContextDatapath;
}

/**
 * One context's datapath, told about every queue of the context.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../platform/cluster.ts";
 * import type { XenPlatform } from "../../platform/xen_host.ts";
 * import type { ContextDatapath } from "./context.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const bypass = await xen.createGuest({ name: "vm0", driver: "bypass" });
 * const split = await xen.createGuest({ name: "vm1", driver: "split" });
 * const datapathOf = async (vm: typeof bypass): Promise<ContextDatapath | undefined> => {
 *   await vm.openDevice();
 *   const back = (xen.platform as XenPlatform).backend!.instances().get(vm.domid!)!;
 *   return back.contexts().get(1)!.datapath;
 * };
 * await cluster.run(async () => {
 *   assert.equal(await datapathOf(bypass), undefined); // the guest rings the device itself
 *   assert.equal((await datapathOf(split))?.readsGuestQueues, true); // dom0 copies WQEs out
 * });
 * ```
 */
export interface ContextDatapath {
  /**
   * Whether dom0 only reads the guest's send/receive queue pages (it copies
   * WQEs out of them), so their grants are mapped read-only.
   */
  readonly readsGuestQueues: boolean;
  /** A zeroed buffer of `bytes` in dom0 for the device to use as a queue, and its frames. */
  deviceQueue(bytes: number): { addr: number; mfns: number[] };
  /** Give back a device queue. */
  freeDeviceQueue(addr: number): void;
  /** A CQ: the guest's ring `guest`, the device's `queue`. */
  addCq(cqn: number, guest: MappedBuffer, queue: number, logSize: number): void;
  /** A QP: the guest's work queues `guest` laid out as `wq`, the device's `queue`. */
  addQp(qpn: number, guest: MappedBuffer, queue: number, wq: WqLayout): void;
  /** An SRQ. */
  addSrq(
    srqn: number,
    guest: MappedBuffer,
    queue: number,
    logSize: number,
    logStride: number,
  ): void;
  /**
   * RESIZE_CQ, before the command: make CQ `cqn`'s new device queue `queue`
   * (2^`logSize` entries) one whose entries the device has not written.
   */
  prepareCqResize(cqn: number, queue: number, logSize: number): void;
  /**
   * RESIZE_CQ, after the command: CQ `cqn` continues in the guest's ring
   * `guest` and the device's `queue`, with what the old queue still held;
   * resolves to the old queue, for the caller to free.
   */
  resizeCq(cqn: number, guest: MappedBuffer, queue: number, logSize: number): Promise<number>;
  removeCq(cqn: number): void;
  removeQp(qpn: number): void;
  removeSrq(srqn: number): void;
  /** The QP went to RESET: its queues' counters restart. */
  resetQp(qpn: number): void;
  /** Called before a completion event for CQ `cqn` is forwarded to the guest. */
  beforeCompEvent(cqn: number): Promise<void>;
  /**
   * The context is closing: from now on nothing of the datapath may read or
   * write its queues (they are destroyed and unmapped next).
   */
  close?(): void;
}
