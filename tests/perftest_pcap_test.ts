/**
 * `deno task perftest ib_send_lat --pcap t.pcap -n 10`, as a user runs it,
 * read back by tshark with its default profile: every packet dissected,
 * the opcodes, QPNs and PSNs those perftest printed and sent, and nothing
 * malformed except what Wireshark's own RPC-over-RDMA heuristic throws on
 * RC SEND payloads under 16 bytes (it reads 16 bytes before checking the
 * length; `--disable-protocol rpcordma` shows the packets are clean). The
 * RoCEv2 framing is checked too: UDP 4791, IPv4 and IPv6, and the ICRC
 * against zlib's CRC-32 over a masked copy (IBTA A17.8, rxe_icrc.c).
 *
 * Skip policy: tests/support/tshark.ts (ignored with a message without
 * tshark; under CI=true it fails instead).
 */
import assert from "node:assert/strict";
import zlib from "node:zlib";
import { taskIn } from "./support/tool.ts";
import { tshark, tsharkTest } from "./support/tshark.ts";

/** perftest's address lines: QPN, PSN and LID of each side. */
function addresses(out: string): { local: number[]; remote: number[] } {
  const grab = (side: string): number[] => {
    const m = new RegExp(`^ ${side} address: LID (\\S+) QPN (\\S+) PSN (\\S+)`, "m").exec(out);
    assert.ok(m, `no ${side} address line in:\n${out}`);
    return [parseInt(m[2], 16), parseInt(m[3], 16), parseInt(m[1], 16)];
  };
  return { local: grab("local"), remote: grab("remote") };
}

/** Every packet's opcode, destination QP and PSN, as tshark dissects them. */
async function packets(file: string, extra: string[] = []): Promise<number[][]> {
  const out = await tshark([
    ...extra,
    "-r",
    file,
    "-T",
    "fields",
    "-E",
    "separator=,",
    "-e",
    "infiniband.bth.opcode",
    "-e",
    "infiniband.bth.destqp",
    "-e",
    "infiniband.bth.psn",
    "-e",
    "infiniband.lrh.dlid",
  ]);
  return out.trim().split("\n").map((l) => l.split(",").map((x) => Number(x)));
}

/** RoCEv2 ICRC of an Ethernet frame, from zlib over a masked copy. */
function refRoceIcrc(f: Uint8Array): number {
  const v6 = ((f[12] << 8) | f[13]) === 0x86dd;
  const ip = 14, udp = ip + (v6 ? 40 : 20), bth = udp + 8;
  const m = new Uint8Array(8 + f.length - 4 - ip);
  m.fill(0xff, 0, 8);
  m.set(f.subarray(ip, f.length - 4), 8);
  const o = 8 - ip;
  if (v6) {
    m[o + ip] |= 0x0f;
    m[o + ip + 1] = m[o + ip + 2] = m[o + ip + 3] = 0xff;
    m[o + ip + 7] = 0xff;
  } else {
    m[o + ip + 1] = 0xff;
    m[o + ip + 8] = 0xff;
    m[o + ip + 10] = m[o + ip + 11] = 0xff;
  }
  m[o + udp + 6] = m[o + udp + 7] = 0xff;
  m[o + bth + 4] = 0xff;
  return zlib.crc32(m) >>> 0;
}

/** Records of a little-endian pcap file (frames as stored). */
function records(file: Uint8Array): Uint8Array[] {
  const dv = new DataView(file.buffer, file.byteOffset, file.length);
  const out: Uint8Array[] = [];
  for (let at = 24; at + 16 <= file.length;) {
    const cap = dv.getUint32(at + 8, true);
    out.push(file.subarray(at + 16, at + 16 + cap));
    at += 16 + cap;
  }
  return out;
}

await tsharkTest(
  "perftest --pcap: tshark reads opcodes, QPNs and PSNs as sent (IB and RoCEv2)",
  async () => {
    const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "xenib-perftest-pcap-" });
    try {
      const task = (args: string[]) => taskIn(dir, "perftest", ...args);
      const [ib, v4, v6] = await Promise.all([
        task(["ib_send_lat", "--pcap", "t.pcap", "-n", "10"]),
        task([
          "ib_send_lat",
          "--pcap",
          "r4.pcap",
          "--pcap-format",
          "rocev2",
          "-n",
          "10",
          "-s",
          "64",
        ]),
        task([
          "ib_send_lat",
          "--pcap",
          "r6.pcap",
          "--pcap-format",
          "rocev2",
          "--ipv6",
          "-n",
          "10",
          "-s",
          "64",
        ]),
      ]);
      for (const r of [ib, v4, v6]) assert.equal(r.code, 0, r.err);
      assert.match(ib.err, /wrote \d+ bytes to .*t\.pcap \(ib\)/);

      // The packets tshark sees are the ones perftest's QPs exchanged.
      const { local, remote } = addresses(ib.out);
      const pk = await packets(`${dir}/t.pcap`);
      // 10 SENDs each way, each acknowledged.
      assert.equal(pk.length, 40);
      const SEND_ONLY = 4, ACK = 17;
      const sends = pk.filter((p) => p[0] === SEND_ONLY);
      const acks = pk.filter((p) => p[0] === ACK);
      assert.equal(sends.length, 20);
      assert.equal(acks.length, 20);
      // [opcode, dest QP, PSN, DLID]; both HCAs may number their QPs alike, the LIDs differ.
      const toRemote = sends.filter((p) => p[3] === remote[2]);
      const toLocal = sends.filter((p) => p[3] === local[2]);
      assert.ok(
        toRemote.every((p) => p[1] === remote[0]) && toLocal.every((p) => p[1] === local[0]),
      );
      assert.deepEqual(
        toRemote.map((p) => p[2]),
        [...Array(10).keys()].map((i) => (local[1] + i) & 0xffffff),
      );
      assert.deepEqual(
        toLocal.map((p) => p[2]),
        [...Array(10).keys()].map((i) => (remote[1] + i) & 0xffffff),
      );
      // Each ACK goes back to the sender's QP with the PSN it acknowledges.
      for (const s of sends) {
        const [qp, lid] = s[3] === remote[2] ? [local[0], local[2]] : [remote[0], remote[2]];
        assert.ok(
          acks.some((a) => a[1] === qp && a[3] === lid && a[2] === s[2]),
          `no ACK for ${s}`,
        );
      }

      // Nothing malformed in the IB headers; Wireshark's RPC-over-RDMA heuristic
      // throws on RC SEND payloads under 16 bytes, and on nothing else.
      const flagged = await tshark([
        "-r",
        `${dir}/t.pcap`,
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning",
        "-T",
        "fields",
        "-e",
        "infiniband.bth.opcode",
        "-e",
        "_ws.malformed",
        "-e",
        "rpcordma",
      ]);
      for (const line of flagged.trim().split("\n").filter(Boolean)) {
        assert.match(line, /^4\t/, `only RC SEND ONLY packets may be flagged: ${line}`);
      }
      const clean = await tshark([
        "--disable-protocol",
        "rpcordma",
        "-r",
        `${dir}/t.pcap`,
        "-Y",
        "_ws.malformed || _ws.expert.severity >= warning",
      ]);
      assert.equal(clean.trim(), "", "malformed or warned packets without the RPCoRDMA heuristic");

      // RoCEv2 over UDP 4791, 64-byte payloads: clean in the default profile, ICRC right.
      for (const [file, v6] of [["r4.pcap", false], ["r6.pcap", true]] as const) {
        const bad = await tshark([
          "-r",
          `${dir}/${file}`,
          "-Y",
          "_ws.malformed || _ws.expert.severity >= warning",
        ]);
        assert.equal(bad.trim(), "", `${file}: ${bad}`);
        const udp = await tshark([
          "-r",
          `${dir}/${file}`,
          "-T",
          "fields",
          "-e",
          "udp.dstport",
          "-e",
          "eth.type",
        ]);
        for (const l of udp.trim().split("\n")) {
          assert.equal(l, v6 ? "4791\t0x86dd" : "4791\t0x0800", `${file}: ${l}`);
        }
        const frames = records(await Deno.readFile(`${dir}/${file}`));
        assert.ok(frames.length >= 20, `${file}: ${frames.length} frames`);
        for (const f of frames) {
          const icrc = new DataView(f.buffer, f.byteOffset, f.length).getUint32(f.length - 4, true);
          assert.equal(icrc, refRoceIcrc(f), `${file}: ICRC`);
        }
        const rk = await packets(`${dir}/${file}`);
        assert.ok(rk.every((p) => p[0] === SEND_ONLY || p[0] === ACK), `${file}: opcodes ${rk}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

// A multicast datagram goes to its group, not to a port: RoCEv2 over IPv6 carries the MGID as
// the destination address with MAC 33:33 + its last four bytes (RFC 2464 §7); over IPv4 the
// group in the MGID's low 28 bits (RFC 4391 §4's IPv4 mapping) with MAC 01:00:5e + its low 23
// bits (RFC 1112 §6.4). The frames went to 10.0.0.0 and to the switch port's link-local address.
await tsharkTest(
  "perftest --pcap-format rocev2 -g: multicast frames are addressed to the group",
  async () => {
    const dir = await Deno.makeTempDir({ dir: "/tmp", prefix: "xenib-perftest-pcap-" });
    try {
      const task = (args: string[]) => taskIn(dir, "perftest", ...args);
      const base = ["ib_send_bw", "-c", "UD", "-g", "-n", "5", "-s", "100"];
      const [v4, v6] = await Promise.all([
        task([...base, "--pcap", "m4.pcap", "--pcap-format", "rocev2"]),
        task([...base, "--pcap", "m6.pcap", "--pcap-format", "rocev2", "--ipv6"]),
      ]);
      for (const r of [v4, v6]) assert.equal(r.code, 0, r.err);
      for (
        const [file, want] of [
          ["m4.pcap", "01:00:5e:00:00:00\t224.0.0.0\t\t0xffffff"],
          ["m6.pcap", "33:33:00:00:00:00\t\tff01:0:2:c985::\t0xffffff"],
        ] as const
      ) {
        const rows = (await tshark([
          "-r",
          `${dir}/${file}`,
          "-T",
          "fields",
          "-e",
          "eth.dst",
          "-e",
          "ip.dst",
          "-e",
          "ipv6.dst",
          "-e",
          "infiniband.bth.destqp",
        ])).trim().split("\n");
        assert.equal(rows.length, 5, file);
        for (const row of rows) assert.equal(row, want, file);
        const bad = await tshark([
          "-r",
          `${dir}/${file}`,
          "-Y",
          "_ws.malformed || _ws.expert.severity >= warning",
        ]);
        assert.equal(bad.trim(), "", `${file}: ${bad}`);
        for (const f of records(await Deno.readFile(`${dir}/${file}`))) {
          const icrc = new DataView(f.buffer, f.byteOffset, f.length).getUint32(f.length - 4, true);
          assert.equal(icrc, refRoceIcrc(f), `${file}: ICRC`);
        }
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
