/**
 * UD multicast, the same in native, bypass and split: `qp.attachMcast` /
 * `qp.detachMcast` as ibv_attach_mcast(3) and Linux ib_attach_mcast /
 * mthca_multicast_attach have them, the subnet manager's MLIDs and switch
 * multicast forwarding, delivery of one send to every attached QP on
 * several hosts and guests (and none to a detached or unattached one), the
 * device's limits, and a guest's quota and handle checks.
 */
import assert from "node:assert/strict";
import {
  Cluster,
  connectQp,
  type Domain,
  Errno,
  type Host,
  QpType,
  SendFlags,
  VerbsError,
  WcFlags,
  WcStatus,
  WrOpcode,
  type XenGuest,
} from "../mod.ts";
import type { Hca } from "../hca/device.ts";
import { MULTICAST_QPN } from "../hca/mcg.ts";
import { type Mode, MODES, pattern, rejects, type Side, side } from "./conformance/helpers.ts";

const QKEY = 0x11111111;
const GRH = 40;

/** perftest's MCG_GID (multicast_resources.h), last byte `n`. */
function mgid(n: number): Uint8Array {
  const g = new Uint8Array([255, 1, 0, 0, 0, 2, 201, 133, 0, 0, 0, 0, 0, 0, 0, 0]);
  g[15] = n;
  return g;
}

interface World {
  cluster: Cluster;
  hosts: Host[];
  /** Sender on host a, receivers on b, c and a second one on b. */
  doms: Domain[];
}

async function world(mode: Mode): Promise<World> {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 5 });
  const xen = mode !== "native";
  const hosts = ["a", "b", "c"].map((name) => cluster.addHost({ name, hypervisor: xen }));
  await cluster.start();
  if (!xen) return { cluster, hosts, doms: [hosts[0].os, hosts[1].os, hosts[2].os, hosts[1].os] };
  const driver = mode as "bypass" | "split";
  const doms: Domain[] = [];
  for (const [i, h] of [0, 1, 2, 1].entries()) {
    // More than a group's slots for each guest (mcastGroupQps), so that the device's own limit
    // (max_mcast_qp_attach, 8) is what the tests meet, as on bare metal.
    doms.push(
      await hosts[h].createGuest({
        name: `vm${i}`,
        memoryMiB: 64,
        driver,
        quota: { mcastGroupQps: 9 },
      }),
    );
  }
  return { cluster, hosts, doms };
}

function port(h: Host) {
  return (h.hw.hca as Hca).port(1)!;
}

async function udQp(s: Side) {
  const qp = await s.pd.createQp({
    type: QpType.UD,
    sendCq: s.cq,
    recvCq: s.cq,
    cap: { maxSendWr: 16, maxRecvWr: 16, maxSendSge: 1, maxRecvSge: 1 },
  });
  await connectQp(qp);
  return qp;
}

function recv(s: Side, qp: Awaited<ReturnType<typeof udQp>>, n: number, at = 16384): void {
  for (let i = 0; i < n; i++) {
    qp.postRecv({
      wrId: BigInt(i),
      sgList: [{ addr: s.buf + at + i * 4096, length: 4096, lkey: s.mr.lkey }],
    });
  }
}

/**
 * The message names the rule in every mode: in a guest, dom0's driver's reason comes back in the
 * error response, after the vib op's name.
 */
function says(mode: Mode, msg: string, re: RegExp): void {
  assert.match(msg, re);
  if (mode !== "native") assert.match(msg, /^E[A-Z]+: (ATTACH|DETACH)_MCAST: /);
}

for (const mode of MODES) {
  Deno.test(`mcast ${mode}: attach/detach follow ib_attach_mcast and mthca (errors, duplicates, limits)`, async () => {
    const { cluster, doms } = await world(mode);
    await cluster.run(async () => {
      const s = await side(doms[1]);
      const ud = await udQp(s);
      const g = mgid(1);
      // Device attributes: MT23108's multicast limits (ibv_devinfo -v).
      const attr = await s.ctx.queryDevice();
      assert.deepEqual(
        [attr.maxMcastGrp, attr.maxMcastQpAttach, attr.maxTotalMcastQpAttach],
        [8192, 8, 65536],
      );
      // ib_attach_mcast: EINVAL unless UD, a multicast GID (0xFF first) and a multicast LID.
      const rc = await s.pd.createQp({
        type: QpType.RC,
        sendCq: s.cq,
        recvCq: s.cq,
        cap: { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
      });
      says(mode, await rejects(() => rc.attachMcast(g, 0xc000), "EINVAL"), /only a UD QP/);
      const unicast = g.slice();
      unicast[0] = 0xfe;
      says(
        mode,
        await rejects(() => ud.attachMcast(unicast, 0xc000), "EINVAL"),
        /not a multicast GID/,
      );
      says(mode, await rejects(() => ud.attachMcast(g, 5), "EINVAL"), /not a multicast LID/);
      says(mode, await rejects(() => ud.attachMcast(g, 0xffff), "EINVAL"), /not a multicast LID/);
      // A GID that is not 16 bytes never leaves the library (union ibv_gid is 16 bytes).
      assert.match(
        await rejects(() => ud.attachMcast(g.subarray(0, 8), 0xc000), "EINVAL"),
        /16 bytes/,
      );
      // Detach of what is not attached: EINVAL (ib_uverbs_detach_mcast).
      says(mode, await rejects(() => ud.detachMcast(g, 0xc000), "EINVAL"), /not attached/);
      // Attach twice: success, one membership (mthca "already a member of MGM").
      await ud.attachMcast(g, 0xc000);
      await ud.attachMcast(g, 0xc000);
      await ud.detachMcast(g, 0xc000);
      await rejects(() => ud.detachMcast(g, 0xc000), "EINVAL");
      // One MGID under two LIDs: two entries of the QP's list, one membership in the device.
      // Detaching one takes the QP out of the group; the other then finds it gone (Linux
      // ib_uverbs_detach_mcast calls ib_detach_mcast for each; mthca: "QP not found in MGM").
      await ud.attachMcast(g, 0xc000);
      await ud.attachMcast(g, 0xc005);
      await ud.detachMcast(g, 0xc005);
      says(mode, await rejects(() => ud.detachMcast(g, 0xc000), "EINVAL"), /not found in MGM/);
      // max_mcast_qp_attach = 8 QPs per group entry; the ninth gets ENOMEM.
      const qps: Awaited<ReturnType<typeof udQp>>[] = [];
      for (let i = 0; i < 9; i++) qps.push(await udQp(s));
      for (let i = 0; i < 8; i++) await qps[i].attachMcast(g, 0xc000);
      says(mode, await rejects(() => qps[8].attachMcast(g, 0xc000), "ENOMEM"), /is full/);
      // Another group still has room. A QP attached to a group cannot be destroyed
      // (uverbs_free_qp: EBUSY); detached, it can, and its place in the group is free.
      await qps[8].attachMcast(mgid(2), 0xc001);
      assert.match(await rejects(() => qps[0].destroy(), "EBUSY"), /attached to 1 multicast/);
      await qps[0].detachMcast(g, 0xc000);
      await qps[0].destroy();
      await qps[8].attachMcast(g, 0xc000);
      await rc.destroy();
      await assert.rejects(qps[0].attachMcast(g, 0xc000), /destroyed/);
    });
  });

  Deno.test(`mcast ${mode}: one send reaches every attached QP on every host, none detached or unattached`, async () => {
    const { cluster, hosts, doms } = await world(mode);
    const sm = cluster.subnetManager!;
    await cluster.run(async () => {
      const g = mgid(7);
      // The SA join: the first creates the group (lowest free MLID) and programs the switch.
      const mlid = await sm.joinMulticast(g, port(hosts[1]));
      assert.equal(mlid, 0xc000);
      assert.equal(await sm.joinMulticast(g, port(hosts[0])), mlid);
      const [tx, r1, r2, r3] = await Promise.all(doms.map((d) => side(d)));
      const sender = await udQp(tx);
      const receivers = [await udQp(r1), await udQp(r2), await udQp(r3)];
      const bystander = await udQp(r1); // on a member host, never attached
      for (const q of receivers) await q.attachMcast(g, mlid);
      recv(tx, sender, 4);
      recv(r1, bystander, 4, 40960);
      const sides = [r1, r2, r3];
      receivers.forEach((q, i) => recv(sides[i], q, 4));
      // Switch MFT: the ports of hosts b and c (a, the sender, joined too).
      assert.deepEqual(cluster.switch!.multicastPorts(mlid), [1, 2, 3]);
      const ah = await tx.pd.createAh({ dlid: mlid, grh: { dgid: g } });
      const send = async (seed: number) => {
        tx.dom.memory.write(tx.buf, pattern(256, seed));
        sender.postSend({
          wrId: BigInt(seed),
          opcode: WrOpcode.SEND,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: tx.buf, length: 256, lkey: tx.mr.lkey }],
          ah,
          remoteQpn: MULTICAST_QPN,
          remoteQkey: QKEY,
        });
        const [wc] = await tx.cq.pollUntil(1);
        assert.equal(wc.status, WcStatus.SUCCESS);
      };
      await send(1);
      for (const [i, s] of sides.entries()) {
        const [wc] = await s.cq.pollUntil(1);
        assert.equal(wc.status, WcStatus.SUCCESS, `receiver ${i}`);
        assert.equal(wc.qpNum, receivers[i].qpNum);
        assert.equal(wc.srcQp, sender.qpNum);
        assert.equal(wc.byteLen, GRH + 256);
        assert.ok(wc.wcFlags & WcFlags.GRH);
        const at = s.buf + 16384 + Number(wc.wrId) * 4096;
        assert.deepEqual(s.dom.memory.read(at + GRH, 256), pattern(256, 1));
        // The GRH's DGID is the MGID (IBTA §8.3: bytes 24..39 of the GRH).
        assert.deepEqual(s.dom.memory.read(at + 24, 16), g);
      }
      await cluster.engine.sleep(200_000);
      // The sender (not attached) and the bystander got nothing.
      assert.equal(tx.cq.poll(4).length, 0);
      assert.equal(r1.cq.poll(4).length, 0);

      // Detach the receiver on host c: the next send reaches the two on host b only, and host
      // c's port has left the group (its last QP went), so the switch no longer sends there.
      await receivers[1].detachMcast(g, mlid);
      assert.deepEqual(sm.multicastGroup(g)!.members.map((p) => p.name), [
        port(hosts[1]).name,
        port(hosts[0]).name,
      ]);
      assert.deepEqual(cluster.switch!.multicastPorts(mlid), [1, 2]);
      await send(2);
      for (const i of [0, 2]) {
        const [wc] = await sides[i].cq.pollUntil(1);
        assert.equal(wc.qpNum, receivers[i].qpNum);
      }
      await cluster.engine.sleep(200_000);
      assert.equal(r2.cq.poll(4).length, 0, "the detached QP gets nothing");

      // The sender attaches too: its HCA loops the packet back to it (Mellanox multicast
      // loopback; the switch never sends it back out its input port).
      await sender.attachMcast(g, mlid);
      await send(3);
      const [own] = await tx.cq.pollUntil(1);
      assert.equal(own.qpNum, sender.qpNum);
      assert.equal(own.srcQp, sender.qpNum);
      for (const i of [0, 2]) await sides[i].cq.pollUntil(1);
    });
  });
}

Deno.test("mcast: the last member's leave frees the MLID; a new group takes the lowest free one", async () => {
  const { cluster, hosts, doms } = await world("native");
  const sm = cluster.subnetManager!;
  await cluster.run(async () => {
    const a = await sm.joinMulticast(mgid(1), port(hosts[0]));
    const b = await sm.joinMulticast(mgid(2), port(hosts[1]));
    assert.deepEqual([a, b], [0xc000, 0xc001]);
    // Joining costs virtual time: an SA round trip and an MFT set per switch.
    const t0 = cluster.now;
    await sm.joinMulticast(mgid(2), port(hosts[2]));
    assert.ok(cluster.now - t0 >= 2 * 6_000);
    const s = await side(doms[0]);
    const q = await udQp(s);
    await q.attachMcast(mgid(1), a);
    await q.detachMcast(mgid(1), a); // the port's last QP: it leaves, the group is gone
    assert.equal(sm.multicastGroup(mgid(1)), undefined);
    assert.deepEqual(cluster.switch!.multicastPorts(a), []);
    assert.equal(await sm.joinMulticast(mgid(3), port(hosts[0])), 0xc000);
    await assert.rejects(sm.joinMulticast(new Uint8Array(16), port(hosts[0])), /0xFF/);
  });
});

Deno.test("mcast hostile: a guest's attachments stop at its mcastAttachments quota, named; detach gives it back", async () => {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 9 });
  const h = cluster.addHost({ name: "x", hypervisor: true });
  await cluster.start();
  const evil = await h.createGuest({ name: "evil", quota: { mcastAttachments: 3 } }) as XenGuest;
  await cluster.run(async () => {
    const s = await side(evil);
    const q = await udQp(s);
    for (let i = 0; i < 3; i++) await q.attachMcast(mgid(i), 0xc000 + i);
    await q.attachMcast(mgid(0), 0xc000); // again: no new attachment, no charge
    let err: unknown;
    try {
      await q.attachMcast(mgid(9), 0xc009);
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof VerbsError);
    assert.equal(err.errno, Errno.EAGAIN);
    assert.match(err.message, /over the guest's mcastAttachments quota/);
    await q.detachMcast(mgid(1), 0xc001);
    await q.attachMcast(mgid(9), 0xc009);
    // One MGID under a second LID is a second entry of the QP's list (a charge of its own):
    // quota full. Detached under both, the second refused by the device (the QP already left the
    // group), both entries are off the list as in ib_uverbs_detach_mcast, and both charges back.
    await q.detachMcast(mgid(9), 0xc009);
    await q.attachMcast(mgid(0), 0xc00b);
    await rejects(() => q.attachMcast(mgid(9), 0xc009), "EAGAIN");
    await q.detachMcast(mgid(0), 0xc000);
    await rejects(() => q.detachMcast(mgid(0), 0xc00b), "EINVAL");
    await q.attachMcast(mgid(0), 0xc000);
    await q.attachMcast(mgid(9), 0xc009);
    // A QP attached to groups cannot be destroyed (uverbs_free_qp: EBUSY), so its attachments
    // keep their quota; closing the context detaches them and gives every one back.
    await rejects(() => q.destroy(), "EBUSY");
    const q1 = await udQp(s);
    await rejects(() => q1.attachMcast(mgid(10), 0xc00a), "EAGAIN");
    await s.ctx.close();
    const q2 = await udQp(await side(evil));
    for (let i = 10; i < 13; i++) await q2.attachMcast(mgid(i), 0xc000 + i);
  });
});
