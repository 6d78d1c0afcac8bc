/**
 * The fidelity guard: the golden virtual-time figures (latency, bandwidth,
 * event latency, registration, setup; native, bypass and split; both
 * built-in profiles) must equal `tests/golden/figures.json` exactly. They
 * are deterministic, so a difference is a change of the model: a speed-up
 * must not cause one; a change made on purpose regenerates the file with
 * `tests/golden/update.ts` and explains each moved figure.
 */
import assert from "node:assert/strict";
import { diffFigures, measureMode, MODES, PROFILES } from "./golden/figures.ts";

const golden = JSON.parse(
  await Deno.readTextFile(new URL("./golden/figures.json", import.meta.url)),
).figures;

for (const profile of PROFILES) {
  Deno.test(`golden figures: ${profile}, every mode, equal the recorded set`, async () => {
    const moved: string[] = [];
    for (const mode of MODES) {
      moved.push(
        ...diffFigures(
          golden[profile]?.[mode],
          await measureMode(profile, mode),
          `${profile}.${mode}`,
        ),
      );
    }
    assert.deepEqual(
      moved,
      [],
      `figures moved (run tests/golden/update.ts only if on purpose):\n${moved.join("\n")}`,
    );
  });
}

Deno.test("golden figures: a moved figure is named with its old and new value", () => {
  const was = { p: { native: { writeLatencyUs: { 2: 4.5 }, setupUs: { createCq: 62.5 } } } };
  const now = { p: { native: { writeLatencyUs: { 2: 4.6 }, setupUs: { createCq: 62.5 } } } };
  assert.deepEqual(diffFigures(was, now), ["p.native.writeLatencyUs.2: 4.5 → 4.6"]);
  assert.deepEqual(diffFigures({ a: 1 }, { b: 1 }), ["a: gone", "b: new"]);
  assert.deepEqual(diffFigures(was, structuredClone(was)), []);
});
