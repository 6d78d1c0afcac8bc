import assert from "node:assert/strict";
import { bandwidthStats, latencyStats, type PerftestResult } from "../tools/lib/perftest_stats.ts";
import { formatResult, LAT_COLUMNS, resultToJson } from "../tools/lib/perftest_format.ts";
import { formatDevinfo, formatGuid } from "../tools/lib/devinfo_format.ts";
import { describeError } from "../tools/lib/cli.ts";
import { UsageError } from "../tools/lib/perftest_args.ts";

const base: Omit<PerftestResult, "kind" | "lat" | "bw" | "test" | "verb"> = {
  connection: "RC",
  mode: "bypass",
  profile: "pcix-sdr-2006",
  seed: 1,
  device: "xhca0",
  mtu: 2048,
  link: "4X SDR (10 Gb/s signalling, 8 Gb/s data)",
  inlineSize: 220,
  txDepth: 1,
  qps: 1,
  events: false,
  clock: "virtual",
  reportGbits: false,
  notes: [],
};

Deno.test("latency stats: perftest's median, tail drop, percentiles, rtt factor", () => {
  // 10 round trips of 9 µs, one of 11 µs, and two outliers perftest drops.
  const samples = [...Array(10).fill(9000), 11000, 50000, 60000];
  const half = latencyStats(2, samples, 2);
  assert.equal(half.iterations, 13);
  assert.equal(half.tMin, 4.5);
  assert.equal(half.tTypical, 4.5);
  assert.equal(half.tMax, 5.5); // the two largest are dropped
  assert.ok(Math.abs(half.tAvg - (10 * 4.5 + 5.5) / 11) < 1e-9);
  assert.equal(half.p99, 5.5);
  const full = latencyStats(8, samples, 1);
  assert.equal(full.tTypical, 9);
  // Even count: median is the mean of the two middle samples.
  assert.equal(latencyStats(2, [1000, 3000, 5000, 7000, 9e9, 9e9], 1).tTypical, 4);
});

Deno.test("bandwidth stats: average over the test, peak over consecutive runs", () => {
  // 4 messages of 1000 B posted at 0; completions 1 µs apart; the first comes late.
  const posted = [0, 0, 0, 0];
  const completed = [4000, 5000, 6000, 7000];
  const r = bandwidthStats(1000, posted, completed, 1);
  assert.equal(r.avgBytesPerSec, 4000 / 7e-6);
  assert.ok(Math.abs(r.msgRateMpps - 4 / 7) < 1e-9);
  // Best: i=0..3 → 7000/4 = 1750 ns per message.
  assert.ok(Math.abs(r.peakBytesPerSec - 1000 / 1.75e-6) < 1e-3);
  // With moderation 2, only completions 1 and 3 count as group ends.
  const m = bandwidthStats(1000, [0, 100, 200, 300], [1000, 1000, 3000, 3000], 2);
  assert.ok(m.peakBytesPerSec > 0 && m.peakBytesPerSec <= 1000 / 0.5e-6);
});

Deno.test("perftest format: latency and bandwidth tables with perftest's columns", () => {
  const lat = formatResult({
    ...base,
    test: "ib_write_lat",
    verb: "write",
    kind: "lat",
    lat: [latencyStats(2, [9000, 9000, 9100, 9000, 9000], 2)],
    bw: [],
  });
  assert.match(lat, /RDMA_Write Latency Test/);
  assert.match(lat, /Mode\s+: bypass/);
  assert.match(lat, /Profile\s+: pcix-sdr-2006\s+seed 1/);
  assert.match(lat, /Mtu\s+: 2048\[B\]/);
  assert.match(lat, /Link\s+: 4X SDR/);
  assert.match(lat, /Max inline data : 220\[B\]/);
  const header = lat.split("\n").find((l) => l.includes("#bytes"))!;
  assert.deepEqual(header.trim().split(/\s{2,}|\s(?=#|t_|99)/).filter(Boolean), LAT_COLUMNS);
  const row = lat.split("\n").find((l) => /^\s+2\s/.test(l))!;
  assert.deepEqual(row.trim().split(/\s+/).slice(0, 3), ["2", "5", "4.50"]);

  const bwRow = bandwidthStats(65536, [0, 0], [
    65536e9 / 1048576 / 1000,
    2 * 65536e9 / 1048576 / 1000,
  ], 1);
  const bwResult: PerftestResult = {
    ...base,
    test: "ib_write_bw",
    verb: "write",
    kind: "bw",
    lat: [],
    bw: [bwRow],
  };
  const mb = formatResult(bwResult);
  assert.match(mb, /RDMA_Write BW Test/);
  assert.match(
    mb,
    /#bytes\s+#iterations\s+BW peak\[MB\/sec\]\s+BW average\[MB\/sec\]\s+MsgRate\[Mpps\]/,
  );
  assert.match(mb, /65536\s+2\s+1000\.00\s+1000\.00/);
  const gb = formatResult({ ...bwResult, reportGbits: true });
  assert.match(gb, /BW average\[Gb\/sec\]/);
  assert.match(gb, /65536\s+2\s+8\.39\s+8\.39/); // 1000 MiB/s = 8.39 Gb/s
  const j = resultToJson(bwResult);
  assert.equal((j.results as { bwAverageMBps: number }[])[0].bwAverageMBps.toFixed(2), "1000.00");
  // Read tests show no inline line (perftest: no inline for READ).
  const read = formatResult({
    ...base,
    test: "ib_read_lat",
    verb: "read",
    kind: "lat",
    lat: [],
    bw: [],
  });
  assert.ok(!read.includes("Max inline data"));
});

Deno.test("devinfo format: ibv_devinfo fields, -v limits, port state names", () => {
  const dev = {
    name: "xhca0",
    device: {
      fwVer: "3.5.0",
      nodeGuid: "0002:c902:0000:0001",
      vendorId: 0x2c9,
      vendorPartId: 23108,
      hwVer: 0xa1,
      physPortCnt: 1,
      maxQp: 64512,
      maxQpWr: 16384,
    },
    ports: [{ state: 4, maxMtu: 4, activeMtu: 4, smLid: 1, lid: 3, lmc: 0, activeWidth: 2 }],
  };
  const t = formatDevinfo([dev], false);
  for (
    const re of [
      /^hca_id:\txhca0$/m,
      /transport:\s+InfiniBand \(0\)/,
      /fw_ver:\s+3\.5\.0/,
      /node_guid:\s+0002:c902:0000:0001/,
      /vendor_id:\s+0x02c9/,
      /vendor_part_id:\s+23108/,
      /hw_ver:\s+0xA1/,
      /phys_port_cnt:\s+1/,
      /port:\s+1/,
      /state:\s+PORT_ACTIVE \(4\)/,
      /max_mtu:\s+2048 \(4\)/,
      /active_mtu:\s+2048 \(4\)/,
      /sm_lid:\s+1/,
      /port_lid:\s+3/,
      /port_lmc:\s+0x00/,
      /link_layer:\s+InfiniBand/,
    ]
  ) assert.match(t, re);
  assert.ok(!t.includes("max_qp"));
  const v = formatDevinfo([dev], true);
  assert.match(v, /max_qp:\s+64512/);
  assert.match(v, /max_qp_wr:\s+16384/);
  assert.match(v, /active_width:\s+4X \(2\)/);
  assert.equal(formatGuid(0x0002c90200000001n), "0002:c902:0000:0001");
});

Deno.test("cli: user errors are one line, bugs keep their stack", () => {
  assert.equal(
    describeError("perftest", new UsageError("unknown flag '--x'")),
    "perftest: unknown flag '--x'",
  );
  const bug = describeError("perftest", new TypeError("x is undefined"));
  assert.match(bug, /^perftest: internal error: TypeError: x is undefined/);
});
