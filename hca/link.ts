/**
 * Physical links: width × lane rate × encoding gives the payload rate a
 * packet is serialized at; propagation is the cable's one-way delay.
 *
 * @module
 */

import { IBA_MTUS, type Profile } from "../sim/profiles/schema.ts";
import type { Port } from "./port.ts";

/** The IBA MTUs (IBTA vol 1 §7.7.8), the profile schema's table. */
export { IBA_MTUS };

/**
 * What a link is built from (IBTA vol. 2 ch. 5–6: width, speed, encoding).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LinkParams, serializationNs } from "./link.ts";
 * const fdr: LinkParams = {
 *   width: 4, laneSignalBytesPerSec: 14.0625e9 / 8, encodingEfficiency: 64 / 66, mtu: 4096, propagationNs: 10,
 * };
 * assert.equal(serializationNs(4096 + 26, fdr).toFixed(1), "604.6");
 * ```
 */
export interface LinkParams {
  /** Lanes (1, 4, 8, 12). */
  width: number;
  /** Signalling rate per lane in bytes/s before encoding. */
  laneSignalBytesPerSec: number;
  /** Payload bits per signalled bit (8b/10b = 0.8). */
  encodingEfficiency: number;
  /** Largest payload per packet the link carries (256..4096). */
  mtu: number;
  /** One-way cable delay in ns. */
  propagationNs: number;
}

/** Smallest and largest MTU code (IBTA vol 1 §7.7.8). */
export const MTU_CODE_MIN = 1;
/** Largest MTU code: 4096 bytes. */
export const MTU_CODE_MAX = IBA_MTUS.length;

/**
 * Bytes of MTU code `code` (1..5), or 0 for anything else (PortInfo's "no
 * MTU yet" value 0 included).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ibaMtuBytes } from "./link.ts";
 * assert.equal(ibaMtuBytes(4), 2048);
 * assert.equal(ibaMtuBytes(0), 0);
 * ```
 */
export function ibaMtuBytes(code: number): number {
  return Number.isInteger(code) && code >= MTU_CODE_MIN && code <= MTU_CODE_MAX
    ? IBA_MTUS[code - MTU_CODE_MIN]
    : 0;
}

/**
 * The MTU code of `bytes` (one of {@link IBA_MTUS}), or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ibaMtuCode } from "./link.ts";
 * assert.equal(ibaMtuCode(2048), 4);
 * assert.equal(ibaMtuCode(3000), undefined);
 * ```
 */
export function ibaMtuCode(bytes: number): number | undefined {
  const i = IBA_MTUS.indexOf(bytes);
  return i < 0 ? undefined : i + MTU_CODE_MIN;
}

/**
 * Link parameters of a cost profile.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linkParamsFromProfile } from "./link.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * assert.equal(linkParamsFromProfile(PCIX_SDR_2006).mtu, 2048);
 * ```
 */
export function linkParamsFromProfile(p: Profile): LinkParams {
  const l = p.link;
  return {
    width: l.width,
    laneSignalBytesPerSec: l.laneSignalBytesPerSec,
    encodingEfficiency: l.encodingEfficiency,
    mtu: l.mtu,
    propagationNs: l.propagationNs,
  };
}

/**
 * Payload bytes per second a link carries (the same formula as
 * `linkBytesPerSec` of a profile).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linkPayloadBytesPerSec } from "./link.ts";
 * // 4x SDR: 4 × 2.5 Gb/s × 8b/10b = 1 GB/s.
 * assert.equal(linkPayloadBytesPerSec({ width: 4, laneSignalBytesPerSec: 2.5e9 / 8, encodingEfficiency: 0.8, mtu: 2048, propagationNs: 10 }), 1000000000);
 * ```
 */
export function linkPayloadBytesPerSec(p: LinkParams): number {
  return p.width * p.laneSignalBytesPerSec * p.encodingEfficiency;
}

/**
 * Time in ns for `bytes` wire bytes to leave a transmitter (first bit out
 * to last bit out). Only packet bytes (LRH through VCRC) are counted: start
 * and end delimiters and idles between packets are not modelled.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serializationNs } from "./link.ts";
 * assert.equal(serializationNs(30, { width: 4, laneSignalBytesPerSec: 2.5e9 / 8, encodingEfficiency: 0.8, mtu: 2048, propagationNs: 10 }), 30);
 * ```
 */
export function serializationNs(bytes: number, p: LinkParams): number {
  return (bytes * 1e9) / linkPayloadBytesPerSec(p);
}

/**
 * Check a link's parameters; the message names the bad key.
 * @throws RangeError on a width, rate, encoding, MTU or delay IBA does not have
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateLinkParams } from "./link.ts";
 * try {
 *   validateLinkParams({ width: 3, laneSignalBytesPerSec: 1e9, encodingEfficiency: 0.8, mtu: 2048, propagationNs: 5 });
 * } catch (e) {
 *   assert.equal((e as Error).message.startsWith("link width 3"), true);
 * }
 * ```
 */
export function validateLinkParams(p: LinkParams): void {
  if (![1, 2, 4, 8, 12].includes(p.width)) {
    throw new RangeError(`link width ${p.width}: IBA links are 1x, 2x, 4x, 8x or 12x`);
  }
  if (!(p.laneSignalBytesPerSec > 0)) {
    throw new RangeError(`link laneSignalBytesPerSec ${p.laneSignalBytesPerSec} must be > 0`);
  }
  if (!(p.encodingEfficiency > 0 && p.encodingEfficiency <= 1)) {
    throw new RangeError(`link encodingEfficiency ${p.encodingEfficiency} must be in (0, 1]`);
  }
  if (!IBA_MTUS.includes(p.mtu)) {
    throw new RangeError(`link mtu ${p.mtu}: IBA MTUs are ${IBA_MTUS.join(", ")} (IBTA §7.7.8)`);
  }
  if (!(p.propagationNs >= 0)) {
    throw new RangeError(`link propagationNs ${p.propagationNs} must be >= 0`);
  }
}

/**
 * A full-duplex cable between two ports. Each direction is independent:
 * its own transmitter (busy until the last bit leaves) and its own credits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { Fabric } from "./fabric.ts";
 * const fabric = new Fabric(new Engine(), { profile: PCIX_SDR_2006 });
 * const a = fabric.addHca("a", { receive() {} });
 * const b = fabric.addHca("b", { receive() {} });
 * const link = fabric.connect(a.port(1), b.port(1), { mtu: 1024 });
 * assert.equal(link.peer(a.port(1)), b.port(1));
 * assert.equal(link.params.mtu, 1024);
 * ```
 */
export class Link {
  /** ns per wire byte. */
  readonly nsPerByte: number;
  /** Payload bytes per second. */
  readonly bytesPerSec: number;

  /**
   * A cable between two ports (built by `Fabric.connect`).
   *
   * @param name `"<node>/<port>--<node>/<port>"`
   * @param a one end
   * @param b the other end
   * @param params width, rate, encoding, MTU, propagation
   */
  constructor(
    readonly name: string,
    readonly a: Port,
    readonly b: Port,
    readonly params: Readonly<LinkParams>,
  ) {
    this.bytesPerSec = linkPayloadBytesPerSec(params);
    this.nsPerByte = 1e9 / this.bytesPerSec;
  }

  /** The port at the other end from `p`. */
  peer(p: Port): Port {
    return p === this.a ? this.b : this.a;
  }
}
