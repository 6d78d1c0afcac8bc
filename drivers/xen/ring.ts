/**
 * Xen shared I/O ring, byte-compatible with `xen/include/public/io/ring.h`.
 *
 * The shared page (a granted frame of guest memory; this module only sees
 * its bytes) holds `struct sring`:
 *
 * | offset | field |
 * | --- | --- |
 * | 0 | `RING_IDX req_prod` |
 * | 4 | `RING_IDX req_event` |
 * | 8 | `RING_IDX rsp_prod` |
 * | 12 | `RING_IDX rsp_event` |
 * | 16 | `pvt` (4 bytes, union `pvt_pad[4]`) |
 * | 20 | `__pad[44]` |
 * | 64 | `ring[]`: slots of `sizeof(union sring_entry)` bytes |
 *
 * `RING_IDX` is `unsigned int`, little-endian on x86; indices are free-running
 * and wrap at 2^32, a slot is `idx & (RING_SIZE - 1)`. The producer and
 * consumer keep private copies (`req_prod_pvt`, `rsp_cons` in the front;
 * `rsp_prod_pvt`, `req_cons` in the back); only the published indices live in
 * shared memory.
 *
 * The back end treats everything in the page as hostile: it reads `req_prod`
 * once per check into a local snapshot, validates it against its private
 * indices (ring.h `RING_REQUEST_PROD_OVERFLOW`, plus "the producer moved
 * backwards"), and copies each request slot out before decoding it
 * (ring.h `RING_COPY_REQUEST`), so a frontend rewriting the slot meanwhile
 * cannot change what the backend validated. The front end applies the same
 * rules to responses, which costs nothing and keeps a buggy backend from
 * crashing a guest.
 *
 * @module
 */

/**
 * Bytes of `struct sring` before `ring[]` (4 indices, `pvt`, `__pad[44]`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RING_HEADER_SIZE } from "./ring.ts";
 * assert.equal(RING_HEADER_SIZE, 64); // slot 0 starts here
 * ```
 */
export const RING_HEADER_SIZE = 64;
/**
 * The page size ring protocols always use (ring.h `XEN_PAGE_SHIFT` 12).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FrontRing, bytesCodec, XEN_PAGE_SIZE } from "./ring.ts";
 * const page = new Uint8Array(XEN_PAGE_SIZE); // what a frontend grants its backend
 * const front = FrontRing.init(page, { request: bytesCodec(32), response: bytesCodec(32) });
 * assert.equal(front.size, 64);
 * ```
 */
export const XEN_PAGE_SIZE = 4096;

const OFF_REQ_PROD = 0;
const OFF_REQ_EVENT = 4;
const OFF_RSP_PROD = 8;
const OFF_RSP_EVENT = 12;
const OFF_PVT = 16;

/**
 * Why a ring operation was refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RingError, type RingErrorCode } from "./ring.ts";
 * const fatal = (c: RingErrorCode) => c === "prod-overflow" || c === "broken";
 * assert.ok(fatal(new RingError("broken", "bad index").code));
 * assert.ok(!fatal("full")); // full: wait for responses and try again
 * ```
 */
export type RingErrorCode =
  /** The peer published a producer index that cannot be right (hostile or corrupt peer). */
  | "prod-overflow"
  /** The front tried to queue a request with no free slot. */
  | "full"
  /** The back tried to respond with no consumed request awaiting a response. */
  | "no-request"
  /** The ring was already marked broken by an earlier `prod-overflow`. */
  | "broken"
  /** Wrong page, slot size or message size. */
  | "layout";

/**
 * A refused ring operation. A `prod-overflow` breaks the ring for good: the
 * peer has shown it does not follow the protocol, and the owner of the ring
 * is expected to disconnect it (xenbus Closing), not to keep reading.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RingError } from "./ring.ts";
 * const e = new RingError("full", "no free request slot");
 * assert.equal(e.code, "full");
 * assert.ok(e instanceof Error);
 * ```
 */
export class RingError extends Error {
  /** What was wrong. */
  readonly code: RingErrorCode;
  /**
   * @param code what was wrong
   * @param message details (indices involved)
   */
  constructor(code: RingErrorCode, message: string) {
    super(message);
    this.name = "RingError";
    this.code = code;
  }
}

/**
 * How one message type is laid out in a ring slot. `encode` writes into the
 * slot of the shared page; `decode` always gets a private copy of the slot,
 * never the shared bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BackRing, FrontRing, type SlotCodec } from "./ring.ts";
 * const u32: SlotCodec<number> = {
 *   size: 4,
 *   encode: (v, out) => out.setUint32(0, v, true),
 *   decode: (inp) => inp.getUint32(0, true),
 * };
 * const page = new Uint8Array(4096);
 * const front = FrontRing.init(page, { request: u32, response: u32 });
 * const back = BackRing.attach(page, { request: u32, response: u32 });
 * front.pushRequest(0xdeadbeef);
 * front.pushRequests();
 * assert.equal(back.takeRequest(), 0xdeadbeef);
 * ```
 */
export interface SlotCodec<T> {
  /** Bytes the message occupies (`sizeof` of the C struct). */
  readonly size: number;
  /** Write `value` at offset 0 of `out` (a view of exactly `size` bytes). */
  encode(value: T, out: DataView): void;
  /** Read a value from `inp` (a private copy of exactly `size` bytes). */
  decode(inp: DataView): T;
  /**
   * `decode` keeps nothing of `inp` (it reads every field into a fresh
   * value): the ring end may then copy each slot into one private buffer of
   * its own, overwritten by its next take, instead of a new piece per
   * message. The copy is still taken before anything is decoded or checked.
   */
  readonly transient?: boolean;
}

/** A ring end's own private copy buffer for a {@link SlotCodec.transient} codec. */
type SlotScratch = { bytes: Uint8Array; words: Uint32Array; view: DataView };

function slotScratch(codec: SlotCodec<unknown>): SlotScratch | undefined {
  if (!codec.transient) return undefined;
  const bytes = new Uint8Array((codec.size + 7) & ~7);
  return {
    bytes,
    words: new Uint32Array(bytes.buffer),
    view: new DataView(bytes.buffer, 0, codec.size),
  };
}

/**
 * A codec for raw fixed-size messages: encode copies the bytes in (shorter
 * input is zero-padded), decode returns the copy.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesCodec } from "./ring.ts";
 * const c = bytesCodec(8);
 * assert.equal(c.size, 8);
 * ```
 */
export function bytesCodec(size: number): SlotCodec<Uint8Array> {
  checkSize(size, "bytesCodec size");
  return {
    size,
    encode(value, out) {
      if (value.length > size) {
        throw new RingError("layout", `message of ${value.length} bytes exceeds slot of ${size}`);
      }
      const dst = new Uint8Array(out.buffer, out.byteOffset, size);
      dst.set(value);
      dst.fill(0, value.length);
    },
    decode(inp) {
      return new Uint8Array(inp.buffer, inp.byteOffset, size);
    },
  };
}

/**
 * What both ring ends are built from.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesCodec, FrontRing, type RingOptions } from "./ring.ts";
 * // C: struct req { uint64_t id; uint32_t op; }; -> 16 bytes with padding.
 * const opts: RingOptions<Uint8Array, Uint8Array> = {
 *   request: bytesCodec(12),
 *   response: bytesCodec(8),
 *   slotSize: 16,
 * };
 * assert.equal(FrontRing.init(new Uint8Array(4096), opts).size, 128); // (4096 - 64) / 16 = 252 -> 128
 * ```
 */
export interface RingOptions<Req, Rsp> {
  /** Codec of requests (front → back). */
  request: SlotCodec<Req>;
  /** Codec of responses (back → front). */
  response: SlotCodec<Rsp>;
  /**
   * Bytes per slot, `sizeof(union sring_entry)`. Defaults to the larger of
   * the two message sizes; give it explicitly when the C union is padded for
   * alignment (e.g. a 12-byte struct holding a `uint64_t` is 16 in C).
   */
  slotSize?: number;
}

function checkSize(n: number, what: string): void {
  if (!Number.isInteger(n) || n <= 0) {
    throw new RingError("layout", `${what} must be a positive integer, got ${n}`);
  }
}

/** ring.h `__RD32`: round down to a power of two (0 stays 0). */
function roundDownPow2(x: number): number {
  if (x < 1) return 0;
  let p = 1;
  while (p * 2 <= x) p *= 2;
  return p;
}

/**
 * Number of slots of `slotSize` bytes in a ring of `pageBytes` bytes, as
 * ring.h `__CONST_RING_SIZE` computes it: what fits after the 64-byte
 * header, rounded down to a power of two so that an index masks to a slot.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ringSize } from "./ring.ts";
 * assert.equal(ringSize(112), 32); // blkif: (4096 - 64) / 112 = 36 -> 32
 * ```
 */
export function ringSize(slotSize: number, pageBytes: number = XEN_PAGE_SIZE): number {
  checkSize(slotSize, "slot size");
  return roundDownPow2(Math.floor((pageBytes - RING_HEADER_SIZE) / slotSize));
}

/**
 * `a - b` in ring.h `RING_IDX` arithmetic (unsigned 32-bit, wrapping).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { idxSub } from "./ring.ts";
 * assert.equal(idxSub(2, 0xfffffffe), 4); // two indices across the wrap
 * ```
 */
export function idxSub(a: number, b: number): number {
  return (a - b) >>> 0;
}

/**
 * `a + n` in `RING_IDX` arithmetic.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { idxAdd } from "./ring.ts";
 * assert.equal(idxAdd(0xffffffff, 1), 0);
 * ```
 */
export function idxAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/**
 * The shared page itself: typed access to the four published indices and the
 * slots. Both ring ends use it; tests and tools use it to look at or forge a
 * page. It does no validation: that is the job of the ends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SharedRing } from "./ring.ts";
 * const page = new Uint8Array(4096);
 * const s = new SharedRing(page, 64);
 * s.init();
 * assert.deepEqual([s.size, s.reqEvent, s.slotOffset(33)], [32, 1, 128]); // index 33 is slot 1
 * ```
 */
export class SharedRing {
  /** Bytes per slot. */
  readonly slotSize: number;
  /** Slots in the ring (a power of two, ring.h `RING_SIZE`). */
  readonly size: number;
  /** The shared page bytes (the caller's view; writes go to shared memory). */
  readonly page: Uint8Array;
  #dv: DataView;

  /**
   * @param page the shared page (normally 4096 bytes of a granted frame)
   * @param slotSize bytes per slot, `sizeof(union sring_entry)`
   */
  constructor(page: Uint8Array, slotSize: number) {
    checkSize(slotSize, "slot size");
    const size = ringSize(slotSize, page.byteLength);
    if (size === 0) {
      throw new RingError(
        "layout",
        `a ${page.byteLength}-byte page has no room for one ${slotSize}-byte slot after the ` +
          `${RING_HEADER_SIZE}-byte header`,
      );
    }
    this.page = page;
    this.slotSize = slotSize;
    this.size = size;
    this.#dv = new DataView(page.buffer, page.byteOffset, page.byteLength);
    this.#words = page.byteOffset % 4 === 0
      ? new Uint32Array(page.buffer, page.byteOffset, page.byteLength >> 2)
      : undefined;
  }

  /** The page as 32-bit words (when it starts on a word), for copying slots. */
  #words: Uint32Array | undefined;

  /**
   * ring.h `SHARED_RING_INIT`: producers 0, events 1, `pvt` and `__pad`
   * zeroed. `start` (an extension for tests and for resuming) puts both
   * producers at `start` and both events at `start + 1`, which is the state
   * a ring reaches after `start` request/response pairs.
   */
  init(start = 0): void {
    const s = start >>> 0;
    this.reqProd = s;
    this.rspProd = s;
    this.reqEvent = idxAdd(s, 1);
    this.rspEvent = idxAdd(s, 1);
    this.page.fill(0, OFF_PVT, RING_HEADER_SIZE);
  }

  /** Published request producer (written by the front). */
  get reqProd(): number {
    return this.#dv.getUint32(OFF_REQ_PROD, true);
  }
  set reqProd(v: number) {
    this.#dv.setUint32(OFF_REQ_PROD, v >>> 0, true);
  }
  /** Request index at which the back wants a notification (written by the back). */
  get reqEvent(): number {
    return this.#dv.getUint32(OFF_REQ_EVENT, true);
  }
  set reqEvent(v: number) {
    this.#dv.setUint32(OFF_REQ_EVENT, v >>> 0, true);
  }
  /** Published response producer (written by the back). */
  get rspProd(): number {
    return this.#dv.getUint32(OFF_RSP_PROD, true);
  }
  set rspProd(v: number) {
    this.#dv.setUint32(OFF_RSP_PROD, v >>> 0, true);
  }
  /** Response index at which the front wants a notification (written by the front). */
  get rspEvent(): number {
    return this.#dv.getUint32(OFF_RSP_EVENT, true);
  }
  set rspEvent(v: number) {
    this.#dv.setUint32(OFF_RSP_EVENT, v >>> 0, true);
  }

  /** Byte offset in the page of the slot for free-running index `idx`. */
  slotOffset(idx: number): number {
    return RING_HEADER_SIZE + ((idx >>> 0) & (this.size - 1)) * this.slotSize;
  }

  /**
   * A live view of the slot for `idx` (shared memory: the peer can change
   * it). A whole slot's view is made once per slot and handed out again: it
   * is a window on the page, not a copy, so every caller sees the same bytes
   * through it.
   */
  slotView(idx: number, len: number = this.slotSize): DataView {
    if (len !== this.slotSize) {
      return new DataView(this.page.buffer, this.page.byteOffset + this.slotOffset(idx), len);
    }
    const i = (idx >>> 0) & (this.size - 1);
    return this.#views[i] ??= new DataView(
      this.page.buffer,
      this.page.byteOffset + this.slotOffset(idx),
      len,
    );
  }

  #views: DataView[] = [];

  /**
   * A private copy of `len` bytes of the slot for `idx` (ring.h
   * `RING_COPY_*`): a piece of its own, or, with `into` (a ring end's
   * buffer of `len` bytes, for a codec that keeps nothing of its input),
   * that buffer overwritten.
   */
  copySlot(
    idx: number,
    len: number = this.slotSize,
    into?: { bytes: Uint8Array; words: Uint32Array; view: DataView },
  ): DataView {
    const off = this.slotOffset(idx);
    if (into && into.view.byteLength === len) {
      this.#copy(off, len, into.bytes, into.words, 0);
      return into.view;
    }
    if (copySlab.used + len > copySlab.bytes.length) {
      copySlab.bytes = new Uint8Array(Math.max(COPY_SLAB_BYTES, (len + 7) & ~7));
      copySlab.words = new Uint32Array(copySlab.bytes.buffer);
      copySlab.used = 0;
    }
    const at = copySlab.used;
    // 8-byte aligned, as a fresh buffer would be (decoders read 64-bit fields).
    copySlab.used = at + ((len + 7) & ~7);
    this.#copy(off, len, copySlab.bytes, copySlab.words, at);
    return new DataView(copySlab.bytes.buffer, at, len);
  }

  #copy(off: number, len: number, dst: Uint8Array, dstWords: Uint32Array, at: number): void {
    const page = this.page, words = this.#words;
    let i = 0;
    if (words && ((off | len | at) & 3) === 0) {
      // Word by word where the slot is word-aligned (a 128-byte slot: 32 copies, not 128).
      const from = off >> 2, to = at >> 2;
      for (const n = len >> 2; i < n; i++) dstWords[to + i] = words[from + i];
      i = len;
    }
    for (; i < len; i++) dst[at + i] = page[off + i];
  }
}

/**
 * Private slot copies are cut from one buffer of this size after another:
 * one allocation per few hundred messages instead of one per message. A
 * piece is never handed out twice (a decoder may keep a view of its copy,
 * as {@link bytesCodec} does), so a copy stays private for as long as
 * anyone holds it.
 */
const COPY_SLAB_BYTES = 64 * 1024;
const copySlab = { bytes: new Uint8Array(0), words: new Uint32Array(0), used: 0 };

/**
 * What a ring end attaches to: the shared page bytes, or a {@link SharedRing}
 * view of them (to share one view between tools and an end, or to observe
 * the exact order of an end's shared-memory accesses in tests).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BackRing, bytesCodec, FrontRing, type RingPage, SharedRing } from "./ring.ts";
 * const view: RingPage = new SharedRing(new Uint8Array(4096), 32);
 * const opts = { request: bytesCodec(32), response: bytesCodec(32) };
 * const front = FrontRing.init(view, opts);
 * const back = BackRing.attach(view, opts);
 * assert.equal(front.shared, back.shared); // both ends read one view of the page
 * ```
 */
export type RingPage = Uint8Array | SharedRing;

function sharedFor<Req, Rsp>(page: RingPage, opts: RingOptions<Req, Rsp>): SharedRing {
  const slot = resolveSlotSize(opts);
  if (page instanceof SharedRing) {
    if (page.slotSize !== slot) {
      throw new RingError("layout", `shared ring has ${page.slotSize}-byte slots, need ${slot}`);
    }
    return page;
  }
  return new SharedRing(page, slot);
}

function resolveSlotSize<Req, Rsp>(opts: RingOptions<Req, Rsp>): number {
  checkSize(opts.request.size, "request size");
  checkSize(opts.response.size, "response size");
  const need = Math.max(opts.request.size, opts.response.size);
  const slot = opts.slotSize ?? need;
  checkSize(slot, "slot size");
  if (slot < need) {
    throw new RingError("layout", `slot size ${slot} is smaller than a message (${need} bytes)`);
  }
  return slot;
}

/**
 * The front end (request producer, response consumer), ring.h
 * `struct *_front_ring`. Used by a guest's frontend driver.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BackRing, bytesCodec, FrontRing } from "./ring.ts";
 * const page = new Uint8Array(4096);
 * const opts = { request: bytesCodec(16), response: bytesCodec(16) };
 * const front = FrontRing.init(page, opts);
 * const back = BackRing.attach(page, opts);
 * front.pushRequest(new Uint8Array([1, 2, 3]));
 * assert.equal(front.pushRequestsAndCheckNotify(), true); // the back asked for it
 * assert.equal(back.takeRequest()?.[0], 1);
 * ```
 */
export class FrontRing<Req, Rsp> {
  /** The shared page. */
  readonly shared: SharedRing;
  #req: SlotCodec<Req>;
  #rsp: SlotCodec<Rsp>;
  #rspScratch: SlotScratch | undefined;
  #reqProdPvt: number;
  #rspCons: number;
  #rspProdSeen: number;
  #broken: RingError | undefined;

  private constructor(page: RingPage, opts: RingOptions<Req, Rsp>, start: number) {
    this.shared = sharedFor(page, opts);
    this.#req = opts.request;
    this.#rsp = opts.response;
    this.#rspScratch = slotScratch(opts.response as SlotCodec<unknown>);
    this.#reqProdPvt = start >>> 0;
    this.#rspCons = start >>> 0;
    this.#rspProdSeen = start >>> 0;
  }

  /**
   * ring.h `XEN_FRONT_RING_INIT`: initialise the shared page and attach.
   * Only the front initialises; `start` is as in {@link SharedRing.init}.
   */
  static init<Req, Rsp>(
    page: RingPage,
    opts: RingOptions<Req, Rsp>,
    start = 0,
  ): FrontRing<Req, Rsp> {
    const r = new FrontRing(page, opts, start);
    r.shared.init(start);
    return r;
  }

  /** ring.h `FRONT_RING_ATTACH`: attach to an initialised page at index `start`. */
  static attach<Req, Rsp>(
    page: RingPage,
    opts: RingOptions<Req, Rsp>,
    start = 0,
  ): FrontRing<Req, Rsp> {
    return new FrontRing(page, opts, start);
  }

  /** ring.h `RING_SIZE`. */
  get size(): number {
    return this.shared.size;
  }
  /** Private request producer (`req_prod_pvt`): requests queued, published or not. */
  get reqProdPvt(): number {
    return this.#reqProdPvt;
  }
  /** Private response consumer (`rsp_cons`). */
  get rspCons(): number {
    return this.#rspCons;
  }
  /** ring.h `RING_FREE_REQUESTS`: slots not holding an outstanding request. */
  get freeRequests(): number {
    return this.size - idxSub(this.#reqProdPvt, this.#rspCons);
  }
  /** ring.h `RING_FULL`. */
  get full(): boolean {
    return this.freeRequests === 0;
  }
  /** Requests queued with {@link pushRequest} and not yet published. */
  get unpublished(): number {
    return idxSub(this.#reqProdPvt, this.shared.reqProd);
  }

  /**
   * Queue a request in the next slot (ring.h `RING_GET_REQUEST` at
   * `req_prod_pvt`, then `req_prod_pvt++`). Invisible to the back until
   * published.
   * @throws RingError `full` if no slot is free
   */
  pushRequest(req: Req): void {
    if (this.full) {
      throw new RingError(
        "full",
        `ring full: ${this.size} requests outstanding (req_prod_pvt ${this.#reqProdPvt}, ` +
          `rsp_cons ${this.#rspCons})`,
      );
    }
    this.#req.encode(req, this.shared.slotView(this.#reqProdPvt, this.#req.size));
    this.#reqProdPvt = idxAdd(this.#reqProdPvt, 1);
  }

  /** ring.h `RING_PUSH_REQUESTS`: publish queued requests, no notify check. */
  pushRequests(): void {
    this.shared.reqProd = this.#reqProdPvt;
  }

  /**
   * ring.h `RING_PUSH_REQUESTS_AND_CHECK_NOTIFY`: publish queued requests and
   * report whether the back must be notified, i.e. whether `req_event` (the
   * index the back asked to be woken at) lies in `(old, new]`. False means the
   * back is still busy and will see the requests without an event.
   */
  pushRequestsAndCheckNotify(): boolean {
    const old = this.shared.reqProd;
    const now = this.#reqProdPvt;
    this.shared.reqProd = now;
    return idxSub(now, this.shared.reqEvent) < idxSub(now, old);
  }

  /**
   * ring.h `RING_HAS_UNCONSUMED_RESPONSES`: responses published and not yet
   * taken. Reads `rsp_prod` once and validates it: it must lie in
   * `[rsp_cons, req_prod_pvt]` (a back cannot answer requests never made;
   * ring.h `RING_RESPONSE_PROD_OVERFLOW` is the weaker `<= rsp_cons + size`).
   * @throws RingError `prod-overflow` (and the ring is broken) otherwise
   */
  unconsumedResponses(): number {
    this.#checkBroken();
    const prod = this.shared.rspProd;
    const avail = idxSub(prod, this.#rspCons);
    if (avail > idxSub(this.#reqProdPvt, this.#rspCons)) {
      this.#broken = new RingError(
        "prod-overflow",
        `backend published rsp_prod ${prod} outside [rsp_cons ${this.#rspCons}, ` +
          `req_prod_pvt ${this.#reqProdPvt}]`,
      );
      throw this.#broken;
    }
    this.#rspProdSeen = prod;
    return avail;
  }

  /**
   * Take the next response: copy its slot out (ring.h `RING_COPY_RESPONSE`),
   * decode the copy, `rsp_cons++`. Re-reads `rsp_prod` only when the last
   * validated snapshot is used up.
   * @returns undefined when no response is published
   * @throws RingError as {@link unconsumedResponses}
   */
  takeResponse(): Rsp | undefined {
    this.#checkBroken();
    if (this.#rspCons === this.#rspProdSeen && this.unconsumedResponses() === 0) return undefined;
    const copy = this.shared.copySlot(this.#rspCons, this.#rsp.size, this.#rspScratch);
    this.#rspCons = idxAdd(this.#rspCons, 1);
    return this.#rsp.decode(copy);
  }

  /**
   * ring.h `RING_FINAL_CHECK_FOR_RESPONSES`: before sleeping, ask for an
   * event at the next response (`rsp_event = rsp_cons + 1`) and check again,
   * so that a response published between the first check and the
   * `rsp_event` write is not slept through.
   * @returns true if responses are waiting (do not sleep)
   */
  finalCheckForResponses(): boolean {
    if (this.unconsumedResponses() > 0) return true;
    this.shared.rspEvent = idxAdd(this.#rspCons, 1);
    return this.unconsumedResponses() > 0;
  }

  /** The error that broke this ring, if any. */
  get error(): RingError | undefined {
    return this.#broken;
  }

  #checkBroken(): void {
    if (this.#broken) throw new RingError("broken", `ring broken: ${this.#broken.message}`);
  }
}

/**
 * The back end (request consumer, response producer), ring.h
 * `struct *_back_ring`. Used by dom0's backend driver; everything it reads
 * from the page is validated or copied first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BackRing, bytesCodec, FrontRing } from "./ring.ts";
 * const page = new Uint8Array(4096);
 * const opts = { request: bytesCodec(8), response: bytesCodec(8) };
 * const front = FrontRing.init(page, opts);
 * const back = BackRing.attach(page, opts);
 * front.pushRequest(new Uint8Array([7]));
 * front.pushRequests();
 * const req = back.takeRequest()!;
 * back.pushResponse(new Uint8Array([req[0] + 1]));
 * assert.equal(back.pushResponsesAndCheckNotify(), true);
 * assert.equal(front.takeResponse()?.[0], 8);
 * ```
 */
export class BackRing<Req, Rsp> {
  /** The shared page. */
  readonly shared: SharedRing;
  #req: SlotCodec<Req>;
  #rsp: SlotCodec<Rsp>;
  #reqScratch: SlotScratch | undefined;
  #rspProdPvt: number;
  #reqCons: number;
  #reqProdSeen: number;
  #rspPublished: number;
  #broken: RingError | undefined;

  private constructor(page: RingPage, opts: RingOptions<Req, Rsp>, start: number) {
    this.shared = sharedFor(page, opts);
    this.#req = opts.request;
    this.#rsp = opts.response;
    this.#reqScratch = slotScratch(opts.request as SlotCodec<unknown>);
    this.#rspProdPvt = start >>> 0;
    this.#reqCons = start >>> 0;
    this.#reqProdSeen = start >>> 0;
    this.#rspPublished = start >>> 0;
  }

  /**
   * ring.h `BACK_RING_ATTACH` (`BACK_RING_INIT` when `start` is 0). The back
   * never initialises the page: the front did.
   */
  static attach<Req, Rsp>(
    page: RingPage,
    opts: RingOptions<Req, Rsp>,
    start = 0,
  ): BackRing<Req, Rsp> {
    return new BackRing(page, opts, start);
  }

  /** ring.h `RING_SIZE`. */
  get size(): number {
    return this.shared.size;
  }
  /** Private request consumer (`req_cons`). */
  get reqCons(): number {
    return this.#reqCons;
  }
  /** Private response producer (`rsp_prod_pvt`). */
  get rspProdPvt(): number {
    return this.#rspProdPvt;
  }
  /** Requests taken and not yet answered. */
  get awaitingResponse(): number {
    return idxSub(this.#reqCons, this.#rspProdPvt);
  }

  /**
   * ring.h `RING_HAS_UNCONSUMED_REQUESTS`: published requests not yet
   * taken. Reads `req_prod` once and validates it before any use: it must lie
   * in `[req_cons, rsp_prod_pvt + RING_SIZE]`. Above that is ring.h
   * `RING_REQUEST_PROD_OVERFLOW` (more requests outstanding than slots);
   * below `req_cons` means the producer went backwards. Both are a hostile or
   * broken frontend.
   * @throws RingError `prod-overflow` (and the ring is broken) otherwise
   */
  unconsumedRequests(): number {
    this.#checkBroken();
    const prod = this.shared.reqProd;
    const avail = idxSub(prod, this.#reqCons);
    if (avail > this.size - this.awaitingResponse) {
      this.#broken = new RingError(
        "prod-overflow",
        `frontend published req_prod ${prod} outside [req_cons ${this.#reqCons}, ` +
          `rsp_prod_pvt ${this.#rspProdPvt} + RING_SIZE ${this.size}]`,
      );
      throw this.#broken;
    }
    this.#reqProdSeen = prod;
    return avail;
  }

  /**
   * Take the next request: copy its slot out (ring.h `RING_COPY_REQUEST`),
   * decode the private copy, `req_cons++`. Re-reads `req_prod` only when the
   * last validated snapshot is used up.
   * @returns undefined when no request is published
   * @throws RingError as {@link unconsumedRequests}
   */
  takeRequest(): Req | undefined {
    this.#checkBroken();
    if (this.#reqCons === this.#reqProdSeen && this.unconsumedRequests() === 0) return undefined;
    const copy = this.shared.copySlot(this.#reqCons, this.#req.size, this.#reqScratch);
    this.#reqCons = idxAdd(this.#reqCons, 1);
    return this.#req.decode(copy);
  }

  /**
   * Queue a response in the next slot (ring.h `RING_GET_RESPONSE` at
   * `rsp_prod_pvt`, then `rsp_prod_pvt++`). Responses reuse the slots of
   * requests already taken, so there must be one awaiting its response.
   * @throws RingError `no-request` otherwise
   */
  pushResponse(rsp: Rsp): void {
    this.#checkBroken();
    if (this.awaitingResponse === 0) {
      throw new RingError(
        "no-request",
        `no taken request awaits a response (req_cons ${this.#reqCons}, ` +
          `rsp_prod_pvt ${this.#rspProdPvt})`,
      );
    }
    this.#rsp.encode(rsp, this.shared.slotView(this.#rspProdPvt, this.#rsp.size));
    this.#rspProdPvt = idxAdd(this.#rspProdPvt, 1);
  }

  /** ring.h `RING_PUSH_RESPONSES`: publish queued responses, no notify check. */
  pushResponses(): void {
    this.#checkBroken();
    this.shared.rspProd = this.#rspProdPvt;
    this.#rspPublished = this.#rspProdPvt;
  }

  /**
   * ring.h `RING_PUSH_RESPONSES_AND_CHECK_NOTIFY`: publish queued responses
   * and report whether `rsp_event` lies in `(old, new]`. `old` is this end's
   * own last published value, not re-read from the page: `rsp_prod` is ours,
   * and a frontend scribbling on it must not change our decision.
   */
  pushResponsesAndCheckNotify(): boolean {
    this.#checkBroken();
    const old = this.#rspPublished;
    const now = this.#rspProdPvt;
    this.shared.rspProd = now;
    this.#rspPublished = now;
    return idxSub(now, this.shared.rspEvent) < idxSub(now, old);
  }

  /**
   * ring.h `RING_FINAL_CHECK_FOR_REQUESTS`: before sleeping, ask for an event
   * at the next request (`req_event = req_cons + 1`) and check again, so a
   * request published in between is not slept through.
   * @returns true if requests are waiting (do not sleep)
   */
  finalCheckForRequests(): boolean {
    if (this.unconsumedRequests() > 0) return true;
    this.shared.reqEvent = idxAdd(this.#reqCons, 1);
    return this.unconsumedRequests() > 0;
  }

  /** The error that broke this ring, if any. */
  get error(): RingError | undefined {
    return this.#broken;
  }

  #checkBroken(): void {
    if (this.#broken) throw new RingError("broken", `ring broken: ${this.#broken.message}`);
  }
}
