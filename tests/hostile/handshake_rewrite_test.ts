/**
 * A connected frontend rewrites what it published for the handshake
 * (DESIGN §9 invariants 4 and 5): its `ring-ref`, `event-ring-ref` and
 * `event-channel` nodes, to the victim's values, to refs it never granted,
 * to garbage, and writes Initialised and Connected again over and over.
 * As Linux's backends (xen-blkback/xenbus.c `connect_ring` reads the nodes
 * once, when the frontend is Initialised and the backend not yet
 * Connected), dom0 reads them once per connection: while connected nothing
 * is read, mapped or bound again, and the connection goes on over the
 * rings it mapped. What the frontend wrote is read at its next connection
 * only: a re-probe with the victim's refs and port is refused by Xen (they
 * index the attacker's own tables) and the device closes before anything
 * is mapped; a re-probe with honest values connects. These held when first
 * probed; the file keeps them.
 */
import assert from "node:assert/strict";
import { VIB_KEYS } from "../../drivers/vib/mod.ts";
import { end } from "../xenib_support.ts";
import { backOf, scene, verdict } from "./support.ts";

Deno.test("handshake rewrite: a connected frontend's new ring-ref, event-ring-ref and event-channel are not read until it connects again", async () => {
  const s = await scene();
  const { evil, hv, victim: v } = s;
  await s.cluster.run(async () => {
    const xs = hv.xenstore, me = evil.domid!;
    const dir = evil.front.o.paths.frontend, vdir = v.vm.front.o.paths.frontend;
    const node = (k: string) => `${dir}/${k}`;
    const keys = [VIB_KEYS.ringRef, VIB_KEYS.eventRingRef, VIB_KEYS.eventChannel];
    const honest = keys.map((k) => xs.read(me, node(k)));
    const theirs = keys.map((k) => xs.read(0, `${vdir}/${k}`));
    const e = await end(evil);
    const back = backOf(s, evil);
    const mapped = hv.grantsMappedFrom(me), bound = hv.stats().evtchnsBound;

    for (const values of [theirs, ["0", "1", "2"], ["4294967295", "99999", "x"], honest]) {
      keys.forEach((k, i) => xs.write(me, node(k), values[i]));
      for (const state of ["3", "4", "3", "4"]) xs.write(me, node("state"), state);
      await s.cluster.sleep(100_000);
      assert.ok(back.connected, `still connected (${values})`);
      assert.equal(back.connections, 1);
      assert.equal(hv.grantsMappedFrom(me), mapped, "nothing mapped again");
      assert.equal(hv.stats().evtchnsBound, bound, "nothing bound again");
      await e.ctx.allocPd(); // served over the rings mapped at connect
    }

    // Its next connection reads what it wrote: the victim's refs and port are refused by Xen,
    // and the device closes before anything of the connection is mapped.
    await evil.detachDevice();
    keys.forEach((k, i) => xs.write(me, node(k), theirs[i]));
    xs.write(me, node("state"), "1");
    await s.cluster.sleep(100_000);
    xs.write(me, node("state"), "3");
    await s.cluster.sleep(200_000);
    assert.equal(back.connected, false);
    assert.equal(back.closeReason, "connect: EINVAL: grant map refused (EINVAL)");
    assert.equal(back.connections, 1, "no connection made on the victim's values");
    assert.equal(hv.grantsMappedFrom(me), 0);
    // An honest re-probe connects.
    await evil.attachDevice();
    assert.equal(back.connections, 2);
    await (await end(evil)).ctx.allocPd();
    await verdict(s, { attacker: "shutdown" });
  });
});
