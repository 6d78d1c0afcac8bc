/**
 * The simulator's speed on whole verbs programs, for `deno task bench`:
 * how many simulated messages a wall-clock second buys, in each driver
 * mode, and what a large cluster costs in memory and time. Programs use
 * only `mod.ts`; timing is wall clock (a property of this machine), the
 * virtual-time figures are printed next to it for scale.
 *
 * @module
 */
import {
  Access,
  Cluster,
  connectPair,
  type Cq,
  type Domain,
  type Mr,
  Prng,
  type Qp,
  QpType,
  SendFlags,
  WcStatus,
  WrOpcode,
} from "../../mod.ts";
import { runAllToAll } from "./alltoall.ts";
import { stopwatch } from "./bench_engine.ts";

/**
 * How the two ends of a program reach the HCA.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type BenchMode, WriteStream } from "./bench_model.ts";
 * const m: BenchMode = "split"; // every post and poll also crosses dom0
 * const s = await WriteStream.create("pcix-sdr-2006", m, 64);
 * assert.equal((await s.run(32)).messages, 32);
 * ```
 */
export type BenchMode = "native" | "bypass" | "split";

const ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;

interface End {
  dom: Domain;
  qp: Qp;
  cq: Cq;
  mr: Mr;
  buf: number;
  lid: number;
}

/**
 * Work one measured stream did.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type StreamRun, WriteStream } from "./bench_model.ts";
 * const s = await WriteStream.create("pcix-sdr-2006", "bypass", 4096);
 * const r: StreamRun = await s.run(64);
 * // The simulator's speed, and the modelled hardware's (virtual time).
 * const perWallSecond = r.messages / (r.wallMs / 1000);
 * const perVirtualSecond = r.messages / (r.virtualNs / 1e9);
 * assert.ok(perWallSecond > 0 && perVirtualSecond > 0 && r.cpuMs >= 0);
 * ```
 */
export interface StreamRun {
  /** Messages written. */
  messages: number;
  /** Wall time, ms. */
  wallMs: number;
  /** CPU time, ms. */
  cpuMs: number;
  /** Virtual time the stream took, ns. */
  virtualNs: number;
  /** Engine events run. */
  events: number;
  /** Process wake-ups. */
  wakeups: number;
  /**
   * Events run by kind (`Engine.eventCounts`), when the stream was made with
   * `countEvents`; kinds that did not run are left out.
   */
  byKind?: Record<string, number>;
}

/**
 * A one-QP RDMA WRITE stream between two hosts: `size`-byte messages,
 * {@link STREAM_DEPTH} outstanding, every {@link STREAM_SIGNAL_EVERY}th
 * signaled (and the last), from a buffer of pseudo-random bytes (as
 * perftest's). Built once; {@link WriteStream.run} measures.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WriteStream } from "./bench_model.ts";
 * const s = await WriteStream.create("pcix-sdr-2006", "native", 64);
 * const r = await s.run(64);
 * assert.equal(r.messages, 64);
 * assert.ok(r.virtualNs > 0 && r.events > 64);
 * ```
 */
export class WriteStream {
  private constructor(
    readonly cluster: Cluster,
    readonly size: number,
    readonly a: End,
    readonly b: End,
    readonly counting: boolean,
  ) {}

  /**
   * Two hosts (one guest each unless native), one connected RC QP pair;
   * `opts.countEvents`: each {@link run} also counts its events by kind.
   */
  static async create(
    profile: string,
    mode: BenchMode,
    size: number,
    opts: { countEvents?: boolean } = {},
  ): Promise<WriteStream> {
    const cluster = new Cluster({ profile, seed: 1, countEvents: opts.countEvents });
    const virt = mode !== "native";
    const hosts = [0, 1].map((i) => cluster.addHost({ name: `node${i}`, hypervisor: virt }));
    await cluster.start();
    const doms: Domain[] = [];
    for (const [i, h] of hosts.entries()) {
      doms.push(
        virt ? await h.createGuest({ name: `vm${i}`, memoryMiB: 256, driver: mode }) : h.os,
      );
    }
    const fill = new Prng(1);
    const ends = await cluster.run(async () => {
      const out: End[] = [];
      for (const dom of doms) {
        const ctx = await dom.openDevice();
        const pd = await ctx.allocPd();
        const cq = await ctx.createCq(2 * STREAM_DEPTH);
        const buf = dom.memory.alloc(size, 4096);
        // Data, not zeros, as perftest fills its buffers: a source never written is read from
        // whatever host memory an untouched frame gets, which the copies' cost would measure.
        dom.memory.write(buf, fill.fill(new Uint8Array(size)));
        const mr = await pd.regMr(buf, size, ACCESS);
        const qp = await pd.createQp({
          type: QpType.RC,
          sendCq: cq,
          recvCq: cq,
          cap: { maxSendWr: STREAM_DEPTH, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
        });
        out.push({ dom, qp, cq, mr, buf, lid: ctx.queryPort(1).lid });
      }
      await connectPair(out[0], out[1], { pathMtu: cluster.profile.link.mtu });
      return out;
    });
    return new WriteStream(cluster, size, ends[0], ends[1], opts.countEvents === true);
  }

  /** Write `messages` messages; wall time covers the stream only. */
  async run(messages: number): Promise<StreamRun> {
    const { cluster, a, b, size } = this;
    const e = cluster.engine;
    const ev0 = e.eventsRun, wk0 = e.wakeups;
    const counting = this.counting;
    const kinds0 = counting ? e.eventCounts() : undefined;
    let virtualNs = 0;
    const sw = stopwatch();
    await cluster.run(async () => {
      const v0 = cluster.now;
      let posted = 0, retired = 0;
      // One work request for every post, as perftest sets up its WR once and changes only the
      // wr_id and flags (ibv_post_send copies the WR into the WQE).
      const wr = {
        wrId: 0n,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: 0,
        sgList: [{ addr: a.buf, length: size, lkey: a.mr.lkey }],
        remoteAddr: b.buf,
        rkey: b.mr.rkey,
      };
      while (retired < messages) {
        while (posted < messages && posted - retired < STREAM_DEPTH) {
          const signaled = posted % STREAM_SIGNAL_EVERY === STREAM_SIGNAL_EVERY - 1 ||
            posted === messages - 1;
          wr.wrId = BigInt(posted);
          wr.sendFlags = signaled ? SendFlags.SIGNALED : 0;
          a.qp.postSend(wr);
          posted++;
        }
        for (const wc of [...await a.cq.pollUntil(1), ...a.cq.poll(STREAM_DEPTH)]) {
          if (wc.status !== WcStatus.SUCCESS) throw new Error(`write failed: status ${wc.status}`);
          // One QP completes in order: a signaled WR retires every WR before it.
          retired = Number(wc.wrId) + 1;
        }
      }
      virtualNs = cluster.now - v0;
    });
    const t = sw();
    const out: StreamRun = {
      messages,
      ...t,
      virtualNs,
      events: e.eventsRun - ev0,
      wakeups: e.wakeups - wk0,
    };
    if (kinds0 !== undefined) out.byKind = countsSince(kinds0, e.eventCounts());
    return out;
  }
}

/** The events of each kind run between two `Engine.eventCounts()` (kinds that ran none left out). */
function countsSince(
  before: Record<string, number>,
  after: Record<string, number>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [kind, n] of Object.entries(after)) {
    const d = n - (before[kind] ?? 0);
    if (d > 0) out[kind] = d;
  }
  return out;
}

/** Writes outstanding in a {@link WriteStream}. */
export const STREAM_DEPTH = 64;
/** One write in this many is signaled in a {@link WriteStream}. */
export const STREAM_SIGNAL_EVERY = 16;

/**
 * `hosts` Xen hosts (`pcix-sdr-2006`, seed 1), started, with `perHost`
 * bypass guests of `guestMiB` each, named `vm<host>-<n>`, created host by
 * host in rounds.
 */
async function bypassCluster(
  hosts: number,
  perHost: number,
  guestMiB: number,
  countEvents = false,
): Promise<{ cluster: Cluster; guests: { name: string; dom: Domain }[] }> {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1, countEvents });
  const hs = Array.from(
    { length: hosts },
    (_, i) => cluster.addHost({ name: `node${i}`, hypervisor: true }),
  );
  await cluster.start();
  const guests: { name: string; dom: Domain }[] = [];
  for (let g = 0; g < perHost; g++) {
    for (const [i, h] of hs.entries()) {
      const name = `vm${i}-${g}`;
      guests.push({
        name,
        dom: await h.createGuest({ name, memoryMiB: guestMiB, driver: "bypass" }),
      });
    }
  }
  return { cluster, guests };
}

/**
 * Memory of a large cluster at rest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clusterRss, type RssResult } from "./bench_model.ts";
 * const r: RssResult = await clusterRss(2, 2, 64);
 * assert.deepEqual([r.guests, r.hosts, r.pairs], [4, 2, 2]);
 * const perGuestKiB = r.rssGrowthBytes / r.guests / 1024;
 * assert.ok(Number.isFinite(perGuestKiB));
 * ```
 */
export interface RssResult {
  guests: number;
  hosts: number;
  /** Guest memory size, MiB (frames cost only when touched). */
  guestMiB: number;
  /** Connected RC QP pairs. */
  pairs: number;
  /** Resident set size before building the cluster, bytes. */
  rssBeforeBytes: number;
  /** Resident set growth, bytes. */
  rssGrowthBytes: number;
  /** JS heap in use after building, bytes. */
  heapUsedBytes: number;
  /** Wall time to build it, ms. */
  buildMs: number;
}

/**
 * `hosts` Xen hosts with `perHost` bypass guests of `guestMiB` each; every
 * guest opens the HCA, registers one page and connects one RC QP to the
 * guest half the cluster away. Reports the process's RSS growth.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clusterRss } from "./bench_model.ts";
 * const r = await clusterRss(2, 1, 64);
 * assert.deepEqual([r.guests, r.pairs], [2, 1]);
 * ```
 */
export async function clusterRss(
  hosts: number,
  perHost: number,
  guestMiB: number,
): Promise<RssResult> {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = Deno.memoryUsage();
  const t0 = performance.now();
  const { cluster, guests } = await bypassCluster(hosts, perHost, guestMiB);
  const doms = guests.map((g) => g.dom);
  const n = doms.length, half = Math.floor(n / 2);
  await cluster.run(async () => {
    const ends: End[] = [];
    for (const dom of doms) {
      const ctx = await dom.openDevice();
      const pd = await ctx.allocPd();
      const cq = await ctx.createCq(32);
      const buf = dom.memory.alloc(4096, 4096);
      const mr = await pd.regMr(buf, 4096, ACCESS);
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 16, maxRecvWr: 16, maxSendSge: 1, maxRecvSge: 1 },
      });
      ends.push({ dom, qp, cq, mr, buf, lid: ctx.queryPort(1).lid });
    }
    for (let i = 0; i < half; i++) await connectPair(ends[i], ends[i + half]);
  });
  const buildMs = performance.now() - t0;
  gc?.();
  const after = Deno.memoryUsage();
  return {
    guests: n,
    hosts,
    guestMiB,
    pairs: half,
    rssBeforeBytes: before.rss,
    rssGrowthBytes: after.rss - before.rss,
    heapUsedBytes: after.heapUsed,
    buildMs,
  };
}

/**
 * One all-to-all run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type AllToAllBench, allToAll } from "./bench_model.ts";
 * const r: AllToAllBench = await allToAll(2, 2, 4096, 2);
 * assert.deepEqual([r.guests, r.qps, r.messages], [4, 12, 24]);
 * const usPerMessage = (r.trafficMs * 1000) / r.messages;
 * assert.ok(usPerMessage > 0 && r.trafficCpuMs >= 0);
 * ```
 */
export interface AllToAllBench {
  hosts: number;
  guests: number;
  /** RC QPs (one per ordered pair of guests). */
  qps: number;
  /** Messages written. */
  messages: number;
  /** Wall time to build the cluster and guests, ms. */
  buildMs: number;
  /** Wall time to open devices, create and connect the QPs, and tear them down, ms. */
  setupMs: number;
  /** Wall time of the traffic itself, ms. */
  trafficMs: number;
  /** CPU time of the traffic, ms. */
  trafficCpuMs: number;
  /** Engine events of the traffic. */
  events: number;
  /** Virtual time of the traffic (the makespan), µs. */
  makespanUs: number;
  /** The traffic's events by kind (`Engine.eventCounts`), when counted (`countEvents`). */
  byKind?: Record<string, number>;
}

/**
 * `hosts` Xen hosts with `perHost` bypass guests each; every guest writes
 * `messages` messages of `size` bytes to every other (one RC QP per
 * ordered pair, 16 outstanding each): the scenario runner's all-to-all.
 * `opts.countEvents`: also count the traffic's events by kind.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { allToAll } from "./bench_model.ts";
 * const r = await allToAll(2, 1, 4096, 2);
 * assert.deepEqual([r.qps, r.messages], [2, 4]);
 * assert.ok(r.events > 0 && r.makespanUs > 0);
 * ```
 */
export async function allToAll(
  hosts: number,
  perHost: number,
  size: number,
  messages: number,
  opts: { countEvents?: boolean } = {},
): Promise<AllToAllBench> {
  const t0 = performance.now();
  const counting = opts.countEvents === true;
  const { cluster, guests } = await bypassCluster(hosts, perHost, 128, counting);
  let kinds0: Record<string, number> = {}, kinds1: Record<string, number> = {};
  const eps = guests.map((g) => ({ ...g, mode: "bypass" }));
  const t1 = performance.now();
  let tStart = 0, tEnd = 0, ev0 = 0, ev1 = 0, cpu = 0;
  let sw = stopwatch();
  const r = await runAllToAll(cluster, eps, {
    kind: "alltoall",
    name: "bench all-to-all",
    endpoints: eps.map((e) => e.name),
    size,
    iterations: messages,
    opcode: "write",
    txDepth: 16,
  }, {
    trafficStart: () => {
      tStart = performance.now();
      sw = stopwatch();
      ev0 = cluster.engine.eventsRun;
      if (counting) kinds0 = cluster.engine.eventCounts();
    },
    trafficEnd: () => {
      tEnd = performance.now();
      cpu = sw().cpuMs;
      ev1 = cluster.engine.eventsRun;
      if (counting) kinds1 = cluster.engine.eventCounts();
    },
  });
  const t2 = performance.now();
  const n = eps.length;
  const byKind = counting ? countsSince(kinds0, kinds1) : undefined;
  return {
    hosts,
    guests: n,
    qps: n * (n - 1),
    messages: n * (n - 1) * messages,
    buildMs: t1 - t0,
    setupMs: t2 - t1 - (tEnd - tStart),
    trafficMs: tEnd - tStart,
    trafficCpuMs: cpu,
    events: ev1 - ev0,
    makespanUs: r.makespanUs,
    ...(byKind ? { byKind } : {}),
  };
}
