/**
 * What every real verbs object needs: the library handle, the open context,
 * its fast-path ops, and the C pointer behind each JS object. Pointers live
 * in a WeakMap rather than on the objects, so they are not public API, an
 * object of the simulated stack passed to a real verb is recognised (and
 * refused) instead of being dereferenced, and a destroyed object can never
 * hand a dangling pointer to C.
 *
 * @module
 */
import {
  type ContextOps,
  contextOps,
  HEADER_CONSTANTS,
  type Ibverbs,
  POLLFD,
  put,
  scratch,
  viewOf,
} from "../../../hca/ffi/mod.ts";
import { VerbsError } from "../../uapi/errors.ts";
import { verbs } from "./errors.ts";

/**
 * Kinds of objects a context owns, in the order `close()` destroys them (users first).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TEARDOWN_ORDER } from "./device.ts";
 * assert.deepEqual(TEARDOWN_ORDER, ["qp", "srq", "ah", "mr", "pd", "cq", "channel"]);
 * ```
 */
export const TEARDOWN_ORDER = ["qp", "srq", "ah", "mr", "pd", "cq", "channel"] as const;
/**
 * One of {@link TEARDOWN_ORDER}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Kind, TEARDOWN_ORDER } from "./device.ts";
 * const before = (a: Kind, b: Kind) => TEARDOWN_ORDER.indexOf(a) < TEARDOWN_ORDER.indexOf(b);
 * assert.ok(before("mr", "pd") && before("qp", "cq")); // users go before what they use
 * ```
 */
export type Kind = (typeof TEARDOWN_ORDER)[number];

/**
 * One open device context (internal to `drivers/verbs/real`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_CONTEXT, Ibverbs, scratch } from "../../../hca/ffi/mod.ts";
 * import { RealDevice } from "./device.ts";
 * // A stand-in library whose ibv_close_device succeeds, and a context with no ops.
 * const order: string[] = [];
 * const fake = { symbols: { ibv_close_device: () => 0 }, close: () => order.push("dlclose") };
 * const ctx = Deno.UnsafePointer.of(scratch(IBV_CONTEXT.sizeof))!; // no ops filled in
 * const dev = new RealDevice(new Ibverbs("stand-in", fake as never), "fake0", ctx);
 * assert.equal(dev.ops.pollCq, null);
 * dev.track("cq", {}, () => order.push("cq"));
 * dev.track("qp", {}, () => order.push("qp"));
 * dev.close();
 * assert.deepEqual(order, ["qp", "cq", "dlclose"]); // QPs before their CQs, the library last
 * assert.throws(() => dev.ctx, /context is closed/);
 * ```
 */
export class RealDevice {
  /** The provider's fast-path functions. */
  readonly ops: ContextOps;
  #ctx: Deno.PointerObject | null;
  #live = new Map<Kind, Map<object, () => void>>(TEARDOWN_ORDER.map((k) => [k, new Map()]));

  /**
   * @param lib the library handle this context owns
   * @param name kernel device name
   * @param ctx `struct ibv_context *`
   */
  constructor(readonly lib: Ibverbs, readonly name: string, ctx: Deno.PointerObject) {
    this.#ctx = ctx;
    this.ops = contextOps(ctx);
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#ctx === null;
  }

  /** `struct ibv_context *`; throws once the context is closed. */
  get ctx(): Deno.PointerObject {
    if (!this.#ctx) throw new VerbsError("EINVAL", `device ${this.name}: context is closed`);
    return this.#ctx;
  }

  /** Record a live object and how to destroy it synchronously. */
  track(kind: Kind, obj: object, destroy: () => void): void {
    this.#live.get(kind)!.set(obj, destroy);
  }

  /** Forget a destroyed object. */
  untrack(kind: Kind, obj: object): void {
    this.#live.get(kind)!.delete(obj);
  }

  /** Live objects of a kind. */
  count(kind: Kind): number {
    return this.#live.get(kind)!.size;
  }

  /**
   * Destroy every object still live (users before what they use), then close
   * the context and the library handle (idempotent). The context and library
   * are released even when a destroy fails; the first failure is rethrown.
   */
  close(): void {
    if (!this.#ctx) return;
    let first: unknown;
    for (const kind of TEARDOWN_ORDER) {
      for (const destroy of [...this.#live.get(kind)!.values()]) {
        try {
          destroy();
        } catch (e) {
          first ??= e;
        }
      }
    }
    const ctx = this.#ctx;
    this.#ctx = null;
    try {
      verbs(() => this.lib.check(this.lib.symbols.ibv_close_device(ctx), "ibv_close_device"));
    } catch (e) {
      first ??= e;
    } finally {
      this.lib.close();
    }
    if (first !== undefined) throw first;
  }
}

interface Handle {
  ptr: Deno.PointerObject | null;
  readonly dev: RealDevice;
}

const handles = new WeakMap<object, Handle>();

/**
 * Record the C object behind a JS object, and how the context destroys it on close.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_CONTEXT, Ibverbs, scratch } from "../../../hca/ffi/mod.ts";
 * import { attach, pointerOf, RealDevice } from "./device.ts";
 * const fake = { symbols: { ibv_close_device: () => 0 }, close() {} }; // stand-in library
 * const ctx = Deno.UnsafePointer.of(scratch(IBV_CONTEXT.sizeof))!; // no ops filled in
 * const dev = new RealDevice(new Ibverbs("stand-in", fake as never), "fake0", ctx);
 * const pd = {};
 * const cPd = Deno.UnsafePointer.of(scratch(16))!; // stands in for the struct ibv_pd *
 * let deallocs = 0;
 * attach(pd, dev, "pd", cPd, () => deallocs++);
 * assert.equal(pointerOf(pd, dev, "pd"), cPd);
 * dev.close(); // destroys what is still attached
 * assert.equal(deallocs, 1);
 * ```
 */
export function attach(
  obj: object,
  dev: RealDevice,
  kind: Kind,
  ptr: Deno.PointerObject,
  destroy: () => void,
): void {
  handles.set(obj, { ptr, dev });
  dev.track(kind, obj, destroy);
}

/**
 * The C pointer of a live object of `dev`.
 *
 * @param what the role, for the message ("cq", "sendCq", "srq", …)
 * @throws VerbsError EINVAL for an object that is not a real-device object,
 *   belongs to another context, or was destroyed
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_CONTEXT, Ibverbs, scratch } from "../../../hca/ffi/mod.ts";
 * import { pointerOf, RealDevice } from "./device.ts";
 * const fake = { symbols: { ibv_close_device: () => 0 }, close() {} }; // stand-in library
 * const ctx = Deno.UnsafePointer.of(scratch(IBV_CONTEXT.sizeof))!; // no ops filled in
 * const dev = new RealDevice(new Ibverbs("stand-in", fake as never), "fake0", ctx);
 * // A model CQ, or any other object, is refused before anything reaches C.
 * assert.throws(() => pointerOf({}, dev, "cq"), {
 *   code: "EINVAL",
 *   message:
 *     "EINVAL: cq is not an object of a real device (objects of the built-in model cannot mix in)",
 * });
 * dev.close();
 * ```
 */
export function pointerOf(obj: unknown, dev: RealDevice, what: string): Deno.PointerObject {
  const h = typeof obj === "object" && obj !== null ? handles.get(obj) : undefined;
  if (!h) {
    throw new VerbsError(
      "EINVAL",
      `${what} is not an object of a real device (objects of the built-in model cannot mix in)`,
    );
  }
  if (h.dev !== dev) throw new VerbsError("EINVAL", `${what} belongs to another device context`);
  if (!h.ptr) throw new VerbsError("EINVAL", `${what} was already destroyed`);
  if (dev.closed) throw new VerbsError("EINVAL", `${what}: device ${dev.name} is closed`);
  return h.ptr;
}

/**
 * Run the destroy verb of an object. The JS object is marked destroyed while
 * the verb runs and only stays so when the verb succeeded: a refused destroy
 * (EBUSY: a CQ still used by a QP) leaves a live, usable object.
 *
 * @param call the verb's name, for the error
 * @param destroy calls the verb with the pointer and returns its int result
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_CONTEXT, Ibverbs, scratch } from "../../../hca/ffi/mod.ts";
 * import { attach, destroyObject, pointerOf, RealDevice } from "./device.ts";
 * const fake = { symbols: { ibv_close_device: () => 0 }, close() {} }; // stand-in library
 * const ctx = Deno.UnsafePointer.of(scratch(IBV_CONTEXT.sizeof))!; // no ops filled in
 * const dev = new RealDevice(new Ibverbs("stand-in", fake as never), "fake0", ctx);
 * const cq = {};
 * attach(cq, dev, "cq", Deno.UnsafePointer.of(scratch(16))!, () => {});
 * // ibv_destroy_cq refuses (EBUSY: a QP still uses it): the CQ stays live and usable.
 * assert.throws(() => destroyObject(cq, dev, "cq", "ibv_destroy_cq", () => 16), { code: "EBUSY" });
 * assert.equal(dev.count("cq"), 1);
 * destroyObject(cq, dev, "cq", "ibv_destroy_cq", () => 0);
 * assert.equal(dev.count("cq"), 0);
 * assert.throws(() => pointerOf(cq, dev, "cq"), /cq was already destroyed/);
 * dev.close();
 * ```
 */
export function destroyObject(
  obj: object,
  dev: RealDevice,
  kind: Kind,
  call: string,
  destroy: (ptr: Deno.PointerObject) => number,
): void {
  const ptr = pointerOf(obj, dev, kind);
  const h = handles.get(obj)!;
  h.ptr = null;
  const rc = destroy(ptr);
  if (rc !== 0) {
    h.ptr = ptr;
    verbs(() => dev.lib.check(rc, call));
  }
  dev.untrack(kind, obj);
}

/**
 * Wait until `fd` is readable, or time out: what an event wait with a
 * timeout does before its blocking verb (`ibv_get_cq_event`,
 * `ibv_get_async_event`), which itself can only block. poll(2) runs on a
 * worker thread; the timeout is wall-clock time rounded up to milliseconds.
 *
 * @param call the event verb, for the messages ("get_cq_event")
 * @param fdName the fd polled, for the message ("the completion channel")
 * @throws VerbsError EINVAL for a bad `timeoutNs`, ETIMEDOUT when nothing came
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_CONTEXT, Ibverbs, scratch } from "../../../hca/ffi/mod.ts";
 * import { RealDevice, waitReadable } from "./device.ts";
 * let polled = -2;
 * const symbols = {
 *   ibv_close_device: () => 0,
 *   poll: (pfd: Uint8Array) => (polled = new DataView(pfd.buffer).getInt32(0, true), 0),
 * };
 * const fake = { symbols, close() {} }; // stand-in library whose poll(2) times out
 * const ctx = Deno.UnsafePointer.of(scratch(IBV_CONTEXT.sizeof))!;
 * const dev = new RealDevice(new Ibverbs("stand-in", fake as never), "fake0", ctx);
 * await assert.rejects(waitReadable(dev, 7, 1e6, "get_x_event", "the fd"), {
 *   code: "ETIMEDOUT",
 *   message: "ETIMEDOUT: get_x_event: no event within 1000000 ns",
 * });
 * assert.equal(polled, 7);
 * await assert.rejects(waitReadable(dev, 7, -1, "get_x_event", "the fd"), { code: "EINVAL" });
 * dev.close();
 * ```
 */
export async function waitReadable(
  dev: RealDevice,
  fd: number,
  timeoutNs: number,
  call: string,
  fdName: string,
): Promise<void> {
  if (typeof timeoutNs !== "number" || !(timeoutNs >= 0)) {
    throw new VerbsError("EINVAL", `${call}: timeoutNs ${timeoutNs}`);
  }
  const pfd = scratch(POLLFD.sizeof);
  const v = viewOf(pfd);
  put(v, POLLFD.fields.fd, fd);
  put(v, POLLFD.fields.events, HEADER_CONSTANTS.POLLIN);
  const ms = Math.min(0x7fffffff, Math.ceil(timeoutNs / 1e6));
  const n = await dev.lib.symbols.poll(pfd, 1n, ms);
  if (n === 0) throw new VerbsError("ETIMEDOUT", `${call}: no event within ${timeoutNs} ns`);
  if (n < 0) throw new VerbsError("EIO", `poll(2) on ${fdName} failed`);
}

/**
 * {@link destroyObject} with the verb run off the JavaScript thread: for a
 * destroy that may block in C until JavaScript acknowledges an event (an
 * event read is in flight and may already hold one of the object's events,
 * which the kernel counted as reported).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IBV_CONTEXT, Ibverbs, scratch } from "../../../hca/ffi/mod.ts";
 * import { attach, destroyObjectOffThread, pointerOf, RealDevice } from "./device.ts";
 * const fake = { symbols: { ibv_close_device: () => 0 }, close() {} }; // stand-in library
 * const ctx = Deno.UnsafePointer.of(scratch(IBV_CONTEXT.sizeof))!; // no ops filled in
 * const dev = new RealDevice(new Ibverbs("stand-in", fake as never), "fake0", ctx);
 * const qp = {};
 * attach(qp, dev, "qp", Deno.UnsafePointer.of(scratch(16))!, () => {});
 * const destroying = destroyObjectOffThread(qp, dev, "qp", "ibv_destroy_qp", () =>
 *   Promise.resolve(0));
 * assert.throws(() => pointerOf(qp, dev, "qp"), /already destroyed/); // unusable while it runs
 * await destroying;
 * assert.equal(dev.count("qp"), 0);
 * dev.close();
 * ```
 */
export async function destroyObjectOffThread(
  obj: object,
  dev: RealDevice,
  kind: Kind,
  call: string,
  destroy: (ptr: Deno.PointerObject) => Promise<number>,
): Promise<void> {
  const ptr = pointerOf(obj, dev, kind);
  const h = handles.get(obj)!;
  h.ptr = null;
  const rc = await destroy(ptr);
  if (rc !== 0) {
    h.ptr = ptr;
    verbs(() => dev.lib.check(rc, call));
  }
  dev.untrack(kind, obj);
}
