/**
 * Two rules a remote sender or a hostile guest could otherwise abuse, held
 * the same on bare metal, in bypass guests and in split guests (DESIGN §9
 * invariant 11):
 *
 * - a UD datagram longer than the posted receive buffer is dropped and
 *   counted, and the UD QP stays usable (Linux rxe_resp.c, rdmavt);
 * - MODIFY_QP with a mask bit naming an attribute it does not carry (the
 *   address vector, the alternate path) is EINVAL before any work, never a
 *   crash answered EIO.
 */
import assert from "node:assert/strict";
import {
  type Cq,
  type Domain,
  type Host,
  type Pd,
  type Qp,
  QpAttrMask as M,
  QpState,
  QpType,
  SendFlags,
  VerbsError,
  WcStatus,
  WrOpcode,
  type XenGuest,
} from "../mod.ts";
import { VibOp } from "../drivers/vib/mod.ts";
import { ACCESS, cluster, connect, end, guest, xenOf } from "./xenib_support.ts";

const MODES = ["native", "bypass", "split"] as const;
type Mode = typeof MODES[number];

/** The domain under test (`mode`) on host 0 and a bare-metal peer on host 1. */
async function domains(
  mode: Mode,
): Promise<{ run: <T>(f: () => Promise<T>) => Promise<T>; me: Domain; peer: Domain; host: Host }> {
  const { cluster: c, hosts } = await cluster([mode !== "native", false]);
  const me = mode === "native" ? hosts[0].os : await guest(hosts[0], "vm", mode);
  return { run: (f) => c.run(f), me, peer: hosts[1].os, host: hosts[0] };
}

interface UdEnd {
  pd: Pd;
  cq: Cq;
  qp: Qp;
  buf: number;
  lkey: number;
  lid: number;
}

async function udEnd(dom: Domain): Promise<UdEnd> {
  const ctx = await dom.openDevice();
  const pd = await ctx.allocPd();
  const cq = await ctx.createCq(16);
  const buf = dom.memory.alloc(8192, 4096);
  const mr = await pd.regMr(buf, 8192, ACCESS);
  const qp = await pd.createQp({
    type: QpType.UD,
    sendCq: cq,
    recvCq: cq,
    cap: { maxSendWr: 8, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 1 },
  });
  await qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, qkey: 0x11111111 });
  await qp.modify({ state: QpState.RTR });
  await qp.modify({ state: QpState.RTS, sqPsn: 0 });
  return { pd, cq, qp, buf, lkey: mr.lkey, lid: ctx.queryPort(1).lid };
}

for (const mode of MODES) {
  Deno.test(`UD (${mode}): a datagram over the receive buffer is dropped and counted; the QP keeps receiving`, async () => {
    const { run, me, peer, host } = await domains(mode);
    await run(async () => {
      const rx = await udEnd(me), tx = await udEnd(peer);
      const ah = await tx.pd.createAh({ dlid: rx.lid, portNum: 1 });
      const send = async (n: number, fill: number) => {
        peer.memory.write(tx.buf, new Uint8Array(n).fill(fill));
        tx.qp.postSend({
          wrId: 1n,
          opcode: WrOpcode.SEND,
          sendFlags: SendFlags.SIGNALED,
          sgList: [{ addr: tx.buf, length: n, lkey: tx.lkey }],
          ah,
          remoteQpn: rx.qp.qpNum,
          remoteQkey: 0x11111111,
        });
        const [wc] = await tx.cq.pollUntil(1);
        assert.equal(wc.status, WcStatus.SUCCESS);
      };
      // Room for 40 bytes of GRH and 200 of payload.
      rx.qp.postRecv({ wrId: 7n, sgList: [{ addr: rx.buf, length: 240, lkey: rx.lkey }] });
      const drops = host.hca.stats().counters.udLengthDrops;
      await send(1000, 0xee);
      await me.engine.sleep(200_000);
      assert.deepEqual(rx.cq.poll(4), [], "no completion for the dropped datagram");
      assert.equal(host.hca.stats().counters.udLengthDrops, drops + 1);
      assert.ok(!me.memory.read(rx.buf, 240).includes(0xee), "nothing placed");
      assert.equal((await rx.qp.query()).state, QpState.RTS, "the UD QP stays usable");
      await send(200, 0x42);
      const [wc] = await rx.cq.pollUntil(1);
      assert.equal(wc.status, WcStatus.SUCCESS);
      assert.equal(wc.wrId, 7n, "the same receive WQE took the next datagram");
      assert.equal(wc.byteLen, 240);
      assert.deepEqual(me.memory.read(rx.buf + 40, 200), new Uint8Array(200).fill(0x42));
    });
  });

  Deno.test(`MODIFY_QP (${mode}): mask bits naming absent attributes are EINVAL before any work`, async () => {
    const { run, me, peer } = await domains(mode);
    await run(async () => {
      const a = await end(me), b = await end(peer);
      await a.qp.modify({ state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 });
      const rtr = {
        state: QpState.RTR,
        pathMtu: 2048,
        destQpNum: b.qp.qpNum,
        rqPsn: 0,
        maxDestRdAtomic: 1,
        minRnrTimer: 12,
      };
      const base = M.STATE | M.PATH_MTU | M.DEST_QPN | M.RQ_PSN | M.MAX_DEST_RD_ATOMIC |
        M.MIN_RNR_TIMER;
      const refused = async (attr: Record<string, unknown>, mask: number, names: RegExp) => {
        const e = await a.ctx.file.modifyQp({ qpHandle: a.qp.handle, attr, mask }).then(
          () => undefined,
          (e) => e,
        );
        assert.ok(e instanceof VerbsError, `refused: ${e}`);
        assert.equal(e.code, "EINVAL", e.message);
        // A guest's kernel gets the errno; the backend's message stays in dom0 (next test).
        if (mode === "native") assert.match(e.message, names);
      };
      await refused(rtr, base | M.AV, /names ah but no value/);
      await refused({ ...rtr, ah: { dlid: b.lid } }, base | M.AV | M.ALT_PATH, /names altPath/);
      assert.equal((await a.qp.query()).state, QpState.INIT, "nothing was done");
      // The same QP connects normally afterwards, and carries traffic.
      await a.qp.modify({ state: QpState.RESET });
      await connect(a, b);
      me.memory.write(a.buf, new Uint8Array([1, 2, 3]));
      a.qp.postSend({
        wrId: 1n,
        opcode: WrOpcode.RDMA_WRITE,
        sendFlags: SendFlags.SIGNALED,
        sgList: [{ addr: a.buf, length: 3, lkey: a.mr.lkey }],
        remoteAddr: b.buf,
        rkey: b.mr.rkey,
      });
      assert.equal((await a.cq.pollUntil(1))[0].status, WcStatus.SUCCESS);
      assert.deepEqual(peer.memory.read(b.buf, 3), new Uint8Array([1, 2, 3]));
    });
  });
}

for (const mode of MODES) {
  Deno.test(`errors (${mode}): a refused control call names the rule, as on bare metal`, async () => {
    const { run, me } = await domains(mode);
    await run(async () => {
      const ctx = await me.openDevice();
      const pd = await ctx.allocPd();
      const buf = me.memory.alloc(4096, 4096);
      const cq = await ctx.createCq(4);
      // A control call the device driver refuses (dom0's, for a guest): the errno and the reason.
      const refused = async (f: () => Promise<unknown>, code: string, re: RegExp) => {
        const e = await f().then(() => undefined, (e: unknown) => e);
        assert.ok(e instanceof VerbsError, `expected a VerbsError, got ${e}`);
        assert.equal(e.code, code);
        assert.match(e.message, re);
        assert.ok(!e.message.includes("\n"), e.message);
      };
      // ib_check_mr_access (include/rdma/ib_verbs.h): remote write needs local write.
      await refused(
        () => pd.regMr(buf, 4096, 2 /* REMOTE_WRITE alone */),
        "EINVAL",
        /REMOTE_WRITE\/REMOTE_ATOMIC require LOCAL_WRITE/,
      );
      const qp = await pd.createQp({
        type: QpType.RC,
        sendCq: cq,
        recvCq: cq,
        cap: { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1 },
      });
      await refused(() => qp.modify({ state: 14 as never }), "EINVAL", /no such QP state 14/);
      // Each message names the call and the argument (docs/api.md, Errors).
      await refused(() => pd.regMr(buf, 0, 1), "EINVAL", /reg_mr: length must be an integer/);
      await refused(() => pd.regMr(64, 4096, 1), "EFAULT", /reg_mr: buffer 0x40\+4096: /i);
      await refused(
        () => ctx.createCq(4, { compVector: 1 }),
        "EINVAL",
        /create_cq: compVector must be an integer in 0\.\.0, got 1/,
      );
      await refused(
        () => pd.createQp({ type: QpType.RC, recvCq: cq, cap: qp.cap } as never),
        "EINVAL",
        /create_qp: sendCq is missing/,
      );
      await refused(() => pd.dealloc(), "EBUSY", /still has \d+ object/);
      await ctx.close();
    });
  });
}

for (const mode of ["bypass", "split"] as const) {
  Deno.test(`MODIFY_QP (${mode}): the backend answers a raw request naming an absent AV with EINVAL, not EIO`, async () => {
    const { run, me, host } = await domains(mode);
    await run(async () => {
      const a = await end(me);
      const vm = me as XenGuest;
      const f = a.ctx.file as unknown as { inner?: { ctx: number }; ctx?: number };
      const ctx = f.inner?.ctx ?? f.ctx!;
      const r = await vm.front.requestRaw({
        op: VibOp.MODIFY_QP,
        ctx,
        handle: a.qp.handle,
        body: {
          mask: M.STATE | M.PORT | M.PKEY_INDEX | M.ACCESS_FLAGS | M.ALT_PATH,
          attr: { state: QpState.INIT, port: 1, pkeyIndex: 0, accessFlags: 0 },
        },
        segs: [],
        flags: 0,
      });
      assert.equal(r?.status, -22);
      const back = xenOf(host).backend!.instances().get(vm.domid!)!;
      assert.equal(back.refused.EIO ?? 0, 0);
      assert.match(back.lastRefusal ?? "", /names altPath but no value/);
      assert.equal(xenOf(host).hv.counters().faults, 0);
    });
  });
}
