/**
 * Event queue entry format (FORMATS.md §8): 32 bytes, event type, the object
 * it concerns, and an owner bit with the same pass rule as CQEs. The device
 * writes EQEs by DMA into the EQ buffer; the kernel driver reads them in its
 * interrupt handler.
 *
 * @module
 */

import { ownerBitFor } from "./cqe.ts";

/**
 * Bytes of an EQE.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EQE_BYTES } from "./eqe.ts";
 * assert.equal(EQE_BYTES << 8, 8192); // an EQ of 256 entries
 * ```
 */
export const EQE_BYTES = 32;

/**
 * PORT_CHANGE subtypes (byte 3).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PortChangeSubtype } from "./eqe.ts";
 * import type { Eqe } from "./eqe.ts";
 * const portUp = (e: Eqe) => e.type === 0x09 && e.subtype === PortChangeSubtype.ACTIVE;
 * assert.equal(portUp({ type: 0x09, subtype: 4, index: 1, cause: 0 }), true);
 * ```
 */
export const PortChangeSubtype = { DOWN: 1, ACTIVE: 4 } as const;

/**
 * CQ_ERROR causes (byte 8).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CqErrorCause, decodeEqe, encodeEqe } from "./eqe.ts";
 * const b = new Uint8Array(32);
 * encodeEqe({ type: 0x04, subtype: 0, index: 3, cause: CqErrorCause.OVERRUN }, 0, 4, b);
 * assert.equal(decodeEqe(b).cause, CqErrorCause.OVERRUN);
 * ```
 */
export const CqErrorCause = { OVERRUN: 1, ACCESS: 2 } as const;

/**
 * Fields of an EQE.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Eqe } from "./eqe.ts";
 * const describe = (e: Eqe) => e.type === 0 ? `completion on CQ ${e.index}` : `event ${e.type}`;
 * assert.equal(describe({ type: 0, subtype: 0, index: 5, cause: 0 }), "completion on CQ 5");
 * ```
 */
export interface Eqe {
  /** `EqeType` value (commands.ts). */
  type: number;
  /** Event subtype. */
  subtype: number;
  /** CQN, QPN, SRQN or port, by type. */
  index: number;
  /** CQ_ERROR cause. */
  cause: number;
}

/**
 * Encode an EQE with the owner bit for producer index `pi`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeEqe, decodeEqe, eqeReady } from "./eqe.ts";
 * const b = new Uint8Array(32);
 * encodeEqe({ type: 0, subtype: 0, index: 9, cause: 0 }, 0, 3, b);
 * assert.deepEqual([eqeReady(b, 0, 0, 3), decodeEqe(b).index], [true, 9]);
 * ```
 */
export function encodeEqe(e: Eqe, pi: number, logSize: number, out: Uint8Array, off = 0): void {
  out.fill(0, off, off + EQE_BYTES);
  const dv = new DataView(out.buffer, out.byteOffset + off, EQE_BYTES);
  dv.setUint8(1, e.type);
  dv.setUint8(3, e.subtype);
  dv.setUint32(4, e.index & 0xffffff);
  dv.setUint8(8, e.cause);
  dv.setUint8(31, ownerBitFor(pi, logSize) << 7);
}

/**
 * Decode an EQE (check {@link eqeReady} first).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeEqe } from "./eqe.ts";
 * assert.equal(decodeEqe(new Uint8Array(32)).type, 0);
 * ```
 */
export function decodeEqe(b: Uint8Array, off = 0): Eqe {
  const dv = new DataView(b.buffer, b.byteOffset + off, EQE_BYTES);
  return {
    type: dv.getUint8(1),
    subtype: dv.getUint8(3),
    index: dv.getUint32(4) & 0xffffff,
    cause: dv.getUint8(8),
  };
}

/**
 * True if the EQE at `b[off..]` belongs to software at consumer index `ci`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eqeReady } from "./eqe.ts";
 * assert.equal(eqeReady(new Uint8Array(32), 0, 0, 3), false);
 * ```
 */
export function eqeReady(b: Uint8Array, off: number, ci: number, logSize: number): boolean {
  return (b[off + 31] >>> 7) === ownerBitFor(ci, logSize);
}
