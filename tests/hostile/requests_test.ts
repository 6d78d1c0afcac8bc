/**
 * Hostile requests on the shared ring (DESIGN §9 invariants 4 and 5): forged
 * headers, unknown ops, counts that do not add up, replayed ids, forged
 * contexts, the victim's handles, raw random slots. Each gets an errno and
 * the backend keeps serving the attacker and everyone else.
 */
import assert from "node:assert/strict";
import { segCapacity, VIB_F_INDIRECT, VIB_MAX_PAGES, VibOp } from "../../drivers/vib/mod.ts";
import { UarOffset } from "../../hca/uar.ts";
import { Access, QpAttrMask as M, QpState, QpType, VerbsError } from "../../mod.ts";
import { Prng } from "../../sim/prng.ts";
import { xenOf } from "../xenib_support.ts";
import { backOf, checksum, ctxId, E, raw, scene, verdict } from "./support.ts";

Deno.test("requests: malformed headers, counts and ids are refused with an errno; the backend stays up", async () => {
  const s = await scene();
  const { evil } = s;
  await s.cluster.run(async () => {
    const ctx = await evil.openDevice();
    const pd = await ctx.allocPd();
    const me = ctxId(ctx);
    const buf = evil.memory.alloc(4096, 4096);
    const ok = evil.grants.grantAccessNow(0, buf / 4096, false);
    const reg = (extra: Record<string, unknown> = {}, mutate?: (s: DataView) => void) =>
      raw(evil, {
        op: VibOp.REG_MR,
        ctx: me,
        handle: pd.handle,
        body: { addr: buf, length: 4096, access: 1, nrPages: 1, ...extra },
        segs: [ok],
      }, mutate);
    assert.equal(await reg({ nrPages: 2 }), E.EINVAL, "pages that do not match the extent");
    assert.equal(
      await reg({ nrPages: VIB_MAX_PAGES + 1, length: (VIB_MAX_PAGES + 1) * 4096 }),
      E.E2BIG,
    );
    assert.equal(
      await reg({}, (d) => d.setUint16(12, 900, true)),
      E.E2BIG,
      "nr_segs past the slot",
    );
    assert.equal(await reg({}), 0, "the same request, honest, works");
    assert.equal(await raw(evil, { op: 99, ctx: me }), E.ENOSYS);
    assert.equal(
      await raw(evil, { op: VibOp.ALLOC_PD, ctx: me }, (d) => d.setUint16(14, 1, true)),
      E.EINVAL,
      "reserved header bits",
    );
    assert.equal(await raw(evil, { op: VibOp.ALLOC_PD, ctx: me, flags: 0x80 }), E.EINVAL);
    assert.equal(
      await raw(evil, {
        op: VibOp.DOORBELL,
        ctx: me,
        body: { offset: UarOffset.SEND, word0: s.victim.end.qp.qpNum, word1: 1 },
      }),
      E.EOPNOTSUPP,
      "a bypass guest's datapath does not cross dom0",
    );
    assert.equal(await raw(evil, { op: VibOp.ALLOC_PD, ctx: me, id: 1 }), E.EINVAL, "replayed id");
    assert.equal(await raw(evil, { op: VibOp.ALLOC_PD, ctx: 4242 }), E.EBADF, "forged context");
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
      E.EINVAL,
    );
    // A MODIFY_QP naming an address vector it does not carry: EINVAL before any work.
    const cq = await ctx.createCq(4);
    const qp = await pd.createQp({
      type: 2,
      sendCq: cq,
      recvCq: cq,
      cap: { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
    });
    assert.equal(
      await raw(evil, {
        op: VibOp.MODIFY_QP,
        ctx: me,
        handle: qp.handle,
        body: { mask: M.STATE | M.AV, attr: { state: QpState.INIT } },
      }),
      E.EINVAL,
    );
    // A mask bit past IB_QP_DEST_QPN (bit 20) is EOPNOTSUPP, as ib_uverbs_modify_qp answers it
    // before it looks at anything else: not an EINVAL naming no attribute.
    for (const extra of [1 << 21, 1 << 25, 1 << 31]) {
      assert.equal(
        await raw(evil, {
          op: VibOp.MODIFY_QP,
          ctx: me,
          handle: qp.handle,
          body: {
            mask: (M.STATE | M.PORT | M.PKEY_INDEX | M.ACCESS_FLAGS | extra) >>> 0,
            attr: { state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 },
          },
        }),
        E.EOPNOTSUPP,
        `mask bit 0x${(extra >>> 0).toString(16)}`,
      );
    }
    assert.equal((await qp.query()).state, QpState.RESET, "the QP untouched");
    const back = backOf(s, evil);
    assert.ok(back.connected, "errors, not a disconnect");
    assert.ok(Object.values(back.refused).reduce((a, b) => a + b, 0) >= 11);
    assert.equal(back.refused.EIO ?? 0, 0, "no request reached a crash (EIO)");
    await verdict(s);
  });
});

Deno.test("requests: the victim's handles and a context it does not own resolve nowhere (invariant 4)", async () => {
  const s = await scene();
  const { evil, victim } = s;
  await s.cluster.run(async () => {
    // The attacker's context holds nothing: every handle value it names is someone else's.
    const me = ctxId(await evil.openDevice());
    const v = victim.end;
    const handleOps: [number, number][] = [
      [VibOp.DEALLOC_PD, v.pd.handle],
      [VibOp.DEREG_MR, v.mr.handle],
      [VibOp.DESTROY_CQ, v.cq.handle],
      [VibOp.DESTROY_QP, v.qp.handle],
      [VibOp.QUERY_QP, v.qp.handle],
      [VibOp.MODIFY_QP, v.qp.handle],
      [VibOp.MODIFY_SRQ, 1],
      [VibOp.DESTROY_SRQ, 1],
      [VibOp.DESTROY_AH, 1],
      [VibOp.ATTACH_MCAST, v.qp.handle],
      [VibOp.DETACH_MCAST, v.qp.handle],
    ];
    const mgid = new Uint8Array(16);
    mgid[0] = 0xff;
    for (const [op, handle] of handleOps) {
      const body = op === VibOp.MODIFY_QP
        ? { mask: M.STATE, attr: { state: QpState.ERR } }
        : op === VibOp.MODIFY_SRQ
        ? { srqLimit: 1, maxWr: 0 }
        : op === VibOp.ATTACH_MCAST || op === VibOp.DETACH_MCAST
        ? { gid: mgid, mlid: 0xc000 }
        : {};
      assert.equal(await raw(evil, { op, ctx: me, handle, body }), E.EINVAL, `op ${op}`);
    }
    // Its context numbers are its own: the victim's context id names nothing of the victim's.
    const vctx = ctxId(v.ctx);
    if (vctx !== me) {
      assert.equal(await raw(evil, { op: VibOp.DESTROY_QP, ctx: vctx, handle: 1 }), E.EBADF);
    }
    assert.equal(checksum(victim.vm), victim.sum, "victim memory unchanged");
    assert.equal((await v.qp.query()).state, QpState.RTS, "the victim's QP untouched");
    victim.sum = checksum(victim.vm); // its own query wrote its ring
    assert.ok(backOf(s, evil).connected);
    await verdict(s);
  });
});

Deno.test("requests: random bytes in whole slots get errnos or answers, never a crash, and the ring stays up", async () => {
  const s = await scene({ attacker: "split" });
  const { evil } = s;
  await s.cluster.run(async () => {
    const me = ctxId(await evil.openDevice());
    const rng = new Prng(5);
    const statuses = new Set<number | undefined>();
    for (let i = 0; i < 200; i++) {
      const keepHeader = i % 2 === 0;
      statuses.add(
        await raw(evil, { op: VibOp.QUERY_DEVICE, ctx: me }, (d) => {
          for (let b = keepHeader ? 8 : 0; b < d.byteLength; b++) d.setUint8(b, rng.int(256));
        }),
      );
    }
    assert.ok(!statuses.has(undefined), "always answered");
    assert.ok(!statuses.has(E.EIO), "never a crash answered EIO");
    assert.ok(statuses.has(E.ENOSYS) && statuses.has(E.EINVAL), [...statuses].join());
    assert.ok(backOf(s, evil).connected);
    await verdict(s, { attacker: "shutdown" });
  });
});

for (const attacker of ["bypass", "split"] as const) {
  Deno.test(`requests (${attacker}): a CREATE_CQ ring above max_cqe is EINVAL naming the limit, before any quota`, async () => {
    const s = await scene({ attacker });
    const { evil } = s;
    await s.cluster.run(async () => {
      const ctx = await evil.openDevice();
      const max = ctx.queryDevice().maxCqe; // 2^17 - 1: a ring of at most 2^17 entries
      const me = ctxId(ctx);
      await ctx.createCq(4); // holds 8 of the cqes quota (2^18): a ring of 2^18 is over it too
      const buf = evil.memory.alloc(4096, 4096);
      const ok = evil.grants.grantAccessNow(0, buf / 4096, false);
      const back = backOf(s, evil);
      const quotaRefusals = back.ledger.refusals.cqes;
      for (const logSize of [18, 19, 24]) {
        const r = await evil.front.requestRaw({
          op: VibOp.CREATE_CQ,
          ctx: me,
          handle: 0,
          flags: 0,
          body: { cqe: 1, logSize, compVector: 0, bufAddr: buf, bufBytes: 4096, nrPages: 1 },
          segs: [ok],
        });
        assert.equal(r?.status, E.EINVAL, `logSize ${logSize}`);
        assert.equal(r?.limit, undefined, "no quota named");
        assert.equal(
          r?.reason,
          `create_cq: 2^${logSize} entries above max_cqe ${max} (at most ${max + 1})`,
        );
      }
      assert.equal(back.ledger.refusals.cqes, quotaRefusals, "no quota was asked");
      await verdict(s);
    });
  });
}

for (const attacker of ["bypass", "split"] as const) {
  Deno.test(`requests (${attacker}): a CREATE_SRQ ring above max_srq_wr is EINVAL naming the limit, before any quota`, async () => {
    const s = await scene({ attacker });
    const { evil } = s;
    await s.cluster.run(async () => {
      const ctx = await evil.openDevice();
      const max = ctx.queryDevice().maxSrqWr; // 16384: srqLayout's ring is at most 2^14 entries
      const pd = await ctx.allocPd();
      const me = ctxId(ctx);
      const back = backOf(s, evil);
      // The wqes quota all but full: a ring it were asked about would be ENOMEM naming it.
      const filler = { wqes: back.ledger.room("wqes") - 16 };
      back.ledger.take(filler);
      // One page: the size is judged before the buffer (a ring that fits it is the conformance
      // test's, tests/conformance/device_limits_test.ts).
      const buf = evil.memory.alloc(4096, 4096);
      const ok = evil.grants.grantAccessNow(0, buf / 4096, false);
      const quotaRefusals = back.ledger.refusals.wqes;
      for (const logSize of [15, 16, 24]) {
        const r = await evil.front.requestRaw({
          op: VibOp.CREATE_SRQ,
          ctx: me,
          handle: pd.handle,
          flags: 0,
          body: {
            maxWr: 1,
            maxSge: 1,
            srqLimit: 0,
            bufAddr: buf,
            bufBytes: 4096,
            logSize,
            logStride: 4,
            nrPages: 1,
          },
          segs: [ok],
        });
        assert.equal(r?.status, E.EINVAL, `logSize ${logSize}`);
        assert.equal(r?.limit, undefined, "no quota named");
        assert.equal(
          r?.reason,
          `create_srq: 2^${logSize} entries above max_srq_wr ${max} (at most ${max})`,
        );
      }
      assert.equal(back.ledger.refusals.wqes, quotaRefusals, "no quota was asked");
      back.ledger.give(filler);
      await verdict(s);
    });
  });
}

Deno.test("requests (split): a RESIZE_CQ ring larger than its buffer is EINVAL, and dom0 writes none of it", async () => {
  const s = await scene({ attacker: "split" });
  const { evil, xen } = s;
  await s.cluster.run(async () => {
    const ctx = await evil.openDevice();
    const cq = await ctx.createCq(511);
    const cap = { maxSendWr: 1, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 };
    const qp = await (await ctx.allocPd()).createQp({
      type: QpType.RC,
      sendCq: cq,
      recvCq: cq,
      cap,
    });
    await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
    await qp.modify({ state: QpState.ERR });
    // 304 completions taken: a new shadow of 2^8 entries would hold entries on an odd lap, which
    // dom0 marks not written with the owner bit set.
    for (let i = 0; i < 38; i++) {
      qp.postRecv(Array.from({ length: 8 }, () => ({ wrId: 1n, sgList: [] })));
      await cq.pollUntil(8);
    }
    const me = ctxId(ctx);
    // One page of buffer for a ring of 2^8 entries (8 KiB): dom0's new shadow of the CQ is as
    // large as the buffer, and marking the ring in it would write past its end.
    const buf = evil.memory.alloc(4096, 4096);
    const ok = evil.grants.grantAccessNow(0, buf / 4096, false);
    const heap = xenOf(xen).heap;
    const before = heap.space.read(heap.base, heap.end - heap.base);
    const r = await evil.front.requestRaw({
      op: VibOp.RESIZE_CQ,
      ctx: me,
      handle: cq.handle,
      flags: 0,
      body: { cqe: 200, logSize: 8, bufAddr: buf, bufBytes: 4096, consumerIndex: 304, nrPages: 1 },
      segs: [ok],
    });
    assert.equal(r?.status, E.EINVAL);
    assert.equal(r?.reason, "resize_cq: 256 entries do not fit cqe=200");
    // The shadow dom0 took for it is zeroed and freed; nothing else in its heap changed.
    const after = heap.space.read(heap.base, heap.end - heap.base);
    assert.ok(after.every((b: number, i: number) => b === before[i] || b === 0), "dom0's heap");
    await cq.resize(300); // the CQ still resizes, and works
    assert.equal(cq.cqe, 511);
    qp.postRecv({ wrId: 2n, sgList: [] });
    assert.deepEqual((await cq.pollUntil(1)).map((w) => w.wrId), [2n]);
    await verdict(s);
  });
});

for (const attacker of ["bypass", "split"] as const) {
  Deno.test(`requests (${attacker}): CREATE_QP queues above max_qp_wr are EINVAL naming the limit, before any quota`, async () => {
    const s = await scene({ attacker });
    const { evil } = s;
    await s.cluster.run(async () => {
      const ctx = await evil.openDevice();
      const max = ctx.queryDevice().maxQpWr; // 16384: qpLayout's rings are at most 2^14 entries
      const pd = await ctx.allocPd();
      const cq = await ctx.createCq(4);
      const me = ctxId(ctx);
      const back = backOf(s, evil);
      // The wqes quota all but full: a ring it were asked about would be ENOMEM naming it.
      const filler = { wqes: back.ledger.room("wqes") - 16 };
      back.ledger.take(filler);
      const { qps, wqes } = back.ledger.used, quotaRefusals = back.ledger.refusals.wqes;
      const cap = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1, maxInlineData: 0 };
      // Through the kernel interface, each ring in a buffer that holds it: a send queue of 2^16
      // entries used to be made, charged nothing for it (and refused by the device at RST2INIT).
      const oversized = [["send", 2 ** 15, 1], ["send", 2 ** 16, 1], [
        "receive",
        1,
        2 ** 16,
      ]] as const;
      for (const [what, sqSize, rqSize] of oversized) {
        const rqBytes = rqSize * 16, bytes = Math.ceil((rqBytes + sqSize * 64) / 4096) * 4096;
        const wq = {
          bufAddr: evil.memory.alloc(bytes, 4096),
          bufBytes: bytes,
          rqOffset: 0,
          rqSize,
          rqStride: 16,
          sqOffset: rqBytes,
          sqSize,
          sqStride: 64,
        };
        const n = Math.max(sqSize, rqSize);
        await assert.rejects(
          ctx.file.createQp({
            pdHandle: pd.handle,
            type: QpType.RC,
            sendCqHandle: cq.handle,
            recvCqHandle: cq.handle,
            sqSigAll: false,
            cap,
            wq,
          }),
          (e) =>
            e instanceof VerbsError && e.code === "EINVAL" &&
            e.message.endsWith(
              `create_qp: a ${what} queue of ${n} entries above max_qp_wr ${max} (at most ${max})`,
            ),
          `${what} queue of ${n}`,
        );
      }
      // A raw request, whatever its buffer: the size is judged first, and no quota is named.
      const buf = evil.memory.alloc(4096, 4096);
      const ok = evil.grants.grantAccessNow(0, buf / 4096, false);
      const r = await evil.front.requestRaw({
        op: VibOp.CREATE_QP,
        ctx: me,
        handle: pd.handle,
        flags: 0,
        body: {
          type: QpType.RC,
          sqSigAll: false,
          sendCqHandle: cq.handle,
          recvCqHandle: cq.handle,
          cap,
          wq: {
            bufAddr: buf,
            bufBytes: 4096,
            rqOffset: 0,
            rqSize: 1,
            rqStride: 16,
            sqOffset: 64,
            sqSize: 2 ** 24,
            sqStride: 64,
          },
          nrPages: 1,
        },
        segs: [ok],
      });
      assert.equal(r?.status, E.EINVAL);
      assert.equal(r?.limit, undefined, "no quota named");
      assert.equal(
        r?.reason,
        `create_qp: a send queue of ${2 ** 24} entries above max_qp_wr ${max} (at most ${max})`,
      );
      assert.deepEqual([back.ledger.used.qps, back.ledger.used.wqes], [qps, wqes], "no QP made");
      assert.equal(back.ledger.refusals.wqes, quotaRefusals, "no quota was asked");
      back.ledger.give(filler);
      await verdict(s);
    });
  });
}

for (const attacker of ["bypass", "split"] as const) {
  Deno.test(`requests (${attacker}): a REG_MR with bad access flags, no PD of its context or counts that do not add up is EINVAL before any quota or grant mapping`, async () => {
    const s = await scene({ attacker });
    const { evil, hv } = s;
    await s.cluster.run(async () => {
      const ctx = await evil.openDevice();
      const pd = await ctx.allocPd();
      const me = ctxId(ctx);
      const back = backOf(s, evil);
      const pages = segCapacity(VibOp.REG_MR); // as many as the slot names
      const buf = evil.memory.alloc(pages * 4096, 4096);
      const refs = [...Array(pages).keys()].map((i) =>
        evil.grants.grantAccessNow(0, buf / 4096 + i, false)
      );
      const reg = (handle: number, access: number, o: { nrPages?: number; segs?: number[] } = {}) =>
        evil.front.requestRaw({
          op: VibOp.REG_MR,
          ctx: me,
          handle,
          flags: 0,
          body: { addr: buf, length: pages * 4096, access, nrPages: o.nrPages ?? pages },
          segs: o.segs ?? refs,
        });
      // With room in every quota: dom0 maps none of the pages of a registration bound to fail
      // (it used to map them all, then unmap them when the driver refused the PD).
      const maps = hv.counters().grantMaps;
      assert.equal((await reg(pd.handle + 100, Access.LOCAL_WRITE))?.status, E.EINVAL);
      assert.equal(hv.counters().grantMaps, maps, "no grant mapped for a PD the context lacks");
      // The guest's pinned-memory limit (its RLIMIT_MEMLOCK) all but full, then its count of MRs.
      for (const k of ["mrPages", "mrs"] as const) {
        const filler = { [k]: back.ledger.room(k) - (k === "mrPages" ? pages - 1 : 0) };
        back.ledger.take(filler);
        const refusals = back.ledger.refusals[k], maps = hv.counters().grantMaps;
        const cases: [number, number, string][] = [
          [
            pd.handle,
            Access.REMOTE_WRITE,
            "reg_mr: REMOTE_WRITE/REMOTE_ATOMIC require LOCAL_WRITE",
          ],
          [
            s.victim.end.pd.handle + 100,
            Access.LOCAL_WRITE,
            `no PD with handle ${s.victim.end.pd.handle + 100} in this context`,
          ],
        ];
        // The request's own counts: pages that do not match the extent, refs that do not match
        // the pages (the vib protocol's checks, as ib_umem_get's of an extent).
        const counts: [{ nrPages?: number; segs?: number[] }, string][] = [
          [
            { nrPages: pages - 1 },
            `${pages - 1} pages given for ${pages * 4096} bytes at 0x${buf.toString(16)}`,
          ],
          [{ segs: refs.slice(1) }, `${pages - 1} grant refs for ${pages} pages`],
          // One grant named twice: dom0 would map it twice (Xen's pin counts allow it).
          [
            { segs: [refs[0], ...refs.slice(0, -1)] },
            `grant ref ${refs[0]} named twice in one request`,
          ],
        ];
        for (const [o, reason] of counts) {
          const r = await reg(pd.handle, Access.LOCAL_WRITE, o);
          assert.equal(r?.status, E.EINVAL, `${k}: ${reason}`);
          assert.equal(r?.reason, reason);
        }
        for (const [handle, access, reason] of cases) {
          const r = await reg(handle, access);
          assert.equal(r?.status, E.EINVAL, `${k}: ${reason}`);
          assert.equal(r?.limit, undefined, "no quota named");
          assert.equal(r?.reason, reason);
        }
        assert.equal(back.ledger.refusals[k], refusals, `the ${k} quota was not asked`);
        assert.equal(hv.counters().grantMaps, maps, "dom0 mapped no page of them");
        // The same registration, honest, meets the quota as before.
        const r = await reg(pd.handle, Access.LOCAL_WRITE);
        assert.equal(r?.status, k === "mrs" ? -11 : E.ENOMEM); // EAGAIN for a count, ENOMEM for pages
        assert.equal(r?.limit, k);
        back.ledger.give(filler);
      }
      assert.ok(back.connected);
      await verdict(s);
    });
  });
}

for (const attacker of ["bypass", "split"] as const) {
  Deno.test(`requests (${attacker}): CREATE_CQ/QP/SRQ/AH naming what the context lacks are EINVAL before any quota, grant mapping or shadow queue`, async () => {
    const s = await scene({ attacker });
    const { evil, hv } = s;
    await s.cluster.run(async () => {
      const ctx = await evil.openDevice();
      const pd = await ctx.allocPd();
      const cq = await ctx.createCq(4);
      const me = ctxId(ctx);
      const back = backOf(s, evil);
      const heap = xenOf(s.xen).heap;
      const buf = evil.memory.alloc(4 * 4096, 4096);
      const refs = [0, 1, 2, 3].map((i) => evil.grants.grantAccessNow(0, buf / 4096 + i, false));
      const v = s.victim.end; // the victim's handles name nothing in the attacker's context
      const none = Math.max(v.pd.handle, v.cq.handle, cq.handle, pd.handle) + 100;
      const cap = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1, maxInlineData: 0 };
      const wq = {
        bufAddr: buf,
        bufBytes: 4096,
        rqOffset: 0,
        rqSize: 1,
        rqStride: 16,
        sqOffset: 64,
        sqSize: 1,
        sqStride: 64,
      };
      const qp = (handle: number, sendCq: number) => ({
        op: VibOp.CREATE_QP,
        handle,
        body: {
          type: QpType.RC,
          sqSigAll: false,
          sendCqHandle: sendCq,
          recvCqHandle: cq.handle,
          cap,
          wq,
          nrPages: 1,
        },
        segs: [refs[0]],
      });
      const srq = (handle: number) => ({
        op: VibOp.CREATE_SRQ,
        handle,
        body: {
          maxWr: 4,
          maxSge: 1,
          srqLimit: 0,
          bufAddr: buf,
          bufBytes: 4096,
          logSize: 2,
          logStride: 4,
          nrPages: 1,
        },
        segs: [refs[1]],
      });
      const cqReq = (compVector: number) => ({
        op: VibOp.CREATE_CQ,
        handle: 0,
        body: { cqe: 1, logSize: 2, compVector, bufAddr: buf, bufBytes: 4096, nrPages: 1 },
        segs: [refs[2]],
      });
      const ah = (handle: number) => ({
        op: VibOp.CREATE_AH,
        handle,
        body: { attr: { dlid: 3, portNum: 1 } },
        segs: [],
      });
      const vectors = ctx.numCompVectors;
      const cases: [
        keyof typeof back.ledger.used,
        | ReturnType<typeof qp>
        | ReturnType<typeof srq>
        | ReturnType<typeof cqReq>
        | ReturnType<typeof ah>,
        string,
      ][] = [
        ["qps", qp(pd.handle, none), `no CQ with handle ${none} in this context`],
        [
          "qps",
          qp(v.pd.handle + 100, cq.handle),
          `no PD with handle ${v.pd.handle + 100} in this context`,
        ],
        ["srqs", srq(none), `no PD with handle ${none} in this context`],
        [
          "cqs",
          cqReq(vectors),
          `create_cq: compVector must be an integer in 0..${vectors - 1}, got ${vectors}`,
        ],
        ["ahs", ah(none), `no PD with handle ${none} in this context`],
      ];
      const send = (r: (typeof cases)[number][1]) =>
        evil.front.requestRaw({ ...r, ctx: me, flags: 0 });
      for (const full of [false, true]) {
        for (const [k, r, reason] of cases) {
          // Full: the quota the op would be charged to holds its limit.
          const filler = { [k]: full ? back.ledger.room(k) : 0 };
          back.ledger.take(filler);
          const refusals = back.ledger.refusals[k];
          const maps = hv.counters().grantMaps, free = heap.pagesFree;
          const got = await send(r);
          assert.equal(got?.status, E.EINVAL, `op ${r.op}: ${reason} (${k} full: ${full})`);
          assert.equal(got?.limit, undefined, "no quota named");
          assert.equal(got?.reason, reason);
          assert.equal(back.ledger.refusals[k], refusals, `the ${k} quota was not asked`);
          assert.equal(hv.counters().grantMaps, maps, "dom0 mapped no page for it");
          assert.equal(heap.pagesFree, free, "and allocated no shadow queue");
          back.ledger.give(filler);
        }
      }
      // The same requests, honest, are made.
      for (const r of [qp(pd.handle, cq.handle), srq(pd.handle), cqReq(0), ah(pd.handle)]) {
        assert.equal((await send(r))?.status, 0, `op ${r.op}`);
      }
      assert.ok(back.connected);
      await verdict(s);
    });
  });
}

for (const attacker of ["bypass", "split"] as const) {
  Deno.test(`requests (${attacker}): an ATTACH_MCAST the verbs layer refuses is EINVAL before the attachment quota or a place in the group`, async () => {
    const s = await scene({ attacker });
    const { evil } = s;
    await s.cluster.run(async () => {
      const ctx = await evil.openDevice();
      const pd = await ctx.allocPd();
      const cq = await ctx.createCq(16);
      const me = ctxId(ctx);
      const back = backOf(s, evil);
      const cap = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 };
      const make = (type: number) => pd.createQp({ type, sendCq: cq, recvCq: cq, cap });
      const rc = await make(QpType.RC);
      const group = new Uint8Array(16);
      group[0] = 0xff;
      group[15] = 7;
      const unicast = new Uint8Array(16);
      unicast[15] = 7;
      const attach = (qp: number, gid: Uint8Array, mlid: number) =>
        evil.front.requestRaw({
          op: VibOp.ATTACH_MCAST,
          ctx: me,
          handle: qp,
          flags: 0,
          body: { gid, mlid },
          segs: [],
        });
      const limit = back.ledger.limit.mcastGroupQps; // a guest's QPs in any one group
      const uds = [];
      for (let i = 0; i <= limit; i++) uds.push(await make(QpType.UD));
      const bad = (ud: number): [number, Uint8Array, number, string][] => [
        [rc.handle, group, 0xc007, "attach_mcast: only a UD QP can join a multicast group"],
        [ud, group, 5, "attach_mcast: LID 5 is not a multicast LID (0xC000..0xFFFE)"],
        [
          ud,
          unicast,
          0xc007,
          "attach_mcast: the GID is not a multicast GID (its first byte must be 0xFF)",
        ],
        [9999, group, 0xc007, "no QP with handle 9999 in this context"],
      ];
      const refused = async (ud: number, k: "mcastAttachments" | "mcastGroupQps") => {
        const refusals = back.ledger.refusals[k];
        for (const [qp, gid, mlid, reason] of bad(ud)) {
          const r = await attach(qp, gid, mlid);
          assert.equal(r?.status, E.EINVAL, `${reason} (${k} full)`);
          assert.equal(r?.limit, undefined, "no quota named");
          assert.equal(r?.reason, reason);
        }
        assert.equal(back.ledger.refusals[k], refusals, `${k} was not asked`);
      };
      // Every attachment the guest may hold is held.
      const filler = { mcastAttachments: back.ledger.room("mcastAttachments") };
      back.ledger.take(filler);
      await refused(uds[0].handle, "mcastAttachments");
      back.ledger.give(filler);
      // The guest's share of the group's slots is full: its next QP's bad requests are still EINVAL.
      for (const ud of uds.slice(0, limit)) await ud.attachMcast(group, 0xc007);
      const last = uds[limit];
      await refused(last.handle, "mcastGroupQps");
      // Its well-formed one meets the group's limit, as before.
      const r = await attach(last.handle, group, 0xc007);
      assert.equal(r?.status, -11);
      assert.equal(r?.limit, "mcastGroupQps");
      for (const ud of uds.slice(0, limit)) await ud.detachMcast(group, 0xc007);
      assert.equal(back.ledger.used.mcastAttachments, 0);
      assert.ok(back.connected);
      await verdict(s);
    });
  });
}

for (const attacker of ["bypass", "split"] as const) {
  Deno.test(`requests (${attacker}): a CQ, QP or SRQ buffer off a page boundary is EINVAL, as in every mode`, async () => {
    const s = await scene({ attacker });
    const { evil, hv } = s;
    await s.cluster.run(async () => {
      const ctx = await evil.openDevice();
      const pd = await ctx.allocPd();
      const cq = await ctx.createCq(4);
      const me = ctxId(ctx);
      const back = backOf(s, evil);
      const buf = evil.memory.alloc(4 * 4096, 4096);
      const refs = [0, 1, 2, 3].map((i) => evil.grants.grantAccessNow(0, buf / 4096 + i, false));
      // 64 bytes into a page: dom0 used to take it in split mode and copy the guest's WQEs and
      // CQEs at offsets from the page below (bypass and native refused it).
      const at = (page: number) => buf + page * 4096 + 64;
      const cap = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1, maxInlineData: 0 };
      const cases = [
        {
          op: VibOp.CREATE_QP,
          handle: pd.handle,
          body: {
            type: QpType.RC,
            sqSigAll: false,
            sendCqHandle: cq.handle,
            recvCqHandle: cq.handle,
            cap,
            wq: {
              bufAddr: at(0),
              bufBytes: 4096,
              rqOffset: 0,
              rqSize: 1,
              rqStride: 16,
              sqOffset: 64,
              sqSize: 1,
              sqStride: 64,
            },
            nrPages: 2,
          },
          segs: [refs[0], refs[1]],
          what: "create_qp",
        },
        {
          op: VibOp.CREATE_CQ,
          handle: 0,
          body: { cqe: 1, logSize: 2, compVector: 0, bufAddr: at(2), bufBytes: 128, nrPages: 1 },
          segs: [refs[2]],
          what: "create_cq",
        },
        {
          op: VibOp.CREATE_SRQ,
          handle: pd.handle,
          body: {
            maxWr: 4,
            maxSge: 1,
            srqLimit: 0,
            bufAddr: at(3),
            bufBytes: 64,
            logSize: 2,
            logStride: 4,
            nrPages: 1,
          },
          segs: [refs[3]],
          what: "create_srq",
        },
      ];
      for (const { what, ...r } of cases) {
        const maps = hv.counters().grantMaps;
        const got = await evil.front.requestRaw({ ...r, ctx: me, flags: 0 });
        assert.equal(got?.status, E.EINVAL, what);
        assert.equal(
          got?.reason,
          `${what}: buffer 0x${
            (r.body.bufAddr ?? r.body.wq!.bufAddr).toString(16)
          } not page-aligned`,
        );
        assert.equal(hv.counters().grantMaps, maps, "nothing mapped for it");
      }
      assert.equal(back.ledger.used.qps + back.ledger.used.srqs, 0, "no QP or SRQ made");
      assert.ok(back.connected);
      await verdict(s);
    });
  });
}

Deno.test("requests: a DEREG_MR of no MR of the context is EINVAL before dom0 maps the refs it names", async () => {
  const s = await scene();
  const { evil, hv } = s;
  await s.cluster.run(async () => {
    const ctx = await evil.openDevice();
    const pd = await ctx.allocPd();
    const me = ctxId(ctx);
    const page = evil.memory.alloc(4096, 4096);
    const ind = evil.grants.grantAccessNow(0, page / 4096, true); // an indirect page of refs
    const buf = evil.memory.alloc(4096, 4096);
    const mr = await pd.regMr(buf, 4096, Access.LOCAL_WRITE);
    for (const handle of [mr.handle + 100, s.victim.end.mr.handle]) {
      const maps = hv.counters().grantMaps;
      const r = await evil.front.requestRaw({
        op: VibOp.DEREG_MR,
        ctx: me,
        handle,
        flags: VIB_F_INDIRECT,
        body: { nrRefs: 1024 },
        segs: [ind],
      });
      assert.equal(r?.status, E.EINVAL);
      assert.equal(r?.reason, `no MR with handle ${handle} in this context`);
      assert.equal(hv.counters().grantMaps, maps, "the indirect page was not mapped");
    }
    await mr.dereg(); // its own MR goes as before
    assert.ok(backOf(s, evil).connected);
    await verdict(s);
  });
});

Deno.test("requests: a RESIZE_CQ whose ring does not fit its buffer, or whose buffer is off a page, is EINVAL before the cqes quota or a mapping", async () => {
  const s = await scene();
  const { evil, hv } = s;
  await s.cluster.run(async () => {
    const ctx = await evil.openDevice();
    const cq = await ctx.createCq(4);
    const me = ctxId(ctx);
    const back = backOf(s, evil);
    const buf = evil.memory.alloc(2 * 4096, 4096);
    const refs = [0, 1].map((i) => evil.grants.grantAccessNow(0, buf / 4096 + i, false));
    const resize = (bufAddr: number, bufBytes: number, nrPages: number) =>
      evil.front.requestRaw({
        op: VibOp.RESIZE_CQ,
        ctx: me,
        handle: cq.handle,
        flags: 0,
        body: { cqe: 63, logSize: 6, bufAddr, bufBytes, consumerIndex: 0, nrPages },
        segs: refs.slice(0, nrPages),
      });
    const filler = { cqes: back.ledger.room("cqes") }; // the guest's CQEs all held
    back.ledger.take(filler);
    const refusals = back.ledger.refusals.cqes, maps = hv.counters().grantMaps;
    const small = await resize(buf, 1024, 1); // 64 CQEs need 2048 bytes
    assert.equal(small?.status, E.EINVAL);
    assert.equal(small?.reason, "resize_cq: 64 entries do not fit cqe=63");
    const off = await resize(buf + 64, 2048, 1);
    assert.equal(off?.status, E.EINVAL);
    assert.equal(off?.reason, `resize_cq: buffer 0x${(buf + 64).toString(16)} not page-aligned`);
    assert.equal(back.ledger.refusals.cqes, refusals, "the cqes quota was not asked");
    assert.equal(hv.counters().grantMaps, maps, "nothing mapped");
    // The honest resize meets the quota, as before.
    const honest = await resize(buf, 2048, 1);
    assert.equal(honest?.status, E.ENOMEM);
    assert.equal(honest?.limit, "cqes");
    back.ledger.give(filler);
    assert.equal((await resize(buf, 2048, 1))?.status, 0, "with room, it resizes");
    assert.ok(back.connected);
    await verdict(s);
  });
});
