/**
 * The backend's hooks: what a request handler is given ({@link OpEnv},
 * {@link OpHandler}), and what a datapath that crosses dom0 plugs in (the
 * split baseline does; the backend never imports it). A bypass backend has no
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
import type { Domain as XenDomain } from "../../hypervisor/domain.ts";
import type { Hypervisor } from "../../hypervisor/hypervisor.ts";
import type { AddressSpace } from "../../sim/address_space.ts";
import type { Engine } from "../../sim/engine.ts";
import type { Profile } from "../../sim/profiles/mod.ts";
import type { HcaDriver } from "../native/driver.ts";
import type { VibEvent } from "../vib/event_ring.ts";
import type { VibOpCode, VibRequestOf, VibRspBody } from "../vib/mod.ts";
import type { BackContext, ContextDatapath } from "./context.ts";
import type { Dom0Heap } from "./dom0_heap.ts";
import type { BackendGrants } from "./grants.ts";
import type { Dom0Headroom } from "./headroom.ts";
import type { QuotaLedger } from "./quota.ts";

/**
 * What the op handlers need from their backend instance.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { OpEnv } from "./datapath.ts";
 * const crossesDom0 = (env: OpEnv) => env.datapath !== undefined;
 * assert.equal(crossesDom0({ datapath: undefined } as OpEnv), false); // a bypass device
 * ```
 */
export interface OpEnv {
  engine: Engine;
  profile: Profile;
  hv: Hypervisor;
  dom0: XenDomain;
  /** The frontend's domain id. */
  frontDomid: number;
  driver: HcaDriver;
  heap: Dom0Heap;
  grants: BackendGrants;
  /** What the frontend holds against its guest's quotas. */
  ledger: QuotaLedger;
  /** Dom0's headroom checks (none: the device may be used to the last entry). */
  headroom?: Dom0Headroom;
  /** The partitions (P_Keys) the toolstack gave the guest: its QPs may use no other. */
  pkeys?: readonly number[];
  /** The device's datapath through dom0 (split mode); undefined in bypass mode. */
  datapath?: BackendDatapath;
  /** The handlers of this backend: the control ops (`ops.ts`) and the datapath's. */
  handlers: OpHandlers;
  contexts: Map<number, BackContext>;
  /** Queue an event for the frontend (called from interrupt context). */
  queueEvent(e: VibEvent): void;
  /** Run `ns` of dom0 CPU work on its VCPUs, charged to this frontend (`vcpus.ts`). */
  cpu(ns: number): Promise<void>;
}

/**
 * What the backend does for one op of one context: the request as the op
 * table types it in, the response body out; errors are `VerbsError`s, and
 * made by `requestError` where they are about the guest's own request (only
 * those send their text to the guest: `refusal.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { OpHandler } from "./datapath.ts";
 * import type { VibOp } from "../vib/mod.ts";
 * const port: OpHandler<typeof VibOp.QUERY_PORT> = async (_env, c, req) => ({
 *   ...(await c.uctx.queryPort(req.body.port)), // `req.body` is QUERY_PORT's: { port: number }
 * });
 * // @ts-expect-error: the table's ALLOC_PD response has no `pd` field
 * const wrong: OpHandler<typeof VibOp.ALLOC_PD> = async () => ({ pd: 1 });
 * assert.equal(port.length + wrong.length, 3);
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
 * const refuseAh: OpHandlers = {
 *   [VibOp.CREATE_AH]: () => Promise.reject(new Error("EOPNOTSUPP: no address handles here")),
 * };
 * assert.ok(refuseAh[VibOp.CREATE_AH] && !refuseAh[VibOp.DESTROY_AH]);
 * ```
 */
export type OpHandlers = { readonly [O in VibOpCode]?: OpHandler<O> };

/**
 * What a context's datapath needs when it is opened.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { AddressSpace, Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../../sim/mod.ts";
 * import { Dom0Heap } from "./dom0_heap.ts";
 * import type { DatapathEnv } from "./datapath.ts";
 * import { SPLIT_DATAPATH } from "../split/ops.ts";
 * const space = new AddressSpace(new MachineMemory(64 << 20), "dom0", 32 << 20, new Prng(1));
 * const env: DatapathEnv = {
 *   engine: new Engine(), profile: PCIX_SDR_2006, space,
 *   heap: Dom0Heap.reserve(space, 1 << 20), uarAddr: 0, // a context's UAR, as dom0 mapped it
 *   cpu: () => Promise.resolve(), // dom0's VCPUs (the backend charges its work there)
 * };
 * const q = SPLIT_DATAPATH.open(env).deviceQueue(8192);
 * assert.equal(q.mfns.length, 2); // two pages of dom0's heap for the device
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
  /** Whose context it is: the hypervisor, the frontend's domain and the context id. */
  frontend?: { hv: Hypervisor; domid: number; ctx: number };
  /** Run `ns` of dom0 CPU work (on its VCPUs, charged to this frontend). */
  cpu(ns: number): Promise<void>;
  /**
   * Queue a completion event for CQ `cqn` to the guest, as the device's own would be (the
   * backend's event thread forwards it, copying the CQ's entries first).
   */
  compEvent?(cqn: number): void;
}

/**
 * An op handler in two synchronous halves around one stretch of dom0 CPU
 * time: `start` does what the handler does up to its CPU step and returns
 * the step's length (or -1 for none: the handler does not wait), `finish`
 * what it does after and returns the response body. `start` then
 * `finish`, with the time spent in between, is exactly the handler's
 * `await`; both throw what it would reject with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { StagedOp } from "./datapath.ts";
 * import type { VibOp } from "../vib/mod.ts";
 * let rung = 0;
 * const ring: StagedOp<typeof VibOp.DOORBELL> = {
 *   start: (_env, _c, req) => (req.body.word1 > 0 ? 100 : -1), // 100 ns of copying, if any
 *   finish: () => (rung++, {}),
 * };
 * const req = { id: 1, op: 32 as typeof VibOp.DOORBELL, flags: 0, ctx: 1, handle: 0, segs: [],
 *   body: { offset: 0, word0: 0, word1: 1 } };
 * assert.equal(ring.start({} as never, {} as never, req), 100);
 * assert.deepEqual(ring.finish({} as never, {} as never, req), {});
 * assert.equal(rung, 1);
 * ```
 */
export interface StagedOp<O extends VibOpCode> {
  /** Up to the CPU step: its length in ns, or -1 for none. */
  start(env: OpEnv, c: BackContext, req: VibRequestOf<O>): number;
  /** After the CPU step: the response body. */
  finish(env: OpEnv, c: BackContext, req: VibRequestOf<O>): VibRspBody<O>;
}

/**
 * Staged handlers by op code ({@link StagedOp}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { StagedOps } from "./datapath.ts";
 * import { VibOp } from "../vib/mod.ts";
 * const none: StagedOps = {};
 * assert.equal(none[VibOp.DOORBELL], undefined); // every op then runs through its handler
 * ```
 */
export type StagedOps = { readonly [O in VibOpCode]?: StagedOp<O> };

/**
 * A datapath through dom0, as the composition root hands it to the backend
 * driver for one device mode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BackendDatapath } from "./datapath.ts";
 * import { CONTROL_OPS } from "./ops.ts";
 * import { SPLIT_DATAPATH } from "../split/ops.ts";
 * import { VibOp } from "../vib/mod.ts";
 * const split: BackendDatapath = SPLIT_DATAPATH;
 * const served = { ...CONTROL_OPS, ...split.ops }; // what a split device's backend dispatches to
 * assert.ok(served[VibOp.DOORBELL] && !CONTROL_OPS[VibOp.DOORBELL]);
 * assert.equal(served[VibOp.RESIZE_CQ], CONTROL_OPS[VibOp.RESIZE_CQ]); // the backend's own
 * ```
 */
export interface BackendDatapath {
  /** Handlers of the requests only this datapath serves, and of control ops it overrides. */
  readonly ops: OpHandlers;
  /**
   * The same handlers, for ops whose work is one CPU step between two
   * instants ({@link StagedOp}): the backend may run them as callbacks
   * chained on dom0's VCPUs instead of waking its thread per step. Each
   * must do exactly what its entry in {@link ops} does.
   */
  readonly staged?: StagedOps;
  /** The datapath of a newly opened context. */
  open(env: DatapathEnv): ContextDatapath;
}
