/**
 * Partition keys (IBTA vol 1 §10.9): what a P_Key is, which two match, and which packets a QP
 * takes. A P_Key is 16 bits: the low 15 name the partition, the high bit is the membership (1
 * full, 0 limited). Every port has a P_Key table that the subnet manager sets (P_KeyTable,
 * §14.2.5.7); a QP's `pkey_index` names the entry its packets carry in their BTH, and a packet
 * is taken only if its P_Key matches that entry.
 *
 * @module
 */

/**
 * The default partition's P_Key, full membership (IBTA vol 1 §10.9): entry 0 of every port's
 * table at power-on (mlx4's `init_pkeys` fills its cache so, 0xFFFF at index 0 and 0 elsewhere)
 * and, unless a configuration assigns others, the one P_Key there is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_PKEY } from "./pkey.ts";
 * assert.equal(DEFAULT_PKEY & 0x8000, 0x8000); // the membership bit: full member
 * ```
 */
export const DEFAULT_PKEY = 0xffff;

/**
 * Entries per P_KeyTable attribute block: a Set carries 32 P_Keys (IBTA vol 1 §14.2.5.7,
 * AttributeModifier = block number), so the subnet manager sends one SMP per block it changes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PKEY_BLOCK } from "./pkey.ts";
 * assert.equal(Math.ceil(64 / PKEY_BLOCK), 2); // a 64-entry table is two blocks
 * ```
 */
export const PKEY_BLOCK = 32;

/**
 * A valid P_Key: its partition bits are not zero (IBTA vol 1 §10.9: 0x0000 and 0x8000 are the
 * invalid P_Key, what an empty table entry holds).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isValidPkey } from "./pkey.ts";
 * assert.deepEqual([0xffff, 0x0001, 0x8000, 0].map(isValidPkey), [true, true, false, false]);
 * ```
 */
export function isValidPkey(pkey: number): boolean {
  return (pkey & 0x7fff) !== 0;
}

/**
 * Whether a packet's P_Key `a` matches the table entry `b` (IBTA vol 1 §10.9, partition
 * membership): both valid, the same partition (low 15 bits), and not both limited members (the
 * membership bit set in at least one). Linux rxe's `pkey_match` (drivers/infiniband/sw/rxe/rxe_verbs.h) is the same
 * rule.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pkeyMatch } from "./pkey.ts";
 * assert.equal(pkeyMatch(0x8001, 0x8001), true); // full and full
 * assert.equal(pkeyMatch(0x0001, 0x8001), true); // limited and full
 * assert.equal(pkeyMatch(0x0001, 0x0001), false); // limited and limited
 * assert.equal(pkeyMatch(0x8001, 0x8002), false); // another partition
 * assert.equal(pkeyMatch(0x8000, 0x8000), false); // the invalid P_Key matches nothing
 * ```
 */
export function pkeyMatch(a: number, b: number): boolean {
  return (a & 0x7fff) !== 0 && (a & 0x7fff) === (b & 0x7fff) && ((a | b) & 0x8000) !== 0;
}

/**
 * Whether QP `qpn`, whose own P_Key (its `pkey_index`'s entry) is `qpPkey`, takes a packet
 * carrying `pkey` on a port whose table is `table` (IBTA vol 1 §10.9): QP0 (SMI) takes any
 * P_Key; QP1 (GSI) any that matches an entry of the table; every other QP only one that matches
 * its own. Linux rxe's `check_keys` (rxe_recv.c before 5.10: the table search for QP1, the QP's
 * own entry otherwise; QP0 never checked) is the same rule.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pkeyAccepts } from "./pkey.ts";
 * const table = [0xffff, 0x8001];
 * assert.equal(pkeyAccepts(5, 0x8001, table, 0x8002), false); // another partition: dropped
 * assert.equal(pkeyAccepts(1, 0x0001, table, 0), true); // the GSI: any of the port's partitions
 * assert.equal(pkeyAccepts(1, 0x8002, table, 0), false);
 * assert.equal(pkeyAccepts(0, 0x8002, table, 0), true); // the SMI checks none
 * ```
 */
export function pkeyAccepts(
  qpn: number,
  pkey: number,
  table: readonly number[],
  qpPkey: number,
): boolean {
  if (qpn === 0) return true;
  if (qpn === 1) {
    // A loop, not `table.some(e => ...)`: a closure over `pkey` would make this function
    // allocate its context on every call, and it runs for every packet received.
    for (let i = 0; i < table.length; i++) if (pkeyMatch(pkey, table[i])) return true;
    return false;
  }
  return pkeyMatch(pkey, qpPkey);
}

/**
 * Check a list of P_Keys a configuration assigns (to a port's table or a guest's policy): whole
 * numbers 0..0xFFFF, valid ({@link isValidPkey}), none twice. Throws a RangeError naming `what`
 * and the bad entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkPkeyList } from "./pkey.ts";
 * assert.deepEqual(checkPkeyList([0x8001, 0x0002], "pkeys"), [0x8001, 0x0002]);
 * assert.throws(() => checkPkeyList([0x8000], "pkeys"), {
 *   message: "pkeys[0]: 0x8000 is the invalid P_Key (partition bits 0)",
 * });
 * assert.throws(() => checkPkeyList([0x8001, 0x8001], "pkeys"), /pkeys\[1\]: 0x8001 is listed twice/);
 * ```
 */
export function checkPkeyList(list: unknown, what: string): number[] {
  if (!Array.isArray(list)) throw new RangeError(`${what}: must be a list of P_Keys`);
  const out: number[] = [];
  list.forEach((p, i) => {
    if (typeof p !== "number" || !Number.isInteger(p) || p < 0 || p > 0xffff) {
      throw new RangeError(
        `${what}[${i}]: ${JSON.stringify(p) ?? String(p)} is not a P_Key (0x0001..0xffff)`,
      );
    }
    const hex = pkeyText(p);
    if (!isValidPkey(p)) {
      throw new RangeError(`${what}[${i}]: ${hex} is the invalid P_Key (partition bits 0)`);
    }
    if (out.includes(p)) throw new RangeError(`${what}[${i}]: ${hex} is listed twice`);
    out.push(p);
  });
  return out;
}

/**
 * A P_Key as text, `0x` and four hex digits (as OpenSM and `ibv_devinfo -v` print them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pkeyText } from "./pkey.ts";
 * assert.equal(pkeyText(0x8001), "0x8001");
 * assert.equal(pkeyText(2), "0x0002");
 * ```
 */
export function pkeyText(pkey: number): string {
  return `0x${pkey.toString(16).padStart(4, "0")}`;
}

/**
 * The P_Key table a port gets for the partitions `pkeys` (a configuration's list, checked as
 * {@link checkPkeyList} does): {@link DEFAULT_PKEY} at index 0, then `pkeys` in order. Throws a
 * RangeError naming `what` if the list repeats the default P_Key or the table would exceed `cap`
 * entries (NodeInfo:PartitionCap, IBTA vol 1 §14.2.5.3).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { partitionTable } from "./pkey.ts";
 * assert.deepEqual(partitionTable([0x8001], 64, "pkeys"), [0xffff, 0x8001]);
 * assert.throws(() => partitionTable([0xffff], 64, "pkeys"), /pkeys: 0xffff is index 0's already/);
 * assert.throws(() => partitionTable([0x8001, 0x8002], 2, "pkeys"), /exceed the P_Key table \(2 entries\)/);
 * ```
 */
export function partitionTable(pkeys: unknown, cap: number, what: string): number[] {
  const list = checkPkeyList(pkeys, what);
  if (list.includes(DEFAULT_PKEY)) {
    throw new RangeError(`${what}: ${pkeyText(DEFAULT_PKEY)} is index 0's already`);
  }
  if (list.length + 1 > cap) {
    throw new RangeError(
      `${what}: ${list.length} partitions and the default exceed the P_Key table (${cap} entries)`,
    );
  }
  return [DEFAULT_PKEY, ...list];
}
