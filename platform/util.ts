/**
 * Small helpers of the Xen platform code.
 *
 * @module
 */
import { XenError } from "../hypervisor/errors.ts";
import type { Engine } from "../sim/engine.ts";
import { Errno, type ErrnoCode, VerbsError } from "../drivers/uapi/errors.ts";

/**
 * Run `fn` in virtual time: directly when called from a process (inside
 * `cluster.run`), else as an engine run of its own — so that toolstack
 * calls like `createGuest` work both at top level and inside a program.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { inEngine } from "./util.ts";
 * const engine = new Engine();
 * const at = () => inEngine(engine, "t", async () => {
 *   await engine.sleep(5);
 *   return engine.now;
 * });
 * assert.equal(await at(), 5); // outside the engine: runs it
 * assert.equal(await engine.run(at), 10); // inside: just calls
 * ```
 */
export async function inEngine<T>(engine: Engine, name: string, fn: () => Promise<T>): Promise<T> {
  return engine.current() ? await fn() : await engine.run(fn, name);
}

/**
 * A hypervisor refusal as the verbs API reports errors (same errno).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { XenError } from "../hypervisor/errors.ts";
 * import { VerbsError } from "../drivers/uapi/errors.ts";
 * import { asVerbsError } from "./util.ts";
 * const e = asVerbsError(new XenError("EPERM", "no"), "map");
 * assert.ok(e instanceof VerbsError);
 * assert.equal(e.code, "EPERM");
 * assert.equal(e.message, "EPERM: map: no"); // the code once, then what was refused
 * const other = new TypeError("bug");
 * assert.equal(asVerbsError(other, "map"), other); // not a hypercall's error: unchanged
 * ```
 */
export function asVerbsError(e: unknown, what: string): unknown {
  if (e instanceof XenError) {
    const code = (e.code in Errno ? e.code : "EIO") as ErrnoCode;
    // The message once, without the XenError's own code in front of it.
    const why = e.message.startsWith(`${e.code}: `)
      ? e.message.slice(e.code.length + 2)
      : e.message;
    return new VerbsError(code, `${what}: ${why}`);
  }
  return e;
}

/**
 * The name of a Xen domain's kernel among its host's noise streams
 * (`sim/noise.ts`): "dom0", or "guest/NAME" (one stream per guest name).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { xenKernelName } from "./util.ts";
 * const hv = { domain: (id: number) => id === 3 ? { name: "vm0" } : undefined };
 * assert.equal(xenKernelName(hv, 0), "dom0");
 * assert.equal(xenKernelName(hv, 3), "guest/vm0");
 * ```
 */
export function xenKernelName(
  hv: { domain(domid: number): { name: string } | undefined },
  domid: number,
): string {
  return domid === 0 ? "dom0" : `guest/${hv.domain(domid)?.name ?? `domid${domid}`}`;
}
