/**
 * `RealContext`: an open RDMA device with the verbs API of API.md. It owns a
 * libibverbs handle and every object created through it; `close()` destroys
 * what is left (QPs before the CQs and SRQs they use, MRs before their PD),
 * closes the device and dlcloses the library.
 *
 * @module
 */
import { IBV_CONTEXT, IBV_DEVICE_ATTR, queryPort, scratch } from "../../../hca/ffi/mod.ts";
import { VerbsError } from "../../uapi/errors.ts";
import type { AhAttr, DeviceAttr, PortAttr, WorkCompletion } from "../../uapi/types.ts";
import { initAhFromWcWith } from "./ah_from_wc.ts";
import { decodeDeviceAttr, decodePortAttr } from "./info.ts";
import {
  ackAllCompEvents,
  compEventReadsInFlight,
  RealCompChannel,
  RealCq,
  type RealCqOptions,
} from "./cq.ts";
import type { RealDevice } from "./device.ts";
import { verbs } from "./errors.ts";
import { RealPd } from "./pd.ts";
import { type RealAsyncEvent, RealAsyncEvents } from "./async_events.ts";

/**
 * An open real RDMA device. Get one with `openRealDevice()`.
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
 * import { RealContext } from "./context.ts";
 * if (listRealDevices().length > 0) {
 *   const ctx = await openRealDevice();
 *   assert.ok(ctx instanceof RealContext);
 *   assert.ok(ctx.queryDevice().maxQp > 0);
 *   assert.equal(typeof ctx.queryPort(1).state, "number");
 *   await ctx.close();
 *   assert.equal(ctx.closed, true);
 * } else {
 *   // No RDMA device here: ENODEV saying why.
 *   await assert.rejects(openRealDevice(), { name: "VerbsError", code: "ENODEV" });
 * }
 * ```
 */
export class RealContext {
  #dev: RealDevice;
  #events: RealAsyncEvents;

  /** Made by `openRealDevice`. */
  constructor(dev: RealDevice) {
    this.#dev = dev;
    this.#events = new RealAsyncEvents(dev);
  }

  /** Kernel device name, e.g. `mlx5_0`. */
  get deviceName(): string {
    return this.#dev.name;
  }

  /** `ibv_context.num_comp_vectors`: completion vectors a CQ may name. */
  get numCompVectors(): number {
    const at = IBV_CONTEXT.fields.num_comp_vectors.offset;
    return new Deno.UnsafePointerView(this.#dev.ctx).getInt32(at);
  }

  /** True after {@link close}. */
  get closed(): boolean {
    return this.#dev.closed;
  }

  /** `ibv_query_device`: every field of `struct ibv_device_attr`, camelCased. */
  queryDevice(): DeviceAttr & Record<string, unknown> {
    const buf = scratch(IBV_DEVICE_ATTR.sizeof);
    const lib = this.#dev.lib;
    verbs(() => lib.check(lib.symbols.ibv_query_device(this.#dev.ctx, buf), "ibv_query_device"));
    return decodeDeviceAttr(buf);
  }

  /** `ibv_query_port` (the header's inline, via the extended context when there is one). */
  queryPort(port: number): PortAttr & Record<string, number> {
    if (!Number.isInteger(port) || port < 1 || port > 255) {
      throw new VerbsError("EINVAL", `queryPort: port ${port} (ports are 1-based)`);
    }
    const { rc, attr } = queryPort(this.#dev.lib, this.#dev.ctx, port);
    verbs(() => this.#dev.lib.check(rc, "ibv_query_port"));
    return decodePortAttr(attr);
  }

  /** `ibv_query_gid`: GID `index` of `port`, 16 bytes in network order. */
  queryGid(port: number, index: number): Uint8Array {
    // uint8_t port_num and int index: a value C would truncate (port 257 is port 1) is refused.
    if (!Number.isInteger(port) || port < 1 || port > 255) {
      throw new VerbsError("EINVAL", `queryGid: port ${port} (ports are 1-based, 1..255)`);
    }
    if (!Number.isInteger(index) || index < 0 || index > 0x7fffffff) {
      throw new VerbsError("EINVAL", `queryGid: index ${index} is not a GID table index`);
    }
    const gid = scratch(16);
    const lib = this.#dev.lib;
    verbs(() =>
      lib.check(lib.symbols.ibv_query_gid(this.#dev.ctx, port, index, gid), "ibv_query_gid")
    );
    return gid;
  }

  /**
   * `ibv_init_ah_from_wc`: libibverbs' own, whose GID search reads the device's table and GID
   * types (RoCE v2 headers included); `grh` is the 40 bytes at the head of the receive buffer.
   * Returns its value directly, as `queryGid` does.
   */
  initAhFromWc(port: number, wc: WorkCompletion, grh?: Uint8Array): AhAttr {
    return initAhFromWcWith(this.#dev.lib, this.#dev.ctx, port, wc, grh);
  }

  /** `ibv_query_pkey`: P_Key `index` of `port`, in host order (0 for an empty entry). */
  queryPkey(port: number, index: number): number {
    // uint8_t port_num and int index, as queryGid.
    if (!Number.isInteger(port) || port < 1 || port > 255) {
      throw new VerbsError("EINVAL", `queryPkey: port ${port} (ports are 1-based, 1..255)`);
    }
    if (!Number.isInteger(index) || index < 0 || index > 0x7fffffff) {
      throw new VerbsError("EINVAL", `queryPkey: index ${index} is not a P_Key table index`);
    }
    const pkey = scratch(2);
    const lib = this.#dev.lib;
    verbs(() =>
      lib.check(lib.symbols.ibv_query_pkey(this.#dev.ctx, port, index, pkey), "ibv_query_pkey")
    );
    // __be16: network order.
    return (pkey[0] << 8) | pkey[1];
  }

  /** `ibv_alloc_pd`. */
  allocPd(): Promise<RealPd> {
    return Promise.resolve().then(() => new RealPd(this.#dev));
  }

  /** `ibv_create_comp_channel`. */
  createCompChannel(): RealCompChannel {
    return new RealCompChannel(this.#dev);
  }

  /** `ibv_create_cq` with at least `cqe` entries. */
  createCq(cqe: number, opts: RealCqOptions = {}): Promise<RealCq> {
    return Promise.resolve().then(() => new RealCq(this.#dev, cqe, opts));
  }

  /**
   * `ibv_get_async_event`: the next async event of the device, with its QP,
   * CQ or SRQ (or port) resolved to the wrapper's object. The C call blocks,
   * so it runs on a worker thread; one at a time per context (EBUSY for a
   * second). Every event it returns must be acknowledged with
   * {@link ackAsyncEvent}: destroying its QP, CQ or SRQ waits for that.
   *
   * @param opts.timeoutNs give up after this long (wall-clock time, rounded
   *   up to milliseconds: poll(2) on the context's async fd, as a blocked C
   *   call cannot be cancelled): VerbsError ETIMEDOUT
   */
  getAsyncEvent(opts: { timeoutNs?: number } = {}): Promise<RealAsyncEvent> {
    return Promise.resolve().then(() => this.#events.get(opts));
  }

  /**
   * `ibv_ack_async_event`: acknowledge an event {@link getAsyncEvent}
   * returned (a destroy waiting for it then goes on). EINVAL for anything
   * else, or an event acknowledged already.
   */
  ackAsyncEvent(event: RealAsyncEvent): void {
    this.#events.ack(event);
  }

  /** Async events {@link getAsyncEvent} returned and not yet acknowledged. */
  get asyncUnacked(): number {
    return this.#events.unacked;
  }

  /**
   * Acknowledge the async and completion events still unacknowledged (nobody
   * is left to, and each destroy would block for ever otherwise), destroy
   * what is left, `ibv_close_device`, and close the library (idempotent).
   * EBUSY, leaving the context open, while a {@link getAsyncEvent} call or
   * a completion channel's `getEvent` waits in C: the blocked
   * `ibv_get_async_event` reads the context, and `ibv_get_cq_event` its
   * channel, which close frees. Destroys running off the JavaScript thread
   * (made while a read was in C) are waited for, after the acks they wait on.
   */
  close(): Promise<void> {
    return Promise.resolve().then(async () => {
      if (this.#dev.closed) return;
      if (this.#events.waiting) {
        throw new VerbsError("EBUSY", "close: a getAsyncEvent() is still waiting on the context");
      }
      const channels = compEventReadsInFlight(this.#dev);
      if (channels > 0) {
        throw new VerbsError(
          "EBUSY",
          `close: a completion channel's getEvent() is still waiting in C (${channels} channel(s))`,
        );
      }
      this.#events.ackAll();
      ackAllCompEvents(this.#dev);
      await this.#events.settleDestroys();
      this.#dev.close();
    });
  }
}
