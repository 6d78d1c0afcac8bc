// The tools end to end on the simulated cluster, as subprocesses, in every
// mode: native, bypass and split guests.
import assert from "node:assert/strict";
import { svgProblems } from "../tools/lib/svg_check.ts";
import { runTool } from "./support/tool.ts";

const tool = runTool;

Deno.test("perftest end to end: perftest's table, deterministic, sensible, per mode", async () => {
  const args = ["ib_write_lat", "-n", "50", "-s", "64", "--seed", "3"];
  const small = ["ib_write_lat", "-n", "50", "-s", "2", "--json"];
  const [a, b, json, bw, bypass, split] = await Promise.all([
    tool("perftest.ts", args),
    tool("perftest.ts", args),
    tool("perftest.ts", small),
    tool("perftest.ts", [
      "ib_write_bw",
      "-n",
      "200",
      "-s",
      "65536",
      "--report_gbits",
      "--wait_destroy",
      "1",
    ]),
    tool("perftest.ts", [...small, "--mode", "bypass"]),
    tool("perftest.ts", [...small, "--mode", "split"]),
  ]);
  for (const r of [a, json, bw, bypass, split]) assert.equal(r.code, 0, r.err);
  assert.equal(a.out, b.out, "same seed, same output");
  assert.match(a.out, /RDMA_Write Latency Test/);
  assert.match(a.out, /^xenib: native \(bare metal\)/m);
  const row = a.out.split("\n").find((l) => /^\s*64\s+50\s/.test(l));
  assert.ok(row, a.out);
  const typical64 = Number(row.trim().split(/\s+/)[4]);
  const j = JSON.parse(json.out) as { results: { bytes: number; tTypical: number }[] };
  const typical2 = j.results[0].tTypical;
  // A 2006-class HCA: a few microseconds, and 64 B costs no less than 2 B.
  assert.ok(typical2 > 1 && typical2 < 20, `2 B latency ${typical2} µs`);
  assert.ok(typical64 >= typical2, `${typical64} < ${typical2}`);
  // Bypass keeps native latency, split pays dom0 trips.
  for (const [r, mode] of [[bypass, "bypass"], [split, "split"]] as const) {
    const jr = JSON.parse(r.out) as { mode: string; results: { tTypical: number }[] };
    assert.equal(jr.mode, mode);
    const t = jr.results[0].tTypical;
    if (mode === "bypass") assert.ok(Math.abs(t - typical2) / typical2 < 0.05, `bypass ${t} µs`);
    else assert.ok(t > typical2 * 1.1, `split ${t} µs vs native ${typical2} µs`);
  }
  assert.match(bw.out, /BW average\[Gb\/sec\]/);
  const bwRow = bw.out.split("\n").find((l) => /^\s*65536\s+200\s/.test(l))!;
  const gbps = Number(bwRow.trim().split(/\s+/)[3]);
  // Below the 8 Gb/s data rate of a 4X SDR link, and not absurdly low.
  assert.ok(gbps > 2 && gbps <= 8, `bandwidth ${gbps} Gb/s`);
  // The closing dashes, then destroy_ctx's wait (write_bw.c prints them before destroy_ctx).
  assert.deepEqual(bw.out.trimEnd().split("\n").slice(-2), [
    "-".repeat(87),
    " Waiting 1 seconds before releasing resources...",
  ]);
});

Deno.test("perftest end to end: a run that fails in its loop has printed its header and head first", async () => {
  // write_bw.c prints the header, the addresses and the table's head before run_iter_bw; a
  // completion error then ends the program with status 1 (write_bw.c returns FAILURE).
  const r = await tool("perftest.ts", ["ib_write_bw", "--dlid", "99", "-n", "10", "-u", "5"]);
  assert.equal(r.code, 1);
  assert.match(r.out, /RDMA_Write BW Test/);
  assert.match(r.out, / remote address: LID 0x63 /);
  assert.match(r.out.trimEnd().split("\n").at(-1)!, /^ #bytes +#iterations +BW peak/);
  assert.match(r.err, /completion with error status RETRY_EXC_ERR/);
});

Deno.test("devinfo and scenario end to end", async () => {
  const [dev, run] = await Promise.all([
    tool("ibv_devinfo.ts", ["-v"]),
    tool("run.ts", ["tools/examples/two_guests.yaml", "--json"]),
  ]);
  assert.equal(dev.code, 0, dev.err);
  assert.match(dev.out, /^hca_id:\t\S+/m);
  assert.match(dev.out, /state:\s+PORT_ACTIVE \(4\)/);
  assert.match(dev.out, /max_qp:\s+\d+/);
  assert.equal(run.code, 0, run.err);
  const r = JSON.parse(run.out) as { workload: { kind: string }[] };
  assert.deepEqual(r.workload.map((w) => w.kind), ["perftest", "perftest", "alltoall"]);
});

// rdma-core devinfo.c: each port block ends with an empty line ("\n" after the port loop's
// lines), -l ends its list with one, -i names only that port; a bad -i exits 4, a bad -d 255.
Deno.test("devinfo end to end: ibv_devinfo's exact output ends, -l, -i", async () => {
  const [all, list, port, bad, nodev, listFirst] = await Promise.all([
    tool("ibv_devinfo.ts", ["--mode", "split", "-v"]),
    tool("ibv_devinfo.ts", ["-l"]),
    tool("ibv_devinfo.ts", ["-i", "1", "--mode", "bypass"]),
    tool("ibv_devinfo.ts", ["-i", "2"]),
    tool("ibv_devinfo.ts", ["-d", "mlx4_0"]),
    // -l lists and returns inside devinfo.c's option loop: -d is never looked up.
    tool("ibv_devinfo.ts", ["-d", "mlx4_0", "-l"]),
  ]);
  for (const r of [all, list, port]) assert.equal(r.code, 0, r.err);
  // The port's one GID, subnet prefix + port GUID (node GUID + 1), closes the port block.
  const guid = /^\tnode_guid:\t\t\t(\S+)$/m.exec(all.out)![1];
  const portGuid = (BigInt(`0x${guid.replaceAll(":", "")}`) + 1n).toString(16).padStart(16, "0");
  const gid = `fe80:0000:0000:0000:${portGuid.match(/.{4}/g)!.join(":")}`;
  assert.ok(all.out.endsWith(`\t\t\tGID[  0]:\t\t${gid}\n\n`), JSON.stringify(all.out));
  assert.match(all.out, /^\tnum_comp_vectors:\t\t1$/m); // the guest's context, through dom0
  // mthca_query_device never sets max_ah: ibv_devinfo -v on an MT23108 prints 0.
  assert.match(all.out, /^\tmax_ah:\t\t\t\t0$/m);
  // devinfo.c prints local_ca_ack_delay, subnet_timeout and init_type_reply as the queries answer
  // them: no ACK coalescing (code 0), PortInfo:SubnetTimeOut as the SM set it (18), no
  // InitTypeReply.
  assert.match(all.out, /^\tlocal_ca_ack_delay:\t\t0$/m);
  assert.match(all.out, /^\t\t\tsubnet_timeout:\t\t18$/m);
  assert.match(all.out, /^\t\t\tinit_type_reply:\t0$/m);
  assert.equal(list.out, "1 HCA found:\n\tmthca0\n\n");
  assert.deepEqual([listFirst.code, listFirst.out], [0, list.out]);
  assert.match(port.out, /^\t\tport:\t1$/m);
  // devinfo.c's statuses: 4 for a port the device lacks, -1 for a device that is not there.
  assert.equal(bad.code, 4);
  assert.match(bad.err, /^devinfo: -i\/--ib-port 2: invalid port requested for mthca0/);
  assert.equal(nodev.code, 255);
  assert.match(nodev.err, /^devinfo: -d\/--ib-dev: IB device 'mlx4_0' wasn't found/);
});

Deno.test("paper --quick writes the report and charts", async () => {
  const dir = await Deno.makeTempDir({ prefix: "xenib_paper_" });
  try {
    const r = await tool("paper.ts", ["--quick", "--out", dir], dir);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /elapsed: [\d.]+ s \(wall clock\)/);
    assert.match(r.out, /# Claims/);
    const md = await Deno.readTextFile(`${dir}/report.md`);
    for (
      const h of [
        "## Claims",
        "## 1. RDMA WRITE latency",
        "## 2. RDMA WRITE bandwidth",
        "## 3. Event-driven completion",
        "## 4. Memory registration",
        "## 5. Resource setup costs",
      ]
    ) assert.ok(md.includes(h), h);
    assert.match(md, /\| bytes \| native \[µs\]/);
    assert.match(md, /\| createQp \| \d+\.\d\d/);
    for (const f of ["write_lat", "write_bw", "event_lat", "registration", "setup"]) {
      const svg = await Deno.readTextFile(`${dir}/${f}.svg`);
      assert.deepEqual(
        svgProblems(
          svg,
          f === "event_lat"
            ? ["native, events"]
            : f === "registration"
            ? ["native, no cache", "bypass + cache, per use"]
            : ["native"],
        ),
        [],
        f,
      );
    }
    // Every claim evaluated but the NAS one, which --quick does not run (and says how to).
    const notEvaluated = md.split("## 1.")[0].split("\n").filter((l) =>
      l.includes("not evaluated")
    );
    assert.deepEqual(notEvaluated.map((l) => l.split(" | ")[0]), ["| C7b"]);
    assert.match(notEvaluated[0], /deno task paper --full/);
    assert.match(md, /\| bytes \| native \[µs\] \| bypass \[µs\] \| split \[µs\] \|/);
    // The progress bar goes to stderr, the tables to stdout.
    assert.match(r.err, /\[#+\.*\]\s+\d+\/\d+/);
    assert.ok(!/\[#+\.*\]/.test(r.out), "no progress bar on stdout");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
