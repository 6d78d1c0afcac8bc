// Two Xen hosts, a bypass guest on each, and one RDMA WRITE from vm0's memory into vm1's.
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

const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
const node0 = cluster.addHost({ name: "node0", hypervisor: true });
const node1 = cluster.addHost({ name: "node1", hypervisor: true });
await cluster.start(); // cables, dom0s, subnet manager: LIDs assigned, ports ACTIVE
const vm0 = await node0.createGuest({ name: "vm0", memoryMiB: 64, driver: "bypass" });
const vm1 = await node1.createGuest({ name: "vm1", memoryMiB: 64, driver: "bypass" });

// What each guest sets up: device context, protection domain, a registered buffer, a CQ, a QP.
async function setUp(vm: Domain) {
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
}

// Every verbs call that waits runs in virtual time: inside cluster.run.
await cluster.run(async () => {
  const a = await setUp(vm0);
  const b = await setUp(vm1);
  await connectPair(a, b); // each QP: RESET → INIT → RTR → RTS, toward the other
  console.log(`set up: QP ${a.qp.qpNum} (LID ${a.lid}) ↔ QP ${b.qp.qpNum} (LID ${b.lid})`);
  console.log(`virtual time: ${(cluster.now / 1000).toFixed(1)} µs`);

  const message = new TextEncoder().encode("hello from vm0");
  vm0.memory.write(a.buf, message);
  const before = node0.counters();
  const t0 = cluster.now;
  a.qp.postSend({
    wrId: 1n,
    opcode: WrOpcode.RDMA_WRITE,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: a.buf, length: message.length, lkey: a.mr.lkey }],
    remoteAddr: b.buf,
    rkey: b.mr.rkey,
  });
  const [wc] = await a.cq.pollUntil(1);
  if (wc.status !== WcStatus.SUCCESS) throw new Error(`RDMA WRITE failed: status ${wc.status}`);
  const after = node0.counters();
  console.log(`RDMA WRITE of ${message.length} B completed in ${(cluster.now - t0) / 1000} µs`);
  console.log(`vm1 reads: "${new TextDecoder().decode(vm1.memory.read(b.buf, message.length))}"`);
  console.log(
    `node0 during the write: ${after.hypercalls - before.hypercalls} hypercalls, ` +
      `${after.backendRequests - before.backendRequests} dom0 backend requests`,
  );
});
