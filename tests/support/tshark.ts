/**
 * Test helper: tests that need tshark (Wireshark's command line) to
 * dissect captures.
 *
 * Skip policy (`prereq.ts`, as in `cc.ts`): without tshark the test is
 * registered as ignored, with a name and a warning that say what is missing;
 * under `CI=true` it fails instead, because CI installs tshark.
 *
 * @example
 * Not run by `deno test --doc`: it registers a test, and a doc test cannot
 * register another.
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { tshark, tsharkTest } from "./tshark.ts"; // in a test under tests/: "./support/tshark.ts"
 * await tsharkTest("tshark reads an empty capture", async () => {
 *   assert.equal(await tshark(["-r", "/tmp/empty.pcap"]), "");
 * });
 * ```
 *
 * @module
 */
import { commandRuns, prereqTest } from "./prereq.ts";

const MISSING = "tshark not found — install tshark";

/**
 * Whether `tshark --version` runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasTshark } from "./tshark.ts";
 * assert.equal(typeof await hasTshark(), "boolean");
 * ```
 */
export function hasTshark(): Promise<boolean> {
  return commandRuns("tshark", ["--version"]);
}

/**
 * Run tshark with `args` (in `cwd`) and return its standard output; throws
 * with its standard error when it fails.
 *
 * @example
 * ```ts ignore
 * import { tshark } from "./tshark.ts";
 * const rows = (await tshark(["-r", "capture.pcap"])).trim().split("\n");
 * ```
 */
export async function tshark(args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command("tshark", { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  const err = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`tshark ${args.join(" ")} failed: ${err}`);
  return new TextDecoder().decode(out.stdout);
}

/**
 * Register a test that needs tshark, under the skip policy above.
 *
 * @example
 * ```ts ignore
 * import { tsharkTest } from "./tshark.ts";
 * await tsharkTest("dissects what we wrote", async () => {});
 * ```
 */
export async function tsharkTest(name: string, fn: () => Promise<void>): Promise<void> {
  prereqTest(name, (await hasTshark()) ? undefined : MISSING, fn);
}
