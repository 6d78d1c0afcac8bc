/**
 * Load a cost profile from YAML (tools side). Values may carry units
 * (`mmioWriteNs: 0.25 us`, `bytesPerSec: 880 MB/s`); `base:` names the
 * built-in profile to start from. Errors give file, line and column.
 *
 * @module
 */
import { type Profile, ProfileError, resolveProfile } from "../../sim/profiles/mod.ts";
import { errorAt, parseYaml } from "./yaml_errors.ts";

/**
 * Parse and validate a profile from YAML text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { profileFromYaml } from "./profile_yaml.ts";
 * const p = profileFromYaml(
 *   "name: slow\npci:\n  bytesPerSec: 500 MB/s\n  mmioWriteNs: 0.5 us\n",
 *   "slow.yaml",
 * );
 * assert.equal(p.name, "slow");
 * assert.equal(p.pci.bytesPerSec, 500e6); // units read
 * assert.equal(p.pci.mmioWriteNs, 500);
 * assert.equal(p.pci.dmaReadLatencyNs, 900); // the rest from the base (pcix-sdr-2006)
 * assert.throws(() => profileFromYaml("pci:\n  bogus: 1\n", "p.yaml"), {
 *   name: "YamlInputError",
 *   message: "p.yaml:2:3: profile key 'pci.bogus': unknown key " +
 *     "(known: mmioWriteNs, dmaReadLatencyNs, dmaWriteLatencyNs, bytesPerSec, transactionNs)",
 * });
 * ```
 */
export function profileFromYaml(text: string, file: string): Profile {
  const y = parseYaml(text, file);
  const obj = y.doc.toJS();
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw errorAt(y, "", "a profile file must be a mapping (name:, base:, pci:, hca:, …)");
  }
  try {
    return resolveProfile(obj as Record<string, unknown>);
  } catch (e) {
    if (e instanceof ProfileError) throw errorAt(y, e.path, e.message);
    throw e;
  }
}

/**
 * Resolve `--profile NAME|FILE.yaml`: a built-in name, or a YAML file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadProfile } from "./profile_yaml.ts";
 * assert.equal((await loadProfile("modern-gen5-ndr")).name, "modern-gen5-ndr"); // built in
 * const file = await Deno.makeTempFile({ suffix: ".yaml" });
 * await Deno.writeTextFile(file, "name: mine\nbase: pcix-sdr-2006\nlink:\n  mtu: 1024\n");
 * assert.equal((await loadProfile(file)).link.mtu, 1024);
 * await Deno.remove(file);
 * await assert.rejects(
 *   loadProfile("/nonexistent/p.yaml"),
 *   /^Error: --profile \/nonexistent\/p\.yaml: cannot read the file/,
 * );
 * await assert.rejects(loadProfile("nope"), {
 *   name: "ProfileError",
 *   message: "profile: unknown profile 'nope' (built-in: pcix-sdr-2006, modern-gen5-ndr)",
 * });
 * ```
 */
export async function loadProfile(spec: string): Promise<Profile> {
  if (/\.ya?ml$/i.test(spec)) {
    let text: string;
    try {
      text = await Deno.readTextFile(spec);
    } catch (e) {
      throw new Error(`--profile ${spec}: cannot read the file (${(e as Error).message})`);
    }
    return profileFromYaml(text, spec);
  }
  return resolveProfile(spec);
}
