/**
 * `ibv_init_ah_from_wc`'s rules: the address vector that answers a received
 * datagram, from its work completion and the 40-byte GRH area at the head of
 * its receive buffer (rdma-core libibverbs/verbs.c, ibv_init_ah_from_wc and
 * set_ah_attr_by_ipv6 / set_ah_attr_by_ipv4; ibv_create_ah_from_wc(3)).
 *
 * @module
 */
import { WcFlags } from "./enums.ts";
import { VerbsError } from "./errors.ts";
import type { AhAttr, WorkCompletion } from "./types.ts";

/**
 * Bytes of the GRH area a UD receive buffer starts with (ibv_post_recv(3)).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GRH_BYTES } from "./ah_from_wc.ts";
 * assert.equal(GRH_BYTES, 40);
 * ```
 */
export const GRH_BYTES = 40;
/** The GRH's next header for an IBA transport (IBTA vol 1 §8.3.1; RoCE v1). */
const IB_NEXT_HDR = 0x1b;
/** IPPROTO_UDP: the next header of RoCE v2 over IPv6. */
const UDP_NEXT_HDR = 17;
/** Where RoCE v2 over IPv4 puts its IP header in the GRH area (the last 20 of the 40 bytes). */
const IPV4_HDR_OFFSET = 20;

/**
 * The GID types `ibv_query_gid_type` reports; the search for the local GID
 * matches the type the received header implies.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { GidType } from "./ah_from_wc.ts";
 * assert.notEqual(GidType.IB_ROCE_V1, GidType.ROCE_V2);
 * ```
 */
export const GidType = { IB_ROCE_V1: 0, ROCE_V2: 1 } as const;

/**
 * Find the index of `gid` of type `type` in the port's GID table (ibv_find_gid_index: query
 * entries from 0 until one matches; the query's error, past the table's end, is the answer).
 */
export type FindGidIndex = (gid: Uint8Array, type: number) => Promise<number>;

/** The `struct ibv_wc` fields ibv_init_ah_from_wc reads, with their C types' largest values. */
const WC_FIELDS = { slid: 0xffff, sl: 0xf, dlidPathBits: 0x7f, wcFlags: 0xffffffff } as const;

/**
 * The completion's fields `ibv_init_ah_from_wc` reads, as their `struct ibv_wc` fields hold
 * them: `slid`, `sl`, `dlidPathBits` and `wcFlags` whole numbers that fit; EINVAL naming the
 * first that does not.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkWcFields } from "./ah_from_wc.ts";
 * import type { WorkCompletion } from "./types.ts";
 * assert.throws(() => checkWcFields({ slid: 1 << 16, sl: 0, dlidPathBits: 0, wcFlags: 0 } as WorkCompletion), /wc\.slid/);
 * ```
 */
export function checkWcFields(wc: WorkCompletion): void {
  const call = "init_ah_from_wc";
  if (typeof wc !== "object" || wc === null) {
    throw new VerbsError("EINVAL", `${call}: give the work completion of the received datagram`);
  }
  for (const [k, max] of Object.entries(WC_FIELDS) as [keyof typeof WC_FIELDS, number][]) {
    const x = wc[k];
    if (!Number.isInteger(x) || x < 0 || x > max) {
      throw new VerbsError("EINVAL", `${call}: wc.${k} must be a whole number 0..${max}, got ${x}`);
    }
  }
}

/**
 * The arguments of `ibv_init_ah_from_wc` as C could pass them: a completion whose `slid`, `sl`,
 * `dlidPathBits` and `wcFlags` fit their fields, and the GRH area's 40 bytes when the completion
 * has a GRH (or whenever one is given). EINVAL naming what is wrong otherwise; the model's and
 * the real-hardware path's checks both.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkAhFromWcArgs } from "./ah_from_wc.ts";
 * import type { WorkCompletion } from "./types.ts";
 * const wc = { slid: 1, sl: 0, dlidPathBits: 0, wcFlags: 1 } as WorkCompletion; // IBV_WC_GRH
 * assert.throws(() => checkAhFromWcArgs(wc, undefined), /give the 40 bytes/);
 * assert.throws(() => checkAhFromWcArgs({ ...wc, sl: 16 }, new Uint8Array(40)), /wc\.sl/);
 * ```
 */
export function checkAhFromWcArgs(wc: WorkCompletion, grh: Uint8Array | undefined): void {
  const call = "init_ah_from_wc";
  checkWcFields(wc);
  const needed = (wc.wcFlags & WcFlags.GRH) !== 0;
  if ((needed || grh !== undefined) && (!(grh instanceof Uint8Array) || grh.length < GRH_BYTES)) {
    throw new VerbsError(
      "EINVAL",
      `${call}: ${
        needed ? "the completion has a GRH (IBV_WC_GRH): give" : "the GRH area is"
      } the ${GRH_BYTES} bytes at the head of its receive buffer`,
    );
  }
}

/**
 * `ibv_init_ah_from_wc`: the address vector to reply to the sender of the
 * datagram `wc` completed, on port `portNum`. From the completion: `dlid`
 * its `slid`, `sl`, `srcPathBits` its `dlidPathBits`. With `IBV_WC_GRH`
 * also a GRH, from the `grh` area: the destination GID is the packet's
 * source GID, the source GID index that of the packet's destination GID
 * in the port's table (found by `findGid`), the flow label, traffic class
 * and hop limit the packet's (an IPv4 header, RoCE v2, gives its addresses
 * as IPv4-mapped GIDs, its TTL and TOS). A multicast destination is EINVAL
 * (the GID table holds none); a next header that is neither IBA's nor
 * UDP's, or an area that is neither a GRH nor an IPv4 header, EPROTONOSUPPORT.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ahAttrFromWc, GidType } from "./ah_from_wc.ts";
 * import { WcFlags } from "./enums.ts";
 * import type { WorkCompletion } from "./types.ts";
 * const wc = { slid: 7, sl: 2, dlidPathBits: 0, wcFlags: WcFlags.GRH } as WorkCompletion;
 * const grh = new Uint8Array(40);
 * grh[0] = 0x60; // IP version 6, traffic class 0, flow label 0
 * grh[6] = 0x1b; // next header: IBA
 * grh[7] = 9; // hop limit
 * grh[8] = 0xfe; grh[23] = 0x11; // source GID fe80::…11
 * grh[24] = 0xfe; grh[39] = 0x22; // destination GID fe80::…22 (ours, at index 0)
 * const ours = async (gid: Uint8Array, type: number) => {
 *   assert.equal(type, GidType.IB_ROCE_V1);
 *   assert.equal(gid[15], 0x22);
 *   return 0;
 * };
 * const ah = await ahAttrFromWc(wc, grh, 1, ours);
 * assert.deepEqual([ah.dlid, ah.sl, ah.portNum, ah.grh?.hopLimit, ah.grh?.dgid[15]], [7, 2, 1, 9, 0x11]);
 * ```
 */
export async function ahAttrFromWc(
  wc: WorkCompletion,
  grh: Uint8Array | undefined,
  portNum: number,
  findGid: FindGidIndex,
): Promise<AhAttr> {
  const call = "init_ah_from_wc";
  checkAhFromWcArgs(wc, grh);
  const attr: AhAttr = {
    dlid: wc.slid,
    sl: wc.sl,
    srcPathBits: wc.dlidPathBits,
    portNum,
  };
  if (grh === undefined || (wc.wcFlags & WcFlags.GRH) === 0) return attr;
  const dv = new DataView(grh.buffer, grh.byteOffset, GRH_BYTES);
  const versionTclassFlow = dv.getUint32(0);
  const flowLabel = versionTclassFlow & 0xfffff;
  const version = grhVersion(grh, versionTclassFlow >>> 28);
  if (version === 6) {
    const dgid = grh.slice(24, 40);
    // "No point searching multicast GIDs in GID table".
    if (dgid[0] === 0xff) {
      throw new VerbsError("EINVAL", `${call}: the datagram was sent to a multicast GID`);
    }
    const next = grh[6];
    if (next !== IB_NEXT_HDR && next !== UDP_NEXT_HDR) {
      throw new VerbsError(
        "EPROTONOSUPPORT",
        `${call}: GRH next header 0x${next.toString(16)} is neither IBA's (0x1b) nor UDP's (0x11)`,
      );
    }
    const type = next === UDP_NEXT_HDR ? GidType.ROCE_V2 : GidType.IB_ROCE_V1;
    const sgidIndex = await findGid(dgid, type);
    attr.grh = {
      dgid: grh.slice(8, 24),
      sgidIndex,
      flowLabel,
      hopLimit: grh[7],
      trafficClass: (versionTclassFlow >>> 20) & 0xff,
    };
    return attr;
  }
  if (version === 4) {
    const ip = IPV4_HDR_OFFSET;
    if ((grh[ip + 16] & 0xf0) === 0xe0) {
      throw new VerbsError("EINVAL", `${call}: the datagram was sent to a multicast IPv4 address`);
    }
    const sgidIndex = await findGid(ipv4Mapped(grh.subarray(ip + 16, ip + 20)), GidType.ROCE_V2);
    attr.grh = {
      dgid: ipv4Mapped(grh.subarray(ip + 12, ip + 16)),
      sgidIndex,
      flowLabel,
      hopLimit: grh[ip + 8],
      trafficClass: grh[ip + 1],
    };
    return attr;
  }
  throw new VerbsError(
    "EPROTONOSUPPORT",
    `${call}: the GRH area holds neither an IPv6-style GRH nor an IPv4 header (IP version ${version})`,
  );
}

/**
 * get_grh_header_version: a GRH of version 6 is one unless the last 20 bytes of the area hold an
 * IPv4 header of 5 words whose checksum is right (RoCE v2 over IPv4); without version 6, an IPv4
 * header's version 4 makes it 4. Anything else is returned as the GRH's version nibble.
 */
function grhVersion(grh: Uint8Array, ip6Version: number): number {
  const ip = IPV4_HDR_OFFSET;
  const ip4Version = grh[ip] >> 4;
  if (ip6Version !== 6) return ip4Version === 4 ? 4 : ip6Version;
  if ((grh[ip] & 0xf) !== 5) return 6;
  // The IPv4 header checksum over its ten 16-bit words, the checksum field taken as 0 (RFC 791).
  let sum = 0;
  for (let i = 0; i < 20; i += 2) if (i !== 10) sum += (grh[ip + i] << 8) | grh[ip + i + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ((~sum & 0xffff) === ((grh[ip + 10] << 8) | grh[ip + 11])) ? 4 : 6;
}

/** ::ffff:a.b.c.d (map_ipv4_addr_to_ipv6). */
function ipv4Mapped(addr: Uint8Array): Uint8Array {
  const gid = new Uint8Array(16);
  gid[10] = 0xff;
  gid[11] = 0xff;
  gid.set(addr, 12);
  return gid;
}
