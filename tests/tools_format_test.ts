import assert from "node:assert/strict";
import {
  bandwidthReport,
  latencyReport,
  type PerftestResult,
} from "../tools/lib/perftest_stats.ts";
import {
  addressLine,
  bwHead,
  bwRowLine,
  formatResult,
  LAT_HEAD,
  RESULT_LINE,
  resultToJson,
  titleLine,
} from "../tools/lib/perftest_format.ts";
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

Deno.test("perftest format: perftest 4.5's header, address lines and rows to the byte", () => {
  const t = [0, 9000, 18000, 27100, 36100, 45100, 54100];
  const lat = formatResult({
    ...base,
    test: "ib_write_lat",
    verb: "write",
    kind: "lat",
    lat: [latencyReport(2, t, { rttFactor: 2 })],
    bw: [],
    info: {
      bidirectional: false,
      postList: 1,
      recvPostList: 1,
      rxDepth: 0,
      useSrq: false,
      cqMod: 1,
      outReads: 1,
      eqNum: 0,
      pcieRelaxed: false,
      duration: false,
      cycles: false,
      cpuUtil: false,
      output: "full",
      local: [{ lid: 1, qpn: 0x48, psn: 0xa1b2c3, rkey: 0x4000, vaddr: 0x7f0000001000n }],
      remote: [{ lid: 3, qpn: 0x49, psn: 0, rkey: 0x5000, vaddr: 0x7f0000002000n }],
    },
  });
  const lines = lat.split("\n");
  assert.match(
    lines[0],
    /^xenib: bypass \(Xen-IB VMM-bypass guest\), profile pcix-sdr-2006, seed 1/,
  );
  assert.deepEqual(
    lines.slice(1, 23),
    [
      RESULT_LINE,
      "                    RDMA_Write Latency Test",
      " Dual-port       : OFF\t\tDevice         : xhca0",
      " Number of qps   : 1\t\tTransport type : IB",
      " Connection type : RC\t\tUsing SRQ      : OFF",
      " PCIe relax order: OFF",
      " ibv_wr* API     : OFF",
      " TX depth        : 1",
      " Mtu             : 2048[B]",
      " Link type       : IB",
      " Max inline data : 220[B]",
      " rdma_cm QPs\t : OFF",
      " Data ex. method : Ethernet",
      RESULT_LINE,
      " local address: LID 0x01 QPN 0x0048 PSN 0xa1b2c3 RKey 0x004000 VAddr 0x007f0000001000",
      " remote address: LID 0x03 QPN 0x0049 PSN 000000 RKey 0x005000 VAddr 0x007f0000002000",
      RESULT_LINE,
      LAT_HEAD,
      // Deltas 9000 ×5 and 9100: the two largest dropped, every kept one 4.50.
      " 2       7          4.50           4.50         4.50     \t       4.50        \t0.00   \t\t4.50    \t\t4.50   ",
      RESULT_LINE,
      "",
      "",
    ].slice(0, 20),
  );
  assert.equal(
    titleLine("atomic", "lat", { atomicType: "FETCH_AND_ADD" }).trim(),
    "Atomic FETCH_AND_ADD Latency Test",
  );
  assert.equal(
    titleLine("send", "bw", { bidirectional: true, postList: 4 }),
    " ".repeat(20) + "Send Bidirectional Post List BW Test",
  );
  // Read tests show outstanding reads and OUT on the address line; atomic tests no RKey.
  const read = formatResult({
    ...base,
    test: "ib_read_lat",
    verb: "read",
    kind: "lat",
    lat: [],
    bw: [],
  });
  assert.ok(!read.includes("Max inline data") && read.includes(" Outstand reads  : 1"));
  assert.equal(
    addressLine("local", "read", { lid: 2, qpn: 1, psn: 1, outReads: 4, rkey: 1, vaddr: 1n }),
    " local address: LID 0x02 QPN 0x0001 PSN 0x0001 OUT 0x04 RKey 0x000001 VAddr 0x00000000000001",
  );
  assert.equal(
    addressLine("remote", "atomic", { lid: 2, qpn: 1, psn: 1, rkey: 1, vaddr: 1n }),
    " remote address: LID 0x02 QPN 0x0001 PSN 0x0001",
  );

  // Bandwidth: CQ Moderation row, perftest's row format, JSON in both units.
  const bwRow = bandwidthReport([0, 0], [
    65536e9 / 1048576 / 1000,
    2 * 65536e9 / 1048576 / 1000,
  ], { size: 65536, iters: 2 });
  const bwResult: PerftestResult = {
    ...base,
    test: "ib_write_bw",
    verb: "write",
    kind: "bw",
    lat: [],
    bw: [bwRow],
  };
  const mb = formatResult(bwResult);
  assert.match(mb, /^ {20}RDMA_Write BW Test$/m);
  assert.ok(mb.split("\n").includes(" CQ Moderation   : 1"));
  assert.ok(mb.includes(bwHead(false)));
  assert.ok(mb.includes(" 65536      2                1000.00            1000.00\t\t   0.016000"));
  const gb = formatResult({ ...bwResult, reportGbits: true });
  assert.ok(gb.includes(" 65536      2                8.39               8.39   \t\t   0.016000"));
  const j = resultToJson(bwResult);
  assert.equal((j.results as { bwAverageMBps: number }[])[0].bwAverageMBps.toFixed(2), "1000.00");
});

Deno.test("perftest format: below 0.1 Gb/sec six decimals; above 20000 iterations no peak", () => {
  const slow = bandwidthReport([1000, 1000, 1000, 1000, 1000], [0, 0, 0, 0, 5_001_000], {
    size: 2,
    iters: 5,
    cqMod: 5,
  });
  assert.equal(
    bwRowLine(slow, true).trim().split(/\s+/).join(" "),
    "2 5 0.000016 0.000016 0.001000",
  );
  assert.equal(bwRowLine(slow, false).trim().split(/\s+/).join(" "), "2 5 0.00 0.00 0.001000");
  const noPeak = bandwidthReport([0], [1_000_000], { size: 1024, iters: 20001, noPeak: true });
  assert.equal(noPeak.peakBytesPerSec, 0);
  assert.ok(bwRowLine(noPeak, false).startsWith(" 1024       20001            0.00 "));
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
