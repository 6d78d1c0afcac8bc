import assert from "node:assert/strict";
import { Engine } from "../sim/engine.ts";
import { Prng } from "../sim/prng.ts";
import {
  linkBytesPerSec,
  MODERN_GEN5_NDR,
  PCIX_SDR_2006,
  type Profile,
} from "../sim/profiles/mod.ts";
import { type Endpoint, Fabric, type HcaNode } from "../hca/fabric.ts";
import { OP } from "../hca/opcode.ts";
import { decodePacket, encodePacket, wireLength, WirePacket } from "../hca/packet.ts";
import { creditsFor, type Port, type PortLinkState } from "../hca/port.ts";
import {
  SM_PROCESS_NS,
  SMA_PROCESS_NS,
  SMP_WIRE_BYTES,
  SubnetManager,
} from "../hca/subnet_manager.ts";

/** A receiver that records (time, psn) and can be told to stall. */
class Recorder implements Endpoint {
  got: { t: number; psn: number; bytes: Uint8Array; port: Port }[] = [];
  stalled = false;
  states: string[] = [];
  constructor(private engine: Engine) {}
  receive(bytes: Uint8Array, port: Port): boolean {
    if (this.stalled) return false;
    const psn = (bytes[17] << 16) | (bytes[18] << 8) | bytes[19];
    this.got.push({ t: this.engine.now, psn, bytes, port });
    return true;
  }
  portStateChanged(port: Port, from: PortLinkState): void {
    this.states.push(`${port.name}:${from}->${port.state}`);
  }
}

function pkt(
  dlid: number,
  slid: number,
  psn: number,
  payload: number,
  opcode: number = OP.RC_SEND_ONLY,
) {
  return encodePacket({
    lrh: { dlid, slid },
    bth: { opcode, destQp: 1, psn },
    payload: new Uint8Array(payload),
  });
}

/** Send `pkts` from `port` as fast as the port allows (what the HCA send engine will do). */
function pump(port: Port, pkts: Uint8Array[]): { sent: () => number } {
  let i = 0;
  const go = () => {
    while (i < pkts.length && port.trySend(pkts[i])) i++;
    if (i < pkts.length) port.whenReady(pkts[i].length, go);
  };
  go();
  return { sent: () => i };
}

function build(profile: Profile, withSwitch: boolean, seed = 1) {
  const engine = new Engine();
  const fabric = new Fabric(engine, { profile, prng: new Prng(seed) });
  const ra = new Recorder(engine), rb = new Recorder(engine);
  const a = fabric.addHca("a", ra);
  const b = fabric.addHca("b", rb);
  let sw;
  if (withSwitch) {
    sw = fabric.addSwitch("sw", { ports: 4 });
    fabric.connect(a.port(1), sw.port(1));
    fabric.connect(b.port(1), sw.port(2));
  } else fabric.connect(a.port(1), b.port(1));
  new SubnetManager(fabric).sweepNow();
  return { engine, fabric, a, b, ra, rb, sw };
}

async function runFor(engine: Engine, ns: number, at?: () => void): Promise<void> {
  await engine.run(async () => {
    at?.();
    await engine.sleep(ns);
  });
}

// ---- timing ---------------------------------------------------------------

Deno.test("serialization and propagation are exactly the profile's (SDR and NDR)", async () => {
  for (const profile of [PCIX_SDR_2006, MODERN_GEN5_NDR]) {
    const { engine, fabric, a, b, rb } = build(profile, false);
    assert.equal(fabric.links[0].bytesPerSec, linkBytesPerSec(profile));
    const p1 = pkt(b.port(1).lid, a.port(1).lid, 1, 1000);
    const p2 = pkt(b.port(1).lid, a.port(1).lid, 2, 1000);
    assert.equal(p1.length, wireLength(OP.RC_SEND_ONLY, 1000, false));
    assert.equal(p1.length, 1026);
    const ser = (p1.length * 1e9) / linkBytesPerSec(profile);
    const prop = profile.link.propagationNs;
    await runFor(engine, 100_000, () => pump(a.port(1), [p1, p2]));
    assert.equal(rb.got.length, 2);
    // The engine rounds event times up to whole ns; nothing else is added.
    assert.equal(rb.got[0].t, Math.ceil(ser + prop), profile.name);
    assert.equal(rb.got[1].t, Math.ceil(2 * ser + prop), "second waits for the transmitter");
    if (profile === PCIX_SDR_2006) assert.deepEqual([rb.got[0].t, rb.got[1].t], [1036, 2062]);
  }
});

Deno.test("back-to-back packets keep the exact line rate (no per-packet rounding loss)", async () => {
  const profile = MODERN_GEN5_NDR; // 4096-byte packets take a fractional 82.x ns
  const { engine, a, b, rb } = build(profile, true);
  const N = 1000;
  const pkts = Array.from({ length: N }, (_, i) => pkt(b.port(1).lid, a.port(1).lid, i, 4096));
  await runFor(engine, 10_000_000, () => pump(a.port(1), pkts));
  assert.equal(rb.got.length, N);
  const ser = (pkts[0].length * 1e9) / linkBytesPerSec(profile);
  assert.ok(ser % 1 !== 0);
  const prop = profile.link.propagationNs, hop = profile.link.switchHopNs;
  // Last packet: N serializations end to end, plus the path's fixed latency.
  assert.equal(rb.got[N - 1].t, Math.ceil(N * ser + 2 * prop + hop));
});

Deno.test("a switch adds its hop latency once, cut-through", async () => {
  const profile = PCIX_SDR_2006;
  const { engine, a, b, rb, sw } = build(profile, true);
  const p = pkt(b.port(1).lid, a.port(1).lid, 1, 1000);
  await runFor(engine, 100_000, () => pump(a.port(1), [p]));
  const ser = p.length; // 1 ns/byte at 4x SDR
  assert.equal(rb.got[0].t, ser + 2 * profile.link.propagationNs + profile.link.switchHopNs);
  assert.equal(rb.got[0].t, 1246);
  assert.equal(sw!.counters.forwarded, 1);
  assert.equal(sw!.port(1).counters.rcvPkts, 1);
  assert.equal(sw!.port(2).counters.xmitPkts, 1);
});

Deno.test("cut-through onto a faster link: the tail cannot leave before it arrived", async () => {
  const engine = new Engine();
  const fabric = new Fabric(engine, { profile: PCIX_SDR_2006 });
  const rb = new Recorder(engine);
  const a = fabric.addHca("a", new Recorder(engine));
  const b = fabric.addHca("b", rb);
  const sw = fabric.addSwitch("sw", { ports: 2 });
  fabric.connect(a.port(1), sw.port(1), { width: 1 }); // 250 MB/s: 4 ns/byte
  fabric.connect(b.port(1), sw.port(2)); // 1 ns/byte
  new SubnetManager(fabric).sweepNow();
  const p = pkt(b.port(1).lid, a.port(1).lid, 1, 1000);
  await runFor(engine, 100_000, () => pump(a.port(1), [p]));
  // Tail reaches the switch at 4×1026 + 10; leaves it then; arrives 10 ns later.
  assert.equal(rb.got[0].t, 4 * 1026 + 10 + 10);
});

Deno.test("a switch frees a packet's buffer when its tail has left: credits return in that order, not in send order", async () => {
  const engine = new Engine();
  const fabric = new Fabric(engine, { profile: PCIX_SDR_2006 });
  const a = fabric.addHca("a", new Recorder(engine));
  const b = fabric.addHca("b", new Recorder(engine));
  const c = fabric.addHca("c", new Recorder(engine));
  const sw = fabric.addSwitch("sw", { ports: 3 });
  fabric.connect(a.port(1), sw.port(1));
  fabric.connect(b.port(1), sw.port(2), { width: 1 }); // 4 ns/byte: the first packet leaves late
  fabric.connect(c.port(1), sw.port(3));
  new SubnetManager(fabric).sweepNow();
  const full = sw.port(1).bufferCredits;
  const p1 = pkt(b.port(1).lid, a.port(1).lid, 1, 1000); // 1026 wire bytes, 17 credits
  const p2 = pkt(c.port(1).lid, a.port(1).lid, 2, 100); // 126 wire bytes, 2 credits
  const seen: number[] = [];
  await engine.run(async () => {
    // p2 once a's transmitter is idle again (nothing waits at a: no credit return needs an event).
    pump(a.port(1), [p1]);
    await engine.sleep(1100);
    pump(a.port(1), [p2]);
    // p1 leaves the switch at 210 + 4 × 1026 = 4314, p2 at 1100 + 210 + 126 = 1436; each
    // buffer's credits reach a one propagation delay (10 ns) later.
    for (const t of [1445, 1446, 4323, 4324]) {
      await engine.sleep(t - engine.now);
      seen.push(full - a.port(1).txCredits);
    }
  });
  assert.deepEqual([creditsFor(p1.length), creditsFor(p2.length)], [17, 2]);
  assert.deepEqual(seen, [19, 17, 17, 0]);
});

// ---- back-pressure -------------------------------------------------------

Deno.test("back-pressure: a stalled receiver stalls the sender; nothing is dropped", async () => {
  for (const withSwitch of [false, true]) {
    const { engine, a, b, rb, sw } = build(PCIX_SDR_2006, withSwitch);
    const N = 100;
    const pkts = Array.from({ length: N }, (_, i) => pkt(b.port(1).lid, a.port(1).lid, i, 1000));
    rb.stalled = true;
    let sender!: { sent: () => number };
    const seen: number[] = [];
    await engine.run(async () => {
      sender = pump(a.port(1), pkts);
      await engine.sleep(500_000);
      seen.push(sender.sent());
      await engine.sleep(400_000);
      seen.push(sender.sent());
      assert.ok(a.port(1).counters.creditStalls > 0);
      rb.stalled = false;
      b.port(1).resumeReceive();
      await engine.sleep(1_000_000);
    });
    // Per buffer: 16 KiB = 256 credits; a 1026-byte packet takes 17 → 15 packets.
    const perBuffer = Math.floor(256 / creditsFor(1026));
    assert.equal(perBuffer, 15);
    assert.equal(seen[0], seen[1], "no progress while stalled");
    assert.equal(seen[0], withSwitch ? 2 * perBuffer : perBuffer);
    assert.equal(rb.got.length, N, "everything arrives after the stall");
    assert.deepEqual(rb.got.map((g) => g.psn), pkts.map((_, i) => i), "in order");
    const allPorts = [a.port(1), b.port(1), ...(sw ? sw.ports : [])];
    for (const p of allPorts) {
      assert.equal(p.counters.dropped + p.counters.rcvDiscards + p.counters.xmitDiscards, 0);
    }
    // Credits all came home.
    assert.equal(a.port(1).txCredits, (sw ? sw.port(1) : b.port(1)).bufferCredits);
  }
});

Deno.test("a receiver that takes a packet later (per-packet processing) is offered the rest", async () => {
  const { engine, a, b, rb } = build(PCIX_SDR_2006, false);
  // Accept one packet, then be busy 3 µs, as a receive engine with per-packet cost.
  let busy = false;
  const got: number[] = [];
  rb.receive = (_bytes, port) => {
    if (busy) return false;
    busy = true;
    got.push(engine.now);
    engine.schedule(3_000, () => {
      busy = false;
      port.resumeReceive();
    });
    return true;
  };
  const pkts = Array.from({ length: 5 }, (_, i) => pkt(b.port(1).lid, a.port(1).lid, i, 100));
  await runFor(engine, 100_000, () => pump(a.port(1), pkts));
  assert.equal(got.length, 5);
  for (let i = 1; i < 5; i++) assert.equal(got[i] - got[i - 1], 3_000);
});

Deno.test("a packet the node leaves in the input buffer stays ahead of one that arrived while the node looked at it", async () => {
  const { engine, a, b, rb } = build(PCIX_SDR_2006, false);
  const first = pkt(b.port(1).lid, a.port(1).lid, 1, 100);
  const second = pkt(b.port(1).lid, a.port(1).lid, 2, 100);
  const offered: number[] = [];
  let refuse = true;
  rb.receive = (bytes, port) => {
    const psn = bytes[19];
    offered.push(psn);
    if (psn === 1 && refuse) {
      // Another packet reaches the port while the node is still deciding about the first.
      port.arrive({
        wire: new WirePacket(second),
        credits: creditsFor(second.length),
        charged: false,
      }, 0);
      refuse = false;
      return false;
    }
    return true;
  };
  await runFor(engine, 100_000, () => {
    a.port(1).trySend(first);
    engine.schedule(50_000, () => b.port(1).resumeReceive());
  });
  // Offered: the first (left), then, once resumed, the first again and the second, in arrival order.
  assert.deepEqual(offered, [1, 1, 2]);
  assert.equal(b.port(1).rxQueued, 0);
});

// ---- fault injection -------------------------------------------------------

async function faulty(seed: number, kind: "drop" | "duplicate" | "delay" | "corrupt", p: number) {
  const { engine, fabric, a, b, rb } = build(PCIX_SDR_2006, true, seed);
  fabric.addFault({ link: fabric.links[0], probability: p, kind, delayNs: 50_000 });
  const N = 2000;
  const pkts = Array.from({ length: N }, (_, i) => pkt(b.port(1).lid, a.port(1).lid, i, 64));
  await runFor(engine, 10_000_000, () => pump(a.port(1), pkts));
  return { a, rb, N, engine };
}

Deno.test("fault injection: drop at the configured rate, reproducible by seed", async () => {
  const r1 = await faulty(42, "drop", 0.1);
  const r2 = await faulty(42, "drop", 0.1);
  const r3 = await faulty(43, "drop", 0.1);
  const dropped = r1.a.port(1).counters.dropped;
  // Binomial(2000, 0.1): mean 200, sd 13.4.
  assert.ok(dropped > 150 && dropped < 250, `dropped ${dropped}`);
  assert.equal(r1.rb.got.length, r1.N - dropped);
  const psns = (r: typeof r1) => r.rb.got.map((g) => g.psn);
  assert.deepEqual(psns(r1), psns(r2), "same seed, same decisions");
  assert.notDeepEqual(psns(r1), psns(r3), "another seed, other decisions");
  // Lost packets still returned their credits (the link did not seize up).
  assert.equal(r1.a.port(1).txCredits, 256);
});

Deno.test("fault injection: duplicate, delay, corrupt", async () => {
  const d = await faulty(7, "duplicate", 0.05);
  const dup = d.a.port(1).counters.duplicated;
  assert.ok(dup > 60 && dup < 140, `duplicated ${dup}`);
  assert.equal(d.rb.got.length, d.N + dup);
  // A duplicate arrives right behind its original.
  const psns = d.rb.got.map((g) => g.psn);
  let pairs = 0;
  for (let i = 1; i < psns.length; i++) if (psns[i] === psns[i - 1]) pairs++;
  assert.equal(pairs, dup);

  const l = await faulty(7, "delay", 0.05);
  const delayed = l.a.port(1).counters.delayed;
  assert.ok(delayed > 60 && delayed < 140);
  assert.equal(l.rb.got.length, l.N);
  const order = l.rb.got.map((g) => g.psn);
  assert.notDeepEqual(order, [...order].sort((x, y) => x - y), "delay reorders");

  const c = await faulty(7, "corrupt", 0.05);
  const corrupted = c.a.port(1).counters.corrupted;
  assert.ok(corrupted > 60 && corrupted < 140);
  // Every corrupted packet that still reached the HCA fails its CRC check;
  // a flip in the DLID may misroute it (switch drop) or miss the port.
  const bad = c.rb.got.filter((g) => !decodePacket(g.bytes).ok).length;
  assert.ok(bad > 0 && bad <= corrupted);
  assert.equal(c.rb.got.length - bad, c.N - corrupted);
});

Deno.test("each packet arrives at its own time when a delayed one or a duplicate's copy falls among them", async () => {
  // A port keeps the arrivals of its packets in one line (its transmitter's
  // times never go back); a delayed packet and a duplicate's second copy may
  // fall behind later packets and get their own events. Both must keep every
  // packet's exact arrival time and, at equal times, the order of scheduling.
  for (const withSwitch of [false, true]) {
    for (const kind of ["delay", "duplicate"] as const) {
      const { engine, fabric, a, b, rb } = build(PCIX_SDR_2006, withSwitch);
      fabric.addFault({ from: a.port(1), probability: 1, limit: 1, kind, delayNs: 5_000 });
      const pkts = Array.from({ length: 4 }, (_, i) => pkt(b.port(1).lid, a.port(1).lid, i, 1000));
      await runFor(engine, 100_000, () => pump(a.port(1), pkts));
      const ser = pkts[0].length; // 1 ns per byte at 4x SDR
      const path = withSwitch ? 2 * 10 + 200 : 10; // propagation (and the switch's hop)
      const normal = (k: number) => ({ psn: k, t: (k + 1) * ser + path });
      // The copy lands one serialization behind its original: on a direct link
      // at the very nanosecond of the next packet (it was scheduled first, so it
      // comes first); through a switch it also takes the output port's next
      // slot, and every later packet leaves one serialization later.
      const later = (k: number) => ({ psn: k, t: (k + 2) * ser + path });
      const want = kind === "delay"
        ? [normal(1), normal(2), normal(3), { psn: 0, t: ser + path + 5_000 }]
        : withSwitch
        ? [normal(0), { psn: 0, t: 2 * ser + path }, later(1), later(2), later(3)]
        : [normal(0), { psn: 0, t: 2 * ser + path }, normal(1), normal(2), normal(3)];
      assert.deepEqual(
        rb.got.map((g) => ({ psn: g.psn, t: g.t })),
        want,
        `${kind}${withSwitch ? " through a switch" : ""}`,
      );
    }
  }
});

Deno.test("fault rules filter by opcode and DLID, and stop at their limit", async () => {
  const { engine, fabric, a, b, rb } = build(PCIX_SDR_2006, true, 3);
  fabric.addFault({ opcode: OP.RC_SEND_LAST, probability: 1, kind: "drop", limit: 2 });
  fabric.addFault({ dlid: 999, probability: 1, kind: "drop" });
  const pkts: Uint8Array[] = [];
  for (let i = 0; i < 10; i++) {
    pkts.push(pkt(b.port(1).lid, a.port(1).lid, i, 8, i % 2 ? OP.RC_SEND_LAST : OP.RC_SEND_FIRST));
  }
  await runFor(engine, 1_000_000, () => pump(a.port(1), pkts));
  // PSN 1 and 3 are the first two SEND_LASTs; the limit spares 5, 7, 9.
  assert.deepEqual(rb.got.map((g) => g.psn), [0, 2, 4, 5, 6, 7, 8, 9]);
  assert.equal(a.port(1).counters.dropped, 2);
});

// ---- switch forwarding, subnet manager ------------------------------------

function bigFabric() {
  const engine = new Engine();
  const fabric = new Fabric(engine, { profile: PCIX_SDR_2006 });
  const recs: Recorder[] = [];
  const hcas: HcaNode[] = [];
  for (let i = 0; i < 4; i++) {
    const r = new Recorder(engine);
    recs.push(r);
    hcas.push(fabric.addHca(`h${i}`, r, { ports: i === 3 ? 2 : 1 }));
  }
  const s0 = fabric.addSwitch("s0", { ports: 4 });
  const s1 = fabric.addSwitch("s1", { ports: 4 });
  const lonely = fabric.addHca("lonely", new Recorder(engine));
  fabric.connect(hcas[0].port(1), s0.port(1));
  fabric.connect(hcas[1].port(1), s0.port(2));
  fabric.connect(s0.port(4), s1.port(4));
  fabric.connect(hcas[2].port(1), s1.port(1));
  fabric.connect(hcas[3].port(1), s1.port(2));
  fabric.connect(hcas[3].port(2), s0.port(3)); // dual-homed
  return { engine, fabric, recs, hcas, s0, s1, lonely };
}

Deno.test("SM: LIDs in discovery order, ports ACTIVE, every LID routed to its port", async () => {
  const { engine, fabric, recs, hcas, s0, s1, lonely } = bigFabric();
  assert.equal(hcas[0].port(1).state, "INIT");
  const result = await engine.run(() => new SubnetManager(fabric).sweep());
  // BFS from h0: h0/1, s0 (ports 1..4 → h1, h3/2, s1), h1, h3 (both ports), s1, h2.
  assert.deepEqual(Object.fromEntries(result.lids), {
    "h0/1": 1,
    s0: 2,
    "h1/1": 3,
    "h3/1": 4,
    "h3/2": 5,
    s1: 6,
    "h2/1": 7,
  });
  assert.deepEqual(result.unreachable, [lonely]);
  assert.equal(lonely.port(1).state, "DOWN");
  for (const h of hcas) for (const p of h.ports) assert.equal(p.state, "ACTIVE", p.name);
  // Every CA port learns where the master SM is: h0/1, LID 1.
  for (const h of hcas) for (const p of h.ports) assert.equal(p.smLid, 1, p.name);
  assert.equal(lonely.port(1).smLid, 0);
  for (const s of [s0, s1]) for (const p of s.ports) if (p.link) assert.equal(p.state, "ACTIVE");
  assert.deepEqual(recs[0].states, ["h0/1:DOWN->INIT", "h0/1:INIT->ARMED", "h0/1:ARMED->ACTIVE"]);
  // Routes: s0 sends LID 5 (h3/2) straight down port 3, LID 4 (h3/1) via s1.
  assert.equal(s0.route(5), 3);
  assert.equal(s0.route(4), 4);
  assert.equal(s1.route(4), 2);
  assert.equal(s0.route(2), 0);
  assert.equal(s0.route(6), 4);
  // The sweep took virtual time: at least the fixed per-SMP costs.
  assert.ok(result.durationNs >= result.smps * (SMA_PROCESS_NS + SM_PROCESS_NS));
  assert.equal(result.durationNs, engine.now);
  // h1 is two cables and one switch away: its SMPs cost the wire on top.
  const oneWay = 2 * (SMP_WIRE_BYTES + PCIX_SDR_2006.link.propagationNs) + 200;
  assert.ok(result.durationNs > result.smps * (SMA_PROCESS_NS + SM_PROCESS_NS) + 2 * oneWay);

  // Every port can reach every other.
  const ports = hcas.flatMap((h) => [...h.ports]);
  await engine.run(async () => {
    let psn = 0;
    for (const from of ports) {
      for (const to of ports) {
        if (from !== to) pump(from, [pkt(to.lid, from.lid, psn++, 32)]);
      }
    }
    await engine.sleep(100_000);
  });
  for (const to of ports) {
    const r = recs[hcas.indexOf(to.node as HcaNode)];
    assert.equal(r.got.filter((g) => g.port === to).length, ports.length - 1, to.name);
  }
});

Deno.test("switch drops and counts an unknown DLID; INIT ports discard data", async () => {
  const { engine, fabric, a, b, rb, sw } = build(PCIX_SDR_2006, true);
  await runFor(engine, 100_000, () => pump(a.port(1), [pkt(999, a.port(1).lid, 1, 8)]));
  assert.equal(sw!.counters.unknownDlidDrops, 1);
  assert.equal(sw!.port(1).counters.rcvSwitchRelayErrors, 1);
  assert.equal(rb.got.length, 0);
  assert.equal(a.port(1).txCredits, 256, "the dropped packet's credits came back");

  // A fresh port in INIT: data is discarded at the sender (IBTA §7.2).
  const c = fabric.addHca("c", new Recorder(engine));
  fabric.connect(c.port(1), sw!.port(3));
  assert.equal(c.port(1).state, "INIT");
  assert.equal(c.port(1).trySend(pkt(b.port(1).lid, 9, 1, 8)), true);
  assert.equal(c.port(1).counters.xmitDiscards, 1);
  assert.equal(c.port(1).counters.xmitPkts, 0);
  assert.throws(() => c.port(1).setState("ACTIVE"), /not a legal transition/);
  // A re-sweep keeps existing LIDs and adds the new port.
  const before = [a.port(1).lid, b.port(1).lid, sw!.lid];
  const r = new SubnetManager(fabric).sweepNow();
  assert.deepEqual([a.port(1).lid, b.port(1).lid, sw!.lid], before);
  assert.equal(c.port(1).lid, Math.max(...before) + 1);
  assert.equal(c.port(1).state, "ACTIVE");
  assert.equal(r.durationNs, 0);
});

Deno.test("GUIDs and GIDs are deterministic; capture sees every wire packet", async () => {
  const { engine, fabric, a, b } = build(PCIX_SDR_2006, true);
  assert.equal(a.nodeGuid, 0x0002c90300000100n);
  assert.equal(a.port(1).guid, 0x0002c90300000101n);
  assert.equal(a.port(1).gidText, "fe80::2:c903:0:101");
  assert.equal(b.port(1).gidText, "fe80::2:c903:0:201");
  assert.deepEqual([...a.port(1).gid.subarray(0, 2)], [0xfe, 0x80]);
  const seen: string[] = [];
  const stop = fabric.addCapture((r) => seen.push(`${r.timeNs} ${r.from.name}>${r.to.name}`));
  const onlyB: number[] = [];
  fabric.addCapture((r) => onlyB.push(r.timeNs), { port: b.port(1) });
  await runFor(engine, 100_000, () => pump(a.port(1), [pkt(b.port(1).lid, a.port(1).lid, 1, 8)]));
  stop();
  assert.deepEqual(seen, ["0 a/1>sw/1", "210 sw/2>b/1"]);
  assert.deepEqual(onlyB, [210]);
});

Deno.test("runs are deterministic: same seed, same arrivals and trace hash", async () => {
  const runs = [];
  for (const seed of [11, 11, 12]) {
    const r = await faulty(seed, "delay", 0.2);
    runs.push({
      arrivals: r.rb.got.map((g) => `${g.t}:${g.psn}`).join(","),
      hash: r.engine.traceHash(),
    });
  }
  assert.deepEqual(runs[0], runs[1]);
  assert.notEqual(runs[0].hash, runs[2].hash);
});
