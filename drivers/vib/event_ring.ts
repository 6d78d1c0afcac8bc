/**
 * The vib event ring: a page the frontend grants and dom0's backend
 * writes completion and asynchronous events into, for the frontend to
 * read on its event channel (the request ring cannot carry them: in
 * `io/ring.h` a response only ever fills the slot of a request).
 *
 * | offset | field |
 * | --- | --- |
 * | 0 | `u32 prod` — written by the backend |
 * | 4 | `u32 cons` — written by the frontend |
 * | 8 | `u32 lost` — events the backend dropped because the ring was full |
 * | 12 | `__pad[52]` |
 * | 64 | `struct vib_event ring[128]`, 16 bytes each |
 *
 * `struct vib_event`: `u16 ctx`, `u8 kind` ({@link VibEventKind}), `u8 obj`
 * (what `handle` names: {@link VibEventObj}), `u32 type` (`EventType`, 0
 * for a completion), `u32 handle` (CQ/QP/SRQ handle or port number),
 * `u32 reserved`.
 *
 * Each side reads the other's index once per pass into a private copy and
 * checks it before use; the backend treats a `cons` outside `[prod - 128,
 * prod]` as a hostile frontend (the caller disconnects it), the frontend
 * treats a `prod` more than 128 ahead of its `cons` as a broken backend.
 *
 * @module
 */

/**
 * Bytes before the first event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EVENT_BYTES, EVENT_RING_HEADER, EVENT_RING_SIZE } from "./event_ring.ts";
 * assert.ok(EVENT_RING_HEADER + EVENT_RING_SIZE * EVENT_BYTES <= 4096); // the ring fits one page
 * ```
 */
export const EVENT_RING_HEADER = 64;
/**
 * Bytes of one event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EVENT_BYTES, EVENT_RING_HEADER, EVENT_RING_SIZE } from "./event_ring.ts";
 * assert.ok(EVENT_RING_HEADER + EVENT_RING_SIZE * EVENT_BYTES <= 4096);
 * ```
 */
export const EVENT_BYTES = 16;
/**
 * Events in the ring (a power of two that fits the page).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EVENT_BYTES, EVENT_RING_HEADER, EVENT_RING_SIZE } from "./event_ring.ts";
 * assert.ok(EVENT_RING_HEADER + EVENT_RING_SIZE * EVENT_BYTES <= 4096);
 * ```
 */
export const EVENT_RING_SIZE = 128;

/**
 * Kinds of event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VibEventKind } from "./event_ring.ts";
 * assert.equal(VibEventKind.COMP, 1);
 * ```
 */
export const VibEventKind = { COMP: 1, ASYNC: 2 } as const;

/**
 * What an event's `handle` names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { VibEventObj } from "./event_ring.ts";
 * assert.equal(VibEventObj.PORT, 4);
 * ```
 */
export const VibEventObj = { NONE: 0, QP: 1, CQ: 2, SRQ: 3, PORT: 4 } as const;

/**
 * One event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventRingConsumer, EventRingProducer, type VibEvent, VibEventKind, VibEventObj } from "./event_ring.ts";
 * const cqEvent: VibEvent = { ctx: 1, kind: VibEventKind.COMP, obj: VibEventObj.CQ, type: 0, handle: 3 };
 * const page = new Uint8Array(4096);
 * const front = new EventRingConsumer(page);
 * front.init();
 * new EventRingProducer(page).push(cqEvent);
 * assert.deepEqual(front.take(), [cqEvent]);
 * ```
 */
export interface VibEvent {
  ctx: number;
  kind: number;
  obj: number;
  type: number;
  handle: number;
}

const OFF_PROD = 0, OFF_CONS = 4, OFF_LOST = 8;

function dv(page: Uint8Array): DataView {
  return new DataView(page.buffer, page.byteOffset, page.byteLength);
}

/**
 * The backend's end: appends events.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventRingConsumer, EventRingProducer } from "./event_ring.ts";
 * const page = new Uint8Array(4096);
 * const back = new EventRingProducer(page), front = new EventRingConsumer(page);
 * back.push({ ctx: 1, kind: 1, obj: 2, type: 0, handle: 7 });
 * assert.deepEqual(front.take().map((e) => e.handle), [7]);
 * ```
 */
export class EventRingProducer {
  #dv: DataView;
  #prod = 0;
  #lost = 0;

  /** @param page the shared page (as mapped in dom0) */
  constructor(page: Uint8Array) {
    this.#dv = dv(page);
  }

  /** Events dropped so far. */
  get lost(): number {
    return this.#lost;
  }

  /** Count an event dropped before it reached the ring (dom0's queue was full). */
  markLost(): void {
    this.#dv.setUint32(OFF_LOST, ++this.#lost, true);
  }

  /**
   * Append an event. Returns false if the ring is full (the event is
   * counted as lost). Throws if the frontend's `cons` is impossible.
   */
  push(e: VibEvent): boolean {
    const cons = this.#dv.getUint32(OFF_CONS, true);
    const used = (this.#prod - cons) >>> 0;
    if (used > EVENT_RING_SIZE) {
      throw new Error(
        `event ring: frontend cons ${cons} outside [prod - ${EVENT_RING_SIZE}, prod ${this.#prod}]`,
      );
    }
    if (used === EVENT_RING_SIZE) {
      this.#dv.setUint32(OFF_LOST, ++this.#lost, true);
      return false;
    }
    const off = EVENT_RING_HEADER + (this.#prod & (EVENT_RING_SIZE - 1)) * EVENT_BYTES;
    this.#dv.setUint16(off, e.ctx, true);
    this.#dv.setUint8(off + 2, e.kind);
    this.#dv.setUint8(off + 3, e.obj);
    this.#dv.setUint32(off + 4, e.type >>> 0, true);
    this.#dv.setUint32(off + 8, e.handle >>> 0, true);
    this.#dv.setUint32(off + 12, 0, true);
    // The entry is complete before the index that publishes it.
    this.#prod = (this.#prod + 1) >>> 0;
    this.#dv.setUint32(OFF_PROD, this.#prod, true);
    return true;
  }
}

/**
 * The frontend's end: takes what the backend published.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventRingConsumer } from "./event_ring.ts";
 * const page = new Uint8Array(4096);
 * const front = new EventRingConsumer(page);
 * front.init();
 * assert.deepEqual(front.take(), []); // nothing published yet
 * assert.equal(front.lost, 0);
 * ```
 */
export class EventRingConsumer {
  #dv: DataView;
  #cons = 0;

  /** @param page the shared page (the frontend's own memory) */
  constructor(page: Uint8Array) {
    this.#dv = dv(page);
  }

  /** Zero the indices (the frontend owns the page and sets it up before granting it). */
  init(): void {
    for (let o = 0; o < EVENT_RING_HEADER; o += 4) this.#dv.setUint32(o, 0, true);
    this.#cons = 0;
  }

  /** Events dropped by the backend because the ring was full. */
  get lost(): number {
    return this.#dv.getUint32(OFF_LOST, true);
  }

  /** Copy out every published event and release their slots. */
  take(): VibEvent[] {
    const prod = this.#dv.getUint32(OFF_PROD, true);
    let n = (prod - this.#cons) >>> 0;
    // A backend can only be that far ahead if it is broken: take one ring's worth.
    if (n > EVENT_RING_SIZE) n = EVENT_RING_SIZE;
    const out: VibEvent[] = [];
    for (let i = 0; i < n; i++) {
      const off = EVENT_RING_HEADER + ((this.#cons + i) & (EVENT_RING_SIZE - 1)) * EVENT_BYTES;
      out.push({
        ctx: this.#dv.getUint16(off, true),
        kind: this.#dv.getUint8(off + 2),
        obj: this.#dv.getUint8(off + 3),
        type: this.#dv.getUint32(off + 4, true),
        handle: this.#dv.getUint32(off + 8, true),
      });
    }
    this.#cons = (this.#cons + n) >>> 0;
    this.#dv.setUint32(OFF_CONS, this.#cons, true);
    return out;
  }
}
