// What a guest costs the host: HCA resources (hca.stats), virtualization work (counters), teardown.
import { Access, Cluster, connectPair, QpType, SendFlags, WrOpcode } from "../xenib/mod.ts";

const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
const xen = cluster.addHost({ name: "node0", hypervisor: true });
await cluster.start();

const show = (when: string) => {
  const { used, packetsSent, packetsReceived, doorbellsRejected } = xen.hca.stats();
  console.log(
    `${when.padEnd(15)} used: ${
      Object.entries(used).map(([k, n]) => `${k} ${n}`).join(", ")
    }; packets ${packetsSent}/${packetsReceived}; rejected doorbells ${doorbellsRejected}`,
  );
};
show("dom0 only");

const vm = await xen.createGuest({ name: "vm0", memoryMiB: 64, driver: "bypass" });
console.log(`guests: ${xen.guests.map((g) => `${g.name} (domid ${g.domid})`).join(", ")}`);
show("guest booted");

await cluster.run(async () => {
  const ctx = await vm.openDevice();
  const pd = await ctx.allocPd();
  const buf = vm.memory.alloc(8 * 4096, 4096);
  const mr = await pd.regMr(buf, 8 * 4096, Access.LOCAL_WRITE | Access.REMOTE_WRITE);
  const cq = await ctx.createCq(64);
  const qp = await pd.createQp({
    type: QpType.RC,
    sendCq: cq,
    recvCq: cq,
    cap: { maxSendWr: 16, maxRecvWr: 16, maxSendSge: 1, maxRecvSge: 1 },
  });
  const self = { qp, lid: ctx.queryPort(1).lid };
  await connectPair(self, self); // loopback: the QP talks to itself through its port
  qp.postSend({
    wrId: 1n,
    opcode: WrOpcode.RDMA_WRITE,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: buf, length: 4096, lkey: mr.lkey }],
    remoteAddr: buf + 4096,
    rkey: mr.rkey,
  });
  await cq.pollUntil(1);
});
show("guest working");

const c = xen.counters();
console.log(
  `counters: ${c.hypercalls} hypercalls, ${c.evtchnSends} event-channel sends, ` +
    `${c.backendRequests} backend requests, ${c.grantMaps} grant maps, dom0 busy ${c.dom0BusyNs} ns`,
);
const byKind = (m: Record<string, number>) =>
  Object.entries(m).map(([k, n]) => `${k} ${n}`).join(", ");
console.log(`backend requests by kind: ${byKind(c.byKind.backendRequests)}`);
console.log(`hypercalls by kind: ${byKind(c.byKind.hypercalls)}`);
console.log(`hypervisor: ${JSON.stringify(xen.hypervisor!.stats())}`);

await vm.shutdown(); // the backend tears down everything the guest had (vm.crash() would too)
show("guest shut down");
console.log(`guests: ${xen.guests.length}`);
