/**
 * DESIGN §9 invariants 1–7 on the honest paths of bypass (and split)
 * guests: the UAR page is the guest's only way to the device, MTT entries
 * hold exactly the frames the guest granted and dom0 maps now, keys fail
 * closed, handles resolve only in their frontend's table, the backend
 * refuses what it cannot honour, teardown (clean or crash, mid-traffic)
 * returns everything, and privileged operations are dom0's.
 */
import assert from "node:assert/strict";
import { doorbellBytes, sendDoorbellWord, UarOffset } from "../hca/uar.ts";
import { Access, type Host, QpState, SendFlags, WcStatus, WrOpcode } from "../mod.ts";
import { VibOp } from "../drivers/vib/mod.ts";
import {
  ACCESS,
  cluster,
  connect,
  counts,
  type End,
  end,
  guest,
  rdmaWrite,
  xenOf,
} from "./xenib_support.ts";

function mtt(h: Host) {
  return (h.hw.hca as unknown as { core: { tpt: import("../hca/mpt.ts").MemoryTranslation } }).core
    .tpt;
}

Deno.test("invariant 1: a guest reaches the device only through the UAR page dom0 mapped into it", async () => {
  const { cluster: c, hosts } = await cluster([true, false]);
  const vm0 = await guest(hosts[0], "vm0"), vm1 = await guest(hosts[0], "vm1");
  const hv = xenOf(hosts[0]).hv;
  await c.run(async () => {
    const a = await end(vm0), b = await end(vm1), n = await end(hosts[1].os);
    await connect(b, n);
    for (const [vm, e] of [[vm0, a], [vm1, b]] as const) {
      const mfn = hosts[0].hw.hca.uarMfn(e.ctx.file.uarIndex);
      assert.equal(hv.ioPageHolder(mfn), vm.domid, "mapped by the hypervisor into this guest only");
      assert.equal(Math.floor(vm.space.translate(e.ctx.file.uarAddr) / 4096), mfn);
    }
    assert.notEqual(a.ctx.file.uarIndex, b.ctx.file.uarIndex);
    // vm0 rings a send doorbell naming vm1's QP on its own page: the device drops it.
    const rejected = hosts[0].hca.stats().doorbellsRejected;
    vm0.memory.write(
      a.ctx.file.uarAddr + UarOffset.SEND,
      doorbellBytes(sendDoorbellWord(b.qp.qpNum, 3), 1),
    );
    await c.sleep(10_000);
    assert.equal(hosts[0].hca.stats().doorbellsRejected, rejected + 1);
    assert.equal(b.qp.pqp.sqOutstanding, 0);
    // The page cannot be handed to a second guest.
    const mfn = hosts[0].hw.hca.uarMfn(a.ctx.file.uarIndex);
    await assert.rejects(hv.mapIoPage(hv.dom0, { domid: vm1.domid!, mfn }), /EBUSY/);
  });
});

Deno.test("invariant 2: MTT entries hold the granted frames, mapped by dom0, until dereg", async () => {
  const { cluster: c, hosts } = await cluster([true, false]);
  const vm = await guest(hosts[0], "vm0");
  const hv = xenOf(hosts[0]).hv;
  await c.run(async () => {
    const g = await end(vm, 65536, { regCache: false }), n = await end(hosts[1].os);
    await connect(g, n);
    const pinnedBefore = hv.grantsMappedFrom(vm.domid!);
    const buf = vm.memory.alloc(5 * 4096, 4096);
    const mr = await g.pd.regMr(buf + 100, 4 * 4096, ACCESS);
    assert.equal(hv.grantsMappedFrom(vm.domid!), pinnedBefore + 5, "one grant mapping per page");
    const e = mtt(hosts[0]).lookup(mr.lkey)!;
    for (let i = 0; i < 5; i++) {
      const va = buf + 100 + Math.min(i * 4096, 4 * 4096 - 1);
      assert.equal(mtt(hosts[0]).frameOf(e, va), vm.space.mfnOf(Math.floor(va / 4096)));
    }
    const rkey = mr.rkey;
    await mr.dereg();
    assert.equal(hv.grantsMappedFrom(vm.domid!), pinnedBefore, "dereg unmaps every page");
    assert.equal(mtt(hosts[0]).lookup(rkey), undefined);
    // The old key no longer reaches the guest's frames.
    vm.memory.write(buf + 100, new Uint8Array(8).fill(0x11));
    assert.equal(await rdmaWrite(n, g, { remoteAddr: buf + 100, rkey }), WcStatus.REM_ACCESS_ERR);
    assert.deepEqual(vm.memory.read(buf + 100, 8), new Uint8Array(8).fill(0x11));
  });
});

Deno.test("invariant 2: a region too big for one request travels in indirect pages, every page mapped", async () => {
  const { cluster: c, hosts } = await cluster([true, false]);
  const vm = await guest(hosts[0], "vm0");
  const hv = xenOf(hosts[0]).hv;
  await c.run(async () => {
    const g = await end(vm, 4096, { regCache: false }), n = await end(hosts[1].os);
    await connect(g, n);
    // 2100 refs: more than a slot holds, more than one indirect page (1024 refs) holds.
    const pages = 2100;
    const buf = vm.memory.alloc(pages * 4096, 4096);
    const maps = hosts[0].counters().grantMaps, pinned = hv.grantsMappedFrom(vm.domid!);
    const mr = await g.pd.regMr(buf, pages * 4096, ACCESS);
    assert.equal(
      hosts[0].counters().grantMaps - maps,
      pages + 3,
      "every page, plus three indirect pages mapped for the copy",
    );
    assert.equal(hv.grantsMappedFrom(vm.domid!), pinned + pages, "the indirect pages unmapped");
    const e = mtt(hosts[0]).lookup(mr.lkey)!;
    for (const i of [0, 1023, 1024, 2047, 2048, pages - 1]) {
      const va = buf + i * 4096;
      assert.equal(mtt(hosts[0]).frameOf(e, va), vm.space.mfnOf(va / 4096), `page ${i}`);
    }
    // The peer reaches the first and the last page through the one rkey.
    hosts[1].os.memory.write(n.buf, new Uint8Array(8).fill(0x42));
    for (const at of [buf, buf + pages * 4096 - 8]) {
      assert.equal(await rdmaWrite(n, g, { remoteAddr: at, rkey: mr.rkey }), WcStatus.SUCCESS);
      assert.deepEqual(vm.memory.read(at, 8), new Uint8Array(8).fill(0x42));
    }
    await mr.dereg();
    assert.equal(hv.grantsMappedFrom(vm.domid!), pinned);
  });
});

Deno.test("invariant 3: keys fail closed — out of bounds writes error, nothing outside lands", async () => {
  const { cluster: c, hosts } = await cluster([true, false]);
  const vm = await guest(hosts[0], "vm0");
  await c.run(async () => {
    const g = await end(vm, 8192), n = await end(hosts[1].os);
    await connect(g, n);
    const after = g.buf + 8192;
    const guard = vm.memory.alloc(4096, 4096);
    vm.memory.write(guard, new Uint8Array(16).fill(0x5a));
    const status = await rdmaWrite(n, g, { length: 64, remoteAddr: after - 32 });
    assert.equal(status, WcStatus.REM_ACCESS_ERR);
    assert.deepEqual(vm.memory.read(guard, 16), new Uint8Array(16).fill(0x5a));
    assert.equal((await n.qp.query()).state, QpState.ERR);
  });
});

Deno.test("invariant 4: a handle resolves only in its own frontend's table", async () => {
  const { cluster: c, hosts } = await cluster([true]);
  const victim = await guest(hosts[0], "victim"), thief = await guest(hosts[0], "thief");
  await c.run(async () => {
    const v = await end(victim);
    const tctx = await thief.openDevice();
    const ctxId = tctx.file as unknown as { inner?: { ctx: number }; ctx?: number };
    const myCtx = ctxId.inner?.ctx ?? ctxId.ctx!;
    // The victim's handles, named by the thief: EINVAL in its own context, EBADF for a context it does not have.
    for (
      const [op, h] of [[VibOp.DEREG_MR, v.mr.handle], [VibOp.DESTROY_QP, v.qp.handle], [
        VibOp.DESTROY_CQ,
        v.cq.handle,
      ]]
    ) {
      const r = await thief.front.requestRaw({
        op,
        flags: 0,
        ctx: myCtx,
        handle: h,
        body: {},
        segs: [],
      });
      assert.equal(r?.status, -22);
    }
    const other = await thief.front.requestRaw({
      op: VibOp.DEALLOC_PD,
      flags: 0,
      ctx: myCtx + 7,
      handle: v.pd.handle,
      body: {},
      segs: [],
    });
    assert.equal(other?.status, -9);
    // The victim's objects are untouched.
    assert.equal((await v.qp.query()).state, QpState.RESET);
    await v.mr.dereg();
  });
});

Deno.test("invariant 5: what the backend cannot honour gets the native errno; it keeps serving", async () => {
  const { cluster: c, hosts } = await cluster([true, true, false]);
  const vm = await guest(hosts[0], "vm0"), other = await guest(hosts[1], "other");
  // Requests an honest program may make that the native driver refuses: the guest must get
  // the same answer as on bare metal, as an error response, not a disconnect.
  const refusals = async (e: End): Promise<string[]> => {
    const tries: (() => Promise<unknown>)[] = [
      () => e.qp.modify({ state: QpState.RTS, sqPsn: 0 }), // RESET → RTS skips INIT and RTR
      () => e.pd.dealloc(), // the PD still holds the MR and the QP
      () => e.cq.destroy(), // the QP still uses the CQ
      () => e.pd.regMr(e.buf, 4096, Access.REMOTE_WRITE), // remote write without local write
      () => e.qp.modify({ state: QpState.INIT, port: 2, pkeyIndex: 0, accessFlags: 0 }),
      () => e.pd.createAh({ dlid: 1, portNum: 2 }), // a port the device lacks
    ];
    const codes: string[] = [];
    for (const f of tries) codes.push(await f().then(() => "ok", (x) => x.code));
    return codes;
  };
  await c.run(async () => {
    const g = await end(vm), o = await end(other), n = await end(hosts[2].os);
    await connect(o, n);
    const back = xenOf(hosts[0]).backend!.instances().get(vm.domid!)!;
    const served = hosts[0].counters().backendRequests;
    const codes = await refusals(g);
    assert.deepEqual(codes, await refusals(await end(hosts[2].os)), "the errno of bare metal");
    assert.ok(codes.every((x) => x !== "ok"), codes.join());
    // Four are the guest kernel's own checks and never reach dom0: reg_mr's access flags
    // (ib_uverbs_reg_mr's ib_check_mr_access, before any page is pinned), modify_qp's state
    // table and port (ib_uverbs modify_qp, ib_modify_qp_is_ok) on the two modify calls, and
    // create_ah's port (rdma_check_ah_attr's rdma_is_port_valid).
    const reachingDom0 = codes.length - 4;
    assert.equal(Object.values(back.refused).reduce((a, b) => a + b, 0), reachingDom0);
    assert.equal(hosts[0].counters().backendRequests, served + reachingDom0, "each one answered");
    // More requests at once than the ring has slots: the frontend queues, the backend serves all.
    const pds = await Promise.all(
      Array.from({ length: 100 }, (_, i) => c.spawn(`pd${i}`, () => g.ctx.allocPd())),
    );
    assert.equal(new Set(pds.map((p) => p.handle)).size, 100);
    for (const p of pds) await p.dealloc();
    assert.ok(back.connected, "error responses, never a disconnect");
    // The same context still works, and so does another guest's path.
    const n2 = await end(hosts[2].os);
    await connect(g, n2);
    assert.equal(await rdmaWrite(g, n2), WcStatus.SUCCESS);
    assert.equal(await rdmaWrite(o, n), WcStatus.SUCCESS);
  });
});

Deno.test("invariant 6: clean shutdown and crash mid-traffic return every resource", async () => {
  const { cluster: c, hosts } = await cluster([true, true]);
  const peer = await guest(hosts[1], "peer");
  const pe = await c.run(() => end(peer, 1 << 20));
  const before = [counts(hosts[0]), counts(hosts[1])];
  for (const how of ["shutdown", "crash"] as const) {
    for (const mode of ["bypass", "split"] as const) {
      const vm = await guest(hosts[0], `vm-${how}-${mode}`, mode);
      const mid = await c.run(async () => {
        const g = await end(vm, 1 << 20);
        await connect(g, pe);
        const srq = await g.pd.createSrq({ maxWr: 8, maxSge: 1 });
        await g.pd.createAh({ dlid: pe.lid });
        void srq;
        // Keep writes in flight toward the peer.
        for (let i = 0; i < 16; i++) {
          g.qp.postSend({
            wrId: BigInt(i),
            opcode: WrOpcode.RDMA_WRITE,
            sendFlags: SendFlags.SIGNALED,
            sgList: [{ addr: g.buf, length: 65536, lkey: g.mr.lkey }],
            remoteAddr: pe.buf,
            rkey: pe.mr.rkey,
          });
        }
        await c.sleep(20_000);
        const m = counts(hosts[0]);
        if (how === "crash") {
          vm.crash();
          await vm.whenDead();
        }
        return m;
      });
      if (how === "shutdown") await vm.shutdown();
      assert.notDeepEqual(mid, before[0], "the guest did hold resources");
      assert.deepEqual(counts(hosts[0]), before[0], `${how} of a ${mode} guest`);
      assert.deepEqual(hosts[0].audit(), [], `${how} of a ${mode} guest`);
      await c.run(async () => {
        // The peer's QP saw its partner vanish; reset it for the next round.
        await pe.qp.modify({ state: QpState.RESET });
        pe.cq.poll(64);
      });
    }
  }
  assert.deepEqual(counts(hosts[1]), before[1], "the peer's host is unchanged");
  assert.deepEqual(hosts[1].audit(), []);
  assert.equal(hosts[0].guests.length, 0);
});

Deno.test("invariant 6: a guest crashing while dom0 registers 1024 pages for it", async () => {
  const { cluster: c, hosts } = await cluster([true]);
  const before = counts(hosts[0]);
  const vm = await guest(hosts[0], "vm0");
  await c.run(async () => {
    const ctx = await vm.openDevice();
    const pd = await ctx.allocPd();
    const buf = vm.memory.alloc(1024 * 4096, 4096);
    vm.memory.write(buf, new Uint8Array([1]));
    const reg = c.spawn("reg", () => pd.regMr(buf, 1024 * 4096, ACCESS)).catch((e) => e);
    await c.sleep(300_000);
    assert.ok(xenOf(hosts[0]).hv.grantsMappedFrom(vm.domid!) > 0, "caught in the middle of it");
    vm.crash();
    await vm.whenDead();
    assert.match(String(await reg), /EIO/);
  });
  assert.deepEqual(counts(hosts[0]), before);
  assert.deepEqual(hosts[0].audit(), []);
});

Deno.test("invariant 7: privileged operations are dom0's", async () => {
  const { cluster: c, hosts } = await cluster([true]);
  const vm = await guest(hosts[0], "vm0"), other = await guest(hosts[0], "vm1");
  const hv = xenOf(hosts[0]).hv;
  await c.run(async () => {
    const o = await end(other);
    const uar = hosts[0].hw.hca.uarMfn(o.ctx.file.uarIndex);
    const calls: [string, unknown][] = [
      ["domctl:createdomain", { name: "evil", memoryBytes: 1 << 24 }],
      ["domctl:destroydomain", { domid: other.domid }],
      ["domctl:memory_mapping", { domid: vm.domid, mfn: uar, add: true }],
      ["event_channel_op:bind_pirq", { pirq: 0 }],
      ["sched_op:remote_shutdown", { domid: other.domid, reason: "poweroff" }],
    ];
    for (const [name, args] of calls) {
      const r = await hv.hypercall(vm.xen, name, args);
      assert.equal(r.rc, -1, `${name}: ${r.error}`);
    }
    assert.ok(other.running);
    assert.equal(hv.ioPageHolder(uar), other.domid);
  });
});

export type { End };
