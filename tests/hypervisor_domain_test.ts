import assert from "node:assert/strict";
import {
  Engine,
  InterruptController,
  MachineMemory,
  Mailbox,
  type MmioHandler,
  PCIX_SDR_2006,
  Prng,
} from "../sim/mod.ts";
import {
  type Domain,
  DOMID_SELF,
  errnoName,
  GTF_permit_access,
  type HypercallName,
  HYPERCALLS,
  Hypervisor,
  type HypervisorOptions,
  NR_VIRQS,
  type ShadowOpResult,
  VIRQ,
  XenErrno,
  type XenErrnoCode,
  XS_RELEASE_DOMAIN,
} from "../hypervisor/mod.ts";
import { grantsOf, rejectsXen } from "./support/xen.ts";

const X = PCIX_SDR_2006.xen;

function setup(opts: HypervisorOptions = {}) {
  const engine = new Engine();
  const mem = new MachineMemory(256 << 20);
  const dev: MmioHandler = { mmioWrite() {}, mmioRead: (_m, _o, n) => new Uint8Array(n) };
  const uar = mem.attachMmio(8, dev);
  const pic = new InterruptController();
  const hv = new Hypervisor(engine, mem, PCIX_SDR_2006, new Prng(1), { pic, ...opts });
  return { engine, mem, hv, dom0: hv.dom0, uar, pic };
}

Deno.test("domain: dom0 exists at boot; creation is privileged and checks its config", async () => {
  const { engine, mem, hv, dom0 } = setup();
  assert.equal(dom0.domid, 0);
  assert.equal(dom0.privileged, true);
  assert.equal(dom0.state, "running");
  assert.equal(hv.stats().domains, 1);
  await engine.run(async () => {
    const t = engine.now;
    const a = await hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20 });
    assert.equal(engine.now - t, X.hypercallNs);
    const b = await hv.createDomain(dom0, { name: "b", memoryBytes: 16 << 20 });
    assert.deepEqual([a.domid, b.domid], [1, 2]);
    assert.equal(a.privileged, false);
    assert.equal(hv.domain(1), a);
    assert.deepEqual(hv.domains().map((d) => d.name), ["Domain-0", "a", "b"]);
    await rejectsXen(hv.createDomain(a, { name: "c", memoryBytes: 16 << 20 }), "EPERM");
    await rejectsXen(hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20 }), "EEXIST");
    await rejectsXen(hv.createDomain(dom0, { name: "bad name", memoryBytes: 16 << 20 }), "EINVAL");
    await rejectsXen(hv.createDomain(dom0, { name: "c", memoryBytes: 4096 }), "EINVAL");
    await rejectsXen(hv.createDomain(dom0, { name: "c", memoryBytes: 1.5e6 + 0.5 }), "EINVAL");
    await rejectsXen(
      hv.createDomain(dom0, { name: "c", memoryBytes: mem.frames * 8192 }),
      "ENOMEM",
    );
    await rejectsXen(
      hv.createDomain(dom0, { name: "c", memoryBytes: 16 << 20, grantFrames: 0 }),
      "EINVAL",
    );
    await rejectsXen(
      hv.createDomain(dom0, { name: "c", memoryBytes: 16 << 20, maxEvtchnPorts: 1 }),
      "EINVAL",
    );
    // Domids are not reused: a new domain never inherits a dead one's grants or perms.
    await hv.destroyDomain(dom0, b.domid);
    const c = await hv.createDomain(dom0, { name: "b", memoryBytes: 16 << 20 });
    assert.equal(c.domid, 3);
    await rejectsXen(hv.destroyDomain(dom0, 0), "EINVAL"); // domain_kill() of the caller itself
    await rejectsXen(hv.destroyDomain(a, c.domid), "EPERM");
    await rejectsXen(hv.destroyDomain(dom0, b.domid), "ESRCH");
  });
});

// ---------------------------------------------------------------------------
// Every hypercall, given a foreign, out-of-range or unprivileged argument.

type Who = "dom0" | "a" | "b";
type Row = ["unprivileged" | "foreign" | "range" | "state", Who, unknown, XenErrnoCode];

Deno.test("hypercalls: every call refuses foreign, out-of-range and unprivileged arguments with its errno", async () => {
  const { engine, mem, hv, dom0, uar } = setup();
  await engine.run(async () => {
    const a = await hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20 });
    const b = await hv.createDomain(dom0, { name: "b", memoryBytes: 16 << 20 });
    const doms: Record<Who, Domain> = { dom0, a, b };
    // Fixtures the cases refer to.
    const pfn = a.memory.alloc(4096, 4096) / 4096;
    const refForDom0 = await grantsOf(hv, a).grantAccess(0, pfn);
    const roRef = await grantsOf(hv, a).grantAccess(0, pfn, true);
    const held = await hv.grantMap(dom0, { domid: a.domid, ref: refForDom0 });
    const offeredToA = await hv.evtchnAllocUnbound(dom0, { remoteDom: a.domid });
    const unboundOfA = await hv.evtchnAllocUnbound(a, { remoteDom: 0 });
    const pirqPort = await hv.evtchnBindPirq(dom0, 9);
    const debugPort = await hv.evtchnBindVirq(dom0, { virq: VIRQ.DEBUG, vcpu: 0 });
    const ram = mem.frames - 1;
    const NONE = 4242; // no such domain
    const OUT = 0x10000; // not a domid_t (uint16_t) at all
    const RESERVED = 0x7ff5; // a domid_t Xen reserves: rcu_lock_domain_by_id finds no domain
    const IO = uar + 7;

    // Ports: the same refusals for send, close and unmask.
    const portRows: Row[] = [
      ["range", "a", { port: 0 }, "EINVAL"],
      ["range", "a", { port: 4096 }, "EINVAL"],
      ["range", "a", { port: "1" }, "EINVAL"],
      ["foreign", "b", { port: unboundOfA }, "EINVAL"],
    ];
    // Per hypercall: [why, caller, argument block, errno].
    const table: Record<HypercallName, Row[]> = {
      "domctl:createdomain": [
        ["unprivileged", "a", { name: "x", memoryBytes: 1 << 20 }, "EPERM"],
        ["range", "dom0", { name: "x", memoryBytes: -1 }, "EINVAL"],
        ["range", "dom0", { name: 7, memoryBytes: 1 << 20 }, "EINVAL"],
        ["range", "dom0", { name: "x", memoryBytes: 1 << 20, grantFrames: 65 }, "EINVAL"],
        ["range", "dom0", { name: "x", memoryBytes: 1 << 20, maxMaptrack: 0 }, "EINVAL"],
        ["state", "dom0", { name: "a", memoryBytes: 1 << 20 }, "EEXIST"],
        ["range", "dom0", { name: "x", memoryBytes: 2 ** 40 }, "ENOMEM"],
      ],
      "domctl:destroydomain": [
        ["unprivileged", "a", { domid: b.domid }, "EPERM"],
        // do_domctl looks the domain up by id before it checks the caller: DOMID_SELF is none.
        ["foreign", "a", { domid: DOMID_SELF }, "ESRCH"],
        ["foreign", "dom0", { domid: NONE }, "ESRCH"],
        ["foreign", "dom0", { domid: RESERVED }, "ESRCH"],
        ["foreign", "dom0", { domid: 0x8000 }, "ESRCH"],
        ["range", "dom0", { domid: OUT }, "EINVAL"],
        ["range", "dom0", { domid: "1" }, "EINVAL"],
        ["state", "dom0", { domid: 0 }, "EINVAL"], // domain_kill() of the caller itself
        ["foreign", "dom0", { domid: DOMID_SELF }, "ESRCH"], // do_domctl: by id
      ],
      "domctl:memory_mapping": [
        ["unprivileged", "a", { domid: a.domid, mfn: IO, add: true }, "EPERM"],
        ["foreign", "dom0", { domid: NONE, mfn: IO, add: true }, "ESRCH"],
        ["range", "dom0", { domid: OUT, mfn: IO, add: true }, "EINVAL"],
        ["foreign", "dom0", { domid: a.domid, mfn: ram, add: true }, "EPERM"],
        ["range", "dom0", { domid: a.domid, mfn: -5, add: true }, "EINVAL"],
        ["range", "dom0", { domid: a.domid, mfn: IO + 1, add: true }, "EINVAL"],
        ["range", "dom0", { domid: a.domid, mfn: IO, add: "yes" }, "EINVAL"],
        ["state", "dom0", { domid: a.domid, mfn: IO, add: false }, "EINVAL"],
        ["foreign", "dom0", { domid: 0, mfn: IO, add: true }, "EINVAL"],
        ["foreign", "dom0", { domid: DOMID_SELF, mfn: IO, add: true }, "ESRCH"],
      ],
      "domctl:shadow_op": [
        ["unprivileged", "a", { domid: b.domid, op: "peek" }, "EPERM"],
        ["foreign", "dom0", { domid: NONE, op: "peek" }, "ESRCH"],
        ["foreign", "dom0", { domid: DOMID_SELF, op: "peek" }, "ESRCH"],
        ["range", "dom0", { domid: OUT, op: "peek" }, "EINVAL"],
        ["range", "dom0", { domid: a.domid, op: "dirty" }, "EINVAL"],
        ["state", "dom0", { domid: 0, op: "enable_logdirty" }, "EINVAL"],
      ],
      "domctl:pausedomain": [
        ["unprivileged", "a", { domid: b.domid }, "EPERM"],
        ["foreign", "dom0", { domid: NONE }, "ESRCH"],
        ["foreign", "dom0", { domid: DOMID_SELF }, "ESRCH"],
        ["range", "dom0", { domid: OUT }, "EINVAL"],
        ["state", "dom0", { domid: 0 }, "EINVAL"],
      ],
      "domctl:unpausedomain": [
        ["unprivileged", "a", { domid: a.domid }, "EPERM"],
        ["foreign", "dom0", { domid: NONE }, "ESRCH"],
        ["foreign", "dom0", { domid: DOMID_SELF }, "ESRCH"],
        ["range", "dom0", { domid: OUT }, "EINVAL"],
        ["state", "dom0", { domid: a.domid }, "EINVAL"], // not paused: one unpause too many
      ],
      "domctl:resumedomain": [
        ["unprivileged", "a", { domid: a.domid }, "EPERM"],
        ["foreign", "dom0", { domid: NONE }, "ESRCH"],
        ["foreign", "dom0", { domid: DOMID_SELF }, "ESRCH"],
        ["state", "dom0", { domid: 0 }, "EINVAL"], // "no domain_pause()" of the caller itself
      ],
      "sched_op:shutdown": [
        ["unprivileged", "dom0", {}, "EPERM"],
        ["unprivileged", "dom0", { reason: "suspend" }, "EPERM"],
        ["range", "a", { reason: "halt" }, "EINVAL"], // no SHUTDOWN_* of that name
        ["range", "a", { reason: 1.5 }, "EINVAL"], // nor an unsigned int
        ["range", "a", { reason: 2 ** 32 }, "EINVAL"],
      ],
      "sched_op:remote_shutdown": [
        ["unprivileged", "a", { domid: b.domid }, "EPERM"],
        ["foreign", "dom0", { domid: NONE }, "ESRCH"],
        ["range", "dom0", { domid: OUT }, "EINVAL"],
        ["state", "dom0", { domid: 0 }, "EPERM"],
        ["range", "dom0", { domid: b.domid, reason: -1 }, "EINVAL"],
        ["foreign", "dom0", { domid: DOMID_SELF }, "ESRCH"], // looked up by id
      ],
      "grant_table_op:map_grant_ref": [
        ["foreign", "dom0", { domid: NONE, ref: refForDom0 }, "ESRCH"],
        ["foreign", "dom0", { domid: RESERVED, ref: refForDom0 }, "ESRCH"],
        ["range", "dom0", { domid: OUT, ref: refForDom0 }, "EINVAL"],
        ["range", "dom0", { domid: a.domid, ref: 1e9 }, "EINVAL"],
        ["range", "dom0", { domid: a.domid, ref: -1 }, "EINVAL"],
        ["range", "dom0", { domid: a.domid, ref: roRef + 1 }, "EINVAL"],
        // dom0 holds it: map_grant_ref refuses a grant pinned by another domain first.
        ["foreign", "b", { domid: a.domid, ref: refForDom0 }, "EBUSY"],
        ["unprivileged", "dom0", { domid: a.domid, ref: roRef }, "EPERM"],
        ["range", "dom0", { domid: a.domid, ref: roRef, readonly: 1 }, "EINVAL"],
        ["foreign", "a", { domid: DOMID_SELF, ref: refForDom0 }, "ESRCH"], // looked up by id
        ["range", "dom0", { ops: "many" }, "EINVAL"],
      ],
      // gnttab_copy reports each op's refusal in its status, with rc 0 (hypervisor_grant_copy_test.ts);
      // the call itself refuses only a list that is not one, or too long.
      "grant_table_op:copy": [
        ["range", "a", { ops: "many" }, "EINVAL"],
        ["range", "a", { ops: new Array(5000).fill({}) }, "EINVAL"],
        ["range", "a", { ops: [7] }, "EFAULT"],
      ],
      "grant_table_op:unmap_grant_ref": [
        ["foreign", "b", { handle: held.handle }, "EINVAL"],
        ["range", "dom0", { handle: 1 << 30 }, "EINVAL"],
        ["range", "dom0", { handle: -1 }, "EINVAL"],
        ["range", "dom0", { handle: held.handle + 1 }, "EINVAL"],
      ],
      // gnttab_query_size reports a foreign or unknown domain in the op's status, with rc 0
      // (grant_abi_test.ts); only a value no domid_t holds is refused by the call here.
      "grant_table_op:query_size": [
        ["range", "dom0", { domid: OUT }, "EINVAL"],
      ],
      "event_channel_op:alloc_unbound": [
        ["unprivileged", "a", { dom: b.domid, remoteDom: 0 }, "EPERM"],
        ["foreign", "a", { dom: NONE, remoteDom: 0 }, "ESRCH"], // looked up before the right
        ["foreign", "dom0", { dom: RESERVED, remoteDom: 0 }, "ESRCH"],
        ["range", "a", { remoteDom: OUT }, "EINVAL"],
        ["foreign", "dom0", { dom: NONE, remoteDom: 0 }, "ESRCH"],
        ["range", "dom0", { dom: OUT, remoteDom: 0 }, "EINVAL"],
      ],
      "event_channel_op:bind_interdomain": [
        ["foreign", "a", { remoteDom: NONE, remotePort: 1 }, "ESRCH"],
        ["foreign", "a", { remoteDom: RESERVED, remotePort: 1 }, "ESRCH"],
        ["range", "a", { remoteDom: OUT, remotePort: 1 }, "EINVAL"],
        ["range", "a", { remoteDom: 0, remotePort: 4096 }, "EINVAL"],
        ["range", "a", { remoteDom: 0, remotePort: 0 }, "EINVAL"],
        ["foreign", "b", { remoteDom: 0, remotePort: offeredToA }, "EINVAL"],
        ["foreign", "a", { remoteDom: 0, remotePort: pirqPort }, "EINVAL"],
      ],
      "event_channel_op:bind_pirq": [
        ["unprivileged", "a", { pirq: 5 }, "EPERM"],
        // evtchn_bind_pirq: "pirq >= d->nr_pirqs" is -EINVAL before pirq_access_permitted's -EPERM.
        ["range", "a", { pirq: 256 }, "EINVAL"],
        ["range", "a", { pirq: -1 }, "EINVAL"],
        ["range", "dom0", { pirq: 256 }, "EINVAL"],
        ["range", "dom0", { pirq: -1 }, "EINVAL"],
        ["state", "dom0", { pirq: 9 }, "EEXIST"],
      ],
      // evtchn_bind_virq: the VIRQ's range, a global one off vCPU 0, the vCPU, then a second
      // binding of the VIRQ (EEXIST).
      "event_channel_op:bind_virq": [
        ["range", "a", { virq: NR_VIRQS, vcpu: 0 }, "EINVAL"],
        ["range", "a", { virq: -1, vcpu: 0 }, "EINVAL"],
        ["range", "a", { virq: VIRQ.DOM_EXC, vcpu: 1 }, "EINVAL"],
        ["range", "a", { virq: VIRQ.TIMER, vcpu: 1 }, "ENOENT"],
        ["state", "dom0", { virq: VIRQ.DEBUG, vcpu: 0 }, "EEXIST"],
      ],
      "event_channel_op:bind_ipi": [
        ["range", "a", { vcpu: 1 }, "ENOENT"],
        ["range", "a", { vcpu: -1 }, "EINVAL"],
      ],
      "event_channel_op:send": [
        ...portRows,
        ["state", "dom0", { port: pirqPort }, "EINVAL"],
        ["state", "dom0", { port: debugPort }, "EINVAL"],
      ],
      "event_channel_op:close": portRows,
      // evtchn_unmask needs a valid port only, bound or not (port 0 included).
      "event_channel_op:unmask": portRows.slice(1, 3),
      "event_channel_op:status": [
        ["unprivileged", "a", { dom: b.domid, port: 1 }, "EPERM"],
        ["foreign", "a", { dom: NONE, port: 1 }, "ESRCH"], // evtchn_status: domain, port, right
        ["range", "a", { dom: b.domid, port: 4096 }, "EINVAL"],
        ["foreign", "dom0", { dom: NONE, port: 1 }, "ESRCH"],
        ["range", "a", { port: 4096 }, "EINVAL"],
        ["range", "a", { dom: OUT, port: 1 }, "EINVAL"],
      ],
      // evtchn_bind_vcpu: the vCPU first (domain_vcpu: ENOENT; events reach vCPU 0 only here),
      // then the port; a free or reserved port cannot be bound to a vCPU.
      "event_channel_op:bind_vcpu": [
        ["range", "a", { port: unboundOfA, vcpu: 1 }, "ENOENT"],
        ["range", "a", { port: 4096, vcpu: 31 }, "ENOENT"],
        ["range", "a", { port: 4096, vcpu: 0 }, "EINVAL"],
        ["range", "a", { port: unboundOfA, vcpu: -1 }, "EINVAL"], // no uint32_t
        ["state", "a", { port: 0, vcpu: 0 }, "EINVAL"],
        ["state", "dom0", { port: debugPort, vcpu: 0 }, "EINVAL"], // a per-vCPU VIRQ stays put
        ["foreign", "b", { port: unboundOfA, vcpu: 0 }, "EINVAL"],
      ],
      // EVTCHNOP_reset: the domain, the right to it, then evtchn_reset's rule that another
      // domain is reset only while its controller has it paused.
      "event_channel_op:reset": [
        ["unprivileged", "a", { dom: b.domid }, "EPERM"],
        ["foreign", "a", { dom: NONE }, "ESRCH"],
        ["foreign", "dom0", { dom: NONE }, "ESRCH"],
        ["range", "dom0", { dom: OUT }, "EINVAL"],
        ["state", "dom0", { dom: a.domid }, "EINVAL"],
      ],
      "memory_op:current_reservation": [
        ["unprivileged", "a", { domid: b.domid }, "EPERM"],
        ["foreign", "dom0", { domid: NONE }, "ESRCH"],
        ["range", "dom0", { domid: OUT }, "EINVAL"],
      ],
      "xen_version:version": [], // nothing of its own to refuse
    };
    const cases = Object.entries(table).flatMap(([call, rows]) =>
      rows.map(([why, who, args, errno]) => ({ call, why, who, args, errno }))
    );

    // The table covers every hypercall.
    assert.deepEqual(Object.keys(table).sort(), [...HYPERCALLS].sort());

    const before = hv.stats();
    const failures: string[] = [];
    for (const c of cases) {
      const r = await hv.hypercall(doms[c.who], c.call, c.args);
      if (r.rc !== -XenErrno[c.errno]) {
        failures.push(
          `${c.call} (${c.why}) ${JSON.stringify(c.args)}: rc ${r.rc} (${
            errnoName(r.rc)
          }), want -${c.errno}; ${r.error}`,
        );
      }
    }
    assert.deepEqual(failures, []);

    // Refusals common to every hypercall: unreadable argument blocks, callers
    // that are not running domains of this hypervisor.
    const other = setup().hv.dom0; // same domid, another host
    for (const call of HYPERCALLS) {
      for (const args of [null, 42, "x", [1]]) {
        assert.equal((await hv.hypercall(a, call, args)).rc, -XenErrno.EFAULT, `${call} ${args}`);
      }
      assert.equal((await hv.hypercall(NONE, call, {})).rc, -XenErrno.ESRCH, call);
      assert.equal((await hv.hypercall(other, call, {})).rc, -XenErrno.ESRCH, call);
    }
    assert.equal((await hv.hypercall(a, "hypervisor_op:format_disk", {})).rc, -XenErrno.ENOSYS);
    assert.equal((await hv.hypercall(a, "toString", {})).rc, -XenErrno.ENOSYS);

    // Nothing the refusals touched changed.
    assert.deepEqual(hv.stats(), before);
    assert.equal(
      grantsOf(hv, a).readEntry(refForDom0).flags & GTF_permit_access,
      GTF_permit_access,
    );
    const c = hv.counters();
    assert.equal(c.byKind.unknown, 2);
    assert.ok(c.hypercalls >= cases.length + HYPERCALLS.length * 6);

    // A domain that is gone can make no hypercall at all.
    await hv.grantUnmap(dom0, held.handle);
    hv.domainCrash(b);
    for (const call of HYPERCALLS) {
      assert.equal((await hv.hypercall(b, call, {})).rc, -XenErrno.ESRCH, call);
    }
  });
});

// ---------------------------------------------------------------------------
// Teardown.

type Mode = "shutdown" | "remote-crash" | "domainCrash" | "destroy";

for (const mode of ["shutdown", "remote-crash", "domainCrash", "destroy"] as Mode[]) {
  Deno.test(`teardown (${mode}) with grants mapped both ways, channels bound, I/O page mapped leaves nothing behind`, async () => {
    const { engine, mem, hv, dom0, uar } = setup();
    const xs = hv.xenstore;
    await engine.run(async () => {
      // dom0's own page for the guest, taken before the baseline. A whole
      // 16-page chunk: dom0's later foreign mappings then never land on pages
      // populated ahead of use (which the address space would give back).
      const dpage = dom0.memory.alloc(64 << 10, 64 << 10);
      const base = { stats: hv.stats(), allocated: mem.allocated, nodes: xs.size };
      const hookDone = new Mailbox<boolean>(engine, "backend teardown");
      const released: string[] = [];
      xs.watch(0, XS_RELEASE_DOMAIN, "rel", () => released.push("rel"));
      const watchCountBase = xs.watchCount;

      const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 32 << 20 });
      // Guest memory: a 64 KiB buffer, 3 pages of it granted to dom0 (as for regMr).
      const buf = vm.memory.alloc(64 << 10, 4096);
      vm.memory.write(buf, new Uint8Array(64 << 10).fill(0x77));
      const refs = [];
      for (let i = 0; i < 3; i++) refs.push(await grantsOf(hv, vm).grantAccess(0, buf / 4096 + i));
      const maps = await hv.grantMapBatch(dom0, refs.map((ref) => ({ domid: vm.domid, ref })));
      const handles = maps.map((m) => m.handle!);
      // dom0 grants a page to the guest, which maps it (as a shared ring the other way).
      const dref = await grantsOf(hv, dom0).grantAccess(vm.domid, dpage / 4096);
      await hv.grantMap(vm, { domid: 0, ref: dref });
      // Event channels: one bound each way, one left unbound.
      const back = await hv.evtchnAllocUnbound(dom0, { remoteDom: vm.domid });
      const front = await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: back });
      const vmOffer = await hv.evtchnAllocUnbound(vm, { remoteDom: 0 });
      const back2 = await hv.evtchnBindInterdomain(dom0, {
        remoteDom: vm.domid,
        remotePort: vmOffer,
      });
      await hv.evtchnAllocUnbound(vm, { remoteDom: 0 });
      // UAR page.
      await hv.mapIoPage(dom0, { domid: vm.domid, mfn: uar });
      // Xenstore: frontend nodes, a watch of the guest's own, dom0's backend watch.
      xs.write(vm.domid, "device/vib/0/state", "4");
      xs.watch(vm.domid, "device", "fe", () => {});
      const beLog: string[] = [];
      xs.watch(0, `/local/domain/${vm.domid}/device/vib/0/state`, "be", (p) => beLog.push(p));
      // An event in flight.
      vm.sharedInfo.unmaskUpcalls();
      vm.installUpcall(() => assert.fail("a dead domain got an upcall"));
      await hv.evtchnSend(dom0, back);

      const mid = hv.stats();
      assert.equal(mid.domains, base.stats.domains + 1);
      assert.equal(mid.grantsMapped, 4);
      assert.equal(mid.evtchnsBound, 5);
      assert.equal(mid.ioPagesMapped, 1);
      assert.ok(mid.framesAllocated > base.stats.framesAllocated + 16);
      assert.ok(mem.allocated > base.allocated + 16);

      // The backend's part: when the domain dies, unmap its grants and close its ports.
      const reasons: string[] = [];
      vm.onTeardown(async (d, why) => {
        reasons.push(why);
        assert.equal(d.state, "dying", "its frames are still mapped by dom0 when hooks run");
        assert.deepEqual(await hv.grantUnmapBatch(dom0, handles), [0, 0, 0]);
        await hv.evtchnClose(dom0, back);
        await hv.evtchnClose(dom0, back2);
        hookDone.put(true);
      });

      const t = engine.now;
      if (mode === "shutdown") await hv.shutdown(vm, vm.domid);
      else if (mode === "remote-crash") await hv.shutdown(dom0, vm.domid, "crash");
      else if (mode === "domainCrash") hv.domainCrash(vm);
      else await hv.destroyDomain(dom0, vm.domid);
      const wantReason = {
        shutdown: "shutdown",
        "remote-crash": "crash",
        domainCrash: "crash",
        destroy: "destroy",
      }[mode];
      assert.equal(vm.reason, wantReason);

      // Right after teardown, before the backend finished: Xen keeps the frames dom0 maps.
      assert.equal(hv.framesKept(vm.domid), 3);
      assert.equal(dom0.memory.read(maps[0].addr!, 1)[0], 0x77, "dom0's mapping still valid");
      assert.deepEqual(await hv.evtchnStatus(dom0, { port: back }), {
        state: "unbound",
        vcpu: 0,
        remoteDomid: vm.domid,
      });
      assert.equal(hv.grantsMappedBy(vm.domid), 0);
      await grantsOf(hv, dom0).endAccess(dref); // not EBUSY: the guest's mapping of it is gone
      assert.equal(xs.exists(0, `/local/domain/${vm.domid}`), false);
      assert.ok(
        beLog.includes(`/local/domain/${vm.domid}/device/vib/0/state`),
        "backend watch saw the removal",
      );
      await rejectsXen(hv.evtchnSend(vm, front), "ESRCH");
      await rejectsXen(hv.grantMap(dom0, { domid: vm.domid, ref: refs[0] }), "ESRCH");

      await vm.whenDead();
      await hookDone.take();
      assert.ok(engine.now > t, "the backend's unmaps took virtual time");
      assert.equal(vm.state, "dead");
      assert.deepEqual(reasons, [wantReason]);
      assert.deepEqual(released, ["rel", "rel"], "fired once at registration, once at release");
      assert.deepEqual(hv.stats(), base.stats);
      assert.equal(mem.allocated, base.allocated);
      assert.equal(xs.size, base.nodes);
      assert.equal(xs.watchCount, watchCountBase + 1, "only dom0's watch of the dead node remains");
      assert.equal(hv.domain(vm.domid), undefined);
      assert.equal(hv.stateOf(vm.domid), "dead");
      assert.deepEqual(hv.hookErrors, []);
      // Everything the hypervisor handed out can be handed out again.
      const vm2 = await hv.createDomain(dom0, { name: "vm", memoryBytes: 32 << 20 });
      await hv.mapIoPage(dom0, { domid: vm2.domid, mfn: uar });
    });
  });
}

Deno.test("teardown: a dying domain's frames stay allocated until the last mapper unmaps, then it is dead", async () => {
  const { engine, mem, hv, dom0 } = setup();
  await engine.run(async () => {
    const other = await hv.createDomain(dom0, { name: "other", memoryBytes: 16 << 20 });
    const base = { stats: hv.stats(), allocated: mem.allocated };
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const p = vm.memory.alloc(8192, 4096);
    vm.memory.write(p, new Uint8Array([1, 2, 3]));
    const r0 = await grantsOf(hv, vm).grantAccess(0, p / 4096);
    const r1 = await grantsOf(hv, vm).grantAccess(other.domid, p / 4096 + 1);
    const m0 = await hv.grantMap(dom0, { domid: vm.domid, ref: r0 });
    const m0b = await hv.grantMap(dom0, { domid: vm.domid, ref: r0, readonly: true });
    const m1 = await hv.grantMap(other, { domid: vm.domid, ref: r1 });
    const vmOwned = vm.memory.framesOwned;
    const allocatedBefore = mem.allocated;

    hv.domainCrash(vm);
    assert.equal(vm.state, "dying");
    assert.equal(hv.framesKept(vm.domid), 2);
    assert.equal(hv.stats().domains, base.stats.domains + 1, "a zombie still counts");
    assert.equal(hv.stats().framesAllocated, base.stats.framesAllocated + 2);
    assert.equal(mem.ownerOf(m0.mfn), `dom${vm.domid}`, "frame still the dead domain's");
    // Everything else of the guest is already back: all but the 2 kept frames,
    // its 32 grant-table frames and its shared-info page.
    assert.equal(mem.allocated, allocatedBefore - (vmOwned - 2) - 32 - 1);
    assert.deepEqual([...dom0.memory.read(m0.addr, 3)], [1, 2, 3]);

    await hv.grantUnmap(dom0, m0.handle);
    assert.equal(hv.framesKept(vm.domid), 2, "the frame is still mapped through the second handle");
    await hv.grantUnmap(dom0, m0b.handle);
    assert.equal(hv.framesKept(vm.domid), 1);
    assert.equal(mem.isAllocated(m0.mfn), false);
    assert.equal(vm.state, "dying");
    other.memory.write(m1.addr, new Uint8Array([9])); // still fine: its frame is kept
    await hv.grantUnmap(other, m1.handle);
    assert.equal(vm.state, "dead");
    assert.equal(hv.framesKept(vm.domid), 0);
    assert.deepEqual(hv.stats(), base.stats);
    assert.equal(mem.allocated, base.allocated);
  });
});

Deno.test("teardown: with autoDestroy off a shut-down domain keeps its resources until dom0 destroys it", async () => {
  const { engine, mem, hv, dom0 } = setup({ autoDestroy: false });
  await engine.run(async () => {
    const base = { stats: hv.stats(), allocated: mem.allocated };
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const back = await hv.evtchnAllocUnbound(dom0, { remoteDom: vm.domid });
    const front = await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: back });
    const states: string[] = [];
    vm.onTeardown((d) => void states.push(d.state));
    await hv.shutdown(vm, vm.domid);
    assert.equal(vm.state, "shutdown");
    assert.equal(hv.stats().evtchnsBound, 2);
    await rejectsXen(hv.evtchnSend(vm, front), "ESRCH"); // its vCPU no longer runs
    await hv.evtchnSend(dom0, back); // the peer may still notify it
    assert.equal(hv.domainCrash(vm), undefined); // not running: nothing happens
    assert.equal(vm.state, "shutdown");
    await hv.destroyDomain(dom0, vm.domid);
    assert.equal(vm.state, "dead");
    assert.deepEqual(states, ["dead"]);
    await hv.destroyDomain(dom0, vm.domid).catch((e) => assert.equal(e.code, "ESRCH"));
    await hv.evtchnClose(dom0, back);
    assert.deepEqual(hv.stats(), base.stats);
    assert.equal(mem.allocated, base.allocated);
  });
});

Deno.test("domctl: pauses are counted as domain_pause_by_systemcontroller's; resume of a running domain changes nothing", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const call = async (name: HypercallName, domid: number) =>
      (await hv.hypercall(dom0, name, { domid })).rc;
    // Created paused: controller_pause_count 1, one unpause starts it.
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20, paused: true });
    assert.equal(vm.paused, true);
    assert.equal(await call("domctl:pausedomain", vm.domid), 0);
    assert.equal(await call("domctl:unpausedomain", vm.domid), 0);
    assert.equal(vm.paused, true, "one pause is still to be undone");
    assert.equal(await call("domctl:unpausedomain", vm.domid), 0);
    assert.equal(vm.paused, false);
    assert.equal(await call("domctl:unpausedomain", vm.domid), -XenErrno.EINVAL);
    // At most 255 pauses (EOVERFLOW after), and as many unpauses.
    for (let i = 0; i < 255; i++) assert.equal(await call("domctl:pausedomain", vm.domid), 0);
    assert.equal(await call("domctl:pausedomain", vm.domid), -XenErrno.EOVERFLOW);
    for (let i = 0; i < 255; i++) assert.equal(await call("domctl:unpausedomain", vm.domid), 0);
    assert.equal(vm.paused, false);
    // domain_resume() of a domain that runs: 0, nothing changes.
    assert.equal(await call("domctl:resumedomain", vm.domid), 0);
    assert.deepEqual([vm.state, vm.paused, vm.suspended], ["running", false, false]);
    // Of one that suspended: it runs again, its shutdown code reset.
    await hv.shutdown(vm, vm.domid, "suspend");
    assert.deepEqual([vm.suspended, vm.shutdownCode], [true, "suspend"]);
    assert.equal(await call("domctl:resumedomain", vm.domid), 0);
    assert.deepEqual([vm.suspended, vm.paused, vm.shutdownCode], [false, false, undefined]);
  });
});

Deno.test("domctl:shadow_op: enabling log-dirty mode twice is EINVAL; clean and peek with it off return 0 and no page, as Xen 4.17's paging_domctl", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const op = (o: string) => hv.hypercall(dom0, "domctl:shadow_op", { domid: vm.domid, op: o });
    // paging_log_dirty_op() runs whatever the mode: no bitmap, so the caller's is cleared.
    const peek = await op("peek");
    assert.equal(peek.rc, 0, peek.error);
    assert.equal((peek.value as ShadowOpResult).dirtyCount, 0);
    const clean = await op("clean");
    assert.equal(clean.rc, 0, clean.error);
    assert.deepEqual((clean.value as ShadowOpResult).dirty, []);
    // paging_log_dirty_enable(): "if ( paging_mode_log_dirty(d) ) return -EINVAL;" (22,
    // xen/errno.h XEN_EINVAL), not EBUSY (16), which the model answered before.
    assert.equal((await op("enable_logdirty")).rc, 0);
    const again = await op("enable_logdirty");
    assert.equal(again.rc, -22);
    assert.equal(again.rc, -XenErrno.EINVAL);
    // Written while on: counted; off, then peek and clean see nothing, and off again is 0.
    const addr = vm.memory.alloc(4096, 4096);
    vm.memory.write(addr, new Uint8Array([1]));
    assert.ok(((await op("peek")).value as ShadowOpResult).dirtyCount > 0);
    assert.equal((await op("off")).rc, 0);
    assert.equal((await op("off")).rc, 0);
    assert.equal(((await op("peek")).value as ShadowOpResult).dirtyCount, 0);
    assert.deepEqual(((await op("clean")).value as ShadowOpResult).dirty, []);
  });
});

Deno.test("memory_op:current_reservation is the domain's reservation in pages (domain_tot_pages), touched or not", async () => {
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const pages = (16 << 20) / 4096;
    // xen/memory.h: #define XENMEM_current_reservation 3, "the current ... memory reservation,
    // in pages"; do_memory_op returns domain_tot_pages(d), every page the builder gave it. The
    // model answered the frames populated so far: 0 here.
    assert.equal(vm.memory.framesOwned, 0);
    assert.equal(await hv.currentReservation(vm), pages);
    const r = await hv.hypercall(dom0, "memory_op:current_reservation", { domid: vm.domid });
    assert.deepEqual([r.rc, r.value], [0, pages]);
    // Touching pages populates them; the reservation stays what it was.
    const addr = vm.memory.alloc(1 << 20, 4096);
    vm.memory.write(addr, new Uint8Array(1 << 20).fill(1));
    assert.ok(vm.memory.framesOwned >= 256);
    assert.equal(await hv.currentReservation(vm), pages);
  });
});

Deno.test("sched_op:shutdown: every reason is taken, as its low 8 bits (do_sched_op's (u8) cast)", async () => {
  const { engine, hv, dom0 } = setup({ autoDestroy: false });
  await engine.run(async () => {
    const codes: [unknown, unknown][] = [[7, 7], [255, 255], [256 + 3, "crash"], [
      "reboot",
      "reboot",
    ]];
    for (const [reason, code] of codes) {
      const vm = await hv.createDomain(dom0, {
        name: `vm${String(reason)}`,
        memoryBytes: 16 << 20,
      });
      const r = await hv.hypercall(vm, "sched_op:shutdown", { reason });
      assert.equal(r.rc, 0, r.error);
      assert.equal(vm.shutdownCode, code, `reason ${String(reason)}`);
      assert.equal(vm.state, code === "crash" ? "crashed" : "shutdown");
    }
    // dom0 shuts a guest down with a code xen/sched.h names nothing for, by the public call too.
    const vm = await hv.createDomain(dom0, { name: "remote", memoryBytes: 16 << 20 });
    await hv.shutdown(dom0, vm.domid, 9);
    assert.deepEqual([vm.state, vm.shutdownCode], ["shutdown", 9]);
  });
});

Deno.test("teardown: hook errors are reported, and teardown still completes", async () => {
  const errors: unknown[] = [];
  const { engine, mem, hv, dom0 } = setup({ onHookError: (e) => errors.push(e) });
  await engine.run(async () => {
    const base = mem.allocated;
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    let second = false;
    vm.onTeardown(() => {
      throw new Error("backend bug");
    });
    const off = vm.onTeardown(() => assert.fail("unregistered hook ran"));
    vm.onTeardown(() => void (second = true));
    off();
    hv.domainCrash(vm);
    await engine.sleep(1);
    assert.equal(errors.length, 1);
    assert.equal(hv.hookErrors.length, 1);
    assert.equal(second, true);
    assert.equal(vm.state, "dead");
    assert.equal(mem.allocated, base);
    // Registering on a dead domain runs nothing.
    vm.onTeardown(() => assert.fail("ran on a dead domain"))();
  });
});

Deno.test("determinism: the same scenario and seed give the same frames, times and trace hash", async () => {
  async function scenario(seed: number) {
    const engine = new Engine();
    const hv = new Hypervisor(engine, new MachineMemory(64 << 20), PCIX_SDR_2006, new Prng(seed));
    const out: number[] = [];
    await engine.run(async () => {
      const vm = await hv.createDomain(hv.dom0, { name: "vm", memoryBytes: 8 << 20 });
      const buf = vm.memory.alloc(16 * 4096, 4096);
      const refs = [];
      for (let i = 0; i < 16; i++) refs.push(await grantsOf(hv, vm).grantAccess(0, buf / 4096 + i));
      const ms = await hv.grantMapBatch(hv.dom0, refs.map((ref) => ({ domid: vm.domid, ref })));
      out.push(...ms.map((m) => m.mfn!));
      const back = await hv.evtchnAllocUnbound(hv.dom0, { remoteDom: vm.domid });
      await hv.evtchnBindInterdomain(vm, { remoteDom: 0, remotePort: back });
      hv.dom0.sharedInfo.unmaskUpcalls();
      hv.dom0.installUpcall((d) => out.push(engine.now, ...d.sharedInfo.takePending()));
      await hv.evtchnSend(vm, 1);
      await engine.sleep(10_000);
    });
    return { out, hash: engine.traceHash() };
  }
  const a = await scenario(42), b = await scenario(42), c = await scenario(43);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a.out, c.out, "another seed places frames differently");
  // Guest-contiguous pages are not machine-contiguous.
  assert.ok(a.out.slice(0, 16).some((m, i, arr) => i > 0 && m !== arr[i - 1] + 1));
});

Deno.test("domctl: the domain is looked up before the caller's privilege is checked (do_domctl)", async () => {
  // domctl.c do_domctl(): every op but createdomain takes its domain with
  // rcu_lock_domain_by_id(op->domain) (-ESRCH when it finds none, DOMID_SELF and reserved ids
  // included) before xsm_domctl()/xsm_iomem_mapping() refuse an unprivileged caller (-EPERM).
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const a = await hv.createDomain(dom0, { name: "a", memoryBytes: 16 << 20 });
    const b = await hv.createDomain(dom0, { name: "b", memoryBytes: 16 << 20 });
    const ops: [HypercallName, Record<string, unknown>][] = [
      ["domctl:destroydomain", {}],
      ["domctl:shadow_op", { op: "peek" }],
      ["domctl:pausedomain", {}],
      ["domctl:unpausedomain", {}],
      ["domctl:resumedomain", {}],
      ["domctl:memory_mapping", { mfn: 1, add: true }],
    ];
    for (const [name, args] of ops) {
      for (
        const [domid, errno] of [[4242, "ESRCH"], [DOMID_SELF, "ESRCH"], [0x7ff5, "ESRCH"], [
          b.domid,
          "EPERM",
        ]] as const
      ) {
        const r = await hv.hypercall(a, name, { ...args, domid });
        assert.equal(r.rc, -XenErrno[errno], `${name} dom${domid}: ${r.error}`);
      }
    }
    assert.ok(b.running);
  });
});

Deno.test("teardown: a dying domain is found by the calls that look it up: reservation, grant table size, remote_shutdown and shadow_op answer as Xen does", async () => {
  // Xen 4.17: a dying domain stays in the domain list until its last page goes.
  // memory.c XENMEM_current_reservation: domain_tot_pages(d), the pages still assigned to it;
  // grant_table.c gnttab_query_size(): its table is kept until complete_domain_destroy();
  // sched/core.c SCHEDOP_remote_shutdown: domain_shutdown() of it returns 0;
  // x86/mm/paging.c paging_domctl(): "Ignoring paging op on dying domain", 0.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const other = await hv.createDomain(dom0, { name: "other", memoryBytes: 16 << 20 });
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20, grantFrames: 4 });
    const p = vm.memory.alloc(3 * 4096, 4096);
    const g = grantsOf(hv, vm);
    const maps = [];
    for (let i = 0; i < 3; i++) {
      maps.push(
        await hv.grantMap(dom0, { domid: vm.domid, ref: await g.grantAccess(0, p / 4096 + i) }),
      );
    }
    hv.domainCrash(vm);
    assert.equal(vm.state, "dying");
    const z = vm.domid;
    const call = (c: Domain, name: string, args: unknown) => hv.hypercall(c, name, args);
    assert.deepEqual(await call(dom0, "memory_op:current_reservation", { domid: z }), {
      rc: 0,
      value: 3,
    });
    assert.deepEqual(await call(dom0, "grant_table_op:query_size", { domid: z }), {
      rc: 0,
      value: { status: 0, nrFrames: 4, maxNrFrames: 4 },
    });
    assert.equal(
      (await call(dom0, "sched_op:remote_shutdown", { domid: z, reason: "reboot" })).rc,
      0,
    );
    assert.deepEqual(await call(dom0, "domctl:shadow_op", { domid: z, op: "enable_logdirty" }), {
      rc: 0,
      value: { pages: 4096, dirtyCount: 0 },
    });
    assert.deepEqual(await hv.shadowOp(dom0, { domid: z, op: "clean" }), {
      pages: 4096,
      dirtyCount: 0,
      dirty: [],
    });
    assert.equal(vm.state, "dying");
    // The checks on the caller come first, as before.
    assert.equal((await call(other, "memory_op:current_reservation", { domid: z })).rc, -1);
    assert.equal((await call(other, "sched_op:remote_shutdown", { domid: z })).rc, -1);
    assert.equal((await call(other, "domctl:shadow_op", { domid: z, op: "off" })).rc, -1);
    assert.equal(
      ((await call(other, "grant_table_op:query_size", { domid: z })).value as { status: number })
        .status,
      -8,
    );
    await hv.grantUnmap(dom0, maps[0].handle);
    assert.deepEqual(await call(dom0, "memory_op:current_reservation", { domid: z }), {
      rc: 0,
      value: 2,
    });
    for (const m of maps.slice(1)) await hv.grantUnmap(dom0, m.handle);
    assert.equal(vm.state, "dead");
    assert.equal((await call(dom0, "memory_op:current_reservation", { domid: z })).rc, -3);
    assert.equal(
      ((await call(dom0, "grant_table_op:query_size", { domid: z })).value as { status: number })
        .status,
      -2,
    );
    assert.equal((await call(dom0, "sched_op:remote_shutdown", { domid: z })).rc, -3);
    assert.equal((await call(dom0, "domctl:shadow_op", { domid: z, op: "off" })).rc, -3);
  });
});

Deno.test("teardown: a dying domain's controller pauses are counted as before it died: pause, unpause, resume and evtchn reset of it", async () => {
  // Xen 4.17 domain.c: domain_kill() leaves controller_pause_count as it was, and
  // domain_{,un}pause_by_systemcontroller() count a dying domain's pauses as any other's;
  // domctl.c XEN_DOMCTL_resumedomain: domain_resume() of it, 0; event_channel.c evtchn_reset()
  // of another domain needs it controller-paused (EINVAL), and then closes nothing: 0.
  const { engine, hv, dom0 } = setup();
  await engine.run(async () => {
    const vm = await hv.createDomain(dom0, { name: "vm", memoryBytes: 16 << 20 });
    const p = vm.memory.alloc(4096, 4096);
    const m = await hv.grantMap(dom0, {
      domid: vm.domid,
      ref: await grantsOf(hv, vm).grantAccess(0, p / 4096),
    });
    const z = vm.domid;
    const rc = async (name: string, args: unknown) => (await hv.hypercall(dom0, name, args)).rc;
    assert.equal(await rc("domctl:pausedomain", { domid: z }), 0); // as libxl does before destroying
    assert.equal(await rc("domctl:destroydomain", { domid: z }), 0);
    assert.equal(vm.state, "dying");
    assert.equal(
      await rc("event_channel_op:reset", { dom: z }),
      0,
      "still paused by its controller",
    );
    assert.equal(await rc("domctl:unpausedomain", { domid: z }), 0);
    assert.equal(await rc("event_channel_op:reset", { dom: z }), -22, "no longer paused");
    assert.equal(await rc("domctl:unpausedomain", { domid: z }), -22, "one unpause too many");
    assert.equal(await rc("domctl:pausedomain", { domid: z }), 0);
    assert.equal(await rc("domctl:resumedomain", { domid: z }), 0);
    assert.deepEqual([vm.state, vm.paused], ["dying", false], "nothing of it runs again");
    await hv.grantUnmap(dom0, m.handle);
    assert.equal(vm.state, "dead");
    for (const name of ["domctl:pausedomain", "domctl:unpausedomain", "domctl:resumedomain"]) {
      assert.equal(await rc(name, { domid: z }), -3, `${name}: ESRCH once it is gone`);
    }
  });
});
