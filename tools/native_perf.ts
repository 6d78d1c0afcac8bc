/**
 * `deno task native-perf`: RDMA WRITE latency and bandwidth between two
 * bare-metal hosts through one switch, perftest-style, in virtual time.
 *
 * - Latency (ib_write_lat): a ping-pong of `size`-byte RDMA WRITEs (inline
 *   when they fit, as perftest's latency tests do). Each side spins on the
 *   last byte of its own buffer until the peer's write lands, then writes
 *   back; latency = half the round trip (perftest's "typical", the median).
 * - Bandwidth (ib_write_bw): `window` signaled RDMA WRITEs of `size` bytes
 *   kept outstanding; bandwidth = bytes moved / (last completion − first
 *   post), perftest's "BW average". perftest's MB/sec is 2^20 bytes per
 *   second; papers of the period (and OSU's benchmarks) use 10^6: both are
 *   printed.
 *
 * Figures, not pass/fail: the program is the same for every profile; the
 * profile makes the difference.
 *
 * @example
 * ```sh
 * deno run --allow-read=. tools/native_perf.ts --profile modern-gen5-ndr
 * ```
 *
 * @module
 */
import { runMain } from "./lib/cli.ts";
import { loadToolProfile } from "./lib/api.ts";
import { parseFlags, parseIntFlag, UsageError } from "./lib/perftest_args.ts";
import {
  Access,
  Cluster,
  connectPair,
  type Cq,
  type Domain,
  type Mr,
  type Qp,
  QpType,
  SendFlags,
  WcStatus,
  WrOpcode,
} from "../mod.ts";

/**
 * Latency result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type LatencyResult, writeLatency } from "./native_perf.ts";
 * const r: LatencyResult = await writeLatency("pcix-sdr-2006", { iters: 20 });
 * assert.deepEqual([r.profile, r.size, r.iters, r.inline], ["pcix-sdr-2006", 2, 20, true]);
 * assert.equal(r.averageUs, r.typicalUs); // virtual time: every round trip alike
 * ```
 */
export interface LatencyResult {
  profile: string;
  size: number;
  iters: number;
  /** Median half round trip, µs. */
  typicalUs: number;
  /** Mean half round trip, µs. */
  averageUs: number;
  inline: boolean;
}

/**
 * Bandwidth result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type BandwidthResult, writeBandwidth } from "./native_perf.ts";
 * const r: BandwidthResult = await writeBandwidth("pcix-sdr-2006", { size: 65536, iters: 20 });
 * assert.deepEqual([r.size, r.iters, r.window], [65536, 20, 16]);
 * // One rate in two units: 10^6 B/s and perftest's 2^20 B/s.
 * assert.equal((r.perftestMbPerSec * 1.048576).toFixed(6), r.mbPerSec.toFixed(6));
 * ```
 */
export interface BandwidthResult {
  profile: string;
  size: number;
  iters: number;
  window: number;
  /** MB/s (10^6 bytes per second). */
  mbPerSec: number;
  /** MB/sec as perftest prints it (2^20 bytes per second). */
  perftestMbPerSec: number;
}

interface End {
  dom: Domain;
  qp: Qp;
  cq: Cq;
  mr: Mr;
  buf: number;
  lid: number;
}

const ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;

/**
 * Where the two ends of a test run: bare-metal hosts ("native", the
 * default) or one Xen guest per host with the given driver. The verbs
 * program is the same in every case; only its domains differ.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Placement, writeLatency } from "./native_perf.ts";
 * // The same verbs program on bare metal and in Xen guests.
 * const at = async (placement: Placement) =>
 *   (await writeLatency("pcix-sdr-2006", { iters: 20, placement })).typicalUs;
 * const native = await at("native");
 * assert.equal(await at("bypass"), native); // VMM-bypass: the guest posts and polls the HCA itself
 * assert.ok(await at("split") > native); // split: every post and poll goes through dom0
 * ```
 */
export type Placement = "native" | "bypass" | "split";

/**
 * Two connected RC QPs, one per host. `inline` is the payload the latency
 * test would like to send inline: it is used when the profile's HCA allows
 * it (perftest's latency tests cap it at 400 B as well), else 0.
 */
async function connectedPair(
  profile: string | Record<string, unknown>,
  bufBytes: number,
  inline: number,
  depth: number,
  placement: Placement = "native",
  nomad = false,
): Promise<{ cluster: Cluster; ends: [End, End]; inline: number }> {
  const cluster = new Cluster({ profile, seed: 1, nomad });
  const virt = placement !== "native";
  const hosts = [
    cluster.addHost({ name: "node0", hypervisor: virt }),
    cluster.addHost({ name: "node1", hypervisor: virt }),
  ];
  await cluster.start();
  const maxInline = inline <= Math.min(cluster.profile.hca.maxInline, 400) ? inline : 0;
  const doms: Domain[] = [];
  for (const [i, h] of hosts.entries()) {
    doms.push(
      virt
        ? await h.createGuest({
          name: `vm${i}`,
          memoryMiB: 256,
          driver: placement as "bypass" | "split",
        })
        : h.os,
    );
  }
  const ends = await cluster.run(async () => {
    const out: End[] = [];
    for (const dom of doms) {
      const ctx = await dom.openDevice();
      const pd = await ctx.allocPd();
      const cq = await ctx.createCq(depth * 2);
      const buf = dom.memory.alloc(bufBytes, 4096);
      const mr = await pd.regMr(buf, bufBytes, ACCESS);
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: {
          maxSendWr: depth,
          maxRecvWr: 1,
          maxSendSge: 1,
          maxRecvSge: 1,
          maxInlineData: maxInline,
        },
      });
      out.push({ dom, qp, cq, mr, buf, lid: ctx.queryPort(1).lid });
    }
    await connectPair(out[0], out[1], { pathMtu: cluster.profile.link.mtu });
    return out;
  });
  return { cluster, ends: ends as [End, End], inline: maxInline };
}

/**
 * Spin on one byte of local memory until it equals `want`, as a CPU polling
 * a cache line every `cpu.emptyPollNs`: blocks until a write lands, then
 * notices it at the next poll instant.
 */
async function spinUntil(dom: Domain, addr: number, want: number): Promise<void> {
  const period = Math.max(1, dom.profile.cpu.emptyPollNs);
  const start = dom.engine.now;
  while (dom.memory.read(addr, 1)[0] !== want) await dom.memory.waitWrite(addr, 1);
  const since = dom.engine.now - start;
  const wait = Math.ceil(since / period) * period - since;
  if (wait > 0) await dom.engine.sleep(wait);
}

/**
 * ib_write_lat: RDMA WRITE ping-pong latency (half the round trip).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeLatency } from "./native_perf.ts";
 * const small = await writeLatency("pcix-sdr-2006", { size: 2, iters: 20 });
 * const large = await writeLatency("pcix-sdr-2006", { size: 1024, iters: 20 });
 * assert.equal(small.inline, true); // the payload rides in the WQE
 * assert.equal(large.inline, false); // more than the HCA takes inline: fetched by DMA
 * assert.ok(large.typicalUs > small.typicalUs);
 * // A faster machine, the same program.
 * assert.ok((await writeLatency("modern-gen5-ndr", { iters: 20 })).typicalUs < small.typicalUs);
 * ```
 */
export async function writeLatency(
  profile: string | Record<string, unknown>,
  opts: {
    size?: number;
    iters?: number;
    warmup?: number;
    placement?: Placement;
    /** Run the verbs libraries with Nomad's handle translation (`Cluster` option `nomad`). */
    nomad?: boolean;
  } = {},
): Promise<LatencyResult> {
  const size = opts.size ?? 2;
  const iters = opts.iters ?? 1000;
  const warmup = opts.warmup ?? 10;
  const total = iters + warmup;
  // Two halves per side, as perftest: the source of our writes, and where the peer writes.
  const half = Math.ceil(size / 64) * 64;
  const pair = await connectedPair(profile, 2 * half, size, 16, opts.placement, opts.nomad);
  const { cluster, ends } = pair;
  const inline = pair.inline > 0;
  const stamps: number[] = [];
  const sideFn = (me: End, peer: End, client: boolean) => async () => {
    const src = me.buf, dst = peer.buf + half;
    const last = me.buf + half + size - 1;
    for (let n = 1; n <= total; n++) {
      const v = n & 0xff;
      // The server answers; the client starts each exchange.
      if (!client) await spinUntil(me.dom, last, v);
      if (client) stamps.push(cluster.now);
      me.dom.memory.write(src + size - 1, new Uint8Array([v]));
      me.qp.postSend({
        wrId: BigInt(n),
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED | (inline ? SendFlags.INLINE : 0),
        sgList: [{ addr: src, length: size, lkey: me.mr.lkey }],
        remoteAddr: dst,
        rkey: peer.mr.rkey,
      });
      const wc = await me.cq.pollUntil(1);
      if (wc[0].status !== WcStatus.SUCCESS) {
        throw new Error(`write failed: status ${wc[0].status}`);
      }
      if (client) await spinUntil(me.dom, last, v);
    }
    if (client) stamps.push(cluster.now);
  };
  await cluster.run(async () => {
    await Promise.all([
      cluster.spawn("lat-server", sideFn(ends[1], ends[0], false)),
      cluster.spawn("lat-client", sideFn(ends[0], ends[1], true)),
    ]);
  });
  const halves: number[] = [];
  for (let i = warmup; i < total; i++) halves.push((stamps[i + 1] - stamps[i]) / 2);
  const sorted = [...halves].sort((x, y) => x - y);
  const median = sorted[Math.floor(sorted.length / 2)];
  const mean = halves.reduce((s, x) => s + x, 0) / halves.length;
  return {
    profile: cluster.profile.name,
    size,
    iters,
    typicalUs: median / 1000,
    averageUs: mean / 1000,
    inline,
  };
}

/**
 * ib_write_bw: RDMA WRITE bandwidth with `window` writes outstanding.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeBandwidth } from "./native_perf.ts";
 * import { PCIX_SDR_2006 } from "../mod.ts";
 * const deep = await writeBandwidth("pcix-sdr-2006", { size: 65536, iters: 20 });
 * const one = await writeBandwidth("pcix-sdr-2006", { size: 65536, iters: 20, window: 1 });
 * assert.ok(deep.mbPerSec > one.mbPerSec); // writes in flight hide each one's latency
 * assert.ok(deep.mbPerSec * 1e6 < PCIX_SDR_2006.pci.bytesPerSec); // the PCI-X bus is the limit
 * ```
 */
export async function writeBandwidth(
  profile: string | Record<string, unknown>,
  opts: { size?: number; iters?: number; window?: number; placement?: Placement } = {},
): Promise<BandwidthResult> {
  const size = opts.size ?? 1 << 20;
  const iters = opts.iters ?? 64;
  const window = opts.window ?? 16;
  const { cluster, ends } = await connectedPair(profile, size, 0, window, opts.placement);
  const [me, peer] = ends;
  let t0 = 0, t1 = 0;
  await cluster.run(async () => {
    let posted = 0, done = 0;
    const post = () => {
      me.qp.postSend({
        wrId: BigInt(posted++),
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: me.buf, length: size, lkey: me.mr.lkey }],
        remoteAddr: peer.buf,
        rkey: peer.mr.rkey,
      });
    };
    t0 = cluster.now;
    while (posted < Math.min(window, iters)) post();
    while (done < iters) {
      const wcs = await me.cq.pollUntil(1);
      for (const wc of [...wcs, ...me.cq.poll(window)]) {
        if (wc.status !== WcStatus.SUCCESS) throw new Error(`write failed: status ${wc.status}`);
        done++;
        if (posted < iters) post();
      }
    }
    t1 = cluster.now;
  });
  const bytesPerSec = (size * iters) / ((t1 - t0) / 1e9);
  return {
    profile: cluster.profile.name,
    size,
    iters,
    window,
    mbPerSec: bytesPerSec / 1e6,
    perftestMbPerSec: bytesPerSec / (1 << 20),
  };
}

/**
 * Usage text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nativePerfUsage } from "./native_perf.ts";
 * const text = nativePerfUsage();
 * assert.equal(text.split("\n")[0], "Usage: deno task native-perf [flags]");
 * for (
 *   const flag of ["--profile", "--lat-size", "--bw-size", "--iters", "--bw-iters", "--window"]
 * ) {
 *   assert.ok(text.includes(flag), flag);
 * }
 * ```
 */
export function nativePerfUsage(): string {
  return [
    "Usage: deno task native-perf [flags]",
    "",
    "RDMA WRITE latency (ping-pong, half round trip) and bandwidth between two bare-metal",
    "hosts in virtual time.",
    "",
    "  -p, --profile=<NAME|FILE.yaml>  cost profile (default pcix-sdr-2006; built-in: pcix-sdr-2006,",
    "                                  modern-gen5-ndr)",
    "      --lat-size=<bytes>          latency message size, 1.. (default 2)",
    "      --bw-size=<bytes>           bandwidth message size, 1.. (default 1048576)",
    "      --iters=<n>                 latency round trips, 1.. (default 1000)",
    "      --bw-iters=<n>              bandwidth messages, 1.. (default 64)",
    "      --window=<n>                bandwidth WRs outstanding, 1..16384 (default 16)",
    "  -h, --help                      this text",
  ].join("\n");
}

/**
 * The command line: figures for one profile.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { main } from "./native_perf.ts";
 * const lines: string[] = [];
 * const log = console.log; // watched, to see what it prints
 * console.log = (line: string) => void lines.push(line);
 * try {
 *   await main(["--iters", "10", "--bw-size", "65536", "--bw-iters", "4"]);
 * } finally {
 *   console.log = log;
 * }
 * assert.equal(lines.length, 3);
 * assert.match(lines[0], /^profile: pcix-sdr-2006 — /);
 * assert.match(
 *   lines[1],
 *   /^RDMA WRITE latency  2 B: [\d.]+ us typical, [\d.]+ us average \(10 iterations, inline, /,
 * );
 * assert.match(
 *   lines[2],
 *   /^RDMA WRITE bandwidth 65536 B: [\d.]+ MB\/sec as perftest \(2\^20 B\/s\), [\d.]+ MB\/s /,
 * );
 * assert.ok(lines[1].endsWith("half round trip)"));
 * assert.ok(lines[2].endsWith("in 10^6 B/s (4 messages, 16 outstanding)"));
 * await assert.rejects(main(["--window", "0"]), {
 *   name: "UsageError",
 *   message: "--window: 0 is out of range (1..16384)",
 * });
 * ```
 */
export async function main(args: string[]): Promise<void> {
  const { values } = parseFlags(args, {
    profile: { type: "string", short: "p" },
    "lat-size": { type: "string" },
    "bw-size": { type: "string" },
    iters: { type: "string" },
    "bw-iters": { type: "string" },
    window: { type: "string" },
    help: { type: "boolean", short: "h" },
  });
  if (values.help) {
    console.log(nativePerfUsage());
    return;
  }
  const MAX = 2 ** 31 - 1;
  const latSize = parseIntFlag("--lat-size", values["lat-size"] ?? "2", 1, MAX);
  const bwSize = parseIntFlag("--bw-size", values["bw-size"] ?? String(1 << 20), 1, MAX);
  const iters = parseIntFlag("--iters", values.iters ?? "1000", 1, 100_000_000);
  const bwIters = parseIntFlag("--bw-iters", values["bw-iters"] ?? "64", 1, 100_000_000);
  const window = parseIntFlag("--window", values.window ?? "16", 1, 16384);
  if (values.profile === "") throw new UsageError("--profile: empty value");
  const profile = await loadToolProfile(values.profile ?? "pcix-sdr-2006");
  const spec = profile as unknown as Record<string, unknown>;
  console.log(`profile: ${profile.name} — ${profile.description}`);
  const lat = await writeLatency(spec, { size: latSize, iters });
  console.log(
    `RDMA WRITE latency  ${lat.size} B: ${lat.typicalUs.toFixed(2)} us typical, ` +
      `${lat.averageUs.toFixed(2)} us average (${lat.iters} iterations, ` +
      `${lat.inline ? "inline" : "not inline"}, half round trip)`,
  );
  const bw = await writeBandwidth(spec, { size: bwSize, iters: bwIters, window });
  console.log(
    `RDMA WRITE bandwidth ${bw.size} B: ${bw.perftestMbPerSec.toFixed(1)} MB/sec as perftest ` +
      `(2^20 B/s), ${bw.mbPerSec.toFixed(1)} MB/s in 10^6 B/s ` +
      `(${bw.iters} messages, ${bw.window} outstanding)`,
  );
}

// Only as a program: importing the module (docs, tests) must not run it.
if (import.meta.main) await runMain("native-perf", () => main(Deno.args));
