/**
 * Model fidelity through the public API (issue 12): a WQE is fetched by its
 * size, not its slot; small-MTU bandwidth falls only as per-packet costs
 * and headers dictate; the seeded noise model spreads samples, and the same
 * seed gives the same samples.
 */
import assert from "node:assert/strict";
import { linkBytesPerSec, PCIX_SDR_2006 } from "../mod.ts";
import { median, nativePair, pingPong, writeStream } from "./support/measure.ts";

Deno.test("fidelity: 2-byte inline RDMA WRITE latency does not depend on max_inline_data (16, 64, 220)", async () => {
  const lat: number[] = [];
  for (const maxInline of [16, 64, 220]) {
    const p = await nativePair({ profile: "pcix-sdr-2006", maxInline });
    lat.push(median(await pingPong(p, { op: "write", size: 2, iters: 20, inline: true })));
  }
  const [lo, hi] = [Math.min(...lat), Math.max(...lat)];
  assert.ok(hi / lo - 1 < 0.01, `half round trips ${lat.join(", ")} ns differ by more than 1 %`);
});

Deno.test("fidelity: RDMA WRITE bandwidth by MTU is the slowest per-packet stage, headers included", async () => {
  const p = PCIX_SDR_2006;
  // Per packet: the sender's DMA read and the receiver's DMA write (per transaction + per
  // byte), the send and receive engines, the wire (LRH 8 + BTH 12 + ICRC 4 + VCRC 2 bytes).
  const predict = (mtu: number) => {
    const bus = p.pci.transactionNs + (mtu * 1e9) / p.pci.bytesPerSec;
    const wire = ((mtu + 26) * 1e9) / linkBytesPerSec(p);
    return (mtu * 1e9) / Math.max(bus, wire, p.hca.txPacketNs, p.hca.rxPacketNs);
  };
  const got: Record<number, number> = {};
  for (const mtu of [256, 512, 1024, 2048]) {
    const pair = await nativePair({ profile: p.name, mtu, bufBytes: 65536 });
    got[mtu] = (await writeStream(pair, { size: 65536, iters: 48, window: 16 })).bytesPerSec;
    const want = predict(mtu);
    assert.ok(
      Math.abs(got[mtu] / want - 1) < 0.02,
      `MTU ${mtu}: ${(got[mtu] / 1e6).toFixed(1)} MB/s, the per-packet costs predict ${
        (want / 1e6).toFixed(1)
      }`,
    );
  }
  // Not proportional to the MTU: an eighth of the packet size costs well under a fifth.
  assert.ok(got[256] > 0.8 * got[2048], `256 B MTU: ${got[256]} vs ${got[2048]} B/s at 2 KiB`);
});

const latencies = async (seed: number, noise: "on" | "off") => {
  const pair = await nativePair({ profile: "pcix-sdr-2006", seed, noise, maxInline: 64 });
  return await pingPong(pair, { op: "write", size: 2, iters: 1000, inline: true });
};

const stdev = (xs: number[]) => {
  const m = xs.reduce((s, x) => s + x, 0) / xs.length;
  return Math.sqrt(xs.reduce((s, x) => s + (x - m) ** 2, 0) / xs.length);
};

Deno.test("fidelity: with noise on, 1000 RDMA WRITE latencies spread, differ by seed, repeat by seed", async () => {
  const a = await latencies(1, "on");
  const again = await latencies(1, "on");
  const b = await latencies(2, "on");
  assert.deepEqual(again, a, "the same seed gives the same samples");
  assert.notDeepEqual(b, a, "another seed gives other samples");
  assert.ok(stdev(a) > 0 && stdev(b) > 0, `stdev ${stdev(a)} / ${stdev(b)} ns`);
  assert.ok(Math.max(...a) > median(a), "a tail above the median");
  // Off: every sample the same exchange, and the noise only ever adds time.
  const off = await latencies(1, "off");
  assert.equal(stdev(off), 0);
  assert.ok(Math.min(...a) >= off[0]);
});
