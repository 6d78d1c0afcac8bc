import assert from "node:assert/strict";
import { Engine, InterruptController, MachineMemory, PCIX_SDR_2006, Prng } from "../sim/mod.ts";
import {
  type Domain,
  Hypervisor,
  type HypervisorOptions,
  NR_VIRQS,
  OFF_EVTCHN_MASK,
  OFF_EVTCHN_PENDING,
  OFF_PENDING_SEL,
  OFF_UPCALL_MASK,
  OFF_UPCALL_PENDING,
  SharedInfo,
  VCPU_INFO_SIZE,
  VIRQ,
  XEN_LEGACY_MAX_VCPUS,
} from "../hypervisor/mod.ts";
import { EventDispatcher } from "../drivers/xen/evtchn.ts";
import { grantsOf, rejectsXen } from "./support/xen.ts";

const P = PCIX_SDR_2006;
const UPCALL = P.xen.upcallNs + P.xen.domainSwitchNs;

function setup(opts: HypervisorOptions = {}) {
  const engine = new Engine();
  const mem = new MachineMemory(256 << 20);
  const hv = new Hypervisor(engine, mem, P, new Prng(5), opts);
  return { engine, mem, hv, dom0: hv.dom0 };
}

/** Install an upcall handler that records (time, ports) per upcall. */
function recordUpcalls(engine: Engine, dom: Domain): { t: number; ports: number[] }[] {
  const log: { t: number; ports: number[] }[] = [];
  dom.sharedInfo.unmaskUpcalls(); // it booted masked; a kernel unmasks with its handler in place
  dom.installUpcall((d) => log.push({ t: engine.now, ports: d.sharedInfo.takePending() }));
  return log;
}

/**
 * dom0 offers a port to `vm`, `vm` binds it: returns [back, front]. Binding
 * leaves `front` pending (see the bind test below); `vm` takes that event
 * here, as a guest's first scan would, so the tests start from quiet ports.
 */
async function connect(hv: Hypervisor, dom0: Domain, vm: Domain): Promise<[number, number]> {
  const back = await hv.evtchnAllocUnbound(dom0, { remoteDom: vm.domid });
  const front = await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: back });
  assert.deepEqual(vm.sharedInfo.takePending(), [front]);
  return [back, front];
}

Deno.test("evtchn: bind_interdomain leaves the new local port pending, the offering side untouched", async () => {
  // event_channel.c evtchn_bind_interdomain sets a notification on the local port: one sent
  // to the unbound port before the bind was dropped, and the binder must not miss it.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const back = await hv.evtchnAllocUnbound(dom0, { remoteDom: vm.domid });
    const dom0Log = recordUpcalls(engine, dom0);
    const t = engine.now;
    const front = await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: back });
    assert.ok(vm.sharedInfo.isPending(front));
    assert.ok(!dom0.sharedInfo.isPending(back));
    const log = recordUpcalls(engine, vm);
    await engine.sleep(UPCALL * 2);
    assert.deepEqual(log, [{ t: t + P.xen.hypercallNs + UPCALL, ports: [front] }]);
    assert.equal(dom0Log.length, 0);
    // A masked port binds pending too, and stays quiet until unmasked.
    const back2 = await hv.evtchnAllocUnbound(dom0, { remoteDom: vm.domid });
    vm.sharedInfo.mask(front + 1);
    const front2 = await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: back2 });
    assert.equal(front2, front + 1);
    await engine.sleep(UPCALL * 2);
    assert.equal(log.length, 1);
    await hv.evtchnUnmask(vm, front2);
    await engine.sleep(UPCALL * 2);
    assert.deepEqual(log.map((l) => l.ports), [[front], [front2]]);
  });
});

Deno.test("evtchn: binding a port touches none of its bits; close clears its pending bit (evtchn_free), as the 2-level ABI does", async () => {
  // Xen 4.17: evtchn_port_init() calls the port ops' init, which event_2l.c does not have, so no
  // bind (alloc_unbound, bind_ipi, bind_virq) clears the port's pending bit; evtchn_free() does
  // ("Clear pending event to avoid unexpected behavior on re-bind"). A bit the guest set itself
  // in its shared-info page (struct shared_info.evtchn_pending, xen.h) while the port was free
  // stays set. The model cleared it at every allocation.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const si = vm.sharedInfo;
    for (const port of [1, 2, 3]) si.page[OFF_EVTCHN_PENDING + (port >> 3)] |= 1 << (port & 7);
    const ipi = await hv.hypercall(vm, "event_channel_op:bind_ipi", { vcpu: 0 });
    const virq = await hv.hypercall(vm, "event_channel_op:bind_virq", {
      virq: VIRQ.DOM_EXC,
      vcpu: 0,
    });
    const unbound = await hv.hypercall(vm, "event_channel_op:alloc_unbound", { remoteDom: 0 });
    assert.deepEqual([ipi.value, virq.value, unbound.value], [1, 2, 3]);
    assert.deepEqual([1, 2, 3].map((p) => si.isPending(p)), [true, true, true]);
    // Close frees and clears; the next bind of the port finds it clear.
    await hv.evtchnClose(vm, 1);
    assert.equal(si.isPending(1), false);
    const again = await hv.hypercall(vm, "event_channel_op:bind_ipi", { vcpu: 0 });
    assert.equal(again.value, 1);
    assert.equal(si.isPending(1), false);
  });
});

Deno.test("evtchn: interdomain send delivers an upcall after upcallNs + domainSwitchNs", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const back = await hv.evtchnAllocUnbound(dom0, { remoteDom: vm.domid });
    assert.deepEqual(await hv.evtchnStatus(dom0, { port: back }), {
      state: "unbound",
      vcpu: 0,
      remoteDomid: vm.domid,
    });
    const front = await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: back });
    assert.deepEqual(await hv.evtchnStatus(vm, { port: front }), {
      state: "interdomain",
      vcpu: 0,
      remoteDomid: 0,
      remotePort: back,
    });
    assert.deepEqual(await hv.evtchnStatus(dom0, { dom: vm.domid, port: front }), {
      state: "interdomain",
      vcpu: 0,
      remoteDomid: 0,
      remotePort: back,
    });
    assert.equal(hv.stats().evtchnsBound, 2);
    const dom0Log = recordUpcalls(engine, dom0);
    const t0 = engine.now;
    await hv.evtchnSend(vm, front);
    assert.equal(engine.now - t0, P.xen.hypercallNs);
    await engine.sleep(UPCALL * 2);
    assert.deepEqual(dom0Log, [{ t: t0 + P.xen.hypercallNs + UPCALL, ports: [back] }]);
    const c = hv.counters();
    assert.equal(c.evtchnSends, 1);
    assert.deepEqual(c.evtchnSendsByKind, { [`dom${vm.domid}->dom0`]: 1 });
    assert.equal(c.upcalls, 1);
  });
});

Deno.test("evtchn: sends coalesce into one upcall; ports come back in ascending order", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const ports: number[] = [];
    const backs: number[] = [];
    // Enough channels to reach a second and a fourth 64-port word.
    for (let i = 0; i < 200; i++) {
      const [b, f] = await connect(hv, dom0, vm);
      ports.push(f);
      backs.push(b);
    }
    const log = recordUpcalls(engine, vm);
    for (const i of [199, 70, 3, 3]) await hv.evtchnSend(dom0, backs[i]);
    await engine.sleep(UPCALL * 2);
    assert.equal(log.length, 1);
    assert.deepEqual(log[0].ports, [ports[3], ports[70], ports[199]]);
    assert.ok(ports[199] >= 192, "really in word 3");
    // A later send gets a new upcall.
    await hv.evtchnSend(dom0, backs[0]);
    await engine.sleep(UPCALL * 2);
    assert.equal(log.length, 2);
    assert.deepEqual(log[1].ports, [ports[0]]);
  });
});

Deno.test("evtchn: a masked port stays pending without an upcall; EVTCHNOP_unmask delivers it", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const [back, front] = await connect(hv, dom0, vm);
    const log = recordUpcalls(engine, vm);
    vm.sharedInfo.mask(front);
    await hv.evtchnSend(dom0, back);
    await engine.sleep(UPCALL * 2);
    assert.equal(log.length, 0);
    assert.ok(vm.sharedInfo.isPending(front));
    const t = engine.now;
    await hv.evtchnUnmask(vm, front);
    await engine.sleep(UPCALL * 2);
    assert.equal(log.length, 1);
    assert.deepEqual(log[0].ports, [front]);
    assert.equal(log[0].t, t + P.xen.hypercallNs + UPCALL);
    assert.ok(!vm.sharedInfo.isPending(front));
    assert.ok(!vm.sharedInfo.isMasked(front));
  });
});

Deno.test("evtchn: events wait for a handler; installing one delivers them", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const [back, front] = await connect(hv, dom0, vm);
    await hv.evtchnSend(dom0, back);
    await engine.sleep(UPCALL * 2);
    assert.ok(vm.sharedInfo.upcallPending);
    const log = recordUpcalls(engine, vm);
    await engine.sleep(UPCALL * 2);
    assert.deepEqual(log.map((l) => l.ports), [[front]]);
  });
});

Deno.test("evtchn: closing one end leaves the peer unbound; its sends are dropped; the peer can be bound again", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const [back, front] = await connect(hv, dom0, vm);
    await hv.evtchnClose(vm, front);
    assert.deepEqual(await hv.evtchnStatus(dom0, { port: back }), {
      state: "unbound",
      vcpu: 0,
      remoteDomid: vm.domid,
    });
    assert.deepEqual(await hv.evtchnStatus(vm, { port: front }), { state: "closed", vcpu: 0 });
    // evtchn_send on an unbound port: "silently drop the notification", rc 0.
    const r = await hv.hypercall(dom0, "event_channel_op:send", { port: back });
    assert.deepEqual([r.rc, r.error], [0, undefined]);
    assert.ok(!vm.sharedInfo.isPending(front), "nothing reaches the closed port");
    await rejectsXen(hv.evtchnSend(vm, front), "EINVAL");
    await rejectsXen(hv.evtchnClose(vm, front), "EINVAL");
    assert.equal(hv.stats().evtchnsBound, 1);
    const again = await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: back });
    const log = recordUpcalls(engine, vm);
    await hv.evtchnSend(dom0, back);
    await engine.sleep(UPCALL * 2);
    assert.deepEqual(log.map((l) => l.ports), [[again]]);
    await hv.evtchnClose(dom0, back);
    await hv.evtchnClose(vm, again);
    assert.equal(hv.stats().evtchnsBound, 0);
    assert.equal(hv.counters().evtchnSends, 1, "failed and dropped sends are not counted");
  });
});

Deno.test("evtchn: refusals — privilege, foreign and bad domids, bad ports, pirqs, exhaustion", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const a = await hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20, maxEvtchnPorts: 4 });
    const b = await hv.createDomain(dom0, { name: "b", memoryBytes: 16 << 20 });
    await rejectsXen(hv.evtchnAllocUnbound(a, { dom: b.domid, remoteDom: 0 }), "EPERM");
    // evtchn_alloc_unbound records the remote domid without looking it up: only binding does.
    const toNobody = await hv.evtchnAllocUnbound(b, { remoteDom: 999 });
    assert.deepEqual(await hv.evtchnStatus(b, { port: toNobody }), {
      state: "unbound",
      vcpu: 0,
      remoteDomid: 999,
    });
    await rejectsXen(hv.evtchnAllocUnbound(a, { remoteDom: -3 }), "EINVAL");
    const offered = await hv.evtchnAllocUnbound(dom0, { remoteDom: a.domid });
    await rejectsXen(hv.evtchnBindInterdomain(b, { remoteDom: 0, remotePort: offered }), "EINVAL");
    await rejectsXen(hv.evtchnBindInterdomain(a, { remoteDom: 0, remotePort: 0 }), "EINVAL");
    await rejectsXen(hv.evtchnBindInterdomain(a, { remoteDom: 0, remotePort: 4096 }), "EINVAL");
    await rejectsXen(hv.evtchnBindInterdomain(a, { remoteDom: 999, remotePort: 1 }), "ESRCH");
    await rejectsXen(hv.evtchnBindPirq(a, 3), "EPERM");
    await rejectsXen(hv.evtchnBindPirq(dom0, 256), "EINVAL");
    const pport = await hv.evtchnBindPirq(dom0, 3);
    await rejectsXen(hv.evtchnBindPirq(dom0, 3), "EEXIST");
    await rejectsXen(hv.evtchnSend(dom0, pport), "EINVAL");
    for (const port of [0, -1, 4096, 2.5, 77]) {
      await rejectsXen(hv.evtchnSend(a, port), "EINVAL");
      await rejectsXen(hv.evtchnClose(a, port), "EINVAL");
      if (port !== 0) await rejectsXen(hv.evtchnUnmask(a, port), "EINVAL");
    }
    // Port 0 is valid and reserved (event_channel.c): status says closed, unmask succeeds.
    assert.deepEqual(await hv.evtchnStatus(a, { port: 0 }), { state: "closed", vcpu: 0 });
    await hv.evtchnUnmask(a, 0);
    await rejectsXen(hv.evtchnStatus(a, { dom: b.domid, port: 1 }), "EPERM");
    await rejectsXen(hv.evtchnStatus(dom0, { dom: 999, port: 1 }), "ESRCH");
    // maxEvtchnPorts 4: ports 1..3.
    for (let i = 0; i < 3; i++) await hv.evtchnAllocUnbound(a, { remoteDom: 0 });
    await rejectsXen(hv.evtchnAllocUnbound(a, { remoteDom: 0 }), "ENOSPC");
    // Xen takes the local port first: a full table is ENOSPC before the remote port's EINVAL
    // (evtchn_bind_interdomain) and before the caller's EPERM (evtchn_alloc_unbound).
    await rejectsXen(hv.evtchnBindInterdomain(a, { remoteDom: 0, remotePort: 4095 }), "ENOSPC");
    await rejectsXen(hv.evtchnAllocUnbound(b, { dom: a.domid, remoteDom: 0 }), "ENOSPC");
    await rejectsXen(hv.evtchnSend(a, 4), "EINVAL");
    // The refusals changed nothing of b's.
    assert.equal(hv.stats().evtchnsBound, 6);
  });
});

Deno.test("evtchn: a physical IRQ bound to dom0 arrives as an event after interruptNs + upcall", async () => {
  const pic = new InterruptController();
  const { engine, hv, dom0 } = setup({ pic });
  await engine.run(async () => {
    const port = await hv.evtchnBindPirq(dom0, 17);
    assert.deepEqual(await hv.evtchnStatus(dom0, { port }), { state: "pirq", vcpu: 0, pirq: 17 });
    const log = recordUpcalls(engine, dom0);
    const t = engine.now;
    pic.raise(17);
    pic.raise(18); // nobody bound it
    await engine.sleep(UPCALL + P.cpu.interruptNs + 1);
    assert.deepEqual(log, [{ t: t + P.cpu.interruptNs + UPCALL, ports: [port] }]);
    const c = hv.counters();
    assert.equal(c.pirqsRouted, 1);
    assert.equal(c.pirqsUnbound, 1);
    await hv.evtchnClose(dom0, port);
    pic.raise(17);
    assert.equal(hv.counters().pirqsUnbound, 2);
    // The pirq can be bound again after close.
    await hv.evtchnClose(dom0, await hv.evtchnBindPirq(dom0, 17));
  });
});

Deno.test("evtchn: no upcall reaches a domain that died before delivery", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const [back] = await connect(hv, dom0, vm);
    const log = recordUpcalls(engine, vm);
    await hv.evtchnSend(dom0, back);
    hv.domainCrash(vm);
    await engine.sleep(UPCALL * 2);
    assert.equal(log.length, 0);
    // Its end was closed with it: dom0's port is unbound, and a send on it is dropped.
    assert.deepEqual(await hv.evtchnStatus(dom0, { port: back }), {
      state: "unbound",
      vcpu: 0,
      remoteDomid: vm.domid,
    });
    await hv.evtchnSend(dom0, back);
    await hv.evtchnClose(dom0, back);
  });
});

Deno.test("evtchn: shared-info bits sit where struct shared_info puts them (x86-64)", () => {
  const page = new Uint8Array(4096);
  const si = new SharedInfo(page);
  assert.equal(OFF_EVTCHN_PENDING, 2048);
  assert.equal(OFF_EVTCHN_MASK, 2560);
  assert.equal(si.setPending(70), true);
  assert.equal(page[OFF_EVTCHN_PENDING + 8], 1 << 6, "port 70 = word 1 bit 6");
  assert.equal(page[OFF_PENDING_SEL], 1 << 1, "selector bit 1");
  assert.equal(page[OFF_UPCALL_PENDING], 1);
  si.mask(4095);
  assert.equal(page[OFF_EVTCHN_MASK + 511], 0x80);
  assert.equal(si.setPending(4095), false, "masked: no kick");
  assert.equal(page[OFF_PENDING_SEL + 7] & 0x80, 0, "masked port does not set its selector");
  assert.deepEqual(si.takePending(), [70]);
  assert.equal(page[OFF_UPCALL_PENDING], 0);
  assert.ok(si.isPending(4095));
  assert.equal(si.unmask(4095), true);
  assert.deepEqual(si.takePending(), [4095]);
});

Deno.test("evtchn: a guest scribbling over its shared-info page hurts only itself", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const evil = await hv.createDomain(dom0, { name: "evil", memoryBytes: 16 << 20 });
    const good = await hv.createDomain(dom0, { name: "good", memoryBytes: 16 << 20 });
    const [eb] = await connect(hv, dom0, evil);
    const [gb, gf] = await connect(hv, dom0, good);
    await engine.sleep(UPCALL * 2); // the binds' own notifications (taken by connect) go by
    const evilLog = recordUpcalls(engine, evil);
    const goodLog = recordUpcalls(engine, good);
    const dom0Log = recordUpcalls(engine, dom0);
    evil.memory.write(evil.sharedInfoAddr, new Uint8Array(4096).fill(0xff));
    await hv.evtchnSend(dom0, eb);
    await hv.evtchnSend(dom0, gb);
    await engine.sleep(UPCALL * 2);
    assert.equal(evilLog.length, 0, "its own upcall-pending byte blocks its upcalls");
    assert.deepEqual(goodLog.map((l) => l.ports), [[gf]]);
    assert.equal(dom0Log.length, 0);
    // Its scan returns nothing because every port is masked; no exception either way.
    assert.deepEqual(evil.sharedInfo.takePending(), []);
  });
});

/**
 * dom0 sends on `back` (and on a closed port) from a thread bound to
 * "dom1", while a second owner keeps dom0's VCPU busy: with the awaited
 * call or with the chained one. Everything either leaves behind.
 */
async function sends(chained: boolean) {
  const { engine, hv, dom0 } = setup();
  const vm = await engine.run(() => hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 }));
  const log = recordUpcalls(engine, vm);
  const out: string[] = [];
  await engine.run(async () => {
    const [back] = await connect(hv, dom0, vm);
    const other = engine.spawn("other owner", () => hv.dom0Vcpus.run(2_500, "dom2"));
    await engine.spawn("backend", async () => {
      hv.dom0Vcpus.bind("dom1");
      for (const port of [back, back, 77]) {
        const b = engine.block<void>("send");
        const done = (e: { code?: string } | undefined) => {
          out.push(`${engine.now} ${port} ${e?.code ?? "ok"}`);
          b.resolve();
        };
        if (chained) hv.evtchnSendThen(dom0, port, "dom1", done);
        else hv.evtchnSend(dom0, port).then(() => done(undefined), done);
        await b.promise;
        await engine.sleep(20_000); // the upcall is delivered before the next send
      }
    });
    await other;
    // A guest's chained call: its time passes as its own, no VCPU of dom0's.
    const b = engine.block<void>("guest send");
    hv.evtchnSendThen(vm, 99, "vm", (e) => {
      out.push(`${engine.now} guest ${e?.code}`);
      b.resolve();
    });
    await b.promise;
  });
  return {
    out,
    log,
    now: engine.now,
    hash: engine.traceHash(),
    events: engine.eventsRun,
    counters: JSON.stringify(hv.counters()),
    vcpus: hv.dom0Vcpus.stats(),
  };
}

Deno.test("evtchn: evtchnSendThen is the awaited send, chained on dom0's VCPUs (times, refusals, accounts)", async () => {
  const chained = await sends(true);
  const awaited = await sends(false);
  assert.deepEqual(chained, awaited);
  // Two sends on the bound port, one on a port that does not exist, the guest's on none of its own.
  assert.deepEqual(chained.out.map((l) => l.split(" ").at(-1)), ["ok", "ok", "EINVAL", "EINVAL"]);
  assert.equal(chained.log.length, 2); // two upcalls reached the guest
  assert.ok(chained.vcpus.byOwner.dom1.waitNs > 0); // the sends queued behind dom2's slice
});

Deno.test("evtchn: evtchn_upcall_mask, as the guest writes it, holds upcalls back until it unmasks and returns from Xen", async () => {
  // entry.S test_guest_events: the upcall is entered only while evtchn_upcall_pending is set and
  // evtchn_upcall_mask is 0; vcpu_mark_events_pending sets the pending byte whatever the mask.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const [back, front] = await connect(hv, dom0, vm);
    const maskAt = vm.sharedInfoAddr + OFF_UPCALL_MASK;
    const masks: number[] = [];
    const log: { t: number; ports: number[] }[] = [];
    vm.installUpcall((d) => {
      masks.push(vm.memory.read(maskAt, 1)[0]); // the handler runs with upcalls masked
      log.push({ t: engine.now, ports: d.sharedInfo.takePending() });
    });
    vm.memory.write(maskAt, new Uint8Array([1])); // xen_irq_disable: a plain store
    await hv.evtchnSend(dom0, back);
    await hv.evtchnSend(dom0, back);
    await engine.sleep(UPCALL * 4);
    assert.deepEqual(log, [], "no upcall while masked");
    assert.ok(vm.sharedInfo.upcallPending, "evtchn_upcall_pending is set all the same");
    assert.ok(vm.sharedInfo.isPending(front));
    assert.equal(
      vm.sharedInfo.page[OFF_PENDING_SEL + (front >> 9)] & (1 << ((front >> 6) & 7)),
      1 << ((front >> 6) & 7),
    );
    // Clearing the byte alone enters nothing: Xen delivers when the vCPU next leaves Xen.
    vm.memory.write(maskAt, new Uint8Array([0]));
    await engine.sleep(UPCALL * 4);
    assert.deepEqual(log, []);
    // xen_force_evtchn_callback: any hypercall; its return delivers the upcall.
    const t = engine.now;
    const r = await hv.hypercall(vm, "memory_op:current_reservation", {});
    assert.equal(r.rc, 0);
    await engine.sleep(UPCALL * 4);
    assert.deepEqual(log, [{ t: t + P.xen.hypercallNs + P.xen.upcallNs, ports: [front] }]);
    assert.deepEqual(masks, [1]);
    assert.equal(vm.memory.read(maskAt, 1)[0], 0, "the handler's return restores the mask");
    // Unmasked again: a send is delivered as before.
    const t2 = engine.now;
    await hv.evtchnSend(dom0, back);
    await engine.sleep(UPCALL * 4);
    assert.deepEqual(log.at(-1), { t: t2 + P.xen.hypercallNs + UPCALL, ports: [front] });
    assert.equal(hv.counters().upcalls, 2);
  });
});

Deno.test("evtchn: EVTCHNOP_unmask under a masked vCPU marks the upcall pending; it waits for the vCPU's unmask", async () => {
  // evtchn_2l_unmask: the port's pending bit sets its selector bit and evtchn_upcall_pending
  // (vcpu_mark_events_pending), which is delivered subject to evtchn_upcall_mask.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const [back, front] = await connect(hv, dom0, vm);
    const log = recordUpcalls(engine, vm);
    vm.sharedInfo.mask(front);
    await hv.evtchnSend(dom0, back);
    await engine.sleep(UPCALL * 4);
    assert.ok(!vm.sharedInfo.upcallPending, "a masked port raises nothing");
    vm.sharedInfo.maskUpcalls();
    await hv.evtchnUnmask(vm, front);
    await engine.sleep(UPCALL * 4);
    assert.deepEqual(log, []);
    assert.ok(vm.sharedInfo.upcallPending);
    assert.ok(!vm.sharedInfo.isMasked(front));
    assert.equal(vm.sharedInfo.unmaskUpcalls(), true, "the guest sees pending work");
    const t = engine.now;
    await hv.evtchnStatus(vm, { port: front });
    await engine.sleep(UPCALL * 4);
    assert.deepEqual(log, [{ t: t + P.xen.hypercallNs + P.xen.upcallNs, ports: [front] }]);
  });
});

Deno.test("evtchn: EVTCHNOP_bind_vcpu — vCPU 0 only (ENOENT for others, checked first), a bound port only", async () => {
  // event_channel.c evtchn_bind_vcpu: domain_vcpu() finds no such vCPU: -ENOENT, before the port
  // is looked at; a free or reserved port (state not unbound, interdomain, virq or pirq): -EINVAL.
  const pic = new InterruptController();
  const { engine, hv, dom0 } = setup({ pic });
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const [back, front] = await connect(hv, dom0, vm);
    const unbound = await hv.evtchnAllocUnbound(vm, { remoteDom: 0 });
    const pirq = await hv.evtchnBindPirq(dom0, 9);
    for (const [who, port] of [[vm, front], [vm, unbound], [dom0, back], [dom0, pirq]] as const) {
      const before = await hv.evtchnStatus(who, { port });
      await hv.evtchnBindVcpu(who, { port, vcpu: 0 });
      assert.deepEqual(await hv.evtchnStatus(who, { port }), before);
      assert.equal(before.vcpu, 0);
      await rejectsXen(hv.evtchnBindVcpu(who, { port, vcpu: 1 }), "ENOENT");
    }
    await rejectsXen(hv.evtchnBindVcpu(vm, { port: 4096, vcpu: 1 }), "ENOENT");
    await rejectsXen(hv.evtchnBindVcpu(vm, { port: 4096, vcpu: 0 }), "EINVAL");
    await rejectsXen(hv.evtchnBindVcpu(vm, { port: 0, vcpu: 0 }), "EINVAL");
    await rejectsXen(hv.evtchnBindVcpu(vm, { port: unbound + 1, vcpu: 0 }), "EINVAL");
    // The channel still works.
    const log = recordUpcalls(engine, vm);
    await hv.evtchnSend(dom0, back);
    await engine.sleep(UPCALL * 2);
    assert.deepEqual(log.map((l) => l.ports), [[front]]);
  });
});

Deno.test("evtchn: ports are allocated lowest free first, up to the 2-level ABI's 4095; the next is ENOSPC", async () => {
  // get_free_port scans from port 0 (reserved) upwards; evtchn_allocate_port refuses a port at or
  // beyond max_evtchns(d), EVTCHN_2L_NR_CHANNELS = 64 * 64 on 64-bit: -ENOSPC.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const ports: number[] = [];
    for (let i = 0; i < 4095; i++) ports.push(await hv.evtchnAllocUnbound(vm, { remoteDom: 0 }));
    assert.deepEqual(ports, Array.from({ length: 4095 }, (_, i) => i + 1));
    await rejectsXen(hv.evtchnAllocUnbound(vm, { remoteDom: 0 }), "ENOSPC");
    await hv.evtchnClose(vm, 700);
    await hv.evtchnClose(vm, 3);
    assert.equal(await hv.evtchnAllocUnbound(vm, { remoteDom: 0 }), 3);
    assert.equal(await hv.evtchnAllocUnbound(vm, { remoteDom: 0 }), 700);
    // The last port works: word 63, bit 63 of the pending array; selector bit 63.
    await hv.evtchnClose(vm, 4095);
    const back = await hv.evtchnAllocUnbound(dom0, { remoteDom: vm.domid });
    const last = await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: back });
    assert.equal(last, 4095);
    assert.deepEqual(vm.sharedInfo.takePending(), [4095]);
    await hv.evtchnSend(dom0, back);
    assert.equal(vm.sharedInfo.page[OFF_EVTCHN_PENDING + 511], 0x80);
    assert.equal(vm.sharedInfo.page[OFF_PENDING_SEL + 7], 0x80);
    assert.deepEqual(vm.sharedInfo.takePending(), [4095]);
    await rejectsXen(hv.evtchnSend(vm, 4096), "EINVAL");
  });
});

Deno.test("evtchn: EVTCHNOP_reset closes every port as close would; another domain's only while dom0 has it paused", async () => {
  // evtchn_reset(): "d != current->domain && !d->controller_pause_count" is -EINVAL; then
  // evtchn_close() on each port: an interdomain peer goes back to ECS_UNBOUND offered to d.
  const pic = new InterruptController();
  const { engine, hv, dom0 } = setup({ pic });
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const other = await hv.createDomain(dom0, { name: "other", memoryBytes: 16 << 20 });
    const [back1] = await connect(hv, dom0, vm);
    const [back2] = await connect(hv, dom0, vm);
    const offered = await hv.evtchnAllocUnbound(vm, { remoteDom: 0 });
    await hv.evtchnSend(dom0, back1); // leaves a pending bit the reset must clear
    await rejectsXen(hv.evtchnReset(other, { dom: vm.domid }), "EPERM");
    await rejectsXen(hv.evtchnReset(dom0, { dom: vm.domid }), "EINVAL");
    await hv.evtchnReset(vm);
    assert.equal(hv.stats().evtchnsBound, 2);
    for (const port of [1, 2, offered]) {
      assert.deepEqual(await hv.evtchnStatus(vm, { port }), { state: "closed", vcpu: 0 });
      assert.ok(!vm.sharedInfo.isPending(port));
    }
    for (const port of [back1, back2]) {
      assert.deepEqual(await hv.evtchnStatus(dom0, { port }), {
        state: "unbound",
        vcpu: 0,
        remoteDomid: vm.domid,
      });
    }
    // It binds again from the lowest port.
    assert.equal(await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: back2 }), 1);
    // Dom0 resets a guest it paused; its pirq ports go with its own reset.
    await hv.pauseDomain(dom0, vm.domid);
    await hv.evtchnReset(dom0, { dom: vm.domid });
    assert.equal(hv.stats().evtchnsBound, 2);
    await hv.evtchnBindPirq(dom0, 4);
    await hv.evtchnReset(dom0);
    assert.equal(hv.stats().evtchnsBound, 0);
    await hv.evtchnClose(dom0, await hv.evtchnBindPirq(dom0, 4)); // the pirq is free again
  });
});

Deno.test("evtchn: a domain boots with every vCPU's upcalls masked; its kernel's dispatcher unmasks vCPU 0", async () => {
  // libxc shared_info_x86_64 (and Xen's dom0_build.c for dom0): evtchn_upcall_mask = 1 in each of
  // the XEN_LEGACY_MAX_VCPUS vcpu_info slots; the PV kernel enables events once its callback is in.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const page = vm.memory.read(vm.sharedInfoAddr, 4096);
    for (let v = 0; v < XEN_LEGACY_MAX_VCPUS; v++) {
      assert.equal(page[v * VCPU_INFO_SIZE + OFF_UPCALL_MASK], 1, `vcpu_info[${v}]`);
      assert.equal(page[v * VCPU_INFO_SIZE + OFF_UPCALL_PENDING], 0);
    }
    assert.equal(dom0.sharedInfo.upcallMasked, true);
    const back = await hv.evtchnAllocUnbound(dom0, { remoteDom: vm.domid });
    const front = await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: back });
    let hits = 0;
    const events = EventDispatcher.of(vm);
    events.bind(front, () => hits++);
    assert.equal(vm.memory.read(vm.sharedInfoAddr + OFF_UPCALL_MASK, 1)[0], 0);
    assert.equal(vm.memory.read(vm.sharedInfoAddr + VCPU_INFO_SIZE + OFF_UPCALL_MASK, 1)[0], 1);
    await engine.sleep(UPCALL * 2);
    assert.equal(hits, 1, "the bind's notification, held back until then, arrives");
  });
});

Deno.test("evtchn: a valid port is one of the buckets allocated so far (valid_evtchns), not one below the port limit", async () => {
  // event.h port_is_valid(): `p < d->valid_evtchns`. evtchn_init() allocates the first bucket
  // (EVTCHNS_PER_BUCKET = 4096 / 64-byte struct evtchn = 64 ports) whatever max_evtchn_port is,
  // and evtchn_allocate_port() adds whole buckets as ports are taken; nothing shrinks it while
  // the domain lives. Status of a valid free port is EVTCHNSTAT_closed, unmask of it 0; past the
  // buckets both are -EINVAL, as close, send and bind_vcpu are for any free port.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const small = await hv.createDomain(dom0, {
      name: "small",
      memoryBytes: 16 << 20,
      maxEvtchnPorts: 4,
    });
    const closed = { state: "closed", vcpu: 0 };
    const invalid = async (d: Domain, port: number) => {
      await rejectsXen(hv.evtchnStatus(d, { port }), "EINVAL");
      await rejectsXen(hv.evtchnUnmask(d, port), "EINVAL");
      await rejectsXen(hv.evtchnClose(d, port), "EINVAL");
      await rejectsXen(hv.evtchnSend(d, port), "EINVAL");
      await rejectsXen(hv.evtchnBindVcpu(d, { port, vcpu: 0 }), "EINVAL");
    };
    const validFree = async (d: Domain, port: number) => {
      assert.deepEqual(await hv.evtchnStatus(d, { port }), closed);
      await hv.evtchnUnmask(d, port);
      await rejectsXen(hv.evtchnClose(d, port), "EINVAL");
      await rejectsXen(hv.evtchnSend(d, port), "EINVAL");
      await rejectsXen(hv.evtchnBindVcpu(d, { port, vcpu: 0 }), "EINVAL");
    };
    // A new domain: one bucket, ports 0..63, whatever its limit.
    await validFree(vm, 63);
    await invalid(vm, 64);
    await validFree(small, 3);
    await validFree(small, 63); // past max_evtchn_port, inside the first bucket
    await invalid(small, 64);
    // Another domain's port: an invalid one is EINVAL before the caller's right is looked at
    // (evtchn_status: the port, then xsm_evtchn_status).
    await rejectsXen(hv.evtchnStatus(small, { dom: vm.domid, port: 64 }), "EINVAL");
    await rejectsXen(hv.evtchnStatus(small, { dom: vm.domid, port: 63 }), "EPERM");
    await rejectsXen(
      hv.evtchnBindInterdomain(small, { remoteDom: vm.domid, remotePort: 64 }),
      "EINVAL",
    );
    // Taking port 64 allocates the second bucket: 64..127 become valid, 128 is not.
    const ports: number[] = [];
    for (let i = 0; i < 64; i++) ports.push(await hv.evtchnAllocUnbound(vm, { remoteDom: 0 }));
    assert.equal(ports.at(-1), 64);
    await validFree(vm, 127);
    await invalid(vm, 128);
    assert.deepEqual(await hv.evtchnStatus(dom0, { dom: vm.domid, port: 100 }), closed);
    // Freeing the ports, or a reset, keeps the buckets.
    for (const p of ports) await hv.evtchnClose(vm, p);
    await validFree(vm, 127);
    await hv.evtchnReset(vm);
    await validFree(vm, 127);
    await invalid(vm, 128);
    // ENOSPC at the limit, not at the bucket.
    for (let i = 0; i < 3; i++) await hv.evtchnAllocUnbound(small, { remoteDom: 0 });
    await rejectsXen(hv.evtchnAllocUnbound(small, { remoteDom: 0 }), "ENOSPC");
    assert.equal(hv.counters().faults, 0);
  });
});

Deno.test("evtchn: EVTCHNOP_bind_virq — Xen's checks in Xen's order, the lowest free port, status, close unbinds", async () => {
  // event_channel.c evtchn_bind_virq (4.17): virq outside [0, NR_VIRQS) -EINVAL; a global VIRQ on
  // a vCPU other than 0 -EINVAL; no such vCPU (domain_vcpu) -ENOENT; the VIRQ already bound on
  // that vCPU -EEXIST; then the port (get_free_port: -ENOSPC). Not pending once bound.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, {
      name: "vm",
      memoryBytes: 16 << 20,
      maxEvtchnPorts: 4,
    });
    const port = await hv.evtchnBindVirq(vm, { virq: VIRQ.DOM_EXC, vcpu: 0 });
    assert.equal(port, 1);
    assert.ok(!vm.sharedInfo.isPending(port));
    assert.deepEqual(await hv.evtchnStatus(vm, { port }), { state: "virq", vcpu: 0, virq: 3 });
    assert.deepEqual(await hv.evtchnStatus(dom0, { dom: vm.domid, port }), {
      state: "virq",
      vcpu: 0,
      virq: 3,
    });
    const bound = hv.stats().evtchnsBound;
    await rejectsXen(hv.evtchnBindVirq(vm, { virq: VIRQ.DOM_EXC, vcpu: 0 }), "EEXIST");
    for (const virq of [NR_VIRQS, -1, 2 ** 31, 2 ** 32, 1.5, "3", null]) {
      const e = await rejectsXen(hv.evtchnBindVirq(vm, { virq, vcpu: 0 } as never), "EINVAL");
      assert.match(e.message, /virq/);
    }
    // Global (VIRQ_DOM_EXC, the arch VIRQs on x86) before the vCPU: EINVAL, not ENOENT.
    for (const virq of [VIRQ.DOM_EXC, VIRQ.ARCH_0, 5]) {
      const e = await rejectsXen(hv.evtchnBindVirq(vm, { virq, vcpu: 1 }), "EINVAL");
      assert.match(e.message, /global/);
    }
    // Per-vCPU: a vCPU the domain lacks is ENOENT; a vcpu no uint32_t holds is EINVAL.
    await rejectsXen(hv.evtchnBindVirq(vm, { virq: VIRQ.TIMER, vcpu: 1 }), "ENOENT");
    await rejectsXen(hv.evtchnBindVirq(vm, { virq: VIRQ.TIMER, vcpu: 0xffff_ffff }), "ENOENT");
    for (const vcpu of [-1, 2 ** 32, 0.5, "0"]) {
      await rejectsXen(hv.evtchnBindVirq(vm, { virq: VIRQ.TIMER, vcpu } as never), "EINVAL");
    }
    // EEXIST comes before the port: a bound VIRQ in a full table is EEXIST, a new one ENOSPC.
    assert.equal(await hv.evtchnBindVirq(vm, { virq: VIRQ.TIMER, vcpu: 0 }), 2);
    assert.equal(await hv.evtchnBindVirq(vm, { virq: 14, vcpu: 0 }), 3); // unnamed: accepted
    assert.deepEqual(await hv.evtchnStatus(vm, { port: 2 }), { state: "virq", vcpu: 0, virq: 0 });
    await rejectsXen(hv.evtchnBindVirq(vm, { virq: VIRQ.TIMER, vcpu: 0 }), "EEXIST");
    await rejectsXen(hv.evtchnBindVirq(vm, { virq: VIRQ.DEBUG, vcpu: 0 }), "ENOSPC");
    assert.equal(hv.stats().evtchnsBound, bound + 2, "the refusals bound nothing");
    // Close unbinds: the VIRQ binds again, on the lowest free port.
    await hv.evtchnClose(vm, port);
    assert.deepEqual(await hv.evtchnStatus(vm, { port }), { state: "closed", vcpu: 0 });
    assert.equal(await hv.evtchnBindVirq(vm, { virq: VIRQ.DOM_EXC, vcpu: 0 }), port);
    // A VIRQ port is not for sending (evtchn_send: default -EINVAL).
    await rejectsXen(hv.evtchnSend(vm, port), "EINVAL");
    // Each domain has its own VIRQ table: dom0 binds VIRQ_DOM_EXC though the guest has.
    assert.equal(await hv.evtchnBindVirq(dom0, { virq: VIRQ.DOM_EXC, vcpu: 0 }), 1);
  });
});

Deno.test("evtchn: EVTCHNOP_bind_ipi — vCPU 0 only; a send notifies the same domain; bind_vcpu and reset for VIRQ and IPI ports", async () => {
  // evtchn_bind_ipi: domain_vcpu() -ENOENT, then get_free_port; evtchn_send ECS_IPI sets the
  // port pending in the sender's own domain. evtchn_bind_vcpu: ECS_VIRQ only for a global VIRQ,
  // ECS_IPI never (-EINVAL). evtchn_reset closes them as evtchn_close does.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    await rejectsXen(hv.evtchnBindIpi(vm, { vcpu: 1 }), "ENOENT");
    await rejectsXen(hv.evtchnBindIpi(vm, { vcpu: -1 }), "EINVAL");
    await rejectsXen(hv.evtchnBindIpi(vm, { vcpu: "0" } as never), "EINVAL");
    const ipi = await hv.evtchnBindIpi(vm, { vcpu: 0 });
    assert.equal(ipi, 1);
    assert.deepEqual(await hv.evtchnStatus(vm, { port: ipi }), { state: "ipi", vcpu: 0 });
    const log = recordUpcalls(engine, vm);
    const dom0Log = recordUpcalls(engine, dom0);
    const t = engine.now;
    await hv.evtchnSend(vm, ipi);
    await engine.sleep(UPCALL * 2);
    assert.deepEqual(log, [{ t: t + P.xen.hypercallNs + UPCALL, ports: [ipi] }]);
    assert.equal(dom0Log.length, 0);
    assert.deepEqual(hv.counters().evtchnSendsByKind, { [`dom${vm.domid}->dom${vm.domid}`]: 1 });
    // A second IPI port is fine (no per-vCPU limit).
    assert.equal(await hv.evtchnBindIpi(vm, { vcpu: 0 }), 2);
    const timer = await hv.evtchnBindVirq(vm, { virq: VIRQ.TIMER, vcpu: 0 });
    const domExc = await hv.evtchnBindVirq(vm, { virq: VIRQ.DOM_EXC, vcpu: 0 });
    await rejectsXen(hv.evtchnBindVcpu(vm, { port: ipi, vcpu: 0 }), "EINVAL");
    await rejectsXen(hv.evtchnBindVcpu(vm, { port: timer, vcpu: 0 }), "EINVAL");
    await hv.evtchnBindVcpu(vm, { port: domExc, vcpu: 0 }); // a global VIRQ may move
    await rejectsXen(hv.evtchnBindVcpu(vm, { port: domExc, vcpu: 1 }), "ENOENT");
    // Reset closes them all, and the VIRQs are free to bind again.
    await hv.evtchnReset(vm);
    assert.equal(hv.stats().evtchnsBound, 0);
    assert.equal(await hv.evtchnBindVirq(vm, { virq: VIRQ.TIMER, vcpu: 0 }), 1);
    assert.equal(await hv.evtchnBindVirq(vm, { virq: VIRQ.DOM_EXC, vcpu: 0 }), 2);
  });
});

Deno.test("evtchn: VIRQ_DOM_EXC reaches dom0 when a guest shuts down, suspends, crashes or is destroyed, and no other domain", async () => {
  // xen/common/domain.c (4.17): send_global_virq(VIRQ_DOM_EXC) when a shutdown is finalised
  // (__domain_finalise_shutdown: every reason, suspend too with no suspend event channel), when
  // domain_kill has relinquished the domain's resources, and when it is finally freed
  // (complete_domain_destroy). send_global_virq sends to the VIRQ's handler, the hardware domain
  // (dom0) unless set otherwise: a guest that binds VIRQ_DOM_EXC gets nothing.
  const { engine, hv, dom0 } = setup({ autoDestroy: false });
  await engine.run(async () => {
    const spy = await hv.createDomain(dom0, { name: "spy", memoryBytes: 16 << 20 });
    const spyPort = await hv.evtchnBindVirq(spy, { virq: VIRQ.DOM_EXC, vcpu: 0 });
    const spyLog = recordUpcalls(engine, spy);
    const dom0Log = recordUpcalls(engine, dom0);
    // Nothing bound in dom0 yet: a shutdown sets no bit of dom0's, kicks nobody.
    const early = await hv.createDomain(dom0, { name: "early", memoryBytes: 16 << 20 });
    await hv.shutdown(early, early.domid, "poweroff");
    await engine.sleep(UPCALL * 2);
    assert.equal(dom0Log.length, 0);
    assert.equal(dom0.sharedInfo.takePending().length, 0);

    const port = await hv.evtchnBindVirq(dom0, { virq: VIRQ.DOM_EXC, vcpu: 0 });
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const at: number[] = [];
    const expect = async (what: string, act: () => Promise<void> | void, callNs: number) => {
      const t = engine.now;
      await act();
      await engine.sleep(UPCALL * 2);
      at.push(t + callNs + UPCALL);
      assert.deepEqual(dom0Log.map((l) => l.t), at, what);
      assert.deepEqual(dom0Log.at(-1)!.ports, [port], what);
    };
    await expect("suspend", () => hv.shutdown(vm, vm.domid, "suspend"), P.xen.hypercallNs);
    await hv.resumeDomain(dom0, vm.domid);
    await expect("poweroff", () => hv.shutdown(dom0, vm.domid, "poweroff"), P.xen.hypercallNs);
    // A second shutdown changes nothing (domain_shutdown returns early): no event.
    await hv.shutdown(dom0, vm.domid, "reboot");
    await engine.sleep(UPCALL * 2);
    assert.equal(dom0Log.length, at.length);
    await expect("destroy", () => hv.destroyDomain(dom0, vm.domid), P.xen.hypercallNs);
    assert.equal(vm.state, "dead");
    const other = await hv.createDomain(dom0, { name: "other", memoryBytes: 16 << 20 });
    await expect("crash", () => hv.domainCrash(other), 0);
    assert.equal(spyLog.length, 0, "the guest's binding received nothing");
    assert.ok(!spy.sharedInfo.isPending(spyPort));
    // Closed, it is raised no more.
    await hv.evtchnClose(dom0, port);
    await hv.destroyDomain(dom0, other.domid);
    await engine.sleep(UPCALL * 2);
    assert.equal(dom0Log.length, at.length);
  });
});

Deno.test("evtchn: a dying domain (a zombie) is found, its ports closed: alloc_unbound in it and bind_interdomain to it are EINVAL, status closed", async () => {
  // Xen 4.17 event_channel.c: rcu_lock_domain_by_any_id() finds a domain until its last page
  // goes (domain_destroy); evtchn_destroy() closed its ports and keeps the buckets;
  // get_free_port() is "if ( d->is_dying ) return -EINVAL"; a free remote port is not
  // ECS_UNBOUND (-EINVAL); evtchn_status() reports a valid free port as closed.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const other = await hv.createDomain(dom0, { name: "other", memoryBytes: 16 << 20 });
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const [, front] = await connect(hv, dom0, vm);
    const offered = await hv.evtchnAllocUnbound(other, { remoteDom: vm.domid });
    const p = vm.memory.alloc(4096, 4096);
    const m = await hv.grantMap(dom0, {
      domid: vm.domid,
      ref: await grantsOf(hv, vm).grantAccess(0, p / 4096),
    });
    hv.domainCrash(vm);
    assert.equal(vm.state, "dying", "dom0 still maps one of its frames");
    const z = vm.domid;
    const rc = async (c: Domain, name: string, args: unknown) =>
      (await hv.hypercall(c, name, args)).rc;
    const dom0Ports = hv.stats().evtchnsBound;
    assert.equal(await rc(dom0, "event_channel_op:alloc_unbound", { dom: z, remoteDom: 0 }), -22);
    assert.equal(
      await rc(dom0, "event_channel_op:bind_interdomain", { remoteDom: z, remotePort: front }),
      -22,
    );
    assert.equal(
      await rc(other, "event_channel_op:bind_interdomain", { remoteDom: z, remotePort: 1 }),
      -22,
    );
    assert.equal(hv.stats().evtchnsBound, dom0Ports, "no port taken by the refusals");
    const st = await hv.hypercall(dom0, "event_channel_op:status", { dom: z, port: front });
    assert.deepEqual([st.rc, st.value], [0, { state: "closed", vcpu: 0 }]);
    assert.equal(await rc(dom0, "event_channel_op:status", { dom: z, port: 64 }), -22, "not valid");
    assert.equal(await rc(other, "event_channel_op:status", { dom: z, port: 1 }), -1, "EPERM");
    assert.equal(await rc(dom0, "event_channel_op:reset", { dom: z }), -22, "not paused");
    assert.equal(await rc(other, "event_channel_op:reset", { dom: z }), -1, "EPERM");
    // Its peers' ports were made unbound, offered back to the dying domain.
    assert.deepEqual(await hv.hypercall(other, "event_channel_op:status", { port: offered }), {
      rc: 0,
      value: { state: "unbound", vcpu: 0, remoteDomid: z },
    });
    await hv.grantUnmap(dom0, m.handle);
    assert.equal(vm.state, "dead");
    for (
      const [name, args] of [
        ["event_channel_op:alloc_unbound", { dom: z, remoteDom: 0 }],
        ["event_channel_op:bind_interdomain", { remoteDom: z, remotePort: 1 }],
        ["event_channel_op:status", { dom: z, port: 1 }],
        ["event_channel_op:reset", { dom: z }],
      ] as const
    ) assert.equal(await rc(dom0, name, args), -3, `${name}: ESRCH once it is gone`);
  });
});
