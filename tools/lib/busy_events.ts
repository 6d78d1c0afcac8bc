/**
 * Event-driven latency while several guests on a host take completion
 * events at once (xenib-perf's section 6). Every completion event of a
 * bypass guest crosses its host's dom0 (physical IRQ, backend, event
 * channel), and dom0's VCPUs (`dom0.vcpus`) are shared: with more guests
 * taking events, dom0 work waits for a VCPU. One call is one independent
 * point (its own cluster from the environment), so it can run on a worker.
 *
 * perftest's programs run one pair of endpoints; this is its `ib_send_lat
 * -e` loop (SEND/RECV ping-pong, each side sleeping on its receive CQ's
 * completion channel) run by `guests` pairs at once.
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
} from "../../mod.ts";
import type { RunEnv } from "./metrics.ts";

/**
 * Event-driven latency with `guests` bypass guests per host, each in its
 * own ping-pong with a guest on the other host.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type BusyEventLatency, busyEventLatency } from "./busy_events.ts";
 * import { PCIX_SDR_2006 } from "../../mod.ts";
 * const env = { profile: PCIX_SDR_2006, seed: 1, noise: "off" as const };
 * const one: BusyEventLatency = await busyEventLatency(env, 1, { iters: 20 });
 * const four = await busyEventLatency(env, 4, { iters: 20 });
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
  /** Time dom0 work waited for its VCPU, per message, on the first host, µs. */
  dom0WaitUsPerEvent: number;
}

/**
 * What the measurement does, in the tools' words (printed with the figures).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { busyEventMethod } from "./busy_events.ts";
 * assert.match(busyEventMethod(200), /^ib_send_lat -e -s 64's loop/);
 * ```
 */
export function busyEventMethod(iters: number, size = 64): string {
  return `ib_send_lat -e -s ${size}'s loop run by N pairs of bypass guests at once (N guests on ` +
    `each of two Xen hosts, guest i with guest i): SEND/RECV ping-pong, each side sleeping on ` +
    `its receive CQ's completion channel; median of ${iters} half round trips per pair, all ` +
    `pairs together (rows compare with each other; section 4 is perftest's own figure)`;
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
 * Run `guests` event-driven SEND/RECV ping-pongs at once between two Xen
 * hosts (`guests` bypass guests on each) and measure their latency and
 * how long dom0's work waited for a VCPU.
 */
export async function busyEventLatency(
  env: RunEnv,
  guests: number,
  opts: { size?: number; iters?: number; warmup?: number } = {},
): Promise<BusyEventLatency> {
  const size = opts.size ?? 64, iters = opts.iters ?? 200, warmup = opts.warmup ?? 5;
  const total = iters + warmup;
  const cluster = new Cluster({ profile: env.profile, seed: env.seed, noise: env.noise });
  const hosts: Host[] = [0, 1].map((i) => cluster.addHost({ name: `node${i}`, hypervisor: true }));
  await cluster.start();
  const doms: Domain[] = [];
  for (const [i, h] of hosts.entries()) {
    for (let g = 0; g < guests; g++) {
      doms.push(
        await h.createGuest({
          name: guests === 1 ? `vm${i}` : `vm${i}.${g}`,
          memoryMiB: guests === 1 ? 256 : 64,
          driver: "bypass",
        }),
      );
    }
  }
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
    for (let i = 0; i < guests; i++) await connectPair(out[i], out[guests + i], { accessFlags: 0 });
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
  const stamps: number[][] = Array.from({ length: guests }, () => []);
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
    for (let i = 0; i < guests; i++) {
      runs.push(cluster.spawn(`ev-server ${i}`, side(ends[guests + i], undefined)));
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
  return {
    guests,
    typicalUs: halves[Math.floor(halves.length / 2)] / 1000,
    meanUs: halves.reduce((a, b) => a + b, 0) / halves.length / 1000,
    dom0WaitUsPerEvent: (after.dom0WaitNs - before.dom0WaitNs) / (total * guests) / 1000,
  };
}
