/**
 * Xen split-driver plumbing: the shared I/O ring (`io/ring.h` layout and
 * notification rules) and the xenbus connection state machine over xenstore.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bytesCodec, FrontRing } from "./mod.ts";
 * const front = FrontRing.init(new Uint8Array(4096), {
 *   request: bytesCodec(64),
 *   response: bytesCodec(64),
 * });
 * assert.equal(front.size, 32); // 64-byte slots in one page, rounded down to a power of two
 * ```
 *
 * @module
 */
export * from "./ring.ts";
export * from "./xenbus.ts";
