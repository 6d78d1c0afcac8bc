/**
 * `deno task run scenario.yaml [more.yaml …] [--json] [--check]`: build the
 * cluster a scenario file describes and run its workloads (perftest-style
 * tests between two endpoints, all-to-all traffic). Validation errors name
 * the file, line, column and key. Several files are independent runs: they
 * go to workers (`--jobs`) and print in the order given.
 *
 * @example
 * ```sh
 * deno task run examples/two_guests.yaml
 * ```
 *
 * @module
 */
import { parseFlags, parseJobs, parseNoise, UsageError } from "./lib/perftest_args.ts";
import { loadScenario } from "./lib/scenario.ts";
import { formatScenario, runScenario, scenarioJson } from "./lib/scenario_run.ts";
import { runTasks, task } from "./lib/pool.ts";
import { checkUserOutput, Progress, runMain, writeUserFile } from "./lib/cli.ts";

const USAGE = [
  "Usage: deno task run <scenario.yaml> [more.yaml …] [flags]",
  "",
  "Builds the hosts and guests of a scenario file and runs its workload list. Several files",
  "are independent runs, on workers, printed in the order given.",
  "",
  "      --json     print the results as JSON (an array for several files)",
  "      --check    validate the file only (no simulation)",
  "      --noise=<on|off>          override the files' noise key (default on)",
  "      --jobs=<n>                workers for several files (default one per core)",
  "      --pcap=<file>             write every packet of the workloads to a pcap file",
  "      --pcap-format=<ib|rocev2> InfiniBand (default) or RoCEv2 over UDP 4791 frames",
  "  -h, --help     this text",
  "",
  "Scenario keys: profile (name, FILE.yaml or mapping), seed, noise (on|off), hosts [{name, hypervisor}],",
  "guests [{name, host, mode: bypass|split, memoryMiB}], workload [perftest: <test>, between: [a, b],",
  "size|sizes|all, iterations, connection, mtu, inline, events, txDepth, qps, atomicType, reportGbits |",
  "alltoall: [a, b, …], size, iterations, opcode: write|send|read, txDepth |",
  "migrate: <guest>, to: <xen host>, with, rate, size, crashDestination]. See docs/tools.md.",
].join("\n");

async function main(args: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(args, {
    json: { type: "boolean" },
    check: { type: "boolean" },
    pcap: { type: "string" },
    "pcap-format": { type: "string" },
    noise: { type: "string" },
    jobs: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (v.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length === 0) {
    throw new UsageError("missing scenario file (deno task run <scenario.yaml>)");
  }
  if (positionals.length > 1 && v.pcap !== undefined) {
    throw new UsageError(`--pcap: one scenario file at a time (got ${positionals.join(", ")})`);
  }
  const noise = v.noise === undefined ? undefined : parseNoise(v.noise);
  const jobs = v.jobs === undefined ? undefined : parseJobs(v.jobs);
  const format = v["pcap-format"] ?? "ib";
  if (format !== "ib" && format !== "rocev2") {
    throw new UsageError(`--pcap-format: '${format}' is not a format (use ib or rocev2)`);
  }
  if (v.pcap === "") throw new UsageError("--pcap: empty file name");
  // Checked before the run: a bad path fails now, not after every workload ran.
  if (v.pcap !== undefined) await checkUserOutput(v.pcap, "--pcap");
  if (positionals.length > 1) {
    // Every file checked before anything runs.
    const all = [];
    for (const f of positionals) {
      const s = await loadScenario(f);
      all.push(noise ? { ...s, noise } : s);
    }
    if (v.check) {
      for (const s of all) console.log(`${s.file}: ok`);
      return;
    }
    const here = new URL("./lib/scenario_run.ts", import.meta.url);
    const outs = await runTasks<string>(
      all.map((s) => task(here, "scenarioOutput", s, v.json ?? false)),
      {
        jobs,
        onResult: (i, text) => {
          if (!v.json) console.log(`${i > 0 ? "\n" : ""}${text}`);
        },
      },
    );
    if (v.json) console.log(`[\n${outs.join(",\n")}\n]`);
    return;
  }
  const loaded = await loadScenario(positionals[0]);
  const s = noise ? { ...loaded, noise } : loaded;
  if (v.check) {
    console.log(
      `${s.file}: ok (${s.hosts.length} host(s), ${s.guests.length} guest(s), ${s.workload.length} workload(s))`,
    );
    return;
  }
  const progress = v.json ? undefined : new Progress(s.workload.length);
  let pcap: { bytes: Uint8Array; packets: number } | undefined;
  const results = await runScenario(s, (name, i) => {
    if (i > 0) progress?.step(name);
  }, {
    capture: v.pcap !== undefined ? { format } : undefined,
    onCapture: (bytes, packets) => (pcap = { bytes, packets }),
  });
  progress?.step("done");
  progress?.end();
  console.log(
    v.json ? JSON.stringify(scenarioJson(s, results), null, 2) : formatScenario(s, results),
  );
  if (v.pcap !== undefined && pcap) {
    const path = await writeUserFile(v.pcap, pcap.bytes, "--pcap");
    console.error(`run: wrote ${pcap.packets} packets to ${path} (${format})`);
  }
}

// Only as a program: importing the module (docs, tests) must not run it.
if (import.meta.main) await runMain("run", () => main(Deno.args));
