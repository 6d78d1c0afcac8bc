/**
 * The simulated platform: engine, PRNG, machine memory, interrupts, profiles.
 *
 * @module
 */
export * from "./engine.ts";
export * from "./prng.ts";
export * from "./noise.ts";
export * from "./memory.ts";
export * from "./irq.ts";
export * from "./profiles/mod.ts";
export * from "./address_space.ts";
export * from "./frame_audit.ts";
export * from "./errno.ts";
export * from "./queue.ts";
export * from "./line.ts";
