/**
 * xenib: VMM-bypass I/O for virtual machines (Liu, Huang, Abali, Panda,
 * USENIX ATC 2006) as an executable system in virtual time. This module only
 * re-exports: the verbs API and clusters (`drivers/verbs`), the simulated
 * platform (`sim`), the hypervisor (`hypervisor`, as `Xen*`-free names plus
 * its `Domain` as `XenDomain`), the HCA model (`hca`), and the real-hardware
 * provider (`openRealDevice`), and the MPI library as the namespace `mpi`
 * (`mpi/`, see docs/mpi.md).
 *
 * @example
 * ```ts
 * import { Cluster } from "./mod.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * cluster.addHost({ name: "a", hypervisor: false });
 * await cluster.start();
 * console.log(cluster.now > 0);
 * ```
 *
 * @module
 */
export * from "./sim/mod.ts";
export * from "./drivers/verbs/mod.ts";
export * from "./drivers/verbs/real.ts";
export * from "./hca/mod.ts";
export * from "./hypervisor/mod.ts";
export { Domain } from "./drivers/verbs/mod.ts";
export { Domain as XenDomain } from "./hypervisor/mod.ts";
export * from "./drivers/xen/mod.ts";
export * from "./hca/capture.ts";
export * from "./hca/rocev2.ts";
export * as mpi from "./mpi/mod.ts";
