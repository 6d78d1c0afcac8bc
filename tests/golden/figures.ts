/**
 * The golden figures: virtual-time measurements taken through the public
 * API (`mod.ts`) only, in every driver mode on both built-in profiles.
 * `golden_figures_test.ts` compares them, exactly, with `figures.json`;
 * `update.ts` rewrites that file. They are deterministic (seed 1), so any
 * difference is a change of the model, never noise: a speed-up must leave
 * them alone, and a change of the model on purpose updates the file and
 * explains each figure that moved.
 *
 * The programs are the ones `deno task xenib-perf` and `native-perf` run,
 * with fewer iterations (every iteration of a noiseless run is alike):
 * - RDMA WRITE latency: a ping-pong of signaled writes (inline up to the
 *   HCA's limit, 400 B at most, as perftest), each side spinning on the
 *   last byte of its buffer every `cpu.emptyPollNs`; half the round trip.
 * - RDMA WRITE bandwidth: `BW_WINDOW` signaled writes outstanding; bytes
 *   over the time from the first post to the last completion, 10^6 B/s.
 * - Event-driven latency: a 64 B SEND/RECV ping-pong where each side sleeps
 *   on its completion channel (poll, arm, poll, wait); half the round trip.
 * - Registration: `regMr` and `dereg` of 1, 64 and 1024 pages without the
 *   registration cache; with it, the first `regMr` (a miss), the second
 *   (a hit: a guest's dom0 still maps the pages, so only the MPT work and
 *   one request remain; bare metal has no such cache, hit = miss) and a
 *   `dereg` (the keys die either way).
 * - Setup: create a 256-entry CQ and an RC QP (64/64), destroy both.
 * - With the noise model on (`noise: "on"`, seeded): the 2 B latency's
 *   median and mean, which move if the draws from the PRNG change order.
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
  type Qp,
  QpType,
  SendFlags,
  WcStatus,
  WrOpcode,
} from "../../mod.ts";

/** The built-in profiles the set covers. */
export const PROFILES = ["pcix-sdr-2006", "modern-gen5-ndr"] as const;
/** Where the measured program runs. */
export const MODES = ["native", "bypass", "split"] as const;
/** A driver mode. */
export type Mode = typeof MODES[number];
/** RDMA WRITE latency sizes, bytes. */
export const LAT_SIZES = [2, 64, 1024, 4096, 65536];
/** RDMA WRITE bandwidth sizes, bytes, with the messages measured at each. */
export const BW_RUNS: [size: number, messages: number][] = [[64, 500], [4096, 128], [1 << 20, 8]];
/** Writes outstanding in the bandwidth test (as `native-perf`). */
export const BW_WINDOW = 16;
/** Registration sizes, pages. */
export const REG_PAGES = [1, 64, 1024];
const LAT_ITERS = 20, LAT_WARMUP = 5, EV_ITERS = 20, EV_WARMUP = 5;
const ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;

/** Registration cost of one size, µs. */
export interface RegFigures {
  /** `regMr` without the cache. */
  reg: number;
  /** `dereg` without the cache. */
  dereg: number;
  /** First `regMr` with the cache (a miss). */
  cacheMiss: number;
  /** Second `regMr` of the same buffer with the cache (a hit). */
  cacheHit: number;
  /** `dereg` with the cache. */
  cacheDereg: number;
}

/** Every figure of one profile and mode. */
export interface ModeFigures {
  /** RDMA WRITE half round trip by size, µs. */
  writeLatencyUs: Record<string, number>;
  /** RDMA WRITE bandwidth by size, MB/s (10^6 B/s). */
  writeBandwidthMBps: Record<string, number>;
  /** 64 B SEND/RECV half round trip through completion channels, µs. */
  eventLatencyUs: number;
  /** Registration by page count. */
  registrationUs: Record<string, RegFigures>;
  /** Resource creation and destruction, µs. */
  setupUs: { createCq: number; createQp: number; destroyQp: number; destroyCq: number };
  /** 2 B RDMA WRITE half round trip with the noise model on, µs. */
  noisyWriteLatencyUs: { median: number; mean: number };
}

/** The whole set: profile → mode → figures. */
export type GoldenFigures = Record<string, Record<string, ModeFigures>>;

interface End {
  dom: Domain;
  qp: Qp;
  cq: Cq;
  rcq: Cq;
  mr: Mr;
  buf: number;
  lid: number;
}

/** A cluster of `hosts` hosts, each with one domain where the program runs in `mode`. */
async function domains(
  profile: string,
  mode: Mode,
  hosts: number,
  noise: "on" | "off" = "off",
): Promise<{ cluster: Cluster; doms: Domain[] }> {
  const cluster = new Cluster({ profile, seed: 1, noise });
  const virt = mode !== "native";
  const hs = Array.from(
    { length: hosts },
    (_, i) => cluster.addHost({ name: `node${i}`, hypervisor: virt }),
  );
  await cluster.start();
  const doms: Domain[] = [];
  for (const [i, h] of hs.entries()) {
    doms.push(virt ? await h.createGuest({ name: `vm${i}`, memoryMiB: 256, driver: mode }) : h.os);
  }
  return { cluster, doms };
}

/** Two connected RC QPs, one per host, with a registered buffer each. */
async function pair(
  profile: string,
  mode: Mode,
  bytes: number,
  opts: { depth: number; inline?: number; channel?: boolean; noise?: "on" | "off" },
): Promise<{ cluster: Cluster; a: End; b: End }> {
  const { cluster, doms } = await domains(profile, mode, 2, opts.noise);
  const ends = await cluster.run(async () => {
    const out: End[] = [];
    for (const dom of doms) {
      const ctx = await dom.openDevice();
      const pd = await ctx.allocPd();
      const cq = await ctx.createCq(opts.depth * 2 + 4);
      const rcq = opts.channel ? await ctx.createCq(16, { channel: ctx.createCompChannel() }) : cq;
      const buf = dom.memory.alloc(bytes, 4096);
      const mr = await pd.regMr(buf, bytes, ACCESS);
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: rcq,
        cap: {
          maxSendWr: opts.depth,
          maxRecvWr: opts.channel ? 16 : 1,
          maxSendSge: 1,
          maxRecvSge: 1,
          maxInlineData: opts.inline ?? 0,
        },
      });
      out.push({ dom, qp, cq, rcq, mr, buf, lid: ctx.queryPort(1).lid });
    }
    await connectPair(out[0], out[1], { pathMtu: cluster.profile.link.mtu });
    return out;
  });
  return { cluster, a: ends[0], b: ends[1] };
}

function check(wc: { status: number }, what: string): void {
  if (wc.status !== WcStatus.SUCCESS) throw new Error(`${what}: completion status ${wc.status}`);
}

/** Median and mean of the half round trips between consecutive stamps after `warmup`, µs. */
function halfRttUs(stamps: number[], warmup: number): { median: number; mean: number } {
  const halves = stamps.slice(warmup + 1).map((t, i) => (t - stamps[warmup + i]) / 2);
  const mean = halves.reduce((a, b) => a + b, 0) / halves.length / 1000;
  halves.sort((x, y) => x - y);
  return { median: halves[Math.floor(halves.length / 2)] / 1000, mean };
}

/** Wait until the byte at `addr` equals `want`, noticed at the next poll instant. */
async function spinUntil(dom: Domain, addr: number, want: number): Promise<void> {
  const period = Math.max(1, dom.profile.cpu.emptyPollNs);
  const start = dom.engine.now;
  while (dom.memory.read(addr, 1)[0] !== want) await dom.memory.waitWrite(addr, 1);
  const since = dom.engine.now - start;
  const wait = Math.ceil(since / period) * period - since;
  if (wait > 0) await dom.engine.sleep(wait);
}

/** RDMA WRITE ping-pong: the median and mean half round trip, µs. */
export async function writeLatencyUs(
  profile: string,
  mode: Mode,
  size: number,
  noise: "on" | "off" = "off",
): Promise<{ median: number; mean: number }> {
  const half = Math.ceil(size / 64) * 64;
  const probe = new Cluster({ profile, seed: 1 }).profile;
  const inline = size <= Math.min(probe.hca.maxInline, 400) ? size : 0;
  const { cluster, a, b } = await pair(profile, mode, 2 * half, { depth: 16, inline, noise });
  const total = LAT_ITERS + LAT_WARMUP;
  const stamps: number[] = [];
  const side = (me: End, peer: End, client: boolean) => async () => {
    const last = me.buf + half + size - 1;
    for (let n = 1; n <= total; n++) {
      const v = n & 0xff;
      if (!client) await spinUntil(me.dom, last, v);
      else stamps.push(cluster.now);
      me.dom.memory.write(me.buf + size - 1, new Uint8Array([v]));
      me.qp.postSend({
        wrId: BigInt(n),
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED | (inline ? SendFlags.INLINE : 0),
        sgList: [{ addr: me.buf, length: size, lkey: me.mr.lkey }],
        remoteAddr: peer.buf + half,
        rkey: peer.mr.rkey,
      });
      check((await me.cq.pollUntil(1))[0], "write");
      if (client) await spinUntil(me.dom, last, v);
    }
    if (client) stamps.push(cluster.now);
  };
  await cluster.run(() =>
    Promise.all([
      cluster.spawn("server", side(b, a, false)),
      cluster.spawn("client", side(a, b, true)),
    ])
  );
  return halfRttUs(stamps, LAT_WARMUP);
}

/** RDMA WRITE bandwidth with {@link BW_WINDOW} writes outstanding, MB/s. */
export async function writeBandwidthMBps(
  profile: string,
  mode: Mode,
  size: number,
  messages: number,
): Promise<number> {
  const { cluster, a, b } = await pair(profile, mode, size, { depth: BW_WINDOW });
  const elapsed = await cluster.run(async () => {
    let posted = 0, done = 0;
    const post = () =>
      a.qp.postSend({
        wrId: BigInt(posted++),
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: a.buf, length: size, lkey: a.mr.lkey }],
        remoteAddr: b.buf,
        rkey: b.mr.rkey,
      });
    const t0 = cluster.now;
    while (posted < Math.min(BW_WINDOW, messages)) post();
    while (done < messages) {
      for (const wc of [...await a.cq.pollUntil(1), ...a.cq.poll(BW_WINDOW)]) {
        check(wc, "write");
        done++;
        if (posted < messages) post();
      }
    }
    return cluster.now - t0;
  });
  return (size * messages) / (elapsed / 1e9) / 1e6;
}

/** 64 B SEND/RECV ping-pong through completion channels: half the round trip, µs. */
export async function eventLatencyUs(profile: string, mode: Mode): Promise<number> {
  const size = 64;
  const { cluster, a, b } = await pair(profile, mode, 2 * 4096, { depth: 16, channel: true });
  const recv = (e: End) =>
    e.qp.postRecv({ wrId: 0n, sgList: [{ addr: e.buf + 4096, length: size, lkey: e.mr.lkey }] });
  const recvOne = async (e: End) => {
    const got = () => {
      const wcs = e.rcq.poll(1);
      if (wcs.length === 0) return false;
      check(wcs[0], "recv");
      recv(e);
      return true;
    };
    // ibv's event loop: poll, arm, poll again (a completion before the arm raises no event), sleep.
    for (;;) {
      if (got()) return;
      e.rcq.reqNotify(false);
      if (got()) return;
      await e.rcq.channel!.getEvent();
      e.rcq.ackEvents(1);
    }
  };
  const total = EV_ITERS + EV_WARMUP;
  const stamps: number[] = [];
  const side = (me: End, client: boolean) => async () => {
    for (let n = 1; n <= total; n++) {
      if (!client) await recvOne(me);
      else stamps.push(cluster.now);
      me.qp.postSend({
        wrId: BigInt(n),
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: me.buf, length: size, lkey: me.mr.lkey }],
      });
      me.cq.poll(16);
      if (client) await recvOne(me);
    }
    if (client) stamps.push(cluster.now);
  };
  await cluster.run(async () => {
    recv(a);
    recv(b);
    await Promise.all([
      cluster.spawn("server", side(b, false)),
      cluster.spawn("client", side(a, true)),
    ]);
  });
  return halfRttUs(stamps, EV_WARMUP).median;
}

/** Registration cost for each of {@link REG_PAGES}, µs. */
export async function registrationUs(
  profile: string,
  mode: Mode,
): Promise<Record<string, RegFigures>> {
  const { cluster, doms: [dom] } = await domains(profile, mode, 1);
  return await cluster.run(async () => {
    const plain = await (await dom.openDevice(undefined, { regCache: false })).allocPd();
    const cached = await (await dom.openDevice(undefined, { regCache: true })).allocPd();
    const out: Record<string, RegFigures> = {};
    const timed = async <T>(f: () => Promise<T>): Promise<[T, number]> => {
      const t = cluster.now;
      const v = await f();
      return [v, (cluster.now - t) / 1000];
    };
    for (const pages of REG_PAGES) {
      const len = pages * 4096;
      const buf = dom.memory.alloc(len, 4096);
      dom.memory.write(buf, new Uint8Array([1]));
      const [mr, reg] = await timed(() => plain.regMr(buf, len, ACCESS));
      const [, dereg] = await timed(() => mr.dereg());
      const [miss, cacheMiss] = await timed(() => cached.regMr(buf, len, ACCESS));
      await miss.dereg();
      const [hit, cacheHit] = await timed(() => cached.regMr(buf, len, ACCESS));
      const [, cacheDereg] = await timed(() => hit.dereg());
      out[pages] = { reg, dereg, cacheMiss, cacheHit, cacheDereg };
    }
    return out;
  });
}

/** Create a 256-entry CQ and an RC QP (64/64), then destroy both, µs each. */
export async function setupUs(profile: string, mode: Mode): Promise<ModeFigures["setupUs"]> {
  const { cluster, doms: [dom] } = await domains(profile, mode, 1);
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
      createCq: (t1 - t0) / 1000,
      createQp: (t2 - t1) / 1000,
      destroyQp: (t3 - t2) / 1000,
      destroyCq: (t4 - t3) / 1000,
    };
  });
}

/** Every figure of one profile and mode. */
export async function measureMode(profile: string, mode: Mode): Promise<ModeFigures> {
  const writeLatency: Record<string, number> = {};
  for (const size of LAT_SIZES) {
    writeLatency[size] = (await writeLatencyUs(profile, mode, size)).median;
  }
  const writeBandwidth: Record<string, number> = {};
  for (const [size, n] of BW_RUNS) {
    writeBandwidth[size] = await writeBandwidthMBps(profile, mode, size, n);
  }
  return {
    writeLatencyUs: writeLatency,
    writeBandwidthMBps: writeBandwidth,
    eventLatencyUs: await eventLatencyUs(profile, mode),
    registrationUs: await registrationUs(profile, mode),
    setupUs: await setupUs(profile, mode),
    noisyWriteLatencyUs: await writeLatencyUs(profile, mode, 2, "on"),
  };
}

/** The whole set. */
export async function measureAll(): Promise<GoldenFigures> {
  const out: GoldenFigures = {};
  for (const profile of PROFILES) {
    out[profile] = {};
    for (const mode of MODES) out[profile][mode] = await measureMode(profile, mode);
  }
  return out;
}

/**
 * Where `now` differs from `was`, one line per figure (`path: was → now`),
 * and figures present in only one of them.
 */
export function diffFigures(was: unknown, now: unknown, path = ""): string[] {
  if (typeof was === "number" && typeof now === "number") {
    return Object.is(was, now) ? [] : [`${path}: ${was} → ${now}`];
  }
  if (was && now && typeof was === "object" && typeof now === "object") {
    const a = was as Record<string, unknown>, b = now as Record<string, unknown>;
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => {
      const p = path ? `${path}.${k}` : k;
      if (!(k in a)) return [`${p}: new`];
      if (!(k in b)) return [`${p}: gone`];
      return diffFigures(a[k], b[k], p);
    });
  }
  return JSON.stringify(was) === JSON.stringify(now)
    ? []
    : [`${path}: ${JSON.stringify(was)} → ${JSON.stringify(now)}`];
}
