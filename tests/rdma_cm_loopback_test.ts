// rdma_cm's loopback addresses (drivers/verbs/rdma_cm.ts): rdma_resolve_addr to 127.0.0.1 or
// 0.0.0.0 (cma_any_addr: the zero network and 127.0.0.0/8) resolves locally, as cma.c's
// cma_resolve_loopback does — the id is bound to the first device with an active port
// (cma_bind_loopback: GID index 0, P_Key index 0, source address 127.0.0.1), the destination
// GID is the source GID, ADDR_RESOLVED comes from a work item, no ARP goes out. A REQ whose cma
// header names a loopback or zero address is refused by the passive side's validate_net_dev
// (REJECTED 28); the domain's own IPoIB address connects to a listener on the same HCA and moves
// data through the HCA's port. The same in native, bypass and split domains.
import assert from "node:assert/strict";
import {
  Access,
  Cluster,
  type CmId,
  type Domain,
  Engine,
  type EventChannel,
  PortState,
  QpState,
  RdmaCmEvent,
  SendFlags,
  VerbsError,
  WcStatus,
  WrOpcode,
} from "../mod.ts";
import { AddressSpace, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
import { Domain as BareDomain } from "../platform/domain.ts";
import { decodeArp } from "../drivers/verbs/ipoib.ts";
import { decodePacket } from "../hca/packet.ts";
import { MODES, next, pair, rcQp } from "./support/rdma_cm.ts";

const PORT = 7000;

/** A listener on 0.0.0.0:PORT of `d` (as rping's server binds). */
async function listenAny(d: Domain): Promise<{ ch: EventChannel; listener: CmId }> {
  const ch = d.rdmaCm.createEventChannel();
  const listener = await ch.createId();
  await listener.bindAddr({ ip: "0.0.0.0", port: PORT });
  await listener.listen(4);
  return { ch, listener };
}

/** Count the ARP frames the fabric carries from now on. */
function countArp(
  cluster: { fabric: { addCapture(h: (r: { bytes: Uint8Array }) => void): void } },
) {
  const seen = { arp: 0 };
  cluster.fabric.addCapture((r) => {
    const d = decodePacket(r.bytes);
    if (d.ok && decodeArp(d.packet.payload)) seen.arp++;
  });
  return seen;
}

for (const mode of MODES) {
  for (const dst of ["127.0.0.1", "0.0.0.0"]) {
    Deno.test(`rdma_cm ${mode}: rdma_resolve_addr to ${dst} resolves locally (cma_resolve_loopback): source 127.0.0.1, dgid = sgid, no ARP; a REQ to it is refused 28 (validate_net_dev)`, async () => {
      const { cluster, a } = await pair(mode);
      await cluster.run(async () => {
        const { ch: sch } = await listenAny(a);
        const ch = a.rdmaCm.createEventChannel();
        const id = await ch.createId();
        const wire = countArp(cluster);
        await id.resolveAddr({ ip: dst, port: PORT });
        assert.equal(id.state, "addr_query");
        const ev = await next(ch, RdmaCmEvent.ADDR_RESOLVED);
        assert.equal(ev.status, 0);
        ev.ack();
        assert.equal(wire.arp, 0, "no ARP for a loopback address");
        // cma_bind_loopback: the id (bound to the zero address by rdma_resolve_addr's implicit
        // bind) takes the first device with an active port and 127.0.0.1 as its source.
        assert.equal(id.localAddr!.ip, "127.0.0.1");
        assert.equal(id.localAddr!.port, 32768);
        assert.deepEqual(id.remoteAddr, { ip: dst, port: PORT });
        assert.equal(id.verbs, await a.rdmaCm.context());
        assert.equal(id.portNum, 1);
        // The route: the SA's path from the port to itself, in the P_Key of index 0.
        await id.resolveRoute();
        (await next(ch, RdmaCmEvent.ROUTE_RESOLVED)).ack();
        const gid0 = await id.verbs!.queryGid(1, 0);
        const lid = id.verbs!.queryPort(1).lid;
        assert.deepEqual([id.route!.sgid, id.route!.dgid], [gid0, gid0]);
        assert.deepEqual([id.route!.slid, id.route!.dlid, id.route!.pkey], [lid, lid, 0xffff]);
        // The REQ carries 127.0.0.1 → dst in its cma header: the passive side finds ib0 by GID
        // and P_Key, and validate_ipv4_net_dev refuses a loopback or zero address
        // (-EHOSTUNREACH), so ib_cm rejects the REQ "consumer defined" (28).
        const { qp } = await rcQp(id);
        await id.connect();
        const rej = await next(ch, RdmaCmEvent.REJECTED);
        assert.equal(rej.status, 28);
        rej.ack();
        assert.equal(qp.state, QpState.ERR);
        assert.equal(sch.pending, 0, "the listener was handed no request");
      });
    });
  }

  Deno.test(`rdma_cm ${mode}: the domain's own address connects to a listener on the same HCA; data goes through the port to its own LID, byte for byte`, async () => {
    const { cluster, a } = await pair(mode);
    await cluster.run(async () => {
      const { ch: sch } = await listenAny(a);
      const msg = new TextEncoder().encode("loopback through the HCA's own port!");
      const server = cluster.spawn("server", async () => {
        const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
        const r = await rcQp(req.id);
        const mr = await r.pd.regMr(a.memory.alloc(4096, 4096), 4096, Access.LOCAL_WRITE);
        r.qp.postRecv({ wrId: 5n, sgList: [{ addr: mr.addr, length: 64, lkey: mr.lkey }] });
        await req.id.accept({});
        req.ack();
        (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
        const [wc] = await r.cq.pollUntil(1);
        assert.deepEqual([wc.status, wc.byteLen], [WcStatus.SUCCESS, msg.length]);
        return { got: a.memory.read(mr.addr, msg.length), qpn: r.qp.qpNum };
      });
      const ch = a.rdmaCm.createEventChannel();
      const id = await ch.createId();
      const wire = countArp(cluster);
      await id.resolveAddr({ ip: a.rdmaCm.ip, port: PORT }, { timeoutMs: 0 });
      (await next(ch, RdmaCmEvent.ADDR_RESOLVED)).ack();
      assert.equal(wire.arp, 0, "the local route: no ARP");
      assert.equal(id.localAddr!.ip, a.rdmaCm.ip);
      await id.resolveRoute();
      (await next(ch, RdmaCmEvent.ROUTE_RESOLVED)).ack();
      const res = await rcQp(id);
      await id.connect();
      (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
      const lid = id.verbs!.queryPort(1).lid;
      const sends: { dlid: number; slid: number; destQp: number; payload: Uint8Array }[] = [];
      cluster.fabric.addCapture((r) => {
        const d = decodePacket(r.bytes);
        if (d.ok && d.packet.payload.length === msg.length) {
          const p = d.packet;
          sends.push({
            dlid: p.lrh.dlid,
            slid: p.lrh.slid,
            destQp: p.bth.destQp,
            payload: p.payload,
          });
        }
      });
      const mr = await res.pd.regMr(a.memory.alloc(4096, 4096), 4096, Access.LOCAL_WRITE);
      a.memory.write(mr.addr, msg);
      res.qp.postSend({
        wrId: 1n,
        opcode: WrOpcode.SEND,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: mr.addr, length: msg.length, lkey: mr.lkey }],
      });
      const [wc] = await res.cq.pollUntil(1);
      assert.equal(wc.status, WcStatus.SUCCESS);
      const { got, qpn } = await server;
      assert.deepEqual(got, msg);
      assert.ok(sends.length >= 1);
      for (const s of sends) {
        assert.deepEqual([s.dlid, s.slid, s.destQp], [lid, lid, qpn]);
        assert.deepEqual(s.payload, msg);
      }
    });
  });
}

Deno.test("rdma_cm: an id bound to the domain's address keeps it and its device when it resolves 127.0.0.1 (cma_resolve_loopback without cma_bind_loopback)", async () => {
  const { cluster, a } = await pair("native");
  await cluster.run(async () => {
    const ch = a.rdmaCm.createEventChannel();
    const id = await ch.createId();
    await id.bindAddr({ ip: a.rdmaCm.ip, port: 0 });
    const verbs = id.verbs;
    await id.resolveAddr({ ip: "127.0.0.1", port: PORT });
    (await next(ch, RdmaCmEvent.ADDR_RESOLVED)).ack();
    assert.equal(id.localAddr!.ip, a.rdmaCm.ip);
    assert.equal(id.verbs, verbs);
  });
});

Deno.test("rdma_cm: rdma_bind_addr to 127.0.0.1 binds no device (cma_any_addr), and resolving from it binds the loopback", async () => {
  const { cluster, a } = await pair("native");
  await cluster.run(async () => {
    const ch = a.rdmaCm.createEventChannel();
    const id = await ch.createId();
    await id.bindAddr({ ip: "127.0.0.1", port: 0 });
    assert.equal(id.state, "addr_bound");
    assert.equal(id.verbs, undefined);
    await id.resolveAddr({ ip: "0.0.0.0", port: PORT });
    (await next(ch, RdmaCmEvent.ADDR_RESOLVED)).ack();
    assert.equal(id.localAddr!.ip, "127.0.0.1");
    assert.ok(id.verbs);
  });
});

Deno.test("rdma_cm: a 0 ms timeout resolves a loopback or own address (no check in the kernel); another address still needs a positive one", async () => {
  const { cluster, a, b } = await pair("native");
  await cluster.run(async () => {
    const ch = a.rdmaCm.createEventChannel();
    const t0 = cluster.now;
    const id = await ch.createId();
    await id.resolveAddr({ ip: "127.0.0.1", port: PORT }, { timeoutMs: 0 });
    (await next(ch, RdmaCmEvent.ADDR_RESOLVED)).ack();
    assert.ok(cluster.now - t0 < 1e6, "within the work item's latency");
    const other = await ch.createId();
    await assert.rejects(
      () => other.resolveAddr({ ip: b.rdmaCm.ip, port: PORT }, { timeoutMs: 0 }),
      /timeout 0 ms.*neighbour cache/,
    );
    await assert.rejects(
      () => other.resolveAddr({ ip: b.rdmaCm.ip, port: PORT }, { timeoutMs: -1 }),
      /timeout -1 ms/,
    );
    await assert.rejects(() => id.resolveRoute(0), /timeout 0 ms/);
  });
});

Deno.test("rdma_cm: rdma_resolve_addr to 127.0.0.1 in a domain with no RDMA device fails ENODEV (cma_bind_loopback) and leaves the id bound", async () => {
  const engine = new Engine();
  const space = new AddressSpace(new MachineMemory(64 << 20), "os", 32 << 20, new Prng(1));
  const d = new BareDomain({ name: "nodev", engine, profile: PCIX_SDR_2006, space });
  await engine.run(async () => {
    const ch = d.rdmaCm.createEventChannel();
    const id = await ch.createId();
    await assert.rejects(
      () => id.resolveAddr({ ip: "127.0.0.1", port: PORT }),
      (e) => e instanceof VerbsError && e.code === "ENODEV" && /cma_bind_loopback/.test(e.message),
    );
    assert.equal(id.state, "addr_bound");
    assert.equal(ch.pending, 0);
  });
});

Deno.test("rdma_cm: with no active port the loopback binds port 1 all the same (cma_bind_loopback); rdma_resolve_route then fails EAGAIN (ib_sa has no SM address handle)", async () => {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 7 });
  const host = cluster.addHost({ name: "n0", hypervisor: false });
  await cluster.start();
  const a = host.os;
  await cluster.run(async () => {
    const ctx = await a.rdmaCm.context();
    cluster.fabric.portByLid(ctx.queryPort(1).lid)!.setState("DOWN");
    await cluster.sleep(1_000_000); // the port's change event reaches the context
    assert.equal(ctx.queryPort(1).state, PortState.DOWN);
    const ch = a.rdmaCm.createEventChannel();
    const id = await ch.createId();
    await id.resolveAddr({ ip: "127.0.0.1", port: PORT });
    (await next(ch, RdmaCmEvent.ADDR_RESOLVED)).ack();
    assert.equal(id.portNum, 1);
    await assert.rejects(
      () => id.resolveRoute(),
      (e) =>
        e instanceof VerbsError && e.code === "EAGAIN" && /port 1 is not active/.test(e.message),
    );
    assert.equal(id.state, "addr_resolved");
  });
});

Deno.test("rdma_cm: an id bound to 127.0.0.1 that resolves the domain's own address is refused 28 too: the REQ's source is a loopback address (validate_ipv4_net_dev)", async () => {
  const { cluster, a } = await pair("native");
  await cluster.run(async () => {
    const { ch: sch } = await listenAny(a);
    const ch = a.rdmaCm.createEventChannel();
    const id = await ch.createId();
    await id.resolveAddr({ ip: a.rdmaCm.ip, port: PORT }, { src: { ip: "127.0.0.1", port: 0 } });
    (await next(ch, RdmaCmEvent.ADDR_RESOLVED)).ack();
    assert.equal(id.localAddr!.ip, "127.0.0.1");
    await id.resolveRoute();
    (await next(ch, RdmaCmEvent.ROUTE_RESOLVED)).ack();
    await rcQp(id);
    await id.connect();
    const rej = await next(ch, RdmaCmEvent.REJECTED);
    assert.equal(rej.status, 28);
    rej.ack();
    assert.equal(sch.pending, 0);
  });
});

Deno.test("rdma_cm: an id bound to 0.0.0.0 whose address resolution fails has no device (addr_handler acquires it only on success), and resolving 127.0.0.1 then binds the loopback", async () => {
  const { cluster, a } = await pair("native");
  await cluster.run(async () => {
    const ch = a.rdmaCm.createEventChannel();
    const id = await ch.createId();
    await id.bindAddr({ ip: "0.0.0.0", port: 0 });
    await id.resolveAddr({ ip: "10.99.99.99", port: PORT }, { timeoutMs: 1 });
    const ev = await next(ch, RdmaCmEvent.ADDR_ERROR);
    ev.ack();
    assert.equal(id.state, "addr_bound");
    assert.equal(id.verbs, undefined);
    await id.resolveAddr({ ip: "127.0.0.1", port: PORT });
    (await next(ch, RdmaCmEvent.ADDR_RESOLVED)).ack();
    assert.equal(id.localAddr!.ip, "127.0.0.1");
    assert.equal(id.verbs, await a.rdmaCm.context());
  });
});
