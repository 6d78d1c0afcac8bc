/**
 * Rewrite `tests/golden/figures.json` from the model as it is now, and
 * print every figure that moved (`path: was → now`).
 *
 * Run it only when a change of the model is meant to change figures (a
 * fidelity fix, a new cost): commit the new file with the change, and
 * explain each moved figure in the commit message or issue note. A speed-up
 * must not need it (`golden_figures_test.ts` fails instead).
 *
 * ```sh
 * deno run --allow-read --allow-write=tests/golden tests/golden/update.ts
 * ```
 *
 * @module
 */
import { diffFigures, measureAll } from "./figures.ts";

const file = new URL("./figures.json", import.meta.url);
let was: unknown = {};
try {
  was = JSON.parse(await Deno.readTextFile(file)).figures;
} catch (e) {
  if (!(e instanceof Deno.errors.NotFound)) throw e;
}
const figures = await measureAll();
const note = "Virtual-time figures measured through mod.ts by tests/golden/figures.ts (seed 1); " +
  "compared exactly by tests/golden_figures_test.ts. Regenerate with " +
  "`deno run --allow-read --allow-write=tests/golden tests/golden/update.ts` only when the model " +
  "changes on purpose, and explain every moved figure.";
await Deno.writeTextFile(file, JSON.stringify({ note, figures }, null, 2) + "\n");
const moved = diffFigures(was, figures);
console.log(moved.length ? moved.join("\n") : "no figure moved");
console.log(`wrote ${file.pathname}`);
