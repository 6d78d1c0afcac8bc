/**
 * A tap on the fabric: every packet a channel adapter puts on its link,
 * once (at the instant its first bit leaves the source port), into a pcap
 * file image that tshark/Wireshark open without configuration — as IBA
 * packets in Wireshark's exported-PDU framing (`ib`, link type 252 naming
 * the `infiniband` dissector), as bare IBA packets (`ib-247`,
 * LINKTYPE_INFINIBAND, for readers that map it), or as RoCEv2 frames
 * (`rocev2`: Ethernet/IPv4 or IPv6/UDP 4791 with the RoCEv2 ICRC, see
 * `rocev2.ts`). Addresses of RoCEv2 frames derive from the ports: MACs
 * from port GUIDs, IPv4 10.0.x.y from the LID, IPv6 from the port GID; a
 * multicast packet's destination is its group (see `multicastFrame`).
 *
 * The tap only reads: attaching one changes no virtual time.
 *
 * @module
 */
import type { CaptureRecord, Fabric } from "./fabric.ts";
import {
  LINKTYPE_ETHERNET,
  LINKTYPE_INFINIBAND,
  LINKTYPE_WIRESHARK_UPPER_PDU,
  PcapWriter,
} from "./pcap.ts";
import type { Port } from "./port.ts";
import { isMulticastLid } from "./mcg.ts";
import { ibToRoceV2, macFromGuid } from "./rocev2.ts";

/**
 * Framing of the captured packets.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { type CaptureFormat, startCapture } from "./capture.ts";
 * import { Fabric } from "./fabric.ts";
 * const fabric = new Fabric(new Engine());
 * const linkType = (format: CaptureFormat) => startCapture(fabric, { format }).writer.linkType;
 * // Wireshark's exported PDU, LINKTYPE_INFINIBAND, Ethernet:
 * assert.deepEqual((["ib", "ib-247", "rocev2"] as const).map(linkType), [252, 247, 1]);
 * ```
 */
export type CaptureFormat = "ib" | "ib-247" | "rocev2";

/**
 * Options of {@link startCapture}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { PCIX_SDR_2006 } from "../sim/profiles/mod.ts";
 * import { type CaptureOptions, startCapture } from "./capture.ts";
 * import { Fabric } from "./fabric.ts";
 * import { OP } from "./opcode.ts";
 * import { encodePacket } from "./packet.ts";
 * import { SubnetManager } from "./subnet_manager.ts";
 * const engine = new Engine();
 * const fabric = new Fabric(engine, { profile: PCIX_SDR_2006 });
 * const a = fabric.addHca("a", { receive() {} }), b = fabric.addHca("b", { receive() {} });
 * fabric.connect(a.port(1), b.port(1));
 * new SubnetManager(fabric).sweepNow(); // LIDs assigned, ports ACTIVE
 * const seen: number[] = [];
 * const opts: CaptureOptions = { format: "rocev2", port: b.port(1), onPacket: (r) => seen.push(r.bytes.length) };
 * const tap = startCapture(fabric, opts);
 * const lrh = { dlid: b.port(1).lid, slid: a.port(1).lid };
 * const pkt = encodePacket({ lrh, bth: { opcode: OP.RC_SEND_ONLY, destQp: 9, psn: 0 } });
 * await engine.run(async () => {
 *   a.port(1).trySend(pkt);
 *   await engine.sleep(1_000);
 * });
 * assert.deepEqual(seen, [pkt.length]); // the packet b's port received
 * assert.equal(tap.count, 1);
 * ```
 */
export interface CaptureOptions {
  /** Default `ib`. */
  format?: CaptureFormat;
  /** RoCEv2 over IPv6 instead of IPv4. */
  ipv6?: boolean;
  /** Longest record kept (default pcap.ts's). */
  snaplen?: number;
  /** Only packets this port sends or receives (default: every HCA's sends). */
  port?: Port;
  /** Called with each packet as captured (before framing), e.g. for live counters. */
  onPacket?: (rec: CaptureRecord) => void;
}

/**
 * A running capture.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Engine } from "../sim/engine.ts";
 * import { type FabricTap, startCapture } from "./capture.ts";
 * import { Fabric } from "./fabric.ts";
 * const tap: FabricTap = startCapture(new Fabric(new Engine()));
 * assert.equal(tap.bytes().length, 24); // the pcap file header, no record yet
 * tap.stop();
 * ```
 */
export interface FabricTap {
  /** The writer (link type, record count). */
  readonly writer: PcapWriter;
  /** Packets captured so far. */
  readonly count: number;
  /** The pcap file image so far (a view). */
  bytes(): Uint8Array;
  /** Detach from the fabric. */
  stop(): void;
}

/**
 * Attach a tap to `fabric`: every packet a channel adapter sends from now
 * on (or, with `port`, every packet that port sends or receives) goes to a
 * pcap image in the chosen framing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Cluster, startCapture } from "../mod.ts";
 * const cluster = new Cluster({ profile: "pcix-sdr-2006", seed: 1 });
 * const a = cluster.addHost({ name: "a", hypervisor: false });
 * cluster.addHost({ name: "b", hypervisor: false });
 * await cluster.start();
 * const tap = startCapture(cluster.fabric, { format: "rocev2" });
 * assert.equal(tap.count, 0); // nothing sent yet
 * assert.equal(tap.writer.linkType, 1); // Ethernet
 * tap.stop();
 * assert.ok(a.os);
 * ```
 */
export function startCapture(fabric: Fabric, opts: CaptureOptions = {}): FabricTap {
  const format = opts.format ?? "ib";
  const linkType = format === "rocev2"
    ? LINKTYPE_ETHERNET
    : format === "ib-247"
    ? LINKTYPE_INFINIBAND
    : LINKTYPE_WIRESHARK_UPPER_PDU;
  const writer = new PcapWriter({ linkType, snaplen: opts.snaplen });
  const stop = fabric.addCapture((r) => {
    if (!opts.port && r.from.node.kind !== "hca") return;
    opts.onPacket?.(r);
    if (format !== "rocev2") {
      writer.add(r);
      return;
    }
    const dlid = (r.bytes[2] << 8) | r.bytes[3];
    if (isMulticastLid(dlid) && (r.bytes[1] & 3) === 3) {
      writer.add({ timeNs: r.timeNs, bytes: multicastFrame(r.bytes, fabric, r.from, opts.ipv6) });
      return;
    }
    const to = fabric.portByLid(dlid) ?? r.to;
    const from = r.from.node.kind === "hca" ? r.from : fabric.portByLid(
      (r.bytes[6] << 8) | r.bytes[7],
    ) ?? r.from;
    const ip = (p: Port) =>
      opts.ipv6 ? p.gid : new Uint8Array([10, 0, (p.lid >> 8) & 0xff, p.lid & 0xff]);
    writer.add({
      timeNs: r.timeNs,
      bytes: ibToRoceV2(r.bytes, {
        srcMac: macFromGuid(from.guid),
        dstMac: macFromGuid(to.guid),
        srcIp: ip(from),
        dstIp: ip(to),
      }),
    });
  }, opts.port ? { port: opts.port } : {});
  return {
    writer,
    get count() {
      return writer.count;
    },
    bytes: () => writer.bytes(),
    stop,
  };
}

/**
 * A multicast packet (multicast DLID, GRH with the group's MGID) as RoCEv2: sent to the group,
 * not to a port. IPv6: the MGID is the destination address, the MAC 33:33 and its last four
 * bytes (RFC 2464 §7). IPv4: the group address carried in the MGID's low 28 bits (as IPoIB maps
 * IPv4 groups to MGIDs, RFC 4391 §4), the MAC 01:00:5e and its low 23 bits (RFC 1112 §6.4).
 */
function multicastFrame(
  ib: Uint8Array,
  fabric: Fabric,
  fromPort: Port,
  ipv6: boolean | undefined,
): Uint8Array {
  const mgid = ib.subarray(32, 48); // GRH DGID (LRH 8 bytes + GRH bytes 24..40)
  const from = fromPort.node.kind === "hca"
    ? fromPort
    : fabric.portByLid((ib[6] << 8) | ib[7]) ?? fromPort;
  let dstIp: Uint8Array, dstMac: Uint8Array;
  if (ipv6) {
    dstIp = mgid.slice();
    dstMac = new Uint8Array([0x33, 0x33, ...mgid.subarray(12, 16)]);
  } else {
    dstIp = new Uint8Array([0xe0 | (mgid[12] & 0x0f), mgid[13], mgid[14], mgid[15]]);
    dstMac = new Uint8Array([0x01, 0x00, 0x5e, dstIp[1] & 0x7f, dstIp[2], dstIp[3]]);
  }
  const srcIp = ipv6 ? from.gid : new Uint8Array([10, 0, (from.lid >> 8) & 0xff, from.lid & 0xff]);
  return ibToRoceV2(ib, { srcMac: macFromGuid(from.guid), dstMac, srcIp, dstIp });
}
