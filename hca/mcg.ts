/**
 * The device's multicast group table, as the Tavor (MT23108) keeps it and
 * Linux mthca drives it (drivers/infiniband/hw/mthca/mthca_mcg.c): an array
 * of MGM entries `{ next_gid_index, gid[16], qp[n] }`. The first
 * `numMgms` entries are a hash table indexed by MGID_HASH of the MGID; the
 * rest (the AMGM) are overflow entries the driver allocates and chains from
 * a hash entry's `next_gid_index` when two MGIDs hash alike. A QP slot holds
 * `qpn | 1 << 31` (bit 31: valid); the valid slots come first.
 *
 * The firmware reads and writes whole entries (READ_MGM / WRITE_MGM) and
 * hashes (MGID_HASH); the attach/detach logic is the driver's. The receive
 * path walks the chain of a packet's DGID to find the QPs to deliver to.
 *
 * @module
 */

/**
 * Bit 31 of an MGM QP slot: the slot is in use (mthca_mcg.c `qp_num | (1 << 31)`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MGM_QP_VALID } from "./mcg.ts";
 * assert.equal((0x48 | MGM_QP_VALID) >>> 0, 0x80000048);
 * ```
 */
export const MGM_QP_VALID = 0x8000_0000;

/**
 * One MGM/AMGM entry. `gid` all zero: the entry is free.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type MgmEntry, MGM_QP_VALID } from "./mcg.ts";
 * const e: MgmEntry = { nextGidIndex: 0, gid: new Uint8Array(16), qp: [(5 | MGM_QP_VALID) >>> 0, 0] };
 * assert.equal(e.qp.filter((q) => q & MGM_QP_VALID).length, 1);
 * ```
 */
export interface MgmEntry {
  /** Index of the next entry of the hash chain (0: end of chain). */
  nextGidIndex: number;
  /** The MGID (16 bytes). */
  gid: Uint8Array;
  /** QP slots: `qpn | MGM_QP_VALID`, or 0 (the valid ones first). */
  qp: number[];
}

/**
 * True for a multicast GID: its first byte is 0xFF (IBTA vol 1 §4.1.1, as
 * Linux `rdma_is_multicast_addr` checks for `ib_attach_mcast`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isMulticastGid } from "./mcg.ts";
 * const g = new Uint8Array(16);
 * g[0] = 0xff;
 * assert.deepEqual([isMulticastGid(g), isMulticastGid(new Uint8Array(16))], [true, false]);
 * ```
 */
export function isMulticastGid(gid: Uint8Array): boolean {
  return gid.length === 16 && gid[0] === 0xff;
}

/**
 * First multicast LID (IBTA vol 1 §4.1.1: 0xC000–0xFFFE; 0xFFFF is the permissive LID).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MCAST_LID_BASE, isMulticastLid } from "./mcg.ts";
 * assert.deepEqual([isMulticastLid(MCAST_LID_BASE), isMulticastLid(0xffff), isMulticastLid(5)], [true, false, false]);
 * ```
 */
export const MCAST_LID_BASE = 0xc000;
/**
 * Last multicast LID.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MCAST_LID_BASE, MCAST_LID_LAST } from "./mcg.ts";
 * assert.equal(MCAST_LID_LAST - MCAST_LID_BASE + 1, 16383); // MLIDs the SM can hand out
 * ```
 */
export const MCAST_LID_LAST = 0xfffe;

/**
 * True for a multicast LID (0xC000–0xFFFE).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isMulticastLid } from "./mcg.ts";
 * assert.equal(isMulticastLid(0xc001), true);
 * ```
 */
export function isMulticastLid(lid: number): boolean {
  return lid >= MCAST_LID_BASE && lid <= MCAST_LID_LAST;
}

/**
 * BTH DestQP of a multicast packet (IBTA vol 1 §9.6.1.1 / §10.5: QP 0xFFFFFF
 * is the multicast QP; Linux `IB_MULTICAST_QPN`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MULTICAST_QPN } from "./mcg.ts";
 * assert.equal(MULTICAST_QPN.toString(16), "ffffff");
 * ```
 */
export const MULTICAST_QPN = 0xffffff;

function sameGid(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

function isZeroGid(g: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (g[i] !== 0) return false;
  return true;
}

/**
 * The MGM table of one device.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { McgTable, MGM_QP_VALID } from "./mcg.ts";
 * const t = new McgTable(8, 4); // 4 hash entries, 4 AMGM entries, 4 QPs each
 * const gid = new Uint8Array(16).fill(0xff);
 * const h = t.hash(gid);
 * t.write(h, { nextGidIndex: 0, gid, qp: [(7 | MGM_QP_VALID) >>> 0] });
 * assert.deepEqual(t.qpsOf(gid), [7]);
 * ```
 */
export class McgTable {
  /** Hash entries (MGM); entries from here on are AMGM. */
  readonly numMgms: number;
  /** Overflow entries (AMGM). */
  readonly numAmgms: number;
  #entries = new Map<number, MgmEntry>();

  /**
   * @param total MGM + AMGM entries (the device's max_mcast_grp)
   * @param qpPerMgm QP slots per entry (max_mcast_qp_attach)
   */
  constructor(readonly total: number, readonly qpPerMgm: number) {
    // mthca_profile.c: num_mgms = num_mcg >> 1, num_amgms = num_mcg - num_mgms.
    this.numMgms = Math.max(1, total >> 1);
    this.numAmgms = Math.max(0, total - this.numMgms);
  }

  /** MGID_HASH: the hash entry of `gid` (a CRC-style fold of its 16 bytes; the firmware's own). */
  hash(gid: Uint8Array): number {
    let h = 0;
    for (let i = 0; i < 16; i++) h = ((h * 31) ^ gid[i]) >>> 0;
    return h % this.numMgms;
  }

  /** READ_MGM: a copy of entry `index` (a free entry reads as zeros). */
  read(index: number): MgmEntry {
    const e = this.#entries.get(index);
    const qp = new Array<number>(this.qpPerMgm).fill(0);
    if (!e) return { nextGidIndex: 0, gid: new Uint8Array(16), qp };
    for (let i = 0; i < this.qpPerMgm; i++) qp[i] = e.qp[i] ?? 0;
    return { nextGidIndex: e.nextGidIndex, gid: e.gid.slice(), qp };
  }

  /** WRITE_MGM: entry `index` becomes a copy of `e`. */
  write(index: number, e: MgmEntry): void {
    const qp = new Array<number>(this.qpPerMgm).fill(0);
    for (let i = 0; i < this.qpPerMgm; i++) qp[i] = (e.qp[i] ?? 0) >>> 0;
    if (isZeroGid(e.gid) && e.nextGidIndex === 0 && qp.every((q) => q === 0)) {
      this.#entries.delete(index);
      return;
    }
    this.#entries.set(index, { nextGidIndex: e.nextGidIndex, gid: e.gid.slice(0, 16), qp });
  }

  /** Drop every entry (CLOSE_HCA). */
  clear(): void {
    this.#entries.clear();
  }

  /**
   * The QPNs attached to `gid`: the hash entry, then its chain (what the
   * receive path does for a multicast packet's DGID).
   */
  qpsOf(gid: Uint8Array): number[] {
    let index = this.hash(gid);
    for (let hops = 0; hops <= this.numAmgms; hops++) {
      const e = this.#entries.get(index);
      if (!e || isZeroGid(e.gid)) return [];
      if (sameGid(e.gid, gid)) {
        const out: number[] = [];
        for (const q of e.qp) {
          if (!(q & MGM_QP_VALID)) break;
          out.push(q & 0xffffff);
        }
        return out;
      }
      if (e.nextGidIndex === 0) return [];
      index = e.nextGidIndex;
    }
    return [];
  }
}
