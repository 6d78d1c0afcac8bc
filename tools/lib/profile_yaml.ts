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
  const obj = y.value;
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
 * A profile file that cannot be read (missing, a directory, no permission):
 * a {@link ProfileError} (one line, meant for the user) that keeps the file
 * and the reason apart, so each tool can say it in its own words.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ProfileReadError } from "./profile_yaml.ts";
 * const e = new ProfileReadError("p.yaml", "No such file or directory", false);
 * assert.equal(e.name, "ProfileError"); // a user error: the CLIs print its message alone
 * assert.equal(e.message, "profile: cannot read p.yaml (No such file or directory)");
 * ```
 */
export class ProfileReadError extends ProfileError {
  /**
   * @param file the path as given
   * @param reason why it cannot be read (the system's words)
   * @param noPermission the process lacks read permission (Deno's NotCapable)
   */
  constructor(readonly file: string, readonly reason: string, readonly noPermission: boolean) {
    super("", `cannot read ${file} (${reason})`);
  }
}

/**
 * Resolve `--profile NAME|FILE.yaml`: a built-in name, or a YAML file.
 * Every failure is a one-line {@link ProfileError} (a file that cannot be
 * read: {@link ProfileReadError}; a mistake inside it: `YamlInputError` at
 * its line and column).
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
 * await assert.rejects(loadProfile("/nonexistent/p.yaml"), {
 *   name: "ProfileError",
 *   message: /^profile: cannot read \/nonexistent\/p\.yaml \(No such file or directory/,
 * });
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
      const noPermission = e instanceof Deno.errors.NotCapable ||
        (e as Error)?.name === "NotCapable";
      const reason = ((e as Error)?.message ?? String(e))
        .replace(/, run again with the --allow-read flag/, "").split("\n")[0];
      throw new ProfileReadError(spec, reason, noPermission);
    }
    return profileFromYaml(text, spec);
  }
  return resolveProfile(spec);
}
