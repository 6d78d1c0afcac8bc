/**
 * Deep freezing of the built-in profiles: they are shared by every cluster of the process, so
 * one program changing `cluster.profile.cpu.wakeupNs` must not change the costs of another's
 * (nor of the next cluster it makes). A program that wants other values derives its own
 * profile (`resolveProfile({ base, … })`, a copy).
 *
 * @module
 */

/**
 * Freeze `o` and every object and array reachable from it; returns `o`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deepFreeze } from "./freeze.ts";
 * const p = deepFreeze({ cpu: { wakeupNs: 3000 }, list: [{ a: 1 }] });
 * assert.ok(Object.isFrozen(p.cpu) && Object.isFrozen(p.list[0]));
 * assert.throws(() => {
 *   (p.cpu as { wakeupNs: number }).wakeupNs = 1;
 * }, TypeError);
 * assert.equal(p.cpu.wakeupNs, 3000);
 * ```
 */
export function deepFreeze<T>(o: T): T {
  if (typeof o === "object" && o !== null && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
