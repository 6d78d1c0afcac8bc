/**
 * Every limit `queryDevice()` advertises is the one enforced, in every mode: a request at the
 * limit is taken, one past it is EINVAL (Linux mthca: mthca_set_qp_size, mthca_create_cq,
 * mthca_alloc_srq and __mthca_modify_qp check the same `dev->limits` that mthca_query_device
 * reports). A guest gets quotas large enough that the device's limit, not dom0's, is what
 * refuses, and every partition of a full P_Key table (dom0 gives a guest only its own).
 */
import assert from "node:assert/strict";
import { Cluster, connectPair, type Domain, QpType } from "../../mod.ts";
import { type Mode, MODES, rejects } from "./helpers.ts";

/** 63 partitions after 0xffff: the MT23108's 64-entry P_Key table full. */
const PKEYS = Array.from({ length: 63 }, (_, i) => 0x8001 + i);

async function oneDomain(mode: Mode): Promise<{ cluster: Cluster; dom: Domain }> {
  const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 5 });
  const host = cluster.addHost({ name: "h", hypervisor: mode !== "native", pkeys: PKEYS });
  await cluster.start();
  const dom = mode === "native" ? host.os : await host.createGuest({
    name: "vm",
    driver: mode as "bypass" | "split",
    memoryMiB: 256,
    quota: { shadowBytes: 1 << 30, wqes: 1 << 20, cqes: 1 << 20 },
    pkeys: [0xffff, ...PKEYS],
  });
  return { cluster, dom };
}

for (const mode of MODES) {
  Deno.test(`device limits (${mode}): each advertised limit taken, one past it EINVAL`, async () => {
    const { cluster, dom } = await oneDomain(mode);
    await cluster.run(async () => {
      const ctx = await dom.openDevice();
      const d = ctx.queryDevice();
      const pd = await ctx.allocPd();
      const cq = await ctx.createCq(16);
      const base = { maxSendWr: 1, maxRecvWr: 1, maxSendSge: 1, maxRecvSge: 1, maxInlineData: 0 };
      const caps = [
        ["maxSendWr", d.maxQpWr],
        ["maxRecvWr", d.maxQpWr],
        ["maxSendSge", d.maxSge],
        ["maxRecvSge", d.maxSge],
        ["maxInlineData", d.maxInlineData],
      ] as const;
      for (const type of [QpType.RC, QpType.UC, QpType.UD]) {
        for (const [k, max] of caps) {
          const qp = await pd.createQp({
            type,
            sendCq: cq,
            recvCq: cq,
            cap: { ...base, [k]: max },
          });
          assert.ok(qp.cap[k]! >= max, `${k} ${max} granted`);
          await qp.destroy();
          const cap = { ...base, [k]: max + 1 };
          const msg = await rejects(
            () => pd.createQp({ type, sendCq: cq, recvCq: cq, cap }),
            "EINVAL",
          );
          assert.match(msg, new RegExp(`${k} ${max + 1}`));
        }
      }
      // The kernel's own check of the rings the library laid out (qpLayout: each rounded up to a
      // power of two, so 2^14 entries at the limit): a send or receive queue of 2^15 entries in a
      // buffer that holds it is EINVAL naming max_qp_wr at creation, as mthca_set_qp_size answers,
      // not a QP the device refuses at RST2INIT (EXCEED_LIM, ENOMEM) nor dom0's quotas.
      const qpRing = 2 ** Math.ceil(Math.log2(d.maxQpWr));
      const oversized = [["send", 2 * qpRing, 1], ["receive", 1, 2 * qpRing]] as const;
      for (const [what, sqSize, rqSize] of oversized) {
        const rqBytes = rqSize * 16, bytes = rqBytes + sqSize * 64;
        const why = await rejects(
          () =>
            ctx.file.createQp({
              pdHandle: pd.handle,
              type: QpType.RC,
              sendCqHandle: cq.handle,
              recvCqHandle: cq.handle,
              sqSigAll: false,
              cap: base,
              wq: {
                bufAddr: dom.memory.alloc(bytes, 4096),
                bufBytes: bytes,
                rqOffset: 0,
                rqSize,
                rqStride: 16,
                sqOffset: rqBytes,
                sqSize,
                sqStride: 64,
              },
            }),
          "EINVAL",
        );
        const at = `max_qp_wr ${d.maxQpWr} \\(at most ${qpRing}\\)$`;
        assert.match(why, new RegExp(`a ${what} queue of ${2 * qpRing} entries above ${at}`));
      }
      // max_cqe (2^17 - 1, the ring's spare entry taken off).
      const big = await ctx.createCq(d.maxCqe);
      assert.equal(big.cqe, d.maxCqe);
      await big.destroy();
      await rejects(() => ctx.createCq(d.maxCqe + 1), "EINVAL");
      // The kernel's own check, under the library's: a ring of twice the limit (2^18 entries) in a
      // buffer that holds it is EINVAL naming max_cqe, as mthca_create_cq answers, not the
      // device's EXCEED_LIM (ENOMEM) nor, for a guest, dom0's quotas.
      const log = Math.log2(d.maxCqe + 1) + 1, bytes = 2 ** log * 32;
      const msg = await rejects(
        () =>
          ctx.file.createCq({
            cqe: 1,
            logSize: log,
            bufAddr: dom.memory.alloc(bytes, 4096),
            bufBytes: bytes,
            compVector: 0,
          }),
        "EINVAL",
      );
      assert.match(msg, new RegExp(`create_cq: 2\\^${log} entries above max_cqe ${d.maxCqe}`));
      // Resizing to such a ring likewise.
      const resize = () =>
        ctx.file.resizeCq({
          cqHandle: cq.handle,
          cqe: 1,
          logSize: log,
          bufAddr: dom.memory.alloc(bytes, 4096),
          bufBytes: bytes,
          consumerIndex: 0,
        });
      const why = await rejects(resize, "EINVAL");
      assert.match(why, new RegExp(`resize_cq: 2\\^${log} entries above max_cqe ${d.maxCqe}`));
      // max_srq_wr and max_srq_sge.
      await (await pd.createSrq({ maxWr: d.maxSrqWr, maxSge: d.maxSrqSge })).destroy();
      await rejects(() => pd.createSrq({ maxWr: d.maxSrqWr + 1, maxSge: 1 }), "EINVAL");
      await rejects(() => pd.createSrq({ maxWr: 1, maxSge: d.maxSrqSge + 1 }), "EINVAL");
      // The kernel's own check of the ring the library laid out (srqLayout: maxWr rounded up to a
      // power of two, no spare entry, so 2^14 entries at the limit): rings of 2^15 and 2^16
      // entries in buffers that hold them are EINVAL naming max_srq_wr, as mthca_alloc_srq
      // answers, not accepted (2^15) nor the device's EXCEED_LIM (ENOMEM) nor dom0's quotas.
      const srqLog = Math.ceil(Math.log2(d.maxSrqWr));
      for (const log of [srqLog + 1, srqLog + 2]) {
        const bytes = 2 ** log * 16;
        const why = await rejects(
          () =>
            ctx.file.createSrq({
              pdHandle: pd.handle,
              maxWr: 1,
              maxSge: 1,
              srqLimit: 0,
              bufAddr: dom.memory.alloc(bytes, 4096),
              bufBytes: bytes,
              logSize: log,
              logStride: 4,
            }),
          "EINVAL",
        );
        const at = `max_srq_wr ${d.maxSrqWr} \\(at most ${2 ** srqLog}\\)$`;
        assert.match(why, new RegExp(`create_srq: 2\\^${log} entries above ${at}`));
      }
      // max_qp_init_rd_atom bounds max_rd_atomic, max_qp_rd_atom bounds max_dest_rd_atomic.
      const lid = ctx.queryPort(1).lid;
      for (
        const [k, max] of [
          ["maxRdAtomic", d.maxQpInitRdAtom],
          ["maxDestRdAtomic", d.maxQpRdAtom],
        ] as const
      ) {
        for (const [v, ok] of [[max, true], [max + 1, false]] as const) {
          const qp = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap: base });
          const connect = () => connectPair({ qp, lid }, { qp, lid }, { [k]: v });
          if (ok) {
            await connect();
            assert.equal((await qp.query())[k], v);
          } else {
            assert.match(await rejects(connect, "EINVAL"), new RegExp(`${k}`));
          }
          await qp.destroy();
        }
      }
      // The P_Key table (covered per transition in verbs_rules_test): its last index is taken.
      const qp = await pd.createQp({ type: QpType.RC, sendCq: cq, recvCq: cq, cap: base });
      await qp.modify({ state: 1, port: 1, pkeyIndex: d.maxPkeys - 1, accessFlags: 0 });
      assert.equal((await qp.query()).pkeyIndex, d.maxPkeys - 1);
    });
  });
}
