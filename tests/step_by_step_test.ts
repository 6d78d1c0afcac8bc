/**
 * The fabric's shortcuts change no result: the same programs run with
 * `fabric.stepByStep` (every step of every packet an engine event) and
 * without it (steps nothing can change computed instead) give the same
 * completions at the same virtual times, the same bytes in memory and the
 * same counters. Only the engine's event count and trace hash may differ.
 */
import assert from "node:assert/strict";
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
  WrOpcode,
} from "../mod.ts";

interface Flow {
  from: number;
  to: number;
  size: number;
  count: number;
  opcode: "write" | "send" | "read";
  /** Outstanding WRs (default 8). */
  depth?: number;
}

interface Scenario {
  profile?: string;
  hosts: number;
  flows: Flow[];
  mtu?: number;
  /** Fault rules added before the traffic (drop, duplicate, delay, corrupt). */
  faults?: { kind: "drop" | "duplicate" | "delay" | "corrupt"; probability: number }[];
  /** Capture every packet during the traffic (a record per packet: time, length). */
  capture?: boolean;
  /** Bypass guests instead of bare-metal hosts. */
  virt?: boolean;
  /** The seeded noise model on. */
  noise?: boolean;
}

interface Outcome {
  completions: string[];
  memory: string[];
  ports: string[];
  hcas: string[];
  captured: string[];
  end: number;
  events: number;
}

async function run(s: Scenario, stepByStep: boolean): Promise<Outcome> {
  const cluster = new Cluster({
    profile: s.profile ?? "pcix-sdr-2006",
    seed: 7,
    noise: s.noise ? "on" : "off",
  });
  cluster.fabric.stepByStep = stepByStep;
  const hosts = Array.from(
    { length: s.hosts },
    (_, i) => cluster.addHost({ name: `n${i}`, hypervisor: s.virt === true }),
  );
  await cluster.start();
  const doms: Domain[] = [];
  for (const [i, h] of hosts.entries()) {
    doms.push(
      s.virt ? await h.createGuest({ name: `vm${i}`, memoryMiB: 64, driver: "bypass" }) : h.os,
    );
  }
  const completions: string[] = [];
  const captured: string[] = [];
  const memory: string[] = [];
  await cluster.run(async () => {
    interface End {
      qp: Qp;
      cq: Cq;
      mr: Mr;
      buf: number;
      lid: number;
    }
    const ends: [End, End][] = [];
    for (const f of s.flows) {
      const pair: End[] = [];
      for (const d of [f.from, f.to]) {
        const dom = doms[d];
        const ctx = await dom.openDevice();
        const pd = await ctx.allocPd();
        const cq = await ctx.createCq(256);
        const bytes = f.size * 2 + 64;
        const buf = dom.memory.alloc(bytes, 4096);
        // Distinct contents per flow and end, so misplaced bytes show.
        const fill = new Uint8Array(bytes);
        for (let i = 0; i < bytes; i++) fill[i] = (i * 31 + d * 7 + f.size) & 0xff;
        dom.memory.write(buf, fill);
        const mr = await pd.regMr(
          buf,
          bytes,
          Access.LOCAL_WRITE | Access.REMOTE_WRITE | Access.REMOTE_READ,
        );
        const qp = await pd.createQp({
          type: QpType.RC,
          sendCq: cq,
          recvCq: cq,
          cap: { maxSendWr: 64, maxRecvWr: 64, maxSendSge: 1, maxRecvSge: 1 },
        });
        pair.push({ qp, cq, mr, buf, lid: ctx.queryPort(1).lid });
      }
      await connectPair(pair[0], pair[1], { pathMtu: s.mtu ?? 2048, timeout: 10 });
      ends.push([pair[0], pair[1]]);
    }
    const fab = cluster.fabric;
    for (const r of s.faults ?? []) {
      fab.addFault({ kind: r.kind, probability: r.probability, delayNs: 20_000 });
    }
    if (s.capture) {
      fab.addCapture((rec) =>
        captured.push(
          `${rec.timeNs} ${rec.from.name} ${rec.bytes.length} ${rec.bytes[rec.bytes.length - 1]}`,
        )
      );
    }
    const t0 = cluster.now;
    const procs = s.flows.map((f, fi) =>
      cluster.spawn!(`flow${fi}`, async () => {
        const [a, b] = ends[fi];
        const depth = f.depth ?? 8;
        let posted = 0, done = 0, recvDone = 0;
        if (f.opcode === "send") {
          for (let k = 0; k < Math.min(64, f.count); k++) {
            b.qp.postRecv({
              wrId: BigInt(k),
              sgList: [{ addr: b.buf + f.size, length: f.size, lkey: b.mr.lkey }],
            });
          }
        }
        while (done < f.count) {
          while (posted < f.count && posted - done < depth) {
            const local = { addr: a.buf, length: f.size, lkey: a.mr.lkey };
            if (f.opcode === "write") {
              a.qp.postSend({
                wrId: BigInt(posted),
                opcode: WrOpcode.RDMA_WRITE,
                sendFlags: SendFlags.SIGNALED,
                sgList: [local],
                remoteAddr: b.buf + f.size,
                rkey: b.mr.rkey,
              });
            } else if (f.opcode === "read") {
              a.qp.postSend({
                wrId: BigInt(posted),
                opcode: WrOpcode.RDMA_READ,
                sendFlags: SendFlags.SIGNALED,
                sgList: [{ ...local, addr: a.buf + f.size }],
                remoteAddr: b.buf,
                rkey: b.mr.rkey,
              });
            } else {
              a.qp.postSend({
                wrId: BigInt(posted),
                opcode: WrOpcode.SEND,
                sendFlags: SendFlags.SIGNALED,
                sgList: [local],
              });
            }
            posted++;
          }
          for (const wc of await a.cq.pollUntil(1)) {
            completions.push(
              `flow${fi} ${
                cluster.now - t0
              } wr${wc.wrId} op${wc.opcode} st${wc.status} ${wc.byteLen}`,
            );
            if (wc.qpNum === a.qp.qpNum) done++;
            else recvDone++;
          }
        }
        if (f.opcode === "send") {
          while (recvDone < f.count) {
            for (const wc of await b.cq.pollUntil(1)) {
              completions.push(`flow${fi} recv ${cluster.now - t0} wr${wc.wrId} st${wc.status}`);
              recvDone++;
              if (recvDone + 63 < f.count) {
                b.qp.postRecv({
                  wrId: BigInt(recvDone + 63),
                  sgList: [{ addr: b.buf + f.size, length: f.size, lkey: b.mr.lkey }],
                });
              }
            }
          }
        }
      })
    );
    await Promise.all(procs);
    for (const [fi, f] of s.flows.entries()) {
      for (const [side, e] of ends[fi].entries()) {
        const dom = doms[side === 0 ? f.from : f.to];
        const bytes = dom.memory.read(e.buf, f.size * 2 + 64);
        let h = 0;
        for (let i = 0; i < bytes.length; i++) h = (Math.imul(h, 31) + bytes[i]) | 0;
        memory.push(`flow${fi} end${side} ${h}`);
      }
    }
  });
  const ports: string[] = [];
  for (const node of cluster.fabric.nodes) {
    for (const p of node.ports) {
      ports.push(`${p.name} ${JSON.stringify(p.counters)} ${p.txCredits}`);
    }
  }
  const hcas = hosts.map((h) =>
    JSON.stringify((h.hw.hca as unknown as { stats(): { counters: unknown } }).stats().counters)
  );
  return {
    completions,
    memory,
    ports,
    hcas,
    captured,
    end: cluster.now,
    events: cluster.engine.eventsRun,
  };
}

async function same(s: Scenario): Promise<{ fast: Outcome; slow: Outcome }> {
  const slow = await run(s, true);
  const fast = await run(s, false);
  assert.ok(slow.completions.length > 0);
  assert.deepEqual(fast.completions, slow.completions, "completions and their times");
  assert.deepEqual(fast.memory, slow.memory, "bytes in memory");
  assert.deepEqual(fast.ports, slow.ports, "port counters and credits");
  assert.deepEqual(fast.hcas, slow.hcas, "HCA counters");
  assert.deepEqual(fast.captured, slow.captured, "captured packets");
  assert.equal(fast.end, slow.end, "end time");
  return { fast, slow };
}

Deno.test("step by step or not: a 256 KiB RDMA WRITE stream, fewer events, same results", async () => {
  const { fast, slow } = await same({
    hosts: 2,
    flows: [{ from: 0, to: 1, size: 256 * 1024, count: 8, opcode: "write" }],
  });
  assert.ok(fast.events < slow.events, `${fast.events} < ${slow.events} events`);
});

for (const mtu of [256, 512, 1024, 2048, 4096]) {
  Deno.test(`step by step or not: MTU ${mtu}, WRITE and SEND`, async () => {
    await same({
      profile: mtu === 4096 ? "modern-gen5-ndr" : "pcix-sdr-2006",
      hosts: 2,
      mtu,
      flows: [
        { from: 0, to: 1, size: 20_000, count: 12, opcode: "write" },
        { from: 0, to: 1, size: 5_000, count: 12, opcode: "send" },
      ],
    });
  });
}

Deno.test("step by step or not: two flows into one port (contention), both directions, READs", async () => {
  await same({
    hosts: 3,
    flows: [
      { from: 0, to: 2, size: 64 * 1024, count: 10, opcode: "write" },
      { from: 1, to: 2, size: 48 * 1024, count: 10, opcode: "write" },
      { from: 2, to: 0, size: 32 * 1024, count: 10, opcode: "write" },
      { from: 1, to: 0, size: 16 * 1024, count: 10, opcode: "read" },
    ],
  });
});

Deno.test("step by step or not: contention with the noise model on", async () => {
  await same({
    hosts: 3,
    noise: true,
    flows: [
      { from: 0, to: 2, size: 64 * 1024, count: 8, opcode: "write" },
      { from: 1, to: 2, size: 8 * 1024, count: 16, opcode: "send" },
    ],
  });
});

Deno.test("step by step or not: many small messages into one port", async () => {
  await same({
    hosts: 4,
    flows: [0, 1, 2].map((i) => ({
      from: i,
      to: 3,
      size: 64 + i * 200,
      count: 60,
      opcode: "write" as const,
      depth: 32,
    })),
  });
});

Deno.test("step by step or not: bypass guests", async () => {
  await same({
    hosts: 2,
    virt: true,
    flows: [
      { from: 0, to: 1, size: 100_000, count: 6, opcode: "write" },
      { from: 1, to: 0, size: 4096, count: 20, opcode: "send" },
    ],
  });
});

for (const kind of ["drop", "duplicate", "delay", "corrupt"] as const) {
  Deno.test(`step by step or not: fault "${kind}" with RC retries`, async () => {
    await same({
      hosts: 3,
      faults: [{ kind, probability: 0.02 }],
      flows: [
        { from: 0, to: 2, size: 32 * 1024, count: 10, opcode: "write" },
        { from: 1, to: 2, size: 4096, count: 20, opcode: "send" },
      ],
    });
  });
}

Deno.test("step by step or not: capture on", async () => {
  const { fast } = await same({
    hosts: 2,
    capture: true,
    flows: [{ from: 0, to: 1, size: 64 * 1024, count: 6, opcode: "write" }],
  });
  assert.ok(fast.captured.length > 6 * 32);
});
