/**
 * Xen hosts for the verbs library: importing this module registers the
 * "xen" host platform (`cluster.addHost({ hypervisor: true })`), with dom0,
 * the vib backend and guests whose frontends forward control operations
 * (bypass mode) or their whole datapath (split mode) to dom0.
 *
 * @example
 * ```ts
 * import { Cluster } from "../verbs/cluster.ts";
 * import "./mod.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * await cluster.start();
 * const vm = await xen.createGuest({ name: "vm0", memoryMiB: 64, driver: "bypass" });
 * console.log(vm.devices()); // ["mthca0"]
 * ```
 *
 * @module
 */
export { XenPlatform, xenPlatform } from "./platform.ts";
export { XenGuest } from "./guest.ts";
export { EventDispatcher } from "./evtchn.ts";
export { Dom0Heap } from "./dom0_heap.ts";
export { VibFront } from "../front/vibfront.ts";
export { VibFrontFile } from "../front/file.ts";
export { VibBack } from "../back/vibback.ts";
export { VibBackDriver } from "../back/watcher.ts";
