/**
 * Crashes in the middle of things (DESIGN §9 invariants 6 and 8): the
 * attacker dies while dom0 maps 1024 pages for its registration, while its
 * QP walks RESET → RTS, while its RDMA stream is on the wire, while dom0
 * opens a context for it (UAR mapping). Xen tears the domain down at once,
 * dom0's backend cleans up what it half built, the last reference frees the
 * last frame; the victim notices nothing and every count comes back.
 */
import assert from "node:assert/strict";
import { SendFlags, WrOpcode } from "../../mod.ts";
import { ACCESS, connect, end } from "../xenib_support.ts";
import { type Scene, scene, verdict } from "./support.ts";

/** Start `work` as the attacker's program, crash the attacker `afterNs` later. */
async function crashDuring(s: Scene, afterNs: number, work: () => Promise<unknown>) {
  const done = s.cluster.engine.spawn("attacker's program", work).then(
    () => "finished",
    (e) => String(e),
  );
  await s.cluster.sleep(afterNs);
  s.evil.crash();
  await s.evil.whenDead();
  return await done;
}

for (const afterNs of [20_000, 400_000]) {
  Deno.test(`crash mid-registration: 1024 pages, ${afterNs / 1000} µs in`, async () => {
    const s = await scene();
    const { evil, hv } = s;
    await s.cluster.run(async () => {
      const ctx = await evil.openDevice();
      const pd = await ctx.allocPd();
      const buf = evil.memory.alloc(1024 * 4096, 4096);
      evil.memory.write(buf, new Uint8Array([1]));
      let mapped = 0;
      const out = await crashDuring(s, afterNs, async () => {
        const reg = pd.regMr(buf, 1024 * 4096, ACCESS);
        await s.cluster.sleep(afterNs - 1000);
        mapped = hv.grantsMappedFrom(evil.domid!);
        return await reg;
      });
      // Its program dies with it: EIO from the gone device, EFAULT from its torn-down memory.
      assert.match(out, /EIO|torn down|finished/);
      if (afterNs > 100_000) assert.ok(mapped > 0, "caught while dom0 mapped its pages");
      await verdict(s);
    });
  });
}

Deno.test("crash mid-transition: the attacker dies while its QP walks RESET → INIT → RTR → RTS", async () => {
  for (const afterNs of [5_000, 30_000, 60_000]) {
    const s = await scene();
    await s.cluster.run(async () => {
      const a = await end(s.evil), peer = await end(s.bare.os);
      const out = await crashDuring(s, afterNs, () => connect(a, peer));
      assert.match(out, /EIO|finished/, `${afterNs} ns`);
      await peer.ctx.close();
      await verdict(s);
    });
  }
});

Deno.test("crash mid-stream: the attacker dies with 32 RDMA WRITEs of 64 KiB on the wire", async () => {
  const s = await scene({ attacker: "split" });
  const { evil } = s;
  await s.cluster.run(async () => {
    const a = await end(evil, 1 << 16), peer = await end(s.bare.os, 1 << 16);
    await connect(a, peer);
    const out = await crashDuring(s, 200_000, async () => {
      for (let i = 0; i < 32; i++) {
        a.qp.postSend({
          wrId: BigInt(i),
          opcode: WrOpcode.RDMA_WRITE,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: a.buf, length: 1 << 16, lkey: a.mr.lkey }],
          remoteAddr: peer.buf,
          rkey: peer.mr.rkey,
        });
        if (a.qp.pqp.sqOutstanding >= 16) await a.cq.pollUntil(1);
      }
      await a.cq.pollUntil(1);
    });
    assert.ok(out.length > 0);
    await peer.ctx.close();
    await verdict(s);
  });
});

Deno.test("crash mid-open: the attacker dies while dom0 maps a UAR page into it", async () => {
  for (const afterNs of [2_000, 8_000, 20_000]) {
    const s = await scene();
    await s.cluster.run(async () => {
      const out = await crashDuring(s, afterNs, () => s.evil.openDevice());
      assert.ok(out.length > 0, `${afterNs} ns`);
      await verdict(s);
    });
  }
});
