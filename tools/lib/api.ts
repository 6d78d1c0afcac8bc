/**
 * The part of xenib's public API (API.md, `mod.ts`) the tools program
 * against, and the CLI-facing wrappers around it: errors the user must act
 * on become {@link ToolError}s with one-line messages. The tools never
 * reach into internals: everything goes through `mod.ts`.
 *
 * @module
 */

/**
 * Thrown by tools for conditions the user must act on; the CLI prints the message and exits 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ToolError } from "./api.ts";
 * const e = new ToolError("--device real: no such device");
 * assert.ok(e instanceof Error);
 * assert.equal(e.name, "ToolError"); // how the CLI tells it from a bug (which keeps its stack)
 * assert.equal(e.message, "--device real: no such device");
 * ```
 */
export class ToolError extends Error {
  /** @param message the whole message shown to the user */
  constructor(message: string) {
    super(message);
    this.name = "ToolError";
  }
}

export { Cluster } from "../../mod.ts";
export type {
  Ah,
  CompChannel,
  Context,
  Cq,
  Domain,
  Host,
  HostCounters,
  Mr,
  Pd,
  Qp,
  WorkCompletion as Wc,
} from "../../mod.ts";
import type { Context, Domain, Profile } from "../../mod.ts";
import { loadProfile, ProfileReadError } from "./profile_yaml.ts";
import { userPath } from "./cli.ts";

/**
 * The real-hardware part of `mod.ts`, looked up when a tool is given `--device real`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadApi, type XenibApi } from "./api.ts";
 * const api: XenibApi = await loadApi();
 * // mod.ts exports both entry points; --device real uses them
 * assert.equal(typeof api.openRealDevice, "function");
 * assert.equal(typeof api.RealHost, "function");
 * ```
 */
export interface XenibApi {
  openRealDevice?: (name?: string) => Promise<Context>;
  RealHost?: new (opts?: { name?: string; memoryBytes?: number }) => Domain;
}

let cached: XenibApi | undefined;

/**
 * `mod.ts` as an object, for the real-hardware entry points (their FFI is
 * only loaded when they are called).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadApi } from "./api.ts";
 * import * as xenib from "../../mod.ts";
 * const api = await loadApi();
 * assert.equal(api.openRealDevice, xenib.openRealDevice); // mod.ts itself
 * assert.equal(await loadApi(), api); // imported once
 * ```
 */
export async function loadApi(): Promise<XenibApi> {
  if (!cached) cached = (await import("../../mod.ts")) as unknown as XenibApi;
  return cached;
}

/**
 * Open a real RDMA device through the library's FFI provider; rejects with
 * a {@link ToolError} carrying the provider's own message (e.g. ENODEV).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openReal, ToolError } from "./api.ts";
 * // No device has this name, with or without RDMA hardware or libibverbs.
 * await assert.rejects(openReal("no-such-hca9"), (e) => {
 *   assert.ok(e instanceof ToolError);
 *   assert.match(e.message, /^--device real:no-such-hca9: /); // then the provider's reason
 *   return true;
 * });
 * ```
 */
export async function openReal(name?: string): Promise<Context> {
  const api = await loadApi();
  if (typeof api.openRealDevice !== "function") {
    throw new ToolError(
      "--device real: xenib's library does not export openRealDevice from mod.ts yet (drivers/verbs/real.ts)",
    );
  }
  try {
    return await api.openRealDevice(name);
  } catch (e) {
    throw new ToolError(`--device real${name ? `:${name}` : ""}: ${(e as Error).message}`);
  }
}

/**
 * This machine as a Domain (real memory, real devices), after checking that
 * a real device opens (else the provider's message, as {@link openReal}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { realHost, ToolError } from "./api.ts";
 * // The device is opened (and closed) first, so a missing one fails here.
 * await assert.rejects(realHost(1 << 20, "no-such-hca9"), ToolError);
 * ```
 */
export async function realHost(memoryBytes: number, name?: string): Promise<Domain> {
  const ctx = await openReal(name);
  await ctx.close();
  const api = await loadApi();
  if (typeof api.RealHost !== "function") {
    throw new ToolError("--device real: xenib's library does not export RealHost from mod.ts yet");
  }
  return new api.RealHost({ name: name ?? "real", memoryBytes });
}

/**
 * Which guest driver modes the library accepts. A mode the library does
 * not offer makes `createGuest` reject; the tools pass that message on
 * (prefixed with the mode) instead of measuring anything.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { modeError, ToolError } from "./api.ts";
 * const e = modeError("sriov", new Error("EINVAL: unknown driver 'sriov'"));
 * assert.ok(e instanceof ToolError);
 * assert.equal(
 *   e.message,
 *   "mode sriov: the library could not create a sriov guest " +
 *     "(EINVAL: unknown driver 'sriov'); nothing was run",
 * );
 * ```
 */
export function modeError(mode: string, e: unknown): ToolError {
  return new ToolError(
    `mode ${mode}: the library could not create a ${mode} guest (${
      (e as Error)?.message ?? String(e)
    }); nothing was run`,
  );
}

/**
 * `loadProfile` for the CLIs: a profile file that cannot be read becomes a
 * {@link ToolError} (one line, no stack) that names the permission to add.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadToolProfile, ToolError } from "./api.ts";
 * assert.equal((await loadToolProfile("pcix-sdr-2006")).link.mtu, 2048); // a built-in profile
 * await assert.rejects(
 *   loadToolProfile("/nonexistent/p.yaml"),
 *   (e) =>
 *     e instanceof ToolError && /^--profile \/nonexistent\/p\.yaml: cannot read/.test(e.message),
 * );
 * ```
 */
export async function loadToolProfile(spec: string): Promise<Profile> {
  try {
    return await loadProfile(/\.ya?ml$/i.test(spec) ? userPath(spec) : spec);
  } catch (e) {
    if (e instanceof ProfileReadError) {
      const perm = e.noPermission
        ? `; no read permission (deno task grants the file it is given; running the script by hand, add --allow-read=${e.file})`
        : "";
      throw new ToolError(`--profile ${e.file}: cannot read the file (${e.reason})${perm}`);
    }
    throw e;
  }
}
