import assert from "node:assert/strict";
import {
  allSizes,
  parsePerftestArgs,
  parseSize,
  perftestUsage,
  UsageError,
} from "../tools/lib/perftest_args.ts";
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

Deno.test("perftest args: defaults follow perftest per test", () => {
  const lat = parsePerftestArgs(["ib_write_lat"]);
  assert.deepEqual([lat.sizes, lat.iters, lat.txDepth, lat.connection, lat.mode], [
    [2],
    1000,
    1,
    "RC",
    "native",
  ]);
  assert.equal(lat.inlineSize, undefined);
  const bw = parsePerftestArgs(["ib_read_bw"]);
  assert.deepEqual([bw.sizes, bw.iters, bw.txDepth, bw.kind, bw.verb], [
    [65536],
    5000,
    128,
    "bw",
    "read",
  ]);
  const at = parsePerftestArgs(["ib_atomic_lat"]);
  assert.deepEqual([at.sizes, at.atomicType], [[8], "FETCH_AND_ADD"]);
});

Deno.test("perftest args: short and long flags, sizes with K/M, -a", () => {
  const c = parsePerftestArgs([
    "ib_send_bw",
    "--size=64K",
    "-n",
    "100",
    "-m",
    "1024",
    "-I",
    "128",
    "-e",
    "-F",
    "-c",
    "UD",
    "-t",
    "32",
    "-q",
    "4",
    "--report_gbits",
    "--mode",
    "split",
    "--profile",
    "modern-gen5-ndr",
    "--seed",
    "9",
    "--json",
  ]);
  assert.deepEqual(c.sizes, [65536]);
  assert.equal(c.iters, 100);
  assert.equal(c.mtu, 1024);
  assert.equal(c.inlineSize, 128);
  assert.equal(c.events, true);
  assert.equal(c.cpuFreqF, true);
  assert.equal(c.connection, "UD");
  assert.equal(c.txDepth, 32);
  assert.equal(c.qps, 4);
  assert.equal(c.reportGbits, true);
  assert.equal(c.mode, "split");
  assert.equal(c.profile, "modern-gen5-ndr");
  assert.equal(c.seed, 9);
  assert.equal(c.json, true);
  assert.equal(parseSize("1M"), 1048576);
  const all = parsePerftestArgs(["ib_write_bw", "-a"]);
  assert.deepEqual(all.sizes, allSizes());
  assert.equal(all.sizes[0], 2);
  assert.equal(all.sizes.at(-1), 2 ** 23);
  assert.equal(all.sizes.length, 23);
  // perftest: tx depth never exceeds the iteration count.
  assert.equal(parsePerftestArgs(["ib_write_bw", "-n", "10"]).txDepth, 10);
});

Deno.test("perftest args: perftest's rejected combinations", () => {
  assert.match(
    usageError(["ib_read_lat", "-c", "UC"]),
    /UC connection not possible in READ\/ATOMIC/,
  );
  assert.match(usageError(["ib_atomic_bw", "-c", "UC"]), /UC connection not possible/);
  assert.match(usageError(["ib_write_bw", "-c", "UD"]), /UD connection only possible in SEND/);
  assert.match(usageError(["ib_read_lat", "-c", "UD"]), /UD connection only possible in SEND/);
  assert.match(usageError(["ib_write_lat", "-e"]), /events feature not available on WRITE/);
  assert.match(
    usageError(["ib_read_bw", "-I", "64"]),
    /inline feature not available on READ\/Atomic/,
  );
  assert.match(usageError(["ib_atomic_lat", "-s", "16"]), /cannot be changed for Atomic/);
  assert.match(usageError(["ib_atomic_lat", "-a"]), /cannot be changed for Atomic/);
  assert.match(usageError(["ib_write_lat", "-q", "2"]), /multiple QPs only available on bw tests/);
  assert.match(usageError(["ib_send_lat", "-A", "CMP_AND_SWAP"]), /not running the atomic/);
  assert.match(usageError(["ib_write_bw", "-s", "64", "-s", "128"]), /duplicated flag -s\/--size/);
  // Accepted where perftest accepts them.
  assert.equal(parsePerftestArgs(["ib_send_lat", "-c", "UD"]).connection, "UD");
  assert.equal(parsePerftestArgs(["ib_write_bw", "-c", "UC"]).connection, "UC");
  assert.equal(parsePerftestArgs(["ib_read_lat", "-e"]).events, true);
});

Deno.test("perftest args: bad values and unknown flags name the flag", () => {
  assert.match(usageError(["ib_write_lat", "--bogus"]), /unknown flag '--bogus'/);
  assert.match(usageError(["ib_write_lat", "-Z"]), /unknown flag '-Z'/);
  assert.match(usageError(["ib_write_lat", "-s", "abc"]), /-s\/--size: 'abc' is not a size/);
  assert.match(
    usageError(["ib_write_lat", "-s", "0"]),
    /-s\/--size: message size should be between/,
  );
  assert.match(usageError(["ib_write_lat", "-n", "4"]), /-n\/--iters: 4 is out of range \(5\.\./);
  assert.match(
    usageError(["ib_write_lat", "-n", "1e3"]),
    /-n\/--iters: '1e3' is not a whole number/,
  );
  assert.match(usageError(["ib_write_lat", "-m", "3000"]), /-m\/--mtu: invalid MTU 3000/);
  assert.match(usageError(["ib_write_bw", "-t", "20000"]), /-t\/--tx-depth: 20000 is out of range/);
  assert.match(
    usageError(["ib_write_lat", "-I", "2000"]),
    /-I\/--inline_size: 2000 is out of range/,
  );
  assert.match(
    usageError(["ib_send_lat", "-c", "XRC"]),
    /-c\/--connection: 'XRC' is not a connection/,
  );
  assert.match(usageError(["ib_write_lat", "--mode", "hvm"]), /--mode: 'hvm' is not a mode/);
  assert.match(usageError(["ib_write_lat", "--seed", "-1"]), /--seed/);
  assert.match(
    usageError(["ib_write_lat", "--device", "sim"]),
    /--device: 'sim' is not understood/,
  );
  assert.match(
    usageError(["ib_write_lat", "--device", "real", "--mode", "bypass"]),
    /--device real with --mode bypass/,
  );
  assert.match(usageError(["ib_write_lat", "-s"]), /flag '-s' needs a value/);
  assert.match(usageError(["ib_write_lat", "--json=1"]), /flag '--json' takes no value/);
  assert.match(usageError(["ib_write_lat", "10.0.0.1"]), /unexpected argument '10\.0\.0\.1'/);
  assert.match(usageError(["ib_nope_lat"]), /unknown test 'ib_nope_lat'/);
  assert.match(usageError([]), /missing test name/);
  assert.deepEqual(parsePerftestArgs(["ib_write_lat", "--device", "real:mlx5_0"]).device, {
    real: true,
    name: "mlx5_0",
  });
});

Deno.test("perftest usage: per-test flags only where they apply", () => {
  const read = perftestUsage("ib_read_lat");
  assert.ok(!read.includes("--inline_size"));
  assert.ok(read.includes("--events"));
  const write = perftestUsage("ib_write_bw");
  assert.ok(write.includes("--report_gbits") && write.includes("--qp"));
  assert.ok(!write.includes("--events"));
  assert.ok(parsePerftestArgs(["ib_write_lat", "-h"]).help);
  assert.ok(parsePerftestArgs(["--help"]).help);
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
  assert.throws(() => parseDevinfoArgs(["-i", "0"]), /-i\/--ib-port: 0 is out of range/);
  assert.throws(() => parseDevinfoArgs(["--frob"]), /unknown flag '--frob'/);
  const p = parsePaperArgs(["--quick", "--out", "out/x", "--seed", "3", "--modes", "split,native"]);
  assert.deepEqual([p.quick, p.out, p.seed, p.modes], [true, "out/x", 3, ["native", "split"]]);
  assert.deepEqual(parsePaperArgs([]).modes, ["native", "bypass", "split"]);
  assert.throws(() => parsePaperArgs(["--modes", "native,hvm"]), /--modes: 'hvm' is not a mode/);
  assert.throws(() => parsePaperArgs(["extra"]), /unexpected argument 'extra'/);
});
