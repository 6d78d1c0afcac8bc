/**
 * A frontend that pulls the ground from under a request dom0 is serving
 * (DESIGN §9 invariants 2, 4, 6 and 8): it goes Closing, or ends the grants
 * dom0 has not mapped yet, while dom0 maps the 1024 pages of its
 * registration, or re-probes with new rings; a split frontend goes Closing
 * mid-stream, closes its own event channel, or polls the victim's CQ number.
 * As Linux's blkback, dom0 finishes the request in hand before it lets the
 * connection go (xen-blkback/xenbus.c `xen_blkif_disconnect` keeps a ring
 * with `inflight` requests mapped and says -EBUSY, and `frontend_changed`
 * connects no new ring meanwhile: "pending I/O"); Xen refuses a reference
 * whose grant was ended before it is mapped. Nothing of the request is left
 * behind, and the victim notices nothing. Every probe here held when first
 * run; the file keeps them, as nothing else covered them.
 */
import assert from "node:assert/strict";
import { VibOp } from "../../drivers/vib/mod.ts";
import { encodeGrantEntry } from "../../hypervisor/grant_table.ts";
import { ACCESS, connect, end, rdmaWrite } from "../xenib_support.ts";
import { backOf, ctxId, E, raw, type Scene, scene, verdict } from "./support.ts";

const PAGES = 1024;

/**
 * The attacker opens a context and starts a 1024-page registration as its
 * program: the grants dom0 mapped from it while idle, its backend, the
 * region's address and the registration's outcome as a string.
 */
async function registerInBackground(s: Scene) {
  const { evil, hv } = s;
  const pd = await (await evil.openDevice()).allocPd();
  const idle = hv.grantsMappedFrom(evil.domid!);
  const buf = evil.memory.alloc(PAGES * 4096, 4096);
  evil.memory.write(buf, new Uint8Array([1]));
  const done = s.cluster.engine.spawn(
    "attacker's registration",
    () => pd.regMr(buf, PAGES * 4096, ACCESS),
  ).then(() => "registered", (e) => String(e));
  return { idle, back: backOf(s, evil), buf, done };
}

/** "pending" while `p` has not settled, else what it settled with. */
function settled(p: Promise<string>): Promise<string> {
  return Promise.race([p, Promise.resolve("pending")]);
}

/** The attacker writes Closing into its own xenbus state node, behind its kernel's back. */
function closeBehindKernel(s: Scene): void {
  const me = s.evil.domid!;
  s.hv.xenstore.write(me, `/local/domain/${me}/device/vib/0/state`, "5");
}

Deno.test("mid-request: a frontend going Closing while dom0 maps its registration gets the request in hand finished, then everything back", async () => {
  const s = await scene();
  const { evil, hv } = s;
  await s.cluster.run(async () => {
    const me = evil.domid!;
    const { idle, back, done } = await registerInBackground(s);
    await s.cluster.sleep(400_000);
    assert.ok(hv.grantsMappedFrom(me) > idle, "caught while dom0 maps its pages");
    assert.equal(await settled(done), "pending", "in flight");
    closeBehindKernel(s);
    await back.whenDisconnected();
    // The request in hand is finished before the connection goes (blkback's
    // xen_blkif_disconnect: -EBUSY while `inflight`), and its region goes with the context.
    assert.equal(await done, "registered");
    await s.cluster.sleep(1_000_000);
    assert.equal(back.contextCount, 0, "its context and the region made for it were torn down");
    assert.equal(hv.grantsMappedFrom(me), 0, "no mapping of its pages or rings is left");
    assert.equal(back.done, false, "the device stays for a re-probe");
    await evil.attachDevice();
    assert.equal(back.connections, 2);
    await (await end(evil)).ctx.allocPd();
    await verdict(s, { attacker: "shutdown" });
  });
});

Deno.test("mid-request: grants ended while dom0 maps a registration make it fail with everything mapped so far unmapped", async () => {
  const s = await scene();
  const { evil, hv } = s;
  await s.cluster.run(async () => {
    const me = evil.domid!;
    const { idle, back, buf, done } = await registerInBackground(s);
    // dom0 maps the indirect pages of refs first, then the region's pages in one batch
    // (GNTTABOP_map_grant_ref takes an array): end the grants in between.
    while (hv.grantsMappedFrom(me) === idle) await s.cluster.sleep(1_000);
    assert.ok(hv.grantsMappedFrom(me) - idle < PAGES, "caught before the region's pages");
    // End (zero) the grant entries of the region's last pages, which dom0 has not mapped yet.
    const g = evil.grants;
    const last = buf / 4096 + PAGES - 64;
    let ended = 0;
    for (let r = 8; r < g.size; r++) {
      const e = g.readEntry(r);
      if (e.domid === 0 && e.frame >= last && e.frame < buf / 4096 + PAGES) {
        evil.memory.write(g.entryAddr(r), encodeGrantEntry({ flags: 0, domid: 0, frame: 0 }));
        ended++;
      }
    }
    assert.equal(ended, 64, "the grants of its last 64 pages");
    assert.equal(
      await done,
      "VerbsError: EINVAL: REG_MR: grant map refused (EINVAL)",
      "Xen refuses an ended grant: the registration fails",
    );
    assert.equal(hv.grantsMappedFrom(me), idle, "every page mapped for it was unmapped");
    assert.ok(back.connected, "a refused request, not a disconnect");
    await verdict(s);
  });
});

Deno.test("mid-request: a split guest's POLL_CQ naming the victim's CQ number is refused and moves nothing", async () => {
  const s = await scene({ attacker: "split", victim: "split" });
  const { evil, victim } = s;
  await s.cluster.run(async () => {
    const me = ctxId((await end(evil)).ctx);
    const vcqn = (victim.end.cq as unknown as { pcq: { cqn: number } }).pcq.cqn;
    for (const consumerIndex of [0, 0x7fff_ffff, 0xffff_ffff]) {
      const st = await raw(evil, {
        op: VibOp.POLL_CQ,
        ctx: me,
        body: { cqn: vcqn, consumerIndex },
      });
      assert.equal(st, E.EINVAL, `ci ${consumerIndex}`);
    }
    assert.ok(backOf(s, evil).connected);
    await verdict(s);
  });
});

for (const attacker of ["shutdown", "crash"] as const) {
  Deno.test(`mid-request: a frontend closing its own event channel behind its kernel's back is left to itself (${attacker})`, async () => {
    const s = await scene();
    const { evil, hv } = s;
    await s.cluster.run(async () => {
      const e = await end(evil);
      const back = backOf(s, evil);
      assert.equal(
        (await hv.hypercall(evil.xen, "event_channel_op:close", { port: evil.front.port })).rc,
        0,
      );
      const pd = e.ctx.allocPd().then(() => "ok", (err) => String(err));
      await s.cluster.sleep(1_000_000);
      // Its kernel's notification went nowhere: its own request waits, as on Xen (a send on a
      // closed port is EINVAL to the sender, and dom0 never hears of the request).
      assert.equal(await settled(pd), "pending");
      assert.ok(back.connected, "dom0 is not disturbed: it still serves the connection");
      await verdict(s, { attacker });
    });
  });
}

Deno.test("mid-request: a frontend re-probing with new rings while a registration is in flight gets a clean new connection", async () => {
  const s = await scene();
  const { evil, hv } = s;
  await s.cluster.run(async () => {
    const { back, done } = await registerInBackground(s);
    const idleHv = hv.stats();
    await s.cluster.sleep(100_000);
    assert.equal(await settled(done), "pending", "in flight");
    // Its kernel unbinds the driver and binds it again with the request in flight: new ring
    // pages, a new event channel, while dom0 still serves the old ring's request.
    await evil.detachDevice();
    await evil.attachDevice();
    assert.equal(back.connections, 2);
    assert.match(await done, /EIO|registered/);
    assert.equal(back.contextCount, 0, "nothing of the old connection is left");
    const now = hv.stats();
    assert.equal(now.grantsMapped, idleHv.grantsMapped, "only the new rings are mapped");
    assert.equal(now.evtchnsBound, idleHv.evtchnsBound, "only the new channel is bound");
    await (await end(evil)).ctx.allocPd();
    await verdict(s, { attacker: "shutdown" });
  });
});

Deno.test("mid-request: a split frontend going Closing in the middle of a run of doorbells and polls gets a clean disconnect", async () => {
  const s = await scene({ attacker: "split" });
  const { evil, hv } = s;
  await s.cluster.run(async () => {
    const me = evil.domid!;
    const a = await end(evil), peer = await end(s.bare.os);
    await connect(a, peer);
    const back = backOf(s, evil);
    const stream = s.cluster.engine.spawn("attacker's stream", async () => {
      for (let i = 0; i < 64; i++) await rdmaWrite(a, peer, { length: 64 });
    }).then(() => "done", (e) => String(e));
    await s.cluster.sleep(20_000);
    assert.equal(await settled(stream), "pending", "mid-run");
    closeBehindKernel(s);
    await back.whenDisconnected();
    assert.match(await stream, /done|EIO/);
    await s.cluster.sleep(1_000_000);
    assert.equal(back.contextCount, 0);
    assert.equal(hv.grantsMappedFrom(me), 0, "nothing of the connection is left mapped");
    await peer.ctx.close();
    await evil.attachDevice();
    await (await end(evil)).ctx.allocPd();
    await verdict(s, { attacker: "shutdown" });
  });
});
