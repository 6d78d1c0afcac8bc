/**
 * The VMM-bypass claim, counted: during a ping-pong of RDMA WRITEs between
 * two bypass guests, no hypercall is made, no event-channel message sent,
 * no request reaches a backend, no grant is mapped and dom0 does no work —
 * on either Xen host. The same program in split-driver guests moves every
 * one of those counters with every operation.
 */
import assert from "node:assert/strict";
import { type Host, SendFlags, WcStatus, WrOpcode } from "../mod.ts";
import { cluster, connect, type End, end, guest, spin } from "./xenib_support.ts";

/** `iters` ping-pong rounds of 2-byte inline RDMA WRITEs; returns when both sides are done. */
async function pingPong(
  a: End,
  b: End,
  iters: number,
  onRound?: (n: number) => void,
): Promise<void> {
  const side = async (me: End, peer: End, client: boolean) => {
    const last = me.buf + 4096 + 1;
    for (let n = 1; n <= iters; n++) {
      const v = n & 0xff;
      if (!client) await spin(me.dom, last, v);
      me.dom.memory.write(me.buf + 1, new Uint8Array([v]));
      me.qp.postSend({
        wrId: BigInt(n),
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED | SendFlags.INLINE,
        sgList: [{ addr: me.buf, length: 2, lkey: me.mr.lkey }],
        remoteAddr: peer.buf + 4096,
        rkey: peer.mr.rkey,
      });
      const [wc] = await me.cq.pollUntil(1);
      if (wc.status !== WcStatus.SUCCESS) throw new Error(`write ${n} failed: ${wc.status}`);
      if (client) {
        await spin(me.dom, last, v);
        onRound?.(n);
      }
    }
  };
  await Promise.all([side(a, b, true), side(b, a, false)]);
}

function snapshot(hosts: Host[]) {
  return hosts.map((h) => structuredClone(h.counters()));
}

Deno.test("bypass: 10,000 RDMA WRITEs move no hypercall, event-channel or backend counter", async () => {
  const { cluster: c, hosts } = await cluster([true, true]);
  const vms = [await guest(hosts[0], "vm0"), await guest(hosts[1], "vm1")];
  const [a, b] = await c.run(async () => {
    const ends = [await end(vms[0]), await end(vms[1])];
    await connect(ends[0], ends[1]);
    return ends;
  });
  const before = snapshot(hosts);
  const sent = hosts[0].hca.stats().packetsSent;
  await c.run(() => pingPong(a, b, 10_000));
  const after = snapshot(hosts);
  assert.deepEqual(after, before, "no counter of either Xen host moved");
  assert.ok(
    hosts[0].hca.stats().packetsSent - sent >= 10_000,
    "the writes did cross the wire",
  );
  // The control path before it did cross dom0: the counters are live.
  assert.ok(before[0].backendRequests > 0 && before[0].hypercalls > 0);
});

Deno.test("split: every post and every poll is a backend request, with its hypercalls and events", async () => {
  const { cluster: c, hosts } = await cluster([true, true]);
  const vms = [await guest(hosts[0], "vm0", "split"), await guest(hosts[1], "vm1", "split")];
  const [a, b] = await c.run(async () => {
    const ends = [await end(vms[0]), await end(vms[1])];
    await connect(ends[0], ends[1]);
    return ends;
  });
  const rounds = 100;
  const before = snapshot(hosts);
  let prev = hosts[0].counters();
  let grewEveryRound = true;
  await c.run(() =>
    pingPong(a, b, rounds, () => {
      const now = hosts[0].counters();
      for (const k of ["hypercalls", "evtchnSends", "backendRequests", "dom0BusyNs"] as const) {
        if (!(now[k] > prev[k])) grewEveryRound = false;
      }
      prev = now;
    })
  );
  const after = snapshot(hosts);
  assert.ok(
    grewEveryRound,
    "each round trip moved hypercalls, events, requests and dom0 time on host 0",
  );
  for (const i of [0, 1]) {
    const d = (k: "hypercalls" | "evtchnSends" | "backendRequests") => after[i][k] - before[i][k];
    const kinds = after[i].byKind.backendRequests;
    const was = before[i].byKind.backendRequests;
    assert.ok(d("backendRequests") >= 2 * rounds, `host ${i}: ${d("backendRequests")} requests`);
    assert.ok(d("hypercalls") >= rounds && d("evtchnSends") >= rounds);
    assert.equal(kinds.DOORBELL - (was.DOORBELL ?? 0), rounds, "one doorbell request per post");
    assert.ok(
      kinds.POLL_CQ - (was.POLL_CQ ?? 0) >= rounds,
      "at least a poll request per completion",
    );
    assert.ok(after[i].dom0BusyNs > before[i].dom0BusyNs);
  }
});
