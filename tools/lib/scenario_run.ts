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
import type { MigrateWorkload, Scenario } from "./scenario.ts";
import type { MigrationResult } from "../../mod.ts";
import { connectStream, startStream, streamEnd, type StreamReport } from "./migration_stream.ts";
import { isUserError } from "./cli.ts";

/**
 * Result of one workload entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseScenario } from "./scenario.ts";
 * import { runScenario, type WorkloadResult } from "./scenario_run.ts";
 * // `kind` says which result it holds.
 * const messages = (r: WorkloadResult) =>
 *   r.kind === "perftest"
 *     ? r.result.lat.map((row) => row.iterations)
 *     : r.kind === "alltoall"
 *     ? r.result.endpoints.map((e) => e.messages)
 *     : (r.result.stream?.directions ?? []).map((d) => d.messages);
 * const s = await parseScenario(
 *   "hosts: [{name: a}, {name: b}, {name: c}]\n" +
 *     "workload:\n  - {perftest: ib_write_lat, between: [a, b], size: 2, iterations: 10}\n" +
 *     "  - {alltoall: [a, b, c], size: 64, iterations: 3}\n",
 *   "s.yaml",
 * );
 * const results = await runScenario(s);
 * assert.deepEqual(results.map(messages), [[10], [6, 6, 6]]); // 3 to each of 2 peers
 * assert.deepEqual(Object.keys(results[1].counters), ["a", "b", "c"]); // every host, every time
 * ```
 */
export type WorkloadResult =
  | { kind: "perftest"; name: string; result: PerftestResult; counters: Record<string, Counters> }
  | { kind: "alltoall"; name: string; result: AllToAllResult; counters: Record<string, Counters> }
  | {
    kind: "migrate";
    name: string;
    result: MigrateOutcome;
    counters: Record<string, Counters>;
  };

/**
 * What a `migrate` entry did: the migration's result (or, with
 * `crashDestination`, the failure it caused) and the stream across it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { MigrateOutcome } from "./scenario_run.ts";
 * const downMs = (o: MigrateOutcome) => o.migration ? o.migration.downtimeNs / 1e6 : undefined;
 * assert.equal(downMs({ failed: "ECONNRESET: the destination crashed" }), undefined);
 * ```
 */
export interface MigrateOutcome {
  migration?: MigrationResult;
  /** The one-line error of a migration that failed as injected. */
  failed?: string;
  stream?: StreamReport;
}

/**
 * A host's counters (deltas over one workload).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseScenario } from "./scenario.ts";
 * import { type Counters, runScenario } from "./scenario_run.ts";
 * const s = await parseScenario(
 *   "hosts: [{name: xen0, hypervisor: true}, {name: metal}]\n" +
 *     "guests: [{name: vm0, host: xen0, mode: bypass}]\n" +
 *     "workload:\n  - {perftest: ib_write_lat, between: [vm0, metal], size: 2, iterations: 10}\n",
 *   "s.yaml",
 * );
 * const [r] = await runScenario(s);
 * const xen0: Counters = r.counters.xen0, metal: Counters = r.counters.metal;
 * // The guest's setup (open, PD, CQ, QP, MR) went through dom0's backend;
 * // bare metal has no hypervisor to cross.
 * assert.ok(xen0.hypercalls > 0 && xen0.backendRequests > 0);
 * assert.equal(metal.hypercalls, 0);
 * assert.equal(xen0.packetsSent, metal.packetsSent); // a ping-pong: each side as many
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
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseScenario } from "./scenario.ts";
 * import { runScenario } from "./scenario_run.ts";
 * const s = await parseScenario(
 *   "hosts: [{name: xen0, hypervisor: true}, {name: xen1, hypervisor: true}]\n" +
 *     "guests: [{name: vm0, host: xen0, mode: bypass}, {name: vm1, host: xen1, mode: split}]\n" +
 *     "workload:\n  - {perftest: ib_send_lat, between: [vm0, vm1], size: 2, iterations: 10}\n",
 *   "s.yaml",
 * );
 * const progress: string[] = [];
 * const [r] = await runScenario(s, (name, i, n) => progress.push(`${i + 1}/${n} ${name}`));
 * assert.deepEqual(progress, ["1/1 ib_send_lat vm0<->vm1"]);
 * assert.equal(r.kind === "perftest" && r.result.mode, "vm0 (bypass) <-> vm1 (split)");
 * // Both guests' setup crossed dom0 alike; the split guest's 10 sends and
 * // 10 receives went through the backend as well.
 * assert.ok(r.counters.xen1.backendRequests - r.counters.xen0.backendRequests >= 20);
 * ```
 */
export async function runScenario(
  s: Scenario,
  onWorkload?: (name: string, i: number, n: number) => void,
  opts: ScenarioRunOptions = {},
): Promise<WorkloadResult[]> {
  // A migration needs Nomad's layer in every library (the guest's and its peers').
  const nomad = s.workload.some((w) => w.kind === "migrate");
  const cluster = new Cluster({ profile: s.profile, seed: s.seed, noise: s.noise, nomad });
  const hosts = new Map<string, Host>();
  try {
    for (const h of s.hosts) {
      hosts.set(
        h.name,
        cluster.addHost({ name: h.name, hypervisor: h.hypervisor, pkeys: h.pkeys }),
      );
    }
  } catch (e) {
    const h = s.hosts[hosts.size];
    throw new ToolError(
      `${s.file}: host ${h.name}${
        h.hypervisor ? " (hypervisor: true)" : ""
      }: the library could not create it (${(e as Error).message}); nothing was run`,
    );
  }
  try {
    await cluster.start();
  } catch (e) {
    // A profile the hosts' software cannot boot with (hca.maxMr: 2 leaves one MPT entry, and
    // booting needs more).
    if (!isUserError(e)) throw e;
    throw new ToolError(`${s.file}: the cluster could not start (${e.message}); nothing was run`);
  }
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
        pkeys: g.pkeys,
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

  async function runMigrate(w: MigrateWorkload): Promise<MigrateOutcome> {
    try {
      return await runMigrateEntry(
        cluster,
        ep(w.guest).dom,
        hosts.get(w.to)!,
        w.with === undefined ? undefined : ep(w.with).dom,
        w,
      );
    } catch (e) {
      throw new ToolError(`${s.file}: ${w.name}: ${(e as Error).message}`);
    }
  }

  async function runWorkloads(): Promise<void> {
    for (let i = 0; i < s.workload.length; i++) {
      const w = s.workload[i];
      onWorkload?.(w.name, i, s.workload.length);
      try {
        await runWorkload(w);
      } catch (e) {
        // What the run refused (perftest's UD size past the MTU, a P_Key index the partition
        // lacks, a resource the profile makes too small) names the file and the entry, as
        // validation errors do; a bug keeps its stack. (Migrate entries say it themselves.)
        if (!isUserError(e) || w.kind === "migrate") throw e;
        const named = e.message.startsWith(`${w.name}: `) ? "" : ` (${w.name})`;
        throw new ToolError(`${s.file}: workload[${i}]${named}: ${e.message}`);
      }
    }
  }

  async function runWorkload(w: Scenario["workload"][number]): Promise<void> {
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
    } else if (w.kind === "alltoall") {
      const result = await runAllToAll(
        cluster,
        w.endpoints.map((n) => ({ name: n, ...ep(n) })),
        w,
      );
      out.push({ kind: "alltoall", name: w.name, result, counters: diff(before, snapshot(all)) });
    } else {
      const result = await runMigrate(w);
      out.push({ kind: "migrate", name: w.name, result, counters: diff(before, snapshot(all)) });
    }
  }
}

/**
 * Run a `migrate` entry on `cluster`: the guest `dom` moves to `to`; with a
 * peer, a checked stream runs from 1 ms before until 1 ms after.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseScenario } from "./scenario.ts";
 * import { runScenario } from "./scenario_run.ts";
 * const s = await parseScenario(
 *   "profile: {migration: {netBytesPerSec: 1 GB/s}}\n" +
 *     "hosts: [{name: x0, hypervisor: true}, {name: x1, hypervisor: true}, {name: m}]\n" +
 *     "guests: [{name: vm0, host: x0, mode: bypass, memoryMiB: 16}]\n" +
 *     "workload: [{migrate: vm0, to: x1, with: m, rate: 20000}]\n",
 *   "s.yaml",
 * );
 * const [r] = await runScenario(s);
 * assert.ok(r.kind === "migrate" && r.result.migration!.to === "x1");
 * assert.ok(r.kind === "migrate" && r.result.stream!.directions.every((d) => d.messages > 0));
 * ```
 */
export async function runMigrateEntry(
  cluster: Cluster,
  dom: Domain,
  to: Host,
  peer: Domain | undefined,
  w: MigrateWorkload,
): Promise<MigrateOutcome> {
  return await cluster.run(async () => {
    let stream;
    if (peer) {
      const a = await streamEnd(dom, w.size), b = await streamEnd(peer, w.size);
      await connectStream(a, b);
      stream = startStream(cluster, a, b, {
        bytes: w.size,
        intervalNs: 1e9 / w.rate,
        ops: ["writeImm"],
      });
      await cluster.sleep(1_000_000);
    }
    const out: MigrateOutcome = {};
    try {
      const opts = w.crashDestination ? { crashDestination: w.crashDestination } : {};
      out.migration = await cluster.migrate(dom, to, opts);
    } catch (e) {
      if (!w.crashDestination) throw e;
      out.failed = (e as Error).message;
    }
    if (stream) {
      await cluster.sleep(1_000_000);
      out.stream = await stream.stop();
    }
    return out;
  });
}

/**
 * Options of {@link runScenario}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseScenario } from "./scenario.ts";
 * import { runScenario, type ScenarioRunOptions } from "./scenario_run.ts";
 * let pcap: Uint8Array = new Uint8Array(), packets = 0;
 * const o: ScenarioRunOptions = {
 *   capture: { format: "rocev2" },
 *   onCapture: (bytes, n) => [pcap, packets] = [bytes, n],
 * };
 * const s = await parseScenario(
 *   "hosts: [{name: a}, {name: b}]\n" +
 *     "workload:\n  - {perftest: ib_write_lat, between: [a, b], size: 2, iterations: 10}\n",
 *   "s.yaml",
 * );
 * await runScenario(s, undefined, o);
 * const header = new DataView(pcap.buffer, pcap.byteOffset, 24);
 * assert.equal(header.getUint32(0, true), 0xa1b23c4d); // a pcap file, ns timestamps
 * assert.equal(header.getUint32(20, true), 1); // of Ethernet frames (RoCEv2)
 * assert.equal(packets, 40); // 10 writes and 10 ACKs each way
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
 * import assert from "node:assert/strict";
 * import { formatCounters } from "./scenario_run.ts";
 * const t = formatCounters({
 *   xen0: { hypercalls: 54, evtchnSends: 42 },
 *   metal: { hypercalls: 0 },
 * });
 * assert.deepEqual(t.split("\n"), [
 *   " host    hypercalls   evtchnSends",
 *   " xen0    54           42",
 *   " metal   0            0", // a counter a host lacks shows as 0
 * ]);
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
 * import assert from "node:assert/strict";
 * import { parseScenario } from "./scenario.ts";
 * import { formatScenario, runScenario } from "./scenario_run.ts";
 * const s = await parseScenario(
 *   "hosts: [{name: a}, {name: b}]\n" +
 *     "workload:\n  - {perftest: ib_read_lat, between: [a, b], size: 2, iterations: 10}\n",
 *   "s.yaml",
 * );
 * const lines = formatScenario(s, await runScenario(s)).split("\n");
 * assert.equal(
 *   lines[0],
 *   "scenario s.yaml: profile pcix-sdr-2006, seed 1, noise on, 2 host(s), 0 guest(s)",
 * );
 * assert.equal(lines[2], "== ib_read_lat a<->b");
 * assert.ok(lines.some((l) => l.trim() === "RDMA_Read Latency Test")); // perftest's own report
 * assert.equal(lines.at(-4), " hypervisor and HCA counters during this workload:"); // + 3 rows
 * ```
 */
export function formatScenario(s: Scenario, results: WorkloadResult[]): string {
  const parts = [
    `scenario ${s.file}: profile ${s.profile.name}, seed ${s.seed}, noise ${s.noise}, ${s.hosts.length} host(s), ${s.guests.length} guest(s)`,
  ];
  for (const r of results) {
    parts.push("", `== ${r.name}`);
    parts.push(
      r.kind === "perftest"
        ? formatResult(r.result)
        : r.kind === "alltoall"
        ? formatAllToAll(r.result)
        : formatMigrate(r.result),
    );
    parts.push(" hypervisor and HCA counters during this workload:", formatCounters(r.counters));
  }
  return parts.join("\n");
}

/**
 * A `migrate` entry's outcome as text: the migration's figures (times in
 * ms), its rounds, and the stream across it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatMigrate } from "./scenario_run.ts";
 * assert.equal(
 *   formatMigrate({ failed: "ECONNRESET: migrate vm0 from x0 to x1: the destination crashed" }),
 *   " failed: ECONNRESET: migrate vm0 from x0 to x1: the destination crashed",
 * );
 * ```
 */
export function formatMigrate(o: MigrateOutcome): string {
  const lines: string[] = [];
  const ms = (ns: number) => (ns / 1e6).toFixed(3);
  if (o.failed) lines.push(` failed: ${o.failed}`);
  const m = o.migration;
  if (m) {
    lines.push(
      ` ${m.guest}: ${m.from} -> ${m.to} (domain ${m.domid}), ${m.connections} connection(s)`,
      ` total ${ms(m.totalNs)} ms, downtime ${ms(m.downtimeNs)} ms, domain paused ${
        ms(m.vmPausedNs)
      } ms, handshake ${ms(m.handshakeNs)} ms`,
      ` ${m.rounds.length} rounds, ${m.pagesSent} pages, ${(m.bytesSent / 1e6).toFixed(3)} MB: ` +
        m.rounds.map((r) => `${r.pages}${r.stopAndCopy ? " (stop-and-copy)" : ""}`).join(", "),
    );
  }
  for (const [i, d] of (o.stream?.directions ?? []).entries()) {
    lines.push(
      ` stream ${i === 0 ? "guest->peer" : "peer->guest"}: ${d.messages} messages checked, ` +
        `longest wait ${ms(d.maxGapNs)} ms`,
    );
  }
  return lines.join("\n");
}

/**
 * Results as JSON.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseScenario } from "./scenario.ts";
 * import { runScenario, scenarioJson } from "./scenario_run.ts";
 * const s = await parseScenario(
 *   "hosts: [{name: a}, {name: b}]\n" +
 *     "workload:\n  - {perftest: ib_read_lat, between: [a, b], size: 2, iterations: 10}\n",
 *   "s.yaml",
 * );
 * const json = JSON.parse(JSON.stringify(scenarioJson(s, await runScenario(s))));
 * assert.equal(json.profile, "pcix-sdr-2006");
 * assert.deepEqual(json.hosts, [{ name: "a", hypervisor: false }, {
 *   name: "b",
 *   hypervisor: false,
 * }]);
 * const [w] = json.workload;
 * assert.deepEqual([w.kind, w.name, w.result.test], [
 *   "perftest",
 *   "ib_read_lat a<->b",
 *   "ib_read_lat",
 * ]);
 * assert.deepEqual(w.result.results.map((r: { bytes: number }) => r.bytes), [2]);
 * ```
 */
export function scenarioJson(s: Scenario, results: WorkloadResult[]): Record<string, unknown> {
  return {
    file: s.file,
    profile: s.profile.name,
    seed: s.seed,
    noise: s.noise,
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

/**
 * Run a scenario and return what `deno task run` prints for it: the text
 * report, or the JSON object. Scenarios are independent of each other (each
 * builds its own cluster from its seed), so several files run on workers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseScenario } from "./scenario.ts";
 * import { scenarioOutput } from "./scenario_run.ts";
 * const s = await parseScenario(
 *   "hosts: [{name: a}, {name: b}]\nnoise: off\n" +
 *     "workload:\n  - {perftest: ib_write_lat, between: [a, b], size: 2, iterations: 10}\n",
 *   "s.yaml",
 * );
 * const text = await scenarioOutput(s, false);
 * assert.ok(text.startsWith("scenario s.yaml: profile pcix-sdr-2006, seed 1, noise off,"));
 * const json = JSON.parse(await scenarioOutput(s, true));
 * assert.equal(json.noise, "off");
 * ```
 */
export async function scenarioOutput(s: Scenario, json: boolean): Promise<string> {
  const results = await runScenario(s);
  return json ? JSON.stringify(scenarioJson(s, results), null, 2) : formatScenario(s, results);
}
