/**
 * Run `deno task osu` in process (`osuMain`) and take what it prints as
 * lines; it must succeed. OSU's warnings are not collected.
 *
 * @module
 */
import assert from "node:assert/strict";
import { osuMain } from "../../tools/osu.ts";

/** The output lines of `osu ARGS…` (status 0 asserted). */
export async function osu(...args: string[]): Promise<string[]> {
  const lines: string[] = [];
  const status = await osuMain(args, (l) => lines.push(...l.split("\n")), () => {});
  assert.equal(status, 0);
  return lines;
}
