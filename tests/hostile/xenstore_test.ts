/**
 * Xenstore abuse: the victim's nodes and the backend's are not the
 * attacker's to read, write, create or remove (per-node permissions, as
 * xenstored checks them, with no existence or size oracle); its own
 * frontend nodes are, and writing a state it has no business in gets it
 * disconnected. A guest that closed its device behind its kernel's back,
 * or removed its frontend nodes, still shuts down.
 */
import assert from "node:assert/strict";
import { end, guest } from "../xenib_support.ts";
import type { XenPlatform } from "../../platform/xen_host.ts";
import { backOf, checksum, scene, verdict } from "./support.ts";

function code(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

Deno.test("xenstore: the victim's and the backend's nodes refuse the attacker, with no oracle", async () => {
  const s = await scene();
  const { evil, victim, hv } = s;
  await s.cluster.run(async () => {
    await end(evil);
    const xs = hv.xenstore;
    const me = evil.domid!, v = victim.vm.domid!;
    const vfront = `/local/domain/${v}/device/vib/0`;
    const vback = `/local/domain/0/backend/vib/${v}/0`;
    const myback = `/local/domain/0/backend/vib/${me}/0`;
    for (const p of [`${vfront}/state`, `${vfront}/ring-ref`, `${vback}/state`]) {
      assert.equal(code(() => xs.read(me, p)), "EACCES", `read ${p}`);
      assert.equal(code(() => xs.write(me, p, "6")), "EACCES", `write ${p}`);
      // Past the 2048-byte value quota, within one message: permission first, no size oracle.
      assert.equal(code(() => xs.write(me, p, "x".repeat(3000))), "EACCES", `big write ${p}`);
      assert.equal(code(() => xs.mkdir(me, p)), "EACCES", `mkdir ${p}`);
      assert.equal(code(() => xs.rm(me, p)), "EACCES", `rm ${p}`);
    }
    assert.equal(code(() => xs.write(me, `${vfront}/new`, "1")), "EACCES", "create under");
    assert.equal(code(() => xs.write(me, `${myback}/state`, "4")), "EACCES", "its backend's");
    assert.equal(code(() => xs.write(me, "/tool/x", "1")), "EACCES");
    // A request longer than XENSTORE_PAYLOAD_MAX is E2BIG before anything looks at its path
    // (xs_talkv): under the victim's nodes as under its own, existing or not — no oracle.
    for (const base of [`${vfront}/state`, `${vfront}/none`, `/local/domain/${me}/data`]) {
      const long = `${base}/${"x".repeat(4096)}`;
      for (
        const [name, op] of [
          ["read", () => xs.read(me, long)],
          ["write", () => xs.write(me, long, "1")],
          ["rm", () => xs.rm(me, long)],
          ["set_perms", () => xs.setPerms(me, long, [{ domid: me, perm: "b" }])],
          ["watch", () => xs.watch(me, long, "t", () => {})],
        ] as const
      ) assert.equal(code(op), "E2BIG", `${name} ${base}/…`);
    }
    // Watches on nodes it cannot read report nothing it could not see anyway.
    const seen: string[] = [];
    assert.equal(code(() => xs.watch(me, vfront, "spy", (p) => seen.push(p))), "ok");
    xs.write(v, `${vfront}/probe`, "1"); // the victim's own write
    assert.deepEqual(seen.filter((p) => p.includes("probe")), [], "no event about it");
    xs.rm(v, `${vfront}/probe`);
    assert.ok(backOf(s, evil).connected);
    await verdict(s);
  });
});

Deno.test("xenstore: the special nodes' permissions are not the attacker's to set; it hears no other domain come or go", async () => {
  // xenstored 4.17 set_perms_special (xenstored_domain.c): EACCES without XS_PERM_WRITE and
  // XS_PERM_OWNER on the node, which dom0 alone has by default; check_perms_special then keeps
  // @introduceDomain and @releaseDomain from a watcher the node's list does not let read, on
  // the node or on "/". Dom0's own watch (the backend reaping a dead frontend) still fires.
  const s = await scene();
  const { evil, hv } = s;
  await s.cluster.run(async () => {
    await end(evil);
    const xs = hv.xenstore;
    const me = evil.domid!;
    for (const sp of ["@releaseDomain", "@introduceDomain"]) {
      assert.equal(code(() => xs.setPerms(me, sp, [{ domid: me, perm: "b" }])), "EACCES", sp);
      assert.equal(
        code(() => xs.setPerms(me, sp, [{ domid: 0, perm: "n" }, { domid: me, perm: "r" }])),
        "EACCES",
        sp,
      );
    }
    assert.equal(code(() => xs.setPerms(me, "@other", [{ domid: me, perm: "n" }])), "EINVAL");
    const seen: string[] = [];
    for (const p of ["@releaseDomain", "@introduceDomain", "/"]) {
      xs.watch(me, p, "spy", (path) => seen.push(path));
    }
    seen.length = 0;
    // Another guest comes and goes; dom0's backend hears it go and lets its device go.
    const other = await guest(s.xen, "bystander");
    const instances = (s.xen.platform as XenPlatform).backend!.instances();
    assert.ok(instances.has(other.domid!));
    await other.shutdown();
    await s.cluster.sleep(1_000_000);
    assert.equal(instances.has(other.domid!), false, "dom0 reaped the bystander's backend");
    assert.deepEqual(seen.filter((p) => p.startsWith("@")), [], "no special event reached it");
    assert.ok(backOf(s, evil).connected);
    await verdict(s);
  });
});

Deno.test("xenstore: a node that does not exist under another domain's refuses as one that does", async () => {
  // xenstored's errno_from_parents (tools/xenstore/xenstored_core.c): a lookup that fails
  // answers ENOENT only if the caller has the access it asked for on the nearest node above;
  // else EACCES, the answer for an existing node. ENOENT against EACCES used to tell the
  // attacker which domains, devices and backend nodes exist.
  const s = await scene();
  const { evil, victim, hv } = s;
  await s.cluster.run(async () => {
    await end(evil);
    const xs = hv.xenstore;
    const me = evil.domid!, v = victim.vm.domid!;
    const vback = `/local/domain/0/backend/vib/${v}/0`;
    const pairs: [string, string][] = [
      [`/local/domain/${v}`, "/local/domain/777"], // a domain, and none
      [`/local/domain/${v}/device/vib/0`, `/local/domain/${v}/device/vib/7`], // a device, and none
      [`${vback}/state`, `${vback}/nothing-here`], // a backend node, and none
      ["/local/domain/0/backend/vib/" + v, "/local/domain/0/backend/vib/777"],
    ];
    const ops: [string, (p: string) => unknown][] = [
      ["read", (p) => xs.read(me, p)],
      ["exists", (p) => xs.exists(me, p)],
      ["directory", (p) => xs.directory(me, p)],
      ["get_perms", (p) => xs.getPerms(me, p)],
      ["set_perms", (p) => xs.setPerms(me, p, [{ domid: me, perm: "n" }])],
      ["rm", (p) => xs.rm(me, p)],
    ];
    for (const [there, absent] of pairs) {
      for (const [name, op] of ops) {
        assert.equal(code(() => op(there)), "EACCES", `${name} ${there}`);
        assert.equal(code(() => op(absent)), "EACCES", `${name} ${absent}: no oracle`);
      }
    }
    // Under its own nodes a missing node is still ENOENT, and rm of one is still a success.
    const home = `/local/domain/${me}/device/vib/0`;
    assert.equal(code(() => xs.read(me, `${home}/nothing-here`)), "ENOENT");
    assert.equal(xs.exists(me, `${home}/nothing-here`), false);
    assert.equal(code(() => xs.rm(me, `${home}/nothing-here`)), "ok");
    assert.equal(code(() => xs.rm(me, `${home}/no/such/parent`)), "ENOENT");
    assert.ok(backOf(s, evil).connected);
    await verdict(s);
  });
});

Deno.test("xenstore: a guest watch handler that throws or rejects hurts only that guest", async () => {
  // xenstored delivers a watch event as a message on the watcher's own connection; what the
  // guest's handler does with it cannot reach xenstored or anyone else. The model used to
  // rethrow a guest handler's exception out of the store: an uncaught error that stopped the
  // whole simulation, dom0 and every guest with it.
  const s = await scene();
  const { evil, hv } = s;
  await s.cluster.run(async () => {
    await end(evil);
    const xs = hv.xenstore;
    const home = `/local/domain/${evil.domid}/device/vib/0`;
    xs.watch(evil.domid!, home, "throws", () => {
      throw new Error("the guest's handler throws");
    });
    xs.watch(evil.domid!, home, "rejects", () => Promise.reject(new Error("and rejects")));
    xs.write(evil.domid!, `${home}/poke`, "1");
    await s.cluster.sleep(10_000);
    assert.equal(xs.guestWatchErrors, 4, "two registrations and one write, two handlers each");
    // dom0's own watches keep firing: a second device context of the victim's connects.
    const ctx = await s.victim.vm.openDevice();
    await ctx.close();
    s.victim.sum = checksum(s.victim.vm); // its own open wrote its memory
    xs.rm(evil.domid!, `${home}/poke`);
    await verdict(s);
  });
});

Deno.test("xenstore: a message longer than XENSTORE_PAYLOAD_MAX is refused, not kept", async () => {
  // io/xs_wire.h: XENSTORE_PAYLOAD_MAX 4096; libxenstore's xs_talkv answers E2BIG before sending,
  // xenstored drops a client that sends more. A watch token used to be kept at any length: the
  // guest's 129 watches could hold gigabytes of dom0's memory.
  const s = await scene();
  const { evil, hv } = s;
  await s.cluster.run(async () => {
    await end(evil);
    const xs = hv.xenstore, me = evil.domid!;
    const watches = xs.watchesOf(me);
    assert.equal(code(() => xs.watch(me, "device", "t".repeat(10_000_000), () => {})), "E2BIG");
    assert.equal(code(() => xs.watch(me, "device", "t".repeat(4090), () => {})), "E2BIG");
    assert.equal(xs.watchesOf(me), watches, "nothing kept");
    // A long name and value fit (the parent's and the node's records stay under
    // quota_max_entry_size); a path past XENSTORE_REL_PATH_MAX does not; a message past
    // XENSTORE_PAYLOAD_MAX is E2BIG before anything else is looked at.
    const node = `device/vib/0/${"n".repeat(1000)}`;
    assert.equal(code(() => xs.write(me, node, "v".repeat(1900))), "ok", "2914 bytes fit");
    assert.equal(code(() => xs.write(me, `${node}x`.repeat(3), "v")), "EINVAL", "path too long");
    assert.equal(code(() => xs.write(me, `${node}xx`, "v".repeat(3100))), "E2BIG");
    xs.rm(me, node);
    assert.ok(backOf(s, evil).connected);
    await verdict(s);
  });
});

Deno.test("xenstore: a permission list that changes while it is read is kept as it was checked", async () => {
  // xenstored parses the request it copied off the ring; here the list is the caller's object,
  // whose reads could change between the check (1..64 entries, n/r/w/b) and the copy.
  const s = await scene();
  const { evil, hv } = s;
  await s.cluster.run(async () => {
    await end(evil);
    const xs = hv.xenstore, me = evil.domid!;
    const node = `/local/domain/${me}/device/vib/0/perm-probe`;
    xs.write(me, node, "1");
    let lengthReads = 0, permReads = 0;
    const entry = {
      domid: me,
      get perm() {
        return ++permReads === 1 ? "r" : "x";
      },
    };
    const list = new Proxy([entry], {
      get: (t, k, r) => k === "length" ? (++lengthReads <= 2 ? 1 : 100_000) : Reflect.get(t, k, r),
    });
    xs.setPerms(me, node, list as never);
    assert.deepEqual(xs.getPerms(me, node), [{ domid: me, perm: "r" }]);
    xs.rm(me, node);
    await verdict(s);
  });
});

Deno.test("xenstore: a frontend writing garbage into its own state node is disconnected", async () => {
  const s = await scene();
  const { evil, hv } = s;
  await s.cluster.run(async () => {
    await end(evil);
    hv.xenstore.write(evil.domid!, `/local/domain/${evil.domid}/device/vib/0/state`, "abc");
    await s.cluster.sleep(200_000);
    assert.match(backOf(s, evil).closeReason ?? "", /frontend gone/);
    assert.equal(backOf(s, evil).contextCount, 0);
    assert.ok(evil.running);
    // A frontend that is gone ends the device (Linux: Unknown is device_unregister), and its
    // backend directory goes with it: probing the device again is a clear refusal, not a wait.
    assert.equal(backOf(s, evil).done, true);
    assert.equal(hv.xenstore.exists(0, `/local/domain/0/backend/vib/${evil.domid}`), false);
    await assert.rejects(
      evil.attachDevice(),
      /ENODEV: attachDevice: evil's device is unplugged \(its backend is gone or not online\)/,
    );
    await verdict(s, { attacker: "shutdown" });
  });
});

Deno.test("xenstore: a frontend writing InitWait, a backend's state, into its state node is disconnected", async () => {
  // Linux backends' frontend_changed: any state but theirs is "saw state %d at frontend", fatal.
  for (const mode of ["bypass", "split"] as const) {
    const s = await scene({ attacker: mode });
    const { evil, hv } = s;
    await s.cluster.run(async () => {
      await end(evil);
      hv.xenstore.write(evil.domid!, `/local/domain/${evil.domid}/device/vib/0/state`, "2");
      await s.cluster.sleep(200_000);
      assert.equal(backOf(s, evil).closeReason, "frontend in state InitWait, a backend's state");
      assert.equal(backOf(s, evil).contextCount, 0);
      assert.deepEqual(evil.devices(), [], mode);
      assert.ok(evil.running);
      await verdict(s, { attacker: "shutdown" });
    });
  }
});

Deno.test("xenstore: a guest that closes its device behind its kernel's back still shuts down, and can be crashed", async () => {
  // It writes Closing into its own state node and shuts down while dom0 tears down.
  for (const then of ["shutdown", "crash"] as const) {
    const s = await scene();
    const { evil, hv } = s;
    await s.cluster.run(async () => {
      await end(evil);
      hv.xenstore.write(evil.domid!, `/local/domain/${evil.domid}/device/vib/0/state`, "5");
      if (then === "crash") {
        await evil.shutdown();
        evil.crash(); // a no-op on a dead domain, never a throw
      }
      await verdict(s, { attacker: "shutdown" });
      assert.match(backOf(s, evil)?.closeReason ?? "frontend closed", /frontend closed/);
    });
  }
});

Deno.test("xenstore: a guest that removed its own frontend nodes still shuts down", async () => {
  const s = await scene();
  const { evil, hv } = s;
  await s.cluster.run(async () => {
    await end(evil);
    hv.xenstore.rm(evil.domid!, `/local/domain/${evil.domid}/device/vib/0`);
    await s.cluster.sleep(200_000);
    assert.deepEqual(evil.devices(), [], "its device is gone");
    await verdict(s, { attacker: "shutdown" });
  });
});

Deno.test("xenstore: a frontend flipping its state out of order gets its own device closed, nothing leaks, and it can come back", async () => {
  // Linux backends' frontend_changed (xen-blkback/xenbus.c): Initialising re-arms a Closed
  // backend (InitWait) and changes nothing otherwise; Closing or Closed disconnects; with the
  // device online the backend stays for a re-probe. No order of states may reach the victim,
  // leave a mapping, a port or an HCA object behind, or wedge dom0's backend.
  for (const mode of ["bypass", "split"] as const) {
    const s = await scene({ attacker: mode });
    const { evil, hv } = s;
    await s.cluster.run(async () => {
      const xs = hv.xenstore, me = evil.domid!;
      const fstate = `/local/domain/${me}/device/vib/0/state`;
      const bstate = `/local/domain/0/backend/vib/${me}/0/state`;
      const flip = (v: string) => xs.write(me, fstate, v);
      const back = backOf(s, evil);
      const connectedIdle = hv.stats(); // its two ring pages and its event channel
      const used = () => s.xen.hca.stats().used;
      const e = await end(evil);

      // Initialising while Connected: nothing changes, it is still served.
      flip("1");
      await s.cluster.sleep(200_000);
      assert.equal(xs.read(0, bstate), "4", mode);
      assert.equal(back.contextCount, 1);
      await e.ctx.allocPd();

      // Closed behind its kernel's back: dom0 tears the connection down (Closing), its kernel
      // lets go of its side (Closed), dom0 goes Closed; the device stays.
      flip("6");
      await back.whenDisconnected();
      await s.cluster.sleep(1_000_000);
      assert.equal(xs.read(0, bstate), "6");
      assert.deepEqual(evil.devices(), []);
      const closed = hv.stats(), closedUsed = used();
      assert.equal(closed.grantsMapped, connectedIdle.grantsMapped - 2, `${mode}: rings unmapped`);
      assert.equal(closed.evtchnsBound, connectedIdle.evtchnsBound - 2, `${mode}: port closed`);
      assert.equal(back.contextCount, 0);
      await assert.rejects(e.ctx.allocPd(), /EIO/);

      // Closed -> Initialising over and over, with and without time for dom0 in between;
      // Closing and Closed while dom0 waits in InitWait with no connection.
      for (let i = 0; i < 30; i++) {
        flip("1");
        if (i % 2 === 0) {
          await s.cluster.sleep(50_000);
          assert.equal(xs.read(0, bstate), "2", `${mode} round ${i}: InitWait again`);
        }
        flip(i % 3 === 0 ? "5" : "6");
        if (i % 5 !== 4) await s.cluster.sleep(50_000);
      }
      flip("1");
      flip("6");
      flip("1");
      await s.cluster.sleep(200_000);
      assert.equal(xs.read(0, bstate), "2");
      flip("5"); // Closing without a connection: dom0 goes Closing, and waits for its Closed
      await s.cluster.sleep(200_000);
      assert.equal(xs.read(0, bstate), "5");
      assert.deepEqual(hv.stats(), { ...closed, framesAllocated: hv.stats().framesAllocated });
      assert.deepEqual(used(), closedUsed, `${mode}: no HCA object made or left`);
      assert.equal(back.connections, 1, "no connection was made");
      assert.equal(back.done, false, "dom0's backend still serves the device");

      // Its kernel probes the device again (its node left at Closing): a working device.
      await evil.attachDevice();
      assert.equal(xs.read(0, bstate), "4");
      assert.equal(back.connections, 2);
      const e2 = await end(evil);
      await e2.ctx.allocPd();
      await verdict(s, { attacker: mode === "bypass" ? "shutdown" : "crash" });
    });
  }
});

Deno.test("xenstore: a frontend in Reconfiguring or Reconfigured is disconnected, not taken for gone", async () => {
  // io/xenbus.h defines 7 and 8; a backend that does not reconfigure takes them as Linux's
  // backends take any state they do not handle: xenbus_dev_fatal, the device stays. They used
  // to read as a vanished frontend, which ended the device for good.
  for (const raw of ["7", "8"]) {
    const s = await scene();
    const { evil, hv } = s;
    await s.cluster.run(async () => {
      await end(evil);
      const back = backOf(s, evil);
      hv.xenstore.write(evil.domid!, `/local/domain/${evil.domid}/device/vib/0/state`, raw);
      await back.whenDisconnected();
      assert.equal(back.closeReason, `frontend in state ${raw}, which vib does not use`);
      assert.equal(back.contextCount, 0);
      await s.cluster.sleep(1_000_000);
      assert.equal(back.done, false, "the device stays");
      await evil.attachDevice();
      await (await end(evil)).ctx.allocPd();
      assert.equal(back.connections, 2);
      await verdict(s, { attacker: "shutdown" });
    });
  }
});

Deno.test("xenstore: a frontend that reconnects over and over with objects open leaves nothing behind each time, and the victim keeps its traffic", async () => {
  // Each detach ends a connection with a context, a PD, a CQ, a registered buffer and a QP still
  // open (its kernel let go of them, not its program); each attach maps new rings and binds a new
  // port. Linux's backends put no bound on re-probes either: what keeps this harmless is that each
  // connection's teardown returns everything and dom0's work is charged to the guest's account.
  for (const mode of ["bypass", "split"] as const) {
    const s = await scene({ attacker: mode });
    const { evil, hv, victim: v } = s;
    await s.cluster.run(async () => {
      const back = backOf(s, evil);
      let first: string | undefined;
      for (let i = 0; i < 8; i++) {
        const e = await end(evil);
        await e.ctx.createCq(4);
        await evil.detachDevice();
        await evil.attachDevice();
        // Between connections: the same device objects, mappings, ports and quota use each time.
        const { framesAllocated: _, ...st } = hv.stats();
        const now = JSON.stringify([
          st,
          s.xen.hca.stats().used,
          back.ledger.used,
          back.contextCount,
        ]);
        first ??= now;
        assert.equal(now, first, `${mode}: cycle ${i}`);
        // The victim's control path is served meanwhile.
        await (await v.end.ctx.createCq(4)).destroy();
      }
      assert.equal(back.connections, 9);
      v.sum = checksum(v.vm); // its own CQs wrote its memory
      await verdict(s, { attacker: mode === "bypass" ? "crash" : "shutdown" });
    });
  }
});
