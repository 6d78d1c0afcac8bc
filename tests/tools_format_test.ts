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
import { parseDevinfoArgs } from "../tools/lib/devinfo_args.ts";
import { realInfos } from "../tools/ibv_devinfo.ts";
import type { Context } from "../mod.ts";
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

// rdma-core libibverbs/examples/devinfo.c (print_hca_cap, main): every line ibv_devinfo -v
// prints, in its order, with its labels, tabs and printf formats, for a 2-port mlx4-like
// device whose second port alone is shown (-i 2).
Deno.test("devinfo format: -v prints devinfo.c's lines in its order and formats", () => {
  const gid = new Uint8Array(16);
  gid.set([0xfe, 0x80], 0);
  gid.set([0x00, 0x02, 0xc9, 0x03, 0x00, 0x12, 0x34, 0x56], 8);
  const dev = {
    name: "mlx4_0",
    device: {
      fwVer: "2.33.5100",
      nodeGuid: 0x0002c90300123456n,
      sysImageGuid: 0x0002c90300123459n,
      vendorId: 0x2c9,
      vendorPartId: 4099,
      hwVer: 0,
      physPortCnt: 2,
      maxMrSize: 0xffffffffffffffffn,
      pageSizeCap: 0xfffffe00,
      maxQp: 131000,
      maxQpWr: 16351,
      deviceCapFlags: 0x057e9c66,
      maxSge: 32,
      maxSgeRd: 30,
      maxCq: 65408,
      maxCqe: 4194303,
      maxMr: 524032,
      maxPd: 32764,
      maxQpRdAtom: 16,
      maxResRdAtom: 2096000,
      maxQpInitRdAtom: 128,
      atomicCap: 1,
      maxMcastGrp: 8192,
      maxMcastQpAttach: 248,
      maxTotalMcastQpAttach: 2031616,
      maxAh: 2147483647,
      maxSrq: 65472,
      maxSrqWr: 16383,
      maxSrqSge: 31,
      maxPkeys: 128,
      localCaAckDelay: 15,
      maxInlineData: 400, // not an ibv_device_attr field: ibv_devinfo has no line for it
    },
    ports: [{
      state: 1,
      maxMtu: 5,
      activeMtu: 0,
      smLid: 0,
      lid: 0,
      lmc: 0,
      linkLayer: 1,
      maxMsgSz: 0x40000000,
      portCapFlags: 0x02514868,
      maxVlNum: 4,
      badPkeyCntr: 0,
      qkeyViolCntr: 0,
      smSl: 0,
      pkeyTblLen: 128,
      gidTblLen: 2,
      subnetTimeout: 0,
      initTypeReply: 0,
      activeWidth: 1,
      activeSpeed: 1,
      physState: 4,
    }],
    portNums: [2],
    gids: [[gid, new Uint8Array(16)]],
    numCompVectors: 32,
  };
  assert.equal(
    formatDevinfo([dev], true),
    [
      "hca_id:\tmlx4_0",
      "\ttransport:\t\t\tInfiniBand (0)",
      "\tfw_ver:\t\t\t\t2.33.5100",
      "\tnode_guid:\t\t\t0002:c903:0012:3456",
      "\tsys_image_guid:\t\t\t0002:c903:0012:3459",
      "\tvendor_id:\t\t\t0x02c9",
      "\tvendor_part_id:\t\t\t4099",
      "\thw_ver:\t\t\t\t0x0",
      "\tphys_port_cnt:\t\t\t2",
      "\tmax_mr_size:\t\t\t0xffffffffffffffff",
      "\tpage_size_cap:\t\t\t0xfffffe00",
      "\tmax_qp:\t\t\t\t131000",
      "\tmax_qp_wr:\t\t\t16351",
      "\tdevice_cap_flags:\t\t0x057e9c66",
      "\t\t\t\t\tBAD_PKEY_CNTR",
      "\t\t\t\t\tBAD_QKEY_CNTR",
      "\t\t\t\t\tCHANGE_PHY_PORT",
      "\t\t\t\t\tUD_AV_PORT_ENFORCE",
      "\t\t\t\t\tPORT_ACTIVE_EVENT",
      "\t\t\t\t\tSYS_IMAGE_GUID",
      "\t\t\t\t\tRC_RNR_NAK_GEN",
      "\t\t\t\t\tMEM_WINDOW",
      "\t\t\t\t\tUD_IP_CSUM",
      "\t\t\t\t\tXRC",
      "\t\t\t\t\tMEM_MGT_EXTENSIONS",
      "\t\t\t\t\tMEM_WINDOW_TYPE_2B",
      "\t\t\t\t\tRAW_IP_CSUM",
      "\t\t\t\t\tUnknown flags: 0x488000",
      "\tmax_sge:\t\t\t32",
      "\tmax_sge_rd:\t\t\t30",
      "\tmax_cq:\t\t\t\t65408",
      "\tmax_cqe:\t\t\t4194303",
      "\tmax_mr:\t\t\t\t524032",
      "\tmax_pd:\t\t\t\t32764",
      "\tmax_qp_rd_atom:\t\t\t16",
      "\tmax_ee_rd_atom:\t\t\t0",
      "\tmax_res_rd_atom:\t\t2096000",
      "\tmax_qp_init_rd_atom:\t\t128",
      "\tmax_ee_init_rd_atom:\t\t0",
      "\tatomic_cap:\t\t\tATOMIC_HCA (1)",
      "\tmax_ee:\t\t\t\t0",
      "\tmax_rdd:\t\t\t0",
      "\tmax_mw:\t\t\t\t0",
      "\tmax_raw_ipv6_qp:\t\t0",
      "\tmax_raw_ethy_qp:\t\t0",
      "\tmax_mcast_grp:\t\t\t8192",
      "\tmax_mcast_qp_attach:\t\t248",
      "\tmax_total_mcast_qp_attach:\t2031616",
      "\tmax_ah:\t\t\t\t2147483647",
      "\tmax_fmr:\t\t\t0",
      "\tmax_srq:\t\t\t65472",
      "\tmax_srq_wr:\t\t\t16383",
      "\tmax_srq_sge:\t\t\t31",
      "\tmax_pkeys:\t\t\t128",
      "\tlocal_ca_ack_delay:\t\t15",
      "\tgeneral_odp_caps:",
      "\trc_odp_caps:",
      "\t\t\t\t\tNO SUPPORT",
      "\tuc_odp_caps:",
      "\t\t\t\t\tNO SUPPORT",
      "\tud_odp_caps:",
      "\t\t\t\t\tNO SUPPORT",
      "\txrc_odp_caps:",
      "\t\t\t\t\tNO SUPPORT",
      "\tcompletion_timestamp_mask not supported",
      "\tcore clock not supported",
      "\tdevice_cap_flags_ex:\t\t0x57E9C66",
      "\ttso_caps:",
      "\t\tmax_tso:\t\t\t0",
      "\trss_caps:",
      "\t\tmax_rwq_indirection_tables:\t\t\t0",
      "\t\tmax_rwq_indirection_table_size:\t\t\t0",
      "\t\trx_hash_function:\t\t\t\t0x0",
      "\t\trx_hash_fields_mask:\t\t\t\t0x0",
      "\tmax_wq_type_rq:\t\t\t0",
      "\tpacket_pacing_caps:",
      "\t\tqp_rate_limit_min:\t0kbps",
      "\t\tqp_rate_limit_max:\t0kbps",
      "\ttag matching not supported",
      "\tnum_comp_vectors:\t\t32",
      "\t\tport:\t2",
      "\t\t\tstate:\t\t\tPORT_DOWN (1)",
      "\t\t\tmax_mtu:\t\t4096 (5)",
      "\t\t\tactive_mtu:\t\tinvalid MTU (0)",
      "\t\t\tsm_lid:\t\t\t0",
      "\t\t\tport_lid:\t\t0",
      "\t\t\tport_lmc:\t\t0x00",
      "\t\t\tlink_layer:\t\tInfiniBand",
      "\t\t\tmax_msg_sz:\t\t0x40000000",
      "\t\t\tport_cap_flags:\t\t0x02514868",
      "\t\t\tport_cap_flags2:\t0x0000",
      "\t\t\tmax_vl_num:\t\t8 (4)",
      "\t\t\tbad_pkey_cntr:\t\t0x0",
      "\t\t\tqkey_viol_cntr:\t\t0x0",
      "\t\t\tsm_sl:\t\t\t0",
      "\t\t\tpkey_tbl_len:\t\t128",
      "\t\t\tgid_tbl_len:\t\t2",
      "\t\t\tsubnet_timeout:\t\t0",
      "\t\t\tinit_type_reply:\t0",
      "\t\t\tactive_width:\t\t1X (1)",
      "\t\t\tactive_speed:\t\t2.5 Gbps (1)",
      "\t\t\tphys_state:\t\tPORT_CONFIGURATION TRAINNING (4)",
      "\t\t\tGID[  0]:\t\tfe80:0000:0000:0000:0002:c903:0012:3456", // the null GID 1 is skipped
      "",
      "",
    ].join("\n"),
  );
  // Values devinfo.c has no name for print as its "invalid …" text, with the number.
  const odd = formatDevinfo([{
    name: "x",
    device: { transport: 9, fwVer: "" },
    ports: [{ state: 5, maxMtu: 7, activeMtu: 4, linkLayer: 2 }],
  }], false).split("\n");
  assert.equal(odd[1], "\ttransport:\t\t\tinvalid transport (9)");
  assert.ok(!odd.some((l) => l.includes("fw_ver")), "an empty fw_ver is not printed");
  assert.ok(odd.includes("\t\t\tstate:\t\t\tinvalid state (5)"));
  assert.ok(odd.includes("\t\t\tmax_mtu:\t\tinvalid MTU (7)"));
  assert.ok(odd.includes("\t\t\tlink_layer:\t\tEthernet"));
});

// rdma-core 44 libibverbs/examples/devinfo.c print_hca_cap: max_mr_size is the u64 printed with
// "0x%llx" (~0ull, what mthca_query_device and mlx5 report, is 0xffffffffffffffff even after a
// JS number rounded it to 2**64); active_speed is the uint8_t ibv_port_attr.active_speed through
// speed_str (1 … 128, no 200 Gbps name, no active_speed_ex in v44's verbs.h); phys_state is
// printed only for a device of the IB transport.
Deno.test("devinfo format: u64 max_mr_size, v44's active_speed, phys_state for IB only", () => {
  const port = { state: 4, physState: 5, activeSpeed: 0, activeSpeedEx: 256 };
  const lines = (transport: number, maxMrSize: unknown) =>
    formatDevinfo([{ name: "x", device: { transport, maxMrSize }, ports: [port] }], true)
      .split("\n");
  const ib = lines(0, 2 ** 64); // Number(0xffffffffffffffffn), as decodeDeviceAttr reads it
  assert.ok(ib.includes("\tmax_mr_size:\t\t\t0xffffffffffffffff"), ib.join("\n"));
  assert.ok(lines(0, 0xffffffffffffffffn).includes("\tmax_mr_size:\t\t\t0xffffffffffffffff"));
  assert.ok(lines(0, 2 ** 32).includes("\tmax_mr_size:\t\t\t0x100000000"));
  assert.ok(ib.includes("\t\t\tactive_speed:\t\tinvalid speed (0)"));
  assert.ok(ib.includes("\t\t\tphys_state:\t\tLINK_UP (5)"));
  const iwarp = lines(1, 0);
  assert.ok(!iwarp.some((l) => l.includes("phys_state")), iwarp.join("\n"));
  assert.ok(iwarp.includes("\t\t\tactive_speed:\t\tinvalid speed (0)"));
});

// devinfo.c print_hca_cap: `hca_id` is ibv_get_device_name of the device shown; main: `-d NAME`
// picks the device by that name, and without -d every device is shown. With --device real, the
// tool printed "real0" for the first device, opened the first one whatever -d named, and showed
// no other.
Deno.test("devinfo --device real: each device under its own name, -d picks one", async () => {
  const asked: (string | undefined)[] = [];
  const open = (name?: string) => {
    asked.push(name);
    const ctx = {
      deviceName: name,
      queryDevice: () => ({ physPortCnt: 1 }),
      queryPort: () => ({ state: 4, gidTblLen: 0 }),
      queryGid: () => new Uint8Array(16),
      close: () => Promise.resolve(),
    };
    return Promise.resolve(ctx as unknown as Context);
  };
  const names = ["mlx5_0", "mlx5_1"];
  const all = await realInfos(parseDevinfoArgs(["--device", "real"]), names, open);
  const picked = await realInfos(
    parseDevinfoArgs(["--device", "real", "-d", "mlx5_1"]),
    names,
    open,
  );
  assert.deepEqual(asked, ["mlx5_0", "mlx5_1", "mlx5_1"]);
  assert.deepEqual([all.map((d) => d.name), picked.map((d) => d.name)], [names, ["mlx5_1"]]);
  assert.deepEqual(
    formatDevinfo(all, false).split("\n").filter((l) => l.startsWith("hca_id")),
    ["hca_id:\tmlx5_0", "hca_id:\tmlx5_1"],
  );
  await assert.rejects(realInfos(parseDevinfoArgs(["--device", "real:mlx4_0"]), names, open), {
    status: 255,
    message: "-d/--ib-dev: IB device 'mlx4_0' wasn't found (devices: mlx5_0, mlx5_1)",
  });
  assert.throws(
    () => parseDevinfoArgs(["--device", "real:mlx5_0", "-d", "mlx5_1"]),
    /-d\/--ib-dev mlx5_1: --device real:mlx5_0 names another device/,
  );
});

Deno.test("cli: user errors are one line, bugs keep their stack", () => {
  assert.equal(
    describeError("perftest", new UsageError("unknown flag '--x'")),
    "perftest: unknown flag '--x'",
  );
  const bug = describeError("perftest", new TypeError("x is undefined"));
  assert.match(bug, /^perftest: internal error: TypeError: x is undefined/);
});

// A message that quotes the input (`--profile $'a\nb'`, a scenario name holding a line break) was
// printed on as many lines as the input had: control characters are now shown escaped.
Deno.test("cli: a user error quoting a line break, a control character or a huge value stays one short line", () => {
  assert.equal(
    describeError("devinfo", new UsageError("profile: unknown profile 'a\nb\tc\u0007'")),
    "devinfo: profile: unknown profile 'a\\nb\\tc\\u0007'",
  ); // A 100 000-character value quoted back (a seed, a name) made a line that long.
  const long = "a".repeat(100_000);
  assert.equal(
    describeError(
      "run",
      new UsageError(`s.yaml:1:1: seed: must be a whole number (got "${long}")`),
    ),
    `run: s.yaml:1:1: seed: must be a whole number (got "${"a".repeat(99)}…(100003 characters)`,
  );
});
