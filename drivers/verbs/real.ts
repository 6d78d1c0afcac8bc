/**
 * Verbs on real RDMA hardware through libibverbs (Deno FFI): the API of
 * API.md, implemented by `RealContext`, `RealPd`, `RealMr`, `RealCq`,
 * `RealCompChannel`, `RealQp`, `RealSrq` and `RealAh` (async events:
 * `RealContext.getAsyncEvent` → {@link RealAsyncEvent}). Addresses (SGEs,
 * MRs, `remoteAddr`) are process addresses from a {@link RealMemory}, the
 * counterpart of `dom.memory`. Without libibverbs or a device every entry
 * point rejects with `VerbsError` ENODEV saying which and how to fix it;
 * the built-in device model remains the default and needs none of this.
 * Importing this module loads nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RealHost } from "./real.ts";
 * // The shape of a simulated domain: memory from `host.memory`, a device from `host.openDevice()`.
 * const host = new RealHost({ memoryBytes: 1 << 20, library: "/nonexistent/libibverbs.so.1" });
 * const buf = host.memory.alloc(4096, 4096); // registrable process memory (needs --allow-ffi)
 * host.memory.write(buf, new TextEncoder().encode("ping"));
 * assert.equal(new TextDecoder().decode(host.memory.read(buf, 4)), "ping");
 * // Without libibverbs (here: a path that does not exist) or without a device, opening
 * // rejects with ENODEV and a message that says how to fix it.
 * await assert.rejects(host.openDevice(), { code: "ENODEV", message: /install libibverbs1/ });
 * ```
 *
 * @module
 */
export { RealContext } from "./real/context.ts";
export { RealCompChannel, RealCq, type RealCqOptions } from "./real/cq.ts";
export { RealAh, RealMr, RealPd } from "./real/pd.ts";
export { RealQp, type RealQpInit, RealSrq } from "./real/qp.ts";
export { RealMemory } from "./real/memory.ts";
export { RealHost, type RealHostOptions } from "./real/host.ts";
export { listRealDevices, openRealDevice, type RealOpenOptions } from "./real/open.ts";
export { type RealAsyncEvent } from "./real/async_events.ts";
