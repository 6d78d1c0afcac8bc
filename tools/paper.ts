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
import { paperPlan, runPaper } from "./lib/paper_run.ts";
import {
  claimsTable,
  evaluateClaims,
  paperCharts,
  paperMarkdown,
  paperTables,
} from "./lib/paper_report.ts";
import { loadToolProfile, ToolError } from "./lib/api.ts";
import { makeUserDir, Progress, runMain, userPath } from "./lib/cli.ts";

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
  // The profile first: a bad one fails without leaving an empty --out directory behind. Then
  // the output directory, before the run: a bad --out fails at once, not after the evaluation.
  const profile = await loadToolProfile(c.profile);
  await makeUserDir(out, "--out");
  let progress: Progress | undefined;
  let data;
  try {
    data = await runPaper({
      scale: c.scale,
      profile,
      seed: c.seed,
      noise: c.noise,
      modes: c.modes,
      plan: paperPlan(c.scale, c.nas),
      jobs: c.jobs,
      onStep: (_done, total, label) => {
        progress ??= new Progress(total);
        progress.step(label);
      },
    });
  } finally {
    (progress as Progress | undefined)?.end();
  }
  const files: string[] = [];
  for (const [name, svg] of Object.entries(paperCharts(data))) {
    await Deno.writeTextFile(`${out}/${name}`, svg);
    files.push(`${out}/${name}`);
  }
  await Deno.writeTextFile(`${out}/report.md`, paperMarkdown(data));
  files.unshift(`${out}/report.md`);

  const t = paperTables(data);
  console.log(`# Headline figures (latency µs: median (p1–p99); MB/s = 10^6 B/s)\n${t.figures}\n`);
  console.log(`# RDMA WRITE latency (µs, half round trip, median (p1–p99))\n${t.writeLat}\n`);
  console.log(`# RDMA WRITE bandwidth (MB/s = 10^6 B/s)\n${t.writeBw}\n`);
  console.log(`# Send latency, polling vs events (µs, median (p1–p99))\n${t.sendLat}\n`);
  console.log(`# Memory registration (µs per regMr, no cache)\n${t.reg}\n`);
  if (t.cache) console.log(`# Registration through the cache (µs)\n${t.cache}\n`);
  console.log(`# Resource setup (µs)\n${t.setup}\n`);
  if (t.sensitivity) console.log(`# Sensitivity to the Xen primitives\n${t.sensitivity}\n`);
  if (data.modern) {
    console.log(
      `# ${data.modern.profile}: headline figures\n${paperTables(data.modern).figures}\n`,
    );
  }
  if (t.osu) console.log(`# MPI (OSU)\n${t.osu}\n`);
  if (t.nas) console.log(`# NAS Parallel Benchmarks\n${t.nas}\n`);
  console.log(`# Claims\n${claimsTable(evaluateClaims(data))}\n`);
  console.log(`wrote ${files.join(", ")}`);
  console.log(`elapsed: ${((performance.now() - t0) / 1000).toFixed(1)} s (wall clock)`);
}

// Only as a program: importing the module (docs, tests) must not run it.
if (import.meta.main) await runMain("paper", () => main(Deno.args));
