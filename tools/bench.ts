/**
 * `deno task bench`: how fast the simulator runs on this machine, in wall
 * clock. Figures, not pass/fail (docs/performance.md reads them against
 * the targets): every measurement is repeated and printed as min / median
 * (rates as best / median), with its method on the line.
 *
 * Sections (default all but `all-to-all`):
 * - `engine`: trivial events/s and the ratio to a minimal binary-heap
 *   engine (alternated, same process), process wake-ups/s, and the
 *   wake-ups/s of a 1000-process `Promise.all` join.
 * - `stream`: simulated messages per wall second of a 64 B, 4 KiB and
 *   1 MiB RDMA WRITE stream (one RC QP, 64 outstanding, every 16th
 *   signaled, from pseudo-random bytes) in native, bypass and split; wall
 *   seconds per simulated GB.
 * - `events`: the stream's events per message by kind (the engine's tags),
 *   in each mode: what a message costs in events, step by step.
 * - `copy`: wall seconds per GB of the payload's copies alone (packets of
 *   the profile's MTU between buffers of frames, through a slab as the
 *   model does and frame to frame): the floor under the streams' s/GB.
 * - `train`: wall seconds per GB of a bulk stream's packets with no model
 *   code, six steps per packet as the model takes them, recorded as the
 *   engine records events, unrecorded, fused into one step, or run as the
 *   engine's events: the floor under a packet train and under today's
 *   event structure (`tools/lib/bench_train.ts`).
 * - `fastpath`: wall µs per 64 B write in native, bypass and split,
 *   measured alternately in one run, and the bypass/native ratio.
 * - `rss`: resident memory of 256 guests × 256 MiB with connected QPs.
 * - `all-to-all`: hosts × 4 bypass guests, 4 KiB × 100 writes of data per
 *   ordered pair, for each `--hosts` count; wall, events, messages/s, and the
 *   growth of the per-message cost. Large: only when named.
 *
 * @example
 * ```sh
 * deno task bench --quick
 * deno task bench all-to-all --hosts 8,16,32,64
 * ```
 *
 * @module
 */
import {
  CHAINS,
  type EngineRun,
  joinWakeups,
  minimalTrivialEvents,
  trivialEvents,
} from "./lib/bench_engine.ts";
import {
  allToAll,
  type AllToAllBench,
  type BenchMode,
  clusterRss,
  type RssResult,
  STREAM_DEPTH,
  STREAM_SIGNAL_EVERY,
  type StreamRun,
  WriteStream,
} from "./lib/bench_model.ts";
import { payloadCopies } from "./lib/bench_copy.ts";
import { TRAIN_FLOOR_VARIANTS, trainFloor } from "./lib/bench_train.ts";
import { runMain } from "./lib/cli.ts";
import { PROFILES } from "../mod.ts";
import { parseFlags, parseIntFlag, UsageError } from "./lib/perftest_args.ts";

/**
 * In the order they run: the engine's microbenchmarks before any model code
 * has run (so its call sites are as a fresh process sees them), then rss
 * before the model's other runs have grown the heap.
 */
const SECTIONS = [
  "engine",
  "rss",
  "stream",
  "events",
  "copy",
  "train",
  "fastpath",
  "all-to-all",
] as const;
type Section = typeof SECTIONS[number];
/** Every section but the all-to-all, which takes many minutes. */
const DEFAULT_SECTIONS: Section[] = SECTIONS.filter((s) => s !== "all-to-all");
const MODES: BenchMode[] = ["native", "bypass", "split"];
/** Stream sizes, with the messages of a full and of a --quick run. */
const STREAM_SIZES: [size: number, full: number, quick: number][] = [
  [64, 50_000, 10_000],
  [4096, 20_000, 4_000],
  [1 << 20, 200, 40],
];

/**
 * Wall seconds a stream runs before it is timed (`--quick`: a quarter).
 * V8 keeps compiling the model's hot functions for about the first second
 * of a stream: on this machine the 64 B bypass stream's first 50,000
 * messages after 5,000 of warm-up ran at 100–160 k per wall second, and it
 * took 4–9 such runs to settle near 285 k (docs/performance-history.md, "Warm-up").
 * The figures are the steady state's.
 */
const STREAM_WARM_UP_S = 1;

/**
 * Usage text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { benchUsage } from "./bench.ts";
 * assert.equal(benchUsage().split("\n")[0], "Usage: deno task bench [section...] [flags]");
 * ```
 */
export function benchUsage(): string {
  return `Usage: deno task bench [section...] [flags]

Wall-clock speed of the simulator on this machine, min / median of repeats.
Sections (default, and "all": every section but all-to-all), in this order:
  engine      trivial events/s vs a minimal binary-heap engine (alternated), wake-ups/s,
              a 1000-process Promise.all join
  rss         resident memory of 256 guests x 256 MiB with connected QPs
  stream      simulated msgs per wall second, 64 B / 4 KiB / 1 MiB RDMA WRITE, one RC QP,
              ${STREAM_DEPTH} outstanding, every ${STREAM_SIGNAL_EVERY}th signaled; native, bypass, split
  events      the stream's events per message by kind (the engine's event tags), per mode
  copy        wall s per GB of the payload's copies alone, 1 MiB and 8 MiB buffers, two copies
              (through a slab, as the model) and one (frame to frame): the floor under stream
  train       wall s per GB of a stream's packets with no model code: six steps each,
              recorded as events, unrecorded, fused into one, or the engine's events
  fastpath    wall µs per 64 B write, native / bypass / split alternated in one run
  all-to-all  hosts x 4 bypass guests, 4 KiB x 100 writes per ordered pair (only when named)

Flags:
      --quick              fewer repeats and smaller runs (seconds instead of a minute)
      --repeats=<n>        repeats per measurement, 1..100 (default 5, --quick 3)
      --profile=<name>     profile of stream and fastpath (default pcix-sdr-2006)
      --modes=<list>       modes of stream and fastpath (default native,bypass,split)
      --sizes=<list>       stream message sizes, bytes (default 64,4096,1048576)
      --hosts=<list>       all-to-all host counts (default 8,16,32,64; --quick 2,4)
      --guests=<n>         all-to-all and rss guests per host (default 4)
      --messages=<n>       all-to-all messages per ordered pair (default 100; --quick 10)
      --by-kind            all-to-all: also count the traffic's events per message by kind
      --json               print the figures as JSON
  -h, --help               this text`;
}

interface Options {
  sections: Section[];
  quick: boolean;
  repeats: number;
  profile: string;
  modes: BenchMode[];
  sizes: number[];
  hosts: number[];
  guests: number;
  messages: number;
  byKind: boolean;
  json: boolean;
}

function parseList(flag: string, raw: string, min: number, max: number): number[] {
  const out = raw.split(",").map((x) => parseIntFlag(flag, x, min, max));
  if (out.length === 0) throw new UsageError(`${flag}: empty list`);
  return out;
}

/**
 * Parse the command line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseBenchArgs } from "./bench.ts";
 * const o = parseBenchArgs(["all-to-all", "--hosts", "8,16"]);
 * assert.deepEqual(o?.sections, ["all-to-all"]);
 * assert.deepEqual(o?.hosts, [8, 16]);
 * ```
 */
export function parseBenchArgs(args: string[]): Options | undefined {
  const { values, positionals } = parseFlags(args, {
    quick: { type: "boolean" },
    repeats: { type: "string" },
    profile: { type: "string" },
    modes: { type: "string" },
    sizes: { type: "string" },
    hosts: { type: "string" },
    guests: { type: "string" },
    messages: { type: "string" },
    "by-kind": { type: "boolean" },
    json: { type: "boolean" },
    help: { type: "boolean", short: "h" },
  }, true);
  if (values.help) return undefined;
  let sections: Section[] = [];
  for (const p of positionals) {
    if (p === "all") sections.push(...SECTIONS.filter((s) => s !== "all-to-all"));
    else if ((SECTIONS as readonly string[]).includes(p)) sections.push(p as Section);
    else {
      throw new UsageError(`unknown section '${p}' (sections: ${SECTIONS.join(", ")}, all)`);
    }
  }
  if (sections.length === 0) sections = DEFAULT_SECTIONS;
  sections = SECTIONS.filter((s) => sections.includes(s));
  const quick = !!values.quick;
  const modes = values.modes === undefined ? MODES : values.modes.split(",").map((m) => {
    if (!(MODES as string[]).includes(m)) {
      throw new UsageError(`--modes: unknown mode '${m}' (native, bypass, split)`);
    }
    return m as BenchMode;
  });
  const profile = values.profile ?? "pcix-sdr-2006";
  if (!["pcix-sdr-2006", "modern-gen5-ndr"].includes(profile)) {
    throw new UsageError(
      `--profile: unknown profile '${profile}' (pcix-sdr-2006, modern-gen5-ndr)`,
    );
  }
  return {
    sections,
    quick,
    repeats: values.repeats === undefined
      ? (quick ? 3 : 5)
      : parseIntFlag("--repeats", values.repeats, 1, 100),
    profile,
    modes,
    sizes: values.sizes === undefined
      ? STREAM_SIZES.map(([size]) => size)
      : parseList("--sizes", values.sizes, 1, 1 << 30),
    hosts: values.hosts === undefined
      ? (quick ? [2, 4] : [8, 16, 32, 64])
      : parseList("--hosts", values.hosts, 2, 256),
    guests: values.guests === undefined ? 4 : parseIntFlag("--guests", values.guests, 1, 64),
    messages: values.messages === undefined
      ? (quick ? 10 : 100)
      : parseIntFlag("--messages", values.messages, 1, 1_000_000),
    byKind: !!values["by-kind"],
    json: !!values.json,
  };
}

/** min and median of `xs`. */
function stats(xs: number[]): { min: number; median: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { min: s[0], median: s[Math.floor((s.length - 1) / 2)] };
}

/** A time both clocks measured, over repeats. */
interface Timed {
  wallMs: number;
  cpuMs: number;
}

/** Per-second rates of `count` things at the fastest and the median repeat, on both clocks. */
interface Rates {
  wall: { best: number; median: number };
  cpu: { best: number; median: number };
}

function rates(count: number, runs: Timed[]): Rates {
  const w = stats(runs.map((r) => r.wallMs)), c = stats(runs.map((r) => r.cpuMs));
  return {
    wall: { best: count / (w.min / 1000), median: count / (w.median / 1000) },
    cpu: { best: count / (c.min / 1000), median: count / (c.median / 1000) },
  };
}

function rate(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return n.toFixed(1);
}

/** "best / median" of a rate pair. */
function pair(r: { best: number; median: number }, f = rate): string {
  return `${f(r.best)} / ${f(r.median)}`;
}

function int(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

// deno-lint-ignore no-explicit-any
type Json = Record<string, any>;

async function benchEngine(o: Options, out: Json, say: (s: string) => void): Promise<void> {
  // Many short alternated pairs: on a shared machine the load drifts, and a
  // pair's two runs see nearly the same load.
  const events = o.quick ? 500_000 : 1_000_000;
  const pairs = Math.max(o.repeats * 3, 9);
  const sleeps2 = o.quick ? 200_000 : 1_000_000;
  const joinSleeps = o.quick ? 20 : 100;
  // Warm both engines up, then alternate them so that machine load hits both alike.
  minimalTrivialEvents(200_000);
  await trivialEvents(200_000);
  const mine: EngineRun[] = [], floor: EngineRun[] = [];
  const ratioWall: number[] = [], ratioCpu: number[] = [];
  for (let r = 0; r < pairs; r++) {
    const m = minimalTrivialEvents(events), x = await trivialEvents(events);
    floor.push(m);
    mine.push(x);
    ratioWall.push(m.wallMs / x.wallMs);
    ratioCpu.push(m.cpuMs / x.cpuMs);
  }
  const ev = rates(mine[0].count, mine), min = rates(floor[0].count, floor);
  const rw = stats(ratioWall), rc = stats(ratioCpu);
  await warmUpWith(() => joinWakeups(2, sleeps2 / 20), o.quick);
  const two: EngineRun[] = [];
  for (let r = 0; r < o.repeats; r++) two.push(await joinWakeups(2, sleeps2 / 2));
  const wk = rates(two[0].count, two);
  await warmUpWith(() => joinWakeups(1000, joinSleeps), o.quick);
  const join: EngineRun[] = [];
  for (let r = 0; r < o.repeats; r++) join.push(await joinWakeups(1000, joinSleeps));
  const jn = rates(join[0].count, join);
  const drains = Math.max(...join.map((j) => j.drains));
  const w = [24, 22, 22];
  say("engine: rates as best / median of the repeats");
  say(row(["", "per wall second", "per CPU second"], w, true));
  say(row(["trivial events", pair(ev.wall), pair(ev.cpu)], w, true));
  say(row(["minimal heap engine", pair(min.wall), pair(min.cpu)], w, true));
  const ratio = (x: number) => x.toFixed(2);
  say(row(
    [
      "ratio to minimal",
      `${ratio(ev.wall.best / min.wall.best)} / ${ratio(rw.median)}`,
      `${ratio(ev.cpu.best / min.cpu.best)} / ${ratio(rc.median)}`,
    ],
    w,
    true,
  ));
  say(row(["wake-ups, 2 processes", pair(wk.wall), pair(wk.cpu)], w, true));
  say(row(["wake-ups, 1000-proc join", pair(jn.wall), pair(jn.cpu)], w, true));
  say(
    `  trivial events: ${int(events)} in ${CHAINS} chains, each callback schedules the next, the ` +
      `two engines alternated ${pairs} times (ratio: of the best runs / median of the pairs); wake-ups: 2 ` +
      `processes × ${int(sleeps2 / 2)} sleeps; join: 1000 processes × ${joinSleeps} sleeps, one ` +
      `Promise.all, ${drains} macrotask drains`,
  );
  out.engine = {
    trivialEvents: {
      events,
      pairs,
      perSec: ev,
      minimalPerSec: min,
      ratio: {
        wallBest: ev.wall.best / min.wall.best,
        wallMedianOfPairs: rw.median,
        cpuBest: ev.cpu.best / min.cpu.best,
        cpuMedianOfPairs: rc.median,
      },
    },
    wakeups: { sleeps: sleeps2, perSec: wk },
    join1000: { sleepsEach: joinSleeps, perSec: jn, drains },
  };
}

/** Messages of a stream: as many as take about the same wall time at every size. */
function streamMessages(size: number, quick: boolean): number {
  const known = STREAM_SIZES.find(([s]) => s === size);
  if (known) return quick ? known[2] : known[1];
  const n = Math.max(16, Math.round((quick ? 16e6 : 80e6) / (size + 1600)));
  return Math.min(n, quick ? 10_000 : 50_000);
}

function sizeName(n: number): string {
  return n >= 1 << 20 ? `${n / (1 << 20)} MiB` : n >= 1024 ? `${n / 1024} KiB` : `${n} B`;
}

/** Run `s` untimed, in chunks of a tenth of a timed run, for {@link STREAM_WARM_UP_S}. */
function warmUp(s: WriteStream, n: number, quick: boolean): Promise<void> {
  const chunk = Math.max(STREAM_SIGNAL_EVERY, Math.floor(n / 10));
  return warmUpWith(() => s.run(chunk), quick);
}

/**
 * Call `step` untimed until {@link STREAM_WARM_UP_S} have passed (`--quick`: a
 * quarter): V8 keeps compiling a workload's hot functions for about its first
 * wall second, and what is timed is the steady state.
 */
async function warmUpWith(step: () => Promise<unknown>, quick: boolean): Promise<void> {
  const until = performance.now() + STREAM_WARM_UP_S * (quick ? 250 : 1000);
  do await step(); while (performance.now() < until);
}

async function benchStream(o: Options, out: Json, say: (s: string) => void): Promise<void> {
  say(
    `stream (${o.profile}): one RC QP, RDMA WRITE, ${STREAM_DEPTH} outstanding, every ` +
      `${STREAM_SIGNAL_EVERY}th signaled; timed: the stream, not the setup; best / median`,
  );
  const w = [7, 8, 7, 20, 20, 14, 7, 9, 13];
  const head = ["mode", "size", "msgs", "msgs/wall s", "msgs/CPU s", "wall s/GB", "ev/msg"];
  say(row([...head, "wake/msg", "model msgs/s"], w));
  out.stream = [];
  for (const size of o.sizes) {
    const n = streamMessages(size, o.quick);
    for (const mode of o.modes) {
      const s = await WriteStream.create(o.profile, mode, size);
      await warmUp(s, n, o.quick);
      const runs: StreamRun[] = [];
      for (let r = 0; r < o.repeats; r++) runs.push(await s.run(n));
      const r0 = runs[0];
      const perSec = rates(n, runs);
      const gb = (n * size) / 1e9;
      const sPerGB = {
        best: 1 / perSec.wall.best * n / gb,
        median: 1 / perSec.wall.median * n / gb,
      };
      const model = n / (r0.virtualNs / 1e9);
      const f = (x: number) => x < 10 ? x.toFixed(3) : x.toFixed(1);
      say(row([
        mode,
        sizeName(size),
        int(n),
        pair(perSec.wall),
        pair(perSec.cpu),
        pair(sPerGB, f),
        (r0.events / n).toFixed(1),
        (r0.wakeups / n).toFixed(2),
        rate(model),
      ], w));
      out.stream.push({
        mode,
        size,
        messages: n,
        msgsPerSec: perSec,
        wallSecPerGB: sPerGB,
        eventsPerMsg: r0.events / n,
        wakeupsPerMsg: r0.wakeups / n,
        modelMsgsPerSec: model,
      });
    }
  }
}

/** Messages the `events` section counts over, after a tenth as many untimed. */
function eventsMessages(size: number, quick: boolean): number {
  return Math.max(STREAM_SIGNAL_EVERY, Math.round(streamMessages(size, quick) / 10));
}

async function benchEvents(o: Options, out: Json, say: (s: string) => void): Promise<void> {
  say(
    `events (${o.profile}): events per message by kind (the engine's tags), the stream of ` +
      `\`stream\` after a tenth as many messages untimed`,
  );
  out.events = [];
  for (const size of o.sizes) {
    const n = eventsMessages(size, o.quick);
    const per: Record<string, number>[] = [];
    for (const mode of o.modes) {
      const s = await WriteStream.create(o.profile, mode, size, { countEvents: true });
      await s.run(Math.max(STREAM_SIGNAL_EVERY, Math.round(n / 10)));
      const r = await s.run(n);
      const perMsg = perMessage(r.byKind!, n);
      per.push(perMsg);
      out.events.push({ size, mode, messages: n, eventsPerMsg: r.events / n, byKind: perMsg });
    }
    kindsTable(`${sizeName(size)}, ${int(n)} msgs`, o.modes, per, say);
  }
}

/** Counts by kind divided by the messages they were counted over. */
function perMessage(byKind: Record<string, number>, messages: number): Record<string, number> {
  return Object.fromEntries(Object.entries(byKind).map(([k, c]) => [k, c / messages]));
}

/**
 * Events per message by kind, one column each: the kinds by their largest
 * figure in any column, then by name; "-" where a kind did not run; the sum.
 */
function kindsTable(
  title: string,
  columns: string[],
  perMsg: Record<string, number>[],
  say: (s: string) => void,
): void {
  const kinds = [...new Set(perMsg.flatMap((m) => Object.keys(m)))];
  const top = (k: string) => Math.max(...perMsg.map((m) => m[k] ?? 0));
  kinds.sort((x, y) => top(y) - top(x) || (x < y ? -1 : 1));
  const w = [24, ...columns.map(() => 9)];
  say(row([title, ...columns], w, true));
  for (const k of kinds) {
    say(row([k, ...perMsg.map((m) => m[k] === undefined ? "-" : m[k].toFixed(2))], w, true));
  }
  const all = (m: Record<string, number>) => Object.values(m).reduce((a, b) => a + b, 0);
  say(row(["all", ...perMsg.map((m) => all(m).toFixed(2))], w, true));
}

/** Buffers of the `copy` section: the stream's 1 MiB and `perftest -a`'s largest, 8 MiB. */
const COPY_BUFFERS = [1 << 20, 8 << 20];

/** Three decimals, as the `copy` and `train` sections print their figures. */
const fixed3 = (x: number): string => x.toFixed(3);

/** A min / median pair ({@link stats}) as a best / median one, to print ({@link pair}) or store. */
function bestMedian(x: { min: number; median: number }): { best: number; median: number } {
  return { best: x.min, median: x.median };
}

/**
 * Whole messages of `buffer` bytes in one measurement of the `copy` and `train` floors, about
 * 400 MiB (--quick: 100 MiB; 20–100 ms of copies on a 2020s core), and the GB they move: whole
 * messages, since --quick's 100 MiB is 12.5 of 8 MiB.
 */
function floorMessages(o: Options, buffer: number): { messages: number; gb: number } {
  const messages = Math.max(1, Math.round(((o.quick ? 100 : 400) << 20) / buffer));
  return { messages, gb: messages * buffer / 1e9 };
}

function benchCopy(o: Options, out: Json, say: (s: string) => void): void {
  const mtu = PROFILES[o.profile].link.mtu;
  say(
    `copy (${o.profile}): the payload's copies alone, ${mtu} B packets between buffers of 4 KiB ` +
      `frames, every message re-reading its source and re-writing its destination; best / median`,
  );
  const w = [8, 8, 16, 16];
  say(row(["buffer", "copies", "wall s/GB", "CPU s/GB"], w));
  out.copy = [];
  for (const buffer of COPY_BUFFERS) {
    const { messages, gb } = floorMessages(o, buffer);
    for (const copies of [2, 1] as const) {
      payloadCopies(buffer, mtu, copies, Math.max(1, messages >> 2)); // warm-up
      const runs = [];
      for (let r = 0; r < o.repeats; r++) runs.push(payloadCopies(buffer, mtu, copies, messages));
      const wall = stats(runs.map((r) => r.wallMs / 1000 / gb));
      const cpu = stats(runs.map((r) => r.cpuMs / 1000 / gb));
      say(
        row([
          sizeName(buffer),
          String(copies),
          pair(bestMedian(wall), fixed3),
          pair(bestMedian(cpu), fixed3),
        ], w),
      );
      out.copy.push({
        bufferBytes: buffer,
        packetBytes: mtu,
        copies,
        wallSecPerGB: bestMedian(wall),
        cpuSecPerGB: bestMedian(cpu),
      });
    }
  }
}

async function benchTrain(o: Options, out: Json, say: (s: string) => void): Promise<void> {
  const profile = PROFILES[o.profile];
  const mtu = profile.link.mtu;
  say(
    `train (${o.profile}): a stream's ${mtu} B packets with no model code, the resources' ` +
      `arithmetic and two copies each; exact: six steps ordered, hashed and logged as events; ` +
      `unrecorded: the same, not hashed or logged; fused: one recorded step per packet; ` +
      `events: each step an event of the model's engine; best / median`,
  );
  const w = [8, 11, 8, 16, 16, 16];
  say(row(["buffer", "variant", "steps", "µs/packet", "wall s/GB", "CPU s/GB"], w));
  out.train = [];
  for (const buffer of COPY_BUFFERS) {
    const { messages, gb } = floorMessages(o, buffer);
    for (const variant of TRAIN_FLOOR_VARIANTS) {
      await trainFloor(profile, variant, buffer, Math.max(1, messages >> 2)); // warm-up
      const runs = [];
      for (let r = 0; r < o.repeats; r++) {
        runs.push(await trainFloor(profile, variant, buffer, messages));
      }
      const packets = runs[0].packets;
      const perPacket = stats(runs.map((r) => r.wallMs * 1000 / packets));
      const wall = stats(runs.map((r) => r.wallMs / 1000 / gb));
      const cpu = stats(runs.map((r) => r.cpuMs / 1000 / gb));
      const steps = runs[0].steps / packets;
      const cells = [perPacket, wall, cpu].map((x) => pair(bestMedian(x), fixed3));
      say(row([sizeName(buffer), variant, steps, ...cells], w));
      out.train.push({
        bufferBytes: buffer,
        packetBytes: mtu,
        variant,
        stepsPerPacket: steps,
        wallUsPerPacket: bestMedian(perPacket),
        wallSecPerGB: bestMedian(wall),
        cpuSecPerGB: bestMedian(cpu),
      });
    }
  }
}

async function benchFastpath(o: Options, out: Json, say: (s: string) => void): Promise<void> {
  const n = o.quick ? 5_000 : 20_000;
  const streams = new Map<BenchMode, WriteStream>();
  for (const mode of o.modes) {
    const s = await WriteStream.create(o.profile, mode, 64);
    await warmUp(s, n, o.quick);
    streams.set(mode, s);
  }
  const runs = new Map<BenchMode, StreamRun[]>(o.modes.map((m) => [m, []]));
  const ratios = new Map<BenchMode, { wall: number[]; cpu: number[] }>(
    o.modes.map((m) => [m, { wall: [], cpu: [] }]),
  );
  for (let r = 0; r < o.repeats; r++) {
    const round = new Map<BenchMode, StreamRun>();
    for (const mode of o.modes) {
      const x = await streams.get(mode)!.run(n);
      round.set(mode, x);
      runs.get(mode)!.push(x);
    }
    const native = round.get("native");
    if (!native) continue;
    for (const mode of o.modes) {
      ratios.get(mode)!.wall.push(round.get(mode)!.wallMs / native.wallMs);
      ratios.get(mode)!.cpu.push(round.get(mode)!.cpuMs / native.cpuMs);
    }
  }
  say(
    `fastpath (${o.profile}): µs per 64 B RDMA WRITE (post, transfer, its share of polls) in ` +
      `${int(n)}-write streams, modes alternated; min / median, and the ratio to native ` +
      `(median of the rounds)`,
  );
  const w = [7, 16, 16, 10, 10];
  say(row(["mode", "wall µs/write", "CPU µs/write", "wall ×", "CPU ×"], w));
  out.fastpath = {};
  for (const mode of o.modes) {
    const t = stats(runs.get(mode)!.map((x) => (x.wallMs * 1000) / n));
    const c = stats(runs.get(mode)!.map((x) => (x.cpuMs * 1000) / n));
    const rw = ratios.get(mode)!.wall.length ? stats(ratios.get(mode)!.wall).median : NaN;
    const rc = ratios.get(mode)!.cpu.length ? stats(ratios.get(mode)!.cpu).median : NaN;
    const us = (x: { min: number; median: number }) =>
      `${x.min.toFixed(2)} / ${x.median.toFixed(2)}`;
    say(row([mode, us(t), us(c), rw.toFixed(2), rc.toFixed(2)], w));
    out.fastpath[mode] = { wallUsPerWrite: t, cpuUsPerWrite: c, toNative: { wall: rw, cpu: rc } };
  }
}

async function benchRss(o: Options, out: Json, say: (s: string) => void): Promise<void> {
  const hosts = o.quick ? 8 : 64;
  const r: RssResult = await clusterRss(hosts, o.guests, 256);
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  say(
    `rss: ${r.guests} bypass guests × ${r.guestMiB} MiB on ${r.hosts} hosts, ${r.pairs} connected ` +
      `RC QP pairs: resident +${mib(r.rssGrowthBytes)} MiB (${
        (r.rssGrowthBytes / r.guests / 1024).toFixed(0)
      } KiB per guest), JS heap ${mib(r.heapUsedBytes)} MiB, built in ${
        (r.buildMs / 1000).toFixed(1)
      } s`,
  );
  out.rss = r;
}

async function benchAllToAll(o: Options, out: Json, say: (s: string) => void): Promise<void> {
  say(
    `all-to-all: hosts × ${o.guests} bypass guests, every guest writes ${o.messages} × 4 KiB to ` +
      `every other (one RC QP per ordered pair, 16 outstanding); the traffic timed apart from setup`,
  );
  const w = [6, 7, 8, 11, 9, 11, 11, 12, 11, 10, 11, 9];
  say(row([
    "hosts",
    "guests",
    "QPs",
    "messages",
    "setup s",
    "traffic s",
    "CPU s",
    "events",
    "msgs/s",
    "µs/msg",
    "CPU µs/msg",
    "growth",
  ], w));
  out.allToAll = [];
  let first: number | undefined;
  for (const h of o.hosts) {
    const r: AllToAllBench = await allToAll(h, o.guests, 4096, o.messages, {
      countEvents: o.byKind,
    });
    const usPerMsg = (r.trafficMs * 1000) / r.messages;
    const cpuPerMsg = (r.trafficCpuMs * 1000) / r.messages;
    first ??= cpuPerMsg;
    say(row([
      h,
      r.guests,
      int(r.qps),
      int(r.messages),
      ((r.buildMs + r.setupMs) / 1000).toFixed(1),
      (r.trafficMs / 1000).toFixed(1),
      (r.trafficCpuMs / 1000).toFixed(1),
      int(r.events),
      rate(r.messages / (r.trafficMs / 1000)),
      usPerMsg.toFixed(2),
      cpuPerMsg.toFixed(2),
      `${(cpuPerMsg / first).toFixed(2)}×`,
    ], w));
    out.allToAll.push({ ...r, usPerMsg, cpuUsPerMsg: cpuPerMsg, growth: cpuPerMsg / first });
  }
  say("  growth: CPU µs per message against the first host count");
  if (!o.byKind) return;
  // Events per message by kind, one column per host count (counting costs a test per event).
  const runs = out.allToAll as AllToAllBench[];
  const perMsg = runs.map((r) => perMessage(r.byKind!, r.messages));
  kindsTable("events per message", runs.map((r) => `${r.hosts} hosts`), perMsg, say);
}

function row(cells: (string | number)[], widths: number[], leftFirst = false): string {
  return "  " +
    cells.map((c, i) =>
      leftFirst && i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i])
    ).join(" ");
}

/**
 * Run the selected sections and print the figures.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "./bench.ts";
 * const printed: string[] = [];
 * const log = console.log;
 * console.log = (line: string) => printed.push(line);
 * try {
 *   await main(["--help"]); // main(["engine", "--quick"]) measures; see --help for the rest
 * } finally {
 *   console.log = log;
 * }
 * assert.match(printed[0], /^Usage: deno task bench/);
 * ```
 */
export async function main(args: string[]): Promise<void> {
  const o = parseBenchArgs(args);
  if (!o) {
    console.log(benchUsage());
    return;
  }
  const out: Json = {
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    cpus: navigator.hardwareConcurrency,
    repeats: o.repeats,
    quick: o.quick,
  };
  const say = o.json ? () => {} : (s: string) => console.log(s);
  say(
    `deno task bench — wall clock on this machine (Deno ${Deno.version.deno}, ` +
      `${navigator.hardwareConcurrency} CPUs); min / median of ${o.repeats} repeats` +
      `${o.quick ? " (--quick)" : ""}`,
  );
  const run: Record<Section, () => Promise<void>> = {
    engine: () => benchEngine(o, out, say),
    stream: () => benchStream(o, out, say),
    events: () => benchEvents(o, out, say),
    copy: () => Promise.resolve(benchCopy(o, out, say)),
    train: () => benchTrain(o, out, say),
    fastpath: () => benchFastpath(o, out, say),
    rss: () => benchRss(o, out, say),
    "all-to-all": () => benchAllToAll(o, out, say),
  };
  for (const s of o.sections) await run[s]();
  if (o.json) console.log(JSON.stringify(out, null, 2));
}

if (import.meta.main) await runMain("bench", () => main(Deno.args));
