/**
 * Verbs on real RDMA hardware through libibverbs (Deno FFI): the API of
 * API.md, implemented by `RealContext`, `RealPd`, `RealMr`, `RealCq`,
 * `RealCompChannel`, `RealQp`, `RealSrq` and `RealAh`. Addresses (SGEs,
 * MRs, `remoteAddr`) are process addresses from a {@link RealMemory}, the
 * counterpart of `dom.memory`. Without libibverbs or a device every entry
 * point rejects with `VerbsError` ENODEV saying which and how to fix it;
 * the built-in device model remains the default and needs none of this.
 * Importing this module loads nothing.
 *
 * @example
 * ```ts
 * import { Access, QpType } from "./enums.ts";
 * import { openRealDevice, RealMemory } from "./real.ts";
 * import { VerbsError } from "./errors.ts";
 * try {
 *   const ctx = await openRealDevice(); // rejects with ENODEV on a machine without RDMA
 *   const mem = new RealMemory(1 << 20);
 *   const pd = await ctx.allocPd();
 *   const buf = mem.alloc(4096, 4096);
 *   const mr = await pd.regMr(buf, 4096, Access.LOCAL_WRITE);
 *   const cq = await ctx.createCq(64);
 *   const qp = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq,
 *     cap: { maxSendWr: 16, maxRecvWr: 16, maxSendSge: 1, maxRecvSge: 1 } });
 *   qp.postRecv({ wrId: 1n, sgList: [{ addr: buf, length: 4096, lkey: mr.lkey }] });
 *   await ctx.close(); // destroys qp, cq, mr, pd
 * } catch (e) {
 *   if (!(e instanceof VerbsError && ["ENODEV", "EPERM"].includes(e.code))) throw e;
 *   console.log(e.message); // says what is missing and how to fix it
 * }
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
