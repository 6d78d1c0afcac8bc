// perftest's rdma_cm paths (tools/lib/perftest_cm.ts): -z and -R give the default connection's
// data-phase figures, the header says what perftest's says, and -T reaches the ids.
import assert from "node:assert/strict";
import { parsePerftestArgs } from "../tools/lib/perftest_args.ts";
import { runPerftest } from "../tools/lib/perftest_runner.ts";
import { formatHeader, formatRow } from "../tools/lib/perftest_format.ts";
import { decodeDest, encodeDest } from "../tools/lib/perftest_cm.ts";

// Noise off: the data phase is compared sample for sample, and the connection manager's own
// traffic would otherwise shift where the seeded OS noise falls.
const run = (...argv: string[]) => runPerftest(parsePerftestArgs([...argv, "--noise", "off"]));
// Every printed field of the result rows (perftest's layout).
const rows = (r: Awaited<ReturnType<typeof run>>) =>
  [...r.lat, ...r.bw].map((row) => formatRow(r, row)).join("\n");

Deno.test("perftest -z: the same figures as the Ethernet exchange, in native, bypass and split", async () => {
  for (const mode of ["native", "bypass", "split"]) {
    for (const test of [["ib_write_lat", "-n", "200"], ["ib_send_bw", "-n", "500", "-q", "2"]]) {
      const plain = await run(...test, "--mode", mode);
      const z = await run(...test, "--mode", mode, "-z");
      assert.equal(rows(z), rows(plain), `${test.join(" ")} --mode ${mode} -z`);
      assert.match(formatHeader(z), / rdma_cm QPs\t : OFF\n Data ex\. method : rdma_cm\n/);
      assert.match(formatHeader(plain), / Data ex\. method : Ethernet\n/);
    }
  }
});

Deno.test("perftest -R: the QPs connected by rdma_cm carry the same data phase (native, bypass)", async () => {
  for (const mode of ["native", "bypass"]) {
    for (
      const test of [
        ["ib_write_lat", "-n", "200"],
        ["ib_send_lat", "-n", "200"],
        ["ib_write_bw", "-n", "500", "-q", "2"],
        ["ib_send_bw", "-n", "500", "-q", "2"],
        ["ib_read_bw", "-n", "500"],
        ["ib_atomic_bw", "-n", "500"],
      ]
    ) {
      const plain = await run(...test, "--mode", mode);
      const r = await run(...test, "--mode", mode, "-R");
      assert.equal(rows(r), rows(plain), `${test.join(" ")} --mode ${mode} -R`);
      assert.match(formatHeader(r), / rdma_cm QPs\t : ON\n Data ex\. method : rdma_cm\n/);
    }
  }
});

Deno.test("perftest -R: a latency test's first sample follows the exchange, the rest is equal", async () => {
  const plain = await run("ib_read_lat", "-n", "100");
  const r = await run("ib_read_lat", "-n", "100", "-R");
  // Only the first sample moves (7.91 → 8.01 µs): t_min, and t_avg by a hundredth of that.
  const { tMin: _a, tAvg: avgPlain, ...restPlain } = plain.lat[0];
  const { tMin: _b, tAvg: avgR, ...restR } = r.lat[0];
  assert.deepEqual(restR, restPlain);
  assert.ok(r.lat[0].tMin >= plain.lat[0].tMin);
  assert.ok(Math.abs(avgR - avgPlain) < 0.01);
});

Deno.test("perftest -R in split: runs, every connection in RTS; -T is printed as perftest does", async () => {
  const r = await run("ib_send_bw", "-n", "300", "-q", "2", "--mode", "split", "-R", "-T", "5");
  assert.equal(r.bw.length, 1);
  assert.ok(r.bw[0].avgBytesPerSec > 0);
  assert.ok(formatHeader(r).includes(" Data ex. method : rdma_cm \tTOS    : 5\n"));
});

Deno.test("perftest_cm: pingpong_dest travels as perftest's 56-byte struct", () => {
  const d = { lid: 3, outReads: 4, qpn: 0x4a, psn: 0xabcdef, rkey: 0x2000, vaddr: 0x7f0001000n };
  const b = encodeDest(d);
  assert.equal(b.length, 56);
  assert.deepEqual([b[8], b[9]], [0x4a, 0]); // little-endian int, as x86 perftest sends it
  assert.deepEqual(decodeDest(b), d);
});
