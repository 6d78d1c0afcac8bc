import assert from "node:assert/strict";
import {
  allSizes,
  parsePerftestArgs,
  parseSize,
  perftestOptionTable,
  perftestUsage,
  strtol,
  UsageError,
} from "../tools/lib/perftest_args.ts";
import { flagCounts, flagTableMarkdown, PERFTEST_FLAGS } from "../tools/lib/perftest_flags.ts";
import { getoptLong } from "../tools/lib/getopt.ts";
import { parseDevinfoArgs } from "../tools/lib/devinfo_args.ts";
import { parsePaperArgs } from "../tools/lib/paper_args.ts";

function usageError(argv: string[]): string {
  try {
    parsePerftestArgs(argv);
  } catch (e) {
    assert.ok(e instanceof UsageError, `expected UsageError, got ${e}`);
    return e.message;
  }
  assert.fail(`expected ${argv.join(" ")} to be rejected`);
}

Deno.test("perftest args: perftest 4.5's defaults per test", () => {
  const lat = parsePerftestArgs(["ib_write_lat"]);
  assert.deepEqual([lat.sizes, lat.iters, lat.txDepth, lat.connection, lat.mode], [
    [2],
    1000,
    1,
    "RC",
    "native",
  ]);
  assert.equal(lat.inlineSize, undefined);
  // DEF_ITERS 1000 everywhere but write_bw (DEF_ITERS_WB 5000).
  for (const [t, n] of [["ib_write_bw", 5000], ["ib_read_bw", 1000], ["ib_send_bw", 1000]]) {
    assert.equal(parsePerftestArgs([t as "ib_read_bw"]).iters, n, String(t));
  }
  assert.equal(parsePerftestArgs(["ib_atomic_bw"]).iters, 1000);
  const bw = parsePerftestArgs(["ib_read_bw"]);
  assert.deepEqual([bw.sizes, bw.txDepth, bw.cqMod, bw.kind], [[65536], 128, 1, "bw"]);
  // CQ moderation: 100, disabled (1) above 8 KiB unless asked for.
  assert.equal(parsePerftestArgs(["ib_write_bw", "-s", "4096"]).cqMod, 100);
  const send = parsePerftestArgs(["ib_send_bw", "-n", "5000"]);
  assert.equal(send.rxDepth, 512);
  const at = parsePerftestArgs(["ib_atomic_lat"]);
  assert.deepEqual([at.sizes, at.atomicType], [[8], "FETCH_AND_ADD"]);
});

// Each line was run through perftest 4.5-0.17's own parser (ib_* of the Debian
// package, which stops at "no device" after parsing): accepted or refused, and why.
const PARITY: [string[], RegExp | true][] = [
  [["ib_write_lat", "-s", "4", "-s", "8"], true],
  [["ib_write_lat", "-s", "0x40"], true],
  [["ib_write_lat", "-a", "-s", "64"], true],
  [["ib_write_lat", "-n", "100000001"], /Iteration num should be between 5 and 100000000/],
  [["ib_write_lat", "-n", "4294967301"], true], // (int) cast: 5
  [["ib_write_lat", "-s", "12Q"], true], // strtol stops at Q: 12
  [["ib_write_lat", "-s", "-5"], /Message Size should be between 1 and 2147483647/],
  [["ib_write_lat", "--iter", "10"], true], // getopt_long prefix
  [["ib_write_lat", "-aF"], true],
  [["ib_write_lat", "-q", "1"], /Multiple QPs only available on bw tests/],
  [["ib_write_lat", "-T", "3"], /TOS only valid for rdma_cm based QP and RawEth QP/],
  [["ib_write_lat", "-L", "64"], true],
  [["ib_write_lat", "-L", "63"], /Hop limit only valid for RawEth QP/],
  [["ib_write_lat", "--log_dci_streams", "1"], /log_dci_streams supported only on DC/],
  [["ib_write_lat", "--sig_before"], /sig_before supported only when enc\/dec traffic/],
  [["ib_write_lat", "--source_ip", "1.2.3"], /Invalid client IP address/],
  [["ib_write_lat", "--source_ip", "1.2.3.4"], true],
  [["ib_write_lat", "-Q", "0"], /CQ moderation should be between 1 and 1024/],
  [["ib_write_lat", "-u", "300"], true], // uint8_t: 44
  [["ib_write_lat", "-X", "1"], /Events feature not available on WRITE verb/],
  [["ib_write_lat", "-r", "4"], /On RDMA verbs rx depth can be only 1/],
  [["ib_write_lat", "--report-histogram"], /unrecognized option '--report-histogram'/],
  [["ib_write_lat", "--report-histogrm"], true],
  [["ib_write_lat", "--com_rdma_cm"], /unrecognized option '--com_rdma_cm'/],
  [["ib_write_lat", "-l", "3"], /Post list is supported in BW tests only/],
  [["ib_write_lat", "-M", "xx"], true],
  [["ib_write_lat", "--inline_recv", "5"], true],
  [["ib_write_lat", "-o", "3"], /Setting Outstanding reads only available on READ verb/],
  [["ib_write_lat", "-b"], /Bidirectional is only available in BW test/],
  [["ib_write_lat", "-N"], /NoPeak only valid for BW tests/],
  [["ib_write_lat", "--burst_size", "5"], /Can't enable burst mode when rate limiter is off/],
  [["ib_write_lat", "-w", "-1"], /Invalid Minimum BW Limit/],
  [["ib_write_lat", "--output=bandwidth"], /Output verbosity level for LAT can be: latency/],
  [["ib_write_lat", "--output=latency"], true],
  [["ib_write_lat", "-D", "1", "-f", "1"], /please check that DURATION > 2\*MARGIN/],
  [["ib_write_lat", "--mmap-offset", "0x10", "--mmap", "f"], true],
  [["ib_write_lat", "--dlid", "70000"], true], // uint16_t
  [["ib_write_lat", "-S", "16"], /Only 15 Service levels/],
  [["ib_write_lat", "-S", "256"], true], // uint8_t: 0
  [["ib_write_lat", "-x", "65"], /Gid index should be between 0 and 64/],
  [["ib_write_lat", "-i", "0"], /IB Port can't be less than 1/],
  [["ib_write_lat", "-i", "256"], /IB Port can't be less than 1/],
  [["ib_send_bw", "-c", "UD", "-s", "4096"], true], // (refused later, against the MTU)
  [["ib_send_bw", "-l", "4", "-n", "10"], /multiple of post list size/],
  [["ib_send_bw", "-l", "4", "-Q", "3"], /Post list size must be a multiple of CQ moderation/],
  [["ib_send_bw", "--recv_post_list", "3", "-n", "10"], /multiple of receive post list size/],
  [["ib_read_bw", "-e", "-D", "3"], /Duration mode doesn't work with events/],
  [["ib_write_bw", "--run_infinitely", "-b"], true],
  [["ib_send_bw", "--run_infinitely", "-b"], /not supported in SEND Bidirectional BW test/],
  [["ib_write_bw", "--report-per-port"], /work only with Duration and Dualport/],
  [["ib_write_lat", "-O"], /Dual-port mode only supports BW tests/],
  [["ib_write_bw", "-O"], true],
  [["ib_write_bw", "-O", "--report-per-port"], /work only with Duration and Dualport/],
  [["ib_write_bw", "-D", "2", "--report-per-port"], /work only with Duration and Dualport/],
  [["ib_write_bw", "-O", "-D", "2", "--report-per-port"], true],
  [["ib_send_bw", "--use-srq", "-q", "600", "-r", "512"], /should be greater than number of QPs/],
  [["ib_write_bw", "--use-srq"], /Using SRQ only avavilible in SEND tests/],
  [["ib_atomic_bw", "-s", "16"], /Message size cannot be changed for Atomic tests/],
  [["ib_atomic_bw", "-a"], /Message size cannot be changed for Atomic tests/],
  [["ib_atomic_lat", "--odp"], /ODP does not support ATOMICS for now/],
  [["ib_write_bw", "--output=latency"], /for BW can be: bandwidth, message_rate/],
  [["ib_write_bw", "--latency_gap", "3"], /Latency gap feature is only for latency tests/],
  [["ib_write_bw", "--typical_pkt_size", "100"], /Typical packet size only supports PP/],
  [["ib_send_bw", "--rate_limit", "1", "--rate_limit_type", "SW", "-b"], /SW Rate limiter cann't/],
  [
    ["ib_write_bw", "--rate_limit", "3", "--rate_units", "p"],
    /pps rate limit units is not supported/,
  ],
  [["ib_send_lat", "-e", "-X", "5"], true],
  [["ib_send_lat", "--aes_xts"], /Please provide key encryption key file path/],
  [["ib_write_bw", "--force-link", "eth"], /Invalid link layer value should be IB or ETHERNET/],
  [["ib_write_bw", "-C"], /Available only on Latency tests/],
  [["ib_write_bw", "-H"], /Available only on Latency tests/],
  [["ib_write_lat", "--cpu_util"], true], // a warning, then the run
  [["ib_read_lat", "-c", "UC"], /UC connection not possible in READ\/ATOMIC verbs/],
  [["ib_write_bw", "-c", "UD"], /UD connection only possible in SEND verb/],
  [["ib_read_bw", "-I", "64"], /Inline feature not available on READ\/Atomic verbs/],
  [["ib_send_lat", "-A", "CMP_AND_SWAP"], /You are not running the atomic_lat\/bw test/],
  [["ib_write_lat", "-R"], true],
  [["ib_write_lat", "-z"], true],
  [["ib_write_lat", "-R", "-T", "3"], true],
  [["ib_write_lat", "-z", "-T", "3"], /TOS only valid for rdma_cm based QP and RawEth QP/],
  [["ib_write_lat", "-R", "-T", "256"], /TOS should be between 0 and 255/],
  [["ib_write_lat", "-R", "-c", "UC"], /UC is not supported in librdmacm/],
  [["ib_send_lat", "-R", "-g"], /Perftest still doesn't support Multicast with rdma_cm/],
  [["ib_write_bw", "-R", "-O"], /Perftest still doesn't support Dual Port with rdma_cm/],
  [
    ["ib_write_bw", "-R", "--rate_limit", "3", "--rate_limit_type", "HW"],
    /HW rate limit isn't supported yet with rdma_cm scenarios/,
  ],
];

Deno.test("perftest args: accepted and refused as perftest 4.5's parser does", () => {
  for (const [argv, want] of PARITY) {
    const what = argv.join(" ");
    if (want === true) {
      assert.doesNotThrow(() => parsePerftestArgs(argv), what);
    } else assert.match(usageError(argv), want, what);
  }
  // -O: num_of_qps doubled, ib_port reset to 1 (an -i after it still counts).
  const dp = parsePerftestArgs(["ib_write_bw", "-i", "2", "-O", "-q", "3"]);
  assert.deepEqual([dp.dualport, dp.qps, dp.ibPort], [true, 6, 1]);
  assert.equal(parsePerftestArgs(["ib_write_bw", "-O", "-i", "2"]).ibPort, 2);
  // Values as perftest reads them.
  assert.deepEqual(parsePerftestArgs(["ib_write_lat", "-s", "4", "-s", "8"]).sizes, [8]);
  assert.deepEqual(parsePerftestArgs(["ib_write_lat", "-s", "0x40"]).sizes, [64]);
  assert.deepEqual(parsePerftestArgs(["ib_write_lat", "-s", "010"]).sizes, [8]);
  assert.deepEqual(parsePerftestArgs(["ib_write_lat", "-s4K", "-s", "8"]).sizes, [8192]);
  assert.deepEqual(parsePerftestArgs(["ib_write_lat", "-s", "12Q"]).sizes, [12]);
  // perftest cuts a final K, then looks for M at the same (now cut) place: 64MK is 64 × 1024.
  assert.deepEqual(parsePerftestArgs(["ib_write_lat", "-s", "64MK"]).sizes, [65536]);
  assert.deepEqual(parsePerftestArgs(["ib_write_lat", "-s", "2KM"]).sizes, [2097152]);
  assert.equal(parsePerftestArgs(["ib_write_lat", "-a", "-s", "64"]).sizes.length, 23);
  assert.equal(parsePerftestArgs(["ib_write_lat", "-n", "4294967301"]).iters, 5);
  assert.equal(parsePerftestArgs(["ib_write_lat", "-u", "300"]).qpTimeout, 44);
  assert.equal(parsePerftestArgs(["ib_write_lat", "--iter", "10"]).iters, 10);
  const wrapped = parsePerftestArgs(["ib_write_lat", "-u", "300"]).notices;
  assert.ok(wrapped.some((n) => /stores it as uint8_t, which makes it 44/.test(n.text)));
  assert.equal(strtol("  -0x1fz").value, -31n);
});

Deno.test("perftest args: perftest's derived settings", () => {
  // tx depth and rx depth never above the iterations; odd rx depth made even.
  assert.equal(parsePerftestArgs(["ib_write_bw", "-n", "10"]).txDepth, 10);
  assert.equal(parsePerftestArgs(["ib_send_bw", "-r", "101"]).rxDepth, 102);
  // UD/UC: the default rx depth becomes min(iters, 16000).
  assert.equal(parsePerftestArgs(["ib_send_bw", "-c", "UD", "-n", "700"]).rxDepth, 700);
  // Post lists set CQ moderation and say so.
  const pl = parsePerftestArgs(["ib_write_bw", "-l", "4", "-n", "400"]);
  assert.equal(pl.cqMod, 4);
  assert.ok(pl.notices.some((n) => n.text.startsWith("Post List requested")));
  // Peak off above 20000 iterations and in duration mode.
  assert.equal(parsePerftestArgs(["ib_write_bw", "-n", "20001"]).noPeak, true);
  assert.equal(parsePerftestArgs(["ib_write_bw", "-n", "20000"]).noPeak, false);
  const d = parsePerftestArgs(["ib_write_bw", "-D", "8"]);
  assert.deepEqual([d.duration, d.margin, d.noPeak], [8, 2, true]);
  // write_lat always runs with PCIe relaxed ordering off (perftest's main does so).
  assert.equal(parsePerftestArgs(["ib_write_lat"]).disablePcieRelaxed, true);
  assert.equal(parsePerftestArgs(["ib_read_lat"]).disablePcieRelaxed, false);
  const sw = parsePerftestArgs(["ib_write_bw", "--rate_limit", "2", "--rate_limit_type", "SW"]);
  assert.deepEqual(sw.rateLimit, { type: "SW", rate: 2, units: "g", burst: 128 });
});

Deno.test("perftest args: -g runs UD with GID index 0; -M's numbers as perftest's strtoll reads them", () => {
  const g = parsePerftestArgs(["ib_send_bw", "-c", "RC", "-g"]);
  assert.deepEqual([g.mcg, g.connection, g.gidIndex, g.mgid], [true, "UD", 0, undefined]);
  const m = parsePerftestArgs([
    "ib_send_lat",
    "-g",
    "-x",
    "0",
    "-M",
    "0xff:18:0:0:0:0:0:0:0:0:0:0:0:0:0:010",
  ]);
  assert.deepEqual([...m.mgid!], [255, 18, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8]);
  // Without -g, -M is kept unread (perftest reads it only to join).
  assert.equal(parsePerftestArgs(["ib_send_lat", "-M", "xx"]).mgid, undefined);
  // perftest_parameters.c's checks of -g (from its source; perftest itself crashes on a short
  // -M, xenib names it).
  const verdicts: [string[], true | RegExp][] = [
    [["ib_send_lat", "-g"], true],
    [["ib_send_bw", "-c", "UD", "-g"], true],
    [["ib_write_bw", "-g"], /MultiCast feature only available on SEND verb/],
    [["ib_send_bw", "-g", "-b"], /Bidirectional mode not supported in multicast/],
    [["ib_send_bw", "-g", "-q", "2"], /Only 1 QP supported in multicast/],
    [["ib_send_bw", "-g", "-O"], /Dual-port mode not supported in multicast feature/],
    [
      ["ib_send_bw", "-g", "-M", "255:1"],
      /-M\/--MGID: '255:1' is not an MGID as perftest reads it/,
    ],
    [["ib_send_bw", "-g", "-M", "0xff:0x12:0:0:0:0:0:0:0:0:0:0:0:0:0:7"], true],
  ];
  for (const [argv, want] of verdicts) {
    if (want === true) parsePerftestArgs(argv as ["ib_send_bw"]);
    else assert.match(usageError(argv), want, argv.join(" "));
  }
});

Deno.test("perftest args: what a one-process simulation cannot do is refused with why", () => {
  assert.match(usageError(["ib_send_lat", "-R", "-c", "UD"]), /need SIDR \(RDMA_PS_UDP\)/);
  assert.match(usageError(["ib_write_lat", "-R", "--device", "real"]), /no librdmacm binding/);
  assert.match(usageError(["ib_read_lat", "--odp"]), /no on-demand paging/);
  assert.match(usageError(["ib_read_bw", "-c", "XRC"]), /XRC is not modelled/);
  assert.match(usageError(["ib_write_bw", "-c", "DC"]), /DC is not modelled/);
  assert.match(usageError(["ib_send_bw", "-c", "SRD"]), /EFA's transport/);
  assert.match(usageError(["ib_write_bw", "--rate_limit", "5"]), /use --rate_limit_type=SW/);
  assert.match(usageError(["ib_write_bw", "--force-link", "Ethernet"]), /links are InfiniBand/);
  assert.match(usageError(["ib_write_lat", "-B", "aa"]), /Raw Ethernet option/);
  assert.match(usageError(["ib_write_lat", "10.0.0.1"]), /server name; xenib runs both sides/);
  assert.match(usageError(["ib_write_bw", "-l", "0"]), /at least one WR/);
  // run_iter_bw never posts a list longer than the tx depth (perftest polls forever).
  assert.equal(
    usageError(["ib_write_bw", "-l", "200", "-n", "1000"]),
    "-l/--post_list: a list of 200 WRs never fits the tx depth of 128 (perftest would wait forever; give -t 200 or more)",
  );
  // The depth checked is the final one: -n lowers it, -Q is lowered to it first.
  assert.match(usageError(["ib_write_bw", "-l", "4", "-Q", "4", "-t", "2"]), /tx depth of 2/);
  assert.match(usageError(["ib_write_bw", "-l", "256", "-D", "2"]), /tx depth of 128/);
  assert.equal(parsePerftestArgs(["ib_write_bw", "-l", "10", "-n", "10"]).txDepth, 10);
  // ctx_set_recv_wqes posts rx_depth / recv_post_list lists (an SRQ's divided among the QPs):
  // none at all and the receiver waits forever (the run never ended: RC retried on RNR).
  assert.equal(
    usageError(["ib_send_bw", "--recv_post_list", "600", "-n", "600"]),
    "--recv_post_list: the rx depth of 512 holds no list of 600 receives per QP (perftest would post none and wait forever)",
  );
  assert.match(
    usageError([
      "ib_send_bw",
      "--recv_post_list",
      "4",
      "-r",
      "8",
      "--use-srq",
      "-q",
      "4",
      "-n",
      "100",
    ]),
    /rx depth of 8 shared by 4 QPs holds no list of 4/,
  );
  parsePerftestArgs([
    "ib_send_bw",
    "--recv_post_list",
    "2",
    "-r",
    "8",
    "--use-srq",
    "-q",
    "4",
    "-n",
    "100",
  ]);
  parsePerftestArgs(["ib_write_bw", "--recv_post_list", "4", "-n", "100"]); // no receives: unused
});

Deno.test("perftest args: -c RawEth is refused where force_dependecies' Raw Ethernet block refuses it", () => {
  // change_conn_type takes RawEth in every program; force_dependecies refuses it after its
  // earlier checks (-l here), in its order: -a, rdma_cm, -x, --mmap, then the source MAC
  // (-B), which an IB program's run never has (the machine is SERVER, not UNCHOSEN).
  const mac =
    /^-c\/--connection RawEth: Invalid Command line\. you must enter source mac by this format -B XX:XX:XX:XX:XX:XX$/;
  assert.match(usageError(["ib_write_bw", "-c", "RawEth"]), mac);
  assert.match(usageError(["ib_read_lat", "-c", "RawEth"]), mac);
  // A later -c changes nothing (change_conn_type returns when RawEth was chosen).
  assert.match(usageError(["ib_send_bw", "-c", "RawEth", "-c", "RC"]), mac);
  assert.match(
    usageError(["ib_write_bw", "-c", "RawEth", "-l", "3"]),
    /Number of iterations must be a multiple of post list size/,
  );
  assert.match(usageError(["ib_write_bw", "-c", "RawEth", "-a"]), /do not support -a \/ --all/);
  assert.match(usageError(["ib_send_lat", "-c", "RawEth", "-R"]), /RDMA CM isn't supported/);
  assert.match(usageError(["ib_send_lat", "-c", "RawEth", "-x", "0"]), /GID index isn't supported/);
  assert.match(
    usageError(["ib_write_lat", "-c", "RawEth", "--mmap-offset", "4"]),
    /mmaped files aren't supported/,
  );
});

Deno.test("perftest args: xenib's flags and messages name the flag", () => {
  assert.match(usageError(["ib_write_lat", "--bogus"]), /unrecognized option '--bogus'/);
  assert.match(usageError(["ib_write_lat", "-j"]), /option requires an argument -- 'j'/);
  assert.match(
    usageError(["ib_write_lat", "-n", "1e3"]),
    /-n\/--iters: Iteration num argument 1e3 should be int/,
  );
  assert.match(usageError(["ib_write_lat", "--mode", "hvm"]), /--mode: 'hvm' is not a mode/);
  assert.match(usageError(["ib_write_lat", "--seed", "-1"]), /--seed: -1 is negative/);
  assert.match(usageError(["ib_write_lat", "--pcap-format", "ether"]), /--pcap-format: 'ether'/);
  assert.match(
    usageError(["ib_write_lat", "--device", "sim"]),
    /--device: 'sim' is not understood/,
  );
  assert.match(
    usageError(["ib_write_lat", "--device", "real", "--mode", "bypass"]),
    /--device real with --mode bypass/,
  );
  assert.match(usageError(["ib_nope_lat"]), /unknown test 'ib_nope_lat'/);
  // Names every object has are no tests either (they ran as one and failed mid-run).
  for (const name of ["constructor", "toString", "__proto__"]) {
    assert.match(usageError([name]), new RegExp(`unknown test '${name}'`));
  }
  assert.match(usageError([]), /missing test name/);
  const c = parsePerftestArgs(["ib_send_lat", "--pcap", "t.pcap", "--pcap-format", "rocev2"]);
  assert.deepEqual([c.pcap, c.pcapFormat], ["t.pcap", "rocev2"]);
  assert.equal(parseSize("1M"), 1048576);
  assert.deepEqual(parsePerftestArgs(["ib_write_bw", "-a"]).sizes, allSizes());
  assert.ok(parsePerftestArgs(["ib_write_lat", "-h"]).help);
  assert.ok(parsePerftestArgs(["ib_write_lat", "-V"]).version);
  assert.ok(parsePerftestArgs(["--help"]).help);
});

Deno.test("getopt: clusters, glued values, dash-led values, prefixes, --", () => {
  const table = [
    { name: "size", short: "s", hasArg: true },
    { name: "all", short: "a", hasArg: false },
    { name: "report-cycles", short: "C", hasArg: false },
    { name: "report_gbits", hasArg: false },
  ];
  const r = getoptLong(["-aC", "-s-5", "--report_g", "x", "--", "-a"], table);
  assert.deepEqual(r.options.map((o) => [o.name, o.value]), [
    ["all", undefined],
    ["report-cycles", undefined],
    ["size", "-5"],
    ["report_gbits", undefined],
  ]);
  assert.deepEqual(r.positionals, ["x", "-a"]);
  assert.throws(() => getoptLong(["--report"], table), /ambiguous/);
  assert.throws(() => getoptLong(["--all=1"], table), /doesn't allow an argument/);
});

Deno.test("perftest flags: the 86 of perftest 4.5's --help, each with what it does here", () => {
  assert.equal(PERFTEST_FLAGS.length, 86);
  assert.equal(new Set(PERFTEST_FLAGS.map((f) => f.long)).size, 86);
  const c = flagCounts();
  assert.equal(c.works + c.noop + c["perftest-refuses"] + c.refused, 86);
  // docs/tools.md carries this very table.
  const docs = Deno.readTextFileSync(new URL("../docs/tools.md", import.meta.url));
  const block = docs.split("<!-- FLAGS:perftest -->")[1]?.split("<!-- /FLAGS:perftest -->")[0] ??
    "";
  // Cells, not padding: deno fmt aligns the columns.
  const cells = (md: string) =>
    md.trim().split("\n").filter((l) => !/^\|\s*-+/.test(l)).map((l) =>
      l.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim())
    );
  assert.deepEqual(
    cells(block),
    cells(flagTableMarkdown()),
    "docs/tools.md's flag table is out of date",
  );
  // Every flag parses (with a value where it takes one), even where perftest then refuses it.
  for (const f of PERFTEST_FLAGS) {
    const argv = ["ib_send_bw", `--${f.long}`, ...(f.arg ? ["1"] : [])];
    try {
      parsePerftestArgs(argv);
    } catch (e) {
      assert.ok(e instanceof UsageError, `${argv.join(" ")}: ${e}`);
      assert.ok(!/unrecognized option/.test(e.message), `${argv.join(" ")}: ${e.message}`);
    }
  }
});

Deno.test("perftest usage: each test lists the flags perftest shows it", () => {
  const read = perftestUsage("ib_read_lat");
  assert.ok(!read.includes("--inline_size"));
  assert.ok(read.includes("--events") && read.includes("--outs"));
  const write = perftestUsage("ib_write_bw");
  assert.ok(write.includes("--report_gbits") && write.includes("--qp"));
  assert.ok(!write.includes("--events"));
  assert.match(write, /\n\s+-R, --rdma_cm/); // available now: no [-] mark
  assert.match(write, /\[-\]\s+--odp/);
});

Deno.test("devinfo and paper args", () => {
  const d = parseDevinfoArgs(["-v", "-d", "xhca0", "-i", "1", "--mode", "bypass", "--dom0"]);
  assert.deepEqual([d.verbose, d.ibDev, d.ibPort, d.mode, d.dom0], [
    true,
    "xhca0",
    1,
    "bypass",
    true,
  ]);
  assert.throws(() => parseDevinfoArgs(["--dom0"]), /only a Xen host has a dom0/);
  assert.throws(() => parseDevinfoArgs(["-i", "0"]), /-i\/--ib-port: '0' is not a port number/);
  // devinfo.c checks each -i as getopt returns it, not only the last.
  assert.throws(() => parseDevinfoArgs(["-i", "0", "-i", "1"]), /'0' is not a port number/);
  assert.equal(parseDevinfoArgs(["-i", "2", "-i", "1"]).ibPort, 1);
  assert.throws(() => parseDevinfoArgs(["--frob"]), /unrecognized option '--frob'/);
  // "--profile: empty value", as every other tool says it (was "profile: unknown profile ''").
  assert.throws(() => parseDevinfoArgs(["--profile", ""]), {
    name: "UsageError",
    message: "--profile: empty value",
  });
  assert.throws(() => parseDevinfoArgs(["--seed", "-1"]), /--seed: -1 is negative/);
  const p = parsePaperArgs(["--quick", "--out", "out/x", "--seed", "3", "--modes", "split,native"]);
  assert.deepEqual([p.scale, p.out, p.seed, p.modes], ["quick", "out/x", 3, ["native", "split"]]);
  assert.deepEqual(parsePaperArgs([]).modes, ["native", "bypass", "split"]);
  assert.throws(() => parsePaperArgs(["--modes", "native,hvm"]), /--modes: 'hvm' is not a mode/);
  assert.throws(() => parsePaperArgs(["extra"]), /unexpected argument 'extra'/);
});

Deno.test("perftest args: a refusal keeps the warnings perftest printed before it", () => {
  const refused = (argv: string[]) => {
    try {
      parsePerftestArgs(argv);
    } catch (e) {
      assert.ok(e instanceof UsageError);
      return e;
    }
    assert.fail(`expected ${argv.join(" ")} to be rejected`);
  };
  // force_dependecies: the burst-size line (stderr, no separator), then the SW limiter's refusal.
  const sw = refused(["ib_send_lat", "--rate_limit", "1", "--rate_limit_type", "SW"]);
  assert.match(sw.message, /SW Rate limiter cann't be executed on non-BW/);
  assert.deepEqual(sw.notices, [
    { stream: "stderr", text: " Setting burst size to tx depth = 1", resultLine: false },
  ]);
  // The large-message warning comes before the atomic size check.
  const atomic = refused(["ib_atomic_bw", "-s", "100000", "-Q", "4"]);
  assert.match(atomic.message, /Message size cannot be changed for Atomic tests/);
  assert.deepEqual(atomic.notices.map((n) => [n.stream, n.text, n.resultLine]), [
    ["stdout", "Warning: Large message requested and CQ moderation enabled", true],
    ["stdout", "Warning: It can lead to inaccurate results", false],
  ]);
  // Nothing printed before: none kept.
  assert.deepEqual(refused(["ib_write_bw", "-n", "3"]).notices, []);
});

Deno.test("perftest args: an ambiguous prefix names perftest's options in its table's order", () => {
  // glibc lists the candidates in long_options order: report_gbits before report-both.
  assert.equal(
    usageError(["ib_write_lat", "--rep"]),
    "option '--rep' is ambiguous; possibilities: '--report-cycles' '--report-histogrm' " +
      "'--report-unsorted' '--report-counters' '--report_gbits' '--report-both' " +
      "'--report-per-port' '--reply_every' (see --help)",
  );
  // raw_ipv6 is in the table (a Raw Ethernet option), and source_ip is in it twice.
  assert.match(
    usageError(["ib_send_bw", "--ra"]),
    /possibilities: '--rate_limit' '--rate_limit_type' '--rate_units' '--raw_ipv6' '--raw_mcast'/,
  );
  assert.match(
    usageError(["ib_send_bw", "--source", "1.1.1.1"]),
    /possibilities: '--source_mac' '--source_ip' '--source_port' '--source_ip' \(see --help\)$/,
  );
  // --sniffer and --raw_ipv6 are perftest's Raw Ethernet options, not unknown ones.
  for (const f of ["--sniffer", "--raw_ipv6"]) {
    assert.equal(
      usageError(["ib_write_bw", f]),
      `${f}: a Raw Ethernet option (raw_ethernet_* programs); not one of ib_write_bw's`,
    );
  }
  // The exact --source_ip is still the first entry (the -j alias), checked as an IPv4 address.
  assert.match(usageError(["ib_write_bw", "--source_ip", "x"]), /source_ip/);
});

Deno.test("perftest args: more than one argument left is perftest's invalid command line", () => {
  // parser(): optind == argc - 1 is the server name, anything more is refused.
  assert.equal(
    usageError(["ib_write_bw", "--", "-n", "3"]),
    "unexpected arguments '-n' '3': Invalid Command line. Please check command rerun",
  );
  assert.match(
    usageError(["ib_write_bw", "host"]),
    /^unexpected argument 'host': perftest's server/,
  );
});

// perftest_parameters.c parser(): each getopt_long result is handled before the next word is
// read, so -h and -V return before a later bad word is seen, and a bad value before an unknown
// option is the one reported (the default case, " Invalid Command or flag.", comes when reached).
Deno.test("perftest args: the first problem in command-line order wins, as perftest's loop", () => {
  assert.ok(parsePerftestArgs(["ib_write_bw", "-h", "--frob"]).help);
  assert.ok(parsePerftestArgs(["ib_write_bw", "-V", "--frob"]).version);
  assert.ok(parsePerftestArgs(["ib_write_bw", "-h", "-s"]).help);
  assert.ok(parsePerftestArgs(["ib_write_bw", "-hZ"]).help);
  assert.ok(parsePerftestArgs(["--help", "--frob"]).help);
  assert.match(usageError(["ib_write_bw", "-n", "1", "--frob"]), /Iteration num should be/);
  assert.match(usageError(["ib_write_bw", "--frob", "-n", "1"]), /unrecognized option '--frob'/);
  assert.match(usageError(["ib_write_bw", "-n", "1", "-s"]), /Iteration num should be/);
  assert.match(usageError(["ib_write_bw", "-a", "-s"]), /option requires an argument -- 's'/);
  assert.match(usageError(["--frob", "ib_write_bw"]), /unrecognized option '--frob'/);
});

// perftest_parameters.c force_dependecies(), the --aes_xts branch: use_old_post_send is 0 while
// parsing unless --use_old_post_send is given (the device check that turns it on for a non-mlx5
// HCA, verify_params_with_device_context in perftest_resources.c, runs after the parser), so
// perftest's checks go on to rdma_cm, write_lat and inline before the device is opened.
Deno.test("perftest args: --aes_xts is checked in perftest's order, then refused (no crypto)", () => {
  const keys = ["--kek_path", "k", "--credentials_path", "c", "--data_enc_key_app_path", "a"];
  assert.match(usageError(["ib_write_lat", "--aes_xts", ...keys]), /isn't supported on write_lat/);
  assert.match(
    usageError(["ib_send_lat", "--aes_xts", ...keys, "-R"]),
    /rdma_cm doesn't support aes_xts/,
  );
  assert.match(
    usageError(["ib_send_lat", "--aes_xts", ...keys, "--use_old_post_send"]),
    /aes_xts doesn't support old post send/,
  );
  // (int)size <= inline_size: 2 B with -I 8.
  assert.match(
    usageError(["ib_send_lat", "--aes_xts", ...keys, "-I", "8"]),
    /aes_xts doesn't support Inline messages/,
  );
  const passed = usageError(["ib_send_lat", "--aes_xts", ...keys, "-I", "1", "-s", "64"]);
  assert.match(passed, /no crypto engine/);
  assert.doesNotMatch(passed, /old post send/);
  assert.match(usageError(["ib_write_bw", "--aes_xts", ...keys, "-z"]), /no crypto engine/);
});

// perftest_parameters.c usage(): the defaults it prints, per test (DEF_ITERS 1000, DEF_ITERS_WB
// 5000 for write_bw, DEF_SIZE_LAT 2, DEF_SIZE_BW 65536, DEF_TX_BW 128, DEF_QP_TIME 14, DEF_SL 0,
// DEF_PORT 18515, DEF_NUM_QPS 1, DEF_HOP_LIMIT 64) and -c's types per verb.
Deno.test("perftest usage: perftest's defaults and connection types per test", () => {
  const line = (test: Parameters<typeof perftestUsage>[0], flag: string) =>
    perftestUsage(test).split("\n").find((l) => l.includes(flag)) ?? "";
  assert.match(line("ib_write_bw", "--iters="), /default 5000/);
  assert.match(line("ib_read_bw", "--iters="), /default 1000/);
  assert.match(line("ib_write_lat", "--size="), /default 2\b/);
  assert.match(line("ib_send_bw", "--size="), /default 65536/);
  assert.match(line("ib_write_bw", "--tx-depth="), /default 128/);
  assert.match(line("ib_write_lat", "--qp-timeout="), /default 14/);
  assert.match(line("ib_write_lat", "--sl="), /default 0/);
  assert.match(line("ib_write_lat", "--port="), /default 18515/);
  assert.match(line("ib_write_bw", "--qp="), /default 1\b/);
  assert.match(line("ib_write_lat", "--hop_limit="), /default 64/);
  assert.match(line("ib_write_lat", "--out_json_file="), /perftest_out\.json/);
  assert.match(line("ib_write_lat", "--tos="), /default off/);
  assert.match(line("ib_read_bw", "--noPeak"), /up to 20000 iterations/);
  assert.match(line("ib_write_bw", "--connection="), /<RC\/XRC\/UC\/DC>/);
  assert.match(line("ib_read_lat", "--connection="), /<RC\/XRC\/DC>/);
  assert.match(line("ib_atomic_bw", "--connection="), /<RC\/XRC\/DC>/);
  assert.match(line("ib_send_lat", "--connection="), /<RC\/XRC\/UC\/UD\/DC\/SRD>/);
});

// perftest_parameters.c parser(): after the option loop, `if (run_inf_flag) test_method =
// RUN_INFINITELY;` replaces -a's RUN_ALL, so force_dependecies sees no -a: the size stays
// (atomic: 8), -D is allowed, CQ moderation follows the size, and the margin is D/4 (the
// run_infinitely block makes it a duration run before the margin is set).
Deno.test("perftest args: --run_infinitely replaces -a, as perftest's parser", () => {
  const r = parsePerftestArgs(["ib_write_bw", "--run_infinitely", "-a"]);
  assert.deepEqual([r.all, r.sizes, r.cqMod, r.duration, r.margin], [false, [65536], 1, 5, 1]);
  assert.deepEqual(parsePerftestArgs(["ib_write_bw", "-a", "--run_infinitely", "-D", "2"]).sizes, [
    65536,
  ]);
  assert.deepEqual(parsePerftestArgs(["ib_atomic_bw", "--run_infinitely", "-a"]).sizes, [8]);
  assert.deepEqual(parsePerftestArgs(["ib_write_bw", "--run_infinitely", "-D", "8"]).margin, 2);
  // Without --run_infinitely, -a with -D is still refused.
  assert.match(usageError(["ib_write_bw", "-a", "-D", "2"]), /doesn't support running on all/);
});

// perftest_parameters.c parser(): getopt_long's optstring is the authority for short options.
// The table gives ethertype 'Y' and use_rss 'G' (and usage_raw_ethernet prints -Y and -G), but
// the optstring has neither letter, so glibc answers "invalid option" for them.
Deno.test("perftest args: short options are exactly the letters of perftest's optstring", () => {
  const optstring =
    "w:y:p:d:i:m:s:n:t:u:S:x:c:q:I:o:M:r:Q:A:l:D:f:B:T:L:E:J:j:K:k:X:W:aFegzRvhbNVCHUOZP";
  const letters = new Map<string, boolean>();
  for (let i = 0; i < optstring.length; i++) {
    if (optstring[i] !== ":") letters.set(optstring[i], optstring[i + 1] === ":");
  }
  const shorts = new Map<string, boolean>();
  for (const o of perftestOptionTable()) if (o.short) shorts.set(o.short, o.hasArg);
  assert.deepEqual([...shorts].sort(), [...letters].sort());
  assert.equal(usageError(["ib_send_bw", "-G"]), "invalid option -- 'G' (see --help)");
  assert.equal(usageError(["ib_send_bw", "-Y", "0x800"]), "invalid option -- 'Y' (see --help)");
  // The long forms are still perftest's (Raw Ethernet) options.
  assert.match(usageError(["ib_send_bw", "--use_rss"]), /^--use_rss: a Raw Ethernet option/);
});

// glibc process_long_option: the unrecognized and ambiguous messages quote d->__nextchar, the
// whole word after "--" with its "=value"; an abbreviation is resolved against perftest's own
// table (perftest_parameters.c parser()), where "--no" and "--n" can only be --noPeak.
Deno.test("perftest args: long options abbreviate and fail as glibc's getopt_long in perftest", () => {
  assert.equal(
    usageError(["ib_write_bw", "--frob=1"]),
    "unrecognized option '--frob=1' (see --help)",
  );
  assert.match(usageError(["ib_write_bw", "--rep=5"]), /^option '--rep=5' is ambiguous; /);
  assert.match(
    usageError(["ib_write_lat", "--report-histogram=1"]),
    /'--report-histogram=1' \(perftest 4\.5's option table spells it --report-histogrm\)$/,
  );
  // xenib's --noise does not make perftest's --no (= --noPeak) ambiguous.
  assert.equal(parsePerftestArgs(["ib_write_bw", "--no"]).noPeak, true);
  assert.equal(parsePerftestArgs(["ib_write_bw", "--n"]).noPeak, true);
  // A prefix of xenib's options alone still works; the full name always does.
  assert.equal(parsePerftestArgs(["ib_write_bw", "--noi", "off"]).noise, "off");
  assert.equal(parsePerftestArgs(["ib_write_bw", "--noise", "off"]).noise, "off");
  assert.match(usageError(["ib_write_bw", "--pc", "x"]), /'--pc' is ambiguous; .*'--pcap-format'/);
});

// perftest_parameters.c parser(): -w and -y are strtof() into floats, --rate_limit is atof()
// (strtod) into a double; C's strtod reads hexadecimal numbers (C11 7.22.1.3), so 0x10 is 16.
Deno.test("perftest args: -w, -y and --rate_limit read numbers as C's strtof/atof", () => {
  assert.equal(parsePerftestArgs(["ib_read_bw", "-w", "0x10"]).limitBw, 16);
  assert.equal(parsePerftestArgs(["ib_read_bw", "-w", "0x1.8p1"]).limitBw, 3);
  assert.equal(parsePerftestArgs(["ib_read_bw", "-y", "0.1"]).limitMsgRate, Math.fround(0.1));
  assert.equal(parsePerftestArgs(["ib_read_bw", "-w", "1e3x"]).limitBw, 1000);
  const sw = ["--rate_limit", "0x10", "--rate_limit_type", "SW"];
  assert.equal(parsePerftestArgs(["ib_read_bw", ...sw]).rateLimit.rate, 16);
  assert.match(usageError(["ib_read_bw", "--rate_limit", "0x"]), /Rate limit must be non-negative/);
});

Deno.test("perftest args: parser()'s own failures are told from exit(1) refusals", () => {
  // perftest 4.5-0.17: parser() returns 1 for its option loop's checks, getopt's refusals and a
  // stray operand, and every program's main() then prints " Parser function exited with Error"
  // (src/write_lat.c …); change_conn_type, -A's value and force_dependecies exit(1) at once.
  const how = (argv: string[]) => {
    try {
      parsePerftestArgs(argv);
    } catch (e) {
      assert.ok(e instanceof UsageError, String(e));
      return e.parserFailed;
    }
    assert.fail(`expected ${argv.join(" ")} to be rejected`);
  };
  for (
    const argv of [
      ["ib_write_lat", "-b"],
      ["ib_write_bw", "-n", "3"],
      ["ib_write_lat", "-s", "0"],
      ["ib_write_lat", "-q", "2"],
      ["ib_read_bw", "-I", "64"],
      ["ib_write_lat", "--frob"],
      ["ib_write_lat", "-n"],
      ["ib_send_lat", "-A", "CMP_AND_SWAP"],
      ["ib_write_lat", "--source_ip", "1.2.3"],
      ["ib_write_lat", "a", "b"],
      ["ib_write_bw", "--output", "x"],
    ]
  ) assert.equal(how(argv), true, argv.join(" "));
  for (
    const argv of [
      ["ib_read_lat", "-c", "UC"], // change_conn_type: exit(1)
      ["ib_atomic_lat", "-A", "ADD"], // case 'A': exit(1)
      ["ib_atomic_bw", "-s", "16"], // force_dependecies: exit(1)
      ["ib_send_bw", "--use-srq", "-q", "600", "-r", "512"],
      ["ib_write_lat", "-D", "1", "-f", "1"],
      ["ib_write_lat", "-l", "0"], // xenib's own (perftest accepts it)
      ["ib_write_lat", "--mode", "hvm"],
      ["ib_write_lat", "server"],
    ]
  ) assert.equal(how(argv), false, argv.join(" "));
});

Deno.test("perftest args: a force_dependecies refusal says whether perftest printed its rule first", () => {
  // perftest 4.5-0.17 force_dependecies: `printf(RESULT_LINE);` then the message for most checks;
  // a few print the message alone (dual-port, TOS, hop limit, multicast, the completion vector).
  const ruled = (argv: string[]) => {
    try {
      parsePerftestArgs(argv);
    } catch (e) {
      assert.ok(e instanceof UsageError, String(e));
      return e.resultLine;
    }
    assert.fail(`expected ${argv.join(" ")} to be rejected`);
  };
  for (
    const argv of [
      ["ib_atomic_bw", "-s", "16"],
      ["ib_write_bw", "--use-srq"],
      ["ib_send_bw", "-l", "4", "-n", "10"],
      ["ib_read_bw", "-e", "-D", "3"],
      ["ib_write_lat", "-R", "-c", "UC"],
      ["ib_write_lat", "--sig_before"],
      ["ib_write_lat", "--burst_size", "5"],
      ["ib_write_bw", "--output=latency"],
      ["ib_write_bw", "--report-per-port"],
      ["ib_write_lat", "-D", "1", "-f", "1"],
      ["ib_write_bw", "--rate_limit", "3", "--rate_units", "p"],
    ]
  ) assert.equal(ruled(argv), true, argv.join(" "));
  for (
    const argv of [
      ["ib_write_lat", "-O"],
      ["ib_write_lat", "-T", "3"],
      ["ib_write_lat", "-L", "63"],
      ["ib_send_bw", "-g", "-b"],
      ["ib_send_lat", "-X", "1"],
      ["ib_write_bw", "-R", "--rate_limit", "3", "--rate_limit_type", "HW"],
      ["ib_write_lat", "-b"], // parser(): no rule
      ["ib_read_lat", "-c", "UC"],
    ]
  ) assert.equal(ruled(argv), false, argv.join(" "));
});

Deno.test("perftest args: a word getopt refuses comes before the checks after parser()'s loop", () => {
  // perftest 4.5-0.17 parser(): the default case returns from inside the option loop, so the
  // address check after the loop (parse_ip_from_str of --source_ip) is never reached.
  assert.match(
    usageError(["ib_write_lat", "--source_ip", "1.2.3", "--frob"]),
    /^unrecognized option '--frob'/,
  );
  assert.match(
    usageError(["ib_write_lat", "--source_ip", "1.2.3"]),
    /^--source_ip: Invalid client IP address '1\.2\.3'/,
  );
});

Deno.test("perftest args: --run_infinitely is a duration run to --report-per-port's check", () => {
  // perftest 4.5-0.17 force_dependecies: the run_infinitely block sets test_type = DURATION
  // before the report_per_port check (`test_type != DURATION || !dualport`).
  const c = parsePerftestArgs(["ib_write_bw", "--run_infinitely", "-O", "--report-per-port"]);
  assert.deepEqual([c.reportPerPort, c.runInfinitely, c.duration], [true, true, 5]);
  assert.match(
    usageError(["ib_write_bw", "--run_infinitely", "--report-per-port"]),
    /work only with Duration and Dualport/,
  );
});
