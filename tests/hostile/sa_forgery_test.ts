/**
 * Subnet-administration answers forged by another domain. Each domain's
 * kernel asks the subnet administrator for its paths (`rdma_resolve_route`:
 * a SubnAdmGet(PathRecord) MAD) from its connection-manager service, an
 * ordinary UD QP any guest can reach (`docs/rdma_cm.md`), and the MAD's
 * transaction ID counts up from 1. A GetResp naming the victim's pending
 * transaction used to be taken from anyone: the attacker chose the
 * victim's path (its destination LID, its MTU, its packet lifetime, or "no
 * such path"). Linux's MAD layer matches a response to its request by the
 * transaction ID, the class, and the sender: the response's source must be
 * where the request went (`ib_find_send_mad`, `rcv_has_same_gid`,
 * `drivers/infiniband/core/mad.c`); here that is the administrator's
 * service, whose LID and QPN the HCA stamps on every datagram.
 */
import assert from "node:assert/strict";
import { type CmEvent, type EventChannel, RdmaCmEvent } from "../../mod.ts";
import { encodePathRecord } from "../../drivers/verbs/cm_mad.ts";
import { cluster, connect, counts, end, guest, xenOf } from "../xenib_support.ts";
import { checksum, type Scene, verdict, VICTIM_BYTE } from "./support.ts";

/** The hostile scene with the subnet manager (and its administrator) on the bare-metal host. */
async function sceneWithSmOnBareMetal(): Promise<Scene> {
  const { cluster: c, hosts } = await cluster([false, true], 11);
  const [bare, xen] = hosts;
  const before = { counts: counts(xen), frames: xen.hw.memory.allocated };
  const vm = await guest(xen, "victim");
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

async function next(ch: EventChannel, want: number): Promise<CmEvent> {
  const ev = await ch.getEvent();
  assert.equal(ev.type, want, `event ${ev.type}, expected ${want}`);
  ev.ack();
  return ev;
}

Deno.test("sa forgery: another guest's PathRecord answers do not decide the victim's route", async () => {
  const s = await sceneWithSmOnBareMetal();
  const { evil, victim } = s;
  const vm = victim.vm, srv = s.bare.os;
  await s.cluster.run(async () => {
    const ch = vm.rdmaCm.createEventChannel();
    const id = await ch.createId();
    await id.resolveAddr({ ip: srv.rdmaCm.ip, port: 18515 });
    await next(ch, RdmaCmEvent.ADDR_RESOLVED);

    // The attacker's kernel finds the victim's service by ARP and answers every transaction
    // the victim's service could have open, again and again while the victim resolves its
    // route: a path to a LID nobody has, with the smallest MTU and the longest lifetime, and
    // "no such path" (SA_ERR_NO_RECORDS) for good measure.
    const agent = await evil.rdmaCm.agent();
    const to = (await agent.arp(vm.rdmaCm.ip, 1e9))!;
    const forged = {
      dgid: new Uint8Array(16),
      sgid: new Uint8Array(16),
      dlid: 0x77,
      slid: to.lid,
      trafficClass: 0,
      pkey: 0xffff,
      qosClass: 0,
      sl: 15,
      mtu: 1,
      rate: 2,
      packetLifeTime: 31,
    };
    let flooding = true;
    let sent = 0;
    const flood = (async () => {
      while (flooding) {
        for (let tid = 1n; tid <= 8n; tid++) {
          const m = encodePathRecord(forged, tid, true);
          if (tid % 2n === 0n) m[4] = 0, m[5] = 0x0e; // MAD status: SA_ERR_NO_RECORDS
          await agent.send(to, m);
          sent++;
        }
        await s.cluster.sleep(1_000);
      }
    })();
    await s.cluster.sleep(5_000);
    await id.resolveRoute();
    const ev = await ch.getEvent();
    flooding = false;
    await flood;
    assert.ok(sent > 16, `${sent} forged answers`);
    assert.equal(ev.type, RdmaCmEvent.ROUTE_RESOLVED, `event ${ev.type} (status ${ev.status})`);
    ev.ack();
    // The route is the administrator's: the server's LID, the fabric's MTU and lifetime.
    const srvLid = victim.peer.lid; // the bare-metal host's port
    assert.equal(id.route!.dlid, srvLid);
    assert.notEqual(id.route!.mtu, 1);
    assert.notEqual(id.route!.packetLifeTime, 31);
    await id.destroy();
    victim.sum = checksum(vm); // its own route query wrote its memory
    await verdict(s);
  });
});
