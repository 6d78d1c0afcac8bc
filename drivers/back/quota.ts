/**
 * Per-guest quotas (DESIGN §9 invariant 9): what one frontend may hold at
 * once, counted by dom0's backend for everything the frontend can make it
 * consume — contexts, PDs, MRs and their pages, grant mappings (cached ones
 * included), CQs and CQEs, QPs and WQEs, SRQs, AHs, queued events, split
 * shadow memory. The limits come from the profile's `quota` group, which
 * the toolstack may override per guest (`createGuest({ quota })`); it
 * writes them under the backend's xenstore directory, where only dom0 may
 * write.
 *
 * A request that would go beyond a limit is refused before any work, with
 * the errno Linux returns when the same kind of limit is hit: EAGAIN for a
 * count of objects (`rdmacg_try_charge` in kernel/cgroup/rdma.c, which
 * ib_uverbs calls for every uobject), ENOMEM for pages and memory
 * (`ib_umem_get` in drivers/infiniband/core/umem.c against
 * RLIMIT_MEMLOCK). The message names the quota.
 *
 * @module
 */
import { PROFILE_SCHEMA } from "../../sim/profiles/schema.ts";
import type { Profile } from "../../sim/profiles/schema.ts";
import { requestError, VerbsError } from "../uapi/errors.ts";

/**
 * The per-guest limits, by name (the profile's `quota` group).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Quota } from "./quota.ts";
 * import { PCIX_SDR_2006 } from "../../sim/profiles/mod.ts";
 * const q: Quota = PCIX_SDR_2006.quota;
 * assert.equal(q.contexts, 64);
 * ```
 */
export type Quota = Profile["quota"];

/**
 * One limit's name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QuotaLedger, type QuotaKind } from "./quota.ts";
 * import { PCIX_SDR_2006 } from "../../sim/profiles/mod.ts";
 * const k: QuotaKind = "grantMaps";
 * const ledger = new QuotaLedger({ ...PCIX_SDR_2006.quota, [k]: 8 }, 3);
 * ledger.take({ [k]: 8 });
 * assert.throws(() => ledger.take({ [k]: 1 }), /ENOMEM: quota grantMaps of dom3/); // a memory limit
 * assert.equal(ledger.refusals[k], 1);
 * ```
 */
export type QuotaKind = keyof Quota;

/**
 * Every quota, in the profile's order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QUOTA_KINDS } from "./quota.ts";
 * assert.ok(QUOTA_KINDS.includes("pds") && QUOTA_KINDS.includes("shadowBytes"));
 * ```
 */
export const QUOTA_KINDS: readonly QuotaKind[] = Object.keys(PROFILE_SCHEMA.quota) as QuotaKind[];

/** Limits on memory answer ENOMEM (ib_umem_get); limits on object counts EAGAIN (rdma cgroup). */
const MEMORY: ReadonlySet<QuotaKind> = new Set<QuotaKind>([
  "mrPages",
  "grantMaps",
  "persistentGrants",
  "cqes",
  "wqes",
  "shadowBytes",
]);

/**
 * What an object holds against the quotas (kept with it, given back when it goes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type Charge, QuotaLedger } from "./quota.ts";
 * import { PCIX_SDR_2006 } from "../../sim/profiles/mod.ts";
 * const mr: Charge = { mrs: 1, mrPages: 16 };
 * const ledger = new QuotaLedger(PCIX_SDR_2006.quota, 3);
 * ledger.take(mr);
 * assert.deepEqual([ledger.used.mrs, ledger.used.mrPages], [1, 16]);
 * ledger.give(mr); // the MR is deregistered
 * assert.deepEqual([ledger.used.mrs, ledger.used.mrPages], [0, 0]);
 * ```
 */
export type Charge = Partial<Record<QuotaKind, number>>;

/**
 * A guest's quotas: the profile's defaults with the guest's overrides, each
 * checked (a known name, a whole number ≥ 0; `events` ≥ 1). Throws EINVAL
 * naming the bad entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quotaWith } from "./quota.ts";
 * import { PCIX_SDR_2006 } from "../../sim/profiles/mod.ts";
 * const q = quotaWith(PCIX_SDR_2006.quota, { pds: 4 });
 * assert.deepEqual([q.pds, q.qps], [4, PCIX_SDR_2006.quota.qps]);
 * assert.throws(() => quotaWith(PCIX_SDR_2006.quota, { pdz: 4 }), /unknown quota 'pdz'/);
 * assert.throws(() => quotaWith(PCIX_SDR_2006.quota, { pds: -1 }), /quota 'pds'.*whole number/);
 * ```
 */
export function quotaWith(defaults: Quota, override: unknown): Quota {
  const out = { ...defaults };
  if (override === undefined) return out;
  if (typeof override !== "object" || override === null || Array.isArray(override)) {
    throw new VerbsError("EINVAL", "quota: must be an object of limits, e.g. { pds: 16 }");
  }
  for (const [k, v] of Object.entries(override)) {
    if (!(QUOTA_KINDS as readonly string[]).includes(k)) {
      throw new VerbsError(
        "EINVAL",
        `quota: unknown quota '${k}' (known: ${QUOTA_KINDS.join(", ")})`,
      );
    }
    const min = k === "events" ? 1 : 0;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min) {
      throw new VerbsError(
        "EINVAL",
        `quota '${k}': ${String(v)} is not a whole number >= ${min}`,
      );
    }
    out[k as QuotaKind] = v;
  }
  return out;
}

/**
 * What one frontend holds against its quotas, and the refusals so far.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { QuotaLedger } from "./quota.ts";
 * import { PCIX_SDR_2006 } from "../../sim/profiles/mod.ts";
 * const ledger = new QuotaLedger({ ...PCIX_SDR_2006.quota, pds: 1 }, 7);
 * ledger.take({ pds: 1 });
 * assert.throws(() => ledger.take({ pds: 1 }), /EAGAIN: quota pds of dom7: 1 held, 1 more asked, limit 1/);
 * ledger.give({ pds: 1 });
 * ledger.take({ pds: 1 });
 * assert.deepEqual([ledger.used.pds, ledger.refusals.pds], [1, 1]);
 * ```
 */
export class QuotaLedger {
  /** Held now, by quota. */
  readonly used: Record<QuotaKind, number>;
  /** Requests refused, by the quota they hit. */
  readonly refusals: Record<QuotaKind, number>;

  /**
   * @param limit the guest's quotas
   * @param domid the guest (named in refusals)
   */
  constructor(readonly limit: Quota, readonly domid: number) {
    const zero = () =>
      Object.fromEntries(QUOTA_KINDS.map((k) => [k, 0])) as Record<QuotaKind, number>;
    this.used = zero();
    this.refusals = zero();
  }

  /**
   * The guest's QPs in each multicast group (by MGID), which `mcastGroupQps`
   * bounds group by group; `used.mcastGroupQps` is the most in any one.
   */
  readonly #inGroup = new Map<string, Set<string>>();

  /**
   * Check, then hold, QP `member`'s place in multicast group `group` (its
   * MGID) under `mcastGroupQps`; a QP already in the group holds no second
   * place (the device keeps one membership per QP and MGID). Answers whether
   * it took a new place (so a failed attach gives back only that).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { QuotaLedger } from "./quota.ts";
   * import { PCIX_SDR_2006 } from "../../sim/profiles/mod.ts";
   * const ledger = new QuotaLedger({ ...PCIX_SDR_2006.quota, mcastGroupQps: 2 }, 5);
   * assert.equal(ledger.takeInGroup("ff12::1", "qp1"), true);
   * assert.equal(ledger.takeInGroup("ff12::1", "qp1"), false); // again: the same place
   * ledger.takeInGroup("ff12::1", "qp2");
   * ledger.takeInGroup("ff12::2", "qp3"); // another group: its own two
   * assert.throws(() => ledger.takeInGroup("ff12::1", "qp3"), /EAGAIN: quota mcastGroupQps of dom5: 2 QPs held in group ff12::1/);
   * ledger.giveInGroup("ff12::1", "qp1");
   * ledger.takeInGroup("ff12::1", "qp3");
   * assert.equal(ledger.used.mcastGroupQps, 2);
   * ```
   */
  takeInGroup(group: string, member: string): boolean {
    const qps = this.#inGroup.get(group) ?? new Set<string>();
    if (qps.has(member)) return false;
    if (qps.size + 1 > this.limit.mcastGroupQps) {
      this.refusals.mcastGroupQps++;
      throw Object.assign(
        requestError(
          "EAGAIN",
          `quota mcastGroupQps of dom${this.domid}: ${qps.size} QPs held in group ${group}, ` +
            `1 more asked, limit ${this.limit.mcastGroupQps}`,
        ),
        { limit: "mcastGroupQps" },
      );
    }
    qps.add(member);
    this.#inGroup.set(group, qps);
    if (qps.size > this.used.mcastGroupQps) this.used.mcastGroupQps = qps.size;
    return true;
  }

  /** Give back QP `member`'s place in multicast group `group` (see {@link takeInGroup}). */
  giveInGroup(group: string, member: string): void {
    const qps = this.#inGroup.get(group);
    if (!qps?.delete(member)) return;
    if (qps.size === 0) this.#inGroup.delete(group);
    let most = 0;
    for (const s of this.#inGroup.values()) if (s.size > most) most = s.size;
    this.used.mcastGroupQps = most;
  }

  /** Room left under quota `kind`. */
  room(kind: QuotaKind): number {
    return Math.max(0, this.limit[kind] - this.used[kind]);
  }

  /** Throw if any part of `c` would go beyond its quota (nothing is charged). */
  check(c: Charge): void {
    for (const [k, n] of Object.entries(c) as [QuotaKind, number][]) {
      if (n > 0 && this.used[k] + n > this.limit[k]) throw this.refuse(k, n);
    }
  }

  /** Check, then hold `c`. */
  take(c: Charge): void {
    this.check(c);
    this.hold(c);
  }

  /** Hold `c` without checking (it was checked before the object was made). */
  hold(c: Charge): void {
    for (const [k, n] of Object.entries(c) as [QuotaKind, number][]) this.used[k] += n;
  }

  /** Give back what `c` held. */
  give(c: Charge): void {
    for (const [k, n] of Object.entries(c) as [QuotaKind, number][]) {
      this.used[k] = Math.max(0, this.used[k] - n);
    }
  }

  /** The refusal for `n` more of `kind` (counted); its `limit` names the quota. */
  refuse(kind: QuotaKind, n: number): VerbsError & { limit: string } {
    this.refusals[kind]++;
    // The guest's own limit (about its request), though the limit byte, not this text, tells it.
    const e = requestError(
      MEMORY.has(kind) ? "ENOMEM" : "EAGAIN",
      `quota ${kind} of dom${this.domid}: ${this.used[kind]} held, ${n} more asked, limit ${
        this.limit[kind]
      }`,
    );
    return Object.assign(e, { limit: kind });
  }
}
