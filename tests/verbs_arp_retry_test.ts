// ARP retransmission under rdma_resolve_addr (drivers/verbs/cm_agent.ts `arp`): a lost request
// or reply is covered by the next probe one retrans_time later (Linux's neigh_timer_handler,
// net/core/neighbour.c), at most mcast_solicit probes; rdma_cm reports ADDR_ERROR (-ETIMEDOUT)
// only when the caller's timeout passes (process_one_req, drivers/infiniband/core/addr.c).
import assert from "node:assert/strict";
import {
  ARP_MCAST_SOLICIT,
  ARP_RETRANS_TIME_MS,
  type Cluster,
  type Domain,
  RdmaCmEvent,
} from "../mod.ts";
import { decodeArp } from "../drivers/verbs/ipoib.ts";
import { OP } from "../hca/opcode.ts";
import { decodePacket } from "../hca/packet.ts";
import { MODES, pair } from "./support/rdma_cm.ts";

const RETRANS_NS = ARP_RETRANS_TIME_MS * 1e6;
/** Slack for the CPU and wire costs around a probe (the first one also creates the AH). */
const SLACK_NS = 5e6;

/** `t` is `want` give or take the costs of a probe on either side. */
function near(t: number, want: number, what: string): void {
  assert.ok(Math.abs(t - want) < SLACK_NS, `${what}: ${t} ns, expected about ${want}`);
}

/** Times at which ARP packets of `op` (1 request, 2 reply) leave an HCA (not a switch hop). */
function captureArp(cluster: Cluster, op: 1 | 2): number[] {
  const times: number[] = [];
  cluster.fabric.addCapture((r) => {
    if (r.from.cutThroughNs !== undefined) return; // a switch forwarding it
    const d = decodePacket(r.bytes);
    if (d.ok && decodeArp(d.packet.payload)?.op === op) times.push(r.timeNs);
  });
  return times;
}

/** rdma_resolve_addr from `a` to `b`; the event and how long it took. */
async function resolveAddr(cluster: Cluster, a: Domain, b: Domain, timeoutMs?: number) {
  const ch = a.rdmaCm.createEventChannel();
  const id = await ch.createId();
  const t0 = cluster.now;
  await id.resolveAddr({ ip: b.rdmaCm.ip, port: 1 }, timeoutMs ? { timeoutMs } : {});
  const ev = await ch.getEvent();
  ev.ack();
  return { ev, tookNs: cluster.now - t0, id };
}

for (const mode of MODES) {
  Deno.test(`arp ${mode}: the first request lost: the second probe, one retrans_time later, resolves`, async () => {
    const { cluster, a, b } = await pair(mode);
    await cluster.run(async () => {
      const requests = captureArp(cluster, 1);
      // The first UD SEND from here on is the ARP request.
      cluster.fabric.addFault({ kind: "drop", opcode: OP.UD_SEND_ONLY, probability: 1, limit: 1 });
      const { ev, tookNs, id } = await resolveAddr(cluster, a, b);
      assert.equal(ev.type, RdmaCmEvent.ADDR_RESOLVED, `event ${ev.type} (status ${ev.status})`);
      assert.equal(requests.length, 2);
      near(requests[1] - requests[0], RETRANS_NS, "second probe");
      assert.ok(tookNs > RETRANS_NS, `took ${tookNs} ns`);
      near(tookNs, RETRANS_NS, "resolution");
      assert.equal(id.state, "addr_resolved");
      // No probe after the answer.
      await cluster.sleep(5 * RETRANS_NS);
      assert.equal(requests.length, 2);
    });
  });

  Deno.test(`arp ${mode}: the first reply lost: the second probe's reply resolves; duplicate replies are harmless`, async () => {
    const { cluster, a, b } = await pair(mode);
    await cluster.run(async () => {
      const requests = captureArp(cluster, 1);
      const replies = captureArp(cluster, 2);
      // Let the request through, then lose the next UD SEND (the reply).
      let seen = 0;
      cluster.fabric.addCapture((r) => {
        const d = decodePacket(r.bytes);
        if (r.from.cutThroughNs === undefined && d.ok && decodeArp(d.packet.payload)?.op === 1) {
          if (seen++ === 0) {
            cluster.fabric.addFault({
              kind: "drop",
              opcode: OP.UD_SEND_ONLY,
              dlid: d.packet.lrh.slid,
              probability: 1,
              limit: 1,
            });
          }
        }
      });
      const { ev, tookNs } = await resolveAddr(cluster, a, b);
      assert.equal(ev.type, RdmaCmEvent.ADDR_RESOLVED, `event ${ev.type} (status ${ev.status})`);
      assert.equal(requests.length, 2);
      assert.equal(replies.length, 2);
      near(requests[1] - requests[0], RETRANS_NS, "second probe");
      assert.ok(tookNs > RETRANS_NS, `took ${tookNs} ns`);
      near(tookNs, RETRANS_NS, "resolution");
      // Every reply duplicated on the wire: one resolution each, the duplicates ignored.
      cluster.fabric.clearFaults();
      cluster.fabric.addFault({ kind: "duplicate", opcode: OP.UD_SEND_ONLY, probability: 1 });
      const again = await resolveAddr(cluster, a, b);
      assert.equal(again.ev.type, RdmaCmEvent.ADDR_RESOLVED);
      assert.ok(again.tookNs < SLACK_NS, `took ${again.tookNs} ns`);
      await cluster.sleep(5 * RETRANS_NS);
      assert.equal(requests.length, 3);
    });
  });

  Deno.test(`arp ${mode}: no answer at all: ${"mcast_solicit"} probes one retrans_time apart, ADDR_ERROR (-ETIMEDOUT) at the caller's timeout`, async () => {
    const { cluster, a, b } = await pair(mode);
    await cluster.run(async () => {
      const requests = captureArp(cluster, 1);
      cluster.fabric.addFault({ kind: "drop", opcode: OP.UD_SEND_ONLY, probability: 1 });
      // A timeout past the probes: all of them go out, then nothing until the timeout.
      const long = await resolveAddr(cluster, a, b, 5000);
      assert.equal(long.ev.type, RdmaCmEvent.ADDR_ERROR);
      assert.equal(long.ev.status, -110);
      assert.equal(requests.length, ARP_MCAST_SOLICIT);
      near(requests[1] - requests[0], RETRANS_NS, "second probe");
      assert.equal(requests[2] - requests[1], RETRANS_NS); // both timers armed as a probe went out
      assert.ok(long.tookNs >= 5000e6, `took ${long.tookNs} ns`);
      near(long.tookNs, 5000e6, "ADDR_ERROR");
      assert.equal(long.id.state, "addr_bound");
      // The default timeout (2000 ms) cuts the probes short: two went out.
      requests.length = 0;
      const short = await resolveAddr(cluster, a, b);
      assert.equal(short.ev.type, RdmaCmEvent.ADDR_ERROR);
      assert.equal(short.ev.status, -110);
      assert.ok(short.tookNs >= 2000e6, `took ${short.tookNs} ns`);
      near(short.tookNs, 2000e6, "ADDR_ERROR");
      assert.equal(requests.length, 2);
      await cluster.sleep(5 * RETRANS_NS);
      assert.equal(requests.length, 2);
    });
  });

  Deno.test(`arp ${mode}: resolutions of one address at once share its probes (one neighbour entry)`, async () => {
    // __neigh_event_send queues a resolution that finds the entry NUD_INCOMPLETE; only
    // neigh_timer_handler solicits. Once the entry has failed, a new resolution solicits again.
    const { cluster, a, b } = await pair(mode);
    await cluster.run(async () => {
      const requests = captureArp(cluster, 1);
      const [x, y] = await Promise.all([resolveAddr(cluster, a, b), resolveAddr(cluster, a, b)]);
      assert.deepEqual([x.ev.type, y.ev.type], [
        RdmaCmEvent.ADDR_RESOLVED,
        RdmaCmEvent.ADDR_RESOLVED,
      ]);
      assert.equal(requests.length, 1, "one request answers both");
      const removeFault = cluster.fabric.addFault({
        kind: "drop",
        opcode: OP.UD_SEND_ONLY,
        probability: 1,
      });
      requests.length = 0;
      // Three at once, one of them giving up sooner: the probes go on for the others.
      const three = await Promise.all([
        resolveAddr(cluster, a, b, 1500),
        resolveAddr(cluster, a, b, 5000),
        resolveAddr(cluster, a, b, 5000),
      ]);
      assert.deepEqual(three.map((r) => r.ev.status), [-110, -110, -110]);
      near(three[0].tookNs, 1500e6, "the short one");
      assert.equal(requests.length, ARP_MCAST_SOLICIT, `${requests.length} requests`);
      near(
        requests[ARP_MCAST_SOLICIT - 1] - requests[0],
        (ARP_MCAST_SOLICIT - 1) * RETRANS_NS,
        "probes",
      );
      // The entry failed: a new resolution solicits again, from its first probe.
      requests.length = 0;
      await resolveAddr(cluster, a, b, 500);
      assert.equal(requests.length, 1);
      removeFault();
    });
  });
}
