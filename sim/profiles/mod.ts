/**
 * Cost profiles: the built-in ones by name and the schema.
 *
 * @module
 */
import { buildProfile, type Profile, ProfileError } from "./schema.ts";
import { PCIX_SDR_2006 } from "./pcix_sdr_2006.ts";
import { MODERN_GEN5_NDR } from "./modern_gen5_ndr.ts";

export * from "./schema.ts";
export { PCIX_SDR_2006 } from "./pcix_sdr_2006.ts";
export { MODERN_GEN5_NDR } from "./modern_gen5_ndr.ts";

/**
 * Built-in profiles by name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PROFILES } from "./mod.ts";
 * assert.deepEqual(Object.keys(PROFILES), ["pcix-sdr-2006", "modern-gen5-ndr"]);
 * ```
 */
export const PROFILES: Readonly<Record<string, Profile>> = {
  "pcix-sdr-2006": PCIX_SDR_2006,
  "modern-gen5-ndr": MODERN_GEN5_NDR,
};

/**
 * Resolve a profile given by name or as a plain object (which may name a
 * built-in `base`, default `pcix-sdr-2006`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PROFILES, resolveProfile } from "./mod.ts";
 * assert.equal(resolveProfile("modern-gen5-ndr"), PROFILES["modern-gen5-ndr"]);
 * const tuned = resolveProfile({ base: "modern-gen5-ndr", pci: { mmioWriteNs: "0.1 us" } });
 * assert.equal(tuned.pci.mmioWriteNs, 100);
 * assert.equal(tuned.link.mtu, 4096); // the rest comes from the base
 * assert.throws(() => resolveProfile("fast"), /unknown profile 'fast'/);
 * assert.throws(() => resolveProfile(null as never), {
 *   name: "ProfileError",
 *   message: "profile: must be a built-in name (pcix-sdr-2006, modern-gen5-ndr), " +
 *     "a Profile, or a mapping of groups (got null)",
 * });
 * ```
 */
export function resolveProfile(p: string | Profile | Record<string, unknown>): Profile {
  if (p === null || (typeof p !== "string" && typeof p !== "object") || Array.isArray(p)) {
    const got = p === null ? "null" : Array.isArray(p) ? "a list" : typeof p;
    throw new ProfileError(
      "",
      `must be a built-in name (${
        Object.keys(PROFILES).join(", ")
      }), a Profile, or a mapping of groups (got ${got})`,
    );
  }
  // Own keys only: 'constructor' or 'toString' name Object.prototype's members, no profile.
  const builtIn = (name: string) => Object.hasOwn(PROFILES, name) ? PROFILES[name] : undefined;
  if (typeof p === "string") {
    const found = builtIn(p);
    if (!found) {
      throw new ProfileError(
        "",
        `unknown profile '${p}' (built-in: ${Object.keys(PROFILES).join(", ")})`,
      );
    }
    return found;
  }
  // Only an absent `base` means the default: `base: ~` is a key given no value (it was taken as
  // the default), `base: 1` no name.
  const baseName = (p as Record<string, unknown>).base;
  if (baseName !== undefined && typeof baseName !== "string") {
    throw new ProfileError(
      "base",
      `must be a built-in profile name (${Object.keys(PROFILES).join(", ")}), got ${
        baseName === null ? "null (no value)" : Array.isArray(baseName) ? "a list" : typeof baseName
      }`,
    );
  }
  const base = builtIn(baseName ?? "pcix-sdr-2006");
  if (!base) throw new ProfileError("base", `unknown base profile '${String(baseName)}'`);
  return buildProfile(p, base);
}
