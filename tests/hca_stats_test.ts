import assert from "node:assert/strict";
import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
import { Hca } from "../hca/device.ts";
import { CmdOp } from "../hca/commands.ts";
import { ALL_ACCESS, must, withPair } from "./support/hca_harness.ts";

Deno.test("hca stats: free/used QPs, CQs, MRs, UARs and MTT entries follow the contexts and return to baseline", async () => {
  await withPair({}, async (p) => {
    const h = p.a;
    const base = h.hca.stats();
    const prof = PCIX_SDR_2006.hca;
    // The harness's EQ: one MR of 2 pages (8 KiB EQ), UAR 0.
    assert.equal(base.used.mr, 1);
    assert.equal(base.used.mtt, 2);
    assert.equal(base.used.eq, 1);
    assert.equal(base.used.uar, 1);
    assert.equal(base.free.mr, prof.maxMr - 1 - 1);
    assert.equal(base.free.qp, prof.maxQp - 2);

    const cq = await h.createCq(8, 3); // 8 KiB buffer: 1 MR, 2 MTT entries, UAR 3
    const qp = await h.createQp({ sendCq: cq, uar: 3 }); // WQ: 64·128 + 64·32 = 10 KiB → 3 pages
    const buf = await h.buffer(3 * 4096 + 100, ALL_ACCESS, 1, 4096); // 4 pages
    const s = h.hca.stats();
    assert.equal(s.used.cq, 1);
    assert.equal(s.used.qp, 1);
    assert.equal(s.used.mr, 4);
    assert.equal(s.used.mtt, 2 + 2 + 3 + 4);
    assert.equal(s.used.uar, 2);
    assert.equal(s.free.qp, base.free.qp - 1);
    assert.equal(s.free.cq, base.free.cq - 1);
    assert.equal(s.free.mtt, base.free.mtt - 9);
    assert.equal(s.free.uar, base.free.uar - 1);
    // The driver supplies what only it knows (PDs, AHs) and may override.
    const sw = h.hca.stats({ pd: 3, ah: 2 });
    assert.equal(sw.used.pd, 3);
    assert.equal(sw.free.pd, prof.maxPd - 3);
    assert.equal(sw.free.ah, prof.maxAh - 2);

    must(await h.exec(CmdOp.TO_RST_QP, { qpn: qp.qpn }));
    must(await h.exec(CmdOp.HW2SW_CQ, { cqn: cq.cqn }));
    for (const index of [2, 3]) must(await h.exec(CmdOp.HW2SW_MPT, { index })); // CQ and WQ buffers
    must(await h.exec(CmdOp.HW2SW_MPT, { index: buf.index }));
    const after = h.hca.stats();
    assert.deepEqual(after.used, base.used);
    assert.deepEqual(after.free, base.free);
  });
});

Deno.test("hca stats: a fresh device reports everything free and the profile's limits", async () => {
  const engine = new Engine();
  const hca = new Hca({
    engine,
    memory: new MachineMemory(16 << 20),
    irq: new InterruptController(),
    profile: PCIX_SDR_2006,
    rng: new Prng(1),
    name: "solo",
  });
  const lim = await engine.run(async () => {
    must(await hca.cmd.exec(CmdOp.INIT_HCA, {}));
    return must(await hca.cmd.exec(CmdOp.QUERY_DEV_LIM, {}));
  });
  const s = hca.stats();
  assert.equal(lim.maxQp, PCIX_SDR_2006.hca.maxQp);
  assert.equal(s.free.qp, lim.maxQp - lim.reservedQps);
  assert.equal(s.free.uar, lim.maxUar);
  assert.equal(s.used.mtt, 0);
  assert.equal(s.doorbellsRejected, 0);
  assert.equal(s.packetsSent, 0);
});
