/**
 * A control-path flood against another guest's latency (issue 11, point 4;
 * DESIGN §9 invariant 10). Dom0 has one VCPU (the profile's default) on
 * which every backend, the HCA interrupt's upcall and event forwarding run.
 * An attacker guest keeps dom0 busy with 200 registrations of 1024 pages
 * (each maps and unmaps 1024 grants: milliseconds of dom0 CPU), eight at a
 * time; meanwhile a victim guest creates a QP every 12 ms.
 *
 * With dom0's fair scheduler (round robin across the frontends' backends,
 * preemptive at every `dom0.sliceNs` of work) the victim's createQp stays
 * within 2× of its quiet latency. The same measurement with a FIFO dom0
 * (run to completion in arrival order, `dom0Scheduler: "fifo"`) breaks the
 * bound by far: the assertion is one that unfair service fails.
 */
import assert from "node:assert/strict";
import { Access, Cluster, QpType, type XenGuest } from "../../mod.ts";
import { xenOf } from "../xenib_support.ts";

const PAGES = 1024, WORKERS = 8, SAMPLES = 12;

interface Flood {
  quietNs: number;
  busyNs: number[];
  registrations: number;
  dom0: { busyNs: number; waitNs: number; preemptions: number };
}

async function flood(dom0Scheduler: "fair" | "fifo", count: number): Promise<Flood> {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 21 });
  const xen = cluster.addHost({ name: "xen0", hypervisor: true, dom0Scheduler });
  await cluster.start();
  const victim = await xen.createGuest({ name: "victim" }) as XenGuest;
  // No registration cache: every registration maps and unmaps all its pages in dom0.
  const evil = await xen.createGuest({ name: "evil", memoryMiB: 64, regCache: false }) as XenGuest;
  const out = await cluster.run(async () => {
    const ctx = await victim.openDevice();
    const pd = await ctx.allocPd();
    const cq = await ctx.createCq(64);
    const createQp = async () => {
      const t = cluster.now;
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 16, maxRecvWr: 16, maxSendSge: 1, maxRecvSge: 1 },
      });
      const ns = cluster.now - t;
      await qp.destroy();
      return ns;
    };
    const quietNs = await createQp();
    const epd = await (await evil.openDevice()).allocPd();
    let registrations = 0;
    const workers = Array.from(
      { length: WORKERS },
      (_, w) =>
        cluster.engine.spawn(`flood ${w}`, async () => {
          const buf = evil.memory.alloc(PAGES * 4096, 4096);
          for (let i = w; i < count; i += WORKERS) {
            const mr = await epd.regMr(buf, PAGES * 4096, Access.LOCAL_WRITE);
            await mr.dereg();
            registrations++;
          }
        }),
    );
    const busyNs: number[] = [];
    await cluster.sleep(2_000_000);
    for (let i = 0; i < SAMPLES; i++) {
      busyNs.push(await createQp());
      await cluster.sleep(12_000_000);
    }
    const during = registrations;
    await Promise.all(workers);
    assert.ok(during < count, "the samples were taken while the flood ran");
    return { quietNs, busyNs, registrations };
  });
  const v = xenOf(xen).hv.dom0Vcpus;
  const s = v.stats();
  await victim.shutdown();
  await evil.shutdown();
  assert.deepEqual(xen.audit(), []);
  return { ...out, dom0: { busyNs: s.busyNs, waitNs: s.waitNs, preemptions: v.preemptions } };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/**
 * The bound of must-show 4: the victim's createQp under the flood within 2×
 * of quiet, typically and on average. (A single sample may exceed it when
 * its firmware command queues behind the attacker's WRITE_MTT of 1024
 * entries, 81 µs on the HCA's command interface: a device resource dom0's
 * scheduler cannot preempt.)
 */
function withinTwice(f: Flood): boolean {
  return median(f.busyNs) <= 2 * f.quietNs && mean(f.busyNs) <= 2 * f.quietNs;
}

Deno.test("control flood: with dom0's fair scheduler another guest's createQp stays within 2x of quiet; FIFO breaks it", async () => {
  // 200 registrations of 1024 pages against the fair dom0; a shorter flood (still running at
  // every sample) is enough to show the FIFO dom0 failing the same bound.
  const fair = await flood("fair", 200);
  const fifo = await flood("fifo", 64);
  const show = (f: Flood) =>
    `quiet ${f.quietNs} ns, under flood median ${median(f.busyNs)} mean ${
      Math.round(mean(f.busyNs))
    } max ${Math.max(...f.busyNs)} ns`;
  assert.equal(fair.registrations, 200);
  assert.equal(fifo.registrations, 64);
  assert.ok(withinTwice(fair), `fair: ${show(fair)}`);
  assert.ok(fair.dom0.preemptions > 0, "the flood was preempted for the victim");
  assert.ok(!withinTwice(fifo), `fifo must fail the bound: ${show(fifo)}`);
  console.log(`fair: ${show(fair)}; fifo: ${show(fifo)}`);
});
