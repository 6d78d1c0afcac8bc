/**
 * `deno task perftest <test> [flags]`: perftest (ib_write_lat, ib_write_bw,
 * ib_read_lat, ib_read_bw, ib_send_lat, ib_send_bw, ib_atomic_lat,
 * ib_atomic_bw) on a simulated cluster — native, Xen-IB bypass or split
 * guests — or on real hardware with `--device real`.
 *
 * @example
 * ```sh
 * deno task perftest ib_write_lat -s 64 -n 1000 --mode bypass
 * ```
 *
 * @module
 */
import { parsePerftestArgs, perftestUsage } from "./lib/perftest_args.ts";
import { formatResult, resultToJson } from "./lib/perftest_format.ts";
import { runPerftest } from "./lib/perftest_runner.ts";
import { Progress, runMain } from "./lib/cli.ts";

async function main(args: string[]): Promise<void> {
  const config = parsePerftestArgs(args);
  if (config.help) {
    const named = args.find((a) => a.startsWith("ib_"));
    console.log(perftestUsage(config.test && named ? config.test : undefined));
    return;
  }
  const progress = config.sizes.length > 1 && !config.json
    ? new Progress(config.sizes.length)
    : undefined;
  const result = await runPerftest(config, {
    onSize: (bytes, i) => {
      if (progress && i > 0) progress.step(`${bytes} bytes`);
    },
  });
  if (progress) {
    progress.step("done");
    progress.end();
  }
  console.log(config.json ? JSON.stringify(resultToJson(result), null, 2) : formatResult(result));
}

// Only as a program: importing the module (docs, tests) must not run it.
if (import.meta.main) await runMain("perftest", () => main(Deno.args));
