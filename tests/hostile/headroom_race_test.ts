/**
 * Attack (DESIGN §9 invariant 9): guests that each have a request in
 * flight at once take dom0's reserve between them. Dom0's headroom
 * (`drivers/back/headroom.ts`) checks a request against what the device
 * has free, then the backend maps the request's grants and calls the
 * driver, which allocates — milliseconds later for a large registration,
 * while the other backends run. The check used to be only a look at the
 * free count: every guest whose request was in that window passed it
 * against the same count, and together they took what dom0 keeps for
 * itself and for new guests. Three guests registering 4 MiB each, when
 * the headroom left room for one, left dom0 496 of its 2048 MTT entries:
 * dom0's own program could no longer register what the reserve promises
 * it, and a guest booted then could not create a CQ.
 *
 * Now a check passed is a claim that counts against every later check
 * until the request ends (as Xen's `XENMEM_claim_pages` counts outstanding
 * claims against other allocations, and the rdma cgroup charges before the
 * object is made, `rdmacg_try_charge`): one racer gets its registration,
 * the others EAGAIN at dom0's headroom, and the reserve stays.
 *
 * The device is small (8192 MTT entries, 2048 kept) so that the reserve
 * is reached with little memory; the race does not depend on the sizes.
 */
import assert from "node:assert/strict";
import { Access, Cluster, type Pd, QpType, type XenGuest } from "../../mod.ts";
import { counts, xenOf } from "../xenib_support.ts";

const RESERVE = 2048, RACE = 1024;

Deno.test("headroom race: guests with registrations in flight at once cannot take dom0's reserve between them", async () => {
  const cluster = new Cluster({
    profile: { base: "pcix-sdr-2006", hca: { maxMtt: 8192 }, dom0: { reserveMtts: RESERVE } },
    seed: 5,
  });
  const xen = cluster.addHost({ name: "xen0", hypervisor: true });
  await cluster.start();
  const before = counts(xen) as { hv: { framesAllocated: number } };
  const dom0Frames = xen.hw.memory.ownedBy("dom0");
  const { driver, backend } = xenOf(xen);
  const filler = await xen.createGuest({ name: "filler", memoryMiB: 64 }) as XenGuest;
  const racers: XenGuest[] = [];
  for (const i of [1, 2, 3]) {
    racers.push(await xen.createGuest({ name: `racer${i}`, memoryMiB: 16 }) as XenGuest);
  }
  await cluster.run(async () => {
    const pds: Pd[] = [];
    for (const r of racers) pds.push(await (await r.openDevice()).allocPd());
    // One guest takes the device down to room for one more 1024-page registration above the
    // reserve (the MTT allocator hands out power-of-two segments).
    const fpd = await (await filler.openDevice()).allocPd();
    for (const pages of [4096, 512]) {
      await fpd.regMr(filler.memory.alloc(pages * 4096, 4096), pages * 4096, Access.LOCAL_WRITE);
    }
    const free = driver.available().mtt;
    assert.ok(free - RACE >= RESERVE && free - 2 * RACE < RESERVE, `free ${free}`);

    // Three guests register 1024 pages each at the same instant.
    const out = await Promise.all(
      racers.map((r, i) =>
        pds[i].regMr(r.memory.alloc(RACE * 4096, 4096), RACE * 4096, Access.LOCAL_WRITE)
          .then(() => "ok", (e) => String(e))
      ),
    );
    assert.deepEqual(out.filter((o) => o === "ok").length, 1, out.join("; "));
    for (const o of out.filter((o) => o !== "ok")) {
      assert.match(o, /EAGAIN: REG_MR: .*dom0 keeps the rest of its mtt/);
    }
    assert.ok(driver.available().mtt >= RESERVE, `${driver.available().mtt} MTT entries left`);
    assert.equal(backend!.headroom.claimed("mtt"), 0, "every claim settled");

    // Dom0's own program registers what its reserve promises it...
    const d0 = await xen.dom0.openDevice();
    const d0buf = xen.dom0.memory.alloc(RESERVE * 4096, 4096);
    const d0mr = await (await d0.allocPd()).regMr(d0buf, RESERVE * 4096, Access.LOCAL_WRITE);
    await d0mr.dereg();
    await d0.close();
    // ...and a guest booted now gets its device and makes a CQ and a QP.
    const late = await xen.createGuest({ name: "late", memoryMiB: 16 }) as XenGuest;
    const ctx = await late.openDevice();
    const cq = await ctx.createCq(16);
    const cap = { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 };
    await (await ctx.allocPd()).createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap });
    for (const vm of [late, filler, ...racers]) await vm.shutdown();
  });
  assert.deepEqual(xen.audit(), []);
  // Dom0's program keeps its buffer's pages (its allocator does not give them back).
  const dom0Grew = xen.hw.memory.ownedBy("dom0") - dom0Frames;
  const hv = { ...before.hv, framesAllocated: before.hv.framesAllocated + dom0Grew };
  assert.deepEqual(counts(xen), { ...before, hv }, "every count back");
  for (const pool of ["mtt", "mr", "cq", "qp", "grantMaps", "uar"] as const) {
    assert.equal(backend!.headroom.claimed(pool), 0, pool);
  }
});
