/**
 * What created resources are granted, and that the grant is what the queues
 * really take, in every mode. ibv_create_qp(3): "The function ibv_create_qp()
 * will update the qp_init_attr->cap struct with the actual QP values of the QP
 * that was created; the values will be greater than or equal to the values
 * requested." The model's HCA is an MT23108 (Tavor, not mem-free), so Linux
 * mthca's Tavor rules apply: work requests exactly as asked (mthca_set_qp_size
 * rounds them only on mem-free HCAs), scatter/gather entries and inline bytes
 * as many as the WQE stride holds (mthca_adjust_qp_caps); query_qp reports the
 * same caps. ibv_create_cq(3): "the CQ will have at least this many entries"
 * (mthca: a power of two minus one, the spare entry telling full from empty);
 * SRQs get what was asked on Tavor (mthca_alloc_srq: `srq->max = max_wr + 1`,
 * `attr->max_wr = srq->max - 1`).
 */
import assert from "node:assert/strict";
import { QpType, SendFlags, VerbsError, WcStatus, WrOpcode } from "../../mod.ts";
import {
  CONNECT,
  MODES,
  pair,
  pattern,
  rejects,
  type Side,
  side,
  twoDomains,
  waitBytes,
} from "./helpers.ts";
import { connectPair } from "../../mod.ts";

const TYPES = [QpType.RC, QpType.UC, QpType.UD] as const;

/** Requests of every shape: zero queues, uneven counts, inline data that widens the WQE. */
const CAPS = [
  { maxSendWr: 10, maxRecvWr: 10, maxSendSge: 1, maxRecvSge: 1 },
  { maxSendWr: 0, maxRecvWr: 0, maxSendSge: 0, maxRecvSge: 0 },
  { maxSendWr: 100, maxRecvWr: 3, maxSendSge: 3, maxRecvSge: 3, maxInlineData: 64 },
  { maxSendWr: 1, maxRecvWr: 17, maxSendSge: 30, maxRecvSge: 30, maxInlineData: 400 },
];

for (const mode of MODES) {
  Deno.test(`resource sizes (${mode}): create_qp grants Tavor's caps; query_qp reports them`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const dev = x.ctx.queryDevice();
      const seen: string[] = [];
      for (const type of TYPES) {
        for (const ask of CAPS) {
          const qp = await x.pd.createQp({ type, sendCq: x.cq, recvCq: x.cq, cap: ask });
          const got = qp.cap;
          // Work requests: exactly what was asked, zero included (Tavor: no rounding).
          assert.equal(got.maxSendWr, ask.maxSendWr, `type ${type} maxSendWr`);
          assert.equal(got.maxRecvWr, ask.maxRecvWr, `type ${type} maxRecvWr`);
          // Entries and inline bytes: at least what was asked, at most the device's maxima.
          assert.ok(got.maxSendSge >= ask.maxSendSge && got.maxSendSge <= dev.maxSge);
          assert.ok(got.maxRecvSge >= ask.maxRecvSge && got.maxRecvSge <= dev.maxSge);
          const inline = got.maxInlineData!;
          assert.ok(inline >= (ask.maxInlineData ?? 0) && inline <= dev.maxInlineData);
          assert.deepEqual((await qp.query()).cap, got, "query_qp reports what was granted");
          // Asking for what was granted is granted the same.
          const again = await x.pd.createQp({ type, sendCq: x.cq, recvCq: x.cq, cap: got });
          assert.deepEqual(again.cap, got);
          seen.push(JSON.stringify([type, got]));
          await again.destroy();
          await qp.destroy();
        }
      }
      // The WQE stride's room, by type: an RC WQE reserves the remote-address and atomic
      // segments (48 bytes of 64), UC the remote address (32), UD its 48-byte address vector.
      const first = (type: number) => JSON.parse(seen[TYPES.indexOf(type as 2) * CAPS.length])[1];
      assert.deepEqual(first(QpType.RC), {
        maxSendWr: 10,
        maxRecvWr: 10,
        maxSendSge: 1,
        maxRecvSge: 1,
        maxInlineData: 12,
      });
      assert.deepEqual(first(QpType.UC).maxSendSge, 2);
      assert.deepEqual(first(QpType.UC).maxInlineData, 28);
      assert.deepEqual(first(QpType.UD).maxSendSge, 4, "a 128-byte UD WQE: 64 bytes of data");
      // A QP on an SRQ has no receive queue: nothing granted there.
      const srq = await x.pd.createSrq({ maxWr: 5, maxSge: 2 });
      const onSrq = await x.pd.createQp({
        type: QpType.RC,
        sendCq: x.cq,
        recvCq: x.cq,
        srq,
        cap: { maxSendWr: 3, maxRecvWr: 8, maxSendSge: 1, maxRecvSge: 4 },
      });
      assert.deepEqual([onSrq.cap.maxRecvWr, onSrq.cap.maxRecvSge], [0, 0]);
      assert.deepEqual((await onSrq.query()).cap, onSrq.cap);
    });
  });

  Deno.test(`resource sizes (${mode}): the queues take exactly what was granted`, async () => {
    const { cluster, a, b } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a), y = await side(b, 256);
      // Asked: 5 sends, 6 receives, 1 entry each, no inline data. Granted on Tavor: 5 and 6
      // (the model's rings have 8 slots, which the library does not hand out), and as many
      // entries and inline bytes as the WQEs hold.
      const cap = { maxSendWr: 5, maxRecvWr: 6, maxSendSge: 1, maxRecvSge: 1 };
      const [qx, qy] = await pair(x, y, QpType.UC, cap);
      assert.deepEqual(qx.cap, {
        maxSendWr: 5,
        maxRecvWr: 6,
        maxSendSge: 2,
        maxRecvSge: 1,
        maxInlineData: 28,
      });
      const sge = (s: Side, off: number, length: number) => ({
        addr: s.buf + off,
        length,
        lkey: s.mr.lkey,
      });
      // Receives: 6 are taken, the 7th is ENOMEM (libmthca's wq_overflow on the granted max).
      for (let i = 0; i < 6; i++) qy.postRecv({ wrId: BigInt(i), sgList: [sge(y, 4096 * i, 64)] });
      const full = await rejects(
        () => qy.postRecv({ wrId: 6n, sgList: [sge(y, 0, 64)] }),
        "ENOMEM",
      );
      assert.match(full, /receive queue full \(6 WQEs outstanding\)/);
      // Sends: a gather list of max_send_sge (2) entries, and inline data of max_inline_data
      // (28) bytes, both land; one more of either is EINVAL.
      a.memory.write(x.buf, pattern(64, 5));
      const send = (wrId: bigint, sgList: ReturnType<typeof sge>[], flags = 0) =>
        qx.postSend({
          wrId,
          opcode: WrOpcode.SEND,
          sendFlags: SendFlags.SIGNALED | flags,
          sgList,
        });
      send(1n, [sge(x, 0, 10), sge(x, 10, 20)]);
      send(2n, [sge(x, 0, 28)], SendFlags.INLINE);
      await rejects(() => send(9n, [sge(x, 0, 1), sge(x, 1, 1), sge(x, 2, 1)]), "EINVAL");
      await rejects(() => send(9n, [sge(x, 0, 29)], SendFlags.INLINE), "EINVAL");
      const wcs = await y.cq.pollUntil(2);
      assert.deepEqual(wcs.map((w) => [w.status, w.byteLen]), [[WcStatus.SUCCESS, 30], [
        WcStatus.SUCCESS,
        28,
      ]]);
      await waitBytes(b, y.buf, pattern(64, 5).subarray(0, 30));
      await waitBytes(b, y.buf + 4096, pattern(64, 5).subarray(0, 28));
      assert.equal((await x.cq.pollUntil(2)).length, 2);
      // Five sends outstanding are taken, the sixth is ENOMEM, though the ring has 8 slots.
      const burst = Array.from({ length: 6 }, (_, i) => ({
        wrId: BigInt(10 + i),
        opcode: WrOpcode.RDMA_WRITE,
        sgList: [sge(x, 0, 8)],
        remoteAddr: y.buf,
        rkey: y.mr.rkey,
      }));
      let err: unknown;
      try {
        qx.postSend(burst);
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof VerbsError && err.code === "ENOMEM", String(err));
      assert.equal(err.badWr, 5, "the sixth WR is the one refused");
      assert.match(err.message, /send queue full \(5 WQEs outstanding\)/);
      // A QP with no send queue takes no send at all.
      const rxOnly = await x.pd.createQp({
        type: QpType.UC,
        sendCq: x.cq,
        recvCq: x.cq,
        cap: { maxSendWr: 0, maxRecvWr: 1, maxSendSge: 0, maxRecvSge: 1 },
      });
      const peer = await y.pd.createQp({ type: QpType.UC, sendCq: y.cq, recvCq: y.cq, cap });
      await connectPair({ qp: rxOnly, lid: x.lid }, { qp: peer, lid: y.lid }, CONNECT);
      await rejects(() => rxOnly.postSend({ ...burst[0], wrId: 99n }), "ENOMEM");
    });
  });

  Deno.test(`resource sizes (${mode}): CQs get a power of two less one; SRQs what was asked`, async () => {
    const { cluster, a } = await twoDomains(mode);
    await cluster.run(async () => {
      const x = await side(a);
      const max = x.ctx.queryDevice().maxCqe;
      // mthca_create_cq / libmthca align_cq_size: the smallest power of two above cqe, less the
      // spare entry.
      for (const [ask, got] of [[1, 1], [2, 3], [3, 3], [4, 7], [100, 127], [255, 255]]) {
        const cq = await x.ctx.createCq(ask);
        assert.equal(cq.cqe, got, `create_cq(${ask})`);
        await cq.destroy();
      }
      // max_cqe is 2^17 - 1: granted exactly. (A split guest's CQ is shadowed in dom0's heap:
      // its default shadowBytes quota holds a 4 MiB ring no more than a 64 KiB one.)
      const big = await x.ctx.createCq(mode === "split" ? 2047 : max);
      assert.equal(big.cqe, mode === "split" ? 2047 : max);
      await big.resize(300);
      assert.equal(big.cqe, 511, "resize_cq: at least 300 entries, 2^9 - 1");
      await big.destroy();
      // Tavor's SRQ: max_wr as asked (not rounded), max_sge as asked; query_srq says the same.
      const srq = await x.pd.createSrq({ maxWr: 5, maxSge: 3 });
      assert.deepEqual(await srq.query(), { maxWr: 5, maxSge: 3, srqLimit: 0 });
      const recv = (i: number) => ({
        wrId: BigInt(i),
        sgList: [{ addr: x.buf, length: 8, lkey: x.mr.lkey }],
      });
      for (let i = 0; i < 5; i++) srq.postRecv(recv(i));
      await rejects(() => srq.postRecv(recv(5)), "ENOMEM");
      // mthca_alloc_srq checks only the maxima: an SRQ of no WQEs is granted, and takes none.
      const none = await x.pd.createSrq({ maxWr: 0, maxSge: 0 });
      assert.deepEqual(await none.query(), { maxWr: 0, maxSge: 0, srqLimit: 0 });
      await rejects(() => none.postRecv({ wrId: 1n, sgList: [] }), "ENOMEM");
      await rejects(() => x.pd.createSrq({ maxWr: -1, maxSge: 1 }), "EINVAL");
    });
  });
}
