/**
 * perftest's measurements against xenib's public API. `runPerftest(config)`
 * builds a two-endpoint cluster (bare-metal hosts for `native`, Xen hosts
 * with one `bypass` or `split` guest each otherwise), or uses endpoints the
 * caller gives (scenarios, the paper tool), checks what perftest checks
 * against the device, sets up PD/MR/CQ/QP on both sides, connects them and
 * runs perftest's loops (src/perftest_resources.c, 4.5-0.17) in virtual
 * time; `measurePoint` is one (test, size) point: its raw timestamps and
 * perftest's statistics of them.
 *
 * The method is perftest's and is stated by {@link measurementMethod}:
 * - `write_lat`: ping-pong of RDMA WRITEs, each side spinning on the last
 *   byte of its buffer (`run_iter_lat_write`); half a round trip.
 * - `send_lat`: ping-pong of SENDs, receives pre-posted, CQ moderation
 *   on the sends (`run_iter_lat_send`); half a round trip.
 * - `read_lat`, `atomic_lat`: one operation at a time (`run_iter_lat`);
 *   a full round trip.
 * - `*_bw`: tx-depth WRs in flight per QP, every cq_mod-th signaled, post
 *   lists, the software rate limiter (`run_iter_bw`); send tests with a
 *   receiver reposting (`run_iter_bw_server`); `-b` both directions.
 * - `-D`: perftest's duration state machine (margin, sample, margin) on
 *   virtual-time alarms.
 *
 * Only the tool side reads timestamps: `cluster.now` (virtual ns: the
 * cycle counter, 1 cycle = 1 ns) for the simulation, the wall clock on
 * real hardware.
 *
 * @module
 */
import {
  Access,
  connectQp,
  type Fabric,
  linkBytesPerSec,
  PortState,
  Prng,
  type Profile,
  QpType,
  SendFlags,
  type SendWr,
  type Srq,
  VerbsError,
  WcStatus,
  wcStatusName,
  WrOpcode,
} from "../../mod.ts";
import {
  type Ah,
  Cluster,
  type CompChannel,
  type Context,
  type Cq,
  type Domain,
  type Host,
  loadToolProfile,
  modeError,
  type Mr,
  type Pd,
  type Qp,
  realHost,
  ToolError,
  type Wc,
} from "./api.ts";
import {
  allSizes,
  cqModeration,
  defaultInline,
  LIMITS,
  type PerftestConfig,
} from "./perftest_args.ts";
import {
  type AddressLine,
  bandwidthReport,
  type BwRow,
  type HeaderInfo,
  latencyDurationReport,
  latencyReport,
  type LatRow,
  type PerftestResult,
} from "./perftest_stats.ts";
import { type CaptureFormat, startCapture } from "../../hca/capture.ts";
import type { QpInitAttr } from "../../drivers/verbs/pd.ts";
import {
  type CmQps,
  connectWithRdmaCm,
  openCommChannel,
  type PingpongDest,
} from "./perftest_cm.ts";
import { IBA_MTUS } from "../../hca/link.ts";
import { defaultJobs, runTasks, task } from "./pool.ts";

/**
 * Where and how a run happens (clock, waiting, concurrency).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PerftestEnv } from "./perftest_runner.ts";
 * import { Cluster } from "../../mod.ts";
 * // The simulation's environment, as runPerftest builds it: perftest's clock is virtual time.
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * cluster.addHost({ name: "node0", hypervisor: false });
 * await cluster.start();
 * const env: PerftestEnv = {
 *   now: () => cluster.now,
 *   sleep: (ns) => cluster.sleep(ns),
 *   spawn: (name, fn) => cluster.spawn(name, fn),
 *   after: (ns, fn) => cluster.engine.schedule(ns, fn),
 *   pollStepNs: 40,
 *   virtual: true,
 * };
 * const seen = await cluster.run(async () => {
 *   const t0 = env.now();
 *   const out: number[] = [];
 *   env.after(500, () => out.push(env.now() - t0)); // perftest's alarm()
 *   await env.sleep(1500);
 *   out.push(env.now() - t0);
 *   return out;
 * });
 * assert.deepEqual(seen, [500, 1500]); // to the nanosecond, whatever the machine
 * ```
 */
export interface PerftestEnv {
  /** Current time in ns (virtual or wall): perftest's cycle counter. */
  now(): number;
  /** Let time pass (virtual) or do nothing (real hardware: busy polling). */
  sleep(ns: number): Promise<void>;
  /** Run a concurrent process (the two sides of a ping-pong). */
  spawn<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** perftest's `alarm()`: call `fn` after `ns`. */
  after(ns: number, fn: () => void): void;
  /** Granularity of polling host memory for a peer's RDMA WRITE, ns. */
  pollStepNs: number;
  /** Virtual time? */
  virtual: boolean;
}

/**
 * How one point is measured: perftest's method, made explicit for tools
 * that compare methods (the paper, native-perf, xenib-perf).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type MeasurementMethod, measurementMethod } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * const bw: MeasurementMethod = measurementMethod(parsePerftestArgs(["ib_write_bw"]), 65536, 0);
 * assert.deepEqual(bw, {
 *   pattern: "stream",
 *   completion: "polled",
 *   signaledEvery: 1,
 *   inline: false,
 *   window: 128, // tx depth
 *   postList: 1,
 * });
 * const ev = measurementMethod(parsePerftestArgs(["ib_send_lat", "-e"]), 2, 220);
 * assert.deepEqual([ev.pattern, ev.completion, ev.inline], ["ping-pong", "event", true]);
 * assert.equal(
 *   measurementMethod(parsePerftestArgs(["ib_read_lat"]), 2, 220).pattern,
 *   "one-at-a-time",
 * );
 * ```
 */
export interface MeasurementMethod {
  /** Ping-pong (write/send lat), one at a time (read/atomic lat) or streaming (bw). */
  pattern: "ping-pong" | "one-at-a-time" | "stream";
  /** Busy polling of the CQ, or sleeping on the completion channel (`-e`). */
  completion: "polled" | "event";
  /** Every n-th send WR is signaled (CQ moderation). */
  signaledEvery: number;
  /** Sent inline (size ≤ max inline). */
  inline: boolean;
  /** WRs in flight per QP (tx depth). */
  window: number;
  /** WRs per post call. */
  postList: number;
}

/**
 * The method {@link measurePoint} uses for `config` at `size`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { measurementMethod } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * assert.deepEqual(measurementMethod(parsePerftestArgs(["ib_write_lat"]), 2, 220).inline, true);
 * ```
 */
export function measurementMethod(
  c: PerftestConfig,
  size: number,
  inline: number,
): MeasurementMethod {
  return {
    pattern: c.kind === "bw"
      ? "stream"
      : c.verb === "read" || c.verb === "atomic"
      ? "one-at-a-time"
      : "ping-pong",
    completion: c.events ? "event" : "polled",
    signaledEvery: c.kind === "bw" || c.verb === "send" ? cqModeration(c, size) : 1,
    inline: size <= inline && c.verb !== "read" && c.verb !== "atomic",
    window: c.kind === "bw" ? c.txDepth : 1,
    postList: c.kind === "bw" ? c.postList : 1,
  };
}

/**
 * Options of {@link runPerftest}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type RunPerftestOptions, runPerftest } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * const c = parsePerftestArgs(["ib_write_lat", "-n", "20"]);
 * c.sizes = [2, 64];
 * const seen: string[] = [];
 * const o: RunPerftestOptions = {
 *   jobs: 1, // sizes in order in this thread: onSize and onProgress for each
 *   onPreamble: () => seen.push("header"),
 *   onSize: (bytes, i, n) => seen.push(`size ${i + 1}/${n}: ${bytes}`),
 *   onRow: (r, i) => seen.push(`row ${r.lat[i].bytes}`), // streamed as each size ends
 *   onMeasured: () => seen.push("measured"),
 * };
 * await runPerftest(c, o);
 * // The first point is measured before its header is known; then one row per size.
 * assert.deepEqual(seen, ["size 1/2: 2", "header", "row 2", "size 2/2: 64", "row 64", "measured"]);
 * ```
 */
export interface RunPerftestOptions {
  /** Run on this cluster between these two domains instead of building a fresh cluster. */
  endpoints?: { cluster: Cluster; a: Domain; b: Domain; mode?: string };
  /** The profile already loaded (else `config.profile` is loaded). */
  profile?: Profile;
  /** Called before each message size is measured (on workers: before the first only). */
  onSize?: (bytes: number, index: number, count: number) => void;
  /** Called once the header is known (before the first size). */
  onPreamble?: (r: PerftestResult) => void;
  /** Called after each size with the result so far (its row is the `index`-th). */
  onRow?: (r: PerftestResult, index: number) => void;
  /** Called as messages complete within one size (every few hundred). */
  onProgress?: (done: number, total: number, bytes: number) => void;
  /** Called after the last size, before teardown. */
  onMeasured?: () => void;
  /** Capture every packet the test's HCAs send (pcap bytes in the result). */
  capture?: { format: CaptureFormat; ipv6?: boolean };
  /** `--mmap`: the file's bytes (the buffers start with them). */
  mmapBytes?: Uint8Array;
  /** Lines perftest prints outside the table (e.g. --wait_destroy's). */
  onLine?: (line: string) => void;
  /** `--run_infinitely` stops after this many rows (for tests; the CLI runs until interrupted). */
  infiniteReports?: number;
  /** Workers for the sizes of a run (default `config.jobs`, else one per core; 1: in order here). */
  jobs?: number;
  /** Where perftest's stderr lines go (default console.error). */
  onStderr?: (line: string) => void;
}

/** One endpoint's verbs objects. */
interface Side {
  dom: Domain;
  ctx: Context;
  pd: Pd;
  mrs: Mr[];
  /** Start of each QP's source region. */
  src: number[];
  /** Start of each QP's destination region (what the peer writes into / reads from). */
  dst: number[];
  /** Where each QP's receives land (SEND tests). */
  rcv: number[];
  sendCq: Cq;
  recvCq: Cq;
  sendCh?: CompChannel;
  recvCh?: CompChannel;
  srq?: Srq;
  qps: Qp[];
  ahs: Ah[];
  /** LID of `-i`'s port. */
  lid: number;
  /** Each QP's port (`-O`: the second half on port 2) and that port's LID. */
  ports: number[];
  lids: number[];
  psns: number[];
  /** Time this side's process spent asleep on a completion channel (cpu_util). */
  asleepNs: number;
  /** `-R`: the context and the QPs belong to the connection manager's ids. */
  cmOwned?: boolean;
  /** `-g`: the destination QP of this side's sends (QPNUM_MCAST), else the peer's QP. */
  remoteQpn?: number;
}

const QKEY = 0x11111111;
/** perftest's `DEF_IB_PORT2`: `-O`'s second port. */
const DUALPORT_PORT2 = 2;
/**
 * What every perftest 4.5-0.17 main prints when check_link (the ports, the link layer) or
 * check_mtu (the UD size) fails, before `return FAILURE` (src/write_lat.c … atomic_bw.c).
 */
const NO_CONTEXT = "Couldn't get context for the device";
/** The mains that also say {@link NO_CONTEXT} after verify_params_with_device_context fails. */
const VERIFY_PARAMS_SAYS_NO_CONTEXT: ReadonlySet<string> = new Set([
  "ib_write_lat",
  "ib_write_bw",
  "ib_atomic_bw",
]);
/** perftest's `portStates` names, by `ibv_port_state` (its table: index 4 is empty). */
const PERFTEST_PORT_STATES = ["Nop", "Down", "Init", "Armed", "", "Active Defer"];

/**
 * A link's name from a profile: `4X SDR (10 Gb/s signalling, 8 Gb/s data)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linkDescription } from "./perftest_runner.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * assert.equal(linkDescription(PCIX_SDR_2006), "4X SDR (10 Gb/s signalling, 8 Gb/s data)");
 * ```
 */
export function linkDescription(p: Profile): string {
  const lane = (p.link.laneSignalBytesPerSec * 8) / 1e9;
  const names: [number, string][] = [
    [2.5, "SDR"],
    [5, "DDR"],
    [10, "QDR"],
    [10.3125, "FDR10"],
    [14.0625, "FDR"],
    [25.78125, "EDR"],
    [53.125, "HDR"],
    [106.25, "NDR"],
    [212.5, "XDR"],
  ];
  const speed = names.find(([g]) => Math.abs(g - lane) < 0.01)?.[1] ?? `${lane} Gb/s/lane`;
  const sig = +(lane * p.link.width).toFixed(2);
  const data = +((linkBytesPerSec(p) * 8) / 1e9).toFixed(2);
  return `${p.link.width}X ${speed} (${sig} Gb/s signalling, ${data} Gb/s data)`;
}

/** Bytes of an MTU given either as bytes or as an `ibv_mtu` enum value. */
function mtuOf(v: unknown, fallback: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) return fallback;
  return n <= 5 ? 256 << (n - 1) : n;
}

/** `enum ibv_mtu` of a size in bytes (perftest prints the enum). */
function mtuEnum(bytes: number): number {
  return Math.log2(bytes) - 7;
}

/**
 * A completion with an error status in a test's loop (perftest's
 * `NOTIFY_COMP_ERROR_SEND`/`_RECV`): the program's `run_iter_*` fails.
 * Its name survives a worker's error report; see {@link runIterExitCode}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CompletionError } from "./perftest_runner.ts";
 * const e = new CompletionError("ib_send_lat 2 bytes: completion with error status RETRY_EXC_ERR");
 * assert.equal(e.name, "CompletionError");
 * ```
 */
export class CompletionError extends ToolError {
  /** @param message what failed, with the completion's status */
  constructor(message: string) {
    super(message);
    this.name = "CompletionError";
  }
}

/**
 * The exit status of a perftest 4.5-0.17 program whose `run_iter_*` failed, as each main()
 * returns it: `error = 17` where the program sets it before `goto free_mem` (send_lat.c,
 * read_lat.c and atomic_lat.c around `run_iter_lat*`; send_bw.c around `run_iter_bw`/`_bi`/
 * `_server`, but not `run_iter_bw_infinitely`; read_bw.c only in its `-a` loop, its
 * single-size branch leaves `error` at 1), `FAILURE` (1) everywhere else (write_bw.c,
 * write_lat.c and atomic_bw.c return `FAILURE` from every failure path).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runIterExitCode } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * const code = (...a: string[]) => runIterExitCode(parsePerftestArgs(a));
 * assert.deepEqual([code("ib_send_lat"), code("ib_read_lat"), code("ib_write_lat")], [17, 17, 1]);
 * assert.deepEqual([code("ib_read_bw", "-a"), code("ib_read_bw")], [17, 1]);
 * ```
 */
export function runIterExitCode(
  c: Pick<PerftestConfig, "verb" | "kind" | "all" | "runInfinitely">,
): number {
  if (c.kind === "lat") return c.verb === "write" ? 1 : 17;
  if (c.runInfinitely) return 1;
  if (c.verb === "send") return 17;
  return c.verb === "read" && c.all ? 17 : 1;
}

function check(wc: Wc, what: string): void {
  if (wc.status !== WcStatus.SUCCESS) {
    const name = wcStatusName(wc.status);
    throw new CompletionError(`${what}: completion with error status ${name} (wr_id ${wc.wrId})`);
  }
}

/** Wait for `n` completions: busy-poll (virtual time) or, with events, on the channel. */
async function waitCq(
  env: PerftestEnv,
  side: Side,
  cq: Cq,
  ch: CompChannel | undefined,
  n: number,
): Promise<Wc[]> {
  if (!ch) return await cq.pollUntil(n);
  const got: Wc[] = [];
  while (got.length < n) {
    const t0 = env.now();
    await ch.getEvent();
    side.asleepNs += env.now() - t0;
    cq.ackEvents(1);
    cq.reqNotify(false);
    got.push(...cq.poll(n - got.length));
  }
  return got;
}

/**
 * Where a receiver is in perftest's event loop: after an event,
 * `run_iter_bw_server` (perftest_resources.c) polls in batches
 * (`do { ibv_poll_cq } while (ne > 0)`) until the CQ is empty before it
 * waits for the next event. A sender (`run_iter_bw`) polls once per event.
 */
interface EventDrain {
  on: boolean;
}

/**
 * Wait for at least one completion (until `deadline`, virtual ns, if given),
 * then take what else is there (up to `max`): perftest's busy `ibv_poll_cq`
 * loop without burning an event per empty poll. With events and `drain`,
 * the batches after an event are taken without waiting for another one
 * (completions that came before the CQ was re-armed raise no event).
 */
async function waitSome(
  env: PerftestEnv,
  side: Side,
  cq: Cq,
  ch: CompChannel | undefined,
  max: number,
  deadline?: number,
  drain?: EventDrain,
): Promise<Wc[]> {
  if (ch) {
    if (drain?.on) {
      const more = cq.poll(max);
      if (more.length) return more;
      drain.on = false;
    }
    for (;;) {
      const t0 = env.now();
      await ch.getEvent();
      side.asleepNs += env.now() - t0;
      cq.ackEvents(1);
      cq.reqNotify(false);
      const got = cq.poll(max);
      if (got.length) {
        if (drain) drain.on = true;
        return got;
      }
    }
  }
  const now = cq.poll(max);
  if (now.length) return now;
  let first: Wc[];
  if (deadline !== undefined && env.virtual) {
    const left = deadline - env.now();
    if (left <= 0) return [];
    try {
      first = await cq.pollUntil(1, { timeoutNs: left });
    } catch (e) {
      if (e instanceof VerbsError && e.code === "ETIMEDOUT") return [];
      throw e;
    }
  } else first = await cq.pollUntil(1);
  const more = max > 1 ? cq.poll(max - 1) : [];
  return [...first, ...more];
}

/**
 * Guest memory needed for a run, MiB.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { guestMemoryMiB } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * // 2 × (8 MiB + a page) + 32 MiB is 49; a guest gets at least 64.
 * assert.equal(guestMemoryMiB(parsePerftestArgs(["ib_write_bw", "-a"])), 64);
 * assert.equal(guestMemoryMiB(parsePerftestArgs(["ib_write_bw", "-a", "-q", "4"])), 97);
 * ```
 */
export function guestMemoryMiB(config: PerftestConfig): number {
  const max = Math.max(...config.sizes);
  const region = Math.ceil((max + 64) / 4096) * 4096;
  return Math.max(64, Math.ceil((2 * config.qps * region) / 1048576) + 32);
}

/**
 * Two bare-metal hosts (native) or two Xen hosts with one guest each, as
 * perftest runs use them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildPair } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const native = await buildPair(parsePerftestArgs(["ib_write_lat"]), PCIX_SDR_2006);
 * assert.deepEqual([native.a.name, native.b.name], ["node0", "node1"]); // the hosts' own OS
 * const bypass = await buildPair(
 *   parsePerftestArgs(["ib_write_lat", "--mode", "bypass"]),
 *   PCIX_SDR_2006,
 * );
 * assert.deepEqual([bypass.a.name, bypass.b.name], ["vm0", "vm1"]); // a guest on each Xen host
 * assert.deepEqual(bypass.hosts.map((h) => h.name), ["node0", "node1"]);
 * ```
 */
export async function buildPair(
  config: PerftestConfig,
  profile: Profile,
  nomad = false,
): Promise<{ cluster: Cluster; a: Domain; b: Domain; hosts: Host[] }> {
  const cluster = new Cluster({ profile, seed: config.seed, noise: config.noise ?? "off", nomad });
  // -O: both ports of each HCA cabled to the switch (perftest needs port 2 ACTIVE).
  const ports = config.dualport ? 2 : 1;
  if (config.mode === "native") {
    const h0 = cluster.addHost({ name: "node0", hypervisor: false, ports });
    const h1 = cluster.addHost({ name: "node1", hypervisor: false, ports });
    await cluster.start();
    if (!h0.os || !h1.os) throw new ToolError("the library's bare-metal Host has no 'os' domain");
    return { cluster, a: h0.os, b: h1.os, hosts: [h0, h1] };
  }
  const memoryMiB = guestMemoryMiB(config);
  try {
    const h0 = cluster.addHost({ name: "node0", hypervisor: true, ports });
    const h1 = cluster.addHost({ name: "node1", hypervisor: true, ports });
    await cluster.start();
    const a = await h0.createGuest({ name: "vm0", memoryMiB, driver: config.mode });
    const b = await h1.createGuest({ name: "vm1", memoryMiB, driver: config.mode });
    return { cluster, a, b, hosts: [h0, h1] };
  } catch (e) {
    throw modeError(config.mode, e);
  }
}

/**
 * Run a perftest configuration and return its rows; rows are also handed
 * to `opts.onRow` as each size finishes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runPerftest } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * // Two bare-metal hosts of the default profile (pcix-sdr-2006), 2-byte RDMA WRITEs.
 * const r = await runPerftest(parsePerftestArgs(["ib_write_lat", "-n", "100", "--noise", "off"]));
 * assert.deepEqual([r.test, r.mode, r.clock], ["ib_write_lat", "native", "virtual"]);
 * assert.deepEqual([r.lat[0].bytes, r.lat[0].iterations], [2, 100]);
 * // µs, half a round trip on a 2006 HCA
 * assert.ok(r.lat[0].tTypical > 1 && r.lat[0].tTypical < 10);
 * assert.equal(r.lat[0].tStdev, 0); // virtual time, noise off: every round trip alike
 * ```
 */
export async function runPerftest(
  config: PerftestConfig,
  opts: RunPerftestOptions = {},
): Promise<PerftestResult & { pcap?: Uint8Array }> {
  if (config.device) return await runReal(config, opts);
  const profile = opts.profile ?? (await loadToolProfile(config.profile));
  if (!opts.endpoints && !config.runInfinitely) return await runPoints(config, profile, opts);
  let cluster: Cluster, a: Domain, b: Domain, mode: string;
  if (opts.endpoints) {
    ({ cluster, a, b } = opts.endpoints);
    mode = opts.endpoints.mode ?? config.mode;
  } else {
    ({ cluster, a, b } = await buildPair(config, profile));
    mode = config.mode;
  }
  const env = simulationEnv(cluster, profile);
  const tap = opts.capture
    ? startCapture(cluster.fabric, { format: opts.capture.format, ipv6: opts.capture.ipv6 })
    : undefined;
  try {
    const r = await cluster.run(() =>
      measure(config, env, a, b, {
        mode,
        link: linkDescription(profile),
        portMtuFallback: profile.link.mtu,
        fabric: cluster.fabric,
        hosts: cluster.hosts,
        sa: saOf(cluster),
        ...opts,
        profile: profile.name,
      })
    );
    return tap ? { ...r, pcap: tap.bytes().slice() } : r;
  } finally {
    tap?.stop();
  }
}

/** perftest's environment on a simulated cluster: the cycle counter is virtual time. */
function simulationEnv(cluster: Cluster, profile: Profile): PerftestEnv {
  return {
    now: () => cluster.now,
    sleep: (ns) => cluster.sleep(ns),
    spawn: (name, fn) => (cluster.spawn ? cluster.spawn(name, fn) : fn()),
    after: (ns, fn) => {
      cluster.engine.schedule(ns, fn);
    },
    pollStepNs: Math.max(1, profile.cpu.emptyPollNs),
    virtual: true,
  };
}

/**
 * The hypervisor and backend counters of `hosts`, summed (numbers only).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildPair, hostCounters } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const { hosts } = await buildPair(parsePerftestArgs(["ib_write_lat", "--mode", "bypass"]), PCIX_SDR_2006);
 * const c = hostCounters(hosts);
 * assert.ok(c.hypercalls > 0 && c.grantMaps > 0); // creating the guests crossed Xen
 * ```
 */
export function hostCounters(hosts: readonly Host[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const h of hosts) {
    const c = h.counters() as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(c)) {
      if (typeof v === "number") out[k] = (out[k] ?? 0) + v;
    }
  }
  return out;
}

/**
 * One measured point of a perftest run, as a worker computes it: what to
 * run (the parsed command line, the loaded profile) and which size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { measurePerftestPoint, type PointRequest } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const req: PointRequest = {
 *   config: parsePerftestArgs(["ib_write_lat", "-a", "-n", "20", "--noise", "off"]),
 *   profile: PCIX_SDR_2006,
 *   size: 64,
 * };
 * const p = await measurePerftestPoint(req);
 * assert.equal(p.sizes.length, 23); // the run's sizes, 2 … 2^23
 * assert.deepEqual(p.result.lat.map((r) => r.bytes), [64]); // this point's row only
 * ```
 */
export interface PointRequest {
  /** The run (its `sizes`, mode, seed, noise …), as parsed. */
  config: PerftestConfig;
  /** The profile, loaded. */
  profile: Profile;
  /** The size to measure (default the run's first). */
  size?: number;
  /** Capture the point's packets. */
  capture?: { format: CaptureFormat; ipv6?: boolean };
  /** `--mmap` bytes. */
  mmapBytes?: Uint8Array;
  /** Run the verbs libraries with Nomad's handle translation (`Cluster` option `nomad`). */
  nomad?: boolean;
}

/**
 * A measured point: perftest's header and this size's row, the run's
 * sizes, the raw timestamps and the method, and what crossed the
 * hypervisors while the size was measured.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { measurePerftestPoint, type PointOutcome } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const config = parsePerftestArgs(["ib_write_lat", "-n", "50", "--mode", "bypass"]);
 * const p: PointOutcome = await measurePerftestPoint({ config, profile: PCIX_SDR_2006 });
 * assert.equal(p.crossings.hypercalls, 0); // the fast path never entered Xen
 * assert.equal(p.crossings.evtchnSends, 0);
 * assert.equal(p.tposted.length, 50);
 * assert.equal(p.method.completion, "polled");
 * ```
 */
export interface PointOutcome {
  /** The header and exactly this point's row (and its -W counters, its remote row). */
  result: PerftestResult;
  /** The run's sizes (after perftest's rules against the port). */
  sizes: number[];
  /** How the point was measured. */
  method: MeasurementMethod;
  /** perftest's post timestamps (virtual ns). */
  tposted: number[];
  /** perftest's completion timestamps (bandwidth tests). */
  tcompleted: number[];
  /** Host counter changes while the size was measured (both hosts summed). */
  crossings: Record<string, number>;
  /** Lines perftest printed to stderr while setting up. */
  stderr: string[];
  /** The point's packets (with `capture`). */
  pcap?: Uint8Array;
}

/**
 * Measure one point of a run on its own freshly built and connected pair of
 * endpoints: the same setup for every size of the run (buffers sized for
 * its largest message, as perftest allocates them), then perftest's loop
 * for this size. A point depends only on its request, so the points of a
 * run give the same figures whether they run in order in one thread or on
 * several workers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { measurePerftestPoint } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const config = parsePerftestArgs(["ib_write_bw", "-s", "65536", "-n", "20", "--seed", "4"]);
 * const a = await measurePerftestPoint({ config, profile: PCIX_SDR_2006 });
 * const b = await measurePerftestPoint({ config, profile: PCIX_SDR_2006 });
 * assert.deepEqual(b.tcompleted, a.tcompleted); // noise on, same seed: the same samples
 * ```
 */
export async function measurePerftestPoint(
  req: PointRequest,
  onProgress?: (done: number, total: number, bytes: number) => void,
): Promise<PointOutcome> {
  const { config: c, profile } = req;
  const { cluster, a, b, hosts } = await buildPair(c, profile, req.nomad);
  const env = simulationEnv(cluster, profile);
  const stderr: string[] = [];
  let header: PerftestResult | undefined;
  const tap = req.capture
    ? startCapture(cluster.fabric, { format: req.capture.format, ipv6: req.capture.ipv6 })
    : undefined;
  try {
    const out = await cluster.run(async () => {
      const s = await openSession(c, env, a, b, {
        mode: c.mode,
        link: linkDescription(profile),
        portMtuFallback: profile.link.mtu,
        fabric: cluster.fabric,
        hosts: cluster.hosts,
        sa: saOf(cluster),
        profile: profile.name,
        mmapBytes: req.mmapBytes,
        onProgress,
        onStderr: (line) => stderr.push(line),
      });
      header = { ...s.result, lat: [], bw: [] };
      const size = req.size ?? s.sizes[0];
      if (!s.sizes.includes(size)) {
        throw new ToolError(`size ${size} is not one of the run's sizes (${s.sizes.join(", ")})`);
      }
      const result = s.result;
      const before = s.counters?.();
      const crossBefore = hostCounters(hosts);
      const p = await s.point(size);
      const crossAfter = hostCounters(hosts);
      if (c.kind === "lat") result.lat.push(p.row as LatRow);
      else {
        result.bw.push(p.row as BwRow);
        if (p.remote) result.bwRemote = [p.remote];
      }
      if (s.counters && before) {
        const after = s.counters();
        result.counters = [c.counters.map((n) => ({ name: n, value: after[n] - before[n] }))];
      }
      const crossings: Record<string, number> = {};
      for (const k of Object.keys(crossAfter)) crossings[k] = crossAfter[k] - (crossBefore[k] ?? 0);
      await s.close();
      return {
        result,
        sizes: s.sizes,
        method: p.method,
        tposted: p.tposted,
        tcompleted: p.tcompleted,
        crossings,
        stderr,
      };
    });
    return tap ? { ...out, pcap: tap.bytes().slice() } : out;
  } catch (e) {
    // perftest has printed its warnings by the time a resource fails: they go with the error,
    // and once the connection is up its header too (printed before run_iter starts).
    if (e instanceof Error) Object.assign(e, { perftestStderr: stderr, perftestHeader: header });
    throw e;
  } finally {
    tap?.stop();
  }
}

/**
 * A run of several sizes as independent points (each on its own pair, see
 * {@link measurePerftestPoint}): the first here, the others on `--jobs`
 * workers; rows are handed on in size order.
 */
async function runPoints(
  config: PerftestConfig,
  profile: Profile,
  opts: RunPerftestOptions,
): Promise<PerftestResult & { pcap?: Uint8Array }> {
  const req = (size?: number): PointRequest => ({
    config,
    profile,
    size,
    capture: opts.capture,
    mmapBytes: opts.mmapBytes,
  });
  opts.onSize?.(config.sizes[0], 0, config.sizes.length);
  const say = opts.onStderr ?? console.error;
  let first: PointOutcome;
  try {
    first = await measurePerftestPoint(req(), opts.onProgress);
  } catch (e) {
    const failed = e as { perftestStderr?: string[]; perftestHeader?: PerftestResult };
    for (const line of failed.perftestStderr ?? []) say(line);
    // A measurement that failed (run_iter_*): perftest had printed the header and the table's
    // head before its loop began (write_bw.c, write_lat.c).
    if (e instanceof CompletionError && failed.perftestHeader) {
      opts.onPreamble?.(failed.perftestHeader);
    }
    throw e;
  }
  for (const line of first.stderr) say(line);
  const result: PerftestResult = {
    ...first.result,
    lat: [],
    bw: [],
    bwRemote: undefined,
    counters: undefined,
  };
  if (!first.result.bwRemote) delete result.bwRemote;
  if (!first.result.counters) delete result.counters;
  opts.onPreamble?.(result);
  const pcaps: Uint8Array[] = [];
  const take = (p: PointOutcome, i: number) => {
    result.lat.push(...p.result.lat);
    result.bw.push(...p.result.bw);
    if (p.result.bwRemote) (result.bwRemote ??= []).push(...p.result.bwRemote);
    if (p.result.counters) (result.counters ??= []).push(...p.result.counters);
    if (p.pcap) pcaps.push(p.pcap);
    opts.onRow?.(result, i);
  };
  take(first, 0);
  const rest = first.sizes.slice(1);
  const jobs = Math.min(opts.jobs ?? config.jobs ?? defaultJobs(), Math.max(1, rest.length));
  if (jobs === 1) {
    for (const [k, size] of rest.entries()) {
      opts.onSize?.(size, k + 1, first.sizes.length);
      take(await measurePerftestPoint(req(size), opts.onProgress), k + 1);
    }
  } else {
    const here = new URL(import.meta.url);
    await runTasks(
      rest.map((size) => {
        const t = task(here, "measurePerftestPoint", req(size));
        const cost = pointCost(size, rest, jobs, config.duration);
        if (cost > 0) t.cost = cost;
        return t;
      }),
      { jobs, onResult: (k, p) => take(p as PointOutcome, k + 1) },
    );
  }
  opts.onMeasured?.();
  if (config.waitDestroy > 0) {
    opts.onLine?.(` Waiting ${config.waitDestroy} seconds before releasing resources...`);
  }
  return pcaps.length ? { ...result, pcap: mergePcaps(pcaps) } : result;
}

/**
 * The scheduling hint of one point of a run on `jobs` workers (never a
 * result: every point builds its own pair from its own seed). A point whose
 * payload is at least a `jobs`-th of all the points' (sizes × the same
 * iterations) starts first, largest first: with perftest's doubling sizes
 * the largest of `-a` (8 MiB) is half the run's payload, and started last,
 * as perftest's order would, it ran alone after the others (bypass `-a` on
 * two workers: 69 s, of which the 8 MiB point alone about 35). The rest
 * keep perftest's order (hint 0), so rows still print as they finish; the
 * large points, last in that order, print at the end either way. In
 * duration mode every point runs equally long: no hint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pointCost } from "./perftest_runner.ts";
 * const sizes = [4, 8, 16, 32, 64, 128]; // 252 bytes in all
 * assert.deepEqual(sizes.map((s) => pointCost(s, sizes, 2)), [0, 0, 0, 0, 0, 128]);
 * assert.deepEqual(sizes.map((s) => pointCost(s, sizes, 4)), [0, 0, 0, 0, 64, 128]);
 * assert.deepEqual(sizes.map((s) => pointCost(s, sizes, 2, 5)), [0, 0, 0, 0, 0, 0]);
 * ```
 */
export function pointCost(size: number, sizes: number[], jobs: number, duration?: number): number {
  if (duration !== undefined) return 0;
  let total = 0;
  for (const s of sizes) total += s;
  return size * jobs >= total ? size : 0;
}

/**
 * One pcap image from the points' images: the first whole, each next one's
 * records after the previous one's last (1 µs later), so that the file
 * reads as one run in size order; within a point the virtual times are
 * unchanged. The images are PcapWriter's (little-endian, ns magic).
 */
function mergePcaps(files: Uint8Array[]): Uint8Array {
  const HEADER = 24, RECORD = 16;
  const parts: Uint8Array[] = [files[0]];
  const timeAt = (dv: DataView, at: number) =>
    dv.getUint32(at, true) * 1e9 + dv.getUint32(at + 4, true);
  const lastTime = (f: Uint8Array) => {
    const dv = new DataView(f.buffer, f.byteOffset, f.length);
    let at = HEADER, t = 0;
    while (at + RECORD <= f.length) {
      t = timeAt(dv, at);
      at += RECORD + dv.getUint32(at + 8, true);
    }
    return t;
  };
  let end = lastTime(files[0]);
  for (const f of files.slice(1)) {
    const body = f.slice(HEADER);
    const dv = new DataView(body.buffer, body.byteOffset, body.length);
    if (body.length < RECORD) continue;
    const shift = end + 1000 - timeAt(dv, 0);
    let at = 0;
    while (at + RECORD <= body.length) {
      const t = timeAt(dv, at) + shift;
      dv.setUint32(at, Math.floor(t / 1e9), true);
      dv.setUint32(at + 4, t % 1e9, true);
      end = t;
      at += RECORD + dv.getUint32(at + 8, true);
    }
    parts.push(body);
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Things {@link measure} needs besides the config. */
interface MeasureInfo extends Omit<RunPerftestOptions, "profile"> {
  mode: string;
  profile: string;
  link: string;
  portMtuFallback: number;
  clock?: "virtual" | "wall";
  /** The fabric (GIDs, port counters), when simulated. */
  fabric?: Fabric;
  /** The cluster's hosts (Xen counters for -W). */
  hosts?: readonly Host[];
  /** The subnet's SA for `-g` (MCMemberRecord join and leave by port LID), when simulated. */
  sa?: MulticastSa;
}

/** What `-g` asks of the subnet administrator (perftest's `join_multicast_group` over umad). */
interface MulticastSa {
  /** SUBN_ADM_METHOD_SET: join the port of `lid`; the group's MLID. */
  join(mgid: Uint8Array, lid: number): Promise<number>;
  /** SUBN_ADM_METHOD_DELETE. */
  leave(mgid: Uint8Array, lid: number): Promise<void>;
}

/** The SA of a simulated cluster (its subnet manager), for {@link MulticastSa}. */
function saOf(cluster: Cluster): MulticastSa | undefined {
  const sm = cluster.subnetManager;
  if (!sm) return undefined;
  const port = (lid: number) => {
    const p = cluster.fabric.portByLid(lid);
    if (!p) throw new ToolError(`-g/--mcg: no port has LID ${lid}`);
    return p;
  };
  return {
    join: (mgid, lid) => sm.joinMulticast(mgid, port(lid)),
    leave: async (mgid, lid) => {
      await sm.leaveMulticast(mgid, port(lid));
    },
  };
}

/** perftest's MCG_GID (multicast_resources.h): the server's group; the client's ends in 1. */
const MCG_GID = [255, 1, 0, 0, 0, 2, 201, 133, 0, 0, 0, 0, 0, 0, 0, 0];
/** perftest's QPNUM_MCAST: the destination QP of a multicast send. */
const QPNUM_MCAST = 0xffffff;

/** One side's multicast group (perftest's `mcg_params` after its join and attach). */
interface McastGroup {
  mgid: Uint8Array;
  mlid: number;
}

/**
 * `-g` (send_bw.c / send_lat.c of perftest 4.5): the server joins its group
 * (MCG_GID, or `-M`) and attaches its QP; in a latency test the client does
 * the same with its own group (MCG_GID with the last byte + 1, or the same
 * `-M`). Each sender then joins the peer's group and sends to its MLID with
 * a GRH to its MGID and DestQP 0xFFFFFF. Returns each side's group and a
 * function that detaches and leaves as perftest's `send_destroy_ctx` does.
 */
async function joinMulticast(
  c: PerftestConfig,
  sa: MulticastSa | undefined,
  client: Side,
  server: Side,
): Promise<{ groups: Map<Side, McastGroup>; leave: () => Promise<void> }> {
  if (!sa) {
    throw new ToolError(
      "-g/--mcg: multicast needs a subnet administrator to join through (perftest sends an " +
        "SA MCMemberRecord over umad); xenib has one only on the simulated fabric",
    );
  }
  const serverGid = c.mgid ? c.mgid.slice() : new Uint8Array(MCG_GID);
  const clientGid = serverGid.slice();
  if (!c.mgid) clientGid[15]++;
  const joins: [Uint8Array, number][] = [];
  const attached: [Side, McastGroup][] = [];
  const join = async (mgid: Uint8Array, s: Side) => {
    let mlid: number;
    try {
      mlid = await sa.join(mgid, s.lids[0]);
    } catch (e) {
      throw new ToolError(
        `-g/--mcg: Couldn't Register the Mcast group on the SM (${(e as Error).message})`,
      );
    }
    joins.push([mgid, s.lids[0]]);
    return mlid;
  };
  const groups = new Map<Side, McastGroup>();
  const own = async (s: Side, mgid: Uint8Array) => {
    const g = { mgid, mlid: await join(mgid, s) };
    try {
      await s.qps[0].attachMcast(mgid, g.mlid);
    } catch (e) {
      throw new ToolError(
        `-g/--mcg: Couldn't attach QP to MultiCast group (${(e as Error).message})`,
      );
    }
    attached.push([s, g]);
    groups.set(s, g);
  };
  await own(server, serverGid);
  if (c.kind === "lat") await own(client, clientGid);
  // The senders join the group they send to, then address it.
  const toGroup = async (me: Side, peer: Side) => {
    const g = groups.get(peer)!;
    await join(g.mgid, me);
    await me.ahs[0].destroy();
    me.ahs[0] = await me.pd.createAh({
      dlid: g.mlid,
      portNum: me.ports[0],
      sl: c.sl,
      grh: {
        dgid: g.mgid,
        sgidIndex: c.gidIndex ?? 0,
        hopLimit: 0xff,
      },
    });
    me.remoteQpn = QPNUM_MCAST;
  };
  await toGroup(client, server);
  if (c.kind === "lat") await toGroup(server, client);
  return {
    groups,
    leave: async () => {
      for (const [s, g] of attached) await s.qps[0].detachMcast(g.mgid, g.mlid);
      for (const [mgid, lid] of joins) await sa.leave(mgid, lid);
    },
  };
}

/**
 * One measured point: perftest's raw timestamps and the statistics of them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   buildPair,
 *   openSession,
 *   type PerftestEnv,
 *   type PointResult,
 * } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const c = parsePerftestArgs(["ib_write_bw", "-n", "8"]);
 * const { cluster, a, b } = await buildPair(c, PCIX_SDR_2006);
 * const env: PerftestEnv = {
 *   now: () => cluster.now,
 *   sleep: (ns) => cluster.sleep(ns),
 *   spawn: (name, fn) => cluster.spawn(name, fn),
 *   after: (ns, fn) => cluster.engine.schedule(ns, fn),
 *   pollStepNs: 40,
 *   virtual: true,
 * };
 * const p: PointResult = await cluster.run(async () => {
 *   const s = await openSession(c, env, a, b, {
 *     mode: "native",
 *     profile: "p",
 *     link: "",
 *     portMtuFallback: 2048,
 *   });
 *   const point = await s.point(4096);
 *   await s.close();
 *   return point;
 * });
 * assert.equal(p.method.pattern, "stream");
 * // perftest's timestamps (virtual ns), one slot per message
 * assert.deepEqual([p.tposted.length, p.tcompleted.length], [8, 8]);
 * // Average bandwidth: all bytes over first post to last completion.
 * const span = (p.tcompleted[7] - p.tposted[0]) / 1e9;
 * assert.ok("avgBytesPerSec" in p.row);
 * assert.equal(Math.round(p.row.avgBytesPerSec), Math.round((8 * 4096) / span));
 * ```
 */
export interface PointResult {
  /** Message size. */
  bytes: number;
  /** How it was measured. */
  method: MeasurementMethod;
  /** perftest's `tposted` (cycles = virtual ns). */
  tposted: number[];
  /** perftest's `tcompleted` (bandwidth tests). */
  tcompleted: number[];
  /** The statistics (this side's report). */
  row: LatRow | BwRow;
  /** The peer's report (bidirectional tests). */
  remote?: BwRow;
}

/** A connected pair and everything a point needs. */
interface Session {
  c: PerftestConfig;
  env: PerftestEnv;
  A: Side;
  B: Side;
  inline: number;
  onProgress?: (done: number, total: number, bytes: number) => void;
  /** `--run_infinitely`: each interval's row. */
  onInfiniteRow?: (row: BwRow) => void;
  /** `--run_infinitely`: stop after this many rows (tests). */
  infiniteReports?: number;
  /** Streaming senders still running (a -D receiver keeps receiving until they drain). */
  activeSenders?: number;
  /**
   * `ib_send_bw -b` (run_iter_bi), by side index (0: the client, 1: the server): receive
   * completions taken so far, and whether the side's receiver has taken all it waits for.
   */
  biRecv?: { got: [number, number]; done: [boolean, boolean] };
}

/**
 * Open devices on both domains, check what perftest checks against the
 * device and port (`-d`, `-i`, `-X`, MTU, outstanding reads, P_Key index,
 * GID index, UD size), set up PD/MR/CQ/QP on both sides and connect them:
 * a {@link PerftestSession}. Inside `cluster.run` for the simulation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildPair, openSession } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const c = parsePerftestArgs(["ib_send_lat", "-n", "20"]);
 * const { cluster, a, b } = await buildPair(c, PCIX_SDR_2006);
 * const env = {
 *   now: () => cluster.now,
 *   sleep: (ns: number) => cluster.sleep(ns),
 *   spawn: <T>(n: string, f: () => Promise<T>) => cluster.spawn(n, f),
 *   after: (ns: number, f: () => void) => {
 *     cluster.engine.schedule(ns, f);
 *   },
 *   pollStepNs: 40,
 *   virtual: true,
 * };
 * const p = await cluster.run(async () => {
 *   const s = await openSession(c, env, a, b, {
 *     mode: "native",
 *     profile: "p",
 *     link: "4X SDR",
 *     portMtuFallback: 2048,
 *   });
 *   const point = await s.point(64);
 *   await s.close();
 *   return point;
 * });
 * assert.equal(p.tposted.length, 20); // perftest's tposted: one per iteration
 * assert.equal(p.method.pattern, "ping-pong");
 * ```
 */
export async function openSession(
  config: PerftestConfig,
  env: PerftestEnv,
  a: Domain,
  b: Domain,
  info: MeasureInfo,
): Promise<PerftestSession> {
  const c = config;
  const notes: string[] = [];
  const say = (line: string, stream: "stdout" | "stderr") => {
    if (stream === "stdout") notes.push(line);
    else (info.onStderr ?? console.error)(line);
  };
  for (const n of c.notices) {
    // perftest's printf(RESULT_LINE) goes to stdout, whatever stream the text after it takes.
    if (n.resultLine) say("-".repeat(87), "stdout");
    say(n.xenib ? `perftest: ${n.text}` : n.text, n.stream);
  }
  // ctx_find_dev: -d names the device, else the first.
  const devices = a.devices();
  const devName = c.ibDev ?? devices[0];
  if (c.ibDev !== undefined && !devices.includes(c.ibDev)) {
    throw new ToolError(
      `-d/--ib-dev: IB device ${c.ibDev} not found (devices: ${
        devices.join(", ") || "none"
      }); Unable to find the Infiniband/RoCE device`,
    );
  }
  const probe = await a.openDevice(devName);
  const dattr = probe.queryDevice();
  // perftest's order: verify_params_with_device_context (the vector), check_link (ports,
  // inline, outstanding reads, P_Key index), then check_mtu (MTU, UD size).
  const compVectors = (probe as unknown as { file?: { numCompVectors?: number } }).file
    ?.numCompVectors ?? 1;
  if (c.events && (c.eqNum ?? 0) > compVectors) {
    await probe.close();
    // perftest 4.5-0.17: write_lat.c, write_bw.c and atomic_bw.c follow a failed
    // verify_params_with_device_context with NO_CONTEXT; the other five mains return silently.
    const said = VERIFY_PARAMS_SAYS_NO_CONTEXT.has(c.test) ? `; ${NO_CONTEXT}` : "";
    throw new ToolError(
      `-X/--vector: Completion vector specified is invalid; Max completion vector = ${
        compVectors - 1
      }${said}`,
    );
  }
  const portCount = Number(dattr.physPortCnt ?? 1);
  if (c.ibPort > portCount) {
    await probe.close();
    throw new ToolError(
      `-i/--ib-port: Unable to query port ${c.ibPort} attributes (${devName} has ${portCount} port${
        portCount === 1 ? "" : "s"
      }); Couldn't set the link layer; ${NO_CONTEXT}`,
    );
  }
  const port = probe.queryPort(c.ibPort);
  if (c.dualport) {
    // check_link: port 2 must exist and be ACTIVE (perftest_parameters.c, its messages).
    if (portCount < 2) {
      await probe.close();
      throw new ToolError(
        `-O/--dualport: Unable to query port ${DUALPORT_PORT2} attributes (${devName} has ${portCount} port); Couldn't set the link layer; ${NO_CONTEXT}`,
      );
    }
    const p2 = probe.queryPort(DUALPORT_PORT2);
    if (p2.state !== PortState.ACTIVE) {
      await probe.close();
      throw new ToolError(
        `-O/--dualport: Port number ${DUALPORT_PORT2} state is ${
          PERFTEST_PORT_STATES[p2.state] ?? p2.state
        }; Couldn't set the link layer; ${NO_CONTEXT}`,
      );
    }
  }
  await probe.close();
  // create_comm_struct, after check_link and before check_mtu (perftest 4.5-0.17 src/write_lat.c
  // … main): counters_open fails on a name the port does not have (perftest_counters.c), then
  // " Unable to access performance counters" and the main's " Unable to create RDMA_CM
  // resources", FAILURE.
  const unknown = c.counters.find((n) => !KNOWN_COUNTERS.includes(n));
  if (unknown !== undefined) {
    throw new ToolError(
      `-W/--report-counters: no counter '${unknown}' here (known: ${
        KNOWN_COUNTERS.join(", ")
      }); Unable to access performance counters; Unable to create RDMA_CM resources`,
    );
  }
  const inline = c.verb === "read" || c.verb === "atomic"
    ? 0
    : c.inlineSize ?? defaultInline(c.verb, c.kind, c.connection);
  let outReads = 1;
  if (c.verb === "read" || c.verb === "atomic") {
    const max = Number(dattr.maxQpRdAtom ?? 1);
    outReads = c.outReads ?? 0;
    if (outReads > max) {
      say("-".repeat(87), "stdout");
      say(` Number of outstanding reads is above max = ${max}`, "stderr");
      say(` Changing to that max value`, "stderr");
      outReads = max;
    } else if (outReads <= 0) outReads = max;
  }
  let pkeyIndex = c.pkeyIndex;
  if (pkeyIndex > 0) {
    const maxPkeys = Number(dattr.maxPkeys ?? 1);
    if (pkeyIndex > maxPkeys - 1) {
      say("-".repeat(87), "stdout");
      say(
        ` Specified PKey Index, ${pkeyIndex}, greater than allowed max, ${maxPkeys - 1}`,
        "stderr",
      );
      say(` Changing to 0`, "stderr");
      pkeyIndex = 0;
    }
  }
  const activeMtu = mtuOf(port.activeMtu, info.portMtuFallback);
  // set_mtu: 0 is "the port's"; an invalid one is warned about and replaced.
  let mtu = activeMtu;
  if (c.mtu !== undefined && c.mtu !== 0) {
    if (!IBA_MTUS.includes(c.mtu)) {
      say(` Invalid MTU - ${c.mtu} `, "stderr");
      say(` Please choose mtu from {256,512,1024,2048,4096}`, "stderr");
      say(` Will run with the port active mtu - ${mtuEnum(activeMtu)}`, "stderr");
    } else mtu = c.mtu;
    if (mtu > activeMtu) {
      say(`Requested mtu is higher than active mtu `, "stdout");
      say(`Changing to active mtu - ${mtuEnum(activeMtu)}`, "stdout");
      mtu = activeMtu;
    }
  }
  let sizes = [...c.sizes];
  if (c.connection === "UD") {
    const max = c.all ? LIMITS.allMaxSize : sizes[0];
    if (max > mtu) {
      if (c.all || !c.sizeGiven) {
        say(` Max msg size in UD is MTU ${mtu}`, "stderr");
        say(` Changing to this MTU`, "stderr");
        sizes = c.all ? allSizes(mtu) : [mtu];
      } else {
        throw new ToolError(
          // check_mtu fails; every main then says NO_CONTEXT and returns FAILURE.
          `-s/--size ${
            sizes[0]
          }: Max message size in UD cannot be greater than MTU (${mtu}); ${NO_CONTEXT}`,
        );
      }
    }
  }
  if (c.gidIndex !== undefined) {
    const len = Number(port.gidTblLen ?? 1);
    if (c.gidIndex >= len) {
      // set_up_connection fails on ibv_query_gid; the send tests' send_set_up_connection says so,
      // then every main (perftest 4.5-0.17 src/write_lat.c …): " Unable to set up socket
      // connection", and FAILURE.
      const said = c.verb === "send" ? "; Unable to set up my IB connection parameters" : "";
      throw new ToolError(
        `-x/--gid-index ${c.gidIndex}: the port has ${len} GID${
          len === 1 ? "" : "s"
        } (ibv_query_gid fails)${said}; Unable to set up socket connection`,
      );
    }
  }
  const maxSize = Math.max(...sizes);
  // Knuth's multiplicative hash of the seed, in exact 32-bit arithmetic: a bijection, so two
  // seeds never share buffers and PSNs (a float product above 2^53 loses its low bits, and
  // seeds 4294602504 and 4294967293 did). Up to 3,393,263 the float product was exact: those
  // seeds draw what they drew before.
  const prng = new Prng(Math.imul(c.seed, 2654435761) >>> 0);
  const A = await setupSide(c, a, maxSize, inline, devName, prng, info.mmapBytes);
  const B = await setupSide(c, b, maxSize, inline, devName, prng, info.mmapBytes);
  if (info.mmapBytes) {
    // perftest_resources.c create_single_mr → pp_init_mmap: on stdout, before the header, once
    // per MR (one, or one per QP with --mr_per_qp), "allocated mmap buffer of size %zu at %p"
    // with alloc_ctx's ctx->buff_size and the mapping's address (here the buffer's).
    const me = c.reversed ? B : A;
    const bytes = mmapBufferSize(c, maxSize);
    for (let q = 0; q < (c.mrPerQp ? c.qps : 1); q++) {
      notes.push(`allocated mmap buffer of size ${bytes} at 0x${me.src[q].toString(16)}`);
    }
  }
  const gidOf = (s: Side) => info.fabric?.portByLid(s.lid)?.gid;
  // -z/-R: perftest's exchange goes over an rdma_cm connection (A the client, B the server).
  const comm = c.commRdmaCm ? await openCommChannel(c, a, b, env.spawn) : undefined;
  let cmQps: CmQps | undefined;
  if (c.rdmaCm) {
    cmQps = await connectWithRdmaCm(
      c,
      { dom: a, pd: A.pd, init: A.init, qps: A.qps },
      { dom: b, pd: B.pd, init: B.init, qps: B.qps },
      env.spawn,
      outReads,
    );
  }
  if (comm) {
    // ctx_hand_shake per QP: the peers learn each other's QP, PSN, R_Key and address.
    for (let q = 0; q < c.qps; q++) {
      const dest = (s: Side): PingpongDest => ({
        lid: s.lid,
        outReads,
        qpn: s.qps[q].qpNum,
        psn: s.psns[q],
        rkey: s.mrs[c.mrPerQp ? q : 0].rkey,
        vaddr: BigInt(s.dst[q]),
      });
      const [atA, atB] = await comm.exchange(dest(A), dest(B));
      if (atA.qpn !== B.qps[q].qpNum || atB.qpn !== A.qps[q].qpNum) {
        throw new ToolError("rdma_cm: Failed to exchange data between server and clients");
      }
    }
  }
  if (!c.rdmaCm) {
    await connect(c, A, B, mtu, outReads, pkeyIndex, gidOf(B), c.dlid);
    await connect(c, B, A, mtu, outReads, pkeyIndex, gidOf(A));
  }
  const mcast = c.mcg ? await joinMulticast(c, info.sa, A, B) : undefined;

  // ctx_print_pingpong_data: a side attached to a group shows its MLID, QPNUM_MCAST and the
  // MGID (my_dest after send_set_up_connection), which the server's line (on the client, the
  // remote one) labels MGID.
  const addr = (s: Side, remote: boolean): AddressLine[] =>
    s.qps.map((qp, q) => {
      const g = mcast?.groups.get(s);
      return {
        lid: g ? g.mlid : remote && c.dlid ? c.dlid : s.lids[q],
        qpn: g ? QPNUM_MCAST : qp.qpNum,
        psn: s.psns[q],
        outReads,
        rkey: s.mrs[c.mrPerQp ? q : 0].rkey,
        vaddr: BigInt(s.dst[q]),
        gid: g ? g.mgid : c.gidIndex !== undefined ? gidOf(s) : undefined,
        ...(c.mcg && s === B ? { gidLabel: "MGID" as const } : {}),
      };
    });
  const headerInfo: HeaderInfo = {
    bidirectional: c.bidirectional,
    postList: c.postList,
    recvPostList: c.recvPostList,
    rxDepth: c.rxDepth,
    useSrq: c.useSrq,
    cqMod: cqModeration(c, sizes[0]),
    gidIndex: c.gidIndex,
    outReads,
    eqNum: c.eqNum ?? 0,
    pcieRelaxed: !c.disablePcieRelaxed,
    duration: c.duration !== undefined,
    cycles: c.reportCycles,
    cpuUtil: c.cpuUtil,
    // The bw programs print --report-both's blocks in their RUN_REGULAR branch only, never for -a.
    reportBoth: c.reportBoth && c.bidirectional && !c.all,
    dualport: c.dualport,
    // atomic_bw.c prints the usual rules and head even with --report-per-port (its rows are wide).
    reportPerPort: c.reportPerPort && c.verb !== "atomic",
    multicast: c.mcg,
    output: c.output,
    local: addr(c.reversed ? B : A, false),
    remote: addr(c.reversed ? A : B, true),
    rdmaCm: c.rdmaCm,
    commRdmaCm: c.commRdmaCm,
    tos: c.tos,
  };
  const result: PerftestResult = {
    test: c.test,
    verb: c.verb,
    kind: c.kind,
    connection: c.connection,
    mode: info.mode,
    profile: info.profile,
    seed: c.seed,
    device: devName ?? "hca0",
    mtu,
    link: info.link,
    inlineSize: inline,
    txDepth: c.txDepth,
    qps: c.qps,
    events: c.events,
    atomicType: c.verb === "atomic" ? c.atomicType : undefined,
    clock: info.clock ?? "virtual",
    reportGbits: c.reportGbits,
    notes,
    lat: [],
    bw: [],
    info: headerInfo,
  };
  const session: Session = {
    c,
    env,
    A,
    B,
    inline,
    onProgress: info.onProgress,
    infiniteReports: info.infiniteReports,
    onInfiniteRow: (row) => {
      result.bw.push(row);
      info.onRow?.(result, result.bw.length - 1);
    },
  };
  return {
    result,
    sizes,
    method: (size) => measurementMethod(c, size, inline),
    point: (size) => measurePoint(session, size),
    counters: counterReader(c, info, A),
    close: async () => {
      await mcast?.leave();
      await cmQps?.close();
      await teardown(A);
      await teardown(B);
      await comm?.close();
    },
  };
}

/**
 * A connected pair ready to measure: perftest's header for it, the sizes
 * the run covers (after perftest's UD/MTU rules), and one measured point
 * per call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import {
 *   buildPair,
 *   openSession,
 *   type PerftestEnv,
 *   type PerftestSession,
 * } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * // -a over UD: perftest caps the sizes at the port's MTU, and says so on stderr.
 * const c = parsePerftestArgs(["ib_send_lat", "-c", "UD", "-a", "-n", "5"]);
 * const { cluster, a, b } = await buildPair(c, PCIX_SDR_2006);
 * const env: PerftestEnv = {
 *   now: () => cluster.now,
 *   sleep: (ns) => cluster.sleep(ns),
 *   spawn: (name, fn) => cluster.spawn(name, fn),
 *   after: (ns, fn) => cluster.engine.schedule(ns, fn),
 *   pollStepNs: 40,
 *   virtual: true,
 * };
 * const stderr: string[] = [];
 * const error = console.error;
 * console.error = (line: string) => void stderr.push(line);
 * try {
 *   await cluster.run(async () => {
 *     const s: PerftestSession = await openSession(c, env, a, b, {
 *       mode: "native",
 *       profile: "p",
 *       link: "",
 *       portMtuFallback: 2048,
 *     });
 *     assert.deepEqual(s.sizes, [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]);
 *     assert.equal(s.result.lat.length, 0); // the header only, until points are measured
 *     const big = await s.point(2048);
 *     assert.equal(big.bytes, 2048);
 *     await s.close();
 *   });
 * } finally {
 *   console.error = error;
 * }
 * assert.deepEqual(stderr, [" Max msg size in UD is MTU 2048", " Changing to this MTU"]);
 * ```
 */
export interface PerftestSession {
  /** The header (no rows yet): what `formatPreamble` prints. */
  readonly result: PerftestResult;
  /** Sizes of the run, after perftest's rules against the port. */
  readonly sizes: number[];
  /** How `point(size)` measures. */
  method(size: number): MeasurementMethod;
  /** Measure one size: perftest's loop, its timestamps and statistics. */
  point(size: number): Promise<PointResult>;
  /** `-W`: the named counters now (undefined without -W). */
  counters?: () => Record<string, number>;
  /** Destroy both sides' QPs, CQs, MRs, PDs and contexts. */
  close(): Promise<void>;
}

/**
 * The measurement itself, given an environment and two domains (inside
 * `cluster.run` for the simulation): a session, every size, the rows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildPair, measure } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const c = parsePerftestArgs(["ib_read_lat", "-n", "10"]);
 * const { cluster, a, b } = await buildPair(c, PCIX_SDR_2006);
 * const env = {
 *   now: () => cluster.now,
 *   sleep: (ns: number) => cluster.sleep(ns),
 *   spawn: <T>(n: string, f: () => Promise<T>) => cluster.spawn(n, f),
 *   after: (ns: number, f: () => void) => {
 *     cluster.engine.schedule(ns, f);
 *   },
 *   pollStepNs: 40,
 *   virtual: true,
 * };
 * const r = await cluster.run(() =>
 *   measure(c, env, a, b, {
 *     mode: "native",
 *     profile: "pcix-sdr-2006",
 *     link: "4X SDR",
 *     portMtuFallback: 2048,
 *   })
 * );
 * assert.deepEqual([r.lat.length, r.lat[0].iterations], [1, 10]);
 * ```
 */
export async function measure(
  config: PerftestConfig,
  env: PerftestEnv,
  a: Domain,
  b: Domain,
  info: MeasureInfo,
): Promise<PerftestResult> {
  const c = config;
  const session = await openSession(config, env, a, b, info);
  const { result, sizes, counters } = session;
  info.onPreamble?.(result);
  for (let i = 0; i < sizes.length; i++) {
    const size = sizes[i];
    info.onSize?.(size, i, sizes.length);
    const before = counters?.();
    const p = await session.point(size);
    if (c.runInfinitely) break; // its rows went out as they came (until interrupted)
    if (c.kind === "lat") result.lat.push(p.row as LatRow);
    else {
      result.bw.push(p.row as BwRow);
      if (p.remote) (result.bwRemote ??= []).push(p.remote);
    }
    if (counters && before) {
      const after = counters();
      (result.counters ??= []).push(
        c.counters.map((n) => ({ name: n, value: after[n] - before[n] })),
      );
    }
    info.onRow?.(result, i);
  }
  info.onMeasured?.();
  if (c.waitDestroy > 0) {
    info.onLine?.(` Waiting ${c.waitDestroy} seconds before releasing resources...`);
    await env.sleep(c.waitDestroy * 1e9);
  }
  await session.close();
  return result;
}

/** Counter names `-W` knows: the port's sysfs counters and the host's Xen counters. */
const KNOWN_COUNTERS: readonly string[] = [
  "counters/port_xmit_packets",
  "counters/port_rcv_packets",
  "counters/port_xmit_data",
  "counters/port_rcv_data",
  "counters/port_xmit_discards",
  "counters/port_rcv_switch_relay_errors",
  "xen/hypercalls",
  "xen/evtchn_sends",
  "xen/backend_requests",
  "xen/grant_maps",
];

/** `-W`: a reader of the named counters at A's port and host. */
function counterReader(
  c: PerftestConfig,
  info: MeasureInfo,
  A: Side,
): (() => Record<string, number>) | undefined {
  if (c.counters.length === 0) return undefined;
  const port = info.fabric?.portByLid(A.lid);
  // `os` exists on bare metal only, `dom0` on Xen only (each getter throws on the other kind).
  const host = info.hosts?.find((h) =>
    h.isXen ? h.dom0 === A.dom || (h.guests as readonly Domain[]).includes(A.dom) : h.os === A.dom
  );
  if (!port) {
    throw new ToolError("-W/--report-counters: no simulated port to read counters from");
  }
  return () => {
    const pc = port.counters;
    const hc = host?.counters();
    return {
      "counters/port_xmit_packets": pc.xmitPkts,
      "counters/port_rcv_packets": pc.rcvPkts,
      // PortXmitData/PortRcvData count 4-byte words (IBTA 16.1.3.5).
      "counters/port_xmit_data": Math.floor(pc.xmitBytes / 4),
      "counters/port_rcv_data": Math.floor(pc.rcvBytes / 4),
      "counters/port_xmit_discards": pc.xmitDiscards,
      "counters/port_rcv_switch_relay_errors": pc.rcvSwitchRelayErrors,
      "xen/hypercalls": hc?.hypercalls ?? 0,
      "xen/evtchn_sends": hc?.evtchnSends ?? 0,
      "xen/backend_requests": hc?.backendRequests ?? 0,
      "xen/grant_maps": hc?.grantMaps ?? 0,
    };
  };
}

async function setupSide(
  c: PerftestConfig,
  dom: Domain,
  maxSize: number,
  inline: number,
  deviceName: string | undefined,
  prng: Prng,
  mmapBytes?: Uint8Array,
): Promise<Side & { init: QpInitAttr }> {
  // -R: the resources live on the connection manager's context (perftest: ctx.context =
  // cma_id->verbs), and the QPs are created on the ids as they connect.
  const ctx = c.rdmaCm ? await dom.rdmaCm.context() : await dom.openDevice(deviceName);
  const lid = Number(ctx.queryPort(c.ibPort).lid ?? 0);
  // perftest's set_up_connection / ctx_modify_qp_to_init: with -O, QPs q < num_of_qps / 2 on
  // ib_port, the others on ib_port2.
  const ports = Array.from(
    { length: c.qps },
    (_, q) => c.dualport && q >= c.qps / 2 ? DUALPORT_PORT2 : c.ibPort,
  );
  const lids = ports.map((p) => p === c.ibPort ? lid : Number(ctx.queryPort(p).lid ?? 0));
  const pd = await ctx.allocPd();
  // perftest's buffers (alloc_ctx, create_mr): ctx->buff_size bytes, page-aligned (memalign by
  // cycle_buffer), one for every QP or, with --mr_per_qp, one per QP, each its own MR.
  const total = mmapBufferSize(c, maxSize);
  const bases: number[] = [];
  for (let k = 0; k < (c.mrPerQp ? c.qps : 1); k++) {
    let base: number;
    try {
      base = dom.memory.alloc(total, 4096);
    } catch (e) {
      throw new ToolError(
        `${dom.name}: cannot allocate ${total} bytes of buffers (${
          (e as Error).message
        }); give the domain more memory`,
      );
    }
    if (mmapBytes) dom.memory.write(base, mmapBytes.subarray(0, total));
    else if (!(c.verb === "write" && c.kind === "lat")) {
      // perftest fills its buffers with rand() bytes, except write_lat's (zeros).
      // Above 64 MiB only the start: the bytes change no timing, and untouched
      // simulated memory costs nothing.
      dom.memory.write(base, prng.fill(new Uint8Array(Math.min(total, 64 << 20))));
    }
    bases.push(base);
  }
  const access = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ |
    Access.REMOTE_ATOMIC;
  const { src, dst, rcv } = perftestBufferLayout(c, maxSize, bases);
  const mrs: Mr[] = [];
  for (const base of bases) mrs.push(await pd.regMr(base, total, access));
  const sendCh = c.events ? ctx.createCompChannel() : undefined;
  const recvCh = c.events ? ctx.createCompChannel() : undefined;
  const vector = c.events ? c.eqNum ?? 0 : 0;
  const rx = c.verb === "send" ? c.rxDepth : 1;
  const txDepth = Math.max(1, c.txDepth);
  // ctx_init's failures print the step's line, then the program's " Couldn't create IB
  // resources" (perftest_resources.c create_reg_cqs / create_reg_qp_main, send_bw.c …).
  const ibResources = (step: string, e: unknown): ToolError =>
    new ToolError(`${step} Couldn't create IB resources (${(e as Error).message})`);
  const sendCq = await ctx.createCq(Math.max(16, txDepth * c.qps + 1), {
    channel: sendCh,
    compVector: vector,
  }).catch((e) => {
    throw ibResources("Couldn't create CQ.", e);
  });
  const recvCq = await ctx.createCq(Math.max(16, rx * c.qps + 1), {
    channel: recvCh,
    compVector: vector,
  }).catch((e) => {
    throw ibResources("Couldn't create a receiver CQ.", e);
  });
  const srq = c.useSrq ? await pd.createSrq({ maxWr: rx, maxSge: 1 }) : undefined;
  const type = QpType[c.connection];
  const init: QpInitAttr = {
    type,
    sendCq,
    recvCq,
    srq,
    cap: {
      maxSendWr: txDepth,
      maxRecvWr: Math.max(1, rx),
      maxSendSge: 1,
      maxRecvSge: 1,
      maxInlineData: inline,
    },
  };
  const qps: Qp[] = [];
  for (let q = 0; q < c.qps && !c.rdmaCm; q++) {
    try {
      qps.push(await pd.createQp(init));
    } catch (e) {
      throw ibResources("Unable to create QP. Failed to create QP.", e);
    }
  }
  if (c.events) {
    sendCq.reqNotify(false);
    recvCq.reqNotify(false);
  }
  return {
    dom,
    ctx,
    pd,
    mrs,
    src,
    dst,
    rcv,
    sendCq,
    recvCq,
    sendCh,
    recvCh,
    srq,
    qps,
    ahs: [],
    lid,
    ports,
    lids,
    // perftest: lrand48() & 0xffffff.
    psns: Array.from({ length: c.qps }, () => prng.int(0x1000000)),
    asleepNs: 0,
    init,
    ...(c.rdmaCm ? { cmOwned: true } : {}),
  };
}

/**
 * perftest's `ctx->buff_size` (perftest_resources.c alloc_ctx) for a largest message of `size`:
 * `INC(BUFF_SIZE(size, cycle_buffer), cache_line_size) * 2 * num_of_qps_factor * flows`, plus a
 * cache line on UD; `cycle_buffer` is the 4 KiB page, `cache_line_size` 64, `flows` 1, and
 * `num_of_qps_factor` 1 with `--mr_per_qp`, else the number of QPs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mmapBufferSize } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * assert.equal(mmapBufferSize(parsePerftestArgs(["ib_read_lat"]), 2), 8192);
 * assert.equal(mmapBufferSize(parsePerftestArgs(["ib_send_bw", "-c", "UD", "-q", "2"]), 2048), 16448);
 * assert.equal(mmapBufferSize(parsePerftestArgs(["ib_write_bw", "-s", "5000"]), 5000), 10112);
 * ```
 */
export function mmapBufferSize(
  c: Pick<PerftestConfig, "qps" | "mrPerQp" | "connection">,
  size: number,
): number {
  const cycleBuffer = 4096, cacheLine = 64;
  const b = size < cycleBuffer ? cycleBuffer : size;
  const inc = b > cacheLine ? Math.ceil(b / cacheLine) * cacheLine : cacheLine;
  return inc * 2 * (c.mrPerQp ? 1 : c.qps) + (c.connection === "UD" ? cacheLine : 0);
}

/**
 * Where perftest's QPs send from, what they publish to their peer and where their receives land,
 * in `bases` (one buffer of {@link mmapBufferSize} bytes, or one per QP with `--mr_per_qp`). With
 * `B` = `BUFF_SIZE(size, cycle_buffer)`, the larger of the largest message and the 4 KiB page:
 * QP i sends from `buf[i]` = base + i·B (perftest_resources.c create_mr, ctx_set_send_reg_wqes),
 * publishes base + (num_of_qps + i)·B as the address its peer writes to or reads from
 * (perftest_communication.c set_up_connection, `my_dest[i].vaddr`) and receives at
 * base + (num_of_qps + i)·`send_qp_buff_size` (ctx_set_recv_wqes; `send_qp_buff_size` is
 * `INC(B, cache_line_size)`). With `--mr_per_qp` QP i sends from and receives at its buffer's
 * start and publishes start + B. On UD a receive starts `cache_line_size - UD_ADDITION` = 24 bytes
 * on, so that the payload after the 40-byte GRH begins a cache line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { perftestBufferLayout } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * const l = perftestBufferLayout(parsePerftestArgs(["ib_write_bw", "-q", "2"]), 65536, [0x10000]);
 * assert.deepEqual(l.src, [0x10000, 0x20000]);
 * assert.deepEqual(l.dst, [0x30000, 0x40000]); // (num_of_qps + i) × 64 KiB on
 * const ud = perftestBufferLayout(parsePerftestArgs(["ib_send_bw", "-c", "UD", "-s", "100"]), 100, [0]);
 * assert.deepEqual(ud.rcv, [4096 + 24]);
 * ```
 */
export function perftestBufferLayout(
  c: Pick<PerftestConfig, "qps" | "mrPerQp" | "connection">,
  size: number,
  bases: readonly number[],
): { src: number[]; dst: number[]; rcv: number[] } {
  const cycleBuffer = 4096, cacheLine = 64;
  const b = size < cycleBuffer ? cycleBuffer : size;
  const inc = Math.ceil(b / cacheLine) * cacheLine;
  const udShift = c.connection === "UD" ? cacheLine - LIMITS.udAddition : 0;
  const src: number[] = [], dst: number[] = [], rcv: number[] = [];
  for (let q = 0; q < c.qps; q++) {
    if (c.mrPerQp) {
      src.push(bases[q]);
      dst.push(bases[q] + b);
      rcv.push(bases[q] + udShift);
    } else {
      src.push(bases[0] + q * b);
      dst.push(bases[0] + (c.qps + q) * b);
      rcv.push(bases[0] + (c.qps + q) * inc + udShift);
    }
  }
  return { src, dst, rcv };
}

/** perftest's `ctx_connect`: each of `me`'s QPs to RTS toward its peer QP (UD: plus an AH). */
async function connect(
  c: PerftestConfig,
  me: Side,
  peer: Side,
  mtu: number,
  outReads: number,
  pkeyIndex: number,
  peerGid: Uint8Array | undefined,
  dlid?: number,
): Promise<void> {
  const grh = c.gidIndex !== undefined && peerGid
    ? {
      dgid: peerGid,
      sgidIndex: c.gidIndex,
      hopLimit: 0xff,
      trafficClass: c.trafficClass & 0xff,
    }
    : undefined;
  for (let q = 0; q < me.qps.length; q++) {
    await connectQp(me.qps[q], {
      remoteQpn: peer.qps[q].qpNum,
      dlid: dlid ?? peer.lids[q],
      port: me.ports[q],
      pkeyIndex,
      pathMtu: mtu,
      qkey: QKEY,
      sl: c.sl,
      sqPsn: me.psns[q],
      rqPsn: peer.psns[q],
      timeout: c.qpTimeout,
      maxRdAtomic: outReads,
      maxDestRdAtomic: outReads,
      ...(grh ? { grh } : {}),
    });
    if (c.connection === "UD") {
      me.ahs.push(
        await me.pd.createAh({
          dlid: dlid ?? peer.lids[q],
          portNum: me.ports[q],
          sl: c.sl,
          ...(grh ? { grh } : {}),
        }),
      );
    }
  }
}

async function teardown(s: Side): Promise<void> {
  if (!s.cmOwned) { for (const qp of s.qps) await qp.destroy(); }
  if (s.srq) await s.srq.destroy();
  for (const ah of s.ahs) await ah.destroy();
  await s.sendCq.destroy();
  await s.recvCq.destroy();
  for (const mr of s.mrs) await mr.dereg();
  await s.pd.dealloc();
  if (!s.cmOwned) await s.ctx.close();
}

/** The send WR for one message of QP `q` of side `me` toward `peer`. */
function sendWr(
  s: Session,
  me: Side,
  peer: Side,
  q: number,
  size: number,
  signaled: boolean,
  wrId: bigint,
): SendWr {
  const c = s.c;
  const flags = (signaled ? SendFlags.SIGNALED : 0) |
    (size <= s.inline && c.verb !== "read" && c.verb !== "atomic" ? SendFlags.INLINE : 0);
  const lkey = me.mrs[c.mrPerQp ? q : 0].lkey;
  const rkey = peer.mrs[c.mrPerQp ? q : 0].rkey;
  switch (c.verb) {
    case "write":
      return {
        wrId,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: flags,
        sgList: [{ addr: me.src[q], length: size, lkey }],
        remoteAddr: peer.dst[q],
        rkey,
      };
    case "read":
      // A READ pulls the peer's destination region into ours.
      return {
        wrId,
        opcode: WrOpcode.RDMA_READ,
        sendFlags: flags,
        sgList: [{ addr: me.src[q], length: size, lkey }],
        remoteAddr: peer.dst[q],
        rkey,
      };
    case "atomic": {
      const cas = c.atomicType === "CMP_AND_SWAP";
      return {
        wrId,
        opcode: cas ? WrOpcode.ATOMIC_CMP_AND_SWP : WrOpcode.ATOMIC_FETCH_AND_ADD,
        sendFlags: flags,
        sgList: [{ addr: me.src[q], length: 8, lkey }],
        remoteAddr: peer.dst[q],
        rkey,
        compareAdd: cas ? 0n : 1n,
        swap: cas ? 1n : 0n,
      };
    }
    case "send":
      return {
        wrId,
        opcode: WrOpcode.SEND,
        sendFlags: flags,
        sgList: [{ addr: me.src[q], length: size, lkey }],
        ...(c.connection === "UD"
          ? { ah: me.ahs[q], remoteQpn: me.remoteQpn ?? peer.qps[q].qpNum, remoteQkey: QKEY }
          : {}),
      };
  }
}

function recvWr(s: Session, me: Side, q: number, size: number) {
  const extra = s.c.connection === "UD" ? LIMITS.udAddition : 0;
  return {
    wrId: BigInt(q),
    sgList: [{
      addr: me.rcv[q],
      length: size + extra,
      lkey: me.mrs[s.c.mrPerQp ? q : 0].lkey,
    }],
  };
}

function postRecvs(s: Session, me: Side, q: number, size: number, n: number): void {
  const list = Array.from({ length: n }, () => recvWr(s, me, q, size));
  if (me.srq) me.srq.postRecv(list);
  else me.qps[q].postRecv(list);
}

/** perftest's duration state machine (`catch_alarm`) on virtual-time alarms. */
class DurationClock {
  state: "start" | "sample" | "stop" | "end" = "start";
  start = 0;
  end = 0;
  endAt = Infinity;
  /** Completions counted while sampling (perftest's `iters` in duration mode). */
  iters = 0;
  /** The same per streaming direction (0: the client's), each side's own count. */
  counts: number[] = [0, 0];
  /**
   * Receive completions counted while sampling, per side (0: the client's):
   * a bidirectional send test's run_iter_bi adds them to the side's `iters`.
   */
  recvCounts: number[] = [0, 0];
  /** `--report-per-port`: each direction's count on port 1's and port 2's QPs (`iters_per_port`). */
  portCounts: [number, number][] = [[0, 0], [0, 0]];
  /** `recvCounts` by port, as `portCounts`. */
  recvPortCounts: [number, number][] = [[0, 0], [0, 0]];

  /**
   * `infinite`: perftest's `--run_infinitely`: sampling from the start, a
   * report every `duration` seconds (its print thread), never ending unless
   * `maxTicks` (tests) is reached.
   */
  constructor(
    env: PerftestEnv,
    duration: number,
    margin: number,
    infinite?: { onTick: (start: number, end: number, iters: number) => void; maxTicks?: number },
  ) {
    const s = 1e9;
    const now = env.now();
    if (infinite) {
      this.state = "sample";
      this.start = now;
      let ticks = 0;
      const tick = () => {
        const t = env.now();
        infinite.onTick(this.start, t, this.counts[0]);
        this.start = t;
        this.iters = 0;
        this.counts = [0, 0];
        this.recvCounts = [0, 0];
        this.portCounts = [[0, 0], [0, 0]];
        this.recvPortCounts = [[0, 0], [0, 0]];
        ticks++;
        if (infinite.maxTicks !== undefined && ticks >= infinite.maxTicks) {
          this.state = "end";
          this.endAt = t;
        } else env.after(duration * s, tick);
      };
      env.after(duration * s, tick);
      return;
    }
    this.endAt = now + duration * s;
    const toSample = () => {
      this.state = "sample";
      this.start = env.now();
      env.after((duration - 2 * margin) * s, () => {
        this.state = "stop";
        this.end = env.now();
        if (margin > 0) env.after(margin * s, () => (this.state = "end"));
        else this.state = "end";
      });
    };
    if (margin > 0) env.after(margin * s, toSample);
    else toSample();
  }
}

/**
 * Measure one (test, size) point on a connected session: perftest's loop
 * for the test, then perftest's report of its timestamps.
 */
async function measurePoint(s: Session, size: number): Promise<PointResult> {
  const c = s.c;
  const method = measurementMethod(c, size, s.inline);
  if (c.kind === "lat") {
    const rtt = c.verb === "read" || c.verb === "atomic" ? 1 : 2;
    const dur = c.duration !== undefined
      ? new DurationClock(s.env, c.duration, c.margin)
      : undefined;
    const tposted = await latencyRun(s, size, dur);
    let row: LatRow;
    if (dur) {
      row = latencyDurationReport(size, dur.iters, dur.start, dur.end, rtt);
      if (c.cpuUtil) row.cpuUtil = cpuUtil(s.A, dur);
    } else {
      row = latencyReport(size, tposted, {
        rttFactor: rtt,
        cycles: c.reportCycles,
        keepSamples: c.histogram || c.unsorted,
      });
      if (!c.histogram) delete row.sorted;
      if (!c.unsorted) delete row.unsorted;
    }
    return { bytes: size, method, tposted, tcompleted: [], row };
  }
  if (c.warmUp && c.verb !== "send") await warmUp(s, size);
  const [sender, receiver] = c.reversed ? [s.B, s.A] : [s.A, s.B];
  const infinite = c.runInfinitely
    ? {
      maxTicks: s.infiniteReports,
      onTick: (start: number, end: number, iters: number) => {
        // print_report_bw from perftest's print thread: the interval since the last report.
        const bi = c.bidirectional ? (c.verb === "send" ? 1 : 2) : 1;
        s.onInfiniteRow?.(bandwidthReport([start], [end], {
          size,
          iters,
          qps: c.qps,
          noPeak: true,
          duration: true,
          runInfBiFactor: bi,
          // print_report_bw prints --report-per-port's columns from iters_per_port, which
          // run_iter_bw_infinitely never counts (perftest 4.5-0.17 perftest_resources.c): 0.
          ...(c.reportPerPort ? { itersPerPort: [0, 0] as [number, number] } : {}),
        }));
      },
    }
    : undefined;
  const dur = c.duration !== undefined
    ? new DurationClock(s.env, c.duration, c.margin, infinite)
    : undefined;
  const runs: Promise<BwTimes>[] = [];
  runs.push(s.env.spawn("perftest-client", () => bwSender(s, sender, receiver, size, dur, 0)));
  if (c.bidirectional) {
    runs.push(s.env.spawn("perftest-server", () => bwSender(s, receiver, sender, size, dur, 1)));
  }
  const recvs: Promise<void>[] = [];
  if (c.verb === "send" && c.bidirectional) s.biRecv = { got: [0, 0], done: [false, false] };
  if (c.verb === "send") {
    // Receives posted before anything is sent (perftest: before the handshake).
    prepostReceives(s, receiver, size);
    if (c.bidirectional) prepostReceives(s, sender, size);
    recvs.push(s.env.spawn("perftest-recv", () => bwReceiver(s, receiver, size, dur, 1)));
    if (c.bidirectional) {
      recvs.push(s.env.spawn("perftest-recv2", () => bwReceiver(s, sender, size, dur, 0)));
    }
  }
  const times = await Promise.all(runs);
  await Promise.all(recvs);
  const report = (t: BwTimes, idx: number): BwRow => {
    const row = bandwidthReport(t.tposted, t.tcompleted, {
      size,
      iters: dur ? dur.counts[idx] : c.iters,
      qps: c.qps,
      cqMod: cqModeration(c, size),
      postList: c.postList,
      noPeak: c.noPeak,
      duration: !!dur,
      ...(c.reportPerPort && dur ? { itersPerPort: dur.portCounts[idx] } : {}),
    });
    if (c.cpuUtil && dur) row.cpuUtil = cpuUtil(sender, dur);
    return row;
  };
  if (dur && c.bidirectional && c.verb === "send") {
    // send_bw.c with -b -D: run_iter_bi counts this side's send and receive completions
    // in one `iters`, and print_report_bw prints that report alone (no exchange, no sum).
    dur.counts[0] += dur.recvCounts[0];
    for (const p of [0, 1]) dur.portCounts[0][p] += dur.recvPortCounts[0][p];
    return { bytes: size, method, ...times[0], row: report(times[0], 0) };
  }
  // Each direction keeps its own counters (perftest: each side's own report).
  const mine = report(times[0], 0);
  const remote = times[1] ? report(times[1], 1) : undefined;
  return {
    bytes: size,
    method,
    tposted: times[0].tposted,
    tcompleted: times[0].tcompleted,
    row: mine,
    remote,
  };
}

function cpuUtil(side: Side, dur: DurationClock): number {
  const window = dur.end - dur.start;
  return window > 0 ? Math.max(0, 100 * (1 - side.asleepNs / window)) : 0;
}

/** `perform_warm_up`: a tx depth of signaled WRs per QP, all completed, before measuring. */
async function warmUp(s: Session, size: number): Promise<void> {
  const { A, B, c } = s;
  const [me, peer] = c.reversed ? [B, A] : [A, B];
  for (let q = 0; q < c.qps; q++) {
    const n = c.postList === 1 ? c.txDepth : c.postList;
    for (let i = 0; i < n; i++) me.qps[q].postSend(sendWr(s, me, peer, q, size, true, BigInt(q)));
    let left = n;
    while (left > 0) {
      for (const wc of await waitCq(s.env, me, me.sendCq, me.sendCh, 1)) {
        check(wc, `${c.test} ${size} bytes (warm-up)`);
        left--;
      }
    }
  }
}

/**
 * Wait until the byte at `addr` equals `value` (perftest's write_lat spins on
 * the last byte of its buffer): the library's write watch wakes the spinner,
 * which sees the value at its next poll of the line. With a deadline (duration
 * mode) it gives up then and returns false.
 */
async function waitByte(
  env: PerftestEnv,
  dom: Domain,
  addr: number,
  value: number,
  deadline = Infinity,
): Promise<boolean> {
  const start = env.now();
  const period = Math.max(1, env.pollStepNs);
  if (env.virtual && typeof dom.memory.waitWrite === "function") {
    while (dom.memory.read(addr, 1)[0] !== value) {
      const left = deadline - env.now();
      if (left <= 0) return false;
      await dom.memory.waitWrite(addr, 1, left === Infinity ? undefined : left);
    }
    const since = env.now() - start;
    const wait = Math.ceil(since / period) * period - since;
    if (wait > 0) await env.sleep(wait);
    return true;
  }
  let step = env.pollStepNs;
  while (dom.memory.read(addr, 1)[0] !== value) {
    if (env.now() >= deadline) return false;
    await env.sleep(step);
    if (env.virtual) step = Math.max(period, Math.floor((env.now() - start) / 256));
  }
  return true;
}

/** Latency loops report progress every this many iterations (the CLI paces its lines in wall time). */
const PROGRESS_EVERY = 64;

/** perftest's `tposted` of one latency size (iters timestamps), or none in duration mode. */
async function latencyRun(s: Session, size: number, dur?: DurationClock): Promise<number[]> {
  const { c, env, A, B } = s;
  const iters = c.iters;
  const times: number[] = [];
  const what = `${c.test} ${size} bytes`;
  const gap = c.latencyGapUs * 1000;
  const more = (n: number) => dur ? dur.state !== "end" : n < iters;
  const progress = (n: number) => {
    if (s.onProgress && n % PROGRESS_EVERY === 0) s.onProgress(n, dur ? 0 : iters, size);
  };
  const count = () => {
    if (dur?.state === "sample") dur.iters++;
  };
  if (c.verb === "read" || c.verb === "atomic") {
    // run_iter_lat.
    for (let scnt = 0; more(scnt); scnt++) {
      if (gap) await env.sleep(gap);
      if (!dur) times.push(env.now());
      A.qps[0].postSend(sendWr(s, A, B, 0, size, true, 0n));
      if (dur?.state === "end") break;
      for (const wc of await waitCq(env, A, A.sendCq, A.sendCh, 1)) check(wc, what);
      count();
      progress(scnt + 1);
    }
    return times;
  }
  if (c.verb === "write") {
    // run_iter_lat_write: fresh poll bytes for this size.
    A.dom.memory.write(A.dst[0] + size - 1, new Uint8Array([0]));
    B.dom.memory.write(B.dst[0] + size - 1, new Uint8Array([0]));
    const side = async (me: Side, peer: Side, server: boolean, out?: number[]) => {
      let scnt = 0, ccnt = 0, rcnt = 0;
      const pollAddr = me.dst[0] + size - 1, postAddr = me.src[0] + size - 1;
      while (dur ? dur.state !== "end" : (scnt < iters || ccnt < iters || rcnt < iters)) {
        if ((dur || rcnt < iters) && !(scnt < 1 && server)) {
          rcnt++;
          if (!await waitByte(env, me.dom, pollAddr, rcnt & 0xff, dur?.endAt)) break;
        }
        if (dur || scnt < iters) {
          if (gap) await env.sleep(gap);
          if (!dur) out?.push(env.now());
          scnt++;
          me.dom.memory.write(postAddr, new Uint8Array([scnt & 0xff]));
          me.qps[0].postSend(sendWr(s, me, peer, 0, size, true, 0n));
          if (out) progress(scnt);
        }
        if (dur?.state === "end") break;
        if (dur || ccnt < iters) {
          for (const wc of await waitCq(env, me, me.sendCq, undefined, 1)) check(wc, what);
          ccnt++;
          if (out) count();
        }
      }
    };
    await Promise.all([
      env.spawn("perftest-client", () => side(A, B, false, times)),
      env.spawn("perftest-server", () => side(B, A, true)),
    ]);
    return times;
  }
  // run_iter_lat_send.
  const cqMod = cqModeration(c, size);
  const pre = c.useSrq ? c.rxDepth : Math.min(c.rxDepth, dur ? c.rxDepth : iters);
  // Both sides' receives are in place before the first send (perftest's handshake after
  // ctx_set_recv_wqes); posted alternately, so neither HCA sees its doorbells late.
  for (let i = 0; i < pre; i++) for (const me of [A, B]) postRecvs(s, me, 0, size, 1);
  const side = async (me: Side, peer: Side, client: boolean, out?: number[]) => {
    let scnt = 0, rcnt = 0;
    while (dur ? dur.state !== "end" : (scnt < iters || rcnt < iters)) {
      if ((dur || rcnt < iters) && !(scnt < 1 && client)) {
        let got: Wc[];
        if (dur) {
          got = await waitSome(env, me, me.recvCq, me.recvCh, 1, dur.endAt);
          if (got.length === 0) break;
        } else got = await waitCq(env, me, me.recvCq, me.recvCh, 1);
        for (const wc of got) check(wc, what);
        rcnt++;
        if (out) count();
        if (dur || rcnt + pre <= iters) postRecvs(s, me, 0, size, 1);
      }
      if (dur ? dur.state !== "end" : scnt < iters) {
        if (gap) await env.sleep(gap);
        if (!dur) out?.push(env.now());
        scnt++;
        const signaled = scnt % cqMod === 0 || (!dur && scnt === iters);
        me.qps[0].postSend(sendWr(s, me, peer, 0, size, signaled, 0n));
        if (out) progress(scnt);
        if (signaled) {
          for (const wc of await waitCq(env, me, me.sendCq, me.sendCh, 1)) check(wc, what);
        }
      }
    }
  };
  await Promise.all([
    env.spawn("perftest-client", () => side(A, B, true, times)),
    env.spawn("perftest-server", () => side(B, A, false)),
  ]);
  // Receives perftest leaves posted are flushed when the QPs are destroyed.
  return times;
}

/** perftest's `tposted`/`tcompleted` of one streaming direction. */
interface BwTimes {
  tposted: number[];
  tcompleted: number[];
}

/** `run_iter_bw`: `me` streams to `peer`. */
async function bwSender(
  s: Session,
  me: Side,
  peer: Side,
  size: number,
  dur: DurationClock | undefined,
  idx: number,
): Promise<BwTimes> {
  const { c, env } = s;
  const nq = c.qps, iters = c.iters, pl = c.postList, cqMod = cqModeration(c, size);
  const tot = dur ? 0 : iters * nq;
  const noPeak = c.noPeak;
  const tposted: number[] = noPeak ? [0] : new Array<number>(tot).fill(0);
  const tcompleted: number[] = noPeak ? [0] : new Array<number>(tot).fill(0);
  const scnt = new Array<number>(nq).fill(0), ccnt = new Array<number>(nq).fill(0);
  let totscnt = 0, totccnt = 0;
  const what = `${c.test} ${size} bytes`;
  s.activeSenders = (s.activeSenders ?? 0) + 1;
  try {
    return await bwSend();
  } finally {
    s.activeSenders--;
  }

  /** Spin (the loop's CQ polls, in virtual time) until `ready()`; at once off the simulation. */
  async function spinUntil(ready: () => boolean): Promise<void> {
    if (!env.virtual) return;
    while (!ready()) await env.sleep(Math.max(1, env.pollStepNs));
  }

  async function bwSend(): Promise<BwTimes> {
    // Rate limiter (SW): bursts of `burst` messages, a gap between burst starts.
    let gapNs = 0, gapDeadline = 0, sending = c.rateLimit.type !== "SW";
    let burstIter = 0;
    if (c.rateLimit.type === "SW") {
      const r = c.rateLimit;
      const pps = Math.trunc(
        r.units === "M"
          ? (r.rate / size) * 1048576
          : r.units === "g"
          ? (r.rate / (size * 8)) * 1e9
          : r.rate,
      );
      const bursts = Math.trunc(pps / r.burst);
      if (bursts <= 0) {
        throw new ToolError(
          `--rate_limit ${r.rate}${r.units}: below one burst of ${r.burst} per second at ${size} bytes`,
        );
      }
      gapNs = Math.trunc(VIRTUAL_MHZ * (1000000 * (1 / bursts)));
    }
    if (!dur && noPeak) tposted[0] = env.now();
    // run_iter_bi: the server posts no send before its first receive has completed ("to ensure
    // SERVER will not start to send packets before CLIENT start the test"), spinning on its
    // receive CQ meanwhile.
    if (s.biRecv && idx === 1) await spinUntil(() => s.biRecv!.got[1] > 0);
    // The WR template of a list: (j + 1) % cq_mod decides signaling inside a list.
    const wrList = (q: number, n: number): SendWr[] =>
      Array.from(
        { length: pl },
        (_, j) => sendWr(s, me, peer, q, size, (j + 1) % cqMod === 0, BigInt(q)),
      )
        .map((w, j) => (pl === 1 ? w : { ...w, wrId: BigInt(q) + 0n * BigInt(n + j) }));
    let lastProgress = 0;
    let pendingSignaled = 0;
    while (
      totscnt < tot || totccnt < tot || (dur !== undefined && dur.state !== "end")
    ) {
      for (let q = 0; q < nq; q++) {
        if (c.rateLimit.type === "SW" && !sending) {
          if (gapDeadline > env.now()) continue;
          gapDeadline = env.now() + gapNs;
          sending = true;
          burstIter = 0;
        }
        while (
          (dur || scnt[q] < iters) && scnt[q] - ccnt[q] + pl <= c.txDepth &&
          !(c.rateLimit.type === "SW" && !sending)
        ) {
          if (dur?.state === "end") break;
          let signaled = true;
          if (pl === 1) {
            // Perftest clears SIGNALED at n % cq_mod == 0 and sets it after posting n % cq_mod == cq_mod - 2.
            const n = scnt[q];
            signaled = n % cqMod === cqMod - 1 || (!dur && n === iters - 1) || cqMod === 1;
          }
          if (!noPeak) tposted[totscnt] = env.now();
          if (pl === 1) me.qps[q].postSend(sendWr(s, me, peer, q, size, signaled, BigInt(q)));
          else me.qps[q].postSend(wrList(q, scnt[q]));
          pendingSignaled += pl === 1 ? (signaled ? 1 : 0) : Math.floor(pl / cqMod);
          scnt[q] += pl;
          totscnt += pl;
          if (c.rateLimit.type === "SW") {
            burstIter += pl;
            if (burstIter >= c.rateLimit.burst) sending = false;
          }
        }
      }
      if (totccnt < tot || (dur && totccnt < totscnt)) {
        const deadline = dur
          ? dur.endAt
          : c.rateLimit.type === "SW" && !sending && totscnt < tot
          ? gapDeadline
          : undefined;
        const wcs = await waitSome(env, me, me.sendCq, me.sendCh, 16, deadline);
        for (const wc of wcs) {
          check(wc, what);
          const q = Number(wc.wrId);
          pendingSignaled--;
          ccnt[q] += cqMod;
          totccnt += cqMod;
          if (!noPeak) {
            if (totccnt > tot) tcompleted[iters * nq - 1] = env.now();
            else tcompleted[totccnt - 1] = env.now();
          }
          if (dur?.state === "sample") {
            dur.counts[idx] += cqMod;
            // perftest's port_by_qp: 0 for the first half of the QPs, 1 for the second.
            if (c.reportPerPort) dur.portCounts[idx][q >= nq / 2 ? 1 : 0] += cqMod;
          }
        }
        // Every batch: a large message takes long; the CLI decides when to print.
        if (s.onProgress && totccnt !== lastProgress) {
          lastProgress = totccnt;
          s.onProgress(Math.min(totccnt, totscnt), tot, size);
        }
      } else if (c.rateLimit.type === "SW" && !sending) {
        // Nothing in flight: perftest spins on the clock until the gap ends.
        await env.sleep(Math.max(1, gapDeadline - env.now()));
      } else if (dur && dur.state !== "end") {
        await env.sleep(Math.max(1, env.pollStepNs));
      }
    }
    // run_iter_bi loops until its receives are done too: without the peak, the end is when
    // both are (perftest_resources.c, tcompleted[0] after the loop).
    if (!dur && noPeak && s.biRecv) await spinUntil(() => s.biRecv!.done[idx]);
    if (!dur && noPeak) tcompleted[0] = env.now();
    if (dur) {
      tposted[0] = dur.start;
      tcompleted[0] = dur.end;
      // Drain the signaled WRs still in flight before the QPs are reused or destroyed
      // (unsignaled ones after the last signaled one complete with no CQE).
      while (pendingSignaled > 0) {
        const wcs = await waitSome(env, me, me.sendCq, me.sendCh, 16);
        for (const wc of wcs) {
          check(wc, what);
          pendingSignaled--;
        }
      }
    }
    return { tposted, tcompleted };
  }
}

/**
 * Receive lists each QP's template posts up front, as perftest's `ctx_set_recv_wqes`
 * (perftest_resources.c): `size_per_qp = rx_depth / recv_post_list`, divided again among the
 * QPs when they share an SRQ; each QP `i` posts that many lists of `recv_post_list` WRs whose
 * `wr_id` is `i` (to its own QP, or all to the SRQ). Its `ctx->rposted` is
 * `size_per_qp * recv_post_list`.
 */
function receiveListsPerQp(s: Session): number {
  const c = s.c;
  const lists = Math.floor(c.rxDepth / c.recvPostList);
  return c.useSrq ? Math.floor(lists / c.qps) : lists;
}

/** Post the receiver's initial receives, QP template by QP template (`ctx_set_recv_wqes`). */
function prepostReceives(s: Session, me: Side, size: number): void {
  const n = receiveListsPerQp(s) * s.c.recvPostList;
  for (let q = 0; q < s.c.qps; q++) postRecvs(s, me, q, size, n);
}

/**
 * `run_iter_bw_server` (and `run_iter_bi`'s receive side): `me` receives, reposting in lists
 * of `--recv_post_list`. As perftest, a completion is counted against its `wr_id`, the QP
 * template whose receive it consumed (with an SRQ, any QP's message may take any template's),
 * and that template is reposted while `posted_per_qp[wr_id] + recv_post_list <= iters` (always
 * in a -D run) once `recv_post_list` of its receives are unused: each template posts `iters`
 * receives in all, so the QPs' `iters × qps` messages find one each.
 */
async function bwReceiver(
  s: Session,
  me: Side,
  size: number,
  dur: DurationClock | undefined,
  idx: number,
): Promise<void> {
  const { c, env } = s;
  const nq = c.qps, iters = c.iters, rpl = c.recvPostList;
  const total = dur ? Infinity : iters * nq;
  const posted = new Array<number>(nq).fill(receiveListsPerQp(s) * rpl);
  const unused = new Array<number>(nq).fill(0);
  let got = 0;
  const what = `${c.test} ${size} bytes (receiver)`;
  // With -e, each event's completions are all taken (perftest's do/while), not 16 of them.
  const drain: EventDrain = { on: false };
  while (got < total) {
    // A -D run ends when the senders have drained; look every virtual millisecond.
    const wcs = await waitSome(
      env,
      me,
      me.recvCq,
      me.recvCh,
      16,
      dur ? env.now() + 1e6 : undefined,
      drain,
    );
    if (wcs.length === 0) {
      if (dur && dur.state === "end" && (s.activeSenders ?? 0) === 0) break;
      continue;
    }
    for (const wc of wcs) {
      check(wc, what);
      const q = Number(wc.wrId);
      unused[q]++;
      got++;
      if (s.biRecv) s.biRecv.got[idx]++;
      if (dur?.state === "sample") {
        dur.recvCounts[idx]++;
        if (c.reportPerPort) dur.recvPortCounts[idx][q >= nq / 2 ? 1 : 0]++;
      }
      if ((dur || posted[q] + rpl <= iters) && unused[q] >= rpl) {
        postRecvs(s, me, q, size, rpl);
        unused[q] -= rpl;
        posted[q] += rpl;
      }
    }
  }
  if (s.biRecv) s.biRecv.done[idx] = true;
}

/** The virtual cycle counter's MHz (1 cycle = 1 ns). */
const VIRTUAL_MHZ = 1000;

/** Real hardware: one device, two QPs looped back through its port; wall-clock timing. */
async function runReal(config: PerftestConfig, opts: RunPerftestOptions): Promise<PerftestResult> {
  const max = Math.max(...config.sizes);
  const region = Math.ceil((max + 4096) / 4096) * 4096;
  const dom = await realHost(4 * config.qps * region + (1 << 20), config.device?.name);
  const env: PerftestEnv = {
    now: () => Math.round(performance.now() * 1e6),
    sleep: () => Promise.resolve(),
    spawn: (_name, fn) => fn(),
    after: (ns, fn) => {
      setTimeout(fn, ns / 1e6);
    },
    pollStepNs: 0,
    virtual: false,
  };
  const { profile: _p, ...rest } = opts;
  return await measure({ ...config, ibDev: config.device?.name ?? config.ibDev }, env, dom, dom, {
    ...rest,
    mode: "native (real hardware)",
    profile: "hardware",
    link: "as the port reports",
    portMtuFallback: 2048,
    clock: "wall",
  });
}
