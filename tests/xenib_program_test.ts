/**
 * Unmodified verbs programs in guests: the RDMA WRITE program of the
 * native issue (`tools/native_perf.ts`) and a program that walks through
 * the operation types give the same results on bare metal, in bypass
 * guests and in split guests — and bypass the same timing as well.
 */
import assert from "node:assert/strict";
import { type Domain, QpState, SendFlags, WrOpcode } from "../mod.ts";
import { writeBandwidth, writeLatency } from "../tools/native_perf.ts";
import { cluster, connect, end } from "./xenib_support.ts";

Deno.test("native_perf's RDMA WRITE program: bypass = native, split completes slower", async () => {
  const lat = {
    native: await writeLatency("pcix-sdr-2006", { size: 2, iters: 50 }),
    bypass: await writeLatency("pcix-sdr-2006", { size: 2, iters: 50, placement: "bypass" }),
    split: await writeLatency("pcix-sdr-2006", { size: 2, iters: 50, placement: "split" }),
  };
  assert.equal(lat.bypass.typicalUs, lat.native.typicalUs);
  assert.ok(lat.split.typicalUs > lat.native.typicalUs + 2, `split ${lat.split.typicalUs} µs`);
  const bw = {
    native: await writeBandwidth("pcix-sdr-2006", { size: 1 << 18, iters: 16 }),
    bypass: await writeBandwidth("pcix-sdr-2006", {
      size: 1 << 18,
      iters: 16,
      placement: "bypass",
    }),
    split: await writeBandwidth("pcix-sdr-2006", { size: 1 << 18, iters: 16, placement: "split" }),
  };
  assert.equal(bw.bypass.mbPerSec, bw.native.mbPerSec);
  assert.ok(
    bw.split.mbPerSec > 0.9 * bw.native.mbPerSec && bw.split.mbPerSec <= bw.native.mbPerSec,
  );
});

/** A program using every kind of operation; returns what it observed (no timing). */
async function program(a: Domain, b: Domain): Promise<unknown[]> {
  const A = await end(a), B = await end(b);
  await connect(A, B);
  const out: unknown[] = [A.ctx.queryDevice(), { ...A.ctx.queryPort(1), lid: 0, smLid: 0 }];
  const wc = async (e: typeof A, n = 1) =>
    (await e.cq.pollUntil(n)).map(({ qpNum: _q, srcQp: _s, slid: _l, ...w }) => w);
  const pattern = new Uint8Array(3000).map((_, i) => (i * 7 + 3) & 0xff);
  a.memory.write(A.buf, pattern);
  // SEND with immediate into a posted receive.
  B.qp.postRecv({ wrId: 10n, sgList: [{ addr: B.buf + 8192, length: 256, lkey: B.mr.lkey }] });
  A.qp.postSend({
    wrId: 1n,
    opcode: WrOpcode.SEND_WITH_IMM,
    immData: 0xabc,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: A.buf, length: 100, lkey: A.mr.lkey }],
  });
  out.push(await wc(A), await wc(B), b.memory.read(B.buf + 8192, 100));
  // RDMA WRITE, then READ it back into another place.
  A.qp.postSend({
    wrId: 2n,
    opcode: WrOpcode.RDMA_WRITE,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: A.buf, length: 3000, lkey: A.mr.lkey }],
    remoteAddr: B.buf + 12288,
    rkey: B.mr.rkey,
  });
  A.qp.postSend({
    wrId: 3n,
    opcode: WrOpcode.RDMA_READ,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: A.buf + 20480, length: 3000, lkey: A.mr.lkey }],
    remoteAddr: B.buf + 12288,
    rkey: B.mr.rkey,
  });
  out.push(await wc(A, 2), a.memory.read(A.buf + 20480, 3000));
  // Atomics on an 8-byte word.
  b.memory.write(B.buf + 32768, new Uint8Array(8).fill(0));
  A.qp.postSend({
    wrId: 4n,
    opcode: WrOpcode.ATOMIC_FETCH_AND_ADD,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: A.buf + 40960, length: 8, lkey: A.mr.lkey }],
    remoteAddr: B.buf + 32768,
    rkey: B.mr.rkey,
    compareAdd: 41n,
  });
  A.qp.postSend({
    wrId: 5n,
    opcode: WrOpcode.ATOMIC_CMP_AND_SWP,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: A.buf + 40968, length: 8, lkey: A.mr.lkey }],
    remoteAddr: B.buf + 32768,
    rkey: B.mr.rkey,
    compareAdd: 41n,
    swap: 7n,
  });
  out.push(await wc(A, 2), a.memory.read(A.buf + 40960, 16), b.memory.read(B.buf + 32768, 8));
  // QP numbers and initial PSNs are the placement's (random PSNs come from each domain's stream).
  const { destQpNum: _d, sqPsn, rqPsn, ...attr } = await A.qp.query();
  // PSNs as far as they went from each end's initial one: the same in every placement.
  out.push(attr, [(sqPsn! - A.qp.initialPsn) & 0xffffff, (rqPsn! - B.qp.initialPsn) & 0xffffff]);
  // A bad rkey: a remote access error, and the QP goes to the error state.
  A.qp.postSend({
    wrId: 6n,
    opcode: WrOpcode.RDMA_WRITE,
    sendFlags: SendFlags.SIGNALED,
    sgList: [{ addr: A.buf, length: 8, lkey: A.mr.lkey }],
    remoteAddr: B.buf,
    rkey: B.mr.rkey ^ 0x80,
  });
  out.push(await wc(A), (await A.qp.query()).state === QpState.ERR);
  await A.ctx.close();
  await B.ctx.close();
  return out;
}

Deno.test("one program, three placements, the same results", async () => {
  const results: Record<string, unknown[]> = {};
  for (const mode of ["native", "bypass", "split"] as const) {
    const { cluster: c, hosts } = await cluster([mode !== "native", mode !== "native"]);
    const doms = mode === "native" ? hosts.map((h) => h.os) : [
      await hosts[0].createGuest({ name: "a", memoryMiB: 64, driver: mode }),
      await hosts[1].createGuest({ name: "b", memoryMiB: 64, driver: mode }),
    ];
    results[mode] = await c.run(() => program(doms[0], doms[1]));
  }
  assert.equal(results.native.length, 14);
  assert.deepEqual(results.bypass, results.native);
  assert.deepEqual(results.split, results.native);
});
