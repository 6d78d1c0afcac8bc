/**
 * Native RDMA WRITE latency in virtual time (deterministic, so a range
 * check is a model check, not a timing test): ib_write_lat-style ping-pong
 * of 2-byte writes between two bare-metal hosts through one switch.
 */
import assert from "node:assert/strict";
import { writeLatency } from "../tools/native_perf.ts";

Deno.test("pcix-sdr-2006: 2-byte RDMA WRITE latency is the MT23108 class (4.0–5.5 µs)", async () => {
  const r = await writeLatency("pcix-sdr-2006", { size: 2, iters: 40 });
  assert.ok(r.inline, "small writes go inline, as perftest's latency tests do");
  assert.ok(
    r.typicalUs >= 4.0 && r.typicalUs <= 5.5,
    `half round trip ${r.typicalUs.toFixed(3)} µs outside [4.0, 5.5]`,
  );
  // Virtual time: every iteration is the same exchange.
  assert.ok(Math.abs(r.averageUs - r.typicalUs) < 0.01);
});

Deno.test("the same program on modern-gen5-ndr is in the 1–2 µs class, and deterministic", async () => {
  const r1 = await writeLatency("modern-gen5-ndr", { size: 2, iters: 20 });
  const r2 = await writeLatency("modern-gen5-ndr", { size: 2, iters: 20 });
  assert.ok(r1.typicalUs >= 1.0 && r1.typicalUs <= 2.0, `${r1.typicalUs.toFixed(3)} µs`);
  assert.equal(r1.typicalUs, r2.typicalUs);
});
