/**
 * The HCA device model: command interface, UAR doorbells, MPT/MTT, queue
 * contexts, WQE/CQE/EQE formats, the RC/UC/UD transport, and the fabric
 * (ports, links, switch, subnet manager, packet capture). Re-exports only.
 *
 * @module
 */
export * from "./device.ts";
export * from "./commands.ts";
export * from "./command_interface.ts";
export * from "./uar.ts";
export * from "./wqe.ts";
export * from "./cqe.ts";
export * from "./eqe.ts";
export * from "./opcode.ts";
export * from "./packet.ts";
export * from "./crc.ts";
export * from "./pcap.ts";
export * from "./fabric.ts";
export * from "./port.ts";
export * from "./link.ts";
export * from "./switch.ts";
export * from "./subnet_manager.ts";
export * from "./pkey.ts";
export * from "./rate.ts";
