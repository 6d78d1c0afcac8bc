/**
 * perftest's measurements against xenib's public API: `runPerftest(config)`
 * builds a two-endpoint cluster (bare-metal hosts for `native`, Xen hosts
 * with one `bypass` or `split` guest each otherwise), or uses endpoints the
 * caller gives (scenarios, the paper tool), sets up PD/MR/CQ/QP on both
 * sides, connects them and runs perftest's loops in virtual time:
 *
 * - `write_lat`: ping-pong of RDMA WRITEs; each side polls the last byte of
 *   its buffer for the peer's write, posts its own, reaps its completion.
 *   Reported: half of a round trip.
 * - `send_lat`: ping-pong of SENDs, receives pre-posted; half a round trip.
 * - `read_lat`, `atomic_lat`: one READ / atomic at a time; a full round trip.
 * - `*_bw`: tx-depth WRs in flight per QP, every cq_mod-th signaled; the
 *   post and completion time of every message give perftest's peak and
 *   average bandwidth and message rate.
 *
 * Only the tool side reads timestamps: `cluster.now` (virtual ns) for the
 * simulation, `performance.now()` on real hardware.
 *
 * @module
 */
import {
  Access,
  connectQp,
  linkBytesPerSec,
  type Profile,
  QpType,
  SendFlags,
  type SendWr,
  WcStatus,
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
import { allSizes, defaultInline, type PerftestConfig } from "./perftest_args.ts";
import {
  bandwidthStats,
  type BwRow,
  latencyStats,
  type LatRow,
  type PerftestResult,
} from "./perftest_stats.ts";

/**
 * Where and how a run happens (clock, waiting, concurrency).
 *
 * @example
 * ```ts
 * import type { PerftestEnv } from "./perftest_runner.ts";
 * import type { Cluster } from "../../mod.ts";
 * const envOf = (cluster: Cluster): PerftestEnv => ({
 *   now: () => cluster.now,
 *   sleep: (ns) => cluster.sleep(ns),
 *   spawn: (name, fn) => cluster.spawn(name, fn),
 *   pollStepNs: 40,
 *   virtual: true,
 * });
 * ```
 */
export interface PerftestEnv {
  /** Current time in ns (virtual or wall). */
  now(): number;
  /** Let time pass (virtual) or do nothing (real hardware: busy polling). */
  sleep(ns: number): Promise<void>;
  /** Run a concurrent process (the two sides of a ping-pong). */
  spawn<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Granularity of polling host memory for a peer's RDMA WRITE, ns. */
  pollStepNs: number;
  /** Virtual time? */
  virtual: boolean;
}

/**
 * Options of {@link runPerftest}.
 *
 * @example
 * ```ts
 * import type { RunPerftestOptions } from "./perftest_runner.ts";
 * const o: RunPerftestOptions = { onSize: (bytes) => console.log(`${bytes} bytes`) };
 * ```
 */
export interface RunPerftestOptions {
  /** Run on this cluster between these two domains instead of building a fresh cluster. */
  endpoints?: { cluster: Cluster; a: Domain; b: Domain; mode?: string };
  /** The profile already loaded (else `config.profile` is loaded). */
  profile?: Profile;
  /** Called before each message size is measured. */
  onSize?: (bytes: number, index: number, count: number) => void;
  /** Called after the last size, before teardown. */
  onMeasured?: () => void;
}

/** One endpoint's verbs objects. */
interface Side {
  dom: Domain;
  ctx: Context;
  pd: Pd;
  mr: Mr;
  /** Start of the per-QP source regions (qps × region). */
  src: number;
  /** Start of the per-QP destination regions (qps × region). */
  dst: number;
  region: number;
  sendCq: Cq;
  recvCq: Cq;
  sendCh?: CompChannel;
  recvCh?: CompChannel;
  qps: Qp[];
  ahs: Ah[];
  lid: number;
  qkey: number;
}

const QKEY = 0x11111111;
const MTUS = [256, 512, 1024, 2048, 4096];

/**
 * perftest's CQ moderation for a bandwidth run.
 *
 * @example
 * ```ts
 * import { cqModeration } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * const c = parsePerftestArgs(["ib_write_bw"]);
 * console.log(cqModeration(c, 4096), cqModeration(c, 65536)); // 100 1
 * ```
 */
export function cqModeration(c: PerftestConfig, size: number): number {
  let mod = 100;
  if (size > 8192 && c.connection !== "UD" && !c.all && !c.events) mod = 1;
  return Math.max(1, Math.min(mod, c.txDepth));
}

/**
 * A link's name from a profile: `4X SDR (10 Gb/s signalling, 8 Gb/s data)`.
 *
 * @example
 * ```ts
 * import { linkDescription } from "./perftest_runner.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * console.log(linkDescription(PCIX_SDR_2006)); // 4X SDR (10 Gb/s signalling, 8 Gb/s data)
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

function check(wc: Wc, what: string): void {
  if (wc.status !== WcStatus.SUCCESS) {
    const name = Object.entries(WcStatus).find(([, v]) => v === wc.status)?.[0] ?? wc.status;
    throw new ToolError(`${what}: completion with error status ${name} (wr_id ${wc.wrId})`);
  }
}

/** Wait for `n` completions: busy-poll (virtual time) or, with events, on the channel. */
async function waitCq(cq: Cq, ch: CompChannel | undefined, n: number): Promise<Wc[]> {
  if (!ch) return await cq.pollUntil(n);
  const got: Wc[] = [];
  while (got.length < n) {
    await ch.getEvent();
    cq.ackEvents(1);
    cq.reqNotify(false);
    got.push(...(await cq.poll(n - got.length)));
  }
  return got;
}

/** Wait for at least one completion, then take what else is there (up to `max`). */
async function waitSome(cq: Cq, ch: CompChannel | undefined, max: number): Promise<Wc[]> {
  if (ch) {
    for (;;) {
      await ch.getEvent();
      cq.ackEvents(1);
      cq.reqNotify(false);
      const got = await cq.poll(max);
      if (got.length) return got;
    }
  }
  const first = await cq.pollUntil(1);
  const more = max > 1 ? await cq.poll(max - 1) : [];
  return [...first, ...more];
}

/**
 * Run a perftest configuration and return its rows.
 *
 * @example
 * ```ts ignore
 * import { runPerftest } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * const r = await runPerftest(parsePerftestArgs(["ib_write_lat", "-n", "100"]));
 * console.log(r.lat[0].tTypical); // ≈ 4.5 (µs, pcix-sdr-2006)
 * ```
 */
export async function runPerftest(
  config: PerftestConfig,
  opts: RunPerftestOptions = {},
): Promise<PerftestResult> {
  if (config.device) return await runReal(config, opts);
  const profile = opts.profile ?? (await loadToolProfile(config.profile));
  let cluster: Cluster, a: Domain, b: Domain, mode: string;
  if (opts.endpoints) {
    ({ cluster, a, b } = opts.endpoints);
    mode = opts.endpoints.mode ?? config.mode;
  } else {
    ({ cluster, a, b } = await buildPair(config, profile));
    mode = config.mode;
  }
  const env: PerftestEnv = {
    now: () => cluster.now,
    sleep: (ns) => cluster.sleep(ns),
    spawn: (name, fn) => (cluster.spawn ? cluster.spawn(name, fn) : fn()),
    pollStepNs: Math.max(1, profile.cpu.emptyPollNs),
    virtual: true,
  };
  return await cluster.run(() =>
    measure(config, env, a, b, {
      mode,
      profile: profile.name,
      link: linkDescription(profile),
      portMtuFallback: profile.link.mtu,
      maxRdAtomic: Math.max(1, profile.hca.maxRdAtomic),
      onSize: opts.onSize,
      onMeasured: opts.onMeasured,
    })
  );
}

/**
 * Guest memory needed for a run, MiB.
 *
 * @example
 * ```ts
 * import { guestMemoryMiB } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * console.log(guestMemoryMiB(parsePerftestArgs(["ib_write_bw", "-a"]))); // 49
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
 * import { buildPair } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const { a, b } = await buildPair(parsePerftestArgs(["ib_write_lat"]), PCIX_SDR_2006);
 * console.log(a.name !== b.name); // true
 * ```
 */
export async function buildPair(
  config: PerftestConfig,
  profile: Profile,
): Promise<{ cluster: Cluster; a: Domain; b: Domain; hosts: Host[] }> {
  const cluster = new Cluster({ profile, seed: config.seed });
  if (config.mode === "native") {
    const h0 = cluster.addHost({ name: "node0", hypervisor: false });
    const h1 = cluster.addHost({ name: "node1", hypervisor: false });
    await cluster.start();
    if (!h0.os || !h1.os) throw new ToolError("the library's bare-metal Host has no 'os' domain");
    return { cluster, a: h0.os, b: h1.os, hosts: [h0, h1] };
  }
  const memoryMiB = guestMemoryMiB(config);
  try {
    const h0 = cluster.addHost({ name: "node0", hypervisor: true });
    const h1 = cluster.addHost({ name: "node1", hypervisor: true });
    await cluster.start();
    const a = await h0.createGuest({ name: "vm0", memoryMiB, driver: config.mode });
    const b = await h1.createGuest({ name: "vm1", memoryMiB, driver: config.mode });
    return { cluster, a, b, hosts: [h0, h1] };
  } catch (e) {
    throw modeError(config.mode, e);
  }
}

/** Things {@link measure} reports in the header. */
interface MeasureInfo {
  mode: string;
  profile: string;
  link: string;
  portMtuFallback: number;
  maxRdAtomic: number;
  onSize?: (bytes: number, index: number, count: number) => void;
  onMeasured?: () => void;
  clock?: "virtual" | "wall";
  /** Device to open (default: the domain's first). */
  deviceName?: string;
}

/**
 * The measurement itself, given an environment and two domains (inside
 * `cluster.run` for the simulation).
 *
 * @example
 * ```ts
 * import { buildPair, measure } from "./perftest_runner.ts";
 * import { parsePerftestArgs } from "./perftest_args.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const c = parsePerftestArgs(["ib_read_lat", "-n", "10"]);
 * const { cluster, a, b } = await buildPair(c, PCIX_SDR_2006);
 * const env = { now: () => cluster.now, sleep: (ns: number) => cluster.sleep(ns),
 *   spawn: <T>(n: string, f: () => Promise<T>) => cluster.spawn(n, f), pollStepNs: 40, virtual: true };
 * const r = await cluster.run(() => measure(c, env, a, b, { mode: "native", profile: "pcix-sdr-2006",
 *   link: "4X SDR", portMtuFallback: 2048, maxRdAtomic: 4 }));
 * console.log(r.lat.length); // 1
 * ```
 */
export async function measure(
  config: PerftestConfig,
  env: PerftestEnv,
  a: Domain,
  b: Domain,
  info: MeasureInfo,
): Promise<PerftestResult> {
  const notes: string[] = [];
  const probe = await a.openDevice(info.deviceName);
  const port = probe.queryPort(1);
  const activeMtu = mtuOf(port.activeMtu, info.portMtuFallback);
  await probe.close();
  let mtu = config.mtu ?? activeMtu;
  if (mtu > activeMtu) {
    notes.push(`Requested mtu is higher than active mtu; changing to active mtu - ${activeMtu}`);
    mtu = activeMtu;
  }
  if (!MTUS.includes(mtu)) mtu = activeMtu;
  let sizes = [...config.sizes];
  if (config.connection === "UD") {
    if (config.all) sizes = allSizes(mtu);
    else if (sizes.some((s) => s > mtu)) {
      notes.push(`Max msg size in UD is MTU ${mtu}; changing to this MTU`);
      sizes = sizes.map((s) => Math.min(s, mtu));
    }
  }
  const inline = config.verb === "read" || config.verb === "atomic"
    ? 0
    : config.inlineSize ?? defaultInline(config.verb, config.kind, config.connection);
  const maxSize = Math.max(...sizes);
  const region = Math.ceil((maxSize + (config.connection === "UD" ? 40 : 0) + 64) / 4096) * 4096;
  const rxDepth = config.verb !== "send"
    ? 1
    : config.connection === "RC"
    ? Math.min(512, config.iters)
    : Math.min(16000, config.iters);
  const A = await setupSide(config, a, region, inline, rxDepth, info.deviceName);
  const B = await setupSide(config, b, region, inline, rxDepth, info.deviceName);
  await connect(config, A, B, mtu, info.maxRdAtomic);
  await connect(config, B, A, mtu, info.maxRdAtomic);

  const lat: LatRow[] = [], bw: BwRow[] = [];
  for (let i = 0; i < sizes.length; i++) {
    const size = sizes[i];
    info.onSize?.(size, i, sizes.length);
    if (config.kind === "lat") {
      const samples = await latencyRun(config, env, A, B, size, inline, rxDepth);
      const rtt = config.verb === "read" || config.verb === "atomic" ? 1 : 2;
      const row = latencyStats(size, samples, rtt);
      row.iterations = config.iters;
      lat.push(row);
    } else {
      bw.push(await bandwidthRun(config, env, A, B, size, inline, rxDepth));
    }
  }
  info.onMeasured?.();
  await teardown(A);
  await teardown(B);
  const devs = info.deviceName ? [info.deviceName] : a.devices();
  return {
    test: config.test,
    verb: config.verb,
    kind: config.kind,
    connection: config.connection,
    mode: info.mode,
    profile: info.profile,
    seed: config.seed,
    device: devs[0] ?? "hca0",
    mtu,
    link: info.link,
    inlineSize: inline,
    txDepth: config.txDepth,
    qps: config.qps,
    events: config.events,
    atomicType: config.verb === "atomic" ? config.atomicType : undefined,
    clock: info.clock ?? "virtual",
    reportGbits: config.reportGbits,
    notes,
    lat,
    bw,
  };
}

async function setupSide(
  c: PerftestConfig,
  dom: Domain,
  region: number,
  inline: number,
  rxDepth: number,
  deviceName?: string,
): Promise<Side> {
  const ctx = await dom.openDevice(deviceName);
  const lid = Number(ctx.queryPort(1).lid ?? 0);
  const pd = await ctx.allocPd();
  const total = 2 * c.qps * region;
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
  const access = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ |
    Access.REMOTE_ATOMIC;
  const mr = await pd.regMr(base, total, access);
  const sendCh = c.events ? ctx.createCompChannel() : undefined;
  const recvCh = c.events ? ctx.createCompChannel() : undefined;
  const sendCq = await ctx.createCq(Math.max(16, c.txDepth * c.qps + 1), { channel: sendCh });
  const recvCq = await ctx.createCq(Math.max(16, rxDepth * c.qps + 1), { channel: recvCh });
  const type = QpType[c.connection];
  const qps: Qp[] = [];
  for (let q = 0; q < c.qps; q++) {
    qps.push(
      await pd.createQp({
        type,
        sendCq,
        recvCq,
        cap: {
          maxSendWr: Math.max(1, c.txDepth),
          maxRecvWr: Math.max(1, rxDepth),
          maxSendSge: 1,
          maxRecvSge: 1,
          maxInlineData: inline,
        },
      }),
    );
  }
  if (c.events) {
    sendCq.reqNotify(false);
    recvCq.reqNotify(false);
  }
  return {
    dom,
    ctx,
    pd,
    mr,
    src: base,
    dst: base + c.qps * region,
    region,
    sendCq,
    recvCq,
    sendCh,
    recvCh,
    qps,
    ahs: [],
    lid,
    qkey: QKEY,
  };
}

/** perftest's `ctx_connect`: each of `me`'s QPs to RTS toward its peer QP (UD: plus an AH). */
async function connect(
  c: PerftestConfig,
  me: Side,
  peer: Side,
  mtu: number,
  maxRdAtomic: number,
): Promise<void> {
  for (let q = 0; q < me.qps.length; q++) {
    await connectQp(me.qps[q], {
      remoteQpn: peer.qps[q].qpNum,
      dlid: peer.lid,
      pathMtu: mtu,
      qkey: QKEY,
      maxRdAtomic,
      maxDestRdAtomic: maxRdAtomic,
    });
    if (c.connection === "UD") me.ahs.push(await me.pd.createAh({ dlid: peer.lid, portNum: 1 }));
  }
}

async function teardown(s: Side): Promise<void> {
  for (const qp of s.qps) await qp.destroy();
  for (const ah of s.ahs) await ah.destroy();
  await s.sendCq.destroy();
  await s.recvCq.destroy();
  await s.mr.dereg();
  await s.pd.dealloc();
  await s.ctx.close();
}

/** The send WR for message `n` of QP `q` of side `me` toward `peer`. */
function sendWr(
  c: PerftestConfig,
  me: Side,
  peer: Side,
  q: number,
  size: number,
  inline: number,
  signaled: boolean,
  wrId: bigint,
): SendWr {
  const flags = (signaled ? SendFlags.SIGNALED : 0) |
    (size <= inline && c.verb !== "read" && c.verb !== "atomic" ? SendFlags.INLINE : 0);
  const src = me.src + q * me.region;
  const dst = me.dst + q * me.region;
  const remoteSrc = peer.src + q * peer.region;
  const remoteDst = peer.dst + q * peer.region;
  switch (c.verb) {
    case "write":
    case "read": {
      // A WRITE pushes our source into the peer's destination; a READ pulls the other way.
      const write = c.verb === "write";
      return {
        wrId,
        opcode: write ? WrOpcode.RDMA_WRITE : WrOpcode.RDMA_READ,
        sendFlags: flags,
        sgList: [{ addr: write ? src : dst, length: size, lkey: me.mr.lkey }],
        remoteAddr: write ? remoteDst : remoteSrc,
        rkey: peer.mr.rkey,
      };
    }
    case "atomic": {
      const cas = c.atomicType === "CMP_AND_SWAP";
      return {
        wrId,
        opcode: cas ? WrOpcode.ATOMIC_CMP_AND_SWP : WrOpcode.ATOMIC_FETCH_AND_ADD,
        sendFlags: flags,
        sgList: [{ addr: dst, length: 8, lkey: me.mr.lkey }],
        remoteAddr: remoteSrc,
        rkey: peer.mr.rkey,
        compareAdd: cas ? 0n : 1n,
        swap: cas ? 1n : 0n,
      };
    }
    case "send":
      return {
        wrId,
        opcode: WrOpcode.SEND,
        sendFlags: flags,
        sgList: [{ addr: src, length: size, lkey: me.mr.lkey }],
        ...(c.connection === "UD"
          ? { ah: me.ahs[q], remoteQpn: peer.qps[q].qpNum, remoteQkey: QKEY }
          : {}),
      };
  }
}

function postRecv(c: PerftestConfig, me: Side, q: number, size: number, wrId: bigint): void {
  const extra = c.connection === "UD" ? 40 : 0;
  me.qps[q].postRecv({
    wrId,
    sgList: [{ addr: me.dst + q * me.region, length: size + extra, lkey: me.mr.lkey }],
  });
}

/**
 * Wait until the byte at `addr` equals `value` (perftest's write_lat spins on
 * the last byte of its buffer). In the simulation the spin is modelled by
 * the library's write watch (`memory.waitWrite`) where it exists, else by
 * polling in virtual time.
 */
async function waitByte(env: PerftestEnv, dom: Domain, addr: number, value: number) {
  const start = env.now();
  const period = Math.max(1, env.pollStepNs);
  if (env.virtual && typeof dom.memory.waitWrite === "function") {
    while (dom.memory.read(addr, 1)[0] !== value) await dom.memory.waitWrite(addr, 1);
    // The spinning CPU sees the new value at its next poll of the line.
    const since = env.now() - start;
    const wait = Math.ceil(since / period) * period - since;
    if (wait > 0) await env.sleep(wait);
    return;
  }
  let step = env.pollStepNs;
  while (dom.memory.read(addr, 1)[0] !== value) {
    await env.sleep(step);
    // Bounded relative error (≤ 1/256 of the wait) keeps large messages cheap to simulate.
    if (env.virtual) step = Math.max(period, Math.floor((env.now() - start) / 256));
  }
}

/** Per-iteration samples (ns) of one latency size: consecutive post times of side A. */
async function latencyRun(
  c: PerftestConfig,
  env: PerftestEnv,
  A: Side,
  B: Side,
  size: number,
  inline: number,
  rxDepth: number,
): Promise<number[]> {
  const iters = c.iters;
  const times: number[] = [];
  const what = `${c.test} ${size} bytes`;
  if (c.verb === "read" || c.verb === "atomic") {
    for (let i = 0; i < iters; i++) {
      times.push(env.now());
      A.qps[0].postSend(sendWr(c, A, B, 0, size, inline, true, BigInt(i + 1)));
      for (const wc of await waitCq(A.sendCq, A.sendCh, 1)) check(wc, what);
    }
    times.push(env.now());
  } else if (c.verb === "write") {
    // Fresh poll bytes for this size.
    A.dom.memory.write(A.dst + size - 1, new Uint8Array([0]));
    B.dom.memory.write(B.dst + size - 1, new Uint8Array([0]));
    const side = async (me: Side, peer: Side, server: boolean, out?: number[]) => {
      let scnt = 0, ccnt = 0, rcnt = 0;
      const pollAddr = me.dst + size - 1, postAddr = me.src + size - 1;
      while (scnt < iters || ccnt < iters || rcnt < iters) {
        if (rcnt < iters && !(scnt < 1 && server)) {
          rcnt++;
          await waitByte(env, me.dom, pollAddr, rcnt & 0xff);
        }
        if (scnt < iters) {
          out?.push(env.now());
          scnt++;
          me.dom.memory.write(postAddr, new Uint8Array([scnt & 0xff]));
          me.qps[0].postSend(sendWr(c, me, peer, 0, size, inline, true, BigInt(scnt)));
        }
        if (ccnt < iters) {
          for (const wc of await waitCq(me.sendCq, undefined, 1)) check(wc, what);
          ccnt++;
        }
      }
    };
    await Promise.all([
      env.spawn("perftest-client", () => side(A, B, false, times)),
      env.spawn("perftest-server", () => side(B, A, true)),
    ]);
  } else {
    const pre = Math.min(rxDepth, iters);
    for (let i = 0; i < pre; i++) {
      postRecv(c, A, 0, size, BigInt(i));
      postRecv(c, B, 0, size, BigInt(i));
    }
    const side = async (me: Side, peer: Side, client: boolean, out?: number[]) => {
      let scnt = 0, rcnt = 0;
      while (scnt < iters || rcnt < iters) {
        if (rcnt < iters && !(scnt < 1 && client)) {
          for (const wc of await waitCq(me.recvCq, me.recvCh, 1)) check(wc, what);
          rcnt++;
          if (rcnt + pre <= iters) postRecv(c, me, 0, size, BigInt(rcnt));
        }
        if (scnt < iters) {
          out?.push(env.now());
          scnt++;
          me.qps[0].postSend(sendWr(c, me, peer, 0, size, inline, true, BigInt(scnt)));
          for (const wc of await waitCq(me.sendCq, me.sendCh, 1)) check(wc, what);
        }
      }
    };
    await Promise.all([
      env.spawn("perftest-client", () => side(A, B, true, times)),
      env.spawn("perftest-server", () => side(B, A, false)),
    ]);
  }
  const samples: number[] = [];
  for (let i = 1; i < times.length; i++) samples.push(times[i] - times[i - 1]);
  return samples;
}

/** One bandwidth size: A streams to B. */
async function bandwidthRun(
  c: PerftestConfig,
  env: PerftestEnv,
  A: Side,
  B: Side,
  size: number,
  inline: number,
  rxDepth: number,
): Promise<BwRow> {
  const nq = c.qps, iters = c.iters, total = iters * nq;
  const cqMod = cqModeration(c, size);
  const posted = new Array<number>(total), completed = new Array<number>(total);
  const what = `${c.test} ${size} bytes`;
  const client = async () => {
    const scnt = new Array<number>(nq).fill(0), ccnt = new Array<number>(nq).fill(0);
    let tots = 0, totc = 0;
    while (totc < total) {
      for (let q = 0; q < nq; q++) {
        while (scnt[q] < iters && scnt[q] - ccnt[q] < c.txDepth) {
          const n = scnt[q];
          const signaled = n % cqMod === cqMod - 1 || n === iters - 1;
          posted[tots++] = env.now();
          const id = BigInt(q) * 0x100000000n + BigInt(n);
          A.qps[q].postSend(sendWr(c, A, B, q, size, inline, signaled, id));
          scnt[q]++;
        }
      }
      const wcs = await waitSome(A.sendCq, A.sendCh, 16);
      const t = env.now();
      for (const wc of wcs) {
        check(wc, what);
        const q = Number(wc.wrId >> 32n), n = Number(wc.wrId & 0xffffffffn);
        const newly = n + 1 - ccnt[q];
        ccnt[q] = n + 1;
        for (let k = 0; k < newly; k++) completed[totc++] = t;
      }
    }
  };
  if (c.verb === "send") {
    const pre = Math.min(rxDepth, iters);
    for (let q = 0; q < nq; q++) {
      for (let i = 0; i < pre; i++) postRecv(c, B, q, size, BigInt(q) * 0x100000000n + BigInt(i));
    }
    const server = async () => {
      const rcnt = new Array<number>(nq).fill(0), rposted = new Array<number>(nq).fill(pre);
      let got = 0;
      while (got < total) {
        const wcs = await waitSome(B.recvCq, B.recvCh, 16);
        for (const wc of wcs) {
          check(wc, `${what} (receiver)`);
          const q = Number(wc.wrId >> 32n);
          rcnt[q]++;
          got++;
          if (rposted[q] < iters) {
            postRecv(c, B, q, size, BigInt(q) * 0x100000000n + BigInt(rposted[q]));
            rposted[q]++;
          }
        }
      }
    };
    await Promise.all([
      env.spawn("perftest-server", server),
      env.spawn("perftest-client", client),
    ]);
  } else {
    await env.spawn("perftest-client", client);
  }
  const row = bandwidthStats(size, posted, completed, cqMod);
  return row;
}

/** Real hardware: one device, two QPs looped back through its port; wall-clock timing. */
async function runReal(config: PerftestConfig, _opts: RunPerftestOptions): Promise<PerftestResult> {
  const max = Math.max(...config.sizes);
  const region = Math.ceil((max + 4096) / 4096) * 4096;
  const dom = await realHost(4 * config.qps * region + (1 << 20), config.device?.name);
  const env: PerftestEnv = {
    now: () => Math.round(performance.now() * 1e6),
    sleep: () => Promise.resolve(),
    spawn: (_name, fn) => fn(),
    pollStepNs: 0,
    virtual: false,
  };
  return await measure(config, env, dom, dom, {
    mode: "native (real hardware)",
    profile: "hardware",
    link: "as the port reports",
    portMtuFallback: 2048,
    maxRdAtomic: 4,
    clock: "wall",
    deviceName: config.device?.name,
  });
}
