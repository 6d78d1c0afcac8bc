/**
 * Native-path measurements through the public API only (what the
 * calibration and fidelity tests check): two bare-metal hosts on one
 * switch, one RC QP each, perftest's methods. Virtual time: with noise off
 * every sample of a run is the same exchange.
 *
 * - latency: a ping-pong of `size`-byte RDMA WRITEs (inline when allowed)
 *   or SENDs; the writer side spins on the last byte of its buffer, the
 *   SEND side polls its receive CQ; one sample = half a round trip.
 * - bandwidth: `window` signaled RDMA WRITEs outstanding; bytes moved /
 *   (last completion − first post).
 * - message rate: the same with 2-byte inline writes, messages per second.
 * - registration: the time of one `pd.regMr` of a fresh buffer.
 */
import {
  Access,
  Cluster,
  connectPair,
  type Cq,
  type Domain,
  type Mr,
  type NoiseMode,
  type Qp,
  QpType,
  SendFlags,
  WcOpcode,
  WcStatus,
  WrOpcode,
} from "../../mod.ts";

/** One side of a pair. */
export interface End {
  dom: Domain;
  qp: Qp;
  cq: Cq;
  mr: Mr;
  buf: number;
  lid: number;
}

/** Options of {@link nativePair}. */
export interface PairOptions {
  profile: string | Record<string, unknown>;
  seed?: number;
  noise?: NoiseMode;
  /** Path MTU (default the profile's). */
  mtu?: number;
  /** The QP's max_inline_data cap (ibv_qp_init_attr.cap), default 0. */
  maxInline?: number;
  /** Send queue depth (default 16). */
  depth?: number;
  /** Buffer bytes per side (default 64 KiB). */
  bufBytes?: number;
}

const ACCESS = Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ;
const MTU_CODE: Record<number, number> = { 256: 1, 512: 2, 1024: 3, 2048: 4, 4096: 5 };

/** Two bare-metal hosts, one connected RC QP each. */
export async function nativePair(o: PairOptions): Promise<{ cluster: Cluster; ends: [End, End] }> {
  const cluster = new Cluster({ profile: o.profile, seed: o.seed ?? 1, noise: o.noise });
  const hosts = [
    cluster.addHost({ name: "node0", hypervisor: false }),
    cluster.addHost({ name: "node1", hypervisor: false }),
  ];
  await cluster.start();
  const depth = o.depth ?? 16;
  const bytes = o.bufBytes ?? 65536;
  const ends = await cluster.run(async () => {
    const out: End[] = [];
    for (const h of hosts) {
      const dom = h.os;
      const ctx = await dom.openDevice();
      const pd = await ctx.allocPd();
      const cq = await ctx.createCq(depth * 4);
      const buf = dom.memory.alloc(bytes, 4096);
      const mr = await pd.regMr(buf, bytes, ACCESS);
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: {
          maxSendWr: depth,
          maxRecvWr: depth,
          maxSendSge: 1,
          maxRecvSge: 1,
          maxInlineData: o.maxInline ?? 0,
        },
      });
      out.push({ dom, qp, cq, mr, buf, lid: ctx.queryPort(1).lid });
    }
    const mtu = o.mtu ?? cluster.profile.link.mtu;
    await connectPair(out[0], out[1], { pathMtu: MTU_CODE[mtu] });
    return out;
  });
  return { cluster, ends: ends as [End, End] };
}

/** Spin on one byte until it equals `want`, noticing the write at the next poll instant. */
async function spinUntil(dom: Domain, addr: number, want: number): Promise<void> {
  const period = Math.max(1, dom.profile.cpu.emptyPollNs);
  const start = dom.engine.now;
  while (dom.memory.read(addr, 1)[0] !== want) await dom.memory.waitWrite(addr, 1);
  const since = dom.engine.now - start;
  const wait = Math.ceil(since / period) * period - since;
  if (wait > 0) await dom.engine.sleep(wait);
}

function ok(wc: { status: number }[], what: string): void {
  for (const w of wc) {
    if (w.status !== WcStatus.SUCCESS) throw new Error(`${what}: status ${w.status}`);
  }
}

/**
 * Half round trips (ns) of a ping-pong of `size`-byte RDMA WRITEs (each
 * side spins on the last byte the peer writes) or SENDs (each side polls
 * its CQ for the receive), inline when `inline` (the QPs must allow it),
 * after `warmup` exchanges.
 */
export async function pingPong(
  p: { cluster: Cluster; ends: [End, End] },
  o: { op: "write" | "send"; size: number; iters: number; warmup?: number; inline?: boolean },
): Promise<number[]> {
  const { cluster, ends } = p;
  const warmup = o.warmup ?? 10;
  const total = o.iters + warmup;
  const size = o.size;
  const half = Math.ceil(size / 64) * 64;
  const flags = SendFlags.SIGNALED | (o.inline ? SendFlags.INLINE : 0);
  const stamps: number[] = [];
  const side = (me: End, peer: End, client: boolean) => async () => {
    const src = me.buf, dst = peer.buf + half;
    const last = me.buf + half + size - 1;
    const recv = () =>
      me.qp.postRecv({
        wrId: 0n,
        sgList: [{ addr: me.buf + half, length: half, lkey: me.mr.lkey }],
      });
    // The peer's n-th message has arrived.
    const arrived = async (n: number) => {
      if (o.op === "write") return await spinUntil(me.dom, last, n & 0xff);
      for (;;) {
        const wcs = await me.cq.pollUntil(1);
        ok(wcs, "send");
        if (wcs[0].opcode === WcOpcode.RECV) break; // our own send completions come here too
      }
      recv();
    };
    if (o.op === "send") recv();
    for (let n = 1; n <= total; n++) {
      if (!client) await arrived(n); // the server answers, the client starts each exchange
      if (client) stamps.push(cluster.now);
      me.dom.memory.write(src + size - 1, new Uint8Array([n & 0xff]));
      me.qp.postSend({
        wrId: BigInt(n),
        opcode: o.op === "write" ? WrOpcode.RDMA_WRITE : WrOpcode.SEND,
        sendFlags: flags,
        sgList: [{ addr: src, length: size, lkey: me.mr.lkey }],
        remoteAddr: dst,
        rkey: peer.mr.rkey,
      });
      if (o.op === "write") ok(await me.cq.pollUntil(1), "write");
      if (client) await arrived(n);
    }
    if (client) stamps.push(cluster.now);
  };
  await cluster.run(async () => {
    await Promise.all([
      cluster.spawn("server", side(ends[1], ends[0], false)),
      cluster.spawn("client", side(ends[0], ends[1], true)),
    ]);
  });
  const out: number[] = [];
  for (let i = warmup; i < total; i++) out.push((stamps[i + 1] - stamps[i]) / 2);
  return out;
}

/** Bytes per second of `iters` `size`-byte RDMA WRITEs, `window` outstanding. */
export async function writeStream(
  p: { cluster: Cluster; ends: [End, End] },
  o: { size: number; iters: number; window: number; inline?: boolean },
): Promise<{ bytesPerSec: number; msgsPerSec: number }> {
  const { cluster, ends: [me, peer] } = p;
  const flags = SendFlags.SIGNALED | (o.inline ? SendFlags.INLINE : 0);
  let t0 = 0, t1 = 0;
  await cluster.run(async () => {
    let posted = 0, done = 0;
    const post = () =>
      me.qp.postSend({
        wrId: BigInt(posted++),
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: flags,
        sgList: [{ addr: me.buf, length: o.size, lkey: me.mr.lkey }],
        remoteAddr: peer.buf,
        rkey: peer.mr.rkey,
      });
    t0 = cluster.now;
    while (posted < Math.min(o.window, o.iters)) post();
    while (done < o.iters) {
      const wcs = [...(await me.cq.pollUntil(1)), ...me.cq.poll(o.window)];
      ok(wcs, "write");
      for (const _ of wcs) {
        done++;
        if (posted < o.iters) post();
      }
    }
    t1 = cluster.now;
  });
  const secs = (t1 - t0) / 1e9;
  return { bytesPerSec: (o.size * o.iters) / secs, msgsPerSec: o.iters / secs };
}

/** Mean µs of `reps` `pd.regMr` calls on fresh `pages`-page buffers (bare metal, no cache). */
export async function regMrUs(profile: string, pages: number, reps = 3): Promise<number> {
  const cluster = new Cluster({ profile, seed: 1 });
  const host = cluster.addHost({ name: "node0", hypervisor: false });
  await cluster.start();
  return await cluster.run(async () => {
    const ctx = await host.os.openDevice();
    const pd = await ctx.allocPd();
    let sum = 0;
    for (let i = 0; i < reps; i++) {
      const bytes = pages * 4096;
      const buf = host.os.memory.alloc(bytes, 4096);
      const t0 = cluster.now;
      const mr = await pd.regMr(buf, bytes, ACCESS);
      sum += cluster.now - t0;
      await mr.dereg();
    }
    return sum / reps / 1000;
  });
}

/** The median of `xs`. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
