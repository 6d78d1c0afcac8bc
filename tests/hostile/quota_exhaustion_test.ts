/**
 * Resource floods against the per-guest quotas (issue 11, point 3; DESIGN
 * §9 invariant 9). An attacker guest takes everything it can, with the
 * profile's default quotas: 64 contexts, every PD, SRQ, CQ (and CQE), QP
 * (and WQE), AH and MR it may hold, every registered page, every grant
 * mapping (live and cached) — until each kind is refused with the errno
 * Linux gives for that kind of limit (EAGAIN for object counts, as the rdma
 * cgroup; ENOMEM for pages, as RLIMIT_MEMLOCK) and a message naming the
 * quota. It also replays the attacks: an indirect page naming one
 * grant 16384 times (EINVAL: one grant once per request), split-mode CQs
 * until dom0's shadow heap would be gone (ENOMEM, its shadowBytes quota).
 *
 * While it holds all of that: a guest that was already running keeps
 * communicating and its control operations work, dom0's own control
 * operations work, a newly booted guest gets its device and uses it; the
 * attacker is refused, never disconnected; after it goes every count is
 * back and the audit is clean.
 */
import assert from "node:assert/strict";
import {
  type Context,
  type Cq,
  type Domain,
  Errno,
  type Pd,
  type Qp,
  QpType,
  VerbsError,
  WcStatus,
  type XenGuest,
} from "../../mod.ts";
import { REFS_PER_INDIRECT_PAGE, VIB_F_INDIRECT, VibOp } from "../../drivers/vib/mod.ts";
import { ACCESS, connect, counts, type End, end, rdmaWrite, xenOf } from "../xenib_support.ts";
import { world } from "./support.ts";

/** Repeat `make` until it is refused; the count made and the refusal. */
async function fill<T>(make: () => Promise<T>, kept: T[] = []): Promise<VerbsError> {
  for (;;) {
    try {
      kept.push(await make());
    } catch (e) {
      if (e instanceof VerbsError) return e;
      throw e;
    }
  }
}

function refusedBy(e: VerbsError, errno: number, quota: string): void {
  assert.equal(e.errno, errno, `${quota}: ${e.message}`);
  assert.match(e.message, new RegExp(`over the guest's ${quota} quota`), e.message);
}

/** A short exercise of control and data path: what every bystander must still be able to do. */
async function works(dom: Domain, peerDom: Domain): Promise<{ e: End; p: End }> {
  const e = await end(dom, 4096), p = await end(peerDom, 4096);
  await connect(e, p);
  assert.equal(await rdmaWrite(e, p, { length: 64 }), WcStatus.SUCCESS);
  return { e, p };
}

Deno.test("quota exhaustion: an attacker holding its whole quota leaves other guests, dom0 and a new guest working", async () => {
  const w = await world(13);
  const { cluster: c, xen, bare } = w;
  const q = xen.hw.profile.quota;
  const good = await xen.createGuest({ name: "good", memoryMiB: 64 }) as XenGuest;
  const evil = await xen.createGuest({ name: "evil", memoryMiB: 128 }) as XenGuest;
  const dom0Frames = xen.hw.memory.ownedBy("dom0");
  await c.run(async () => {
    // A bystander with a live connection to a bare-metal peer.
    const g = await end(good), n = await end(bare.os);
    await connect(g, n);
    const back = xenOf(xen).backend!.instances().get(evil.domid!)!;
    const L = back.ledger;

    // Contexts: 64, then EAGAIN.
    const ctxs: Context[] = [];
    refusedBy(await fill(() => evil.openDevice(), ctxs), Errno.EAGAIN, "contexts");
    assert.equal(ctxs.length, q.contexts);
    const ctx = ctxs[0];
    // PDs.
    const pds: Pd[] = [];
    refusedBy(await fill(() => ctx.allocPd(), pds), Errno.EAGAIN, "pds");
    assert.equal(pds.length, q.pds);
    const pd = pds[0];
    // CQs of 256 entries: the CQ and CQE quotas end together.
    const cqs: Cq[] = [];
    refusedBy(await fill(() => ctx.createCq(255), cqs), Errno.EAGAIN, "cqs");
    assert.deepEqual([L.used.cqs, L.used.cqes], [q.cqs, q.cqes]);
    // SRQs of 1024 entries, then QPs of 64 + 128: the SRQ, QP and WQE quotas end together.
    refusedBy(await fill(() => pd.createSrq({ maxWr: 1024, maxSge: 1 })), Errno.EAGAIN, "srqs");
    const qp = (type: QpType = QpType.RC) =>
      pd.createQp({
        type,
        sendCq: cqs[0],
        recvCq: cqs[0],
        cap: { maxSendWr: 64, maxRecvWr: 128, maxSendSge: 1, maxRecvSge: 1 },
      });
    // Some of the QPs are UD (same queue sizes). First they fill the one group a bystander and
    // dom0 join below, up to mcastGroupQps (half of the group's max_mcast_qp_attach slots)...
    const shared = new Uint8Array([0xff, 0x12, ...new Array(13).fill(0), 0x42]);
    const squatters: Qp[] = [];
    for (let i = 0; i <= q.mcastGroupQps; i++) squatters.push(await qp(QpType.UD));
    for (const s of squatters.slice(0, -1)) await s.attachMcast(shared, 0xc042);
    refusedBy(
      await fill(() => squatters.at(-1)!.attachMcast(shared, 0xc042)),
      Errno.EAGAIN,
      "mcastGroupQps",
    );
    // ...then one joins other groups until the mcastAttachments quota refuses the next.
    const ud = squatters[0];
    let group = 0;
    const mgid = () => new Uint8Array([0xff, 0x12, ...new Array(12).fill(0), group >> 8, group++]);
    refusedBy(await fill(() => ud.attachMcast(mgid(), 0xc000)), Errno.EAGAIN, "mcastAttachments");
    assert.equal(L.used.mcastAttachments, q.mcastAttachments);
    refusedBy(await fill(() => qp()), Errno.EAGAIN, "qps");
    assert.deepEqual([L.used.srqs, L.used.qps, L.used.wqes], [q.srqs, q.qps, q.wqes]);
    refusedBy(await fill(() => pd.createAh({ dlid: n.lid })), Errno.EAGAIN, "ahs");
    // Registrations: pages registered and deregistered until dom0's cache of them is full...
    const pages = (k: number) => evil.memory.alloc(k * 4096, 4096);
    const cacheBuf = pages(q.persistentGrants);
    await (await pd.regMr(cacheBuf, q.persistentGrants * 4096, ACCESS)).dereg();
    assert.equal(L.used.persistentGrants, q.persistentGrants);
    // ...then every grant mapping left in one region ("big")...
    const room = L.room("grantMaps");
    const big = pages(room);
    await pd.regMr(big, room * 4096, ACCESS);
    assert.equal(L.used.grantMaps, q.grantMaps);
    // ...and the MRs left over big's pages (no new mapping), so that the MR and page quotas end
    // together: regions of 3 or 4 pages, the last one as large as what is left.
    const left = q.mrs - L.used.mrs - 1;
    const last = Math.min(room, q.mrPages - L.used.mrPages - 3 * left);
    const fours = q.mrPages - L.used.mrPages - last - 3 * left;
    for (let i = 0; i < left; i++) {
      await pd.regMr(big + (i % 64) * 4096, (i < fours ? 4 : 3) * 4096, ACCESS);
    }
    const over = await fill(() => pd.regMr(big, (last + 1) * 4096, ACCESS));
    refusedBy(over, Errno.ENOMEM, "mrPages");
    await pd.regMr(big, last * 4096, ACCESS);
    refusedBy(await fill(() => pd.regMr(big, 4096, ACCESS)), Errno.EAGAIN, "mrs");
    for (const k of Object.keys(q) as (keyof typeof q)[]) {
      if (k === "events" || k === "shadowBytes") continue; // a queue bound; split mode only
      assert.equal(L.used[k], q[k], `${k} held to the limit: ${JSON.stringify(L.used)}`);
    }

    // The grant-table attack: an indirect page naming one grant 16384 times.
    const me = (ctx.file as unknown as { ctx: number }).ctx;
    const victimPage = pages(1);
    const ref = await evil.grants.grantAccess(0, victimPage / 4096, false);
    const ind = pages(16);
    const raw = new Uint8Array(16 * 4096);
    const dv = new DataView(raw.buffer);
    for (let i = 0; i < 16 * REFS_PER_INDIRECT_PAGE; i++) dv.setUint32(4 * i, ref, true);
    evil.memory.write(ind, raw);
    const irefs: number[] = [];
    for (let i = 0; i < 16; i++) irefs.push(await evil.grants.grantAccess(0, ind / 4096 + i, true));
    const maps = xen.counters().grantMaps;
    const r = await evil.front.requestRaw({
      op: VibOp.REG_MR,
      flags: VIB_F_INDIRECT,
      ctx: me,
      handle: pd.handle,
      body: { addr: 0x4000_0000, length: 16384 * 4096, access: ACCESS, nrPages: 16384 },
      segs: irefs,
    });
    assert.equal(r!.status, -Errno.EAGAIN, "the MR count is full: refused before any mapping");
    assert.equal(xen.counters().grantMaps, maps + 0, "not one grant mapped");
    assert.ok(back.connected, "refused, never disconnected");

    // The bystander: data path and control path.
    assert.equal(await rdmaWrite(g, n, { length: 64 }), WcStatus.SUCCESS);
    // The group the attacker holds its share of has room for the bystander's and dom0's QPs.
    const d0 = await end(xen.dom0, 4096);
    for (const e of [g, d0]) {
      const member = await e.pd.createQp({
        type: QpType.UD,
        sendCq: e.cq,
        recvCq: e.cq,
        cap: { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
      });
      await member.attachMcast(shared, 0xc042);
      await member.detachMcast(shared, 0xc042);
      await member.destroy();
    }
    await d0.ctx.close();
    const g2 = await works(good, bare.os);
    // Dom0's own control operations (its program's buffers stay dom0's: counted below).
    const d = await works(xen.dom0, bare.os);
    // A guest booted now gets its device and uses it.
    const late = await xen.createGuest({ name: "late" }) as XenGuest;
    const l = await works(late, bare.os);
    assert.deepEqual(xen.audit(), [], "audit clean with the attacker at its limits");
    for (const x of [g2, d, l]) for (const y of [x.e, x.p]) await y.ctx.close();
    await late.shutdown();
  });
  await evil.shutdown();
  await good.shutdown();
  const dom0Grew = xen.hw.memory.ownedBy("dom0") - dom0Frames;
  const before = w.before.counts as { hv: { framesAllocated: number } };
  const expected = {
    ...before,
    hv: { ...before.hv, framesAllocated: before.hv.framesAllocated + dom0Grew },
  };
  assert.deepEqual(counts(xen), expected, "every count back (dom0's program kept its buffers)");
  assert.equal(xen.hw.memory.allocated, w.before.frames + dom0Grew);
  assert.deepEqual(xen.audit(), []);
});

Deno.test("quota exhaustion: split-mode CQs stop at the shadowBytes quota; dom0's heap keeps its reserve", async () => {
  const w = await world(17);
  const { cluster: c, xen } = w;
  const q = xen.hw.profile.quota;
  const evil = await xen.createGuest({ name: "evil", driver: "split", memoryMiB: 64 }) as XenGuest;
  const other = await xen.createGuest({ name: "other", driver: "split" }) as XenGuest;
  await c.run(async () => {
    const ctx = await evil.openDevice();
    const cqs: Cq[] = [];
    // 32768 entries of 32 bytes: 1 MiB of shadow queue each.
    const e = await fill(() => ctx.createCq(32767), cqs);
    refusedBy(e, Errno.ENOMEM, "shadowBytes");
    assert.equal(cqs.length, q.shadowBytes / (1 << 20));
    const heap = xenOf(xen).heap;
    assert.ok(heap.pagesFree * 4096 >= xen.hw.profile.dom0.reserveHeapBytes);
    // Another split guest still gets shadow queues.
    const o = await other.openDevice();
    const cq = await o.createCq(255);
    await cq.destroy();
    await o.close();
    for (const x of cqs) await x.destroy();
    assert.equal(xenOf(xen).backend!.instances().get(evil.domid!)!.ledger.used.shadowBytes, 0);
  });
  await evil.shutdown();
  await other.shutdown();
  assert.deepEqual(counts(xen), w.before.counts);
  assert.deepEqual(xen.audit(), []);
});

Deno.test("quota exhaustion: quotas per guest from createGuest; bad ones refused with one line", async () => {
  const w = await world(19);
  const { cluster: c, xen } = w;
  await assert.rejects(
    xen.createGuest({ name: "x", quota: { pdz: 1 } as never }),
    /EINVAL: createGuest x: quota: unknown quota 'pdz'/,
  );
  await assert.rejects(
    xen.createGuest({ name: "y", quota: { pds: 1.5 } }),
    /EINVAL: createGuest y: quota 'pds': 1.5 is not a whole number >= 0/,
  );
  const vm = await xen.createGuest({ name: "vm", quota: { pds: 2, ahs: 0 } }) as XenGuest;
  await c.run(async () => {
    const ctx = await vm.openDevice();
    const pd = await ctx.allocPd();
    await ctx.allocPd();
    await assert.rejects(ctx.allocPd(), /EAGAIN: ALLOC_PD: .*over the guest's pds quota/);
    await assert.rejects(pd.createAh({ dlid: 1 }), /EAGAIN: CREATE_AH: .*ahs quota/);
    const back = xenOf(xen).backend!.instances().get(vm.domid!)!;
    assert.deepEqual([back.ledger.refusals.pds, back.ledger.refusals.ahs], [1, 1]);
    assert.match(back.lastRefusal ?? "", /quota ahs of dom\d+: 0 held, 1 more asked, limit 0/);
    assert.equal(vm.quotaUsage().pds.used, 2);
    assert.equal(vm.quotaUsage().pds.limit, 2);
  });
  await vm.shutdown();
  assert.deepEqual(counts(xen), w.before.counts);
});
