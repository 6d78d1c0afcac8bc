/**
 * The Xen hypervisor model: domains, hypercalls and privilege, grant
 * tables, event channels, xenstore, I/O-page mapping, physical-IRQ routing,
 * dom0's VCPUs.
 * Re-exports only.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
 * import { Hypervisor } from "./mod.ts";
 * const engine = new Engine();
 * const hv = new Hypervisor(engine, new MachineMemory(256 << 20), PCIX_SDR_2006, new Prng(1));
 * assert.equal(hv.stats().domains, 1); // dom0 exists from boot
 * const vm = await engine.run(() =>
 *   hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 })
 * );
 * assert.deepEqual(hv.domains().map((d) => d.name), ["Domain-0", "vm"]);
 * assert.equal(hv.xenstore.read(0, `/local/domain/${vm.domid}/name`), "vm");
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./args.ts";
export * from "./domain.ts";
export * from "./event_channel.ts";
export * from "./grant_table.ts";
export * from "./io_page.ts";
export * from "./xenstore.ts";
export * from "./hypervisor.ts";
export * from "./log_dirty.ts";
export * from "./vcpus.ts";
