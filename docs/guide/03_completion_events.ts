// Completion events: a receiver that sleeps on a completion channel instead of polling.
import {
  Access,
  Cluster,
  connectPair,
  type Cq,
  type Domain,
  type Host,
  QpType,
  SendFlags,
  WcStatus,
  WrOpcode,
} from "../xenib/mod.ts";

/** ibv's event loop: poll; arm; poll again (a completion before the arm raises no event); sleep. */
async function nextCompletion(cq: Cq) {
  for (;;) {
    const [wc] = cq.poll(1);
    if (wc) return wc;
    cq.reqNotify(false); // solicitedOnly = false: an event for the next completion of any kind
    const [raced] = cq.poll(1);
    if (raced) return raced;
    const woken = await cq.channel!.getEvent(); // the thread sleeps until the event arrives
    woken.ackEvents(1); // acknowledge every event taken, as ibv_ack_cq_events(3) requires
  }
}

async function oneMessage(virtualized: boolean) {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
  const hosts: Host[] = ["node0", "node1"].map((name) =>
    cluster.addHost({ name, hypervisor: virtualized })
  );
  await cluster.start();
  const doms: Domain[] = [];
  for (const [i, h] of hosts.entries()) {
    doms.push(virtualized ? await h.createGuest({ name: `vm${i}`, driver: "bypass" }) : h.os);
  }
  return await cluster.run(async () => {
    const ends = [];
    for (const dom of doms) {
      const ctx = await dom.openDevice();
      const pd = await ctx.allocPd();
      const channel = ctx.createCompChannel();
      const cq = await ctx.createCq(16, { channel }); // this CQ's events go to the channel
      const buf = dom.memory.alloc(4096, 4096);
      const mr = await pd.regMr(buf, 4096, Access.LOCAL_WRITE);
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 },
      });
      ends.push({ dom, buf, mr, cq, qp, lid: ctx.queryPort(1).lid });
    }
    const [a, b] = ends;
    await connectPair(a, b);
    b.qp.postRecv({ wrId: 7n, sgList: [{ addr: b.buf, length: 64, lkey: b.mr.lkey }] });
    const receiver = cluster.spawn("receiver", () => nextCompletion(b.cq));
    await cluster.sleep(10_000); // let the receiver fall asleep first
    const before = hosts[1].counters();
    const t0 = cluster.now;
    a.qp.postSend({
      wrId: 1n,
      opcode: WrOpcode.SEND,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: a.buf, length: 64, lkey: a.mr.lkey }],
    });
    const wc = await receiver;
    const woke = cluster.now - t0;
    const after = hosts[1].counters();
    if (wc.status !== WcStatus.SUCCESS) throw new Error(`receive failed: ${wc.status}`);
    return {
      where: virtualized ? "bypass guests" : "bare metal",
      wrId: wc.wrId,
      byteLen: wc.byteLen,
      wokeUs: woke / 1000,
      evtchnSends: after.evtchnSends - before.evtchnSends,
      dom0BusyUs: (after.dom0BusyNs - before.dom0BusyNs) / 1000,
    };
  });
}

for (const virtualized of [false, true]) {
  const r = await oneMessage(virtualized);
  console.log(
    `${r.where}: receive ${r.wrId} (${r.byteLen} B) seen ${r.wokeUs} µs after the send; ` +
      `receiver's host: ${r.evtchnSends} event-channel sends, dom0 busy ${r.dom0BusyUs} µs`,
  );
}
