/**
 * The backend's hooks for a datapath that crosses dom0 (the split baseline
 * plugs in here; the backend never imports it). A bypass backend has no
 * datapath: the guest's provider rings the UAR page mapped into the guest
 * and the device DMAs into the guest's own queues. A backend built with a
 * {@link BackendDatapath} for the device's mode instead
 *
 * - maps each context's UAR page in dom0 only (the guest never reaches the
 *   device), and opens a {@link ContextDatapath} for the context;
 * - registers a dom0 buffer of the same size with the device for every
 *   CQ, QP and SRQ (the datapath's device queue) and keeps the guest's
 *   pages mapped for copying, read-only where dom0 only reads them;
 * - tells the datapath as queues come, go and reset, and lets it act
 *   before a completion event is forwarded;
 * - serves the datapath's requests with its handlers ({@link OpHandlers}),
 *   which may also override a control op the datapath cannot support.
 *
 * @module
 */
import type { AddressSpace } from "../../sim/address_space.ts";
import type { Engine } from "../../sim/engine.ts";
import type { Profile } from "../../sim/profiles/mod.ts";
import type { WqLayout } from "../uapi/uverbs.ts";
import type { VibOpCode, VibRequestOf, VibRspBody } from "../vib/mod.ts";
import type { BackContext } from "./context.ts";
import type { Dom0Heap } from "./dom0_heap.ts";
import type { MappedBuffer } from "./grants.ts";
import type { OpEnv } from "./ops.ts";

/**
 * What the backend does for one op of one context: the request as the op
 * table types it in, the response body out; errors are `VerbsError`s.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { OpHandler } from "./datapath.ts";
 * import type { VibOp } from "../vib/mod.ts";
 * const pd: OpHandler<typeof VibOp.ALLOC_PD> = async (_env, c) => ({ ...(await c.uctx.allocPd()) });
 * assert.equal(typeof pd, "function");
 * ```
 */
export type OpHandler<O extends VibOpCode> = (
  env: OpEnv,
  c: BackContext,
  req: VibRequestOf<O>,
) => Promise<VibRspBody<O>>;

/**
 * Handlers by op code (each typed for its own op).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { OpHandlers } from "./datapath.ts";
 * import { VibOp } from "../vib/mod.ts";
 * const none: OpHandlers = { [VibOp.DESTROY_AH]: async () => ({}) };
 * assert.ok(none[VibOp.DESTROY_AH]);
 * ```
 */
export type OpHandlers = { readonly [O in VibOpCode]?: OpHandler<O> };

/**
 * What a context's datapath needs when it is opened.
 *
 * @example
 * ```ts
 * import type { DatapathEnv } from "./datapath.ts";
 * const uar = (e: DatapathEnv) => e.uarAddr; // dom0's mapping of the context's UAR page
 * ```
 */
export interface DatapathEnv {
  engine: Engine;
  profile: Profile;
  /** Dom0's address space (device queues and grant mappings live there). */
  space: AddressSpace;
  /** Dom0's backend heap (device queues are carved from it). */
  heap: Dom0Heap;
  /** Where dom0 mapped the context's UAR page. */
  uarAddr: number;
}

/**
 * One context's datapath, told about every queue of the context.
 *
 * @example
 * ```ts
 * import type { ContextDatapath } from "./datapath.ts";
 * const forget = (d: ContextDatapath, cqn: number) => d.removeCq(cqn);
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
  removeCq(cqn: number): void;
  removeQp(qpn: number): void;
  removeSrq(srqn: number): void;
  /** The QP went to RESET: its queues' counters restart. */
  resetQp(qpn: number): void;
  /** Called before a completion event for CQ `cqn` is forwarded to the guest. */
  beforeCompEvent(cqn: number): Promise<void>;
}

/**
 * A datapath through dom0, as the composition root hands it to the backend
 * driver for one device mode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BackendDatapath } from "./datapath.ts";
 * const serves = (d: BackendDatapath, op: number) => op in d.ops;
 * assert.equal(typeof serves, "function");
 * ```
 */
export interface BackendDatapath {
  /** Handlers of the requests only this datapath serves, and of control ops it overrides. */
  readonly ops: OpHandlers;
  /** The datapath of a newly opened context. */
  open(env: DatapathEnv): ContextDatapath;
}
