/**
 * The floor under a packet train (`deno task bench train`): what simulating
 * the middle packets of an RDMA WRITE stream costs on this machine with no
 * model code at all, only what any exact simulation of them must do. A
 * middle packet of the model takes six steps, each placed by the one before
 * (docs/performance-history.md, "The places a middle packet's steps take"):
 * the send engine's step, the payload read's completion (the copy into a
 * slab and the transmit), the arrival at the switch (forwarding and its
 * transmit), the arrival at the HCA, the receive pipeline (the DMA write's
 * issue) and the DMA write (the copy out of the slab). Here each step is the
 * resources' arithmetic alone, with the profile's figures: the send engine,
 * the two directions of the host bus, the two transmitters with their
 * credits and a deferred credit return, the receive pipeline.
 *
 * Four ways to run them:
 *
 * - `exact`: every step in six FIFO lines ordered by (time, sequence) as
 *   the engine orders events, mixed into a trace hash, counted and written
 *   to a place log as the engine does for an event: the least a train that
 *   keeps every trace identical to packet-by-packet simulation can do;
 * - `unrecorded`: the same steps and order without the hash, count and log;
 * - `fused`: one step per packet doing the six steps' arithmetic in a row,
 *   recorded once: the least a train that records a packet as one step can
 *   do;
 * - `events`: every step an event of the model's {@link Engine}, posted as
 *   the model posts it (the bus's completions on lanes) and run from its
 *   heap (no train at all): the least the model's own event structure
 *   costs, whatever its handlers do.
 *
 * @module
 */
import { linkBytesPerSec, type Profile } from "../../sim/profiles/schema.ts";
import { ICRC_BYTES, LRH_BYTES, VCRC_BYTES } from "../../hca/packet.ts";
import { BTH_BYTES } from "../../hca/opcode.ts";
import { CREDIT_BYTES, DEFAULT_RX_BUFFER_BYTES } from "../../hca/port.ts";
import { PAGE_SIZE } from "../../sim/memory.ts";
import { Engine } from "../../sim/engine.ts";
import { stopwatch } from "./bench_engine.ts";
import { checkCopied, frameBuffers } from "./bench_copy.ts";

/** The ways {@link trainFloor} runs the packets (see the module doc). */
export const TRAIN_FLOOR_VARIANTS = ["exact", "unrecorded", "fused", "events"] as const;
/** One of {@link TRAIN_FLOOR_VARIANTS}. */
export type TrainFloorVariant = typeof TRAIN_FLOOR_VARIANTS[number];

/**
 * One measurement of {@link trainFloor}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PCIX_SDR_2006 } from "../../sim/profiles/mod.ts";
 * import { trainFloor, type TrainFloorRun } from "./bench_train.ts";
 * const r: TrainFloorRun = await trainFloor(PCIX_SDR_2006, "exact", 1 << 16, 2);
 * assert.deepEqual([r.packets, r.steps], [64, 384]); // six steps per 2 KiB packet
 * ```
 */
export interface TrainFloorRun {
  /** Packets simulated (every byte of every message arrived, checked). */
  packets: number;
  /** Steps run: six per packet, or one when fused. */
  steps: number;
  /**
   * The trace hash of the recorded steps (hex; "" for `unrecorded`; the engine's for `events`): the
   * same for the same run.
   */
  trace: string;
  /** Virtual time at the end, ns: the same in every variant. */
  virtualNs: number;
  /** Wall time, ms. */
  wallMs: number;
  /** CPU time, ms (see `stopwatch`). */
  cpuMs: number;
}

/** Packets the send engine may have issued ahead of the oldest not yet written (the slab's slots). */
const SLOTS = 16;
/** The steps' kinds, hashed as the engine hashes its event tags. */
const STEP_TAGS = [1, 2, 3, 4, 5, 6].map((k) => Math.imul(k, 0x9e3779b1) >>> 0);
/** The steps' kinds as the model tags their events. */
const STEP_KINDS = [
  "hca.req_step",
  "hca.req_pkt",
  "switch.arrival",
  "port.arrival",
  "hca.rx",
  "hca.resp_write",
];

/**
 * Simulate `messages` RDMA WRITEs of `bufferBytes` from a source buffer of
 * 4 KiB frames to a destination buffer, in packets of the profile's MTU, as
 * the module doc describes, and time it. Every packet is a middle packet
 * (no first-packet checks, no ACK, no completion): the floor, not the model.
 * The destination's bytes are checked against the source's afterwards.
 * @throws RangeError if `bufferBytes` is not a positive multiple of a frame
 *   and of the MTU, or `messages` is not a positive integer
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PCIX_SDR_2006 } from "../../sim/profiles/mod.ts";
 * import { trainFloor } from "./bench_train.ts";
 * const exact = await trainFloor(PCIX_SDR_2006, "exact", 1 << 16, 3);
 * const fused = await trainFloor(PCIX_SDR_2006, "fused", 1 << 16, 3);
 * const events = await trainFloor(PCIX_SDR_2006, "events", 1 << 16, 3);
 * assert.equal(exact.trace, (await trainFloor(PCIX_SDR_2006, "exact", 1 << 16, 3)).trace);
 * assert.equal(fused.steps, fused.packets);
 * // The same arithmetic, run three ways: the same virtual time.
 * assert.deepEqual([fused.virtualNs, events.virtualNs], [exact.virtualNs, exact.virtualNs]);
 * await assert.rejects(trainFloor(PCIX_SDR_2006, "exact", 1000, 1), /multiple of 4096/);
 * ```
 */
export async function trainFloor(
  profile: Profile,
  variant: TrainFloorVariant,
  bufferBytes: number,
  messages: number,
): Promise<TrainFloorRun> {
  const mtu = profile.link.mtu;
  if (!(bufferBytes > 0) || bufferBytes % PAGE_SIZE !== 0 || bufferBytes % mtu !== 0) {
    throw new RangeError(
      `trainFloor: buffer of ${bufferBytes} bytes is not a multiple of ${PAGE_SIZE} and of the MTU`,
    );
  }
  if (!Number.isInteger(messages) || messages < 1) {
    throw new RangeError(`trainFloor: ${messages} messages: not a positive integer`);
  }
  const frames = bufferBytes / PAGE_SIZE, perFrame = PAGE_SIZE / mtu, packets = bufferBytes / mtu;
  const { src, dst } = frameBuffers(frames);
  const slab = new Uint8Array(SLOTS * mtu);
  const pci = profile.pci, hca = profile.hca, link = profile.link;
  const busNsPerByte = 1e9 / pci.bytesPerSec, wireNsPerByte = 1e9 / linkBytesPerSec(profile);
  const xfer = pci.transactionNs + mtu * busNsPerByte;
  const wire = LRH_BYTES + BTH_BYTES + mtu + ICRC_BYTES + VCRC_BYTES;
  const wireNs = wire * wireNsPerByte, credits = Math.ceil(wire / CREDIT_BYTES);
  const bufferCredits = DEFAULT_RX_BUFFER_BYTES / CREDIT_BYTES;
  const rxSpan = Math.max(hca.packetProcessNs, hca.rxPacketNs);
  const prop = link.propagationNs, hop = link.switchHopNs;

  // The engine's bookkeeping per step: clock, sequence counter, trace hash, count, place log.
  let now = 0, seq = 0, h1 = 0x811c9dc5, h2 = 0x01000193, steps = 0, logAt = 0;
  const engine = variant === "events" ? new Engine() : undefined;
  // A place in event order that a step reserves without an event (a release, a credit return).
  const reserve = engine ? () => engine.reserveSeq() : () => seq++;
  const logTime = new Float64Array(4096), logSeq = new Float64Array(4096);
  const logCounter = new Float64Array(4096);
  const record = variant === "exact" || variant === "fused";
  const run = (time: number, place: number, kind: number): void => {
    now = time;
    steps++;
    if (!record) return;
    const j = logAt++ & 4095;
    logTime[j] = time;
    logSeq[j] = place;
    logCounter[j] = seq;
    // As `Engine`'s trace hash mixes an event's time and tag.
    const tag = STEP_TAGS[kind], lo = time >>> 0;
    const hi = time < 4294967296 ? 0 : Math.floor(time / 4294967296) >>> 0;
    let a = h1, b = h2;
    a = Math.imul(a ^ lo, 0x01000193);
    a = Math.imul(a ^ hi, 0x01000193);
    a = Math.imul(a ^ tag, 0x01000193);
    b = Math.imul(b ^ tag, 0x5bd1e995) + lo;
    b = Math.imul(b ^ hi, 0x5bd1e995) ^ (b >>> 15);
    h1 = a >>> 0;
    h2 = b >>> 0;
  };

  // The resources (what the model's send engine, bus, ports and receive pipeline keep).
  let engineFree = 0, readFree = 0, writeFree = 0, lastVisible = 0, rxFree = 0;
  let txFree = 0, txCredits = bufferCredits, swFree = 0, swCredits = bufferCredits;
  let xmitPkts = 0, xmitBytes = 0, swPkts = 0, rcvPkts = 0, bytesRead = 0, bytesWritten = 0;
  let expected = 0, resid = 0;
  // Credit returns to the sender on their way (time, credits), counted when the sender looks.
  const retTime = new Float64Array(4 * SLOTS), retN = new Float64Array(4 * SLOTS);
  let retHead = 0, retTail = 0;
  const settle = (): void => {
    while (retHead !== retTail && retTime[retHead & (4 * SLOTS - 1)] <= now) {
      txCredits += retN[retHead++ & (4 * SLOTS - 1)];
    }
  };

  // Six lines of steps: (time, place, packet), each FIFO.
  const cap = 4 * SLOTS;
  const lineTime = new Float64Array(6 * cap), lineSeq = new Float64Array(6 * cap);
  const linePkt = new Int32Array(6 * cap);
  const head = new Int32Array(6), size = new Int32Array(6);
  const push = (line: number, time: number, p: number): void => {
    if (size[line] === cap) throw new Error(`trainFloor: line ${line} overflows`);
    const i = line * cap + ((head[line] + size[line]++) % cap);
    lineTime[i] = time;
    lineSeq[i] = seq++;
    linePkt[i] = p;
  };
  /** The packet at the head of `line`, taken off it. */
  const take = (line: number): number => {
    const p = linePkt[line * cap + head[line]];
    head[line] = (head[line] + 1) % cap;
    size[line]--;
    return p;
  };

  // The six steps of packet p, each returning when its successor is due.
  let issued = 0, written = 0;
  const slotFree = new Float64Array(SLOTS);
  const sendStep = (): number => {
    const start = engineFree > now ? engineFree : now;
    engineFree = start + hca.txPacketNs;
    const rs = readFree > engineFree ? readFree : engineFree;
    readFree = rs + xfer;
    bytesRead += mtu;
    // (A read also waits for the sending HCA's own earlier writes: it has none here.)
    return Math.ceil(rs + pci.dmaReadLatencyNs + xfer);
  };
  const payloadIn = (p: number): number => {
    const f = src[(p / perFrame) | 0], off = (p % perFrame) * mtu, slot = (p % SLOTS) * mtu;
    slab.set(f.subarray(off, off + mtu), slot);
    settle();
    if (txCredits < credits) throw new Error("trainFloor: the sender ran out of credits");
    const start = txFree > now - 1 ? txFree : now;
    txFree = start + wireNs;
    txCredits -= credits;
    xmitPkts++;
    xmitBytes += wire;
    return Math.ceil(start + prop + hop);
  };
  const switchArrival = (): number => {
    swPkts++;
    if (swCredits < credits) throw new Error("trainFloor: the switch ran out of credits");
    const lastIn = txFree + prop;
    const start = swFree > now - 1 ? swFree : now;
    let end = start + wireNs;
    if (end < lastIn) end = lastIn; // cut-through: the tail leaves after it came in
    swFree = end;
    swCredits -= credits;
    reserve(); // the buffer release's place
    retTime[retTail & (4 * SLOTS - 1)] = Math.ceil(end) + prop;
    retN[retTail++ & (4 * SLOTS - 1)] = credits;
    return Math.ceil(end + prop);
  };
  const hcaArrival = (): number => {
    rcvPkts++;
    const start = rxFree > now ? rxFree : now;
    rxFree = start + hca.rxPacketNs;
    swCredits += credits;
    reserve(); // the credit return's place
    return Math.ceil(start + rxSpan);
  };
  const receive = (p: number): number => {
    // The responder's PSN check: packets arrive in order, each once.
    if (p !== expected++ || resid < mtu) throw new Error(`trainFloor: packet ${p} out of order`);
    resid -= mtu;
    const start = writeFree > now ? writeFree : now;
    writeFree = start + xfer;
    bytesWritten += mtu;
    const vis = writeFree + pci.dmaWriteLatencyNs;
    if (vis > lastVisible) lastVisible = vis;
    return Math.ceil(lastVisible);
  };
  const dmaWrite = (p: number): void => {
    const f = dst[(p / perFrame) | 0], off = (p % perFrame) * mtu, slot = (p % SLOTS) * mtu;
    f.set(slab.subarray(slot, slot + mtu), off);
    written++;
  };

  if (engine) {
    // Each line a FIFO of packets whose events fire in its order (their times never go back),
    // one handler per line, as the model's lines are.
    const give = (line: number, p: number): void => {
      if (size[line] === cap) throw new Error(`trainFloor: line ${line} overflows`);
      linePkt[line * cap + ((head[line] + size[line]++) % cap)] = p;
    };
    const tags = STEP_KINDS.map((k) => engine.tag(k));
    let finished = (): void => {};
    const h: (() => void)[] = [];
    // The bus's two directions complete in issue order, on lanes, as `DmaBus` posts them.
    const readLane = engine.lane(), writeLane = engine.lane();
    const step = (line: number, at: number, p: number): void => {
      give(line, p);
      if (line === 1) readLane.post(at - now, h[1], tags[1]);
      else if (line === 5) writeLane.post(at - now, h[5], tags[5]);
      else engine.post(at - now, h[line], tags[line]);
    };
    h[0] = () => {
      now = engine.now;
      steps++;
      const p = take(0);
      step(1, sendStep(), p);
    };
    h[1] = () => {
      now = engine.now;
      steps++;
      const p = take(1);
      step(2, payloadIn(p), p);
    };
    h[2] = () => {
      now = engine.now;
      steps++;
      const p = take(2);
      step(3, switchArrival(), p);
    };
    h[3] = () => {
      now = engine.now;
      steps++;
      const p = take(3);
      step(4, hcaArrival(), p);
    };
    h[4] = () => {
      now = engine.now;
      steps++;
      const p = take(4);
      step(5, receive(p), p);
    };
    h[5] = () => {
      now = engine.now;
      steps++;
      dmaWrite(take(5));
      if (issued < packets) step(0, now, issued++);
      else if (written === packets) finished();
    };
    const sw = stopwatch();
    await engine.run(async () => {
      for (let m = 0; m < messages; m++) {
        resid = bufferBytes;
        issued = written = expected = 0;
        const b = engine.block<void>("the message's last DMA write");
        finished = b.resolve;
        for (; issued < SLOTS && issued < packets; issued++) step(0, now, issued);
        await b.promise;
      }
    });
    return finish(sw(), engine.traceHash(), engine.now);
  }

  const sw = stopwatch();
  for (let m = 0; m < messages; m++) {
    resid = bufferBytes;
    issued = written = expected = 0;
    if (variant === "fused") {
      // Packet p is issued once the packet SLOTS before it is written (its slot is free).
      const start = now;
      let end = now;
      for (let p = 0; p < packets; p++) {
        const issue = p < SLOTS ? start : slotFree[p % SLOTS];
        run(issue, seq++, 0);
        now = issue;
        now = sendStep();
        now = payloadIn(p);
        now = switchArrival();
        now = hcaArrival();
        now = receive(p);
        dmaWrite(p);
        slotFree[p % SLOTS] = now;
        if (now > end) end = now;
      }
      now = end;
      continue;
    }
    for (; issued < SLOTS && issued < packets; issued++) push(0, now, issued);
    for (;;) {
      let line = -1, t = Infinity, s = Infinity;
      for (let k = 0; k < 6; k++) {
        if (size[k] === 0) continue;
        const i = k * cap + head[k];
        if (lineTime[i] < t || (lineTime[i] === t && lineSeq[i] < s)) {
          t = lineTime[i];
          s = lineSeq[i];
          line = k;
        }
      }
      if (line < 0) break;
      const p = take(line);
      run(t, s, line);
      switch (line) {
        case 0:
          push(1, sendStep(), p);
          break;
        case 1:
          push(2, payloadIn(p), p);
          break;
        case 2:
          push(3, switchArrival(), p);
          break;
        case 3:
          push(4, hcaArrival(), p);
          break;
        case 4:
          push(5, receive(p), p);
          break;
        default:
          dmaWrite(p);
          // Its slot is free: the send engine may issue the next packet.
          if (issued < packets) push(0, now, issued++);
      }
    }
    if (written !== packets) {
      throw new Error(`trainFloor: ${written} of ${packets} packets written`);
    }
  }
  return finish(
    sw(),
    record ? h1.toString(16).padStart(8, "0") + h2.toString(16).padStart(8, "0") : "",
    now,
  );

  /** Check that every byte and packet arrived, and say what the run took. */
  function finish(t: { wallMs: number; cpuMs: number }, trace: string, end: number): TrainFloorRun {
    checkCopied(src, dst, "trainFloor");
    if (
      xmitPkts !== swPkts || swPkts !== rcvPkts || bytesRead !== bytesWritten || xmitBytes <= 0 ||
      steps !== messages * packets * (variant === "fused" ? 1 : 6)
    ) {
      throw new Error("trainFloor: packets lost on the way");
    }
    return {
      packets: messages * packets,
      steps,
      trace,
      virtualNs: end,
      wallMs: t.wallMs,
      cpuMs: t.cpuMs,
    };
  }
}
