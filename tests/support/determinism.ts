/**
 * Workloads for `tests/determinism_test.ts`: a verbs program (a bypass and a
 * split guest, completion events, RDMA WRITEs checked at the target, optional
 * fabric faults) and an MPI job (collectives, non-blocking point-to-point, a
 * race), both with the noise model on. Each returns what a run must repeat
 * exactly: the engine's trace hash, its event count, the end time and what
 * the program saw.
 *
 * Run as a program (`deno run tests/support/determinism.ts SEED`), it prints
 * the JSON of both runs: the test compares another process's runs with its own.
 *
 * @module
 */
import {
  Access,
  Cluster,
  connectPair,
  type Cq,
  type Domain,
  mpi,
  QpType,
  SendFlags,
  WrOpcode,
} from "../../mod.ts";

/** What a run must repeat. */
export interface RunPrint {
  hash: string;
  events: number;
  now: number;
  out: unknown;
}

async function nextCompletion(cq: Cq) {
  for (;;) {
    const [wc] = cq.poll(1);
    if (wc) return wc;
    cq.reqNotify(false);
    const [raced] = cq.poll(1);
    if (raced) return raced;
    const woken = await cq.channel!.getEvent();
    woken.ackEvents(1);
  }
}

/**
 * A bypass guest sends to a guest of `driver` (SENDs and RDMA WRITEs with
 * immediate; a bypass receiver sleeps on its completion channel, a split one
 * waits in `pollUntil`, its polls crossing dom0), then writes patterned
 * buffers that the target checks; `faults` drops, duplicates and delays
 * packets on the fabric.
 */
export async function verbsRun(
  seed: number,
  driver: "bypass" | "split",
  faults = false,
): Promise<RunPrint> {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed, noise: "on" });
  if (faults) {
    cluster.fabric.addFault({ kind: "duplicate", probability: 0.2 });
    cluster.fabric.addFault({ kind: "drop", probability: 0.05 });
    cluster.fabric.addFault({ kind: "delay", probability: 0.2, delayNs: 3000 });
  }
  const hosts = ["node0", "node1"].map((name) => cluster.addHost({ name, hypervisor: true }));
  await cluster.start();
  const doms: Domain[] = [
    await hosts[0].createGuest({ name: "vm0", memoryMiB: 16, driver: "bypass" }),
    await hosts[1].createGuest({ name: "vm1", memoryMiB: 16, driver }),
  ];
  const out = await cluster.run(async () => {
    const ends = [];
    for (const dom of doms) {
      const ctx = await dom.openDevice();
      const pd = await ctx.allocPd();
      const channel = ctx.createCompChannel();
      const cq = await ctx.createCq(64, { channel });
      const buf = dom.memory.alloc(65536, 4096);
      const mr = await pd.regMr(buf, 65536, Access.LOCAL_WRITE | Access.REMOTE_WRITE);
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 32, maxRecvWr: 32, maxSendSge: 1, maxRecvSge: 1 },
      });
      ends.push({ dom, buf, mr, cq, qp, lid: ctx.queryPort(1).lid });
    }
    const [a, b] = ends;
    await connectPair(a, b);
    for (let i = 0; i < 8; i++) {
      b.qp.postRecv({ wrId: BigInt(i), sgList: [{ addr: b.buf, length: 8192, lkey: b.mr.lkey }] });
    }
    const seen: number[] = [];
    const receiver = cluster.spawn("receiver", async () => {
      for (let i = 0; i < 8; i++) {
        const wc = driver === "bypass" ? await nextCompletion(b.cq) : (await b.cq.pollUntil(1))[0];
        seen.push(cluster.now, wc.status, wc.byteLen);
      }
    });
    for (let i = 0; i < 8; i++) {
      a.qp.postSend({
        wrId: BigInt(i),
        opcode: i % 2 ? WrOpcode.SEND : WrOpcode.RDMA_WRITE_WITH_IMM,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: a.buf, length: 1000 + 700 * i, lkey: a.mr.lkey }],
        remoteAddr: b.buf,
        rkey: b.mr.rkey,
        immData: i,
      });
      await cluster.sleep(500);
    }
    await Promise.all([receiver, a.cq.pollUntil(8)]);
    const wrong: number[] = [];
    for (let r = 0; r < 4; r++) {
      const pat = new Uint8Array(8192).map((_, i) => (i * 7 + r * 13 + seed) & 0xff);
      a.dom.memory.write(a.buf, pat);
      a.qp.postSend({
        wrId: BigInt(100 + r),
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: a.buf, length: 8192, lkey: a.mr.lkey }],
        remoteAddr: b.buf + 8192 * (r + 1),
        rkey: b.mr.rkey,
      });
      const [wc] = await a.cq.pollUntil(1);
      const got = b.dom.memory.read(b.buf + 8192 * (r + 1), 8192);
      wrong.push(wc.status, got.reduce((n, v, i) => n + (v === pat[i] ? 0 : 1), 0));
    }
    return { seen, wrong };
  });
  return {
    hash: cluster.engine.traceHash(),
    events: cluster.engine.eventsRun,
    now: cluster.now,
    out,
  };
}

const program: mpi.MpiMain<number[]> = async (comm) => {
  const buf = new Float64Array(256).fill(comm.rank + 1);
  await comm.allreduce(mpi.IN_PLACE, buf, "SUM");
  const send = new Int32Array(4 * comm.size).fill(comm.rank);
  const recv = new Int32Array(4 * comm.size);
  await comm.alltoall(send, recv);
  const peer = (comm.rank + 1) % comm.size, from = (comm.rank - 1 + comm.size) % comm.size;
  const big = new Uint8Array(40000).fill(comm.rank), got = new Uint8Array(40000);
  const r = (await comm.irecv(got, from, 3)) as mpi.Request;
  const s = (await comm.isend(big, peer, 3)) as mpi.Request;
  await Promise.race([comm.test(r), comm.compute({ flops: 1000 })]);
  await Promise.all([comm.wait(r), comm.wait(s)]);
  await comm.barrier();
  return [buf[0], recv[4], got[0], comm.wtime()];
};

/** Four ranks on two Xen hosts, two split guests each. */
export async function mpiRun(seed: number): Promise<RunPrint> {
  const job = await mpi.mpiexec(
    { np: 4, mode: "split", hosts: 2, guestsPerHost: 2, seed, noise: "on", output: () => {} },
    program,
  );
  return {
    hash: job.cluster.engine.traceHash(),
    events: job.cluster.engine.eventsRun,
    now: job.cluster.now,
    out: [job.results, job.mainNs, job.elapsedNs],
  };
}

/** A run as text, for comparing runs byte for byte. */
export function printed(r: RunPrint): string {
  return JSON.stringify(r, (_k, v) => typeof v === "bigint" ? `${v}n` : v);
}

if (import.meta.main) {
  const seed = Number(Deno.args[0] ?? 1);
  console.log(JSON.stringify([
    printed(await verbsRun(seed, "bypass")),
    printed(await verbsRun(seed, "split", true)),
    printed(await mpiRun(seed)),
  ]));
}
