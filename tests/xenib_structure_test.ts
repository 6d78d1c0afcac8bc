/**
 * No per-mode factor: what a guest pays over bare metal is the sum of the
 * crossings its flow makes, each at the profile's primitive cost. Change
 * the primitives and the difference follows the formula; change the Xen
 * primitives however much and the bypass fast path does not move; and the
 * split baseline pays per message, not per byte.
 */
import assert from "node:assert/strict";
import { Cluster, type Profile } from "../mod.ts";
import { writeLatency } from "../tools/native_perf.ts";
import { eventLatency } from "../tools/xenib_perf.ts";

/** The built-in profile, and one whose Xen primitives all differ from it. */
const PROFILES = [
  { base: "pcix-sdr-2006" },
  {
    base: "pcix-sdr-2006",
    xen: { upcallNs: 2000, domainSwitchNs: 1000, ringMarshalNs: 500, hypercallNs: 700 },
  },
];

function xenOf(p: Record<string, unknown>): Profile["xen"] {
  return new Cluster({ profile: p, seed: 1 }).profile.xen;
}

/** Virtual time of one `allocPd` on a bare-metal OS or in a bypass guest, ns. */
async function allocPdNs(profile: Record<string, unknown>, guest: boolean): Promise<number> {
  const c = new Cluster({ profile, seed: 1 });
  const h = c.addHost({ name: "h0", hypervisor: guest });
  await c.start();
  const dom = guest ? await h.createGuest({ name: "vm0", memoryMiB: 64 }) : h.os;
  return await c.run(async () => {
    const ctx = await dom.openDevice();
    // Let dom0's backend go idle, so the request has to wake it.
    await c.sleep(100_000);
    const t = c.now;
    await ctx.allocPd();
    return c.now - t;
  });
}

Deno.test("a control operation in a guest costs its ring round trip, nothing else", async () => {
  for (const p of PROFILES) {
    const x = xenOf(p);
    const extra = (await allocPdNs(p, true)) - (await allocPdNs(p, false));
    // Marshal and copy out on both sides, the backend's checks, a notifying hypercall each
    // way, and each domain's upcall and vCPU switch.
    const crossings = 4 * x.ringMarshalNs + x.backendOpNs + 2 * x.hypercallNs +
      2 * (x.upcallNs + x.domainSwitchNs);
    assert.equal(extra, crossings, JSON.stringify(p));
  }
});

Deno.test("a completion event in a bypass guest costs exactly the dom0 hop", async () => {
  for (const p of PROFILES) {
    const x = xenOf(p);
    const native = await eventLatency(p, "native", { iters: 20 });
    const bypass = await eventLatency(p, "bypass", { iters: 20 });
    // dom0's upcall and switch, the event marshalled into the event ring, the send, the
    // guest's upcall and switch, the event copied out.
    const hop = 2 * (x.upcallNs + x.domainSwitchNs) + 2 * x.ringMarshalNs + x.hypercallNs;
    assert.ok(
      Math.abs((bypass.typicalUs - native.typicalUs) * 1000 - hop) < 1e-6,
      `${bypass.typicalUs} - ${native.typicalUs} µs vs ${hop} ns`,
    );
    // One event for each completion: the receive's and (perftest -e signals every send) the send's.
    assert.equal(bypass.evtchnSendsPerMsg, 2);
    assert.equal(bypass.backendRequestsPerMsg, 0);
  }
});

Deno.test("the bypass fast path does not depend on any Xen primitive", async () => {
  const slowXen = {
    base: "pcix-sdr-2006",
    xen: { upcallNs: 50_000, domainSwitchNs: 30_000, hypercallNs: 9_000, ringMarshalNs: 7_000 },
  };
  const native = await writeLatency(slowXen, { size: 2, iters: 30 });
  const bypass = await writeLatency(slowXen, { size: 2, iters: 30, placement: "bypass" });
  const split = await writeLatency(slowXen, { size: 2, iters: 30, placement: "split" });
  assert.equal(bypass.typicalUs, native.typicalUs);
  // The split baseline's posts and polls do cross dom0: they pay for it.
  assert.ok(split.typicalUs > native.typicalUs + 50, `split ${split.typicalUs} µs`);
});

Deno.test("the split baseline's latency overhead is per message: the same at every payload size", async () => {
  // Large enough that the peer's reply, not the poll for the own send completion, is on the
  // critical path; the extra is then the doorbell request's crossings, whatever the size.
  const extra: number[] = [];
  for (const size of [512, 1024, 4096]) {
    const native = await writeLatency("pcix-sdr-2006", { size, iters: 30 });
    const split = await writeLatency("pcix-sdr-2006", { size, iters: 30, placement: "split" });
    extra.push(Math.round((split.typicalUs - native.typicalUs) * 1000));
  }
  // The same to within one poll period: the spinning reader notices a write at its next poll.
  const x = new Cluster({ profile: "pcix-sdr-2006", seed: 1 }).profile;
  assert.ok(
    Math.max(...extra) - Math.min(...extra) <= x.cpu.emptyPollNs,
    `one-way extra by size: ${extra.join(", ")} ns`,
  );
  // Guest kernel entry, marshalling, the notifying hypercall, dom0's upcall and switch, its
  // marshalling and checks, and the copy of one WQE.
  const doorbell = x.cpu.syscallNs + 2 * x.xen.ringMarshalNs + x.xen.hypercallNs +
    x.xen.upcallNs + x.xen.domainSwitchNs + x.xen.backendOpNs;
  for (const e of extra) assert.ok(e >= doorbell && e < doorbell + 200, `${e} vs ${doorbell} ns`);
});
