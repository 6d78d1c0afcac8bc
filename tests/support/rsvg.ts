/**
 * Test helper: render SVG to PNG with rsvg-convert (Debian package
 * `librsvg2-bin`).
 *
 * Skip policy (`prereq.ts`): without rsvg-convert the test is registered as
 * ignored, with a name and a warning that say what is missing; under
 * `CI=true` it fails instead, because CI installs it.
 *
 * @example
 * Not run by `deno test --doc`: it registers a test, and a doc test cannot
 * register another.
 * ```ts ignore
 * import assert from "node:assert/strict";
 * import { renderPng, rsvgTest } from "./rsvg.ts"; // in a test under tests/: "./support/rsvg.ts"
 * await rsvgTest("renders", async () => {
 *   const png = await renderPng(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>`, 20);
 *   assert.equal(png[1], 0x50); // "P"
 * });
 * ```
 *
 * @module
 */
import { commandRuns, prereqTest } from "./prereq.ts";

const MISSING = "rsvg-convert not found — install librsvg2-bin";

/**
 * Whether `rsvg-convert --version` runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasRsvg } from "./rsvg.ts";
 * assert.equal(typeof await hasRsvg(), "boolean");
 * ```
 */
export function hasRsvg(): Promise<boolean> {
  return commandRuns("rsvg-convert", ["--version"]);
}

/**
 * Render `svg` to PNG bytes `width` px wide (height in proportion), through
 * standard input and output; throws with rsvg-convert's message when it
 * fails.
 *
 * @example
 * ```ts ignore
 * import { renderPng } from "./rsvg.ts";
 * const png = await renderPng(await Deno.readTextFile("out/paper/write_lat.svg"), 1200);
 * ```
 */
export async function renderPng(svg: string, width: number): Promise<Uint8Array> {
  const child = new Deno.Command("rsvg-convert", {
    args: ["--width", String(width), "--format", "png"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(svg));
  await writer.close();
  const out = await child.output();
  if (!out.success) {
    throw new Error(`rsvg-convert failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
  return out.stdout;
}

/**
 * Register a test that needs rsvg-convert, under the skip policy above.
 *
 * @example
 * ```ts ignore
 * import { rsvgTest } from "./rsvg.ts";
 * await rsvgTest("renders the charts", async () => {});
 * ```
 */
export async function rsvgTest(name: string, fn: () => Promise<void>): Promise<void> {
  prereqTest(name, (await hasRsvg()) ? undefined : MISSING, fn);
}
