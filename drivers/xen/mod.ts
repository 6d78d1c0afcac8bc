/**
 * Xen split-driver plumbing: the shared I/O ring (`io/ring.h` layout and
 * notification rules) and the xenbus connection state machine over xenstore.
 *
 * @example
 * ```ts
 * import { bytesCodec, FrontRing } from "./mod.ts";
 * const front = FrontRing.init(new Uint8Array(4096), {
 *   request: bytesCodec(64),
 *   response: bytesCodec(64),
 * });
 * console.log(front.size); // 32
 * ```
 *
 * @module
 */
export * from "./ring.ts";
export * from "./xenbus.ts";
