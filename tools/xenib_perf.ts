/**
 * `deno task xenib-perf`: the paper's VMM-bypass measurements in virtual
 * time, native vs bypass (vs split), on one profile (default
 * `pcix-sdr-2006`):
 *
 * 1. RDMA WRITE latency (2 B) and bandwidth (1 MiB): the unmodified
 *    program of `native_perf.ts`, placed on bare metal, in bypass guests
 *    and in split guests. Bypass must be within 2 % (latency) and 1 %
 *    (bandwidth) of native.
 * 2. The split baseline's per-message overhead: its extra latency, and
 *    its extra time per message at a small message size.
 * 3. Memory registration cost for 1…1024 pages, native vs bypass, without
 *    and with the registration cache (in a guest: dom0 keeps the grant
 *    mappings of deregistered pages; keys die at dereg either way).
 * 4. Event-driven SEND/RECV latency (completion channels, no polling),
 *    native vs bypass: the extra dom0 hop of every completion event.
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
import {
  Access,
  Cluster,
  connectPair,
  type Cq,
  type Domain,
  type Host,
  type Mr,
  type Qp,
  QpType,
  SendFlags,
  WcStatus,
  WrOpcode,
} from "../mod.ts";
import { runMain } from "./lib/cli.ts";
import { loadToolProfile } from "./lib/api.ts";
import { parseFlags, parseIntFlag, UsageError } from "./lib/perftest_args.ts";
import { type Placement, writeBandwidth, writeLatency } from "./native_perf.ts";

/**
 * A built-in profile's name, or a plain object of overrides on a `base`
 * (as `Cluster` takes it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { creationCost, type ProfileSpec } from "./xenib_perf.ts";
 * const paper: ProfileSpec = "pcix-sdr-2006";
 * // Firmware commands of 40 µs instead of 20.
 * const slowFirmware: ProfileSpec = { base: "pcix-sdr-2006", hca: { commandNs: 40_000 } };
 * const [a, b] = [await creationCost(paper, "native"), await creationCost(slowFirmware, "native")];
 * // A base with nothing overridden is the built-in profile.
 * assert.deepEqual(await creationCost({ base: "pcix-sdr-2006" }, "native"), a);
 * // Creating a CQ costs more by a whole number of firmware commands: 20 µs each.
 * const extraNs = Math.round((b.createCqUs - a.createCqUs) * 1000);
 * assert.ok(extraNs > 0 && extraNs % 20_000 === 0);
 * ```
 */
export type ProfileSpec = string | Record<string, unknown>;

/**
 * Cost of one registration size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registrationCost, type RegPoint } from "./xenib_perf.ts";
 * const [p]: RegPoint[] = await registrationCost("pcix-sdr-2006", "bypass", [16], 4);
 * assert.equal(p.pages, 16);
 * // Warm: the pages' grants are cached in dom0, so no grant is mapped; the round trip to dom0
 * // and the HCA's MTT and MPT writes remain (new keys).
 * assert.ok(p.hitUs > 0 && p.hitUs < p.regUs);
 * assert.ok(p.cachedUs < p.regUs + p.deregUs); // per use, the first (cold) one included
 * ```
 */
export interface RegPoint {
  pages: number;
  /** µs for `regMr` with no cache. */
  regUs: number;
  /** µs for `dereg` with no cache. */
  deregUs: number;
  /** µs per `regMr` + `dereg` of the same buffer, `reps` times, with the cache (first use cold). */
  cachedUs: number;
  /**
   * µs of a warm `regMr` with the cache: the buffer's grants still mapped in dom0 (no grant
   * work), the keys new. On bare metal there is no cache below the ABI: a full registration.
   */
  hitUs: number;
}

/** One environment of a test: a cluster with one domain per host. */
async function domains(
  profile: ProfileSpec,
  placement: Placement,
  count: number,
  regCache = false,
  perHost = 1,
): Promise<{ cluster: Cluster; hosts: Host[]; doms: Domain[] }> {
  const cluster = new Cluster({ profile, seed: 1 });
  const virt = placement !== "native";
  const hosts = Array.from(
    { length: count },
    (_, i) => cluster.addHost({ name: `node${i}`, hypervisor: virt }),
  );
  await cluster.start();
  const doms: Domain[] = [];
  for (const [i, h] of hosts.entries()) {
    for (let g = 0; g < (virt ? perHost : 1); g++) {
      doms.push(
        virt
          ? await h.createGuest({
            name: perHost === 1 ? `vm${i}` : `vm${i}.${g}`,
            memoryMiB: perHost === 1 ? 256 : 64,
            driver: placement as "bypass",
            regCache,
          })
          : h.os,
      );
    }
  }
  return { cluster, hosts, doms };
}

/**
 * Registration cost for each page count: `regMr` and `dereg` without the
 * cache, and with it (`openDevice(…, { regCache: true })`) the cost per
 * use when the same buffer is registered and deregistered `reps` times,
 * and the last (warm) `regMr` alone. Deregistration invalidates the keys
 * either way: what a guest's cache keeps is dom0's grant mappings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { registrationCost } from "./xenib_perf.ts";
 * const native = await registrationCost("pcix-sdr-2006", "native", [1, 16], 2);
 * const bypass = await registrationCost("pcix-sdr-2006", "bypass", [1, 16], 2);
 * assert.ok(bypass[0].regUs > native[0].regUs); // a guest registers through dom0's backend
 * // …which grants and maps every page: the cost grows with the pages far faster.
 * const perPage = (r: typeof native) => (r[1].regUs - r[0].regUs) / 15;
 * assert.ok(perPage(bypass) > 10 * perPage(native));
 * ```
 */
export async function registrationCost(
  profile: ProfileSpec,
  placement: Placement,
  pages: number[],
  reps = 10,
): Promise<RegPoint[]> {
  const { cluster, doms: [dom] } = await domains(profile, placement, 1);
  return await cluster.run(async () => {
    const plain = await dom.openDevice(undefined, { regCache: false });
    const cached = await dom.openDevice(undefined, { regCache: true });
    const pd = await plain.allocPd(), cpd = await cached.allocPd();
    const access = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;
    const out: RegPoint[] = [];
    for (const n of pages) {
      const len = n * 4096;
      const buf = dom.memory.alloc(len, 4096);
      dom.memory.write(buf, new Uint8Array([1]));
      const t0 = cluster.now;
      const mr = await pd.regMr(buf, len, access);
      const t1 = cluster.now;
      await mr.dereg();
      const t2 = cluster.now;
      let hit = 0;
      for (let r = 0; r < reps; r++) {
        const t = cluster.now;
        const m = await cpd.regMr(buf, len, access);
        if (r === reps - 1) hit = cluster.now - t;
        await m.dereg();
      }
      const t3 = cluster.now;
      out.push({
        pages: n,
        regUs: (t1 - t0) / 1000,
        deregUs: (t2 - t1) / 1000,
        cachedUs: (t3 - t2) / reps / 1000,
        hitUs: hit / 1000,
      });
    }
    return out;
  });
}

/**
 * Creation and destruction cost of a CQ and an RC QP, µs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type CreationCost, creationCost } from "./xenib_perf.ts";
 * import { PCIX_SDR_2006 } from "../mod.ts";
 * const c: CreationCost = await creationCost("pcix-sdr-2006", "native");
 * // Each takes at least one firmware command (the profile's hca.commandNs).
 * const commandUs = PCIX_SDR_2006.hca.commandNs / 1000;
 * for (const us of [c.createCqUs, c.createQpUs, c.destroyQpUs, c.destroyCqUs]) {
 *   assert.ok(us >= commandUs);
 * }
 * ```
 */
export interface CreationCost {
  createCqUs: number;
  createQpUs: number;
  destroyQpUs: number;
  destroyCqUs: number;
}

/**
 * Time to create (and destroy) a 256-entry CQ and an RC QP with 64-deep
 * queues.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { creationCost } from "./xenib_perf.ts";
 * const native = await creationCost("pcix-sdr-2006", "native");
 * const bypass = await creationCost("pcix-sdr-2006", "bypass");
 * // Control operations of a guest go to dom0's backend: every one costs more.
 * assert.ok(bypass.createCqUs > native.createCqUs && bypass.createQpUs > native.createQpUs);
 * assert.ok(bypass.destroyQpUs > native.destroyQpUs && bypass.destroyCqUs > native.destroyCqUs);
 * ```
 */
export async function creationCost(
  profile: ProfileSpec,
  placement: Placement,
): Promise<CreationCost> {
  const { cluster, doms: [dom] } = await domains(profile, placement, 1);
  return await cluster.run(async () => {
    const ctx = await dom.openDevice();
    const pd = await ctx.allocPd();
    const t0 = cluster.now;
    const cq = await ctx.createCq(256);
    const t1 = cluster.now;
    const qp = await pd.createQp({
      type: QpType.RC,
      sendCq: cq,
      recvCq: cq,
      cap: { maxSendWr: 64, maxRecvWr: 64, maxSendSge: 1, maxRecvSge: 1 },
    });
    const t2 = cluster.now;
    await qp.destroy();
    const t3 = cluster.now;
    await cq.destroy();
    const t4 = cluster.now;
    return {
      createCqUs: (t1 - t0) / 1000,
      createQpUs: (t2 - t1) / 1000,
      destroyQpUs: (t3 - t2) / 1000,
      destroyCqUs: (t4 - t3) / 1000,
    };
  });
}

/**
 * Event-driven latency result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type EventLatency, eventLatency } from "./xenib_perf.ts";
 * const e: EventLatency = await eventLatency("pcix-sdr-2006", "bypass", { iters: 5 });
 * assert.equal(e.evtchnSendsPerMsg, 1); // each completion event reached the guest through dom0
 * assert.equal(e.backendRequestsPerMsg, 0); // the data itself never did
 * ```
 */
export interface EventLatency {
  /** Median half round trip, µs. */
  typicalUs: number;
  /** Event-channel sends per message on the first host (the dom0 hop's evidence). */
  evtchnSendsPerMsg: number;
  /** Backend requests per message (0: the data path never reaches dom0). */
  backendRequestsPerMsg: number;
}

interface EvEnd {
  dom: Domain;
  qp: Qp;
  scq: Cq;
  rcq: Cq;
  mr: Mr;
  buf: number;
  lid: number;
}

/**
 * SEND/RECV ping-pong where each side sleeps on its completion channel
 * (`reqNotify` + `getEvent`), never polling for the message: latency =
 * half the round trip. In a bypass guest every receive completion's event
 * goes HCA → dom0 (physical IRQ) → backend → event channel → guest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { eventLatency } from "./xenib_perf.ts";
 * const native = await eventLatency("pcix-sdr-2006", "native", { iters: 5 });
 * const bypass = await eventLatency("pcix-sdr-2006", "bypass", { iters: 5 });
 * assert.equal(native.evtchnSendsPerMsg, 0); // bare metal: the interrupt goes to the OS directly
 * assert.ok(bypass.typicalUs > native.typicalUs); // the dom0 hop of every event
 * ```
 */
export async function eventLatency(
  profile: ProfileSpec,
  placement: Placement,
  opts: { size?: number; iters?: number; warmup?: number } = {},
): Promise<EventLatency> {
  const r = await eventPingPong(profile, placement, 1, opts);
  return {
    typicalUs: r.typicalUs,
    evtchnSendsPerMsg: r.evtchnSendsPerMsg,
    backendRequestsPerMsg: r.backendRequestsPerMsg,
  };
}

/**
 * Event-driven latency when several guests on a host take completion events
 * at once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type BusyEventLatency, busyEventLatency } from "./xenib_perf.ts";
 * const [one, four]: BusyEventLatency[] = await busyEventLatency("pcix-sdr-2006", [1, 4], { iters: 20 });
 * assert.equal(one.dom0WaitUsPerEvent, 0); // alone, dom0's VCPU is free for every event
 * assert.ok(four.dom0WaitUsPerEvent > 0 && four.typicalUs > one.typicalUs); // four share it
 * ```
 */
export interface BusyEventLatency {
  /** Guests per host, each in its own ping-pong. */
  guests: number;
  /** Median half round trip over every pair, µs. */
  typicalUs: number;
  /** Mean half round trip, µs. */
  meanUs: number;
  /** Time dom0 work waited for its VCPU, per event, on the first host, µs. */
  dom0WaitUsPerEvent: number;
}

/**
 * The event-driven ping-pong of {@link eventLatency} run by `n` pairs of
 * bypass guests at once, the `n` guests of each side on one Xen host: every
 * completion event of every guest crosses its host's dom0, whose VCPUs
 * (`dom0.vcpus`, 1 by default) the events now share.
 */
export async function busyEventLatency(
  profile: ProfileSpec,
  counts: number[],
  opts: { size?: number; iters?: number; warmup?: number } = {},
): Promise<BusyEventLatency[]> {
  const out: BusyEventLatency[] = [];
  for (const n of counts) {
    const r = await eventPingPong(profile, "bypass", n, opts);
    out.push({
      guests: n,
      typicalUs: r.typicalUs,
      meanUs: r.meanUs,
      dom0WaitUsPerEvent: r.dom0WaitNsPerEvent / 1000,
    });
  }
  return out;
}

/** `pairs` event-driven SEND/RECV ping-pongs at once between two hosts. */
async function eventPingPong(
  profile: ProfileSpec,
  placement: Placement,
  pairs: number,
  opts: { size?: number; iters?: number; warmup?: number },
): Promise<
  EventLatency & { meanUs: number; dom0WaitNsPerEvent: number }
> {
  const size = opts.size ?? 64, iters = opts.iters ?? 200, warmup = opts.warmup ?? 5;
  const total = iters + warmup;
  const { cluster, hosts, doms } = await domains(profile, placement, 2, false, pairs);
  const ends = await cluster.run(async () => {
    const out: EvEnd[] = [];
    for (const dom of doms) {
      const ctx = await dom.openDevice();
      const pd = await ctx.allocPd();
      const ch = ctx.createCompChannel();
      const scq = await ctx.createCq(total + 4);
      const rcq = await ctx.createCq(16, { channel: ch });
      const buf = dom.memory.alloc(2 * 4096, 4096);
      const mr = await pd.regMr(buf, 2 * 4096, Access.LOCAL_WRITE);
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: scq,
        recvCq: rcq,
        cap: { maxSendWr: 16, maxRecvWr: 16, maxSendSge: 1, maxRecvSge: 1 },
      });
      out.push({ dom, qp, scq, rcq, mr, buf, lid: ctx.queryPort(1).lid });
    }
    // doms: host 0's guests, then host 1's; pair i is guest i of each.
    for (let i = 0; i < pairs; i++) await connectPair(out[i], out[pairs + i], { accessFlags: 0 });
    return out;
  });
  const recvOne = async (e: EvEnd) => {
    const ch = e.rcq.channel!;
    const got = () => {
      const wcs = e.rcq.poll(1);
      if (wcs.length === 0) return false;
      if (wcs[0].status !== WcStatus.SUCCESS) throw new Error(`recv failed: ${wcs[0].status}`);
      e.qp.postRecv({ wrId: 0n, sgList: [{ addr: e.buf + 4096, length: size, lkey: e.mr.lkey }] });
      return true;
    };
    // ibv's event loop: poll, arm, poll again (a completion before the arm raises no event), sleep.
    for (;;) {
      if (got()) return;
      e.rcq.reqNotify(false);
      if (got()) return;
      await ch.getEvent();
      e.rcq.ackEvents(1);
    }
  };
  const send = (e: EvEnd, n: number) => {
    e.qp.postSend({
      wrId: BigInt(n),
      opcode: WrOpcode.SEND,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: e.buf, length: size, lkey: e.mr.lkey }],
    });
    e.scq.poll(16);
  };
  const before = hosts[0].counters();
  const stamps: number[][] = Array.from({ length: pairs }, () => []);
  await cluster.run(async () => {
    for (const e of ends) {
      e.qp.postRecv({ wrId: 0n, sgList: [{ addr: e.buf + 4096, length: size, lkey: e.mr.lkey }] });
    }
    const side = (me: EvEnd, client: number | undefined) => async () => {
      for (let n = 1; n <= total; n++) {
        if (client !== undefined) {
          stamps[client].push(cluster.now);
          send(me, n);
          await recvOne(me);
        } else {
          await recvOne(me);
          send(me, n);
        }
      }
      if (client !== undefined) stamps[client].push(cluster.now);
    };
    const runs = [];
    for (let i = 0; i < pairs; i++) {
      runs.push(cluster.spawn(`ev-server ${i}`, side(ends[pairs + i], undefined)));
      runs.push(cluster.spawn(`ev-client ${i}`, side(ends[i], i)));
    }
    await Promise.all(runs);
  });
  const after = hosts[0].counters();
  const halves: number[] = [];
  for (const st of stamps) {
    for (let i = warmup; i < total; i++) halves.push((st[i + 1] - st[i]) / 2);
  }
  halves.sort((a, b) => a - b);
  const msgs = total * pairs;
  return {
    typicalUs: halves[Math.floor(halves.length / 2)] / 1000,
    meanUs: halves.reduce((a, b) => a + b, 0) / halves.length / 1000,
    evtchnSendsPerMsg: (after.evtchnSends - before.evtchnSends) / msgs,
    backendRequestsPerMsg: (after.backendRequests - before.backendRequests) / msgs,
    dom0WaitNsPerEvent: (after.dom0WaitNs - before.dom0WaitNs) / msgs,
  };
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
 * for (const flag of ["--profile", "--iters", "--quick", "--help"]) {
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
    "several guests per host sharing dom0's VCPUs.",
    "",
    "  -p, --profile=<NAME|FILE.yaml>  cost profile: pcix-sdr-2006 (default), modern-gen5-ndr, or a YAML file",
    "      --iters=<n>        ping-pong rounds of the latency test, 10.. (default 1000)",
    "      --quick            a smaller run (100 rounds, fewer messages)",
    "  -h, --help             this text",
  ].join("\n");
}

/**
 * Run every measurement and print the report (the functions above, one
 * section each; their examples show what each measures). Flags are checked
 * before anything runs.
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
 * ```
 */
export async function main(args: string[]): Promise<void> {
  const { values } = parseFlags(args, {
    profile: { type: "string", short: "p" },
    iters: { type: "string" },
    quick: { type: "boolean" },
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
  if (values.profile === "") throw new UsageError("--profile: empty value");
  const loaded = await loadToolProfile(values.profile ?? "pcix-sdr-2006");
  const profile = loaded as unknown as ProfileSpec;
  console.log(`xenib-perf — profile ${loaded.name}: ${loaded.description} (virtual time)\n`);

  console.log(
    "1. RDMA WRITE, the unmodified native_perf program on bare metal, bypass and split guests",
  );
  const lat: Record<string, number> = {}, bw: Record<string, number> = {};
  for (const p of ["native", "bypass", "split"] as const) {
    lat[p] = (await writeLatency(profile, { size: 2, iters, placement: p })).typicalUs;
    bw[p] = (await writeBandwidth(profile, { size: 1 << 20, iters: 64, placement: p })).mbPerSec;
  }
  const w1 = [8, 16, 18, 12];
  console.log(row(["mode", "2 B latency µs", "1 MiB bw MB/s", "vs native"], w1));
  for (const p of ["native", "bypass", "split"]) {
    console.log(
      row([
        p,
        lat[p].toFixed(3),
        bw[p].toFixed(1),
        p === "native" ? "" : `lat ${pct(lat[p], lat.native)}`,
      ], w1),
    );
  }
  const latOk = Math.abs(lat.bypass / lat.native - 1) <= 0.02;
  const bwOk = Math.abs(bw.bypass / bw.native - 1) <= 0.01;
  console.log(
    `   bypass latency within 2 % of native: ${latOk ? "yes" : "NO"} (${
      pct(lat.bypass, lat.native)
    }); ` +
      `bandwidth within 1 %: ${bwOk ? "yes" : "NO"} (${pct(bw.bypass, bw.native)})\n`,
  );

  console.log("2. Split baseline: per-message overhead (every post and poll crosses dom0)");
  const small = 64;
  const nSmall = values.quick ? 200 : 2000;
  const rate: Record<string, number> = {};
  for (const p of ["native", "split"] as const) {
    const r = await writeBandwidth(profile, {
      size: small,
      iters: nSmall,
      window: 16,
      placement: p,
    });
    rate[p] = (r.mbPerSec * 1e6) / small;
  }
  console.log(
    `   2 B latency: split ${lat.split.toFixed(3)} µs vs native ${lat.native.toFixed(3)} µs ` +
      `→ +${(lat.split - lat.native).toFixed(3)} µs per one-way message`,
  );
  // Per message, not per byte: the extra stays put as the payload grows.
  const extra: string[] = [];
  for (const size of [64, 512, 4096]) {
    const n = await writeLatency(profile, { size, iters, placement: "native" });
    const sp = await writeLatency(profile, { size, iters, placement: "split" });
    extra.push(`${size} B +${(sp.typicalUs - n.typicalUs).toFixed(3)}`);
  }
  console.log(`   one-way latency over native by size: ${extra.join(", ")} µs`);
  console.log(
    `   ${small} B streaming: native ${(rate.native / 1e6).toFixed(3)} Mmsg/s, split ` +
      `${(rate.split / 1e6).toFixed(3)} Mmsg/s → +${
        ((1 / rate.split - 1 / rate.native) * 1e6).toFixed(3)
      } µs per message\n`,
  );

  console.log(
    "3. Memory registration (µs): regMr and dereg without the cache; with the cache (dom0 keeps",
  );
  console.log(
    "   a guest's deregistered pages mapped; keys die at dereg), the same buffer registered and",
  );
  console.log("   deregistered 10 times, per use, and one warm regMr");
  const pages = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];
  const nat = await registrationCost(profile, "native", pages);
  const byp = await registrationCost(profile, "bypass", pages);
  const w3 = [6, 11, 11, 13, 13, 13, 13, 12];
  const head = ["pages", "native reg", "bypass reg", "native dereg", "bypass dereg"];
  console.log(row([...head, "native cache", "bypass cache", "bypass warm"], w3));
  for (let i = 0; i < pages.length; i++) {
    console.log(row([
      pages[i],
      nat[i].regUs.toFixed(1),
      byp[i].regUs.toFixed(1),
      nat[i].deregUs.toFixed(1),
      byp[i].deregUs.toFixed(1),
      nat[i].cachedUs.toFixed(1),
      byp[i].cachedUs.toFixed(1),
      byp[i].hitUs.toFixed(1),
    ], w3));
  }
  console.log();

  console.log(
    "4. Event-driven SEND/RECV latency (64 B, completion channels, no polling for the message)",
  );
  const evIters = values.quick ? 50 : 200;
  const evN = await eventLatency(profile, "native", { iters: evIters });
  const evB = await eventLatency(profile, "bypass", { iters: evIters });
  console.log(
    `   native ${evN.typicalUs.toFixed(3)} µs, bypass ${evB.typicalUs.toFixed(3)} µs → dom0 hop ` +
      `+${(evB.typicalUs - evN.typicalUs).toFixed(3)} µs per event; bypass host: ` +
      `${evB.evtchnSendsPerMsg.toFixed(2)} event-channel sends and ${
        evB.backendRequestsPerMsg.toFixed(2)
      } ` +
      `backend requests per message\n`,
  );

  console.log("5. CQ (256 entries) and RC QP (64/64) creation cost (µs)");
  const w5 = [8, 12, 12, 12, 12];
  console.log(row(["mode", "create CQ", "create QP", "destroy QP", "destroy CQ"], w5));
  for (const p of ["native", "bypass"] as const) {
    const r = await creationCost(profile, p);
    console.log(row([
      p,
      r.createCqUs.toFixed(1),
      r.createQpUs.toFixed(1),
      r.destroyQpUs.toFixed(1),
      r.destroyCqUs.toFixed(1),
    ], w5));
  }
  console.log();

  console.log(
    "6. Event-driven latency (64 B) with several guests per host taking events at once: every",
  );
  console.log(
    `   event crosses dom0, whose ${loaded.dom0.vcpus} VCPU(s) the guests' events share`,
  );
  const w6 = [8, 12, 10, 22];
  console.log(row(["guests", "latency µs", "vs one", "dom0 wait µs/event"], w6));
  const busy = await busyEventLatency(profile, [1, 2, 4, 8], { iters: evIters });
  for (const b of busy) {
    console.log(row([
      b.guests,
      b.typicalUs.toFixed(3),
      `+${(b.typicalUs - busy[0].typicalUs).toFixed(3)}`,
      b.dom0WaitUsPerEvent.toFixed(3),
    ], w6));
  }
}

if (import.meta.main) await runMain("xenib-perf", () => main(Deno.args));
