/**
 * The split backend serves `DOORBELL` and `POLL_CQ` requests as a chain of
 * callbacks on dom0's VCPUs (`StagedOp`, `VcpuPool.runThen`) instead of
 * waking its thread per CPU step, and the chain also makes the event
 * channel hypercalls its responses ask for and goes on into the next batch:
 * the same steps at the same instants. The same programs with the staged
 * path taken away (every request through the thread) give the same trace,
 * the same virtual times and the same results; only the backend's thread
 * is woken less often.
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
  WcStatus,
  WrOpcode,
} from "../mod.ts";
import { UarOffset } from "../hca/uar.ts";
import type { StagedOps } from "../drivers/back/datapath.ts";
import { SPLIT_DATAPATH, SPLIT_STAGED } from "../drivers/split/ops.ts";
import type { XenPlatform } from "../platform/xen_host.ts";
import type { XenGuest } from "../platform/xen_guest.ts";
import { WriteStream } from "../tools/lib/bench_model.ts";

/** Run `fn` with the split datapath's staged ops taken away (every op through its handler). */
async function unstaged<T>(fn: () => Promise<T>): Promise<T> {
  const dp = SPLIT_DATAPATH as { staged?: StagedOps };
  dp.staged = undefined;
  try {
    return await fn();
  } finally {
    dp.staged = SPLIT_STAGED;
  }
}

async function stream(messages: number) {
  const s = await WriteStream.create("pcix-sdr-2006", "split", 64);
  const r = await s.run(messages);
  const e = s.cluster.engine;
  return {
    hash: e.traceHash(),
    now: e.now,
    events: r.events,
    virtualNs: r.virtualNs,
    wakeups: r.wakeups,
  };
}

Deno.test("split staged doorbells: a 64 B write stream runs the same trace with fewer wake-ups", async () => {
  const staged = await stream(300);
  const plain = await unstaged(() => stream(300));
  assert.equal(staged.hash, plain.hash);
  assert.equal(staged.now, plain.now);
  assert.equal(staged.virtualNs, plain.virtualNs);
  assert.equal(staged.events, plain.events);
  // Each doorbell woke the backend's thread three times (two CPU steps and the response); now at
  // most once, and not at all while the backend goes on to the next doorbell on the ring.
  assert.ok(staged.wakeups < plain.wakeups - 300, `${staged.wakeups} vs ${plain.wakeups}`);
});

/** One host, one split guest `vm0` (not yet in a run). */
async function oneSplitGuest(seed: number) {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed });
  const xen = cluster.addHost({ name: "xen0", hypervisor: true });
  await cluster.start();
  const vm = await xen.createGuest({ name: "vm0", driver: "split" }) as XenGuest;
  return { cluster, xen, vm };
}

/** In a run: a context of `vm`, a CQ of `entries` and an RC QP in INIT receiving up to `entries`. */
async function initQp(vm: Domain, entries: number) {
  const ctx = await vm.openDevice();
  const cq = await ctx.createCq(entries);
  const cap = { maxSendWr: 4, maxRecvWr: entries, maxSendSge: 1, maxRecvSge: 1 };
  const qp = await (await ctx.allocPd()).createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
  await qp.modify({ state: 1, port: 1, pkeyIndex: 0, accessFlags: 0 }); // INIT
  return { ctx, cq, qp };
}

/** A split guest posts receives and refused doorbells; what dom0 did and when. */
async function doorbells() {
  const { cluster, xen, vm } = await oneSplitGuest(7);
  const out = await cluster.run(async () => {
    const { ctx, qp } = await initQp(vm, 8);
    for (let i = 0; i < 3; i++) {
      qp.postRecv([{ wrId: BigInt(2 * i), sgList: [] }, { wrId: BigInt(2 * i + 1), sgList: [] }]);
      await cluster.engine.sleep(1_000 * i);
    }
    // A doorbell for a QP the context does not have: dom0 refuses it (EINVAL) and serves on.
    ctx.provider.doorbell(UarOffset.RECV, 0xffffff, 1);
    await cluster.engine.sleep(200_000);
    return { now: cluster.now };
  });
  const back = (xen.platform as XenPlatform).backend!.instances().get(vm.domid!)!;
  return {
    ...out,
    hash: cluster.engine.traceHash(),
    refused: { ...back.refused },
    lastRefusal: back.lastRefusal,
    counters: xen.counters(),
  };
}

Deno.test("split staged doorbells: receives and a refused doorbell, same trace and times as unstaged", async () => {
  const staged = await doorbells();
  const plain = await unstaged(doorbells);
  assert.deepEqual(staged, plain);
  assert.deepEqual(staged.refused, { EINVAL: 1 });
  assert.match(
    staged.lastRefusal ?? "",
    /DOORBELL: EINVAL: doorbell for QP 16777215: not a QP of this context/,
  );
});

Deno.test("split doorbells: a receive doorbell with command bits is refused for them, not as another's QP", async () => {
  // FORMATS.md §4: a receive doorbell's word 0 is the QP number alone.
  const { cluster, xen, vm } = await oneSplitGuest(7);
  await cluster.run(async () => {
    const { ctx, qp } = await initQp(vm, 8);
    ctx.provider.doorbell(UarOffset.RECV, (1 << 24) | qp.qpNum, 1);
    await cluster.engine.sleep(200_000);
  });
  const back = (xen.platform as XenPlatform).backend!.instances().get(vm.domid!)!;
  assert.match(back.lastRefusal ?? "", /receive doorbell for QP \d+: command bits 0x1 set/);
});

/**
 * Two split guests on each of two hosts, each writing to its peer at once:
 * the guests' backends share dom0's VCPU (slices queue, the fair policy
 * preempts), their event channels fire in both directions; with the noise
 * model on, under both schedulers. Everything a program or the host can see.
 */
async function contended(policy: "fair" | "fifo") {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 11, noise: "on" });
  const hosts = [0, 1].map((i) =>
    cluster.addHost({ name: `node${i}`, hypervisor: true, dom0Scheduler: policy })
  );
  await cluster.start();
  const vms: Domain[] = [];
  for (const h of hosts) {
    for (const g of [0, 1]) {
      vms.push(await h.createGuest({ name: `${h.name}-vm${g}`, memoryMiB: 64, driver: "split" }));
    }
  }
  const size = 64, depth = 24, writes = 120;
  const out = await cluster.run(async () => {
    const ends: { vm: Domain; qp: Qp; cq: Cq; mr: Mr; buf: number; lid: number }[] = [];
    for (const vm of vms) {
      const ctx = await vm.openDevice();
      const pd = await ctx.allocPd();
      const cq = await ctx.createCq(2 * depth);
      const buf = vm.memory.alloc(size, 4096);
      vm.memory.write(buf, new Uint8Array(size).fill(vms.indexOf(vm) + 1));
      const mr = await pd.regMr(buf, size, Access.LOCAL_WRITE | Access.REMOTE_WRITE);
      const cap = { maxSendWr: depth, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
      const qp = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
      ends.push({ vm, qp, cq, mr, buf, lid: ctx.queryPort(1).lid });
    }
    // vm i of node0 writes to vm i of node1 and back.
    for (const i of [0, 1]) await connectPair(ends[i], ends[i + 2], { pathMtu: 2048 });
    const done: number[][] = [];
    await Promise.all(ends.map((a, k) =>
      cluster.engine.spawn(`writer ${k}`, async () => {
        const b = ends[(k + 2) % 4];
        const times: number[] = [];
        let posted = 0, retired = 0;
        while (retired < writes) {
          while (posted < writes && posted - retired < depth) {
            a.qp.postSend({
              wrId: BigInt(posted),
              opcode: WrOpcode.RDMA_WRITE,
              sendFlags: posted % 8 === 7 || posted === writes - 1 ? SendFlags.SIGNALED : 0,
              sgList: [{ addr: a.buf, length: size, lkey: a.mr.lkey }],
              remoteAddr: b.buf,
              rkey: b.mr.rkey,
            });
            posted++;
          }
          for (const wc of [...await a.cq.pollUntil(1), ...a.cq.poll(depth)]) {
            assert.equal(wc.status, WcStatus.SUCCESS);
            retired = Number(wc.wrId) + 1;
            times.push(cluster.now);
          }
        }
        done.push([k, ...times]);
      })
    ));
    return {
      done: done.sort((x, y) => x[0] - y[0]),
      bytes: ends.map((e) => [...e.vm.memory.read(e.buf, size)]),
    };
  });
  return {
    ...out,
    now: cluster.now,
    hash: cluster.engine.traceHash(),
    events: cluster.engine.eventsRun,
    counters: hosts.map((h) => h.counters()),
    vcpus: hosts.map((h) => (h.platform as XenPlatform).hv.dom0Vcpus.stats()),
  };
}

Deno.test("split staged doorbells: guests contending for dom0's VCPU, noise on, both schedulers: same as unstaged", async () => {
  for (const policy of ["fair", "fifo"] as const) {
    const staged = await contended(policy);
    const plain = await unstaged(() => contended(policy));
    assert.deepEqual(staged, plain, policy);
    // The backends did share the VCPU: slices waited for it.
    assert.ok(staged.vcpus.some((v) => v.waitNs > 0), policy);
  }
});

/**
 * A split guest closes its event channel while dom0 serves its doorbells: the
 * backend's event is dropped (`evtchn_send` on the now unbound port), and the
 * guest, which closed its own port, hears nothing more.
 */
async function portClosed() {
  const { cluster, xen, vm } = await oneSplitGuest(5);
  const out = await cluster.run(async () => {
    const { cq, qp } = await initQp(vm, 16);
    for (let i = 0; i < 6; i++) qp.postRecv([{ wrId: BigInt(i), sgList: [] }]);
    cq.poll(); // a POLL_CQ with a response awaited: the guest asks for an event
    await cluster.engine.sleep(3_000); // dom0 is serving the doorbells by now
    const rc = (await (xen.platform as XenPlatform).hv.hypercall(vm.xen, "event_channel_op:close", {
      port: vm.front.port,
    })).rc;
    await cluster.engine.sleep(200_000);
    return { rc, now: cluster.now };
  });
  const back = (xen.platform as XenPlatform).backend!.instances().get(vm.domid!)!;
  return {
    ...out,
    hash: cluster.engine.traceHash(),
    closeReason: back.closeReason,
    counters: xen.counters(),
  };
}

Deno.test("split staged doorbells: the frontend's port closed under the backend's event, same as unstaged", async () => {
  const staged = await portClosed();
  const plain = await unstaged(portClosed);
  assert.deepEqual(staged, plain);
  assert.equal(staged.rc, 0);
  // The backend is not told (Xen drops the send): it keeps the device until the guest's xenbus
  // state or its death says otherwise, as netback and blkback do.
  assert.equal(staged.closeReason, undefined);
});
