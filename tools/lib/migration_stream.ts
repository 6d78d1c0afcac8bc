/**
 * A checked RC stream between two domains, for live-migration experiments
 * (`deno task migration`, the migration tests): each direction sends, per
 * iteration, an RDMA WRITE, an RDMA WRITE WITH IMM and a SEND of `bytes`
 * bytes (or a chosen subset of them), with a pattern derived from the
 * direction, the operation and the sequence number. The receiving side
 * checks every message: exactly once, in order, byte for byte — the
 * immediate and the SEND by their completions, the plain WRITE by its
 * bytes being in place when the WRITE WITH IMM that follows it completes
 * (RC executes them in order, IBTA §9.5). The sender checks its own
 * completions (one each, in order, success). Any violation throws with a
 * one-line message naming the direction, operation and sequence number.
 *
 * Flow control is the application's: a sender runs at most half a ring
 * ahead of what its receiver has checked.
 *
 * @module
 */
import {
  Access,
  type Cluster,
  connectPair,
  type Context,
  type Cq,
  type Domain,
  type Mr,
  type Qp,
  QpType,
  SendFlags,
  WcOpcode,
  WcStatus,
  WrOpcode,
} from "../../mod.ts";
import { WaitQueue } from "../../sim/engine.ts";

/** The operations a stream iteration may post. */
export type StreamOp = "write" | "writeImm" | "send";

/**
 * One end of a stream: its context, registered buffer, CQs and QP.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { StreamEnd } from "./migration_stream.ts";
 * // What an application knows of an end, and compares before and after a migration.
 * const handles = (e: StreamEnd) => [e.qp.qpNum, e.mr.lkey, e.mr.rkey, e.ctx.queryPort(1).lid];
 * const fake = {
 *   qp: { qpNum: 72 },
 *   mr: { lkey: 768, rkey: 768 },
 *   ctx: { queryPort: () => ({ lid: 3 }) },
 * };
 * assert.deepEqual(handles(fake as unknown as StreamEnd), [72, 768, 768, 3]);
 * ```
 */
export interface StreamEnd {
  dom: Domain;
  ctx: Context;
  mr: Mr;
  buf: number;
  /** Slots of the two rings its peer writes into (the WRITE and WRITE WITH IMM targets). */
  window: number;
  sendCq: Cq;
  recvCq: Cq;
  qp: Qp;
}

/** Slots per ring (staging, WRITE target, WRITE WITH IMM target, receive buffers). */
const RING = 64;

function slotBytes(bytes: number): number {
  return Math.max(64, Math.ceil(bytes / 64) * 64);
}

/**
 * Open a device in `dom` and make a stream end: one registered buffer (a
 * staging ring and a receive ring of 64 slots, and the two rings its peer
 * writes into, of `window` slots: a large window spreads the writes over
 * many pages, as a log or a large receive buffer does), a send CQ, a
 * receive CQ and an RC QP in RESET.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import { streamEnd } from "./migration_stream.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const host = cluster.addHost({ name: "n0", hypervisor: false });
 * await cluster.start();
 * const e = await cluster.run(() => streamEnd(host.os, 64));
 * assert.equal(e.qp.state, 0); // RESET, ready for connectStream
 * ```
 */
export async function streamEnd(dom: Domain, bytes: number, window = RING): Promise<StreamEnd> {
  if (!Number.isInteger(window) || window < RING) {
    throw new RangeError(
      `stream: window must be a whole number of at least ${RING}, got ${window}`,
    );
  }
  const ctx = await dom.openDevice();
  const pd = await ctx.allocPd();
  const len = (2 * RING + 2 * window) * slotBytes(bytes);
  const buf = dom.memory.alloc(len, 4096);
  const mr = await pd.regMr(buf, len, Access.LOCAL_WRITE | Access.REMOTE_WRITE);
  const sendCq = await ctx.createCq(4 * RING);
  const recvCq = await ctx.createCq(4 * RING);
  const qp = await pd.createQp({
    type: QpType.RC,
    sendCq,
    recvCq,
    cap: { maxSendWr: RING, maxRecvWr: RING, maxSendSge: 1, maxRecvSge: 1 },
  });
  return { dom, ctx, mr, buf, window, sendCq, recvCq, qp };
}

/**
 * Connect two stream ends (RESET → RTS both ways).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import { connectStream, streamEnd } from "./migration_stream.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const [x, y] = ["x", "y"].map((name) => cluster.addHost({ name, hypervisor: false }));
 * await cluster.start();
 * const states = await cluster.run(async () => {
 *   const a = await streamEnd(x.os, 64), b = await streamEnd(y.os, 64);
 *   await connectStream(a, b);
 *   return [a.qp.state, b.qp.state];
 * });
 * assert.deepEqual(states, [3, 3]); // RTS both
 * ```
 */
export async function connectStream(a: StreamEnd, b: StreamEnd): Promise<void> {
  await connectPair(
    { qp: a.qp, lid: a.ctx.queryPort(1).lid },
    { qp: b.qp, lid: b.ctx.queryPort(1).lid },
  );
}

/**
 * The byte at offset `k` of message `seq` of operation `op` in direction
 * `dir`; its first four bytes are `seq` (little-endian).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pattern } from "./migration_stream.ts";
 * const p = pattern(0, "send", 258, 8);
 * assert.deepEqual([...p.subarray(0, 4)], [2, 1, 0, 0]);
 * assert.notDeepEqual(p, pattern(1, "send", 258, 8)); // the other direction differs
 * ```
 */
export function pattern(dir: number, op: StreamOp, seq: number, bytes: number): Uint8Array {
  const o = op === "write" ? 1 : op === "writeImm" ? 2 : 3;
  const out = new Uint8Array(bytes);
  for (let k = 0; k < bytes; k++) out[k] = (seq * 31 + k * 7 + o * 13 + dir * 101) & 255;
  const head = Math.min(4, bytes);
  for (let k = 0; k < head; k++) out[k] = (seq >>> (8 * k)) & 255;
  return out;
}

/**
 * Options of {@link startStream}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { StreamOptions } from "./migration_stream.ts";
 * const o: StreamOptions = { bytes: 64, intervalNs: 20_000, ops: ["write", "writeImm", "send"] };
 * assert.equal(1e9 / o.intervalNs, 50_000); // iterations a second, while the path keeps up
 * ```
 */
export interface StreamOptions {
  /** Bytes per message (1..4096). */
  bytes: number;
  /**
   * A sender starts iteration i no earlier than i × `intervalNs` after its
   * first (a rate of one iteration per interval while the path keeps up;
   * 0: back to back).
   */
  intervalNs: number;
  /** What an iteration posts, in this order (default all three). */
  ops?: StreamOp[];
  /** Send from b to a as well (default true). */
  bothWays?: boolean;
}

/**
 * What a stream did, per direction (`a→b`, then `b→a` if both ways).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { StreamReport } from "./migration_stream.ts";
 * const msgs = (r: StreamReport) => r.directions.reduce((n, d) => n + d.messages, 0);
 * const r: StreamReport = {
 *   directions: [{ iterations: 10, messages: 30, maxGapNs: 0 }, {
 *     iterations: 9,
 *     messages: 27,
 *     maxGapNs: 0,
 *   }],
 * };
 * assert.equal(msgs(r), 57);
 * ```
 */
export interface StreamReport {
  directions: {
    /** Iterations sent and checked. */
    iterations: number;
    /** Messages (iterations × operations). */
    messages: number;
    /** Longest time between two iterations the receiver checked, ns: the pause it saw. */
    maxGapNs: number;
  }[];
}

/**
 * A running stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Stream } from "./migration_stream.ts";
 * const behind = (s: Stream) => Math.max(...s.checked) - Math.min(...s.checked);
 * assert.equal(behind({ checked: [12, 9], stop: () => Promise.reject() }), 3);
 * ```
 */
export interface Stream {
  /** Iterations the receivers have checked so far, per direction. */
  readonly checked: readonly number[];
  /** Stop sending; resolves once every message sent has been checked. */
  stop(): Promise<StreamReport>;
}

/**
 * Start streaming between connected ends `a` and `b` inside `cluster.run`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster } from "../../mod.ts";
 * import { connectStream, startStream, streamEnd } from "./migration_stream.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const [x, y] = ["x", "y"].map((name) => cluster.addHost({ name, hypervisor: false }));
 * await cluster.start();
 * const r = await cluster.run(async () => {
 *   const a = await streamEnd(x.os, 64), b = await streamEnd(y.os, 64);
 *   await connectStream(a, b);
 *   const s = startStream(cluster, a, b, { bytes: 64, intervalNs: 10_000 });
 *   await cluster.sleep(200_000);
 *   return await s.stop();
 * });
 * assert.equal(r.directions.length, 2);
 * assert.ok(r.directions.every((d) => d.iterations > 5 && d.messages === 3 * d.iterations));
 * ```
 */
export function startStream(
  cluster: Cluster,
  a: StreamEnd,
  b: StreamEnd,
  opts: StreamOptions,
): Stream {
  const bytes = opts.bytes;
  if (!Number.isInteger(bytes) || bytes < 1 || bytes > 4096) {
    throw new RangeError(`stream: bytes must be 1..4096, got ${bytes}`);
  }
  const ops = opts.ops ?? ["write", "writeImm", "send"];
  if (ops.includes("write") && !ops.includes("writeImm")) {
    throw new RangeError("stream: a plain WRITE is checked through the WRITE WITH IMM after it");
  }
  const pairs: [StreamEnd, StreamEnd][] = [[a, b]];
  if (opts.bothWays !== false) pairs.push([b, a]);
  let stopping = false;
  const flows = pairs.map(([from, to], dir): Flow => {
    const f: Flow = {
      dir,
      from,
      to,
      bytes,
      ops,
      sent: 0,
      done: false,
      checked: 0,
      sentQ: new WaitQueue(cluster.engine, `stream ${dir}: next iteration sent`),
      checkedQ: new WaitQueue(cluster.engine, `stream ${dir}: receiver behind`),
    };
    return f;
  });
  const runs = flows.map((f) => ({
    recvr: cluster.spawn(`stream ${f.dir} receiver`, () => receive(cluster, f)),
    sender: cluster.spawn(
      `stream ${f.dir} sender`,
      () => send(cluster, f, opts.intervalNs, () => stopping),
    ),
  }));
  return {
    get checked() {
      return flows.map((f) => f.checked);
    },
    async stop(): Promise<StreamReport> {
      stopping = true;
      const directions = [];
      for (const r of runs) {
        await r.sender;
        directions.push(await r.recvr);
      }
      return { directions };
    },
  };
}

/** One direction of a stream: what its sender and receiver share. */
interface Flow {
  dir: number;
  from: StreamEnd;
  to: StreamEnd;
  bytes: number;
  ops: StreamOp[];
  /** Iterations the sender completed. */
  sent: number;
  done: boolean;
  /** Iterations the receiver checked. */
  checked: number;
  sentQ: WaitQueue;
  checkedQ: WaitQueue;
}

/** Regions: 0 staging and 3 receive buffers (64 slots), 1 and 2 the peer's targets (window). */
function slot(e: StreamEnd, region: number, i: number, bytes: number): number {
  const w = e.window;
  const base = [0, RING, RING + w, RING + 2 * w][region];
  const n = region === 0 || region === 3 ? RING : w;
  return e.buf + (base + (i % n)) * slotBytes(bytes);
}

async function send(cluster: Cluster, f: Flow, intervalNs: number, stopping: () => boolean) {
  const { from: me, to: peer, dir, bytes, ops } = f;
  const where = (i: number, what: string) => `stream direction ${dir} iteration ${i}: ${what}`;
  const t0 = cluster.now;
  for (let i = 0; !stopping(); i++) {
    while (i - f.checked >= RING / 2) await f.checkedQ.wait();
    let k = 0;
    for (const op of ops) {
      const src = slot(me, 0, ops.length * i + k, bytes);
      me.dom.memory.write(src, pattern(dir, op, i, bytes));
      const region = op === "write" ? 1 : op === "writeImm" ? 2 : 3;
      me.qp.postSend({
        wrId: BigInt(ops.length * i + k),
        opcode: op === "write"
          ? WrOpcode.RDMA_WRITE
          : op === "writeImm"
          ? WrOpcode.RDMA_WRITE_WITH_IMM
          : WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: src, length: bytes, lkey: me.mr.lkey }],
        ...(op === "send" ? {} : { remoteAddr: slot(peer, region, i, bytes), rkey: peer.mr.rkey }),
        ...(op === "writeImm" ? { immData: i } : {}),
      });
      k++;
    }
    const wcs = await me.sendCq.pollUntil(ops.length);
    wcs.forEach((wc, j) => {
      const want = BigInt(ops.length * i + j);
      if (wc.status !== WcStatus.SUCCESS) {
        throw new Error(where(i, `${ops[j]} completed with status ${wc.status}`));
      }
      if (wc.wrId !== want) {
        throw new Error(where(i, `send completion wr_id ${wc.wrId}, expected ${want}`));
      }
    });
    f.sent = i + 1;
    f.sentQ.notifyAll();
    const next = t0 + (i + 1) * intervalNs;
    if (next > cluster.now) await cluster.sleep(next - cluster.now);
  }
  f.done = true;
  f.sentQ.notifyAll();
}

async function receive(
  cluster: Cluster,
  f: Flow,
): Promise<StreamReport["directions"][number]> {
  const { to: me, dir, bytes, ops } = f;
  const consuming = ops.filter((o) => o !== "write");
  const post = (k: number) =>
    me.qp.postRecv({
      wrId: BigInt(k),
      sgList: [{ addr: slot(me, 3, k, bytes), length: slotBytes(bytes), lkey: me.mr.lkey }],
    });
  let posted = 0;
  for (; posted < RING; posted++) post(posted);
  let consumed = 0;
  let last = cluster.now, maxGapNs = 0;
  const read = (addr: number) => me.dom.memory.read(addr, bytes);
  const same = (x: Uint8Array, y: Uint8Array) => x.every((v, k) => v === y[k]);
  let i = 0;
  for (;; i++) {
    // Iteration i is checked once its sender saw it complete (its messages were executed).
    while (i >= f.sent && !f.done) await f.sentQ.wait();
    if (i >= f.sent) break;
    const where = (what: string) => `stream direction ${dir} iteration ${i}: ${what}`;
    const wcs = consuming.length > 0 ? await me.recvCq.pollUntil(consuming.length) : [];
    wcs.forEach((wc, j) => {
      const op = consuming[j];
      if (wc.status !== WcStatus.SUCCESS) {
        throw new Error(where(`receive of ${op} completed with status ${wc.status}`));
      }
      if (wc.wrId !== BigInt(consumed)) {
        throw new Error(where(`receive wr_id ${wc.wrId}, expected ${consumed} (lost or repeated)`));
      }
      if (wc.byteLen !== bytes) throw new Error(where(`${op} of ${wc.byteLen} bytes`));
      if (op === "writeImm") {
        if (wc.opcode !== WcOpcode.RECV_RDMA_WITH_IMM || wc.immData !== i) {
          throw new Error(
            where(`WRITE WITH IMM completion imm ${wc.immData}, opcode ${wc.opcode}`),
          );
        }
        const wrote = read(slot(me, 1, i, bytes));
        if (ops.includes("write") && !same(wrote, pattern(dir, "write", i, bytes))) {
          throw new Error(where("the RDMA WRITE before the immediate is not in place"));
        }
        if (!same(read(slot(me, 2, i, bytes)), pattern(dir, "writeImm", i, bytes))) {
          throw new Error(where("WRITE WITH IMM data differs"));
        }
      } else {
        if (wc.opcode !== WcOpcode.RECV) {
          throw new Error(where(`SEND completion opcode ${wc.opcode}`));
        }
        if (!same(read(slot(me, 3, consumed, bytes)), pattern(dir, "send", i, bytes))) {
          throw new Error(where("SEND data differs"));
        }
      }
      consumed++;
      post(posted++);
    });
    const now = cluster.now;
    if (i > 0) maxGapNs = Math.max(maxGapNs, now - last);
    last = now;
    f.checked = i + 1;
    f.checkedQ.notifyAll();
  }
  const extra = me.recvCq.poll(1);
  if (extra.length > 0) {
    throw new Error(`stream direction ${dir}: a completion after the last message`);
  }
  return { iterations: i, messages: i * ops.length, maxGapNs };
}
