// The same 100 RDMA WRITEs from bypass guests and from split-driver guests, with dom0's counters.
import {
  Access,
  Cluster,
  connectPair,
  type Domain,
  QpType,
  SendFlags,
  WcStatus,
  WrOpcode,
} from "../xenib/mod.ts";

async function hundredWrites(driver: "bypass" | "split") {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  const node0 = cluster.addHost({ name: "node0", hypervisor: true });
  const node1 = cluster.addHost({ name: "node1", hypervisor: true });
  await cluster.start();
  const vms = [
    await node0.createGuest({ name: "vm0", driver }),
    await node1.createGuest({ name: "vm1", driver }),
  ];
  const ends = await cluster.run(() =>
    Promise.all(vms.map(async (vm: Domain) => {
      const ctx = await vm.openDevice();
      const pd = await ctx.allocPd();
      const buf = vm.memory.alloc(4096, 4096);
      const mr = await pd.regMr(buf, 4096, Access.LOCAL_WRITE | Access.REMOTE_WRITE);
      const cq = await ctx.createCq(16);
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 16, maxRecvWr: 16, maxSendSge: 1, maxRecvSge: 1 },
      });
      return { buf, mr, cq, qp, lid: ctx.queryPort(1).lid };
    }))
  );
  await cluster.run(() => connectPair(ends[0], ends[1]));

  const before = node0.counters(); // the control path so far did cross dom0: count from here
  const t0 = cluster.now;
  await cluster.run(async () => {
    const [a, b] = ends;
    for (let i = 0; i < 100; i++) {
      a.qp.postSend({
        wrId: BigInt(i),
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: a.buf, length: 64, lkey: a.mr.lkey }],
        remoteAddr: b.buf,
        rkey: b.mr.rkey,
      });
      const [wc] = await a.cq.pollUntil(1);
      if (wc.status !== WcStatus.SUCCESS) throw new Error(`write ${i}: status ${wc.status}`);
    }
  });
  const after = node0.counters();
  const moved = (k: "hypercalls" | "evtchnSends" | "backendRequests") => after[k] - before[k];
  const kinds = Object.entries(after.byKind.backendRequests)
    .map(([kind, n]) => [kind, n - (before.byKind.backendRequests[kind] ?? 0)] as const)
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${kind} ${n}`);
  console.log(
    `${driver.padEnd(6)} ${((cluster.now - t0) / 100 / 1000).toFixed(2)} µs per write; node0: ` +
      `${moved("hypercalls")} hypercalls, ${moved("evtchnSends")} event-channel sends, ` +
      `${moved("backendRequests")} backend requests (${kinds.join(", ") || "none"}), ` +
      `dom0 busy ${((after.dom0BusyNs - before.dom0BusyNs) / 1000).toFixed(1)} µs`,
  );
}

await hundredWrites("bypass");
await hundredWrites("split");
