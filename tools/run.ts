/**
 * `deno task run scenario.yaml [--json] [--check]`: build the cluster a
 * scenario file describes and run its workloads (perftest-style tests
 * between two endpoints, all-to-all traffic). Validation errors name the
 * file, line, column and key.
 *
 * @example
 * ```sh
 * deno task run examples/two_guests.yaml
 * ```
 *
 * @module
 */
import { parseFlags, UsageError } from "./lib/perftest_args.ts";
import { loadScenario } from "./lib/scenario.ts";
import { formatScenario, runScenario, scenarioJson } from "./lib/scenario_run.ts";
import { Progress, runMain, writeUserFile } from "./lib/cli.ts";

const USAGE = [
  "Usage: deno task run <scenario.yaml> [flags]",
  "",
  "Builds the hosts and guests of a scenario file and runs its workload list.",
  "",
  "      --json     print the results as JSON",
  "      --check    validate the file only (no simulation)",
  "      --pcap=<file>             write every packet of the workloads to a pcap file",
  "      --pcap-format=<ib|rocev2> InfiniBand (default) or RoCEv2 over UDP 4791 frames",
  "  -h, --help     this text",
  "",
  "Scenario keys: profile (name, FILE.yaml or mapping), seed, hosts [{name, hypervisor}],",
  "guests [{name, host, mode: bypass|split, memoryMiB}], workload [perftest: <test>, between: [a, b],",
  "size|sizes|all, iterations, connection, mtu, inline, events, txDepth, qps, atomicType, reportGbits |",
  "alltoall: [a, b, …], size, iterations, opcode: write|send|read, txDepth]. See docs/tools.md.",
].join("\n");

async function main(args: string[]): Promise<void> {
  const { values: v, positionals } = parseFlags(args, {
    json: { type: "boolean" },
    check: { type: "boolean" },
    pcap: { type: "string" },
    "pcap-format": { type: "string" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (v.help) {
    console.log(USAGE);
    return;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? "missing scenario file (deno task run <scenario.yaml>)"
        : `one scenario file at a time (got ${positionals.join(", ")})`,
    );
  }
  const format = v["pcap-format"] ?? "ib";
  if (format !== "ib" && format !== "rocev2") {
    throw new UsageError(`--pcap-format: '${format}' is not a format (use ib or rocev2)`);
  }
  if (v.pcap === "") throw new UsageError("--pcap: empty file name");
  const s = await loadScenario(positionals[0]);
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
