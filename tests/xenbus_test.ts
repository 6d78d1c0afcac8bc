import assert from "node:assert/strict";
import { XenStore } from "../hypervisor/xenstore.ts";
import { DeadlockError, Engine } from "../sim/engine.ts";
import {
  createXenbusDevice,
  isLegalXenbusTransition,
  parseXenbusState,
  XenbusDevice,
  XenbusError,
  XenbusReconfigureState,
  XenbusState as S,
  xenbusStateName,
  type XenbusStateValue,
  type XenStoreLike,
} from "../drivers/xen/xenbus.ts";
import { cTest } from "./support/cc.ts";
import { WcStatus } from "../mod.ts";
import { cluster, connect, counts, end, guest, rdmaWrite, xenOf } from "./xenib_support.ts";

const FRONT = 1;

function setup() {
  const xs = new XenStore();
  xs.introduceDomain(0, "Domain-0");
  xs.introduceDomain(FRONT, "guest");
  const p = createXenbusDevice(xs, { type: "vib", frontDomid: FRONT, backDomid: 0, devid: 0 });
  const front = new XenbusDevice({
    xs,
    domid: FRONT,
    nodePath: p.frontend,
    otherendDomid: 0,
    otherendPath: p.backend,
  });
  const back = new XenbusDevice({
    xs,
    domid: 0,
    nodePath: p.backend,
    otherendDomid: FRONT,
    otherendPath: p.frontend,
  });
  return { xs, p, front, back };
}

function xenbusError(fn: () => unknown): XenbusError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof XenbusError, `expected XenbusError, got ${e}`);
    return e;
  }
  assert.fail("no error");
}

Deno.test("xenbus: a device needs only XenStoreLike (a minimal map-backed store works)", () => {
  const data = new Map<string, string>();
  const watches: [string, () => void][] = [];
  const mini: XenStoreLike = {
    read(_c, path) {
      const v = data.get(path);
      if (v === undefined) throw Object.assign(new Error(`no ${path}`), { code: "ENOENT" });
      return v;
    },
    write(_c, path, value) {
      data.set(path, value);
      for (const [w, cb] of watches) if (path.startsWith(w)) cb();
    },
    watch(_c, path, _t, cb) {
      watches.push([path, () => cb(path, _t)]);
      cb(path, _t);
    },
    unwatch() {},
  };
  const dev = new XenbusDevice({
    xs: mini,
    domid: 0,
    nodePath: "/b",
    otherendDomid: 1,
    otherendPath: "/f",
  });
  assert.equal(dev.state, S.Unknown, "no state node yet");
  const heard: XenbusStateValue[] = [];
  dev.onPeerChange((st) => heard.push(st));
  dev.switchState(S.Initialising);
  assert.equal(data.get("/b/state"), undefined, "a node that is not there is not created");
  data.set("/b/state", "1"); // the toolstack's
  dev.switchState(S.InitWait);
  mini.write(1, "/f/state", "3");
  assert.equal(data.get("/b/state"), "2");
  assert.deepEqual(heard, [S.Unknown, S.Initialised]);
  // A store failure that is not an errno-coded refusal is a bug and propagates.
  const broken: XenStoreLike = {
    ...mini,
    read: () => {
      throw new TypeError("bug");
    },
  };
  assert.throws(
    () =>
      new XenbusDevice({
        xs: broken,
        domid: 0,
        nodePath: "/b",
        otherendDomid: 1,
        otherendPath: "/f",
      }),
    TypeError,
  );
});

Deno.test("xenbus: watch tokens depend on the store's history only, not on earlier stores in the process", () => {
  // The tokens the devices of one fresh store register, as its watches see them.
  const tokensOfFreshStore = () => {
    const { xs, front, back } = setup();
    const tokens: string[] = [];
    const spy: XenStoreLike = {
      read: (c, p) => xs.read(c, p),
      write: (c, p, v) => xs.write(c, p, v),
      watch: (c, p, t, cb) => {
        tokens.push(t);
        xs.watch(c, p, t, cb);
      },
      unwatch: (c, p, t) => xs.unwatch(c, p, t),
    };
    for (const end of [front, back]) {
      const d = new XenbusDevice({
        xs: spy,
        domid: end.domid,
        nodePath: end.nodePath,
        otherendDomid: end.otherendDomid,
        otherendPath: end.otherendPath,
      });
      d.onPeerChange(() => {});
    }
    return tokens;
  };
  const first = tokensOfFreshStore();
  assert.equal(new Set(first).size, 2, "one token per device");
  assert.deepEqual(tokensOfFreshStore(), first, "the same calls for the same setup");
});

Deno.test("xenbus: the legal-transition table, checked over every pair of states", () => {
  const legal = new Set([
    "0>1",
    "1>2",
    "1>3",
    "1>5",
    "1>6",
    "2>3",
    "2>4",
    "2>5",
    "2>6",
    "3>4",
    "3>5",
    "3>6",
    "4>5",
    "4>6",
    "5>6",
    "6>1",
    "6>2",
  ]);
  for (let from = 0; from <= 7; from++) {
    for (let to = 0; to <= 7; to++) {
      assert.equal(
        isLegalXenbusTransition(from, to),
        legal.has(`${from}>${to}`),
        `${from} -> ${to}`,
      );
    }
  }
  assert.equal(xenbusStateName(S.InitWait), "InitWait");
  assert.equal(xenbusStateName(9), "invalid(9)");
});

Deno.test("xenbus: illegal transitions are refused, name both states, and write nothing", () => {
  const { xs, p, front, back } = setup();
  assert.equal(front.state, S.Initialising, "the toolstack created the device in Initialising");
  const events: string[] = [];
  xs.watch(0, p.frontend, "spy", (path) => events.push(path));
  events.length = 0;
  for (const to of [S.Connected, S.Unknown]) {
    const e = xenbusError(() => front.switchState(to));
    assert.equal(e.code, "illegal-transition");
    assert.match(e.message, new RegExp(`Initialising -> ${xenbusStateName(to)}`));
  }
  assert.equal(xs.read(FRONT, `${p.frontend}/state`), "1");
  assert.deepEqual(events, [], "no write reached the store");
  assert.equal(front.state, S.Initialising);

  // Walk the front to Closing; then Connected and Initialised are out of reach.
  front.switchState(S.Initialised);
  front.switchState(S.Connected);
  assert.throws(() => front.switchState(S.Initialised), /Connected -> Initialised/);
  assert.throws(() => front.switchState(S.InitWait), /Connected -> InitWait/);
  front.switchState(S.Closing);
  assert.throws(() => front.switchState(S.Connected), /Closing -> Connected/);
  assert.throws(() => front.switchState(S.Initialising), /Closing -> Initialising/);
  front.switchState(S.Closed);
  assert.throws(() => front.switchState(S.Connected), /Closed -> Connected/);
  assert.equal(xs.read(0, `${p.frontend}/state`), "6");

  // A backend cannot skip InitWait/Initialised to Connected either.
  assert.throws(() => back.switchState(S.Connected), /Initialising -> Connected/);
});

Deno.test("xenbus: switching to the current state is a no-op without a store write", () => {
  const { xs, p, back } = setup();
  let fired = 0;
  xs.watch(FRONT, `${p.backend}/state`, "t", () => fired++);
  fired = 0;
  assert.equal(back.switchState(S.Initialising), false);
  assert.equal(fired, 0);
  assert.equal(back.switchState(S.InitWait), true);
  assert.equal(fired, 1, "the frontend's watch saw the change");
});

await cTest(
  "xenbus: XenbusState values equal enum xenbus_state in xen/io/xenbus.h",
  { headers: ["xen/io/xenbus.h"], install: "libxen-dev" },
  async (c) => {
    const out = await c.run(String.raw`
      #include <stdio.h>
      #include <xen/io/xenbus.h>
      int main(void) {
        printf("%d %d %d %d %d %d %d %d %d\n", XenbusStateUnknown, XenbusStateInitialising,
               XenbusStateInitWait, XenbusStateInitialised, XenbusStateConnected,
               XenbusStateClosing, XenbusStateClosed, XenbusStateReconfiguring,
               XenbusStateReconfigured);
        return 0;
      }`);
    const R = XenbusReconfigureState;
    const want: number[] = [S.Unknown, S.Initialising, S.InitWait, S.Initialised, S.Connected];
    want.push(S.Closing, S.Closed, R.Reconfiguring, R.Reconfigured);
    assert.equal(out.trim(), want.join(" "));
  },
);

Deno.test("xenbus: full handshake and close between two engine processes over the real XenStore", async () => {
  const { xs, p, front, back } = setup();
  const engine = new Engine();
  const seen: string[] = [];
  // dom0 observes every state write of both ends, in order.
  for (const [who, dir] of [["F", p.frontend], ["B", p.backend]]) {
    xs.watch(0, `${dir}/state`, `log-${who}`, () => {
      seen.push(`${who}${xs.read(0, `${dir}/state`)}@${engine.now}`);
    });
  }
  seen.length = 0;
  const is = (...ss: XenbusStateValue[]) => (s: XenbusStateValue) => ss.includes(s);

  const result = await engine.run(async () => {
    const backend = engine.spawn("backend", async () => {
      await engine.sleep(10); // hotplug scripts
      back.switchState(S.InitWait);
      await back.waitPeer(engine, is(S.Initialised, S.Connected));
      // Read what the frontend published before saying Initialised.
      const ringRef = xs.read(0, `${p.frontend}/ring-ref`);
      const port = xs.read(0, `${p.frontend}/event-channel`);
      await engine.sleep(5); // map the ring, bind the port
      back.switchState(S.Connected);
      await back.waitPeer(engine, is(S.Closing, S.Closed, S.Unknown));
      back.switchState(S.Closing);
      await back.waitPeer(engine, is(S.Closed, S.Unknown));
      back.switchState(S.Closed);
      return `${ringRef}/${port}`;
    });
    const frontend = engine.spawn("frontend", async () => {
      await front.waitPeer(engine, is(S.InitWait));
      xs.write(FRONT, `${p.frontend}/ring-ref`, "8");
      xs.write(FRONT, `${p.frontend}/event-channel`, "3");
      front.switchState(S.Initialised);
      await front.waitPeer(engine, is(S.Connected));
      front.switchState(S.Connected);
      await engine.sleep(100); // traffic
      front.switchState(S.Closing);
      await front.waitPeer(engine, is(S.Closing, S.Closed));
      front.switchState(S.Closed);
    });
    const [got] = await Promise.all([backend, frontend]);
    return got;
  });
  assert.equal(result, "8/3");
  assert.deepEqual(seen, [
    "B2@10",
    "F3@10",
    "B4@15",
    "F4@15",
    "F5@115",
    "B5@115",
    "F6@115",
    "B6@115",
  ]);
  assert.equal(front.state, S.Closed);
  assert.equal(back.state, S.Closed);
});

Deno.test("xenbus: a hostile frontend's garbage state reads as Unknown; it cannot touch the backend's node", () => {
  const { xs, p, front, back } = setup();
  const heard: [XenbusStateValue, string | undefined][] = [];
  back.onPeerChange((s, raw) => heard.push([s, raw]));
  for (const raw of ["banana", "", "04", "4 ", "7", "-1", "3.0", "4"]) {
    xs.write(FRONT, `${p.frontend}/state`, raw);
  }
  assert.deepEqual(heard, [
    [S.Initialising, "1"], // on registration
    [S.Unknown, "banana"],
    [S.Unknown, ""],
    [S.Unknown, "04"],
    [S.Unknown, "4 "],
    [S.Unknown, "7"],
    [S.Unknown, "-1"],
    [S.Unknown, "3.0"],
    [S.Connected, "4"],
  ]);
  assert.equal(parseXenbusState(undefined), S.Unknown);
  // The backend's directory is read-only to the frontend.
  assert.throws(() => xs.write(FRONT, `${p.backend}/state`, "4"), { code: "EACCES" });
  assert.equal(back.peerState(), S.Connected);
  assert.equal(front.peerState(), S.Initialising);
});

Deno.test("xenbus: when the frontend's domain is released the backend sees Unknown and can close", async () => {
  const { xs, back } = setup();
  const engine = new Engine();
  back.switchState(S.InitWait);
  const out = await engine.run(async () => {
    engine.schedule(50, () => xs.releaseDomain(FRONT));
    const s = await back.waitPeer(engine, (x) => x === S.Unknown || x === S.Closed);
    back.switchState(S.Closed);
    return [s, engine.now];
  });
  assert.deepEqual(out, [S.Unknown, 50]);
  assert.equal(back.peerRaw(), undefined);
  back.dispose();
  back.dispose(); // twice is fine
  assert.equal(xenbusError(() => back.switchState(S.InitWait)).code, "disposed");
});

Deno.test("xenbus: listeners share one watch; dispose removes it", () => {
  const { xs, front } = setup();
  const before = xs.watchCount;
  const a: XenbusStateValue[] = [], b: XenbusStateValue[] = [];
  const offA = front.onPeerChange((s) => a.push(s));
  front.onPeerChange((s) => b.push(s));
  assert.equal(xs.watchCount, before + 1);
  offA();
  xs.write(0, `${front.otherendPath}/state`, "2");
  assert.deepEqual(a, [S.Initialising]);
  assert.deepEqual(b, [S.Initialising, S.InitWait]);
  front.dispose();
  assert.equal(xs.watchCount, before);
});

Deno.test("xenbus: a wait on a peer that never moves is a deadlock naming the xenbus node", async () => {
  const { front } = setup();
  const engine = new Engine();
  const err = await engine.run(() => front.waitPeer(engine, (s) => s === S.Connected)).then(
    () => undefined,
    (e) => e,
  );
  assert.ok(err instanceof DeadlockError);
  assert.match(err.message, /xenbus \/local\/domain\/0\/backend\/vib\/1\/0\/state/);
});

Deno.test("xenbus: the backend connects when the frontend is already Connected (a watch missed Initialised)", async () => {
  // xen-blkback/xenbus.c frontend_changed connects on Initialised or Connected: two watch
  // events in close succession report the latest value only, and netfront skips Initialised.
  const { cluster: c, hosts } = await cluster([true]);
  const xs = xenOf(hosts[0]).hv.xenstore;
  const write = xs.write.bind(xs);
  xs.write = (caller, path, value) => {
    write(caller, path, value);
    // The guest moves on to Connected before dom0's backend process looks at its state.
    if (caller !== 0 && path.endsWith("/device/vib/0/state") && value === String(S.Initialised)) {
      write(caller, path, String(S.Connected));
    }
  };
  const vm = await hosts[0].createGuest({ name: "vm0", driver: "bypass" });
  xs.write = write;
  const back = xenOf(hosts[0]).backend!.instances().get(vm.domid!)!;
  assert.equal(back.connected, true);
  assert.equal(xs.read(0, `/local/domain/0/backend/vib/${vm.domid}/0/state`), String(S.Connected));
  await c.run(async () => {
    await end(vm);
  });
  assert.equal(back.contextCount, 1);
  await vm.shutdown();
  assert.equal(back.done, true);
});

Deno.test("xenbus: a frontend's bad ring-ref/event-channel fails its boot with one line and leaves dom0 as it was", async () => {
  const bad: [string, string][] = [
    ["ring-ref", "abc"], // not a number
    ["ring-ref", "99999"], // no such grant
    ["event-ring-ref", "-1"],
    ["event-channel", "04"], // not canonical decimal
    ["event-channel", "77"], // no such port
  ];
  for (const [key, value] of bad) {
    for (const driver of ["bypass", "split"] as const) {
      const { cluster: c, hosts } = await cluster([true]);
      const xen = hosts[0];
      const before = counts(xen);
      const xs = xenOf(xen).hv.xenstore;
      const write = xs.write.bind(xs);
      xs.write = (caller, path, v) =>
        write(caller, path, caller !== 0 && path.endsWith(`/device/vib/0/${key}`) ? value : v);
      await assert.rejects(
        () => xen.createGuest({ name: "vm0", driver }),
        (e: Error) => {
          assert.equal(
            e.message,
            "ENODEV: vibfront dom1: backend did not connect (it went Closing)",
            `${key}=${value} ${driver}`,
          );
          return true;
        },
      );
      xs.write = write;
      await c.run(() => c.sleep(1_000_000));
      assert.deepEqual(xen.audit(), [], `${key}=${value} ${driver}`);
      assert.deepEqual(counts(xen), before, `${key}=${value} ${driver}: dom0 gave everything back`);
      assert.deepEqual(xs.directory(0, "/local/domain/0/backend/vib"), []);
    }
  }
});

Deno.test("xenbus: a guest that detaches and attaches its device gets a fresh connection; dom0 keeps nothing of the old one", async () => {
  // Linux backends re-arm on a re-probe: a frontend back in Initialising while the backend is
  // Closed is served again from InitWait (xen-blkback/xenbus.c frontend_changed, "prepare for
  // reconnect"; xen-netback's set_backend_state Closed -> InitWait). The backend used to end
  // for good at the frontend's Closed: a frontend that came back waited forever.
  for (const mode of ["bypass", "split"] as const) {
    const { cluster: c, hosts } = await cluster([true, false]);
    const [xen, bare] = hosts;
    const before = counts(xen);
    const vm = await guest(xen, "vm0", mode);
    const xs = xenOf(xen).hv.xenstore;
    const state = (dir: string) => xs.read(0, `${dir}/state`);
    const p = vm.front.o.paths;
    const back = xenOf(xen).backend!.instances().get(vm.domid!)!;
    await c.run(async () => {
      const a = await end(vm), peer = await end(bare.os);
      await connect(a, peer);
      assert.equal(await rdmaWrite(a, peer), WcStatus.SUCCESS, mode);
      assert.ok(xenOf(xen).hv.stats().grantsMapped > 2, "rings and buffers mapped");

      await vm.detachDevice();
      assert.deepEqual([state(p.frontend), state(p.backend)], ["6", "6"], mode);
      assert.deepEqual(vm.devices(), []);
      // Everything of the old connection is gone: every object its contexts made on the HCA,
      // every grant mapping (rings included), the event channel, the UAR page.
      const now = counts(xen) as { used: unknown; hv: Record<string, number> };
      const was = before as { used: unknown; hv: Record<string, number> };
      assert.deepEqual(now.used, was.used, `${mode}: no HCA object left`);
      for (const k of ["grantsMapped", "evtchnsBound", "ioPagesMapped"]) {
        assert.equal(now.hv[k], was.hv[k], `${mode}: ${k}`);
      }
      assert.equal(back.contextCount, 0);
      assert.equal(back.grants.cached, 0);
      assert.deepEqual(Object.values(back.ledger.used).filter((n) => n !== 0), []);
      await assert.rejects(a.ctx.allocPd(), /EIO: .*device disconnected/);
      await assert.rejects(vm.detachDevice(), /ENODEV: detachDevice: vm0 has no vib device/);

      await vm.attachDevice();
      assert.deepEqual([state(p.frontend), state(p.backend)], ["4", "4"], mode);
      assert.equal(xenOf(xen).backend!.instances().get(vm.domid!), back, "the same device");
      assert.equal(back.connections, 2);
      assert.deepEqual(vm.devices(), ["mthca0"]);
      await assert.rejects(vm.attachDevice(), /EBUSY: attachDevice: vm0's vib device is attached/);
      // A verbs round trip on the new connection, both ways.
      const a2 = await end(vm), peer2 = await end(bare.os);
      await connect(a2, peer2);
      vm.memory.write(a2.buf, new Uint8Array(8).fill(0x3c));
      assert.equal(await rdmaWrite(a2, peer2), WcStatus.SUCCESS, mode);
      assert.deepEqual(bare.os.memory.read(peer2.buf, 8), new Uint8Array(8).fill(0x3c));
      bare.os.memory.write(peer2.buf, new Uint8Array(8).fill(0xc3));
      assert.equal(await rdmaWrite(peer2, a2), WcStatus.SUCCESS, mode);
      assert.deepEqual(vm.memory.read(a2.buf, 8), new Uint8Array(8).fill(0xc3));
      // The old context's handles reach nothing on the new connection.
      await assert.rejects(a.ctx.createCq(4), /EIO/);
    });
    await vm.shutdown();
    assert.deepEqual(counts(xen), before, `${mode}: every count back`);
    assert.deepEqual(xen.audit(), []);
    assert.deepEqual(xs.directory(0, "/local/domain/0/backend/vib"), []);
  }
});

Deno.test("xenbus: a device that is not online ends with its frontend's Closed, and attaching it again is ENODEV", async () => {
  // xen-netback and xen-blkback frontend_changed, case Closed: "if (xenbus_dev_is_online(dev))
  // break; fallthrough ... device_unregister". The toolstack clears `online` to unplug.
  const { cluster: c, hosts } = await cluster([true]);
  const xen = hosts[0];
  const before = counts(xen);
  const vm = await guest(xen, "vm0");
  const xs = xenOf(xen).hv.xenstore;
  const back = xenOf(xen).backend!.instances().get(vm.domid!)!;
  xs.write(0, `${vm.front.o.paths.backend}/online`, "0");
  await c.run(async () => {
    await end(vm);
    await vm.detachDevice();
    await back.finished;
    assert.equal(back.done, true);
    await assert.rejects(vm.attachDevice(), /ENODEV: attachDevice: vm0's device is unplugged/);
    assert.deepEqual(vm.devices(), []);
  });
  await vm.shutdown();
  assert.deepEqual(counts(xen), before);
  assert.deepEqual(xen.audit(), []);
});

Deno.test("xenbus: closing goes Closing on both ends before either is Closed, the backend Closed last", async () => {
  // xen-blkback/xenbus.c and xen-netback/xenbus.c frontend_changed: the frontend's Closing
  // makes the backend disconnect and go Closing, its Closed makes it Closed; a Linux frontend
  // goes Closed on the backend's Closing (xenbus_frontend_closed). The backend used to go
  // Closing and Closed at once, before the frontend had let go of its grants.
  for (const who of ["frontend", "backend"] as const) {
    const { cluster: c, hosts } = await cluster([true]);
    const xen = hosts[0];
    const vm = await guest(xen, "vm0", "split");
    const xs = xenOf(xen).hv.xenstore;
    const p = vm.front.o.paths;
    const back = xenOf(xen).backend!.instances().get(vm.domid!)!;
    const seen: string[] = [];
    for (const [tag, dir] of [["F", p.frontend], ["B", p.backend]]) {
      xs.watch(0, `${dir}/state`, `order-${tag}`, () => {
        const v = xs.exists(0, `${dir}/state`) ? xs.read(0, `${dir}/state`) : "gone";
        if (seen.at(-1) !== `${tag}${v}`) seen.push(`${tag}${v}`);
      });
    }
    seen.length = 0;
    await c.run(async () => {
      await end(vm);
      if (who === "frontend") await vm.detachDevice();
      else {
        // A ring index no backend can believe: dom0 disconnects the frontend.
        vm.front.ring.shared.reqProd = (vm.front.ring.shared.reqProd + 1000) >>> 0;
        await xenOf(xen).hv.evtchnSend(vm.xen, vm.front.port);
        await back.whenDisconnected();
        await c.sleep(1_000_000);
      }
    });
    const expected = who === "frontend" ? ["F5", "B5", "F6", "B6"] : ["B5", "F6", "B6"];
    assert.deepEqual(seen, expected, who);
    assert.equal(back.contextCount, 0);
    xs.unwatch(0, `${p.frontend}/state`, "order-F");
    xs.unwatch(0, `${p.backend}/state`, "order-B");
    await vm.shutdown();
  }
});

Deno.test("xenbus: dispose ends a pending waitPeer with Unknown", async () => {
  const { front } = setup();
  const engine = new Engine();
  const got = await engine.run(async () => {
    const w = front.waitPeer(engine, (s) => s === S.Connected);
    engine.schedule(40, () => front.dispose());
    return [await w, engine.now];
  });
  assert.deepEqual(got, [S.Unknown, 40]);
  assert.equal(xenbusError(() => front.waitPeer(engine, () => true)).code, "disposed");
});

Deno.test("xenbus: a detach or attach under way when the guest shuts down or crashes ends cleanly", async () => {
  // The guest's kernel goes away in the middle of its driver's close or probe: its watches go
  // with its domain, so a wait on the backend would never end. A detach still completes (the
  // device is closed either way), an attach fails with one line, and dom0 gives everything back.
  for (const op of ["detach", "attach"] as const) {
    for (const how of ["shutdown", "crash"] as const) {
      const { cluster: c, hosts } = await cluster([true]);
      const xen = hosts[0];
      const before = counts(xen);
      const vm = await guest(xen, "vm0", "split");
      const out = await c.run(async () => {
        await end(vm);
        if (op === "attach") await vm.detachDevice();
        const p = (op === "detach" ? vm.detachDevice() : vm.attachDevice()).then(
          () => "ok",
          (e) => String(e),
        );
        await c.sleep(1);
        await assert.rejects(vm.attachDevice(), /EBUSY: attachDevice: a detach or attach/);
        if (how === "shutdown") await vm.shutdown();
        else vm.crash();
        await vm.whenDead();
        return await p;
      });
      assert.equal(
        out,
        op === "detach" ? "ok" : "VerbsError: ENODEV: attachDevice: vm0 went down meanwhile",
        `${op} ${how}`,
      );
      await c.run(() => c.sleep(1_000_000));
      assert.deepEqual(counts(xen), before, `${op} ${how}`);
      assert.deepEqual(xen.audit(), []);
    }
  }
});
