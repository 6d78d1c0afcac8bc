/**
 * All-to-all traffic among several endpoints (scenario workloads): every
 * endpoint has an RC connection to every other and sends `iterations`
 * messages of `size` bytes to each (RDMA WRITE, SEND or RDMA READ, the
 * latter pulling from each peer), round-robin, `txDepth` in flight per
 * connection. Reports per-endpoint and aggregate throughput in virtual time.
 * The sources hold pseudo-random bytes, and a run whose data did not land
 * whole (some pair's receive area differs from its source at the end) fails.
 *
 * @module
 */
import {
  Access,
  connectQp,
  Prng,
  QpType,
  SendFlags,
  type SendWr,
  WcStatus,
  wcStatusName,
  WrOpcode,
} from "../../mod.ts";
import type { Cluster, Context, Cq, Domain, Mr, Pd, Qp, Wc } from "./api.ts";
import { emptyArray } from "../../sim/queue.ts";
import { ToolError } from "./api.ts";
import type { AllToAllWorkload } from "./scenario.ts";

/**
 * One endpoint's share of an all-to-all run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { AllToAllEndpoint } from "./alltoall.ts";
 * const e: AllToAllEndpoint = {
 *   name: "vm0",
 *   mode: "bypass",
 *   messages: 20,
 *   bytes: 20 * 4096,
 *   finishUs: 80,
 *   MBps: (20 * 4096) / 80e-6 / 1048576, // bytes / finish time, in 2^20 bytes per second
 * };
 * assert.equal(e.MBps.toFixed(2), "976.56");
 * assert.equal(((e.bytes * 8) / (e.finishUs * 1000)).toFixed(3), "8.192"); // Gb/s
 * ```
 */
export interface AllToAllEndpoint {
  /** Endpoint name. */
  name: string;
  /** How it reaches the HCA. */
  mode: string;
  /** Messages it completed (sent, or read for `read`). */
  messages: number;
  /** Bytes it moved. */
  bytes: number;
  /** Time from the common start until its last completion, µs. */
  finishUs: number;
  /** bytes / finish time, MB/s (2^20). */
  MBps: number;
}

/**
 * Result of an all-to-all workload.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type AllToAllResult, runAllToAll } from "./alltoall.ts";
 * import { Cluster } from "./api.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const hosts = ["a", "b", "c"].map((name) => cluster.addHost({ name, hypervisor: false }));
 * await cluster.start();
 * const eps = hosts.map((h) => ({ name: h.name, mode: "native", dom: h.os }));
 * const r: AllToAllResult = await runAllToAll(cluster, eps, {
 *   kind: "alltoall",
 *   name: "x",
 *   endpoints: ["a", "b", "c"],
 *   size: 1024,
 *   iterations: 5,
 *   opcode: "write",
 *   txDepth: 4,
 * });
 * // The makespan is the slowest endpoint's; the aggregate counts every byte in it.
 * assert.equal(r.makespanUs, Math.max(...r.endpoints.map((e) => e.finishUs)));
 * const bytes = r.endpoints.reduce((n, e) => n + e.bytes, 0);
 * assert.equal(bytes, 3 * 2 * 5 * 1024);
 * assert.equal(r.aggregateMBps.toFixed(6), (bytes / (r.makespanUs * 1e-6) / 1048576).toFixed(6));
 * ```
 */
export interface AllToAllResult {
  /** Workload label. */
  name: string;
  /** Operation. */
  opcode: string;
  /** Message size. */
  size: number;
  /** Messages per ordered pair. */
  iterations: number;
  /** Per endpoint. */
  endpoints: AllToAllEndpoint[];
  /** Until the last endpoint finished, µs. */
  makespanUs: number;
  /** All bytes / makespan, MB/s. */
  aggregateMBps: number;
}

interface Node {
  name: string;
  mode: string;
  dom: Domain;
  pd: Pd;
  mr: Mr;
  base: number;
  region: number;
  cq: Cq;
  rcq: Cq;
  qps: Map<number, Qp>;
  lid: number;
  ctx: Context;
}

function check(wc: Wc, what: string): void {
  if (wc.status !== WcStatus.SUCCESS) {
    const name = wcStatusName(wc.status);
    throw new ToolError(`${what}: completion with error status ${name}`);
  }
}

/**
 * Run an all-to-all workload on a started cluster. `hooks` are called
 * (inside the run) when the traffic starts, after every QP is connected,
 * and when the last endpoint has finished, before teardown: `deno task
 * bench` times the traffic alone with them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runAllToAll } from "./alltoall.ts";
 * import { Cluster } from "./api.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const xen = cluster.addHost({ name: "xen0", hypervisor: true });
 * const metal = cluster.addHost({ name: "metal", hypervisor: false });
 * await cluster.start();
 * const vm0 = await xen.createGuest({ name: "vm0", memoryMiB: 16, driver: "bypass" });
 * const r = await runAllToAll(cluster, [
 *   { name: "vm0", mode: "bypass", dom: vm0 },
 *   { name: "metal", mode: "native", dom: metal.os },
 * ], {
 *   kind: "alltoall",
 *   name: "x",
 *   endpoints: ["vm0", "metal"],
 *   size: 4096,
 *   iterations: 8,
 *   opcode: "read",
 *   txDepth: 4,
 * });
 * // Each endpoint read 8 messages of 4 KiB from its one peer.
 * assert.deepEqual(r.endpoints.map((e) => [e.name, e.messages, e.bytes]), [
 *   ["vm0", 8, 32768],
 *   ["metal", 8, 32768],
 * ]);
 * assert.ok(r.endpoints.every((e) => e.finishUs > 0 && e.finishUs <= r.makespanUs));
 * ```
 */
export async function runAllToAll(
  cluster: Cluster,
  eps: { name: string; mode: string; dom: Domain }[],
  w: AllToAllWorkload,
  hooks: { trafficStart?: () => void; trafficEnd?: () => void } = {},
): Promise<AllToAllResult> {
  const n = eps.length;
  const region = Math.ceil(Math.max(64, w.size) / 64) * 64;
  const rx = Math.min(w.iterations, 256);
  return await cluster.run(async () => {
    const nodes: Node[] = [];
    // Every source holds data, as perftest's and OSU's buffers do: a source nobody wrote would be
    // read as zeros, and the end of the run could not tell a lost write from a zero one.
    const fill = new Prng(1);
    for (const ep of eps) {
      const ctx = await ep.dom.openDevice();
      const lid = Number(ctx.queryPort(1).lid ?? 0);
      const pd = await ctx.allocPd();
      const bytes = 2 * n * region;
      let base: number;
      try {
        base = ep.dom.memory.alloc(bytes, 4096);
      } catch (e) {
        throw new ToolError(
          `${w.name}: ${ep.name} cannot allocate ${bytes} bytes (${
            (e as Error).message
          }); give it more memoryMiB`,
        );
      }
      ep.dom.memory.write(base, fill.fill(new Uint8Array(n * region)));
      const mr = await pd.regMr(
        base,
        bytes,
        Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ,
      );
      const cq = await ctx.createCq(w.txDepth * n + 1);
      const rcq = await ctx.createCq(rx * n + 1);
      nodes.push({
        name: ep.name,
        mode: ep.mode,
        dom: ep.dom,
        pd,
        mr,
        base,
        region,
        cq,
        rcq,
        qps: new Map(),
        lid,
        ctx,
      });
    }
    // One RC QP per ordered pair.
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        const me = nodes[i];
        me.qps.set(
          j,
          await me.pd.createQp({
            type: QpType.RC,
            sendCq: me.cq,
            recvCq: me.rcq,
            cap: { maxSendWr: w.txDepth, maxRecvWr: rx, maxSendSge: 1, maxRecvSge: 1 },
          }),
        );
      }
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        if (i === j) continue;
        await connectQp(nodes[i].qps.get(j)!, {
          remoteQpn: nodes[j].qps.get(i)!.qpNum,
          rqPsn: nodes[j].qps.get(i)!.initialPsn,
          dlid: nodes[j].lid,
          accessFlags: Access.REMOTE_WRITE | Access.REMOTE_READ,
        });
      }
    }
    const src = (node: Node, peer: number) => node.base + peer * node.region;
    const dst = (node: Node, peer: number) => node.base + (n + peer) * node.region;
    /** Check that what `i` moved to or from `j` (its last message) holds its source's bytes. */
    const landed = (i: number, j: number) => {
      const [from, to] = w.opcode === "read" ? [j, i] : [i, j];
      const sent = nodes[from].dom.memory.read(src(nodes[from], to), w.size);
      const got = nodes[to].dom.memory.read(dst(nodes[to], from), w.size);
      let k = 0;
      while (k < w.size && sent[k] === got[k]) k++;
      if (k < w.size) {
        throw new ToolError(
          `${w.name}: ${nodes[from].name} → ${nodes[to].name}: byte ${k} of the data that ` +
            `landed is ${got[k]}, its source's is ${sent[k]}`,
        );
      }
    };
    const postRecv = (node: Node, peer: number, id: number) =>
      node.qps.get(peer)!.postRecv({
        wrId: BigInt(peer) * 0x100000000n + BigInt(id),
        sgList: [{ addr: dst(node, peer), length: w.size, lkey: node.mr.lkey }],
      });
    if (w.opcode === "send") {
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < n; j++) {
          if (i !== j) { for (let k = 0; k < rx; k++) postRecv(nodes[i], j, k); }
        }
      }
    }
    // Every send's wrId (peer << 32 | index), made once for all senders: the provider keeps
    // each until its completion, so a fresh BigInt per post would live as long as the message.
    const wrIds: bigint[] = [];
    for (let j = 0; j < n; j++) {
      for (let k = 0; k < w.iterations; k++) wrIds.push(BigInt(j * 0x100000000 + k));
    }
    hooks.trafficStart?.();
    const t0 = cluster.now;
    const finish = new Array<number>(n).fill(0);
    const ascending = (x: number, y: number) => x - y;
    /** The peer a completion is for: its wrId is (peer << 32 | index). */
    const peerOf = (wc: Wc) => Math.floor(Number(wc.wrId) / 0x100000000);
    const sender = async (i: number) => {
      const me = nodes[i];
      const what = `${w.name} (${me.name})`;
      const qps = nodes.map((_, j) => me.qps.get(j));
      const scnt = new Array<number>(n).fill(0), ccnt = new Array<number>(n).fill(0);
      // Peers that may post now, ascending. Once a peer's window is full it
      // can post again only after one of its completions, so after the
      // first round only the peers a poll completed for are looked at, in
      // the order a scan of all peers would post them.
      let ready: number[] = [];
      for (let j = 0; j < n; j++) if (j !== i) ready.push(j);
      // The next round's peers are gathered in a second array and the two swapped: the loop
      // allocates no array per round.
      let next: number[] = [];
      const touched = new Uint8Array(n);
      const wrs: SendWr[] = nodes.map((peer, j) => {
        const local = { addr: w.opcode === "read" ? dst(me, j) : src(me, j), length: w.size };
        const sgList = [{ ...local, lkey: me.mr.lkey }];
        if (w.opcode === "send") {
          return { wrId: 0n, sendFlags: SendFlags.SIGNALED, opcode: WrOpcode.SEND, sgList };
        }
        const write = w.opcode === "write";
        return {
          wrId: 0n,
          sendFlags: SendFlags.SIGNALED,
          opcode: write ? WrOpcode.RDMA_WRITE : WrOpcode.RDMA_READ,
          sgList,
          // a WRITE lands in the peer's receive area; a READ fetches its source
          remoteAddr: write ? dst(peer, i) : src(peer, i),
          rkey: peer.mr.rkey,
        };
      });
      let done = 0;
      const total = (n - 1) * w.iterations;
      while (done < total) {
        for (let r = 0; r < ready.length; r++) {
          const j = ready[r];
          const qp = qps[j]!;
          const wr = wrs[j];
          while (scnt[j] < w.iterations && scnt[j] - ccnt[j] < w.txDepth) {
            const k = scnt[j];
            // ibv_post_send copies the WR into the WQE: one WR per peer serves every post.
            wr.wrId = wrIds[j * w.iterations + k];
            qp.postSend(wr);
            scnt[j] = k + 1;
          }
        }
        const first = await me.cq.pollUntil(1);
        // Awaited as before: where each sender yields decides the order of same-time posts.
        const more = await me.cq.poll(15);
        emptyArray(next);
        for (let k = 0; k < first.length + more.length; k++) {
          const wc = k < first.length ? first[k] : more[k - first.length];
          check(wc, what);
          const j = peerOf(wc);
          ccnt[j]++;
          done++;
          if (touched[j] === 0) {
            touched[j] = 1;
            next.push(j);
          }
        }
        next.sort(ascending);
        for (let r = 0; r < next.length; r++) touched[next[r]] = 0;
        const served = ready;
        ready = next;
        next = served;
      }
      finish[i] = cluster.now - t0;
    };
    const receiver = async (i: number) => {
      const me = nodes[i];
      const expect = (n - 1) * w.iterations;
      const posted = new Array<number>(n).fill(rx);
      let got = 0;
      const what = `${w.name} (${me.name}, receive)`;
      while (got < expect) {
        const wcs = [...(await me.rcq.pollUntil(1)), ...(await me.rcq.poll(15))];
        for (const wc of wcs) {
          check(wc, what);
          const j = peerOf(wc);
          got++;
          if (posted[j] < w.iterations) postRecv(me, j, posted[j]++);
        }
      }
    };
    const spawn = (name: string, fn: () => Promise<void>) =>
      cluster.spawn ? cluster.spawn(name, fn) : fn();
    const procs: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      if (w.opcode === "send") procs.push(spawn(`a2a-recv-${nodes[i].name}`, () => receiver(i)));
      procs.push(spawn(`a2a-send-${nodes[i].name}`, () => sender(i)));
    }
    await Promise.all(procs);
    hooks.trafficEnd?.();
    const perEp = (n - 1) * w.iterations;
    const endpoints = nodes.map((node, i) => ({
      name: node.name,
      mode: node.mode,
      messages: perEp,
      bytes: perEp * w.size,
      finishUs: finish[i] / 1000,
      MBps: finish[i] > 0 ? (perEp * w.size) / (finish[i] / 1e9) / 1048576 : 0,
    }));
    const makespan = Math.max(...finish);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) if (i !== j) landed(i, j);
    }
    for (const node of nodes) {
      for (const qp of node.qps.values()) await qp.destroy();
      await node.cq.destroy();
      await node.rcq.destroy();
      await node.mr.dereg();
      await node.pd.dealloc();
      await node.ctx.close();
    }
    return {
      name: w.name,
      opcode: w.opcode,
      size: w.size,
      iterations: w.iterations,
      endpoints,
      makespanUs: makespan / 1000,
      aggregateMBps: makespan > 0 ? (n * perEp * w.size) / (makespan / 1e9) / 1048576 : 0,
    };
  });
}

/**
 * The all-to-all result as a table.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatAllToAll } from "./alltoall.ts";
 * const t = formatAllToAll({
 *   name: "x",
 *   opcode: "write",
 *   size: 4096,
 *   iterations: 10,
 *   makespanUs: 100,
 *   aggregateMBps: 800,
 *   endpoints: [{
 *     name: "a",
 *     mode: "native",
 *     messages: 10,
 *     bytes: 40960,
 *     finishUs: 100,
 *     MBps: 390.625,
 *   }],
 * });
 * assert.deepEqual(t.split("\n"), [
 *   " all-to-all write, 4096 bytes, 10 messages per pair",
 *   " endpoint    mode     #messages   #bytes   time[usec]   BW[MB/sec]",
 *   " a           native   10          40960    100.00       390.63",
 *   " aggregate                                 100.00       800.00",
 * ]);
 * ```
 */
export function formatAllToAll(r: AllToAllResult): string {
  const head = ["endpoint", "mode", "#messages", "#bytes", "time[usec]", "BW[MB/sec]"];
  const rows = r.endpoints.map((e) => [
    e.name,
    e.mode,
    String(e.messages),
    String(e.bytes),
    e.finishUs.toFixed(2),
    e.MBps.toFixed(2),
  ]);
  rows.push(["aggregate", "", "", "", r.makespanUs.toFixed(2), r.aggregateMBps.toFixed(2)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((x) => x[i].length)));
  const line = (cells: string[]) =>
    " " + cells.map((c, i) => c.padEnd(widths[i])).join("   ").trimEnd();
  return [
    ` all-to-all ${r.opcode}, ${r.size} bytes, ${r.iterations} messages per pair`,
    line(head),
    ...rows.map(line),
  ].join("\n");
}
