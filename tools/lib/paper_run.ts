/**
 * The paper's evaluation, measured through the public API: RDMA WRITE
 * latency and bandwidth against message size (native, bypass, split),
 * event-driven vs polled send latency (native, bypass), memory
 * registration cost against pages (native, bypass, bypass with the
 * registration cache) and resource setup costs (native, bypass, split).
 *
 * @module
 */
import { Access, connectQp, type Profile, QpType } from "../../mod.ts";
import { Cluster, type Domain, type Host, modeError, ToolError } from "./api.ts";
import { type Mode, parsePerftestArgs, type PerftestConfig } from "./perftest_args.ts";
import { buildPair, runPerftest } from "./perftest_runner.ts";
import type { BwPoint, LatPoint, PaperData, RegPoint, SetupOp } from "./paper_report.ts";
import type { PerftestResult } from "./perftest_stats.ts";

/**
 * Options of {@link runPaper}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type PaperOptions, runPaper } from "./paper_run.ts";
 * import type { Mode } from "./perftest_args.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const steps: string[] = [];
 * const o: PaperOptions = {
 *   quick: true,
 *   profile: PCIX_SDR_2006,
 *   seed: 1,
 *   modes: ["native", "sriov" as Mode],
 *   onStep: (label) => steps.push(label),
 * };
 * // Every mode is tried first: one the library lacks stops the run before any measurement.
 * await assert.rejects(runPaper(o), { name: "ToolError", message: /^mode sriov: / });
 * assert.deepEqual(steps, []);
 * ```
 */
export interface PaperOptions {
  /** Smaller run (tests). */
  quick: boolean;
  /** Profile. */
  profile: Profile;
  /** Seed. */
  seed: number;
  /** Modes to measure (default all three). */
  modes: Mode[];
  /** Sizes, iterations and page counts (default {@link paperPlan}`(quick)`). */
  plan?: PaperPlan;
  /** Progress: one call per unit of work. */
  onStep?: (label: string) => void;
}

/**
 * Sizes, iterations and page counts of a run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { paperPlan, type PaperPlan } from "./paper_run.ts";
 * const plan: PaperPlan = paperPlan(false);
 * assert.deepEqual([plan.latSizes[0], plan.latSizes.at(-1), plan.latSizes.length], [2, 16384, 14]);
 * // Bandwidth: 32 MiB per size, at least 200 and at most 5000 messages.
 * assert.deepEqual([2, 65536, 1048576].map(plan.bwIters), [5000, 512, 200]);
 * ```
 */
export interface PaperPlan {
  latSizes: number[];
  latIters: number;
  bwSizes: number[];
  bwIters: (size: number) => number;
  bwItersText: string;
  evSizes: number[];
  evIters: number;
  pages: number[];
  regReps: number;
  /** Uses of the same buffer through the registration cache (first one misses). */
  cacheUses: number;
  setupReps: number;
}

const pow2 = (lo: number, hi: number, step = 1) => {
  const out: number[] = [];
  for (let e = lo; e <= hi; e += step) out.push(2 ** e);
  return out;
};

/**
 * What a full or quick run measures.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { paperPlan } from "./paper_run.ts";
 * assert.deepEqual(paperPlan(true).pages, [1, 16, 256, 1024]);
 * assert.deepEqual(paperPlan(false).pages, [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]);
 * assert.deepEqual([paperPlan(true).latIters, paperPlan(false).latIters], [20, 1000]);
 * ```
 */
export function paperPlan(quick: boolean): PaperPlan {
  if (quick) {
    return {
      latSizes: [2, 64, 1024, 4096],
      latIters: 20,
      bwSizes: [2, 256, 4096, 65536],
      bwIters: (s) => Math.max(20, Math.min(100, Math.floor(262144 / s))),
      bwItersText: "20–100 messages per size (fewer for large messages)",
      evSizes: [2, 1024],
      evIters: 20,
      pages: [1, 16, 256, 1024],
      regReps: 2,
      cacheUses: 100,
      setupReps: 2,
    };
  }
  return {
    latSizes: pow2(1, 14),
    latIters: 1000,
    bwSizes: pow2(1, 20),
    bwIters: (s) => Math.max(200, Math.min(5000, Math.floor(33554432 / s))),
    bwItersText:
      "min(5000, 32 MiB / size) messages per size, at least 200 (perftest's default is 5000)",
    evSizes: pow2(1, 12),
    evIters: 1000,
    pages: pow2(0, 10),
    regReps: 10,
    cacheUses: 100,
    setupReps: 10,
  };
}

/**
 * Units of progress a run makes (for the progress bar).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { paperPlan, paperSteps } from "./paper_run.ts";
 * const quick = paperPlan(true);
 * // native: 4 latency + 4 bandwidth sizes, 2 × 2 send-latency sizes, 4 page counts, 1 setup
 * assert.equal(paperSteps(quick, ["native"]), 17);
 * // split has no event or registration series; bypass adds one with the cache
 * assert.equal(paperSteps(quick, ["native", "bypass", "split"]), 47);
 * ```
 */
export function paperSteps(plan: PaperPlan, modes: Mode[]): number {
  const nm = modes.length;
  const evModes = modes.filter((m) => m !== "split").length;
  const regSeries = modes.filter((m) => m !== "split").length + (modes.includes("bypass") ? 1 : 0);
  return nm * (plan.latSizes.length + plan.bwSizes.length) +
    2 * evModes * plan.evSizes.length + regSeries * plan.pages.length + nm;
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

function sumCounters(hosts: Host[]): Record<string, number> {
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
 * Run one perftest configuration on a fresh pair of endpoints, with
 * progress, and record for guests what crossed the hypervisor while the
 * sizes were measured (setup and teardown excluded).
 */
async function series(
  o: PaperOptions,
  config: PerftestConfig,
  label: string,
  counters?: Record<string, Record<string, number>>,
): Promise<PerftestResult> {
  const mode = config.mode;
  const { cluster, a, b, hosts } = await buildPair(config, o.profile);
  let before: Record<string, number> | undefined;
  let after: Record<string, number> | undefined;
  const r = await runPerftest(config, {
    profile: o.profile,
    endpoints: { cluster, a, b, mode },
    onSize: (_bytes, i) => {
      if (i === 0) before = sumCounters(hosts);
      else o.onStep?.(`${label} ${mode}`);
    },
    onMeasured: () => {
      after = sumCounters(hosts);
      o.onStep?.(`${label} ${mode}`);
    },
  });
  if (counters && mode !== "native" && before && after) {
    const d: Record<string, number> = {};
    for (const k of Object.keys(after)) d[k] = after[k] - (before[k] ?? 0);
    counters[`${label}, ${mode}`] = d;
  }
  return r;
}

/** A perftest configuration for the paper: a test, sizes, iterations, mode, seed. */
function paperConfig(
  o: PaperOptions,
  test: string,
  sizes: number[],
  iters: number,
  mode: Mode,
  extra: string[] = [],
): PerftestConfig {
  const c = parsePerftestArgs([test, "-n", String(iters), "--seed", String(o.seed), ...extra]);
  c.sizes = [...sizes];
  c.mode = mode;
  return c;
}

/** Run every size of a bandwidth test, each with its own iteration count. */
async function bwSeries(
  o: PaperOptions,
  plan: PaperPlan,
  mode: Mode,
  counters: Record<string, Record<string, number>>,
): Promise<BwPoint[]> {
  const out: BwPoint[] = [];
  // Sizes with the same iteration count share one run (one pair of QPs), as `-a` does.
  const groups = new Map<number, number[]>();
  for (const s of plan.bwSizes) {
    const n = plan.bwIters(s);
    groups.set(n, [...(groups.get(n) ?? []), s]);
  }
  for (const [iters, sizes] of groups) {
    const first = sizes.includes(plan.bwSizes[0]);
    const r = await series(
      o,
      paperConfig(o, "ib_write_bw", sizes, iters, mode),
      "ib_write_bw",
      first ? counters : undefined,
    );
    for (const row of r.bw) {
      out.push({
        bytes: row.bytes,
        avgMBps: row.avgBytesPerSec / 1048576,
        peakMBps: row.peakBytesPerSec / 1048576,
        mpps: row.msgRateMpps,
        iterations: row.iterations,
      });
    }
  }
  return out.sort((a, b) => a.bytes - b.bytes);
}

function latPoints(r: PerftestResult): LatPoint[] {
  return r.lat.map((x) => ({ bytes: x.bytes, typicalUs: x.tTypical, avgUs: x.tAvg }));
}

/** A domain of the given mode on a one-host cluster (for control-path timing). */
async function controlDomain(
  o: PaperOptions,
  mode: Mode,
): Promise<{ cluster: Cluster; dom: Domain }> {
  const cluster = new Cluster({ profile: o.profile, seed: o.seed });
  if (mode === "native") {
    const host = cluster.addHost({ name: "node0", hypervisor: false });
    await cluster.start();
    if (!host.os) throw new ToolError("the library's bare-metal Host has no 'os' domain");
    return { cluster, dom: host.os };
  }
  try {
    const host = cluster.addHost({ name: "node0", hypervisor: true });
    await cluster.start();
    const dom = await host.createGuest({ name: "vm0", memoryMiB: 64, driver: mode });
    return { cluster, dom };
  } catch (e) {
    throw modeError(mode, e);
  }
}

/**
 * Registration cost for each page count: `regReps` register/deregister
 * pairs of the same buffer with the registration cache off; with `cache`,
 * `cacheUses` pairs with it on (`openDevice(…, { regCache: true })`) after
 * one first use that is not counted: in a guest the first use grants and
 * maps every page, the following ones find the grant mappings dom0 kept
 * (the keys die at every `dereg`, as on bare metal, so each use still
 * writes the MTT and MPT). Cost per use.
 */
async function registration(
  o: PaperOptions,
  plan: PaperPlan,
  mode: Mode,
  cache: boolean,
  label: string,
): Promise<RegPoint[]> {
  const { cluster, dom } = await controlDomain(o, mode);
  return await cluster.run(async () => {
    const ctx = await dom.openDevice(undefined, { regCache: cache });
    const pd = await ctx.allocPd();
    const access = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;
    const reps = cache ? plan.cacheUses : plan.regReps;
    const out: RegPoint[] = [];
    for (const pages of plan.pages) {
      const len = pages * 4096;
      const buf = dom.memory.alloc(len, 4096);
      // Touch the buffer as an application would before registering it.
      dom.memory.write(buf, new Uint8Array([1]));
      let reg = 0, dereg = 0;
      // With the cache the first use is the cold one (it maps the grants): not counted.
      if (cache) await (await pd.regMr(buf, len, access)).dereg();
      for (let r = 0; r < reps; r++) {
        const t0 = cluster.now;
        const mr = await pd.regMr(buf, len, access);
        const t1 = cluster.now;
        await mr.dereg();
        reg += t1 - t0;
        dereg += cluster.now - t1;
      }
      out.push({ pages, regUs: reg / reps / 1000, deregUs: dereg / reps / 1000 });
      o.onStep?.(`registration ${label}`);
    }
    await pd.dealloc();
    await ctx.close();
    return out;
  });
}

/** Virtual time of each control operation, mean over reps. */
async function setupCosts(
  o: PaperOptions,
  plan: PaperPlan,
  mode: Mode,
): Promise<Partial<Record<SetupOp, number>>> {
  const { cluster, dom } = await controlDomain(o, mode);
  const sums: Partial<Record<SetupOp, number>> = {};
  const add = (op: SetupOp, ns: number) => (sums[op] = (sums[op] ?? 0) + ns);
  await cluster.run(async () => {
    const page = dom.memory.alloc(4096, 4096);
    for (let r = 0; r < plan.setupReps; r++) {
      let t = cluster.now;
      const lap = (op: SetupOp) => {
        add(op, cluster.now - t);
        t = cluster.now;
      };
      // Registration cache off: every operation goes to the driver (and, in a guest, to dom0).
      const ctx = await dom.openDevice(undefined, { regCache: false });
      lap("openDevice");
      const pd = await ctx.allocPd();
      lap("allocPd");
      const cq = await ctx.createCq(256);
      lap("createCq");
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 64, maxRecvWr: 64, maxSendSge: 1, maxRecvSge: 1 },
      });
      lap("createQp");
      const lid = Number(ctx.queryPort(1).lid ?? 0);
      t = cluster.now;
      // Looped back to itself: the three transitions cost the same whoever the peer is.
      await connectQp(qp, {
        remoteQpn: qp.qpNum,
        rqPsn: qp.initialPsn,
        dlid: lid,
        accessFlags: Access.REMOTE_WRITE,
      });
      lap("modifyQp (RESET→RTS)");
      const mr = await pd.regMr(page, 4096, Access.LOCAL_WRITE);
      lap("regMr (1 page)");
      await qp.destroy();
      lap("destroyQp");
      await cq.destroy();
      lap("destroyCq");
      await mr.dereg();
      await pd.dealloc();
      await ctx.close();
    }
  });
  const out: Partial<Record<SetupOp, number>> = {};
  for (const [k, v] of Object.entries(sums)) out[k as SetupOp] = v / plan.setupReps / 1000;
  o.onStep?.(`setup ${mode}`);
  return out;
}

/**
 * Measure everything the report needs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { paperPlan, paperSteps, runPaper } from "./paper_run.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * // One size of each, a few iterations: the bypass guest's side of the evaluation.
 * const plan = {
 *   ...paperPlan(true),
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
 * };
 * let steps = 0;
 * const d = await runPaper({
 *   quick: true,
 *   profile: PCIX_SDR_2006,
 *   seed: 1,
 *   modes: ["bypass"],
 *   plan,
 *   onStep: () => steps++,
 * });
 * assert.equal(steps, paperSteps(plan, ["bypass"]));
 * assert.deepEqual(Object.keys(d.reg), ["bypass", "bypass + cache"]);
 * // The fast path never crossed the hypervisor while measuring; events did, through dom0.
 * assert.equal(d.counters["ib_write_lat, bypass"].hypercalls, 0);
 * assert.equal(d.counters["ib_write_bw, bypass"].hypercalls, 0);
 * assert.ok(d.counters["ib_send_lat -e, bypass"].evtchnSends > 0);
 * assert.ok(d.sendLatEvent.bypass[0].typicalUs > d.sendLatPoll.bypass[0].typicalUs);
 * ```
 */
export async function runPaper(o: PaperOptions): Promise<PaperData> {
  const plan = o.plan ?? paperPlan(o.quick);
  await probeModes(o.modes, o.profile, o.seed);
  const d: PaperData = {
    profile: o.profile.name,
    profileDescription: o.profile.description,
    seed: o.seed,
    quick: o.quick,
    modes: [...o.modes],
    writeLat: {},
    writeBw: {},
    sendLatPoll: {},
    sendLatEvent: {},
    reg: {},
    setup: {},
    iterations: {
      lat: plan.latIters,
      bw: plan.bwItersText,
      reg: plan.regReps,
      cacheUses: plan.cacheUses,
      setup: plan.setupReps,
    },
    counters: {},
  };
  for (const mode of o.modes) {
    const lat = await series(
      o,
      paperConfig(o, "ib_write_lat", plan.latSizes, plan.latIters, mode),
      "ib_write_lat",
      d.counters,
    );
    d.writeLat[mode] = latPoints(lat);
    d.writeBw[mode] = await bwSeries(o, plan, mode, d.counters);
  }
  for (const mode of o.modes.filter((m) => m !== "split")) {
    const poll = paperConfig(o, "ib_send_lat", plan.evSizes, plan.evIters, mode);
    d.sendLatPoll[mode] = latPoints(await series(o, poll, "ib_send_lat", d.counters));
    const ev = paperConfig(o, "ib_send_lat", plan.evSizes, plan.evIters, mode, ["-e"]);
    d.sendLatEvent[mode] = latPoints(await series(o, ev, "ib_send_lat -e", d.counters));
  }
  for (const mode of o.modes.filter((m) => m !== "split")) {
    d.reg[mode] = await registration(o, plan, mode, false, mode);
  }
  if (o.modes.includes("bypass")) {
    d.reg["bypass + cache"] = await registration(o, plan, "bypass", true, "bypass + cache");
  }
  for (const mode of o.modes) d.setup[mode] = await setupCosts(o, plan, mode);
  return d;
}
