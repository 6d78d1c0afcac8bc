/**
 * xenib: VMM-bypass I/O for virtual machines (Liu, Huang, Abali, Panda,
 * USENIX ATC 2006) as an executable system in virtual time. This module only
 * re-exports; see README.md and the `shared` API contract.
 *
 * @example
 * ```ts
 * import { Engine } from "./mod.ts";
 * const engine = new Engine();
 * console.log(await engine.run(async () => 42)); // 42
 * ```
 *
 * @module
 */
export * from "./sim/mod.ts";
export * from "./drivers/verbs/enums.ts";
export * from "./drivers/verbs/errors.ts";
