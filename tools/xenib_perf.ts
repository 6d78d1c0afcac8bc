/**
 * `deno task xenib-perf`: the paper's VMM-bypass measurements in virtual
 * time, native vs bypass (vs split), on one profile (default
 * `pcix-sdr-2006`), every figure measured by the tools' one measurement
 * core (`tools/lib/metrics.ts`, `tools/lib/control_costs.ts`) and its
 * independent points run on workers (`--jobs`):
 *
 * 1. RDMA WRITE latency (2 B) and bandwidth (1 MiB): the metrics
 *    `rdma-write-lat` and `rdma-write-bw` on bare metal, in bypass guests
 *    and in split guests. Bypass must be within 2 % (latency) and 1 %
 *    (bandwidth) of native.
 * 2. The split baseline's per-message overhead: its extra one-way latency
 *    at several sizes, and the message rate `msg-rate` (64 B).
 * 3. Memory registration cost for 1…1024 pages, native vs bypass, without
 *    and with the registration cache (in a guest: dom0 keeps the grant
 *    mappings of deregistered pages; keys die at dereg either way).
 * 4. Event-driven SEND/RECV latency (`event-lat`, 64 B), native vs bypass:
 *    the extra dom0 hop of every completion event.
 * 5. CQ and QP creation cost, native vs bypass.
 * 6. Event-driven latency with 1, 2, 4 and 8 guests per host taking events
 *    at once: they share dom0's VCPUs (`dom0.vcpus`).
 *
 * Every figure comes from the structure of the paths (which crossings a
 * flow makes, each at the profile's primitive cost), never from a
 * per-mode factor.
 *
 * @example
 * ```sh
 * deno task xenib-perf --profile pcix-sdr-2006
 * ```
 *
 * @module
 */
import { type NoiseMode, resolveProfile } from "../mod.ts";
import { runMain } from "./lib/cli.ts";
import { loadToolProfile } from "./lib/api.ts";
import {
  type Mode,
  parseFlags,
  parseIntFlag,
  parseJobs,
  parseNoise,
  parseSeed,
  UsageError,
} from "./lib/perftest_args.ts";
import { metricOf, METRICS, type MetricValue, pointRequest, type RunEnv } from "./lib/metrics.ts";
import { measurePerftestPoint, type PointOutcome } from "./lib/perftest_runner.ts";
import type { RegCost, SetupOp } from "./lib/control_costs.ts";
import { type BusyEventLatency, busyEventMethod } from "./lib/busy_events.ts";
import { runTasks, type Task, task } from "./lib/pool.ts";

/**
 * A built-in profile's name, or a plain object of overrides on a `base`
 * (as `Cluster` takes it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eventLatency, type ProfileSpec } from "./xenib_perf.ts";
 * const paper: ProfileSpec = "pcix-sdr-2006";
 * // An upcall of 2.5 µs instead of 1.5: every event pays it twice (dom0's and the guest's).
 * const slowUpcall: ProfileSpec = { base: "pcix-sdr-2006", xen: { upcallNs: 2500 } };
 * const a = await eventLatency(paper, "bypass", { iters: 20 });
 * const b = await eventLatency(slowUpcall, "bypass", { iters: 20 });
 * assert.equal((b.typicalUs - a.typicalUs).toFixed(3), "2.000");
 * ```
 */
export type ProfileSpec = string | Record<string, unknown>;

/**
 * Event-driven latency result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type EventLatency, eventLatency } from "./xenib_perf.ts";
 * const e: EventLatency = await eventLatency("pcix-sdr-2006", "bypass", { iters: 100 });
 * // Both completions of each message reached the guest through dom0: perftest -e signals
 * // every send and sleeps on the send's completion as on the receive's.
 * assert.equal(e.evtchnSendsPerMsg, 2);
 * assert.equal(e.backendRequestsPerMsg, 0); // the data itself never did
 * ```
 */
export interface EventLatency {
  /** Median half round trip (perftest's t_typical), µs. */
  typicalUs: number;
  /** Event-channel sends per message, both hosts (the dom0 hop's evidence). */
  evtchnSendsPerMsg: number;
  /** Backend requests per message (0: the data path never reaches dom0). */
  backendRequestsPerMsg: number;
  /** How it was measured. */
  method: string;
}

/** Per message (each side sends `iterations`), from a ping-pong point's crossings. */
function perMessage(p: PointOutcome, counter: string): number {
  const msgs = 2 * p.result.lat[0].iterations;
  return (p.crossings[counter] ?? 0) / msgs;
}

function eventOf(p: PointOutcome, args: readonly string[]): EventLatency {
  const v = metricOf({ ...METRICS["event-lat"], args: [...args] }, p);
  return {
    typicalUs: v.value,
    evtchnSendsPerMsg: perMessage(p, "evtchnSends"),
    backendRequestsPerMsg: perMessage(p, "backendRequests"),
    method: v.method,
  };
}

/**
 * SEND/RECV ping-pong where each side sleeps on its completion channel:
 * `ib_send_lat -e -s size -n iters` (the metric `event-lat` at 64 B with
 * perftest's 1000 iterations). In a bypass guest every completion event
 * goes HCA → dom0 (physical IRQ) → backend → event channel → guest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eventLatency } from "./xenib_perf.ts";
 * const native = await eventLatency("pcix-sdr-2006", "native", { iters: 20 });
 * const bypass = await eventLatency("pcix-sdr-2006", "bypass", { iters: 20 });
 * assert.equal(native.evtchnSendsPerMsg, 0); // bare metal: the interrupt goes to the OS directly
 * assert.ok(bypass.typicalUs > native.typicalUs); // the dom0 hop of every event
 * ```
 */
export async function eventLatency(
  profile: ProfileSpec,
  mode: Mode,
  opts: { size?: number; iters?: number; seed?: number; noise?: NoiseMode } = {},
): Promise<EventLatency> {
  const env: RunEnv = {
    profile: resolveProfile(profile),
    seed: opts.seed ?? 1,
    noise: opts.noise ?? "off",
  };
  const args = [
    "ib_send_lat",
    "-e",
    "-s",
    String(opts.size ?? 64),
    "-n",
    String(opts.iters ?? 1000),
  ];
  return eventOf(await measurePerftestPoint(pointRequest(args, mode, env)), args);
}

function pct(a: number, b: number): string {
  return `${((a / b - 1) * 100).toFixed(3)} %`;
}

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => String(c).padStart(widths[i])).join("  ");
}

/**
 * Usage text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { xenibPerfUsage } from "./xenib_perf.ts";
 * const text = xenibPerfUsage();
 * assert.equal(text.split("\n")[0], "Usage: deno task xenib-perf [flags]");
 * for (const flag of ["--profile", "--iters", "--quick", "--seed", "--noise", "--jobs", "--help"]) {
 *   assert.ok(text.includes(flag), flag);
 * }
 * ```
 */
export function xenibPerfUsage(): string {
  return [
    "Usage: deno task xenib-perf [flags]",
    "",
    "The VMM-bypass measurements in virtual time, native vs bypass (vs split): RDMA WRITE",
    "latency (2 B) and bandwidth (1 MiB), the split baseline's per-message overhead, memory",
    "registration cost for 1..1024 pages with and without the registration cache,",
    "event-driven SEND/RECV latency, CQ and QP creation cost, event-driven latency with",
    "several guests per host sharing dom0's VCPUs. Latencies are perftest's (ib_write_lat,",
    "ib_send_lat -e): half round trips, median; MB/s is 10^6 bytes per second.",
    "",
    "  -p, --profile=<NAME|FILE.yaml>  cost profile: pcix-sdr-2006 (default), modern-gen5-ndr, or a YAML file",
    "      --iters=<n>        ping-pong rounds of the latency tests, 10.. (default 1000, perftest's)",
    "      --quick            a smaller run (100 rounds, fewer messages and repetitions)",
    "      --seed=<n>         PRNG seed (default 1); same seed, same numbers",
    "      --noise=<on|off>   the profile's seeded noise model (default on; off: exact samples)",
    "      --jobs=<n>         workers for the independent points (default one per core)",
    "  -h, --help             this text",
  ].join("\n");
}

const MODES = ["native", "bypass", "split"] as const;
const PAGES = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
const SPLIT_SIZES = [64, 512, 4096];
const BUSY_GUESTS = [1, 2, 4, 8];

/**
 * Run every measurement and print the report. Flags are checked before
 * anything runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { main, xenibPerfUsage } from "./xenib_perf.ts";
 * const lines: string[] = [];
 * const log = console.log; // watched, to see what it prints
 * console.log = (line: string) => void lines.push(line);
 * try {
 *   await main(["--help"]);
 * } finally {
 *   console.log = log;
 * }
 * assert.deepEqual(lines, [xenibPerfUsage()]);
 * await assert.rejects(main(["--quick", "--iters", "10"]), {
 *   name: "UsageError",
 *   message: "--iters and --quick: choose one (--quick runs 100 rounds)",
 * });
 * await assert.rejects(main(["--iters", "5"]), {
 *   message: "--iters: 5 is out of range (10..10000000)",
 * });
 * await assert.rejects(main(["--noise", "maybe"]), { message: "--noise: 'maybe' is not on or off" });
 * ```
 */
export async function main(args: string[]): Promise<void> {
  const { values } = parseFlags(args, {
    profile: { type: "string", short: "p" },
    iters: { type: "string" },
    quick: { type: "boolean" },
    seed: { type: "string" },
    noise: { type: "string" },
    jobs: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(xenibPerfUsage());
    return;
  }
  if (values.quick && values.iters !== undefined) {
    throw new UsageError("--iters and --quick: choose one (--quick runs 100 rounds)");
  }
  const iters = values.iters === undefined
    ? (values.quick ? 100 : 1000)
    : parseIntFlag("--iters", values.iters, 10, 10_000_000);
  const seed = values.seed === undefined ? 1 : parseSeed(values.seed);
  const noise = values.noise === undefined ? "on" : parseNoise(values.noise);
  const jobs = values.jobs === undefined ? undefined : parseJobs(values.jobs);
  if (values.profile === "") throw new UsageError("--profile: empty value");
  const profile = await loadToolProfile(values.profile ?? "pcix-sdr-2006");
  const env: RunEnv = { profile, seed, noise };
  const quick = values.quick ?? false;
  // The metrics' command lines; with another -n than perftest's default, that -n.
  const withIters = (a: readonly string[]) => iters === 1000 ? [...a] : [...a, "-n", String(iters)];
  const latArgs = (size: number) => withIters(["ib_write_lat", "-s", String(size)]);
  const evArgs = withIters(METRICS["event-lat"].args);
  const rateArgs = quick
    ? [...METRICS["msg-rate"].args, "-n", "500"]
    : [...METRICS["msg-rate"].args];

  // Every point first, then the report: the points are independent, so they run on workers.
  const runner = new URL("./lib/perftest_runner.ts", import.meta.url);
  const control = new URL("./lib/control_costs.ts", import.meta.url);
  const tasks: Task[] = [];
  const at: Record<string, number> = {};
  const add = (key: string, t: Task) => {
    at[key] = tasks.length;
    tasks.push(t);
  };
  const point = (key: string, a: readonly string[], mode: Mode, cost: number) =>
    add(key, { ...task(runner, "measurePerftestPoint", pointRequest(a, mode, env)), cost });
  for (const m of MODES) {
    point(`lat ${m}`, latArgs(2), m, 1);
    point(`bw ${m}`, METRICS["rdma-write-bw"].args, m, 3);
  }
  for (const size of SPLIT_SIZES) {
    for (const m of ["native", "split"] as const) point(`lat ${size} ${m}`, latArgs(size), m, 1);
  }
  for (const m of ["native", "split"] as const) point(`rate ${m}`, rateArgs, m, 2);
  const regOpts = { reps: quick ? 2 : 10, cacheUses: quick ? 4 : 10 };
  for (const m of ["native", "bypass"] as const) {
    add(`reg ${m}`, { ...task(control, "registrationCost", env, m, PAGES, regOpts), cost: 2 });
    add(`setup ${m}`, task(control, "setupCosts", env, m, quick ? 2 : 10));
    point(`ev ${m}`, evArgs, m, 2);
  }
  const busyIters = quick ? 50 : 200;
  const busy = new URL("./lib/busy_events.ts", import.meta.url);
  for (const g of BUSY_GUESTS) {
    add(`busy ${g}`, { ...task(busy, "busyEventLatency", env, g, { iters: busyIters }), cost: g });
  }
  const results = await runTasks(tasks, { jobs });
  const get = <T>(key: string) => results[at[key]] as T;
  const p = (key: string) => get<PointOutcome>(key);
  const lat = (key: string, a: readonly string[]): MetricValue =>
    metricOf({ ...METRICS["rdma-write-lat"], args: [...a] }, p(key));

  console.log(
    `xenib-perf — profile ${profile.name}: ${profile.description} (virtual time; noise ${noise}, ` +
      `seed ${seed})\n`,
  );
  console.log(
    "1. RDMA WRITE on bare metal, in bypass and in split guests: the same perftest program",
  );
  console.log(`   latency: ${lat("lat native", latArgs(2)).method}`);
  const bwv = (m: string) => metricOf(METRICS["rdma-write-bw"], p(`bw ${m}`));
  console.log(`   bandwidth: ${bwv("native").method}`);
  const l: Record<string, number> = {}, b: Record<string, number> = {};
  const w1 = [8, 16, 24, 18];
  console.log(row(["mode", "2 B latency µs", "1 MiB bw MB/s (10^6 B/s)", "vs native"], w1));
  for (const m of MODES) {
    l[m] = lat(`lat ${m}`, latArgs(2)).value;
    b[m] = bwv(m).value;
    console.log(
      row(
        [m, l[m].toFixed(3), b[m].toFixed(1), m === "native" ? "" : `lat ${pct(l[m], l.native)}`],
        w1,
      ),
    );
  }
  const latOk = Math.abs(l.bypass / l.native - 1) <= 0.02;
  const bwOk = Math.abs(b.bypass / b.native - 1) <= 0.01;
  console.log(
    `   bypass latency within 2 % of native: ${latOk ? "yes" : "NO"} (${
      pct(l.bypass, l.native)
    }); ` +
      `bandwidth within 1 %: ${bwOk ? "yes" : "NO"} (${pct(b.bypass, b.native)})`,
  );
  const fast = p("lat bypass").crossings;
  console.log(
    `   while measuring, the bypass hosts counted ${fast.hypercalls} hypercalls, ${fast.evtchnSends} ` +
      `event-channel sends and ${fast.backendRequests} backend requests\n`,
  );

  console.log("2. Split baseline: per-message overhead (every post and poll crosses dom0)");
  console.log(
    `   2 B latency: split ${l.split.toFixed(3)} µs vs native ${l.native.toFixed(3)} µs ` +
      `→ +${(l.split - l.native).toFixed(3)} µs per one-way message`,
  );
  // Per message, not per byte: the extra stays put as the payload grows.
  const extra = SPLIT_SIZES.map((size) => {
    const d = lat(`lat ${size} split`, latArgs(size)).value -
      lat(`lat ${size} native`, latArgs(size)).value;
    return `${size} B +${d.toFixed(3)}`;
  });
  console.log(`   one-way latency over native by size: ${extra.join(", ")} µs`);
  const rate = (m: string) => metricOf({ ...METRICS["msg-rate"], args: rateArgs }, p(`rate ${m}`));
  const [rn, rs] = [rate("native"), rate("split")];
  console.log(
    `   64 B message rate: native ${rn.value.toFixed(3)} Mmsg/s, split ${rs.value.toFixed(3)} ` +
      `Mmsg/s → +${(1 / rs.value - 1 / rn.value).toFixed(3)} µs per message`,
  );
  console.log(`   (${rn.method})\n`);

  console.log(
    `3. Memory registration (µs): regMr and dereg without the cache (mean of ${regOpts.reps}); with the`,
  );
  console.log(
    `   cache (dom0 keeps a guest's deregistered pages mapped; keys die at dereg), ${regOpts.cacheUses} uses of`,
  );
  console.log(
    "   one buffer (regMr + dereg): regMr per use, the first use included, and a warm use (after",
  );
  console.log(
    "   the first; on bare metal there is no cache below the verbs ABI: a full registration)",
  );
  const nat = get<RegCost[]>("reg native"), byp = get<RegCost[]>("reg bypass");
  const w3 = [6, 11, 11, 13, 13, 13, 13, 12];
  const head = ["pages", "native reg", "bypass reg", "native dereg", "bypass dereg"];
  console.log(row([...head, "native cache", "bypass cache", "bypass warm"], w3));
  for (let i = 0; i < PAGES.length; i++) {
    console.log(row([
      PAGES[i],
      nat[i].regUs.toFixed(1),
      byp[i].regUs.toFixed(1),
      nat[i].deregUs.toFixed(1),
      byp[i].deregUs.toFixed(1),
      nat[i].perUse!.toFixed(1),
      byp[i].perUse!.toFixed(1),
      byp[i].warm!.toFixed(1),
    ], w3));
  }
  console.log();

  console.log("4. Event-driven SEND/RECV latency (64 B, both sides sleep on completion channels)");
  const evN = eventOf(p("ev native"), evArgs), evB = eventOf(p("ev bypass"), evArgs);
  console.log(`   ${evN.method}`);
  console.log(
    `   native ${evN.typicalUs.toFixed(3)} µs, bypass ${evB.typicalUs.toFixed(3)} µs → dom0 hop ` +
      `+${(evB.typicalUs - evN.typicalUs).toFixed(3)} µs per event; bypass hosts: ` +
      `${evB.evtchnSendsPerMsg.toFixed(2)} event-channel sends and ${
        evB.backendRequestsPerMsg.toFixed(2)
      } backend requests per message (with -e perftest signals every send and sleeps on its ` +
      `completion too: one event for the send, one for the receive)\n`,
  );

  console.log("5. CQ (256 entries) and RC QP (64/64) creation cost (µs)");
  const w5 = [8, 12, 12, 12, 12];
  console.log(row(["mode", "create CQ", "create QP", "destroy QP", "destroy CQ"], w5));
  for (const m of ["native", "bypass"] as const) {
    const r = get<Record<SetupOp, number>>(`setup ${m}`);
    console.log(row([
      m,
      r.createCq.toFixed(1),
      r.createQp.toFixed(1),
      r.destroyQp.toFixed(1),
      r.destroyCq.toFixed(1),
    ], w5));
  }
  console.log();

  console.log(
    "6. Event-driven latency (64 B) with several guests per host taking events at once: every",
  );
  console.log(
    `   event crosses dom0, whose ${profile.dom0.vcpus} VCPU(s) the guests' events share`,
  );
  console.log(`   ${busyEventMethod(busyIters)}`);
  const w6 = [8, 12, 10, 22];
  console.log(row(["guests", "latency µs", "vs one", "dom0 wait µs/event"], w6));
  const b1 = get<BusyEventLatency>(`busy ${BUSY_GUESTS[0]}`);
  for (const g of BUSY_GUESTS) {
    const r = get<BusyEventLatency>(`busy ${g}`);
    console.log(row([
      g,
      r.typicalUs.toFixed(3),
      `+${(r.typicalUs - b1.typicalUs).toFixed(3)}`,
      r.dom0WaitUsPerEvent.toFixed(3),
    ], w6));
  }
}

if (import.meta.main) await runMain("xenib-perf", () => main(Deno.args));
