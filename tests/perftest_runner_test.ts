// perftest's loops on the simulated cluster: what each flag changes in a run,
// with few iterations (no -a sweeps here).
import assert from "node:assert/strict";
import { parsePerftestArgs } from "../tools/lib/perftest_args.ts";
import { pointCost, runPerftest } from "../tools/lib/perftest_runner.ts";
import { formatResult, formatRow } from "../tools/lib/perftest_format.ts";
import { ToolError } from "../tools/lib/api.ts";
import { resolveProfile } from "../mod.ts";

const run = (...argv: string[]) => runPerftest(parsePerftestArgs(argv));

Deno.test("perftest runner: rows are handed over size by size, before the run ends", async () => {
  const events: string[] = [];
  const c = parsePerftestArgs(["ib_send_lat", "-c", "UD", "-a", "-n", "5"]);
  const r = await runPerftest(c, {
    onPreamble: () => events.push("preamble"),
    onRow: (res, i) => events.push(`row ${res.lat[i].bytes}`),
  });
  events.push("done");
  // UD with -a: 2 … the MTU, as perftest's send tests.
  assert.deepEqual(events, [
    "preamble",
    ...[2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048].map((s) => `row ${s}`),
    "done",
  ]);
  assert.equal(r.lat.length, 11);
});

Deno.test("perftest runner: perftest's sample counts (read/atomic take iters posts)", async () => {
  const [read, atomic, write] = await Promise.all([
    run("ib_read_lat", "-n", "7", "-U"),
    run("ib_atomic_lat", "-n", "7", "-A", "CMP_AND_SWAP"),
    run("ib_write_lat", "-n", "7", "-U"),
  ]);
  // iters timestamps → iters - 1 deltas, as perftest's measure_cnt.
  assert.equal(read.lat[0].unsorted?.length, 6);
  assert.equal(write.lat[0].unsorted?.length, 6);
  assert.equal(atomic.lat[0].iterations, 7);
  assert.equal(atomic.atomicType, "CMP_AND_SWAP");
  // Read/atomic report a full round trip, write half of one.
  assert.ok(read.lat[0].tTypical > write.lat[0].tTypical);
});

Deno.test("perftest runner: MTU and UD size checks against the port, as perftest", async () => {
  const m = await run("ib_write_lat", "-n", "5", "-m", "1500");
  assert.equal(m.mtu, 2048); // warned about (stderr) and replaced by the active MTU
  const big = await run("ib_write_lat", "-n", "5", "-m", "4096");
  assert.equal(big.mtu, 2048);
  assert.deepEqual(big.notes, [
    "Requested mtu is higher than active mtu ",
    "Changing to active mtu - 4",
  ]);
  // UD: an explicit size above the MTU is an error, the default size is lowered.
  await assert.rejects(() => run("ib_send_bw", "-c", "UD", "-s", "4096", "-n", "5"), (e) => {
    assert.ok(e instanceof ToolError);
    // check_mtu's line, then the main's (perftest 4.5-0.17 src/send_bw.c: " Couldn't get
    // context for the device" before return FAILURE).
    assert.match(
      e.message,
      /Max message size in UD cannot be greater than MTU \(2048\); Couldn't get context for the device$/,
    );
    return true;
  });
  const ud = await run("ib_send_bw", "-c", "UD", "-n", "20");
  assert.equal(ud.bw[0].bytes, 2048);
  await assert.rejects(
    () => run("ib_write_lat", "-n", "5", "-d", "mlx5_0"),
    /IB device mlx5_0 not found/,
  );
  await assert.rejects(
    () => run("ib_write_lat", "-n", "5", "-i", "2"),
    // set_link_layer, check_link, then write_lat.c's main.
    /Unable to query port 2 attributes .*; Couldn't set the link layer; Couldn't get context for the device$/,
  );
});

Deno.test("perftest runner: -b sums both directions, -N and above 20000 no peak, -Q and -l", async () => {
  const [uni, bi, noPeak, mod, list] = await Promise.all([
    run("ib_write_bw", "-s", "4096", "-n", "200"),
    run("ib_write_bw", "-s", "4096", "-n", "200", "-b"),
    run("ib_write_bw", "-s", "4096", "-n", "200", "-N"),
    run("ib_write_bw", "-s", "4096", "-n", "200", "-Q", "10"),
    run("ib_write_bw", "-s", "1024", "-n", "200", "-l", "4"),
  ]);
  assert.ok(bi.bwRemote && bi.bwRemote.length === 1);
  const sum = bi.bw[0].inUnits.avgMB + bi.bwRemote![0].inUnits.avgMB;
  assert.ok(
    sum > 1.5 * uni.bw[0].inUnits.avgMB,
    `bidirectional ${sum} vs ${uni.bw[0].inUnits.avgMB}`,
  );
  assert.match(formatRow(bi, bi.bw[0], bi.bwRemote![0]), new RegExp(`${sum.toFixed(2)}`));
  assert.equal(noPeak.bw[0].peakBytesPerSec, 0);
  assert.equal(mod.info?.cqMod, 10);
  assert.equal(list.info?.postList, 4);
  assert.equal(list.info?.cqMod, 4);
  for (const r of [uni, mod, list]) {
    assert.ok(r.bw[0].peakBytesPerSec >= r.bw[0].avgBytesPerSec * 0.99);
  }
});

Deno.test("perftest runner: -D runs for virtual seconds with perftest's margins", async () => {
  // A slow fabric keeps a virtual second cheap to simulate: 1 Gb/s lanes' worth of 1x, 200 µs cables.
  const slow = resolveProfile({
    base: "pcix-sdr-2006",
    name: "slow-cables",
    link: { width: 1, laneSignalBytesPerSec: "100 Mb/s", propagationNs: "200 us" },
  });
  const dur = (...argv: string[]) => runPerftest(parsePerftestArgs(argv), { profile: slow });
  const r = await dur("ib_write_bw", "-s", "65536", "-D", "3", "-f", "1");
  // 8 MB/s of payload for the 1 s sampled between the margins: ~120 messages of 64 KiB.
  const n = r.bw[0].iterations;
  assert.ok(n > 80 && n < 160, `${n} completions sampled`);
  assert.equal(r.bw[0].peakBytesPerSec, 0);
  assert.ok(
    Math.abs(r.bw[0].inUnits.avgMB - (65536 * n) / 1048576) < 0.5,
    `${r.bw[0].inUnits.avgMB}`,
  );
  // Send tests too: the receiver keeps receiving until the sender has drained.
  const send = await dur("ib_send_bw", "-s", "4096", "-D", "1", "-f", "0");
  assert.ok(send.bw[0].iterations > 100, `${send.bw[0].iterations} sends`);
  // --run_infinitely: a row per -D interval, as perftest's print thread.
  const rows: number[] = [];
  await runPerftest(parsePerftestArgs(["ib_write_bw", "--run_infinitely", "-D", "1", "-b"]), {
    profile: slow,
    infiniteReports: 3,
    onRow: (r, i) => rows.push(r.bw[i].inUnits.avgMB),
  });
  assert.equal(rows.length, 3);
  // -b doubles the size in perftest's infinite report: about twice 8 MB/s.
  for (const mb of rows) assert.ok(mb > 12 && mb < 20, `${rows}`);
  // --report-per-port with --run_infinitely (a DURATION run to force_dependecies): accepted, and
  // each row's per-port columns are 0, as run_iter_bw_infinitely never counts iters_per_port.
  const ports: unknown[] = [];
  await runPerftest(
    parsePerftestArgs(["ib_write_bw", "--run_infinitely", "-D", "1", "-O", "--report-per-port"]),
    {
      profile: slow,
      infiniteReports: 2,
      onRow: (r, i) => ports.push(r.bw[i].perPort?.map((p) => [p.avgMB, p.msgRateMpps])),
    },
  );
  assert.deepEqual(ports, [[[0, 0], [0, 0]], [[0, 0], [0, 0]]]);
  const lat = await dur("ib_atomic_lat", "-D", "1", "-f", "0");
  assert.ok(lat.lat[0].tps! > 1000 && lat.lat[0].tps! < 2600, `tps ${lat.lat[0].tps}`);
  assert.ok(Math.abs(lat.lat[0].tAvg * lat.lat[0].tps! - 1e6) < 1, "t_avg × tps = 1 s");
});

Deno.test("perftest runner: -x adds a GRH; -S, --pkey_index reach the QPs; -W counts", async () => {
  const r = await run(
    "ib_send_lat",
    "-n",
    "10",
    "-x",
    "0",
    "-S",
    "3",
    "-W",
    "counters/port_xmit_packets,xen/hypercalls",
  );
  assert.equal(r.info?.gidIndex, 0);
  assert.ok(r.info?.local[0].gid && r.info.local[0].gid.length === 16);
  const c = r.counters![0];
  assert.deepEqual(c.map((x) => x.name), ["counters/port_xmit_packets", "xen/hypercalls"]);
  assert.equal(c[0].value, 20); // 10 SENDs and 10 ACKs leave the client's port
  assert.equal(c[1].value, 0); // bare metal
  // set_up_connection's failure, then the programs' lines (perftest 4.5-0.17 send_lat.c's
  // send_set_up_connection and main; read_bw.c's main).
  await assert.rejects(
    () => run("ib_send_lat", "-n", "5", "-x", "3"),
    /the port has 1 GID \(ibv_query_gid fails\); Unable to set up my IB connection parameters; Unable to set up socket connection$/,
  );
  await assert.rejects(
    () => run("ib_read_bw", "-n", "5", "-x", "3"),
    /the port has 1 GID \(ibv_query_gid fails\); Unable to set up socket connection$/,
  );
});

Deno.test("perftest runner: -W counts in guests too: the port's packets and the Xen host's crossings", async () => {
  const w = ["-W", "counters/port_xmit_packets,xen/hypercalls,xen/backend_requests"];
  const bypass = await run("ib_send_lat", "-n", "10", "--mode", "bypass", ...w);
  const split = await run("ib_send_lat", "-n", "10", "--mode", "split", ...w);
  const values = (r: typeof bypass) => r.counters![0].map((x) => x.value);
  // 10 SENDs and 10 ACKs leave the client's port; the bypass fast path crosses nothing.
  assert.deepEqual(values(bypass), [20, 0, 0]);
  const [pkts, hcalls, backend] = values(split);
  assert.equal(pkts, 20);
  assert.ok(hcalls > 0 && backend >= 10, `split crosses dom0: ${hcalls} hypercalls, ${backend}`);
});

Deno.test("perftest runner: an unknown -W counter fails where perftest's counters_open does", async () => {
  // perftest 4.5-0.17: counters_alloc (the parser) takes any name; create_comm_struct's
  // counters_open fails after check_link, then the main's line. So the parser's own checks and
  // check_link's come first.
  assert.equal(parsePerftestArgs(["ib_write_lat", "-W", "bogus"]).counters[0], "bogus");
  assert.throws(() => parsePerftestArgs(["ib_write_lat", "-W", "bogus", "-n", "1"]), {
    message: "-n/--iters: Iteration num should be between 5 and 100000000",
  });
  await assert.rejects(
    () => run("ib_write_lat", "-n", "5", "-W", "bogus"),
    /-W\/--report-counters: no counter 'bogus' here \(known: .*\); Unable to access performance counters; Unable to create RDMA_CM resources$/,
  );
  await assert.rejects(
    () => run("ib_write_lat", "-n", "5", "-W", "bogus", "-i", "2"),
    /Unable to query port 2 attributes/,
  );
});

Deno.test("perftest runner: every seed its own PSNs and buffers, the largest seeds too", async () => {
  const psns = async (seed: number) => {
    const r = await run("ib_write_lat", "-n", "5", "--noise", "off", "--seed", String(seed));
    return [...r.info!.local, ...r.info!.remote].map((e) => e.psn);
  };
  // Two seeds whose product with the hash's multiplier rounded to the same double.
  assert.notDeepEqual(await psns(4294602504), await psns(4294967293));
  assert.notDeepEqual(await psns(1), await psns(2));
  assert.deepEqual(await psns(4294967295), await psns(4294967295));
});

Deno.test("perftest runner: QP i's buffer is (QPs + i) × BUFF_SIZE on, as perftest's my_dest[i].vaddr", async () => {
  // BUFF_SIZE(size, cycle_buffer) is the larger of the largest message and the page
  // (perftest_resources.h), unrounded: 64 KiB apart at the default size, 5000 bytes at -s 5000.
  const gaps = async (...args: string[]) => {
    const r = await run(...args, "--noise", "off");
    const va = r.info!.local.map((e) => Number(e.vaddr));
    return va.slice(1).map((v, i) => v - va[i]);
  };
  assert.deepEqual(await gaps("ib_write_bw", "-q", "3", "-n", "5"), [65536, 65536]);
  assert.deepEqual(await gaps("ib_read_bw", "-q", "2", "-s", "5000", "-n", "5"), [5000]);
  assert.deepEqual(await gaps("ib_send_bw", "-c", "UD", "-q", "2", "-s", "100", "-n", "5"), [4096]);
});

Deno.test("perftest runner: --pcap captures the test's packets without changing its figures", async () => {
  const c = parsePerftestArgs(["ib_write_lat", "-n", "20", "-s", "64"]);
  const plain = await runPerftest(c);
  const tapped = await runPerftest(c, { capture: { format: "ib" } });
  assert.deepEqual(tapped.lat, plain.lat);
  // 20 writes each way, each acknowledged: 80 packets after the 24-byte header.
  assert.ok(tapped.pcap && tapped.pcap.length > 24);
});

Deno.test("perftest runner: -O spreads the QPs over both ports; two links double a link-bound run", async () => {
  // A dual-port 200 Gb/s (HDR-rate) ConnectX-7-class card on PCIe Gen5 x16: one port's link
  // (25 GB/s) is the bottleneck, PCIe (50 GB/s) is not.
  const hdr = resolveProfile({
    base: "modern-gen5-ndr",
    name: "modern-hdr-dual",
    link: { laneSignalBytesPerSec: 53.125e9 / 8 },
  });
  const one = await runPerftest(parsePerftestArgs(["ib_write_bw", "-q", "2", "-n", "300"]), {
    profile: hdr,
  });
  const two = await runPerftest(parsePerftestArgs(["ib_write_bw", "-O", "-n", "300"]), {
    profile: hdr,
  });
  assert.equal(two.qps, 2); // -O doubles -q 1
  assert.equal(two.info!.dualport, true);
  // perftest's set_up_connection: the first half of the QPs on port 1, the second on port 2,
  // each address line with its own port's LID (the SM gave each port one).
  const [l1, l2] = two.info!.local.map((a) => a.lid);
  const [r1, r2] = two.info!.remote.map((a) => a.lid);
  assert.ok(l1 !== l2 && r1 !== r2, `LIDs ${l1} ${l2} ${r1} ${r2}`);
  assert.equal(new Set(one.info!.local.map((a) => a.lid)).size, 1);
  const ratio = two.bw[0].avgBytesPerSec / one.bw[0].avgBytesPerSec;
  assert.ok(ratio > 1.9 && ratio < 2.05, `dual-port / one port = ${ratio}`);
  // The paper's class: both ports behind 64-bit/133 MHz PCI-X, which one 4X SDR port fills.
  const [p1, p2] = await Promise.all([
    run("ib_write_bw", "-q", "2", "-n", "200"),
    run("ib_write_bw", "-O", "-n", "200"),
  ]);
  const pcix = p2.bw[0].avgBytesPerSec / p1.bw[0].avgBytesPerSec;
  assert.ok(pcix > 0.97 && pcix < 1.03, `PCI-X-bound dual-port / one port = ${pcix}`);
});

Deno.test("perftest runner: --report-per-port prints each port's share in perftest's wide table", async () => {
  // 1X SDR links (2 Gb/s of data each) keep a one-second -D run short.
  const slow = resolveProfile({ base: "pcix-sdr-2006", name: "pcix-1x", link: { width: 1 } });
  const c = parsePerftestArgs(["ib_write_bw", "-O", "-D", "1", "--report-per-port"]);
  const r = await runPerftest(c, { profile: slow });
  const row = r.bw[0];
  const [a, b] = row.perPort!;
  // Each port carries half of what was counted; both shares add up to the average.
  assert.ok(Math.abs(a.avgMB + b.avgMB - row.inUnits.avgMB) < 1e-6 * row.inUnits.avgMB);
  assert.ok(Math.abs(a.avgMB / b.avgMB - 1) < 0.01, `${a.avgMB} vs ${b.avgMB}`);
  // Link-bound: each port near the 1X SDR data rate (250 MB/s = 238 MiB/s) less headers.
  assert.ok(a.avgMB > 200 && a.avgMB < 238.5, `port 1 ${a.avgMB} MB/sec`);
  const text = formatResult(r).split("\n");
  const head = text.findIndex((l) => l.startsWith(" #bytes"));
  assert.equal(text[head - 1], "-".repeat(163)); // RESULT_LINE_PER_PORT
  assert.ok(
    text[head].endsWith(
      "MsgRate[Mpps]   BW Port1[MB/sec]   MsgRate Port1[Mpps]   BW Port2[MB/sec]   MsgRate Port2[Mpps]",
    ),
    text[head],
  );
  assert.equal(text.at(-1), "-".repeat(163));
  const fields = text[head + 1].trim().split(/\s+/).map(Number);
  assert.equal(fields.length, 9);
  assert.deepEqual(fields[2], 0); // no peak in duration mode
  assert.ok(Math.abs(fields[5] - a.avgMB) < 0.01 && Math.abs(fields[7] - b.avgMB) < 0.01);
  assert.ok(text.includes(" Dual-port       : ON\t\tDevice         : mthca0"));
});

/** Two-worker list scheduling as the pool does it (hinted tasks first, largest first; each point's time ∝ its size): the makespan. */
function makespan(sizes: number[], costs: number[], jobs: number): number {
  const order = sizes.map((_, i) => i).sort((a, b) => costs[b] - costs[a]);
  const free = new Array<number>(jobs).fill(0);
  for (const i of order) {
    const w = free.indexOf(Math.min(...free));
    free[w] += sizes[i];
  }
  return Math.max(...free);
}

Deno.test("perftest runner: on workers the large points of -a start first, the rest in perftest's order", () => {
  // -a's points after the first (run in the tool's thread): 4 B … 8 MiB.
  const rest = Array.from({ length: 22 }, (_, i) => 4 << i);
  const two = rest.map((s) => pointCost(s, rest, 2));
  assert.deepEqual(rest.filter((_, i) => two[i] > 0), [8 << 20]);
  const four = rest.map((s) => pointCost(s, rest, 4));
  assert.deepEqual(rest.filter((_, i) => four[i] > 0), [4 << 20, 8 << 20]);
  // In perftest's order the 8 MiB point starts last and runs alone at the end.
  const inOrder = makespan(rest, rest.map(() => 0), 2);
  const hinted = makespan(rest, two, 2);
  assert.equal(hinted, 8 << 20); // the largest point alone, the others beside it
  assert.ok(inOrder > 1.3 * hinted, `${inOrder} vs ${hinted}`); // 4/3 of it
  // Duration mode: every point runs as long, no hint.
  assert.deepEqual(rest.map((s) => pointCost(s, rest, 2, 10)), rest.map(() => 0));
});

Deno.test("perftest runner: send -b -D is one report of this side's sends and receives (send_bw.c's run_iter_bi)", async () => {
  const slow = resolveProfile({
    base: "pcix-sdr-2006",
    name: "slow-cables",
    link: { width: 1, laneSignalBytesPerSec: "100 Mb/s", propagationNs: "200 us" },
  });
  const dur = (...argv: string[]) => runPerftest(parsePerftestArgs(argv), { profile: slow });
  const [uni, bi] = await Promise.all([
    dur("ib_send_bw", "-s", "4096", "-D", "1", "-f", "0"),
    dur("ib_send_bw", "-s", "4096", "-D", "1", "-f", "0", "-b"),
  ]);
  // No exchange and no sum: print_report_bw prints this side's report alone …
  assert.equal(bi.bwRemote, undefined);
  // … whose iters counted both directions' completions: about twice one direction's.
  const ratio = bi.bw[0].iterations / uni.bw[0].iterations;
  assert.ok(ratio > 1.8 && ratio < 2.2, `${bi.bw[0].iterations} vs ${uni.bw[0].iterations}`);
  const row = formatRow(bi, bi.bw[0]).trim().split(/\s+/);
  assert.equal(Number(row[1]), bi.bw[0].iterations); // the #iterations column says so
  assert.ok(Math.abs(Number(row[4]) - bi.bw[0].iterations / 1e6) < 1e-6, row.join(" ")); // per second
  // Write tests still add the peer's report (each side ran run_iter_bw).
  const w = await dur("ib_write_bw", "-s", "4096", "-D", "1", "-f", "0", "-b");
  assert.ok(w.bwRemote?.length === 1);
});

Deno.test("perftest runner: send -b -N ends each side when its sends and its receives are done (run_iter_bi)", async () => {
  // run_iter_bi loops while totccnt < tot_iters || totrcnt < tot_iters and takes
  // tcompleted[0] after the loop: with no peak, a side's span ends with the later of its own
  // last send completion and its last receive, which is the peer's last message arriving.
  const r = await run("ib_send_bw", "-s", "65536", "-n", "300", "-b", "-N");
  const mine = r.bw[0].inUnits.avgMB, theirs = r.bwRemote![0].inUnits.avgMB;
  // Both spans end within a message of each other: the two averages nearly agree.
  assert.ok(Math.abs(mine - theirs) / theirs < 0.02, `${mine} vs ${theirs}`);
  // The server posted nothing before its first receive; the run still completes every send.
  assert.equal(r.bw[0].iterations, 300);
});

Deno.test("perftest runner: --report-both's blocks come with a plain -b run only, not -a", async () => {
  const [one, all] = await Promise.all([
    run("ib_write_bw", "-b", "--report-both", "-s", "64", "-n", "10"),
    run("ib_write_bw", "-b", "--report-both", "-a", "-n", "5", "--jobs", "1"),
  ]);
  assert.equal(one.info?.reportBoth, true);
  assert.match(formatResult(one), /\n Local results: \n/);
  // write_bw.c's RUN_ALL branch prints each size's sum and nothing else.
  assert.equal(all.info?.reportBoth, false);
  const text = formatResult(all);
  assert.doesNotMatch(text, /results:/);
  assert.equal(text.split("\n").filter((l) => /^ \d+ /.test(l)).length, 23);
});

Deno.test("perftest runner: atomic_bw keeps its plain rules and head with --report-per-port", async () => {
  const slow = resolveProfile({
    base: "pcix-sdr-2006",
    name: "slow-cables",
    link: { width: 1, laneSignalBytesPerSec: "100 Mb/s", propagationNs: "200 us" },
  });
  const c = parsePerftestArgs(["ib_atomic_bw", "-O", "-D", "1", "-f", "0", "--report-per-port"]);
  const r = await runPerftest(c, { profile: slow });
  const text = formatResult(r).split("\n");
  const head = text.findIndex((l) => l.startsWith(" #bytes"));
  // atomic_bw.c prints RESULT_LINE and RESULT_FMT, not the per-port ones …
  assert.equal(text[head - 1], "-".repeat(87));
  assert.ok(text[head].endsWith("BW average[MB/sec]   MsgRate[Mpps]"), text[head]);
  assert.equal(text.at(-1), "-".repeat(87));
  // … while print_full_bw_report prints the row in REPORT_FMT_PER_PORT.
  assert.equal(text[head + 1].trim().split(/\s+/).length, 9);
});

Deno.test("perftest runner: device checks in perftest's order (vector, ports, reads, then MTU)", async () => {
  // check_link's outstanding-reads rule prints its separator before check_mtu's MTU lines.
  const stderr: string[] = [];
  const r = await runPerftest(
    parsePerftestArgs(["ib_read_bw", "-o", "100", "-m", "4096", "-n", "5", "-s", "64"]),
    { onStderr: (l) => stderr.push(l) },
  );
  assert.deepEqual(r.notes, [
    "-".repeat(87),
    "Requested mtu is higher than active mtu ",
    "Changing to active mtu - 4",
  ]);
  assert.deepEqual(stderr, [
    " Number of outstanding reads is above max = 4",
    " Changing to that max value",
  ]);
  // verify_params_with_device_context checks the vector before check_link looks at the port.
  await assert.rejects(
    () => run("ib_send_lat", "-e", "-X", "5", "-i", "3", "-n", "5"),
    /-X\/--vector: Completion vector specified is invalid; Max completion vector = 0$/,
  );
  // write_lat.c, write_bw.c and atomic_bw.c then say " Couldn't get context for the device";
  // send_lat.c (above) returns FAILURE silently.
  await assert.rejects(
    () => run("ib_atomic_bw", "-e", "-X", "5", "-n", "5"),
    /Max completion vector = 0; Couldn't get context for the device$/,
  );
});

Deno.test("perftest runner: a parser warning's separator goes to stdout, its text to stderr", async () => {
  // force_dependecies: printf(RESULT_LINE); fprintf(stderr, " CPU Utilization works only …").
  const stderr: string[] = [];
  const r = await runPerftest(
    parsePerftestArgs(["ib_write_bw", "--cpu_util", "-n", "5", "-s", "64"]),
    { onStderr: (l) => stderr.push(l) },
  );
  assert.deepEqual(r.notes, ["-".repeat(87)]);
  assert.deepEqual(stderr, [" CPU Utilization works only with Duration mode."]);
  // The same for UD's inline clamp.
  // … and it is printed even though the run then fails (the QP cannot take 884 bytes inline).
  const ud: string[] = [];
  await assert.rejects(() =>
    runPerftest(parsePerftestArgs(["ib_send_lat", "-c", "UD", "-I", "900", "-n", "5"]), {
      onStderr: (l) => ud.push(l),
    })
  );
  assert.deepEqual(ud, ["Setting inline size to 884 (Max inline size in UD)"]);
});

Deno.test("perftest runner: a CQ or QP the device refuses fails with ctx_init's lines", async () => {
  // verify_params_with_device_context lets -X equal to num_comp_vectors through (`>`);
  // ibv_create_cq then fails: create_reg_cqs' "Couldn't create CQ", the program's
  // " Couldn't create IB resources".
  await assert.rejects(() => run("ib_send_lat", "-e", "-X", "1", "-n", "5"), {
    name: "ToolError",
    message: /^Couldn't create CQ\. Couldn't create IB resources \(EINVAL: /,
  });
  // ctx_qp_create returns NULL: "Unable to create QP.", create_qp_main's caller
  // "Failed to create QP.", then the program's line.
  await assert.rejects(() => run("ib_send_lat", "-c", "UD", "-I", "900", "-n", "5"), {
    name: "ToolError",
    message: /^Unable to create QP\. Failed to create QP\. Couldn't create IB resources \(EINVAL: /,
  });
});

Deno.test("perftest runner: each receive template reposts until it has posted iters (SRQ, recv_post_list)", async () => {
  // ctx_set_recv_wqes posts rx_depth / recv_post_list lists (divided among the QPs with an
  // SRQ) per QP template, and run_iter_bw_server reposts the template a completion's wr_id
  // names while posted_per_qp + recv_post_list <= iters: iters × qps receives in all. On UD a
  // message finding no receive is dropped, so a receiver that posts fewer never finishes.
  // -q 2 over one SRQ (rx_depth 6, 3 per template): 12 messages, 12 receives.
  const srq = await run("ib_send_bw", "-c", "UD", "--use-srq", "-q", "2", "-n", "6", "-s", "64");
  assert.equal(srq.bw[0].iterations, 12);
  // rx_depth 10 in lists of 4: 8 posted, then 4 and 4 more (16 - 8 is a multiple of 4).
  const lists = await run(
    "ib_send_bw",
    ...["-c", "UD", "--recv_post_list", "4", "-n", "16", "-r", "10", "-s", "64"],
  );
  assert.equal(lists.bw[0].iterations, 16);
});

Deno.test("perftest runner: --mmap prints pp_init_mmap's line before the header, once per MR", async () => {
  // perftest_resources.c create_single_mr → pp_init_mmap: "allocated mmap buffer of size %zu at
  // %p" with alloc_ctx's buff_size, INC(BUFF_SIZE(size, 4096), 64) * 2 * QPs (+ 64 on UD), after
  // check_link's and check_mtu's lines.
  const bytes = new Uint8Array(4096).fill(7);
  const r = await runPerftest(
    parsePerftestArgs(["ib_read_bw", "-o", "100", "-n", "5", "-s", "5000", "-q", "2"]),
    { mmapBytes: bytes, onStderr: () => {} },
  );
  assert.equal(r.notes.length, 2);
  assert.equal(r.notes[0], "-".repeat(87)); // check_link's outstanding-reads separator
  assert.match(r.notes[1], /^allocated mmap buffer of size 20224 at 0x[0-9a-f]+$/);
  const perQp = await runPerftest(
    parsePerftestArgs(["ib_send_bw", "-c", "UD", "-n", "5", "-q", "2", "--mr_per_qp"]),
    { mmapBytes: bytes, onStderr: () => {} },
  );
  assert.deepEqual(perQp.notes.map((n) => n.replace(/ at 0x[0-9a-f]+$/, "")), [
    "allocated mmap buffer of size 8256",
    "allocated mmap buffer of size 8256",
  ]);
  // Without --mmap, nothing.
  assert.deepEqual((await run("ib_read_bw", "-n", "5", "-s", "64")).notes, []);
});

Deno.test("perftest runner: with -e the send receiver takes every completion an event announced", async () => {
  // run_iter_bw_server (perftest_resources.c): after ctx_notify_events it polls in batches of
  // CTX_POLL_BATCH (16) `while (ne > 0)`, so completions beyond the first 16 need no new event.
  // Taking 16 per event left the rest unannounced once the senders stopped: a deadlock.
  const r = await run("ib_send_bw", "-e", "-n", "100", "-s", "2", "-q", "8");
  assert.equal(r.bw[0].iterations, 800);
});

Deno.test("perftest runner: with -e a native receiver whose arm lands after a CQE still wakes (no deadlock)", async () => {
  // The receiver arms (ibv_req_notify_cq) and then polls; a CQE that landed after its last poll
  // but before its arm reached the device must still raise an event (hca/cq.ts doorbell). Before,
  // the run stopped at t=68.1 ms: "deadlock … 'perftest-recv' (waiting on completion channel)".
  const r = await run("ib_send_bw", "-e", "-n", "1000", "-s", "64", "--mode", "native");
  assert.equal(r.bw[0].iterations, 1000);
});
