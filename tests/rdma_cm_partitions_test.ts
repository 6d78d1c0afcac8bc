// rdma_cm and the connection manager outside the default partition (IBTA vol 1 §10.9): a
// domain's IPoIB interface is in one partition (a guest's first, a host's `ipoibPkey`, Linux's
// ib0.8001), its ARP, PathRecord query and CM MADs carry that P_Key, the REQ's path names it, and
// its rdma_cm QPs are put at its index; two domains of one partition connect, two of different
// partitions do not even resolve each other's address. The same in native, bypass and split.
import assert from "node:assert/strict";
import {
  Cluster,
  type CmId,
  type Domain,
  type Host,
  QpType,
  RdmaCmEvent,
  SendFlags,
  VerbsError,
  WcStatus,
  WrOpcode,
} from "../mod.ts";
import { decodeCm } from "../drivers/verbs/cm_mad.ts";
import { decodeArp } from "../drivers/verbs/ipoib.ts";
import { decodePacket } from "../hca/packet.ts";
import { Errno } from "../sim/errno.ts";
import { type Mode, MODES, next } from "./support/rdma_cm.ts";

const PORT = 7471;
const TABLE = [0x8001, 0x8002];

/**
 * Three domains: `a` and `b` in 0x8001 on two hosts, `c` in 0x8002 on the second (native: a third
 * host), none with the default partition (guests), or with their IPoIB interface outside it
 * (hosts, as ib0.8001). The subnet manager's node is the first host. `h[i]` is `d[i]`'s host.
 */
async function trio(mode: Mode): Promise<{ c: Cluster; h: Host[]; d: Domain[] }> {
  const c = new Cluster({ profile: "pcix-sdr-2006", seed: 3 });
  if (mode === "native") {
    const h = [0x8001, 0x8001, 0x8002].map((ipoibPkey, i) =>
      c.addHost({ name: `n${i}`, hypervisor: false, pkeys: TABLE, ipoibPkey })
    );
    await c.start();
    // a on the second host: its PathRecord query crosses the fabric to the SA on the first.
    return { c, h: [h[1], h[0], h[2]], d: [h[1].os, h[0].os, h[2].os] };
  }
  const h = [0, 1].map((i) => c.addHost({ name: `n${i}`, hypervisor: true, pkeys: TABLE }));
  await c.start();
  const vm = (host: Host, name: string, pkey: number) =>
    host.createGuest({ name, memoryMiB: 64, driver: mode, pkeys: [pkey] });
  const d = [await vm(h[0], "vm0", 0x8001), await vm(h[1], "vm1", 0x8001)];
  d.push(await vm(h[1], "vm2", 0x8002));
  return { c, h: [h[0], h[1], h[1]], d };
}

async function rcQp(id: CmId) {
  const ctx = id.verbs!;
  const pd = await ctx.allocPd();
  const cq = await ctx.createCq(16);
  const buf = ctx.env.memory.alloc(4096, 4096);
  const mr = await pd.regMr(buf, 4096, 0x7);
  const qp = await id.createQp(pd, {
    type: QpType.RC,
    sendCq: cq,
    recvCq: cq,
    cap: { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 },
  });
  return { cq, qp, buf, mr };
}

/** Every packet the fabric carries from now on: its kind and the P_Key of its BTH. */
function capture(c: Cluster): { kind: string; pkey: number; from: string }[] {
  const seen: { kind: string; pkey: number; from: string }[] = [];
  c.fabric.addCapture((r) => {
    if (r.from.node.name === "sw0") return;
    const d = decodePacket(r.bytes);
    if (!d.ok) return;
    const p = d.packet.payload;
    const kind = p.length === 256
      ? decodeCm(p)?.kind ?? (p[1] === 0x03 ? "SA" : "MAD")
      : decodeArp(p)
      ? "ARP"
      : "data";
    seen.push({ kind, pkey: d.packet.bth.pkey, from: r.from.node.name });
  });
  return seen;
}

for (const mode of MODES) {
  Deno.test(`rdma_cm partitions (${mode}): two domains of 0x8001 without the default partition connect and move data`, async () => {
    const { c, d } = await trio(mode);
    const [a, b] = d;
    const seen = capture(c);
    await c.run(async () => {
      const sch = b.rdmaCm.createEventChannel();
      const listener = await sch.createId();
      await listener.bindAddr({ ip: b.rdmaCm.ip, port: PORT });
      await listener.listen(1);
      const server = c.spawn("server", async () => {
        const req = await next(sch, RdmaCmEvent.CONNECT_REQUEST);
        const s = await rcQp(req.id);
        assert.equal(req.id.route?.pkey, 0x8001, "the REQ's path P_Key");
        await req.id.accept({ responderResources: 1, initiatorDepth: 1 });
        req.ack();
        (await next(sch, RdmaCmEvent.ESTABLISHED)).ack();
        return s;
      });
      const ch = a.rdmaCm.createEventChannel();
      const id = await ch.createId();
      await id.resolveAddr({ ip: b.rdmaCm.ip, port: PORT });
      (await next(ch, RdmaCmEvent.ADDR_RESOLVED)).ack();
      await id.resolveRoute();
      (await next(ch, RdmaCmEvent.ROUTE_RESOLVED)).ack();
      assert.equal(id.route?.pkey, 0x8001, "the SA's path is in the interface's partition");
      const mine = await rcQp(id);
      await id.connect({ responderResources: 1, initiatorDepth: 1, retryCount: 7 });
      (await next(ch, RdmaCmEvent.ESTABLISHED)).ack();
      const theirs = await server;
      // Both QPs at the index of 0x8001 (1 in these tables), as cma_ib_init_qp_attr puts them.
      assert.equal((await mine.qp.query()).pkeyIndex, 1);
      assert.equal((await theirs.qp.query()).pkeyIndex, 1);
      a.memory.write(mine.buf, new TextEncoder().encode("partition 0x8001"));
      mine.qp.postSend({
        wrId: 1n,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: mine.buf, length: 16, lkey: mine.mr.lkey }],
        remoteAddr: theirs.buf,
        rkey: theirs.mr.rkey,
      });
      assert.equal((await mine.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
      assert.equal(new TextDecoder().decode(b.memory.read(theirs.buf, 16)), "partition 0x8001");
    });
    // ARP, the PathRecord query and its answer, REQ/REP/RTU and the data all in 0x8001.
    const kinds = new Set(seen.map((s) => s.kind));
    for (const k of ["ARP", "SA", "REQ", "REP", "RTU", "data"]) assert.ok(kinds.has(k), k);
    assert.deepEqual(
      seen.filter((s) => s.pkey !== 0x8001),
      [],
      "every packet carries 0x8001",
    );
  });

  Deno.test(`rdma_cm partitions (${mode}): a domain of 0x8002 cannot resolve one of 0x8001 (ADDR_ERROR -ETIMEDOUT, ARPs dropped)`, async () => {
    const { c, h, d } = await trio(mode);
    const [a, , other] = d;
    const hca = h[0].hw.hca;
    await c.run(async () => {
      const before = hca.stats().counters.pkeyViolations;
      const ch = other.rdmaCm.createEventChannel();
      const id = await ch.createId();
      const t0 = c.engine.now;
      await id.resolveAddr({ ip: a.rdmaCm.ip, port: PORT }, { timeoutMs: 2000 });
      const ev = await next(ch, RdmaCmEvent.ADDR_ERROR);
      ev.ack();
      assert.equal(ev.status, -Errno.ETIMEDOUT);
      assert.ok(c.engine.now - t0 >= 2000e6, "only the timeout ends the wait");
      // Two ARP requests (at 0 and 1 s) reached a's service and were dropped at its HCA.
      assert.equal(hca.stats().counters.pkeyViolations - before, 2);
      assert.equal(id.state, "addr_bound");
    });
  });
}

for (const mode of MODES) {
  Deno.test(`rdma_cm partitions (${mode}): an SA whose port is not in the partition never answers (ROUTE_ERROR -ETIMEDOUT)`, async () => {
    // The subnet manager's host holds 0x8002 only; a and b, on two other hosts, are in 0x8001.
    const c = new Cluster({ profile: "pcix-sdr-2006", seed: 3 });
    const xen = mode !== "native";
    const sm = c.addHost({ name: "sm", hypervisor: false, pkeys: [0x8002] });
    const [h1, h2] = [1, 2].map((i) =>
      c.addHost({
        name: `n${i}`,
        hypervisor: xen,
        pkeys: [0x8001],
        ipoibPkey: xen ? undefined : 0x8001,
      })
    );
    await c.start();
    const dom = async (h: Host, name: string): Promise<Domain> =>
      xen ? await h.createGuest({ name, driver: mode, pkeys: [0x8001] }) : h.os;
    const a = await dom(h1, "vm1"), b = await dom(h2, "vm2");
    await c.run(async () => {
      const before = sm.hw.hca.stats().counters.pkeyViolations;
      const ch = a.rdmaCm.createEventChannel();
      const id = await ch.createId();
      await id.resolveAddr({ ip: b.rdmaCm.ip, port: PORT });
      (await next(ch, RdmaCmEvent.ADDR_RESOLVED)).ack(); // a and b share 0x8001
      await id.resolveRoute(1000);
      const ev = await next(ch, RdmaCmEvent.ROUTE_ERROR);
      ev.ack();
      assert.equal(ev.status, -Errno.ETIMEDOUT);
      assert.equal(sm.hw.hca.stats().counters.pkeyViolations - before, 1, "the query, dropped");
    });
  });
}

Deno.test("rdma_cm partitions: a host's ipoibPkey must be 0xffff or one of its pkeys", () => {
  const c = new Cluster({ profile: "pcix-sdr-2006", seed: 3 });
  assert.throws(
    () => c.addHost({ name: "x", hypervisor: false, pkeys: [0x8001], ipoibPkey: 0x8002 }),
    (e: Error) =>
      e instanceof VerbsError && e.code === "EINVAL" &&
      e.message.includes("addHost x: ipoibPkey 0x8002 is not 0xffff or one of the host's pkeys"),
  );
  assert.ok(c.addHost({ name: "y", hypervisor: false, pkeys: [0x8001], ipoibPkey: 0x8001 }));
});
