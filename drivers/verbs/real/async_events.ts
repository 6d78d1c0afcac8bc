/**
 * Asynchronous events of a real device (`ibv_get_async_event`,
 * `ibv_ack_async_event`). The read blocks in read(2) on the context's
 * `async_fd` (libibverbs/device.c), so it runs on a Deno worker thread; the
 * `struct ibv_async_event` it fills is kept alive until the event is
 * acknowledged, as `ibv_ack_async_event` reads the same struct back to find
 * the object whose `events_completed` it increments.
 *
 * The C object an event names is mapped back to the wrapper's RealQp, RealCq
 * or RealSrq through a registry by pointer, filled at create and emptied at
 * destroy. The kernel counts the events it handed out per object
 * (`events_reported`, uverbs_main.c ib_uverbs_event_read) and libibverbs'
 * `ibv_destroy_qp`/`_cq`/`_srq` block the calling thread until as many were
 * acknowledged (cmd_qp.c, cmd_cq.c, cmd_srq.c `ibv_cmd_destroy_*`); here the
 * JavaScript thread is the one that acknowledges, so a destroy first waits,
 * without blocking, for the acks of every event reported for its object
 * ({@link asyncAcksSettled}) and only then calls C — off the JavaScript
 * thread while a read is in C, which may hold an event of the object that
 * JavaScript has not seen yet ({@link destroyAffiliated}).
 *
 * @module
 */
import {
  cInt,
  getU64,
  IBV_ASYNC_EVENT,
  IBV_CONTEXT,
  scratch,
  viewOf,
} from "../../../hca/ffi/mod.ts";
import { EventType } from "../../uapi/enums.ts";
import { VerbsError } from "../../uapi/errors.ts";
import type { RealCq } from "./cq.ts";
import { destroyObjectOffThread, type Kind, type RealDevice, waitReadable } from "./device.ts";
import type { RealQp, RealSrq } from "./qp.ts";

/**
 * An async event as the application sees it: `ibv_async_event` with its
 * object resolved to the wrapper's, the shape of the model's `VerbsAsyncEvent`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventType } from "../../uapi/enums.ts";
 * import type { RealAsyncEvent } from "./async_events.ts";
 * const e: RealAsyncEvent = { type: EventType.PORT_ACTIVE, portNum: 1 };
 * assert.equal(e.qp, undefined); // a port event names no QP, CQ or SRQ
 * ```
 */
export interface RealAsyncEvent {
  /** `EventType` (verbs.h `enum ibv_event_type`). */
  readonly type: number;
  /** The QP it concerns (QP events). */
  readonly qp?: RealQp;
  /** The CQ it concerns (`CQ_ERR`). */
  readonly cq?: RealCq;
  /** The SRQ it concerns (SRQ events). */
  readonly srq?: RealSrq;
  /** The port it concerns (port events). */
  readonly portNum?: number;
}

/** An object an affiliated event can name. */
type Affiliated = RealQp | RealCq | RealSrq;

/**
 * Which member of `ibv_async_event.element` an event type fills, as
 * libibverbs/device.c decodes it (ibv_get_async_event) and reads it back
 * (ibv_ack_async_event): the affiliated object's kind, or null for a port
 * or device event (`port_num`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventType } from "../../uapi/enums.ts";
 * import { affiliatedKind } from "./async_events.ts";
 * assert.equal(affiliatedKind(EventType.QP_LAST_WQE_REACHED), "qp");
 * assert.equal(affiliatedKind(EventType.CQ_ERR), "cq");
 * assert.equal(affiliatedKind(EventType.SRQ_LIMIT_REACHED), "srq");
 * assert.equal(affiliatedKind(EventType.WQ_FATAL), "wq"); // element.wq
 * assert.equal(affiliatedKind(EventType.PORT_ACTIVE), null); // element.port_num
 * ```
 */
export function affiliatedKind(type: number): "qp" | "cq" | "srq" | "wq" | null {
  switch (type) {
    case EventType.CQ_ERR:
      return "cq";
    case EventType.QP_FATAL:
    case EventType.QP_REQ_ERR:
    case EventType.QP_ACCESS_ERR:
    case EventType.COMM_EST:
    case EventType.SQ_DRAINED:
    case EventType.PATH_MIG:
    case EventType.PATH_MIG_ERR:
    case EventType.QP_LAST_WQE_REACHED:
      return "qp";
    case EventType.SRQ_ERR:
    case EventType.SRQ_LIMIT_REACHED:
      return "srq";
    // element.wq: a struct ibv_wq, which this wrapper never creates.
    case EventType.WQ_FATAL:
      return "wq";
    default:
      return null;
  }
}

/** Per context: `struct ibv_qp/cq/srq *` → the live wrapper object. */
const registry = new WeakMap<RealDevice, Map<bigint, Affiliated>>();
/** Per object: events reported and not yet acknowledged, and the destroys waiting for them. */
const acks = new WeakMap<Affiliated, { unacked: number; waiters: (() => void)[] }>();

/**
 * Record a live QP, CQ or SRQ under its C pointer, so an event naming it resolves to it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registerAffiliated, unregisterAffiliated } from "./async_events.ts";
 * import type { RealDevice } from "./device.ts";
 * const dev = {} as RealDevice, qp = {} as never;
 * registerAffiliated(dev, 0x1000n, qp);
 * assert.equal(unregisterAffiliated(dev, 0x1000n), true); // at destroy
 * assert.equal(unregisterAffiliated(dev, 0x1000n), false);
 * ```
 */
export function registerAffiliated(dev: RealDevice, ptr: bigint, obj: Affiliated): void {
  let m = registry.get(dev);
  if (!m) registry.set(dev, m = new Map());
  m.set(ptr, obj);
}

/**
 * Forget a destroyed object's pointer (the allocator may hand it to the next object).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unregisterAffiliated } from "./async_events.ts";
 * import type { RealDevice } from "./device.ts";
 * assert.equal(unregisterAffiliated({} as RealDevice, 0x2000n), false); // never registered
 * ```
 */
export function unregisterAffiliated(dev: RealDevice, ptr: bigint): boolean {
  return registry.get(dev)?.delete(ptr) ?? false;
}

/**
 * Resolves once every async event reported for `obj` is acknowledged: what
 * its destroy waits for before calling C, where the wait would block the
 * thread (libibverbs `ibv_cmd_destroy_*`: `events_completed` must reach the
 * kernel's `events_reported`). A program that never acknowledges waits for
 * ever, as with libibverbs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { asyncAcksSettled, asyncUnackedOf } from "./async_events.ts";
 * const qp = {} as never; // nothing reported for it
 * await asyncAcksSettled(qp); // resolves at once
 * assert.equal(asyncUnackedOf(qp), 0);
 * ```
 */
export async function asyncAcksSettled(obj: Affiliated): Promise<void> {
  const a = acks.get(obj);
  if (!a || a.unacked === 0) return;
  await new Promise<void>((resolve) => a.waiters.push(resolve));
}

/**
 * Async events reported for `obj` and not yet acknowledged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { asyncUnackedOf } from "./async_events.ts";
 * assert.equal(asyncUnackedOf({} as never), 0);
 * ```
 */
export function asyncUnackedOf(obj: Affiliated): number {
  return acks.get(obj)?.unacked ?? 0;
}

/** Per context: its event queue, and the destroys running off the JS thread. */
const queues = new WeakMap<RealDevice, RealAsyncEvents>();
const offThread = new WeakMap<RealDevice, Set<Promise<void>>>();

/**
 * The destroy of a QP, CQ or SRQ: wait for the acks of its reported async
 * events, then call C. While an `ibv_get_async_event` is in flight the C call
 * runs off the JavaScript thread: the worker may already hold an event of
 * this object that the kernel counted as reported and JavaScript has not yet
 * seen, and `ibv_destroy_*` then waits for its ack, which only JavaScript
 * can give (the reader still resolves the event to the object: it leaves the
 * registry only once C returned).
 *
 * @param obj the object; `kind` and `call` name it and its verb
 * @param onThread the object's synchronous destroy (the path `close()` also takes)
 * @param cDestroy the verb on a worker thread (`ibv_destroy_*_off_thread`)
 * @param forget what `onThread` does after C returned, for the worker path
 * @param more a second source of events the C destroy also waits for (a CQ's completion
 *   events, `comp_events_completed`): its acks are waited for in the same step as the async
 *   ones, and its read in C (`ibv_get_cq_event` on the CQ's channel) sends the C call off the
 *   JavaScript thread as a `getAsyncEvent` in C does
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_CONTEXT, Ibverbs, scratch } from "../../../hca/ffi/mod.ts";
 * import { attach, RealDevice } from "./device.ts";
 * import { destroyAffiliated } from "./async_events.ts";
 * const fake = { symbols: { ibv_close_device: () => 0 }, close() {} }; // stand-in library
 * const ctx = Deno.UnsafePointer.of(scratch(IBV_CONTEXT.sizeof))!;
 * const dev = new RealDevice(new Ibverbs("stand-in", fake as never), "fake0", ctx);
 * const qp = {} as never;
 * const calls: string[] = [];
 * attach(qp, dev, "qp", Deno.UnsafePointer.of(scratch(16))!, () => {});
 * const onThread = () => void calls.push("on thread");
 * const offThread = () => Promise.resolve(calls.push("off thread") && 0);
 * await destroyAffiliated(dev, qp, "qp", "ibv_destroy_qp", onThread, offThread, () => {});
 * assert.deepEqual(calls, ["on thread"]); // no event read in flight: a plain call
 * dev.close();
 * ```
 */
export async function destroyAffiliated(
  dev: RealDevice,
  obj: Affiliated,
  kind: Kind,
  call: string,
  onThread: () => void,
  cDestroy: (ptr: Deno.PointerObject) => Promise<number>,
  forget: () => void,
  more?: MoreEvents,
): Promise<void> {
  // The counts and the in-flight reads are looked at in one synchronous step: a read that ends
  // while this waits has counted its event, and is waited for like any other.
  for (;;) {
    if (asyncUnackedOf(obj) > 0) await asyncAcksSettled(obj);
    else if (more && more.unacked() > 0) await more.settled();
    else break;
  }
  if (!queues.get(dev)?.waiting && !more?.readInFlight()) return onThread();
  let running = offThread.get(dev);
  if (!running) offThread.set(dev, running = new Set());
  const p = destroyObjectOffThread(obj, dev, kind, call, cDestroy).then(forget);
  running.add(p);
  try {
    await p;
  } finally {
    running.delete(p);
  }
}

/**
 * Events other than async ones that an object's C destroy waits for: a CQ's
 * completion events (`ibv_get_cq_event`, acknowledged with `ibv_ack_cq_events`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MoreEvents } from "./async_events.ts";
 * const none: MoreEvents = {
 *   unacked: () => 0,
 *   settled: () => Promise.resolve(),
 *   readInFlight: () => false,
 * };
 * assert.equal(none.unacked(), 0);
 * ```
 */
export interface MoreEvents {
  /** Events returned to JavaScript and not yet acknowledged. */
  unacked(): number;
  /** Resolves once {@link unacked} reaches 0. */
  settled(): Promise<void>;
  /** True while a read of these events is in C (it may hold one JavaScript has not seen). */
  readInFlight(): boolean;
}

function counted(obj: Affiliated, delta: number): void {
  let a = acks.get(obj);
  if (!a) acks.set(obj, a = { unacked: 0, waiters: [] });
  a.unacked += delta;
  if (a.unacked === 0) { for (const w of a.waiters.splice(0)) w(); }
}

/**
 * The async event queue of one context: what `RealContext.getAsyncEvent`,
 * `ackAsyncEvent` and `asyncUnacked` use (internal to `drivers/verbs/real`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RealAsyncEvents } from "./async_events.ts";
 * import type { RealDevice } from "./device.ts";
 * const events = new RealAsyncEvents({} as RealDevice); // nothing reaches C below
 * assert.equal(events.unacked, 0);
 * assert.throws(() => events.ack({ type: 9, portNum: 1 }), { code: "EINVAL" }); // not returned
 * ```
 */
export class RealAsyncEvents {
  #dev: RealDevice;
  #waiting = false;
  /** Returned events not yet acknowledged → the C struct `ibv_ack_async_event` needs back. */
  #unacked = new Map<RealAsyncEvent, Uint8Array>();

  /** @param dev the context whose events these are */
  constructor(dev: RealDevice) {
    this.#dev = dev;
    queues.set(dev, this);
  }

  /**
   * Wait for the destroys running off the JavaScript thread (after
   * {@link ackAll}, which lets any of them blocked on an ack return), before
   * the context closes under them.
   */
  async settleDestroys(): Promise<void> {
    const running = offThread.get(this.#dev);
    if (running) await Promise.allSettled([...running]);
  }

  /** True while an `ibv_get_async_event` call runs on a worker thread. */
  get waiting(): boolean {
    return this.#waiting;
  }

  /** Events returned and not yet acknowledged. */
  get unacked(): number {
    return this.#unacked.size;
  }

  /**
   * The next event: `ibv_get_async_event` on a worker thread (one call at a
   * time per context: EBUSY for a second). With `timeoutNs` the context's
   * `async_fd` is polled first (wall-clock, rounded up to milliseconds), as
   * the C call itself can only block: ETIMEDOUT when no event came.
   */
  async get(opts: { timeoutNs?: number } = {}): Promise<RealAsyncEvent> {
    const dev = this.#dev;
    const ctx = dev.ctx;
    if (this.#waiting) {
      throw new VerbsError("EBUSY", "getAsyncEvent: already waiting on this context");
    }
    const t = opts.timeoutNs;
    // Each event owns its struct until acknowledged: the worker writes into it, and
    // ibv_ack_async_event reads element and event_type back from it.
    const buf = scratch(IBV_ASYNC_EVENT.sizeof);
    this.#waiting = true;
    let rc: number;
    try {
      if (t !== undefined) {
        const fd = cInt(ctx, IBV_CONTEXT.fields.async_fd);
        await waitReadable(dev, fd, t, "get_async_event", "the context's async fd");
      }
      rc = await dev.lib.symbols.ibv_get_async_event(ctx, buf);
    } finally {
      this.#waiting = false;
    }
    // errno belongs to the worker thread that ran the call: not readable here.
    if (rc !== 0) throw new VerbsError("EIO", `ibv_get_async_event failed (returned ${rc})`);
    const v = viewOf(buf);
    const type = v.getUint32(IBV_ASYNC_EVENT.fields.event_type.offset, true);
    const kind = affiliatedKind(type);
    let event: RealAsyncEvent;
    if (kind === "wq") {
      dev.lib.symbols.ibv_ack_async_event(buf);
      throw new VerbsError(
        "EIO",
        `ibv_get_async_event: WQ_FATAL (${type}) for a WQ (this wrapper makes none)`,
      );
    } else if (kind) {
      const obj = registry.get(dev)?.get(getU64(v, IBV_ASYNC_EVENT.fields["element.qp"]));
      // The kernel reports no event of an object already destroyed (its unread events go with
      // it: uverbs_main.c ib_uverbs_release_uevent), so this is an object the wrapper did not
      // make. Acknowledge it at once, or its own destroy would wait for ever.
      if (!obj) {
        dev.lib.symbols.ibv_ack_async_event(buf);
        throw new VerbsError(
          "EIO",
          `ibv_get_async_event: event ${type} for an object this context does not know`,
        );
      }
      event = { type, [kind]: obj };
      counted(obj, 1);
    } else if (type === EventType.DEVICE_FATAL) {
      event = { type };
    } else {
      const portNum = v.getInt32(IBV_ASYNC_EVENT.fields["element.port_num"].offset, true);
      event = { type, portNum };
    }
    this.#unacked.set(event, buf);
    return event;
  }

  /**
   * `ibv_ack_async_event`. EINVAL for an event {@link get} did not return,
   * or one acknowledged already: libibverbs would count it against the
   * object again and its destroy would never return.
   */
  ack(event: RealAsyncEvent): void {
    const buf = this.#unacked.get(event);
    if (!buf) {
      throw new VerbsError(
        "EINVAL",
        "ack_async_event: not an event getAsyncEvent returned, or acknowledged already",
      );
    }
    this.#dev.lib.symbols.ibv_ack_async_event(buf);
    this.#unacked.delete(event);
    const obj = event.qp ?? event.cq ?? event.srq;
    if (obj) counted(obj, -1);
  }

  /** Acknowledge whatever is left: a closing context has nobody left to do it. */
  ackAll(): void {
    for (const e of [...this.#unacked.keys()]) this.ack(e);
  }
}
