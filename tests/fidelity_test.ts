/**
 * Model fidelity through the public API (issue 12): a WQE is fetched by its
 * size, not its slot; small-MTU bandwidth falls only as per-packet costs
 * and headers dictate; the seeded noise model spreads samples, and the same
 * seed gives the same samples.
 */
import assert from "node:assert/strict";
import { linkBytesPerSec, PCIX_SDR_2006 } from "../mod.ts";
import { pointRequest } from "../tools/lib/metrics.ts";
import { measurePerftestPoint } from "../tools/lib/perftest_runner.ts";

/** One native perftest point through the tools' measurement core. */
const point = (args: string[], seed = 1, noise: "on" | "off" = "off") =>
  measurePerftestPoint(pointRequest(args, "native", { profile: PCIX_SDR_2006, seed, noise }));

/** Half round trips (ns) of a latency point: perftest's deltas of its post times, halved. */
const halves = (t: number[]) => t.slice(1).map((x, i) => (x - t[i]) / 2);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

Deno.test("fidelity: 2-byte inline RDMA WRITE latency does not depend on max_inline_data (16, 64, 220)", async () => {
  const lat: number[] = [];
  for (const maxInline of [16, 64, 220]) {
    // ib_write_lat -I: the QP's max_inline_data, and so its send-queue slot.
    const p = await point(["ib_write_lat", "-s", "2", "-I", String(maxInline), "-n", "20"]);
    assert.equal(p.method.inline, true);
    lat.push(p.result.lat[0].tTypical);
  }
  const [lo, hi] = [Math.min(...lat), Math.max(...lat)];
  assert.ok(hi / lo - 1 < 0.01, `half round trips ${lat.join(", ")} µs differ by more than 1 %`);
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
    const r = await point([
      "ib_write_bw",
      "-s",
      "65536",
      "-n",
      "48",
      "-t",
      "16",
      "-m",
      String(mtu),
    ]);
    assert.equal(r.result.mtu, mtu);
    got[mtu] = r.result.bw[0].avgBytesPerSec;
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

const latencies = async (seed: number, noise: "on" | "off") =>
  halves((await point(["ib_write_lat", "-s", "2", "-n", "1000"], seed, noise)).tposted);

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
