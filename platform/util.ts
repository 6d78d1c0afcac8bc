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
 * // Two at once from outside: the engine runs one root at a time; the second is refused.
 * const [first, second] = await Promise.allSettled([at(), at()]);
 * assert.equal(first.status, "fulfilled");
 * assert.match(String((second as PromiseRejectedResult).reason), /EINVAL: t: the cluster is busy in virtual time with 't'/);
 * ```
 */
export async function inEngine<T>(engine: Engine, name: string, fn: () => Promise<T>): Promise<T> {
  if (engine.current()) return await fn();
  // The engine runs one root at a time: a second call from outside any process while one of
  // these runs (two createGuest in a Promise.all at top level) would be the engine's own
  // "nested run" Error. Refuse it in one line saying what to do instead.
  const busy = running.get(engine);
  if (busy !== undefined) {
    throw new VerbsError(
      "EINVAL",
      `${name}: the cluster is busy in virtual time with '${busy}', started outside ` +
        "cluster.run and not finished: await it first, or make both calls inside cluster.run",
    );
  }
  running.set(engine, name);
  try {
    return await engine.run(fn, name);
  } finally {
    running.delete(engine);
  }
}

/** The run each engine is busy with, started by {@link inEngine} from outside any process. */
const running = new WeakMap<Engine, string>();

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
