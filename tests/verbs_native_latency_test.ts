/**
 * Native RDMA WRITE latency and bandwidth in virtual time (deterministic, so
 * a range check is a model check, not a timing test): the program of
 * `deno task native-perf` — an ib_write_lat-style ping-pong of 2-byte writes
 * and an ib_write_bw-style stream of 1 MiB writes — between two bare-metal
 * hosts through one switch. The program is the same for both profiles; only
 * the profile differs.
 */
import assert from "node:assert/strict";
import { writeBandwidth, writeLatency } from "../tools/native_perf.ts";

const within = (x: number, lo: number, hi: number, what: string) =>
  assert.ok(x >= lo && x <= hi, `${what} ${x.toFixed(3)} outside [${lo}, ${hi}]`);

Deno.test("pcix-sdr-2006: 2-byte RDMA WRITE latency is the MT23108 class (4.0–5.5 µs)", async () => {
  const r = await writeLatency("pcix-sdr-2006", { size: 2, iters: 40 });
  assert.ok(r.inline, "small writes go inline, as perftest's latency tests do");
  within(r.typicalUs, 4.0, 5.5, "half round trip (µs)");
  // Virtual time: every iteration is the same exchange.
  assert.ok(Math.abs(r.averageUs - r.typicalUs) < 0.01);
});

Deno.test("pcix-sdr-2006: 1 MiB RDMA WRITE bandwidth is 820–900 MB/s in either MB", async () => {
  const r = await writeBandwidth("pcix-sdr-2006", { size: 1 << 20, iters: 16 });
  within(r.perftestMbPerSec, 820, 900, "perftest MB/sec (2^20 B/s)");
  within(r.mbPerSec, 820, 900, "MB/s (10^6 B/s)");
});

Deno.test("the same program on modern-gen5-ndr: 1–2 µs, tens of GB/s, deterministic", async () => {
  const r1 = await writeLatency("modern-gen5-ndr", { size: 2, iters: 20 });
  const r2 = await writeLatency("modern-gen5-ndr", { size: 2, iters: 20 });
  within(r1.typicalUs, 1.0, 2.0, "half round trip (µs)");
  assert.equal(r1.typicalUs, r2.typicalUs);
  const bw = await writeBandwidth("modern-gen5-ndr", { size: 1 << 20, iters: 16 });
  within(bw.mbPerSec / 1000, 10, 100, "GB/s");
});
