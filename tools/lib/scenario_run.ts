/**
 * Run a validated scenario: build the cluster (hosts, guests), then run
 * each workload in order on it, recording what crossed each host's
 * hypervisor during each workload.
 *
 * @module
 */
import { Cluster, type Domain, type Host, modeError, ToolError } from "./api.ts";
import { type CaptureOptions, startCapture } from "../../mod.ts";
import { runPerftest } from "./perftest_runner.ts";
import { formatResult, resultToJson } from "./perftest_format.ts";
import type { PerftestResult } from "./perftest_stats.ts";
import { type AllToAllResult, formatAllToAll, runAllToAll } from "./alltoall.ts";
import type { Scenario } from "./scenario.ts";

/**
 * Result of one workload entry.
 *
 * @example
 * ```ts
 * import type { WorkloadResult } from "./scenario_run.ts";
 * const hostsTouched = (r: WorkloadResult) => Object.keys(r.counters);
 * ```
 */
export type WorkloadResult =
  | { kind: "perftest"; name: string; result: PerftestResult; counters: Record<string, Counters> }
  | { kind: "alltoall"; name: string; result: AllToAllResult; counters: Record<string, Counters> };

/**
 * A host's counters (deltas over one workload).
 *
 * @example
 * ```ts
 * import type { Counters } from "./scenario_run.ts";
 * const quiet: Counters = { hypercalls: 0, evtchnSends: 0, backendRequests: 0 };
 * ```
 */
export type Counters = Record<string, number>;

function snapshot(hosts: Host[]): Record<string, Counters> {
  const out: Record<string, Counters> = {};
  for (const h of hosts) {
    const c = h.counters() as unknown as Record<string, unknown>;
    const hca = h.hca.stats() as unknown as Record<string, unknown>;
    out[h.name] = {};
    for (const [k, v] of Object.entries(c)) if (typeof v === "number") out[h.name][k] = v;
    for (const k of ["packetsSent", "packetsReceived", "doorbellsRejected"]) {
      if (typeof hca[k] === "number") out[h.name][k] = hca[k] as number;
    }
  }
  return out;
}

function diff(a: Record<string, Counters>, b: Record<string, Counters>): Record<string, Counters> {
  const out: Record<string, Counters> = {};
  for (const [h, c] of Object.entries(b)) {
    out[h] = {};
    for (const [k, v] of Object.entries(c)) out[h][k] = v - (a[h]?.[k] ?? 0);
  }
  return out;
}

/**
 * Build the scenario's cluster and run its workloads.
 *
 * @example
 * ```ts ignore
 * import { loadScenario } from "./scenario.ts";
 * import { runScenario } from "./scenario_run.ts";
 * const results = await runScenario(await loadScenario("examples/two_guests.yaml"));
 * ```
 */
export async function runScenario(
  s: Scenario,
  onWorkload?: (name: string, i: number, n: number) => void,
  opts: ScenarioRunOptions = {},
): Promise<WorkloadResult[]> {
  const cluster = new Cluster({ profile: s.profile, seed: s.seed });
  const hosts = new Map<string, Host>();
  try {
    for (const h of s.hosts) {
      hosts.set(h.name, cluster.addHost({ name: h.name, hypervisor: h.hypervisor }));
    }
  } catch (e) {
    const h = s.hosts[hosts.size];
    throw new ToolError(
      `${s.file}: host ${h.name}${
        h.hypervisor ? " (hypervisor: true)" : ""
      }: the library could not create it (${(e as Error).message}); nothing was run`,
    );
  }
  await cluster.start();
  const eps = new Map<string, { dom: Domain; mode: string }>();
  for (const h of s.hosts) {
    const host = hosts.get(h.name)!;
    const dom = h.hypervisor ? host.dom0 : host.os;
    if (dom) eps.set(h.name, { dom, mode: h.hypervisor ? "dom0" : "native" });
  }
  for (const g of s.guests) {
    try {
      const dom = await hosts.get(g.host)!.createGuest({
        name: g.name,
        memoryMiB: g.memoryMiB,
        driver: g.mode,
      });
      eps.set(g.name, { dom, mode: g.mode });
    } catch (e) {
      throw new ToolError(`${s.file}: guest ${g.name}: ${modeError(g.mode, e).message}`);
    }
  }
  const ep = (name: string) => {
    const e = eps.get(name);
    if (!e) throw new ToolError(`${s.file}: endpoint '${name}' has no domain in the library`);
    return e;
  };
  const all = [...hosts.values()];
  const out: WorkloadResult[] = [];
  // The workloads' packets; the subnet manager's sweep at start is not captured.
  const tap = opts.capture ? startCapture(cluster.fabric, opts.capture) : undefined;
  try {
    await runWorkloads();
  } finally {
    tap?.stop();
  }
  if (tap) opts.onCapture?.(tap.bytes().slice(), tap.count);
  return out;

  async function runWorkloads(): Promise<void> {
    for (let i = 0; i < s.workload.length; i++) {
      const w = s.workload[i];
      onWorkload?.(w.name, i, s.workload.length);
      const before = snapshot(all);
      if (w.kind === "perftest") {
        const a = ep(w.between[0]), b = ep(w.between[1]);
        const result = await runPerftest(w.config, {
          profile: s.profile,
          endpoints: {
            cluster,
            a: a.dom,
            b: b.dom,
            mode: `${w.between[0]} (${a.mode}) <-> ${w.between[1]} (${b.mode})`,
          },
        });
        out.push({ kind: "perftest", name: w.name, result, counters: diff(before, snapshot(all)) });
      } else {
        const result = await runAllToAll(
          cluster,
          w.endpoints.map((n) => ({ name: n, ...ep(n) })),
          w,
        );
        out.push({ kind: "alltoall", name: w.name, result, counters: diff(before, snapshot(all)) });
      }
    }
  }
}

/**
 * Options of {@link runScenario}.
 *
 * @example
 * ```ts
 * import type { ScenarioRunOptions } from "./scenario_run.ts";
 * const o: ScenarioRunOptions = { capture: { format: "rocev2" }, onCapture: (b) => console.log(b.length) };
 * ```
 */
export interface ScenarioRunOptions {
  /** Capture every packet the hosts' HCAs send during the workloads. */
  capture?: CaptureOptions;
  /** The pcap file image and its packet count, after the last workload. */
  onCapture?: (pcap: Uint8Array, packets: number) => void;
}

/**
 * Counters of one workload as a table (hosts × counters).
 *
 * @example
 * ```ts
 * import { formatCounters } from "./scenario_run.ts";
 * console.log(formatCounters({ node0: { hypercalls: 3 } }).split("\n")[1].trim()); // node0   3
 * ```
 */
export function formatCounters(c: Record<string, Counters>): string {
  const keys = [
    "hypercalls",
    "evtchnSends",
    "backendRequests",
    "grantMaps",
    "dom0BusyNs",
    "packetsSent",
    "doorbellsRejected",
  ].filter((k) => Object.values(c).some((x) => k in x));
  const head = ["host", ...keys];
  const rows = Object.entries(c).map(([h, x]) => [h, ...keys.map((k) => String(x[k] ?? 0))]);
  const widths = head.map((hd, i) => Math.max(hd.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    " " + cells.map((v, i) => v.padEnd(widths[i])).join("   ").trimEnd();
  return [line(head), ...rows.map(line)].join("\n");
}

/**
 * Results as text.
 *
 * @example
 * ```ts
 * import { parseScenario } from "./scenario.ts";
 * import { formatScenario, runScenario } from "./scenario_run.ts";
 * const s = await parseScenario(
 *   "hosts: [{name: a}, {name: b}]\nworkload:\n  - {perftest: ib_read_lat, between: [a, b], iterations: 10}\n",
 *   "s.yaml",
 * );
 * console.log(formatScenario(s, await runScenario(s)).includes("RDMA_Read Latency Test")); // true
 * ```
 */
export function formatScenario(s: Scenario, results: WorkloadResult[]): string {
  const parts = [
    `scenario ${s.file}: profile ${s.profile.name}, seed ${s.seed}, ${s.hosts.length} host(s), ${s.guests.length} guest(s)`,
  ];
  for (const r of results) {
    parts.push("", `== ${r.name}`);
    parts.push(r.kind === "perftest" ? formatResult(r.result) : formatAllToAll(r.result));
    parts.push(" hypervisor and HCA counters during this workload:", formatCounters(r.counters));
  }
  return parts.join("\n");
}

/**
 * Results as JSON.
 *
 * @example
 * ```ts
 * import { parseScenario } from "./scenario.ts";
 * import { runScenario, scenarioJson } from "./scenario_run.ts";
 * const s = await parseScenario(
 *   "hosts: [{name: a}, {name: b}]\nworkload:\n  - {perftest: ib_read_lat, between: [a, b], iterations: 10}\n",
 *   "s.yaml",
 * );
 * console.log((scenarioJson(s, await runScenario(s)).workload as unknown[]).length); // 1
 * ```
 */
export function scenarioJson(s: Scenario, results: WorkloadResult[]): Record<string, unknown> {
  return {
    file: s.file,
    profile: s.profile.name,
    seed: s.seed,
    hosts: s.hosts,
    guests: s.guests,
    workload: results.map((r) => ({
      kind: r.kind,
      name: r.name,
      result: r.kind === "perftest" ? resultToJson(r.result) : r.result,
      counters: r.counters,
    })),
  };
}
