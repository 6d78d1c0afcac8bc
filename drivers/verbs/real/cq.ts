/**
 * Completion queues and completion channels on a real HCA. `poll` and
 * `reqNotify` go straight to the provider through the context's ops (the
 * CQ ring is in user memory; arming writes the CQ doorbell on the UAR page);
 * `getEvent` blocks in read(2) on the channel's fd, so it runs on a Deno
 * worker thread and returns a promise.
 *
 * @module
 */
import {
  cInt,
  cUint,
  getU64,
  IBV_COMP_CHANNEL,
  IBV_CQ,
  IBV_WC,
  pointerValue,
  scratch,
  viewOf,
} from "../../../hca/ffi/mod.ts";
import { VerbsError } from "../../uapi/errors.ts";
import { boolArg } from "../args.ts";
import type { WorkCompletion } from "../../uapi/types.ts";
import { attach, destroyObject, pointerOf, type RealDevice, waitReadable } from "./device.ts";
import { errnoCode, verbs } from "./errors.ts";
import { decodeWcs } from "./wr.ts";
import { destroyAffiliated, registerAffiliated, unregisterAffiliated } from "./async_events.ts";

/** Events returned by `getEvent` and not yet acknowledged, per CQ. */
const unacked = new WeakMap<RealCq, number>();
/** Per channel: `struct ibv_cq *` → the CQ object an event names. */
const routes = new WeakMap<RealCompChannel, Map<bigint, RealCq>>();
/** Per context: the channels whose `ibv_get_cq_event` is in C. */
const reading = new WeakMap<RealDevice, Set<RealCompChannel>>();
/** Per context: the CQs with completion events returned and not yet acknowledged. */
const pendingCqs = new WeakMap<RealDevice, Set<RealCq>>();

/**
 * Completion channels of `dev` whose `getEvent` is blocked in C: what
 * `close()` refuses under (the blocked `ibv_get_cq_event` reads a channel
 * and context that close frees).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compEventReadsInFlight } from "./cq.ts";
 * import type { RealDevice } from "./device.ts";
 * assert.equal(compEventReadsInFlight({} as RealDevice), 0); // no channel made
 * ```
 */
export function compEventReadsInFlight(dev: RealDevice): number {
  return reading.get(dev)?.size ?? 0;
}

/**
 * Acknowledge every completion event `getEvent` returned on `dev` and nobody
 * acknowledged: what `close()` does first, as a closing context has nobody
 * left to, and a destroy waiting for them (off the JavaScript thread) then returns.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ackAllCompEvents } from "./cq.ts";
 * import type { RealDevice } from "./device.ts";
 * assert.equal(ackAllCompEvents({} as RealDevice), 0); // none returned: nothing reaches C
 * ```
 */
export function ackAllCompEvents(dev: RealDevice): number {
  let n = 0;
  for (const cq of [...(pendingCqs.get(dev) ?? [])]) {
    const pending = unacked.get(cq) ?? 0;
    n += pending;
    cq.ackEvents(pending);
  }
  return n;
}
/** Empty polls between yields to the event loop in `pollUntil`. */
const SPINS_PER_YIELD = 1024;

/**
 * A completion channel (`struct ibv_comp_channel`).
 *
 * Its methods are the model's verbs (API.md) on a real device;
 * `tests/ffi_fake_provider_test.ts` drives them through a stand-in provider.
 * The example uses a device where there is one; elsewhere opening one says why not.
 *
 * @example
 * ```ts
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { listRealDevices, openRealDevice } from "./open.ts";
 * import { RealCompChannel } from "./cq.ts";
 * if (listRealDevices().length > 0) {
 *   const ctx = await openRealDevice();
 *   const ch = ctx.createCompChannel();
 *   assert.ok(ch instanceof RealCompChannel);
 *   const cq = await ctx.createCq(4, { channel: ch });
 *   assert.equal(cq.channel, ch);
 *   await cq.destroy();
 *   await ch.destroy();
 *   await ctx.close();
 * } else {
 *   // No RDMA device here: ENODEV saying why.
 *   await assert.rejects(openRealDevice(), { name: "VerbsError", code: "ENODEV" });
 * }
 * ```
 */
export class RealCompChannel {
  #dev: RealDevice;
  #waiting = false;

  /** Made by `RealContext.createCompChannel`. */
  constructor(dev: RealDevice) {
    this.#dev = dev;
    const ptr = verbs(() =>
      dev.lib.must(dev.lib.symbols.ibv_create_comp_channel(dev.ctx), "ibv_create_comp_channel")
    );
    routes.set(this, new Map());
    attach(this, dev, "channel", ptr, () => this.#destroy());
  }

  /**
   * Wait for the next completion event; resolves to the CQ that fired.
   * Acknowledge it with `cq.ackEvents`.
   *
   * @param opts.timeoutNs give up after this long (wall-clock time, rounded
   *   up to milliseconds: poll(2) on the channel fd): VerbsError ETIMEDOUT
   */
  async getEvent(opts: { timeoutNs?: number } = {}): Promise<RealCq> {
    const ptr = pointerOf(this, this.#dev, "channel");
    if (this.#waiting) throw new VerbsError("EBUSY", "getEvent: already waiting on this channel");
    const cqOut = scratch(8);
    const ctxOut = scratch(8);
    this.#waiting = true;
    let inC = reading.get(this.#dev);
    if (!inC) reading.set(this.#dev, inC = new Set());
    inC.add(this);
    let rc: number;
    try {
      if (opts.timeoutNs !== undefined) {
        const fd = cInt(ptr, IBV_COMP_CHANNEL.fields.fd);
        await waitReadable(this.#dev, fd, opts.timeoutNs, "get_cq_event", "the completion channel");
      }
      rc = await this.#dev.lib.symbols.ibv_get_cq_event(ptr, cqOut, ctxOut);
    } finally {
      this.#waiting = false;
      inC.delete(this);
    }
    // errno belongs to the worker thread that ran the call: not readable here.
    if (rc !== 0) throw new VerbsError("EIO", `ibv_get_cq_event failed (returned ${rc})`);
    const cq = routes.get(this)!.get(getU64(viewOf(cqOut), { offset: 0, size: 8 }));
    if (!cq) {
      throw new VerbsError("EIO", "ibv_get_cq_event: event for a CQ this channel does not know");
    }
    unacked.set(cq, (unacked.get(cq) ?? 0) + 1);
    let pending = pendingCqs.get(this.#dev);
    if (!pending) pendingCqs.set(this.#dev, pending = new Set());
    pending.add(cq);
    return cq;
  }

  #destroy(): void {
    if (this.#waiting) {
      throw new VerbsError("EBUSY", "comp channel: a getEvent() is still waiting on it");
    }
    destroyObject(
      this,
      this.#dev,
      "channel",
      "ibv_destroy_comp_channel",
      (p) => this.#dev.lib.symbols.ibv_destroy_comp_channel(p),
    );
  }

  /** `ibv_destroy_comp_channel` (EBUSY while a CQ uses it or a getEvent waits). */
  destroy(): Promise<void> {
    return Promise.resolve().then(() => this.#destroy());
  }
}

/**
 * Options of `RealContext.createCq` (`ibv_create_cq`'s `channel` and `comp_vector`).
 *
 * @example
 * ```ts
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { listRealDevices, openRealDevice } from "./open.ts";
 * import type { RealCqOptions } from "./cq.ts";
 * if (listRealDevices().length > 0) {
 *   const ctx = await openRealDevice();
 *   const opts: RealCqOptions = { channel: ctx.createCompChannel(), compVector: 0 };
 *   const cq = await ctx.createCq(8, opts);
 *   assert.equal(cq.channel, opts.channel);
 *   await ctx.close();
 * } else {
 *   // No RDMA device here: ENODEV saying why.
 *   await assert.rejects(openRealDevice(), { name: "VerbsError", code: "ENODEV" });
 * }
 * ```
 */
export interface RealCqOptions {
  /** Channel that receives this CQ's completion events. */
  channel?: RealCompChannel;
  /** Interrupt vector (`< num_comp_vectors`), default 0. */
  compVector?: number;
}

/**
 * A completion queue (`struct ibv_cq`).
 *
 * Its methods are the model's verbs (API.md) on a real device;
 * `tests/ffi_fake_provider_test.ts` drives them through a stand-in provider.
 * The example uses a device where there is one; elsewhere opening one says why not.
 *
 * @example
 * ```ts
 * // needs libibverbs1
 * import assert from "node:assert/strict";
 * import { listRealDevices, openRealDevice } from "./open.ts";
 * import { RealCq } from "./cq.ts";
 * if (listRealDevices().length > 0) {
 *   const ctx = await openRealDevice();
 *   const cq = await ctx.createCq(16);
 *   assert.ok(cq instanceof RealCq && cq.cqe >= 16);
 *   assert.deepEqual(cq.poll(4), []); // nothing posted
 *   await cq.destroy();
 *   await ctx.close();
 * } else {
 *   // No RDMA device here: ENODEV saying why.
 *   await assert.rejects(openRealDevice(), { name: "VerbsError", code: "ENODEV" });
 * }
 * ```
 */
export class RealCq {
  /** Entries the provider allocated (at least what was asked). */
  readonly cqe: number;
  /** Kernel handle of the CQ. */
  readonly handle: number;
  /** The completion channel, if any. */
  readonly channel?: RealCompChannel;
  #dev: RealDevice;
  #addr: bigint;
  /** `struct ibv_cq *`, for acks while an off-thread `ibv_destroy_cq` waits for them. */
  #ptr: Deno.PointerObject;
  #wc = scratch(16 * IBV_WC.sizeof);

  /** Made by `RealContext.createCq`. */
  constructor(dev: RealDevice, cqe: number, opts: RealCqOptions = {}) {
    this.#dev = dev;
    if (!Number.isInteger(cqe) || cqe < 1 || cqe > 0x7fffffff) {
      throw new VerbsError("EINVAL", `createCq: cqe ${cqe} must be a positive int`);
    }
    const vector = opts.compVector ?? 0;
    // int comp_vector: the kernel checks it against num_comp_vectors (ib_uverbs create_cq).
    if (!Number.isInteger(vector) || vector < 0 || vector > 0x7fffffff) {
      throw new VerbsError("EINVAL", `createCq: compVector ${vector} must be a non-negative int`);
    }
    const ch = opts.channel ? pointerOf(opts.channel, dev, "channel") : null;
    const ptr = verbs(() =>
      dev.lib.must(
        dev.lib.symbols.ibv_create_cq(dev.ctx, cqe, null, ch, vector),
        "ibv_create_cq",
      )
    );
    this.cqe = cInt(ptr, IBV_CQ.fields.cqe);
    this.handle = cUint(ptr, IBV_CQ.fields.handle);
    this.channel = opts.channel;
    this.#addr = pointerValue(ptr);
    this.#ptr = ptr;
    if (this.channel) routes.get(this.channel)!.set(this.#addr, this);
    registerAffiliated(dev, this.#addr, this);
    attach(this, dev, "cq", ptr, () => this.#destroy());
  }

  /** Up to `n` completions, oldest first; [] when the CQ is empty. */
  poll(n = 1): WorkCompletion[] {
    const ptr = pointerOf(this, this.#dev, "cq");
    const fn = this.#dev.ops.pollCq;
    if (!fn) throw new VerbsError("EOPNOTSUPP", "poll_cq: the provider has no poll_cq");
    if (!Number.isInteger(n)) {
      throw new VerbsError("EINVAL", `poll_cq: n ${String(n).slice(0, 24)} is not an integer`);
    }
    // API.md cq.poll: n ≤ 0 polls nothing, as ibv_poll_cq with num_entries ≤ 0 (the `npolled < ne`
    // loop of libmlx4, libmlx5 and libmthca's poll_cq), in the model too.
    if (n <= 0) return [];
    // No poll returns more than the CQ holds (its cqe, one more slot in the mlx4/mlx5 ring): ask
    // for no more, so num_entries fits C's int and the entries poll_cq writes fit in memory.
    const want = Math.min(n, this.cqe + 1);
    if (this.#wc.byteLength < want * IBV_WC.sizeof) this.#wc = scratch(want * IBV_WC.sizeof);
    // On an error completion a provider writes only what ibv_poll_cq(3) calls valid (wr_id,
    // status, qp_num, vendor_err; mlx5_parse_cqe also wc_flags): the entries start zeroed, as
    // a fresh struct ibv_wc, so no field of an earlier poll shows through.
    this.#wc.fill(0, 0, want * IBV_WC.sizeof);
    const got = fn.call(ptr, want, this.#wc);
    if (got < 0) {
      // ibv_poll_cq(3): "On failure, a negative value is returned" — not an errno: libmlx4,
      // libmlx5 and libmthca return CQ_POLL_ERR (-2), ibv_cmd_poll_cq -1.
      throw new VerbsError(
        "EIO",
        `poll_cq failed (returned ${got}, a provider failure such as a CQE for an unknown QP)`,
      );
    }
    return decodeWcs(this.#wc, got);
  }

  /**
   * Busy-poll until exactly `n` completions arrived. Every
   * {@link SPINS_PER_YIELD} empty polls it yields to the event loop, so
   * other tasks keep running — and so a timeout can fire: there is no
   * virtual time on real hardware, and rather than read a clock on every
   * poll the timeout is a host timer that the loop notices at its next
   * yield (so, like `getEvent`'s, it is rounded up to milliseconds).
   *
   * @param opts.timeoutNs give up after this long (wall-clock): VerbsError ETIMEDOUT
   * @param opts.maxPolls give up after this many polls: VerbsError ETIMEDOUT
   * @throws on giving up, the error's `completions` holds what did arrive
   */
  async pollUntil(
    n: number,
    opts: { timeoutNs?: number; maxPolls?: number } = {},
  ): Promise<WorkCompletion[]> {
    // As the model's pollUntil: a count no poll sequence reaches (1.5, NaN, -1) is EINVAL.
    if (!Number.isInteger(n) || n < 0) {
      throw new VerbsError(
        "EINVAL",
        `poll_cq: n ${String(n).slice(0, 24)} is not a whole number ≥ 0`,
      );
    }
    const max = opts.maxPolls ?? Infinity;
    // A bound no poll count reaches (NaN) would spin for ever: a whole number ≥ 0, or none.
    if (max !== Infinity && (!Number.isInteger(max) || max < 0)) {
      throw new VerbsError(
        "EINVAL",
        `pollUntil: maxPolls ${String(max).slice(0, 24)} is not a whole number ≥ 0`,
      );
    }
    const t = opts.timeoutNs;
    if (t !== undefined && (typeof t !== "number" || !(t >= 0))) {
      throw new VerbsError("EINVAL", `pollUntil: timeoutNs ${t}`);
    }
    let expired = false;
    const timer = t === undefined
      ? undefined
      : setTimeout(() => (expired = true), Math.min(0x7fffffff, Math.ceil(t / 1e6)));
    const out: WorkCompletion[] = [];
    try {
      let empty = 0;
      for (let polls = 0; out.length < n; polls++) {
        if (polls >= max || (expired && empty > 0)) {
          const e = new VerbsError(
            "ETIMEDOUT",
            `poll_cq: ${out.length} of ${n} completions after ${polls} polls`,
          );
          throw Object.assign(e, { completions: out });
        }
        const got = this.poll(n - out.length);
        out.push(...got);
        if (got.length > 0) empty = 0;
        else if (++empty % SPINS_PER_YIELD === 0) await new Promise((r) => setTimeout(r, 0));
      }
      return out;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Arm the CQ: the next (solicited, if asked) completion raises an event on its channel. */
  reqNotify(solicitedOnly = false): void {
    const ptr = pointerOf(this, this.#dev, "cq");
    const solicited = boolArg("req_notify_cq", "solicitedOnly", solicitedOnly);
    const fn = this.#dev.ops.reqNotifyCq;
    if (!fn) throw new VerbsError("EOPNOTSUPP", "req_notify_cq: the provider has none");
    const rc = fn.call(ptr, solicited ? 1 : 0);
    if (rc !== 0) {
      throw new VerbsError(errnoCode(Math.abs(rc)), `req_notify_cq failed (returned ${rc})`);
    }
  }

  /**
   * Acknowledge `n` events returned by `channel.getEvent()`. Allowed while
   * this CQ's `destroy()` is under way (its C call, off the JavaScript
   * thread, waits for exactly these acks).
   */
  ackEvents(n: number): void {
    const pending = unacked.get(this) ?? 0;
    // Events still unacknowledged mean ibv_destroy_cq has not returned: the C CQ is alive.
    const ptr = pending > 0 ? this.#ptr : pointerOf(this, this.#dev, "cq");
    if (!Number.isInteger(n) || n < 0 || n > pending) {
      throw new VerbsError("EINVAL", `ackEvents(${n}): ${pending} event(s) unacknowledged`);
    }
    this.#dev.lib.symbols.ibv_ack_cq_events(ptr, n);
    unacked.set(this, pending - n);
    if (pending - n > 0) return;
    pendingCqs.get(this.#dev)?.delete(this);
    for (const w of this.#acked.splice(0)) w();
  }

  /** `destroy()` calls waiting for the last acknowledgement. */
  #acked: (() => void)[] = [];

  #destroy(): void {
    // Teardown of a closing context: nobody is left to acknowledge, and ibv_destroy_cq would
    // block this thread for ever waiting for it.
    const pending = unacked.get(this) ?? 0;
    if (pending > 0) this.ackEvents(pending);
    destroyObject(
      this,
      this.#dev,
      "cq",
      "ibv_destroy_cq",
      (p) => this.#dev.lib.symbols.ibv_destroy_cq(p),
    );
    this.#forget();
  }

  /** After ibv_destroy_cq: its pointer may name the next CQ. */
  #forget(): void {
    if (this.channel) routes.get(this.channel)!.delete(this.#addr);
    unregisterAffiliated(this.#dev, this.#addr);
  }

  /**
   * `ibv_destroy_cq` (EBUSY while a QP uses it). Resolves only once every
   * event `channel.getEvent()` returned for this CQ is acknowledged with
   * {@link ackEvents}, and every async event (`CQ_ERR`) `getAsyncEvent`
   * returned for it with `ackAsyncEvent`, as ibv_destroy_cq returns only
   * then (libibverbs ibv_cmd_destroy_cq waits until `comp_events_completed`
   * and `async_events_completed` equal the kernel's counts); a program that
   * never acknowledges waits for ever, as with libibverbs. The C call is
   * made after the last acknowledgement (made before it, it would block the
   * JavaScript thread that has to acknowledge). While the channel's
   * `getEvent` is in C, the C call runs off the JavaScript thread: that read
   * may already hold an event of this CQ (the kernel counted it as reported)
   * which JavaScript has not seen, and `ibv_destroy_cq` then waits for its
   * ack; the destroy resolves once the read returned it and it was
   * acknowledged (`ackEvents`, or `close()`).
   */
  async destroy(): Promise<void> {
    pointerOf(this, this.#dev, "cq");
    const channel = this.channel;
    await destroyAffiliated(
      this.#dev,
      this,
      "cq",
      "ibv_destroy_cq",
      () => this.#destroy(),
      (p) => this.#dev.lib.symbols.ibv_destroy_cq_off_thread(p),
      () => this.#forget(),
      {
        unacked: () => unacked.get(this) ?? 0,
        settled: () => new Promise<void>((resolve) => this.#acked.push(resolve)),
        readInFlight: () => channel !== undefined && reading.get(this.#dev)?.has(channel) === true,
      },
    );
  }
}
