/**
 * The paper's evaluation, measured through the public API by the tools' one
 * measurement core: RDMA WRITE latency and bandwidth against message size
 * (native, bypass, split), event-driven vs polled send latency, memory
 * registration with and without the registration cache, resource setup
 * costs, the headline figures on today's hardware class
 * (`modern-gen5-ndr`), how each virtualized figure moves with each Xen
 * primitive's cost, and the application level (OSU latency and bandwidth
 * through xenib's MPI, NAS kernels). Every point is independent (its own
 * cluster from the seed), so all of them run on workers (`jobs`), and the
 * report is the same whatever the number of workers.
 *
 * @module
 */
import { MODERN_GEN5_NDR, type NoiseMode, type Profile } from "../../mod.ts";
import { Cluster, modeError, ToolError } from "./api.ts";
import type { Mode } from "./perftest_args.ts";
import type { PointOutcome } from "./perftest_runner.ts";
import {
  type MetricId,
  metricOf,
  METRICS,
  pointKey,
  pointRequest,
  type RunEnv,
} from "./metrics.ts";
import type { RegCost, SetupOp } from "./control_costs.ts";
import { runTasks, type Task, task } from "./pool.ts";
import type { BwPoint, CachePoint, LatPoint, PaperData, RegPoint } from "./paper_report.ts";
import { jobLayout, type JobShape, type NasPoint, type OsuPoint } from "./paper_app.ts";
import { type SensitivityFigure, XEN_PRIMITIVES, type XenPrimitive } from "./paper_sensitivity.ts";
import { KERNELS } from "../nas/registry.ts";
import type { NasClass } from "../nas/kernel.ts";

/**
 * How much a run measures: `quick` (tests), `default` (`deno task paper`,
 * about 10 s of wall time on two cores) or `full` (every size, the NAS
 * kernels at class A on 16 ranks: minutes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PAPER_SCALES, type PaperScale } from "./paper_run.ts";
 * const s: PaperScale = "default";
 * assert.ok(PAPER_SCALES.includes(s));
 * ```
 */
export type PaperScale = "quick" | "default" | "full";

/**
 * The scales, smallest first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PAPER_SCALES } from "./paper_run.ts";
 * assert.deepEqual(PAPER_SCALES, ["quick", "default", "full"]);
 * ```
 */
export const PAPER_SCALES = ["quick", "default", "full"] as const;

/**
 * The NAS part of a run: a class and the job's shape.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NasPlan } from "./paper_run.ts";
 * const full: NasPlan = { cls: "A", shape: { np: 16, hosts: 8, guestsPerHost: 2 } };
 * assert.equal(full.shape.np, 16);
 * ```
 */
export interface NasPlan {
  cls: NasClass;
  shape: JobShape;
}

/**
 * Sizes, iterations and page counts of a run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { paperPlan, type PaperPlan } from "./paper_run.ts";
 * const plan: PaperPlan = paperPlan("default");
 * assert.deepEqual([plan.latSizes[0], plan.latIters], [2, 1000]); // ib_write_lat's defaults at 2 B
 * // Bandwidth: at most 8 MiB per size, 16 to 1000 messages.
 * assert.deepEqual([64, 65536, 1048576].map(plan.bwIters), [1000, 128, 16]);
 * ```
 */
export interface PaperPlan {
  latSizes: number[];
  /** `-n` of the latency tests. */
  latIters: number;
  bwSizes: number[];
  /** `-n` of the bandwidth test at a size. */
  bwIters: (size: number) => number;
  /** The rule of `bwIters`, in words. */
  bwItersText: string;
  evSizes: number[];
  /** `-n` of the send latency tests. */
  evIters: number;
  pages: number[];
  regReps: number;
  /** Uses of one buffer through the registration cache. */
  cacheUses: number;
  setupReps: number;
  /** Run the Xen-primitive sensitivity table. */
  sensitivity: boolean;
  /** Run the headline figures on `modern-gen5-ndr`. */
  modern: boolean;
  /** OSU osu_latency and osu_bw command lines (none: no MPI part). */
  osu?: { latency: string[]; bw: string[] };
  /** The NAS part (none: not run). */
  nas?: NasPlan;
}

const pow2 = (lo: number, hi: number, step = 1) => {
  const out: number[] = [];
  for (let e = lo; e <= hi; e += step) out.push(2 ** e);
  return out;
};
const withSizes = (xs: number[], ...more: number[]) =>
  [...new Set([...xs, ...more])].sort((a, b) => a - b);

/**
 * What a run of each scale measures. `nas` overrides the scale's NAS part
 * (`null`: none).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { paperPlan } from "./paper_run.ts";
 * assert.equal(paperPlan("default").nas, undefined); // NAS is --full's (or --nas's)
 * assert.deepEqual(paperPlan("full").nas, {
 *   cls: "A",
 *   shape: { np: 16, hosts: 8, guestsPerHost: 2 },
 * });
 * assert.deepEqual(paperPlan("full").pages, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);
 * const s4 = { cls: "S" as const, shape: { np: 4, hosts: 2, guestsPerHost: 2 } };
 * assert.deepEqual(paperPlan("default", s4).nas, s4);
 * ```
 */
export function paperPlan(scale: PaperScale, nas?: NasPlan | null): PaperPlan {
  const bwBudget = 8 << 20;
  const bwIters = (s: number) => Math.min(1000, Math.max(16, Math.floor(bwBudget / s)));
  const bwItersText = "min(1000, max(16, 8 MiB / size)) messages per size: 1000 up to 8 KiB, " +
    "16 at 512 KiB and 1 MiB";
  const base = {
    latIters: 1000,
    bwIters,
    bwItersText,
    evIters: 1000,
    cacheUses: 10,
    sensitivity: true,
    modern: true,
    osu: {
      // -x 40: past MVAPICH's 32 eager messages before the RDMA fast path (OMB skips 100).
      latency: ["osu_latency", "-m", "8:1024", "-i", "100", "-x", "40"],
      bw: ["osu_bw", "-m", "1048576:1048576", "-i", "2", "-x", "1", "-W", "8"],
    },
  };
  let plan: PaperPlan;
  if (scale === "quick") {
    plan = {
      ...base,
      latSizes: [2, 64, 4096],
      latIters: 50,
      bwSizes: [64, 65536],
      bwIters: (s) => Math.max(16, Math.min(200, Math.floor(262144 / s))),
      bwItersText: "16-200 messages per size",
      evSizes: [2, 64],
      evIters: 50,
      pages: [1, 16, 256],
      regReps: 2,
      cacheUses: 4,
      setupReps: 2,
      sensitivity: false,
      modern: false,
      osu: {
        latency: ["osu_latency", "-m", "8:8", "-i", "50", "-x", "40"],
        bw: ["osu_bw", "-m", "65536:65536", "-i", "2", "-x", "1", "-W", "4"],
      },
    };
  } else if (scale === "default") {
    plan = {
      ...base,
      latSizes: pow2(1, 13, 2),
      bwSizes: withSizes(pow2(1, 19, 2), 64, 1048576),
      evSizes: [2, 64, 1024, 4096],
      pages: pow2(0, 10, 2),
      regReps: 5,
      setupReps: 5,
    };
  } else {
    plan = {
      ...base,
      latSizes: pow2(1, 14),
      bwSizes: pow2(1, 20),
      evSizes: pow2(1, 12),
      pages: pow2(0, 10),
      regReps: 10,
      cacheUses: 100,
      setupReps: 10,
      osu: {
        latency: ["osu_latency", "-m", "65536", "-i", "1000", "-x", "100"],
        bw: ["osu_bw", "-m", "1048576", "-i", "10", "-x", "2", "-W", "16"],
      },
      nas: { cls: "A", shape: { np: 16, hosts: 8, guestsPerHost: 2 } },
    };
  }
  if (nas !== undefined) {
    if (nas === null) delete plan.nas;
    else plan.nas = nas;
  }
  return plan;
}

/**
 * Options of {@link runPaper}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PaperOptions, runPaper } from "./paper_run.ts";
 * import type { Mode } from "./perftest_args.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const o: PaperOptions = {
 *   scale: "quick",
 *   profile: PCIX_SDR_2006,
 *   seed: 1,
 *   noise: "on",
 *   modes: ["native", "sriov" as Mode],
 * };
 * // Every mode is tried first: one the library lacks stops the run before any measurement.
 * await assert.rejects(runPaper(o), { name: "ToolError", message: /^mode sriov: / });
 * ```
 */
export interface PaperOptions {
  scale: PaperScale;
  /** The profile of the paper's testbed (or the user's). */
  profile: Profile;
  seed: number;
  noise: NoiseMode;
  /** Modes to measure. */
  modes: Mode[];
  /** What to measure (default {@link paperPlan}`(scale)`). */
  plan?: PaperPlan;
  /** Workers (default one per core; 1: in order in this thread). */
  jobs?: number;
  /** Progress: called as each point is done, with the count done and the total. */
  onStep?: (done: number, total: number, label: string) => void;
}

/**
 * Check that every requested guest mode can be created; a mode the
 * library does not implement yet fails here, before anything is measured.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { probeModes } from "./paper_run.ts";
 * import type { Mode } from "./perftest_args.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * await probeModes(["native", "bypass", "split"], PCIX_SDR_2006, 1); // all three exist
 * await assert.rejects(probeModes(["sriov" as Mode], PCIX_SDR_2006, 1), {
 *   name: "ToolError",
 *   message: "mode sriov: the library could not create a sriov guest " +
 *     "(EINVAL: createGuest probe-vm: driver 'sriov' (use bypass or split)); nothing was run\n" +
 *     "(use --modes to run the modes the library has, e.g. --modes native)",
 * });
 * ```
 */
export async function probeModes(modes: Mode[], profile: Profile, seed: number): Promise<void> {
  const bad: string[] = [];
  for (const mode of modes) {
    if (mode === "native") continue;
    const cluster = new Cluster({ profile, seed });
    try {
      const h = cluster.addHost({ name: "probe", hypervisor: true });
      await cluster.start();
      await h.createGuest({ name: "probe-vm", memoryMiB: 16, driver: mode });
    } catch (e) {
      bad.push(modeError(mode, e).message);
    }
  }
  if (bad.length) {
    throw new ToolError(
      `${bad.join("\n")}\n(use --modes to run the modes the library has, e.g. --modes native)`,
    );
  }
}

/** What the registration cache is, on this build, in the report's words. */
export const CACHE_NAME = "`openDevice(name, { regCache: true })`: in a guest, dom0 keeps the " +
  "grant mappings of deregistered pages (persistent grants), so a reused buffer's regMr maps no " +
  "grant; `mr.dereg` still invalidates the keys at once, as on bare metal, so every regMr crosses " +
  "to dom0 and writes the HCA's MTT and MPT again. On bare metal there is no cache below the " +
  "verbs ABI: native + cache is a full registration";

/** Tasks keyed by name, deduplicated (a perftest point by its key). */
class Plan {
  readonly tasks: Task[] = [];
  readonly labels: string[] = [];
  readonly #at = new Map<string, number>();

  add(key: string, label: string, t: Task): string {
    if (!this.#at.has(key)) {
      this.#at.set(key, this.tasks.length);
      this.tasks.push(t);
      this.labels.push(label);
    }
    return key;
  }

  index(key: string): number {
    const i = this.#at.get(key);
    if (i === undefined) throw new Error(`paper: no task '${key}'`);
    return i;
  }
}

const RUNNER = new URL("./perftest_runner.ts", import.meta.url);
const CONTROL = new URL("./control_costs.ts", import.meta.url);
const APP = new URL("./paper_app.ts", import.meta.url);
const SENS = new URL("./paper_sensitivity.ts", import.meta.url);

/** perftest's `-n` default for a test (so that a default count leaves the flag out). */
const DEFAULT_ITERS: Record<string, number> = {
  ib_write_lat: 1000,
  ib_send_lat: 1000,
  ib_write_bw: 5000,
};

/** A test's command line at a size, `-n` given only when it is not perftest's default. */
function argsAt(test: string, size: number, iters: number, extra: string[] = []): string[] {
  return [
    test,
    ...extra,
    "-s",
    String(size),
    ...(iters === DEFAULT_ITERS[test] ? [] : ["-n", String(iters)]),
  ];
}

/** The sweeps and control points of one profile: which keys hold what. */
interface Layout {
  lat: Record<string, [number, string][]>;
  bw: Record<string, [number, string][]>;
  poll: Record<string, [number, string][]>;
  event: Record<string, [number, string][]>;
  reg: Record<string, string>;
  setup: Record<string, string>;
}

/** Add the verbs evaluation of one profile to the plan. */
function planVerbs(
  p: Plan,
  env: RunEnv,
  modes: Mode[],
  plan: Pick<
    PaperPlan,
    | "latSizes"
    | "latIters"
    | "bwSizes"
    | "bwIters"
    | "evSizes"
    | "evIters"
    | "pages"
    | "regReps"
    | "cacheUses"
    | "setupReps"
  >,
): Layout {
  const L: Layout = { lat: {}, bw: {}, poll: {}, event: {}, reg: {}, setup: {} };
  const tag = env.profile.name;
  const point = (args: string[], mode: Mode, cost: number, label: string) => {
    const req = pointRequest(args, mode, env);
    return p.add(pointKey(req), `${label} ${mode}`, {
      ...task(RUNNER, "measurePerftestPoint", req),
      cost,
    });
  };
  for (const mode of modes) {
    L.lat[mode] = plan.latSizes.map((s) => [
      s,
      point(argsAt("ib_write_lat", s, plan.latIters), mode, 1 + s / 4096, `${tag} ib_write_lat`),
    ]);
    L.bw[mode] = plan.bwSizes.map((s) => [
      s,
      point(
        argsAt("ib_write_bw", s, plan.bwIters(s)),
        mode,
        1 + (s * plan.bwIters(s)) / 4e6,
        `${tag} ib_write_bw`,
      ),
    ]);
    L.setup[mode] = p.add(`${tag} setup ${mode}`, `${tag} setup ${mode}`, {
      ...task(CONTROL, "setupCosts", env, mode, plan.setupReps),
      cost: 1,
    });
  }
  for (const mode of modes.filter((m) => m !== "split")) {
    L.poll[mode] = plan.evSizes.map((s) => [
      s,
      point(argsAt("ib_send_lat", s, plan.evIters), mode, 1, `${tag} ib_send_lat`),
    ]);
    L.event[mode] = plan.evSizes.map((s) => [
      s,
      point(argsAt("ib_send_lat", s, plan.evIters, ["-e"]), mode, 2, `${tag} ib_send_lat -e`),
    ]);
    L.reg[mode] = p.add(`${tag} reg ${mode}`, `${tag} registration ${mode}`, {
      ...task(CONTROL, "registrationCost", env, mode, plan.pages, {
        reps: plan.regReps,
        cacheUses: plan.cacheUses,
      }),
      cost: 3,
    });
  }
  return L;
}

/** Read one profile's verbs evaluation out of the results. */
function assembleVerbs(
  p: Plan,
  results: unknown[],
  L: Layout,
  env: RunEnv,
  scale: PaperScale,
  modes: Mode[],
  plan: PaperPlan,
): PaperData {
  const get = <T>(key: string) => results[p.index(key)] as T;
  const counters: Record<string, Record<string, number>> = {};
  const count = (label: string, mode: string, o: PointOutcome) => {
    if (mode === "native") return;
    const c = (counters[`${label}, ${mode}`] ??= {});
    for (const [k, v] of Object.entries(o.crossings)) c[k] = (c[k] ?? 0) + v;
  };
  const lat = (rec: Record<string, [number, string][]>, label: string) => {
    const out: Record<string, LatPoint[]> = {};
    for (const [mode, pts] of Object.entries(rec)) {
      out[mode] = pts.map(([, key]) => {
        const o = get<PointOutcome>(key);
        count(label, mode, o);
        const v = metricOf({ ...METRICS["rdma-write-lat"], args: [label] }, o);
        const row = o.result.lat[0];
        return {
          bytes: row.bytes,
          typicalUs: row.tTypical,
          avgUs: row.tAvg,
          p1Us: v.p1!,
          p99Us: v.p99!,
        };
      });
    }
    return out;
  };
  const writeBw: Record<string, BwPoint[]> = {};
  for (const [mode, pts] of Object.entries(L.bw)) {
    writeBw[mode] = pts.map(([, key]) => {
      const o = get<PointOutcome>(key);
      count("ib_write_bw", mode, o);
      const row = o.result.bw[0];
      return {
        bytes: row.bytes,
        mbps: row.avgBytesPerSec / 1e6,
        mibps: row.avgBytesPerSec / 1048576,
        mpps: row.msgRateMpps,
        iterations: row.iterations,
      };
    });
  }
  const reg: Record<string, RegPoint[]> = {};
  const regCache: Record<string, CachePoint[]> = {};
  for (const [mode, key] of Object.entries(L.reg)) {
    const r = get<RegCost[]>(key);
    reg[mode] = r.map((x) => ({ pages: x.pages, regUs: x.regUs, deregUs: x.deregUs }));
    regCache[`${mode} + cache`] = r.map((x) => ({
      pages: x.pages,
      coldUs: x.cold!,
      warmUs: x.warm!,
      perUseUs: x.perUse!,
    }));
  }
  const setup: Record<string, Partial<Record<SetupOp, number>>> = {};
  for (const [mode, key] of Object.entries(L.setup)) {
    setup[mode] = get<Record<SetupOp, number>>(key);
  }
  // The figures' methods, from their points.
  const methodOf = (rec: Record<string, [number, string][]>, id: MetricId, size: number) => {
    for (const pts of Object.values(rec)) {
      const hit = pts.find(([s]) => s === size);
      if (hit) {
        const o = get<PointOutcome>(hit[1]);
        const args = [o.result.test, ...(id === "event-lat" ? ["-e"] : []), "-s", String(size)];
        const n = o.result.kind === "lat" ? o.result.lat[0].iterations : o.result.bw[0].iterations;
        if (n !== DEFAULT_ITERS[o.result.test]) args.push("-n", String(n));
        return metricOf({ ...METRICS[id], args }, o).method;
      }
    }
    return undefined;
  };
  const methods: Partial<Record<MetricId, string>> = {};
  for (
    const [id, rec, size] of [
      ["rdma-write-lat", L.lat, 2],
      ["rdma-write-bw", L.bw, 1048576],
      ["msg-rate", L.bw, 64],
      ["send-lat", L.poll, 2],
      ["event-lat", L.event, 64],
    ] as const
  ) {
    const m = methodOf(rec, id, size);
    if (m) methods[id] = m;
  }
  return {
    profile: env.profile.name,
    profileDescription: env.profile.description,
    seed: env.seed,
    noise: env.noise,
    scale,
    modes: [...modes],
    method: {
      lat: `ib_write_lat -s SIZE${plan.latIters === 1000 ? "" : ` -n ${plan.latIters}`} ` +
        `(perftest's ${plan.latIters} iterations): ping-pong, polled, inline up to 220 B, half ` +
        "round trip; median (t_typical), p1-p99 of the kept samples",
      bw: `ib_write_bw -s SIZE -n N: ${plan.bwItersText}; tx depth 128 (at most N), every ` +
        "100th WR signaled up to 8 KiB and every one above (perftest's rule); BW average = " +
        "bytes / (last completion - first post), MB/s = 10^6 B/s",
      ev: `ib_send_lat [-e] -s SIZE${plan.evIters === 1000 ? "" : ` -n ${plan.evIters}`}: ` +
        "ping-pong of SENDs, completions polled or (with -e) by event on a completion " +
        "channel, half round trip, median",
      reg: `pd.regMr of an N-page buffer and its dereg, mean of ${plan.regReps}, cache off; with ` +
        `the cache: ${plan.cacheUses} uses of one buffer (regMr + dereg), the first (cold) and ` +
        "the mean of the others (warm)",
      setup: `each control operation's virtual time, mean of ${plan.setupReps} rounds, cache off`,
      figures: methods,
    },
    writeLat: lat(L.lat, "ib_write_lat"),
    writeBw,
    sendLatPoll: lat(L.poll, "ib_send_lat"),
    sendLatEvent: lat(L.event, "ib_send_lat -e"),
    reg,
    regCache,
    cacheName: CACHE_NAME,
    setup,
    counters,
    calibration: [...env.profile.calibration],
  };
}

/**
 * Measure everything the report needs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { paperPlan, runPaper } from "./paper_run.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * // One size of each, a few iterations: the bypass guest's side of the evaluation.
 * const plan = {
 *   ...paperPlan("quick"),
 *   latSizes: [2],
 *   latIters: 10,
 *   bwSizes: [65536],
 *   bwIters: () => 10,
 *   evSizes: [2],
 *   evIters: 10,
 *   pages: [1],
 *   regReps: 1,
 *   cacheUses: 2,
 *   setupReps: 1,
 *   osu: undefined,
 * };
 * const d = await runPaper({
 *   scale: "quick",
 *   profile: PCIX_SDR_2006,
 *   seed: 1,
 *   noise: "off",
 *   modes: ["bypass"],
 *   plan,
 *   jobs: 1,
 * });
 * assert.deepEqual(Object.keys(d.reg), ["bypass"]);
 * assert.deepEqual(Object.keys(d.regCache), ["bypass + cache"]);
 * // The fast path never crossed the hypervisor while measuring; events did, through dom0.
 * assert.equal(d.counters["ib_write_lat, bypass"].hypercalls, 0);
 * assert.equal(d.counters["ib_write_bw, bypass"].hypercalls, 0);
 * assert.ok(d.counters["ib_send_lat -e, bypass"].evtchnSends > 0);
 * assert.ok(d.sendLatEvent.bypass[0].typicalUs > d.sendLatPoll.bypass[0].typicalUs);
 * ```
 */
export async function runPaper(o: PaperOptions): Promise<PaperData> {
  const plan = o.plan ?? paperPlan(o.scale);
  await probeModes(o.modes, o.profile, o.seed);
  const env: RunEnv = { profile: o.profile, seed: o.seed, noise: o.noise };
  const p = new Plan();
  const main = planVerbs(p, env, o.modes, plan);

  // Today's hardware class: the headline figures, registration at 1 and 1024 pages, setup.
  const modernEnv: RunEnv = { profile: MODERN_GEN5_NDR, seed: o.seed, noise: o.noise };
  const modernPlan = {
    latSizes: [2],
    latIters: 1000,
    bwSizes: [64, 1048576],
    bwIters: plan.bwIters,
    evSizes: [64],
    evIters: 1000,
    pages: [1, 1024],
    regReps: plan.regReps,
    cacheUses: plan.cacheUses,
    setupReps: plan.setupReps,
  };
  const modern = plan.modern && o.profile.name !== MODERN_GEN5_NDR.name
    ? planVerbs(p, modernEnv, o.modes, modernPlan)
    : undefined;

  const sensKeys: { param?: XenPrimitive; factor: number; key: string }[] = [];
  if (plan.sensitivity && o.modes.includes("bypass") && o.modes.includes("split")) {
    const variants: { param?: XenPrimitive; factor: number }[] = [{ factor: 1 }];
    for (const x of XEN_PRIMITIVES) {
      for (const f of [0.5, 2]) variants.push({ param: x.param, factor: f });
    }
    for (const v of variants) {
      const key = `sensitivity ${v.param ?? "base"} ${v.factor}`;
      sensKeys.push({ ...v, key });
      p.add(key, key, {
        ...task(SENS, "sensitivityFigures", o.profile, v.param, v.factor, o.seed),
        cost: 4,
      });
    }
  }

  const osuKeys: Record<string, { lat: string; bw: string }> = {};
  if (plan.osu) {
    for (const mode of o.modes) {
      osuKeys[mode] = {
        lat: p.add(`osu lat ${mode}`, `osu_latency ${mode}`, {
          ...task(APP, "osuPoints", plan.osu.latency, mode, env),
          cost: 3,
        }),
        bw: p.add(`osu bw ${mode}`, `osu_bw ${mode}`, {
          ...task(APP, "osuPoints", plan.osu.bw, mode, env),
          cost: 3,
        }),
      };
    }
  }
  const nasKeys: Record<string, Record<string, string>> = {};
  const nasSkipped: string[] = [];
  if (plan.nas && o.modes.includes("native")) {
    for (const k of KERNELS) {
      // A kernel whose NPB rule refuses the shape (BT: a square number of processes) sits out.
      const why = k.classes.includes(plan.nas.cls)
        ? k.checkNp(plan.nas.shape.np, plan.nas.cls)
        : `no class ${plan.nas.cls}`;
      if (why) {
        nasSkipped.push(`${k.name} (${why})`);
        continue;
      }
      nasKeys[k.name] = {};
      for (const mode of o.modes) {
        nasKeys[k.name][mode] = p.add(`nas ${k.name} ${mode}`, `NAS ${k.name} ${mode}`, {
          ...task(APP, "nasPoint", k.name, plan.nas.cls, plan.nas.shape, mode, env),
          cost: 50,
        });
      }
    }
  }

  let done = 0;
  const results = await runTasks(p.tasks, {
    jobs: o.jobs,
    onDone: (i) => o.onStep?.(++done, p.tasks.length, p.labels[i]),
  });

  const d = assembleVerbs(p, results, main, env, o.scale, o.modes, plan);
  if (modern) {
    d.modern = assembleVerbs(p, results, modern, modernEnv, o.scale, o.modes, {
      ...plan,
      ...modernPlan,
    });
  }
  if (sensKeys.length) {
    const at = (k: string) => results[p.index(k)] as Record<SensitivityFigure, number>;
    d.sensitivity = {
      base: at(sensKeys[0].key),
      variants: sensKeys.slice(1).map((s) => ({
        param: s.param!,
        factor: s.factor,
        values: at(s.key),
      })),
    };
  }
  if (plan.osu) {
    const latency: Record<string, OsuPoint[]> = {}, bw: Record<string, OsuPoint[]> = {};
    for (const [mode, k] of Object.entries(osuKeys)) {
      latency[mode] = results[p.index(k.lat)] as OsuPoint[];
      bw[mode] = results[p.index(k.bw)] as OsuPoint[];
    }
    d.app = {
      osu: {
        latency,
        bw,
        method: { latency: plan.osu.latency.join(" "), bw: plan.osu.bw.join(" ") },
      },
    };
  }
  if (plan.nas && Object.keys(nasKeys).length) {
    const rows: Record<string, Record<string, NasPoint>> = {};
    for (const [k, byMode] of Object.entries(nasKeys)) {
      rows[k] = {};
      for (const [mode, key] of Object.entries(byMode)) {
        rows[k][mode] = results[p.index(key)] as NasPoint;
      }
    }
    d.app ??= {};
    d.app.nas = {
      cls: plan.nas.cls,
      shape: plan.nas.shape,
      layout: Object.fromEntries(o.modes.map((m) => [m, jobLayout(plan.nas!.shape, m)])),
      rows,
      ...(nasSkipped.length ? { skipped: nasSkipped } : {}),
    };
  }
  return d;
}
