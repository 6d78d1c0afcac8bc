/**
 * `deno task paper`: the paper's evaluation on the built-in device model,
 * with a markdown report, SVG charts and a verdict on each claim.
 *
 * @example
 * ```sh
 * deno task paper --quick --out out/paper-quick
 * ```
 *
 * @module
 */
import { paperUsage, parsePaperArgs } from "./lib/paper_args.ts";
import { paperPlan, paperSteps, runPaper } from "./lib/paper_run.ts";
import {
  claimsTable,
  evaluateClaims,
  paperCharts,
  paperMarkdown,
  paperTables,
} from "./lib/paper_report.ts";
import { loadToolProfile, ToolError } from "./lib/api.ts";
import { Progress, runMain, userPath } from "./lib/cli.ts";

async function main(args: string[]): Promise<void> {
  const t0 = performance.now();
  const c = parsePaperArgs(args);
  if (c.help) {
    console.log(paperUsage());
    return;
  }
  const out = userPath(c.out.replace(/\/+$/, "") || ".");
  const perm = await Deno.permissions.query({ name: "write", path: out });
  if (perm.state !== "granted") {
    throw new ToolError(
      `--out ${out}: no write permission there (deno task paper grants exactly the --out directory; ` +
        `running the script by hand, add --allow-write=${out})`,
    );
  }
  // The output directory before the run: a bad --out fails at once, not after the evaluation.
  try {
    await Deno.mkdir(out, { recursive: true });
  } catch (e) {
    throw new ToolError(`--out ${out}: cannot create the directory (${(e as Error).message})`);
  }
  const profile = await loadToolProfile(c.profile);
  const plan = paperPlan(c.quick);
  const progress = new Progress(paperSteps(plan, c.modes));
  progress.draw("starting");
  let data;
  try {
    data = await runPaper({
      quick: c.quick,
      profile,
      seed: c.seed,
      modes: c.modes,
      onStep: (label) => progress.step(label),
    });
  } finally {
    progress.end();
  }
  data.wallSeconds = (performance.now() - t0) / 1000;
  const files: string[] = [];
  for (const [name, svg] of Object.entries(paperCharts(data))) {
    await Deno.writeTextFile(`${out}/${name}`, svg);
    files.push(`${out}/${name}`);
  }
  await Deno.writeTextFile(`${out}/report.md`, paperMarkdown(data));
  files.unshift(`${out}/report.md`);

  const t = paperTables(data);
  console.log(`# RDMA WRITE latency (µs, half round trip)\n${t.writeLat}\n`);
  console.log(`# RDMA WRITE bandwidth (MB/s)\n${t.writeBw}\n`);
  console.log(`# Send latency, polling vs events (µs)\n${t.sendLat}\n`);
  console.log(`# Memory registration (µs per regMr)\n${t.reg}\n`);
  console.log(`# Resource setup (µs)\n${t.setup}\n`);
  console.log(`# Claims\n${claimsTable(evaluateClaims(data))}\n`);
  console.log(`wrote ${files.join(", ")}`);
  console.log(`elapsed: ${((performance.now() - t0) / 1000).toFixed(1)} s (wall clock)`);
}

// Only as a program: importing the module (docs, tests) must not run it.
if (import.meta.main) await runMain("paper", () => main(Deno.args));
