// perftest -g on the simulated cluster in every mode: the server's QP attached to a group the
// subnet manager gave an MLID, the client's SENDs to that MLID (multicast on the wire), perftest's
// header and address lines, and every group left at the end.
import assert from "node:assert/strict";
import { parsePerftestArgs } from "../tools/lib/perftest_args.ts";
import { buildPair, runPerftest } from "../tools/lib/perftest_runner.ts";
import { formatHeader, formatPreamble } from "../tools/lib/perftest_format.ts";
import { decodePcap } from "../hca/pcap.ts";
import { PCIX_SDR_2006 } from "../mod.ts";

/** DLIDs of the packets of a capture (each record a bare IBA packet, LRH first). */
function dlids(pcap: Uint8Array): number[] {
  return decodePcap(pcap).map((r) => (r.bytes[2] << 8) | r.bytes[3]);
}

for (const mode of ["native", "bypass", "split"] as const) {
  Deno.test(`perftest -g ${mode}: ib_send_bw -c UD -g sends to the MLID and the server's attached QP gets them`, async () => {
    const c = parsePerftestArgs(["ib_send_bw", "-c", "UD", "-g", "-n", "200", "--mode", mode]);
    const { cluster, a, b } = await buildPair(c, PCIX_SDR_2006);
    const r = await runPerftest(c, {
      endpoints: { cluster, a, b },
      profile: PCIX_SDR_2006,
      capture: { format: "ib" },
    });
    const head = formatHeader(r).split("\n");
    assert.equal(head[1], " ".repeat(20) + "Send BW Multicast Test");
    assert.equal(head[2], " MultiCast runs on UD!");
    assert.ok(head.includes(" GID index       : 0"));
    assert.equal(r.info!.remote[0].lid, 0xc000);
    assert.equal(r.info!.remote[0].qpn, 0xffffff);
    assert.equal(r.info!.remote[0].gidLabel, "MGID");
    assert.deepEqual([...r.info!.remote[0].gid!], [
      255,
      1,
      0,
      0,
      0,
      2,
      201,
      133,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
    ]);
    assert.equal(r.bw.length, 1);
    assert.equal(r.bw[0].iterations, 200);
    assert.ok(r.bw[0].avgBytesPerSec > 0);
    // Every SEND left the client for the group's MLID; the run ends only once the server's QP
    // has received all of them (perftest's receiver counts its completions).
    assert.equal(dlids(r.pcap!).filter((d) => d === 0xc000).length, 200);
    // perftest's teardown: detach, then leave: the SM holds no group any more.
    assert.deepEqual(cluster.subnetManager!.multicastGroups, []);
    assert.deepEqual(cluster.switch!.multicastPorts(0xc000), []);
  });

  Deno.test(`perftest -g ${mode}: ib_send_lat -c UD -g ping-pongs between two groups`, async () => {
    const r = await runPerftest(
      parsePerftestArgs(["ib_send_lat", "-c", "UD", "-g", "-n", "100", "--mode", mode]),
    );
    const local = r.info!.local[0], remote = r.info!.remote[0];
    // Each side attached to its own group: the client's MGID ends in 1 and got the next MLID.
    assert.deepEqual([local.lid, local.qpn, local.gid![15], local.gidLabel], [
      0xc001,
      0xffffff,
      1,
      undefined,
    ]);
    assert.deepEqual([remote.lid, remote.qpn, remote.gid![15], remote.gidLabel], [
      0xc000,
      0xffffff,
      0,
      "MGID",
    ]);
    assert.equal(r.lat[0].iterations, 100);
    // The same exchange unicast: multicast costs the GRH's 40 bytes each way, never less.
    const uni = await runPerftest(
      parsePerftestArgs(["ib_send_lat", "-c", "UD", "-n", "100", "--mode", mode]),
    );
    assert.ok(r.lat[0].tTypical >= uni.lat[0].tTypical);
    assert.ok(r.lat[0].tTypical < uni.lat[0].tTypical + 1);
  });
}

Deno.test("perftest -g: -M names the group; a non-multicast MGID is refused by the SA join", async () => {
  const withGroup = (mgid: string) =>
    runPerftest(parsePerftestArgs(["ib_send_bw", "-g", "-n", "50", "-M", mgid]));
  const r = await withGroup("0xff:0x12:0:0:0:0:0:0:0:0:0:0:0:0:0:9");
  assert.deepEqual([...r.info!.remote[0].gid!].slice(0, 2), [0xff, 0x12]);
  assert.match(formatPreamble(r), /\n MGID: 255:18:00:00:00:00:00:00:00:00:00:00:00:00:00:09/);
  await assert.rejects(
    () => withGroup("254:0:0:0:0:0:0:0:0:0:0:0:0:0:0:1"),
    /Couldn't Register the Mcast group on the SM/,
  );
});
