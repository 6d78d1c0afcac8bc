/**
 * Hostile guests (DESIGN §9, invariant 5 and the others under attack):
 * doorbells for another guest's QP, forged handles and contexts, grant
 * refs of pages the guest does not own, oversized counts, malformed and
 * replayed requests, garbage ring indices, request floods, privileged
 * hypercalls. Each gets an error response or a disconnect; dom0's backend
 * and the other guests keep running; and once the hostile guest is gone,
 * every count is back where it was before it existed.
 */
import assert from "node:assert/strict";
import { doorbellBytes, sendDoorbellWord, UarOffset } from "../hca/uar.ts";
import { encodeSendWqe, WqeOpcode } from "../hca/wqe.ts";
import { type Context, SendFlags, WcStatus, WrOpcode, type XenGuest } from "../mod.ts";
import { VIB_MAX_PAGES, VibOp } from "../drivers/vib/mod.ts";
import { cluster, connect, counts, end, guest, rdmaWrite, xenOf } from "./xenib_support.ts";

/** The frontend context id behind a guest's verbs context. */
function ctxId(ctx: Context): number {
  const f = ctx.file as unknown as { inner?: { ctx: number }; ctx?: number };
  return f.inner?.ctx ?? f.ctx!;
}

/** A raw request from `vm`'s frontend; resolves with the backend's status. */
async function raw(
  vm: XenGuest,
  a: {
    op: number;
    ctx: number;
    handle?: number;
    body?: Record<string, unknown>;
    segs?: number[];
    flags?: number;
    id?: number;
  },
  mutate?: (slot: DataView) => void,
): Promise<number | undefined> {
  const r = await vm.front.requestRaw({
    op: a.op,
    ctx: a.ctx,
    handle: a.handle ?? 0,
    body: a.body ?? {},
    segs: a.segs ?? [],
    flags: a.flags ?? 0,
    id: a.id,
  }, mutate);
  return r?.status;
}

Deno.test("hostile guest: every malformed request is refused, the backend stays up", async () => {
  const { cluster: c, hosts } = await cluster([true, false]);
  const before = counts(hosts[0]);
  const evil = await guest(hosts[0], "evil"), good = await guest(hosts[0], "good");
  const hv = xenOf(hosts[0]).hv;
  await c.run(async () => {
    const g = await end(good), n = await end(hosts[1].os);
    await connect(g, n);
    const ctx = await evil.openDevice();
    const pd = await ctx.allocPd();
    const me = ctxId(ctx);
    const EINVAL = -22, EPERM = -1, E2BIG = -7, ENOSYS = -38, EBADF = -9, EOPNOTSUPP = -95;
    const buf = evil.memory.alloc(4096, 4096);
    const reg = (segs: number[], extra: Record<string, unknown> = {}) =>
      raw(evil, {
        op: VibOp.REG_MR,
        ctx: me,
        handle: pd.handle,
        body: { addr: buf, length: 4096, access: 1, nrPages: 1, ...extra },
        segs,
      });
    const grants = evil.grants;
    // Grant refs that do not prove ownership of a page.
    const notOwned = grants.grantAccessNow(0, (64 << 20) / 4096 + 10, false); // beyond its memory
    const uarPage = grants.grantAccessNow(0, ctx.file.uarAddr / 4096, false); // an I/O page, not RAM it owns
    const toOther = grants.grantAccessNow(good.domid!, buf / 4096, false); // granted to someone else
    const readOnly = grants.grantAccessNow(0, buf / 4096, true); // read-only, for a writable region
    assert.equal(await reg([notOwned]), EINVAL);
    assert.equal(await reg([uarPage]), EINVAL);
    assert.equal(await reg([toOther]), EPERM);
    assert.equal(await reg([readOnly]), EPERM);
    assert.equal(await reg([12000]), EINVAL, "a ref never granted");
    // Counts that do not add up, or are too big.
    const ok = grants.grantAccessNow(0, buf / 4096, false);
    assert.equal(await reg([ok], { nrPages: 2 }), EINVAL);
    assert.equal(
      await reg([ok], { nrPages: VIB_MAX_PAGES + 1, length: (VIB_MAX_PAGES + 1) * 4096 }),
      E2BIG,
    );
    assert.equal(await reg([ok], {}), 0, "the same ref, honestly used, works");
    assert.equal(
      await raw(evil, {
        op: VibOp.REG_MR,
        ctx: me,
        handle: pd.handle,
        body: { addr: buf, length: 4096, access: 1, nrPages: 1 },
        segs: [ok],
      }, (s) => s.setUint16(12, 900, true)),
      E2BIG,
      "nr_segs beyond the slot",
    );
    // Malformed headers, unknown ops, the wrong mode, replays, forged contexts and handles.
    assert.equal(await raw(evil, { op: 99, ctx: me }), ENOSYS);
    assert.equal(
      await raw(evil, { op: VibOp.ALLOC_PD, ctx: me }, (s) => s.setUint16(14, 1, true)),
      EINVAL,
    );
    assert.equal(await raw(evil, { op: VibOp.ALLOC_PD, ctx: me, flags: 0x80 }), EINVAL);
    assert.equal(
      await raw(evil, {
        op: VibOp.DOORBELL,
        ctx: me,
        body: { offset: UarOffset.SEND, word0: g.qp.qpNum, word1: 1 },
      }),
      EOPNOTSUPP,
      "a bypass guest's datapath does not go through dom0",
    );
    assert.equal(await raw(evil, { op: VibOp.ALLOC_PD, ctx: me, id: 1 }), EINVAL, "replayed id");
    assert.equal(await raw(evil, { op: VibOp.ALLOC_PD, ctx: 4242 }), EBADF);
    assert.equal(await raw(evil, { op: VibOp.DESTROY_QP, ctx: me, handle: g.qp.handle }), EINVAL);
    assert.equal(
      await raw(evil, {
        op: VibOp.CREATE_CQ,
        ctx: me,
        body: {
          cqe: 1 << 30,
          logSize: 31,
          compVector: 0,
          bufAddr: buf,
          bufBytes: 4096,
          nrPages: 1,
        },
        segs: [ok],
      }),
      EINVAL,
    );
    const back = xenOf(hosts[0]).backend!.instances().get(evil.domid!)!;
    assert.ok(back.connected, "still connected: errors, not a disconnect");
    assert.ok(Object.values(back.refused).reduce((a, b) => a + b, 0) >= 16);
    // The honest guest was never disturbed.
    good.memory.write(g.buf, new Uint8Array([7, 7, 7]));
    assert.equal(await rdmaWrite(g, n, { length: 3 }), WcStatus.SUCCESS);
    assert.deepEqual(hosts[1].os.memory.read(n.buf, 3), new Uint8Array([7, 7, 7]));
    // Privileged hypercalls and other guests' grants.
    const victimRef = good.grants.grantAccessNow(0, g.buf / 4096, false);
    const m = await hv.hypercall(evil.xen, "grant_table_op:map_grant_ref", {
      domid: good.domid,
      ref: victimRef,
      readonly: false,
    });
    assert.equal(m.rc, EPERM);
    const uar = hosts[0].hw.hca.uarMfn(g.ctx.file.uarIndex);
    assert.equal(
      (await hv.hypercall(evil.xen, "domctl:memory_mapping", {
        domid: evil.domid,
        mfn: uar,
        add: true,
      })).rc,
      EPERM,
    );
    evil.crash();
    await evil.whenDead();
    await g.ctx.close();
  });
  await good.shutdown();
  assert.deepEqual(counts(hosts[0]), before);
  assert.deepEqual(hosts[0].audit(), []);
});

Deno.test("hostile guest: a doorbell for another guest's QP on its own UAR does nothing", async () => {
  const { cluster: c, hosts } = await cluster([true, false]);
  const evil = await guest(hosts[0], "evil"), good = await guest(hosts[0], "good");
  await c.run(async () => {
    const g = await end(good), n = await end(hosts[1].os), e = await end(evil);
    await connect(g, n);
    // The victim has a WQE in its send queue but has not rung for it.
    const wqe = new Uint8Array(64);
    encodeSendWqe({
      opcode: WqeOpcode.RDMA_WRITE,
      flags: 1,
      remoteAddr: n.buf,
      rkey: n.mr.rkey,
      sgl: [{ addr: g.buf, length: 8, lkey: g.mr.lkey }],
    }, wqe);
    good.memory.write(g.buf, new Uint8Array(8).fill(0xee));
    good.memory.write(g.qp.pqp.sq.base, wqe);
    const rejected = hosts[0].hca.stats().doorbellsRejected;
    evil.memory.write(
      e.ctx.file.uarAddr + UarOffset.SEND,
      doorbellBytes(sendDoorbellWord(g.qp.qpNum, 3), 1),
    );
    await c.sleep(50_000);
    assert.equal(hosts[0].hca.stats().doorbellsRejected, rejected + 1);
    assert.deepEqual(hosts[1].os.memory.read(n.buf, 8), new Uint8Array(8), "no byte moved");
    assert.deepEqual(g.cq.poll(4), []);
  });
});

Deno.test("hostile guest: garbage ring indices get it disconnected; others keep running", async () => {
  const { cluster: c, hosts } = await cluster([true, false]);
  const before = counts(hosts[0]);
  const evil = await guest(hosts[0], "evil");
  const good = await guest(hosts[0], "good");
  const hv = xenOf(hosts[0]).hv;
  await c.run(async () => {
    const g = await end(good), n = await end(hosts[1].os), e = await end(evil);
    await connect(g, n);
    void e;
    const ring = evil.front.ring;
    ring.shared.reqProd = ring.shared.reqProd + 1000;
    await hv.evtchnSend(evil.xen, evil.front.port);
    await c.sleep(200_000);
    const back = xenOf(hosts[0]).backend!.instances().get(evil.domid!)!;
    assert.match(back.closeReason ?? "", /hostile frontend/);
    assert.equal(back.contextCount, 0, "its contexts were torn down");
    assert.deepEqual(evil.devices(), [], "the guest kernel lost the device");
    assert.ok(evil.running, "a disconnect, not a kill");
    await assert.rejects(evil.openDevice(), /ENODEV/);
    // The other guest is unaffected, control path and data path.
    const cq = await g.ctx.createCq(8);
    await cq.destroy();
    assert.equal(await rdmaWrite(g, n), WcStatus.SUCCESS);
    await g.ctx.close();
  });
  await good.shutdown();
  await evil.shutdown();
  assert.deepEqual(counts(hosts[0]), before);
  assert.deepEqual(hosts[0].audit(), []);
});

Deno.test("hostile guest: a request flood is served a ring at a time; the others' paths stay the same", async () => {
  const { cluster: c, hosts } = await cluster([true, false]);
  const evil = await guest(hosts[0], "evil"), good = await guest(hosts[0], "good");
  const xen = xenOf(hosts[0]);
  await c.run(async () => {
    const g = await end(good), n = await end(hosts[1].os);
    await connect(g, n);
    const ctx = await evil.openDevice();
    const me = ctxId(ctx);
    const write = async () => {
      const t = c.now;
      assert.equal(await rdmaWrite(g, n, { length: 64 }), WcStatus.SUCCESS);
      return c.now - t;
    };
    const control = async () => {
      const t = c.now;
      await (await g.pd.regMr(g.buf, 4096, 1)).dereg();
      return c.now - t;
    };
    const quiet = { write: await write(), control: await control() };
    const flood = 3000;
    let answered = 0;
    for (let i = 0; i < flood; i++) {
      const op = i % 3 === 0 ? 77 : VibOp.QUERY_DEVICE; // garbage and cheap valid requests
      evil.front.submit({ op, flags: 0, ctx: me, handle: 0, body: {}, segs: [] }, () => answered++);
    }
    evil.front.kick(0);
    await c.sleep(5_000);
    const busy = { write: await write(), control: await control() };
    assert.equal(busy.write, quiet.write, "bypass data path: not one nanosecond slower");
    assert.ok(
      busy.control < 2 * quiet.control,
      `control path ${busy.control} vs ${quiet.control} ns`,
    );
    while (answered < flood) await c.sleep(100_000);
    const back = xen.backend!.instances().get(evil.domid!)!;
    assert.ok(back.connected);
    assert.equal(back.refused.ENOSYS, flood / 3);
  });
});

Deno.test("hostile guest: an impossible event-ring index gets it disconnected at the next event", async () => {
  const { cluster: c, hosts } = await cluster([true, false]);
  const evil = await guest(hosts[0], "evil");
  await c.run(async () => {
    const e = await end(evil), n = await end(hosts[1].os);
    await connect(e, n);
    const ch = e.ctx.createCompChannel();
    const cq = await e.ctx.createCq(8, { channel: ch });
    const qp = await e.pd.createQp({
      type: 2,
      sendCq: cq,
      recvCq: cq,
      cap: { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 },
    });
    const peer = await n.pd.createQp({
      type: 2,
      sendCq: n.cq,
      recvCq: n.cq,
      cap: { maxSendWr: 4, maxRecvWr: 4, maxSendSge: 1, maxRecvSge: 1 },
    });
    await connect({ ...e, qp }, { ...n, qp: peer });
    // cons far ahead of anything the backend produced.
    const dv = new DataView(new ArrayBuffer(4));
    dv.setUint32(0, 0x7000_0000, true);
    evil.memory.write(evil.front.eventRingAddr + 4, new Uint8Array(dv.buffer));
    cq.reqNotify(false);
    qp.postSend({
      wrId: 1n,
      opcode: WrOpcode.RDMA_WRITE,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: e.buf, length: 8, lkey: e.mr.lkey }],
      remoteAddr: n.buf,
      rkey: n.mr.rkey,
    });
    await c.sleep(1_000_000);
    const back = xenOf(hosts[0]).backend!.instances().get(evil.domid!)!;
    assert.match(back.closeReason ?? "", /hostile frontend: event ring/);
    assert.deepEqual(evil.devices(), []);
    assert.equal(ch.pending, 0, "no event was delivered from a broken ring");
  });
});
