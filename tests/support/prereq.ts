/**
 * Test helper: the skip policy for tests that need a program installed
 * (rsvg-convert, tshark). Without it the test is registered as ignored, with
 * a name and a warning that say what is missing; under `CI=true` it fails
 * instead, because CI installs what the tests need (as `cc.ts` does for C
 * toolchains).
 *
 * @example
 * Not run by `deno test --doc`: it registers a test, and a doc test cannot
 * register another.
 * ```ts ignore
 * import { commandRuns, prereqTest } from "./prereq.ts"; // in a test under tests/: "./support/prereq.ts"
 * const have = await commandRuns("rsvg-convert", ["--version"]);
 * prereqTest("renders", have ? undefined : "rsvg-convert not found — install librsvg2-bin", async () => {});
 * ```
 *
 * @module
 */
import { isCI } from "./cc.ts";

/**
 * Whether `cmd args…` runs and exits 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { commandRuns } from "./prereq.ts";
 * assert.equal(await commandRuns("no-such-program-here", []), false);
 * ```
 */
export async function commandRuns(cmd: string, args: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return out.success;
  } catch {
    return false;
  }
}

/**
 * Register test `name` under the skip policy: `missing` says what is not
 * installed and which package provides it (undefined when all is there).
 *
 * @example
 * ```ts ignore
 * import { prereqTest } from "./prereq.ts";
 * prereqTest("dissects a capture", "tshark not found — install tshark", async () => {});
 * ```
 */
export function prereqTest(
  name: string,
  missing: string | undefined,
  fn: () => Promise<void>,
): void {
  if (missing && !isCI()) console.warn(`skipped: ${name}: ${missing}`);
  Deno.test({
    name: missing && !isCI() ? `${name} (skipped: ${missing})` : name,
    ignore: !!missing && !isCI(),
    async fn() {
      if (missing) throw new Error(`missing prerequisite (CI=true, so this fails): ${missing}`);
      await fn();
    },
  });
}
