/**
 * Double fetch (TOCTOU): the guest rewrites what it shared after dom0 read
 * it — the request's ring slot, the indirect page of grant refs, a WQE a
 * split guest asked dom0 to post. The backend copies each into private
 * memory once and checks and uses only its copy (io/ring.h
 * `RING_COPY_REQUEST`; Xen netback/blkback do the same), so a rewrite
 * after the copy changes nothing. Each case also makes the same rewrite
 * before the copy, to show it would have mattered.
 */
import assert from "node:assert/strict";
import { BackendGrants, type MappedBuffer } from "../../drivers/back/grants.ts";
import { requestLayout, segStart } from "../../drivers/vib/layout.ts";
import { segCapacity, VibOp, type VibRequest } from "../../drivers/vib/mod.ts";
import { BackRing } from "../../drivers/xen/ring.ts";
import { Hypervisor } from "../../hypervisor/hypervisor.ts";
import { SendFlags, WcStatus, WrOpcode } from "../../mod.ts";
import { connect, end } from "../xenib_support.ts";
import { backOf, checksum, ctxId, scene, verdict, VICTIM_BYTE } from "./support.ts";

/** Run `hook` right after the backend copies a request out of a ring (until `restore`). */
function afterCopy(hook: (ring: BackRing<VibRequest, unknown>, req: VibRequest) => void) {
  const orig = BackRing.prototype.takeRequest;
  BackRing.prototype.takeRequest = function (this: BackRing<VibRequest, unknown>) {
    const req = orig.call(this) as VibRequest | undefined;
    if (req) hook(this, req);
    return req;
  };
  return () => void (BackRing.prototype.takeRequest = orig);
}

/** Where REG_MR's fields sit in a slot (the op table's layout). */
const at = (name: string) => requestLayout(VibOp.REG_MR)!.fields.find((f) => f.name === name)!.off;

/** Rewrite a REG_MR slot into a two-page registration of `ref2` too. */
function twoPages(slot: DataView, ref2: number): void {
  slot.setUint32(at("length"), 8192, true);
  slot.setUint32(at("nrPages"), 2, true);
  slot.setUint16(12, 2, true); // nr_segs
  slot.setUint32(segStart(VibOp.REG_MR) + 4, ref2, true);
}

Deno.test("double fetch: a ring slot rewritten after the backend copied it changes nothing", async () => {
  const s = await scene();
  const { evil } = s;
  await s.cluster.run(async () => {
    const ctx = await evil.openDevice(undefined, { regCache: false });
    const pd = await ctx.allocPd();
    const me = ctxId(ctx);
    const buf = evil.memory.alloc(8192, 4096);
    const [r1, r2] = [0, 1].map((i) => evil.grants.grantAccessNow(0, buf / 4096 + i));
    const reg = { op: VibOp.REG_MR, ctx: me, handle: pd.handle };
    const body = { addr: buf, length: 4096, access: 1, nrPages: 1 };
    const pagesOf = (st: number | undefined, h: number) => {
      assert.equal(st, 0);
      return backOf(s, evil).contexts().get(me)!.objects.get(`mr:${h}`)!.buf.mfns.length;
    };
    // Before the copy (published that way): the backend registers two pages.
    let handle = 0;
    const before = await evil.front.requestRaw(
      { ...reg, flags: 0, body, segs: [r1] },
      (slot) => twoPages(slot, r2),
    );
    handle = Number(before!.body.mrHandle);
    assert.equal(pagesOf(before!.status, handle), 2, "the rewrite matters when it is read");
    // After the copy, before the checks run: the backend uses its copy.
    let rewritten = 0;
    const restore = afterCopy((ring, req) => {
      if (req.op !== VibOp.REG_MR || req.ctx !== me) return;
      const slot = ring.shared.slotView((ring.reqCons - 1) >>> 0);
      twoPages(slot, r2);
      slot.setUint8(4, VibOp.DEALLOC_PD); // and the op, for good measure
      rewritten++;
    });
    try {
      const after = await evil.front.requestRaw({ ...reg, flags: 0, body, segs: [r1] });
      assert.equal(rewritten, 1, "the slot was rewritten between the copy and the checks");
      handle = Number(after!.body.mrHandle);
      assert.equal(pagesOf(after!.status, handle), 1, "registered as it was when copied");
    } finally {
      restore();
    }
    await verdict(s);
  });
});

Deno.test("double fetch: an indirect page of grant refs rewritten after the backend copied it changes nothing", async () => {
  const s = await scene();
  const { evil } = s;
  await s.cluster.run(async () => {
    const ctx = await evil.openDevice(undefined, { regCache: false });
    const pd = await ctx.allocPd();
    const pages = segCapacity(VibOp.REG_MR) + 8; // too many for the slot: refs go indirect
    const buf = evil.memory.alloc(pages * 4096, 4096);
    const garbage = new Uint8Array(4096).fill(0xee); // refs 0xeeeeeeee: nothing
    // The indirect page is the first thing the backend maps read-only for a REG_MR.
    const spyMap = (when: "map" | "unmap") => {
      const origMap = Hypervisor.prototype.grantMapBatch;
      const origUnmap = BackendGrants.prototype.unmap;
      let done = false;
      Hypervisor.prototype.grantMapBatch = async function (this: Hypervisor, caller, ops) {
        const r = await origMap.call(this, caller, ops);
        if (when === "map" && !done && ops.length === 1 && ops[0].readonly) {
          done = true;
          s.xen.hw.memory.write(r[0].mfn! * 4096, garbage); // the guest rewrites it: before the copy
        }
        return r;
      };
      BackendGrants.prototype.unmap = async function (this: BackendGrants, b: MappedBuffer) {
        if (when === "unmap" && !done && b.mfns.length === 1) {
          done = true;
          s.xen.hw.memory.write(b.mfns[0] * 4096, garbage); // after the copy, before the data pages
        }
        return await origUnmap.call(this, b);
      };
      return () => {
        Hypervisor.prototype.grantMapBatch = origMap;
        BackendGrants.prototype.unmap = origUnmap;
        assert.ok(done, `the indirect page was rewritten at ${when}`);
      };
    };
    let restore = spyMap("map");
    try {
      await assert.rejects(pd.regMr(buf, pages * 4096, 1), /EINVAL/, "read before: refused");
    } finally {
      restore();
    }
    restore = spyMap("unmap");
    try {
      const mr = await pd.regMr(buf, pages * 4096, 1);
      const o = backOf(s, evil).contexts().get(ctxId(ctx))!.objects.get(`mr:${mr.handle}`)!;
      assert.equal(o.buf.mfns.length, pages, "every page of the copy mapped");
      assert.deepEqual(
        o.buf.mfns,
        Array.from({ length: pages }, (_, i) => evil.space.mfnOf(buf / 4096 + i)),
        "the guest's own pages, as the refs said when copied",
      );
    } finally {
      restore();
    }
    await verdict(s);
  });
});

Deno.test("double fetch: a split guest's WQE rewritten to the victim's key is copied and checked by the device", async () => {
  const s = await scene({ attacker: "split" });
  const { evil, victim } = s;
  await s.cluster.run(async () => {
    const a = await end(evil), peer = await end(s.bare.os);
    await connect(a, peer);
    const sq = a.qp.pqp.sq;
    a.qp.postSend({
      wrId: 1n,
      opcode: WrOpcode.RDMA_WRITE,
      sendFlags: SendFlags.SIGNALED,
      sgList: [{ addr: a.buf, length: 64, lkey: a.mr.lkey }],
      remoteAddr: peer.buf,
      rkey: peer.mr.rkey,
    });
    // Before dom0 copies it: the data segment now names the victim's buffer and lkey.
    const slot = sq.base + ((sq.head - 1) & (sq.size - 1)) * sq.stride;
    const wqe = evil.memory.read(slot, 64);
    const dv = new DataView(wqe.buffer, wqe.byteOffset);
    // mthca data segment after ctrl (16) and raddr (16): byte_count, lkey, addr (big-endian).
    dv.setUint32(36, victim.end.mr.lkey);
    dv.setUint32(40, Math.floor(victim.end.buf / 2 ** 32));
    dv.setUint32(44, victim.end.buf >>> 0);
    evil.memory.write(slot, wqe);
    const [wc] = await a.cq.pollUntil(1);
    assert.equal(wc.status, WcStatus.LOC_PROT_ERR, "the victim's key, another PD: refused");
    assert.ok(!s.bare.os.memory.read(peer.buf, 64).includes(VICTIM_BYTE), "nothing left");
    assert.equal(checksum(victim.vm), victim.sum);
    await peer.ctx.close();
    await verdict(s);
  });
});
