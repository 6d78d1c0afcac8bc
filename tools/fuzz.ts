/**
 * `deno task fuzz [--iterations N] [--seed S] [--kinds ring,doorbell,…]
 * [--check-every K] [--json]`: hostile guests throw random and mutated
 * input at every surface a guest controls — ring requests, UAR doorbells,
 * WQEs, grant entries, hypercalls, event channels, xenstore — while a
 * victim guest keeps working; prints the outcomes by kind and fails at the
 * first broken isolation rule (docs/security.md, "The fuzzer").
 *
 * @example
 * ```sh
 * deno task fuzz --iterations 100000
 * deno task fuzz --iterations 5000 --seed 7 --kinds wqe,doorbell
 * ```
 *
 * @module
 */
import { runMain } from "./lib/cli.ts";
import { fuzzUsage, parseFuzzArgs } from "./lib/fuzz_args.ts";
import { formatFuzzReport, runFuzz } from "./lib/fuzz_run.ts";

/**
 * Run the command line `args`, printing through `out` (progress through
 * `progress`); returns the exit status: 1 when a rule broke.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fuzzMain } from "./fuzz.ts";
 * const out: string[] = [];
 * const status = await fuzzMain(["--iterations", "40", "--kinds", "evtchn,xenstore", "--json"], (l) => out.push(l));
 * assert.equal(status, 0);
 * const r = JSON.parse(out.join("\n"));
 * assert.equal(r.done, 40);
 * assert.equal(r.failure, undefined);
 * ```
 */
export async function fuzzMain(
  args: string[],
  out: (line: string) => void,
  progress?: (line: string) => void,
): Promise<number> {
  const c = parseFuzzArgs(args);
  if (c.help) {
    out(fuzzUsage());
    return 0;
  }
  const r = await runFuzz({
    iterations: c.iterations,
    seed: c.seed,
    kinds: c.kinds,
    checkEvery: c.checkEvery,
    onProgress: progress ? (n) => progress(`fuzz: ${n} of ${c.iterations}`) : undefined,
  });
  out(c.json ? JSON.stringify(r, null, 2) : formatFuzzReport(r));
  return r.failure ? 1 : 0;
}

if (import.meta.main) {
  await runMain("fuzz", () =>
    fuzzMain(
      Deno.args,
      (l) => console.log(l),
      Deno.stderr.isTerminal() ? (l) => console.error(l) : undefined,
    ));
}
