/**
 * RoCEv2 framing of an IBA packet for captures (IBTA Annex A17, "RoCEv2"):
 * the LRH (and GRH) give way to Ethernet + IPv4 or IPv6 + UDP to port 4791,
 * the transport headers and payload are kept, the VCRC dropped, and the
 * ICRC recomputed as A17.8 defines it for RoCEv2: over 8 bytes of ones
 * standing for the absent LRH, the IP header with its variant fields as ones
 * (IPv4: DSCP/ECN, TTL, header checksum; IPv6: traffic class, flow label,
 * hop limit), the UDP header with its checksum as ones, then the BTH with
 * Resv8a as ones and everything after it — as Linux rxe computes it
 * (drivers/infiniband/sw/rxe/rxe_icrc.c). Wireshark dissects UDP port 4791
 * as RoCEv2 with no configuration.
 *
 * Only captures use this: the fabric stays InfiniBand.
 *
 * @module
 */
import { crc32Byte, crc32Update } from "./crc.ts";

/**
 * UDP destination port of RoCEv2 (IANA, IBTA A17.4.1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ROCEV2_UDP_PORT } from "./rocev2.ts";
 * assert.deepEqual(ROCEV2_UDP_PORT, 4791);
 * ```
 */
export const ROCEV2_UDP_PORT = 4791;

/**
 * Addresses of one RoCEv2 frame.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OP } from "./opcode.ts";
 * import { encodePacket } from "./packet.ts";
 * import { ibToRoceV2, type RoceAddresses } from "./rocev2.ts";
 * const ib = encodePacket({ lrh: { dlid: 2, slid: 1 }, bth: { opcode: OP.RC_SEND_ONLY, destQp: 0x48, psn: 0 } });
 * const v6: RoceAddresses = {
 *   srcMac: new Uint8Array(6), dstMac: new Uint8Array(6), srcIp: new Uint8Array(16), dstIp: new Uint8Array(16),
 * };
 * const f = ibToRoceV2(ib, v6);
 * assert.equal((f[12] << 8) | f[13], 0x86dd); // 16-byte addresses: an IPv6 EtherType and header
 * assert.equal((f[54] << 8) | f[55], 0xc000 | 0x48); // UDP source port from the destination QP
 * ```
 */
export interface RoceAddresses {
  /** Source MAC (6 bytes). */
  srcMac: Uint8Array;
  /** Destination MAC (6 bytes). */
  dstMac: Uint8Array;
  /** Source IP: 4 bytes (IPv4) or 16 (IPv6). */
  srcIp: Uint8Array;
  /** Destination IP, the same family. */
  dstIp: Uint8Array;
  /** UDP source port (default 0xC000 | low 14 bits of the destination QP, a flow entropy value). */
  srcPort?: number;
}

const ETH = 14, IP4 = 20, IP6 = 40, UDP = 8, BTH = 12, ICRC = 4, VCRC = 2;

/**
 * The RoCEv2 Ethernet frame carrying the transport part of IBA packet `ib`
 * (LRH [GRH] BTH … ICRC VCRC, as the fabric puts it on the wire).
 * @throws RangeError if `ib` is too short or its LRH names no IBA transport
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePacket, OP } from "./mod.ts";
 * import { ibToRoceV2, roceV2Icrc } from "./rocev2.ts";
 * const ib = encodePacket({ lrh: { dlid: 2, slid: 1 }, bth: { opcode: OP.RC_SEND_ONLY, destQp: 0x48, psn: 7 },
 *   payload: new Uint8Array([1, 2, 3, 4]) });
 * const f = ibToRoceV2(ib, { srcMac: new Uint8Array(6), dstMac: new Uint8Array(6),
 *   srcIp: new Uint8Array([10, 0, 0, 1]), dstIp: new Uint8Array([10, 0, 0, 2]) });
 * assert.equal(f.length, 14 + 20 + 8 + 12 + 4 + 4); // Ethernet, IPv4, UDP, BTH, payload, ICRC
 * assert.equal((f[36] << 8) | f[37], 4791);
 * assert.equal(new DataView(f.buffer).getUint32(f.length - 4, true), roceV2Icrc(f));
 * ```
 */
export function ibToRoceV2(ib: Uint8Array, a: RoceAddresses): Uint8Array {
  if (ib.length < 8 + BTH + ICRC + VCRC) throw new RangeError("ibToRoceV2: packet too short");
  const lnh = ib[1] & 3;
  if (lnh !== 2 && lnh !== 3) throw new RangeError(`ibToRoceV2: LRH:LNH ${lnh} is not IBA`);
  const global = lnh === 3;
  const bthAt = global ? 48 : 8;
  const transport = ib.subarray(bthAt, ib.length - ICRC - VCRC);
  const v6 = a.srcIp.length === 16;
  if (a.dstIp.length !== a.srcIp.length || (a.srcIp.length !== 4 && !v6)) {
    throw new RangeError("ibToRoceV2: IP addresses must both be 4 or both 16 bytes");
  }
  // GRH fields carry over to the IP header where one exists.
  const tclass = global ? ((ib[8] & 0x0f) << 4) | (ib[9] >> 4) : 0;
  const flow = global ? ((ib[9] & 0x0f) << 16) | (ib[10] << 8) | ib[11] : 0;
  const hop = global ? ib[15] : 64;
  const ipLen = v6 ? IP6 : IP4;
  const udpLen = UDP + transport.length + ICRC;
  const f = new Uint8Array(ETH + ipLen + udpLen);
  const dv = new DataView(f.buffer);
  f.set(a.dstMac, 0);
  f.set(a.srcMac, 6);
  dv.setUint16(12, v6 ? 0x86dd : 0x0800);
  const ip = ETH;
  if (v6) {
    dv.setUint32(ip, (6 << 28) | (tclass << 20) | flow);
    dv.setUint16(ip + 4, udpLen);
    f[ip + 6] = 17;
    f[ip + 7] = hop;
    f.set(a.srcIp, ip + 8);
    f.set(a.dstIp, ip + 24);
  } else {
    f[ip] = 0x45;
    f[ip + 1] = tclass;
    dv.setUint16(ip + 2, IP4 + udpLen);
    dv.setUint16(ip + 6, 0x4000); // DF
    f[ip + 8] = hop;
    f[ip + 9] = 17;
    f.set(a.srcIp, ip + 12);
    f.set(a.dstIp, ip + 16);
    dv.setUint16(ip + 10, inetChecksum(f, ip, ip + IP4, 0));
  }
  const udp = ip + ipLen;
  const destQp = (transport[5] << 16) | (transport[6] << 8) | transport[7];
  dv.setUint16(udp, a.srcPort ?? (0xc000 | (destQp & 0x3fff)));
  dv.setUint16(udp + 2, ROCEV2_UDP_PORT);
  dv.setUint16(udp + 4, udpLen);
  f.set(transport, udp + UDP);
  const icrcAt = f.length - ICRC;
  dv.setUint32(icrcAt, roceV2Icrc(f), true);
  // UDP checksum over the pseudo header (RFC 768 / RFC 8200 §8.1), ICRC included.
  let pseudo = 0;
  const addrAt = v6 ? ip + 8 : ip + 12;
  const addrLen = v6 ? 32 : 8;
  for (let i = 0; i < addrLen; i += 2) pseudo += (f[addrAt + i] << 8) | f[addrAt + i + 1];
  pseudo += 17 + udpLen;
  let sum = inetChecksum(f, udp, f.length, pseudo);
  if (sum === 0) sum = 0xffff;
  dv.setUint16(udp + 6, sum);
  return f;
}

/** RFC 1071 checksum of `b[from, to)` plus `extra` (already summed words). */
function inetChecksum(b: Uint8Array, from: number, to: number, extra: number): number {
  let s = extra;
  for (let i = from; i < to; i += 2) s += (b[i] << 8) | (i + 1 < to ? b[i + 1] : 0);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * The RoCEv2 ICRC of an Ethernet frame (stored least-significant byte
 * first in its last 4 bytes, as the IBA ICRC): IBTA A17.8 / rxe_icrc.c.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { roceV2Icrc } from "./rocev2.ts";
 * // A RoCEv2 CNP captured on a ConnectX-4 Lx (scapy's RoCE tests), ICRC in its last 4 bytes.
 * const hex = "e41d 2dab 2bc2 7cfe 9064 3b32 0800 45c2 003c 718c 4000 4011 9161 0a00 " +
 *   "1101 0a00 1201 0000 12b7 0028 0000 8100 ffff 4000 0118 0000 0000 0000 " +
 *   "0000 0000 0000 0000 0000 0000 0000 82fd 002a";
 * const frame = Uint8Array.from(hex.replaceAll(" ", "").match(/../g)!.map((h) => parseInt(h, 16)));
 * assert.equal(roceV2Icrc(frame), 0x2a00fd82); // a ConnectX-4 Lx CNP's own ICRC
 * ```
 */
export function roceV2Icrc(frame: Uint8Array): number {
  const ip = ETH;
  const v6 = ((frame[12] << 8) | frame[13]) === 0x86dd;
  const ipLen = v6 ? IP6 : IP4;
  const udp = ip + ipLen;
  const bth = udp + UDP;
  const end = frame.length - ICRC;
  let c = 0xffffffff;
  for (let i = 0; i < 8; i++) c = crc32Byte(c, 0xff);
  if (v6) {
    c = crc32Byte(c, 0x6f); // version kept, traffic class high nibble
    c = crc32Byte(c, 0xff); // traffic class low nibble, flow label
    c = crc32Byte(c, 0xff);
    c = crc32Byte(c, 0xff);
    c = crc32Update(c, frame, ip + 4, ip + 7); // payload length, next header
    c = crc32Byte(c, 0xff); // hop limit
    c = crc32Update(c, frame, ip + 8, ip + IP6);
  } else {
    c = crc32Byte(c, frame[ip]);
    c = crc32Byte(c, 0xff); // DSCP/ECN
    c = crc32Update(c, frame, ip + 2, ip + 8);
    c = crc32Byte(c, 0xff); // TTL
    c = crc32Byte(c, frame[ip + 9]);
    c = crc32Byte(c, 0xff); // header checksum
    c = crc32Byte(c, 0xff);
    c = crc32Update(c, frame, ip + 12, ip + IP4);
  }
  c = crc32Update(c, frame, udp, udp + 6);
  c = crc32Byte(c, 0xff); // UDP checksum
  c = crc32Byte(c, 0xff);
  c = crc32Update(c, frame, bth, bth + 4);
  c = crc32Byte(c, 0xff); // BTH:Resv8a
  c = crc32Update(c, frame, bth + 5, end);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * The MAC an EUI-64 interface identifier (a port GUID) maps to: the
 * middle `ff:fe` dropped and the universal/local bit flipped (RFC 4291
 * appendix A, in reverse).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { macFromGuid } from "./rocev2.ts";
 * assert.deepEqual([...macFromGuid(0x0002c90300000101n)], [0x02, 0x02, 0xc9, 0x00, 0x01, 0x01]);
 * ```
 */
export function macFromGuid(guid: bigint): Uint8Array {
  const g = new Uint8Array(8);
  new DataView(g.buffer).setBigUint64(0, guid);
  return new Uint8Array([g[0] ^ 0x02, g[1], g[2], g[5], g[6], g[7]]);
}
