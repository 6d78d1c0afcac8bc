/**
 * Connection-manager messages forged by another domain (DESIGN §9: a guest
 * cannot affect another domain's connections). Each domain's kernel runs
 * its connection manager on an ordinary UD QP (`docs/rdma_cm.md`: there is
 * no QP1, whose controlled Q_Key would keep unprivileged senders out, IBTA
 * vol. 1 §10.2.4), so any guest can reach another's service: ARP gives its
 * address, `encodeCm` builds the MAD, and communication IDs are small
 * integers handed out in order. A DREQ naming the victim's IDs used to
 * tear down the victim's established connection. Now a message speaks for
 * a connection only when it comes from the peer's service (the HCA stamps
 * the sender's LID and QPN; no guest can forge them) and names both IDs as
 * the connection knows them (Linux `cm_acquire_id`).
 */
import assert from "node:assert/strict";
import {
  Cluster,
  CM_AGENT_MAX_QUEUED_ANSWERS,
  type CmEvent,
  type CmId,
  type CmReq,
  type Domain,
  encodeCm,
  type EventChannel,
  QpType,
  RdmaCmEvent,
} from "../../mod.ts";
import { cluster, connect, counts, end, guest, xenOf } from "../xenib_support.ts";
import { checksum, type Scene, verdict, VICTIM_BYTE } from "./support.ts";

const PORT = 18515;
/** A management service's send slots (drivers/verbs/cm_agent.ts). */
const SLOTS = 32;

/**
 * The hostile suite's scene with the hosts the other way round: the bare-metal host first, so
 * that the subnet manager and its administrator (which answers route queries) are there, and
 * dom0 starts no connection-manager service of its own that would stay after the guests.
 */
async function sceneWithSmOnBareMetal(victimDriver: "bypass" | "split" = "bypass"): Promise<Scene> {
  const { cluster: c, hosts } = await cluster([false, true], 11);
  const [bare, xen] = hosts;
  const before = { counts: counts(xen), frames: xen.hw.memory.allocated };
  const vm = await guest(xen, "victim", victimDriver);
  const evil = await guest(xen, "evil");
  const { e, peer } = await c.run(async () => {
    const e = await end(vm), peer = await end(bare.os);
    await connect(e, peer);
    vm.memory.write(e.buf, new Uint8Array(4096).fill(VICTIM_BYTE));
    return { e, peer };
  });
  const victim = { vm, end: e, peer, sum: checksum(vm) };
  return { cluster: c, xen, bare, hv: xenOf(xen).hv, before, victim, evil };
}

async function rcQp(id: CmId) {
  const ctx = id.verbs!;
  const pd = await ctx.allocPd();
  const cq = await ctx.createCq(16);
  const cap = { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 };
  return await id.createQp(pd, { type: QpType.RC, sendCq: cq, recvCq: cq, cap });
}

async function next(ch: EventChannel, want: number): Promise<CmEvent> {
  const ev = await ch.getEvent();
  assert.equal(ev.type, want, `event ${ev.type}, expected ${want}`);
  ev.ack();
  return ev;
}

/** An id of `from`'s with its address and route to `to`'s listening port resolved. */
async function routeTo(from: Domain, to: Domain): Promise<{ ch: EventChannel; id: CmId }> {
  const ch = from.rdmaCm.createEventChannel();
  const id = await ch.createId();
  await id.resolveAddr({ ip: to.rdmaCm.ip, port: PORT });
  await next(ch, RdmaCmEvent.ADDR_RESOLVED);
  await id.resolveRoute();
  await next(ch, RdmaCmEvent.ROUTE_RESOLVED);
  return { ch, id };
}

/** `id` (its route resolved) gets a QP and connects; the listener's side accepts: both ESTABLISHED. */
async function connectAccepted(
  client: { ch: EventChannel; id: CmId },
  sch: EventChannel,
): Promise<CmEvent> {
  await rcQp(client.id);
  await client.id.connect();
  const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
  await rcQp(req.id);
  await req.id.accept();
  await next(client.ch, RdmaCmEvent.ESTABLISHED);
  await next(sch, RdmaCmEvent.ESTABLISHED);
  return req;
}

Deno.test("cm forgery: another guest's DREQs and REJs do not touch the victim's connection", async () => {
  const s = await sceneWithSmOnBareMetal();
  const { evil, victim } = s;
  const vm = victim.vm, srv = s.bare.os;
  await s.cluster.run(async () => {
    // The victim connects to a server on the other host.
    const sch = srv.rdmaCm.createEventChannel();
    const listener = await sch.createId();
    await listener.bindAddr({ ip: srv.rdmaCm.ip, port: PORT });
    await listener.listen(4);
    const { ch, id } = await routeTo(vm, srv);
    const req = await connectAccepted({ ch, id }, sch);

    // The attacker's kernel: its own service, the victim's and the server's addresses by ARP,
    // and every DREQ and REJ for the first IDs, to both ends of the connection.
    const agent = await evil.rdmaCm.agent();
    const targets = [
      (await agent.arp(vm.rdmaCm.ip, 1e9))!,
      (await agent.arp(srv.rdmaCm.ip, 1e9))!,
    ];
    assert.ok(targets.every((t) => t !== undefined), "ARP answers anyone");
    let tid = 1n;
    for (const to of targets) {
      for (let local = 0; local < 8; local++) {
        for (let remote = 1; remote < 8; remote++) {
          const ids = { localCommId: local, remoteCommId: remote };
          await agent.send(to, encodeCm({ kind: "DREQ", ...ids, remoteQpn: 0 }, tid++));
          await agent.send(
            to,
            encodeCm({ kind: "REJ", ...ids, messageRejected: 0, reason: 28 }, tid++),
          );
        }
      }
    }
    // A REQ claiming the victim's QP and CA GUID (its host's: the attacker's too): ib_cm would
    // take it for the victim reusing its QP and DREQ the victim's connection as stale
    // (cm_match_req); here a connection is stale only when its own peer's service says so.
    const victimQp = {
      localQpn: id.qp!.qpNum,
      localCaGuid: BigInt(`0x${id.verbs!.queryDevice().nodeGuid}`),
    };
    const srvAgent = targets[1];
    await agent.send(
      srvAgent,
      encodeCm({ ...forgedReq(srv.rdmaCm.ip, PORT + 1, 1, srvAgent.lid), ...victimQp }, tid++),
    );
    await s.cluster.sleep(2_000_000);
    assert.equal(ch.pending, 0, "the victim heard nothing");
    assert.equal(sch.pending, 0, "nor did its server");
    assert.equal(id.state, "established");
    assert.equal(req.id.state, "established");

    // The real peer still speaks for the connection: its disconnect reaches the victim.
    await req.id.disconnect();
    await next(ch, RdmaCmEvent.DISCONNECTED);
    await id.disconnect();
    await next(sch, RdmaCmEvent.DISCONNECTED);
    await id.destroy();
    await req.id.destroy();
    await listener.destroy();
    victim.sum = checksum(vm); // its own connection wrote its memory
    await verdict(s);
  });
});

/** A REQ from `agent`'s service to port `port` of `ip`, as a client's cma builds it, with `commId`. */
function forgedReq(ip: string, port: number, commId: number, lid: number): CmReq {
  const pdata = new Uint8Array(92); // the REQ's private data: the cma header, then the client's
  const hdr = new DataView(pdata.buffer);
  hdr.setUint8(1, 4 << 4); // IPv4
  hdr.setUint16(2, 40_000 + commId);
  hdr.setUint32(16, 0x0a0000fe);
  hdr.setUint32(32, ip.split(".").reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0));
  const gid = new Uint8Array(16);
  return {
    kind: "REQ",
    localCommId: commId,
    serviceId: 0x0000000001060000n | BigInt(port),
    localCaGuid: 1n,
    localQpn: 0x400 + commId,
    responderResources: 0,
    initiatorDepth: 0,
    remoteCmResponseTimeout: 20,
    transportType: 0,
    startingPsn: 1,
    localCmResponseTimeout: 20,
    retryCount: 7,
    pkey: 0xffff,
    pathMtu: 4,
    rnrRetryCount: 7,
    maxCmRetries: 15,
    primaryLocalLid: lid,
    primaryRemoteLid: lid,
    primaryLocalGid: gid,
    primaryRemoteGid: gid,
    packetRate: 3,
    trafficClass: 0,
    hopLimit: 0,
    sl: 0,
    localAckTimeout: 19,
    privateData: pdata,
  };
}

Deno.test("cm forgery: a REQ flood holds a victim's listener to its backlog, and its clients still connect", async () => {
  // ucma_listen and ucma_event_handler: at most the backlog's connection requests wait unread;
  // one more is dropped without a REJ (cm_destroy_id, IB_CM_REQ_RCVD with -ENOMEM). The victim's
  // connection manager made an id and queued an event for every REQ another guest sent.
  const s = await sceneWithSmOnBareMetal();
  const { evil, victim } = s;
  const vm = victim.vm, client = s.bare.os;
  await s.cluster.run(async () => {
    const sch = vm.rdmaCm.createEventChannel();
    const listener = await sch.createId();
    await listener.bindAddr({ ip: vm.rdmaCm.ip, port: PORT });
    await listener.listen(4);
    const agent = await evil.rdmaCm.agent();
    const to = (await agent.arp(vm.rdmaCm.ip, 1e9))!;
    for (let i = 1; i <= 200; i++) {
      await agent.send(to, encodeCm(forgedReq(vm.rdmaCm.ip, PORT, i, to.lid), BigInt(i)));
      await s.cluster.sleep(20_000); // paced: the victim's service takes each one in
    }
    await s.cluster.sleep(2_000_000);
    assert.equal(sch.pending, 4, "the listener holds its backlog of requests, no more");

    // The victim's server reads and rejects what it holds; a real client then connects.
    const { ch, id } = await routeTo(client, vm);
    await rcQp(id);
    await id.connect(); // its REQ finds the backlog full: dropped, retried by its cm
    const forged: CmId[] = [];
    for (let i = 0; i < 4; i++) {
      const ev = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
      await ev.id.reject();
      forged.push(ev.id);
    }
    const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
    assert.equal(req.param?.qpNum, id.qp!.qpNum, "the real client's retried REQ got in");
    await rcQp(req.id);
    await req.id.accept();
    await next(ch, RdmaCmEvent.ESTABLISHED);
    await next(sch, RdmaCmEvent.ESTABLISHED);
    await id.disconnect();
    await next(sch, RdmaCmEvent.DISCONNECTED);
    await next(ch, RdmaCmEvent.DISCONNECTED);
    for (const f of forged) await f.destroy();
    await req.id.destroy();
    await id.destroy();
    await listener.destroy();
    victim.sum = checksum(vm); // its own listener and connection wrote its memory
    await verdict(s);
  });
});

/** A listener with a backlog of 4 on `dom`'s address and the test's port. */
async function listenOn(dom: Domain): Promise<{ sch: EventChannel; listener: CmId }> {
  const sch = dom.rdmaCm.createEventChannel();
  const listener = await sch.createId();
  await listener.bindAddr({ ip: dom.rdmaCm.ip, port: PORT });
  await listener.listen(4);
  return { sch, listener };
}

/**
 * The honest connection of a flood test ends: the client disconnects, both sides hear it, the ids
 * go, and the scene's verdict holds (the victim's own connection wrote its memory).
 */
async function closeHonest(
  s: Scene,
  client: { ch: EventChannel; id: CmId },
  server: { sch: EventChannel; req: CmId; listener: CmId },
): Promise<void> {
  await client.id.disconnect();
  await next(server.sch, RdmaCmEvent.DISCONNECTED);
  await next(client.ch, RdmaCmEvent.DISCONNECTED);
  await server.req.disconnect();
  await client.id.destroy();
  await server.req.destroy();
  await server.listener.destroy();
  s.victim.sum = checksum(s.victim.vm);
  await verdict(s);
}

for (const driver of ["bypass", "split"] as const) {
  Deno.test(`cm forgery: a burst of messages that each get an answer does not stop the victim's service (${driver})`, async () => {
    const s = await sceneWithSmOnBareMetal(driver);
    const { evil, victim } = s;
    const vm = victim.vm, srv = s.bare.os;
    await s.cluster.run(async () => {
      const { sch, listener } = await listenOn(srv);
      const ch = vm.rdmaCm.createEventChannel();
      const id = await ch.createId();
      await id.resolveAddr({ ip: srv.rdmaCm.ip, port: PORT });
      await next(ch, RdmaCmEvent.ADDR_RESOLVED);
      // 200 DREQs for connections the victim's CM does not have: each is answered with a DREP
      // (IBTA §12.9.8.x), more answers than the service has send slots. Its receive loop used to
      // wait for a free slot, which only that loop frees: the service stopped for good after
      // some 35 messages, and every rdma_cm call of the victim after it hung.
      const agent = await evil.rdmaCm.agent();
      const to = (await agent.arp(vm.rdmaCm.ip, 1e9))!;
      const ids = (i: number) => ({ localCommId: 100 + i, remoteCommId: 9999, remoteQpn: 0 });
      await Promise.all(
        Array.from(
          { length: 200 },
          (_, i) => agent.send(to, encodeCm({ kind: "DREQ", ...ids(i) }, BigInt(i))),
        ),
      );
      await s.cluster.sleep(20_000_000);
      const served = await vm.rdmaCm.agent();
      assert.ok(served.received > 40, `the victim's service took ${served.received} messages`);
      assert.equal(served.sent, served.received, "and answered each");
      // The victim's service works: it resolves its route and connects.
      await id.resolveRoute();
      await next(ch, RdmaCmEvent.ROUTE_RESOLVED);
      const req = await connectAccepted({ ch, id }, sch);
      await closeHonest(s, { ch, id }, { sch, req: req.id, listener });
    });
  });
}

for (const driver of ["bypass", "split"] as const) {
  Deno.test(`cm forgery: a sustained flood of messages that each need an answer holds the victim's send overflow to its limit, and honest peers still connect (${driver})`, async () => {
    // ib_mad queues a MAD posted while the send queue is full on its overflow_list, which has
    // no bound of its own: Linux's bound is the GFP_ATOMIC allocation of each answer, which
    // fails under memory pressure and leaves the message unanswered (cm_issue_rej and
    // cm_issue_drep return the error). The model has no memory pressure, so the service holds
    // at most CM_AGENT_MAX_QUEUED_ANSWERS answers waiting for a send slot and drops the rest,
    // as a lost datagram: the asker's retry covers it.
    const s = await sceneWithSmOnBareMetal(driver);
    const { evil, victim } = s;
    const vm = victim.vm, client = s.bare.os;
    await s.cluster.run(async () => {
      const { sch, listener } = await listenOn(vm);
      const served = await vm.rdmaCm.agent();
      const agent = await evil.rdmaCm.agent();
      const to = (await agent.arp(vm.rdmaCm.ip, 1e9))!;
      // An honest client resolves the victim's address and its route (ARP has no retries
      // here), then connects while the flood goes on: its REQ is retried as the CM does.
      const { ch, id } = await routeTo(client, vm);
      // 4000 DREQs for connections the victim does not have, each answered with a DREP,
      // eight at a time every 2 µs: the victim's receive queue stays full.
      const flood = s.cluster.spawn("flood", async () => {
        for (let i = 0; i < 4000; i++) {
          const ids = { localCommId: 100 + i, remoteCommId: 9999, remoteQpn: 0 };
          await agent.send(to, encodeCm({ kind: "DREQ", ...ids }, BigInt(i)));
          if (i % 8 === 7) await s.cluster.sleep(2_000);
        }
      });
      const req = await connectAccepted({ ch, id }, sch);
      await flood;
      await s.cluster.sleep(50_000_000);
      assert.ok(served.received > 500, `the victim's service took ${served.received} messages`);
      assert.ok(
        served.queuedPeak <= CM_AGENT_MAX_QUEUED_ANSWERS,
        `at most ${CM_AGENT_MAX_QUEUED_ANSWERS} answers waited for a send slot (${served.queuedPeak})`,
      );
      assert.equal(served.queued, 0, "nothing left waiting");
      await closeHonest(s, { ch, id }, { sch, req: req.id, listener });
    });
  });
}

Deno.test("cm forgery: with every send slot in use, at most CM_AGENT_MAX_QUEUED_ANSWERS answers wait and the rest are dropped; the service's own requests always wait", async () => {
  // The limit itself: 100 answers and 10 requests handed to a service at once, before any send
  // completes. The 32 send slots take the first 32; 32 answers wait, 36 are dropped and counted;
  // the 10 requests wait too; everything that waited goes out as sends complete.
  const c = new Cluster({ profile: "pcix-sdr-2006", seed: 3 });
  const [a, b] = ["a", "b"].map((name) => c.addHost({ name, hypervisor: false }).os);
  await c.start();
  await c.run(async () => {
    const agent = await a.rdmaCm.agent();
    const to = await b.rdmaCm.agentAddress();
    const drep = (i: number) => encodeCm({ kind: "DREP", localCommId: i, remoteCommId: 1 }, 1n);
    const sent0 = agent.sent;
    await Promise.all([
      ...Array.from({ length: 100 }, (_, i) => agent.send(to, drep(i), true)),
      ...Array.from({ length: 10 }, (_, i) => agent.send(to, drep(1000 + i))),
    ]);
    assert.equal(agent.answersDropped, 100 - SLOTS - CM_AGENT_MAX_QUEUED_ANSWERS);
    assert.equal(agent.queuedPeak, CM_AGENT_MAX_QUEUED_ANSWERS + 10);
    await c.sleep(10_000_000);
    assert.equal(agent.queued, 0);
    assert.equal(agent.sent - sent0, SLOTS + CM_AGENT_MAX_QUEUED_ANSWERS + 10);
  });
});
