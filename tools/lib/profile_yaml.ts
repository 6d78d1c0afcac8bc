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
 * import { profileFromYaml } from "./profile_yaml.ts";
 * const p = profileFromYaml("name: slow\npci:\n  bytesPerSec: 500 MB/s\n", "slow.yaml");
 * console.log(p.pci.bytesPerSec); // 500000000
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
 * import { loadProfile } from "./profile_yaml.ts";
 * console.log((await loadProfile("pcix-sdr-2006")).name); // pcix-sdr-2006
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
